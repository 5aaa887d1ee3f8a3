//! `hifi select limo` (docs/methods.md#limo): exactly N prompts that are hard for the model but
//! solvable, each with its best response, spread across clusters, with no near-duplicates.
//!
//! Difficulty comes from the model. With references and `samples > 0` it is the pass rate
//! over k samples: prompts the model always solves are dropped (too easy), prompts it never
//! solves are dropped (nothing shows they are solvable at its level), the rest rank by how
//! rarely it solves them. Otherwise it is the latest prelabeling's margin (p1 − p2, smallest
//! = hardest). Each prompt's responses (imported candidates, plus the model's own correct
//! samples) are scored with the LIMO rubric; the best correct one is kept. Prompts are then
//! drawn hardest first, the embedding clusters taking turns (every cluster is covered before
//! any gives a second prompt), refusing any whose hashed n-gram cosine to an already chosen
//! prompt reaches `dup_threshold`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;
use serde_json::json;

use super::hashed::{Features, Hasher};
use super::rubric::{self, Weights};
use super::{item_vectors, judged_samples, prompt_items, PromptItem, SamplingParams};
use crate::error::{Error, Result};
use crate::llm::{Engines, Models};
use crate::progress::{CancelToken, Progress};
use crate::store::{NewResponse, NewSelectionEntry, SelectionKind, Store};

#[derive(Debug, Clone, Serialize)]
pub struct LimoParams {
    /// Prompts in the set, exactly.
    pub size: usize,
    /// Sampling for the pass rate; `samples` 0: difficulty from the prelabeling margin.
    #[serde(flatten)]
    pub sampling: SamplingParams,
    /// A prompt must be solved at least this often (of `samples`) to count as solvable.
    pub min_passes: usize,
    pub responses_field: String,
    pub weights: Weights,
    /// Diversity clusters (default: √(n/2), at most `size`).
    pub clusters: Option<usize>,
    /// Hashed word n-gram cosine at or above which two prompts are near-duplicates.
    pub dup_threshold: f32,
    /// Consider at most this many prompts (sampling costs k generations each).
    pub limit: Option<usize>,
    pub embed_model: PathBuf,
}

/// Where difficulty came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Difficulty {
    PassRate,
    Margin,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Dropped {
    pub always_solved: usize,
    pub never_solved: usize,
    pub no_reference: usize,
    pub not_prelabeled: usize,
    pub no_response: usize,
    pub near_duplicate: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct LimoReport {
    pub selection: i64,
    pub difficulty: Difficulty,
    pub considered: usize,
    pub eligible: usize,
    pub size: usize,
    pub clusters: usize,
    /// Clusters with at least one chosen prompt.
    pub clusters_covered: usize,
    pub dropped: Dropped,
    pub mean_pass_rate: Option<f64>,
    pub seconds: f64,
}

/// One prompt that survived the difficulty filter.
struct Candidate<'a> {
    item: &'a PromptItem,
    difficulty: f64,
    passes: Option<usize>,
    /// (response, where it came from, rubric features)
    best: (String, String, rubric::Features),
    quality: f64,
    feats: Features,
    /// Its best responses, best first, up to `keep_candidates`: (response, origin, quality).
    kept: Vec<(String, String, f64)>,
}

