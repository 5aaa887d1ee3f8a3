//! The terminal runtime: raw mode and the alternate screen, the key loop, the store worker and
//! background jobs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ratatui::crossterm::cursor::{Hide, Show};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::prelude::CrosstermBackend;
use ratatui::Terminal;

use super::action::{Action, Effect};
use super::app::{App, Job, Screen};
use super::keymap::Keymap;
use super::theme::Theme;
use super::{data, ui, update::update};
use crate::config::Config;
use crate::progress::{CancelToken, Progress};
use crate::responses::editor::EditOutcome;
use crate::store::{
    Annotation, AnnotationKind, FindQuery, Judgement, Provenance, ResponseKind, Store,
};

pub struct ReviewOptions {
    pub project: PathBuf,
    pub annotator: String,
    pub theme: Option<String>,
}

/// `$XDG_CONFIG_HOME/hifi` (or `~/.config/hifi`), where the user's keymap and theme live.
fn user_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("hifi"))
}

/// The keymap and theme, each with the user's file in `dir` merged over the defaults, and
/// what to say about a file that was there but could not be used: malformed, or unreadable
/// (a folder, no permission, not UTF-8) — both named, both leave the defaults in place.
pub fn user_settings(dir: Option<&Path>, theme: Option<&str>) -> (Keymap, Theme, Option<String>) {
    // (path, text or why it cannot be read), for a file that exists.
    let read = |name: &str| -> Option<(String, std::result::Result<String, String>)> {
        let p = dir?.join(name);
        if std::fs::symlink_metadata(&p).is_err() {
            return None;
        }
        let shown = crate::text::inert(&p.display().to_string(), false);
        Some((shown, std::fs::read_to_string(&p).map_err(|e| e.to_string())))
    };
    let mut warnings = Vec::new();
    let keymap = match read("keymap.toml") {
        Some((p, Ok(t))) => Keymap::load(Some((&p, &t))),
        Some((p, Err(e))) => (
            Keymap::load(None).0,
            Some(format!("{p}: cannot be read ({e}); using the default keymap")),
        ),
        None => Keymap::load(None),
    };
    warnings.extend(keymap.1);
    let theme = match read("theme.toml") {
        Some((p, Ok(t))) => Theme::load(theme, Some((&p, &t))),
        Some((p, Err(e))) => (
            Theme::load(theme, None).0,
            Some(format!("{p}: cannot be read ({e}); using the default theme")),
        ),
        None => Theme::load(theme, None),
    };
    warnings.extend(theme.1);
    (keymap.0, theme.0, (!warnings.is_empty()).then(|| warnings.join("; ")))
}

/// Requests for the store worker (one connection, one thread, in order).
enum DbReq {
    Effect(Effect),
}

