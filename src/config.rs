//! The project configuration, `hifi.toml`: the task, the labels with their definitions (used in
//! prompts), model paths and knobs. Readable and hand-editable; parse errors name the line.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// File name of the project configuration inside a project folder.
pub const CONFIG_FILE: &str = "hifi.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read: {message}", .path.display())]
    Read { path: PathBuf, message: String },
    #[error("not a hifi project: no {CONFIG_FILE} in {} — run `hifi init DIR` to make one, or pass --project DIR", .dir.display())]
    NotAProject { dir: PathBuf },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// One label the experts and the model choose from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelDef {
    pub name: String,
    /// One paragraph: what belongs to this label. Goes into the prompt verbatim.
    #[serde(default)]
    pub definition: String,
    /// Multi-label projects: the probability at which the model says the label applies
    /// (default 0.5). Ignored by single-label projects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
}

impl LabelDef {
    pub fn new(name: impl Into<String>, definition: impl Into<String>) -> Self {
        LabelDef { name: name.into(), definition: definition.into(), threshold: None }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// GGUF used for prelabeling (and embeddings unless `embed_path` is set). Relative paths
    /// are relative to the project folder. Unset: `$HIFI_MODEL`, then the default model.
    pub path: Option<PathBuf>,
    /// A separate GGUF for embeddings (e.g. an embedding model).
    pub embed_path: Option<PathBuf>,
    /// CPU threads for llama.cpp; unset: all cores (at most 8).
    pub threads: Option<usize>,
    /// Layers on the GPU: "auto" (every layer that fits when a CUDA build finds a GPU, else
    /// the CPU) or a number (0: the CPU only). docs/gpu.md.
    pub gpu_layers: GpuLayers,
    /// Items longer than this many tokens are truncated (and counted in the report).
    pub max_item_tokens: usize,
    /// Items scored together in one llama.cpp batch.
    pub batch_items: usize,
    /// How prelabeling keeps the shared prompt's KV cache: `shared` (one cache, a batch is
    /// one llama.cpp micro-batch: fastest) or `separate` (a copy per item: an item's scores
    /// are bit-identical whatever else is in its batch, slower). See `KvCache`.
    pub kv_cache: KvCache,
}

/// Where the items of a prelabeling batch keep their KV cells.
///
/// llama.cpp's quantized kernels round differently with the arrangement of the arithmetic (the
/// flash-attention tile an item's cells fall into, whether a micro-batch has 64 rows), and a
/// 135M model carries such rounding to up to ~0.3 nats in a label's log-prob: the same size as
/// the gap between either mode and evaluating the whole prompt in one pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum KvCache {
    /// One cache: the prompt's cells are shared by every item, a whole batch (items and
    /// multi-token label continuations) is one micro-batch. Reproducible for the same batches
    /// (the pool in id order, `batch_items` at a time); an item scored in another batch moves
    /// within the rounding noise above.
    #[default]
    Shared,
    /// A cache per item, the prompt copied into each: an item's scores are bit-identical
    /// whatever else is in its batch. About two thirds of the speed on CPU with a long prompt (the
    /// sample labels' 510 tokens), the same with a short one.
    Separate,
}

impl KvCache {
    pub fn as_str(self) -> &'static str {
        match self {
            KvCache::Shared => "shared",
            KvCache::Separate => "separate",
        }
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            path: None,
            embed_path: None,
            threads: None,
            gpu_layers: GpuLayers::Auto,
            max_item_tokens: 256,
            batch_items: 8,
            kv_cache: KvCache::Shared,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SplitConfig {
    /// Share of expert-labeled items kept for evaluation (never trained on, never exported as
    /// train). Stratified by label; an item never changes split once assigned.
    pub eval_fraction: f64,
    /// Items whose embeddings are at most this far apart (Euclidean, unit vectors: the
    /// distance the queue shows) are near-duplicates and always share a split, like the two
    /// items of a mined pair; 0 turns it off. 0.12 was measured on the sample ads with
    /// SmolLM2's embeddings (docs/rounds.md#splits-without-leakage); another embedding model may need another value.
    pub near_duplicate: f64,
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self { eval_fraction: 0.3, near_duplicate: 0.12 }
    }
}

