//! `render(&App, …, &mut Frame)`: reads the state, draws it. Untrusted text goes through
//! [`crate::text::inert`] before it reaches a widget.

mod adjudicate;
mod browse;
mod dashboard;
mod pipeline;
mod responses;
mod review;
mod sets;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::action::{Action, BrowseKey, RespKey};
use super::app::{App, InputPurpose, Level, Screen, SCREENS};
use super::keymap::Keymap;
use super::theme::Theme;
use crate::text::inert;

/// What a renderer needs besides the state.
pub struct Ctx<'a> {
    pub theme: &'a Theme,
    pub keymap: &'a Keymap,
}

impl Ctx<'_> {
    fn keys(&self, screen: Option<Screen>, a: &Action) -> String {
        self.keymap.keys_for(screen, a).join("/")
    }
    /// The first key bound to a Responses screen key (for the footer, where room is short).
    fn resp_key(&self, k: RespKey) -> String {
        self.keymap
            .keys_for(Some(Screen::Responses), &Action::Resp(k))
            .into_iter()
            .min_by_key(|s| s.chars().count())
            .unwrap_or_default()
    }
    /// The shortest key bound to a Browse screen key.
    fn browse_key(&self, k: BrowseKey) -> String {
        self.keymap
            .keys_for(Some(Screen::Browse), &Action::Browse(k))
            .into_iter()
            .min_by_key(|s| s.chars().count())
            .unwrap_or_default()
    }
    fn base(&self) -> Style {
        Style::default().fg(self.theme.fg).bg(self.theme.bg)
    }
    fn muted(&self) -> Style {
        Style::default().fg(self.theme.muted)
    }
    fn block<'b>(&self, title: impl Into<Line<'b>>) -> Block<'b> {
        Block::default()
            .borders(Borders::ALL)
            .border_style(Style::default().fg(self.theme.border))
            .title(title)
    }
}

pub fn render(app: &App, cx: &Ctx, f: &mut Frame) {
    let area = f.area();
    f.render_widget(Block::default().style(cx.base()), area);
    let [header, body, footer] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(3), Constraint::Length(1)])
            .areas(area);
    render_header(app, cx, f, header);
    match app.screen {
        Screen::Review => review::render(app, cx, f, body),
        Screen::Pipeline => pipeline::render(app, cx, f, body),
        Screen::Dashboard => dashboard::render(app, cx, f, body),
        Screen::Adjudicate => adjudicate::render(app, cx, f, body),
        Screen::Sets => sets::render(app, cx, f, body),
        Screen::Responses => responses::render(app, cx, f, body),
        Screen::Browse => browse::render(app, cx, f, body),
    }
    render_footer(app, cx, f, footer);
    if app.show_help {
        render_help(app, cx, f, body);
    }
    if let Some((stage, command)) = &app.pipeline.confirm {
        render_confirm(cx, f, body, stage.title(), command);
    }
    // A search is typed in Browse's query bar, not in a box.
    if let Some(inp) = app.input.as_ref().filter(|i| i.purpose != InputPurpose::Search) {
        let title = match &inp.purpose {
            InputPurpose::Note => {
                " Note for the next decision (enter: keep, esc: cancel) ".to_string()
            }
            InputPurpose::Reason { label, .. } => {
                format!(
                    " Why {}? (enter: save resolution, esc: cancel) ",
                    app.label_name(*label).unwrap_or("?")
                )
            }
            InputPurpose::SetReason { set, .. } => format!(
                " Why {}? (enter: save resolution, esc: cancel) ",
                one_line_title(&match crate::multilabel::decode(set) {
                    Some(s) if s.is_empty() => "none of these".to_string(),
                    _ => crate::multilabel::display(set),
                })
            ),
            InputPurpose::RejectReason { number, .. } => {
                format!(" Why reject candidate {number}? (enter: reject, esc: cancel) ")
            }
            InputPurpose::Search => String::new(),
            InputPurpose::BrowseNote => {
                " Note for your next decision on this item (enter: keep, esc: cancel) ".to_string()
            }
            InputPurpose::NewLabelName => " New label's name (enter: next, esc: cancel) ".into(),
            InputPurpose::NewLabelDefinition { name } => format!(
                " What belongs to {}? (enter: add the label, esc: cancel) ",
                one_line_title(name)
            ),
            InputPurpose::RenameLabel { from } => {
                format!(" Rename {} to (enter: rename, esc: cancel) ", one_line_title(from))
            }
            InputPurpose::MergeLabel { from } => format!(
                " Merge {} into (a label or a new name; enter: merge, esc: cancel) ",
                one_line_title(from)
            ),
        };
        let w = body.width.saturating_sub(4).min(90);
        let r = Rect {
            x: body.x + (body.width - w) / 2,
            y: body.y + body.height / 3,
            width: w,
            height: 5.min(body.height),
        };
        f.render_widget(Clear, r);
        let p = Paragraph::new(format!("{}▏", inert(&inp.text, false)))
            .wrap(Wrap { trim: false })
            .block(cx.block(title))
            .style(cx.base());
        f.render_widget(p, r);
    }
}

