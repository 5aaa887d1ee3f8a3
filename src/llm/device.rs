//! Where llama.cpp runs the model: on a GPU when this build has CUDA and finds one, else on the
//! CPU. `[model] gpu_layers` (`"auto"` or a number, `--gpu-layers` for one run) says how many
//! of the model's layers go to the GPU; "auto" puts all of them there when a GPU is found and
//! they fit its free memory. docs/gpu.md.

use std::sync::{Mutex, OnceLock};

use llama_cpp_2::llama_backend::LlamaBackend;
use serde::Serialize;

use super::LlmError;
pub use crate::config::GpuLayers;

/// A GPU llama.cpp can use.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gpu {
    pub index: usize,
    /// What the driver calls it ("NVIDIA H100 80GB HBM3").
    pub name: String,
    pub memory_total: u64,
    pub memory_free: u64,
}

/// Where a model runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// The GPU layers go to (llama.cpp splits them over every GPU it found; this is the first).
    pub gpu: Option<Gpu>,
    /// GPUs found besides `gpu`.
    pub more_gpus: usize,
    /// What llama.cpp is asked to offload (`n_gpu_layers`).
    pub layers: u32,
    /// The model's layers, when its GGUF says.
    pub of: Option<u32>,
    /// Said once when the setting could not be followed as written: "auto" without a GPU, or a
    /// model larger than the GPU's free memory.
    pub note: Option<String>,
}

/// Whether this binary was built with CUDA (`--features cuda`, scripts/build-cuda.sh).
pub const CUDA_BUILD: bool = cfg!(feature = "cuda");

/// `n_gpu_layers` for "every layer".
pub const ALL_LAYERS: u32 = 999;
/// What a context (KV cache, compute buffers) and CUDA's own state take beside the weights.
const OVERHEAD: u64 = 1 << 30;

const GIB: f64 = (1u64 << 30) as f64;

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / GIB)
}

impl Placement {
    /// "CPU" or "GPU NVIDIA H100 80GB HBM3 (75.2 GiB free of 79.6 GiB), all 30 layers".
    pub fn describe(&self) -> String {
        let Some(g) = &self.gpu else { return "CPU".into() };
        let more = match self.more_gpus {
            0 => String::new(),
            n => format!(" and {n} more GPU{}", if n == 1 { "" } else { "s" }),
        };
        let layers = match (self.layers, self.of) {
            (l, Some(n)) if l >= n => format!("all {n} layers"),
            (l, Some(n)) => format!("{l} of {n} layers (the rest on the CPU)"),
            (l, None) if l >= ALL_LAYERS => "all layers".into(),
            (l, None) => format!("{l} layers"),
        };
        format!(
            "GPU {}{more} ({} free of {}), {layers}",
            crate::text::inert(&g.name, false),
            gib(g.memory_free),
            gib(g.memory_total)
        )
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "runs_on": if self.gpu.is_some() { "gpu" } else { "cpu" },
            "gpu": self.gpu,
            "more_gpus": self.more_gpus,
            "gpu_layers": self.layers,
            "model_layers": self.of,
            "note": self.note,
            "cuda_build": CUDA_BUILD,
        })
    }
}

