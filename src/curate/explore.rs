//! The `adaptive` strategy: explore while the model has earned nothing, exploit as it earns.
//!
//! Mining a model's boundary only helps when the boundary means something. A zero-shot LLM at
//! chance (κ ≈ 0 against experts, as SmolLM2-135M is on most real tasks) has a boundary of
//! noise, and margin or boundary pairs then spend expert labels on noise (measured in the
//! docs/curation.md: on three real sets neither beat a random draw at 50–400 labels). So each refill is
//! split in two:
//!
//! - **exploration** — typical items of regions no label covers yet (TypiClust, Hacohen et
//!   al. 2022): k-means with k = labeled + budget clusters over the *centred* embeddings, the
//!   largest clusters without a labeled item first, from each its most typical member (the
//!   smallest mean distance to its nearest fellow members). Few labels placed on the dense,
//!   representative parts of the pool train a better model than as many drawn at random;
//! - **exploitation** — the current model's lowest-margin items, at most one per cluster
//!   among the lowest few times the batch (the diversity of Cluster-Margin, Citovsky et al.
//!   2021, without giving up the margin order), so a batch is not spent on one confused
//!   region.
//!
//! The exploration share is `1 − 2κ` of the model that made the predictions, measured on
//! labels it never trained on (the eval split, or every label for the zero-shot LLM), floored
//! at [`MIN_EXPLORE_SHARE`]; with no such labels yet it is 1 (nothing is known about the
//! boundary). A model at chance gets a pure exploration batch; one at κ 0.4 or more gets
//! mostly its boundary. The slope is measured (docs/curation.md#what-the-tables-say): with `1 − κ`,
//! a round model at κ ≈ 0.5 after its first 50 labels kept exploring half of every refill,
//! and on State of the Union that lost to margin at 100 and 200 labels; at the floor from
//! there on, no set lost anything.
//!
//! In a multi-label project exploration is the same (it never looks at the labels), and
//! exploitation ranks items by their least certain label's margin (`multi`), so it takes the
//! items of the labels the model is least sure of, one per exploration cluster first as
//! above; the exploration share follows the mean per-label κ.
//!
//! Embeddings are centred on the pool mean and re-normalised before clustering: mean-pooled
//! LLM states are anisotropic (cosine ≈ 0.9 between any two SmolLM2 items), and one shared
//! direction dominates every raw distance.

use ndarray::Array2;

use super::cluster::fit_records_seeded;
use super::linalg::{nearest, par_map, ranges, sq_dist, Centers};
use super::order::Dedup;
use super::pool::PoolView;
use super::strategies::{focus_label, item_margin, sorted, MinedItem};
use crate::error::Result;
use crate::progress::CancelToken;

/// Exploration never drops below this share of a refill: a model that agrees with experts on
/// the eval split can still be wrong in regions nobody labeled.
pub const MIN_EXPLORE_SHARE: f64 = 0.2;
/// At most this many clusters (a refill of more items spreads over them round-robin).
pub const MAX_EXPLORE_K: usize = 500;
/// k-means is fitted on at most this many rows, then every row is assigned.
const FIT_SAMPLE: usize = 10_000;
/// Typicality: mean distance to this many nearest members of the same cluster.
const TYPICALITY_NEIGHBOURS: usize = 20;
/// Exploitation looks this many times the items it needs down the margin order for items
/// of distinct clusters before it takes the lowest margins regardless.
const EXPLOIT_WINDOW: usize = 3;
/// A cluster larger than this is judged on an evenly spaced sample of its members (as
/// candidates and as neighbours): typicality is quadratic in the cluster size.
const TYPICALITY_SAMPLE: usize = 256;

/// The share of a refill given to exploration when the predicting model agrees with experts
/// at `held_out_kappa` on labels it did not train on (`None`: no such labels yet).
pub fn explore_share(held_out_kappa: Option<f64>) -> f64 {
    match held_out_kappa {
        Some(k) if k.is_finite() => (1.0 - 2.0 * k.max(0.0)).clamp(MIN_EXPLORE_SHARE, 1.0),
        _ => 1.0,
    }
}

