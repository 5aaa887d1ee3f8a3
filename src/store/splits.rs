//! The eval/train split of expert-labeled items: stratified by label, random but reproducible,
//! group-aware (a mined pair's items and near-duplicates share a split), and sticky (an item
//! never changes split; a trigger refuses updates).

use std::collections::{HashMap, HashSet};

use rusqlite::{params, OptionalExtension};
use sha2::{Digest, Sha256};

use super::{now, Result, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    Eval,
    Train,
}

impl Split {
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Eval => "eval",
            Split::Train => "train",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "eval" => Some(Split::Eval),
            "train" => Some(Split::Train),
            _ => None,
        }
    }
}

/// A uniform number in [0, 1) from an item id: the split's coin, the same on every machine.
fn coin(item_id: &str) -> f64 {
    let h = Sha256::digest(format!("hifi-split\0{item_id}").as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[..8]);
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

/// What decides new splits beyond the label and the coin (built by `curate::split`).
#[derive(Debug, Clone, Default)]
pub struct SplitGroups {
    /// Items that must share a split (a mined pair's two items, near-duplicates): item key →
    /// group id. Items in no group are groups of their own.
    pub group_of: HashMap<i64, usize>,
    /// Items labeled by two or more experts, or queued for two: always eval (the stop rule
    /// compares model and experts on them), and their groups with them.
    pub forced_eval: HashSet<i64>,
    /// Items drawn for the audit stratum: always eval, stratum `audit`.
    pub audit: HashSet<i64>,
}

impl Store {
    /// Give every resolved, not yet split item a split, by groups (see [`SplitGroups`]): a new
    /// item joins the split its group already has (train when the group already straddles
    /// both — that train item is then left out of training and export as a leak); a new group
    /// goes to eval when it holds an audit or double-labeled item, else per label the eval
    /// share stays within about one group of `eval_fraction` and within that the coin
    /// decides. Audit and double-labeled items are eval whatever their group says. Returns how
    /// many items were assigned.
    pub fn assign_splits(&mut self, eval_fraction: f64, groups: &SplitGroups) -> Result<usize> {
        let (resolved, _) = self.resolved_labels()?;
        let label_of: HashMap<i64, String> = resolved.into_iter().collect();
        self.write(|tx| {
            // Existing counts per label (by the item's current resolved label).
            let mut counts: HashMap<String, (f64, f64)> = HashMap::new(); // label -> (eval, total)
            let mut st = tx.prepare("SELECT item, split FROM splits")?;
            let existing: Vec<(i64, String)> =
                st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
            drop(st);
            let mut split_of: HashMap<i64, Split> = HashMap::new();
            for (item, split) in existing {
                let Some(split) = Split::parse(&split) else { continue };
                split_of.insert(item, split);
                if let Some(l) = label_of.get(&item) {
                    let c = counts.entry(l.clone()).or_default();
                    c.1 += 1.0;
                    if split == Split::Eval {
                        c.0 += 1.0;
                    }
                }
            }
            // What each group already has: (any eval, any train).
            let mut group_has: HashMap<usize, (bool, bool)> = HashMap::new();
            for (item, split) in &split_of {
                if let Some(g) = groups.group_of.get(item) {
                    let h = group_has.entry(*g).or_default();
                    match split {
                        Split::Eval => h.0 = true,
                        Split::Train => h.1 = true,
                    }
                }
            }
            // New items in the order their first label arrived.
            let mut st = tx.prepare(
                "SELECT a.item, i.id, min(a.id) FROM annotations a JOIN items i ON i.key = a.item
                 WHERE a.kind IN ('label', 'resolve') GROUP BY a.item ORDER BY min(a.id)",
            )?;
            let order: Vec<(i64, String)> = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
            drop(st);
            let new: Vec<&(i64, String)> = order.iter().filter(|(item, _)| label_of.contains_key(item) && !split_of.contains_key(item)).collect();
            // Groups of new items that hold an item which must be eval.
            let eval_groups: HashSet<usize> = new
                .iter()
                .filter(|(item, _)| groups.audit.contains(item) || groups.forced_eval.contains(item))
                .filter_map(|(item, _)| groups.group_of.get(item).copied())
                .collect();
            let at = now();
            let mut n = 0;
            for (item, id) in new {
                let label = &label_of[item];
                let group = groups.group_of.get(item).copied();
                let has = group.and_then(|g| group_has.get(&g).copied()).unwrap_or_default();
                let audit = groups.audit.contains(item);
                let c = counts.entry(label.clone()).or_default();
                c.1 += 1.0;
                let eval = if audit || groups.forced_eval.contains(item) {
                    true
                } else if has.0 || has.1 {
                    !has.1
                } else if group.is_some_and(|g| eval_groups.contains(&g)) {
                    true
                } else {
                    let deficit = eval_fraction * c.1 - c.0;
                    deficit >= 1.0 || (deficit > 0.0 && coin(id) < deficit)
                };
                if eval {
                    c.0 += 1.0;
                }
                let split = if eval { Split::Eval } else { Split::Train };
                if let Some(g) = group {
                    let h = group_has.entry(g).or_default();
                    match split {
                        Split::Eval => h.0 = true,
                        Split::Train => h.1 = true,
                    }
                }
                tx.execute(
                    "INSERT INTO splits (item, split, assigned_at, stratum) VALUES (?1, ?2, ?3, ?4)",
                    params![item, split.as_str(), at, if audit { "audit" } else { "boundary" }],
                )?;
                n += 1;
            }
            Ok(n)
        })
    }

    /// Items of audit-stratum queue entries (any mining run).
    pub fn audit_items(&self) -> Result<HashSet<i64>> {
        let mut st = self
            .conn
            .prepare("SELECT item_a FROM queue WHERE stratum = 'audit'")
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([], |r| r.get::<_, i64>(0)).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    /// Items of queue entries that ask for two or more annotators (any mining run): eval from
    /// their first label on, so the second annotator's label lands on an eval item.
    pub fn overlap_items(&self) -> Result<HashSet<i64>> {
        let mut st = self
            .conn
            .prepare("SELECT item_a FROM queue WHERE needed >= 2 UNION SELECT item_b FROM queue WHERE needed >= 2 AND item_b IS NOT NULL")
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([], |r| r.get::<_, i64>(0)).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    /// Every pair of items ever queued side by side (any mining run).
    pub fn queued_pairs(&self) -> Result<Vec<(i64, i64)>> {
        let mut st = self
            .conn
            .prepare("SELECT DISTINCT item_a, item_b FROM queue WHERE item_b IS NOT NULL")
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    pub fn split_of(&self, item: i64) -> Result<Option<Split>> {
        let s: Option<String> = self
            .conn
            .query_row("SELECT split FROM splits WHERE item = ?1", [item], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(s.as_deref().and_then(Split::parse))
    }

    /// Every split assignment: item key → split.
    pub fn splits(&self) -> Result<HashMap<i64, Split>> {
        let mut st =
            self.conn.prepare("SELECT item, split FROM splits").map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| self.err(e))?;
        let mut out = HashMap::new();
        for r in rows {
            let (item, s) = r.map_err(|e| self.err(e))?;
            if let Some(s) = Split::parse(&s) {
                out.insert(item, s);
            }
        }
        Ok(out)
    }
}

impl Store {
    /// Every split assignment with its stratum: item key → (split, drawn for the audit
    /// stratum). Audit items are always eval.
    pub fn split_strata(&self) -> Result<HashMap<i64, (Split, bool)>> {
        let mut st = self
            .conn
            .prepare("SELECT item, split, stratum = 'audit' FROM splits")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, bool>(2)?))
            })
            .map_err(|e| self.err(e))?;
        let mut out = HashMap::new();
        for r in rows {
            let (item, s, audit) = r.map_err(|e| self.err(e))?;
            if let Some(s) = Split::parse(&s) {
                out.insert(item, (s, audit));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::coin;

    #[test]
    fn coin_is_uniform_enough_and_stable() {
        let n = 10_000;
        let mean: f64 = (0..n).map(|i| coin(&format!("item-{i}"))).sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
        assert_eq!(coin("a"), coin("a"));
        assert!((0.0..1.0).contains(&coin("b")));
    }
}
