//! The stages' logic on the deterministic stand-in model (`hifi::llm::stand_in`), in seconds:
//! prelabel and embed resume after a crash or Ctrl-C without doing an item twice and key their
//! results by model; LIMO keeps exactly N solvable prompts, hardest first, each sampled K
//! times; BETR fills equal quotas; self-training never trains on held-out (or eval) prompts,
//! keeps at most M distinct correct replies per prompt, and stops when the held-out reward
//! stops improving. What the real model says is tested in tests/{llm,select,generate}.rs.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use common::*;
use hifi::config::Config;
use hifi::llm::embed::{self, EmbedParams, Vectors};
use hifi::llm::prelabel::{self, calibrated, PrelabelParams, NULL_INPUT};
use hifi::llm::stand_in::StandIn;
use hifi::llm::EngineOptions;
use hifi::progress::{CancelToken, Silent};
use hifi::select::reward::{matches, Reward};
use hifi::select::{betr, limo, selftrain, SamplingParams};
use hifi::store::{Annotation, AnnotationKind, ModelRecord, Split, SplitGroups, Store};

/// Import `rows` (JSON objects) as a JSONL file.
fn import(dir: &Path, cfg: &Config, store: &mut Store, rows: &[serde_json::Value]) {
    let body: String = rows.iter().map(|r| format!("{r}\n")).collect();
    let p = file(dir, "pool.jsonl", body.as_bytes());
    let opts = hifi::io::import::ImportOptions { labels: cfg.label_names(), ..Default::default() };
    hifi::io::import::import_items(store, &p, &opts, &mut Silent, &CancelToken::new()).unwrap();
}

const WORDS: &[&str] = &[
    "apple", "river", "engine", "violet", "garden", "copper", "lantern", "harbor", "meadow",
    "falcon", "marble", "canyon", "pepper", "saddle", "thunder", "walnut", "glacier", "pillow",
    "orchid", "timber", "velvet", "quartz", "anchor", "bramble", "cobalt",
];

/// A prompt with words of its own (no two are near-duplicates).
fn prompt(i: usize) -> String {
    let w = |k: usize| WORDS[(i * 7 + k * 11) % WORDS.len()];
    format!(
        "Puzzle {i}: how many {} fit in the {} beside the {} {}?",
        w(0),
        w(1),
        w(2),
        i * 13 % 97
    )
}

fn record(fingerprint: &str, cfg: &Config) -> ModelRecord {
    ModelRecord {
        model_sha256: Some(fingerprint.into()),
        ..llm_record(fingerprint, Some("stand-in"), &cfg.label_names())
    }
}

fn texts_of(store: &Store) -> HashMap<i64, String> {
    store.items_page(i64::MIN, 100_000).unwrap().into_iter().map(|i| (i.key, i.text)).collect()
}

