//! `hifi simulate` in a multi-label project: gold is a label set per item, the simulated
//! experts answer with it, the round model is the one-vs-rest probe
//! ([`fit_one_vs_rest`]), and every score is per label — binary Cohen's κ of "the label
//! applies" against gold on the test set — with their mean as the row's `kappa` and the
//! per-label values beside it (`per_label`). The loop is the single-label one (the same
//! `mine_pool`, which mines per label when the pool carries thresholds; margin fills in when
//! a strategy runs short); the test split is a seeded random share of the items.
//!
//! Not simulated here yet: the eval side and the stop rule (`--oracle-noise`, `--oracle2`).

use std::collections::HashMap;
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::super::agreement::REPS;
use super::super::run::{fallback_notes, fit_one_vs_rest, predict_row_multi};
use super::{checked_budgets, pick, report, sub_pool, Score, SeedBaseline, SeedResult, SeedRuns};
use super::{SimParams, SimReport};
use crate::config::Config;
use crate::curate::{Pool, Strategy, MIN_HELD_OUT};
use crate::error::{Error, Result};
use crate::metrics::bootstrap_ci;
use crate::multilabel;
use crate::progress::{CancelToken, Progress};

/// Binary Cohen's κ from a 2×2 tally (`[[no/no, no/yes], [yes/no, yes/yes]]`, truth by row),
/// computed as `metrics::cohen_kappa` computes it; `None` where it is undefined (no items, or
/// both sides used one and the same answer only).
fn binary_kappa(t: [[u64; 2]; 2]) -> Option<f64> {
    let n = (t[0][0] + t[0][1] + t[1][0] + t[1][1]) as u128;
    if n == 0 {
        return None;
    }
    let diag = (t[0][0] + t[1][1]) as u128;
    let rows = [(t[0][0] + t[0][1]) as u128, (t[1][0] + t[1][1]) as u128];
    let cols = [(t[0][0] + t[1][0]) as u128, (t[0][1] + t[1][1]) as u128];
    let chance = rows[0] * cols[0] + rows[1] * cols[1];
    let nn = n * n;
    (chance < nn).then(|| ((n * diag) as f64 - chance as f64) / (nn - chance) as f64)
}

/// Per label, the tally of `gold` against `pred` over the items `idx`.
fn tallies(gold: &[Vec<bool>], pred: &[Vec<bool>], k: usize, idx: &[usize]) -> Vec<[[u64; 2]; 2]> {
    let mut t = vec![[[0u64; 2]; 2]; k];
    for &i in idx {
        for (j, tj) in t.iter_mut().enumerate() {
            tj[usize::from(gold[i][j])][usize::from(pred[i][j])] += 1;
        }
    }
    t
}

