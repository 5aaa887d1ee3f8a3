//! Binary rewards for generated answers (LIMO's pass rate, ReST-EM's E-step): exact match
//! against a reference after normalisation, or a user command that prints 1 or 0.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// How a response is judged.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Reward {
    /// The final answer equals the reference after normalisation (see [`matches`]).
    ExactMatch,
    /// `sh -c COMMAND` gets `{"id", "prompt", "response", "reference"}` as JSON on stdin and
    /// prints 1 (accept) or 0 (reject).
    Command { command: String },
}

impl Reward {
    /// Judge `response` to `prompt` (item `id`) against `reference`.
    pub fn judge(&self, id: &str, prompt: &str, response: &str, reference: Option<&str>) -> Result<bool> {
        match self {
            Reward::ExactMatch => Ok(reference.is_some_and(|r| matches(response, r))),
            Reward::Command { command } => run_command(command, id, prompt, response, reference),
        }
    }
}

fn run_command(command: &str, id: &str, prompt: &str, response: &str, reference: Option<&str>) -> Result<bool> {
    let input = serde_json::json!({"id": id, "prompt": prompt, "response": response, "reference": reference}).to_string();
    let shown = crate::text::inert(command, false);
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(command);
    // Its own process group, ended as a whole when judging is over or hifi stops.
    let mut child = crate::procs::own_group(&mut cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Input(format!("reward command {shown:?} could not start: {e}")))?;
    let _group = crate::procs::Group::of(&child);
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its input closes the pipe early; that is its business.
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| Error::Input(format!("reward command {shown:?}: {e}")))?;
    let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
    match (out.status.success(), said.as_str()) {
        (true, "1") => Ok(true),
        (true, "0") => Ok(false),
        _ => {
            let err = String::from_utf8_lossy(&out.stderr);
            let tail: String = err.trim().chars().rev().take(300).collect::<Vec<_>>().into_iter().rev().collect();
            Err(Error::Input(format!(
                "reward command {shown:?} on item {}: expected it to print 1 or 0 and exit 0; it printed {:?} and exited with {}{}",
                crate::text::inert(id, false),
                crate::text::inert(&said.chars().take(80).collect::<String>(), false),
                out.status,
                if tail.is_empty() { String::new() } else { format!("; stderr: {}", crate::text::inert(&tail, false)) }
            )))
        }
    }
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
    normalise(&answer) == want || answer.lines().find(|l| !l.trim().is_empty()).is_some_and(|l| normalise(l) == want)
}

fn final_answer(response: &str) -> String {
    let lower = response.to_lowercase();
    if let Some(at) = ["answer is", "answer:"].iter().filter_map(|m| lower.rfind(m).map(|i| i + m.len())).max() {
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
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == ',' || (bytes[i] == '.' && bytes.get(i + 1).is_some_and(char::is_ascii_digit))) {
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

    #[test]
    fn a_command_reward_reads_one_or_zero_and_names_what_went_wrong() {
        let r = Reward::Command { command: "grep -q '\"response\":\"yes\"' && echo 1 || echo 0".into() };
        assert!(r.judge("a", "p", "yes", None).unwrap());
        assert!(!r.judge("a", "p", "no", None).unwrap());
        let bad = Reward::Command { command: "echo maybe".into() };
        let e = bad.judge("item-7", "p", "x", None).unwrap_err().to_string();
        assert!(e.contains("item-7") && e.contains("maybe") && e.contains("print 1 or 0"), "{e}");
        let failing = Reward::Command { command: "echo oops >&2; exit 3".into() };
        let e = failing.judge("a", "p", "x", None).unwrap_err().to_string();
        assert!(e.contains("oops"), "{e}");
    }
}
