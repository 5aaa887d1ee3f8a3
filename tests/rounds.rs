//! Rounds: the probe round on a project, `hifi report`'s verdict, and `hifi simulate` on
//! generated data (pairs vs random) and on the sample data with the real model.

mod common;

use common::*;
use hifi::curate::synth::{generate, SynthSpec, Synthetic};
use hifi::curate::Strategy;
use hifi::progress::{CancelToken, Silent};
use hifi::rounds::{self, run_round, simulate_pool, RoundParams, SimParams, SimReport, Trainer};
use hifi::store::{Annotation, AnnotationKind, RoundRow};
use serde_json::{json, Value};

/// A generated pool whose "LLM" is wrong near the one true boundary: its boundary sits
/// `shift` noise-sigmas off the real one. Returns the pool (LLM labels and probabilities)
/// and the gold labels.
fn shifted_llm(n: usize, dim: usize, shift: f32, seed: u64) -> (Synthetic, Vec<usize>) {
    let spec = SynthSpec { n, dim, labels: 2, boundary_regions: 1, pure_regions: 6, seed };
    let mut s = generate(&spec).unwrap();
    let gold: Vec<usize> = s.pool.labels.iter().map(|&l| l as usize).collect();
    let sigma = 1.0 / (dim as f32).sqrt();
    for i in 0..n {
        if (s.region[i] as usize) < s.boundary_regions {
            let q = 1.0 / (1.0 + (-(s.side[i] - shift * sigma) / (0.5 * sigma)).exp());
            s.pool.probs[2 * i] = 1.0 - q;
            s.pool.probs[2 * i + 1] = q;
            s.pool.labels[i] = u32::from(q >= 0.5);
        }
    }
    (s, gold)
}

fn kappa_of(rep: &SimReport, strategy: &str, budget: usize) -> f64 {
    rep.results.iter().find(|r| r.strategy == strategy && r.budget == budget).and_then(|r| r.kappa).expect("a defined kappa")
}

#[test]
fn pairs_beat_random_at_small_budgets_where_the_boundary_matters() {
    let (mut pairs, mut random) = ([0.0; 2], [0.0; 2]);
    for seed in 0..4 {
        let (s, gold) = shifted_llm(3000, 32, 0.7, seed);
        let params = SimParams { budgets: vec![20, 40], strategies: vec![Strategy::Pairs, Strategy::Random], seed, ..SimParams::default() };
        let rep = simulate_pool(&s.pool, &gold, &params, &mut Silent, &CancelToken::new()).unwrap();
        assert_eq!(rep.results.len(), 4);
        assert!(rep.results.iter().all(|r| r.labeled == r.budget && r.kappa_ci.is_some()));
        for (j, b) in [20, 40].into_iter().enumerate() {
            pairs[j] += kappa_of(&rep, "pairs", b) / 4.0;
            random[j] += kappa_of(&rep, "random", b) / 4.0;
        }
        // The ceiling (every label) is at least as good as the zero-shot model.
        assert!(rep.ceiling.kappa.unwrap() >= rep.zero_shot.kappa.unwrap());
    }
    for j in 0..2 {
        assert!(pairs[j] > random[j] + 0.01, "budget {}: pairs κ {:.3} vs random κ {:.3}", [20, 40][j], pairs[j], random[j]);
    }
}

#[test]
fn simulation_is_deterministic_for_a_seed_and_checks_its_input() {
    let (s, gold) = shifted_llm(1200, 16, 0.5, 9);
    let params = SimParams { budgets: vec![30, 10], strategies: vec![Strategy::Pairs, Strategy::Margin, Strategy::ClusterMargin], rounds: 2, seed: 5, ..SimParams::default() };
    let run = || {
        let mut r = simulate_pool(&s.pool, &gold, &params, &mut Silent, &CancelToken::new()).unwrap();
        r.seconds = 0.0;
        r
    };
    let a = run();
    assert_eq!(a, run());
    // Budgets come out sorted; each cell labeled exactly its budget.
    let b: Vec<(String, usize, usize)> = a.results.iter().map(|r| (r.strategy.clone(), r.budget, r.labeled)).collect();
    assert_eq!(b[0], ("pairs".into(), 10, 10));
    assert_eq!(b[1], ("pairs".into(), 30, 30));
    // The JSON has the documented shape.
    let v = serde_json::to_value(&a).unwrap();
    for key in ["strategy", "budget", "kappa", "kappa_ci", "macro_f1"] {
        assert!(v["results"][0].get(key).is_some(), "results[].{key}");
    }
    assert!(v["ceiling"]["kappa"].is_number() && v["ceiling"]["macro_f1"].is_number());
    assert_eq!(v["test_size"].as_u64().unwrap() as usize + v["pool_size"].as_u64().unwrap() as usize, 1200);
    assert_eq!(v["seed"], 5);
    // Bad input is refused with the flag's name.
    let bad = |p: SimParams, want: &str| {
        let e = simulate_pool(&s.pool, &gold, &p, &mut Silent, &CancelToken::new()).unwrap_err().to_string();
        assert!(e.contains(want), "{e}");
    };
    bad(SimParams { budgets: vec![], ..params.clone() }, "--budgets");
    bad(SimParams { strategies: vec![], ..params.clone() }, "--strategies");
    bad(SimParams { rounds: 0, ..params.clone() }, "--rounds");
    bad(SimParams { test_fraction: 1.0, ..params.clone() }, "--test-fraction");
    let e = simulate_pool(&s.pool, &gold[1..], &params, &mut Silent, &CancelToken::new()).unwrap_err().to_string();
    assert!(e.contains("gold"), "{e}");
}

