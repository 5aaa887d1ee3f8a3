//! Splits without leakage. Eval must measure what the model learned, not what it memorised: a
//! mined pair's two items (close in the embedding, seen side by side) and near-duplicates
//! (within `[split] near_duplicate` of each other) always share a split; items two experts
//! labeled and audit-stratum items are always eval. Splits are sticky, so an older project
//! can still hold near-duplicates on both sides: [`leakage`] lists them, and training and
//! export leave those train items out.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::Serialize;

use super::linalg::sq_dist;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::llm::embed::Vectors;
use crate::store::{Split, SplitGroups, Store};

/// Union–find over item keys.
#[derive(Default)]
struct Groups {
    parent: HashMap<i64, i64>,
}

impl Groups {
    fn find(&mut self, x: i64) -> i64 {
        let p = *self.parent.entry(x).or_insert(x);
        if p == x {
            return x;
        }
        let r = self.find(p);
        self.parent.insert(x, r);
        r
    }

    fn union(&mut self, a: i64, b: i64) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent.insert(ra.max(rb), ra.min(rb));
        }
    }
}

/// Two labeled items within the near-duplicate distance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NearDuplicate {
    pub a: i64,
    pub b: i64,
    pub distance: f32,
}

/// Items with a label in force (any annotator, or an adjudication).
fn labeled_items(store: &Store) -> Result<BTreeSet<i64>> {
    let (resolved, conflicts) = store.resolved_labels()?;
    Ok(resolved.into_iter().map(|r| r.0).chain(conflicts).collect())
}

/// Near-duplicate pairs among `items` — only those with an item in `touching`, when given —
/// by the newest embeddings; `None` when the project has none (nothing to compare) or the
/// threshold is 0.
pub fn near_duplicates(
    store: &Store,
    items: &BTreeSet<i64>,
    touching: Option<&BTreeSet<i64>>,
    threshold: f64,
) -> Result<Option<Vec<NearDuplicate>>> {
    if threshold <= 0.0 {
        return Ok(None);
    }
    if touching.is_some_and(BTreeSet::is_empty) {
        return Ok(Some(Vec::new()));
    }
    let vectors = match Vectors::open(store, None) {
        Ok(v) => v,
        Err(Error::Input(_)) if store.embedding_set_info(None)?.is_none() => return Ok(None),
        Err(e) => return Err(e),
    };
    let rows: Vec<(i64, Vec<f32>)> =
        items.iter().filter_map(|k| Some((*k, vectors.get(*k)?))).collect();
    let t2 = (threshold * threshold) as f32;
    let mut out = Vec::new();
    let wanted = |k: i64| touching.is_none_or(|t| t.contains(&k));
    for i in 0..rows.len() {
        for j in i + 1..rows.len() {
            if !wanted(rows[i].0) && !wanted(rows[j].0) {
                continue;
            }
            let d2 = sq_dist(&rows[i].1, &rows[j].1);
            if d2 <= t2 {
                out.push(NearDuplicate {
                    a: rows[i].0,
                    b: rows[j].0,
                    distance: d2.max(0.0).sqrt(),
                });
            }
        }
    }
    Ok(Some(out))
}

