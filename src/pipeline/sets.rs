//! The stages that build sets: BETR (target-matched documents), LIMO (a few hundred
//! hard-but-solvable prompts) and ReST-EM self-training.

use std::path::{Path, PathBuf};

use super::{settle, shown, EngineOverrides, LoraOverrides, Project, Stage, Summary};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::progress::{CancelToken, Progress};
use crate::select::betr::{self, BetrParams, BetrReport};
use crate::select::limo::{self, LimoParams, LimoReport};
use crate::select::reward::Reward;
use crate::select::selftrain::{self, SelfTrainParams, SelfTrainReport};
use crate::select::SamplingParams;
use crate::text::inert;

/// A BETR selection; [`Default`] holds every default but the targets file.
#[derive(Debug, Clone)]
pub struct BetrOverrides {
    /// Target examples, CSV or JSONL.
    pub targets: PathBuf,
    /// Share of the pool to keep.
    pub keep: f64,
    /// Pool documents embedded and ranked.
    pub sample: usize,
    /// Share of the sample the classifier learns as positive.
    pub positive: f64,
    pub text_field: String,
    pub set_field: String,
    pub seed: u64,
    /// The embedding model (`None`: `[model] embed_path`, else the model) and threads.
    pub engine: EngineOverrides,
}

impl Default for BetrOverrides {
    fn default() -> Self {
        BetrOverrides {
            targets: PathBuf::new(),
            keep: 0.1,
            sample: 2000,
            positive: 0.1,
            text_field: "text".into(),
            set_field: "set".into(),
            seed: 0,
            engine: EngineOverrides::default(),
        }
    }
}