fn label(st: &mut hifi::store::Store, item: i64, who: &str, label: &str) {
    st.annotate(&Annotation { item, annotator: who.into(), kind: AnnotationKind::Label, label: Some(label.into()), note: None, suggestion: None }).unwrap();
}

#[test]
fn probe_round_on_a_project_is_recorded_scored_and_reported() {
    let (s, gold) = shifted_llm(900, 16, 0.7, 4);
    let (dir, cfg, mut st) = project_from_synth(&s);
    // The synthetic "LLM" of the project scores s.pool.probs; the experts know the truth.
    let names = cfg.label_names();
    let keys: Vec<i64> = (0..900).map(|i| st.item_by_id(&format!("it{i}")).unwrap().unwrap().key).collect();
    for i in 0..300 {
        label(&mut st, keys[i], "ana", &names[gold[i]]);
        if i % 4 == 0 {
            // A second expert on a quarter of them, disagreeing now and then.
            let g = if i % 40 == 0 { 1 - gold[i] } else { gold[i] };
            label(&mut st, keys[i], "ben", &names[g]);
        }
    }
    let e = run_round(&mut st, &cfg, &RoundParams { trainer: Trainer::Probe, probe: Default::default(), seed: 1, mine: None, lora: None }, &mut Silent, &CancelToken::new());
    let rep = e.unwrap();
    assert_eq!(rep.baseline_round, Some(1), "the first round records the zero-shot baseline");
    assert_eq!(rep.round, 2);
    assert_eq!(rep.predicted, 900);
    assert!(rep.train_size > 100 && rep.scores.eval_size > 50, "{} / {}", rep.train_size, rep.scores.eval_size);
    assert_eq!(rep.scores.model_kind, "probe");
    assert_eq!(rep.scores.per_annotator.len(), 2);
    assert!(rep.scores.expert_vs_expert.n >= 70 && rep.scores.expert_vs_expert.kappa.unwrap() > 0.7);
    let vs = rep.scores.vs_experts.as_ref().expect("enough data to compare");
    assert!(vs.gap_ci[0] <= vs.gap && vs.gap <= vs.gap_ci[1]);
    // The probe's predictions are the newest model now; the baseline scored the LLM.
    assert_eq!(st.latest_model().unwrap().unwrap().kind, "probe");
    // The dashboard shows the same numbers the round recorded.
    let d = hifi::tui::data::dashboard(&mut st, &cfg).unwrap();
    assert_eq!(d.model_kappa, Some((format!("{:.3}", rep.scores.kappa.unwrap()), rep.scores.model_vs_expert.n)));
    assert_eq!(d.expert_kappa, Some((format!("{:.3}", rep.scores.expert_vs_expert.kappa.unwrap()), rep.scores.expert_vs_expert.n)));
    let report = rounds::report(&st, &cfg).unwrap();
    assert_eq!(report.rounds.len(), 2);
    let zero = report.rounds[0].scores.as_ref().unwrap();
    assert_eq!(zero.model_kind, "llm");
    assert!(rep.scores.kappa.unwrap() >= zero.kappa.unwrap() - 0.05, "probe {:?} vs zero-shot {:?}", rep.scores.kappa, zero.kappa);
    // The CLI prints the same rounds and a verdict.
    let (ok, out, err) = hifi(dir.path(), &["report", "--json"]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["rounds"].as_array().unwrap().len(), 2);
    assert!(["stop", "continue", "not-enough-data"].contains(&v["verdict"]["decision"].as_str().unwrap()));
    let (ok, out, _) = hifi(dir.path(), &["report"]);
    assert!(ok && out.contains("model vs experts") && out.contains("expert vs expert"), "{out}");
    // A round through the CLI refills the queue.
    let (ok, out, err) = hifi(dir.path(), &["round", "--budget", "5"]);
    assert!(ok, "{err}");
    assert!(out.contains("round 3 (probe)") && out.contains("queue refilled"), "{out}");
    // And simulate works on the project's gold labels, keeping its report for the dashboard.
    let (ok, out, err) = hifi(dir.path(), &["simulate", "--budgets", "20,40", "--strategies", "pairs,random", "--json"]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["results"].as_array().unwrap().len(), 4);
    assert!(st.setting(rounds::SIMULATION_KEY).unwrap().is_some());
    let (ok, _, err) = hifi(dir.path(), &["simulate", "--oracle", "no_such_field"]);
    assert!(!ok && err.contains("no_such_field"), "{err}");
}

