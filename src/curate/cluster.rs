//! Per-label k-means (linfa), fitted on a seeded sample and then applied to every member,
//! with the fitted centres cached per label so re-mining after new expert labels does not
//! fit again.
//!
//! Every row predicted label ℓ belongs to ℓ's clustering, labeled or not: expert labels do
//! not change the geometry of the pool, so the member set (and the cache key) only changes
//! when predictions or embeddings do.

use std::path::Path;

use linfa::traits::Fit;
use linfa::DatasetBase;
use linfa_clustering::{KMeans, KMeansInit};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::linalg::{nearest, par_map, ranges, row, shape, sq_dist, Centers};
use super::pool::PoolView;
use super::MineParams;
use crate::error::Result;
use crate::progress::{CancelToken, Progress};

/// Largest k the rule picks.
pub const MAX_K: usize = 64;
/// Fewer members than this and a label is one cluster (its mean), with a warning.
pub const MIN_ITEMS_TO_CLUSTER: usize = 8;
/// k-means is fitted on at most max(2 000, 96·k) members: enough for 64 centres, and it
/// keeps the fit independent of the pool size; all members are then assigned by gemm.
const MIN_SAMPLE: usize = 2_000;
const SAMPLE_PER_CLUSTER: usize = 96;
const MAX_ITERATIONS: u64 = 20;
const CACHE_MAGIC: &[u8; 8] = b"HIFIMC01";

/// The documented k rule: k = clamp(round(√(n / 2)), 1, 64), and never more than n.
pub fn k_rule(n: usize) -> usize {
    (((n as f64) / 2.0).sqrt().round() as usize).clamp(1, MAX_K).min(n.max(1))
}

/// One label's clustering.
pub(crate) struct LabelClusters {
    pub label: u32,
    /// Rows predicted this label, ascending.
    pub members: Vec<u32>,
    pub centers: Centers,
    /// Cluster of each member (parallel to `members`).
    pub assign: Vec<u32>,
    /// Radius of each cluster: the chosen percentile of member-to-centre distances.
    pub radius: Vec<f32>,
    pub sizes: Vec<usize>,
    pub summary: LabelSummary,
}

/// What the report says about one label's clustering.
#[derive(Debug, Clone, Serialize)]
pub struct LabelSummary {
    pub label: String,
    pub items: usize,
    pub clusters: usize,
    /// The centres came from the cache (the label's members had not changed).
    pub cached: bool,
}

