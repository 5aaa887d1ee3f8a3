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
//!
//! Multi-label projects ([`score_model_multi`]) score each label's "applies" the same way, and
//! report the means over the labels in the single-label fields, beside each label's numbers
//! and Krippendorff's α with MASI distance over whole label sets.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::agreement::{Agreement, REPS};
use super::audit::{wilson, AuditScores, Prevalence};
use crate::config::Config;
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
    /// Multi-label projects: each label's agreement, by label name. `kappa`,
    /// `model_vs_expert` and `expert_vs_expert` are then the means over the labels (see
    /// [`score_model_multi`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_label: Option<BTreeMap<String, LabelScores>>,
    /// Multi-label projects: Krippendorff's α with MASI distance over whole label sets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha_masi: Option<ItemAlpha>,
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
            per_label: None,
            alpha_masi: None,
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
        per_label: None,
        alpha_masi: None,
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

// ---------------------------------------------------------------------------------------------
// Multi-label projects.

/// One label's agreement in a multi-label project: "applies or not", scored like a binary task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LabelScores {
    /// The probability at or above which the model says the label applies.
    pub threshold: f64,
    /// Cohen's κ of the model's "applies" against the resolved expert set's on the boundary
    /// eval items, with a 95% bootstrap interval.
    pub model_vs_expert: Agreement,
    /// Light's κ of "applies" over items two or more experts labeled.
    pub expert_vs_expert: Agreement,
    /// Of the scored eval items, those the experts say it applies to.
    pub experts_apply: usize,
    /// Of the scored eval items, those the model says it applies to.
    pub model_applies: usize,
}

/// Item-level agreement on whole label sets: Krippendorff's α with MASI distance. The
/// `kappa` field of each [`Agreement`] holds α.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemAlpha {
    /// The model's set against the resolved expert set on the boundary eval items.
    pub model_vs_expert: Agreement,
    /// Every expert's set on items two or more experts labeled (each expert a coder).
    pub expert_vs_expert: Agreement,
}

/// What [`score_sets`] measures: per label, their means, and α over whole sets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetScores {
    pub per_label: BTreeMap<String, LabelScores>,
    /// Mean over the labels of the model's κ (labels whose κ is undefined are left out), with
    /// a bootstrap over items of the mean.
    pub model_mean: Agreement,
    /// Mean over the labels of the experts' Light's κ, with a bootstrap over items of the mean.
    pub expert_mean: Agreement,
    pub alpha: ItemAlpha,
    /// Mean over the labels of the F1 of "applies" (labels neither side ever applies are left
    /// out).
    pub macro_f1: Option<f64>,
}

/// Flags of one label as binary categories (1: applies).
fn column(sets: &[Vec<bool>], l: usize) -> Vec<usize> {
    sets.iter().map(|s| usize::from(s.get(l).copied().unwrap_or(false))).collect()
}

/// A set of flags as the names that apply, in label order.
fn names_of(flags: &[bool], labels: &[String]) -> Vec<String> {
    labels.iter().zip(flags).filter(|(_, &f)| f).map(|(n, _)| n.clone()).collect()
}

/// The mean over labels of Cohen's κ of `a` against `b` (flags per item) on the items `ix`;
/// labels whose κ is undefined there are left out, `None` when every label's is.
fn mean_kappa_on(a: &[Vec<bool>], b: &[Vec<bool>], labels: usize, ix: &[usize]) -> Option<f64> {
    let (mut sum, mut n) = (0.0, 0usize);
    let (mut x, mut y) = (Vec::with_capacity(ix.len()), Vec::with_capacity(ix.len()));
    for l in 0..labels {
        x.clear();
        y.clear();
        for &i in ix {
            x.push(usize::from(a[i].get(l).copied().unwrap_or(false)));
            y.push(usize::from(b[i].get(l).copied().unwrap_or(false)));
        }
        if let Some(k) = cohen_kappa(&x, &y, 2).value() {
            sum += k;
            n += 1;
        }
    }
    (n > 0).then(|| sum / n as f64)
}

