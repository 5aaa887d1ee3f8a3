//! Binary rewards for generated answers (LIMO's pass rate, ReST-EM's E-step): exact match
//! against a reference after normalisation, or a user command that prints 1 or 0.

use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::progress::CancelToken;

/// `--reward-timeout`'s default: seconds a reward command gets per reply.
pub const DEFAULT_TIMEOUT_SECS: u64 = 60;

/// How long the output is still read after the command exits. What it wrote is in the pipe
/// by then; a background process it left holding the pipe open is not waited for.
const AFTER_EXIT: Duration = Duration::from_millis(300);

/// Output kept per stream: the verdict is one short line, and stderr is shown as a tail.
const KEEP: usize = 64 * 1024;

/// How a response is judged.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Reward {
    /// The final answer equals the reference after normalisation (see [`matches`]).
    ExactMatch,
    /// `sh -c COMMAND` gets `{"id", "prompt", "response", "reference"}` as JSON on stdin and
    /// prints 1 (accept) or 0 (reject) within `timeout_secs` seconds.
    Command { command: String, timeout_secs: u64 },
}

impl Reward {
    /// Judge `response` to `prompt` (item `id`) against `reference`. A reward command that
    /// outlives its timeout, or `cancel`, is ended with everything it started.
    pub fn judge(
        &self,
        id: &str,
        prompt: &str,
        response: &str,
        reference: Option<&str>,
        cancel: &CancelToken,
    ) -> Result<bool> {
        match self {
            Reward::ExactMatch => Ok(reference.is_some_and(|r| matches(response, r))),
            Reward::Command { command, timeout_secs } => {
                let input = serde_json::json!({"id": id, "prompt": prompt, "response": response, "reference": reference}).to_string();
                run_command(command, Duration::from_secs(*timeout_secs), id, input, cancel)
            }
        }
    }
}

fn run_command(
    command: &str,
    timeout: Duration,
    id: &str,
    input: String,
    cancel: &CancelToken,
) -> Result<bool> {
    let shown = crate::text::inert(command, false);
    let item = crate::text::inert(id, false);
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(command);
    // Its own process group, ended as a whole when judging is over or hifi stops.
    let mut child = crate::procs::own_group(&mut cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Input(format!("reward command {shown:?} could not start: {e}")))?;
    let group = crate::procs::Group::of(&child);
    let thread_err = |e: std::io::Error| {
        Error::Io(format!("reward command {shown:?} on item {item}: cannot start a thread: {e}"))
    };
    // Every pipe on a thread of its own: a command that writes much before reading all its
    // input blocks on a full pipe, and hifi must not be blocked on the other one meanwhile.
    // A command that does not read its input closes the pipe early; that is its business.
    let stdin = child.stdin.take();
    spawn("reward-stdin", move || {
        if let Some(mut s) = stdin {
            let _ = s.write_all(input.as_bytes());
        }
    })
    .map_err(thread_err)?;
    let stdout = Drain::start(child.stdout.take(), false).map_err(thread_err)?;
    let stderr = Drain::start(child.stderr.take(), true).map_err(thread_err)?;
    // The command's own exit, not the end of its output: something it left in the background
    // may hold the pipes open for as long as it likes.
    let (tx, exited) = mpsc::channel::<std::io::Result<ExitStatus>>();
    spawn("reward-wait", move || {
        let _ = tx.send(child.wait());
    })
    .map_err(thread_err)?;
    let started = Instant::now();
    let status = loop {
        if cancel.is_cancelled() {
            drop(group);
            return Err(Error::Cancelled(format!(
                "reward command {shown:?} on item {item} was ended"
            )));
        }
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            drop(group);
            return Err(Error::Input(format!(
                "reward command {shown:?} on item {item} did not answer within {} s (raise --reward-timeout){}",
                timeout.as_secs(),
                stderr_note(&stderr.take())
            )));
        }
        match exited.recv_timeout(left.min(Duration::from_millis(50))) {
            Ok(Ok(status)) => break status,
            Ok(Err(e)) => {
                return Err(Error::Input(format!("reward command {shown:?} on item {item}: {e}")))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Error::Io(format!(
                    "reward command {shown:?} on item {item}: lost track of it"
                )))
            }
        }
    };
    let until = Instant::now() + AFTER_EXIT;
    stdout.wait_until(until);
    stderr.wait_until(until);
    // Whatever it left running goes now, and with it the pipes it held.
    drop(group);
    let said = String::from_utf8_lossy(&stdout.take()).trim().to_string();
    match (status.success(), said.as_str()) {
        (true, "1") => Ok(true),
        (true, "0") => Ok(false),
        _ => Err(Error::Input(format!(
            "reward command {shown:?} on item {item}: expected it to print 1 or 0 and exit 0; it printed {:?} and exited with {status}{}",
            crate::text::inert(&said.chars().take(80).collect::<String>(), false),
            stderr_note(&stderr.take())
        ))),
    }
}

