//! The OpenAI-compatible backend: prelabeling and embedding handed to servers built for scale
//! (vLLM, SGLang, the llama-cpp-python server), reached over HTTP. hifi stays the coordinator:
//! the store, batches committed one at a time, resume, review.
//!
//! Labels are scored teacher-forced, as the local engine scores them: for each label, the
//! prompt `prefix | item | suffix | label | end of turn` goes to `/v1/completions` with
//! `echo: true, logprobs: 1, max_tokens: 1`, and the log-probabilities of the tokens from the
//! label's first character to the end of the prompt are summed. The tokenizer is the server's:
//! the label's tokens are found by `text_offset` (the offsets are in the server's own text of
//! the echoed tokens, where a special token may read as its text or as nothing), and a token
//! that straddles the label's first character is an error, not a guess. The scores are then
//! calibrated and normalised over the labels exactly as the local engine's ([`super::prelabel`]).
//! A multi-label project's scorer ([`HttpScorer::per_label`]) sends each label's two answers,
//! `{label}: yes` and `{label}: no`, without the end of turn, and takes the label's log-odds
//! from their summed log-probabilities, the same numbers the local engine computes
//! ([`super::score::LabelScorer::per_label`]).
//!
//! Requests run on `in_flight` threads spread over the URLs; a request that fails for a passing
//! reason (refused connection, timeout, HTTP 408/429/5xx) is retried with exponential backoff,
//! or after the wait a 429/503's `Retry-After` asks for. How many requests are in flight at once
//! adapts to the servers: the limit starts at `in_flight`, halves on a sign of overload (a
//! timeout, HTTP 429, 503 or 504) and grows back by one after as many successes in a row as the
//! limit; threads past it wait in hifi rather than queue at a server. A server that computes one
//! request at a time would otherwise see its queued requests time out and be sent again while it
//! still computes the abandoned ones — a retry storm.
//!
//! A response's `choices` (or `data`) are matched to the prompts by their `index`, which must
//! name each prompt exactly once; anything else is an error naming the server, never scores
//! attached to the wrong item.
//!
//! Servers parse special tokens inside prompt text, so data text has its special-token
//! look-alikes (`<|…`, `<s>`, `[INST]`, …) broken by a word joiner before it is sent.

use std::borrow::Cow;

use serde_json::{json, Value};

use super::embedder::{l2_normalised, Embedded, MAX_EMBED_TOKENS};
use super::engine::{Engine, LlmError};
use super::model::{Embed, Scorer};
use super::prompt::item_bytes;
use super::score::{sigmoid, softmax, yes_no_log_odds, Scored};
use crate::config::BackendConfig;

/// What to use instead, said whenever a server cannot score labels.
pub const SCORING_SERVERS: &str = "hifi scores labels teacher-forced and needs the prompt's log-probabilities (`echo` with `logprobs` on /v1/completions): use vLLM, SGLang's OpenAI API, or the llama-cpp-python server started with --logits_all true; llama-server (llama.cpp) cannot (docs/scale-out.md)";

mod client;

pub use client::Client;
use client::*;

/// Special-token look-alikes servers would parse inside prompt text.
const SPECIAL_MARKS: &[&str] = &[
    "<|",
    "|>",
    "<s>",
    "</s>",
    "[INST]",
    "[/INST]",
    "<start_of_turn>",
    "<end_of_turn>",
    "<bos>",
    "<eos>",
    "<unk>",
    "<pad>",
    "<think>",
    "</think>",
];

/// `text` with every special-token look-alike broken by a word joiner (U+2060) after its first
/// character, so a server that parses special tokens in prompt text reads it as plain text.
pub fn inert_specials(text: &str) -> Cow<'_, str> {
    if !SPECIAL_MARKS.iter().any(|m| text.contains(m)) {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_string();
    for m in SPECIAL_MARKS {
        let first = m.chars().next().map_or(0, char::len_utf8);
        out = out.replace(m, &format!("{}\u{2060}{}", &m[..first], &m[first..]));
    }
    Cow::Owned(out)
}

/// The classification prompt as text, rendered with the model's chat template.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptText {
    /// Everything before the item (system message, definitions, examples, the user turn's start).
    pub prefix: String,
    /// Everything after the item up to the assistant's answer.
    pub suffix: String,
    /// What ends the assistant's turn after the label, up to its end-of-generation token.
    pub end_of_turn: String,
}

