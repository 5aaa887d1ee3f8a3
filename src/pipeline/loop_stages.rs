//! The stages of the loop after prelabeling: mine the review queue, run a round, train an
//! adapter, simulate a label budget.

use std::path::{Path, PathBuf};

use super::{settle, shown, Project, Stage, Summary};
use crate::config::{Config, Target};
use crate::curate::{self, MineParams, MineReport, Strategy};
use crate::error::{Error, Result};
use crate::progress::{CancelToken, Progress};
use crate::rounds::{
    self, AuditScores, ProbeParams, RoundParams, RoundReport, RoundScores, SimParams, SimReport,
    Trainer,
};
use crate::store::Store;
use crate::text::inert;
use crate::train::{AdapterRun, LoraParams, LoraRun, TrainerCommand};

/// Fill the review queue (replacing what is queued and not yet claimed).
pub fn mine(
    dir: &Path,
    params: &MineParams,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<Summary<MineReport>> {
    settle(Stage::Mine, || {
        let Project { cfg, mut store, .. } = Project::open(dir)?;
        let rep = curate::mine(&mut store, &cfg, params, progress, cancel)?;
        let mut s = Summary::new(Stage::Mine, rep.clone(), rep.cancelled);
        s.notes.extend(rep.warnings.iter().map(|w| inert(w, false)));
        if rep.cancelled {
            s.line("cancelled: the queue is unchanged");
            return Ok(s);
        }
        s.lines.extend(mine_lines(&rep));
        s.line("next: hifi review");
        Ok(s)
    })
}

/// What a mining run queued, and why adaptive explored as much as it did.
fn mine_lines(rep: &MineReport) -> Vec<String> {
    let mut out = Vec::new();
    let mut what = if rep.strategy == Strategy::Pairs {
        format!("{} pairs", rep.pairs)
    } else {
        format!("{} items", rep.items)
    };
    if rep.audit > 0 {
        what.push_str(&format!(" + {} random audit items", rep.audit));
    }
    out.push(format!(
        "queued {what} ({} strategy, {} for two annotators) from {} items in {:.1}s; {} already labeled left out, {} near-duplicates refused",
        rep.strategy.as_str(),
        rep.double_annotated,
        rep.pool,
        rep.seconds_total,
        rep.labeled_excluded,
        rep.near_duplicates
    ));
    if rep.strategy == Strategy::Pairs {
        let clusters: Vec<String> = rep
            .labels
            .iter()
            .map(|l| {
                format!(
                    "{} {}×{}{}",
                    l.label,
                    l.items,
                    l.clusters,
                    if l.cached { " (cached)" } else { "" }
                )
            })
            .collect();
        out.push(format!(
            "clusters  {}; {} overlapping cluster pairs, {} candidate pairs",
            clusters.join(", "),
            rep.overlapping_cluster_pairs,
            rep.candidates
        ));
    }
    if let Some(share) = rep.explore_share {
        let why = match rep.held_out_kappa {
            Some((k, n)) => format!("the model's κ on {n} held-out blind labels is {k:.2}"),
            None => "no held-out blind labels yet to judge the model by".into(),
        };
        out.push(format!(
            "adaptive  {:.0}% exploration, {:.0}% lowest margins: {why}",
            share * 100.0,
            (1.0 - share) * 100.0
        ));
    }
    out
}

/// LoRA settings a user may override; everything left `None` comes from hifi.toml's `[train]`,
/// then [`LoraParams::default`].
#[derive(Debug, Clone, Default)]
pub struct LoraOverrides {
    pub rank: Option<usize>,
    pub alpha: Option<f32>,
    pub lr: Option<f64>,
    pub epochs: Option<usize>,
    pub batch: Option<usize>,
    pub max_len: Option<usize>,
    /// Empty: hifi.toml's `[train] targets`.
    pub targets: Vec<Target>,
    pub seed: Option<u64>,
    /// Continue from the last LoRA round's adapter instead of the base model.
    pub continue_last: bool,
    /// An external trainer command; `None`: hifi.toml's `[train] external`, else the built-in.
    pub external: Option<String>,
    pub checkpoint: Option<bool>,
    pub threads: Option<usize>,
}

impl LoraOverrides {
    /// The LoRA run these overrides ask for. An external command from hifi.toml (not from
    /// the overrides) is a command the user did not type here: callers show it before it runs.
    pub fn resolve(&self, store: &Store, cfg: &Config) -> Result<LoraRun> {
        let continue_from = match self.continue_last {
            true => Some(rounds::last_adapter(store)?.ok_or_else(|| {
                Error::Input("--continue: no finished LoRA round has an adapter yet".into())
            })?),
            false => None,
        };
        let t = &cfg.train;
        let trainer = match self.external.as_ref().or(t.external.as_ref()) {
            Some(cmd) => {
                let from = if self.external.is_some() {
                    "--external"
                } else {
                    "hifi.toml [train] external"
                };
                crate::shell::check_external(cmd)
                    .map_err(|e| Error::Input(format!("{from}: {e}")))?;
                TrainerCommand::External(cmd.clone())
            }
            None => TrainerCommand::builtin()?,
        };
        let d = LoraParams::default();
        Ok(LoraRun {
            params: LoraParams {
                rank: self.rank.unwrap_or(t.rank),
                alpha: self.alpha.unwrap_or(t.alpha),
                lr: self.lr.unwrap_or(t.lr),
                epochs: self.epochs.unwrap_or(t.epochs),
                batch: self.batch.unwrap_or(t.batch),
                max_len: self.max_len.unwrap_or(d.max_len),
                targets: if self.targets.is_empty() {
                    t.targets.iter().filter_map(|n| Target::from_flag(n)).collect()
                } else {
                    self.targets.clone()
                },
                seed: self.seed.unwrap_or(d.seed),
                checkpoint: self.checkpoint,
                ..d
            },
            continue_from,
            use_adapter: None,
            trainer,
            threads: self.threads.unwrap_or_else(|| cfg.threads()),
        })
    }

    /// hifi.toml's external trainer command when it is the one that would run (no override).
    pub fn configured_command<'c>(&self, cfg: &'c Config) -> Option<&'c str> {
        match self.external {
            Some(_) => None,
            None => cfg.train.external.as_deref(),
        }
    }
}

