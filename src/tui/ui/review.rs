//! The pair review screen: two items side by side (stacked when narrow), each with the
//! model's probabilities and why it was queued; single items use the full width. In a
//! multi-label project each item lists every label with its key and whether it is toggled on,
//! and, when the model is shown, each label's probability against its threshold.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::Ctx;
use crate::text::inert;
use crate::tui::action::Action;
use crate::tui::app::{App, ItemView, Screen};

/// Below this width the pair is stacked.
const SIDE_BY_SIDE_MIN: u16 = 100;

pub fn render(app: &App, cx: &Ctx, f: &mut Frame, area: Rect) {
    let (main, guide) = if app.review.show_guidelines {
        let [m, g] = Layout::vertical([Constraint::Min(6), Constraint::Percentage(40)]).areas(area);
        (m, Some(g))
    } else {
        (area, None)
    };
    match &app.review.entry {
        _ if app.review.loading => f.render_widget(
            Paragraph::new("loading…").style(cx.muted()).block(cx.block(" Review ")),
            main,
        ),
        None => {
            let msg = if app.review.queue_empty {
                "The queue is done for you. Start `mine` on the Pipeline screen (tab) for more, or check the Dashboard."
            } else {
                "Nothing queued yet: run prelabel, embed and mine from the Pipeline screen (tab)."
            };
            f.render_widget(
                Paragraph::new(msg).wrap(Wrap { trim: true }).block(cx.block(" Review ")),
                main,
            );
        }
        Some(e) => {
            let reason =
                reason_line(&e.entry.reason, &e.entry.strategy, app.review.suggestion_visible());
            let [r, items] =
                Layout::vertical([Constraint::Length(1), Constraint::Min(3)]).areas(main);
            f.render_widget(
                Paragraph::new(Line::from(vec![
                    Span::styled("why: ", cx.muted()),
                    Span::raw(reason),
                ])),
                r,
            );
            match &e.b {
                None => item_panel(app, cx, f, items, &e.a, 0, "Item"),
                Some(b) => {
                    let dir = if items.width >= SIDE_BY_SIDE_MIN {
                        Layout::horizontal([Constraint::Percentage(50); 2])
                    } else {
                        Layout::vertical([Constraint::Percentage(50); 2])
                    };
                    let [l, rr] = dir.areas(items);
                    item_panel(app, cx, f, l, &e.a, 0, "Left");
                    item_panel(app, cx, f, rr, b, 1, "Right");
                }
            }
        }
    }
    if let Some(g) = guide {
        let mut lines = Vec::new();
        for (i, l) in app.labels.iter().enumerate() {
            lines.push(Line::from(Span::styled(
                inert(&l.name, false),
                Style::default().fg(cx.theme.label(i)).add_modifier(Modifier::BOLD),
            )));
            lines.push(Line::from(inert(&l.definition, false)));
        }
        f.render_widget(
            Paragraph::new(lines).wrap(Wrap { trim: true }).block(cx.block(" Guidelines ")),
            g,
        );
    }
}

/// Why the entry was queued. Blind, only what does not reveal the model's opinion (no
/// probabilities, margins or predicted-label clusters).
fn reason_line(reason: &serde_json::Value, strategy: &str, suggestion: bool) -> String {
    let mut parts = vec![strategy.to_string()];
    if let Some(obj) = reason.as_object() {
        for (k, v) in obj {
            if !suggestion
                && !matches!(k.as_str(), "rank" | "distance" | "centroid_distance" | "why")
            {
                continue;
            }
            if k == "strategy" {
                continue; // already first
            }
            let shown = match v {
                serde_json::Value::Number(n) if n.is_i64() => n.to_string(),
                serde_json::Value::Number(n) => {
                    n.as_f64().map_or_else(|| n.to_string(), |x| format!("{x:.3}"))
                }
                serde_json::Value::String(s) if k == "why" => {
                    parts.push(s.clone());
                    continue;
                }
                serde_json::Value::String(s) => s.clone(),
                other if other.is_array() && other.to_string().len() < 40 => other.to_string(),
                _ => continue,
            };
            parts.push(format!("{k} {shown}"));
        }
    }
    inert(&parts.join(" · "), false)
}