/// The mean over labels of Cohen's κ of `a` against `b`, with a 95% bootstrap over items.
pub fn mean_label_agreement(
    a: &[Vec<bool>],
    b: &[Vec<bool>],
    labels: usize,
    seed: u64,
) -> Agreement {
    let n = a.len().min(b.len());
    let all: Vec<usize> = (0..n).collect();
    match mean_kappa_on(a, b, labels, &all) {
        Some(k) => {
            let ci = bootstrap_ci(n, |ix| mean_kappa_on(a, b, labels, ix), REPS, 0.95, seed);
            Agreement::of(Kappa::Value(k), n, ci)
        }
        None => Agreement::of(
            Kappa::Undefined {
                reason: if n == 0 {
                    "no items"
                } else {
                    "every label's κ is undefined (one answer everywhere)"
                },
            },
            n,
            None,
        ),
    }
}

/// The shared rows of one label: per item, each expert's "applies" (1) or not (0).
fn shared_column(shared: &[Vec<Option<Vec<bool>>>], l: usize) -> Vec<Vec<Option<usize>>> {
    shared
        .iter()
        .map(|row| {
            row.iter()
                .map(|c| c.as_ref().map(|f| usize::from(f.get(l).copied().unwrap_or(false))))
                .collect()
        })
        .collect()
}

/// The mean over labels of Light's κ on the shared rows `ix`, labels whose κ is undefined left
/// out.
fn mean_light_on(columns: &[Vec<Vec<Option<usize>>>], ix: &[usize]) -> Option<f64> {
    let ks: Vec<f64> = columns.iter().filter_map(|c| light_of(c, ix, 2).value()).collect();
    (!ks.is_empty()).then(|| ks.iter().sum::<f64>() / ks.len() as f64)
}

/// Per-label and item-level agreement of a multi-label model with the experts, on plain data
/// (the store's rounds and `hifi simulate` both call it).
///
/// `gold[i]` and `pred[i]`: the resolved expert set and the model's set of scored item `i`, as
/// one flag per label in `labels`' order (the model's from
/// [`crate::multilabel::applies`]); `shared[item][expert]`: items two or more experts labeled,
/// each expert's set or `None`. `thresholds`: each label's threshold (reported only). Every
/// interval is a seeded 95% percentile bootstrap over items.
pub fn score_sets(
    labels: &[String],
    thresholds: &[f64],
    gold: &[Vec<bool>],
    pred: &[Vec<bool>],
    shared: &[Vec<Option<Vec<bool>>>],
    seed: u64,
) -> SetScores {
    let nl = labels.len();
    let n = gold.len().min(pred.len());
    let (gold, pred) = (&gold[..n], &pred[..n]);
    let columns: Vec<Vec<Vec<Option<usize>>>> = (0..nl).map(|l| shared_column(shared, l)).collect();
    let mut per_label = BTreeMap::new();
    let mut f1s = Vec::new();
    for (l, name) in labels.iter().enumerate() {
        let (g, p) = (column(gold, l), column(pred, l));
        let model_vs_expert = Agreement::of(
            cohen_kappa(&g, &p, 2),
            n,
            metrics::cohen_kappa_ci(&g, &p, 2, REPS, 0.95, seed),
        );
        let tp = g.iter().zip(&p).filter(|(a, b)| **a == 1 && **b == 1).count();
        let wrong = g.iter().zip(&p).filter(|(a, b)| a != b).count();
        if 2 * tp + wrong > 0 {
            f1s.push(2.0 * tp as f64 / (2 * tp + wrong) as f64);
        }
        per_label.insert(
            name.clone(),
            LabelScores {
                threshold: thresholds
                    .get(l)
                    .copied()
                    .unwrap_or(crate::multilabel::DEFAULT_THRESHOLD),
                model_vs_expert,
                expert_vs_expert: expert_agreement(&columns[l], 2, seed),
                experts_apply: g.iter().sum(),
                model_applies: p.iter().sum(),
            },
        );
    }
    let model_mean = mean_label_agreement(gold, pred, nl, seed);
    let all: Vec<usize> = (0..shared.len()).collect();
    let expert_mean = match mean_light_on(&columns, &all) {
        Some(k) => Agreement::of(
            Kappa::Value(k),
            shared.len(),
            bootstrap_ci(shared.len(), |ix| mean_light_on(&columns, ix), REPS, 0.95, seed),
        ),
        None => Agreement::of(
            Kappa::Undefined {
                reason: if shared.is_empty() {
                    "no items two experts labeled"
                } else {
                    "every label's κ is undefined (one answer everywhere)"
                },
            },
            shared.len(),
            None,
        ),
    };
    let sets = |flags: &[Vec<bool>]| -> Vec<Option<Vec<String>>> {
        flags.iter().map(|f| Some(names_of(f, labels))).collect()
    };
    let alpha_of = |coders: &[Vec<Option<Vec<String>>>]| {
        let (a, ci, units) =
            metrics::krippendorff_alpha_with_ci(coders, metrics::alpha::masi, REPS, 0.95, seed);
        Agreement::of(a, units, ci)
    };
    let experts = shared.first().map_or(0, Vec::len);
    let expert_coders: Vec<Vec<Option<Vec<String>>>> = (0..experts)
        .map(|e| {
            shared
                .iter()
                .map(|row| row.get(e).cloned().flatten().map(|f| names_of(&f, labels)))
                .collect()
        })
        .collect();
    let alpha = ItemAlpha {
        model_vs_expert: alpha_of(&[sets(gold), sets(pred)]),
        expert_vs_expert: alpha_of(&expert_coders),
    };
    SetScores {
        per_label,
        model_mean,
        expert_mean,
        alpha,
        macro_f1: (!f1s.is_empty()).then(|| f1s.iter().sum::<f64>() / f1s.len() as f64),
    }
}

