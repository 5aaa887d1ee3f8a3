//! The dashboard: kappa per round, eval-set class balance, expert-vs-expert agreement,
//! labels per annotator, the audit stratum's numbers and eval labels that were not blind.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Paragraph, Wrap};
use ratatui::Frame;

use super::Ctx;
use crate::text::inert;
use crate::tui::app::{App, DashboardData};

pub fn render(app: &App, cx: &Ctx, f: &mut Frame, area: Rect) {
    let Some(d) = &app.dashboard.data else {
        f.render_widget(
            Paragraph::new("loading…").style(cx.muted()).block(cx.block(" Dashboard ")),
            area,
        );
        return;
    };
    // Tall enough for the longer panel (audit lines can make the left one long), at least 9.
    let left_lines = 1 + d.per_annotator.len().max(1) + d.audit.len();
    let right_lines = 4 + d.eval_balance.len() + usize::from(d.verdict.is_some());
    let top_height = u16::try_from(left_lines.max(right_lines) + 2).unwrap_or(u16::MAX).max(9);
    let [top, chart] =
        Layout::vertical([Constraint::Length(top_height), Constraint::Min(5)]).areas(area);
    let [left, right] = Layout::horizontal([Constraint::Percentage(50); 2]).areas(top);
    let mut a = vec![Line::from(Span::styled("labels per annotator", cx.muted()))];
    if d.per_annotator.is_empty() {
        a.push(Line::from("  none yet"));
    }
    for (who, n) in &d.per_annotator {
        a.push(Line::from(format!("  {:<16} {n}", inert(who, false))));
    }
    for (i, line) in d.audit.iter().enumerate() {
        let style = if i == 0 || !line.starts_with(' ') { cx.muted() } else { Style::default() };
        a.push(Line::from(Span::styled(inert(line, false), style)));
    }
    f.render_widget(Paragraph::new(a).block(cx.block(" Experts ")), left);
    // Multi-label: items holding each label (an item may count under several), no shares.
    let head =
        if app.multi_label { "eval split: items per label" } else { "eval split class balance" };
    let mut b = vec![Line::from(Span::styled(head, cx.muted()))];
    let total: i64 = d.eval_balance.iter().map(|x| x.1).sum();
    for (i, (l, n)) in d.eval_balance.iter().enumerate() {
        if app.multi_label {
            b.push(Line::from(vec![
                Span::styled(
                    format!("  {:<12}", inert(l, false)),
                    Style::default().fg(cx.theme.label(i)),
                ),
                Span::raw(format!("{n:>5}")),
            ]));
            continue;
        }
        let share = if total > 0 { *n as f64 / total as f64 } else { 0.0 };
        b.push(Line::from(vec![
            Span::styled(
                format!("  {:<12}", inert(l, false)),
                Style::default().fg(cx.theme.label(i)),
            ),
            Span::raw(format!("{n:>5}  {:>5.1}%", 100.0 * share)),
        ]));
    }
    b.push(Line::from(format!("  train split  {}", d.train_size)));
    let k = |x: &Option<(String, usize)>| {
        x.as_ref().map_or("not enough overlap yet".to_string(), |(k, n)| format!("{k} (n = {n})"))
    };
    b.push(Line::from(format!("  expert vs expert κ  {}", k(&d.expert_kappa))));
    b.push(Line::from(format!("  model vs expert κ   {}", k(&d.model_kappa))));
    if let Some(v) = &d.verdict {
        b.push(Line::from(Span::styled(
            format!("  {}", inert(v, false)),
            Style::default().fg(cx.theme.accent),
        )));
    }
    f.render_widget(Paragraph::new(b).block(cx.block(" Agreement ")), right);
    let [rounds_area, sim_area] = Layout::horizontal([Constraint::Percentage(50); 2]).areas(chart);
    render_rounds(d, cx, f, rounds_area);
    render_simulation(d, cx, f, sim_area);
}

fn render_rounds(d: &DashboardData, cx: &Ctx, f: &mut Frame, area: Rect) {
    if d.rounds.is_empty() {
        let msg = "No rounds yet: `hifi round` (or the probe round stage on the Pipeline screen) trains the round model; κ per round appears here.";
        f.render_widget(
            Paragraph::new(msg)
                .wrap(Wrap { trim: true })
                .style(cx.muted())
                .block(cx.block(" κ per round ")),
            area,
        );
        return;
    }
    let max_round = d.rounds.iter().map(|r| r.0).fold(1.0, f64::max);
    let ds = Dataset::default()
        .marker(Marker::Braille)
        .graph_type(GraphType::Line)
        .style(Style::default().fg(cx.theme.accent))
        .data(&d.rounds);
    let c = Chart::new(vec![ds])
        .block(cx.block(" κ per round "))
        .x_axis(
            Axis::default()
                .bounds([0.0, max_round])
                .labels(vec![Line::from("0"), Line::from(format!("{max_round:.0}"))]),
        )
        .y_axis(Axis::default().bounds([-0.2, 1.0]).labels(vec![
            Line::from("-0.2"),
            Line::from("0.4"),
            Line::from("1.0"),
        ]));
    f.render_widget(c, area);
}

/// The newest simulation: κ vs gold by label budget, one line per strategy.
fn render_simulation(d: &DashboardData, cx: &Ctx, f: &mut Frame, area: Rect) {
    if d.simulation.is_empty() {
        let msg = "No simulation yet: `hifi simulate --oracle gold` plans a label budget on data with gold labels; its curves appear here.";
        f.render_widget(
            Paragraph::new(msg)
                .wrap(Wrap { trim: true })
                .style(cx.muted())
                .block(cx.block(" simulation ")),
            area,
        );
        return;
    }
    let max_b = d.simulation.iter().flat_map(|s| s.1.iter().map(|p| p.0)).fold(1.0, f64::max);
    let sets: Vec<Dataset> = d
        .simulation
        .iter()
        .enumerate()
        .map(|(i, (name, pts))| {
            Dataset::default()
                .name(inert(name, false))
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::default().fg(cx.theme.label(i)))
                .data(pts)
        })
        .collect();
    let c = Chart::new(sets)
        .block(cx.block(" simulation: κ by budget "))
        .x_axis(
            Axis::default()
                .bounds([0.0, max_b])
                .labels(vec![Line::from("0"), Line::from(format!("{max_b:.0}"))]),
        )
        .y_axis(Axis::default().bounds([-0.2, 1.0]).labels(vec![
            Line::from("-0.2"),
            Line::from("0.4"),
            Line::from("1.0"),
        ]));
    f.render_widget(c, area);
}
