//! Set builders (METHODS.md §2–4): `hifi select betr` (documents matched to target examples),
//! `hifi select limo` (a few hundred hard-but-solvable prompts with their best responses) and
//! `hifi self-train` (ReST-EM). Each saves its set in the store with the reasons for every
//! entry; experts veto entries in the workstation; `hifi export --selection` writes the set
//! with its provenance.

pub mod betr;
pub mod hashed;
pub mod reward;
pub mod rubric;

use std::path::Path;

use crate::error::{Error, Result};
use crate::llm::embed::{l2_normalised, Embedder, Vectors};
use crate::progress::{CancelToken, Progress};
use crate::store::Store;

/// L2-normalised vectors of `keys` from the embedding model `model_sha`: rows `hifi embed`
/// already stored are read, the rest are embedded now (and not stored: a selection's sample
/// is small and `hifi embed` owns the vector file).
pub(crate) fn item_vectors(
    store: &Store,
    model_sha: &str,
    embedder: &mut Embedder<'_>,
    keys: &[i64],
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<(Vec<Vec<f32>>, usize)> {
    let stored = match store.embedding_set_for(model_sha)? {
        Some(id) => Some(Vectors::open(store, Some(id))?),
        None => None,
    };
    let mut out: Vec<Option<Vec<f32>>> = keys.iter().map(|k| stored.as_ref().and_then(|v| v.get(*k))).collect();
    let missing: Vec<usize> = (0..keys.len()).filter(|i| out[*i].is_none()).collect();
    progress.start("embed sample", missing.len() as u64);
    for (done, chunk) in missing.chunks(64).enumerate() {
        if cancel.is_cancelled() {
            return Err(Error::Llm(crate::llm::LlmError::Cancelled));
        }
        let mut texts = Vec::with_capacity(chunk.len());
        for &i in chunk {
            texts.push(store.item(keys[i])?.map(|it| it.text).unwrap_or_default());
        }
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        for (&i, e) in chunk.iter().zip(embedder.embed(&refs)?) {
            out[i] = Some(l2_normalised(&e.vector));
        }
        progress.update((done * 64 + chunk.len()) as u64, "");
    }
    progress.finish(&format!("{} embedded now, {} from the store", missing.len(), keys.len() - missing.len()));
    Ok((out.into_iter().map(Option::unwrap_or_default).collect(), missing.len()))
}

/// Every item key of the project, in key order.
pub(crate) fn all_keys(store: &Store) -> Result<Vec<i64>> {
    let mut st = store.conn().prepare("SELECT key FROM items ORDER BY key")?;
    let rows = st.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// "10%" or "0.1" → 0.1; a share in (0, 1].
pub fn parse_share(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|x| x / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("{s:?} is not a share: write 10% or 0.1"))?;
    if v > 0.0 && v <= 1.0 {
        Ok(v)
    } else {
        Err(format!("{s:?} is outside (0, 100%]"))
    }
}

pub(crate) fn shown(path: &Path) -> String {
    crate::text::inert(&path.display().to_string(), false)
}

#[cfg(test)]
mod tests {
    #[test]
    fn shares_parse_as_percent_or_fraction() {
        assert_eq!(super::parse_share("10%"), Ok(0.1));
        assert_eq!(super::parse_share(" 0.3 "), Ok(0.3));
        assert!(super::parse_share("0%").is_err());
        assert!(super::parse_share("150%").is_err());
        assert!(super::parse_share("ten").unwrap_err().contains("not a share"));
    }
}
