//! `hifi labels import` and `hifi labels export`: expert labels made in other tools come in as
//! ordinary append-only label events, and every event goes out again with what an audit needs.
//!
//! An import reads the whole file first ([`sources`], [`label_studio`]), then matches each label
//! to an item (by id, else by exact text) and to one of the project's labels, and looks for
//! items labeled twice with different labels. Any problem refuses the file, naming file, line
//! and field, and nothing is written; with `skip_invalid` the lines with problems are left out
//! and listed. What remains is written through [`Store::annotate_all`] in one transaction.

mod event_log;
mod label_studio;
mod sources;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::Problems;
use crate::store::{Annotation, AnnotationKind, Store, StoreError};

pub use event_log::{
    export_events, AuditEvent, EventExportOptions, EventExportReport, EventFormat,
    ResponseAuditEvent, CSV_COLUMNS, RESPONSE_CSV_COLUMNS,
};
pub use sources::detect_format;

/// Where a labels file comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LabelFormat {
    /// A CSV file with a header row: an id column, a label column, optionally `note`.
    Csv,
    /// One JSON object per line with an id field, a label field, optionally `note`.
    Jsonl,
    /// Prodigy's `db-out` JSONL: `answer` accept/reject/ignore with `label` or `accept`.
    Prodigy,
    /// Label Studio's JSON export: an array of tasks with `data` and `annotations`.
    LabelStudio,
    /// Argilla records exported to JSONL (v1 `annotation`, v2 `responses`).
    Argilla,
}

impl LabelFormat {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Jsonl => "jsonl",
            Self::Prodigy => "prodigy",
            Self::LabelStudio => "label-studio",
            Self::Argilla => "argilla",
        }
    }
}

/// What to import and how to read it.
#[derive(Debug, Clone)]
pub struct LabelImportOptions {
    /// Who made the labels; recorded on every imported event.
    pub annotator: String,
    /// The file's format; `None`: detected from the content.
    pub format: Option<LabelFormat>,
    /// Field with the item id (dotted paths such as `meta.ad_id` reach into objects). `None`:
    /// the format's usual places, then the exact text.
    pub id_field: Option<String>,
    /// CSV/JSONL: the label column (default `label`); Label Studio: the choices control
    /// (`from_name`); Argilla v2: the question (default `label`).
    pub label_field: Option<String>,
    /// The project's labels (hifi.toml): every imported label must be one of them.
    pub labels: Vec<String>,
    /// Import the valid lines of a file with problems, listing the lines left out.
    pub skip_invalid: bool,
    /// Whether the labels were made with the model's suggestion visible: `Some(false)` for
    /// blind labels (`--blind`), `None` when the file does not say (reported as of unknown
    /// visibility).
    pub suggestion: Option<bool>,
}

/// What an import did.
#[derive(Debug, serde::Serialize)]
pub struct LabelImportReport {
    pub file: PathBuf,
    pub format: LabelFormat,
    /// True when the format was detected from the content rather than given.
    pub detected: bool,
    /// Label events written.
    pub imported: usize,
    /// Labels the annotator already gives those items (nothing written for them).
    pub unchanged: usize,
    /// Lines repeating an earlier line's label for the same item.
    pub duplicates: usize,
    /// Records the source marks as not labeled (Prodigy `ignore`, cancelled or missing
    /// annotations, empty labels): left out, not errors.
    pub not_labeled: usize,
    /// Lines left out because of problems (only with `skip_invalid`), in order.
    pub skipped_lines: Vec<u64>,
    /// Why those lines were left out (the first [`Problems::KEEP`] in full).
    #[serde(serialize_with = "as_messages")]
    pub problems: Problems,
}

/// Problems as a list of `file:line: field: message` strings.
fn as_messages<S: serde::Serializer>(p: &Problems, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(p.list.iter().map(ToString::to_string))
}

