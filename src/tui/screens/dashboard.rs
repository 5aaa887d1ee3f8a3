//! The dashboard's state: the numbers loaded from the store on entry and on refresh.

use super::Shared;
use crate::tui::action::{Action, Effect};
use crate::tui::view::DashboardData;

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
