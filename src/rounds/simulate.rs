//! `hifi simulate`: plan a label budget on data that already has gold labels.
//!
//! Per seed (`seed`, `seed + 1`, … `--seeds` of them) a stratified random test set is held
//! out and never mined. Then, per strategy, the real loop runs on the rest: mine (the same
//! `mine_pool` as `hifi mine`) → simulated experts answer instead of real ones → train the
//! round model → re-predict the pool → mine again, until each budget; at each budget the round
//! model is scored against gold on the test set (Cohen's κ with a bootstrap CI, and macro-F1).
//! Over seeds each cell gets its mean with a 95% t-interval, and each strategy its paired
//! difference to random (the same seed gives every strategy the same test split and start).
//!
//! Without noise (`oracle_noise` 0, no second expert) the expert is gold itself and every
//! label trains; the eval split and the stop rule are not simulated. With noise, or a second
//! gold field as a second expert, the project's eval side runs too: at each budget an audit
//! share drawn uniformly from the unlabeled pool goes to eval; the strategy's items are split
//! eval/train sticky, stratified by label, a mined pair's items together; eval items are
//! labeled by two independent simulated experts, train items by one; the round model trains
//! on train only; and the equivalence test (δ = `margin`) on the eval items gives the verdict
//! the project would have printed at that budget. The ceiling is the round model trained on
//! every non-test gold label; the zero-shot row is the LLM alone. Everything is seeded: same
//! input and seed, same report.

pub mod multi;
mod summary;

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub use summary::{mean_ci, PairedDiff, StopTally};

use super::agreement::REPS;
use super::evaluate::{MIN_EVAL, MIN_SHARED};
use super::probe::ProbeParams;
use super::run::{fit_probe, predict_row};
use crate::curate::{mine_pool, MineParams, Pool, Strategy, MIN_HELD_OUT};
use crate::error::{Error, Result};
use crate::metrics::equivalence::{self, Equivalence};
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
    /// The first seed; seed `seed + s` drives repetition `s` (test split, mining, experts).
    pub seed: u64,
    /// Repetitions of the whole simulation.
    pub seeds: usize,
    /// Share of the gold-labeled items held out as the test set.
    pub test_fraction: f64,
    pub probe: ProbeParams,
    /// Mining knobs (budget, strategy and seed are set per round).
    pub mine: MineParams,
    /// Probability that a simulated expert answers a label other than gold (uniformly one
    /// of the others), independently per expert and item.
    pub oracle_noise: f64,
    /// The eval side (with noise or a second expert): `[split] eval_fraction`,
    /// `[mine] audit_share`, `[stop] margin`.
    pub eval_fraction: f64,
    pub audit_share: f64,
    pub margin: f64,
}

impl Default for SimParams {
    fn default() -> Self {
        Self {
            budgets: vec![100, 200, 300, 400, 500],
            strategies: vec![
                Strategy::Adaptive,
                Strategy::Pairs,
                Strategy::Margin,
                Strategy::Random,
                Strategy::ClusterMargin,
            ],
            rounds: 1,
            seed: 0,
            seeds: 5,
            test_fraction: 0.3,
            probe: ProbeParams::default(),
            mine: MineParams { overlap_share: 0.0, ..MineParams::default() },
            oracle_noise: 0.0,
            eval_fraction: 0.3,
            audit_share: 0.1,
            margin: 0.05,
        }
    }
}

/// A model's agreement with gold on the test set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub kappa: Option<f64>,
    /// Within [−1, 1] always (a t-interval over seeds near κ = 1 is cut there).
    pub kappa_ci: Option<[f64; 2]>,
    /// Whether a bound of `kappa_ci` was cut to [−1, 1].
    #[serde(default)]
    pub kappa_ci_clamped: bool,
    pub macro_f1: Option<f64>,
    /// Multi-label projects: each label's κ by name (`kappa` is then their mean; `null` where
    /// a label's κ is undefined).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_label: Option<BTreeMap<String, Option<f64>>>,
}