fn db_worker(
    project: PathBuf,
    mut cfg: Config,
    annotator: String,
    rx: Receiver<DbReq>,
    tx: Sender<Action>,
    give_up: Arc<AtomicBool>,
) -> Result<JoinHandle<()>> {
    let mut store = Store::open(&project)?;
    // Short waits for the write lock, retried below: the screen says "saving…" within a
    // second instead of after SQLite's 30 s timeout.
    store.set_busy_timeout(RETRY_EVERY).context("cannot set the store's busy timeout")?;
    Ok(std::thread::spawn(move || {
        let retry = Retry { tx: &tx, give_up: &give_up };
        // Nothing to write unless hifi.toml's labels or guidelines.md changed since run() looked.
        if let Err(e) = retry.load(|| store.sync_project(&cfg)) {
            let _ = tx.send(Action::Failed(format!("cannot record the project's labels: {e}")));
        }
        // Which items need a second reviewer: the share `hifi mine` gives the label queue.
        let overlap_share = crate::curate::MineParams::default().overlap_share;
        for DbReq::Effect(e) in rx {
            let out = match e {
                Effect::Annotate(a) => save_decision(&mut store, &retry, a, false),
                Effect::ReviewRevisit(a) => save_decision(&mut store, &retry, a, true),
                Effect::Undo => retry
                    .write(|| store.undo(&annotator), "an undo")
                    .map_or_else(|e| Action::Failed(e.to_string()), Action::Undone),
                Effect::Redo => retry
                    .write(|| store.redo(&annotator), "a redo")
                    .map_or_else(|e| Action::Failed(e.to_string()), Action::Redone),
                // Loading the next entry claims it in the queue (a write): retried like a save.
                Effect::LoadNext => match retry.load(|| {
                    data::next_entry(&mut store, &annotator, cfg.review.show_fields.as_deref())
                }) {
                    Ok((entry, done, total, since)) => Action::Loaded {
                        entry: entry.map(Box::new),
                        done,
                        total,
                        since_round: Some(since),
                    },
                    Err(e) => Action::LoadFailed(format!("cannot load the next item: {e}")),
                },
                Effect::LoadPipeline => data::pipeline(&store, &cfg)
                    .map_or_else(|e| Action::Failed(e.to_string()), Action::PipelineLoaded),
                Effect::LoadDashboard => {
                    retry.load(|| data::dashboard(&mut store, &cfg)).map_or_else(
                        |e| Action::Failed(e.to_string()),
                        |d| Action::DashboardLoaded(Box::new(d)),
                    )
                }
                Effect::LoadConflicts => data::conflicts(&store)
                    .map_or_else(|e| Action::Failed(e.to_string()), Action::ConflictsLoaded),
                Effect::LoadSet(id) => data::set_view(&store, id).map_or_else(
                    |e| Action::Failed(e.to_string()),
                    |s| Action::SetLoaded(s.map(Box::new)),
                ),
                Effect::Veto { selection, rank, restore } => match retry
                    .write(|| store.veto(selection, rank, &annotator, None, restore), "a veto")
                {
                    Ok(()) => Action::VetoSaved { selection, rank, vetoed: !restore },
                    Err(e) => Action::Failed(format!("not saved: {e}")),
                },
                Effect::LoadResponses { keep } => match retry
                    .load(|| data::responses_open(&store, &annotator, overlap_share, keep))
                {
                    Ok((queue, pos, item)) => {
                        Action::ResponsesLoaded { queue, pos, item: item.map(Box::new) }
                    }
                    Err(e) => Action::ResponseLoadFailed(format!(
                        "cannot read the items with responses: {e}"
                    )),
                },
                Effect::LoadResponseItem(key) => {
                    match retry.load(|| data::response_item(&store, key, &annotator)) {
                        Ok(item) => Action::ResponseItemLoaded(Box::new(item)),
                        Err(e) => Action::ResponseLoadFailed(format!("cannot load the item: {e}")),
                    }
                }
                Effect::JudgeResponse(j) => {
                    let (kind, number) = match &j.judgement {
                        Judgement::Accept { number } => (ResponseKind::Accept, *number),
                        Judgement::Reject { number, .. } => (ResponseKind::Reject, *number),
                        Judgement::Score { number, .. } => (ResponseKind::Score, *number),
                        Judgement::Edit { number, .. } => (ResponseKind::Edit, *number),
                        Judgement::Prefer { first, .. } => (ResponseKind::Prefer, *first),
                    };
                    let key = j.item;
                    match retry.write(|| store.judge_response(&j), "a response judgement") {
                        Ok(_) => {
                            let back = retry.load(|| data::response_item(&store, key, &annotator));
                            let (item, reload_error) = match back {
                                Ok(i) => (Some(Box::new(i)), None),
                                Err(e) => (None, Some(e.to_string())),
                            };
                            Action::ResponseSaved { key, kind, number, item, reload_error }
                        }
                        Err(e) => {
                            Action::ResponseSaveFailed { key, msg: format!("not saved: {e}") }
                        }
                    }
                }
                Effect::UndoResponse => {
                    match retry.write(|| store.undo_response(&annotator), "an undo") {
                        Ok(None) => {
                            Action::ResponseUndone { event: None, number: None, item: None }
                        }
                        Ok(Some(ev)) => {
                            let number = data::event_candidate(&store, &ev).ok().flatten();
                            let item = data::response_item(&store, ev.item, &annotator).ok();
                            Action::ResponseUndone {
                                event: Some(Box::new(ev)),
                                number,
                                item: item.map(Box::new),
                            }
                        }
                        Err(e) => Action::Failed(format!("undo not saved: {e}")),
                    }
                }
                Effect::Find { query, seq } => match find(&mut store, &retry, &tx, &query, &cfg) {
                    Ok(found) => Action::Found {
                        seq,
                        offset: query.offset,
                        total: found.total,
                        rows: found.rows,
                    },
                    Err(e) => Action::FindFailed { seq, msg: e.to_string() },
                },
                Effect::LoadHistory(key) => {
                    let labels = cfg.label_names();
                    let show = cfg.review.show_fields.as_deref();
                    match retry.load(|| data::item_detail(&store, key, &labels, show)) {
                        Ok(Some(d)) => Action::HistoryLoaded(Box::new(d)),
                        Ok(None) => Action::HistoryFailed { key, msg: "no such item".into() },
                        Err(e) => Action::HistoryFailed { key, msg: e.to_string() },
                    }
                }
                Effect::AnnotateFrom { annotation: a, origin, revisit } => {
                    let (item, kind, label) = (a.item, a.kind, a.label.clone());
                    let saved = retry.write(
                        || {
                            // A revisit revises the annotator's newest decision on the item.
                            let revises = match revisit {
                                true => store.newest_decision(a.item, &a.annotator)?.map(|e| e.id),
                                false => None,
                            };
                            let prov = Provenance { origin: Some(origin.clone()), revises };
                            store.annotate_from(&a, &prov).map(|_| revises)
                        },
                        "a decision",
                    );
                    match saved {
                        Ok(revises) => Action::BrowseSaved { item, kind, label, revises },
                        Err(e) => Action::BrowseSaveFailed { item, msg: format!("not saved: {e}") },
                    }
                }
                Effect::WorkThrough(query) => {
                    let queued = find(&mut store, &retry, &tx, &query, &cfg).and_then(|f| {
                        let keys: Vec<i64> = f.rows.iter().map(|r| r.key).collect();
                        let n =
                            retry.write(|| store.queue_to_revisit(&keys, &annotator), "a queue")?;
                        Ok((n, f.total))
                    });
                    match queued {
                        Ok((queued, matching)) => Action::WorkQueued { queued, matching },
                        Err(e) => Action::Failed(format!("nothing queued: {e}")),
                    }
                }
                Effect::SecondOpinion(item) => match retry
                    .write(|| store.queue_second_opinion(&[item], &annotator), "a queue")
                {
                    Ok(_) => Action::SecondOpinionQueued { item },
                    Err(e) => Action::Failed(format!("not queued: {e}")),
                },
                Effect::LoadLabelCounts => match retry.load(|| data::label_counts(&store, &cfg)) {
                    Ok(c) => Action::LabelCounts(c),
                    Err(e) => Action::Failed(format!("cannot count the labels: {e}")),
                },
                Effect::ChangeLabels(change) => {
                    let changed = retry.until_done(
                        || {
                            crate::project::change_labels(
                                &project, &mut store, &cfg, &change, &annotator,
                            )
                        },
                        "saving… (another hifi process is writing to the project; kept and retried)",
                    );
                    match changed {
                        Ok((new_cfg, outcome)) => {
                            cfg = new_cfg;
                            Action::LabelsChanged {
                                labels: cfg.labels.clone(),
                                said: data::label_change_said(&outcome),
                            }
                        }
                        Err(e) => Action::LabelsChangeFailed(format!("{e:#}: nothing changed")),
                    }
                }
                Effect::LoadGuidelines => match retry.load(|| store.guidelines()) {
                    Ok(g) => Action::GuidelinesLoaded(g.map(|g| (g.version, g.text))),
                    Err(e) => Action::Failed(format!("cannot read the guidelines: {e}")),
                },
                Effect::SaveGuidelines { base, text } => {
                    save_guidelines(&project, &mut store, &retry, &annotator, base.as_deref(), text)
                }
                _ => continue,
            };
            if tx.send(out).is_err() {
                break;
            }
        }
    }))
}

