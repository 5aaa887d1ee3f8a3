//! What the screens show and what actions carry: plain data, no update logic, no terminal
//! code. Screens (`super::screens`) own the state built from it; `super::action` moves it.

use crate::store::{QueueEntry, SelectionEntry};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Screen {
    Review,
    Pipeline,
    Dashboard,
    Adjudicate,
    Sets,
    Responses,
    Browse,
}

pub const SCREENS: [Screen; 7] = [
    Screen::Review,
    Screen::Pipeline,
    Screen::Dashboard,
    Screen::Adjudicate,
    Screen::Sets,
    Screen::Responses,
    Screen::Browse,
];

impl Screen {
    pub fn title(self) -> &'static str {
        match self {
            Screen::Review => "Review",
            Screen::Pipeline => "Pipeline",
            Screen::Dashboard => "Dashboard",
            Screen::Adjudicate => "Adjudicate",
            Screen::Sets => "Sets",
            Screen::Responses => "Responses",
            Screen::Browse => "Browse",
        }
    }
}

/// Free text being typed.
#[derive(Debug, Clone, PartialEq)]
pub enum InputPurpose {
    Note,
    Reason {
        item: i64,
        label: usize,
    },
    /// Why `item` is resolved with the label set `set` (stored form, a JSON array; multi-label
    /// projects).
    SetReason {
        item: i64,
        set: String,
    },
    /// Why candidate `number` of `item` is rejected (Responses screen).
    RejectReason {
        item: i64,
        number: i64,
    },
    /// Words or an item id to find (Browse screen).
    Search,
    /// A note for the next decision on the item open in Browse.
    BrowseNote,
    /// A new label's name, then its definition (Browse's labels panel).
    NewLabelName,
    NewLabelDefinition {
        name: String,
    },
    /// The new name of label `from`.
    RenameLabel {
        from: String,
    },
    /// The label `from` is merged into (an existing label or a new name).
    MergeLabel {
        from: String,
    },
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
    /// Its imported fields shown under the text, as (name, value) in `[review] show_fields`
    /// order (untrusted text, made inert when drawn).
    pub fields: Vec<(String, String)>,
}

pub use crate::rounds::SinceRound;

/// An item opened in Browse: everything recorded about it, and its imported fields as
/// `[review] show_fields` picks them (untrusted text, made inert when drawn).
#[derive(Debug, Clone, PartialEq)]
pub struct ItemDetail {
    pub history: crate::store::ItemHistory,
    pub fields: Vec<(String, String)>,
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

/// One disagreement between annotators, for adjudication.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    pub item: i64,
    pub id: String,
    pub text: String,
    /// (annotator, label)
    pub labels: Vec<(String, String)>,
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

/// One item with candidate responses, as the Responses screen shows it to one annotator (only
/// their own judgements; the candidates' sources stay out of it).
#[derive(Debug, Clone, PartialEq)]
pub struct RespItem {
    pub key: i64,
    pub id: String,
    /// The prompt (the item's text).
    pub prompt: String,
    /// The chat turns before the prompt: (role, text).
    pub context: Vec<(String, String)>,
    /// By number.
    pub candidates: Vec<CandidateView>,
    /// This annotator's preferences in force: (lower number, higher number) and the outcome.
    pub compared: Vec<((i64, i64), crate::responses::Outcome)>,
}

impl RespItem {
    /// Whether this annotator has any judgement in force on the item.
    pub fn judged(&self) -> bool {
        !self.compared.is_empty()
            || self.candidates.iter().any(|c| c.status.is_some() || c.score.is_some())
    }

    pub fn candidate(&self, number: i64) -> Option<&CandidateView> {
        self.candidates.iter().find(|c| c.number == number)
    }

    /// Every pair of candidates, (lower, higher), in order: (1, 2), (1, 3), (2, 3), …
    pub fn pairs(&self) -> Vec<(i64, i64)> {
        let n: Vec<i64> = self.candidates.iter().map(|c| c.number).collect();
        let mut out = Vec::new();
        for (i, a) in n.iter().enumerate() {
            for b in &n[i + 1..] {
                out.push((*a, *b));
            }
        }
        out
    }

    pub fn preference(&self, pair: (i64, i64)) -> Option<crate::responses::Outcome> {
        self.compared.iter().find(|(p, _)| *p == pair).map(|(_, o)| *o)
    }
}

/// One candidate: its newest revision in force and this annotator's judgements of it.
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateView {
    pub number: i64,
    /// The revision shown (the newest in force).
    pub revision: i64,
    pub text: String,
    /// The text is an expert's revision, not the original.
    pub edited: bool,
    /// This annotator's verdict in force (an edit counts as accepting, `by_edit`).
    pub status: Option<crate::responses::Status>,
    pub by_edit: bool,
    pub reason: Option<String>,
    /// This annotator's score in force, 1–5.
    pub score: Option<u8>,
}

/// The pipeline stages the workstation can start as background jobs, named for what runs
/// (not [`crate::pipeline::Stage`], the stages of the library and the CLI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Job {
    Prelabel,
    Embed,
    Mine,
    /// `hifi round`: train a probe on the expert labels, predict, evaluate, mine.
    ProbeRound,
    /// `hifi round --trainer lora`: train a LoRA adapter, prelabel again, evaluate, mine.
    LoraRound,
    /// `hifi round --trainer zero-shot`: score the prelabeling model as it is.
    ZeroShotRound,
}

pub const JOBS: [Job; 6] =
    [Job::Prelabel, Job::Embed, Job::Mine, Job::ProbeRound, Job::LoraRound, Job::ZeroShotRound];

impl Job {
    pub fn title(self) -> &'static str {
        match self {
            Job::Prelabel => "prelabel",
            Job::Embed => "embed",
            Job::Mine => "mine",
            Job::ProbeRound => "probe round",
            Job::LoraRound => "LoRA round",
            Job::ZeroShotRound => "zero-shot round",
        }
    }

    /// Whether the stage loads an LLM (prelabel and embed; a LoRA round trains and predicts
    /// with one). Two at once would hold two models in memory and share the same cores, so
    /// only one runs at a time.
    pub fn loads_model(self) -> bool {
        matches!(self, Job::Prelabel | Job::Embed | Job::LoraRound)
    }

    /// Whether finishing it may leave a new review queue (it mines).
    pub fn mines(self) -> bool {
        matches!(self, Job::Mine | Job::ProbeRound | Job::LoraRound)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum JobState {
    Idle,
    Running {
        done: u64,
        total: u64,
        note: String,
        started: f64,
    },
    Done(String),
    Failed(String),
    /// Cancelled by the user: what it said as it stopped (what was kept).
    Cancelled(String),
}
