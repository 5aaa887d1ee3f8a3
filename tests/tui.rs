//! The review workstation: `update` driven by keys (pure), every screen rendered at 80×24 and
//! 120×40, hostile text rendered inert, and the real binary in tmux.

mod common;

use common::*;
use hifi::config::LabelDef;
use hifi::store::{AnnotationKind, NewQueueEntry, QueueEntry, Store};
use hifi::tui::action::{Action, Effect};
use hifi::tui::app::{
    App, Conflict, DashboardData, EntryView, ItemView, Job, JobState, Screen, SetView, SinceRound,
};
use hifi::tui::keymap::Keymap;
use hifi::tui::theme::Theme;
use hifi::tui::update::update;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn labels() -> Vec<LabelDef> {
    config().labels
}

fn item(key: i64, id: &str, text: &str, p: f64) -> ItemView {
    ItemView {
        key,
        id: id.into(),
        text: text.into(),
        probs: Some(vec![p, 1.0 - p]),
        model_labels: vec!["clickbait".into(), "benign".into()],
        mine: None,
        fields: Vec::new(),
    }
}

fn pair_entry() -> EntryView {
    EntryView {
        entry: QueueEntry {
            id: 1,
            mine_run: 1,
            position: 0,
            strategy: "pairs".into(),
            item_a: 10,
            item_b: Some(11),
            reason: serde_json::json!({"distance": 0.123, "clusters": "clickbait#2 × benign#0"}),
            needed: 1,
            audit: false,
        },
        a: item(10, "ad-0010", "You won't believe this one trick\nTap to find out.", 0.81),
        b: Some(item(
            11,
            "ad-0011",
            "Sale ends Monday: 10% off wireless earbuds\nTerms at example.com.",
            0.22,
        )),
    }
}

/// Resolve a key through the default keymap and apply it.
fn press(app: &mut App, km: &Keymap, c: char) -> Vec<Effect> {
    let k = KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    match km.resolve(&k, app.screen) {
        Some(a) => update(app, a),
        None => vec![],
    }
}

/// Resolve a non-character key on the app's current screen and apply it.
fn press_key(app: &mut App, km: &Keymap, k: KeyEvent) -> Vec<Effect> {
    let screen = app.screen;
    match km.resolve(&k, screen) {
        Some(a) => update(app, a),
        None => vec![],
    }
}

fn loaded(app: &mut App, e: Option<EntryView>) {
    update(app, Action::Loaded { entry: e.map(Box::new), done: 3, total: 40, since_round: None });
}

#[test]
fn keys_label_each_side_and_the_entry_moves_on_only_after_commits() {
    let (km, _) = Keymap::load(None);
    let mut app = App::new(labels(), "ana", "p");
    loaded(&mut app, Some(pair_entry()));
    // Left item clickbait ("a"), right item benign ("k").
    let fx = press(&mut app, &km, 'a');
    assert!(
        matches!(&fx[..], [Effect::Annotate(a)] if a.item == 10 && a.label.as_deref() == Some("clickbait") && a.annotator == "ana")
    );
    let fx = press(&mut app, &km, 'k');
    assert!(
        matches!(&fx[..], [Effect::Annotate(a)] if a.item == 11 && a.label.as_deref() == Some("benign"))
    );
    assert_eq!(app.pending, 2);
    // The first commit alone does not move on.
    assert!(update(
        &mut app,
        Action::Saved { item: 10, kind: AnnotationKind::Label, label: Some("clickbait".into()) }
    )
    .is_empty());
    assert_eq!(app.review.entry.as_ref().unwrap().a.mine.as_deref(), Some("clickbait"));
    let fx = update(
        &mut app,
        Action::Saved { item: 11, kind: AnnotationKind::Label, label: Some("benign".into()) },
    );
    assert_eq!(fx, vec![Effect::LoadNext]);
    assert!(app.review.loading);
    // While loading, label keys do nothing.
    assert!(press(&mut app, &km, 'a').is_empty());
}

#[test]
fn review_is_blind_by_default_p_shows_the_model_and_each_label_records_which() {
    let (km, _) = Keymap::load(None);
    let mut app = App::new(labels(), "ana", "p");
    loaded(&mut app, Some(pair_entry()));
    assert!(!app.review.show_predictions && !app.review.suggestion_visible());
    let fx = press(&mut app, &km, 'a');
    assert!(matches!(&fx[..], [Effect::Annotate(a)] if a.suggestion == Some(false)), "{fx:?}");
    press(&mut app, &km, 'p');
    assert!(app.review.suggestion_visible());
    let fx = press(&mut app, &km, 'k');
    assert!(matches!(&fx[..], [Effect::Annotate(a)] if a.suggestion == Some(true)), "{fx:?}");
    // Audit items stay blind: `p` is refused, and their labels record a blind decision.
    let mut e = pair_entry();
    e.b = None;
    e.entry.audit = true;
    app.pending = 0;
    loaded(&mut app, Some(e));
    assert!(app.review.show_predictions && !app.review.suggestion_visible());
    press(&mut app, &km, 'p');
    assert!(app.review.show_predictions, "the toggle is refused on an audit item");
    assert!(app.message.as_ref().unwrap().0.contains("audit items are labeled blind"));
    let fx = press(&mut app, &km, '1');
    assert!(matches!(&fx[..], [Effect::Annotate(a)] if a.suggestion == Some(false)), "{fx:?}");
    // Blind, the screen shows no probability and no predicted-label cluster.
    let mut blind = App::new(labels(), "ana", "p");
    loaded(&mut blind, Some(pair_entry()));
    let text = hifi::tui::render_to_string(&blind, &Theme::builtin("dark").unwrap(), &km, 120, 40);
    assert!(
        !text.contains("0.81") && !text.contains("0.22") && !text.contains("clickbait#2"),
        "{text}"
    );
    assert!(text.contains("blind: the model's prediction is hidden (p shows it)"), "{text}");
    blind.review.show_predictions = true;
    let text = hifi::tui::render_to_string(&blind, &Theme::builtin("dark").unwrap(), &km, 120, 40);
    assert!(text.contains("0.81") && text.contains("0.22"), "{text}");
}

