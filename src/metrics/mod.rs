//! Inter-annotator agreement statistics for curated labels.
//!
//! Labels are category indices in `0..k` (`usize`); a missing rating is `None` in the
//! multi-rater functions. Everything here is a pure function that never panics: where a
//! statistic does not exist for the input (no items, expected agreement of 1, a label
//! outside `0..k`, …) it returns [`Kappa::Undefined`] with a reason, or `None`.
//!
//! - [`mod@kappa`]: Cohen's κ, PABAK, Light's κ, Fleiss' κ, Krippendorff's α (nominal).
//! - [`mod@alpha`]: Krippendorff's α with a pluggable distance (interval, ratio, MASI for
//!   label sets), with a bootstrap interval.
//! - [`mod@confusion`]: confusion matrix, 2×2 prevalence/bias indices, specific agreements,
//!   macro-F1.
//! - [`mod@bootstrap`]: seeded percentile bootstrap confidence intervals.
//! - [`mod@equivalence`]: is the model as good as the experts (a paired equivalence test).
//! - [`summarize`]: everything a two-rater agreement report prints, as one [`Summary`].

pub mod alpha;
pub mod bootstrap;
pub mod confusion;
pub mod equivalence;
pub mod kappa;

pub use alpha::{krippendorff_alpha, krippendorff_alpha_ci, krippendorff_alpha_with_ci};
pub use bootstrap::{bootstrap_ci, cohen_kappa_ci};
pub use confusion::{
    bias_index, confusion, macro_f1, macro_f1_checked, negative_agreement, positive_agreement,
    prevalence_index, two_by_two, TwoByTwo, MAX_MATRIX_CATEGORIES,
};
pub use kappa::{
    cohen_kappa, expected_agreement, fleiss_kappa, krippendorff_alpha_nominal, light_kappa,
    observed_agreement, pabak,
};

use std::fmt;

use serde::Serialize;

/// The result of an agreement coefficient: a number, or the reason none exists.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kappa {
    /// The coefficient's value (1 = perfect agreement, 0 = chance level, < 0 = worse than chance).
    Value(f64),
    /// The coefficient is not defined for this input (e.g. expected agreement is 1, no items).
    Undefined {
        /// Human-readable reason, suitable for a report.
        reason: &'static str,
    },
}

impl Kappa {
    /// The value, or `None` when undefined.
    pub fn value(&self) -> Option<f64> {
        match *self {
            Kappa::Value(v) => Some(v),
            Kappa::Undefined { .. } => None,
        }
    }

    /// `true` when the coefficient has a value.
    pub fn is_defined(&self) -> bool {
        matches!(self, Kappa::Value(_))
    }

    /// The reason it is undefined, or `None` when it has a value.
    pub fn reason(&self) -> Option<&'static str> {
        match *self {
            Kappa::Value(_) => None,
            Kappa::Undefined { reason } => Some(reason),
        }
    }
}

/// Formats a value with 3 decimals by default (`0.612`; `{:.2}` is honoured) and an
/// undefined coefficient as `undefined (reason)`.
impl fmt::Display for Kappa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Kappa::Value(v) => write!(f, "{:.*}", f.precision().unwrap_or(3), v),
            Kappa::Undefined { reason } => write!(f, "undefined ({reason})"),
        }
    }
}

/// Bootstrap replicates used by [`summarize`].
pub const DEFAULT_BOOTSTRAP_REPS: usize = 2000;
/// Confidence level used by [`summarize`].
pub const DEFAULT_CI_LEVEL: f64 = 0.95;

/// A confidence interval together with how it was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
    /// Confidence level, e.g. 0.95.
    pub level: f64,
    /// Number of bootstrap replicates drawn.
    pub reps: usize,
}

