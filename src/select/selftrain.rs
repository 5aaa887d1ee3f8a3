//! `hifi self-train` (ReST-EM, docs/methods.md#rest-em) for prompts with a checkable answer.
//!
//! A share of the prompts is held out. Each iteration: **E-step**, the current model (the
//! base, then base + the latest adapter) samples K replies per training prompt at
//! temperature, a binary reward judges them, and at most M distinct correct replies per
//! prompt are kept; **M-step**, a LoRA adapter is trained on the kept replies **from the base
//! model** (not from the previous adapter, as the paper found better). The held-out reward
//! (greedy, one reply per held-out prompt) is measured before the first iteration and after
//! each; the loop stops when it stops improving, or after `iterations`. Every iteration's kept
//! set is saved (and exportable) with its adapter.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::reward::Reward;
use super::{judged_samples, prompt_items, PromptItem, SamplingParams};
use crate::error::{Error, Result};
use crate::llm::{Engine, Generate};
use crate::progress::{CancelToken, Progress};
use crate::store::{NewResponse, NewSelectionEntry, SelectionKind, Store};
use crate::train::{Example, LoraRun, TrainSet};

#[derive(Debug, Clone, Serialize)]
pub struct SelfTrainParams {
    #[serde(flatten)]
    pub sampling: SamplingParams,
    pub keep_per_item: usize,
    pub iterations: usize,
    /// Share of the prompts held out to measure the reward.
    pub holdout: f64,
    pub limit: Option<usize>,
    #[serde(skip)]
    pub lora: LoraRun,
}

#[derive(Debug, Clone, Serialize)]
pub struct IterationReport {
    pub iteration: usize,
    /// The saved set of kept replies.
    pub selection: i64,
    pub kept: usize,
    /// Training prompts with at least one correct reply.
    pub prompts_solved: usize,
    /// Share of all sampled replies the reward accepted.
    pub sample_pass_rate: f64,
    /// Kept replies too long for the trainer's --max-len, left out.
    pub too_long: usize,
    pub adapter: PathBuf,
    pub final_loss: Option<f64>,
    pub heldout_reward: f64,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SelfTrainReport {
    pub train_prompts: usize,
    pub heldout_prompts: usize,
    /// Ids of the held-out prompts (never trained on).
    pub heldout: Vec<String>,
    /// Held-out reward of the base model.
    pub baseline_reward: f64,
    pub iterations: Vec<IterationReport>,
    /// The iteration with the best held-out reward (none: the base stayed best).
    pub best_iteration: Option<usize>,
    pub stopped: String,
    pub seconds: f64,
}

/// What self-training asks of its model: replies from the current policy, and an M-step.
pub trait Policy {
    /// The current policy (the base, then base + the latest adapter).
    fn generator(&mut self) -> &mut dyn Generate;
    /// Train an adapter named `name` on `kept` replies (prompt, reply), **from the base
    /// model**, and make it the policy that replies from now on (replacing the previous one).
    fn fit(
        &mut self,
        store: &mut Store,
        name: &str,
        system: Option<&str>,
        kept: &[(&PromptItem, String)],
        progress: &mut dyn Progress,
        cancel: &CancelToken,
    ) -> Result<Fitted>;
}

/// One M-step's outcome.
#[derive(Debug, Clone)]
pub struct Fitted {
    pub adapter: PathBuf,
    /// The trainer's settings, as saved with the iteration's set.
    pub lora: serde_json::Value,
    pub final_loss: Option<f64>,
    /// Kept replies too long to train on, left out.
    pub too_long: usize,
}

/// The real [`Policy`]: llama.cpp samples, the LoRA trainer trains, the adapter is loaded
/// into the sampling engine.
struct LoraPolicy<'a> {
    engine: Engine,
    base: &'a std::path::Path,
    base_sha: String,
    lora: &'a LoraRun,
}

