//! Sampling several replies to one prompt.
//!
//! The prompt is evaluated once, in sequence 0; its last logits give every sample its first
//! token, then its KV cells are copied into the other sequences and all unfinished samples
//! advance together, one token each per decode, with logits only where a token is sampled.
//! Sampling happens here, on the logits, with one ChaCha stream per sample derived from
//! (seed, key, sample index): a sample does not depend on how many others ran beside it.

use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::token::LlamaToken;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::engine::{context_params, Engine, LlmError};
use crate::progress::CancelToken;

/// llama.cpp's limit on sequences in one context (`LLAMA_MAX_SEQ`).
const MAX_SAMPLES: usize = 256;
/// Tokens per decode while evaluating a prompt.
const N_BATCH: usize = 512;

/// How to sample.
#[derive(Debug, Clone, PartialEq)]
pub struct GenParams {
    /// Replies per prompt.
    pub samples: usize,
    /// Softmax temperature; 0 picks the most likely token (greedy).
    pub temperature: f32,
    /// Nucleus sampling: draw only from the most likely tokens whose probabilities sum to at
    /// least this; 1 keeps the whole vocabulary.
    pub top_p: f32,
    /// Tokens generated per reply at most, end-of-generation token not counted.
    pub max_tokens: usize,
    /// With the key passed to [`Generator::sample`], fixes every sample's random stream.
    pub seed: u64,
}

impl Default for GenParams {
    fn default() -> Self {
        Self { samples: 4, temperature: 0.7, top_p: 1.0, max_tokens: 256, seed: 0 }
    }
}

/// One reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// The reply's text (invalid UTF-8 from a cut multi-byte character is replaced).
    pub text: String,
    /// The reply's tokens, without the end-of-generation token.
    pub tokens: Vec<LlamaToken>,
    /// The model ended the reply itself (an end-of-generation token) rather than hitting
    /// `max_tokens`.
    pub finished: bool,
}

/// Samples replies with one llama.cpp context sized for `samples` sequences.
pub struct Generator<'e> {
    engine: &'e Engine,
    params: GenParams,
    max_prompt_tokens: usize,
    ctx: LlamaContext<'e>,
    batch: LlamaBatch<'static>,
    // Reused by every draw: the vocabulary's weights, not reallocated per token.
    scratch: Vec<(f64, u32)>,
}

impl<'e> Generator<'e> {
    /// A generator for prompts of up to `max_prompt_tokens` tokens.
    pub fn new(
        engine: &'e Engine,
        params: GenParams,
        max_prompt_tokens: usize,
    ) -> Result<Self, LlmError> {
        if params.samples == 0 || params.samples > MAX_SAMPLES {
            return Err(LlmError::Input(format!(
                "samples must be between 1 and {MAX_SAMPLES}, not {}",
                params.samples
            )));
        }
        if !params.temperature.is_finite() || params.temperature < 0.0 {
            return Err(LlmError::Input(format!(
                "temperature must be 0 or more, not {}",
                params.temperature
            )));
        }
        if !(params.top_p > 0.0 && params.top_p <= 1.0) {
            return Err(LlmError::Input(format!("top_p must be in (0, 1], not {}", params.top_p)));
        }
        if max_prompt_tokens == 0 {
            return Err(LlmError::Input("max_prompt_tokens must be at least 1".into()));
        }
        let per_seq = max_prompt_tokens.saturating_add(params.max_tokens);
        let n_ctx_train = engine.n_ctx_train() as usize;
        if n_ctx_train > 0 && per_seq > n_ctx_train {
            return Err(LlmError::Input(format!(
                "a reply needs up to {per_seq} tokens ({max_prompt_tokens} of prompt + {} generated), more than the model's context of {n_ctx_train}",
                params.max_tokens
            )));
        }
        // Separate KV caches (kv_unified false) give each sequence n_ctx / n_seq cells, and
        // llama.cpp rounds each up to 256: ask for exactly that.
        let per_seq_cells = per_seq.div_ceil(256) * 256;
        let n_ctx = u32::try_from(per_seq_cells * params.samples).map_err(|_| {
            LlmError::Input(format!(
                "{} samples of {per_seq} tokens do not fit one context",
                params.samples
            ))
        })?;
        let ctx = engine.context(context_params(n_ctx, N_BATCH as u32, params.samples as u32))?;
        Ok(Self {
            engine,
            params,
            max_prompt_tokens,
            ctx,
            batch: LlamaBatch::new(N_BATCH, 1),
            scratch: Vec::new(),
        })
    }

