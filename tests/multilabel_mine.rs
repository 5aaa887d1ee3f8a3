//! Mining a multi-label project: every strategy works per label (issue 37).
//!
//! Logic on a deterministic stand-in pool (generated vectors, each label's probability a
//! function of one direction of them), mining through a store, and `hifi mine` on a small
//! multi-label project prelabeled and embedded by the real model.

mod common;

use std::collections::HashSet;

use common::*;
use hifi::config::LabelDef;
use hifi::curate::{least_certain, mine, mine_pool, MineParams, Mined, Pool, PoolView, Strategy};
use hifi::multilabel;
use hifi::progress::{CancelToken, Silent};
use hifi::store::{Annotation, AnnotationKind, Prediction, Store};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const NAMES: [&str; 3] = ["discount", "urgency", "contact"];
/// Label 1 decides at 0.6, so a threshold other than ½ is exercised.
const THRESHOLDS: [f64; 3] = [0.5, 0.6, 0.5];
const ALL: [Strategy; 6] = [
    Strategy::Pairs,
    Strategy::Margin,
    Strategy::Entropy,
    Strategy::Random,
    Strategy::ClusterMargin,
    Strategy::Adaptive,
];

fn names() -> Vec<String> {
    NAMES.iter().map(|s| s.to_string()).collect()
}

/// `n` unit vectors (dim 16, uniform in the cube, then normalised) and three labels: label
/// `l` applies with probability σ(24 · x_l), independently of the others. The top label is
/// the most probable one.
fn stand_in(n: usize, seed: u64) -> Pool {
    let dim = 16;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut pool = Pool {
        dim,
        label_names: names(),
        thresholds: Some(THRESHOLDS.to_vec()),
        ..Pool::default()
    };
    for i in 0..n {
        let mut v: Vec<f32> = (0..dim).map(|_| rng.gen::<f32>() * 2.0 - 1.0).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        let p: Vec<f32> = (0..3).map(|l| 1.0 / (1.0 + (-24.0 * v[l]).exp())).collect();
        let top = (0..3).max_by(|a, b| p[*a].total_cmp(&p[*b])).unwrap();
        pool.vectors.extend(v);
        pool.probs.extend(&p);
        pool.labels.push(top as u32);
        pool.keys.push(i as i64);
        pool.labeled.push(false);
    }
    pool
}

fn run(pool: &PoolView, params: &MineParams) -> Mined {
    mine_pool(pool, params, None, &mut Silent, &CancelToken::new()).expect("mining succeeds")
}

fn params(strategy: Strategy, budget: usize) -> MineParams {
    MineParams { budget, strategy, ..MineParams::default() }
}

fn rows_of(m: &Mined) -> Vec<usize> {
    m.pairs.iter().flat_map(|p| [p.a, p.b]).chain(m.items.iter().map(|i| i.row)).collect()
}

fn probs64(pool: &PoolView, r: usize) -> Vec<f64> {
    pool.probs_of(r).iter().map(|x| f64::from(*x)).collect()
}

fn dist(pool: &PoolView, a: usize, b: usize) -> f32 {
    pool.row(a).iter().zip(pool.row(b)).map(|(x, y)| (x - y) * (x - y)).sum::<f32>().sqrt()
}

/// A pool without vectors from probability rows (margin, entropy and random need none).
fn pool_of_probs(rows: &[[f32; 3]]) -> Pool {
    Pool {
        label_names: names(),
        thresholds: Some(THRESHOLDS.to_vec()),
        keys: (0..rows.len() as i64).collect(),
        labels: vec![0; rows.len()],
        probs: rows.iter().flatten().copied().collect(),
        labeled: vec![false; rows.len()],
        ..Pool::default()
    }
}

