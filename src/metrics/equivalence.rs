//! Is the model as good as the experts? An equivalence test, not a failure to find a difference.
//!
//! On items two or more experts labeled, D = κ_expert–expert − κ_model–expert, where
//! κ_expert–expert is Light's kappa (mean pairwise Cohen over the experts) and κ_model–expert
//! is the mean over experts of Cohen's kappa between the model and that expert — both on the
//! **same** items. Items are resampled together (a paired bootstrap), so the two kappas'
//! shared item difficulty cancels. "As good as the experts" means the upper bound of the 90%
//! interval of D is at most the margin δ: a one-sided test at 5% of "D ≥ δ" (the TOST
//! procedure with only the side that matters; a model better than the experts is fine).
//!
//! With too few items the interval is wide and the test says "not shown", as it should: at
//! δ = 0.05 and experts at κ 0.8 a model equal to them is shown equivalent about half the
//! time with 400 double-labeled items and most of the time with 800 (measured by simulation
//! in tests/stop_rule.rs).

use super::bootstrap::bootstrap_ci;
use super::kappa::{cohen_kappa, light_kappa};

/// Level of the interval the equivalence decision reads (its upper bound: a 5% one-sided test).
pub const LEVEL: f64 = 0.90;

/// The result of [`test`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Equivalence {
    /// Items two or more experts labeled (the rows the test used).
    pub n: usize,
    pub kappa_experts: f64,
    /// Mean over experts of κ(model, expert).
    pub kappa_model: f64,
    /// κ_experts − κ_model.
    pub d: f64,
    /// 90% paired bootstrap interval of `d`.
    pub ci: [f64; 2],
    /// δ.
    pub margin: f64,
    /// `ci[1] <= margin`.
    pub equivalent: bool,
}

/// Mean over experts of Cohen's κ(model, expert) on the rows `ix` each expert labeled.
fn model_kappa(
    shared: &[Vec<Option<usize>>],
    model: &[usize],
    ix: &[usize],
    k: usize,
) -> Option<f64> {
    let raters = shared.first().map_or(0, Vec::len);
    let (mut sum, mut n) = (0.0, 0usize);
    let (mut a, mut m) = (Vec::new(), Vec::new());
    #[allow(clippy::needless_range_loop)] // r indexes a column of every row of `shared`
    for r in 0..raters {
        a.clear();
        m.clear();
        for &i in ix {
            if let Some(l) = shared[i][r] {
                a.push(l);
                m.push(model[i]);
            }
        }
        if a.is_empty() {
            continue;
        }
        sum += cohen_kappa(&a, &m, k).value()?;
        n += 1;
    }
    (n > 0).then(|| sum / n as f64)
}

fn expert_kappa(shared: &[Vec<Option<usize>>], ix: &[usize], k: usize) -> Option<f64> {
    let raters = shared.first().map_or(0, Vec::len);
    let cols: Vec<Vec<Option<usize>>> =
        (0..raters).map(|r| ix.iter().map(|&i| shared[i][r]).collect()).collect();
    light_kappa(&cols, k).value()
}

/// D = κ_experts − κ_model on the rows `ix`.
pub fn gap(shared: &[Vec<Option<usize>>], model: &[usize], ix: &[usize], k: usize) -> Option<f64> {
    Some(expert_kappa(shared, ix, k)? - model_kappa(shared, model, ix, k)?)
}

/// The equivalence test over `shared[item][expert]` (each row: an item two or more experts
/// labeled) and `model[item]`, with `reps` seeded bootstrap replicates. `None` when either
/// kappa is undefined on the full data (a single label everywhere) or the bootstrap is.
pub fn test(
    shared: &[Vec<Option<usize>>],
    model: &[usize],
    k: usize,
    margin: f64,
    reps: usize,
    seed: u64,
) -> Option<Equivalence> {
    assert_eq!(shared.len(), model.len(), "one model label per shared row");
    let all: Vec<usize> = (0..shared.len()).collect();
    let kappa_experts = expert_kappa(shared, &all, k)?;
    let kappa_model = model_kappa(shared, model, &all, k)?;
    let (lo, hi) = bootstrap_ci(shared.len(), |ix| gap(shared, model, ix, k), reps, LEVEL, seed)?;
    Some(Equivalence {
        n: shared.len(),
        kappa_experts,
        kappa_model,
        d: kappa_experts - kappa_model,
        ci: [lo, hi],
        margin,
        equivalent: hi <= margin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Binary items with prevalence 0.5; each rater (and the model) copies the truth with
    /// probability `acc`, else flips it.
    fn raters(
        n: usize,
        expert_acc: f64,
        model_acc: f64,
        seed: u64,
    ) -> (Vec<Vec<Option<usize>>>, Vec<usize>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut shared = Vec::new();
        let mut model = Vec::new();
        for _ in 0..n {
            let t = usize::from(rng.gen_bool(0.5));
            let mut say = |acc: f64| if rng.gen_bool(acc) { t } else { 1 - t };
            shared.push(vec![Some(say(expert_acc)), Some(say(expert_acc))]);
            model.push(say(model_acc));
        }
        (shared, model)
    }

    #[test]
    fn a_model_equal_to_the_experts_is_equivalent_with_enough_items_and_a_weak_one_never() {
        let (shared, model) = raters(2000, 0.95, 0.95, 1);
        let e = test(&shared, &model, 2, 0.05, 400, 7).unwrap();
        assert!(e.equivalent, "{e:?}");
        assert!(e.ci[0] < e.d && e.d < e.ci[1]);
        let (shared, model) = raters(2000, 0.95, 0.75, 1);
        let e = test(&shared, &model, 2, 0.05, 400, 7).unwrap();
        assert!(!e.equivalent && e.d > 0.2, "{e:?}");
    }

    #[test]
    fn same_items_same_answer_and_undefined_when_one_label() {
        let (shared, model) = raters(100, 0.9, 0.8, 3);
        assert_eq!(test(&shared, &model, 2, 0.05, 200, 9), test(&shared, &model, 2, 0.05, 200, 9));
        let one = vec![vec![Some(0), Some(0)]; 30];
        assert!(test(&one, &[0; 30], 2, 0.05, 200, 9).is_none());
    }
}