    pub fn params(&self) -> &GenParams {
        &self.params
    }

    /// Longest prompt accepted.
    pub fn max_prompt_tokens(&self) -> usize {
        self.max_prompt_tokens
    }

    /// `samples` replies to `prompt`. The same seed, key and prompt give the same replies;
    /// `key` tells apart prompts (or rounds) that should get different random streams.
    pub fn sample(
        &mut self,
        prompt: &[LlamaToken],
        key: u64,
        cancel: &CancelToken,
    ) -> Result<Vec<Generated>, LlmError> {
        self.sample_from(prompt, key, 0, cancel)
    }

    /// Like [`sample`](Self::sample), but the replies are samples `first .. first + samples`
    /// of the (seed, key) family: sample `i` is the same whether drawn in one call of many
    /// samples or alone with `first = i` (up to llama.cpp's numerics across batch shapes).
    /// Lets a caller draw more samples later without repeating the earlier ones.
    pub fn sample_from(
        &mut self,
        prompt: &[LlamaToken],
        key: u64,
        first: u64,
        cancel: &CancelToken,
    ) -> Result<Vec<Generated>, LlmError> {
        let temperature = self.params.temperature;
        self.run(prompt, key, first, self.params.samples, temperature, cancel)
    }

    /// One reply picking the most likely token at every step, whatever the temperature.
    pub fn greedy_one(
        &mut self,
        prompt: &[LlamaToken],
        cancel: &CancelToken,
    ) -> Result<Generated, LlmError> {
        let mut out = self.run(prompt, 0, 0, 1, 0.0, cancel)?;
        out.pop().ok_or_else(|| LlmError::Engine("greedy generation returned no reply".into()))
    }

