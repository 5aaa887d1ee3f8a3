//! A deterministic stand-in for the model, for fast tests of the logic around it: quotas,
//! ordering, resume, held-out sets, verdicts. Every score, vector and reply is a function of
//! the text (a hash), so a test knows what the model "said" without running one. It is not a
//! model: nothing a user runs can select it, and no stage's plain `run` uses it.
//!
//! - Scores: each label's log-probability is −1 … −5, from a hash of (text, label).
//! - Vectors: hashed bag of words, L2-normalised: texts sharing words lie close.
//! - Replies: "step W: the answer is N", N below the current *spread* (a reference "0" is
//!   solved with probability 1 / spread), from a hash of (text, seed, key, sample); greedy
//!   replies (temperature 0) ignore the key and sample. Each [`StandIn::learn`] (an M-step)
//!   moves to the next spread of [`StandIn::spreads`], so a test scripts how the policy improves.
//!
//! Every call is logged in [`StandIn::log`] for tests to check what was asked of the model.

use std::path::Path;

use super::embedder::{l2_normalised, Embedded};
use super::engine::LlmError;
use super::generate::{GenParams, Generated};
use super::model::{Embed, Generate, Models, Scorer};
use super::score::{softmax, Scored};
use crate::error::Result;
use crate::progress::{CancelToken, Progress};
use llama_cpp_2::token::LlamaToken;

/// One chat the stand-in replied to.
#[derive(Debug, Clone, PartialEq)]
pub struct Chat {
    pub user: String,
    pub key: u64,
    pub samples: usize,
    pub temperature: f32,
}

/// What was asked of the stand-in.
#[derive(Debug, Clone, Default)]
pub struct Log {
    /// Every text scored, in order (the calibration input included).
    pub scored: Vec<String>,
    /// Every text embedded, in order.
    pub embedded: Vec<String>,
    pub chats: Vec<Chat>,
    /// Each M-step's training pairs (prompt text, reply).
    pub learned: Vec<Vec<(String, String)>>,
    /// Score and embed calls, the failed ones included.
    pub calls: usize,
}

#[derive(Debug, Clone)]
pub struct StandIn {
    /// Labels scored per text.
    pub labels: usize,
    /// Vector width.
    pub dim: usize,
    /// Texts per scoring batch.
    pub batch_items: usize,
    /// Reply spreads: the first before any M-step, then one per step (the last stays).
    pub spreads: Vec<u64>,
    /// Fail with an engine error on every score or embed call after this many (a crash).
    pub fail_after_calls: Option<usize>,
    pub log: Log,
}

impl Default for StandIn {
    fn default() -> Self {
        Self {
            labels: 2,
            dim: 16,
            batch_items: 4,
            spreads: vec![4],
            fail_after_calls: None,
            log: Log::default(),
        }
    }
}

