//! `hifi round` on a project: split the expert labels, train the round model on the train
//! split, predict the pool with it (stored as a model of its own), score it on the eval
//! split, record the round, and refill the review queue from the new predictions.

use std::time::Instant;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::evaluate::{score_model, score_model_multi, RoundScores};
use super::probe::{
    binary_offset, features, log_prob, LabelModel, OneVsRest, Probe, ProbeParams, Scaling,
};
use super::verdict::{verdict, Verdict};
use crate::config::Config;
use crate::curate::{self, pool_of_model, MineParams, MineReport, Pool};
use crate::error::{Error, Result};
use crate::llm::prelabel::{self, PrelabelParams};
use crate::llm::EngineOptions;
use crate::multilabel;
use crate::progress::{CancelToken, Progress};
use crate::store::{ModelRecord, Prediction, Split, Store};
use crate::train::lora_round::train_adapter_multi;
use crate::train::{adopt_adapter, train_adapter, AdapterRun, LoraRun};

/// What trains the round's model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Trainer {
    /// No training: score the newest zero-shot LLM predictions (a baseline round).
    ZeroShot,
    /// Logistic regression on the embeddings (+ the LLM's label log-probabilities): seconds.
    Probe,
    /// A LoRA adapter for the LLM trained on the train split (minutes to hours), hot-loaded
    /// into llama.cpp, then the whole pool prelabeled again with it.
    Lora,
}

impl Trainer {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ZeroShot => "zero-shot",
            Self::Probe => "probe",
            Self::Lora => "lora",
        }
    }
}

/// How to run one round.
#[derive(Debug, Clone)]
pub struct RoundParams {
    pub trainer: Trainer,
    pub probe: ProbeParams,
    /// Seeds the bootstrap intervals.
    pub seed: u64,
    /// Refill the queue from the round's predictions afterwards (`None`: leave it).
    pub mine: Option<MineParams>,
    /// How to train the adapter of a LoRA round.
    pub lora: Option<LoraRun>,
}

/// What one round did.
#[derive(Debug, Clone, Serialize)]
pub struct RoundReport {
    pub round: i64,
    pub trainer: Trainer,
    /// The zero-shot baseline round recorded first, when this project had no round yet.
    pub baseline_round: Option<i64>,
    pub model: i64,
    pub train_size: usize,
    pub predicted: usize,
    pub scores: RoundScores,
    pub verdict: Verdict,
    pub mine: Option<MineReport>,
    /// The adapter a LoRA round trained, with its manifest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adapter: Option<AdapterRun>,
    pub seconds_train: f64,
    pub seconds_total: f64,
    pub warnings: Vec<String>,
}

