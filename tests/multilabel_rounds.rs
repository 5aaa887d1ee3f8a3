//! Rounds in multi-label projects: the one-vs-rest probe (per label, independent
//! probabilities, a fallback for a label without both answers), `hifi round` and
//! `hifi simulate --json` (mean and per-label κ) through the binary, and a LoRA round on a tiny
//! set with the real SmolLM2 that trains on yes/no answers and prelabels again.

mod common;

use common::*;
use hifi::config::{Config, LabelDef};
use hifi::curate::{Pool, Strategy};
use hifi::progress::{CancelToken, Silent};
use hifi::rounds::{
    fit_one_vs_rest, predict_row_multi, simulate_sets, LabelModel, ProbeParams, SimParams,
};
use hifi::store::{Annotation, AnnotationKind, Prediction, Store};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

const LABELS: [&str; 3] = ["sports", "money", "food"];

fn names() -> Vec<String> {
    LABELS.iter().map(|s| s.to_string()).collect()
}

/// `n` items with `dim`-wide embeddings; label j applies when coordinate j is positive (the
/// labels independent of each other). The "LLM" knows each label loosely: its probability is
/// a logistic of the coordinate plus noise (`llm_noise` in units of the coordinate's spread).
/// Returns (pool with thresholds 0.5, gold flags per item).
fn separable(n: usize, dim: usize, llm_noise: f64, seed: u64) -> (Pool, Vec<Vec<bool>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let k = LABELS.len();
    let mut pool =
        Pool { dim, label_names: names(), thresholds: Some(vec![0.5; k]), ..Pool::default() };
    let mut gold = Vec::new();
    for i in 0..n {
        let v: Vec<f32> = (0..dim).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
        let flags: Vec<bool> = (0..k).map(|j| v[j] > 0.0).collect();
        let probs: Vec<f32> = (0..k)
            .map(|j| {
                let z = 3.0 * (f64::from(v[j]) + llm_noise * rng.gen_range(-1.0..1.0));
                (1.0 / (1.0 + (-z).exp())) as f32
            })
            .collect();
        let top = probs.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
        pool.vectors.extend(&v);
        pool.keys.push(i as i64 + 1);
        pool.labels.push(top as u32);
        pool.probs.extend(&probs);
        pool.labeled.push(false);
        gold.push(flags);
    }
    (pool, gold)
}

fn binary_kappa(truth: &[bool], pred: &[bool]) -> f64 {
    let a: Vec<usize> = truth.iter().map(|&b| usize::from(b)).collect();
    let b: Vec<usize> = pred.iter().map(|&b| usize::from(b)).collect();
    hifi::metrics::cohen_kappa(&a, &b, 2).value().unwrap()
}

