//! A kappa with its interval, the shape every agreement number in a round report takes.

use serde::{Deserialize, Serialize};

use crate::metrics::Kappa;

/// Bootstrap replicates for every interval here.
pub const REPS: usize = 1000;

/// A kappa with its 95% bootstrap interval, or why it has none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    /// Items it was computed on.
    pub n: usize,
    pub kappa: Option<f64>,
    pub kappa_ci: Option<[f64; 2]>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub undefined: Option<String>,
}

impl Agreement {
    pub(crate) fn of(k: Kappa, n: usize, ci: Option<(f64, f64)>) -> Self {
        Self {
            n,
            kappa: k.value(),
            kappa_ci: ci.map(|(a, b)| [a, b]),
            undefined: k.reason().map(str::to_string),
        }
    }

    /// `0.612 [0.48, 0.73] (n=120)` or `undefined (why)`.
    pub fn show(&self) -> String {
        match (self.kappa, self.kappa_ci) {
            (Some(k), Some([lo, hi])) => format!("{k:.3} [{lo:.2}, {hi:.2}] (n={})", self.n),
            (Some(k), None) => format!("{k:.3} (n={})", self.n),
            _ => format!(
                "undefined ({}; n={})",
                self.undefined.as_deref().unwrap_or("no items"),
                self.n
            ),
        }
    }
}