/// Run one round (see the module docs). Cancelling stops between steps; a round that did
/// not finish stays in the store without scores and `hifi report` shows it as interrupted.
pub fn run_round(
    store: &mut Store,
    cfg: &Config,
    params: &RoundParams,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<RoundReport> {
    let t0 = Instant::now();
    let labels = cfg.label_names();
    let mut warnings = Vec::new();
    let newly = crate::curate::split::assign_splits(store, cfg)?;
    if newly > 0 {
        tracing::info!(newly, "assigned eval/train splits");
    }
    let llm = store
        .latest_model_of_kind("llm")?
        .ok_or_else(|| Error::Input("no LLM predictions yet: run `hifi prelabel` first".into()))?;
    // A zero-shot round scores the LLM's predictions and a probe learns from them: under
    // another label set their labels are not today's (a LoRA round prelabels afresh).
    let stale = store.stale_reason(&llm, &labels)?;
    if let Some(why) = stale.as_ref().filter(|_| params.trainer != Trainer::Lora) {
        return Err(Error::Input(format!("{why}: run `hifi prelabel` first")));
    }
    let mut baseline_round = None;
    let no_round_yet = store.rounds()?.iter().all(|r| r.scores.is_none());
    if let (true, Some(why)) = (params.trainer != Trainer::ZeroShot && no_round_yet, &stale) {
        warnings.push(format!(
            "no zero-shot baseline round recorded: {why} (run `hifi prelabel`, then `hifi round --trainer zero-shot`)"
        ));
    } else if params.trainer != Trainer::ZeroShot && no_round_yet {
        // The first round's number to beat: the zero-shot model on the same eval split.
        let id = store.start_round(Trainer::ZeroShot.as_str(), None)?;
        let scores = score(store, cfg, llm.id, &labels, params.seed)?;
        store.finish_round(id, llm.id, &scores_json(id, &scores)?)?;
        baseline_round = Some(id);
    }
    let round = store.start_round(params.trainer.as_str(), None)?;
    let t_train = Instant::now();
    let mut adapter = None;
    let (model, train_size, predicted) = match params.trainer {
        Trainer::ZeroShot => (llm.id, 0, 0),
        Trainer::Probe => {
            probe_round(store, cfg, &llm, &params.probe, &mut warnings, progress, cancel)?
        }
        Trainer::Lora => {
            let run = params
                .lora
                .as_ref()
                .ok_or_else(|| Error::Input("a LoRA round needs training parameters".into()))?;
            let (model, n, predicted, a) =
                lora_round(store, cfg, round, run, &mut warnings, progress, cancel)?;
            adapter = Some(a);
            (model, n, predicted)
        }
    };
    let seconds_train = t_train.elapsed().as_secs_f64();
    if cancel.is_cancelled() {
        return Err(Error::Cancelled(format!(
            "round {round} stopped before it was scored (`hifi report` shows it as interrupted)"
        )));
    }
    progress.start("evaluate", 0);
    let scores = score(store, cfg, model, &labels, params.seed)?;
    let json = scores_json(round, &scores)?;
    store.finish_round(round, model, &json)?;
    progress.finish(&format!("κ {}", scores.model_vs_expert.show()));
    if let Some(a) = adapter.as_mut().filter(|a| !a.adopted) {
        a.manifest.scores = Some(json);
        a.manifest.write()?;
    }
    let verdict = verdict(store, cfg)?;
    let mine = match &params.mine {
        Some(m) => Some(curate::mine(store, cfg, m, progress, cancel)?),
        None => None,
    };
    Ok(RoundReport {
        round,
        trainer: params.trainer,
        baseline_round,
        model,
        train_size,
        predicted,
        scores,
        verdict,
        mine,
        adapter,
        seconds_train,
        seconds_total: t0.elapsed().as_secs_f64(),
        warnings,
    })
}

/// `model`'s scores on the eval split: per label (with their means) in a multi-label project.
fn score(
    store: &Store,
    cfg: &Config,
    model: i64,
    labels: &[String],
    seed: u64,
) -> Result<RoundScores> {
    if cfg.multi_label {
        score_model_multi(store, model, labels, &multilabel::thresholds(cfg), seed)
    } else {
        score_model(store, model, labels, seed)
    }
}

/// A round's scores as the store keeps them; a failure to serialise them is an error naming the
/// round, never a round closed with empty scores.
fn scores_json(round: i64, scores: &RoundScores) -> Result<serde_json::Value> {
    serde_json::to_value(scores).map_err(|e| {
        Error::Input(format!(
            "round {round}: its scores could not be written as JSON ({e}); the round is left open"
        ))
    })
}

/// The probe's feature row for pool row `i`.
pub fn pool_features(pool: &Pool, i: usize, use_llm: bool, out: &mut Vec<f64>) {
    let l = pool.label_names.len();
    let emb = &pool.vectors[i * pool.dim..(i + 1) * pool.dim];
    let probs = use_llm.then(|| &pool.probs[i * l..(i + 1) * l]);
    features(emb, probs, out);
}

/// The probe's logit offset for pool row `i`: the LLM's label log-probabilities.
pub fn pool_offset(pool: &Pool, i: usize, use_llm: bool) -> Option<Vec<f64>> {
    let l = pool.label_names.len();
    use_llm.then(|| pool.probs[i * l..(i + 1) * l].iter().map(|&p| log_prob(p)).collect())
}

/// How the rows `train` spread over the LLM's certainty: the mean percentile of their LLM
/// margin (p1 − p2) among the pool's, doubled and capped at 1. A random sample scores about
/// 1; a sample crowding the LLM's boundary (pairs, margin) scores near 0.
pub fn representativeness(pool: &Pool, train: &[(usize, usize)]) -> f64 {
    let l = pool.label_names.len();
    if train.is_empty() || l == 0 || pool.probs.len() < l {
        return 1.0;
    }
    let margins: Vec<f32> = pool.probs.chunks_exact(l).map(curate::margin).collect();
    let picked: Vec<f32> =
        train.iter().map(|&(i, _)| curate::margin(&pool.probs[i * l..(i + 1) * l])).collect();
    spread(margins, &picked)
}

/// The mean percentile of `picked` among `all` (two margins per row: small is uncertain),
/// doubled and capped at 1: about 1 for a random sample, near 0 for one crowding the
/// uncertain end.
fn spread(mut all: Vec<f32>, picked: &[f32]) -> f64 {
    all.sort_by(f32::total_cmp);
    let n = all.len() as f64;
    let pct = |m: f32| {
        let below = all.partition_point(|&x| x < m);
        let upto = all.partition_point(|&x| x <= m);
        (below + upto) as f64 / (2.0 * n)
    };
    let mean = picked.iter().map(|&m| pct(m)).sum::<f64>() / picked.len() as f64;
    (2.0 * mean).min(1.0)
}

/// [`representativeness`] for one label of a multi-label pool: the spread of the rows
/// `train` over that label's margin (its probability's distance from its threshold).
fn label_representativeness(pool: &Pool, train: &[usize], j: usize, threshold: f64) -> f64 {
    let l = pool.label_names.len();
    if train.is_empty() || l == 0 || pool.probs.len() < l {
        return 1.0;
    }
    let m = |i: usize| multilabel::label_margin(f64::from(pool.probs[i * l + j]), threshold) as f32;
    let all: Vec<f32> = (0..pool.probs.len() / l).map(m).collect();
    let picked: Vec<f32> = train.iter().map(|&i| m(i)).collect();
    spread(all, &picked)
}

/// Fit the one-vs-rest round model of a multi-label pool on the rows `train` (pool row, one
/// flag per label: does it apply). Per label a two-class probe on the same features as the
/// single-label probe, its logits offset by the LLM's log-odds for that label (with
/// `use_llm`), so that with no data it predicts the LLM's probability; the biases' penalty
/// share follows the train rows' spread over that label's margin as in [`fit_probe`]. A label
/// with no positive or no negative train row falls back ([`LabelModel::Fallback`]).
pub fn fit_one_vs_rest(
    pool: &Pool,
    train: &[(usize, Vec<bool>)],
    thresholds: &[f64],
    params: &ProbeParams,
) -> Result<OneVsRest> {
    let k = pool.label_names.len();
    if let Some((i, f)) = train.iter().find(|(_, f)| f.len() != k) {
        return Err(Error::Input(format!(
            "a multi-label train row (pool row {i}) has {} flags for {k} labels",
            f.len()
        )));
    }
    if train.is_empty() {
        return Err(Error::Input("a one-vs-rest probe needs training rows".into()));
    }
    let scaling = pool_scaling(pool, params.use_llm);
    let mut x = Vec::new();
    let mut row = Vec::new();
    let mut d = 0;
    for &(i, _) in train {
        pool_features(pool, i, params.use_llm, &mut row);
        d = row.len();
        x.extend_from_slice(&row);
    }
    let rows: Vec<usize> = train.iter().map(|t| t.0).collect();
    let n = train.len();
    let mut labels = Vec::with_capacity(k);
    for j in 0..k {
        let y: Vec<usize> = train.iter().map(|t| usize::from(t.1[j])).collect();
        let positives = y.iter().sum::<usize>();
        if positives == 0 || positives == n {
            labels
                .push(LabelModel::Fallback { prior: (positives as f64 + 1.0) / (n as f64 + 2.0) });
            continue;
        }
        let t = thresholds.get(j).copied().unwrap_or(multilabel::DEFAULT_THRESHOLD);
        let label_params = ProbeParams {
            bias_share: params.bias_share.powf(label_representativeness(pool, &rows, j, t).powi(2)),
            ..params.clone()
        };
        let off: Vec<f64> =
            rows.iter().flat_map(|&i| binary_offset(pool.probs[i * k + j])).collect();
        let probe = Probe::fit(
            &x,
            d,
            params.use_llm.then_some(&off[..]),
            Some(scaling.clone()),
            &y,
            2,
            &label_params,
        )?;
        labels.push(LabelModel::Probe(probe));
    }
    Ok(OneVsRest { labels })
}

/// The one-vs-rest model's probability per label that it applies, for pool row `i`.
pub fn predict_row_multi(
    model: &OneVsRest,
    pool: &Pool,
    i: usize,
    use_llm: bool,
    row: &mut Vec<f64>,
) -> Vec<f64> {
    let l = pool.label_names.len();
    pool_features(pool, i, use_llm, row);
    model.predict(row, use_llm.then(|| &pool.probs[i * l..(i + 1) * l]))
}

/// Why each label of `model` fell back, as warnings (`n` train items).
pub fn fallback_notes(
    model: &OneVsRest,
    labels: &[String],
    n: usize,
    use_llm: bool,
) -> Vec<String> {
    model
        .labels
        .iter()
        .zip(labels)
        .filter_map(|(m, name)| match m {
            LabelModel::Fallback { prior } => Some(format!(
                "label \"{}\" {} of the {n} train items: nothing to learn for it, so the round model gives it {}",
                crate::text::inert(name, false),
                if *prior > 0.5 { "applies to every one" } else { "applies to none" },
                if use_llm {
                    "the LLM's own probability".to_string()
                } else {
                    format!("its smoothed train share ({prior:.3})")
                }
            )),
            LabelModel::Probe(_) => None,
        })
        .collect()
}

/// Fit a probe on the rows `train` (pool row, label index). The biases' penalty share is
/// `bias_share ^ r²`, r the train set's representativeness: a label lean learned from items the LLM was unsure of
/// would be carried to every item it was sure of (on generated data where the LLM errs one
/// way in one region, twenty pair labels with a free bias put κ at 0.75 instead of 0.96).
pub fn fit_probe(
    pool: &Pool,
    train: &[(usize, usize)],
    k: usize,
    params: &ProbeParams,
) -> Result<Probe> {
    let params = &ProbeParams {
        bias_share: params.bias_share.powf(representativeness(pool, train).powi(2)),
        ..params.clone()
    };
    let mut x = Vec::new();
    let mut off = Vec::new();
    let mut row = Vec::new();
    let mut d = 0;
    for &(i, _) in train {
        pool_features(pool, i, params.use_llm, &mut row);
        d = row.len();
        x.extend_from_slice(&row);
        off.extend(pool_offset(pool, i, params.use_llm).unwrap_or_default());
    }
    let y: Vec<usize> = train.iter().map(|t| t.1).collect();
    Probe::fit(
        &x,
        d,
        params.use_llm.then_some(&off[..]),
        Some(pool_scaling(pool, params.use_llm)),
        &y,
        k,
        params,
    )
}

/// Feature statistics over the whole pool (at most 20,000 rows, evenly spaced).
fn pool_scaling(pool: &Pool, use_llm: bool) -> Scaling {
    let n = pool.keys.len();
    let stride = n.div_ceil(20_000).max(1);
    let mut x = Vec::new();
    let mut row = Vec::new();
    for i in (0..n).step_by(stride) {
        pool_features(pool, i, use_llm, &mut row);
        x.extend_from_slice(&row);
    }
    Scaling::of_rows(&x, row.len())
}

/// The probe's probabilities for pool row `i`.
pub fn predict_row(
    probe: &Probe,
    pool: &Pool,
    i: usize,
    use_llm: bool,
    row: &mut Vec<f64>,
) -> Vec<f64> {
    pool_features(pool, i, use_llm, row);
    probe.predict(row, pool_offset(pool, i, use_llm).as_deref())
}

/// Train a probe on the train split and store its predictions for the whole pool.
/// Returns (model id, train size, items predicted).
fn probe_round(
    store: &mut Store,
    cfg: &Config,
    llm: &ModelRecord,
    params: &ProbeParams,
    warnings: &mut Vec<String>,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<(i64, usize, usize)> {
    if cfg.multi_label {
        return probe_round_multi(store, cfg, llm, params, warnings, progress, cancel);
    }
    progress.start("load", 0);
    let loaded = pool_of_model(store, llm.clone(), true)?;
    warnings.extend(loaded.warnings);
    let pool = loaded.pool;
    let labels = cfg.label_names();
    if let Some(why) = store.stale_reason(llm, &labels)? {
        return Err(Error::Input(format!("{why}: run `hifi prelabel` first")));
    }
    let row_of: std::collections::HashMap<i64, usize> =
        pool.keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    let mut train: Vec<(usize, usize)> = Vec::new();
    let mut missing = 0;
    for (item, l) in train_split(store, cfg, warnings)? {
        match row_of.get(&item) {
            Some(&r) => train.push((r, l)),
            None => missing += 1,
        }
    }
    if missing > 0 {
        warnings.push(format!("{missing} train items have no embedding or prediction yet: left out (run `hifi embed`)"));
    }
    if train.is_empty() {
        return Err(Error::Input("no expert labels in the train split yet: label some items (`hifi review`) before a probe round".into()));
    }
    progress.start("train", 0);
    let probe = fit_probe(&pool, &train, labels.len(), params)?;
    progress.finish(&format!("probe on {} items", train.len()));
    // The model row: what it was trained on decides its fingerprint.
    let mut h = Sha256::new();
    h.update(format!(
        "probe-v1\0{}\0{:?}\0{}\0",
        llm.fingerprint,
        pool.vectors_id,
        serde_json::to_string(params).unwrap_or_default()
    ));
    for (r, l) in &train {
        h.update(format!("{}:{l};", pool.keys[*r]));
    }
    let fingerprint = hex::encode(h.finalize());
    let model = store.register_model(&ModelRecord {
        id: 0,
        fingerprint,
        kind: "probe".into(),
        model_path: llm.model_path.clone(),
        model_sha256: llm.model_sha256.clone(),
        adapter_path: None,
        adapter_sha256: None,
        prompt_sha256: llm.prompt_sha256.clone(),
        labels: labels.clone(),
        few_shot: None,
    })?;
    // All predictions in one transaction: an interrupted round never leaves a probe that
    // covers half the pool as the newest model.
    progress.start("predict", pool.keys.len() as u64);
    let mut preds = Vec::with_capacity(pool.keys.len());
    let mut row = Vec::new();
    for i in 0..pool.keys.len() {
        preds.push(Prediction {
            item: pool.keys[i],
            probs: predict_row(&probe, &pool, i, params.use_llm, &mut row),
            truncated: false,
        });
        if i % 4096 == 4095 {
            progress.update(i as u64 + 1, "");
            if cancel.is_cancelled() {
                return Err(Error::Cancelled(
                    "stopped while predicting: no prediction was stored".into(),
                ));
            }
        }
    }
    store.put_predictions(model, &labels, &preds)?;
    progress.finish("");
    Ok((model, train.len(), pool.keys.len()))
}

/// [`probe_round`] in a multi-label project: the one-vs-rest probe ([`fit_one_vs_rest`]) on
/// the train split's label sets; its predictions hold each label's probability of applying.
fn probe_round_multi(
    store: &mut Store,
    cfg: &Config,
    llm: &ModelRecord,
    params: &ProbeParams,
    warnings: &mut Vec<String>,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<(i64, usize, usize)> {
    progress.start("load", 0);
    let loaded = pool_of_model(store, llm.clone(), true)?;
    warnings.extend(loaded.warnings);
    let pool = loaded.pool;
    let labels = cfg.label_names();
    if let Some(why) = store.stale_reason(llm, &labels)? {
        return Err(Error::Input(format!("{why}: run `hifi prelabel` first")));
    }
    let row_of: std::collections::HashMap<i64, usize> =
        pool.keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    let mut train: Vec<(usize, Vec<bool>)> = Vec::new();
    let mut missing = 0;
    for (item, flags) in train_split_sets(store, cfg, warnings)? {
        match row_of.get(&item) {
            Some(&r) => train.push((r, flags)),
            None => missing += 1,
        }
    }
    if missing > 0 {
        warnings.push(format!("{missing} train items have no embedding or prediction yet: left out (run `hifi embed`)"));
    }
    if train.is_empty() {
        return Err(Error::Input("no expert labels in the train split yet: label some items (`hifi review`) before a probe round".into()));
    }
    progress.start("train", 0);
    let model = fit_one_vs_rest(&pool, &train, &multilabel::thresholds(cfg), params)?;
    warnings.extend(fallback_notes(&model, &labels, train.len(), params.use_llm));
    progress.finish(&format!(
        "one-vs-rest probe on {} items, {} labels",
        train.len(),
        labels.len()
    ));
    let mut h = Sha256::new();
    h.update(format!(
        "probe-one-vs-rest-v1\0{}\0{:?}\0{}\0{:?}\0",
        llm.fingerprint,
        pool.vectors_id,
        serde_json::to_string(params).unwrap_or_default(),
        multilabel::thresholds(cfg)
    ));
    for (r, flags) in &train {
        h.update(format!("{}:{};", pool.keys[*r], multilabel::from_flags(flags, &labels)));
    }
    let fingerprint = hex::encode(h.finalize());
    let id = store.register_model(&ModelRecord {
        id: 0,
        fingerprint,
        kind: "probe".into(),
        model_path: llm.model_path.clone(),
        model_sha256: llm.model_sha256.clone(),
        adapter_path: None,
        adapter_sha256: None,
        prompt_sha256: llm.prompt_sha256.clone(),
        labels: labels.clone(),
        few_shot: None,
    })?;
    progress.start("predict", pool.keys.len() as u64);
    let mut preds = Vec::with_capacity(pool.keys.len());
    let mut row = Vec::new();
    for i in 0..pool.keys.len() {
        preds.push(Prediction {
            item: pool.keys[i],
            probs: predict_row_multi(&model, &pool, i, params.use_llm, &mut row),
            truncated: false,
        });
        if i % 4096 == 4095 {
            progress.update(i as u64 + 1, "");
            if cancel.is_cancelled() {
                return Err(Error::Cancelled(
                    "stopped while predicting: no prediction was stored".into(),
                ));
            }
        }
    }
    store.put_predictions(id, &labels, &preds)?;
    progress.finish("");
    Ok((id, train.len(), pool.keys.len()))
}

/// The expert train split as (item, label index), adjudicated where annotators disagree, less
/// train items that near-duplicate an eval item (they would leak it); warns about what is
/// left out and about labels the split lacks.
pub fn train_split(
    store: &Store,
    cfg: &Config,
    warnings: &mut Vec<String>,
) -> Result<Vec<(i64, usize)>> {
    let labels = &cfg.label_names();
    let train: Vec<(i64, usize)> = train_labels(store, cfg, warnings)?
        .iter()
        .filter_map(|(item, label)| labels.iter().position(|x| x == label).map(|l| (*item, l)))
        .collect();
    let classes: std::collections::BTreeSet<usize> = train.iter().map(|t| t.1).collect();
    if !train.is_empty() && classes.len() < labels.len() {
        warnings.push(format!(
            "the train split has {} of {} labels: the round model cannot learn the others",
            classes.len(),
            labels.len()
        ));
    }
    Ok(train)
}

/// The expert train split of a multi-label project as (item, one flag per label: does it
/// apply), adjudicated and less leaking items as [`train_split`]. A label value that is not a
/// set of the project's labels is left out with a warning.
pub fn train_split_sets(
    store: &Store,
    cfg: &Config,
    warnings: &mut Vec<String>,
) -> Result<Vec<(i64, Vec<bool>)>> {
    let labels = &cfg.label_names();
    let mut bad = 0usize;
    let mut train = Vec::new();
    for (item, label) in train_labels(store, cfg, warnings)? {
        match multilabel::decode(&label).filter(|set| multilabel::check_names(set, labels).is_ok())
        {
            Some(_) => train.push((item, multilabel::membership(&label, labels))),
            None => bad += 1,
        }
    }
    if bad > 0 {
        warnings.push(format!(
            "{bad} train items have a label that is not a set of this project's labels: left out"
        ));
    }
    Ok(train)
}

/// The train split's resolved labels as stored (see [`train_split`]).
fn train_labels(
    store: &Store,
    cfg: &Config,
    warnings: &mut Vec<String>,
) -> Result<Vec<(i64, String)>> {
    let splits = store.splits()?;
    let leak = crate::curate::split::leakage(store, cfg)?;
    if !leak.train_keys.is_empty() {
        warnings.push(format!(
            "{} train items near-duplicate an eval item: left out of training (see `hifi report`)",
            leak.train_keys.len()
        ));
    }
    let (resolved, conflicts) = store.resolved_labels()?;
    if !conflicts.is_empty() {
        warnings.push(format!(
            "{} items have disagreeing labels and no adjudication: left out of training",
            conflicts.len()
        ));
    }
    Ok(resolved
        .into_iter()
        .filter(|(item, _)| {
            splits.get(item) == Some(&Split::Train) && !leak.train_keys.contains(item)
        })
        .collect())
}

/// Train an adapter on the train split, hot-load it and prelabel the whole pool with it.
/// Returns (model id, train size, items predicted, the adapter).
fn lora_round(
    store: &mut Store,
    cfg: &Config,
    round: i64,
    run: &LoraRun,
    warnings: &mut Vec<String>,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<(i64, usize, usize, AdapterRun)> {
    let name = format!("round-{round}");
    let (trained, train_len) = if cfg.multi_label {
        let train = train_split_sets(store, cfg, warnings)?;
        warnings.extend(one_sided_labels(&train, &cfg.label_names()));
        let trained = match &run.use_adapter {
            Some(path) => adopt_adapter(store, cfg, path, round, train.len(), run, progress)?,
            None => {
                train_adapter_multi(store, cfg, &name, Some(round), &train, run, progress, cancel)?
            }
        };
        (trained, train.len())
    } else {
        let train = train_split(store, cfg, warnings)?;
        let trained = match &run.use_adapter {
            Some(path) => adopt_adapter(store, cfg, path, round, train.len(), run, progress)?,
            None => train_adapter(store, cfg, &name, Some(round), &train, run, progress, cancel)?,
        };
        (trained, train.len())
    };
    if cancel.is_cancelled() {
        return Err(Error::Cancelled(format!(
            "round {round} stopped after training: the adapter is at {}",
            trained.adapter.display()
        )));
    }
    let root = store.root().to_path_buf();
    let params = PrelabelParams {
        adapter: Some(trained.adapter.clone()),
        engine: EngineOptions { threads: run.threads, gpu_layers: cfg.model.gpu_layers },
        ..PrelabelParams::from_config(cfg, &root)
    };
    let rep = prelabel::run(store, cfg, &params, progress, cancel)?;
    if rep.cancelled {
        return Err(Error::Cancelled(format!(
            "round {round} stopped while prelabeling with the adapter; `hifi prelabel --adapter {}` resumes it",
            trained.adapter.display()
        )));
    }
    Ok((rep.model_id, train_len, (rep.scored + rep.already_done) as usize, trained))
}

/// Warnings for labels that apply to every or to none of a multi-label train split's items:
/// training can only teach them one answer.
pub fn one_sided_labels(train: &[(i64, Vec<bool>)], labels: &[String]) -> Vec<String> {
    if train.is_empty() {
        return Vec::new();
    }
    labels
        .iter()
        .enumerate()
        .filter_map(|(j, name)| {
            let on = train.iter().filter(|t| t.1.get(j) == Some(&true)).count();
            (on == 0 || on == train.len()).then(|| {
                format!(
                    "label \"{}\" applies to {} of the {} train items: training can only teach it one answer",
                    crate::text::inert(name, false),
                    if on == 0 { "none" } else { "every one" },
                    train.len()
                )
            })
        })
        .collect()
}

/// The newest adapter a finished LoRA round produced (to continue training from it).
pub fn last_adapter(store: &Store) -> Result<Option<std::path::PathBuf>> {
    for r in store.rounds()?.iter().rev() {
        if r.trainer.as_deref() != Some(Trainer::Lora.as_str()) || r.scores.is_none() {
            continue;
        }
        if let Some(m) = r.model.map(|m| store.model(m)).transpose()?.flatten() {
            if let Some(p) = m.adapter_path {
                return Ok(Some(p.into()));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_random_sample_is_representative_and_a_boundary_sample_is_not() {
        // 1,000 rows whose LLM margin runs evenly from 0 to 1.
        let probs: Vec<f32> = (0..1000)
            .flat_map(|i| {
                let m = i as f32 / 1000.0;
                [(1.0 + m) / 2.0, (1.0 - m) / 2.0]
            })
            .collect();
        let pool = Pool { label_names: vec!["a".into(), "b".into()], probs, ..Pool::default() };
        let every_tenth: Vec<(usize, usize)> = (0..1000).step_by(10).map(|i| (i, 0)).collect();
        let lowest: Vec<(usize, usize)> = (0..100).map(|i| (i, 0)).collect();
        let r = representativeness(&pool, &every_tenth);
        assert!(r > 0.97 && r <= 1.0, "{r}");
        let b = representativeness(&pool, &lowest);
        assert!(b < 0.11, "{b}");
        assert_eq!(representativeness(&pool, &[]), 1.0);
    }
}
