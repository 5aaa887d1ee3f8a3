//! Whether to run another round (docs/methods.md#stop-rule).
//!
//! **Reached the experts** is an equivalence test, not a failure to find a difference: on the
//! eval items two or more experts labeled *blind* (an item is left out when any of its labels
//! in force was given with the model's suggestion visible; labels of unknown visibility count
//! as blind and are counted apart in the report; disputed items not yet adjudicated, which
//! have no split yet, count as eval), D = κ_expert–expert − κ_model–expert with the newest
//! round's model against each expert on the same items ([`equivalence::test`]); stop when
//! the upper bound of D's 90% paired bootstrap interval is at most δ (`[stop] margin`).
//!
//! **No improvement** needs three scored rounds and [`MIN_EVAL`] eval items: every stored
//! round's model is re-scored on the *current* eval split, and for each of the last two rounds
//! a paired bootstrap over the items both models predicted gives κ(round) − κ(best round before
//! the last two); stop when both 90% upper bounds are below `[stop] min_gain` — with 95%
//! confidence neither round gained that much.
//!
//! [`judge`] decides on plain data (tests drive it with simulated raters); [`verdict`] reads
//! the store and the configuration into a [`JudgeInput`].
//!
//! **Multi-label projects** judge each label's "applies" as a binary task with the same two
//! rules, δ and min_gain ([`judge_sets`]): the verdict stops only when every label stops, and
//! otherwise names the labels not there yet with their κ gap.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::agreement::REPS;
use super::evaluate::{top_labels, MIN_EVAL, MIN_SHARED};
use crate::config::Config;
use crate::error::Result;
use crate::metrics::equivalence::{self, Equivalence, LEVEL};
use crate::metrics::{bootstrap_ci, cohen_kappa};
use crate::store::{Split, Store};

/// One scored round's model on the current eval items.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundModel {
    pub round: i64,
    /// The model's top label on each of [`JudgeInput::gold`]'s items (`None`: no prediction).
    pub pred: Vec<Option<usize>>,
}

/// Everything the verdict decides on.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeInput {
    /// Number of labels.
    pub k: usize,
    /// δ.
    pub margin: f64,
    pub min_gain: f64,
    /// Bootstrap replicates.
    pub reps: usize,
    pub seed: u64,
    /// The resolved expert label of each current eval item (both strata, all labels).
    pub gold: Vec<usize>,
    /// Every scored round, oldest first.
    pub rounds: Vec<RoundModel>,
    /// Blind eval items labeled by two or more experts: one row per item, one column per expert.
    pub shared: Vec<Vec<Option<usize>>>,
    /// The newest round's model's top label on each `shared` row.
    pub shared_model: Vec<usize>,
    /// Double-labeled eval items left out of `shared`: a label given with the suggestion visible.
    pub shared_seen: usize,
    /// Double-labeled eval items left out of `shared`: the newest model has no prediction.
    pub shared_unpredicted: usize,
}

/// κ(round) − κ(best earlier round) on the current eval items both models predicted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gain {
    pub round: i64,
    /// The best round before the last two, by κ on the current eval items.
    pub best_round: i64,
    pub n: usize,
    pub gain: f64,
    /// 90% paired bootstrap interval.
    pub ci: [f64; 2],
}

/// Whether to run another round, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// "stop", "continue" or "not-enough-data".
    pub decision: &'static str,
    /// For "stop": "reached-experts" or "no-improvement".
    pub rule: Option<&'static str>,
    pub message: String,
    /// The equivalence test on the blind double-labeled eval items, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub equivalence: Option<Equivalence>,
    /// The last two rounds against the best round before them, when there are three rounds.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gains: Vec<Gain>,
    /// What the numbers left out, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Multi-label projects: each label's stop rule, by label name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub per_label: BTreeMap<String, LabelVerdict>,
    /// Multi-label projects: the labels whose stop rule does not say stop yet, in label order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels_not_there: Vec<String>,
}

impl Verdict {
    fn new(decision: &'static str, rule: Option<&'static str>, message: String) -> Self {
        Self {
            decision,
            rule,
            message,
            equivalence: None,
            gains: Vec::new(),
            notes: Vec::new(),
            per_label: BTreeMap::new(),
            labels_not_there: Vec::new(),
        }
    }
}

