//! Problems found in an input file, each with file, line and field (for Parquet: the file,
//! row and column).

use std::fmt;
use std::path::{Path, PathBuf};

/// One thing wrong with one place in a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: u64,
    pub field: Option<String>,
    pub message: String,
    /// `line` is a row of a Parquet file (counted from 1 in that file; 0: the file as a
    /// whole), and `field` a column.
    pub row: bool,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = crate::text::inert(&self.file.display().to_string(), false);
        let field = self.field.as_deref().map(|s| crate::text::inert(s, false));
        match (self.row, self.line) {
            (false, line) => write!(f, "{file}:{line}: ")?,
            (true, 0) => write!(f, "{file}: ")?,
            (true, row) => write!(f, "{file}: row {row}: ")?,
        }
        if let Some(field) = field {
            write!(f, "{} `{field}`: ", if self.row { "column" } else { "field" })?;
        }
        write!(f, "{}", crate::text::inert(&self.message, false))
    }
}

/// Where the records of a Parquet import come from: each file (one, or the shards of a folder)
/// with the number its first row has across them all. A problem about the import's path and a
/// record number is placed in its file and row.
#[derive(Debug, Default, Clone)]
pub struct RowMap {
    /// The path imported (a file, or a folder of shards).
    pub target: PathBuf,
    /// (number of the file's first row across the files, the file), in reading order.
    pub files: Vec<(u64, PathBuf)>,
}

impl RowMap {
    /// The file and row (from 1 in that file) of record `n` (from 1 across the files); 0 stays
    /// 0 (the target as a whole).
    fn place(&self, n: u64) -> Option<(&Path, u64)> {
        if n == 0 {
            return None;
        }
        let i = self.files.partition_point(|(first, _)| *first <= n).checked_sub(1)?;
        let (first, file) = &self.files[i];
        Some((file, n - first + 1))
    }
}

/// The problems of one file: the first [`Problems::KEEP`] in full, the rest counted.
#[derive(Debug, Default, thiserror::Error)]
pub struct Problems {
    pub list: Vec<Problem>,
    pub more: u64,
    /// Set when the whole file was refused because of these problems.
    pub refused: Option<PathBuf>,
    /// Set by the Parquet reader: problems are placed by file and row.
    pub rows: Option<RowMap>,
}

impl Problems {
    pub const KEEP: usize = 50;

    pub fn push(
        &mut self,
        file: &Path,
        line: u64,
        field: Option<&str>,
        message: impl Into<String>,
    ) {
        if self.list.len() < Self::KEEP {
            // A Parquet import: the import's path and a record number are placed in the file
            // and row; a file's own problems are already so.
            let (file, line, row) = match &self.rows {
                Some(map) => match (map.target == file).then(|| map.place(line)).flatten() {
                    Some((shard, row)) => (shard, row, true),
                    None => (file, line, true),
                },
                None => (file, line, false),
            };
            self.list.push(Problem {
                file: file.to_path_buf(),
                line,
                field: field.map(str::to_string),
                message: message.into(),
                row,
            });
        } else {
            self.more += 1;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn total(&self) -> u64 {
        self.list.len() as u64 + self.more
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.list {
            writeln!(f, "{p}")?;
        }
        if self.more > 0 {
            writeln!(f, "… and {} more problems", self.more)?;
        }
        if let Some(file) = &self.refused {
            write!(
                f,
                "nothing was imported from {} ({} problems)",
                crate::text::inert(&file.display().to_string(), false),
                self.total()
            )?;
        }
        Ok(())
    }
}
