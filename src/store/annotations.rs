//! Append-only annotations: labels, skips, flags, adjudications, and undo/redo as new events.
//!
//! The TUI, `hifi label` and label imports all write through [`Store::annotate`], [`Store::undo`]
//! and [`Store::redo`]: one path, each call one durable transaction.

use std::collections::HashSet;

use rusqlite::{params, OptionalExtension, Row, Transaction};
use serde_json::Value;

use super::{now, Result, Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnotationKind {
    /// An expert's label for an item.
    Label,
    /// Supersedes an earlier event.
    Undo,
    /// Looked at, no decision.
    Skip,
    /// Unsure: needs a second look (may carry a tentative label).
    Flag,
    /// Withdraws the annotator's flag on the item.
    Unflag,
    /// An adjudicator's resolution of a disagreement.
    Resolve,
}

impl AnnotationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Label => "label",
            Self::Undo => "undo",
            Self::Skip => "skip",
            Self::Flag => "flag",
            Self::Unflag => "unflag",
            Self::Resolve => "resolve",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "label" => Self::Label,
            "undo" => Self::Undo,
            "skip" => Self::Skip,
            "flag" => Self::Flag,
            "unflag" => Self::Unflag,
            "resolve" => Self::Resolve,
            _ => return None,
        })
    }
}

/// A decision about to be recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    pub item: i64,
    pub annotator: String,
    pub kind: AnnotationKind,
    pub label: Option<String>,
    pub note: Option<String>,
    /// Whether the model's suggestion (predicted label, probabilities) was visible when the
    /// decision was made: `Some(false)` blind, `Some(true)` shown, `None` not known (imports
    /// that do not say). Blind labels are what eval agreement can trust.
    pub suggestion: Option<bool>,
}

/// Where a decision was made and what it revises, recorded with it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Provenance {
    /// review, browse, cli, import or adjudicate.
    pub origin: Option<String>,
    /// A revisit: the decision (label, flag or skip) of the same annotator it replaces.
    pub revises: Option<i64>,
}

impl Provenance {
    pub fn from(origin: &str) -> Self {
        Self { origin: Some(origin.to_string()), revises: None }
    }
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelEvent {
    pub id: i64,
    pub item: i64,
    pub annotator: String,
    pub kind: AnnotationKind,
    pub label: Option<String>,
    pub note: Option<String>,
    pub supersedes: Option<i64>,
    pub prediction: Option<String>,
    pub round: Option<i64>,
    pub created_at: String,
    /// See [`Annotation::suggestion`].
    pub suggestion: Option<bool>,
    /// The label-set version it was given under (events before versions were kept: 1).
    pub label_set: i64,
    /// The guidelines version in force when it was given, if there were guidelines.
    pub guidelines: Option<i64>,
    pub provenance: Provenance,
}

pub(crate) const EVENT_COLS: &str =
    "id, item, annotator, kind, label, note, supersedes, prediction, round, created_at, suggestion, coalesce(label_set, 1), guidelines, origin, revises";

pub(crate) fn event_from_row(r: &Row) -> rusqlite::Result<LabelEvent> {
    let kind: String = r.get(3)?;
    Ok(LabelEvent {
        id: r.get(0)?,
        item: r.get(1)?,
        annotator: r.get(2)?,
        kind: AnnotationKind::parse(&kind).unwrap_or(AnnotationKind::Skip),
        label: r.get(4)?,
        note: r.get(5)?,
        supersedes: r.get(6)?,
        prediction: r.get(7)?,
        round: r.get(8)?,
        created_at: r.get(9)?,
        suggestion: r.get(10)?,
        label_set: r.get(11)?,
        guidelines: r.get(12)?,
        provenance: Provenance { origin: r.get(13)?, revises: r.get(14)? },
    })
}

fn insert_event(
    tx: &Transaction,
    a: &Annotation,
    supersedes: Option<i64>,
    prov: &Provenance,
) -> rusqlite::Result<i64> {
    // The model's newest prediction for the item, kept so a label can be audited later.
    let prediction: Option<String> = tx
        .query_row(
            "SELECT json_object('model', m.fingerprint, 'labels', json(m.labels), 'probs', json(p.probs), 'label', p.label)
             FROM predictions p JOIN models m ON m.id = p.model
             WHERE p.item = ?1 ORDER BY p.created_at DESC, m.id DESC LIMIT 1",
            [a.item],
            |r| r.get(0),
        )
        .optional()?;
    let round: Option<i64> = tx.query_row("SELECT max(id) FROM rounds", [], |r| r.get(0))?;
    tx.execute(
        "INSERT INTO annotations (item, annotator, kind, label, note, supersedes, prediction, round, created_at, suggestion,
                                  label_set, guidelines, origin, revises)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,
                 (SELECT max(version) FROM label_set_changes), (SELECT max(version) FROM guidelines), ?11, ?12)",
        params![a.item, a.annotator, a.kind.as_str(), a.label, a.note, supersedes, prediction, round, now(), a.suggestion,
                prov.origin, prov.revises],
    )?;
    Ok(tx.last_insert_rowid())
}

