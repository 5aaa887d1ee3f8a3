//! `hifi round`, `hifi report` and `hifi simulate`: flags, one call into `crate::rounds`,
//! and the readable tables.

use std::path::Path;

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};

use crate::config::Config;
use crate::curate::Strategy;
use crate::progress::{CancelToken, Progress};
use crate::rounds::{self, ProbeParams, Report, RoundParams, RoundScores, SimParams, SimReport, Trainer};
use crate::store::Store;
use crate::text::inert;

/// Run one round: train on the train split, re-predict, score on eval, refill the queue.
#[derive(Debug, Args)]
pub struct RoundArgs {
    /// zero-shot: score the LLM's predictions as they are (a baseline round);
    /// probe: logistic regression on the embeddings and LLM log-probabilities (seconds);
    /// lora: train a LoRA adapter, hot-load it, prelabel the pool again (minutes to hours).
    #[arg(long, value_enum, default_value = "probe")]
    pub trainer: Trainer,
    /// LoRA settings (with --trainer lora).
    #[command(flatten, next_help_heading = "LoRA (--trainer lora)")]
    pub lora: crate::cli::train_cmd::LoraFlags,
    /// With --trainer lora: use this adapter instead of training one (finish a round whose
    /// prelabeling was interrupted, or evaluate an adapter trained by hand).
    #[arg(long, value_name = "GGUF", help_heading = "LoRA (--trainer lora)")]
    pub adapter: Option<std::path::PathBuf>,
    /// The probe learns from the embeddings alone instead of starting from the LLM's
    /// label log-probabilities.
    #[arg(long)]
    pub no_llm: bool,
    /// Do not refill the review queue afterwards.
    #[arg(long)]
    pub no_mine: bool,
    /// How to refill the queue afterwards (the same flags as `hifi mine`; the seed also
    /// seeds the bootstrap intervals).
    #[command(flatten)]
    pub mine: crate::cli::mine_cmd::MineFlags,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Every round's agreement with the experts, and whether to stop.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Which round model a simulation trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SimTrainer {
    Probe,
    Lora,
}

/// Plan a label budget on data that already has gold labels.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Where the oracle's answers are: `gold` (the field `hifi import --gold` read) or the
    /// name of another imported field.
    #[arg(long, default_value = "gold", value_name = "FIELD")]
    pub oracle: String,
    /// Label budgets to report, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "100,200,300,400,500", value_name = "N,N,…")]
    pub budgets: Vec<usize>,
    /// Strategies to compare, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "adaptive,pairs,margin,random,cluster-margin")]
    pub strategies: Vec<Strategy>,
    /// The round model: probe (seconds per round). LoRA rounds are not simulated.
    #[arg(long, value_enum, default_value = "probe")]
    pub trainer: SimTrainer,
    /// Mine → label → train rounds between one budget and the next.
    #[arg(long, default_value_t = 1, value_name = "R")]
    pub rounds: usize,
    /// The first seed: repetition s uses seed + s for its test split, mining, experts and
    /// intervals.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Repetitions of the whole simulation (test split, selection, training), for a mean and a
    /// 95% interval over seeds per budget and each strategy's paired difference to random.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub seeds: usize,
    /// Each simulated expert answers gold with probability 1 − P, else a random other label.
    /// Above 0 the eval split, audit stratum and stop rule run inside the simulation.
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub oracle_noise: f64,
    /// A second imported field read as a second, independent expert (the eval side runs).
    #[arg(long, value_name = "FIELD")]
    pub oracle2: Option<String>,
    /// Share of gold-labeled items held out as the test set.
    #[arg(long, default_value_t = 0.3, value_name = "F")]
    pub test_fraction: f64,
    /// The probe learns from the embeddings alone instead of starting from the LLM's
    /// label log-probabilities.
    #[arg(long)]
    pub no_llm: bool,
    /// The probe's L2 penalty on its (z-scored) weights: lower fits the labels more closely.
    #[arg(long, default_value_t = ProbeParams::default().l2, value_name = "L2")]
    pub probe_l2: f64,
    /// Also draw κ by budget per strategy, with CI bands and the zero-shot and all-labels
    /// lines, into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<std::path::PathBuf>,
    /// Replace the --plot file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn round(project: &Path, a: &RoundArgs, bar: &mut dyn Progress, cancel: &CancelToken) -> Result<()> {
    let cfg = Config::load(project)?;
    let mut store = Store::open(project)?;
    let lora = match a.trainer {
        Trainer::Lora => Some(crate::train::LoraRun { use_adapter: a.adapter.clone(), ..a.lora.run(&store, &cfg)? }),
        _ if a.adapter.is_some() => bail!("--adapter needs --trainer lora"),
        _ => None,
    };
    let params = RoundParams {
        trainer: a.trainer,
        probe: ProbeParams { use_llm: !a.no_llm, ..ProbeParams::default() },
        seed: a.mine.seed,
        mine: (!a.no_mine).then(|| a.mine.params()),
        lora,
    };
    let rep = rounds::run_round(&mut store, &cfg, &params, bar, cancel)?;
    if a.json {
        println!("{}", crate::text::json_to_string(&rep, true));
        return Ok(());
    }
    for w in &rep.warnings {
        eprintln!("warning: {}", inert(w, false));
    }
    if let Some(b) = rep.baseline_round {
        println!("round {b}: zero-shot baseline recorded first");
    }
    println!(
        "round {} ({}): trained on {} items, predicted {} in {:.1}s",
        rep.round,
        rep.trainer.as_str(),
        rep.train_size,
        rep.predicted,
        rep.seconds_train
    );
    if let Some(ad) = &rep.adapter {
        println!(
            "  adapter {} (loss {} → {}, {:.0}s training)",
            inert(&ad.adapter.display().to_string(), false),
            ad.manifest.first_loss.map_or("-".into(), |l| format!("{l:.3}")),
            ad.manifest.final_loss.map_or("-".into(), |l| format!("{l:.3}")),
            ad.job.seconds
        );
    }
    print_scores(&rep.scores);
    if let Some(m) = &rep.mine {
        println!("queue refilled: {} entries ({})", m.entries, m.strategy.as_str());
    }
    for n in &rep.verdict.notes {
        println!("note: {}", inert(n, false));
    }
    println!("{}", inert(&rep.verdict.message, true));
    Ok(())
}

