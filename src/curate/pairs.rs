//! Boundary pairs (docs/methods.md#boundary-pairs).
//!
//! 1. **Overlap test**: clusters A and B of different labels overlap when
//!    ‖c_A − c_B‖ < r_A + r_B, r being a percentile (default 90th) of member-to-centre
//!    distances. Overlaps are ranked by depth (r_A + r_B − d) / (r_A + r_B); at most
//!    [`MAX_OVERLAPS`] deepest are used.
//! 2. **Frontier**: in each overlapping pair, the `frontier` unlabeled members of A nearest
//!    c_B (and of B nearest c_A): where A's members face B. Cheap (one gemm per cluster),
//!    and it bounds the index to the boundary zone instead of the whole pool.
//! 3. **ANN**: one HNSW index (hnsw_rs) per label over that label's frontier rows. Each
//!    frontier row of A queries the index of every label A overlaps with; a neighbour y in a
//!    cluster B that overlaps A gives the candidate (x, y). Symmetric queries meet in the
//!    middle, and per overlap the `pairs_per_overlap` nearest item-disjoint pairs stay (more
//!    when the budget needs more: 2·budget / overlaps).
//! 4. **Filters**: a pair at least as far apart as the typical cross-label distance (median
//!    over random differently-labeled rows) is no boundary; a pair closer than the
//!    near-duplicate threshold is one text twice — both are dropped (the latter counted).
//!
//! Indexes are built sequentially per label (labels in parallel) so that, with hnsw_rs's fixed
//! level seed, the same input gives the same graph and the same pairs.

use std::collections::HashMap;
use std::time::Instant;

use hnsw_rs::anndists::dist::DistL2;
use hnsw_rs::hnsw::Hnsw;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::cluster::LabelClusters;
use super::linalg::{par_map, ranges, shape, sq_dist, sq_dists, Centers};
use super::pool::PoolView;
use super::MineParams;
use crate::error::Result;
use crate::progress::{CancelToken, Progress};

/// Overlapping cluster pairs examined at most (the deepest ones).
pub const MAX_OVERLAPS: usize = 4096;
/// Frontier slots (2 × overlaps × frontier) at most: bounds the index and the queries, the
/// costly part when every cluster overlaps (4 096 × 2 × 32, the defaults' worst case).
pub const MAX_FRONTIER_SLOTS: usize = 262_144;
const HNSW_M: usize = 12;
const HNSW_LAYERS: usize = 16;
const HNSW_EF_CONSTRUCTION: usize = 40;
const KNN: usize = 10;
const EF_SEARCH: usize = 32;
const NO_CLUSTER: u32 = u32::MAX;

/// The clusters of all labels, numbered globally (label by label).
pub(crate) struct Clusters<'c> {
    pub by_label: &'c [LabelClusters],
    /// Global cluster of each pool row.
    pub of_row: Vec<u32>,
    /// (label, cluster within the label) of each global cluster.
    pub tag: Vec<(u32, u32)>,
}

impl<'c> Clusters<'c> {
    pub fn new(by_label: &'c [LabelClusters], n_rows: usize) -> Self {
        let mut of_row = vec![NO_CLUSTER; n_rows];
        let mut tag = Vec::new();
        for lc in by_label {
            let off = tag.len() as u32;
            for (m, a) in lc.members.iter().zip(&lc.assign) {
                of_row[*m as usize] = off + a;
            }
            tag.extend((0..lc.sizes.len() as u32).map(|c| (lc.label, c)));
        }
        Self { by_label, of_row, tag }
    }

    pub fn radius(&self, g: u32) -> f32 {
        let (l, c) = self.tag[g as usize];
        self.by_label[l as usize].radius[c as usize]
    }

    pub fn size(&self, g: u32) -> usize {
        let (l, c) = self.tag[g as usize];
        self.by_label[l as usize].sizes[c as usize]
    }

    fn center<'a>(&'a self, g: u32) -> ndarray::ArrayView1<'a, f32> {
        let (l, c) = self.tag[g as usize];
        self.by_label[l as usize].centers.data.row(c as usize)
    }
}

/// Two overlapping clusters of different labels (`a`'s label < `b`'s), global ids.
#[derive(Debug, Clone)]
pub(crate) struct Overlap {
    pub a: u32,
    pub b: u32,
    pub centroid_distance: f32,
}

