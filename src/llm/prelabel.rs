//! `hifi prelabel`: every item of the pool gets per-label probabilities from the model.
//! Resumable (items already scored under the same fingerprint are skipped) and each batch is
//! committed on its own, so Ctrl-C or a crash loses at most the batch in flight.

use std::path::PathBuf;
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::engine::{Engine, EngineOptions, PromptPrefix};
use super::model::Scorer;
use super::prompt;
use super::score::{LabelScorer, ScorerSpec};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::progress::{CancelToken, Progress};
use crate::store::{ModelRecord, Prediction, Store};

/// Bumped whenever scoring changes in a way that changes the numbers (per cache layout). v4:
/// each label's score includes the chat template's end of turn after it. Multi-label projects
/// score each label's yes and no answers ([`LabelScorer::per_label`]): a version of their own.
fn scorer_version(kv: crate::config::KvCache, multi_label: bool) -> &'static str {
    match (kv, multi_label) {
        (crate::config::KvCache::Separate, false) => "label-eot-logprob-v4",
        (crate::config::KvCache::Shared, false) => "label-eot-logprob-v4-shared",
        (crate::config::KvCache::Separate, true) => "label-yes-no-v1",
        (crate::config::KvCache::Shared, true) => "label-yes-no-v1-shared",
    }
}

/// The content-free input whose label scores measure the model's prior (contextual calibration).
pub const NULL_INPUT: &str = "N/A";

#[derive(Debug, Clone)]
pub struct PrelabelParams {
    pub model: PathBuf,
    pub adapter: Option<PathBuf>,
    pub limit: Option<usize>,
    pub engine: EngineOptions,
}

