//! Embedding sets: one per embedding model (by its file's SHA-256), each with the vector file
//! under `vectors/` its rows are in, and which item is in which row.

use rusqlite::params;

use super::{now, Result, Store, StoreError};

impl Store {
    /// The set for this model (created if new): (id, vector file relative to the project).
    pub fn embedding_set(
        &mut self,
        model_path: &str,
        sha: &str,
        dim: usize,
    ) -> Result<(i64, String)> {
        self.write(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO embedding_sets (model_path, model_sha256, dim, file, created_at) VALUES (?1, ?2, ?3, '', ?4)",
                params![model_path, sha, dim as i64, now()],
            )?;
            let (id, d): (i64, i64) = tx.query_row("SELECT id, dim FROM embedding_sets WHERE model_sha256 = ?1", [sha], |r| Ok((r.get(0)?, r.get(1)?)))?;
            if d as usize != dim {
                return Err(StoreError::Invalid(format!("embedding set {id} has {d} dims, the model gives {dim}")));
            }
            let file = format!("vectors/emb-{id}.f32");
            tx.execute("UPDATE embedding_sets SET file = ?1 WHERE id = ?2", params![file, id])?;
            Ok((id, file))
        })
    }

    /// The embedding set made with the model whose file hashes to `sha`, if any.
    pub fn embedding_set_for(&self, sha: &str) -> Result<Option<i64>> {
        match self.conn.query_row(
            "SELECT id FROM embedding_sets WHERE model_sha256 = ?1",
            [sha],
            |r| r.get(0),
        ) {
            Ok(id) => Ok(Some(id)),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }

    /// (id, dim, file) of `set_id`, or of the newest set.
    pub fn embedding_set_info(&self, set_id: Option<i64>) -> Result<Option<(i64, usize, String)>> {
        let sql = "SELECT id, dim, file FROM embedding_sets WHERE (?1 IS NULL OR id = ?1) ORDER BY id DESC LIMIT 1";
        let r = self.conn.query_row(sql, [set_id], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)? as usize, r.get(2)?))
        });
        match r {
            Ok(v) => Ok(Some(v)),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }

    /// The tag of `set_id`'s vector file (None: written before v4, no header).
    pub fn embedding_file_tag(&self, set_id: i64) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT file_tag FROM embedding_sets WHERE id = ?1", [set_id], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// Record a new file tag for `set_id` and forget every row at or past `keep` (those are
    /// embedded again).
    pub(crate) fn reset_embedding_file(
        &mut self,
        set_id: i64,
        tag: &str,
        keep: usize,
    ) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE embedding_sets SET file_tag = ?1 WHERE id = ?2",
                params![tag, set_id],
            )?;
            tx.execute(
                "DELETE FROM embedding_rows WHERE set_id = ?1 AND row >= ?2",
                params![set_id, keep as i64],
            )?;
            Ok(())
        })
    }

    /// How many items of `set_id` have a committed row.
    pub fn embedding_rows(&self, set_id: i64) -> Result<usize> {
        self.conn
            .query_row("SELECT count(*) FROM embedding_rows WHERE set_id = ?1", [set_id], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as usize)
            .map_err(|e| self.err(e))
    }

    /// (item, row) of every embedded item of `set_id`, in item order.
    pub fn embedding_row_map(&self, set_id: i64) -> Result<Vec<(i64, usize)>> {
        let mut st = self
            .conn
            .prepare("SELECT item, row FROM embedding_rows WHERE set_id = ?1 ORDER BY item")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([set_id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)? as usize)))
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    /// Up to `limit` item keys without a row in `set_id`, in key order.
    pub(crate) fn unembedded(&self, set_id: i64, limit: usize) -> Result<Vec<i64>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT key FROM items i WHERE NOT EXISTS (SELECT 1 FROM embedding_rows e WHERE e.set_id = ?1 AND e.item = i.key)
                 ORDER BY key LIMIT ?2",
            )
            .map_err(|e| self.err(e))?;
        let rows =
            st.query_map(params![set_id, limit as i64], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    /// Commit (item, row, truncated) rows of `set_id`'s vector file, all or none.
    pub(crate) fn put_embedding_rows(
        &mut self,
        set_id: i64,
        rows: &[(i64, i64, bool)],
    ) -> Result<()> {
        self.write(|tx| {
            let mut st = tx.prepare_cached(
                "INSERT INTO embedding_rows (set_id, item, row, truncated) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (item, row, cut) in rows {
                st.execute(params![set_id, item, row, cut])?;
            }
            Ok(())
        })
    }
}