#[test]
fn the_one_vs_rest_probe_learns_each_label_with_independent_probabilities() {
    // The LLM is poor (noise 1.5× the signal); 200 expert sets teach each label its boundary.
    let (pool, gold) = separable(600, 8, 1.5, 7);
    let t = [0.5; 3];
    let train: Vec<(usize, Vec<bool>)> = (0..200).map(|i| (i, gold[i].clone())).collect();
    let params = ProbeParams::default();
    let model = fit_one_vs_rest(&pool, &train, &t, &params).unwrap();
    assert!(model.labels.iter().all(|m| matches!(m, LabelModel::Probe(_))));
    let mut row = Vec::new();
    let probs: Vec<Vec<f64>> =
        (200..600).map(|i| predict_row_multi(&model, &pool, i, true, &mut row)).collect();
    assert!(probs.iter().flatten().all(|p| (0.0..=1.0).contains(p)));
    // Independent probabilities: an item with every label has them all high (sum well past
    // 1), one with none has them all low.
    // (Items well inside every label's region, not at a boundary.)
    let clear = |i: usize, on: bool| {
        (0..3).all(
            |j| if on { pool.vectors[i * 8 + j] > 0.5 } else { pool.vectors[i * 8 + j] < -0.5 },
        )
    };
    let all_on = (200..600).position(|i| clear(i, true)).unwrap();
    let all_off = (200..600).position(|i| clear(i, false)).unwrap();
    assert!(probs[all_on].iter().sum::<f64>() > 1.5, "{:?}", probs[all_on]);
    assert!(probs[all_off].iter().sum::<f64>() < 1.0, "{:?}", probs[all_off]);
    for j in 0..3 {
        let truth: Vec<bool> = (200..600).map(|i| gold[i][j]).collect();
        let pred: Vec<bool> = probs.iter().map(|p| p[j] >= 0.5).collect();
        let llm: Vec<bool> = (200..600).map(|i| pool.probs[i * 3 + j] >= 0.5).collect();
        let (k_probe, k_llm) = (binary_kappa(&truth, &pred), binary_kappa(&truth, &llm));
        assert!(k_probe > 0.75 && k_probe > k_llm + 0.3, "label {j}: probe {k_probe}, LLM {k_llm}");
    }
    // A label no train item has: no boundary to learn, so it keeps the LLM's own probability
    // (or, without the LLM, its smoothed train share); the others still learn.
    let none_food: Vec<(usize, Vec<bool>)> =
        (0..200).filter(|&i| !gold[i][2]).map(|i| (i, gold[i].clone())).collect();
    let model = fit_one_vs_rest(&pool, &none_food, &t, &params).unwrap();
    assert!(model.labels[2].is_fallback() && !model.labels[0].is_fallback());
    let p = predict_row_multi(&model, &pool, 300, true, &mut row);
    assert_eq!(p[2], f64::from(pool.probs[300 * 3 + 2]));
    let no_llm = ProbeParams { use_llm: false, ..ProbeParams::default() };
    let model = fit_one_vs_rest(&pool, &none_food, &t, &no_llm).unwrap();
    let n = none_food.len() as f64;
    assert!(
        (predict_row_multi(&model, &pool, 300, false, &mut row)[2] - 1.0 / (n + 2.0)).abs() < 1e-12
    );
    let notes = hifi::rounds::fallback_notes(&model, &names(), none_food.len(), false);
    assert!(notes.len() == 1 && notes[0].contains("\"food\" applies to none"), "{notes:?}");
    // Flags of the wrong width are an error, not a panic.
    let e = fit_one_vs_rest(&pool, &[(0, vec![true])], &t, &params).unwrap_err().to_string();
    assert!(e.contains("1 flags for 3 labels"), "{e}");
}

#[test]
fn a_simulation_on_label_sets_scores_each_label_and_their_mean() {
    let (pool, gold) = separable(500, 8, 1.5, 3);
    let params = SimParams {
        budgets: vec![40, 120],
        strategies: vec![Strategy::Random, Strategy::Margin],
        seeds: 2,
        ..SimParams::default()
    };
    let rep = simulate_sets(&pool, &gold, &params, &mut Silent, &CancelToken::new()).unwrap();
    assert_eq!(rep.results.len(), 4);
    assert_eq!(rep.per_seed.len(), 8);
    for r in &rep.per_seed {
        let per = r.per_label.as_ref().unwrap();
        let vals: Vec<f64> = per.values().map(|v| v.unwrap()).collect();
        assert_eq!(vals.len(), 3);
        let mean = vals.iter().sum::<f64>() / 3.0;
        assert!((r.kappa.unwrap() - mean).abs() < 1e-12, "{r:?}");
    }
    let at = |s: &str, b: usize| {
        rep.results.iter().find(|r| r.strategy == s && r.budget == b).unwrap().kappa.unwrap()
    };
    // More labels help; the ceiling (every non-test set) beats the zero-shot LLM per label.
    assert!(at("random", 120) > at("random", 40) - 0.02);
    let (ceil, zero) =
        (rep.ceiling.per_label.as_ref().unwrap(), rep.zero_shot.per_label.as_ref().unwrap());
    for l in LABELS {
        assert!(ceil[l].unwrap() > zero[l].unwrap() + 0.1, "{l}: {ceil:?} vs {zero:?}");
    }
    // Same seed, same report.
    let again = simulate_sets(&pool, &gold, &params, &mut Silent, &CancelToken::new()).unwrap();
    assert_eq!(rep.results, again.results);
    // The eval side is not simulated for label sets: said, not ignored.
    let noisy = SimParams { oracle_noise: 0.1, ..params.clone() };
    let e = simulate_sets(&pool, &gold, &noisy, &mut Silent, &CancelToken::new()).unwrap_err();
    assert!(e.to_string().contains("not simulated for multi-label"), "{e}");
}