/// Save a decision made in Review (or an adjudication), with where it was made; a `revisit`
/// revises the annotator's newest decision on the item.
fn save_decision(store: &mut Store, retry: &Retry<'_>, a: Annotation, revisit: bool) -> Action {
    let (item, kind, label) = (a.item, a.kind, a.label.clone());
    let origin = match kind {
        AnnotationKind::Resolve => "adjudicate",
        _ => "review",
    };
    let saved = retry.write(
        || {
            let revises = match revisit {
                true => store.newest_decision(a.item, &a.annotator)?.map(|e| e.id),
                false => None,
            };
            store.annotate_from(&a, &Provenance { origin: Some(origin.into()), revises })
        },
        "a decision",
    );
    match saved {
        Ok(_) => Action::Saved { item, kind, label },
        Err(e) => Action::SaveFailed { item, msg: format!("not saved: {e}") },
    }
}

/// Write the edited guidelines and record them as a version; when guidelines.md is no longer
/// what the editor started from (saved meanwhile by someone else), overwrite nothing and keep
/// the text in guidelines.md.mine.
fn save_guidelines(
    project: &Path,
    store: &mut Store,
    retry: &Retry<'_>,
    annotator: &str,
    base: Option<&str>,
    text: String,
) -> Action {
    let file = crate::store::GUIDELINES_FILE;
    let shown = |p: &Path| crate::text::inert(&p.display().to_string(), false);
    match crate::project::save_guidelines(project, base, &text) {
        Ok(crate::project::GuidelinesSaved::Saved) => {}
        Ok(crate::project::GuidelinesSaved::Conflict { mine }) => {
            return Action::Failed(format!(
                "nothing saved: {file} changed while you were editing it; your text is in {} (merge it into {file} and edit again)",
                shown(&mine)
            ))
        }
        Err(e) => {
            return Action::Failed(format!(
                "nothing saved: {file} or {file}.mine in {}: cannot write ({e})",
                shown(project)
            ))
        }
    }
    match retry.write(|| store.record_guidelines(&text, Some(annotator)), "the guidelines") {
        Ok(version) => Action::GuidelinesSaved { version, text },
        Err(e) => Action::Failed(format!(
            "{file} is written but its version is not recorded: {e} (it is recorded when the project opens next)"
        )),
    }
}