/// A candidate pair: rows `x` (in overlap.a) and `y` (in overlap.b), `d` apart.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate {
    pub x: u32,
    pub y: u32,
    pub d: f32,
    pub overlap: u32,
}

/// What the boundary search found.
pub(crate) struct Boundary {
    pub overlaps: Vec<Overlap>,
    /// Overlapping pairs before the [`MAX_OVERLAPS`] cap.
    pub overlaps_found: usize,
    pub candidates: Vec<Candidate>,
    pub near_duplicate_pairs: usize,
    pub typical_cross_distance: Option<f32>,
    pub index_rows: usize,
    pub seconds_index: f64,
    pub seconds_search: f64,
}

/// Overlapping cluster pairs, deepest first.
pub(crate) fn overlaps(cl: &Clusters, warnings: &mut Vec<String>) -> Result<(Vec<Overlap>, usize)> {
    let k = cl.tag.len();
    let dim = cl.by_label.first().map_or(0, |l| l.centers.data.ncols());
    let mut stacked = Vec::with_capacity(k * dim);
    for g in 0..k as u32 {
        stacked.extend(cl.center(g).iter());
    }
    let all: Vec<u32> = (0..k as u32).collect();
    let centers = Centers::new(Array2::from_shape_vec((k, dim), stacked.clone()).map_err(shape)?);
    let d2 = sq_dists(&stacked, dim, &all, &centers)?;
    let mut found = Vec::new();
    for a in 0..k {
        for b in a + 1..k {
            if cl.tag[a].0 == cl.tag[b].0 {
                continue;
            }
            let d = d2[[a, b]].sqrt();
            let reach = cl.radius(a as u32) + cl.radius(b as u32);
            if d < reach {
                let depth = (reach - d) / reach.max(f32::MIN_POSITIVE);
                found.push((depth, Overlap { a: a as u32, b: b as u32, centroid_distance: d }));
            }
        }
    }
    found.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.a.cmp(&y.1.a)).then(x.1.b.cmp(&y.1.b)));
    let n_found = found.len();
    if n_found > MAX_OVERLAPS {
        warnings.push(format!(
            "{n_found} overlapping cluster pairs; searched the {MAX_OVERLAPS} deepest"
        ));
        found.truncate(MAX_OVERLAPS);
    }
    Ok((found.into_iter().map(|(_, o)| o).collect(), n_found))
}

