//! Splits experts can trust: a mined pair's items and near-duplicates share a split, items two
//! experts labeled and the audit stratum are eval, and leaks left by older splits are reported
//! and kept out of training and export.

mod common;

use std::collections::HashMap;

use common::*;
use hifi::curate::split::{assign_splits, leakage};
use hifi::curate::synth::{generate, SynthSpec};
use hifi::curate::{mine, MineParams};
use hifi::io::export::{export, ExportFormat, SplitChoice, WriteOptions};
use hifi::progress::{CancelToken, Silent};
use hifi::store::{Annotation, AnnotationKind, Split, Store};
use rand::{Rng, SeedableRng};

fn label(st: &mut Store, item: i64, who: &str, label: &str) {
    st.annotate(&Annotation {
        item,
        annotator: who.into(),
        kind: AnnotationKind::Label,
        label: Some(label.into()),
        note: None,
        suggestion: Some(false),
    })
    .unwrap();
}

#[test]
fn mined_pairs_share_a_split_two_expert_items_and_audit_items_are_eval() {
    let synth = generate(&SynthSpec {
        n: 2000,
        dim: 32,
        labels: 2,
        boundary_regions: 3,
        pure_regions: 2,
        seed: 11,
    })
    .unwrap();
    let (_dir, cfg, mut st) = project_from_synth(&synth);
    let rep = mine(
        &mut st,
        &cfg,
        &MineParams {
            budget: 60,
            strategy: hifi::curate::Strategy::Pairs,
            ..MineParams::default()
        },
        &mut Silent,
        &CancelToken::new(),
    )
    .unwrap();
    assert!(rep.pairs >= 30 && rep.audit >= 3, "{rep:?}");
    let names = cfg.label_names();
    let gold: HashMap<i64, usize> = (0..synth.pool.keys.len())
        .map(|i| {
            (st.item_by_id(&format!("it{i}")).unwrap().unwrap().key, synth.pool.labels[i] as usize)
        })
        .collect();
    let queue = st.queue().unwrap();
    // One expert labels everything (each item of a pair by its gold label, so the pair often
    // straddles labels) and the splits are made; then a second expert labels every entry
    // that asks for two — those items must already be eval.
    for e in &queue {
        for item in [Some(e.item_a), e.item_b].into_iter().flatten() {
            label(&mut st, item, "ana", &names[gold[&item]]);
        }
    }
    let assigned = assign_splits(&mut st, &cfg).unwrap();
    assert_eq!(assigned, queue.iter().map(|e| 1 + usize::from(e.item_b.is_some())).sum::<usize>());
    for e in queue.iter().filter(|e| e.needed >= 2) {
        for item in [Some(e.item_a), e.item_b].into_iter().flatten() {
            label(&mut st, item, "ben", &names[gold[&item]]);
        }
    }
    assert_eq!(assign_splits(&mut st, &cfg).unwrap(), 0);
    let strata = st.split_strata().unwrap();
    let (mut eval, mut pairs_checked) = (0, 0);
    for e in &queue {
        let a = strata[&e.item_a];
        if let Some(b) = e.item_b {
            assert_eq!(a.0, strata[&b].0, "a mined pair straddles train and eval: {e:?}");
            pairs_checked += 1;
        }
        if e.audit {
            assert_eq!(a, (Split::Eval, true), "an audit item must be eval, stratum audit");
        } else {
            assert!(!a.1, "a mined item is in the audit stratum");
        }
        if e.needed >= 2 {
            assert_eq!(a.0, Split::Eval, "an item two experts labeled must be eval");
        }
    }
    for (s, _) in strata.values() {
        eval += usize::from(*s == Split::Eval);
    }
    assert!(pairs_checked >= 30);
    // Groups and forced items move the share, but it stays near eval_fraction (0.3).
    let share = eval as f64 / strata.len() as f64;
    assert!((0.2..0.6).contains(&share), "eval share {share:.2} of {}", strata.len());
    // Sticky: a second call assigns nothing and changes nothing.
    assert_eq!(assign_splits(&mut st, &cfg).unwrap(), 0);
    assert_eq!(st.split_strata().unwrap(), strata);
}

/// `n` items with random unit vectors in 16 dimensions; items `dup{i}` (i < dups) are copies of
/// `x{i}` moved by a small step (distance ≈ 0.02).
fn project_with_duplicates(
    n: usize,
    dups: usize,
    cfg: &hifi::config::Config,
) -> (tempfile::TempDir, Store, Vec<i64>, Vec<i64>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hifi.toml"), cfg.to_toml()).unwrap();
    let mut st = Store::create(dir.path()).unwrap();
    let mut csv = String::from("id,text\n");
    for i in 0..n {
        csv.push_str(&format!("x{i},item {i}\n"));
    }
    for i in 0..dups {
        csv.push_str(&format!("dup{i},item {i} again\n"));
    }
    let p = file(dir.path(), "items.csv", csv.as_bytes());
    hifi::io::import::import_items(
        &mut st,
        &p,
        &Default::default(),
        &mut Silent,
        &CancelToken::new(),
    )
    .unwrap();
    let key = |st: &Store, id: String| st.item_by_id(&id).unwrap().unwrap().key;
    let xs: Vec<i64> = (0..n).map(|i| key(&st, format!("x{i}"))).collect();
    let ds: Vec<i64> = (0..dups).map(|i| key(&st, format!("dup{i}"))).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let dim = 16;
    let unit = |v: Vec<f32>| {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect::<Vec<f32>>()
    };
    let mut flat = Vec::new();
    let mut base = Vec::new();
    for _ in 0..n {
        let v = unit((0..dim).map(|_| rng.gen_range(-1.0f32..1.0)).collect());
        base.push(v.clone());
        flat.extend(v);
    }
    for b in base.iter().take(dups) {
        flat.extend(unit(b.iter().map(|x| x + rng.gen_range(-0.005f32..0.005)).collect()));
    }
    let keys: Vec<i64> = xs.iter().chain(&ds).copied().collect();
    hifi::llm::embed::put_vectors(&mut st, "test-embedder", "sha-test", dim, &keys, &flat).unwrap();
    (dir, st, xs, ds)
}

