//! Chance-corrected agreement coefficients: Cohen's κ, PABAK, Light's κ, Fleiss' κ and
//! Krippendorff's α (nominal).
//!
//! Every coefficient returns a [`Kappa`], which is either a value or an explicit
//! "undefined" with a reason; nothing here divides by zero or panics on bad input.
//! Labels are category indices in `0..k`; a label `>= k` makes the result undefined.

use std::collections::BTreeMap;

pub use super::Kappa;

pub(crate) const NO_ITEMS: &str = "no items";
pub(crate) const LEN_MISMATCH: &str = "raters labelled different numbers of items";
pub(crate) const OUT_OF_RANGE: &str = "a label is outside 0..k";
const PE_ONE: &str = "expected agreement is 1 (both raters used one and the same class only)";

const fn undefined(reason: &'static str) -> Kappa {
    Kappa::Undefined { reason }
}

/// Checks two raters' label vectors: same length, non-empty, all labels `< k`.
pub(crate) fn validate_pair(a: &[usize], b: &[usize], k: usize) -> Result<(), &'static str> {
    if a.len() != b.len() {
        return Err(LEN_MISMATCH);
    }
    if a.is_empty() {
        return Err(NO_ITEMS);
    }
    if a.iter().chain(b).any(|&x| x >= k) {
        return Err(OUT_OF_RANGE);
    }
    Ok(())
}

/// Relabels both vectors with dense indices `0..d` (same mapping for both raters), so
/// that working memory is bounded by the data, never by `k`. Agreement statistics are
/// invariant under such a relabelling.
pub(crate) fn densify(a: &[usize], b: &[usize]) -> (Vec<usize>, Vec<usize>, usize) {
    let mut ids = BTreeMap::new();
    for &x in a.iter().chain(b) {
        let next = ids.len();
        ids.entry(x).or_insert(next);
    }
    let map = |v: &[usize]| -> Vec<usize> {
        v.iter().map(|x| ids.get(x).copied().unwrap_or(0)).collect()
    };
    (map(a), map(b), ids.len())
}

/// Exact integer tallies of a two-rater table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tally {
    /// Number of items.
    pub n: u128,
    /// Items on which both raters agree.
    pub diag: u128,
    /// Σ_c row_c · col_c, so that Pe = chance / n².
    pub chance: u128,
}

impl Tally {
    /// Tallies `(a, b)` pairs whose labels are dense indices `< d` (others are ignored).
    pub(crate) fn from_pairs(pairs: impl Iterator<Item = (usize, usize)>, d: usize) -> Tally {
        let (mut rows, mut cols) = (vec![0u128; d], vec![0u128; d]);
        let (mut n, mut diag) = (0u128, 0u128);
        for (x, y) in pairs {
            if let (Some(r), Some(c)) = (rows.get_mut(x), cols.get_mut(y)) {
                *r += 1;
                *c += 1;
                n += 1;
                diag += u128::from(x == y);
            }
        }
        let chance = rows.iter().zip(&cols).map(|(r, c)| r * c).sum();
        Tally { n, diag, chance }
    }

    fn of(a: &[usize], b: &[usize], k: usize) -> Result<Tally, &'static str> {
        validate_pair(a, b, k)?;
        let (da, db, d) = densify(a, b);
        Ok(Tally::from_pairs(da.into_iter().zip(db), d))
    }

    /// Cohen's κ = (n·diag − chance) / (n² − chance), computed from exact integers.
    pub(crate) fn kappa(&self) -> Kappa {
        let nn = self.n * self.n;
        if self.n == 0 {
            return undefined(NO_ITEMS);
        }
        if self.chance >= nn {
            return undefined(PE_ONE);
        }
        let num = (self.n * self.diag) as f64 - self.chance as f64;
        Kappa::Value(num / (nn - self.chance) as f64)
    }
}

/// Observed agreement Po: the fraction of items on which `a` and `b` give the same label.
/// `None` when the input is empty, the lengths differ, or a label is `>= k`.
pub fn observed_agreement(a: &[usize], b: &[usize], k: usize) -> Option<f64> {
    let t = Tally::of(a, b, k).ok()?;
    Some(t.diag as f64 / t.n as f64)
}

