//! LoRA fine-tuning in Rust (candle) on the same GGUF the engine runs, written back as a
//! GGUF adapter that llama.cpp hot-loads.
//!
//! - [`arch`]: which architectures have a forward here (llama family, qwen2, qwen3).
//! - [`model`]: the base model dequantized to f32, its forward with LoRA, the loss on the
//!   answer tokens only.
//! - [`lora`]: the trainable weights and the adapter file.
//! - [`trainer`]: the optimisation loop.
//! - [`job`]: training as a child process of the same binary (JSON job in, JSON-lines
//!   progress out), or an external command with the same contract.
//! - [`round`]: a project's train split → a job → an adapter with its manifest.

pub mod arch;
pub mod job;
pub mod lora;
pub mod lora_round;
pub mod model;
pub mod trainer;

pub use arch::{ArchConfig, Family, Target};
pub use job::{TrainEvent, TrainJob, TrainerCommand};
pub use lora::Lora;
pub use lora_round::{
    adopt_adapter, train_adapter, train_set, AdapterRun, LoraRun, Manifest, PromptTokens, TrainSet,
};
pub use model::{BaseModel, Example};
pub use trainer::{train, LoraParams, StepReport, TrainOutcome};

/// Why training could not run or finish.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Model(String),
    #[error("{0}")]
    Adapter(String),
    #[error("{0}")]
    Params(String),
    #[error("{0}")]
    Diverged(String),
    #[error("{0}")]
    Io(String),
    #[error("training was cancelled")]
    Cancelled,
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),
}
