//! Find and revisit: search the pool (a full-text index of item texts, notes, ids) with
//! filters over the decisions in force, an item's whole history, and queue entries that bring
//! items back (flagged and skipped ones to work through, a second expert's look, the items of
//! a retired label).
//!
//! The index (`items_fts`, FTS5 over `items.text`) is filled incrementally: items are never
//! changed once imported, so [`Store::index_for_search`] adds the items after `fts_upto`.

use std::collections::{BTreeMap, HashMap, HashSet};

use rusqlite::{params, OptionalExtension, Transaction};

use super::annotations::{event_from_row, EVENT_COLS};
use super::{now, Item, LabelEvent, Result, Store, StoreError};

/// Items indexed per transaction.
const INDEX_BATCH: i64 = 20_000;

/// What to look for. Every filter given must hold (they combine with AND).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FindQuery {
    /// Words to find in item texts and notes, or an item id. Plain words match whole words in
    /// any order (`word*` a prefix); with quotes, `*`, parentheses or AND / OR / NOT / NEAR it
    /// is an SQLite FTS5 query.
    pub text: Option<String>,
    /// The label in force (any annotator's, or an adjudicator's), in the current label set.
    pub label: Option<String>,
    /// Items this annotator decided (labeled, skipped or flagged).
    pub annotator: Option<String>,
    /// Some annotator's flag stands (see [`ItemState::flagged_by`]).
    pub flagged: bool,
    /// Some annotator's newest decision is a skip.
    pub skipped: bool,
    /// Some decision carries a note.
    pub noted: bool,
    /// Experts' labels in force differ (and no adjudication settled it).
    pub experts_disagree: bool,
    /// The model's prediction differs from the experts' label: the model of `model_round` when
    /// given, else the newest model scored under the current label set.
    pub model_disagrees: bool,
    pub model_round: Option<i64>,
    /// eval or train.
    pub split: Option<String>,
    /// boundary or audit.
    pub stratum: Option<String>,
    /// Decided during this training round (events record the round in force).
    pub round: Option<i64>,
    /// Some(true): has an expert label in force; Some(false): has none.
    pub labeled: Option<bool>,
    /// Rows to skip, and the most to return (0: none, only the count).
    pub offset: usize,
    pub limit: usize,
}

impl FindQuery {
    /// Whether a filter restricts results to items someone decided or split.
    fn needs_decisions(&self) -> bool {
        self.label.is_some()
            || self.annotator.is_some()
            || self.flagged
            || self.skipped
            || self.noted
            || self.experts_disagree
            || self.model_disagrees
            || self.split.is_some()
            || self.stratum.is_some()
            || self.round.is_some()
            || self.labeled == Some(true)
    }
}

/// What one item's decisions add up to now.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ItemState {
    /// Labels in force by annotator (current names), adjudication under "(resolved)".
    pub labels: BTreeMap<String, String>,
    /// Annotators with a flag standing: not undone, not withdrawn (unflag), not followed by a
    /// revisit of theirs.
    pub flagged_by: Vec<String>,
    /// Annotators whose newest decision is a skip.
    pub skipped_by: Vec<String>,
    /// Annotators with any decision in force.
    pub annotators: Vec<String>,
    pub noted: bool,
    pub split: Option<String>,
    pub stratum: Option<String>,
    /// Rounds in force when its decisions were made.
    pub rounds: Vec<i64>,
}

impl ItemState {
    /// The label the item ends up with: the adjudicator's, else the one all experts agree on.
    pub fn resolved(&self) -> Option<&str> {
        if let Some(r) = self.labels.get(RESOLVED) {
            return Some(r);
        }
        let mut it = self.labels.values();
        let first = it.next()?;
        it.all(|l| l == first).then_some(first.as_str())
    }

    pub fn disagree(&self) -> bool {
        !self.labels.contains_key(RESOLVED)
            && self.labels.values().collect::<HashSet<_>>().len() > 1
    }
}

/// The key under which an adjudicator's resolution is listed in [`ItemState::labels`].
pub const RESOLVED: &str = "(resolved)";

