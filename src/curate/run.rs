//! [`mine`] on a project: read predictions, embeddings and expert labels from the store, mine,
//! and replace the review queue with the result.

use std::time::Instant;

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::{
    double_annotated, mine_pool, pool_from_store, LabelSummary, MineParams, Mined, PhaseSeconds,
    PoolView, Strategy,
};
use crate::config::Config;
use crate::error::Result;
use crate::progress::{CancelToken, Progress};
use crate::store::{NewQueueEntry, Store};

/// What `hifi mine` did.
#[derive(Debug, Clone, Serialize)]
pub struct MineReport {
    pub strategy: Strategy,
    /// The queue run written (absent when cancelled).
    pub mine_run: Option<i64>,
    /// The model whose predictions were mined.
    pub model_id: i64,
    pub budget: usize,
    /// Queue entries written: pairs + items.
    pub entries: usize,
    pub pairs: usize,
    pub items: usize,
    /// Entries that ask for two annotators.
    pub double_annotated: usize,
    /// Single-item entries drawn uniformly at random from unlabeled items (the audit stratum).
    pub audit: usize,
    /// Rows mined from (items with a prediction, and a vector where the strategy needs one).
    pub pool: usize,
    /// Rows left out because experts already labeled them.
    pub labeled_excluded: usize,
    pub near_duplicates: usize,
    pub overlapping_cluster_pairs: usize,
    pub candidates: usize,
    pub typical_cross_distance: Option<f32>,
    pub labels: Vec<LabelSummary>,
    /// `adaptive`: the predicting model's κ against blind expert labels it never trained on,
    /// and on how many items (absent: fewer than [`MIN_HELD_OUT`] such items). In a
    /// multi-label project the mean over labels of the per-label binary κ.
    pub held_out_kappa: Option<(f64, usize)>,
    /// `adaptive`: the share of the refill given to exploration.
    pub explore_share: Option<f64>,
    pub seconds: PhaseSeconds,
    pub seconds_total: f64,
    pub warnings: Vec<String>,
    pub cancelled: bool,
}

