//! Over seeds: the mean of each (strategy, budget) cell with a 95% t-interval, each strategy's
//! paired difference to random (same seed → same test split, same start), and how often the
//! stop rule would have stopped.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Score, SeedResult, SimResult};

/// t quantile at 0.975 for 1..=30 degrees of freedom.
const T975: [f64; 30] = [
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010,
    2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687,
    2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
];

/// The 0.975 quantile of Student's t with `df` ≥ 1 degrees of freedom (the table up to 30,
/// then the Cornish–Fisher expansion around the normal, within 1e-4 there).
pub fn t975(df: usize) -> f64 {
    if (1..=30).contains(&df) {
        return T975[df - 1];
    }
    let (z, v) = (1.959_964f64, df.max(1) as f64);
    z + (z.powi(3) + z) / (4.0 * v)
        + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * v * v)
}

/// Mean and 95% t-interval of `xs` (no interval for fewer than two values).
pub fn mean_ci(xs: &[f64]) -> (Option<f64>, Option<[f64; 2]>) {
    let n = xs.len();
    if n == 0 {
        return (None, None);
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return (Some(mean), None);
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let half = t975(n - 1) * (var / n as f64).sqrt();
    (Some(mean), Some([mean - half, mean + half]))
}

/// A strategy's κ minus random's κ, seed by seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedDiff {
    /// Seeds where both kappas are defined.
    pub n: usize,
    pub mean: f64,
    /// 95% t-interval of the mean difference (none with one seed).
    pub ci: Option<[f64; 2]>,
    /// "better" / "worse" when the interval excludes 0, else "no difference"; `None` with one
    /// seed (no interval, no verdict).
    pub verdict: Option<String>,
}

/// How often the stop rule said what, over seeds, at one budget.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StopTally {
    pub stop: usize,
    #[serde(rename = "continue")]
    pub continue_: usize,
    pub not_enough_data: usize,
    /// Mean eval size (boundary + audit items) over seeds.
    pub eval_size: f64,
    /// Mean audit items among them.
    pub audit: f64,
}

impl StopTally {
    /// `stop 2, cont 3, few 0`.
    pub fn show(&self) -> String {
        format!("stop {}, cont {}, few {}", self.stop, self.continue_, self.not_enough_data)
    }
}

/// Mean over seeds of per-seed scores; the interval is a t-interval over seeds, or the one
/// seed's bootstrap interval when there is one seed.
pub fn mean_score(scores: &[Score]) -> Score {
    if let [one] = scores {
        return one.clone();
    }
    let kappas: Vec<f64> = scores.iter().filter_map(|s| s.kappa).collect();
    let f1s: Vec<f64> = scores.iter().filter_map(|s| s.macro_f1).collect();
    let (kappa, ci) = mean_ci(&kappas);
    let (kappa_ci, kappa_ci_clamped) = crate::metrics::kappa_interval(ci);
    Score {
        kappa,
        kappa_ci,
        kappa_ci_clamped,
        macro_f1: mean_ci(&f1s).0,
        per_label: mean_per_label(scores.iter().map(|s| s.per_label.as_ref())),
    }
}

/// Each label's mean κ over the scores that have it defined (`None` when no score has
/// per-label values: a single-label simulation).
fn mean_per_label<'a>(
    scores: impl Iterator<Item = Option<&'a BTreeMap<String, Option<f64>>>>,
) -> Option<BTreeMap<String, Option<f64>>> {
    let mut sums: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut any = false;
    for m in scores.flatten() {
        any = true;
        for (label, k) in m {
            let v = sums.entry(label.clone()).or_default();
            v.extend(*k);
        }
    }
    any.then(|| sums.into_iter().map(|(l, v)| (l, mean_ci(&v).0)).collect())
}

