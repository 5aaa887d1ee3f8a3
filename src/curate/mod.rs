//! `hifi mine`: choose what experts label next and fill the review queue.
//!
//! The default strategy is **boundary pairs** (docs/methods.md#boundary-pairs): cluster each predicted label
//! separately (k-means, k = clamp(round(√(n/2)), 1, 64) unless `k` is given), find clusters of
//! different labels that overlap (centroid distance < r_A + r_B, r the `overlap_percentile`
//! of member-to-centre distances), pair the nearest differently-labeled items of each overlap
//! with an HNSW index, and order the pairs farthest-point first over their midpoints, seeded
//! with what experts already labeled (details in the `cluster`, `pairs` and `order` modules).
//! Margin, entropy, random and Cluster-Margin queue single items instead.
//!
//! Re-mining keeps what it can: each label's k-means centres are cached in
//! `vectors/mine-clusters-<label>.bin`, keyed by the label's member set, the embedding set,
//! k and the seed — expert labels do not change it, a new round's predictions do. The HNSW
//! index is rebuilt each run: it covers only the boundary rows (bounded by the overlap cap
//! and the frontier, not by the pool) and excludes what was labeled since.
//!
//! In a multi-label project ([`PoolView::thresholds`]) every strategy works per label: see
//! the `multi` module.
//!
//! The core ([`mine_pool`]) works on an in-memory [`PoolView`]; [`mine`] reads the project
//! store, runs it, and replaces the queue. Every strategy refuses near-duplicates (vectors
//! closer than `dup_threshold`) of anything already queued or labeled, and never queues an
//! item experts already labeled.

mod benchmark;
mod cluster;
mod explore;
mod linalg;
mod multi;
mod order;
mod pairs;
mod pool;
mod run;
pub mod split;
mod strategies;
pub mod synth;

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

pub use benchmark::{bench, bench_with, BenchReport, BenchSeconds, BENCH_BUDGET};
pub(crate) use cluster::kmeans_assign;
pub use cluster::{k_rule, LabelSummary, MAX_K, MIN_ITEMS_TO_CLUSTER};
pub use explore::{explore_share, MIN_EXPLORE_SHARE};
pub use multi::{binary_entropy_sum, least_certain, mean_label_kappa};
pub use pairs::MAX_OVERLAPS;
pub use pool::{pool_from_store, pool_of_model, LoadedPool, Pool, PoolView};
pub use run::{mine, MineReport, MIN_HELD_OUT};
pub use strategies::{entropy, margin, MinedItem, CLUSTER_MARGIN_POOL};

use crate::error::{Error, Result};
use crate::progress::{CancelToken, Progress};

/// How to choose what to queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Boundary pairs: nearest differently-labeled items of overlapping clusters.
    Pairs,
    /// Smallest p1 − p2 first.
    Margin,
    /// Highest entropy of the label distribution first.
    Entropy,
    /// A seeded random draw.
    Random,
    /// Lowest-margin candidates grouped by cluster, drawn round-robin, smallest cluster first.
    ClusterMargin,
    /// Typical items of regions no label covers yet, mixed with the model's lowest margins in
    /// the share the model has earned on held-out labels (all exploration while it is at chance).
    Adaptive,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pairs => "pairs",
            Self::Margin => "margin",
            Self::Entropy => "entropy",
            Self::Random => "random",
            Self::ClusterMargin => "cluster-margin",
            Self::Adaptive => "adaptive",
        }
    }

    /// Whether the strategy needs embeddings (clusters or pairs).
    pub fn needs_vectors(self) -> bool {
        matches!(self, Self::Pairs | Self::ClusterMargin | Self::Adaptive)
    }

    /// Whether the strategy clusters each predicted label separately (pairs, Cluster-Margin).
    fn per_label_clusters(self) -> bool {
        matches!(self, Self::Pairs | Self::ClusterMargin)
    }
}

