//! `hifi mine` and `hifi bench mine`: flags, then one call into `crate::curate`.

use std::path::Path;

use anyhow::Result;
use clap::Args;

use crate::config::Config;
use crate::curate::{self, MineParams, Strategy};
use crate::progress::{CancelToken, Progress};
use crate::store::Store;

/// The mining knobs, shared by `hifi mine` and `hifi round` (which refills the queue).
#[derive(Debug, Args)]
pub struct MineFlags {
    /// Queue entries to produce (pairs for `pairs`, items otherwise).
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub budget: usize,
    /// pairs: nearest differently-labeled items of overlapping per-label clusters, ordered for
    /// diversity. adaptive: typical items of unlabeled regions while the model has not earned
    /// agreement on held-out labels, its lowest margins as it does. margin / entropy / random /
    /// cluster-margin: single items.
    #[arg(long, value_enum, default_value = "adaptive")]
    pub strategy: Strategy,
    /// Seed for sampling, k-means and random draws (same seed and data, same queue).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Clusters per label (default: round(sqrt(items / 2)), between 1 and 64).
    #[arg(long, value_name = "K")]
    pub k: Option<usize>,
    /// Share of entries that ask for two annotators, for expert-vs-expert agreement.
    #[arg(long, default_value_t = 0.1, value_name = "SHARE")]
    pub overlap_share: f64,
    /// Percentile of member-to-centre distances taken as a cluster's radius in the overlap test.
    #[arg(long, default_value_t = 90.0, value_name = "P")]
    pub overlap_percentile: f64,
    /// Vectors closer than this (Euclidean, normalised) are near-duplicates; 0 turns it off.
    #[arg(long, default_value_t = 0.05, value_name = "DIST")]
    pub dup_threshold: f32,
}

/// Fill the review queue: adaptive (explore, then the model's boundary) by default.
#[derive(Debug, Args)]
pub struct MineArgs {
    #[command(flatten)]
    pub flags: MineFlags,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

impl MineFlags {
    /// The library's parameters for these flags.
    pub fn params(&self) -> MineParams {
        MineParams {
            budget: self.budget,
            strategy: self.strategy,
            seed: self.seed,
            k: self.k,
            overlap_share: self.overlap_share,
            overlap_percentile: self.overlap_percentile,
            dup_threshold: self.dup_threshold,
            ..MineParams::default()
        }
    }
}

/// `hifi mine`: mine the project's pool and replace the review queue.
pub fn run(project: &Path, a: &MineArgs, bar: &mut dyn Progress, cancel: &CancelToken) -> Result<()> {
    let cfg = Config::load(project)?;
    let mut store = Store::open(project)?;
    let rep = curate::mine(&mut store, &cfg, &a.flags.params(), bar, cancel)?;
    if a.json {
        println!("{}", crate::text::json_to_string(&rep, true));
        return Ok(());
    }
    for w in &rep.warnings {
        eprintln!("note: {}", crate::text::inert(w, false));
    }
    if rep.cancelled {
        println!("interrupted: the queue is unchanged");
        return Ok(());
    }
    let mut what = if rep.strategy == Strategy::Pairs { format!("{} pairs", rep.pairs) } else { format!("{} items", rep.items) };
    if rep.audit > 0 {
        what.push_str(&format!(" + {} random audit items", rep.audit));
    }
    println!(
        "queued {what} ({} strategy, {} for two annotators) from {} items in {:.1}s; {} already labeled left out, {} near-duplicates refused",
        rep.strategy.as_str(),
        rep.double_annotated,
        rep.pool,
        rep.seconds_total,
        rep.labeled_excluded,
        rep.near_duplicates
    );
    if rep.strategy == Strategy::Pairs {
        let clusters: Vec<String> = rep.labels.iter().map(|l| format!("{} {}×{}{}", l.label, l.items, l.clusters, if l.cached { " (cached)" } else { "" })).collect();
        println!("clusters  {}; {} overlapping cluster pairs, {} candidate pairs", clusters.join(", "), rep.overlapping_cluster_pairs, rep.candidates);
    }
    if let Some(share) = rep.explore_share {
        let why = match rep.held_out_kappa {
            Some((k, n)) => format!("the model's κ on {n} held-out blind labels is {k:.2}"),
            None => "no held-out blind labels yet to judge the model by".into(),
        };
        println!("adaptive  {:.0}% exploration, {:.0}% lowest margins: {why}", share * 100.0, (1.0 - share) * 100.0);
    }
    println!("next: hifi review");
    Ok(())
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
        println!("{}", crate::text::json_to_string(&r, true));
        return Ok(());
    }
    let s = &r.seconds;
    println!(
        "mined {} pairs from {} × {} in {:.1}s (cluster {:.1}s, index {:.1}s, pair search {:.1}s, ordering {:.1}s; generating took {:.1}s) on {} threads",
        r.pairs, r.n, r.dim, r.seconds_total, s.cluster, s.index, s.pair_search, s.ordering, s.generate, r.threads
    );
    println!(
        "peak RSS {}; {} of {} pairs on a true boundary; {} regions in the first 8 pairs",
        r.peak_rss_bytes.map_or_else(|| "unknown".to_string(), |b| format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64)),
        r.pairs_on_true_boundary,
        r.pairs,
        r.regions_in_first_8
    );
    Ok(())
}
