//! The workstation's Responses screen: `update` driven by keys (pure), the screen rendered at
//! 80×24 and 120×40 in single and A/B mode, and the real binary in tmux with a scripted
//! `$EDITOR` (accept, edit, prefer; an editor that fails or empties the file saves nothing).

mod common;

use std::path::{Path, PathBuf};

use common::workstation::Workstation;
use common::*;
use hifi::responses::editor::EditOutcome;
use hifi::responses::{Outcome, Status};
use hifi::store::{
    Judgement, NewItem, NewResponse, ResponseEvent, ResponseJudgement, ResponseKind, Store,
    StoreError, Verdict,
};
use hifi::tui::action::{Action, Effect, RespKey};
use hifi::tui::app::{App, CandidateView, InputPurpose, RespItem, ResponsesMode, Screen};
use hifi::tui::keymap::Keymap;
use hifi::tui::screens::responses::sides;
use hifi::tui::theme::Theme;
use hifi::tui::update::update;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::json;

const LONG: &str = "Multiply the two numbers. Eight groups of eight make sixty-four, which you can check by adding eight eight times: 8, 16, 24, 32, 40, 48, 56, 64.\n\nIn Python:\n\n```python\ndef times(a, b):\n    # repeated addition, to show the idea; a real program would write a * b\n    total = 0\n    for _ in range(b):\n        total += a\n    return total\n\nprint(times(8, 8))\n```\n\nSo 8 * 8 = 64.";

fn cand(number: i64, text: &str) -> CandidateView {
    CandidateView {
        number,
        revision: 100 + number,
        text: text.into(),
        edited: false,
        status: None,
        by_edit: false,
        reason: None,
        score: None,
    }
}

fn resp_item(key: i64) -> RespItem {
    RespItem {
        key,
        id: format!("q-{key:03}"),
        prompt: "And 8 * 8? Show it in code too.".into(),
        context: vec![
            ("system".into(), "You are a careful math tutor.".into()),
            ("user".into(), "What is 7 * 7?".into()),
            ("assistant".into(), "49.".into()),
        ],
        candidates: vec![cand(1, "8 * 8 = 64."), cand(2, LONG), cand(3, "It is 88.")],
        compared: vec![],
    }
}

/// `item` with candidate `number`'s verdict, as the store reads it back after a save.
fn judged(mut it: RespItem, number: i64, status: Status) -> RespItem {
    for c in &mut it.candidates {
        if c.number == number {
            c.status = Some(status);
        }
    }
    it
}

