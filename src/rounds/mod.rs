//! Rounds of the loop and what decides when to stop: the round model (a fast probe, or the
//! LoRA path), each round's scores against the experts on the eval split, `hifi report`'s
//! verdict, and `hifi simulate`, which plans a label budget on data with gold labels.

mod agreement;
mod audit;
mod evaluate;
pub mod plot;
pub mod probe;
mod run;
mod simulate;
mod verdict;

use serde::Serialize;

pub use agreement::Agreement;
pub use audit::{wilson, AuditScores, Prevalence};
pub use evaluate::{
    expert_agreement, mean_label_agreement, per_label_lines, project_expert_agreement, score_model,
    score_model_for, score_model_multi, score_sets, AnnotatorAgreement, Blindness, ItemAlpha,
    LabelScores, RoundScores, SetScores, MIN_EVAL, MIN_SHARED,
};
pub use probe::{LabelModel, OneVsRest, Probe, ProbeParams};
pub use run::{
    fallback_notes, fit_one_vs_rest, fit_probe, last_adapter, pool_features, pool_offset,
    predict_row, predict_row_multi, run_round, train_split, train_split_sets, RoundParams,
    RoundReport, Trainer,
};
pub use simulate::{
    mean_ci, multi::simulate_sets, simulate_experts, simulate_pool, EvalCell, EvalSettings,
    PairedDiff, Score, SeedBaseline, SeedResult, SimParams, SimReport, SimResult, StopTally,
};
pub use verdict::{
    items_for_parity, judge, judge_sets, label_inputs, verdict, verdict_multi, Gain, JudgeInput,
    JudgeInputSets, LabelVerdict, RoundModel, Verdict,
};

use crate::config::Config;
use crate::curate::pool_of_model;
use crate::error::{Error, Result};
use crate::progress::{CancelToken, Progress};
use crate::store::Store;

/// Labels before the first round is due: the first 50 are labeled as one batch. While the LLM is at
/// chance it is all exploration, and cutting it into rounds of a dozen lost κ at 50 labels on
/// two of three real sets (docs/curation.md#how-many-labels-per-round-measured).
pub const FIRST_ROUND_DUE: i64 = 50;
/// Labels since the last round after which the next is due: rounds of 12–25 labels beat one
/// per 50–100 by up to 0.04 κ, and a probe round takes seconds (same section).
pub const NEXT_ROUND_DUE: i64 = 25;

/// Expert labels the model behind the queue has not seen: given since the newest round that
/// trained a model started (`round`; `None` while there is none — zero-shot rounds train
/// nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SinceRound {
    pub labels: i64,
    pub round: Option<i64>,
}

impl SinceRound {
    /// Enough new labels that the next round should run before more are given.
    pub fn due(&self) -> bool {
        self.labels >= if self.round.is_some() { NEXT_ROUND_DUE } else { FIRST_ROUND_DUE }
    }

    /// The project's count, from the store.
    pub fn of(store: &Store) -> Result<SinceRound> {
        let (labels, round) = store.labels_since_round()?;
        Ok(SinceRound { labels, round })
    }
}

/// Settings key under which the newest simulation report is kept (the dashboard shows it).
pub const SIMULATION_KEY: &str = "last_simulation";

/// One round as `hifi report` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct ReportRound {
    pub round: i64,
    pub trainer: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// Absent for a round that was interrupted.
    pub scores: Option<RoundScores>,
    /// The label-set version its model scored under (`None`: unknown: an interrupted round,
    /// or labels never recorded as a version).
    pub label_set: Option<i64>,
    /// Whether its figures are for the label set in force: κ is compared only within one
    /// label-set version, so a round that is not is left out of the stop rule.
    pub current_label_set: bool,
}

impl ReportRound {
    /// For a round scored under another label set than `now`'s: the line that says so.
    pub fn label_set_note(&self, now: &ReportLabelSet) -> Option<String> {
        if self.current_label_set || self.scores.is_none() {
            return None;
        }
        let then =
            self.label_set.map_or("an earlier label set".into(), |v| format!("label set v{v}"));
        let now = now.version.map_or("the labels in force".into(), |v| format!("v{v}"));
        Some(format!(
            "  scored under {then}: its κ is not comparable with figures for {now} (left out of the stop rule)"
        ))
    }
}

/// The label set a report's figures are for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportLabelSet {
    /// `None`: hifi.toml's labels were never recorded as a version (a store opened without
    /// its project).
    pub version: Option<i64>,
    pub labels: Vec<String>,
}

/// `hifi report`: every round and the verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The label set in force: every κ compared or judged here is within it.
    pub label_set: ReportLabelSet,
    /// The guidelines version in force, if any were written.
    pub guidelines: Option<i64>,
    pub rounds: Vec<ReportRound>,
    pub verdict: Verdict,
    /// Near-duplicates across train and eval.
    pub leakage: crate::curate::split::Leakage,
    /// When the newest predictions were scored under another label set: why there is no
    /// model κ under the labels in force, and what to run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale_predictions: Option<String>,
}