/// One (strategy, budget) cell over seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimResult {
    pub strategy: String,
    pub budget: usize,
    /// Items the experts labeled (the fewest over seeds; less than the budget when the pool
    /// ran out).
    pub labeled: usize,
    /// Of those, items the strategy could not supply and margin filled in (mean per seed).
    pub filled_by_margin: f64,
    /// Mean κ vs gold over seeds.
    pub kappa: Option<f64>,
    /// 95% t-interval over seeds (with one seed: that seed's bootstrap interval), cut to
    /// [−1, 1].
    pub kappa_ci: Option<[f64; 2]>,
    /// Whether a bound of `kappa_ci` was cut to [−1, 1].
    #[serde(default)]
    pub kappa_ci_clamped: bool,
    pub macro_f1: Option<f64>,
    /// Seeds with a defined κ.
    #[serde(default)]
    pub seeds: usize,
    /// κ minus random's κ on the same seeds (absent for random, or when random was not run).
    #[serde(default)]
    pub vs_random: Option<PairedDiff>,
    /// The stop rule's verdicts over seeds (absent when the eval side was not simulated).
    #[serde(default)]
    pub stop: Option<StopTally>,
    /// Multi-label projects: each label's mean κ over seeds, by name (`kappa` is the mean
    /// over labels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_label: Option<BTreeMap<String, Option<f64>>>,
}

/// The eval side of one cell of one seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalCell {
    /// Eval items (audit included), each labeled by two simulated experts.
    pub eval_size: usize,
    pub audit: usize,
    /// Items the round model trained on.
    pub train_size: usize,
    /// "stop", "continue" or "not-enough-data" (fewer than MIN_EVAL eval or MIN_SHARED
    /// double-labeled items, or a kappa undefined on them).
    pub decision: String,
    pub equivalence: Option<Equivalence>,
}

/// One (strategy, budget) cell of one seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedResult {
    pub seed: u64,
    pub strategy: String,
    pub budget: usize,
    pub labeled: usize,
    pub filled_by_margin: usize,
    pub kappa: Option<f64>,
    /// Bootstrap interval over the test items.
    pub kappa_ci: Option<[f64; 2]>,
    pub macro_f1: Option<f64>,
    pub eval: Option<EvalCell>,
    /// Multi-label projects: each label's κ by name (`kappa` is their mean).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_label: Option<BTreeMap<String, Option<f64>>>,
}

/// One seed's baselines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedBaseline {
    pub seed: u64,
    pub zero_shot: Score,
    pub ceiling: Score,
}

/// How the eval side was simulated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalSettings {
    pub oracle_noise: f64,
    /// The second expert is a second gold field (else gold again, with its own noise).
    pub second_expert: Option<String>,
    pub eval_fraction: f64,
    pub audit_share: f64,
    pub margin: f64,
}

/// The simulation's report (also what `--json` prints).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimReport {
    /// Per (strategy, budget), over seeds.
    pub results: Vec<SimResult>,
    /// Every seed's cells.
    #[serde(default)]
    pub per_seed: Vec<SeedResult>,
    /// The round model trained on every non-test gold label (mean over seeds).
    pub ceiling: Score,
    /// The base LLM's zero-shot predictions (mean over seeds).
    pub zero_shot: Score,
    #[serde(default)]
    pub baselines: Vec<SeedBaseline>,
    /// The model whose predictions are the zero-shot row and the probe's LLM features.
    #[serde(default)]
    pub zero_shot_model: Option<i64>,
    pub test_size: usize,
    /// Items the strategies mined from.
    pub pool_size: usize,
    pub seed: u64,
    #[serde(default)]
    pub seeds: usize,
    /// Absent: eval split and stop rule not simulated (a noise-free single oracle).
    #[serde(default)]
    pub eval: Option<EvalSettings>,
    pub trainer: String,
    pub rounds: usize,
    pub labels: Vec<String>,
    pub warnings: Vec<String>,
    pub seconds: f64,
}

