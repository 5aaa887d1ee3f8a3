//! Seeded synthetic pools with known boundaries, for the benchmark and the tests.
//!
//! Regions sit at 3·e_r (orthogonal directions, so they are far apart) with isotropic noise of
//! norm ≈ 1. A *boundary region* holds two labels split by a hyperplane through its centre
//! (normal u_r, random): the true boundary. A *pure region* holds one label. Vectors are then
//! L2-normalised like real embeddings. The model is right: the predicted label is the side of
//! the hyperplane, with probabilities that get less sure near it.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::linalg::threads;
use super::pool::Pool;
use crate::error::{Error, Result};

/// Rows generated per seeded chunk: the output does not depend on the number of threads.
const CHUNK: usize = 4096;

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthSpec {
    pub n: usize,
    pub dim: usize,
    pub labels: usize,
    pub boundary_regions: usize,
    pub pure_regions: usize,
    pub seed: u64,
}

impl SynthSpec {
    /// Two labels, eight boundary regions, eight pure regions.
    pub fn new(n: usize, dim: usize, seed: u64) -> Self {
        Self { n, dim, labels: 2, boundary_regions: 8, pure_regions: 8, seed }
    }
}

/// A generated pool and the truth behind it.
pub struct Synthetic {
    pub pool: Pool,
    /// Region of each row: boundary regions are `0..boundary_regions`, pure ones follow.
    pub region: Vec<u32>,
    /// Signed distance to the region's boundary hyperplane before normalisation (∞ in pure
    /// regions); its sign is the side, hence the label.
    pub side: Vec<f32>,
    pub boundary_regions: usize,
}

impl Synthetic {
    /// Whether rows `a` and `b` lie in one boundary region on opposite sides of its boundary.
    pub fn straddles(&self, a: usize, b: usize) -> bool {
        let r = self.region[a];
        (r as usize) < self.boundary_regions
            && self.region[b] == r
            && (self.side[a] < 0.0) != (self.side[b] < 0.0)
    }
}

struct Region {
    center: Vec<f32>,
    normal: Option<Vec<f32>>,
    /// (label on the negative side, label on the positive side); equal in pure regions.
    labels: (u32, u32),
}