impl PromptText {
    /// Rendered by the GGUF's own chat template (a vocabulary-only load of the model).
    pub fn from_engine(
        engine: &Engine,
        system: &str,
        user_with_slot: &str,
    ) -> Result<Self, LlmError> {
        let (prefix, suffix) = engine.rendered_parts(system, user_with_slot)?;
        Ok(Self { prefix, suffix, end_of_turn: engine.turn_end_text()? })
    }

    /// Rendered by a template hifi knows by name ([`crate::config::NAMED_TEMPLATES`]). No BOS
    /// text: servers add the model's BOS themselves.
    pub fn named(name: &str, system: &str, user_with_slot: &str) -> Result<Self, LlmError> {
        let (user_pre, user_post) = user_with_slot
            .split_once(super::prompt::TEXT_SLOT)
            .ok_or_else(|| LlmError::Input("the user message has no slot for the item".into()))?;
        match name {
            "chatml" => Ok(Self {
                prefix: format!("<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user_pre}"),
                suffix: format!("{user_post}<|im_end|>\n<|im_start|>assistant\n"),
                end_of_turn: "<|im_end|>".into(),
            }),
            "llama3" => Ok(Self {
                prefix: format!("<|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n{user_pre}"),
                suffix: format!("{user_post}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
                end_of_turn: "<|eot_id|>".into(),
            }),
            other => Err(LlmError::Input(format!(
                "backend.template = {:?}: hifi renders {}",
                crate::text::inert(other, false),
                crate::config::NAMED_TEMPLATES.join(" or ")
            ))),
        }
    }

    /// The whole prompt for `item` answered with `label`.
    pub fn with_answer(&self, item: &str, label: &str) -> String {
        format!("{}{item}{}{label}{}", self.prefix, self.suffix, self.end_of_turn)
    }

    /// The prompt for `item` followed by the start of an answer, `answer`, with no end of turn.
    pub fn with_open_answer(&self, item: &str, answer: &str) -> String {
        format!("{}{item}{}{answer}", self.prefix, self.suffix)
    }
}

/// From one choice of a completion whose prompt ended with `label` then `end_of_turn`: the
/// summed log-probability of the answer's tokens and how many there were.
///
/// The answer's tokens are the prompt's last ones whose text reads exactly the answer — found
/// from the end by the tokens' text, so that the first of them starts at the label's first
/// character (a token straddling it is an error, not a guess). vLLM's `text_offset` says the
/// same; SGLang sends -1 there, so it is not needed. The end of turn may read as its text (vLLM)
/// or as nothing (the llama-cpp-python server renders special tokens empty).
pub fn answer_logprob(
    choice: &Value,
    label: &str,
    end_of_turn: &str,
) -> Result<(f64, usize), String> {
    let lp =
        choice.get("logprobs").filter(|v| !v.is_null()).ok_or("the response has no logprobs")?;
    let tokens: Vec<&str> = lp
        .get("tokens")
        .and_then(Value::as_array)
        .ok_or("the response's logprobs have no tokens")?
        .iter()
        .map(|t| t.as_str().unwrap_or(""))
        .collect();
    let logprobs: Vec<Option<f64>> = lp
        .get("token_logprobs")
        .and_then(Value::as_array)
        .ok_or("the response's logprobs have no token_logprobs")?
        .iter()
        .map(Value::as_f64)
        .collect();
    if tokens.len() != logprobs.len() {
        return Err("the response's tokens and token_logprobs differ in length".into());
    }
    // The generated token (max_tokens 1) follows the prompt's when the server stopped for
    // length; a server that stopped at an end-of-generation token may not list it.
    let generated: &[usize] =
        if choice.get("finish_reason").and_then(Value::as_str) == Some("length") {
            &[1]
        } else {
            &[1, 0]
        };
    for &g in generated {
        let Some(p) = tokens.len().checked_sub(g).filter(|p| *p > 0) else { continue };
        for eot in [end_of_turn, ""] {
            let answer = format!("{label}{eot}");
            // Back from the prompt's end until the tokens read at least the answer's length.
            let (mut k, mut read) = (p, 0usize);
            while k > 0 && read < answer.len() {
                k -= 1;
                read += tokens[k].len();
            }
            if read != answer.len() || tokens[k..p].concat() != answer {
                continue;
            }
            let mut sum = 0.0;
            for (i, l) in logprobs[k..p].iter().enumerate() {
                sum += l.ok_or_else(|| {
                    format!("token {:?} of the answer has no log-probability", tokens[k + i])
                })?;
            }
            return Ok((sum, p - k));
        }
    }
    let tail: Vec<&str> = tokens.iter().rev().take(6).rev().copied().collect();
    Err(format!(
        "the echoed prompt does not end with the answer {:?} starting on a token boundary (its last tokens: {:?}); the label's first token may straddle the text before it",
        crate::text::inert(label, false),
        tail
    ))
}

/// Scores labels through `/v1/completions` ([`Scorer`]).
pub struct HttpScorer {
    client: Client,
    model: String,
    prompt: PromptText,
    labels: Vec<String>,
    /// The model's GGUF vocabulary, when at hand: items are cut at the same token as locally.
    vocab: Option<Engine>,
    max_item_tokens: usize,
    per_request: usize,
    batch_items: usize,
    /// Multi-label: each label's two answers are scored and give its log-odds.
    per_label: bool,
}

impl HttpScorer {
    pub fn new(
        client: Client,
        cfg: &BackendConfig,
        prompt: PromptText,
        labels: Vec<String>,
        vocab: Option<Engine>,
        max_item_tokens: usize,
    ) -> Self {
        let per_request = cfg.prompts_per_request.max(1);
        // Enough items per batch to keep every request slot busy.
        let batch_items = (cfg.in_flight.max(1) * per_request).div_ceil(labels.len().max(1)).max(1);
        Self {
            client,
            model: cfg.model.clone().unwrap_or_default(),
            prompt,
            labels,
            vocab,
            max_item_tokens,
            per_request,
            batch_items,
            per_label: false,
        }
    }

