//! Training runs in a child process: `hifi train-worker JOB.json` reads the job, trains, and
//! prints one JSON event per line on stdout. The parent forwards the events to a progress
//! sink and kills the child on cancel, so the TUI stays responsive and running out of
//! memory ends only the job.
//!
//! An external trainer (PEFT, Unsloth, axolotl on a GPU box) gets the same job file: a
//! command is run with `sh -c`; it must write a GGUF LoRA adapter to `{out}` and exit 0.
//! Paths never enter the command's text: `{job}` and `{out}` stand for `"$HIFI_JOB"` and
//! `"$HIFI_OUT"` (also `$1` and `$2`), so a folder named `a{out}$(touch x)` or `it's` is
//! only ever a value. Lines it prints that parse as these events are shown as progress;
//! other lines are logged. The trainer runs in a process group of its own, ended as a whole
//! on cancel (see [`crate::procs`]).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::lora::Lora;
use super::model::{BaseModel, Example};
use super::trainer::{train, LoraParams, StepReport};
use super::TrainError;
use crate::progress::{CancelToken, Progress};

/// Version of the job file's layout.
pub const JOB_VERSION: u32 = 1;

/// Everything a trainer needs, as one JSON file.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TrainJob {
    pub version: u32,
    /// The GGUF the engine runs (the built-in trainer dequantizes it).
    pub base_model: PathBuf,
    /// Where the adapter GGUF must be written.
    pub output: PathBuf,
    /// Continue from this adapter instead of fresh weights.
    pub init_adapter: Option<PathBuf>,
    pub params: LoraParams,
    /// CPU threads for the built-in trainer.
    pub threads: usize,
    /// The shared prompt prefix, as the base model's token ids.
    pub prefix: Vec<u32>,
    /// Each example's tokens after the prefix; the loss is on `tokens[n_prompt..]`.
    pub examples: Vec<Example>,
    /// The same examples as chat messages (`{"messages": [system, user, assistant]}`), for
    /// trainers that apply the chat template and tokenize themselves.
    pub records: Vec<serde_json::Value>,
}

/// One line of a trainer's stdout.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TrainEvent {
    Started {
        arch: String,
        trainable_params: usize,
        examples: usize,
        prefix_tokens: usize,
        steps: usize,
        load_s: f64,
    },
    Step(StepReport),
    Done {
        output: PathBuf,
        seconds: f64,
        peak_rss_mb: Option<f64>,
    },
    Failed {
        message: String,
    },
}

/// Who trains.
#[derive(Debug, Clone)]
pub enum TrainerCommand {
    /// This binary's `train-worker` (the path of a `hifi` executable).
    Builtin(PathBuf),
    /// A shell command with `{job}` and `{out}` (or `$HIFI_JOB` and `$HIFI_OUT`).
    External(String),
}

impl TrainerCommand {
    /// The built-in trainer: `$HIFI_EXE`, or this process's executable when it is `hifi`.
    pub fn builtin() -> Result<Self, TrainError> {
        if let Some(p) = std::env::var_os("HIFI_EXE") {
            return Ok(Self::Builtin(PathBuf::from(p)));
        }
        let exe = std::env::current_exe()
            .map_err(|e| TrainError::Io(format!("cannot find the hifi executable: {e}")))?;
        if exe.file_stem().and_then(|s| s.to_str()) == Some("hifi") {
            Ok(Self::Builtin(exe))
        } else {
            Err(TrainError::Io(format!(
                "{} is not the hifi binary: set HIFI_EXE to it to train",
                exe.display()
            )))
        }
    }
}

/// What a finished job reported.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct JobOutcome {
    pub steps: Vec<StepReport>,
    pub seconds: f64,
    pub peak_rss_mb: Option<f64>,
    pub trainable_params: usize,
}

/// The child's side: run the job in `path`, printing events; the exit status says whether
/// an adapter was written.
pub fn worker_main(path: &Path) -> i32 {
    let mut out = std::io::stdout().lock();
    let mut emit = |e: &TrainEvent| {
        // The parent reads every line; when it is gone there is no one to train for.
        if writeln!(out, "{}", serde_json::to_string(e).unwrap_or_default())
            .and_then(|()| out.flush())
            .is_err()
        {
            std::process::exit(3);
        }
    };
    match worker(path, &mut emit) {
        Ok(()) => 0,
        Err(e) => {
            emit(&TrainEvent::Failed { message: e.to_string() });
            1
        }
    }
}

