//! Multi-label agreement: Krippendorff's α with MASI distance against published worked
//! examples, per-label κ on a constructed store against hand-computed values, `hifi report`
//! (text and JSON) in a multi-label project, and the per-label stop rule naming the labels
//! that are not there yet.

mod common;

use std::collections::HashSet;
use std::path::Path;

use common::*;
use hifi::config::{Config, LabelDef};
use hifi::metrics::alpha::{interval, masi, nominal};
use hifi::metrics::krippendorff_alpha;
use hifi::multilabel::masi_distance;
use hifi::rounds::{self, RoundScores};
use hifi::store::{Annotation, AnnotationKind, Prediction, SplitGroups, Store};
use serde_json::Value;

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn close(got: Option<f64>, want: f64, what: &str) {
    let g = got.unwrap_or_else(|| panic!("{what}: undefined, want {want}"));
    assert!((g - want).abs() < 1e-9, "{what}: got {g}, want {want}");
}

/// Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers,
/// 12 units, values 1..5, `0` = missing. Published: nominal α = 0.743, interval α = 0.849.
const RELIABILITY: [[u32; 12]; 4] = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, 0, 0, 0],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, 0, 3],
    [0, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, 0],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, 0],
];

#[test]
fn alpha_with_masi_matches_the_published_worked_examples() {
    // Singleton sets under MASI are nominal data: {x} vs {x} is 0, {x} vs {y} is 1.
    let sets: Vec<Vec<Option<Vec<String>>>> = RELIABILITY
        .iter()
        .map(|r| r.iter().map(|&x| (x > 0).then(|| vec![x.to_string()])).collect())
        .collect();
    let a = krippendorff_alpha(&sets, masi).value().unwrap();
    assert!((a - 0.743).abs() < 5e-4, "MASI α on singleton sets: {a}");
    let plain: Vec<Vec<Option<u32>>> =
        RELIABILITY.iter().map(|r| r.iter().map(|&x| (x > 0).then_some(x)).collect()).collect();
    assert!((krippendorff_alpha(&plain, nominal).value().unwrap() - a).abs() < 1e-12);
    // The distance is pluggable: the same data read as interval values.
    let f: Vec<Vec<Option<f64>>> =
        plain.iter().map(|r| r.iter().map(|x| x.map(f64::from)).collect()).collect();
    let ai = krippendorff_alpha(&f, interval).value().unwrap();
    assert!((ai - 0.849).abs() < 5e-4, "interval α: {ai}");

    // MASI itself: NLTK's doctest gives masi_distance({1,2,3,4}, {3,4,5}) = 0.868, with the
    // monotonicity weight 1/3 rounded to 0.33; exactly, J = 2/5 and M = 1/3: 1 − 2/15.
    let d = masi_distance(&names(&["1", "2", "3", "4"]), &names(&["3", "4", "5"]));
    assert!((d - (1.0 - 2.0 / 15.0)).abs() < 1e-12 && (d - 0.868).abs() < 2e-3, "{d}");
    // Passonneau (2006): {1,2} vs {1,2,3,4}: J = 1/2, M = 2/3.
    let d = masi_distance(&names(&["1", "2"]), &names(&["1", "2", "3", "4"]));
    assert!((d - 2.0 / 3.0).abs() < 1e-12, "{d}");

    // Real sets, by hand: two coders, units {a}|{a,b} (δ 2/3), {b}|{b} (0), {a}|{b} (1).
    // n = 6 values; within-unit Σ δ/(m−1) = 4/3 + 0 + 2 = 10/3; over all ordered pairs of
    // values Σ δ = 2·(2·1·2/3 + 2·3·1 + 1·3·2/3) = 56/3; α = 1 − 5·(10/3)/(56/3) = 3/28.
    let s = |v: &[&str]| Some(names(v));
    let coders =
        vec![vec![s(&["a"]), s(&["b"]), s(&["a"])], vec![s(&["a", "b"]), s(&["b"]), s(&["b"])]];
    close(krippendorff_alpha(&coders, masi).value(), 3.0 / 28.0, "α by hand");
}

