//! Items: the pool being labeled.

use rusqlite::{params, OptionalExtension, Row};

use super::{Result, Store};

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

/// An item about to be inserted by an import.
#[derive(Debug, Clone)]
pub struct NewItem {
    pub id: String,
    pub text: String,
    pub meta: Option<String>,
    pub gold: Option<String>,
    pub line: u64,
}

pub(crate) const ITEM_COLS: &str = "key, id, text, meta, gold";

pub(crate) fn item_from_row(r: &Row) -> rusqlite::Result<Item> {
    Ok(Item { key: r.get(0)?, id: r.get(1)?, text: r.get(2)?, meta: r.get(3)?, gold: r.get(4)? })
}

impl Store {
    pub fn item(&self, key: i64) -> Result<Option<Item>> {
        self.conn
            .query_row(&format!("SELECT {ITEM_COLS} FROM items WHERE key = ?1"), [key], item_from_row)
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
            .prepare_cached(&format!("SELECT {ITEM_COLS} FROM items WHERE key > ?1 ORDER BY key LIMIT ?2"))
            .map_err(|e| self.err(e))?;
        let rows = st.query_map(params![after_key, limit as i64], item_from_row).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    pub fn item_count(&self) -> Result<i64> {
        self.count("SELECT count(*) FROM items")
    }
}
