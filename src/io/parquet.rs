//! Parquet in and out. Reading: a file, or a folder of shards (every `*.parquet` in it, sorted
//! by name), row by row into JSON objects numbered across the files from 1 (what
//! [`super::records::read_records`] makes records of); nested, list and struct columns become
//! JSON values. Problems are placed by file,
//! row and column ([`RowMap`]). Writing: a table of string and chat-message columns
//! (`list<struct<role: string, content: string>>`), snappy-compressed, as pyarrow and Hugging
//! Face `datasets` read it.
//!
//! The reader is arrow-rs' row-level one (the crate without its Arrow layer): codecs other
//! than snappy and zstd, and column types it cannot turn into values, are named before any row
//! is read; a panic inside the crate on a corrupt file is caught and reported as a problem of
//! that file.

use std::fs::File;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use ::parquet::basic::{Compression, ConvertedType, Type as Physical};
use ::parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use ::parquet::data_type::{ByteArray, ByteArrayType, DataType};
use ::parquet::file::properties::WriterProperties;
use ::parquet::file::reader::{FileReader, RowGroupReader};
use ::parquet::file::serialized_reader::SerializedFileReader;
use ::parquet::file::writer::SerializedFileWriter;
use ::parquet::record::Field;
use ::parquet::schema::types::{ColumnDescPtr, ColumnDescriptor};
use serde_json::{Map, Value};

use super::problems::RowMap;
use super::Problems;

/// The extension of a Parquet file.
pub const EXTENSION: &str = "parquet";

/// Rows per row group in the files hifi writes.
pub const ROW_GROUP_ROWS: usize = 10_000;

/// The codecs this build reads (and the one it writes: snappy, pyarrow's default).
pub const CODECS: &str = "uncompressed, snappy and zstd";

/// The files a Parquet import reads: `path` itself, or for a folder every `*.parquet` file in
/// it (not in its subfolders; hidden files left out), sorted by name.
pub fn shards(path: &Path) -> io::Result<Vec<PathBuf>> {
    if !std::fs::metadata(path)?.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    for e in std::fs::read_dir(path)? {
        let e = e?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        let parquet = Path::new(&*name)
            .extension()
            .is_some_and(|x| x.to_string_lossy().eq_ignore_ascii_case(EXTENSION));
        if parquet && !name.starts_with('.') && std::fs::metadata(e.path())?.is_file() {
            out.push(e.path());
        }
    }
    if out.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "a folder without *.parquet files (hifi imports a folder of Parquet shards)",
        ));
    }
    out.sort();
    Ok(out)
}

/// The message of a panic caught inside the parquet crate.
fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown failure".into())
}

thread_local! {
    /// Set while this thread runs the parquet crate under [`guarded`].
    static GUARDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Install, once, a panic hook that stays silent about panics [`guarded`] catches (they are
/// reported as a problem of the file instead) and hands every other panic to the hook that was
/// there before.
fn quiet_caught_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !GUARDED.with(|g| g.get()) {
                previous(info);
            }
        }));
    });
}

/// Run `f`, which calls the parquet crate, turning a panic in it into an error message: some
/// corrupt files make the crate panic instead of returning an error (a data page that refers
/// to a dictionary the column chunk lacks, for one).
fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    quiet_caught_panics();
    let was = GUARDED.with(|g| g.replace(true));
    let r = catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(was));
    r.unwrap_or_else(|p| {
        Err(format!("the Parquet reader failed on this file ({})", panic_message(p)))
    })
}

/// Open one file's footer.
fn open(path: &Path) -> io::Result<Result<SerializedFileReader<File>, String>> {
    let file = File::open(path)?;
    Ok(guarded(|| {
        SerializedFileReader::new(file).map_err(|e| {
            format!("not a readable Parquet file (corrupt, truncated or another format): {e}")
        })
    }))
}

/// A row count from a footer (never negative).
fn num_rows(r: &SerializedFileReader<File>) -> u64 {
    u64::try_from(r.metadata().file_metadata().num_rows()).unwrap_or(0)
}

/// A file and its top-level column names.
pub type FileColumns = (PathBuf, Vec<String>);

