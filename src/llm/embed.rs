//! `hifi embed`: one L2-normalised, mean-pooled vector per item, from the prelabeling model
//! or a separate GGUF. Vectors live in a flat little-endian f32 file under `vectors/` (memory
//! mappable: row r is bytes [r·dim·4, (r+1)·dim·4)); the store maps items to rows. Resumable:
//! a row counts only once its mapping is committed, and a torn tail is cut off on the next run.
//!
//! A map faults (SIGBUS) on pages a file no longer has, so a vector file shrinks only under an
//! exclusive `flock` and readers hold a shared one for as long as their map lives. `hifi embed`
//! replaces a file by renaming a new one over it (a reader's map keeps the old inode, unharmed),
//! appends without the lock (a map made at the old length never reaches the new bytes), and cuts
//! a torn tail in place only under the exclusive lock, after the readers are done. A program
//! that cuts the file without taking the lock (`truncate`, `cp` over it) can still fault a reader
//! that is reading at that moment; the next one is told the file is short.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::engine::{Engine, EngineOptions};
use super::model::Embed;
use crate::error::{Error, Result};
use crate::progress::{CancelToken, Progress};
use crate::store::Store;

pub use super::embedder::{l2_normalised, Embedded, Embedder, MAX_EMBED_TOKENS};

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
    /// The vector file was missing, shorter than the store said, or not this set's file: what
    /// was found, and how many rows are embedded again because of it.
    pub repaired: Option<String>,
    pub remaining: u64,
    pub truncated: u64,
    pub tokens: u64,
    pub seconds: f64,
    pub items_per_s: f64,
    pub tokens_per_s: f64,
    pub cancelled: bool,
}

