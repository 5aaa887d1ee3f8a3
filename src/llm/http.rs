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
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{json, Value};

use super::embedder::{l2_normalised, Embedded, MAX_EMBED_TOKENS};
use super::engine::{Engine, LlmError};
use super::model::{Embed, Scorer};
use super::prompt::item_bytes;
use super::score::{softmax, Scored};
use crate::config::BackendConfig;
use crate::progress::CancelToken;

/// What to use instead, said whenever a server cannot score labels.
pub const SCORING_SERVERS: &str = "hifi scores labels teacher-forced and needs the prompt's log-probabilities (`echo` with `logprobs` on /v1/completions): use vLLM, SGLang's OpenAI API, or the llama-cpp-python server started with --logits_all true; llama-server (llama.cpp) cannot (README, \"Scale-out\")";

/// A request's failure: worth retrying or not.
enum Failure {
    Passing(String),
    /// The servers have more than they can do (a timeout, HTTP 429, 503 or 504): retried under a
    /// lower limit, after the wait the server asked for, if it did.
    Overload(String, Option<Duration>),
    Final(String),
}

/// The longest `Retry-After` honoured: a server asking for more is asked again after this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// How many requests may be in flight at once, over all URLs: a limit that starts at
/// `[backend] in_flight`, halves (down to 1) when a request sent under it shows overload, and
/// grows back by one after as many successes in a row as the limit. Requests past the limit
/// wait here, where waiting costs no server anything.
struct Throttle {
    most: usize,
    gate: Mutex<Gate>,
    freed: Condvar,
}

struct Gate {
    limit: usize,
    active: usize,
    /// Successes in a row since the limit last changed.
    successes: usize,
    /// Bumped when the limit drops: a request sent before the drop that then fails says
    /// nothing new (the burst it was part of already lowered the limit).
    generation: u64,
    /// How many times the limit dropped.
    drops: usize,
}

/// A request's place under the limit, given back when dropped.
struct Slot<'t> {
    throttle: &'t Throttle,
    generation: u64,
}

impl Throttle {
    fn new(most: usize) -> Self {
        let most = most.max(1);
        Self { most, gate: Mutex::new(Gate { limit: most, active: 0, successes: 0, generation: 0, drops: 0 }), freed: Condvar::new() }
    }

    fn gate(&self) -> MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wait for a place under the limit, waking every 50 ms to notice Ctrl-C.
    fn enter(&self, cancel: &CancelToken) -> Result<Slot<'_>, LlmError> {
        let mut gate = self.gate();
        loop {
            if cancel.is_cancelled() {
                return Err(LlmError::Cancelled);
            }
            if gate.active < gate.limit {
                gate.active += 1;
                return Ok(Slot { throttle: self, generation: gate.generation });
            }
            gate = self.freed.wait_timeout(gate, Duration::from_millis(50)).map(|(g, _)| g).unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// The limit now and how many times it dropped.
    fn state(&self) -> (usize, usize) {
        let gate = self.gate();
        (gate.limit, gate.drops)
    }
}

impl Slot<'_> {
    /// The request succeeded: after as many successes in a row as the limit, one more may go.
    fn succeeded(self) {
        let mut gate = self.throttle.gate();
        gate.successes += 1;
        if gate.successes >= gate.limit && gate.limit < self.throttle.most {
            gate.limit += 1;
            gate.successes = 0;
        }
        // The gate is unlocked before `self` is dropped (giving the place back wakes a waiter).
        drop(gate);
    }

    /// The request showed overload: the limit halves, unless a failure of the same burst
    /// already lowered it. The new limit, when it dropped.
    fn overloaded(self) -> Option<usize> {
        let mut gate = self.throttle.gate();
        gate.successes = 0;
        if gate.generation != self.generation || gate.limit == 1 {
            drop(gate);
            return None;
        }
        gate.limit = (gate.limit / 2).max(1);
        gate.generation += 1;
        gate.drops += 1;
        let limit = gate.limit;
        drop(gate);
        Some(limit)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut gate = self.throttle.gate();
        gate.active = gate.active.saturating_sub(1);
        drop(gate);
        self.throttle.freed.notify_one();
    }
}

