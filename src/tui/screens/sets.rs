//! The Sets screen's state: one built set under review, the selected entry; vetoes and
//! paging between sets.

use super::Shared;
use crate::tui::action::{Action, Effect};
use crate::tui::view::{Level, SetView};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SetsState {
    /// The set on screen (`None`: not loaded, or none built yet).
    pub set: Option<SetView>,
    pub sel: usize,
}

impl SetsState {
    /// The set to load on entering the screen or on refresh: the one on screen, else the newest.
    pub fn reload(&self) -> Effect {
        Effect::LoadSet(self.set.as_ref().map(|s| s.id))
    }

    pub fn update(&mut self, cx: &mut Shared, action: Action) -> Vec<Effect> {
        use Action::*;
        match action {
            Up | Down => {
                self.sel = super::step(
                    self.sel,
                    self.set.as_ref().map_or(0, |s| s.entries.len()),
                    action == Up,
                );
                vec![]
            }
            Refresh => vec![self.reload()],
            ToggleVeto => {
                match self.set.as_ref().and_then(|s| s.entries.get(self.sel).map(|e| (s.id, e))) {
                    Some((selection, e)) => {
                        vec![Effect::Veto { selection, rank: e.rank, restore: e.vetoed }]
                    }
                    None => vec![],
                }
            }
            PrevSet | NextSet => {
                let Some(s) = self.set.as_ref() else { return vec![] };
                let i = s.all.iter().position(|id| *id == s.id).unwrap_or(0);
                let j = if action == PrevSet {
                    i.saturating_sub(1)
                } else {
                    (i + 1).min(s.all.len().saturating_sub(1))
                };
                match s.all.get(j) {
                    Some(id) if *id != s.id => vec![Effect::LoadSet(Some(*id))],
                    _ => vec![],
                }
            }
            SetLoaded(s) => {
                let same = matches!((&self.set, &s), (Some(a), Some(b)) if a.id == b.id);
                self.set = s.map(|s| *s);
                let n = self.set.as_ref().map_or(0, |s| s.entries.len());
                self.sel = if same { self.sel.min(n.saturating_sub(1)) } else { 0 };
                vec![]
            }
            VetoSaved { selection, rank, vetoed } => {
                if let Some(e) = self
                    .set
                    .as_mut()
                    .filter(|s| s.id == selection)
                    .and_then(|s| s.entries.iter_mut().find(|e| e.rank == rank))
                {
                    e.vetoed = vetoed;
                    if !vetoed {
                        e.veto_reason = None;
                    }
                }
                let verb = if vetoed { "vetoed" } else { "restored" };
                cx.say(format!("{verb} entry {rank} of set {selection}"), Level::Info);
                vec![]
            }
            _ => vec![],
        }
    }
}