#[test]
fn margin_is_the_least_certain_labels_distance_from_its_threshold() {
    // Row 0 is sure of all three labels (0.9 each: p1 − p2 = 0, the most uncertain row of a
    // single-label reading); row 1 is unsure of label 0 (0.55: margin 0.1); row 2 is unsure
    // of label 1 (0.65 against threshold 0.6: margin 0.05 / 0.6); row 3 is sure nothing
    // applies.
    let rows = [[0.9, 0.9, 0.9], [0.55, 0.0, 0.0], [0.1, 0.65, 0.9], [0.0, 0.0, 0.0]];
    let pool = pool_of_probs(&rows);
    let view = pool.view();
    let m = run(&view, &params(Strategy::Margin, 4));
    let got: Vec<usize> = m.items.iter().map(|i| i.row).collect();
    assert_eq!(got, vec![2, 1, 0, 3]);
    for it in &m.items {
        let want = multilabel::margin(&probs64(&view, it.row), &THRESHOLDS);
        assert!((it.score - want).abs() < 1e-6, "row {}: {} vs {want}", it.row, it.score);
    }
    assert!((m.items[0].score - 0.05 / 0.6).abs() < 1e-6);
    // The same probabilities read as one distribution rank row 0 first: the branch matters.
    let single = Pool { thresholds: None, ..pool.clone() };
    let m = run(&single.view(), &params(Strategy::Margin, 4));
    assert_eq!(m.items[0].row, 0);
    // Entropy: the sum of the labels' binary entropies, highest first.
    let m = run(&view, &params(Strategy::Entropy, 4));
    let got: Vec<usize> = m.items.iter().map(|i| i.row).collect();
    assert_eq!(got, vec![2, 0, 1, 3]);
    let h = |p: f64| -(p * p.ln() + (1.0 - p) * (1.0 - p).ln());
    assert!((m.items[0].score - (h(0.1) + h(0.65) + h(0.9))).abs() < 1e-5);
    assert_eq!(m.items[3].score, 0.0);
}

