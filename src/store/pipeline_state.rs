//! What the pipeline screen reads of each stage's work beyond [`Store::status`].

use rusqlite::OptionalExtension;

use super::{ModelRecord, Result, Store};

impl Store {
    /// The LLM without an adapter whose predictions are newest (what `hifi prelabel` writes),
    /// with the number of items it has predictions for.
    pub fn prelabel_model(&self) -> Result<Option<(ModelRecord, i64)>> {
        let row: Option<(i64, i64)> = self
            .conn
            .query_row(
                "SELECT m.id, count(p.item) FROM models m JOIN predictions p ON p.model = m.id
                 WHERE m.kind = 'llm' AND m.adapter_path IS NULL
                 GROUP BY m.id ORDER BY max(p.created_at) DESC, m.id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((id, n)) = row else { return Ok(None) };
        Ok(self.model(id)?.map(|m| (m, n)))
    }
}
