//! Zero-shot classification by label log-probabilities.
//!
//! The prompt is `prefix | item | suffix | label | end of turn`. The prefix (system message,
//! definitions, examples, the chat template's opening) is the same for every item: it is
//! evaluated once in sequence 0 and copied into each item's sequence. A batch holds several
//! items as distinct sequences; logits are requested only where a label token is predicted.
//! Each label is scored as the whole assistant answer: its tokens followed by the chat
//! template's end of turn up to its end-of-generation token ([`Engine::chat_completion_tokens`],
//! the same tokens LoRA training targets), teacher-forced, the token log-probs summed; then
//! the scores are normalised over the labels. The end of turn makes the labels disjoint
//! answers: without it a label that is a token-prefix of another ("pos" / "positive") would
//! also count every answer that goes on into the longer label.
//!
//! Two cache layouts ([`KvCache`]). `Shared`: one unified cache; sequence copies only tag the
//! prefix cells, and a batch's items plus every label's continuation (a branch sequence per
//! item and label, sharing the item's cells as a tree) go to llama.cpp as one micro-batch,
//! padded to at least 64 rows so flash attention always takes its f32 tiled path. `Separate`:
//! a cache per sequence with the prefix physically copied; llama.cpp then splits a batch per
//! sequence, so an item is computed exactly as it would be alone.

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::token::LlamaToken;

use super::engine::{context_params, Engine, LlmError, PromptPrefix};
pub use crate::config::KvCache;

/// Rows below which llama.cpp's CPU flash attention switches from its f32 tiled kernel to a
/// per-row kernel that accumulates in f16 (`GGML_FA_TILE_Q`): a shared-cache batch is padded
/// up to it so every batch, however small, is computed the same way.
const MIN_ROWS: usize = 64;

/// Shared cache: the largest micro-batch (tokens); a batch of long items past it is split.
const MAX_SHARED_BATCH: usize = 2048;

/// One item's scores.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// Sum of token log-probabilities of each label and the end of turn after it, in label
    /// order.
    pub logprobs: Vec<f64>,
    /// `logprobs` normalised over the labels (sums to 1).
    pub probs: Vec<f64>,
    /// The item had more than `max_item_tokens` tokens and was cut.
    pub truncated: bool,
    /// Tokens evaluated for this item (item + suffix + label continuations, each a label's
    /// tokens and the end of turn but its last token).
    pub tokens: usize,
}

/// Prompt pieces and label names for a [`LabelScorer`].
pub struct ScorerSpec<'a> {
    pub prefix: &'a PromptPrefix,
    pub suffix: &'a str,
    pub labels: &'a [String],
    pub max_item_tokens: usize,
    pub batch_items: usize,
    pub kv: KvCache,
}

pub struct LabelScorer<'e> {
    engine: &'e Engine,
    ctx: LlamaContext<'e>,
    prefix_len: usize,
    suffix: Vec<LlamaToken>,
    /// Each label's answer: its tokens, then the end of turn (so at least two tokens).
    labels: Vec<Vec<LlamaToken>>,
    max_item_tokens: usize,
    batch_items: usize,
    n_batch: usize,
    batch: LlamaBatch<'static>,
    kv: KvCache,
    /// Shared mode: padding tokens for small batches (a sequence of their own).
    filler: Vec<LlamaToken>,
}

/// One token to evaluate: (sequence, position, token, wants logits).
type Slot = (i32, usize, LlamaToken, bool);

