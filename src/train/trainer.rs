//! The training loop: AdamW on the LoRA weights, linear warm-up then linear decay, global
//! gradient-norm clipping, seeded shuffling, a report per step, cancellable between steps.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::arch::Target;
use super::lora::Lora;
use super::model::{BaseModel, Example};
use super::TrainError;

/// Hyper-parameters (defaults: the usual small-data LoRA settings).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoraParams {
    pub rank: usize,
    pub alpha: f32,
    pub lr: f64,
    pub weight_decay: f64,
    pub max_grad_norm: f64,
    pub epochs: usize,
    /// Examples per optimiser step.
    pub batch: usize,
    /// Longest example (item + answer tokens after the shared prefix); longer ones lose
    /// item tokens from their start, never answer tokens.
    pub max_len: usize,
    pub targets: Vec<Target>,
    pub seed: u64,
    /// Recompute each block in the backward pass instead of keeping its activations
    /// (`None`: when a step's activations would not fit in half the available memory).
    #[serde(default)]
    pub checkpoint: Option<bool>,
}

impl Default for LoraParams {
    /// hifi.toml's `[train]` defaults ([`crate::config::TrainConfig`]) and the rest.
    fn default() -> Self {
        let t = crate::config::TrainConfig::default();
        Self {
            rank: t.rank,
            alpha: t.alpha,
            lr: t.lr,
            weight_decay: 0.0,
            max_grad_norm: 1.0,
            epochs: t.epochs,
            batch: t.batch,
            max_len: 512,
            targets: t.targets.iter().filter_map(|n| Target::from_flag(n)).collect(),
            seed: 0,
            checkpoint: None,
        }
    }
}

/// One optimiser step.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepReport {
    pub step: usize,
    pub steps: usize,
    pub epoch: usize,
    pub loss: f64,
    pub lr: f64,
    pub grad_norm: f64,
    /// Tokens evaluated in this step (shared prefix once + items).
    pub tokens: usize,
    pub tokens_per_s: f64,
    pub elapsed_s: f64,
    pub eta_s: f64,
}

pub struct TrainOutcome {
    pub lora: Lora,
    pub steps: Vec<StepReport>,
}

/// Train a LoRA on `examples` (each after the shared `prefix`), starting from `init` or from
/// fresh weights.
pub fn train(
    base: &BaseModel,
    prefix: &[u32],
    examples: &[Example],
    params: &LoraParams,
    init: Option<Lora>,
    progress: &mut dyn FnMut(&StepReport),
    cancel: &AtomicBool,
) -> Result<TrainOutcome, TrainError> {
    if examples.is_empty() {
        return Err(TrainError::Params("no training examples".into()));
    }
    if params.batch == 0 || params.epochs == 0 {
        return Err(TrainError::Params("batch and epochs must be at least 1".into()));
    }
    if params.targets.is_empty() {
        return Err(TrainError::Params("no target layers".into()));
    }
    let examples: Vec<Example> =
        examples.iter().map(|e| fit(e, params.max_len)).collect::<Result<_, _>>()?;
    let lora = match init {
        Some(l) => l,
        None => Lora::init(
            &base.cfg,
            params.rank,
            params.alpha,
            &params.targets,
            params.seed,
            base.device(),
        )?,
    };
    let vars = lora.vars();
    let mut opt = AdamW::new(
        vars.clone(),
        ParamsAdamW { lr: params.lr, weight_decay: params.weight_decay, ..ParamsAdamW::default() },
    )?;
    let longest = examples.iter().map(|e| e.tokens.len()).max().unwrap_or(0);
    let checkpoint = params.checkpoint.unwrap_or_else(|| {
        let need = base.activation_bytes(prefix.len(), params.batch.min(examples.len()), longest);
        let budget = available_memory().map_or(8 << 30, |m| m / 2);
        if need > budget {
            tracing::info!(
                need_mib = need >> 20,
                budget_mib = budget >> 20,
                "activations would not fit: checkpointing each block"
            );
        }
        need > budget
    });
    let per_epoch = examples.len().div_ceil(params.batch);
    let steps = per_epoch * params.epochs;
    let warmup = (steps / 10).max(1).min(steps);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(params.seed ^ 0x5eed);
    let mut order: Vec<usize> = (0..examples.len()).collect();
    let started = Instant::now();
    let mut reports = Vec::with_capacity(steps);
    let mut step = 0;
    let mut tokens_total = 0usize;
    for epoch in 0..params.epochs {
        order.shuffle(&mut rng);
        for chunk in order.chunks(params.batch) {
            if cancel.load(Ordering::Relaxed) {
                return Err(TrainError::Cancelled);
            }
            step += 1;
            let lr = if step <= warmup {
                params.lr * step as f64 / warmup as f64
            } else {
                params.lr * (steps - step + 1) as f64 / (steps - warmup + 1) as f64
            };
            opt.set_learning_rate(lr);
            let batch: Vec<&Example> = chunk.iter().map(|&i| &examples[i]).collect();
            let (loss_v, mut grads) = base.loss_and_grads(&lora, prefix, &batch, checkpoint)?;
            if !loss_v.is_finite() {
                return Err(TrainError::Diverged(format!(
                    "the loss became {loss_v} at step {step}; lower --lr"
                )));
            }
            let mut sq = 0f64;
            for v in &vars {
                if let Some(g) = grads.get(v.as_tensor()) {
                    sq += f64::from(g.sqr()?.sum_all()?.to_scalar::<f32>()?);
                }
            }
            let grad_norm = sq.sqrt();
            if params.max_grad_norm > 0.0 && grad_norm > params.max_grad_norm {
                let k = params.max_grad_norm / grad_norm;
                for v in &vars {
                    if let Some(g) = grads.remove(v.as_tensor()) {
                        grads.insert(v.as_tensor(), (g * k)?);
                    }
                }
            }
            opt.step(&grads)?;
            let tokens = prefix.len()
                + batch.iter().map(|e| e.tokens.len()).max().unwrap_or(0) * batch.len();
            tokens_total += tokens;
            let elapsed = started.elapsed().as_secs_f64();
            let r = StepReport {
                step,
                steps,
                epoch: epoch + 1,
                loss: loss_v,
                lr,
                grad_norm,
                tokens,
                tokens_per_s: tokens_total as f64 / elapsed.max(1e-9),
                elapsed_s: elapsed,
                eta_s: elapsed / step as f64 * (steps - step) as f64,
            };
            progress(&r);
            reports.push(r);
        }
    }
    Ok(TrainOutcome { lora, steps: reports })
}

/// Cut an example to `max_len` tokens, dropping item tokens from its start, never the answer.
fn fit(e: &Example, max_len: usize) -> Result<Example, TrainError> {
    let answer = e.tokens.len().saturating_sub(e.n_prompt);
    if answer == 0 || e.n_prompt > e.tokens.len() {
        return Err(TrainError::Params("an example has no answer tokens".into()));
    }
    if e.tokens.len() <= max_len {
        return Ok(e.clone());
    }
    if answer + 1 > max_len {
        return Err(TrainError::Params(format!(
            "an answer of {answer} tokens does not fit max_len {max_len}"
        )));
    }
    let drop = e.tokens.len() - max_len;
    Ok(Example { tokens: e.tokens[drop..].to_vec(), n_prompt: e.n_prompt - drop })
}

/// `MemAvailable` from /proc/meminfo, in bytes (Linux).
fn available_memory() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = s
        .lines()
        .find(|l| l.starts_with("MemAvailable:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}
