//! Mining: boundary pairs on generated data with known boundaries, the other strategies, bad
//! input, re-mining through a store, the CLI glue, and the benchmark.

mod common;

use std::collections::HashSet;

use common::*;
use hifi::curate::synth::{generate, SynthSpec};
use hifi::curate::{mine, mine_pool, MineParams, Mined, PoolView, Strategy};
use hifi::error::Error;
use hifi::progress::{CancelToken, Silent};
use hifi::store;
use hifi::store::{Annotation, AnnotationKind, ModelRecord, Prediction};

fn spec(n: usize, boundary: usize, pure: usize, labels: usize, seed: u64) -> SynthSpec {
    SynthSpec { n, dim: 32, labels, boundary_regions: boundary, pure_regions: pure, seed }
}

fn run(pool: &PoolView, params: &MineParams) -> Mined {
    mine_pool(pool, params, None, &mut Silent, &CancelToken::new()).expect("mining succeeds")
}

fn dist(pool: &PoolView, a: usize, b: usize) -> f32 {
    pool.row(a).iter().zip(pool.row(b)).map(|(x, y)| (x - y) * (x - y)).sum::<f32>().sqrt()
}

/// Mean distance between all differently-labeled rows among the first 600.
fn mean_cross_distance(pool: &PoolView) -> f32 {
    let (mut s, mut n) = (0.0, 0);
    for a in 0..600.min(pool.len()) {
        for b in a + 1..600.min(pool.len()) {
            if pool.labels[a] != pool.labels[b] {
                s += dist(pool, a, b);
                n += 1;
            }
        }
    }
    s / n as f32
}

fn rows_of(m: &Mined) -> Vec<usize> {
    m.pairs.iter().flat_map(|p| [p.a, p.b]).chain(m.items.iter().map(|i| i.row)).collect()
}

fn assert_unique(m: &Mined) {
    let rows = rows_of(m);
    let set: HashSet<usize> = rows.iter().copied().collect();
    assert_eq!(set.len(), rows.len(), "an item repeats in the queue");
}

#[test]
fn pairs_straddle_true_boundaries_and_are_closer_than_typical() {
    let synth = generate(&spec(6000, 4, 4, 2, 1)).unwrap();
    let pool = synth.pool.view();
    let m =
        run(&pool, &MineParams { budget: 40, strategy: Strategy::Pairs, ..MineParams::default() });
    assert!(m.pairs.len() >= 20, "only {} pairs: {:?}", m.pairs.len(), m.warnings);
    let typical = mean_cross_distance(&pool);
    for p in &m.pairs {
        assert!(synth.straddles(p.a, p.b), "pair {p:?} does not straddle a boundary");
        assert_ne!(pool.labels[p.a], pool.labels[p.b]);
        let d = dist(&pool, p.a, p.b);
        assert!(d < typical, "pair distance {d} ≥ typical cross-label distance {typical}");
        assert!((d - p.distance).abs() < 1e-3);
    }
    assert_unique(&m);
}

#[test]
fn first_pairs_come_from_different_boundary_regions() {
    let synth = generate(&spec(8000, 5, 3, 2, 2)).unwrap();
    let m = run(
        &synth.pool.view(),
        &MineParams { budget: 20, strategy: Strategy::Pairs, ..MineParams::default() },
    );
    let first: HashSet<u32> = m.pairs.iter().take(5).map(|p| synth.region[p.a]).collect();
    assert_eq!(first.len(), 5, "the first 5 pairs cover regions {first:?}");
}

#[test]
fn labeled_items_seed_the_diversity_order() {
    // Experts already labeled boundary items in regions 0–3: the first pair comes from 4.
    let mut synth = generate(&spec(8000, 5, 3, 2, 2)).unwrap();
    for region in 0..4u32 {
        let mut rows: Vec<usize> =
            (0..synth.region.len()).filter(|r| synth.region[*r] == region).collect();
        rows.sort_by(|a, b| synth.side[*a].abs().total_cmp(&synth.side[*b].abs()));
        for r in rows.into_iter().take(20) {
            synth.pool.labeled[r] = true;
        }
    }
    let m = run(
        &synth.pool.view(),
        &MineParams { budget: 10, strategy: Strategy::Pairs, ..MineParams::default() },
    );
    assert_eq!(
        synth.region[m.pairs[0].a], 4,
        "first pair from region {}",
        synth.region[m.pairs[0].a]
    );
    assert!(rows_of(&m).iter().all(|r| !synth.pool.labeled[*r]));
}