impl<'e> LabelScorer<'e> {
    pub fn new(engine: &'e Engine, spec: &ScorerSpec) -> Result<Self, LlmError> {
        let prefix = &spec.prefix.tokens;
        let suffix = engine.tokenize_template(spec.suffix, false);
        let mut labels = Vec::new();
        for name in spec.labels {
            if engine.tokenize_text(name).is_empty() {
                return Err(LlmError::Input(format!(
                    "label {name:?} tokenizes to nothing with this model"
                )));
            }
            // The label as the assistant's whole answer: its tokens, then the template's end
            // of turn (tokenized apart from the label, as training tokenizes it).
            labels.push(engine.chat_completion_tokens(name)?);
        }
        let max_label = labels.iter().map(Vec::len).max().unwrap_or(1);
        let per_seq = prefix.len() + spec.max_item_tokens + suffix.len() + max_label + 8;
        let n_ctx_train = engine.n_ctx_train() as usize;
        if n_ctx_train > 0 && per_seq > n_ctx_train {
            return Err(LlmError::Input(format!(
                "the prompt needs {per_seq} tokens per item (prefix {} + up to {} item tokens), more than the model's context of {n_ctx_train}; lower model.max_item_tokens or prompt.few_shot",
                prefix.len(),
                spec.max_item_tokens
            )));
        }
        // Every label continues past the item's last token (at least the end of turn follows
        // it): one branch per label.
        let n_labels = labels.len();
        let branch_tokens: usize = labels.iter().map(|l| l.len() - 1).sum();
        let (batch_items, n_seq, n_batch, n_ctx) = match spec.kv {
            KvCache::Separate => {
                let batch_items = spec.batch_items.clamp(1, 64);
                // Separate KV caches give each sequence n_ctx / n_seq cells.
                let per_seq_cells = per_seq.div_ceil(256) * 256;
                (batch_items, batch_items + 1, 512, per_seq_cells * (batch_items + 1))
            }
            KvCache::Shared => {
                // Sequences: 0 the prefix, then per item its own and one per label, then the
                // filler; llama.cpp allows 256.
                if 3 + n_labels > 256 {
                    return Err(LlmError::Input(format!(
                        "{n_labels} labels: too many branch sequences for model.kv_cache = \"shared\" (at most 253 labels); use \"separate\""
                    )));
                }
                let batch_items = spec.batch_items.clamp(1, 64).min(254 / (1 + n_labels));
                let n_seq = 2 + batch_items * (1 + n_labels);
                // A batch in one micro-batch (n_ubatch = n_batch) up to MAX_SHARED_BATCH
                // tokens (longer batches, only of long items, are split in order), and the
                // prefix in one 512-token chunk like the separate mode.
                let per_item = spec.max_item_tokens + suffix.len() + branch_tokens;
                let n_batch = (batch_items * per_item)
                    .min(per_item.max(MAX_SHARED_BATCH))
                    .max(512)
                    .div_ceil(64)
                    * 64;
                (batch_items, n_seq, n_batch, (prefix.len() + n_batch + 8).div_ceil(256) * 256)
            }
        };
        let mut params = context_params(n_ctx as u32, n_batch as u32, n_seq as u32);
        if spec.kv == KvCache::Shared {
            params = params.with_kv_unified(true);
        }
        let mut ctx = engine.context(params)?;
        // The shared prefix, once, in sequence 0.
        let mut batch = LlamaBatch::new(n_batch, 1 + n_labels as i32);
        let slots: Vec<Slot> = prefix.iter().enumerate().map(|(i, t)| (0, i, *t, false)).collect();
        decode_slots(&mut ctx, &mut batch, &slots, 512, |_, _, _| {})?;
        let filler = prefix.iter().copied().cycle().take(MIN_ROWS).collect();
        Ok(Self {
            engine,
            ctx,
            prefix_len: prefix.len(),
            suffix,
            labels,
            max_item_tokens: spec.max_item_tokens,
            batch_items,
            n_batch,
            batch,
            kv: spec.kv,
            filler,
        })
    }

    /// Items per batch.
    pub fn batch_items(&self) -> usize {
        self.batch_items
    }

    pub fn prefix_tokens(&self) -> usize {
        self.prefix_len
    }

