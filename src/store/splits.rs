//! The eval/train split of expert-labeled items: stratified by label, random but reproducible,
//! and sticky (an item never changes split; a trigger refuses updates).

use std::collections::HashMap;

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

impl Store {
    /// Give every resolved, not yet split item a split. Per label, the eval share never drifts
    /// more than one item from `eval_fraction`; within that, the coin decides. Returns how many
    /// items were assigned.
    pub fn assign_splits(&mut self, eval_fraction: f64) -> Result<usize> {
        let (resolved, _) = self.resolved_labels()?;
        let label_of: HashMap<i64, String> = resolved.into_iter().collect();
        self.write(|tx| {
            // Existing counts per label (by the item's current resolved label).
            let mut counts: HashMap<String, (f64, f64)> = HashMap::new(); // label -> (eval, total)
            let mut st = tx.prepare("SELECT item, split FROM splits")?;
            let existing: Vec<(i64, String)> =
                st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
            drop(st);
            let mut assigned: std::collections::HashSet<i64> = std::collections::HashSet::new();
            for (item, split) in existing {
                assigned.insert(item);
                if let Some(l) = label_of.get(&item) {
                    let c = counts.entry(l.clone()).or_default();
                    c.1 += 1.0;
                    if split == "eval" {
                        c.0 += 1.0;
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
            let at = now();
            let mut n = 0;
            for (item, id) in order {
                let Some(label) = label_of.get(&item) else { continue };
                if assigned.contains(&item) {
                    continue;
                }
                let c = counts.entry(label.clone()).or_default();
                c.1 += 1.0;
                let deficit = eval_fraction * c.1 - c.0;
                let eval = deficit >= 1.0 || (deficit > 0.0 && coin(&id) < deficit);
                if eval {
                    c.0 += 1.0;
                }
                let split = if eval { Split::Eval } else { Split::Train };
                tx.execute("INSERT INTO splits (item, split, assigned_at) VALUES (?1, ?2, ?3)", params![item, split.as_str(), at])?;
                n += 1;
            }
            Ok(n)
        })
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
        let mut st = self.conn.prepare("SELECT item, split FROM splits").map_err(|e| self.err(e))?;
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