/// The review screen.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReviewConfig {
    /// Show the model's predicted label and probabilities while labeling (`p` toggles). Off by
    /// default: a visible suggestion anchors experts and inflates every agreement number. Each
    /// label records whether it was given blind.
    pub show_predictions: bool,
    /// The item's imported fields (beside the text) shown under it, in this order. Unset: all
    /// of them, in the order they are stored (by name); an empty list: none. A name the item
    /// lacks is left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub show_fields: Option<Vec<String>>,
}

/// Queue refills (`hifi mine`, the workstation's mine stage).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MineConfig {
    /// Share of every refill drawn uniformly at random from unlabeled items: the audit stratum,
    /// labeled blind and always kept in eval, so the report can say how good the model is on
    /// the pool at large and how common each label is there.
    pub audit_share: f64,
}

impl Default for MineConfig {
    fn default() -> Self {
        Self { audit_share: 0.1 }
    }
}

/// The stop rule (`hifi report`, the dashboard).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StopConfig {
    /// δ: "as good as the experts" once the 90% upper bound of κ_expert–expert − κ_model–expert
    /// (on the same double-labeled blind eval items) is at most this.
    pub margin: f64,
    /// "No improvement" once the last two rounds are, with 95% confidence, less than this
    /// much κ above the best earlier round.
    pub min_gain: f64,
}

impl Default for StopConfig {
    fn default() -> Self {
        Self { margin: 0.05, min_gain: 0.05 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PromptConfig {
    /// Expert-labeled train-split examples shown in the prompt (0 = zero-shot).
    pub few_shot: usize,
    /// What one item is called in the prompt ("ad", "message", "review", …).
    pub item_noun: String,
    /// Contextual calibration (Zhao et al. 2021): subtract the label log-probabilities the
    /// model gives a content-free input ("N/A") before normalising. Small models prefer one
    /// label whatever the input; this removes that prior.
    pub calibrate: bool,
}

impl Default for PromptConfig {
    fn default() -> Self {
        Self { few_shot: 0, item_noun: "text".into(), calibrate: true }
    }
}

/// Defaults for LoRA rounds (`hifi round --trainer lora`, `hifi train`, the workstation's
/// lora round); command-line flags override them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub rank: usize,
    pub alpha: f32,
    pub lr: f64,
    pub epochs: usize,
    /// Examples per optimiser step (they share one evaluation of the prompt prefix).
    pub batch: usize,
    /// Layers to adapt: any of q, k, v, o, gate, up, down.
    pub targets: Vec<String>,
    /// Train with an external command instead: `{job}` and `{out}` stand for the quoted
    /// paths `"$HIFI_JOB"` and `"$HIFI_OUT"`. From hifi.toml it is shown before it runs
    /// (confirmed once in the workstation).
    pub external: Option<String>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            rank: 8,
            alpha: 16.0,
            lr: 1e-3,
            epochs: 2,
            batch: 8,
            targets: ["q", "k", "v", "o", "gate", "up", "down"].map(String::from).to_vec(),
            external: None,
        }
    }
}

/// The linear layers a LoRA can adapt (`[train] targets`); `train::arch` maps them to GGUF
/// tensor names and shapes.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Q,
    K,
    V,
    O,
    Gate,
    Up,
    Down,
}

impl Target {
    pub const ALL: [Target; 7] =
        [Self::Q, Self::K, Self::V, Self::O, Self::Gate, Self::Up, Self::Down];

    /// From a short name as in `--targets` / `train.targets`: q, k, v, o, gate, up, down.
    pub fn from_flag(name: &str) -> Option<Self> {
        <Self as clap::ValueEnum>::from_str(name, true).ok()
    }
}

/// Where the LLM work of `prelabel` and `embed` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// llama.cpp inside hifi, on the GGUF of `[model] path`.
    #[default]
    Local,
    /// One or more OpenAI-compatible servers (vLLM, SGLang, the llama-cpp-python server):
    /// labels scored teacher-forced through `/v1/completions` (`echo` + `logprobs`), vectors
    /// from `/v1/embeddings`.
    Openai,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Local => "local",
            BackendKind::Openai => "openai",
        }
    }
}

