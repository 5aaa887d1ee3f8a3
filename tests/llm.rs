//! The real model through llama.cpp: scoring equals a from-scratch reference (each label
//! followed by the chat template's end of turn), a label that is a token-prefix of another gets
//! its own share, a separate cache makes batching change nothing and a shared one is
//! reproducible, prelabel resumes to the same numbers, embeddings behave, bad models and
//! adapters give clear errors.
#![allow(clippy::needless_range_loop)] // labels index several parallel arrays

mod common;

use std::path::Path;

use common::*;
use hifi::llm::embed::{cosine, Embedder};
use hifi::llm::score::{log_sum_exp, KvCache, LabelScorer, ScorerSpec};
use hifi::llm::{context_params, prelabel, prompt, Engine, EngineOptions, PromptPrefix};
use hifi::progress::{CancelToken, Silent};
use llama_cpp_2::llama_batch::LlamaBatch;

fn engine(path: &Path) -> Engine {
    Engine::load(path, EngineOptions { threads: 2, gpu_layers: hifi::llm::GpuLayers::CPU })
        .expect("load model")
}

const TEXTS: &[&str] = &[
    "You won't believe what this one kitchen gadget does\nTap to find out.",
    "Riverside Home Supply: smart thermostat from $164\nOrder online or call 555-0156.",
    "Sale ends Monday: 10% off wireless earbuds",
    "Doctors hate her! The secret to younger skin",
    "Yoga classes at the community centre, Tuesdays 6 pm, $8 a class.",
];

/// Log-prob of each label's answer, computed the slow, obvious way: the whole prompt plus the
/// label and the chat template's end of turn (`end`; without it, the label's tokens alone)
/// evaluated from scratch in a fresh single-sequence cache, token by token logits.
fn reference(
    engine: &Engine,
    prefix: &PromptPrefix,
    suffix: &str,
    text: &str,
    labels: &[String],
    split: bool,
    end: bool,
) -> Vec<f64> {
    let mut ctx = engine.context(context_params(4096, 512, 1)).unwrap();
    let n_prefix = prefix.tokens.len();
    let mut base = prefix.tokens.clone();
    base.extend(engine.tokenize_text(text));
    base.extend(engine.tokenize_template(suffix, false));
    let mut out = Vec::new();
    for l in labels {
        let lt =
            if end { engine.chat_completion_tokens(l).unwrap() } else { engine.tokenize_text(l) };
        let mut all = base.clone();
        all.extend(&lt[..lt.len() - 1]);
        ctx.clear_kv_cache();
        let cut = if split { n_prefix } else { 0 };
        if split {
            let mut batch = LlamaBatch::new(all.len(), 1);
            for (i, t) in all[..cut].iter().enumerate() {
                batch.add(*t, i as i32, &[0], false).unwrap();
            }
            ctx.decode(&mut batch).unwrap();
        }
        let mut batch = LlamaBatch::new(all.len(), 1);
        for (i, t) in all.iter().enumerate().skip(cut) {
            batch.add(*t, i as i32, &[0], i + 1 >= base.len()).unwrap();
        }
        ctx.decode(&mut batch).unwrap();
        let mut lp = 0.0;
        for (j, t) in lt.iter().enumerate() {
            let logits = ctx.get_logits_ith((base.len() - 1 + j - cut) as i32);
            lp += f64::from(logits[t.0 as usize]) - log_sum_exp(logits);
        }
        out.push(lp);
    }
    out
}

/// The test project's prompt around the item: (prefix, suffix).
fn ad_prompt(engine: &Engine) -> (PromptPrefix, String) {
    let cfg = config();
    let system = prompt::system_message(&cfg, &[]);
    engine.prompt_parts(&system, &prompt::user_message(&cfg, prompt::TEXT_SLOT)).unwrap()
}

/// Single-token labels, and a set with a multi-token label.
fn label_sets() -> [Vec<String>; 2] {
    [vec!["clickbait".into(), "benign".into()], vec!["yes".into(), "no".into(), "maybe not".into()]]
}