fn press(app: &mut App, km: &Keymap, c: char) -> Vec<Effect> {
    press_key(app, km, KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn press_key(app: &mut App, km: &Keymap, k: KeyEvent) -> Vec<Effect> {
    match km.resolve(&k, app.screen) {
        Some(a) => update(app, a),
        None => vec![],
    }
}

fn code(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

/// The app on the Responses screen with items 7, 8, 9 in order and item 7 shown.
fn opened() -> (App, Keymap) {
    let (km, _) = Keymap::load(None);
    let mut app = App::new(config().labels, "ana", "p");
    let fx = press_key(&mut app, &km, code(KeyCode::F(6)));
    assert_eq!(app.screen, Screen::Responses);
    assert_eq!(fx, vec![Effect::LoadResponses { keep: None }]);
    update(
        &mut app,
        Action::ResponsesLoaded {
            queue: vec![7, 8, 9],
            pos: 0,
            item: Some(Box::new(resp_item(7))),
        },
    );
    (app, km)
}

fn judgement(fx: &[Effect]) -> &ResponseJudgement {
    match fx {
        [Effect::JudgeResponse(j)] => j,
        other => panic!("expected one judgement, got {other:?}"),
    }
}

fn saved(app: &mut App, kind: ResponseKind, number: i64, item: RespItem) -> Vec<Effect> {
    update(
        app,
        Action::ResponseSaved {
            key: item.key,
            kind,
            number,
            item: Some(Box::new(item)),
            reload_error: None,
        },
    )
}

fn message(app: &App) -> String {
    app.message.as_ref().map(|m| m.0.clone()).unwrap_or_default()
}

#[test]
fn accept_and_reject_are_saved_then_the_view_moves_to_the_next_unjudged_candidate_then_item() {
    let (mut app, km) = opened();
    let fx = press(&mut app, &km, 'a');
    let j = judgement(&fx);
    assert_eq!((j.item, j.annotator.as_str()), (7, "ana"));
    assert_eq!(j.judgement, Judgement::Accept { number: 1 });
    assert_eq!(j.shown, Some(json!({"mode": "single", "candidate": 1})));
    assert_eq!(app.pending, 1);
    // A second key before the save commits would judge a candidate twice: refused, said.
    assert!(press(&mut app, &km, 'a').is_empty());
    assert!(message(&app).starts_with("not applied: accept"), "{}", message(&app));
    // Committed: candidate 2 (not judged yet) comes up.
    let it = judged(resp_item(7), 1, Status::Accepted);
    assert!(saved(&mut app, ResponseKind::Accept, 1, it.clone()).is_empty());
    assert_eq!(app.pending, 0);
    assert_eq!(app.responses.candidate().unwrap().number, 2);
    assert_eq!(message(&app), "accepted candidate 1");
    // Candidate 3 already judged: rejecting 2 moves to the next item.
    let it = judged(it, 3, Status::Rejected);
    update(&mut app, Action::ResponseItemLoaded(Box::new(it.clone())));
    let fx = press(&mut app, &km, 'x');
    assert_eq!(judgement(&fx).judgement, Judgement::Reject { number: 2, reason: None });
    let fx = saved(&mut app, ResponseKind::Reject, 2, judged(it, 2, Status::Rejected));
    assert_eq!(fx, vec![Effect::LoadResponseItem(8)]);
    assert!(app.responses.loading);
    assert!(press(&mut app, &km, 'a').is_empty(), "nothing is judged while the next item loads");
    update(&mut app, Action::ResponseItemLoaded(Box::new(resp_item(8))));
    assert_eq!(app.responses.pos, 1);
    assert_eq!(app.responses.candidate().unwrap().number, 1);
}

#[test]
fn the_first_candidate_shown_is_the_first_not_judged_and_scores_stay_put() {
    let (mut app, km) = opened();
    let it = judged(resp_item(8), 1, Status::Accepted);
    update(&mut app, Action::ResponseItemLoaded(Box::new(it.clone())));
    assert_eq!(app.responses.candidate().unwrap().number, 2);
    let fx = press(&mut app, &km, '4');
    assert_eq!(judgement(&fx).judgement, Judgement::Score { number: 2, score: 4 });
    let mut back = it;
    back.candidates[1].score = Some(4);
    assert!(saved(&mut app, ResponseKind::Score, 2, back).is_empty());
    assert_eq!(app.responses.candidate().unwrap().number, 2, "a score does not move on");
    assert_eq!(message(&app), "scored candidate 2: 4/5");
    for (c, s) in [('1', 1), ('5', 5)] {
        let fx = press(&mut app, &km, c);
        assert_eq!(judgement(&fx).judgement, Judgement::Score { number: 2, score: s });
        update(&mut app, Action::ResponseSaveFailed { key: 8, msg: "not saved: disk full".into() });
    }
    assert_eq!((app.pending, app.responses.sending), (0, 0));
    assert_eq!(message(&app), "not saved: disk full", "a failed write is shown");
}

#[test]
fn reject_with_a_reason_asks_for_it_and_escape_saves_nothing() {
    let (mut app, km) = opened();
    assert!(press(&mut app, &km, 'X').is_empty());
    assert_eq!(
        app.input.as_ref().map(|i| i.purpose.clone()),
        Some(InputPurpose::RejectReason { item: 7, number: 1 })
    );
    update(&mut app, Action::CancelInput);
    assert!(app.input.is_none() && app.pending == 0);
    press(&mut app, &km, 'X');
    for c in "wrong: 8 * 8 is 64".chars() {
        update(&mut app, Action::Input(c));
    }
    let fx = update(&mut app, Action::Submit);
    let j = judgement(&fx);
    assert_eq!(
        j.judgement,
        Judgement::Reject { number: 1, reason: Some("wrong: 8 * 8 is 64".into()) }
    );
    assert_eq!(j.shown, Some(json!({"mode": "single", "candidate": 1})));
}

#[test]
fn edit_asks_the_runtime_for_the_editor_and_saves_only_a_changed_text() {
    let (mut app, km) = opened();
    press(&mut app, &km, 'n');
    let fx = press(&mut app, &km, 'e');
    assert_eq!(fx, vec![Effect::EditResponse { key: 7, number: 2, text: LONG.into() }]);
    assert_eq!(app.pending, 0, "nothing is in flight while the editor runs");
    let edited = |outcome| Action::Edited { key: 7, number: 2, outcome };
    let fx = update(&mut app, edited(EditOutcome::Changed("So 8 * 8 = 64.".into())));
    let j = judgement(&fx);
    assert_eq!(j.judgement, Judgement::Edit { number: 2, text: "So 8 * 8 = 64.".into() });
    assert_eq!(j.shown, Some(json!({"mode": "single", "candidate": 2})));
    let mut back = resp_item(7);
    back.candidates[1].text = "So 8 * 8 = 64.".into();
    back.candidates[1].edited = true;
    back.candidates[1].status = Some(Status::Accepted);
    back.candidates[1].by_edit = true;
    assert!(saved(&mut app, ResponseKind::Edit, 2, back).is_empty());
    assert_eq!(app.responses.candidate().unwrap().number, 2, "an edit stays to be seen");
    assert!(message(&app).contains("edited"), "{}", message(&app));
    for (outcome, said) in [
        (EditOutcome::Unchanged, "unchanged: nothing saved"),
        (EditOutcome::Empty, "empty: nothing saved"),
        (
            EditOutcome::Failed("the editor \"false\" exited with exit status: 1".into()),
            "exit status: 1",
        ),
    ] {
        assert!(update(&mut app, edited(outcome)).is_empty());
        assert!(message(&app).contains(said), "{said}: {}", message(&app));
        assert!(message(&app).contains("nothing saved"));
        assert!(message(&app).find("nothing saved") < Some(40), "said first: {}", message(&app));
    }
    assert_eq!(app.pending, 0);
}

#[test]
fn ab_mode_compares_the_first_pair_not_compared_with_shuffled_sides() {
    let (mut app, km) = opened();
    // Single mode: the comparison keys are refused and say why.
    assert!(press(&mut app, &km, 'h').is_empty());
    assert!(message(&app).contains("m switches to A/B"), "{}", message(&app));
    press(&mut app, &km, 'm');
    assert_eq!(app.responses.mode, ResponsesMode::Ab);
    let (l, r) = app.responses.pair.unwrap();
    assert_eq!((l.min(r), l.max(r)), (1, 2));
    assert_eq!((l, r), sides(7, "ana", (1, 2)), "sides drawn from the item, annotator and pair");
    // Single-mode keys are refused in A/B mode.
    assert!(press(&mut app, &km, 'a').is_empty());
    assert!(message(&app).contains("A/B mode"), "{}", message(&app));
    let shown = json!({"mode": "ab", "left": l, "right": r});
    for (k, first, second, verdict) in [
        (code(KeyCode::Char('h')), l, r, Verdict::Better),
        (code(KeyCode::Left), l, r, Verdict::Better),
        (code(KeyCode::Char('l')), r, l, Verdict::Better),
        (code(KeyCode::Right), r, l, Verdict::Better),
        (code(KeyCode::Char('=')), l, r, Verdict::Tie),
        (code(KeyCode::Char('b')), l, r, Verdict::BothBad),
    ] {
        let fx = press_key(&mut app, &km, k);
        let j = judgement(&fx);
        assert_eq!(j.judgement, Judgement::Prefer { first, second, verdict }, "{k:?}");
        assert_eq!(j.shown.as_ref(), Some(&shown));
        update(&mut app, Action::ResponseSaveFailed { key: 7, msg: "not saved: test".into() });
    }
    // Saved: the next pair not compared, (1, 3).
    press(&mut app, &km, 'h');
    let mut back = resp_item(7);
    back.compared = vec![((1, 2), if l == 1 { Outcome::Lo } else { Outcome::Hi })];
    assert!(saved(&mut app, ResponseKind::Prefer, l, back.clone()).is_empty());
    let (l2, r2) = app.responses.pair.unwrap();
    assert_eq!((l2.min(r2), l2.max(r2)), (1, 3));
    // n / p page through every pair; the last comparison moves to the next item.
    press(&mut app, &km, 'n');
    let p = app.responses.pair.unwrap();
    assert_eq!((p.0.min(p.1), p.0.max(p.1)), (2, 3));
    back.compared.push(((1, 3), Outcome::Tie));
    press(&mut app, &km, '=');
    back.compared.push(((2, 3), Outcome::Tie));
    assert_eq!(saved(&mut app, ResponseKind::Prefer, 2, back), vec![Effect::LoadResponseItem(8)]);
    // m back to single mode.
    update(&mut app, Action::ResponseItemLoaded(Box::new(resp_item(8))));
    press(&mut app, &km, 'm');
    assert_eq!(app.responses.mode, ResponsesMode::Single);
    // One candidate: nothing to compare, said.
    let mut one = resp_item(9);
    one.candidates.truncate(1);
    update(&mut app, Action::ResponseItemLoaded(Box::new(one)));
    press(&mut app, &km, 'm');
    assert_eq!(app.responses.mode, ResponsesMode::Single);
    assert!(message(&app).contains("this item has 1"), "{}", message(&app));
}

#[test]
fn candidates_items_undo_and_reload_by_key() {
    let (mut app, km) = opened();
    for (k, want) in [
        (code(KeyCode::Char('n')), 2),
        (code(KeyCode::Tab), 3),
        (code(KeyCode::Char('n')), 1),
        (code(KeyCode::Char('p')), 3),
        (code(KeyCode::BackTab), 2),
    ] {
        press_key(&mut app, &km, k);
        assert_eq!(app.responses.candidate().unwrap().number, want, "{k:?}");
    }
    assert!(press(&mut app, &km, '[').is_empty());
    assert!(message(&app).contains("first item"), "{}", message(&app));
    assert_eq!(press(&mut app, &km, ']'), vec![Effect::LoadResponseItem(8)]);
    update(&mut app, Action::ResponseItemLoaded(Box::new(resp_item(8))));
    assert_eq!(press(&mut app, &km, ']'), vec![Effect::LoadResponseItem(9)]);
    update(&mut app, Action::ResponseItemLoaded(Box::new(resp_item(9))));
    assert!(press(&mut app, &km, ']').is_empty());
    assert!(message(&app).contains("last item"), "{}", message(&app));
    assert_eq!(press(&mut app, &km, 'r'), vec![Effect::LoadResponses { keep: Some(9) }]);
    // Undo: the item it touched comes back on screen, at the candidate it undid.
    assert_eq!(press(&mut app, &km, 'u'), vec![Effect::UndoResponse]);
    let ev = ResponseEvent {
        id: 3,
        item: 7,
        annotator: "ana".into(),
        kind: ResponseKind::Accept,
        response: Some(103),
        other: None,
        verdict: None,
        score: None,
        reason: None,
        shown: None,
        supersedes: None,
        created_at: String::new(),
    };
    update(
        &mut app,
        Action::ResponseUndone {
            event: Some(Box::new(ev)),
            number: Some(3),
            item: Some(Box::new(resp_item(7))),
        },
    );
    assert_eq!(app.responses.pos, 0);
    assert_eq!(app.responses.candidate().unwrap().number, 3);
    assert_eq!(message(&app), "undid accept of candidate 3 on q-007");
    update(&mut app, Action::ResponseUndone { event: None, number: None, item: None });
    assert_eq!(message(&app), "nothing to undo");
    // A failed load leaves nothing to judge until it is read again.
    update(&mut app, Action::ResponseLoadFailed("cannot load the item: gone".into()));
    assert!(press(&mut app, &km, 'a').is_empty());
    assert!(message(&app).contains("no item is on screen"), "{}", message(&app));
    assert_eq!(press(&mut app, &km, 'r'), vec![Effect::LoadResponses { keep: Some(7) }]);
}

#[test]
fn the_text_scrolls_by_line_page_and_to_either_end_within_what_the_frame_showed() {
    let (mut app, km) = opened();
    let mut it = resp_item(7);
    it.candidates[0].text = (1..=200).map(|i| format!("line {i}")).collect::<Vec<_>>().join("\n");
    update(&mut app, Action::ResponseItemLoaded(Box::new(it)));
    let theme = Theme::builtin("dark").unwrap();
    let draw = |app: &App| hifi::tui::render_to_string(app, &theme, &km, 80, 24);
    assert!(draw(&app).contains("│line 1 "));
    press(&mut app, &km, 'j');
    press_key(&mut app, &km, code(KeyCode::Down));
    assert_eq!(app.responses.scroll, 2);
    press(&mut app, &km, 'k');
    assert_eq!(app.responses.scroll, 1);
    press(&mut app, &km, ' ');
    let page = app.responses.memo.page.get().unwrap();
    assert_eq!(app.responses.scroll, 1 + page - 1);
    press(&mut app, &km, 'G');
    let s = draw(&app);
    assert!(s.contains("line 200") && s.contains(" of 200 "), "{s}");
    let bottom = app.responses.scroll;
    press(&mut app, &km, 'j');
    assert_eq!(app.responses.scroll, bottom, "no scrolling past the end");
    press_key(&mut app, &km, code(KeyCode::PageUp));
    assert!(app.responses.scroll < bottom);
    press(&mut app, &km, 'g');
    assert_eq!(app.responses.scroll, 0);
    // Another candidate starts at its top.
    press(&mut app, &km, 'G');
    press(&mut app, &km, 'n');
    assert_eq!(app.responses.scroll, 0);
}

#[test]
fn the_keys_are_rebindable_and_help_lists_them() {
    let (km, warn) = Keymap::load(Some(("k.toml", "[responses]\naccept = [\"y\"]\n")));
    assert!(warn.is_none(), "{warn:?}");
    let k = |c: char| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    assert_eq!(km.resolve(&k('y'), Screen::Responses), Some(Action::Resp(RespKey::Accept)));
    assert_eq!(km.resolve(&k('a'), Screen::Responses), None);
    assert_eq!(km.resolve(&k('3'), Screen::Responses), Some(Action::Resp(RespKey::Score(3))));
    assert_eq!(km.resolve(&k('3'), Screen::Review), Some(Action::LabelBoth(2)), "per screen");
    let (_, warn) = Keymap::load(Some(("k.toml", "[responses]\nfly = [\"z\"]\n")));
    assert!(warn.unwrap().contains("[responses] has no action \"fly\""));
    let (km, _) = Keymap::load(None);
    let mut app = opened().0;
    press(&mut app, &km, '?');
    let s = hifi::tui::render_to_string(&app, &Theme::builtin("dark").unwrap(), &km, 80, 24);
    assert!(s.contains("Responses keys") && s.contains("A/B: tie / both bad"), "{s}");
}

#[test]
fn response_text_renders_inert() {
    let (mut app, km) = opened();
    let mut it = resp_item(7);
    it.prompt = "Say \u{1b}]52;c;SGVsbG8=\u{7} hi".into();
    it.context = vec![("sys\u{1b}[2J".into(), "be \u{202e}nice".into())];
    it.candidates[0].text = "Buy \u{1b}[2J now \u{9b}31m \u{200b}".into();
    update(&mut app, Action::ResponseItemLoaded(Box::new(it)));
    for (w, h) in [(80, 24), (120, 40)] {
        let s = hifi::tui::render_to_string(&app, &Theme::builtin("dark").unwrap(), &km, w, h);
        assert!(!s.contains('\u{1b}') && !s.contains('\u{9b}') && !s.contains('\u{202e}'), "{s}");
        assert!(s.contains("Buy ␛[2J now"), "{s}");
    }
}

fn screens() -> Vec<(&'static str, App)> {
    let (km, _) = Keymap::load(None);
    let mut out = Vec::new();
    let (mut single, _) = opened();
    let mut it = resp_item(7);
    it.candidates[0].status = Some(Status::Accepted);
    it.candidates[0].score = Some(4);
    it.candidates[1].edited = true;
    update(&mut single, Action::ResponseItemLoaded(Box::new(it.clone())));
    // The long candidate with code, edited, not judged yet.
    press(&mut single, &km, 'n');
    single.message = None;
    out.push(("responses_single", single.clone()));
    // Scrolled to its end.
    let mut end = single.clone();
    press(&mut end, &km, 'G');
    out.push(("responses_single_end", end));
    let mut accepted = single.clone();
    press(&mut accepted, &km, 'p');
    out.push(("responses_judged", accepted));
    let mut ab = single.clone();
    press(&mut ab, &km, 'm');
    ab.message = None;
    out.push(("responses_ab", ab));
    let mut help = single.clone();
    press(&mut help, &km, '?');
    out.push(("responses_help", help));
    let mut none = App::new(config().labels, "ana", "p");
    update(&mut none, Action::GoTo(Screen::Responses));
    update(&mut none, Action::ResponsesLoaded { queue: vec![], pos: 0, item: None });
    out.push(("responses_none", none));
    out
}

#[test]
fn the_responses_screen_snapshot_at_80x24_and_120x40() {
    let (km, _) = Keymap::load(None);
    let theme = Theme::builtin("dark").unwrap();
    for (name, app) in screens() {
        for (w, h) in [(80u16, 24u16), (120, 40)] {
            let text = hifi::tui::render_to_string(&app, &theme, &km, w, h);
            insta::assert_snapshot!(format!("{name}_{w}x{h}"), text);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// End to end, in tmux.

/// A project whose items `q-0`, `q-1`, … each have the candidates given.
fn project_with(items: &[&[&str]]) -> (tempfile::TempDir, PathBuf) {
    let (dir, _cfg, mut store) = project();
    let n = store
        .import("test.jsonl", "jsonl", |imp| {
            for (i, cands) in items.iter().enumerate() {
                imp.add(&NewItem {
                    id: format!("q-{i}"),
                    text: format!("Question {i}: how many apples are in {i} baskets of 8?"),
                    meta: None,
                    gold: None,
                    line: i as u64 + 1,
                    context: Some(
                        json!([{"role": "system", "content": "Answer briefly."}]).to_string(),
                    ),
                    responses: cands
                        .iter()
                        .map(|t| NewResponse {
                            text: t.to_string(),
                            source: "import".into(),
                            origin: None,
                        })
                        .collect(),
                })
                .map_err(|e| StoreError::Invalid(format!("{e:?}")))?;
            }
            Ok::<u64, StoreError>(items.len() as u64)
        })
        .unwrap();
    assert_eq!(n, items.len() as u64);
    let p = dir.path().to_path_buf();
    (dir, p)
}

/// An editor script in `dir`: what it does is read from `dir/mode` at each run (`sed`: replace
/// "apples" with "pears"; `fail`: exit 1; `empty`: empty the file); it notes the file it got
/// and that file's mode in `dir/seen`.
fn editor(dir: &Path) -> PathBuf {
    let script = dir.join("ed");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nd='{}'\nprintf '%s %s\\n' \"$1\" \"$(stat -c %a \"$1\")\" >> \"$d/seen\"\ncase \"$(cat \"$d/mode\")\" in\n  sed) sed -i 's/apples/pears/g' \"$1\" ;;\n  fail) exit 1 ;;\n  empty) : > \"$1\" ;;\nesac\n",
            dir.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn set_mode(dir: &Path, mode: &str) {
    std::fs::write(dir.join("mode"), mode).unwrap();
}

/// The files the editor was given, with their modes, removed afterwards.
fn edited_files(dir: &Path) -> Vec<(String, String)> {
    let seen = std::fs::read_to_string(dir.join("seen")).unwrap_or_default();
    seen.lines()
        .map(|l| {
            let (f, m) = l.rsplit_once(' ').unwrap();
            (f.to_string(), m.to_string())
        })
        .collect()
}

#[test]
fn accept_edit_and_prefer_in_the_workstation_are_stored_with_what_was_shown() {
    let (_dir, p) = project_with(&[
        &["There are 0 apples.", "Zero apples: no baskets, no apples."],
        &["8 apples.", "Eight apples in one basket."],
    ]);
    let tools = tempfile::tempdir().unwrap();
    let script = editor(tools.path());
    set_mode(tools.path(), "sed");
    let w = Workstation::launch_with(
        &p,
        "responses",
        &[("EDITOR", script.to_str().unwrap())],
        (100, 30),
    );
    w.wait_for("the review screen", |s| s.contains("Review"));
    w.keys("F6");
    w.wait_for("candidate 1 of item q-0", |s| {
        s.contains("candidate 1 of 2") && s.contains("q-0") && s.contains("There are 0 apples.")
    });
    assert!(w.screen().contains("system:"), "the earlier turn shows: {}", w.screen());
    w.keys("a");
    w.wait_for("candidate 2 after the accept", |s| {
        s.contains("accepted candidate 1") && s.contains("candidate 2 of 2")
    });
    w.keys("e");
    let s = w.wait_for("the edit saved", |s| s.contains("candidate 2 edited"));
    assert!(s.contains("Zero pears") && s.contains("· edited"), "{s}");
    w.keys("m");
    w.wait_for("A/B mode", |s| s.contains("Left (A)") && s.contains("Right (B)"));
    w.keys("h");
    // The only pair is compared: the next item.
    w.wait_for("the next item", |s| s.contains("preference saved") && s.contains("q-1"));
    w.quit();

    let store = Store::open(&p).unwrap();
    let key = store.item_by_id("q-0").unwrap().unwrap().key;
    let revs = store.revisions(key).unwrap();
    let original = revs.iter().find(|r| r.number == 2 && r.parent.is_none()).unwrap();
    let edit = revs.iter().find(|r| r.parent.is_some()).expect("the edit is a revision");
    assert_eq!(edit.number, 2);
    assert_eq!(edit.parent, Some(original.id));
    assert_eq!(edit.annotator.as_deref(), Some("ana"));
    assert_eq!(edit.text, "Zero pears: no baskets, no pears.");
    assert_eq!(original.text, "Zero apples: no baskets, no apples.", "nothing overwritten");
    let ev = store.response_events(Some(key)).unwrap();
    let kinds: Vec<ResponseKind> = ev.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![ResponseKind::Accept, ResponseKind::Edit, ResponseKind::Prefer]);
    assert!(ev.iter().all(|e| e.annotator == "ana"));
    assert_eq!(ev[0].shown, Some(json!({"mode": "single", "candidate": 1})));
    assert_eq!(ev[1].shown, Some(json!({"mode": "single", "candidate": 2})));
    assert_eq!(ev[1].response, Some(edit.id));
    let (l, r) = sides(key, "ana", (1, 2));
    assert_eq!(ev[2].shown, Some(json!({"mode": "ab", "left": l, "right": r})));
    assert_eq!(ev[2].verdict, Some(Verdict::Better));
    let rev_of = |n: i64| revs.iter().filter(|x| x.number == n).map(|x| x.id).max().unwrap();
    assert_eq!((ev[2].response, ev[2].other), (Some(rev_of(l)), Some(rev_of(r))), "left chosen");
    // The editor got a private file, removed afterwards.
    let files = edited_files(tools.path());
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].1, "600", "{files:?}");
    assert!(!Path::new(&files[0].0).exists(), "the temporary file is removed");
}

#[test]
fn an_editor_that_fails_or_empties_the_file_saves_nothing_and_says_so() {
    let (_dir, p) = project_with(&[&["Three apples.", "3 apples."]]);
    let tools = tempfile::tempdir().unwrap();
    let script = editor(tools.path());
    let w = Workstation::launch_with(
        &p,
        "responses-fail",
        &[("EDITOR", script.to_str().unwrap())],
        (80, 24),
    );
    w.wait_for("the review screen", |s| s.contains("Review"));
    w.keys("F6");
    w.wait_for("candidate 1", |s| s.contains("candidate 1 of 2"));
    set_mode(tools.path(), "fail");
    w.keys("e");
    let s = w.wait_for("the failure", |s| s.contains("nothing saved"));
    assert!(s.contains("exit status: 1"), "{s}");
    set_mode(tools.path(), "empty");
    w.keys("e");
    w.wait_for("the empty file refused", |s| s.contains("empty: nothing saved"));
    set_mode(tools.path(), "none");
    w.keys("e");
    w.wait_for("no change", |s| s.contains("unchanged: nothing saved"));
    // The screen is whole again after each edit.
    let s = w.screen();
    assert!(s.contains("Three apples.") && s.contains("candidate 1 of 2"), "{s}");
    w.quit();
    let store = Store::open(&p).unwrap();
    let key = store.item_by_id("q-0").unwrap().unwrap().key;
    assert!(store.response_events(Some(key)).unwrap().is_empty(), "nothing recorded");
    assert_eq!(store.revisions(key).unwrap().len(), 2, "no revision");
    let files = edited_files(tools.path());
    assert_eq!(files.len(), 3);
    assert!(files.iter().all(|(f, m)| m == "600" && !Path::new(f).exists()), "{files:?}");
}

/// The whole path an SFT user takes: a chat JSONL with two candidates per prompt imported, judged
/// in the workstation (accept, an edit through $EDITOR, a preference in A/B mode), exported as
/// chat JSONL carrying the edited text and as DPO JSONL, both loaded by `datasets`.
#[test]
fn a_chat_file_imported_judged_in_the_workstation_and_exported_for_sft_and_dpo() {
    let (dir, _cfg, _store) = project();
    let p = dir.path().to_path_buf();
    let file = p.join("sft.jsonl");
    let row = |q: &str, a: &str| {
        json!({"messages": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": q},
            {"role": "assistant", "content": a},
        ]})
        .to_string()
            + "\n"
    };
    let body = [
        row("How many apples are in 2 baskets of 8?", "16 apples."),
        row("How many apples are in 2 baskets of 8?", "Sixteen apples, eight in each basket."),
        row("How many apples are in 3 baskets of 8?", "24 apples."),
        row("How many apples are in 3 baskets of 8?", "Twenty apples."),
    ]
    .concat();
    std::fs::write(&file, body).unwrap();
    let (ok, out, err) = hifi(&p, &["import", file.to_str().unwrap()]);
    assert!(ok && out.contains("2 items with 4 candidate responses"), "{out}{err}");

    let tools = tempfile::tempdir().unwrap();
    let script = editor(tools.path());
    set_mode(tools.path(), "sed");
    let w = Workstation::launch_with(
        &p,
        "responses-e2e",
        &[("EDITOR", script.to_str().unwrap())],
        (120, 30),
    );
    w.wait_for("the workstation", |s| s.contains("Review"));
    w.keys("F6");
    w.wait_for("candidate 1", |s| s.contains("candidate 1 of 2") && s.contains("16 apples."));
    w.keys("a");
    w.wait_for("candidate 2", |s| {
        s.contains("accepted candidate 1") && s.contains("candidate 2 of 2")
    });
    w.keys("e");
    w.wait_for("the edit saved", |s| {
        s.contains("candidate 2 edited") && s.contains("Sixteen pears")
    });
    w.keys("m");
    w.wait_for("A/B mode", |s| s.contains("Left (A)") && s.contains("Right (B)"));
    // The better side is the one holding the edited text (candidate 2); ids come from the
    // file's stem and the first record's line.
    let key = Store::open(&p).unwrap().item_by_id("sft-1").unwrap().expect("item sft-1").key;
    let (l, _r) = sides(key, "ana", (1, 2));
    w.keys(if l == 2 { "h" } else { "l" });
    w.wait_for("the next item", |s| s.contains("preference saved") && s.contains("3 baskets"));
    w.quit();

    let sft = p.join("out-sft.jsonl");
    let (ok, out, err) =
        hifi(&p, &["export", "--format", "chat-jsonl", "-o", sft.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(&sft)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1, "only the judged prompt: {rows:?}");
    let msgs = rows[0]["messages"].as_array().unwrap();
    assert_eq!(msgs[0], json!({"role": "system", "content": "Answer briefly."}));
    assert_eq!(msgs[2]["content"], "Sixteen pears, eight in each basket.", "the edited text");
    assert_eq!(rows[0]["provenance"]["edited"], true);

    let dpo = p.join("out-dpo.jsonl");
    let (ok, out, err) =
        hifi(&p, &["export", "--format", "dpo-jsonl", "-o", dpo.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(&dpo)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["chosen"][0]["content"], "Sixteen pears, eight in each basket.");
    assert_eq!(rows[0]["rejected"][0]["content"], "16 apples.");
    assert_eq!(rows[0]["prompt"][1]["content"], "How many apples are in 2 baskets of 8?");

    let scratch = tempfile::tempdir().unwrap();
    let loaded = load_with_datasets(&dpo, &["prompt", "chosen", "rejected"], scratch.path());
    assert_eq!(loaded["rows"], 1, "{loaded}");
    let loaded = load_with_datasets(&sft, &["messages"], scratch.path());
    assert_eq!(loaded["rows"], 1, "{loaded}");

    // Every judgement is an event in the labels export, with revision, parent and annotator.
    let events = p.join("events.jsonl");
    let (ok, out, err) = hifi(&p, &["labels", "export", "-o", events.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    let ev: Vec<serde_json::Value> = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e: &serde_json::Value| e["target"] == "response")
        .collect();
    let kinds: Vec<&str> = ev.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["accept", "edit", "prefer"]);
    assert!(ev.iter().all(|e| e["annotator"] == "ana"));
    assert!(ev[1]["parent"].is_i64() && ev[1]["revision"] != ev[1]["parent"], "{}", ev[1]);
}