/// One row of a result list.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FoundItem {
    pub key: i64,
    pub id: String,
    /// The text's first 300 characters (untrusted: make it inert before showing it).
    pub text: String,
    pub state: ItemState,
    /// The label predicted by the newest model scored under the current label set.
    pub predicted: Option<String>,
}

/// A page of results and how many there are in all.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub total: usize,
    pub rows: Vec<FoundItem>,
}

/// One event of an item's history, with what its label is called now.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEvent {
    pub event: LabelEvent,
    /// The label in the current label set (`None`: retired, or not a label).
    pub label_now: Option<String>,
    /// Still in force (a label or resolution not undone or replaced).
    pub current: bool,
    /// Undone by a later undo.
    pub undone: bool,
}

/// An item with everything recorded about it.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemHistory {
    pub item: Item,
    pub state: ItemState,
    pub events: Vec<HistoryEvent>,
    /// The model's newest prediction now: (model fingerprint, labels, probabilities, label,
    /// stale: scored under another label set than the current one).
    pub prediction_now: Option<PredictionNow>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PredictionNow {
    pub model: String,
    pub labels: Vec<String>,
    pub probs: Vec<f64>,
    pub label: String,
    pub stale: bool,
}

/// A plain query (no FTS5 syntax) made safe: each word quoted, so `e-mail` or `it's` never
/// reads as an operator. Queries with quotes, `*`, parentheses or upper-case operators pass
/// through as FTS5 syntax.
pub fn fts_query(q: &str) -> String {
    let words: Vec<&str> = q.split_whitespace().collect();
    let syntax = q.contains(['"', '*', '(', ')', '^'])
        || words.iter().any(|w| matches!(*w, "AND" | "OR" | "NOT" | "NEAR"));
    if syntax {
        return q.to_string();
    }
    words.iter().map(|w| format!("\"{}\"", w.replace('"', "\"\""))).collect::<Vec<_>>().join(" ")
}

/// The words of a query, lower-cased, without FTS5 operators and punctuation (to match notes).
fn plain_words(q: &str) -> Vec<String> {
    q.split_whitespace()
        .filter(|w| !matches!(*w, "AND" | "OR" | "NOT" | "NEAR"))
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// The SQL condition "entry `q` is not finished for annotator ?2" for the item in `col`: a
/// revisit is finished once the annotator decided the item after it was queued; any other
/// entry once the item has a decision of theirs in force (a label whose name was retired is
/// not one). Needs the `decided` CTE of [`DECIDED_CTE`].
pub(crate) fn unfinished(col: &str) -> String {
    format!(
        "(CASE WHEN q.strategy = 'revisit'
            THEN NOT EXISTS (SELECT 1 FROM annotations d WHERE d.item = {col} AND d.annotator = ?2
                 AND d.kind IN ('label', 'skip', 'flag', 'unflag', 'resolve')
                 AND d.id > coalesce(json_extract(q.reason, '$.after'), 0)
                 AND NOT EXISTS (SELECT 1 FROM annotations u WHERE u.kind = 'undo' AND u.supersedes = d.id))
            ELSE NOT EXISTS (SELECT 1 FROM decided d WHERE d.item = {col}) END)"
    )
}

/// Items annotator ?2 has a decision in force on (label, skip or flag; a label under a
/// retired name does not count).
pub(crate) const DECIDED_CTE: &str = "WITH decided AS (
   SELECT a.item FROM annotations a WHERE a.annotator = ?2 AND a.kind IN ('label', 'skip', 'flag')
   AND NOT EXISTS (SELECT 1 FROM annotations u WHERE u.kind = 'undo' AND u.supersedes = a.id)
   AND NOT EXISTS (SELECT 1 FROM label_map m WHERE a.kind = 'label' AND m.version = coalesce(a.label_set, 1)
                   AND m.label = a.label AND m.now IS NULL))";