fn validate(a: &Annotation) -> Result<()> {
    if a.annotator.trim().is_empty() {
        return Err(StoreError::Invalid("annotator name is empty".into()));
    }
    match (a.kind, &a.label) {
        (AnnotationKind::Label | AnnotationKind::Resolve, None) => {
            Err(StoreError::Invalid(format!("a {} needs a label", a.kind.as_str())))
        }
        (AnnotationKind::Undo, _) => Err(StoreError::Invalid("use Store::undo to undo".into())),
        _ => Ok(()),
    }
}

impl Store {
    /// Record one decision durably; returns the event id. The item must exist.
    pub fn annotate(&mut self, a: &Annotation) -> Result<i64> {
        self.annotate_from(a, &Provenance::default())
    }

    /// [`Store::annotate`], recording where the decision was made and what it revises. A
    /// revisit must name a decision of the same annotator on the same item.
    pub fn annotate_from(&mut self, a: &Annotation, prov: &Provenance) -> Result<i64> {
        validate(a)?;
        self.write(|tx| {
            let exists: bool =
                tx.query_row("SELECT EXISTS(SELECT 1 FROM items WHERE key = ?1)", [a.item], |r| {
                    r.get(0)
                })?;
            if !exists {
                return Err(StoreError::Invalid(format!("no item with key {}", a.item)));
            }
            if let Some(r) = prov.revises {
                let same: bool = tx.query_row(
                    "SELECT EXISTS(SELECT 1 FROM annotations WHERE id = ?1 AND item = ?2 AND annotator = ?3)",
                    params![r, a.item, a.annotator],
                    |r| r.get(0),
                )?;
                if !same {
                    return Err(StoreError::Invalid(format!(
                        "event {r} is not a decision of {} on this item; a revisit revises the annotator's own",
                        a.annotator
                    )));
                }
            }
            Ok(insert_event(tx, a, None, prov)?)
        })
    }

    /// Record many decisions in one transaction (label imports): all or none.
    pub fn annotate_all(&mut self, all: &[Annotation]) -> Result<usize> {
        for a in all {
            validate(a)?;
        }
        let prov = Provenance::from("import");
        self.write(|tx| {
            for a in all {
                insert_event(tx, a, None, &prov)?;
            }
            Ok(all.len())
        })
    }

    /// Undo `annotator`'s newest decision that is still in force. Returns the undone event, or
    /// `None` when there is nothing to undo.
    pub fn undo(&mut self, annotator: &str) -> Result<Option<LabelEvent>> {
        self.write(|tx| {
            let target = tx
                .query_row(
                    &format!(
                        "SELECT {EVENT_COLS} FROM annotations a WHERE annotator = ?1 AND kind != 'undo'
                         AND NOT EXISTS (SELECT 1 FROM annotations u WHERE u.kind = 'undo' AND u.supersedes = a.id)
                         ORDER BY id DESC LIMIT 1"
                    ),
                    [annotator],
                    event_from_row,
                )
                .optional()?;
            let Some(target) = target else { return Ok(None) };
            tx.execute(
                "INSERT INTO annotations (item, annotator, kind, supersedes, created_at) VALUES (?1, ?2, 'undo', ?3, ?4)",
                params![target.item, annotator, target.id, now()],
            )?;
            Ok(Some(target))
        })
    }

