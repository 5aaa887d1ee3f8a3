//! The workstation in a multi-label project: label keys toggle labels on the item, one key
//! confirms the set (the empty set too, "none of these"); pairs, revisits, notes, skip, flag,
//! undo and blind review as in single-label projects; Browse shows and filters label sets and
//! relabels by toggling; Adjudicate resolves with a set; the dashboard counts items over each
//! threshold. `update` driven by keys (pure), insta snapshots at 80×24, a real store read by
//! the screens, and the real binary in tmux.

mod common;

use common::workstation::Workstation;
use common::*;
use hifi::config::LabelDef;
use hifi::store::{
    Annotation, AnnotationKind, FindQuery, FoundItem, HistoryEvent, Item, ItemHistory, ItemState,
    LabelEvent, Prediction, PredictionNow, Provenance, QueueEntry, Store,
};
use hifi::tui::action::{Action, Effect};
use hifi::tui::app::{App, Conflict, EntryView, InputPurpose, ItemDetail, ItemView, Screen};
use hifi::tui::keymap::Keymap;
use hifi::tui::theme::Theme;
use hifi::tui::update::update;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

// ---------------------------------------------------------------------------------------------
// Stand-ins: a multi-label app and the entries the store worker sends it.

/// Three labels: keys a/s/d (left or single item), j/k/l (right item), 1/2/3 (both).
fn labels() -> Vec<LabelDef> {
    let mut science = LabelDef::new("science", "About a science or its teaching.");
    science.threshold = Some(0.7);
    vec![
        LabelDef::new("game", "A game, or for playing one."),
        LabelDef::new("office", "For documents, spreadsheets, mail or meetings."),
        science,
    ]
}

fn names() -> Vec<String> {
    labels().into_iter().map(|l| l.name).collect()
}

fn app() -> App {
    let mut app = App::new(labels(), "ana", "apps");
    app.multi_label = true;
    app
}

fn item(key: i64, id: &str, text: &str, probs: [f64; 3]) -> ItemView {
    ItemView {
        key,
        id: id.into(),
        text: text.into(),
        probs: Some(probs.to_vec()),
        model_labels: names(),
        mine: None,
        fields: Vec::new(),
    }
}

fn queue_entry(strategy: &str, a: i64, b: Option<i64>) -> QueueEntry {
    QueueEntry {
        id: a,
        mine_run: 1,
        position: 0,
        strategy: strategy.into(),
        item_a: a,
        item_b: b,
        reason: serde_json::json!({"rank": 1}),
        needed: 1,
        audit: false,
    }
}

/// One item: a chess trainer for schools (game and science apply; office does not).
fn single() -> EntryView {
    EntryView {
        entry: queue_entry("uncertainty", 10, None),
        a: item(
            10,
            "app-0010",
            "Chess Academy\nLearn chess openings with puzzles; used in school science clubs.",
            [0.91, 0.08, 0.64],
        ),
        b: None,
    }
}

/// Two items side by side: a spreadsheet and a physics simulator.
fn pair() -> EntryView {
    EntryView {
        entry: queue_entry("pairs", 20, Some(21)),
        a: item(
            20,
            "app-0020",
            "Sheets\nSpreadsheets and charts for your office.",
            [0.05, 0.97, 0.2],
        ),
        b: Some(item(
            21,
            "app-0021",
            "Step\nAn interactive physics simulator with game-like levels.",
            [0.55, 0.02, 0.88],
        )),
    }
}

fn loaded(app: &mut App, e: EntryView) {
    update(app, Action::Loaded { entry: Some(Box::new(e)), done: 3, total: 40, since_round: None });
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn enter() -> KeyEvent {
    KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)
}

/// Resolve a key on the app's screen through the default keymap and apply it.
fn press_key(app: &mut App, km: &Keymap, k: KeyEvent) -> Vec<Effect> {
    let screen = app.screen;
    km.resolve(&k, screen).map(|a| update(app, a)).unwrap_or_default()
}

