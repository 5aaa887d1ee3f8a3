//! `hifi import`: items from CSV, JSONL or Parquet (a file, or a folder of shards), streamed
//! into the store in one transaction. Any problem (malformed row, missing field, invalid
//! UTF-8, duplicate id, unknown gold label) is reported with file, line and field (Parquet:
//! file, row and column), and then nothing from the file is kept.
//!
//! A JSONL or Parquet file is a prompt pool or a fine-tuning file (chat, alpaca, sharegpt:
//! `super::sft`) as its first record shows; a fine-tuning file's records are gathered into
//! items with their candidate responses before any is stored.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::records::{as_id, json_kind, read_records, Record};
use super::{sft, Format, Problems};
use crate::progress::{CancelToken, Progress};
use crate::store::{ItemImport, ItemRefused, NewItem, Store, StoreError};

#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Forced format; `None`: from the extension. A JSONL file (named or by extension) is a
    /// prompt pool or a chat, alpaca or sharegpt file as its first record shows.
    pub format: Option<Format>,
    /// Field holding the text to label.
    pub text_field: String,
    /// Field holding the item id; `None`: `id` when present, else ids are generated
    /// (`<file stem>-<line>`).
    pub id_field: Option<String>,
    /// Field holding a gold label; `None`: `gold` when present.
    pub gold_field: Option<String>,
    /// The project's labels: a gold value must be one of them.
    pub labels: Vec<String>,
    /// A multi-label project: a gold value is a label set, given as a list (JSONL, Parquet list
    /// columns), a JSON-array string, or names joined by `label_sep`; stored as
    /// [`crate::multilabel::encode`].
    pub multi_label: bool,
    /// The separator of a gold label set given as a string (default `,`).
    pub label_sep: Option<char>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            format: None,
            text_field: "text".into(),
            id_field: None,
            gold_field: None,
            labels: Vec::new(),
            multi_label: false,
            label_sep: None,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ImportReport {
    pub file: PathBuf,
    /// The format read: csv, jsonl or parquet (a prompt pool), chat, alpaca or sharegpt.
    pub format: String,
    /// The file's container: csv, jsonl or parquet.
    pub container: String,
    /// Items added.
    pub rows: u64,
    /// Candidate responses added with them.
    pub responses: u64,
    pub with_gold: u64,
    pub generated_ids: bool,
    pub seconds: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{}: cannot read: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: unknown format; name it with --format csv|jsonl|parquet|chat|alpaca|sharegpt", .0.display())]
    UnknownFormat(PathBuf),
    #[error("{0}")]
    Problems(Problems),
    #[error("import cancelled; nothing was imported from {}", .0.display())]
    Cancelled(PathBuf),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ImportError> for crate::error::Error {
    fn from(e: ImportError) -> Self {
        use crate::error::Error;
        match e {
            ImportError::Store(e) => Error::Store(e),
            ImportError::Io { .. } => Error::Io(e.to_string()),
            ImportError::Cancelled(p) => Error::Cancelled(format!(
                "nothing was imported from {}",
                crate::text::inert(&p.display().to_string(), false)
            )),
            other => Error::Input(other.to_string()),
        }
    }
}

/// Import `path` into `store`. All rows or none.
pub fn import_items(
    store: &mut Store,
    path: &Path,
    opts: &ImportOptions,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<ImportReport, ImportError> {
    let named = opts
        .format
        .or_else(|| Format::from_path(path))
        .ok_or_else(|| ImportError::UnknownFormat(path.to_path_buf()))?;
    let started = std::time::Instant::now();
    let io = |source| ImportError::Io { path: path.to_path_buf(), source };
    let parquet = named.container(path) == Format::Parquet;
    let size = if parquet {
        let mut size = 0;
        for f in super::parquet::shards(path).map_err(io)? {
            size += std::fs::metadata(&f)
                .map_err(|source| ImportError::Io { path: f.clone(), source })?
                .len();
        }
        size
    } else {
        std::fs::metadata(path).map_err(io)?.len()
    };
    // A JSONL or Parquet file's first record says what it holds; its line, to name it in a
    // mixed file.
    let (format, detected_at) = match named {
        Format::Jsonl => {
            let (f, line) = sft::sniff(path, &opts.text_field).map_err(io)?;
            (f, Some(line))
        }
        Format::Parquet => {
            let first = super::parquet::first_record(path).map_err(io)?;
            let f = first.and_then(|r| sft::detect(&r, &opts.text_field));
            // Every row has the file's columns: a row can look like another format only where
            // a file has one of the columns formats are told by.
            let (files, _) = super::parquet::columns(path).map_err(io)?;
            let telling = files
                .iter()
                .any(|(_, cols)| cols.iter().any(|c| sft::FORMAT_FIELDS.contains(&c.as_str())));
            (f.unwrap_or(Format::Parquet), telling.then_some(1))
        }
        f => (f, None),
    };
    progress.start("import", 0);
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("item").to_string();
    let mut problems = Problems::default();
    // A Parquet pool's columns are known before any row: a column named for the text, id or
    // gold that a file lacks is said once, not on every row.
    if parquet && !format.is_sft() {
        missing_columns(path, opts, &mut problems).map_err(io)?;
    }
    let mut rows = 0u64;
    let mut responses = 0u64;
    let mut with_gold = 0u64;
    let mut generated_ids = false;
    // Set by both the record reader and the adding of items.
    let cancelled = std::cell::Cell::new(false);
    let mut groups = sft::Groups::default();
    let mut read = 0u64;
    let result = store.import(
        &path.display().to_string(),
        format.name(),
        |items| -> Result<u64, ImportError> {
            let mut added = |item: &NewItem, problems: &mut Problems| {
                if !store_item(items, item, path, opts, problems) {
                    return;
                }
                rows += 1;
                responses += item.responses.len() as u64;
                with_gold += u64::from(item.gold.is_some());
                if rows.is_multiple_of(4096) {
                    progress.update(rows, "rows");
                    cancelled.set(cancel.is_cancelled());
                }
            };
            let mut on_record = |rec: Record, problems: &mut Problems| {
                if cancelled.get() {
                    return;
                }
                if let Some(at) = detected_at {
                    if let Some(m) = sft::mixed(format, at, &rec.fields, &opts.text_field) {
                        return problems.push(path, rec.line, None, m);
                    }
                }
                if format.is_sft() {
                    // Gathered first: a later record may add a candidate to this item.
                    let made =
                        sft_item(path, &rec, format, opts, &stem, &mut generated_ids, problems);
                    if let Some((item, id_field)) = made {
                        if let Err(b) = groups.add(item, id_field.as_deref()) {
                            problems.push(path, rec.line, b.field.as_deref(), b.message);
                        }
                    }
                    read += 1;
                    if read.is_multiple_of(4096) {
                        cancelled.set(cancel.is_cancelled());
                    }
                    return;
                }
                let Some(item) =
                    to_item(path, &rec, format, opts, &stem, &mut generated_ids, problems)
                else {
                    return;
                };
                if !problems.is_empty() {
                    return; // the file is refused anyway: keep scanning for problems only
                }
                added(&item, problems);
            };
            if problems.is_empty() {
                let read_as = if parquet { Format::Parquet } else { format };
                read_records(path, read_as, &mut problems, |rec, p| on_record(rec, p))
                    .map_err(io)?;
            }
            if format.is_sft() && problems.is_empty() {
                for item in std::mem::take(&mut groups).into_items() {
                    if cancelled.get() {
                        break;
                    }
                    added(&item, &mut problems);
                }
            }
            if cancelled.get() {
                return Err(ImportError::Cancelled(path.to_path_buf()));
            }
            if !problems.is_empty() {
                return Err(ImportError::Problems(std::mem::take(&mut problems)));
            }
            if rows == 0 {
                problems.push(path, if parquet { 0 } else { 1 }, None, "no rows to import");
                return Err(ImportError::Problems(std::mem::take(&mut problems)));
            }
            Ok(rows)
        },
    );
    match result {
        Ok(_) => {
            progress.finish(&format!("{rows} rows from {} ({size} bytes)", path.display()));
            Ok(ImportReport {
                file: path.to_path_buf(),
                format: format.name().into(),
                container: if parquet { "parquet" } else { named.container(path).name() }.into(),
                rows,
                responses,
                with_gold,
                generated_ids,
                seconds: started.elapsed().as_secs_f64(),
            })
        }
        Err(ImportError::Problems(mut p)) => {
            progress.finish("refused");
            p.refused = Some(path.to_path_buf());
            Err(ImportError::Problems(p))
        }
        Err(e) => {
            progress.finish("failed");
            Err(e)
        }
    }
}

/// Name, once per file, each column the options name (the text; the id and gold when named)
/// that a Parquet file lacks.
fn missing_columns(
    path: &Path,
    opts: &ImportOptions,
    problems: &mut Problems,
) -> std::io::Result<()> {
    let (files, map) = super::parquet::columns(path)?;
    problems.rows = Some(map);
    let wanted = [
        (Some(opts.text_field.as_str()), "--text"),
        (opts.id_field.as_deref(), "--id"),
        (opts.gold_field.as_deref(), "--gold"),
    ];
    for (file, columns) in &files {
        for (name, flag) in wanted {
            let Some(name) = name else { continue };
            if !columns.iter().any(|c| c == name) {
                let list: Vec<&str> = columns.iter().take(20).map(String::as_str).collect();
                problems.push(
                    file,
                    0,
                    Some(name),
                    format!(
                        "no such column (the file has {}{}; name another with {flag} COLUMN)",
                        list.join(", "),
                        if columns.len() > list.len() { ", …" } else { "" }
                    ),
                );
            }
        }
    }
    Ok(())
}

fn id_field_name(opts: &ImportOptions) -> &str {
    opts.id_field.as_deref().unwrap_or("id")
}

/// Add `item` to the import; false (with the problem named) when it is refused.
fn store_item(
    items: &mut ItemImport,
    item: &NewItem,
    path: &Path,
    opts: &ImportOptions,
    problems: &mut Problems,
) -> bool {
    let field = Some(id_field_name(opts));
    match items.add(item) {
        Ok(()) => return true,
        Err(ItemRefused::DuplicateInThisImport { line: l }) => problems.push(
            path,
            item.line,
            field,
            format!("duplicate id {:?}: line {l} of this file has it too", item.id),
        ),
        Err(ItemRefused::DuplicateInProject) => problems.push(
            path,
            item.line,
            field,
            format!("duplicate id {:?}: already in the project", item.id),
        ),
        Err(ItemRefused::Failed(e)) => {
            problems.push(path, item.line, None, format!("cannot store the row: {e}"))
        }
    }
    false
}

/// The item one record of a chat, alpaca or sharegpt file makes, with the field its id came
/// from (`None`: generated).
fn sft_item(
    path: &Path,
    rec: &Record,
    format: Format,
    opts: &ImportOptions,
    stem: &str,
    generated: &mut bool,
    problems: &mut Problems,
) -> Option<(NewItem, Option<String>)> {
    let ex = match sft::parse(format, &rec.fields) {
        Ok(ex) => ex,
        Err(b) => {
            problems.push(path, rec.line, b.field.as_deref(), b.message);
            return None;
        }
    };
    let context = ex.context_json();
    let f = item_fields(path, rec, opts, stem, generated, problems, sft::consumed(format))?;
    let responses = ex.response.map(|t| sft::imported_response(t, path, rec.line, format));
    let item = NewItem {
        id: f.id,
        text: ex.prompt,
        meta: f.meta,
        gold: f.gold,
        line: rec.line,
        context,
        responses: responses.into_iter().collect(),
    };
    Some((item, f.id_field))
}

/// A record's id, gold label and other fields (its meta: all but `consumed`, the id and the
/// gold).
struct ItemFields {
    id: String,
    /// The field the id came from; `None` when generated.
    id_field: Option<String>,
    gold: Option<String>,
    meta: Option<String>,
}

fn to_item(
    path: &Path,
    rec: &Record,
    format: Format,
    opts: &ImportOptions,
    stem: &str,
    generated: &mut bool,
    problems: &mut Problems,
) -> Option<NewItem> {
    let f = &rec.fields;
    let text = match f.get(&opts.text_field) {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::String(_)) => {
            problems.push(path, rec.line, Some(&opts.text_field), "the text is empty");
            return None;
        }
        Some(v) => {
            problems.push(
                path,
                rec.line,
                Some(&opts.text_field),
                format!("expected a string, found {}", json_kind(v)),
            );
            return None;
        }
        None => {
            problems.push(
                path,
                rec.line,
                Some(&opts.text_field),
                "missing (use --text FIELD to name the text field)",
            );
            return None;
        }
    };
    let fields =
        item_fields(path, rec, opts, stem, generated, problems, &[opts.text_field.as_str()])?;
    // A prompt pool's responses become candidates too (and stay in meta, where sets read them).
    let responses = sft::pool_responses(f)
        .into_iter()
        .map(|t| sft::imported_response(t, path, rec.line, format))
        .collect();
    Some(NewItem {
        id: fields.id,
        text,
        meta: fields.meta,
        gold: fields.gold,
        line: rec.line,
        context: None,
        responses,
    })
}

fn item_fields(
    path: &Path,
    rec: &Record,
    opts: &ImportOptions,
    stem: &str,
    generated: &mut bool,
    problems: &mut Problems,
    consumed: &[&str],
) -> Option<ItemFields> {
    let f = &rec.fields;
    let id_field = opts.id_field.as_deref().or_else(|| f.contains_key("id").then_some("id"));
    let id = match id_field {
        Some(name) => match f.get(name).map(as_id) {
            Some(Some(id)) => id,
            Some(None) => {
                problems.push(
                    path,
                    rec.line,
                    Some(name),
                    "the id must be a non-empty string or an integer",
                );
                return None;
            }
            None => {
                problems.push(path, rec.line, Some(name), "missing");
                return None;
            }
        },
        None => {
            *generated = true;
            format!("{stem}-{}", rec.line)
        }
    };
    let gold_field =
        opts.gold_field.as_deref().or_else(|| f.contains_key("gold").then_some("gold"));
    let gold = match gold_field {
        None => None,
        Some(g) => match f.get(g) {
            None if opts.gold_field.is_some() => {
                problems.push(path, rec.line, Some(g), "missing");
                return None;
            }
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(v) if opts.multi_label => match gold_set(v, opts) {
                Ok(set) => Some(set),
                Err(m) => {
                    problems.push(path, rec.line, Some(g), m);
                    return None;
                }
            },
            Some(Value::String(s)) => {
                if !opts.labels.is_empty() && !opts.labels.iter().any(|l| l == s) {
                    let several = if s.contains(',') || s.trim_start().starts_with('[') {
                        " (several labels: this project takes one label per item; a multi-label project, multi_label = true in hifi.toml, takes a list)"
                    } else {
                        ""
                    };
                    problems.push(
                        path,
                        rec.line,
                        Some(g),
                        format!(
                            "unknown label {s:?} (labels: {}){several}",
                            opts.labels.join(", ")
                        ),
                    );
                    return None;
                }
                Some(s.clone())
            }
            Some(Value::Array(_)) => {
                problems.push(
                    path,
                    rec.line,
                    Some(g),
                    "a list of labels, but this project takes one label per item (a multi-label project, multi_label = true in hifi.toml, takes a list)",
                );
                return None;
            }
            Some(v) => {
                problems.push(
                    path,
                    rec.line,
                    Some(g),
                    format!("expected a label name, found {}", json_kind(v)),
                );
                return None;
            }
        },
    };
    let mut meta = Map::new();
    for (k, v) in f {
        let k_ = k.as_str();
        if !consumed.contains(&k_) && Some(k_) != id_field && Some(k_) != gold_field {
            meta.insert(k.clone(), v.clone());
        }
    }
    let meta = (!meta.is_empty()).then(|| Value::Object(meta).to_string());
    Some(ItemFields { id, id_field: id_field.map(str::to_string), gold, meta })
}

/// A multi-label gold value as stored: a list of names, a JSON-array string, or names joined
/// by the separator; every name one of the project's labels, none twice.
fn gold_set(v: &Value, opts: &ImportOptions) -> Result<String, String> {
    let sep = opts.label_sep.unwrap_or(',');
    let names: Vec<String> = match v {
        Value::String(s) => {
            return crate::multilabel::parse_list(s, sep, &opts.labels)
                .map(|set| crate::multilabel::encode(&set))
        }
        Value::Array(list) => {
            let mut names = Vec::with_capacity(list.len());
            for (i, x) in list.iter().enumerate() {
                match x {
                    Value::String(s) => names.push(s.trim().to_string()),
                    other => {
                        return Err(format!(
                            "expected a list of label names, found {} at position {}",
                            json_kind(other),
                            i + 1
                        ))
                    }
                }
            }
            names
        }
        other => {
            return Err(format!(
                "expected a list of label names (or names joined by {sep:?}), found {}",
                json_kind(other)
            ))
        }
    };
    crate::multilabel::check_names(&names, &opts.labels).map(|set| crate::multilabel::encode(&set))
}