#[test]
fn multi_class_pairs_join_every_label_pair() {
    // Three labels, one boundary region per label pair.
    let synth = generate(&spec(6000, 3, 3, 3, 3)).unwrap();
    let pool = synth.pool.view();
    let m =
        run(&pool, &MineParams { budget: 12, strategy: Strategy::Pairs, ..MineParams::default() });
    let kinds: HashSet<(u32, u32)> =
        m.pairs.iter().map(|p| (pool.labels[p.a], pool.labels[p.b])).collect();
    assert_eq!(kinds, HashSet::from([(0, 1), (0, 2), (1, 2)]));
    assert!(m.pairs.iter().all(|p| synth.straddles(p.a, p.b)));
}

#[test]
fn same_seed_gives_identical_results() {
    let a = generate(&spec(5000, 4, 2, 2, 7)).unwrap();
    let b = generate(&spec(5000, 4, 2, 2, 7)).unwrap();
    assert_eq!(a.pool.vectors, b.pool.vectors);
    let params =
        MineParams { budget: 30, seed: 7, strategy: Strategy::Pairs, ..MineParams::default() };
    let (x, y) = (run(&a.pool.view(), &params), run(&b.pool.view(), &params));
    assert_eq!(x.pairs, y.pairs);
    for s in [Strategy::Random, Strategy::ClusterMargin, Strategy::Adaptive] {
        let p = MineParams { strategy: s, ..params.clone() };
        assert_eq!(run(&a.pool.view(), &p).items, run(&a.pool.view(), &p).items);
    }
}

#[test]
fn budget_beyond_the_pool_and_tiny_labels_do_not_panic() {
    // 40 rows, of which only 3 are predicted label1.
    let mut synth = generate(&spec(40, 1, 1, 2, 4)).unwrap();
    let mut ones = 0;
    for l in synth.pool.labels.iter_mut() {
        if *l == 1 {
            ones += 1;
            if ones > 3 {
                *l = 0;
            }
        }
    }
    for s in [
        Strategy::Pairs,
        Strategy::Margin,
        Strategy::Entropy,
        Strategy::Random,
        Strategy::ClusterMargin,
        Strategy::Adaptive,
    ] {
        let m = run(
            &synth.pool.view(),
            &MineParams { budget: 1000, strategy: s, ..MineParams::default() },
        );
        assert!(m.warnings.iter().any(|w| w.contains("budget 1000")), "{s:?}: {:?}", m.warnings);
        if matches!(s, Strategy::Pairs | Strategy::ClusterMargin) {
            assert!(
                m.warnings.iter().any(|w| w.contains("too few items to cluster")),
                "{:?}",
                m.warnings
            );
        }
        assert_unique(&m);
    }
    // One row, one label; and nothing left unlabeled.
    let mut one = generate(&spec(1, 1, 0, 2, 5)).unwrap();
    let m = run(&one.pool.view(), &MineParams::default());
    assert!(m.pairs.is_empty());
    one.pool.labeled = vec![true];
    let m = run(&one.pool.view(), &MineParams::default());
    assert!(m.warnings.iter().any(|w| w.contains("already labeled")));
    // Bad parameters and inconsistent input are errors, not panics.
    assert!(matches!(
        mine_pool(
            &one.pool.view(),
            &MineParams { budget: 0, ..MineParams::default() },
            None,
            &mut Silent,
            &CancelToken::new()
        ),
        Err(Error::Input(_))
    ));
    one.pool.probs.pop();
    assert!(matches!(
        mine_pool(&one.pool.view(), &MineParams::default(), None, &mut Silent, &CancelToken::new()),
        Err(Error::Input(_))
    ));
}

