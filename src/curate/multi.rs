//! Mining a multi-label project: every strategy works per label.
//!
//! A multi-label pool's probabilities are independent, one per label that it applies, and a
//! label applies at or above its threshold ([`PoolView::thresholds`]). So each label is a
//! binary decision of its own:
//!
//! - **uncertainty**: a label's margin is its probability's scaled distance from its threshold
//!   ([`crate::multilabel::label_margin`]); an item's is its least certain label's
//!   ([`crate::multilabel::margin`]), the item-level rule for binary-relevance uncertainty
//!   sampling (Brinker 2006, "BinMin"): an item is worth labeling when the model is unsure of
//!   any one of its labels. Entropy is the sum of the labels' binary entropies (the entropy of
//!   the label set when the labels are independent, as the model treats them).
//! - **sides**: per label, the items split into the side the label applies to and the side
//!   it does not; boundary pairs cluster each side and pair the nearest items of overlapping
//!   clusters of the two sides ([`side_clusters`]), and Cluster-Margin groups items by their
//!   least certain label and that label's cluster.
//! - **agreement**: `adaptive`'s exploration share follows the mean over labels of the
//!   binary κ (the label applies or not) of the model against blind expert labels
//!   ([`mean_label_kappa`]).

use std::path::Path;

use super::cluster::{cluster_labels, LabelClusters};
use super::pool::PoolView;
use super::MineParams;
use crate::error::Result;
use crate::progress::{CancelToken, Progress};

/// Sum of the binary entropies (nats) of independent per-label probabilities: the entropy of
/// the label set when the labels are independent. 0 when every label is certain; `L · ln 2`
/// when every probability is ½.
pub fn binary_entropy_sum(p: &[f32]) -> f32 {
    p.iter()
        .map(|&x| {
            let x = x.clamp(0.0, 1.0);
            let h = |q: f32| if q > 0.0 { -q * q.ln() } else { 0.0 };
            h(x) + h(1.0 - x)
        })
        .sum()
}

/// The least certain label of independent per-label probabilities `p` under `thresholds`:
/// its index and its margin ([`crate::multilabel::label_margin`]); the first such label on a
/// tie. `(0, 1.0)` for no labels.
pub fn least_certain(p: &[f32], thresholds: &[f64]) -> (usize, f64) {
    let mut best = (0, 1.0);
    for (i, &x) in p.iter().enumerate() {
        let t = thresholds.get(i).copied().unwrap_or(crate::multilabel::DEFAULT_THRESHOLD);
        let m = crate::multilabel::label_margin(f64::from(x), t);
        if m < best.1 {
            best = (i, m);
        }
    }
    best
}

/// The mean over labels of Cohen's κ between two raters' binary decisions (does the label
/// apply) on the same items: `truth[i][l]` and `pred[i][l]` for item `i` and label `l`.
/// Labels whose κ is undefined (both raters gave one answer on every item, so chance
/// agreement is 1) are left out of the mean; `None` when no label's κ is defined or the
/// two lists do not match.
pub fn mean_label_kappa(truth: &[Vec<bool>], pred: &[Vec<bool>], n_labels: usize) -> Option<f64> {
    if truth.len() != pred.len()
        || truth.iter().chain(pred).any(|row| row.len() != n_labels)
        || truth.is_empty()
    {
        return None;
    }
    let per_label: Vec<f64> = (0..n_labels)
        .filter_map(|l| {
            let a: Vec<usize> = truth.iter().map(|row| usize::from(row[l])).collect();
            let b: Vec<usize> = pred.iter().map(|row| usize::from(row[l])).collect();
            crate::metrics::cohen_kappa(&a, &b, 2).value()
        })
        .collect();
    (!per_label.is_empty()).then(|| per_label.iter().sum::<f64>() / per_label.len() as f64)
}

/// One label's two sides as a two-"label" pool: side 0 is "does not apply", side 1
/// "applies". The geometry (vectors, keys, what is labeled) is the pool's own.
pub(crate) struct Sides {
    /// The label (index into the pool's labels).
    pub label: u32,
    side: Vec<u32>,
    probs: Vec<f32>,
    names: Vec<String>,
}

impl Sides {
    /// Split `pool`'s rows by label `l`'s threshold.
    pub fn of(pool: &PoolView, thresholds: &[f64], l: usize) -> Self {
        let name = &pool.label_names[l];
        let t = thresholds[l];
        let mut side = Vec::with_capacity(pool.len());
        let mut probs = Vec::with_capacity(2 * pool.len());
        for r in 0..pool.len() {
            let p = pool.probs_of(r)[l];
            side.push(u32::from(f64::from(p) >= t));
            probs.extend([1.0 - p, p]);
        }
        let names = vec![format!("{name} (does not apply)"), format!("{name} (applies)")];
        Self { label: l as u32, side, probs, names }
    }

