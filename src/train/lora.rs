//! LoRA weights as trainable variables, and their GGUF adapter file.
//!
//! llama.cpp's adapter format: metadata `general.architecture` (the base's), `general.type`
//! = "adapter", `adapter.type` = "lora", `adapter.lora.alpha`; tensors
//! `blk.N.<target>.weight.lora_a` with ggml shape `[n_in, r]` and `.lora_b` with `[r, n_out]`,
//! i.e. candle shapes (r × n_in) and (n_out × r). The effect is `W·x + (alpha/r)·B(A·x)`.

use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::path::Path;

use candle_core::quantized::gguf_file::{self, Content, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};

use super::arch::{ArchConfig, Target};
use super::TrainError;

/// One adapted layer: A (r × n_in), B (n_out × r).
pub struct LoraPair {
    pub a: Var,
    pub b: Var,
}

/// A LoRA over some targets of every block.
pub struct Lora {
    pub arch: String,
    pub rank: usize,
    pub alpha: f32,
    pub pairs: BTreeMap<(usize, Target), LoraPair>,
}

impl Lora {
    /// Fresh weights: A uniform in ±1/√n_in (PEFT's default), B zero, so the model starts
    /// exactly at the base.
    pub fn init(
        cfg: &ArchConfig,
        rank: usize,
        alpha: f32,
        targets: &[Target],
        seed: u64,
        device: &Device,
    ) -> Result<Self, TrainError> {
        if rank == 0 {
            return Err(TrainError::Params("rank must be at least 1".into()));
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut pairs = BTreeMap::new();
        for layer in 0..cfg.n_layer {
            for &t in targets {
                let (n_in, n_out) = t.shape(cfg);
                let bound = 1.0 / (n_in as f32).sqrt();
                let a: Vec<f32> = (0..rank * n_in).map(|_| rng.gen_range(-bound..bound)).collect();
                let a = Var::from_tensor(&Tensor::from_vec(a, (rank, n_in), device)?)?;
                let b = Var::zeros((n_out, rank), DType::F32, device)?;
                pairs.insert((layer, t), LoraPair { a, b });
            }
        }
        Ok(Self { arch: cfg.arch.clone(), rank, alpha, pairs })
    }

    pub fn scale(&self) -> f64 {
        f64::from(self.alpha) / self.rank as f64
    }

    pub fn vars(&self) -> Vec<Var> {
        self.pairs.values().flat_map(|p| [p.a.clone(), p.b.clone()]).collect()
    }

    pub fn n_params(&self) -> usize {
        self.pairs.values().map(|p| p.a.elem_count() + p.b.elem_count()).sum()
    }

    pub fn targets(&self) -> Vec<Target> {
        let mut t: Vec<Target> = self.pairs.keys().map(|k| k.1).collect();
        t.sort();
        t.dedup();
        t
    }

    /// `scale · (x·Aᵀ)·Bᵀ`, or `None` when the layer is not adapted.
    pub fn delta(
        &self,
        layer: usize,
        t: Target,
        x: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let Some(p) = self.pairs.get(&(layer, t)) else { return Ok(None) };
        let h = x.matmul(&p.a.as_tensor().t()?)?;
        // Scale the small B (out × r), not the (tokens × out) product.
        let b = (p.b.as_tensor() * self.scale())?;
        Ok(Some(h.matmul(&b.t()?)?))
    }

    /// Write the adapter GGUF: a temporary file beside `path`, synced, then renamed, so a
    /// crash never leaves a half-written adapter under the final name.
    pub fn write(&self, path: &Path) -> Result<(), TrainError> {
        let io = |e: std::io::Error| TrainError::Io(format!("{}: {e}", path.display()));
        let mut tensors: Vec<(String, QTensor)> = Vec::new();
        for ((layer, t), p) in &self.pairs {
            let base = format!("blk.{layer}.{}.weight", t.gguf_name());
            tensors.push((
                format!("{base}.lora_a"),
                QTensor::quantize(p.a.as_tensor(), GgmlDType::F32)?,
            ));
            tensors.push((
                format!("{base}.lora_b"),
                QTensor::quantize(p.b.as_tensor(), GgmlDType::F32)?,
            ));
        }
        let arch = Value::String(self.arch.clone());
        let gtype = Value::String("adapter".into());
        let atype = Value::String("lora".into());
        let alpha = Value::F32(self.alpha);
        let name = Value::String("hifi LoRA".into());
        let md: Vec<(&str, &Value)> = vec![
            ("general.architecture", &arch),
            ("general.type", &gtype),
            ("general.name", &name),
            ("adapter.type", &atype),
            ("adapter.lora.alpha", &alpha),
        ];
        let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, q)| (n.as_str(), q)).collect();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        crate::files::write_with(path, true, |f| {
            let mut w = std::io::BufWriter::new(f);
            gguf_file::write(&mut w, &md, &refs).map_err(std::io::Error::other)?;
            w.flush()
        })
        .map_err(io)
    }

    /// Read an adapter written for `cfg`'s architecture and shapes (to continue training).
    pub fn read(path: &Path, cfg: &ArchConfig, device: &Device) -> Result<Self, TrainError> {
        let shown = crate::text::inert(&path.display().to_string(), false);
        let bad = |m: String| TrainError::Adapter(format!("{shown}: {m}"));
        let mut f = BufReader::new(std::fs::File::open(path).map_err(|e| bad(e.to_string()))?);
        let content =
            Content::read(&mut f).map_err(|e| bad(format!("not a readable GGUF ({e})")))?;
        let s = |k: &str| match content.metadata.get(k) {
            Some(Value::String(v)) => Some(v.clone()),
            _ => None,
        };
        if s("general.type").as_deref() != Some("adapter")
            || s("adapter.type").as_deref() != Some("lora")
        {
            return Err(bad("not a LoRA adapter".into()));
        }
        if s("general.architecture").as_deref() != Some(cfg.arch.as_str()) {
            return Err(bad(format!(
                "adapter is for {:?}, the base model is {:?}",
                s("general.architecture").unwrap_or_default(),
                cfg.arch
            )));
        }
        let alpha = match content.metadata.get("adapter.lora.alpha") {
            Some(Value::F32(a)) => *a,
            _ => return Err(bad("adapter.lora.alpha is missing".into())),
        };
        let mut pairs = BTreeMap::new();
        let mut rank = 0;
        for name in content.tensor_infos.keys() {
            let Some(base) = name.strip_suffix(".lora_a") else { continue };
            let parsed = base
                .strip_prefix("blk.")
                .and_then(|r| r.strip_suffix(".weight"))
                .and_then(|r| r.split_once('.'));
            let Some((layer, tname)) = parsed else {
                return Err(bad(format!("unexpected tensor {name}")));
            };
            let (Ok(layer), Some(t)) = (layer.parse::<usize>(), Target::from_gguf_name(tname))
            else {
                return Err(bad(format!("unexpected tensor {name}")));
            };
            if layer >= cfg.n_layer {
                return Err(bad(format!("{name}: the base has only {} blocks", cfg.n_layer)));
            }
            let mut load = |n: &str| -> Result<Tensor, TrainError> {
                content
                    .tensor(&mut f, n, device)
                    .and_then(|q| q.dequantize(device))
                    .map_err(|e| bad(format!("{n}: {e}")))
            };
            let a = load(name)?;
            let b = load(&format!("{base}.lora_b"))?;
            let (n_in, n_out) = t.shape(cfg);
            let r = a.dim(0)?;
            if a.dims() != [r, n_in] || b.dims() != [n_out, r] {
                return Err(bad(format!(
                    "{base}: lora_a {:?} / lora_b {:?} do not fit a [{n_out}, {n_in}] layer",
                    a.dims(),
                    b.dims()
                )));
            }
            if rank != 0 && r != rank {
                return Err(bad("the adapter mixes ranks".into()));
            }
            rank = r;
            pairs.insert(
                (layer, t),
                LoraPair { a: Var::from_tensor(&a)?, b: Var::from_tensor(&b)? },
            );
        }
        if pairs.is_empty() {
            return Err(bad("no lora_a / lora_b tensors".into()));
        }
        Ok(Self { arch: cfg.arch.clone(), rank, alpha, pairs })
    }
}

/// What an adapter file holds, from its header alone: (rank, alpha, targets).
pub fn describe(path: &Path) -> Result<(usize, f32, Vec<Target>), TrainError> {
    let shown = crate::text::inert(&path.display().to_string(), false);
    let mut f = BufReader::new(
        std::fs::File::open(path).map_err(|e| TrainError::Adapter(format!("{shown}: {e}")))?,
    );
    let content = Content::read(&mut f)
        .map_err(|e| TrainError::Adapter(format!("{shown}: not a readable GGUF ({e})")))?;
    let alpha = match content.metadata.get("adapter.lora.alpha") {
        Some(Value::F32(a)) => *a,
        _ => 0.0,
    };
    let mut rank = 0;
    let mut targets = Vec::new();
    for (name, info) in &content.tensor_infos {
        if let Some(base) = name.strip_suffix(".weight.lora_a") {
            rank = info.shape.dims().first().copied().unwrap_or(0);
            if let Some(t) = base.rsplit('.').next().and_then(Target::from_gguf_name) {
                targets.push(t);
            }
        }
    }
    targets.sort();
    targets.dedup();
    Ok((rank, alpha, targets))
}
