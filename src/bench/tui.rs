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
    let cfg = Config {
        task: "Decide whether an online ad is clickbait.".into(),
        labels: vec![
            crate::config::LabelDef {
                name: "clickbait".into(),
                definition: "Withholds what is offered.".into(),
            },
            crate::config::LabelDef {
                name: "benign".into(),
                definition: "Says what is offered.".into(),
            },
        ],
        model: Default::default(),
        split: Default::default(),
        review: Default::default(),
        mine: Default::default(),
        stop: Default::default(),
        prompt: Default::default(),
        train: Default::default(),
        backend: Default::default(),
    };
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
    let (entry, done, total, since) = crate::tui::data::next_entry(&mut store, "bench")?;
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
