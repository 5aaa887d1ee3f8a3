//! Flag groups several subcommands share. Each turns into the pipeline's overrides; every
//! default shown in `--help` is read from the library, where it is kept once.

use std::path::PathBuf;

use clap::Args;

use hifi::config::Target;
use hifi::curate::{MineParams, Strategy};
use hifi::pipeline::{EngineOverrides, LoraOverrides, SamplingOverrides};

#[derive(Debug, Args, Clone)]
pub struct EngineArgs {
    /// GGUF model (default: [model] path in hifi.toml).
    #[arg(long, value_name = "GGUF")]
    pub model: Option<PathBuf>,
    /// CPU threads (default: hifi.toml, else all cores up to 8).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Layers on the GPU: "auto" (all that fit, when a CUDA build finds a GPU) or a number;
    /// 0: the CPU only. Default: [model] gpu_layers in hifi.toml ("auto").
    #[arg(long, value_name = "auto|N")]
    pub gpu_layers: Option<hifi::llm::GpuLayers>,
}

impl EngineArgs {
    pub fn overrides(&self) -> EngineOverrides {
        EngineOverrides {
            model: self.model.clone(),
            threads: self.threads,
            gpu_layers: self.gpu_layers,
        }
    }
}

/// Where prelabel and embed run (each overrides `[backend]` in hifi.toml).
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Backend (OpenAI-compatible servers; docs/scale-out.md)")]
pub struct BackendArgs {
    /// local: llama.cpp in this process. openai: vLLM, SGLang or the llama-cpp-python server.
    #[arg(long, value_enum, value_name = "KIND")]
    pub backend: Option<hifi::config::BackendKind>,
    /// A server's base URL up to /v1 (repeat for several; implies --backend openai).
    #[arg(long = "url", value_name = "URL")]
    pub urls: Vec<String>,
    /// The model name the server serves.
    #[arg(long, value_name = "NAME")]
    pub server_model: Option<String>,
    /// Requests in flight at once, over all URLs (default: hifi.toml, else 8).
    #[arg(long, value_name = "N")]
    pub in_flight: Option<usize>,
    /// Prompts (texts, for embeddings) per request: vLLM and SGLang take many (try 32);
    /// the llama-cpp-python server one (default: hifi.toml, else 1).
    #[arg(long, value_name = "N")]
    pub prompts_per_request: Option<usize>,
}

impl BackendArgs {
    pub fn overrides(&self) -> hifi::pipeline::BackendOverrides {
        hifi::pipeline::BackendOverrides {
            kind: self.backend,
            urls: self.urls.clone(),
            model: self.server_model.clone(),
            in_flight: self.in_flight,
            prompts_per_request: self.prompts_per_request,
        }
    }
}

/// How an output file is written.
#[derive(Debug, Args, Clone, Copy)]
pub struct WriteFlags {
    /// Replace FILE if it exists. A project's own files (hifi.db, hifi.toml, vectors/,
    /// adapters/, …) and SQLite databases are never replaced, with or without --force.
    #[arg(long)]
    pub force: bool,
    /// CSV: write cells that start with = + - @ as they are. By default such a cell (unless it
    /// is a number) is prefixed with ' so a spreadsheet shows it as text, not a formula.
    #[arg(long)]
    pub csv_formulas: bool,
}

impl From<WriteFlags> for hifi::io::export::WriteOptions {
    fn from(f: WriteFlags) -> Self {
        Self { force: f.force, csv_formulas: f.csv_formulas, ..Self::default() }
    }
}