/// The top-level column names of each file of `path` that can be opened (the others are
/// named when read), with the row map for placing problems.
pub fn columns(path: &Path) -> io::Result<(Vec<FileColumns>, RowMap)> {
    let mut map = RowMap { target: path.to_path_buf(), files: Vec::new() };
    let mut out = Vec::new();
    let mut next = 1u64;
    for f in shards(path)? {
        if let Ok(r) = open(&f)? {
            let names = r
                .metadata()
                .file_metadata()
                .schema_descr()
                .root_schema()
                .get_fields()
                .iter()
                .map(|t| t.name().to_string())
                .collect();
            map.files.push((next, f.clone()));
            next += num_rows(&r);
            out.push((f, names));
        }
    }
    Ok((out, map))
}

/// The first row of the first file, for telling a prompt pool from chat, alpaca or sharegpt
/// data; `None` when there is none or it cannot be read (reading names why).
pub fn first_record(path: &Path) -> io::Result<Option<Map<String, Value>>> {
    let Some(first) = shards(path)?.into_iter().next() else { return Ok(None) };
    let Ok(reader) = open(&first)? else { return Ok(None) };
    if !readable(&reader).is_empty() {
        return Ok(None);
    }
    Ok(guarded(|| {
        let mut rows = reader.get_row_iter(None).map_err(|e| e.to_string())?;
        match rows.next() {
            Some(Ok(row)) => Ok(object(row.into_columns()).ok()),
            _ => Ok(None),
        }
    })
    .ok()
    .flatten())
}

/// What keeps a file from being read: (column, why) per codec not built in and per column
/// type the row reader cannot turn into values. Empty when it can be read.
fn readable(r: &SerializedFileReader<File>) -> Vec<(Option<String>, String)> {
    let mut out: Vec<(Option<String>, String)> = Vec::new();
    let meta = r.metadata();
    for rg in meta.row_groups() {
        for c in rg.columns() {
            let codec = c.compression();
            if !matches!(
                codec,
                Compression::UNCOMPRESSED | Compression::SNAPPY | Compression::ZSTD(_)
            ) {
                let name = codec_name(codec);
                let why = format!(
                    "compressed with {name}; hifi reads {CODECS} Parquet (write it again with compression=\"snappy\")"
                );
                if !out.iter().any(|(_, w)| *w == why) {
                    out.push((Some(c.column_path().string()), why));
                }
            }
        }
    }
    for c in meta.file_metadata().schema_descr().columns() {
        if !convertible(c) {
            out.push((
                Some(c.path().string()),
                format!(
                    "a column of type {} ({}) that hifi cannot read",
                    c.physical_type(),
                    c.converted_type()
                ),
            ));
        }
    }
    out
}

fn codec_name(c: Compression) -> &'static str {
    match c {
        Compression::UNCOMPRESSED => "no codec",
        Compression::SNAPPY => "snappy",
        Compression::GZIP(_) => "gzip",
        Compression::LZO => "lzo",
        Compression::BROTLI(_) => "brotli",
        Compression::LZ4 => "lz4 (Hadoop)",
        Compression::ZSTD(_) => "zstd",
        Compression::LZ4_RAW => "lz4",
    }
}

/// Whether the row reader turns a leaf column of this type into values (its other
/// combinations are not implemented and would panic).
fn convertible(c: &ColumnDescriptor) -> bool {
    use ConvertedType as C;
    match c.physical_type() {
        Physical::BOOLEAN | Physical::INT96 | Physical::FLOAT | Physical::DOUBLE => true,
        Physical::INT32 => matches!(
            c.converted_type(),
            C::NONE
                | C::INT_8
                | C::INT_16
                | C::INT_32
                | C::UINT_8
                | C::UINT_16
                | C::UINT_32
                | C::DATE
                | C::TIME_MILLIS
                | C::DECIMAL
        ),
        Physical::INT64 => matches!(
            c.converted_type(),
            C::NONE
                | C::INT_64
                | C::UINT_64
                | C::TIME_MICROS
                | C::TIMESTAMP_MILLIS
                | C::TIMESTAMP_MICROS
                | C::DECIMAL
        ),
        Physical::BYTE_ARRAY => {
            matches!(
                c.converted_type(),
                C::NONE | C::UTF8 | C::ENUM | C::JSON | C::BSON | C::DECIMAL
            )
        }
        Physical::FIXED_LEN_BYTE_ARRAY => matches!(c.converted_type(), C::NONE | C::DECIMAL),
    }
}