impl Policy for LoraPolicy<'_> {
    fn generator(&mut self) -> &mut dyn Generate {
        &mut self.engine
    }

    fn fit(
        &mut self,
        store: &mut Store,
        name: &str,
        system: Option<&str>,
        kept: &[(&PromptItem, String)],
        progress: &mut dyn Progress,
        cancel: &CancelToken,
    ) -> Result<Fitted> {
        let (set, too_long) = train_set_of(&self.engine, system, kept, self.lora.params.max_len)?;
        if set.examples.is_empty() {
            return Err(Error::Input(format!(
                "every kept reply is longer than --max-len {} tokens",
                self.lora.params.max_len
            )));
        }
        let run = crate::train::train_set(
            store,
            self.base,
            &self.base_sha,
            name,
            None,
            set,
            self.lora,
            progress,
            cancel,
        )?;
        // Training always starts from the base; the adapter replaces the previous one.
        self.engine.set_adapter(&run.adapter)?;
        Ok(Fitted {
            adapter: run.adapter,
            lora: serde_json::to_value(&run.manifest.params).unwrap_or_default(),
            final_loss: run.manifest.final_loss,
            too_long,
        })
    }
}

/// The stand-in's M-step: it learns the pairs (its replies move to the next spread); no
/// adapter file is made.
#[cfg(feature = "test-support")]
impl Policy for crate::llm::stand_in::StandIn {
    fn generator(&mut self) -> &mut dyn Generate {
        self
    }

    fn fit(
        &mut self,
        _store: &mut Store,
        name: &str,
        _system: Option<&str>,
        kept: &[(&PromptItem, String)],
        _progress: &mut dyn Progress,
        _cancel: &CancelToken,
    ) -> Result<Fitted> {
        self.learn(kept.iter().map(|(p, r)| (p.text.clone(), r.clone())).collect());
        Ok(Fitted {
            adapter: PathBuf::from("stand-in").join(name),
            lora: json!({"stand_in": true}),
            final_loss: None,
            too_long: 0,
        })
    }
}

/// The prompts split into held-out and training ones, after the checks that need no model.
struct Plan<'p> {
    heldout: Vec<&'p PromptItem>,
    train: Vec<&'p PromptItem>,
}

/// The prompts self-training runs on (in the pool's order), after checking the parameters.
fn prompts(store: &Store, params: &SelfTrainParams) -> Result<Vec<PromptItem>> {
    let sp = &params.sampling;
    if sp.samples == 0 || params.keep_per_item == 0 || params.iterations == 0 {
        return Err(Error::Input(
            "--samples, --keep-per-item and --iterations must each be at least 1".into(),
        ));
    }
    if !(params.holdout > 0.0 && params.holdout < 1.0) {
        return Err(Error::Input(format!("--holdout must be in (0, 1), got {}", params.holdout)));
    }
    let mut items = prompt_items(store, &sp.reference_field, "", None)?;
    if matches!(sp.reward, Reward::ExactMatch) {
        items.retain(|i| i.reference.is_some());
    }
    if let Some(l) = params.limit {
        items.truncate(l);
    }
    if items.len() < 2 {
        return Err(Error::Input(format!(
            "self-training needs prompts with a checkable answer: {} found (a `{}` field per item, or --reward-command)",
            items.len(),
            sp.reference_field
        )));
    }
    Ok(items)
}

/// A seeded shuffle; the first `holdout` share is held out (at least one prompt each side).
fn plan<'p>(items: &'p [PromptItem], params: &SelfTrainParams) -> Plan<'p> {
    let mut order: Vec<&PromptItem> = items.iter().collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(params.sampling.seed));
    let n_held = ((order.len() as f64 * params.holdout).round() as usize).clamp(1, order.len() - 1);
    let train = order.split_off(n_held);
    Plan { heldout: order, train }
}

