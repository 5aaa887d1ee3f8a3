//! The Browse screen's state: a search over the project (words, an item id) with filters
//! over the decisions in force, a result list paged from the store worker, and one item open
//! with its whole history. From the item: relabel (a revisit of the annotator's earlier
//! decision), a note, flag / unflag, a second expert, undo. From the list: "work through
//! these" queues what it shows for the annotator in Review. The labels panel changes the
//! label set (add, rename, merge, retire), each a recorded event.
//!
//! In a multi-label project the label keys toggle labels on the open item (starting from the
//! annotator's set in force) and the open key confirms the set: one revisit, like a relabel.

use super::Shared;
use crate::config::LabelDef;
use crate::store::{Annotation, AnnotationKind, FindQuery, FoundItem, LabelChange};
use crate::tui::action::{Action, BrowseFilter, BrowseKey, Effect, PanelKey};
use crate::tui::view::{Input as TextInput, InputPurpose, ItemDetail, Level};
use crate::tui::wrap::Memo;

/// Rows asked of the store at a time.
pub const PAGE: usize = 100;
/// At most this many items are queued by one "work through these".
pub const WORK_CAP: usize = 500;
/// A refresh reads again at most this many of the rows already loaded.
const REFRESH_MAX: usize = 1000;

/// The list's filters; every one given must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    pub flagged: bool,
    pub skipped: bool,
    pub noted: bool,
    pub experts_disagree: bool,
    pub model_disagrees: bool,
    /// Some(true): labeled; Some(false): unlabeled.
    pub labeled: Option<bool>,
    /// Only items this annotator decided.
    pub mine: bool,
    /// The label in force (a current name).
    pub label: Option<String>,
    /// eval or train.
    pub split: Option<String>,
    /// boundary or audit.
    pub stratum: Option<String>,
}

impl Filters {
    pub fn any(&self) -> bool {
        *self != Filters::default()
    }

    /// The filters in force, one short phrase each, in a fixed order.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (on, what) in [
            (self.flagged, "flagged"),
            (self.skipped, "skipped"),
            (self.noted, "has a note"),
            (self.experts_disagree, "experts disagree"),
            (self.model_disagrees, "model disagrees"),
            (self.mine, "mine"),
        ] {
            if on {
                out.push(what.to_string());
            }
        }
        match self.labeled {
            Some(true) => out.push("labeled".into()),
            Some(false) => out.push("unlabeled".into()),
            None => {}
        }
        if let Some(l) = &self.label {
            out.push(format!("label {l}"));
        }
        if let Some(s) = &self.split {
            out.push(s.clone());
        }
        if let Some(s) = &self.stratum {
            out.push(s.clone());
        }
        out
    }

    /// The store's query for these filters and `text`, from `offset`, at most `limit` rows.
    pub fn query(
        &self,
        text: Option<&str>,
        annotator: &str,
        offset: usize,
        limit: usize,
    ) -> FindQuery {
        FindQuery {
            text: text.map(str::to_string),
            label: self.label.clone(),
            annotator: self.mine.then(|| annotator.to_string()),
            flagged: self.flagged,
            skipped: self.skipped,
            noted: self.noted,
            experts_disagree: self.experts_disagree,
            model_disagrees: self.model_disagrees,
            model_round: None,
            split: self.split.clone(),
            stratum: self.stratum.clone(),
            round: None,
            labeled: self.labeled,
            offset,
            limit,
        }
    }

    /// Toggle a filter, or move a cycling one on (label: through `labels`, then none).
    pub fn toggle(&mut self, f: BrowseFilter, labels: &[LabelDef]) {
        fn cycle(v: &mut Option<String>, values: &[&str]) {
            let i = v.as_deref().and_then(|x| values.iter().position(|y| *y == x));
            *v = match i {
                None => values.first().map(|s| s.to_string()),
                Some(i) => values.get(i + 1).map(|s| s.to_string()),
            };
        }
        match f {
            BrowseFilter::Flagged => self.flagged = !self.flagged,
            BrowseFilter::Skipped => self.skipped = !self.skipped,
            BrowseFilter::Noted => self.noted = !self.noted,
            BrowseFilter::ExpertsDisagree => self.experts_disagree = !self.experts_disagree,
            BrowseFilter::ModelDisagrees => self.model_disagrees = !self.model_disagrees,
            BrowseFilter::Mine => self.mine = !self.mine,
            BrowseFilter::Labeled => {
                self.labeled = match self.labeled {
                    None => Some(true),
                    Some(true) => Some(false),
                    Some(false) => None,
                }
            }
            BrowseFilter::Label => {
                let names: Vec<&str> = labels.iter().map(|l| l.name.as_str()).collect();
                cycle(&mut self.label, &names);
            }
            BrowseFilter::Split => cycle(&mut self.split, &["eval", "train"]),
            BrowseFilter::Stratum => cycle(&mut self.stratum, &["boundary", "audit"]),
        }
    }
}

