//! The project store: one SQLite database (`hifi.db`, WAL mode) beside `hifi.toml`, plus
//! memory-mappable vector files under `vectors/`.
//!
//! Several hifi processes may use one project at once: every write runs in a `BEGIN IMMEDIATE`
//! transaction with a busy timeout, and WAL lets readers go on while one process writes.

mod annotations;
mod browse;
mod embeddings;
mod guidelines;
mod items;
mod label_sets;
mod pipeline_state;
mod predictions;
mod queue;
mod responses;
mod rounds;
pub mod schema;
mod selections;
mod splits;
mod status;
#[cfg(feature = "test-support")]
mod test_hooks;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

pub use annotations::{Annotation, AnnotationKind, AuditEvent, LabelEvent, Provenance};
pub use browse::{
    fts_query, FindQuery, Found, FoundItem, HistoryEvent, ItemHistory, ItemState, PredictionNow,
    RESOLVED,
};
pub use guidelines::{GuidelinesVersion, GUIDELINES_FILE};
pub use items::{ImportRecord, Item, ItemGold, ItemImport, ItemRefused, NewItem};
pub use label_sets::{
    apply as apply_label_change, LabelChange, LabelChangeOutcome, LabelSetVersion,
};
pub use predictions::{ModelRecord, Prediction};
pub use queue::{NewQueueEntry, QueueEntry};
pub use responses::{
    Judgement, NewResponse, ResponseEvent, ResponseJudgement, ResponseKind, Revision, Verdict,
};
pub use rounds::RoundRow;
pub use selections::{NewSelectionEntry, Selection, SelectionEntry, SelectionKind};
pub use splits::{Split, SplitGroups};
pub use status::{
    EmbeddingCount, LabelSetState, ModelCount, ResponseCount, Status, StatusVersions,
};

/// Database file name inside a project folder.
pub const DB_FILE: &str = "hifi.db";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: not a hifi project (no {DB_FILE}); create one with `hifi init`")]
    NotAProject { path: PathBuf },
    #[error("{path}: this store was written by a newer hifi (schema v{found}); this hifi reads up to v{known}. Upgrade hifi to open it.")]
    NewerSchema { path: PathBuf, found: u32, known: u32 },
    #[error("{path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error("{path}: the project folder is not writable ({why}); hifi writes hifi.db and its -wal/-shm files there. Copy the project somewhere writable, or fix the folder's permissions or mount.")]
    ReadOnly { path: PathBuf, why: String },
    #[error("{0}")]
    Invalid(String),
}

impl StoreError {
    /// Whether another connection held the lock this needed (a retry may succeed).
    pub fn is_busy(&self) -> bool {
        use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
        matches!(self, StoreError::Sqlite { source, .. } if matches!(source.sqlite_error_code(), Some(DatabaseBusy | DatabaseLocked)))
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

pub struct Store {
    conn: Connection,
    root: PathBuf,
}

/// `path` as SQLite must be given it to read it as a plain file name. The bundled SQLite is
/// built with `SQLITE_USE_URI`, so a name starting with `file:` would be parsed as a URI
/// (`file:x?mode=memory` an in-memory database) whatever the open flags say; a relative path
/// gets a leading `./`, which no URI has.
fn plain_path(path: &Path) -> std::path::PathBuf {
    if path.is_relative() {
        Path::new(".").join(path)
    } else {
        path.to_path_buf()
    }
}

impl Store {
    /// Create the store in `project` (the folder must exist). Fails if one is already there.
    pub fn create(project: &Path) -> Result<Self> {
        let path = project.join(DB_FILE);
        if path.exists() {
            return Err(StoreError::Invalid(format!(
                "{}: a store already exists here",
                path.display()
            )));
        }
        Self::open_at(project, true, None)
    }

    /// Open the store of an existing project, migrating it to the latest schema.
    pub fn open(project: &Path) -> Result<Self> {
        Self::open_at(project, false, None)
    }

    /// Open without migrating beyond `version` (tests of the migration path).
    #[doc(hidden)]
    pub fn open_at_version(project: &Path, version: u32) -> Result<Self> {
        Self::open_at(project, true, Some(version))
    }

    fn open_at(project: &Path, create: bool, upto: Option<u32>) -> Result<Self> {
        let path = project.join(DB_FILE);
        if !create && !path.exists() {
            return Err(StoreError::NotAProject { path: project.to_path_buf() });
        }
        let sq = |source| StoreError::Sqlite { path: path.clone(), source };
        // No SQLITE_OPEN_URI: a project path is a path, never a URI.
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let opened = (|| {
            let conn = Connection::open_with_flags(plain_path(&path), flags)?;
            conn.busy_timeout(Duration::from_secs(30))?;
            // WAL: readers never block the writer; FULL: a committed label survives power loss.
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "FULL")?;
            conn.pragma_update(None, "foreign_keys", "ON")?;
            Ok(conn)
        })();
        let conn = opened.map_err(|e| read_only(project).unwrap_or_else(|| sq(e)))?;
        let mut store = Store { conn, root: project.to_path_buf() };
        store.migrate(upto.unwrap_or(schema::LATEST))?;
        Ok(store)
    }

    fn migrate(&mut self, target: u32) -> Result<()> {
        let path = self.db_path();
        let sq = |source| StoreError::Sqlite { path: path.clone(), source };
        let found: u32 =
            self.conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(sq)?;
        if found > schema::LATEST {
            return Err(StoreError::NewerSchema {
                path: path.clone(),
                found,
                known: schema::LATEST,
            });
        }
        if found >= target {
            return Ok(());
        }
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Exclusive).map_err(sq)?;
        // Re-read inside the lock: another process may have migrated meanwhile.
        let found: u32 = tx.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(sq)?;
        for v in found..target {
            tx.execute_batch(schema::MIGRATIONS[v as usize]).map_err(sq)?;
            tx.pragma_update(None, "user_version", v + 1).map_err(sq)?;
        }
        tx.commit().map_err(sq)
    }