/// Decide where a model of `bytes` with `n_layers` layers runs under `setting`, on `gpus` (the
/// first takes the layers; none: the CPU). `why_none` says why there is no GPU.
pub fn place(
    setting: GpuLayers,
    gpus: &[Gpu],
    bytes: u64,
    n_layers: Option<u32>,
    why_none: impl FnOnce() -> String,
) -> Result<Placement, LlmError> {
    let cpu =
        |note: Option<String>| Placement { gpu: None, more_gpus: 0, layers: 0, of: n_layers, note };
    let Some(g) = gpus.first() else {
        return match setting {
            GpuLayers::Count(0) => Ok(cpu(None)),
            GpuLayers::Auto if cfg!(feature = "cuda") => {
                Ok(cpu(Some(format!("no GPU found ({}): the model runs on the CPU", why_none()))))
            }
            GpuLayers::Auto => Ok(cpu(None)),
            GpuLayers::Count(n) => Err(LlmError::Input(format!(
                "gpu_layers is {n} (--gpu-layers, or [model] gpu_layers in hifi.toml), but there is no GPU to put them on: {}. Set it to \"auto\" (the GPU when there is one) or 0 to run on the CPU",
                why_none()
            ))),
        };
    };
    let total = n_layers.unwrap_or(0);
    // The weights a given number of layers puts on the GPU, near enough: their share of the file.
    let on_gpu = |layers: u32| match n_layers {
        Some(n) if n > 0 => bytes.saturating_mul(u64::from(layers.min(n))) / u64::from(n),
        _ => bytes,
    };
    let room = g.memory_free.saturating_sub(OVERHEAD);
    let fitting = match n_layers {
        Some(n) if n > 0 && bytes > 0 => {
            ((room as f64 / bytes as f64) * f64::from(n)).floor().min(f64::from(n)) as u32
        }
        _ if bytes <= room => ALL_LAYERS,
        _ => 0,
    };
    let gpu = |layers: u32, note: Option<String>| Placement {
        gpu: Some(g.clone()),
        more_gpus: gpus.len() - 1,
        layers,
        of: n_layers,
        note,
    };
    let name = crate::text::inert(&g.name, false);
    match setting {
        GpuLayers::Count(0) => Ok(cpu(None)),
        GpuLayers::Auto if bytes <= room => Ok(gpu(ALL_LAYERS, None)),
        GpuLayers::Auto if fitting == 0 => Ok(cpu(Some(format!(
            "the model ({}) does not fit the {} free on GPU {name}: it runs on the CPU",
            gib(bytes),
            gib(g.memory_free)
        )))),
        GpuLayers::Auto => Ok(gpu(
            fitting,
            Some(format!(
                "the model ({}) does not fit the {} free on GPU {name}: {fitting} of {total} layers on the GPU, the rest on the CPU",
                gib(bytes),
                gib(g.memory_free)
            )),
        )),
        GpuLayers::Count(n) if on_gpu(n) > room => Err(LlmError::Input(format!(
            "gpu_layers = {n} puts {} of the model on GPU {name}, which has {} free (and a context needs about {} more): GPU out of memory. Lower [model] gpu_layers in hifi.toml (or --gpu-layers) to {fitting} or fewer, or set it to \"auto\"",
            gib(on_gpu(n)),
            gib(g.memory_free),
            gib(OVERHEAD)
        ))),
        GpuLayers::Count(n) => Ok(gpu(n, None)),
    }
}

/// llama.cpp's backend can be initialised once per process; its log goes to `tracing`.
pub(crate) fn backend() -> Result<&'static LlamaBackend, LlmError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| LlmError::Engine(format!("cannot initialise the backend: {e}")))
}

/// The GPUs llama.cpp found (none in a build without CUDA).
pub fn gpus() -> Result<Vec<Gpu>, LlmError> {
    backend()?;
    Ok(llama_cpp_2::list_llama_ggml_backend_devices()
        .into_iter()
        .filter(|d| matches!(d.device_type, llama_cpp_2::LlamaBackendDeviceType::Gpu))
        .map(|d| Gpu {
            index: d.index,
            name: if d.description.is_empty() { d.name } else { d.description },
            memory_total: d.memory_total as u64,
            memory_free: d.memory_free as u64,
        })
        .collect())
}

static CUDA_INIT_ERROR: Mutex<Option<String>> = Mutex::new(None);

/// Keep what llama.cpp's CUDA backend said when it could not start (the binary's log filter
/// hands it here instead of printing it): [`why_no_gpu`] says it in hifi's one line.
pub fn cuda_init_failed(message: &str) {
    if let Ok(mut e) = CUDA_INIT_ERROR.lock() {
        e.get_or_insert_with(|| message.trim().to_string());
    }
}