impl Report {
    /// The first line `hifi report` prints: which label set (and guidelines) the figures are
    /// for.
    pub fn label_set_line(&self) -> String {
        let v = self.label_set.version.map_or("label set".into(), |v| format!("label set v{v}"));
        let g = self.guidelines.map(|g| format!(" · guidelines v{g}")).unwrap_or_default();
        format!("{v} ({}){g}: κ is compared within one label set", self.label_set.labels.join(", "))
    }
}

/// A round's scores as [`RoundScores`] (`None` while it runs or after it was interrupted); scores
/// of another shape are an error naming the round, never a round left out in silence.
pub fn round_scores(store: &Store, row: &crate::store::RoundRow) -> Result<Option<RoundScores>> {
    let Some(v) = &row.scores else { return Ok(None) };
    serde_json::from_value(v.clone()).map(Some).map_err(|e| {
        store.corrupt_round(row.id, &format!("not a round's scores ({e})"), &v.to_string()).into()
    })
}

/// The label-set version `row`'s model scored under, and whether it is the one of `labels`
/// (recorded with the round's scores from label-set versions on; found from the round's
/// model for rounds recorded before).
pub fn round_label_set(
    store: &Store,
    row: &crate::store::RoundRow,
    scores: Option<&RoundScores>,
    labels: &[String],
) -> Result<(Option<i64>, bool)> {
    let model = row.model.or(scores.map(|s| s.model));
    let rec = match model {
        Some(m) => store.model(m)?,
        None => None,
    };
    Ok(match (rec, scores) {
        (Some(m), s) => {
            let version = match s.and_then(|s| s.label_set) {
                Some(v) => Some(v),
                None => store.label_set_of(&m.labels)?,
            };
            (version, m.labels == labels)
        }
        // The model is gone: only the recorded version says which set it was.
        (None, Some(s)) => {
            let current = match (s.label_set, store.label_set()?) {
                (Some(v), Some(now)) => v == now.version && now.names() == labels,
                _ => false,
            };
            (s.label_set, current)
        }
        (None, None) => (None, false),
    })
}

/// When the newest model (the one registered last: what `hifi prelabel` or a round made most
/// recently) scored another label set than `labels`: that, and what to run for a model κ under
/// the labels in force. Read without scanning the predictions (a million rows and more).
pub(crate) fn stale_predictions_note(store: &Store, labels: &[String]) -> Result<Option<String>> {
    let Some(m) = store.newest_model_id()?.map(|id| store.model(id)).transpose()?.flatten() else {
        return Ok(None);
    };
    Ok(store.stale_reason(&m, labels)?.map(|why| {
        format!("the newest predictions are stale: {why}; there is no model κ under the labels in force: run `hifi prelabel`, then `hifi round`")
    }))
}

