//! The Browse screen: a query bar, the filters in force, and the result list (id, labels in
//! force, flags, the model's label, the start of the text); or one item open, its text,
//! imported fields, prediction and history as one scrolled document, laid out once per width
//! ([`crate::tui::wrap`]). The labels panel draws over either.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

use super::Ctx;
use crate::store::{AnnotationKind, FoundItem, HistoryEvent, ItemState};
use crate::text::{inert, one_line};
use crate::tui::action::{Action, BrowseKey};
use crate::tui::app::{App, InputPurpose, ItemDetail, Screen};
use crate::tui::wrap::{wrap, Kind, WLine};

/// Cache tag: the open item's document.
const TAG_ITEM: u8 = 1;

pub fn render(app: &App, cx: &Ctx, f: &mut Frame, area: Rect) {
    let st = &app.browse;
    if st.item_open() {
        item_view(app, cx, f, area);
    } else {
        list_view(app, cx, f, area);
    }
    if st.panel.is_some() {
        labels_panel(app, cx, f, area);
    }
}

fn key(cx: &Ctx, k: BrowseKey) -> String {
    cx.keymap
        .keys_for(Some(Screen::Browse), &Action::Browse(k))
        .into_iter()
        .min_by_key(|s| s.chars().count())
        .unwrap_or_default()
}

pub use crate::text::thousands;

