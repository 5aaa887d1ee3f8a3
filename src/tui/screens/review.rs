//! The review screen's state: the entry under review, what was decided on it, and the
//! session's counts; labels, skips, flags, notes, undo and redo.
//!
//! In a multi-label project a label key toggles that label on the item (nothing is stored),
//! and the confirm key records the labels that are on as one decision: their set
//! ([`crate::multilabel::encode`]), the empty set when none is on.

use super::Shared;
use crate::store::{Annotation, AnnotationKind};
use crate::tui::action::{Action, Effect};
use crate::tui::view::{EntryView, Input as TextInput, InputPurpose, Level, SinceRound};

#[derive(Debug, Clone, PartialEq)]
pub struct ReviewState {
    pub entry: Option<EntryView>,
    /// Waiting for the next entry.
    pub loading: bool,
    /// Loading the next entry failed (the message says why; `r` tries again).
    pub load_failed: bool,
    /// Decision keys refused since the last entry showed: they came while it loaded, or
    /// while the entry's own saves waited for the store (they would have labeled an item
    /// nobody had seen). Said on the message line, never dropped in silence.
    pub refused: u32,
    /// The queue is exhausted for this annotator.
    pub queue_empty: bool,
    /// Items of the current entry with a decision saved in this view.
    pub decided: Vec<i64>,
    /// Items of the current entry with a decision sent to the store and not yet saved.
    pub sent: Vec<i64>,
    pub note: Option<String>,
    pub flagged: bool,
    pub done: i64,
    pub total: i64,
    /// Labels the queue's model has not seen (absent until the store has said).
    pub since_round: Option<SinceRound>,
    pub first_label_at: Option<f64>,
    pub session_labels: u64,
    pub entry_started: f64,
    pub show_guidelines: bool,
    /// The model's predicted label and probabilities are on screen (`p`; off by default so
    /// labels are given blind; audit items are always blind). Recorded on every decision.
    pub show_predictions: bool,
    pub scroll: u16,
    /// Multi-label projects: the labels toggled on for each item of the entry (left or single,
    /// then right), one flag per label in label order. A loaded item starts from the
    /// annotator's label set in force on it (none on when it has none).
    pub picks: Vec<Vec<bool>>,
}

impl Default for ReviewState {
    fn default() -> Self {
        ReviewState {
            entry: None,
            loading: true,
            load_failed: false,
            refused: 0,
            queue_empty: false,
            decided: Vec::new(),
            sent: Vec::new(),
            note: None,
            flagged: false,
            done: 0,
            total: 0,
            since_round: None,
            first_label_at: None,
            session_labels: 0,
            entry_started: 0.0,
            show_guidelines: false,
            show_predictions: false,
            scroll: 0,
            picks: Vec::new(),
        }
    }
}

impl ReviewState {
    /// Whether the current entry's model suggestion is on screen: only when predictions are
    /// turned on and the entry is not from the audit stratum (always blind).
    pub fn suggestion_visible(&self) -> bool {
        self.show_predictions && !self.entry.as_ref().is_some_and(|e| e.entry.audit)
    }