/// κ of `pred` against `gold` on the items `ix` that `pred` has.
fn kappa_on(gold: &[usize], pred: &[Option<usize>], ix: &[usize], k: usize) -> Option<f64> {
    let (g, p): (Vec<usize>, Vec<usize>) =
        ix.iter().filter_map(|&i| Some((gold[i], pred[i]?))).unzip();
    cohen_kappa(&g, &p, k).value()
}

/// Paired bootstrap of κ(`a`) − κ(`b`) over the items both predicted.
fn gain(input: &JudgeInput, a: &RoundModel, b: &RoundModel) -> Option<Gain> {
    let both: Vec<usize> =
        (0..input.gold.len()).filter(|&i| a.pred[i].is_some() && b.pred[i].is_some()).collect();
    let diff = |ix: &[usize]| {
        let rows: Vec<usize> = ix.iter().map(|&j| both[j]).collect();
        Some(
            kappa_on(&input.gold, &a.pred, &rows, input.k)?
                - kappa_on(&input.gold, &b.pred, &rows, input.k)?,
        )
    };
    let all: Vec<usize> = (0..both.len()).collect();
    let g = diff(&all)?;
    let (lo, hi) = bootstrap_ci(both.len(), diff, input.reps, LEVEL, input.seed ^ a.round as u64)?;
    Some(Gain { round: a.round, best_round: b.round, n: both.len(), gain: g, ci: [lo, hi] })
}

/// Double-labeled items parity would need if D stayed where it is: the interval's upper
/// half-width shrinks as 1/√n. `None` when D itself is at or above δ.
pub fn items_for_parity(e: &Equivalence) -> Option<usize> {
    (e.d < e.margin).then(|| {
        let ratio = (e.ci[1] - e.d) / (e.margin - e.d);
        (e.n as f64 * ratio * ratio).ceil() as usize
    })
}

/// The verdict on `input` (see the module docs).
pub fn judge(input: &JudgeInput) -> Verdict {
    let Some(last) = input.rounds.last() else {
        return Verdict::new(
            "not-enough-data",
            None,
            "no finished round yet: run `hifi round`".into(),
        );
    };
    let eval_n = last.pred.iter().flatten().count();
    let shared_n = input.shared.len();
    if eval_n < MIN_EVAL {
        return Verdict::new(
            "not-enough-data",
            None,
            format!("not enough labels to judge: {eval_n} eval items with a prediction (need {MIN_EVAL}), {shared_n} double-labeled blind eval items (need {MIN_SHARED})"),
        );
    }
    let equivalence = (shared_n >= MIN_SHARED)
        .then(|| {
            equivalence::test(
                &input.shared,
                &input.shared_model,
                input.k,
                input.margin,
                input.reps,
                input.seed,
            )
        })
        .flatten();
    let with = |mut v: Verdict, gains: Vec<Gain>| {
        v.equivalence = equivalence.clone();
        v.gains = gains;
        v
    };
    let eq_line = |e: &Equivalence| {
        format!(
            "κ_experts − κ_model = {:.3}, 90% CI [{:.2}, {:.2}] {} δ {} on {} double-labeled blind eval items",
            e.d,
            e.ci[0],
            e.ci[1],
            if e.equivalent { "≤" } else { ">" },
            e.margin,
            e.n
        )
    };
    if let Some(e) = equivalence.as_ref().filter(|e| e.equivalent) {
        let msg = format!("stop: round {}'s model agrees with the experts as well as they agree with each other: {}", last.round, eq_line(e));
        return with(Verdict::new("stop", Some("reached-experts"), msg), Vec::new());
    }
    let mut gains = Vec::new();
    let n = input.rounds.len();
    if n >= 3 {
        let all: Vec<usize> = (0..input.gold.len()).collect();
        let best = input.rounds[..n - 2]
            .iter()
            .filter_map(|r| Some((r, kappa_on(&input.gold, &r.pred, &all, input.k)?)))
            .fold(None::<(&RoundModel, f64)>, |acc, (r, k)| match acc {
                Some((_, bk)) if bk >= k => acc,
                _ => Some((r, k)),
            });
        if let Some((best, _)) = best {
            gains = input.rounds[n - 2..].iter().filter_map(|r| gain(input, r, best)).collect();
        }
        if gains.len() == 2 && gains.iter().all(|g| g.ci[1] < input.min_gain) {
            let msg = format!(
                "stop: no improvement: rounds {} and {} gained {:+.3} (90% CI [{:.2}, {:.2}]) and {:+.3} ([{:.2}, {:.2}]) κ over round {} on the current eval items, both below min_gain {}",
                gains[0].round, gains[1].round, gains[0].gain, gains[0].ci[0], gains[0].ci[1], gains[1].gain, gains[1].ci[0], gains[1].ci[1], gains[0].best_round, input.min_gain
            );
            return with(Verdict::new("stop", Some("no-improvement"), msg), gains);
        }
    }
    match &equivalence {
        Some(e) => {
            let need = match items_for_parity(e) {
                Some(m) => format!("if the gap stays at {:.3}, parity needs roughly {m} such items", e.d),
                None => "the estimated gap itself is above δ: if it stays there, no number of items will show parity and the model has to improve".into(),
            };
            let msg = format!("continue: {}: the upper bound {:.3} is still above δ; {need}", eq_line(e), e.ci[1]);
            with(Verdict::new("continue", None, msg), gains)
        }
        None if shared_n < MIN_SHARED => with(
            Verdict::new(
                "not-enough-data",
                None,
                format!("not enough double-labeled blind eval items to compare model and experts: {shared_n} (need {MIN_SHARED}; {eval_n} eval items with a prediction)"),
            ),
            gains,
        ),
        None => with(
            Verdict::new("not-enough-data", None, format!("κ is undefined on the {shared_n} double-labeled blind eval items (one label everywhere?): label more varied items")),
            gains,
        ),
    }
}