fn list_view(app: &App, cx: &Ctx, f: &mut Frame, area: Rect) {
    let st = &app.browse;
    let [bar, filters, list] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1), Constraint::Min(3)])
            .areas(area);
    // The query bar: what is being typed, or the search in force.
    let typing = app.input.as_ref().filter(|i| i.purpose == InputPurpose::Search);
    let bar_line = match (typing, &st.text) {
        (Some(inp), _) => Line::from(vec![
            Span::styled("search: ", Style::default().fg(cx.theme.accent)),
            Span::raw(format!(
                "{}▏",
                tail(&inert(&inp.text, false), (bar.width as usize).saturating_sub(40))
            )),
            Span::styled("  enter: find · esc: cancel", cx.muted()),
        ]),
        (None, Some(t)) => Line::from(vec![
            Span::styled("search: ", cx.muted()),
            Span::styled(
                one_line(t, (bar.width as usize).saturating_sub(24).max(8)),
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::styled(format!("  ({} to change)", key(cx, BrowseKey::Search)), cx.muted()),
        ]),
        (None, None) => Line::from(Span::styled(
            format!(
                "search: every item ({} to search words or an item id)",
                key(cx, BrowseKey::Search)
            ),
            cx.muted(),
        )),
    };
    f.render_widget(Paragraph::new(bar_line), bar);
    let active = st.filters.describe();
    let filter_line = if active.is_empty() {
        use crate::tui::action::BrowseFilter as F;
        let keys: Vec<String> = [
            (F::Flagged, "flagged"),
            (F::Skipped, "skipped"),
            (F::Noted, "note"),
            (F::ExpertsDisagree, "experts ≠"),
            (F::ModelDisagrees, "model ≠"),
            (F::Label, "label"),
            (F::Labeled, "labeled"),
            (F::Mine, "mine"),
            (F::Split, "split"),
            (F::Stratum, "stratum"),
        ]
        .iter()
        .map(|(fl, what)| format!("{} {what}", key(cx, BrowseKey::Filter(*fl))))
        .collect();
        // As many as fit; the help lists them all.
        let help = cx.keymap.keys_for(Some(Screen::Browse), &Action::ToggleHelp);
        let more = format!(" · {} more", help.first().map_or("F10", |s| s.as_str()));
        let mut text = "no filters".to_string();
        for (i, k) in keys.iter().enumerate() {
            let room = if i + 1 == keys.len() { 0 } else { more.width() };
            if text.width() + 3 + k.width() + room > filters.width as usize {
                text.push_str(&more);
                break;
            }
            text.push_str(" · ");
            text.push_str(k);
        }
        Line::from(Span::styled(text, cx.muted()))
    } else {
        Line::from(vec![
            Span::styled("filters: ", cx.muted()),
            Span::styled(
                inert(&active.join(" · "), false),
                Style::default().fg(cx.theme.warn).add_modifier(Modifier::BOLD),
            ),
            Span::styled(format!("  ({} clears)", key(cx, BrowseKey::ClearFilters)), cx.muted()),
        ])
    };
    f.render_widget(Paragraph::new(filter_line), filters);

    let height = list.height.saturating_sub(3) as usize; // borders and the column header
    st.list_memo.viewport(height.max(1), st.rows.len());
    let first = if st.sel < st.top {
        st.sel
    } else if height > 0 && st.sel >= st.top + height {
        st.sel + 1 - height
    } else {
        st.top
    };
    let title = if st.loading {
        " searching… ".to_string()
    } else if st.total == 0 {
        " no items ".to_string()
    } else if st.rows.len() == st.total && st.total <= height {
        format!(" {} item{} ", thousands(st.total), if st.total == 1 { "" } else { "s" })
    } else {
        let last = (first + height).min(st.rows.len());
        format!(
            " showing {}–{} of {}{} ",
            thousands(first + 1),
            thousands(last),
            thousands(st.total),
            if st.more { " · loading more…" } else { "" }
        )
    };
    let block = cx.block(title);
    let inner = block.inner(list);
    f.render_widget(block, list);
    let width = inner.width as usize;
    let cols = Columns::for_width(width);
    let mut lines = vec![Line::from(Span::styled(cols.header(), cx.muted()))];
    if st.rows.is_empty() {
        let msg = if st.loading {
            "searching…".to_string()
        } else if st.failed {
            format!(
                "The search failed (the line below says why); {} edits it.",
                key(cx, BrowseKey::Search)
            )
        } else if st.filters.any() || st.text.is_some() {
            format!(
                "No item matches. {} clears the search and the filters.",
                key(cx, BrowseKey::ClearFilters)
            )
        } else {
            "No items yet: `hifi import` adds them.".to_string()
        };
        lines.push(Line::from(Span::styled(msg, cx.muted())));
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
        return;
    }
    for (i, r) in st.rows.iter().enumerate().skip(first).take(height) {
        let mut style = Style::default();
        if i == st.sel {
            style = style.bg(cx.theme.selected_bg).add_modifier(Modifier::BOLD);
        }
        lines.push(Line::from(Span::styled(cols.row(r, i == st.sel), style)));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

/// The list's column widths at a width.
struct Columns {
    id: usize,
    labels: usize,
    model: usize,
    text: usize,
}

impl Columns {
    fn for_width(width: usize) -> Columns {
        let (id, labels, model) = if width >= 110 { (16, 18, 14) } else { (12, 13, 10) };
        // The selection mark, id, labels, flags (4), model, each followed by a space.
        let text = width.saturating_sub(2 + id + labels + 4 + model + 4);
        Columns { id, labels, model, text }
    }

    fn header(&self) -> String {
        let mut s = format!(
            "  {} {} flag {} text",
            pad("id", self.id),
            pad("in force", self.labels),
            pad("model", self.model)
        );
        s.truncate(s.trim_end().len());
        s
    }

    fn row(&self, r: &FoundItem, selected: bool) -> String {
        let labels = labels_in_force(&r.state);
        let model = r.predicted.as_deref().map(crate::multilabel::display).unwrap_or_default();
        format!(
            "{} {} {} {} {} {}",
            if selected { "▸" } else { " " },
            pad(&one_line(&r.id, self.id), self.id),
            pad(&one_line(&labels, self.labels), self.labels),
            flags(&r.state),
            pad(&one_line(&model, self.model), self.model),
            one_line(&r.text, self.text.max(1))
        )
    }
}

/// `s` (already inert) padded with spaces to `w` columns.
fn pad(s: &str, w: usize) -> String {
    let n = s.width();
    if n >= w {
        return s.to_string();
    }
    format!("{s}{}", " ".repeat(w - n))
}

/// The end of `s` that fits in `w` columns (what is being typed stays in view).
fn tail(s: &str, w: usize) -> String {
    let w = w.max(4);
    if s.width() <= w {
        return s.to_string();
    }
    let mut out: Vec<char> = Vec::new();
    let mut used = 1;
    for c in s.chars().rev() {
        let cw = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + cw > w {
            break;
        }
        used += cw;
        out.push(c);
    }
    out.push('…');
    out.into_iter().rev().collect()
}

/// The labels in force, each once: "benign", "benign/clickbait"; an adjudication wins. Label
/// sets (multi-label projects) read "a, c" or "(none)", several of them joined by " | ".
fn labels_in_force(s: &ItemState) -> String {
    if let Some(r) = s.labels.get(crate::store::RESOLVED) {
        return crate::multilabel::display(r);
    }
    let mut seen: Vec<&str> = Vec::new();
    for l in s.labels.values() {
        if !seen.contains(&l.as_str()) {
            seen.push(l);
        }
    }
    if seen.iter().any(|l| crate::multilabel::is_set(l)) {
        let shown: Vec<String> = seen.iter().map(|l| crate::multilabel::display(l)).collect();
        return shown.join(" | ");
    }
    seen.join("/")
}

/// Four columns: ⚑ flagged, ↷ skipped, ✎ a note, ≠ experts disagree.
fn flags(s: &ItemState) -> String {
    let mark = |on: bool, c: char| if on { c } else { ' ' };
    [
        mark(!s.flagged_by.is_empty(), '⚑'),
        mark(!s.skipped_by.is_empty(), '↷'),
        mark(s.noted, '✎'),
        mark(s.disagree(), '≠'),
    ]
    .iter()
    .collect()
}

fn item_view(app: &App, cx: &Ctx, f: &mut Frame, area: Rect) {
    let st = &app.browse;
    let Some(d) = &st.item else {
        f.render_widget(
            Paragraph::new("loading…").style(cx.muted()).block(cx.block(" Item ")),
            area,
        );
        return;
    };
    let it = &d.history.item;
    let pos = st.rows.iter().position(|r| r.key == it.key);
    let at = pos.map_or(String::new(), |i| format!(" · {} of {}", i + 1, thousands(st.total)));
    let title = format!(" {}{at} ", one_line(&it.id, 40));
    let width = area.width.saturating_sub(2) as usize;
    let mut height = area.height.saturating_sub(2) as usize;
    let mut shown: Vec<Line> = Vec::new();
    // The label keys, and the note waiting for the next decision: they stay in view.
    if app.multi_label {
        shown.push(toggle_line(app, cx, width));
        height = height.saturating_sub(1);
    }
    let keys: Vec<String> = app
        .labels
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            let k = key(cx, BrowseKey::Relabel(i));
            (!k.is_empty()).then(|| format!("{k} {}", one_line(&l.name, 20)))
        })
        .collect();
    let mine = d
        .history
        .state
        .labels
        .get(&app.annotator)
        .map_or(String::new(), |l| format!(" (yours: {})", one_line(l, 20)));
    if !app.multi_label {
        shown.push(Line::from(Span::styled(
            one_line(&format!("relabel: {}{mine}", keys.join(" · ")), width),
            Style::default().fg(cx.theme.accent),
        )));
        height = height.saturating_sub(1);
    }
    if let Some(n) = &st.note {
        shown.push(Line::from(vec![
            Span::styled("note for your next decision: ", Style::default().fg(cx.theme.accent)),
            Span::raw(one_line(n, width.saturating_sub(30).max(8))),
        ]));
        height = height.saturating_sub(1);
    }
    let thresholds = app.multi_label.then(|| app.thresholds());
    let names: Vec<String> = app.labels.iter().map(|l| l.name.clone()).collect();
    let lines = st.memo.laid_out(TAG_ITEM, it.key, st.generation as i64, 0, width, || {
        document(d, width, thresholds.as_deref().map(|t| (&names[..], t)))
    });
    let total = lines.len();
    let first = st.scroll.min(total.saturating_sub(height));
    st.memo.viewport(height, total);
    shown.extend(lines[first..].iter().take(height).map(|l| styled(cx, l)));
    let at = if total > height {
        format!(" lines {}–{} of {total} ", first + 1, (first + height).min(total))
    } else {
        String::new()
    };
    let block = cx.block(title).title_bottom(Line::from(at).right_aligned());
    f.render_widget(Paragraph::new(shown).block(block), area);
}