/// One [`SimResult`] per (strategy, budget), in the order the per-seed rows first name them.
pub fn aggregate(rows: &[SeedResult]) -> Vec<SimResult> {
    let mut cells: Vec<(&str, usize)> = Vec::new();
    for r in rows {
        if !cells.contains(&(r.strategy.as_str(), r.budget)) {
            cells.push((&r.strategy, r.budget));
        }
    }
    let kappa_of = |strategy: &str, budget: usize, seed: u64| {
        rows.iter()
            .find(|r| r.strategy == strategy && r.budget == budget && r.seed == seed)
            .and_then(|r| r.kappa)
    };
    let has_random = rows.iter().any(|r| r.strategy == "random");
    cells
        .into_iter()
        .map(|(strategy, budget)| {
            let mine: Vec<&SeedResult> =
                rows.iter().filter(|r| r.strategy == strategy && r.budget == budget).collect();
            let score = mean_score(
                &mine
                    .iter()
                    .map(|r| Score {
                        kappa: r.kappa,
                        kappa_ci: r.kappa_ci,
                        kappa_ci_clamped: false,
                        macro_f1: r.macro_f1,
                        per_label: r.per_label.clone(),
                    })
                    .collect::<Vec<_>>(),
            );
            let vs_random = (has_random && strategy != "random")
                .then(|| {
                    let d: Vec<f64> = mine
                        .iter()
                        .filter_map(|r| Some(r.kappa? - kappa_of("random", budget, r.seed)?))
                        .collect();
                    let (mean, ci) = mean_ci(&d);
                    let verdict = ci.map(|[lo, hi]| {
                        if lo > 0.0 {
                            "better"
                        } else if hi < 0.0 {
                            "worse"
                        } else {
                            "no difference"
                        }
                        .to_string()
                    });
                    Some(PairedDiff { n: d.len(), mean: mean?, ci, verdict })
                })
                .flatten();
            let evals: Vec<&super::EvalCell> =
                mine.iter().filter_map(|r| r.eval.as_ref()).collect();
            let stop = (!evals.is_empty()).then(|| {
                let mut t = StopTally::default();
                for e in &evals {
                    match e.decision.as_str() {
                        "stop" => t.stop += 1,
                        "continue" => t.continue_ += 1,
                        _ => t.not_enough_data += 1,
                    }
                }
                t.eval_size =
                    evals.iter().map(|e| e.eval_size as f64).sum::<f64>() / evals.len() as f64;
                t.audit = evals.iter().map(|e| e.audit as f64).sum::<f64>() / evals.len() as f64;
                t
            });
            SimResult {
                strategy: strategy.to_string(),
                budget,
                labeled: mine.iter().map(|r| r.labeled).min().unwrap_or(0),
                filled_by_margin: mine.iter().map(|r| r.filled_by_margin as f64).sum::<f64>()
                    / mine.len().max(1) as f64,
                kappa: score.kappa,
                kappa_ci: score.kappa_ci,
                kappa_ci_clamped: score.kappa_ci_clamped,
                macro_f1: score.macro_f1,
                seeds: mine.iter().filter(|r| r.kappa.is_some()).count(),
                vs_random,
                stop,
                per_label: score.per_label,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kappa_interval_over_seeds_is_cut_to_its_range_and_says_so() {
        // The demo's ceiling: κ 0.992 over seeds with a t-interval reaching past 1.
        let seeds = [1.0, 1.0, 0.97, 1.0, 0.99].map(|k| Score {
            kappa: Some(k),
            kappa_ci: None,
            kappa_ci_clamped: false,
            macro_f1: None,
            per_label: None,
        });
        let s = mean_score(&seeds);
        let [lo, hi] = s.kappa_ci.unwrap();
        assert!(hi == 1.0 && lo < 1.0 && lo > 0.9, "{lo} {hi}");
        assert!(s.kappa_ci_clamped);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["kappa_ci_clamped"], true);
        // Inside the range: untouched, and said so.
        let seeds = [0.5, 0.6, 0.55].map(|k| Score {
            kappa: Some(k),
            kappa_ci: None,
            kappa_ci_clamped: false,
            macro_f1: None,
            per_label: None,
        });
        let s = mean_score(&seeds);
        assert!(!s.kappa_ci_clamped && s.kappa_ci.unwrap()[1] < 1.0);
        assert_eq!(crate::metrics::kappa_interval(Some([-1.2, 0.1])), (Some([-1.0, 0.1]), true));
    }

    #[test]
    fn t_quantiles_and_intervals() {
        assert!((t975(4) - 2.7764).abs() < 1e-9);
        assert!((t975(31) - 2.0395).abs() < 1e-3 && (t975(120) - 1.9799).abs() < 1e-3);
        // 1, 2, 3: mean 2, sd 1, half-width t(2) / √3.
        let (m, ci) = mean_ci(&[1.0, 2.0, 3.0]);
        let half = 4.3027 / 3f64.sqrt();
        assert_eq!(m, Some(2.0));
        let [lo, hi] = ci.unwrap();
        assert!((lo - (2.0 - half)).abs() < 1e-12 && (hi - (2.0 + half)).abs() < 1e-12);
        assert_eq!(mean_ci(&[0.5]), (Some(0.5), None));
        assert_eq!(mean_ci(&[]), (None, None));
    }

    #[test]
    fn a_report_stored_before_seeds_still_loads_for_the_dashboard() {
        let old = r#"{"results":[{"strategy":"pairs","budget":20,"labeled":20,"filled_by_margin":3,"kappa":0.5,"kappa_ci":[0.4,0.6],"macro_f1":0.7}],
            "ceiling":{"kappa":0.9,"kappa_ci":null,"macro_f1":0.95},"zero_shot":{"kappa":0.1,"kappa_ci":null,"macro_f1":0.4},
            "test_size":30,"pool_size":70,"seed":0,"trainer":"probe","rounds":1,"labels":["a","b"],"warnings":[],"seconds":1.0}"#;
        let rep: super::super::SimReport = serde_json::from_str(old).unwrap();
        assert_eq!((rep.results[0].filled_by_margin, rep.results[0].kappa), (3.0, Some(0.5)));
        assert!(
            rep.per_seed.is_empty() && rep.eval.is_none() && rep.results[0].vs_random.is_none()
        );
    }
}