    /// Redo the newest undo of `annotator` that has not been redone, provided no fresh decision
    /// came after it (a new decision clears the redo stack, as in any editor). Returns the
    /// re-applied event.
    pub fn redo(&mut self, annotator: &str) -> Result<Option<LabelEvent>> {
        self.write(|tx| {
            let mut st = tx.prepare(&format!(
                "SELECT {EVENT_COLS} FROM annotations WHERE annotator = ?1 ORDER BY id DESC"
            ))?;
            let mut rows = st.query([annotator])?;
            let mut redone = Vec::new();
            let mut pick = None;
            while let Some(r) = rows.next()? {
                let e = event_from_row(r)?;
                match (e.kind, e.supersedes) {
                    (AnnotationKind::Undo, _) if !redone.contains(&e.id) => {
                        pick = Some(e);
                        break;
                    }
                    (AnnotationKind::Undo, _) => {}
                    (_, Some(undo_id)) => redone.push(undo_id), // a redo: its undo is used up
                    (_, None) => break,                         // a fresh decision
                }
            }
            drop(rows);
            drop(st);
            let Some(undo) = pick else { return Ok(None) };
            let Some(orig_id) = undo.supersedes else { return Ok(None) };
            let orig = tx.query_row(
                &format!("SELECT {EVENT_COLS} FROM annotations WHERE id = ?1"),
                [orig_id],
                event_from_row,
            )?;
            let again = Annotation {
                item: orig.item,
                annotator: orig.annotator.clone(),
                kind: orig.kind,
                label: orig.label.clone(),
                note: orig.note.clone(),
                suggestion: orig.suggestion,
            };
            let id = insert_event(tx, &again, Some(undo.id), &orig.provenance)?;
            let e = tx.query_row(
                &format!("SELECT {EVENT_COLS} FROM annotations WHERE id = ?1"),
                [id],
                event_from_row,
            )?;
            Ok(Some(e))
        })
    }

    /// Every event, oldest first (for audits and exports).
    pub fn events(&self) -> Result<Vec<LabelEvent>> {
        let mut st = self
            .conn
            .prepare(&format!("SELECT {EVENT_COLS} FROM annotations ORDER BY id"))
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([], event_from_row).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    /// The label `annotator` currently gives `item`, if any.
    pub fn current_label(&self, item: i64, annotator: &str) -> Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT label FROM current_labels WHERE item = ?1 AND annotator = ?2 AND kind = 'label'",
                params![item, annotator],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// All labels in force: (item key, annotator, label), by item.
    pub fn current_labels(&self) -> Result<Vec<(i64, String, String)>> {
        let mut st = self
            .conn
            .prepare("SELECT item, annotator, label FROM current_labels WHERE kind = 'label' ORDER BY item, annotator")
            .map_err(|e| self.err(e))?;
        let rows =
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    /// All labels in force with whether the model's suggestion was visible when each was given:
    /// (item key, annotator, label, suggestion), by item.
    #[allow(clippy::type_complexity)]
    pub fn current_labels_seen(&self) -> Result<Vec<(i64, String, String, Option<bool>)>> {
        let mut st = self
            .conn
            .prepare("SELECT item, annotator, label, suggestion FROM current_labels WHERE kind = 'label' ORDER BY item, annotator")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    /// The label each expert-labeled item ends up with: an adjudicator's resolution when there
    /// is one, else the annotators' label when they all agree. Items whose annotators disagree
    /// and that have no resolution are returned separately (they need adjudication).
    #[allow(clippy::type_complexity)]
    pub fn resolved_labels(&self) -> Result<(Vec<(i64, String)>, Vec<i64>)> {
        let mut st = self
            .conn
            .prepare("SELECT item, kind, label FROM current_labels ORDER BY item, kind DESC, id")
            .map_err(|e| self.err(e))?;
        let rows: Vec<(i64, String, String)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))?;
        let mut resolved = Vec::new();
        let mut conflicts = Vec::new();
        let mut i = 0;
        while i < rows.len() {
            let item = rows[i].0;
            let mut j = i;
            while j < rows.len() && rows[j].0 == item {
                j += 1;
            }
            let group = &rows[i..j];
            if let Some(r) = group.iter().rfind(|r| r.1 == "resolve") {
                resolved.push((item, r.2.clone()));
            } else if group.iter().all(|r| r.2 == group[0].2) {
                resolved.push((item, group[0].2.clone()));
            } else {
                conflicts.push(item);
            }
            i = j;
        }
        Ok((resolved, conflicts))
    }
}

/// One annotation event as exported.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AuditEvent {
    /// The event's id (events are numbered in the order they were recorded).
    pub event: i64,
    pub item_id: String,
    pub annotator: String,
    /// label, undo, skip, flag or resolve.
    pub kind: String,
    pub label: Option<String>,
    pub note: Option<String>,
    /// When it was recorded (RFC 3339, UTC).
    pub time: String,
    /// The item's split now (`None`: not split yet, e.g. unlabeled or disputed).
    pub split: Option<String>,
    /// The training round in force when it was recorded.
    pub round: Option<i64>,
    /// The event an undo (or a redo) refers to.
    pub supersedes: Option<i64>,
    /// True for a label or resolution still in force (not undone, not replaced since).
    pub current: bool,
    /// The model's newest prediction for the item when the event was recorded:
    /// `{model, labels, probs, label}`.
    pub prediction: Option<Value>,
    /// Whether the model's suggestion was on screen: "shown", "blind", or `None` (not
    /// recorded: imports without `--blind`, events before hifi recorded it).
    pub suggestion: Option<String>,
    /// The item's stratum once split: "boundary" (mined) or "audit" (random draw, always eval).
    pub stratum: Option<String>,
    /// The label-set version the label was given under (`hifi labels history`); `label` is
    /// the name in that version.
    pub label_set: i64,
    /// The guidelines version in force when it was recorded (`None`: no guidelines yet).
    pub guidelines: Option<i64>,
    /// Where it was recorded: review, browse, cli, import, adjudicate (`None`: before hifi
    /// recorded it).
    pub origin: Option<String>,
    /// A revisit: the earlier decision of the same annotator it replaces.
    pub revises: Option<i64>,
}

