//! What can happen to the app (actions) and what the app asks the runtime to do (effects).

use crate::config::LabelDef;
use crate::responses::editor::EditOutcome;
use crate::store::{
    Annotation, AnnotationKind, FindQuery, FoundItem, LabelChange, LabelEvent, ResponseEvent,
    ResponseJudgement, ResponseKind,
};

use super::view::{
    Conflict, DashboardData, EntryView, ItemDetail, Job, RespItem, Screen, SetView, SinceRound,
};

/// A key of the Browse screen (resolved by the keymap's `[browse]` section). The list and the
/// open item share the screen; a key that means nothing in one of them says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowseKey {
    /// Start typing a search (words or an item id).
    Search,
    /// Open the selected item.
    Open,
    /// Back from the item to the list.
    Back,
    /// Move the selection (list) or scroll (item) by lines (±), by pages (±), to either end.
    Lines(i32),
    Pages(i32),
    Top,
    Bottom,
    /// Toggle or cycle one filter of the list.
    Filter(BrowseFilter),
    ClearFilters,
    /// Queue the items matching the filters for this annotator to work through in Review.
    WorkThrough,
    /// Run the search again.
    Refresh,
    /// The open item: give it the n-th label (a revisit of the annotator's earlier decision).
    Relabel(usize),
    /// The open item: a note for the next decision on it.
    Note,
    /// The open item: flag it, or withdraw the annotator's flag.
    Flag,
    /// The open item: queue it for a second expert.
    SecondOpinion,
    Undo,
    /// The labels panel: add, rename, merge, retire labels.
    Labels,
    /// Edit the project's guidelines in `$VISUAL` / `$EDITOR`.
    EditGuidelines,
}

/// The filters the Browse screen's keys toggle (booleans) or cycle (values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowseFilter {
    Flagged,
    Skipped,
    Noted,
    ExpertsDisagree,
    ModelDisagrees,
    /// labeled → unlabeled → either
    Labeled,
    /// Items this annotator decided.
    Mine,
    /// Through the current labels, then none.
    Label,
    /// eval → train → either
    Split,
    /// boundary → audit → either
    Stratum,
}

/// A key of Browse's labels panel (fixed keys, listed in the panel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanelKey {
    Up,
    Down,
    Add,
    Rename,
    Merge,
    Retire,
    /// Answer to "retire …? y / n".
    Yes,
    No,
    Close,
}

/// A key of the Responses screen (resolved by the keymap's `[responses]` section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RespKey {
    Accept,
    Reject,
    /// Reject with a reason (asks for it).
    RejectWithReason,
    /// A quality score, 1–5.
    Score(u8),
    /// Edit the candidate in `$VISUAL` / `$EDITOR`.
    Edit,
    /// The next / previous candidate (A/B mode: pair).
    NextCandidate,
    PrevCandidate,
    NextItem,
    PrevItem,
    Undo,
    /// Single candidate ↔ A/B comparison.
    ToggleMode,
    /// Show the whole prompt (the scroll keys then scroll it) or the compact one.
    TogglePrompt,
    /// Read the item order and the item on screen from the store again.
    Reload,
    /// Scroll by lines (±), by pages (±), to the top or the bottom.
    Lines(i32),
    Pages(i32),
    Top,
    Bottom,
    /// A/B mode: the left or right candidate is better, a tie, both bad.
    LeftBetter,
    RightBetter,
    Tie,
    BothBad,
}

