//! The workstation's Browse screen: `update` driven by keys (pure), the list and an open item
//! rendered at 80×24 and 120×40, hostile text rendered inert, a real store read into the
//! screen, and the real binary in tmux (flag while reviewing, find the flags, relabel one as a
//! revisit; the labels panel and the guidelines editor).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::workstation::Workstation;
use common::*;
use hifi::config::{Config, LabelDef};
use hifi::responses::editor::EditOutcome;
use hifi::store::{
    Annotation, AnnotationKind, FindQuery, FoundItem, HistoryEvent, Item, ItemHistory, ItemState,
    LabelChange, LabelEvent, NewItem, PredictionNow, Provenance, Store, StoreError,
};
use hifi::tui::action::{Action, BrowseFilter, BrowseKey, Effect, PanelKey};
use hifi::tui::app::{App, InputPurpose, ItemDetail, Screen};
use hifi::tui::keymap::Keymap;
use hifi::tui::screens::browse::{panel_key, PAGE, WORK_CAP};
use hifi::tui::theme::Theme;
use hifi::tui::update::update;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

// ---------------------------------------------------------------------------------------------
// Stand-ins: rows and items as the store worker sends them.

fn state(labels: &[(&str, &str)]) -> ItemState {
    ItemState {
        labels: labels.iter().map(|(a, l)| (a.to_string(), l.to_string())).collect(),
        annotators: labels.iter().map(|(a, _)| a.to_string()).collect(),
        ..ItemState::default()
    }
}

fn row(key: i64, text: &str, st: ItemState, predicted: Option<&str>) -> FoundItem {
    FoundItem {
        key,
        id: format!("ad-{key:04}"),
        text: text.into(),
        state: st,
        predicted: predicted.map(Into::into),
    }
}

/// Five rows: labeled, flagged, skipped, noted, disagreeing.
fn rows() -> Vec<FoundItem> {
    let mut flagged = state(&[("ana", "clickbait")]);
    flagged.flagged_by = vec!["ana".into()];
    let mut skipped = state(&[]);
    skipped.skipped_by = vec!["bo".into()];
    skipped.annotators = vec!["bo".into()];
    let mut noted = state(&[("ana", "benign")]);
    noted.noted = true;
    noted.split = Some("eval".into());
    let disagree = state(&[("ana", "benign"), ("bo", "clickbait")]);
    vec![
        row(
            1,
            "You won't believe this one trick. Tap to find out.",
            state(&[("ana", "clickbait")]),
            Some("clickbait"),
        ),
        row(2, "Only 3 left at this price!\nGrab yours before midnight.", flagged, Some("benign")),
        row(3, "Sale ends Monday: 10% off wireless earbuds", skipped, None),
        row(4, "Free delivery on orders over $30 this week", noted, Some("benign")),
        row(
            5,
            "Doctors hate her: the secret to glowing skin revealed",
            disagree,
            Some("clickbait"),
        ),
    ]
}

fn event(id: i64, who: &str, kind: AnnotationKind, label: Option<&str>) -> LabelEvent {
    LabelEvent {
        id,
        item: 2,
        annotator: who.into(),
        kind,
        label: label.map(Into::into),
        note: None,
        supersedes: None,
        prediction: None,
        round: Some(1),
        created_at: format!("2025-03-0{}T10:{:02}:00.000Z", 1 + id % 9, id),
        suggestion: Some(false),
        label_set: 1,
        guidelines: Some(1),
        provenance: Provenance::from("review"),
    }
}

fn hist(e: LabelEvent, label_now: Option<&str>, current: bool, undone: bool) -> HistoryEvent {
    HistoryEvent { event: e, label_now: label_now.map(Into::into), current, undone }
}

/// Item 2 ("ad-0002"): flagged by ana with a tentative label, a renamed label of bo's, an
/// undone label, a note; a stale prediction; two imported fields.
fn detail() -> ItemDetail {
    let mut flag = event(7, "ana", AnnotationKind::Flag, None);
    flag.note = Some("price claim looks off".into());
    let label = event(8, "ana", AnnotationKind::Label, Some("clickbait"));
    let mut old = event(9, "bo", AnnotationKind::Label, Some("spammy"));
    old.provenance = Provenance::from("cli");
    let mut undone = event(10, "bo", AnnotationKind::Label, Some("benign"));
    undone.suggestion = Some(true);
    let mut undo = event(11, "bo", AnnotationKind::Undo, None);
    undo.supersedes = Some(10);
    undo.suggestion = None;
    undo.provenance = Provenance::default();
    let mut st = state(&[("ana", "clickbait"), ("bo", "clickbait")]);
    st.flagged_by = vec!["ana".into()];
    st.noted = true;
    st.split = Some("eval".into());
    st.stratum = Some("boundary".into());
    ItemDetail {
        history: ItemHistory {
            item: Item {
                key: 2,
                id: "ad-0002".into(),
                text: "Only 3 left at this price!\nGrab yours before midnight.".into(),
                meta: None,
                gold: None,
            },
            state: st,
            events: vec![
                hist(flag, None, false, false),
                hist(label, Some("clickbait"), true, false),
                hist(old, Some("clickbait"), true, false),
                hist(undone, Some("benign"), false, true),
                hist(undo, None, false, false),
            ],
            prediction_now: Some(PredictionNow {
                model: "probe-r1".into(),
                labels: vec!["clickbait".into(), "benign".into(), "spammy".into()],
                probs: vec![0.62, 0.3, 0.08],
                label: "clickbait".into(),
                stale: true,
            }),
        },
        fields: vec![("source".into(), "forum".into()), ("date".into(), "2025-02-28".into())],
    }
}

fn labels() -> Vec<LabelDef> {
    config().labels
}

