//! The error every stage returns: what went wrong and where, never a panic.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Llm(#[from] crate::llm::LlmError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Input(String),
}

impl Error {
    pub fn io(path: &std::path::Path, e: std::io::Error) -> Self {
        Error::Io(format!("{}: {e}", crate::text::inert(&path.display().to_string(), false)))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Store(e.into())
    }
}