/// One round of the loop.
#[derive(Debug, Clone)]
pub struct RoundOverrides {
    pub trainer: Trainer,
    /// The probe starts from the LLM's label log-probabilities (default) or the embeddings alone.
    pub use_llm: bool,
    /// LoRA rounds: use this adapter instead of training one.
    pub adapter: Option<PathBuf>,
    /// Refill the queue afterwards with these settings (`None`: leave it).
    pub mine: Option<MineParams>,
    pub lora: LoraOverrides,
    /// Seeds the bootstrap intervals.
    pub seed: u64,
}

impl RoundOverrides {
    /// A round of `trainer` with every default: the probe on LLM features, the queue refilled
    /// with the default strategy.
    pub fn of(trainer: Trainer) -> Self {
        RoundOverrides {
            trainer,
            use_llm: true,
            adapter: None,
            mine: Some(MineParams::default()),
            lora: LoraOverrides::default(),
            seed: 0,
        }
    }

    fn params(&self, store: &Store, cfg: &Config) -> Result<RoundParams> {
        let lora = match self.trainer {
            Trainer::Lora => Some(LoraRun {
                use_adapter: self.adapter.clone(),
                ..self.lora.resolve(store, cfg)?
            }),
            _ if self.adapter.is_some() => {
                return Err(Error::Input("--adapter needs --trainer lora".into()))
            }
            _ => None,
        };
        Ok(RoundParams {
            trainer: self.trainer,
            probe: ProbeParams { use_llm: self.use_llm, ..ProbeParams::default() },
            seed: self.seed,
            mine: self.mine.clone(),
            lora,
        })
    }
}

