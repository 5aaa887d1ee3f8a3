//! `hifi select betr|limo|list|show|veto`: build sets and look after them.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

use crate::config::Config;
use crate::llm::EngineOptions;
use crate::progress::{CancelToken, Progress};
use crate::select::betr::{self, BetrParams};
use crate::select::limo::{self, LimoParams};
use crate::select::reward::Reward;
use crate::select::SamplingParams;
use crate::select::selftrain::{self, SelfTrainParams};
use crate::store::{Selection, Store};
use crate::text::inert;

#[derive(Debug, Subcommand)]
pub enum SelectCommand {
    /// Keep the pool documents most like some target examples (BETR).
    ///
    /// Target examples and a sample of the pool are embedded; each document of the sample
    /// scores its best rank under any single target; a hashed word n-gram classifier learns
    /// "top 10% vs rest" and scores the whole pool; the top --keep share is kept, with equal
    /// quotas per target set (a `set` field in the targets file; one set otherwise).
    ///
    /// Example:
    ///   hifi select betr --targets sample-data/betr-targets.jsonl --keep 10%
    Betr(BetrArgs),
    /// Exactly N hard-but-solvable prompts with their best responses (LIMO).
    ///
    /// Difficulty: with a reference per prompt (a `reference` field, or the experts' label)
    /// the model samples --samples replies and each is judged (exact match after
    /// normalisation, or --reward-command); prompts it always solves, or never, are dropped
    /// and the rest rank by how rarely it solves them. With --samples 0 or no references:
    /// the latest prelabeling's margin. Each prompt keeps its best correct response (imported
    /// `responses`, or the model's own correct samples) by the LIMO rubric; clusters take
    /// turns so the set covers the pool; near-duplicates of chosen prompts are refused.
    ///
    /// Example:
    ///   hifi select limo --size 40 --samples 8
    Limo(LimoArgs),
    /// Every saved set: id, kind, size, vetoed entries.
    List(ListArgs),
    /// One set's entries with the reasons each was chosen.
    Show(ShowArgs),
    /// Veto an entry of a set (left out of `hifi export --selection`), or --restore it.
    Veto(VetoArgs),
}

