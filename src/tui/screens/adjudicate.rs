//! The adjudication screen's state: the disagreements and the one selected; a label key asks
//! for a reason, and the resolution is saved with it. In a multi-label project a label key
//! toggles the label for the selected item and the confirm key asks for the reason, then
//! resolves with the labels on (none of them is a resolution too).

use super::Shared;
use crate::store::{Annotation, AnnotationKind};
use crate::tui::action::{Action, Effect};
use crate::tui::view::{Conflict, Input as TextInput, InputPurpose, Level};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdjudicateState {
    pub conflicts: Vec<Conflict>,
    pub sel: usize,
    /// Multi-label projects: the labels toggled on for an item (its key), one flag per label.
    pub picks: Option<(i64, Vec<bool>)>,
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
            Resolve(i) if cx.multi_label => {
                let Some(c) = self.conflicts.get(self.sel) else { return vec![] };
                if i >= cx.labels.len() {
                    return vec![];
                }
                let item = c.item;
                let mut flags = self.flags(item, cx.labels.len());
                flags[i] = !flags[i];
                self.picks = Some((item, flags));
                vec![]
            }
            ConfirmSet if cx.multi_label => {
                let Some(c) = self.conflicts.get(self.sel) else { return vec![] };
                let set = crate::multilabel::from_flags(
                    &self.flags(c.item, cx.labels.len()),
                    &cx.label_names(),
                );
                *cx.input = Some(TextInput {
                    purpose: InputPurpose::SetReason { item: c.item, set },
                    text: String::new(),
                });
                vec![]
            }
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

    /// Multi-label: the labels toggled on for `item` (none when another item was toggled
    /// last), one flag for each of `n` labels.
    pub fn flags(&self, item: i64, n: usize) -> Vec<bool> {
        let mut f = match &self.picks {
            Some((k, f)) if *k == item => f.clone(),
            _ => Vec::new(),
        };
        f.resize(n, false);
        f
    }

    /// The reason typed for resolving `item` with the label set `set` (multi-label): saved
    /// with the resolution; an empty reason asks again.
    pub fn submit_set_reason(
        &mut self,
        cx: &mut Shared,
        item: i64,
        set: String,
        text: &str,
    ) -> Vec<Effect> {
        let reason = text.trim().to_string();
        if reason.is_empty() {
            cx.say("a resolution needs a reason", Level::Warn);
            *cx.input = Some(TextInput {
                purpose: InputPurpose::SetReason { item, set },
                text: String::new(),
            });
            return vec![];
        }
        *cx.pending += 1;
        vec![Effect::Annotate(Annotation {
            item,
            annotator: cx.annotator.to_string(),
            kind: AnnotationKind::Resolve,
            label: Some(set),
            note: Some(reason),
            suggestion: Some(false),
        })]
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