/// The verdict over the project's stored rounds, on the current eval split (unfinished rounds
/// and rounds whose model is gone are left out). In a multi-label project the stop rule is
/// judged per label ([`verdict_multi`]).
pub fn verdict(store: &Store, cfg: &Config) -> Result<Verdict> {
    if cfg.multi_label {
        return verdict_multi(store, cfg);
    }
    let labels = cfg.label_names();
    let idx: HashMap<&str, usize> =
        labels.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
    let c = collect(store, &labels, &|l| idx.get(l).copied(), &|m| top_labels(store, m, &idx))?;
    let input = JudgeInput {
        k: labels.len(),
        margin: cfg.stop.margin,
        min_gain: cfg.stop.min_gain,
        reps: REPS,
        seed: c.seed,
        gold: c.eval.iter().map(|(_, g)| *g).collect(),
        rounds: c.rounds.into_iter().map(|(round, pred)| RoundModel { round, pred }).collect(),
        shared: c.shared,
        shared_model: c.shared_model,
        shared_seen: c.shared_seen,
        shared_unpredicted: c.shared_unpredicted,
    };
    let mut v = judge(&input);
    v.notes = c.notes;
    Ok(v)
}

/// What the stop rule reads from the store, with each decision as a value of type `V`: a label
/// index in a single-label project, one flag per label in a multi-label one.
struct Collected<V> {
    /// The resolved expert value of each current blind eval item.
    eval: Vec<(i64, V)>,
    /// Every scored round (oldest first) and its model's value on each `eval` item.
    rounds: Vec<(i64, Vec<Option<V>>)>,
    shared: Vec<Vec<Option<V>>>,
    shared_model: Vec<V>,
    shared_seen: usize,
    shared_unpredicted: usize,
    notes: Vec<String>,
    seed: u64,
}