/// Why no GPU is used: what CUDA said, or that this build has none.
pub fn why_no_gpu() -> String {
    if !cfg!(feature = "cuda") {
        return "this hifi is built without CUDA; scripts/build-cuda.sh builds one".into();
    }
    if let Some(e) = CUDA_INIT_ERROR.lock().ok().and_then(|e| e.clone()) {
        return format!("CUDA: {}", crate::text::inert(&e, false));
    }
    #[cfg(feature = "cuda")]
    if let Err(e) = candle_core::Device::new_cuda(0) {
        return format!("CUDA: {}", cuda_error_text(&e.to_string()));
    }
    "CUDA found no device llama.cpp can use".into()
}

/// A CUDA error as one line: candle's `DriverError(CUDA_ERROR_NO_DEVICE, "no CUDA-capable
/// device is detected")` (and the backtrace it carries when `RUST_BACKTRACE` is set) becomes
/// "no CUDA-capable device is detected (CUDA_ERROR_NO_DEVICE)".
pub fn cuda_error_text(e: &str) -> String {
    let first = e.lines().next().unwrap_or("").trim();
    let tidy = first
        .strip_prefix("DriverError(")
        .and_then(|r| r.split_once(", \""))
        .and_then(|(code, rest)| rest.split_once('"').map(|(msg, _)| format!("{msg} ({code})")));
    crate::text::inert(&tidy.unwrap_or_else(|| first.to_string()), false)
}

/// Say `note` once per process (a log line: the terminal's stderr for commands, hifi.log while
/// the workstation is up).
pub fn say_once(note: &str) {
    static SAID: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let Ok(mut said) = SAID.lock() else { return };
    if !said.iter().any(|s| s == note) {
        said.push(note.to_string());
        tracing::warn!("{note}");
    }
}