#[test]
fn both_key_note_skip_flag_undo_redo() {
    let (km, _) = Keymap::load(None);
    let mut app = App::new(labels(), "ana", "p");
    loaded(&mut app, Some(pair_entry()));
    // A note typed first travels with the next decision.
    press(&mut app, &km, 'n');
    assert!(app.input.is_some());
    for c in "same ad family".chars() {
        update(&mut app, Action::Input(c));
    }
    update(&mut app, Action::Submit);
    let fx = press(&mut app, &km, '2');
    assert_eq!(fx.len(), 2);
    for f in &fx {
        let Effect::Annotate(a) = f else { panic!() };
        assert_eq!(a.label.as_deref(), Some("benign"));
        assert_eq!(a.note.as_deref(), Some("same ad family"));
    }
    assert!(app.review.note.is_none());
    assert!(update(
        &mut app,
        Action::Saved { item: 10, kind: AnnotationKind::Label, label: Some("benign".into()) }
    )
    .is_empty());
    assert_eq!(
        update(
            &mut app,
            Action::Saved { item: 11, kind: AnnotationKind::Label, label: Some("benign".into()) }
        ),
        vec![Effect::LoadNext]
    );
    // Flag unsure: an event per item, the entry stays.
    loaded(&mut app, Some(pair_entry()));
    let fx = press(&mut app, &km, '!');
    assert!(fx.iter().all(|f| matches!(f, Effect::Annotate(a) if a.kind == AnnotationKind::Flag)));
    assert_eq!(fx.len(), 2);
    for item in [10, 11] {
        assert!(
            update(&mut app, Action::Saved { item, kind: AnnotationKind::Flag, label: None })
                .is_empty(),
            "a flag does not move on"
        );
    }
    // Skip decides what is left.
    loaded(&mut app, Some(pair_entry()));
    press(&mut app, &km, 'a');
    update(
        &mut app,
        Action::Saved { item: 10, kind: AnnotationKind::Label, label: Some("clickbait".into()) },
    );
    let fx = press(&mut app, &km, 'x');
    assert!(
        matches!(&fx[..], [Effect::Annotate(a)] if a.item == 11 && a.kind == AnnotationKind::Skip)
    );
    assert_eq!(
        update(&mut app, Action::Saved { item: 11, kind: AnnotationKind::Skip, label: None }),
        vec![Effect::LoadNext]
    );
    // Undo and redo go to the store; the view reloads afterwards.
    assert_eq!(press(&mut app, &km, 'u'), vec![Effect::Undo]);
    let redo = update(
        &mut app,
        km.resolve(&KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL), Screen::Review)
            .unwrap(),
    );
    assert_eq!(redo, vec![Effect::Redo]);
    assert_eq!(update(&mut app, Action::Undone(None)), vec![]);
    assert_eq!(app.message.as_ref().unwrap().0, "nothing to undo");
}

#[test]
fn screens_pipeline_and_adjudication_by_keys() {
    let (km, _) = Keymap::load(None);
    let mut app = App::new(labels(), "ana", "p");
    let tab = KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE);
    press_key(&mut app, &km, tab);
    assert_eq!(app.screen, Screen::Pipeline);
    // Start the first stage (prelabel); a second start while running does nothing.
    let enter = KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE);
    assert_eq!(press_key(&mut app, &km, enter), vec![Effect::StartJob(Job::Prelabel)]);
    assert!(press_key(&mut app, &km, enter).is_empty());
    assert_eq!(press(&mut app, &km, 'c'), vec![Effect::CancelJob(Job::Prelabel)]);
    update(
        &mut app,
        Action::JobFinished {
            stage: Job::Prelabel,
            result: Ok("40 scored".into()),
            cancelled: false,
        },
    );
    assert_eq!(app.pipeline.jobs[0].1, JobState::Done("40 scored".into()));
    // The probe round stage (train → predict → evaluate → mine) starts as a job too.
    for _ in 0..3 {
        update(&mut app, Action::Down);
    }
    assert_eq!(update(&mut app, Action::StartJob), vec![Effect::StartJob(Job::ProbeRound)]);
    // Dashboard loads on entry; adjudication asks for a reason before resolving.
    assert_eq!(press_key(&mut app, &km, tab), vec![Effect::LoadDashboard]);
    assert_eq!(press_key(&mut app, &km, tab), vec![Effect::LoadConflicts]);
    update(
        &mut app,
        Action::ConflictsLoaded(vec![Conflict {
            item: 7,
            id: "ad-7".into(),
            text: "x".into(),
            labels: vec![("ana".into(), "benign".into()), ("bob".into(), "clickbait".into())],
        }]),
    );
    assert!(press(&mut app, &km, '1').is_empty());
    assert!(app.input.is_some());
    assert!(update(&mut app, Action::Submit).is_empty(), "a reason is required");
    for c in "hides the offer".chars() {
        update(&mut app, Action::Input(c));
    }
    let fx = update(&mut app, Action::Submit);
    assert!(
        matches!(&fx[..], [Effect::Annotate(a)] if a.item == 7 && a.kind == AnnotationKind::Resolve && a.label.as_deref() == Some("clickbait") && a.note.as_deref() == Some("hides the offer"))
    );
    update(
        &mut app,
        Action::Saved { item: 7, kind: AnnotationKind::Resolve, label: Some("clickbait".into()) },
    );
    assert!(app.adjudicate.conflicts.is_empty());
    assert_eq!(press(&mut app, &km, 'Q'), vec![Effect::Quit]);
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

/// The pipeline screen (F2), with the selection moved to `stage`.
fn pipeline_at(app: &mut App, km: &Keymap, stage: Job) {
    if app.screen != Screen::Pipeline {
        assert_eq!(
            press_key(app, km, key(KeyCode::F(2))),
            vec![Effect::LoadPipeline],
            "entering the screen loads each stage's state"
        );
    }
    for _ in 0..6 {
        press_key(app, km, key(KeyCode::Up));
    }
    let i = hifi::tui::app::JOBS.iter().position(|s| *s == stage).unwrap();
    for _ in 0..i {
        press_key(app, km, key(KeyCode::Down));
    }
    assert_eq!(app.pipeline.jobs[app.pipeline.sel].0, stage);
}

/// A pipeline row as drawn: the stage's title in its column, then its state.
fn row(title: &str, state: &str) -> String {
    format!("{title:<16}{state}")
}

fn render(app: &App, w: u16, h: u16) -> String {
    let (km, _) = Keymap::load(None);
    hifi::tui::render_to_string(app, &Theme::builtin("dark").unwrap(), &km, w, h)
}

#[test]
fn pipeline_stages_are_named_for_what_runs() {
    let (km, _) = Keymap::load(None);
    let mut app = App::new(labels(), "ana", "p");
    let enter = key(KeyCode::Enter);
    pipeline_at(&mut app, &km, Job::ProbeRound);
    assert_eq!(press_key(&mut app, &km, enter), vec![Effect::StartJob(Job::ProbeRound)]);
    press_key(&mut app, &km, key(KeyCode::Down));
    assert_eq!(press_key(&mut app, &km, enter), vec![Effect::StartJob(Job::LoraRound)]);
    press_key(&mut app, &km, key(KeyCode::Down));
    assert_eq!(press_key(&mut app, &km, enter), vec![Effect::StartJob(Job::ZeroShotRound)]);
    let text = render(&app, 80, 24);
    for title in ["  probe round ", "  LoRA round ", "▶ zero-shot round "] {
        assert!(text.contains(title), "{title:?} in\n{text}");
    }
    assert!(!text.contains("evaluate") && !text.contains("lora round"), "{text}");
}

