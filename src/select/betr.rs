//! `hifi select betr` (docs/methods.md#betr): keep the pool documents most like a set of target
//! examples. Embed every target example and a sample of the pool; each target example ranks
//! the sample by cosine similarity and a document scores its **best rank under any single
//! target**; the top `positive` share of the sample becomes the positive class of a cheap
//! hashed n-gram classifier, which then scores the whole pool without the LLM. The top `keep`
//! share of the pool is kept, with equal quotas per target set.
//!
//! The classifier is fitted on 80% of the sample and judged on the other 20%; the same fit
//! scores the pool, so the held-out figures describe the classifier that chose. The kept set's
//! similarity to the targets is measured only on embedded documents the classifier never saw.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;
use serde_json::json;

use super::hashed::{held_out, sigmoid, FitParams, Hasher, HeldOut, Logistic};
use super::{all_keys, item_vectors, shown};
use crate::error::{Error, Result};
use crate::io::records::read_records;
use crate::io::{Format, Problems};
use crate::llm::embed::{cosine, l2_normalised};
use crate::llm::{EngineOptions, Engines, Models};
use crate::progress::{CancelToken, Progress};
use crate::store::{NewSelectionEntry, SelectionKind, Store};

#[derive(Debug, Clone, Serialize)]
pub struct BetrParams {
    /// Target examples (CSV or JSONL).
    pub targets: PathBuf,
    pub text_field: String,
    /// Field naming each example's target set; absent → one set named after the file.
    pub set_field: String,
    /// Share of the pool to keep.
    pub keep: f64,
    /// Pool documents embedded and ranked (the whole pool when smaller).
    pub sample: usize,
    /// Share of the sample labelled positive for the classifier (the paper's top 10%).
    pub positive: f64,
    pub seed: u64,
    /// The embedding model (the project's `[embed]` model by default).
    pub model: PathBuf,
    #[serde(skip)]
    pub engine: EngineOptions,
}

/// One target set's figures.
#[derive(Debug, Clone, Serialize)]
pub struct SetReport {
    pub name: String,
    pub targets: usize,
    /// Sample documents labelled positive.
    pub positives: usize,
    pub held_out: HeldOut,
    pub kept: usize,
}