/// Generate the pool described by `spec`.
pub fn generate(spec: &SynthSpec) -> Result<Synthetic> {
    let regions_n = spec.boundary_regions + spec.pure_regions;
    if spec.n == 0 || spec.dim < 2 || spec.labels < 2 || regions_n == 0 {
        return Err(Error::Input(
            "synthetic pool: need n ≥ 1, dim ≥ 2, labels ≥ 2 and at least one region".into(),
        ));
    }
    let (dim, l) = (spec.dim, spec.labels);
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let label_pairs: Vec<(u32, u32)> =
        (0..l as u32).flat_map(|a| (a + 1..l as u32).map(move |b| (a, b))).collect();
    let regions: Vec<Region> = (0..regions_n)
        .map(|r| {
            let center = if regions_n <= dim {
                let mut c = vec![0.0; dim];
                c[r] = 3.0;
                c
            } else {
                unit(&mut rng, dim).into_iter().map(|x| 3.0 * x).collect()
            };
            if r < spec.boundary_regions {
                Region {
                    center,
                    normal: Some(unit(&mut rng, dim)),
                    labels: label_pairs[r % label_pairs.len()],
                }
            } else {
                let lab = ((r - spec.boundary_regions) % l) as u32;
                Region { center, normal: None, labels: (lab, lab) }
            }
        })
        .collect();
    let mut vectors = vec![0f32; spec.n * dim];
    let mut chunks: Vec<(usize, &mut [f32])> =
        vectors.chunks_mut(CHUNK * dim).enumerate().collect();
    let n_threads = threads().min(chunks.len()).max(1);
    let per = chunks.len().div_ceil(n_threads);
    let mut metas: Vec<(usize, ChunkMeta)> = Vec::new();
    std::thread::scope(|s| {
        let mut handles = Vec::new();
        while !chunks.is_empty() {
            let group: Vec<(usize, &mut [f32])> = chunks.drain(..per.min(chunks.len())).collect();
            let regions = &regions;
            handles.push(s.spawn(move || {
                group
                    .into_iter()
                    .map(|(ci, buf)| (ci, fill_chunk(spec, regions, ci, buf)))
                    .collect::<Vec<_>>()
            }));
        }
        for h in handles {
            metas.extend(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
    });
    metas.sort_by_key(|(ci, _)| *ci);
    let mut pool = Pool {
        dim,
        vectors,
        keys: (0..spec.n as i64).collect(),
        label_names: (0..l).map(|i| format!("label{i}")).collect(),
        labeled: vec![false; spec.n],
        ..Pool::default()
    };
    let (mut region, mut side) = (Vec::with_capacity(spec.n), Vec::with_capacity(spec.n));
    for (_, m) in metas {
        region.extend(m.region);
        side.extend(m.side);
        pool.labels.extend(m.labels);
        pool.probs.extend(m.probs);
    }
    Ok(Synthetic { pool, region, side, boundary_regions: spec.boundary_regions })
}

#[derive(Default)]
struct ChunkMeta {
    region: Vec<u32>,
    side: Vec<f32>,
    labels: Vec<u32>,
    probs: Vec<f32>,
}

fn fill_chunk(spec: &SynthSpec, regions: &[Region], ci: usize, buf: &mut [f32]) -> ChunkMeta {
    let dim = spec.dim;
    let l = spec.labels;
    let mut rng = ChaCha8Rng::seed_from_u64(
        spec.seed ^ 0x5eed_0000_0000 ^ (ci as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    let sigma = 1.0 / (dim as f32).sqrt();
    // Noise this close to the boundary decides the label; τ sets how unsure the model is there.
    let tau = 0.5 * sigma;
    let mut m = ChunkMeta::default();
    let mut noise = vec![0f32; dim];
    for x in buf.chunks_exact_mut(dim) {
        let r = rng.gen_range(0..regions.len());
        let reg = &regions[r];
        normals(&mut rng, &mut noise);
        let mut norm2 = 0f32;
        for ((xi, c), g) in x.iter_mut().zip(&reg.center).zip(&noise) {
            *xi = c + sigma * g;
            norm2 += *xi * *xi;
        }
        let inv = 1.0 / norm2.sqrt().max(f32::MIN_POSITIVE);
        x.iter_mut().for_each(|v| *v *= inv);
        let mut p = vec![0f32; l];
        let (s, label) = match &reg.normal {
            Some(u) => {
                let s: f32 = sigma * noise.iter().zip(u).map(|(g, u)| g * u).sum::<f32>();
                let q = 1.0 / (1.0 + (-s / tau).exp());
                let eps = if l > 2 { 0.02 } else { 0.0 };
                p.iter_mut().for_each(|v| *v = eps / (l - 2).max(1) as f32);
                p[reg.labels.0 as usize] = (1.0 - q) * (1.0 - eps);
                p[reg.labels.1 as usize] = q * (1.0 - eps);
                (s, if s < 0.0 { reg.labels.0 } else { reg.labels.1 })
            }
            None => {
                p.iter_mut().for_each(|v| *v = 0.1 / (l - 1) as f32);
                p[reg.labels.0 as usize] = 0.9;
                (f32::INFINITY, reg.labels.0)
            }
        };
        m.region.push(r as u32);
        m.side.push(s);
        m.labels.push(label);
        m.probs.extend(p);
    }
    m
}

/// Standard normals (Box–Muller).
fn normals(rng: &mut ChaCha8Rng, out: &mut [f32]) {
    for pair in out.chunks_mut(2) {
        let u1 = 1.0 - rng.gen::<f32>();
        let u2 = rng.gen::<f32>();
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (std::f32::consts::TAU * u2).sin_cos();
        pair[0] = r * c;
        if let Some(v) = pair.get_mut(1) {
            *v = r * s;
        }
    }
}

fn unit(rng: &mut ChaCha8Rng, dim: usize) -> Vec<f32> {
    let mut v = vec![0f32; dim];
    normals(rng, &mut v);
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
    v.iter().map(|x| x / n).collect()
}