impl Store {
    /// Every annotation event, oldest first, with its item's id and split and whether it is
    /// still in force; only `annotator`'s when given.
    pub fn audit_events(&self, annotator: Option<&str>) -> Result<Vec<AuditEvent>> {
        let mut st = self.conn.prepare("SELECT id FROM current_labels").map_err(|e| self.err(e))?;
        let current: HashSet<i64> = st
            .query_map([], |r| r.get(0))
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))?;
        let mut st = self
            .conn
            .prepare(
                "SELECT a.id, i.id, a.annotator, a.kind, a.label, a.note, a.created_at, s.split, a.round, a.supersedes, a.prediction, a.suggestion, s.stratum,
                        coalesce(a.label_set, 1), a.guidelines, a.origin, a.revises
                 FROM annotations a JOIN items i ON i.key = a.item LEFT JOIN splits s ON s.item = a.item
                 WHERE ?1 IS NULL OR a.annotator = ?1 ORDER BY a.id",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([annotator], |r| {
                let id: i64 = r.get(0)?;
                let prediction: Option<String> = r.get(10)?;
                Ok(AuditEvent {
                    event: id,
                    item_id: r.get(1)?,
                    annotator: r.get(2)?,
                    kind: r.get(3)?,
                    label: r.get(4)?,
                    note: r.get(5)?,
                    time: r.get(6)?,
                    split: r.get(7)?,
                    round: r.get(8)?,
                    supersedes: r.get(9)?,
                    current: current.contains(&id),
                    // Written by hifi as JSON; kept as text if it ever is not.
                    prediction: prediction
                        .map(|p| serde_json::from_str(&p).unwrap_or(Value::String(p))),
                    suggestion: r
                        .get::<_, Option<bool>>(11)?
                        .map(|s| if s { "shown" } else { "blind" }.to_string()),
                    stratum: r.get(12)?,
                    label_set: r.get(13)?,
                    guidelines: r.get(14)?,
                    origin: r.get(15)?,
                    revises: r.get(16)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }
}