/// Row vectors centred on their mean and scaled back to unit length (rows that become zero
/// stay zero).
pub(crate) fn centred(pool: &PoolView) -> Vec<f32> {
    let (n, dim) = (pool.len(), pool.dim);
    let mut mean = vec![0f64; dim];
    for r in 0..n {
        for (m, v) in mean.iter_mut().zip(pool.row(r)) {
            *m += f64::from(*v);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
    let mut out = Vec::with_capacity(n * dim);
    for r in 0..n {
        let start = out.len();
        out.extend(pool.row(r).iter().zip(&mean).map(|(v, m)| (f64::from(*v) - m) as f32));
        let norm = out[start..].iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            out[start..].iter_mut().for_each(|x| *x /= norm);
        }
    }
    out
}

/// Rank and take up to `budget` unlabeled rows: `round(share · budget)` typical items of
/// uncovered clusters and the rest lowest-margin items round-robin over clusters,
/// interleaved evenly (exploration first). Every pick passes the near-duplicate guard.
/// `None` when cancelled.
pub(crate) fn pick_adaptive(
    pool: &PoolView,
    budget: usize,
    share: f64,
    seed: u64,
    dedup: &mut Dedup,
    cancel: &CancelToken,
) -> Result<Option<Vec<MinedItem>>> {
    let n = pool.len();
    let unlabeled = pool.unlabeled();
    let budget = budget.min(unlabeled);
    if budget == 0 {
        return Ok(Some(Vec::new()));
    }
    let data = centred(pool);
    let dim = pool.dim;
    let labeled = n - unlabeled;
    let k = (labeled + budget).clamp(1, MAX_EXPLORE_K.min(n));
    let Some(cluster) = clusters(&data, dim, n, k, seed, cancel)? else {
        return Ok(None);
    };
    let k = cluster.iter().copied().max().map_or(0, |c| c + 1);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); k];
    let mut covered = vec![0usize; k];
    for (r, &c) in cluster.iter().enumerate() {
        members[c].push(r);
        if pool.labeled[r] {
            covered[c] += 1;
        }
    }
    let n_explore = ((share.clamp(0.0, 1.0) * budget as f64).round() as usize).min(budget);
    let mut taken = vec![false; n];
    let mut explore = Vec::with_capacity(n_explore);
    // Visit clusters least covered first (labels per member), largest first among equals;
    // each visit takes that cluster's most typical unlabeled member; repeat while short.
    let mut typical: Vec<Option<Vec<(usize, f32)>>> = vec![None; k];
    while explore.len() < n_explore {
        let mut order: Vec<usize> =
            (0..k).filter(|&c| members[c].iter().any(|&r| !pool.labeled[r] && !taken[r])).collect();
        if order.is_empty() {
            break;
        }
        order.sort_by(|&a, &b| {
            let ra = covered[a] as f64 / members[a].len() as f64;
            let rb = covered[b] as f64 / members[b].len() as f64;
            ra.total_cmp(&rb).then(members[b].len().cmp(&members[a].len())).then(a.cmp(&b))
        });
        let mut progressed = false;
        for c in order {
            if explore.len() >= n_explore {
                break;
            }
            if cancel.is_cancelled() {
                return Ok(None);
            }
            let ranked = typical[c].get_or_insert_with(|| typicality(&data, dim, &members[c]));
            while let Some(pos) = ranked.iter().position(|&(r, _)| !pool.labeled[r] && !taken[r]) {
                let (r, t) = ranked.remove(pos);
                taken[r] = true;
                if dedup.admit(pool, &[r as u32]) {
                    covered[c] += 1;
                    explore.push(MinedItem {
                        row: r,
                        score: f64::from(t),
                        cluster: Some((focus_label(pool, r), c as u32)),
                        explored: true,
                    });
                    progressed = true;
                    break;
                }
            }
        }
        if !progressed {
            break;
        }
    }
    // Exploitation: the model's lowest margins, at most one per cluster among the
    // EXPLOIT_WINDOW × want lowest, then the lowest of what is left.
    let want = budget - explore.len();
    let rows: Vec<usize> = (0..n).filter(|&r| !pool.labeled[r] && !taken[r]).collect();
    let low = sorted(rows, |r| item_margin(pool, r), false);
    let mut used = vec![false; k];
    let mut exploit = Vec::with_capacity(want);
    let mut chosen = vec![false; low.len()];
    for pass in 0..2 {
        for (i, item) in low.iter().enumerate() {
            if exploit.len() >= want || (pass == 0 && i >= want.saturating_mul(EXPLOIT_WINDOW)) {
                break;
            }
            if i % 1024 == 0 && cancel.is_cancelled() {
                return Ok(None);
            }
            let c = cluster[item.row];
            if chosen[i] || (pass == 0 && used[c]) {
                continue;
            }
            chosen[i] = true;
            if dedup.admit(pool, &[item.row as u32]) {
                used[c] = true;
                exploit.push(MinedItem {
                    cluster: Some((focus_label(pool, item.row), c as u32)),
                    ..item.clone()
                });
            }
        }
    }
    Ok(Some(interleave(explore, exploit)))
}

