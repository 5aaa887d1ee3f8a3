//! The base model's forward pass in candle, over the GGUF's own tensors dequantized to f32,
//! with LoRA on the chosen linear layers.
//!
//! Only ops with a backward are used (`ops::softmax` and `rms_norm_slow`, not the fused
//! kernels, which silently stop gradients). Frozen weights go through [`Frozen`], a matmul
//! whose backward computes only the input's gradient: candle's own matmul would also compute
//! the (discarded) weight gradient, doubling the backward's cost.
//!
//! Batches share the prompt prefix: the prefix is evaluated once per step, and every item
//! attends to its keys and values, so a step costs `prefix + Σ items` tokens rather than
//! `n × (prefix + item)`. Gradients flow into the prefix through those keys and values.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use candle_core::quantized::gguf_file::Content;
use candle_core::{CpuStorage, CustomOp1, DType, Device, IndexOp, Layout, Shape, Tensor, D};
use candle_nn::ops::{rms_norm_slow, softmax};
use candle_nn::rotary_emb::{rope_i_slow, rope_slow};

use super::arch::{ArchConfig, Family, Target};
use super::lora::Lora;
use super::TrainError;

/// `x · Wᵀ` for a frozen `W` (out × in): backward gives the input's gradient only.
struct Frozen(Tensor);

impl CustomOp1 for Frozen {
    fn name(&self) -> &'static str {
        "hifi-frozen-linear"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (start, end) = layout.contiguous_offsets().ok_or_else(|| candle_core::Error::Msg("frozen linear: input not contiguous".into()))?;
        let data = &storage.as_slice::<f32>()?[start..end];
        let x = Tensor::from_slice(data, layout.shape(), &Device::Cpu)?;
        let y = x.matmul(&self.0.t()?)?;
        let shape = y.shape().clone();
        Ok((CpuStorage::F32(y.flatten_all()?.to_vec1::<f32>()?), shape))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(grad.matmul(&self.0)?))
    }
}

fn frozen(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1_arc(std::sync::Arc::new(Box::new(Frozen(w.clone()))))
}

/// One transformer block's frozen tensors.
struct Block {
    attn_norm: Tensor,
    ffn_norm: Tensor,
    /// Weights by target, each (out × in).
    w: BTreeMap<Target, Tensor>,
    /// Qwen2's Q/K/V biases.
    bias: BTreeMap<Target, Tensor>,
    /// Qwen3's per-head norms.
    q_norm: Option<Tensor>,
    k_norm: Option<Tensor>,
}

/// The frozen base model.
pub struct BaseModel {
    pub cfg: ArchConfig,
    tok_embd: Tensor,
    /// `output.weight`, or the token embedding when tied.
    output: Tensor,
    output_norm: Tensor,
    blocks: Vec<Block>,
    /// Rope tables: (positions, head_dim / 2).
    cos: Tensor,
    sin: Tensor,
    device: Device,
    /// Use candle's own matmul for frozen weights (it also computes their gradients): only
    /// the benchmark's baseline turns this on.
    pub stock_matmul: bool,
}

/// One training example after the shared prefix: `tokens[..n_prompt]` is the item's part of
/// the prompt, `tokens[n_prompt..]` the answer the loss is taken on.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Example {
    pub tokens: Vec<u32>,
    pub n_prompt: usize,
}

