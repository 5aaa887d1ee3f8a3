//! Models (scorers) and their per-label predictions.

use rusqlite::{params, OptionalExtension};

use super::{now, Result, Store};

/// A scorer: a GGUF (+ adapter) under one prompt, or a probe classifier.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRecord {
    pub id: i64,
    pub fingerprint: String,
    pub kind: String,
    pub model_path: Option<String>,
    pub model_sha256: Option<String>,
    pub adapter_path: Option<String>,
    pub adapter_sha256: Option<String>,
    pub prompt_sha256: Option<String>,
    pub labels: Vec<String>,
    /// LLM models: expert examples in the prompt (0: zero-shot); `None` for probes and
    /// models registered before schema v5.
    pub few_shot: Option<usize>,
}

/// One item's scores under one model.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub item: i64,
    /// Probabilities in the model's label order; they sum to 1.
    pub probs: Vec<f64>,
    pub truncated: bool,
}

impl Prediction {
    /// (argmax index, margin p1 - p2). The store never holds an empty prediction (it refuses
    /// to write one and names the row when it reads one); an empty one here gives (0, 0.0).
    pub fn top(&self) -> (usize, f64) {
        let mut idx: Vec<usize> = (0..self.probs.len()).collect();
        idx.sort_by(|&a, &b| self.probs[b].total_cmp(&self.probs[a]));
        let Some(&first) = idx.first() else { return (0, 0.0) };
        let p2 = idx.get(1).map_or(0.0, |&i| self.probs[i]);
        (first, self.probs[first] - p2)
    }
}

impl Store {
    /// A predictions row's probabilities: a non-empty JSON array of numbers, else an error
    /// naming the row (a corrupt row is never read as "no prediction" or a made-up one).
    fn parse_probs(&self, item: i64, model: i64, text: &str) -> Result<Vec<f64>> {
        let why = match serde_json::from_str::<Vec<f64>>(text) {
            Ok(p) if !p.is_empty() => return Ok(p),
            Ok(_) => "an empty list".to_string(),
            Err(e) => format!("not a list of numbers ({e})"),
        };
        Err(super::StoreError::Invalid(format!(
            "{}: the prediction of item {item} under model {model} is corrupt: its probabilities are {why}: {}; run `hifi prelabel` again to rescore it",
            self.db_path().display(),
            crate::text::inert(&text.chars().take(60).collect::<String>(), false)
        )))
    }

    /// A models row's label list, else an error naming the row.
    fn parse_model_labels(&self, model: i64, text: &str) -> Result<Vec<String>> {
        serde_json::from_str(text).map_err(|e| {
            super::StoreError::Invalid(format!(
                "{}: model {model}'s label list is corrupt ({e}): {}",
                self.db_path().display(),
                crate::text::inert(&text.chars().take(60).collect::<String>(), false)
            ))
        })
    }
}