/// Expected (chance) agreement Pe = Σ_c p_a(c)·p_b(c) from the two raters' marginals.
/// `None` under the same conditions as [`observed_agreement`].
pub fn expected_agreement(a: &[usize], b: &[usize], k: usize) -> Option<f64> {
    let t = Tally::of(a, b, k).ok()?;
    Some(t.chance as f64 / (t.n * t.n) as f64)
}

/// Cohen's κ = (Po − Pe) / (1 − Pe) for two raters labelling the same items.
///
/// Undefined when there are no items, the lengths differ, a label is `>= k`, or Pe = 1
/// (both raters used one and the same class only; checked exactly on integer counts).
pub fn cohen_kappa(a: &[usize], b: &[usize], k: usize) -> Kappa {
    match Tally::of(a, b, k) {
        Ok(t) => t.kappa(),
        Err(reason) => undefined(reason),
    }
}

/// Prevalence- and bias-adjusted kappa, PABAK = (k·Po − 1) / (k − 1) (= 2·Po − 1 for
/// k = 2). Undefined for `k < 2` and for the invalid inputs of [`cohen_kappa`].
pub fn pabak(a: &[usize], b: &[usize], k: usize) -> Kappa {
    if k < 2 {
        return undefined("PABAK needs at least two categories");
    }
    match Tally::of(a, b, k) {
        // Exact form: (k·diag − n) / ((k − 1)·n).
        Ok(t) => {
            let kf = k as f64;
            Kappa::Value((kf * t.diag as f64 - t.n as f64) / ((kf - 1.0) * t.n as f64))
        }
        Err(reason) => undefined(reason),
    }
}

/// Checks a raters × items matrix: at least two raters, equal item counts, labels `< k`.
/// Returns the number of items.
fn validate_raters(raters: &[Vec<Option<usize>>], k: usize) -> Result<usize, &'static str> {
    if raters.len() < 2 {
        return Err("fewer than two raters");
    }
    let n_items = raters.first().map_or(0, Vec::len);
    if raters.iter().any(|r| r.len() != n_items) {
        return Err(LEN_MISMATCH);
    }
    if n_items == 0 {
        return Err(NO_ITEMS);
    }
    if raters.iter().flatten().flatten().any(|&x| x >= k) {
        return Err(OUT_OF_RANGE);
    }
    Ok(n_items)
}

/// Light's κ: the mean of Cohen's κ over all rater pairs, each pair using only the items
/// that both raters labelled. `raters[r][i]` is rater `r`'s label for item `i` (`None` =
/// not rated). Pairs whose κ is undefined (no shared items, Pe = 1) are skipped; the
/// result is undefined when no pair is defined, with fewer than two raters, or when the
/// raters' item counts differ.
pub fn light_kappa(raters: &[Vec<Option<usize>>], k: usize) -> Kappa {
    if let Err(reason) = validate_raters(raters, k) {
        return undefined(reason);
    }
    let (mut sum, mut count) = (0.0, 0usize);
    for (r, ra) in raters.iter().enumerate() {
        for rb in raters.iter().skip(r + 1) {
            let (a, b): (Vec<usize>, Vec<usize>) =
                ra.iter().zip(rb).filter_map(|(x, y)| Some(((*x)?, (*y)?))).unzip();
            if let Kappa::Value(v) = cohen_kappa(&a, &b, k) {
                sum += v;
                count += 1;
            }
        }
    }
    if count == 0 {
        return undefined("no rater pair has a defined kappa");
    }
    Kappa::Value(sum / count as f64)
}

