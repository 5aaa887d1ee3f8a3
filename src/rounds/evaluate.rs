//! A round's scores on the eval split, and the stopping verdict over rounds.
//!
//! Model vs expert: the model's top label against each item's resolved expert label (an
//! adjudication, else the annotators' shared label) on the eval split, with a seeded
//! bootstrap CI; also against each annotator separately, and their mean. Expert vs expert:
//! Light's kappa (mean pairwise Cohen) over every item two or more experts labeled.
//!
//! The verdict (METHODS.md §1.6): stop when model–expert agreement is statistically
//! indistinguishable from expert–expert agreement — a two-sample bootstrap of
//! κ_experts − κ_model whose 95% interval reaches 0 — or when κ_model has not improved on
//! the best earlier round for two rounds. Below [`MIN_EVAL`] eval items or [`MIN_SHARED`]
//! items labeled by two experts the data cannot say, and the verdict says so.

use std::collections::{BTreeMap, HashMap};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::metrics::bootstrap::quantile;
use crate::metrics::{self, bootstrap_ci, cohen_kappa, light_kappa, Kappa};
use crate::store::{RoundRow, Split, Store};

/// Eval items needed before the verdict compares model and experts.
pub const MIN_EVAL: usize = 40;
/// Items labeled by two or more experts needed for that comparison.
pub const MIN_SHARED: usize = 20;
/// Bootstrap replicates for every interval here.
pub const REPS: usize = 1000;

/// A kappa with its 95% bootstrap interval, or why it has none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    /// Items it was computed on.
    pub n: usize,
    pub kappa: Option<f64>,
    pub kappa_ci: Option<[f64; 2]>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub undefined: Option<String>,
}

impl Agreement {
    fn of(k: Kappa, n: usize, ci: Option<(f64, f64)>) -> Self {
        Self { n, kappa: k.value(), kappa_ci: ci.map(|(a, b)| [a, b]), undefined: k.reason().map(str::to_string) }
    }

    /// `0.612 [0.48, 0.73] (n=120)` or `undefined (why)`.
    pub fn show(&self) -> String {
        match (self.kappa, self.kappa_ci) {
            (Some(k), Some([lo, hi])) => format!("{k:.3} [{lo:.2}, {hi:.2}] (n={})", self.n),
            (Some(k), None) => format!("{k:.3} (n={})", self.n),
            _ => format!("undefined ({}; n={})", self.undefined.as_deref().unwrap_or("no items"), self.n),
        }
    }
}

/// Model vs one annotator on the eval split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnotatorAgreement {
    pub annotator: String,
    #[serde(flatten)]
    pub agreement: Agreement,
}

/// The bootstrap comparison of expert–expert and model–expert agreement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VsExperts {
    /// κ_experts − κ_model.
    pub gap: f64,
    pub gap_ci: [f64; 2],
    /// The interval reaches 0 (or the model is above the experts).
    pub indistinguishable: bool,
}

/// What one round measured (stored as the round's `scores` JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundScores {
    pub model: i64,
    pub model_kind: String,
    pub eval_size: usize,
    /// Eval items per resolved label.
    pub eval_balance: BTreeMap<String, usize>,
    pub train_size: usize,
    /// Eval items the model has no prediction for (left out of every number).
    pub unpredicted: usize,
    /// The headline: model vs resolved expert labels on eval (`kappa` is what the dashboard plots).
    pub kappa: Option<f64>,
    pub model_vs_expert: Agreement,
    pub macro_f1: Option<f64>,
    /// Prevalence- and bias-adjusted kappa of the same comparison.
    pub pabak: Option<f64>,
    pub per_annotator: Vec<AnnotatorAgreement>,
    /// Mean of the per-annotator kappas.
    pub annotator_mean_kappa: Option<f64>,
    /// Light's kappa over items two or more experts labeled (any split).
    pub expert_vs_expert: Agreement,
    pub vs_experts: Option<VsExperts>,
    pub seed: u64,
}