fn styled<'a>(cx: &Ctx, l: &WLine) -> Line<'a> {
    let style = match l.kind {
        Kind::Prose => Style::default(),
        Kind::Code => Style::default().bg(cx.theme.selected_bg),
        Kind::Fence => Style::default().fg(cx.theme.accent).add_modifier(Modifier::BOLD),
        Kind::Turn => cx.muted(),
    };
    Line::from(Span::styled(l.text.clone(), style))
}

/// A heading line (no data in it).
fn heading(out: &mut Vec<WLine>, text: &str) {
    out.push(WLine { text: String::new(), kind: Kind::Prose });
    out.push(WLine { text: format!("── {text} ──"), kind: Kind::Fence });
}

/// Lines of `text` (untrusted: made inert by [`wrap`]) of `kind`.
fn para(out: &mut Vec<WLine>, text: &str, width: usize, kind: Kind) {
    out.extend(wrap(text, width).into_iter().map(|l| WLine { kind, ..l }));
}

/// Multi-label: the open item's labels with their keys, `[x]` on, and what the open key
/// records (the labels toggled on, else the annotator's set in force).
fn toggle_line<'a>(app: &App, cx: &Ctx, width: usize) -> Line<'a> {
    let names: Vec<String> = app.labels.iter().map(|l| l.name.clone()).collect();
    let on = app.browse.flags_for(&app.annotator, &names);
    let mut spans = Vec::new();
    let mut used = 0;
    for (i, l) in app.labels.iter().enumerate() {
        let k = key(cx, BrowseKey::Relabel(i));
        if k.is_empty() {
            continue;
        }
        let is_on = on.get(i).copied().unwrap_or(false);
        let text = format!("{k} [{}] {}  ", if is_on { "x" } else { " " }, one_line(&l.name, 16));
        used += text.width();
        let style = match is_on {
            true => Style::default().fg(cx.theme.ok).add_modifier(Modifier::BOLD),
            false => cx.muted(),
        };
        spans.push(Span::styled(text, style));
    }
    let picked: Vec<&str> =
        names.iter().zip(&on).filter(|(_, &f)| f).map(|(n, _)| n.as_str()).collect();
    let set = if picked.is_empty() { "none of these".to_string() } else { picked.join(", ") };
    let tail = format!("{}: {}", cx.browse_key(BrowseKey::Open), set);
    let room = width.saturating_sub(used).max(8);
    spans.push(Span::styled(one_line(&tail, room), Style::default().fg(cx.theme.accent)));
    Line::from(spans)
}

