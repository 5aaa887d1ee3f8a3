//! Candidate responses, their revisions, and judgements of them (docs/responses.md).
//!
//! A candidate is an original response of an item (imported, sampled by a set build, or written
//! by an expert) and keeps its number (from 1) through its revisions. An edit is a new revision
//! naming its parent; nothing is overwritten. Judgements (accept, reject, edit, prefer, score)
//! are append-only events like labels; an undo is a new event naming the one it supersedes.
//! Every write goes through [`Store::judge_response`] and [`Store::undo_response`].

use std::collections::HashSet;

use rusqlite::{params, OptionalExtension, Row, Transaction};
use serde::Serialize;
use serde_json::Value;

use super::{now, Result, Store, StoreError};

/// A candidate response about to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewResponse {
    pub text: String,
    /// Where it came from: "import", "limo", "self-train", "expert", …
    pub source: String,
    /// Details of where (file and line, model, set, sampling), as JSON.
    pub origin: Option<Value>,
}

/// One stored revision of a candidate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Revision {
    pub id: i64,
    pub item: i64,
    /// The candidate's number in its item (from 1), shared by all its revisions.
    pub number: i64,
    /// The revision this one edits; `None` for an original.
    pub parent: Option<i64>,
    pub text: String,
    pub source: String,
    pub origin: Option<Value>,
    /// Who wrote it (revisions).
    pub annotator: Option<String>,
    pub created_at: String,
    /// False for a revision whose edit was undone.
    pub live: bool,
}

/// What a response event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResponseKind {
    Accept,
    Reject,
    Edit,
    Prefer,
    Score,
    Undo,
}

impl ResponseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accept => "accept",
            Self::Reject => "reject",
            Self::Edit => "edit",
            Self::Prefer => "prefer",
            Self::Score => "score",
            Self::Undo => "undo",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "accept" => Self::Accept,
            "reject" => Self::Reject,
            "edit" => Self::Edit,
            "prefer" => Self::Prefer,
            "score" => Self::Score,
            "undo" => Self::Undo,
            _ => return None,
        })
    }
}

/// A preference between two candidates, read as "the first named is better", "they are as
/// good as each other", or "neither is good".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Better,
    Tie,
    BothBad,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Better => "better",
            Self::Tie => "tie",
            Self::BothBad => "both-bad",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "better" => Self::Better,
            "tie" => Self::Tie,
            "both-bad" => Self::BothBad,
            _ => return None,
        })
    }
}

/// A judgement about to be recorded. Candidates are named by number; each acts on the
/// candidate's newest revision in force when it is recorded.
#[derive(Debug, Clone, PartialEq)]
pub enum Judgement {
    Accept {
        number: i64,
    },
    Reject {
        number: i64,
        reason: Option<String>,
    },
    /// A quality score, 1–5.
    Score {
        number: i64,
        score: u8,
    },
    /// A new revision of the candidate with this text.
    Edit {
        number: i64,
        text: String,
    },
    /// `first` better than `second` (or a tie, or both bad).
    Prefer {
        first: i64,
        second: i64,
        verdict: Verdict,
    },
}

/// A judgement with who gave it and what was on screen.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseJudgement {
    pub item: i64,
    pub annotator: String,
    pub judgement: Judgement,
    /// What was on screen (mode, which candidate was left and right, …), as JSON.
    pub shown: Option<Value>,
}

/// A recorded response event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseEvent {
    pub id: i64,
    pub item: i64,
    pub annotator: String,
    pub kind: ResponseKind,
    /// The revision judged (an edit: the revision it made; a preference: the first named).
    pub response: Option<i64>,
    /// A preference: the second named revision.
    pub other: Option<i64>,
    pub verdict: Option<Verdict>,
    pub score: Option<u8>,
    pub reason: Option<String>,
    pub shown: Option<Value>,
    pub supersedes: Option<i64>,
    pub created_at: String,
}

