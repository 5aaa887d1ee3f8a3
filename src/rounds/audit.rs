//! The audit stratum's numbers: eval items drawn uniformly at random from the pool (not mined
//! at the boundary), scored apart from the boundary eval. They estimate how good the model is
//! on the pool at large and how common each label is there (docs/methods.md#audit-stratum: boundary-only eval
//! is biased; report the strata separately).

use serde::{Deserialize, Serialize};

use super::agreement::{Agreement, REPS};
use crate::metrics::{self, cohen_kappa};

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// Wilson score interval for `successes` of `n` at two-sided level 95%; `None` when `n` is 0.
pub fn wilson(successes: usize, n: usize) -> Option<[f64; 2]> {
    if n == 0 || successes > n {
        return None;
    }
    let (n, p, z2) = (n as f64, successes as f64 / n as f64, Z95 * Z95);
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z95 / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some([(centre - half).max(0.0), (centre + half).min(1.0)])
}

/// One label's share among the audit items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prevalence {
    pub label: String,
    /// Audit items whose resolved expert label is this one.
    pub experts: usize,
    /// `experts` / audit items with a resolved label, with its 95% Wilson interval.
    pub share: f64,
    pub share_ci: [f64; 2],
    /// The model's predicted share on the audit items it has a prediction for.
    pub model_share: Option<f64>,
}

/// The model on the audit stratum of the eval split.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditScores {
    /// Audit items with a resolved expert label.
    pub n: usize,
    /// Of those, items the model has no prediction for (left out of κ and accuracy).
    #[serde(default)]
    pub unpredicted: usize,
    /// κ of the model's top label against the resolved expert label, 95% bootstrap CI.
    pub model_vs_expert: Agreement,
    pub accuracy: Option<f64>,
    /// 95% Wilson interval of `accuracy`.
    pub accuracy_ci: Option<[f64; 2]>,
    #[serde(default)]
    pub prevalence: Vec<Prevalence>,
}

impl AuditScores {
    /// `gold`: each audit item's resolved expert label; `pred`: the model's top label for it,
    /// when it has one.
    pub fn of(gold: &[usize], pred: &[Option<usize>], labels: &[String], seed: u64) -> Self {
        let k = labels.len();
        let (g, p): (Vec<usize>, Vec<usize>) =
            gold.iter().zip(pred).filter_map(|(&g, p)| Some((g, (*p)?))).unzip();
        let right = g.iter().zip(&p).filter(|(a, b)| a == b).count();
        let model_vs_expert = Agreement::of(
            cohen_kappa(&g, &p, k),
            g.len(),
            metrics::cohen_kappa_ci(&g, &p, k, REPS, 0.95, seed),
        );
        let prevalence = labels
            .iter()
            .enumerate()
            .map(|(l, name)| {
                let experts = gold.iter().filter(|&&x| x == l).count();
                Prevalence {
                    label: name.clone(),
                    experts,
                    share: if gold.is_empty() { 0.0 } else { experts as f64 / gold.len() as f64 },
                    share_ci: wilson(experts, gold.len()).unwrap_or([0.0, 1.0]),
                    model_share: (!p.is_empty())
                        .then(|| p.iter().filter(|&&x| x == l).count() as f64 / p.len() as f64),
                }
            })
            .collect();
        Self {
            n: gold.len(),
            unpredicted: gold.len() - g.len(),
            model_vs_expert,
            accuracy: (!g.is_empty()).then(|| right as f64 / g.len() as f64),
            accuracy_ci: wilson(right, g.len()),
            prevalence,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_the_textbook_and_stays_in_0_1() {
        // 8 of 10: Wilson 95% is [0.490, 0.943].
        let [lo, hi] = wilson(8, 10).unwrap();
        assert!((lo - 0.4902).abs() < 1e-3 && (hi - 0.9433).abs() < 1e-3, "{lo} {hi}");
        let [lo, hi] = wilson(0, 20).unwrap();
        assert!(lo == 0.0 && hi > 0.1 && hi < 0.2, "{hi}");
        assert_eq!(wilson(1, 1).unwrap()[1], 1.0);
        assert!(wilson(0, 0).is_none() && wilson(3, 2).is_none());
    }

    #[test]
    fn audit_scores_count_what_they_use() {
        let labels = vec!["a".to_string(), "b".to_string()];
        let gold = [0, 0, 0, 1, 1, 0, 1, 0];
        let pred = [Some(0), Some(0), Some(1), Some(1), Some(1), None, Some(0), Some(0)];
        let s = AuditScores::of(&gold, &pred, &labels, 3);
        assert_eq!((s.n, s.unpredicted, s.model_vs_expert.n), (8, 1, 7));
        assert_eq!(s.accuracy, Some(5.0 / 7.0));
        assert_eq!((s.prevalence[0].experts, s.prevalence[1].experts), (5, 3));
        assert_eq!(s.prevalence[1].model_share, Some(3.0 / 7.0));
        let ci = s.prevalence[0].share_ci;
        assert!(ci[0] < 5.0 / 8.0 && 5.0 / 8.0 < ci[1]);
    }
}