/// Read every round from the store and judge them (within the label set in force).
pub fn report(store: &Store, cfg: &Config) -> Result<Report> {
    let labels = cfg.label_names();
    let rows = store.rounds()?;
    let rounds = rows
        .iter()
        .map(|r| {
            let scores = round_scores(store, r)?;
            let (label_set, current_label_set) =
                round_label_set(store, r, scores.as_ref(), &labels)?;
            Ok(ReportRound {
                round: r.id,
                trainer: r.trainer.clone(),
                started_at: r.started_at.clone(),
                finished_at: r.finished_at.clone(),
                scores,
                label_set,
                current_label_set,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let version = match store.label_set()? {
        Some(v) if v.names() == labels => Some(v.version),
        _ => store.label_set_of(&labels)?,
    };
    let stale_predictions = stale_predictions_note(store, &labels)?;
    Ok(Report {
        label_set: ReportLabelSet { version, labels },
        guidelines: store.guidelines()?.map(|g| g.version),
        rounds,
        verdict: verdict(store, cfg)?,
        leakage: crate::curate::split::leakage(store, cfg)?,
        stale_predictions,
    })
}

/// `hifi simulate` on a project: the base LLM's predictions (no adapter, no few-shot
/// examples: the only honest zero-shot baseline, and the probe's LLM features) and the
/// embeddings; gold labels from `oracle` (`gold`: the field `hifi import --gold` read; any
/// other name: that imported field) and, with `oracle2`, a second expert from that field.
/// The eval side reads `[split] eval_fraction`, `[mine] audit_share` and `[stop] margin` from
/// `cfg`. Items without an oracle label are left out with a warning. The report is also kept
/// in the store for the dashboard.
pub fn simulate(
    store: &mut Store,
    cfg: &Config,
    oracle: &str,
    oracle2: Option<&str>,
    params: &SimParams,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<SimReport> {
    let llm = match store.latest_base_llm()? {
        Some(m) => m,
        None => return Err(no_base_llm(store)?),
    };
    let model_id = llm.id;
    let llm_rec = llm.clone();
    let loaded = pool_of_model(store, llm, true)?;
    let mut warnings = loaded.warnings;
    let full = loaded.pool;
    if let Some(why) = store.stale_reason(&llm_rec, &cfg.label_names())? {
        return Err(Error::Input(format!(
            "the base LLM's predictions are stale: {why}: run `hifi prelabel` first"
        )));
    }
    if oracle2 == Some(oracle) {
        return Err(Error::Input(format!(
            "--oracle2 {oracle} is the same field as --oracle: two experts need two fields"
        )));
    }
    let answers = oracle_labels(store, oracle)?;
    let answers2 = oracle2.map(|f| oracle_labels(store, f)).transpose()?;
    if cfg.multi_label {
        // Gold is a label set per item: the one-vs-rest simulation (rounds/simulate/multi.rs).
        let mut rep = simulate::multi::simulate_project(
            cfg, full, oracle, oracle2, &answers, params, warnings, progress, cancel,
        )?;
        rep.zero_shot_model = Some(model_id);
        if let Ok(json) = serde_json::to_string(&rep) {
            store.set_setting(SIMULATION_KEY, &json)?;
        }
        return Ok(rep);
    }
    let mut rows = Vec::new();
    let (mut gold, mut gold2) = (Vec::new(), Vec::new());
    let (mut missing, mut unknown) = (0usize, 0usize);
    let index = |v: &String| full.label_names.iter().position(|l| l == v);
    for (i, key) in full.keys.iter().enumerate() {
        let second = answers2.as_ref().map(|a| a.get(key));
        match (answers.get(key), second) {
            (None, _) | (_, Some(None)) => missing += 1,
            (Some(v), second) => match (index(v), second.flatten().map(index)) {
                (Some(g), None) => {
                    rows.push(i);
                    gold.push(g);
                }
                (Some(g), Some(Some(g2))) => {
                    rows.push(i);
                    gold.push(g);
                    gold2.push(g2);
                }
                _ => unknown += 1,
            },
        }
    }
    let fields = match oracle2 {
        Some(f) => format!("`{oracle}` and `{f}` values"),
        None => format!("a `{oracle}` value"),
    };
    if rows.is_empty() {
        return Err(Error::Input(format!(
            "no predicted, embedded item has {fields} that are labels ({})",
            full.label_names.join(", ")
        )));
    }
    if missing > 0 {
        warnings.push(format!("{missing} items lack {fields}: left out"));
    }
    if unknown > 0 {
        warnings.push(format!("{unknown} items have {fields} that are not all labels: left out"));
    }
    let params = SimParams {
        eval_fraction: cfg.split.eval_fraction,
        audit_share: cfg.mine.audit_share,
        margin: cfg.stop.margin,
        ..params.clone()
    };
    let pool = simulate::sub_pool(&full, &rows);
    let second = oracle2.map(|f| (f, gold2.as_slice()));
    let mut rep = simulate_experts(&pool, &gold, second, &params, progress, cancel)?;
    rep.zero_shot_model = Some(model_id);
    warnings.append(&mut rep.warnings);
    rep.warnings = warnings;
    if let Ok(json) = serde_json::to_string(&rep) {
        store.set_setting(SIMULATION_KEY, &json)?;
    }
    Ok(rep)
}

/// Why there is no base LLM to simulate with, and the command that fixes it.
fn no_base_llm(store: &Store) -> Result<Error> {
    let fix = "set `[prompt] few_shot = 0` in hifi.toml and run `hifi prelabel` without --adapter (then `hifi embed` if needed)";
    Ok(Error::Input(match store.latest_model_of_kind("llm")? {
        None => "no LLM predictions yet: run `hifi prelabel` and `hifi embed` first".into(),
        Some(m) => {
            let why = match (&m.adapter_path, m.few_shot) {
                (Some(a), _) => format!("model {} has the adapter {a}", m.id),
                (None, Some(f)) if f > 0 => {
                    format!("model {} had {f} expert examples in its prompt (few-shot)", m.id)
                }
                _ => format!("model {} was registered before hifi recorded few-shot prompts", m.id),
            };
            format!("the zero-shot baseline needs the base LLM's own predictions — no adapter, no expert examples in the prompt — and there are none: {why}; {fix}")
        }
    }))
}

/// item key → the oracle's label for it.
fn oracle_labels(store: &Store, field: &str) -> Result<std::collections::HashMap<i64, String>> {
    let mut out = std::collections::HashMap::new();
    for it in store.items_gold()? {
        let value = if field == "gold" {
            it.gold
        } else {
            it.meta.and_then(|m| serde_json::from_str::<serde_json::Value>(&m).ok()).and_then(|m| {
                match &m[field] {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Null => None,
                    other => Some(other.to_string()),
                }
            })
        };
        if let Some(v) = value {
            out.insert(it.key, v);
        }
    }
    if out.is_empty() {
        let hint = if field == "gold" {
            "import with --gold FIELD"
        } else {
            "labels imported with --gold are under --oracle gold"
        };
        return Err(Error::Input(format!("no item has a `{field}` value ({hint})")));
    }
    Ok(out)
}