/// Requests to one or more OpenAI-compatible servers.
pub struct Client {
    agent: ureq::Agent,
    urls: Vec<String>,
    key: Option<String>,
    retries: u32,
    timeout_s: u64,
    in_flight: usize,
    throttle: Throttle,
    cancel: CancelToken,
    /// Set once a request succeeded: before, an HTTP 500 is the server refusing what hifi asks
    /// (e.g. logprobs from a server without them) and is not retried.
    answered: AtomicBool,
}

impl Client {
    pub fn new(cfg: &BackendConfig, cancel: CancelToken) -> Result<Self, LlmError> {
        cfg.validate().map_err(LlmError::Input)?;
        let key = match &cfg.api_key_env {
            Some(var) => match std::env::var(var) {
                Ok(k) if !k.trim().is_empty() => Some(k.trim().to_string()),
                _ => return Err(LlmError::Input(format!("backend.api_key_env names {var}, which is not set in the environment"))),
            },
            None => None,
        };
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(cfg.timeout_s))
            .max_idle_connections_per_host(cfg.in_flight.max(1))
            .build();
        Ok(Self {
            agent,
            urls: cfg.urls.iter().map(|u| u.trim_end_matches('/').to_string()).collect(),
            key,
            retries: cfg.retries,
            timeout_s: cfg.timeout_s,
            in_flight: cfg.in_flight.max(1),
            throttle: Throttle::new(cfg.in_flight),
            cancel,
            answered: AtomicBool::new(false),
        })
    }

    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// Whether any request has succeeded yet.
    pub fn answered(&self) -> bool {
        self.answered.load(Ordering::SeqCst)
    }

    /// How many requests may be in flight now, and how many times that limit dropped.
    pub fn in_flight_limit(&self) -> (usize, usize) {
        self.throttle.state()
    }

    /// POST `body` to `path` (e.g. `/completions`) of URL `url`, retrying passing failures;
    /// each retry goes to the next URL, so a dead server's share moves to the others. The
    /// response, and the URL that gave it (made inert, for messages).
    pub fn post(&self, url: usize, path: &str, body: &Value) -> Result<(Value, String), LlmError> {
        let text = body.to_string();
        let mut attempt = 0u32;
        loop {
            if self.cancel.is_cancelled() {
                return Err(LlmError::Cancelled);
            }
            let url = format!("{}{path}", self.urls[(url + attempt as usize) % self.urls.len()]);
            let shown = crate::text::inert(&url, false);
            let slot = self.throttle.enter(&self.cancel)?;
            let (message, asked_wait) = match self.send(&url, &shown, &text) {
                Ok(v) => {
                    slot.succeeded();
                    self.answered.store(true, Ordering::SeqCst);
                    return Ok((v, shown));
                }
                Err(Failure::Final(m)) => return Err(LlmError::Server(m)),
                Err(Failure::Passing(m)) => (m, None),
                Err(Failure::Overload(m, asked)) => match slot.overloaded() {
                    Some(limit) => (format!("{m}; the servers are overloaded: requests in flight lowered to {limit} (of `[backend] in_flight` {})", self.in_flight), asked),
                    None => (m, asked),
                },
            };
            if attempt >= self.retries {
                return Err(LlmError::Server(format!("{message} (gave up after {} retries; run again to resume)", self.retries)));
            }
            let wait = asked_wait.unwrap_or_else(|| backoff(attempt));
            tracing::warn!("{message}; retrying in {:.1}s", wait.as_secs_f64());
            self.sleep(wait)?;
            attempt += 1;
        }
    }

    /// One request: the response as JSON, or how it failed (`shown` names the URL).
    fn send(&self, url: &str, shown: &str, text: &str) -> Result<Value, Failure> {
        let timed_out = || Failure::Overload(format!("{shown}: timed out after {} s (raise `[backend] timeout_s`)", self.timeout_s), None);
        let mut req = self.agent.post(url).set("Content-Type", "application/json");
        if let Some(k) = &self.key {
            req = req.set("Authorization", &format!("Bearer {k}"));
        }
        match req.send_string(text) {
            Ok(resp) => match resp.into_string() {
                Ok(body) => serde_json::from_str::<Value>(&body).map_err(|e| Failure::Final(format!("{shown}: the response is not JSON ({e}): {}", snippet(&body)))),
                Err(e) if is_timeout(&e) => Err(timed_out()),
                Err(e) => Err(Failure::Passing(format!("{shown}: reading the response: {e}"))),
            },
            Err(ureq::Error::Status(code, resp)) => {
                let asked = retry_after(resp.header("Retry-After"));
                let body = resp.into_string().unwrap_or_default();
                let msg = format!("{shown}: HTTP {code}: {}", error_message(&body));
                // A gateway's timeout (504) is ours, seen by the proxy in front of the server.
                if matches!(code, 429 | 503 | 504) {
                    Err(Failure::Overload(msg, asked))
                } else if code == 408 || code == 502 || (code >= 500 && self.answered()) {
                    Err(Failure::Passing(msg))
                } else {
                    Err(Failure::Final(msg))
                }
            }
            Err(ureq::Error::Transport(t)) if is_timeout(&t) => Err(timed_out()),
            // Its kind and message only: ureq's own text repeats the URL. A URL that cannot be
            // requested at all is not worth retrying.
            Err(ureq::Error::Transport(t)) => {
                let msg = format!("{shown}: {}{}", t.kind(), t.message().map(|m| format!(": {m}")).unwrap_or_default());
                match t.kind() {
                    ureq::ErrorKind::InvalidUrl | ureq::ErrorKind::UnknownScheme | ureq::ErrorKind::InvalidProxyUrl => Err(Failure::Final(msg)),
                    _ => Err(Failure::Passing(msg)),
                }
            }
        }
    }

    /// Sleep, waking early on Ctrl-C.
    fn sleep(&self, d: Duration) -> Result<(), LlmError> {
        let until = std::time::Instant::now() + d;
        while std::time::Instant::now() < until {
            if self.cancel.is_cancelled() {
                return Err(LlmError::Cancelled);
            }
            std::thread::sleep(Duration::from_millis(50).min(until - std::time::Instant::now()));
        }
        Ok(())
    }

    /// Run `n` jobs on up to `in_flight` threads; job `j` goes to URL `j mod urls`. The first
    /// error stops the jobs not yet started and is returned (a cancellation before any other).
    pub fn run_jobs<T: Send>(&self, n: usize, job: impl Fn(usize, usize) -> Result<T, LlmError> + Sync) -> Result<Vec<T>, LlmError> {
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let results: Mutex<Vec<Option<T>>> = Mutex::new((0..n).map(|_| None).collect());
        let error: Mutex<Option<LlmError>> = Mutex::new(None);
        let workers = self.in_flight.min(n).max(1);
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| loop {
                    if failed.load(Ordering::SeqCst) {
                        break;
                    }
                    let j = next.fetch_add(1, Ordering::SeqCst);
                    if j >= n {
                        break;
                    }
                    match job(j, j % self.urls.len()) {
                        Ok(v) => results.lock().unwrap_or_else(|p| p.into_inner())[j] = Some(v),
                        Err(e) => {
                            failed.store(true, Ordering::SeqCst);
                            let mut slot = error.lock().unwrap_or_else(|p| p.into_inner());
                            if slot.is_none() || matches!(e, LlmError::Cancelled) {
                                *slot = Some(e);
                            }
                        }
                    }
                });
            }
        });
        if let Some(e) = error.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(e);
        }
        results
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .into_iter()
            .map(|r| r.ok_or_else(|| LlmError::Server("a request was never answered".into())))
            .collect()
    }
}