/// The mining knobs, shared by `hifi mine` and `hifi round` (which refills the queue).
#[derive(Debug, Args)]
pub struct MineFlags {
    /// Queue entries to produce (pairs for `pairs`, items otherwise).
    #[arg(long, default_value_t = MineParams::default().budget, value_name = "N")]
    pub budget: usize,
    /// pairs: nearest differently-labeled items of overlapping per-label clusters, ordered for
    /// diversity. adaptive: typical items of unlabeled regions while the model has not earned
    /// agreement on held-out labels, its lowest margins as it does. margin / entropy / random /
    /// cluster-margin: single items.
    #[arg(long, value_enum, default_value_t = MineParams::default().strategy)]
    pub strategy: Strategy,
    /// Seed for sampling, k-means and random draws (same seed and data, same queue).
    #[arg(long, default_value_t = MineParams::default().seed)]
    pub seed: u64,
    /// Clusters per label (default: round(sqrt(items / 2)), between 1 and 64).
    #[arg(long, value_name = "K")]
    pub k: Option<usize>,
    /// Share of entries that ask for two annotators, for expert-vs-expert agreement.
    #[arg(long, default_value_t = MineParams::default().overlap_share, value_name = "SHARE")]
    pub overlap_share: f64,
    /// Percentile of member-to-centre distances taken as a cluster's radius in the overlap test.
    #[arg(long, default_value_t = MineParams::default().overlap_percentile, value_name = "P")]
    pub overlap_percentile: f64,
    /// Vectors closer than this (Euclidean, normalised) are near-duplicates; 0 turns it off.
    #[arg(long, default_value_t = MineParams::default().dup_threshold, value_name = "DIST")]
    pub dup_threshold: f32,
}

impl MineFlags {
    /// The library's parameters for these flags.
    pub fn params(&self) -> MineParams {
        MineParams {
            budget: self.budget,
            strategy: self.strategy,
            seed: self.seed,
            k: self.k,
            overlap_share: self.overlap_share,
            overlap_percentile: self.overlap_percentile,
            dup_threshold: self.dup_threshold,
            ..MineParams::default()
        }
    }
}

/// LoRA hyper-parameters and who trains. Unset flags take hifi.toml's `[train]`, then the
/// built-in defaults.
#[derive(Debug, Clone, Args)]
pub struct LoraFlags {
    /// LoRA rank r [default: [train] rank in hifi.toml, else 8].
    #[arg(long, value_name = "R")]
    pub rank: Option<usize>,
    /// LoRA alpha; the update is scaled by alpha / rank [default: hifi.toml, else 16].
    #[arg(long)]
    pub alpha: Option<f32>,
    /// Peak learning rate (AdamW; linear warm-up over the first 10% of steps, then linear
    /// decay) [default: hifi.toml, else 1e-3].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Passes over the train split [default: hifi.toml, else 2].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Examples per optimiser step; they share one evaluation of the prompt prefix
    /// [default: hifi.toml, else 8].
    #[arg(long)]
    pub batch: Option<usize>,
    /// Longest item + answer in tokens (after the shared prefix).
    #[arg(long, default_value_t = hifi::train::LoraParams::default().max_len, value_name = "TOKENS")]
    pub max_len: usize,
    /// Layers to adapt, comma-separated [default: hifi.toml, else q,k,v,o,gate,up,down].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub targets: Vec<Target>,
    /// Seeds the LoRA initialisation and the example order.
    #[arg(long = "train-seed", default_value_t = hifi::train::LoraParams::default().seed, value_name = "SEED")]
    pub train_seed: u64,
    /// Continue from the last LoRA round's adapter instead of training from the base model
    /// (the default, as ReST-EM found better).
    #[arg(long = "continue")]
    pub continue_last: bool,
    /// Train elsewhere: a shell command with {job} (the job JSON) and {out} (where to write
    /// the GGUF adapter), e.g. "python train_peft.py {job} {out}" [default: [train] external
    /// in hifi.toml]. Write the placeholders bare, not in quotes: hifi passes the paths as
    /// "$HIFI_JOB" and "$HIFI_OUT" (also $1 and $2), never inside the command's text. See
    /// docs/lora.md, "External trainer".
    #[arg(long, value_name = "COMMAND")]
    pub external: Option<String>,
    /// Gradient checkpointing: on / off (default: on when a step's activations would not fit
    /// in half the available memory; it costs about a third more compute).
    #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
    pub checkpoint: Option<bool>,
    /// CPU threads for training (default: [model] threads in hifi.toml).
    #[arg(long = "train-threads", value_name = "N")]
    pub train_threads: Option<usize>,
}