#[test]
fn prelabel_resumes_after_a_crash_and_ctrl_c_scores_each_item_once_and_keys_by_fingerprint() {
    let (dir, cfg, mut store) = project();
    let rows: Vec<_> =
        (0..10).map(|i| serde_json::json!({"id": format!("a{i}"), "text": prompt(i)})).collect();
    import(dir.path(), &cfg, &mut store, &rows);
    let texts = texts_of(&store);
    let params = PrelabelParams {
        model: PathBuf::from("stand-in"),
        adapter: None,
        limit: None,
        engine: EngineOptions::default(),
    };
    let rec_a = record("stand-in-a", &cfg);
    let model_a = store.register_model(&rec_a).unwrap();

    // A crash in the third batch (the calibration input is the first call): two batches stay.
    let mut crashing = StandIn { batch_items: 3, fail_after_calls: Some(3), ..StandIn::default() };
    let err = prelabel::run_with(
        &mut store,
        &cfg,
        &params,
        &rec_a,
        &mut crashing,
        &mut Silent,
        &CancelToken::new(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("on purpose"), "{err}");
    assert_eq!(store.predictions(model_a).unwrap().len(), 6);

    // Resumed: exactly the four left, each scored once.
    let mut m = StandIn { batch_items: 3, ..StandIn::default() };
    let r = prelabel::run_with(
        &mut store,
        &cfg,
        &params,
        &rec_a,
        &mut m,
        &mut Silent,
        &CancelToken::new(),
    )
    .unwrap();
    assert_eq!((r.scored, r.already_done, r.remaining, r.cancelled), (4, 6, 0, false));
    assert_eq!(r.model_id, model_a);
    assert_eq!(m.log.scored[0], NULL_INPUT, "calibration first");
    let first: HashSet<&String> = crashing.log.scored[1..7].iter().collect();
    assert!(m.log.scored[1..].iter().all(|t| !first.contains(t)), "nothing scored twice");
    let preds = store.predictions(model_a).unwrap();
    assert_eq!(preds.len(), 10);
    assert_eq!(preds.iter().map(|p| p.item).collect::<HashSet<_>>().len(), 10);
    let prior = m.logprobs(NULL_INPUT);
    for p in &preds {
        let want = calibrated(&m.logprobs(&texts[&p.item]), &prior);
        assert!(
            p.probs.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-6),
            "{:?} vs {want:?}",
            p.probs
        );
    }

    // Again: nothing to do.
    let mut again = StandIn::default();
    let r = prelabel::run_with(
        &mut store,
        &cfg,
        &params,
        &rec_a,
        &mut again,
        &mut Silent,
        &CancelToken::new(),
    )
    .unwrap();
    assert_eq!((r.scored, r.already_done), (0, 10));
    assert_eq!(again.log.scored, vec![NULL_INPUT.to_string()]);

    // Another fingerprint is another model: its own predictions, with --limit and Ctrl-C.
    let rec_b = record("stand-in-b", &cfg);
    let cancel = CancelToken::new();
    let mut b = StandIn { batch_items: 2, ..StandIn::default() };
    let r = prelabel::run_with(
        &mut store,
        &cfg,
        &params,
        &rec_b,
        &mut b,
        &mut StopAfterFirst(cancel.clone()),
        &cancel,
    )
    .unwrap();
    assert!(r.cancelled);
    assert_ne!(r.model_id, model_a);
    assert_eq!((r.scored, r.already_done, r.remaining), (2, 0, 8));
    let limited = PrelabelParams { limit: Some(5), ..params.clone() };
    let r = prelabel::run_with(
        &mut store,
        &cfg,
        &limited,
        &rec_b,
        &mut b,
        &mut Silent,
        &CancelToken::new(),
    )
    .unwrap();
    assert_eq!((r.scored, r.already_done, r.remaining), (5, 2, 3));
    assert_eq!(store.predictions(r.model_id).unwrap().len(), 7);
    assert_eq!(store.predictions(model_a).unwrap(), preds, "model a's predictions untouched");
}

#[test]
fn embed_resumes_after_a_crash_without_duplicate_rows_and_every_row_is_its_items_vector() {
    let (dir, cfg, mut store) = project();
    let rows: Vec<_> =
        (0..10).map(|i| serde_json::json!({"id": format!("e{i}"), "text": prompt(i)})).collect();
    import(dir.path(), &cfg, &mut store, &rows);
    let texts = texts_of(&store);
    // batch_items 1: four texts per chunk, one embed call each.
    let params = EmbedParams {
        model: PathBuf::from("stand-in.gguf"),
        limit: None,
        batch_items: 1,
        engine: EngineOptions::default(),
    };
    let mut crashing = StandIn { fail_after_calls: Some(2), ..StandIn::default() };
    assert!(embed::run_with(
        &mut store,
        &params,
        "sha-stand-in",
        &mut crashing,
        &mut Silent,
        &CancelToken::new()
    )
    .is_err());
    let mut m = StandIn::default();
    let r = embed::run_with(
        &mut store,
        &params,
        "sha-stand-in",
        &mut m,
        &mut Silent,
        &CancelToken::new(),
    )
    .unwrap();
    assert_eq!((r.embedded, r.already_done, r.remaining, r.dim), (2, 8, 0, 16));
    assert!(r.repaired.is_none());
    assert!(
        m.log.embedded.iter().all(|t| !crashing.log.embedded.contains(t)),
        "nothing embedded twice"
    );
    let v = Vectors::open(&store, Some(r.set_id)).unwrap();
    assert_eq!(v.rows.len(), 10);
    assert_eq!(v.rows.iter().map(|r| r.1).collect::<HashSet<_>>().len(), 10, "one row per item");
    for (key, text) in &texts {
        assert_eq!(v.get(*key).unwrap(), m.vector(text), "item {key}'s row");
    }
    let r = embed::run_with(
        &mut store,
        &params,
        "sha-stand-in",
        &mut m,
        &mut Silent,
        &CancelToken::new(),
    )
    .unwrap();
    assert_eq!((r.embedded, r.already_done), (0, 10));
    // Ctrl-C after the first chunk keeps it.
    let other = EmbedParams { model: PathBuf::from("other.gguf"), ..params };
    let cancel = CancelToken::new();
    let r = embed::run_with(
        &mut store,
        &other,
        "sha-other",
        &mut m,
        &mut StopAfterFirst(cancel.clone()),
        &cancel,
    )
    .unwrap();
    assert!(r.cancelled);
    assert_eq!((r.embedded, r.remaining), (4, 6));
}