    fn run(
        &mut self,
        prompt: &[LlamaToken],
        key: u64,
        first: u64,
        n: usize,
        temperature: f32,
        cancel: &CancelToken,
    ) -> Result<Vec<Generated>, LlmError> {
        if prompt.is_empty() {
            return Err(LlmError::Input("cannot generate from an empty prompt".into()));
        }
        if prompt.len() > self.max_prompt_tokens {
            return Err(LlmError::Input(format!(
                "the prompt has {} tokens, more than the {} this generator was sized for",
                prompt.len(),
                self.max_prompt_tokens
            )));
        }
        if cancel.is_cancelled() {
            return Err(LlmError::Cancelled);
        }
        let t0 = Instant::now();
        let max_tokens = self.params.max_tokens;
        let top_p = self.params.top_p;
        let mut rngs: Vec<ChaCha20Rng> = (0..n as u64)
            .map(|i| sample_rng(self.params.seed, key, first.wrapping_add(i)))
            .collect();
        let mut outs =
            vec![Generated { text: String::new(), tokens: Vec::new(), finished: false }; n];
        if max_tokens == 0 {
            return Ok(outs);
        }
        let engine_err = |e: String| LlmError::Engine(e);

        // The prompt, once, in sequence 0 (a previous prompt's cells are dropped).
        self.ctx.clear_kv_cache();
        let mut logits_at = 0usize;
        let mut pos = 0usize;
        for chunk in prompt.chunks(N_BATCH) {
            if cancel.is_cancelled() {
                return Err(LlmError::Cancelled);
            }
            self.batch.clear();
            for (i, t) in chunk.iter().enumerate() {
                let last = pos + i + 1 == prompt.len();
                self.batch
                    .add(*t, (pos + i) as i32, &[0], last)
                    .map_err(|e| engine_err(e.to_string()))?;
            }
            self.ctx
                .decode(&mut self.batch)
                .map_err(|e| LlmError::Engine(format!("decode failed: {e}")))?;
            pos += chunk.len();
            logits_at = chunk.len() - 1;
        }
        let t_prompt = t0.elapsed();

        // Every sample's first token comes from the same prompt logits.
        let vocab = self.engine.model.vocab();
        let mut running: Vec<usize> = Vec::with_capacity(n);
        {
            let logits = self.ctx.get_logits_ith(logits_at as i32);
            for (i, (out, rng)) in outs.iter_mut().zip(rngs.iter_mut()).enumerate() {
                let tok = pick(logits, temperature, top_p, rng, &mut self.scratch);
                if accept(out, tok, max_tokens, &vocab) {
                    running.push(i);
                }
            }
        }
        // Sequences other than 0 start as copies of the prompt; with separate KV streams the
        // copy is a buffer copy llama.cpp performs at the next decode.
        for &i in running.iter().filter(|&&i| i > 0) {
            self.ctx.copy_kv_cache_seq(0, i as i32, None, None).map_err(|e| {
                LlmError::Engine(format!("cannot copy the prompt to sequence {i}: {e}"))
            })?;
        }

        let mut steps = 0usize;
        let mut generated = running.len();
        while !running.is_empty() {
            if cancel.is_cancelled() {
                return Err(LlmError::Cancelled);
            }
            self.batch.clear();
            for &i in &running {
                let toks = &outs[i].tokens;
                let last = toks[toks.len() - 1];
                let at = prompt.len() + toks.len() - 1;
                self.batch
                    .add(last, at as i32, &[i as i32], true)
                    .map_err(|e| engine_err(e.to_string()))?;
            }
            self.ctx
                .decode(&mut self.batch)
                .map_err(|e| LlmError::Engine(format!("decode failed: {e}")))?;
            steps += 1;
            let mut still = Vec::with_capacity(running.len());
            for (k, &i) in running.iter().enumerate() {
                let logits = self.ctx.get_logits_ith(k as i32);
                let tok = pick(logits, temperature, top_p, &mut rngs[i], &mut self.scratch);
                if accept(&mut outs[i], tok, max_tokens, &vocab) {
                    still.push(i);
                }
                generated += 1;
            }
            running = still;
        }

        for out in &mut outs {
            let mut bytes = Vec::new();
            for t in &out.tokens {
                bytes.extend(vocab.token_to_piece(*t, false, None));
            }
            out.text = String::from_utf8_lossy(&bytes).into_owned();
        }
        tracing::debug!(
            samples = n,
            prompt_tokens = prompt.len(),
            generated,
            steps,
            prompt_ms = t_prompt.as_secs_f64() * 1e3,
            total_ms = t0.elapsed().as_secs_f64() * 1e3,
            "generated"
        );
        Ok(outs)
    }
}

/// Sample `index`'s random stream for (seed, key): the key of the cipher is (seed, key), its
/// stream the sample index, so streams never overlap and do not depend on the batch.
fn sample_rng(seed: u64, key: u64, index: u64) -> ChaCha20Rng {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&key.to_le_bytes());
    bytes[16..].copy_from_slice(b"hifi/generate/v1");
    let mut rng = ChaCha20Rng::from_seed(bytes);
    rng.set_stream(index);
    rng
}

/// Record `tok` as the next token of `out`; true while the reply goes on.
fn accept(
    out: &mut Generated,
    tok: LlamaToken,
    max_tokens: usize,
    vocab: &llama_cpp_2::vocab::LlamaVocab<'_>,
) -> bool {
    if vocab.is_eog(tok) {
        out.finished = true;
        return false;
    }
    out.tokens.push(tok);
    out.tokens.len() < max_tokens
}

