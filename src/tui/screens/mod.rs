//! Each screen's state and the update that changes it. [`super::update::update`] routes an
//! action to the screen that owns it; a screen sees only its own state and [`Shared`].

pub mod adjudicate;
pub mod browse;
pub mod dashboard;
pub mod pipeline;
pub mod responses;
pub mod review;
pub mod sets;

use super::view::{Input, Level};
use crate::config::LabelDef;

/// What a screen's update may read or change outside its own state.
pub struct Shared<'a> {
    pub labels: &'a [LabelDef],
    /// A multi-label project: label keys toggle, a confirm key records the set.
    pub multi_label: bool,
    pub annotator: &'a str,
    pub now: f64,
    pub message: &'a mut Option<(String, Level)>,
    pub input: &'a mut Option<Input>,
    /// Saves in flight (see [`super::app::App::pending`]).
    pub pending: &'a mut usize,
}

impl Shared<'_> {
    /// The labels' names, in label-set order.
    pub fn label_names(&self) -> Vec<String> {
        self.labels.iter().map(|l| l.name.clone()).collect()
    }

    pub fn say(&mut self, text: impl Into<String>, level: Level) {
        *self.message = Some((text.into(), level));
    }
}

/// The selection after one step up or down a list of `n`.
pub(crate) fn step(i: usize, n: usize, up: bool) -> usize {
    if n == 0 {
        0
    } else if up {
        i.saturating_sub(1)
    } else {
        (i + 1).min(n - 1)
    }
}
