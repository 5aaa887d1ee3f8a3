//! Krippendorff's α for any kind of value with a pluggable distance: nominal, interval and
//! ratio data, and label sets under MASI distance (Passonneau 2006), which makes α an
//! item-level agreement for multi-label decisions.
//!
//! α = 1 − D_o / D_e (Krippendorff, "Computing Krippendorff's Alpha-Reliability", 2011).
//! Only units with two or more values are pairable. With `n` pairable values, `m_u` of them
//! in unit `u` and δ the distance between two values:
//! D_o = (1/n) Σ_u 1/(m_u − 1) Σ_{i≠j in u} δ(v_i, v_j), the disagreement within units, and
//! D_e = 1/(n(n − 1)) Σ_{i≠j} δ(v_i, v_j) over every pair of pairable values, the
//! disagreement expected by chance. For a distance that is 0 for equal values and 1 otherwise
//! this is the nominal α of [`super::kappa::krippendorff_alpha_nominal`].
//!
//! The distance is evaluated once per pair of distinct values, so a bootstrap over units
//! ([`krippendorff_alpha_ci`]) costs a table look-up per pair.

use super::bootstrap::bootstrap_ci;
use super::Kappa;

const fn undefined(reason: &'static str) -> Kappa {
    Kappa::Undefined { reason }
}

/// The coders' values as indices into a table of distinct values, with the distance between
/// every two of them. Only pairable units are kept.
struct Coded {
    /// Per pairable unit: its values' indices.
    units: Vec<Vec<usize>>,
    /// Per pairable unit: Σ_{i≠j} δ / (m_u − 1).
    within: Vec<f64>,
    /// δ between distinct values `v` and `w`, row-major `d × d`.
    delta: Vec<f64>,
    d: usize,
}

impl Coded {
    fn of<T: PartialOrd + Clone>(
        raters: &[Vec<Option<T>>],
        distance: impl Fn(&T, &T) -> f64,
    ) -> Result<Coded, &'static str> {
        if raters.len() < 2 {
            return Err("fewer than two coders");
        }
        let n_units = raters.first().map_or(0, Vec::len);
        if raters.iter().any(|r| r.len() != n_units) {
            return Err(super::kappa::LEN_MISMATCH);
        }
        if n_units == 0 {
            return Err(super::kappa::NO_ITEMS);
        }
        let mut values: Vec<T> = raters.iter().flatten().flatten().cloned().collect();
        // Values that do not compare (a NaN) sort as equal; the distance check below then
        // refuses them.
        values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        values.dedup_by(|a, b| a == b);
        let d = values.len();
        let mut delta = Vec::new();
        delta.try_reserve_exact(d.saturating_mul(d)).map_err(|_| "too many distinct values")?;
        for v in &values {
            for w in &values {
                let x = distance(v, w);
                if !x.is_finite() || x < 0.0 {
                    return Err("the distance between two values is negative or not finite");
                }
                delta.push(x);
            }
        }
        let mut units = Vec::new();
        let mut within = Vec::new();
        for u in 0..n_units {
            let unit: Vec<usize> = raters
                .iter()
                .filter_map(|r| r.get(u).and_then(Option::as_ref))
                .filter_map(|v| {
                    values
                        .binary_search_by(|w| w.partial_cmp(v).unwrap_or(std::cmp::Ordering::Equal))
                        .ok()
                })
                .collect();
            let m = unit.len();
            if m < 2 {
                continue;
            }
            let mut s = 0.0;
            for (i, &a) in unit.iter().enumerate() {
                for (j, &b) in unit.iter().enumerate() {
                    if i != j {
                        s += delta[a * d + b];
                    }
                }
            }
            within.push(s / (m - 1) as f64);
            units.push(unit);
        }
        Ok(Coded { units, within, delta, d })
    }

    /// α over the pairable units `ix` (indices into `units`; repeats count again).
    fn alpha(&self, ix: &[usize]) -> Kappa {
        let mut counts = vec![0u64; self.d];
        let (mut n, mut observed) = (0u64, 0.0f64);
        for &u in ix {
            let (Some(unit), Some(w)) = (self.units.get(u), self.within.get(u)) else {
                continue;
            };
            n += unit.len() as u64;
            observed += w;
            for &v in unit {
                counts[v] += 1;
            }
        }
        if n < 2 {
            return undefined("no unit has two or more values");
        }
        // Σ_{i≠j} δ over all pairable values = Σ_{v,w} n_v n_w δ(v,w) − Σ_v n_v δ(v,v).
        let mut expected = 0.0f64;
        for (v, &nv) in counts.iter().enumerate() {
            if nv == 0 {
                continue;
            }
            for (w, &nw) in counts.iter().enumerate() {
                expected += nv as f64 * nw as f64 * self.delta[v * self.d + w];
            }
            expected -= nv as f64 * self.delta[v * self.d + v];
        }
        if expected <= 0.0 {
            return undefined("no disagreement is expected by chance (no variation in the values)");
        }
        Kappa::Value(1.0 - (n - 1) as f64 * observed / expected)
    }
}

/// Krippendorff's α of `raters[coder][unit]` (`None`: the coder gave that unit no value) under
/// `distance` (the module docs give the formula). The distance must be finite and
/// non-negative.
///
/// Undefined with fewer than two coders, coders with different numbers of units, no units, no
/// unit with two or more values, a bad distance, or no expected disagreement (every pairable
/// value the same).
pub fn krippendorff_alpha<T: PartialOrd + Clone>(
    raters: &[Vec<Option<T>>],
    distance: impl Fn(&T, &T) -> f64,
) -> Kappa {
    match Coded::of(raters, distance) {
        Ok(c) => c.alpha(&(0..c.units.len()).collect::<Vec<_>>()),
        Err(reason) => undefined(reason),
    }
}