/// Why an import or export failed.
#[derive(Debug, thiserror::Error)]
pub enum LabelsError {
    #[error("{}: cannot read: {source}", crate::text::inert(&.path.display().to_string(), false))]
    Io { path: PathBuf, source: std::io::Error },
    /// Problems in the file; nothing was imported.
    #[error("{0}")]
    Problems(Problems),
    /// The options do not fit the file.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One label read from a file, before it is matched to an item.
#[derive(Debug, Clone)]
struct Entry {
    line: u64,
    /// Candidate ids in order of preference, each with the field it came from.
    ids: Vec<(String, String)>,
    /// (field, exact text) to match by when no id matches; `None` when `--id` was given.
    text: Option<(String, String)>,
    label: String,
    /// A multi-label project's label set as the file names it (before matching to the
    /// project's labels); `label` is then the set as the file spells it, for messages.
    set: Option<Vec<String>>,
    /// The field to blame for a bad label.
    label_field: String,
    note: Option<String>,
}

/// The hint added where a single-label project is given several labels.
pub(crate) const ONE_LABEL: &str = "this project takes exactly one label per item (a multi-label project, multi_label = true in hifi.toml, takes several or none)";

/// A label matched to an item and to a project label.
struct Matched {
    line: u64,
    item: i64,
    item_id: String,
    label: String,
    label_field: String,
    note: Option<String>,
}

/// Import the labels in `path` as `opts.annotator`'s, one label per item (a single-label
/// project). All or none, unless `skip_invalid`.
pub fn import_labels(
    store: &mut Store,
    path: &Path,
    opts: &LabelImportOptions,
) -> Result<LabelImportReport, LabelsError> {
    import_with(store, path, opts, None)
}

/// Import the label sets in `path` as `opts.annotator`'s, for a multi-label project: each
/// record's labels become one event whose label is the set ([`crate::multilabel::encode`]).
/// CSV and JSONL give a set as a list, a JSON-array string or names joined by `sep`; Prodigy
/// `textcat_multilabel` answers as the `accept` list; Label Studio as a `choices` answer with
/// several values; Argilla as a multi-label question's list. An unknown or repeated label
/// refuses the file (all or none, unless `skip_invalid`), naming file, line and field.
pub fn import_label_sets(
    store: &mut Store,
    path: &Path,
    opts: &LabelImportOptions,
    sep: char,
) -> Result<LabelImportReport, LabelsError> {
    import_with(store, path, opts, Some(sep))
}

/// [`import_labels`] (`sets` is `None`) or [`import_label_sets`] (`sets` is the separator).
fn import_with(
    store: &mut Store,
    path: &Path,
    opts: &LabelImportOptions,
    sets: Option<char>,
) -> Result<LabelImportReport, LabelsError> {
    if opts.annotator.trim().is_empty() {
        return Err(LabelsError::Invalid("give the annotator's name with --annotator NAME".into()));
    }
    let io = |source| LabelsError::Io { path: path.to_path_buf(), source };
    let (format, detected) = match opts.format {
        Some(f) => (f, false),
        None => (detect_format(path).map_err(io)?, true),
    };
    if format == LabelFormat::Prodigy && opts.label_field.is_some() {
        return Err(LabelsError::Invalid(
            "--label does not apply to Prodigy files: the label is in `label` (binary tasks) or `accept` (choice tasks)".into(),
        ));
    }
    let mut col = collect(path, format, opts, sets).map_err(io)?;
    let matched = match_items(store, &opts.labels, std::mem::take(&mut col.entries), &mut col)?;
    let (kept, duplicates) = drop_duplicates(matched, &mut col);
    if col.records == 0 && col.problems.is_empty() {
        col.problem(1, None, "no labels in the file");
    }
    col.problems.list.sort_by_key(|p| p.line);
    if !col.problems.is_empty() && !opts.skip_invalid {
        col.problems.refused = Some(path.to_path_buf());
        return Err(LabelsError::Problems(col.problems));
    }
    let mut unchanged = 0;
    let mut new = Vec::new();
    for m in kept.into_iter().filter(|m| !col.bad_lines.contains(&m.line)) {
        let current = store.current_label(m.item, &opts.annotator)?;
        if current.as_deref().is_some_and(|c| same_label(c, &m.label, sets.is_some())) {
            unchanged += 1;
            continue;
        }
        new.push(Annotation {
            item: m.item,
            annotator: opts.annotator.clone(),
            kind: AnnotationKind::Label,
            label: Some(m.label),
            note: m.note,
            suggestion: opts.suggestion,
        });
    }
    let imported = if new.is_empty() { 0 } else { store.annotate_all(&new)? };
    Ok(LabelImportReport {
        file: path.to_path_buf(),
        format,
        detected,
        imported,
        unchanged,
        duplicates,
        not_labeled: col.not_labeled,
        skipped_lines: col.bad_lines.into_iter().collect(),
        problems: col.problems,
    })
}

/// Whether two stored labels are the same decision: equal, or in a multi-label project the
/// same set whatever the order.
fn same_label(a: &str, b: &str, sets: bool) -> bool {
    if a == b {
        return true;
    }
    let sorted = |s: &str| {
        crate::multilabel::decode(s).map(|mut v| {
            v.sort();
            v
        })
    };
    sets && sorted(a).is_some() && sorted(a) == sorted(b)
}

/// Read `path` as `format`. Fails only when the file cannot be read.
fn collect(
    path: &Path,
    format: LabelFormat,
    opts: &LabelImportOptions,
    sets: Option<char>,
) -> std::io::Result<sources::Collected> {
    let mut col = sources::Collected::new(path);
    let ctx = sources::Ctx { opts, sets };
    match format {
        LabelFormat::LabelStudio => label_studio::read(path, &ctx, &mut col)?,
        _ => sources::collect_records(path, format, &ctx, &mut col)?,
    }
    Ok(col)
}

/// `raw` as one of the project's labels: exactly, else case-insensitively when that is
/// unambiguous (Prodigy projects often spell labels in capitals).
fn match_label(labels: &[String], raw: &str) -> Option<String> {
    let raw = raw.trim();
    if let Some(l) = labels.iter().find(|l| l.as_str() == raw) {
        return Some(l.clone());
    }
    let mut folded = labels.iter().filter(|l| l.to_lowercase() == raw.to_lowercase());
    match (folded.next(), folded.next()) {
        (Some(l), None) => Some(l.clone()),
        _ => None,
    }
}

/// Match every entry to a project label and an item: by id first, then by exact text (one
/// pass over the items for all texts at once).
fn match_items(
    store: &Store,
    labels: &[String],
    entries: Vec<Entry>,
    col: &mut sources::Collected,
) -> Result<Vec<Matched>, LabelsError> {
    let mut out = Vec::with_capacity(entries.len());
    let mut by_text: Vec<(Entry, String)> = Vec::new();
    for e in entries {
        let label = match &e.set {
            Some(set) => match match_set(labels, set, &e) {
                Ok(l) => l,
                Err(msg) => {
                    col.problem(e.line, Some(&e.label_field), msg);
                    continue;
                }
            },
            None => match match_label(labels, &e.label) {
                Some(l) => l,
                None => {
                    let several = if e.label.contains(',') || e.label.starts_with('[') {
                        format!(" (several labels: {ONE_LABEL})")
                    } else {
                        String::new()
                    };
                    let msg = format!(
                        "unknown label {:?}; the project's labels are {}{several}",
                        e.label,
                        labels.join(", ")
                    );
                    col.problem(e.line, Some(&e.label_field), msg);
                    continue;
                }
            },
        };
        let mut found = None;
        for (_, id) in &e.ids {
            if let Some(item) = store.item_by_id(id)? {
                found = Some(item);
                break;
            }
        }
        match found {
            Some(item) => out.push(Matched {
                line: e.line,
                item: item.key,
                item_id: item.id,
                label,
                label_field: e.label_field,
                note: e.note,
            }),
            None if e.text.is_some() => by_text.push((e, label)),
            None => col.problem(e.line, e.ids.first().map(|(f, _)| f.as_str()), unknown_item(&e)),
        }
    }
    if by_text.is_empty() {
        return Ok(out);
    }
    let mut wanted: HashMap<&str, Vec<(i64, String)>> = HashMap::new();
    for (e, _) in &by_text {
        if let Some((_, t)) = &e.text {
            wanted.insert(t.as_str(), Vec::new());
        }
    }
    let texts: HashSet<&str> = wanted.keys().copied().collect();
    for it in store.items_with_text_in(&texts)? {
        if let Some(hits) = wanted.get_mut(it.text.as_str()) {
            hits.push((it.key, it.id));
        }
    }
    for (e, label) in &by_text {
        let Some((field, text)) = &e.text else { continue };
        match wanted.get(text.as_str()).map(Vec::as_slice).unwrap_or_default() {
            [(key, id)] => out.push(Matched {
                line: e.line,
                item: *key,
                item_id: id.clone(),
                label: label.clone(),
                label_field: e.label_field.clone(),
                note: e.note.clone(),
            }),
            [] => col.problem(e.line, Some(field), unknown_item(e)),
            many => {
                let ids: Vec<String> =
                    many.iter().take(5).map(|(_, id)| format!("{id:?}")).collect();
                let msg = format!(
                    "the text matches {} items ({}{}); give the item id instead",
                    many.len(),
                    ids.join(", "),
                    if many.len() > 5 { ", …" } else { "" }
                );
                col.problem(e.line, Some(field), msg);
            }
        }
    }
    // Back in file order, so duplicates and conflicts are reported from their first line.
    out.sort_by_key(|m| m.line);
    Ok(out)
}

/// A label set as the file names it, matched to the project's labels (each like
/// [`match_label`]) and stored in label-set order; `Err` names an unknown or repeated label
/// and the item the record names.
fn match_set(labels: &[String], raw: &[String], e: &Entry) -> Result<String, String> {
    let item = match (e.ids.first(), &e.text) {
        (Some((_, id)), _) => format!(" (item {id:?})"),
        (None, Some((_, t))) => {
            format!(" (item with text {:?})", crate::text::cut_bytes(t, 60).0)
        }
        (None, None) => String::new(),
    };
    let mut matched = Vec::with_capacity(raw.len());
    for r in raw {
        let Some(l) = match_label(labels, r) else {
            return Err(format!(
                "unknown label {:?} in the list{item}; the project's labels are {}",
                r.trim(),
                labels.join(", ")
            ));
        };
        if matched.contains(&l) {
            return Err(format!("label {l:?} is listed twice{item}"));
        }
        matched.push(l);
    }
    let set = crate::multilabel::check_names(&matched, labels).map_err(|m| format!("{m}{item}"))?;
    Ok(crate::multilabel::encode(&set))
}

fn unknown_item(e: &Entry) -> String {
    let ids: Vec<String> = match e.ids.as_slice() {
        // The problem names that field already.
        [(_, id)] => vec![format!("{id:?}")],
        many => many.iter().map(|(f, id)| format!("{id:?} (field `{f}`)")).collect(),
    };
    match (ids.is_empty(), e.text.is_some()) {
        (false, true) => format!(
            "unknown item: no item with id {} and none with exactly this text",
            ids.join(" or ")
        ),
        (false, false) => format!("unknown item: no item with id {}", ids.join(" or ")),
        (true, _) => "unknown item: no item has exactly this text".into(),
    }
}

/// Keep the first of each item's lines when they agree (counting the rest as duplicates);
/// when they disagree, every one of its lines is a problem.
fn drop_duplicates(matched: Vec<Matched>, col: &mut sources::Collected) -> (Vec<Matched>, usize) {
    let mut groups: HashMap<i64, Vec<usize>> = HashMap::new();
    for (i, m) in matched.iter().enumerate() {
        groups.entry(m.item).or_default().push(i);
    }
    let mut keep = vec![false; matched.len()];
    let mut duplicates = 0;
    let mut seen = BTreeSet::new();
    for (i, m) in matched.iter().enumerate() {
        if !seen.insert(m.item) {
            continue;
        }
        let Some(group) = groups.get(&m.item) else { continue };
        if group.iter().all(|&j| matched[j].label == m.label) {
            keep[i] = true;
            duplicates += group.len() - 1;
            continue;
        }
        let all: Vec<String> = group
            .iter()
            .map(|&j| format!("{:?} (line {})", matched[j].label, matched[j].line))
            .collect();
        for &j in group {
            let msg = format!(
                "conflicting duplicate: item {:?} is labeled {} in this file",
                m.item_id,
                all.join(", ")
            );
            col.problem(matched[j].line, Some(&matched[j].label_field), msg);
        }
    }
    let kept = matched.into_iter().zip(keep).filter_map(|(m, k)| k.then_some(m)).collect();
    (kept, duplicates)
}