/// A label name (data) for an overlay's title: inert, on one line, cut.
fn one_line_title(s: &str) -> String {
    crate::text::one_line(s, 30)
}

fn render_header(app: &App, cx: &Ctx, f: &mut Frame, area: Rect) {
    let mut spans = vec![
        Span::styled(
            " hifi ",
            Style::default().fg(cx.theme.bg).bg(cx.theme.accent).add_modifier(Modifier::BOLD),
        ),
        Span::raw(" "),
        Span::styled(inert(&app.annotator, false), Style::default().fg(cx.theme.accent)),
        Span::raw("  "),
    ];
    for s in SCREENS {
        let st = if s == app.screen {
            Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
        } else {
            cx.muted()
        };
        spans.push(Span::styled(s.title(), st));
        spans.push(Span::raw(" "));
    }
    let rate = app.rate().map_or("–".to_string(), |r| format!("{r:.1}"));
    let on_entry = if app.review.entry.is_some() && !app.review.loading {
        crate::progress::format_duration(std::time::Duration::from_secs_f64(
            (app.now - app.review.entry_started).max(0.0),
        ))
    } else {
        "–".into()
    };
    let (done, total) = (app.review.done, app.review.total);
    let used: usize = spans.iter().map(|s| s.width()).sum();
    let width = area.width as usize;
    // How stale the queue's model is, and a nudge once the next round is due (when it fits).
    let since = app.review.since_round.map(|s| {
        let text = match (s.round, s.due()) {
            (Some(r), due) => {
                format!(" · +{} since round {r}{}", s.labels, if due { ": round due" } else { "" })
            }
            (None, due) => format!(
                " · {} labeled{}",
                s.labels,
                if due { ": round due" } else { ", no round yet" }
            ),
        };
        (text, if s.due() { Style::default().fg(cx.theme.warn) } else { cx.muted() })
    });
    // Narrow terminals keep the counts and drop the words: the longest stats that fit with the
    // note about the round, else the longest that fit alone.
    let stats = [
        format!(" {done}/{total} done · {rate}/min · this {on_entry}"),
        format!(" {done}/{total} · {rate}/min"),
        format!(" {done}/{total}"),
    ];
    let len = |s: &str| s.chars().count();
    let with_since = since.as_ref().and_then(|(t, _)| {
        stats.iter().find(|s| used + len(s) + len(t) <= width).map(|s| (s.clone(), true))
    });
    let (text, show_since) = with_since.unwrap_or_else(|| {
        let s = stats.iter().find(|s| used + len(s) <= width).unwrap_or(&stats[2]);
        (s.clone(), false)
    });
    spans.push(Span::styled(text, cx.muted()));
    if let (true, Some((t, style))) = (show_since, since) {
        spans.push(Span::styled(t, style));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn render_footer(app: &App, cx: &Ctx, f: &mut Frame, area: Rect) {
    let line = if let Some((msg, level)) = &app.message {
        let c = match level {
            Level::Info => cx.theme.ok,
            Level::Warn => cx.theme.warn,
            Level::Error => cx.theme.error,
        };
        Line::from(Span::styled(inert(msg, false), Style::default().fg(c)))
    } else {
        let hint = match app.screen {
            Screen::Review if app.multi_label => format!(
                "keys toggle · {} confirm · {} undo · {} skip · {} unsure · {} note · {} help · {} quit",
                cx.keys(Some(Screen::Review), &Action::ConfirmSet),
                cx.keys(Some(Screen::Review), &Action::Undo),
                cx.keys(Some(Screen::Review), &Action::Skip),
                cx.keys(Some(Screen::Review), &Action::Flag),
                cx.keys(Some(Screen::Review), &Action::StartNote),
                cx.keys(None, &Action::ToggleHelp),
                cx.keys(None, &Action::Quit),
            ),
            Screen::Review => format!(
                "{} undo · {} redo · {} skip · {} unsure · {} note · {} guidelines · {} screens · {} help · {} quit",
                cx.keys(Some(Screen::Review), &Action::Undo),
                cx.keys(Some(Screen::Review), &Action::Redo),
                cx.keys(Some(Screen::Review), &Action::Skip),
                cx.keys(Some(Screen::Review), &Action::Flag),
                cx.keys(Some(Screen::Review), &Action::StartNote),
                cx.keys(Some(Screen::Review), &Action::ToggleGuidelines),
                cx.keys(None, &Action::NextScreen),
                cx.keys(None, &Action::ToggleHelp),
                cx.keys(None, &Action::Quit),
            ),
            Screen::Pipeline => format!(
                "↑/↓ select · {} start · {} cancel · {} screens · {} quit",
                cx.keys(Some(Screen::Pipeline), &Action::StartJob),
                cx.keys(Some(Screen::Pipeline), &Action::CancelJob),
                cx.keys(None, &Action::NextScreen),
                cx.keys(None, &Action::Quit)
            ),
            Screen::Dashboard => format!("{} refresh · {} screens · {} quit", cx.keys(Some(Screen::Dashboard), &Action::Refresh), cx.keys(None, &Action::NextScreen), cx.keys(None, &Action::Quit)),
            Screen::Adjudicate if app.multi_label => format!("↑/↓ select · 1-9 toggle label n · {} resolve with the labels on · {} screens · {} quit", cx.keys(Some(Screen::Adjudicate), &Action::ConfirmSet), cx.keys(None, &Action::NextScreen), cx.keys(None, &Action::Quit)),
            Screen::Adjudicate => format!("↑/↓ select · 1-9 resolve with label n · {} screens · {} quit", cx.keys(None, &Action::NextScreen), cx.keys(None, &Action::Quit)),
            Screen::Responses if app.responses.mode == super::app::ResponsesMode::Ab => format!(
                "{} left · {} right · {} tie · {} both bad · {}/{} pair · {}/{} item · {} single · {} more",
                cx.resp_key(RespKey::LeftBetter),
                cx.resp_key(RespKey::RightBetter),
                cx.resp_key(RespKey::Tie),
                cx.resp_key(RespKey::BothBad),
                cx.resp_key(RespKey::NextCandidate),
                cx.resp_key(RespKey::PrevCandidate),
                cx.resp_key(RespKey::NextItem),
                cx.resp_key(RespKey::PrevItem),
                cx.resp_key(RespKey::ToggleMode),
                cx.keys(Some(Screen::Responses), &Action::ToggleHelp).split('/').next().unwrap_or(""),
            ),
            Screen::Responses => format!(
                "{} accept · {} reject · 1-5 score · {} edit · {}/{} next · {}/{} item · {} A/B · {} more",
                cx.resp_key(RespKey::Accept),
                cx.resp_key(RespKey::Reject),
                cx.resp_key(RespKey::Edit),
                cx.resp_key(RespKey::NextCandidate),
                cx.resp_key(RespKey::PrevCandidate),
                cx.resp_key(RespKey::NextItem),
                cx.resp_key(RespKey::PrevItem),
                cx.resp_key(RespKey::ToggleMode),
                cx.keys(Some(Screen::Responses), &Action::ToggleHelp).split('/').next().unwrap_or(""),
            ),
            Screen::Browse if app.browse.item_open() && app.multi_label => format!(
                "1-{} toggle · {} confirm · {} note · {} flag · {} 2nd expert · {} undo · {} back · {} keys",
                app.labels.len().clamp(1, 9),
                cx.browse_key(BrowseKey::Open),
                cx.browse_key(BrowseKey::Note),
                cx.browse_key(BrowseKey::Flag),
                cx.browse_key(BrowseKey::SecondOpinion),
                cx.browse_key(BrowseKey::Undo),
                cx.browse_key(BrowseKey::Back),
                cx.keys(Some(Screen::Browse), &Action::ToggleHelp).split('/').next().unwrap_or(""),
            ),
            Screen::Browse if app.browse.item_open() => format!(
                "1-{} relabel · {} note · {} flag · {} 2nd expert · {} undo · {} back · {} keys",
                app.labels.len().clamp(1, 9),
                cx.browse_key(BrowseKey::Note),
                cx.browse_key(BrowseKey::Flag),
                cx.browse_key(BrowseKey::SecondOpinion),
                cx.browse_key(BrowseKey::Undo),
                cx.browse_key(BrowseKey::Back),
                cx.keys(Some(Screen::Browse), &Action::ToggleHelp).split('/').next().unwrap_or(""),
            ),
            Screen::Browse => format!(
                "{} search · {} open · {} work through · {} labels · {} guidelines · {} keys",
                cx.browse_key(BrowseKey::Search),
                cx.browse_key(BrowseKey::Open),
                cx.browse_key(BrowseKey::WorkThrough),
                cx.browse_key(BrowseKey::Labels),
                cx.browse_key(BrowseKey::EditGuidelines),
                cx.keys(Some(Screen::Browse), &Action::ToggleHelp).split('/').next().unwrap_or(""),
            ),
            Screen::Sets => format!(
                "↑/↓ select · {} veto/restore · {}/{} other sets · {} refresh · {} screens · {} quit",
                cx.keys(Some(Screen::Sets), &Action::ToggleVeto),
                cx.keys(Some(Screen::Sets), &Action::PrevSet),
                cx.keys(Some(Screen::Sets), &Action::NextSet),
                cx.keys(Some(Screen::Sets), &Action::Refresh),
                cx.keys(None, &Action::NextScreen),
                cx.keys(None, &Action::Quit)
            ),
        };
        Line::from(Span::styled(hint, cx.muted()))
    };
    f.render_widget(Paragraph::new(line), area);
}

fn render_help(app: &App, cx: &Ctx, f: &mut Frame, area: Rect) {
    if app.screen == Screen::Responses {
        return render_responses_help(cx, f, area);
    }
    let w = area.width.saturating_sub(4).min(70);
    let inner_w = w.saturating_sub(2) as usize;
    let mut lines = vec![Line::from(Span::styled(
        "Keys (from the keymap; override in ~/.config/hifi/keymap.toml)",
        Style::default().add_modifier(Modifier::BOLD),
    ))];
    if app.screen == Screen::Browse {
        lines.extend(browse_keys(app, cx));
    } else {
        if app.multi_label {
            lines.push(Line::from("  Several labels may apply, or none. A label's key toggles it"));
            lines.push(Line::from("  on the item (a pair: the left or right item, or both);"));
            lines.push(Line::from(format!(
                "  {} records the labels on — with none on, \"none of these\".",
                cx.keys(Some(Screen::Review), &Action::ConfirmSet)
            )));
        }
        for (i, l) in app.labels.iter().enumerate() {
            lines.push(Line::from(format!(
                "  {:<14} left {:<4} right {:<4} both {}",
                inert(&l.name, false),
                cx.keys(Some(Screen::Review), &Action::LabelLeft(i)),
                cx.keys(Some(Screen::Review), &Action::LabelRight(i)),
                cx.keys(Some(Screen::Review), &Action::LabelBoth(i)),
            )));
        }
        if app.multi_label {
            lines.push(Line::from(format!(
                "  {:<14} {}",
                "confirm labels",
                cx.keys(Some(Screen::Review), &Action::ConfirmSet)
            )));
        }
        for (name, a, s) in [
            ("undo", Action::Undo, Some(Screen::Review)),
            ("redo", Action::Redo, Some(Screen::Review)),
            ("skip", Action::Skip, Some(Screen::Review)),
            ("flag unsure", Action::Flag, Some(Screen::Review)),
            ("note", Action::StartNote, Some(Screen::Review)),
            ("guidelines", Action::ToggleGuidelines, Some(Screen::Review)),
            ("predictions", Action::TogglePredictions, Some(Screen::Review)),
            ("scroll", Action::Scroll(5), Some(Screen::Review)),
            ("veto (Sets)", Action::ToggleVeto, Some(Screen::Sets)),
            ("next screen", Action::NextScreen, None),
            ("quit", Action::Quit, None),
        ] {
            lines.push(Line::from(format!("  {name:<14} {}", cx.keys(s, &a))));
        }
    }
    lines.extend(guidance(app, cx, inner_w));
    let h = (lines.len() as u16 + 2).min(area.height);
    let page = h.saturating_sub(2) as usize;
    let total = lines.len();
    app.help_memo.viewport(page, total);
    let first = app.help_scroll.min(total.saturating_sub(page));
    let at = if total > page {
        format!(
            " lines {}–{} of {total} · scroll keys scroll ",
            first + 1,
            (first + page).min(total)
        )
    } else {
        String::new()
    };
    let r = Rect { x: area.x + (area.width - w) / 2, y: area.y, width: w, height: h };
    f.render_widget(Clear, r);
    let block = cx.block(" Help ").title_bottom(Line::from(at).right_aligned());
    let shown: Vec<Line> = lines.into_iter().skip(first).take(page).collect();
    f.render_widget(Paragraph::new(shown).block(block).style(cx.base()), r);
}

/// The Browse screen's keys, for its help.
fn browse_keys<'a>(app: &App, cx: &Ctx) -> Vec<Line<'a>> {
    use super::action::BrowseFilter as F;
    let k = |b: BrowseKey| cx.keys(Some(Screen::Browse), &Action::Browse(b));
    let two = |a: BrowseKey, b: BrowseKey| format!("{} / {}", k(a), k(b));
    let n = app.labels.len().clamp(1, 9);
    let mut rows: Vec<(&str, String)> = vec![
        ("search (words or an id)", k(BrowseKey::Search)),
        ("open / back", two(BrowseKey::Open, BrowseKey::Back)),
        ("move / scroll", two(BrowseKey::Lines(1), BrowseKey::Lines(-1))),
        ("page", two(BrowseKey::Pages(1), BrowseKey::Pages(-1))),
        ("first / last", two(BrowseKey::Top, BrowseKey::Bottom)),
        ("filter: flagged", k(BrowseKey::Filter(F::Flagged))),
        ("filter: skipped", k(BrowseKey::Filter(F::Skipped))),
        ("filter: has a note", k(BrowseKey::Filter(F::Noted))),
        ("filter: experts disagree", k(BrowseKey::Filter(F::ExpertsDisagree))),
        ("filter: model disagrees", k(BrowseKey::Filter(F::ModelDisagrees))),
        ("filter: label (cycles)", k(BrowseKey::Filter(F::Label))),
        ("filter: labeled/unlabeled", k(BrowseKey::Filter(F::Labeled))),
        ("filter: mine", k(BrowseKey::Filter(F::Mine))),
        ("filter: eval/train", k(BrowseKey::Filter(F::Split))),
        ("filter: boundary/audit", k(BrowseKey::Filter(F::Stratum))),
        ("clear search and filters", k(BrowseKey::ClearFilters)),
        ("work through these", k(BrowseKey::WorkThrough)),
        ("read again", k(BrowseKey::Refresh)),
        match app.multi_label {
            true => ("item: toggle label n", format!("1–{n} (then confirm)")),
            false => ("item: relabel", format!("1–{n} (label n, a revisit)")),
        },
        ("item: note", k(BrowseKey::Note)),
        ("item: flag / unflag", k(BrowseKey::Flag)),
        ("item: second expert", k(BrowseKey::SecondOpinion)),
        ("undo", k(BrowseKey::Undo)),
        ("labels panel", k(BrowseKey::Labels)),
        ("edit the guidelines", k(BrowseKey::EditGuidelines)),
        ("next screen", cx.keys(None, &Action::NextScreen)),
        ("quit", cx.keys(None, &Action::Quit)),
    ];
    if app.multi_label {
        let at = rows.iter().position(|r| r.0.starts_with("item: toggle")).map_or(0, |i| i + 1);
        rows.insert(
            at,
            ("item: confirm the labels", format!("{} (a revisit)", k(BrowseKey::Open))),
        );
    }
    rows.into_iter().map(|(name, keys)| Line::from(format!("  {name:<26} {keys}"))).collect()
}

/// The label definitions and the project's guidelines (untrusted text, laid out inert).
fn guidance<'a>(app: &App, cx: &Ctx, width: usize) -> Vec<Line<'a>> {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let mut out = vec![Line::from(""), Line::from(Span::styled("Labels", bold))];
    for (i, l) in app.labels.iter().enumerate() {
        out.push(Line::from(Span::styled(
            format!("  {}", inert(&l.name, false)),
            Style::default().fg(cx.theme.label(i)).add_modifier(Modifier::BOLD),
        )));
        for w in super::wrap::wrap(&l.definition, width.saturating_sub(4)) {
            out.push(Line::from(format!("    {}", w.text)));
        }
    }
    out.push(Line::from(""));
    match &app.guidelines {
        Some((v, text)) => {
            out.push(Line::from(Span::styled(format!("Guidelines (version {v})"), bold)));
            for w in super::wrap::wrap(text, width.saturating_sub(2)) {
                out.push(Line::from(format!("  {}", w.text)));
            }
        }
        None => {
            out.push(Line::from(Span::styled("Guidelines", bold)));
            out.push(Line::from(Span::styled(
                format!(
                    "  none yet: {} on the Browse screen writes guidelines.md",
                    cx.keys(Some(Screen::Browse), &Action::Browse(BrowseKey::EditGuidelines))
                ),
                cx.muted(),
            )));
        }
    }
    out
}

/// The Responses screen's keys.
fn render_responses_help(cx: &Ctx, f: &mut Frame, area: Rect) {
    let k = |r: RespKey| cx.keymap.keys_for(Some(Screen::Responses), &Action::Resp(r)).join(", ");
    let two = |a: RespKey, b: RespKey| format!("{} / {}", k(a), k(b));
    let rows: Vec<(&str, String)> = vec![
        ("accept / reject", two(RespKey::Accept, RespKey::Reject)),
        ("reject, saying why", k(RespKey::RejectWithReason)),
        ("score 1–5", (1..=5).map(|s| k(RespKey::Score(s))).collect::<Vec<_>>().join(" ")),
        ("edit in $EDITOR", k(RespKey::Edit)),
        ("next / prev candidate", two(RespKey::NextCandidate, RespKey::PrevCandidate)),
        ("next / prev item", two(RespKey::NextItem, RespKey::PrevItem)),
        ("undo", k(RespKey::Undo)),
        ("single ↔ A/B", k(RespKey::ToggleMode)),
        ("A/B: left / right better", two(RespKey::LeftBetter, RespKey::RightBetter)),
        ("A/B: tie / both bad", two(RespKey::Tie, RespKey::BothBad)),
        ("scroll line", two(RespKey::Lines(1), RespKey::Lines(-1))),
        ("scroll page", two(RespKey::Pages(1), RespKey::Pages(-1))),
        ("top / bottom", two(RespKey::Top, RespKey::Bottom)),
        ("whole prompt", k(RespKey::TogglePrompt)),
        ("read again", k(RespKey::Reload)),
        ("screens", {
            let f: Vec<String> = SCREENS
                .iter()
                .map(|s| cx.keys(None, &Action::GoTo(*s)))
                .filter(|s| !s.is_empty())
                .collect();
            match (f.first(), f.last()) {
                (Some(a), Some(b)) => format!("{a}–{b}"),
                _ => String::new(),
            }
        }),
        ("quit", cx.keys(None, &Action::Quit)),
    ];
    let mut lines = vec![Line::from(Span::styled(
        "Responses keys (override in ~/.config/hifi/keymap.toml)",
        Style::default().add_modifier(Modifier::BOLD),
    ))];
    for (name, keys) in rows {
        lines.push(Line::from(format!("  {name:<25} {keys}")));
    }
    let h = (lines.len() as u16 + 2).min(area.height);
    let w = area.width.saturating_sub(4).min(70);
    let r = Rect { x: area.x + (area.width - w) / 2, y: area.y, width: w, height: h };
    f.render_widget(Clear, r);
    f.render_widget(Paragraph::new(lines).block(cx.block(" Help ")).style(cx.base()), r);
}

/// The hifi.toml command a stage would run, shown whole before the user says yes.
fn render_confirm(cx: &Ctx, f: &mut Frame, area: Rect, stage: &str, command: &str) {
    let lines = vec![
        Line::from(format!(
            "The {stage} stage runs this command from hifi.toml ([train] external) with sh:"
        )),
        Line::from(""),
        Line::from(Span::styled(
            inert(command, false),
            Style::default().fg(cx.theme.warn).add_modifier(Modifier::BOLD),
        )),
        Line::from(""),
        Line::from("Run it? y: yes (not asked again for this command) · n / esc: no"),
    ];
    let w = area.width.saturating_sub(4).min(100);
    let h = 9.min(area.height);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + area.height.saturating_sub(h) / 3,
        width: w,
        height: h,
    };
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(cx.block(" Run a command from hifi.toml? "))
            .style(cx.base()),
        r,
    );
}