/// Cluster every label. Label `l`'s centres are cached in `<cache_stem>-<l>.bin` inside
/// `cache_dir`. `None` when cancelled.
pub(crate) fn cluster_labels(
    pool: &PoolView,
    params: &MineParams,
    cache_dir: Option<&Path>,
    cache_stem: &str,
    warnings: &mut Vec<String>,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<Option<Vec<LabelClusters>>> {
    let (k_override, percentile, seed) = (params.k, params.overlap_percentile, params.seed);
    let n_labels = pool.label_names.len();
    progress.start("cluster", n_labels as u64);
    let mut out = Vec::with_capacity(n_labels);
    for label in 0..n_labels {
        if cancel.is_cancelled() {
            return Ok(None);
        }
        let name = &pool.label_names[label];
        let members: Vec<u32> =
            (0..pool.len() as u32).filter(|&r| pool.labels[r as usize] == label as u32).collect();
        let n = members.len();
        let k = k_override.map_or_else(|| k_rule(n), |k| k.max(1)).min(n.max(1));
        let mut summary =
            LabelSummary { label: name.clone(), items: n, clusters: 0, cached: false };
        let centers = if n == 0 {
            warnings.push(format!("label {name} has no predicted items: no pairs with it"));
            Centers::new(Array2::zeros((0, pool.dim)))
        } else if n < MIN_ITEMS_TO_CLUSTER {
            warnings.push(format!(
                "label {name} has too few items to cluster ({n}); using one cluster"
            ));
            mean_center(pool, &members)?
        } else {
            let sample = n.min(MIN_SAMPLE.max(SAMPLE_PER_CLUSTER * k));
            let file = cache_dir.map(|d| d.join(format!("{cache_stem}-{label}.bin")));
            let key =
                pool.vectors_id.map(|id| cache_key(pool, id, label, k, seed, sample, &members));
            let cached = match (&file, &key) {
                (Some(f), Some(key)) => load_cache(f, key, k, pool.dim),
                _ => None,
            };
            match cached {
                Some(c) => {
                    summary.cached = true;
                    Centers::new(c)
                }
                None => match fit(pool, &members, k, sample, seed ^ ((label as u64 + 1) << 32)) {
                    Ok(c) => {
                        if let (Some(f), Some(key)) = (&file, &key) {
                            if let Err(e) = save_cache(f, key, &c) {
                                warnings.push(format!(
                                    "could not write the cluster cache {}: {e}",
                                    f.display()
                                ));
                            }
                        }
                        Centers::new(c)
                    }
                    Err(e) => {
                        warnings.push(format!(
                            "k-means failed for label {name} ({e}); using one cluster"
                        ));
                        mean_center(pool, &members)?
                    }
                },
            }
        };
        let lc = assign(pool, label as u32, members, centers, percentile, summary, cancel)?;
        out.push(lc);
        progress.update(label as u64 + 1, name);
    }
    if cancel.is_cancelled() {
        return Ok(None);
    }
    let k_total: usize = out.iter().map(|c| c.sizes.len()).sum();
    progress.finish(&format!("{k_total} clusters over {n_labels} labels"));
    Ok(Some(out))
}

/// k-means on a seeded sample of `members`; returns the centres.
fn fit(
    pool: &PoolView,
    members: &[u32],
    k: usize,
    sample: usize,
    seed: u64,
) -> Result<Array2<f32>, String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut idx: Vec<usize> = if sample < members.len() {
        rand::seq::index::sample(&mut rng, members.len(), sample).into_vec()
    } else {
        (0..members.len()).collect()
    };
    idx.sort_unstable();
    let mut buf = Vec::with_capacity(idx.len() * pool.dim);
    for &i in &idx {
        buf.extend_from_slice(pool.row(members[i] as usize));
    }
    let records = Array2::from_shape_vec((idx.len(), pool.dim), buf).map_err(|e| e.to_string())?;
    fit_records_seeded(records, k, rng)
}

/// k-means with k-means++ seeding on `records` (rows); returns the centres.
pub(crate) fn fit_records_seeded(
    records: Array2<f32>,
    k: usize,
    mut rng: ChaCha8Rng,
) -> Result<Array2<f32>, String> {
    // Our own k-means++ seeding (incremental: O(sample·k·dim)); linfa's recomputes every
    // distance to every chosen centre at each step, O(sample·k²·dim). One run, not linfa's 10:
    // the fit is on a sample and the assignment of all members is what matters.
    let init = kmeans_plus_plus(&records, k, &mut rng);
    let model = KMeans::params_with_rng(k, rng)
        .init_method(KMeansInit::Precomputed(init))
        .n_runs(1)
        .max_n_iterations(MAX_ITERATIONS)
        .tolerance(1e-4)
        .fit(&DatasetBase::from(records))
        .map_err(|e| e.to_string())?;
    Ok(model.centroids().clone())
}

/// Cluster `n = data.len() / dim` row vectors into `k` groups (k-means, seeded); returns each
/// row's cluster. For small sets (LIMO's diversity quota), not the pool-scale path above.
pub(crate) fn kmeans_assign(
    data: &[f32],
    dim: usize,
    k: usize,
    seed: u64,
) -> Result<Vec<usize>, String> {
    let n = data.len().checked_div(dim).unwrap_or(0);
    let k = k.clamp(1, n.max(1));
    if n <= 1 || k == 1 {
        return Ok(vec![0; n]);
    }
    let records = Array2::from_shape_vec((n, dim), data.to_vec()).map_err(|e| e.to_string())?;
    let centers = fit_records_seeded(records, k, ChaCha8Rng::seed_from_u64(seed))?;
    Ok((0..n)
        .map(|i| {
            let r = row(data, dim, i);
            (0..centers.nrows())
                .map(|c| {
                    (c, centers.row(c).iter().zip(r).map(|(a, b)| (a - b) * (a - b)).sum::<f32>())
                })
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map_or(0, |(c, _)| c)
        })
        .collect())
}

