//! The stages that fill the store: import, prelabel (the LLM's label probabilities) and embed.

use std::path::{Path, PathBuf};

use super::{settle, shown, Project, Stage, Summary};
use crate::error::Result;
use crate::io::import::{import_items, ImportOptions, ImportReport};
use crate::io::Format;
use crate::llm::embed::{self, EmbedParams, EmbedReport};
use crate::llm::prelabel::{self, PrelabelParams, PrelabelReport};
use crate::llm::EngineOptions;
use crate::progress::{CancelToken, Progress};
use crate::text::inert;

/// A file to import into the project.
#[derive(Debug, Clone, Default)]
pub struct ImportRequest {
    pub file: PathBuf,
    /// Format; `None`: from the extension.
    pub format: Option<Format>,
    /// Field with the text; `None`: `text`.
    pub text_field: Option<String>,
    /// Field with the id; `None`: `id` when present, else `<file stem>-<line>`.
    pub id_field: Option<String>,
    /// Field with a gold label; `None`: `gold` when present.
    pub gold_field: Option<String>,
    /// Multi-label projects: the separator of a gold label set given as a string (default `,`).
    pub label_sep: Option<char>,
}

/// The field an import reads the text from unless told otherwise.
pub const DEFAULT_TEXT_FIELD: &str = "text";

