//! `update(&mut App, Action) -> Vec<Effect>`: every state change, no I/O. What all screens
//! share (navigation, the clock, text input, the message line) is handled here; every other
//! action goes to the screen that owns it ([`super::screens`]).

use super::action::{Action, Effect};
use super::app::{App, InputPurpose, Screen, SCREENS};
use super::screens::Shared;
use crate::store::AnnotationKind;

pub fn update(app: &mut App, action: Action) -> Vec<Effect> {
    use Action::*;
    match action {
        Tick(now) => {
            app.now = now;
            vec![]
        }
        Quit => {
            app.quit = true;
            vec![Effect::Quit]
        }
        NextScreen | PrevScreen => {
            let i = SCREENS.iter().position(|s| *s == app.screen).unwrap_or(0);
            let n = SCREENS.len();
            let j = if action == NextScreen { (i + 1) % n } else { (i + n - 1) % n };
            go_to(app, SCREENS[j])
        }
        GoTo(s) => go_to(app, s),
        ToggleHelp => {
            app.show_help = !app.show_help;
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
        Saving(msg) => {
            app.message = Some((msg, super::app::Level::Info));
            vec![]
        }
        Failed(msg) => {
            app.pending = app.pending.saturating_sub(1);
            app.message = Some((msg, super::app::Level::Error));
            vec![]
        }
        Saved { kind, .. } => {
            app.pending = app.pending.saturating_sub(1);
            if app.message.as_ref().is_some_and(|(m, _)| m.starts_with("saving…")) {
                app.message = None;
            }
            let owner = if kind == AnnotationKind::Resolve { Screen::Adjudicate } else { Screen::Review };
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
        // The current screen's list.
        Up | Down | Refresh => {
            let screen = app.screen;
            to_screen(app, screen, action)
        }
        LabelLeft(_) | LabelRight(_) | LabelBoth(_) | Skip | Flag | StartNote | Undo | Redo | ToggleGuidelines | TogglePredictions | Scroll(_) | Loaded { .. } | Undone(_) | Redone(_) => {
            to_screen(app, Screen::Review, action)
        }
        StartJob | CancelJob | JobProgress { .. } | JobLoss { .. } | AskConfirm { .. } | Confirm(_) | PipelineLoaded(_) => to_screen(app, Screen::Pipeline, action),
        DashboardLoaded(_) => to_screen(app, Screen::Dashboard, action),
        Resolve(_) | ConflictsLoaded(_) => to_screen(app, Screen::Adjudicate, action),
        ToggleVeto | PrevSet | NextSet | SetLoaded(_) | VetoSaved { .. } => to_screen(app, Screen::Sets, action),
    }
}

/// Borrow what the screens share, beside the screens' own states.
macro_rules! shared {
    ($app:expr) => {
        Shared { labels: &$app.labels, annotator: &$app.annotator, now: $app.now, message: &mut $app.message, input: &mut $app.input, pending: &mut $app.pending }
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
        Screen::Review => vec![],
    }
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::action::Action;
    use crate::tui::app::{JobState, Stage};

    #[test]
    fn a_hifi_toml_command_runs_only_after_a_yes() {
        let mut app = App::new(vec![], "ana", "p");
        let ask = || Action::AskConfirm { stage: Stage::LoraRound, command: "train.sh {out}".into() };
        assert!(update(&mut app, ask()).is_empty());
        assert_eq!(app.pipeline.confirm, Some((Stage::LoraRound, "train.sh {out}".into())));
        assert!(update(&mut app, Action::Confirm(false)).is_empty(), "no runs nothing");
        assert!(app.pipeline.confirm.is_none() && app.message.as_ref().is_some_and(|m| m.0.starts_with("not run")));
        update(&mut app, ask());
        let fx = update(&mut app, Action::Confirm(true));
        assert_eq!(fx, vec![Effect::StartConfirmed { stage: Stage::LoraRound, command: "train.sh {out}".into() }]);
        assert!(app.pipeline.confirm.is_none());
        assert!(matches!(app.pipeline.state(Stage::LoraRound), Some(JobState::Running { .. })));
        assert!(update(&mut app, Action::Confirm(true)).is_empty(), "an answer without a question does nothing");
    }
}
