//! Distance blocks and a small parallel map. Row-to-centre distances go through a matrix
//! product (‖x‖² + ‖c‖² − 2·x·c, ndarray's gemm): the hot loop then lives in an optimised
//! dependency instead of a hand loop, and is several times faster than pairwise loops.

use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::{Array2, ArrayView2};

use crate::error::{Error, Result};

/// Rows gathered per matrix product: large enough for gemm to be efficient, small enough that
/// the block (rows × dim and rows × centres) stays in cache-friendly sizes.
const BLOCK: usize = 1024;

/// A set of centres (k × dim) with their squared norms.
pub(crate) struct Centers {
    pub data: Array2<f32>,
    pub norms: Vec<f32>,
}

impl Centers {
    pub fn new(data: Array2<f32>) -> Self {
        let norms = data.rows().into_iter().map(|r| r.dot(&r)).collect();
        Self { data, norms }
    }

    /// Centres from `rows` of `vectors`.
    pub fn from_rows(vectors: &[f32], dim: usize, rows: &[u32]) -> Result<Self> {
        let mut buf = Vec::with_capacity(rows.len() * dim);
        for &r in rows {
            buf.extend_from_slice(row(vectors, dim, r as usize));
        }
        let data = Array2::from_shape_vec((rows.len(), dim), buf).map_err(shape)?;
        Ok(Self::new(data))
    }

    pub fn len(&self) -> usize {
        self.data.nrows()
    }
}

pub(crate) fn shape(e: ndarray::ShapeError) -> Error {
    Error::Input(format!("mining: inconsistent array shape ({e})"))
}

#[inline]
pub(crate) fn row(vectors: &[f32], dim: usize, r: usize) -> &[f32] {
    &vectors[r * dim..(r + 1) * dim]
}

/// Squared Euclidean distance.
#[inline]
pub(crate) fn sq_dist(a: &[f32], b: &[f32]) -> f32 {
    // Eight independent sums so the compiler can keep them in one vector register.
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for j in 0..8 {
            let d = x[j] - y[j];
            acc[j] += d * d;
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += (x - y) * (x - y);
    }
    s
}

/// Squared distances from `rows` of `vectors` to every centre: a `rows.len() × k` matrix,
/// computed in blocks of [`BLOCK`] rows. Single-threaded: callers parallelise over work items.
pub(crate) fn sq_dists(
    vectors: &[f32],
    dim: usize,
    rows: &[u32],
    centers: &Centers,
) -> Result<Array2<f32>> {
    let k = centers.len();
    let mut out = Array2::<f32>::zeros((rows.len(), k));
    if k == 0 || rows.is_empty() {
        return Ok(out);
    }
    let mut buf = Vec::with_capacity(BLOCK.min(rows.len()) * dim);
    for (b, chunk) in rows.chunks(BLOCK).enumerate() {
        buf.clear();
        for &r in chunk {
            buf.extend_from_slice(row(vectors, dim, r as usize));
        }
        let x = ArrayView2::from_shape((chunk.len(), dim), &buf[..]).map_err(shape)?;
        let g = x.dot(&centers.data.t());
        for (i, grow) in g.rows().into_iter().enumerate() {
            let xi = &buf[i * dim..(i + 1) * dim];
            let xn: f32 = xi.iter().map(|v| v * v).sum();
            let mut orow = out.row_mut(b * BLOCK + i);
            for ((o, gv), cn) in orow.iter_mut().zip(grow.iter()).zip(&centers.norms) {
                // Cancellation can make it slightly negative for near-identical points.
                *o = (xn + cn - 2.0 * gv).max(0.0);
            }
        }
    }
    Ok(out)
}

/// For each of `rows`, the nearest centre and the (non-squared) distance to it.
pub(crate) fn nearest(
    vectors: &[f32],
    dim: usize,
    rows: &[u32],
    centers: &Centers,
) -> Result<Vec<(u32, f32)>> {
    let d = sq_dists(vectors, dim, rows, centers)?;
    Ok(d.rows()
        .into_iter()
        .map(|r| {
            let mut best = (0u32, f32::INFINITY);
            for (j, v) in r.iter().enumerate() {
                if *v < best.1 {
                    best = (j as u32, *v);
                }
            }
            (best.0, best.1.sqrt())
        })
        .collect())
}

/// Threads for the parallel parts: the machine's cores, at most 16.
pub(crate) fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 16)
}

/// `f` over `items` on up to [`threads`] threads, results in input order. Items are handed
/// out one at a time, so uneven items (big and small clusters) still balance.
pub(crate) fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let n_threads = threads().min(items.len());
    if n_threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let mut parts: Vec<Vec<(usize, R)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n_threads)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= items.len() {
                            break;
                        }
                        out.push((i, f(&items[i])));
                    }
                    out
                })
            })
            .collect();
        // A worker only panics on a bug; re-raise it here rather than lose its results.
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut all: Vec<(usize, R)> = parts.iter_mut().flat_map(std::mem::take).collect();
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}

/// `0..n` cut into ranges of at most `size`, for [`par_map`] over row chunks.
pub(crate) fn ranges(n: usize, size: usize) -> Vec<std::ops::Range<usize>> {
    let size = size.max(1);
    (0..n.div_ceil(size)).map(|i| i * size..((i + 1) * size).min(n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_distances_match_direct_ones() {
        let dim = 13;
        let v: Vec<f32> = (0..dim * 40).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect();
        let centers = Centers::from_rows(&v, dim, &[3, 17, 29]).unwrap();
        let rows: Vec<u32> = (0..40).collect();
        let d = sq_dists(&v, dim, &rows, &centers).unwrap();
        for r in 0..40 {
            for (j, c) in [3usize, 17, 29].iter().enumerate() {
                let direct = sq_dist(row(&v, dim, r), row(&v, dim, *c));
                assert!((d[[r, j]] - direct).abs() < 1e-4, "{r} {j}: {} vs {direct}", d[[r, j]]);
            }
        }
        assert_eq!(par_map(&[1, 2, 3, 4, 5], |x| x * 2), vec![2, 4, 6, 8, 10]);
        assert_eq!(ranges(5, 2), vec![0..2, 2..4, 4..5]);
    }
}
