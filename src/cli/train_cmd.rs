//! `hifi train` (an adapter from the expert train split) and the flags `hifi round
//! --trainer lora` shares with it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::Args;

use crate::config::Config;
use crate::progress::{CancelToken, Progress};
use crate::store::Store;
use crate::text::inert;
use crate::train::{LoraParams, LoraRun, Target, TrainerCommand};

/// LoRA hyper-parameters and who trains.
#[derive(Debug, Clone, Args)]
pub struct LoraFlags {
    /// LoRA rank r [default: [train] rank in hifi.toml, else 8].
    #[arg(long, value_name = "R")]
    pub rank: Option<usize>,
    /// LoRA alpha; the update is scaled by alpha / rank [default: hifi.toml, else 16].
    #[arg(long)]
    pub alpha: Option<f32>,
    /// Peak learning rate (AdamW; linear warm-up over the first 10% of steps, then linear
    /// decay) [default: hifi.toml, else 1e-3].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Passes over the train split [default: hifi.toml, else 2].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Examples per optimiser step; they share one evaluation of the prompt prefix
    /// [default: hifi.toml, else 8].
    #[arg(long)]
    pub batch: Option<usize>,
    /// Longest item + answer in tokens (after the shared prefix).
    #[arg(long, default_value_t = 512, value_name = "TOKENS")]
    pub max_len: usize,
    /// Layers to adapt, comma-separated [default: hifi.toml, else q,k,v,o,gate,up,down].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub targets: Vec<Target>,
    /// Seeds the LoRA initialisation and the example order.
    #[arg(long = "train-seed", default_value_t = 0, value_name = "SEED")]
    pub train_seed: u64,
    /// Continue from the last LoRA round's adapter instead of training from the base model
    /// (the default, as ReST-EM found better).
    #[arg(long = "continue")]
    pub continue_last: bool,
    /// Train elsewhere: a shell command with {job} (the job JSON) and {out} (where to write
    /// the GGUF adapter), e.g. "python train_peft.py {job} {out}" [default: [train] external
    /// in hifi.toml]. Write the placeholders bare, not in quotes: hifi passes the paths as
    /// "$HIFI_JOB" and "$HIFI_OUT" (also $1 and $2), never inside the command's text. See
    /// README "External trainer".
    #[arg(long, value_name = "COMMAND")]
    pub external: Option<String>,
    /// Gradient checkpointing: on / off (default: on when a step's activations would not fit
    /// in half the available memory; it costs about a third more compute).
    #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
    pub checkpoint: Option<bool>,
    /// CPU threads for training (default: [model] threads in hifi.toml).
    #[arg(long = "train-threads", value_name = "N")]
    pub train_threads: Option<usize>,
}

