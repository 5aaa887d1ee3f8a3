//! `hifi simulate`: plan a label budget on data that already has gold labels.
//!
//! A stratified random test set is held out first and never mined. Then, per strategy, the
//! real loop runs on the rest: mine (the same `mine_pool` as `hifi mine`) → the oracle
//! answers from the gold field instead of an expert → train the round model on everything
//! labeled so far → re-predict the pool → mine again, until each budget; at each budget the
//! round model is scored against gold on the test set (Cohen's κ with a bootstrap CI, and
//! macro-F1). The ceiling is the same model trained on every non-test gold label; the
//! zero-shot row is the LLM alone. Everything is seeded: same input and seed, same report.

use std::time::Instant;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::evaluate::REPS;
use super::probe::ProbeParams;
use super::run::{fit_probe, predict_row};
use crate::curate::{mine_pool, MineParams, Pool, Strategy};
use crate::error::{Error, Result};
use crate::metrics::{cohen_kappa, cohen_kappa_ci, macro_f1_checked};
use crate::progress::{CancelToken, Progress, Silent};

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimParams {
    /// Label budgets (items), ascending.
    pub budgets: Vec<usize>,
    pub strategies: Vec<Strategy>,
    /// Mining rounds between one budget and the next.
    pub rounds: usize,
    pub seed: u64,
    /// Share of the gold-labeled items held out as the test set.
    pub test_fraction: f64,
    pub probe: ProbeParams,
    /// Mining knobs (budget, strategy and seed are set per round).
    pub mine: MineParams,
}

impl Default for SimParams {
    fn default() -> Self {
        Self {
            budgets: vec![100, 200, 300, 400, 500],
            strategies: vec![Strategy::Pairs, Strategy::Margin, Strategy::Random, Strategy::ClusterMargin],
            rounds: 1,
            seed: 0,
            test_fraction: 0.3,
            probe: ProbeParams::default(),
            mine: MineParams { overlap_share: 0.0, ..MineParams::default() },
        }
    }
}

/// A model's agreement with gold on the test set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub kappa: Option<f64>,
    pub kappa_ci: Option<[f64; 2]>,
    pub macro_f1: Option<f64>,
}

/// One (strategy, budget) cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimResult {
    pub strategy: String,
    pub budget: usize,
    /// Items the oracle labeled (less than the budget when the pool ran out).
    pub labeled: usize,
    /// Of those, items the strategy could not supply and margin filled in.
    pub filled_by_margin: usize,
    pub kappa: Option<f64>,
    pub kappa_ci: Option<[f64; 2]>,
    pub macro_f1: Option<f64>,
}

/// The simulation's report (also what `--json` prints).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimReport {
    pub results: Vec<SimResult>,
    /// The round model trained on every non-test gold label.
    pub ceiling: Score,
    /// The LLM's zero-shot predictions.
    pub zero_shot: Score,
    pub test_size: usize,
    /// Items the strategies mined from.
    pub pool_size: usize,
    pub seed: u64,
    pub trainer: String,
    pub rounds: usize,
    pub labels: Vec<String>,
    pub warnings: Vec<String>,
    pub seconds: f64,
}