#[test]
fn only_one_model_loading_stage_runs_at_a_time() {
    let (km, _) = Keymap::load(None);
    let mut app = App::new(labels(), "ana", "p");
    let enter = key(KeyCode::Enter);
    pipeline_at(&mut app, &km, Job::Prelabel);
    assert_eq!(press_key(&mut app, &km, enter), vec![Effect::StartJob(Job::Prelabel)]);
    // Embed loads a model too: refused, with a message, and nothing starts.
    press_key(&mut app, &km, key(KeyCode::Down));
    assert!(press_key(&mut app, &km, enter).is_empty());
    assert_eq!(app.pipeline.state(Job::Embed), Some(&JobState::Idle));
    let (msg, _) = app.message.clone().unwrap();
    assert!(msg.starts_with("embed not started: prelabel is running and loads a model"), "{msg}");
    assert!(render(&app, 120, 40).contains("embed not started: prelabel is running"));
    // Stages that load no model start beside it; the LoRA round (a model) does not.
    pipeline_at(&mut app, &km, Job::Mine);
    assert_eq!(press_key(&mut app, &km, enter), vec![Effect::StartJob(Job::Mine)]);
    pipeline_at(&mut app, &km, Job::LoraRound);
    assert!(press_key(&mut app, &km, enter).is_empty());
    assert!(app
        .message
        .as_ref()
        .unwrap()
        .0
        .starts_with("LoRA round not started: prelabel is running"));
    pipeline_at(&mut app, &km, Job::ZeroShotRound);
    assert_eq!(press_key(&mut app, &km, enter), vec![Effect::StartJob(Job::ZeroShotRound)]);
    // Cancelling is not enough: the model is held until the job has ended.
    pipeline_at(&mut app, &km, Job::Prelabel);
    assert_eq!(press(&mut app, &km, 'c'), vec![Effect::CancelJob(Job::Prelabel)]);
    pipeline_at(&mut app, &km, Job::Embed);
    assert!(press_key(&mut app, &km, enter).is_empty());
    let fx = update(
        &mut app,
        Action::JobFinished {
            stage: Job::Prelabel,
            result: Ok("40 scored, 0 already done, cancelled".into()),
            cancelled: true,
        },
    );
    assert_eq!(fx, vec![Effect::LoadPipeline], "what the store holds is read again after a job");
    assert_eq!(press_key(&mut app, &km, enter), vec![Effect::StartJob(Job::Embed)]);
}

#[test]
fn a_cancelled_stage_shows_as_cancelled_not_failed() {
    let (km, _) = Keymap::load(None);
    let mut app = App::new(labels(), "ana", "p");
    let enter = key(KeyCode::Enter);
    pipeline_at(&mut app, &km, Job::Prelabel);
    press_key(&mut app, &km, enter);
    assert_eq!(press(&mut app, &km, 'c'), vec![Effect::CancelJob(Job::Prelabel)]);
    update(
        &mut app,
        Action::JobFinished {
            stage: Job::Prelabel,
            result: Ok("40 scored, 12 already done, cancelled".into()),
            cancelled: true,
        },
    );
    assert_eq!(
        app.pipeline.state(Job::Prelabel),
        Some(&JobState::Cancelled("40 scored, 12 already done, cancelled".into()))
    );
    // A round cancelled mid-way ends in an error; cancelled all the same.
    pipeline_at(&mut app, &km, Job::ProbeRound);
    press_key(&mut app, &km, enter);
    assert_eq!(press(&mut app, &km, 'c'), vec![Effect::CancelJob(Job::ProbeRound)]);
    update(
        &mut app,
        Action::JobFinished {
            stage: Job::ProbeRound,
            result: Err("round 3 interrupted before it was scored".into()),
            cancelled: true,
        },
    );
    assert_eq!(
        app.pipeline.state(Job::ProbeRound),
        Some(&JobState::Cancelled("round 3 interrupted before it was scored".into()))
    );
    // An error nobody asked for is still a failure.
    pipeline_at(&mut app, &km, Job::Embed);
    press_key(&mut app, &km, enter);
    update(
        &mut app,
        Action::JobFinished {
            stage: Job::Embed,
            result: Err("model file missing".into()),
            cancelled: false,
        },
    );
    assert_eq!(
        app.pipeline.state(Job::Embed),
        Some(&JobState::Failed("model file missing".into()))
    );
    let text = render(&app, 80, 24);
    assert!(text.contains(&row("prelabel", "cancelled: 40 scored, 12 already done")), "{text}");
    assert!(
        text.contains(&row("probe round", "cancelled: round 3 interrupted before it was scored")),
        "{text}"
    );
    assert!(text.contains(&row("embed", "failed: model file missing")), "{text}");
    assert_eq!(text.matches("failed").count(), 1, "{text}");
}

/// A project where prelabel ran on 6 of 8 items, mine queued 3 entries, a probe round was
/// scored and a LoRA round was interrupted; nothing was embedded.
fn project_with_history() -> (tempfile::TempDir, Store) {
    let (dir, cfg, mut store) = project();
    let body: String = std::iter::once("id,text\n".to_string())
        .chain((0..8).map(|i| format!("p{i},ad {i}\n")))
        .collect();
    let p = file(dir.path(), "p.csv", body.as_bytes());
    hifi::io::import::import_items(
        &mut store,
        &p,
        &Default::default(),
        &mut hifi::progress::Silent,
        &Default::default(),
    )
    .unwrap();
    let keys: Vec<i64> =
        (0..8).map(|i| store.item_by_id(&format!("p{i}")).unwrap().unwrap().key).collect();
    let labels = cfg.label_names();
    let model = store
        .register_model(&llm_record("smol", Some("/models/SmolLM2-135M-Instruct.gguf"), &labels))
        .unwrap();
    let preds: Vec<hifi::store::Prediction> = keys[..6]
        .iter()
        .map(|k| hifi::store::Prediction { item: *k, probs: vec![0.3, 0.7], truncated: false })
        .collect();
    store.put_predictions(model, &labels, &preds).unwrap();
    let entries: Vec<NewQueueEntry> = keys[..3]
        .iter()
        .map(|k| NewQueueEntry {
            item_a: *k,
            item_b: None,
            reason: serde_json::json!({}),
            needed: 1,
            audit: false,
        })
        .collect();
    store.replace_queue("adaptive", &entries).unwrap();
    let probe = store.start_round("probe", None).unwrap();
    store.finish_round(probe, model, &serde_json::json!({"kappa": 0.714})).unwrap();
    store.start_round("lora", None).unwrap();
    (dir, store)
}

