//! Confusion matrices, the binary 2×2 table with its prevalence/bias indices and
//! specific agreements (Byrt, Bishop & Carlin 1993; Cicchetti & Feinstein 1990), and
//! macro-averaged F1.

use std::collections::BTreeMap;

use serde::Serialize;

/// Largest `k` for which [`confusion`] builds a matrix (4096² cells = 128 MiB). Beyond it
/// the function returns an empty matrix instead of exhausting memory.
pub const MAX_MATRIX_CATEGORIES: usize = 4096;

/// The `k × k` confusion matrix of two raters: `m[x][y]` counts items that `a` labelled
/// `x` and `b` labelled `y` (rows = `a`, columns = `b`).
///
/// Lenient by design: only the first `min(a.len(), b.len())` items are counted, pairs with
/// a label `>= k` are skipped, and an empty `Vec` is returned when
/// `k > MAX_MATRIX_CATEGORIES`. Use [`super::kappa::cohen_kappa`] to validate the input.
pub fn confusion(a: &[usize], b: &[usize], k: usize) -> Vec<Vec<u64>> {
    if k > MAX_MATRIX_CATEGORIES {
        return Vec::new();
    }
    let mut m = vec![vec![0u64; k]; k];
    for (&x, &y) in a.iter().zip(b) {
        if let Some(cell) = m.get_mut(x).and_then(|row| row.get_mut(y)) {
            *cell += 1;
        }
    }
    m
}

/// A binary 2×2 agreement table in Byrt et al. (1993) notation, for a chosen positive
/// class: `a` = both positive, `b` = rater A positive / rater B negative, `c` = A negative /
/// B positive, `d` = both negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TwoByTwo {
    /// Both raters positive.
    pub a: u64,
    /// Rater A positive, rater B negative.
    pub b: u64,
    /// Rater A negative, rater B positive.
    pub c: u64,
    /// Both raters negative.
    pub d: u64,
}

impl TwoByTwo {
    /// Total number of items, `a + b + c + d`.
    pub fn n(&self) -> u64 {
        self.a + self.b + self.c + self.d
    }

    /// Prevalence index |a − d| / n; `None` when n = 0.
    pub fn prevalence_index(&self) -> Option<f64> {
        ratio(self.a.abs_diff(self.d), self.n())
    }

    /// Bias index |b − c| / n; `None` when n = 0.
    pub fn bias_index(&self) -> Option<f64> {
        ratio(self.b.abs_diff(self.c), self.n())
    }

    /// Positive specific agreement 2a / (2a + b + c); `None` when the denominator is 0.
    pub fn positive_agreement(&self) -> Option<f64> {
        ratio(2 * self.a, 2 * self.a + self.b + self.c)
    }