/// Prompts with reference "0" (the stand-in solves one with probability 1 / spread), the
/// first `n_eval` of them labelled and put in the eval split. Returns the eval items' texts.
fn prompt_project(n: usize, n_eval: usize) -> (tempfile::TempDir, Config, Store, HashSet<String>) {
    let (dir, cfg, mut store) = project();
    let rows: Vec<_> = (0..n)
        .map(|i| serde_json::json!({"id": format!("q{i:03}"), "text": prompt(i), "reference": "0"}))
        .collect();
    import(dir.path(), &cfg, &mut store, &rows);
    for i in 0..n_eval {
        let item = store.item_by_id(&format!("q{i:03}")).unwrap().unwrap().key;
        let label = Annotation {
            item,
            annotator: "ana".into(),
            kind: AnnotationKind::Label,
            label: Some("benign".into()),
            note: None,
            suggestion: None,
        };
        store.annotate(&label).unwrap();
    }
    store.assign_splits(1.0, &SplitGroups::default()).unwrap();
    let texts = texts_of(&store);
    let eval: HashSet<String> = store
        .splits()
        .unwrap()
        .into_iter()
        .filter(|s| s.1 == Split::Eval)
        .map(|s| texts[&s.0].clone())
        .collect();
    assert_eq!(eval.len(), n_eval, "labelled items are eval");
    (dir, cfg, store, eval)
}

fn sampling(samples: usize) -> SamplingParams {
    SamplingParams {
        samples,
        temperature: 0.7,
        max_tokens: 40,
        reference_field: "reference".into(),
        system: None,
        reward: Reward::ExactMatch,
        seed: 7,
        model: PathBuf::from("stand-in"),
        engine: EngineOptions::default(),
        keep_candidates: 0,
    }
}

