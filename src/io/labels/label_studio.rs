//! Label Studio's JSON export: one JSON array of tasks, each with `data` (the item) and
//! `annotations[].result[]` (the answers; `choices` results carry the label).
//!
//! The file is one JSON document, so a plain parser could only say "line 1" or the line of the
//! first syntax error. A small scanner finds where each top-level task starts (tracking strings
//! and escapes), and each task is parsed on its own: every problem names the line its task
//! starts on, a syntax error the line it is on, and one broken task does not hide the others.
//! A stream of task objects without the surrounding array is read the same way.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde_json::{Map, Value};

use super::sources::{entry, target, Collected, Ctx, Target};
use super::ONE_LABEL;
use crate::io::records::json_kind;

/// What the scanner finds: a top-level element (with the line it starts on) or a problem
/// with the file's structure.
pub(super) enum Piece<'a> {
    Element { line: u64, bytes: &'a [u8] },
    Problem { line: u64, message: String },
}

/// Read the tasks of `path` into `col`.
pub(super) fn read(path: &Path, ctx: &Ctx, col: &mut Collected) -> std::io::Result<()> {
    let reader = BufReader::with_capacity(1 << 20, File::open(path)?);
    scan(reader, &mut |piece| match piece {
        Piece::Problem { line, message } => col.problem(line, None, message),
        Piece::Element { line, bytes } => {
            col.records += 1;
            match serde_json::from_slice::<Value>(bytes) {
                Ok(Value::Object(task)) => task_entries(line, &task, ctx, col),
                Ok(other) => col.problem(
                    line,
                    None,
                    format!("expected a task (a JSON object), found {}", json_kind(&other)),
                ),
                Err(e) => {
                    let at = line + (e.line() as u64).saturating_sub(1);
                    col.problem(
                        at,
                        None,
                        format!(
                            "malformed JSON at column {}: {}",
                            e.column(),
                            without_position(&e)
                        ),
                    );
                }
            }
        }
    })
}

/// serde_json's message without its " at line L column C" (relative to the task, not the file).
fn without_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first non-blank byte.
    Start,
    /// Expecting an element (or, in an array, its closing `]`).
    Between,
    /// Inside an element.
    Element,
    /// After an element: in an array, expecting `,` or `]`.
    After,
    /// After the array's closing `]`.
    End,
}

/// The scanner's state between bytes; input arrives in chunks of any size.
struct Scanner {
    line: u64,
    last_was_newline: bool,
    state: State,
    array: bool,
    depth: u64,
    in_str: bool,
    esc: bool,
    after_comma: bool,
    trailing_reported: bool,
    start: u64,
    buf: Vec<u8>,
}

/// Split `reader` into top-level JSON elements: the elements of one array, or a stream of
/// values. Only bytes are looked at, so invalid UTF-8 or bad JSON inside an element is left to
/// the element's parser.
pub(super) fn scan(mut reader: impl BufRead, each: &mut dyn FnMut(Piece)) -> std::io::Result<()> {
    let mut s = Scanner {
        line: 1,
        last_was_newline: false,
        state: State::Start,
        array: false,
        depth: 0,
        in_str: false,
        esc: false,
        after_comma: false,
        trailing_reported: false,
        start: 1,
        buf: Vec::new(),
    };
    let mut first = true;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        let n = chunk.len();
        let bytes =
            if first { chunk.strip_prefix(b"\xef\xbb\xbf").unwrap_or(chunk) } else { chunk };
        first = false;
        for &b in bytes {
            s.byte(b, each);
        }
        reader.consume(n);
    }
    s.finish(each);
    Ok(())
}

impl Scanner {
    fn byte(&mut self, b: u8, each: &mut dyn FnMut(Piece)) {
        let line = self.line;
        if b == b'\n' {
            self.line += 1;
        }
        self.last_was_newline = b == b'\n';
        let blank = b.is_ascii_whitespace();
        match self.state {
            State::Start if blank => {}
            State::Start if b == b'[' => {
                self.array = true;
                self.state = State::Between;
            }
            State::Start => self.begin(b, line),
            State::Between | State::After if blank => {}
            State::Between if self.array && b == b']' => {
                if self.after_comma {
                    self.problem(each, line, "a `,` with no task after it before the closing `]`");
                }
                self.state = State::End;
            }
            State::Between if self.array && b == b',' => {
                self.problem(each, line, "an empty entry: two `,` with no task between them")
            }
            State::After if self.array && b == b',' => {
                self.after_comma = true;
                self.state = State::Between;
            }
            State::After if self.array && b == b']' => self.state = State::End,
            State::After if self.array => {
                self.problem(each, line, "expected `,` or `]` between tasks");
                self.begin(b, line);
            }
            State::Between | State::After => self.begin(b, line),
            State::Element => self.element_byte(b, each),
            State::End if blank => {}
            State::End => {
                if !self.trailing_reported {
                    self.trailing_reported = true;
                    self.problem(each, line, "content after the closing `]` of the task array");
                }
            }
        }
    }

