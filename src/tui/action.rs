//! What can happen to the app (actions) and what the app asks the runtime to do (effects).

use crate::store::{Annotation, LabelEvent};

use super::view::{Conflict, DashboardData, EntryView, Job, Screen, SetView, SinceRound};

/// Everything `update` reacts to: keys already resolved by the keymap, and results coming
/// back from the runtime.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    // Review
    LabelLeft(usize),
    LabelRight(usize),
    LabelBoth(usize),
    Skip,
    Flag,
    StartNote,
    Undo,
    Redo,
    ToggleGuidelines,
    /// Show or hide the model's prediction (blind review by default).
    TogglePredictions,
    Scroll(i32),
    // Navigation
    NextScreen,
    PrevScreen,
    GoTo(Screen),
    ToggleHelp,
    Quit,
    // Text input (notes, adjudication reasons)
    Input(char),
    Backspace,
    Submit,
    CancelInput,
    // Lists (pipeline stages, disagreements)
    Up,
    Down,
    StartJob,
    CancelJob,
    Refresh,
    Resolve(usize),
    // Sets
    ToggleVeto,
    PrevSet,
    NextSet,
    // Results from the runtime
    Tick(f64),
    Loaded {
        entry: Option<Box<EntryView>>,
        done: i64,
        total: i64,
        since_round: Option<SinceRound>,
    },
    Saved {
        item: i64,
        kind: crate::store::AnnotationKind,
        label: Option<String>,
    },
    Undone(Option<LabelEvent>),
    Redone(Option<LabelEvent>),
    /// A load, an undo or a redo failed (nothing was saved by it).
    Failed(String),
    /// A save of a decision on `item` failed: it is not in the store (one save fewer in flight).
    SaveFailed {
        item: i64,
        msg: String,
    },
    /// Loading the next review entry failed; `r` tries again.
    LoadFailed(String),
    /// A write or a load waits for another process's lock and is being retried.
    Waiting(String),
    JobProgress {
        stage: Job,
        done: u64,
        total: u64,
        note: String,
    },
    /// One training step's loss.
    JobLoss {
        stage: Job,
        loss: f64,
    },
    /// A job ended: its summary or error, and whether it was cancelled (then it ended early,
    /// keeping what it had finished, Ok or Err).
    JobFinished {
        stage: Job,
        result: Result<String, String>,
        cancelled: bool,
    },
    DashboardLoaded(Box<DashboardData>),
    /// What the store holds of each stage's work (see [`super::data::pipeline`]).
    PipelineLoaded(Vec<(Job, String)>),
    ConflictsLoaded(Vec<Conflict>),
    /// The set asked for (`None`: no set built yet).
    SetLoaded(Option<Box<SetView>>),
    /// A veto (or restore) is committed.
    VetoSaved {
        selection: i64,
        rank: usize,
        vetoed: bool,
    },
    /// `stage` would run this command from hifi.toml, not confirmed yet: ask.
    AskConfirm {
        stage: Job,
        command: String,
    },
    /// The answer to [`Action::AskConfirm`] (y / n or esc).
    Confirm(bool),
}

/// Work for the runtime. `update` never does I/O itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Annotate(Annotation),
    Undo,
    Redo,
    LoadNext,
    StartJob(Job),
    CancelJob(Job),
    LoadDashboard,
    /// Read each stage's state from the store for the pipeline screen.
    LoadPipeline,
    LoadConflicts,
    /// Load set `id` (`None`: the newest).
    LoadSet(Option<i64>),
    Veto {
        selection: i64,
        rank: usize,
        restore: bool,
    },
    /// The user confirmed `command`: remember that, then start `stage`.
    StartConfirmed {
        stage: Job,
        command: String,
    },
    Quit,
}
