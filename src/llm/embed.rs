//! `hifi embed`: one L2-normalised, mean-pooled vector per item, from the prelabeling model
//! or a separate GGUF. Vectors live in a flat little-endian f32 file under `vectors/` (memory
//! mappable: row r is bytes [r·dim·4, (r+1)·dim·4)); the store maps items to rows. Resumable:
//! a row counts only once its mapping is committed, and a torn tail is cut off on the next run.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use llama_cpp_2::context::params::LlamaPoolingType;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use rusqlite::params;

use super::engine::{context_params, Engine, EngineOptions, LlmError};
use crate::error::{Error, Result};
use crate::progress::{CancelToken, Progress};
use crate::store::{now, Store, StoreError};

/// Texts longer than this many tokens are cut before embedding.
pub const MAX_EMBED_TOKENS: usize = 512;

/// Embeds texts with mean pooling. Every text of a batch lies inside one micro-batch
/// (n_ubatch = n_batch): llama.cpp pools only the last micro-batch of a sequence otherwise.
pub struct Embedder<'e> {
    engine: &'e Engine,
    ctx: LlamaContext<'e>,
    batch: LlamaBatch<'static>,
    n_batch: usize,
    n_seq: usize,
    pub dim: usize,
}

/// One embedded text.
pub struct Embedded {
    pub vector: Vec<f32>,
    pub truncated: bool,
    pub tokens: usize,
}

impl<'e> Embedder<'e> {
    pub fn new(engine: &'e Engine, n_seq: usize) -> Result<Self, LlmError> {
        let n_seq = n_seq.clamp(1, 64);
        let n_batch = 2 * MAX_EMBED_TOKENS;
        // Each sequence gets n_ctx / n_seq cells; one text is at most MAX_EMBED_TOKENS.
        let n_ctx = (n_seq * MAX_EMBED_TOKENS).max(n_batch);
        // A unified KV cache: with separate per-sequence caches llama.cpp splits a packed batch
        // into equal per-sequence micro-batches, cutting texts apart (and pooling would then
        // see only a text's last piece).
        let params = context_params(n_ctx as u32, n_batch as u32, n_seq as u32)
            .with_kv_unified(true)
            .with_embeddings(true)
            .with_pooling_type(LlamaPoolingType::Mean);
        let ctx = engine.context(params)?;
        let dim = engine.model.n_embd().max(0) as usize;
        Ok(Self { engine, ctx, batch: LlamaBatch::new(n_batch, 1), n_batch, n_seq, dim })
    }

    /// Embed `texts`, packing as many as fit into each decode.
    pub fn embed(&mut self, texts: &[&str]) -> Result<Vec<Embedded>, LlmError> {
        let mut toks: Vec<(Vec<llama_cpp_2::token::LlamaToken>, bool)> = texts
            .iter()
            .map(|t| {
                let (mut v, cut) = self.engine.item_tokens(t, MAX_EMBED_TOKENS, &[]);
                if v.is_empty() {
                    v = self.engine.tokenize_text(" ");
                }
                (v, cut)
            })
            .collect();
        let mut out = Vec::with_capacity(texts.len());
        let mut start = 0;
        while start < toks.len() {
            let mut end = start;
            let mut used = 0;
            while end < toks.len() && end - start < self.n_seq && used + toks[end].0.len() <= self.n_batch {
                used += toks[end].0.len();
                end += 1;
            }
            self.ctx.clear_kv_cache();
            self.batch.clear();
            for (s, (t, _)) in toks[start..end].iter().enumerate() {
                for (p, tok) in t.iter().enumerate() {
                    self.batch.add(*tok, p as i32, &[s as i32], true).map_err(|e| LlmError::Engine(e.to_string()))?;
                }
            }
            self.ctx.decode(&mut self.batch).map_err(|e| LlmError::Engine(format!("decode failed: {e}")))?;
            for (s, (t, cut)) in toks[start..end].iter_mut().enumerate() {
                let v = self
                    .ctx
                    .embeddings_seq_ith(s as i32)
                    .map_err(|e| LlmError::Engine(format!("no pooled embedding: {e}")))?;
                out.push(Embedded { vector: l2_normalised(v), truncated: *cut, tokens: t.len() });
            }
            start = end;
        }
        Ok(out)
    }
}

pub fn l2_normalised(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| f64::from(*x) * f64::from(*x)).sum::<f64>().sqrt();
    if n > 0.0 {
        v.iter().map(|x| (f64::from(*x) / n) as f32).collect()
    } else {
        v.to_vec()
    }
}

#[derive(Debug, Clone)]
pub struct EmbedParams {
    pub model: PathBuf,
    pub limit: Option<usize>,
    pub batch_items: usize,
    pub engine: EngineOptions,
}