impl LoraFlags {
    pub fn overrides(&self) -> LoraOverrides {
        LoraOverrides {
            rank: self.rank,
            alpha: self.alpha,
            lr: self.lr,
            epochs: self.epochs,
            batch: self.batch,
            max_len: Some(self.max_len),
            targets: self.targets.clone(),
            seed: Some(self.train_seed),
            continue_last: self.continue_last,
            external: self.external.clone(),
            checkpoint: self.checkpoint,
            threads: self.train_threads,
        }
    }
}

fn parse_on_off(s: &str) -> std::result::Result<bool, String> {
    match s {
        "on" | "true" | "yes" => Ok(true),
        "off" | "false" | "no" => Ok(false),
        _ => Err(format!("expected on or off, not {s:?}")),
    }
}

/// How replies are sampled and judged (LIMO and self-training).
#[derive(Debug, Clone, Args)]
pub struct SamplingFlags {
    /// Replies sampled per prompt (0 for LIMO: difficulty from the prelabeling margin).
    #[arg(long, default_value_t = SamplingOverrides::default().samples, value_name = "K")]
    pub samples: usize,
    #[arg(long, default_value_t = SamplingOverrides::default().temperature)]
    pub temperature: f32,
    /// Longest reply in tokens.
    #[arg(long, default_value_t = SamplingOverrides::default().max_tokens)]
    pub max_tokens: usize,
    /// Field of the imported items with the reference answer.
    #[arg(long, default_value_t = SamplingOverrides::default().reference_field)]
    pub reference_field: String,
    /// Field with candidate responses (a string or a list of strings).
    #[arg(long, default_value_t = SamplingOverrides::default().responses_field)]
    pub responses_field: String,
    /// System message for sampling (default: none, the chat template's own).
    #[arg(long)]
    pub system: Option<String>,
    /// Judge replies with a command instead of exact match: it reads
    /// {"id","prompt","response","reference"} as JSON on stdin and prints 1 or 0.
    #[arg(long, value_name = "COMMAND")]
    pub reward_command: Option<String>,
    /// Seconds the reward command gets per reply; past them it is ended, with whatever it
    /// started, and the run stops with an error naming the item.
    #[arg(long, default_value_t = SamplingOverrides::default().reward_timeout_secs, value_name = "SECONDS", requires = "reward_command", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub reward_timeout: u64,
    /// The model that samples (default: [model] in hifi.toml).
    #[arg(long, value_name = "GGUF")]
    pub model: Option<PathBuf>,
    /// CPU threads (default: hifi.toml).
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long, default_value_t = SamplingOverrides::default().seed)]
    pub seed: u64,
    /// Keep up to K responses of each chosen prompt (best first) as candidate responses that
    /// experts judge, edit and compare on the workstation's Responses screen; the set's export
    /// uses the expert's choice where there is one.
    #[arg(long, default_value_t = 0, value_name = "K")]
    pub keep_candidates: usize,
}

impl SamplingFlags {
    pub fn overrides(&self) -> SamplingOverrides {
        SamplingOverrides {
            samples: self.samples,
            temperature: self.temperature,
            max_tokens: self.max_tokens,
            reference_field: self.reference_field.clone(),
            responses_field: self.responses_field.clone(),
            system: self.system.clone(),
            reward_command: self.reward_command.clone(),
            reward_timeout_secs: self.reward_timeout,
            seed: self.seed,
            keep_candidates: self.keep_candidates,
            engine: EngineOverrides {
                model: self.model.clone(),
                threads: self.threads,
                gpu_layers: None,
            },
        }
    }
}
