//! Versioned guidelines: the project's `guidelines.md`, what experts label by. Each change is
//! recorded as a new version (append-only), and every annotation records the version in force
//! when it was given, so a label can be read against the rules of its time.

use rusqlite::{params, OptionalExtension};

use super::{now, Result, Store};

/// The guidelines file in a project folder.
pub const GUIDELINES_FILE: &str = "guidelines.md";

/// One recorded version of the guidelines.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GuidelinesVersion {
    pub version: i64,
    pub sha256: String,
    pub text: String,
    /// Who changed it (through hifi), when known.
    pub annotator: Option<String>,
    pub created_at: String,
}

fn sha256_text(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(text.as_bytes()))
}

const COLS: &str = "version, sha256, text, annotator, created_at";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<GuidelinesVersion> {
    Ok(GuidelinesVersion {
        version: r.get(0)?,
        sha256: r.get(1)?,
        text: r.get(2)?,
        annotator: r.get(3)?,
        created_at: r.get(4)?,
    })
}

impl Store {
    /// The newest version, if any was recorded.
    pub fn guidelines(&self) -> Result<Option<GuidelinesVersion>> {
        self.conn
            .query_row(
                &format!("SELECT {COLS} FROM guidelines ORDER BY version DESC LIMIT 1"),
                [],
                from_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every version, oldest first.
    pub fn guidelines_versions(&self) -> Result<Vec<GuidelinesVersion>> {
        let mut st = self
            .conn
            .prepare(&format!("SELECT {COLS} FROM guidelines ORDER BY version"))
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([], from_row).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    /// Record `text` as the guidelines when it differs from the newest version. Returns the
    /// new version, or `None` when nothing changed.
    pub fn record_guidelines(
        &mut self,
        text: &str,
        annotator: Option<&str>,
    ) -> Result<Option<i64>> {
        let sha = sha256_text(text);
        self.write(|tx| {
            let newest: Option<String> = tx
                .query_row("SELECT sha256 FROM guidelines ORDER BY version DESC LIMIT 1", [], |r| {
                    r.get(0)
                })
                .optional()?;
            if newest.as_deref() == Some(sha.as_str()) {
                return Ok(None);
            }
            tx.execute(
                "INSERT INTO guidelines (version, sha256, text, annotator, created_at)
                 VALUES ((SELECT coalesce(max(version), 0) + 1 FROM guidelines), ?1, ?2, ?3, ?4)",
                params![sha, text, annotator, now()],
            )?;
            Ok(Some(tx.last_insert_rowid()))
        })
    }

    /// Record the project's `guidelines.md` when it changed since the newest version (edited
    /// outside hifi too). A missing file records nothing. Returns the new version, if any.
    pub fn sync_guidelines_file(&mut self) -> Result<Option<i64>> {
        let path = self.root.join(GUIDELINES_FILE);
        let Ok(text) = std::fs::read_to_string(&path) else { return Ok(None) };
        if let Some(g) = self.guidelines()? {
            if g.sha256 == sha256_text(&text) {
                return Ok(None);
            }
        }
        self.record_guidelines(&text, None)
    }
}