/// Reads the rounds, the eval split and the double-labeled eval items. `value` reads a stored
/// label (`None`: not one of the labels in force); `predict` gives a model's value per item.
fn collect<V: Clone>(
    store: &Store,
    labels: &[String],
    value: &dyn Fn(&str) -> Option<V>,
    predict: &dyn Fn(i64) -> Result<HashMap<i64, V>>,
) -> Result<Collected<V>> {
    let strata = store.split_strata()?;
    let is_eval = |i: &i64| matches!(strata.get(i), Some((Split::Eval, _)));
    let (resolved, _) = store.resolved_labels()?;
    let labels_seen = store.current_labels_seen()?;
    // Rounds are compared on blind eval labels, like every κ of the report.
    let seen: std::collections::HashSet<i64> =
        labels_seen.iter().filter(|l| l.3 == Some(true)).map(|l| l.0).collect();
    let eval: Vec<(i64, V)> = resolved
        .iter()
        .filter(|(i, _)| is_eval(i) && !seen.contains(i))
        .filter_map(|(i, l)| Some((*i, value(l.as_str())?)))
        .collect();
    let mut notes = Vec::new();
    let mut tops: HashMap<i64, HashMap<i64, V>> = HashMap::new();
    let mut rounds = Vec::new();
    let mut seed = 0;
    // κ is compared within one label-set version: rounds scored under another are left out.
    let mut other_set: Vec<(i64, Option<i64>)> = Vec::new();
    for row in store.rounds()? {
        let Some(scores) = super::round_scores(store, &row)? else { continue };
        let model = row.model.unwrap_or(scores.model);
        if let std::collections::hash_map::Entry::Vacant(e) = tops.entry(model) {
            let Some(rec) = store.model(model)? else {
                notes.push(format!(
                    "round {}'s model {model} is no longer in the store: left out",
                    row.id
                ));
                continue;
            };
            if rec.labels != labels {
                let (v, _) = super::round_label_set(store, &row, Some(&scores), labels)?;
                other_set.push((row.id, v));
                continue;
            }
            e.insert(predict(model)?);
        }
        let top = &tops[&model];
        let pred: Vec<Option<V>> = eval.iter().map(|(i, _)| top.get(i).cloned()).collect();
        let missing = pred.iter().filter(|p| p.is_none()).count();
        if missing > 0 && !eval.is_empty() {
            notes.push(format!("round {}'s model has no prediction for {missing} of {} eval items: it is compared on the items it has", row.id, eval.len()));
        }
        seed = scores.seed;
        rounds.push((row.id, pred, model));
    }
    // Double-labeled eval items, blind only, against the newest model. Items the experts
    // disagree on and nobody has adjudicated yet have no split (they have no resolved label),
    // but they are double-labeled, so eval once resolved, and they carry exactly the
    // disagreement κ_experts measures: leaving them out would push κ_experts towards 1.
    let not_train = |i: &i64| !matches!(strata.get(i), Some((Split::Train, _)));
    let mut per_item: BTreeMap<i64, Vec<(String, V, Option<bool>)>> = BTreeMap::new();
    for (item, who, label, seen) in labels_seen {
        if let (true, Some(l)) = (not_train(&item), value(label.as_str())) {
            per_item.entry(item).or_default().push((who, l, seen));
        }
    }
    let experts: Vec<String> = {
        let mut v: Vec<String> = per_item.values().flatten().map(|(w, _, _)| w.clone()).collect();
        v.sort();
        v.dedup();
        v
    };
    let newest = rounds.last().map(|(_, _, m)| &tops[m]);
    let (mut shared, mut shared_model, mut shared_seen, mut shared_unpredicted) =
        (Vec::new(), Vec::new(), 0, 0);
    for (item, ls) in per_item.iter().filter(|(_, ls)| ls.len() >= 2) {
        if ls.iter().any(|(_, _, seen)| *seen == Some(true)) {
            shared_seen += 1;
            continue;
        }
        let Some(m) = newest.and_then(|t| t.get(item)) else {
            shared_unpredicted += 1;
            continue;
        };
        let mut row = vec![None; experts.len()];
        for (who, l, _) in ls {
            if let Ok(c) = experts.binary_search(who) {
                row[c] = Some(l.clone());
            }
        }
        shared.push(row);
        shared_model.push(m.clone());
    }
    if !other_set.is_empty() {
        let now = store.label_set()?.filter(|v| v.names() == labels).map(|v| v.version);
        let which: Vec<String> = other_set
            .iter()
            .map(|(r, v)| match v {
                Some(v) => format!("{r} (label set v{v})"),
                None => format!("{r} (an unrecorded label set)"),
            })
            .collect();
        notes.push(format!(
            "round{} {} scored under another label set than the one in force{}: left out of the stop rule (κ is compared within one label set)",
            if which.len() == 1 { "" } else { "s" },
            which.join(", "),
            now.map(|v| format!(" (v{v})")).unwrap_or_default()
        ));
    }
    notes.extend(super::stale_predictions_note(store, labels)?);
    if shared_seen > 0 {
        notes.push(format!("{shared_seen} double-labeled eval items left out of the stop rule: a label was given with the suggestion visible"));
    }
    if shared_unpredicted > 0 {
        notes.push(format!("{shared_unpredicted} double-labeled eval items left out of the stop rule: the newest model has no prediction for them"));
    }
    Ok(Collected {
        eval,
        rounds: rounds.into_iter().map(|(r, p, _)| (r, p)).collect(),
        shared,
        shared_model,
        shared_seen,
        shared_unpredicted,
        notes,
        seed,
    })
}

