//! `update(&mut App, Action) -> Vec<Effect>`: every state change, no I/O. What all screens
//! share (navigation, the clock, text input, the message line) is handled here; every other
//! action goes to the screen that owns it ([`super::screens`]).

use super::action::{Action, BrowseKey, Effect};
use super::app::{App, InputPurpose, Level, Screen, SCREENS};
use super::screens::Shared;
use crate::responses::editor::EditOutcome;
use crate::store::AnnotationKind;

pub fn update(app: &mut App, action: Action) -> Vec<Effect> {
    use Action::*;
    if app.show_help {
        if let Some(fx) = help_key(app, &action) {
            return fx;
        }
    }
    match action {
        Tick(now) => {
            app.now = now;
            vec![]
        }
        Quit => quit(app),
        NextScreen | PrevScreen => {
            let i = SCREENS.iter().position(|s| *s == app.screen).unwrap_or(0);
            let n = SCREENS.len();
            let j = if action == NextScreen { (i + 1) % n } else { (i + n - 1) % n };
            go_to(app, SCREENS[j])
        }
        GoTo(s) => go_to(app, s),
        ToggleHelp => {
            app.show_help = !app.show_help;
            app.help_scroll = 0;
            app.help_memo.max_scroll.set(None);
            vec![]
        }
        Input(c) => {
            if let Some(inp) = app.input.as_mut() {
                if !c.is_control() && inp.text.chars().count() < 2000 {
                    inp.text.push(c);
                }
            }
            vec![]
        }
        Backspace => {
            if let Some(inp) = app.input.as_mut() {
                inp.text.pop();
            }
            vec![]
        }
        CancelInput => {
            app.input = None;
            vec![]
        }
        Submit => submit(app),
        Waiting(msg) => {
            // Never over what the user must read (a refused key, an error).
            if app.message.as_ref().is_none_or(|m| m.1 == Level::Info) {
                app.message = Some((msg, Level::Info));
            }
            vec![]
        }
        // A load, an undo or a redo that failed: no save was in flight for it.
        Failed(msg) => {
            app.message = Some((msg, Level::Error));
            vec![]
        }
        ResponseSaveFailed { .. } => {
            app.pending = app.pending.saturating_sub(1);
            app.leaving = false;
            to_screen(app, Screen::Responses, action)
        }
        ResponseSaved { .. } => {
            app.pending = app.pending.saturating_sub(1);
            clear_waiting(app);
            if leave_if_saved(app) {
                return vec![Effect::Quit];
            }
            to_screen(app, Screen::Responses, action)
        }
        ResponsesLoaded { .. } | ResponseItemLoaded(_) | ResponseUndone { .. } => {
            clear_waiting(app);
            to_screen(app, Screen::Responses, action)
        }
        Resp(_) | ResponseLoadFailed(_) | Edited { .. } => {
            to_screen(app, Screen::Responses, action)
        }
        Browse(BrowseKey::EditGuidelines) => {
            app.message = None;
            vec![Effect::EditGuidelines]
        }
        BrowseSaved { .. } => {
            app.pending = app.pending.saturating_sub(1);
            clear_waiting(app);
            if leave_if_saved(app) {
                return vec![Effect::Quit];
            }
            to_screen(app, Screen::Browse, action)
        }
        BrowseSaveFailed { .. } => {
            app.pending = app.pending.saturating_sub(1);
            app.leaving = false;
            to_screen(app, Screen::Browse, action)
        }
        WorkQueued { .. } => {
            let mut out = to_screen(app, Screen::Browse, action);
            out.extend(app.review.queue_changed());
            out
        }
        LabelsChanged { ref labels, .. } => {
            app.labels = labels.clone();
            to_screen(app, Screen::Browse, action)
        }
        Browse(_)
        | Panel(_)
        | Indexing(_)
        | Found { .. }
        | FindFailed { .. }
        | HistoryLoaded(_)
        | HistoryFailed { .. }
        | SecondOpinionQueued { .. }
        | LabelCounts(_)
        | LabelsChangeFailed(_) => to_screen(app, Screen::Browse, action),
        GuidelinesLoaded(g) => {
            app.guidelines = g;
            vec![]
        }
        GuidelinesEdited { base, outcome } => guidelines_edited(app, base, outcome),
        GuidelinesSaved { version, text } => {
            let said = match (version, &app.guidelines) {
                (Some(v), _) => {
                    format!("guidelines saved as version {v}: decisions from now on record it")
                }
                (None, Some((v, _))) => {
                    format!("guidelines.md written; the text is version {v}'s already")
                }
                (None, None) => "guidelines.md written".to_string(),
            };
            if let Some(v) = version {
                app.guidelines = Some((v, text));
            }
            app.message = Some((said, Level::Info));
            vec![]
        }
        SaveFailed { ref msg, .. } => {
            app.pending = app.pending.saturating_sub(1);
            // Stay to show it: the decision is not saved and may be given again.
            app.leaving = false;
            app.message = Some((msg.clone(), Level::Error));
            to_screen(app, Screen::Review, action)
        }
        Saved { kind, .. } => {
            app.pending = app.pending.saturating_sub(1);
            clear_waiting(app);
            if leave_if_saved(app) {
                return vec![Effect::Quit];
            }
            let owner =
                if kind == AnnotationKind::Resolve { Screen::Adjudicate } else { Screen::Review };
            to_screen(app, owner, action)
        }
        JobFinished { stage, .. } => {
            let mut out = to_screen(app, Screen::Pipeline, action);
            // A new queue may be waiting after mining.
            if stage.mines() {
                out.extend(app.review.queue_changed());
            }
            out
        }
        // The current screen's list; a label set to confirm (Review, Adjudicate).
        Up | Down | Refresh | ConfirmSet => {
            let screen = app.screen;
            to_screen(app, screen, action)
        }
        Loaded { .. } | DashboardLoaded(_) => {
            clear_waiting(app);
            let owner =
                if matches!(action, Loaded { .. }) { Screen::Review } else { Screen::Dashboard };
            to_screen(app, owner, action)
        }
        // An undo from Browse: Review reads its entry again, Browse its item.
        Undone(_) if app.screen == Screen::Browse => {
            let mut out = to_screen(app, Screen::Review, action.clone());
            out.extend(to_screen(app, Screen::Browse, action));
            out
        }
        LabelLeft(_) | LabelRight(_) | LabelBoth(_) | Skip | Flag | StartNote | Undo | Redo
        | ToggleGuidelines | TogglePredictions | Scroll(_) | Undone(_) | Redone(_)
        | LoadFailed(_) => to_screen(app, Screen::Review, action),
        StartJob
        | CancelJob
        | JobProgress { .. }
        | JobLoss { .. }
        | AskConfirm { .. }
        | Confirm(_)
        | PipelineLoaded(_) => to_screen(app, Screen::Pipeline, action),
        Resolve(_) | ConflictsLoaded(_) => to_screen(app, Screen::Adjudicate, action),
        ToggleVeto | PrevSet | NextSet | SetLoaded(_) | VetoSaved { .. } => {
            to_screen(app, Screen::Sets, action)
        }
    }
}