/// Two-rater agreement summary: what an agreement report prints.
///
/// On invalid input (lengths differ, empty, a label `>= k`) `n` is 0, every statistic is
/// `None`, `confusion` is empty and `kappa_undefined_reason` says why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Number of items both raters labelled.
    pub n: usize,
    /// Number of categories.
    pub k: usize,
    /// Cohen's κ, `None` when undefined.
    pub kappa: Option<f64>,
    /// Why κ is undefined, when it is.
    pub kappa_undefined_reason: Option<&'static str>,
    /// Percentile bootstrap CI for κ, when at least half the replicates were defined.
    pub kappa_ci: Option<Interval>,
    /// Observed agreement Po.
    pub observed_agreement: Option<f64>,
    /// Chance agreement Pe.
    pub expected_agreement: Option<f64>,
    /// Prevalence- and bias-adjusted κ, (k·Po − 1)/(k − 1).
    pub pabak: Option<f64>,
    /// The class treated as positive for the binary indices below (as passed in).
    pub positive: Option<usize>,
    /// The one-vs-rest 2×2 table for `positive`, when given and `< k`.
    pub two_by_two: Option<TwoByTwo>,
    /// Prevalence index |a − d| / n.
    pub prevalence_index: Option<f64>,
    /// Bias index |b − c| / n.
    pub bias_index: Option<f64>,
    /// Positive specific agreement 2a / (2a + b + c).
    pub positive_agreement: Option<f64>,
    /// Negative specific agreement 2d / (2d + b + c).
    pub negative_agreement: Option<f64>,
    /// `k × k` confusion matrix, rows = rater `a`, columns = rater `b` (empty when invalid
    /// or `k > MAX_MATRIX_CATEGORIES`).
    pub confusion: Vec<Vec<u64>>,
}

/// [`summarize_with`] using [`DEFAULT_BOOTSTRAP_REPS`] replicates and a
/// [`DEFAULT_CI_LEVEL`] interval.
pub fn summarize(
    a: &[usize],
    b: &[usize],
    k: usize,
    positive: Option<usize>,
    seed: u64,
) -> Summary {
    summarize_with(a, b, k, positive, DEFAULT_BOOTSTRAP_REPS, DEFAULT_CI_LEVEL, seed)
}

/// Computes every two-rater statistic for `a` vs `b` over `k` categories. The binary
/// indices use `positive` one-vs-rest and are `None` when it is `None` or `>= k`. The κ
/// interval is a seeded percentile bootstrap ([`cohen_kappa_ci`]).
pub fn summarize_with(
    a: &[usize],
    b: &[usize],
    k: usize,
    positive: Option<usize>,
    reps: usize,
    level: f64,
    seed: u64,
) -> Summary {
    let kappa = cohen_kappa(a, b, k);
    let mut s = Summary {
        n: 0,
        k,
        kappa: kappa.value(),
        kappa_undefined_reason: kappa.reason(),
        kappa_ci: None,
        observed_agreement: None,
        expected_agreement: None,
        pabak: None,
        positive,
        two_by_two: None,
        prevalence_index: None,
        bias_index: None,
        positive_agreement: None,
        negative_agreement: None,
        confusion: Vec::new(),
    };
    if kappa::validate_pair(a, b, k).is_err() {
        return s;
    }
    s.n = a.len();
    s.kappa_ci = cohen_kappa_ci(a, b, k, reps, level, seed).map(|(lower, upper)| Interval {
        lower,
        upper,
        level,
        reps,
    });
    s.observed_agreement = observed_agreement(a, b, k);
    s.expected_agreement = expected_agreement(a, b, k);
    s.pabak = pabak(a, b, k).value();
    s.two_by_two = positive.filter(|&p| p < k).and_then(|p| two_by_two(a, b, p));
    if let Some(t) = s.two_by_two {
        s.prevalence_index = t.prevalence_index();
        s.bias_index = t.bias_index();
        s.positive_agreement = t.positive_agreement();
        s.negative_agreement = t.negative_agreement();
    }
    s.confusion = confusion(a, b, k);
    s
}

