//! Reading labels files: format detection, and one reader per source tool that turns records
//! into [`Entry`]s (an id or a text, and a raw label) or problems with line and field.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{match_label, Entry, LabelFormat, LabelImportOptions, ONE_LABEL};
use crate::io::records::{as_id, json_kind, read_records, Record};
use crate::io::{Format, Problem, Problems};

/// Everything read from one file.
pub(super) struct Collected {
    pub path: PathBuf,
    pub entries: Vec<Entry>,
    /// Records seen (labeled, not labeled, or with problems).
    pub records: usize,
    pub not_labeled: usize,
    pub problems: Problems,
    /// Every line with a problem (also beyond the ones kept in `problems`).
    pub bad_lines: BTreeSet<u64>,
}

impl Collected {
    pub fn new(path: &Path) -> Self {
        Collected {
            path: path.to_path_buf(),
            entries: Vec::new(),
            records: 0,
            not_labeled: 0,
            problems: Problems::default(),
            bad_lines: BTreeSet::new(),
        }
    }

    pub fn problem(&mut self, line: u64, field: Option<&str>, message: impl Into<String>) {
        self.bad_lines.insert(line);
        self.problems.push(&self.path, line, field, message);
    }

    /// Move the reader's problems (malformed rows, invalid UTF-8) into ours.
    fn absorb(&mut self, reader: &mut Problems) {
        for Problem { line, field, message, .. } in reader.list.drain(..) {
            self.problem(line, field.as_deref(), message);
        }
        self.problems.more += std::mem::take(&mut reader.more);
    }

    /// A record the source marks as not labeled: counted, not an error.
    pub fn unlabeled(&mut self) {
        self.not_labeled += 1;
    }
}

/// What the readers need to know.
pub(super) struct Ctx<'a> {
    pub opts: &'a LabelImportOptions,
    /// A multi-label project: labels are read as sets, a string's names joined by this
    /// separator. `None`: one label per record.
    pub sets: Option<char>,
}

/// A multi-label record's label set as the file gives it: a list of names, a JSON-array string
/// or names joined by `sep`. `Ok(None)`: not labeled (null, or an empty string: the empty set
/// is written `[]`).
pub(super) fn raw_set(v: &Value, sep: char) -> Result<Option<Vec<String>>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) if s.trim_start().starts_with('[') => {
            match serde_json::from_str::<Vec<String>>(s.trim()) {
                Ok(names) => Ok(Some(names.into_iter().map(|n| n.trim().to_string()).collect())),
                Err(e) => Err(format!("not a JSON list of label names ({e})")),
            }
        }
        Value::String(s) => Ok(Some(s.split(sep).map(|n| n.trim().to_string()).collect())),
        Value::Array(list) => {
            let mut names = Vec::with_capacity(list.len());
            for (i, x) in list.iter().enumerate() {
                match x {
                    Value::String(n) => names.push(n.trim().to_string()),
                    other => {
                        return Err(format!(
                            "expected a list of label names, found {} at position {}",
                            json_kind(other),
                            i + 1
                        ))
                    }
                }
            }
            Ok(Some(names))
        }
        other => Err(format!("expected a list of label names, found {}", json_kind(other))),
    }
}

/// An entry: one label, or a multi-label project's set (`label` then spells the set).
pub(super) fn entry(
    line: u64,
    target: Target,
    label: String,
    set: Option<Vec<String>>,
    label_field: String,
    note: Option<String>,
) -> Entry {
    let label = match &set {
        Some(names) => names.join(", "),
        None => label,
    };
    Entry { line, ids: target.ids, text: target.text, label, set, label_field, note }
}

