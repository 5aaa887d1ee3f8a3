//! LoRA rounds on the real SmolLM2-135M: the candle forward agrees with itself under prefix
//! sharing and with llama.cpp on an F32 base, every `lora_b` moves after one step, adapters
//! load into llama.cpp and broken ones are refused, over-fitting 3 examples flips llama.cpp's
//! label choice, and `hifi train` / `hifi round --trainer lora` work end to end.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use candle_core::quantized::gguf_file::{self, Content, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::Device;
use common::*;
use hifi::llm::score::{KvCache, LabelScorer, ScorerSpec};
use hifi::llm::{context_params, Engine, EngineOptions};
use hifi::progress::{CancelToken, Silent};
use hifi::train::{
    self, BaseModel, Example, Lora, LoraParams, Target, TrainEvent, TrainJob, TrainerCommand,
};
use llama_cpp_2::llama_batch::LlamaBatch;

fn engine(path: &Path) -> Engine {
    Engine::load(path, EngineOptions { threads: 2, gpu_layers: hifi::llm::GpuLayers::CPU })
        .expect("load model")
}

const TEXTS: &[&str] = &[
    "Riverside Home Supply: smart thermostat from $164. Order online or call 555-0156.",
    "You won't believe what this one kitchen gadget does. Tap to find out.",
    "Yoga classes at the community centre, Tuesdays 6 pm, $8 a class.",
];

/// The prompt pieces the scorer uses for `common::config()`, and the trainer's tokens of them.
struct Prompt {
    prefix_text: hifi::llm::PromptPrefix,
    suffix_text: String,
    prefix: Vec<u32>,
    tokens: train::PromptTokens,
}

fn prompt(e: &Engine) -> Prompt {
    let cfg = config();
    let system = hifi::llm::prompt::system_message(&cfg, &[]);
    let user = hifi::llm::prompt::user_message(&cfg, hifi::llm::prompt::TEXT_SLOT);
    let (prefix_text, suffix_text) = e.prompt_parts(&system, &user).unwrap();
    let tokens =
        train::PromptTokens::new(e, &prefix_text, &suffix_text, &cfg.label_names()).unwrap();
    Prompt { prefix_text, suffix_text, prefix: tokens.prefix.clone(), tokens }
}

fn example(e: &Engine, p: &Prompt, text: &str, label: usize) -> Example {
    p.tokens.example(e, text, label, 256)
}

/// llama.cpp's label log-probs for `texts` (raw, uncalibrated), with the engine's adapter.
fn llama_choice(e: &Engine, p: &Prompt, texts: &[&str]) -> Vec<usize> {
    let labels = config().label_names();
    let mut s = LabelScorer::new(
        e,
        &ScorerSpec {
            prefix: &p.prefix_text,
            suffix: &p.suffix_text,
            labels: &labels,
            max_item_tokens: 256,
            batch_items: 4,
            kv: KvCache::Shared,
        },
    )
    .unwrap();
    s.score_batch(texts)
        .unwrap()
        .iter()
        .map(|r| r.logprobs.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0)
        .collect()
}

fn quick(steps_epochs: usize, lr: f64) -> LoraParams {
    LoraParams {
        rank: 4,
        alpha: 8.0,
        lr,
        epochs: steps_epochs,
        batch: 3,
        max_len: 256,
        seed: 7,
        ..LoraParams::default()
    }
}

fn max_abs_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| x.iter().zip(y).map(|(u, v)| (u - v).abs()))
        .fold(0.0, f32::max)
}