#[test]
fn bad_thresholds_are_refused_with_the_label_named() {
    let mut pool = pool_of_probs(&[[0.5, 0.5, 0.5]]);
    pool.thresholds = Some(vec![0.5, 1.0, 0.5]);
    let err = mine_pool(
        &pool.view(),
        &params(Strategy::Margin, 1),
        None,
        &mut Silent,
        &CancelToken::new(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("label urgency's threshold 1"), "{err}");
    pool.thresholds = Some(vec![0.5]);
    let err = mine_pool(
        &pool.view(),
        &params(Strategy::Margin, 1),
        None,
        &mut Silent,
        &CancelToken::new(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("1 thresholds for 3 labels"), "{err}");
}

#[test]
fn pairs_straddle_one_labels_threshold_and_are_near() {
    let pool = stand_in(3000, 1);
    let view = pool.view();
    let m = run(&view, &params(Strategy::Pairs, 30));
    assert_eq!(m.pairs.len(), 30, "{:?}", m.warnings);
    assert!(m.items.is_empty());
    let mut about = HashSet::new();
    for p in &m.pairs {
        let l = p.label.expect("a multi-label pair names its label") as usize;
        about.insert(l);
        let (pa, pb) = (view.probs_of(p.a)[l], view.probs_of(p.b)[l]);
        assert!(
            f64::from(pa) < THRESHOLDS[l] && f64::from(pb) >= THRESHOLDS[l],
            "pair {p:?} does not straddle label {l}'s threshold: {pa} / {pb}"
        );
        assert_eq!((p.cluster_a.0 as usize, p.cluster_b.0 as usize), (l, l));
        assert!((dist(&view, p.a, p.b) - p.distance).abs() < 1e-3);
        // Nearer than the median distance between the label's two sides (first 400 rows).
        let side = |r: usize| f64::from(view.probs_of(r)[l]) >= THRESHOLDS[l];
        let mut cross: Vec<f32> = Vec::new();
        for a in 0..400 {
            for b in a + 1..400 {
                if side(a) != side(b) {
                    cross.push(dist(&view, a, b));
                }
            }
        }
        cross.sort_by(f32::total_cmp);
        let median = cross[cross.len() / 2];
        assert!(p.distance < median, "pair distance {} ≥ median {median}", p.distance);
    }
    assert_eq!(about.len(), 3, "every label's boundary is mined: {about:?}");
    let rows = rows_of(&m);
    assert_eq!(rows.iter().copied().collect::<HashSet<_>>().len(), rows.len());
    // Each label's two sides are clustered separately.
    assert_eq!(m.labels.len(), 6, "{:?}", m.labels);
    assert!(m.labels.iter().any(|l| l.label == "urgency (applies)"), "{:?}", m.labels);
}

#[test]
fn every_strategy_fills_the_budget_without_duplicates_and_seeds_reproduce() {
    let mut pool = stand_in(1500, 2);
    // Experts already labeled every tenth row: none of them is queued.
    for r in (0..pool.labeled.len()).step_by(10) {
        pool.labeled[r] = true;
    }
    let view = pool.view();
    for s in ALL {
        let p = MineParams { seed: 5, ..params(s, 40) };
        let m = run(&view, &p);
        let entries = m.pairs.len() + m.items.len();
        assert_eq!(entries, 40, "{}: {entries} entries, {:?}", s.as_str(), m.warnings);
        let rows = rows_of(&m);
        let set: HashSet<usize> = rows.iter().copied().collect();
        assert_eq!(set.len(), rows.len(), "{}: an item repeats", s.as_str());
        assert!(rows.iter().all(|r| !view.labeled[*r]), "{}: a labeled item", s.as_str());
        let again = run(&view, &p);
        assert_eq!((m.pairs, m.items), (again.pairs, again.items), "{}", s.as_str());
    }
    let draw = |seed| {
        run(&view, &MineParams { seed, ..params(Strategy::Random, 40) })
            .items
            .iter()
            .map(|i| i.row)
            .collect::<Vec<_>>()
    };
    assert_ne!(draw(1), draw(2), "another seed draws other items");
}

#[test]
fn cluster_margin_groups_by_least_certain_label_and_draws_across_labels() {
    let pool = stand_in(2000, 3);
    let view = pool.view();
    let m = run(&view, &params(Strategy::ClusterMargin, 30));
    assert_eq!(m.items.len(), 30);
    let mut margins: Vec<f64> =
        (0..view.len()).map(|r| multilabel::margin(&probs64(&view, r), &THRESHOLDS)).collect();
    margins.sort_by(f64::total_cmp);
    // Drawn from the 10 × budget lowest item margins.
    let bound = margins[30 * hifi::curate::CLUSTER_MARGIN_POOL - 1];
    let mut labels = HashSet::new();
    for it in &m.items {
        let (l, lm) = least_certain(view.probs_of(it.row), &THRESHOLDS);
        let (cl, _) = it.cluster.expect("cluster-margin items carry their cluster");
        assert_eq!(cl as usize, l, "row {} grouped under label {cl}, least certain {l}", it.row);
        assert!((it.score - lm).abs() < 1e-9 && it.score <= bound + 1e-9, "{it:?}");
        labels.insert(l);
    }
    assert_eq!(labels.len(), 3, "the round-robin reaches every label: {labels:?}");
}

#[test]
fn adaptive_explores_as_before_and_exploits_the_least_certain_labels() {
    let pool = stand_in(1500, 4);
    let view = pool.view();
    // A model that agrees with experts: the floor of exploration, 0.2.
    let p = MineParams { held_out_kappa: Some(0.9), ..params(Strategy::Adaptive, 40) };
    let m = run(&view, &p);
    assert_eq!(m.items.len(), 40);
    assert_eq!(m.items.iter().filter(|i| i.explored).count(), 8, "round(0.2 × 40) explore");
    let mut margins: Vec<f64> =
        (0..view.len()).map(|r| multilabel::margin(&probs64(&view, r), &THRESHOLDS)).collect();
    margins.sort_by(f64::total_cmp);
    for it in m.items.iter().filter(|i| !i.explored) {
        let (l, lm) = least_certain(view.probs_of(it.row), &THRESHOLDS);
        assert_eq!(it.cluster.map(|c| c.0 as usize), Some(l), "{it:?}");
        assert!((it.score - lm).abs() < 1e-9);
        // One per exploration cluster among the 3 × 32 lowest (plus what exploration took).
        assert!(it.score <= margins[3 * 32 + 8], "{it:?} is no low-margin item");
    }
    // No evidence: all exploration, with the same picks as a single-label reading (the
    // exploration never looks at the labels).
    let m = run(&view, &params(Strategy::Adaptive, 40));
    assert!(m.items.iter().all(|i| i.explored));
    let single = Pool { thresholds: None, ..pool.clone() };
    let s = run(&single.view(), &params(Strategy::Adaptive, 40));
    let rows = |m: &Mined| m.items.iter().map(|i| i.row).collect::<Vec<_>>();
    assert_eq!(rows(&m), rows(&s));
}

/// A multi-label project whose items, predictions and embeddings are the stand-in pool's.
fn project_from_stand_in(pool: &Pool) -> (tempfile::TempDir, hifi::config::Config, Store) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.task = "Which selling tactics does an ad use?".into();
    cfg.multi_label = true;
    cfg.labels = NAMES
        .iter()
        .zip(THRESHOLDS)
        .map(|(n, t)| {
            let mut d = LabelDef::new(n.to_string(), format!("The ad uses {n}."));
            d.threshold = (t != 0.5).then_some(t);
            d
        })
        .collect();
    std::fs::write(dir.path().join("hifi.toml"), cfg.to_toml()).unwrap();
    let mut st = Store::create(dir.path()).unwrap();
    let n = pool.keys.len();
    let mut body = String::from("id,text\n");
    for i in 0..n {
        body.push_str(&format!("it{i},text {i}\n"));
    }
    let f = file(dir.path(), "items.csv", body.as_bytes());
    hifi::io::import::import_items(
        &mut st,
        &f,
        &Default::default(),
        &mut Silent,
        &CancelToken::new(),
    )
    .unwrap();
    let keys: Vec<i64> =
        (0..n).map(|i| st.item_by_id(&format!("it{i}")).unwrap().unwrap().key).collect();
    let labels = cfg.label_names();
    let model = st.register_model(&llm_record("stand-in", None, &labels)).unwrap();
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
        "stand-in.gguf",
        "sha-stand-in",
        pool.dim,
        &keys,
        &pool.vectors,
    )
    .unwrap();
    (dir, cfg, st)
}