/// k-means++ seeding: each next centre is drawn with probability proportional to the squared
/// distance to the nearest centre so far.
fn kmeans_plus_plus(records: &Array2<f32>, k: usize, rng: &mut ChaCha8Rng) -> Array2<f32> {
    let (s, dim) = records.dim();
    let data = records
        .as_slice()
        .map(<[f32]>::to_vec)
        .unwrap_or_else(|| records.iter().copied().collect());
    let mut centers = Array2::<f32>::zeros((k, dim));
    let mut mind = vec![f32::INFINITY; s];
    let mut pick = rng.gen_range(0..s);
    for c in 0..k {
        centers.row_mut(c).assign(&records.row(pick));
        let cr = row(&data, dim, pick).to_vec();
        for (i, m) in mind.iter_mut().enumerate() {
            let d = sq_dist(row(&data, dim, i), &cr);
            if d < *m {
                *m = d;
            }
        }
        let total: f64 = mind.iter().map(|d| f64::from(*d)).sum();
        if total <= 0.0 {
            // Every point sits on a centre: further centres may be any point.
            pick = (pick + 1) % s;
            continue;
        }
        let mut r = rng.gen::<f64>() * total;
        pick = s - 1;
        for (i, d) in mind.iter().enumerate() {
            r -= f64::from(*d);
            if r <= 0.0 {
                pick = i;
                break;
            }
        }
    }
    centers
}

fn mean_center(pool: &PoolView, members: &[u32]) -> Result<Centers> {
    let mut c = vec![0f64; pool.dim];
    for &m in members {
        for (s, v) in c.iter_mut().zip(pool.row(m as usize)) {
            *s += f64::from(*v);
        }
    }
    let n = members.len().max(1) as f64;
    let data = Array2::from_shape_vec((1, pool.dim), c.iter().map(|s| (s / n) as f32).collect())
        .map_err(shape)?;
    Ok(Centers::new(data))
}

/// Assign every member to its nearest centre, drop empty clusters, compute radii.
fn assign(
    pool: &PoolView,
    label: u32,
    members: Vec<u32>,
    centers: Centers,
    percentile: f64,
    mut summary: LabelSummary,
    cancel: &CancelToken,
) -> Result<LabelClusters> {
    let chunks = ranges(members.len(), 8192);
    let parts = par_map(&chunks, |r| {
        if cancel.is_cancelled() {
            return Ok(Vec::new());
        }
        nearest(pool.vectors, pool.dim, &members[r.clone()], &centers)
    });
    let mut near = Vec::with_capacity(members.len());
    for p in parts {
        near.extend(p?);
    }
    if near.len() != members.len() {
        // Cancelled part-way: an empty clustering, which the caller throws away.
        near.resize(members.len(), (0, 0.0));
    }
    let k = centers.len();
    let mut dists: Vec<Vec<f32>> = vec![Vec::new(); k];
    for (c, d) in &near {
        dists[*c as usize].push(*d);
    }
    // Renumber the non-empty clusters 0.. in centre order.
    let mut remap = vec![u32::MAX; k];
    let mut kept = Vec::new();
    for (c, ds) in dists.iter().enumerate() {
        if !ds.is_empty() {
            remap[c] = kept.len() as u32;
            kept.push(c);
        }
    }
    let mut data = Array2::<f32>::zeros((kept.len(), pool.dim));
    for (new, &old) in kept.iter().enumerate() {
        data.row_mut(new).assign(&centers.data.row(old));
    }
    let radius = kept.iter().map(|&c| percentile_of(&mut dists[c], percentile)).collect();
    let sizes = kept.iter().map(|&c| dists[c].len()).collect();
    let assign = near.iter().map(|(c, _)| remap[*c as usize]).collect();
    summary.clusters = kept.len();
    Ok(LabelClusters {
        label,
        members,
        centers: Centers::new(data),
        assign,
        radius,
        sizes,
        summary,
    })
}

