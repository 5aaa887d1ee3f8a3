//! The dashboard's state: the numbers loaded from the store on entry and on refresh.

use super::Shared;
use crate::tui::action::{Action, Effect};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DashboardData {
    /// (annotator, labels in force)
    pub per_annotator: Vec<(String, i64)>,
    /// (label, count) in the eval split.
    pub eval_balance: Vec<(String, i64)>,
    pub train_size: i64,
    /// Mean pairwise Cohen's kappa between annotators on shared items, with the item count.
    pub expert_kappa: Option<(String, usize)>,
    /// The newest model vs resolved expert labels on the eval split.
    pub model_kappa: Option<(String, usize)>,
    /// (round, kappa) for the chart.
    pub rounds: Vec<(f64, f64)>,
    /// The stopping verdict over the rounds.
    pub verdict: Option<String>,
    /// The newest model on the audit stratum and eval labels that were not blind, as lines.
    pub audit: Vec<String>,
    /// The newest `hifi simulate`: (strategy, [(budget, kappa)]).
    pub simulation: Vec<(String, Vec<(f64, f64)>)>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DashboardState {
    /// `None` until loaded.
    pub data: Option<DashboardData>,
}

impl DashboardState {
    pub fn update(&mut self, _cx: &mut Shared, action: Action) -> Vec<Effect> {
        match action {
            Action::Refresh => vec![Effect::LoadDashboard],
            Action::DashboardLoaded(d) => {
                self.data = Some(*d);
                vec![]
            }
            _ => vec![],
        }
    }
}