/// A multi-label project with labels a, b, c (c's threshold 0.6) and `n` items `it0…`.
fn multi_project(n: usize) -> (tempfile::TempDir, Config, Store, Vec<i64>) {
    let dir = tempfile::tempdir().unwrap();
    let mut labels = vec![
        LabelDef::new("a", "The first kind."),
        LabelDef::new("b", "The second kind."),
        LabelDef::new("c", "The third kind."),
    ];
    labels[2].threshold = Some(0.6);
    let mut cfg = Config::new("Which kinds apply to an item.", labels);
    cfg.multi_label = true;
    std::fs::write(dir.path().join("hifi.toml"), cfg.to_toml()).unwrap();
    Store::create(dir.path()).unwrap();
    let mut body = String::from("id,text\n");
    for i in 0..n {
        body.push_str(&format!("it{i},text {i}\n"));
    }
    let p = file(dir.path(), "items.csv", body.as_bytes());
    let (cfg, mut st) = hifi::project::open(dir.path()).unwrap();
    assert!(cfg.multi_label);
    hifi::io::import::import_items(
        &mut st,
        &p,
        &Default::default(),
        &mut hifi::progress::Silent,
        &hifi::progress::CancelToken::new(),
    )
    .unwrap();
    let keys = (0..n).map(|i| st.item_by_id(&format!("it{i}")).unwrap().unwrap().key).collect();
    (dir, cfg, st, keys)
}

fn label(st: &mut Store, item: i64, who: &str, set: &[&str]) {
    st.annotate(&Annotation {
        item,
        annotator: who.into(),
        kind: AnnotationKind::Label,
        label: Some(hifi::multilabel::encode(&names(set))),
        note: None,
        suggestion: Some(false),
    })
    .unwrap();
}

/// A model (an 'llm' record under the project's labels) with one probability per label.
fn model(st: &mut Store, cfg: &Config, probs: &[(i64, [f64; 3])]) -> i64 {
    let labels = cfg.label_names();
    let m = st.register_model(&llm_record("multi-test", None, &labels)).unwrap();
    let preds: Vec<Prediction> = probs
        .iter()
        .map(|(item, p)| Prediction { item: *item, probs: p.to_vec(), truncated: false })
        .collect();
    st.put_predictions(m, &labels, &preds).unwrap();
    m
}

/// Every resolved item goes to eval.
fn all_eval(st: &mut Store, keys: &[i64]) {
    let groups = SplitGroups {
        forced_eval: keys.iter().copied().collect::<HashSet<_>>(),
        ..Default::default()
    };
    st.assign_splits(0.5, &groups).unwrap();
}

/// Scores `model` and stores them as a finished round.
fn record_round(st: &mut Store, cfg: &Config, model: i64) -> RoundScores {
    let scores = rounds::score_model_for(st, cfg, model, 7).unwrap();
    let id = st.start_round("probe", None).unwrap();
    st.finish_round(id, model, &serde_json::to_value(&scores).unwrap()).unwrap();
    scores
}

fn report(dir: &Path, json: bool) -> String {
    let args: &[&str] = if json { &["report", "--json"] } else { &["report"] };
    let (ok, out, err) = hifi(dir, args);
    assert!(ok, "hifi report failed: {err}");
    out
}