impl BaseModel {
    /// Read and dequantize every tensor the forward needs.
    pub fn load(path: &Path) -> Result<Self, TrainError> {
        let shown = crate::text::inert(&path.display().to_string(), false);
        let bad = |e: candle_core::Error| TrainError::Model(format!("{shown}: {e}"));
        let mut f = BufReader::new(File::open(path).map_err(|e| TrainError::Model(format!("{shown}: {e}")))?);
        let content = Content::read(&mut f).map_err(|e| TrainError::Model(format!("{shown}: not a readable GGUF ({e})")))?;
        let cfg = ArchConfig::from_gguf(&content)?;
        let device = Device::Cpu;
        let mut get = |name: &str| -> Result<Tensor, TrainError> {
            if !content.tensor_infos.contains_key(name) {
                return Err(TrainError::Model(format!("{shown}: tensor {name} is missing")));
            }
            content.tensor(&mut f, name, &device).and_then(|q| q.dequantize(&device)).map_err(bad)
        };
        let tok_embd = get("token_embd.weight")?;
        let output = if content.tensor_infos.contains_key("output.weight") { get("output.weight")? } else { tok_embd.clone() };
        let output_norm = get("output_norm.weight")?;
        let mut blocks = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            let mut w = BTreeMap::new();
            for t in Target::ALL {
                let wt = get(&format!("blk.{i}.{}.weight", t.gguf_name()))?;
                let (n_in, n_out) = t.shape(&cfg);
                if wt.dims() != [n_out, n_in] {
                    return Err(TrainError::Model(format!("{shown}: blk.{i}.{} has shape {:?}, expected [{n_out}, {n_in}]", t.gguf_name(), wt.dims())));
                }
                w.insert(t, wt);
            }
            let mut bias = BTreeMap::new();
            if cfg.family == Family::Qwen2 {
                for t in [Target::Q, Target::K, Target::V] {
                    bias.insert(t, get(&format!("blk.{i}.{}.bias", t.gguf_name()))?);
                }
            }
            let (q_norm, k_norm) = if cfg.family == Family::Qwen3 {
                (Some(get(&format!("blk.{i}.attn_q_norm.weight"))?), Some(get(&format!("blk.{i}.attn_k_norm.weight"))?))
            } else {
                (None, None)
            };
            blocks.push(Block {
                attn_norm: get(&format!("blk.{i}.attn_norm.weight"))?,
                ffn_norm: get(&format!("blk.{i}.ffn_norm.weight"))?,
                w,
                bias,
                q_norm,
                k_norm,
            });
        }
        let freq_factors = if content.tensor_infos.contains_key("rope_freqs.weight") {
            Some(get("rope_freqs.weight")?.to_vec1::<f32>().map_err(bad)?)
        } else {
            None
        };
        let max_pos = cfg.n_ctx_train.clamp(512, 8192);
        let half = cfg.head_dim / 2;
        let inv: Vec<f32> = (0..half)
            .map(|i| {
                let f = 1.0 / cfg.rope_base.powf(2.0 * i as f32 / cfg.head_dim as f32);
                f / freq_factors.as_ref().and_then(|ff| ff.get(i)).copied().unwrap_or(1.0)
            })
            .collect();
        let mut cos = Vec::with_capacity(max_pos * half);
        let mut sin = Vec::with_capacity(max_pos * half);
        for p in 0..max_pos {
            for f in &inv {
                let a = p as f32 * f;
                cos.push(a.cos());
                sin.push(a.sin());
            }
        }
        let cos = Tensor::from_vec(cos, (max_pos, half), &device).map_err(bad)?;
        let sin = Tensor::from_vec(sin, (max_pos, half), &device).map_err(bad)?;
        Ok(Self { cfg, tok_embd, output, output_norm, blocks, cos, sin, device, stock_matmul: false })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The longest prefix + item the rope tables cover.
    pub fn max_positions(&self) -> usize {
        self.cos.dim(0).unwrap_or(0)
    }

    fn linear(&self, layer: usize, t: Target, x: &Tensor, lora: Option<&Lora>) -> candle_core::Result<Tensor> {
        let b = &self.blocks[layer];
        let mut y = if self.stock_matmul { x.matmul(&b.w[&t].t()?)? } else { frozen(x, &b.w[&t])? };
        if let Some(bias) = b.bias.get(&t) {
            y = y.broadcast_add(bias)?;
        }
        if let Some(l) = lora {
            if let Some(delta) = l.delta(layer, t, x)? {
                y = (y + delta)?;
            }
        }
        Ok(y)
    }

    fn rope(&self, x: &Tensor, start: usize) -> candle_core::Result<Tensor> {
        let t = x.dim(2)?;
        let cos = self.cos.narrow(0, start, t)?;
        let sin = self.sin.narrow(0, start, t)?;
        match self.cfg.family {
            Family::Llama => rope_i_slow(x, &cos, &sin),
            Family::Qwen2 | Family::Qwen3 => rope_slow(x, &cos, &sin),
        }
    }

