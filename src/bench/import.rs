//! Import speed: rows/s of a generated file.

use std::path::Path;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::io::import::{import_items, ImportOptions};
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
}

/// Generate `rows` short CSV rows in `dir`, time parsing alone, then a full import.
pub fn import(dir: &Path, rows: u64) -> Result<ImportBench> {
    let csv_path = dir.join("bench.csv");
    {
        use std::io::Write;
        let f = std::fs::File::create(&csv_path).map_err(|e| Error::io(&csv_path, e))?;
        let mut w = std::io::BufWriter::new(f);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let words = [
            "save", "today", "new", "offer", "free", "shipping", "you", "won't", "believe",
            "local", "deal", "price",
        ];
        writeln!(w, "id,text,source").map_err(|e| Error::io(&csv_path, e))?;
        for i in 0..rows {
            let n = rng.gen_range(6..14);
            let text: Vec<&str> = (0..n).map(|_| words[rng.gen_range(0..words.len())]).collect();
            writeln!(w, "r{i},{},gen", text.join(" ")).map_err(|e| Error::io(&csv_path, e))?;
        }
        w.flush().map_err(|e| Error::io(&csv_path, e))?;
    }
    let bytes = std::fs::metadata(&csv_path).map_err(|e| Error::io(&csv_path, e))?.len();
    let t0 = Instant::now();
    let mut problems = crate::io::Problems::default();
    let mut n = 0u64;
    crate::io::records::read_records(&csv_path, crate::io::Format::Csv, &mut problems, |_, _| {
        n += 1
    })
    .map_err(|e| Error::io(&csv_path, e))?;
    let parse_secs = t0.elapsed().as_secs_f64();
    let project = dir.join("project");
    std::fs::create_dir_all(&project).map_err(|e| Error::io(&project, e))?;
    let mut store = Store::create(&project)?;
    let t0 = Instant::now();
    let rep = import_items(
        &mut store,
        &csv_path,
        &ImportOptions::default(),
        &mut Silent,
        &CancelToken::new(),
    )
    .map_err(|e| Error::Input(e.to_string()))?;
    let secs = t0.elapsed().as_secs_f64();
    let db_bytes = std::fs::metadata(store.db_path()).map(|m| m.len()).unwrap_or(0);
    Ok(ImportBench {
        rows: rep.rows,
        bytes,
        seconds: secs,
        rows_per_s: rep.rows as f64 / secs,
        mb_per_s: bytes as f64 / 1e6 / secs,
        parse_only_rows_per_s: n as f64 / parse_secs,
        ratio_vs_parse_only: (rep.rows as f64 / secs) / (n as f64 / parse_secs),
        db_bytes,
    })
}