/// The `p`-th percentile (0 < p ≤ 100, nearest rank) of `xs`; 0 for an empty slice.
pub(crate) fn percentile_of(xs: &mut [f32], p: f64) -> f32 {
    if xs.is_empty() {
        return 0.0;
    }
    let rank = ((p.clamp(0.0, 100.0) / 100.0) * xs.len() as f64).ceil() as usize;
    let i = rank.clamp(1, xs.len()) - 1;
    let (_, v, _) = xs.select_nth_unstable_by(i, f32::total_cmp);
    *v
}

fn cache_key(
    pool: &PoolView,
    vectors_id: &str,
    label: usize,
    k: usize,
    seed: u64,
    sample: usize,
    members: &[u32],
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"hifi mine clusters v1\0");
    h.update(vectors_id.as_bytes());
    h.update([0]);
    h.update(pool.label_names[label].as_bytes());
    for x in [pool.dim as u64, k as u64, seed, sample as u64, MAX_ITERATIONS, members.len() as u64]
    {
        h.update(x.to_le_bytes());
    }
    for &m in members {
        h.update(pool.keys[m as usize].to_le_bytes());
    }
    h.finalize().into()
}

/// Centres from the cache file when it was written for exactly this key; anything else
/// (missing, stale, torn, another format) is a miss.
fn load_cache(file: &Path, key: &[u8; 32], k: usize, dim: usize) -> Option<Array2<f32>> {
    let bytes = std::fs::read(file).ok()?;
    let head = 8 + 32 + 8;
    if bytes.len() < head || &bytes[..8] != CACHE_MAGIC || &bytes[8..40] != key {
        return None;
    }
    let u32_at = |o: usize| {
        u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
    };
    let (fk, fdim) = (u32_at(40), u32_at(44));
    if fk != k || fdim != dim || bytes.len() != head + k * dim * 4 {
        return None;
    }
    let vals: Vec<f32> = bytes[head..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if vals.iter().any(|v| !v.is_finite()) {
        return None;
    }
    Array2::from_shape_vec((k, dim), vals).ok()
}

/// Write the cache atomically (temp file, then rename): a reader never sees half a file.
fn save_cache(file: &Path, key: &[u8; 32], centers: &Array2<f32>) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(48 + centers.len() * 4);
    bytes.extend_from_slice(CACHE_MAGIC);
    bytes.extend_from_slice(key);
    bytes.extend_from_slice(&(centers.nrows() as u32).to_le_bytes());
    bytes.extend_from_slice(&(centers.ncols() as u32).to_le_bytes());
    for v in centers.iter() {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    crate::files::write_atomic(file, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_rule_and_percentile() {
        assert_eq!(k_rule(0), 1);
        assert_eq!(k_rule(3), 1);
        assert_eq!(k_rule(200), 10);
        assert_eq!(k_rule(1_000_000), 64);
        let mut xs = vec![5.0, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(percentile_of(&mut xs, 90.0), 5.0);
        assert_eq!(percentile_of(&mut xs, 40.0), 2.0);
        assert_eq!(percentile_of(&mut [], 90.0), 0.0);
    }

    #[test]
    fn cache_round_trips_and_rejects_other_keys() {
        let dir = std::env::temp_dir().join(format!("hifi-mc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("c.bin");
        let c = Array2::from_shape_vec((2, 3), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        save_cache(&f, &[7; 32], &c).unwrap();
        assert_eq!(load_cache(&f, &[7; 32], 2, 3), Some(c));
        assert_eq!(load_cache(&f, &[8; 32], 2, 3), None);
        assert_eq!(load_cache(&f, &[7; 32], 3, 3), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
