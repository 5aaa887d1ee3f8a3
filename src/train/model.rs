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

use candle_core::backprop::GradStore;
use candle_core::quantized::gguf_file::Content;
use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Shape, Tensor, Var, D};
use candle_nn::ops::rms_norm_slow;
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

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (start, end) = layout
            .contiguous_offsets()
            .ok_or_else(|| candle_core::Error::Msg("frozen linear: input not contiguous".into()))?;
        let data = &storage.as_slice::<f32>()?[start..end];
        let x = Tensor::from_slice(data, layout.shape(), &Device::Cpu)?;
        let y = x.matmul(&self.0.t()?)?;
        let shape = y.shape().clone();
        Ok((CpuStorage::F32(y.flatten_all()?.to_vec1::<f32>()?), shape))
    }

    fn bwd(
        &self,
        _arg: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(grad.matmul(&self.0)?))
    }
}

fn frozen(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    if !x.device().is_cpu() {
        // The custom op is CPU-only; on a GPU the weight gradient's cost is small.
        return x.matmul(&w.t()?);
    }
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
        let mut f = BufReader::new(
            File::open(path).map_err(|e| TrainError::Model(format!("{shown}: {e}")))?,
        );
        let content = Content::read(&mut f)
            .map_err(|e| TrainError::Model(format!("{shown}: not a readable GGUF ({e})")))?;
        let cfg = ArchConfig::from_gguf(&content)?;
        // A CUDA build trains on the first GPU when there is one.
        #[cfg(feature = "cuda")]
        let device = Device::new_cuda(0).unwrap_or_else(|e| {
            crate::llm::device::say_once(&format!(
                "no GPU for LoRA training (CUDA: {}): it runs on the CPU",
                crate::llm::device::cuda_error_text(&e.to_string())
            ));
            Device::Cpu
        });
        #[cfg(not(feature = "cuda"))]
        let device = Device::Cpu;
        let mut get = |name: &str| -> Result<Tensor, TrainError> {
            if !content.tensor_infos.contains_key(name) {
                return Err(TrainError::Model(format!("{shown}: tensor {name} is missing")));
            }
            content.tensor(&mut f, name, &device).and_then(|q| q.dequantize(&device)).map_err(bad)
        };
        let tok_embd = get("token_embd.weight")?;
        let output = if content.tensor_infos.contains_key("output.weight") {
            get("output.weight")?
        } else {
            tok_embd.clone()
        };
        let output_norm = get("output_norm.weight")?;
        let mut blocks = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            let mut w = BTreeMap::new();
            for t in Target::ALL {
                let wt = get(&format!("blk.{i}.{}.weight", t.gguf_name()))?;
                let (n_in, n_out) = t.shape(&cfg);
                if wt.dims() != [n_out, n_in] {
                    return Err(TrainError::Model(format!(
                        "{shown}: blk.{i}.{} has shape {:?}, expected [{n_out}, {n_in}]",
                        t.gguf_name(),
                        wt.dims()
                    )));
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
                (
                    Some(get(&format!("blk.{i}.attn_q_norm.weight"))?),
                    Some(get(&format!("blk.{i}.attn_k_norm.weight"))?),
                )
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
        Ok(Self {
            cfg,
            tok_embd,
            output,
            output_norm,
            blocks,
            cos,
            sin,
            device,
            stock_matmul: false,
        })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The longest prefix + item the rope tables cover.
    pub fn max_positions(&self) -> usize {
        self.cos.dim(0).unwrap_or(0)
    }

    fn linear(
        &self,
        layer: usize,
        t: Target,
        x: &Tensor,
        lora: Option<&Lora>,
    ) -> candle_core::Result<Tensor> {
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
    pub fn hidden(
        &self,
        lora: Option<&Lora>,
        prefix: &[u32],
        items: &[Vec<u32>],
    ) -> candle_core::Result<(Tensor, usize)> {
        let (mut h, shape) = self.embed(prefix, items)?;
        for l in 0..self.blocks.len() {
            h = self.block(l, &h, lora, shape)?;
        }
        Ok((rms_norm_slow(&h, &self.output_norm, self.cfg.rms_eps)?, shape.t))
    }

    /// The token embeddings of the prefix and the right-padded items, as rows.
    fn embed(&self, prefix: &[u32], items: &[Vec<u32>]) -> candle_core::Result<(Tensor, Rows)> {
        let p = prefix.len();
        let n = items.len();
        let t = items.iter().map(Vec::len).max().unwrap_or(0);
        if n == 0 || t == 0 {
            candle_core::bail!("no item tokens");
        }
        if p + t > self.max_positions() {
            candle_core::bail!(
                "prefix ({p}) + item ({t}) tokens exceed the {} positions the trainer supports",
                self.max_positions()
            );
        }
        let mut ids: Vec<u32> = prefix.to_vec();
        for it in items {
            ids.extend_from_slice(it);
            ids.extend(std::iter::repeat_n(0u32, t - it.len()));
        }
        let ids = Tensor::new(ids.as_slice(), &self.device)?;
        Ok((self.tok_embd.index_select(&ids, 0)?, Rows { p, n, t }))
    }

    /// Transformer block `l` on the rows `h` (P + n·T, d).
    fn block(
        &self,
        l: usize,
        h: &Tensor,
        lora: Option<&Lora>,
        Rows { p, n, t }: Rows,
    ) -> candle_core::Result<Tensor> {
        let c = &self.cfg;
        let blk = &self.blocks[l];
        let scale = 1.0 / (c.head_dim as f32).sqrt();
        let x = rms_norm_slow(h, &blk.attn_norm, c.rms_eps)?;
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
            let zp = if p > 0 {
                Some(
                    z.narrow(0, 0, p)?
                        .reshape((1, p, heads, c.head_dim))?
                        .transpose(1, 2)?
                        .contiguous()?,
                )
            } else {
                None
            };
            let zi = z
                .narrow(0, p, n * t)?
                .reshape((n, t, heads, c.head_dim))?
                .transpose(1, 2)?
                .contiguous()?;
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
                let att = causal_softmax(&qp.matmul(&kp.t()?)?, scale, 0)?;
                let op = att.matmul(&vp)?; // (1, h, P, d)
                outs.push(op.transpose(1, 2)?.reshape((p, c.n_head * c.head_dim))?);
                let kb = kp.broadcast_as((n, c.n_head, p, c.head_dim))?;
                let vb = vp.broadcast_as((n, c.n_head, p, c.head_dim))?;
                (
                    Tensor::cat(&[&kb, &ki], 2)?.contiguous()?,
                    Tensor::cat(&[&vb, &vi], 2)?.contiguous()?,
                )
            }
            _ => (ki, vi),
        };
        let att = causal_softmax(&qi.matmul(&keys.t()?)?, scale, p)?;
        let oi = att.matmul(&vals)?; // (n, h, T, d)
        outs.push(oi.transpose(1, 2)?.reshape((n * t, c.n_head * c.head_dim))?);
        let o = Tensor::cat(&outs, 0)?;
        let h = (h + self.linear(l, Target::O, &o, lora)?)?;
        let x = rms_norm_slow(&h, &blk.ffn_norm, c.rms_eps)?;
        let g = self.linear(l, Target::Gate, &x, lora)?.silu()?;
        let u = self.linear(l, Target::Up, &x, lora)?;
        h + self.linear(l, Target::Down, &(g * u)?, lora)?
    }

    /// Logits (rows × vocab) of the given rows of [`Self::hidden`]'s output.
    pub fn logits_of(&self, hidden: &Tensor, rows: &[u32]) -> candle_core::Result<Tensor> {
        let idx = Tensor::new(rows, &self.device)?;
        frozen(&hidden.index_select(&idx, 0)?, &self.output)
    }

    /// The rows of the hidden states that predict answer tokens, and those tokens.
    fn answer_rows(p: usize, t: usize, examples: &[&Example]) -> (Vec<u32>, Vec<u32>) {
        let mut rows = Vec::new();
        let mut targets = Vec::new();
        for (b, e) in examples.iter().enumerate() {
            for j in e.n_prompt.max(1)..e.tokens.len() {
                rows.push((p + b * t + j - 1) as u32);
                targets.push(e.tokens[j]);
            }
        }
        (rows, targets)
    }

    /// Mean cross-entropy of `targets` predicted from `rows` of the final hidden states.
    fn head_loss(&self, h: &Tensor, rows: &[u32], targets: &[u32]) -> candle_core::Result<Tensor> {
        if rows.is_empty() {
            candle_core::bail!("the batch has no answer tokens");
        }
        let h = rms_norm_slow(h, &self.output_norm, self.cfg.rms_eps)?;
        let logits = self.logits_of(&h, rows)?;
        let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
        let tgt = Tensor::new(targets, &self.device)?.unsqueeze(1)?;
        let picked = logp.gather(&tgt, 1)?.squeeze(1)?;
        picked.sum_all()?.neg()? / rows.len() as f64
    }

    /// Mean cross-entropy over the answer tokens of `examples`, and the number of them.
    pub fn loss(
        &self,
        lora: Option<&Lora>,
        prefix: &[u32],
        examples: &[&Example],
    ) -> candle_core::Result<(Tensor, usize)> {
        let items: Vec<Vec<u32>> = examples.iter().map(|e| e.tokens.clone()).collect();
        let (mut h, shape) = self.embed(prefix, &items)?;
        for l in 0..self.blocks.len() {
            h = self.block(l, &h, lora, shape)?;
        }
        let (rows, targets) = Self::answer_rows(shape.p, shape.t, examples);
        Ok((self.head_loss(&h, &rows, &targets)?, rows.len()))
    }

    /// The loss and the gradients of the LoRA weights. With `checkpoint`, only each block's
    /// input is kept through the forward pass and each block is recomputed during the
    /// backward one: memory of one block's activations instead of all of them, for about a
    /// third more compute.
    pub fn loss_and_grads(
        &self,
        lora: &Lora,
        prefix: &[u32],
        examples: &[&Example],
        checkpoint: bool,
    ) -> candle_core::Result<(f64, GradStore)> {
        if !checkpoint {
            let (loss, _) = self.loss(Some(lora), prefix, examples)?;
            let grads = loss.backward()?;
            return Ok((f64::from(loss.to_scalar::<f32>()?), grads));
        }
        let items: Vec<Vec<u32>> = examples.iter().map(|e| e.tokens.clone()).collect();
        let (h0, shape) = self.embed(prefix, &items)?;
        let mut inputs = Vec::with_capacity(self.blocks.len() + 1);
        inputs.push(h0);
        for l in 0..self.blocks.len() {
            let next = self.block(l, &inputs[l], Some(lora), shape)?.detach();
            inputs.push(next);
        }
        let (rows, targets) = Self::answer_rows(shape.p, shape.t, examples);
        let top = Var::from_tensor(&inputs[self.blocks.len()])?;
        let loss = self.head_loss(top.as_tensor(), &rows, &targets)?;
        let loss_v = f64::from(loss.to_scalar::<f32>()?);
        let mut head = loss.backward()?;
        let mut upstream = head
            .remove(top.as_tensor())
            .ok_or_else(|| candle_core::Error::Msg("no gradient reached the last block".into()))?;
        let mut all = GradStore::default();
        for l in (0..self.blocks.len()).rev() {
            let input = Var::from_tensor(&inputs[l])?;
            let out = self.block(l, input.as_tensor(), Some(lora), shape)?;
            let mut grads = (out * &upstream)?.sum_all()?.backward()?;
            for t in Target::ALL {
                if let Some(pair) = lora.pairs.get(&(l, t)) {
                    for v in [&pair.a, &pair.b] {
                        if let Some(g) = grads.remove(v.as_tensor()) {
                            all.insert(v.as_tensor(), g);
                        }
                    }
                }
            }
            if l > 0 {
                upstream = grads.remove(input.as_tensor()).ok_or_else(|| {
                    candle_core::Error::Msg(format!("no gradient reached block {l}'s input"))
                })?;
            }
        }
        Ok((loss_v, all))
    }

    /// Rough bytes of activations one training step keeps without checkpointing.
    pub fn activation_bytes(&self, prefix: usize, batch: usize, item_tokens: usize) -> u64 {
        let c = &self.cfg;
        let rows = (prefix + batch * item_tokens) as u64;
        let per_row =
            24 * c.n_embd as u64 + 8 * (c.n_head * c.head_dim) as u64 + 10 * c.n_ff as u64;
        let attention = c.n_head as u64
            * (prefix * prefix + batch * item_tokens * (prefix + item_tokens)) as u64
            * 3;
        4 * c.n_layer as u64 * (rows * per_row + attention)
    }

    /// Logits at every position of `prefix + item` (rows × vocab), as f32 rows.
    pub fn logits(
        &self,
        lora: Option<&Lora>,
        prefix: &[u32],
        item: &[u32],
    ) -> candle_core::Result<Vec<Vec<f32>>> {
        let (h, _) = self.hidden(lora, prefix, &[item.to_vec()])?;
        let rows: Vec<u32> = (0..(prefix.len() + item.len()) as u32).collect();
        self.logits_of(&h, &rows)?.to_dtype(DType::F32)?.to_vec2::<f32>()
    }
}

/// How the rows of a batch are laid out: the prefix's `p`, then `n` items of `t` each.
#[derive(Debug, Clone, Copy)]
struct Rows {
    p: usize,
    n: usize,
    t: usize,
}

/// Softmax over the last dimension of `scale · scores`, where row `i` (of the second-to-last
/// dimension) sees only columns `≤ offset + i`: one pass and one saved tensor instead of
/// the scale / mask / max / exp / sum / divide chain (whose intermediates a backward keeps).
struct CausalSoftmax {
    scale: f32,
    offset: usize,
}

impl CustomOp1 for CausalSoftmax {
    fn name(&self) -> &'static str {
        "hifi-causal-softmax"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        use rayon::prelude::*;
        let (start, end) = layout.contiguous_offsets().ok_or_else(|| {
            candle_core::Error::Msg("causal softmax: input not contiguous".into())
        })?;
        let src = &storage.as_slice::<f32>()?[start..end];
        let dims = layout.dims();
        let (cols, rows) = match dims {
            [.., r, c] => (*c, *r),
            _ => candle_core::bail!("causal softmax needs at least 2 dimensions"),
        };
        let mut out = vec![0f32; src.len()];
        out.par_chunks_mut(cols).zip(src.par_chunks(cols)).enumerate().for_each(|(r, (o, s))| {
            let seen = (self.offset + r % rows + 1).min(cols);
            let m = s[..seen].iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0f32;
            for j in 0..seen {
                let e = ((s[j] - m) * self.scale).exp();
                o[j] = e;
                sum += e;
            }
            let inv = 1.0 / sum;
            for x in &mut o[..seen] {
                *x *= inv;
            }
        });
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(
        &self,
        _arg: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        // d/ds of softmax(scale·s): scale · y ⊙ (g − Σ g⊙y); masked entries have y = 0.
        let gy = (grad * res)?;
        let dot = gy.sum_keepdim(D::Minus1)?;
        Ok(Some(((gy - res.broadcast_mul(&dot)?)? * f64::from(self.scale))?))
    }
}

fn causal_softmax(scores: &Tensor, scale: f32, offset: usize) -> candle_core::Result<Tensor> {
    if !scores.device().is_cpu() {
        let (rows, cols) = (scores.dim(D::Minus2)?, scores.dim(D::Minus1)?);
        let m: Vec<f32> = (0..rows)
            .flat_map(|i| {
                (0..cols).map(move |j| if j <= offset + i { 0.0 } else { f32::NEG_INFINITY })
            })
            .collect();
        let mask = Tensor::from_vec(m, (rows, cols), scores.device())?;
        return candle_nn::ops::softmax(
            &(scores * f64::from(scale))?.broadcast_add(&mask)?,
            D::Minus1,
        );
    }
    scores.contiguous()?.apply_op1(CausalSoftmax { scale, offset })
}