/// `a` and `b` merged so each stretch of the result carries both in proportion, `a` first.
fn interleave(a: Vec<MinedItem>, b: Vec<MinedItem>) -> Vec<MinedItem> {
    let total = a.len() + b.len();
    let (na, nb) = (a.len(), b.len());
    let (mut a, mut b) = (a.into_iter(), b.into_iter());
    let (mut ta, mut tb) = (0usize, 0usize);
    let mut out = Vec::with_capacity(total);
    while out.len() < total {
        // Take from `a` while it is behind its share of what has been output so far.
        let a_behind = ta * total <= out.len() * na && ta < na;
        let item = if (a_behind || tb >= nb) && ta < na {
            ta += 1;
            a.next()
        } else {
            tb += 1;
            b.next()
        };
        out.extend(item);
    }
    out
}

/// Each row's cluster: k-means (k-means++ seeding) fitted on up to [`FIT_SAMPLE`] rows, then
/// every row assigned to its nearest centre. `None` when cancelled.
fn clusters(
    data: &[f32],
    dim: usize,
    n: usize,
    k: usize,
    seed: u64,
    cancel: &CancelToken,
) -> Result<Option<Vec<usize>>> {
    if k <= 1 || n <= 1 {
        return Ok(Some(vec![0; n]));
    }
    let mut rng =
        <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed ^ 0x0065_7870_6c6f_7265);
    let mut idx: Vec<usize> = if n > FIT_SAMPLE {
        rand::seq::index::sample(&mut rng, n, FIT_SAMPLE).into_vec()
    } else {
        (0..n).collect()
    };
    idx.sort_unstable();
    let mut buf = Vec::with_capacity(idx.len() * dim);
    for &i in &idx {
        buf.extend_from_slice(&data[i * dim..(i + 1) * dim]);
    }
    let records = Array2::from_shape_vec((idx.len(), dim), buf).map_err(super::linalg::shape)?;
    let centers = match fit_records_seeded(records, k.min(idx.len()), rng) {
        Ok(c) => Centers::new(c),
        // k-means cannot fail on finite data short of degenerate input; one cluster then,
        // said where the user sees it (stderr, or hifi.log under the workstation).
        Err(e) => {
            tracing::warn!(
                "adaptive: k-means over {} rows failed ({e}); exploring the pool as one region",
                idx.len()
            );
            return Ok(Some(vec![0; n]));
        }
    };
    if cancel.is_cancelled() {
        return Ok(None);
    }
    let rows: Vec<u32> = (0..n as u32).collect();
    let chunks = ranges(n, 8192);
    let parts = par_map(&chunks, |r| nearest(data, dim, &rows[r.clone()], &centers));
    let mut out = Vec::with_capacity(n);
    for p in parts {
        out.extend(p?.into_iter().map(|(c, _)| c as usize));
    }
    // Renumber so that only non-empty clusters have ids (0..k').
    let mut id = vec![usize::MAX; centers.len()];
    let mut next = 0;
    for c in out.iter_mut() {
        if id[*c] == usize::MAX {
            id[*c] = next;
            next += 1;
        }
        *c = id[*c];
    }
    Ok(Some(out))
}

