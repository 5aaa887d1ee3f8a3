//! Diversity order and the near-duplicate guard (docs/methods.md#diversity-order-and-near-duplicates).
//!
//! Pairs are ordered farthest-point first (greedy k-center) over their midpoints: each next
//! pair is the one whose midpoint is farthest from everything already chosen *and* from every
//! item experts already labeled, so a small budget covers many regions of the boundary
//! instead of many pairs from the one region that is most confused. With nothing labeled yet,
//! the closest pair (the tightest boundary) opens the queue.

use hnsw_rs::anndists::dist::DistL2;
use hnsw_rs::hnsw::Hnsw;
use ndarray::{Array1, Array2};

use super::linalg::{par_map, ranges, sq_dists, Centers};
use super::pairs::Candidate;
use super::pool::PoolView;
use crate::error::Result;
use crate::progress::CancelToken;

/// Items already queued or labeled, in an HNSW index: an item within `threshold` of one of
/// them is a near-duplicate and is not queued again.
pub(crate) struct Dedup {
    index: Option<Hnsw<'static, f32, DistL2>>,
    threshold: f32,
    next_id: usize,
    /// Items refused as near-duplicates.
    pub found: usize,
}

impl Dedup {
    /// `threshold` ≤ 0, or no vectors: every check passes.
    pub fn new(pool: &PoolView, threshold: f32, capacity: usize) -> Self {
        let index = (threshold > 0.0 && pool.dim > 0)
            .then(|| Hnsw::new(16, capacity.max(16), 16, 48, DistL2 {}));
        Self { index, threshold, next_id: 0, found: 0 }
    }

    /// Whether `v` lies within the threshold of an item already added.
    pub fn is_duplicate(&self, v: &[f32]) -> bool {
        let Some(index) = &self.index else { return false };
        index.search(v, 1, 24).first().is_some_and(|n| n.distance < self.threshold)
    }

    pub fn add(&mut self, v: &[f32]) {
        if let Some(index) = &self.index {
            index.insert_slice((v, self.next_id));
            self.next_id += 1;
        }
    }

    /// Check the rows together, count a refusal, add them when they pass.
    pub fn admit(&mut self, pool: &PoolView, rows: &[u32]) -> bool {
        if rows.iter().any(|r| self.is_duplicate(pool.row(*r as usize))) {
            self.found += 1;
            return false;
        }
        for r in rows {
            self.add(pool.row(*r as usize));
        }
        true
    }
}

/// Order `cands` for diversity and take up to `budget`, skipping pairs that reuse an item or
/// hold a near-duplicate of a queued or labeled item. Returns indices into `cands`, or `None`
/// when cancelled.
pub(crate) fn order_pairs(
    pool: &PoolView,
    cands: &[Candidate],
    budget: usize,
    dedup: &mut Dedup,
    cancel: &CancelToken,
) -> Result<Option<Vec<usize>>> {
    let dim = pool.dim;
    let n = cands.len();
    if n == 0 || budget == 0 {
        return Ok(Some(Vec::new()));
    }
    let mut mids = Array2::<f32>::zeros((n, dim));
    for (i, c) in cands.iter().enumerate() {
        let (x, y) = (pool.row(c.x as usize), pool.row(c.y as usize));
        for ((m, a), b) in mids.row_mut(i).iter_mut().zip(x).zip(y) {
            *m = 0.5 * (a + b);
        }
    }
    let mid_norms: Array1<f32> = mids.rows().into_iter().map(|r| r.dot(&r)).collect();
    let seeds: Vec<u32> = (0..pool.len() as u32).filter(|r| pool.labeled[*r as usize]).collect();
    // Squared distance of each midpoint to its nearest seed or chosen midpoint.
    let mut mind = if seeds.is_empty() {
        vec![f32::INFINITY; n]
    } else {
        min_sq_dist_to_rows(pool, &mids, &seeds, cancel)?
    };
    if cancel.is_cancelled() {
        return Ok(None);
    }
    let mut alive = vec![true; n];
    let mut used = std::collections::HashSet::new();
    let mut chosen = Vec::new();
    while chosen.len() < budget {
        if cancel.is_cancelled() {
            return Ok(None);
        }
        // Farthest first; among equals (all infinite before anything is chosen) the closest pair.
        let mut best: Option<usize> = None;
        for i in (0..n).filter(|i| alive[*i]) {
            best = match best {
                None => Some(i),
                Some(b) if mind[i] > mind[b] || (mind[i] == mind[b] && cands[i].d < cands[b].d) => {
                    Some(i)
                }
                keep => keep,
            };
        }
        let Some(i) = best else { break };
        alive[i] = false;
        let c = cands[i];
        if used.contains(&c.x) || used.contains(&c.y) || !dedup.admit(pool, &[c.x, c.y]) {
            continue;
        }
        used.insert(c.x);
        used.insert(c.y);
        chosen.push(i);
        // Update distances to the new midpoint: ‖m‖² + ‖m_i‖² − 2·m·m_i via one mat-vec.
        let mi = mids.row(i);
        let dots = mids.dot(&mi);
        let ni = mid_norms[i];
        for j in 0..n {
            if alive[j] {
                let d = (mid_norms[j] + ni - 2.0 * dots[j]).max(0.0);
                if d < mind[j] {
                    mind[j] = d;
                }
            }
        }
    }
    Ok(Some(chosen))
}

/// For each row of `points`, the squared distance to the nearest of `rows` (blocks of rows as
/// centres, in parallel over blocks of points).
fn min_sq_dist_to_rows(
    pool: &PoolView,
    points: &Array2<f32>,
    rows: &[u32],
    cancel: &CancelToken,
) -> Result<Vec<f32>> {
    let n = points.nrows();
    let flat =
        points.as_slice().map(<[f32]>::to_vec).unwrap_or_else(|| points.iter().copied().collect());
    let mut mind = vec![f32::INFINITY; n];
    for block in rows.chunks(4096) {
        if cancel.is_cancelled() {
            break;
        }
        let centers = Centers::from_rows(pool.vectors, pool.dim, block)?;
        let parts = par_map(&ranges(n, 2048), |r| {
            let idx: Vec<u32> = (r.start as u32..r.end as u32).collect();
            sq_dists(&flat, pool.dim, &idx, &centers).map(|d| {
                d.rows()
                    .into_iter()
                    .map(|row| row.iter().copied().fold(f32::INFINITY, f32::min))
                    .collect::<Vec<f32>>()
            })
        });
        let mut i = 0;
        for p in parts {
            for v in p? {
                mind[i] = mind[i].min(v);
                i += 1;
            }
        }
    }
    Ok(mind)
}
