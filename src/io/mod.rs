//! Import and export of items (CSV, JSONL, chat JSONL, Parquet, Hugging Face dataset folders).

pub mod export;
pub mod hf_dataset;
pub mod import;
pub mod labels;
pub mod parquet;
mod problems;
pub mod records;
pub mod sft;

pub use problems::{Problem, Problems, RowMap};

use std::path::Path;

/// File formats hifi reads and writes. The fine-tuning formats (chat, alpaca, sharegpt) are
/// JSON lines or Parquet: a file's first record says which it holds (see [`sft::sniff`]).
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
    /// Parquet: a file, or a folder of shards (every `*.parquet` in it); a prompt pool or
    /// chat, alpaca or sharegpt data as its first row shows.
    Parquet,
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
            Format::Parquet => "parquet",
        }
    }

    /// A fine-tuning format (chat, alpaca, sharegpt): prompts with candidate responses.
    pub fn is_sft(self) -> bool {
        matches!(self, Format::Chat | Format::Alpaca | Format::ShareGpt)
    }

    /// From the extension (`.csv`, `.jsonl` / `.ndjson` / `.json`, `.parquet`); a folder is
    /// Parquet shards; `None` when unknown.
    pub fn from_path(path: &Path) -> Option<Self> {
        if path.is_dir() {
            return Some(Format::Parquet);
        }
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" | "json" => Some(Format::Jsonl),
            "parquet" => Some(Format::Parquet),
            _ => None,
        }
    }

    /// The container a file of this format is read as: CSV, JSON lines or Parquet. A
    /// fine-tuning format named for a Parquet file (by its extension, or a folder) is Parquet.
    pub fn container(self, path: &Path) -> Format {
        match self {
            Format::Csv | Format::Parquet => self,
            Format::Jsonl => Format::Jsonl,
            Format::Chat | Format::Alpaca | Format::ShareGpt => {
                if Format::from_path(path) == Some(Format::Parquet) {
                    Format::Parquet
                } else {
                    Format::Jsonl
                }
            }
        }
    }
}