/// The open item as one document: its state, the model's prediction now, the text, the
/// imported fields, and every event of its history (newest last). `multi`: the label names
/// and thresholds of a multi-label project (each label's probability is shown against its
/// threshold).
fn document(d: &ItemDetail, width: usize, multi: Option<(&[String], &[f64])>) -> Vec<WLine> {
    let h = &d.history;
    let s = &h.state;
    let mut out = Vec::new();
    let in_force = if s.labels.is_empty() {
        "no label in force".to_string()
    } else {
        let by: Vec<String> = s
            .labels
            .iter()
            .map(|(who, l)| format!("{who} {}", crate::multilabel::display(l)))
            .collect();
        format!("in force: {}", by.join(" · "))
    };
    let disagree = if s.disagree() { " · ≠ experts disagree" } else { "" };
    para(&mut out, &format!("{in_force}{disagree}"), width, Kind::Prose);
    let mut marks = Vec::new();
    if !s.flagged_by.is_empty() {
        marks.push(format!("⚑ flagged by {}", s.flagged_by.join(", ")));
    }
    if !s.skipped_by.is_empty() {
        marks.push(format!("↷ skipped by {}", s.skipped_by.join(", ")));
    }
    if s.noted {
        marks.push("✎ has notes".to_string());
    }
    if !marks.is_empty() {
        para(&mut out, &marks.join(" · "), width, Kind::Prose);
    }
    let split = match (&s.split, &s.stratum) {
        (Some(sp), Some(stratum)) => format!("split {sp} · stratum {stratum}"),
        (Some(sp), None) => format!("split {sp}"),
        _ => "no split yet".to_string(),
    };
    para(&mut out, &split, width, Kind::Turn);
    let model = match &h.prediction_now {
        None => "model now: no prediction yet".to_string(),
        Some(p) if multi.is_some() => {
            let (names, thresholds) = multi.unwrap_or_default();
            let t = |l: &str| {
                names
                    .iter()
                    .position(|n| n == l)
                    .and_then(|i| thresholds.get(i))
                    .copied()
                    .unwrap_or(crate::multilabel::DEFAULT_THRESHOLD)
            };
            let listed: Vec<String> = p
                .labels
                .iter()
                .zip(p.probs.iter().copied())
                .map(|(l, x)| {
                    let t = t(l);
                    let mark = if x >= t { "≥" } else { "<" };
                    format!("{l} {x:.2} {mark} {t:.2}")
                })
                .collect();
            let on: Vec<&str> = p
                .labels
                .iter()
                .zip(p.probs.iter().copied())
                .filter(|(l, x)| *x >= t(l))
                .map(|(l, _)| l.as_str())
                .collect();
            let set = if on.is_empty() { "(none)".to_string() } else { on.join(", ") };
            let stale = if p.stale { " (stale: scored under an older label set)" } else { "" };
            format!("model now: {set} ({}){stale}", listed.join(" · "))
        }
        Some(p) => {
            let mut probs: Vec<(&String, f64)> =
                p.labels.iter().zip(p.probs.iter().copied()).collect();
            probs.sort_by(|a, b| b.1.total_cmp(&a.1));
            let listed: Vec<String> =
                probs.iter().take(4).map(|(l, x)| format!("{l} {x:.2}")).collect();
            let stale = if p.stale { " (stale: scored under an older label set)" } else { "" };
            format!("model now: {} ({}){stale}", p.label, listed.join(" · "))
        }
    };
    para(&mut out, &model, width, Kind::Prose);
    heading(&mut out, "text");
    para(&mut out, &h.item.text, width, Kind::Prose);
    if !d.fields.is_empty() {
        heading(&mut out, "fields");
        for (name, value) in &d.fields {
            para(&mut out, &format!("{name}: {value}"), width, Kind::Prose);
        }
    }
    let n = h.events.len();
    heading(
        &mut out,
        &match n {
            0 => "history: no events yet".to_string(),
            1 => "history: 1 event".to_string(),
            _ => format!("history: {n} events, newest last"),
        },
    );
    for e in &h.events {
        para(&mut out, &event_line(e), width, if e.undone { Kind::Turn } else { Kind::Prose });
        if let Some(note) = e.event.note.as_deref().filter(|n| !n.trim().is_empty()) {
            para(&mut out, &format!("  note: {}", note.replace('\n', " ")), width, Kind::Turn);
        }
    }
    out
}

