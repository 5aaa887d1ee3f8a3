//! The llama.cpp embedder behind `hifi embed`: mean-pooled, L2-normalised vectors, a batch of
//! texts at a time.

use llama_cpp_2::context::params::LlamaPoolingType;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;

use super::engine::{context_params, Engine, LlmError};

/// Texts longer than this many tokens are cut before embedding.
pub const MAX_EMBED_TOKENS: usize = 512;

/// Embeds texts with mean pooling. Every text of a batch lies inside one micro-batch
/// (n_ubatch = n_batch): llama.cpp pools only the last micro-batch of a sequence otherwise.
pub struct Embedder<'e> {
    engine: &'e Engine,
    ctx: LlamaContext<'e>,
    batch: LlamaBatch<'static>,
    n_batch: usize,
    n_seq: usize,
    pub dim: usize,
}

/// One embedded text.
pub struct Embedded {
    pub vector: Vec<f32>,
    pub truncated: bool,
    pub tokens: usize,
}

impl<'e> Embedder<'e> {
    pub fn new(engine: &'e Engine, n_seq: usize) -> Result<Self, LlmError> {
        let n_seq = n_seq.clamp(1, 64);
        let n_batch = 2 * MAX_EMBED_TOKENS;
        // Each sequence gets n_ctx / n_seq cells; one text is at most MAX_EMBED_TOKENS.
        let n_ctx = (n_seq * MAX_EMBED_TOKENS).max(n_batch);
        // A unified KV cache: with separate per-sequence caches llama.cpp splits a packed batch
        // into equal per-sequence micro-batches, cutting texts apart (and pooling would then
        // see only a text's last piece).
        let params = context_params(n_ctx as u32, n_batch as u32, n_seq as u32)
            .with_kv_unified(true)
            .with_embeddings(true)
            .with_pooling_type(LlamaPoolingType::Mean);
        let ctx = engine.context(params)?;
        let dim = engine.model.n_embd().max(0) as usize;
        Ok(Self { engine, ctx, batch: LlamaBatch::new(n_batch, 1), n_batch, n_seq, dim })
    }

    /// Embed `texts`, packing as many as fit into each decode.
    pub fn embed(&mut self, texts: &[&str]) -> Result<Vec<Embedded>, LlmError> {
        let mut toks: Vec<(Vec<llama_cpp_2::token::LlamaToken>, bool)> = texts
            .iter()
            .map(|t| {
                let (mut v, cut) = self.engine.item_tokens(t, MAX_EMBED_TOKENS, &[]);
                if v.is_empty() {
                    v = self.engine.tokenize_text(" ");
                }
                (v, cut)
            })
            .collect();
        let mut out = Vec::with_capacity(texts.len());
        let mut start = 0;
        while start < toks.len() {
            let mut end = start;
            let mut used = 0;
            while end < toks.len()
                && end - start < self.n_seq
                && used + toks[end].0.len() <= self.n_batch
            {
                used += toks[end].0.len();
                end += 1;
            }
            self.ctx.clear_kv_cache();
            self.batch.clear();
            for (s, (t, _)) in toks[start..end].iter().enumerate() {
                for (p, tok) in t.iter().enumerate() {
                    self.batch
                        .add(*tok, p as i32, &[s as i32], true)
                        .map_err(|e| LlmError::Engine(e.to_string()))?;
                }
            }
            self.ctx
                .decode(&mut self.batch)
                .map_err(|e| LlmError::Engine(format!("decode failed: {e}")))?;
            for (s, (t, cut)) in toks[start..end].iter_mut().enumerate() {
                let v = self
                    .ctx
                    .embeddings_seq_ith(s as i32)
                    .map_err(|e| LlmError::Engine(format!("no pooled embedding: {e}")))?;
                out.push(Embedded { vector: l2_normalised(v), truncated: *cut, tokens: t.len() });
            }
            start = end;
        }
        Ok(out)
    }
}

pub fn l2_normalised(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| f64::from(*x) * f64::from(*x)).sum::<f64>().sqrt();
    if n > 0.0 {
        v.iter().map(|x| (f64::from(*x) / n) as f32).collect()
    } else {
        v.to_vec()
    }
}