#[test]
fn prefix_sharing_and_padding_give_the_same_logits_as_one_plain_sequence() {
    let m = require_model();
    let e = engine(&m);
    let p = prompt(&e);
    let base = BaseModel::load(&m).unwrap();
    let ex: Vec<Example> = TEXTS.iter().map(|t| example(&e, &p, t, 0)).collect();
    // A LoRA with non-zero B, so the adapted path is exercised too.
    let lora = Lora::init(&base.cfg, 4, 8.0, &Target::ALL, 3, base.device()).unwrap();
    for pair in lora.pairs.values() {
        let b = pair.b.as_tensor();
        pair.b.set(&(b.ones_like().unwrap() * 0.01).unwrap()).unwrap();
    }
    for e in &ex {
        let shared = base.logits(Some(&lora), &p.prefix, &e.tokens).unwrap();
        let mut whole = p.prefix.clone();
        whole.extend(&e.tokens);
        let plain = base.logits(Some(&lora), &[], &whole).unwrap();
        assert_eq!(shared.len(), plain.len());
        let d = max_abs_diff(&shared, &plain);
        assert!(d < 2e-3, "prefix-shared vs plain forward differ by {d}");
    }
    // A batch (items right-padded) gives every item the loss it has alone.
    let refs: Vec<&Example> = ex.iter().collect();
    let (together, n) = base.loss(Some(&lora), &p.prefix, &refs).unwrap();
    let mut sum = 0.0;
    for e in &ex {
        let (l, k) = base.loss(Some(&lora), &p.prefix, &[e]).unwrap();
        sum += f64::from(l.to_scalar::<f32>().unwrap()) * k as f64;
    }
    let together = f64::from(together.to_scalar::<f32>().unwrap());
    assert!(
        (together - sum / n as f64).abs() < 1e-4,
        "batched loss {together} vs per-item {}",
        sum / n as f64
    );
}