/// Simulate on `pool` (LLM predictions, embeddings) with gold label indices `gold` (one per
/// row, into `pool.label_names`). `pool.labeled` is ignored: nothing is labeled at the start.
pub fn simulate_pool(
    pool: &Pool,
    gold: &[usize],
    params: &SimParams,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<SimReport> {
    simulate_experts(pool, gold, None, params, progress, cancel)
}

/// [`simulate_pool`] with a second expert: `second` names a second gold field and gives its
/// label per row (the eval side then runs even without noise).
pub fn simulate_experts(
    pool: &Pool,
    gold: &[usize],
    second: Option<(&str, &[usize])>,
    params: &SimParams,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<SimReport> {
    let t0 = Instant::now();
    let k = pool.label_names.len();
    let n = pool.keys.len();
    let budgets = checked_budgets(params)?;
    simulate_checked(t0, budgets, pool, gold, second, params, progress, cancel, k, n)
}

/// The simulation's knobs, checked: the budgets sorted, without duplicates.
fn checked_budgets(params: &SimParams) -> Result<Vec<usize>> {
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
    if params.seeds == 0 {
        return Err(Error::Input("--seeds must be at least 1".into()));
    }
    if !(params.test_fraction > 0.0 && params.test_fraction < 1.0) {
        return Err(Error::Input("--test-fraction must be between 0 and 1".into()));
    }
    if !(0.0..1.0).contains(&params.oracle_noise) {
        return Err(Error::Input(format!(
            "--oracle-noise {} must be in [0, 1)",
            params.oracle_noise
        )));
    }
    Ok(budgets)
}

/// [`simulate_experts`] after [`checked_budgets`].
#[allow(clippy::too_many_arguments)]
fn simulate_checked(
    t0: Instant,
    budgets: Vec<usize>,
    pool: &Pool,
    gold: &[usize],
    second: Option<(&str, &[usize])>,
    params: &SimParams,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
    k: usize,
    n: usize,
) -> Result<SimReport> {
    if k < 2 || gold.len() != n || gold.iter().any(|&g| g >= k) {
        return Err(Error::Input(
            "simulation: one gold label per row, each one of the labels".into(),
        ));
    }
    if let Some((name, g2)) = second {
        if g2.len() != n || g2.iter().any(|&g| g >= k) {
            return Err(Error::Input(format!(
                "simulation: one `{name}` label per row, each one of the labels"
            )));
        }
    }
    if pool.dim == 0 {
        return Err(Error::Input("simulation needs embeddings: run `hifi embed` first".into()));
    }
    pool.view().validate()?;
    let eval = (params.oracle_noise > 0.0 || second.is_some()).then(|| EvalSettings {
        oracle_noise: params.oracle_noise,
        second_expert: second.map(|s| s.0.to_string()),
        eval_fraction: params.eval_fraction,
        audit_share: params.audit_share,
        margin: params.margin,
    });
    let steps = (params.seeds * params.strategies.len() * budgets.len() * params.rounds) as u64;
    progress.start("simulate", steps);
    let mut run = Run {
        pool,
        gold,
        second: second.map(|s| s.1),
        params,
        budgets: &budgets,
        eval: eval.is_some(),
        cancel,
        progress,
        done: 0,
        warnings: Vec::new(),
    };
    let (mut rows, mut baselines, mut sizes) = (Vec::new(), Vec::new(), (0, 0));
    for s in 0..params.seeds as u64 {
        let seed = params.seed.wrapping_add(s);
        let (base, cells, test_size, pool_size) = run.seed(seed)?;
        baselines.push(base);
        rows.extend(cells);
        sizes = (test_size, pool_size);
    }
    let Run { warnings, progress, .. } = run;
    progress.finish("");
    let runs = SeedRuns { rows, baselines, sizes, warnings };
    Ok(report(pool, params, runs, eval, "probe", t0))
}

/// What a simulation's seeds gave: their result rows, baselines, the (test, pool) sizes of the
/// last seed, and the warnings on the way.
pub(super) struct SeedRuns {
    pub rows: Vec<SeedResult>,
    pub baselines: Vec<SeedBaseline>,
    pub sizes: (usize, usize),
    pub warnings: Vec<String>,
}

/// The report of a simulation from its seeds (single- and multi-label simulations alike):
/// results averaged over seeds, the baselines' means, the warnings once each.
pub(super) fn report(
    pool: &Pool,
    params: &SimParams,
    runs: SeedRuns,
    eval: Option<EvalSettings>,
    trainer: &str,
    t0: Instant,
) -> SimReport {
    let SeedRuns { rows, baselines, sizes, mut warnings } = runs;
    if !params.strategies.contains(&Strategy::Random) {
        warnings.push(
            "random was not simulated: no paired differences to it (add random to --strategies)"
                .into(),
        );
    }
    let mut seen = std::collections::HashSet::new();
    warnings.retain(|w| seen.insert(w.clone()));
    SimReport {
        results: summary::aggregate(&rows),
        per_seed: rows,
        ceiling: summary::mean_score(
            &baselines.iter().map(|b| b.ceiling.clone()).collect::<Vec<_>>(),
        ),
        zero_shot: summary::mean_score(
            &baselines.iter().map(|b| b.zero_shot.clone()).collect::<Vec<_>>(),
        ),
        baselines,
        zero_shot_model: None,
        test_size: sizes.0,
        pool_size: sizes.1,
        seed: params.seed,
        seeds: params.seeds,
        eval,
        trainer: trainer.into(),
        rounds: params.rounds,
        labels: pool.label_names.clone(),
        warnings,
        seconds: t0.elapsed().as_secs_f64(),
    }
}

/// Everything one seed's simulation reads, and its progress.
struct Run<'a, 'p> {
    pool: &'a Pool,
    gold: &'a [usize],
    second: Option<&'a [usize]>,
    params: &'a SimParams,
    budgets: &'a [usize],
    eval: bool,
    cancel: &'a CancelToken,
    progress: &'p mut dyn Progress,
    done: u64,
    warnings: Vec<String>,
}

fn argmax(p: &[f64]) -> usize {
    p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |x| x.0)
}

/// A simulated expert: gold with probability 1 − `noise`, else one of the other labels.
fn expert(gold: &[usize], k: usize, noise: f64, rng: &mut ChaCha8Rng) -> Vec<usize> {
    gold.iter()
        .map(|&g| {
            if noise > 0.0 && rng.gen_bool(noise) {
                let o = rng.gen_range(0..k - 1);
                if o >= g {
                    o + 1
                } else {
                    o
                }
            } else {
                g
            }
        })
        .collect()
}

/// The project's split rule, inside the simulation: sticky; a mined pair's second item joins
/// its partner's split; otherwise per label the eval share stays within one item of
/// `fraction`, a seeded coin deciding the fractional part.
struct Splitter {
    fraction: f64,
    counts: Vec<(f64, f64)>,
    eval_of: HashMap<usize, bool>,
    rng: ChaCha8Rng,
}

impl Splitter {
    fn assign(&mut self, row: usize, partner: Option<usize>, label: usize) -> bool {
        let joined = partner.and_then(|p| self.eval_of.get(&p).copied());
        let c = &mut self.counts[label];
        c.1 += 1.0;
        let eval = joined.unwrap_or_else(|| {
            let deficit = self.fraction * c.1 - c.0;
            deficit >= 1.0 || (deficit > 0.0 && self.rng.gen::<f64>() < deficit)
        });
        if eval {
            c.0 += 1.0;
        }
        self.eval_of.insert(row, eval);
        eval
    }
}

impl Run<'_, '_> {
    /// One seed: its test split, baselines and every (strategy, budget) cell; also the test
    /// and mining pool sizes.
    fn seed(&mut self, seed: u64) -> Result<(SeedBaseline, Vec<SeedResult>, usize, usize)> {
        let (pool, gold, params) = (self.pool, self.gold, self.params);
        let (k, n) = (pool.label_names.len(), pool.keys.len());
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut is_test = vec![false; n];
        for c in 0..k {
            let mut rows: Vec<usize> = (0..n).filter(|&i| gold[i] == c).collect();
            rows.shuffle(&mut rng);
            let take = ((rows.len() as f64 * params.test_fraction).round() as usize)
                .min(rows.len().saturating_sub(1));
            rows[..take].iter().for_each(|&i| is_test[i] = true);
        }
        let test: Vec<usize> = (0..n).filter(|&i| is_test[i]).collect();
        let rest: Vec<usize> = (0..n).filter(|&i| !is_test[i]).collect();
        if test.is_empty() || rest.is_empty() {
            return Err(Error::Input(format!("simulation needs more gold-labeled items than {n}")));
        }
        if *self.budgets.last().unwrap_or(&0) > rest.len() {
            self.warnings.push(format!(
                "the largest budget is more than the {} items outside the test set: capped",
                rest.len()
            ));
        }
        // Two independent experts per seed, the same for every strategy (a paired comparison).
        let mut erng = ChaCha8Rng::seed_from_u64(seed ^ 0x6578_7065_7274);
        let experts = [
            expert(gold, k, params.oracle_noise, &mut erng),
            expert(self.second.unwrap_or(gold), k, params.oracle_noise, &mut erng),
        ];
        let test_gold: Vec<usize> = test.iter().map(|&i| gold[i]).collect();
        let score_on_test = |pred: &[usize]| Score {
            kappa: cohen_kappa(&test_gold, pred, k).value(),
            kappa_ci: cohen_kappa_ci(&test_gold, pred, k, REPS, 0.95, seed).map(|(a, b)| [a, b]),
            kappa_ci_clamped: false,
            macro_f1: macro_f1_checked(&test_gold, pred, k),
            per_label: None,
        };
        let llm_row = |i: usize| {
            argmax(
                &pool.probs[i * k..(i + 1) * k].iter().map(|&x| f64::from(x)).collect::<Vec<_>>(),
            )
        };
        let zero_shot = score_on_test(&test.iter().map(|&i| llm_row(i)).collect::<Vec<_>>());
        let predict = |train: &[(usize, usize)], rows: &[usize]| -> Result<Vec<usize>> {
            let probe = fit_probe(pool, train, k, &params.probe)?;
            let mut row = Vec::new();
            Ok(rows
                .iter()
                .map(|&i| argmax(&predict_row(&probe, pool, i, params.probe.use_llm, &mut row)))
                .collect())
        };
        let ceiling = score_on_test(&predict(
            &rest.iter().map(|&i| (i, gold[i])).collect::<Vec<_>>(),
            &test,
        )?);

        // The pool the strategies mine: the non-test rows, with the LLM's predictions at first.
        let base = sub_pool(pool, &rest);
        let mut cells = Vec::new();
        for &strategy in &params.strategies {
            let mut work = base.clone();
            let mut train: Vec<(usize, usize)> = Vec::new(); // (row in `pool`, the expert's label)
            let mut train_explored: Vec<bool> = Vec::new(); // per `train` entry: an explored item
            let mut eval: Vec<usize> = Vec::new(); // rows in `pool`
            let mut split = Splitter {
                fraction: if self.eval { params.eval_fraction } else { 0.0 },
                counts: vec![(0.0, 0.0); k],
                eval_of: HashMap::new(),
                rng: ChaCha8Rng::seed_from_u64(seed ^ 0x0073_706c_6974),
            };
            let mut audit_rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0061_7564_6974);
            let (mut prev, mut filled, mut round, mut audit, mut labeled) =
                (0usize, 0usize, 0u64, 0usize, 0usize);
            // The κ that sets adaptive's exploration share: the round model's cross-validated κ
            // once enough explored items trained it ([`cross_validated_kappa`]), else the
            // predicting model's κ on the newest labels, scored before it trained on them.
            let mut held_out: Option<f64> = None;
            for &budget in self.budgets {
                let budget = budget.min(rest.len());
                let mut step = budget.saturating_sub(prev);
                if self.eval {
                    // The audit stratum: its share of the budget, uniformly from the unlabeled rows.
                    let mut unlabeled: Vec<usize> =
                        (0..work.labeled.len()).filter(|&j| !work.labeled[j]).collect();
                    let target = (params.audit_share * budget as f64).round() as usize;
                    let new = target.saturating_sub(audit).min(step).min(unlabeled.len());
                    let (drawn, _) = unlabeled.partial_shuffle(&mut audit_rng, new);
                    for &j in drawn.iter() {
                        work.labeled[j] = true;
                        eval.push(rest[j]);
                    }
                    (audit, labeled, step) = (audit + new, labeled + new, step - new);
                }
                for r in 0..params.rounds {
                    // Split the step evenly over the rounds (the first ones take the remainder).
                    let want = step / params.rounds + usize::from(r < step % params.rounds);
                    if want > 0 {
                        let mine_seed = seed.wrapping_add(round);
                        let mut got =
                            pick(&work, strategy, want, params, mine_seed, held_out, self.cancel)?;
                        let from_strategy = got.len();
                        got.iter().for_each(|(j, _, _)| work.labeled[*j] = true);
                        if got.len() < want {
                            let more = pick(
                                &work,
                                Strategy::Margin,
                                want - got.len(),
                                params,
                                mine_seed,
                                None,
                                self.cancel,
                            )?;
                            more.iter().for_each(|(j, _, _)| work.labeled[*j] = true);
                            got.extend(more.into_iter().map(|(j, _, _)| (j, None, false)));
                        }
                        filled += got.len() - from_strategy;
                        // Judge the model on the explored items when there are enough (a typical
                        // item is representative; a low-margin one is hard for any model).
                        let explored: Vec<usize> =
                            got.iter().filter(|g| g.2).map(|g| g.0).collect();
                        let judged = if explored.len() >= MIN_HELD_OUT {
                            explored
                        } else {
                            got.iter().map(|g| g.0).collect()
                        };
                        held_out = held_out_kappa(
                            &work,
                            judged.iter().map(|&j| (j, experts[0][rest[j]])),
                            k,
                        )
                        .or(held_out);
                        if got.len() < want {
                            self.warnings.push(format!(
                                "{}: the pool ran out at {} labels",
                                strategy.as_str(),
                                labeled + got.len()
                            ));
                        }
                        for (j, partner, explored) in got {
                            labeled += 1;
                            let i = rest[j];
                            if split.assign(j, partner, experts[0][i]) {
                                eval.push(i);
                            } else {
                                train.push((i, experts[0][i]));
                                train_explored.push(explored);
                            }
                        }
                        round += 1;
                        if !train.is_empty() {
                            repredict(&mut work, pool, &rest, &train, params)?;
                            // The model that predicts the next batch, judged as the project's
                            // eval split judges it: on labels it did not train on.
                            if strategy == Strategy::Adaptive {
                                held_out = cross_validated_kappa(
                                    pool,
                                    &train,
                                    &train_explored,
                                    k,
                                    params,
                                )?
                                .or(held_out);
                            }
                        }
                    }
                    if self.cancel.is_cancelled() {
                        return Err(Error::Cancelled(
                            "simulation stopped: nothing was stored".into(),
                        ));
                    }
                    self.done += 1;
                    self.progress.update(self.done, strategy.as_str());
                }
                prev = budget;
                let (s, eval_cell) = if train.is_empty() {
                    (Score::default(), None)
                } else {
                    let s = score_on_test(&predict(&train, &test)?);
                    let cell = if self.eval {
                        Some(judge(
                            &eval,
                            &predict(&train, &eval)?,
                            &experts,
                            k,
                            audit,
                            train.len(),
                            params,
                            seed,
                        ))
                    } else {
                        None
                    };
                    (s, cell)
                };
                let eval_cell = match eval_cell {
                    None if self.eval => Some(EvalCell {
                        eval_size: eval.len(),
                        audit,
                        train_size: 0,
                        decision: "not-enough-data".into(),
                        equivalence: None,
                    }),
                    other => other,
                };
                cells.push(SeedResult {
                    seed,
                    strategy: strategy.as_str().into(),
                    budget,
                    labeled,
                    filled_by_margin: filled,
                    kappa: s.kappa,
                    kappa_ci: s.kappa_ci,
                    macro_f1: s.macro_f1,
                    eval: eval_cell,
                    per_label: None,
                });
            }
        }
        Ok((SeedBaseline { seed, zero_shot, ceiling }, cells, test.len(), rest.len()))
    }
}