/// Percentile bootstrap interval of [`krippendorff_alpha`], resampling pairable units (see
/// [`bootstrap_ci`]; replicates where α is undefined are skipped). `None` when α is undefined
/// on the data or fewer than half the replicates are defined.
pub fn krippendorff_alpha_ci<T: PartialOrd + Clone>(
    raters: &[Vec<Option<T>>],
    distance: impl Fn(&T, &T) -> f64,
    reps: usize,
    level: f64,
    seed: u64,
) -> Option<(f64, f64)> {
    let c = Coded::of(raters, distance).ok()?;
    c.alpha(&(0..c.units.len()).collect::<Vec<_>>()).value()?;
    bootstrap_ci(c.units.len(), |ix| c.alpha(ix).value(), reps, level, seed)
}

/// α with its interval in one pass over the data: (α, interval).
pub fn krippendorff_alpha_with_ci<T: PartialOrd + Clone>(
    raters: &[Vec<Option<T>>],
    distance: impl Fn(&T, &T) -> f64,
    reps: usize,
    level: f64,
    seed: u64,
) -> (Kappa, Option<(f64, f64)>, usize) {
    match Coded::of(raters, distance) {
        Ok(c) => {
            let all: Vec<usize> = (0..c.units.len()).collect();
            let a = c.alpha(&all);
            let ci = a
                .is_defined()
                .then(|| bootstrap_ci(c.units.len(), |ix| c.alpha(ix).value(), reps, level, seed))
                .flatten();
            (a, ci, c.units.len())
        }
        Err(reason) => (undefined(reason), None, 0),
    }
}

/// Nominal distance: 0 for equal values, 1 otherwise.
pub fn nominal<T: PartialEq>(a: &T, b: &T) -> f64 {
    if a == b {
        0.0
    } else {
        1.0
    }
}

/// Interval distance (a − b)².
pub fn interval(a: &f64, b: &f64) -> f64 {
    (a - b) * (a - b)
}

/// Ratio distance ((a − b) / (a + b))², 0 when both are 0.
pub fn ratio(a: &f64, b: &f64) -> f64 {
    let s = a + b;
    if s == 0.0 {
        0.0
    } else {
        ((a - b) / s).powi(2)
    }
}

/// MASI distance between two label sets ([`crate::multilabel::masi_distance`]).
#[allow(clippy::ptr_arg)] // the values are `Vec<String>`: α's distance takes `&T`
pub fn masi(a: &Vec<String>, b: &Vec<String>) -> f64 {
    crate::multilabel::masi_distance(a, b)
}

#[cfg(test)]
mod tests {
    use super::super::kappa::krippendorff_alpha_nominal;
    use super::*;

    /// Krippendorff (2011), section C: 4 observers, 12 units, values 1..5, `0` = missing.
    fn reliability_data() -> Vec<Vec<Option<u32>>> {
        let rows: [[u32; 12]; 4] = [
            [1, 2, 3, 3, 2, 1, 4, 1, 2, 0, 0, 0],
            [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, 0, 3],
            [0, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, 0],
            [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, 0],
        ];
        rows.iter().map(|r| r.iter().map(|&x| (x > 0).then_some(x)).collect()).collect()
    }

    #[test]
    fn the_published_nominal_interval_and_ratio_values() {
        let data = reliability_data();
        let a = krippendorff_alpha(&data, nominal);
        assert!((a.value().unwrap() - 0.743).abs() < 5e-4, "{a:?}");
        // The same as the coincidence-matrix nominal α.
        let idx: Vec<Vec<Option<usize>>> =
            data.iter().map(|r| r.iter().map(|x| x.map(|v| v as usize - 1)).collect()).collect();
        let n = krippendorff_alpha_nominal(&idx, 5).value().unwrap();
        assert!((a.value().unwrap() - n).abs() < 1e-12);
        let f: Vec<Vec<Option<f64>>> =
            data.iter().map(|r| r.iter().map(|x| x.map(f64::from)).collect()).collect();
        let by = |d: fn(&f64, &f64) -> f64| {
            krippendorff_alpha(&f, |a: &f64, b: &f64| d(a, b)).value().unwrap()
        };
        assert!((by(interval) - 0.849).abs() < 5e-4, "interval {}", by(interval));
        assert!((by(ratio) - 0.797).abs() < 5e-4, "ratio {}", by(ratio));
    }

    #[test]
    fn undefined_inputs_say_why_and_the_interval_brackets_alpha() {
        let one: Vec<Vec<Option<u32>>> = vec![vec![Some(1), Some(1)], vec![Some(1), Some(1)]];
        assert!(!krippendorff_alpha(&one, nominal).is_defined());
        assert!(!krippendorff_alpha(&[vec![Some(1)]], nominal).is_defined());
        assert!(!krippendorff_alpha(&[vec![Some(1)], vec![]], nominal).is_defined());
        let lonely: Vec<Vec<Option<u32>>> = vec![vec![Some(1), None], vec![None, Some(2)]];
        assert!(!krippendorff_alpha(&lonely, nominal).is_defined());
        let bad = krippendorff_alpha(&reliability_data(), |_: &u32, _: &u32| f64::NAN);
        assert!(bad.reason().unwrap().contains("not finite"));
        let data = reliability_data();
        let (a, ci, units) = krippendorff_alpha_with_ci(&data, nominal, 500, 0.95, 3);
        let (lo, hi) = ci.unwrap();
        assert_eq!(units, 11);
        assert!(lo <= a.value().unwrap() && a.value().unwrap() <= hi, "{lo} {a:?} {hi}");
        assert_eq!(krippendorff_alpha_ci(&data, nominal, 500, 0.95, 3), Some((lo, hi)));
    }
}
