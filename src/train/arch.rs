//! The architectures the LoRA trainer can run, read from a GGUF's metadata. Each family's
//! forward is written out in `model.rs`; anything else is refused by name.

use candle_core::quantized::gguf_file::{Content, Value};

use super::TrainError;

/// Forward-pass variants. GGUF stores llama-family Q/K already permuted for llama.cpp's
/// "normal" (interleaved) rope; Qwen uses NEOX rope (halves).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Llama 2/3.x, SmolLM/SmolLM2, Mistral (general.architecture = "llama").
    Llama,
    /// Qwen2 / Qwen2.5: Q/K/V biases, NEOX rope.
    Qwen2,
    /// Qwen3: per-head RMS norm on Q and K, NEOX rope, no biases.
    Qwen3,
}

/// The shapes and constants of one model.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ArchConfig {
    /// `general.architecture`, copied into the adapter so llama.cpp accepts it.
    pub arch: String,
    pub family: Family,
    pub n_layer: usize,
    pub n_embd: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    pub n_ff: usize,
    pub n_vocab: usize,
    pub rope_base: f32,
    pub rms_eps: f32,
    pub n_ctx_train: usize,
}

impl ArchConfig {
    /// Read the configuration; refuse architectures without a forward here.
    pub fn from_gguf(content: &Content) -> Result<Self, TrainError> {
        let md = &content.metadata;
        let arch = match md.get("general.architecture") {
            Some(Value::String(s)) => s.clone(),
            _ => {
                return Err(TrainError::Unsupported("the GGUF has no general.architecture".into()))
            }
        };
        let family = match arch.as_str() {
            "llama" => Family::Llama,
            "qwen2" => Family::Qwen2,
            "qwen3" => Family::Qwen3,
            other => {
                return Err(TrainError::Unsupported(format!(
                    "architecture {other:?} has no LoRA trainer here (supported: llama — Llama, SmolLM2, Mistral — qwen2, qwen3); use --trainer external"
                )))
            }
        };
        let num = |key: &str| -> Option<f64> {
            match md.get(&format!("{arch}.{key}"))? {
                Value::U8(v) => Some(f64::from(*v)),
                Value::I8(v) => Some(f64::from(*v)),
                Value::U16(v) => Some(f64::from(*v)),
                Value::I16(v) => Some(f64::from(*v)),
                Value::U32(v) => Some(f64::from(*v)),
                Value::I32(v) => Some(f64::from(*v)),
                Value::U64(v) => Some(*v as f64),
                Value::I64(v) => Some(*v as f64),
                Value::F32(v) => Some(f64::from(*v)),
                Value::F64(v) => Some(*v),
                _ => None,
            }
        };
        let need = |key: &str| {
            num(key)
                .map(|v| v as usize)
                .ok_or_else(|| TrainError::Unsupported(format!("the GGUF lacks {arch}.{key}")))
        };
        let n_embd = need("embedding_length")?;
        let n_head = need("attention.head_count")?;
        let n_head_kv = num("attention.head_count_kv").map_or(n_head, |v| v as usize);
        let head_dim = num("attention.key_length").map_or(n_embd / n_head.max(1), |v| v as usize);
        let n_vocab =
            content.tensor_infos.get("token_embd.weight").map(|t| t.shape.dims()[0]).ok_or_else(
                || TrainError::Unsupported("the GGUF has no token_embd.weight".into()),
            )?;
        let cfg = Self {
            family,
            n_layer: need("block_count")?,
            n_embd,
            n_head,
            n_head_kv,
            head_dim,
            n_ff: need("feed_forward_length")?,
            n_vocab,
            rope_base: num("rope.freq_base").unwrap_or(10_000.0) as f32,
            rms_eps: num("attention.layer_norm_rms_epsilon").unwrap_or(1e-5) as f32,
            n_ctx_train: num("context_length").unwrap_or(0.0) as usize,
            arch,
        };
        if cfg.n_head == 0
            || cfg.n_head_kv == 0
            || !cfg.n_head.is_multiple_of(cfg.n_head_kv)
            || !cfg.head_dim.is_multiple_of(2)
        {
            return Err(TrainError::Unsupported(format!(
                "inconsistent attention shape: {} heads, {} KV heads, head size {}",
                cfg.n_head, cfg.n_head_kv, cfg.head_dim
            )));
        }
        if let Some(Value::String(kind)) = md.get(&format!("{}.rope.scaling.type", cfg.arch)) {
            if kind != "none" && !content.tensor_infos.contains_key("rope_freqs.weight") {
                return Err(TrainError::Unsupported(format!(
                    "rope scaling {kind:?} is not implemented in the trainer"
                )));
            }
        }
        Ok(cfg)
    }
}

pub use crate::config::Target;

impl Target {
    /// The tensor's name inside a block: `blk.N.<name>.weight`.
    pub fn gguf_name(self) -> &'static str {
        match self {
            Self::Q => "attn_q",
            Self::K => "attn_k",
            Self::V => "attn_v",
            Self::O => "attn_output",
            Self::Gate => "ffn_gate",
            Self::Up => "ffn_up",
            Self::Down => "ffn_down",
        }
    }

    pub fn from_gguf_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.gguf_name() == name)
    }

    /// (inputs, outputs) of this layer.
    pub fn shape(self, c: &ArchConfig) -> (usize, usize) {
        match self {
            Self::Q => (c.n_embd, c.n_head * c.head_dim),
            Self::K | Self::V => (c.n_embd, c.n_head_kv * c.head_dim),
            Self::O => (c.n_head * c.head_dim, c.n_embd),
            Self::Gate | Self::Up => (c.n_embd, c.n_ff),
            Self::Down => (c.n_ff, c.n_embd),
        }
    }
}