/// The stop rule at one budget: the equivalence test of κ_experts − κ_model on the eval items
/// (each labeled by both experts), behind the project's size guards.
#[allow(clippy::too_many_arguments)]
fn judge(
    eval: &[usize],
    model: &[usize],
    experts: &[Vec<usize>; 2],
    k: usize,
    audit: usize,
    train_size: usize,
    params: &SimParams,
    seed: u64,
) -> EvalCell {
    let shared: Vec<Vec<Option<usize>>> =
        eval.iter().map(|&i| vec![Some(experts[0][i]), Some(experts[1][i])]).collect();
    let equivalence = (!eval.is_empty())
        .then(|| equivalence::test(&shared, model, k, params.margin, REPS, seed))
        .flatten();
    let decision = match &equivalence {
        _ if eval.len() < MIN_EVAL || shared.len() < MIN_SHARED => "not-enough-data",
        None => "not-enough-data",
        Some(e) if e.equivalent => "stop",
        Some(_) => "continue",
    };
    EvalCell { eval_size: eval.len(), audit, train_size, decision: decision.into(), equivalence }
}

/// Rows of `pool` listed in `rows`, as a pool of their own (nothing labeled).
pub(crate) fn sub_pool(pool: &Pool, rows: &[usize]) -> Pool {
    let l = pool.label_names.len();
    let mut out = Pool {
        dim: pool.dim,
        label_names: pool.label_names.clone(),
        vectors_id: None,
        thresholds: pool.thresholds.clone(),
        ..Pool::default()
    };
    for &i in rows {
        out.vectors.extend_from_slice(&pool.vectors[i * pool.dim..(i + 1) * pool.dim]);
        out.keys.push(pool.keys[i]);
        out.labels.push(pool.labels[i]);
        out.probs.extend_from_slice(&pool.probs[i * l..(i + 1) * l]);
        out.labeled.push(false);
    }
    out
}

