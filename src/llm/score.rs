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
//! Multi-label projects ([`LabelScorer::per_label`]) ask about each label on its own: its two
//! answers `{label}: yes` and `{label}: no` are teacher-forced after the item and the label's
//! probability is e^yes / (e^yes + e^no), independent of the other labels'. With a tokenizer
//! that makes `yes` and `no` one token each after the colon, the two answers differ only in
//! their last token: each label is then one branch of `{label}:` and the two tokens' logits
//! are read at its end (the log-sum-exp cancels), as few tokens as a single label's answer.
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
    /// Single-label: sum of token log-probabilities of each label and the end of turn after
    /// it, in label order. Multi-label ([`LabelScorer::per_label`]): each label's log-odds
    /// that it applies, [`yes_no_log_odds`] of its two answers.
    pub logprobs: Vec<f64>,
    /// Single-label: `logprobs` normalised over the labels (sums to 1). Multi-label: each
    /// label's own probability that it applies, the logistic of its log-odds (they need not
    /// sum to 1).
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

/// What a [`LabelScorer`] reads off the logits.
#[derive(Debug, Clone, PartialEq)]
enum Answers {
    /// Single-label: each entry of `labels` is one label's whole answer (its tokens and the
    /// end of turn), its token log-probabilities summed; normalised over the labels.
    Labels,
    /// Multi-label, one branch per label: `labels[l]` is the tokens label `l`'s two answers
    /// share (`{label}:`) then the yes answer's last token; the branch feeds the shared tokens
    /// and reads the logits of the two last tokens, `(yes, no)` here, at its last position.
    NextToken(Vec<(LlamaToken, LlamaToken)>),
    /// Multi-label, whole answers (when the two answers differ in more than their last token):
    /// `labels[2l]` is label `l`'s yes answer and `labels[2l + 1]` its no answer, each scored
    /// like a single label's (without the end of turn).
    Whole,
}