/// `[backend]`: the OpenAI-compatible servers hifi hands prelabeling and embedding to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackendConfig {
    pub kind: BackendKind,
    /// Base URLs, each up to and including `/v1` (`http://gpu1:8000/v1`); requests are spread
    /// over them.
    pub urls: Vec<String>,
    /// The model name sent with every request (vLLM's `--served-model-name`).
    pub model: Option<String>,
    /// The model name for `/v1/embeddings` (default: `model`).
    pub embed_model: Option<String>,
    /// The environment variable holding the API key (sent as `Authorization: Bearer …`).
    pub api_key_env: Option<String>,
    /// Requests in flight at once, over all URLs: the most; hifi lowers it while the servers
    /// show overload (timeouts, HTTP 429/503) and raises it back as they keep up.
    pub in_flight: usize,
    /// Prompts per completion request, and texts per embeddings request. vLLM and SGLang take
    /// lists (16–64 is a good start); the llama-cpp-python server takes one.
    pub prompts_per_request: usize,
    /// Seconds to wait for one response before it counts as failed (and is retried).
    pub timeout_s: u64,
    /// Retries of a request that failed for a passing reason (refused connection, timeout,
    /// HTTP 429, 5xx), with exponential backoff from 0.5 s to 30 s, or after the wait a 429's
    /// or 503's `Retry-After` asks for (at most 300 s).
    pub retries: u32,
    /// The chat template the prompt is rendered with when no GGUF of the model is at hand
    /// (`[model] path`): `chatml` or `llama3`. Unset: read from that GGUF (loaded vocabulary
    /// only), which also cuts items at the same token as the local engine.
    pub template: Option<String>,
}

impl Default for BackendConfig {
    fn default() -> Self {
        Self {
            kind: BackendKind::Local,
            urls: Vec::new(),
            model: None,
            embed_model: None,
            api_key_env: None,
            in_flight: 8,
            prompts_per_request: 1,
            timeout_s: 120,
            retries: 6,
            template: None,
        }
    }
}

/// The chat templates hifi renders itself, for a server whose model has no local GGUF.
pub const NAMED_TEMPLATES: &[&str] = &["chatml", "llama3"];

impl BackendConfig {
    /// Checked settings (called by [`Config::validate`] and after flags override them).
    pub fn validate(&self) -> Result<(), String> {
        if self.kind == BackendKind::Local {
            return Ok(());
        }
        if self.urls.is_empty() {
            return Err("backend.kind = \"openai\" needs backend.urls (e.g. [\"http://127.0.0.1:8000/v1\"]) or --url".into());
        }
        for u in &self.urls {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(format!(
                    "backend.urls: {:?} is not an http:// or https:// URL",
                    crate::text::inert(u, false)
                ));
            }
        }
        if self.model.as_deref().is_none_or(|m| m.trim().is_empty()) {
            return Err("backend.kind = \"openai\" needs backend.model: the model name the server serves (see GET /v1/models)".into());
        }
        if self.in_flight == 0 || self.prompts_per_request == 0 || self.timeout_s == 0 {
            return Err("backend.in_flight, backend.prompts_per_request and backend.timeout_s must be at least 1".into());
        }
        if let Some(t) = &self.template {
            if !NAMED_TEMPLATES.contains(&t.as_str()) {
                return Err(format!("backend.template = {:?}: hifi renders {} (unset: read the template from [model] path)", crate::text::inert(t, false), NAMED_TEMPLATES.join(" or ")));
            }
        }
        Ok(())
    }

    /// The model name for embeddings.
    pub fn embedding_model(&self) -> Option<&str> {
        self.embed_model.as_deref().or(self.model.as_deref())
    }

    /// Where a stage runs, in words: "local llama.cpp", or "openai:MODEL (N servers)" for
    /// `model` (the scoring or the embedding model).
    pub fn describe(&self, model: Option<&str>) -> String {
        match self.kind {
            BackendKind::Local => "local llama.cpp".into(),
            BackendKind::Openai => {
                let n = self.urls.len();
                format!(
                    "openai:{} ({n} server{})",
                    crate::text::inert(model.unwrap_or("?"), false),
                    if n == 1 { "" } else { "s" }
                )
            }
        }
    }
}