/// Score `model`'s predictions against the experts (see the module docs).
pub fn score_model(store: &Store, model: i64, labels: &[String], seed: u64) -> Result<RoundScores> {
    let rec = store.model(model)?.ok_or_else(|| crate::error::Error::Input(format!("no model {model} in the store")))?;
    let k = labels.len();
    let idx: HashMap<&str, usize> = labels.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
    // The model's top label, mapped into the project's label order.
    let top: HashMap<i64, usize> = store
        .predictions(model)?
        .into_iter()
        .filter_map(|p| {
            let (t, _) = p.top();
            Some((p.item, *idx.get(rec.labels.get(t)?.as_str())?))
        })
        .collect();
    let splits = store.splits()?;
    let (resolved, _) = store.resolved_labels()?;
    let (mut gold, mut pred) = (Vec::new(), Vec::new());
    let mut eval_balance: BTreeMap<String, usize> = labels.iter().map(|l| (l.clone(), 0)).collect();
    let (mut eval_size, mut train_size, mut unpredicted) = (0, 0, 0);
    for (item, label) in &resolved {
        let Some(&g) = idx.get(label.as_str()) else { continue };
        match splits.get(item) {
            Some(Split::Eval) => {
                eval_size += 1;
                *eval_balance.entry(label.clone()).or_default() += 1;
                match top.get(item) {
                    Some(&p) => {
                        gold.push(g);
                        pred.push(p);
                    }
                    None => unpredicted += 1,
                }
            }
            Some(Split::Train) => train_size += 1,
            None => {}
        }
    }
    let model_vs_expert = Agreement::of(cohen_kappa(&gold, &pred, k), gold.len(), metrics::cohen_kappa_ci(&gold, &pred, k, REPS, 0.95, seed));
    let macro_f1 = metrics::macro_f1_checked(&gold, &pred, k);
    let pabak = metrics::pabak(&gold, &pred, k).value();

    // Per annotator, on eval items.
    let by_annotator = labels_by_annotator(store, &idx)?;
    let mut per_annotator = Vec::new();
    for (who, items) in &by_annotator {
        let (a, m): (Vec<usize>, Vec<usize>) =
            items.iter().filter(|(i, _)| splits.get(i) == Some(&Split::Eval)).filter_map(|(i, l)| Some((*l, *top.get(i)?))).unzip();
        if a.is_empty() {
            continue;
        }
        let ci = metrics::cohen_kappa_ci(&a, &m, k, REPS, 0.95, seed);
        per_annotator.push(AnnotatorAgreement { annotator: who.clone(), agreement: Agreement::of(cohen_kappa(&a, &m, k), a.len(), ci) });
    }
    let defined: Vec<f64> = per_annotator.iter().filter_map(|a| a.agreement.kappa).collect();
    let annotator_mean_kappa = (!defined.is_empty()).then(|| defined.iter().sum::<f64>() / defined.len() as f64);

    let shared = shared_rows(&by_annotator);
    let expert_vs_expert = expert_agreement(&shared, k, seed);
    let vs_experts = compare(&gold, &pred, &shared, k, seed);
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
        vs_experts,
        seed,
    })
}

/// Each annotator's labels in force, as (item, label index); labels outside `idx` are skipped.
fn labels_by_annotator(store: &Store, idx: &HashMap<&str, usize>) -> Result<BTreeMap<String, Vec<(i64, usize)>>> {
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
    let idx: HashMap<&str, usize> = labels.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
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
    let cols: Vec<Vec<Option<usize>>> = (0..raters).map(|r| ix.iter().map(|&i| shared[i][r]).collect()).collect();
    light_kappa(&cols, k)
}