pub struct LabelScorer<'e> {
    engine: &'e Engine,
    answers: Answers,
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
    /// A single-label scorer: each label scored as the assistant's whole answer, the scores
    /// normalised over the labels.
    pub fn new(engine: &'e Engine, spec: &ScorerSpec) -> Result<Self, LlmError> {
        let mut labels = Vec::new();
        for name in spec.labels {
            check_label(engine, name)?;
            // The label as the assistant's whole answer: its tokens, then the template's end
            // of turn (tokenized apart from the label, as training tokenizes it).
            labels.push(engine.chat_completion_tokens(name)?);
        }
        Self::build(engine, spec, labels, Answers::Labels)
    }

    /// A multi-label scorer: each label's independent probability that it applies, from the
    /// two answers about it, [`crate::multilabel::answer`] `{label}: yes` and `{label}: no`,
    /// teacher-forced after the item (without the end of turn): p = e^yes / (e^yes + e^no),
    /// the log-probabilities summed over each answer's tokens. The two answers share their
    /// tokens up to the last one whenever `yes` and `no` are single tokens after the colon
    /// (SmolLM2's tokenizer, and most): then each label is one branch of `{label}:` after the
    /// item and its probability the two last tokens' logits read at the branch's end, as
    /// cheap as a single label's answer. Otherwise both answers are scored whole, two branches
    /// per label.
    pub fn per_label(engine: &'e Engine, spec: &ScorerSpec) -> Result<Self, LlmError> {
        Self::per_label_with(engine, spec, false)
    }

    /// [`LabelScorer::per_label`], forced to score both answers whole (`whole`): the same
    /// numbers by the general route, to check the cheap one against (tests, benchmarks).
    pub fn per_label_with(
        engine: &'e Engine,
        spec: &ScorerSpec,
        whole: bool,
    ) -> Result<Self, LlmError> {
        let mut pairs = Vec::new();
        for name in spec.labels {
            check_label(engine, name)?;
            let yes = engine.tokenize_text(&crate::multilabel::answer(name, true));
            let no = engine.tokenize_text(&crate::multilabel::answer(name, false));
            pairs.push((yes, no));
        }
        let next_token = !whole
            && pairs.iter().all(|(y, n)| {
                y.len() == n.len()
                    && y.len() >= 2
                    && y[..y.len() - 1] == n[..n.len() - 1]
                    && y.last() != n.last()
            });
        if next_token {
            let ends = pairs.iter().map(|(y, n)| (y[y.len() - 1], n[n.len() - 1])).collect();
            let labels = pairs.into_iter().map(|(y, _)| y).collect();
            Self::build(engine, spec, labels, Answers::NextToken(ends))
        } else {
            let labels = pairs.into_iter().flat_map(|(y, n)| [y, n]).collect();
            Self::build(engine, spec, labels, Answers::Whole)
        }
    }

    /// Whether this multi-label scorer reads each label's two answers at one position (the
    /// cheap route of [`LabelScorer::per_label`]); false for single-label scorers.
    pub fn reads_next_token(&self) -> bool {
        matches!(self.answers, Answers::NextToken(_))
    }

    fn build(
        engine: &'e Engine,
        spec: &ScorerSpec,
        labels: Vec<Vec<LlamaToken>>,
        answers: Answers,
    ) -> Result<Self, LlmError> {
        let prefix = &spec.prefix.tokens;
        let suffix = engine.tokenize_template(spec.suffix, false);
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
            answers,
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
            let first = self.reads_first();
            slots.extend(
                toks.iter().enumerate().map(|(j, t)| (seq, p0 + j, *t, first && j == last)),
            );
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
        let answers = &self.answers;
        let t_items = t0.elapsed() - t_copy;
        // Phase B: the rest of each label's answer (its other tokens and the end of turn),
        // teacher-forced, one label at a time over all items; the label's cells are dropped
        // again before the next label.
        for (l, toks) in self.labels.iter().enumerate() {
            let mut slots: Vec<Slot> = Vec::new();
            for (i, &end) in ends.iter().enumerate() {
                for (j, t) in toks[..toks.len() - 1].iter().enumerate() {
                    slots.push((i as i32 + 1, end + j, *t, reads_at(answers, toks, j)));
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
                    logprobs[i][l] += branch_score(answers, toks, l, j, logits);
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
            .map(|((lp, truncated), tokens)| self.finish(lp, truncated, tokens))
            .collect())
    }

    /// Whether the logits at an item's last token are read (the first token of each answer).
    /// A multi-label branch always feeds `{label}:` first, so its answers are read later.
    fn reads_first(&self) -> bool {
        !matches!(self.answers, Answers::NextToken(_))
    }

    /// One item's [`Scored`] from its raw sums, one per entry of `labels`.
    fn finish(&self, raw: Vec<f64>, truncated: bool, tokens: usize) -> Scored {
        match self.answers {
            Answers::Labels => Scored { probs: softmax(&raw), logprobs: raw, truncated, tokens },
            Answers::NextToken(_) => Scored {
                probs: raw.iter().map(|&x| sigmoid(x)).collect(),
                logprobs: raw,
                truncated,
                tokens,
            },
            Answers::Whole => {
                let odds: Vec<f64> =
                    raw.chunks(2).map(|yn| yes_no_log_odds(yn[0], yn[1])).collect();
                Scored {
                    probs: odds.iter().map(|&x| sigmoid(x)).collect(),
                    logprobs: odds,
                    truncated,
                    tokens,
                }
            }
        }
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
            .map(|((lp, truncated), toks)| self.finish(lp, truncated, toks.len() + branch_tokens))
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
        let first = self.reads_first();
        for (i, toks) in items.iter().enumerate() {
            let mut seqs = vec![i as i32 + 1];
            seqs.extend((0..n_labels).map(|l| branch_seq(i, l)));
            for &s in &seqs {
                self.ctx.copy_kv_cache_seq(0, s, None, None).map_err(e)?;
            }
            for (j, t) in toks.iter().enumerate() {
                let last = first && j + 1 == toks.len();
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
                    let read = reads_at(&self.answers, lt, j);
                    self.batch.add(*t, (end + j) as i32, &[branch_seq(i, l)], read).map_err(add)?;
                    if read {
                        branch_at.push((i, l, j, self.batch.n_tokens() - 1));
                    }
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
        if first {
            for (i, &at) in last_at.iter().enumerate() {
                let logits = self.ctx.get_logits_ith(at);
                let lse = log_sum_exp(logits);
                for (l, toks) in self.labels.iter().enumerate() {
                    logprobs[i][l] += f64::from(logits[toks[0].0 as usize]) - lse;
                }
            }
        }
        for &(i, l, j, at) in &branch_at {
            let logits = self.ctx.get_logits_ith(at);
            logprobs[i][l] += branch_score(&self.answers, &self.labels[l], l, j, logits);
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

/// A label name the model can answer with.
fn check_label(engine: &Engine, name: &str) -> Result<(), LlmError> {
    if engine.tokenize_text(name).is_empty() {
        return Err(LlmError::Input(format!(
            "label {name:?} tokenizes to nothing with this model"
        )));
    }
    Ok(())
}

/// Whether the logits at branch position `j` of the continuation `toks` (which predict
/// `toks[j + 1]`) are read.
fn reads_at(answers: &Answers, toks: &[LlamaToken], j: usize) -> bool {
    match answers {
        Answers::NextToken(_) => j + 2 == toks.len(),
        _ => true,
    }
}

/// What branch position `j` of continuation `l` (tokens `toks`) adds to its raw score: the
/// log-probability of `toks[j + 1]`; for [`Answers::NextToken`], at the branch's end, the
/// log-odds of the yes token over the no token (the log-sum-exp cancels).
fn branch_score(answers: &Answers, toks: &[LlamaToken], l: usize, j: usize, logits: &[f32]) -> f64 {
    match answers {
        Answers::NextToken(ends) => {
            let (yes, no) = ends[l];
            f64::from(logits[yes.0 as usize]) - f64::from(logits[no.0 as usize])
        }
        _ => f64::from(logits[toks[j + 1].0 as usize]) - log_sum_exp(logits),
    }
}

/// A label's log-odds that it applies from the log-probabilities of its two answers:
/// log(e^yes / (e^yes + e^no)) − log(e^no / (e^yes + e^no)) = yes − no.
pub fn yes_no_log_odds(yes: f64, no: f64) -> f64 {
    yes - no
}

/// The probability that a label applies from its two answers' log-probabilities:
/// e^yes / (e^yes + e^no), computed stably.
pub fn yes_no_prob(yes: f64, no: f64) -> f64 {
    sigmoid(yes_no_log_odds(yes, no))
}

/// The logistic function 1 / (1 + e^−x), without overflow for large |x|.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
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
    fn yes_no_probabilities_are_independent_and_stable() {
        // Equal answers: even odds. e^-1 / (e^-1 + e^-3) = 1 / (1 + e^-2).
        assert!((yes_no_prob(-2.0, -2.0) - 0.5).abs() < 1e-15);
        let p = yes_no_prob(-1.0, -3.0);
        let direct = (-1f64).exp() / ((-1f64).exp() + (-3f64).exp());
        assert!((p - direct).abs() < 1e-15, "{p} vs {direct}");
        assert!((yes_no_prob(-3.0, -1.0) - (1.0 - direct)).abs() < 1e-15);
        // Far beyond exp's range on either side: no NaN, no overflow.
        assert_eq!(yes_no_prob(0.0, -2000.0), 1.0);
        assert_eq!(yes_no_prob(-2000.0, 0.0), 0.0);
        assert!(sigmoid(-700.0) > 0.0 && sigmoid(-700.0) < 1e-300);
        assert!((sigmoid(0.0) - 0.5).abs() < 1e-15);
        // Two labels' probabilities are not normalised against each other.
        let (a, b) = (yes_no_prob(-0.1, -2.0), yes_no_prob(-0.2, -2.5));
        assert!(a > 0.5 && b > 0.5 && a + b > 1.5);
    }

    #[test]
    fn softmax_sums_to_one_and_is_stable() {
        let p = softmax(&[-1000.0, -1001.0]);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(p[0] > p[1]);
        assert!((log_sum_exp(&[0.0, 0.0]) - 2f64.ln()).abs() < 1e-9);
    }
}