/// Guess the format from the first bytes: a JSON array is Label Studio; JSON lines are
/// Prodigy (`answer`), Label Studio (`data` + `annotations`), Argilla (`responses`,
/// `annotation`, `fields` or `inputs`) or plain JSONL; anything else is CSV.
pub fn detect_format(path: &Path) -> std::io::Result<LabelFormat> {
    let mut reader = BufReader::new(File::open(path)?.take(16 << 20));
    let mut first = Vec::new();
    loop {
        first.clear();
        if reader.read_until(b'\n', &mut first)? == 0 {
            return Ok(LabelFormat::Csv);
        }
        let t = first.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&first);
        if !t.iter().all(u8::is_ascii_whitespace) {
            break;
        }
    }
    let t = first.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&first);
    let t = t.trim_ascii();
    match t.first() {
        Some(b'[') => Ok(LabelFormat::LabelStudio),
        Some(b'{') => {
            let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(t) else {
                return Ok(LabelFormat::Jsonl);
            };
            let has = |k: &str| m.contains_key(k);
            Ok(if has("answer") {
                LabelFormat::Prodigy
            } else if has("data") && has("annotations") {
                LabelFormat::LabelStudio
            } else if has("responses") || has("annotation") || has("fields") || has("inputs") {
                LabelFormat::Argilla
            } else {
                LabelFormat::Jsonl
            })
        }
        _ => Ok(LabelFormat::Csv),
    }
}

/// Read `path` record by record as `format` (CSV, JSONL, Prodigy or Argilla; Label Studio's
/// whole-file JSON has its own reader). Fails only when the file cannot be read.
pub(super) fn collect_records(
    path: &Path,
    format: LabelFormat,
    ctx: &Ctx,
    col: &mut Collected,
) -> std::io::Result<()> {
    let read: fn(&Record, &Ctx, &mut Collected) = match format {
        LabelFormat::Csv | LabelFormat::Jsonl | LabelFormat::LabelStudio => plain,
        LabelFormat::Prodigy => prodigy,
        LabelFormat::Argilla => argilla,
    };
    let rec_format = if format == LabelFormat::Csv { Format::Csv } else { Format::Jsonl };
    let mut reader_problems = Problems::default();
    read_records(path, rec_format, &mut reader_problems, |rec, rp| {
        col.absorb(rp);
        col.records += 1;
        read(&rec, ctx, col);
    })?;
    col.absorb(&mut reader_problems);
    Ok(())
}

/// A field by name, or by a dotted path into nested objects (`meta.id`).
pub(super) fn lookup<'v>(fields: &'v Map<String, Value>, path: &str) -> Option<&'v Value> {
    if let Some(v) = fields.get(path) {
        return Some(v);
    }
    let mut parts = path.split('.');
    let mut v = fields.get(parts.next()?)?;
    for p in parts {
        v = v.as_object()?.get(p)?;
    }
    Some(v)
}

/// Where a record points: candidate ids (each with the field it came from), and (field, exact
/// text) to fall back on.
pub(super) struct Target {
    pub ids: Vec<(String, String)>,
    pub text: Option<(String, String)>,
}

/// Where a record points. With `--id` only that field counts (`explicit` lists where to look
/// for it) and there is no falling back on the text. `None` after reporting a problem.
pub(super) fn target(
    fields: &Map<String, Value>,
    line: u64,
    ctx: &Ctx,
    explicit: &[String],
    id_fields: &[&str],
    text_fields: &[&str],
    col: &mut Collected,
) -> Option<Target> {
    if let Some(name) = &ctx.opts.id_field {
        let Some((f, v)) = explicit.iter().find_map(|f| lookup(fields, f).map(|v| (f, v))) else {
            col.problem(line, Some(name), "missing (named with --id)");
            return None;
        };
        let Some(id) = as_id(v) else {
            col.problem(
                line,
                Some(f),
                format!("the id must be a non-empty string or an integer, found {}", json_kind(v)),
            );
            return None;
        };
        return Some(Target { ids: vec![(f.clone(), id)], text: None });
    }
    let ids: Vec<(String, String)> = id_fields
        .iter()
        .filter_map(|f| lookup(fields, f).and_then(as_id).map(|id| (f.to_string(), id)))
        .collect();
    let text = text_fields.iter().find_map(|f| match lookup(fields, f) {
        Some(Value::String(s)) if !s.is_empty() => Some((f.to_string(), s.clone())),
        _ => None,
    });
    if ids.is_empty() && text.is_none() {
        col.problem(
            line,
            None,
            format!(
                "nothing to find the item by: no id ({}) and no text ({})",
                id_fields.join(", "),
                text_fields.join(", ")
            ),
        );
        return None;
    }
    Some(Target { ids, text })
}

