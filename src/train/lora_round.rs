//! A project's LoRA round: the expert train split, tokenized exactly as prelabeling scores
//! it (the same prefix, item truncation, suffix and label tokens), trained into an adapter
//! under `adapters/round-N/`, checked by loading it into llama.cpp, with a manifest.

use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::job::{run_job, JobOutcome, TrainJob, TrainerCommand, JOB_VERSION};
use super::model::Example;
use super::trainer::LoraParams;
use super::TrainError;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::llm::{prelabel, prompt, Engine, EngineOptions};
use crate::multilabel;
use crate::progress::{CancelToken, Progress};
use crate::store::Store;

/// How to train a round's adapter.
#[derive(Debug, Clone)]
pub struct LoraRun {
    pub params: LoraParams,
    /// Continue from this adapter (the last round's) instead of the base.
    pub continue_from: Option<PathBuf>,
    pub trainer: TrainerCommand,
    pub threads: usize,
    /// Use this adapter instead of training one (a round whose prelabeling was
    /// interrupted, or an adapter trained by hand).
    pub use_adapter: Option<PathBuf>,
}

/// The record written beside each adapter (`adapter.json`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub adapter: PathBuf,
    pub adapter_sha256: String,
    pub base_model: PathBuf,
    pub base_sha256: String,
    pub architecture: String,
    pub trainer: String,
    pub rank: usize,
    pub alpha: f32,
    pub targets: Vec<super::Target>,
    pub params: LoraParams,
    pub continued_from: Option<PathBuf>,
    pub train_size: usize,
    /// sha256 over the train items' ids and labels and the prompt.
    pub train_set_sha256: String,
    pub prompt_sha256: String,
    pub round: Option<i64>,
    pub seconds: f64,
    pub peak_rss_mb: Option<f64>,
    pub first_loss: Option<f64>,
    pub final_loss: Option<f64>,
    /// Filled in after the round is evaluated.
    pub scores: Option<serde_json::Value>,
}

impl Manifest {
    pub fn path_for(adapter: &Path) -> PathBuf {
        adapter.with_extension("json")
    }

    pub fn write(&self) -> Result<()> {
        let path = Self::path_for(&self.adapter);
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        crate::files::write_atomic(&path, text.as_bytes()).map_err(|e| Error::io(&path, e))
    }
}

/// What training one round's adapter produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AdapterRun {
    pub adapter: PathBuf,
    pub manifest: Manifest,
    pub job: JobOutcome,
    /// An existing adapter was used, not trained: its folder is left as it is.
    pub adopted: bool,
}

impl From<TrainError> for Error {
    fn from(e: TrainError) -> Self {
        match e {
            TrainError::Io(m) => Error::Io(m),
            TrainError::Cancelled => {
                Error::Cancelled("training was cancelled: no adapter was written".into())
            }
            other => Error::Input(other.to_string()),
        }
    }
}

/// The prompt as the trainer sees it: the shared prefix and each label's answer (its tokens and
/// the template's end of turn), with the suffix that follows every item — the tokens
/// prelabeling scores.
pub struct PromptTokens {
    pub prefix: Vec<u32>,
    suffix: Vec<llama_cpp_2::token::LlamaToken>,
    labels: Vec<Vec<u32>>,
}

impl PromptTokens {
    pub fn new(
        engine: &Engine,
        prefix: &crate::llm::PromptPrefix,
        suffix: &str,
        labels: &[String],
    ) -> Result<Self> {
        let ids = |t: Vec<llama_cpp_2::token::LlamaToken>| {
            t.iter().map(|t| t.0 as u32).collect::<Vec<u32>>()
        };
        if let Some(l) = labels.iter().find(|l| engine.tokenize_text(l).is_empty()) {
            return Err(Error::Input(format!("label {l:?} tokenizes to nothing with this model")));
        }
        // The label then the end of turn, as scored: the adapter learns to end the answer
        // after the label, so "click" does not keep "clickbait"'s mass.
        let label_tokens = labels
            .iter()
            .map(|l| Ok(ids(engine.chat_completion_tokens(l)?)))
            .collect::<Result<Vec<Vec<u32>>>>()?;
        Ok(Self {
            prefix: ids(prefix.tokens.clone()),
            suffix: engine.tokenize_template(suffix, false),
            labels: label_tokens,
        })
    }

    /// `text` answered with label `label`: the item cut to `max_item_tokens`, the suffix,
    /// then the label's tokens and the end of turn (the loss is on those).
    pub fn example(
        &self,
        engine: &Engine,
        text: &str,
        label: usize,
        max_item_tokens: usize,
    ) -> Example {
        let (toks, _) = engine.item_tokens(text, max_item_tokens, &self.suffix);
        let mut tokens: Vec<u32> = toks.iter().map(|t| t.0 as u32).collect();
        let n_prompt = tokens.len();
        tokens.extend(&self.labels[label]);
        Example { tokens, n_prompt }
    }
}