/// The line a retried write or load shows while another process holds the store.
const WAITING: [&str; 2] = ["saving…", "waiting for the store…"];

fn clear_waiting(app: &mut App) {
    if app.message.as_ref().is_some_and(|(m, _)| WAITING.iter().any(|w| m.starts_with(w))) {
        app.message = None;
    }
}

/// `q`: leave at once when nothing is in flight. With saves still waiting for the store (another
/// process holds its write lock), stay until they are committed and say so; `q` again leaves
/// without them — what the screen acknowledged is committed already.
fn quit(app: &mut App) -> Vec<Effect> {
    if app.pending == 0 || app.leaving {
        app.quit = true;
        return vec![Effect::Quit];
    }
    app.leaving = true;
    app.message = Some((
        format!("leaving once {} decision(s) are saved (another hifi process may hold the store); press quit again to leave without them", app.pending),
        Level::Warn,
    ));
    vec![]
}

/// After a save ended: leave if the user asked to and nothing is in flight any more.
fn leave_if_saved(app: &mut App) -> bool {
    if app.leaving && app.pending == 0 {
        app.quit = true;
    }
    app.quit
}

/// Borrow what the screens share, beside the screens' own states.
macro_rules! shared {
    ($app:expr) => {
        Shared {
            labels: &$app.labels,
            multi_label: $app.multi_label,
            annotator: &$app.annotator,
            now: $app.now,
            message: &mut $app.message,
            input: &mut $app.input,
            pending: &mut $app.pending,
        }
    };
}

/// Hand `action` to `screen`'s update.
fn to_screen(app: &mut App, screen: Screen, action: Action) -> Vec<Effect> {
    let mut cx = shared!(app);
    match screen {
        Screen::Review => app.review.update(&mut cx, action),
        Screen::Pipeline => app.pipeline.update(&mut cx, action),
        Screen::Dashboard => app.dashboard.update(&mut cx, action),
        Screen::Adjudicate => app.adjudicate.update(&mut cx, action),
        Screen::Sets => app.sets.update(&mut cx, action),
        Screen::Responses => app.responses.update(&mut cx, action),
        Screen::Browse => app.browse.update(&mut cx, action),
    }
}

fn go_to(app: &mut App, s: Screen) -> Vec<Effect> {
    app.screen = s;
    app.show_help = false;
    match s {
        Screen::Pipeline => vec![Effect::LoadPipeline],
        Screen::Dashboard => vec![Effect::LoadDashboard],
        Screen::Adjudicate => vec![Effect::LoadConflicts],
        Screen::Sets => vec![app.sets.reload()],
        Screen::Responses => vec![app.responses.open()],
        Screen::Browse => {
            let mut cx = shared!(app);
            app.browse.open(&mut cx)
        }
        Screen::Review => vec![],
    }
}