/// The mean of the defined values, `None` when there is none.
fn mean_defined(xs: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let v: Vec<f64> = xs.flatten().collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Each label's κ (label order) of `pred` against `gold`.
pub fn per_label_kappa(gold: &[Vec<bool>], pred: &[Vec<bool>], k: usize) -> Vec<Option<f64>> {
    let idx: Vec<usize> = (0..gold.len()).collect();
    tallies(gold, pred, k, &idx).into_iter().map(binary_kappa).collect()
}

/// Mean per-label κ of `pred` against `gold` (labels where κ is undefined left out).
pub fn mean_kappa(gold: &[Vec<bool>], pred: &[Vec<bool>], k: usize) -> Option<f64> {
    mean_defined(per_label_kappa(gold, pred, k).into_iter())
}

/// A multi-label model's agreement with gold sets: the mean over labels of binary κ (labels
/// where κ is undefined left out), a 95% bootstrap interval of that mean over the items
/// (seeded), macro-F1 over the labels (each label's F1 of "applies"; labels nobody said
/// applies left out), and each label's κ by name.
pub fn score_sets(gold: &[Vec<bool>], pred: &[Vec<bool>], names: &[String], seed: u64) -> Score {
    let k = names.len();
    let idx: Vec<usize> = (0..gold.len()).collect();
    let t = tallies(gold, pred, k, &idx);
    let per: Vec<Option<f64>> = t.iter().copied().map(binary_kappa).collect();
    let kappa = mean_defined(per.iter().copied());
    let stat =
        |draw: &[usize]| mean_defined(tallies(gold, pred, k, draw).into_iter().map(binary_kappa));
    let kappa_ci =
        if gold.is_empty() { None } else { bootstrap_ci(gold.len(), stat, REPS, 0.95, seed) };
    let f1 = mean_defined(t.iter().map(|c| {
        let (tp, fp, fn_) = (c[1][1], c[0][1], c[1][0]);
        (tp + fp + fn_ > 0).then(|| 2.0 * tp as f64 / (2 * tp + fp + fn_) as f64)
    }));
    Score {
        kappa,
        kappa_ci: kappa_ci.map(|(a, b)| [a, b]),
        kappa_ci_clamped: false,
        macro_f1: f1,
        per_label: Some(names.iter().cloned().zip(per).collect()),
    }
}

/// `params` for a multi-label simulation: the noise-free oracle only.
fn check(pool: &Pool, gold: &[Vec<bool>], params: &SimParams) -> Result<Vec<usize>> {
    let budgets = checked_budgets(params)?;
    if params.oracle_noise > 0.0 {
        return Err(Error::Input(format!(
            "--oracle-noise {}: the eval side and stop rule are not simulated for multi-label projects yet; simulate with a noise-free oracle (--oracle-noise 0) and one gold field",
            params.oracle_noise
        )));
    }
    let k = pool.label_names.len();
    if pool.thresholds.as_ref().is_none_or(|t| t.len() != k) {
        return Err(Error::Input(
            "simulation: a multi-label pool needs one threshold per label".into(),
        ));
    }
    if k == 0 || gold.len() != pool.keys.len() || gold.iter().any(|g| g.len() != k) {
        return Err(Error::Input(
            "simulation: one gold label set per row, one flag per label".into(),
        ));
    }
    if pool.dim == 0 {
        return Err(Error::Input("simulation needs embeddings: run `hifi embed` first".into()));
    }
    pool.view().validate()?;
    Ok(budgets)
}

/// Simulate on a multi-label `pool` (LLM probabilities per label, embeddings, thresholds)
/// with gold sets `gold` (per row, one flag per label). See the module docs.
pub fn simulate_sets(
    pool: &Pool,
    gold: &[Vec<bool>],
    params: &SimParams,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<SimReport> {
    let t0 = Instant::now();
    let budgets = check(pool, gold, params)?;
    let steps = (params.seeds * params.strategies.len() * budgets.len() * params.rounds) as u64;
    progress.start("simulate", steps);
    let mut run = MultiRun {
        pool,
        gold,
        params,
        budgets: &budgets,
        thresholds: pool.thresholds.clone().unwrap_or_default(),
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
    let MultiRun { warnings, progress, .. } = run;
    progress.finish("");
    let runs = SeedRuns { rows, baselines, sizes, warnings };
    Ok(report(pool, params, runs, None, "probe (one-vs-rest)", t0))
}

struct MultiRun<'a, 'p> {
    pool: &'a Pool,
    gold: &'a [Vec<bool>],
    params: &'a SimParams,
    budgets: &'a [usize],
    thresholds: Vec<f64>,
    cancel: &'a CancelToken,
    progress: &'p mut dyn Progress,
    done: u64,
    warnings: Vec<String>,
}

impl MultiRun<'_, '_> {
    /// The one-vs-rest probe fitted on `train` (rows of the full pool), its sets for `rows`.
    fn predict(&mut self, train: &[(usize, Vec<bool>)], rows: &[usize]) -> Result<Vec<Vec<bool>>> {
        let (pool, params) = (self.pool, self.params);
        let model = fit_one_vs_rest(pool, train, &self.thresholds, &params.probe)?;
        if model.labels.iter().any(|m| m.is_fallback()) {
            self.warnings.push(
                "in some rounds a label applied to none (or all) of the items labeled so far: it kept the LLM's probability (or its train share without the LLM) until both answers had examples"
                    .into(),
            );
        }
        let mut row = Vec::new();
        Ok(rows
            .iter()
            .map(|&i| {
                let p = predict_row_multi(&model, pool, i, params.probe.use_llm, &mut row);
                multilabel::applies(&p, &self.thresholds)
            })
            .collect())
    }

    fn seed(&mut self, seed: u64) -> Result<(SeedBaseline, Vec<SeedResult>, usize, usize)> {
        let (pool, gold, params) = (self.pool, self.gold, self.params);
        let (k, n) = (pool.label_names.len(), pool.keys.len());
        let names = pool.label_names.clone();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rng);
        let take = ((n as f64 * params.test_fraction).round() as usize).min(n.saturating_sub(1));
        let mut is_test = vec![false; n];
        order[..take].iter().for_each(|&i| is_test[i] = true);
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
        let test_gold: Vec<Vec<bool>> = test.iter().map(|&i| gold[i].clone()).collect();
        let score = |pred: &[Vec<bool>]| score_sets(&test_gold, pred, &names, seed);
        let llm_set = |i: usize| {
            let p: Vec<f64> =
                pool.probs[i * k..(i + 1) * k].iter().map(|&x| f64::from(x)).collect();
            multilabel::applies(&p, &self.thresholds)
        };
        let zero_shot = score(&test.iter().map(|&i| llm_set(i)).collect::<Vec<_>>());
        let all: Vec<(usize, Vec<bool>)> = rest.iter().map(|&i| (i, gold[i].clone())).collect();
        let ceiling = score(&self.predict(&all, &test)?);

        let base = sub_pool(pool, &rest);
        let mut cells = Vec::new();
        for &strategy in &params.strategies {
            let mut work = base.clone();
            let mut train: Vec<(usize, Vec<bool>)> = Vec::new();
            let mut train_explored: Vec<bool> = Vec::new();
            let (mut prev, mut filled, mut round, mut labeled) = (0usize, 0usize, 0u64, 0usize);
            let mut held_out: Option<f64> = None;
            for &budget in self.budgets {
                let budget = budget.min(rest.len());
                let step = budget.saturating_sub(prev);
                for r in 0..params.rounds {
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
                        let explored: Vec<usize> =
                            got.iter().filter(|g| g.2).map(|g| g.0).collect();
                        let judged = if explored.len() >= MIN_HELD_OUT {
                            explored
                        } else {
                            got.iter().map(|g| g.0).collect()
                        };
                        held_out = held_out_kappa(&work, &judged, &rest, gold, &self.thresholds)
                            .or(held_out);
                        if got.len() < want {
                            self.warnings.push(format!(
                                "{}: the pool ran out at {} labels",
                                strategy.as_str(),
                                labeled + got.len()
                            ));
                        }
                        for (j, _, explored) in got {
                            labeled += 1;
                            train.push((rest[j], gold[rest[j]].clone()));
                            train_explored.push(explored);
                        }
                        round += 1;
                        self.repredict(&mut work, &rest, &train)?;
                        if strategy == Strategy::Adaptive {
                            held_out =
                                self.cross_validated_kappa(&train, &train_explored)?.or(held_out);
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
                let s = if train.is_empty() {
                    Score::default()
                } else {
                    score(&self.predict(&train, &test)?)
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
                    eval: None,
                    per_label: s.per_label,
                });
            }
        }
        Ok((SeedBaseline { seed, zero_shot, ceiling }, cells, test.len(), rest.len()))
    }

    /// Train the one-vs-rest probe on `train` and replace `work`'s predictions with its own.
    fn repredict(
        &mut self,
        work: &mut Pool,
        rest: &[usize],
        train: &[(usize, Vec<bool>)],
    ) -> Result<()> {
        let (pool, params) = (self.pool, self.params);
        let k = pool.label_names.len();
        let model = fit_one_vs_rest(pool, train, &self.thresholds, &params.probe)?;
        if !fallback_notes(&model, &pool.label_names, train.len(), params.probe.use_llm).is_empty()
        {
            self.warnings.push(
                "in some rounds a label applied to none (or all) of the items labeled so far: it kept the LLM's probability (or its train share without the LLM) until both answers had examples"
                    .into(),
            );
        }
        let mut row = Vec::new();
        for (j, &i) in rest.iter().enumerate() {
            let p = predict_row_multi(&model, pool, i, params.probe.use_llm, &mut row);
            work.labels[j] = super::argmax(&p) as u32;
            for (dst, v) in work.probs[j * k..(j + 1) * k].iter_mut().zip(&p) {
                *dst = *v as f32;
            }
        }
        Ok(())
    }

    /// [`super::cross_validated_kappa`] for label sets: the mean per-label κ of the explored
    /// train items, each predicted by a one-vs-rest probe fitted on the other folds.
    fn cross_validated_kappa(
        &self,
        train: &[(usize, Vec<bool>)],
        explored: &[bool],
    ) -> Result<Option<f64>> {
        let (pool, params) = (self.pool, self.params);
        let k = pool.label_names.len();
        let judged: Vec<usize> = (0..train.len()).filter(|&t| explored[t]).collect();
        if judged.len() < MIN_HELD_OUT {
            return Ok(None);
        }
        let (mut truth, mut pred) = (Vec::new(), Vec::new());
        let mut row = Vec::new();
        for fold in 0..super::CV_FOLDS {
            let out: std::collections::HashSet<usize> = judged
                .iter()
                .enumerate()
                .filter(|(n, _)| n % super::CV_FOLDS == fold)
                .map(|(_, &t)| t)
                .collect();
            let fit: Vec<(usize, Vec<bool>)> = train
                .iter()
                .enumerate()
                .filter(|(t, _)| !out.contains(t))
                .map(|(_, e)| e.clone())
                .collect();
            if fit.is_empty() {
                continue;
            }
            let model = fit_one_vs_rest(pool, &fit, &self.thresholds, &params.probe)?;
            for &t in &out {
                let (i, ref y) = train[t];
                truth.push(y.clone());
                let p = predict_row_multi(&model, pool, i, params.probe.use_llm, &mut row);
                pred.push(multilabel::applies(&p, &self.thresholds));
            }
        }
        Ok(if truth.len() < MIN_HELD_OUT { None } else { mean_kappa(&truth, &pred, k) })
    }
}

/// The mean per-label κ of `work`'s current predictions on its rows `judged` against their
/// gold sets: labels the predicting model never trained on. `None` below [`MIN_HELD_OUT`]
/// rows or where no label's κ is defined.
fn held_out_kappa(
    work: &Pool,
    judged: &[usize],
    rest: &[usize],
    gold: &[Vec<bool>],
    thresholds: &[f64],
) -> Option<f64> {
    if judged.len() < MIN_HELD_OUT {
        return None;
    }
    let k = work.label_names.len();
    let truth: Vec<Vec<bool>> = judged.iter().map(|&j| gold[rest[j]].clone()).collect();
    let pred: Vec<Vec<bool>> = judged
        .iter()
        .map(|&j| {
            let p: Vec<f64> =
                work.probs[j * k..(j + 1) * k].iter().map(|&x| f64::from(x)).collect();
            multilabel::applies(&p, thresholds)
        })
        .collect();
    mean_kappa(&truth, &pred, k)
}

/// The separator of a joined label list: the first of `,`, `;`, `|` it contains (`,` when
/// none).
fn separator(value: &str) -> char {
    [',', ';', '|'].into_iter().find(|c| value.contains(*c)).unwrap_or(',')
}

/// `hifi simulate` on a multi-label project (called by `rounds::simulate` with the base LLM's
/// pool and the oracle field's values by item key): each value is a label list (a JSON array,
/// or names joined by `,`, `;` or `|`); items whose value names an unknown label or one twice
/// are left out with a warning.
#[allow(clippy::too_many_arguments)]
pub fn simulate_project(
    cfg: &Config,
    mut full: Pool,
    oracle: &str,
    oracle2: Option<&str>,
    answers: &HashMap<i64, String>,
    params: &SimParams,
    mut warnings: Vec<String>,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<SimReport> {
    if let Some(f) = oracle2 {
        return Err(Error::Input(format!(
            "--oracle2 {f}: a second expert (the eval side and stop rule) is not simulated for multi-label projects yet; simulate with one gold field"
        )));
    }
    full.set_task(cfg);
    let names = full.label_names.clone();
    let (mut rows, mut gold) = (Vec::new(), Vec::new());
    let (mut missing, mut bad, mut first_bad) = (0usize, 0usize, None);
    for (i, key) in full.keys.iter().enumerate() {
        let Some(v) = answers.get(key) else {
            missing += 1;
            continue;
        };
        match multilabel::parse_list(v, separator(v), &names) {
            Ok(set) => {
                rows.push(i);
                gold.push(names.iter().map(|n| set.contains(n)).collect::<Vec<bool>>());
            }
            Err(e) => {
                bad += 1;
                first_bad.get_or_insert(format!("item {key}: {e}"));
            }
        }
    }
    if rows.is_empty() {
        return Err(Error::Input(format!(
            "no predicted, embedded item has a `{oracle}` value that is a list of labels ({}){}",
            names.join(", "),
            first_bad.map(|b| format!("; {b}")).unwrap_or_default()
        )));
    }
    if missing > 0 {
        warnings.push(format!("{missing} items lack a `{oracle}` value: left out"));
    }
    if bad > 0 {
        warnings.push(format!(
            "{bad} items have a `{oracle}` value that is not a list of this project's labels: left out (the first: {})",
            first_bad.unwrap_or_default()
        ));
    }
    let pool = sub_pool(&full, &rows);
    let mut rep = simulate_sets(&pool, &gold, params, progress, cancel)?;
    warnings.append(&mut rep.warnings);
    rep.warnings = warnings;
    Ok(rep)
}
