//! `update(&mut App, Action) -> Vec<Effect>`: every state change, no I/O.

use super::action::{Action, Effect};
use super::app::{App, Input as TextInput, InputPurpose, JobState, Level, Screen, SCREENS, STAGES};
use crate::store::{Annotation, AnnotationKind};

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
        ToggleGuidelines => {
            app.show_guidelines = !app.show_guidelines;
            vec![]
        }
        TogglePredictions => {
            if app.entry.as_ref().is_some_and(|e| e.entry.audit) {
                app.message = Some(("audit items are labeled blind: the model's prediction stays hidden".into(), Level::Warn));
            } else {
                app.show_predictions = !app.show_predictions;
                let what = if app.show_predictions { "shown: labels from now on are recorded as not blind" } else { "hidden: labels are recorded as blind" };
                app.message = Some((format!("model predictions {what}"), Level::Info));
            }
            vec![]
        }
        Scroll(d) => {
            app.scroll = (i32::from(app.scroll) + d).clamp(0, 10_000) as u16;
            vec![]
        }
        LabelLeft(i) => label(app, &[0], i),
        LabelRight(i) => label(app, &[1], i),
        LabelBoth(i) => label(app, &[0, 1], i),
        Skip => decide_rest(app, AnnotationKind::Skip),
        Flag => {
            if app.flagged {
                return vec![];
            }
            app.flagged = true;
            decide_kind(app, AnnotationKind::Flag, false)
        }
        StartNote => {
            if app.entry.is_some() {
                app.input = Some(TextInput { purpose: InputPurpose::Note, text: app.note.clone().unwrap_or_default() });
            }
            vec![]
        }
        Undo => {
            app.message = None;
            vec![Effect::Undo]
        }
        Redo => {
            app.message = None;
            vec![Effect::Redo]
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
        Up | Down => {
            let up = action == Up;
            match app.screen {
                Screen::Pipeline => app.stage_sel = step(app.stage_sel, STAGES.len(), up),
                Screen::Adjudicate => app.conflict_sel = step(app.conflict_sel, app.conflicts.len(), up),
                Screen::Sets => app.set_sel = step(app.set_sel, app.set.as_ref().map_or(0, |s| s.entries.len()), up),
                _ => {}
            }
            vec![]
        }
        StartJob => {
            let (stage, state) = &app.jobs[app.stage_sel.min(app.jobs.len() - 1)];
            match state {
                JobState::Running { .. } => vec![],
                _ => {
                    let stage = *stage;
                    if stage == super::app::Stage::Lora {
                        app.loss_curve.clear();
                    }
                    set_job(app, stage, JobState::Running { done: 0, total: 0, note: "starting".into(), started: app.now });
                    vec![Effect::StartJob(stage)]
                }
            }
        }
        CancelJob => {
            let (stage, state) = &app.jobs[app.stage_sel.min(app.jobs.len() - 1)];
            if matches!(state, JobState::Running { .. }) {
                vec![Effect::CancelJob(*stage)]
            } else {
                vec![]
            }
        }
        Refresh => match app.screen {
            Screen::Dashboard => vec![Effect::LoadDashboard],
            Screen::Adjudicate => vec![Effect::LoadConflicts],
            Screen::Sets => vec![Effect::LoadSet(app.set.as_ref().map(|s| s.id))],
            _ => vec![],
        },
        ToggleVeto => match app.set.as_ref().and_then(|s| s.entries.get(app.set_sel).map(|e| (s.id, e))) {
            Some((selection, e)) => vec![Effect::Veto { selection, rank: e.rank, restore: e.vetoed }],
            None => vec![],
        },
        PrevSet | NextSet => {
            let Some(s) = app.set.as_ref() else { return vec![] };
            let i = s.all.iter().position(|id| *id == s.id).unwrap_or(0);
            let j = if action == PrevSet { i.saturating_sub(1) } else { (i + 1).min(s.all.len().saturating_sub(1)) };
            match s.all.get(j) {
                Some(id) if *id != s.id => vec![Effect::LoadSet(Some(*id))],
                _ => vec![],
            }
        }
        SetLoaded(s) => {
            let same = matches!((&app.set, &s), (Some(a), Some(b)) if a.id == b.id);
            app.set = s.map(|s| *s);
            let n = app.set.as_ref().map_or(0, |s| s.entries.len());
            app.set_sel = if same { app.set_sel.min(n.saturating_sub(1)) } else { 0 };
            vec![]
        }
        VetoSaved { selection, rank, vetoed } => {
            if let Some(e) = app.set.as_mut().filter(|s| s.id == selection).and_then(|s| s.entries.iter_mut().find(|e| e.rank == rank)) {
                e.vetoed = vetoed;
                if !vetoed {
                    e.veto_reason = None;
                }
            }
            let verb = if vetoed { "vetoed" } else { "restored" };
            app.message = Some((format!("{verb} entry {rank} of set {selection}"), Level::Info));
            vec![]
        }
        Resolve(i) => {
            if app.labels.get(i).is_none() {
                return vec![];
            }
            if let Some(c) = app.conflicts.get(app.conflict_sel) {
                app.input = Some(TextInput { purpose: InputPurpose::Reason { item: c.item, label: i }, text: String::new() });
            }
            vec![]
        }
        Loaded { entry, done, total } => {
            app.loading = false;
            app.done = done;
            app.total = total;
            app.decided.clear();
            app.flagged = false;
            app.scroll = 0;
            app.entry_started = app.now;
            app.queue_empty = entry.is_none();
            app.entry = entry.map(|e| *e);
            vec![]
        }
        Saved { item, kind, label } => {
            app.pending = app.pending.saturating_sub(1);
            if app.message.as_ref().is_some_and(|(m, _)| m.starts_with("saving…")) {
                app.message = None;
            }
            if kind == AnnotationKind::Resolve {
                app.conflicts.retain(|c| c.item != item);
                app.conflict_sel = app.conflict_sel.min(app.conflicts.len().saturating_sub(1));
                app.message = Some(("resolution saved".into(), Level::Info));
                return vec![];
            }
            if kind == AnnotationKind::Label {
                app.session_labels += 1;
                app.first_label_at.get_or_insert(app.now);
                if let Some(e) = app.entry.as_mut() {
                    for it in std::iter::once(&mut e.a).chain(e.b.as_mut()) {
                        if it.key == item {
                            it.mine = label.clone();
                        }
                    }
                }
            }
            if matches!(kind, AnnotationKind::Label | AnnotationKind::Skip) && !app.decided.contains(&item) {
                app.decided.push(item);
            }
            maybe_advance(app)
        }
        Undone(_) | Redone(_) => {
            let verb = if matches!(action, Undone(_)) { "undid" } else { "redid" };
            let (Undone(ev) | Redone(ev)) = action else { return vec![] };
            match ev {
                Some(e) => {
                    app.message = Some((format!("{verb} {} {}", e.kind.as_str(), e.label.unwrap_or_default()), Level::Info));
                    app.loading = true;
                    vec![Effect::LoadNext]
                }
                None => {
                    app.message = Some((format!("nothing to {}", if verb == "undid" { "undo" } else { "redo" }), Level::Info));
                    vec![]
                }
            }
        }
        Saving(msg) => {
            app.message = Some((msg, Level::Info));
            vec![]
        }
        Failed(msg) => {
            app.pending = app.pending.saturating_sub(1);
            app.message = Some((msg, Level::Error));
            vec![]
        }
        JobProgress { stage, done, total, note } => {
            let started = match app.jobs.iter().find(|j| j.0 == stage) {
                Some((_, JobState::Running { started, .. })) => *started,
                _ => app.now,
            };
            set_job(app, stage, JobState::Running { done, total, note, started });
            vec![]
        }
        JobLoss { stage, loss } => {
            if stage == super::app::Stage::Lora && loss.is_finite() {
                app.loss_curve.push(loss);
            }
            vec![]
        }
        JobFinished { stage, result } => {
            let state = match result {
                Ok(s) => JobState::Done(s),
                Err(e) => JobState::Failed(e),
            };
            set_job(app, stage, state);
            // A new queue may be waiting after mining.
            if matches!(stage, super::app::Stage::Mine | super::app::Stage::Train) && (app.entry.is_none() || app.queue_empty) {
                app.loading = true;
                return vec![Effect::LoadNext];
            }
            vec![]
        }
        DashboardLoaded(d) => {
            app.dashboard = Some(*d);
            vec![]
        }
        AskConfirm { stage, command } => {
            set_job(app, stage, JobState::Idle);
            app.confirm = Some((stage, command));
            vec![]
        }
        Confirm(yes) => {
            let Some((stage, command)) = app.confirm.take() else { return vec![] };
            if !yes {
                app.message = Some((format!("not run: the {} stage needs hifi.toml's [train] external command", stage.title()), Level::Warn));
                return vec![];
            }
            set_job(app, stage, JobState::Running { done: 0, total: 0, note: "starting".into(), started: app.now });
            vec![Effect::StartConfirmed { stage, command }]
        }
        ConflictsLoaded(c) => {
            app.conflicts = c;
            app.conflict_sel = app.conflict_sel.min(app.conflicts.len().saturating_sub(1));
            vec![]
        }
    }
}

