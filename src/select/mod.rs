//! Set builders (docs/methods.md: LIMO, BETR, ReST-EM): `hifi select betr` (documents matched to target examples),
//! `hifi select limo` (a few hundred hard-but-solvable prompts with their best responses) and
//! `hifi self-train` (ReST-EM). Each saves its set in the store with the reasons for every
//! entry; experts veto entries in the workstation; `hifi export --selection` writes the set
//! with its provenance.

pub mod betr;
pub mod hashed;
pub mod limo;
pub mod reward;
pub mod rubric;
pub mod selftrain;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::llm::embed::{l2_normalised, Vectors};
use crate::llm::{Embed, Generate};
use crate::progress::{CancelToken, Progress};
use crate::store::Store;

/// L2-normalised vectors of `keys` from the embedding model `model_sha`: rows `hifi embed`
/// already stored are read, the rest are embedded now (and not stored: a selection's sample
/// is small and `hifi embed` owns the vector file).
pub(crate) fn item_vectors(
    store: &Store,
    model_sha: &str,
    embedder: &mut dyn Embed,
    keys: &[i64],
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<(Vec<Vec<f32>>, usize)> {
    let stored = match store.embedding_set_for(model_sha)? {
        Some(id) => Some(Vectors::open(store, Some(id))?),
        None => None,
    };
    let mut out: Vec<Option<Vec<f32>>> =
        keys.iter().map(|k| stored.as_ref().and_then(|v| v.get(*k))).collect();
    let missing: Vec<usize> = (0..keys.len()).filter(|i| out[*i].is_none()).collect();
    progress.start("embed sample", missing.len() as u64);
    for (done, chunk) in missing.chunks(64).enumerate() {
        if cancel.is_cancelled() {
            return Err(Error::Llm(crate::llm::LlmError::Cancelled));
        }
        let mut texts = Vec::with_capacity(chunk.len());
        for &i in chunk {
            texts.push(store.item(keys[i])?.map(|it| it.text).unwrap_or_default());
        }
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        for (&i, e) in chunk.iter().zip(embedder.embed(&refs)?) {
            out[i] = Some(l2_normalised(&e.vector));
        }
        progress.update((done * 64 + chunk.len()) as u64, "");
    }
    progress.finish(&format!(
        "{} embedded now, {} from the store",
        missing.len(),
        keys.len() - missing.len()
    ));
    Ok((out.into_iter().map(Option::unwrap_or_default).collect(), missing.len()))
}

/// How replies are sampled and judged: LIMO's pass rate and self-training's E-step.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SamplingParams {
    /// Replies per prompt.
    pub samples: usize,
    pub temperature: f32,
    pub max_tokens: usize,
    pub reference_field: String,
    /// System message for sampling (none: the template's default).
    pub system: Option<String>,
    pub reward: reward::Reward,
    pub seed: u64,
    /// The model that samples.
    pub model: PathBuf,
    #[serde(skip)]
    pub engine: crate::llm::EngineOptions,
    /// Responses of each chosen prompt (best first) stored as candidates for experts to
    /// judge in the workstation (0: none).
    pub keep_candidates: usize,
}

impl SamplingParams {
    /// Generation settings for `samples` replies per prompt at `temperature`.
    pub(crate) fn gen(&self, samples: usize, temperature: f32) -> crate::llm::generate::GenParams {
        crate::llm::generate::GenParams {
            samples,
            temperature,
            top_p: 1.0,
            max_tokens: self.max_tokens,
            seed: self.seed,
        }
    }
}

/// A prompt of the pool with what the import gave for it.
#[derive(Debug, Clone)]
pub struct PromptItem {
    pub key: i64,
    pub id: String,
    pub text: String,
    /// From the reference field (a string or number), else the experts' label if resolved.
    pub reference: Option<String>,
    /// Candidate responses from the responses field (a string or an array of strings).
    pub responses: Vec<String>,
}