const EVENT_COLS: &str =
    "id, item, annotator, kind, response, other, verdict, score, reason, shown, supersedes, created_at";

fn event_from_row(r: &Row) -> rusqlite::Result<ResponseEvent> {
    let kind: String = r.get(3)?;
    let verdict: Option<String> = r.get(6)?;
    let shown: Option<String> = r.get(9)?;
    Ok(ResponseEvent {
        id: r.get(0)?,
        item: r.get(1)?,
        annotator: r.get(2)?,
        kind: ResponseKind::parse(&kind).unwrap_or(ResponseKind::Undo),
        response: r.get(4)?,
        other: r.get(5)?,
        verdict: verdict.as_deref().and_then(Verdict::parse),
        score: r.get::<_, Option<i64>>(7)?.map(|s| s.clamp(0, 255) as u8),
        reason: r.get(8)?,
        shown: shown.map(|s| serde_json::from_str(&s).unwrap_or(Value::String(s))),
        supersedes: r.get(10)?,
        created_at: r.get(11)?,
    })
}

const REVISION_COLS: &str = "id, item, number, parent, text, source, origin, annotator, created_at";

fn revision_from_row(r: &Row) -> rusqlite::Result<Revision> {
    let origin: Option<String> = r.get(6)?;
    Ok(Revision {
        id: r.get(0)?,
        item: r.get(1)?,
        number: r.get(2)?,
        parent: r.get(3)?,
        text: r.get(4)?,
        source: r.get(5)?,
        origin: origin.map(|s| serde_json::from_str(&s).unwrap_or(Value::String(s))),
        annotator: r.get(7)?,
        created_at: r.get(8)?,
        live: true,
    })
}

/// Insert `responses` as the next originals of `item`; returns their numbers.
pub(super) fn insert_originals(
    tx: &Transaction,
    item: i64,
    responses: &[NewResponse],
) -> rusqlite::Result<Vec<i64>> {
    let first: i64 = tx.query_row(
        "SELECT coalesce(max(number), 0) + 1 FROM responses WHERE item = ?1",
        [item],
        |r| r.get(0),
    )?;
    let mut st = tx.prepare_cached(
        "INSERT INTO responses (item, number, parent, text, source, origin, annotator, created_at)
         VALUES (?1, ?2, NULL, ?3, ?4, ?5, NULL, ?6)",
    )?;
    let at = now();
    let mut numbers = Vec::with_capacity(responses.len());
    for (next, r) in (first..).zip(responses) {
        st.execute(params![
            item,
            next,
            r.text,
            r.source,
            r.origin.as_ref().map(Value::to_string),
            at
        ])?;
        numbers.push(next);
    }
    Ok(numbers)
}

/// Ids of edit events that an undo supersedes, and of revisions made by them.
fn dead_revisions(tx: &rusqlite::Connection, item: i64) -> rusqlite::Result<HashSet<i64>> {
    let mut st = tx.prepare_cached(
        "SELECT e.response FROM response_events e
         WHERE e.item = ?1 AND e.kind = 'edit'
           AND EXISTS (SELECT 1 FROM response_events u WHERE u.kind = 'undo' AND u.supersedes = e.id)",
    )?;
    let rows = st.query_map([item], |r| r.get::<_, i64>(0))?;
    rows.collect()
}

fn revisions_of(conn: &rusqlite::Connection, item: i64) -> rusqlite::Result<Vec<Revision>> {
    let dead = dead_revisions(conn, item)?;
    let mut st = conn.prepare_cached(&format!(
        "SELECT {REVISION_COLS} FROM responses WHERE item = ?1 ORDER BY number, id"
    ))?;
    let rows = st.query_map([item], revision_from_row)?;
    let mut out: Vec<Revision> = rows.collect::<rusqlite::Result<_>>()?;
    for r in &mut out {
        r.live = !dead.contains(&r.id);
    }
    Ok(out)
}