/// 0.5 s, 1 s, 2 s, … up to 30 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((500u64 << attempt.min(6)).min(30_000))
}

/// The wait a `Retry-After` header asks for, in its seconds form (an HTTP date is not read:
/// the backoff stands), at most [`MAX_RETRY_AFTER`].
fn retry_after(header: Option<&str>) -> Option<Duration> {
    let secs: u64 = header?.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// Whether an error is a timeout. ureq 2 reports one as a transport error of kind Io (or
/// ConnectionFailed, connecting) whose source is an `io::Error` of kind `TimedOut`, or
/// `WouldBlock` where a socket's read timeout surfaces as EAGAIN; reading the body, as that
/// `io::Error` itself.
fn is_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut at = Some(e);
    while let Some(err) = at {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if matches!(io.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock) || io.get_ref().is_some_and(|inner| is_timeout(inner)) {
                return true;
            }
        }
        at = err.source();
    }
    false
}

/// `items` (a response's `choices` or `data`, named `field`, answering `sent` prompts or
/// inputs, named `noun`) in the order of their `index`: each of 0..sent exactly once, else what
/// is wrong.
fn by_index<'v>(items: &'v [Value], sent: usize, noun: &str, field: &str) -> Result<Vec<&'v Value>, String> {
    if items.len() != sent {
        return Err(format!("{sent} {noun} sent, {} in `{field}` returned", items.len()));
    }
    let mut ordered: Vec<Option<&Value>> = vec![None; sent];
    for (k, item) in items.iter().enumerate() {
        let index = item.get("index").ok_or_else(|| format!("{field}[{k}] has no `index`"))?;
        let place = index
            .as_u64()
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| ordered.get_mut(i))
            .ok_or_else(|| format!("{field}[{k}] has `index` {}, out of range for {sent} {noun}", snippet(&index.to_string())))?;
        if place.replace(item).is_some() {
            return Err(format!("{field}[{k}] repeats `index` {index}"));
        }
    }
    // Each of `sent` items filled a distinct place of `sent`: none is empty.
    Ok(ordered.into_iter().flatten().collect())
}