#[test]
fn the_pipeline_screen_shows_what_each_stage_left_in_the_store() {
    let (km, _) = Keymap::load(None);
    let (dir, store) = project_with_history();
    let mut cfg = hifi::config::Config::load(dir.path()).unwrap();
    let mut app = App::new(labels(), "ana", "p");
    // F2 asks for the stages' state; the worker reads it (data::pipeline) and sends it back.
    assert_eq!(press_key(&mut app, &km, key(KeyCode::F(2))), vec![Effect::LoadPipeline]);
    assert!(
        render(&app, 80, 24).contains(&row("prelabel", "idle — enter to start")),
        "before the store is read"
    );
    update(&mut app, Action::PipelineLoaded(hifi::tui::data::pipeline(&store, &cfg).unwrap()));
    let text = render(&app, 80, 24);
    for (title, state) in [
        ("prelabel", "6/8 · SmolLM2-135M-Instruct · runs on local llama.cpp (CPU)"),
        ("embed", "not run yet — runs on local llama.cpp (CPU); enter to start"),
        ("mine", "3 queued · adaptive"),
        ("probe round", "round 1 · κ 0.71"),
        ("LoRA round", "round 2 · not scored (interrupted, or still running)"),
        ("zero-shot round", "not run yet — enter to start"),
    ] {
        let line = row(title, state);
        assert!(text.contains(&line), "{line:?} in\n{text}");
    }
    assert!(!text.contains("idle"), "{text}");
    // With [backend] on servers, prelabel and embed say which (the embedding model if named).
    cfg.backend = hifi::config::BackendConfig {
        kind: hifi::config::BackendKind::Openai,
        urls: vec!["http://gpu1:8000/v1".into(), "http://gpu2:8000/v1".into()],
        model: Some("Qwen/Qwen3-0.6B".into()),
        embed_model: Some("bge".into()),
        ..Default::default()
    };
    update(&mut app, Action::PipelineLoaded(hifi::tui::data::pipeline(&store, &cfg).unwrap()));
    let text = render(&app, 100, 24);
    assert!(
        text.contains(&row(
            "prelabel",
            "6/8 · SmolLM2-135M-Instruct · runs on openai:Qwen/Qwen3-0.6B (2 servers)"
        )),
        "{text}"
    );
    assert!(
        text.contains(&row(
            "embed",
            "not run yet — runs on openai:bge (2 servers); enter to start"
        )),
        "{text}"
    );
    // A job that ended says how; what the store holds stays under it.
    press_key(&mut app, &km, key(KeyCode::Enter));
    update(
        &mut app,
        Action::JobFinished {
            stage: Job::Prelabel,
            result: Ok("2 scored, 6 already done".into()),
            cancelled: false,
        },
    );
    let text = render(&app, 100, 24);
    assert!(
        text.contains("done: 2 scored, 6 already done")
            && text.contains("6/8 · SmolLM2-135M-Instruct"),
        "{text}"
    );
}

fn screens() -> Vec<(&'static str, App)> {
    let mut out = Vec::new();
    let mut review = App::new(labels(), "ana", "demo");
    loaded(&mut review, Some(pair_entry()));
    review.now = 75.0;
    review.review.first_label_at = Some(15.0);
    review.review.session_labels = 12;
    out.push(("review", review.clone()));
    let mut single = review.clone();
    let mut e = pair_entry();
    e.b = None;
    e.entry.strategy = "margin".into();
    e.entry.reason = serde_json::json!({"margin": 0.04});
    single.review.entry = Some(e);
    out.push(("review_single", single));
    // The model's prediction on screen (`p`): probabilities and the full reason.
    let mut shown = review.clone();
    shown.review.show_predictions = true;
    out.push(("review_predictions", shown.clone()));
    let mut audit = shown.clone();
    let mut e = pair_entry();
    e.b = None;
    e.entry.strategy = "audit".into();
    e.entry.audit = true;
    e.entry.reason = serde_json::json!({"strategy": "audit", "rank": 0, "why": "drawn uniformly at random from unlabeled items (audit stratum)"});
    audit.review.entry = Some(e);
    out.push(("review_audit", audit));
    let mut guide = review.clone();
    guide.review.show_guidelines = true;
    out.push(("review_guidelines", guide));
    let mut help = review.clone();
    help.show_help = true;
    out.push(("review_help", help));
    let mut empty = App::new(labels(), "ana", "demo");
    loaded(&mut empty, None);
    out.push(("review_done", empty));
    let mut pipe = App::new(labels(), "ana", "demo");
    pipe.screen = Screen::Pipeline;
    pipe.now = 30.0;
    pipe.pipeline.jobs[0].1 =
        JobState::Running { done: 320, total: 1300, note: "281 tok/s".into(), started: 0.0 };
    pipe.pipeline.jobs[1].1 = JobState::Done("1300 embedded".into());
    pipe.pipeline.jobs[2].1 = JobState::Failed("no embeddings yet".into());
    out.push(("pipeline", pipe));
    // A LoRA round training: its loss curve under the gauge, fed through update().
    let mut lora = App::new(labels(), "ana", "demo");
    lora.screen = Screen::Pipeline;
    lora.pipeline.sel = 4;
    assert_eq!(lora.pipeline.jobs[4].0, Job::LoraRound);
    assert_eq!(update(&mut lora, Action::StartJob), vec![Effect::StartJob(Job::LoraRound)]);
    lora.now = 90.0;
    update(
        &mut lora,
        Action::JobProgress {
            stage: Job::LoraRound,
            done: 12,
            total: 50,
            note: "loss 0.412 · 96 tok/s".into(),
        },
    );
    for (i, loss) in
        [2.9, 2.1, 1.6, 1.2, 0.9, 0.8, 0.62, 0.55, 0.5, 0.46, 0.43, 0.41].into_iter().enumerate()
    {
        update(&mut lora, Action::JobLoss { stage: Job::LoraRound, loss });
        assert_eq!(lora.pipeline.loss_curve.len(), i + 1);
    }
    update(&mut lora, Action::JobLoss { stage: Job::ProbeRound, loss: 9.0 }); // another stage's: ignored
    update(&mut lora, Action::JobLoss { stage: Job::LoraRound, loss: f64::NAN }); // not plotted
    assert_eq!(lora.pipeline.loss_curve.len(), 12);
    out.push(("pipeline_lora", lora));
    // Each stage's state as the store holds it, beside jobs that ended.
    let mut stored = App::new(labels(), "ana", "demo");
    update(&mut stored, Action::GoTo(Screen::Pipeline));
    update(
        &mut stored,
        Action::PipelineLoaded(vec![
            (Job::Prelabel, "1300/1300 · SmolLM2-135M-Instruct".into()),
            (Job::Embed, "1300/1300 · SmolLM2-135M-Instruct".into()),
            (Job::Mine, "138 queued · adaptive".into()),
            (Job::ProbeRound, "round 3 · κ 0.71 · 2 rounds".into()),
        ]),
    );
    update(
        &mut stored,
        Action::JobFinished {
            stage: Job::Mine,
            result: Ok("138 entries queued (adaptive)".into()),
            cancelled: false,
        },
    );
    update(
        &mut stored,
        Action::JobFinished {
            stage: Job::LoraRound,
            result: Err("round 4 interrupted before it was scored".into()),
            cancelled: true,
        },
    );
    out.push(("pipeline_stored", stored));
    let mut dash = App::new(labels(), "ana", "demo");
    dash.screen = Screen::Dashboard;
    dash.dashboard.data = Some(DashboardData {
        per_annotator: vec![("ana".into(), 120), ("bob".into(), 95)],
        eval_balance: vec![("clickbait".into(), 14), ("benign".into(), 30)],
        train_size: 102,
        expert_kappa: Some(("0.812".into(), 24)),
        model_kappa: Some(("0.412".into(), 44)),
        rounds: vec![(1.0, 0.31), (2.0, 0.44), (3.0, 0.52)],
        verdict: Some("verdict: continue".into()),
        audit: vec![
            "eval labels seen 3 · unknown 0 of 68".into(),
            "audit (random) n = 20".into(),
            "  κ 0.52 [0.18, 0.81]".into(),
            "  accuracy 0.80 [0.58, 0.92]".into(),
            "  clickbait 25% [11, 47] model 30%".into(),
            "  benign 75% [53, 89] model 70%".into(),
        ],
        simulation: vec![
            ("pairs".into(), vec![(100.0, 0.42), (200.0, 0.55), (300.0, 0.61)]),
            ("random".into(), vec![(100.0, 0.30), (200.0, 0.41), (300.0, 0.50)]),
        ],
    });
    out.push(("dashboard", dash));
    let mut adj = App::new(labels(), "ana", "demo");
    adj.screen = Screen::Adjudicate;
    adj.adjudicate.conflicts = vec![
        Conflict {
            item: 7,
            id: "ad-0007".into(),
            text: "Only 3 left!\nGrab yours.".into(),
            labels: vec![("ana".into(), "benign".into()), ("bob".into(), "clickbait".into())],
        },
        Conflict {
            item: 9,
            id: "ad-0009".into(),
            text: "Free guide from the utility".into(),
            labels: vec![("ana".into(), "clickbait".into()), ("cy".into(), "benign".into())],
        },
    ];
    out.push(("adjudicate", adj));
    let mut sets = App::new(labels(), "ana", "demo");
    sets.screen = Screen::Sets;
    out.push(("sets_none", sets.clone()));
    update(&mut sets, Action::SetLoaded(Some(Box::new(limo_set()))));
    update(&mut sets, Action::Down);
    update(&mut sets, Action::VetoSaved { selection: 4, rank: 1, vetoed: true });
    sets.message = None;
    out.push(("sets", sets));
    out
}