#[test]
fn checkpointed_gradients_equal_the_full_backward() {
    let m = require_model();
    let e = engine(&m);
    let p = prompt(&e);
    let base = BaseModel::load(&m).unwrap();
    let ex: Vec<Example> =
        TEXTS.iter().take(2).enumerate().map(|(i, t)| example(&e, &p, t, i)).collect();
    let refs: Vec<&Example> = ex.iter().collect();
    let lora = Lora::init(&base.cfg, 4, 8.0, &Target::ALL, 5, base.device()).unwrap();
    for pair in lora.pairs.values() {
        pair.b.set(&(pair.b.as_tensor().ones_like().unwrap() * 0.01).unwrap()).unwrap();
    }
    let (l_full, g_full) = base.loss_and_grads(&lora, &p.prefix, &refs, false).unwrap();
    let (l_ckpt, g_ckpt) = base.loss_and_grads(&lora, &p.prefix, &refs, true).unwrap();
    assert!((l_full - l_ckpt).abs() < 1e-5, "loss {l_full} vs {l_ckpt}");
    let mut worst = 0f32;
    for pair in lora.pairs.values() {
        for v in [&pair.a, &pair.b] {
            let a = g_full.get(v.as_tensor()).expect("full grad");
            let b = g_ckpt.get(v.as_tensor()).expect("checkpointed grad");
            let scale = a.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap().max(1e-6);
            let d = (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap()
                / scale;
            worst = worst.max(d);
        }
    }
    assert!(worst < 1e-3, "checkpointed gradients differ by up to {worst} (relative)");
}

#[test]
fn one_step_moves_every_lora_b_and_the_adapter_loads_while_broken_ones_are_refused() {
    let m = require_model();
    let e = engine(&m);
    let p = prompt(&e);
    let base = BaseModel::load(&m).unwrap();
    let ex: Vec<Example> =
        TEXTS.iter().enumerate().map(|(i, t)| example(&e, &p, t, i % 2)).collect();
    let out = train::train(
        &base,
        &p.prefix,
        &ex,
        &quick(1, 1e-3),
        None,
        &mut |_| {},
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(out.steps.len(), 1);
    assert!(out.steps[0].loss.is_finite() && out.steps[0].grad_norm > 0.0);
    // Every B started at zero; a op without backward anywhere would leave some at zero.
    for ((layer, t), pair) in &out.lora.pairs {
        let norm = pair.b.as_tensor().abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(norm > 0.0, "blk.{layer}.{} lora_b did not move", t.gguf_name());
    }
    assert_eq!(out.lora.pairs.len(), 7 * base.cfg.n_layer);
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.gguf");
    out.lora.write(&good).unwrap();
    let mut e2 = engine(&m);
    e2.set_adapter(&good).expect("llama.cpp loads the adapter");
    // Round trip: reading it back gives the same weights.
    let back = Lora::read(&good, &base.cfg, base.device()).unwrap();
    assert_eq!(back.rank, 4);
    assert_eq!(back.alpha, 8.0);
    for (k, pair) in &out.lora.pairs {
        let d = (pair.b.as_tensor() - back.pairs[k].b.as_tensor())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(d, 0.0);
    }
    // Negative controls: B transposed, and another architecture.
    let transposed = dir.path().join("transposed.gguf");
    rewrite(
        &good,
        &transposed,
        |name, t| if name.ends_with(".lora_b") { t.t().unwrap().contiguous().unwrap() } else { t },
        None,
    );
    let mut e3 = engine(&m);
    let err =
        e3.set_adapter(&transposed).expect_err("a transposed lora_b must be refused").to_string();
    assert!(err.contains("refused the adapter"), "{err}");
    let wrong_arch = dir.path().join("qwen.gguf");
    rewrite(&good, &wrong_arch, |_, t| t, Some("qwen2"));
    let err =
        e3.set_adapter(&wrong_arch).expect_err("another architecture must be refused").to_string();
    assert!(err.contains("architecture \"qwen2\""), "{err}");
    let err = Lora::read(&wrong_arch, &base.cfg, base.device())
        .err()
        .expect("the trainer refuses it too")
        .to_string();
    assert!(err.contains("qwen2"), "{err}");
}

/// Copy a GGUF, mapping its tensors (dequantized) and optionally its architecture.
fn rewrite(
    src: &Path,
    dst: &Path,
    map: impl Fn(&str, candle_core::Tensor) -> candle_core::Tensor,
    arch: Option<&str>,
) {
    let mut f = std::io::BufReader::new(std::fs::File::open(src).unwrap());
    let c = Content::read(&mut f).unwrap();
    let mut md: Vec<(String, Value)> =
        c.metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    md.retain(|(k, _)| k != "general.alignment");
    if let Some(a) = arch {
        for (k, v) in &mut md {
            if k == "general.architecture" {
                *v = Value::String(a.into());
            }
        }
    }
    let mut names: Vec<&String> = c.tensor_infos.keys().collect();
    names.sort();
    let tensors: Vec<(String, QTensor)> = names
        .iter()
        .map(|n| {
            let t = c.tensor(&mut f, n, &Device::Cpu).unwrap().dequantize(&Device::Cpu).unwrap();
            (n.to_string(), QTensor::quantize(&map(n, t), GgmlDType::F32).unwrap())
        })
        .collect();
    let mdr: Vec<(&str, &Value)> = md.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tr: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, q)| (n.as_str(), q)).collect();
    let mut w = std::io::BufWriter::new(std::fs::File::create(dst).unwrap());
    gguf_file::write(&mut w, &mdr, &tr).unwrap();
}

#[test]
fn overfitting_three_examples_flips_llama_cpps_label_choice() {
    let m = require_model();
    let e = engine(&m);
    let p = prompt(&e);
    let before = llama_choice(&e, &p, TEXTS);
    // Train each item towards the label the base model does not choose.
    let target: Vec<usize> = before.iter().map(|&c| 1 - c).collect();
    let ex: Vec<Example> = TEXTS.iter().zip(&target).map(|(t, &l)| example(&e, &p, t, l)).collect();
    let base = BaseModel::load(&m).unwrap();
    let out = train::train(
        &base,
        &p.prefix,
        &ex,
        &quick(6, 5e-3),
        None,
        &mut |_| {},
        &AtomicBool::new(false),
    )
    .unwrap();
    let first = out.steps.first().unwrap().loss;
    let last = out.steps.last().unwrap().loss;
    eprintln!("overfitting 3 examples: loss {first:.3} → {last:.3} in {} steps", out.steps.len());
    assert!(last < first * 0.5, "loss fell from {first} to only {last}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.gguf");
    out.lora.write(&path).unwrap();
    let mut adapted = engine(&m);
    adapted.set_adapter(&path).unwrap();
    let after = llama_choice(&adapted, &p, TEXTS);
    assert_eq!(after, target, "llama.cpp with the adapter chose {after:?} (before {before:?})");
}

