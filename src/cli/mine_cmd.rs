//! `hifi mine` and `hifi bench mine`: flags, then one call into `hifi::curate`.

use std::path::Path;

use anyhow::Result;
use clap::Args;

pub use super::flags::MineFlags;
use super::output::emit;
use hifi::curate;
use hifi::progress::{CancelToken, Progress};

/// Fill the review queue: adaptive (explore, then the model's boundary) by default.
#[derive(Debug, Args)]
pub struct MineArgs {
    #[command(flatten)]
    pub flags: MineFlags,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `hifi mine`: mine the project's pool and replace the review queue.
pub fn run(
    project: &Path,
    a: &MineArgs,
    bar: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<()> {
    emit(&hifi::pipeline::mine(project, &a.flags.params(), bar, cancel)?, a.json)
}

/// `hifi bench mine`: generated pool with known boundaries.
#[derive(Debug, Args)]
pub struct BenchMineArgs {
    /// Items to generate.
    #[arg(long, default_value_t = 1_000_000)]
    pub n: usize,
    /// Vector dimension.
    #[arg(long, default_value_t = 384)]
    pub dim: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Run the mining benchmark and print it.
pub fn run_bench(a: &BenchMineArgs) -> Result<()> {
    let r = curate::bench(a.n, a.dim, a.seed)?;
    if a.json {
        println!("{}", hifi::text::json_to_string(&r, true));
        return Ok(());
    }
    let s = &r.seconds;
    println!(
        "mined {} pairs from {} × {} in {:.1}s (cluster {:.1}s, index {:.1}s, pair search {:.1}s, ordering {:.1}s; generating took {:.1}s) on {} threads",
        r.pairs, r.n, r.dim, r.seconds_total, s.cluster, s.index, s.pair_search, s.ordering, s.generate, r.threads
    );
    println!(
        "peak RSS {}; {} of {} pairs on a true boundary; {} regions in the first 8 pairs",
        r.peak_rss_bytes.map_or_else(
            || "unknown".to_string(),
            |b| format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64)
        ),
        r.pairs_on_true_boundary,
        r.pairs,
        r.regions_in_first_8
    );
    Ok(())
}