/// The whole `hifi.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// What the labels are for, one or two sentences; opens the prompt.
    pub task: String,
    /// Several labels may apply to one item, or none (docs/multi-label.md).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub multi_label: bool,
    pub labels: Vec<LabelDef>,
    #[serde(default)]
    pub model: ModelConfig,
    #[serde(default)]
    pub split: SplitConfig,
    #[serde(default)]
    pub review: ReviewConfig,
    #[serde(default)]
    pub mine: MineConfig,
    #[serde(default)]
    pub stop: StopConfig,
    #[serde(default)]
    pub prompt: PromptConfig,
    #[serde(default)]
    pub train: TrainConfig,
    #[serde(default)]
    pub backend: BackendConfig,
}

/// Label definitions on their own (e.g. `sample-data/labels.toml`), usable by `hifi init`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelsFile {
    pub task: Option<String>,
    #[serde(default)]
    pub multi_label: bool,
    pub item_noun: Option<String>,
    pub labels: Vec<LabelDef>,
}

impl LabelsFile {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Read { path: path.to_path_buf(), message: e.to_string() })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: toml_message(&text, &e),
        })
    }
}

/// `line N, column M: message` from a toml error.
pub fn toml_message(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let (line, col) = line_col(text, span.start);
            format!("line {line}, column {col}: {}", e.message())
        }
        None => e.message().to_string(),
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

impl Config {
    /// A config for `task` and `labels` with every other setting at its default.
    pub fn new(task: impl Into<String>, labels: Vec<LabelDef>) -> Self {
        Config {
            task: task.into(),
            multi_label: false,
            labels,
            model: ModelConfig::default(),
            split: SplitConfig::default(),
            review: ReviewConfig::default(),
            mine: MineConfig::default(),
            stop: StopConfig::default(),
            prompt: PromptConfig::default(),
            train: TrainConfig::default(),
            backend: BackendConfig::default(),
        }
    }

