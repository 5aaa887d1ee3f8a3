//! What mining works on: one row per item with a predicted label, the model's probabilities
//! and (for the strategies that need geometry) its embedding. Plain in-memory data, so the
//! benchmark and the tests build it without a store.

use std::collections::HashSet;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::llm::embed::Vectors;
use crate::store::Store;

/// A borrowed pool. `vectors` holds `len() × dim` f32s row-major (empty with `dim == 0`:
/// no embeddings, which only margin, entropy and random accept).
#[derive(Clone, Copy)]
pub struct PoolView<'a> {
    pub dim: usize,
    pub vectors: &'a [f32],
    /// The item key of each row (what the queue stores).
    pub keys: &'a [i64],
    /// Predicted label index of each row (into `label_names`).
    pub labels: &'a [u32],
    /// The model's probabilities, `len() × label_names.len()` row-major.
    pub probs: &'a [f32],
    pub label_names: &'a [String],
    /// Rows an expert already labeled: they seed the diversity order and are never queued.
    pub labeled: &'a [bool],
    /// What the vectors are (embedding set and model); keys the cluster cache. `None`: no cache.
    pub vectors_id: Option<&'a str>,
    /// Multi-label projects: each label's threshold, in label order. The probabilities are
    /// then independent per label (a label applies at or above its threshold) and every
    /// strategy works per label. `None`: single-label (the probabilities sum to 1).
    pub thresholds: Option<&'a [f64]>,
}

impl<'a> PoolView<'a> {
    /// Rows in the pool.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Row `i`'s vector (empty without embeddings).
    pub fn row(&self, i: usize) -> &'a [f32] {
        if self.dim == 0 {
            return &[];
        }
        &self.vectors[i * self.dim..(i + 1) * self.dim]
    }

    /// Row `i`'s probabilities in label order.
    pub fn probs_of(&self, i: usize) -> &'a [f32] {
        let l = self.label_names.len();
        &self.probs[i * l..(i + 1) * l]
    }

    /// Check that the parts fit together; vectors must be finite (a NaN would poison every
    /// distance it touches).
    pub fn validate(&self) -> Result<()> {
        let n = self.len();
        let l = self.label_names.len();
        let bad = |what: &str| Err(Error::Input(format!("mining input: {what}")));
        if l == 0 {
            return bad("no labels");
        }
        if self.labels.len() != n || self.labeled.len() != n {
            return bad("labels / labeled do not have one entry per row");
        }
        if self.probs.len() != n * l {
            return bad("probabilities do not have one value per row and label");
        }
        if self.vectors.len() != n * self.dim {
            return bad("vectors do not have `dim` values per row");
        }
        if let Some(i) = self.labels.iter().position(|&x| x as usize >= l) {
            return bad(&format!("row {i} has label index {} of {l} labels", self.labels[i]));
        }
        if let Some(p) = self.vectors.iter().position(|x| !x.is_finite()) {
            return bad(&format!("the vector of row {} is not finite", p / self.dim.max(1)));
        }
        if let Some(t) = self.thresholds {
            if t.len() != l {
                return bad(&format!("{} thresholds for {l} labels", t.len()));
            }
            if let Some(i) = t.iter().position(|x| !(*x > 0.0 && *x < 1.0)) {
                return bad(&format!(
                    "label {}'s threshold {} is not in (0, 1)",
                    self.label_names[i], t[i]
                ));
            }
        }
        Ok(())
    }

    /// Whether the pool is a multi-label project's (independent per-label probabilities).
    pub fn is_multi_label(&self) -> bool {
        self.thresholds.is_some()
    }

    /// Rows not yet labeled by an expert.
    pub fn unlabeled(&self) -> usize {
        self.labeled.iter().filter(|l| !**l).count()
    }
}

/// An owned pool (what the store loader and the generator produce); see [`PoolView`].
#[derive(Debug, Clone, Default)]
pub struct Pool {
    pub dim: usize,
    pub vectors: Vec<f32>,
    pub keys: Vec<i64>,
    pub labels: Vec<u32>,
    pub probs: Vec<f32>,
    pub label_names: Vec<String>,
    pub labeled: Vec<bool>,
    pub vectors_id: Option<String>,
    /// See [`PoolView::thresholds`].
    pub thresholds: Option<Vec<f64>>,
}