/// Find candidate boundary pairs. `None` when cancelled.
pub(crate) fn boundary(
    pool: &PoolView,
    cl: &Clusters,
    params: &MineParams,
    warnings: &mut Vec<String>,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<Option<Boundary>> {
    let (overlaps, overlaps_found) = overlaps(cl, warnings)?;
    let k = cl.tag.len();
    let n_labels = pool.label_names.len();
    // partners[A] = (B, overlap index) for every overlap A takes part in.
    let mut partners: Vec<Vec<(u32, u32)>> = vec![Vec::new(); k];
    let mut overlap_of: HashMap<(u32, u32), u32> = HashMap::new();
    for (i, o) in overlaps.iter().enumerate() {
        partners[o.a as usize].push((o.b, i as u32));
        partners[o.b as usize].push((o.a, i as u32));
        overlap_of.insert((o.a, o.b), i as u32);
    }
    let t_index = Instant::now();
    progress.start("frontier", k as u64);
    let active: Vec<u32> = (0..k as u32).filter(|g| !partners[*g as usize].is_empty()).collect();
    // A budget beyond what `pairs_per_overlap` pairs per overlap can fill takes more per
    // overlap (with a frontier wide enough to hold them) rather than falling short.
    let per_overlap = params
        .pairs_per_overlap
        .max(1)
        .max(params.budget.saturating_mul(2).div_ceil(overlaps.len().max(1)));
    let m = params
        .frontier
        .max(1)
        .max(4 * per_overlap)
        .min((MAX_FRONTIER_SLOTS / (2 * overlaps.len().max(1))).max(4));
    let fronts = par_map(&active, |&g| {
        if cancel.is_cancelled() {
            Ok(Vec::new())
        } else {
            frontier(pool, cl, g, &partners[g as usize], m)
        }
    });
    let mut boundary_rows: Vec<Vec<u32>> = vec![Vec::new(); n_labels];
    for (g, f) in active.iter().zip(fronts) {
        boundary_rows[cl.tag[*g as usize].0 as usize].extend(f?);
    }
    for rows in &mut boundary_rows {
        rows.sort_unstable();
        rows.dedup();
    }
    if cancel.is_cancelled() {
        return Ok(None);
    }
    let index_rows: usize = boundary_rows.iter().map(Vec::len).sum();
    progress.start("index", index_rows as u64);
    let labels: Vec<usize> = (0..n_labels).collect();
    let indexes: Vec<Option<Hnsw<'static, f32, DistL2>>> = par_map(&labels, |&l| {
        let rows = &boundary_rows[l];
        if rows.is_empty() || cancel.is_cancelled() {
            return None;
        }
        let h = Hnsw::new(HNSW_M, rows.len(), HNSW_LAYERS, HNSW_EF_CONSTRUCTION, DistL2 {});
        for &r in rows {
            h.insert_slice((pool.row(r as usize), r as usize));
        }
        Some(h)
    });
    let seconds_index = t_index.elapsed().as_secs_f64();
    if cancel.is_cancelled() {
        return Ok(None);
    }
    progress.finish(&format!("{index_rows} boundary rows indexed"));

    let t_search = Instant::now();
    progress.start("pairs", index_rows as u64);
    // Labels each cluster overlaps with: the indexes its frontier rows query.
    let partner_labels: Vec<Vec<u32>> = partners
        .iter()
        .map(|ps| {
            let mut ls: Vec<u32> = ps.iter().map(|(b, _)| cl.tag[*b as usize].0).collect();
            ls.sort_unstable();
            ls.dedup();
            ls
        })
        .collect();
    let mut work = Vec::new();
    for (l, rows) in boundary_rows.iter().enumerate() {
        for r in ranges(rows.len(), 512) {
            work.push((l, r));
        }
    }
    let found = par_map(&work, |(l, r)| {
        let mut out = Vec::new();
        if cancel.is_cancelled() {
            return out;
        }
        for &x in &boundary_rows[*l][r.clone()] {
            let a = cl.of_row[x as usize];
            for &lb in &partner_labels[a as usize] {
                let Some(index) = &indexes[lb as usize] else { continue };
                let mut seen: Vec<u32> = Vec::new();
                for nb in index.search(pool.row(x as usize), KNN, EF_SEARCH) {
                    let y = nb.d_id as u32;
                    let b = cl.of_row[y as usize];
                    // The nearest neighbour per cluster B only: farther ones add nothing new.
                    if seen.contains(&b) {
                        continue;
                    }
                    seen.push(b);
                    let (lo, hi, rx, ry) = if a < b { (a, b, x, y) } else { (b, a, y, x) };
                    if let Some(&o) = overlap_of.get(&(lo, hi)) {
                        out.push(Candidate { x: rx, y: ry, d: nb.distance, overlap: o });
                    }
                }
            }
        }
        out
    });
    if cancel.is_cancelled() {
        return Ok(None);
    }
    let raw: Vec<Candidate> = found.into_iter().flatten().collect();
    let typical = typical_cross_distance(pool, params.seed);
    let (candidates, near_duplicate_pairs) =
        select_candidates(pool, raw, overlaps.len(), per_overlap, params, typical);
    let seconds_search = t_search.elapsed().as_secs_f64();
    progress.finish(&format!(
        "{} candidate pairs from {} overlapping cluster pairs",
        candidates.len(),
        overlaps.len()
    ));
    Ok(Some(Boundary {
        overlaps,
        overlaps_found,
        candidates,
        near_duplicate_pairs,
        typical_cross_distance: typical,
        index_rows,
        seconds_index,
        seconds_search,
    }))
}