    fn begin(&mut self, b: u8, line: u64) {
        self.start = line;
        self.buf.clear();
        self.depth = 0;
        self.in_str = false;
        self.esc = false;
        self.after_comma = false;
        self.state = State::Element;
        self.push_structural(b);
    }

    /// A byte inside an element, outside any string: track nesting.
    fn push_structural(&mut self, b: u8) {
        self.buf.push(b);
        match b {
            b'"' => self.in_str = true,
            b'{' | b'[' => self.depth += 1,
            _ => {}
        }
    }

    fn element_byte(&mut self, b: u8, each: &mut dyn FnMut(Piece)) {
        if self.in_str {
            self.buf.push(b);
            if self.esc {
                self.esc = false;
            } else if b == b'\\' {
                self.esc = true;
            } else if b == b'"' {
                self.in_str = false;
            }
            return;
        }
        match b {
            b'}' | b']' if self.depth > 0 => {
                self.buf.push(b);
                self.depth -= 1;
                if self.depth == 0 {
                    self.emit(each);
                    self.state = State::After;
                }
            }
            // A bare value (not an object) ends at `,`, `]` or a blank.
            b']' if self.array => {
                self.emit(each);
                self.state = State::End;
            }
            b',' if self.depth == 0 && self.array => {
                self.emit(each);
                self.after_comma = true;
                self.state = State::Between;
            }
            _ if self.depth == 0 && b.is_ascii_whitespace() => {
                self.emit(each);
                self.state = State::After;
            }
            _ => self.push_structural(b),
        }
    }

    fn emit(&mut self, each: &mut dyn FnMut(Piece)) {
        each(Piece::Element { line: self.start, bytes: &self.buf });
        self.buf.clear();
    }

    fn problem(&self, each: &mut dyn FnMut(Piece), line: u64, message: &str) {
        each(Piece::Problem { line, message: message.to_string() });
    }

    fn finish(&mut self, each: &mut dyn FnMut(Piece)) {
        let last =
            if self.last_was_newline { self.line.saturating_sub(1).max(1) } else { self.line };
        match self.state {
            State::Start => self.problem(
                each,
                1,
                "the file is empty: expected a JSON array of Label Studio tasks",
            ),
            // An unfinished task: its parser says where it stops.
            State::Element => self.emit(each),
            State::Between | State::After if self.array => {
                self.problem(each, last, "the file ends before the closing `]` of the task array");
            }
            _ => {}
        }
    }
}

/// The labels of one task: one entry per annotation that is not cancelled.
fn task_entries(line: u64, task: &Map<String, Value>, ctx: &Ctx, col: &mut Collected) {
    if !task.get("data").is_some_and(Value::is_object) {
        return col.problem(
            line,
            Some("data"),
            "missing: a Label Studio task keeps its item in `data`",
        );
    }
    let annotations = match task.get("annotations") {
        None | Some(Value::Null) => return col.unlabeled(),
        Some(Value::Array(a)) => a,
        Some(v) => {
            return col.problem(
                line,
                Some("annotations"),
                format!("expected a list, found {}", json_kind(v)),
            )
        }
    };
    let mut live = Vec::new();
    for (k, a) in annotations.iter().enumerate() {
        match a.as_object() {
            Some(a) if a.get("was_cancelled").and_then(Value::as_bool) == Some(true) => {}
            Some(a) => live.push((k, a)),
            None => {
                return col.problem(
                    line,
                    Some(&format!("annotations[{k}]")),
                    format!("expected an object, found {}", json_kind(a)),
                )
            }
        }
    }
    if live.is_empty() {
        return col.unlabeled();
    }
    let explicit: Vec<String> =
        ctx.opts.id_field.iter().flat_map(|f| [format!("data.{f}"), f.clone()]).collect();
    let Some(Target { ids, text }) =
        target(task, line, ctx, &explicit, &["data.id", "meta.id"], &["data.text"], col)
    else {
        return;
    };
    for (k, a) in live {
        let field = format!("annotations[{k}].result");
        match answer(a, ctx.opts.label_field.as_deref(), ctx.sets.is_some()) {
            Ok((label, set, note)) => {
                let t = Target { ids: ids.clone(), text: text.clone() };
                col.entries.push(entry(line, t, label, set, field, note));
            }
            Err(msg) => col.problem(line, Some(&field), msg),
        }
    }
}

