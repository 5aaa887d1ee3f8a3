//! Loading a GGUF (and optionally a LoRA adapter) into llama.cpp.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaLoraAdapter, LlamaModel};
use llama_cpp_2::token::LlamaToken;

use super::gguf::{self, GgufInfo};
use super::prompt::{example_slot, item_bytes, TEXT_SLOT};

use super::device::{self, backend, GpuLayers, Placement};
pub use crate::error::LlmError;

/// How to run llama.cpp.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub threads: usize,
    pub gpu_layers: GpuLayers,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self { threads: crate::config::default_threads(), gpu_layers: GpuLayers::Auto }
    }
}

/// A loaded model, with an optional LoRA adapter applied to every context made from it.
pub struct Engine {
    pub model: LlamaModel,
    pub path: PathBuf,
    pub info: GgufInfo,
    pub opts: EngineOptions,
    /// Where the model runs (CPU, or which GPU with how many layers).
    pub placement: Placement,
    // RefCell: applying an adapter to a context needs `&mut` on it, while contexts borrow the
    // model shared.
    adapter: std::cell::RefCell<Option<LlamaLoraAdapter>>,
    adapter_path: Option<PathBuf>,
}

impl Engine {
    /// Load `path`, checking first that it is a readable GGUF.
    pub fn load(path: &Path, opts: EngineOptions) -> Result<Self, LlmError> {
        let shown = crate::text::inert(&path.display().to_string(), false);
        if !path.exists() {
            return Err(LlmError::Model(format!(
                "{shown}: model file not found (run scripts/setup.sh for the default model, or set [model] path in hifi.toml)"
            )));
        }
        let info = gguf::inspect(path).map_err(LlmError::Model)?;
        if info.file_type.as_deref() == Some("adapter") {
            return Err(LlmError::Model(format!(
                "{shown}: this is a LoRA adapter, not a model; pass it with --adapter"
            )));
        }
        let backend = backend()?;
        let placement = device::place(
            opts.gpu_layers,
            &device::gpus()?,
            info.bytes,
            info.n_layers,
            device::why_no_gpu,
        )?;
        if let Some(note) = &placement.note {
            device::say_once(note);
        }
        let params = LlamaModelParams::default().with_n_gpu_layers(placement.layers);
        let model = LlamaModel::load_from_file(backend, path, &params).map_err(|_| {
            match &placement.gpu {
                Some(g) => LlmError::Model(format!(
                    "{shown}: llama.cpp could not load this GGUF onto GPU {} ({:.1} GiB free): if the GPU ran out of memory, lower [model] gpu_layers in hifi.toml (or --gpu-layers; now {}), else the file is corrupt or its architecture {:?} unsupported",
                    crate::text::inert(&g.name, false),
                    g.memory_free as f64 / (1u64 << 30) as f64,
                    placement.layers.min(placement.of.unwrap_or(u32::MAX)),
                    info.architecture.as_deref().unwrap_or("?")
                )),
                None => LlmError::Model(format!("{shown}: llama.cpp could not load this GGUF (corrupt, truncated, or an unsupported architecture {:?})", info.architecture.as_deref().unwrap_or("?"))),
            }
        })?;
        Ok(Self {
            model,
            path: path.to_path_buf(),
            info,
            opts,
            placement,
            adapter: Default::default(),
            adapter_path: None,
        })
    }

    /// Load only `path`'s vocabulary and metadata (tokenizer, chat template): what the
    /// OpenAI-compatible backend needs to render prompts as the local engine does, without the
    /// weights.
    pub fn load_vocab(path: &Path) -> Result<Self, LlmError> {
        let shown = crate::text::inert(&path.display().to_string(), false);
        if !path.exists() {
            return Err(LlmError::Model(format!(
                "{shown}: model file not found; the openai backend reads the chat template and tokenizer from it (set [model] path to the GGUF of the served model, or [backend] template = \"chatml\" or \"llama3\")"
            )));
        }
        let info = gguf::inspect(path).map_err(LlmError::Model)?;
        let params = LlamaModelParams::default().with_vocab_only(true);
        let model = LlamaModel::load_from_file(backend()?, path, &params).map_err(|_| {
            LlmError::Model(format!("{shown}: llama.cpp could not read this GGUF's vocabulary"))
        })?;
        Ok(Self {
            model,
            path: path.to_path_buf(),
            info,
            opts: EngineOptions { gpu_layers: GpuLayers::CPU, ..EngineOptions::default() },
            placement: Placement { gpu: None, more_gpus: 0, layers: 0, of: None, note: None },
            adapter: Default::default(),
            adapter_path: None,
        })
    }