/// Fleiss' κ for a fixed number of raters per item. `counts[i][c]` is the number of raters
/// who put item `i` in category `c`.
///
/// Undefined when there are no items or categories, rows differ in length or in their
/// number of raters, there are fewer than two raters per item, every rating falls in one
/// category (P̄e = 1), or the counts are too large to sum exactly.
pub fn fleiss_kappa(counts: &[Vec<u64>]) -> Kappa {
    let Some(first) = counts.first() else {
        return undefined(NO_ITEMS);
    };
    let k = first.len();
    if k == 0 {
        return undefined("no categories");
    }
    let raters: u128 = first.iter().map(|&x| u128::from(x)).sum();
    if raters < 2 {
        return undefined("fewer than two raters per item");
    }
    let mut cols = vec![0u128; k];
    let mut sum_sq: u128 = 0;
    for row in counts {
        if row.len() != k {
            return undefined("items have different numbers of categories");
        }
        if row.iter().map(|&x| u128::from(x)).sum::<u128>() != raters {
            return undefined("items have different numbers of raters");
        }
        for (col, &x) in cols.iter_mut().zip(row) {
            let x = u128::from(x);
            *col += x;
            sum_sq = match sum_sq.checked_add(x * x) {
                Some(s) => s,
                None => return undefined("counts too large"),
            };
        }
    }
    let total = counts.len() as u128 * raters; // N·n ratings in all
    let chance = cols.iter().try_fold(0u128, |acc, &c| acc.checked_add(c.checked_mul(c)?));
    let (Some(chance), Some(total_sq)) = (chance, total.checked_mul(total)) else {
        return undefined("counts too large");
    };
    if chance >= total_sq {
        return undefined("expected agreement is 1 (every rating is in one category)");
    }
    // P̄ = (Σ n_ij² − N·n) / (N·n·(n − 1)); P̄e = Σ_j C_j² / (N·n)².
    let p_bar = (sum_sq - total) as f64 / (total as f64 * (raters - 1) as f64);
    let p_e = chance as f64 / total_sq as f64;
    Kappa::Value((p_bar - p_e) / (1.0 - p_e))
}

/// Krippendorff's α for nominal data, coincidence-matrix formulation, missing ratings
/// allowed. `raters[r][i]` is coder `r`'s value for unit `i`, `None` when missing.
///
/// Units with fewer than two ratings are not pairable and are dropped. With `n` pairable
/// values, `n_c` of them in category `c`, and coincidences `o_cc`,
/// α = ((n − 1)·Σ_c o_cc − Σ_c n_c(n_c − 1)) / (n(n − 1) − Σ_c n_c(n_c − 1)).
/// Undefined when no unit is pairable, all pairable values are in one category, fewer
/// than two coders, coders' unit counts differ, or a value is `>= k`.
pub fn krippendorff_alpha_nominal(raters: &[Vec<Option<usize>>], k: usize) -> Kappa {
    let n_units = match validate_raters(raters, k) {
        Ok(n) => n,
        Err(reason) => return undefined(reason),
    };
    let mut n_c: BTreeMap<usize, u128> = BTreeMap::new();
    let mut n: u128 = 0;
    let mut o_diag = 0.0f64;
    let mut unit: BTreeMap<usize, u128> = BTreeMap::new();
    for i in 0..n_units {
        unit.clear();
        for x in raters.iter().filter_map(|r| r.get(i).copied().flatten()) {
            *unit.entry(x).or_insert(0) += 1;
        }
        let m_u: u128 = unit.values().sum();
        if m_u < 2 {
            continue;
        }
        n += m_u;
        for (&c, &m_uc) in &unit {
            *n_c.entry(c).or_insert(0) += m_uc;
            o_diag += (m_uc * (m_uc - 1)) as f64 / (m_u - 1) as f64;
        }
    }
    if n == 0 {
        return undefined("no unit has two or more ratings");
    }
    let same: u128 = n_c.values().map(|&c| c * (c - 1)).sum();
    let all = n * (n - 1);
    if same >= all {
        return undefined("all pairable ratings are in one category (no variation)");
    }
    Kappa::Value(((n - 1) as f64 * o_diag - same as f64) / (all - same) as f64)
}

#[cfg(test)]
mod tests {
    use super::super::tests::from_table;
    use super::*;

    fn close(x: Kappa, want: f64, tol: f64) {
        let v = x.value().unwrap_or(f64::NAN);
        assert!((v - want).abs() < tol, "got {x:?}, want {want}");
    }

    /// Wikipedia "Cohen's kappa" worked example: 50 items, yes/yes 20, A-yes/B-no 5,
    /// A-no/B-yes 10, no/no 15 → Po = 0.7, Pe = 0.5, κ = 0.4 (label 1 = yes, 0 = no).
    fn wiki() -> (Vec<usize>, Vec<usize>) {
        from_table(&[&[15, 10], &[5, 20]])
    }

    #[test]
    fn cohen_wikipedia_2x2_is_exactly_0_4() {
        let (a, b) = wiki();
        assert_eq!(cohen_kappa(&a, &b, 2), Kappa::Value(0.4));
        assert_eq!(observed_agreement(&a, &b, 2), Some(0.7));
        assert_eq!(expected_agreement(&a, &b, 2), Some(0.5));
    }