#[test]
fn candle_and_llama_cpp_agree_on_an_f32_base_with_the_adapter() {
    let m = require_model();
    let dir = tempfile::tempdir().unwrap();
    // The Q4 base has a noise floor (llama.cpp quantizes activations); an F32 copy does not.
    let f32_base = dir.path().join("base-f32.gguf");
    rewrite(&m, &f32_base, |_, t| t, None);
    let e = engine(&f32_base);
    let p = prompt(&e);
    let base = BaseModel::load(&f32_base).unwrap();
    let ex: Vec<Example> =
        TEXTS.iter().enumerate().map(|(i, t)| example(&e, &p, t, i % 2)).collect();
    let out = train::train(
        &base,
        &p.prefix,
        &ex,
        &quick(3, 5e-3),
        None,
        &mut |_| {},
        &AtomicBool::new(false),
    )
    .unwrap();
    let adapter = dir.path().join("a.gguf");
    out.lora.write(&adapter).unwrap();
    let mut adapted = engine(&f32_base);
    adapted.set_adapter(&adapter).unwrap();
    let item = &ex[1].tokens;
    let ours = base.logits(Some(&out.lora), &p.prefix, item).unwrap();
    let plain = base.logits(None, &p.prefix, item).unwrap();
    let theirs = llama_logits(&adapted, &p.prefix, item);
    let d = max_abs_diff(&ours, &theirs);
    let effect = max_abs_diff(&ours, &plain);
    eprintln!("candle vs llama.cpp (F32 base + adapter): max |Δ logit| {d:.4}; the adapter moves logits by up to {effect:.3}");
    assert!(
        effect > 0.2,
        "the adapter barely changes the logits ({effect}): the comparison would prove nothing"
    );
    assert!(
        d < 5e-2,
        "candle vs llama.cpp max |Δ logit| = {d} (the adapter moves them by {effect})"
    );
    let argmax = |r: &Vec<f32>| r.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
    let same = ours.iter().zip(&theirs).filter(|(a, b)| argmax(a) == argmax(b)).count();
    assert_eq!(
        same,
        ours.len(),
        "argmax differs at {} of {} positions",
        ours.len() - same,
        ours.len()
    );
}

fn llama_logits(e: &Engine, prefix: &[u32], item: &[u32]) -> Vec<Vec<f32>> {
    let all: Vec<u32> = prefix.iter().chain(item).copied().collect();
    let mut ctx = e.context(context_params(1024, 1024, 1)).unwrap();
    let mut batch = LlamaBatch::new(all.len(), 1);
    for (i, t) in all.iter().enumerate() {
        batch.add(llama_cpp_2::token::LlamaToken(*t as i32), i as i32, &[0], true).unwrap();
    }
    ctx.decode(&mut batch).unwrap();
    (0..all.len()).map(|i| ctx.get_logits_ith(i as i32).to_vec()).collect()
}

