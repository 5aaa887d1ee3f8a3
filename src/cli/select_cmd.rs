//! `hifi select betr|limo|list|show|veto`: build sets and look after them.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

use super::flags::{LoraFlags, SamplingFlags};
use super::output::{announce_trainer, emit};
use hifi::pipeline::{BetrOverrides, EngineOverrides, LimoOverrides, SelfTrainOverrides};
use hifi::progress::{CancelToken, Progress};
use hifi::store::{Selection, Store};
use hifi::text::inert;

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
    #[arg(long, default_value_t = BetrOverrides::default().keep, value_parser = hifi::select::parse_share)]
    pub keep: f64,
    /// Pool documents to embed and rank (the whole pool when smaller).
    #[arg(long, default_value_t = BetrOverrides::default().sample, value_name = "N")]
    pub sample: usize,
    /// Share of the sample the classifier learns as positive.
    #[arg(long, default_value_t = BetrOverrides::default().positive, value_parser = hifi::select::parse_share)]
    pub positive: f64,
    /// Field of the targets file with the text.
    #[arg(long, default_value_t = BetrOverrides::default().text_field)]
    pub text_field: String,
    /// Field of the targets file naming each example's target set.
    #[arg(long, default_value_t = BetrOverrides::default().set_field)]
    pub set_field: String,
    #[arg(long, default_value_t = BetrOverrides::default().seed)]
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
    #[arg(long, default_value_t = LimoOverrides::default().min_passes)]
    pub min_passes: usize,
    /// Rubric weights, e.g. "elaboration=0.3,verification=0.2,exploration=0.25,granularity=0.25"
    /// (LIMO's; parts left out keep these).
    #[arg(long, default_value = "", value_name = "W")]
    pub weights: String,
    /// Diversity clusters (default √(n/2), at most --size).
    #[arg(long)]
    pub clusters: Option<usize>,
    /// Word n-gram cosine at or above which a prompt is a near-duplicate of a chosen one.
    #[arg(long, default_value_t = LimoOverrides::default().dup_threshold)]
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

pub fn run(
    project: &Path,
    c: &SelectCommand,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<()> {
    // The builders open the project themselves; the rest read and veto.
    let store = || -> Result<Store> { Ok(hifi::project::open(project)?.1) };
    match c {
        SelectCommand::Betr(a) => {
            let o = BetrOverrides {
                targets: a.targets.clone(),
                keep: a.keep,
                sample: a.sample,
                positive: a.positive,
                text_field: a.text_field.clone(),
                set_field: a.set_field.clone(),
                seed: a.seed,
                engine: EngineOverrides {
                    model: a.model.clone(),
                    threads: a.threads,
                    gpu_layers: None,
                },
            };
            return emit(&hifi::pipeline::select_betr(project, &o, progress, cancel)?, a.json);
        }
        SelectCommand::Limo(a) => {
            let o = LimoOverrides {
                size: a.size,
                sampling: a.sampling.overrides(),
                min_passes: a.min_passes,
                weights: a.weights.clone(),
                clusters: a.clusters,
                dup_threshold: a.dup_threshold,
                limit: a.limit,
                embed_model: a.embed_model.clone(),
            };
            return emit(&hifi::pipeline::select_limo(project, &o, progress, cancel)?, a.json);
        }
        SelectCommand::List(a) => {
            let all = store()?.selections()?;
            if a.json {
                println!("{}", hifi::text::json_to_string(&all, true));
            } else if all.is_empty() {
                println!(
                    "no sets yet: build one with `hifi select betr|limo` or `hifi self-train`"
                );
            } else {
                println!("{:>4}  {:<10}  {:>7}  {:>6}  built", "id", "kind", "entries", "vetoed");
                for s in all {
                    println!(
                        "{:>4}  {:<10}  {:>7}  {:>6}  {}",
                        s.id,
                        s.kind.as_str(),
                        s.entries,
                        s.vetoed,
                        s.created_at
                    );
                }
            }
        }
        SelectCommand::Show(a) => {
            let store = store()?;
            let sel = resolve(&store, &a.selection)?;
            let entries = store.selection_entries(sel.id)?;
            if a.json {
                println!(
                    "{}",
                    hifi::text::json_to_string(
                        &serde_json::json!({"selection": sel, "entries": entries}),
                        true
                    )
                );
                return Ok(());
            }
            println!(
                "set {} ({}), built {}: {} entries, {} vetoed",
                sel.id,
                sel.kind.as_str(),
                sel.created_at,
                sel.entries,
                sel.vetoed
            );
            for e in entries {
                let mark = match (&e.vetoed, &e.veto_reason) {
                    (true, Some(r)) => format!("VETOED ({}) ", inert(r, false)),
                    (true, None) => "VETOED ".to_string(),
                    _ => String::new(),
                };
                let text: String = inert(&e.text, false).chars().take(70).collect();
                println!(
                    "{:>4}  {mark}{:<14} {:>7}  {text}",
                    e.rank,
                    inert(&e.item_id, false),
                    e.score.map_or(String::new(), |s| format!("{s:.3}"))
                );
                println!("      {}", inert(&e.reasons.to_string(), false));
            }
        }
        SelectCommand::Veto(a) => {
            let mut store = store()?;
            let sel = resolve(&store, &a.selection)?;
            let who = a.annotator.clone().unwrap_or_else(hifi::pipeline::default_annotator);
            store.veto(sel.id, a.rank, &who, a.reason.as_deref(), a.restore)?;
            println!(
                "{} entry {} of set {}",
                if a.restore { "restored" } else { "vetoed" },
                a.rank,
                sel.id
            );
        }
    }
    Ok(())
}

/// A set by id or "latest".
pub fn resolve(store: &Store, which: &str) -> Result<Selection> {
    if which == "latest" {
        return store
            .latest_selection(None)?
            .context("no sets yet: build one with `hifi select betr|limo` or `hifi self-train`");
    }
    let Ok(id) = which.parse::<i64>() else {
        bail!("{:?} is not a set id (a number, or \"latest\")", inert(which, false))
    };
    store.selection(id)?.with_context(|| format!("no set {id}; `hifi select list` shows them"))
}

/// `hifi self-train`.
#[derive(Debug, Args)]
pub struct SelfTrainArgs {
    #[command(flatten)]
    pub sampling: SamplingFlags,
    /// Correct replies kept per prompt at most (distinct texts; the paper keeps 10).
    #[arg(long, default_value_t = SelfTrainOverrides::default().keep_per_item, value_name = "M")]
    pub keep_per_item: usize,
    /// Iterations at most; it stops earlier when the held-out reward stops improving.
    #[arg(long, default_value_t = SelfTrainOverrides::default().iterations, value_name = "I")]
    pub iterations: usize,
    /// Share of the prompts held out to measure the reward (never trained on).
    #[arg(long, default_value_t = SelfTrainOverrides::default().holdout, value_parser = hifi::select::parse_share)]
    pub holdout: f64,
    /// Use at most N prompts.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    #[command(flatten)]
    pub lora: LoraFlags,
    #[arg(long)]
    pub json: bool,
}

pub fn self_train(
    project: &Path,
    a: &SelfTrainArgs,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<()> {
    let o = SelfTrainOverrides {
        sampling: a.sampling.overrides(),
        keep_per_item: a.keep_per_item,
        iterations: a.iterations,
        holdout: a.holdout,
        limit: a.limit,
        lora: a.lora.overrides(),
    };
    announce_trainer(project, &o.lora);
    emit(&hifi::pipeline::self_train(project, &o, progress, cancel)?, a.json)
}