/// "; stderr: …" with the last 300 characters of `err`, or nothing when it is empty.
fn stderr_note(err: &[u8]) -> String {
    let err = String::from_utf8_lossy(err);
    let tail: String =
        err.trim().chars().rev().take(300).collect::<Vec<_>>().into_iter().rev().collect();
    if tail.is_empty() {
        String::new()
    } else {
        format!("; stderr: {}", crate::text::inert(&tail, false))
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    std::thread::Builder::new().name(name.into()).spawn(f).map(|_| ())
}

/// A pipe read to its end on a thread of its own, so the command never blocks writing to
/// it; keeps the first (or, for a `tail`, the last) [`KEEP`] bytes.
struct Drain {
    kept: Arc<Mutex<Vec<u8>>>,
    done: mpsc::Receiver<()>,
}

impl Drain {
    fn start(pipe: Option<impl Read + Send + 'static>, tail: bool) -> std::io::Result<Drain> {
        let kept = Arc::new(Mutex::new(Vec::new()));
        let (tx, done) = mpsc::channel();
        let k = kept.clone();
        spawn("reward-output", move || {
            if let Some(mut pipe) = pipe {
                let mut buf = [0u8; 8192];
                loop {
                    match pipe.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => keep(&mut lock(&k), &buf[..n], tail),
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
            }
            let _ = tx.send(());
        })?;
        Ok(Drain { kept, done })
    }

    /// Wait for the end of the output, but not past `until`.
    fn wait_until(&self, until: Instant) {
        let _ = self.done.recv_timeout(until.saturating_duration_since(Instant::now()));
    }

    /// What was read so far.
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *lock(&self.kept))
    }
}

fn keep(kept: &mut Vec<u8>, more: &[u8], tail: bool) {
    if tail {
        kept.extend_from_slice(more);
        let over = kept.len().saturating_sub(KEEP);
        kept.drain(..over);
    } else {
        let room = KEEP.saturating_sub(kept.len());
        kept.extend_from_slice(&more[..more.len().min(room)]);
    }
}

fn lock(kept: &Mutex<Vec<u8>>) -> std::sync::MutexGuard<'_, Vec<u8>> {
    kept.lock().unwrap_or_else(|p| p.into_inner())
}

/// Does `response`'s final answer equal `reference`?
///
/// The final answer is, in order: what follows the last "answer:" / "answer is", the last
/// `\boxed{…}`, else the whole response. A numeric reference matches the last number of the
/// answer numerically (commas and a trailing ".0" do not matter); a text reference matches the
/// answer, or its first line, after lower-casing, collapsing spaces and trimming punctuation.
pub fn matches(response: &str, reference: &str) -> bool {
    let answer = final_answer(response);
    if let Some(x) = parse_number(reference.trim()) {
        return last_number(&answer).is_some_and(|y| (x - y).abs() <= 1e-9 * x.abs().max(1.0));
    }
    let want = normalise(reference);
    if want.is_empty() {
        return false;
    }
    normalise(&answer) == want
        || answer.lines().find(|l| !l.trim().is_empty()).is_some_and(|l| normalise(l) == want)
}

fn final_answer(response: &str) -> String {
    let lower = response.to_lowercase();
    if let Some(at) =
        ["answer is", "answer:"].iter().filter_map(|m| lower.rfind(m).map(|i| i + m.len())).max()
    {
        // `lower` and `response` have the same byte layout only for ASCII; fall back to lower.
        return lower[at..].to_string();
    }
    if let Some(at) = response.rfind("\\boxed{") {
        let rest = &response[at + 7..];
        let mut depth = 1;
        for (i, c) in rest.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        return rest[..i].to_string();
                    }
                }
                _ => {}
            }
        }
    }
    response.to_string()
}

fn normalise(s: &str) -> String {
    let lower = s.to_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    words.join(" ").trim_matches(|c: char| !c.is_alphanumeric()).to_string()
}