/// Everything `update` reacts to: keys already resolved by the keymap, and results coming
/// back from the runtime.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    // Review
    LabelLeft(usize),
    LabelRight(usize),
    LabelBoth(usize),
    /// Multi-label projects: record the labels toggled on (none is an answer too) — on the
    /// Review screen for the entry's undecided items, on Adjudicate as the resolution.
    ConfirmSet,
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
    /// A key of the Responses screen.
    Resp(RespKey),
    /// A key of the Browse screen.
    Browse(BrowseKey),
    /// A key of Browse's labels panel.
    Panel(PanelKey),
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
    /// The Responses screen's item order and the item to show at `pos` (`None`: no item).
    ResponsesLoaded {
        queue: Vec<i64>,
        pos: usize,
        item: Option<Box<RespItem>>,
    },
    /// One item of the Responses screen, loaded.
    ResponseItemLoaded(Box<RespItem>),
    /// Loading the Responses screen's order or an item failed (`r` tries again).
    ResponseLoadFailed(String),
    /// A response judgement is committed: `item` as the store now holds it (`None` when
    /// reading it back failed, said in `reload_error`).
    ResponseSaved {
        key: i64,
        kind: ResponseKind,
        number: i64,
        item: Option<Box<RespItem>>,
        reload_error: Option<String>,
    },
    /// A response judgement was not saved (one save fewer in flight).
    ResponseSaveFailed {
        key: i64,
        msg: String,
    },
    /// An undo of a response judgement is committed: the event it undid (`None`: nothing to
    /// undo), that event's candidate, and its item read back.
    ResponseUndone {
        event: Option<Box<ResponseEvent>>,
        number: Option<i64>,
        item: Option<Box<RespItem>>,
    },
    /// The editor returned for candidate `number` of `key`.
    Edited {
        key: i64,
        number: i64,
        outcome: EditOutcome,
    },
    /// Items not in the search index yet are being indexed before a search.
    Indexing(i64),
    /// Search results for request `seq`: `rows` from `offset`, of `total`.
    Found {
        seq: u64,
        offset: usize,
        total: usize,
        rows: Vec<FoundItem>,
    },
    /// Search request `seq` failed (a bad query, the store).
    FindFailed {
        seq: u64,
        msg: String,
    },
    /// An item opened in Browse, with its history.
    HistoryLoaded(Box<ItemDetail>),
    HistoryFailed {
        key: i64,
        msg: String,
    },
    /// A decision made in Browse is committed (`revises`: the earlier decision it revisits).
    BrowseSaved {
        item: i64,
        kind: AnnotationKind,
        label: Option<String>,
        revises: Option<i64>,
    },
    /// A decision made in Browse was not saved (one save fewer in flight).
    BrowseSaveFailed {
        item: i64,
        msg: String,
    },
    /// "Work through these": `queued` of the `matching` items were queued for the annotator.
    WorkQueued {
        queued: usize,
        matching: usize,
    },
    /// `item` was queued for a second expert.
    SecondOpinionQueued {
        item: i64,
    },
    /// Labels in force per current label name, for the labels panel.
    LabelCounts(Vec<(String, i64)>),
    /// A label-set change is made: the project's labels now, and what to say.
    LabelsChanged {
        labels: Vec<LabelDef>,
        said: String,
    },
    /// A label-set change was refused or failed: nothing changed.
    LabelsChangeFailed(String),
    /// The project's guidelines: (version, text), `None` when there are none yet.
    GuidelinesLoaded(Option<(i64, String)>),
    /// The editor returned from the guidelines; `base`: guidelines.md as it was when the
    /// editor opened (`None`: there was none).
    GuidelinesEdited {
        base: Option<String>,
        outcome: EditOutcome,
    },
    /// The edited guidelines are written: the version recorded (`None`: the text is the
    /// newest version's already).
    GuidelinesSaved {
        version: Option<i64>,
        text: String,
    },
}

/// Work for the runtime. `update` never does I/O itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Annotate(Annotation),
    /// A label given in Review on an item queued to be revisited (flagged or skipped items
    /// being worked through): recorded as a revisit of the annotator's newest decision on it,
    /// which clears their flag; answered like [`Effect::Annotate`].
    ReviewRevisit(Annotation),
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
    /// Read the Responses screen's item order; show `keep` again if it is still in it, else
    /// the first item.
    LoadResponses {
        keep: Option<i64>,
    },
    LoadResponseItem(i64),
    /// Bring the search index up to date, then find `query` (request `seq`).
    Find {
        query: FindQuery,
        seq: u64,
    },
    /// Read an item's history for Browse.
    LoadHistory(i64),
    /// Record a decision made outside Review, with where (`origin`); a `revisit` revises the
    /// annotator's newest decision on the item (looked up by the worker).
    AnnotateFrom {
        annotation: Annotation,
        origin: String,
        revisit: bool,
    },
    /// Queue the items `query` finds (at most its limit) for the annotator to work through.
    WorkThrough(FindQuery),
    /// Queue an item for a second expert.
    SecondOpinion(i64),
    /// Count the labels in force per label (the labels panel).
    LoadLabelCounts,
    /// Make a label-set change (store and hifi.toml).
    ChangeLabels(LabelChange),
    LoadGuidelines,
    /// Suspend the screen and edit the project's guidelines.md (a template when there is none
    /// yet); the runtime answers with [`Action::GuidelinesEdited`].
    EditGuidelines,
    /// Write guidelines.md and record the new version, unless the file is no longer `base`
    /// (someone saved it meanwhile: then `text` goes to guidelines.md.mine).
    SaveGuidelines {
        base: Option<String>,
        text: String,
    },
    /// Record a response judgement, then read its item back.
    JudgeResponse(ResponseJudgement),
    /// Undo the annotator's newest response judgement.
    UndoResponse,
    /// Suspend the screen and edit `text` (candidate `number` of item `key`) in the user's
    /// editor; the runtime answers with [`Action::Edited`].
    EditResponse {
        key: i64,
        number: i64,
        text: String,
    },
    Quit,
}