/// The error message of an OpenAI-style error body, or its first characters.
fn error_message(body: &str) -> String {
    let from_json = serde_json::from_str::<Value>(body).ok().and_then(|v| {
        let e = v.get("error").unwrap_or(&v);
        e.get("message").or_else(|| e.get("detail")).map(|m| m.as_str().map(str::to_string).unwrap_or_else(|| m.to_string())).or_else(|| e.as_str().map(str::to_string))
    });
    snippet(&from_json.unwrap_or_else(|| body.to_string()))
}

fn snippet(s: &str) -> String {
    let s: String = s.chars().take(300).collect();
    crate::text::inert(s.trim(), false)
}

/// Special-token look-alikes servers would parse inside prompt text.
const SPECIAL_MARKS: &[&str] = &["<|", "|>", "<s>", "</s>", "[INST]", "[/INST]", "<start_of_turn>", "<end_of_turn>", "<bos>", "<eos>", "<unk>", "<pad>", "<think>", "</think>"];

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
    pub fn from_engine(engine: &Engine, system: &str, user_with_slot: &str) -> Result<Self, LlmError> {
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
}

/// From one choice of a completion whose prompt ended with `label` then `end_of_turn`: the
/// summed log-probability of the answer's tokens and how many there were.
///
/// The answer's tokens are the prompt's last ones whose text reads exactly the answer — found
/// from the end by the tokens' text, so that the first of them starts at the label's first
/// character (a token straddling it is an error, not a guess). vLLM's `text_offset` says the
/// same; SGLang sends -1 there, so it is not needed. The end of turn may read as its text (vLLM)
/// or as nothing (the llama-cpp-python server renders special tokens empty).
pub fn answer_logprob(choice: &Value, label: &str, end_of_turn: &str) -> Result<(f64, usize), String> {
    let lp = choice.get("logprobs").filter(|v| !v.is_null()).ok_or("the response has no logprobs")?;
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
    let generated: &[usize] = if choice.get("finish_reason").and_then(Value::as_str) == Some("length") { &[1] } else { &[1, 0] };
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
                sum += l.ok_or_else(|| format!("token {:?} of the answer has no log-probability", tokens[k + i]))?;
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
}