/// The model's "applies" flags per item, in the order of `labels` (which must be the model's:
/// the caller checks staleness first), at `thresholds`.
pub(crate) fn applies_by_item(
    store: &Store,
    model: i64,
    thresholds: &[f64],
) -> Result<HashMap<i64, Vec<bool>>> {
    Ok(store
        .predictions(model)?
        .into_iter()
        .map(|p| (p.item, crate::multilabel::applies(&p.probs, thresholds)))
        .collect())
}

/// A stored label set as one flag per label, `None` for a value that is not a set.
pub(crate) fn flags_of(stored: &str, labels: &[String]) -> Option<Vec<bool>> {
    crate::multilabel::decode(stored)?;
    Some(crate::multilabel::membership(stored, labels))
}

/// The audit stratum of a multi-label project: `kappa` is the mean over labels, accuracy the
/// share of items whose whole set the model got right, prevalence each label's share of the
/// audit items it applies to.
fn audit_sets(
    gold: &[Vec<bool>],
    pred: &[Option<Vec<bool>>],
    labels: &[String],
    seed: u64,
) -> AuditScores {
    let (g, p): (Vec<Vec<bool>>, Vec<Vec<bool>>) =
        gold.iter().zip(pred).filter_map(|(g, p)| Some((g.clone(), p.clone()?))).unzip();
    let right = g.iter().zip(&p).filter(|(a, b)| a == b).count();
    let prevalence = labels
        .iter()
        .enumerate()
        .map(|(l, name)| {
            let experts = gold.iter().filter(|f| f.get(l) == Some(&true)).count();
            Prevalence {
                label: name.clone(),
                experts,
                share: if gold.is_empty() { 0.0 } else { experts as f64 / gold.len() as f64 },
                share_ci: wilson(experts, gold.len()).unwrap_or([0.0, 1.0]),
                model_share: (!p.is_empty()).then(|| {
                    p.iter().filter(|f| f.get(l) == Some(&true)).count() as f64 / p.len() as f64
                }),
            }
        })
        .collect();
    AuditScores {
        n: gold.len(),
        unpredicted: gold.len() - g.len(),
        model_vs_expert: mean_label_agreement(&g, &p, labels.len(), seed),
        accuracy: (!g.is_empty()).then(|| right as f64 / g.len() as f64),
        accuracy_ci: wilson(right, g.len()),
        prevalence,
    }
}