impl LoraFlags {
    /// No flags given: everything comes from hifi.toml's `[train]` and the defaults.
    pub fn unset() -> Result<Self> {
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            lora: LoraFlags,
        }
        Ok(<Only as clap::Parser>::try_parse_from(["hifi"])?.lora)
    }

    /// The LoRA run these flags ask for, with hifi.toml's `[train]` for what they leave out.
    /// A trainer command taken from hifi.toml is printed to stderr before anything runs.
    pub fn run(&self, store: &Store, cfg: &Config) -> Result<LoraRun> {
        let run = self.run_unannounced(store, cfg)?;
        if let (None, TrainerCommand::External(cmd)) = (&self.external, &run.trainer) {
            eprintln!("training with hifi.toml's [train] external command: {}", inert(cmd, false));
        }
        Ok(run)
    }

    /// [`LoraFlags::run`] without the note on stderr: the workstation shows the command and
    /// asks for a yes instead.
    pub fn run_unannounced(&self, store: &Store, cfg: &Config) -> Result<LoraRun> {
        let continue_from = if self.continue_last {
            match crate::rounds::last_adapter(store)? {
                Some(p) => Some(p),
                None => bail!("--continue: no finished LoRA round has an adapter yet"),
            }
        } else {
            None
        };
        let t = &cfg.train;
        let trainer = match self.external.as_ref().or(t.external.as_ref()) {
            Some(cmd) => {
                let from = if self.external.is_some() { "--external" } else { "hifi.toml [train] external" };
                if let Err(e) = crate::train::job::check_external(cmd) {
                    bail!("{from}: {e}");
                }
                TrainerCommand::External(cmd.clone())
            }
            None => TrainerCommand::builtin()?,
        };
        Ok(LoraRun {
            params: LoraParams {
                rank: self.rank.unwrap_or(t.rank),
                alpha: self.alpha.unwrap_or(t.alpha),
                lr: self.lr.unwrap_or(t.lr),
                epochs: self.epochs.unwrap_or(t.epochs),
                batch: self.batch.unwrap_or(t.batch),
                max_len: self.max_len,
                targets: if self.targets.is_empty() { t.targets.iter().filter_map(|n| Target::from_flag(n)).collect() } else { self.targets.clone() },
                seed: self.train_seed,
                checkpoint: self.checkpoint,
                ..LoraParams::default()
            },
            continue_from,
            use_adapter: None,
            trainer,
            threads: self.train_threads.unwrap_or_else(|| cfg.threads()),
        })
    }
}

/// Train a LoRA adapter on the expert train split (without re-prelabeling; `hifi round
/// --trainer lora` does train → prelabel → evaluate → mine).
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Only lora is built in; use --external for other trainers.
    #[arg(long, value_enum, default_value = "lora")]
    pub trainer: TrainKind,
    #[command(flatten)]
    pub lora: LoraFlags,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TrainKind {
    Lora,
}

pub fn train(project: &Path, a: &TrainArgs, bar: &mut dyn Progress, cancel: &CancelToken) -> Result<()> {
    let cfg = Config::load(project)?;
    let mut store = Store::open(project)?;
    crate::curate::split::assign_splits(&mut store, &cfg)?;
    let run = a.lora.run(&store, &cfg)?;
    let mut warnings = Vec::new();
    let train = crate::rounds::train_split(&store, &cfg, &mut warnings)?;
    for w in &warnings {
        eprintln!("warning: {}", inert(w, false));
    }
    let stamp = format!("train-{}", crate::store::now().replace([':', '-'], "").replace('T', "-").chars().take(15).collect::<String>());
    let name = crate::train::round::claim_run_dir(&store.root().join("adapters"), &stamp)?;
    let out = crate::train::train_adapter(&mut store, &cfg, &name, None, &train, &run, bar, cancel)?;
    if a.json {
        println!("{}", crate::text::json_to_string(&out, true));
        return Ok(());
    }
    let m = &out.manifest;
    println!(
        "adapter: {} ({} train items, rank {}, {:.0}s, loss {} → {})",
        inert(&out.adapter.display().to_string(), false),
        m.train_size,
        m.rank,
        m.seconds,
        m.first_loss.map_or("-".into(), |l| format!("{l:.3}")),
        m.final_loss.map_or("-".into(), |l| format!("{l:.3}")),
    );
    println!("manifest: {}", inert(&crate::train::Manifest::path_for(&out.adapter).display().to_string(), false));
    println!("use it: hifi prelabel --adapter {}", inert(&out.adapter.display().to_string(), false));
    Ok(())
}

/// The hidden `train-worker` subcommand (the child process `hifi train` starts).
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The job JSON.
    pub job: PathBuf,
}

pub fn worker(a: &WorkerArgs) -> i32 {
    crate::train::job::worker_main(&a.job)
}

fn parse_on_off(s: &str) -> std::result::Result<bool, String> {
    match s {
        "on" | "true" | "yes" => Ok(true),
        "off" | "false" | "no" => Ok(false),
        _ => Err(format!("expected on or off, not {s:?}")),
    }
}