impl HttpScorer {
    pub fn new(client: Client, cfg: &BackendConfig, prompt: PromptText, labels: Vec<String>, vocab: Option<Engine>, max_item_tokens: usize) -> Self {
        let per_request = cfg.prompts_per_request.max(1);
        // Enough items per batch to keep every request slot busy.
        let batch_items = (cfg.in_flight.max(1) * per_request).div_ceil(labels.len().max(1)).max(1);
        Self { client, model: cfg.model.clone().unwrap_or_default(), prompt, labels, vocab, max_item_tokens, per_request, batch_items }
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
            LlmError::Server(m) if !self.client.answered() => LlmError::Server(format!("{m}\n{SCORING_SERVERS}")),
            other => other,
        }
    }
}

impl Scorer for HttpScorer {
    fn batch_items(&self) -> usize {
        self.batch_items
    }

    fn score_batch(&mut self, texts: &[&str]) -> Result<Vec<Scored>, LlmError> {
        let n_labels = self.labels.len();
        let items: Vec<(Cow<str>, bool)> = texts.iter().map(|t| self.item_text(t)).collect();
        let (client, model, prompt_text, labels) = (&self.client, &self.model, &self.prompt, &self.labels);
        // Item-major: a server that keeps the previous prompt's cache reuses the item's tokens.
        let prompts: Vec<(usize, usize, String)> = items
            .iter()
            .enumerate()
            .flat_map(|(i, (text, _))| labels.iter().enumerate().map(move |(l, label)| (i, l, prompt_text.with_answer(text, label))))
            .collect();
        let requests: Vec<&[(usize, usize, String)]> = prompts.chunks(self.per_request).collect();
        let answered_first = client.answered();
        let run = |j: usize, url: usize| -> Result<Vec<(usize, usize, f64, usize)>, LlmError> {
            let chunk = requests[j];
            let prompt = if chunk.len() == 1 { json!(chunk[0].2) } else { json!(chunk.iter().map(|c| &c.2).collect::<Vec<_>>()) };
            let body = json!({
                "model": model, "prompt": prompt, "echo": true, "logprobs": 1,
                "max_tokens": 1, "temperature": 0.0,
            });
            let (v, url_shown) = client.post(url, "/completions", &body)?;
            let bad = |what: String| {
                let hint = if answered_first { String::new() } else { format!("\n{SCORING_SERVERS}") };
                LlmError::Server(format!("{url_shown}: {what}{hint}"))
            };
            let choices = by_index(v.get("choices").and_then(Value::as_array).map_or(&[], Vec::as_slice), chunk.len(), "prompts", "choices").map_err(bad)?;
            let prompt_tokens = v.pointer("/usage/prompt_tokens").and_then(Value::as_u64).unwrap_or(0) as usize;
            let mut out = Vec::with_capacity(chunk.len());
            for ((i, l, _), choice) in chunk.iter().zip(choices) {
                let (lp, _) = answer_logprob(choice, &labels[*l], &prompt_text.end_of_turn).map_err(bad)?;
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
            .map(|((lp, (_, truncated)), tokens)| Scored { probs: softmax(&lp), logprobs: lp, truncated, tokens })
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
    pub fn new(client: Client, model: &str, vocab: Option<Engine>, per_request: usize) -> Result<Self, LlmError> {
        let mut e = Self { client, model: model.to_string(), vocab, per_request: per_request.max(1), dim: 0 };
        let probe = embed_request(&e.client, &e.model, 0, &["dimension probe".to_string()])?;
        e.dim = probe.first().map_or(0, |(v, _)| v.len());
        if e.dim == 0 {
            return Err(LlmError::Server(format!("{}/embeddings returned an empty vector", crate::text::inert(&e.client.urls()[0], false))));
        }
        Ok(e)
    }
}

/// One request: a vector per input, and the tokens the server counted for each.
fn embed_request(client: &Client, model: &str, url: usize, inputs: &[String]) -> Result<Vec<(Vec<f32>, usize)>, LlmError> {
    let (v, shown) = client.post(url, "/embeddings", &json!({"model": model, "input": inputs}))?;
    let bad = |what: &str| LlmError::Server(format!("{shown}: {what}"));
    let data = by_index(v.get("data").and_then(Value::as_array).map_or(&[], Vec::as_slice), inputs.len(), "inputs", "data").map_err(|e| bad(&e))?;
    let tokens = v.pointer("/usage/prompt_tokens").and_then(Value::as_u64).unwrap_or(0) as usize / inputs.len().max(1);
    data.into_iter()
        .map(|d| {
            let e = d.get("embedding").and_then(Value::as_array).ok_or_else(|| bad("an item has no embedding"))?;
            let floats = |row: &[Value]| row.iter().map(|x| x.as_f64().map(|f| f as f32)).collect::<Option<Vec<f32>>>();
            let vector = if e.first().is_some_and(Value::is_array) {
                // One vector per token: mean-pooled.
                let rows = e.iter().map(|r| r.as_array().and_then(|r| floats(r))).collect::<Option<Vec<_>>>().ok_or_else(|| bad("an embedding is not numbers"))?;
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
                let text = if text.is_empty() { " ".to_string() } else { inert_specials(&text).into_owned() };
                (text, cut)
            })
            .collect();
        let inputs: Vec<String> = cut.iter().map(|(t, _)| t.clone()).collect();
        let chunks: Vec<&[String]> = inputs.chunks(self.per_request).collect();
        let (client, model) = (&self.client, &self.model);
        let done = client.run_jobs(chunks.len(), |j, url| embed_request(client, model, url, chunks[j]))?;
        let dim = self.dim;
        done.into_iter()
            .flatten()
            .zip(cut)
            .map(|((vector, tokens), (_, truncated))| {
                if vector.len() != dim {
                    return Err(LlmError::Server(format!("the server returned a vector of {} dims after one of {dim}", vector.len())));
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
        let c = choice(&["<|im_start|>", "assistant", "\n", "click", "bait", "<|im_end|>", "\n"], &[None, Some(-1.0), Some(-0.5), Some(-2.0), Some(-0.25), Some(-0.125), Some(-9.0)], "length");
        assert_eq!(answer_logprob(&c, "clickbait", "<|im_end|>").unwrap(), (-2.375, 3));
        // llama-cpp-python: special tokens read as "".
        let c = choice(&["assistant", "\n", "click", "bait", "", "\n"], &[None, Some(-0.5), Some(-2.0), Some(-0.25), Some(-0.125), Some(-9.0)], "length");
        assert_eq!(answer_logprob(&c, "clickbait", "<|im_end|>").unwrap(), (-2.375, 3));
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
        let c = choice(&["assistant", ":click", "bait", "", "\n"], &[None, Some(-0.5), Some(-2.0), Some(-0.25), Some(-9.0)], "length");
        let e = answer_logprob(&c, "clickbait", "<|im_end|>").unwrap_err();
        assert!(e.contains("straddle"), "{e}");
    }

    #[test]
    fn a_label_equal_to_the_generated_token_is_not_confused_with_it() {
        // The model generates "a" after the prompt: the answer is the prompt's "a" + end of turn.
        let c = choice(&["assistant", "\n", "a", "<|im_end|>", "a"], &[None, Some(-0.5), Some(-1.0), Some(-0.5), Some(-3.0)], "length");
        assert_eq!(answer_logprob(&c, "a", "<|im_end|>").unwrap(), (-1.5, 2));
    }

    #[test]
    fn a_response_without_prompt_logprobs_says_so() {
        let e = answer_logprob(&json!({"text": "x", "logprobs": null}), "a", "").unwrap_err();
        assert!(e.contains("no logprobs"), "{e}");
        let c = choice(&["\n", "a", "<|im_end|>", "b"], &[None, None, Some(-0.5), Some(-3.0)], "length");
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
        let p = PromptText::named("chatml", "SYS", &format!("Ad:\n{}\n\nLabel:", super::super::prompt::TEXT_SLOT)).unwrap();
        assert_eq!(
            p.with_answer("ITEM", "benign"),
            "<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\nAd:\nITEM\n\nLabel:<|im_end|>\n<|im_start|>assistant\nbenign<|im_end|>"
        );
        assert!(PromptText::named("vicuna", "S", super::super::prompt::TEXT_SLOT).unwrap_err().to_string().contains("chatml or llama3"));
    }

    #[test]
    fn replies_are_ordered_by_index_and_a_bad_index_is_an_error_not_a_misattribution() {
        let items = |idx: &[Value]| idx.iter().enumerate().map(|(k, i)| if i.is_null() { json!({"k": k}) } else { json!({"k": k, "index": i}) }).collect::<Vec<_>>();
        let order = |v: Vec<&Value>| v.iter().map(|x| x["k"].as_u64().unwrap()).collect::<Vec<_>>();
        assert_eq!(order(by_index(&items(&[json!(0), json!(1), json!(2)]), 3, "prompts", "choices").unwrap()), [0, 1, 2]);
        assert_eq!(order(by_index(&items(&[json!(2), json!(0), json!(1)]), 3, "prompts", "choices").unwrap()), [1, 2, 0]);
        let err = |idx: &[Value], sent: usize| by_index(&items(idx), sent, "prompts", "choices").unwrap_err();
        assert_eq!(err(&[json!(0), Value::Null], 2), "choices[1] has no `index`");
        assert_eq!(err(&[json!(0), json!("1")], 2), "choices[1] has `index` \"1\", out of range for 2 prompts");
        assert_eq!(err(&[json!(1), json!(1)], 2), "choices[1] repeats `index` 1");
        assert_eq!(err(&[json!(0), json!(2)], 2), "choices[1] has `index` 2, out of range for 2 prompts");
        assert_eq!(err(&[json!(0), json!(-1)], 2), "choices[1] has `index` -1, out of range for 2 prompts");
        assert_eq!(err(&[json!(0)], 2), "2 prompts sent, 1 in `choices` returned");
        assert_eq!(by_index(&[], 0, "inputs", "data").unwrap(), Vec::<&Value>::new());
    }

    #[test]
    fn retry_after_is_read_in_seconds_and_capped() {
        assert_eq!(retry_after(Some(" 7 ")), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(Some("0")), Some(Duration::ZERO));
        assert_eq!(retry_after(Some("86400")), Some(MAX_RETRY_AFTER));
        // The HTTP-date form is not read: the backoff stands.
        assert_eq!(retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(retry_after(None), None);
    }

    #[test]
    fn the_limit_halves_once_per_burst_and_grows_back_after_a_run_of_successes() {
        let cancel = CancelToken::new();
        let t = Throttle::new(8);
        // A burst of 8 sent at limit 8 all fail: one halving, not three.
        let burst: Vec<Slot> = (0..8).map(|_| t.enter(&cancel).unwrap()).collect();
        let drops: Vec<Option<usize>> = burst.into_iter().map(Slot::overloaded).collect();
        assert_eq!(drops.iter().flatten().collect::<Vec<_>>(), [&4]);
        assert_eq!(t.state(), (4, 1));
        // Sent under the new limit and failing again: it halves again, down to 1 and no further.
        assert_eq!(t.enter(&cancel).unwrap().overloaded(), Some(2));
        assert_eq!(t.enter(&cancel).unwrap().overloaded(), Some(1));
        assert_eq!(t.enter(&cancel).unwrap().overloaded(), None);
        assert_eq!(t.state(), (1, 3));
        // One more place after as many successes in a row as the limit: 1 → 2 after 1, → 3 after 2 more.
        t.enter(&cancel).unwrap().succeeded();
        assert_eq!(t.state().0, 2);
        t.enter(&cancel).unwrap().succeeded();
        assert_eq!(t.state().0, 2);
        t.enter(&cancel).unwrap().succeeded();
        assert_eq!(t.state().0, 3);
        // It never exceeds in_flight.
        for _ in 0..100 {
            t.enter(&cancel).unwrap().succeeded();
        }
        assert_eq!(t.state(), (8, 3));
    }

    #[test]
    fn a_request_past_the_limit_waits_and_ctrl_c_ends_the_wait() {
        let t = Throttle::new(2);
        let cancel = CancelToken::new();
        let held = t.enter(&cancel).unwrap();
        assert_eq!(held.overloaded(), Some(1));
        let held = t.enter(&cancel).unwrap();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| t.enter(&cancel).map(drop));
            // It waits for the place `held` holds; Ctrl-C ends the wait with Cancelled.
            std::thread::sleep(Duration::from_millis(200));
            assert!(!waiter.is_finished());
            cancel.cancel();
            assert!(matches!(waiter.join().unwrap(), Err(LlmError::Cancelled)));
        });
        drop(held);
        let waiting = CancelToken::new();
        let held = t.enter(&waiting).unwrap();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| t.enter(&waiting).map(drop));
            std::thread::sleep(Duration::from_millis(100));
            drop(held);
            assert!(waiter.join().unwrap().is_ok(), "a place given back lets the waiter in");
        });
    }

    /// A server on a loopback port answering each connection with the next of `replies` (raw
    /// HTTP after the status line's "HTTP/1.1 "), one connection each.
    fn fake_server(replies: Vec<(&'static str, String)>) -> (String, std::thread::JoinHandle<()>) {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            for (status, body) in replies {
                let (mut stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if line.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                }
                reader.read_exact(&mut vec![0; length]).unwrap();
                write!(stream, "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
            }
        });
        (url, handle)
    }

