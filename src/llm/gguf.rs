//! GGUF checks before llama.cpp sees a file, so that a missing, truncated or non-GGUF file,
//! or an adapter for another architecture, is a clear error rather than a null pointer.

use std::io::Read;
use std::path::Path;

use llama_cpp_2::gguf::GgufContext;

const GGUF_TYPE_UINT32: u32 = 4;
const GGUF_TYPE_STRING: u32 = 8;

/// What hifi needs to know about a GGUF before loading it.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufInfo {
    pub version: u32,
    pub architecture: Option<String>,
    /// `general.type`: "model", "adapter", …
    pub file_type: Option<String>,
    /// `adapter.type` for adapters ("lora").
    pub adapter_type: Option<String>,
    pub n_tensors: i64,
    /// `{architecture}.block_count`: the model's layers (what `gpu_layers` counts).
    pub n_layers: Option<u32>,
    /// The file's size: what the weights take in memory, near enough.
    pub bytes: u64,
}

/// Read and check a GGUF header. Errors say what is wrong with which file.
pub fn inspect(path: &Path) -> Result<GgufInfo, String> {
    let shown = crate::text::inert(&path.display().to_string(), false);
    let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown}: not a file"));
    }
    let mut head = [0u8; 24];
    let mut f = std::fs::File::open(path).map_err(|e| format!("{shown}: {e}"))?;
    let n = read_up_to(&mut f, &mut head).map_err(|e| format!("{shown}: {e}"))?;
    if n < 4 || &head[..4] != b"GGUF" {
        return Err(format!(
            "{shown}: not a GGUF file (it does not start with the GGUF magic bytes)"
        ));
    }
    if n < 24 {
        return Err(format!("{shown}: truncated GGUF file ({} bytes)", meta.len()));
    }
    let version = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if !(2..=3).contains(&version) {
        return Err(format!(
            "{shown}: unsupported GGUF version {version} (llama.cpp reads 2 and 3)"
        ));
    }
    let ctx = GgufContext::from_file(path).ok_or_else(|| {
        format!("{shown}: corrupt or truncated GGUF file (its metadata cannot be parsed)")
    })?;
    let get = |key: &str| {
        let i = ctx.find_key(key);
        (i >= 0 && ctx.kv_type(i) == GGUF_TYPE_STRING)
            .then(|| ctx.val_str(i).map(str::to_string))
            .flatten()
    };
    let architecture = get("general.architecture");
    let n_layers = architecture.as_deref().and_then(|a| {
        let i = ctx.find_key(&format!("{a}.block_count"));
        (i >= 0 && ctx.kv_type(i) == GGUF_TYPE_UINT32).then(|| ctx.val_u32(i))
    });
    Ok(GgufInfo {
        version,
        architecture,
        file_type: get("general.type"),
        adapter_type: get("adapter.type"),
        n_tensors: ctx.n_tensors(),
        n_layers,
        bytes: meta.len(),
    })
}

fn read_up_to(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Check that `adapter` is a LoRA adapter for the architecture of `base`.
pub fn check_adapter(adapter: &Path, base: &GgufInfo) -> Result<GgufInfo, String> {
    let shown = crate::text::inert(&adapter.display().to_string(), false);
    let info = inspect(adapter)?;
    if info.file_type.as_deref() != Some("adapter") || info.adapter_type.as_deref() != Some("lora")
    {
        return Err(format!(
            "{shown}: not a LoRA adapter (general.type = {:?}, adapter.type = {:?})",
            info.file_type.as_deref().unwrap_or("unset"),
            info.adapter_type.as_deref().unwrap_or("unset")
        ));
    }
    if info.architecture != base.architecture {
        return Err(format!(
            "{shown}: adapter is for architecture {:?}, but the model is {:?}",
            info.architecture.as_deref().unwrap_or("unset"),
            base.architecture.as_deref().unwrap_or("unset")
        ));
    }
    Ok(info)
}
