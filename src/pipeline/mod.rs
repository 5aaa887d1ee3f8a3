//! The pipeline: one entry per stage — import, prelabel, embed, mine, round, train, select,
//! self-train, simulate — that both the CLI and the workstation call.
//!
//! Each entry takes the project folder and typed overrides (what the user set; everything
//! else comes from hifi.toml and the library's defaults, in one place), opens the project,
//! runs the stage and returns one [`Summary`]: the lines a person reads, the notes worth a
//! second look, the stage's full report, and its [`Outcome`]. A cancelled stage (Ctrl-C,
//! SIGTERM, the workstation's cancel key) is never an error: its outcome is
//! [`Outcome::Cancelled`] and its lines say what was kept.

mod fill;
mod loop_stages;
mod sets;
mod simulate_table;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::store::Store;
use crate::text::inert;

pub use fill::{
    embed, import, prelabel, BackendOverrides, EmbedOverrides, EngineOverrides, ImportRequest,
    PrelabelOverrides, DEFAULT_TEXT_FIELD,
};
pub use loop_stages::{
    mine, round, score_lines, simulate, train, LoraOverrides, RoundOverrides, SimulateRequest,
};
pub use sets::{
    select_betr, select_limo, self_train, BetrOverrides, LimoOverrides, SamplingOverrides,
    SelfTrainOverrides,
};
pub use simulate_table::sim_table;

/// The stages, named by what runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    Import,
    Prelabel,
    Embed,
    Mine,
    Round,
    Train,
    Select,
    SelfTrain,
    Simulate,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Import => "import",
            Stage::Prelabel => "prelabel",
            Stage::Embed => "embed",
            Stage::Mine => "mine",
            Stage::Round => "round",
            Stage::Train => "train",
            Stage::Select => "select",
            Stage::SelfTrain => "self-train",
            Stage::Simulate => "simulate",
        }
    }
}

/// How a stage ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Finished,
    /// Asked to stop; what it finished is kept (the summary's lines say what).
    Cancelled,
}

/// What a stage did, the same for the CLI and the workstation.
#[derive(Debug, Clone, Serialize)]
pub struct Summary<R> {
    pub stage: Stage,
    pub outcome: Outcome,
    /// For people; the first line is the headline (the workstation shows it beside the stage).
    pub lines: Vec<String>,
    /// Warnings and notes, each a full sentence (the CLI prints them on stderr as `note: …`).
    pub notes: Vec<String>,
    /// The stage's full report; absent when it was cancelled before it had one.
    pub report: Option<R>,
}

impl<R> Summary<R> {
    fn new(stage: Stage, report: R, cancelled: bool) -> Self {
        Summary {
            stage,
            outcome: if cancelled { Outcome::Cancelled } else { Outcome::Finished },
            lines: Vec::new(),
            notes: Vec::new(),
            report: Some(report),
        }
    }

    fn line(&mut self, l: impl Into<String>) {
        self.lines.push(l.into());
    }

    pub fn headline(&self) -> &str {
        self.lines.first().map_or("", String::as_str)
    }

    pub fn cancelled(&self) -> bool {
        self.outcome == Outcome::Cancelled
    }
}

/// The one place a cancellation becomes an outcome: a stage function that stopped with a
/// cancellation error gives a cancelled summary saying what was kept; other errors stay errors.
fn settle<R>(stage: Stage, run: impl FnOnce() -> Result<Summary<R>>) -> Result<Summary<R>> {
    match run() {
        Err(e) if e.is_cancelled() => {
            let what = match e {
                Error::Cancelled(m) => m,
                _ => format!("{} stopped", stage.as_str()),
            };
            Ok(Summary {
                stage,
                outcome: Outcome::Cancelled,
                lines: vec![format!("cancelled: {what}")],
                notes: Vec::new(),
                report: None,
            })
        }
        other => other,
    }
}

/// An open project: its configuration and store.
pub struct Project {
    pub dir: PathBuf,
    pub cfg: Config,
    pub store: Store,
}

impl Project {
    /// Load hifi.toml and open the store (a folder without hifi.toml is "not a hifi project").
    pub fn open(dir: &Path) -> Result<Self> {
        let (cfg, store) = crate::project::open(dir)?;
        Ok(Project { dir: dir.to_path_buf(), cfg, store })
    }
}

/// `$HIFI_ANNOTATOR` is read by the CLI; this is the fallback: `$USER`, or "expert".
pub fn default_annotator() -> String {
    std::env::var("USER").ok().filter(|u| !u.trim().is_empty()).unwrap_or_else(|| "expert".into())
}

/// A path for people (terminal escapes inert).
fn shown(p: &Path) -> String {
    inert(&p.display().to_string(), false)
}
