//! `hifi export`: expert-labeled items as JSONL, CSV, or chat JSONL (`{"messages": [...]}`,
//! built from the very prompt the model is scored with). The eval split is never written as
//! train; items whose annotators disagree are left out until adjudicated.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::llm::prompt;
use crate::store::{Split, Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Jsonl,
    Csv,
    /// `{"messages": [system, user, assistant]}` per line, for TRL / axolotl / Unsloth.
    ChatJsonl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SplitChoice {
    Train,
    Eval,
    All,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportReport {
    pub file: String,
    pub rows: usize,
    pub train: usize,
    pub eval: usize,
    /// Labeled items left out because their annotators disagree (adjudicate them).
    pub conflicts: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Write the chosen split of the expert-labeled items to `out` ("-" for stdout). The file is
/// written to a temporary name and renamed, so a crash never leaves half a file.
pub fn export(store: &mut Store, cfg: &Config, format: ExportFormat, split: SplitChoice, out: &Path) -> Result<ExportReport, ExportError> {
    store.assign_splits(cfg.split.eval_fraction)?;
    let (resolved, conflicts) = store.resolved_labels()?;
    let splits = store.splits()?;
    let examples = prompt::few_shot_examples(store, cfg)?;
    let io = |source| ExportError::Io { path: out.to_path_buf(), source };

    let mut buf: Vec<u8> = Vec::new();
    let mut csv_w = (format == ExportFormat::Csv).then(|| csv::Writer::from_writer(Vec::new()));
    if let Some(w) = csv_w.as_mut() {
        w.write_record(["id", "text", "label", "split"]).map_err(|e| io(e.into()))?;
    }
    let (mut rows, mut train, mut eval) = (0, 0, 0);
    for (key, label) in &resolved {
        let Some(s) = splits.get(key).copied() else { continue };
        let wanted = match split {
            SplitChoice::Train => s == Split::Train,
            SplitChoice::Eval => s == Split::Eval,
            SplitChoice::All => true,
        };
        if !wanted {
            continue;
        }
        let Some(item) = store.item(*key)? else { continue };
        match format {
            ExportFormat::Jsonl => {
                let mut rec = serde_json::json!({"id": item.id, "text": item.text, "label": label, "split": s.as_str()});
                if let Some(meta) = item.meta.as_deref().and_then(|m| serde_json::from_str::<serde_json::Value>(m).ok()) {
                    rec["meta"] = meta;
                }
                serde_json::to_writer(&mut buf, &rec).map_err(|e| io(e.into()))?;
                buf.push(b'\n');
            }
            ExportFormat::ChatJsonl => {
                serde_json::to_writer(&mut buf, &prompt::chat_record(cfg, &examples, &item.text, label)).map_err(|e| io(e.into()))?;
                buf.push(b'\n');
            }
            ExportFormat::Csv => {
                if let Some(w) = csv_w.as_mut() {
                    w.write_record([item.id.as_str(), item.text.as_str(), label.as_str(), s.as_str()]).map_err(|e| io(e.into()))?;
                }
            }
        }
        rows += 1;
        match s {
            Split::Train => train += 1,
            Split::Eval => eval += 1,
        }
    }
    if let Some(w) = csv_w {
        buf = w.into_inner().map_err(|e| io(std::io::Error::other(e.to_string())))?;
    }
    write_atomically(out, &buf).map_err(io)?;
    Ok(ExportReport { file: out.display().to_string(), rows, train, eval, conflicts: conflicts.len() })
}

/// Write `bytes` to `path` via a temporary file in the same folder and a rename; "-" writes to
/// stdout.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if path == Path::new("-") {
        let mut out = std::io::stdout().lock();
        out.write_all(bytes)?;
        return out.flush();
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "export".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
