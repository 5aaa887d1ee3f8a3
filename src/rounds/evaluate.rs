//! A round's scores on the eval split.
//!
//! Model vs expert: the model's top label against each item's resolved expert label (an
//! adjudication, else the annotators' shared label) on the boundary eval items (the eval
//! split less its audit stratum), with a seeded bootstrap CI; also against each annotator
//! separately on all eval items, and their mean. Expert vs expert: Light's kappa (mean
//! pairwise Cohen) over every item two or more experts labeled. The audit stratum is scored
//! apart ([`AuditScores`]). Every κ here is on blind labels: an eval item with a label given
//! while the model's suggestion was on screen is left out, and counted ([`Blindness`]).
//! Whether to stop is [`super::verdict`]'s business.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::agreement::{Agreement, REPS};
use super::audit::AuditScores;
use crate::error::Result;
use crate::metrics::{self, bootstrap_ci, cohen_kappa, light_kappa, Kappa};
use crate::store::{Split, Store};

/// Eval items with a prediction needed before the verdict judges at all.
pub const MIN_EVAL: usize = 40;
/// Blind eval items labeled by two or more experts needed for the equivalence test.
pub const MIN_SHARED: usize = 20;
/// Model vs one annotator on the eval split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnotatorAgreement {
    pub annotator: String,
    #[serde(flatten)]
    pub agreement: Agreement,
}

/// How the eval split's labels in force were given: with the model's suggestion visible,
/// blind, or not recorded (labels imported without `--blind`, or given before hifi recorded it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Blindness {
    /// Labels in force on eval items (every annotator's).
    pub eval_labels: usize,
    /// Of those, given with the suggestion visible.
    pub seen: usize,
    /// Of those, of unknown visibility (counted as blind).
    pub unknown: usize,
    /// Eval items left out of every κ here and of the stop rule: one of their labels was given
    /// with the suggestion visible.
    #[serde(default)]
    pub items_left_out: usize,
}

/// What one round measured (stored as the round's `scores` JSON). Fields added later carry
/// `#[serde(default)]`: rounds stored before them still parse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundScores {
    pub model: i64,
    pub model_kind: String,
    /// Eval items with a resolved label, both strata.
    pub eval_size: usize,
    /// Eval items per resolved label.
    pub eval_balance: BTreeMap<String, usize>,
    pub train_size: usize,
    /// Boundary eval items the model has no prediction for (left out of every number).
    pub unpredicted: usize,
    /// The headline: model vs resolved expert labels on the boundary (non-audit) eval items
    /// (`kappa` is what the dashboard plots).
    pub kappa: Option<f64>,
    pub model_vs_expert: Agreement,
    pub macro_f1: Option<f64>,
    /// Prevalence- and bias-adjusted kappa of the same comparison.
    pub pabak: Option<f64>,
    /// The model vs each annotator on eval items (both strata).
    pub per_annotator: Vec<AnnotatorAgreement>,
    /// Mean of the per-annotator kappas.
    pub annotator_mean_kappa: Option<f64>,
    /// Light's kappa over items two or more experts labeled (any split).
    pub expert_vs_expert: Agreement,
    /// How many eval labels were not blind.
    #[serde(default)]
    pub blind: Blindness,
    /// The audit stratum (uniform random draws from the pool), scored apart; `None` without
    /// labeled audit items.
    #[serde(default)]
    pub audit: Option<AuditScores>,
    pub seed: u64,
    /// The label-set version the model scored (every κ here is within it); `None` in rounds
    /// recorded before hifi kept label-set versions (`hifi report` finds it from the model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_set: Option<i64>,
}

/// The model's top label per item, in the project's label order (items whose predicted label
/// is not a project label are left out).
pub(crate) fn top_labels(
    store: &Store,
    model: i64,
    idx: &HashMap<&str, usize>,
) -> Result<HashMap<i64, usize>> {
    let rec = store
        .model(model)?
        .ok_or_else(|| crate::error::Error::Input(format!("no model {model} in the store")))?;
    Ok(store
        .predictions(model)?
        .into_iter()
        .filter_map(|p| {
            let (t, _) = p.top();
            Some((p.item, *idx.get(rec.labels.get(t)?.as_str())?))
        })
        .collect())
}

