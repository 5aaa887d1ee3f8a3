//! Nonparametric bootstrap confidence intervals over items (percentile method), with a
//! seeded ChaCha8 generator so that reports are reproducible.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::kappa::{densify, validate_pair, Tally};

/// Percentile bootstrap confidence interval for a statistic of a set of items.
///
/// Each of `reps` replicates draws `n_items` item indices uniformly with replacement from
/// `0..n_items` (a [`ChaCha8Rng`] seeded with `seed`, so the same call gives the same
/// interval) and evaluates `stat` on them. Replicates where `stat` returns `None` or a
/// non-finite value are skipped. The interval is the `(1 − level)/2` and `(1 + level)/2`
/// quantiles (linear interpolation between order statistics) of the defined replicates.
///
/// Returns `None` when `n_items` or `reps` is 0, `level` is not strictly between 0 and 1,
/// or fewer than half of the replicates are defined.
pub fn bootstrap_ci(
    n_items: usize,
    stat: impl Fn(&[usize]) -> Option<f64>,
    reps: usize,
    level: f64,
    seed: u64,
) -> Option<(f64, f64)> {
    if n_items == 0 || reps == 0 || !(level > 0.0 && level < 1.0) {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut idx: Vec<usize> = Vec::new();
    idx.try_reserve_exact(n_items).ok()?;
    idx.resize(n_items, 0);
    let mut values: Vec<f64> = Vec::new();
    values.try_reserve_exact(reps).ok()?;
    for _ in 0..reps {
        for slot in idx.iter_mut() {
            *slot = rng.gen_range(0..n_items);
        }
        if let Some(v) = stat(&idx).filter(|v| v.is_finite()) {
            values.push(v);
        }
    }
    // "Fewer than half defined": 2·defined < reps  ⇔  defined < ⌈reps / 2⌉.
    if values.len() < reps - reps / 2 {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let alpha = 1.0 - level;
    Some((quantile(&values, alpha / 2.0), quantile(&values, 1.0 - alpha / 2.0)))
}

/// Quantile `p ∈ [0, 1]` of sorted, non-empty `v` by linear interpolation between order
/// statistics (Hyndman & Fan type 7, R's default). Returns NaN for an empty slice.
pub fn quantile(v: &[f64], p: f64) -> f64 {
    let Some(&last) = v.last() else {
        return f64::NAN;
    };
    let h = (v.len() - 1) as f64 * p.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    match (v.get(lo), v.get(lo + 1)) {
        (Some(&x), Some(&y)) => x + (h - lo as f64) * (y - x),
        (Some(&x), None) => x,
        _ => last,
    }
}

/// Percentile bootstrap CI for Cohen's κ between `a` and `b` (see [`bootstrap_ci`]);
/// replicates in which κ is undefined (e.g. only one class drawn) are skipped.
/// `None` for invalid input (empty, lengths differ, a label `>= k`) or when fewer than
/// half of the replicates have a defined κ.
pub fn cohen_kappa_ci(
    a: &[usize],
    b: &[usize],
    k: usize,
    reps: usize,
    level: f64,
    seed: u64,
) -> Option<(f64, f64)> {
    validate_pair(a, b, k).ok()?;
    let (da, db, d) = densify(a, b);
    let stat = |idx: &[usize]| {
        let pairs = idx.iter().filter_map(|&i| Some((*da.get(i)?, *db.get(i)?)));
        Tally::from_pairs(pairs, d).kappa().value()
    };
    bootstrap_ci(a.len(), stat, reps, level, seed)
}

#[cfg(test)]
mod tests {
    use super::super::kappa::cohen_kappa;
    use super::*;
    use std::cell::Cell;

    /// `copies` repetitions of a 10-item binary pattern with Po = 0.8, Pe = 0.5, κ = 0.6.
    fn pattern(copies: usize) -> (Vec<usize>, Vec<usize>) {
        let a = [0, 0, 0, 0, 1, 1, 1, 1, 0, 1];
        let b = [0, 0, 0, 0, 1, 1, 1, 1, 1, 0];
        (a.repeat(copies), b.repeat(copies))
    }

    #[test]
    fn quantile_interpolates_type_7() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&v, 0.5), 3.0);
        assert_eq!(quantile(&v, 0.25), 2.0);
        assert!((quantile(&v, 0.1) - 1.4).abs() < 1e-12);
        assert_eq!((quantile(&v, 0.0), quantile(&v, 1.0)), (1.0, 5.0));
        assert_eq!(quantile(&[7.0], 0.975), 7.0);
        assert!(quantile(&[], 0.5).is_nan());
    }

    #[test]
    fn kappa_ci_contains_point_estimate() {
        let (a, b) = pattern(5);
        assert_eq!(cohen_kappa(&a, &b, 2).value(), Some(0.6));
        let (lo, hi) = cohen_kappa_ci(&a, &b, 2, 1000, 0.95, 7).expect("defined");
        assert!(lo < 0.6 && 0.6 < hi, "({lo}, {hi})");
        assert!(-1.0 <= lo && hi <= 1.0);
    }

    #[test]
    fn kappa_ci_narrows_with_more_items() {
        let (a, b) = pattern(5); // 50 items
        let (lo_s, hi_s) = cohen_kappa_ci(&a, &b, 2, 1000, 0.95, 1).expect("defined");
        let (a, b) = pattern(200); // 2000 items
        let (lo_l, hi_l) = cohen_kappa_ci(&a, &b, 2, 1000, 0.95, 1).expect("defined");
        assert!(lo_l < 0.6 && 0.6 < hi_l);
        // Width shrinks roughly as 1/√n: √40 ≈ 6.3; demand at least a factor 3.
        assert!((hi_l - lo_l) * 3.0 < hi_s - lo_s, "{lo_s}..{hi_s} vs {lo_l}..{hi_l}");
        // A lower level gives a narrower interval from the same replicates.
        let (lo_80, hi_80) = cohen_kappa_ci(&a, &b, 2, 1000, 0.80, 1).expect("defined");
        assert!(lo_l <= lo_80 && hi_80 <= hi_l);
    }

    #[test]
    fn seeding_is_reproducible() {
        let (a, b) = pattern(5);
        let first = cohen_kappa_ci(&a, &b, 2, 500, 0.95, 42);
        assert!(first.is_some());
        assert_eq!(first, cohen_kappa_ci(&a, &b, 2, 500, 0.95, 42));
        assert_ne!(first, cohen_kappa_ci(&a, &b, 2, 500, 0.95, 43));
    }

    #[test]
    fn skips_undefined_replicates_and_needs_half() {
        let calls = Cell::new(0usize);
        // Defined on exactly every other replicate → exactly half → Some.
        let half = |_: &[usize]| {
            calls.set(calls.get() + 1);
            (calls.get() % 2 != 1).then_some(1.0)
        };
        assert_eq!(bootstrap_ci(10, half, 100, 0.9, 0), Some((1.0, 1.0)));
        calls.set(0);
        // Defined on one replicate in three → fewer than half → None.
        let third = |_: &[usize]| {
            calls.set(calls.get() + 1);
            (calls.get() % 3 > 1).then_some(1.0)
        };
        assert_eq!(bootstrap_ci(10, third, 100, 0.9, 0), None);
        assert_eq!(bootstrap_ci(10, |_| Some(f64::NAN), 10, 0.9, 0), None);
        assert_eq!(bootstrap_ci(10, |_| None, 10, 0.9, 0), None);
    }

    #[test]
    fn bootstrap_of_a_mean_brackets_it() {
        // 30% ones among 1000 items: the 95% CI of the mean is about 0.30 ± 0.028.
        let data: Vec<f64> = (0..1000).map(|i| f64::from(u8::from(i % 10 < 3))).collect();
        let mean = |idx: &[usize]| {
            let s: f64 = idx.iter().filter_map(|&i| data.get(i)).sum();
            Some(s / idx.len() as f64)
        };
        let (lo, hi) = bootstrap_ci(data.len(), mean, 1000, 0.95, 3).expect("defined");
        assert!(lo < 0.3 && 0.3 < hi);
        assert!(lo > 0.26 && hi < 0.34, "({lo}, {hi})");
    }

    #[test]
    fn invalid_arguments_give_none() {
        let one = |_: &[usize]| Some(1.0);
        assert_eq!(bootstrap_ci(0, one, 10, 0.95, 0), None);
        assert_eq!(bootstrap_ci(5, one, 0, 0.95, 0), None);
        for level in [0.0, 1.0, -0.5, 2.0, f64::NAN] {
            assert_eq!(bootstrap_ci(5, one, 10, level, 0), None);
        }
        assert_eq!(cohen_kappa_ci(&[], &[], 2, 100, 0.95, 0), None);
        assert_eq!(cohen_kappa_ci(&[0, 1], &[0], 2, 100, 0.95, 0), None);
        assert_eq!(cohen_kappa_ci(&[0, 3], &[0, 1], 2, 100, 0.95, 0), None);
        // Both raters always say 1: κ undefined in every replicate.
        assert_eq!(cohen_kappa_ci(&[1; 20], &[1; 20], 2, 100, 0.95, 0), None);
    }
}