fn print_scores(s: &RoundScores) {
    let balance: Vec<String> = s.eval_balance.iter().map(|(l, n)| format!("{} {n}", inert(l, false))).collect();
    let audit_n = s.audit.as_ref().map_or(0, |a| a.n);
    println!("  eval {} items ({}; {} boundary, {audit_n} audit), train {}", s.eval_size, balance.join(", "), s.eval_size - audit_n, s.train_size);
    if s.blind.eval_labels > 0 {
        println!(
            "  eval labels {}: {} given with the suggestion visible ({} items left out of κ and the stop rule), {} of unknown visibility (counted as blind)",
            s.blind.eval_labels, s.blind.seen, s.blind.items_left_out, s.blind.unknown
        );
    }
    println!("  model vs experts  κ {} (boundary eval)", s.model_vs_expert.show());
    if let Some(f) = s.macro_f1 {
        println!("  macro-F1 {f:.3}{}", s.pabak.map(|p| format!(", PABAK {p:.3}")).unwrap_or_default());
    }
    for a in &s.per_annotator {
        println!("    vs {:<12} κ {}", inert(&a.annotator, false), a.agreement.show());
    }
    if let Some(m) = s.annotator_mean_kappa {
        println!("    mean over annotators κ {m:.3}");
    }
    println!("  expert vs expert  κ {}", s.expert_vs_expert.show());
    if s.unpredicted > 0 {
        println!("  {} eval items have no prediction from this model (left out)", s.unpredicted);
    }
    if let Some(a) = &s.audit {
        print_audit(a);
    }
}

/// The audit stratum: the model on uniform random draws from the pool, and label prevalence.
fn print_audit(a: &rounds::AuditScores) {
    let acc = match (a.accuracy, a.accuracy_ci) {
        (Some(x), Some([lo, hi])) => format!("{x:.3} [{lo:.2}, {hi:.2}]"),
        _ => "-".into(),
    };
    println!("  audit (random draws) κ {}, accuracy {acc}", a.model_vs_expert.show());
    if a.unpredicted > 0 {
        println!("    {} audit items have no prediction from this model (left out of κ and accuracy)", a.unpredicted);
    }
    for p in &a.prevalence {
        println!(
            "    prevalence {:<12} {:>5.1}% [{:.1}, {:.1}] ({} of {}), model predicts {}",
            inert(&p.label, false),
            100.0 * p.share,
            100.0 * p.share_ci[0],
            100.0 * p.share_ci[1],
            p.experts,
            a.n,
            p.model_share.map_or("-".into(), |m| format!("{:.1}%", 100.0 * m))
        );
    }
}

