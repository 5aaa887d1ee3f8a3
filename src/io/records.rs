//! Streaming readers that turn CSV, JSONL and Parquet files into records of named fields, each
//! with the line it started on (for Parquet: its row, counted across a folder's shards).
//! Malformed rows and invalid UTF-8 become [`Problems`], never panics.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde_json::{Map, Value};

use super::{Format, Problems};

/// One row of an input file.
pub struct Record {
    pub line: u64,
    pub fields: Map<String, Value>,
}

/// Read `path` record by record, calling `each` for every well-formed one. Problems with the
/// file's structure go into `problems`; reading goes on past them so that one run reports as
/// much as possible. Fails only if the file cannot be opened. A fine-tuning format is read
/// from the container [`Format::container`] names (JSON lines, or Parquet).
pub fn read_records(
    path: &Path,
    format: Format,
    problems: &mut Problems,
    mut each: impl FnMut(Record, &mut Problems),
) -> std::io::Result<()> {
    if format.container(path) == Format::Parquet {
        return super::parquet::read(path, problems, &mut |line, fields, p| {
            each(Record { line, fields }, p)
        });
    }
    let file = File::open(path)?;
    let reader = BufReader::with_capacity(1 << 20, file);
    match format {
        Format::Csv => read_csv(path, reader, problems, &mut each),
        Format::Jsonl | Format::Chat | Format::Alpaca | Format::ShareGpt | Format::Parquet => {
            read_jsonl(path, reader, problems, &mut each)
        }
    }
}

fn read_csv(
    path: &Path,
    reader: impl std::io::Read,
    problems: &mut Problems,
    each: &mut impl FnMut(Record, &mut Problems),
) -> std::io::Result<()> {
    let mut rdr = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(reader);
    let headers = match rdr.byte_headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            problems.push(path, 1, None, format!("cannot read the header row: {e}"));
            return Ok(());
        }
    };
    let mut names = Vec::with_capacity(headers.len());
    // A set, not a scan of `names`: a header can have a million columns.
    let mut seen = std::collections::HashSet::with_capacity(headers.len());
    for (i, h) in headers.iter().enumerate() {
        match std::str::from_utf8(h) {
            Ok(s) => {
                let s = if i == 0 { s.trim_start_matches('\u{feff}') } else { s };
                if !seen.insert(s) {
                    problems.push(path, 1, Some(s), "column name appears twice in the header");
                }
                names.push(s.to_string());
            }
            Err(_) => {
                problems.push(
                    path,
                    1,
                    None,
                    format!("column {} of the header is not valid UTF-8", i + 1),
                );
                names.push(format!("column{}", i + 1));
            }
        }
    }
    if names.is_empty() || (names.len() == 1 && names[0].is_empty()) {
        problems.push(path, 1, None, "the file is empty or has no header row");
        return Ok(());
    }
    let mut record = csv::ByteRecord::new();
    loop {
        match rdr.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(0, |p| p.line());
                let mut fields = Map::with_capacity(names.len());
                let mut ok = true;
                for (name, raw) in names.iter().zip(record.iter()) {
                    match std::str::from_utf8(raw) {
                        Ok(s) => {
                            fields.insert(name.clone(), Value::String(s.to_string()));
                        }
                        Err(e) => {
                            problems.push(
                                path,
                                line,
                                Some(name),
                                format!("invalid UTF-8 at byte {}", e.valid_up_to()),
                            );
                            ok = false;
                        }
                    }
                }
                if ok {
                    each(Record { line, fields }, problems);
                }
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                let msg = match e.kind() {
                    csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
                        format!("malformed row: {len} fields where the header has {expected_len}")
                    }
                    csv::ErrorKind::Io(io) => {
                        return Err(std::io::Error::new(io.kind(), io.to_string()))
                    }
                    _ => format!("malformed row: {e}"),
                };
                problems.push(path, line, None, msg);
            }
        }
    }
    Ok(())
}

fn read_jsonl(
    path: &Path,
    mut reader: impl BufRead,
    problems: &mut Problems,
    each: &mut impl FnMut(Record, &mut Problems),
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(4096);
    let mut line = 0u64;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        line += 1;
        while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            buf.pop();
        }
        let bytes =
            if line == 1 { buf.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&buf) } else { &buf[..] };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                problems.push(
                    path,
                    line,
                    None,
                    format!("invalid UTF-8 at byte {}", e.valid_up_to()),
                );
                continue;
            }
        };
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(fields)) => each(Record { line, fields }, problems),
            Ok(other) => problems.push(
                path,
                line,
                None,
                format!("expected a JSON object, found {}", json_kind(&other)),
            ),
            Err(e) => problems.push(path, line, None, format!("malformed JSON: {e}")),
        }
    }
    Ok(())
}

pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A field as an id: a string or an integer.
pub fn as_id(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wide_header_is_checked_and_its_duplicate_named() {
        let n = 100_000;
        let mut header: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
        header[n - 1] = "c7".into();
        let data = format!("{}\n{}\n", header.join(","), vec!["x"; n].join(","));
        let mut problems = Problems::default();
        let mut rows = 0;
        read_csv(Path::new("wide.csv"), data.as_bytes(), &mut problems, &mut |r, _| {
            assert_eq!(r.fields.len(), n - 1);
            rows += 1;
        })
        .unwrap();
        assert_eq!(rows, 1);
        assert_eq!(problems.total(), 1, "{problems}");
        assert_eq!(problems.list[0].field.as_deref(), Some("c7"));
        assert!(problems.to_string().contains("column name appears twice"), "{problems}");
    }
}