/// A multi-label project's answers as the trainer sees them: per label, the tokens of
/// `multilabel::answer(label, applies)` and the end of turn, for "no" and for "yes", and how
/// many of them spell `"{label}:"` — the part the answer shares whichever way it goes.
pub struct AnswerTokens {
    /// Per label: [the "no" answer, the "yes" answer].
    answers: Vec<[Vec<u32>; 2]>,
    /// Per label: the leading tokens both answers share (`"{label}:"`), outside the loss.
    heads: Vec<usize>,
}

impl AnswerTokens {
    pub fn new(engine: &Engine, labels: &[String]) -> Result<Self> {
        let ids = |t: Vec<llama_cpp_2::token::LlamaToken>| {
            t.iter().map(|t| t.0 as u32).collect::<Vec<u32>>()
        };
        let mut answers = Vec::with_capacity(labels.len());
        let mut heads = Vec::with_capacity(labels.len());
        for l in labels {
            if engine.tokenize_text(l).is_empty() {
                return Err(Error::Input(format!(
                    "label {l:?} tokenizes to nothing with this model"
                )));
            }
            let no = ids(engine.chat_completion_tokens(&multilabel::answer(l, false))?);
            let yes = ids(engine.chat_completion_tokens(&multilabel::answer(l, true))?);
            // The loss falls on what the scorer reads: the tokens after the shared
            // `"{label}:"` (yes or no, then the end of turn).
            let head = ids(engine.tokenize_text(&format!("{l}:")));
            let shared = yes.iter().zip(&no).take_while(|(a, b)| a == b).count();
            let n =
                if yes.starts_with(&head) && no.starts_with(&head) { head.len() } else { shared };
            heads.push(n.min(shared));
            answers.push([no, yes]);
        }
        Ok(Self { answers, heads })
    }
}

impl PromptTokens {
    /// `text` answered about label `label` of a multi-label project: the item cut to
    /// `max_item_tokens`, the suffix, then `"{label}: yes"` or `"{label}: no"` and the end of
    /// turn; the loss is on the yes or no and the end of turn, not on the label's name.
    pub fn example_multi(
        &self,
        engine: &Engine,
        answers: &AnswerTokens,
        text: &str,
        label: usize,
        applies: bool,
        max_item_tokens: usize,
    ) -> Example {
        let (toks, _) = engine.item_tokens(text, max_item_tokens, &self.suffix);
        let mut tokens: Vec<u32> = toks.iter().map(|t| t.0 as u32).collect();
        let n_prompt = tokens.len() + answers.heads[label];
        tokens.extend(&answers.answers[label][usize::from(applies)]);
        Example { tokens, n_prompt }
    }
}

/// Create a new run folder `<adapters>/<stamp>` (or `<stamp>-2`, `-3`, … when that is
/// taken, as by a run started in the same second) and return its name. The folder is
/// created exclusively, so two runs never share one.
pub fn claim_run_dir(adapters: &Path, stamp: &str) -> Result<String> {
    // Never through a link: the folder is created inside the project or not at all.
    if let Some(project) = adapters.parent() {
        crate::files::prepare_in_project(project, &adapters.join(stamp))
            .map_err(|e| Error::io(adapters, e))?;
    }
    std::fs::create_dir_all(adapters).map_err(|e| Error::io(adapters, e))?;
    for n in 1..10_000 {
        let name = if n == 1 { stamp.to_string() } else { format!("{stamp}-{n}") };
        let dir = adapters.join(&name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(name),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(&dir, e)),
        }
    }
    Err(Error::Io(format!("{}: no free run folder named {stamp}-N", adapters.display())))
}