pub fn report(project: &Path, a: &ReportArgs) -> Result<()> {
    let cfg = Config::load(project)?;
    let store = Store::open(project)?;
    let rep: Report = rounds::report(&store, &cfg)?;
    if a.json {
        println!("{}", crate::text::json_to_string(&rep, true));
        return Ok(());
    }
    if rep.rounds.is_empty() {
        println!("no rounds yet: `hifi round --trainer zero-shot` scores the LLM as it is; `hifi round` trains a probe");
    }
    for r in &rep.rounds {
        println!("round {} · {} · {}", r.round, inert(r.trainer.as_deref().unwrap_or("?"), false), r.started_at);
        match &r.scores {
            Some(s) => print_scores(s),
            None => println!("  interrupted (no scores)"),
        }
    }
    println!("{}", inert(&rep.leakage.line(), false));
    for n in &rep.verdict.notes {
        println!("note: {}", inert(n, false));
    }
    println!("{}", inert(&rep.verdict.message, true));
    Ok(())
}

pub fn simulate(project: &Path, a: &SimulateArgs, bar: &mut dyn Progress, cancel: &CancelToken) -> Result<()> {
    if a.trainer == SimTrainer::Lora {
        bail!("--trainer lora: simulating LoRA rounds would train one adapter per strategy, budget and round (minutes each); simulate with --trainer probe, then run real LoRA rounds with `hifi round`");
    }
    if !(a.probe_l2.is_finite() && a.probe_l2 >= 0.0) {
        bail!("--probe-l2 must be a finite penalty ≥ 0, got {}", a.probe_l2);
    }
    let cfg = Config::load(project)?;
    let mut store = Store::open(project)?;
    let params = SimParams {
        budgets: a.budgets.clone(),
        strategies: a.strategies.clone(),
        rounds: a.rounds,
        seed: a.seed,
        seeds: a.seeds,
        test_fraction: a.test_fraction,
        oracle_noise: a.oracle_noise,
        probe: ProbeParams { use_llm: !a.no_llm, l2: a.probe_l2, ..ProbeParams::default() },
        ..SimParams::default()
    };
    if let Some(p) = &a.plot {
        crate::files::check_output(p, a.force).map_err(|e| anyhow::anyhow!("{}: {e}", inert(&p.display().to_string(), false)))?;
    }
    let rep = rounds::simulate(&mut store, &cfg, &a.oracle, a.oracle2.as_deref(), &params, bar, cancel)?;
    if let Some(p) = &a.plot {
        let name = project.canonicalize().ok().and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())).unwrap_or_default();
        let svg = rounds::plot::kappa_curves_svg(&rep, &format!("{name} — κ vs gold by label budget"));
        crate::files::write_output(p, svg.as_bytes(), a.force).map_err(|e| anyhow::anyhow!("{}: {e}", inert(&p.display().to_string(), false)))?;
    }
    if a.json {
        println!("{}", crate::text::json_to_string(&rep, true));
    } else {
        print!("{}", sim_table(&rep));
    }
    Ok(())
}

