//! `hifi train` (an adapter from the expert train split) and the flags `hifi round
//! --trainer lora` shares with it.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;

use super::flags::LoraFlags;
use super::output::{announce_trainer, emit};
use hifi::progress::{CancelToken, Progress};

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

pub fn train(
    project: &Path,
    a: &TrainArgs,
    bar: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<()> {
    let lora = a.lora.overrides();
    announce_trainer(project, &lora);
    emit(&hifi::pipeline::train(project, &lora, bar, cancel)?, a.json)
}

/// The hidden `train-worker` subcommand (the child process `hifi train` starts).
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The job JSON.
    pub job: PathBuf,
}

pub fn worker(a: &WorkerArgs) -> i32 {
    hifi::train::job::worker_main(&a.job)
}
