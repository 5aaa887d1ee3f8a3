//! Import speed: rows/s of a generated file, against parsing alone; and the same rows as
//! Parquet against CSV, in the same run.

use std::path::Path;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::io::import::{import_items, ImportOptions};
use crate::io::parquet::{Kind, Writer};
use crate::progress::{CancelToken, Silent};
use crate::store::Store;

#[derive(Debug, Serialize)]
pub struct ImportBench {
    pub rows: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub rows_per_s: f64,
    pub mb_per_s: f64,
    /// Baseline in the same run: the same file only parsed (no store), rows/s.
    pub parse_only_rows_per_s: f64,
    pub ratio_vs_parse_only: f64,
    pub db_bytes: u64,
    /// The same rows as a snappy Parquet file (row groups of [`GROUP_ROWS`]): its size,
    /// and the best of three imports into a fresh project against the best of three CSV
    /// imports, taken alternately.
    pub parquet_bytes: u64,
    /// The Parquet file only read into records (no store), rows/s.
    pub parquet_parse_only_rows_per_s: f64,
    pub parquet_rows_per_s: f64,
    pub csv_rows_per_s: f64,
    pub parquet_vs_csv: f64,
}

/// Rows per row group of the generated Parquet file: pyarrow writes up to 1Mi rows per group,
/// `datasets` shards of tens of thousands of rows and more; hifi's exports 10,000.
pub const GROUP_ROWS: usize = 100_000;

/// Imports of each file, taken alternately (the first CSV one is the main figure's).
const REPEATS: usize = 3;

/// The generated rows: (id, text), seeded.
fn rows(n: u64) -> impl Iterator<Item = (String, String)> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let words = [
        "save", "today", "new", "offer", "free", "shipping", "you", "won't", "believe", "local",
        "deal", "price",
    ];
    (0..n).map(move |i| {
        let k = rng.gen_range(6..14);
        let text: Vec<&str> = (0..k).map(|_| words[rng.gen_range(0..words.len())]).collect();
        (format!("r{i}"), text.join(" "))
    })
}

/// Import `path` into a fresh project under `dir`; (rows, seconds, size of the store).
fn timed_import(dir: &Path, name: &str, path: &Path) -> Result<(u64, f64, u64)> {
    let project = dir.join(name);
    let _ = std::fs::remove_dir_all(&project);
    std::fs::create_dir_all(&project).map_err(|e| Error::io(&project, e))?;
    let mut store = Store::create(&project)?;
    let t0 = Instant::now();
    let rep =
        import_items(&mut store, path, &ImportOptions::default(), &mut Silent, &CancelToken::new())
            .map_err(|e| Error::Input(e.to_string()))?;
    let secs = t0.elapsed().as_secs_f64();
    let db_bytes = std::fs::metadata(store.db_path()).map(|m| m.len()).unwrap_or(0);
    drop(store);
    let _ = std::fs::remove_dir_all(&project);
    Ok((rep.rows, secs, db_bytes))
}

/// Generate `rows` short rows in `dir` as CSV and as Parquet; time parsing the CSV alone, a
/// full CSV import, then Parquet and CSV imports alternately (best of three each).
pub fn import(dir: &Path, rows_n: u64) -> Result<ImportBench> {
    let csv_path = dir.join("bench.csv");
    let pq_path = dir.join("bench.parquet");
    {
        use std::io::Write;
        let f = std::fs::File::create(&csv_path).map_err(|e| Error::io(&csv_path, e))?;
        let mut w = std::io::BufWriter::new(f);
        writeln!(w, "id,text,source").map_err(|e| Error::io(&csv_path, e))?;
        for (id, text) in rows(rows_n) {
            writeln!(w, "{id},{text},gen").map_err(|e| Error::io(&csv_path, e))?;
        }
        w.flush().map_err(|e| Error::io(&csv_path, e))?;
    }
    {
        let columns = [("id", Kind::Text), ("text", Kind::Text), ("source", Kind::Text)];
        let mut w = Writer::new(&columns).map_err(|e| Error::io(&pq_path, e))?;
        let mut chunk = Vec::with_capacity(GROUP_ROWS);
        for (id, text) in rows(rows_n) {
            chunk.push(serde_json::json!({"id": id, "text": text, "source": "gen"}));
            if chunk.len() == GROUP_ROWS {
                w.group(&chunk).map_err(|e| Error::io(&pq_path, e))?;
                chunk.clear();
            }
        }
        if !chunk.is_empty() {
            w.group(&chunk).map_err(|e| Error::io(&pq_path, e))?;
        }
        let written = w.finish().map_err(|e| Error::io(&pq_path, e))?;
        std::fs::write(&pq_path, &written.bytes).map_err(|e| Error::io(&pq_path, e))?;
    }
    let bytes = std::fs::metadata(&csv_path).map_err(|e| Error::io(&csv_path, e))?.len();
    let parquet_bytes = std::fs::metadata(&pq_path).map_err(|e| Error::io(&pq_path, e))?.len();
    let t0 = Instant::now();
    let mut problems = crate::io::Problems::default();
    let mut n = 0u64;
    crate::io::records::read_records(&csv_path, crate::io::Format::Csv, &mut problems, |_, _| {
        n += 1
    })
    .map_err(|e| Error::io(&csv_path, e))?;
    let parse_secs = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let mut pq_n = 0u64;
    crate::io::records::read_records(
        &pq_path,
        crate::io::Format::Parquet,
        &mut problems,
        |_, _| pq_n += 1,
    )
    .map_err(|e| Error::io(&pq_path, e))?;
    let pq_parse_secs = t0.elapsed().as_secs_f64();
    let (imported, secs, db_bytes) = timed_import(dir, "project", &csv_path)?;
    // Alternately, so that drift on a shared machine falls on both: the best of three each.
    let rate = |(rows, secs, _): (u64, f64, u64)| rows as f64 / secs;
    let mut csv_best = imported as f64 / secs;
    let mut pq_best = 0f64;
    for i in 0..REPEATS {
        pq_best = pq_best.max(rate(timed_import(dir, "project-pq", &pq_path)?));
        if i + 1 < REPEATS {
            csv_best = csv_best.max(rate(timed_import(dir, "project-csv", &csv_path)?));
        }
    }
    Ok(ImportBench {
        rows: imported,
        bytes,
        seconds: secs,
        rows_per_s: imported as f64 / secs,
        mb_per_s: bytes as f64 / 1e6 / secs,
        parse_only_rows_per_s: n as f64 / parse_secs,
        ratio_vs_parse_only: (imported as f64 / secs) / (n as f64 / parse_secs),
        db_bytes,
        parquet_bytes,
        parquet_parse_only_rows_per_s: pq_n as f64 / pq_parse_secs,
        parquet_rows_per_s: pq_best,
        csv_rows_per_s: csv_best,
        parquet_vs_csv: pq_best / csv_best,
    })
}