/// Read every row of `path` (a file or a folder of shards), calling `each` with each row's
/// number across the files (from 1) and its columns. What is wrong with a file or a row goes into `problems` (placed by file and row);
/// reading goes on with the next file. Fails only when a file or the folder cannot be opened.
pub fn read(
    path: &Path,
    problems: &mut Problems,
    each: &mut impl FnMut(u64, Map<String, Value>, &mut Problems),
) -> io::Result<()> {
    let files = shards(path)?;
    let mut opened = Vec::with_capacity(files.len());
    let mut map = RowMap { target: path.to_path_buf(), files: Vec::new() };
    let mut next = 1u64;
    for f in files {
        let r = open(&f)?;
        if let Ok(r) = &r {
            map.files.push((next, f.clone()));
            next += num_rows(r);
        }
        opened.push((f, r));
    }
    problems.rows = Some(map.clone());
    for (f, r) in opened {
        let reader = match r {
            Ok(r) => r,
            Err(why) => {
                problems.push(&f, 0, None, why);
                continue;
            }
        };
        let blocked = readable(&reader);
        if !blocked.is_empty() {
            for (column, why) in blocked {
                problems.push(&f, 0, column.as_deref(), why);
            }
            continue;
        }
        let first = map.files.iter().find(|(_, p)| *p == f).map_or(1, |(n, _)| *n);
        if flat(&reader) {
            read_flat(&f, &reader, first, problems, each);
        } else {
            read_file(&f, &reader, first, problems, each);
        }
    }
    Ok(())
}

/// Whether every column of the file is a top-level primitive one (no lists, structs or
/// maps): read column by column, in batches, which is several times faster than row by row.
fn flat(r: &SerializedFileReader<File>) -> bool {
    r.metadata()
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .all(|c| c.max_rep_level() == 0 && c.path().parts().len() == 1)
}

/// Rows read at a time from a flat file.
const BATCH: usize = 4096;

/// Up to `n` values of one column (nulls included), converted by `conv`; (index in the
/// batch, why) for a value that cannot be one.
fn column_batch<T: DataType>(
    r: &mut ColumnReaderImpl<T>,
    descr: &ColumnDescPtr,
    n: usize,
    conv: impl Fn(&ColumnDescPtr, T::T) -> Result<Value, String>,
    out: &mut Vec<Value>,
    bad: &mut Vec<(usize, String)>,
) -> Result<(), String> {
    let max_def = descr.max_def_level();
    let mut defs: Vec<i16> = Vec::new();
    let mut vals: Vec<T::T> = Vec::new();
    out.clear();
    while out.len() < n {
        defs.clear();
        vals.clear();
        let (records, _, levels) = r
            .read_records(n - out.len(), (max_def > 0).then_some(&mut defs), None, &mut vals)
            .map_err(|e| e.to_string())?;
        if records == 0 {
            return Err("the column ends before the row group does".into());
        }
        let mut push = |v: T::T, out: &mut Vec<Value>| match conv(descr, v) {
            Ok(v) => out.push(v),
            Err(why) => {
                bad.push((out.len(), why));
                out.push(Value::Null);
            }
        };
        if max_def > 0 {
            let mut vals = vals.drain(..);
            for d in &defs[..levels] {
                if *d == max_def {
                    let v = vals.next().ok_or("fewer values than the levels say")?;
                    push(v, out);
                } else {
                    out.push(Value::Null);
                }
            }
        } else {
            for v in vals.drain(..) {
                push(v, out);
            }
        }
    }
    Ok(())
}

/// A converted value (see [`json`]).
fn field(f: Field) -> Result<Value, String> {
    match f {
        Field::Str(s) => Ok(Value::String(s)),
        other => json(&other),
    }
}

