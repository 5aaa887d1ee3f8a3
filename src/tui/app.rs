//! The workstation's state: what is on screen, with no terminal code. `render` only reads it,
//! `update` only changes it.

use crate::config::LabelDef;
use crate::store::{QueueEntry, SelectionEntry};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Screen {
    Review,
    Pipeline,
    Dashboard,
    Adjudicate,
    Sets,
}

pub const SCREENS: [Screen; 5] = [Screen::Review, Screen::Pipeline, Screen::Dashboard, Screen::Adjudicate, Screen::Sets];

impl Screen {
    pub fn title(self) -> &'static str {
        match self {
            Screen::Review => "Review",
            Screen::Pipeline => "Pipeline",
            Screen::Dashboard => "Dashboard",
            Screen::Adjudicate => "Adjudicate",
            Screen::Sets => "Sets",
        }
    }
}

/// One item as the reviewer sees it (never the gold label, never another annotator's label).
#[derive(Debug, Clone, PartialEq)]
pub struct ItemView {
    pub key: i64,
    pub id: String,
    pub text: String,
    /// The newest model's probabilities, in `model_labels` order.
    pub probs: Option<Vec<f64>>,
    pub model_labels: Vec<String>,
    /// This annotator's label in force, if any.
    pub mine: Option<String>,
}

/// A queue entry with its items loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryView {
    pub entry: QueueEntry,
    pub a: ItemView,
    pub b: Option<ItemView>,
}

impl EntryView {
    pub fn items(&self) -> impl Iterator<Item = &ItemView> {
        std::iter::once(&self.a).chain(self.b.as_ref())
    }
}

/// Pipeline stages the workstation can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    Prelabel,
    Embed,
    Mine,
    Train,
    Lora,
    Evaluate,
}

pub const STAGES: [Stage; 6] = [Stage::Prelabel, Stage::Embed, Stage::Mine, Stage::Train, Stage::Lora, Stage::Evaluate];

impl Stage {
    pub fn title(self) -> &'static str {
        match self {
            Stage::Prelabel => "prelabel",
            Stage::Embed => "embed",
            Stage::Mine => "mine",
            Stage::Train => "round",
            Stage::Lora => "lora round",
            Stage::Evaluate => "evaluate",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum JobState {
    Idle,
    Running { done: u64, total: u64, note: String, started: f64 },
    Done(String),
    Failed(String),
}

/// One disagreement between annotators, for adjudication.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    pub item: i64,
    pub id: String,
    pub text: String,
    /// (annotator, label)
    pub labels: Vec<(String, String)>,
}

/// A built set (LIMO, BETR, self-training) under expert review before export.
#[derive(Debug, Clone, PartialEq)]
pub struct SetView {
    pub id: i64,
    pub kind: String,
    pub created_at: String,
    pub entries: Vec<SelectionEntry>,
    /// Every set's id, oldest first (for previous / next).
    pub all: Vec<i64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DashboardData {
    /// (annotator, labels in force)
    pub per_annotator: Vec<(String, i64)>,
    /// (label, count) in the eval split.
    pub eval_balance: Vec<(String, i64)>,
    pub train_size: i64,
    /// Mean pairwise Cohen's kappa between annotators on shared items, with the item count.
    pub expert_kappa: Option<(String, usize)>,
    /// The newest model vs resolved expert labels on the eval split.
    pub model_kappa: Option<(String, usize)>,
    /// (round, kappa) for the chart.
    pub rounds: Vec<(f64, f64)>,
    /// The stopping verdict over the rounds.
    pub verdict: Option<String>,
    /// The newest model on the audit stratum and eval labels that were not blind, as lines.
    pub audit: Vec<String>,
    /// The newest `hifi simulate`: (strategy, [(budget, kappa)]).
    pub simulation: Vec<(String, Vec<(f64, f64)>)>,
}

/// Free text being typed.
#[derive(Debug, Clone, PartialEq)]
pub enum InputPurpose {
    Note,
    Reason { item: i64, label: usize },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub purpose: InputPurpose,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub struct App {
    pub labels: Vec<LabelDef>,
    pub annotator: String,
    pub project: String,
    pub screen: Screen,
    pub entry: Option<EntryView>,
    /// Waiting for the next entry.
    pub loading: bool,
    /// The queue is exhausted for this annotator.
    pub queue_empty: bool,
    /// Items of the current entry with a decision saved in this view.
    pub decided: Vec<i64>,
    /// Saves in flight: the entry does not move on until they are committed.
    pub pending: usize,
    pub note: Option<String>,
    pub flagged: bool,
    pub done: i64,
    pub total: i64,
    /// Seconds since start (from the runtime's clock; tests inject it).
    pub now: f64,
    pub first_label_at: Option<f64>,
    pub session_labels: u64,
    pub entry_started: f64,
    pub show_guidelines: bool,
    /// The model's predicted label and probabilities are on screen (`p`; off by default so
    /// labels are given blind; audit items are always blind). Recorded on every decision.
    pub show_predictions: bool,
    pub show_help: bool,
    pub scroll: u16,
    pub input: Option<Input>,
    pub message: Option<(String, Level)>,
    pub jobs: Vec<(Stage, JobState)>,
    /// The running (or last) job's training loss per step, for the pipeline's curve.
    pub loss_curve: Vec<f64>,
    pub stage_sel: usize,
    pub dashboard: Option<DashboardData>,
    pub conflicts: Vec<Conflict>,
    pub conflict_sel: usize,
    /// The set on the Sets screen (`None`: not loaded, or none built yet).
    pub set: Option<SetView>,
    pub set_sel: usize,
    /// A hifi.toml command waiting for the user's yes before `stage` runs it.
    pub confirm: Option<(Stage, String)>,
    pub quit: bool,
}

impl App {
    pub fn new(labels: Vec<LabelDef>, annotator: &str, project: &str) -> Self {
        App {
            labels,
            annotator: annotator.to_string(),
            project: project.to_string(),
            screen: Screen::Review,
            entry: None,
            loading: true,
            queue_empty: false,
            decided: Vec::new(),
            pending: 0,
            note: None,
            flagged: false,
            done: 0,
            total: 0,
            now: 0.0,
            first_label_at: None,
            session_labels: 0,
            entry_started: 0.0,
            show_guidelines: false,
            show_predictions: false,
            show_help: false,
            scroll: 0,
            input: None,
            message: None,
            jobs: STAGES.iter().map(|s| (*s, JobState::Idle)).collect(),
            loss_curve: Vec::new(),
            stage_sel: 0,
            dashboard: None,
            conflicts: Vec::new(),
            conflict_sel: 0,
            set: None,
            set_sel: 0,
            confirm: None,
            quit: false,
        }
    }

    /// Whether the current entry's model suggestion is on screen: only when predictions are
    /// turned on and the entry is not from the audit stratum (always blind).
    pub fn suggestion_visible(&self) -> bool {
        self.show_predictions && !self.entry.as_ref().is_some_and(|e| e.entry.audit)
    }

    /// Labels per minute this session.
    pub fn rate(&self) -> Option<f64> {
        let t0 = self.first_label_at?;
        let mins = (self.now - t0) / 60.0;
        (mins > 0.05).then(|| self.session_labels as f64 / mins)
    }

    pub fn label_name(&self, i: usize) -> Option<&str> {
        self.labels.get(i).map(|l| l.name.as_str())
    }
}