/// One label's stop rule in a multi-label project.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelVerdict {
    /// "stop", "continue" or "not-enough-data", for this label alone.
    pub decision: &'static str,
    /// For "stop": "reached-experts" or "no-improvement".
    pub rule: Option<&'static str>,
    pub message: String,
    /// The equivalence test on this label's "applies", when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub equivalence: Option<Equivalence>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gains: Vec<Gain>,
}

/// The per-label inputs of a multi-label project's stop rule: `input`'s values are one flag
/// per label, and label `l`'s input reads flag `l` as a binary label (1: applies).
pub fn label_inputs(input: &JudgeInputSets) -> Vec<JudgeInput> {
    let bit = |f: &Vec<bool>, l: usize| usize::from(f.get(l).copied().unwrap_or(false));
    (0..input.labels.len())
        .map(|l| JudgeInput {
            k: 2,
            margin: input.margin,
            min_gain: input.min_gain,
            reps: input.reps,
            seed: input.seed,
            gold: input.gold.iter().map(|g| bit(g, l)).collect(),
            rounds: input
                .rounds
                .iter()
                .map(|(round, pred)| RoundModel {
                    round: *round,
                    pred: pred.iter().map(|p| p.as_ref().map(|f| bit(f, l))).collect(),
                })
                .collect(),
            shared: input
                .shared
                .iter()
                .map(|row| row.iter().map(|c| c.as_ref().map(|f| bit(f, l))).collect())
                .collect(),
            shared_model: input.shared_model.iter().map(|f| bit(f, l)).collect(),
            shared_seen: input.shared_seen,
            shared_unpredicted: input.shared_unpredicted,
        })
        .collect()
}

/// Everything a multi-label project's verdict decides on: [`JudgeInput`] with label sets (one
/// flag per label, in `labels`' order) in place of label indices.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeInputSets {
    pub labels: Vec<String>,
    pub margin: f64,
    pub min_gain: f64,
    pub reps: usize,
    pub seed: u64,
    /// The resolved expert set of each current blind eval item.
    pub gold: Vec<Vec<bool>>,
    /// Every scored round, oldest first, and its model's set on each `gold` item.
    pub rounds: Vec<(i64, Vec<Option<Vec<bool>>>)>,
    /// Blind eval items labeled by two or more experts: one row per item, one column per expert.
    pub shared: Vec<Vec<Option<Vec<bool>>>>,
    /// The newest round's model's set on each `shared` row.
    pub shared_model: Vec<Vec<bool>>,
    pub shared_seen: usize,
    pub shared_unpredicted: usize,
}

/// A label's line in the verdict: its name and how far it is from the experts.
fn lagging(name: &str, v: &Verdict) -> String {
    let name = crate::text::inert(name, false);
    match (&v.equivalence, v.decision) {
        (Some(e), _) => {
            format!("{name} (κ gap {:.3}, 90% CI upper {:.3} > δ {})", e.d, e.ci[1], e.margin)
        }
        (None, "not-enough-data") => {
            let why = v.message.split_once(": ").map_or(v.message.as_str(), |(_, w)| w);
            format!("{name} (no κ gap yet: {why})")
        }
        (None, _) => format!("{name} ({})", v.message),
    }
}