#[test]
fn per_label_kappa_alpha_and_report_on_a_constructed_store() {
    // 20 items. ana labels all; ben labels it0..it9, agreeing except on it0 and it1, which
    // stay unresolved (no split). The 18 resolved items it2..it19 (j = 0..17) are eval:
    // gold a on j 0..7, b on j 8..11, c on j 12..17 (one label each).
    let (dir, cfg, mut st, keys) = multi_project(20);
    let gold = |j: usize| -> &'static [&'static str] {
        match j {
            0..=7 => &["a"],
            8..=11 => &["b"],
            _ => &["c"],
        }
    };
    label(&mut st, keys[0], "ana", &["a"]);
    label(&mut st, keys[0], "ben", &[]);
    label(&mut st, keys[1], "ana", &["b"]);
    label(&mut st, keys[1], "ben", &["b", "c"]);
    for j in 0..18 {
        label(&mut st, keys[j + 2], "ana", gold(j));
        if j + 2 < 10 {
            label(&mut st, keys[j + 2], "ben", gold(j));
        }
    }
    all_eval(&mut st, &keys);
    // The model: a applies on j 0..5 and 8; b on j 8..11; c (threshold 0.6) on j 0..2 (0.7)
    // and 15..17 (0.65), not on j 3..5 (0.55: above 0.5, below c's threshold).
    let probs: Vec<(i64, [f64; 3])> = (0..18)
        .map(|j| {
            let a = if j < 6 || j == 8 { 0.8 } else { 0.2 };
            let b = if (8..12).contains(&j) { 0.9 } else { 0.1 };
            let c = match j {
                0..=2 => 0.7,
                3..=5 => 0.55,
                15..=17 => 0.65,
                _ => 0.3,
            };
            (keys[j + 2], [a, b, c])
        })
        .collect();
    let m = model(&mut st, &cfg, &probs);
    let s = record_round(&mut st, &cfg, m);

    // Model vs experts per label, on the 18 items (κ = (n·diag − chance)/(n² − chance)):
    // a: both yes 6, gold only 2, model only 1, neither 9: diag 15, chance 8·7 + 10·11 = 166,
    //    κ = (270 − 166)/(324 − 166) = 52/79;
    // b: identical: κ = 1;
    // c: both yes 3 (j 15..17), gold only 3, model only 3 (j 0..2), neither 9: diag 12,
    //    chance 6·6 + 12·12 = 180, κ = (216 − 180)/(324 − 180) = 1/4.
    let per = s.per_label.as_ref().expect("per-label scores");
    let (ka, kb, kc) = (52.0 / 79.0, 1.0, 0.25);
    close(per["a"].model_vs_expert.kappa, ka, "κ a");
    close(per["b"].model_vs_expert.kappa, kb, "κ b");
    close(per["c"].model_vs_expert.kappa, kc, "κ c");
    assert_eq!((per["a"].model_vs_expert.n, per["c"].threshold), (18, 0.6));
    assert_eq!((per["a"].experts_apply, per["a"].model_applies), (8, 7));
    assert_eq!((per["c"].experts_apply, per["c"].model_applies), (6, 6));
    close(s.kappa, (ka + kb + kc) / 3.0, "mean κ");
    let [lo, hi] = s.model_vs_expert.kappa_ci.expect("an interval of the mean");
    assert!(lo <= s.kappa.unwrap() && s.kappa.unwrap() <= hi, "[{lo}, {hi}]");
    for l in ["a", "c"] {
        let [lo, hi] = per[l].model_vs_expert.kappa_ci.expect("an interval");
        let k = per[l].model_vs_expert.kappa.unwrap();
        assert!(lo <= k && k <= hi, "{l}: {k} [{lo}, {hi}]");
    }
    // Expert vs expert, the 10 items both labeled (two experts: Light's κ is Cohen's):
    // a: ana yes on 9 (it0, it2..9), ben on 8: diag 9, chance 9·8 + 1·2 = 74,
    //    κ = (90 − 74)/(100 − 74) = 8/13; b: both yes on it1 only: κ = 1;
    // c: only ben, on it1: chance 10·9 = 90 = n·diag: κ = 0.
    let (ea, eb, ec) = (8.0 / 13.0, 1.0, 0.0);
    close(per["a"].expert_vs_expert.kappa, ea, "experts a");
    close(per["b"].expert_vs_expert.kappa, eb, "experts b");
    close(per["c"].expert_vs_expert.kappa, ec, "experts c");
    assert_eq!(per["a"].expert_vs_expert.n, 10);
    close(s.expert_vs_expert.kappa, (ea + eb + ec) / 3.0, "mean experts");
    // α (MASI), experts: 8 units {a}|{a}, it0 {a}|{} (δ 1), it1 {b}|{b,c} (δ 2/3). n = 20,
    // counts {a} 17, {} 1, {b} 1, {b,c} 1. Within: 2 + 4/3 = 10/3. All ordered pairs:
    // 2·(17 + 17 + 17 + 1 + 1 + 2/3) = 322/3. α = 1 − 19·(10/3)/(322/3) = 66/161.
    let alpha = s.alpha_masi.as_ref().expect("α");
    close(alpha.expert_vs_expert.kappa, 66.0 / 161.0, "α experts");
    // α (MASI), model vs gold on the 18 items: within-unit Σ = 2·(3·2/3 + 2 + 2/3 + 3) = 46/3;
    // value counts over both coders {a} 11, {b} 7, {c} 9, {a,c} 3, {} 5, {a,b} 1, and the
    // ordered pairs' Σ δ = 2872/3; α = 1 − 35·(46/3)/(2872/3) = 631/1436.
    close(alpha.model_vs_expert.kappa, 631.0 / 1436.0, "α model");
    assert_eq!(alpha.model_vs_expert.n, 18);
    // Each annotator: the mean over labels. ana's sets are the gold on eval; ben's eval items
    // (j 0..7, all {a}) give a κ of 0 on a and c and none on b (no variation): mean 0.
    let ana = s.per_annotator.iter().find(|a| a.annotator == "ana").unwrap();
    close(ana.agreement.kappa, (ka + kb + kc) / 3.0, "ana");
    let ben = s.per_annotator.iter().find(|a| a.annotator == "ben").unwrap();
    close(ben.agreement.kappa, 0.0, "ben");
    assert_eq!(s.eval_size, 18);
    assert_eq!(s.eval_balance["a"], 8);

    // `hifi report --json`: the round's `kappa` is the mean, `per_label` beside it.
    let v: Value = serde_json::from_str(&report(dir.path(), true)).unwrap();
    let r = &v["rounds"][0]["scores"];
    assert!((r["kappa"].as_f64().unwrap() - (ka + kb + kc) / 3.0).abs() < 1e-9, "{r}");
    assert!((r["per_label"]["a"]["model_vs_expert"]["kappa"].as_f64().unwrap() - ka).abs() < 1e-9);
    assert!((r["per_label"]["c"]["expert_vs_expert"]["kappa"].as_f64().unwrap()).abs() < 1e-9);
    assert!(
        (r["alpha_masi"]["expert_vs_expert"]["kappa"].as_f64().unwrap() - 66.0 / 161.0).abs()
            < 1e-9
    );
    // 18 eval items with a prediction (< 40): the verdict says what is missing.
    assert_eq!(v["verdict"]["decision"], "not-enough-data", "{}", v["verdict"]);
    // Text: a row per label in label order, the mean and α.
    let out = report(dir.path(), false);
    // A label's row: its name, then its threshold, its two κs and its counts.
    let row = |l: &str| {
        out.lines()
            .find(|x| x.starts_with(&format!("    {l} ")) && x.contains(" · κ "))
            .unwrap_or_else(|| panic!("no row {l}: {out}"))
    };
    assert!(row("a").contains(&format!("κ {ka:.3}")) && row("a").contains("t 0.50"), "{out}");
    assert!(row("c").contains("κ 0.250") && row("c").contains("t 0.60"), "{out}");
    assert!(row("mean").contains(&format!("κ {:.3}", (ka + kb + kc) / 3.0)), "{out}");
    assert!(
        out.find("\n    a ").unwrap() < out.find("\n    b ").unwrap()
            && out.find("\n    b ").unwrap() < out.find("\n    c ").unwrap(),
        "{out}"
    );
    assert!(
        out.contains(&format!("item-level α (MASI): model vs experts {:.3}", 631.0 / 1436.0)),
        "{out}"
    );
}

