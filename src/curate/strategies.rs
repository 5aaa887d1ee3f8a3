//! Single-item strategies (docs/methods.md#single-item-strategies): margin, entropy, random and Cluster-Margin, with
//! the same queue interface and near-duplicate guard as boundary pairs.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::order::Dedup;
use super::pool::PoolView;
use super::Strategy;
use crate::progress::CancelToken;

/// Cluster-Margin looks at this many lowest-margin items per queued item (Citovsky et al.
/// draw from a candidate pool several times the batch; 10× keeps clusters meaningful).
pub const CLUSTER_MARGIN_POOL: usize = 10;

/// p1 − p2 of a probability vector (1 with a single label).
pub fn margin(p: &[f32]) -> f32 {
    let (mut p1, mut p2) = (f32::NEG_INFINITY, f32::NEG_INFINITY);
    for &x in p {
        if x > p1 {
            p2 = p1;
            p1 = x;
        } else if x > p2 {
            p2 = x;
        }
    }
    if p2.is_finite() {
        p1 - p2
    } else {
        1.0
    }
}

/// Shannon entropy in nats.
pub fn entropy(p: &[f32]) -> f32 {
    -p.iter().filter(|x| **x > 0.0).map(|x| x * x.ln()).sum::<f32>()
}

/// Row `r`'s uncertainty as a margin (smaller = less certain): p1 − p2 in a single-label
/// pool; in a multi-label pool its least certain label's scaled distance from that label's
/// threshold ([`crate::multilabel::margin`]).
pub(crate) fn item_margin(pool: &PoolView, r: usize) -> f64 {
    match pool.thresholds {
        Some(t) => super::multi::least_certain(pool.probs_of(r), t).1,
        None => f64::from(margin(pool.probs_of(r))),
    }
}

/// Row `r`'s entropy: of the label distribution in a single-label pool, the sum of the
/// labels' binary entropies in a multi-label pool.
pub(crate) fn item_entropy(pool: &PoolView, r: usize) -> f64 {
    match pool.thresholds {
        Some(_) => f64::from(super::multi::binary_entropy_sum(pool.probs_of(r))),
        None => f64::from(entropy(pool.probs_of(r))),
    }
}

/// The label row `r` is queued about: its predicted label in a single-label pool, its least
/// certain label in a multi-label pool.
pub(crate) fn focus_label(pool: &PoolView, r: usize) -> u32 {
    match pool.thresholds {
        Some(t) => super::multi::least_certain(pool.probs_of(r), t).0 as u32,
        None => pool.labels[r],
    }
}

/// A queued single item: its row and the score that ranked it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MinedItem {
    pub row: usize,
    /// Margin (margin, cluster-margin), entropy, or draw order (random); in a multi-label
    /// pool the item margin and entropy of [`item_margin`] and [`item_entropy`].
    pub score: f64,
    /// (label, cluster) for cluster-margin; (predicted label, cluster) for adaptive. In a
    /// multi-label pool the label is the item's least certain label for cluster-margin and
    /// adaptive's exploited items, and the cluster one of that label's side clusters
    /// (cluster-margin).
    pub cluster: Option<(u32, u32)>,
    /// `adaptive`: chosen to explore (a typical item of an uncovered region), not for its margin.
    pub explored: bool,
}