#[test]
fn near_duplicates_share_a_split() {
    let cfg = config();
    assert!(cfg.split.near_duplicate > 0.02, "the default catches near-copies");
    let (_dir, mut st, xs, ds) = project_with_duplicates(120, 40, &cfg);
    let names = cfg.label_names();
    for (i, k) in xs.iter().chain(&ds).enumerate() {
        label(&mut st, *k, "ana", &names[i % 2]);
    }
    assign_splits(&mut st, &cfg).unwrap();
    let splits = st.splits().unwrap();
    for (x, d) in xs.iter().zip(&ds) {
        assert_eq!(splits[x], splits[d], "near-duplicates in different splits");
    }
    let leak = leakage(&st, &cfg).unwrap();
    assert!(leak.checked && leak.pairs.is_empty(), "{}", leak.line());
}

#[test]
fn leaks_from_older_splits_are_reported_and_left_out_of_training_and_export() {
    let mut cfg = config();
    cfg.split.near_duplicate = 0.0; // splits made without the near-duplicate check
    let (dir, mut st, xs, ds) = project_with_duplicates(60, 60, &cfg);
    let names = cfg.label_names();
    for (i, k) in xs.iter().chain(&ds).enumerate() {
        label(&mut st, *k, "ana", &names[i % 2]);
    }
    assign_splits(&mut st, &cfg).unwrap();
    let splits = st.splits().unwrap();
    let straddling: Vec<(i64, i64)> =
        xs.iter().zip(&ds).filter(|(x, d)| splits[x] != splits[d]).map(|(x, d)| (*x, *d)).collect();
    assert!(
        straddling.len() >= 5,
        "the old splits should leave some near-duplicates apart: {}",
        straddling.len()
    );
    let off = leakage(&st, &cfg).unwrap();
    assert!(!off.checked && off.line().contains("not checked"), "{}", off.line());

    cfg.split.near_duplicate = 0.1;
    let leak = leakage(&st, &cfg).unwrap();
    assert_eq!(leak.pairs.len(), straddling.len(), "{}", leak.line());
    let train_side: std::collections::BTreeSet<i64> =
        straddling.iter().map(|(x, d)| if splits[x] == Split::Train { *x } else { *d }).collect();
    assert_eq!(leak.train_keys, train_side);
    assert!(leak.line().contains("near-duplicate pairs across train and eval"), "{}", leak.line());
    assert!(leak.pairs.iter().all(|l| l.distance < 0.05));

    // Training leaves them out, with a warning.
    let mut warnings = Vec::new();
    let train = hifi::rounds::train_split(&st, &cfg, &mut warnings).unwrap();
    assert!(train.iter().all(|(k, _)| !train_side.contains(k)));
    let all_train = splits.values().filter(|s| **s == Split::Train).count();
    assert_eq!(train.len(), all_train - train_side.len());
    assert!(warnings.iter().any(|w| w.contains("near-duplicate an eval item")), "{warnings:?}");

    // Export leaves them out and lists them.
    let out = dir.path().join("train.jsonl");
    let rep = export(
        &mut st,
        &cfg,
        ExportFormat::Jsonl,
        SplitChoice::Train,
        &out,
        WriteOptions::default(),
    )
    .unwrap();
    assert_eq!(rep.rows, all_train - train_side.len());
    assert_eq!(rep.leaked.len(), train_side.len());
    let written = std::fs::read_to_string(&out).unwrap();
    for id in &rep.leaked {
        assert!(!written.contains(&format!("\"id\":\"{id}\"")), "{id} exported");
    }
    // Items labeled from now on join their near-duplicate's split.
    let (_d2, mut st2, xs2, ds2) = project_with_duplicates(30, 30, &cfg);
    for k in &xs2 {
        label(&mut st2, *k, "ana", &names[0]);
    }
    assign_splits(&mut st2, &cfg).unwrap();
    for k in &ds2 {
        label(&mut st2, *k, "ana", &names[1]);
    }
    assign_splits(&mut st2, &cfg).unwrap();
    let s2 = st2.splits().unwrap();
    assert!(xs2.iter().zip(&ds2).all(|(x, d)| s2[x] == s2[d]));
}
