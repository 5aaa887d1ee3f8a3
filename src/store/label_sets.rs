//! Label-set versions: the labels change as experts learn (a new category, a better name, two
//! that turned out to be one, one that is never used), and each change is an append-only event.
//!
//! Annotations keep the name they were given under and the version it belonged to;
//! `label_map` (rebuilt here after every change) says what each name of each version is called
//! now, and the `current_labels` view reads labels through it. A retired name maps to nothing:
//! its items are unlabeled again and queued for review.

use rusqlite::{params, OptionalExtension, Transaction};

use super::{now, Result, Store, StoreError};
use crate::config::{validate_labels, LabelDef};

/// A change to the label set.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelChange {
    /// A new label.
    Add { name: String, definition: String },
    /// A new name for a label; its definition stays unless one is given.
    Rename { from: String, to: String, definition: Option<String> },
    /// Several labels become one: `into` may be one of them or a new name (then it needs a
    /// definition, or gets the merged labels' definitions joined).
    Merge { from: Vec<String>, into: String, definition: Option<String> },
    /// A label no longer used: labels given with it are no longer in force, its items are
    /// queued for review again.
    Retire { name: String },
}

/// One version of the label set, and the change that made it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LabelSetVersion {
    pub version: i64,
    /// initial, add, rename, merge, retire, or replace (hifi.toml's labels changed by hand).
    pub kind: String,
    pub labels: Vec<LabelDef>,
    pub from: Vec<String>,
    pub to: Option<String>,
    pub annotator: Option<String>,
    pub created_at: String,
}

impl LabelSetVersion {
    pub fn names(&self) -> Vec<String> {
        self.labels.iter().map(|l| l.name.clone()).collect()
    }

    /// One line saying what the change did.
    pub fn describe(&self) -> String {
        let list = |v: &[String]| v.join(", ");
        match self.kind.as_str() {
            "initial" => format!("initial set: {}", list(&self.names())),
            "add" => format!("added {}", self.to.as_deref().unwrap_or("?")),
            "rename" => {
                format!("renamed {} to {}", list(&self.from), self.to.as_deref().unwrap_or("?"))
            }
            "merge" => {
                format!("merged {} into {}", list(&self.from), self.to.as_deref().unwrap_or("?"))
            }
            "retire" => format!("retired {}", list(&self.from)),
            _ => format!("hifi.toml's labels changed by hand: {}", list(&self.names())),
        }
    }
}

/// What a label-set change did, for the caller to report.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelChangeOutcome {
    pub version: LabelSetVersion,
    /// Labels in force whose name the change altered (renamed, merged, retired).
    pub labels_affected: usize,
    /// Items queued for review again (a retirement).
    pub requeued: usize,
}

/// A decision in `current_labels` whose label in force is ?1, or a label set (multi-label
/// projects) that holds ?1.
const IN_FORCE: &str = "(label = ?1 OR (label LIKE '[%' AND json_valid(label)
    AND EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(label) THEN label ELSE '[]' END) j
                WHERE j.value = ?1)))";

fn version_from_row(r: &rusqlite::Row) -> rusqlite::Result<LabelSetVersion> {
    let labels: String = r.get(2)?;
    let from: String = r.get(3)?;
    Ok(LabelSetVersion {
        version: r.get(0)?,
        kind: r.get(1)?,
        labels: serde_json::from_str(&labels).unwrap_or_default(),
        from: serde_json::from_str(&from).unwrap_or_default(),
        to: r.get(4)?,
        annotator: r.get(5)?,
        created_at: r.get(6)?,
    })
}

const COLS: &str = "version, kind, labels, from_names, to_name, annotator, created_at";