/// A multi-label project (hifi.toml with `multi_label = true`) holding `separable`'s items:
/// the LLM's per-label probabilities as an `llm` model, the embeddings, and each item's gold
/// set in the imported field `cats` (a JSON list; every fifth a `;`-joined string).
fn multi_project(n: usize) -> (tempfile::TempDir, Config, Store, Vec<i64>, Vec<Vec<bool>>) {
    let (pool, gold) = separable(n, 8, 1.5, 11);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.task = "Which topics does a news headline touch?".into();
    cfg.multi_label = true;
    cfg.labels =
        LABELS.iter().map(|l| LabelDef::new(*l, format!("The headline is about {l}."))).collect();
    cfg.prompt.item_noun = "headline".into();
    std::fs::write(dir.path().join("hifi.toml"), cfg.to_toml()).unwrap();
    let mut st = Store::create(dir.path()).unwrap();
    let mut body = String::from("id,text\n");
    for i in 0..n {
        body.push_str(&format!("h{i},headline number {i}\n"));
    }
    let p = file(dir.path(), "items.csv", body.as_bytes());
    hifi::io::import::import_items(
        &mut st,
        &p,
        &Default::default(),
        &mut Silent,
        &CancelToken::new(),
    )
    .unwrap();
    let keys: Vec<i64> =
        (0..n).map(|i| st.item_by_id(&format!("h{i}")).unwrap().unwrap().key).collect();
    let labels = cfg.label_names();
    let model = st.register_model(&llm_record("synthetic-multi", None, &labels)).unwrap();
    let preds: Vec<Prediction> = (0..n)
        .map(|i| Prediction {
            item: keys[i],
            probs: pool.probs[i * 3..(i + 1) * 3].iter().map(|x| f64::from(*x)).collect(),
            truncated: false,
        })
        .collect();
    st.put_predictions(model, &labels, &preds).unwrap();
    hifi::llm::embed::put_vectors(
        &mut st,
        "synthetic.gguf",
        "sha-synthetic",
        8,
        &keys,
        &pool.vectors,
    )
    .unwrap();
    let set = |i: usize| -> Vec<String> {
        labels.iter().zip(&gold[i]).filter(|(_, &g)| g).map(|(l, _)| l.clone()).collect()
    };
    let metas: Vec<(i64, Option<String>)> = (0..n)
        .map(|i| {
            let v = if i % 5 == 0 { Value::from(set(i).join(";")) } else { Value::from(set(i)) };
            (keys[i], Some(serde_json::json!({ "cats": v }).to_string()))
        })
        .collect();
    st.set_items_meta(&metas).unwrap();
    (dir, cfg, st, keys, gold)
}

fn annotate(st: &mut Store, item: i64, who: &str, set: &[String]) {
    st.annotate(&Annotation {
        item,
        annotator: who.into(),
        kind: AnnotationKind::Label,
        label: Some(hifi::multilabel::encode(set)),
        note: None,
        suggestion: Some(false),
    })
    .unwrap();
}