    /// This scorer for a multi-label project: for each label its two answers,
    /// [`crate::multilabel::answer`] `{label}: yes` and `{label}: no`, each teacher-forced
    /// without the end of turn; the label's [`Scored::logprobs`] entry is the log-odds
    /// yes − no and its probability their logistic (independent of the other labels').
    pub fn per_label(mut self) -> Self {
        self.per_label = true;
        // Two prompts per label: as many items per batch as keep the request slots busy.
        self.batch_items = self.batch_items.div_ceil(2).max(1);
        self
    }

    /// The answers sent after each item and the text that follows each: the labels and the
    /// end of turn, or (multi-label) each label's yes and no answers and nothing.
    fn answers(&self) -> (Vec<String>, &str) {
        if self.per_label {
            let answers = self
                .labels
                .iter()
                .flat_map(|l| {
                    [crate::multilabel::answer(l, true), crate::multilabel::answer(l, false)]
                })
                .collect();
            (answers, "")
        } else {
            (self.labels.clone(), &self.prompt.end_of_turn)
        }
    }

    /// The item's text as sent (cut like the local engine cuts it, special look-alikes broken)
    /// and whether it was cut.
    fn item_text<'t>(&self, text: &'t str) -> (Cow<'t, str>, bool) {
        let (text, cut) = match &self.vocab {
            Some(engine) => {
                let (toks, cut) = engine.item_tokens(text, self.max_item_tokens, &[]);
                if cut {
                    (Cow::Owned(engine.plain_text(&toks)), true)
                } else {
                    (Cow::Borrowed(text), false)
                }
            }
            None => {
                let (t, cut) = crate::text::cut_bytes(text, item_bytes(self.max_item_tokens));
                (Cow::Borrowed(t), cut)
            }
        };
        match inert_specials(&text) {
            Cow::Borrowed(_) => (text, cut),
            Cow::Owned(s) => (Cow::Owned(s), cut),
        }
    }

    /// How this scorer failed, with what to use instead when the server never scored a prompt.
    fn explain(&self, e: LlmError) -> LlmError {
        match e {
            LlmError::Server(m) if !self.client.answered() => {
                LlmError::Server(format!("{m}\n{SCORING_SERVERS}"))
            }
            other => other,
        }
    }
}

impl Scorer for HttpScorer {
    fn batch_items(&self) -> usize {
        self.batch_items
    }