fn worker(path: &Path, emit: &mut dyn FnMut(&TrainEvent)) -> Result<(), TrainError> {
    let started = Instant::now();
    let text = std::fs::read_to_string(path)
        .map_err(|e| TrainError::Io(format!("{}: {e}", path.display())))?;
    let job: TrainJob = serde_json::from_str(&text)
        .map_err(|e| TrainError::Params(format!("{}: not a training job ({e})", path.display())))?;
    if job.version != JOB_VERSION {
        return Err(TrainError::Params(format!(
            "{}: job version {} (this hifi reads {JOB_VERSION})",
            path.display(),
            job.version
        )));
    }
    let base = BaseModel::load(&job.base_model)?;
    if let Some(bad) = job
        .examples
        .iter()
        .flat_map(|e| &e.tokens)
        .chain(&job.prefix)
        .find(|&&t| t as usize >= base.cfg.n_vocab)
    {
        return Err(TrainError::Params(format!(
            "token id {bad} is outside the base model's vocabulary ({})",
            base.cfg.n_vocab
        )));
    }
    let init = match &job.init_adapter {
        Some(p) => Some(Lora::read(p, &base.cfg, base.device())?),
        None => None,
    };
    let steps = job.examples.len().div_ceil(job.params.batch.max(1)) * job.params.epochs;
    let lora_params = match &init {
        Some(l) => l.n_params(),
        None => {
            job.params
                .targets
                .iter()
                .map(|t| t.shape(&base.cfg))
                .map(|(i, o)| (i + o) * job.params.rank)
                .sum::<usize>()
                * base.cfg.n_layer
        }
    };
    emit(&TrainEvent::Started {
        arch: base.cfg.arch.clone(),
        trainable_params: lora_params,
        examples: job.examples.len(),
        prefix_tokens: job.prefix.len(),
        steps,
        load_s: started.elapsed().as_secs_f64(),
    });
    let never = AtomicBool::new(false);
    let outcome = train(
        &base,
        &job.prefix,
        &job.examples,
        &job.params,
        init,
        &mut |s| emit(&TrainEvent::Step(s.clone())),
        &never,
    )?;
    outcome.lora.write(&job.output)?;
    emit(&TrainEvent::Done {
        output: job.output.clone(),
        seconds: started.elapsed().as_secs_f64(),
        peak_rss_mb: peak_rss_mb(),
    });
    Ok(())
}