#[test]
fn hifi_round_trains_the_one_vs_rest_probe_on_a_multi_label_project() {
    let (dir, cfg, mut st, keys, gold) = multi_project(400);
    let labels = cfg.label_names();
    let set = |i: usize| -> Vec<String> {
        labels.iter().zip(&gold[i]).filter(|(_, &g)| g).map(|(l, _)| l.clone()).collect()
    };
    for (i, &key) in keys.iter().enumerate().take(240) {
        annotate(&mut st, key, "ana", &set(i));
        if i % 3 == 0 {
            annotate(&mut st, key, "ben", &set(i));
        }
    }
    drop(st);
    let (ok, out, err) = hifi(dir.path(), &["round", "--json", "--budget", "10"]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["trainer"], "probe");
    assert_eq!(v["predicted"], 400);
    assert!(v["train_size"].as_u64().unwrap() > 100, "{}", v["train_size"]);
    let per = v["scores"]["per_label"].as_object().expect("per-label scores");
    assert_eq!(per.len(), 3, "{per:?}");
    let st = Store::open(dir.path()).unwrap();
    let model = st.latest_model().unwrap().unwrap();
    assert_eq!(model.kind, "probe");
    assert_eq!(model.id, v["model"].as_i64().unwrap());
    let preds = st.predictions(model.id).unwrap();
    assert_eq!(preds.len(), 400);
    assert!(preds
        .iter()
        .all(|p| p.probs.len() == 3 && p.probs.iter().all(|x| (0.0..=1.0).contains(x))));
    assert!(
        preds.iter().any(|p| (p.probs.iter().sum::<f64>() - 1.0).abs() > 0.2),
        "independent per-label probabilities, not a distribution"
    );
    // The probe learned: on the items nobody labeled it agrees with gold per label far better
    // than the LLM it started from.
    let llm = st.latest_model_of_kind("llm").unwrap().unwrap();
    let llm_preds = st.predictions(llm.id).unwrap();
    let by_key =
        |ps: &[Prediction], key: i64| ps.iter().find(|p| p.item == key).unwrap().probs.clone();
    for (j, _) in LABELS.iter().enumerate() {
        let truth: Vec<bool> = (240..400).map(|i| gold[i][j]).collect();
        let probe: Vec<bool> = (240..400).map(|i| by_key(&preds, keys[i])[j] >= 0.5).collect();
        let zero: Vec<bool> = (240..400).map(|i| by_key(&llm_preds, keys[i])[j] >= 0.5).collect();
        let (kp, kz) = (binary_kappa(&truth, &probe), binary_kappa(&truth, &zero));
        assert!(kp > 0.8 && kp > kz + 0.1, "label {j}: probe {kp}, zero-shot {kz}");
    }
    // The queue was refilled from the probe's per-label probabilities.
    assert!(v["mine"]["entries"].as_u64().unwrap() > 0, "{}", v["mine"]);
}

#[test]
fn hifi_simulate_json_gives_the_mean_and_per_label_kappa() {
    let (dir, _cfg, st, _keys, _gold) = multi_project(300);
    drop(st);
    let args = [
        "simulate",
        "--oracle",
        "cats",
        "--budgets",
        "30,90",
        "--strategies",
        "random,margin,pairs,adaptive",
        "--seeds",
        "2",
        "--json",
    ];
    let (ok, out, err) = hifi(dir.path(), &args);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 8);
    for r in results {
        let per = r["per_label"].as_object().unwrap_or_else(|| panic!("{r}"));
        assert_eq!(per.keys().cloned().collect::<Vec<_>>(), vec!["food", "money", "sports"]);
        let vals: Vec<f64> = per.values().filter_map(Value::as_f64).collect();
        assert_eq!(vals.len(), 3, "{r}");
        // Two seeds, every label's κ defined on both: the mean of the per-label means is the
        // mean of the per-seed means.
        let mean = vals.iter().sum::<f64>() / 3.0;
        assert!((r["kappa"].as_f64().unwrap() - mean).abs() < 1e-9, "{r}");
        assert_eq!(r["labeled"], r["budget"]);
    }
    assert!(v["zero_shot"]["per_label"]["money"].is_number());
    assert!(v["ceiling"]["kappa"].as_f64().unwrap() > v["zero_shot"]["kappa"].as_f64().unwrap());
    assert_eq!(v["zero_shot_model"], 1);
    assert_eq!(v["test_size"].as_u64().unwrap() + v["pool_size"].as_u64().unwrap(), 300);
    // The table shows each label's row under the mean.
    let (ok, out, err) = hifi(dir.path(), &args[..args.len() - 1]);
    assert!(ok && out.contains("κ sports") && out.contains("mean over labels"), "{out}{err}");
    assert!(out.contains("zero-shot LLM per label: sports"), "{out}");
    // A second expert field is refused in a multi-label project, saying why.
    let (ok, _, err) = hifi(dir.path(), &["simulate", "--oracle", "cats", "--oracle2", "cats2"]);
    assert!(!ok && err.contains("cats2"), "{err}");
}