#[test]
fn limo_samples_k_per_prompt_and_keeps_exactly_n_solvable_ones_hardest_first() {
    let (dir, _cfg, mut store, eval) = prompt_project(40, 4);
    // The embedding model is hashed by the store (the stand-in ignores it).
    let embed_model = file(dir.path(), "stand-in.gguf", b"not a model");
    let params = limo::LimoParams {
        size: 6,
        sampling: sampling(4),
        min_passes: 1,
        responses_field: "responses".into(),
        weights: Default::default(),
        clusters: Some(1),
        dup_threshold: 1.01,
        limit: None,
        embed_model: embed_model.clone(),
    };
    let mut m = StandIn::default();
    let rep =
        limo::run_with(&mut store, &params, &mut m, &mut Silent, &CancelToken::new()).unwrap();
    assert_eq!((rep.size, rep.considered, rep.difficulty), (6, 36, limo::Difficulty::PassRate));
    // Every prompt outside eval sampled once, K replies at the temperature; eval never.
    assert_eq!(m.log.chats.len(), 36);
    assert!(m
        .log
        .chats
        .iter()
        .all(|c| c.samples == 4 && c.temperature == 0.7 && !eval.contains(&c.user)));
    // Expected passes per prompt, from what the stand-in replied.
    let passes: HashMap<&str, usize> = m
        .log
        .chats
        .iter()
        .map(|c| {
            (
                c.user.as_str(),
                (0..4).filter(|s| matches(&m.reply(&c.user, 7, c.key, *s, false), "0")).count(),
            )
        })
        .collect();
    let eligible: Vec<f64> =
        passes.values().filter(|p| (1..4).contains(*p)).map(|p| 1.0 - *p as f64 / 4.0).collect();
    assert_eq!(rep.eligible, eligible.len());
    assert_eq!(rep.dropped.never_solved, passes.values().filter(|p| **p == 0).count());
    assert_eq!(rep.dropped.always_solved, passes.values().filter(|p| **p == 4).count());
    let entries = store.selection_entries(rep.selection).unwrap();
    assert_eq!(entries.len(), 6);
    let mut chosen = Vec::new();
    for e in &entries {
        let p = passes[e.text.as_str()];
        assert_eq!(e.reasons["passes"], p, "{}", e.text);
        assert!(
            matches(e.response.as_deref().unwrap(), "0"),
            "a correct response: {:?}",
            e.response
        );
        chosen.push(e.score.unwrap());
    }
    // Hardest first: nothing left out is harder than anything kept.
    let mut all = eligible.clone();
    all.sort_by(|a, b| b.total_cmp(a));
    let cut = all[5];
    assert!(chosen.iter().all(|d| *d >= cut));
    assert_eq!(
        chosen.iter().filter(|d| **d > cut).count(),
        all.iter().filter(|d| **d > cut).count()
    );
    assert!(m.log.embedded.is_empty(), "one cluster: nothing to embed");

    // With clusters: the candidates are embedded and every cluster gives a prompt.
    let mut m = StandIn::default();
    let rep = limo::run_with(
        &mut store,
        &limo::LimoParams { clusters: Some(3), ..params.clone() },
        &mut m,
        &mut Silent,
        &CancelToken::new(),
    )
    .unwrap();
    assert_eq!((rep.size, rep.clusters, rep.clusters_covered), (6, 3, 3));
    assert_eq!(m.log.embedded.len(), rep.eligible);

    // More than qualify: an error that says why, and nothing saved.
    let before = store.selections().unwrap().len();
    let err = limo::run_with(
        &mut store,
        &limo::LimoParams { size: 40, ..params },
        &mut StandIn::default(),
        &mut Silent,
        &CancelToken::new(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("fewer than --size 40"), "{err}");
    assert_eq!(store.selections().unwrap().len(), before);
}

#[test]
fn limo_keeps_k_candidates_per_chosen_prompt_for_the_experts_in_the_same_transaction() {
    let (dir, _cfg, mut store, _eval) = prompt_project(40, 4);
    let embed_model = file(dir.path(), "stand-in.gguf", b"not a model");
    let mut sampling = sampling(4);
    sampling.keep_candidates = 2;
    let params = limo::LimoParams {
        size: 6,
        sampling,
        min_passes: 1,
        responses_field: "responses".into(),
        weights: Default::default(),
        clusters: Some(1),
        dup_threshold: 1.01,
        limit: None,
        embed_model,
    };
    let rep = limo::run_with(
        &mut store,
        &params,
        &mut StandIn::default(),
        &mut Silent,
        &CancelToken::new(),
    )
    .unwrap();
    let entries = store.selection_entries(rep.selection).unwrap();
    assert_eq!(entries.len(), 6);
    let with_candidates = store.items_with_responses().unwrap();
    assert_eq!(with_candidates.len(), 6, "only the chosen prompts get candidates");
    for e in &entries {
        let revs = store.revisions(e.item).unwrap();
        assert!((1..=2).contains(&revs.len()), "at most K per prompt: {revs:?}");
        // The set's response is the best, and it is candidate 1.
        assert_eq!(Some(&revs[0].text), e.response.as_ref());
        for (i, r) in revs.iter().enumerate() {
            assert_eq!((r.number, r.parent, r.source.as_str()), (i as i64 + 1, None, "limo"));
            let origin = r.origin.as_ref().unwrap();
            assert_eq!(origin["selection"], rep.selection);
            assert!(origin["from"].as_str().unwrap().starts_with("model sample"), "{origin}");
            assert!(matches(&r.text, "0"), "only correct replies are kept: {:?}", r.text);
        }
    }
    // Without --keep-candidates nothing is added.
    let before = store.response_count().unwrap();
    let params = limo::LimoParams {
        sampling: {
            let mut s = params.sampling.clone();
            s.keep_candidates = 0;
            s
        },
        ..params
    };
    limo::run_with(&mut store, &params, &mut StandIn::default(), &mut Silent, &CancelToken::new())
        .unwrap();
    assert_eq!(store.response_count().unwrap(), before);
}

#[test]
fn betr_keeps_the_share_with_equal_quotas_and_nothing_twice() {
    let (dir, cfg, mut store) = project();
    let rows: Vec<_> =
        (0..50).map(|i| serde_json::json!({"id": format!("d{i}"), "text": prompt(i)})).collect();
    import(dir.path(), &cfg, &mut store, &rows);
    let targets = file(
        dir.path(),
        "targets.jsonl",
        b"{\"text\": \"apple river engine\", \"set\": \"a\"}\n{\"text\": \"violet garden\", \"set\": \"b\"}\n{\"text\": \"copper lantern harbor\", \"set\": \"b\"}\n",
    );
    let model = file(dir.path(), "stand-in.gguf", b"not a model");
    let params = betr::BetrParams {
        targets,
        text_field: "text".into(),
        set_field: "set".into(),
        keep: 0.2,
        sample: 30,
        positive: 0.1,
        seed: 3,
        model,
        engine: EngineOptions::default(),
    };
    let mut m = StandIn::default();
    let rep =
        betr::run_with(&mut store, &params, &mut m, &mut Silent, &CancelToken::new()).unwrap();
    assert_eq!((rep.pool, rep.sample, rep.embedded_now, rep.kept), (50, 30, 30, 10));
    assert_eq!(
        rep.sets.iter().map(|s| (s.name.as_str(), s.targets, s.kept)).collect::<Vec<_>>(),
        vec![("a", 1, 5), ("b", 2, 5)]
    );
    assert_eq!(
        &m.log.embedded[..3],
        ["apple river engine", "violet garden", "copper lantern harbor"],
        "targets first"
    );
    let entries = store.selection_entries(rep.selection).unwrap();
    assert_eq!(entries.iter().map(|e| e.item).collect::<HashSet<_>>().len(), 10);
}

fn self_train_params(iterations: usize) -> selftrain::SelfTrainParams {
    selftrain::SelfTrainParams {
        sampling: sampling(6),
        keep_per_item: 2,
        iterations,
        holdout: 0.25,
        limit: None,
        lora: hifi::train::LoraRun {
            params: Default::default(),
            continue_from: None,
            trainer: hifi::train::TrainerCommand::External("false".into()),
            threads: 1,
            use_adapter: None,
        },
    }
}

#[test]
fn self_train_keeps_k_kept_replies_per_prompt_as_candidates_and_never_a_held_out_prompts() {
    let (_dir, _cfg, mut store, _eval) = prompt_project(44, 4);
    let mut params = self_train_params(1);
    params.sampling.keep_candidates = 1;
    let mut m = StandIn { spreads: vec![8, 2, 1], ..StandIn::default() };
    let rep =
        selftrain::run_with(&mut store, &params, &mut m, &mut Silent, &CancelToken::new()).unwrap();
    let sel = rep.iterations[0].selection;
    let kept: HashSet<i64> =
        store.selection_entries(sel).unwrap().into_iter().map(|e| e.item).collect();
    let with: HashSet<i64> = store.items_with_responses().unwrap().into_iter().collect();
    assert!(!kept.is_empty());
    assert_eq!(with, kept, "every prompt with a kept reply, and only those");
    let held: HashSet<String> = rep.heldout.iter().cloned().collect();
    for key in with {
        let revs = store.revisions(key).unwrap();
        assert_eq!(revs.len(), 1, "K = 1");
        assert_eq!(revs[0].source, "self-train");
        assert_eq!(revs[0].origin.as_ref().unwrap()["selection"], sel);
        assert!(!held.contains(&store.item(key).unwrap().unwrap().id));
    }
}

#[test]
fn self_train_never_trains_on_held_out_prompts_keeps_m_per_prompt_and_stops_when_the_reward_stops_improving(
) {
    let (_dir, _cfg, mut store, eval) = prompt_project(44, 4);
    // Replies spread over 8 answers, then 2 after the first M-step, then always right.
    let mut m = StandIn { spreads: vec![8, 2, 1], ..StandIn::default() };
    let rep = selftrain::run_with(
        &mut store,
        &self_train_params(5),
        &mut m,
        &mut Silent,
        &CancelToken::new(),
    )
    .unwrap();
    assert_eq!((rep.train_prompts, rep.heldout_prompts), (30, 10));
    let texts: HashMap<String, String> =
        store.items_page(i64::MIN, 1000).unwrap().into_iter().map(|i| (i.id, i.text)).collect();
    let held: HashSet<&str> = rep.heldout.iter().map(|id| texts[id].as_str()).collect();
    assert!(held.iter().all(|t| !eval.contains(*t)));

    // The verdicts: better twice, then no better; the best is iteration 2.
    let rewards: Vec<f64> = rep.iterations.iter().map(|i| i.heldout_reward).collect();
    assert!(
        rep.baseline_reward < rewards[0] && rewards[0] < rewards[1],
        "{} then {rewards:?}",
        rep.baseline_reward
    );
    assert_eq!(rewards[1..], [1.0, 1.0]);
    assert_eq!(rep.best_iteration, Some(2));
    assert!(
        rep.stopped.starts_with("iteration 3: held-out reward 1.000 did not improve"),
        "{}",
        rep.stopped
    );

    // Held-out prompts only ever answered greedily, once; training prompts sampled K times;
    // eval prompts never asked.
    for c in &m.log.chats {
        assert!(!eval.contains(&c.user));
        if held.contains(c.user.as_str()) {
            assert_eq!((c.samples, c.temperature), (1, 0.0));
        } else {
            assert_eq!((c.samples, c.temperature), (6, 0.7));
        }
    }
    // Baseline + 3 iterations of (E-step on 30, held-out on 10).
    assert_eq!(m.log.chats.len(), 10 + 3 * 40);
    // Trained on: never a held-out prompt; at most M distinct correct replies per prompt.
    assert_eq!(m.log.learned.len(), 3);
    for (it, pairs) in rep.iterations.iter().zip(&m.log.learned) {
        assert!(pairs.iter().all(|(p, r)| !held.contains(p.as_str()) && matches(r, "0")));
        let mut per: HashMap<&str, HashSet<&str>> = HashMap::new();
        for (p, r) in pairs {
            assert!(per.entry(p).or_default().insert(r.as_str()), "a reply kept twice");
        }
        assert!(per.values().all(|rs| rs.len() <= 2));
        let entries = store.selection_entries(it.selection).unwrap();
        assert_eq!(entries.len(), pairs.len());
        assert_eq!(it.kept, pairs.len());
        assert!(entries.iter().all(|e| !held.contains(e.text.as_str())));
    }
    // With spread 1 every sample is right: every training prompt is trained on, and most
    // have more than M distinct right replies (three kinds), so the quota binds.
    let last = &m.log.learned[2];
    assert_eq!(last.iter().map(|p| &p.0).collect::<HashSet<_>>().len(), 30);
    assert!(last.len() > 50 && last.len() <= 60, "{}", last.len());

    // Nothing passes: the first iteration says so and nothing is trained.
    let mut hopeless = StandIn { spreads: vec![1_000_000], ..StandIn::default() };
    let err = selftrain::run_with(
        &mut store,
        &self_train_params(2),
        &mut hopeless,
        &mut Silent,
        &CancelToken::new(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("no sampled reply passed the reward"), "{err}");
    assert!(hopeless.log.learned.is_empty());
}