/// Where a model at `model` would run under `setting` (what `hifi status` and the pipeline
/// screen show, without loading it). A setting that cannot be followed is said, not an error.
pub fn describe_setting(setting: GpuLayers, model: Option<&std::path::Path>) -> Placement {
    let info = model.and_then(|p| super::gguf::inspect(p).ok());
    let (bytes, n_layers) = info.map_or((0, None), |i| (i.bytes, i.n_layers));
    let gpus = gpus().unwrap_or_default();
    let mut p = place(setting, &gpus, bytes, n_layers, why_no_gpu).unwrap_or_else(|e| Placement {
        gpu: None,
        more_gpus: 0,
        layers: 0,
        of: n_layers,
        note: Some(e.to_string()),
    });
    if let (GpuLayers::Count(0), Some(g)) = (setting, gpus.first()) {
        p.note = Some(format!(
            "gpu_layers = 0 keeps the model on the CPU though GPU {} is here; gpu_layers = \"auto\" in hifi.toml uses it",
            crate::text::inert(&g.name, false)
        ));
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h100(free_gib: u64) -> Gpu {
        Gpu {
            index: 0,
            name: "NVIDIA H100 80GB HBM3".into(),
            memory_total: 80 << 30,
            memory_free: free_gib << 30,
        }
    }

    #[test]
    fn cuda_errors_read_as_one_line() {
        let e = "DriverError(CUDA_ERROR_NO_DEVICE, \"no CUDA-capable device is detected\")\n   0: bt\n  at x.rs:1";
        assert_eq!(cuda_error_text(e), "no CUDA-capable device is detected (CUDA_ERROR_NO_DEVICE)");
        assert_eq!(cuda_error_text("out of memory"), "out of memory");
        assert_eq!(cuda_error_text("a\x1b[31mb"), crate::text::inert("a\x1b[31mb", false));
    }

    #[test]
    fn setting_parses_and_prints() {
        use serde::Deserialize;
        assert_eq!("auto".parse::<GpuLayers>().unwrap(), GpuLayers::Auto);
        assert_eq!("12".parse::<GpuLayers>().unwrap(), GpuLayers::Count(12));
        assert!("all".parse::<GpuLayers>().unwrap_err().contains("\"auto\" or a number"));
        assert!("-1".parse::<GpuLayers>().is_err());
        assert_eq!(GpuLayers::Auto.to_string(), "auto");
        #[derive(Deserialize, Serialize)]
        struct T {
            g: GpuLayers,
        }
        assert_eq!(toml::from_str::<T>("g = \"auto\"").unwrap().g, GpuLayers::Auto);
        assert_eq!(toml::from_str::<T>("g = 7").unwrap().g, GpuLayers::Count(7));
        let e = toml::from_str::<T>("g = -3").err().unwrap().to_string();
        assert!(e.contains("not a number of layers"), "{e}");
        assert!(toml::from_str::<T>("g = \"most\"").is_err());
        assert_eq!(toml::to_string(&T { g: GpuLayers::Count(4) }).unwrap().trim(), "g = 4");
        assert_eq!(toml::to_string(&T { g: GpuLayers::Auto }).unwrap().trim(), "g = \"auto\"");
    }

    #[test]
    fn auto_takes_every_layer_of_a_model_that_fits() {
        let p = place(GpuLayers::Auto, &[h100(70)], 8 << 30, Some(32), || unreachable!()).unwrap();
        assert_eq!((p.layers, p.note.clone()), (ALL_LAYERS, None));
        assert!(p.describe().starts_with("GPU NVIDIA H100 80GB HBM3 (70.0 GiB free of 80.0 GiB)"));
        assert!(p.describe().ends_with("all 32 layers"), "{}", p.describe());
    }

    #[test]
    fn auto_splits_a_model_larger_than_free_memory_and_says_so() {
        // 40 GiB of weights, 21 GiB free: 20 GiB of room → half the layers.
        let p = place(GpuLayers::Auto, &[h100(21)], 40 << 30, Some(64), || unreachable!()).unwrap();
        assert_eq!(p.layers, 32);
        let note = p.note.unwrap();
        assert!(note.contains("32 of 64 layers on the GPU"), "{note}");
        // Nothing fits: the CPU, said.
        let p = place(GpuLayers::Auto, &[h100(1)], 40 << 30, Some(64), || unreachable!()).unwrap();
        assert!(p.gpu.is_none() && p.note.unwrap().contains("runs on the CPU"));
    }

    #[test]
    fn an_explicit_count_that_cannot_fit_names_the_setting() {
        let e = place(GpuLayers::Count(64), &[h100(21)], 40 << 30, Some(64), || unreachable!())
            .unwrap_err()
            .to_string();
        assert!(e.contains("out of memory") && e.contains("[model] gpu_layers"), "{e}");
        assert!(e.contains("to 32 or fewer"), "{e}");
        let p = place(GpuLayers::Count(30), &[h100(21)], 40 << 30, Some(64), || unreachable!())
            .unwrap();
        assert_eq!((p.layers, p.note), (30, None));
    }

    #[test]
    fn no_gpu_auto_runs_on_the_cpu_and_a_count_is_an_error() {
        let p = place(GpuLayers::Auto, &[], 1 << 28, Some(30), || "no device".into()).unwrap();
        assert!(p.gpu.is_none());
        assert_eq!(p.describe(), "CPU");
        // A CUDA build says why in one line; a CPU build has nothing to say.
        assert_eq!(p.note.is_some(), cfg!(feature = "cuda"));
        let e = place(GpuLayers::Count(99), &[], 1 << 28, Some(30), || "no device".into())
            .unwrap_err()
            .to_string();
        assert!(e.contains("gpu_layers is 99") && e.contains("no device"), "{e}");
        assert!(e.contains("\"auto\"") && e.contains(" or 0 "), "{e}");
        let p = place(GpuLayers::CPU, &[h100(70)], 1 << 28, Some(30), || unreachable!()).unwrap();
        assert!(p.gpu.is_none() && p.note.is_none());
    }
}