#[test]
fn a_store_mines_per_label_and_adaptive_follows_the_mean_label_kappa() {
    let pool = stand_in(1200, 5);
    let (_dir, mut cfg, mut st) = project_from_stand_in(&pool);
    let rep = mine(&mut st, &cfg, &params(Strategy::Pairs, 20), &mut Silent, &CancelToken::new())
        .unwrap();
    assert_eq!(rep.pairs, 20, "{rep:?}");
    let queue = st.queue().unwrap();
    let audit = queue.iter().filter(|e| e.audit).count();
    // 10% of the final queue: round(0.1 × 20 / 0.9).
    let want = (0.1_f64 * 20.0 / 0.9).round() as usize;
    assert_eq!(audit, want, "the audit share is unchanged");
    assert_eq!(rep.audit, audit);
    let names = names();
    for e in queue.iter().filter(|e| !e.audit) {
        let label = e.reason["label"].as_str().expect("a pair names its label");
        let l = names.iter().position(|n| n == label).unwrap();
        let (pa, pb) = (
            e.reason["probs_a"][label].as_f64().unwrap(),
            e.reason["probs_b"][label].as_f64().unwrap(),
        );
        // Four decimals in the reason: compare with the threshold at that precision.
        assert!(pa < THRESHOLDS[l] + 1e-4 && pb >= THRESHOLDS[l] - 1e-4, "{}", e.reason);
        assert_eq!(e.reason["clusters"][0]["applies"], false);
        assert_eq!(e.reason["clusters"][1]["applies"], true);
    }
    // Adaptive with no blind labels yet: explore fully.
    cfg.mine.audit_share = 0.0;
    let p = params(Strategy::Adaptive, 30);
    let rep = mine(&mut st, &cfg, &p, &mut Silent, &CancelToken::new()).unwrap();
    assert_eq!((rep.items, rep.held_out_kappa, rep.explore_share), (30, None, Some(1.0)));
    let queue = st.queue().unwrap();
    assert!(queue.iter().all(|e| e.reason["least_certain"].is_string()), "{}", queue[0].reason);
    // An expert labels them blind with the model's own sets: every label's κ is 1, so the
    // next refill is mostly the boundary.
    let rows: Vec<(i64, usize)> = queue
        .iter()
        .map(|e| {
            let id = st.item(e.item_a).unwrap().unwrap().id;
            (e.item_a, id.trim_start_matches("it").parse::<usize>().unwrap())
        })
        .collect();
    for &(key, r) in &rows {
        let probs: Vec<f64> = pool.probs[r * 3..r * 3 + 3].iter().map(|x| f64::from(*x)).collect();
        let set = multilabel::predicted_set(&probs, &THRESHOLDS, &names);
        st.annotate(&Annotation {
            item: key,
            annotator: "ana".into(),
            kind: AnnotationKind::Label,
            label: Some(set),
            note: None,
            suggestion: Some(false),
        })
        .unwrap();
    }
    let rep = mine(&mut st, &cfg, &p, &mut Silent, &CancelToken::new()).unwrap();
    let (kappa, n) = rep.held_out_kappa.expect("30 blind label sets");
    assert_eq!(n, 30);
    assert!((kappa - 1.0).abs() < 1e-9, "{kappa}");
    assert_eq!(rep.explore_share, Some(hifi::curate::MIN_EXPLORE_SHARE));
    let explored = st.queue().unwrap().iter().filter(|e| e.reason["explore"] == true).count();
    assert_eq!(explored, 6);
}