/// Embed every item that has no vector in this model's set yet.
pub fn run(
    store: &mut Store,
    params: &EmbedParams,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<EmbedReport> {
    progress.start("load", 0);
    let engine = Engine::load(&params.model, params.engine.clone())?;
    let sha = store.file_sha256(&params.model).map_err(|e| Error::io(&params.model, e))?;
    let mut embedder = Embedder::new(&engine, params.batch_items.max(1))?;
    run_with(store, params, &sha, &mut embedder, progress, cancel)
}

/// [`run`] on the OpenAI-compatible servers of `backend` (`/v1/embeddings`, model
/// `embed_model`, else `model`). The set is named `openai:<model>`; long items are cut at the
/// same token as locally when `params.model` is a GGUF at hand (its vocabulary only), else at
/// the same byte bound.
pub fn run_http(
    store: &mut Store,
    backend: &crate::config::BackendConfig,
    params: &EmbedParams,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<EmbedReport> {
    use sha2::{Digest, Sha256};
    backend.validate().map_err(Error::Input)?;
    let model = backend.embedding_model().unwrap_or_default().to_string();
    progress.start("load", 0);
    let vocab = if params.model.exists() { Some(Engine::load_vocab(&params.model)?) } else { None };
    let client = super::http::Client::new(backend, cancel.clone())?;
    let mut embedder =
        super::http::HttpEmbedder::new(client, &model, vocab, backend.prompts_per_request)?;
    let sha = hex::encode(Sha256::digest(format!("openai-embeddings\0{model}").as_bytes()));
    let named = EmbedParams { model: PathBuf::from(format!("openai:{model}")), ..params.clone() };
    run_with(store, &named, &sha, &mut embedder, progress, cancel)
}

/// Embed every item that has no vector yet in the set of `params.model` (identified by
/// `sha`) with `embedder`: the stage after its model is loaded.
pub fn run_with(
    store: &mut Store,
    params: &EmbedParams,
    sha: &str,
    embedder: &mut dyn Embed,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<EmbedReport> {
    let dim = embedder.dim();
    if dim == 0 {
        return Err(Error::Input(format!(
            "{} gives vectors of 0 dims: nothing to store",
            params.model.display()
        )));
    }
    let (set_id, rel) = store.embedding_set(&params.model.display().to_string(), sha, dim)?;
    let path = store.root().join(&rel);
    crate::files::prepare_in_project(store.root(), &path).map_err(|e| Error::io(&path, e))?;
    // One writer per vector file: a second `hifi embed` waits rather than interleaving rows.
    let lock_path = path.with_extension("lock");
    let lock = crate::files::open_append(&lock_path).map_err(|e| Error::io(&lock_path, e))?;
    lock.lock().map_err(|e| Error::io(&lock_path, e))?;
    let (mut file, repaired) = open_vector_file(store, set_id, &path, dim, progress, cancel)?;
    let committed = store.embedding_rows(set_id)?;
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
        let out = match embedder.embed(&refs) {
            // Ctrl-C while requests were in flight: the chunk is not written.
            Err(crate::error::LlmError::Cancelled) => {
                cancelled = true;
                break;
            }
            r => r?,
        };
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
        progress.update(
            done,
            &format!("{:.0} tok/s", tokens as f64 / started.elapsed().as_secs_f64().max(1e-9)),
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    progress.finish(&format!("{done} embedded ({dim} dims)"));
    Ok(EmbedReport {
        set_id,
        dim,
        file: rel,
        embedded: done,
        already_done: committed as u64,
        repaired,
        remaining: total - next_row as u64,
        truncated,
        tokens,
        seconds,
        items_per_s: done as f64 / seconds.max(1e-9),
        tokens_per_s: tokens as f64 / seconds.max(1e-9),
        cancelled,
    })
}

/// Bytes before the first row of a vector file: magic, the set's random tag, dim.
pub const HEADER_BYTES: usize = 64;
const MAGIC: &[u8; 8] = b"HIFIVEC1";

fn header(tag: &[u8; 16], dim: usize) -> Vec<u8> {
    let mut h = vec![0u8; HEADER_BYTES];
    h[..8].copy_from_slice(MAGIC);
    h[8..24].copy_from_slice(tag);
    h[24..28].copy_from_slice(&(dim as u32).to_le_bytes());
    h
}

/// Bytes per row of `dim` floats, for a width a header can hold (1 to u32::MAX).
fn row_bytes(dim: usize) -> Option<usize> {
    (dim > 0 && u32::try_from(dim).is_ok()).then(|| dim.checked_mul(4)).flatten()
}

/// What a vector file's first bytes say about it, against the store's record.
enum FileCheck {
    /// This set's file, holding this many whole rows.
    Ours(usize),
    /// No file.
    Missing,
    /// Written before vector files had headers (v3 stores): this many whole rows.
    Legacy(usize),
    /// Some other file: a different tag, dim or no header.
    Foreign(&'static str),
}

fn check_file(
    file: &mut std::fs::File,
    tag: Option<&str>,
    dim: usize,
) -> std::io::Result<FileCheck> {
    use std::io::{Read, Seek};
    let len = file.metadata()?.len() as usize;
    let Some(row) = row_bytes(dim) else {
        return Ok(FileCheck::Foreign("its vectors have a width no vector file has"));
    };
    let Some(tag) = tag else { return Ok(FileCheck::Legacy(len / row)) };
    let mut h = [0u8; HEADER_BYTES];
    file.seek(std::io::SeekFrom::Start(0))?;
    if len < HEADER_BYTES || file.read_exact(&mut h).is_err() || &h[..8] != MAGIC {
        return Ok(FileCheck::Foreign("it has no hifi vector header"));
    }
    if hex::encode(&h[8..24]) != tag {
        return Ok(FileCheck::Foreign("its tag is not this project's (a file from elsewhere)"));
    }
    if u32::from_le_bytes([h[24], h[25], h[26], h[27]]) as usize != dim {
        return Ok(FileCheck::Foreign("its vectors have another width"));
    }
    Ok(FileCheck::Ours((len - HEADER_BYTES) / row))
}

/// Open set `set_id`'s vector file for appending, after checking it is the file the store's
/// rows were written to and holds them all. A missing, foreign or short file is replaced or cut,
/// and the rows it lacks are forgotten so they are embedded again (never read as zeros); a
/// pre-header file is upgraded in place. Returns what was repaired, if anything.
fn open_vector_file(
    store: &mut Store,
    set_id: i64,
    path: &Path,
    dim: usize,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<(std::fs::File, Option<String>)> {
    let io = |e| Error::io(path, e);
    let tag = store.embedding_file_tag(set_id)?;
    let committed = store.embedding_rows(set_id)?;
    let shown = crate::text::inert(&path.display().to_string(), false);
    let found = match crate::files::open_read(path) {
        Ok(mut f) => {
            use std::os::unix::fs::MetadataExt;
            if f.metadata().map_err(io)?.nlink() > 1 {
                return Err(Error::Input(format!("{shown} has other hard links; hifi writes only its own files inside a project (remove the other links, or the file to embed again)")));
            }
            check_file(&mut f, tag.as_deref(), dim).map_err(io)?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => FileCheck::Missing,
        Err(e) => return Err(io(e)),
    };
    let (keep, why, legacy_rows) = match found {
        FileCheck::Ours(rows) if rows >= committed => (committed, None, 0),
        FileCheck::Ours(rows) => {
            (rows, Some(format!("{shown} holds {rows} of the store's {committed} vectors")), 0)
        }
        FileCheck::Missing => (0, (committed > 0).then(|| format!("{shown} is missing")), 0),
        FileCheck::Foreign(what) => {
            (0, Some(format!("{shown} is not this project's vector file: {what}")), 0)
        }
        FileCheck::Legacy(rows) => (rows.min(committed), None, rows.min(committed)),
    };
    let fresh = !matches!(found, FileCheck::Ours(_));
    let new_tag: [u8; 16] = rand::random();
    if fresh {
        // The store first: a crash between the two leaves a tag no file has, which the next run
        // treats as foreign (embeds again) rather than trusting a file it did not check.
        store.reset_embedding_file(set_id, &hex::encode(new_tag), keep)?;
        crate::files::write_with(path, true, |f| {
            f.write_all(&header(&new_tag, dim))?;
            if legacy_rows > 0 {
                let mut old = crate::files::open_read(path)?;
                std::io::copy(
                    &mut std::io::Read::take(&mut old, (legacy_rows * dim * 4) as u64),
                    f,
                )?;
            }
            Ok(())
        })
        .map_err(io)?;
    } else if keep < committed {
        store.reset_embedding_file(set_id, tag.as_deref().unwrap_or_default(), keep)?;
    }
    let file = crate::files::open_append(path).map_err(io)?;
    // Cut a torn tail (rows written but never committed); never extend.
    let end = (HEADER_BYTES + keep * dim * 4) as u64;
    if file.metadata().map_err(io)?.len() > end {
        lock_to_cut(&file, path, &shown, progress, cancel)?;
        let len = file.metadata().map_err(io)?.len();
        if len < end {
            return Err(Error::Input(format!("{shown} shrank to {len} bytes while hifi checked it (another program writes it?); run `hifi embed` again")));
        }
        file.set_len(end).map_err(io)?;
        file.unlock().map_err(io)?;
    }
    let repaired = why.map(|w| format!("{w}; embedding {} items again", committed - keep));
    Ok((file, repaired))
}

/// Take the exclusive lock on a vector file before cutting it in place: a reader's map of the
/// pages cut would fault. Readers hold their shared lock while they copy rows out, so this waits
/// briefly; Ctrl-C ends the wait with the file untouched.
fn lock_to_cut(
    file: &std::fs::File,
    path: &Path,
    shown: &str,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<()> {
    let mut waiting = false;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(path, e)),
        }
        if cancel.is_cancelled() {
            return Err(Error::Cancelled(format!("nothing was embedded; {shown} is as it was")));
        }
        if !waiting {
            waiting = true;
            progress.start("wait", 0);
            progress.update(0, &format!("{shown} is being read by another hifi (mining, select); embedding starts when it is done"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if waiting {
        progress.finish(&format!("{shown}: its readers are done"));
    }
    Ok(())
}

/// Store vectors made elsewhere as a new embedding set named `model` (`sha` identifies it):
/// `flat` holds one row of `dim` floats per key, in `keys`' order. Written like `hifi embed`
/// writes: the file first (atomically, with its header), then the rows in one transaction.
pub fn put_vectors(
    store: &mut Store,
    model: &str,
    sha: &str,
    dim: usize,
    keys: &[i64],
    flat: &[f32],
) -> Result<i64> {
    if dim == 0 || flat.len() != keys.len() * dim {
        return Err(Error::Input(format!(
            "{} floats for {} items of {dim} dims",
            flat.len(),
            keys.len()
        )));
    }
    let (set_id, rel) = store.embedding_set(model, sha, dim)?;
    if store.embedding_rows(set_id)? > 0 {
        return Err(Error::Input(format!(
            "embedding set {set_id} ({model}) already holds vectors"
        )));
    }
    let path = store.root().join(&rel);
    crate::files::prepare_in_project(store.root(), &path).map_err(|e| Error::io(&path, e))?;
    let tag: [u8; 16] = rand::random();
    store.reset_embedding_file(set_id, &hex::encode(tag), 0)?;
    crate::files::write_with(&path, true, |f| {
        let mut bytes = header(&tag, dim);
        bytes.extend(flat.iter().flat_map(|x| x.to_le_bytes()));
        f.write_all(&bytes)
    })
    .map_err(|e| Error::io(&path, e))?;
    let rows: Vec<(i64, i64, bool)> =
        keys.iter().enumerate().map(|(r, k)| (*k, r as i64, false)).collect();
    store.put_embedding_rows(set_id, &rows)?;
    Ok(set_id)
}

/// The vectors of one embedding set, memory-mapped.
pub struct Vectors {
    map: memmap2::Mmap,
    /// Holds the shared lock that keeps `hifi embed` from cutting the file under the map; declared
    /// after `map`, so it is closed (and the lock let go) only once the map is gone.
    _locked: std::fs::File,
    pub dim: usize,
    /// The file's random tag: changes whenever the file is made anew.
    pub tag: String,
    /// (item key, row), by item key.
    pub rows: Vec<(i64, usize)>,
}

impl Vectors {
    /// Open the newest embedding set of the project (or `set_id`), checking that its file is the
    /// one the store's rows were written to and holds them all.
    pub fn open(store: &Store, set_id: Option<i64>) -> Result<Self> {
        let (id, dim, rel) = store
            .embedding_set_info(set_id)?
            .ok_or_else(|| Error::Input("no embeddings yet: run `hifi embed` first".into()))?;
        let path = store.root().join(rel);
        let shown = crate::text::inert(&path.display().to_string(), false);
        let rows = store.embedding_row_map(id)?;
        let tag = store.embedding_file_tag(id)?;
        let repair = |what: String| {
            Error::Input(format!(
                "{shown}: {what}; run `hifi embed` to embed the missing vectors again"
            ))
        };
        let mut file = match crate::files::open_read(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(repair(format!("missing (the store has {} vectors in it)", rows.len())))
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        let Some(row) = row_bytes(dim) else {
            return Err(Error::Input(format!("{shown}: the store gives its vectors {dim} dims, a width no vector file has (hifi.db was changed outside hifi: restore it from a backup)")));
        };
        // hifi numbers a set's rows 0, 1, … in the order it writes them.
        if let Some((key, r)) = rows.iter().find(|r| r.1 >= rows.len()) {
            let r = *r as i64;
            return Err(Error::Input(format!("{shown}: the store puts item {key} at row {r} of {} (hifi.db was changed outside hifi: restore it from a backup)", rows.len())));
        }
        let need = rows.iter().map(|r| r.1 + 1).max().unwrap_or(0);
        // Shared until the map is dropped: whatever cuts the file waits for it, so the length
        // checked here is the length mapped and read.
        lock_shared(&file).map_err(|e| Error::io(&path, e))?;
        match check_file(&mut file, tag.as_deref(), dim).map_err(|e| Error::io(&path, e))? {
            FileCheck::Ours(n) if n >= need => {}
            FileCheck::Ours(n) => return Err(repair(format!("holds {n} of the {need} vectors the store says"))),
            FileCheck::Missing => unreachable!("the file was opened"),
            FileCheck::Legacy(_) => return Err(Error::Input(format!("{shown} was written by an older hifi: run `hifi embed` to upgrade it (nothing is embedded again)"))),
            FileCheck::Foreign(what) => return Err(repair(format!("not this project's vector file ({what})"))),
        }
        // SAFETY: committed rows never change; the file is appended to, or cut past its committed
        // rows under the exclusive lock our shared one excludes (see the module docs). Only a
        // program that ignores the lock can shrink it under the map.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(&path, e))?;
        if map.len() < HEADER_BYTES + need * row {
            return Err(repair(format!(
                "holds {} of the {need} vectors the store says (it shrank while being opened)",
                map.len().saturating_sub(HEADER_BYTES) / row
            )));
        }
        Ok(Self { map, _locked: file, dim, tag: tag.unwrap_or_default(), rows })
    }

    /// Row `r` as f32s.
    pub fn row(&self, r: usize) -> Vec<f32> {
        let at = HEADER_BYTES + r * self.dim * 4;
        let b = &self.map[at..at + self.dim * 4];
        b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    }

    /// The vector of item `key`, if embedded.
    pub fn get(&self, key: i64) -> Option<Vec<f32>> {
        self.rows.binary_search_by_key(&key, |r| r.0).ok().map(|i| self.row(self.rows[i].1))
    }
}

/// `flock(LOCK_SH)`, again when a signal interrupts the wait.
fn lock_shared(file: &std::fs::File) -> std::io::Result<()> {
    loop {
        match file.lock_shared() {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

/// Cosine similarity of two L2-normalised vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