/// Up to `want` unlabeled rows of `work` chosen by `strategy`, in queue order, each with its
/// mined pair's other item (the split keeps the two together) and whether it was chosen to
/// explore (`adaptive`).
#[allow(clippy::type_complexity)]
fn pick(
    work: &Pool,
    strategy: Strategy,
    want: usize,
    params: &SimParams,
    seed: u64,
    held_out_kappa: Option<f64>,
    cancel: &CancelToken,
) -> Result<Vec<(usize, Option<usize>, bool)>> {
    let budget = if strategy == Strategy::Pairs { want.div_ceil(2) } else { want };
    let mp = MineParams {
        budget,
        strategy,
        seed,
        overlap_share: 0.0,
        held_out_kappa,
        ..params.mine.clone()
    };
    let mined = mine_pool(&work.view(), &mp, None, &mut Silent, cancel)?;
    let mut seen = std::collections::HashSet::new();
    let rows = mined
        .pairs
        .iter()
        .flat_map(|p| [(p.a, Some(p.b), false), (p.b, Some(p.a), false)])
        .chain(mined.items.iter().map(|i| (i.row, None, i.explored)));
    Ok(rows.filter(|(r, _, _)| !work.labeled[*r] && seen.insert(*r)).take(want).collect())
}

/// Cohen's κ of `work`'s current predictions against `(row, label)` the experts just gave —
/// labels the model that made the predictions never trained on (the exploration share keeps
/// its previous value when this is `None`). `None` below [`MIN_HELD_OUT`]
/// labels or where κ is undefined.
fn held_out_kappa(
    work: &Pool,
    labeled: impl Iterator<Item = (usize, usize)>,
    k: usize,
) -> Option<f64> {
    let (truth, pred): (Vec<usize>, Vec<usize>) =
        labeled.map(|(j, y)| (y, work.labels[j] as usize)).unzip();
    if truth.len() < MIN_HELD_OUT {
        return None;
    }
    cohen_kappa(&truth, &pred, k).value()
}