/// Splits are assigned first when the query filters by them (as `hifi find` does).
fn find(
    store: &mut Store,
    retry: &Retry<'_>,
    tx: &Sender<Action>,
    query: &FindQuery,
    cfg: &Config,
) -> crate::error::Result<crate::store::Found> {
    let unindexed = retry.load(|| store.unindexed_items())?;
    if unindexed > 0 {
        let _ = tx.send(Action::Indexing(unindexed));
        retry.write(|| store.index_for_search(|_, _| {}), "the search index")?;
    }
    if query.split.is_some() || query.stratum.is_some() {
        retry.load(|| crate::curate::split::assign_splits(store, cfg))?;
    }
    Ok(retry.load(|| store.find(query, &cfg.label_names()))?)
}

/// How long one attempt waits for another process's write lock.
const RETRY_EVERY: Duration = Duration::from_millis(500);

/// Retries store work while another process holds the write lock (a long `hifi import` is one
/// transaction): the screen says so, and a decision is never dropped for a busy store. Other
/// errors are returned. `give_up` is set once the user has left without waiting (then a write
/// still waiting is abandoned, and said so on stderr; a load is nothing to lose).
struct Retry<'a> {
    tx: &'a Sender<Action>,
    give_up: &'a AtomicBool,
}

impl Retry<'_> {
    /// `what` names the write for the line printed if it is abandoned.
    fn write<T>(
        &self,
        write: impl FnMut() -> crate::store::Result<T>,
        what: &str,
    ) -> crate::store::Result<T> {
        let out = self.until_done(
            write,
            "saving… (another hifi process is writing to the project; kept and retried)",
        );
        if out.as_ref().is_err_and(|e| e.is_busy()) {
            eprintln!(
                "left without waiting: {what} was not saved (another hifi process held the store)"
            );
        }
        out
    }

    fn load<T, E: BusyError>(
        &self,
        load: impl FnMut() -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        self.until_done(
            load,
            "waiting for the store… (another hifi process is writing to the project; retried)",
        )
    }

    fn until_done<T, E: BusyError>(
        &self,
        mut work: impl FnMut() -> std::result::Result<T, E>,
        say: &str,
    ) -> std::result::Result<T, E> {
        let mut told = false;
        loop {
            match work() {
                Err(e) if e.is_busy() && !self.give_up.load(Ordering::SeqCst) => {
                    if !told {
                        told = true;
                        let _ = self.tx.send(Action::Waiting(say.into()));
                    }
                }
                done => return done,
            }
        }
    }
}