/// Simulate on `pool` (LLM predictions, embeddings) with gold label indices `gold` (one per
/// row, into `pool.label_names`). `pool.labeled` is ignored: nothing is labeled at the start.
pub fn simulate_pool(pool: &Pool, gold: &[usize], params: &SimParams, progress: &mut dyn Progress, cancel: &CancelToken) -> Result<SimReport> {
    let t0 = Instant::now();
    let k = pool.label_names.len();
    let n = pool.keys.len();
    let mut budgets = params.budgets.clone();
    budgets.sort_unstable();
    budgets.dedup();
    if budgets.is_empty() || budgets[0] == 0 {
        return Err(Error::Input("--budgets needs at least one budget ≥ 1".into()));
    }
    if params.strategies.is_empty() {
        return Err(Error::Input("--strategies needs at least one strategy".into()));
    }
    if params.rounds == 0 {
        return Err(Error::Input("--rounds must be at least 1".into()));
    }
    if !(params.test_fraction > 0.0 && params.test_fraction < 1.0) {
        return Err(Error::Input("--test-fraction must be between 0 and 1".into()));
    }
    if gold.len() != n || gold.iter().any(|&g| g >= k) {
        return Err(Error::Input("simulation: one gold label per row, each one of the labels".into()));
    }
    if pool.dim == 0 {
        return Err(Error::Input("simulation needs embeddings: run `hifi embed` first".into()));
    }
    pool.view().validate()?;
    let mut warnings = Vec::new();

    // Stratified test set.
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let mut is_test = vec![false; n];
    for c in 0..k {
        let mut rows: Vec<usize> = (0..n).filter(|&i| gold[i] == c).collect();
        rows.shuffle(&mut rng);
        let take = ((rows.len() as f64 * params.test_fraction).round() as usize).min(rows.len().saturating_sub(1));
        rows[..take].iter().for_each(|&i| is_test[i] = true);
    }
    let test: Vec<usize> = (0..n).filter(|&i| is_test[i]).collect();
    let rest: Vec<usize> = (0..n).filter(|&i| !is_test[i]).collect();
    if test.is_empty() || rest.is_empty() {
        return Err(Error::Input(format!("simulation needs more gold-labeled items than {n}")));
    }
    if *budgets.last().unwrap_or(&0) > rest.len() {
        warnings.push(format!("the largest budget is more than the {} items outside the test set: capped", rest.len()));
    }
    let test_gold: Vec<usize> = test.iter().map(|&i| gold[i]).collect();
    let score_on_test = |pred: &[usize]| Score {
        kappa: cohen_kappa(&test_gold, pred, k).value(),
        kappa_ci: cohen_kappa_ci(&test_gold, pred, k, REPS, 0.95, params.seed).map(|(a, b)| [a, b]),
        macro_f1: macro_f1_checked(&test_gold, pred, k),
    };
    let argmax = |p: &[f64]| p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |x| x.0);
    let zero_shot = score_on_test(&test.iter().map(|&i| argmax(&pool.probs[i * k..(i + 1) * k].iter().map(|&x| x as f64).collect::<Vec<_>>())).collect::<Vec<_>>());
    let predict_test = |train: &[(usize, usize)]| -> Result<Score> {
        let probe = fit_probe(pool, train, k, &params.probe)?;
        let mut row = Vec::new();
        let pred: Vec<usize> = test
            .iter()
            .map(|&i| argmax(&predict_row(&probe, pool, i, params.probe.use_llm, &mut row)))
            .collect();
        Ok(score_on_test(&pred))
    };
    let ceiling = predict_test(&rest.iter().map(|&i| (i, gold[i])).collect::<Vec<_>>())?;

    // The pool the strategies mine: the non-test rows, with the LLM's predictions at first.
    let base = sub_pool(pool, &rest);
    let steps = (params.strategies.len() * budgets.len() * params.rounds) as u64;
    progress.start("simulate", steps);
    let mut done = 0u64;
    let mut results = Vec::new();
    for &strategy in &params.strategies {
        let mut work = base.clone();
        let mut labeled: Vec<(usize, usize)> = Vec::new(); // (row in `pool`, gold)
        let (mut prev, mut filled, mut round) = (0usize, 0usize, 0u64);
        for &budget in &budgets {
            let budget = budget.min(rest.len());
            let step = budget.saturating_sub(prev);
            for r in 0..params.rounds {
                // Split the step evenly over the rounds (the first ones take the remainder).
                let want = step / params.rounds + usize::from(r < step % params.rounds);
                if want > 0 {
                    let rows = pick(&work, strategy, want, params, round, cancel)?;
                    let mut got = rows.len();
                    take(&mut work, &rows, &rest, gold, &mut labeled);
                    if got < want {
                        let more = pick(&work, Strategy::Margin, want - got, params, round, cancel)?;
                        filled += more.len();
                        got += more.len();
                        take(&mut work, &more, &rest, gold, &mut labeled);
                    }
                    if got < want {
                        warnings.push(format!("{}: the pool ran out at {} labels", strategy.as_str(), labeled.len()));
                    }
                    round += 1;
                    if !labeled.is_empty() {
                        repredict(&mut work, pool, &rest, &labeled, params)?;
                    }
                }
                if cancel.is_cancelled() {
                    return Err(Error::Input("simulation interrupted".into()));
                }
                done += 1;
                progress.update(done, strategy.as_str());
            }
            prev = budget;
            let s = if labeled.is_empty() { Score::default() } else { predict_test(&labeled)? };
            results.push(SimResult {
                strategy: strategy.as_str().into(),
                budget,
                labeled: labeled.len(),
                filled_by_margin: filled,
                kappa: s.kappa,
                kappa_ci: s.kappa_ci,
                macro_f1: s.macro_f1,
            });
        }
    }
    progress.finish("");
    warnings.dedup();
    Ok(SimReport {
        results,
        ceiling,
        zero_shot,
        test_size: test.len(),
        pool_size: rest.len(),
        seed: params.seed,
        trainer: "probe".into(),
        rounds: params.rounds,
        labels: pool.label_names.clone(),
        warnings,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// Rows of `pool` listed in `rows`, as a pool of their own (nothing labeled).
pub(crate) fn sub_pool(pool: &Pool, rows: &[usize]) -> Pool {
    let l = pool.label_names.len();
    let mut out = Pool { dim: pool.dim, label_names: pool.label_names.clone(), vectors_id: None, ..Pool::default() };
    for &i in rows {
        out.vectors.extend_from_slice(&pool.vectors[i * pool.dim..(i + 1) * pool.dim]);
        out.keys.push(pool.keys[i]);
        out.labels.push(pool.labels[i]);
        out.probs.extend_from_slice(&pool.probs[i * l..(i + 1) * l]);
        out.labeled.push(false);
    }
    out
}

/// Up to `want` unlabeled rows of `work` chosen by `strategy`, in queue order.
fn pick(work: &Pool, strategy: Strategy, want: usize, params: &SimParams, round: u64, cancel: &CancelToken) -> Result<Vec<usize>> {
    let budget = if strategy == Strategy::Pairs { want.div_ceil(2) } else { want };
    let mp = MineParams { budget, strategy, seed: params.seed.wrapping_add(round), overlap_share: 0.0, ..params.mine.clone() };
    let mined = mine_pool(&work.view(), &mp, None, &mut Silent, cancel)?;
    let mut seen = std::collections::HashSet::new();
    let rows = mined.pairs.iter().flat_map(|p| [p.a, p.b]).chain(mined.items.iter().map(|i| i.row));
    Ok(rows.filter(|r| !work.labeled[*r] && seen.insert(*r)).take(want).collect())
}

/// The oracle labels `rows` of `work` (whose row `j` is `rest[j]` of the full pool).
fn take(work: &mut Pool, rows: &[usize], rest: &[usize], gold: &[usize], labeled: &mut Vec<(usize, usize)>) {
    for &r in rows {
        work.labeled[r] = true;
        labeled.push((rest[r], gold[rest[r]]));
    }
}

/// Train the round model on `labeled` and replace `work`'s predictions with its own.
fn repredict(work: &mut Pool, pool: &Pool, rest: &[usize], labeled: &[(usize, usize)], params: &SimParams) -> Result<()> {
    let k = pool.label_names.len();
    let probe = fit_probe(pool, labeled, k, &params.probe)?;
    let mut row = Vec::new();
    for (j, &i) in rest.iter().enumerate() {
        let p = predict_row(&probe, pool, i, params.probe.use_llm, &mut row);
        let top = p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |x| x.0);
        work.labels[j] = top as u32;
        for (dst, v) in work.probs[j * k..(j + 1) * k].iter_mut().zip(&p) {
            *dst = *v as f32;
        }
    }
    Ok(())
}