/// This process's peak resident memory (Linux), in MiB.
pub fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Start measuring the peak resident memory afresh (Linux: clear_refs 5).
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The parent's side: write `job` to `job_path`, run the trainer, forward its progress.
/// Cancelling kills the trainer; no adapter is left under `job.output` unless it finished.
pub fn run_job(
    job: &TrainJob,
    job_path: &Path,
    trainer: &TrainerCommand,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<JobOutcome, TrainError> {
    let io = |p: &Path, e: std::io::Error| TrainError::Io(format!("{}: {e}", p.display()));
    if let Some(dir) = job_path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    }
    crate::files::write_atomic(job_path, &serde_json::to_vec(job).unwrap_or_default())
        .map_err(|e| io(job_path, e))?;
    let _ = std::fs::remove_file(&job.output);
    let mut cmd = match trainer {
        TrainerCommand::Builtin(exe) => {
            let mut c = Command::new(exe);
            c.arg("train-worker").arg(job_path);
            // candle's CPU kernels size their pool from this.
            c.env("RAYON_NUM_THREADS", job.threads.max(1).to_string());
            c
        }
        TrainerCommand::External(template) => {
            let line = crate::shell::external_line(template).map_err(TrainError::Params)?;
            let mut c = Command::new("sh");
            c.arg("-c").arg(line).arg("hifi-train").arg(job_path).arg(&job.output);
            c.env("HIFI_JOB", job_path).env("HIFI_OUT", &job.output);
            c
        }
    };
    // Its own process group: a Ctrl-C at the terminal reaches only hifi, which then ends the
    // whole group itself (and reports a cancel, not a crash).
    let mut child = crate::procs::own_group(&mut cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| TrainError::Io(format!("cannot start the trainer: {e}")))?;
    let group = crate::procs::Group::of(&child);
    let (tx, rx) = mpsc::channel::<Option<String>>();
    let stdout = child.stdout.take();
    let out_thread = std::thread::spawn(move || {
        if let Some(s) = stdout {
            for line in BufReader::new(s).lines().map_while(Result::ok) {
                if tx.send(Some(line)).is_err() {
                    break;
                }
            }
        }
        let _ = tx.send(None);
    });
    let stderr = child.stderr.take();
    let err_thread = std::thread::spawn(move || {
        let mut tail: std::collections::VecDeque<String> = Default::default();
        if let Some(s) = stderr {
            for line in BufReader::new(s).lines().map_while(Result::ok) {
                tracing::debug!(target: "hifi::trainer", "{line}");
                if tail.len() == 20 {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        }
        tail.into_iter().collect::<Vec<_>>().join("\n")
    });
    let mut outcome = JobOutcome::default();
    let mut failed: Option<String> = None;
    let mut started = false;
    loop {
        if cancel.is_cancelled() {
            group.end(&mut child);
            remove_partial(&job.output);
            let _ = std::fs::remove_file(&job.output);
            return Err(TrainError::Cancelled);
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Some(line)) => match serde_json::from_str::<TrainEvent>(&line) {
                Ok(TrainEvent::Started { steps, trainable_params, .. }) => {
                    outcome.trainable_params = trainable_params;
                    progress.start("train", steps as u64);
                    started = true;
                }
                Ok(TrainEvent::Step(s)) => {
                    if !started {
                        progress.start("train", s.steps as u64);
                        started = true;
                    }
                    progress.update(
                        s.step as u64,
                        &format!("loss {:.3} · {:.0} tok/s", s.loss, s.tokens_per_s),
                    );
                    progress.metric("loss", s.loss);
                    outcome.steps.push(s);
                }
                Ok(TrainEvent::Done { seconds, peak_rss_mb, .. }) => {
                    outcome.seconds = seconds;
                    outcome.peak_rss_mb = peak_rss_mb;
                }
                Ok(TrainEvent::Failed { message }) => failed = Some(message),
                Err(_) => tracing::info!(target: "hifi::trainer", "{line}"),
            },
            Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // The trainer has exited, but something it left running may still hold its
                // output open: that ends with it.
                if matches!(child.try_wait(), Ok(Some(_))) {
                    group.end(&mut child);
                }
            }
        }
    }
    let status =
        child.wait().map_err(|e| TrainError::Io(format!("waiting for the trainer: {e}")))?;
    // Whatever the trainer left running in the background goes with it.
    drop(group);
    let _ = out_thread.join();
    let tail = err_thread.join().unwrap_or_default();
    if let Some(m) = failed {
        return Err(TrainError::Io(format!("the trainer failed: {m}")));
    }
    if !status.success() {
        let how = match status.code() {
            Some(c) => format!("exited with status {c}"),
            None => "was killed (out of memory?)".into(),
        };
        remove_partial(&job.output);
        return Err(TrainError::Io(format!(
            "the trainer {how}{}",
            if tail.is_empty() { String::new() } else { format!(":\n{tail}") }
        )));
    }
    if !job.output.is_file() {
        return Err(TrainError::Io(format!(
            "the trainer exited without writing {}",
            job.output.display()
        )));
    }
    progress.finish(&match outcome.steps.last() {
        Some(s) => format!("{} steps, final loss {:.3}", s.step, s.loss),
        None => "done".into(),
    });
    Ok(outcome)
}

/// Remove what a killed trainer may have left beside `output`: an external trainer's
/// `NAME.part`, and the built-in writer's temporary `.NAME.*.tmp` (see `crate::files`).
fn remove_partial(output: &Path) {
    let _ = std::fs::remove_file(output.with_extension("gguf.part"));
    let (Some(dir), Some(name)) = (output.parent(), output.file_name()) else { return };
    let prefix = format!(".{}.", name.to_string_lossy());
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(&prefix) && n.ends_with(".tmp") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_that_looks_like_shell_is_only_a_value() {
        let dir = tempfile::tempdir().unwrap();
        let job = dir.path().join("a{out}$(touch PWNED)'x");
        let out = dir.path().join("o`touch PWNED2`.gguf");
        let line =
            crate::shell::external_line("printf '%s|%s' {job} {out} > \"$HIFI_JOB.seen\"").unwrap();
        let st = Command::new("sh")
            .current_dir(dir.path())
            .arg("-c")
            .arg(line)
            .arg("hifi-train")
            .arg(&job)
            .arg(&out)
            .env("HIFI_JOB", &job)
            .env("HIFI_OUT", &out)
            .status()
            .unwrap();
        assert!(st.success());
        let seen = std::fs::read_to_string(format!("{}.seen", job.display())).unwrap();
        assert_eq!(seen, format!("{}|{}", job.display(), out.display()));
        assert!(!dir.path().join("PWNED").exists() && !dir.path().join("PWNED2").exists());
    }
}