    /// Hand computation, rows = A, cols = B:
    /// [[10,2,0],[1,8,3],[0,2,4]], n = 30, diag = 22, rows 12,12,6, cols 11,12,7.
    /// Σ row·col = 132 + 144 + 42 = 318; Po = 22/30, Pe = 318/900;
    /// κ = (30·22 − 318)/(900 − 318) = 342/582 = 57/97 ≈ 0.58763.
    #[test]
    fn cohen_three_class_hand_computed() {
        let (a, b) = from_table(&[&[10, 2, 0], &[1, 8, 3], &[0, 2, 4]]);
        close(cohen_kappa(&a, &b, 3), 57.0 / 97.0, 1e-12);
        // An unused 4th category changes nothing.
        close(cohen_kappa(&a, &b, 4), 57.0 / 97.0, 1e-12);
    }

    #[test]
    fn cohen_edge_cases() {
        let v = vec![0, 1, 2, 1, 0];
        assert_eq!(cohen_kappa(&v, &v, 3), Kappa::Value(1.0));
        let one = vec![1; 7];
        assert_eq!(cohen_kappa(&one, &one, 2).reason(), Some(PE_ONE));
        assert_eq!(cohen_kappa(&[], &[], 2).reason(), Some(NO_ITEMS));
        assert_eq!(cohen_kappa(&[0, 1], &[0], 2).reason(), Some(LEN_MISMATCH));
        assert_eq!(cohen_kappa(&[0, 2], &[0, 1], 2).reason(), Some(OUT_OF_RANGE));
        assert_eq!(cohen_kappa(&[0], &[0], 0).reason(), Some(OUT_OF_RANGE));
        // A constant rater against a varied one agrees exactly at chance level: κ = 0.
        assert_eq!(cohen_kappa(&[0, 0, 0, 0], &[0, 1, 0, 1], 2), Kappa::Value(0.0));
        // Total disagreement on a balanced binary table: κ = −1.
        assert_eq!(cohen_kappa(&[0, 1], &[1, 0], 2), Kappa::Value(-1.0));
        // Huge k allocates nothing proportional to k.
        assert_eq!(cohen_kappa(&v, &v, usize::MAX), Kappa::Value(1.0));
        assert_eq!(observed_agreement(&[], &[], 2), None);
    }

    #[test]
    fn pabak_is_2po_minus_1_for_binary() {
        let (a, b) = wiki();
        assert_eq!(pabak(&a, &b, 2), Kappa::Value(0.4)); // 2·0.7 − 1
                                                         // k = 3, Po = 22/30: (3·22/30 − 1)/2 = 0.6.
        let (a, b) = from_table(&[&[10, 2, 0], &[1, 8, 3], &[0, 2, 4]]);
        close(pabak(&a, &b, 3), 0.6, 1e-12);
        assert!(!pabak(&[0], &[0], 1).is_defined());
        assert!(!pabak(&[], &[], 2).is_defined());
    }

    #[test]
    fn light_kappa_means_pairwise_and_skips_undefined() {
        let (a, b) = wiki();
        let s = |v: &[usize]| v.iter().map(|&x| Some(x)).collect::<Vec<_>>();
        // Pairs: (A,B) = 0.4, (A,A') = 1, (B,A') = 0.4 → mean 0.6.
        close(light_kappa(&[s(&a), s(&b), s(&a)], 2), 0.6, 1e-12);
        // Rater 2 only rated items labelled 0 by both others → its pairs are undefined.
        let r2 = vec![Some(0), None, Some(0), None];
        let r = [s(&[0, 1, 0, 1]), s(&[0, 1, 0, 1]), r2];
        assert_eq!(light_kappa(&r, 2), Kappa::Value(1.0));
        let none = [vec![Some(0), None], vec![None, Some(1)]];
        assert!(!light_kappa(&none, 2).is_defined());
        assert!(!light_kappa(&[s(&a)], 2).is_defined());
        assert!(!light_kappa(&[s(&a), s(&b[1..])], 2).is_defined());
    }

