//! Built sets (LIMO, BETR, self-training): each build is one row with its parameters and
//! report, its entries in order with the reasons each was chosen, and the experts' vetoes.
//! A set is written in one transaction, so an interrupted build leaves nothing behind; it
//! never changes afterwards — an expert vetoes (or restores) entries, as append-only events.

use rusqlite::params;
use serde_json::Value;

use super::{now, Result, Store, StoreError};

/// The kinds of set hifi builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SelectionKind {
    Limo,
    Betr,
    SelfTrain,
}

impl SelectionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SelectionKind::Limo => "limo",
            SelectionKind::Betr => "betr",
            SelectionKind::SelfTrain => "self-train",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [SelectionKind::Limo, SelectionKind::Betr, SelectionKind::SelfTrain]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// One entry of a set being saved.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSelectionEntry {
    pub item: i64,
    /// The chosen response or kept sample; `None` for document selections.
    pub response: Option<String>,
    pub score: Option<f64>,
    /// Why it was chosen (a JSON object).
    pub reasons: Value,
}

/// A saved set.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Selection {
    pub id: i64,
    pub kind: SelectionKind,
    pub params: Value,
    pub report: Value,
    pub created_at: String,
    pub entries: usize,
    pub vetoed: usize,
}

/// One entry of a saved set, with its item and whether it is currently vetoed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SelectionEntry {
    pub rank: usize,
    pub item: i64,
    pub item_id: String,
    pub text: String,
    /// The item's other imported fields (JSON), if any.
    pub meta: Option<Value>,
    pub response: Option<String>,
    pub score: Option<f64>,
    pub reasons: Value,
    pub vetoed: bool,
    /// The latest veto's reason, if vetoed.
    pub veto_reason: Option<String>,
}

/// Entries whose newest veto event is a veto (not a restore).
const VETOED: &str = "SELECT v.rank, v.reason FROM selection_vetoes v
     WHERE v.selection = ?1 AND v.kind = 'veto'
       AND v.id = (SELECT max(w.id) FROM selection_vetoes w WHERE w.selection = v.selection AND w.rank = v.rank)";

impl Store {
    /// Save a built set; returns its id.
    pub fn save_selection(
        &mut self,
        kind: SelectionKind,
        params: &Value,
        report: &Value,
        entries: &[NewSelectionEntry],
    ) -> Result<i64> {
        self.write(|tx| insert_selection(tx, kind, params, report, entries))
    }

    /// [`Store::save_selection`], and in the same transaction `candidates` as new candidate
    /// responses of their items, each origin given `"selection": id` (a text the item already
    /// has as a candidate is not added again).
    pub fn save_selection_with_candidates(
        &mut self,
        kind: SelectionKind,
        params: &Value,
        report: &Value,
        entries: &[NewSelectionEntry],
        candidates: &[(i64, super::NewResponse)],
    ) -> Result<i64> {
        self.write(|tx| {
            let id = insert_selection(tx, kind, params, report, entries)?;
            for (item, r) in candidates {
                let known: bool = tx.query_row(
                    "SELECT EXISTS(SELECT 1 FROM responses WHERE item = ?1 AND text = ?2)",
                    params![item, r.text],
                    |row| row.get(0),
                )?;
                if known {
                    continue;
                }
                let mut r = r.clone();
                let mut origin = r.origin.take().unwrap_or_else(|| serde_json::json!({}));
                origin["selection"] = id.into();
                r.origin = Some(origin);
                super::responses::insert_originals(tx, *item, std::slice::from_ref(&r))?;
            }
            Ok(id)
        })
    }

