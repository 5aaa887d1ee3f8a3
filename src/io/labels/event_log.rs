//! `hifi labels export`: every annotation event (label, undo, skip, flag, resolve) with who,
//! when, the item's split, the model's prediction at the time and the round, so a labeled set
//! can be audited later. Undone and replaced events stay in; `current` says which are in force.
//!
//! Judgements of candidate responses (accept, reject, edit, prefer, score, undo) go out in the
//! same file, merged in by time, as [`ResponseAuditEvent`]s: they carry `"target": "response"`
//! (label events carry no `target`, and their fields are as they always were), their own event
//! numbers (`event` counts response events apart from label events), the candidate and the
//! revision judged, the revision it edits (`parent`), the other side of a preference and the
//! verdict, the score, the reason, what was on screen (`shown`), the undone event
//! (`supersedes`), and `current`: whether it is in force (`hifi responses list`'s rule, less
//! judgements of a revision whose edit was undone). In CSV the response columns
//! ([`RESPONSE_CSV_COLUMNS`]) follow the label columns only when response events are written,
//! so a labels-only export is as it always was.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::config::Config;
use crate::io::export::{ExportError, SplitChoice, WriteOptions};
use crate::responses::report::counted;
use crate::responses::InForce;
pub use crate::store::AuditEvent;
use crate::store::{ResponseEvent, ResponseKind, Revision, Store};

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
    /// Every event written, label and response events together.
    pub events: usize,
    /// Distinct items those events are about.
    pub items: usize,
    /// Of `events`, the judgements of candidate responses.
    pub response_events: usize,
}

/// One judgement of a candidate response as exported (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseAuditEvent {
    /// The response event's id (numbered apart from label events).
    pub event: i64,
    /// Always "response": what sets these apart from label events.
    pub target: &'static str,
    pub item_id: String,
    pub annotator: String,
    /// accept, reject, edit, prefer, score or undo.
    pub kind: String,
    /// The candidate's number in its item (a preference: the first named).
    pub candidate: Option<i64>,
    /// The revision judged (an edit: the revision it made).
    pub revision: Option<i64>,
    /// The revision that revision edits (`None` for an original).
    pub parent: Option<i64>,
    /// A preference: the second candidate named, and its revision.
    pub other_candidate: Option<i64>,
    pub other_revision: Option<i64>,
    /// A preference: better (the first named is), tie or both-bad.
    pub verdict: Option<String>,
    pub score: Option<u8>,
    pub reason: Option<String>,
    /// When it was recorded (RFC 3339, UTC).
    pub time: String,
    /// The item's split now (`None`: not split yet).
    pub split: Option<String>,
    /// The event an undo takes back.
    pub supersedes: Option<i64>,
    /// True for a judgement still in force (undo events: false).
    pub current: bool,
    /// What was on screen when it was given.
    pub shown: Option<Value>,
}

/// The CSV columns after [`CSV_COLUMNS`] when response events are written (label rows leave
/// them empty but for `target`, "label").
pub const RESPONSE_CSV_COLUMNS: [&str; 10] = [
    "target",
    "candidate",
    "revision",
    "parent",
    "other_candidate",
    "other_revision",
    "verdict",
    "score",
    "reason",
    "shown",
];

/// The ids of the events in `events` that are in force (see the module docs).
fn response_events_in_force(events: &[ResponseEvent], revisions: &[Revision]) -> HashSet<i64> {
    let force = counted(&InForce::read(events, revisions), revisions);
    let mut current: HashSet<i64> = force.decisions.values().map(|d| d.event).collect();
    current.extend(force.preferences.values().map(|p| p.event));
    // Scores: InForce keeps the value; the event in force is the newest score not undone.
    let number: HashMap<i64, i64> = revisions.iter().map(|r| (r.id, r.number)).collect();
    let undone: HashSet<i64> = events.iter().filter_map(|e| e.supersedes).collect();
    let mut scores: HashMap<(i64, &str, i64), i64> = HashMap::new();
    for e in events {
        if e.kind != ResponseKind::Score || undone.contains(&e.id) {
            continue;
        }
        let Some(n) = e.response.and_then(|r| number.get(&r)) else { continue };
        let slot = scores.entry((e.item, e.annotator.as_str(), *n)).or_insert(e.id);
        *slot = (*slot).max(e.id);
    }
    current.extend(scores.into_values());
    current
}