    /// Load a LoRA adapter; every context made afterwards applies it (scale 1).
    pub fn set_adapter(&mut self, path: &Path) -> Result<(), LlmError> {
        gguf::check_adapter(path, &self.info).map_err(LlmError::Model)?;
        let a = self.model.lora_adapter_init(path).map_err(|e| {
            LlmError::Model(format!(
                "{}: llama.cpp refused the adapter: {e}",
                crate::text::inert(&path.display().to_string(), false)
            ))
        })?;
        self.adapter = std::cell::RefCell::new(Some(a));
        self.adapter_path = Some(path.to_path_buf());
        Ok(())
    }

    pub fn adapter_path(&self) -> Option<&Path> {
        self.adapter_path.as_deref()
    }

    /// A context with this engine's threads and adapter.
    pub fn context(&self, params: LlamaContextParams) -> Result<LlamaContext<'_>, LlmError> {
        let threads = self.opts.threads.max(1) as i32;
        let params = params.with_n_threads(threads).with_n_threads_batch(threads);
        let backend = backend()?;
        let mut ctx = self
            .model
            .new_context(backend, params)
            .map_err(|e| match &self.placement.gpu {
                Some(g) => LlmError::Engine(format!(
                    "cannot create a context on GPU {}: {e}; if the GPU ran out of memory, lower [model] batch_items (a batch's items share one context) or gpu_layers in hifi.toml",
                    crate::text::inert(&g.name, false)
                )),
                None => LlmError::Engine(format!("cannot create a context: {e}")),
            })?;
        if let Some(a) = self.adapter.borrow_mut().as_mut() {
            ctx.lora_adapter_set(a, 1.0)
                .map_err(|e| LlmError::Engine(format!("cannot apply the adapter: {e}")))?;
        }
        Ok(ctx)
    }

    /// Tokens of plain text: no BOS, and special-token strings inside it stay plain text
    /// (an item cannot inject `<|im_end|>`).
    pub fn tokenize_text(&self, text: &str) -> Vec<LlamaToken> {
        self.model.vocab().tokenize(text.as_bytes(), false, false)
    }

    /// Tokens of template text (special tokens parsed); `bos`: add BOS if the model wants one.
    pub fn tokenize_template(&self, text: &str, bos: bool) -> Vec<LlamaToken> {
        self.model.vocab().tokenize(text.as_bytes(), bos, true)
    }

    /// An item's tokens as scored and trained: its text cut to [`item_bytes`]`(max)` bytes,
    /// tokenized as plain text, cut to `max` tokens, then the prompt suffix. Also says whether
    /// the text was cut.
    pub fn item_tokens(
        &self,
        text: &str,
        max: usize,
        suffix: &[LlamaToken],
    ) -> (Vec<LlamaToken>, bool) {
        let (text, cut) = crate::text::cut_bytes(text, item_bytes(max));
        let mut toks = self.tokenize_text(text);
        let truncated = cut || toks.len() > max;
        toks.truncate(max);
        toks.extend_from_slice(suffix);
        (toks, truncated)
    }

    pub fn n_ctx_train(&self) -> u32 {
        self.model.n_ctx_train()
    }

    pub fn n_vocab(&self) -> usize {
        self.model.n_vocab().max(0) as usize
    }

    /// The model's chat template applied to `[system, user]` with the assistant turn opened,
    /// split where the item text goes: (shared prefix, text after the item).
    pub fn prompt_parts(
        &self,
        system: &str,
        user_with_slot: &str,
    ) -> Result<(PromptPrefix, String), LlmError> {
        self.prompt_parts_with(system, user_with_slot, &[], 0)
    }

    /// [`Engine::prompt_parts`] for a system message holding data: `data[i]` (a few-shot
    /// example's text) goes where `system` has [`example_slot`]`(i)`. The data is tokenized as
    /// plain text and cut like an item, to `max_data_tokens`; only the template's own text is
    /// parsed for special tokens, so an example cannot open or close a turn.
    pub fn prompt_parts_with(
        &self,
        system: &str,
        user_with_slot: &str,
        data: &[&str],
        max_data_tokens: usize,
    ) -> Result<(PromptPrefix, String), LlmError> {
        let (rendered, suffix) =
            self.split_at_slot(&[("system", system), ("user", user_with_slot)], true)?;
        let mut prefix = PromptPrefix::default();
        let mut rest = rendered.as_str();
        for (i, d) in data.iter().enumerate() {
            let slot = example_slot(i);
            let at = rest.find(&slot).ok_or_else(|| {
                LlmError::Engine("the chat template dropped a few-shot example".into())
            })?;
            prefix.push_template(self, &rest[..at]);
            let (cut, _) = crate::text::cut_bytes(d, item_bytes(max_data_tokens));
            prefix.text.push_str(cut);
            prefix.tokens.extend(self.item_tokens(cut, max_data_tokens, &[]).0);
            rest = &rest[at + slot.len()..];
        }
        prefix.push_template(self, rest);
        Ok((prefix, suffix))
    }

    /// A prefix of template text only (tests, benchmarks).
    pub fn template_prefix(&self, text: &str) -> PromptPrefix {
        let mut prefix = PromptPrefix::default();
        prefix.push_template(self, text);
        prefix
    }

    /// Generate up to `max` tokens greedily after `prompt` (the naive baseline uses it).
    pub(crate) fn greedy(
        &self,
        ctx: &mut LlamaContext<'_>,
        prompt: &[LlamaToken],
        max: usize,
    ) -> Result<String, LlmError> {
        use llama_cpp_2::llama_batch::LlamaBatch;
        ctx.clear_kv_cache();
        let n_batch = ctx.n_batch() as usize;
        let mut batch = LlamaBatch::new(n_batch, 1);
        let mut pos = 0usize;
        for chunk in prompt.chunks(n_batch) {
            batch.clear();
            for (i, t) in chunk.iter().enumerate() {
                let last = pos + i + 1 == prompt.len();
                batch
                    .add(*t, (pos + i) as i32, &[0], last)
                    .map_err(|e| LlmError::Engine(e.to_string()))?;
            }
            ctx.decode(&mut batch).map_err(|e| LlmError::Engine(e.to_string()))?;
            pos += chunk.len();
        }
        let vocab = self.model.vocab();
        let mut out = Vec::new();
        let mut logits_at = batch.n_tokens() - 1;
        for _ in 0..max {
            let logits = ctx.get_logits_ith(logits_at);
            let next =
                logits.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i)
                    as i32;
            let tok = LlamaToken(next);
            if vocab.is_eog(tok) {
                break;
            }
            out.extend(vocab.token_to_piece(tok, false, None));
            batch.clear();
            batch.add(tok, pos as i32, &[0], true).map_err(|e| LlmError::Engine(e.to_string()))?;
            ctx.decode(&mut batch).map_err(|e| LlmError::Engine(e.to_string()))?;
            pos += 1;
            logits_at = 0;
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

/// A prompt's shared prefix: the chat template's own text (special tokens parsed, BOS if the
/// model wants one) with data spliced in as plain-text tokens.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PromptPrefix {
    /// The prefix as text, data included (what the prompt fingerprint hashes).
    pub text: String,
    pub tokens: Vec<LlamaToken>,
}

