//! LoRA training steps/s and what a step costs.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::llm::prompt;
use crate::llm::{Engine, EngineOptions};

/// `hifi bench train`: LoRA training steps as built (the prompt prefix evaluated once per
/// batch, frozen weights without weight gradients) against two baselines run in the same
/// process on the same examples: every example carrying its whole prompt, and candle's stock
/// matmul for the frozen weights.
#[derive(Debug, Serialize)]
pub struct TrainBench {
    pub model: String,
    pub threads: usize,
    pub batch: usize,
    pub steps: usize,
    pub prefix_tokens: usize,
    pub mean_item_tokens: f64,
    pub trainable_params: usize,
    pub s_per_step: f64,
    pub examples_per_s: f64,
    /// Prompt + answer tokens of the examples trained per second (the prefix counted once per
    /// example, as the unshared baseline evaluates it).
    pub example_tok_per_s: f64,
    /// With gradient checkpointing (each block recomputed in the backward pass).
    pub checkpoint_s_per_step: f64,
    pub checkpoint_peak_rss_mb: Option<f64>,
    pub unshared_s_per_step: Option<f64>,
    pub stock_matmul_s_per_step: Option<f64>,
    pub ratio_vs_unshared: Option<f64>,
    pub ratio_vs_stock_matmul: Option<f64>,
    /// Peak RSS after our variant (before the baselines ran).
    pub peak_rss_mb: Option<f64>,
}

pub fn train(
    cfg: &Config,
    model: &Path,
    threads: usize,
    texts: &[String],
    batch: usize,
    steps: usize,
    baselines: bool,
) -> Result<TrainBench> {
    use crate::train::{self, BaseModel, Example, LoraParams};
    std::env::set_var("RAYON_NUM_THREADS", threads.max(1).to_string());
    let engine =
        Engine::load(model, EngineOptions { threads, gpu_layers: crate::llm::GpuLayers::CPU })?;
    let labels = cfg.label_names();
    let system = prompt::system_message(cfg, &[]);
    let (prefix_text, suffix_text) =
        engine.prompt_parts(&system, &prompt::user_message(cfg, prompt::TEXT_SLOT))?;
    let tokens = train::PromptTokens::new(&engine, &prefix_text, &suffix_text, &labels)?;
    let prefix = tokens.prefix.clone();
    let n = (batch * steps).min(texts.len());
    let examples: Vec<Example> = texts[..n]
        .iter()
        .enumerate()
        .map(|(i, t)| tokens.example(&engine, t, i % labels.len(), cfg.model.max_item_tokens))
        .collect();
    drop(engine);
    let mut base = BaseModel::load(model).map_err(|e| Error::Input(e.to_string()))?;
    let never = std::sync::atomic::AtomicBool::new(false);
    let run = |base: &BaseModel,
               prefix: &[u32],
               ex: &[Example],
               checkpoint: bool|
     -> Result<(f64, usize)> {
        let params =
            LoraParams { batch, epochs: 1, checkpoint: Some(checkpoint), ..LoraParams::default() };
        // One warm-up step, then the timed ones.
        train::train(base, prefix, &ex[..batch.min(ex.len())], &params, None, &mut |_| {}, &never)
            .map_err(|e| Error::Input(e.to_string()))?;
        let t0 = Instant::now();
        let out = train::train(base, prefix, ex, &params, None, &mut |_| {}, &never)
            .map_err(|e| Error::Input(e.to_string()))?;
        Ok((t0.elapsed().as_secs_f64() / out.steps.len().max(1) as f64, out.lora.n_params()))
    };
    // Checkpointed first: freed memory stays resident (the allocator keeps it), so the
    // smaller peak must be measured before the larger one.
    crate::train::job::reset_peak_rss();
    let (checkpoint_s, _) = run(&base, &prefix, &examples, true)?;
    let checkpoint_peak_rss_mb = crate::train::job::peak_rss_mb();
    crate::train::job::reset_peak_rss();
    let (ours, trainable_params) = run(&base, &prefix, &examples, false)?;
    let peak_rss_mb = crate::train::job::peak_rss_mb();
    let (mut unshared_s, mut stock_s) = (None, None);
    if baselines {
        let unshared: Vec<Example> = examples
            .iter()
            .map(|e| Example {
                tokens: prefix.iter().chain(&e.tokens).copied().collect(),
                n_prompt: prefix.len() + e.n_prompt,
            })
            .collect();
        unshared_s = Some(run(&base, &[], &unshared, false)?.0);
        base.stock_matmul = true;
        stock_s = Some(run(&base, &prefix, &examples, false)?.0);
    }
    let per_step = examples.len().min(batch) as f64;
    let item_tokens: usize = examples.iter().map(|e| e.tokens.len()).sum();
    let mean_item_tokens = item_tokens as f64 / examples.len().max(1) as f64;
    Ok(TrainBench {
        model: model.display().to_string(),
        threads,
        batch,
        steps: examples.len().div_ceil(batch),
        prefix_tokens: prefix.len(),
        mean_item_tokens,
        trainable_params,
        s_per_step: ours,
        examples_per_s: per_step / ours,
        example_tok_per_s: per_step * (prefix.len() as f64 + mean_item_tokens) / ours,
        checkpoint_s_per_step: checkpoint_s,
        checkpoint_peak_rss_mb,
        unshared_s_per_step: unshared_s,
        stock_matmul_s_per_step: stock_s,
        ratio_vs_unshared: unshared_s.map(|s| s / ours),
        ratio_vs_stock_matmul: stock_s.map(|s| s / ours),
        peak_rss_mb,
    })
}