impl Store {
    /// The model row for `rec.fingerprint`, created if new. `rec.id` is ignored.
    pub fn register_model(&mut self, rec: &ModelRecord) -> Result<i64> {
        let labels = serde_json::to_string(&rec.labels).unwrap_or_else(|_| "[]".into());
        self.write(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO models (fingerprint, kind, model_path, model_sha256, adapter_path, adapter_sha256, prompt_sha256, labels, created_at, few_shot)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    rec.fingerprint,
                    rec.kind,
                    rec.model_path,
                    rec.model_sha256,
                    rec.adapter_path,
                    rec.adapter_sha256,
                    rec.prompt_sha256,
                    labels,
                    now(),
                    rec.few_shot.map(|n| n as i64)
                ],
            )?;
            // A model registered before v5 learns its few-shot count when it is used again.
            if let Some(n) = rec.few_shot {
                tx.execute("UPDATE models SET few_shot = ?2 WHERE fingerprint = ?1 AND few_shot IS NULL", params![rec.fingerprint, n as i64])?;
            }
            Ok(tx.query_row("SELECT id FROM models WHERE fingerprint = ?1", [&rec.fingerprint], |r| r.get(0))?)
        })
    }

    /// The id of the model registered last.
    pub fn newest_model_id(&self) -> Result<Option<i64>> {
        self.conn.query_row("SELECT max(id) FROM models", [], |r| r.get(0)).map_err(|e| self.err(e))
    }

    pub fn model(&self, id: i64) -> Result<Option<ModelRecord>> {
        let row = self
            .conn
            .query_row(
                "SELECT id, fingerprint, kind, model_path, model_sha256, adapter_path, adapter_sha256, prompt_sha256, labels, few_shot FROM models WHERE id = ?1",
                [id],
                |r| {
                    let labels: String = r.get(8)?;
                    let rec = ModelRecord {
                        id: r.get(0)?,
                        fingerprint: r.get(1)?,
                        kind: r.get(2)?,
                        model_path: r.get(3)?,
                        model_sha256: r.get(4)?,
                        adapter_path: r.get(5)?,
                        adapter_sha256: r.get(6)?,
                        prompt_sha256: r.get(7)?,
                        labels: Vec::new(),
                        few_shot: r.get::<_, Option<i64>>(9)?.map(|n| n.max(0) as usize),
                    };
                    Ok((rec, labels))
                },
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((mut rec, labels)) = row else { return Ok(None) };
        rec.labels = self.parse_model_labels(rec.id, &labels)?;
        Ok(Some(rec))
    }

    /// The model whose predictions are newest (the one to show and mine from).
    pub fn latest_model(&self) -> Result<Option<ModelRecord>> {
        let id: Option<i64> = self
            .conn
            .query_row(
                "SELECT model FROM predictions ORDER BY created_at DESC, model DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        match id {
            Some(id) => self.model(id),
            None => Ok(None),
        }
    }

    /// The model of `kind` ('llm', 'probe', …) whose predictions are newest.
    pub fn latest_model_of_kind(&self, kind: &str) -> Result<Option<ModelRecord>> {
        self.newest_model_where("m.kind = ?1", [kind])
    }

    /// The base LLM as the user brought it — no adapter, no expert examples in the prompt —
    /// with the newest predictions: the only honest zero-shot baseline. Models registered
    /// before schema v5 do not record their few-shot count and never qualify.
    pub fn latest_base_llm(&self) -> Result<Option<ModelRecord>> {
        self.newest_model_where("m.kind = 'llm' AND m.adapter_path IS NULL AND m.few_shot = 0", [])
    }

    /// The model with the newest predictions among models matching `filter` (SQL over `m`).
    fn newest_model_where(
        &self,
        filter: &str,
        params: impl rusqlite::Params,
    ) -> Result<Option<ModelRecord>> {
        let id: Option<i64> = self
            .conn
            .query_row(
                &format!("SELECT p.model FROM predictions p JOIN models m ON m.id = p.model WHERE {filter} ORDER BY p.created_at DESC, p.model DESC LIMIT 1"),
                params,
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        match id {
            Some(id) => self.model(id),
            None => Ok(None),
        }
    }

    /// Keys of items with no prediction under `model`, in key order, after `after_key`.
    pub fn unpredicted(&self, model: i64, after_key: i64, limit: usize) -> Result<Vec<i64>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT key FROM items i WHERE key > ?2
                 AND NOT EXISTS (SELECT 1 FROM predictions p WHERE p.item = i.key AND p.model = ?1)
                 ORDER BY key LIMIT ?3",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![model, after_key, limit as i64], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    pub fn count_unpredicted(&self, model: i64) -> Result<i64> {
        self.conn
            .query_row(
                "SELECT count(*) FROM items i WHERE NOT EXISTS (SELECT 1 FROM predictions p WHERE p.item = i.key AND p.model = ?1)",
                [model],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// Store one batch of predictions in one transaction.
    pub fn put_predictions(
        &mut self,
        model: i64,
        labels: &[String],
        preds: &[Prediction],
    ) -> Result<()> {
        if let Some(p) =
            preds.iter().find(|p| p.probs.is_empty() || p.probs.iter().any(|x| !x.is_finite()))
        {
            return Err(super::StoreError::Invalid(format!("the prediction of item {} under model {model} has no probabilities or a non-finite one ({:?}): not stored", p.item, p.probs)));
        }
        let at = now();
        self.write(|tx| {
            let mut st = tx.prepare_cached(
                "INSERT OR REPLACE INTO predictions (item, model, probs, label, margin, truncated, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for p in preds {
                let (top, margin) = p.top();
                // Finite numbers only (checked above): serialising them cannot fail.
                let probs = serde_json::to_string(&p.probs).unwrap_or_default();
                let label = labels.get(top).cloned().unwrap_or_default();
                st.execute(params![p.item, model, probs, label, margin, p.truncated, at])?;
            }
            Ok(())
        })
    }

    /// All predictions under `model`, in item key order.
    pub fn predictions(&self, model: i64) -> Result<Vec<Prediction>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT item, probs, truncated FROM predictions WHERE model = ?1 ORDER BY item",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([model], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get(2)?)))
            .map_err(|e| self.err(e))?;
        let rows: Vec<(i64, String, bool)> =
            rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))?;
        rows.into_iter()
            .map(|(item, probs, truncated)| {
                Ok(Prediction { item, probs: self.parse_probs(item, model, &probs)?, truncated })
            })
            .collect()
    }

    /// The newest prediction of any model for `item`: (model, prediction).
    pub fn latest_prediction(&self, item: i64) -> Result<Option<(ModelRecord, Prediction)>> {
        let row: Option<(i64, String, bool)> = self
            .conn
            .query_row(
                "SELECT model, probs, truncated FROM predictions WHERE item = ?1 ORDER BY created_at DESC, model DESC LIMIT 1",
                [item],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((model, probs, truncated)) = row else { return Ok(None) };
        let Some(rec) = self.model(model)? else { return Ok(None) };
        Ok(Some((
            rec,
            Prediction { item, probs: self.parse_probs(item, model, &probs)?, truncated },
        )))
    }
}

