//! Progress reporting and cancellation shared by every long-running stage.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A sink for progress of one stage. Stages call it; the CLI draws a bar, the TUI forwards
/// events over a channel, tests may record them.
pub trait Progress {
    /// A stage starts with `total` units of work (0 when unknown).
    fn start(&mut self, stage: &str, total: u64);
    /// `done` units of `total` are finished; `note` is a short free-form status.
    fn update(&mut self, done: u64, note: &str);
    /// The stage ended (successfully or not).
    fn finish(&mut self, note: &str);
    /// A value to plot over the stage (a training loss per step).
    fn metric(&mut self, _name: &str, _value: f64) {}
}

/// A progress sink that ignores everything.
#[derive(Default)]
pub struct Silent;

impl Progress for Silent {
    fn start(&mut self, _: &str, _: u64) {}
    fn update(&mut self, _: u64, _: &str) {}
    fn finish(&mut self, _: &str) {}
}

/// Cooperative cancellation: stages check it between units of work (a batch, a file chunk).
#[derive(Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A progress bar on stderr: rate and ETA, redrawn at most every 100 ms on a terminal,
/// one plain line every 5 s otherwise (logs, CI).
pub struct Bar {
    stage: String,
    total: u64,
    done: u64,
    started: Instant,
    last_draw: Option<Instant>,
    tty: bool,
    quiet: bool,
}

impl Bar {
    pub fn new(quiet: bool) -> Self {
        Self {
            stage: String::new(),
            total: 0,
            done: 0,
            started: Instant::now(),
            last_draw: None,
            tty: std::io::stderr().is_terminal(),
            quiet,
        }
    }

    fn line(&self, note: &str) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        let rate = self.done as f64 / secs;
        let eta = if self.total > self.done && rate > 0.0 {
            format_duration(Duration::from_secs_f64((self.total - self.done) as f64 / rate))
        } else {
            "-".to_string()
        };
        let bar = if self.total > 0 {
            let width = 24usize;
            let filled =
                ((self.done.min(self.total) as f64 / self.total as f64) * width as f64) as usize;
            format!("[{}{}] ", "#".repeat(filled), ".".repeat(width - filled))
        } else {
            String::new()
        };
        let total = if self.total > 0 { format!("/{}", self.total) } else { String::new() };
        // Stage names and notes may carry file names and item text: shown inert.
        format!(
            "{:<9} {bar}{}{total}  {rate:.1}/s  eta {eta}  {}",
            crate::text::inert(&self.stage, false),
            self.done,
            crate::text::inert(note, false)
        )
    }
}

/// `1h02m`, `3m05s`, `12s`.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

impl Progress for Bar {
    fn start(&mut self, stage: &str, total: u64) {
        self.stage = stage.to_string();
        self.total = total;
        self.done = 0;
        self.started = Instant::now();
        self.last_draw = None;
    }

    fn update(&mut self, done: u64, note: &str) {
        self.done = done;
        if self.quiet {
            return;
        }
        let every = if self.tty { Duration::from_millis(100) } else { Duration::from_secs(5) };
        if self.last_draw.is_some_and(|t| t.elapsed() < every) {
            return;
        }
        self.last_draw = Some(Instant::now());
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{}", self.line(note));
        } else {
            let _ = writeln!(err, "{}", self.line(note));
        }
        let _ = err.flush();
    }

    fn finish(&mut self, note: &str) {
        if self.quiet {
            return;
        }
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K");
        }
        let _ = writeln!(err, "{}", self.line(note));
    }
}