/// Errors that say whether another process's write lock caused them.
trait BusyError {
    fn is_busy(&self) -> bool;
}

impl BusyError for crate::store::StoreError {
    fn is_busy(&self) -> bool {
        crate::store::StoreError::is_busy(self)
    }
}

impl BusyError for crate::error::Error {
    fn is_busy(&self) -> bool {
        matches!(self, crate::error::Error::Store(e) if e.is_busy())
    }
}

impl BusyError for anyhow::Error {
    fn is_busy(&self) -> bool {
        self.chain().any(|c| {
            c.downcast_ref::<crate::store::StoreError>().is_some_and(|e| e.is_busy())
                || c.downcast_ref::<crate::error::Error>().is_some_and(BusyError::is_busy)
        })
    }
}

/// Forwards a job's progress to the UI, at most every 100 ms.
struct JobProgress {
    stage: Job,
    tx: Sender<Action>,
    total: u64,
    last: Option<Instant>,
}

impl Progress for JobProgress {
    fn start(&mut self, _: &str, total: u64) {
        self.total = total;
        let _ = self.tx.send(Action::JobProgress {
            stage: self.stage,
            done: 0,
            total,
            note: String::new(),
        });
    }
    fn update(&mut self, done: u64, note: &str) {
        if self.last.is_some_and(|t| t.elapsed() < Duration::from_millis(100)) {
            return;
        }
        self.last = Some(Instant::now());
        let _ = self.tx.send(Action::JobProgress {
            stage: self.stage,
            done,
            total: self.total,
            note: note.to_string(),
        });
    }
    fn finish(&mut self, _: &str) {}
    fn metric(&mut self, name: &str, value: f64) {
        if name == "loss" {
            let _ = self.tx.send(Action::JobLoss { stage: self.stage, loss: value });
        }
    }
}

fn start_job(
    stage: Job,
    project: &Path,
    tx: Sender<Action>,
    cancel: CancelToken,
) -> JoinHandle<()> {
    let project = project.to_path_buf();
    std::thread::spawn(move || {
        let mut p = JobProgress { stage, tx: tx.clone(), total: 0, last: None };
        let result = run_stage(stage, &project, &mut p, &cancel).map_err(|e| format!("{e:#}"));
        // However the stage reports a cancellation (a flag in its report, an error), the
        // token says whether the user asked for it.
        let cancelled = cancel.is_cancelled();
        let _ = tx.send(Action::JobFinished { stage, result, cancelled });
    })
}

