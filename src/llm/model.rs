//! What the stages ask of a model, as small traits: [`Scorer`] (label log-probabilities),
//! [`Embed`] (one vector per text) and [`Generate`] (replies to chats). llama.cpp is the real
//! implementation ([`LabelScorer`], [`Embedder`], [`Engine`]); `super::stand_in` (tests only) is a
//! deterministic one for tests of the logic around the model (quotas, ordering, resume,
//! held-out sets, verdicts). [`Models`] hands a stage the models it needs only once it needs
//! them, so a run that fails its checks never waits for a model to load.

use std::path::Path;

use super::embedder::{Embedded, Embedder};
use super::engine::{Engine, EngineOptions, LlmError};
use super::generate::{GenParams, Generated, Generator};
use super::score::{LabelScorer, Scored};
use crate::error::Result;
use crate::progress::{CancelToken, Progress};

/// Scores the labels of a prompt fixed when the scorer was made, for a batch of item texts.
pub trait Scorer {
    /// Items the scorer evaluates together (callers batch by it).
    fn batch_items(&self) -> usize;
    /// One [`Scored`] per text, in order.
    fn score_batch(&mut self, texts: &[&str]) -> Result<Vec<Scored>, LlmError>;
}

/// Embeds texts as vectors of [`Embed::dim`] floats.
pub trait Embed {
    fn dim(&self) -> usize;
    /// One [`Embedded`] per text, in order.
    fn embed(&mut self, texts: &[&str]) -> Result<Vec<Embedded>, LlmError>;
}

/// Replies to chats: an optional system message and one user message each.
pub trait Generate {
    /// `params.samples` replies to each of `users` (temperature 0: the most likely token at
    /// every step), chat `i`'s drawn from the random stream (`params.seed`, `keys[i]`), so
    /// the same call gives the same replies. `each(i, replies)` gets each chat's replies as
    /// soon as they are ready (to judge them and report progress); an error from it stops the
    /// run.
    fn replies(
        &mut self,
        system: Option<&str>,
        users: &[&str],
        keys: &[u64],
        params: &GenParams,
        cancel: &CancelToken,
        each: &mut dyn FnMut(usize, Vec<Generated>) -> Result<()>,
    ) -> Result<()>;
}

/// The models of a stage, by the path its parameters name, made when first asked for.
pub trait Models {
    /// The model at `model`, to generate with.
    fn generator(&mut self, model: &Path, progress: &mut dyn Progress)
        -> Result<&mut dyn Generate>;
    /// An embedder of up to `n_seq` texts at once with the model at `model`.
    fn embedder(
        &mut self,
        model: &Path,
        n_seq: usize,
        progress: &mut dyn Progress,
    ) -> Result<Box<dyn Embed + '_>>;
}

impl Scorer for LabelScorer<'_> {
    fn batch_items(&self) -> usize {
        LabelScorer::batch_items(self)
    }
    fn score_batch(&mut self, texts: &[&str]) -> Result<Vec<Scored>, LlmError> {
        LabelScorer::score_batch(self, texts)
    }
}

impl Embed for Embedder<'_> {
    fn dim(&self) -> usize {
        self.dim
    }
    fn embed(&mut self, texts: &[&str]) -> Result<Vec<Embedded>, LlmError> {
        Embedder::embed(self, texts)
    }
}

impl<T: Embed + ?Sized> Embed for &mut T {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn embed(&mut self, texts: &[&str]) -> Result<Vec<Embedded>, LlmError> {
        (**self).embed(texts)
    }
}

impl Generate for Engine {
    /// Every chat is tokenized first; one [`Generator`] sized for the longest serves them all.
    fn replies(
        &mut self,
        system: Option<&str>,
        users: &[&str],
        keys: &[u64],
        params: &GenParams,
        cancel: &CancelToken,
        each: &mut dyn FnMut(usize, Vec<Generated>) -> Result<()>,
    ) -> Result<()> {
        let mut prompts = Vec::with_capacity(users.len());
        for u in users {
            prompts.push(self.chat_prompt(system, u)?);
        }
        let longest = prompts.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let mut generator = Generator::new(self, params.clone(), longest)?;
        for (i, (prompt, key)) in prompts.iter().zip(keys).enumerate() {
            each(i, generator.sample(prompt, *key, cancel)?)?;
        }
        Ok(())
    }
}

/// The real [`Models`]: GGUF files loaded into llama.cpp. One engine is held at a time; asking
/// for another file drops it first.
pub struct Engines {
    opts: EngineOptions,
    loaded: Option<Engine>,
    embedder_note: &'static str,
}

impl Engines {
    pub fn new(opts: EngineOptions) -> Self {
        Self { opts, loaded: None, embedder_note: "load" }
    }

    /// What the progress says while an embedding model loads (default "load").
    pub fn embedder_note(self, note: &'static str) -> Self {
        Self { embedder_note: note, ..self }
    }

    /// The engine for `model`, loaded now unless it is the one held. `what` names the load in
    /// the progress ("load", "load embedder").
    fn engine(
        &mut self,
        model: &Path,
        what: &str,
        progress: &mut dyn Progress,
    ) -> Result<&mut Engine> {
        if self.loaded.as_ref().map(|e| e.path.as_path()) != Some(model) {
            self.loaded = None;
            progress.start(what, 0);
            self.loaded = Some(Engine::load(model, self.opts.clone())?);
        }
        Ok(self.loaded.as_mut().expect("loaded above"))
    }
}

impl Models for Engines {
    fn generator(
        &mut self,
        model: &Path,
        progress: &mut dyn Progress,
    ) -> Result<&mut dyn Generate> {
        Ok(self.engine(model, "load", progress)?)
    }

    fn embedder(
        &mut self,
        model: &Path,
        n_seq: usize,
        progress: &mut dyn Progress,
    ) -> Result<Box<dyn Embed + '_>> {
        let engine: &Engine = self.engine(model, self.embedder_note, progress)?;
        Ok(Box::new(Embedder::new(engine, n_seq)?))
    }
}