    /// Wikipedia "Fleiss' kappa" worked example: 10 items, 14 raters, 5 categories;
    /// P̄ = 0.378, P̄e = 0.213, κ ≈ 0.210.
    #[test]
    fn fleiss_wikipedia_example() {
        let counts: Vec<Vec<u64>> = vec![
            vec![0, 0, 0, 0, 14],
            vec![0, 2, 6, 4, 2],
            vec![0, 0, 3, 5, 6],
            vec![0, 3, 9, 2, 0],
            vec![2, 2, 8, 1, 1],
            vec![7, 7, 0, 0, 0],
            vec![3, 2, 6, 3, 0],
            vec![2, 5, 3, 2, 2],
            vec![6, 5, 2, 1, 0],
            vec![0, 2, 2, 3, 7],
        ];
        let k = fleiss_kappa(&counts);
        close(k, 0.210, 5e-4);
        assert_eq!(k.to_string(), "0.210");
    }

    #[test]
    fn fleiss_edge_cases() {
        assert!(!fleiss_kappa(&[]).is_defined());
        assert!(!fleiss_kappa(&[vec![], vec![]]).is_defined());
        assert!(!fleiss_kappa(&[vec![3, 0], vec![2, 0]]).is_defined()); // unequal raters
        assert!(!fleiss_kappa(&[vec![3, 0], vec![2, 0, 1]]).is_defined()); // ragged
        assert!(!fleiss_kappa(&[vec![1, 0], vec![0, 1]]).is_defined()); // one rater
        assert!(!fleiss_kappa(&[vec![0, 3], vec![0, 3]]).is_defined()); // P̄e = 1
        assert!(!fleiss_kappa(&[vec![u64::MAX, u64::MAX]]).is_defined()); // no panic
        assert_eq!(fleiss_kappa(&[vec![3, 0], vec![0, 3]]), Kappa::Value(1.0));
    }

    fn coders(rows: &[&[i32]]) -> Vec<Vec<Option<usize>>> {
        let val = |&x: &i32| usize::try_from(x).ok();
        rows.iter().map(|r| r.iter().map(val).collect()).collect()
    }

    /// Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C:
    /// 4 observers, 12 units, values 1..5 (here 0..4), -1 = missing; unit 12 has a
    /// single value and is dropped; n = 40 pairable values; nominal α = 0.743.
    #[test]
    fn krippendorff_2011_nominal_example() {
        let r = coders(&[
            &[0, 1, 2, 2, 1, 0, 3, 0, 1, -1, -1, -1],
            &[0, 1, 2, 2, 1, 1, 3, 0, 1, 4, -1, 2],
            &[-1, 2, 2, 2, 1, 2, 3, 1, 1, 4, 0, -1],
            &[0, 1, 2, 2, 1, 3, 3, 0, 1, 4, 0, -1],
        ]);
        let a = krippendorff_alpha_nominal(&r, 5);
        close(a, 0.743, 5e-4);
    }

    /// Krippendorff (2011), section A: binary data, 2 observers, 10 units, α = 0.095.
    /// By hand: o_00 = 10, o_11 = 2, o_01 = 4, n_0 = 14, n_1 = 6, n = 20,
    /// α = 1 − 19·4/(14·6) = 8/84 ≈ 0.0952.
    #[test]
    fn krippendorff_2011_binary_example() {
        let r = coders(&[&[0, 1, 0, 0, 0, 0, 0, 0, 1, 0], &[1, 1, 1, 0, 0, 1, 0, 0, 0, 0]]);
        close(krippendorff_alpha_nominal(&r, 2), 8.0 / 84.0, 1e-12);
    }

    #[test]
    fn krippendorff_edge_cases() {
        let agree = coders(&[&[0, 1, 0, 2], &[0, 1, -1, -1], &[-1, 1, 0, 2]]);
        assert_eq!(krippendorff_alpha_nominal(&agree, 3), Kappa::Value(1.0));
        let single = coders(&[&[1, 1, -1], &[1, 1, 1]]);
        assert!(!krippendorff_alpha_nominal(&single, 2).is_defined());
        let unpairable = coders(&[&[0, -1], &[-1, 1]]);
        assert!(!krippendorff_alpha_nominal(&unpairable, 2).is_defined());
        assert!(!krippendorff_alpha_nominal(&coders(&[&[0, 1]]), 2).is_defined());
        assert!(!krippendorff_alpha_nominal(&coders(&[&[0, 1], &[0]]), 2).is_defined());
        assert!(!krippendorff_alpha_nominal(&coders(&[&[0, 5], &[0, 1]]), 2).is_defined());
    }
}