/// Browse's labels panel: the current labels with their counts in force, one selected.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelsPanel {
    pub sel: usize,
    /// Labels in force per label name (absent until the store has said).
    pub counts: Option<Vec<(String, i64)>>,
    /// Asking "retire this label? y / n".
    pub confirm_retire: Option<String>,
    /// A change is being made (one at a time).
    pub busy: bool,
}

impl LabelsPanel {
    /// Labels in force under `name`, when counted.
    pub fn count(&self, name: &str) -> Option<i64> {
        self.counts.as_ref()?.iter().find(|(n, _)| n == name).map(|(_, c)| *c)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct BrowseState {
    /// A search has been asked for at least once.
    pub opened: bool,
    /// The words (or item id) searched for; `None`: every item.
    pub text: Option<String>,
    pub filters: Filters,
    /// The rows loaded so far (pages from offset 0) and how many match in all.
    pub rows: Vec<FoundItem>,
    pub total: usize,
    /// The selected row, and the first row in view.
    pub sel: usize,
    pub top: usize,
    /// A search (from offset 0) is in flight.
    pub loading: bool,
    /// The next page is in flight.
    pub more: bool,
    /// The newest search request; older answers are dropped.
    pub seq: u64,
    /// The newest search failed (the message line says why).
    pub failed: bool,
    /// Keep the selected item when the answer to the search in flight comes (a refresh).
    keep_sel: bool,
    /// The item open, or being opened.
    pub item: Option<ItemDetail>,
    pub opening: Option<i64>,
    /// First line of the item's text in view.
    pub scroll: usize,
    /// A note for the next decision on the open item.
    pub note: Option<String>,
    /// Multi-label projects: the labels toggled on the open item, one flag per label (`None`:
    /// none toggled since it opened or was last saved — the annotator's set in force holds).
    pub picks: Option<Vec<bool>>,
    /// Decisions sent to the store and not committed yet.
    pub sending: usize,
    /// Keys refused since the item opened (said on the message line).
    pub refused: u32,
    pub panel: Option<LabelsPanel>,
    /// Bumped whenever an item's history is (re)loaded: the laid-out view is stale.
    pub generation: u64,
    /// The item view's layout cache and what the last frame saw of it.
    pub memo: Memo,
    /// What the last frame saw of the list (rows in view).
    pub list_memo: Memo,
}

impl BrowseState {
    /// Entering the screen: search (the first time), or read the list again keeping the
    /// selected item (decisions may have changed elsewhere).
    pub fn open(&mut self, cx: &mut Shared) -> Vec<Effect> {
        if self.item_open() {
            let key = self.item.as_ref().map(|i| i.history.item.key).or(self.opening);
            return key.map(|k| vec![Effect::LoadHistory(k)]).unwrap_or_default();
        }
        if self.opened {
            return self.refresh(cx);
        }
        self.search(cx)
    }

    /// An item is open (or opening): keys act on it, not on the list.
    pub fn item_open(&self) -> bool {
        self.item.is_some() || self.opening.is_some()
    }

    pub fn selected(&self) -> Option<&FoundItem> {
        self.rows.get(self.sel)
    }

    /// The annotator's flag stands on the open item.
    pub fn my_flag(&self, annotator: &str) -> bool {
        self.item
            .as_ref()
            .is_some_and(|i| i.history.state.flagged_by.iter().any(|a| a == annotator))
    }

    /// A new search from the top.
    fn search(&mut self, cx: &mut Shared) -> Vec<Effect> {
        self.keep_sel = false;
        self.sel = 0;
        self.top = 0;
        self.ask(cx, 0, PAGE)
    }

    /// The same search again, the rows loaded so far, keeping the selected item.
    fn refresh(&mut self, cx: &mut Shared) -> Vec<Effect> {
        self.keep_sel = true;
        let n = self.rows.len().clamp(PAGE, REFRESH_MAX);
        self.ask(cx, 0, n)
    }

    fn ask(&mut self, cx: &mut Shared, offset: usize, limit: usize) -> Vec<Effect> {
        self.opened = true;
        self.seq += 1;
        if offset == 0 {
            self.loading = true;
            self.more = false;
        } else {
            self.more = true;
        }
        let query = self.filters.query(self.text.as_deref(), cx.annotator, offset, limit);
        vec![Effect::Find { query, seq: self.seq }]
    }

    /// The next page, when the selection nears the end of the rows loaded and there are more.
    fn maybe_more(&mut self, cx: &mut Shared) -> Vec<Effect> {
        let near = self.sel + self.page() >= self.rows.len();
        if near && self.rows.len() < self.total && !self.more && !self.loading {
            return self.ask(cx, self.rows.len(), PAGE);
        }
        vec![]
    }

    /// Rows in view in the list (from the last frame; 10 before the first).
    fn page(&self) -> usize {
        self.list_memo.page.get().unwrap_or(10).max(1)
    }

    pub fn update(&mut self, cx: &mut Shared, action: Action) -> Vec<Effect> {
        use Action::*;
        match action {
            Browse(k) => self.key(cx, k),
            Panel(k) => self.panel_key(cx, k),
            Indexing(n) => {
                cx.say(format!("indexing {n} items for search…"), Level::Info);
                vec![]
            }
            Found { seq, offset, total, rows } => {
                if seq != self.seq {
                    return vec![];
                }
                clear_indexing(cx);
                self.failed = false;
                self.total = total;
                if offset == 0 {
                    let keep = self.keep_sel.then(|| self.selected().map(|r| r.key)).flatten();
                    self.rows = rows;
                    self.sel = keep
                        .and_then(|k| self.rows.iter().position(|r| r.key == k))
                        .unwrap_or(self.sel)
                        .min(self.rows.len().saturating_sub(1));
                    self.loading = false;
                    self.keep_sel = false;
                } else if offset == self.rows.len() {
                    self.rows.extend(rows);
                }
                self.more = false;
                self.maybe_more(cx)
            }
            FindFailed { seq, msg } => {
                if seq == self.seq {
                    clear_indexing(cx);
                    self.loading = false;
                    self.more = false;
                    self.failed = true;
                    self.rows.clear();
                    self.total = 0;
                    self.sel = 0;
                    self.top = 0;
                    cx.say(msg, Level::Error);
                }
                vec![]
            }
            HistoryLoaded(detail) => {
                let key = detail.history.item.key;
                let same = self.item.as_ref().is_some_and(|i| i.history.item.key == key);
                if self.opening != Some(key) && !same {
                    return vec![]; // the user went back meanwhile
                }
                if !same {
                    self.scroll = 0;
                    self.note = None;
                    self.picks = None;
                    self.refused = 0;
                    self.memo.max_scroll.set(None);
                }
                self.opening = None;
                self.item = Some(*detail);
                self.generation += 1;
                vec![]
            }
            HistoryFailed { key, msg } => {
                if self.opening == Some(key) {
                    self.opening = None;
                    cx.say(format!("cannot open the item: {msg}"), Level::Error);
                } else if self.item.as_ref().is_some_and(|i| i.history.item.key == key) {
                    cx.say(
                        format!("cannot read the item again: {msg} (r: try again)"),
                        Level::Warn,
                    );
                }
                vec![]
            }
            BrowseSaved { item, kind, label, revises } => {
                self.sending = self.sending.saturating_sub(1);
                let id = self.id_of(item);
                if kind == AnnotationKind::Label {
                    self.picks = None;
                }
                let what = match kind {
                    AnnotationKind::Label => {
                        let l = label.as_deref().map_or(String::new(), set_shown);
                        match revises {
                            Some(r) => format!("relabeled {id}: {l} (a revisit of #{r})"),
                            None => format!("labeled {id}: {l}"),
                        }
                    }
                    AnnotationKind::Flag => format!("flagged {id}"),
                    AnnotationKind::Unflag => format!("flag on {id} withdrawn"),
                    other => format!("{} saved on {id}", other.as_str()),
                };
                cx.say(what, Level::Info);
                self.reload_if_open(item)
            }
            BrowseSaveFailed { msg, .. } => {
                self.sending = self.sending.saturating_sub(1);
                cx.say(msg, Level::Error);
                vec![]
            }
            Undone(ev) => {
                let Some(ev) = ev else {
                    cx.say("nothing to undo", Level::Info);
                    return vec![];
                };
                let id = self.id_of(ev.item);
                if self.item.as_ref().is_some_and(|i| i.history.item.key == ev.item) {
                    self.picks = None;
                }
                let label = ev.label.map_or(String::new(), |l| format!(" {}", set_shown(&l)));
                cx.say(format!("undid {}{label} on {id}", ev.kind.as_str()), Level::Info);
                self.reload_if_open(ev.item)
            }
            WorkQueued { queued, matching } => {
                let more = if matching > queued {
                    format!(" (the first {queued} of {matching} matching)")
                } else {
                    String::new()
                };
                let what = if queued == 0 {
                    "nothing queued: no item matches".to_string()
                } else {
                    format!(
                        "queued {queued} item{} for you to work through{more}: the Review screen serves them next",
                        if queued == 1 { "" } else { "s" }
                    )
                };
                cx.say(what, Level::Info);
                vec![]
            }
            SecondOpinionQueued { item } => {
                let id = self.id_of(item);
                cx.say(
                    format!("queued {id} for a second expert: the next one to review who has not decided it gets it"),
                    Level::Info,
                );
                vec![]
            }
            LabelCounts(counts) => {
                if let Some(p) = self.panel.as_mut() {
                    p.counts = Some(counts);
                }
                vec![]
            }
            LabelsChanged { said, .. } => {
                // The labels (cx.labels) are the new set already.
                if let Some(p) = self.panel.as_mut() {
                    p.busy = false;
                    p.confirm_retire = None;
                    p.sel = p.sel.min(cx.labels.len().saturating_sub(1));
                }
                cx.say(said, Level::Info);
                if self
                    .filters
                    .label
                    .as_ref()
                    .is_some_and(|l| !cx.labels.iter().any(|d| &d.name == l))
                {
                    self.filters.label = None;
                }
                let mut out = vec![Effect::LoadLabelCounts];
                match self.item.as_ref().map(|i| i.history.item.key) {
                    Some(k) => out.push(Effect::LoadHistory(k)),
                    None => out.extend(self.refresh(cx)),
                }
                out
            }
            LabelsChangeFailed(msg) => {
                if let Some(p) = self.panel.as_mut() {
                    p.busy = false;
                    p.confirm_retire = None;
                }
                cx.say(msg, Level::Error);
                vec![]
            }
            _ => vec![],
        }
    }

    fn reload_if_open(&mut self, item: i64) -> Vec<Effect> {
        match &self.item {
            Some(i) if i.history.item.key == item => vec![Effect::LoadHistory(item)],
            _ => vec![],
        }
    }

    /// An item's id as the screen knows it (the open item, a row), else its key.
    fn id_of(&self, key: i64) -> String {
        let id = match &self.item {
            Some(i) if i.history.item.key == key => Some(i.history.item.id.as_str()),
            _ => self.rows.iter().find(|r| r.key == key).map(|r| r.id.as_str()),
        };
        id.map_or_else(|| format!("#{key}"), |s| crate::text::one_line(s, 40))
    }

    fn key(&mut self, cx: &mut Shared, k: BrowseKey) -> Vec<Effect> {
        use BrowseKey::*;
        match k {
            Search => {
                *cx.input = Some(TextInput {
                    purpose: InputPurpose::Search,
                    text: self.text.clone().unwrap_or_default(),
                });
                vec![]
            }
            Refresh => match self.item.as_ref().map(|i| i.history.item.key) {
                Some(key) => vec![Effect::LoadHistory(key)],
                None if self.opening.is_some() => vec![],
                None => self.refresh(cx),
            },
            Labels => {
                self.panel = Some(LabelsPanel::default());
                vec![Effect::LoadLabelCounts]
            }
            // The app's update handles the guidelines (it holds them).
            EditGuidelines => vec![],
            Lines(_) | Pages(_) | Top | Bottom if self.item_open() => {
                self.scroll_item(k);
                vec![]
            }
            Lines(d) => self.move_to(cx, self.sel as i64 + i64::from(d)),
            Pages(d) => self.move_to(cx, self.sel as i64 + i64::from(d) * self.page() as i64),
            Top => self.move_to(cx, 0),
            Bottom => self.move_to(cx, i64::MAX),
            Back if self.item_open() => {
                self.item = None;
                self.opening = None;
                self.note = None;
                self.picks = None;
                self.refresh(cx)
            }
            Back => {
                cx.say(
                    "this is the list: enter opens an item, / searches, c clears the filters",
                    Level::Info,
                );
                vec![]
            }
            Open if self.item_open() && cx.multi_label => {
                let set = crate::multilabel::from_flags(&self.flags(cx), &cx.label_names());
                self.decide(cx, AnnotationKind::Label, Some(set))
            }
            Open if self.item_open() => vec![],
            Open => match self.selected() {
                Some(r) => {
                    let key = r.key;
                    self.opening = Some(key);
                    vec![Effect::LoadHistory(key)]
                }
                None => self.refuse(cx, "open", "the list is empty"),
            },
            Filter(_) | ClearFilters | WorkThrough if self.item_open() => {
                let what = match k {
                    Filter(_) => "filter",
                    ClearFilters => "clear filters",
                    _ => "work through these",
                };
                self.refuse(cx, what, "it acts on the list; esc goes back to it")
            }
            Filter(f) => {
                self.filters.toggle(f, cx.labels);
                self.search(cx)
            }
            ClearFilters => {
                if !self.filters.any() && self.text.is_none() {
                    cx.say("no search or filter to clear", Level::Info);
                    return vec![];
                }
                self.filters = Filters::default();
                self.text = None;
                self.search(cx)
            }
            WorkThrough => {
                if self.loading {
                    return self.refuse(cx, "work through these", "the list is still loading");
                }
                if self.total == 0 {
                    return self.refuse(cx, "work through these", "the list is empty");
                }
                let query = self.filters.query(self.text.as_deref(), cx.annotator, 0, WORK_CAP);
                vec![Effect::WorkThrough(query)]
            }
            Relabel(i) => {
                let Some(label) = cx.labels.get(i).map(|l| l.name.clone()) else {
                    return self.refuse(cx, &format!("label {}", i + 1), "there is no such label");
                };
                if cx.multi_label {
                    return self.toggle(cx, i, &label);
                }
                self.decide(cx, AnnotationKind::Label, Some(label))
            }
            Flag => {
                let kind = if self.my_flag(cx.annotator) {
                    AnnotationKind::Unflag
                } else {
                    AnnotationKind::Flag
                };
                self.decide(cx, kind, None)
            }
            Note => {
                if self.item.is_none() {
                    return self.refuse(cx, "note", "no item is open (enter opens one)");
                }
                *cx.input = Some(TextInput {
                    purpose: InputPurpose::BrowseNote,
                    text: self.note.clone().unwrap_or_default(),
                });
                vec![]
            }
            SecondOpinion => match &self.item {
                Some(i) => vec![Effect::SecondOpinion(i.history.item.key)],
                None => self.refuse(cx, "second expert", "no item is open (enter opens one)"),
            },
            Undo => {
                *cx.message = None;
                vec![Effect::Undo]
            }
        }
    }

    /// Multi-label: which labels are on for the open item — those toggled, else the
    /// annotator's set in force on it — one flag per label of `cx`.
    pub fn flags(&self, cx: &Shared) -> Vec<bool> {
        self.flags_for(cx.annotator, &cx.label_names())
    }

    /// [`BrowseState::flags`] for `annotator` over the labels `names`.
    pub fn flags_for(&self, annotator: &str, names: &[String]) -> Vec<bool> {
        let mut f = match &self.picks {
            Some(p) => p.clone(),
            None => {
                let mine = self
                    .item
                    .as_ref()
                    .and_then(|i| i.history.state.labels.get(annotator).cloned())
                    .unwrap_or_default();
                crate::multilabel::membership(&mine, names)
            }
        };
        f.resize(names.len(), false);
        f
    }

    /// Multi-label: turn label `i` on or off on the open item (nothing is stored until the
    /// set is confirmed).
    fn toggle(&mut self, cx: &mut Shared, i: usize, label: &str) -> Vec<Effect> {
        if self.item.is_none() {
            let why = if self.opening.is_some() {
                "the item is still loading"
            } else {
                "no item is open (enter opens one)"
            };
            return self.refuse(cx, &format!("toggle {label}"), why);
        }
        let mut f = self.flags(cx);
        if let Some(x) = f.get_mut(i) {
            *x = !*x;
        }
        self.picks = Some(f);
        *cx.message = None;
        vec![]
    }

    /// Select row `to` (clamped); load the next page when near the end.
    fn move_to(&mut self, cx: &mut Shared, to: i64) -> Vec<Effect> {
        let n = self.rows.len();
        if n == 0 {
            return vec![];
        }
        self.sel = to.clamp(0, n as i64 - 1) as usize;
        let page = self.page();
        if self.sel < self.top {
            self.top = self.sel;
        } else if self.sel >= self.top + page {
            self.top = self.sel + 1 - page;
        }
        self.maybe_more(cx)
    }

    fn scroll_item(&mut self, k: BrowseKey) {
        let max = self.memo.max_scroll.get();
        let page = self.memo.page.get().unwrap_or(10).saturating_sub(1).max(1) as i64;
        let cur = max.map_or(self.scroll, |m| self.scroll.min(m)) as i64;
        let next = match k {
            BrowseKey::Lines(d) => cur + i64::from(d),
            BrowseKey::Pages(d) => cur + i64::from(d) * page,
            BrowseKey::Top => 0,
            _ => max.map_or(i64::from(u32::MAX), |m| m as i64),
        };
        let next = next.max(0) as usize;
        self.scroll = max.map_or(next, |m| next.min(m));
    }

    /// A decision on the open item, from Browse: a label is a revisit of the annotator's
    /// newest decision on it (the worker looks it up); flag and unflag are not.
    fn decide(
        &mut self,
        cx: &mut Shared,
        kind: AnnotationKind,
        label: Option<String>,
    ) -> Vec<Effect> {
        let what = match (&kind, &label) {
            (AnnotationKind::Label, Some(l)) => format!("label {}", set_shown(l)),
            (k, _) => k.as_str().to_string(),
        };
        let Some(it) = &self.item else {
            let why = if self.opening.is_some() {
                "the item is still loading"
            } else {
                "no item is open (enter opens one)"
            };
            return self.refuse(cx, &what, why);
        };
        if self.sending > 0 {
            return self.refuse(cx, &what, "the previous decision is still being saved");
        }
        let annotation = Annotation {
            item: it.history.item.key,
            annotator: cx.annotator.to_string(),
            kind,
            label,
            note: self.note.take(),
            // The model's prediction is on screen whenever there is one.
            suggestion: Some(it.history.prediction_now.is_some()),
        };
        *cx.message = None;
        *cx.pending += 1;
        self.sending += 1;
        vec![Effect::AnnotateFrom {
            annotation,
            origin: "browse".into(),
            revisit: kind == AnnotationKind::Label,
        }]
    }

    /// The search typed in the query bar (empty: every item).
    pub fn submit_search(&mut self, cx: &mut Shared, text: &str) -> Vec<Effect> {
        let t = text.trim();
        self.text = (!t.is_empty()).then(|| t.to_string());
        self.item = None;
        self.opening = None;
        self.search(cx)
    }

    /// The note typed for the next decision on the open item.
    pub fn set_note(&mut self, text: &str) {
        let t = text.trim();
        self.note = (!t.is_empty()).then(|| t.to_string());
    }

    /// A name typed in the labels panel's prompts.
    pub fn submit_label_text(
        &mut self,
        cx: &mut Shared,
        purpose: InputPurpose,
        text: &str,
    ) -> Vec<Effect> {
        let t = text.trim().to_string();
        let change = match purpose {
            InputPurpose::NewLabelName => {
                if t.is_empty() {
                    cx.say("a label needs a name: nothing changed", Level::Warn);
                    return vec![];
                }
                *cx.input = Some(TextInput {
                    purpose: InputPurpose::NewLabelDefinition { name: t },
                    text: String::new(),
                });
                return vec![];
            }
            InputPurpose::NewLabelDefinition { name } => LabelChange::Add { name, definition: t },
            InputPurpose::RenameLabel { from } => {
                if t.is_empty() {
                    cx.say("no new name given: nothing changed", Level::Warn);
                    return vec![];
                }
                LabelChange::Rename { from, to: t, definition: None }
            }
            InputPurpose::MergeLabel { from } => {
                if t.is_empty() {
                    cx.say("no label to merge into given: nothing changed", Level::Warn);
                    return vec![];
                }
                // Into an existing label: both are named; into a new name: it takes `from`'s place.
                let from = if t != from && cx.labels.iter().any(|l| l.name == t) {
                    vec![from, t.clone()]
                } else {
                    vec![from]
                };
                LabelChange::Merge { from, into: t, definition: None }
            }
            _ => return vec![],
        };
        self.change(cx, change)
    }

    fn change(&mut self, cx: &mut Shared, change: LabelChange) -> Vec<Effect> {
        let panel = self.panel.get_or_insert_with(LabelsPanel::default);
        if panel.busy {
            cx.say("not applied: the previous label change is still being made", Level::Warn);
            return vec![];
        }
        panel.busy = true;
        *cx.message = None;
        vec![Effect::ChangeLabels(change)]
    }

    fn panel_key(&mut self, cx: &mut Shared, k: PanelKey) -> Vec<Effect> {
        let Some(p) = self.panel.as_mut() else { return vec![] };
        let n = cx.labels.len();
        let selected = cx.labels.get(p.sel.min(n.saturating_sub(1))).map(|l| l.name.clone());
        if let Some(name) = p.confirm_retire.clone() {
            return match k {
                PanelKey::Yes => {
                    p.confirm_retire = None;
                    self.change(cx, LabelChange::Retire { name })
                }
                PanelKey::No | PanelKey::Close => {
                    p.confirm_retire = None;
                    cx.say(format!("{name} not retired: nothing changed"), Level::Info);
                    vec![]
                }
                _ => {
                    cx.say(format!("retire {name}? y: yes · n: no"), Level::Warn);
                    vec![]
                }
            };
        }
        match k {
            PanelKey::Up | PanelKey::Down => {
                p.sel = super::step(p.sel, n, k == PanelKey::Up);
                vec![]
            }
            PanelKey::Close => {
                self.panel = None;
                vec![]
            }
            PanelKey::Yes | PanelKey::No => vec![],
            _ if p.busy => {
                cx.say("not applied: the previous label change is still being made", Level::Warn);
                vec![]
            }
            PanelKey::Add => {
                *cx.input =
                    Some(TextInput { purpose: InputPurpose::NewLabelName, text: String::new() });
                vec![]
            }
            PanelKey::Rename | PanelKey::Merge | PanelKey::Retire => {
                let Some(from) = selected else { return vec![] };
                match k {
                    PanelKey::Rename => {
                        *cx.input = Some(TextInput {
                            purpose: InputPurpose::RenameLabel { from },
                            text: String::new(),
                        })
                    }
                    PanelKey::Merge => {
                        *cx.input = Some(TextInput {
                            purpose: InputPurpose::MergeLabel { from },
                            text: String::new(),
                        })
                    }
                    _ => p.confirm_retire = Some(from),
                }
                vec![]
            }
        }
    }

    /// Say that a key was not applied, and how many so far: never a silent drop.
    fn refuse(&mut self, cx: &mut Shared, what: &str, why: &str) -> Vec<Effect> {
        self.refused += 1;
        let n = self.refused;
        let count = if n > 1 { format!(" ({n} keys so far)") } else { String::new() };
        cx.say(format!("not applied: {what}{count} — {why}; nothing was recorded"), Level::Warn);
        vec![]
    }
}

/// A stored label for a message: a label set as `a, c` or `(none)`, a single label as it is.
fn set_shown(stored: &str) -> String {
    crate::multilabel::display(stored)
}

fn clear_indexing(cx: &mut Shared) {
    if cx.message.as_ref().is_some_and(|(m, _)| m.starts_with("indexing ")) {
        *cx.message = None;
    }
}

/// The labels panel's keys (fixed; the panel lists them): j/k or ↑/↓ select, a add, r
/// rename, m merge, x retire, y / n answer, esc or L close.
pub fn panel_key(code: ratatui::crossterm::event::KeyCode) -> Option<Action> {
    use ratatui::crossterm::event::KeyCode;
    Some(Action::Panel(match code {
        KeyCode::Up | KeyCode::Char('k') => PanelKey::Up,
        KeyCode::Down | KeyCode::Char('j') => PanelKey::Down,
        KeyCode::Char('a') => PanelKey::Add,
        KeyCode::Char('r') => PanelKey::Rename,
        KeyCode::Char('m') => PanelKey::Merge,
        KeyCode::Char('x') => PanelKey::Retire,
        KeyCode::Char('y' | 'Y') => PanelKey::Yes,
        KeyCode::Char('n' | 'N') => PanelKey::No,
        KeyCode::Esc | KeyCode::Char('L') => PanelKey::Close,
        _ => return None,
    }))
}
