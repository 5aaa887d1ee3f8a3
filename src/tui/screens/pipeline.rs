//! The pipeline screen's state: each stage's background job, the LoRA loss curve, and the
//! question asked before a hifi.toml command runs.

use super::Shared;
use crate::tui::action::{Action, Effect};
use crate::tui::view::{Job, JobState, Level, JOBS};

#[derive(Debug, Clone, PartialEq)]
pub struct PipelineState {
    pub jobs: Vec<(Job, JobState)>,
    /// The running (or last) job's training loss per step, for the pipeline's curve.
    pub loss_curve: Vec<f64>,
    /// The selected stage.
    pub sel: usize,
    /// A hifi.toml command waiting for the user's yes before `stage` runs it.
    pub confirm: Option<(Job, String)>,
    /// What the store holds of each stage's work (`None`: not loaded yet). Loaded on the
    /// worker when the screen is entered and after each job.
    pub stored: Option<Vec<(Job, String)>>,
}

impl Default for PipelineState {
    fn default() -> Self {
        PipelineState {
            jobs: JOBS.iter().map(|s| (*s, JobState::Idle)).collect(),
            loss_curve: Vec::new(),
            sel: 0,
            confirm: None,
            stored: None,
        }
    }
}

impl PipelineState {
    pub fn update(&mut self, cx: &mut Shared, action: Action) -> Vec<Effect> {
        use Action::*;
        match action {
            Up | Down => {
                self.sel = super::step(self.sel, JOBS.len(), action == Up);
                vec![]
            }
            StartJob => {
                let (stage, state) = &self.jobs[self.sel.min(self.jobs.len() - 1)];
                if matches!(state, JobState::Running { .. }) {
                    return vec![];
                }
                let stage = *stage;
                if let Some(why) = self.refusal(stage) {
                    cx.say(why, Level::Warn);
                    return vec![];
                }
                if stage == Job::LoraRound {
                    self.loss_curve.clear();
                }
                self.set(
                    stage,
                    JobState::Running {
                        done: 0,
                        total: 0,
                        note: "starting".into(),
                        started: cx.now,
                    },
                );
                vec![Effect::StartJob(stage)]
            }
            CancelJob => {
                let (stage, state) = &self.jobs[self.sel.min(self.jobs.len() - 1)];
                if matches!(state, JobState::Running { .. }) {
                    vec![Effect::CancelJob(*stage)]
                } else {
                    vec![]
                }
            }
            JobProgress { stage, done, total, note } => {
                let started = match self.state(stage) {
                    Some(JobState::Running { started, .. }) => *started,
                    _ => cx.now,
                };
                self.set(stage, JobState::Running { done, total, note, started });
                vec![]
            }
            JobLoss { stage, loss } => {
                if stage == Job::LoraRound && loss.is_finite() {
                    self.loss_curve.push(loss);
                }
                vec![]
            }
            JobFinished { stage, result, cancelled } => {
                let state = match (result, cancelled) {
                    (Ok(s) | Err(s), true) => JobState::Cancelled(s),
                    (Ok(s), false) => JobState::Done(s),
                    (Err(e), false) => JobState::Failed(e),
                };
                self.set(stage, state);
                vec![Effect::LoadPipeline]
            }
            Refresh => vec![Effect::LoadPipeline],
            PipelineLoaded(stored) => {
                self.stored = Some(stored);
                vec![]
            }
            AskConfirm { stage, command } => {
                self.set(stage, JobState::Idle);
                self.confirm = Some((stage, command));
                vec![]
            }
            Confirm(yes) => {
                let Some((stage, command)) = self.confirm.take() else { return vec![] };
                if !yes {
                    cx.say(
                        format!(
                            "not run: the {} stage needs hifi.toml's [train] external command",
                            stage.title()
                        ),
                        Level::Warn,
                    );
                    return vec![];
                }
                if let Some(why) = self.refusal(stage) {
                    cx.say(why, Level::Warn);
                    return vec![];
                }
                self.set(
                    stage,
                    JobState::Running {
                        done: 0,
                        total: 0,
                        note: "starting".into(),
                        started: cx.now,
                    },
                );
                vec![Effect::StartConfirmed { stage, command }]
            }
            _ => vec![],
        }
    }

    /// Why `stage` may not start now: another model-loading stage is running.
    fn refusal(&self, stage: Job) -> Option<String> {
        if !stage.loads_model() {
            return None;
        }
        let (other, _) = self.jobs.iter().find(|(s, st)| {
            *s != stage && s.loads_model() && matches!(st, JobState::Running { .. })
        })?;
        Some(format!(
            "{} not started: {} is running and loads a model; one model-loading stage runs at a time (wait for it, or cancel it)",
            stage.title(),
            other.title()
        ))
    }

    /// What the store holds of `stage`'s work, if loaded and any.
    pub fn stored(&self, stage: Job) -> Option<&str> {
        self.stored.as_ref()?.iter().find(|s| s.0 == stage).map(|s| s.1.as_str())
    }

    /// The job state of `stage`.
    pub fn state(&self, stage: Job) -> Option<&JobState> {
        self.jobs.iter().find(|j| j.0 == stage).map(|j| &j.1)
    }

    fn set(&mut self, stage: Job, state: JobState) {
        if let Some(j) = self.jobs.iter_mut().find(|j| j.0 == stage) {
            j.1 = state;
        }
    }
}
