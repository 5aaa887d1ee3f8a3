//! Embedding throughput against raw prefill.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::prelabel::raw_prefill;
use crate::error::Result;
use crate::llm::embed::Embedder;
use crate::llm::{Engine, EngineOptions};

#[derive(Debug, Serialize)]
pub struct EmbedBench {
    pub model: String,
    pub threads: usize,
    pub items: usize,
    pub items_per_s: f64,
    pub tok_per_s: f64,
    pub raw_prefill_tok_per_s: f64,
    pub ratio_vs_raw: f64,
    pub dim: usize,
}

pub fn embed(
    model: &Path,
    threads: usize,
    gpu_layers: crate::llm::GpuLayers,
    batch_items: usize,
    texts: &[String],
) -> Result<EmbedBench> {
    let engine = Engine::load(model, EngineOptions { threads, gpu_layers })?;
    let raw = raw_prefill(&engine, 3)?;
    let mut e = Embedder::new(&engine, batch_items)?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    e.embed(&refs[..refs.len().min(2)])?;
    let t0 = Instant::now();
    let out = e.embed(&refs)?;
    let secs = t0.elapsed().as_secs_f64();
    let tokens: usize = out.iter().map(|x| x.tokens).sum();
    Ok(EmbedBench {
        model: model.display().to_string(),
        threads,
        items: texts.len(),
        items_per_s: texts.len() as f64 / secs,
        tok_per_s: tokens as f64 / secs,
        raw_prefill_tok_per_s: raw,
        ratio_vs_raw: tokens as f64 / secs / raw,
        dim: e.dim,
    })
}