impl Pool {
    pub fn view(&self) -> PoolView<'_> {
        PoolView {
            dim: self.dim,
            vectors: &self.vectors,
            keys: &self.keys,
            labels: &self.labels,
            probs: &self.probs,
            label_names: &self.label_names,
            labeled: &self.labeled,
            vectors_id: self.vectors_id.as_deref(),
            thresholds: self.thresholds.as_deref(),
        }
    }

    /// Read the probabilities as `cfg`'s task says: in a multi-label project each is an
    /// independent probability that its label applies, decided by the label's threshold
    /// (`[[labels]] threshold`, matched by name; the default for a name `cfg` does not
    /// list); otherwise the pool stays single-label.
    pub fn set_task(&mut self, cfg: &Config) {
        self.thresholds = cfg.multi_label.then(|| {
            let by_name = crate::multilabel::thresholds(cfg);
            self.label_names
                .iter()
                .map(|n| {
                    cfg.labels
                        .iter()
                        .position(|l| l.name == *n)
                        .map_or(crate::multilabel::DEFAULT_THRESHOLD, |i| by_name[i])
                })
                .collect()
        });
    }
}

/// A pool read from a project, with what the reader noticed.
pub struct LoadedPool {
    pub pool: Pool,
    /// The model whose predictions were read.
    pub model_id: i64,
    pub warnings: Vec<String>,
}

/// Read the newest model's predictions, the newest embeddings (when `need_vectors`, or when
/// there are any) and the items experts already labeled.
///
/// Errors (as [`Error::Input`]) when there are no predictions, or no embeddings while
/// `need_vectors`; rows without a usable prediction or vector are left out with a warning.
pub fn pool_from_store(store: &Store, need_vectors: bool) -> Result<LoadedPool> {
    let model = store.latest_model()?.ok_or_else(|| {
        Error::Input("no predictions yet: run `hifi prelabel` first (then `hifi embed`)".into())
    })?;
    pool_of_model(store, model, need_vectors)
}

/// [`pool_from_store`] with the predictions of a given model.
pub fn pool_of_model(
    store: &Store,
    model: crate::store::ModelRecord,
    need_vectors: bool,
) -> Result<LoadedPool> {
    let label_names = model.labels.clone();
    let l = label_names.len();
    if l < 2 {
        return Err(Error::Input(format!(
            "model {} scores {l} label(s); mining needs at least two",
            model.id
        )));
    }
    let mut warnings = Vec::new();
    let vectors = match Vectors::open(store, None) {
        Ok(v) => Some(v),
        Err(Error::Input(m)) if !need_vectors => {
            warnings
                .push(format!("{m}; mining without vectors, so near-duplicates are not checked"));
            None
        }
        Err(Error::Input(m)) => {
            return Err(Error::Input(format!(
                "{m} (mining needs embeddings: run `hifi embed` after `hifi prelabel`)"
            )))
        }
        Err(e) => return Err(e),
    };
    let labeled: HashSet<i64> =
        store.current_labels()?.into_iter().map(|(item, _, _)| item).collect();
    let mut pool = Pool { label_names, ..Pool::default() };
    if let Some(v) = &vectors {
        pool.dim = v.dim;
        let (id, _, file) = store.embedding_set_info(None)?.unwrap_or((0, v.dim, String::new()));
        pool.vectors_id = Some(format!("set {id} {file} dim {} tag {}", v.dim, v.tag));
    }
    let (mut bad_probs, mut no_vector, mut bad_vector) = (0usize, 0usize, 0usize);
    let mut vi = 0usize;
    for p in store.predictions(model.id)? {
        let ok = p.probs.len() == l && p.probs.iter().all(|x| x.is_finite());
        if !ok {
            bad_probs += 1;
            continue;
        }
        if let Some(v) = &vectors {
            // Both lists are sorted by item key: a merge join instead of a lookup per item.
            while vi < v.rows.len() && v.rows[vi].0 < p.item {
                vi += 1;
            }
            if vi >= v.rows.len() || v.rows[vi].0 != p.item {
                no_vector += 1;
                continue;
            }
            let row = v.row(v.rows[vi].1);
            if row.iter().any(|x| !x.is_finite()) {
                bad_vector += 1;
                continue;
            }
            pool.vectors.extend_from_slice(&row);
        }
        let (top, _) = p.top();
        pool.keys.push(p.item);
        pool.labels.push(top as u32);
        pool.probs.extend(p.probs.iter().map(|x| *x as f32));
        pool.labeled.push(labeled.contains(&p.item));
    }
    if bad_probs > 0 {
        warnings.push(format!("{bad_probs} predictions have the wrong number of labels or non-finite values; left out (run `hifi prelabel` again)"));
    }
    if no_vector > 0 {
        warnings.push(format!(
            "{no_vector} predicted items have no embedding yet; left out (run `hifi embed`)"
        ));
    }
    if bad_vector > 0 {
        warnings.push(format!("{bad_vector} items have a non-finite embedding; left out"));
    }
    Ok(LoadedPool { pool, model_id: model.id, warnings })
}
