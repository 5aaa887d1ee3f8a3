//! The adjudication screen's state: the disagreements and the one selected; a label key asks
//! for a reason, and the resolution is saved with it.

use super::Shared;
use crate::store::{Annotation, AnnotationKind};
use crate::tui::action::{Action, Effect};
use crate::tui::view::{Conflict, Input as TextInput, InputPurpose, Level};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdjudicateState {
    pub conflicts: Vec<Conflict>,
    pub sel: usize,
}

impl AdjudicateState {
    pub fn update(&mut self, cx: &mut Shared, action: Action) -> Vec<Effect> {
        use Action::*;
        match action {
            Up | Down => {
                self.sel = super::step(self.sel, self.conflicts.len(), action == Up);
                vec![]
            }
            Refresh => vec![Effect::LoadConflicts],
            Resolve(i) => {
                if cx.labels.get(i).is_none() {
                    return vec![];
                }
                if let Some(c) = self.conflicts.get(self.sel) {
                    *cx.input = Some(TextInput {
                        purpose: InputPurpose::Reason { item: c.item, label: i },
                        text: String::new(),
                    });
                }
                vec![]
            }
            ConflictsLoaded(c) => {
                self.conflicts = c;
                self.sel = self.sel.min(self.conflicts.len().saturating_sub(1));
                vec![]
            }
            Saved { item, kind: AnnotationKind::Resolve, .. } => {
                self.conflicts.retain(|c| c.item != item);
                self.sel = self.sel.min(self.conflicts.len().saturating_sub(1));
                cx.say("resolution saved", Level::Info);
                vec![]
            }
            _ => vec![],
        }
    }

    /// The reason typed for resolving `item` with label `label`: saved with the resolution;
    /// an empty reason asks again.
    pub fn submit_reason(
        &mut self,
        cx: &mut Shared,
        item: i64,
        label: usize,
        text: &str,
    ) -> Vec<Effect> {
        let reason = text.trim().to_string();
        if reason.is_empty() {
            cx.say("a resolution needs a reason", Level::Warn);
            *cx.input = Some(TextInput {
                purpose: InputPurpose::Reason { item, label },
                text: String::new(),
            });
            return vec![];
        }
        *cx.pending += 1;
        vec![Effect::Annotate(Annotation {
            item,
            annotator: cx.annotator.to_string(),
            kind: AnnotationKind::Resolve,
            label: cx.labels.get(label).map(|l| l.name.clone()),
            note: Some(reason),
            suggestion: Some(false),
        })]
    }
}