    fn score_batch(&mut self, texts: &[&str]) -> Result<Vec<Scored>, LlmError> {
        let (answers, end_of_turn) = self.answers();
        let n_labels = answers.len();
        let per_label = self.per_label;
        let items: Vec<(Cow<str>, bool)> = texts.iter().map(|t| self.item_text(t)).collect();
        let (client, model, prompt_text, labels) =
            (&self.client, &self.model, &self.prompt, &answers);
        // Item-major: a server that keeps the previous prompt's cache reuses the item's tokens.
        let prompts: Vec<(usize, usize, String)> = items
            .iter()
            .enumerate()
            .flat_map(|(i, (text, _))| {
                labels.iter().enumerate().map(move |(l, label)| {
                    let prompt = if per_label {
                        prompt_text.with_open_answer(text, label)
                    } else {
                        prompt_text.with_answer(text, label)
                    };
                    (i, l, prompt)
                })
            })
            .collect();
        let requests: Vec<&[(usize, usize, String)]> = prompts.chunks(self.per_request).collect();
        let answered_first = client.answered();
        let run = |j: usize, url: usize| -> Result<Vec<(usize, usize, f64, usize)>, LlmError> {
            let chunk = requests[j];
            let prompt = if chunk.len() == 1 {
                json!(chunk[0].2)
            } else {
                json!(chunk.iter().map(|c| &c.2).collect::<Vec<_>>())
            };
            let body = json!({
                "model": model, "prompt": prompt, "echo": true, "logprobs": 1,
                "max_tokens": 1, "temperature": 0.0,
            });
            let (v, url_shown) = client.post(url, "/completions", &body)?;
            let bad = |what: String| {
                let hint =
                    if answered_first { String::new() } else { format!("\n{SCORING_SERVERS}") };
                LlmError::Server(format!("{url_shown}: {what}{hint}"))
            };
            let choices = by_index(
                v.get("choices").and_then(Value::as_array).map_or(&[], Vec::as_slice),
                chunk.len(),
                "prompts",
                "choices",
            )
            .map_err(bad)?;
            let prompt_tokens =
                v.pointer("/usage/prompt_tokens").and_then(Value::as_u64).unwrap_or(0) as usize;
            let mut out = Vec::with_capacity(chunk.len());
            for ((i, l, _), choice) in chunk.iter().zip(choices) {
                let (lp, _) = answer_logprob(choice, &labels[*l], end_of_turn).map_err(bad)?;
                out.push((*i, *l, lp, prompt_tokens / chunk.len()));
            }
            Ok(out)
        };
        let done = client.run_jobs(requests.len(), run);
        let done = done.map_err(|e| self.explain(e))?;
        let mut logprobs = vec![vec![0.0f64; n_labels]; texts.len()];
        let mut tokens = vec![0usize; texts.len()];
        for (i, l, lp, t) in done.into_iter().flatten() {
            logprobs[i][l] = lp;
            tokens[i] += t;
        }
        Ok(logprobs
            .into_iter()
            .zip(items)
            .zip(tokens)
            .map(|((lp, (_, truncated)), tokens)| {
                if per_label {
                    let odds: Vec<f64> =
                        lp.chunks(2).map(|yn| yes_no_log_odds(yn[0], yn[1])).collect();
                    Scored {
                        probs: odds.iter().map(|&x| sigmoid(x)).collect(),
                        logprobs: odds,
                        truncated,
                        tokens,
                    }
                } else {
                    Scored { probs: softmax(&lp), logprobs: lp, truncated, tokens }
                }
            })
            .collect())
    }
}

/// Embeds through `/v1/embeddings` ([`Embed`]): L2-normalised; a server that returns one vector
/// per token (the llama-cpp-python server with a model without pooling) is mean-pooled here,
/// as the local engine pools. `[backend] prompts_per_request` texts go in one request (default
/// 1: the llama-cpp-python server returns a wrong vector for the second and later inputs of a
/// request to a model without pooling; vLLM and SGLang take many).
pub struct HttpEmbedder {
    client: Client,
    model: String,
    vocab: Option<Engine>,
    per_request: usize,
    dim: usize,
}

impl HttpEmbedder {
    /// Asks the server once, to learn the vectors' width.
    pub fn new(
        client: Client,
        model: &str,
        vocab: Option<Engine>,
        per_request: usize,
    ) -> Result<Self, LlmError> {
        let mut e = Self {
            client,
            model: model.to_string(),
            vocab,
            per_request: per_request.max(1),
            dim: 0,
        };
        let probe = embed_request(&e.client, &e.model, 0, &["dimension probe".to_string()])?;
        e.dim = probe.first().map_or(0, |(v, _)| v.len());
        if e.dim == 0 {
            return Err(LlmError::Server(format!(
                "{}/embeddings returned an empty vector",
                crate::text::inert(&e.client.urls()[0], false)
            )));
        }
        Ok(e)
    }
}