/// Run one stage through the pipeline with every default (hifi.toml's settings); the
/// headline of its summary is what the stage's line shows.
fn run_stage(
    stage: Job,
    project: &Path,
    p: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<String> {
    use crate::pipeline::{self, RoundOverrides};
    use crate::rounds::Trainer;
    Ok(match stage {
        Job::Prelabel => {
            pipeline::prelabel(project, &Default::default(), p, cancel)?.headline().to_string()
        }
        Job::Embed => {
            pipeline::embed(project, &Default::default(), p, cancel)?.headline().to_string()
        }
        Job::Mine => {
            pipeline::mine(project, &Default::default(), p, cancel)?.headline().to_string()
        }
        Job::ProbeRound | Job::LoraRound | Job::ZeroShotRound => {
            let o = match stage {
                Job::ProbeRound => RoundOverrides::of(Trainer::Probe),
                Job::LoraRound => RoundOverrides::of(Trainer::Lora),
                _ => RoundOverrides { mine: None, ..RoundOverrides::of(Trainer::ZeroShot) },
            };
            // A hifi.toml command runs only as confirmed (it may have changed since it was asked about).
            if o.trainer == Trainer::Lora {
                if let Some(cmd) = o.lora.configured_command(&Config::load(project)?) {
                    if !super::confirm::is_confirmed(project, cmd) {
                        anyhow::bail!("hifi.toml's [train] external command is not confirmed (it changed?): start the stage again to see it and confirm");
                    }
                }
            }
            pipeline::round(project, &o, p, cancel)?.headline().to_string()
        }
    })
}

/// Open the workstation on `opts.project` until the user quits.
pub fn run(opts: ReviewOptions) -> Result<()> {
    // Fail before touching the terminal. Label-set and guidelines changes made in the files
    // are recorded here when the store is free, else by the worker before its first write
    // (which waits for the store on screen).
    let cfg = Config::load(&opts.project)?;
    let mut store = Store::open(&opts.project)?;
    store.set_busy_timeout(Duration::from_millis(200))?;
    match store.sync_project(&cfg) {
        Err(e) if !e.is_busy() => return Err(e.into()),
        _ => drop(store),
    }
    let (keymap, theme, warning) = user_settings(user_dir().as_deref(), opts.theme.as_deref());
    let mut app =
        App::new(cfg.labels.clone(), &opts.annotator, &opts.project.display().to_string());
    app.message = warning.map(|m| (m, super::app::Level::Warn));
    app.review.show_predictions = cfg.review.show_predictions;
    app.multi_label = cfg.multi_label;

    let (tx, rx) = channel::<Action>();
    let (db_tx, db_rx) = channel::<DbReq>();
    let give_up = Arc::new(AtomicBool::new(false));
    let worker = db_worker(
        opts.project.clone(),
        cfg.clone(),
        opts.annotator.clone(),
        db_rx,
        tx.clone(),
        give_up.clone(),
    )?;
    let _ = db_tx.send(DbReq::Effect(Effect::LoadNext));
    let _ = db_tx.send(DbReq::Effect(Effect::LoadGuidelines));

    enable_raw_mode().context("cannot switch the terminal to raw mode (is this a terminal?)")?;
    let mut stdout = std::io::stdout();
    if let Err(e) = execute!(stdout, EnterAlternateScreen) {
        let _ = disable_raw_mode();
        return Err(e).context("cannot open the alternate screen");
    }
    let prev_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = disable_raw_mode();
        let _ = execute!(std::io::stdout(), LeaveAlternateScreen);
        prev_hook(info);
    }));
    let result = (|| -> Result<()> {
        let mut term = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
        event_loop(&mut term, &mut app, &keymap, &theme, &opts.project, &tx, &rx, &db_tx)
    })();
    let _ = disable_raw_mode();
    let _ = execute!(std::io::stdout(), LeaveAlternateScreen);
    // Every decision in flight is committed before we exit, unless the user chose to leave
    // without the ones still waiting for another process's lock (quit twice). A load (or an
    // undo) still waiting for the lock does not keep us.
    if app.pending == 0 || app.leaving {
        give_up.store(true, Ordering::SeqCst);
    }
    if app.pending > 0 && app.leaving {
        eprintln!("left without waiting for {} decision(s); every decision the screen moved on from is saved", app.pending);
    } else if app.pending > 0 {
        eprintln!("saving {} decision(s) before exiting…", app.pending);
    }
    drop(db_tx);
    let _ = worker.join();
    result
}

/// Wait up to `wait` for terminal input; true when the terminal hung up (its other end
/// closed). Looks at stdin where it is a character device (crossterm reads keys from it); a
/// closed pipe on stdin is not a closed terminal.
fn terminal_gone(wait: Duration) -> bool {
    // SAFETY: fstat on a descriptor number into a zeroed stat buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let is_chr =
        unsafe { libc::fstat(0, &mut st) == 0 } && (st.st_mode & libc::S_IFMT) == libc::S_IFCHR;
    if !is_chr {
        std::thread::sleep(wait);
        return false;
    }
    let mut fd = libc::pollfd { fd: 0, events: libc::POLLIN, revents: 0 };
    // SAFETY: poll(2) on one valid pollfd.
    let n = unsafe { libc::poll(&mut fd, 1, wait.as_millis() as libc::c_int) };
    n > 0 && fd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
}