/// An answer's one label, or (`sets`) the labels a multiple-choice answer picks.
type Answer = (String, Option<Vec<String>>, Option<String>);

/// The one choice of an annotation (from the control `control`, when given) and its notes
/// (`textarea` results). In a multi-label project (`sets`) the choices of a multiple-choice
/// control (`choice="multiple"`) are the set; an annotation submitted with nothing chosen and
/// no other answer than notes is the empty set.
fn answer(a: &Map<String, Value>, control: Option<&str>, sets: bool) -> Result<Answer, String> {
    let Some(results) = a.get("result").and_then(Value::as_array) else {
        return Err("missing: an annotation lists its answers in `result`".into());
    };
    let kind = |r: &Value, t: &str| r.get("type").and_then(Value::as_str) == Some(t);
    let from = |r: &Value| r.get("from_name").and_then(Value::as_str).unwrap_or("").to_string();
    let choices: Vec<&Value> = results
        .iter()
        .filter(|r| kind(r, "choices") && control.is_none_or(|c| from(r) == c))
        .collect();
    let mut controls: Vec<String> = choices.iter().map(|r| from(r)).collect();
    controls.sort();
    controls.dedup();
    let notes_only = results.iter().all(|r| kind(r, "textarea"));
    let picked = match (choices.as_slice(), control) {
        ([], _) if sets && notes_only => {
            return Ok((String::new(), Some(Vec::new()), notes(results)));
        }
        ([], Some(c)) => return Err(format!("no `choices` answer from the control {c:?}")),
        ([], None) => {
            return Err(
                "no `choices` answer: only choice (classification) tasks can be imported".into()
            )
        }
        ([one], _) => one,
        (_, None) if controls.len() > 1 => {
            return Err(format!(
                "several choice controls ({}): name one with --label",
                controls.join(", ")
            ));
        }
        (_, _) => return Err("the same control answered twice".into()),
    };
    let chosen = picked.get("value").and_then(|v| v.get("choices")).and_then(Value::as_array);
    if sets {
        let Some(chosen) = chosen else {
            return Err("the choices answer has no `value.choices`".into());
        };
        let mut set = Vec::with_capacity(chosen.len());
        for c in chosen {
            match c {
                Value::String(s) if !s.trim().is_empty() => set.push(s.trim().to_string()),
                other => return Err(format!("expected a label name, found {}", json_kind(other))),
            }
        }
        return Ok((String::new(), Some(set), notes(results)));
    }
    let label = match chosen.map(Vec::as_slice) {
        Some([Value::String(s)]) if !s.trim().is_empty() => s.trim().to_string(),
        Some([]) | None => return Err("the choices answer has no `value.choices`".into()),
        Some([other]) => return Err(format!("expected a label name, found {}", json_kind(other))),
        Some(many) => {
            return Err(format!(
                "{} choices; an item takes exactly one label ({ONE_LABEL})",
                many.len()
            ))
        }
    };
    Ok((label, None, notes(results)))
}

/// The notes of an annotation's `textarea` results, joined by newlines.
fn notes(results: &[Value]) -> Option<String> {
    let kind = |r: &Value, t: &str| r.get("type").and_then(Value::as_str) == Some(t);
    let mut notes = Vec::new();
    for r in results.iter().filter(|r| kind(r, "textarea")) {
        match r.get("value").and_then(|v| v.get("text")) {
            Some(Value::String(s)) => notes.push(s.clone()),
            Some(Value::Array(a)) => {
                notes.extend(a.iter().filter_map(Value::as_str).map(str::to_string))
            }
            _ => {}
        }
    }
    notes.retain(|n| !n.trim().is_empty());
    (!notes.is_empty()).then(|| notes.join("\n"))
}