#[test]
fn the_per_label_verdict_stops_only_when_every_label_is_there_and_names_the_rest() {
    // 120 items; ana labels all, ben the first 60. On a and b ben agrees with ana and the
    // model is right; on c ben disagrees on one item in six and the model guesses (c by
    // i % 3 where the experts say i % 2).
    let n = 120;
    let (dir, cfg, mut st, keys) = multi_project(n);
    let set = |i: usize, c: bool| {
        let mut s = Vec::new();
        if i % 4 < 2 {
            s.push("a");
        }
        if i % 5 < 2 {
            s.push("b");
        }
        if c {
            s.push("c");
        }
        s
    };
    for (i, &key) in keys.iter().enumerate() {
        label(&mut st, key, "ana", &set(i, i % 2 == 0));
        if i < 60 {
            let c = if i % 6 == 1 { i % 2 != 0 } else { i % 2 == 0 };
            label(&mut st, key, "ben", &set(i, c));
        }
    }
    all_eval(&mut st, &keys);
    let probs: Vec<(i64, [f64; 3])> = (0..n)
        .map(|i| {
            let f = |on: bool| if on { 0.9 } else { 0.1 };
            (keys[i], [f(i % 4 < 2), f(i % 5 < 2), f(i % 3 == 0)])
        })
        .collect();
    let m = model(&mut st, &cfg, &probs);
    record_round(&mut st, &cfg, m);
    let v = rounds::verdict(&st, &cfg).unwrap();
    assert_eq!(v.decision, "continue", "{}", v.message);
    assert_eq!(v.labels_not_there, names(&["c"]));
    for l in ["a", "b"] {
        let lv = &v.per_label[l];
        assert_eq!(
            (lv.decision, lv.rule),
            ("stop", Some("reached-experts")),
            "{l}: {}",
            lv.message
        );
        let e = lv.equivalence.as_ref().unwrap();
        assert_eq!((e.kappa_experts, e.kappa_model), (1.0, 1.0));
    }
    let c = &v.per_label["c"];
    let e = c.equivalence.as_ref().expect("c's equivalence test ran");
    assert!(e.d > 0.3 && !e.equivalent, "{e:?}");
    // 10 of ben's 60 items disagree on c: those are unresolved, still double-labeled eval.
    assert_eq!(e.n, 60);
    assert!(
        v.message.starts_with("continue: 1 of 3 labels is not there yet: c (κ gap ")
            && v.message.contains(&format!("{:.3}", e.d))
            && v.message.ends_with("(2 are)"),
        "{}",
        v.message
    );
    // The report says the same, in text and JSON.
    let out = report(dir.path(), false);
    assert!(out.contains("1 of 3 labels is not there yet: c (κ gap"), "{out}");
    assert!(out.contains("\n  a: stop: ") && out.contains("\n  c: continue: "), "{out}");
    let j: Value = serde_json::from_str(&report(dir.path(), true)).unwrap();
    assert_eq!(j["verdict"]["labels_not_there"], serde_json::json!(["c"]));
    assert_eq!(j["verdict"]["per_label"]["a"]["decision"], "stop");
    assert_eq!(j["verdict"]["per_label"]["c"]["decision"], "continue");

    // Once the model gets c right too, every label is there: the verdict stops.
    let probs: Vec<(i64, [f64; 3])> = (0..n)
        .map(|i| {
            let f = |on: bool| if on { 0.9 } else { 0.1 };
            (keys[i], [f(i % 4 < 2), f(i % 5 < 2), f(i % 2 == 0)])
        })
        .collect();
    let labels = cfg.label_names();
    let mut rec = llm_record("multi-test-2", None, &labels);
    rec.kind = "probe".into();
    let m2 = st.register_model(&rec).unwrap();
    let preds: Vec<Prediction> = probs
        .iter()
        .map(|(item, p)| Prediction { item: *item, probs: p.to_vec(), truncated: false })
        .collect();
    st.put_predictions(m2, &labels, &preds).unwrap();
    record_round(&mut st, &cfg, m2);
    let v = rounds::verdict(&st, &cfg).unwrap();
    assert!(v.labels_not_there.is_empty(), "{}", v.message);
    assert_eq!((v.decision, v.rule), ("stop", Some("reached-experts")), "{}", v.message);
    assert!(
        v.message.starts_with("stop: every label is there: a (reached-experts)"),
        "{}",
        v.message
    );
}
