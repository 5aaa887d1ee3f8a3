//! The review queue: what experts see next, filled by `hifi mine`.
//!
//! A mining run replaces the queue with a new ordered list (entries of older runs stay in the
//! table for the record but are no longer served). Each entry is one item or a pair, with the
//! reason it was chosen, and needs one annotator — or, for the configured overlap share, two
//! or more, who label blind. Annotators claim entries atomically, so several `hifi review`
//! processes never hand the same single-annotator entry to two people.

use rusqlite::{params, OptionalExtension, Row};

use super::browse::{unfinished, DECIDED_CTE};
use super::{now, Result, Store};

/// An entry about to be queued.
#[derive(Debug, Clone, PartialEq)]
pub struct NewQueueEntry {
    pub item_a: i64,
    pub item_b: Option<i64>,
    /// JSON: why it was chosen (clusters, distance, model probabilities, …).
    pub reason: serde_json::Value,
    /// Annotators wanted (1, or ≥ 2 for agreement measurement).
    pub needed: u32,
    /// Drawn uniformly at random from the unlabeled pool (the audit stratum: labeled blind,
    /// always eval) rather than mined.
    pub audit: bool,
}

/// A queued entry.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueEntry {
    pub id: i64,
    pub mine_run: i64,
    pub position: i64,
    pub strategy: String,
    pub item_a: i64,
    pub item_b: Option<i64>,
    pub reason: serde_json::Value,
    pub needed: u32,
    /// See [`NewQueueEntry::audit`].
    pub audit: bool,
}

const COLS: &str =
    "id, mine_run, position, strategy, item_a, item_b, reason, needed, stratum = 'audit'";

fn entry(r: &Row) -> rusqlite::Result<QueueEntry> {
    let reason: String = r.get(6)?;
    Ok(QueueEntry {
        id: r.get(0)?,
        mine_run: r.get(1)?,
        position: r.get(2)?,
        strategy: r.get(3)?,
        item_a: r.get(4)?,
        item_b: r.get(5)?,
        reason: serde_json::from_str(&reason).unwrap_or(serde_json::Value::Null),
        needed: r.get(7)?,
        audit: r.get(8)?,
    })
}

impl Store {
    /// Start a new queue (a new mining run) with `entries` in order. Returns the run id.
    pub fn replace_queue(&mut self, strategy: &str, entries: &[NewQueueEntry]) -> Result<i64> {
        self.write(|tx| {
            let run: i64 = tx.query_row("SELECT coalesce(max(mine_run), 0) + 1 FROM queue", [], |r| r.get(0))?;
            let at = now();
            let mut st = tx.prepare_cached(
                "INSERT INTO queue (mine_run, position, strategy, item_a, item_b, reason, needed, created_at, stratum)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for (i, e) in entries.iter().enumerate() {
                let stratum = if e.audit { "audit" } else { "boundary" };
                st.execute(params![run, i as i64, strategy, e.item_a, e.item_b, e.reason.to_string(), e.needed.max(1), at, stratum])?;
            }
            tx.execute("INSERT OR REPLACE INTO settings (key, value) VALUES ('queue_run', ?1)", [run.to_string()])?;
            Ok(run)
        })
    }

    /// The run being served (the newest), if any.
    pub fn current_queue_run(&self) -> Result<Option<i64>> {
        self.conn
            .query_row("SELECT max(mine_run) FROM queue", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// Every entry ever queued, counted by strategy and stratum: (strategy, audit, entries,
    /// mining runs), by strategy.
    pub fn queue_history(&self) -> Result<Vec<(String, bool, i64, i64)>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT strategy, stratum = 'audit', count(*), count(DISTINCT mine_run) FROM queue
                 GROUP BY strategy, stratum ORDER BY strategy, stratum",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    /// For each item a queue entry ever named (alone or in a pair): the strategy and stratum
    /// (audit or not) of the newest such entry.
    pub fn item_strategies(&self) -> Result<std::collections::HashMap<i64, (String, bool)>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT item, strategy, stratum = 'audit', max(id) FROM (
                     SELECT item_a AS item, id, strategy, stratum FROM queue
                     UNION ALL
                     SELECT item_b, id, strategy, stratum FROM queue WHERE item_b IS NOT NULL
                 ) GROUP BY item",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    /// The current queue in order.
    pub fn queue(&self) -> Result<Vec<QueueEntry>> {
        let Some(run) = self.current_queue_run()? else { return Ok(Vec::new()) };
        let mut st = self
            .conn
            .prepare(&format!("SELECT {COLS} FROM queue WHERE mine_run = ?1 ORDER BY position"))
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([run], entry).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    /// The next entry for `annotator`, claimed atomically: first an entry they claimed but have
    /// not finished, else the first entry with fewer claims than it needs that they have not
    /// claimed. An entry is finished for an annotator when every item in it has a decision of
    /// theirs (label, skip or flag) in force.
    pub fn claim_next(&mut self, annotator: &str) -> Result<Option<QueueEntry>> {
        self.write(|tx| {
            let Some(run): Option<i64> = tx.query_row("SELECT max(mine_run) FROM queue", [], |r| r.get(0))? else {
                return Ok(None);
            };
            let unfinished = format!(
                "({} OR (q.item_b IS NOT NULL AND {}))",
                unfinished("q.item_a"),
                unfinished("q.item_b")
            );
            let decided = DECIDED_CTE;
            let mine = tx
                .query_row(
                    &format!(
                        "{decided} SELECT {COLS} FROM queue q WHERE q.mine_run = ?1
                         AND EXISTS (SELECT 1 FROM queue_assign c WHERE c.queue = q.id AND c.annotator = ?2)
                         AND {unfinished} ORDER BY q.position LIMIT 1"
                    ),
                    params![run, annotator],
                    entry,
                )
                .optional()?;
            if mine.is_some() {
                return Ok(mine);
            }
            let next = tx
                .query_row(
                    &format!(
                        "{decided} SELECT {COLS} FROM queue q WHERE q.mine_run = ?1
                         AND NOT EXISTS (SELECT 1 FROM queue_assign c WHERE c.queue = q.id AND c.annotator = ?2)
                         AND (SELECT count(*) FROM queue_assign c WHERE c.queue = q.id) < q.needed
                         AND coalesce(json_extract(q.reason, '$.by'), '') != ?2
                         AND {unfinished} ORDER BY q.position LIMIT 1"
                    ),
                    params![run, annotator],
                    entry,
                )
                .optional()?;
            if let Some(e) = &next {
                tx.execute("INSERT INTO queue_assign (queue, annotator) VALUES (?1, ?2)", params![e.id, annotator])?;
            }
            Ok(next)
        })
    }

    /// (entries finished by `annotator`, entries in the queue) for the progress header.
    pub fn queue_progress(&self, annotator: &str) -> Result<(i64, i64)> {
        let Some(run) = self.current_queue_run()? else { return Ok((0, 0)) };
        let total: i64 = self
            .conn
            .query_row("SELECT count(*) FROM queue WHERE mine_run = ?1", [run], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        let done: i64 = self
            .conn
            .query_row(
                &format!(
                    "{DECIDED_CTE} SELECT count(*) FROM queue q WHERE q.mine_run = ?1
                     AND NOT {} AND (q.item_b IS NULL OR NOT {})",
                    unfinished("q.item_a"),
                    unfinished("q.item_b")
                ),
                params![run, annotator],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        Ok((done, total))
    }
}