/// Train an adapter on `train` ((item, label index) pairs) into `adapters/<name>/`.
#[allow(clippy::too_many_arguments)]
pub fn train_adapter(
    store: &mut Store,
    cfg: &Config,
    name: &str,
    round: Option<i64>,
    train: &[(i64, usize)],
    run: &LoraRun,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<AdapterRun> {
    if train.is_empty() {
        return Err(Error::Input("no expert labels in the train split yet: label some items (`hifi review`) before training".into()));
    }
    let root = store.root().to_path_buf();
    let base = cfg.model_path(&root);
    progress.start("tokenize", train.len() as u64);
    let engine = Engine::load(
        &base,
        EngineOptions { threads: run.threads, gpu_layers: crate::llm::GpuLayers::CPU },
    )?;
    let base_sha = store.file_sha256(&base).map_err(|e| Error::io(&base, e))?;
    let prepared = prelabel::prepare_prompt(&engine, store, cfg, &base_sha, None)?;
    let labels = cfg.label_names();
    let tokens = PromptTokens::new(&engine, &prepared.prefix, &prepared.suffix, &labels)?;
    let few_shot = prompt::few_shot_examples(store, cfg)?;
    let mut examples = Vec::with_capacity(train.len());
    let mut records = Vec::with_capacity(train.len());
    let mut h = Sha256::new();
    h.update(format!("{}\0", prepared.prompt_sha256));
    for (k, &(item, li)) in train.iter().enumerate() {
        let text = store.item(item)?.map(|i| i.text).unwrap_or_default();
        examples.push(tokens.example(&engine, &text, li, cfg.model.max_item_tokens));
        records.push(prompt::chat_record(cfg, &few_shot, &text, &labels[li]));
        h.update(format!("{item}:{};", labels[li]));
        if k % 64 == 63 {
            progress.update(k as u64 + 1, "");
        }
    }
    drop(engine);
    let set = TrainSet {
        prefix: tokens.prefix,
        examples,
        records,
        sha256: hex::encode(h.finalize()),
        prompt_sha256: prepared.prompt_sha256,
    };
    train_set(store, &base, &base_sha, name, round, set, run, progress, cancel)
}

/// [`train_adapter`] for a multi-label project: `train` is (item, one flag per label: does it
/// apply); each item gives one example per label, answered as the multi-label scorer reads it
/// ([`PromptTokens::example_multi`]), and one chat record per label
/// (`prompt::chat_records_multi`).
#[allow(clippy::too_many_arguments)]
pub fn train_adapter_multi(
    store: &mut Store,
    cfg: &Config,
    name: &str,
    round: Option<i64>,
    train: &[(i64, Vec<bool>)],
    run: &LoraRun,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<AdapterRun> {
    if train.is_empty() {
        return Err(Error::Input("no expert labels in the train split yet: label some items (`hifi review`) before training".into()));
    }
    let labels = cfg.label_names();
    if let Some((item, f)) = train.iter().find(|(_, f)| f.len() != labels.len()) {
        return Err(Error::Input(format!(
            "item {item}: {} label flags for {} labels",
            f.len(),
            labels.len()
        )));
    }
    let root = store.root().to_path_buf();
    let base = cfg.model_path(&root);
    progress.start("tokenize", train.len() as u64);
    let engine = Engine::load(
        &base,
        EngineOptions { threads: run.threads, gpu_layers: crate::llm::GpuLayers::CPU },
    )?;
    let base_sha = store.file_sha256(&base).map_err(|e| Error::io(&base, e))?;
    let prepared = prelabel::prepare_prompt(&engine, store, cfg, &base_sha, None)?;
    let tokens = PromptTokens::new(&engine, &prepared.prefix, &prepared.suffix, &labels)?;
    let answers = AnswerTokens::new(&engine, &labels)?;
    let few_shot = prompt::few_shot_examples(store, cfg)?;
    let mut examples = Vec::with_capacity(train.len() * labels.len());
    let mut records = Vec::with_capacity(train.len() * labels.len());
    let mut h = Sha256::new();
    h.update(format!("multi-label\0{}\0", prepared.prompt_sha256));
    for (k, (item, flags)) in train.iter().enumerate() {
        let text = store.item(*item)?.map(|i| i.text).unwrap_or_default();
        for (j, &applies) in flags.iter().enumerate() {
            examples.push(tokens.example_multi(
                &engine,
                &answers,
                &text,
                j,
                applies,
                cfg.model.max_item_tokens,
            ));
        }
        let set: Vec<String> =
            labels.iter().zip(flags).filter(|(_, &on)| on).map(|(l, _)| l.clone()).collect();
        records.extend(prompt::chat_records_multi(cfg, &few_shot, &text, &set));
        h.update(format!("{item}:{};", multilabel::encode(&set)));
        if k % 64 == 63 {
            progress.update(k as u64 + 1, "");
        }
    }
    drop(engine);
    let set = TrainSet {
        prefix: tokens.prefix,
        examples,
        records,
        sha256: hex::encode(h.finalize()),
        prompt_sha256: prepared.prompt_sha256,
    };
    train_set(store, &base, &base_sha, name, round, set, run, progress, cancel)
}

/// Examples ready for a trainer, with the hashes the manifest records.
pub struct TrainSet {
    /// Tokens every example starts with (evaluated once per step).
    pub prefix: Vec<u32>,
    pub examples: Vec<Example>,
    /// The same examples as chat messages, for external trainers.
    pub records: Vec<serde_json::Value>,
    /// sha256 over what the examples were built from.
    pub sha256: String,
    pub prompt_sha256: String,
}

/// Train an adapter for `base` on `set` into `adapters/<name>/`, check that llama.cpp loads
/// it, and write its manifest.
#[allow(clippy::too_many_arguments)]
pub fn train_set(
    store: &mut Store,
    base: &Path,
    base_sha: &str,
    name: &str,
    round: Option<i64>,
    set: TrainSet,
    run: &LoraRun,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<AdapterRun> {
    let t0 = Instant::now();
    let train_size = set.examples.len();
    let dir = store.root().join("adapters").join(name);
    let adapter = dir.join("adapter.gguf");
    crate::files::prepare_in_project(store.root(), &adapter).map_err(|e| Error::io(&adapter, e))?;
    let job = TrainJob {
        version: JOB_VERSION,
        base_model: base.to_path_buf(),
        output: adapter.clone(),
        init_adapter: run.continue_from.clone(),
        params: run.params.clone(),
        threads: run.threads,
        prefix: set.prefix,
        examples: set.examples,
        records: set.records,
    };
    let outcome = run_job(&job, &dir.join("job.json"), &run.trainer, progress, cancel)?;
    let (architecture, rank, alpha, targets) =
        check_adapter(base, &adapter, run.threads, progress)?;
    let manifest = Manifest {
        adapter_sha256: store.file_sha256(&adapter).map_err(|e| Error::io(&adapter, e))?,
        adapter: adapter.clone(),
        base_model: base.to_path_buf(),
        base_sha256: base_sha.to_string(),
        architecture,
        trainer: match &run.trainer {
            TrainerCommand::Builtin(_) => "lora".into(),
            TrainerCommand::External(cmd) => format!("external: {cmd}"),
        },
        rank,
        alpha,
        targets,
        params: run.params.clone(),
        continued_from: run.continue_from.clone(),
        train_size,
        train_set_sha256: set.sha256,
        prompt_sha256: set.prompt_sha256,
        round,
        seconds: t0.elapsed().as_secs_f64(),
        peak_rss_mb: outcome.peak_rss_mb,
        first_loss: outcome.steps.first().map(|s| s.loss),
        final_loss: outcome.steps.last().map(|s| s.loss),
        scores: None,
    };
    manifest.write()?;
    Ok(AdapterRun { adapter, manifest, job: outcome, adopted: false })
}

/// The adapter must load into the engine before it is used or recorded. Returns its
/// (architecture, rank, alpha, targets).
fn check_adapter(
    base: &Path,
    adapter: &Path,
    threads: usize,
    progress: &mut dyn Progress,
) -> Result<(String, usize, f32, Vec<super::Target>)> {
    progress.start("check adapter", 0);
    let mut engine =
        Engine::load(base, EngineOptions { threads, gpu_layers: crate::llm::GpuLayers::CPU })?;
    engine.set_adapter(adapter)?;
    let architecture = engine.info.architecture.clone().unwrap_or_default();
    drop(engine);
    let (rank, alpha, targets) = super::lora::describe(adapter)?;
    progress.finish("llama.cpp loads it");
    Ok((architecture, rank, alpha, targets))
}

/// Use an existing adapter for round `round` instead of training one.
pub fn adopt_adapter(
    store: &mut Store,
    cfg: &Config,
    adapter: &Path,
    round: i64,
    train_size: usize,
    run: &LoraRun,
    progress: &mut dyn Progress,
) -> Result<AdapterRun> {
    let base = cfg.model_path(store.root());
    let (architecture, rank, alpha, targets) =
        check_adapter(&base, adapter, run.threads, progress)?;
    let manifest = Manifest {
        adapter: adapter.to_path_buf(),
        adapter_sha256: store.file_sha256(adapter).map_err(|e| Error::io(adapter, e))?,
        base_sha256: store.file_sha256(&base).map_err(|e| Error::io(&base, e))?,
        base_model: base,
        architecture,
        trainer: "adopted".into(),
        rank,
        alpha,
        targets,
        params: run.params.clone(),
        continued_from: None,
        train_size,
        train_set_sha256: String::new(),
        prompt_sha256: String::new(),
        round: Some(round),
        seconds: 0.0,
        peak_rss_mb: None,
        first_loss: None,
        final_loss: None,
        scores: None,
    };
    Ok(AdapterRun {
        adapter: adapter.to_path_buf(),
        manifest,
        job: JobOutcome::default(),
        adopted: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_folders_started_in_the_same_second_never_collide() {
        let dir = tempfile::tempdir().unwrap();
        let adapters = dir.path().join("adapters");
        let names: Vec<String> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|_| s.spawn(|| claim_run_dir(&adapters, "train-20260101-000000").unwrap()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 8, "{names:?}");
        assert!(
            names.contains(&"train-20260101-000000".to_string())
                && names.contains(&"train-20260101-000000-8".to_string()),
            "{names:?}"
        );
        assert!(names.iter().all(|n| adapters.join(n).is_dir()));
        // A file where the adapters folder should be: a clear error naming it.
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let e = claim_run_dir(&file, "t").unwrap_err().to_string();
        assert!(e.contains(&file.display().to_string()), "{e}");
    }
}