/// Split the expert labels, train the round model, re-predict, score on eval, refill the queue.
pub fn round(
    dir: &Path,
    o: &RoundOverrides,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<Summary<RoundReport>> {
    settle(Stage::Round, || {
        let Project { cfg, mut store, .. } = Project::open(dir)?;
        let params = o.params(&store, &cfg)?;
        let rep = rounds::run_round(&mut store, &cfg, &params, progress, cancel)?;
        let mut s = Summary::new(Stage::Round, rep.clone(), false);
        s.notes.extend(rep.warnings.iter().map(|w| inert(w, false)));
        let k = rep.scores.model_vs_expert.kappa.map_or("undefined".into(), |k| format!("{k:.3}"));
        s.line(format!(
            "round {} ({}): κ {k} on {} eval items; {}",
            rep.round,
            rep.trainer.as_str(),
            rep.scores.model_vs_expert.n,
            rep.verdict.decision
        ));
        if let Some(b) = rep.baseline_round {
            s.line(format!("round {b}: zero-shot baseline recorded first"));
        }
        s.line(format!(
            "round {} ({}): trained on {} items, predicted {} in {:.1}s",
            rep.round,
            rep.trainer.as_str(),
            rep.train_size,
            rep.predicted,
            rep.seconds_train
        ));
        if let Some(ad) = &rep.adapter {
            s.line(format!(
                "  adapter {} ({}, {:.0}s training)",
                shown(&ad.adapter),
                losses(ad),
                ad.job.seconds
            ));
        }
        s.lines.extend(score_lines(&rep.scores));
        s.lines.extend(crate::rounds::per_label_lines(&rep.scores, &cfg.label_names()));
        if let Some(m) = &rep.mine {
            s.line(format!("queue refilled: {} entries ({})", m.entries, m.strategy.as_str()));
        }
        s.notes.extend(rep.verdict.notes.iter().map(|n| inert(n, false)));
        s.line(inert(&rep.verdict.message, true));
        Ok(s)
    })
}

fn losses(ad: &AdapterRun) -> String {
    let m = &ad.manifest;
    format!(
        "loss {} → {}",
        m.first_loss.map_or("-".into(), |l| format!("{l:.3}")),
        m.final_loss.map_or("-".into(), |l| format!("{l:.3}"))
    )
}

/// A round's scores as `hifi round` and `hifi report` print them.
pub fn score_lines(s: &RoundScores) -> Vec<String> {
    let mut out = Vec::new();
    let balance: Vec<String> =
        s.eval_balance.iter().map(|(l, n)| format!("{} {n}", inert(l, false))).collect();
    let audit_n = s.audit.as_ref().map_or(0, |a| a.n);
    out.push(format!(
        "  eval {} items ({}; {} boundary, {audit_n} audit), train {}",
        s.eval_size,
        balance.join(", "),
        s.eval_size - audit_n,
        s.train_size
    ));
    if s.blind.eval_labels > 0 {
        out.push(format!(
            "  eval labels {}: {} given with the suggestion visible ({} items left out of κ and the stop rule), {} of unknown visibility (counted as blind)",
            s.blind.eval_labels, s.blind.seen, s.blind.items_left_out, s.blind.unknown
        ));
    }
    out.push(format!("  model vs experts  κ {} (boundary eval)", s.model_vs_expert.show()));
    if let Some(f) = s.macro_f1 {
        out.push(format!(
            "  macro-F1 {f:.3}{}",
            s.pabak.map(|p| format!(", PABAK {p:.3}")).unwrap_or_default()
        ));
    }
    for a in &s.per_annotator {
        out.push(format!("    vs {:<12} κ {}", inert(&a.annotator, false), a.agreement.show()));
    }
    if let Some(m) = s.annotator_mean_kappa {
        out.push(format!("    mean over annotators κ {m:.3}"));
    }
    out.push(format!("  expert vs expert  κ {}", s.expert_vs_expert.show()));
    if s.unpredicted > 0 {
        out.push(format!(
            "  {} eval items have no prediction from this model (left out)",
            s.unpredicted
        ));
    }
    if let Some(a) = &s.audit {
        out.extend(audit_lines(a));
    }
    out
}

/// The audit stratum: the model on uniform random draws from the pool, and label prevalence.
fn audit_lines(a: &AuditScores) -> Vec<String> {
    let mut out = Vec::new();
    let acc = match (a.accuracy, a.accuracy_ci) {
        (Some(x), Some([lo, hi])) => format!("{x:.3} [{lo:.2}, {hi:.2}]"),
        _ => "-".into(),
    };
    out.push(format!("  audit (random draws) κ {}, accuracy {acc}", a.model_vs_expert.show()));
    if a.unpredicted > 0 {
        out.push(format!(
            "    {} audit items have no prediction from this model (left out of κ and accuracy)",
            a.unpredicted
        ));
    }
    for p in &a.prevalence {
        out.push(format!(
            "    prevalence {:<12} {:>5.1}% [{:.1}, {:.1}] ({} of {}), model predicts {}",
            inert(&p.label, false),
            100.0 * p.share,
            100.0 * p.share_ci[0],
            100.0 * p.share_ci[1],
            p.experts,
            a.n,
            p.model_share.map_or("-".into(), |m| format!("{:.1}%", 100.0 * m))
        ));
    }
    out
}

/// Train a LoRA adapter on the expert train split (no re-prelabeling: `round` does that).
pub fn train(
    dir: &Path,
    o: &LoraOverrides,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<Summary<AdapterRun>> {
    settle(Stage::Train, || {
        let Project { cfg, mut store, .. } = Project::open(dir)?;
        crate::curate::split::assign_splits(&mut store, &cfg)?;
        let run = o.resolve(&store, &cfg)?;
        let mut notes = Vec::new();
        // A multi-label project trains on one yes/no answer per item and label.
        let (train, train_sets) = if cfg.multi_label {
            (Vec::new(), rounds::train_split_sets(&store, &cfg, &mut notes)?)
        } else {
            (rounds::train_split(&store, &cfg, &mut notes)?, Vec::new())
        };
        let stamp = format!(
            "train-{}",
            crate::store::now()
                .replace([':', '-'], "")
                .replace('T', "-")
                .chars()
                .take(15)
                .collect::<String>()
        );
        let name = crate::train::lora_round::claim_run_dir(&store.root().join("adapters"), &stamp)?;
        let out = if cfg.multi_label {
            crate::train::lora_round::train_adapter_multi(
                &mut store,
                &cfg,
                &name,
                None,
                &train_sets,
                &run,
                progress,
                cancel,
            )?
        } else {
            crate::train::train_adapter(
                &mut store, &cfg, &name, None, &train, &run, progress, cancel,
            )?
        };
        let m = &out.manifest;
        let lines = vec![
            format!(
                "adapter: {} ({} train items, rank {}, {:.0}s, {})",
                shown(&out.adapter),
                m.train_size,
                m.rank,
                m.seconds,
                losses(&out)
            ),
            format!("manifest: {}", shown(&crate::train::Manifest::path_for(&out.adapter))),
            format!("use it: hifi prelabel --adapter {}", shown(&out.adapter)),
        ];
        let mut s = Summary::new(Stage::Train, out, false);
        s.lines = lines;
        s.notes = notes.iter().map(|w| inert(w, false)).collect();
        Ok(s)
    })
}

/// A simulation on data with gold labels.
#[derive(Debug, Clone)]
pub struct SimulateRequest {
    /// The field with the oracle's answers (`gold`: the one `hifi import --gold` read).
    pub oracle: String,
    /// A second field read as a second, independent expert.
    pub oracle2: Option<String>,
    pub params: SimParams,
    /// Also draw κ by budget per strategy into this SVG file; `force` replaces it.
    pub plot: Option<(PathBuf, bool)>,
}

/// Plan a label budget: per strategy and budget, run the loop with an oracle, score on a
/// held-out test set.
pub fn simulate(
    dir: &Path,
    r: &SimulateRequest,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<Summary<SimReport>> {
    settle(Stage::Simulate, || {
        if !(r.params.probe.l2.is_finite() && r.params.probe.l2 >= 0.0) {
            return Err(Error::Input(format!(
                "--probe-l2 must be a finite penalty ≥ 0, got {}",
                r.params.probe.l2
            )));
        }
        let share = r.params.probe.bias_share;
        if !(share.is_finite() && (0.0..=1.0).contains(&share)) {
            return Err(Error::Input(format!(
                "--probe-bias-share must be a share from 0 to 1, got {share}"
            )));
        }
        let Project { cfg, mut store, .. } = Project::open(dir)?;
        let check = |p: &Path, e: String| Error::Input(format!("{}: {e}", shown(p)));
        if let Some((p, force)) = &r.plot {
            crate::files::check_output(p, *force).map_err(|e| check(p, e.to_string()))?;
        }
        let rep = rounds::simulate(
            &mut store,
            &cfg,
            &r.oracle,
            r.oracle2.as_deref(),
            &r.params,
            progress,
            cancel,
        )?;
        if let Some((p, force)) = &r.plot {
            let name = dir
                .canonicalize()
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_default();
            let svg = rounds::plot::kappa_curves_svg(
                &rep,
                &format!("{name} — κ vs gold by label budget"),
            );
            crate::files::write_output(p, svg.as_bytes(), *force)
                .map_err(|e| check(p, e.to_string()))?;
        }
        let table = super::simulate_table::sim_table(&rep);
        let mut s = Summary::new(Stage::Simulate, rep, false);
        s.lines = table.lines().map(str::to_string).collect();
        Ok(s)
    })
}