fn go_to(app: &mut App, s: Screen) -> Vec<Effect> {
    app.screen = s;
    app.show_help = false;
    match s {
        Screen::Dashboard => vec![Effect::LoadDashboard],
        Screen::Adjudicate => vec![Effect::LoadConflicts],
        Screen::Sets => vec![Effect::LoadSet(app.set.as_ref().map(|s| s.id))],
        _ => vec![],
    }
}

fn step(i: usize, n: usize, up: bool) -> usize {
    if n == 0 {
        0
    } else if up {
        i.saturating_sub(1)
    } else {
        (i + 1).min(n - 1)
    }
}

fn set_job(app: &mut App, stage: super::app::Stage, state: JobState) {
    if let Some(j) = app.jobs.iter_mut().find(|j| j.0 == stage) {
        j.1 = state;
    }
}

/// Keys of the entry's items at `sides` (0 = left/single, 1 = right).
fn items_at(app: &App, sides: &[usize]) -> Vec<i64> {
    let Some(e) = &app.entry else { return vec![] };
    sides
        .iter()
        .filter_map(|s| match s {
            0 => Some(e.a.key),
            _ => e.b.as_ref().map(|b| b.key),
        })
        .collect()
}

fn label(app: &mut App, sides: &[usize], i: usize) -> Vec<Effect> {
    if app.loading || app.labels.get(i).is_none() {
        return vec![];
    }
    // On a single-item entry, a right-hand key labels the one item too.
    let single = app.entry.as_ref().is_some_and(|e| e.b.is_none());
    let sides: Vec<usize> = if single { vec![0] } else { sides.to_vec() };
    let keys = items_at(app, &sides);
    let label = app.labels[i].name.clone();
    let note = app.note.take();
    app.message = None;
    let mut out = Vec::new();
    for key in keys {
        app.pending += 1;
        out.push(Effect::Annotate(Annotation {
            item: key,
            annotator: app.annotator.clone(),
            kind: AnnotationKind::Label,
            label: Some(label.clone()),
            note: note.clone(),
            suggestion: Some(app.suggestion_visible()),
        }));
    }
    out
}