/// Mine the project's pool and replace the review queue (one new mining run). A cancelled
/// run leaves the queue as it was.
pub fn mine(
    store: &mut Store,
    cfg: &Config,
    params: &MineParams,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<MineReport> {
    params.validate()?;
    let t0 = Instant::now();
    progress.start("load", 0);
    let mut loaded = pool_from_store(store, params.strategy.needs_vectors())?;
    loaded.pool.set_task(cfg);
    let mut warnings = std::mem::take(&mut loaded.warnings);
    // Predictions under another label set would queue items by labels that are not today's.
    if let Some(m) = store.model(loaded.model_id)? {
        if let Some(why) = store.stale_reason(&m, &cfg.label_names())? {
            return Err(crate::error::Error::Input(format!("{why}: run `hifi prelabel` first")));
        }
    }
    let view = loaded.pool.view();
    let mut params = params.clone();
    let held_out = if params.strategy == Strategy::Adaptive {
        held_out_kappa(store, &view, loaded.model_id)?
    } else {
        None
    };
    if params.strategy == Strategy::Adaptive && params.held_out_kappa.is_none() {
        params.held_out_kappa = held_out.map(|h| h.0);
    }
    let params = &params;
    let load_seconds = t0.elapsed().as_secs_f64();
    let vectors_dir = store.root().join("vectors");
    // Never through a link: the cache is written there.
    let cache_dir = std::fs::symlink_metadata(&vectors_dir)
        .is_ok_and(|m| m.is_dir())
        .then_some(vectors_dir.as_path());
    let mut mined = mine_pool(&view, params, cache_dir, progress, cancel)?;
    mined.seconds.load = load_seconds;
    warnings.append(&mut mined.warnings);
    let mut entries =
        if mined.cancelled { Vec::new() } else { queue_entries(&view, params, &mined) };
    let audit = if mined.cancelled {
        0
    } else {
        add_audit(&view, &mut entries, cfg.mine.audit_share, params)
    };
    let mut mine_run = None;
    if !mined.cancelled {
        let t = Instant::now();
        mine_run = Some(store.replace_queue(params.strategy.as_str(), &entries)?);
        mined.seconds.write = t.elapsed().as_secs_f64();
    }
    let report = MineReport {
        strategy: params.strategy,
        mine_run,
        model_id: loaded.model_id,
        budget: params.budget,
        entries: entries.len(),
        pairs: mined.pairs.len(),
        items: mined.items.len(),
        double_annotated: entries.iter().filter(|e| e.needed > 1).count(),
        audit,
        pool: view.len(),
        labeled_excluded: view.len() - view.unlabeled(),
        near_duplicates: mined.near_duplicates,
        overlapping_cluster_pairs: mined.overlapping_cluster_pairs,
        candidates: mined.candidates,
        typical_cross_distance: mined.typical_cross_distance,
        labels: mined.labels,
        held_out_kappa: held_out,
        explore_share: (params.strategy == Strategy::Adaptive)
            .then(|| super::explore_share(params.held_out_kappa)),
        seconds: mined.seconds,
        seconds_total: t0.elapsed().as_secs_f64(),
        warnings,
        cancelled: mined.cancelled,
    };
    progress.finish(&format!("{} entries queued", report.entries));
    Ok(report)
}

/// Fewer held-out labels than this say nothing about the model (`adaptive` explores fully).
pub const MIN_HELD_OUT: usize = 10;

/// Cohen's κ of `model`'s predictions (`pool`) against the experts' labels it never trained
/// on — every label for the base LLM (no adapter, zero-shot), the eval split for any other
/// model — counting only items labeled blind (a label given with the suggestion in view
/// leans towards it), and only the audit stratum's items when there are [`MIN_HELD_OUT`] of
/// them (uniform draws: representative, where mined items are hard for any model). With the
/// number of items; `None` below [`MIN_HELD_OUT`] or where κ is undefined. Items whose
/// experts disagree (unresolved) are left out. In a multi-label pool, the mean over labels of
/// each label's binary κ (does it apply: the expert's set against the model's thresholded
/// probabilities; [`super::mean_label_kappa`]).
pub(crate) fn held_out_kappa(
    store: &Store,
    pool: &PoolView,
    model: i64,
) -> Result<Option<(f64, usize)>> {
    let base = store.latest_base_llm()?.is_some_and(|m| m.id == model);
    let seen: std::collections::HashSet<i64> = store
        .current_labels_seen()?
        .into_iter()
        .filter(|l| l.3 == Some(true))
        .map(|l| l.0)
        .collect();
    let eval = if base { None } else { Some(store.splits()?) };
    let (resolved, _) = store.resolved_labels()?;
    let row_of: std::collections::HashMap<i64, usize> =
        pool.keys.iter().enumerate().map(|(r, k)| (*k, r)).collect();
    let audit = store.audit_items()?;
    if let Some(thresholds) = pool.thresholds {
        // (audit, the expert's set, the model's set), one flag per label.
        let mut held: Vec<(bool, Vec<bool>, Vec<bool>)> = Vec::new();
        for (item, label) in resolved {
            if seen.contains(&item)
                || eval.as_ref().is_some_and(|e| e.get(&item) != Some(&crate::store::Split::Eval))
            {
                continue;
            }
            let (Some(&r), Some(set)) = (row_of.get(&item), crate::multilabel::decode(&label))
            else {
                continue;
            };
            let truth = pool.label_names.iter().map(|n| set.contains(n)).collect();
            let pred =
                pool.probs_of(r).iter().zip(thresholds).map(|(p, t)| f64::from(*p) >= *t).collect();
            held.push((audit.contains(&item), truth, pred));
        }
        if held.iter().filter(|h| h.0).count() >= MIN_HELD_OUT {
            held.retain(|h| h.0);
        }
        if held.len() < MIN_HELD_OUT {
            return Ok(None);
        }
        let (truth, pred): (Vec<Vec<bool>>, Vec<Vec<bool>>) =
            held.into_iter().map(|h| (h.1, h.2)).unzip();
        let n = truth.len();
        return Ok(super::mean_label_kappa(&truth, &pred, pool.label_names.len()).map(|k| (k, n)));
    }
    let mut held: Vec<(bool, usize, usize)> = Vec::new(); // (audit, expert label, prediction)
    for (item, label) in resolved {
        if seen.contains(&item)
            || eval.as_ref().is_some_and(|e| e.get(&item) != Some(&crate::store::Split::Eval))
        {
            continue;
        }
        let (Some(&r), Some(y)) =
            (row_of.get(&item), pool.label_names.iter().position(|n| *n == label))
        else {
            continue;
        };
        held.push((audit.contains(&item), y, pool.labels[r] as usize));
    }
    if held.iter().filter(|h| h.0).count() >= MIN_HELD_OUT {
        held.retain(|h| h.0);
    }
    let (truth, pred): (Vec<usize>, Vec<usize>) = held.iter().map(|h| (h.1, h.2)).unzip();
    if truth.len() < MIN_HELD_OUT {
        return Ok(None);
    }
    Ok(crate::metrics::cohen_kappa(&truth, &pred, pool.label_names.len())
        .value()
        .map(|k| (k, truth.len())))
}

/// Queue entries for what `mine_pool` chose, each with its reason.
pub(crate) fn queue_entries(
    pool: &PoolView,
    params: &MineParams,
    mined: &Mined,
) -> Vec<NewQueueEntry> {
    let n = mined.pairs.len() + mined.items.len();
    let two = double_annotated(n, params.overlap_share);
    let strategy = params.strategy.as_str();
    let label = |l: u32| pool.label_names.get(l as usize).cloned().unwrap_or_default();
    let mut out = Vec::with_capacity(n);
    for (i, p) in mined.pairs.iter().enumerate() {
        if let Some(l) = p.label {
            // Multi-label: the pair straddles one label's threshold; `a` is on the side it
            // does not apply to.
            let reason = json!({
                "strategy": strategy,
                "rank": i,
                "label": label(l),
                "distance": round(p.distance),
                "centroid_distance": round(p.centroid_distance),
                "clusters": [
                    {"label": label(l), "applies": false, "cluster": p.cluster_a.1, "size": p.size_a, "radius": round(p.radius_a)},
                    {"label": label(l), "applies": true, "cluster": p.cluster_b.1, "size": p.size_b, "radius": round(p.radius_b)},
                ],
                "probs_a": probs(pool, p.a),
                "probs_b": probs(pool, p.b),
            });
            out.push(NewQueueEntry {
                item_a: pool.keys[p.a],
                item_b: Some(pool.keys[p.b]),
                reason,
                needed: if two[i] { 2 } else { 1 },
                audit: false,
            });
            continue;
        }
        let reason = json!({
            "strategy": strategy,
            "rank": i,
            "distance": round(p.distance),
            "centroid_distance": round(p.centroid_distance),
            "clusters": [
                {"label": label(p.cluster_a.0), "cluster": p.cluster_a.1, "size": p.size_a, "radius": round(p.radius_a)},
                {"label": label(p.cluster_b.0), "cluster": p.cluster_b.1, "size": p.size_b, "radius": round(p.radius_b)},
            ],
            "probs_a": probs(pool, p.a),
            "probs_b": probs(pool, p.b),
        });
        out.push(NewQueueEntry {
            item_a: pool.keys[p.a],
            item_b: Some(pool.keys[p.b]),
            reason,
            needed: if two[i] { 2 } else { 1 },
            audit: false,
        });
    }
    for (j, it) in mined.items.iter().enumerate() {
        let i = mined.pairs.len() + j;
        let p = pool.probs_of(it.row);
        let mut reason = match pool.thresholds {
            // Multi-label: the item margin and entropy, and the label it is least sure of.
            Some(t) => json!({
                "strategy": strategy,
                "rank": j,
                "margin": round(super::strategies::item_margin(pool, it.row) as f32),
                "entropy": round(super::binary_entropy_sum(p)),
                "least_certain": label(super::least_certain(p, t).0 as u32),
                "probs": probs(pool, it.row),
            }),
            None => json!({
                "strategy": strategy,
                "rank": j,
                "margin": round(super::margin(p)),
                "entropy": round(super::entropy(p)),
                "probs": probs(pool, it.row),
            }),
        };
        if let (Some((l, c)), Some(obj)) = (it.cluster, reason.as_object_mut()) {
            let c = if c == u32::MAX { json!(null) } else { json!(c) };
            obj.insert("cluster".into(), json!({"label": label(l), "cluster": c}));
        }
        if let (Strategy::Adaptive, Some(obj)) = (params.strategy, reason.as_object_mut()) {
            obj.insert("explore".into(), json!(it.explored));
            let why = if it.explored {
                "a typical item of a region no label covers yet"
            } else {
                "one of the items the model is least sure of"
            };
            obj.insert("why".into(), json!(why));
        }
        out.push(NewQueueEntry {
            item_a: pool.keys[it.row],
            item_b: None,
            reason,
            needed: if two[i] { 2 } else { 1 },
            audit: false,
        });
    }
    out
}

/// Interleave the audit stratum into a refill: `share` of the final queue (rounded; at least
/// one when the share is positive and anything was mined) are single items drawn uniformly at
/// random from unlabeled rows not already queued — the first such rows in an order hashed
/// from the seed, which is a uniform draw from whatever is unlabeled now. They are spread
/// evenly through the queue, carry no model scores in their reason (they are labeled blind),
/// and ask for two annotators at the same share as mined entries. Returns how many.
pub(crate) fn add_audit(
    pool: &PoolView,
    entries: &mut Vec<NewQueueEntry>,
    share: f64,
    params: &MineParams,
) -> usize {
    if share <= 0.0 || entries.is_empty() {
        return 0;
    }
    let n = entries.len();
    let want = if share >= 1.0 {
        pool.unlabeled()
    } else {
        ((share * n as f64 / (1.0 - share)).round() as usize).max(1)
    };
    let queued: std::collections::HashSet<i64> =
        entries.iter().flat_map(|e| [Some(e.item_a), e.item_b]).flatten().collect();
    let mut rows: Vec<(u64, usize)> = (0..pool.len())
        .filter(|&r| !pool.labeled[r] && !queued.contains(&pool.keys[r]))
        .map(|r| (mix(params.seed ^ 0x0061_7564_6974, pool.keys[r] as u64), r))
        .collect();
    rows.sort_unstable();
    rows.truncate(want);
    let m = rows.len();
    if m == 0 {
        return 0;
    }
    let two = double_annotated(m, params.overlap_share);
    let total = n + m;
    let mut at: Vec<usize> = (0..m)
        .map(|j| (((j as f64 + 0.5) * total as f64 / m as f64) as usize).min(total - 1))
        .collect();
    at.dedup();
    let mut audit = rows.iter().enumerate().map(|(j, (_, r))| NewQueueEntry {
        item_a: pool.keys[*r],
        item_b: None,
        reason: json!({"strategy": "audit", "rank": j, "why": "drawn uniformly at random from unlabeled items (audit stratum)"}),
        needed: if two[j] { 2 } else { 1 },
        audit: true,
    });
    let mined = std::mem::take(entries);
    let mut mined = mined.into_iter();
    for pos in 0..total {
        let e = if at.binary_search(&pos).is_ok() {
            audit.next().or_else(|| mined.next())
        } else {
            mined.next().or_else(|| audit.next())
        };
        entries.extend(e);
    }
    m
}

/// SplitMix64 of `seed` and `x`: a fixed, well-mixed order.
fn mix(seed: u64, x: u64) -> u64 {
    let mut z = seed.wrapping_add(x.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn probs(pool: &PoolView, row: usize) -> Value {
    let mut m = Map::new();
    for (name, p) in pool.label_names.iter().zip(pool.probs_of(row)) {
        m.insert(name.clone(), json!(round(*p)));
    }
    Value::Object(m)
}

/// Four decimals: an f32 printed through f64 shows noise digits otherwise.
fn round(x: f32) -> f64 {
    (f64::from(x) * 1e4).round() / 1e4
}