/// Mining knobs. [`Default`] gives the documented defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct MineParams {
    /// Queue entries to produce (pairs for `pairs`, items otherwise).
    pub budget: usize,
    pub strategy: Strategy,
    /// Seeds sampling, k-means and random draws: same seed and input, same queue.
    pub seed: u64,
    /// Clusters per label instead of the k rule (capped by the label's size).
    pub k: Option<usize>,
    /// Percentile of member-to-centre distances used as a cluster's radius (0–100].
    pub overlap_percentile: f64,
    /// Euclidean distance below which two (L2-normalised) vectors are near-duplicates; 0 turns
    /// the guard off. 0.05 ≈ cosine 0.99875.
    pub dup_threshold: f32,
    /// Share of entries that ask for two annotators (expert–expert agreement), spread evenly.
    pub overlap_share: f64,
    /// Members per side of an overlapping cluster pair that enter the ANN search.
    pub frontier: usize,
    /// Candidate pairs kept per overlapping cluster pair.
    pub pairs_per_overlap: usize,
    /// `adaptive`: Cohen's κ of the predicting model against expert labels it did not train
    /// on; sets the exploration share ([`explore_share`]). `None`: no such labels (explore).
    pub held_out_kappa: Option<f64>,
}

impl Default for MineParams {
    fn default() -> Self {
        Self {
            budget: 200,
            strategy: Strategy::Adaptive,
            seed: 0,
            k: None,
            overlap_percentile: 90.0,
            dup_threshold: 0.05,
            overlap_share: 0.1,
            frontier: 32,
            pairs_per_overlap: 4,
            held_out_kappa: None,
        }
    }
}

impl MineParams {
    /// Refuse values that cannot mean anything, with the flag's name.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Input(m.to_string()));
        if self.budget == 0 {
            return bad("--budget must be at least 1");
        }
        if !(self.overlap_percentile > 0.0 && self.overlap_percentile <= 100.0) {
            return bad("--overlap-percentile must be in (0, 100]");
        }
        if !(0.0..=1.0).contains(&self.overlap_share) {
            return bad("--overlap-share must be between 0 and 1");
        }
        if !(self.dup_threshold.is_finite() && self.dup_threshold >= 0.0) {
            return bad("--dup-threshold must be a distance ≥ 0");
        }
        if self.k == Some(0) {
            return bad("--k must be at least 1");
        }
        Ok(())
    }
}

/// A mined boundary pair: rows `a` and `b` of the pool (a's label < b's label; in a
/// multi-label pool, `label` applies to `b` and not to `a`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MinedPair {
    pub a: usize,
    pub b: usize,
    pub distance: f32,
    /// Multi-label pools: the label whose decision the pair straddles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<u32>,
    /// (label, cluster within the label) of each side; in a multi-label pool (`label`, cluster
    /// within that side of the label).
    pub cluster_a: (u32, u32),
    pub cluster_b: (u32, u32),
    pub centroid_distance: f32,
    pub radius_a: f32,
    pub radius_b: f32,
    pub size_a: usize,
    pub size_b: usize,
}

/// Seconds per phase.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PhaseSeconds {
    pub load: f64,
    pub cluster: f64,
    pub index: f64,
    pub pair_search: f64,
    pub ordering: f64,
    pub write: f64,
}

/// What [`mine_pool`] chose, in queue order, and what it saw on the way.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Mined {
    /// Boundary pairs (strategy `pairs`).
    pub pairs: Vec<MinedPair>,
    /// Single items (the other strategies).
    pub items: Vec<MinedItem>,
    pub labels: Vec<LabelSummary>,
    /// Overlapping cluster pairs found (before the [`MAX_OVERLAPS`] cap).
    pub overlapping_cluster_pairs: usize,
    /// Candidate pairs the ordering chose from.
    pub candidates: usize,
    /// Rows indexed for the pair search.
    pub index_rows: usize,
    /// Items or pairs refused as near-duplicates.
    pub near_duplicates: usize,
    pub typical_cross_distance: Option<f32>,
    pub seconds: PhaseSeconds,
    pub warnings: Vec<String>,
    pub cancelled: bool,
}