/// The multi-label stop rule: [`judge`] on each label's "applies" (a binary task with the
/// same margin δ and min_gain), and the verdict stops only when every label stops. Otherwise
/// it names the labels not there yet, with their κ gap (κ_experts − κ_model) and its 90%
/// upper bound, and continues when any of them can still be judged.
pub fn judge_sets(input: &JudgeInputSets) -> Verdict {
    let per: Vec<Verdict> = label_inputs(input).iter().map(judge).collect();
    let eval_n = input.rounds.last().map_or(0, |(_, p)| p.iter().flatten().count());
    if input.rounds.is_empty() || eval_n < MIN_EVAL || per.is_empty() {
        // Not enough for any label: the single-label wording says what is missing.
        let mut v = per.into_iter().next().unwrap_or_else(|| {
            Verdict::new("not-enough-data", None, "the project has no labels".into())
        });
        v.equivalence = None;
        v.gains = Vec::new();
        return v;
    }
    let names = &input.labels;
    let not_there: Vec<usize> = (0..per.len()).filter(|&l| per[l].decision != "stop").collect();
    let mut v = if not_there.is_empty() {
        let all_reached = per.iter().all(|v| v.rule == Some("reached-experts"));
        let how: Vec<String> = names
            .iter()
            .zip(&per)
            .map(|(n, v)| {
                format!("{} ({})", crate::text::inert(n, false), v.rule.unwrap_or("stop"))
            })
            .collect();
        let msg = format!(
            "stop: every label is there: {}{}",
            how.join(", "),
            if all_reached {
                ": the model agrees with the experts on each label as well as they agree with each other"
            } else {
                ": on each label the model reached the experts or stopped improving"
            }
        );
        Verdict::new(
            "stop",
            Some(if all_reached { "reached-experts" } else { "no-improvement" }),
            msg,
        )
    } else {
        let decision = if not_there.iter().any(|&l| per[l].decision == "continue") {
            "continue"
        } else {
            "not-enough-data"
        };
        let which: Vec<String> = not_there.iter().map(|&l| lagging(&names[l], &per[l])).collect();
        let there = per.len() - not_there.len();
        Verdict::new(
            decision,
            None,
            format!(
                "{decision}: {} of {} labels {} not there yet: {}{}",
                not_there.len(),
                per.len(),
                if not_there.len() == 1 { "is" } else { "are" },
                which.join("; "),
                if there > 0 { format!(" ({there} are)") } else { String::new() }
            ),
        )
    };
    v.labels_not_there = not_there.iter().map(|&l| names[l].clone()).collect();
    v.per_label = names
        .iter()
        .zip(per)
        .map(|(n, p)| {
            (
                n.clone(),
                LabelVerdict {
                    decision: p.decision,
                    rule: p.rule,
                    message: p.message,
                    equivalence: p.equivalence,
                    gains: p.gains,
                },
            )
        })
        .collect();
    v
}

/// The verdict of a multi-label project: [`collect`] with label sets, then [`judge_sets`].
pub fn verdict_multi(store: &Store, cfg: &Config) -> Result<Verdict> {
    let labels = cfg.label_names();
    let thresholds = crate::multilabel::thresholds(cfg);
    let c = collect(store, &labels, &|l| super::evaluate::flags_of(l, &labels), &|m| {
        super::evaluate::applies_by_item(store, m, &thresholds)
    })?;
    let input = JudgeInputSets {
        labels: labels.clone(),
        margin: cfg.stop.margin,
        min_gain: cfg.stop.min_gain,
        reps: REPS,
        seed: c.seed,
        gold: c.eval.into_iter().map(|(_, g)| g).collect(),
        rounds: c.rounds,
        shared: c.shared,
        shared_model: c.shared_model,
        shared_seen: c.shared_seen,
        shared_unpredicted: c.shared_unpredicted,
    };
    let mut v = judge_sets(&input);
    v.notes = c.notes;
    Ok(v)
}