/// One event: "#12 2024-05-01 10:02 ana label clickbait → benign · blind · browse · round 2 ·
/// revisit of #9 · undone".
fn event_line(h: &HistoryEvent) -> String {
    let e = &h.event;
    let when = e.created_at.get(..16).unwrap_or(&e.created_at).replace('T', " ");
    let mut parts = vec![format!("#{} {when} {} {}", e.id, e.annotator, e.kind.as_str())];
    if e.kind == AnnotationKind::Undo {
        if let Some(s) = e.supersedes {
            parts[0].push_str(&format!(" of #{s}"));
        }
    }
    if let Some(l) = &e.label {
        let now = match &h.label_now {
            Some(n) if n != l => format!(" → {n}"),
            None => " → retired".to_string(),
            _ => String::new(),
        };
        let now = match &h.label_now {
            Some(n) if n != l => format!(" → {}", crate::multilabel::display(n)),
            _ => now,
        };
        parts[0].push_str(&format!(" {}{now}", crate::multilabel::display(l)));
    }
    if let Some(shown) = e.suggestion {
        parts.push(if shown { "model shown" } else { "blind" }.to_string());
    }
    if let Some(o) = &e.provenance.origin {
        parts.push(o.clone());
    }
    if let Some(r) = e.round {
        parts.push(format!("round {r}"));
    }
    if let Some(r) = e.provenance.revises {
        parts.push(format!("revisit of #{r}"));
    }
    if e.kind != AnnotationKind::Undo && e.supersedes.is_some() {
        parts.push("redone".to_string());
    }
    if h.current {
        parts.push("in force".to_string());
    }
    if h.undone {
        parts.push("undone".to_string());
    }
    parts.join(" · ")
}