/// The set after `change`, or why it cannot be made.
pub fn apply(
    labels: &[LabelDef],
    change: &LabelChange,
) -> std::result::Result<Vec<LabelDef>, String> {
    let has = |n: &str| labels.iter().any(|l| l.name == n);
    let need = |n: &str| {
        if has(n) {
            Ok(())
        } else {
            Err(format!("there is no label `{n}`; the labels are {}", names(labels).join(", ")))
        }
    };
    let mut out = labels.to_vec();
    match change {
        LabelChange::Add { name, definition } => {
            if has(name) {
                return Err(format!("a label `{name}` already exists"));
            }
            out.push(LabelDef::new(name.clone(), definition.clone()));
        }
        LabelChange::Rename { from, to, definition } => {
            need(from)?;
            if from == to {
                return Err(format!("`{from}` already has that name"));
            }
            if has(to) {
                return Err(format!(
                    "a label `{to}` already exists; to make the two one, use `hifi labels merge {from} {to} --into {to}`"
                ));
            }
            let l = out.iter_mut().find(|l| &l.name == from).expect("checked");
            l.name = to.clone();
            if let Some(d) = definition {
                l.definition = d.clone();
            }
        }
        LabelChange::Merge { from, into, definition } => {
            let mut seen = Vec::new();
            for f in from {
                need(f)?;
                if seen.contains(f) {
                    return Err(format!("`{f}` is named twice"));
                }
                seen.push(f.clone());
            }
            if !from.iter().any(|f| f != into) {
                return Err(format!(
                    "merging `{into}` into itself changes nothing; name at least one other label"
                ));
            }
            let merged_defs: Vec<String> = labels
                .iter()
                .filter(|l| from.contains(&l.name) && !l.definition.trim().is_empty())
                .map(|l| l.definition.trim().to_string())
                .collect();
            let target_exists = has(into);
            let pos = labels.iter().position(|l| from.contains(&l.name) || &l.name == into);
            out.retain(|l| !from.contains(&l.name) || &l.name == into);
            if target_exists {
                if let Some(d) = definition {
                    out.iter_mut().find(|l| &l.name == into).expect("kept").definition = d.clone();
                }
            } else {
                let def = definition.clone().unwrap_or_else(|| merged_defs.join(" "));
                let at = pos.unwrap_or(out.len()).min(out.len());
                out.insert(at, LabelDef::new(into.clone(), def));
            }
        }
        LabelChange::Retire { name } => {
            need(name)?;
            out.retain(|l| &l.name != name);
        }
    }
    validate_labels(&out).map_err(|e| match change {
        LabelChange::Retire { .. } | LabelChange::Merge { .. } if out.len() < 2 => format!(
            "that would leave {} label{}; a task needs at least two (add one first)",
            out.len(),
            if out.len() == 1 { "" } else { "s" }
        ),
        _ => e,
    })?;
    Ok(out)
}

fn names(labels: &[LabelDef]) -> Vec<String> {
    labels.iter().map(|l| l.name.clone()).collect()
}

/// Rebuild `label_map` from every version: for each version and each of its names, the name
/// it has in the newest version (NULL: retired, or dropped by a hand edit).
fn rebuild_map(tx: &Transaction) -> rusqlite::Result<()> {
    let mut st = tx.prepare(&format!("SELECT {COLS} FROM label_set_changes ORDER BY version"))?;
    let versions: Vec<LabelSetVersion> =
        st.query_map([], version_from_row)?.collect::<rusqlite::Result<_>>()?;
    drop(st);
    tx.execute("DELETE FROM label_map", [])?;
    let mut ins = tx.prepare("INSERT INTO label_map (version, label, now) VALUES (?1, ?2, ?3)")?;
    for (i, v) in versions.iter().enumerate() {
        for name in v.names() {
            let mut cur = Some(name.clone());
            for later in &versions[i + 1..] {
                let Some(c) = cur.clone() else { break };
                cur = match later.kind.as_str() {
                    "rename" | "merge" if later.from.contains(&c) => later.to.clone(),
                    "retire" if later.from.contains(&c) => None,
                    "replace" | "initial" if !later.names().contains(&c) => None,
                    _ => Some(c),
                };
            }
            ins.execute(params![v.version, name, cur])?;
        }
    }
    Ok(())
}

