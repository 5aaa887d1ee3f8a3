//! Reads the store into the views the screens show. Runs on the worker thread, never on the
//! UI thread.

use std::collections::{BTreeMap, HashMap};

use super::app::{Conflict, DashboardData, EntryView, ItemView};
use crate::config::Config;
use crate::error::Result;
use crate::metrics::{cohen_kappa, Kappa};
use crate::store::{QueueEntry, Split, Store};

fn item_view(store: &Store, key: i64, annotator: &str) -> Result<ItemView> {
    let item = store.item(key)?;
    let (id, text) = item.map(|i| (i.id, i.text)).unwrap_or_else(|| (format!("#{key}"), "(item missing)".into()));
    let (probs, model_labels) = match store.latest_prediction(key)? {
        Some((m, p)) => (Some(p.probs), m.labels),
        None => (None, Vec::new()),
    };
    Ok(ItemView { key, id, text, probs, model_labels, mine: store.current_label(key, annotator)? })
}

/// Claim the annotator's next entry and load it; also the progress counts.
pub fn next_entry(store: &mut Store, annotator: &str) -> Result<(Option<EntryView>, i64, i64)> {
    let entry: Option<QueueEntry> = store.claim_next(annotator)?;
    let view = match entry {
        Some(e) => {
            let a = item_view(store, e.item_a, annotator)?;
            let b = e.item_b.map(|k| item_view(store, k, annotator)).transpose()?;
            Some(EntryView { entry: e, a, b })
        }
        None => None,
    };
    let (done, total) = store.queue_progress(annotator)?;
    Ok((view, done, total))
}

pub fn conflicts(store: &Store) -> Result<Vec<Conflict>> {
    let (_, items) = store.resolved_labels()?;
    let all = store.current_labels()?;
    let mut by_item: HashMap<i64, Vec<(String, String)>> = HashMap::new();
    for (item, who, label) in all {
        by_item.entry(item).or_default().push((who, label));
    }
    let mut out = Vec::new();
    for key in items {
        let Some(it) = store.item(key)? else { continue };
        out.push(Conflict { item: key, id: it.id, text: it.text, labels: by_item.remove(&key).unwrap_or_default() });
    }
    Ok(out)
}

fn fmt_kappa(k: &Kappa, n: usize) -> Option<(String, usize)> {
    (n > 0).then(|| (k.to_string(), n))
}

pub fn dashboard(store: &mut Store, cfg: &Config) -> Result<DashboardData> {
    store.assign_splits(cfg.split.eval_fraction)?;
    let labels = cfg.label_names();
    let idx = |l: &str| labels.iter().position(|x| x == l);
    let current = store.current_labels()?;
    let mut per: BTreeMap<String, i64> = BTreeMap::new();
    let mut by_annotator: BTreeMap<String, HashMap<i64, usize>> = BTreeMap::new();
    for (item, who, label) in &current {
        *per.entry(who.clone()).or_default() += 1;
        if let Some(i) = idx(label) {
            by_annotator.entry(who.clone()).or_default().insert(*item, i);
        }
    }
    // Expert vs expert: mean pairwise Cohen's kappa over items both labeled (Light's kappa).
    let names: Vec<&String> = by_annotator.keys().collect();
    let (mut ks, mut n_shared) = (Vec::new(), 0usize);
    for i in 0..names.len() {
        for j in i + 1..names.len() {
            let (a, b) = (&by_annotator[names[i]], &by_annotator[names[j]]);
            let (mut xa, mut xb) = (Vec::new(), Vec::new());
            for (item, la) in a {
                if let Some(lb) = b.get(item) {
                    xa.push(*la);
                    xb.push(*lb);
                }
            }
            n_shared += xa.len();
            if let Kappa::Value(v) = cohen_kappa(&xa, &xb, labels.len()) {
                ks.push(v);
            }
        }
    }
    let expert_kappa = if ks.is_empty() { None } else { fmt_kappa(&Kappa::Value(ks.iter().sum::<f64>() / ks.len() as f64), n_shared) };
    // Eval split balance and the newest model against resolved labels on eval.
    let (resolved, _) = store.resolved_labels()?;
    let splits = store.splits()?;
    let mut balance = vec![0i64; labels.len()];
    let mut train = 0;
    let mut eval_items = Vec::new();
    for (item, label) in &resolved {
        match (splits.get(item), idx(label)) {
            (Some(Split::Eval), Some(i)) => {
                balance[i] += 1;
                eval_items.push((*item, i));
            }
            (Some(Split::Train), _) => train += 1,
            _ => {}
        }
    }
    let mut model_kappa = None;
    if let Some(m) = store.latest_model()? {
        let preds: HashMap<i64, Vec<f64>> = store.predictions(m.id)?.into_iter().map(|p| (p.item, p.probs)).collect();
        let (mut gold, mut pred) = (Vec::new(), Vec::new());
        for (item, g) in &eval_items {
            if let Some(p) = preds.get(item) {
                let top = p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |x| x.0);
                if let Some(i) = m.labels.get(top).and_then(|l| idx(l)) {
                    gold.push(*g);
                    pred.push(i);
                }
            }
        }
        model_kappa = fmt_kappa(&cohen_kappa(&gold, &pred, labels.len()), gold.len());
    }
    let round_rows = store.rounds()?;
    let rounds = round_rows.iter().filter_map(|r| Some((r.id as f64, r.scores.as_ref()?["kappa"].as_f64()?))).collect();
    let verdict = (!round_rows.is_empty()).then(|| {
        let v = crate::rounds::verdict(&round_rows);
        format!("verdict: {}{}", v.decision, v.rule.map(|r| format!(" ({r})")).unwrap_or_default())
    });
    let mut simulation: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    let sim = store.setting(crate::rounds::SIMULATION_KEY)?.and_then(|s| serde_json::from_str::<crate::rounds::SimReport>(&s).ok());
    for r in sim.iter().flat_map(|s| &s.results) {
        let Some(k) = r.kappa else { continue };
        match simulation.iter_mut().find(|(name, _)| *name == r.strategy) {
            Some((_, pts)) => pts.push((r.budget as f64, k)),
            None => simulation.push((r.strategy.clone(), vec![(r.budget as f64, k)])),
        }
    }
    Ok(DashboardData {
        per_annotator: per.into_iter().collect(),
        eval_balance: labels.iter().cloned().zip(balance).collect(),
        train_size: train,
        expert_kappa,
        model_kappa,
        rounds,
        verdict,
        simulation,
    })
}