pub fn run(
    store: &mut Store,
    params: &SelfTrainParams,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<SelfTrainReport> {
    let started = Instant::now();
    let sp = &params.sampling;
    let items = prompts(store, params)?;
    let base_sha = store.file_sha256(&sp.model).map_err(|e| Error::io(&sp.model, e))?;
    progress.start("load", 0);
    let engine = Engine::load(&sp.model, sp.engine.clone())?;
    let mut policy = LoraPolicy { engine, base: &sp.model, base_sha, lora: &params.lora };
    iterate(store, params, plan(&items, params), &mut policy, started, progress, cancel)
}

/// [`run`] with `policy` as the model that samples and trains.
pub fn run_with(
    store: &mut Store,
    params: &SelfTrainParams,
    policy: &mut dyn Policy,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<SelfTrainReport> {
    let started = Instant::now();
    let items = prompts(store, params)?;
    iterate(store, params, plan(&items, params), policy, started, progress, cancel)
}

/// The EM loop: the held-out reward of the base, then E-step, M-step and held-out reward per
/// iteration while the reward improves.
fn iterate(
    store: &mut Store,
    params: &SelfTrainParams,
    plan: Plan<'_>,
    policy: &mut dyn Policy,
    started: Instant,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<SelfTrainReport> {
    let sp = &params.sampling;
    let (heldout, train) = (&plan.heldout[..], &plan.train[..]);
    let system = sp.system.as_deref();
    let reward_of = |policy: &mut dyn Policy, progress: &mut dyn Progress| -> Result<f64> {
        let r =
            judged_samples(policy.generator(), heldout, sp, sp.gen(1, 0.0), 0, progress, cancel)?;
        Ok(r.iter().filter(|s| s.first().is_some_and(|x| x.1)).count() as f64
            / heldout.len() as f64)
    };

    let baseline_reward = reward_of(policy, progress)?;
    let stamp = crate::store::now()
        .replace([':', '-', '.'], "")
        .replace('T', "-")
        .trim_end_matches('Z')
        .to_string();
    let mut best = (baseline_reward, None);
    let mut iterations = Vec::new();
    let mut stopped = format!("ran all {} iterations", params.iterations);
    for it in 1..=params.iterations {
        let t0 = Instant::now();
        // E-step with the current policy.
        let replies = judged_samples(
            policy.generator(),
            train,
            sp,
            sp.gen(sp.samples, sp.temperature),
            it as u64,
            progress,
            cancel,
        )?;
        let total: usize = replies.iter().map(Vec::len).sum();
        let passed: usize = replies.iter().map(|r| r.iter().filter(|x| x.1).count()).sum();
        let kept = keep_correct(train, &replies, params.keep_per_item);
        let solved = kept.iter().map(|k| k.0.key).collect::<HashSet<_>>().len();
        if kept.is_empty() {
            stopped = format!("iteration {it}: no sampled reply passed the reward, nothing to train on (more --samples, a higher --temperature, or easier prompts)");
            if it == 1 {
                return Err(Error::Input(stopped));
            }
            break;
        }
        // M-step from the base model.
        let name = format!("self-train-{stamp}/iter-{it}");
        let pairs: Vec<(&PromptItem, String)> =
            kept.iter().map(|(p, text, _)| (*p, text.clone())).collect();
        let fitted = policy.fit(store, &name, system, &pairs, progress, cancel)?;
        // The next E-step and the held-out reward use base + this iteration's adapter.
        let heldout_reward = reward_of(policy, progress)?;

        let entries: Vec<NewSelectionEntry> = kept
            .iter()
            .map(|(p, text, j)| NewSelectionEntry {
                item: p.key,
                response: Some(text.clone()),
                score: Some(1.0),
                reasons: json!({"iteration": it, "sample": j, "reward": 1, "reference": p.reference}),
            })
            .collect();
        let report = IterationReport {
            iteration: it,
            selection: 0,
            kept: entries.len(),
            prompts_solved: solved,
            sample_pass_rate: passed as f64 / total.max(1) as f64,
            too_long: fitted.too_long,
            adapter: fitted.adapter.clone(),
            final_loss: fitted.final_loss,
            heldout_reward,
            seconds: t0.elapsed().as_secs_f64(),
        };
        let heldout_ids: Vec<&str> = heldout.iter().map(|p| p.id.as_str()).collect();
        let p = json!({"params": params, "iteration": it, "adapter": fitted.adapter, "lora": fitted.lora, "heldout": heldout_ids, "baseline_reward": baseline_reward});
        // The first K kept replies of each prompt become candidates experts judge.
        let mut per_item: std::collections::HashMap<i64, usize> = Default::default();
        let candidates: Vec<(i64, NewResponse)> = kept
            .iter()
            .filter(|(p, _, _)| {
                let n = per_item.entry(p.key).or_default();
                *n += 1;
                *n <= sp.keep_candidates
            })
            .map(|(p, text, j)| {
                let origin = json!({"iteration": it, "sample": j, "model": sp.model});
                (
                    p.key,
                    NewResponse {
                        text: text.clone(),
                        source: "self-train".into(),
                        origin: Some(origin),
                    },
                )
            })
            .collect();
        let selection = store.save_selection_with_candidates(
            SelectionKind::SelfTrain,
            &p,
            &serde_json::to_value(&report).unwrap_or_default(),
            &entries,
            &candidates,
        )?;
        iterations.push(IterationReport { selection, ..report });
        if heldout_reward > best.0 {
            best = (heldout_reward, Some(it));
        } else {
            stopped = format!(
                "iteration {it}: held-out reward {heldout_reward:.3} did not improve on {:.3}",
                best.0
            );
            break;
        }
    }
    Ok(SelfTrainReport {
        train_prompts: train.len(),
        heldout_prompts: heldout.len(),
        heldout: heldout.iter().map(|p| p.id.clone()).collect(),
        baseline_reward,
        iterations,
        best_iteration: best.1,
        stopped,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Per prompt, at most `keep` distinct (after trimming) correct replies, in sample order:
/// (prompt, reply, sample index).
fn keep_correct<'p>(
    train: &[&'p PromptItem],
    replies: &[Vec<(String, bool)>],
    keep: usize,
) -> Vec<(&'p PromptItem, String, usize)> {
    let mut kept = Vec::new();
    for (p, rs) in train.iter().zip(replies) {
        let mut seen = HashSet::new();
        let before = kept.len();
        for (j, (text, ok)) in rs.iter().enumerate() {
            if *ok && kept.len() - before < keep && seen.insert(text.trim().to_string()) {
                kept.push((*p, text.clone(), j));
            }
        }
    }
    kept
}

/// Kept replies as training examples: the chat prompt, then the reply and the template's end
/// of turn (the loss is on those). The tokens every prompt starts with are the shared prefix.
fn train_set_of(
    engine: &Engine,
    system: Option<&str>,
    kept: &[(&PromptItem, String)],
    max_len: usize,
) -> Result<(TrainSet, usize)> {
    let ids =
        |t: &[llama_cpp_2::token::LlamaToken]| t.iter().map(|t| t.0 as u32).collect::<Vec<u32>>();
    let mut pairs = Vec::with_capacity(kept.len());
    for (p, reply) in kept {
        pairs.push((
            ids(&engine.chat_prompt(system, &p.text)?),
            ids(&engine.chat_completion_tokens(reply)?),
        ));
    }
    // Shared prefix: what every prompt starts with, less one token so no example is empty.
    let mut common = pairs.first().map_or(0, |p| p.0.len().saturating_sub(1));
    for (prompt, _) in &pairs {
        common = common
            .min(prompt.iter().zip(&pairs[0].0).take_while(|(a, b)| a == b).count())
            .min(prompt.len().saturating_sub(1));
    }
    let prefix = pairs.first().map(|p| p.0[..common].to_vec()).unwrap_or_default();
    let mut examples = Vec::new();
    let mut records = Vec::new();
    let mut h = Sha256::new();
    let mut too_long = 0;
    for ((prompt, completion), (p, reply)) in pairs.into_iter().zip(kept) {
        let mut tokens = prompt[common..].to_vec();
        let n_prompt = tokens.len();
        tokens.extend(completion);
        if tokens.len() > max_len {
            too_long += 1;
            continue;
        }
        examples.push(Example { tokens, n_prompt });
        let mut messages = Vec::new();
        if let Some(s) = system {
            messages.push(json!({"role": "system", "content": s}));
        }
        messages.push(json!({"role": "user", "content": p.text}));
        messages.push(json!({"role": "assistant", "content": reply}));
        records.push(json!({"messages": messages}));
        h.update(format!("{}\0{}\0", p.id, reply));
    }
    let prompt_sha256 = hex::encode(Sha256::digest(system.unwrap_or("").as_bytes()));
    Ok((
        TrainSet { prefix, examples, records, sha256: hex::encode(h.finalize()), prompt_sha256 },
        too_long,
    ))
}