#[test]
fn unsupported_and_corrupt_bases_are_clear_errors() {
    let m = require_model();
    let dir = tempfile::tempdir().unwrap();
    let gpt2 = dir.path().join("gpt2.gguf");
    // A real GGUF header with another architecture (tensors dropped: refused before use).
    let mut f = std::io::BufReader::new(std::fs::File::open(&m).unwrap());
    let c = Content::read(&mut f).unwrap();
    let arch = Value::String("gpt2".into());
    let md: Vec<(&str, &Value)> = c
        .metadata
        .iter()
        .map(
            |(k, v)| {
                if k == "general.architecture" {
                    (k.as_str(), &arch)
                } else {
                    (k.as_str(), v)
                }
            },
        )
        .collect();
    gguf_file::write(&mut std::fs::File::create(&gpt2).unwrap(), &md, &[]).unwrap();
    let err = BaseModel::load(&gpt2).err().expect("gpt2 is refused").to_string();
    assert!(err.contains("\"gpt2\"") && err.contains("--trainer external"), "{err}");
    let junk = file(dir.path(), "junk.gguf", b"GGUF\x03\0\0\0 not really");
    let err = BaseModel::load(&junk).err().expect("junk is refused").to_string();
    assert!(err.contains("junk.gguf"), "{err}");
    let err = BaseModel::load(&dir.path().join("missing.gguf")).err().expect("missing").to_string();
    assert!(err.contains("missing.gguf"), "{err}");
}

