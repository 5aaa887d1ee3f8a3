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
    ///
    /// One pass over the annotations, in Rust: the labels in force follow the `current_labels`
    /// view's rule exactly (per item, annotator and kind — label or resolve — the newest event
    /// not undone, its name mapped through `label_map`; a name mapped to nothing, retired, is
    /// no label in force), without the view's correlated subqueries, which cost more than
    /// everything else `find` does on a large project. `tests/label_sets.rs` checks the two
    /// agree.
    pub fn item_states(&self) -> Result<HashMap<i64, ItemState>> {
        self.states_of(None)
    }

    /// [`Store::item_states`] of `keys` alone (`None`: of every item): the same rule, reading
    /// only their events (an undo is recorded on its target's item).
    fn states_of(&self, keys: Option<&[i64]>) -> Result<HashMap<i64, ItemState>> {
        let list = keys.map(|k| serde_json::to_string(k).expect("integers serialise"));
        let only = |col: &str| match &list {
            Some(_) => format!(" WHERE {col} IN (SELECT value FROM json_each(?1))"),
            None => " WHERE ?1 IS NULL".to_string(),
        };
        let mut out: HashMap<i64, ItemState> = HashMap::new();
        // label_map: (version, name as given) → name now (None: retired).
        let mut st = self
            .conn
            .prepare_cached("SELECT version, label, now FROM label_map")
            .map_err(|e| self.err(e))?;
        let map: HashMap<(i64, String), Option<String>> = st
            .query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))?;
        struct Row {
            id: i64,
            item: i64,
            who: String,
            kind: String,
            label: Option<String>,
            label_set: i64,
            noted: bool,
            round: Option<i64>,
            revisit: bool,
        }
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT id, item, annotator, kind, label, coalesce(label_set, 1), note IS NOT NULL AND note != '',
                        round, revises IS NOT NULL, supersedes
                 FROM annotations{}",
                only("item")
            ))
            .map_err(|e| self.err(e))?;
        let mut undone: HashSet<i64> = HashSet::new();
        let mut rows: Vec<Row> = Vec::new();
        let mut q = st.query([&list]).map_err(|e| self.err(e))?;
        while let Some(r) = q.next().map_err(|e| self.err(e))? {
            let kind: String = r.get(3).map_err(|e| self.err(e))?;
            if kind == "undo" {
                if let Some(s) = r.get::<_, Option<i64>>(9).map_err(|e| self.err(e))? {
                    undone.insert(s);
                }
                continue;
            }
            let get = |r: &rusqlite::Row| -> rusqlite::Result<Row> {
                Ok(Row {
                    id: r.get(0)?,
                    item: r.get(1)?,
                    who: r.get(2)?,
                    kind: kind.clone(),
                    label: r.get(4)?,
                    label_set: r.get(5)?,
                    noted: r.get(6)?,
                    round: r.get(7)?,
                    revisit: r.get(8)?,
                })
            };
            rows.push(get(r).map_err(|e| self.err(e))?);
        }
        drop(q);
        // Read in table order (a sort in SQL costs a lookup per row), grouped here.
        rows.sort_unstable_by(|a, b| (a.item, &a.who, a.id).cmp(&(b.item, &b.who, b.id)));
        // Per item and annotator: the newest label and resolution not
        // undone; a flag stands until they unflag it or revisit the item (a label given right
        // after a flag, in review, is the tentative label the flag is unsure of); skipped means
        // their newest decision is a skip.
        let mut i = 0;
        while i < rows.len() {
            let (item, who) = (rows[i].item, rows[i].who.as_str());
            let mut j = i;
            let (mut newest_label, mut newest_resolve) = (None::<usize>, None::<usize>);
            let (mut live, mut decided, mut noted, mut flag) = (false, false, false, false);
            let mut newest = "";
            let mut rounds: Vec<i64> = Vec::new();
            while j < rows.len() && rows[j].item == item && rows[j].who == who {
                let r = &rows[j];
                j += 1;
                if undone.contains(&r.id) {
                    continue;
                }
                live = true;
                noted |= r.noted;
                if let Some(round) = r.round {
                    rounds.push(round);
                }
                match r.kind.as_str() {
                    "resolve" => {
                        newest_resolve = Some(j - 1);
                        continue;
                    }
                    "label" => newest_label = Some(j - 1),
                    "flag" => flag = true,
                    "unflag" => flag = false,
                    _ => {}
                }
                if r.revisit && !matches!(r.kind.as_str(), "flag" | "unflag") {
                    flag = false;
                }
                if r.kind != "unflag" {
                    newest = r.kind.as_str();
                }
                decided = true;
            }
            i = j;
            if !live {
                continue;
            }
            let in_force = |k: Option<usize>| -> Option<String> {
                let r = &rows[k?];
                let given = r.label.clone()?;
                match map.get(&(r.label_set, given.clone())) {
                    None => Some(given),
                    Some(now) => now.clone(),
                }
            };
            let s = out.entry(item).or_default();
            s.noted |= noted;
            for r in rounds {
                if !s.rounds.contains(&r) {
                    s.rounds.push(r);
                }
            }
            if let Some(l) = in_force(newest_label) {
                s.labels.insert(who.to_string(), l);
            }
            if let Some(l) = in_force(newest_resolve) {
                s.labels.insert(RESOLVED.to_string(), l);
            }
            if decided {
                s.annotators.push(who.to_string());
            }
            if flag {
                s.flagged_by.push(who.to_string());
            }
            if newest == "skip" {
                s.skipped_by.push(who.to_string());
            }
        }
        let mut st = self
            .conn
            .prepare_cached(&format!("SELECT item, split, stratum FROM splits{}", only("item")))
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([&list], |r| {
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

    /// The model of round `round`, for "the model disagrees" by round.
    fn round_model(&self, round: i64) -> Result<i64> {
        let m: Option<i64> = self
            .conn
            .query_row("SELECT model FROM rounds WHERE id = ?1", [round], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))?
            .flatten();
        m.ok_or_else(|| StoreError::Invalid(format!("round {round} has no model")))
    }

    /// Models that scored exactly `labels` (the current label set), as SQL list text.
    fn models_scoring(&self, labels: &[String]) -> Result<String> {
        let mut st =
            self.conn.prepare_cached("SELECT id, labels FROM models").map_err(|e| self.err(e))?;
        let rows: Vec<(i64, String)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))?;
        let ids: Vec<String> = rows
            .into_iter()
            .filter(|(_, l)| serde_json::from_str::<Vec<String>>(l).ok().as_deref() == Some(labels))
            .map(|(id, _)| id.to_string())
            .collect();
        Ok(ids.join(", "))
    }

    /// Each of `items`' predicted label: under round `round`'s model when given, else the
    /// item's newest prediction by a model that scored `labels` (the current label set). One
    /// query that looks each item up by key: nothing reads every prediction of the pool.
    fn predicted_labels(
        &self,
        labels: &[String],
        round: Option<i64>,
        items: impl Iterator<Item = i64>,
    ) -> Result<HashMap<i64, String>> {
        let ids = match round {
            Some(r) => self.round_model(r)?.to_string(),
            None => self.models_scoring(labels)?,
        };
        let items: Vec<i64> = items.collect();
        if ids.is_empty() || items.is_empty() {
            return Ok(HashMap::new());
        }
        // Integers from the store: nothing user-written is spliced into the SQL.
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT p.item, p.label, p.created_at, p.model FROM json_each(?1) j
                 JOIN predictions p ON p.item = j.value AND p.model IN ({ids})"
            ))
            .map_err(|e| self.err(e))?;
        let list = serde_json::to_string(&items).expect("integers serialise");
        let mut newest: HashMap<i64, (String, i64, String)> = HashMap::new();
        let rows = st
            .query_map([list], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get(3)?))
            })
            .map_err(|e| self.err(e))?;
        for row in rows {
            let (item, label, at, model) = row.map_err(|e| self.err(e))?;
            match newest.get(&item) {
                Some((t, m, _)) if (t.as_str(), *m) >= (at.as_str(), model) => {}
                _ => {
                    newest.insert(item, (at, model, label));
                }
            }
        }
        Ok(newest.into_iter().map(|(k, (_, _, l))| (k, l)).collect())
    }

    /// Of `keys` (items someone decided), those whose text matches the FTS5 query `fq`: searched
    /// in a small index of their texts kept in the connection's temporary database (items are
    /// never changed, so it only ever gains the items decided since), instead of in every match
    /// of the whole pool (a common word matches most of a million items).
    fn decided_matching(&self, q: &str, fq: &str, keys: &[i64]) -> Result<HashSet<i64>> {
        if keys.is_empty() {
            return Ok(HashSet::new());
        }
        // The tokenizer must be the one of `items_fts` (schema v7).
        self.conn
            .execute_batch(
                "CREATE VIRTUAL TABLE IF NOT EXISTS temp.find_docs USING fts5(
                     text, tokenize = 'unicode61 remove_diacritics 2');
                 CREATE TABLE IF NOT EXISTS temp.find_keys (key INTEGER PRIMARY KEY);",
            )
            .map_err(|e| self.err(e))?;
        let list = serde_json::to_string(keys).expect("integers serialise");
        let mut add = self
            .conn
            .prepare_cached(
                "INSERT INTO temp.find_docs (rowid, text)
                 SELECT i.key, i.text FROM json_each(?1) j JOIN items i ON i.key = j.value
                 WHERE NOT EXISTS (SELECT 1 FROM temp.find_keys k WHERE k.key = j.value)",
            )
            .map_err(|e| self.err(e))?;
        if add.execute([&list]).map_err(|e| self.err(e))? > 0 {
            self.conn
                .execute(
                    "INSERT OR IGNORE INTO temp.find_keys (key) SELECT value FROM json_each(?1)",
                    [&list],
                )
                .map_err(|e| self.err(e))?;
        }
        let mut st = self
            .conn
            .prepare_cached("SELECT rowid FROM temp.find_docs WHERE find_docs MATCH ?1")
            .map_err(|e| self.err(e))?;
        let got: rusqlite::Result<HashSet<i64>> =
            st.query_map([fq], |r| r.get::<_, i64>(0)).and_then(|rows| rows.collect());
        got.map_err(|e| search_error(q, e))
    }

    /// How many items there are, kept for the connection while no item is added (items are
    /// never changed or deleted, so the count only moves with the newest key): counting a
    /// million rows on every page of Browse would cost more than the page.
    fn item_count_cached(&self) -> Result<i64> {
        self.conn
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS temp.find_count (upto INTEGER NOT NULL, n INTEGER NOT NULL)",
            )
            .map_err(|e| self.err(e))?;
        let upto: i64 = self
            .conn
            .query_row("SELECT coalesce(max(key), 0) FROM items", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        let kept: Option<i64> = self
            .conn
            .query_row("SELECT n FROM temp.find_count WHERE upto = ?1", [upto], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))?;
        if let Some(n) = kept {
            return Ok(n);
        }
        let n = self.item_count()?;
        self.conn
            .execute_batch("DELETE FROM temp.find_count")
            .and_then(|_| {
                self.conn
                    .execute("INSERT INTO temp.find_count (upto, n) VALUES (?1, ?2)", [upto, n])
            })
            .map_err(|e| self.err(e))?;
        Ok(n)
    }

    /// Find items: `labels` is the current label set (for the predictions shown and "the model
    /// disagrees"). Results are in key order (import order).
    ///
    /// Fast on a large pool: the filters read only the decided items; a text query with
    /// filters searches only their texts ([`Store::decided_matching`]); a text query without
    /// them counts its matches in SQLite and reads only the page's.
    pub fn find(&self, q: &FindQuery, labels: &[String]) -> Result<Found> {
        let text = q.text.as_deref().map(str::trim).filter(|t| !t.is_empty());
        // Every decided item's state when a filter reads them; else only the page's, below.
        let whole = q.needs_decisions() || q.labeled == Some(false);
        let states = if whole { self.item_states()? } else { HashMap::new() };
        let model_label: HashMap<i64, String> = if q.model_disagrees {
            self.predicted_labels(labels, q.model_round, states.keys().copied())?
        } else {
            HashMap::new()
        };
        let keep = |key: i64, s: Option<&ItemState>| -> bool {
            let empty = ItemState::default();
            let s = s.unwrap_or(&empty);
            let labeled = !s.labels.is_empty();
            if let Some(l) = &q.label {
                // A label set (multi-label projects) matches when it contains the label.
                let has = |v: &String| {
                    v == l || crate::multilabel::decode(v).is_some_and(|set| set.contains(l))
                };
                if !s.labels.values().any(has) {
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
        // Items the filters leave out of the whole pool (unlabeled: the labeled ones).
        let excluded: HashSet<i64> = if q.labeled == Some(false) {
            states.iter().filter(|(k, s)| !keep(**k, Some(s))).map(|(k, _)| *k).collect()
        } else {
            HashSet::new()
        };
        let mut keys: Vec<i64>;
        let total: usize;
        match text {
            Some(t) => {
                let fq = fts_query(t);
                // Items a text query reaches besides their text: a note, the id itself.
                let mut extra: Vec<i64> = Vec::new();
                let words = plain_words(t);
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
                extra.sort_unstable();
                extra.dedup();
                if q.needs_decisions() {
                    // Only decided items can pass: search their texts alone.
                    let mut cands: Vec<i64> =
                        states.keys().copied().filter(|k| keep(*k, states.get(k))).collect();
                    cands.sort_unstable();
                    let hit = self.decided_matching(t, &fq, &cands)?;
                    keys = cands
                        .into_iter()
                        .filter(|k| hit.contains(k) || extra.binary_search(k).is_ok())
                        .collect();
                    total = keys.len();
                    keys = keys.into_iter().skip(q.offset).take(q.limit).collect();
                } else {
                    // Every match of the pool, less the excluded: counted by SQLite, and the
                    // page read in key order from the index.
                    let matches: i64 = self
                        .conn
                        .prepare_cached("SELECT count(*) FROM items_fts WHERE items_fts MATCH ?1")
                        .and_then(|mut st| st.query_row([&fq], |r| r.get(0)))
                        .map_err(|e| search_error(t, e))?;
                    // Which of the excluded and the extras (a few thousand at most) match by
                    // their text.
                    let mut few: Vec<i64> = excluded.iter().copied().collect();
                    few.extend(&extra);
                    few.sort_unstable();
                    few.dedup();
                    let few_hits = self.decided_matching(t, &fq, &few)?;
                    let excluded_hits = excluded.iter().filter(|k| few_hits.contains(k)).count();
                    // Extras not already matched by their text (and not excluded).
                    let more: Vec<i64> = extra
                        .iter()
                        .copied()
                        .filter(|k| !excluded.contains(k) && !few_hits.contains(k))
                        .collect();
                    total = matches as usize - excluded_hits + more.len();
                    keys = Vec::new();
                    if q.limit > 0 {
                        let mut st = self
                            .conn
                            .prepare_cached(
                                "SELECT rowid FROM items_fts WHERE items_fts MATCH ?1 ORDER BY rowid",
                            )
                            .map_err(|e| self.err(e))?;
                        let mut rows = st.query([&fq]).map_err(|e| search_error(t, e))?;
                        let mut pending = more.iter().copied().peekable();
                        let mut skipped = 0usize;
                        let mut push = |k: i64, keys: &mut Vec<i64>| {
                            if skipped < q.offset {
                                skipped += 1;
                            } else {
                                keys.push(k);
                            }
                        };
                        while keys.len() < q.limit {
                            let next = rows.next().map_err(|e| search_error(t, e))?;
                            let k = match next {
                                Some(r) => Some(r.get::<_, i64>(0).map_err(|e| self.err(e))?),
                                None => None,
                            };
                            // Extras before this match (or all that are left, at the end).
                            while keys.len() < q.limit
                                && pending.peek().is_some_and(|p| k.is_none_or(|k| *p < k))
                            {
                                let p = pending.next().expect("peeked");
                                push(p, &mut keys);
                            }
                            let Some(k) = k else { break };
                            if keys.len() < q.limit && !excluded.contains(&k) {
                                push(k, &mut keys);
                            }
                        }
                    }
                }
            }
            None if q.needs_decisions() => {
                keys = states.keys().copied().filter(|k| keep(*k, states.get(k))).collect();
                keys.sort_unstable();
                total = keys.len();
                keys = keys.into_iter().skip(q.offset).take(q.limit).collect();
            }
            None => {
                // Every item, or every unlabeled one: page through the items table.
                let all = self.item_count_cached()? as usize;
                total = all - excluded.len();
                keys = Vec::new();
                let mut skipped = 0usize;
                let mut after = i64::MIN;
                'page: while keys.len() < q.limit {
                    let mut st = self
                        .conn
                        .prepare_cached(
                            "SELECT key FROM items WHERE key > ?1 ORDER BY key LIMIT 1000",
                        )
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
        }
        let preds = if keys.is_empty() {
            HashMap::new()
        } else {
            self.predicted_labels(labels, None, keys.iter().copied())?
        };
        let states = if whole { states } else { self.states_of(Some(&keys))? };
        let mut rows = Vec::with_capacity(keys.len());
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
                    probs: p.probs.clone(),
                })
            }
        };
        Ok(Some(ItemHistory { item, state, events, prediction_now }))
    }

    /// One item's decisions in force.
    pub fn item_state(&self, key: i64) -> Result<ItemState> {
        Ok(self.states_of(Some(&[key]))?.remove(&key).unwrap_or_default())
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