#[test]
fn a_lora_round_on_a_tiny_multi_label_set_trains_on_yes_no_answers_and_prelabels_again() {
    let m = require_model();
    let dir = tempfile::tempdir().unwrap();
    let proj = dir.path().join("p");
    let (ok, _, err) = hifi(
        dir.path(),
        &[
            "init",
            proj.to_str().unwrap(),
            "--labels",
            "sports,money,food",
            "--multi-label",
            "--task",
            "Which topics does a news headline touch?",
        ],
    );
    assert!(ok, "{err}");
    let heads = [
        ("Local team wins the cup final", "sports"),
        ("Stock market falls as rates rise", "money"),
        ("New bakery opens on main street", "food"),
        ("Star striker signs record transfer deal", "sports;money"),
        ("Restaurant chain reports record profits", "money;food"),
        ("Marathon runners fuel up on pasta", "sports;food"),
        ("City council meets on Tuesday", ""),
        ("Tennis champion retires at 35", "sports"),
        ("Bank raises interest on savings", "money"),
        ("Chef shares a soup recipe", "food"),
        ("Football club sells stadium food rights for millions", "sports;money;food"),
        ("Weather stays mild this week", ""),
        ("Cyclists race through the hills", "sports"),
        ("Tax changes hit small firms", "money"),
        ("Farmers market sells fresh apples", "food"),
        ("Golf star invests in a vineyard", "sports;money;food"),
    ];
    let mut csv = String::from("id,text\n");
    for (i, (t, _)) in heads.iter().enumerate() {
        csv.push_str(&format!("n{i},{t}\n"));
    }
    let items = file(dir.path(), "heads.csv", csv.as_bytes());
    let (ok, _, err) = hifi(&proj, &["import", items.to_str().unwrap()]);
    assert!(ok, "{err}");
    {
        let mut st = Store::open(&proj).unwrap();
        for (i, (_, set)) in heads.iter().enumerate() {
            let key = st.item_by_id(&format!("n{i}")).unwrap().unwrap().key;
            let set: Vec<String> =
                set.split(';').filter(|s| !s.is_empty()).map(str::to_string).collect();
            annotate(&mut st, key, "ana", &set);
        }
    }
    assert!(m.exists());
    let (ok, _, err) = hifi(&proj, &["prelabel"]);
    assert!(ok, "{err}");
    let (ok, out, err) = hifi(
        &proj,
        &["round", "--trainer", "lora", "--epochs", "1", "--rank", "4", "--no-mine", "--json"],
    );
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["trainer"], "lora");
    assert_eq!(v["predicted"], 16);
    let train_items = v["train_size"].as_u64().unwrap();
    assert!(train_items > 0 && train_items < 16, "{train_items}");
    let adapter = std::path::PathBuf::from(v["adapter"]["adapter"].as_str().unwrap());
    assert!(adapter.is_file(), "{}", adapter.display());
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(adapter.with_extension("json")).unwrap())
            .unwrap();
    // One example per train item and label.
    assert_eq!(manifest["train_size"].as_u64().unwrap(), 3 * train_items);
    let (first, last) =
        (manifest["first_loss"].as_f64().unwrap(), manifest["final_loss"].as_f64().unwrap());
    assert!(first.is_finite() && last.is_finite());
    // The job's chat records are the multi-label answers the scorer reads.
    let job = std::fs::read_to_string(adapter.parent().unwrap().join("job.json")).unwrap();
    assert!(
        job.contains("sports: yes") && job.contains("food: no"),
        "job.json lacks yes/no answers"
    );
    // Prelabeled again with the adapter, by the multi-label scorer: a probability per label.
    let st = Store::open(&proj).unwrap();
    let rec = st.model(v["model"].as_i64().unwrap()).unwrap().unwrap();
    assert!(rec.adapter_path.is_some(), "{rec:?}");
    let preds = st.predictions(rec.id).unwrap();
    assert_eq!(preds.len(), 16);
    assert!(preds
        .iter()
        .all(|p| p.probs.len() == 3 && p.probs.iter().all(|x| (0.0..=1.0).contains(x))));
    assert!(preds.iter().any(|p| (p.probs.iter().sum::<f64>() - 1.0).abs() > 1e-3));
    assert!(v["scores"]["per_label"].is_object(), "{}", v["scores"]);
}
