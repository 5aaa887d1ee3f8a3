//! The error every stage returns: what went wrong and where, never a panic.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Llm(#[from] LlmError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Input(String),
    /// The stage stopped because it was asked to (Ctrl-C, SIGTERM, the workstation's cancel
    /// key); the text says what was kept.
    #[error("cancelled: {0}")]
    Cancelled(String),
}

impl Error {
    /// Whether the stage stopped because it was cancelled, not because something failed.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Error::Cancelled(_) | Error::Llm(LlmError::Cancelled))
    }

    pub fn io(path: &std::path::Path, e: std::io::Error) -> Self {
        Error::Io(format!("{}: {e}", crate::text::inert(&path.display().to_string(), false)))
    }
}

/// What running a model can fail with (llama.cpp, or the model file itself). Defined here, not
/// in `llm`, so that `llm`'s stages can return [`Error`] without a module cycle.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("{0}")]
    Model(String),
    #[error("llama.cpp: {0}")]
    Engine(String),
    #[error("{0}")]
    Input(String),
    /// An OpenAI-compatible server failed or refused a request (the message names the URL).
    #[error("{0}")]
    Server(String),
    #[error("cancelled")]
    Cancelled,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