#[test]
fn strategies_produce_valid_queues() {
    let mut synth = generate(&spec(3000, 3, 3, 2, 6)).unwrap();
    for r in 0..100 {
        synth.pool.labeled[r] = true;
    }
    let pool = synth.pool.view();
    let mut seen = Vec::new();
    for s in [
        Strategy::Margin,
        Strategy::Entropy,
        Strategy::Random,
        Strategy::ClusterMargin,
        Strategy::Adaptive,
    ] {
        let m = run(&pool, &MineParams { budget: 50, strategy: s, ..MineParams::default() });
        assert_eq!(m.items.len(), 50, "{s:?}");
        assert!(m.pairs.is_empty());
        assert!(m.items.iter().all(|i| !pool.labeled[i.row]), "{s:?} queued a labeled item");
        assert_unique(&m);
        let scores: Vec<f64> = m.items.iter().map(|i| i.score).collect();
        match s {
            Strategy::Margin => assert!(scores.windows(2).all(|w| w[0] <= w[1])),
            Strategy::Entropy => assert!(scores.windows(2).all(|w| w[0] >= w[1])),
            Strategy::ClusterMargin | Strategy::Adaptive => {
                assert!(m.items.iter().all(|i| i.cluster.is_some()));
                // Round-robin: the first clusters drawn are all different.
                let first: HashSet<_> = m.items.iter().take(5).map(|i| i.cluster).collect();
                assert_eq!(first.len(), 5);
            }
            _ => {}
        }
        seen.push(m.items.iter().map(|i| i.row).collect::<Vec<_>>());
    }
    assert_ne!(seen[0], seen[2], "random equals margin");
}

#[test]
fn near_duplicates_are_refused_and_counted() {
    let mut synth = generate(&spec(4000, 3, 1, 2, 8)).unwrap();
    // Copy the 200 rows nearest a boundary onto other rows of the same label: each then has
    // an exact twin.
    let dim = synth.pool.dim;
    let mut by_side: Vec<usize> =
        (0..synth.pool.keys.len()).filter(|r| synth.side[*r].is_finite()).collect();
    by_side.sort_by(|a, b| synth.side[*a].abs().total_cmp(&synth.side[*b].abs()));
    for (i, &src) in by_side.iter().take(200).enumerate() {
        let dst = by_side[by_side.len() - 1 - i];
        let v = synth.pool.vectors[src * dim..(src + 1) * dim].to_vec();
        synth.pool.vectors[dst * dim..(dst + 1) * dim].copy_from_slice(&v);
        synth.pool.labels[dst] = synth.pool.labels[src];
        let l = synth.pool.label_names.len();
        let p = synth.pool.probs[src * l..(src + 1) * l].to_vec();
        synth.pool.probs[dst * l..(dst + 1) * l].copy_from_slice(&p);
    }
    let pool = synth.pool.view();
    for s in [Strategy::Pairs, Strategy::Margin] {
        let params = MineParams { budget: 60, strategy: s, ..MineParams::default() };
        let m = run(&pool, &params);
        assert!(m.near_duplicates > 0, "{s:?}: no near-duplicates found");
        let rows = rows_of(&m);
        for (i, a) in rows.iter().enumerate() {
            for b in &rows[i + 1..] {
                assert!(
                    dist(&pool, *a, *b) >= params.dup_threshold,
                    "{s:?}: rows {a} and {b} are near-duplicates"
                );
            }
        }
    }
}

#[test]
fn remining_excludes_labeled_items_and_reuses_clusters() {
    let synth = generate(&spec(3000, 3, 3, 2, 9)).unwrap();
    let (_dir, cfg, mut st) = project_from_synth(&synth);
    let params = MineParams { budget: 20, strategy: Strategy::Pairs, ..MineParams::default() };
    let first = mine(&mut st, &cfg, &params, &mut Silent, &CancelToken::new()).unwrap();
    assert!(first.pairs >= 10, "{first:?}");
    assert!(first.labels.iter().all(|l| !l.cached));
    let queue = st.queue().unwrap();
    assert_eq!(queue.len(), first.entries);
    assert!(queue.iter().filter(|e| !e.audit).all(|e| e.item_b.is_some()
        && e.reason["clusters"].is_array()
        && e.reason["probs_a"].is_object()));
    assert!(queue.iter().any(|e| e.needed == 2), "no entry asks for two annotators");
    // Experts label the first five pairs.
    let mut labeled = HashSet::new();
    for e in queue.iter().filter(|e| !e.audit).take(5) {
        for item in [e.item_a, e.item_b.unwrap()] {
            st.annotate(&Annotation {
                item,
                annotator: "ana".into(),
                kind: AnnotationKind::Label,
                label: Some("benign".into()),
                note: None,
                suggestion: None,
            })
            .unwrap();
            labeled.insert(item);
        }
    }
    let second = mine(&mut st, &cfg, &params, &mut Silent, &CancelToken::new()).unwrap();
    assert_eq!(second.labeled_excluded, 10);
    assert!(
        second.labels.iter().all(|l| l.cached),
        "clusters were fitted again: {:?}",
        second.labels
    );
    let queue = st.queue().unwrap();
    for e in &queue {
        assert!(
            !labeled.contains(&e.item_a) && !e.item_b.is_some_and(|b| labeled.contains(&b)),
            "a labeled item was queued again"
        );
    }
    let run_ids: HashSet<i64> = queue.iter().map(|e| e.mine_run).collect();
    assert_eq!(run_ids, HashSet::from([second.mine_run.unwrap()]));
}