fn press(app: &mut App, km: &Keymap, c: char) -> Vec<Effect> {
    press_key(app, km, KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

/// A key as the runtime resolves it: the labels panel's own keys while it is open.
fn press_key(app: &mut App, km: &Keymap, k: KeyEvent) -> Vec<Effect> {
    let a = if app.screen == Screen::Browse && app.browse.panel.is_some() {
        panel_key(k.code).or_else(|| km.resolve_global(&k))
    } else {
        km.resolve(&k, app.screen)
    };
    a.map(|a| update(app, a)).unwrap_or_default()
}

fn code(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

fn message(app: &App) -> String {
    app.message.as_ref().map(|m| m.0.clone()).unwrap_or_default()
}

fn find(fx: &[Effect]) -> (FindQuery, u64) {
    match fx {
        [Effect::Find { query, seq }] => (query.clone(), *seq),
        other => panic!("expected one search, got {other:?}"),
    }
}

fn found(
    app: &mut App,
    seq: u64,
    offset: usize,
    total: usize,
    rows: Vec<FoundItem>,
) -> Vec<Effect> {
    update(app, Action::Found { seq, offset, total, rows })
}

/// The app on the Browse screen (F7) with the five rows listed.
fn opened() -> (App, Keymap) {
    let (km, _) = Keymap::load(None);
    let mut app = App::new(labels(), "ana", "p");
    let fx = press_key(&mut app, &km, code(KeyCode::F(7)));
    assert_eq!(app.screen, Screen::Browse);
    let (q, seq) = find(&fx);
    assert_eq!(q, FindQuery { limit: PAGE, ..FindQuery::default() }, "every item, a page");
    assert!(app.browse.loading);
    assert!(found(&mut app, seq, 0, 5, rows()).is_empty());
    assert!(!app.browse.loading);
    (app, km)
}

/// `opened` with item 2 open.
fn item_open() -> (App, Keymap) {
    let (mut app, km) = opened();
    press(&mut app, &km, 'j');
    assert_eq!(press_key(&mut app, &km, code(KeyCode::Enter)), vec![Effect::LoadHistory(2)]);
    assert!(app.browse.item_open());
    update(&mut app, Action::HistoryLoaded(Box::new(detail())));
    (app, km)
}

fn typed(app: &mut App, text: &str) -> Vec<Effect> {
    for c in text.chars() {
        update(app, Action::Input(c));
    }
    update(app, Action::Submit)
}

fn draw(app: &App, km: &Keymap, w: u16, h: u16) -> String {
    hifi::tui::render_to_string(app, &Theme::builtin("dark").unwrap(), km, w, h)
}

// ---------------------------------------------------------------------------------------------
// Pure: keys → update → effects.

#[test]
fn filters_combine_by_key_and_each_change_searches_again() {
    let (mut app, km) = opened();
    let (q, _) = find(&press(&mut app, &km, 'f'));
    assert!(q.flagged && q.offset == 0 && q.limit == PAGE);
    let (q, _) = find(&press(&mut app, &km, 'd'));
    assert!(q.flagged && q.experts_disagree, "filters combine");
    let (q, _) = find(&press(&mut app, &km, 'f'));
    assert!(!q.flagged && q.experts_disagree, "a second press turns one off");
    // Cycles: label through the labels, labeled → unlabeled → either, eval → train → either.
    let labels: Vec<Option<String>> =
        (0..3).map(|_| find(&press(&mut app, &km, 'l')).0.label).collect();
    assert_eq!(labels, [Some("clickbait".into()), Some("benign".into()), None]);
    let labeled: Vec<Option<bool>> =
        (0..3).map(|_| find(&press(&mut app, &km, 'U')).0.labeled).collect();
    assert_eq!(labeled, [Some(true), Some(false), None]);
    let splits: Vec<Option<String>> =
        (0..3).map(|_| find(&press(&mut app, &km, 'e')).0.split).collect();
    assert_eq!(splits, [Some("eval".into()), Some("train".into()), None]);
    let strata: Vec<Option<String>> =
        (0..2).map(|_| find(&press(&mut app, &km, 't')).0.stratum).collect();
    assert_eq!(strata, [Some("boundary".into()), Some("audit".into())]);
    let (q, _) = find(&press(&mut app, &km, 'a'));
    assert_eq!(q.annotator.as_deref(), Some("ana"), "mine: this annotator's decisions");
    let (q, _) = find(&press(&mut app, &km, 's'));
    assert!(q.skipped);
    let (q, _) = find(&press(&mut app, &km, 'N'));
    assert!(q.noted);
    let (q, _) = find(&press(&mut app, &km, 'm'));
    assert!(q.model_disagrees);
    assert_eq!(
        app.browse.filters.describe(),
        ["skipped", "has a note", "experts disagree", "model disagrees", "mine", "audit"]
    );
    // c clears every filter (and the search); with nothing to clear it says so.
    let (q, _) = find(&press(&mut app, &km, 'c'));
    assert_eq!(q, FindQuery { limit: PAGE, ..FindQuery::default() });
    assert!(press(&mut app, &km, 'c').is_empty());
    assert!(message(&app).contains("no search or filter"), "{}", message(&app));
}

#[test]
fn slash_types_a_search_enter_runs_it_esc_cancels_and_old_answers_are_dropped() {
    let (mut app, km) = opened();
    press(&mut app, &km, 'f');
    let seq_flagged = app.browse.seq;
    assert!(press(&mut app, &km, '/').is_empty());
    assert_eq!(app.input.as_ref().map(|i| i.purpose.clone()), Some(InputPurpose::Search));
    update(&mut app, Action::Input('x'));
    update(&mut app, Action::CancelInput);
    assert!(app.input.is_none() && app.browse.text.is_none(), "esc cancels");
    press(&mut app, &km, '/');
    let (q, seq) = find(&typed(&mut app, "  refund policy "));
    assert_eq!(q.text.as_deref(), Some("refund policy"));
    assert!(q.flagged, "the filters stay");
    // The answer to the flagged search comes late: dropped.
    found(&mut app, seq_flagged, 0, 99, rows());
    assert!(app.browse.loading && app.browse.rows.len() == 5);
    found(&mut app, seq, 0, 1, rows()[1..2].to_vec());
    assert_eq!((app.browse.total, app.browse.rows.len()), (1, 1));
    // `/` starts from the search in force; an empty one lists every item.
    press(&mut app, &km, '/');
    assert_eq!(app.input.as_ref().unwrap().text, "refund policy");
    update(&mut app, Action::Input('\u{1b}'));
    assert_eq!(app.input.as_ref().unwrap().text, "refund policy", "controls are not typed");
    for _ in 0.."refund policy".len() {
        update(&mut app, Action::Backspace);
    }
    let (q, seq) = find(&update(&mut app, Action::Submit));
    assert_eq!(q.text, None);
    // A bad query: the list empties and the store's message shows.
    update(
        &mut app,
        Action::FindFailed {
            seq,
            msg: "cannot search for `\"unclosed`: unterminated string".into(),
        },
    );
    assert!(app.browse.failed && app.browse.rows.is_empty());
    assert!(message(&app).contains("unterminated string"));
    let s = draw(&app, &km, 80, 24);
    assert!(s.contains("The search failed"), "{s}");
}

#[test]
fn moving_pages_in_more_rows_near_the_end_of_what_is_loaded() {
    let (km, _) = Keymap::load(None);
    let mut app = App::new(labels(), "ana", "p");
    let (_, seq) = find(&update(&mut app, Action::GoTo(Screen::Browse)));
    let page: Vec<FoundItem> =
        (1..=PAGE as i64).map(|k| row(k, &format!("text {k}"), state(&[]), None)).collect();
    assert!(found(&mut app, seq, 0, 1204, page).is_empty());
    let s = draw(&app, &km, 80, 24);
    assert!(s.contains("showing 1–17 of 1,204"), "{s}");
    for _ in 0..80 {
        assert!(press(&mut app, &km, 'j').is_empty());
    }
    assert_eq!(app.browse.sel, 80);
    // Within a page of the end: the next page.
    let mut fx = Vec::new();
    while fx.is_empty() {
        fx = press_key(&mut app, &km, code(KeyCode::PageDown));
    }
    let (q, seq) = find(&fx);
    assert_eq!((q.offset, q.limit), (PAGE, PAGE));
    assert!(app.browse.more);
    assert!(press_key(&mut app, &km, code(KeyCode::End)).is_empty(), "one page at a time");
    let next: Vec<FoundItem> = (PAGE as i64 + 1..=2 * PAGE as i64)
        .map(|k| row(k, &format!("text {k}"), state(&[]), None))
        .collect();
    found(&mut app, seq, PAGE, 1204, next);
    assert_eq!(app.browse.rows.len(), 2 * PAGE);
    let s = draw(&app, &km, 80, 24);
    assert!(s.contains("of 1,204"), "{s}");
    press_key(&mut app, &km, code(KeyCode::Home));
    assert_eq!((app.browse.sel, app.browse.top), (0, 0));
    assert!(draw(&app, &km, 80, 24).contains("showing 1–17 of 1,204"));
}

#[test]
fn an_open_item_is_relabeled_as_a_revisit_with_the_note_given() {
    let (mut app, km) = item_open();
    assert!(press(&mut app, &km, 'n').is_empty());
    assert_eq!(app.input.as_ref().map(|i| i.purpose.clone()), Some(InputPurpose::BrowseNote));
    assert!(typed(&mut app, "the price is real; benign").is_empty());
    assert_eq!(app.browse.note.as_deref(), Some("the price is real; benign"));
    let fx = press(&mut app, &km, '2');
    let want = Annotation {
        item: 2,
        annotator: "ana".into(),
        kind: AnnotationKind::Label,
        label: Some("benign".into()),
        note: Some("the price is real; benign".into()),
        suggestion: Some(true),
    };
    assert_eq!(
        fx,
        vec![Effect::AnnotateFrom { annotation: want, origin: "browse".into(), revisit: true }]
    );
    assert_eq!((app.pending, app.browse.sending), (1, 1));
    assert!(app.browse.note.is_none(), "the note went with the decision");
    // One decision at a time on the item: a second key is refused, said.
    assert!(press(&mut app, &km, '1').is_empty());
    assert!(message(&app).starts_with("not applied: label clickbait"), "{}", message(&app));
    let fx = update(
        &mut app,
        Action::BrowseSaved {
            item: 2,
            kind: AnnotationKind::Label,
            label: Some("benign".into()),
            revises: Some(8),
        },
    );
    assert_eq!(fx, vec![Effect::LoadHistory(2)], "the history is read again");
    assert_eq!(app.pending, 0);
    assert_eq!(message(&app), "relabeled ad-0002: benign (a revisit of #8)");
    // A failed save is said, and the item may be decided again.
    press(&mut app, &km, '1');
    update(&mut app, Action::BrowseSaveFailed { item: 2, msg: "not saved: disk full".into() });
    assert_eq!((app.pending, app.browse.sending), (0, 0));
    assert_eq!(message(&app), "not saved: disk full");
    assert!(press(&mut app, &km, '9').is_empty());
    assert!(message(&app).contains("there is no such label"), "{}", message(&app));
}

#[test]
fn flag_toggles_on_the_annotators_own_flag_and_other_item_keys_do_what_they_say() {
    let (mut app, km) = item_open();
    // ana's flag stands on item 2: `!` withdraws it.
    let fx = press(&mut app, &km, '!');
    let [Effect::AnnotateFrom { annotation, origin, revisit }] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(
        (annotation.kind, origin.as_str(), *revisit),
        (AnnotationKind::Unflag, "browse", false)
    );
    update(
        &mut app,
        Action::BrowseSaved { item: 2, kind: AnnotationKind::Unflag, label: None, revises: None },
    );
    assert_eq!(message(&app), "flag on ad-0002 withdrawn");
    let mut d = detail();
    d.history.state.flagged_by.clear();
    update(&mut app, Action::HistoryLoaded(Box::new(d)));
    let fx = press(&mut app, &km, '!');
    assert!(
        matches!(&fx[..], [Effect::AnnotateFrom { annotation, .. }] if annotation.kind == AnnotationKind::Flag)
    );
    update(&mut app, Action::BrowseSaveFailed { item: 2, msg: "x".into() });
    assert_eq!(press(&mut app, &km, 'o'), vec![Effect::SecondOpinion(2)]);
    update(&mut app, Action::SecondOpinionQueued { item: 2 });
    assert!(message(&app).starts_with("queued ad-0002 for a second expert"), "{}", message(&app));
    assert_eq!(press(&mut app, &km, 'u'), vec![Effect::Undo]);
    // The undo's answer: Review reads its entry again, Browse the item.
    let fx = update(&mut app, Action::Undone(Some(event(12, "ana", AnnotationKind::Flag, None))));
    assert!(fx.contains(&Effect::LoadHistory(2)) && fx.contains(&Effect::LoadNext), "{fx:?}");
    assert_eq!(message(&app), "undid flag on ad-0002");
    // List keys are refused on the item, visibly.
    assert!(press(&mut app, &km, 'f').is_empty());
    assert!(message(&app).contains("esc goes back to it"), "{}", message(&app));
    assert!(press(&mut app, &km, 'w').is_empty());
    // Scrolling stays within what the frame showed.
    draw(&app, &km, 80, 14);
    press_key(&mut app, &km, code(KeyCode::End));
    let bottom = app.browse.scroll;
    assert!(bottom > 0);
    press(&mut app, &km, 'j');
    assert_eq!(app.browse.scroll, bottom);
    press_key(&mut app, &km, code(KeyCode::Home));
    assert_eq!(app.browse.scroll, 0);
    // Esc: back to the list, read again keeping the item selected.
    let (q, seq) = find(&press_key(&mut app, &km, code(KeyCode::Esc)));
    assert!(!app.browse.item_open());
    assert_eq!((q.offset, q.limit), (0, PAGE));
    let mut again = rows();
    again.remove(0);
    found(&mut app, seq, 0, 4, again);
    assert_eq!(app.browse.selected().map(|r| r.key), Some(2), "the same item stays selected");
}

#[test]
fn keys_on_nothing_are_refused_and_a_late_history_is_dropped() {
    let (km, _) = Keymap::load(None);
    let mut app = App::new(labels(), "ana", "p");
    let (_, seq) = find(&update(&mut app, Action::GoTo(Screen::Browse)));
    found(&mut app, seq, 0, 0, vec![]);
    assert!(press_key(&mut app, &km, code(KeyCode::Enter)).is_empty());
    assert!(message(&app).contains("the list is empty"), "{}", message(&app));
    assert!(press(&mut app, &km, 'w').is_empty());
    assert!(press(&mut app, &km, '1').is_empty());
    assert!(message(&app).contains("no item is open"), "{}", message(&app));
    // Opened, then back before the history came: it is not shown.
    let (mut app, km) = opened();
    press_key(&mut app, &km, code(KeyCode::Enter));
    assert!(press(&mut app, &km, '2').is_empty());
    assert!(message(&app).contains("still loading"), "{}", message(&app));
    press_key(&mut app, &km, code(KeyCode::Esc));
    update(&mut app, Action::HistoryLoaded(Box::new(detail())));
    assert!(!app.browse.item_open());
    press_key(&mut app, &km, code(KeyCode::Enter));
    update(&mut app, Action::HistoryFailed { key: 1, msg: "gone".into() });
    assert!(!app.browse.item_open() && message(&app) == "cannot open the item: gone");
}

#[test]
fn work_through_these_queues_what_the_filters_find_capped_and_says_how_many() {
    let (mut app, km) = opened();
    let (_, seq) = find(&press(&mut app, &km, 'f'));
    found(&mut app, seq, 0, 1204, rows());
    let fx = press(&mut app, &km, 'w');
    let [Effect::WorkThrough(q)] = fx.as_slice() else { panic!("{fx:?}") };
    assert!(q.flagged);
    assert_eq!((q.offset, q.limit), (0, WORK_CAP));
    let fx = update(&mut app, Action::WorkQueued { queued: 500, matching: 1204 });
    assert_eq!(
        message(&app),
        "queued 500 items for you to work through (the first 500 of 1204 matching): the Review screen serves them next"
    );
    // Review had nothing on screen: it loads the queue now.
    assert_eq!(fx, vec![Effect::LoadNext]);
    update(&mut app, Action::WorkQueued { queued: 1, matching: 1 });
    assert!(message(&app).starts_with("queued 1 item for you"), "{}", message(&app));
}

#[test]
fn the_labels_panel_adds_renames_merges_and_retires_and_the_app_takes_the_new_set() {
    let (mut app, km) = opened();
    assert_eq!(press(&mut app, &km, 'L'), vec![Effect::LoadLabelCounts]);
    update(&mut app, Action::LabelCounts(vec![("clickbait".into(), 12), ("benign".into(), 30)]));
    assert_eq!(app.browse.panel.as_ref().unwrap().count("benign"), Some(30));
    // Add: a name, then a definition.
    press(&mut app, &km, 'a');
    assert_eq!(app.input.as_ref().unwrap().purpose, InputPurpose::NewLabelName);
    assert!(typed(&mut app, "spam").is_empty());
    assert_eq!(
        app.input.as_ref().unwrap().purpose,
        InputPurpose::NewLabelDefinition { name: "spam".into() }
    );
    let fx = typed(&mut app, "Unsolicited bulk ads.");
    assert_eq!(
        fx,
        vec![Effect::ChangeLabels(LabelChange::Add {
            name: "spam".into(),
            definition: "Unsolicited bulk ads.".into()
        })]
    );
    // One change at a time.
    press(&mut app, &km, 'x');
    assert!(app.browse.panel.as_ref().unwrap().confirm_retire.is_none());
    assert!(message(&app).contains("still being made"), "{}", message(&app));
    let mut three = labels();
    three.push(LabelDef::new("spam", "Unsolicited bulk ads."));
    let fx = update(
        &mut app,
        Action::LabelsChanged { labels: three.clone(), said: "added spam: label set v2".into() },
    );
    assert_eq!(app.labels, three, "the app's labels are the new set");
    assert_eq!(message(&app), "added spam: label set v2");
    assert!(fx.contains(&Effect::LoadLabelCounts));
    // Merge benign into clickbait: both named.
    press_key(&mut app, &km, code(KeyCode::Down));
    press(&mut app, &km, 'm');
    let fx = typed(&mut app, "clickbait");
    assert_eq!(
        fx,
        vec![Effect::ChangeLabels(LabelChange::Merge {
            from: vec!["benign".into(), "clickbait".into()],
            into: "clickbait".into(),
            definition: None
        })]
    );
    update(&mut app, Action::LabelsChangeFailed("the store is read-only: nothing changed".into()));
    assert!(message(&app).contains("nothing changed"));
    // Into a new name: it takes benign's place.
    press(&mut app, &km, 'm');
    assert_eq!(
        typed(&mut app, "honest"),
        vec![Effect::ChangeLabels(LabelChange::Merge {
            from: vec!["benign".into()],
            into: "honest".into(),
            definition: None
        })]
    );
    update(&mut app, Action::LabelsChangeFailed("x".into()));
    press(&mut app, &km, 'r');
    assert_eq!(
        typed(&mut app, "honest"),
        vec![Effect::ChangeLabels(LabelChange::Rename {
            from: "benign".into(),
            to: "honest".into(),
            definition: None
        })]
    );
    update(&mut app, Action::LabelsChangeFailed("x".into()));
    // Retire asks first; n keeps it.
    press(&mut app, &km, 'x');
    assert_eq!(app.browse.panel.as_ref().unwrap().confirm_retire.as_deref(), Some("benign"));
    assert!(press(&mut app, &km, 'n').is_empty());
    assert!(message(&app).contains("benign not retired"));
    press(&mut app, &km, 'x');
    assert_eq!(
        press(&mut app, &km, 'y'),
        vec![Effect::ChangeLabels(LabelChange::Retire { name: "benign".into() })]
    );
    // Global keys still work with the panel open; esc closes it.
    assert!(press_key(&mut app, &km, code(KeyCode::Esc)).is_empty());
    assert!(app.browse.panel.is_none());
    // The label filter follows the set: a name that went is dropped.
    update(&mut app, Action::LabelsChangeFailed("x".into()));
    app.browse.filters.label = Some("spam".into());
    let fx =
        update(&mut app, Action::LabelsChanged { labels: labels(), said: "retired spam".into() });
    assert_eq!(app.browse.filters.label, None);
    assert!(fx.iter().any(|e| matches!(e, Effect::Find { .. })), "the list is read again");
}

#[test]
fn guidelines_are_edited_saved_as_a_version_and_shown_with_the_labels_in_help() {
    let (mut app, km) = opened();
    assert_eq!(press(&mut app, &km, 'G'), vec![Effect::EditGuidelines]);
    let edited = |base: Option<&str>, outcome| Action::GuidelinesEdited {
        base: base.map(Into::into),
        outcome,
    };
    assert!(update(&mut app, edited(None, EditOutcome::Unchanged)).is_empty());
    assert_eq!(
        message(&app),
        "guidelines unchanged: nothing saved (guidelines.md was not created)"
    );
    assert!(update(&mut app, edited(Some("# G\n"), EditOutcome::Unchanged)).is_empty());
    assert_eq!(message(&app), "guidelines unchanged: nothing saved");
    assert!(update(&mut app, edited(None, EditOutcome::Empty)).is_empty());
    assert_eq!(message(&app), "guidelines empty: nothing saved");
    assert!(update(&mut app, edited(None, EditOutcome::Failed("no editor".into()))).is_empty());
    assert_eq!(message(&app), "nothing saved: no editor");
    let text = "# Guidelines\n\nA price claim alone is not clickbait.\n".to_string();
    let fx = update(&mut app, edited(Some("# G\n"), EditOutcome::Changed(text.clone())));
    assert_eq!(fx, vec![Effect::SaveGuidelines { base: Some("# G\n".into()), text: text.clone() }]);
    update(&mut app, Action::GuidelinesSaved { version: Some(3), text: text.clone() });
    assert_eq!(app.guidelines, Some((3, text.clone())));
    assert!(message(&app).starts_with("guidelines saved as version 3"), "{}", message(&app));
    // `?`: the keys, the label definitions and the guidelines, scrolled by the scroll keys.
    let mut long = "# Guidelines\n\n".to_string();
    for i in 1..=60 {
        long.push_str(&format!("- rule {i}: say what the ad offers\n"));
    }
    update(&mut app, Action::GuidelinesLoaded(Some((4, long))));
    press(&mut app, &km, '?');
    assert!(app.show_help);
    let s = draw(&app, &km, 80, 24);
    assert!(s.contains("Keys (from the keymap") && s.contains("work through these"), "{s}");
    press_key(&mut app, &km, code(KeyCode::End));
    let s = draw(&app, &km, 80, 24);
    assert!(s.contains("rule 60: say what the ad offers"), "{s}");
    assert!(!app.browse.item_open() && app.browse.sel == 0, "the list did not move");
    press_key(&mut app, &km, code(KeyCode::Home));
    press_key(&mut app, &km, code(KeyCode::PageDown));
    let s = draw(&app, &km, 80, 24);
    assert!(
        s.contains("Guidelines (version 4)") && s.contains("Says plainly what is offered."),
        "{s}"
    );
    press_key(&mut app, &km, code(KeyCode::Esc));
    assert!(!app.show_help, "esc closes the help");
}

#[test]
fn the_browse_keys_are_rebindable() {
    let (km, warn) = Keymap::load(Some(("k.toml", "[browse]\nflagged = [\"F\"]\n")));
    assert!(warn.is_none(), "{warn:?}");
    let k = |c: char| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    assert_eq!(
        km.resolve(&k('F'), Screen::Browse),
        Some(Action::Browse(BrowseKey::Filter(BrowseFilter::Flagged)))
    );
    assert_eq!(km.resolve(&k('f'), Screen::Browse), None);
    assert_eq!(km.resolve(&k('3'), Screen::Browse), Some(Action::Browse(BrowseKey::Relabel(2))));
    assert_eq!(km.resolve(&k('3'), Screen::Review), Some(Action::LabelBoth(2)), "per screen");
    let (_, warn) = Keymap::load(Some(("k.toml", "[browse]\nfly = [\"z\"]\n")));
    assert!(warn.unwrap().contains("[browse] has no action \"fly\""));
    assert_eq!(panel_key(KeyCode::Char('m')), Some(Action::Panel(PanelKey::Merge)));
}

// ---------------------------------------------------------------------------------------------
// Drawn: snapshots and inert text.

fn screens() -> Vec<(&'static str, App)> {
    let (km, _) = Keymap::load(None);
    let mut out = Vec::new();
    let (mut list, _) = opened();
    press(&mut list, &km, 'j');
    out.push(("browse_list", list.clone()));
    let mut filtered = list.clone();
    let (_, seq) = find(&press(&mut filtered, &km, 'f'));
    let (_, seq2) = find(&press(&mut filtered, &km, 'l'));
    assert!(seq2 > seq);
    found(&mut filtered, seq2, 0, 1, rows()[1..2].to_vec());
    filtered.browse.text = Some("price".into());
    out.push(("browse_filtered", filtered));
    let mut typing = list.clone();
    press(&mut typing, &km, '/');
    for c in "refund OR return".chars() {
        update(&mut typing, Action::Input(c));
    }
    out.push(("browse_search_typing", typing));
    let (mut item, _) = item_open();
    press(&mut item, &km, 'n');
    typed(&mut item, "check the price first");
    out.push(("browse_item", item.clone()));
    let mut panel = list.clone();
    press(&mut panel, &km, 'L');
    update(&mut panel, Action::LabelCounts(vec![("clickbait".into(), 12), ("benign".into(), 30)]));
    out.push(("browse_labels", panel.clone()));
    let mut retire = panel;
    press_key(&mut retire, &km, code(KeyCode::Down));
    press_key(&mut retire, &km, code(KeyCode::Char('x')));
    out.push(("browse_retire", retire));
    let mut help = list.clone();
    help.guidelines = Some((2, "# Guidelines\n\nA price claim alone is not clickbait.".into()));
    press(&mut help, &km, '?');
    out.push(("browse_help", help));
    let mut none = App::new(labels(), "ana", "p");
    let (_, seq) = find(&update(&mut none, Action::GoTo(Screen::Browse)));
    press(&mut none, &km, 'f');
    found(&mut none, seq + 1, 0, 0, vec![]);
    out.push(("browse_none", none));
    out
}

#[test]
fn the_browse_screen_snapshot_at_80x24_and_120x40() {
    let (km, _) = Keymap::load(None);
    for (name, app) in screens() {
        for (w, h) in [(80u16, 24u16), (120, 40)] {
            insta::assert_snapshot!(format!("{name}_{w}x{h}"), draw(&app, &km, w, h));
        }
    }
}

#[test]
fn every_browse_view_draws_in_a_tiny_terminal_without_panicking() {
    let (km, _) = Keymap::load(None);
    for (name, app) in screens() {
        for (w, h) in [(1u16, 1u16), (12, 5), (30, 8), (50, 12)] {
            let s = draw(&app, &km, w, h);
            assert_eq!(s.lines().count(), h as usize, "{name} at {w}×{h}");
        }
    }
}

#[test]
fn item_text_fields_notes_and_labels_render_inert() {
    let (mut app, km) = item_open();
    let mut d = detail();
    d.history.item.id = "ad\u{1b}[31m-2".into();
    d.history.item.text = "Buy \u{1b}[2J now \u{9b}31m \u{202e}txet".into();
    d.fields = vec![("src\u{1b}[2J".into(), "forum\u{1b}]52;c;SGk=\u{7}".into())];
    d.history.events[0].event.note = Some("note \u{1b}[2J here".into());
    d.history.events[1].event.annotator = "an\u{1b}[2Ja".into();
    d.history.state.labels = BTreeMap::from([("an\u{1b}[2Ja".into(), "click\u{1b}[2J".into())]);
    update(&mut app, Action::HistoryLoaded(Box::new(d)));
    // The item kept its key (2): it is the same item read again.
    assert!(app.browse.item.as_ref().unwrap().history.item.text.starts_with("Buy"));
    let mut r = rows();
    r[0].text = "Row \u{1b}[2J text \u{202e}".into();
    r[0].id = "id\u{1b}[2J".into();
    r[0].predicted = Some("p\u{1b}[2J".into());
    app.browse.rows = r;
    app.browse.note = Some("mine \u{1b}[2J".into());
    for (w, h) in [(80, 24), (120, 40)] {
        let s = draw(&app, &km, w, h);
        assert!(!s.contains('\u{1b}') && !s.contains('\u{9b}') && !s.contains('\u{202e}'), "{s}");
        assert!(s.contains("Buy ␛[2J now"), "{s}");
        assert!(s.contains("src␛[2J: forum␛]52;c;SGk=^G"), "{s}");
        assert!(s.contains("note ␛[2J here"), "{s}");
        let mut list = app.clone();
        list.browse.item = None;
        let s = draw(&list, &km, w, h);
        assert!(!s.contains('\u{1b}') && !s.contains('\u{202e}'), "{s}");
        assert!(s.contains("Row ␛[2J text"), "{s}");
    }
}

// ---------------------------------------------------------------------------------------------
// A real store read into the screen.

fn add_items(store: &mut Store, items: &[(&str, &str, Option<&str>)]) {
    store
        .import("t.jsonl", "jsonl", |imp| {
            for (i, (id, text, meta)) in items.iter().enumerate() {
                imp.add(&NewItem {
                    id: id.to_string(),
                    text: text.to_string(),
                    meta: meta.map(str::to_string),
                    gold: None,
                    line: i as u64 + 1,
                    context: None,
                    responses: vec![],
                })
                .map_err(|e| StoreError::Invalid(format!("{e:?}")))?;
            }
            Ok::<u64, StoreError>(items.len() as u64)
        })
        .unwrap();
}

fn label(store: &mut Store, item: i64, who: &str, l: &str, prov: &Provenance) -> i64 {
    let a = Annotation {
        item,
        annotator: who.into(),
        kind: AnnotationKind::Label,
        label: Some(l.into()),
        note: None,
        suggestion: Some(false),
    };
    store.annotate_from(&a, prov).unwrap()
}

#[test]
fn a_real_items_history_shows_revisits_and_labels_renamed_since() {
    let (dir, cfg, _) = project();
    let p = dir.path();
    let (cfg0, mut store) = hifi::project::open(p).unwrap();
    assert_eq!(cfg0.labels, cfg.labels);
    add_items(
        &mut store,
        &[
            ("ad-1", "Only 3 left at this price!", Some(r#"{"source": "forum", "n": 3}"#)),
            ("ad-2", "Sale ends Monday", None),
        ],
    );
    let k = store.item_by_id("ad-1").unwrap().unwrap().key;
    let first = label(&mut store, k, "ana", "clickbait", &Provenance::from("review"));
    let revises = store.newest_decision(k, "ana").unwrap().map(|e| e.id);
    assert_eq!(revises, Some(first));
    let second = label(
        &mut store,
        k,
        "ana",
        "benign",
        &Provenance { origin: Some("browse".into()), revises },
    );
    // benign is renamed since: the history shows the name given and the name now.
    let (cfg2, _) = hifi::project::change_labels(
        p,
        &mut store,
        &cfg0,
        &LabelChange::Rename { from: "benign".into(), to: "honest".into(), definition: None },
        "ana",
    )
    .unwrap();
    let names = cfg2.label_names();
    let d = hifi::tui::data::item_detail(&store, k, &names, None).unwrap().unwrap();
    assert_eq!(d.fields, vec![("n".into(), "3".into()), ("source".into(), "forum".into())]);
    assert_eq!(
        hifi::tui::data::item_detail(&store, k, &names, Some(&["source".to_string()]))
            .unwrap()
            .unwrap()
            .fields,
        vec![("source".to_string(), "forum".to_string())],
        "[review] show_fields picks them"
    );
    let (km, _) = Keymap::load(None);
    let mut app = App::new(cfg2.labels.clone(), "ana", "p");
    let (q, seq) = find(&update(&mut app, Action::GoTo(Screen::Browse)));
    store.index_for_search(|_, _| {}).unwrap();
    let f = store.find(&q, &names).unwrap();
    assert_eq!(f.total, 2);
    found(&mut app, seq, 0, f.total, f.rows);
    let s = draw(&app, &km, 120, 40);
    assert!(s.contains("ad-1") && s.contains("honest") && s.contains("2 items"), "{s}");
    press_key(&mut app, &km, code(KeyCode::Enter));
    update(&mut app, Action::HistoryLoaded(Box::new(d)));
    let s = draw(&app, &km, 120, 40);
    assert!(
        s.contains(&format!("#{first} ")) && s.contains("ana label clickbait · blind · review"),
        "{s}"
    );
    assert!(
        s.contains(&format!("#{second} "))
            && s.contains("label benign → honest")
            && s.contains(&format!("revisit of #{first}")),
        "{s}"
    );
    assert!(s.contains("in force: ana honest"), "{s}");
    assert!(s.contains("source: forum"), "{s}");
    // A search for a word reaches the item; an id too.
    let mut q = FindQuery { text: Some("Monday".into()), limit: PAGE, ..FindQuery::default() };
    assert_eq!(store.find(&q, &names).unwrap().rows[0].id, "ad-2");
    q.text = Some("ad-1".into());
    assert_eq!(store.find(&q, &names).unwrap().rows[0].id, "ad-1");
    let labels_count = hifi::tui::data::label_counts(&store, &cfg2).unwrap();
    assert_eq!(labels_count, vec![("clickbait".into(), 0), ("honest".into(), 1)]);
}

// ---------------------------------------------------------------------------------------------
// End to end, in tmux.

/// The done-when of issue 36: flag three items while reviewing (and label them, as an expert
/// unsure of their label would), open Browse, filter flagged, relabel one; the store has a
/// revisit superseding the earlier label, and `hifi find --flagged --json` lists the other two.
#[test]
fn flag_three_while_reviewing_then_find_them_in_browse_and_relabel_one_as_a_revisit() {
    let (dir, _cfg, store) = project();
    drop(store);
    let p = dir.path().to_path_buf();
    let ids = ["ad-1", "ad-2", "ad-3", "ad-4"];
    let w = Workstation::start(&p, &ids, "browse");
    for (i, id) in ids[..3].iter().enumerate() {
        w.wait_for(&format!("{id} under review"), |s| s.contains(&format!("Item · {id}")));
        w.keys("!");
        w.keys("1");
        let next = ids[i + 1];
        w.wait_for(&format!("{next} after {id}"), |s| s.contains(&format!("Item · {next}")));
    }
    w.keys("F7");
    w.wait_for("the list", |s| s.contains(" 4 items ") && s.contains("search: every item"));
    w.keys("f");
    let s = w.wait_for("the flagged items", |s| s.contains(" 3 items ") && s.contains("flagged"));
    assert!(
        s.contains("ad-1") && s.contains("ad-2") && s.contains("ad-3") && !s.contains("ad-4 "),
        "{s}"
    );
    assert!(s.contains('⚑'), "{s}");
    w.keys("Enter");
    w.wait_for("ad-1 open", |s| s.contains("history: 2 events") && s.contains("ad-1"));
    w.keys("2");
    let s =
        w.wait_for("the revisit saved", |s| s.contains("relabeled ad-1: benign (a revisit of #"));
    w.wait_for("the history read again", |s| s.contains("history: 3 events"));
    assert!(s.contains("Browse"), "{s}");
    // Back to the list, read again: the revisit withdrew ana's flag on ad-1.
    w.keys("Escape");
    w.wait_for("two flagged left", |s| s.contains(" 2 items ") && !s.contains("ad-1 "));
    w.keys("w");
    w.wait_for("queued to work through", |s| s.contains("queued 2 items for you to work through"));
    w.quit();

    let store = Store::open(&p).unwrap();
    let key = store.item_by_id("ad-1").unwrap().unwrap().key;
    let events: Vec<LabelEvent> =
        store.events().unwrap().into_iter().filter(|e| e.item == key).collect();
    let kinds: Vec<(AnnotationKind, Option<&str>, Option<&str>)> = events
        .iter()
        .map(|e| (e.kind, e.label.as_deref(), e.provenance.origin.as_deref()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (AnnotationKind::Flag, None, Some("review")),
            (AnnotationKind::Label, Some("clickbait"), Some("review")),
            (AnnotationKind::Label, Some("benign"), Some("browse")),
        ]
    );
    assert_eq!(events[2].provenance.revises, Some(events[1].id), "a revisit of the earlier label");
    assert!(events.iter().all(|e| e.annotator == "ana"));
    assert_eq!(store.current_label(key, "ana").unwrap().as_deref(), Some("benign"));
    let revisits: Vec<String> = store
        .queue()
        .unwrap()
        .iter()
        .filter(|e| e.strategy == "revisit")
        .map(|e| store.item(e.item_a).unwrap().unwrap().id)
        .collect();
    assert_eq!(revisits, ["ad-2", "ad-3"], "at the front of the queue, to work through");
    let (ok, out, err) = hifi(&p, &["find", "--flagged", "--json"]);
    assert!(ok, "{out}{err}");
    let listed: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let found: Vec<&str> = listed.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(found, ["ad-2", "ad-3"]);
    drop(store);

    // Working them through in Review: each comes back first, and its new label is a revisit
    // that settles the flag.
    let w = Workstation::launch(&p, "browse-work");
    for id in ["ad-2", "ad-3"] {
        w.wait_for(&format!("{id} served again"), |s| s.contains(&format!("Item · {id}")));
        w.keys("2");
    }
    w.wait_for("the rest of the queue", |s| s.contains("Item · ad-4"));
    w.quit();
    let store = Store::open(&p).unwrap();
    for id in ["ad-2", "ad-3"] {
        let key = store.item_by_id(id).unwrap().unwrap().key;
        let last = store.events().unwrap().into_iter().rfind(|e| e.item == key).unwrap();
        assert_eq!(
            (last.label.as_deref(), last.provenance.origin.as_deref()),
            (Some("benign"), Some("review"))
        );
        assert!(last.provenance.revises.is_some(), "{id}: a revisit of the flagged call");
    }
    let (ok, out, err) = hifi(&p, &["find", "--flagged", "--json"]);
    assert!(ok, "{out}{err}");
    assert_eq!(out.trim(), "[]", "no flag stands once they are worked through");
}

/// An editor script writing one rule into the file it gets; when `dir/conflict` names a file,
/// it also writes that file (someone else saving the guidelines meanwhile).
fn editor(dir: &Path) -> PathBuf {
    let script = dir.join("ed");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf 'Ads that hide the price are clickbait.\\n' >> \"$1\"\nif [ -f '{0}/conflict' ]; then printf 'theirs\\n' > \"$(cat '{0}/conflict')\"; fi\n",
            dir.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[test]
fn labels_and_guidelines_change_from_the_workstation() {
    let (dir, _cfg, store) = project();
    drop(store);
    let p = dir.path().to_path_buf();
    Workstation::queue(&p, &["ad-1", "ad-2", "ad-3"]);
    let tools = tempfile::tempdir().unwrap();
    let script = editor(tools.path());
    let w = Workstation::launch_with(
        &p,
        "browse-labels",
        &[("EDITOR", script.to_str().unwrap())],
        (100, 30),
    );
    w.wait_for("ad-1 under review", |s| s.contains("Item · ad-1"));
    w.keys("2"); // benign
    w.wait_for("ad-2 under review", |s| s.contains("Item · ad-2"));
    w.keys("F7");
    w.wait_for("the list", |s| s.contains(" 3 items "));
    // The guidelines, in $EDITOR: saved as version 1.
    w.keys("G");
    w.wait_for("the guidelines saved", |s| s.contains("guidelines saved as version 1"));
    // Saved by someone else while the editor is open: nothing overwritten, ours kept aside.
    std::fs::write(tools.path().join("conflict"), p.join("guidelines.md").to_str().unwrap())
        .unwrap();
    w.keys("G");
    w.wait_for("the conflict said", |s| s.contains("changed while you were editing it"));
    std::fs::remove_file(tools.path().join("conflict")).unwrap();
    let mine = std::fs::read_to_string(p.join("guidelines.md.mine")).unwrap();
    assert!(mine.ends_with("clickbait.\nAds that hide the price are clickbait.\n"), "{mine}");
    assert_eq!(std::fs::read_to_string(p.join("guidelines.md")).unwrap(), "theirs\n");
    w.keys("?");
    w.wait_for("the guidelines in help", |s| {
        s.contains("Guidelines (version 1)") || s.contains("lines 1–")
    });
    w.keys("End");
    w.wait_for("the rule in help", |s| s.contains("Ads that hide the price are clickbait."));
    w.keys("Escape");
    w.wait_for("the help closed", |s| !s.contains("Keys (from the keymap"));
    // The labels panel: a rename to an existing label is refused; add spam; merge benign.
    w.keys("L");
    w.wait_for("the labels panel", |s| {
        s.contains("Labels (counts in force)") && s.contains("a add")
    });
    w.keys("r");
    w.wait_for("the rename prompt", |s| s.contains("Rename clickbait to"));
    w.keys("benign");
    w.keys("Enter");
    w.wait_for("the rename refused", |s| s.contains("a label `benign` already exists"));
    w.keys("a");
    w.wait_for("the name prompt", |s| s.contains("New label's name"));
    w.keys("spam");
    w.keys("Enter");
    w.wait_for("the definition prompt", |s| s.contains("What belongs to spam?"));
    w.keys("Unsolicited bulk ads.");
    w.keys("Enter");
    w.wait_for("spam added", |s| s.contains("added spam: label set v2"));
    w.keys("j");
    w.keys("m");
    w.wait_for("the merge prompt", |s| s.contains("Merge benign into"));
    w.keys("clickbait");
    w.keys("Enter");
    w.wait_for("merged", |s| {
        s.contains("merged benign into clickbait: label set v3; 1 label now read clickbait")
    });
    w.keys("Escape");
    w.wait_for("the panel closed", |s| !s.contains("Labels (counts in force)"));
    // A second expert for ad-1.
    w.keys("Enter");
    w.wait_for("ad-1 open", |s| s.contains("history: 1 event") && s.contains("ad-1"));
    w.keys("o");
    w.wait_for("queued for a second expert", |s| s.contains("queued ad-1 for a second expert"));
    w.keys("Escape");
    w.wait_for("the list", |s| s.contains(" 3 items "));
    // Review's keys give the new labels.
    w.keys("F1");
    let s = w.wait_for("the new labels in review", |s| {
        s.contains("[s] spam") && s.contains("Item · ad-2")
    });
    assert!(s.contains("[a] clickbait") && !s.contains("[s] benign"), "{s}");
    w.quit();

    let cfg = Config::load(&p).unwrap();
    assert_eq!(cfg.label_names(), ["clickbait", "spam"]);
    let store = Store::open(&p).unwrap();
    let sets: Vec<String> = store.label_sets().unwrap().iter().map(|v| v.kind.clone()).collect();
    assert_eq!(sets, ["initial", "add", "merge"]);
    let g = store.guidelines().unwrap().expect("a version");
    assert_eq!((g.version, g.annotator.as_deref()), (1, Some("ana")), "the conflict saved none");
    let cfg0 = hifi::config::Config { labels: common::config().labels, ..cfg.clone() };
    assert_eq!(
        g.text,
        format!(
            "{}Ads that hide the price are clickbait.\n",
            hifi::project::guidelines_template(&cfg0)
        ),
        "the template, with the rule the editor wrote"
    );
    let k = store.item_by_id("ad-1").unwrap().unwrap().key;
    assert_eq!(store.current_label(k, "ana").unwrap().as_deref(), Some("clickbait"), "mapped");
    let ev = store.events().unwrap();
    assert_eq!(ev[0].label.as_deref(), Some("benign"), "the event stays as it was given");
    assert_eq!(ev[0].provenance.origin.as_deref(), Some("review"));
    let second: Vec<i64> = store
        .queue()
        .unwrap()
        .iter()
        .filter(|e| e.strategy == "second-opinion")
        .map(|e| e.item_a)
        .collect();
    assert_eq!(second, [k]);
}