#[allow(clippy::too_many_arguments)]
fn event_loop(
    term: &mut Terminal<CrosstermBackend<std::io::Stdout>>,
    app: &mut App,
    keymap: &Keymap,
    theme: &Theme,
    project: &Path,
    tx: &Sender<Action>,
    rx: &Receiver<Action>,
    db_tx: &Sender<DbReq>,
) -> Result<()> {
    let t0 = Instant::now();
    let mut jobs = Jobs(HashMap::new());
    let cx = ui::Ctx { theme, keymap };
    let mut dirty = true;
    let mut last_tick = Instant::now();
    while !app.quit {
        // SIGTERM / SIGHUP (or a Ctrl-C sent with kill): leave as `q` would.
        if crate::procs::stop_requested() {
            break;
        }
        if dirty {
            term.draw(|f| ui::render(app, &cx, f))?;
            dirty = false;
        }
        let mut actions = Vec::new();
        // Wait for input here, not inside crossterm: on a closed terminal (ssh dropped, tmux
        // killed) its reader loops forever on the failing read. Leave as on SIGHUP instead.
        if terminal_gone(Duration::from_millis(16)) {
            break;
        }
        if event::poll(Duration::ZERO)? {
            match event::read()? {
                Event::Key(k) if k.kind != KeyEventKind::Release => {
                    if app.pipeline.confirm.is_some() {
                        // Only an explicit answer: y runs the command, n or esc does not.
                        actions.push(match k.code {
                            KeyCode::Char('y' | 'Y') => Action::Confirm(true),
                            KeyCode::Char('n' | 'N') | KeyCode::Esc => Action::Confirm(false),
                            _ => continue,
                        });
                    } else if app.input.is_some() {
                        actions.push(match k.code {
                            KeyCode::Enter => Action::Submit,
                            KeyCode::Esc => Action::CancelInput,
                            KeyCode::Backspace => Action::Backspace,
                            KeyCode::Char(c) => Action::Input(c),
                            _ => continue,
                        });
                    } else if app.screen == Screen::Browse && app.browse.panel.is_some() {
                        // Browse's labels panel has its own keys; the global ones still work.
                        let a = super::screens::browse::panel_key(k.code)
                            .or_else(|| keymap.resolve_global(&k));
                        actions.extend(a);
                    } else if let Some(a) = keymap.resolve(&k, app.screen) {
                        actions.push(a);
                    }
                }
                Event::Resize(_, _) => dirty = true,
                _ => {}
            }
        }
        while let Ok(a) = rx.try_recv() {
            actions.push(a);
        }
        if last_tick.elapsed() >= Duration::from_millis(250) {
            last_tick = Instant::now();
            actions.push(Action::Tick(t0.elapsed().as_secs_f64()));
        }
        for a in actions {
            dirty = true;
            for e in update(app, a) {
                match e {
                    Effect::StartJob(stage) => {
                        match (stage, super::confirm::unconfirmed(project)) {
                            (Job::LoraRound, Some(command)) => {
                                let _ = tx.send(Action::AskConfirm { stage, command });
                            }
                            _ => {
                                let cancel = CancelToken::new();
                                jobs.0.insert(
                                    stage,
                                    (cancel.clone(), start_job(stage, project, tx.clone(), cancel)),
                                );
                            }
                        }
                    }
                    Effect::StartConfirmed { stage, command } => {
                        match super::confirm::remember(project, &command) {
                            Ok(()) => {
                                let cancel = CancelToken::new();
                                jobs.0.insert(
                                    stage,
                                    (cancel.clone(), start_job(stage, project, tx.clone(), cancel)),
                                );
                            }
                            Err(e) => {
                                let _ = tx.send(Action::JobFinished {
                                    stage,
                                    result: Err(e),
                                    cancelled: false,
                                });
                            }
                        }
                    }
                    Effect::CancelJob(stage) => {
                        if let Some((c, _)) = jobs.0.get(&stage) {
                            c.cancel();
                        }
                    }
                    Effect::EditResponse { key, number, text } => {
                        let outcome = edit_suspended(term, &text, "the response");
                        let _ = tx.send(Action::Edited { key, number, outcome });
                    }
                    Effect::EditGuidelines => {
                        // The file as it is now (it may have been edited outside hifi), else a
                        // template with the task and the label definitions.
                        let path = project.join(crate::store::GUIDELINES_FILE);
                        let base = std::fs::read_to_string(&path).ok();
                        let start = base.clone().unwrap_or_else(|| {
                            Config::load(project).map_or_else(
                                |_| "# Guidelines\n\n".to_string(),
                                |c| crate::project::guidelines_template(&c),
                            )
                        });
                        let outcome = edit_suspended(term, &start, "the guidelines");
                        let _ = tx.send(Action::GuidelinesEdited { base, outcome });
                    }
                    Effect::Quit => {}
                    other => {
                        let _ = db_tx.send(DbReq::Effect(other));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Edit `text` in the user's editor with the screen handed over to it: leave the alternate
/// screen and raw mode, show the cursor, run the editor on a private temporary file, then take
/// the screen back and redraw it whole.
fn edit_suspended(
    term: &mut Terminal<CrosstermBackend<std::io::Stdout>>,
    text: &str,
    what: &str,
) -> EditOutcome {
    let _ = term.show_cursor();
    let _ = execute!(std::io::stdout(), LeaveAlternateScreen, Show);
    let _ = disable_raw_mode();
    let out = crate::responses::editor::edit(text, &std::env::temp_dir());
    let _ = enable_raw_mode();
    let _ = execute!(std::io::stdout(), EnterAlternateScreen, Hide);
    let _ = term.hide_cursor();
    let _ = term.clear();
    out.unwrap_or_else(|e| EditOutcome::Failed(format!("cannot edit {what}: {e}")))
}

/// The running background jobs. However the event loop ends (quit, a signal, an error), each
/// is cancelled and waited for: it keeps what it finished (batches are committed) and a
/// trainer's whole process group is ended.
struct Jobs(HashMap<Job, (CancelToken, JoinHandle<()>)>);

impl Drop for Jobs {
    fn drop(&mut self) {
        for (c, _) in self.0.values() {
            c.cancel();
        }
        for (_, (_, h)) in self.0.drain() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_keymap_or_theme_is_named_like_a_malformed_one() {
        let dir = tempfile::tempdir().unwrap();
        // A folder where the file should be: unreadable even for root.
        std::fs::create_dir(dir.path().join("keymap.toml")).unwrap();
        std::fs::write(dir.path().join("theme.toml"), b"\xff\xfe not utf-8").unwrap();
        let (_, _, warning) = user_settings(Some(dir.path()), None);
        let w = warning.expect("both files are named");
        assert!(
            w.contains("keymap.toml: cannot be read") && w.contains("using the default keymap"),
            "{w}"
        );
        assert!(
            w.contains("theme.toml: cannot be read") && w.contains("using the default theme"),
            "{w}"
        );
        // Missing files are no news.
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(user_settings(Some(empty.path()), None).2, None);
        // A malformed file still says where.
        std::fs::write(empty.path().join("keymap.toml"), "[review\n").unwrap();
        assert!(user_settings(Some(empty.path()), None)
            .2
            .is_some_and(|w| w.contains("keymap.toml: ")));
    }

    #[test]
    fn a_job_finishes_as_cancelled_when_its_token_was_cancelled_ok_or_err() {
        // No hifi.toml here: the stage ends at once with an error, cancelled or not.
        let dir = tempfile::tempdir().unwrap();
        for asked in [false, true] {
            let (tx, rx) = channel();
            let cancel = CancelToken::new();
            if asked {
                cancel.cancel();
            }
            start_job(Job::Mine, dir.path(), tx, cancel).join().unwrap();
            let finished = rx.iter().find_map(|a| match a {
                Action::JobFinished { stage, result, cancelled } => {
                    Some((stage, result.is_err(), cancelled))
                }
                _ => None,
            });
            assert_eq!(finished, Some((Job::Mine, true, asked)));
        }
    }
}
