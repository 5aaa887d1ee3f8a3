//! Import and export of items (CSV, JSONL, chat JSONL).

pub mod export;
pub mod import;
pub mod labels;
mod problems;
pub mod records;

pub use problems::{Problem, Problems};

use std::path::Path;

/// File formats hifi reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
}

impl Format {
    /// From the extension (`.csv`, `.jsonl` / `.ndjson` / `.json`); `None` when unknown.
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" | "json" => Some(Format::Jsonl),
            _ => None,
        }
    }
}