/// Score `model`'s predictions against the experts (see the module docs). `labels` is the
/// label set in force; a model scored under another one (stale predictions) gets no model κ,
/// only the reason, since its labels do not mean today's.
pub fn score_model(store: &Store, model: i64, labels: &[String], seed: u64) -> Result<RoundScores> {
    let rec = store
        .model(model)?
        .ok_or_else(|| crate::error::Error::Input(format!("no model {model} in the store")))?;
    let k = labels.len();
    let idx: HashMap<&str, usize> =
        labels.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
    let stale = store.stale_reason(&rec, labels)?;
    let top = match stale {
        Some(_) => HashMap::new(),
        None => top_labels(store, model, &idx)?,
    };
    let strata = store.split_strata()?;
    let (resolved, _) = store.resolved_labels()?;
    // Eval κ is on blind labels: an item with a label given while the model's suggestion was
    // on screen is left out (and counted); unknown visibility counts as blind.
    let mut blind = Blindness::default();
    let mut seen_items = std::collections::HashSet::new();
    for (item, _, _, seen) in store.current_labels_seen()? {
        if matches!(strata.get(&item), Some((Split::Eval, _))) {
            blind.eval_labels += 1;
            match seen {
                Some(true) => {
                    blind.seen += 1;
                    seen_items.insert(item);
                }
                Some(false) => {}
                None => blind.unknown += 1,
            }
        }
    }
    blind.items_left_out = seen_items.len();
    let (mut gold, mut pred) = (Vec::new(), Vec::new());
    let (mut audit_gold, mut audit_pred) = (Vec::new(), Vec::new());
    let mut eval_balance: BTreeMap<String, usize> = labels.iter().map(|l| (l.clone(), 0)).collect();
    let (mut eval_size, mut train_size, mut unpredicted) = (0, 0, 0);
    for (item, label) in &resolved {
        let Some(&g) = idx.get(label.as_str()) else { continue };
        match strata.get(item) {
            Some((Split::Eval, audit)) => {
                eval_size += 1;
                *eval_balance.entry(label.clone()).or_default() += 1;
                if seen_items.contains(item) {
                    continue;
                }
                if *audit {
                    audit_gold.push(g);
                    audit_pred.push(top.get(item).copied());
                    continue;
                }
                match top.get(item) {
                    Some(&p) => {
                        gold.push(g);
                        pred.push(p);
                    }
                    None => unpredicted += 1,
                }
            }
            Some((Split::Train, _)) => train_size += 1,
            None => {}
        }
    }
    let model_vs_expert = Agreement::of(
        cohen_kappa(&gold, &pred, k),
        gold.len(),
        metrics::cohen_kappa_ci(&gold, &pred, k, REPS, 0.95, seed),
    );
    let macro_f1 = metrics::macro_f1_checked(&gold, &pred, k);
    let pabak = metrics::pabak(&gold, &pred, k).value();
    let audit =
        (!audit_gold.is_empty()).then(|| AuditScores::of(&audit_gold, &audit_pred, labels, seed));

    // Per annotator, on blind eval items.
    let is_eval =
        |i: &i64| matches!(strata.get(i), Some((Split::Eval, _))) && !seen_items.contains(i);
    let by_annotator = labels_by_annotator(store, &idx)?;
    let mut per_annotator = Vec::new();
    for (who, items) in &by_annotator {
        let (a, m): (Vec<usize>, Vec<usize>) = items
            .iter()
            .filter(|(i, _)| is_eval(i))
            .filter_map(|(i, l)| Some((*l, *top.get(i)?)))
            .unzip();
        if a.is_empty() {
            continue;
        }
        let ci = metrics::cohen_kappa_ci(&a, &m, k, REPS, 0.95, seed);
        per_annotator.push(AnnotatorAgreement {
            annotator: who.clone(),
            agreement: Agreement::of(cohen_kappa(&a, &m, k), a.len(), ci),
        });
    }
    let defined: Vec<f64> = per_annotator.iter().filter_map(|a| a.agreement.kappa).collect();
    let annotator_mean_kappa =
        (!defined.is_empty()).then(|| defined.iter().sum::<f64>() / defined.len() as f64);

    let shared = shared_rows(&by_annotator);
    let expert_vs_expert = expert_agreement(&shared, k, seed);
    let label_set = match store.label_set()? {
        Some(v) if v.names() == rec.labels => Some(v.version),
        _ => store.label_set_of(&rec.labels)?,
    };
    if let Some(why) = stale {
        // Nothing of the model's is comparable: say why instead of a κ on no items.
        let none = Agreement {
            undefined: Some(format!("{why}: run `hifi prelabel`")),
            ..Agreement::default()
        };
        return Ok(RoundScores {
            model,
            model_kind: rec.kind,
            eval_size,
            eval_balance,
            train_size,
            unpredicted: 0,
            kappa: None,
            model_vs_expert: none,
            macro_f1: None,
            pabak: None,
            per_annotator: Vec::new(),
            annotator_mean_kappa: None,
            expert_vs_expert,
            blind,
            audit: None,
            seed,
            label_set,
        });
    }
    Ok(RoundScores {
        model,
        model_kind: rec.kind,
        eval_size,
        eval_balance,
        train_size,
        unpredicted,
        kappa: model_vs_expert.kappa,
        model_vs_expert,
        macro_f1,
        pabak,
        per_annotator,
        annotator_mean_kappa,
        expert_vs_expert,
        blind,
        audit,
        seed,
        label_set,
    })
}