fn press(app: &mut App, km: &Keymap, c: char) -> Vec<Effect> {
    press_key(app, km, key(c))
}

fn message(app: &App) -> String {
    app.message.as_ref().map(|m| m.0.clone()).unwrap_or_default()
}

/// The one annotation of `fx` (a review decision), else a failure showing `fx`.
fn one(fx: &[Effect]) -> &Annotation {
    match fx {
        [Effect::Annotate(a)] => a,
        other => panic!("expected one annotation, got {other:?}"),
    }
}

fn saved(app: &mut App, item: i64, label: &str) -> Vec<Effect> {
    update(app, Action::Saved { item, kind: AnnotationKind::Label, label: Some(label.into()) })
}

fn render(app: &App, w: u16, h: u16) -> String {
    let (km, _) = Keymap::load(None);
    hifi::tui::render_to_string(app, &Theme::builtin("dark").unwrap(), &km, w, h)
}

// ---------------------------------------------------------------------------------------------
// Review

#[test]
fn label_keys_toggle_and_enter_records_one_event_with_the_set() {
    let (km, _) = Keymap::load(None);
    let mut app = app();
    loaded(&mut app, single());
    // Toggling stores nothing.
    assert!(press(&mut app, &km, 'a').is_empty());
    assert!(press(&mut app, &km, 's').is_empty());
    assert!(press(&mut app, &km, 'd').is_empty());
    assert!(press(&mut app, &km, 's').is_empty(), "a second press turns office off again");
    assert_eq!(app.pending, 0);
    assert_eq!(
        (0..3).map(|i| app.review.picked(0, i)).collect::<Vec<_>>(),
        vec![true, false, true]
    );
    let text = render(&app, 80, 24);
    assert!(text.contains("[a] [x] game") && text.contains("[s] [ ] office"), "{text}");
    assert!(text.contains("enter records: game, science"), "{text}");
    // Enter records one label event whose label is the set, in label order.
    let fx = press_key(&mut app, &km, enter());
    let a = one(&fx);
    assert_eq!((a.item, a.kind), (10, AnnotationKind::Label));
    assert_eq!(a.label.as_deref(), Some(r#"["game","science"]"#));
    assert_eq!((a.annotator.as_str(), a.suggestion), ("ana", Some(false)));
    assert_eq!(app.pending, 1);
    // Keys while it saves are refused, and said so.
    assert!(press(&mut app, &km, 'a').is_empty());
    assert!(message(&app).contains("not applied: toggle game"), "{}", message(&app));
    assert!(press_key(&mut app, &km, enter()).is_empty());
    assert_eq!(saved(&mut app, 10, r#"["game","science"]"#), vec![Effect::LoadNext]);
    assert_eq!(app.review.session_labels, 1);
    // The next item: nothing on; enter records the empty set, "none of these".
    let mut next = single();
    next.a.key = 11;
    next.entry.item_a = 11;
    loaded(&mut app, next);
    assert!((0..3).all(|i| !app.review.picked(0, i)), "a new item starts with nothing on");
    let text = render(&app, 80, 24);
    assert!(text.contains("enter records: none of these"), "{text}");
    let fx = press_key(&mut app, &km, enter());
    assert_eq!(one(&fx).label.as_deref(), Some("[]"));
    saved(&mut app, 11, "[]");
}

#[test]
fn pairs_toggle_by_side_and_enter_confirms_each_item_s_own_set() {
    let (km, _) = Keymap::load(None);
    let mut app = app();
    loaded(&mut app, pair());
    press(&mut app, &km, 's'); // left: office
    press(&mut app, &km, 'j'); // right: game
    press(&mut app, &km, '3'); // both: science
    press(&mut app, &km, 'l'); // right: science off again
    let fx = press_key(&mut app, &km, enter());
    let got: Vec<(i64, Option<String>)> = fx
        .iter()
        .map(|e| match e {
            Effect::Annotate(a) => (a.item, a.label.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (20, Some(r#"["office","science"]"#.to_string())),
            (21, Some(r#"["game"]"#.to_string()))
        ]
    );
    assert_eq!(app.pending, 2);
    // The first commit alone does not move on; both do.
    assert!(saved(&mut app, 20, r#"["office","science"]"#).is_empty());
    assert_eq!(saved(&mut app, 21, r#"["game"]"#), vec![Effect::LoadNext]);
}

#[test]
fn a_decided_side_refuses_toggles_and_skip_settles_the_rest() {
    let (km, _) = Keymap::load(None);
    let mut app = app();
    loaded(&mut app, pair());
    // Skip both; the left skip is saved, the right still in flight.
    let fx = press(&mut app, &km, 'x');
    assert_eq!(fx.len(), 2);
    assert!(fx.iter().all(|e| matches!(e, Effect::Annotate(a) if a.kind == AnnotationKind::Skip)));
    update(&mut app, Action::Saved { item: 20, kind: AnnotationKind::Skip, label: None });
    assert!(press(&mut app, &km, 'a').is_empty());
    assert!(message(&app).contains("still being saved"), "{}", message(&app));
    // A pair whose left item is decided: its keys are refused, the right one toggles.
    let mut app = self::app();
    loaded(&mut app, pair());
    press(&mut app, &km, 'a');
    press(&mut app, &km, 'j');
    let fx = press_key(&mut app, &km, enter());
    assert_eq!(fx.len(), 2);
    update(&mut app, Action::SaveFailed { item: 21, msg: "not saved: disk full".into() });
    saved(&mut app, 20, r#"["game"]"#);
    assert!(press(&mut app, &km, 's').is_empty());
    assert!(message(&app).contains("decided already"), "{}", message(&app));
    assert!(!app.review.picked(0, 1), "the decided item's set did not change");
    press(&mut app, &km, 'k');
    let fx = press_key(&mut app, &km, enter());
    assert_eq!(one(&fx).item, 21, "only the undecided item is confirmed again");
    assert_eq!(one(&fx).label.as_deref(), Some(r#"["game","office"]"#));
}

#[test]
fn a_revisit_starts_from_the_current_set_and_notes_flags_blind_and_undo_work() {
    let (km, _) = Keymap::load(None);
    let mut app = app();
    let mut e = single();
    e.entry.strategy = "revisit".into();
    e.a.mine = Some(r#"["office"]"#.into());
    loaded(&mut app, e);
    assert_eq!(
        (0..3).map(|i| app.review.picked(0, i)).collect::<Vec<_>>(),
        vec![false, true, false],
        "starts from the annotator's set in force"
    );
    assert!(render(&app, 80, 24).contains("(yours now: office)"));
    // A note, then the model shown: the decision records both.
    press(&mut app, &km, 'n');
    assert_eq!(app.input.as_ref().map(|i| &i.purpose), Some(&InputPurpose::Note));
    for c in "chess is a game".chars() {
        update(&mut app, Action::Input(c));
    }
    update(&mut app, Action::Submit);
    press(&mut app, &km, 'p');
    assert!(app.review.suggestion_visible());
    press(&mut app, &km, 'a');
    let fx = press_key(&mut app, &km, enter());
    match &fx[..] {
        [Effect::ReviewRevisit(a)] => {
            assert_eq!(a.label.as_deref(), Some(r#"["game","office"]"#));
            assert_eq!(a.note.as_deref(), Some("chess is a game"));
            assert_eq!(a.suggestion, Some(true));
        }
        other => panic!("a revisit entry records a revisit: {other:?}"),
    }
    saved(&mut app, 10, r#"["game","office"]"#);
    // Flag, then confirm: the flag and the tentative set are both recorded.
    let mut e = single();
    e.entry.strategy = "revisit".into();
    loaded(&mut app, e);
    let fx = press(&mut app, &km, '!');
    assert!(matches!(&fx[..], [Effect::Annotate(a)] if a.kind == AnnotationKind::Flag));
    assert!(app.review.flagged);
    let fx = press_key(&mut app, &km, enter());
    assert!(
        matches!(&fx[..], [Effect::Annotate(a)] if a.label.as_deref() == Some("[]")),
        "a flagged item's set is its tentative answer, not a revisit: {fx:?}"
    );
    // Undo and redo go to the store; what was undone is said as a set.
    assert_eq!(press(&mut app, &km, 'u'), vec![Effect::Undo]);
    let undone = LabelEvent {
        id: 4,
        item: 10,
        annotator: "ana".into(),
        kind: AnnotationKind::Label,
        label: Some(r#"["game","science"]"#.into()),
        note: None,
        supersedes: None,
        prediction: None,
        round: None,
        created_at: "2025-03-01T10:00:00.000Z".into(),
        suggestion: Some(false),
        label_set: 1,
        guidelines: None,
        provenance: Provenance::from("review"),
    };
    assert_eq!(update(&mut app, Action::Undone(Some(undone.clone()))), vec![Effect::LoadNext]);
    assert_eq!(message(&app), "undid label game, science");
    let none = LabelEvent { label: Some("[]".into()), ..undone };
    update(&mut app, Action::Redone(Some(none)));
    assert_eq!(message(&app), "redid label (none)");
}

#[test]
fn audit_items_stay_blind_and_predictions_show_each_label_against_its_threshold() {
    let (km, _) = Keymap::load(None);
    let mut app = app();
    loaded(&mut app, single());
    let blind = render(&app, 80, 24);
    assert!(!blind.contains("0.91") && !blind.contains("0.64"), "blind by default:\n{blind}");
    press(&mut app, &km, 'p');
    let shown = render(&app, 80, 24);
    // game 0.91 is over 0.50; science 0.64 is under its own threshold 0.70.
    assert!(shown.contains("0.91 ≥ 0.50 yes"), "{shown}");
    assert!(shown.contains("0.08 < 0.50 no"), "{shown}");
    assert!(shown.contains("0.64 < 0.70 no"), "{shown}");
    let mut e = single();
    e.entry.audit = true;
    loaded(&mut app, e);
    assert!(!render(&app, 80, 24).contains("0.91"), "audit items are always blind");
    press(&mut app, &km, 'a');
    assert_eq!(one(&press_key(&mut app, &km, enter())).suggestion, Some(false));
}

#[test]
fn a_single_label_project_ignores_enter_and_labels_at_once() {
    let (km, _) = Keymap::load(None);
    let mut app = App::new(config().labels, "ana", "p");
    let mut e = single();
    e.a.probs = Some(vec![0.8, 0.2]);
    e.a.model_labels = vec!["clickbait".into(), "benign".into()];
    loaded(&mut app, e);
    assert!(press_key(&mut app, &km, enter()).is_empty());
    assert_eq!(app.message, None, "enter means nothing on a single-label review");
    let fx = press(&mut app, &km, 'a');
    assert_eq!(one(&fx).label.as_deref(), Some("clickbait"));
}

#[test]
fn review_snapshots_at_80x24() {
    let (km, _) = Keymap::load(None);
    let mut app = app();
    loaded(&mut app, single());
    press(&mut app, &km, 'a');
    insta::assert_snapshot!("multilabel_review_blind_80x24", render(&app, 80, 24));
    press(&mut app, &km, 'p');
    press(&mut app, &km, 'd');
    insta::assert_snapshot!("multilabel_review_shown_80x24", render(&app, 80, 24));
    let mut app = self::app();
    loaded(&mut app, pair());
    press(&mut app, &km, 'p');
    press(&mut app, &km, 's');
    press(&mut app, &km, 'j');
    insta::assert_snapshot!("multilabel_review_pair_80x24", render(&app, 80, 24));
    press_key(&mut app, &km, KeyEvent::new(KeyCode::F(10), KeyModifiers::NONE));
    let help = render(&app, 80, 24);
    assert!(help.contains("enter records the labels on"), "{help}");
    insta::assert_snapshot!("multilabel_review_help_80x24", help);
}

// ---------------------------------------------------------------------------------------------
// Browse

fn state(labels: &[(&str, &str)]) -> ItemState {
    ItemState {
        labels: labels.iter().map(|(a, l)| (a.to_string(), l.to_string())).collect(),
        annotators: labels.iter().map(|(a, _)| a.to_string()).collect(),
        ..ItemState::default()
    }
}

fn rows() -> Vec<FoundItem> {
    let row = |key: i64, text: &str, st: ItemState| FoundItem {
        key,
        id: format!("app-{key:04}"),
        text: text.into(),
        state: st,
        predicted: None,
    };
    vec![
        row(1, "Chess Academy: openings and puzzles", state(&[("ana", r#"["game","science"]"#)])),
        row(2, "Sheets: spreadsheets and charts", state(&[("ana", "[]")])),
        row(
            3,
            "Step: a physics simulator",
            state(&[("ana", r#"["science"]"#), ("bo", r#"["game","science"]"#)]),
        ),
        row(4, "Mail: your inbox", state(&[])),
    ]
}

fn detail() -> ItemDetail {
    let ev = LabelEvent {
        id: 8,
        item: 1,
        annotator: "ana".into(),
        kind: AnnotationKind::Label,
        label: Some(r#"["game","science"]"#.into()),
        note: None,
        supersedes: None,
        prediction: None,
        round: Some(1),
        created_at: "2025-03-01T10:08:00.000Z".into(),
        suggestion: Some(false),
        label_set: 1,
        guidelines: None,
        provenance: Provenance::from("review"),
    };
    ItemDetail {
        history: ItemHistory {
            item: Item {
                key: 1,
                id: "app-0001".into(),
                text: "Chess Academy: openings and puzzles".into(),
                meta: None,
                gold: None,
            },
            state: state(&[("ana", r#"["game","science"]"#)]),
            events: vec![HistoryEvent {
                event: ev,
                label_now: Some(r#"["game","science"]"#.into()),
                current: true,
                undone: false,
            }],
            prediction_now: Some(PredictionNow {
                model: "llm".into(),
                labels: names(),
                probs: vec![0.93, 0.11, 0.66],
                label: "game".into(),
                stale: false,
            }),
        },
        fields: Vec::new(),
    }
}

/// The app on Browse with the rows listed.
fn browse() -> (App, Keymap) {
    let (km, _) = Keymap::load(None);
    let mut app = app();
    let fx = press_key(&mut app, &km, KeyEvent::new(KeyCode::F(7), KeyModifiers::NONE));
    let seq = match &fx[..] {
        [Effect::Find { seq, .. }] => *seq,
        other => panic!("{other:?}"),
    };
    update(&mut app, Action::Found { seq, offset: 0, total: 4, rows: rows() });
    (app, km)
}

#[test]
fn browse_shows_sets_filters_by_containment_and_relabels_by_toggling() {
    let (mut app, km) = browse();
    let list = render(&app, 80, 24);
    assert!(list.contains("game, science"), "{list}");
    assert!(list.contains("(none)"), "{list}");
    assert!(list.contains("science | ga…"), "two annotators' sets:\n{list}");
    insta::assert_snapshot!("multilabel_browse_list_80x24", list);
    // The label filter: the store finds items whose set contains the label.
    let fx = press(&mut app, &km, 'l');
    assert!(
        matches!(&fx[..], [Effect::Find { query, .. }] if query.label.as_deref() == Some("game")),
        "{fx:?}"
    );
    press(&mut app, &km, 'c');
    // Open the first item: the toggles start from ana's set in force.
    let seq = app.browse.seq;
    update(&mut app, Action::Found { seq, offset: 0, total: 4, rows: rows() });
    assert_eq!(press_key(&mut app, &km, enter()), vec![Effect::LoadHistory(1)]);
    update(&mut app, Action::HistoryLoaded(Box::new(detail())));
    let item = render(&app, 80, 24);
    assert!(item.contains("1 [x] game") && item.contains("2 [ ] office"), "{item}");
    assert!(item.contains("model now: game (game 0.93 ≥ 0.50"), "{item}");
    assert!(item.contains("science 0.66 < 0.70"), "{item}");
    insta::assert_snapshot!("multilabel_browse_item_80x24", item);
    // 3 turns science off, 2 turns office on: nothing stored until enter.
    assert!(press(&mut app, &km, '3').is_empty());
    assert!(press(&mut app, &km, '2').is_empty());
    assert!(render(&app, 80, 24).contains("enter: game, office"));
    match &press_key(&mut app, &km, enter())[..] {
        [Effect::AnnotateFrom { annotation, origin, revisit }] => {
            assert_eq!(annotation.label.as_deref(), Some(r#"["game","office"]"#));
            assert_eq!((annotation.kind, annotation.item), (AnnotationKind::Label, 1));
            assert_eq!((origin.as_str(), *revisit), ("browse", true));
        }
        other => panic!("{other:?}"),
    }
    let fx = update(
        &mut app,
        Action::BrowseSaved {
            item: 1,
            kind: AnnotationKind::Label,
            label: Some(r#"["game","office"]"#.into()),
            revises: Some(8),
        },
    );
    assert_eq!(fx, vec![Effect::LoadHistory(1)]);
    assert_eq!(message(&app), "relabeled app-0001: game, office (a revisit of #8)");
    assert_eq!(app.browse.picks, None, "after a save the set in force holds again");
    // Turning everything off and confirming records "none of these".
    update(&mut app, Action::HistoryLoaded(Box::new(detail())));
    press(&mut app, &km, '1');
    press(&mut app, &km, '3');
    match &press_key(&mut app, &km, enter())[..] {
        [Effect::AnnotateFrom { annotation, .. }] => {
            assert_eq!(annotation.label.as_deref(), Some("[]"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn browse_label_filter_matches_sets_that_contain_the_label_in_a_real_store() {
    let (dir, _cfg, mut store) = project();
    let ids = ["c1", "c2", "c3"];
    Workstation::queue(dir.path(), &ids);
    let k = |s: &Store, id: &str| s.item_by_id(id).unwrap().unwrap().key;
    for (id, set) in [("c1", r#"["game","science"]"#), ("c2", "[]"), ("c3", r#"["science"]"#)] {
        let a = Annotation {
            item: k(&store, id),
            annotator: "ana".into(),
            kind: AnnotationKind::Label,
            label: Some(set.into()),
            note: None,
            suggestion: Some(false),
        };
        store.annotate_from(&a, &Provenance::from("review")).unwrap();
    }
    let find = |label: &str| -> Vec<String> {
        let q = FindQuery { label: Some(label.into()), limit: 10, ..FindQuery::default() };
        store.find(&q, &names()).unwrap().rows.into_iter().map(|r| r.id).collect()
    };
    assert_eq!(find("science"), vec!["c1", "c3"]);
    assert_eq!(find("game"), vec!["c1"]);
    assert!(find("office").is_empty());
    drop(dir);
}

// ---------------------------------------------------------------------------------------------
// Adjudicate and the dashboard

#[test]
fn adjudicate_toggles_and_resolves_with_a_set_and_a_reason() {
    let (km, _) = Keymap::load(None);
    let mut app = app();
    update(&mut app, Action::GoTo(Screen::Adjudicate));
    update(
        &mut app,
        Action::ConflictsLoaded(vec![Conflict {
            item: 3,
            id: "app-0003".into(),
            text: "Step: a physics simulator".into(),
            labels: vec![
                ("ana".into(), r#"["science"]"#.into()),
                ("bo".into(), r#"["game","science"]"#.into()),
            ],
        }]),
    );
    let text = render(&app, 80, 24);
    assert!(text.contains("ana=[science] bo=[game, science]"), "{text}");
    press(&mut app, &km, '3');
    press(&mut app, &km, '1');
    let text = render(&app, 80, 24);
    assert!(text.contains("enter resolves with: game, science"), "{text}");
    insta::assert_snapshot!("multilabel_adjudicate_80x24", text);
    assert!(press_key(&mut app, &km, enter()).is_empty());
    let set = r#"["game","science"]"#.to_string();
    assert_eq!(
        app.input.as_ref().map(|i| i.purpose.clone()),
        Some(InputPurpose::SetReason { item: 3, set: set.clone() })
    );
    // An empty reason asks again; a reason saves the resolution.
    assert!(update(&mut app, Action::Submit).is_empty());
    assert!(message(&app).contains("needs a reason"));
    for c in "levels are a game".chars() {
        update(&mut app, Action::Input(c));
    }
    let fx = update(&mut app, Action::Submit);
    let a = one(&fx);
    assert_eq!((a.kind, a.item), (AnnotationKind::Resolve, 3));
    assert_eq!(a.label.as_deref(), Some(set.as_str()));
    assert_eq!(a.note.as_deref(), Some("levels are a game"));
}

/// A real multi-label project: items, one expert's sets, and predictions whose probabilities
/// do not sum to 1 (each is the chance that its label applies).
fn multilabel_project(n: usize) -> (tempfile::TempDir, Store, Vec<i64>) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("apps");
    let (ok, _, err) = hifi(
        dir.path(),
        &[
            "init",
            p.to_str().unwrap(),
            "--labels",
            "game,office,science",
            "--task",
            "What kind of app is it?",
            "--multi-label",
        ],
    );
    assert!(ok, "{err}");
    let ids: Vec<String> = (0..n).map(|i| format!("app{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    Workstation::queue(&p, &refs);
    let mut store = Store::open(&p).unwrap();
    let keys: Vec<i64> = ids.iter().map(|id| store.item_by_id(id).unwrap().unwrap().key).collect();
    let model = store.register_model(&llm_record("multi", None, &names())).unwrap();
    let preds: Vec<Prediction> = keys
        .iter()
        .enumerate()
        .map(|(i, &item)| Prediction {
            item,
            // Item i: game for even i, office for every third, science never over 0.7.
            probs: vec![
                if i % 2 == 0 { 0.9 } else { 0.2 },
                if i % 3 == 0 { 0.8 } else { 0.1 },
                0.6,
            ],
            truncated: false,
        })
        .collect();
    store.put_predictions(model, &names(), &preds).unwrap();
    (dir, store, keys)
}

#[test]
fn the_dashboard_counts_items_over_each_threshold_and_label_sets_per_label() {
    let (dir, mut store, keys) = multilabel_project(12);
    let p = dir.path().join("apps");
    let mut cfg = hifi::config::Config::load(&p).unwrap();
    assert!(cfg.multi_label);
    cfg.labels[2].threshold = Some(0.7);
    for (i, &item) in keys.iter().enumerate() {
        let set = match i % 3 {
            0 => r#"["game","office"]"#,
            1 => "[]",
            _ => r#"["science"]"#,
        };
        let a = Annotation {
            item,
            annotator: "ana".into(),
            kind: AnnotationKind::Label,
            label: Some(set.into()),
            note: None,
            suggestion: Some(false),
        };
        store.annotate_from(&a, &Provenance::from("review")).unwrap();
    }
    let d = hifi::tui::data::dashboard(&mut store, &cfg).unwrap();
    // Over threshold: game 6 of 12 (even items), office 4 (every third), science 0 (0.6 < 0.7).
    let at = d.audit.iter().position(|l| l.starts_with("model: items over each threshold"));
    let at = at.unwrap_or_else(|| panic!("{:?}", d.audit));
    assert_eq!(d.audit[at], "model: items over each threshold (of 12)");
    assert_eq!(d.audit[at + 1], "  game 6 (≥ 0.50)");
    assert_eq!(d.audit[at + 2], "  office 4 (≥ 0.50)");
    assert_eq!(d.audit[at + 3], "  science 0 (≥ 0.70)");
    // Items with none over: odd items not divisible by 3 (1, 5, 7, 11).
    assert_eq!(d.audit[at + 4], "  (none) 4");
    // Eval balance: each eval item counts under every label of its set, "(none)" for [].
    let splits = store.splits().unwrap();
    let eval: Vec<usize> = (0..keys.len())
        .filter(|&i| splits.get(&keys[i]) == Some(&hifi::store::Split::Eval))
        .collect();
    let count = |f: &dyn Fn(usize) -> bool| eval.iter().filter(|&&i| f(i)).count() as i64;
    assert_eq!(
        d.eval_balance,
        vec![
            ("game".to_string(), count(&|i| i % 3 == 0)),
            ("office".to_string(), count(&|i| i % 3 == 0)),
            ("science".to_string(), count(&|i| i % 3 == 2)),
            ("(none)".to_string(), count(&|i| i % 3 == 1)),
        ]
    );
    assert_eq!(d.eval_balance.iter().map(|x| x.1).sum::<i64>() > 0, !eval.is_empty());
    let counts = hifi::tui::data::label_counts(&store, &cfg).unwrap();
    assert_eq!(counts, vec![("game".into(), 4), ("office".into(), 4), ("science".into(), 4)]);
    let mut app = app();
    app.screen = Screen::Dashboard;
    app.dashboard.data = Some(d);
    let text = render(&app, 80, 24);
    assert!(text.contains("eval split: items per label"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// The real binary

/// `hifi review` in tmux at 80×24 on a multi-label project with predictions: toggle two labels
/// and confirm (one event with the two-label set), confirm an empty set explicitly ("none of
/// these"), undo it; the store holds exactly that.
#[test]
fn tmux_toggle_two_labels_confirm_then_confirm_none_and_undo() {
    let (dir, store, keys) = multilabel_project(3);
    drop(store);
    let p = dir.path().join("apps");
    let w = Workstation::launch_with(&p, "multilabel", &[], (80, 24));
    w.wait_for("the first item", |s| s.contains("app0") && s.contains("[ ] game"));
    // Show the model: each label's probability against its threshold.
    w.keys("p");
    w.wait_for("the probabilities", |s| s.contains("0.90 ≥ 0.50 yes"));
    w.keys("a");
    w.keys("d");
    w.wait_for("two labels on", |s| s.contains("enter records: game, science"));
    w.keys("Enter");
    w.wait_for("the second item", |s| s.contains("app1") && s.contains("enter records: none"));
    {
        let store = Store::open(&p).unwrap();
        let labels: Vec<_> = store
            .events()
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == AnnotationKind::Label)
            .map(|e| (e.item, e.label, e.suggestion, e.annotator))
            .collect();
        assert_eq!(
            labels,
            vec![(keys[0], Some(r#"["game","science"]"#.into()), Some(true), "ana".into())],
            "one event with the two-label set"
        );
    }
    // Nothing on: enter records "none of these".
    w.keys("Enter");
    w.wait_for("the third item", |s| s.contains("app2"));
    let current = |store: &Store| {
        let mut c: Vec<(i64, String)> =
            store.current_labels().unwrap().into_iter().map(|(i, _, l)| (i, l)).collect();
        c.sort();
        c
    };
    assert_eq!(
        current(&Store::open(&p).unwrap()),
        vec![(keys[0], r#"["game","science"]"#.into()), (keys[1], "[]".into())]
    );
    // Undo the empty set: it is no longer in force, the screen says so.
    w.keys("u");
    w.wait_for("the undo", |s| s.contains("undid label (none)"));
    assert_eq!(current(&Store::open(&p).unwrap()), vec![(keys[0], r#"["game","science"]"#.into())]);
    w.quit();
}