impl EmbedParams {
    /// The project's embedding model and knobs.
    pub fn from_config(cfg: &crate::config::Config, project: &std::path::Path) -> Self {
        Self {
            model: cfg.embed_model_path(project),
            limit: None,
            batch_items: cfg.model.batch_items,
            engine: EngineOptions { threads: cfg.threads(), gpu_layers: cfg.model.gpu_layers },
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct EmbedReport {
    pub set_id: i64,
    pub dim: usize,
    pub file: String,
    pub embedded: u64,
    pub already_done: u64,
    pub remaining: u64,
    pub truncated: u64,
    pub tokens: u64,
    pub seconds: f64,
    pub items_per_s: f64,
    pub tokens_per_s: f64,
    pub cancelled: bool,
}

/// Embed every item that has no vector in this model's set yet.
pub fn run(store: &mut Store, params: &EmbedParams, progress: &mut dyn Progress, cancel: &CancelToken) -> Result<EmbedReport> {
    progress.start("load", 0);
    let engine = Engine::load(&params.model, params.engine.clone())?;
    let sha = store.file_sha256(&params.model).map_err(|e| Error::io(&params.model, e))?;
    let mut embedder = Embedder::new(&engine, params.batch_items.max(1))?;
    let dim = embedder.dim;
    let (set_id, rel) = store.embedding_set(&params.model.display().to_string(), &sha, dim)?;
    let path = store.root().join(&rel);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let mut file = OpenOptions::new().create(true).read(true).append(true).open(&path).map_err(|e| Error::io(&path, e))?;
    // One writer per vector file: a second `hifi embed` waits rather than interleaving rows.
    file.lock().map_err(|e| Error::io(&path, e))?;
    let committed = store.embedding_rows(set_id)?;
    let row_bytes = (dim * 4) as u64;
    file.set_len(committed as u64 * row_bytes).map_err(|e| Error::io(&path, e))?; // cut a torn tail
    let total = store.item_count()? as u64;
    let todo_all = total - committed as u64;
    let todo = params.limit.map_or(todo_all, |l| todo_all.min(l as u64));
    progress.start("embed", todo);
    let started = Instant::now();
    let (mut done, mut truncated, mut tokens) = (0u64, 0u64, 0u64);
    let mut next_row = committed;
    let mut cancelled = false;
    let chunk = (params.batch_items.max(1) * 4).min(256);
    while done < todo {
        if cancel.is_cancelled() {
            cancelled = true;
            break;
        }
        let want = (chunk as u64).min(todo - done) as usize;
        let keys = store.unembedded(set_id, want)?;
        if keys.is_empty() {
            break;
        }
        let mut texts = Vec::with_capacity(keys.len());
        for k in &keys {
            texts.push(store.item(*k)?.map(|i| i.text).unwrap_or_default());
        }
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let out = embedder.embed(&refs)?;
        let mut bytes = Vec::with_capacity(out.len() * dim * 4);
        for e in &out {
            for x in &e.vector {
                bytes.extend_from_slice(&x.to_le_bytes());
            }
        }
        file.write_all(&bytes).map_err(|e| Error::io(&path, e))?;
        file.sync_data().map_err(|e| Error::io(&path, e))?;
        let rows: Vec<(i64, i64, bool)> = keys
            .iter()
            .zip(&out)
            .enumerate()
            .map(|(j, (k, e))| (*k, (next_row + j) as i64, e.truncated))
            .collect();
        store.put_embedding_rows(set_id, &rows)?;
        next_row += rows.len();
        done += keys.len() as u64;
        truncated += out.iter().filter(|e| e.truncated).count() as u64;
        tokens += out.iter().map(|e| e.tokens as u64).sum::<u64>();
        progress.update(done, &format!("{:.0} tok/s", tokens as f64 / started.elapsed().as_secs_f64().max(1e-9)));
    }
    let seconds = started.elapsed().as_secs_f64();
    progress.finish(&format!("{done} embedded ({dim} dims)"));
    Ok(EmbedReport {
        set_id,
        dim,
        file: rel,
        embedded: done,
        already_done: committed as u64,
        remaining: total - next_row as u64,
        truncated,
        tokens,
        seconds,
        items_per_s: done as f64 / seconds.max(1e-9),
        tokens_per_s: tokens as f64 / seconds.max(1e-9),
        cancelled,
    })
}

/// The vectors of one embedding set, memory-mapped.
pub struct Vectors {
    map: memmap2::Mmap,
    pub dim: usize,
    /// (item key, row), by item key.
    pub rows: Vec<(i64, usize)>,
}

impl Vectors {
    /// Open the newest embedding set of the project (or `set_id`).
    pub fn open(store: &Store, set_id: Option<i64>) -> Result<Self> {
        let (id, dim, rel) = store
            .embedding_set_info(set_id)?
            .ok_or_else(|| Error::Input("no embeddings yet: run `hifi embed` first".into()))?;
        let path = store.root().join(rel);
        let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
        // SAFETY: the file is only ever appended to (and a torn tail cut) under an exclusive
        // lock by `hifi embed`; committed rows never change.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(&path, e))?;
        let rows = store.embedding_row_map(id)?;
        let need = rows.iter().map(|r| r.1 + 1).max().unwrap_or(0) * dim * 4;
        if map.len() < need {
            return Err(Error::Input(format!("{}: vector file is shorter than the store says; run `hifi embed` to repair", path.display())));
        }
        Ok(Self { map, dim, rows })
    }

    /// Row `r` as f32s.
    pub fn row(&self, r: usize) -> Vec<f32> {
        let b = &self.map[r * self.dim * 4..(r + 1) * self.dim * 4];
        b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    }

    /// The vector of item `key`, if embedded.
    pub fn get(&self, key: i64) -> Option<Vec<f32>> {
        self.rows.binary_search_by_key(&key, |r| r.0).ok().map(|i| self.row(self.rows[i].1))
    }
}

impl Store {
    /// The set for this model (created if new): (id, vector file relative to the project).
    pub fn embedding_set(&mut self, model_path: &str, sha: &str, dim: usize) -> Result<(i64, String), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO embedding_sets (model_path, model_sha256, dim, file, created_at) VALUES (?1, ?2, ?3, '', ?4)",
                params![model_path, sha, dim as i64, now()],
            )?;
            let (id, d): (i64, i64) = tx.query_row("SELECT id, dim FROM embedding_sets WHERE model_sha256 = ?1", [sha], |r| Ok((r.get(0)?, r.get(1)?)))?;
            if d as usize != dim {
                return Err(StoreError::Invalid(format!("embedding set {id} has {d} dims, the model gives {dim}")));
            }
            let file = format!("vectors/emb-{id}.f32");
            tx.execute("UPDATE embedding_sets SET file = ?1 WHERE id = ?2", params![file, id])?;
            Ok((id, file))
        })
    }

    /// The embedding set made with the model whose file hashes to `sha`, if any.
    pub fn embedding_set_for(&self, sha: &str) -> Result<Option<i64>, StoreError> {
        match self.conn().query_row("SELECT id FROM embedding_sets WHERE model_sha256 = ?1", [sha], |r| r.get(0)) {
            Ok(id) => Ok(Some(id)),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }

    /// (id, dim, file) of `set_id`, or of the newest set.
    pub fn embedding_set_info(&self, set_id: Option<i64>) -> Result<Option<(i64, usize, String)>, StoreError> {
        let sql = "SELECT id, dim, file FROM embedding_sets WHERE (?1 IS NULL OR id = ?1) ORDER BY id DESC LIMIT 1";
        let r = self.conn().query_row(sql, [set_id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)? as usize, r.get(2)?)));
        match r {
            Ok(v) => Ok(Some(v)),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }

    pub fn embedding_rows(&self, set_id: i64) -> Result<usize, StoreError> {
        self.conn()
            .query_row("SELECT count(*) FROM embedding_rows WHERE set_id = ?1", [set_id], |r| r.get::<_, i64>(0))
            .map(|n| n as usize)
            .map_err(|e| self.err(e))
    }

    pub fn embedding_row_map(&self, set_id: i64) -> Result<Vec<(i64, usize)>, StoreError> {
        let mut st = self.conn().prepare("SELECT item, row FROM embedding_rows WHERE set_id = ?1 ORDER BY item").map_err(|e| self.err(e))?;
        let rows = st.query_map([set_id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)? as usize))).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    fn unembedded(&self, set_id: i64, limit: usize) -> Result<Vec<i64>, StoreError> {
        let mut st = self
            .conn()
            .prepare_cached(
                "SELECT key FROM items i WHERE NOT EXISTS (SELECT 1 FROM embedding_rows e WHERE e.set_id = ?1 AND e.item = i.key)
                 ORDER BY key LIMIT ?2",
            )
            .map_err(|e| self.err(e))?;
        let rows = st.query_map(params![set_id, limit as i64], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    fn put_embedding_rows(&mut self, set_id: i64, rows: &[(i64, i64, bool)]) -> Result<(), StoreError> {
        self.write(|tx| {
            let mut st = tx.prepare_cached("INSERT INTO embedding_rows (set_id, item, row, truncated) VALUES (?1, ?2, ?3, ?4)")?;
            for (item, row, cut) in rows {
                st.execute(params![set_id, item, row, cut])?;
            }
            Ok(())
        })
    }
}

/// Cosine similarity of two L2-normalised vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

