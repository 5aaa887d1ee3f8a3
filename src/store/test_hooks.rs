//! Test hooks: writes hifi itself never makes, for tests that fake an older or odd state, or
//! check that the schema refuses a rewrite of history. Hidden from the docs; not for hifi's use.

use rusqlite::params;

use super::{Result, Store};

impl Store {
    /// Rows in `table` (a table or view of the store, named as in the schema).
    #[doc(hidden)]
    pub fn row_count(&self, table: &str) -> Result<i64> {
        if table.is_empty() || !table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(super::StoreError::Invalid(format!("{table:?} is not a table name")));
        }
        self.count(&format!("SELECT count(*) FROM {table}"))
    }

    /// Replace the meta JSON of each (item, meta), in one transaction.
    #[doc(hidden)]
    pub fn set_items_meta(&mut self, metas: &[(i64, Option<String>)]) -> Result<()> {
        self.write(|tx| {
            let mut st = tx.prepare("UPDATE items SET meta = ?2 WHERE key = ?1")?;
            for (key, meta) in metas {
                st.execute(params![key, meta])?;
            }
            Ok(())
        })
    }

    /// Rewrite what every registered model records of its prompt: `few_shot` expert examples,
    /// and the adapter `adapter_path` when given (left as it is otherwise).
    #[doc(hidden)]
    pub fn overwrite_models_prompt(
        &mut self,
        few_shot: i64,
        adapter_path: Option<&str>,
    ) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE models SET few_shot = ?1, adapter_path = coalesce(?2, adapter_path)",
                params![few_shot, adapter_path],
            )?;
            Ok(())
        })
    }

    /// Try to zero the score of every item of every selection (the schema must refuse).
    #[doc(hidden)]
    pub fn tamper_zero_selection_scores(&self) -> Result<usize> {
        self.conn.execute("UPDATE selection_items SET score = 0", []).map_err(|e| self.err(e))
    }

    /// Try to delete every veto (the schema must refuse).
    #[doc(hidden)]
    pub fn tamper_delete_vetoes(&self) -> Result<usize> {
        self.conn.execute("DELETE FROM selection_vetoes", []).map_err(|e| self.err(e))
    }

    /// Try to give every annotation event `label` (the schema must refuse).
    #[doc(hidden)]
    pub fn tamper_relabel_annotations(&self, label: &str) -> Result<usize> {
        self.conn.execute("UPDATE annotations SET label = ?1", [label]).map_err(|e| self.err(e))
    }

    /// Try to delete every annotation event (the schema must refuse).
    #[doc(hidden)]
    pub fn tamper_delete_annotations(&self) -> Result<usize> {
        self.conn.execute("DELETE FROM annotations", []).map_err(|e| self.err(e))
    }

    /// Insert an item as schema v1 stored it (id and text only).
    #[doc(hidden)]
    pub fn v1_insert_item(&self, id: &str, text: &str) -> Result<()> {
        self.conn
            .execute("INSERT INTO items (id, text) VALUES (?1, ?2)", [id, text])
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Insert a label event as schema v1 stored it.
    #[doc(hidden)]
    pub fn v1_insert_label(
        &self,
        item: i64,
        annotator: &str,
        label: &str,
        created_at: &str,
    ) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO annotations (item, annotator, kind, label, created_at) VALUES (?1, ?2, 'label', ?3, ?4)",
                params![item, annotator, label, created_at],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Mark the database as written with schema `version` (e.g. one newer than this hifi knows).
    #[doc(hidden)]
    pub fn set_schema_version(&self, version: u32) -> Result<()> {
        self.conn.pragma_update(None, "user_version", version).map_err(|e| self.err(e))
    }

    /// Overwrite the stored probabilities text of `item`'s prediction under `model` (a corrupt row).
    #[doc(hidden)]
    pub fn overwrite_prediction_probs(&self, item: i64, model: i64, probs: &str) -> Result<usize> {
        self.conn
            .execute(
                "UPDATE predictions SET probs = ?3 WHERE item = ?1 AND model = ?2",
                params![item, model, probs],
            )
            .map_err(|e| self.err(e))
    }

    /// Overwrite round `round`'s stored scores text (a corrupt row).
    #[doc(hidden)]
    pub fn overwrite_round_scores(&self, round: i64, scores: Option<&str>) -> Result<usize> {
        self.conn.execute("UPDATE rounds SET scores = ?2, finished_at = coalesce(finished_at, 'x') WHERE id = ?1", params![round, scores]).map_err(|e| self.err(e))
    }
}