#[test]
fn a_probe_round_without_train_labels_says_what_to_do() {
    let (s, _) = shifted_llm(200, 8, 0.0, 1);
    let (_dir, cfg, mut st) = project_from_synth(&s);
    let e = run_round(&mut st, &cfg, &RoundParams { trainer: Trainer::Probe, probe: Default::default(), seed: 0, mine: None, lora: None }, &mut Silent, &CancelToken::new())
        .unwrap_err()
        .to_string();
    assert!(e.contains("label some items"), "{e}");
}

fn round(id: i64, kappa: f64, vs: Option<(f64, [f64; 2])>) -> RoundRow {
    let scores = json!({
        "model": id, "model_kind": "probe", "eval_size": 100, "eval_balance": {}, "train_size": 200, "unpredicted": 0,
        "kappa": kappa, "model_vs_expert": {"n": 100, "kappa": kappa, "kappa_ci": [kappa - 0.1, kappa + 0.1]},
        "macro_f1": 0.8, "pabak": 0.7, "per_annotator": [], "annotator_mean_kappa": null,
        "expert_vs_expert": {"n": 40, "kappa": 0.8, "kappa_ci": [0.7, 0.9]},
        "vs_experts": vs.map(|(gap, ci)| json!({"gap": gap, "gap_ci": ci, "indistinguishable": ci[0] <= 0.0})),
        "seed": 0
    });
    RoundRow { id, model: Some(id), adapter: None, trainer: Some("probe".into()), scores: Some(scores), started_at: String::new(), finished_at: None }
}

#[test]
fn the_verdict_names_its_rule() {
    let v = rounds::verdict(&[]);
    assert_eq!(v.decision, "not-enough-data");
    let v = rounds::verdict(&[round(1, 0.4, None)]);
    assert_eq!(v.decision, "not-enough-data");
    assert!(v.message.contains("need"), "{}", v.message);
    let v = rounds::verdict(&[round(1, 0.4, Some((0.4, [0.25, 0.55])))]);
    assert_eq!((v.decision, v.rule), ("continue", None));
    let v = rounds::verdict(&[round(1, 0.4, Some((0.4, [0.25, 0.55]))), round(2, 0.75, Some((0.05, [-0.08, 0.17])))]);
    assert_eq!((v.decision, v.rule), ("stop", Some("reached-experts")));
    let flat = [round(1, 0.5, Some((0.3, [0.2, 0.4]))), round(2, 0.62, Some((0.2, [0.1, 0.3]))), round(3, 0.6, Some((0.2, [0.1, 0.3]))), round(4, 0.61, Some((0.2, [0.1, 0.3])))];
    let v = rounds::verdict(&flat);
    assert_eq!((v.decision, v.rule), ("stop", Some("no-improvement")));
    assert!(v.message.contains("rounds 3 and 4"), "{}", v.message);
    // Improving on the best earlier round keeps it going; interrupted rounds are ignored.
    let mut rising = flat.to_vec();
    rising[3] = round(4, 0.7, Some((0.1, [0.02, 0.2])));
    rising.push(RoundRow { scores: None, ..round(5, 0.0, None) });
    assert_eq!(rounds::verdict(&rising).decision, "continue");
}

/// The real model on 90 sample ads: prelabel, embed, a zero-shot round, and a simulation that
/// gives the same report twice for one seed.
#[test]
fn simulate_on_sample_data_with_the_real_model() {
    let Some(model) = model() else { return };
    let (dir, _cfg, _st) = project();
    drop(_st);
    let csv = std::fs::read_to_string(repo().join("sample-data/ads.csv")).unwrap();
    let mut rdr = csv::Reader::from_reader(csv.as_bytes());
    let mut w = csv::Writer::from_path(dir.path().join("ads.csv")).unwrap();
    w.write_record(rdr.headers().unwrap()).unwrap();
    for rec in rdr.records().take(90) {
        w.write_record(&rec.unwrap()).unwrap();
    }
    w.flush().unwrap();
    let p = dir.path();
    let (m, csv_path) = (model.display().to_string(), p.join("ads.csv").display().to_string());
    for args in [vec!["import", &csv_path], vec!["prelabel", "--model", &m], vec!["embed", "--model", &m]] {
        let (ok, _, err) = hifi(p, &args);
        assert!(ok, "{args:?}: {err}");
    }
    let sim = || {
        let (ok, out, err) = hifi(p, &["simulate", "--budgets", "10,20", "--strategies", "pairs,random", "--seed", "3", "--json"]);
        assert!(ok, "{err}");
        let mut v: Value = serde_json::from_str(&out).unwrap();
        v["seconds"] = json!(0);
        v
    };
    let a = sim();
    assert_eq!(a, sim(), "same seed, same report");
    assert_eq!(a["test_size"].as_u64().unwrap() + a["pool_size"].as_u64().unwrap(), 90);
    assert!(a["zero_shot"]["macro_f1"].is_number());
    let (ok, out, err) = hifi(p, &["simulate", "--budgets", "10,20", "--strategies", "pairs,random", "--seed", "3"]);
    assert!(ok && out.contains("budget") && out.contains("ceiling"), "{out}{err}");
}
