//! `hifi export`: expert-labeled items as JSONL, CSV, or chat JSONL (`{"messages": [...]}`,
//! built from the very prompt the model is scored with). The eval split is never written as
//! train; items whose annotators disagree are left out until adjudicated.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::llm::prompt;
use crate::store::{Selection, Split, Store, StoreError};

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

/// How an output file is written.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions {
    /// Replace an existing file (never one of a project's own files).
    pub force: bool,
    /// CSV: leave cells that start with = + - @ as they are (by default they are prefixed with
    /// `'` so a spreadsheet shows them as text instead of running them as formulas).
    pub csv_formulas: bool,
}

impl WriteOptions {
    /// A CSV cell as these options write it.
    pub fn cell<'a>(&self, s: &'a str) -> std::borrow::Cow<'a, str> {
        if self.csv_formulas {
            s.into()
        } else {
            crate::files::csv_cell(s)
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportReport {
    pub file: String,
    pub rows: usize,
    pub train: usize,
    pub eval: usize,
    /// Labeled items left out because their annotators disagree (adjudicate them).
    pub conflicts: usize,
    /// Ids of train items left out because they near-duplicate an eval item (see `hifi report`).
    pub leaked: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Hifi(#[from] crate::error::Error),
}

/// Write the chosen split of the expert-labeled items to `out` ("-" for stdout). The file is
/// written to a temporary name and renamed, so a crash never leaves half a file; it never
/// replaces a project's own files, nor an existing file without `opts.force`.
pub fn export(
    store: &mut Store,
    cfg: &Config,
    format: ExportFormat,
    split: SplitChoice,
    out: &Path,
    opts: WriteOptions,
) -> Result<ExportReport, ExportError> {
    crate::files::check_output(out, opts.force)
        .map_err(|source| ExportError::Io { path: out.to_path_buf(), source })?;
    crate::curate::split::assign_splits(store, cfg)?;
    let (resolved, conflicts) = store.resolved_labels()?;
    let splits = store.splits()?;
    let leak = crate::curate::split::leakage(store, cfg)?;
    let examples = prompt::few_shot_examples(store, cfg)?;
    let io = |source| ExportError::Io { path: out.to_path_buf(), source };
    let mut leaked = Vec::new();

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
        if leak.train_keys.contains(key) {
            leaked.push(item.id);
            continue;
        }
        match format {
            ExportFormat::Jsonl => {
                let mut rec = serde_json::json!({"id": item.id, "text": item.text, "label": label, "split": s.as_str()});
                if let Some(meta) = item
                    .meta
                    .as_deref()
                    .and_then(|m| serde_json::from_str::<serde_json::Value>(m).ok())
                {
                    rec["meta"] = meta;
                }
                serde_json::to_writer(&mut buf, &rec).map_err(|e| io(e.into()))?;
                buf.push(b'\n');
            }
            ExportFormat::ChatJsonl => {
                serde_json::to_writer(
                    &mut buf,
                    &prompt::chat_record(cfg, &examples, &item.text, label),
                )
                .map_err(|e| io(e.into()))?;
                buf.push(b'\n');
            }
            ExportFormat::Csv => {
                if let Some(w) = csv_w.as_mut() {
                    w.write_record(
                        [
                            opts.cell(&item.id),
                            opts.cell(&item.text),
                            opts.cell(label),
                            s.as_str().into(),
                        ]
                        .iter()
                        .map(|c| c.as_bytes()),
                    )
                    .map_err(|e| io(e.into()))?;
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
    crate::files::write_output(out, &buf, opts.force).map_err(io)?;
    Ok(ExportReport {
        file: out.display().to_string(),
        rows,
        train,
        eval,
        conflicts: conflicts.len(),
        leaked,
    })
}

/// What `hifi export --selection` wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SelectionExportReport {
    pub file: String,
    pub selection: i64,
    pub kind: String,
    pub rows: usize,
    /// Entries experts vetoed, left out.
    pub vetoed: usize,
    /// Entries whose item is in the eval split, left out (eval is never trained on).
    pub eval: usize,
    /// The provenance file written beside the set (none for stdout).
    pub provenance: Option<String>,
}

/// Write set `sel` (less vetoed entries and eval items) to `out`, every row carrying where it
/// came from (set, kind, rank, score, reasons), and `OUT.provenance.json` beside it with the
/// parameters and report of the build. Both files are written atomically.
pub fn export_selection(
    store: &mut Store,
    sel: &Selection,
    format: ExportFormat,
    out: &Path,
    opts: WriteOptions,
) -> Result<SelectionExportReport, ExportError> {
    let io = |source| ExportError::Io { path: out.to_path_buf(), source };
    // Both files are checked before either is written.
    let side = (out != Path::new("-")).then(|| {
        let mut name = out.as_os_str().to_owned();
        name.push(".provenance.json");
        PathBuf::from(name)
    });
    crate::files::check_output(out, opts.force).map_err(io)?;
    if let Some(side) = &side {
        crate::files::check_output(side, opts.force)
            .map_err(|source| ExportError::Io { path: side.clone(), source })?;
    }
    let entries = store.selection_entries(sel.id)?;
    let splits = store.splits()?;
    if format == ExportFormat::ChatJsonl && entries.iter().any(|e| e.response.is_none()) {
        return Err(ExportError::Invalid(format!(
            "set {} ({}) holds documents without responses; export it as jsonl or csv",
            sel.id,
            sel.kind.as_str()
        )));
    }
    let mut buf: Vec<u8> = Vec::new();
    let mut csv_w = (format == ExportFormat::Csv).then(|| csv::Writer::from_writer(Vec::new()));
    if let Some(w) = csv_w.as_mut() {
        w.write_record(["id", "text", "response", "score", "rank", "selection", "kind", "reasons"])
            .map_err(|e| io(e.into()))?;
    }
    // The system message replies were sampled with (LIMO and self-training record it), so a
    // chat export trains on the conversation the replies answered.
    let system = sel
        .params
        .get("system")
        .or_else(|| sel.params.get("params").and_then(|p| p.get("system")))
        .and_then(|v| v.as_str());
    let (mut rows, mut vetoed, mut eval) = (0, 0, 0);
    for e in &entries {
        if e.vetoed {
            vetoed += 1;
            continue;
        }
        if splits.get(&e.item) == Some(&Split::Eval) {
            eval += 1;
            continue;
        }
        let provenance = serde_json::json!({"selection": sel.id, "kind": sel.kind.as_str(), "rank": e.rank, "built_at": sel.created_at});
        match format {
            ExportFormat::Jsonl => {
                let mut rec = serde_json::json!({"id": e.item_id, "text": e.text, "score": e.score, "reasons": e.reasons, "provenance": provenance});
                if let Some(r) = &e.response {
                    rec["response"] = r.clone().into();
                }
                if let Some(m) = &e.meta {
                    rec["meta"] = m.clone();
                }
                serde_json::to_writer(&mut buf, &rec).map_err(|e| io(e.into()))?;
                buf.push(b'\n');
            }
            ExportFormat::ChatJsonl => {
                let mut messages = Vec::with_capacity(3);
                if let Some(sys) = system {
                    messages.push(serde_json::json!({"role": "system", "content": sys}));
                }
                messages.push(serde_json::json!({"role": "user", "content": e.text}));
                messages.push(serde_json::json!({"role": "assistant", "content": e.response.clone().unwrap_or_default()}));
                let rec = serde_json::json!({"messages": messages, "id": e.item_id, "provenance": provenance});
                serde_json::to_writer(&mut buf, &rec).map_err(|e| io(e.into()))?;
                buf.push(b'\n');
            }
            ExportFormat::Csv => {
                if let Some(w) = csv_w.as_mut() {
                    let score = e.score.map(|s| format!("{s:.6}")).unwrap_or_default();
                    let (rank, id, reasons) =
                        (e.rank.to_string(), sel.id.to_string(), e.reasons.to_string());
                    w.write_record(
                        [
                            opts.cell(&e.item_id),
                            opts.cell(&e.text),
                            opts.cell(e.response.as_deref().unwrap_or("")),
                            score.as_str().into(),
                            rank.as_str().into(),
                            id.as_str().into(),
                            sel.kind.as_str().into(),
                            opts.cell(&reasons),
                        ]
                        .iter()
                        .map(|c| c.as_bytes()),
                    )
                    .map_err(|e| io(e.into()))?;
                }
            }
        }
        rows += 1;
    }
    if let Some(w) = csv_w {
        buf = w.into_inner().map_err(|e| io(std::io::Error::other(e.to_string())))?;
    }
    crate::files::write_output(out, &buf, opts.force).map_err(io)?;
    let provenance = if let Some(side) = side {
        let doc = serde_json::json!({
            "selection": sel,
            "exported_at": crate::store::now(),
            "file": out.display().to_string(),
            "rows": rows,
            "left_out": {"vetoed": vetoed, "eval_split": eval},
            "hifi": env!("CARGO_PKG_VERSION"),
        });
        let bytes = serde_json::to_vec_pretty(&doc).map_err(|e| io(e.into()))?;
        crate::files::write_output(&side, &bytes, opts.force)
            .map_err(|source| ExportError::Io { path: side.clone(), source })?;
        Some(side.display().to_string())
    } else {
        None
    };
    Ok(SelectionExportReport {
        file: out.display().to_string(),
        selection: sel.id,
        kind: sel.kind.as_str().into(),
        rows,
        vetoed,
        eval,
        provenance,
    })
}