/// One request: a vector per input, and the tokens the server counted for each.
fn embed_request(
    client: &Client,
    model: &str,
    url: usize,
    inputs: &[String],
) -> Result<Vec<(Vec<f32>, usize)>, LlmError> {
    let (v, shown) = client.post(url, "/embeddings", &json!({"model": model, "input": inputs}))?;
    let bad = |what: &str| LlmError::Server(format!("{shown}: {what}"));
    let data = by_index(
        v.get("data").and_then(Value::as_array).map_or(&[], Vec::as_slice),
        inputs.len(),
        "inputs",
        "data",
    )
    .map_err(|e| bad(&e))?;
    let tokens = v.pointer("/usage/prompt_tokens").and_then(Value::as_u64).unwrap_or(0) as usize
        / inputs.len().max(1);
    data.into_iter()
        .map(|d| {
            let e = d
                .get("embedding")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("an item has no embedding"))?;
            let floats = |row: &[Value]| {
                row.iter().map(|x| x.as_f64().map(|f| f as f32)).collect::<Option<Vec<f32>>>()
            };
            let vector = if e.first().is_some_and(Value::is_array) {
                // One vector per token: mean-pooled.
                let rows = e
                    .iter()
                    .map(|r| r.as_array().and_then(|r| floats(r)))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| bad("an embedding is not numbers"))?;
                let dim = rows.first().map_or(0, Vec::len);
                let mut mean = vec![0f64; dim];
                for r in &rows {
                    for (m, x) in mean.iter_mut().zip(r) {
                        *m += f64::from(*x);
                    }
                }
                mean.iter().map(|m| (m / rows.len().max(1) as f64) as f32).collect()
            } else {
                floats(e).ok_or_else(|| bad("an embedding is not numbers"))?
            };
            Ok((l2_normalised(&vector), tokens))
        })
        .collect()
}