/// The simulation as a readable table: one block of rows per budget, one column per strategy.
pub fn sim_table(rep: &SimReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let cell = |k: Option<f64>, ci: Option<[f64; 2]>| match (k, ci) {
        (Some(k), Some([lo, hi])) => format!("{k:.3} [{lo:.2},{hi:.2}]"),
        (Some(k), None) => format!("{k:.3}"),
        _ => "undefined".into(),
    };
    let num = |x: f64| if x.fract() == 0.0 { format!("{x:.0}") } else { format!("{x:.1}") };
    let seeds = rep.seeds.max(1);
    let _ = writeln!(
        out,
        "simulation: {} items with gold ({} to mine from, {} held out), {}, {} round(s) per budget, trainer {}{}",
        rep.pool_size + rep.test_size,
        rep.pool_size,
        rep.test_size,
        if seeds > 1 { format!("seeds {}..{} ({seeds})", rep.seed, rep.seed.wrapping_add(seeds as u64 - 1)) } else { format!("seed {}", rep.seed) },
        rep.rounds,
        rep.trainer,
        rep.zero_shot_model.map(|m| format!(", LLM features and zero-shot from base model {m}")).unwrap_or_default()
    );
    let interval = if seeds > 1 { "mean over seeds, 95% t-interval over seeds" } else { "one seed: 95% bootstrap interval over the test items" };
    let _ = writeln!(out, "κ vs gold on the held-out set ({interval}); per budget also:");
    let _ = writeln!(out, "  F1 macro-F1 · fill: labels per seed that margin filled in when the strategy ran short");
    if rep.results.iter().any(|r| r.vs_random.is_some()) {
        let _ = writeln!(out, "  vs random: κ − random's κ on the same seeds (95% t-interval) and the verdict: better / worse when the interval excludes 0");
    }
    match &rep.eval {
        Some(e) => {
            let experts = match &e.second_expert {
                Some(f) => format!("gold and `{}` as two experts", inert(f, false)),
                None => "two experts drawn from gold".into(),
            };
            let _ = writeln!(
                out,
                "  eval: simulated with {experts}, noise {}: eval fraction {}, audit share {} of the budget; eval n mean eval items (audit);",
                e.oracle_noise, e.eval_fraction, e.audit_share
            );
            let _ = writeln!(
                out,
                "  stop rule: seeds whose equivalence test (δ {}) said stop / continue / few (not enough data: < {} eval or < {} double-labeled)",
                e.margin,
                rounds::MIN_EVAL,
                rounds::MIN_SHARED
            );
        }
        None => {
            let _ = writeln!(out, "  eval split and stop rule not simulated (a noise-free oracle): add --oracle-noise P or --oracle2 FIELD");
        }
    }
    let strategies: Vec<&str> = {
        let mut v: Vec<&str> = Vec::new();
        for r in &rep.results {
            if !v.contains(&r.strategy.as_str()) {
                v.push(&r.strategy);
            }
        }
        v
    };
    let _ = write!(out, "{:>10}", "budget");
    for s in &strategies {
        let _ = write!(out, "  {s:>24}");
    }
    let _ = writeln!(out);
    let mut budgets: Vec<usize> = rep.results.iter().map(|r| r.budget).collect();
    budgets.sort_unstable();
    budgets.dedup();
    type Show<'a> = Box<dyn Fn(&rounds::SimResult) -> Option<String> + 'a>;
    let mut lines: Vec<(&str, Show)> = vec![
        ("F1", Box::new(|r| r.macro_f1.map(|f| format!("{f:.3}")))),
        ("fill", Box::new(|r| Some(format!("{} of {}", num(r.filled_by_margin), r.labeled)))),
    ];
    if rep.results.iter().any(|r| r.vs_random.is_some()) {
        lines.push(("vs random", Box::new(|r| r.vs_random.as_ref().map(|d| match d.ci {
            Some([lo, hi]) => format!("{:+.3} [{lo:+.2},{hi:+.2}]", d.mean),
            None => format!("{:+.3}", d.mean),
        }))));
        lines.push(("verdict", Box::new(|r| r.vs_random.as_ref().map(|d| d.verdict.clone().unwrap_or_else(|| "(one seed)".into())))));
    }
    if rep.eval.is_some() {
        lines.push(("eval n", Box::new(|r| r.stop.as_ref().map(|t| format!("{} ({})", num(t.eval_size), num(t.audit))))));
        lines.push(("stop rule", Box::new(|r| r.stop.as_ref().map(rounds::StopTally::show))));
    }
    for b in &budgets {
        let find = |s: &str| rep.results.iter().find(|r| r.budget == *b && r.strategy == s);
        let _ = write!(out, "{b:>10}");
        for s in &strategies {
            let _ = write!(out, "  {:>24}", find(s).map_or("-".into(), |r| cell(r.kappa, r.kappa_ci)));
        }
        let _ = writeln!(out);
        for (name, show) in &lines {
            let _ = write!(out, "{name:>10}");
            for s in &strategies {
                let _ = write!(out, "  {:>24}", find(s).and_then(show).unwrap_or_else(|| "-".into()));
            }
            let _ = writeln!(out);
        }
    }
    let _ = writeln!(out, "zero-shot LLM: κ {}  macro-F1 {}", cell(rep.zero_shot.kappa, rep.zero_shot.kappa_ci), rep.zero_shot.macro_f1.map_or("-".into(), |f| format!("{f:.3}")));
    let _ = writeln!(
        out,
        "ceiling (all {} labels): κ {}  macro-F1 {}",
        rep.pool_size,
        cell(rep.ceiling.kappa, rep.ceiling.kappa_ci),
        rep.ceiling.macro_f1.map_or("-".into(), |f| format!("{f:.3}"))
    );
    for w in &rep.warnings {
        let _ = writeln!(out, "warning: {}", inert(w, false));
    }
    let _ = writeln!(out, "({:.1}s)", rep.seconds);
    out
}