/// Mean best cosine to any target example.
#[derive(Debug, Clone, Serialize)]
pub struct Similarity {
    /// Embedded documents the classifier did not train on, which the comparison uses.
    pub measured_on: usize,
    pub kept_n: usize,
    pub kept_mean: Option<f64>,
    pub random_n: usize,
    pub random_mean: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BetrReport {
    pub selection: i64,
    pub pool: usize,
    pub sample: usize,
    pub embedded_now: usize,
    pub kept: usize,
    pub sets: Vec<SetReport>,
    pub similarity: Similarity,
    pub seconds: f64,
}

/// Target examples grouped by set, in file order of first appearance.
pub fn read_targets(
    path: &Path,
    text_field: &str,
    set_field: &str,
) -> Result<Vec<(String, Vec<String>)>> {
    let format = Format::from_path(path).ok_or_else(|| {
        Error::Input(format!("{}: unknown format; use .csv or .jsonl", shown(path)))
    })?;
    let default_set = path.file_stem().and_then(|s| s.to_str()).unwrap_or("targets").to_string();
    let mut problems = Problems::default();
    let mut sets: Vec<(String, Vec<String>)> = Vec::new();
    read_records(path, format, &mut problems, |rec, problems| {
        let text = match rec.fields.get(text_field) {
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(serde_json::Value::String(_)) => {
                return problems.push(path, rec.line, Some(text_field), "empty text")
            }
            Some(_) => return problems.push(path, rec.line, Some(text_field), "not a string"),
            None => return problems.push(path, rec.line, Some(text_field), "missing"),
        };
        let set = match rec.fields.get(set_field) {
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            None | Some(serde_json::Value::Null) => default_set.clone(),
            Some(_) => {
                return problems.push(path, rec.line, Some(set_field), "not a non-empty string")
            }
        };
        match sets.iter_mut().find(|s| s.0 == set) {
            Some(s) => s.1.push(text),
            None => sets.push((set, vec![text])),
        }
    })
    .map_err(|e| Error::io(path, e))?;
    if !problems.is_empty() {
        return Err(Error::Input(problems.to_string()));
    }
    if sets.is_empty() {
        return Err(Error::Input(format!("{}: no target examples", shown(path))));
    }
    Ok(sets)
}

/// Each document's best (smallest, 0-based) rank under any single target of `targets`,
/// with its best cosine as the tie-break (higher first).
pub fn best_ranks(docs: &[Vec<f32>], targets: &[Vec<f32>]) -> Vec<(usize, f32)> {
    let mut best = vec![(usize::MAX, f32::MIN); docs.len()];
    let mut order: Vec<(f32, usize)> = Vec::with_capacity(docs.len());
    for t in targets {
        order.clear();
        order.extend(docs.iter().enumerate().map(|(i, d)| (cosine(d, t), i)));
        order.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for (rank, (sim, i)) in order.iter().enumerate() {
            let b = &mut best[*i];
            b.0 = b.0.min(rank);
            b.1 = b.1.max(*sim);
        }
    }
    best
}

/// Indices of the top `share` of documents by best rank (ties broken by best cosine).
pub fn top_by_rank(best: &[(usize, f32)], share: f64) -> HashSet<usize> {
    let n = ((best.len() as f64 * share).ceil() as usize).clamp(1, best.len().max(1));
    let mut idx: Vec<usize> = (0..best.len()).collect();
    idx.sort_by(|a, b| {
        best[*a].0.cmp(&best[*b].0).then(best[*b].1.total_cmp(&best[*a].1)).then(a.cmp(b))
    });
    idx.into_iter().take(n).collect()
}

/// Run BETR on the project's pool and save the kept set.
pub fn run(
    store: &mut Store,
    params: &BetrParams,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<BetrReport> {
    run_with(store, params, &mut Engines::new(params.engine.clone()), progress, cancel)
}

/// [`run`] with the embedding model (`model`) from `models`.
pub fn run_with(
    store: &mut Store,
    params: &BetrParams,
    models: &mut dyn Models,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<BetrReport> {
    let started = Instant::now();
    for (what, v) in [("--keep", params.keep), ("--positive", params.positive)] {
        if !(v > 0.0 && v <= 1.0) {
            return Err(Error::Input(format!("{what} must be in (0, 1], got {v}")));
        }
    }
    let sets = read_targets(&params.targets, &params.text_field, &params.set_field)?;
    let keys = all_keys(store)?;
    if keys.is_empty() {
        return Err(Error::Input("the pool is empty: `hifi import` items first".into()));
    }
    let mut embedder = models.embedder(&params.model, 8, progress)?;
    let sha = store.file_sha256(&params.model).map_err(|e| Error::io(&params.model, e))?;

    progress.start("embed targets", sets.iter().map(|s| s.1.len() as u64).sum());
    let mut target_vecs: Vec<Vec<Vec<f32>>> = Vec::new();
    let mut done = 0u64;
    for (_, texts) in &sets {
        let mut vs = Vec::new();
        for chunk in texts.chunks(32) {
            if cancel.is_cancelled() {
                return Err(Error::Llm(crate::llm::LlmError::Cancelled));
            }
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            vs.extend(embedder.embed(&refs)?.into_iter().map(|e| l2_normalised(&e.vector)));
            done += chunk.len() as u64;
            progress.update(done, "");
        }
        target_vecs.push(vs);
    }
    progress.finish("");

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(params.seed);
    let mut sample: Vec<i64> = keys.clone();
    sample.shuffle(&mut rng);
    sample.truncate(params.sample.max(1));
    let (sample_vecs, embedded_now) =
        item_vectors(store, &sha, &mut *embedder, &sample, progress, cancel)?;

    // 80% of the sample trains each set's classifier, 20% judges it.
    let n_train = ((sample.len() as f64) * 0.8).round() as usize;
    let hasher = Hasher::default();
    let mut sample_feats = Vec::with_capacity(sample.len());
    for k in &sample {
        sample_feats.push(hasher.features(&store.item(*k)?.map(|i| i.text).unwrap_or_default()));
    }
    let mut classifiers = Vec::new();
    let mut reports = Vec::new();
    progress.start("classifiers", sets.len() as u64);
    for (s, (name, texts)) in sets.iter().enumerate() {
        let best = best_ranks(&sample_vecs, &target_vecs[s]);
        let pos = top_by_rank(&best, params.positive);
        let y: Vec<bool> = (0..sample.len()).map(|i| pos.contains(&i)).collect();
        let fit = FitParams { seed: params.seed, ..FitParams::default() };
        let model = Logistic::fit(&hasher, &sample_feats[..n_train], &y[..n_train], fit);
        let logits: Vec<f32> = sample_feats[n_train..].iter().map(|f| model.logit(f)).collect();
        reports.push(SetReport {
            name: name.clone(),
            targets: texts.len(),
            positives: pos.len(),
            held_out: held_out(&logits, &y[n_train..]),
            kept: 0,
        });
        classifiers.push(model);
        progress.update(s as u64 + 1, name);
    }
    progress.finish("");

    // Score the whole pool with every set's classifier.
    progress.start("score pool", keys.len() as u64);
    let mut scores: Vec<Vec<(f32, i64)>> = vec![Vec::with_capacity(keys.len()); sets.len()];
    let mut after = i64::MIN;
    let mut scored = 0u64;
    loop {
        if cancel.is_cancelled() {
            return Err(Error::Llm(crate::llm::LlmError::Cancelled));
        }
        let page = store.items_page(after, 5000)?;
        let Some(last) = page.last() else { break };
        after = last.key;
        for it in &page {
            let f = hasher.features(&it.text);
            for (s, c) in classifiers.iter().enumerate() {
                scores[s].push((c.logit(&f), it.key));
            }
        }
        scored += page.len() as u64;
        progress.update(scored, "");
    }
    progress.finish("");

    let total = ((keys.len() as f64 * params.keep).round() as usize).clamp(1, keys.len());
    let chosen = fill_quotas(&mut scores, total);
    let mut entries = Vec::with_capacity(chosen.len());
    let in_sample: std::collections::HashMap<i64, usize> =
        sample.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    for (set, key, logit, rank_in_set) in &chosen {
        reports[*set].kept += 1;
        entries.push(NewSelectionEntry {
            item: *key,
            response: None,
            score: Some(f64::from(sigmoid(*logit))),
            reasons: json!({
                "target_set": sets[*set].0,
                "classifier_p": sigmoid(*logit),
                "rank_in_set": rank_in_set,
                "in_sample": in_sample.contains_key(key),
            }),
        });
    }

    let similarity = similarity(
        store,
        &sha,
        &keys,
        &sample,
        &sample_vecs,
        n_train,
        &target_vecs,
        &chosen,
        params.seed,
    )?;
    let mut report = BetrReport {
        selection: 0,
        pool: keys.len(),
        sample: sample.len(),
        embedded_now,
        kept: entries.len(),
        sets: reports,
        similarity,
        seconds: 0.0,
    };
    report.seconds = started.elapsed().as_secs_f64();
    let p = serde_json::to_value(params).unwrap_or_default();
    let r = serde_json::to_value(&report).unwrap_or_default();
    report.selection = store.save_selection(SelectionKind::Betr, &p, &r, &entries)?;
    Ok(report)
}

/// Take `total` documents, the sets taking turns, each its best-scored document not yet
/// taken, so every set gets an equal quota (the first sets one more when it does not divide).
/// Returns (set, key, logit, rank within the set's ordering).
fn fill_quotas(scores: &mut [Vec<(f32, i64)>], total: usize) -> Vec<(usize, i64, f32, usize)> {
    for s in scores.iter_mut() {
        s.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    }
    let mut taken = HashSet::new();
    let mut next = vec![0usize; scores.len()];
    let mut out = Vec::with_capacity(total);
    while out.len() < total {
        let mut progressed = false;
        for (s, list) in scores.iter().enumerate() {
            if out.len() == total {
                break;
            }
            while next[s] < list.len() && taken.contains(&list[next[s]].1) {
                next[s] += 1;
            }
            if let Some((logit, key)) = list.get(next[s]) {
                taken.insert(*key);
                out.push((s, *key, *logit, next[s]));
                next[s] += 1;
                progressed = true;
            }
        }
        if !progressed {
            break;
        }
    }
    out
}

/// Kept vs a random set of the same size, on embedded documents the classifier did not see:
/// the held-out part of the sample and anything `hifi embed` stored outside the sample.
#[allow(clippy::too_many_arguments)]
fn similarity(
    store: &Store,
    sha: &str,
    keys: &[i64],
    sample: &[i64],
    sample_vecs: &[Vec<f32>],
    n_train: usize,
    targets: &[Vec<Vec<f32>>],
    chosen: &[(usize, i64, f32, usize)],
    seed: u64,
) -> Result<Similarity> {
    let all_targets: Vec<&Vec<f32>> = targets.iter().flatten().collect();
    let best = |v: &[f32]| all_targets.iter().map(|t| cosine(v, t)).fold(f32::MIN, f32::max);
    let mut unseen: BTreeMap<i64, f32> = BTreeMap::new();
    for (k, v) in sample.iter().zip(sample_vecs).skip(n_train) {
        unseen.insert(*k, best(v));
    }
    if let Some(set) = store.embedding_set_for(sha)? {
        let stored = crate::llm::embed::Vectors::open(store, Some(set))?;
        let trained: HashSet<i64> = sample[..n_train].iter().copied().collect();
        for (k, row) in &stored.rows {
            if !trained.contains(k) && !unseen.contains_key(k) {
                unseen.insert(*k, best(&stored.row(*row)));
            }
        }
    }
    let mean = |xs: Vec<f32>| {
        (!xs.is_empty()).then(|| xs.iter().map(|x| f64::from(*x)).sum::<f64>() / xs.len() as f64)
    };
    let kept: Vec<f32> = chosen.iter().filter_map(|c| unseen.get(&c.1).copied()).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let random: Vec<f32> = keys
        .choose_multiple(&mut rng, chosen.len())
        .filter_map(|k| unseen.get(k).copied())
        .collect();
    Ok(Similarity {
        measured_on: unseen.len(),
        kept_n: kept.len(),
        random_n: random.len(),
        kept_mean: mean(kept),
        random_mean: mean(random),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_rank_is_the_minimum_over_single_targets() {
        // Doc 0 is nearest target A, doc 2 nearest target B; doc 1 is second under both; doc 3
        // is last under A and ties doc 0 under B (ties go to the lower index).
        let docs = vec![vec![1.0, 0.0], vec![0.7, 0.7], vec![0.0, 1.0], vec![-1.0, 0.0]];
        let targets = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        let best = best_ranks(&docs, &targets);
        assert_eq!(best.iter().map(|b| b.0).collect::<Vec<_>>(), vec![0, 1, 0, 3]);
        let top = top_by_rank(&best, 0.5);
        assert_eq!(top, HashSet::from([0, 2]));
    }

    #[test]
    fn quotas_are_equal_and_nothing_is_taken_twice() {
        // Both sets like key 1 best; set 0 gets it, set 1 moves on.
        let mut scores =
            vec![vec![(3.0, 1), (2.0, 2), (1.0, 3)], vec![(5.0, 1), (4.0, 4), (0.5, 5)]];
        let got = fill_quotas(&mut scores, 4);
        let keys: Vec<i64> = got.iter().map(|c| c.1).collect();
        assert_eq!(keys, vec![1, 4, 2, 5]);
        assert_eq!(got.iter().filter(|c| c.0 == 0).count(), 2);
        // Asking for more than exists stops at what there is.
        assert_eq!(fill_quotas(&mut scores, 10).len(), 5);
    }
}