/// Rank unlabeled rows by `strategy` and take up to `budget` that pass the near-duplicate
/// guard. `cluster_of` gives (label, cluster) per row; without it cluster-margin is margin.
/// `None` when cancelled.
pub(crate) fn pick_singles(
    pool: &PoolView,
    strategy: Strategy,
    budget: usize,
    seed: u64,
    cluster_of: Option<&[(u32, u32)]>,
    dedup: &mut Dedup,
    cancel: &CancelToken,
) -> Option<Vec<MinedItem>> {
    let rows: Vec<usize> = (0..pool.len()).filter(|r| !pool.labeled[*r]).collect();
    let score = |r: usize| -> f64 {
        match strategy {
            Strategy::Entropy => item_entropy(pool, r),
            _ => item_margin(pool, r),
        }
    };
    let ranked: Vec<MinedItem> = match strategy {
        Strategy::Random => {
            let mut rows = rows;
            rows.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
            rows.into_iter()
                .enumerate()
                .map(|(i, row)| MinedItem { row, score: i as f64, cluster: None, explored: false })
                .collect()
        }
        Strategy::Entropy => sorted(rows, score, true),
        Strategy::ClusterMargin if cluster_of.is_some() => {
            let mut low = sorted(rows, score, false);
            low.truncate(budget.saturating_mul(CLUSTER_MARGIN_POOL).max(budget));
            round_robin(low, &|r| cluster_of.map_or((0, 0), |c| c[r]))
        }
        Strategy::Margin | Strategy::ClusterMargin | Strategy::Pairs | Strategy::Adaptive => {
            sorted(rows, score, false)
        }
    };
    let mut out = Vec::with_capacity(budget.min(ranked.len()));
    for (i, item) in ranked.into_iter().enumerate() {
        if out.len() >= budget {
            break;
        }
        if i % 1024 == 0 && cancel.is_cancelled() {
            return None;
        }
        if dedup.admit(pool, &[item.row as u32]) {
            out.push(item);
        }
    }
    Some(out)
}

/// Rows by score (ties by row, so the order is total and reproducible).
pub(crate) fn sorted(
    rows: Vec<usize>,
    score: impl Fn(usize) -> f64,
    descending: bool,
) -> Vec<MinedItem> {
    let mut items: Vec<MinedItem> = rows
        .into_iter()
        .map(|row| MinedItem { row, score: score(row), cluster: None, explored: false })
        .collect();
    items.sort_by(|a, b| {
        let o = a.score.total_cmp(&b.score);
        (if descending { o.reverse() } else { o }).then(a.row.cmp(&b.row))
    });
    items
}

/// Cluster-Margin's draw: group the candidates by cluster, visit clusters smallest first, take
/// one from each in turn (lowest margin first within a cluster) until all are taken.
fn round_robin(cands: Vec<MinedItem>, cluster_of: &dyn Fn(usize) -> (u32, u32)) -> Vec<MinedItem> {
    let mut groups: std::collections::BTreeMap<(u32, u32), Vec<MinedItem>> =
        std::collections::BTreeMap::new();
    for mut c in cands {
        let k = cluster_of(c.row);
        c.cluster = Some(k);
        groups.entry(k).or_default().push(c);
    }
    let mut groups: Vec<(usize, (u32, u32), std::collections::VecDeque<MinedItem>)> =
        groups.into_iter().map(|(k, v)| (v.len(), k, v.into())).collect();
    groups.sort_by_key(|(size, k, _)| (*size, *k));
    let mut out = Vec::new();
    loop {
        let mut took = false;
        for (_, _, q) in &mut groups {
            if let Some(c) = q.pop_front() {
                out.push(c);
                took = true;
            }
        }
        if !took {
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margin_entropy_and_round_robin() {
        assert!((margin(&[0.7, 0.2, 0.1]) - 0.5).abs() < 1e-6);
        assert_eq!(margin(&[1.0]), 1.0);
        assert!((entropy(&[0.5, 0.5]) - std::f32::consts::LN_2).abs() < 1e-6);
        let items: Vec<MinedItem> = (0..6)
            .map(|row| MinedItem { row, score: row as f64, cluster: None, explored: false })
            .collect();
        // rows 0..4 in cluster A (size 4), rows 4..6 in cluster B (size 2): B first.
        let got = round_robin(items, &|r| if r < 4 { (0, 0) } else { (1, 0) });
        let rows: Vec<usize> = got.iter().map(|i| i.row).collect();
        assert_eq!(rows, vec![4, 0, 5, 1, 2, 3]);
    }
}