/// Score a multi-label `model`'s predictions against the experts: [`score_model`]'s numbers
/// for label sets. The model's set of an item is the labels whose probability reaches their
/// threshold (`thresholds`, in `labels`' order: [`crate::multilabel::thresholds`]).
///
/// Per label, "applies" is scored like a binary task: the model against the resolved expert
/// sets on the blind boundary eval items (Cohen's κ), and the experts against each other on
/// items two or more of them labeled (Light's κ), each with a 95% bootstrap interval
/// (`per_label`). `kappa`, `model_vs_expert` and `expert_vs_expert` are the means over the
/// labels, their intervals a bootstrap over items of the mean; each annotator's κ is the mean
/// over labels too. `alpha_masi` is Krippendorff's α with MASI distance over whole sets.
/// `eval_balance` counts the eval items each label applies to; the audit stratum's
/// accuracy is exact-set agreement and its prevalence each label's share.
pub fn score_model_multi(
    store: &Store,
    model: i64,
    labels: &[String],
    thresholds: &[f64],
    seed: u64,
) -> Result<RoundScores> {
    let rec = store
        .model(model)?
        .ok_or_else(|| crate::error::Error::Input(format!("no model {model} in the store")))?;
    let nl = labels.len();
    let stale = store.stale_reason(&rec, labels)?;
    let flags = match stale {
        Some(_) => HashMap::new(),
        None => applies_by_item(store, model, thresholds)?,
    };
    let strata = store.split_strata()?;
    let (resolved, _) = store.resolved_labels()?;
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
        let Some(g) = flags_of(label, labels) else { continue };
        match strata.get(item) {
            Some((Split::Eval, audit)) => {
                eval_size += 1;
                for (name, _) in labels.iter().zip(&g).filter(|(_, &f)| f) {
                    *eval_balance.entry(name.clone()).or_default() += 1;
                }
                if seen_items.contains(item) {
                    continue;
                }
                if *audit {
                    audit_gold.push(g);
                    audit_pred.push(flags.get(item).cloned());
                    continue;
                }
                match flags.get(item) {
                    Some(p) => {
                        gold.push(g);
                        pred.push(p.clone());
                    }
                    None => unpredicted += 1,
                }
            }
            Some((Split::Train, _)) => train_size += 1,
            None => {}
        }
    }
    // Each annotator's sets, and the items two or more of them labeled.
    let mut by_annotator: BTreeMap<String, Vec<(i64, Vec<bool>)>> = BTreeMap::new();
    for (item, who, label) in store.current_labels()? {
        if let Some(f) = flags_of(&label, labels) {
            by_annotator.entry(who).or_default().push((item, f));
        }
    }
    let mut per_item: BTreeMap<i64, Vec<Option<Vec<bool>>>> = BTreeMap::new();
    for (r, items) in by_annotator.values().enumerate() {
        for (item, f) in items {
            per_item.entry(*item).or_insert_with(|| vec![None; by_annotator.len()])[r] =
                Some(f.clone());
        }
    }
    let shared: Vec<Vec<Option<Vec<bool>>>> =
        per_item.into_values().filter(|v| v.iter().flatten().count() >= 2).collect();
    let sets = score_sets(labels, thresholds, &gold, &pred, &shared, seed);
    let label_set = match store.label_set()? {
        Some(v) if v.names() == rec.labels => Some(v.version),
        _ => store.label_set_of(&rec.labels)?,
    };
    if let Some(why) = stale {
        let none = Agreement {
            undefined: Some(format!("{why}: run `hifi prelabel`")),
            ..Agreement::default()
        };
        let per_label = sets
            .per_label
            .into_iter()
            .map(|(name, s)| {
                let model_vs_expert = none.clone();
                (name, LabelScores { model_vs_expert, model_applies: 0, ..s })
            })
            .collect();
        return Ok(RoundScores {
            model,
            model_kind: rec.kind,
            eval_size,
            eval_balance,
            train_size,
            unpredicted: 0,
            kappa: None,
            model_vs_expert: none.clone(),
            macro_f1: None,
            pabak: None,
            per_annotator: Vec::new(),
            annotator_mean_kappa: None,
            expert_vs_expert: sets.expert_mean,
            blind,
            audit: None,
            seed,
            label_set,
            per_label: Some(per_label),
            alpha_masi: Some(ItemAlpha {
                model_vs_expert: none,
                expert_vs_expert: sets.alpha.expert_vs_expert,
            }),
        });
    }
    // Per annotator, on blind eval items: the mean over labels.
    let is_eval =
        |i: &i64| matches!(strata.get(i), Some((Split::Eval, _))) && !seen_items.contains(i);
    let mut per_annotator = Vec::new();
    for (who, items) in &by_annotator {
        let (a, m): (Vec<Vec<bool>>, Vec<Vec<bool>>) = items
            .iter()
            .filter(|(i, _)| is_eval(i))
            .filter_map(|(i, f)| Some((f.clone(), flags.get(i)?.clone())))
            .unzip();
        if a.is_empty() {
            continue;
        }
        per_annotator.push(AnnotatorAgreement {
            annotator: who.clone(),
            agreement: mean_label_agreement(&a, &m, nl, seed),
        });
    }
    let defined: Vec<f64> = per_annotator.iter().filter_map(|a| a.agreement.kappa).collect();
    let annotator_mean_kappa =
        (!defined.is_empty()).then(|| defined.iter().sum::<f64>() / defined.len() as f64);
    let audit =
        (!audit_gold.is_empty()).then(|| audit_sets(&audit_gold, &audit_pred, labels, seed));
    Ok(RoundScores {
        model,
        model_kind: rec.kind,
        eval_size,
        eval_balance,
        train_size,
        unpredicted,
        kappa: sets.model_mean.kappa,
        model_vs_expert: sets.model_mean,
        macro_f1: sets.macro_f1,
        pabak: None,
        per_annotator,
        annotator_mean_kappa,
        expert_vs_expert: sets.expert_mean,
        blind,
        audit,
        seed,
        label_set,
        per_label: Some(sets.per_label),
        alpha_masi: Some(sets.alpha),
    })
}

