//! The workstation on a large project: time to open and per-frame render times.

use std::path::Path;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::import::import;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::store::Store;

#[derive(Debug, Serialize)]
pub struct TuiBench {
    pub items: u64,
    pub queue: usize,
    /// Store open → next entry claimed and loaded → first frame drawn.
    pub cold_open_ms: f64,
    pub frames: usize,
    pub frame_p50_ms: f64,
    pub frame_p99_ms: f64,
    pub frame_max_ms: f64,
    /// Baseline in the same run: drawing an empty frame (the terminal buffer alone).
    pub empty_frame_p50_ms: f64,
}

/// Frame time of the review screen on a generated project of `rows` items (120×40 cells,
/// drawn into an off-screen buffer so the terminal's own speed is not measured).
pub fn tui(dir: &Path, rows: u64, frames: usize) -> Result<TuiBench> {
    use crate::tui::{app::App, keymap::Keymap, theme::Theme};
    let imported = import(dir, rows)?;
    let project = dir.join("project");
    let cfg = Config::new(
        "Decide whether an online ad is clickbait.",
        vec![
            crate::config::LabelDef::new("clickbait", "Withholds what is offered."),
            crate::config::LabelDef::new("benign", "Says what is offered."),
        ],
    );
    std::fs::write(project.join(crate::config::CONFIG_FILE), cfg.to_toml())
        .map_err(|e| Error::io(&project, e))?;
    {
        let mut store = Store::open(&project)?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let n = rows.max(2) as i64;
        let entries: Vec<crate::store::NewQueueEntry> = (0..2000)
            .map(|_| crate::store::NewQueueEntry {
                item_a: rng.gen_range(1..=n),
                item_b: Some(rng.gen_range(1..=n)),
                reason: serde_json::json!({"distance": 0.12, "clusters": "clickbait#3 × benign#1"}),
                needed: 1,
                audit: false,
            })
            .collect();
        store.replace_queue("pairs", &entries)?;
    }
    let (km, _) = Keymap::load(None);
    let theme = Theme::builtin("dark").ok_or_else(|| Error::Input("no dark theme".into()))?;
    let backend = ratatui::backend::TestBackend::new(120, 40);
    let mut term = ratatui::Terminal::new(backend).map_err(|e| Error::Input(e.to_string()))?;
    let cx = crate::tui::ui::Ctx { theme: &theme, keymap: &km };

    let t0 = Instant::now();
    let mut store = Store::open(&project)?;
    let (entry, done, total, since) =
        crate::tui::data::next_entry(&mut store, "bench", cfg.review.show_fields.as_deref())?;
    let mut app = App::new(cfg.labels.clone(), "bench", "bench");
    crate::tui::update::update(
        &mut app,
        crate::tui::action::Action::Loaded {
            entry: entry.map(Box::new),
            done,
            total,
            since_round: Some(since),
        },
    );
    term.draw(|f| crate::tui::ui::render(&app, &cx, f)).map_err(|e| Error::Input(e.to_string()))?;
    let cold_open_ms = t0.elapsed().as_secs_f64() * 1e3;

    let mut times = Vec::with_capacity(frames);
    let mut empty = Vec::with_capacity(frames);
    for i in 0..frames {
        app.now = i as f64 * 0.016;
        app.review.scroll = (i % 3) as u16;
        let t = Instant::now();
        term.draw(|f| crate::tui::ui::render(&app, &cx, f))
            .map_err(|e| Error::Input(e.to_string()))?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        term.draw(|_| {}).map_err(|e| Error::Input(e.to_string()))?;
        empty.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    empty.sort_by(f64::total_cmp);
    let pct = |v: &[f64], p: f64| {
        v.get(((v.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0.0)
    };
    Ok(TuiBench {
        items: imported.rows,
        queue: 2000,
        cold_open_ms,
        frames,
        frame_p50_ms: pct(&times, 0.5),
        frame_p99_ms: pct(&times, 0.99),
        frame_max_ms: times.last().copied().unwrap_or(0.0),
        empty_frame_p50_ms: pct(&empty, 0.5),
    })
}

/// The Responses screen on a project whose items each have two long candidate responses.
#[derive(Debug, Serialize)]
pub struct ResponsesBench {
    pub items: u64,
    /// Characters of each candidate response.
    pub response_chars: usize,
    /// Store open → the item order read → the first item loaded → its first frame drawn.
    pub open_ms: f64,
    /// Baseline in the same run: store open, the items with responses and the first item's
    /// revisions read, nothing else.
    pub open_baseline_ms: f64,
    /// The same open once every item has a model's prediction (the order reads each margin).
    pub open_prelabeled_ms: f64,
    /// Frames drawn while scrolling down the first candidate line by line (120×40).
    pub frames: usize,
    pub frame_p50_ms: f64,
    pub frame_p99_ms: f64,
    pub frame_max_ms: f64,
    /// Baseline in the same run: drawing an empty frame (the terminal buffer alone).
    pub empty_frame_p50_ms: f64,
    /// The same scrolling drawn as a plain wrapped paragraph (every frame lays out the whole
    /// text, as a screen without the layout cache would).
    pub uncached_frame_p99_ms: f64,
    pub uncached_frames: usize,
}

impl ResponsesBench {
    /// The lines `hifi bench tui` prints for it.
    pub fn lines(&self) -> Vec<String> {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        vec![
            format!(
                "responses screen, {} items × 2 responses of {} chars: open {:.1} ms (target ≤ 300 ms; {:.1}× the bare reads, {:.1} ms)",
                self.items,
                self.response_chars,
                self.open_ms,
                ratio(self.open_ms, self.open_baseline_ms),
                self.open_baseline_ms
            ),
            format!(
                "  with a prediction for every item (the order reads each margin): open {:.1} ms",
                self.open_prelabeled_ms
            ),
            format!(
                "scrolling a {}-char response: frame p50 {:.2} ms, p99 {:.2} ms (target ≤ 5 ms), max {:.2} ms over {} frames; empty frame p50 {:.2} ms; uncached layout p99 {:.2} ms ({:.1}× ours)",
                self.response_chars,
                self.frame_p50_ms,
                self.frame_p99_ms,
                self.frame_max_ms,
                self.frames,
                self.empty_frame_p50_ms,
                self.uncached_frame_p99_ms,
                ratio(self.uncached_frame_p99_ms, self.frame_p99_ms)
            ),
        ]
    }
}

/// A response of about `chars` characters: prose paragraphs with a fenced code block now and
/// then, seeded by `seed`.
fn long_response(chars: usize, seed: u64) -> String {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    const WORDS: [&str; 16] = [
        "the",
        "model",
        "answer",
        "because",
        "first",
        "we",
        "compute",
        "value",
        "then",
        "check",
        "result",
        "carefully",
        "which",
        "gives",
        "sum",
        "step",
    ];
    let mut out = String::with_capacity(chars + 200);
    while out.len() < chars {
        if rng.gen_bool(0.2) {
            out.push_str("```python\ndef step(x):\n");
            for i in 0..rng.gen_range(3..12) {
                out.push_str(&format!(
                    "    total_{i} = x * {i} + sum(range({i}))  # a fairly long comment that goes past the edge of a narrow pane\n"
                ));
            }
            out.push_str("    return x\n```\n\n");
        } else {
            for _ in 0..rng.gen_range(40..120) {
                out.push_str(WORDS[rng.gen_range(0..WORDS.len())]);
                out.push(' ');
            }
            out.push_str("\n\n");
        }
    }
    out
}

/// Time to open the Responses screen and to draw frames while scrolling a long response, on a
/// generated project of `items` items with two `chars`-character candidates each (120×40 cells,
/// an off-screen buffer, so the terminal's own speed is not measured).
pub fn tui_responses(
    dir: &Path,
    items: u64,
    chars: usize,
    frames: usize,
) -> Result<ResponsesBench> {
    use crate::store::{NewItem, NewResponse, StoreError};
    use crate::tui::action::{Action, RespKey};
    use crate::tui::{app::App, app::Screen, keymap::Keymap, theme::Theme};
    let project = dir.join("responses-project");
    std::fs::create_dir_all(&project).map_err(|e| Error::io(&project, e))?;
    {
        let mut store = Store::create(&project)?;
        store.import("bench.jsonl", "jsonl", |imp| {
            for i in 0..items {
                imp.add(&NewItem {
                    id: format!("r{i}"),
                    text: format!("Question {i}: explain how to compute the sum, with code."),
                    meta: None,
                    gold: None,
                    line: i + 1,
                    context: None,
                    responses: (0..2)
                        .map(|k| NewResponse {
                            text: long_response(chars, i * 2 + k),
                            source: "bench".into(),
                            origin: None,
                        })
                        .collect(),
                })
                .map_err(|e| StoreError::Invalid(format!("{e:?}")))?;
            }
            Ok::<u64, StoreError>(items)
        })?;
    }
    let labels = vec![crate::config::LabelDef::new("ok", "ok")];
    let (km, _) = Keymap::load(None);
    let theme = Theme::builtin("dark").ok_or_else(|| Error::Input("no dark theme".into()))?;
    let backend = ratatui::backend::TestBackend::new(120, 40);
    let mut term = ratatui::Terminal::new(backend).map_err(|e| Error::Input(e.to_string()))?;
    let cx = crate::tui::ui::Ctx { theme: &theme, keymap: &km };
    fn draw_err(e: impl std::fmt::Display) -> Error {
        Error::Input(e.to_string())
    }
    let share = crate::curate::MineParams::default().overlap_share;

    // The baseline first: it warms the page cache for both.
    let t0 = Instant::now();
    {
        let store = Store::open(&project)?;
        let keys = store.items_with_responses()?;
        if let Some(k) = keys.first() {
            store.revisions(*k)?;
        }
    }
    let open_baseline_ms = t0.elapsed().as_secs_f64() * 1e3;

    let t0 = Instant::now();
    let store = Store::open(&project)?;
    let (queue, pos, item) = crate::tui::data::responses_open(&store, "bench", share, None)?;
    let mut app = App::new(labels, "bench", "bench");
    crate::tui::update::update(&mut app, Action::GoTo(Screen::Responses));
    crate::tui::update::update(
        &mut app,
        Action::ResponsesLoaded { queue, pos, item: item.map(Box::new) },
    );
    term.draw(|f| crate::tui::ui::render(&app, &cx, f)).map_err(draw_err)?;
    let open_ms = t0.elapsed().as_secs_f64() * 1e3;

    let mut times = Vec::with_capacity(frames);
    let mut empty = Vec::with_capacity(frames);
    for _ in 0..frames {
        // Down a line; back to the top at the end.
        let before = app.responses.scroll;
        crate::tui::update::update(&mut app, Action::Resp(RespKey::Lines(1)));
        if app.responses.scroll == before {
            crate::tui::update::update(&mut app, Action::Resp(RespKey::Top));
        }
        let t = Instant::now();
        term.draw(|f| crate::tui::ui::render(&app, &cx, f)).map_err(draw_err)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        term.draw(|_| {}).map_err(draw_err)?;
        empty.push(t.elapsed().as_secs_f64() * 1e3);
    }
    // Prelabeled: every item with a model's prediction, so the order reads each margin.
    let open_prelabeled_ms = {
        let mut w = Store::open(&project)?;
        let labels = vec!["ok".to_string(), "not".to_string()];
        let model = w.register_model(&crate::store::ModelRecord {
            id: 0,
            fingerprint: "bench".into(),
            kind: "llm".into(),
            model_path: None,
            model_sha256: None,
            adapter_path: None,
            adapter_sha256: None,
            prompt_sha256: None,
            labels: labels.clone(),
            few_shot: Some(0),
        })?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let preds: Vec<crate::store::Prediction> = w
            .items_with_responses()?
            .into_iter()
            .map(|item| {
                let p: f64 = rng.gen_range(0.0..1.0);
                crate::store::Prediction { item, probs: vec![p, 1.0 - p], truncated: false }
            })
            .collect();
        w.put_predictions(model, &labels, &preds)?;
        drop(w);
        let t0 = Instant::now();
        let store = Store::open(&project)?;
        let (_, _, item) = crate::tui::data::responses_open(&store, "bench", share, None)?;
        let mut other = App::new(Vec::new(), "bench", "bench");
        crate::tui::update::update(&mut other, Action::GoTo(Screen::Responses));
        crate::tui::update::update(
            &mut other,
            Action::ResponsesLoaded { queue: vec![], pos: 0, item: item.map(Box::new) },
        );
        term.draw(|f| crate::tui::ui::render(&other, &cx, f)).map_err(draw_err)?;
        t0.elapsed().as_secs_f64() * 1e3
    };
    // Without the cache: the whole text wrapped by the paragraph widget on every frame.
    let text =
        app.responses.candidate().map(|c| crate::text::inert(&c.text, true)).unwrap_or_default();
    let uncached_frames = frames.min(200);
    let mut uncached = Vec::with_capacity(uncached_frames);
    for i in 0..uncached_frames {
        let t = Instant::now();
        term.draw(|f| {
            let p = ratatui::widgets::Paragraph::new(text.as_str())
                .wrap(ratatui::widgets::Wrap { trim: false })
                .scroll((i as u16, 0));
            f.render_widget(p, f.area());
        })
        .map_err(draw_err)?;
        uncached.push(t.elapsed().as_secs_f64() * 1e3);
    }
    for v in [&mut times, &mut empty, &mut uncached] {
        v.sort_by(f64::total_cmp);
    }
    let pct = |v: &[f64], p: f64| {
        v.get(((v.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0.0)
    };
    Ok(ResponsesBench {
        items,
        response_chars: chars,
        open_ms,
        open_baseline_ms,
        open_prelabeled_ms,
        frames,
        frame_p50_ms: pct(&times, 0.5),
        frame_p99_ms: pct(&times, 0.99),
        frame_max_ms: times.last().copied().unwrap_or(0.0),
        empty_frame_p50_ms: pct(&empty, 0.5),
        uncached_frame_p99_ms: pct(&uncached, 0.99),
        uncached_frames,
    })
}

/// The Browse screen on a project of labeled items: frames of a full result list, and of an
/// open item with a long history.
#[derive(Debug, Serialize)]
pub struct BrowseBench {
    pub items: u64,
    /// Rows in the list (one page from the store).
    pub rows: usize,
    /// Events in the open item's history.
    pub events: usize,
    /// The search for every item, a page (index up to date), in the store.
    pub find_ms: f64,
    /// Frames drawn while moving down the list (120×40).
    pub frames: usize,
    pub list_p50_ms: f64,
    pub list_p99_ms: f64,
    /// Frames drawn while scrolling the open item line by line (120×40).
    pub item_p50_ms: f64,
    pub item_p99_ms: f64,
    pub item_max_ms: f64,
    /// Baseline in the same run: drawing an empty frame (the terminal buffer alone).
    pub empty_frame_p50_ms: f64,
}

impl BrowseBench {
    /// The line `hifi bench tui` prints for it.
    pub fn lines(&self) -> Vec<String> {
        vec![format!(
            "browse screen, {} items: a list of {} rows frame p50 {:.2} ms, p99 {:.2} ms; an item with {} events frame p50 {:.2} ms, p99 {:.2} ms (target ≤ 5 ms), max {:.2} ms over {} frames each; empty frame p50 {:.2} ms; the search {:.1} ms",
            self.items,
            self.rows,
            self.list_p50_ms,
            self.list_p99_ms,
            self.events,
            self.item_p50_ms,
            self.item_p99_ms,
            self.item_max_ms,
            self.frames,
            self.empty_frame_p50_ms,
            self.find_ms,
        )]
    }
}

/// Frame times of the Browse screen on a generated project of `items` items, a quarter of them
/// labeled by two annotators (some flagged, some with notes), one of them with a history of
/// about `events` events (labels, flags, notes, undos): the list with a full page of results,
/// then that item open (120×40 cells, an off-screen buffer).
pub fn tui_browse(dir: &Path, items: u64, events: usize, frames: usize) -> Result<BrowseBench> {
    use crate::store::{Annotation, AnnotationKind, NewItem, StoreError};
    use crate::tui::action::{Action, BrowseKey};
    use crate::tui::{app::App, app::Screen, keymap::Keymap, theme::Theme};
    fn draw_err(e: impl std::fmt::Display) -> Error {
        Error::Input(e.to_string())
    }
    let project = dir.join("browse-project");
    std::fs::create_dir_all(&project).map_err(|e| Error::io(&project, e))?;
    let labels = vec!["clickbait".to_string(), "benign".to_string()];
    let defs: Vec<crate::config::LabelDef> =
        labels.iter().map(|n| crate::config::LabelDef::new(n.clone(), format!("{n}."))).collect();
    let mut store = Store::create(&project)?;
    store.sync_label_set(&defs)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    store.import("bench.jsonl", "jsonl", |imp| {
        for i in 0..items {
            imp.add(&NewItem {
                id: format!("ad-{i:07}"),
                text: format!(
                    "Ad {i}: {} Limited offer on wireless earbuds, today only, while stocks last.",
                    long_response(120, i).replace('\n', " ")
                ),
                meta: Some(format!(r#"{{"source": "feed-{}", "n": {i}}}"#, i % 7)),
                gold: None,
                line: i + 1,
                context: None,
                responses: vec![],
            })
            .map_err(|e| StoreError::Invalid(format!("{e:?}")))?;
        }
        Ok::<u64, StoreError>(items)
    })?;
    let decision =
        |item: i64, who: &str, kind: AnnotationKind, label: Option<&str>, note: bool| Annotation {
            item,
            annotator: who.into(),
            kind,
            label: label.map(Into::into),
            note: note.then(|| "price claim looks off; check the terms".to_string()),
            suggestion: Some(false),
        };
    let mut all = Vec::new();
    for item in 1..=(items as i64 / 4) {
        for who in ["ana", "bo"] {
            let l = &labels[rng.gen_range(0..2)];
            all.push(decision(item, who, AnnotationKind::Label, Some(l), rng.gen_bool(0.1)));
        }
        if rng.gen_bool(0.05) {
            all.push(decision(item, "ana", AnnotationKind::Flag, None, false));
        }
    }
    // The long history, on item 1.
    for i in 0..events {
        let (kind, label) = match i % 4 {
            0 => (AnnotationKind::Flag, None),
            1 => (AnnotationKind::Label, Some(labels[i % 2].as_str())),
            2 => (AnnotationKind::Unflag, None),
            _ => (AnnotationKind::Label, Some(labels[(i + 1) % 2].as_str())),
        };
        all.push(decision(1, ["ana", "bo", "cy"][i % 3], kind, label, i % 5 == 0));
    }
    store.annotate_all(&all)?;
    for _ in 0..events / 20 {
        store.undo("cy")?;
    }
    store.index_for_search(|_, _| {})?;

    let (km, _) = Keymap::load(None);
    let theme = Theme::builtin("dark").ok_or_else(|| Error::Input("no dark theme".into()))?;
    let backend = ratatui::backend::TestBackend::new(120, 40);
    let mut term = ratatui::Terminal::new(backend).map_err(draw_err)?;
    let cx = crate::tui::ui::Ctx { theme: &theme, keymap: &km };
    let mut app = App::new(defs, "ana", "bench");
    let fx = crate::tui::update::update(&mut app, Action::GoTo(Screen::Browse));
    let Some(crate::tui::action::Effect::Find { query, seq }) = fx.into_iter().next() else {
        return Err(Error::Input("the Browse screen asked for no search".into()));
    };
    let t0 = Instant::now();
    let found = store.find(&query, &labels)?;
    let find_ms = t0.elapsed().as_secs_f64() * 1e3;
    let rows = found.rows.len();
    crate::tui::update::update(
        &mut app,
        Action::Found { seq, offset: 0, total: found.total, rows: found.rows },
    );
    let pct = |v: &[f64], p: f64| {
        v.get(((v.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0.0)
    };
    let mut list = Vec::with_capacity(frames);
    let mut empty = Vec::with_capacity(frames);
    for _ in 0..frames {
        // Down a row; back to the top at the end of what is loaded (no page is asked for).
        if app.browse.sel + 1 >= app.browse.rows.len() {
            crate::tui::update::update(&mut app, Action::Browse(BrowseKey::Top));
        } else {
            app.browse.sel += 1;
            app.browse.top = app.browse.sel.saturating_sub(30);
        }
        let t = Instant::now();
        term.draw(|f| crate::tui::ui::render(&app, &cx, f)).map_err(draw_err)?;
        list.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        term.draw(|_| {}).map_err(draw_err)?;
        empty.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let detail = crate::tui::data::item_detail(&store, 1, &labels, None)?
        .ok_or_else(|| Error::Input("item 1 is missing".into()))?;
    let n_events = detail.history.events.len();
    app.browse.sel = 0;
    crate::tui::update::update(&mut app, Action::Browse(BrowseKey::Open));
    crate::tui::update::update(&mut app, Action::HistoryLoaded(Box::new(detail)));
    let mut item = Vec::with_capacity(frames);
    for _ in 0..frames {
        let before = app.browse.scroll;
        crate::tui::update::update(&mut app, Action::Browse(BrowseKey::Lines(1)));
        if app.browse.scroll == before {
            crate::tui::update::update(&mut app, Action::Browse(BrowseKey::Top));
        }
        let t = Instant::now();
        term.draw(|f| crate::tui::ui::render(&app, &cx, f)).map_err(draw_err)?;
        item.push(t.elapsed().as_secs_f64() * 1e3);
    }
    for v in [&mut list, &mut item, &mut empty] {
        v.sort_by(f64::total_cmp);
    }
    Ok(BrowseBench {
        items,
        rows,
        events: n_events,
        find_ms,
        frames,
        list_p50_ms: pct(&list, 0.5),
        list_p99_ms: pct(&list, 0.99),
        item_p50_ms: pct(&item, 0.5),
        item_p99_ms: pct(&item, 0.99),
        item_max_ms: item.last().copied().unwrap_or(0.0),
        empty_frame_p50_ms: pct(&empty, 0.5),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_browse_bench_runs_and_says_what_it_measured() {
        let dir = tempfile::tempdir().unwrap();
        let r = tui_browse(dir.path(), 400, 200, 60).unwrap();
        assert_eq!((r.items, r.rows, r.frames), (400, crate::tui::screens::browse::PAGE, 60));
        assert!(r.events > 200, "the undos are events too: {}", r.events);
        assert!(r.list_p99_ms > 0.0 && r.item_p99_ms > 0.0);
        let lines = r.lines();
        assert!(lines[0].starts_with("browse screen, 400 items: a list of 100 rows frame p50"));
        assert!(lines[0].contains("target ≤ 5 ms"));
    }

    /// The full-size figures: `cargo test --release --lib bench::tui::tests::browse_full_size --
    /// --ignored --nocapture`.
    #[test]
    #[ignore]
    fn browse_full_size() {
        let dir = tempfile::tempdir().unwrap();
        let r = tui_browse(dir.path(), 100_000, 2_000, 2000).unwrap();
        for l in r.lines() {
            println!("{l}");
        }
    }

    #[test]
    fn the_responses_bench_runs_and_says_what_it_measured() {
        let dir = tempfile::tempdir().unwrap();
        let r = tui_responses(dir.path(), 30, 3000, 60).unwrap();
        assert_eq!((r.items, r.frames), (30, 60));
        assert!(r.open_ms > 0.0 && r.frame_p99_ms > 0.0 && r.uncached_frame_p99_ms > 0.0);
        let lines = r.lines();
        assert!(
            lines[0].starts_with("responses screen, 30 items × 2 responses of 3000 chars: open")
        );
        assert!(lines[1].contains("with a prediction for every item"));
        assert!(lines[2].contains("frame p50") && lines[2].contains("target ≤ 5 ms"));
    }

    /// The full-size figures (10,000 items, two 20,000-character responses each):
    /// `cargo test --lib bench::tui::tests::responses_full_size -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn responses_full_size() {
        let dir = tempfile::tempdir().unwrap();
        let r = tui_responses(dir.path(), 10_000, 20_000, 2000).unwrap();
        for l in r.lines() {
            println!("{l}");
        }
    }
}
