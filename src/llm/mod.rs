//! The llama.cpp engine (through `llama-cpp-2`): load a GGUF, score labels by
//! log-probability with a cached prompt prefix, embed texts, and the `prelabel` / `embed`
//! stages built on them. Stages ask a model through the small traits of [`model`] (score,
//! embed, generate); llama.cpp implements them, and `stand_in` does so deterministically
//! for tests (built only with the `test-support` feature, which only the tests turn on).

pub mod device;
pub mod embed;
mod embedder;
mod engine;
pub mod generate;
pub mod gguf;
pub mod http;
pub mod model;
pub mod prelabel;
pub mod prompt;
pub mod score;
#[doc(hidden)]
#[cfg(feature = "test-support")]
pub mod stand_in;

pub use device::GpuLayers;
pub use engine::{context_params, Engine, EngineOptions, LlmError, PromptPrefix};
pub use model::{Embed, Engines, Generate, Models, Scorer};