    /// Score up to `batch_items` texts at once.
    pub fn score_batch(&mut self, texts: &[&str]) -> Result<Vec<Scored>, LlmError> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(self.batch_items) {
            out.extend(self.score_chunk(chunk)?);
        }
        Ok(out)
    }

    /// Each text's tokens after the prefix (cut to `max_item_tokens`, then the suffix) and
    /// whether it was cut.
    fn item_tokens(&self, texts: &[&str]) -> Result<(Vec<Vec<LlamaToken>>, Vec<bool>), LlmError> {
        let mut items = Vec::with_capacity(texts.len());
        let mut truncated = Vec::with_capacity(texts.len());
        for text in texts {
            let (toks, cut) = self.engine.item_tokens(text, self.max_item_tokens, &self.suffix);
            if toks.is_empty() {
                return Err(LlmError::Input("an item and the prompt suffix are both empty".into()));
            }
            items.push(toks);
            truncated.push(cut);
        }
        Ok((items, truncated))
    }

    fn score_chunk(&mut self, texts: &[&str]) -> Result<Vec<Scored>, LlmError> {
        if self.kv == KvCache::Shared {
            return self.score_chunk_shared(texts);
        }
        let t0 = std::time::Instant::now();
        let n_labels = self.labels.len();
        let (items, truncated) = self.item_tokens(texts)?;
        let mut ends = Vec::with_capacity(texts.len()); // position after item + suffix, per item
        let mut slots: Vec<Slot> = Vec::new();
        for (i, toks) in items.iter().enumerate() {
            let seq = i as i32 + 1;
            self.reset_seq(seq)?;
            let p0 = self.prefix_len;
            let last = toks.len() - 1;
            slots.extend(toks.iter().enumerate().map(|(j, t)| (seq, p0 + j, *t, j == last)));
            ends.push(p0 + toks.len());
        }
        let mut logprobs = vec![vec![0.0f64; n_labels]; texts.len()];
        let mut tokens: Vec<usize> = ends.iter().map(|e| e - self.prefix_len).collect();
        let t_copy = t0.elapsed();
        // Phase A: the items; at each item's last token, the log-prob of every label's first token.
        let labels = &self.labels;
        decode_slots(&mut self.ctx, &mut self.batch, &slots, self.n_batch, |seq, _pos, logits| {
            let lse = log_sum_exp(logits);
            let i = (seq - 1) as usize;
            for (l, toks) in labels.iter().enumerate() {
                logprobs[i][l] += f64::from(logits[toks[0].0 as usize]) - lse;
            }
        })?;
        let t_items = t0.elapsed() - t_copy;
        // Phase B: the rest of each label's answer (its other tokens and the end of turn),
        // teacher-forced, one label at a time over all items; the label's cells are dropped
        // again before the next label.
        for (l, toks) in self.labels.iter().enumerate() {
            let mut slots: Vec<Slot> = Vec::new();
            for (i, &end) in ends.iter().enumerate() {
                for (j, t) in toks[..toks.len() - 1].iter().enumerate() {
                    slots.push((i as i32 + 1, end + j, *t, true));
                }
                tokens[i] += toks.len() - 1;
            }
            let ends_ref = &ends;
            decode_slots(
                &mut self.ctx,
                &mut self.batch,
                &slots,
                self.n_batch,
                |seq, pos, logits| {
                    let i = (seq - 1) as usize;
                    let j = pos - ends_ref[i]; // predicts toks[j + 1]
                    let lse = log_sum_exp(logits);
                    logprobs[i][l] += f64::from(logits[toks[j + 1].0 as usize]) - lse;
                },
            )?;
            for (i, &end) in ends.iter().enumerate() {
                let ok = self
                    .ctx
                    .clear_kv_cache_seq(Some(i as u32 + 1), Some(end as u32), None)
                    .map_err(|e| LlmError::Engine(e.to_string()))?;
                if !ok {
                    return Err(LlmError::Engine(
                        "could not drop label tokens from the KV cache".into(),
                    ));
                }
            }
        }
        tracing::debug!(
            items = texts.len(),
            item_tokens = slots.len(),
            copy_ms = t_copy.as_secs_f64() * 1e3,
            items_ms = t_items.as_secs_f64() * 1e3,
            labels_ms = (t0.elapsed() - t_copy - t_items).as_secs_f64() * 1e3,
            "scored a batch"
        );
        Ok(logprobs
            .into_iter()
            .zip(truncated)
            .zip(tokens)
            .map(|((lp, truncated), tokens)| Scored {
                probs: softmax(&lp),
                logprobs: lp,
                truncated,
                tokens,
            })
            .collect())
    }

    /// Shared cache: the items and all their label continuations in one decode
    /// (several when their tokens exceed `n_batch`: only for long items).
    fn score_chunk_shared(&mut self, texts: &[&str]) -> Result<Vec<Scored>, LlmError> {
        let (items, truncated) = self.item_tokens(texts)?;
        let branch_tokens: usize = self.labels.iter().map(|l| l.len() - 1).sum();
        let mut logprobs = Vec::with_capacity(items.len());
        let mut start = 0;
        while start < items.len() {
            // Greedy, in order: the same items always make the same decodes.
            let (mut end, mut rows) = (start, 0);
            while end < items.len()
                && (end == start || rows + items[end].len() + branch_tokens <= self.n_batch)
            {
                rows += items[end].len() + branch_tokens;
                end += 1;
            }
            logprobs.extend(self.decode_shared(&items[start..end])?);
            start = end;
        }
        Ok(logprobs
            .into_iter()
            .zip(truncated)
            .zip(&items)
            .map(|((lp, truncated), toks)| Scored {
                probs: softmax(&lp),
                logprobs: lp,
                truncated,
                tokens: toks.len() + branch_tokens,
            })
            .collect())
    }

    /// One decode of `items` (tokens after the prefix) in the shared cache: their label
    /// log-probs.
    fn decode_shared(&mut self, items: &[Vec<LlamaToken>]) -> Result<Vec<Vec<f64>>, LlmError> {
        let t0 = std::time::Instant::now();
        let e = |e: llama_cpp_2::context::kv_cache::KvCacheConversionError| {
            LlmError::Engine(e.to_string())
        };
        let add = |e: llama_cpp_2::llama_batch::BatchAddError| LlmError::Engine(e.to_string());
        let n_labels = self.labels.len();
        let n_items = self.batch_items;
        let branch_seq = |i: usize, l: usize| (1 + n_items + i * n_labels + l) as i32;
        let filler_seq = (1 + n_items * (1 + n_labels)) as i32;
        // Only the prefix stays: every other sequence's cells are freed, so each batch starts
        // from the same cache.
        for s in 1..=filler_seq {
            self.ctx.clear_kv_cache_seq(Some(s as u32), None, None).map_err(e)?;
        }
        self.batch.clear();
        let p0 = self.prefix_len;
        let mut last_at = Vec::with_capacity(items.len()); // batch index of each item's last token
        for (i, toks) in items.iter().enumerate() {
            let mut seqs = vec![i as i32 + 1];
            seqs.extend((0..n_labels).map(|l| branch_seq(i, l)));
            for &s in &seqs {
                self.ctx.copy_kv_cache_seq(0, s, None, None).map_err(e)?;
            }
            for (j, t) in toks.iter().enumerate() {
                let last = j + 1 == toks.len();
                self.batch.add(*t, (p0 + j) as i32, &seqs, last).map_err(add)?;
            }
            last_at.push(self.batch.n_tokens() - 1);
        }
        // Each label's answer but its last token after each item, in the branch sequence that
        // sees the prefix and that item only; token j's logits predict token j + 1.
        let mut branch_at = Vec::new(); // (item, label, j, batch index)
        for (i, toks) in items.iter().enumerate() {
            let end = p0 + toks.len();
            for (l, lt) in self.labels.iter().enumerate() {
                for (j, t) in lt[..lt.len() - 1].iter().enumerate() {
                    self.batch.add(*t, (end + j) as i32, &[branch_seq(i, l)], true).map_err(add)?;
                    branch_at.push((i, l, j, self.batch.n_tokens() - 1));
                }
            }
        }
        let rows = self.batch.n_tokens() as usize;
        for (j, t) in self.filler.iter().take(MIN_ROWS.saturating_sub(rows)).enumerate() {
            self.batch.add(*t, j as i32, &[filler_seq], false).map_err(add)?;
        }
        if self.batch.n_tokens() as usize > self.n_batch {
            return Err(LlmError::Engine(format!(
                "a batch of {} tokens exceeds n_batch {}",
                self.batch.n_tokens(),
                self.n_batch
            )));
        }
        self.ctx
            .decode(&mut self.batch)
            .map_err(|e| LlmError::Engine(format!("decode failed: {e}")))?;
        let mut logprobs = vec![vec![0.0f64; n_labels]; items.len()];
        for (i, &at) in last_at.iter().enumerate() {
            let logits = self.ctx.get_logits_ith(at);
            let lse = log_sum_exp(logits);
            for (l, toks) in self.labels.iter().enumerate() {
                logprobs[i][l] += f64::from(logits[toks[0].0 as usize]) - lse;
            }
        }
        for &(i, l, j, at) in &branch_at {
            let logits = self.ctx.get_logits_ith(at);
            logprobs[i][l] +=
                f64::from(logits[self.labels[l][j + 1].0 as usize]) - log_sum_exp(logits);
        }
        tracing::debug!(
            items = items.len(),
            rows,
            ms = t0.elapsed().as_secs_f64() * 1e3,
            "scored a batch (shared cache)"
        );
        Ok(logprobs)
    }

    /// Make `seq` a fresh copy of the prefix.
    fn reset_seq(&mut self, seq: i32) -> Result<(), LlmError> {
        let e = |e: llama_cpp_2::context::kv_cache::KvCacheConversionError| {
            LlmError::Engine(e.to_string())
        };
        self.ctx.clear_kv_cache_seq(Some(seq as u32), None, None).map_err(e)?;
        self.ctx.copy_kv_cache_seq(0, seq, None, None).map_err(e)?;
        Ok(())
    }
}