fn limo_set() -> SetView {
    let entry = |rank: usize, id: &str, text: &str, response: &str, d: f64| {
        hifi::store::SelectionEntry {
            rank,
            item: 100 + rank as i64,
            item_id: id.into(),
            text: text.into(),
            meta: None,
            response: Some(response.into()),
            score: Some(d),
            reasons: serde_json::json!({"difficulty": d, "passes": 1, "samples": 4, "cluster": rank % 2, "response_from": "candidate 1"}),
            vetoed: false,
            veto_reason: None,
        }
    };
    SetView {
        id: 4,
        kind: "limo".into(),
        created_at: "2026-11-30T06:00:00Z".into(),
        entries: vec![
            entry(0, "q-004", "There are 8 boxes with 8 pens in each. How many pens are there?", "First, multiply: 8 * 8 = 64. Let me check: 64 / 8 = 8. Therefore the answer is 64.", 0.75),
            entry(1, "q-009", "Calculate 5 * 3 and reply with the result.", "5 * 3 = 15", 0.75),
            entry(2, "q-017", "Sam has 15 apples and buys 9 more. How many apples does Sam have now?", "15 + 9 = 24 apples.", 0.5),
        ],
        all: vec![2, 4, 7],
    }
}

#[test]
fn sets_screen_vetoes_by_key_and_pages_through_sets() {
    let (km, _) = Keymap::load(None);
    let mut app = App::new(labels(), "ana", "p");
    let f5 = KeyEvent::new(KeyCode::F(5), KeyModifiers::NONE);
    assert_eq!(press_key(&mut app, &km, f5), vec![Effect::LoadSet(None)], "the newest set");
    assert!(press(&mut app, &km, 'v').is_empty(), "nothing loaded, nothing to veto");
    update(&mut app, Action::SetLoaded(Some(Box::new(limo_set()))));
    press_key(&mut app, &km, KeyEvent::new(KeyCode::Down, KeyModifiers::NONE));
    assert_eq!(
        press(&mut app, &km, 'v'),
        vec![Effect::Veto { selection: 4, rank: 1, restore: false }]
    );
    assert!(!app.sets.set.as_ref().unwrap().entries[1].vetoed, "shown vetoed only once committed");
    update(&mut app, Action::VetoSaved { selection: 4, rank: 1, vetoed: true });
    assert!(app.sets.set.as_ref().unwrap().entries[1].vetoed);
    assert_eq!(
        press(&mut app, &km, 'v'),
        vec![Effect::Veto { selection: 4, rank: 1, restore: true }],
        "the same key restores"
    );
    assert_eq!(press(&mut app, &km, '['), vec![Effect::LoadSet(Some(2))]);
    assert_eq!(press(&mut app, &km, ']'), vec![Effect::LoadSet(Some(7))]);
    assert_eq!(press(&mut app, &km, 'r'), vec![Effect::LoadSet(Some(4))]);
    // Reloading the same set keeps the selection; another set starts at its top.
    update(&mut app, Action::SetLoaded(Some(Box::new(limo_set()))));
    assert_eq!(app.sets.sel, 1);
    update(&mut app, Action::SetLoaded(Some(Box::new(SetView { id: 7, ..limo_set() }))));
    assert_eq!(app.sets.sel, 0);
    // The last set: no further "next".
    assert!(press(&mut app, &km, ']').is_empty());
}

#[test]
fn every_screen_snapshot_at_80x24_and_120x40() {
    let (km, _) = Keymap::load(None);
    let theme = Theme::builtin("dark").unwrap();
    for (name, app) in screens() {
        for (w, h) in [(80u16, 24u16), (120, 40)] {
            let text = hifi::tui::render_to_string(&app, &theme, &km, w, h);
            insta::assert_snapshot!(format!("{name}_{w}x{h}"), text);
        }
    }
}