    pub fn schema_version(&self) -> Result<u32> {
        self.conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(|e| self.err(e))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn db_path(&self) -> PathBuf {
        self.root.join(DB_FILE)
    }

    /// How long a write waits for another process's write lock before it fails (30 s when opened).
    pub fn set_busy_timeout(&self, wait: Duration) -> Result<()> {
        self.conn.busy_timeout(wait).map_err(|e| self.err(e))
    }

    /// Whether the write lock can be taken now, within the busy timeout (another process
    /// writing holds it). Takes it and lets it go at once.
    pub fn write_lock_is_free(&mut self) -> Result<bool> {
        let path = self.db_path();
        let sq = |source| StoreError::Sqlite { path: path.clone(), source };
        match self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sq) {
            Ok(tx) => tx.rollback().map(|()| true).map_err(sq),
            Err(e) if e.is_busy() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The database's journal mode: "wal" once opened.
    pub fn journal_mode(&self) -> Result<String> {
        self.conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).map_err(|e| self.err(e))
    }

    /// SQLite's integrity check of the whole database: "ok", or what is wrong.
    pub fn integrity_check(&self) -> Result<String> {
        self.conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(|e| self.err(e))
    }

    /// Run `f` in one write transaction (`BEGIN IMMEDIATE`): all of it commits, or none.
    fn write<T, E>(
        &mut self,
        f: impl FnOnce(&Transaction) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E>
    where
        E: From<StoreError>,
    {
        let path = self.db_path();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|source| StoreError::Sqlite { path: path.clone(), source })?;
        let out = f(&tx)?;
        tx.commit().map_err(|source| StoreError::Sqlite { path, source })?;
        Ok(out)
    }

    /// Bring the store in line with the project's files: hifi.toml's labels (recorded as a
    /// label-set version when they changed) and guidelines.md (a guidelines version). Every
    /// command that opens a project calls this before it records anything.
    pub fn sync_project(&mut self, cfg: &crate::config::Config) -> Result<()> {
        self.sync_label_set(&cfg.labels)?;
        self.sync_guidelines_file()?;
        Ok(())
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite { path: self.db_path(), source }
    }

    /// Counts for `hifi status`.
    fn count(&self, sql: &str) -> Result<i64> {
        self.conn.query_row(sql, [], |r| r.get(0)).map_err(|e| self.err(e))
    }
}

/// `Some(ReadOnly)` when nothing can be written in `project` (why an open failed).
fn read_only(project: &Path) -> Option<StoreError> {
    let probe = project.join(format!(".hifi-write-test-{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            None
        }
        Err(e) => Some(StoreError::ReadOnly { path: project.to_path_buf(), why: e.to_string() }),
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(source: rusqlite::Error) -> Self {
        StoreError::Sqlite { path: PathBuf::from(DB_FILE), source }
    }
}

/// Now, as RFC 3339 UTC with milliseconds (sorts as text).
pub fn now() -> String {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    rfc3339(d.as_secs() as i64, d.subsec_millis())
}

/// (year, month, day) of a day counted from 1970-01-01, proleptic Gregorian (Howard Hinnant's
/// civil_from_days).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

fn rfc3339(secs: i64, millis: u32) -> String {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

impl Store {
    /// SHA-256 of a file, cached by (path, size, mtime) so a multi-GB model is hashed once.
    pub fn file_sha256(&mut self, path: &Path) -> std::io::Result<String> {
        let meta = std::fs::metadata(path)?;
        let canon = std::fs::canonicalize(path)?.display().to_string();
        let size = meta.len() as i64;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i64);
        let cached: Option<String> = self
            .conn
            .query_row(
                "SELECT sha256 FROM file_hashes WHERE path = ?1 AND size = ?2 AND mtime_ns = ?3",
                rusqlite::params![canon, size, mtime],
                |r| r.get(0),
            )
            .ok();
        if let Some(h) = cached {
            return Ok(h);
        }
        let h = sha256_file(path)?;
        let _ = self.write(|tx| -> Result<()> {
            tx.execute(
                "INSERT OR REPLACE INTO file_hashes (path, size, mtime_ns, sha256) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![canon, size, mtime, h],
            )?;
            Ok(())
        });
        Ok(h)
    }
}

/// SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(rfc3339(1_795_435_200, 999), "2026-11-23T12:00:00.999Z");
    }

    #[test]
    fn a_project_path_is_never_a_uri() {
        assert_eq!(
            plain_path(Path::new("file:x?mode=memory/hifi.db")),
            Path::new("./file:x?mode=memory/hifi.db")
        );
        assert_eq!(plain_path(Path::new("/p/file:x/hifi.db")), Path::new("/p/file:x/hifi.db"));
        // Opened the way the store opens it, the name is a file on disk, not an in-memory database.
        let dir = std::env::temp_dir().join(format!("hifi-uri-{}", std::process::id()));
        let project = dir.join("file:x?mode=memory");
        std::fs::create_dir_all(&project).unwrap();
        drop(Store::create(&project).unwrap());
        assert!(project.join(DB_FILE).is_file());
        assert!(Store::open(&project).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