    fn client(url: &str, in_flight: usize, timeout_s: u64, retries: u32) -> Client {
        let cfg = BackendConfig { kind: crate::config::BackendKind::Openai, urls: vec![url.into()], model: Some("m".into()), in_flight, timeout_s, retries, ..BackendConfig::default() };
        Client::new(&cfg, CancelToken::new()).unwrap()
    }

    #[test]
    fn embeddings_go_to_the_input_their_index_names_and_a_repeated_index_names_the_server() {
        let swapped = json!({"data": [{"index": 1, "embedding": [0.0, 2.0]}, {"index": 0, "embedding": [3.0, 0.0]}]}).to_string();
        let repeated = json!({"data": [{"index": 0, "embedding": [0.0, 2.0]}, {"index": 0, "embedding": [3.0, 0.0]}]}).to_string();
        let (url, server) = fake_server(vec![("200 OK", swapped), ("200 OK", repeated)]);
        let c = client(&url, 2, 10, 0);
        let inputs = ["first".to_string(), "second".to_string()];
        let got = embed_request(&c, "m", 0, &inputs).unwrap();
        assert_eq!((got[0].0.clone(), got[1].0.clone()), (vec![1.0, 0.0], vec![0.0, 1.0]));
        let e = embed_request(&c, "m", 0, &inputs).unwrap_err().to_string();
        assert!(e.contains(&format!("{url}/embeddings")) && e.contains("data[1] repeats `index` 0"), "{e}");
        server.join().unwrap();
    }