/// Decode `slots` in batches of at most `n_batch` tokens (more aborts llama.cpp), calling
/// `on_logits(seq, pos, logits)` for each slot that asked for logits.
fn decode_slots(
    ctx: &mut LlamaContext<'_>,
    batch: &mut LlamaBatch,
    slots: &[Slot],
    n_batch: usize,
    mut on_logits: impl FnMut(i32, usize, &[f32]),
) -> Result<(), LlmError> {
    for chunk in slots.chunks(n_batch) {
        batch.clear();
        for &(seq, pos, tok, logits) in chunk {
            batch
                .add(tok, pos as i32, &[seq], logits)
                .map_err(|e| LlmError::Engine(e.to_string()))?;
        }
        ctx.decode(batch).map_err(|e| LlmError::Engine(format!("decode failed: {e}")))?;
        for (k, &(seq, pos, _, logits)) in chunk.iter().enumerate() {
            if logits {
                on_logits(seq, pos, ctx.get_logits_ith(k as i32));
            }
        }
    }
    Ok(())
}

pub fn log_sum_exp(xs: &[f32]) -> f64 {
    let m = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    if !m.is_finite() {
        return m;
    }
    m + xs.iter().map(|&x| (f64::from(x) - m).exp()).sum::<f64>().ln()
}

pub fn softmax(xs: &[f64]) -> Vec<f64> {
    let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = xs.iter().map(|x| (x - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|x| x / s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_sums_to_one_and_is_stable() {
        let p = softmax(&[-1000.0, -1001.0]);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(p[0] > p[1]);
        assert!((log_sum_exp(&[0.0, 0.0]) - 2f64.ln()).abs() < 1e-9);
    }
}