/// Folds of [`cross_validated_kappa`].
const CV_FOLDS: usize = 5;

/// The round model's agreement on labels it did not train on, where the project would read it
/// off its eval split: each of [`CV_FOLDS`] folds of the explored train items (typical items,
/// so representative of the pool, unlike low-margin ones) predicted by a probe fitted on every
/// other train label; κ over them all. `None` below [`MIN_HELD_OUT`] explored items. Without
/// it the exploration share lagged a batch behind: the second batch's came from the zero-shot
/// LLM's agreement on the first, not from the round model that mined it.
fn cross_validated_kappa(
    pool: &Pool,
    train: &[(usize, usize)],
    explored: &[bool],
    k: usize,
    params: &SimParams,
) -> Result<Option<f64>> {
    let judged: Vec<usize> = (0..train.len()).filter(|&t| explored[t]).collect();
    if judged.len() < MIN_HELD_OUT {
        return Ok(None);
    }
    let (mut truth, mut pred) = (Vec::new(), Vec::new());
    let mut row = Vec::new();
    for fold in 0..CV_FOLDS {
        let out: std::collections::HashSet<usize> = judged
            .iter()
            .enumerate()
            .filter(|(n, _)| n % CV_FOLDS == fold)
            .map(|(_, &t)| t)
            .collect();
        let fit: Vec<(usize, usize)> =
            train.iter().enumerate().filter(|(t, _)| !out.contains(t)).map(|(_, &e)| e).collect();
        if fit.is_empty() {
            continue;
        }
        let probe = fit_probe(pool, &fit, k, &params.probe)?;
        for &t in &out {
            let (i, y) = train[t];
            truth.push(y);
            pred.push(argmax(&predict_row(&probe, pool, i, params.probe.use_llm, &mut row)));
        }
    }
    Ok(if truth.len() < MIN_HELD_OUT { None } else { cohen_kappa(&truth, &pred, k).value() })
}