/// A byte array as text: strings (and plain binary that is UTF-8) as they are, others as
/// [`json`] makes them.
fn bytes(descr: &ColumnDescPtr, v: ByteArray) -> Result<Value, String> {
    match descr.converted_type() {
        ConvertedType::UTF8
        | ConvertedType::ENUM
        | ConvertedType::JSON
        | ConvertedType::NONE
        | ConvertedType::BSON => match String::from_utf8(v.data().to_vec()) {
            Ok(s) => Ok(Value::String(s)),
            Err(e) => Err(format!(
                "binary data that is not UTF-8 text (invalid at byte {}); hifi imports text",
                e.utf8_error().valid_up_to()
            )),
        },
        _ => field(Field::convert_byte_array(descr, v).map_err(|e| e.to_string())?),
    }
}

/// One column of a flat file, read in batches.
fn next_batch(
    reader: &mut ColumnReader,
    descr: &ColumnDescPtr,
    n: usize,
    out: &mut Vec<Value>,
    bad: &mut Vec<(usize, String)>,
) -> Result<(), String> {
    use ColumnReader as R;
    match reader {
        R::BoolColumnReader(r) => {
            column_batch(r, descr, n, |d, v| field(Field::convert_bool(d, v)), out, bad)
        }
        R::Int32ColumnReader(r) => {
            column_batch(r, descr, n, |d, v| field(Field::convert_int32(d, v)), out, bad)
        }
        R::Int64ColumnReader(r) => {
            column_batch(r, descr, n, |d, v| field(Field::convert_int64(d, v)), out, bad)
        }
        R::Int96ColumnReader(r) => {
            column_batch(r, descr, n, |d, v| field(Field::convert_int96(d, v)), out, bad)
        }
        R::FloatColumnReader(r) => {
            column_batch(r, descr, n, |d, v| field(Field::convert_float(d, v)), out, bad)
        }
        R::DoubleColumnReader(r) => {
            column_batch(r, descr, n, |d, v| field(Field::convert_double(d, v)), out, bad)
        }
        R::ByteArrayColumnReader(r) => column_batch(r, descr, n, bytes, out, bad),
        R::FixedLenByteArrayColumnReader(r) => column_batch(
            r,
            descr,
            n,
            |d, v| field(Field::convert_byte_array(d, v.into()).map_err(|e| e.to_string())?),
            out,
            bad,
        ),
    }
}

/// What decoding a flat file gives, in file order: a row (its number in the file, from 1, and
/// its columns), or a problem (row, column, why).
enum Decoded {
    Row(u64, Map<String, Value>),
    Problem(u64, Option<String>, String),
}

/// The rows of a flat file, column by column in batches of [`BATCH`] rows. (Decoding on a
/// second thread was tried: rows allocated there and freed here made it slower, not faster.)
fn read_flat(
    f: &Path,
    reader: &SerializedFileReader<File>,
    first: u64,
    problems: &mut Problems,
    each: &mut impl FnMut(u64, Map<String, Value>, &mut Problems),
) {
    decode_flat(reader, &mut |d| {
        match d {
            Decoded::Row(local, m) => each(first + local - 1, m, problems),
            Decoded::Problem(row, column, why) => problems.push(f, row, column.as_deref(), why),
        }
        true
    });
}