    pub fn load(project: &Path) -> Result<Self, ConfigError> {
        let path = project.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ConfigError::NotAProject { dir: project.to_path_buf() },
            _ => ConfigError::Read { path: path.clone(), message: e.to_string() },
        })?;
        Self::parse(&text, &path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: toml_message(text, &e),
        })?;
        cfg.validate()
            .map_err(|message| ConfigError::Invalid { path: path.to_path_buf(), message })?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), String> {
        validate_labels(&self.labels)?;
        for l in &self.labels {
            if let Some(t) = l.threshold {
                if !(t > 0.0 && t < 1.0) {
                    return Err(format!("label {:?}: threshold = {t} must be in (0, 1)", l.name));
                }
                if !self.multi_label {
                    return Err(format!(
                        "label {:?} has a threshold, which only multi-label projects use (multi_label = true)",
                        l.name
                    ));
                }
            }
        }
        if self.task.trim().is_empty() {
            return Err("`task` is empty: say in a sentence what the labels are for".into());
        }
        if !(0.0..1.0).contains(&self.split.eval_fraction) {
            return Err(format!(
                "split.eval_fraction = {} must be in [0, 1)",
                self.split.eval_fraction
            ));
        }
        if !(self.split.near_duplicate >= 0.0 && self.split.near_duplicate <= 2.0) {
            return Err(format!(
                "split.near_duplicate = {} must be in [0, 2] (unit vectors are at most 2 apart)",
                self.split.near_duplicate
            ));
        }
        if !(0.0..=1.0).contains(&self.mine.audit_share) {
            return Err(format!("mine.audit_share = {} must be in [0, 1]", self.mine.audit_share));
        }
        if !(self.stop.margin > 0.0
            && self.stop.margin < 1.0
            && self.stop.min_gain >= 0.0
            && self.stop.min_gain < 1.0)
        {
            return Err(format!(
                "stop.margin = {} must be in (0, 1) and stop.min_gain = {} in [0, 1)",
                self.stop.margin, self.stop.min_gain
            ));
        }
        if self.model.max_item_tokens == 0 || self.model.batch_items == 0 {
            return Err("model.max_item_tokens and model.batch_items must be at least 1".into());
        }
        let t = &self.train;
        if t.rank == 0 || t.epochs == 0 || t.batch == 0 {
            return Err("train.rank, train.epochs and train.batch must be at least 1".into());
        }
        if !(t.lr > 0.0 && t.lr.is_finite() && t.alpha.is_finite()) {
            return Err(format!(
                "train.lr = {} and train.alpha = {} must be finite, lr above 0",
                t.lr, t.alpha
            ));
        }
        if let Some(bad) = t.targets.iter().find(|n| Target::from_flag(n).is_none()) {
            return Err(format!(
                "train.targets: unknown layer {bad:?} (use q, k, v, o, gate, up, down)"
            ));
        }
        if t.targets.is_empty() {
            return Err("train.targets is empty".into());
        }
        if let Some(cmd) = t.external.as_deref() {
            crate::shell::check_external(cmd).map_err(|e| format!("train.external: {e}"))?;
        }
        self.backend.validate()
    }

    pub fn label_names(&self) -> Vec<String> {
        self.labels.iter().map(|l| l.name.clone()).collect()
    }

    pub fn label_index(&self, name: &str) -> Option<usize> {
        self.labels.iter().position(|l| l.name == name)
    }

    /// The prelabeling model: config, then `$HIFI_MODEL`, then the default model's cache path.
    pub fn model_path(&self, project: &Path) -> PathBuf {
        match &self.model.path {
            Some(p) => resolve(project, p),
            None => default_model_path(),
        }
    }

    /// The embedding model (defaults to the prelabeling model).
    pub fn embed_model_path(&self, project: &Path) -> PathBuf {
        match &self.model.embed_path {
            Some(p) => resolve(project, p),
            None => self.model_path(project),
        }
    }

    pub fn threads(&self) -> usize {
        self.model.threads.unwrap_or_else(default_threads)
    }

    /// Render as a commented `hifi.toml`.
    pub fn to_toml(&self) -> String {
        let mut s = String::new();
        s.push_str("# hifi project configuration. Edit freely; `hifi status` checks it.\n\n");
        s.push_str("# What the labels are for. Opens the prompt the model is scored with.\n");
        s.push_str(&format!("task = {}\n\n", toml_str(&self.task)));
        if self.multi_label {
            s.push_str(
                "# Several labels may apply to one item, or none; each label's `threshold`\n",
            );
            s.push_str("# (default 0.5) is the probability at which the model says it applies.\n");
            s.push_str("multi_label = true\n\n");
        }
        s.push_str(
            "# Each label's definition is one paragraph used verbatim in the prompt and shown\n",
        );
        s.push_str("# to experts in the guidelines panel. Order matters only for display.\n");
        for l in &self.labels {
            s.push_str(&format!(
                "[[labels]]\nname = {}\ndefinition = {}\n",
                toml_str(&l.name),
                toml_str(&l.definition)
            ));
            if let Some(t) = l.threshold {
                s.push_str(&format!("threshold = {t}\n"));
            }
            s.push('\n');
        }
        s.push_str("[model]\n");
        s.push_str("# path = \"models/your-model.gguf\"   # unset: $HIFI_MODEL, then the default SmolLM2-135M-Instruct\n");
        if let Some(p) = &self.model.path {
            s.push_str(&format!("path = {}\n", toml_str(&p.display().to_string())));
        }
        s.push_str("# embed_path = \"models/embedder.gguf\" # unset: the same model as `path`\n");
        if let Some(p) = &self.model.embed_path {
            s.push_str(&format!("embed_path = {}\n", toml_str(&p.display().to_string())));
        }
        s.push_str("# threads = 2                          # unset: all cores (at most 8)\n");
        if let Some(t) = self.model.threads {
            s.push_str(&format!("threads = {t}\n"));
        }
        s.push_str("# layers on the GPU: \"auto\" (all that fit, when a CUDA build finds a GPU) or a number; 0: CPU only\n");
        match self.model.gpu_layers {
            GpuLayers::Auto => s.push_str("gpu_layers = \"auto\"\n"),
            GpuLayers::Count(n) => s.push_str(&format!("gpu_layers = {n}\n")),
        }
        s.push_str(&format!("max_item_tokens = {}\n", self.model.max_item_tokens));
        s.push_str(&format!("batch_items = {}\n", self.model.batch_items));
        s.push_str("# \"shared\": one KV cache for a batch (fast); \"separate\": a copy per item (scores independent of the batch)\n");
        s.push_str(&format!("kv_cache = \"{}\"\n\n", self.model.kv_cache.as_str()));
        s.push_str(
            "[split]\n# Share of expert labels held out for evaluation (stratified, sticky).\n",
        );
        s.push_str(&format!("eval_fraction = {}\n", self.split.eval_fraction));
        s.push_str(
            "# Items at most this far apart (the distance the queue shows) always share a split.\n",
        );
        s.push_str(&format!("near_duplicate = {}\n\n", self.split.near_duplicate));
        s.push_str("[review]\n# Show the model's prediction while labeling (`p` toggles); blind labels keep eval honest.\n");
        s.push_str(&format!("show_predictions = {}\n", self.review.show_predictions));
        s.push_str("# show_fields = [\"source\", \"date\"]   # imported fields shown beside the text; unset: all of them, []: none\n");
        if let Some(fields) = &self.review.show_fields {
            let names: Vec<String> = fields.iter().map(|x| toml_str(x)).collect();
            s.push_str(&format!("show_fields = [{}]\n", names.join(", ")));
        }
        s.push('\n');
        s.push_str("[mine]\n# Share of each refill drawn at random from unlabeled items (audit stratum, always eval).\n");
        s.push_str(&format!("audit_share = {}\n\n", self.mine.audit_share));
        s.push_str("[stop]\n# Stop when κ_experts − κ_model is at most `margin` (90% upper bound), or when two rounds\n");
        s.push_str("# in a row gain less than `min_gain` κ over the best earlier one.\n");
        s.push_str(&format!(
            "margin = {}\nmin_gain = {}\n\n",
            self.stop.margin, self.stop.min_gain
        ));
        s.push_str(
            "[prompt]\n# Expert-labeled train examples shown in the prompt (0 = zero-shot).\n",
        );
        s.push_str(&format!("few_shot = {}\n", self.prompt.few_shot));
        s.push_str(&format!("item_noun = {}\n", toml_str(&self.prompt.item_noun)));
        s.push_str("# Subtract the label prior measured on a content-free input (contextual calibration).\n");
        s.push_str(&format!("calibrate = {}\n\n", self.prompt.calibrate));
        let t = &self.train;
        s.push_str("[train]\n# LoRA rounds (`hifi round --trainer lora`); command-line flags override these.\n");
        s.push_str(&format!(
            "rank = {}\nalpha = {:?}\nlr = {:?}\nepochs = {}\nbatch = {}\n",
            t.rank, t.alpha, t.lr, t.epochs, t.batch
        ));
        let targets: Vec<String> = t.targets.iter().map(|x| toml_str(x)).collect();
        s.push_str(&format!("targets = [{}]\n", targets.join(", ")));
        s.push_str("# external = \"python train_peft.py {job} {out}\"   # train elsewhere (docs/lora.md)\n");
        if let Some(e) = &t.external {
            s.push_str(&format!("external = {}\n", toml_str(e)));
        }
        let b = &self.backend;
        s.push_str("\n[backend]\n# Where prelabel and embed run: \"local\" (llama.cpp here) or \"openai\" (vLLM, SGLang, the\n");
        s.push_str("# llama-cpp-python server; see docs/scale-out.md). Flags (--backend, --url, …) override.\n");
        s.push_str(&format!("kind = \"{}\"\n", b.kind.as_str()));
        let urls: Vec<String> = b.urls.iter().map(|x| toml_str(x)).collect();
        s.push_str(&format!(
            "urls = [{}]   # e.g. [\"http://gpu1:8000/v1\", \"http://gpu2:8000/v1\"]\n",
            urls.join(", ")
        ));
        s.push_str("# model = \"Qwen/Qwen3-0.6B\"   # the name the server serves; embed_model for /v1/embeddings\n");
        if let Some(m) = &b.model {
            s.push_str(&format!("model = {}\n", toml_str(m)));
        }
        if let Some(m) = &b.embed_model {
            s.push_str(&format!("embed_model = {}\n", toml_str(m)));
        }
        s.push_str(
            "# api_key_env = \"OPENAI_API_KEY\"   # the environment variable holding the key\n",
        );
        if let Some(k) = &b.api_key_env {
            s.push_str(&format!("api_key_env = {}\n", toml_str(k)));
        }
        s.push_str(&format!("in_flight = {}   # requests at once, over all URLs (the most: lowered while a server is overloaded)\n", b.in_flight));
        s.push_str(&format!(
            "prompts_per_request = {}   # vLLM and SGLang take lists (16–64); llama-cpp-python 1\n",
            b.prompts_per_request
        ));
        s.push_str(&format!(
            "timeout_s = {}\nretries = {}   # 0.5 s, 1 s, 2 s … 30 s apart\n",
            b.timeout_s, b.retries
        ));
        s.push_str("# template = \"chatml\"   # only without a local GGUF of the model: chatml or llama3\n");
        if let Some(t) = &b.template {
            s.push_str(&format!("template = {}\n", toml_str(t)));
        }
        s
    }
}