/// `hifi mine` on a small multi-label project prelabeled and embedded by the real model.
#[test]
fn cli_mines_a_multi_label_project_prelabeled_by_the_real_model() {
    require_model();
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("proj");
    let ps = p.to_str().unwrap();
    let (ok, _, err) = hifi(
        tmp.path(),
        &[
            "init",
            ps,
            "--labels",
            &NAMES.join(","),
            "--multi-label",
            "--task",
            "Which selling tactics does an ad use?",
        ],
    );
    assert!(ok, "{err}");
    let mut body = String::new();
    for line in
        std::fs::read_to_string(repo().join("sample-data/ads.jsonl")).unwrap().lines().take(48)
    {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        body.push_str(&serde_json::json!({"id": v["id"], "text": v["text"]}).to_string());
        body.push('\n');
    }
    let f = file(&p, "ads.jsonl", body.as_bytes());
    for args in [vec!["import", f.to_str().unwrap()], vec!["prelabel"], vec!["embed"]] {
        let (ok, _, err) = hifi(&p, &args);
        assert!(ok, "hifi {args:?}: {err}");
    }
    let st = Store::open(&p).unwrap();
    let model = st.latest_model().unwrap().expect("prelabel registered a model");
    assert_eq!(model.labels, names());
    let preds = st.predictions(model.id).unwrap();
    assert_eq!(preds.len(), 48);
    // Independent per-label probabilities (not one distribution over the labels).
    let thresholds = [0.5; 3];
    let two_sided: Vec<usize> = (0..3)
        .filter(|&l| {
            let yes = preds.iter().filter(|p| p.probs[l] >= thresholds[l]).count();
            yes > 0 && yes < preds.len()
        })
        .collect();
    for strategy in ["adaptive", "margin", "entropy", "cluster-margin", "pairs"] {
        let (ok, out, err) =
            hifi(&p, &["mine", "--budget", "6", "--strategy", strategy, "--seed", "3", "--json"]);
        assert!(ok, "mine {strategy}: {err}");
        let v: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        let q = st.queue().unwrap();
        let mined: Vec<_> = q.iter().filter(|e| !e.audit).collect();
        let items: Vec<i64> = q.iter().flat_map(|e| [Some(e.item_a), e.item_b]).flatten().collect();
        assert_eq!(
            items.iter().collect::<HashSet<_>>().len(),
            items.len(),
            "{strategy}: an item repeats"
        );
        assert_eq!(v["entries"].as_u64().unwrap() as usize, q.len(), "{strategy}: {out}");
        assert!(q.iter().any(|e| e.audit), "{strategy}: no audit item");
        if strategy == "pairs" {
            // A label the model puts on both sides of its threshold has a boundary to mine.
            assert_eq!(mined.is_empty(), two_sided.is_empty(), "{out}");
            for e in &mined {
                let label = e.reason["label"].as_str().expect("pairs name their label");
                let l = NAMES.iter().position(|n| *n == label).unwrap();
                assert!(two_sided.contains(&l), "{label}");
                let by_key = |k: i64| preds.iter().find(|p| p.item == k).unwrap().probs[l];
                assert!(
                    by_key(e.item_a) < thresholds[l] && by_key(e.item_b.unwrap()) >= thresholds[l],
                    "{}",
                    e.reason
                );
            }
        } else {
            assert_eq!(mined.len(), 6, "{strategy}: {out}");
            for e in &mined {
                let probs = &preds.iter().find(|p| p.item == e.item_a).unwrap().probs;
                let least = NAMES[least_certain(
                    &probs.iter().map(|x| *x as f32).collect::<Vec<_>>(),
                    &thresholds,
                )
                .0];
                assert_eq!(e.reason["least_certain"], least, "{strategy}: {}", e.reason);
                let m = multilabel::margin(probs, &thresholds);
                assert!((e.reason["margin"].as_f64().unwrap() - m).abs() < 1e-3, "{}", e.reason);
            }
        }
    }
}