    /// (b, n_kv, t, d) → (b, n_head, t, d).
    fn repeat_kv(&self, x: Tensor) -> candle_core::Result<Tensor> {
        let rep = self.cfg.n_head / self.cfg.n_head_kv;
        if rep == 1 {
            return Ok(x);
        }
        let (b, h, t, d) = x.dims4()?;
        x.unsqueeze(2)?.broadcast_as((b, h, rep, t, d))?.reshape((b, h * rep, t, d))
    }

    /// Final hidden states (after the output norm), rows: the prefix's `P` positions, then
    /// item 0's `T` positions, item 1's, … (items right-padded to `T`).
    pub fn hidden(&self, lora: Option<&Lora>, prefix: &[u32], items: &[Vec<u32>]) -> candle_core::Result<(Tensor, usize)> {
        let c = &self.cfg;
        let p = prefix.len();
        let n = items.len();
        let t = items.iter().map(Vec::len).max().unwrap_or(0);
        if n == 0 || t == 0 {
            candle_core::bail!("no item tokens");
        }
        if p + t > self.max_positions() {
            candle_core::bail!("prefix ({p}) + item ({t}) tokens exceed the {} positions the trainer supports", self.max_positions());
        }
        let mut ids: Vec<u32> = prefix.to_vec();
        for it in items {
            ids.extend_from_slice(it);
            ids.extend(std::iter::repeat_n(0u32, t - it.len()));
        }
        let ids = Tensor::new(ids.as_slice(), &self.device)?;
        let mut h = self.tok_embd.index_select(&ids, 0)?; // (P + n·T, d)
        let scale = 1.0 / (c.head_dim as f64).sqrt();
        let mask_p = causal_mask(p, 0, &self.device)?;
        let mask_i = causal_mask(t, p, &self.device)?;
        for (l, blk) in self.blocks.iter().enumerate() {
            let x = rms_norm_slow(&h, &blk.attn_norm, c.rms_eps)?;
            let q = self.linear(l, Target::Q, &x, lora)?;
            let k = self.linear(l, Target::K, &x, lora)?;
            let v = self.linear(l, Target::V, &x, lora)?;
            let (q, k) = match (&blk.q_norm, &blk.k_norm) {
                (Some(qn), Some(kn)) => (
                    rms_norm_slow(&q.reshape(((), c.head_dim))?, qn, c.rms_eps)?.reshape(q.shape())?,
                    rms_norm_slow(&k.reshape(((), c.head_dim))?, kn, c.rms_eps)?.reshape(k.shape())?,
                ),
                _ => (q, k),
            };
            // Split into the prefix stream (1, heads, P, d) and the items (n, heads, T, d).
            let split = |z: &Tensor, heads: usize| -> candle_core::Result<(Option<Tensor>, Tensor)> {
                let zp = if p > 0 { Some(z.narrow(0, 0, p)?.reshape((1, p, heads, c.head_dim))?.transpose(1, 2)?.contiguous()?) } else { None };
                let zi = z.narrow(0, p, n * t)?.reshape((n, t, heads, c.head_dim))?.transpose(1, 2)?.contiguous()?;
                Ok((zp, zi))
            };
            let (qp, qi) = split(&q, c.n_head)?;
            let (kp, ki) = split(&k, c.n_head_kv)?;
            let (vp, vi) = split(&v, c.n_head_kv)?;
            let qi = self.rope(&qi, p)?;
            let ki = self.repeat_kv(self.rope(&ki, p)?)?;
            let vi = self.repeat_kv(vi)?;
            let mut outs = Vec::with_capacity(2);
            let (keys, vals) = match (qp, kp, vp) {
                (Some(qp), Some(kp), Some(vp)) => {
                    let qp = self.rope(&qp, 0)?;
                    let kp = self.repeat_kv(self.rope(&kp, 0)?)?;
                    let vp = self.repeat_kv(vp)?;
                    let att = (qp.matmul(&kp.t()?)? * scale)?.broadcast_add(&mask_p)?;
                    let op = softmax(&att, D::Minus1)?.matmul(&vp)?; // (1, h, P, d)
                    outs.push(op.transpose(1, 2)?.reshape((p, c.n_head * c.head_dim))?);
                    let kb = kp.broadcast_as((n, c.n_head, p, c.head_dim))?;
                    let vb = vp.broadcast_as((n, c.n_head, p, c.head_dim))?;
                    (Tensor::cat(&[&kb, &ki], 2)?.contiguous()?, Tensor::cat(&[&vb, &vi], 2)?.contiguous()?)
                }
                _ => (ki, vi),
            };
            let att = (qi.matmul(&keys.t()?)? * scale)?.broadcast_add(&mask_i)?;
            let oi = softmax(&att, D::Minus1)?.matmul(&vals)?; // (n, h, T, d)
            outs.push(oi.transpose(1, 2)?.reshape((n * t, c.n_head * c.head_dim))?);
            let o = Tensor::cat(&outs, 0)?;
            h = (h + self.linear(l, Target::O, &o, lora)?)?;
            let x = rms_norm_slow(&h, &blk.ffn_norm, c.rms_eps)?;
            let g = self.linear(l, Target::Gate, &x, lora)?.silu()?;
            let u = self.linear(l, Target::Up, &x, lora)?;
            h = (h + self.linear(l, Target::Down, &(g * u)?, lora)?)?;
        }
        Ok((rms_norm_slow(&h, &self.output_norm, c.rms_eps)?, t))
    }