#[test]
fn batched_scoring_equals_one_at_a_time_and_the_reference() {
    let model = require_model();
    let engine = engine(&model);
    let (prefix, suffix) = ad_prompt(&engine);
    for labels in label_sets() {
        let lens: Vec<usize> = labels.iter().map(|l| engine.tokenize_text(l).len()).collect();
        eprintln!("labels {labels:?} tokenize to {lens:?}");
        let spec = ScorerSpec {
            prefix: &prefix,
            suffix: &suffix,
            labels: &labels,
            max_item_tokens: 256,
            batch_items: 3,
            kv: KvCache::Separate,
        };
        let mut scorer = LabelScorer::new(&engine, &spec).unwrap();
        let batched = scorer.score_batch(TEXTS).unwrap();
        for (i, t) in TEXTS.iter().enumerate() {
            let single = scorer.score_batch(&[t]).unwrap().remove(0);
            let r = reference(&engine, &prefix, &suffix, t, &labels, false, true);
            let rs = reference(&engine, &prefix, &suffix, t, &labels, true, true);
            eprintln!(
                "item {i}: scorer {:?} one-pass reference {:?} split reference {:?}",
                single.logprobs, r, rs
            );
            for l in 0..labels.len() {
                let d1 = (batched[i].logprobs[l] - single.logprobs[l]).abs();
                assert!(d1 < 1e-6, "batched vs single, item {i} label {l}: {d1}");
                // Evaluated in the same two steps (prefix, then the rest) the reference is
                // bit-identical; in one pass, llama.cpp's quantized kernels round differently
                // and log-probs move, never by whole nats: up to 0.16 nats measured here for
                // the labels' own tokens, up to 0.49 with the end of turn after them (a token
                // of low probability after a label, -4 to -7 nats, whose log-prob moves most).
                let d2 = (single.logprobs[l] - rs[l]).abs();
                assert!(
                    d2 < 1e-6,
                    "scorer vs split reference, item {i} label {l}: {} vs {}",
                    single.logprobs[l],
                    rs[l]
                );
                let d3 = (single.logprobs[l] - r[l]).abs();
                assert!(
                    d3 < 0.6,
                    "scorer vs one-pass reference, item {i} label {l}: {} vs {}",
                    single.logprobs[l],
                    r[l]
                );
            }
            assert!((batched[i].probs.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            assert!(batched[i].logprobs.iter().all(|x| x.is_finite() && *x < 0.0));
        }
    }
}

/// The shared cache: a batch is reproducible bit for bit (whatever was scored before it), and an
/// item scored alone, in a batch, with a cache of its own or in one pass from scratch differs
/// only by llama.cpp's rounding (the kernels' arrangement changes with the batch), never by
/// whole nats (0.49 the largest measured, on the end of turn after a label); single- and
/// multi-token labels alike.
#[test]
fn shared_cache_scoring_is_reproducible_and_close_to_the_reference() {
    let model = require_model();
    let engine = engine(&model);
    let (prefix, suffix) = ad_prompt(&engine);
    let mut worst = 0.0f64;
    for labels in label_sets() {
        let spec = ScorerSpec {
            prefix: &prefix,
            suffix: &suffix,
            labels: &labels,
            max_item_tokens: 256,
            batch_items: 3,
            kv: KvCache::Shared,
        };
        let mut shared = LabelScorer::new(&engine, &spec).unwrap();
        let mut separate =
            LabelScorer::new(&engine, &ScorerSpec { kv: KvCache::Separate, ..spec }).unwrap();
        let batched = shared.score_batch(TEXTS).unwrap();
        // Other batches in between, then the same batches again: identical.
        shared.score_batch(&[TEXTS[4], TEXTS[0]]).unwrap();
        shared.score_batch(&TEXTS[1..]).unwrap();
        assert_eq!(
            shared.score_batch(TEXTS).unwrap(),
            batched,
            "the same batches must give the same scores"
        );
        let sep = separate.score_batch(TEXTS).unwrap();
        for (i, t) in TEXTS.iter().enumerate() {
            let single = shared.score_batch(&[t]).unwrap().remove(0);
            let r = reference(&engine, &prefix, &suffix, t, &labels, false, true);
            // Alone, its cells follow the prefix's exactly as in one pass over the whole prompt,
            // and the batch is padded onto the same attention kernel: the same numbers.
            assert_eq!(single.logprobs, r, "item {i} alone vs its prompt in one pass");
            eprintln!(
                "item {i}: batched {:?} alone {:?} separate {:?} one-pass {:?}",
                batched[i].logprobs, single.logprobs, sep[i].logprobs, r
            );
            for l in 0..labels.len() {
                for (what, x) in [
                    ("alone", single.logprobs[l]),
                    ("separate", sep[i].logprobs[l]),
                    ("one-pass reference", r[l]),
                ] {
                    let d = (batched[i].logprobs[l] - x).abs();
                    worst = worst.max(d);
                    assert!(
                        d < 0.6,
                        "shared batch vs {what}, item {i} label {l}: {} vs {x}",
                        batched[i].logprobs[l]
                    );
                }
            }
            assert_eq!(batched[i].tokens, sep[i].tokens);
            assert!((batched[i].probs.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            assert!(batched[i].logprobs.iter().all(|x| x.is_finite() && *x < 0.0));
        }
    }
    eprintln!("largest |Δ log-prob| between arrangements: {worst:.4}");
}

/// "click" is a token-prefix of "clickbait". Scored up to the label's last token only, "click"
/// would also count every answer that goes on to "clickbait" (its score could never fall below
/// the longer label's); with the end of turn after each label the two are disjoint answers.
#[test]
fn scoring_gives_a_label_that_is_a_token_prefix_of_another_its_own_share() {
    let model = require_model();
    let engine = engine(&model);
    let labels: Vec<String> = vec!["click".into(), "clickbait".into()];
    let (short, long) = (engine.tokenize_text(&labels[0]), engine.tokenize_text(&labels[1]));
    eprintln!("{:?} tokenizes to {short:?}, {:?} to {long:?}", labels[0], labels[1]);
    assert!(
        short.len() < long.len() && long.starts_with(&short),
        "{:?} must be a token-prefix of {:?}",
        labels[0],
        labels[1]
    );
    let end = &engine.chat_completion_tokens(&labels[0]).unwrap()[short.len()..];
    eprintln!("the end of turn after an answer: {end:?}");
    assert!(!end.is_empty(), "the template's end of turn");
    let (prefix, suffix) = ad_prompt(&engine);
    let texts = [TEXTS[0], TEXTS[1], TEXTS[3]];
    let mut longer_won = 0;
    for kv in [KvCache::Separate, KvCache::Shared] {
        let spec = ScorerSpec {
            prefix: &prefix,
            suffix: &suffix,
            labels: &labels,
            max_item_tokens: 256,
            batch_items: 3,
            kv,
        };
        let mut scorer = LabelScorer::new(&engine, &spec).unwrap();
        for (i, t) in texts.iter().enumerate() {
            let s = scorer.score_batch(&[t]).unwrap().remove(0);
            let with_end = reference(&engine, &prefix, &suffix, t, &labels, false, true);
            let with_end_split = reference(&engine, &prefix, &suffix, t, &labels, true, true);
            let without_end = reference(&engine, &prefix, &suffix, t, &labels, true, false);
            eprintln!(
                "{kv:?} item {i}: scorer {:?} probs {:?}; one-pass reference with end of turn {with_end:?}; without {without_end:?}",
                s.logprobs, s.probs
            );
            for l in 0..2 {
                let d = (s.logprobs[l] - with_end[l]).abs();
                assert!(
                    d < 0.6,
                    "{kv:?} item {i} label {l}: scorer {} vs one-pass reference {}",
                    s.logprobs[l],
                    with_end[l]
                );
            }
            match kv {
                // An item alone in the shared cache is computed exactly like the one pass.
                KvCache::Shared => {
                    assert_eq!(s.logprobs, with_end, "{kv:?} item {i}: alone vs one pass")
                }
                KvCache::Separate => {
                    for l in 0..2 {
                        assert!(
                            (s.logprobs[l] - with_end_split[l]).abs() < 1e-6,
                            "item {i} label {l} vs split reference"
                        );
                    }
                }
            }
            // The end of turn costs the short label probability: strictly below its score
            // without it (what scoring returned before).
            assert!(
                s.logprobs[0] < without_end[0],
                "item {i}: {} with end of turn vs {} without",
                s.logprobs[0],
                without_end[0]
            );
            // Disjoint answers: "click<end>" and "clickbait<end>" together hold no more than
            // every answer that starts with "click".
            let joint = s.logprobs[0].exp() + s.logprobs[1].exp();
            assert!(
                joint <= without_end[0].exp() * (1.0 + 1e-3),
                "item {i}: P(click·end) + P(clickbait·end) = {joint} > P(click…) = {}",
                without_end[0].exp()
            );
            assert!((s.probs.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            assert!(
                s.probs.iter().all(|p| p.is_finite() && *p > 0.0),
                "item {i}: each label a share of its own: {:?}",
                s.probs
            );
            // Normalised without the end of turn, "click" would hold at least half by
            // construction, whatever the model answers.
            let before = hifi::llm::score::softmax(&without_end);
            eprintln!("{kv:?} item {i}: shares without the end of turn {before:?}");
            assert!(before[0] >= 0.5);
            longer_won += usize::from(s.probs[1] > 0.5);
        }
    }
    // With the end of turn the longer label wins where the model answers it.
    assert!(longer_won > 0, "\"clickbait\" never got more than half");
}

#[test]
fn long_items_are_truncated_and_counted() {
    let model = require_model();
    let engine = engine(&model);
    let labels = vec!["clickbait".to_string(), "benign".to_string()];
    let prefix = engine.template_prefix("Classify.\n");
    let spec = ScorerSpec {
        prefix: &prefix,
        suffix: "\nLabel:",
        labels: &labels,
        max_item_tokens: 16,
        batch_items: 2,
        kv: KvCache::Separate,
    };
    let mut scorer = LabelScorer::new(&engine, &spec).unwrap();
    let long = "word ".repeat(5000);
    let out = scorer.score_batch(&[&long, "short"]).unwrap();
    assert!(out[0].truncated && !out[1].truncated);
    assert!((out[0].probs.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    // Shared cache: a batch of long items is more than one micro-batch takes (2,048 tokens);
    // it is split in order instead of overrunning llama.cpp's batch (which aborts).
    let long_spec =
        ScorerSpec { max_item_tokens: 900, batch_items: 3, kv: KvCache::Shared, ..spec };
    let mut shared = LabelScorer::new(&engine, &long_spec).unwrap();
    let texts = ["word ".repeat(800), "other ".repeat(800), "more ".repeat(800)];
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let out = shared.score_batch(&refs).unwrap();
    assert!(out.iter().all(|s| !s.truncated
        && s.tokens > 800
        && (s.probs.iter().sum::<f64>() - 1.0).abs() < 1e-9));
    let empty = vec![String::new(), "benign".to_string()];
    let spec = ScorerSpec { labels: &empty, ..spec };
    let err = LabelScorer::new(&engine, &spec).err().unwrap().to_string();
    assert!(err.contains("tokenizes to nothing"), "{err}");
}

#[test]
fn prelabel_sample_data_resumes_and_skips_done_work() {
    let model = require_model();
    let (dir, mut cfg, mut store) = project();
    cfg.model.batch_items = 4;
    // The first 40 sample-data ads (the whole pool is the main job's work, not a test's).
    let rows: Vec<String> = std::fs::read_to_string(repo().join("sample-data/ads.jsonl"))
        .unwrap()
        .lines()
        .take(40)
        .map(String::from)
        .collect();
    let pool = file(dir.path(), "pool.jsonl", (rows.join("\n") + "\n").as_bytes());
    hifi::io::import::import_items(
        &mut store,
        &pool,
        &hifi::io::import::ImportOptions { labels: cfg.label_names(), ..Default::default() },
        &mut Silent,
        &CancelToken::new(),
    )
    .unwrap();
    let params = prelabel::PrelabelParams {
        model: model.clone(),
        adapter: None,
        limit: None,
        engine: EngineOptions { threads: 2, gpu_layers: hifi::llm::GpuLayers::CPU },
    };
    // Interrupted after one batch: that batch is kept.
    let cancel = CancelToken::new();
    let r = prelabel::run(&mut store, &cfg, &params, &mut StopAfterFirst(cancel.clone()), &cancel)
        .unwrap();
    assert!(r.cancelled);
    assert_eq!(r.scored, 4);
    assert_eq!(r.remaining, 36);
    // Resumed: exactly the rest.
    let r2 = prelabel::run(&mut store, &cfg, &params, &mut Silent, &CancelToken::new()).unwrap();
    assert_eq!((r2.scored, r2.already_done, r2.remaining), (36, 4, 0));
    assert_eq!(r2.fingerprint, r.fingerprint);
    let preds = store.predictions(r2.model_id).unwrap();
    assert_eq!(preds.len(), 40);
    // The same numbers as an uninterrupted run: batches are the pool in id order, so a resumed
    // run forms the batches the whole run would have (the shared cache is reproducible for the
    // same batches).
    let (_dir2, _, mut fresh) = project();
    hifi::io::import::import_items(
        &mut fresh,
        &pool,
        &hifi::io::import::ImportOptions { labels: cfg.label_names(), ..Default::default() },
        &mut Silent,
        &CancelToken::new(),
    )
    .unwrap();
    let whole = prelabel::run(&mut fresh, &cfg, &params, &mut Silent, &CancelToken::new()).unwrap();
    assert_eq!(whole.fingerprint, r.fingerprint);
    let whole_preds = fresh.predictions(whole.model_id).unwrap();
    assert_eq!(whole_preds.len(), 40);
    for (a, b) in preds.iter().zip(&whole_preds) {
        assert_eq!((a.item, &a.probs), (b.item, &b.probs), "interrupted + resumed vs one run");
    }
    for p in &preds {
        assert_eq!(p.probs.len(), 2);
        assert!((p.probs.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }
    // Again: no work.
    let r3 = prelabel::run(&mut store, &cfg, &params, &mut Silent, &CancelToken::new()).unwrap();
    assert_eq!((r3.scored, r3.already_done), (0, 40));
    // A different prompt is a different fingerprint: everything is scored afresh under it.
    cfg.task = "Is this ad misleading?".into();
    let r4 = prelabel::run(&mut store, &cfg, &params, &mut Silent, &CancelToken::new()).unwrap();
    assert_ne!(r4.fingerprint, r.fingerprint);
    assert_eq!(r4.scored, 40);
}

#[test]
fn embeddings_are_deterministic_normalised_and_meaningful() {
    let model = require_model();
    let engine = engine(&model);
    let mut e = Embedder::new(&engine, 4).unwrap();
    let texts = [
        "Sale ends Sunday: 20% off all running shoes at Peak Sports.",
        "Sale ends Sunday: 20% off all running shoes at Peak Sport.",
        "Quarterly tax filing deadlines for small businesses explained.",
        "Fresh sourdough bread baked daily, $6 a loaf.",
        "",
    ];
    let a = e.embed(&texts).unwrap();
    let b = e.embed(&texts).unwrap();
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.vector, y.vector, "deterministic");
        let n: f32 = x.vector.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((n - 1.0).abs() < 1e-4, "norm {n}");
    }
    // One at a time gives the same vectors as a packed batch.
    for (i, t) in texts.iter().enumerate() {
        let one = e.embed(&[t]).unwrap().remove(0);
        let c = cosine(&one.vector, &a[i].vector);
        assert!(c > 0.9999, "item {i}: cos {c}");
    }
    let near = cosine(&a[0].vector, &a[1].vector);
    let far = cosine(&a[0].vector, &a[2].vector).max(cosine(&a[0].vector, &a[3].vector));
    assert!(near > far, "near-identical {near} vs unrelated {far}");
}

#[test]
fn embed_stage_resumes_and_vectors_map_back() {
    let model = require_model();
    let (dir, _cfg, mut store) = project();
    let mut body = String::from("id,text\n");
    for i in 0..12 {
        body.push_str(&format!("e{i},ad number {i} for shoes\n"));
    }
    let p = file(dir.path(), "e.csv", body.as_bytes());
    hifi::io::import::import_items(
        &mut store,
        &p,
        &Default::default(),
        &mut Silent,
        &CancelToken::new(),
    )
    .unwrap();
    let params = hifi::llm::embed::EmbedParams {
        model,
        limit: Some(5),
        batch_items: 4,
        engine: EngineOptions { threads: 2, gpu_layers: hifi::llm::GpuLayers::CPU },
    };
    let r1 = hifi::llm::embed::run(&mut store, &params, &mut Silent, &CancelToken::new()).unwrap();
    assert_eq!((r1.embedded, r1.remaining), (5, 7));
    // Simulate a crash after the vectors were written but before the rows were committed.
    let vec_file = dir.path().join(&r1.file);
    let mut f = std::fs::OpenOptions::new().append(true).open(&vec_file).unwrap();
    std::io::Write::write_all(&mut f, &[7u8; 100]).unwrap();
    drop(f);
    let params = hifi::llm::embed::EmbedParams { limit: None, ..params };
    let r2 = hifi::llm::embed::run(&mut store, &params, &mut Silent, &CancelToken::new()).unwrap();
    assert_eq!((r2.embedded, r2.already_done, r2.remaining), (7, 5, 0));
    assert_eq!(
        std::fs::metadata(&vec_file).unwrap().len(),
        (hifi::llm::embed::HEADER_BYTES + 12 * r2.dim * 4) as u64,
        "torn tail cut (after the header)"
    );
    let v = hifi::llm::embed::Vectors::open(&store, None).unwrap();
    assert_eq!(v.rows.len(), 12);
    for (key, _) in &v.rows {
        let x = v.get(*key).unwrap();
        assert!((x.iter().map(|a| a * a).sum::<f32>() - 1.0).abs() < 1e-4);
    }
}

#[test]
fn bad_models_and_adapters_give_clear_errors() {
    let model = require_model();
    let dir = tempfile::tempdir().unwrap();
    let opts = EngineOptions { threads: 2, gpu_layers: hifi::llm::GpuLayers::CPU };
    let err = |p: &Path| Engine::load(p, opts.clone()).err().expect("must fail").to_string();
    assert!(err(&dir.path().join("absent.gguf")).contains("model file not found"));
    assert!(err(&file(dir.path(), "text.gguf", b"this is not a model at all"))
        .contains("not a GGUF file"));
    assert!(err(&file(dir.path(), "tiny.gguf", b"GGUF\x03\x00")).contains("truncated"));
    // A real model cut in half.
    let bytes = std::fs::read(&model).unwrap();
    let half = file(dir.path(), "half.gguf", &bytes[..bytes.len() / 2]);
    let e = err(&half);
    assert!(
        e.contains("half.gguf") && (e.contains("corrupt") || e.contains("could not load")),
        "{e}"
    );
    // Metadata cut short.
    let head = file(dir.path(), "head.gguf", &bytes[..4096]);
    let e = err(&head);
    assert!(e.contains("head.gguf") && e.contains("corrupt"), "{e}");
    // Adapters: another architecture, or not an adapter at all.
    let mut eng = engine(&model);
    let bert = file(
        dir.path(),
        "bert-lora.gguf",
        &gguf_kv(&[
            ("general.architecture", "bert"),
            ("general.type", "adapter"),
            ("adapter.type", "lora"),
        ]),
    );
    let e = eng.set_adapter(&bert).unwrap_err().to_string();
    assert!(e.contains("adapter is for architecture \"bert\"") && e.contains("\"llama\""), "{e}");
    let e = eng.set_adapter(&model).unwrap_err().to_string();
    assert!(e.contains("not a LoRA adapter"), "{e}");
    let e = err(&bert);
    assert!(e.contains("adapter, not a model"), "{e}");
}

/// A GGUF v3 file with string metadata and no tensors.
fn gguf_kv(kv: &[(&str, &str)]) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend(0u64.to_le_bytes());
    b.extend((kv.len() as u64).to_le_bytes());
    for (k, v) in kv {
        b.extend((k.len() as u64).to_le_bytes());
        b.extend(k.as_bytes());
        b.extend(8u32.to_le_bytes());
        b.extend((v.len() as u64).to_le_bytes());
        b.extend(v.as_bytes());
    }
    b
}

/// Sample data with the real model's prelabels and embeddings: mining fills the queue with
/// pairs of different predicted labels, and no item repeats; the default (adaptive) explores
/// fully while nothing is labeled.
#[test]
fn mine_sample_data_with_real_prelabels_and_embeddings() {
    let model = require_model();
    let (dir, mut cfg, mut store) = project();
    cfg.model.batch_items = 8;
    let rows: Vec<String> = std::fs::read_to_string(repo().join("sample-data/ads.jsonl"))
        .unwrap()
        .lines()
        .take(120)
        .map(String::from)
        .collect();
    let pool = file(dir.path(), "pool.jsonl", (rows.join("\n") + "\n").as_bytes());
    hifi::io::import::import_items(
        &mut store,
        &pool,
        &hifi::io::import::ImportOptions { labels: cfg.label_names(), ..Default::default() },
        &mut Silent,
        &CancelToken::new(),
    )
    .unwrap();
    let opts = EngineOptions { threads: 2, gpu_layers: hifi::llm::GpuLayers::CPU };
    let p = prelabel::PrelabelParams {
        model: model.clone(),
        adapter: None,
        limit: None,
        engine: opts.clone(),
    };
    prelabel::run(&mut store, &cfg, &p, &mut Silent, &CancelToken::new()).unwrap();
    let e = hifi::llm::embed::EmbedParams { model, limit: None, batch_items: 8, engine: opts };
    hifi::llm::embed::run(&mut store, &e, &mut Silent, &CancelToken::new()).unwrap();
    let params = hifi::curate::MineParams {
        budget: 20,
        strategy: hifi::curate::Strategy::Pairs,
        ..Default::default()
    };
    let r =
        hifi::curate::mine(&mut store, &cfg, &params, &mut Silent, &CancelToken::new()).unwrap();
    assert!(r.entries > 0, "{r:?}");
    let q = store.queue().unwrap();
    assert_eq!(q.len(), r.entries);
    let mut seen = std::collections::HashSet::new();
    let model_id = store.latest_model().unwrap().unwrap().id;
    let preds: std::collections::HashMap<i64, usize> =
        store.predictions(model_id).unwrap().into_iter().map(|p| (p.item, p.top().0)).collect();
    for e in &q {
        assert!(seen.insert(e.item_a), "item {} repeats", e.item_a);
        if let Some(b) = e.item_b {
            assert!(seen.insert(b), "item {b} repeats");
            assert_ne!(preds[&e.item_a], preds[&b], "a pair straddles two predicted labels");
        }
    }
    let params = hifi::curate::MineParams { budget: 20, ..Default::default() };
    let r =
        hifi::curate::mine(&mut store, &cfg, &params, &mut Silent, &CancelToken::new()).unwrap();
    assert_eq!(
        (r.strategy, r.items, r.explore_share),
        (hifi::curate::Strategy::Adaptive, 20, Some(1.0)),
        "{r:?}"
    );
    let q = store.queue().unwrap();
    let mined: Vec<&hifi::store::QueueEntry> = q.iter().filter(|e| !e.audit).collect();
    assert_eq!(mined.len(), 20);
    assert!(
        mined.iter().all(|e| e.item_b.is_none() && e.reason["explore"] == true),
        "{:?}",
        mined[0].reason
    );
    let distinct: std::collections::HashSet<i64> = q.iter().map(|e| e.item_a).collect();
    assert_eq!(distinct.len(), q.len(), "no item queued twice");
}