pub fn validate_labels(labels: &[LabelDef]) -> Result<(), String> {
    if labels.len() < 2 {
        return Err(format!("need at least two labels, found {}", labels.len()));
    }
    for (i, l) in labels.iter().enumerate() {
        let n = l.name.trim();
        if n.is_empty() {
            return Err(format!("label #{} has an empty name", i + 1));
        }
        if n != l.name
            || l.name.chars().any(|c| c.is_control() || crate::text::is_hidden(c) || c == ',')
        {
            return Err(format!(
                "label \"{}\": names may not have surrounding spaces, commas, control characters or invisible format characters (bidi, zero-width)",
                crate::text::inert(&l.name, false)
            ));
        }
        if labels[..i].iter().any(|o| o.name == l.name) {
            return Err(format!("label {:?} is listed twice", l.name));
        }
    }
    Ok(())
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn resolve(project: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        project.join(p)
    }
}

/// Where `scripts/setup.sh` puts the default model (SmolLM2-135M-Instruct), unless
/// `$HIFI_MODEL` names another GGUF.
pub fn default_model_path() -> PathBuf {
    if let Some(p) = std::env::var_os("HIFI_MODEL") {
        return PathBuf::from(p);
    }
    cache_dir().join("models").join("SmolLM2-135M-Instruct.gguf")
}