fn labels_panel(app: &App, cx: &Ctx, f: &mut Frame, area: Rect) {
    let Some(p) = &app.browse.panel else { return };
    let w = area.width.saturating_sub(4).min(72);
    let inner_w = w.saturating_sub(2) as usize;
    let mut lines: Vec<Line> = Vec::new();
    let name_w = app.labels.iter().map(|l| l.name.width()).max().unwrap_or(4).clamp(4, 20);
    for (i, l) in app.labels.iter().enumerate() {
        let count = p.count(&l.name).map_or("–".to_string(), |c| c.to_string());
        let head = format!(
            "{} {} {count:>5}  ",
            if i == p.sel { "▸" } else { " " },
            pad(&one_line(&l.name, name_w), name_w)
        );
        let def = one_line(&l.definition, inner_w.saturating_sub(head.width()).max(4));
        let mut style = Style::default().fg(cx.theme.label(i));
        if i == p.sel {
            style = style.bg(cx.theme.selected_bg).add_modifier(Modifier::BOLD);
        }
        lines.push(Line::from(vec![
            Span::styled(head, style),
            Span::styled(def, if i == p.sel { style } else { cx.muted() }),
        ]));
    }
    lines.push(Line::from(""));
    let (say, style) = match (&p.confirm_retire, p.busy) {
        (Some(name), _) => (
            format!(
                "Retire {}? Its {} labels stop being in force and their items are queued for review again; the events stay. y: retire · n: keep",
                one_line(name, 30),
                p.count(name).map_or("–".to_string(), |c| c.to_string())
            ),
            Style::default().fg(cx.theme.warn).add_modifier(Modifier::BOLD),
        ),
        (None, true) => ("changing the label set…".to_string(), cx.muted()),
        (None, false) => (
            "a add · r rename · m merge into · x retire · j/k select · esc close".to_string(),
            cx.muted(),
        ),
    };
    let said_rows = say.width().div_ceil(inner_w.max(1)).max(1);
    lines.push(Line::from(Span::styled(say, style)));
    let want = lines.len() + said_rows - 1 + 2;
    let h = (want as u16).min(area.height.saturating_sub(1));
    let r = Rect { x: area.x + (area.width - w) / 2, y: area.y + 1, width: w, height: h };
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(cx.block(" Labels (counts in force) "))
            .style(cx.base()),
        r,
    );
}