fn insert_version(
    tx: &Transaction,
    kind: &str,
    labels: &[LabelDef],
    from: &[String],
    to: Option<&str>,
    annotator: Option<&str>,
) -> rusqlite::Result<i64> {
    tx.execute(
        "INSERT INTO label_set_changes (version, kind, labels, from_names, to_name, annotator, created_at)
         VALUES ((SELECT coalesce(max(version), 0) + 1 FROM label_set_changes), ?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            kind,
            serde_json::to_string(labels).expect("labels serialise"),
            serde_json::to_string(from).expect("names serialise"),
            to,
            annotator,
            now()
        ],
    )?;
    let v = tx.last_insert_rowid();
    rebuild_map(tx)?;
    Ok(v)
}

impl Store {
    /// Every label-set version, oldest first.
    pub fn label_sets(&self) -> Result<Vec<LabelSetVersion>> {
        let mut st = self
            .conn
            .prepare(&format!("SELECT {COLS} FROM label_set_changes ORDER BY version"))
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([], version_from_row).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    /// The newest label-set version, if one was recorded.
    pub fn label_set(&self) -> Result<Option<LabelSetVersion>> {
        self.conn
            .query_row(
                &format!("SELECT {COLS} FROM label_set_changes ORDER BY version DESC LIMIT 1"),
                [],
                version_from_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The newest version whose label names are exactly `names` in this order (the version a
    /// model scored under), if any.
    pub fn label_set_of(&self, names: &[String]) -> Result<Option<i64>> {
        Ok(self.label_sets()?.into_iter().rev().find(|v| v.names() == names).map(|v| v.version))
    }

    /// Record hifi.toml's labels: the first time as version 1; later, when they differ from
    /// the newest version (hifi.toml edited by hand), as a `replace` version in which names
    /// that remain keep their labels and names that went are no longer in force. Returns the
    /// version in force and whether one was recorded now.
    pub fn sync_label_set(&mut self, labels: &[LabelDef]) -> Result<(i64, bool)> {
        if let Some(v) = self.label_set()? {
            if v.labels == labels {
                return Ok((v.version, false));
            }
        }
        self.write(|tx| {
            let newest: Option<String> = tx
                .query_row(
                    "SELECT labels FROM label_set_changes ORDER BY version DESC LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            let kind = match &newest {
                None => "initial",
                Some(l)
                    if serde_json::from_str::<Vec<LabelDef>>(l).ok().as_deref() == Some(labels) =>
                {
                    // Another process recorded it meanwhile.
                    let v: i64 =
                        tx.query_row("SELECT max(version) FROM label_set_changes", [], |r| {
                            r.get(0)
                        })?;
                    return Ok((v, false));
                }
                Some(_) => "replace",
            };
            Ok((insert_version(tx, kind, labels, &[], None, None)?, true))
        })
    }

    /// Make `change` to the label set in force (which must be `current`, hifi.toml's labels:
    /// call [`Store::sync_label_set`] first). Returns the new version, how many labels in force
    /// it renamed, merged or retired, and how many items a retirement queued for review again.
    pub fn change_label_set(
        &mut self,
        current: &[LabelDef],
        change: &LabelChange,
        annotator: &str,
    ) -> Result<LabelChangeOutcome> {
        let after = apply(current, change).map_err(StoreError::Invalid)?;
        let (kind, from, to): (&str, Vec<String>, Option<String>) = match change {
            LabelChange::Add { name, .. } => ("add", vec![], Some(name.clone())),
            LabelChange::Rename { from, to, .. } => {
                ("rename", vec![from.clone()], Some(to.clone()))
            }
            LabelChange::Merge { from, into, .. } => {
                ("merge", from.iter().filter(|f| *f != into).cloned().collect(), Some(into.clone()))
            }
            LabelChange::Retire { name } => ("retire", vec![name.clone()], None),
        };
        self.write(|tx| {
            let newest: Option<String> = tx
                .query_row(
                    "SELECT labels FROM label_set_changes ORDER BY version DESC LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            if newest.and_then(|l| serde_json::from_str::<Vec<LabelDef>>(&l).ok()).as_deref()
                != Some(current)
            {
                return Err(StoreError::Invalid(
                    "the label set changed meanwhile (another hifi); run the command again".into(),
                ));
            }
            // Labels in force under the names this change touches, counted before it.
            let affected: i64 = if from.is_empty() {
                0
            } else {
                let mut n = 0;
                for f in &from {
                    n += tx.query_row(
                        &format!("SELECT count(*) FROM current_labels WHERE {IN_FORCE}"),
                        [f],
                        |r| r.get::<_, i64>(0),
                    )?;
                }
                n
            };
            let retired_items: Vec<i64> = if kind == "retire" {
                let mut st = tx.prepare(&format!(
                    "SELECT DISTINCT item FROM current_labels WHERE {IN_FORCE} ORDER BY item"
                ))?;
                let rows = st.query_map([&from[0]], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<_>>()?
            } else {
                Vec::new()
            };
            let version = insert_version(tx, kind, &after, &from, to.as_deref(), Some(annotator))?;
            let requeued = if retired_items.is_empty() {
                0
            } else {
                let reason = serde_json::json!({ "why": "retired", "label": from[0] });
                super::browse::queue_revisits(tx, &retired_items, reason, None)?
            };
            let v = tx.query_row(
                &format!("SELECT {COLS} FROM label_set_changes WHERE version = ?1"),
                [version],
                version_from_row,
            )?;
            Ok(LabelChangeOutcome { version: v, labels_affected: affected as usize, requeued })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> Vec<LabelDef> {
        names.iter().map(|n| LabelDef::new(n.to_string(), format!("about {n}"))).collect()
    }

    #[test]
    fn changes_apply_and_bad_ones_are_refused() {
        let s = set(&["a", "b", "c"]);
        let r =
            apply(&s, &LabelChange::Rename { from: "a".into(), to: "z".into(), definition: None })
                .unwrap();
        assert_eq!(names(&r), ["z", "b", "c"]);
        assert_eq!(r[0].definition, "about a");
        let e =
            apply(&s, &LabelChange::Rename { from: "a".into(), to: "b".into(), definition: None })
                .unwrap_err();
        assert!(e.contains("already exists"), "{e}");
        let m = apply(
            &s,
            &LabelChange::Merge {
                from: vec!["a".into(), "b".into()],
                into: "ab".into(),
                definition: None,
            },
        )
        .unwrap();
        assert_eq!(names(&m), ["ab", "c"]);
        assert_eq!(m[0].definition, "about a about b");
        let m = apply(
            &s,
            &LabelChange::Merge {
                from: vec!["a".into(), "c".into()],
                into: "c".into(),
                definition: None,
            },
        )
        .unwrap();
        assert_eq!(names(&m), ["b", "c"]);
        let e = apply(
            &s,
            &LabelChange::Merge { from: vec!["a".into()], into: "a".into(), definition: None },
        )
        .unwrap_err();
        assert!(e.contains("into itself"), "{e}");
        let e = apply(&set(&["a", "b"]), &LabelChange::Retire { name: "a".into() }).unwrap_err();
        assert!(e.contains("at least two"), "{e}");
        let e = apply(&s, &LabelChange::Retire { name: "q".into() }).unwrap_err();
        assert!(e.contains("no label `q`"), "{e}");
        let e = apply(&s, &LabelChange::Add { name: "b".into(), definition: String::new() })
            .unwrap_err();
        assert!(e.contains("already exists"), "{e}");
    }
}