impl Embed for HttpEmbedder {
    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&mut self, texts: &[&str]) -> Result<Vec<Embedded>, LlmError> {
        let cut: Vec<(String, bool)> = texts
            .iter()
            .map(|t| {
                let (text, cut) = match &self.vocab {
                    Some(engine) => {
                        let (toks, cut) = engine.item_tokens(t, MAX_EMBED_TOKENS, &[]);
                        (if cut { engine.plain_text(&toks) } else { t.to_string() }, cut)
                    }
                    None => {
                        let (s, cut) = crate::text::cut_bytes(t, item_bytes(MAX_EMBED_TOKENS));
                        (s.to_string(), cut)
                    }
                };
                // An empty input is refused by some servers; the local engine embeds a space.
                let text = if text.is_empty() {
                    " ".to_string()
                } else {
                    inert_specials(&text).into_owned()
                };
                (text, cut)
            })
            .collect();
        let inputs: Vec<String> = cut.iter().map(|(t, _)| t.clone()).collect();
        let chunks: Vec<&[String]> = inputs.chunks(self.per_request).collect();
        let (client, model) = (&self.client, &self.model);
        let done =
            client.run_jobs(chunks.len(), |j, url| embed_request(client, model, url, chunks[j]))?;
        let dim = self.dim;
        done.into_iter()
            .flatten()
            .zip(cut)
            .map(|((vector, tokens), (_, truncated))| {
                if vector.len() != dim {
                    return Err(LlmError::Server(format!(
                        "the server returned a vector of {} dims after one of {dim}",
                        vector.len()
                    )));
                }
                Ok(Embedded { vector, truncated, tokens })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choice(tokens: &[&str], logprobs: &[Option<f64>], finish: &str) -> Value {
        let mut offsets = Vec::new();
        let mut at = 0;
        for t in tokens {
            offsets.push(at);
            at += t.chars().count();
        }
        json!({"finish_reason": finish, "logprobs": {"tokens": tokens, "text_offset": offsets, "token_logprobs": logprobs}})
    }

    #[test]
    fn the_answer_is_found_whether_the_end_of_turn_reads_as_text_or_as_nothing() {
        // vLLM: special tokens read as their text; then one generated token.
        let c = choice(
            &["<|im_start|>", "assistant", "\n", "click", "bait", "<|im_end|>", "\n"],
            &[None, Some(-1.0), Some(-0.5), Some(-2.0), Some(-0.25), Some(-0.125), Some(-9.0)],
            "length",
        );
        assert_eq!(answer_logprob(&c, "clickbait", "<|im_end|>").unwrap(), (-2.375, 3));
        // llama-cpp-python: special tokens read as "".
        let c = choice(
            &["assistant", "\n", "click", "bait", "", "\n"],
            &[None, Some(-0.5), Some(-2.0), Some(-0.25), Some(-0.125), Some(-9.0)],
            "length",
        );
        assert_eq!(answer_logprob(&c, "clickbait", "<|im_end|>").unwrap(), (-2.375, 3));
    }

    #[test]
    fn a_multi_label_answer_is_read_without_an_end_of_turn() {
        // "Game: yes" teacher-forced after the prompt; the generated token follows it.
        let c = choice(
            &["assistant", "\n", "Game", ":", " yes", "<|im_end|>"],
            &[None, Some(-0.5), Some(-1.0), Some(-0.25), Some(-2.0), Some(-0.1)],
            "length",
        );
        assert_eq!(answer_logprob(&c, "Game: yes", "").unwrap(), (-3.25, 3));
        let p = PromptText::named(
            "chatml",
            "SYS",
            &format!("App:\n{}\n\nQ", super::super::prompt::TEXT_SLOT),
        )
        .unwrap();
        assert!(p.with_open_answer("ITEM", "Game: no").ends_with("assistant\nGame: no"));
    }

    #[test]
    fn text_offsets_are_not_needed() {
        // SGLang sends -1 for every token's text_offset.
        let c = json!({"finish_reason": "length", "logprobs": {
            "tokens": ["\n", "click", "bait", "<|im_end|>", "x"],
            "text_offset": [-1, -1, -1, -1, -1],
            "token_logprobs": [null, -2.0, -0.25, -0.125, -1.0]}});
        assert_eq!(answer_logprob(&c, "clickbait", "<|im_end|>").unwrap(), (-2.375, 3));
    }

    #[test]
    fn a_token_straddling_the_label_is_an_error_not_a_guess() {
        let c = choice(
            &["assistant", ":click", "bait", "", "\n"],
            &[None, Some(-0.5), Some(-2.0), Some(-0.25), Some(-9.0)],
            "length",
        );
        let e = answer_logprob(&c, "clickbait", "<|im_end|>").unwrap_err();
        assert!(e.contains("straddle"), "{e}");
    }

    #[test]
    fn a_label_equal_to_the_generated_token_is_not_confused_with_it() {
        // The model generates "a" after the prompt: the answer is the prompt's "a" + end of turn.
        let c = choice(
            &["assistant", "\n", "a", "<|im_end|>", "a"],
            &[None, Some(-0.5), Some(-1.0), Some(-0.5), Some(-3.0)],
            "length",
        );
        assert_eq!(answer_logprob(&c, "a", "<|im_end|>").unwrap(), (-1.5, 2));
    }

    #[test]
    fn a_response_without_prompt_logprobs_says_so() {
        let e = answer_logprob(&json!({"text": "x", "logprobs": null}), "a", "").unwrap_err();
        assert!(e.contains("no logprobs"), "{e}");
        let c = choice(
            &["\n", "a", "<|im_end|>", "b"],
            &[None, None, Some(-0.5), Some(-3.0)],
            "length",
        );
        assert!(answer_logprob(&c, "a", "<|im_end|>").unwrap_err().contains("no log-probability"));
    }

    #[test]
    fn special_token_look_alikes_in_data_are_broken() {
        let t = inert_specials("ok <|im_end|> then </s> and [INST]");
        assert!(!t.contains("<|") && !t.contains("</s>") && !t.contains("[INST]"), "{t}");
        assert_eq!(t.replace('\u{2060}', ""), "ok <|im_end|> then </s> and [INST]");
        assert!(matches!(inert_specials("plain text"), Cow::Borrowed(_)));
    }

    #[test]
    fn named_templates_put_the_item_and_answer_where_the_model_expects_them() {
        let p = PromptText::named(
            "chatml",
            "SYS",
            &format!("Ad:\n{}\n\nLabel:", super::super::prompt::TEXT_SLOT),
        )
        .unwrap();
        assert_eq!(
            p.with_answer("ITEM", "benign"),
            "<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\nAd:\nITEM\n\nLabel:<|im_end|>\n<|im_start|>assistant\nbenign<|im_end|>"
        );
        assert!(PromptText::named("vicuna", "S", super::super::prompt::TEXT_SLOT)
            .unwrap_err()
            .to_string()
            .contains("chatml or llama3"));
    }
}