/// Members of one cluster, most typical first: typicality is the inverse of the mean distance
/// to the member's nearest fellow members (up to [`TYPICALITY_NEIGHBOURS`]); the score kept is
/// that mean distance (smaller = more typical). Ties by row. A cluster of more than
/// [`TYPICALITY_SAMPLE`] members offers an evenly spaced sample of them.
fn typicality(data: &[f32], dim: usize, members: &[usize]) -> Vec<(usize, f32)> {
    let sample: Vec<usize> = if members.len() > TYPICALITY_SAMPLE {
        (0..TYPICALITY_SAMPLE).map(|i| members[i * members.len() / TYPICALITY_SAMPLE]).collect()
    } else {
        members.to_vec()
    };
    let nb = TYPICALITY_NEIGHBOURS.min(sample.len().saturating_sub(1));
    let mut out: Vec<(usize, f32)> = sample
        .iter()
        .map(|&r| {
            if nb == 0 {
                return (r, 0.0);
            }
            let v = &data[r * dim..(r + 1) * dim];
            let mut d: Vec<f32> = sample
                .iter()
                .filter(|&&o| o != r)
                .map(|&o| sq_dist(v, &data[o * dim..(o + 1) * dim]).sqrt())
                .collect();
            d.select_nth_unstable_by(nb - 1, f32::total_cmp);
            (r, d[..nb].iter().sum::<f32>() / nb as f32)
        })
        .collect();
    out.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_follows_held_out_agreement() {
        assert_eq!(explore_share(None), 1.0);
        assert_eq!(explore_share(Some(-0.1)), 1.0);
        assert_eq!(explore_share(Some(0.0)), 1.0);
        assert!((explore_share(Some(0.2)) - 0.6).abs() < 1e-12);
        assert_eq!(explore_share(Some(0.4)), MIN_EXPLORE_SHARE);
        assert_eq!(explore_share(Some(0.95)), MIN_EXPLORE_SHARE);
        assert_eq!(explore_share(Some(f64::NAN)), 1.0);
    }

    #[test]
    fn the_dense_core_is_most_typical_and_the_outlier_least() {
        // Five points on a line (dim 2): a tight group and one far away.
        let xs = [0.0f32, 0.1, 0.2, 0.3, 5.0];
        let data: Vec<f32> = xs.iter().flat_map(|&x| [x, 0.0]).collect();
        let ranked = typicality(&data, 2, &[0, 1, 2, 3, 4]);
        assert_eq!(ranked.len(), 5);
        assert!(matches!(ranked[0].0, 1 | 2), "{ranked:?}");
        assert_eq!(ranked[4].0, 4, "{ranked:?}");
        assert!(ranked.windows(2).all(|w| w[0].1 <= w[1].1));
    }

    #[test]
    fn interleave_keeps_proportions() {
        let items = |rows: std::ops::Range<usize>| {
            rows.map(|row| MinedItem { row, score: 0.0, cluster: None, explored: false })
                .collect::<Vec<_>>()
        };
        let got: Vec<usize> =
            interleave(items(0..2), items(10..16)).iter().map(|i| i.row).collect();
        assert_eq!(got.len(), 8);
        assert_eq!(got[0], 0, "exploration opens the batch");
        let first_half_a = got[..4].iter().filter(|r| **r < 10).count();
        assert_eq!(first_half_a, 1, "one of two exploration items in each half: {got:?}");
        let only_b: Vec<usize> =
            interleave(Vec::new(), items(10..13)).iter().map(|i| i.row).collect();
        assert_eq!(only_b, vec![10, 11, 12]);
    }
}
