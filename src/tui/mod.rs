//! The review workstation: a ratatui TUI for keyboard-only expert review.
//!
//! Pure core, thin terminal layer: [`update::update`] turns actions into state changes and
//! effects; [`ui::render`] draws the state; this runtime reads keys, performs effects on a
//! store worker thread and background job threads, and feeds their results back as actions.
//! The UI thread never touches the model, the database or training.

pub mod action;
pub mod app;
pub mod confirm;
pub mod data;
pub mod keymap;
mod runtime;
pub mod screens;
pub mod theme;
pub mod ui;
pub mod update;
pub mod view;
pub mod wrap;

pub use runtime::{run, user_settings, ReviewOptions};

use ratatui::backend::TestBackend;
use ratatui::Terminal;

/// Render `app` into a `w`×`h` off-screen buffer and return it as text (tests, benchmarks).
pub fn render_to_string(
    app: &app::App,
    theme: &theme::Theme,
    keymap: &keymap::Keymap,
    w: u16,
    h: u16,
) -> String {
    let mut term = match Terminal::new(TestBackend::new(w, h)) {
        Ok(t) => t,
        Err(_) => return String::new(),
    };
    let cx = ui::Ctx { theme, keymap };
    let _ = term.draw(|f| ui::render(app, &cx, f));
    let buf = term.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        let mut line = String::new();
        let mut x = 0;
        while x < w {
            let sym = buf[(x, y)].symbol();
            line.push_str(sym);
            // A wide (CJK) character covers the next cell too.
            x += unicode_width::UnicodeWidthStr::width(sym).max(1) as u16;
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
