//! The Sets screen: a built set (LIMO, BETR, self-training) entry by entry, with why each was
//! chosen; the veto key takes an entry out of the export (and puts it back).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::Ctx;
use crate::text::{inert, one_line};
use crate::tui::app::App;

pub fn render(app: &App, cx: &Ctx, f: &mut Frame, area: Rect) {
    let Some(set) = &app.sets.set else {
        let text = "No sets yet. Build one with `hifi select betr`, `hifi select limo` or `hifi self-train`.";
        f.render_widget(
            Paragraph::new(text).wrap(Wrap { trim: false }).block(cx.block(" Sets ")),
            area,
        );
        return;
    };
    let [list, detail] =
        Layout::vertical([Constraint::Percentage(50), Constraint::Min(4)]).areas(area);
    let height = list.height.saturating_sub(2) as usize;
    let first = app.sets.sel.saturating_sub(height.saturating_sub(1));
    let width = list.width.saturating_sub(2) as usize;
    let lines: Vec<Line> = set
        .entries
        .iter()
        .enumerate()
        .skip(first)
        .take(height)
        .map(|(i, e)| {
            let mut st = if e.vetoed {
                Style::default().fg(cx.theme.muted).add_modifier(Modifier::CROSSED_OUT)
            } else {
                Style::default()
            };
            if i == app.sets.sel {
                st = st.bg(cx.theme.selected_bg).add_modifier(Modifier::BOLD);
            }
            let mark = if e.vetoed { "✗" } else { " " };
            let score = e.score.map_or(String::from("     "), |s| format!("{s:>5.3}"));
            let head = format!("{mark}{:>4} {:<12} {score} ", e.rank, one_line(&e.item_id, 12));
            let room = width.saturating_sub(head.chars().count()).max(8);
            Line::from(Span::styled(format!("{head}{}", one_line(&e.text, room)), st))
        })
        .collect();
    let vetoed = set.entries.iter().filter(|e| e.vetoed).count();
    let pos = set.all.iter().position(|id| *id == set.id).map_or(0, |i| i + 1);
    let title = format!(
        " Set {} ({}) · {} entries, {} vetoed · set {pos} of {} ",
        set.id,
        inert(&set.kind, false),
        set.entries.len(),
        vetoed,
        set.all.len()
    );
    f.render_widget(Paragraph::new(lines).block(cx.block(title)), list);
    if let Some(e) = set.entries.get(app.sets.sel) {
        let mut lines = vec![Line::from(Span::styled(
            format!("why: {}", inert(&e.reasons.to_string(), false)),
            cx.muted(),
        ))];
        if e.vetoed {
            let why = e
                .veto_reason
                .as_deref()
                .map_or(String::new(), |r| format!(" ({})", inert(r, false)));
            lines.push(Line::from(Span::styled(
                format!("vetoed: left out of the export{why}"),
                Style::default().fg(cx.theme.error),
            )));
        }
        lines.push(Line::from(""));
        lines.extend(inert(&e.text, true).lines().map(|l| Line::from(l.to_string())));
        if let Some(r) = &e.response {
            lines.push(Line::from(Span::styled(
                "response:",
                Style::default().add_modifier(Modifier::BOLD),
            )));
            lines.extend(inert(r, true).lines().map(|l| Line::from(l.to_string())));
        }
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(cx.block(format!(" {} ", one_line(&e.item_id, 40)))),
            detail,
        );
    }
}