impl PromptPrefix {
    fn push_template(&mut self, engine: &Engine, text: &str) {
        let first = self.tokens.is_empty() && self.text.is_empty();
        self.tokens.extend(engine.tokenize_template(text, first));
        self.text.push_str(text);
    }
}

/// Context parameters with an explicit size.
pub fn context_params(n_ctx: u32, n_batch: u32, n_seq: u32) -> LlamaContextParams {
    LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(n_ctx.max(64)))
        .with_n_batch(n_batch)
        .with_n_ubatch(n_batch)
        .with_n_seq_max(n_seq)
        // Separate KV cells per sequence: scores are bit-identical to one-at-a-time scoring
        // (the unified cache moved scores by up to ~0.5 nats with batch composition).
        .with_kv_unified(false)
}

// Chat prompts for generation and the assistant turn to train on (used by `llm::generate`).
impl Engine {
    /// The model's chat template (chatml when the GGUF has none) applied to `messages`
    /// (role, content); `add_ass` opens the assistant turn.
    fn render_chat(&self, messages: &[(&str, &str)], add_ass: bool) -> Result<String, LlmError> {
        let tmpl = self
            .model
            .chat_template(None)
            .or_else(|_| LlamaChatTemplate::new("chatml"))
            .map_err(|e| LlmError::Engine(format!("no usable chat template: {e}")))?;
        let chat = messages
            .iter()
            .map(|(role, content)| {
                LlamaChatMessage::new((*role).into(), (*content).into()).map_err(|e| {
                    LlmError::Input(format!("a {role} message contains a NUL byte: {e}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.model
            .apply_chat_template(&tmpl, &chat, add_ass)
            .map_err(|e| LlmError::Engine(format!("cannot apply the chat template: {e}")))
    }

    /// `messages` rendered with the slot as the last message's content, split around it.
    fn split_at_slot(
        &self,
        messages: &[(&str, &str)],
        add_ass: bool,
    ) -> Result<(String, String), LlmError> {
        let rendered = self.render_chat(messages, add_ass)?;
        // The slot is in the last message, so its last occurrence is the one to split at.
        let at = rendered.rfind(TEXT_SLOT).ok_or_else(|| {
            LlmError::Engine("the chat template dropped a message's content".into())
        })?;
        Ok((rendered[..at].to_string(), rendered[at + TEXT_SLOT.len()..].to_string()))
    }

    /// The chat template applied to `[system, user]` with the assistant turn opened, as text,
    /// split where the user message has [`TEXT_SLOT`]: for servers that tokenize text.
    pub fn rendered_parts(
        &self,
        system: &str,
        user_with_slot: &str,
    ) -> Result<(String, String), LlmError> {
        self.split_at_slot(&[("system", system), ("user", user_with_slot)], true)
    }

    /// The text that ends an assistant turn after its answer, up to and including the
    /// end-of-generation token: the text form of what [`Engine::chat_completion_tokens`] puts
    /// after the answer.
    pub fn turn_end_text(&self) -> Result<String, LlmError> {
        let probe = "x";
        let all = self.chat_completion_tokens(probe)?;
        let answer = self.tokenize_text(probe).len();
        let bytes = self.model.vocab().detokenize(&all[answer.min(all.len())..], false, true);
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Plain-text tokens back to text (an item cut at a token).
    pub fn plain_text(&self, tokens: &[LlamaToken]) -> String {
        String::from_utf8_lossy(&self.model.vocab().detokenize(tokens, false, false)).into_owned()
    }

    /// The tokens of a chat with an optional system message and one user message, with the
    /// assistant turn opened: the prompt to generate a reply from.
    ///
    /// The template's own text is tokenized with special tokens parsed (and BOS if the model
    /// wants one), the user text as plain text, so a user message cannot close its turn
    /// by containing `<|im_end|>` or similar. With no system message the template decides
    /// (some templates insert a default one).
    pub fn chat_prompt(
        &self,
        system: Option<&str>,
        user: &str,
    ) -> Result<Vec<LlamaToken>, LlmError> {
        let mut messages = Vec::with_capacity(2);
        if let Some(system) = system {
            if system.contains(TEXT_SLOT) {
                return Err(LlmError::Input(
                    "the system message contains hifi's internal slot marker".into(),
                ));
            }
            messages.push(("system", system));
        }
        messages.push(("user", TEXT_SLOT));
        let (prefix, suffix) = self.split_at_slot(&messages, true)?;
        let mut tokens = self.tokenize_template(&prefix, true);
        // A template that writes BOS itself plus the tokenizer adding one gives two; models
        // were not trained on that.
        let bos = self.model.vocab().bos();
        if tokens.len() >= 2 && tokens[0] == bos && tokens[1] == bos {
            tokens.remove(0);
        }
        tokens.extend(self.tokenize_text(user));
        tokens.extend(self.tokenize_template(&suffix, false));
        Ok(tokens)
    }

    /// The tokens an assistant turn holds when trained to answer `response`: its plain-text
    /// tokens, then the template's end of turn, cut after its first end-of-generation token
    /// (where generation stops). The end of turn is read from the template, not assumed
    /// chatml; a template whose end of turn has no end-of-generation token gets the model's
    /// EOS, so a trained model learns to stop.
    pub fn chat_completion_tokens(&self, response: &str) -> Result<Vec<LlamaToken>, LlmError> {
        let (_, tail) = self.split_at_slot(&[("user", "?"), ("assistant", TEXT_SLOT)], false)?;
        let vocab = self.model.vocab();
        let mut end = self.tokenize_template(&tail, false);
        match end.iter().position(|t| vocab.is_eog(*t)) {
            Some(i) => end.truncate(i + 1),
            None => {
                end = self.tokenize_template(tail.trim_end(), false);
                let eos = vocab.eos();
                if eos.0 < 0 || !vocab.is_eog(eos) {
                    return Err(LlmError::Model("the chat template ends a turn without an end-of-generation token and the model has no EOS token".into()));
                }
                end.push(eos);
            }
        }
        let mut tokens = self.tokenize_text(response);
        tokens.extend(end);
        Ok(tokens)
    }
}