/// Decode a flat file, giving each row and problem to `emit` in file order; stops when `emit`
/// returns false.
fn decode_flat(reader: &SerializedFileReader<File>, emit: &mut dyn FnMut(Decoded) -> bool) {
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    let names: Vec<String> = schema.columns().iter().map(|c| c.name().to_string()).collect();
    let mut local = 0u64;
    for i in 0..reader.num_row_groups() {
        let opened = guarded(|| {
            let group = reader.get_row_group(i).map_err(|e| e.to_string())?;
            let rows = usize::try_from(group.metadata().num_rows()).unwrap_or(0);
            let columns = (0..names.len())
                .map(|c| group.get_column_reader(c).map_err(|e| e.to_string()))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((rows, columns))
        });
        let (rows, mut columns) = match opened {
            Ok(x) => x,
            Err(why) => {
                emit(Decoded::Problem(
                    local + 1,
                    None,
                    format!("cannot read row group {i}: {why}"),
                ));
                return;
            }
        };
        let mut values: Vec<Vec<Value>> = vec![Vec::new(); names.len()];
        let mut done = 0;
        while done < rows {
            let n = BATCH.min(rows - done);
            let mut bad: Vec<(usize, usize, String)> = Vec::new();
            for (c, reader) in columns.iter_mut().enumerate() {
                let descr = schema.column(c);
                let mut col_bad = Vec::new();
                let read = guarded(|| next_batch(reader, &descr, n, &mut values[c], &mut col_bad));
                if let Err(why) = read {
                    let why = format!("cannot read the column: {why}");
                    emit(Decoded::Problem(local + 1, Some(names[c].clone()), why));
                    return;
                }
                bad.extend(col_bad.into_iter().map(|(r, why)| (r, c, why)));
            }
            bad.sort_by_key(|(r, c, _)| (*r, *c));
            let mut bad = bad.into_iter().peekable();
            let mut cols: Vec<std::vec::IntoIter<Value>> =
                values.iter_mut().map(|v| std::mem::take(v).into_iter()).collect();
            for r in 0..n {
                local += 1;
                let mut m = Map::new();
                for (name, col) in names.iter().zip(cols.iter_mut()) {
                    m.insert(name.clone(), col.next().unwrap_or(Value::Null));
                }
                let mut broken = false;
                while let Some((_, c, why)) = bad.next_if(|(br, _, _)| *br == r) {
                    if !emit(Decoded::Problem(local, Some(names[c].clone()), why)) {
                        return;
                    }
                    broken = true;
                }
                if !broken && !emit(Decoded::Row(local, m)) {
                    return;
                }
            }
            done += n;
        }
    }
}

/// The rows of one opened file; `first`: the number of its first row across the files.
fn read_file(
    f: &Path,
    reader: &SerializedFileReader<File>,
    first: u64,
    problems: &mut Problems,
    each: &mut impl FnMut(u64, Map<String, Value>, &mut Problems),
) {
    let mut local = 0u64;
    for i in 0..reader.num_row_groups() {
        let group = guarded(|| reader.get_row_group(i).map_err(|e| e.to_string()));
        let group: Box<dyn RowGroupReader + '_> = match group {
            Ok(g) => g,
            Err(why) => {
                return problems.push(
                    f,
                    local + 1,
                    None,
                    format!("cannot read row group {i}: {why}"),
                )
            }
        };
        let rows = guarded(|| group.get_row_iter(None).map_err(|e| e.to_string()));
        let mut rows = match rows {
            Ok(r) => r,
            Err(why) => {
                return problems.push(
                    f,
                    local + 1,
                    None,
                    format!("cannot read row group {i}: {why}"),
                )
            }
        };
        loop {
            let row = match guarded(|| Ok(rows.next())) {
                Ok(None) => break,
                Ok(Some(Ok(row))) => row,
                Ok(Some(Err(e))) => {
                    return problems.push(f, local + 1, None, format!("cannot read the row: {e}"))
                }
                Err(why) => return problems.push(f, local + 1, None, why),
            };
            local += 1;
            match object(row.into_columns()) {
                Ok(fields) => each(first + local - 1, fields, problems),
                Err((column, why)) => problems.push(f, local, Some(&column), why),
            }
        }
    }
}

/// A row's columns as a JSON object; (column, why) for a value that cannot be one.
fn object(columns: Vec<(String, Field)>) -> Result<Map<String, Value>, (String, String)> {
    let mut out = Map::with_capacity(columns.len());
    for (name, field) in columns {
        let v = match field {
            Field::Str(s) => Value::String(s),
            other => json(&other).map_err(|why| (name.clone(), why))?,
        };
        out.insert(name, v);
    }
    Ok(out)
}