fn item_panel(
    app: &App,
    cx: &Ctx,
    f: &mut Frame,
    area: Rect,
    it: &ItemView,
    side: usize,
    title: &str,
) {
    let keys: Vec<String> = (0..app.labels.len())
        .map(|i| {
            let a = if side == 0 { Action::LabelLeft(i) } else { Action::LabelRight(i) };
            let own = cx.keymap.keys_for(Some(Screen::Review), &a).first().cloned();
            // Multi-label: a label with no key of its side is toggled by its "both" key.
            let both =
                || cx.keymap.keys_for(Some(Screen::Review), &Action::LabelBoth(i)).first().cloned();
            match app.multi_label {
                true => own.or_else(both).unwrap_or_default(),
                false => own.unwrap_or_default(),
            }
        })
        .collect();
    let mut lines: Vec<Line<'static>> = Vec::new();
    if app.multi_label {
        set_lines(app, cx, it, side, &keys, &mut lines);
    } else {
        single_lines(app, cx, it, &keys, &mut lines);
    }
    lines.push(Line::from(""));
    let head = lines.len();
    for l in inert(&it.text, true).lines() {
        lines.push(Line::from(l.to_string()));
    }
    let title = format!(" {title} · {} ", crate::text::one_line(&it.id, 40));
    let block = cx.block(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    // The imported fields go under the text, in the rows it leaves (the text comes first).
    let (width, height) = (usize::from(inner.width), usize::from(inner.height));
    let mut text_area = inner;
    if !it.fields.is_empty() && width > 0 {
        let text_rows: usize =
            lines[..head].iter().map(|l| l.width().div_ceil(width).max(1)).sum::<usize>()
                + crate::tui::wrap::wrap(&it.text, width).len();
        let used = text_rows.saturating_sub(usize::from(app.review.scroll)).min(height);
        let room = height - used;
        let fields = field_lines(&it.fields, room, width);
        if !fields.is_empty() {
            // A blank row between the text and the fields where there is one to spare.
            let gap = usize::from(room > fields.len());
            text_area.height = (used + gap) as u16;
            let y = inner.y + text_area.height;
            let rows = Rect { y, height: fields.len() as u16, ..inner };
            f.render_widget(Paragraph::new(fields).style(cx.muted()), rows);
        }
    }
    let p = Paragraph::new(lines).wrap(Wrap { trim: false }).scroll((app.review.scroll, 0));
    f.render_widget(p, text_area);
}

/// A single-label item's head: the model's probabilities, one bar per label (or, blind, the
/// labels and their keys), then what the annotator decided.
fn single_lines(
    app: &App,
    cx: &Ctx,
    it: &ItemView,
    keys: &[String],
    lines: &mut Vec<Line<'static>>,
) {
    let key = |i: usize| {
        Span::styled(
            format!("[{}] ", keys.get(i).map_or("", |s| s.as_str())),
            Style::default().fg(cx.theme.accent),
        )
    };
    // Model probabilities, one bar per label — or, blind, the labels and their keys only.
    match &it.probs {
        _ if !app.review.suggestion_visible() => {
            for (i, l) in app.labels.iter().enumerate() {
                lines.push(Line::from(vec![
                    key(i),
                    Span::styled(inert(&l.name, false), Style::default().fg(cx.theme.label(i))),
                ]));
            }
            let why = match &app.review.entry {
                Some(e) if e.entry.audit => {
                    "blind: an audit item (drawn at random from the pool)".to_string()
                }
                _ => format!(
                    "blind: the model's prediction is hidden ({} shows it)",
                    cx.keys(Some(Screen::Review), &Action::TogglePredictions)
                ),
            };
            lines.push(Line::from(Span::styled(why, cx.muted())));
        }
        Some(p) => {
            for (i, l) in app.labels.iter().enumerate() {
                let pi = it
                    .model_labels
                    .iter()
                    .position(|m| m == &l.name)
                    .and_then(|j| p.get(j))
                    .copied()
                    .unwrap_or(0.0);
                let filled = (pi * 10.0).round() as usize;
                lines.push(Line::from(vec![
                    key(i),
                    Span::styled(
                        format!("{:<12}", inert(&l.name, false)),
                        Style::default().fg(cx.theme.label(i)),
                    ),
                    Span::raw(format!(
                        "{}{} {pi:.2}",
                        "█".repeat(filled.min(10)),
                        "░".repeat(10 - filled.min(10))
                    )),
                ]));
            }
        }
        None => lines.push(Line::from(Span::styled("no model prediction yet", cx.muted()))),
    }
    let decided = app.review.decided.contains(&it.key);
    let status = match (&it.mine, decided) {
        (Some(l), _) => Span::styled(
            format!("✔ your label: {}", inert(l, false)),
            Style::default().fg(cx.theme.ok).add_modifier(Modifier::BOLD),
        ),
        (None, true) => Span::styled("skipped", cx.muted()),
        (None, false) => Span::styled("undecided", cx.muted()),
    };
    lines.push(Line::from(status));
}

/// A multi-label item's head: one row per label — its key, `[x]` when toggled on, its name,
/// and with the model shown its probability, bar and threshold (`≥ 0.50 yes` / `< 0.50 no`)
/// — then the set that the confirm key would record, or the set recorded.
fn set_lines(
    app: &App,
    cx: &Ctx,
    it: &ItemView,
    side: usize,
    keys: &[String],
    lines: &mut Vec<Line<'static>>,
) {
    let decided = app.review.decided.contains(&it.key);
    let saving = !decided && app.review.sent.contains(&it.key);
    let names: Vec<String> = app.labels.iter().map(|l| l.name.clone()).collect();
    // A decided item shows what was recorded; an open one what is toggled on.
    let on: Vec<bool> = match (&it.mine, decided) {
        (Some(l), true) => crate::multilabel::membership(l, &names),
        _ => (0..names.len()).map(|i| app.review.picked(side, i)).collect(),
    };
    let shown = app.review.suggestion_visible();
    let thresholds = app.thresholds();
    let name_w =
        names.iter().map(|n| inert(n, false).chars().count()).max().unwrap_or(4).clamp(4, 16);
    for (i, l) in app.labels.iter().enumerate() {
        let is_on = on.get(i).copied().unwrap_or(false);
        let mark = if is_on {
            Span::styled("[x] ", Style::default().fg(cx.theme.ok).add_modifier(Modifier::BOLD))
        } else {
            Span::styled("[ ] ", cx.muted())
        };
        let mut name_style = Style::default().fg(cx.theme.label(i));
        if is_on {
            name_style = name_style.add_modifier(Modifier::BOLD);
        }
        let mut row = vec![
            Span::styled(
                format!("[{}] ", keys.get(i).map_or("", |s| s.as_str())),
                Style::default().fg(cx.theme.accent),
            ),
            mark,
            Span::styled(
                format!("{:<w$}", crate::text::one_line(&l.name, name_w), w = name_w),
                name_style,
            ),
        ];
        if let (true, Some(p)) = (shown, &it.probs) {
            let pi =
                it.model_labels.iter().position(|m| m == &l.name).and_then(|j| p.get(j)).copied();
            let t = thresholds.get(i).copied().unwrap_or(crate::multilabel::DEFAULT_THRESHOLD);
            match pi {
                Some(pi) => {
                    let filled = ((pi * 10.0).round() as usize).min(10);
                    let over = pi >= t;
                    let verdict =
                        if over { format!(" ≥ {t:.2} yes") } else { format!(" < {t:.2} no") };
                    row.push(Span::raw(format!(
                        " {}{} {pi:.2}",
                        "█".repeat(filled),
                        "░".repeat(10 - filled)
                    )));
                    row.push(Span::styled(
                        verdict,
                        if over { Style::default().fg(cx.theme.accent) } else { cx.muted() },
                    ));
                }
                None => row.push(Span::styled(" not scored by the model", cx.muted())),
            }
        }
        lines.push(Line::from(row));
    }
    if !shown {
        let why = match &app.review.entry {
            Some(e) if e.entry.audit => {
                "blind: an audit item (drawn at random from the pool)".to_string()
            }
            _ => format!(
                "blind: the model's prediction is hidden ({} shows it)",
                cx.keys(Some(Screen::Review), &Action::TogglePredictions)
            ),
        };
        lines.push(Line::from(Span::styled(why, cx.muted())));
    } else if it.probs.is_none() {
        lines.push(Line::from(Span::styled("no model prediction yet", cx.muted())));
    }
    let set = |flags: &[bool]| {
        let picked: Vec<String> =
            names.iter().zip(flags).filter(|(_, &f)| f).map(|(n, _)| inert(n, false)).collect();
        if picked.is_empty() {
            "none of these".to_string()
        } else {
            picked.join(", ")
        }
    };
    let status = match (&it.mine, decided) {
        (Some(_), true) => Span::styled(
            format!("✔ your labels: {}", set(&on)),
            Style::default().fg(cx.theme.ok).add_modifier(Modifier::BOLD),
        ),
        (None, true) => Span::styled("skipped", cx.muted()),
        _ if saving => Span::styled("saving…", cx.muted()),
        (_, false) => {
            let enter = cx.keys(Some(Screen::Review), &Action::ConfirmSet);
            let before = it.mine.as_deref().map_or(String::new(), |m| {
                format!(" (yours now: {})", set(&crate::multilabel::membership(m, &names)))
            });
            Span::styled(
                format!("{enter} records: {}{before}", set(&on)),
                Style::default().fg(cx.theme.warn),
            )
        }
    };
    lines.push(Line::from(status));
}

/// At most this many lines of imported fields under an item's text.
const FIELD_LINES: usize = 4;

/// The item's fields as `name: value` lines, each cut to `width` columns, in at most `room`
/// rows (and [`FIELD_LINES`]); the last row counts the fields that did not fit.
fn field_lines(fields: &[(String, String)], room: usize, width: usize) -> Vec<Line<'static>> {
    let budget = room.min(FIELD_LINES);
    let n = fields.len();
    let line = |(name, value): &(String, String), more: &str| {
        // More than a line's worth (each character is at most 4 bytes) is never drawn.
        let flat =
            |s: &str| crate::text::one_line(crate::text::cut_bytes(s, 4 * width + 4).0, usize::MAX);
        Line::from(fit(&format!("{}: {}", flat(name), flat(value)), width, more))
    };
    match budget {
        0 => Vec::new(),
        _ if n <= budget => fields.iter().map(|f| line(f, "")).collect(),
        1 => vec![line(&fields[0], &format!("  +{} more", n - 1))],
        _ => {
            let shown = budget - 1;
            let mut out: Vec<Line> = fields[..shown].iter().map(|f| line(f, "")).collect();
            out.push(Line::from(fit(&format!("+{} more fields", n - shown), width, "")));
            out
        }
    }
}

/// `s` (already inert, one line) cut with an ellipsis so that it and `tail` fit in `width`
/// columns; `tail` is kept whole where it fits.
fn fit(s: &str, width: usize, tail: &str) -> String {
    use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};
    let tail = if tail.width() < width { tail } else { "" };
    let room = width - tail.width();
    if s.width() <= room {
        return format!("{s}{tail}");
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw + 1 > room {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out.push_str(tail);
    out
}