/// Two-sample bootstrap of κ_experts − κ_model; `None` below the minimum sizes.
fn compare(gold: &[usize], pred: &[usize], shared: &[Vec<Option<usize>>], k: usize, seed: u64) -> Option<VsExperts> {
    if gold.len() < MIN_EVAL || shared.len() < MIN_SHARED {
        return None;
    }
    let gap = light(shared, k).value()? - cohen_kappa(gold, pred, k).value()?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6b61_7070_61);
    let mut gaps = Vec::with_capacity(REPS);
    let (mut g, mut p, mut ix) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..REPS {
        g.clear();
        p.clear();
        for _ in 0..gold.len() {
            let i = rng.gen_range(0..gold.len());
            g.push(gold[i]);
            p.push(pred[i]);
        }
        ix.clear();
        ix.extend((0..shared.len()).map(|_| rng.gen_range(0..shared.len())));
        if let (Some(e), Some(m)) = (light_of(shared, &ix, k).value(), cohen_kappa(&g, &p, k).value()) {
            gaps.push(e - m);
        }
    }
    if gaps.len() < REPS / 2 {
        return None;
    }
    gaps.sort_by(f64::total_cmp);
    let gap_ci = [quantile(&gaps, 0.025), quantile(&gaps, 0.975)];
    Some(VsExperts { gap, gap_ci, indistinguishable: gap_ci[0] <= 0.0 })
}

/// Whether to run another round, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// "stop", "continue" or "not-enough-data".
    pub decision: &'static str,
    /// For "stop": "reached-experts" or "no-improvement".
    pub rule: Option<&'static str>,
    pub message: String,
}

/// The verdict over `rounds` (oldest first; unfinished rounds are ignored).
pub fn verdict(rounds: &[RoundRow]) -> Verdict {
    let scored: Vec<(i64, RoundScores)> = rounds
        .iter()
        .filter_map(|r| Some((r.id, serde_json::from_value::<RoundScores>(r.scores.clone()?).ok()?)))
        .collect();
    let Some((last_id, last)) = scored.last() else {
        return Verdict { decision: "not-enough-data", rule: None, message: "no finished round yet: run `hifi round`".into() };
    };
    if let Some(v) = &last.vs_experts {
        if v.indistinguishable {
            return Verdict {
                decision: "stop",
                rule: Some("reached-experts"),
                message: format!(
                    "stop: round {last_id}'s model agrees with experts as well as experts agree with each other (κ gap {:.3}, 95% CI [{:.2}, {:.2}] includes 0)",
                    v.gap, v.gap_ci[0], v.gap_ci[1]
                ),
            };
        }
    }
    let kappas: Vec<(i64, f64)> = scored.iter().filter_map(|(id, s)| Some((*id, s.kappa?))).collect();
    if kappas.len() >= 3 {
        let n = kappas.len();
        let best_before = kappas[..n - 2].iter().map(|x| x.1).fold(f64::NEG_INFINITY, f64::max);
        if kappas[n - 2].1 <= best_before && kappas[n - 1].1 <= best_before {
            return Verdict {
                decision: "stop",
                rule: Some("no-improvement"),
                message: format!(
                    "stop: model–expert κ has not improved for two rounds (best {best_before:.3} before; rounds {} and {}: {:.3}, {:.3})",
                    kappas[n - 2].0,
                    kappas[n - 1].0,
                    kappas[n - 2].1,
                    kappas[n - 1].1
                ),
            };
        }
    }
    match &last.vs_experts {
        Some(v) => Verdict {
            decision: "continue",
            rule: None,
            message: format!(
                "continue: experts still agree more than the model does (κ gap {:.3}, 95% CI [{:.2}, {:.2}])",
                v.gap, v.gap_ci[0], v.gap_ci[1]
            ),
        },
        None => Verdict {
            decision: "not-enough-data",
            rule: None,
            message: format!(
                "not enough labels to compare model and experts: {} eval items with a prediction (need {MIN_EVAL}), {} items labeled by two experts (need {MIN_SHARED})",
                last.model_vs_expert.n, last.expert_vs_expert.n
            ),
        },
    }
}