/// The pool's prompts outside the eval split (sets are for training; eval is never trained on).
/// Stops after `limit` prompts (the pool is not read past them).
pub fn prompt_items(
    store: &Store,
    reference_field: &str,
    responses_field: &str,
    limit: Option<usize>,
) -> Result<Vec<PromptItem>> {
    let splits = store.splits()?;
    let labels: std::collections::HashMap<i64, String> =
        store.resolved_labels()?.0.into_iter().collect();
    let mut out = Vec::new();
    let mut after = i64::MIN;
    let limit = limit.unwrap_or(usize::MAX);
    while out.len() < limit {
        let page = store.items_page(after, 5000)?;
        let Some(last) = page.last() else { break };
        after = last.key;
        for it in page {
            if out.len() == limit {
                break;
            }
            if splits.get(&it.key) == Some(&crate::store::Split::Eval) {
                continue;
            }
            let meta: serde_json::Map<String, serde_json::Value> =
                it.meta.as_deref().and_then(|m| serde_json::from_str(m).ok()).unwrap_or_default();
            let reference = match meta.get(reference_field) {
                Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
                Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                _ => labels.get(&it.key).cloned(),
            };
            let responses = match meta.get(responses_field) {
                Some(serde_json::Value::String(s)) => vec![s.clone()],
                Some(serde_json::Value::Array(a)) => {
                    a.iter().filter_map(|v| v.as_str().map(String::from)).collect()
                }
                _ => Vec::new(),
            };
            out.push(PromptItem { key: it.key, id: it.id, text: it.text, reference, responses });
        }
    }
    Ok(out)
}

/// Every item key of the project, in key order.
pub(crate) fn all_keys(store: &Store) -> Result<Vec<i64>> {
    Ok(store.item_keys()?)
}

/// "10%" or "0.1" → 0.1; a share in (0, 1].
pub fn parse_share(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|x| x / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("{s:?} is not a share: write 10% or 0.1"))?;
    if v > 0.0 && v <= 1.0 {
        Ok(v)
    } else {
        Err(format!("{s:?} is outside (0, 100%]"))
    }
}

pub(crate) fn shown(path: &Path) -> String {
    crate::text::inert(&path.display().to_string(), false)
}

/// `gen.samples` replies from `model` to each prompt, each judged by `sp.reward`. `round` varies
/// the random streams between calls (ReST-EM iterations) while keeping each reproducible.
pub(crate) fn judged_samples(
    model: &mut dyn Generate,
    items: &[&PromptItem],
    sp: &SamplingParams,
    gen: crate::llm::generate::GenParams,
    round: u64,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<Vec<Vec<(String, bool)>>> {
    let users: Vec<&str> = items.iter().map(|it| it.text.as_str()).collect();
    let keys: Vec<u64> = items
        .iter()
        .map(|it| (it.key as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ round)
        .collect();
    progress.start("sample", items.len() as u64);
    let started = std::time::Instant::now();
    let (mut out, mut tokens) = (Vec::with_capacity(items.len()), 0usize);
    model.replies(sp.system.as_deref(), &users, &keys, &gen, cancel, &mut |i, replies| {
        let it = items[i];
        let mut judged = Vec::with_capacity(replies.len());
        for r in replies {
            tokens += r.tokens.len();
            let ok = sp.reward.judge(&it.id, &it.text, &r.text, it.reference.as_deref(), cancel)?;
            judged.push((r.text, ok));
        }
        out.push(judged);
        let rate = tokens as f64 / started.elapsed().as_secs_f64().max(1e-9);
        progress.update(i as u64 + 1, &format!("{rate:.0} tok/s"));
        Ok(())
    })?;
    progress.finish(&format!("{} replies", out.iter().map(Vec::len).sum::<usize>()));
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn shares_parse_as_percent_or_fraction() {
        assert_eq!(super::parse_share("10%"), Ok(0.1));
        assert_eq!(super::parse_share(" 0.3 "), Ok(0.3));
        assert!(super::parse_share("0%").is_err());
        assert!(super::parse_share("150%").is_err());
        assert!(super::parse_share("ten").unwrap_err().contains("not a share"));
    }
}