/// Queue `items` again at the front of the queue being served (a new one when none is), as
/// `revisit` entries finished once someone (the `assign` annotator, when given) decides them
/// again. `reason` gets `after`: the newest event id now. Returns the entries added.
pub(crate) fn queue_revisits(
    tx: &Transaction,
    items: &[i64],
    reason: serde_json::Value,
    assign: Option<&str>,
) -> rusqlite::Result<usize> {
    queue_front(tx, "revisit", items, reason, assign, true)
}

fn queue_front(
    tx: &Transaction,
    strategy: &str,
    items: &[i64],
    mut reason: serde_json::Value,
    assign: Option<&str>,
    with_after: bool,
) -> rusqlite::Result<usize> {
    if items.is_empty() {
        return Ok(0);
    }
    let run: i64 = match tx.query_row("SELECT max(mine_run) FROM queue", [], |r| r.get(0))? {
        Some(r) => r,
        None => {
            tx.execute(
                "INSERT OR REPLACE INTO settings (key, value) VALUES ('queue_run', '1')",
                [],
            )?;
            1
        }
    };
    let first: i64 = tx.query_row(
        "SELECT coalesce(min(position), 0) FROM queue WHERE mine_run = ?1",
        [run],
        |r| r.get(0),
    )?;
    if with_after {
        let after: i64 =
            tx.query_row("SELECT coalesce(max(id), 0) FROM annotations", [], |r| r.get(0))?;
        reason["after"] = after.into();
    }
    let at = now();
    let n = items.len() as i64;
    let mut ins = tx.prepare(
        "INSERT INTO queue (mine_run, position, strategy, item_a, item_b, reason, needed, created_at, stratum)
         VALUES (?1, ?2, ?3, ?4, NULL, ?5, 1, ?6, 'boundary')",
    )?;
    let mut assign_st =
        tx.prepare("INSERT OR IGNORE INTO queue_assign (queue, annotator) VALUES (?1, ?2)")?;
    for (i, item) in items.iter().enumerate() {
        ins.execute(params![run, first - n + i as i64, strategy, item, reason.to_string(), at])?;
        if let Some(who) = assign {
            assign_st.execute(params![tx.last_insert_rowid(), who])?;
        }
    }
    Ok(items.len())
}

