//! Rounds: one row per pass of the loop (zero-shot, or train → re-predict → evaluate), with
//! the model it evaluated (whose row names the GGUF, adapter and prompt, and whose
//! predictions are kept under its id), the trainer, and its scores as JSON.

use rusqlite::params;

use super::{now, Result, Store, StoreError};

/// One recorded round.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundRow {
    pub id: i64,
    pub model: Option<i64>,
    pub adapter: Option<i64>,
    pub trainer: Option<String>,
    /// The scores JSON (absent while the round runs, or when it was interrupted).
    pub scores: Option<serde_json::Value>,
    pub started_at: String,
    pub finished_at: Option<String>,
}

impl Store {
    /// Open a round. Labels given from now on carry its id.
    pub fn start_round(&mut self, trainer: &str, adapter: Option<i64>) -> Result<i64> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO rounds (trainer, adapter, started_at) VALUES (?1, ?2, ?3)",
                params![trainer, adapter, now()],
            )?;
            Ok(tx.last_insert_rowid())
        })
    }

    /// Close a round with the model it produced and its scores (a JSON object: a round is
    /// never closed with empty scores).
    pub fn finish_round(
        &mut self,
        round: i64,
        model: i64,
        scores: &serde_json::Value,
    ) -> Result<()> {
        if !scores.is_object() {
            return Err(StoreError::Invalid(format!(
                "round {round}: its scores are not a JSON object ({}); the round is left open",
                scores.to_string().chars().take(60).collect::<String>()
            )));
        }
        let json = scores.to_string();
        self.write(|tx| {
            tx.execute(
                "UPDATE rounds SET model = ?2, scores = ?3, finished_at = ?4 WHERE id = ?1",
                params![round, model, json, now()],
            )?;
            Ok(())
        })
    }

    /// Items with an expert label in force that was given since the newest round that trained
    /// a model started (every labeled item while there is none; a zero-shot round trains
    /// nothing), and that round's id: how many labels the model behind the queue has not seen.
    pub fn labels_since_round(&self) -> Result<(i64, Option<i64>)> {
        self.conn
            .query_row(
                "SELECT (SELECT count(DISTINCT a.item) FROM annotations a
                         WHERE a.kind = 'label' AND (t.r IS NULL OR a.round >= t.r)
                           AND EXISTS (SELECT 1 FROM current_labels c WHERE c.id = a.id)),
                        t.r
                 FROM (SELECT max(id) AS r FROM rounds WHERE trainer IS NOT 'zero-shot') t",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| self.err(e))
    }

    /// Every round, oldest first.
    pub fn rounds(&self) -> Result<Vec<RoundRow>> {
        let mut st = self
            .conn
            .prepare("SELECT id, model, adapter, trainer, scores, started_at, finished_at FROM rounds ORDER BY id")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                let row = RoundRow {
                    id: r.get(0)?,
                    model: r.get(1)?,
                    adapter: r.get(2)?,
                    trainer: r.get(3)?,
                    scores: None,
                    started_at: r.get(5)?,
                    finished_at: r.get(6)?,
                };
                Ok((row, r.get::<_, Option<String>>(4)?))
            })
            .map_err(|e| self.err(e))?;
        let rows: Vec<(RoundRow, Option<String>)> =
            rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))?;
        rows.into_iter()
            .map(|(mut row, text)| {
                if let Some(text) = text {
                    row.scores = Some(match serde_json::from_str::<serde_json::Value>(&text) {
                        Ok(v) if v.is_object() => v,
                        Ok(_) => {
                            return Err(self.corrupt_round(row.id, "not a JSON object", &text))
                        }
                        Err(e) => {
                            return Err(self.corrupt_round(
                                row.id,
                                &format!("not JSON ({e})"),
                                &text,
                            ))
                        }
                    });
                }
                Ok(row)
            })
            .collect()
    }

    /// A round whose stored scores cannot be read: named, never skipped in silence.
    pub fn corrupt_round(&self, round: i64, why: &str, text: &str) -> StoreError {
        StoreError::Invalid(format!(
            "{}: round {round}'s scores are corrupt: {why}: {}; its κ cannot be reported (run `hifi round` again for a new round)",
            self.db_path().display(),
            crate::text::inert(&text.chars().take(60).collect::<String>(), false)
        ))
    }

    /// A named setting (small JSON documents such as the last simulation).
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        use rusqlite::OptionalExtension;
        self.conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }

    pub fn set_setting(&mut self, key: &str, value: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute("INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value", params![key, value])?;
            Ok(())
        })
    }
}
