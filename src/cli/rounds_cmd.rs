//! `hifi round`, `hifi report` and `hifi simulate`: flags, one call into `hifi::rounds`,
//! and the readable tables.

use std::path::Path;

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};

use super::flags::{LoraFlags, MineFlags};
use super::output::{announce_trainer, emit};
use hifi::curate::Strategy;
use hifi::pipeline::{RoundOverrides, SimulateRequest};
use hifi::progress::{CancelToken, Progress};
use hifi::rounds::{self, ProbeParams, Report, SimParams, Trainer};
use hifi::text::inert;

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
    pub lora: LoraFlags,
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
    pub mine: MineFlags,
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
    #[arg(long, value_delimiter = ',', default_values_t = SimParams::default().budgets, value_name = "N,N,…")]
    pub budgets: Vec<usize>,
    /// Strategies to compare, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = SimParams::default().strategies)]
    pub strategies: Vec<Strategy>,
    /// The round model: probe (seconds per round). LoRA rounds are not simulated.
    #[arg(long, value_enum, default_value = "probe")]
    pub trainer: SimTrainer,
    /// Mine → label → train rounds between one budget and the next.
    #[arg(long, default_value_t = SimParams::default().rounds, value_name = "R")]
    pub rounds: usize,
    /// The first seed: repetition s uses seed + s for its test split, mining, experts and
    /// intervals.
    #[arg(long, default_value_t = SimParams::default().seed)]
    pub seed: u64,
    /// Repetitions of the whole simulation (test split, selection, training), for a mean and a
    /// 95% interval over seeds per budget and each strategy's paired difference to random.
    #[arg(long, default_value_t = SimParams::default().seeds, value_name = "N")]
    pub seeds: usize,
    /// Each simulated expert answers gold with probability 1 − P, else a random other label.
    /// Above 0 the eval split, audit stratum and stop rule run inside the simulation.
    #[arg(long, default_value_t = SimParams::default().oracle_noise, value_name = "P")]
    pub oracle_noise: f64,
    /// A second imported field read as a second, independent expert (the eval side runs).
    #[arg(long, value_name = "FIELD")]
    pub oracle2: Option<String>,
    /// Share of gold-labeled items held out as the test set.
    #[arg(long, default_value_t = SimParams::default().test_fraction, value_name = "F")]
    pub test_fraction: f64,
    /// The probe learns from the embeddings alone instead of starting from the LLM's
    /// label log-probabilities.
    #[arg(long)]
    pub no_llm: bool,
    /// The probe's L2 penalty on its (z-scored) weights: lower fits the labels more closely.
    #[arg(long, default_value_t = ProbeParams::default().l2, value_name = "L2")]
    pub probe_l2: f64,
    /// Labels the probe's prior (the LLM) weighs as much as: past N training labels the
    /// penalty fades as L2 · N / labels. 0: it never fades.
    #[arg(long, default_value_t = ProbeParams::default().prior_labels.unwrap_or(0), value_name = "N")]
    pub probe_prior_labels: usize,
    /// The penalty on the probe's per-label biases, as a share of L2: low lets a few labels
    /// undo the LLM's lean to some labels; 1: biases penalised like the weights.
    #[arg(long, default_value_t = ProbeParams::default().bias_share, value_name = "S")]
    pub probe_bias_share: f64,
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

pub fn round(
    project: &Path,
    a: &RoundArgs,
    bar: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<()> {
    let o = RoundOverrides {
        trainer: a.trainer,
        use_llm: !a.no_llm,
        adapter: a.adapter.clone(),
        mine: (!a.no_mine).then(|| a.mine.params()),
        lora: a.lora.overrides(),
        seed: a.mine.seed,
    };
    if a.trainer == Trainer::Lora && a.adapter.is_none() {
        announce_trainer(project, &o.lora);
    }
    emit(&hifi::pipeline::round(project, &o, bar, cancel)?, a.json)
}

pub fn report(project: &Path, a: &ReportArgs) -> Result<()> {
    let (cfg, store) = hifi::project::open(project)?;
    let rep: Report = rounds::report(&store, &cfg)?;
    // The responses section, when experts have judged candidate responses.
    let events = store.response_events(None)?;
    let responses = if events.is_empty() {
        None
    } else {
        let revisions = store.all_revisions()?;
        Some(hifi::responses::report::report(&revisions, &events, 0))
    };
    if a.json {
        /// The rounds' report with a `responses` object when there is one.
        #[derive(serde::Serialize)]
        struct Doc<'a> {
            #[serde(flatten)]
            rounds: &'a Report,
            #[serde(skip_serializing_if = "Option::is_none")]
            responses: Option<&'a hifi::responses::report::ResponsesReport>,
        }
        let doc = Doc { rounds: &rep, responses: responses.as_ref() };
        println!("{}", hifi::text::json_to_string(&doc, true));
        return Ok(());
    }
    println!("{}", inert(&rep.label_set_line(), false));
    if rep.rounds.is_empty() {
        println!("no rounds yet: `hifi round --trainer zero-shot` scores the LLM as it is; `hifi round` trains a probe");
    }
    for r in &rep.rounds {
        println!(
            "round {} · {} · {}",
            r.round,
            inert(r.trainer.as_deref().unwrap_or("?"), false),
            r.started_at
        );
        if let Some(n) = r.label_set_note(&rep.label_set) {
            println!("{}", inert(&n, false));
        }
        match &r.scores {
            Some(s) => {
                hifi::pipeline::score_lines(s).iter().for_each(|l| println!("{l}"));
                // Multi-label rounds: each label's κ, their mean and α (MASI).
                for l in rounds::per_label_lines(s, &rep.label_set.labels) {
                    println!("{l}");
                }
            }
            None => println!("  interrupted (no scores)"),
        }
    }
    println!("{}", inert(&rep.leakage.line(), false));
    for n in &rep.verdict.notes {
        println!("note: {}", inert(n, false));
    }
    println!("{}", inert(&rep.verdict.message, true));
    // Multi-label projects: the stop rule of each label, in label order.
    for name in rep.label_set.labels.iter().filter(|n| rep.verdict.per_label.contains_key(*n)) {
        let v = &rep.verdict.per_label[name];
        println!("  {}: {}", inert(name, false), inert(&v.message, true));
    }
    if let Some(r) = &responses {
        hifi::responses::report::lines(r).iter().for_each(|l| println!("{l}"));
    }
    Ok(())
}

pub fn simulate(
    project: &Path,
    a: &SimulateArgs,
    bar: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<()> {
    if a.trainer == SimTrainer::Lora {
        bail!("--trainer lora: simulating LoRA rounds would train one adapter per strategy, budget and round (minutes each); simulate with --trainer probe, then run real LoRA rounds with `hifi round`");
    }
    let r = SimulateRequest {
        oracle: a.oracle.clone(),
        oracle2: a.oracle2.clone(),
        params: SimParams {
            budgets: a.budgets.clone(),
            strategies: a.strategies.clone(),
            rounds: a.rounds,
            seed: a.seed,
            seeds: a.seeds,
            test_fraction: a.test_fraction,
            oracle_noise: a.oracle_noise,
            probe: ProbeParams {
                use_llm: !a.no_llm,
                l2: a.probe_l2,
                prior_labels: (a.probe_prior_labels > 0).then_some(a.probe_prior_labels),
                bias_share: a.probe_bias_share,
                ..ProbeParams::default()
            },
            ..SimParams::default()
        },
        plot: a.plot.clone().map(|p| (p, a.force)),
    };
    emit(&hifi::pipeline::simulate(project, &r, bar, cancel)?, a.json)
}