    /// Negative specific agreement 2d / (2d + b + c); `None` when the denominator is 0.
    pub fn negative_agreement(&self) -> Option<f64> {
        ratio(2 * self.d, 2 * self.d + self.b + self.c)
    }
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// Builds the 2×2 table treating label `positive` as positive and every other label as
/// negative (one-vs-rest when there are more than two classes). `None` when the inputs
/// are empty or differ in length.
pub fn two_by_two(a: &[usize], b: &[usize], positive: usize) -> Option<TwoByTwo> {
    if a.is_empty() || a.len() != b.len() {
        return None;
    }
    let mut t = TwoByTwo { a: 0, b: 0, c: 0, d: 0 };
    for (&x, &y) in a.iter().zip(b) {
        match (x == positive, y == positive) {
            (true, true) => t.a += 1,
            (true, false) => t.b += 1,
            (false, true) => t.c += 1,
            (false, false) => t.d += 1,
        }
    }
    Some(t)
}

/// Prevalence index |a − d| / n of the 2×2 table for class `positive` (see [`two_by_two`]).
pub fn prevalence_index(a: &[usize], b: &[usize], positive: usize) -> Option<f64> {
    two_by_two(a, b, positive)?.prevalence_index()
}

/// Bias index |b − c| / n of the 2×2 table for class `positive` (see [`two_by_two`]).
pub fn bias_index(a: &[usize], b: &[usize], positive: usize) -> Option<f64> {
    two_by_two(a, b, positive)?.bias_index()
}

/// Positive specific agreement 2a / (2a + b + c) for class `positive`; `None` when
/// neither rater ever used it or the input is empty/mismatched.
pub fn positive_agreement(a: &[usize], b: &[usize], positive: usize) -> Option<f64> {
    two_by_two(a, b, positive)?.positive_agreement()
}

/// Negative specific agreement 2d / (2d + b + c) for class `positive`; `None` when both
/// raters always used it or the input is empty/mismatched.
pub fn negative_agreement(a: &[usize], b: &[usize], positive: usize) -> Option<f64> {
    two_by_two(a, b, positive)?.negative_agreement()
}

/// Macro-averaged F1 of `pred` against `gold`, or `None` when the input is empty, the
/// lengths differ, or a label is `>= k`.
///
/// Per class, F1 = 2·TP / (2·TP + FP + FN). Classes absent from both `gold` and `pred`
/// are **excluded** from the average (their F1 is 0/0); a class that occurs in only one
/// of them is included with F1 = 0.
pub fn macro_f1_checked(gold: &[usize], pred: &[usize], k: usize) -> Option<f64> {
    super::kappa::validate_pair(gold, pred, k).ok()?;
    // (tp, fp, fn) per class seen; keyed by label so memory is bounded by the data.
    let mut per: BTreeMap<usize, (u64, u64, u64)> = BTreeMap::new();
    for (&g, &p) in gold.iter().zip(pred) {
        if g == p {
            per.entry(g).or_default().0 += 1;
        } else {
            per.entry(p).or_default().1 += 1;
            per.entry(g).or_default().2 += 1;
        }
    }
    let f1s: Vec<f64> =
        per.values().map(|&(tp, fp, fneg)| 2.0 * tp as f64 / (2 * tp + fp + fneg) as f64).collect();
    (!f1s.is_empty()).then(|| f1s.iter().sum::<f64>() / f1s.len() as f64)
}

/// Macro-averaged F1 as in [`macro_f1_checked`], but returning `f64::NAN` (serialized by
/// serde_json as `null`) where that returns `None`.
pub fn macro_f1(gold: &[usize], pred: &[usize], k: usize) -> f64 {
    macro_f1_checked(gold, pred, k).unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::super::tests::from_table;
    use super::*;

    #[test]
    fn confusion_rows_are_a_cols_are_b() {
        let m = confusion(&[0, 0, 1, 2, 2], &[0, 1, 1, 2, 0], 3);
        assert_eq!(m, vec![vec![1, 1, 0], vec![0, 1, 0], vec![1, 0, 1]]);
        let (a, b) = from_table(&[&[10, 2, 0], &[1, 8, 3], &[0, 2, 4]]);
        assert_eq!(confusion(&a, &b, 3), vec![vec![10, 2, 0], vec![1, 8, 3], vec![0, 2, 4]]);
        // Lenient: out-of-range pairs skipped, extra items ignored, huge k refused.
        assert_eq!(confusion(&[0, 5, 1], &[0, 0], 2), vec![vec![1, 0], vec![0, 0]]);
        assert!(confusion(&[0], &[0], usize::MAX).is_empty());
        assert!(confusion(&[], &[], 0).is_empty());
    }

    /// Wikipedia Cohen example with 1 = yes (positive): a = 20, b = 5, c = 10, d = 15.
    /// Prevalence |20 − 15|/50 = 0.1; bias |5 − 10|/50 = 0.1;
    /// p_pos = 40/55 = 8/11; p_neg = 30/45 = 2/3.
    #[test]
    fn binary_indices_on_wikipedia_table() {
        let (a, b) = from_table(&[&[15, 10], &[5, 20]]);
        let t = two_by_two(&a, &b, 1);
        assert_eq!(t, Some(TwoByTwo { a: 20, b: 5, c: 10, d: 15 }));
        assert_eq!(prevalence_index(&a, &b, 1), Some(0.1));
        assert_eq!(bias_index(&a, &b, 1), Some(0.1));
        assert_eq!(positive_agreement(&a, &b, 1), Some(8.0 / 11.0));
        assert_eq!(negative_agreement(&a, &b, 1), Some(2.0 / 3.0));
        // Swapping the positive class swaps the specific agreements.
        assert_eq!(positive_agreement(&a, &b, 0), Some(2.0 / 3.0));
        assert_eq!(negative_agreement(&a, &b, 0), Some(8.0 / 11.0));
    }

    #[test]
    fn binary_indices_edge_cases() {
        assert_eq!(two_by_two(&[], &[], 1), None);
        assert_eq!(prevalence_index(&[1], &[1, 0], 1), None);
        // Nobody ever says positive: positive agreement 0/0 → None, negative = 1.
        assert_eq!(positive_agreement(&[0, 0], &[0, 0], 1), None);
        assert_eq!(negative_agreement(&[0, 0], &[0, 0], 1), Some(1.0));
        assert_eq!(negative_agreement(&[1, 1], &[1, 1], 1), None);
        assert_eq!(prevalence_index(&[1, 1], &[1, 1], 1), Some(1.0));
    }

    /// gold = [0,0,1,1,2,2], pred = [0,1,1,1,2,0], k = 4 (class 3 unused → excluded).
    /// class 0: TP 1, FP 1, FN 1 → 2/4 = 1/2; class 1: TP 2, FP 1, FN 0 → 4/5;
    /// class 2: TP 1, FP 0, FN 1 → 2/3. Macro = (1/2 + 4/5 + 2/3)/3 = 59/90.
    #[test]
    fn macro_f1_hand_computed() {
        let (g, p) = ([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0]);
        assert!((macro_f1(&g, &p, 4) - 59.0 / 90.0).abs() < 1e-12);
        assert_eq!(macro_f1(&[0, 1, 2], &[0, 1, 2], 3), 1.0);
        // Class 1 predicted but never gold is included with F1 = 0:
        // class 0: TP 1, FN 1 → 2/3; class 1: FP 1 → 0; macro = (2/3 + 0)/2 = 1/3.
        assert!((macro_f1(&[0, 0], &[0, 1], 2) - 1.0 / 3.0).abs() < 1e-12);
        assert!(macro_f1(&[], &[], 2).is_nan());
        assert_eq!(macro_f1_checked(&[0], &[0, 1], 2), None);
        assert_eq!(macro_f1_checked(&[0], &[3], 2), None);
    }
}