/// A κ interval cut to κ's range [−1, 1] (a t-interval over seeds, or a normal approximation,
/// can pass 1 near perfect agreement), and whether a bound was cut.
pub fn kappa_interval(ci: Option<[f64; 2]>) -> (Option<[f64; 2]>, bool) {
    match ci {
        Some([lo, hi]) => {
            let cut = [lo.clamp(-1.0, 1.0), hi.clamp(-1.0, 1.0)];
            (Some(cut), cut != [lo, hi])
        }
        None => (None, false),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Expands a 2-rater table (rows = rater A, cols = rater B) into label vectors.
    pub(crate) fn from_table(t: &[&[usize]]) -> (Vec<usize>, Vec<usize>) {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for (r, row) in t.iter().enumerate() {
            for (c, &count) in row.iter().enumerate() {
                a.extend(std::iter::repeat_n(r, count));
                b.extend(std::iter::repeat_n(c, count));
            }
        }
        (a, b)
    }

    #[test]
    fn display_and_accessors() {
        assert_eq!(Kappa::Value(0.61234).to_string(), "0.612");
        assert_eq!(format!("{:.1}", Kappa::Value(0.61234)), "0.6");
        let u = Kappa::Undefined { reason: "no items" };
        assert_eq!(u.to_string(), "undefined (no items)");
        assert_eq!((u.value(), u.is_defined()), (None, false));
        assert_eq!(Kappa::Value(0.5).reason(), None);
    }

    #[test]
    fn summary_of_wikipedia_table() {
        let (a, b) = from_table(&[&[15, 10], &[5, 20]]);
        let s = summarize(&a, &b, 2, Some(1), 11);
        assert_eq!((s.n, s.k, s.kappa, s.kappa_undefined_reason), (50, 2, Some(0.4), None));
        let ci = s.kappa_ci.expect("ci");
        assert!(ci.lower < 0.4 && 0.4 < ci.upper);
        assert_eq!((ci.level, ci.reps), (DEFAULT_CI_LEVEL, DEFAULT_BOOTSTRAP_REPS));
        assert_eq!((s.observed_agreement, s.expected_agreement), (Some(0.7), Some(0.5)));
        assert_eq!(s.pabak, Some(0.4));
        assert_eq!(s.two_by_two, Some(TwoByTwo { a: 20, b: 5, c: 10, d: 15 }));
        assert_eq!((s.prevalence_index, s.bias_index), (Some(0.1), Some(0.1)));
        assert_eq!(s.positive_agreement, Some(8.0 / 11.0));
        assert_eq!(s.negative_agreement, Some(2.0 / 3.0));
        assert_eq!(s.confusion, vec![vec![15, 10], vec![5, 20]]);
        // Deterministic for a fixed seed.
        assert_eq!(s, summarize(&a, &b, 2, Some(1), 11));
    }

    #[test]
    fn summary_edge_cases() {
        let s = summarize(&[0, 1], &[0], 2, Some(1), 0);
        assert_eq!((s.n, s.kappa, s.kappa_ci, s.pabak), (0, None, None, None));
        assert_eq!(s.kappa_undefined_reason, Some(kappa::LEN_MISMATCH));
        assert!(s.confusion.is_empty());
        // One class only: κ undefined, but Po, PABAK, and the table still exist.
        let s = summarize_with(&[1; 4], &[1; 4], 2, Some(1), 200, 0.9, 0);
        assert_eq!((s.kappa, s.kappa_ci, s.observed_agreement), (None, None, Some(1.0)));
        assert_eq!(
            (s.pabak, s.positive_agreement, s.negative_agreement),
            (Some(1.0), Some(1.0), None)
        );
        // No positive class, or one outside 0..k: binary fields absent.
        let s = summarize_with(&[0, 1, 2], &[0, 1, 1], 3, None, 100, 0.9, 0);
        assert_eq!((s.two_by_two, s.prevalence_index), (None, None));
        let s = summarize_with(&[0, 1, 2], &[0, 1, 1], 3, Some(3), 100, 0.9, 0);
        assert_eq!((s.positive, s.two_by_two), (Some(3), None));
    }

    #[test]
    fn summary_is_serializable() {
        fn assert_serialize<T: Serialize>() {}
        assert_serialize::<Summary>();
        assert_serialize::<Interval>();
    }
}