/// [`score_model`] or, in a multi-label project, [`score_model_multi`] at the configured
/// thresholds: the one call a round, the dashboard or a report needs.
pub fn score_model_for(store: &Store, cfg: &Config, model: i64, seed: u64) -> Result<RoundScores> {
    let labels = cfg.label_names();
    if cfg.multi_label {
        score_model_multi(store, model, &labels, &crate::multilabel::thresholds(cfg), seed)
    } else {
        score_model(store, model, &labels, seed)
    }
}

/// A multi-label round's per-label lines for `hifi round` and `hifi report` (none for a
/// single-label round): each label's κ model vs experts and expert vs expert, the mean, and α
/// (MASI) over whole sets. `labels` gives the order (the label set in force; labels of the
/// round missing from it follow in name order).
pub fn per_label_lines(s: &RoundScores, labels: &[String]) -> Vec<String> {
    let Some(per) = &s.per_label else { return Vec::new() };
    let inert = |t: &str| crate::text::inert(t, false);
    let mut order: Vec<&String> = labels.iter().filter(|l| per.contains_key(*l)).collect();
    order.extend(per.keys().filter(|k| !labels.contains(k)));
    let width = order.iter().map(|l| l.chars().count()).max().unwrap_or(0).clamp(4, 24);
    let mut out = vec![
        "  per label (κ of \"applies\"; the mean is the headline κ): model vs experts · expert vs expert · applies (experts/model)".to_string(),
    ];
    for name in order {
        let l = &per[name];
        out.push(format!(
            "    {:<width$} t {:.2}  κ {} · κ {} · {}/{}",
            inert(name),
            l.threshold,
            l.model_vs_expert.show(),
            l.expert_vs_expert.show(),
            l.experts_apply,
            l.model_applies
        ));
    }
    out.push(format!(
        "    {:<width$}         κ {} · κ {}",
        "mean",
        s.model_vs_expert.show(),
        s.expert_vs_expert.show()
    ));
    if let Some(a) = &s.alpha_masi {
        out.push(format!(
            "  item-level α (MASI): model vs experts {} · expert vs expert {}",
            a.model_vs_expert.show(),
            a.expert_vs_expert.show()
        ));
    }
    out
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