    pub fn update(&mut self, cx: &mut Shared, action: Action) -> Vec<Effect> {
        use Action::*;
        match action {
            ToggleGuidelines => {
                self.show_guidelines = !self.show_guidelines;
                vec![]
            }
            TogglePredictions => {
                if self.entry.as_ref().is_some_and(|e| e.entry.audit) {
                    cx.say(
                        "audit items are labeled blind: the model's prediction stays hidden",
                        Level::Warn,
                    );
                } else {
                    self.show_predictions = !self.show_predictions;
                    let what = if self.show_predictions {
                        "shown: labels from now on are recorded as not blind"
                    } else {
                        "hidden: labels are recorded as blind"
                    };
                    cx.say(format!("model predictions {what}"), Level::Info);
                }
                vec![]
            }
            Scroll(d) => {
                self.scroll = (i32::from(self.scroll) + d).clamp(0, 10_000) as u16;
                vec![]
            }
            LabelLeft(i) if cx.multi_label => self.toggle(cx, &[0], i),
            LabelRight(i) if cx.multi_label => self.toggle(cx, &[1], i),
            LabelBoth(i) if cx.multi_label => self.toggle(cx, &[0, 1], i),
            ConfirmSet if cx.multi_label => self.confirm(cx),
            LabelLeft(i) => self.label(cx, &[0], i),
            LabelRight(i) => self.label(cx, &[1], i),
            LabelBoth(i) => self.label(cx, &[0, 1], i),
            Skip => self.decide_rest(cx, AnnotationKind::Skip),
            Flag => {
                if self.flagged {
                    return vec![];
                }
                let out = self.decide_kind(cx, AnnotationKind::Flag, false);
                self.flagged = !out.is_empty();
                out
            }
            StartNote => {
                if self.entry.is_some() {
                    *cx.input = Some(TextInput {
                        purpose: InputPurpose::Note,
                        text: self.note.clone().unwrap_or_default(),
                    });
                }
                vec![]
            }
            Undo => {
                *cx.message = None;
                vec![Effect::Undo]
            }
            Redo => {
                *cx.message = None;
                vec![Effect::Redo]
            }
            Refresh if self.load_failed || (self.entry.is_none() && !self.loading) => {
                self.load_failed = false;
                self.loading = true;
                vec![Effect::LoadNext]
            }
            LoadFailed(msg) => {
                // The entry on screen is decided (or gone): keys must not act on it again.
                self.loading = false;
                self.load_failed = true;
                self.entry = None;
                cx.say(format!("{msg} (r: try again)"), Level::Error);
                vec![]
            }
            Loaded { entry, done, total, since_round } => {
                self.loading = false;
                self.load_failed = false;
                self.refused = 0;
                self.done = done;
                self.total = total;
                // Say once, when the count crosses the threshold, what a due round is for (never
                // over a warning or an error).
                let quiet = cx.message.as_ref().is_none_or(|m| m.1 == Level::Info);
                if let Some(s) = since_round.filter(|s| {
                    quiet
                        && s.due()
                        && !self.since_round.is_some_and(|p| p.due() && p.round == s.round)
                }) {
                    let what = match s.round {
                        Some(r) => format!("{} labels since round {r}", s.labels),
                        None => format!("{} labels and no round yet", s.labels),
                    };
                    cx.say(format!("{what}: a probe round (Pipeline screen, seconds) retrains the model on them and refills the queue"), Level::Info);
                }
                self.since_round = since_round;
                self.decided.clear();
                self.sent.clear();
                self.flagged = false;
                self.scroll = 0;
                self.entry_started = cx.now;
                self.queue_empty = entry.is_none();
                self.entry = entry.map(|e| *e);
                let names = cx.label_names();
                self.picks = match (&self.entry, cx.multi_label) {
                    (Some(e), true) => e
                        .items()
                        .map(|it| {
                            crate::multilabel::membership(it.mine.as_deref().unwrap_or(""), &names)
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                vec![]
            }
            Saved { item, kind, label } => {
                if kind == AnnotationKind::Label {
                    self.session_labels += 1;
                    self.first_label_at.get_or_insert(cx.now);
                    if let Some(e) = self.entry.as_mut() {
                        for it in std::iter::once(&mut e.a).chain(e.b.as_mut()) {
                            if it.key == item {
                                it.mine = label.clone();
                            }
                        }
                    }
                }
                if matches!(kind, AnnotationKind::Label | AnnotationKind::Skip) {
                    self.sent.retain(|&k| k != item);
                    if !self.decided.contains(&item) {
                        self.decided.push(item);
                    }
                }
                self.maybe_advance(cx)
            }
            // Not saved: the item may be decided again.
            SaveFailed { item, .. } => {
                self.sent.retain(|&k| k != item);
                vec![]
            }
            Undone(ev) => self.reload_after(cx, ev, "undid", "undo"),
            Redone(ev) => self.reload_after(cx, ev, "redid", "redo"),
            _ => vec![],
        }
    }

    /// A new queue may be waiting (mining finished): load it if nothing is on screen.
    pub fn queue_changed(&mut self) -> Vec<Effect> {
        if self.entry.is_none() || self.queue_empty {
            self.loading = true;
            return vec![Effect::LoadNext];
        }
        vec![]
    }

    /// The note typed in the input overlay, kept for the next decision.
    pub fn set_note(&mut self, text: &str) {
        let t = text.trim().to_string();
        self.note = (!t.is_empty()).then_some(t);
    }

    fn reload_after(
        &mut self,
        cx: &mut Shared,
        ev: Option<crate::store::LabelEvent>,
        verb: &str,
        noun: &str,
    ) -> Vec<Effect> {
        match ev {
            Some(e) => {
                let label = e.label.as_deref().map_or(String::new(), crate::multilabel::display);
                cx.say(format!("{verb} {} {label}", e.kind.as_str()), Level::Info);
                self.loading = true;
                vec![Effect::LoadNext]
            }
            None => {
                cx.say(format!("nothing to {noun}"), Level::Info);
                vec![]
            }
        }
    }

    /// Keys of the entry's items at `sides` (0 = left/single, 1 = right).
    fn items_at(&self, sides: &[usize]) -> Vec<i64> {
        let Some(e) = &self.entry else { return vec![] };
        sides
            .iter()
            .filter_map(|s| match s {
                0 => Some(e.a.key),
                _ => e.b.as_ref().map(|b| b.key),
            })
            .collect()
    }

    fn label(&mut self, cx: &mut Shared, sides: &[usize], i: usize) -> Vec<Effect> {
        let Some(label) = cx.labels.get(i).map(|l| l.name.clone()) else { return vec![] };
        if let Some(why) = self.not_now() {
            return self.refuse(cx, &format!("label {label}"), why);
        }
        // On a single-item entry, a right-hand key labels the one item too.
        let single = self.entry.as_ref().is_some_and(|e| e.b.is_none());
        let sides: Vec<usize> = if single { vec![0] } else { sides.to_vec() };
        let keys = self.items_at(&sides);
        let note = self.note.take();
        *cx.message = None;
        // Working through a revisit entry, a label settles the earlier call (and clears the
        // flag), unless the item was flagged again here: then it is the new flag's tentative
        // label.
        let revisit =
            !self.flagged && self.entry.as_ref().is_some_and(|e| e.entry.strategy == "revisit");
        let mut out = Vec::new();
        for key in keys {
            *cx.pending += 1;
            if !self.sent.contains(&key) {
                self.sent.push(key);
            }
            let a = Annotation {
                item: key,
                annotator: cx.annotator.to_string(),
                kind: AnnotationKind::Label,
                label: Some(label.clone()),
                note: note.clone(),
                suggestion: Some(self.suggestion_visible()),
            };
            out.push(if revisit { Effect::ReviewRevisit(a) } else { Effect::Annotate(a) });
        }
        out
    }

    /// Whether label `i` is toggled on for the item at `side` (multi-label projects).
    pub fn picked(&self, side: usize, i: usize) -> bool {
        self.picks.get(side).and_then(|p| p.get(i)).copied().unwrap_or(false)
    }

    /// The label set toggled on for the item at `side`, as stored (a JSON array).
    pub fn picked_set(&self, side: usize, names: &[String]) -> String {
        let flags: Vec<bool> = (0..names.len()).map(|i| self.picked(side, i)).collect();
        crate::multilabel::from_flags(&flags, names)
    }

    /// Multi-label: turn label `i` on or off for the items at `sides` that are not decided
    /// yet. Nothing is stored until the set is confirmed.
    fn toggle(&mut self, cx: &mut Shared, sides: &[usize], i: usize) -> Vec<Effect> {
        let Some(label) = cx.labels.get(i).map(|l| l.name.clone()) else { return vec![] };
        if let Some(why) = self.not_now() {
            return self.refuse(cx, &format!("toggle {label}"), why);
        }
        let Some(e) = &self.entry else { return vec![] };
        let single = e.b.is_none();
        let sides: Vec<usize> = if single { vec![0] } else { sides.to_vec() };
        let open: Vec<usize> = sides
            .iter()
            .copied()
            .filter(|&s| self.items_at(&[s]).first().is_some_and(|&k| !self.settled(k)))
            .collect();
        if open.is_empty() {
            let which = if sides == [1] { "the right item" } else { "that item" };
            return self.refuse(
                cx,
                &format!("toggle {label}"),
                &format!("{which} is decided already (undo to change it)"),
            );
        }
        let n = cx.labels.len();
        for s in open {
            if self.picks.len() <= s {
                self.picks.resize(s + 1, Vec::new());
            }
            let flags = &mut self.picks[s];
            if flags.len() < n {
                flags.resize(n, false);
            }
            flags[i] = !flags[i];
        }
        *cx.message = None;
        vec![]
    }

    /// Multi-label: record the set toggled on for each item of the entry not decided yet, one
    /// label event each (the empty set is an answer: "none of these").
    fn confirm(&mut self, cx: &mut Shared) -> Vec<Effect> {
        if let Some(why) = self.not_now() {
            return self.refuse(cx, "confirm the labels", why);
        }
        let names = cx.label_names();
        let open: Vec<(usize, i64)> = [0, 1]
            .into_iter()
            .filter_map(|s| self.items_at(&[s]).first().map(|&k| (s, k)))
            .filter(|&(_, k)| !self.settled(k))
            .collect();
        let note = self.note.take();
        *cx.message = None;
        let revisit =
            !self.flagged && self.entry.as_ref().is_some_and(|e| e.entry.strategy == "revisit");
        let mut out = Vec::new();
        for (side, key) in open {
            *cx.pending += 1;
            self.sent.push(key);
            let a = Annotation {
                item: key,
                annotator: cx.annotator.to_string(),
                kind: AnnotationKind::Label,
                label: Some(self.picked_set(side, &names)),
                note: note.clone(),
                suggestion: Some(self.suggestion_visible()),
            };
            out.push(if revisit { Effect::ReviewRevisit(a) } else { Effect::Annotate(a) });
        }
        out
    }

    /// A skip or flag event for items not yet decided (`only_undecided`) or all items.
    fn decide_kind(
        &mut self,
        cx: &mut Shared,
        kind: AnnotationKind,
        only_undecided: bool,
    ) -> Vec<Effect> {
        if let Some(why) = self.not_now() {
            return self.refuse(cx, kind.as_str(), why);
        }
        let keys: Vec<i64> = self
            .items_at(&[0, 1])
            .into_iter()
            .filter(|&k| !only_undecided || !self.settled(k))
            .collect();
        let note = if kind == AnnotationKind::Flag { self.note.clone() } else { self.note.take() };
        let mut out = Vec::new();
        for key in keys {
            *cx.pending += 1;
            if kind == AnnotationKind::Skip && !self.sent.contains(&key) {
                self.sent.push(key);
            }
            out.push(Effect::Annotate(Annotation {
                item: key,
                annotator: cx.annotator.to_string(),
                kind,
                label: None,
                note: note.clone(),
                suggestion: Some(self.suggestion_visible()),
            }));
        }
        out
    }

    /// Why a decision key cannot act now, if it cannot: the next entry is loading (or failed
    /// to load), or every item on screen is decided and its saves are still waiting for the
    /// store — a key now would decide an item nobody has seen yet.
    fn not_now(&self) -> Option<&'static str> {
        if self.loading {
            Some("the next item is still loading")
        } else if self.load_failed || self.entry.is_none() {
            Some("no item is on screen")
        } else if self.entry.as_ref().is_some_and(|e| e.items().all(|it| self.settled(it.key))) {
            Some("this item's decision is still being saved")
        } else {
            None
        }
    }

    /// Whether `item` of the entry has a decision saved or on its way to the store.
    fn settled(&self, item: i64) -> bool {
        self.decided.contains(&item) || self.sent.contains(&item)
    }

    /// Say that a decision key was not applied, and how many so far: never a silent drop.
    fn refuse(&mut self, cx: &mut Shared, what: &str, why: &str) -> Vec<Effect> {
        self.refused += 1;
        let n = self.refused;
        let count = if n > 1 { format!(" ({n} keys so far)") } else { String::new() };
        cx.say(format!("not applied: {what}{count} — {why}; nothing was recorded, decide once the item shows"), Level::Warn);
        vec![]
    }

    fn decide_rest(&mut self, cx: &mut Shared, kind: AnnotationKind) -> Vec<Effect> {
        let out = self.decide_kind(cx, kind, true);
        if out.is_empty() {
            return self.maybe_advance(cx);
        }
        out
    }

    /// Move on once every item of the entry is decided and every save is committed.
    fn maybe_advance(&mut self, cx: &Shared) -> Vec<Effect> {
        let Some(e) = &self.entry else { return vec![] };
        let all = e.items().all(|it| self.decided.contains(&it.key));
        if all && *cx.pending == 0 && !self.loading {
            self.loading = true;
            return vec![Effect::LoadNext];
        }
        vec![]
    }
}