/// Keep the pool documents most like the target examples (BETR).
pub fn select_betr(
    dir: &Path,
    o: &BetrOverrides,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<Summary<BetrReport>> {
    settle(Stage::Select, || {
        let Project { cfg, mut store, .. } = Project::open(dir)?;
        let params = BetrParams {
            targets: o.targets.clone(),
            text_field: o.text_field.clone(),
            set_field: o.set_field.clone(),
            keep: o.keep,
            sample: o.sample,
            positive: o.positive,
            seed: o.seed,
            model: o.engine.model.clone().unwrap_or_else(|| cfg.embed_model_path(dir)),
            engine: o.engine.options(&cfg),
        };
        let rep = betr::run(&mut store, &params, progress, cancel)?;
        let mut lines = vec![format!(
            "set {} (betr): kept {} of {} documents ({} sampled, {} embedded now) in {:.1} s",
            rep.selection, rep.kept, rep.pool, rep.sample, rep.embedded_now, rep.seconds
        )];
        for s in &rep.sets {
            let h = &s.held_out;
            lines.push(format!(
                "  {:<16} {} targets, {} positives; held-out classifier: accuracy {:.3} (majority {:.3}), balanced {:.3}, AUC {}; kept {}",
                inert(&s.name, false),
                s.targets,
                s.positives,
                h.accuracy,
                h.majority_accuracy,
                h.balanced_accuracy,
                h.auc.map_or("n/a".into(), |v| format!("{v:.3}")),
                s.kept
            ));
        }
        let sim = &rep.similarity;
        lines.push(match (sim.kept_mean, sim.random_mean) {
            (Some(k), Some(r)) => format!(
                "  mean best cosine to the targets: kept {k:.4} (n={}) vs random {r:.4} (n={}), on {} embedded documents the classifier never saw",
                sim.kept_n, sim.random_n, sim.measured_on
            ),
            _ => "  similarity not measured: no kept or random document is embedded outside the classifier's training sample (run `hifi embed`)".into(),
        });
        lines.push(format!("export it: hifi export --selection {} -o betr.jsonl", rep.selection));
        let mut s = Summary::new(Stage::Select, rep, false);
        s.lines = lines;
        Ok(s)
    })
}

/// How replies are sampled and judged (LIMO and self-training); [`Default`] holds the defaults.
#[derive(Debug, Clone)]
pub struct SamplingOverrides {
    /// Replies sampled per prompt.
    pub samples: usize,
    pub temperature: f32,
    /// Longest reply in tokens.
    pub max_tokens: usize,
    pub reference_field: String,
    pub responses_field: String,
    pub system: Option<String>,
    /// Judge with this command instead of exact match.
    pub reward_command: Option<String>,
    /// Seconds the reward command gets per reply before it is ended.
    pub reward_timeout_secs: u64,
    pub seed: u64,
    /// The model that samples (`None`: `[model] path`) and threads.
    pub engine: EngineOverrides,
    /// Candidates kept per prompt for experts to choose among (0: none).
    pub keep_candidates: usize,
}

impl Default for SamplingOverrides {
    fn default() -> Self {
        SamplingOverrides {
            samples: 8,
            temperature: 0.7,
            max_tokens: 128,
            reference_field: "reference".into(),
            responses_field: "responses".into(),
            system: None,
            reward_command: None,
            reward_timeout_secs: crate::select::reward::DEFAULT_TIMEOUT_SECS,
            seed: 0,
            engine: EngineOverrides::default(),
            keep_candidates: 0,
        }
    }
}

impl SamplingOverrides {
    fn params(&self, cfg: &Config, dir: &Path) -> SamplingParams {
        SamplingParams {
            samples: self.samples,
            temperature: self.temperature,
            max_tokens: self.max_tokens,
            reference_field: self.reference_field.clone(),
            system: self.system.clone(),
            reward: match &self.reward_command {
                Some(c) => {
                    Reward::Command { command: c.clone(), timeout_secs: self.reward_timeout_secs }
                }
                None => Reward::ExactMatch,
            },
            seed: self.seed,
            model: self.engine.model.clone().unwrap_or_else(|| cfg.model_path(dir)),
            engine: self.engine.options(cfg),
            keep_candidates: self.keep_candidates,
        }
    }
}

/// A LIMO set; [`Default`] holds every default but the size.
#[derive(Debug, Clone)]
pub struct LimoOverrides {
    /// Prompts in the set, exactly.
    pub size: usize,
    pub sampling: SamplingOverrides,
    /// A prompt counts as solvable when at least this many samples pass.
    pub min_passes: usize,
    /// Rubric weights, e.g. "elaboration=0.3,verification=0.2" (parts left out keep LIMO's).
    pub weights: String,
    pub clusters: Option<usize>,
    /// Word n-gram cosine at or above which a prompt is a near-duplicate of a chosen one.
    pub dup_threshold: f32,
    pub limit: Option<usize>,
    /// Embedding model for the clusters (`None`: `[model] embed_path`, else the model).
    pub embed_model: Option<PathBuf>,
}

impl Default for LimoOverrides {
    fn default() -> Self {
        LimoOverrides {
            size: 0,
            sampling: SamplingOverrides::default(),
            min_passes: 1,
            weights: String::new(),
            clusters: None,
            dup_threshold: 0.8,
            limit: None,
            embed_model: None,
        }
    }
}

/// Exactly `size` hard-but-solvable prompts with their best responses (LIMO).
pub fn select_limo(
    dir: &Path,
    o: &LimoOverrides,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<Summary<LimoReport>> {
    settle(Stage::Select, || {
        let weights =
            o.weights.parse().map_err(|e: String| Error::Input(format!("--weights: {e}")))?;
        let Project { cfg, mut store, .. } = Project::open(dir)?;
        let params = LimoParams {
            size: o.size,
            sampling: o.sampling.params(&cfg, dir),
            min_passes: o.min_passes,
            responses_field: o.sampling.responses_field.clone(),
            weights,
            clusters: o.clusters,
            dup_threshold: o.dup_threshold,
            limit: o.limit,
            embed_model: o.embed_model.clone().unwrap_or_else(|| cfg.embed_model_path(dir)),
        };
        let rep = limo::run(&mut store, &params, progress, cancel)?;
        let how = match rep.difficulty {
            limo::Difficulty::PassRate => format!(
                "pass rate over {} samples (mean in the set {:.2})",
                o.sampling.samples,
                rep.mean_pass_rate.unwrap_or(0.0)
            ),
            limo::Difficulty::Margin => "prelabeling margin".to_string(),
        };
        let lines = vec![
            format!(
                "set {} (limo): {} prompts of {} eligible ({} considered), difficulty from {how}, {} of {} clusters covered, {:.1} s",
                rep.selection, rep.size, rep.eligible, rep.considered, rep.clusters_covered, rep.clusters, rep.seconds
            ),
            format!("  dropped: {}", crate::text::json_to_string(&rep.dropped, false)),
            format!("review it: hifi select show {}   export it: hifi export --selection {} --format chat-jsonl -o limo.jsonl", rep.selection, rep.selection),
        ];
        let mut s = Summary::new(Stage::Select, rep, false);
        s.lines = lines;
        Ok(s)
    })
}

/// ReST-EM self-training; [`Default`] holds the defaults (the paper keeps 10 per prompt).
#[derive(Debug, Clone)]
pub struct SelfTrainOverrides {
    pub sampling: SamplingOverrides,
    /// Correct replies kept per prompt at most.
    pub keep_per_item: usize,
    /// Iterations at most (it stops earlier when the held-out reward stops improving).
    pub iterations: usize,
    /// Share of the prompts held out to measure the reward.
    pub holdout: f64,
    pub limit: Option<usize>,
    pub lora: LoraOverrides,
}

impl Default for SelfTrainOverrides {
    fn default() -> Self {
        SelfTrainOverrides {
            sampling: SamplingOverrides::default(),
            keep_per_item: 10,
            iterations: 3,
            holdout: 0.2,
            limit: None,
            lora: LoraOverrides::default(),
        }
    }
}

/// Sample, keep what passes the reward, train a LoRA from the base model, repeat while the
/// held-out reward improves.
pub fn self_train(
    dir: &Path,
    o: &SelfTrainOverrides,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<Summary<SelfTrainReport>> {
    settle(Stage::SelfTrain, || {
        if o.lora.continue_last {
            return Err(Error::Input("--continue: self-training trains every iteration from the base model (ReST-EM); it cannot continue an adapter".into()));
        }
        let Project { cfg, mut store, .. } = Project::open(dir)?;
        let params = SelfTrainParams {
            sampling: o.sampling.params(&cfg, dir),
            keep_per_item: o.keep_per_item,
            iterations: o.iterations,
            holdout: o.holdout,
            limit: o.limit,
            lora: o.lora.resolve(&store, &cfg)?,
        };
        let rep = selftrain::run(&mut store, &params, progress, cancel)?;
        let mut lines = vec![format!(
            "{} training prompts, {} held out; held-out reward (greedy) of the base model: {:.3}",
            rep.train_prompts, rep.heldout_prompts, rep.baseline_reward
        )];
        for it in &rep.iterations {
            lines.push(format!(
                "  iteration {}: kept {} replies ({} prompts solved, {:.0}% of samples passed{}), loss {} → held-out reward {:.3}; set {}, {:.0} s",
                it.iteration,
                it.kept,
                it.prompts_solved,
                100.0 * it.sample_pass_rate,
                if it.too_long > 0 { format!(", {} too long", it.too_long) } else { String::new() },
                it.final_loss.map_or("-".into(), |l| format!("{l:.3}")),
                it.heldout_reward,
                it.selection,
                it.seconds
            ));
            lines.push(format!("      adapter: {}", shown(&it.adapter)));
        }
        lines.push(format!("stopped: {}", rep.stopped));
        lines.push(match rep.best_iteration {
            Some(b) => format!("best: iteration {b}"),
            None => "best: the base model (no iteration beat it on the held-out prompts)".into(),
        });
        let mut s = Summary::new(Stage::SelfTrain, rep, false);
        s.lines = lines;
        Ok(s)
    })
}