/// FNV-1a over the parts (each followed by a separator), then a SplitMix64 finaliser.
pub fn hash(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.iter().chain(&[0xff]) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

impl StandIn {
    /// The label log-probabilities of `text`.
    pub fn logprobs(&self, text: &str) -> Vec<f64> {
        (0..self.labels)
            .map(|l| -1.0 - (hash(&[text.as_bytes(), &l.to_le_bytes()]) % 4001) as f64 / 1000.0)
            .collect()
    }

    /// The vector of `text`.
    pub fn vector(&self, text: &str) -> Vec<f32> {
        let dim = self.dim.max(1);
        let mut v = vec![0f32; dim];
        for w in text.split_whitespace() {
            let h = hash(&[w.to_lowercase().as_bytes()]);
            v[(h % dim as u64) as usize] += if h >> 63 == 0 { 1.0 } else { -1.0 };
        }
        if v.iter().all(|x| *x == 0.0) {
            v[0] = 1.0;
        }
        l2_normalised(&v)
    }

    /// The spread replies are drawn from now.
    pub fn spread(&self) -> u64 {
        let i = self.log.learned.len().min(self.spreads.len().saturating_sub(1));
        self.spreads.get(i).copied().unwrap_or(1).max(1)
    }

    /// Reply `sample` to `user` under (seed, key), or the greedy reply when `greedy`.
    pub fn reply(&self, user: &str, seed: u64, key: u64, sample: u64, greedy: bool) -> String {
        let level = self.log.learned.len() as u64;
        let h = if greedy {
            hash(&[user.as_bytes(), b"greedy", &level.to_le_bytes()])
        } else {
            hash(&[
                user.as_bytes(),
                &seed.to_le_bytes(),
                &key.to_le_bytes(),
                &sample.to_le_bytes(),
                &level.to_le_bytes(),
            ])
        };
        format!("step {}: the answer is {}", (h >> 40) % 3, h % self.spread())
    }

    /// An M-step on `pairs` (prompt text, reply): replies come from the next spread.
    pub fn learn(&mut self, pairs: Vec<(String, String)>) {
        self.log.learned.push(pairs);
    }

    fn call(&mut self) -> Result<(), LlmError> {
        self.log.calls += 1;
        match self.fail_after_calls {
            Some(n) if self.log.calls > n => {
                Err(LlmError::Engine("the stand-in failed on purpose".into()))
            }
            _ => Ok(()),
        }
    }
}

impl Scorer for StandIn {
    fn batch_items(&self) -> usize {
        self.batch_items.max(1)
    }

    fn score_batch(&mut self, texts: &[&str]) -> Result<Vec<Scored>, LlmError> {
        self.call()?;
        self.log.scored.extend(texts.iter().map(|t| t.to_string()));
        Ok(texts
            .iter()
            .map(|t| {
                let logprobs = self.logprobs(t);
                Scored {
                    probs: softmax(&logprobs),
                    logprobs,
                    truncated: t.len() > 1000,
                    tokens: t.split_whitespace().count() + 1,
                }
            })
            .collect())
    }
}

impl Embed for StandIn {
    fn dim(&self) -> usize {
        self.dim.max(1)
    }

    fn embed(&mut self, texts: &[&str]) -> Result<Vec<Embedded>, LlmError> {
        self.call()?;
        self.log.embedded.extend(texts.iter().map(|t| t.to_string()));
        Ok(texts
            .iter()
            .map(|t| Embedded {
                vector: self.vector(t),
                truncated: false,
                tokens: t.split_whitespace().count() + 1,
            })
            .collect())
    }
}

impl Generate for StandIn {
    fn replies(
        &mut self,
        _system: Option<&str>,
        users: &[&str],
        keys: &[u64],
        params: &GenParams,
        cancel: &CancelToken,
        each: &mut dyn FnMut(usize, Vec<Generated>) -> Result<()>,
    ) -> Result<()> {
        for (i, (user, key)) in users.iter().zip(keys).enumerate() {
            if cancel.is_cancelled() {
                return Err(LlmError::Cancelled.into());
            }
            self.log.chats.push(Chat {
                user: user.to_string(),
                key: *key,
                samples: params.samples,
                temperature: params.temperature,
            });
            let greedy = params.temperature <= 0.0;
            let out = (0..params.samples as u64)
                .map(|s| {
                    let text = self.reply(user, params.seed, *key, s, greedy);
                    let tokens = text
                        .split_whitespace()
                        .map(|w| LlamaToken(hash(&[w.as_bytes()]) as i32))
                        .collect();
                    Generated { text, tokens, finished: true }
                })
                .collect();
            each(i, out)?;
        }
        Ok(())
    }
}

/// The stand-in is every model a stage asks for, whatever path its parameters name.
impl Models for StandIn {
    fn generator(
        &mut self,
        _model: &Path,
        _progress: &mut dyn Progress,
    ) -> Result<&mut dyn Generate> {
        Ok(self)
    }

    fn embedder(
        &mut self,
        _model: &Path,
        _n_seq: usize,
        _progress: &mut dyn Progress,
    ) -> Result<Box<dyn Embed + '_>> {
        Ok(Box::new(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_depend_on_the_text_only() {
        let mut a = StandIn::default();
        let b = StandIn::default();
        let s = a.score_batch(&["one", "two"]).unwrap();
        assert_eq!(s[0].logprobs, b.logprobs("one"));
        assert_ne!(s[0].logprobs, s[1].logprobs);
        assert!(s[0].logprobs.iter().all(|x| (-5.0..=-1.0).contains(x)));
        assert!((s[1].probs.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let v = a.vector("cheap flights to Rome");
        assert!((v.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5);
        let near = super::super::embed::cosine(&v, &a.vector("cheap flights to Paris"));
        let far = super::super::embed::cosine(&v, &a.vector("organic dog food"));
        assert!(near > far, "{near} vs {far}");
    }

    #[test]
    fn replies_are_reproducible_and_learning_narrows_the_spread() {
        let mut s = StandIn { spreads: vec![8, 1], ..StandIn::default() };
        assert_eq!(s.reply("q", 1, 2, 3, false), s.reply("q", 1, 2, 3, false));
        assert_eq!(s.reply("q", 1, 2, 3, true), s.reply("q", 9, 9, 9, true));
        s.learn(vec![]);
        assert_eq!(s.spread(), 1);
        assert!(s.reply("anything", 0, 0, 0, false).ends_with("answer is 0"));
        s.fail_after_calls = Some(0);
        assert!(s.embed(&["x"]).is_err());
    }
}