/// A project with the sample ads' first `n` rows, gold as expert labels for all of them.
fn labeled_project(n: usize) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let proj = dir.path().join("p");
    let (ok, _, err) = hifi(
        dir.path(),
        &[
            "init",
            proj.to_str().unwrap(),
            "--labels",
            "clickbait,benign",
            "--task",
            "Decide whether an online ad is clickbait.",
        ],
    );
    assert!(ok, "{err}");
    let csv = std::fs::read_to_string(repo().join("sample-data/ads.csv")).unwrap();
    let mut rdr = csv::Reader::from_reader(csv.as_bytes());
    let headers = rdr.headers().unwrap().clone();
    let mut w = csv::Writer::from_path(dir.path().join("small.csv")).unwrap();
    w.write_record(&headers).unwrap();
    let mut lines = String::new();
    let id_col = headers.iter().position(|h| h == "id").unwrap();
    let gold_col = headers.iter().position(|h| h == "gold").unwrap();
    for r in rdr.records().take(n) {
        let r = r.unwrap();
        w.write_record(&r).unwrap();
        lines.push_str(&format!("{} {}\n", &r[id_col], &r[gold_col]));
    }
    w.flush().unwrap();
    let (ok, _, err) = hifi(&proj, &["import", dir.path().join("small.csv").to_str().unwrap()]);
    assert!(ok, "{err}");
    let mut child = bin()
        .args(["--project", proj.to_str().unwrap(), "label", "--stdin", "--annotator", "ana"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(lines.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
    (dir, proj)
}

#[test]
fn hifi_train_writes_an_adapter_and_manifest_through_the_child_process() {
    let m = require_model();
    let (_dir, proj) = labeled_project(20);
    // hifi.toml's [train] section sets the defaults; flags override them.
    let toml = std::fs::read_to_string(proj.join("hifi.toml")).unwrap();
    assert!(toml.contains("\nrank = 8\n"), "{toml}");
    std::fs::write(
        proj.join("hifi.toml"),
        toml.replace("\nrank = 8\n", "\nrank = 4\n").replace("\nepochs = 2\n", "\nepochs = 3\n"),
    )
    .unwrap();
    let (ok, out, err) = hifi(&proj, &["train", "--epochs", "1", "--json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let adapter = PathBuf::from(v["adapter"].as_str().unwrap());
    assert!(adapter.starts_with(&proj) && adapter.is_file());
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(adapter.with_extension("json")).unwrap())
            .unwrap();
    assert_eq!(manifest["architecture"], "llama");
    assert_eq!(manifest["rank"], 4);
    assert_eq!(manifest["base_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(manifest["train_set_sha256"].as_str().unwrap().len(), 64);
    let n = manifest["train_size"].as_u64().unwrap();
    assert!(n > 0 && n < 20, "train split of 20 labeled items: {n}");
    assert_eq!(v["job"]["steps"].as_array().unwrap().len() as u64, n.div_ceil(8));
    engine(&m).set_adapter(&adapter).expect("llama.cpp loads it");
    // Without a finished LoRA round there is nothing to continue from.
    let (ok, _, err) = hifi(&proj, &["train", "--continue"]);
    assert!(!ok && err.contains("no finished LoRA round"), "{err}");
}

#[test]
fn a_lora_round_trains_hot_loads_prelabels_again_and_is_scored() {
    require_model();
    let (_dir, proj) = labeled_project(24);
    let (ok, _, err) = hifi(&proj, &["prelabel"]);
    assert!(ok, "{err}");
    let (ok, out, err) = hifi(
        &proj,
        &["round", "--trainer", "lora", "--epochs", "1", "--rank", "4", "--no-mine", "--json"],
    );
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["trainer"], "lora");
    assert_eq!(v["predicted"], 24);
    assert!(v["baseline_round"].is_number(), "the zero-shot baseline comes first");
    let adapter = PathBuf::from(v["adapter"]["adapter"].as_str().unwrap());
    assert!(adapter.ends_with(format!("adapters/round-{}/adapter.gguf", v["round"])));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(adapter.with_extension("json")).unwrap())
            .unwrap();
    assert_eq!(manifest["round"], v["round"]);
    assert!(
        manifest["scores"]["eval_size"].as_u64().unwrap() > 0,
        "the manifest carries the round's scores"
    );
    let store = hifi::store::Store::open(&proj).unwrap();
    let model = store.model(v["model"].as_i64().unwrap()).unwrap().unwrap();
    assert_eq!(model.adapter_path.as_deref(), Some(adapter.to_str().unwrap()));
    assert_eq!(hifi::rounds::last_adapter(&store).unwrap(), Some(adapter.clone()));
    let (ok, out, _) = hifi(&proj, &["report"]);
    assert!(ok && out.contains("lora"), "{out}");
    // A round with that adapter and no training: its predictions are already there, so the
    // round only scores them (what finishing an interrupted round does); its folder is untouched.
    let before = std::fs::read(adapter.with_extension("json")).unwrap();
    let (ok, out, err) = hifi(
        &proj,
        &[
            "round",
            "--trainer",
            "lora",
            "--adapter",
            adapter.to_str().unwrap(),
            "--no-mine",
            "--json",
        ],
    );
    assert!(ok, "{err}");
    let v3: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v3["model"], v["model"], "the same adapter's predictions are reused");
    assert_eq!(v3["round"].as_i64().unwrap(), v["round"].as_i64().unwrap() + 1);
    assert_eq!(v3["adapter"]["adopted"], true);
    assert_eq!(std::fs::read(adapter.with_extension("json")).unwrap(), before);
    let (ok, _, err) = hifi(&proj, &["round", "--adapter", adapter.to_str().unwrap()]);
    assert!(!ok && err.contains("--adapter needs --trainer lora"), "{err}");
    // --continue starts from that adapter.
    let (ok, out, err) = hifi(&proj, &["train", "--epochs", "1", "--continue", "--json"]);
    assert!(ok, "{err}");
    let v2: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v2["manifest"]["continued_from"].as_str(), adapter.to_str());
    assert_eq!(v2["manifest"]["rank"], 4, "the continued adapter keeps its rank");
}

#[test]
fn cancel_kills_the_trainer_and_leaves_no_adapter_and_failures_say_why() {
    let m = require_model();
    let e = engine(&m);
    let p = prompt(&e);
    let ex: Vec<Example> = (0..40).map(|i| example(&e, &p, TEXTS[i % 3], i % 2)).collect();
    let dir = tempfile::tempdir().unwrap();
    let job = TrainJob {
        version: train::job::JOB_VERSION,
        base_model: m.clone(),
        output: dir.path().join("a.gguf"),
        init_adapter: None,
        params: LoraParams { batch: 1, epochs: 5, rank: 2, ..LoraParams::default() },
        threads: 2,
        prefix: p.prefix.clone(),
        examples: ex,
        records: vec![],
    };
    let exe = TrainerCommand::Builtin(PathBuf::from(env!("CARGO_BIN_EXE_hifi")));
    // Cancel as soon as the first step is reported.
    struct CancelOnStep(CancelToken, usize);
    impl hifi::progress::Progress for CancelOnStep {
        fn start(&mut self, _: &str, _: u64) {}
        fn update(&mut self, done: u64, _: &str) {
            self.1 = done as usize;
            self.0.cancel();
        }
        fn finish(&mut self, _: &str) {}
    }
    let cancel = CancelToken::new();
    let mut sink = CancelOnStep(cancel.clone(), 0);
    let t0 = std::time::Instant::now();
    let err = train::job::run_job(&job, &dir.path().join("job.json"), &exe, &mut sink, &cancel)
        .expect_err("cancelled");
    assert!(matches!(err, train::TrainError::Cancelled), "{err}");
    assert_eq!(sink.1, 1);
    assert!(t0.elapsed().as_secs() < 120, "the 200-step job was not stopped");
    assert!(!job.output.exists() && !job.output.with_extension("gguf.part").exists());
    // A failing external trainer: its stderr is in the error.
    let ext = TrainerCommand::External("echo 'CUDA out of memory' >&2; exit 3 # {out}".into());
    let err = train::job::run_job(
        &job,
        &dir.path().join("job.json"),
        &ext,
        &mut Silent,
        &CancelToken::new(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("status 3") && err.contains("CUDA out of memory"), "{err}");
    // A job with token ids outside the vocabulary: the worker says so.
    let mut bad = job.clone();
    bad.examples[0].tokens[0] = 10_000_000;
    let err = train::job::run_job(
        &bad,
        &dir.path().join("bad.json"),
        &exe,
        &mut Silent,
        &CancelToken::new(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("outside the base model's vocabulary"), "{err}");
}

#[test]
fn an_external_trainer_gets_the_job_file_and_its_progress_lines_are_read() {
    let m = require_model();
    let e = engine(&m);
    let p = prompt(&e);
    let base = BaseModel::load(&m).unwrap();
    let lora = Lora::init(&base.cfg, 2, 4.0, &[Target::Q, Target::V], 0, base.device()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let made = dir.path().join("made elsewhere.gguf");
    lora.write(&made).unwrap();
    let job = TrainJob {
        version: train::job::JOB_VERSION,
        base_model: m.clone(),
        output: dir.path().join("out's.gguf"),
        init_adapter: None,
        params: LoraParams::default(),
        threads: 2,
        prefix: p.prefix.clone(),
        examples: vec![example(&e, &p, TEXTS[0], 0)],
        records: vec![serde_json::json!({"messages": []})],
    };
    let step = serde_json::to_string(&TrainEvent::Step(train::StepReport {
        step: 1,
        steps: 1,
        epoch: 1,
        loss: 0.25,
        lr: 1e-4,
        grad_norm: 1.0,
        tokens: 10,
        tokens_per_s: 5.0,
        elapsed_s: 2.0,
        eta_s: 0.0,
    }))
    .unwrap();
    // The contract: read {job}, write a GGUF adapter to {out}; JSON step lines are progress.
    let cmd = format!(
        "grep -q '\"version\":1' {{job}} && echo 'loading…' && echo '{step}' && cp '{}' {{out}}",
        made.display()
    );
    let out = train::job::run_job(
        &job,
        &dir.path().join("job.json"),
        &TrainerCommand::External(cmd),
        &mut Silent,
        &CancelToken::new(),
    )
    .unwrap();
    assert_eq!(out.steps.len(), 1);
    assert_eq!(out.steps[0].loss, 0.25);
    assert!(job.output.is_file());
    let mut e2 = engine(&m);
    e2.set_adapter(&job.output).unwrap();
    // The job file is plain JSON with the documented fields.
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("job.json")).unwrap())
            .unwrap();
    for k in ["version", "base_model", "output", "params", "prefix", "examples", "records"] {
        assert!(j.get(k).is_some(), "job file lacks {k}");
    }
}