/// Predictions and the label set: a model's predictions are probabilities over the labels it
/// was scored under (`ModelRecord::labels`); once the label set changes (a label added,
/// renamed, merged or retired), they are stale: read as today's labels they would mix names.
impl Store {
    /// "label set v2 (a, b, c)" for `names`: the newest recorded version with exactly these
    /// names, else the names alone.
    pub fn describe_label_set(&self, names: &[String]) -> Result<String> {
        let list = names.join(", ");
        Ok(match self.label_set_of(names)? {
            Some(v) => format!("label set v{v} ({list})"),
            None => format!("labels {list} (not a recorded label set)"),
        })
    }

    /// Why `model`'s predictions cannot be read as labels of `current` (hifi.toml's label
    /// names, in order): "model 3's predictions were scored under label set v1 (a, b); the
    /// labels are now v2 (a, c)". `None` when the model scored exactly these labels.
    pub fn stale_reason(&self, model: &ModelRecord, current: &[String]) -> Result<Option<String>> {
        if model.labels == current {
            return Ok(None);
        }
        let then = self.describe_label_set(&model.labels)?;
        let now = match self.label_set()? {
            Some(v) if v.names() == current => format!("v{} ({})", v.version, current.join(", ")),
            _ => match self.label_set_of(current)? {
                Some(v) => format!("v{v} ({})", current.join(", ")),
                None => format!("{} (hifi.toml)", current.join(", ")),
            },
        };
        Ok(Some(format!(
            "model {}'s predictions were scored under {then}; the labels are now {now}",
            model.id
        )))
    }

    /// Models whose predictions were scored under other labels than `current`, and those
    /// scored under `current`: (stale, current) model ids.
    fn models_by_label_set(&self, current: &[String]) -> Result<(Vec<i64>, Vec<i64>)> {
        let mut st = self.conn.prepare("SELECT id, labels FROM models").map_err(|e| self.err(e))?;
        let rows: Vec<(i64, String)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))?;
        let (mut stale, mut fresh) = (Vec::new(), Vec::new());
        for (id, labels) in rows {
            if self.parse_model_labels(id, &labels)? == current {
                fresh.push(id);
            } else {
                stale.push(id);
            }
        }
        Ok((stale, fresh))
    }

    /// Items whose every prediction was scored under another label set than `current`: the
    /// items `hifi prelabel` has yet to rescore. 0 (without reading the predictions) when
    /// every model scored `current`.
    pub fn stale_prediction_items(&self, current: &[String]) -> Result<i64> {
        let (stale, fresh) = self.models_by_label_set(current)?;
        if stale.is_empty() {
            return Ok(0);
        }
        let ids = |v: &[i64]| v.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
        // Ids are integers from the store: nothing user-written is spliced into the SQL.
        self.count(&format!(
            "SELECT count(*) FROM (SELECT item FROM predictions GROUP BY item
             HAVING sum(model IN ({})) = 0 AND sum(model IN ({})) > 0)",
            ids(&fresh),
            ids(&stale)
        ))
    }
}