#[test]
fn every_refill_holds_a_random_audit_share_that_shows_no_model_scores() {
    let synth = generate(&spec(3000, 3, 3, 2, 21)).unwrap();
    let (_dir, mut cfg, mut st) = project_from_synth(&synth);
    let params = MineParams { budget: 45, strategy: Strategy::Pairs, ..MineParams::default() };
    let rep = mine(&mut st, &cfg, &params, &mut Silent, &CancelToken::new()).unwrap();
    let queue = st.queue().unwrap();
    let audit: Vec<usize> = (0..queue.len()).filter(|&i| queue[i].audit).collect();
    let mined = queue.len() - audit.len();
    // 10% of the final queue: round(0.1 × mined / 0.9).
    assert_eq!(audit.len(), ((0.1 * mined as f64 / 0.9).round() as usize).max(1), "{rep:?}");
    assert_eq!(rep.audit, audit.len());
    assert_eq!(rep.entries, queue.len());
    let in_mined: HashSet<i64> = queue
        .iter()
        .filter(|e| !e.audit)
        .flat_map(|e| [Some(e.item_a), e.item_b])
        .flatten()
        .collect();
    for &i in &audit {
        let e = &queue[i];
        assert!(e.item_b.is_none() && !in_mined.contains(&e.item_a), "{e:?}");
        assert_eq!(e.reason["strategy"], "audit");
        assert!(
            e.reason.get("probs").is_none() && e.reason.get("margin").is_none(),
            "an audit entry carries model scores: {}",
            e.reason
        );
    }
    // Spread through the queue, not bunched at one end.
    assert!(
        audit[0] < queue.len() / 2 && *audit.last().unwrap() >= queue.len() / 2,
        "{audit:?} of {}",
        queue.len()
    );
    // A uniform draw from what is unlabeled: label them, and the next refill draws others.
    let first: HashSet<i64> = audit.iter().map(|&i| queue[i].item_a).collect();
    for k in &first {
        st.annotate(&Annotation {
            item: *k,
            annotator: "ana".into(),
            kind: AnnotationKind::Label,
            label: Some("benign".into()),
            note: None,
            suggestion: Some(false),
        })
        .unwrap();
    }
    mine(&mut st, &cfg, &params, &mut Silent, &CancelToken::new()).unwrap();
    let again: HashSet<i64> =
        st.queue().unwrap().iter().filter(|e| e.audit).map(|e| e.item_a).collect();
    assert!(!again.is_empty() && again.is_disjoint(&first));
    // Labeled audit items are eval, in the audit stratum.
    hifi::curate::split::assign_splits(&mut st, &cfg).unwrap();
    let strata = st.split_strata().unwrap();
    assert!(first.iter().all(|k| strata[k] == (store::Split::Eval, true)), "{strata:?}");
    // audit_share = 0: none.
    cfg.mine.audit_share = 0.0;
    let none = mine(&mut st, &cfg, &params, &mut Silent, &CancelToken::new()).unwrap();
    assert_eq!(none.audit, 0);
    assert!(st.queue().unwrap().iter().all(|e| !e.audit));
}