#[derive(Debug, Args)]
pub struct BetrArgs {
    /// Target examples, CSV or JSONL.
    #[arg(long, value_name = "FILE")]
    pub targets: PathBuf,
    /// Share of the pool to keep (10% or 0.1). The paper keeps 3% for small models up to
    /// 30% for large ones: smaller models want stricter filters.
    #[arg(long, default_value = "10%", value_parser = crate::select::parse_share)]
    pub keep: f64,
    /// Pool documents to embed and rank (the whole pool when smaller).
    #[arg(long, default_value_t = 2000, value_name = "N")]
    pub sample: usize,
    /// Share of the sample the classifier learns as positive.
    #[arg(long, default_value = "10%", value_parser = crate::select::parse_share)]
    pub positive: f64,
    /// Field of the targets file with the text.
    #[arg(long, default_value = "text")]
    pub text_field: String,
    /// Field of the targets file naming each example's target set.
    #[arg(long, default_value = "set")]
    pub set_field: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Embedding model (default: [embed] model in hifi.toml, else the [model]).
    #[arg(long, value_name = "GGUF")]
    pub model: Option<PathBuf>,
    /// CPU threads (default: hifi.toml).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LimoArgs {
    /// Prompts in the set (exactly; fewer qualifying prompts is an error that says why).
    #[arg(long, value_name = "N")]
    pub size: usize,
    #[command(flatten)]
    pub sampling: SamplingFlags,
    /// A prompt counts as solvable when at least this many samples pass.
    #[arg(long, default_value_t = 1)]
    pub min_passes: usize,
    /// Rubric weights, e.g. "elaboration=0.3,verification=0.2,exploration=0.25,granularity=0.25"
    /// (LIMO's; parts left out keep these).
    #[arg(long, default_value = "", value_name = "W")]
    pub weights: String,
    /// Diversity clusters (default √(n/2), at most --size).
    #[arg(long)]
    pub clusters: Option<usize>,
    /// Word n-gram cosine at or above which a prompt is a near-duplicate of a chosen one.
    #[arg(long, default_value_t = 0.8)]
    pub dup_threshold: f32,
    /// Consider at most N prompts.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Embedding model for the clusters (default: [embed] in hifi.toml).
    #[arg(long, value_name = "GGUF")]
    pub embed_model: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

/// How replies are sampled and judged (LIMO and self-training).
#[derive(Debug, Clone, Args)]
pub struct SamplingFlags {
    /// Replies sampled per prompt (0 for LIMO: difficulty from the prelabeling margin).
    #[arg(long, default_value_t = 8, value_name = "K")]
    pub samples: usize,
    #[arg(long, default_value_t = 0.7)]
    pub temperature: f32,
    /// Longest reply in tokens.
    #[arg(long, default_value_t = 128)]
    pub max_tokens: usize,
    /// Field of the imported items with the reference answer.
    #[arg(long, default_value = "reference")]
    pub reference_field: String,
    /// Field with candidate responses (a string or a list of strings).
    #[arg(long, default_value = "responses")]
    pub responses_field: String,
    /// System message for sampling (default: none, the chat template's own).
    #[arg(long)]
    pub system: Option<String>,
    /// Judge replies with a command instead of exact match: it reads
    /// {"id","prompt","response","reference"} as JSON on stdin and prints 1 or 0.
    #[arg(long, value_name = "COMMAND")]
    pub reward_command: Option<String>,
    /// The model that samples (default: [model] in hifi.toml).
    #[arg(long, value_name = "GGUF")]
    pub model: Option<PathBuf>,
    /// CPU threads (default: hifi.toml).
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl SamplingFlags {
    /// The sampling these flags ask for, with hifi.toml for the model and threads.
    pub fn params(&self, cfg: &Config, project: &Path) -> SamplingParams {
        SamplingParams {
            samples: self.samples,
            temperature: self.temperature,
            max_tokens: self.max_tokens,
            reference_field: self.reference_field.clone(),
            system: self.system.clone(),
            reward: match &self.reward_command {
                Some(c) => Reward::Command { command: c.clone() },
                None => Reward::ExactMatch,
            },
            seed: self.seed,
            model: self.model.clone().unwrap_or_else(|| cfg.model_path(project)),
            engine: EngineOptions { threads: self.threads.unwrap_or_else(|| cfg.threads()), gpu_layers: cfg.model.gpu_layers },
        }
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Set id, or "latest".
    #[arg(default_value = "latest")]
    pub selection: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VetoArgs {
    /// Set id, or "latest".
    pub selection: String,
    /// Entry number (the `#` column of `hifi select show`).
    pub rank: usize,
    /// Why (kept with the veto).
    #[arg(long)]
    pub reason: Option<String>,
    /// Take the veto back.
    #[arg(long)]
    pub restore: bool,
    /// Who vetoes (default: $USER).
    #[arg(long, env = "HIFI_ANNOTATOR")]
    pub annotator: Option<String>,
}

pub fn run(project: &Path, c: &SelectCommand, progress: &mut dyn Progress, cancel: &CancelToken) -> Result<()> {
    let cfg = Config::load(project)?;
    let mut store = Store::open(project)?;
    match c {
        SelectCommand::Betr(a) => {
            let params = BetrParams {
                targets: a.targets.clone(),
                text_field: a.text_field.clone(),
                set_field: a.set_field.clone(),
                keep: a.keep,
                sample: a.sample,
                positive: a.positive,
                seed: a.seed,
                model: a.model.clone().unwrap_or_else(|| cfg.embed_model_path(project)),
                engine: EngineOptions { threads: a.threads.unwrap_or_else(|| cfg.threads()), gpu_layers: cfg.model.gpu_layers },
            };
            let rep = betr::run(&mut store, &params, progress, cancel)?;
            if a.json {
                println!("{}", crate::text::json_to_string(&rep, true));
                return Ok(());
            }
            println!("set {} (betr): kept {} of {} documents ({} sampled, {} embedded now) in {:.1} s", rep.selection, rep.kept, rep.pool, rep.sample, rep.embedded_now, rep.seconds);
            for s in &rep.sets {
                let h = &s.held_out;
                println!(
                    "  {:<16} {} targets, {} positives; held-out classifier: accuracy {:.3} (majority {:.3}), balanced {:.3}, AUC {}; kept {}",
                    inert(&s.name, false),
                    s.targets,
                    s.positives,
                    h.accuracy,
                    h.majority_accuracy,
                    h.balanced_accuracy,
                    h.auc.map_or("n/a".into(), |v| format!("{v:.3}")),
                    s.kept
                );
            }
            let sim = &rep.similarity;
            match (sim.kept_mean, sim.random_mean) {
                (Some(k), Some(r)) => println!(
                    "  mean best cosine to the targets: kept {k:.4} (n={}) vs random {r:.4} (n={}), on {} embedded documents the classifier never saw",
                    sim.kept_n, sim.random_n, sim.measured_on
                ),
                _ => println!("  similarity not measured: no kept or random document is embedded outside the classifier's training sample (run `hifi embed`)"),
            }
            println!("export it: hifi export --selection {} -o betr.jsonl", rep.selection);
        }
        SelectCommand::Limo(a) => {
            let f = &a.sampling;
            let weights = a.weights.parse().map_err(|e: String| anyhow::anyhow!("--weights: {e}"))?;
            let params = LimoParams {
                size: a.size,
                sampling: f.params(&cfg, project),
                min_passes: a.min_passes,
                responses_field: f.responses_field.clone(),
                weights,
                clusters: a.clusters,
                dup_threshold: a.dup_threshold,
                limit: a.limit,
                embed_model: a.embed_model.clone().unwrap_or_else(|| cfg.embed_model_path(project)),
            };
            let rep = limo::run(&mut store, &params, progress, cancel)?;
            if a.json {
                println!("{}", crate::text::json_to_string(&rep, true));
                return Ok(());
            }
            let how = match rep.difficulty {
                limo::Difficulty::PassRate => format!("pass rate over {} samples (mean in the set {:.2})", f.samples, rep.mean_pass_rate.unwrap_or(0.0)),
                limo::Difficulty::Margin => "prelabeling margin".to_string(),
            };
            println!("set {} (limo): {} prompts of {} eligible ({} considered), difficulty from {how}, {} of {} clusters covered, {:.1} s", rep.selection, rep.size, rep.eligible, rep.considered, rep.clusters_covered, rep.clusters, rep.seconds);
            println!("  dropped: {}", crate::text::json_to_string(&rep.dropped, false));
            println!("review it: hifi select show {}   export it: hifi export --selection {} --format chat-jsonl -o limo.jsonl", rep.selection, rep.selection);
        }
        SelectCommand::List(a) => {
            let all = store.selections()?;
            if a.json {
                println!("{}", crate::text::json_to_string(&all, true));
            } else if all.is_empty() {
                println!("no sets yet: build one with `hifi select betr|limo` or `hifi self-train`");
            } else {
                println!("{:>4}  {:<10}  {:>7}  {:>6}  built", "id", "kind", "entries", "vetoed");
                for s in all {
                    println!("{:>4}  {:<10}  {:>7}  {:>6}  {}", s.id, s.kind.as_str(), s.entries, s.vetoed, s.created_at);
                }
            }
        }
        SelectCommand::Show(a) => {
            let sel = resolve(&store, &a.selection)?;
            let entries = store.selection_entries(sel.id)?;
            if a.json {
                println!("{}", crate::text::json_to_string(&serde_json::json!({"selection": sel, "entries": entries}), true));
                return Ok(());
            }
            println!("set {} ({}), built {}: {} entries, {} vetoed", sel.id, sel.kind.as_str(), sel.created_at, sel.entries, sel.vetoed);
            for e in entries {
                let mark = match (&e.vetoed, &e.veto_reason) {
                    (true, Some(r)) => format!("VETOED ({}) ", inert(r, false)),
                    (true, None) => "VETOED ".to_string(),
                    _ => String::new(),
                };
                let text: String = inert(&e.text, false).chars().take(70).collect();
                println!("{:>4}  {mark}{:<14} {:>7}  {text}", e.rank, inert(&e.item_id, false), e.score.map_or(String::new(), |s| format!("{s:.3}")));
                println!("      {}", inert(&e.reasons.to_string(), false));
            }
        }
        SelectCommand::Veto(a) => {
            let sel = resolve(&store, &a.selection)?;
            let who = a.annotator.clone().unwrap_or_else(super::commands::default_annotator);
            store.veto(sel.id, a.rank, &who, a.reason.as_deref(), a.restore)?;
            println!("{} entry {} of set {}", if a.restore { "restored" } else { "vetoed" }, a.rank, sel.id);
        }
    }
    Ok(())
}

/// A set by id or "latest".
pub fn resolve(store: &Store, which: &str) -> Result<Selection> {
    if which == "latest" {
        return store.latest_selection(None)?.context("no sets yet: build one with `hifi select betr|limo` or `hifi self-train`");
    }
    let Ok(id) = which.parse::<i64>() else { bail!("{:?} is not a set id (a number, or \"latest\")", inert(which, false)) };
    store.selection(id)?.with_context(|| format!("no set {id}; `hifi select list` shows them"))
}

/// `hifi self-train`.
#[derive(Debug, Args)]
pub struct SelfTrainArgs {
    #[command(flatten)]
    pub sampling: SamplingFlags,
    /// Correct replies kept per prompt at most (distinct texts; the paper keeps 10).
    #[arg(long, default_value_t = 10, value_name = "M")]
    pub keep_per_item: usize,
    /// Iterations at most; it stops earlier when the held-out reward stops improving.
    #[arg(long, default_value_t = 3, value_name = "I")]
    pub iterations: usize,
    /// Share of the prompts held out to measure the reward (never trained on).
    #[arg(long, default_value = "20%", value_parser = crate::select::parse_share)]
    pub holdout: f64,
    /// Use at most N prompts.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    #[command(flatten)]
    pub lora: crate::cli::train_cmd::LoraFlags,
    #[arg(long)]
    pub json: bool,
}

pub fn self_train(project: &Path, a: &SelfTrainArgs, progress: &mut dyn Progress, cancel: &CancelToken) -> Result<()> {
    let cfg = Config::load(project)?;
    let mut store = Store::open(project)?;
    if a.lora.continue_last {
        bail!("--continue: self-training trains every iteration from the base model (ReST-EM); it cannot continue an adapter");
    }
    let params = SelfTrainParams {
        sampling: a.sampling.params(&cfg, project),
        keep_per_item: a.keep_per_item,
        iterations: a.iterations,
        holdout: a.holdout,
        limit: a.limit,
        lora: a.lora.run(&store, &cfg)?,
    };
    let rep = selftrain::run(&mut store, &params, progress, cancel)?;
    if a.json {
        println!("{}", crate::text::json_to_string(&rep, true));
        return Ok(());
    }
    println!("{} training prompts, {} held out; held-out reward (greedy) of the base model: {:.3}", rep.train_prompts, rep.heldout_prompts, rep.baseline_reward);
    for it in &rep.iterations {
        println!(
            "  iteration {}: kept {} replies ({} prompts solved, {:.0}% of samples passed{}), loss {} → held-out reward {:.3}; set {}, {:.0} s",
            it.iteration,
            it.kept,
            it.prompts_solved,
            100.0 * it.sample_pass_rate,
            if it.too_long > 0 { format!(", {} too long", it.too_long) } else { String::new() },
            it.final_loss.map_or("-".into(), |l| format!("{l:.3}")),
            it.heldout_reward,
            it.selection,
            it.seconds
        );
        println!("      adapter: {}", inert(&it.adapter.display().to_string(), false));
    }
    println!("stopped: {}", rep.stopped);
    match rep.best_iteration {
        Some(b) => println!("best: iteration {b}"),
        None => println!("best: the base model (no iteration beat it on the held-out prompts)"),
    }
    Ok(())
}
