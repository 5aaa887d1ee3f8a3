//! What `hifi status` (and the pipeline screen) counts, read in one place.

use super::{Result, Store};

/// One model's predictions.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelCount {
    pub fingerprint: String,
    /// The GGUF path, or the model kind for probes.
    pub model: String,
    pub adapter: Option<String>,
    pub count: i64,
}

/// One embedding set's rows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EmbeddingCount {
    pub model: String,
    pub dim: i64,
    pub count: i64,
}

/// Counts of everything in a project.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Status {
    pub items: i64,
    pub items_with_gold: i64,
    pub predictions: Vec<ModelCount>,
    pub embeddings: Vec<EmbeddingCount>,
    /// Queue entries of every mining run.
    pub queue: i64,
    pub annotation_events: i64,
    /// Labels in force per annotator.
    pub annotations_by_annotator: Vec<(String, i64)>,
    pub labeled_items: i64,
    pub train: i64,
    pub eval: i64,
    /// Eval items drawn for the audit stratum.
    pub audit: i64,
    pub rounds: i64,
    pub responses: ResponseCount,
}

/// What `hifi status` says about versions and what is out of date (the same fields in
/// `hifi status --json`): apart from [`Status`], since counting stale predictions reads every
/// prediction once the label set has changed.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StatusVersions {
    /// The label set in force (`None`: never recorded, a store not opened as a project).
    pub label_set: Option<LabelSetState>,
    /// The guidelines version in force (`None`: no guidelines written yet).
    pub guidelines: Option<i64>,
    /// Items whose every prediction was scored under another label set: `hifi prelabel`
    /// rescores them.
    pub stale_predictions: i64,
    /// Items not yet in the search index (`hifi find` and Browse index them).
    pub unindexed_items: i64,
}

/// The label set in force.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LabelSetState {
    pub version: i64,
    pub labels: Vec<String>,
    /// Changes recorded since the first version.
    pub changes: i64,
}

impl StatusVersions {
    /// The lines `hifi status` prints (label set always once recorded; the rest when there
    /// is something to say).
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(l) = &self.label_set {
            let changes = match l.changes {
                0 => "no changes".to_string(),
                1 => "1 change since v1".to_string(),
                n => format!("{n} changes since v1"),
            };
            out.push(format!("label set v{} ({changes})", l.version));
        }
        if let Some(g) = self.guidelines {
            out.push(format!("guidelines v{g} ({})", super::GUIDELINES_FILE));
        }
        if self.stale_predictions > 0 {
            out.push(format!(
                "stale     {} items have predictions only under an earlier label set: run `hifi prelabel`",
                self.stale_predictions
            ));
        }
        if self.unindexed_items > 0 {
            out.push(format!(
                "search    {} items not yet indexed (`hifi find` indexes them)",
                self.unindexed_items
            ));
        }
        out
    }

    /// The fields as `hifi status --json` holds them (a document with other keys too).
    pub fn from_status_json(v: &serde_json::Value) -> Self {
        serde_json::from_value(v.clone()).unwrap_or_default()
    }
}

/// Candidate responses and their judgements.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ResponseCount {
    /// Original candidates.
    pub candidates: i64,
    /// Items with at least one.
    pub items: i64,
    /// Experts' revisions (edits), undone ones included.
    pub revisions: i64,
    /// Judgement events (undos included).
    pub events: i64,
}

impl Store {
    /// Label-set and guidelines versions, stale predictions and the search index, measured
    /// against the newest recorded label set (hifi.toml's, once the project is opened).
    pub fn status_versions(&self) -> Result<StatusVersions> {
        let sets = self.label_sets()?;
        let label_set = sets.last().map(|v| LabelSetState {
            version: v.version,
            labels: v.names(),
            changes: sets.len() as i64 - 1,
        });
        let stale_predictions = match &label_set {
            Some(l) => self.stale_prediction_items(&l.labels)?,
            None => 0,
        };
        Ok(StatusVersions {
            label_set,
            guidelines: self.guidelines()?.map(|g| g.version),
            stale_predictions,
            unindexed_items: self.unindexed_items()?,
        })
    }

    pub fn status(&self) -> Result<Status> {
        let c = &self.conn;
        let e = |x| self.err(x);
        let predictions = c
            .prepare(
                "SELECT m.fingerprint, coalesce(m.model_path, m.kind), m.adapter_path, count(p.item) FROM models m
                 LEFT JOIN predictions p ON p.model = m.id GROUP BY m.id ORDER BY m.id",
            )
            .map_err(e)?
            .query_map([], |r| Ok(ModelCount { fingerprint: r.get(0)?, model: r.get(1)?, adapter: r.get(2)?, count: r.get(3)? }))
            .map_err(e)?
            .collect::<rusqlite::Result<_>>()
            .map_err(e)?;
        let embeddings = c
            .prepare("SELECT s.model_path, s.dim, count(r.item) FROM embedding_sets s LEFT JOIN embedding_rows r ON r.set_id = s.id GROUP BY s.id ORDER BY s.id")
            .map_err(e)?
            .query_map([], |r| Ok(EmbeddingCount { model: r.get(0)?, dim: r.get(1)?, count: r.get(2)? }))
            .map_err(e)?
            .collect::<rusqlite::Result<_>>()
            .map_err(e)?;
        let annotations_by_annotator = c
            .prepare("SELECT annotator, count(*) FROM current_labels WHERE kind = 'label' GROUP BY annotator ORDER BY annotator")
            .map_err(e)?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(e)?
            .collect::<rusqlite::Result<_>>()
            .map_err(e)?;
        Ok(Status {
            items: self.count("SELECT count(*) FROM items")?,
            items_with_gold: self.count("SELECT count(*) FROM items WHERE gold IS NOT NULL")?,
            predictions,
            embeddings,
            queue: self.count("SELECT count(*) FROM queue")?,
            annotation_events: self.count("SELECT count(*) FROM annotations")?,
            annotations_by_annotator,
            labeled_items: self.count("SELECT count(DISTINCT item) FROM current_labels")?,
            train: self.count("SELECT count(*) FROM splits WHERE split = 'train'")?,
            eval: self.count("SELECT count(*) FROM splits WHERE split = 'eval'")?,
            audit: self.count("SELECT count(*) FROM splits WHERE stratum = 'audit'")?,
            rounds: self.count("SELECT count(*) FROM rounds")?,
            responses: ResponseCount {
                candidates: self.count("SELECT count(*) FROM responses WHERE parent IS NULL")?,
                items: self.count("SELECT count(DISTINCT item) FROM responses")?,
                revisions: self.count("SELECT count(*) FROM responses WHERE parent IS NOT NULL")?,
                events: self.count("SELECT count(*) FROM response_events")?,
            },
        })
    }
}