#[test]
fn adaptive_explores_until_blind_held_out_labels_show_agreement() {
    // A synthetic project: its "LLM" is right (gold = its predictions).
    let synth = generate(&spec(1200, 3, 3, 2, 31)).unwrap();
    let (_dir, mut cfg, mut st) = project_from_synth(&synth);
    cfg.mine.audit_share = 0.0;
    let params = MineParams { budget: 30, strategy: Strategy::Adaptive, ..MineParams::default() };
    let rep = mine(&mut st, &cfg, &params, &mut Silent, &CancelToken::new()).unwrap();
    assert_eq!((rep.items, rep.pairs), (30, 0), "{rep:?}");
    assert_eq!(rep.held_out_kappa, None, "nothing labeled: no evidence");
    assert_eq!(rep.explore_share, Some(1.0), "no evidence: explore fully");
    let queue = st.queue().unwrap();
    assert!(
        queue
            .iter()
            .all(|e| e.reason["strategy"] == "adaptive" && e.reason.get("cluster").is_some()),
        "{:?}",
        queue[0].reason
    );
    assert!(
        queue.iter().all(|e| e.reason["explore"] == true
            && e.reason["why"].as_str().unwrap().contains("typical")),
        "{:?}",
        queue[0].reason
    );
    // Experts label the queue blind with the truth: the zero-shot LLM agrees (κ 1 on 30
    // held-out labels), so the next refill is mostly the model's boundary.
    let names = cfg.label_names();
    let keys: Vec<i64> = queue.iter().map(|e| e.item_a).collect();
    let rows: std::collections::HashMap<i64, usize> =
        (0..1200).map(|i| (st.item_by_id(&format!("it{i}")).unwrap().unwrap().key, i)).collect();
    let row_of = |key: i64| rows[&key];
    for &key in &keys {
        let label = names[synth.pool.labels[row_of(key)] as usize].clone();
        st.annotate(&Annotation {
            item: key,
            annotator: "ana".into(),
            kind: AnnotationKind::Label,
            label: Some(label),
            note: None,
            suggestion: Some(false),
        })
        .unwrap();
    }
    let rep = mine(&mut st, &cfg, &params, &mut Silent, &CancelToken::new()).unwrap();
    let (kappa, n) = rep.held_out_kappa.expect("30 blind labels of the base LLM");
    assert_eq!(n, 30);
    assert!(kappa > 0.9, "{kappa}");
    assert_eq!(rep.explore_share, Some(hifi::curate::MIN_EXPLORE_SHARE));
    let explored = st.queue().unwrap().iter().filter(|e| e.reason["explore"] == true).count();
    assert_eq!(explored, 6, "round(0.2 × 30) explore, the rest are the model's lowest margins");
    // Labels given with the suggestion in view do not count as evidence.
    for &key in &keys {
        let label = names[synth.pool.labels[row_of(key)] as usize].clone();
        st.annotate(&Annotation {
            item: key,
            annotator: "bo".into(),
            kind: AnnotationKind::Label,
            label: Some(label),
            note: None,
            suggestion: Some(true),
        })
        .unwrap();
    }
    let rep = mine(&mut st, &cfg, &params, &mut Silent, &CancelToken::new()).unwrap();
    assert_eq!((rep.held_out_kappa, rep.explore_share), (None, Some(1.0)), "{rep:?}");
}

#[test]
fn missing_predictions_or_embeddings_give_clear_errors() {
    let (dir, cfg, mut st) = project();
    let p = file(dir.path(), "items.csv", b"id,text\na,one\nb,two\n");
    hifi::io::import::import_items(
        &mut st,
        &p,
        &Default::default(),
        &mut Silent,
        &CancelToken::new(),
    )
    .unwrap();
    let err =
        mine(&mut st, &cfg, &MineParams::default(), &mut Silent, &CancelToken::new()).unwrap_err();
    assert!(err.to_string().contains("hifi prelabel"), "{err}");
    let labels = cfg.label_names();
    let rec = ModelRecord {
        id: 0,
        fingerprint: "f".into(),
        kind: "test".into(),
        model_path: None,
        model_sha256: None,
        adapter_path: None,
        adapter_sha256: None,
        prompt_sha256: None,
        labels: labels.clone(),
        few_shot: None,
    };
    let model = st.register_model(&rec).unwrap();
    let keys: Vec<i64> =
        ["a", "b"].iter().map(|id| st.item_by_id(id).unwrap().unwrap().key).collect();
    let preds: Vec<Prediction> = keys
        .iter()
        .zip([0.6, 0.2])
        .map(|(k, p)| Prediction { item: *k, probs: vec![p, 1.0 - p], truncated: false })
        .collect();
    st.put_predictions(model, &labels, &preds).unwrap();
    let err =
        mine(&mut st, &cfg, &MineParams::default(), &mut Silent, &CancelToken::new()).unwrap_err();
    assert!(matches!(err, Error::Input(_)) && err.to_string().contains("hifi embed"), "{err}");
    // Margin needs no vectors: the best possible queue, with the budget warning.
    let rep = mine(
        &mut st,
        &cfg,
        &MineParams { strategy: Strategy::Margin, ..MineParams::default() },
        &mut Silent,
        &CancelToken::new(),
    )
    .unwrap();
    assert_eq!(rep.items, 2);
    assert_eq!(st.queue().unwrap()[0].item_a, keys[0], "the smaller margin comes first");
}

