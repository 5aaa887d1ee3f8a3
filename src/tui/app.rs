//! The workstation's state: what is on screen, with no terminal code. `render` only reads it,
//! `update` only changes it.
//!
//! [`App`] holds what every screen shares (the labels, who is reviewing, the clock, the
//! message line, the help and text-input overlays); each screen's own state lives in its
//! module under [`super::screens`], with the update that changes it.

use crate::config::LabelDef;

pub use super::screens::adjudicate::AdjudicateState;
pub use super::screens::browse::{BrowseState, Filters as BrowseFilters, LabelsPanel};
pub use super::screens::dashboard::DashboardState;
pub use super::screens::pipeline::PipelineState;
pub use super::screens::responses::{Mode as ResponsesMode, ResponsesState};
pub use super::screens::review::ReviewState;
pub use super::screens::sets::SetsState;
pub use super::view::{
    CandidateView, Conflict, DashboardData, EntryView, Input, InputPurpose, ItemDetail, ItemView,
    Job, JobState, Level, RespItem, Screen, SetView, SinceRound, JOBS, SCREENS,
};

#[derive(Debug, Clone, PartialEq)]
pub struct App {
    pub labels: Vec<LabelDef>,
    /// A multi-label project (`multi_label = true`): label keys toggle labels on the item and
    /// a confirm key records the set ([`crate::multilabel`]).
    pub multi_label: bool,
    pub annotator: String,
    pub project: String,
    pub screen: Screen,
    /// Seconds since start (from the runtime's clock; tests inject it).
    pub now: f64,
    pub message: Option<(String, Level)>,
    pub show_help: bool,
    /// First line of the help overlay in view (it holds the guidelines, which may be long).
    pub help_scroll: usize,
    /// What the last frame saw of the help overlay (lines in view, how far it scrolls).
    pub help_memo: super::wrap::Memo,
    /// The project's guidelines: (version, text), once read from the store.
    pub guidelines: Option<(i64, String)>,
    pub input: Option<Input>,
    /// Saves in flight, from any screen (labels, resolutions): the review entry does not move
    /// on until its own are committed, and quitting waits for all of them.
    pub pending: usize,
    /// Quit was asked for while saves were in flight: leave once they are committed.
    pub leaving: bool,
    pub quit: bool,
    pub review: ReviewState,
    pub pipeline: PipelineState,
    pub dashboard: DashboardState,
    pub adjudicate: AdjudicateState,
    pub sets: SetsState,
    pub responses: ResponsesState,
    pub browse: BrowseState,
}

impl App {
    pub fn new(labels: Vec<LabelDef>, annotator: &str, project: &str) -> Self {
        App {
            labels,
            multi_label: false,
            annotator: annotator.to_string(),
            project: project.to_string(),
            screen: Screen::Review,
            now: 0.0,
            message: None,
            show_help: false,
            help_scroll: 0,
            help_memo: Default::default(),
            guidelines: None,
            input: None,
            pending: 0,
            leaving: false,
            quit: false,
            review: ReviewState::default(),
            pipeline: PipelineState::default(),
            dashboard: DashboardState::default(),
            adjudicate: AdjudicateState::default(),
            sets: SetsState::default(),
            responses: ResponsesState::default(),
            browse: BrowseState::default(),
        }
    }

    /// Labels per minute this session.
    pub fn rate(&self) -> Option<f64> {
        let t0 = self.review.first_label_at?;
        let mins = (self.now - t0) / 60.0;
        (mins > 0.05).then(|| self.review.session_labels as f64 / mins)
    }

    /// Each label's threshold, in label order (multi-label projects).
    pub fn thresholds(&self) -> Vec<f64> {
        self.labels
            .iter()
            .map(|l| l.threshold.unwrap_or(crate::multilabel::DEFAULT_THRESHOLD))
            .collect()
    }

    pub fn label_name(&self, i: usize) -> Option<&str> {
        self.labels.get(i).map(|l| l.name.as_str())
    }
}