fn parse_number(s: &str) -> Option<f64> {
    let t: String = s.chars().filter(|c| *c != ',').collect();
    t.trim().trim_end_matches('.').parse::<f64>().ok().filter(|x| x.is_finite())
}

fn last_number(s: &str) -> Option<f64> {
    let mut best = None;
    let bytes: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let neg = bytes[i] == '-' && bytes.get(i + 1).is_some_and(char::is_ascii_digit);
        if neg || bytes[i].is_ascii_digit() {
            i += 1;
            while i < bytes.len()
                && (bytes[i].is_ascii_digit()
                    || bytes[i] == ','
                    || (bytes[i] == '.' && bytes.get(i + 1).is_some_and(char::is_ascii_digit)))
            {
                i += 1;
            }
            let tok: String = bytes[start..i].iter().collect();
            if let Some(x) = parse_number(&tok) {
                best = Some(x);
            }
        } else {
            i += 1;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_references_match_the_last_number_of_the_answer() {
        assert!(matches("7 + 5 = 12", "12"));
        assert!(matches("First 3, then... The answer is 1,200.", "1200"));
        assert!(matches("so \\boxed{12.0}", "12"));
        assert!(matches("It is -4.", "-4"));
        assert!(!matches("12 apples, or 13", "12"));
        assert!(!matches("no number here", "12"));
    }

    #[test]
    fn text_references_match_after_normalising() {
        assert!(matches("  Paris. ", "paris"));
        assert!(matches("Answer: Clickbait", "clickbait"));
        assert!(matches("benign\nbecause it names the price", "benign"));
        assert!(!matches("not benign", "benign"));
        assert!(!matches("anything", "  "));
    }

    fn command(c: &str, timeout_secs: u64) -> Reward {
        Reward::Command { command: c.into(), timeout_secs }
    }

    #[test]
    fn a_command_reward_reads_one_or_zero_and_names_what_went_wrong() {
        let go = CancelToken::new();
        let r = command("grep -q '\"response\":\"yes\"' && echo 1 || echo 0", 60);
        assert!(r.judge("a", "p", "yes", None, &go).unwrap());
        assert!(!r.judge("a", "p", "no", None, &go).unwrap());
        let e =
            command("echo maybe", 60).judge("item-7", "p", "x", None, &go).unwrap_err().to_string();
        assert!(e.contains("item-7") && e.contains("maybe") && e.contains("print 1 or 0"), "{e}");
        let e = command("echo oops >&2; exit 3", 60)
            .judge("a", "p", "x", None, &go)
            .unwrap_err()
            .to_string();
        assert!(e.contains("oops"), "{e}");
    }

    #[test]
    fn a_command_past_its_timeout_is_named_with_the_item_and_the_flag_to_raise() {
        let t0 = Instant::now();
        let e = command("echo thinking >&2; sleep 300", 1)
            .judge("item-9", "p", "x", None, &CancelToken::new())
            .unwrap_err();
        assert!(t0.elapsed() < Duration::from_secs(20), "took {:?}", t0.elapsed());
        assert!(!e.is_cancelled());
        let e = e.to_string();
        assert!(
            e.contains("on item item-9 did not answer within 1 s (raise --reward-timeout)")
                && e.contains("thinking"),
            "{e}"
        );
    }

    #[test]
    fn a_cancelled_token_ends_the_command_as_a_cancel() {
        let cancel = CancelToken::new();
        cancel.cancel();
        let t0 = Instant::now();
        let e = command("sleep 300", 600).judge("a", "p", "x", None, &cancel).unwrap_err();
        assert!(t0.elapsed() < Duration::from_secs(20), "took {:?}", t0.elapsed());
        assert!(e.is_cancelled(), "{e}");
    }

    #[test]
    fn output_keeps_the_head_of_stdout_and_the_tail_of_stderr() {
        let (mut head, mut tail) = (Vec::new(), Vec::new());
        for chunk in 0..40u8 {
            let part = vec![chunk; 4096];
            keep(&mut head, &part, false);
            keep(&mut tail, &part, true);
        }
        assert_eq!(head.len(), KEEP);
        assert_eq!(tail.len(), KEEP);
        assert_eq!((head[0], head[KEEP - 1]), (0, 15));
        assert_eq!((tail[0], tail[KEEP - 1]), (24, 39));
    }
}
