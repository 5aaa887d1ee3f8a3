//! Import and export of items (CSV, JSONL, chat JSONL).

pub mod export;
pub mod import;
pub mod labels;
mod problems;
pub mod records;
pub mod sft;

pub use problems::{Problem, Problems};

use std::path::Path;

/// File formats hifi reads and writes. The fine-tuning formats (chat, alpaca, sharegpt) are
/// JSON lines: a JSONL file's first record says which it holds (see [`sft::sniff`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// CSV with a header row: a prompt pool.
    Csv,
    /// JSON lines: a prompt pool (`text`, optional `responses`), or a chat, alpaca or sharegpt
    /// file as its first record shows.
    Jsonl,
    /// OpenAI chat JSONL: `{"messages": [{"role", "content"}, …]}`.
    Chat,
    /// Alpaca JSONL: `instruction`, optional `input`, `output`.
    Alpaca,
    /// ShareGPT JSONL: `conversations` of `{"from", "value"}`.
    #[value(name = "sharegpt")]
    ShareGpt,
}

impl Format {
    /// The name `--format` takes and imports record.
    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
            Format::Chat => "chat",
            Format::Alpaca => "alpaca",
            Format::ShareGpt => "sharegpt",
        }
    }

    /// A fine-tuning format (chat, alpaca, sharegpt): prompts with candidate responses.
    pub fn is_sft(self) -> bool {
        matches!(self, Format::Chat | Format::Alpaca | Format::ShareGpt)
    }

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