/// `$HIFI_CACHE`, else `$XDG_CACHE_HOME/hifi`, else `~/.cache/hifi`.
pub fn cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("HIFI_CACHE") {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(p).join("hifi");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("hifi")
}

pub fn default_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).min(8)
}

/// Layers offloaded to the GPU: `Auto` (every layer when a GPU is found, as many as fit its
/// free memory; none without a GPU) or a count (0: the CPU only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GpuLayers {
    #[default]
    Auto,
    Count(u32),
}

impl GpuLayers {
    /// The CPU only.
    pub const CPU: GpuLayers = GpuLayers::Count(0);
}

impl std::fmt::Display for GpuLayers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GpuLayers::Auto => f.write_str("auto"),
            GpuLayers::Count(n) => write!(f, "{n}"),
        }
    }
}

impl std::str::FromStr for GpuLayers {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "auto" => Ok(GpuLayers::Auto),
            n => n.parse().map(GpuLayers::Count).map_err(|_| {
                format!("gpu_layers: expected \"auto\" or a number of layers, got {:?}", s)
            }),
        }
    }
}

impl Serialize for GpuLayers {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            GpuLayers::Auto => s.serialize_str("auto"),
            GpuLayers::Count(n) => s.serialize_u32(*n),
        }
    }
}

impl<'de> Deserialize<'de> for GpuLayers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = GpuLayers;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("\"auto\" or a number of layers")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<GpuLayers, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<GpuLayers, E> {
                u32::try_from(v).map(GpuLayers::Count).map_err(|_| {
                    E::custom(format!("gpu_layers: {v} is not a number of layers (0 or more)"))
                })
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<GpuLayers, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(-1))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config {
            task: "Is this ad clickbait?".into(),
            multi_label: false,
            labels: vec![
                LabelDef::new("clickbait", "Teases, \"withholds\".\nTwo lines."),
                LabelDef::new("benign", "Informs."),
            ],
            model: ModelConfig::default(),
            split: SplitConfig::default(),
            review: ReviewConfig::default(),
            mine: MineConfig::default(),
            stop: StopConfig { margin: 0.1, min_gain: 0.02 },
            prompt: PromptConfig::default(),
            train: TrainConfig {
                external: Some("sh train.sh {job} {out}".into()),
                ..TrainConfig::default()
            },
            backend: BackendConfig {
                kind: BackendKind::Openai,
                urls: vec!["http://10.0.0.1:8000/v1".into()],
                model: Some("m".into()),
                ..BackendConfig::default()
            },
        }
    }

    #[test]
    fn rendered_config_parses_back_identically() {
        let mut c = cfg();
        let back = Config::parse(&c.to_toml(), Path::new("hifi.toml")).unwrap();
        assert_eq!(back, c);
        c.model.kv_cache = KvCache::Separate;
        let text = c.to_toml();
        assert!(text.contains("kv_cache = \"separate\""), "{text}");
        assert_eq!(Config::parse(&text, Path::new("hifi.toml")).unwrap(), c);
        let bad = text.replace("kv_cache = \"separate\"", "kv_cache = \"unified\"");
        let err = Config::parse(&bad, Path::new("hifi.toml")).unwrap_err().to_string();
        assert!(err.contains("kv_cache") || err.contains("unified"), "{err}");
    }

    #[test]
    fn bad_train_settings_say_what_is_wrong() {
        let base = cfg().to_toml();
        for (bad, says) in [
            ("targets = [\"qq\"]", "unknown layer \"qq\""),
            ("rank = 0", "train.rank"),
            ("lr = -1.0", "train.lr"),
            ("external = \"train.sh {job}\"", "{out}"),
            ("external = \"train.sh '{job}' {out}\"", "inside quotes"),
        ] {
            let key = bad.split(' ').next().unwrap();
            let text: String = base
                .lines()
                .filter(|l| !l.starts_with(&format!("{key} =")))
                .map(
                    |l| if l == "[train]" { format!("[train]\n{bad}\n") } else { format!("{l}\n") },
                )
                .collect();
            let err = Config::parse(&text, Path::new("hifi.toml")).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn review_show_fields_unset_empty_or_listed() {
        let base = cfg().to_toml();
        assert!(base.contains("# show_fields = [\"source\", \"date\"]"), "{base}");
        let with = |line: &str| {
            let text = base.replace("[review]\n", &format!("[review]\n{line}\n"));
            Config::parse(&text, Path::new("hifi.toml")).map(|c| c.review.show_fields)
        };
        assert_eq!(with("").unwrap(), None, "unset: every field");
        assert_eq!(with("show_fields = []").unwrap(), Some(vec![]), "empty: none");
        assert_eq!(
            with("show_fields = [\"source\", \"date\"]").unwrap(),
            Some(vec!["source".to_string(), "date".to_string()]),
            "listed: those, in this order"
        );
        let err = with("show_field = [\"source\"]").unwrap_err().to_string();
        assert!(err.contains("show_field"), "unknown keys are still refused: {err}");
        let err = with("show_fields = \"source\"").unwrap_err().to_string();
        assert!(err.contains("line"), "{err}");
        // Each case is written back as it was read.
        for fields in [None, Some(vec![]), Some(vec!["date".to_string(), "a \"b\"".to_string()])] {
            let mut c = cfg();
            c.review.show_fields = fields;
            assert_eq!(Config::parse(&c.to_toml(), Path::new("hifi.toml")).unwrap(), c);
        }
    }

    #[test]
    fn parse_error_names_the_line() {
        let text = "task = \"x\"\n[[labels]]\nname = \"a\"\ndefinition = 3\n";
        let err = Config::parse(text, Path::new("p/hifi.toml")).unwrap_err().to_string();
        assert!(err.starts_with("p/hifi.toml: line 4"), "{err}");
    }

    #[test]
    fn duplicate_and_single_labels_are_rejected() {
        let mut c = cfg();
        c.labels[1].name = "clickbait".into();
        assert!(c.validate().unwrap_err().contains("listed twice"));
        c.labels.pop();
        assert!(c.validate().unwrap_err().contains("at least two"));
    }
}