/// Each annotator's labels in force, as (item, label index); labels outside `idx` are skipped.
fn labels_by_annotator(
    store: &Store,
    idx: &HashMap<&str, usize>,
) -> Result<BTreeMap<String, Vec<(i64, usize)>>> {
    let mut by_annotator: BTreeMap<String, Vec<(i64, usize)>> = BTreeMap::new();
    for (item, who, label) in store.current_labels()? {
        if let Some(&l) = idx.get(label.as_str()) {
            by_annotator.entry(who).or_default().push((item, l));
        }
    }
    Ok(by_annotator)
}

/// Items two or more annotators labeled: one row per item, one column per annotator.
fn shared_rows(by_annotator: &BTreeMap<String, Vec<(i64, usize)>>) -> Vec<Vec<Option<usize>>> {
    let mut per_item: BTreeMap<i64, Vec<Option<usize>>> = BTreeMap::new();
    for (r, items) in by_annotator.values().enumerate() {
        for (item, l) in items {
            per_item.entry(*item).or_insert_with(|| vec![None; by_annotator.len()])[r] = Some(*l);
        }
    }
    per_item.into_values().filter(|v| v.iter().flatten().count() >= 2).collect()
}

/// Expert-vs-expert agreement over the whole project, with or without a model.
pub fn project_expert_agreement(store: &Store, labels: &[String], seed: u64) -> Result<Agreement> {
    let idx: HashMap<&str, usize> =
        labels.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
    Ok(expert_agreement(&shared_rows(&labels_by_annotator(store, &idx)?), labels.len(), seed))
}

/// Light's kappa over `shared[item][annotator]`, with a bootstrap over items.
pub fn expert_agreement(shared: &[Vec<Option<usize>>], k: usize, seed: u64) -> Agreement {
    let kappa = light(shared, k);
    let ci = bootstrap_ci(shared.len(), |ix| light_of(shared, ix, k).value(), REPS, 0.95, seed);
    Agreement::of(kappa, shared.len(), ci)
}

fn light(shared: &[Vec<Option<usize>>], k: usize) -> Kappa {
    let all: Vec<usize> = (0..shared.len()).collect();
    light_of(shared, &all, k)
}

/// Light's kappa on the items `ix` of `shared` (rows: items; transposed for `light_kappa`).
fn light_of(shared: &[Vec<Option<usize>>], ix: &[usize], k: usize) -> Kappa {
    let raters = shared.first().map_or(0, Vec::len);
    let cols: Vec<Vec<Option<usize>>> =
        (0..raters).map(|r| ix.iter().map(|&i| shared[i][r]).collect()).collect();
    light_kappa(&cols, k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_stored_before_blind_and_audit_scores_still_parse() {
        // A round as hifi stored it before the audit stratum and blind counts (with the old
        // two-sample comparison, now gone).
        let old = serde_json::json!({
            "model": 3, "model_kind": "probe", "eval_size": 100, "eval_balance": {"a": 60, "b": 40}, "train_size": 200,
            "unpredicted": 0, "kappa": 0.6, "model_vs_expert": {"n": 100, "kappa": 0.6, "kappa_ci": [0.5, 0.7]},
            "macro_f1": 0.8, "pabak": 0.7, "per_annotator": [], "annotator_mean_kappa": null,
            "expert_vs_expert": {"n": 40, "kappa": 0.8, "kappa_ci": [0.7, 0.9]},
            "vs_experts": {"gap": 0.2, "gap_ci": [0.1, 0.3], "indistinguishable": false}, "seed": 0
        });
        let s: RoundScores = serde_json::from_value(old).unwrap();
        assert_eq!((s.kappa, &s.blind, &s.audit), (Some(0.6), &Blindness::default(), &None));
        let back: RoundScores = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
}