/// A string field that may be absent; empty counts as absent.
fn opt_string(fields: &Map<String, Value>, name: &str) -> Option<String> {
    match lookup(fields, name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// CSV or JSONL: an id (or text), a label, optionally a note. An empty label means the row is
/// not labeled yet.
fn plain(rec: &Record, ctx: &Ctx, col: &mut Collected) {
    let label_field = ctx.opts.label_field.as_deref().unwrap_or("label");
    let mut set = None;
    let label = match lookup(&rec.fields, label_field) {
        None => {
            return col.problem(
                rec.line,
                Some(label_field),
                "missing (name the label field with --label FIELD)",
            )
        }
        Some(v) if ctx.sets.is_some() => match raw_set(v, ctx.sets.unwrap_or(',')) {
            Ok(None) => return col.unlabeled(),
            Ok(Some(names)) => {
                set = Some(names);
                String::new()
            }
            Err(msg) => return col.problem(rec.line, Some(label_field), msg),
        },
        Some(Value::Null) => return col.unlabeled(),
        Some(Value::String(s)) if s.trim().is_empty() => return col.unlabeled(),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Array(_)) => {
            return col.problem(
                rec.line,
                Some(label_field),
                format!("a list of labels, but {ONE_LABEL}"),
            )
        }
        Some(v) => {
            return col.problem(
                rec.line,
                Some(label_field),
                format!("expected a label name, found {}", json_kind(v)),
            )
        }
    };
    let explicit: Vec<String> = ctx.opts.id_field.iter().cloned().collect();
    let Some(t) = target(&rec.fields, rec.line, ctx, &explicit, &["id"], &["text"], col) else {
        return;
    };
    let note = opt_string(&rec.fields, "note");
    col.entries.push(entry(rec.line, t, label, set, label_field.into(), note));
}

/// Prodigy: `answer` accept / reject / ignore; binary tasks carry `label`, choice tasks
/// `accept: [option ids]`.
fn prodigy(rec: &Record, ctx: &Ctx, col: &mut Collected) {
    let f = &rec.fields;
    let line = rec.line;
    let answer = match f.get("answer") {
        Some(Value::String(a)) => a.as_str(),
        Some(v) => {
            return col.problem(
                line,
                Some("answer"),
                format!("expected accept, reject or ignore, found {}", json_kind(v)),
            )
        }
        None => {
            return col.problem(
                line,
                Some("answer"),
                "missing (Prodigy records answer accept, reject or ignore)",
            )
        }
    };
    match answer {
        "ignore" => return col.unlabeled(),
        "accept" | "reject" => {}
        other => {
            return col.problem(
                line,
                Some("answer"),
                format!("{other:?}: expected accept, reject or ignore"),
            )
        }
    }
    let labels = &ctx.opts.labels;
    let mut set = None;
    let (label, label_field) = if let (Some(accept), Some(_)) = (f.get("accept"), ctx.sets) {
        // textcat_multilabel: the accepted options are the labels that apply (none: an empty
        // list).
        if answer == "reject" {
            return col.problem(line, Some("answer"), "a rejected choice task names no labels");
        }
        let Some(chosen) = accept.as_array() else {
            return col.problem(
                line,
                Some("accept"),
                format!("expected a list of option ids, found {}", json_kind(accept)),
            );
        };
        let mut names = Vec::with_capacity(chosen.len());
        for one in chosen {
            match as_id(one) {
                Some(id) => names.push(option_label(f, &id, labels).unwrap_or(id)),
                None => {
                    return col.problem(
                        line,
                        Some("accept"),
                        format!("expected an option id, found {}", json_kind(one)),
                    )
                }
            }
        }
        set = Some(names);
        (String::new(), "accept")
    } else if let Some(accept) = f.get("accept") {
        if answer == "reject" {
            return col.problem(line, Some("answer"), "a rejected choice task names no label");
        }
        let Some(chosen) = accept.as_array() else {
            return col.problem(
                line,
                Some("accept"),
                format!("expected a list of option ids, found {}", json_kind(accept)),
            );
        };
        let id = match chosen.as_slice() {
            [one] => match as_id(one) {
                Some(id) => id,
                None => {
                    return col.problem(
                        line,
                        Some("accept"),
                        format!("expected an option id, found {}", json_kind(one)),
                    )
                }
            },
            [] => return col.problem(line, Some("accept"), "no option was accepted"),
            many => {
                return col.problem(
                    line,
                    Some("accept"),
                    format!(
                        "{} options accepted; an item takes exactly one label ({ONE_LABEL})",
                        many.len()
                    ),
                )
            }
        };
        (option_label(f, &id, labels).unwrap_or(id), "accept")
    } else if let (Some(_), Some(_)) = (f.get("label"), ctx.sets) {
        return col.problem(
            line,
            Some("label"),
            "a binary answer says whether one label applies, not which labels do; a multi-label project imports choice answers (textcat_multilabel: `options` and the `accept` list)",
        );
    } else if let Some(v) = f.get("label") {
        let Some(named) = v.as_str() else {
            return col.problem(
                line,
                Some("label"),
                format!("expected a label name, found {}", json_kind(v)),
            );
        };
        if answer == "accept" {
            (named.to_string(), "label")
        } else {
            match (match_label(labels, named), labels.len()) {
                (Some(l), 2) => (labels.iter().find(|o| **o != l).cloned().unwrap_or(l), "label"),
                (Some(_), n) => {
                    let msg = format!("reject of {named:?} says only what the item is not; that names a label only in a two-label project (this one has {n})");
                    return col.problem(line, Some("answer"), msg);
                }
                (None, _) => (named.to_string(), "label"),
            }
        }
    } else {
        return col.problem(line, None, "neither `label` (binary task) nor `accept` (choice task): not a text-classification answer");
    };
    let explicit: Vec<String> = ctx.opts.id_field.iter().cloned().collect();
    let Some(t) = target(f, line, ctx, &explicit, &["meta.id", "id"], &["text"], col) else {
        return;
    };
    col.entries.push(entry(line, t, label, set, label_field.into(), None));
}

/// A choice option's text when its id is not a project label but its text is.
fn option_label(f: &Map<String, Value>, id: &str, labels: &[String]) -> Option<String> {
    if match_label(labels, id).is_some() {
        return None;
    }
    let options = f.get("options")?.as_array()?;
    let opt = options.iter().find(|o| o.get("id").and_then(as_id).as_deref() == Some(id))?;
    let text = opt.get("text")?.as_str()?;
    match_label(labels, text).map(|_| text.to_string())
}

/// Argilla: 1.x text-classification records carry `annotation` (a string, or a one-element
/// list); v2 records `responses.<question>: [{value, status}]`; 1.x feedback records
/// `responses: [{values: {<question>: {value}}, status}]`. All submitted answers must agree.
/// Records nobody answered are not labeled.
fn argilla(rec: &Record, ctx: &Ctx, col: &mut Collected) {
    let f = &rec.fields;
    let line = rec.line;
    let (label, label_field) = if let Some(responses) = f.get("responses").filter(|v| !v.is_null())
    {
        let question = ctx.opts.label_field.as_deref().unwrap_or("label");
        let field = format!("responses.{question}");
        let answers = match answers(responses, question) {
            Ok(a) => a,
            Err(msg) => return col.problem(line, Some(&field), msg),
        };
        let mut values = Vec::new();
        for v in answers {
            match one_answer(v, ctx.sets) {
                Ok(s) => values.push(s),
                Err(msg) => return col.problem(line, Some(&field), msg),
            }
        }
        values.sort();
        values.dedup();
        match values.as_slice() {
            [] => return col.unlabeled(),
            [one] => (one.clone(), field),
            many => {
                return col.problem(
                    line,
                    Some(&field),
                    format!(
                        "the responses disagree ({}); import one annotator's labels at a time",
                        many.join(", ")
                    ),
                )
            }
        }
    } else {
        if f.get("status")
            .and_then(Value::as_str)
            .is_some_and(|s| s.eq_ignore_ascii_case("discarded"))
        {
            return col.unlabeled();
        }
        match f.get("annotation") {
            None | Some(Value::Null) => return col.unlabeled(),
            Some(v) => match one_answer(v, ctx.sets) {
                Ok(s) => (s, "annotation".to_string()),
                Err(msg) => return col.problem(line, Some("annotation"), msg),
            },
        }
    };
    // A set travels as its JSON text (sorted, so that agreeing answers compare equal).
    let set = if ctx.sets.is_some() { crate::multilabel::decode(&label) } else { None };
    let explicit: Vec<String> = ctx.opts.id_field.iter().cloned().collect();
    let Some(Target { ids, text }) = target(
        f,
        line,
        ctx,
        &explicit,
        &["id", "external_id", "metadata.id"],
        &["text", "fields.text", "inputs.text"],
        col,
    ) else {
        return;
    };
    col.entries.push(entry(line, Target { ids, text }, label, set, label_field, None));
}

/// One Argilla answer: a label name, or in a multi-label project (`sets`) the set a
/// multi-label question's value lists, as sorted JSON text.
fn one_answer(v: &Value, sets: Option<char>) -> Result<String, String> {
    let Some(sep) = sets else { return single_label(v) };
    match raw_set(v, sep)? {
        Some(mut names) => {
            names.sort();
            Ok(crate::multilabel::encode(&names))
        }
        None => Err("expected a list of label names, found an empty value".into()),
    }
}

/// The submitted answers to `question` in an Argilla `responses` value: v2 maps questions to
/// `[{value, status}]`, Argilla 1.x feedback records list `[{values: {question: {value}},
/// status}]`. `Err` says what is wrong, naming the questions answered instead.
fn answers<'v>(responses: &'v Value, question: &str) -> Result<Vec<&'v Value>, String> {
    let submitted =
        |r: &Value| r.get("status").and_then(Value::as_str).is_none_or(|s| s == "submitted");
    let mut answered_instead: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    match responses {
        Value::Object(by_question) => match by_question.get(question) {
            Some(Value::Array(list)) => {
                out.extend(list.iter().filter(|r| submitted(r)).filter_map(|r| r.get("value")))
            }
            Some(other) => {
                return Err(format!("expected a list of responses, found {}", json_kind(other)))
            }
            None => answered_instead.extend(by_question.keys().map(String::as_str)),
        },
        Value::Array(list) => {
            for r in list.iter().filter(|r| submitted(r)) {
                let values = r.get("values").and_then(Value::as_object);
                match values.and_then(|v| v.get(question)).and_then(|a| a.get("value")) {
                    Some(v) => out.push(v),
                    None => answered_instead
                        .extend(values.into_iter().flat_map(|v| v.keys().map(String::as_str))),
                }
            }
        }
        other => return Err(format!("expected responses by question, found {}", json_kind(other))),
    }
    if out.is_empty() && !answered_instead.is_empty() {
        answered_instead.sort_unstable();
        answered_instead.dedup();
        return Err(format!("no answers to question {question:?} (answered here: {}); name the question with --label", answered_instead.join(", ")));
    }
    Ok(out)
}

/// A label given as a string or as a list holding exactly one string.
fn single_label(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        Value::Array(a) if a.len() == 1 => single_label(&a[0]),
        Value::Array(a) if a.len() > 1 => {
            Err(format!("{} labels given; an item takes exactly one ({ONE_LABEL})", a.len()))
        }
        other => Err(format!("expected a label name, found {}", json_kind(other))),
    }
}