impl Store {
    /// Bring the search index up to date (items imported since it was last filled); calls
    /// `progress(done, total)` between batches. Returns the items indexed now.
    pub fn index_for_search(&mut self, mut progress: impl FnMut(u64, u64)) -> Result<u64> {
        let upto = |s: &Store| -> Result<i64> {
            s.conn
                .query_row(
                    "SELECT coalesce((SELECT CAST(value AS INTEGER) FROM settings WHERE key = 'fts_upto'), 0)",
                    [],
                    |r| r.get(0),
                )
                .map_err(|e| s.err(e))
        };
        let start = upto(self)?;
        let total: i64 = self
            .conn
            .query_row("SELECT count(*) FROM items WHERE key > ?1", [start], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if total == 0 {
            return Ok(0);
        }
        let mut done = 0u64;
        loop {
            let added = self.write(|tx| -> Result<i64> {
                // Re-read inside the lock: another process may be indexing too.
                let from: i64 = tx.query_row(
                    "SELECT coalesce((SELECT CAST(value AS INTEGER) FROM settings WHERE key = 'fts_upto'), 0)",
                    [],
                    |r| r.get(0),
                )?;
                let to: Option<i64> = tx.query_row(
                    "SELECT max(key) FROM (SELECT key FROM items WHERE key > ?1 ORDER BY key LIMIT ?2)",
                    params![from, INDEX_BATCH],
                    |r| r.get(0),
                )?;
                let Some(to) = to else { return Ok(0) };
                let n = tx.execute(
                    "INSERT INTO items_fts (rowid, text) SELECT key, text FROM items WHERE key > ?1 AND key <= ?2",
                    params![from, to],
                )?;
                tx.execute(
                    "INSERT OR REPLACE INTO settings (key, value) VALUES ('fts_upto', ?1)",
                    [to.to_string()],
                )?;
                Ok(n as i64)
            })?;
            if added == 0 {
                break;
            }
            done += added as u64;
            progress(done, total as u64);
        }
        Ok(done)
    }

    /// Items not in the search index yet.
    pub fn unindexed_items(&self) -> Result<i64> {
        self.conn
            .query_row(
                "SELECT count(*) FROM items WHERE key > coalesce((SELECT CAST(value AS INTEGER) FROM settings WHERE key = 'fts_upto'), 0)",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// The decisions in force of every item someone decided or that has a split.
    pub fn item_states(&self) -> Result<HashMap<i64, ItemState>> {
        let mut out: HashMap<i64, ItemState> = HashMap::new();
        let mut st = self
            .conn
            .prepare_cached("SELECT item, annotator, label, kind FROM current_labels")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        for row in rows {
            let (item, who, label, kind) = row.map_err(|e| self.err(e))?;
            let key = if kind == "resolve" { RESOLVED.to_string() } else { who };
            out.entry(item).or_default().labels.insert(key, label);
        }
        // Per item and annotator, over their events that are not undone: a flag stands until
        // they unflag it or revisit the item (a label given right after a flag, in review, is
        // the tentative label the flag is unsure of); skipped means their newest decision is
        // a skip.
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT a.item, a.annotator, a.kind, a.note IS NOT NULL AND a.note != '', a.round, a.revises IS NOT NULL
                 FROM annotations a
                 WHERE a.kind != 'undo'
                   AND NOT EXISTS (SELECT 1 FROM annotations u WHERE u.kind = 'undo' AND u.supersedes = a.id)
                 ORDER BY a.item, a.annotator, a.id",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, bool>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, bool>(5)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        // (item, annotator) → (flag standing, newest of label/skip/flag)
        let mut per: HashMap<(i64, String), (bool, String)> = HashMap::new();
        for row in rows {
            let (item, who, kind, noted, round, revisit) = row.map_err(|e| self.err(e))?;
            let s = out.entry(item).or_default();
            s.noted |= noted;
            if let Some(r) = round {
                if !s.rounds.contains(&r) {
                    s.rounds.push(r);
                }
            }
            if kind == "resolve" {
                continue;
            }
            if !s.annotators.contains(&who) {
                s.annotators.push(who.clone());
            }
            let e = per.entry((item, who)).or_insert((false, String::new()));
            match kind.as_str() {
                "flag" => e.0 = true,
                "unflag" => e.0 = false,
                _ if revisit => e.0 = false,
                _ => {}
            }
            if kind != "unflag" {
                e.1 = kind;
            }
        }
        for ((item, who), (flag, newest)) in per {
            let s = out.entry(item).or_default();
            if flag {
                s.flagged_by.push(who.clone());
            }
            if newest == "skip" {
                s.skipped_by.push(who);
            }
        }
        let mut st = self
            .conn
            .prepare_cached("SELECT item, split, stratum FROM splits")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
            })
            .map_err(|e| self.err(e))?;
        for row in rows {
            let (item, split, stratum) = row.map_err(|e| self.err(e))?;
            let s = out.entry(item).or_default();
            s.split = Some(split);
            s.stratum = Some(stratum);
        }
        for s in out.values_mut() {
            s.flagged_by.sort();
            s.skipped_by.sort();
            s.annotators.sort();
            s.rounds.sort();
        }
        Ok(out)
    }

    /// The model whose predictions browse compares with: the one of round `round` when given,
    /// else the newest model with predictions scored under `labels` (the current label set).
    fn browse_model(&self, labels: &[String], round: Option<i64>) -> Result<Option<i64>> {
        if let Some(r) = round {
            let m: Option<i64> = self
                .conn
                .query_row("SELECT model FROM rounds WHERE id = ?1", [r], |r| r.get(0))
                .optional()
                .map_err(|e| self.err(e))?
                .flatten();
            return match m {
                Some(m) => Ok(Some(m)),
                None => Err(StoreError::Invalid(format!("round {r} has no model"))),
            };
        }
        let want = serde_json::to_string(labels).expect("names serialise");
        self.conn
            .query_row(
                "SELECT p.model FROM predictions p JOIN models m ON m.id = p.model WHERE m.labels = ?1
                 ORDER BY p.created_at DESC, p.model DESC LIMIT 1",
                [want],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Keys of items whose text matches `q` (FTS5), in key order.
    fn text_hits(&self, q: &str) -> Result<Vec<i64>> {
        let fq = fts_query(q);
        let mut st = self
            .conn
            .prepare_cached("SELECT rowid FROM items_fts WHERE items_fts MATCH ?1 ORDER BY rowid")
            .map_err(|e| self.err(e))?;
        let collected: rusqlite::Result<Vec<i64>> =
            st.query_map([&fq], |r| r.get::<_, i64>(0)).and_then(|rows| rows.collect());
        collected.map_err(|e| search_error(q, e))
    }

    /// Find items: `labels` is the current label set (for "the model disagrees"). Results are
    /// in key order (import order).
    pub fn find(&self, q: &FindQuery, labels: &[String]) -> Result<Found> {
        let text = q.text.as_deref().map(str::trim).filter(|t| !t.is_empty());
        let states = self.item_states()?;
        // Items a text query reaches: texts (FTS), notes, the id itself.
        let hits: Option<Vec<i64>> = match text {
            None => None,
            Some(t) => {
                let mut hits = self.text_hits(t)?;
                let words = plain_words(t);
                let mut extra: Vec<i64> = Vec::new();
                if !words.is_empty() {
                    let mut st = self
                        .conn
                        .prepare_cached(
                            "SELECT DISTINCT item, note FROM annotations WHERE note IS NOT NULL AND note != ''",
                        )
                        .map_err(|e| self.err(e))?;
                    let rows = st
                        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
                        .map_err(|e| self.err(e))?;
                    for row in rows {
                        let (item, note) = row.map_err(|e| self.err(e))?;
                        let note = note.to_lowercase();
                        if words.iter().all(|w| note.contains(w.as_str())) {
                            extra.push(item);
                        }
                    }
                }
                if let Some(k) = self
                    .conn
                    .query_row("SELECT key FROM items WHERE id = ?1", [t], |r| r.get::<_, i64>(0))
                    .optional()
                    .map_err(|e| self.err(e))?
                {
                    extra.push(k);
                }
                if !extra.is_empty() {
                    hits.extend(extra);
                    hits.sort_unstable();
                    hits.dedup();
                }
                Some(hits)
            }
        };
        let model_label: HashMap<i64, String> = if q.model_disagrees {
            match self.browse_model(labels, q.model_round)? {
                None => HashMap::new(),
                Some(m) => self.predicted_labels(m, states.keys().copied())?,
            }
        } else {
            HashMap::new()
        };
        let keep = |key: i64, s: Option<&ItemState>| -> bool {
            let empty = ItemState::default();
            let s = s.unwrap_or(&empty);
            let labeled = !s.labels.is_empty();
            if let Some(l) = &q.label {
                if !s.labels.values().any(|v| v == l) {
                    return false;
                }
            }
            if let Some(a) = &q.annotator {
                if !s.annotators.contains(a) {
                    return false;
                }
            }
            if (q.flagged && s.flagged_by.is_empty())
                || (q.skipped && s.skipped_by.is_empty())
                || (q.noted && !s.noted)
                || (q.experts_disagree && !s.disagree())
            {
                return false;
            }
            if q.model_disagrees {
                match (model_label.get(&key), s.resolved()) {
                    (Some(m), Some(e)) if m != e => {}
                    _ => return false,
                }
            }
            if q.split.is_some() && s.split != q.split {
                return false;
            }
            if q.stratum.is_some() && s.stratum != q.stratum {
                return false;
            }
            if let Some(r) = q.round {
                if !s.rounds.contains(&r) {
                    return false;
                }
            }
            if let Some(want) = q.labeled {
                if labeled != want {
                    return false;
                }
            }
            true
        };
        let mut keys: Vec<i64>;
        let total: usize;
        if q.needs_decisions() {
            keys = states.keys().copied().filter(|k| keep(*k, states.get(k))).collect();
            if let Some(h) = &hits {
                keys.retain(|k| h.binary_search(k).is_ok());
            }
            keys.sort_unstable();
            total = keys.len();
            keys = keys.into_iter().skip(q.offset).take(q.limit).collect();
        } else if let Some(h) = hits {
            let ks: Vec<i64> = h.into_iter().filter(|k| keep(*k, states.get(k))).collect();
            total = ks.len();
            keys = ks.into_iter().skip(q.offset).take(q.limit).collect();
        } else {
            // Every item, or every unlabeled one: page through the items table.
            let all = self.item_count()? as usize;
            let excluded: HashSet<i64> = if q.labeled == Some(false) {
                states.iter().filter(|(k, s)| !keep(**k, Some(s))).map(|(k, _)| *k).collect()
            } else {
                HashSet::new()
            };
            total = all - excluded.len();
            keys = Vec::new();
            let mut skipped = 0usize;
            let mut after = i64::MIN;
            'page: while keys.len() < q.limit {
                let mut st = self
                    .conn
                    .prepare_cached("SELECT key FROM items WHERE key > ?1 ORDER BY key LIMIT 1000")
                    .map_err(|e| self.err(e))?;
                let batch: Vec<i64> = st
                    .query_map([after], |r| r.get(0))
                    .map_err(|e| self.err(e))?
                    .collect::<rusqlite::Result<_>>()
                    .map_err(|e| self.err(e))?;
                if batch.is_empty() {
                    break;
                }
                after = *batch.last().expect("non-empty");
                for k in batch {
                    if excluded.contains(&k) {
                        continue;
                    }
                    if skipped < q.offset {
                        skipped += 1;
                        continue;
                    }
                    keys.push(k);
                    if keys.len() >= q.limit {
                        break 'page;
                    }
                }
            }
        }
        let mut rows = Vec::with_capacity(keys.len());
        let preds = if keys.is_empty() {
            HashMap::new()
        } else {
            match self.browse_model(labels, None)? {
                Some(m) => self.predicted_labels(m, keys.iter().copied())?,
                None => HashMap::new(),
            }
        };
        for k in keys {
            let Some(item) = self.item(k)? else { continue };
            rows.push(FoundItem {
                key: k,
                id: item.id,
                text: item.text.chars().take(300).collect(),
                state: states.get(&k).cloned().unwrap_or_default(),
                predicted: preds.get(&k).cloned(),
            });
        }
        Ok(Found { total, rows })
    }

    /// The label `model` predicts for each of `items` that it scored.
    fn predicted_labels(
        &self,
        model: i64,
        items: impl Iterator<Item = i64>,
    ) -> Result<HashMap<i64, String>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT label FROM predictions WHERE item = ?1 AND model = ?2")
            .map_err(|e| self.err(e))?;
        let mut out = HashMap::new();
        for k in items {
            if let Some(l) = st
                .query_row(params![k, model], |r| r.get::<_, String>(0))
                .optional()
                .map_err(|e| self.err(e))?
            {
                out.insert(k, l);
            }
        }
        Ok(out)
    }

    /// An item with its whole history: every annotation event (oldest first) with its label
    /// in today's names, its decisions in force, and the model's newest prediction (stale when
    /// scored under another label set than `labels`).
    pub fn item_history(&self, key: i64, labels: &[String]) -> Result<Option<ItemHistory>> {
        let Some(item) = self.item(key)? else { return Ok(None) };
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {EVENT_COLS},
                        (SELECT m.now FROM label_map m WHERE m.version = coalesce(a.label_set, 1) AND m.label = a.label),
                        (SELECT count(*) FROM label_map m WHERE m.version = coalesce(a.label_set, 1) AND m.label = a.label),
                        EXISTS (SELECT 1 FROM current_labels c WHERE c.id = a.id),
                        EXISTS (SELECT 1 FROM annotations u WHERE u.kind = 'undo' AND u.supersedes = a.id)
                 FROM annotations a WHERE item = ?1 ORDER BY id"
            ))
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([key], |r| {
                let event = event_from_row(r)?;
                let mapped: Option<String> = r.get(15)?;
                let known: i64 = r.get(16)?;
                let label_now = match (&event.label, known) {
                    (None, _) => None,
                    (Some(l), 0) => Some(l.clone()),
                    (Some(_), _) => mapped,
                };
                Ok(HistoryEvent { event, label_now, current: r.get(17)?, undone: r.get(18)? })
            })
            .map_err(|e| self.err(e))?;
        let events: Vec<HistoryEvent> =
            rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))?;
        let state = self.item_state(key)?;
        let prediction_now = match self.latest_prediction(key)? {
            None => None,
            Some((m, p)) => {
                let (i, _) = p.top();
                Some(PredictionNow {
                    label: m.labels.get(i).cloned().unwrap_or_default(),
                    stale: m.labels != labels,
                    model: m.fingerprint,
                    labels: m.labels,
                    probs: p.probs.iter().map(|x| *x as f64).collect(),
                })
            }
        };
        Ok(Some(ItemHistory { item, state, events, prediction_now }))
    }

    /// One item's decisions in force.
    pub fn item_state(&self, key: i64) -> Result<ItemState> {
        // Small projects and single items: the whole map is cheap enough and keeps one rule.
        Ok(self.item_states()?.remove(&key).unwrap_or_default())
    }

    /// `annotator`'s newest decision (label, flag or skip) on `item` that is not undone: what
    /// a revisit revises.
    pub fn newest_decision(&self, item: i64, annotator: &str) -> Result<Option<LabelEvent>> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {EVENT_COLS} FROM annotations a WHERE item = ?1 AND annotator = ?2
                     AND kind IN ('label', 'flag', 'skip')
                     AND NOT EXISTS (SELECT 1 FROM annotations u WHERE u.kind = 'undo' AND u.supersedes = a.id)
                     ORDER BY id DESC LIMIT 1"
                ),
                params![item, annotator],
                event_from_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Queue `items` at the front of the queue for `annotator` to work through (flagged and
    /// skipped items, a search's results): each is finished once they decide it again.
    pub fn queue_to_revisit(&mut self, items: &[i64], annotator: &str) -> Result<usize> {
        let reason = serde_json::json!({ "why": "revisit", "by": annotator });
        self.write(|tx| Ok(queue_revisits(tx, items, reason, Some(annotator))?))
    }

    /// Queue `items` at the front of the queue for a second expert: anyone but `by` who has
    /// not decided an item gets it.
    pub fn queue_second_opinion(&mut self, items: &[i64], by: &str) -> Result<usize> {
        let reason = serde_json::json!({ "why": "second opinion", "by": by });
        self.write(|tx| Ok(queue_front(tx, "second-opinion", items, reason, None, false)?))
    }
}

/// An FTS5 error as a message that names the query and says how queries are written.
fn search_error(q: &str, e: rusqlite::Error) -> StoreError {
    let msg = match &e {
        rusqlite::Error::SqliteFailure(_, Some(m)) => m.clone(),
        other => other.to_string(),
    };
    StoreError::Invalid(format!(
        "cannot search for `{q}`: {msg}. Plain words match whole words in any order; \"a phrase\" \
         in quotes, word* for a prefix, AND / OR / NOT between words (upper case)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_queries_are_quoted_and_syntax_passes_through() {
        assert_eq!(fts_query("e-mail it's"), "\"e-mail\" \"it's\"");
        assert_eq!(fts_query("say \"hi\""), "say \"hi\"");
        assert_eq!(fts_query("refund OR return"), "refund OR return");
        assert_eq!(fts_query("ref*"), "ref*");
        assert_eq!(plain_words("\"Refund\" OR return*"), ["refund", "return"]);
    }
}