/// Import a CSV or JSONL file (a prompt pool, or chat, alpaca or sharegpt): all rows or none.
pub fn import(
    dir: &Path,
    r: &ImportRequest,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<Summary<ImportReport>> {
    settle(Stage::Import, || {
        let Project { cfg, mut store, .. } = Project::open(dir)?;
        let opts = ImportOptions {
            format: r.format,
            text_field: r.text_field.clone().unwrap_or_else(|| DEFAULT_TEXT_FIELD.into()),
            id_field: r.id_field.clone(),
            gold_field: r.gold_field.clone(),
            labels: cfg.label_names(),
            multi_label: cfg.multi_label,
            label_sep: r.label_sep,
        };
        let rep = import_items(&mut store, &r.file, &opts, progress, cancel)?;
        let line = format!(
            "imported {} items{} from {} ({}{} with gold labels{}) in {:.1}s",
            rep.rows,
            match rep.responses {
                0 => String::new(),
                n => format!(" with {n} candidate responses"),
            },
            shown(&r.file),
            match (rep.format.as_str(), rep.container.as_str()) {
                ("csv" | "jsonl", _) => String::new(),
                (f, "parquet") if f != "parquet" => format!("{f}, parquet; "),
                (f, _) => format!("{f}; "),
            },
            rep.with_gold,
            match (rep.generated_ids, rep.container.as_str()) {
                (false, _) => "",
                (true, "parquet") => ", ids generated from file name and row",
                (true, _) => ", ids generated from file name and line",
            },
            rep.seconds
        );
        let mut s = Summary::new(Stage::Import, rep, false);
        s.line(line);
        Ok(s)
    })
}

/// The model settings a user may override (each `None` keeps hifi.toml's).
#[derive(Debug, Clone, Default)]
pub struct EngineOverrides {
    /// GGUF model; `None`: `[model] path` (for embeddings `[model] embed_path`, else the model).
    pub model: Option<PathBuf>,
    pub threads: Option<usize>,
    pub gpu_layers: Option<crate::llm::GpuLayers>,
}

impl EngineOverrides {
    pub(super) fn options(&self, cfg: &crate::config::Config) -> EngineOptions {
        EngineOptions {
            threads: self.threads.unwrap_or_else(|| cfg.threads()),
            gpu_layers: self.gpu_layers.unwrap_or(cfg.model.gpu_layers),
        }
    }
}

/// Where the LLM work runs, over `[backend]` (each `None` / empty keeps hifi.toml's).
#[derive(Debug, Clone, Default)]
pub struct BackendOverrides {
    pub kind: Option<crate::config::BackendKind>,
    /// Server base URLs; any given means the openai backend unless `kind` says otherwise.
    pub urls: Vec<String>,
    pub model: Option<String>,
    pub in_flight: Option<usize>,
    pub prompts_per_request: Option<usize>,
}

impl BackendOverrides {
    /// `[backend]` with these overrides, checked.
    pub fn resolve(
        &self,
        b: &crate::config::BackendConfig,
    ) -> Result<crate::config::BackendConfig> {
        use crate::config::BackendKind;
        let mut b = b.clone();
        if !self.urls.is_empty() {
            b.urls = self.urls.clone();
            b.kind = BackendKind::Openai;
        }
        if let Some(k) = self.kind {
            b.kind = k;
        }
        if let Some(m) = &self.model {
            b.model = Some(m.clone());
        }
        b.in_flight = self.in_flight.unwrap_or(b.in_flight);
        b.prompts_per_request = self.prompts_per_request.unwrap_or(b.prompts_per_request);
        b.validate().map_err(crate::error::Error::Input)?;
        Ok(b)
    }
}

/// Where a stage runs, for its summary: "" locally, " on openai:MODEL (N servers)" otherwise.
fn on_backend(b: &crate::config::BackendConfig, model: Option<&str>) -> String {
    match b.kind {
        crate::config::BackendKind::Local => String::new(),
        crate::config::BackendKind::Openai => format!(" on {}", b.describe(model)),
    }
}

#[derive(Debug, Clone, Default)]
pub struct PrelabelOverrides {
    pub engine: EngineOverrides,
    pub backend: BackendOverrides,
    /// A LoRA adapter (GGUF) on top of the model.
    pub adapter: Option<PathBuf>,
    /// Score at most this many items this run.
    pub limit: Option<usize>,
}

impl PrelabelOverrides {
    /// The checked parameters: these overrides over hifi.toml.
    pub fn params(&self, cfg: &crate::config::Config, dir: &Path) -> PrelabelParams {
        let base = PrelabelParams::from_config(cfg, dir);
        PrelabelParams {
            model: self.engine.model.clone().unwrap_or(base.model),
            adapter: self.adapter.clone(),
            limit: self.limit,
            engine: self.engine.options(cfg),
        }
    }
}

/// Score every label for every item not scored yet by this model, adapter and prompt.
pub fn prelabel(
    dir: &Path,
    o: &PrelabelOverrides,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<Summary<PrelabelReport>> {
    settle(Stage::Prelabel, || {
        let Project { mut cfg, mut store, .. } = Project::open(dir)?;
        cfg.backend = o.backend.resolve(&cfg.backend)?;
        let params = o.params(&cfg, dir);
        let rep = match cfg.backend.kind {
            crate::config::BackendKind::Local => {
                prelabel::run(&mut store, &cfg, &params, progress, cancel)?
            }
            crate::config::BackendKind::Openai => {
                prelabel::run_http(&mut store, &cfg, &params, progress, cancel)?
            }
        };
        let line = format!(
            "prelabeled {} items{} in {:.1}s ({:.1} items/s, {:.0} tokens/s); {} already done, {} truncated, {} remaining{}",
            rep.scored,
            on_backend(&cfg.backend, cfg.backend.model.as_deref()),
            rep.seconds,
            rep.items_per_s,
            rep.tokens_per_s,
            rep.already_done,
            rep.truncated,
            rep.remaining,
            if rep.cancelled { " (cancelled: run again to resume)" } else { "" }
        );
        let mut s = Summary::new(Stage::Prelabel, rep.clone(), rep.cancelled);
        s.line(line);
        Ok(s)
    })
}

#[derive(Debug, Clone, Default)]
pub struct EmbedOverrides {
    pub engine: EngineOverrides,
    pub backend: BackendOverrides,
    /// Embed at most this many items this run.
    pub limit: Option<usize>,
}

impl EmbedOverrides {
    pub fn params(&self, cfg: &crate::config::Config, dir: &Path) -> EmbedParams {
        let base = EmbedParams::from_config(cfg, dir);
        EmbedParams {
            model: self.engine.model.clone().unwrap_or(base.model),
            limit: self.limit,
            engine: self.engine.options(cfg),
            ..base
        }
    }
}

/// One vector per item not embedded yet by this model.
pub fn embed(
    dir: &Path,
    o: &EmbedOverrides,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<Summary<EmbedReport>> {
    settle(Stage::Embed, || {
        let Project { mut cfg, mut store, .. } = Project::open(dir)?;
        cfg.backend = o.backend.resolve(&cfg.backend)?;
        let params = o.params(&cfg, dir);
        let rep = match cfg.backend.kind {
            crate::config::BackendKind::Local => embed::run(&mut store, &params, progress, cancel)?,
            crate::config::BackendKind::Openai => {
                embed::run_http(&mut store, &cfg.backend, &params, progress, cancel)?
            }
        };
        let line = format!(
            "embedded {} items{} ({} dims) in {:.1}s ({:.1} items/s); {} already done, {} truncated, {} remaining{}",
            rep.embedded,
            on_backend(&cfg.backend, cfg.backend.embedding_model()),
            rep.dim,
            rep.seconds,
            rep.items_per_s,
            rep.already_done,
            rep.truncated,
            rep.remaining,
            if rep.cancelled { " (cancelled: run again to resume)" } else { "" }
        );
        let mut s = Summary::new(Stage::Embed, rep.clone(), rep.cancelled);
        s.line(line);
        if let Some(r) = &rep.repaired {
            s.notes.push(format!("repaired: {}", inert(r, false)));
        }
        Ok(s)
    })
}
