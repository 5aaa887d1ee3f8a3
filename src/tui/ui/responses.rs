//! The Responses screen: the prompt (earlier chat turns dimmed above it), then one candidate
//! (single mode) or two side by side (A/B mode, stacked when narrow). Texts are laid out once
//! per width ([`crate::tui::wrap`]) and only the lines in view are drawn.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::Ctx;
use crate::text::{inert, one_line};
use crate::tui::action::{Action, RespKey};
use crate::tui::app::{App, CandidateView, RespItem, ResponsesMode, Screen};
use crate::tui::screens::responses::{preference_said, status_said};
use std::sync::Arc;

use crate::tui::wrap::{wrap, Kind, Memo, WLine};

/// Below this width the A/B pair is stacked.
const SIDE_BY_SIDE_MIN: u16 = 100;

/// Cache tags: what a laid-out text is.
const TAG_CANDIDATE: u8 = 1;
const TAG_PROMPT: u8 = 2;

pub fn render(app: &App, cx: &Ctx, f: &mut Frame, area: Rect) {
    let st = &app.responses;
    let Some(it) = &st.item else {
        let key = |k: RespKey| cx.keys(Some(Screen::Responses), &Action::Resp(k));
        let msg = if st.loading || !st.opened {
            "loading…".to_string()
        } else if st.load_failed {
            format!(
                "Loading failed (the line below says why): {} tries again.",
                key(RespKey::Reload)
            )
        } else {
            format!(
                "No items with candidate responses for you: none imported yet (`hifi import` of a file with responses, or a set built with `hifi select`), or every one already has the reviewers it needs. {} reads them again.",
                key(RespKey::Reload)
            )
        };
        f.render_widget(
            Paragraph::new(msg).wrap(Wrap { trim: true }).block(cx.block(" Responses ")),
            area,
        );
        return;
    };
    if st.prompt_full {
        prompt_pane(app, cx, f, area, it, true);
        return;
    }
    // A/B needs the room for two texts: a smaller share for the prompt.
    let share = if st.mode == ResponsesMode::Ab { 4 } else { 3 };
    let want = prompt_height(app, it, area, share);
    let [top, rest] = Layout::vertical([Constraint::Length(want), Constraint::Min(5)]).areas(area);
    prompt_pane(app, cx, f, top, it, false);
    match (st.mode, st.pair) {
        (ResponsesMode::Ab, Some((l, r))) => {
            let (Some(left), Some(right)) = (it.candidate(l), it.candidate(r)) else { return };
            let dir = if rest.width >= SIDE_BY_SIDE_MIN {
                Layout::horizontal([Constraint::Percentage(50); 2])
            } else {
                Layout::vertical([Constraint::Percentage(50); 2])
            };
            let [a, b] = dir.areas(rest);
            let pref = it.preference((l.min(r), l.max(r)));
            let status = pref.map_or("not compared by you yet".to_string(), |o| {
                format!("your choice: {}", preference_said(o, (l, r)))
            });
            let (ta, na) =
                candidate_pane(cx, f, a, &st.memo, st.scroll, left, " Left (A) ", &status);
            let (tb, nb) =
                candidate_pane(cx, f, b, &st.memo, st.scroll, right, " Right (B) ", &status);
            st.memo.viewport(na.min(nb), ta.max(tb));
        }
        (ResponsesMode::Ab, None) => {
            f.render_widget(
                Paragraph::new("A/B compares two candidates; this item has fewer.")
                    .block(cx.block(" A/B ")),
                rest,
            );
        }
        (ResponsesMode::Single, _) => {
            let Some(c) = st.candidate() else { return };
            let loading = if st.loading { " · loading…" } else { "" };
            let title = format!(
                " candidate {} of {}{}{loading} ",
                c.number,
                it.candidates.len(),
                if c.edited { " · edited" } else { "" }
            );
            let mut status = match c.status {
                Some(s) => {
                    let how = if c.by_edit { " (your edit)" } else { "" };
                    let why = c.reason.as_deref().map_or(String::new(), |r| format!(": {r}"));
                    format!("your verdict: {}{how}{why}", status_said(s))
                }
                None => "not judged by you yet".to_string(),
            };
            if let Some(s) = c.score {
                status.push_str(&format!(" · score {s}/5"));
            }
            let (total, page) =
                candidate_pane(cx, f, rest, &st.memo, st.scroll, c, &title, &status);
            st.memo.viewport(page, total);
        }
    }
}

/// Rows for the prompt pane: its text and earlier turns, at most 1/`share` of the screen (at
/// least three lines), plus the borders.
fn prompt_height(app: &App, it: &RespItem, area: Rect, share: u16) -> u16 {
    let width = area.width.saturating_sub(2) as usize;
    let lines = prompt_lines(&app.responses.memo, it, width).len();
    let cap = (area.height / share).max(3) as usize;
    (lines.min(cap) as u16).max(1) + 2
}