/// Mine `pool` with `params`. `cache_dir` holds the per-label cluster cache (used when the
/// pool has a `vectors_id`). Fewer entries than the budget, with a warning, when the pool
/// offers fewer; cancelled runs return `cancelled: true` and nothing chosen.
pub fn mine_pool(
    pool: &PoolView,
    params: &MineParams,
    cache_dir: Option<&Path>,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<Mined> {
    params.validate()?;
    pool.validate()?;
    let mut out = Mined::default();
    if params.strategy.needs_vectors() && pool.dim == 0 {
        return Err(Error::Input(format!(
            "strategy {} needs embeddings: run `hifi embed` first",
            params.strategy.as_str()
        )));
    }
    let unlabeled = pool.unlabeled();
    if unlabeled == 0 {
        out.warnings.push("every item in the pool is already labeled: nothing to queue".into());
        return Ok(out);
    }
    let cancelled = |mut m: Mined| {
        m.cancelled = true;
        m.pairs.clear();
        m.items.clear();
        Ok(m)
    };
    let mut clusters = None;
    let mut sides = None;
    if let (true, Some(thresholds)) = (params.strategy.per_label_clusters(), pool.thresholds) {
        let t = Instant::now();
        let Some(s) = multi::side_clusters(
            pool,
            thresholds,
            params,
            cache_dir,
            &mut out.warnings,
            progress,
            cancel,
        )?
        else {
            return cancelled(out);
        };
        out.labels = s.iter().flat_map(|s| s.clusters.iter().map(|c| c.summary.clone())).collect();
        out.seconds.cluster = t.elapsed().as_secs_f64();
        sides = Some(s);
    } else if params.strategy.per_label_clusters() {
        let t = Instant::now();
        let Some(c) = cluster::cluster_labels(
            pool,
            params,
            cache_dir,
            "mine-clusters",
            &mut out.warnings,
            progress,
            cancel,
        )?
        else {
            return cancelled(out);
        };
        out.labels = c.iter().map(|l| l.summary.clone()).collect();
        out.seconds.cluster = t.elapsed().as_secs_f64();
        clusters = Some(c);
    }
    let labeled = pool.len() - unlabeled;
    let mut dedup = order::Dedup::new(pool, params.dup_threshold, labeled + 2 * params.budget);
    {
        let t = Instant::now();
        for r in (0..pool.len()).filter(|r| pool.labeled[*r]) {
            dedup.add(pool.row(r));
        }
        out.seconds.index += t.elapsed().as_secs_f64();
    }
    match (params.strategy, &clusters, &sides) {
        (Strategy::Pairs, _, Some(sides)) => {
            if !multi_pairs(pool, sides, params, &mut dedup, &mut out, progress, cancel)? {
                return cancelled(out);
            }
        }
        (Strategy::Pairs, Some(by_label), _) => {
            let cl = pairs::Clusters::new(by_label, pool.len());
            let Some(b) = pairs::boundary(pool, &cl, params, &mut out.warnings, progress, cancel)?
            else {
                return cancelled(out);
            };
            out.seconds.index += b.seconds_index;
            out.seconds.pair_search = b.seconds_search;
            out.overlapping_cluster_pairs = b.overlaps_found;
            out.candidates = b.candidates.len();
            out.index_rows = b.index_rows;
            out.typical_cross_distance = b.typical_cross_distance;
            if b.overlaps.is_empty() {
                out.warnings.push("no clusters of different labels overlap: no boundary pairs (try a higher --overlap-percentile or another strategy)".into());
            }
            let t = Instant::now();
            let Some(chosen) =
                order::order_pairs(pool, &b.candidates, params.budget, &mut dedup, cancel)?
            else {
                return cancelled(out);
            };
            out.seconds.ordering = t.elapsed().as_secs_f64();
            out.near_duplicates = b.near_duplicate_pairs + dedup.found;
            out.pairs = chosen.into_iter().map(|i| mined_pair(&cl, &b, i)).collect();
        }
        (Strategy::Adaptive, _, _) => {
            let t = Instant::now();
            let share = explore_share(params.held_out_kappa);
            let Some(items) = explore::pick_adaptive(
                pool,
                params.budget,
                share,
                params.seed,
                &mut dedup,
                cancel,
            )?
            else {
                return cancelled(out);
            };
            out.seconds.cluster = t.elapsed().as_secs_f64();
            out.near_duplicates = dedup.found;
            out.items = items;
        }
        (strategy, _, _) => {
            let t = Instant::now();
            let mut of_row: Option<Vec<(u32, u32)>> = clusters.as_ref().map(|by_label| {
                let mut v = vec![(0, 0); pool.len()];
                for lc in by_label {
                    for (m, a) in lc.members.iter().zip(&lc.assign) {
                        v[*m as usize] = (lc.label, *a);
                    }
                }
                v
            });
            if let Some(sides) = &sides {
                of_row = Some(multi::least_certain_clusters(pool, sides));
            }
            let Some(items) = strategies::pick_singles(
                pool,
                strategy,
                params.budget,
                params.seed,
                of_row.as_deref(),
                &mut dedup,
                cancel,
            ) else {
                return cancelled(out);
            };
            out.seconds.ordering = t.elapsed().as_secs_f64();
            out.near_duplicates = dedup.found;
            out.items = items;
        }
    }
    let got = out.pairs.len() + out.items.len();
    if got < params.budget {
        out.warnings.push(format!(
            "budget {} is more than this pool offers: {got} {} ({unlabeled} unlabeled items)",
            params.budget,
            if params.strategy == Strategy::Pairs { "pairs" } else { "items" }
        ));
    }
    Ok(out)
}

fn mined_pair(cl: &pairs::Clusters, b: &pairs::Boundary, i: usize) -> MinedPair {
    let c = b.candidates[i];
    let o = &b.overlaps[c.overlap as usize];
    MinedPair {
        a: c.x as usize,
        b: c.y as usize,
        distance: c.d,
        label: None,
        cluster_a: cl.tag[o.a as usize],
        cluster_b: cl.tag[o.b as usize],
        centroid_distance: o.centroid_distance,
        radius_a: cl.radius(o.a),
        radius_b: cl.radius(o.b),
        size_a: cl.size(o.a),
        size_b: cl.size(o.b),
    }
}

/// Boundary pairs of a multi-label pool: per label, the pairs between overlapping clusters of
/// the side it applies to and the side it does not ([`pairs::boundary`] on the label's sides),
/// then every label's candidates ordered together for diversity ([`order::order_pairs`]), so
/// an item is in one pair at most. Fills `out`; `false` when cancelled.
fn multi_pairs(
    pool: &PoolView,
    sides: &[multi::SideClusters],
    params: &MineParams,
    dedup: &mut order::Dedup,
    out: &mut Mined,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<bool> {
    let mut found = Vec::with_capacity(sides.len());
    for s in sides {
        let view = s.sides.view(pool);
        let cl = pairs::Clusters::new(&s.clusters, pool.len());
        let Some(b) = pairs::boundary(&view, &cl, params, &mut out.warnings, progress, cancel)?
        else {
            return Ok(false);
        };
        out.seconds.index += b.seconds_index;
        out.seconds.pair_search += b.seconds_search;
        out.overlapping_cluster_pairs += b.overlaps_found;
        out.candidates += b.candidates.len();
        out.index_rows += b.index_rows;
        out.near_duplicates += b.near_duplicate_pairs;
        if b.overlaps.is_empty() {
            out.warnings.push(format!(
                "label {}: no cluster of items it applies to overlaps one of items it does not apply to: no boundary pairs about it",
                pool.label_names[s.sides.label as usize]
            ));
        }
        found.push((cl, b));
    }
    let mut typical: Vec<f32> =
        found.iter().filter_map(|(_, b)| b.typical_cross_distance).collect();
    if !typical.is_empty() {
        out.typical_cross_distance = Some(cluster::percentile_of(&mut typical, 50.0));
    }
    if found.iter().all(|(_, b)| b.overlaps.is_empty()) {
        out.warnings.push("no label has overlapping clusters on its two sides: no boundary pairs (try a higher --overlap-percentile or another strategy)".into());
    }
    // Every label's candidates in one list, remembering whose they are.
    let mut merged = Vec::new();
    let mut origin = Vec::new();
    for (si, (_, b)) in found.iter().enumerate() {
        for (ci, c) in b.candidates.iter().enumerate() {
            merged.push(*c);
            origin.push((si, ci));
        }
    }
    let t = Instant::now();
    let Some(chosen) = order::order_pairs(pool, &merged, params.budget, dedup, cancel)? else {
        return Ok(false);
    };
    out.seconds.ordering = t.elapsed().as_secs_f64();
    out.near_duplicates += dedup.found;
    out.pairs = chosen
        .into_iter()
        .map(|i| {
            let (si, ci) = origin[i];
            let (cl, b) = &found[si];
            let label = sides[si].sides.label;
            let mut p = mined_pair(cl, b, ci);
            p.label = Some(label);
            p.cluster_a.0 = label;
            p.cluster_b.0 = label;
            p
        })
        .collect();
    Ok(true)
}

/// Which of `n` entries ask for two annotators: round(share·n) of them (at least one when
/// share > 0), spread evenly so every stretch of the queue carries some.
pub fn double_annotated(n: usize, share: f64) -> Vec<bool> {
    let mut out = vec![false; n];
    if n == 0 || share <= 0.0 {
        return out;
    }
    let count = ((share * n as f64).round() as usize).clamp(1, n);
    for j in 0..count {
        let i = ((j as f64 + 0.5) * n as f64 / count as f64) as usize;
        out[i.min(n - 1)] = true;
    }
    out
}