    /// Rows on each side: (does not apply, applies).
    pub fn counts(&self) -> (usize, usize) {
        let yes = self.side.iter().filter(|s| **s == 1).count();
        (self.side.len() - yes, yes)
    }

    /// The two-"label" view over `pool`'s geometry.
    pub fn view<'a>(&'a self, pool: &PoolView<'a>) -> PoolView<'a> {
        PoolView {
            dim: pool.dim,
            vectors: pool.vectors,
            keys: pool.keys,
            labels: &self.side,
            probs: &self.probs,
            label_names: &self.names,
            labeled: pool.labeled,
            vectors_id: pool.vectors_id,
            thresholds: None,
        }
    }
}

/// One label's sides and their clusters (k-means per side, as a single-label project
/// clusters each predicted label).
pub(crate) struct SideClusters {
    pub sides: Sides,
    /// Side 0's clustering, then side 1's.
    pub clusters: Vec<LabelClusters>,
}

/// Cluster both sides of every label. A label the model puts every item on one side of has
/// no boundary to mine: it is left out, with a warning. Each label's centres are cached in
/// `mine-clusters-ml<label>-<side>.bin`. `None` when cancelled.
pub(crate) fn side_clusters(
    pool: &PoolView,
    thresholds: &[f64],
    params: &MineParams,
    cache_dir: Option<&Path>,
    warnings: &mut Vec<String>,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<Option<Vec<SideClusters>>> {
    let mut out = Vec::new();
    for l in 0..pool.label_names.len() {
        if cancel.is_cancelled() {
            return Ok(None);
        }
        let sides = Sides::of(pool, thresholds, l);
        let (no, yes) = sides.counts();
        if no == 0 || yes == 0 {
            warnings.push(format!(
                "label {}: the model says it {} every item (threshold {}); nothing to mine about it",
                pool.label_names[l],
                if yes == 0 { "applies to no" } else { "applies to" },
                thresholds[l]
            ));
            continue;
        }
        let view = sides.view(pool);
        let stem = format!("mine-clusters-ml{l}");
        let Some(clusters) =
            cluster_labels(&view, params, cache_dir, &stem, warnings, progress, cancel)?
        else {
            return Ok(None);
        };
        out.push(SideClusters { sides, clusters });
    }
    Ok(Some(out))
}

/// Cluster-Margin's groups in a multi-label pool: each row's least certain label and the
/// row's cluster among that label's side clusters (numbered across both sides;
/// `u32::MAX` for a label left out of [`side_clusters`]).
pub(crate) fn least_certain_clusters(pool: &PoolView, sides: &[SideClusters]) -> Vec<(u32, u32)> {
    let Some(thresholds) = pool.thresholds else {
        return vec![(0, 0); pool.len()];
    };
    let mut of_label: Vec<Option<Vec<u32>>> = vec![None; pool.label_names.len()];
    for s in sides {
        let cl = super::pairs::Clusters::new(&s.clusters, pool.len());
        of_label[s.sides.label as usize] = Some(cl.of_row);
    }
    (0..pool.len())
        .map(|r| {
            let (l, _) = least_certain(pool.probs_of(r), thresholds);
            let c = of_label[l].as_ref().map_or(u32::MAX, |of_row| of_row[r]);
            (l as u32, c)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_sums_the_labels_and_least_certain_uses_thresholds() {
        let ln2 = std::f32::consts::LN_2;
        assert!((binary_entropy_sum(&[0.5, 0.5, 0.5]) - 3.0 * ln2).abs() < 1e-6);
        assert_eq!(binary_entropy_sum(&[0.0, 1.0]), 0.0);
        // 0.55 is 0.1 from 0.5 scaled; 0.7 under threshold 0.75 is 0.05 / 0.75.
        let (l, m) = least_certain(&[0.9, 0.55, 0.7], &[0.5, 0.5, 0.75]);
        assert_eq!(l, 2);
        assert!((m - 0.05 / 0.75).abs() < 1e-6);
    }

    #[test]
    fn mean_kappa_leaves_out_labels_without_a_defined_kappa() {
        let t = |v: [[u8; 3]; 4]| -> Vec<Vec<bool>> {
            v.iter().map(|r| r.iter().map(|x| *x == 1).collect()).collect()
        };
        // Label 0: Po 0.75, Pe 0.5 → κ 0.5. Label 1: identical → κ 1. Label 2: both raters
        // say "no" on every item → undefined, left out. Mean 0.75.
        let truth = t([[1, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 0]]);
        let pred = t([[1, 1, 0], [0, 0, 0], [0, 1, 0], [0, 0, 0]]);
        assert!((mean_label_kappa(&truth, &pred, 3).unwrap() - 0.75).abs() < 1e-12);
        assert_eq!(mean_label_kappa(&truth, &pred[..3], 3), None);
        let none = t([[0, 0, 0]; 4]);
        assert_eq!(mean_label_kappa(&none, &none, 3), None);
    }
}
