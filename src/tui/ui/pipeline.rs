//! The pipeline screen: each stage with its job's state, and what the store holds of its
//! work; enter starts one as a background job.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Gauge, Paragraph, Sparkline, Wrap};
use ratatui::Frame;

use super::Ctx;
use crate::text::inert;
use crate::tui::app::{App, Job, JobState};

/// The stage-name column: the selection mark and the longest title ("zero-shot round").
const NAME_WIDTH: u16 = 18;

pub fn render(app: &App, cx: &Ctx, f: &mut Frame, area: Rect) {
    let block = cx.block(" Pipeline ");
    let inner = block.inner(area);
    f.render_widget(block, area);
    let rows = Layout::vertical(
        app.pipeline.jobs.iter().map(|_| Constraint::Length(2)).chain([Constraint::Min(0)]),
    )
    .split(inner);
    for (i, (stage, state)) in app.pipeline.jobs.iter().enumerate() {
        let sel = i == app.pipeline.sel;
        let name_style = if sel {
            Style::default().bg(cx.theme.selected_bg).add_modifier(Modifier::BOLD)
        } else {
            Style::default()
        };
        let [name, rest] =
            Layout::horizontal([Constraint::Length(NAME_WIDTH), Constraint::Min(10)])
                .areas(rows[i]);
        f.render_widget(
            Paragraph::new(Line::from(Span::styled(
                format!("{} {}", if sel { "▶" } else { " " }, stage.title()),
                name_style,
            ))),
            name,
        );
        match state {
            JobState::Running { done, total, note, started } => {
                let ratio =
                    if *total > 0 { (*done as f64 / *total as f64).clamp(0.0, 1.0) } else { 0.0 };
                let secs = (app.now - started).max(1e-9);
                let rate = *done as f64 / secs;
                let eta = if *total > *done && rate > 0.0 {
                    crate::progress::format_duration(std::time::Duration::from_secs_f64(
                        (total - done) as f64 / rate,
                    ))
                } else {
                    "–".into()
                };
                let label =
                    format!("{done}/{total} · {rate:.1}/s · eta {eta} · {}", inert(note, false));
                f.render_widget(
                    Gauge::default()
                        .ratio(ratio)
                        .label(label)
                        .gauge_style(Style::default().fg(cx.theme.accent)),
                    Rect { height: 1, ..rest },
                );
                if *stage == Job::LoraRound
                    && !app.pipeline.loss_curve.is_empty()
                    && rest.height > 1
                {
                    loss_curve(app, cx, f, Rect { y: rest.y + 1, height: 1, ..rest });
                }
            }
            JobState::Idle => {
                let line = match app.pipeline.stored(*stage) {
                    Some(s) => Span::raw(inert(s, false)),
                    None if app.pipeline.stored.is_some() => {
                        Span::styled("not run yet — enter to start", cx.muted())
                    }
                    None => Span::styled("idle — enter to start", cx.muted()),
                };
                f.render_widget(Paragraph::new(line), rest);
            }
            JobState::Done(s) => {
                outcome(app, cx, f, rest, *stage, format!("done: {}", inert(s, false)), cx.theme.ok)
            }
            JobState::Failed(e) => outcome(
                app,
                cx,
                f,
                rest,
                *stage,
                format!("failed: {}", inert(e, false)),
                cx.theme.error,
            ),
            JobState::Cancelled(s) => outcome(
                app,
                cx,
                f,
                rest,
                *stage,
                format!("cancelled: {}", inert(s, false)),
                cx.theme.warn,
            ),
        }
    }
}

/// How a job ended; below it, when the first line holds it, what the store now has.
fn outcome(app: &App, cx: &Ctx, f: &mut Frame, area: Rect, stage: Job, text: String, color: Color) {
    let stored = app.pipeline.stored(stage).filter(|_| {
        unicode_width::UnicodeWidthStr::width(text.as_str()) <= area.width as usize
            && area.height > 1
    });
    f.render_widget(
        Paragraph::new(Span::styled(text, Style::default().fg(color))).wrap(Wrap { trim: true }),
        area,
    );
    if let Some(s) = stored {
        f.render_widget(
            Paragraph::new(Span::styled(inert(s, false), cx.muted())),
            Rect { y: area.y + 1, height: 1, ..area },
        );
    }
}

/// "loss 2.31 → 0.42" and a sparkline of the last steps that fit.
fn loss_curve(app: &App, cx: &Ctx, f: &mut Frame, area: Rect) {
    let first = app.pipeline.loss_curve[0];
    let last = app.pipeline.loss_curve[app.pipeline.loss_curve.len() - 1];
    let text = format!("loss {first:.2} → {last:.2} ");
    let w = (text.chars().count() as u16).min(area.width);
    f.render_widget(Paragraph::new(Span::styled(text, cx.muted())), Rect { width: w, ..area });
    let room = area.width.saturating_sub(w) as usize;
    let tail = &app.pipeline.loss_curve[app.pipeline.loss_curve.len().saturating_sub(room)..];
    let max = tail.iter().copied().fold(f64::MIN, f64::max).max(1e-9);
    let data: Vec<u64> = tail.iter().map(|l| (l / max * 100.0).round().max(1.0) as u64).collect();
    f.render_widget(
        Sparkline::default().data(&data).max(100).style(Style::default().fg(cx.theme.accent)),
        Rect { x: area.x + w, width: area.width - w, ..area },
    );
}
