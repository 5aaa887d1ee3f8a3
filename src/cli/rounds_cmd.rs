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
    #[arg(long, value_enum, value_delimiter = ',', default_value = "pairs,margin,random,cluster-margin")]
    pub strategies: Vec<Strategy>,
    /// The round model: probe (seconds per round). LoRA rounds are not simulated.
    #[arg(long, value_enum, default_value = "probe")]
    pub trainer: SimTrainer,
    /// Mine → label → train rounds between one budget and the next.
    #[arg(long, default_value_t = 1, value_name = "R")]
    pub rounds: usize,
    /// Seed for the test split, mining and the intervals.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Share of gold-labeled items held out as the test set.
    #[arg(long, default_value_t = 0.3, value_name = "F")]
    pub test_fraction: f64,
    /// The probe learns from the embeddings alone instead of starting from the LLM's
    /// label log-probabilities.
    #[arg(long)]
    pub no_llm: bool,
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
            "  eval labels {}: {} given with the suggestion visible, {} of unknown visibility (κ uses all; the stop rule only blind items)",
            s.blind.eval_labels, s.blind.seen, s.blind.unknown
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
    let cfg = Config::load(project)?;
    let mut store = Store::open(project)?;
    let params = SimParams {
        budgets: a.budgets.clone(),
        strategies: a.strategies.clone(),
        rounds: a.rounds,
        seed: a.seed,
        test_fraction: a.test_fraction,
        probe: ProbeParams { use_llm: !a.no_llm, ..ProbeParams::default() },
        ..SimParams::default()
    };
    let rep = rounds::simulate(&mut store, &cfg, &a.oracle, &params, bar, cancel)?;
    if a.json {
        println!("{}", crate::text::json_to_string(&rep, true));
    } else {
        print!("{}", sim_table(&rep));
    }
    Ok(())
}

/// The simulation as a readable table: one row per budget, one column per strategy.
pub fn sim_table(rep: &SimReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let cell = |k: Option<f64>, ci: Option<[f64; 2]>| match (k, ci) {
        (Some(k), Some([lo, hi])) => format!("{k:.3} [{lo:.2},{hi:.2}]"),
        (Some(k), None) => format!("{k:.3}"),
        _ => "undefined".into(),
    };
    let _ = writeln!(
        out,
        "simulation: {} items with gold ({} to mine from, {} held out), seed {}, {} round(s) per budget, trainer {}",
        rep.pool_size + rep.test_size,
        rep.pool_size,
        rep.test_size,
        rep.seed,
        rep.rounds,
        rep.trainer
    );
    let _ = writeln!(out, "κ vs gold on the held-out set (95% CI); macro-F1 below");
    let strategies: Vec<&str> = {
        let mut v: Vec<&str> = Vec::new();
        for r in &rep.results {
            if !v.contains(&r.strategy.as_str()) {
                v.push(&r.strategy);
            }
        }
        v
    };
    let _ = write!(out, "{:>8}", "budget");
    for s in &strategies {
        let _ = write!(out, "  {s:>22}");
    }
    let _ = writeln!(out);
    let mut budgets: Vec<usize> = rep.results.iter().map(|r| r.budget).collect();
    budgets.sort_unstable();
    budgets.dedup();
    for b in &budgets {
        let _ = write!(out, "{b:>8}");
        for s in &strategies {
            let r = rep.results.iter().find(|r| r.budget == *b && r.strategy == *s);
            let _ = write!(out, "  {:>22}", r.map_or("-".into(), |r| cell(r.kappa, r.kappa_ci)));
        }
        let _ = writeln!(out);
        let _ = write!(out, "{:>8}", "F1");
        for s in &strategies {
            let r = rep.results.iter().find(|r| r.budget == *b && r.strategy == *s);
            let _ = write!(out, "  {:>22}", r.and_then(|r| r.macro_f1).map_or("-".into(), |f| format!("{f:.3}")));
        }
        let _ = writeln!(out);
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
