//! Requests to OpenAI-compatible servers: retries with backoff, the requests-in-flight limit
//! that adapts to what the servers can do, and the checks on what comes back.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;

use super::super::engine::LlmError;
use crate::config::BackendConfig;
use crate::progress::CancelToken;

/// A request's failure: worth retrying or not.
pub(super) enum Failure {
    Passing(String),
    /// The servers have more than they can do (a timeout, HTTP 429, 503 or 504): retried under a
    /// lower limit, after the wait the server asked for, if it did.
    Overload(String, Option<Duration>),
    Final(String),
}

/// The longest `Retry-After` honoured: a server asking for more is asked again after this.
pub(super) const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// How many requests may be in flight at once, over all URLs: a limit that starts at
/// `[backend] in_flight`, halves (down to 1) when a request sent under it shows overload, and
/// grows back by one after as many successes in a row as the limit. Requests past the limit
/// wait here, where waiting costs no server anything.
pub(super) struct Throttle {
    most: usize,
    gate: Mutex<Gate>,
    freed: Condvar,
}

pub(super) struct Gate {
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
pub(super) struct Slot<'t> {
    throttle: &'t Throttle,
    generation: u64,
}

impl Throttle {
    fn new(most: usize) -> Self {
        let most = most.max(1);
        Self {
            most,
            gate: Mutex::new(Gate {
                limit: most,
                active: 0,
                successes: 0,
                generation: 0,
                drops: 0,
            }),
            freed: Condvar::new(),
        }
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
            gate = self
                .freed
                .wait_timeout(gate, Duration::from_millis(50))
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
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
                _ => {
                    return Err(LlmError::Input(format!(
                        "backend.api_key_env names {var}, which is not set in the environment"
                    )))
                }
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
                return Err(LlmError::Server(format!(
                    "{message} (gave up after {} retries; run again to resume)",
                    self.retries
                )));
            }
            let wait = asked_wait.unwrap_or_else(|| backoff(attempt));
            tracing::warn!("{message}; retrying in {:.1}s", wait.as_secs_f64());
            self.sleep(wait)?;
            attempt += 1;
        }
    }

    /// One request: the response as JSON, or how it failed (`shown` names the URL).
    fn send(&self, url: &str, shown: &str, text: &str) -> Result<Value, Failure> {
        let timed_out = || {
            Failure::Overload(
                format!(
                    "{shown}: timed out after {} s (raise `[backend] timeout_s`)",
                    self.timeout_s
                ),
                None,
            )
        };
        let mut req = self.agent.post(url).set("Content-Type", "application/json");
        if let Some(k) = &self.key {
            req = req.set("Authorization", &format!("Bearer {k}"));
        }
        match req.send_string(text) {
            Ok(resp) => match resp.into_string() {
                Ok(body) => serde_json::from_str::<Value>(&body).map_err(|e| {
                    Failure::Final(format!(
                        "{shown}: the response is not JSON ({e}): {}",
                        snippet(&body)
                    ))
                }),
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
                let msg = format!(
                    "{shown}: {}{}",
                    t.kind(),
                    t.message().map(|m| format!(": {m}")).unwrap_or_default()
                );
                match t.kind() {
                    ureq::ErrorKind::InvalidUrl
                    | ureq::ErrorKind::UnknownScheme
                    | ureq::ErrorKind::InvalidProxyUrl => Err(Failure::Final(msg)),
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
    pub fn run_jobs<T: Send>(
        &self,
        n: usize,
        job: impl Fn(usize, usize) -> Result<T, LlmError> + Sync,
    ) -> Result<Vec<T>, LlmError> {
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
pub(super) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((500u64 << attempt.min(6)).min(30_000))
}

/// The wait a `Retry-After` header asks for, in its seconds form (an HTTP date is not read:
/// the backoff stands), at most [`MAX_RETRY_AFTER`].
pub(super) fn retry_after(header: Option<&str>) -> Option<Duration> {
    let secs: u64 = header?.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// Whether an error is a timeout. ureq 2 reports one as a transport error of kind Io (or
/// ConnectionFailed, connecting) whose source is an `io::Error` of kind `TimedOut`, or
/// `WouldBlock` where a socket's read timeout surfaces as EAGAIN; reading the body, as that
/// `io::Error` itself.
pub(super) fn is_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut at = Some(e);
    while let Some(err) = at {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if matches!(io.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock)
                || io.get_ref().is_some_and(|inner| is_timeout(inner))
            {
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
pub(super) fn by_index<'v>(
    items: &'v [Value],
    sent: usize,
    noun: &str,
    field: &str,
) -> Result<Vec<&'v Value>, String> {
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
            .ok_or_else(|| {
                format!(
                    "{field}[{k}] has `index` {}, out of range for {sent} {noun}",
                    snippet(&index.to_string())
                )
            })?;
        if place.replace(item).is_some() {
            return Err(format!("{field}[{k}] repeats `index` {index}"));
        }
    }
    // Each of `sent` items filled a distinct place of `sent`: none is empty.
    Ok(ordered.into_iter().flatten().collect())
}

/// The error message of an OpenAI-style error body, or its first characters.
pub(super) fn error_message(body: &str) -> String {
    let from_json = serde_json::from_str::<Value>(body).ok().and_then(|v| {
        let e = v.get("error").unwrap_or(&v);
        e.get("message")
            .or_else(|| e.get("detail"))
            .map(|m| m.as_str().map(str::to_string).unwrap_or_else(|| m.to_string()))
            .or_else(|| e.as_str().map(str::to_string))
    });
    snippet(&from_json.unwrap_or_else(|| body.to_string()))
}

pub(super) fn snippet(s: &str) -> String {
    let s: String = s.chars().take(300).collect();
    crate::text::inert(s.trim(), false)
}

#[cfg(test)]
mod tests {
    use super::super::embed_request;
    use super::*;
    use crate::progress::CancelToken;
    use serde_json::json;

    #[test]
    fn replies_are_ordered_by_index_and_a_bad_index_is_an_error_not_a_misattribution() {
        let items = |idx: &[Value]| {
            idx.iter()
                .enumerate()
                .map(
                    |(k, i)| {
                        if i.is_null() {
                            json!({"k": k})
                        } else {
                            json!({"k": k, "index": i})
                        }
                    },
                )
                .collect::<Vec<_>>()
        };
        let order = |v: Vec<&Value>| v.iter().map(|x| x["k"].as_u64().unwrap()).collect::<Vec<_>>();
        assert_eq!(
            order(
                by_index(&items(&[json!(0), json!(1), json!(2)]), 3, "prompts", "choices").unwrap()
            ),
            [0, 1, 2]
        );
        assert_eq!(
            order(
                by_index(&items(&[json!(2), json!(0), json!(1)]), 3, "prompts", "choices").unwrap()
            ),
            [1, 2, 0]
        );
        let err = |idx: &[Value], sent: usize| {
            by_index(&items(idx), sent, "prompts", "choices").unwrap_err()
        };
        assert_eq!(err(&[json!(0), Value::Null], 2), "choices[1] has no `index`");
        assert_eq!(
            err(&[json!(0), json!("1")], 2),
            "choices[1] has `index` \"1\", out of range for 2 prompts"
        );
        assert_eq!(err(&[json!(1), json!(1)], 2), "choices[1] repeats `index` 1");
        assert_eq!(
            err(&[json!(0), json!(2)], 2),
            "choices[1] has `index` 2, out of range for 2 prompts"
        );
        assert_eq!(
            err(&[json!(0), json!(-1)], 2),
            "choices[1] has `index` -1, out of range for 2 prompts"
        );
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
        let cfg = BackendConfig {
            kind: crate::config::BackendKind::Openai,
            urls: vec![url.into()],
            model: Some("m".into()),
            in_flight,
            timeout_s,
            retries,
            ..BackendConfig::default()
        };
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
        assert!(
            e.contains(&format!("{url}/embeddings")) && e.contains("data[1] repeats `index` 0"),
            "{e}"
        );
        server.join().unwrap();
    }

    #[test]
    fn a_timeout_says_so_and_names_the_setting_and_lowers_the_limit() {
        // Accepted by the kernel, never answered.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1", silent.local_addr().unwrap());
        let c = client(&url, 4, 1, 0);
        let e = c.post(0, "/completions", &json!({})).unwrap_err().to_string();
        assert!(
            e.contains(&format!(
                "{url}/completions: timed out after 1 s (raise `[backend] timeout_s`)"
            )),
            "{e}"
        );
        assert!(e.contains("requests in flight lowered to 2"), "{e}");
        assert!(!e.contains("Network Error") && !e.contains("Io"), "{e}");
        assert_eq!(c.in_flight_limit(), (2, 1));
    }

    #[test]
    fn http_503_lowers_the_limit_and_the_request_is_sent_again() {
        let (url, server) = fake_server(vec![
            (
                "503 Service Unavailable\r\nRetry-After: 0",
                json!({"error": {"message": "busy"}}).to_string(),
            ),
            ("200 OK", json!({"ok": 1}).to_string()),
        ]);
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
