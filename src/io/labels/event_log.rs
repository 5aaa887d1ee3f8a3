//! `hifi labels export`: every annotation event (label, undo, skip, flag, resolve) with who,
//! when, the item's split, the model's prediction at the time and the round, so a labeled set
//! can be audited later. Undone and replaced events stay in; `current` says which are in force.

use std::collections::HashSet;
use std::path::Path;

use serde_json::Value;

use crate::config::Config;
use crate::io::export::{ExportError, SplitChoice, WriteOptions};
pub use crate::store::AuditEvent;
use crate::store::Store;

/// Output formats of the event export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EventFormat {
    /// One JSON object per event; `prediction` is a nested object.
    Jsonl,
    /// One row per event; the prediction as `predicted_label` and its JSON in `prediction`.
    Csv,
}

/// What to export.
#[derive(Debug, Clone)]
pub struct EventExportOptions {
    pub format: EventFormat,
    /// Only this annotator's events; `None`: everyone's.
    pub annotator: Option<String>,
    /// Only events on items of this split; `All` includes items not split yet.
    pub split: SplitChoice,
    /// --force, and CSV formula quoting.
    pub write: WriteOptions,
}

/// What an export wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EventExportReport {
    pub file: String,
    pub events: usize,
    /// Distinct items those events are about.
    pub items: usize,
}

/// Header of the CSV export, in column order.
pub const CSV_COLUMNS: [&str; 15] = [
    "event",
    "item_id",
    "annotator",
    "kind",
    "label",
    "note",
    "time",
    "split",
    "round",
    "supersedes",
    "current",
    "predicted_label",
    "prediction",
    "suggestion",
    "stratum",
];

/// Write the chosen events to `out` ("-" for stdout), atomically. Items that are resolved but
/// not split yet get their split first, as `hifi export` would give it.
pub fn export_events(
    store: &mut Store,
    cfg: &Config,
    opts: &EventExportOptions,
    out: &Path,
) -> Result<EventExportReport, ExportError> {
    crate::files::check_output(out, opts.write.force)
        .map_err(|source| ExportError::Io { path: out.to_path_buf(), source })?;
    crate::curate::split::assign_splits(store, cfg)?;
    let wanted = |split: Option<&str>| match opts.split {
        SplitChoice::All => true,
        SplitChoice::Train => split == Some("train"),
        SplitChoice::Eval => split == Some("eval"),
    };
    let events: Vec<AuditEvent> = store
        .audit_events(opts.annotator.as_deref())?
        .into_iter()
        .filter(|e| wanted(e.split.as_deref()))
        .collect();
    let io = |source| ExportError::Io { path: out.to_path_buf(), source };
    let bytes = match opts.format {
        EventFormat::Jsonl => {
            let mut buf = Vec::new();
            for e in &events {
                serde_json::to_writer(&mut buf, e).map_err(|e| io(e.into()))?;
                buf.push(b'\n');
            }
            buf
        }
        EventFormat::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(CSV_COLUMNS).map_err(|e| io(e.into()))?;
            for e in &events {
                let cell = |v: &str| opts.write.cell(v).into_owned();
                let opt = |v: &Option<String>| cell(v.as_deref().unwrap_or_default());
                let num = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
                let predicted = e
                    .prediction
                    .as_ref()
                    .and_then(|p| p.get("label"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let prediction = e.prediction.as_ref().map(Value::to_string).unwrap_or_default();
                w.write_record([
                    e.event.to_string(),
                    cell(&e.item_id),
                    cell(&e.annotator),
                    e.kind.clone(),
                    opt(&e.label),
                    opt(&e.note),
                    e.time.clone(),
                    opt(&e.split),
                    num(e.round),
                    num(e.supersedes),
                    e.current.to_string(),
                    cell(&predicted),
                    prediction,
                    opt(&e.suggestion),
                    opt(&e.stratum),
                ])
                .map_err(|e| io(e.into()))?;
            }
            w.into_inner().map_err(|e| io(std::io::Error::other(e.to_string())))?
        }
    };
    crate::files::write_output(out, &bytes, opts.write.force).map_err(io)?;
    let items: HashSet<&str> = events.iter().map(|e| e.item_id.as_str()).collect();
    Ok(EventExportReport {
        file: out.display().to_string(),
        events: events.len(),
        items: items.len(),
    })
}