/// What decides the splits of newly labeled items (see [`SplitGroups`]). Splits are sticky,
/// so only near-duplicate pairs with a not yet split item matter: the cost is new × labeled,
/// and nothing when nothing is new.
pub fn split_groups(store: &Store, cfg: &Config) -> Result<SplitGroups> {
    let labeled = labeled_items(store)?;
    let splits = store.splits()?;
    let new: BTreeSet<i64> = labeled.iter().filter(|k| !splits.contains_key(k)).copied().collect();
    let mut uf = Groups::default();
    for (a, b) in store.queued_pairs()? {
        uf.union(a, b);
    }
    for d in
        near_duplicates(store, &labeled, Some(&new), cfg.split.near_duplicate)?.unwrap_or_default()
    {
        uf.union(d.a, d.b);
    }
    let mut ids: HashMap<i64, usize> = HashMap::new();
    let mut group_of = HashMap::new();
    for &item in &labeled {
        let root = uf.find(item);
        let next = ids.len();
        group_of.insert(item, *ids.entry(root).or_insert(next));
    }
    let mut annotators: HashMap<i64, usize> = HashMap::new();
    for (item, _, _, _) in store.current_labels_seen()? {
        *annotators.entry(item).or_default() += 1;
    }
    // Queued for two annotators: eval from the first label on, or the second label would land
    // on an item already in train.
    let overlap = store.overlap_items()?;
    let forced_eval = annotators
        .into_iter()
        .filter(|(i, n)| *n >= 2 || overlap.contains(i))
        .map(|(i, _)| i)
        .collect();
    let audit: HashSet<i64> =
        store.audit_items()?.into_iter().filter(|i| labeled.contains(i)).collect();
    Ok(SplitGroups { group_of, forced_eval, audit })
}

/// Give newly labeled items their split (the one entry point: review, rounds, export, audits).
pub fn assign_splits(store: &mut Store, cfg: &Config) -> Result<usize> {
    let groups = split_groups(store, cfg)?;
    Ok(store.assign_splits(cfg.split.eval_fraction, &groups)?)
}

/// A train item and an eval item that are near-duplicates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Leak {
    pub train: String,
    pub eval: String,
    pub distance: f32,
}

/// Near-duplicates across train and eval (`hifi report`, `hifi export`, training).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Leakage {
    /// Embeddings were there to compare (false: not checked).
    pub checked: bool,
    pub threshold: f64,
    pub pairs: Vec<Leak>,
    /// Keys of the train items in `pairs`: left out of training and export.
    #[serde(skip)]
    pub train_keys: BTreeSet<i64>,
}

impl Leakage {
    /// One line for `hifi report`.
    pub fn line(&self) -> String {
        if !self.checked {
            return "leakage: not checked (no embeddings, or split.near_duplicate = 0)".into();
        }
        if self.pairs.is_empty() {
            return format!(
                "leakage: no near-duplicates (distance ≤ {}) across train and eval",
                self.threshold
            );
        }
        let shown: Vec<String> = self
            .pairs
            .iter()
            .take(5)
            .map(|l| format!("{}~{} ({:.3})", l.train, l.eval, l.distance))
            .collect();
        format!(
            "leakage: {} near-duplicate pairs across train and eval (distance ≤ {}): {}{}; their {} train items are left out of training and export",
            self.pairs.len(),
            self.threshold,
            shown.join(", "),
            if self.pairs.len() > 5 { ", …" } else { "" },
            self.train_keys.len()
        )
    }
}

/// Near-duplicate pairs with one item in train and the other in eval.
pub fn leakage(store: &Store, cfg: &Config) -> Result<Leakage> {
    let splits = store.splits()?;
    let split_items: BTreeSet<i64> = splits.keys().copied().collect();
    let Some(dups) = near_duplicates(store, &split_items, None, cfg.split.near_duplicate)? else {
        return Ok(Leakage {
            checked: false,
            threshold: cfg.split.near_duplicate,
            ..Leakage::default()
        });
    };
    let mut out =
        Leakage { checked: true, threshold: cfg.split.near_duplicate, ..Leakage::default() };
    for d in dups {
        let (train, eval) = match (splits.get(&d.a), splits.get(&d.b)) {
            (Some(Split::Train), Some(Split::Eval)) => (d.a, d.b),
            (Some(Split::Eval), Some(Split::Train)) => (d.b, d.a),
            _ => continue,
        };
        let id = |k: i64| -> Result<String> {
            Ok(store.item(k)?.map(|i| i.id).unwrap_or_else(|| k.to_string()))
        };
        out.pairs.push(Leak { train: id(train)?, eval: id(eval)?, distance: d.distance });
        out.train_keys.insert(train);
    }
    Ok(out)
}