/// One value as JSON: numbers, strings and booleans as they are; lists as arrays; structs
/// and maps as objects; decimals as strings; dates and timestamps as ISO 8601 strings (UTC).
/// Binary data must be UTF-8 text.
fn json(f: &Field) -> Result<Value, String> {
    let num = |x: f64| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number);
    Ok(match f {
        Field::Null => Value::Null,
        Field::Bool(b) => Value::Bool(*b),
        Field::Byte(n) => (*n).into(),
        Field::Short(n) => (*n).into(),
        Field::Int(n) => (*n).into(),
        Field::Long(n) => (*n).into(),
        Field::UByte(n) => (*n).into(),
        Field::UShort(n) => (*n).into(),
        Field::UInt(n) => (*n).into(),
        Field::ULong(n) => (*n).into(),
        Field::Float16(x) => num(f64::from(*x)),
        Field::Float(x) => num(f64::from(*x)),
        Field::Double(x) => num(*x),
        Field::Decimal(_) | Field::TimeMillis(_) | Field::TimeMicros(_) => {
            Value::String(f.to_string())
        }
        Field::Str(s) => Value::String(s.clone()),
        Field::Bytes(b) => match std::str::from_utf8(b.data()) {
            Ok(s) => Value::String(s.to_string()),
            Err(e) => {
                return Err(format!(
                    "binary data that is not UTF-8 text (invalid at byte {}); hifi imports text",
                    e.valid_up_to()
                ))
            }
        },
        Field::Date(d) => Value::String(date(i64::from(*d))),
        Field::TimestampMillis(ms) => Value::String(timestamp(*ms, 1_000)),
        Field::TimestampMicros(us) => Value::String(timestamp(*us, 1_000_000)),
        Field::Group(row) => {
            let mut m = Map::with_capacity(row.len());
            for (k, v) in row.get_column_iter() {
                m.insert(k.clone(), json(v)?);
            }
            Value::Object(m)
        }
        Field::ListInternal(list) => {
            Value::Array(list.elements().iter().map(json).collect::<Result<_, _>>()?)
        }
        Field::MapInternal(map) => {
            let mut m = Map::with_capacity(map.len());
            for (k, v) in map.entries() {
                let key = match json(k)? {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                m.insert(key, json(v)?);
            }
            Value::Object(m)
        }
    })
}