/// The earlier turns (a `role:` line, then the text; both [`Kind::Turn`]) and the prompt,
/// laid out as one document, once per width.
fn prompt_lines(memo: &Memo, it: &RespItem, width: usize) -> Arc<Vec<WLine>> {
    let len =
        it.prompt.len() + it.context.iter().map(|(r, t)| r.len() + t.len() + 1).sum::<usize>();
    memo.laid_out(TAG_PROMPT, it.key, it.context.len() as i64, len, width, || {
        let mut out = Vec::new();
        let mut turn = |text: &str| {
            out.extend(wrap(text, width).into_iter().map(|l| WLine { kind: Kind::Turn, ..l }));
        };
        for (role, text) in &it.context {
            turn(&format!("{}:", if role.is_empty() { "turn" } else { role }));
            turn(text);
        }
        if !it.context.is_empty() {
            turn("user:");
        }
        out.extend(wrap(&it.prompt, width));
        out
    })
}

fn prompt_pane(app: &App, cx: &Ctx, f: &mut Frame, area: Rect, it: &RespItem, full: bool) {
    let st = &app.responses;
    let width = area.width.saturating_sub(2) as usize;
    let height = area.height.saturating_sub(2) as usize;
    let lines = prompt_lines(&st.memo, it, width);
    let total = lines.len();
    let prompt_key = cx.keys(Some(Screen::Responses), &Action::Resp(RespKey::TogglePrompt));
    let pos = st.queue.iter().position(|k| *k == it.key).map_or(0, |i| i + 1);
    let (first, shown): (usize, Vec<Line>) = if full {
        let first = st.prompt_scroll.min(total.saturating_sub(height));
        st.memo.viewport(height, total);
        (first, lines[first..].iter().take(height).map(|l| styled(cx, l)).collect())
    } else if total <= height {
        (0, lines.iter().map(|l| styled(cx, l)).collect())
    } else {
        // Too long: the prompt whole with the latest turns above it and a note of the earlier
        // ones; a prompt longer than the pane, its beginning and a note of the rest.
        let prompt_start = lines.iter().position(|l| l.kind != Kind::Turn).unwrap_or(total);
        let room = height.saturating_sub(1).max(1);
        let hidden = total - room;
        let note = |what: &str| {
            Line::from(Span::styled(
                format!("… {hidden} {what} lines ({prompt_key}: the whole prompt)"),
                Style::default().fg(cx.theme.warn),
            ))
        };
        let mut out: Vec<Line> = Vec::with_capacity(height);
        if total - prompt_start <= room {
            out.push(note("earlier"));
            out.extend(lines[total - room..].iter().map(|l| styled(cx, l)));
        } else {
            out.extend(lines[prompt_start..prompt_start + room].iter().map(|l| styled(cx, l)));
            out.push(note("more"));
        }
        (0, out)
    };
    let mut title =
        format!(" Prompt · {} · item {pos} of {} ", one_line(&it.id, 40), st.queue.len());
    if full {
        title = format!(
            " Prompt · {} · lines {}–{} of {total} · {prompt_key}: back ",
            one_line(&it.id, 40),
            (first + 1).min(total),
            (first + height).min(total)
        );
    }
    f.render_widget(Paragraph::new(shown).block(cx.block(title)), area);
}

/// One candidate in `area`: a status line, then the text in view from `scroll`. Returns (its
/// laid-out lines, lines in view).
#[allow(clippy::too_many_arguments)]
fn candidate_pane(
    cx: &Ctx,
    f: &mut Frame,
    area: Rect,
    memo: &Memo,
    scroll: usize,
    c: &CandidateView,
    title: &str,
    status: &str,
) -> (usize, usize) {
    let width = area.width.saturating_sub(2) as usize;
    let page = area.height.saturating_sub(3) as usize;
    let lines = memo.lines(TAG_CANDIDATE, c.revision, c.number, &c.text, width);
    let total = lines.len();
    let first = scroll.min(total.saturating_sub(page));
    let mut shown =
        vec![Line::from(Span::styled(inert(status, false), status_style(cx, c, status)))];
    shown.extend(lines[first..].iter().take(page).map(|l| styled(cx, l)));
    let at = if total > page {
        format!(" lines {}–{} of {total} ", first + 1, (first + page).min(total))
    } else {
        String::new()
    };
    let block = cx.block(title.to_string()).title_bottom(Line::from(at).right_aligned());
    f.render_widget(Paragraph::new(shown).block(block), area);
    (total, page)
}

fn status_style(cx: &Ctx, c: &CandidateView, status: &str) -> Style {
    use crate::responses::Status;
    if status.starts_with("your choice") {
        return Style::default().fg(cx.theme.accent).add_modifier(Modifier::BOLD);
    }
    match c.status {
        Some(Status::Accepted) if status.starts_with("your verdict") => {
            Style::default().fg(cx.theme.ok).add_modifier(Modifier::BOLD)
        }
        Some(Status::Rejected) if status.starts_with("your verdict") => {
            Style::default().fg(cx.theme.error).add_modifier(Modifier::BOLD)
        }
        _ => cx.muted(),
    }
}

fn styled<'a>(cx: &Ctx, l: &WLine) -> Line<'a> {
    let style = match l.kind {
        Kind::Prose => Style::default(),
        Kind::Code => Style::default().bg(cx.theme.selected_bg),
        Kind::Fence | Kind::Turn => cx.muted(),
    };
    Line::from(Span::styled(l.text.clone(), style))
}