#[test]
fn the_header_counts_labels_since_the_round_and_says_once_when_the_next_is_due() {
    let mut app = App::new(labels(), "ana", "demo");
    let load = |app: &mut App, labels: i64, round: Option<i64>| {
        update(
            app,
            Action::Loaded {
                entry: Some(Box::new(pair_entry())),
                done: 3,
                total: 40,
                since_round: Some(SinceRound { labels, round }),
            },
        )
    };
    load(&mut app, 12, None);
    let screen = render(&app, 120, 40);
    assert!(screen.contains("12 labeled, no round yet"), "{screen}");
    assert!(app.message.is_none());
    load(&mut app, 50, None);
    let screen = render(&app, 120, 40);
    assert!(screen.contains("50 labeled: round due"), "{screen}");
    let msg = app.message.clone().expect("a due round is explained").0;
    assert!(
        msg.contains("50 labels and no round yet")
            && msg.contains("probe round")
            && msg.contains("Pipeline"),
        "{msg}"
    );
    app.message = None;
    load(&mut app, 51, None);
    assert!(app.message.is_none(), "said once, not on every entry");
    load(&mut app, 3, Some(2));
    assert!(render(&app, 120, 40).contains("+3 since round 2"));
    load(&mut app, 25, Some(2));
    let screen = render(&app, 120, 40);
    assert!(screen.contains("+25 since round 2: round due"), "{screen}");
    assert!(app.message.as_ref().is_some_and(|m| m.0.contains("25 labels since round 2")));
    // A narrow terminal keeps the queue counts and drops this.
    let narrow = render(&app, 80, 24);
    let header = narrow.lines().next().unwrap_or_default();
    assert!(header.contains("3/40") && !header.contains("since round"), "{narrow}");
    // It never covers a warning.
    app.message =
        Some(("another process holds the store: retrying".into(), hifi::tui::app::Level::Warn));
    load(&mut app, 30, Some(3));
    assert_eq!(app.message.as_ref().map(|m| m.1), Some(hifi::tui::app::Level::Warn));
}

#[test]
fn hostile_text_renders_inert() {
    let (km, _) = Keymap::load(None);
    let theme = Theme::builtin("high-contrast").unwrap();
    let mut app = App::new(labels(), "ana\x1b[31m", "demo");
    let mut e = pair_entry();
    e.a.text = "clear\x1b[2J\x1b]0;pwned\x07 osc52\x1b]52;c;SGVsbG8=\x07 \u{202e}txet desrever\u{202c} zero\u{200b}width \u{9b}31m c1".into();
    e.b.as_mut().unwrap().text =
        "新しい製品 — 全角テキストが正しく折り返されることを確認します。".repeat(8);
    e.a.id = "id\x1b[5m".into();
    loaded(&mut app, Some(e));
    for (w, h) in [(80u16, 24u16), (120, 40)] {
        let out = hifi::tui::render_to_string(&app, &theme, &km, w, h);
        assert!(
            !out.chars().any(|c| c == '\x1b'
                || c == '\x07'
                || c == '\u{9b}'
                || c == '\u{202e}'
                || c == '\u{200b}'),
            "{out}"
        );
        assert!(
            out.contains("␛[2J") && out.contains("<U+202E>") && out.contains("<U+200B>"),
            "{out}"
        );
        assert!(out.contains("新しい製品"));
    }
}

fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// An item's imported fields show under its text, one `name: value` line each, cut to the
/// width, at most four lines (the last counting the rest), fewer where the text needs the rows;
/// an escape in a field never reaches the terminal.
#[test]
fn review_shows_imported_fields_under_the_text_inert_and_cut_to_the_width() {
    let (km, _) = Keymap::load(None);
    let theme = Theme::builtin("dark").unwrap();
    let long = "Originally posted in the weekly deals thread, then reposted by three affiliate accounts with different tracking links";
    let mut app = App::new(labels(), "ana", "demo");
    let mut e = single_entry(10, "ad-0010");
    e.a.text = "You won't believe this one trick\nTap to find out.".into();
    e.a.fields = fields(&[
        ("source", "forum\x1b[31mred\x1b[0m"),
        ("date", "2024-05-01"),
        ("history", long),
        ("score", "0.5"),
        ("tags", r#"["sale","promo"]"#),
        ("notes", "line one\nline two"),
    ]);
    loaded(&mut app, Some(e.clone()));
    let single = hifi::tui::render_to_string(&app, &theme, &km, 80, 24);
    assert!(!single.contains('\x1b'), "{single}");
    assert!(single.contains("│source: forum␛[31mred␛[0m"), "{single}");
    assert!(single.contains("│date: 2024-05-01"), "{single}");
    let history = single.lines().find(|l| l.contains("history: ")).expect(&single);
    assert!(history.ends_with("…│") && history.chars().count() == 80, "{history}");
    assert!(single.contains("│+3 more fields"), "four lines at most: {single}");
    assert!(!single.contains("score:"), "{single}");
    assert!(
        single.find("Tap to find out.").unwrap() < single.find("source:").unwrap(),
        "under the text: {single}"
    );
    insta::assert_snapshot!("review_fields_80x24", single);
    // Four fields or fewer: all of them, and no count.
    e.a.fields.truncate(4);
    loaded(&mut app, Some(e.clone()));
    let four = hifi::tui::render_to_string(&app, &theme, &km, 80, 24);
    assert!(four.contains("│score: 0.5") && !four.contains("more field"), "{four}");
    // A pair at 80×24: the text keeps its rows, the fields take what is left.
    let mut pair = pair_entry();
    pair.a.fields = e.a.fields.clone();
    pair.b.as_mut().unwrap().fields = fields(&[("source", "newsletter"), ("date", "2024-05-02")]);
    loaded(&mut app, Some(pair));
    let both = hifi::tui::render_to_string(&app, &theme, &km, 80, 24);
    assert!(!both.contains('\x1b'), "{both}");
    assert!(both.contains("Tap to find out.") && both.contains("Terms at example.com."), "{both}");
    assert!(both.contains("│source: forum␛[31mred␛[0m"), "{both}");
    assert!(both.contains("│source: newsletter  +1 more"), "{both}");
    insta::assert_snapshot!("review_fields_pair_80x24", both);
    let wide = hifi::tui::render_to_string(&app, &theme, &km, 120, 40);
    assert!(wide.contains("│date: 2024-05-02"), "{wide}");
    // No room under a long text: no field lines at all, the text keeps every row.
    let mut crowded = single_entry(10, "ad-0010");
    crowded.a.text = (1..=30).map(|i| format!("line {i}")).collect::<Vec<_>>().join("\n");
    crowded.a.fields = fields(&[("source", "forum")]);
    loaded(&mut app, Some(crowded));
    let full = hifi::tui::render_to_string(&app, &theme, &km, 80, 24);
    assert!(!full.contains("source:") && full.contains("line 14"), "{full}");
}

/// The worker loads an item's meta as its fields, as `[review] show_fields` asks: unset, all of
/// them in stored order; a list, those named in its order; an empty list, none.
#[test]
fn next_entry_loads_the_fields_show_fields_asks_for() {
    let (dir, _cfg, mut store) = project();
    let p = file(
        dir.path(),
        "m.jsonl",
        concat!(
            r#"{"id": "m1", "text": "Flash sale", "source": "forum\u001b[31m", "score": 0.5, "ok": true, "tags": ["a", "b"]}"#,
            "\n",
            r#"{"id": "m2", "text": "Plain"}"#,
            "\n"
        )
        .as_bytes(),
    );
    hifi::io::import::import_items(
        &mut store,
        &p,
        &Default::default(),
        &mut hifi::progress::Silent,
        &Default::default(),
    )
    .unwrap();
    let key = |id: &str| store.item_by_id(id).unwrap().unwrap().key;
    let (m1, m2) = (key("m1"), key("m2"));
    let entry = NewQueueEntry {
        item_a: m1,
        item_b: Some(m2),
        reason: serde_json::json!({}),
        needed: 1,
        audit: false,
    };
    store.replace_queue("pairs", &[entry]).unwrap();
    let load = |store: &mut Store, show: Option<&[String]>| {
        let (e, ..) = hifi::tui::data::next_entry(store, "ana", show).unwrap();
        let e = e.expect("the queued pair");
        (e.a.fields, e.b.unwrap().fields)
    };
    let (a, b) = load(&mut store, None);
    let all =
        [("ok", "true"), ("score", "0.5"), ("source", "forum\x1b[31m"), ("tags", r#"["a","b"]"#)];
    assert_eq!(a, fields(&all));
    assert!(b.is_empty());
    let named = ["tags".to_string(), "missing".into(), "source".into(), "tags".into()];
    let (a, _) = load(&mut store, Some(&named));
    assert_eq!(a, fields(&[("tags", r#"["a","b"]"#), ("source", "forum\x1b[31m")]));
    let (a, _) = load(&mut store, Some(&[]));
    assert!(a.is_empty());
}

/// The real binary in a real terminal: label pairs, undo one, quit; the store holds exactly
/// the expected annotations.
#[test]
fn end_to_end_in_tmux() {
    assert!(
        std::process::Command::new("tmux").arg("-V").output().is_ok(),
        "tmux is required (scripts/setup.sh installs it)"
    );
    let (dir, _cfg, mut store) = project();
    let mut body = String::from("id,text\n");
    for i in 0..8 {
        body.push_str(&format!("p{i},\"Ad number {i}\nSecond line {i}\"\n"));
    }
    let p = file(dir.path(), "p.csv", body.as_bytes());
    hifi::io::import::import_items(
        &mut store,
        &p,
        &Default::default(),
        &mut hifi::progress::Silent,
        &Default::default(),
    )
    .unwrap();
    let k = |s: &Store, id: &str| s.item_by_id(id).unwrap().unwrap().key;
    let entries: Vec<NewQueueEntry> = (0..4)
        .map(|i| NewQueueEntry {
            item_a: k(&store, &format!("p{}", 2 * i)),
            item_b: Some(k(&store, &format!("p{}", 2 * i + 1))),
            reason: serde_json::json!({"distance": 0.1}),
            needed: 1,
            audit: false,
        })
        .collect();
    store.replace_queue("pairs", &entries).unwrap();
    // A built set to veto from the Sets screen.
    let set: Vec<hifi::store::NewSelectionEntry> = (5..8)
        .map(|i| hifi::store::NewSelectionEntry {
            item: k(&store, &format!("p{i}")),
            response: None,
            score: Some(0.5),
            reasons: serde_json::json!({"target_set": "t"}),
        })
        .collect();
    let set_id = store
        .save_selection(
            hifi::store::SelectionKind::Betr,
            &serde_json::json!({}),
            &serde_json::json!({}),
            &set,
        )
        .unwrap();
    drop(store);
    let session = format!("hifi-e2e-{}", std::process::id());
    let bin = env!("CARGO_BIN_EXE_hifi");
    let cmd = format!("{bin} --project {} review --annotator ana", dir.path().display());
    let tmux = |args: &[&str]| std::process::Command::new("tmux").args(args).output().unwrap();
    tmux(&["kill-session", "-t", &session]);
    /// Kills the session however the test ends (a failed wait must not leave hifi running).
    struct Session(String);
    impl Drop for Session {
        fn drop(&mut self) {
            let _ =
                std::process::Command::new("tmux").args(["kill-session", "-t", &self.0]).output();
        }
    }
    let _guard = Session(session.clone());
    let out = tmux(&["new-session", "-d", "-s", &session, "-x", "100", "-y", "30", &cmd]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let capture = || {
        String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", &session]).stdout).into_owned()
    };
    let wait_for = |needle: &str| {
        for _ in 0..100 {
            let s = capture();
            if s.contains(needle) {
                return s;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("timed out waiting for {needle:?}; screen:\n{}", capture());
    };
    wait_for("p0");
    // Pair 1: left clickbait (a), right benign (k).
    tmux(&["send-keys", "-t", &session, "a"]);
    tmux(&["send-keys", "-t", &session, "k"]);
    wait_for("p2");
    // Pair 2: both benign (2).
    tmux(&["send-keys", "-t", &session, "2"]);
    wait_for("p4");
    // Undo the last decision (p3's benign): the view goes back to pair 2.
    tmux(&["send-keys", "-t", &session, "u"]);
    let s = wait_for("undid label benign");
    assert!(s.contains("p2") && s.contains("p3"), "{s}");
    // The Sets screen: veto the second entry.
    tmux(&["send-keys", "-t", &session, "F5"]);
    wait_for(&format!("Set {set_id} (betr)"));
    tmux(&["send-keys", "-t", &session, "Down"]);
    tmux(&["send-keys", "-t", &session, "v"]);
    wait_for(&format!("vetoed entry 1 of set {set_id}"));
    tmux(&["send-keys", "-t", &session, "Q"]);
    for _ in 0..50 {
        if !tmux(&["has-session", "-t", &session]).status.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    tmux(&["kill-session", "-t", &session]);
    let store = Store::open(dir.path()).unwrap();
    let mut labels: Vec<(String, String)> = store
        .current_labels()
        .unwrap()
        .into_iter()
        .map(|(item, who, l)| {
            assert_eq!(who, "ana");
            (store.item(item).unwrap().unwrap().id, l)
        })
        .collect();
    labels.sort();
    assert_eq!(
        labels,
        vec![
            ("p0".into(), "clickbait".into()),
            ("p1".into(), "benign".into()),
            ("p2".into(), "benign".into())
        ]
    );
    assert_eq!(store.events().unwrap().len(), 5, "4 labels and 1 undo");
    let vetoed: Vec<bool> =
        store.selection_entries(set_id).unwrap().iter().map(|e| e.vetoed).collect();
    assert_eq!(vetoed, vec![false, true, false]);
}

fn single_entry(key: i64, id: &str) -> EntryView {
    let mut e = pair_entry();
    e.entry.item_a = key;
    e.entry.item_b = None;
    e.a = item(key, id, "Flash sale today only", 0.7);
    e.b = None;
    e
}

/// Keys typed while an entry's decision waits for the store (another process holds its write
/// lock) or while the next entry loads would decide an item nobody has seen: each is refused
/// on the message line and counted, never turned into a second event for the item on screen
/// or dropped in silence.
#[test]
fn keys_typed_while_a_decision_waits_or_the_next_entry_loads_are_refused_visibly() {
    let (km, _) = Keymap::load(None);
    let mut app = App::new(labels(), "ana", "p");
    loaded(&mut app, Some(single_entry(10, "q0")));
    assert_eq!(press(&mut app, &km, 'a').len(), 1, "the first key is a decision");
    update(
        &mut app,
        Action::Waiting(
            "saving… (another hifi process is writing to the project; kept and retried)".into(),
        ),
    );
    // Two more keys while it waits: nothing for the store, and the screen says so.
    assert!(press(&mut app, &km, 'a').is_empty());
    assert!(press(&mut app, &km, 'j').is_empty());
    assert_eq!(app.pending, 1, "one decision in flight, not three");
    let (msg, level) = app.message.clone().unwrap();
    assert_eq!(level, hifi::tui::app::Level::Warn);
    assert!(
        msg.starts_with("not applied: label")
            && msg.contains("(2 keys so far)")
            && msg.contains("still being saved"),
        "{msg}"
    );
    // A skip or a flag is refused the same way.
    assert!(press(&mut app, &km, 'x').is_empty() && press(&mut app, &km, '!').is_empty());
    assert!(!app.review.flagged, "a refused flag is not shown as flagged");
    // The save commits: the entry moves on, and the refusal stays on screen to be read.
    assert_eq!(
        update(
            &mut app,
            Action::Saved {
                item: 10,
                kind: AnnotationKind::Label,
                label: Some("clickbait".into())
            }
        ),
        vec![Effect::LoadNext]
    );
    assert!(app.message.as_ref().unwrap().0.contains("4 keys so far"));
    // While the next entry loads, keys are refused too.
    assert!(press(&mut app, &km, 'a').is_empty());
    assert!(
        app.message.as_ref().unwrap().0.contains("the next item is still loading"),
        "{:?}",
        app.message
    );
    loaded(&mut app, Some(single_entry(11, "q1")));
    assert_eq!(app.review.refused, 0, "counted afresh for each entry");
    assert_eq!(press(&mut app, &km, 'a').len(), 1, "the new item takes a decision");
    // A pair: the other side may still be decided while the first side's save waits.
    update(
        &mut app,
        Action::Saved { item: 11, kind: AnnotationKind::Label, label: Some("clickbait".into()) },
    );
    loaded(&mut app, Some(pair_entry()));
    assert_eq!(press(&mut app, &km, 'a').len(), 1);
    assert_eq!(press(&mut app, &km, 'k').len(), 1, "the right item is still undecided");
    assert!(press(&mut app, &km, 'a').is_empty(), "both sides sent: refused");
}

/// The count of saves in flight decides when the entry moves on and what quitting waits for:
/// a failed load, undo or redo does not lower it; a failed save does, and frees its item.
#[test]
fn only_saves_count_as_pending_and_a_failed_save_can_be_given_again() {
    let (km, _) = Keymap::load(None);
    let mut app = App::new(labels(), "ana", "p");
    loaded(&mut app, Some(pair_entry()));
    press(&mut app, &km, 'a');
    assert_eq!(app.pending, 1);
    update(&mut app, Action::Failed("undo: database is locked".into()));
    assert_eq!(app.pending, 1, "a failed undo is not a save");
    update(&mut app, Action::Failed("cannot load the dashboard".into()));
    assert_eq!(app.pending, 1, "a failed load is not a save");
    update(&mut app, Action::SaveFailed { item: 10, msg: "not saved: disk I/O error".into() });
    assert_eq!(app.pending, 0);
    assert_eq!(
        press(&mut app, &km, 'a').len(),
        1,
        "the item whose save failed can be decided again"
    );
}

/// Loading the next entry can fail (not for a busy store: that is retried). The screen says
/// why, keys do not act on the entry already decided, and `r` tries again.
#[test]
fn a_failed_load_does_not_freeze_review_r_tries_again() {
    let (km, _) = Keymap::load(None);
    let mut app = App::new(labels(), "ana", "p");
    update(&mut app, Action::LoadFailed("cannot load the next item: disk I/O error".into()));
    assert!(!app.review.loading && app.review.load_failed);
    let (msg, level) = app.message.clone().unwrap();
    assert_eq!(level, hifi::tui::app::Level::Error);
    assert!(msg.contains("disk I/O error") && msg.contains("r: try again"), "{msg}");
    assert!(press(&mut app, &km, 'a').is_empty());
    assert!(app.message.as_ref().unwrap().0.contains("no item is on screen"));
    assert_eq!(press(&mut app, &km, 'r'), vec![Effect::LoadNext]);
    assert!(app.review.loading);
    loaded(&mut app, Some(pair_entry()));
    assert!(!app.review.load_failed);
    assert_eq!(press(&mut app, &km, 'a').len(), 1);
}

/// Quit with decisions still waiting for the store stays until they are committed and says
/// so; quit again leaves without them (the exit line says how many).
#[test]
fn quitting_waits_for_decisions_in_flight_or_leaves_on_a_second_quit() {
    let (km, _) = Keymap::load(None);
    let mut app = App::new(labels(), "ana", "p");
    loaded(&mut app, Some(single_entry(10, "q0")));
    press(&mut app, &km, 'a');
    assert!(press(&mut app, &km, 'Q').is_empty());
    assert!(!app.quit && app.leaving);
    let msg = &app.message.as_ref().unwrap().0;
    assert!(
        msg.contains("leaving once 1 decision(s) are saved")
            && msg.contains("again to leave without them"),
        "{msg}"
    );
    // Committed: now it leaves.
    assert_eq!(
        update(
            &mut app,
            Action::Saved {
                item: 10,
                kind: AnnotationKind::Label,
                label: Some("clickbait".into())
            }
        ),
        vec![Effect::Quit]
    );
    assert!(app.quit);
    // A second quit does not wait.
    let mut app = App::new(labels(), "ana", "p");
    loaded(&mut app, Some(single_entry(10, "q0")));
    press(&mut app, &km, 'a');
    press(&mut app, &km, 'Q');
    assert_eq!(press(&mut app, &km, 'Q'), vec![Effect::Quit]);
    assert!(app.quit && app.pending == 1);
    // Nothing in flight: quit is immediate.
    let mut app = App::new(labels(), "ana", "p");
    assert_eq!(press(&mut app, &km, 'Q'), vec![Effect::Quit]);
}