pub fn run(
    store: &mut Store,
    params: &LimoParams,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<LimoReport> {
    let mut models = Engines::new(params.sampling.engine.clone()).embedder_note("load embedder");
    run_with(store, params, &mut models, progress, cancel)
}

/// [`run`] with the models from `models`: the sampling model (`sampling.model`) only for the
/// pass rate, the embedding model (`embed_model`) only when there are clusters to make.
pub fn run_with(
    store: &mut Store,
    params: &LimoParams,
    models: &mut dyn Models,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<LimoReport> {
    let started = Instant::now();
    if params.size == 0 {
        return Err(Error::Input("--size must be at least 1".into()));
    }
    let sp = &params.sampling;
    let items = prompt_items(store, &sp.reference_field, &params.responses_field, params.limit)?;
    if items.is_empty() {
        return Err(Error::Input(
            "no prompts outside the eval split: `hifi import` some first".into(),
        ));
    }
    let mut dropped = Dropped::default();
    let with_reference = items.iter().filter(|i| i.reference.is_some()).count();
    let difficulty = if sp.samples > 0 && with_reference > 0 {
        Difficulty::PassRate
    } else {
        Difficulty::Margin
    };
    if sp.samples > 0 && params.min_passes > sp.samples {
        return Err(Error::Input(format!(
            "--min-passes {} is more than --samples {}",
            params.min_passes, sp.samples
        )));
    }

    // (item, difficulty, passes, responses judged correct with their origin)
    #[allow(clippy::type_complexity)]
    let mut judged: Vec<(&PromptItem, f64, Option<usize>, Vec<(String, String)>)> = Vec::new();
    match difficulty {
        Difficulty::PassRate => {
            let model = models.generator(&sp.model, progress)?;
            let refd: Vec<&PromptItem> = items.iter().filter(|i| i.reference.is_some()).collect();
            dropped.no_reference = items.len() - refd.len();
            let samples = judged_samples(
                model,
                &refd,
                sp,
                sp.gen(sp.samples, sp.temperature),
                0,
                progress,
                cancel,
            )?;
            for (it, replies) in refd.into_iter().zip(samples) {
                let passes = replies.iter().filter(|r| r.1).count();
                if passes == replies.len() {
                    dropped.always_solved += 1;
                    continue;
                }
                if passes < params.min_passes.max(1) {
                    dropped.never_solved += 1;
                    continue;
                }
                let mut correct = Vec::new();
                for (i, r) in it.responses.iter().enumerate() {
                    if sp.reward.judge(&it.id, &it.text, r, it.reference.as_deref(), cancel)? {
                        correct.push((r.clone(), format!("candidate {i}")));
                    }
                }
                correct.extend(
                    replies
                        .into_iter()
                        .enumerate()
                        .filter(|(_, r)| r.1)
                        .map(|(j, r)| (r.0, format!("model sample {j}"))),
                );
                judged.push((it, 1.0 - passes as f64 / sp.samples as f64, Some(passes), correct));
            }
        }
        Difficulty::Margin => {
            let model = store.latest_model()?.ok_or_else(|| {
                Error::Input("no way to judge difficulty: give references (a `reference` field) and --samples K, or run `hifi prelabel` first".into())
            })?;
            let margins: HashMap<i64, f64> = store
                .predictions(model.id)?
                .into_iter()
                .map(|p| {
                    (
                        p.item,
                        f64::from(crate::curate::margin(
                            &p.probs.iter().map(|x| *x as f32).collect::<Vec<_>>(),
                        )),
                    )
                })
                .collect();
            for it in &items {
                let Some(m) = margins.get(&it.key) else {
                    dropped.not_prelabeled += 1;
                    continue;
                };
                let mut responses: Vec<(String, String)> = it
                    .responses
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (r.clone(), format!("candidate {i}")))
                    .collect();
                if responses.is_empty() {
                    if let Some(r) = &it.reference {
                        responses.push((r.clone(), "reference".into()));
                    }
                }
                judged.push((it, 1.0 - m, None, responses));
            }
        }
    }

    // Best response per prompt by the rubric, scaled over every response considered.
    let all_feats: Vec<rubric::Features> =
        judged.iter().flat_map(|j| j.3.iter().map(|r| rubric::features(&r.0))).collect();
    let all_scores = rubric::scores(&all_feats, &params.weights);
    let hasher = Hasher { bits: 18 };
    let mut cands: Vec<Candidate> = Vec::new();
    let mut at = 0;
    for (item, diff, passes, responses) in judged {
        let n = responses.len();
        let scores = &all_scores[at..at + n];
        let feats = &all_feats[at..at + n];
        at += n;
        let Some(best) = (0..n).max_by(|a, b| scores[*a].total_cmp(&scores[*b]).then(b.cmp(a)))
        else {
            dropped.no_response += 1;
            continue;
        };
        let (text, origin) = responses[best].clone();
        let mut ranked: Vec<usize> = (0..n).collect();
        ranked.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]).then(a.cmp(b)));
        let kept = ranked
            .into_iter()
            .take(sp.keep_candidates)
            .map(|i| (responses[i].0.clone(), responses[i].1.clone(), scores[i]))
            .collect();
        cands.push(Candidate {
            kept,
            item,
            difficulty: diff,
            passes,
            best: (text, origin, feats[best]),
            quality: scores[best],
            feats: hasher.features(&item.text),
        });
    }
    let eligible = cands.len();
    // Hardest first; among equals the better response, then the item order.
    cands.sort_by(|a, b| {
        b.difficulty
            .total_cmp(&a.difficulty)
            .then(b.quality.total_cmp(&a.quality))
            .then(a.item.key.cmp(&b.item.key))
    });

    // Diversity clusters over the candidates' embeddings.
    let k = params
        .clusters
        .unwrap_or_else(|| crate::curate::k_rule(eligible))
        .clamp(1, params.size.max(1))
        .min(eligible.max(1));
    let assign = if k > 1 {
        // The sampling model's engine embeds too when the embedding model is the same file.
        let mut embedder = models.embedder(&params.embed_model, 8, progress)?;
        let sha = store
            .file_sha256(&params.embed_model)
            .map_err(|e| Error::io(&params.embed_model, e))?;
        let keys: Vec<i64> = cands.iter().map(|c| c.item.key).collect();
        let (vecs, _) = item_vectors(store, &sha, &mut *embedder, &keys, progress, cancel)?;
        let dim = vecs.first().map_or(0, Vec::len);
        let flat: Vec<f32> = vecs.into_iter().flatten().collect();
        crate::curate::kmeans_assign(&flat, dim, k, sp.seed)
            .map_err(|e| Error::Input(format!("clustering failed: {e}")))?
    } else {
        vec![0; cands.len()]
    };

    // Clusters take turns, the one holding the hardest remaining prompt first each pass.
    let mut queues: Vec<std::collections::VecDeque<usize>> = vec![Default::default(); k];
    for (i, c) in assign.iter().enumerate() {
        queues[*c].push_back(i);
    }
    let mut chosen: Vec<usize> = Vec::with_capacity(params.size);
    'fill: while chosen.len() < params.size {
        let mut order: Vec<usize> = (0..k).filter(|c| !queues[*c].is_empty()).collect();
        if order.is_empty() {
            break;
        }
        order.sort_by_key(|c| queues[*c].front().copied());
        for c in order {
            while let Some(i) = queues[c].pop_front() {
                let dup = chosen.iter().any(|&j| {
                    sparse_cosine(&cands[i].feats, &cands[j].feats) >= params.dup_threshold
                });
                if dup {
                    dropped.near_duplicate += 1;
                    continue;
                }
                chosen.push(i);
                break;
            }
            if chosen.len() == params.size {
                break 'fill;
            }
        }
    }
    if chosen.len() < params.size {
        return Err(Error::Input(format!(
            "only {} prompts qualify, fewer than --size {}: {} considered; dropped {}",
            chosen.len(),
            params.size,
            items.len(),
            serde_json::to_string(&dropped).unwrap_or_default()
        )));
    }
    chosen.sort_unstable();
    let covered = chosen.iter().map(|i| assign[*i]).collect::<std::collections::HashSet<_>>().len();
    let entries: Vec<NewSelectionEntry> = chosen
        .iter()
        .map(|&i| {
            let c = &cands[i];
            NewSelectionEntry {
                item: c.item.key,
                response: Some(c.best.0.clone()),
                score: Some(c.difficulty),
                reasons: json!({
                    "difficulty": c.difficulty,
                    "difficulty_from": difficulty,
                    "passes": c.passes,
                    "samples": c.passes.map(|_| sp.samples),
                    "cluster": assign[i],
                    "quality": c.quality,
                    "rubric": c.best.2,
                    "response_from": c.best.1,
                }),
            }
        })
        .collect();
    let passes: Vec<f64> = chosen
        .iter()
        .filter_map(|i| cands[*i].passes)
        .map(|p| p as f64 / sp.samples.max(1) as f64)
        .collect();
    let mut report = LimoReport {
        selection: 0,
        difficulty,
        considered: items.len(),
        eligible,
        size: entries.len(),
        clusters: k,
        clusters_covered: covered,
        dropped,
        mean_pass_rate: (!passes.is_empty())
            .then(|| passes.iter().sum::<f64>() / passes.len() as f64),
        seconds: started.elapsed().as_secs_f64(),
    };
    let p = serde_json::to_value(params).unwrap_or_default();
    let r = serde_json::to_value(&report).unwrap_or_default();
    let candidates: Vec<(i64, NewResponse)> = chosen
        .iter()
        .flat_map(|&i| {
            let c = &cands[i];
            c.kept.iter().map(move |(text, from, quality)| {
                let origin = json!({"from": from, "quality": quality, "model": sp.model});
                (
                    c.item.key,
                    NewResponse { text: text.clone(), source: "limo".into(), origin: Some(origin) },
                )
            })
        })
        .collect();
    report.selection =
        store.save_selection_with_candidates(SelectionKind::Limo, &p, &r, &entries, &candidates)?;
    Ok(report)
}

/// Cosine of two sorted, L2-normalised sparse vectors.
fn sparse_cosine(a: &Features, b: &Features) -> f32 {
    let (mut i, mut j, mut s) = (0, 0, 0f32);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                s += a[i].1 * b[j].1;
                i += 1;
                j += 1;
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn sparse_cosine_of_a_text_with_itself_is_one() {
        let h = super::Hasher { bits: 16 };
        let a = h.features("what is 7 plus 5");
        let b = h.features("what is 7 plus 6");
        assert!((super::sparse_cosine(&a, &a) - 1.0).abs() < 1e-5);
        let ab = super::sparse_cosine(&a, &b);
        assert!(ab > 0.5 && ab < 1.0, "{ab}");
    }
}