/// Train the round model on `train` and replace `work`'s predictions with its own.
fn repredict(
    work: &mut Pool,
    pool: &Pool,
    rest: &[usize],
    train: &[(usize, usize)],
    params: &SimParams,
) -> Result<()> {
    let k = pool.label_names.len();
    let probe = fit_probe(pool, train, k, &params.probe)?;
    let mut row = Vec::new();
    for (j, &i) in rest.iter().enumerate() {
        let p = predict_row(&probe, pool, i, params.probe.use_llm, &mut row);
        work.labels[j] = argmax(&p) as u32;
        for (dst, v) in work.probs[j * k..(j + 1) * k].iter_mut().zip(&p) {
            *dst = *v as f32;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::curate::synth::{generate, SynthSpec};

    #[test]
    fn cross_validation_judges_the_round_model_on_explored_labels_it_did_not_train_on() {
        // Pure regions: the embedding decides the label, so a probe on 60 labels agrees well
        // out of fold; the LLM's probabilities are replaced by chance.
        let spec =
            SynthSpec { n: 600, dim: 16, labels: 3, boundary_regions: 0, pure_regions: 6, seed: 3 };
        let mut s = generate(&spec).unwrap();
        let gold: Vec<usize> = s.pool.labels.iter().map(|&l| l as usize).collect();
        s.pool.probs.iter_mut().for_each(|p| *p = 1.0 / 3.0);
        let train: Vec<(usize, usize)> = (0..60).map(|i| (i * 10, gold[i * 10])).collect();
        let params = SimParams::default();
        let all = cross_validated_kappa(&s.pool, &train, &[true; 60], 3, &params).unwrap().unwrap();
        assert!(all > 0.8, "{all}");
        // Only explored items are judged; too few of them: no verdict.
        let few: Vec<bool> = (0..60).map(|t| t < MIN_HELD_OUT - 1).collect();
        assert_eq!(cross_validated_kappa(&s.pool, &train, &few, 3, &params).unwrap(), None);
    }
}