    /// Logits (rows × vocab) of the given rows of [`Self::hidden`]'s output.
    pub fn logits_of(&self, hidden: &Tensor, rows: &[u32]) -> candle_core::Result<Tensor> {
        let idx = Tensor::new(rows, &self.device)?;
        frozen(&hidden.index_select(&idx, 0)?, &self.output)
    }

    /// Mean cross-entropy over the answer tokens of `examples`, and the number of them.
    pub fn loss(&self, lora: Option<&Lora>, prefix: &[u32], examples: &[&Example]) -> candle_core::Result<(Tensor, usize)> {
        let items: Vec<Vec<u32>> = examples.iter().map(|e| e.tokens.clone()).collect();
        let (h, t) = self.hidden(lora, prefix, &items)?;
        let p = prefix.len();
        let mut rows = Vec::new();
        let mut targets = Vec::new();
        for (b, e) in examples.iter().enumerate() {
            for j in e.n_prompt.max(1)..e.tokens.len() {
                rows.push((p + b * t + j - 1) as u32);
                targets.push(e.tokens[j]);
            }
        }
        if rows.is_empty() {
            candle_core::bail!("the batch has no answer tokens");
        }
        let logits = self.logits_of(&h, &rows)?;
        let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
        let tgt = Tensor::new(targets.as_slice(), &self.device)?.unsqueeze(1)?;
        let picked = logp.gather(&tgt, 1)?.squeeze(1)?;
        let loss = (picked.sum_all()?.neg()? / rows.len() as f64)?;
        Ok((loss, rows.len()))
    }

    /// Logits at every position of `prefix + item` (rows × vocab), as f32 rows.
    pub fn logits(&self, lora: Option<&Lora>, prefix: &[u32], item: &[u32]) -> candle_core::Result<Vec<Vec<f32>>> {
        let (h, _) = self.hidden(lora, prefix, &[item.to_vec()])?;
        let rows: Vec<u32> = (0..(prefix.len() + item.len()) as u32).collect();
        self.logits_of(&h, &rows)?.to_dtype(DType::F32)?.to_vec2::<f32>()
    }

    /// Row `i` of the token embedding (tests).
    pub fn embedding_row(&self, i: usize) -> candle_core::Result<Vec<f32>> {
        self.tok_embd.i(i)?.to_vec1::<f32>()
    }
}

/// (rows, offset + rows): row i may see columns ≤ offset + i.
fn causal_mask(rows: usize, offset: usize, device: &Device) -> candle_core::Result<Tensor> {
    let cols = offset + rows;
    let m: Vec<f32> = (0..rows).flat_map(|i| (0..cols).map(move |j| if j <= offset + i { 0.0 } else { f32::NEG_INFINITY })).collect();
    Tensor::from_vec(m, (rows, cols), device)
}