#[test]
fn cancelled_mining_leaves_the_queue_alone() {
    let synth = generate(&spec(1500, 2, 2, 2, 11)).unwrap();
    let (_dir, cfg, mut st) = project_from_synth(&synth);
    let done = mine(
        &mut st,
        &cfg,
        &MineParams { budget: 5, ..MineParams::default() },
        &mut Silent,
        &CancelToken::new(),
    )
    .unwrap();
    let before = st.queue().unwrap();
    assert_eq!(before.len(), done.entries);
    let cancel = CancelToken::new();
    cancel.cancel();
    for s in [Strategy::Pairs, Strategy::Margin] {
        let rep = mine(
            &mut st,
            &cfg,
            &MineParams { budget: 5, strategy: s, ..MineParams::default() },
            &mut Silent,
            &cancel,
        )
        .unwrap();
        assert!(rep.cancelled && rep.mine_run.is_none() && rep.entries == 0, "{rep:?}");
    }
    assert_eq!(st.queue().unwrap(), before);
}

/// `hifi mine` through the binary: its flags reach the stage, `--json` prints the report.
#[test]
fn cli_mines_a_project() {
    let synth = generate(&spec(1500, 2, 2, 2, 10)).unwrap();
    let (dir, _cfg, _st) = project_from_synth(&synth);
    let (ok, out, err) = hifi(
        dir.path(),
        &[
            "mine",
            "--budget",
            "8",
            "--strategy",
            "pairs",
            "--seed",
            "0",
            "--overlap-share",
            "0.25",
            "--overlap-percentile",
            "90",
            "--dup-threshold",
            "0.05",
            "--json",
        ],
    );
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(v.is_object(), "{out}");
    let st = store::Store::open(dir.path()).unwrap();
    let q = st.queue().unwrap();
    // 8 mined entries and, at the default audit share of 0.1, one random audit item.
    assert_eq!(q.len(), 9);
    assert_eq!(q.iter().filter(|e| e.audit).count(), 1);
    assert_eq!(q.iter().filter(|e| e.needed == 2 && !e.audit).count(), 2);
    // The human summary, with another strategy.
    let (ok, out, err) =
        hifi(dir.path(), &["mine", "--budget", "8", "--strategy", "cluster-margin"]);
    assert!(ok && !out.trim().is_empty(), "{err}");
    assert!(st
        .queue()
        .unwrap()
        .iter()
        .all(|e| e.item_b.is_none() && (e.audit || e.reason["cluster"].is_object())));
}

#[test]
fn bench_reports_the_documented_keys() {
    let r = hifi::curate::bench(20_000, 48, 0).unwrap();
    let v = serde_json::to_value(&r).unwrap();
    for k in ["n", "dim", "seconds_total", "seconds", "peak_rss_bytes", "pairs"] {
        assert!(v.get(k).is_some(), "missing {k}");
    }
    for k in ["cluster", "index", "pair_search", "ordering"] {
        assert!(v["seconds"].get(k).is_some(), "missing seconds.{k}");
    }
    assert!(r.pairs > 100, "{r:?}");
    assert_eq!(r.pairs_on_true_boundary, r.pairs, "{r:?}");
    assert_eq!(r.regions_in_first_8, 8, "{r:?}");
}

/// The full-size measurement: `cargo test --test mine -- --ignored --nocapture bench_full`.
/// HIFI_BENCH_N / _DIM / _BOUNDARY / _PURE / _BUDGET override the generated pool.
#[test]
#[ignore]
fn bench_full() {
    let var = |k: &str, d: usize| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let mut spec = SynthSpec::new(var("HIFI_BENCH_N", 1_000_000), var("HIFI_BENCH_DIM", 384), 0);
    spec.boundary_regions = var("HIFI_BENCH_BOUNDARY", spec.boundary_regions);
    spec.pure_regions = var("HIFI_BENCH_PURE", spec.pure_regions);
    let r = hifi::curate::bench_with(&spec, var("HIFI_BENCH_BUDGET", hifi::curate::BENCH_BUDGET))
        .unwrap();
    println!("{}", serde_json::to_string_pretty(&r).unwrap());
}
