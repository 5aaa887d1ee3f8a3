//! Problems found in an input file, each with file, line and field.

use std::fmt;
use std::path::{Path, PathBuf};

/// One thing wrong with one place in a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: u64,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = crate::text::inert(&self.file.display().to_string(), false);
        write!(f, "{file}:{}: ", self.line)?;
        if let Some(field) = &self.field {
            write!(f, "field `{}`: ", crate::text::inert(field, false))?;
        }
        write!(f, "{}", crate::text::inert(&self.message, false))
    }
}

/// The problems of one file: the first [`Problems::KEEP`] in full, the rest counted.
#[derive(Debug, Default, thiserror::Error)]
pub struct Problems {
    pub list: Vec<Problem>,
    pub more: u64,
    /// Set when the whole file was refused because of these problems.
    pub refused: Option<PathBuf>,
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
            self.list.push(Problem {
                file: file.to_path_buf(),
                line,
                field: field.map(str::to_string),
                message: message.into(),
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