/// `YYYY-MM-DD` of a day counted from 1970-01-01.
fn date(days: i64) -> String {
    let (y, m, d) = crate::store::civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DDTHH:MM:SS.fffZ` of `ticks` (`per_second` of them a second) since the epoch.
fn timestamp(ticks: i64, per_second: i64) -> String {
    let secs = ticks.div_euclid(per_second);
    let frac = ticks.rem_euclid(per_second);
    let (days, s) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let width = if per_second == 1_000 { 3 } else { 6 };
    format!("{}T{:02}:{:02}:{:02}.{frac:0width$}Z", date(days), s / 3600, s % 3600 / 60, s % 60)
}

/// What a column of a written table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string; a JSON value that is not a string is written as its JSON text.
    Text,
    /// Chat messages: `list<struct<role: string, content: string>>`.
    Messages,
    /// A list of strings (`list<string>`), such as a multi-label project's label set; a JSON
    /// value that is not a list is written as a list of its text.
    TextList,
}

/// A Parquet file written by [`write`]: its bytes and the uncompressed size of its data.
pub struct Written {
    pub bytes: Vec<u8>,
    pub rows: usize,
    /// The row groups' uncompressed size in bytes.
    pub data_bytes: u64,
}

/// The schema of a table of `columns` (every column nullable, as pyarrow writes them).
fn schema(columns: &[(&str, Kind)]) -> String {
    let mut s = String::from("message hifi {\n");
    for (name, kind) in columns {
        match kind {
            Kind::Text => s.push_str(&format!("  optional binary {name} (UTF8);\n")),
            Kind::Messages => s.push_str(&format!(
                "  optional group {name} (LIST) {{\n    repeated group list {{\n      optional group element {{\n        optional binary role (UTF8);\n        optional binary content (UTF8);\n      }}\n    }}\n  }}\n"
            )),
            Kind::TextList => s.push_str(&format!(
                "  optional group {name} (LIST) {{\n    repeated group list {{\n      optional binary element (UTF8);\n    }}\n  }}\n"
            )),
        }
    }
    s.push('}');
    s
}

/// One leaf column of a chunk of rows: its values, definition and repetition levels.
struct Leaf {
    values: Vec<ByteArray>,
    def: Vec<i16>,
    rep: Option<Vec<i16>>,
}

fn text_leaf(rows: &[Value], name: &str) -> Leaf {
    let mut leaf = Leaf { values: Vec::with_capacity(rows.len()), def: Vec::new(), rep: None };
    for r in rows {
        match r.get(name) {
            None | Some(Value::Null) => leaf.def.push(0),
            Some(Value::String(s)) => {
                leaf.def.push(1);
                leaf.values.push(ByteArray::from(s.as_str()));
            }
            Some(v) => {
                leaf.def.push(1);
                leaf.values.push(ByteArray::from(v.to_string().into_bytes()));
            }
        }
    }
    leaf
}

/// The leaf of a list-of-strings column. Levels: 0 the list is null, 1 empty, 2 a null
/// element, 3 a string.
fn text_list_leaf(rows: &[Value], name: &str) -> Leaf {
    let mut leaf = Leaf { values: Vec::new(), def: Vec::new(), rep: Some(Vec::new()) };
    let rep = leaf.rep.as_mut().expect("set above");
    for r in rows {
        let one;
        let list = match r.get(name) {
            None | Some(Value::Null) => {
                leaf.def.push(0);
                rep.push(0);
                continue;
            }
            Some(Value::Array(a)) => a.as_slice(),
            Some(v) => {
                one = [v.clone()];
                &one[..]
            }
        };
        if list.is_empty() {
            leaf.def.push(1);
            rep.push(0);
        }
        for (i, x) in list.iter().enumerate() {
            rep.push(i16::from(i > 0));
            match x {
                Value::Null => leaf.def.push(2),
                Value::String(s) => {
                    leaf.def.push(3);
                    leaf.values.push(ByteArray::from(s.as_str()));
                }
                v => {
                    leaf.def.push(3);
                    leaf.values.push(ByteArray::from(v.to_string().into_bytes()));
                }
            }
        }
    }
    leaf
}

/// The `role` or `content` leaf of a messages column. Levels: 0 the list is null, 1 empty,
/// 2 a null element, 3 a null string, 4 a string.
fn message_leaf(rows: &[Value], name: &str, part: &str) -> Leaf {
    let mut leaf = Leaf { values: Vec::new(), def: Vec::new(), rep: Some(Vec::new()) };
    let rep = leaf.rep.as_mut().expect("set above");
    for r in rows {
        let list = match r.get(name) {
            Some(Value::Array(a)) => a,
            _ => {
                leaf.def.push(0);
                rep.push(0);
                continue;
            }
        };
        if list.is_empty() {
            leaf.def.push(1);
            rep.push(0);
        }
        for (i, m) in list.iter().enumerate() {
            rep.push(i16::from(i > 0));
            match m {
                Value::Object(o) => match o.get(part) {
                    Some(Value::String(s)) => {
                        leaf.def.push(4);
                        leaf.values.push(ByteArray::from(s.as_str()));
                    }
                    None | Some(Value::Null) => leaf.def.push(3),
                    Some(v) => {
                        leaf.def.push(4);
                        leaf.values.push(ByteArray::from(v.to_string().into_bytes()));
                    }
                },
                _ => leaf.def.push(2),
            }
        }
    }
    leaf
}

/// A Parquet file being written into memory, one row group at a time.
pub struct Writer<'c> {
    columns: &'c [(&'c str, Kind)],
    inner: SerializedFileWriter<Vec<u8>>,
    rows: usize,
}

fn parquet_err(e: ::parquet::errors::ParquetError) -> io::Error {
    io::Error::other(format!("Parquet: {e}"))
}

impl<'c> Writer<'c> {
    /// A file of `columns`, snappy-compressed.
    pub fn new(columns: &'c [(&'c str, Kind)]) -> io::Result<Self> {
        let schema =
            ::parquet::schema::parser::parse_message_type(&schema(columns)).map_err(parquet_err)?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by(format!("hifi version {}", env!("CARGO_PKG_VERSION")))
            .build();
        let inner = SerializedFileWriter::new(Vec::new(), schema.into(), props.into())
            .map_err(parquet_err)?;
        Ok(Self { columns, inner, rows: 0 })
    }

    /// Write `rows` (JSON objects) as one row group.
    pub fn group(&mut self, rows: &[Value]) -> io::Result<()> {
        let mut leaves = Vec::new();
        for (name, kind) in self.columns {
            match kind {
                Kind::Text => leaves.push(text_leaf(rows, name)),
                Kind::TextList => leaves.push(text_list_leaf(rows, name)),
                Kind::Messages => {
                    leaves.push(message_leaf(rows, name, "role"));
                    leaves.push(message_leaf(rows, name, "content"));
                }
            }
        }
        let mut group = self.inner.next_row_group().map_err(parquet_err)?;
        let mut leaves = leaves.into_iter();
        while let Some(mut col) = group.next_column().map_err(parquet_err)? {
            let leaf =
                leaves.next().ok_or_else(|| io::Error::other("Parquet: a column too many"))?;
            col.typed::<ByteArrayType>()
                .write_batch(&leaf.values, Some(&leaf.def), leaf.rep.as_deref())
                .map_err(parquet_err)?;
            col.close().map_err(parquet_err)?;
        }
        group.close().map_err(parquet_err)?;
        self.rows += rows.len();
        Ok(())
    }

    /// Close the file (its footer written).
    pub fn finish(self) -> io::Result<Written> {
        let data_bytes = self
            .inner
            .flushed_row_groups()
            .iter()
            .map(|g| u64::try_from(g.total_byte_size()).unwrap_or(0))
            .sum();
        let bytes = self.inner.into_inner().map_err(parquet_err)?;
        Ok(Written { bytes, rows: self.rows, data_bytes })
    }
}

/// Write `rows` (JSON objects) as a Parquet file with `columns`, snappy-compressed, in row
/// groups of [`ROW_GROUP_ROWS`]. No rows: no row group (the schema alone; `datasets` reads an
/// empty row group as an error).
pub fn write(rows: &[Value], columns: &[(&str, Kind)]) -> io::Result<Written> {
    let mut w = Writer::new(columns)?;
    for chunk in rows.chunks(ROW_GROUP_ROWS) {
        w.group(chunk)?;
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dates_and_timestamps_are_iso() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(19_723), "2024-01-01");
        assert_eq!(date(-1), "1969-12-31");
        assert_eq!(timestamp(1_704_067_200_123, 1_000), "2024-01-01T00:00:00.123Z");
        assert_eq!(timestamp(-1, 1_000_000), "1969-12-31T23:59:59.999999Z");
        // Out-of-range values are formatted, never a panic.
        let _ = timestamp(i64::MIN, 1_000);
        let _ = date(i64::from(i32::MIN));
    }

    #[test]
    fn a_written_table_reads_back_row_by_row() {
        let rows = vec![
            json!({"id": "a", "text": "one", "meta": {"k": [1, 2]},
                   "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "r"}]}),
            json!({"id": "b", "text": null, "messages": []}),
            json!({"id": "c", "text": "three"}),
        ];
        let cols = [
            ("id", Kind::Text),
            ("text", Kind::Text),
            ("meta", Kind::Text),
            ("messages", Kind::Messages),
        ];
        let w = write(&rows, &cols).unwrap();
        assert_eq!(w.rows, 3);
        let dir = std::env::temp_dir().join(format!(
            "hifi-pq-{}-{:x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t.parquet");
        std::fs::write(&p, &w.bytes).unwrap();
        let mut problems = Problems::default();
        let mut got = Vec::new();
        read(&p, &mut problems, &mut |line, fields, _| got.push((line, Value::Object(fields))))
            .unwrap();
        assert!(problems.is_empty(), "{problems}");
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].0, 1);
        assert_eq!(got[0].1["meta"], r#"{"k":[1,2]}"#);
        assert_eq!(got[0].1["messages"][1], json!({"role": "assistant", "content": "r"}));
        assert_eq!(got[1].1["text"], Value::Null);
        assert_eq!(got[1].1["messages"], json!([]));
        assert_eq!(got[2].1["messages"], Value::Null);
        // Not Parquet: named, never a panic.
        let bad = dir.join("bad.parquet");
        std::fs::write(&bad, &w.bytes[..w.bytes.len() / 2]).unwrap();
        let mut problems = Problems::default();
        read(&bad, &mut problems, &mut |_, _, _| panic!("no rows")).unwrap();
        let msg = problems.to_string();
        assert!(msg.contains("bad.parquet: not a readable Parquet file"), "{msg}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