/// A skip or flag event for items not yet decided (`only_undecided`) or all items.
fn decide_kind(app: &mut App, kind: AnnotationKind, only_undecided: bool) -> Vec<Effect> {
    if app.loading {
        return vec![];
    }
    let keys: Vec<i64> = items_at(app, &[0, 1]).into_iter().filter(|k| !only_undecided || !app.decided.contains(k)).collect();
    let note = if kind == AnnotationKind::Flag { app.note.clone() } else { app.note.take() };
    let mut out = Vec::new();
    for key in keys {
        app.pending += 1;
        out.push(Effect::Annotate(Annotation { item: key, annotator: app.annotator.clone(), kind, label: None, note: note.clone(), suggestion: Some(app.suggestion_visible()) }));
    }
    out
}

fn decide_rest(app: &mut App, kind: AnnotationKind) -> Vec<Effect> {
    let out = decide_kind(app, kind, true);
    if out.is_empty() {
        return maybe_advance(app);
    }
    out
}

/// Move on once every item of the entry is decided and every save is committed.
fn maybe_advance(app: &mut App) -> Vec<Effect> {
    let Some(e) = &app.entry else { return vec![] };
    let all = e.items().all(|it| app.decided.contains(&it.key));
    if all && app.pending == 0 && !app.loading {
        app.loading = true;
        return vec![Effect::LoadNext];
    }
    vec![]
}

fn submit(app: &mut App) -> Vec<Effect> {
    let Some(inp) = app.input.take() else { return vec![] };
    match inp.purpose {
        InputPurpose::Note => {
            let t = inp.text.trim().to_string();
            app.note = (!t.is_empty()).then_some(t);
            vec![]
        }
        InputPurpose::Reason { item, label } => {
            let reason = inp.text.trim().to_string();
            if reason.is_empty() {
                app.message = Some(("a resolution needs a reason".into(), Level::Warn));
                app.input = Some(TextInput { purpose: InputPurpose::Reason { item, label }, text: String::new() });
                return vec![];
            }
            app.pending += 1;
            vec![Effect::Annotate(Annotation {
                item,
                annotator: app.annotator.clone(),
                kind: AnnotationKind::Resolve,
                label: app.labels.get(label).map(|l| l.name.clone()),
                note: Some(reason),
                suggestion: Some(false),
            })]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::action::Action;
    use crate::tui::app::Stage;

    #[test]
    fn a_hifi_toml_command_runs_only_after_a_yes() {
        let mut app = App::new(vec![], "ana", "p");
        let ask = || Action::AskConfirm { stage: Stage::Lora, command: "train.sh {out}".into() };
        assert!(update(&mut app, ask()).is_empty());
        assert_eq!(app.confirm, Some((Stage::Lora, "train.sh {out}".into())));
        assert!(update(&mut app, Action::Confirm(false)).is_empty(), "no runs nothing");
        assert!(app.confirm.is_none() && app.message.as_ref().is_some_and(|m| m.0.starts_with("not run")));
        update(&mut app, ask());
        let fx = update(&mut app, Action::Confirm(true));
        assert_eq!(fx, vec![Effect::StartConfirmed { stage: Stage::Lora, command: "train.sh {out}".into() }]);
        assert!(app.confirm.is_none());
        assert!(matches!(app.jobs.iter().find(|j| j.0 == Stage::Lora).map(|j| &j.1), Some(JobState::Running { .. })));
        assert!(update(&mut app, Action::Confirm(true)).is_empty(), "an answer without a question does nothing");
    }
}