/// Every response event, oldest first, as exported; only `annotator`'s when given.
fn response_audit_events(
    store: &Store,
    annotator: Option<&str>,
) -> Result<Vec<ResponseAuditEvent>, ExportError> {
    let events = store.response_events(None)?;
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let revisions = store.all_revisions()?;
    let current = response_events_in_force(&events, &revisions);
    let by_id: HashMap<i64, &Revision> = revisions.iter().map(|r| (r.id, r)).collect();
    let splits = store.splits()?;
    let mut ids: HashMap<i64, String> = HashMap::new();
    let mut out = Vec::new();
    for e in &events {
        if annotator.is_some_and(|a| a != e.annotator) {
            continue;
        }
        if let std::collections::hash_map::Entry::Vacant(slot) = ids.entry(e.item) {
            slot.insert(store.item(e.item)?.map(|i| i.id).unwrap_or_default());
        }
        let rev = e.response.and_then(|r| by_id.get(&r));
        let other = e.other.and_then(|r| by_id.get(&r));
        out.push(ResponseAuditEvent {
            event: e.id,
            target: "response",
            item_id: ids[&e.item].clone(),
            annotator: e.annotator.clone(),
            kind: e.kind.as_str().into(),
            candidate: rev.map(|r| r.number),
            revision: e.response,
            parent: rev.and_then(|r| r.parent),
            other_candidate: other.map(|r| r.number),
            other_revision: e.other,
            verdict: e.verdict.map(|v| v.as_str().to_string()),
            score: e.score,
            reason: e.reason.clone(),
            time: e.created_at.clone(),
            split: splits.get(&e.item).map(|s| s.as_str().to_string()),
            supersedes: e.supersedes,
            current: current.contains(&e.id),
            shown: e.shown.clone(),
        });
    }
    Ok(out)
}

/// A label event or a response event, in the order they were recorded.
enum Row<'a> {
    Label(&'a AuditEvent),
    Response(&'a ResponseAuditEvent),
}

/// Label and response events merged by time (each kind keeps its own order; a label event goes
/// first on equal times).
fn merged<'a>(labels: &'a [AuditEvent], responses: &'a [ResponseAuditEvent]) -> Vec<Row<'a>> {
    let mut out = Vec::with_capacity(labels.len() + responses.len());
    let (mut i, mut j) = (0, 0);
    while i < labels.len() || j < responses.len() {
        let take_label = match (labels.get(i), responses.get(j)) {
            (Some(l), Some(r)) => l.time <= r.time,
            (Some(_), None) => true,
            _ => false,
        };
        if take_label {
            out.push(Row::Label(&labels[i]));
            i += 1;
        } else {
            out.push(Row::Response(&responses[j]));
            j += 1;
        }
    }
    out
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
    let responses: Vec<ResponseAuditEvent> =
        response_audit_events(store, opts.annotator.as_deref())?
            .into_iter()
            .filter(|e| wanted(e.split.as_deref()))
            .collect();
    let rows = merged(&events, &responses);
    let io = |source| ExportError::Io { path: out.to_path_buf(), source };
    let bytes = match opts.format {
        EventFormat::Jsonl => {
            let mut buf = Vec::new();
            for row in &rows {
                match row {
                    Row::Label(e) => serde_json::to_writer(&mut buf, e),
                    Row::Response(e) => serde_json::to_writer(&mut buf, e),
                }
                .map_err(|e| io(e.into()))?;
                buf.push(b'\n');
            }
            buf
        }
        EventFormat::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            let extra = !responses.is_empty();
            if extra {
                w.write_record(CSV_COLUMNS.iter().chain(&RESPONSE_CSV_COLUMNS))
                    .map_err(|e| io(e.into()))?;
            } else {
                w.write_record(CSV_COLUMNS).map_err(|e| io(e.into()))?;
            }
            let cell = |v: &str| opts.write.cell(v).into_owned();
            let opt = |v: &Option<String>| cell(v.as_deref().unwrap_or_default());
            let num = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
            for row in &rows {
                let e = match row {
                    Row::Label(e) => e,
                    Row::Response(r) => {
                        let mut rec = vec![
                            r.event.to_string(),
                            cell(&r.item_id),
                            cell(&r.annotator),
                            r.kind.clone(),
                            String::new(),
                            String::new(),
                            r.time.clone(),
                            opt(&r.split),
                            String::new(),
                            num(r.supersedes),
                            r.current.to_string(),
                            String::new(),
                            String::new(),
                            String::new(),
                            String::new(),
                        ];
                        rec.extend([
                            r.target.to_string(),
                            num(r.candidate),
                            num(r.revision),
                            num(r.parent),
                            num(r.other_candidate),
                            num(r.other_revision),
                            opt(&r.verdict),
                            r.score.map(|s| s.to_string()).unwrap_or_default(),
                            opt(&r.reason),
                            cell(&r.shown.as_ref().map(Value::to_string).unwrap_or_default()),
                        ]);
                        w.write_record(&rec).map_err(|e| io(e.into()))?;
                        continue;
                    }
                };
                let predicted = e
                    .prediction
                    .as_ref()
                    .and_then(|p| p.get("label"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let prediction = e.prediction.as_ref().map(Value::to_string).unwrap_or_default();
                let mut rec = vec![
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
                ];
                if extra {
                    rec.push("label".into());
                    rec.extend(std::iter::repeat_n(String::new(), RESPONSE_CSV_COLUMNS.len() - 1));
                }
                w.write_record(&rec).map_err(|e| io(e.into()))?;
            }
            w.into_inner().map_err(|e| io(std::io::Error::other(e.to_string())))?
        }
    };
    crate::files::write_output(out, &bytes, opts.write.force).map_err(io)?;
    let items: HashSet<&str> = events
        .iter()
        .map(|e| e.item_id.as_str())
        .chain(responses.iter().map(|e| e.item_id.as_str()))
        .collect();
    Ok(EventExportReport {
        file: out.display().to_string(),
        events: events.len() + responses.len(),
        items: items.len(),
        response_events: responses.len(),
    })
}