/// The newest revision in force of candidate `number`.
fn newest(revisions: &[Revision], number: i64) -> Option<&Revision> {
    revisions.iter().filter(|r| r.number == number && r.live).max_by_key(|r| r.id)
}

fn no_candidate(item: i64, number: i64, revisions: &[Revision]) -> StoreError {
    let n = revisions.iter().map(|r| r.number).max().unwrap_or(0);
    StoreError::Invalid(if n == 0 {
        format!("item {item} has no candidate responses")
    } else {
        format!("no candidate {number}: this item has candidates 1 to {n}")
    })
}

impl Store {
    /// Add `responses` as new candidates of item `item` (a set build's samples, an expert's
    /// own answer); returns their numbers.
    pub fn add_responses(&mut self, item: i64, responses: &[NewResponse]) -> Result<Vec<i64>> {
        for r in responses {
            if r.text.trim().is_empty() {
                return Err(StoreError::Invalid("a response is empty".into()));
            }
        }
        self.write(|tx| {
            let exists: bool =
                tx.query_row("SELECT EXISTS(SELECT 1 FROM items WHERE key = ?1)", [item], |r| {
                    r.get(0)
                })?;
            if !exists {
                return Err(StoreError::Invalid(format!("no item with key {item}")));
            }
            Ok(insert_originals(tx, item, responses)?)
        })
    }

    /// Every revision of every candidate of `item`, by number then age; `live` false for
    /// revisions whose edit was undone.
    pub fn revisions(&self, item: i64) -> Result<Vec<Revision>> {
        revisions_of(&self.conn, item).map_err(|e| self.err(e))
    }