/// Keys while the help overlay is open: the scroll keys scroll it, back closes it; `None`
/// for every other key (it acts as usual).
fn help_key(app: &mut App, action: &Action) -> Option<Vec<Effect>> {
    let page = app.help_memo.page.get().unwrap_or(10).saturating_sub(1).max(1) as i64;
    let delta = match action {
        Action::Browse(BrowseKey::Back) => {
            app.show_help = false;
            return Some(vec![]);
        }
        Action::Scroll(d) => i64::from(d.signum()) * page,
        Action::Up => -1,
        Action::Down => 1,
        Action::Browse(BrowseKey::Lines(d)) => i64::from(*d),
        Action::Browse(BrowseKey::Pages(d)) => i64::from(*d) * page,
        Action::Browse(BrowseKey::Top) => i64::MIN / 2,
        Action::Browse(BrowseKey::Bottom) => i64::MAX / 2,
        _ => return None,
    };
    let max = app.help_memo.max_scroll.get();
    let cur = max.map_or(app.help_scroll, |m| app.help_scroll.min(m)) as i64;
    let next = cur.saturating_add(delta).max(0) as usize;
    app.help_scroll = max.map_or(next, |m| next.min(m));
    Some(vec![])
}

/// The editor returned from the guidelines: a changed text is written and recorded.
fn guidelines_edited(app: &mut App, base: Option<String>, outcome: EditOutcome) -> Vec<Effect> {
    let said = match outcome {
        EditOutcome::Changed(text) => {
            app.message = None;
            return vec![Effect::SaveGuidelines { base, text }];
        }
        EditOutcome::Unchanged if base.is_none() => (
            "guidelines unchanged: nothing saved (guidelines.md was not created)".to_string(),
            Level::Warn,
        ),
        EditOutcome::Unchanged => ("guidelines unchanged: nothing saved".to_string(), Level::Warn),
        EditOutcome::Empty => ("guidelines empty: nothing saved".to_string(), Level::Warn),
        EditOutcome::Failed(why) => (format!("nothing saved: {why}"), Level::Error),
    };
    app.message = Some(said);
    vec![]
}

fn submit(app: &mut App) -> Vec<Effect> {
    let Some(inp) = app.input.take() else { return vec![] };
    match inp.purpose {
        InputPurpose::Note => {
            app.review.set_note(&inp.text);
            vec![]
        }
        InputPurpose::Reason { item, label } => {
            let mut cx = shared!(app);
            app.adjudicate.submit_reason(&mut cx, item, label, &inp.text)
        }
        InputPurpose::SetReason { item, set } => {
            let mut cx = shared!(app);
            app.adjudicate.submit_set_reason(&mut cx, item, set, &inp.text)
        }
        InputPurpose::RejectReason { item, number } => {
            let mut cx = shared!(app);
            app.responses.submit_reason(&mut cx, item, number, &inp.text)
        }
        InputPurpose::Search => {
            let mut cx = shared!(app);
            app.browse.submit_search(&mut cx, &inp.text)
        }
        InputPurpose::BrowseNote => {
            app.browse.set_note(&inp.text);
            vec![]
        }
        purpose @ (InputPurpose::NewLabelName
        | InputPurpose::NewLabelDefinition { .. }
        | InputPurpose::RenameLabel { .. }
        | InputPurpose::MergeLabel { .. }) => {
            let mut cx = shared!(app);
            app.browse.submit_label_text(&mut cx, purpose, &inp.text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::action::Action;
    use crate::tui::app::{Job, JobState};

    #[test]
    fn a_hifi_toml_command_runs_only_after_a_yes() {
        let mut app = App::new(vec![], "ana", "p");
        let ask = || Action::AskConfirm { stage: Job::LoraRound, command: "train.sh {out}".into() };
        assert!(update(&mut app, ask()).is_empty());
        assert_eq!(app.pipeline.confirm, Some((Job::LoraRound, "train.sh {out}".into())));
        assert!(update(&mut app, Action::Confirm(false)).is_empty(), "no runs nothing");
        assert!(
            app.pipeline.confirm.is_none()
                && app.message.as_ref().is_some_and(|m| m.0.starts_with("not run"))
        );
        update(&mut app, ask());
        let fx = update(&mut app, Action::Confirm(true));
        assert_eq!(
            fx,
            vec![Effect::StartConfirmed {
                stage: Job::LoraRound,
                command: "train.sh {out}".into()
            }]
        );
        assert!(app.pipeline.confirm.is_none());
        assert!(matches!(app.pipeline.state(Job::LoraRound), Some(JobState::Running { .. })));
        assert!(
            update(&mut app, Action::Confirm(true)).is_empty(),
            "an answer without a question does nothing"
        );
    }
}
