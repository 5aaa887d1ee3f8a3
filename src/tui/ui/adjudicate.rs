//! The adjudication screen: items whose annotators disagree; a label key resolves the selected
//! one (a reason is required and kept with the resolution).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::Ctx;
use crate::text::{inert, one_line};
use crate::tui::action::Action;
use crate::tui::app::{App, Screen};

pub fn render(app: &App, cx: &Ctx, f: &mut Frame, area: Rect) {
    if app.adjudicate.conflicts.is_empty() {
        f.render_widget(
            Paragraph::new("No disagreements to adjudicate.").block(cx.block(" Adjudicate ")),
            area,
        );
        return;
    }
    let [list, detail] =
        Layout::vertical([Constraint::Percentage(45), Constraint::Min(4)]).areas(area);
    let height = list.height.saturating_sub(2) as usize;
    let first = app.adjudicate.sel.saturating_sub(height.saturating_sub(1));
    let lines: Vec<Line> = app
        .adjudicate
        .conflicts
        .iter()
        .enumerate()
        .skip(first)
        .take(height)
        .map(|(i, c)| {
            let who: Vec<String> = c
                .labels
                .iter()
                .map(|(a, l)| {
                    let l = match crate::multilabel::decode(l) {
                        Some(_) => format!("[{}]", crate::multilabel::display(l)),
                        None => l.clone(),
                    };
                    format!("{}={}", inert(a, false), inert(&l, false))
                })
                .collect();
            let st = if i == app.adjudicate.sel {
                Style::default().bg(cx.theme.selected_bg).add_modifier(Modifier::BOLD)
            } else {
                Style::default()
            };
            Line::from(Span::styled(
                format!(
                    "{:<14} {:<40} {}",
                    one_line(&c.id, 14),
                    who.join(" "),
                    one_line(&c.text, 60)
                ),
                st,
            ))
        })
        .collect();
    f.render_widget(
        Paragraph::new(lines)
            .block(cx.block(format!(" Disagreements ({}) ", app.adjudicate.conflicts.len()))),
        list,
    );
    if let Some(c) = app.adjudicate.conflicts.get(app.adjudicate.sel) {
        let keys: Vec<String> = app
            .labels
            .iter()
            .enumerate()
            .map(|(i, l)| format!("{} = {}", i + 1, inert(&l.name, false)))
            .collect();
        let mut lines = vec![
            Line::from(Span::styled(format!("resolve with: {}", keys.join(", ")), cx.muted())),
            Line::from(""),
        ];
        if app.multi_label {
            let flags = app.adjudicate.flags(c.item, app.labels.len());
            let on: Vec<String> = app
                .labels
                .iter()
                .zip(&flags)
                .enumerate()
                .map(|(i, (l, &f))| {
                    format!("{} [{}] {}", i + 1, if f { "x" } else { " " }, inert(&l.name, false))
                })
                .collect();
            let picked: Vec<String> = app
                .labels
                .iter()
                .zip(&flags)
                .filter(|(_, &f)| f)
                .map(|(l, _)| inert(&l.name, false))
                .collect();
            let set = if picked.is_empty() { "none of these".into() } else { picked.join(", ") };
            lines[0] = Line::from(Span::styled(
                format!("toggle: {}", on.join("  ")),
                Style::default().fg(cx.theme.accent),
            ));
            lines.insert(
                1,
                Line::from(Span::styled(
                    format!(
                        "{} resolves with: {set}",
                        cx.keys(Some(Screen::Adjudicate), &Action::ConfirmSet)
                    ),
                    Style::default().fg(cx.theme.warn),
                )),
            );
        }
        lines.extend(inert(&c.text, true).lines().map(|l| Line::from(l.to_string())));
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(cx.block(format!(" {} ", one_line(&c.id, 40)))),
            detail,
        );
    }
}