/// The next token from `logits`: the argmax at temperature 0, else a draw from the
/// temperature-scaled softmax, restricted to the top-`top_p` nucleus when below 1.
///
/// Exactly one random number is drawn per sampled token, so a sample's stream stays aligned
/// with its tokens whatever else changes.
fn pick(
    logits: &[f32],
    temperature: f32,
    top_p: f32,
    rng: &mut ChaCha20Rng,
    scratch: &mut Vec<(f64, u32)>,
) -> LlamaToken {
    let argmax = || {
        LlamaToken(
            logits
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
                .map_or(0, |(i, _)| i as i32),
        )
    };
    if temperature <= 0.0 {
        return argmax();
    }
    let u: f64 = rng.gen();
    let max = logits.iter().copied().filter(|x| !x.is_nan()).fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return argmax();
    }
    let inv_t = 1.0 / f64::from(temperature);
    let max = f64::from(max);
    scratch.clear();
    let mut total = 0.0f64;
    for (i, &x) in logits.iter().enumerate() {
        let w = ((f64::from(x) - max) * inv_t).exp();
        // Underflowed (and NaN) weights can never be drawn; dropping them keeps the nucleus
        // sort short.
        if w > 0.0 {
            scratch.push((w, i as u32));
            total += w;
        }
    }
    if top_p < 1.0 {
        // Ties broken by token id, so the nucleus is the same on every run.
        scratch.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let target = f64::from(top_p) * total;
        let mut cum = 0.0;
        let mut keep = scratch.len();
        for (k, (w, _)) in scratch.iter().enumerate() {
            cum += w;
            if cum >= target {
                keep = k + 1;
                break;
            }
        }
        scratch.truncate(keep);
        total = scratch.iter().map(|(w, _)| w).sum();
    }
    let goal = u * total;
    let mut cum = 0.0;
    for &(w, i) in scratch.iter() {
        cum += w;
        if cum > goal {
            return LlamaToken(i as i32);
        }
    }
    // Rounding can leave `goal` a hair above the last partial sum.
    scratch.last().map_or_else(argmax, |&(_, i)| LlamaToken(i as i32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_picks_the_first_maximum() {
        let mut rng = sample_rng(0, 0, 0);
        let mut s = Vec::new();
        assert_eq!(pick(&[0.0, 3.0, 3.0, -1.0], 0.0, 1.0, &mut rng, &mut s), LlamaToken(1));
    }

    #[test]
    fn sampling_follows_the_distribution_and_the_nucleus() {
        // Probabilities 0.5, 0.25, 0.125, 0.125 at temperature 1.
        let logits = [2f32.ln() * 2.0, 2f32.ln(), 0.0, 0.0];
        let mut s = Vec::new();
        let mut counts = [0usize; 4];
        let mut rng = sample_rng(1, 2, 3);
        for _ in 0..20_000 {
            counts[pick(&logits, 1.0, 1.0, &mut rng, &mut s).0 as usize] += 1;
        }
        let p0 = counts[0] as f64 / 20_000.0;
        assert!((p0 - 0.5).abs() < 0.02, "{counts:?}");
        // top_p 0.7: only the first two tokens (0.5 + 0.25 >= 0.7).
        let mut seen = [false; 4];
        for _ in 0..2_000 {
            seen[pick(&logits, 1.0, 0.7, &mut rng, &mut s).0 as usize] = true;
        }
        assert_eq!(seen, [true, true, false, false]);
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: u64 = sample_rng(5, 6, 0).gen();
        assert_eq!(a, sample_rng(5, 6, 0).gen::<u64>());
        assert_ne!(a, sample_rng(5, 6, 1).gen::<u64>());
        assert_ne!(a, sample_rng(5, 7, 0).gen::<u64>());
        assert_ne!(a, sample_rng(6, 6, 0).gen::<u64>());
    }
}
