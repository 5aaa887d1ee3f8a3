//! `hifi bench mine`: boundary-pair mining on a generated pool with known boundaries, timed
//! per phase, with the process's peak resident memory.

use std::time::Instant;

use serde::Serialize;

use super::linalg::threads;
use super::synth::{generate, SynthSpec};
use super::{mine_pool, MineParams};
use crate::error::Result;
use crate::progress::{CancelToken, Silent};

/// Pairs the benchmark asks for.
pub const BENCH_BUDGET: usize = 1000;

/// Seconds per phase of the benchmark. `generate` is the synthetic data, not mining.
#[derive(Debug, Clone, Serialize)]
pub struct BenchSeconds {
    pub generate: f64,
    pub cluster: f64,
    pub index: f64,
    pub pair_search: f64,
    pub ordering: f64,
}

/// The benchmark's result (`hifi bench mine --json`).
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub n: usize,
    pub dim: usize,
    pub labels: usize,
    pub seed: u64,
    pub threads: usize,
    pub budget: usize,
    /// Mining time: cluster + index + pair search + ordering (generation excluded).
    pub seconds_total: f64,
    pub seconds: BenchSeconds,
    /// Peak resident set size of the process (VmHWM), when /proc tells it.
    pub peak_rss_bytes: Option<u64>,
    pub pairs: usize,
    /// Pairs whose items lie in one boundary region on opposite sides of its true boundary.
    pub pairs_on_true_boundary: usize,
    /// Distinct boundary regions among the first 8 pairs.
    pub regions_in_first_8: usize,
    pub overlapping_cluster_pairs: usize,
    pub candidates: usize,
    pub index_rows: usize,
    pub near_duplicates: usize,
    pub warnings: Vec<String>,
}

/// Generate `n` × `dim` (two labels, eight boundary and eight pure regions, seeded) and mine
/// [`BENCH_BUDGET`] boundary pairs.
pub fn bench(n: usize, dim: usize, seed: u64) -> Result<BenchReport> {
    bench_with(&SynthSpec::new(n, dim, seed), BENCH_BUDGET)
}

/// [`bench`] on any generated pool and budget.
pub fn bench_with(spec: &SynthSpec, budget: usize) -> Result<BenchReport> {
    let (n, dim, seed) = (spec.n, spec.dim, spec.seed);
    let t = Instant::now();
    let synth = generate(spec)?;
    let generate_s = t.elapsed().as_secs_f64();
    let params =
        MineParams { budget, seed, strategy: super::Strategy::Pairs, ..MineParams::default() };
    let t = Instant::now();
    let mined = mine_pool(&synth.pool.view(), &params, None, &mut Silent, &CancelToken::new())?;
    let total = t.elapsed().as_secs_f64();
    let on_boundary = mined.pairs.iter().filter(|p| synth.straddles(p.a, p.b)).count();
    let mut first: Vec<u32> = mined.pairs.iter().take(8).map(|p| synth.region[p.a]).collect();
    first.sort_unstable();
    first.dedup();
    let s = &mined.seconds;
    Ok(BenchReport {
        n,
        dim,
        labels: spec.labels,
        seed,
        threads: threads(),
        budget,
        seconds_total: total,
        seconds: BenchSeconds {
            generate: generate_s,
            cluster: s.cluster,
            index: s.index,
            pair_search: s.pair_search,
            ordering: s.ordering,
        },
        peak_rss_bytes: peak_rss_bytes(),
        pairs: mined.pairs.len(),
        pairs_on_true_boundary: on_boundary,
        regions_in_first_8: first.len(),
        overlapping_cluster_pairs: mined.overlapping_cluster_pairs,
        candidates: mined.candidates,
        index_rows: mined.index_rows,
        near_duplicates: mined.near_duplicates,
        warnings: mined.warnings,
    })
}

/// VmHWM from /proc/self/status, in bytes (Linux only; `None` elsewhere).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