    /// Every saved set, oldest first.
    pub fn selections(&self) -> Result<Vec<Selection>> {
        let ids: Vec<i64> = {
            let mut st = self
                .conn
                .prepare("SELECT id FROM selections ORDER BY id")
                .map_err(|e| self.err(e))?;
            let rows = st.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
            rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))?
        };
        ids.into_iter().filter_map(|id| self.selection(id).transpose()).collect()
    }

    /// The newest set (of `kind`, when given).
    pub fn latest_selection(&self, kind: Option<SelectionKind>) -> Result<Option<Selection>> {
        let id: Option<i64> = self
            .conn
            .query_row(
                "SELECT max(id) FROM selections WHERE ?1 IS NULL OR kind = ?1",
                [kind.map(SelectionKind::as_str)],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        id.map_or(Ok(None), |id| self.selection(id))
    }

    /// Set `id`, if it exists.
    pub fn selection(&self, id: i64) -> Result<Option<Selection>> {
        let row = self.conn.query_row(
            "SELECT kind, params, report, created_at, (SELECT count(*) FROM selection_items WHERE selection = ?1)
             FROM selections WHERE id = ?1",
            [id],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?, r.get::<_, i64>(4)?)),
        );
        let (kind, params, report, created_at, entries) = match row {
            Ok(v) => v,
            Err(rusqlite::Error::QueryReturnedNoRows) => return Ok(None),
            Err(e) => return Err(self.err(e)),
        };
        let kind = SelectionKind::parse(&kind).ok_or_else(|| {
            StoreError::Invalid(format!("selection {id} has an unknown kind {kind:?}"))
        })?;
        let vetoed = self.vetoed_ranks(id)?.len();
        Ok(Some(Selection {
            id,
            kind,
            params: serde_json::from_str(&params).unwrap_or(Value::Null),
            report: serde_json::from_str(&report).unwrap_or(Value::Null),
            created_at,
            entries: entries as usize,
            vetoed,
        }))
    }

    /// The entries of set `id` in order, with their items and veto state.
    pub fn selection_entries(&self, id: i64) -> Result<Vec<SelectionEntry>> {
        let vetoed = self.vetoed_ranks(id)?;
        let mut st = self
            .conn
            .prepare(
                "SELECT s.rank, s.item, i.id, i.text, s.response, s.score, s.reasons, i.meta
                 FROM selection_items s JOIN items i ON i.key = s.item WHERE s.selection = ?1 ORDER BY s.rank",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([id], |r| {
                let rank = r.get::<_, i64>(0)? as usize;
                let reasons: String = r.get(6)?;
                let meta: Option<String> = r.get(7)?;
                let veto = vetoed.get(&rank);
                Ok(SelectionEntry {
                    rank,
                    item: r.get(1)?,
                    item_id: r.get(2)?,
                    text: r.get(3)?,
                    meta: meta.and_then(|m| serde_json::from_str(&m).ok()),
                    response: r.get(4)?,
                    score: r.get(5)?,
                    reasons: serde_json::from_str(&reasons).unwrap_or(Value::Null),
                    vetoed: veto.is_some(),
                    veto_reason: veto.cloned().flatten(),
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    /// Veto entry `rank` of set `id` (or, with `restore`, take a veto back).
    pub fn veto(
        &mut self,
        id: i64,
        rank: usize,
        annotator: &str,
        reason: Option<&str>,
        restore: bool,
    ) -> Result<()> {
        let exists: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM selection_items WHERE selection = ?1 AND rank = ?2",
                params![id, rank as i64],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        if exists == 0 {
            return Err(StoreError::Invalid(format!("set {id} has no entry {rank}")));
        }
        let kind = if restore { "restore" } else { "veto" };
        self.write(|tx| {
            tx.execute(
                "INSERT INTO selection_vetoes (selection, rank, annotator, kind, reason, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, rank as i64, annotator, kind, reason, now()],
            )?;
            Ok(())
        })
    }

    fn vetoed_ranks(&self, id: i64) -> Result<std::collections::HashMap<usize, Option<String>>> {
        let mut st = self.conn.prepare_cached(VETOED).map_err(|e| self.err(e))?;
        let rows = st
            .query_map([id], |r| Ok((r.get::<_, i64>(0)? as usize, r.get::<_, Option<String>>(1)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }
}

fn insert_selection(
    tx: &rusqlite::Transaction,
    kind: SelectionKind,
    params: &Value,
    report: &Value,
    entries: &[NewSelectionEntry],
) -> Result<i64> {
    tx.execute(
        "INSERT INTO selections (kind, params, report, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![kind.as_str(), params.to_string(), report.to_string(), now()],
    )?;
    let id = tx.last_insert_rowid();
    let mut st = tx.prepare_cached(
        "INSERT INTO selection_items (selection, rank, item, response, score, reasons) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (rank, e) in entries.iter().enumerate() {
        st.execute(params![id, rank as i64, e.item, e.response, e.score, e.reasons.to_string()])?;
    }
    Ok(id)
}