/// The frontier rows of global cluster `g`: for each partner, the `m` unlabeled members
/// nearest the partner's centre.
fn frontier(
    pool: &PoolView,
    cl: &Clusters,
    g: u32,
    partners: &[(u32, u32)],
    m: usize,
) -> Result<Vec<u32>> {
    let (l, c) = cl.tag[g as usize];
    let lc = &cl.by_label[l as usize];
    let rows: Vec<u32> = lc
        .members
        .iter()
        .zip(&lc.assign)
        .filter(|(r, a)| **a == c && !pool.labeled[**r as usize])
        .map(|(r, _)| *r)
        .collect();
    let mut pc = Array2::<f32>::zeros((partners.len(), pool.dim));
    for (i, (b, _)) in partners.iter().enumerate() {
        pc.row_mut(i).assign(&cl.center(*b));
    }
    let pc = Centers::new(pc);
    // Per partner, the best m so far as (squared distance, row); chunked so a huge cluster
    // never needs a rows × partners matrix at once.
    let mut best: Vec<Vec<(f32, u32)>> = vec![Vec::new(); partners.len()];
    for chunk in rows.chunks(16_384) {
        let d2 = sq_dists(pool.vectors, pool.dim, chunk, &pc)?;
        for (j, keep) in best.iter_mut().enumerate() {
            keep.extend(chunk.iter().enumerate().map(|(i, r)| (d2[[i, j]], *r)));
            if keep.len() > m {
                keep.select_nth_unstable_by(m - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                keep.truncate(m);
            }
        }
    }
    Ok(best.into_iter().flatten().map(|(_, r)| r).collect())
}

/// Median distance between random rows of different predicted labels (2 000 draws, seeded).
pub(crate) fn typical_cross_distance(pool: &PoolView, seed: u64) -> Option<f32> {
    let n = pool.len();
    if n < 2 || pool.dim == 0 {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7970_6963_616c);
    let mut ds = Vec::new();
    for _ in 0..20_000 {
        if ds.len() >= 2_000 {
            break;
        }
        let (i, j) = (rng.gen_range(0..n), rng.gen_range(0..n));
        if pool.labels[i] != pool.labels[j] {
            ds.push(sq_dist(pool.row(i), pool.row(j)).sqrt());
        }
    }
    if ds.is_empty() {
        return None;
    }
    Some(super::cluster::percentile_of(&mut ds, 50.0))
}

/// Per overlap (deepest first), the nearest pairs whose items no kept pair uses yet; then the
/// cap on candidates. A pair whose
/// items are near-duplicates of each other, or whose item is a near-duplicate (not the same
/// item) of one already kept for the overlap, is refused and counted.
fn select_candidates(
    pool: &PoolView,
    mut raw: Vec<Candidate>,
    n_overlaps: usize,
    per_overlap: usize,
    params: &MineParams,
    typical: Option<f32>,
) -> (Vec<Candidate>, usize) {
    raw.sort_by(|p, q| {
        p.overlap.cmp(&q.overlap).then(p.d.total_cmp(&q.d)).then(p.x.cmp(&q.x)).then(p.y.cmp(&q.y))
    });
    raw.dedup_by(|p, q| p.x == q.x && p.y == q.y);
    let t2 = params.dup_threshold * params.dup_threshold;
    let near = |a: u32, b: u32| a != b && sq_dist(pool.row(a as usize), pool.row(b as usize)) < t2;
    let mut near_dups = 0;
    let mut ranked: Vec<(usize, Candidate)> = Vec::new();
    let mut kept: Vec<u32> = Vec::new();
    // Items taken by a deeper overlap's pair: the ordering could never use both pairs.
    let mut taken: std::collections::HashSet<u32> = std::collections::HashSet::new();
    let mut current = u32::MAX;
    for c in raw {
        if c.overlap != current {
            current = c.overlap;
            kept.clear();
        }
        let rank = kept.len() / 2;
        if rank >= per_overlap || typical.is_some_and(|t| c.d >= t) {
            continue;
        }
        if c.d < params.dup_threshold || kept.iter().any(|k| near(*k, c.x) || near(*k, c.y)) {
            near_dups += 1;
            continue;
        }
        if taken.contains(&c.x) || taken.contains(&c.y) {
            continue;
        }
        kept.extend([c.x, c.y]);
        taken.extend([c.x, c.y]);
        ranked.push((rank, c));
    }
    // Cap: every overlap's best pair before any overlap's second.
    let cap = (params.budget.saturating_mul(20)).max(10_000).max(n_overlaps);
    ranked.sort_by(|(ra, a), (rb, b)| {
        ra.cmp(rb).then(a.d.total_cmp(&b.d)).then(a.overlap.cmp(&b.overlap))
    });
    ranked.truncate(cap);
    (ranked.into_iter().map(|(_, c)| c).collect(), near_dups)
}