impl PrelabelParams {
    pub fn from_config(cfg: &Config, project: &std::path::Path) -> Self {
        Self {
            model: cfg.model_path(project),
            adapter: None,
            limit: None,
            engine: EngineOptions { threads: cfg.threads(), gpu_layers: cfg.model.gpu_layers },
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PrelabelReport {
    pub model_id: i64,
    pub fingerprint: String,
    pub scored: u64,
    pub already_done: u64,
    pub remaining: u64,
    pub truncated: u64,
    pub tokens: u64,
    pub seconds: f64,
    pub items_per_s: f64,
    pub tokens_per_s: f64,
    pub cancelled: bool,
}

/// The prompt pieces and the fingerprint that identifies "this model, adapter and prompt".
pub struct PreparedPrompt {
    pub prefix: PromptPrefix,
    pub suffix: String,
    pub fingerprint: String,
    pub prompt_sha256: String,
    /// Expert examples the prompt holds.
    pub few_shot: usize,
}

pub fn prepare_prompt(
    engine: &Engine,
    store: &mut Store,
    cfg: &Config,
    model_sha: &str,
    adapter_sha: Option<&str>,
) -> Result<PreparedPrompt> {
    let examples = prompt::few_shot_examples(store, cfg)?;
    let system = prompt::system_template(cfg, &examples);
    let user = prompt::user_message(cfg, prompt::TEXT_SLOT);
    let (prefix, suffix) = engine.prompt_parts_with(
        &system,
        &user,
        &prompt::example_texts(&examples),
        cfg.model.max_item_tokens,
    )?;
    let prompt_sha256 =
        hex::encode(Sha256::digest(format!("{}\0{suffix}", prefix.text).as_bytes()));
    let fp = serde_json::json!({
        "scorer": scorer_version(cfg.model.kv_cache, cfg.multi_label),
        "model": model_sha,
        "adapter": adapter_sha,
        "prompt": prompt_sha256,
        "labels": cfg.label_names(),
        "max_item_tokens": cfg.model.max_item_tokens,
        "calibrate": cfg.prompt.calibrate,
    });
    let fingerprint = hex::encode(Sha256::digest(fp.to_string().as_bytes()))[..16].to_string();
    Ok(PreparedPrompt { prefix, suffix, fingerprint, prompt_sha256, few_shot: examples.len() })
}

/// Score every item not yet scored under this model + adapter + prompt.
pub fn run(
    store: &mut Store,
    cfg: &Config,
    params: &PrelabelParams,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<PrelabelReport> {
    progress.start("load", 0);
    let mut engine = Engine::load(&params.model, params.engine.clone())?;
    let model_sha = store.file_sha256(&params.model).map_err(|e| Error::io(&params.model, e))?;
    let adapter_sha = match &params.adapter {
        Some(a) => {
            engine.set_adapter(a)?;
            Some(store.file_sha256(a).map_err(|e| Error::io(a, e))?)
        }
        None => None,
    };
    let p = prepare_prompt(&engine, store, cfg, &model_sha, adapter_sha.as_deref())?;
    let labels = cfg.label_names();
    let record = ModelRecord {
        id: 0,
        fingerprint: p.fingerprint.clone(),
        kind: "llm".into(),
        model_path: Some(params.model.display().to_string()),
        model_sha256: Some(model_sha),
        adapter_path: params.adapter.as_ref().map(|a| a.display().to_string()),
        adapter_sha256: adapter_sha,
        prompt_sha256: Some(p.prompt_sha256.clone()),
        labels: labels.clone(),
        few_shot: Some(p.few_shot),
    };
    // Registered before the scorer is made, as always (run_with finds it again).
    store.register_model(&record)?;
    let spec = ScorerSpec {
        prefix: &p.prefix,
        suffix: &p.suffix,
        labels: &labels,
        max_item_tokens: cfg.model.max_item_tokens,
        batch_items: cfg.model.batch_items,
        kv: cfg.model.kv_cache,
    };
    let mut scorer = if cfg.multi_label {
        LabelScorer::per_label(&engine, &spec)?
    } else {
        LabelScorer::new(&engine, &spec)?
    };
    run_with(store, cfg, params, &record, &mut scorer, progress, cancel)
}

/// Scores from an OpenAI-compatible server: a fingerprint of their own (never mixed with the
/// local engine's, nor with another server model's).
const HTTP_SCORER_VERSION: &str = "label-eot-logprob-v4-openai";

/// [`HTTP_SCORER_VERSION`] for multi-label projects (each label's yes and no answers).
const HTTP_MULTI_SCORER_VERSION: &str = "label-yes-no-v1-openai";

/// [`run`] on the OpenAI-compatible servers of `cfg.backend`: the same prompt, labels,
/// calibration and batches committed one at a time; the model's chat template (and the cut of
/// long items) from the GGUF at `params.model`, read vocabulary-only, unless `[backend]
/// template` names one.
pub fn run_http(
    store: &mut Store,
    cfg: &Config,
    params: &PrelabelParams,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<PrelabelReport> {
    let backend = &cfg.backend;
    backend.validate().map_err(Error::Input)?;
    if params.adapter.is_some() {
        return Err(Error::Input(
            "a LoRA adapter is scored by the local engine; with the openai backend, serve the adapter (vLLM: --enable-lora --lora-modules NAME=PATH) and name it in backend.model".into(),
        ));
    }
    let server_model = backend.model.clone().unwrap_or_default();
    progress.start("load", 0);
    let examples = prompt::few_shot_examples(store, cfg)?;
    let examples: Vec<(String, String)> = examples
        .into_iter()
        .map(|(t, l)| (super::http::inert_specials(&t).into_owned(), l))
        .collect();
    let system = prompt::system_message(cfg, &examples);
    let user = prompt::user_message(cfg, prompt::TEXT_SLOT);
    let (vocab, model_sha, text) = match &backend.template {
        Some(name) => (None, None, super::http::PromptText::named(name, &system, &user)?),
        None => {
            let engine = Engine::load_vocab(&params.model)?;
            let sha = store.file_sha256(&params.model).map_err(|e| Error::io(&params.model, e))?;
            let text = super::http::PromptText::from_engine(&engine, &system, &user)?;
            (Some(engine), Some(sha), text)
        }
    };
    let prompt_sha256 = hex::encode(Sha256::digest(
        format!("{}\0{}\0{}", text.prefix, text.suffix, text.end_of_turn).as_bytes(),
    ));
    let fp = serde_json::json!({
        "scorer": if cfg.multi_label { HTTP_MULTI_SCORER_VERSION } else { HTTP_SCORER_VERSION },
        "server_model": server_model,
        "model": model_sha,
        "template": backend.template,
        "prompt": prompt_sha256,
        "labels": cfg.label_names(),
        "max_item_tokens": cfg.model.max_item_tokens,
        "calibrate": cfg.prompt.calibrate,
    });
    let record = ModelRecord {
        id: 0,
        fingerprint: hex::encode(Sha256::digest(fp.to_string().as_bytes()))[..16].to_string(),
        kind: "llm".into(),
        model_path: Some(format!("openai:{server_model}")),
        model_sha256: model_sha,
        adapter_path: None,
        adapter_sha256: None,
        prompt_sha256: Some(prompt_sha256),
        labels: cfg.label_names(),
        few_shot: Some(examples.len()),
    };
    store.register_model(&record)?;
    let client = super::http::Client::new(backend, cancel.clone())?;
    let mut scorer = super::http::HttpScorer::new(
        client,
        backend,
        text,
        cfg.label_names(),
        vocab,
        cfg.model.max_item_tokens,
    );
    if cfg.multi_label {
        scorer = scorer.per_label();
    }
    run_with(store, cfg, params, &record, &mut scorer, progress, cancel)
}

/// Score every item not yet scored under `record`'s fingerprint with `scorer` (made for
/// `record`'s prompt and `cfg`'s labels): the stage after its model is loaded. `record` is
/// registered (or found) in the store; `params.limit` caps the items scored.
pub fn run_with(
    store: &mut Store,
    cfg: &Config,
    params: &PrelabelParams,
    record: &ModelRecord,
    scorer: &mut dyn Scorer,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<PrelabelReport> {
    let labels = cfg.label_names();
    let model_id = store.register_model(record)?;
    let total_items = store.item_count()? as u64;
    let todo_all = store.count_unpredicted(model_id)? as u64;
    let todo = params.limit.map_or(todo_all, |l| todo_all.min(l as u64));
    // Contextual calibration: the label log-probs of a content-free input, subtracted from every
    // item's before normalising (zeros when switched off). Multi-label: each label's log-odds on
    // it, subtracted from each item's log-odds of that label.
    let prior = if cfg.prompt.calibrate {
        scorer.score_batch(&[NULL_INPUT])?.remove(0).logprobs
    } else {
        vec![0.0; labels.len()]
    };
    progress.start("prelabel", todo);
    let started = Instant::now();
    let (mut scored, mut truncated, mut tokens) = (0u64, 0u64, 0u64);
    let mut after = 0i64;
    let mut cancelled = false;
    while scored < todo {
        if cancel.is_cancelled() {
            cancelled = true;
            break;
        }
        let want = (scorer.batch_items() as u64).min(todo - scored) as usize;
        let keys = store.unpredicted(model_id, after, want)?;
        if keys.is_empty() {
            break;
        }
        after = *keys.last().unwrap_or(&after);
        let mut texts = Vec::with_capacity(keys.len());
        for k in &keys {
            texts.push(store.item(*k)?.map(|i| i.text).unwrap_or_default());
        }
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let out = match scorer.score_batch(&refs) {
            // Ctrl-C while requests were in flight: the batch is not committed.
            Err(super::engine::LlmError::Cancelled) => {
                cancelled = true;
                break;
            }
            r => r?,
        };
        let preds: Vec<Prediction> = keys
            .iter()
            .zip(&out)
            .map(|(k, s)| Prediction {
                item: *k,
                probs: if cfg.multi_label {
                    calibrated_per_label(&s.logprobs, &prior)
                } else {
                    calibrated(&s.logprobs, &prior)
                },
                truncated: s.truncated,
            })
            .collect();
        store.put_predictions(model_id, &labels, &preds)?;
        scored += keys.len() as u64;
        truncated += out.iter().filter(|s| s.truncated).count() as u64;
        tokens += out.iter().map(|s| s.tokens as u64).sum::<u64>();
        progress.update(
            scored,
            &format!("{:.0} tok/s", tokens as f64 / started.elapsed().as_secs_f64().max(1e-9)),
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    let remaining = store.count_unpredicted(model_id)? as u64;
    progress.finish(&format!(
        "{scored} scored, {} already done, {truncated} truncated",
        total_items - todo_all
    ));
    Ok(PrelabelReport {
        model_id,
        fingerprint: record.fingerprint.clone(),
        scored,
        already_done: total_items - todo_all,
        remaining,
        truncated,
        tokens,
        seconds,
        items_per_s: scored as f64 / seconds.max(1e-9),
        tokens_per_s: tokens as f64 / seconds.max(1e-9),
        cancelled,
    })
}

/// Label probabilities after subtracting the content-free prior from the log-probs.
pub fn calibrated(logprobs: &[f64], prior: &[f64]) -> Vec<f64> {
    let shifted: Vec<f64> = logprobs.iter().zip(prior).map(|(l, p)| l - p).collect();
    super::score::softmax(&shifted)
}

/// Multi-label: each label's probability that it applies after subtracting the content-free
/// input's log-odds of that label from the item's, `σ(odds − prior)`, label by label (they
/// are not normalised against each other).
pub fn calibrated_per_label(log_odds: &[f64], prior: &[f64]) -> Vec<f64> {
    log_odds.iter().zip(prior).map(|(o, p)| super::score::sigmoid(o - p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_label_calibration_subtracts_each_labels_prior_log_odds() {
        // A label the content-free input already calls likely (odds +2) needs more evidence.
        let p = calibrated_per_label(&[2.0, 0.0, -1.0], &[2.0, -1.0, 0.0]);
        assert!((p[0] - 0.5).abs() < 1e-15);
        assert!((p[1] - super::super::score::sigmoid(1.0)).abs() < 1e-15);
        assert!((p[2] - super::super::score::sigmoid(-1.0)).abs() < 1e-15);
        // Zero prior (calibration off): the uncalibrated probabilities.
        assert_eq!(calibrated_per_label(&[0.0], &[0.0]), vec![0.5]);
        assert_ne!(
            scorer_version(crate::config::KvCache::Shared, true),
            scorer_version(crate::config::KvCache::Shared, false)
        );
    }
}