    #[test]
    fn a_timeout_says_so_and_names_the_setting_and_lowers_the_limit() {
        // Accepted by the kernel, never answered.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1", silent.local_addr().unwrap());
        let c = client(&url, 4, 1, 0);
        let e = c.post(0, "/completions", &json!({})).unwrap_err().to_string();
        assert!(e.contains(&format!("{url}/completions: timed out after 1 s (raise `[backend] timeout_s`)")), "{e}");
        assert!(e.contains("requests in flight lowered to 2"), "{e}");
        assert!(!e.contains("Network Error") && !e.contains("Io"), "{e}");
        assert_eq!(c.in_flight_limit(), (2, 1));
    }

    #[test]
    fn http_503_lowers_the_limit_and_the_request_is_sent_again() {
        let (url, server) = fake_server(vec![("503 Service Unavailable\r\nRetry-After: 0", json!({"error": {"message": "busy"}}).to_string()), ("200 OK", json!({"ok": 1}).to_string())]);
        let c = client(&url, 8, 10, 1);
        assert_eq!(c.post(0, "/completions", &json!({})).unwrap().0, json!({"ok": 1}));
        assert_eq!(c.in_flight_limit(), (4, 1));
        server.join().unwrap();
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(0), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(20), Duration::from_secs(30));
    }
}
