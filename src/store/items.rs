//! Items: the pool being labeled.

use std::collections::HashSet;

use rusqlite::{params, CachedStatement, OptionalExtension, Row};

use super::{now, Result, Store, StoreError};

/// One item of the pool.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Dense internal key (row of the vector files).
    pub key: i64,
    /// The user's id.
    pub id: String,
    pub text: String,
    /// JSON object of the source's other fields.
    pub meta: Option<String>,
    pub gold: Option<String>,
}

impl Item {
    /// The item's other imported fields (its `meta` object) as (name, value) for display, in
    /// the order they are stored: a string as itself, a number, boolean or null as written, an
    /// array or object as compact JSON. Empty when there is no meta, or it is not a JSON object.
    /// The text is untrusted: make it inert before it reaches a terminal.
    pub fn fields(&self) -> Vec<(String, String)> {
        let Some(serde_json::Value::Object(map)) =
            self.meta.as_deref().and_then(|m| serde_json::from_str(m).ok())
        else {
            return Vec::new();
        };
        map.into_iter()
            .map(|(k, v)| {
                let shown = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, shown)
            })
            .collect()
    }
}

/// An item's gold label and its other imported fields: where an oracle's answers are.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemGold {
    pub key: i64,
    pub gold: Option<String>,
    /// JSON object of the source's other fields.
    pub meta: Option<String>,
}

/// One import as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRecord {
    pub id: i64,
    /// The file, as given.
    pub path: String,
    /// "csv", "jsonl", "chat", "alpaca" or "sharegpt".
    pub format: String,
    /// Items it added.
    pub rows: i64,
    pub created_at: String,
}

/// An item about to be inserted by an import.
#[derive(Debug, Clone)]
pub struct NewItem {
    pub id: String,
    pub text: String,
    pub meta: Option<String>,
    pub gold: Option<String>,
    /// Its line in the imported file.
    pub line: u64,
    /// Chat messages before the prompt (system message, earlier turns), as a JSON array.
    pub context: Option<String>,
    /// Its candidate responses, numbered from 1 in this order.
    pub responses: Vec<super::NewResponse>,
}

/// Why [`ItemImport::add`] did not store an item.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemRefused {
    /// Its id is taken by the item from line `line` of this same import.
    DuplicateInThisImport { line: i64 },
    /// Its id is already in the project.
    DuplicateInProject,
    /// Refused for another reason (SQLite's message).
    Failed(String),
}

/// An import under way (see [`Store::import`]): items added here are kept only if all of it is.
pub struct ItemImport<'a> {
    id: i64,
    insert: CachedStatement<'a>,
    find: CachedStatement<'a>,
    insert_response: CachedStatement<'a>,
    at: String,
}

impl ItemImport<'_> {
    /// Add one item to the import.
    pub fn add(&mut self, item: &NewItem) -> std::result::Result<(), ItemRefused> {
        match self.insert.insert(params![
            item.id,
            item.text,
            item.meta,
            item.gold,
            self.id,
            item.line as i64,
            item.context
        ]) {
            Ok(key) => {
                for (i, r) in item.responses.iter().enumerate() {
                    self.insert_response
                        .execute(params![
                            key,
                            i as i64 + 1,
                            r.text,
                            r.source,
                            r.origin.as_ref().map(serde_json::Value::to_string),
                            self.at
                        ])
                        .map_err(|e| ItemRefused::Failed(e.to_string()))?;
                }
                Ok(())
            }
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                let earlier: Option<(i64, i64)> =
                    self.find.query_row([&item.id], |r| Ok((r.get(0)?, r.get(1)?))).ok();
                Err(match earlier {
                    Some((import, line)) if import == self.id => {
                        ItemRefused::DuplicateInThisImport { line }
                    }
                    _ => ItemRefused::DuplicateInProject,
                })
            }
            Err(e) => Err(ItemRefused::Failed(e.to_string())),
        }
    }
}

pub(crate) const ITEM_COLS: &str = "key, id, text, meta, gold";

pub(crate) fn item_from_row(r: &Row) -> rusqlite::Result<Item> {
    Ok(Item { key: r.get(0)?, id: r.get(1)?, text: r.get(2)?, meta: r.get(3)?, gold: r.get(4)? })
}

impl Store {
    pub fn item(&self, key: i64) -> Result<Option<Item>> {
        self.conn
            .query_row(
                &format!("SELECT {ITEM_COLS} FROM items WHERE key = ?1"),
                [key],
                item_from_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    pub fn item_by_id(&self, id: &str) -> Result<Option<Item>> {
        self.conn
            .query_row(&format!("SELECT {ITEM_COLS} FROM items WHERE id = ?1"), [id], item_from_row)
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Items in key order, `limit` at most, starting after `after_key`.
    pub fn items_page(&self, after_key: i64, limit: usize) -> Result<Vec<Item>> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {ITEM_COLS} FROM items WHERE key > ?1 ORDER BY key LIMIT ?2"
            ))
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![after_key, limit as i64], item_from_row)
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    pub fn item_count(&self) -> Result<i64> {
        self.count("SELECT count(*) FROM items")
    }