    /// One revision by id.
    pub fn revision(&self, id: i64) -> Result<Option<Revision>> {
        self.conn
            .query_row(
                &format!("SELECT {REVISION_COLS} FROM responses WHERE id = ?1"),
                [id],
                revision_from_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Keys of the items that have candidate responses, in key order.
    pub fn items_with_responses(&self) -> Result<Vec<i64>> {
        let mut st = self
            .conn
            .prepare("SELECT DISTINCT item FROM responses ORDER BY item")
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    /// How many candidate responses (originals) the project holds.
    pub fn response_count(&self) -> Result<i64> {
        self.count("SELECT count(*) FROM responses WHERE parent IS NULL")
    }

    /// The chat messages before an item's prompt (system message, earlier turns), if any.
    pub fn item_context(&self, item: i64) -> Result<Option<Value>> {
        let ctx: Option<String> = self
            .conn
            .query_row("SELECT context FROM items WHERE key = ?1", [item], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))?
            .flatten();
        Ok(ctx.map(|s| serde_json::from_str(&s).unwrap_or(Value::Null)))
    }

    /// Record one judgement durably; returns the event id.
    pub fn judge_response(&mut self, j: &ResponseJudgement) -> Result<i64> {
        if j.annotator.trim().is_empty() {
            return Err(StoreError::Invalid("annotator name is empty".into()));
        }
        self.write(|tx| {
            let revisions = revisions_of(tx, j.item)?;
            let pick = |number: i64| {
                newest(&revisions, number).ok_or_else(|| no_candidate(j.item, number, &revisions))
            };
            let (kind, response, other, verdict, score, reason) = match &j.judgement {
                Judgement::Accept { number } => {
                    (ResponseKind::Accept, pick(*number)?.id, None, None, None, None)
                }
                Judgement::Reject { number, reason } => {
                    let reason = reason.as_ref().filter(|r| !r.trim().is_empty()).cloned();
                    (ResponseKind::Reject, pick(*number)?.id, None, None, None, reason)
                }
                Judgement::Score { number, score } => {
                    if !(1..=5).contains(score) {
                        return Err(StoreError::Invalid(format!(
                            "a score is 1 to 5, not {score}"
                        )));
                    }
                    (ResponseKind::Score, pick(*number)?.id, None, None, Some(*score), None)
                }
                Judgement::Edit { number, text } => {
                    let parent = pick(*number)?;
                    if text.trim().is_empty() {
                        return Err(StoreError::Invalid(
                            "the edited response is empty; nothing saved".into(),
                        ));
                    }
                    if *text == parent.text {
                        return Err(StoreError::Invalid(
                            "the response is unchanged; nothing saved".into(),
                        ));
                    }
                    tx.execute(
                        "INSERT INTO responses (item, number, parent, text, source, origin, annotator, created_at)
                         VALUES (?1, ?2, ?3, ?4, 'expert', NULL, ?5, ?6)",
                        params![j.item, number, parent.id, text, j.annotator, now()],
                    )?;
                    (ResponseKind::Edit, tx.last_insert_rowid(), None, None, None, None)
                }
                Judgement::Prefer { first, second, verdict } => {
                    if first == second {
                        return Err(StoreError::Invalid(
                            "a preference compares two different candidates".into(),
                        ));
                    }
                    let (a, b) = (pick(*first)?.id, pick(*second)?.id);
                    (ResponseKind::Prefer, a, Some(b), Some(*verdict), None, None)
                }
            };
            tx.execute(
                "INSERT INTO response_events (item, annotator, kind, response, other, verdict, score, reason, shown, supersedes, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, ?10)",
                params![
                    j.item,
                    j.annotator,
                    kind.as_str(),
                    response,
                    other,
                    verdict.map(Verdict::as_str),
                    score.map(i64::from),
                    reason,
                    j.shown.as_ref().map(Value::to_string),
                    now()
                ],
            )?;
            Ok(tx.last_insert_rowid())
        })
    }

    /// Undo `annotator`'s newest response judgement still in force (an undone edit takes its
    /// revision out of force). Returns the undone event, or `None` when there is nothing to undo.
    pub fn undo_response(&mut self, annotator: &str) -> Result<Option<ResponseEvent>> {
        self.write(|tx| {
            let target = tx
                .query_row(
                    &format!(
                        "SELECT {EVENT_COLS} FROM response_events e WHERE annotator = ?1 AND kind != 'undo'
                         AND NOT EXISTS (SELECT 1 FROM response_events u WHERE u.kind = 'undo' AND u.supersedes = e.id)
                         ORDER BY id DESC LIMIT 1"
                    ),
                    [annotator],
                    event_from_row,
                )
                .optional()?;
            let Some(target) = target else { return Ok(None) };
            tx.execute(
                "INSERT INTO response_events (item, annotator, kind, supersedes, created_at) VALUES (?1, ?2, 'undo', ?3, ?4)",
                params![target.item, annotator, target.id, now()],
            )?;
            Ok(Some(target))
        })
    }

    /// Response events, oldest first: of `item` only when given.
    pub fn response_events(&self, item: Option<i64>) -> Result<Vec<ResponseEvent>> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT {EVENT_COLS} FROM response_events WHERE ?1 IS NULL OR item = ?1 ORDER BY id"
            ))
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([item], event_from_row).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    /// Every revision of every item, by item, number and age (`live` as in [`Store::revisions`]).
    pub fn all_revisions(&self) -> Result<Vec<Revision>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT e.response FROM response_events e WHERE e.kind = 'edit'
                 AND EXISTS (SELECT 1 FROM response_events u WHERE u.kind = 'undo' AND u.supersedes = e.id)",
            )
            .map_err(|e| self.err(e))?;
        let dead: HashSet<i64> = st
            .query_map([], |r| r.get(0))
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))?;
        let mut st = self
            .conn
            .prepare(&format!("SELECT {REVISION_COLS} FROM responses ORDER BY item, number, id"))
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([], revision_from_row).map_err(|e| self.err(e))?;
        let mut out: Vec<Revision> =
            rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))?;
        for r in &mut out {
            r.live = !dead.contains(&r.id);
        }
        Ok(out)
    }
}