    /// Every item key, in key order.
    pub fn item_keys(&self) -> Result<Vec<i64>> {
        let mut st =
            self.conn.prepare("SELECT key FROM items ORDER BY key").map_err(|e| self.err(e))?;
        let rows = st.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    /// Every item's gold label and other fields, in no particular order.
    pub fn items_gold(&self) -> Result<Vec<ItemGold>> {
        let mut st =
            self.conn.prepare("SELECT key, gold, meta FROM items").map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| Ok(ItemGold { key: r.get(0)?, gold: r.get(1)?, meta: r.get(2)? }))
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    /// The items whose text is exactly one of `texts`, in key order.
    pub fn items_with_text_in(&self, texts: &HashSet<&str>) -> Result<Vec<Item>> {
        let mut st = self
            .conn
            .prepare(&format!("SELECT {ITEM_COLS} FROM items ORDER BY key"))
            .map_err(|e| self.err(e))?;
        let mut rows = st.query([]).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let text: String = r.get(2).map_err(|e| self.err(e))?;
            if texts.contains(text.as_str()) {
                out.push(item_from_row(r).map_err(|e| self.err(e))?);
            }
        }
        Ok(out)
    }

    /// How many items have an id starting with `prefix`.
    pub fn item_count_with_id_prefix(&self, prefix: &str) -> Result<i64> {
        self.conn
            .query_row(
                "SELECT count(*) FROM items WHERE substr(id, 1, length(?1)) = ?1",
                [prefix],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// Record an import of `path` (`format`: "csv" or "jsonl") and add its items through `f`,
    /// in one transaction: everything or, when `f` fails, nothing. `f` returns how many items
    /// it added, recorded with the import.
    pub fn import<E>(
        &mut self,
        path: &str,
        format: &str,
        f: impl FnOnce(&mut ItemImport) -> std::result::Result<u64, E>,
    ) -> std::result::Result<u64, E>
    where
        E: From<StoreError>,
    {
        self.write(|tx| {
            tx.execute("INSERT INTO imports (path, format, rows, created_at) VALUES (?1, ?2, 0, ?3)", params![path, format, now()])
                .map_err(StoreError::from)?;
            let id = tx.last_insert_rowid();
            let mut items = ItemImport {
                id,
                insert: tx
                    .prepare_cached("INSERT INTO items (id, text, meta, gold, import_id, line, context) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
                    .map_err(StoreError::from)?,
                find: tx.prepare_cached("SELECT import_id, line FROM items WHERE id = ?1").map_err(StoreError::from)?,
                insert_response: tx
                    .prepare_cached("INSERT INTO responses (item, number, parent, text, source, origin, annotator, created_at) VALUES (?1, ?2, NULL, ?3, ?4, ?5, NULL, ?6)")
                    .map_err(StoreError::from)?,
                at: now(),
            };
            let rows = f(&mut items)?;
            drop(items);
            tx.execute("UPDATE imports SET rows = ?1 WHERE id = ?2", params![rows as i64, id]).map_err(StoreError::from)?;
            Ok(rows)
        })
    }

    /// Every import, oldest first.
    pub fn imports(&self) -> Result<Vec<ImportRecord>> {
        let mut st = self
            .conn
            .prepare("SELECT id, path, format, rows, created_at FROM imports ORDER BY id")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(ImportRecord {
                    id: r.get(0)?,
                    path: r.get(1)?,
                    format: r.get(2)?,
                    rows: r.get(3)?,
                    created_at: r.get(4)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::Item;

    fn with_meta(meta: Option<&str>) -> Item {
        Item {
            key: 1,
            id: "a".into(),
            text: "t".into(),
            meta: meta.map(str::to_string),
            gold: None,
        }
    }

    #[test]
    fn fields_show_strings_as_themselves_and_the_rest_as_compact_json() {
        let item = with_meta(Some(
            r#"{"date":"2024-05-01","n":1.5,"ok":true,"tags":["a", "b"],"who":{"x": null}}"#,
        ));
        let got = item.fields();
        let want = [
            ("date", "2024-05-01"),
            ("n", "1.5"),
            ("ok", "true"),
            ("tags", r#"["a","b"]"#),
            ("who", r#"{"x":null}"#),
        ];
        assert_eq!(got, want.map(|(k, v)| (k.to_string(), v.to_string())));
        for none in [None, Some("[1, 2]"), Some("not json"), Some("{}")] {
            assert!(with_meta(none).fields().is_empty(), "{none:?}");
        }
    }
}
