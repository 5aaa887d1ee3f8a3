//! `hifi simulate --plot FILE.svg`: κ-by-budget curves per strategy with their CI bands, the
//! zero-shot and all-labels lines, as a self-contained SVG (no fonts or scripts to fetch).
//! People compare curves by looking at them.

use std::fmt::Write;

use super::simulate::SimReport;

const W: f64 = 720.0;
const H: f64 = 440.0;
/// Plot area margins: left, right, top, bottom.
const ML: f64 = 60.0;
const MR: f64 = 160.0;
const MT: f64 = 52.0;
const MB: f64 = 50.0;
/// Colour-blind-safe (Okabe–Ito), one per strategy in the report's order.
const COLOURS: [&str; 7] =
    ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"];

fn esc(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".into(),
            '<' => "&lt;".into(),
            '>' => "&gt;".into(),
            '"' => "&quot;".into(),
            c if c.is_control() => "\u{FFFD}".into(),
            c => c.to_string(),
        })
        .collect()
}

/// The SVG for `rep`, titled `title`.
pub fn kappa_curves_svg(rep: &SimReport, title: &str) -> String {
    let mut strategies: Vec<&str> = Vec::new();
    for r in &rep.results {
        if !strategies.contains(&r.strategy.as_str()) {
            strategies.push(&r.strategy);
        }
    }
    let budgets: Vec<usize> = {
        let mut b: Vec<usize> = rep.results.iter().map(|r| r.budget).collect();
        b.sort_unstable();
        b.dedup();
        b
    };
    let mut lo = 0.0f64;
    for r in &rep.results {
        if let Some([l, _]) = r.kappa_ci {
            lo = lo.min(l);
        }
        if let Some(k) = r.kappa {
            lo = lo.min(k);
        }
    }
    for k in [rep.zero_shot.kappa, rep.ceiling.kappa].into_iter().flatten() {
        lo = lo.min(k);
    }
    let y_min = (lo * 10.0).floor() / 10.0;
    let (x0, x1) =
        (budgets.first().copied().unwrap_or(0) as f64, budgets.last().copied().unwrap_or(1) as f64);
    let span = if x1 > x0 { x1 - x0 } else { 1.0 };
    let px = |b: f64| ML + (b - x0) / span * (W - ML - MR);
    let py = |k: f64| MT + (1.0 - (k.clamp(y_min, 1.0) - y_min) / (1.0 - y_min)) * (H - MT - MB);

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{ML}" y="22" font-size="14" font-weight="bold">{}</text>"#,
        esc(title)
    );
    // Axes, grid and ticks.
    let mut y = y_min;
    while y <= 1.0 + 1e-9 {
        let yy = py(y);
        let _ = writeln!(
            s,
            r##"<line x1="{ML}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ddd"/>"##,
            W - MR
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{y:.1}</text>"#,
            ML - 6.0,
            yy + 4.0
        );
        y += 0.1;
    }
    for b in &budgets {
        let xx = px(*b as f64);
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.1}" y1="{:.1}" x2="{xx:.1}" y2="{:.1}" stroke="#999"/>"##,
            H - MB,
            H - MB + 5.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{xx:.1}" y="{:.1}" text-anchor="middle">{b}</text>"#,
            H - MB + 18.0
        );
    }
    let _ = writeln!(
        s,
        r##"<line x1="{ML}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#333"/>"##,
        H - MB,
        W - MR,
        H - MB
    );
    let _ =
        writeln!(s, r##"<line x1="{ML}" y1="{MT}" x2="{ML}" y2="{:.1}" stroke="#333"/>"##, H - MB);
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">expert labels (budget)</text>"#,
        (ML + W - MR) / 2.0,
        H - 12.0
    );
    let _ = writeln!(
        s,
        r#"<text x="16" y="{:.1}" text-anchor="middle" transform="rotate(-90 16 {:.1})">κ vs gold (test set)</text>"#,
        (MT + H - MB) / 2.0,
        (MT + H - MB) / 2.0
    );
    // Reference lines.
    for (k, name, dash) in
        [(rep.zero_shot.kappa, "zero-shot", "4 4"), (rep.ceiling.kappa, "all labels", "8 3")]
    {
        if let Some(k) = k {
            let yy = py(k);
            let _ = writeln!(
                s,
                r##"<line x1="{ML}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#666" stroke-dasharray="{dash}"/>"##,
                W - MR
            );
            // Inside the plot, just above the line at its left end: the legend owns the right margin.
            let _ = writeln!(
                s,
                r##"<text x="{:.1}" y="{:.1}" fill="#666" font-size="11">{name} {k:.2}</text>"##,
                ML + 6.0,
                yy - 4.0
            );
        }
    }
    // Bands, then lines, per strategy.
    for (i, st) in strategies.iter().enumerate() {
        let c = COLOURS[i % COLOURS.len()];
        let mut cells: Vec<_> = rep.results.iter().filter(|r| r.strategy == *st).collect();
        cells.sort_by_key(|r| r.budget);
        let band: Vec<(f64, [f64; 2])> =
            cells.iter().filter_map(|r| Some((r.budget as f64, r.kappa_ci?))).collect();
        if band.len() >= 2 {
            let mut pts: Vec<String> =
                band.iter().map(|(b, [_, hi])| format!("{:.1},{:.1}", px(*b), py(*hi))).collect();
            pts.extend(
                band.iter().rev().map(|(b, [lo, _])| format!("{:.1},{:.1}", px(*b), py(*lo))),
            );
            let _ = writeln!(
                s,
                r#"<polygon points="{}" fill="{c}" fill-opacity="0.15" stroke="none"/>"#,
                pts.join(" ")
            );
        }
        let line: Vec<(f64, f64)> =
            cells.iter().filter_map(|r| Some((r.budget as f64, r.kappa?))).collect();
        let pts: Vec<String> =
            line.iter().map(|(b, k)| format!("{:.1},{:.1}", px(*b), py(*k))).collect();
        if !pts.is_empty() {
            let _ = writeln!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{c}" stroke-width="2"/>"#,
                pts.join(" ")
            );
            for (b, k) in &line {
                let _ = writeln!(
                    s,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{c}"/>"#,
                    px(*b),
                    py(*k)
                );
            }
        }
        let ly = MT + 10.0 + 18.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{c}" stroke-width="3"/>"#,
            W - MR + 6.0,
            W - MR + 26.0
        );
        let _ =
            writeln!(s, r#"<text x="{:.1}" y="{:.1}">{}</text>"#, W - MR + 30.0, ly + 4.0, esc(st));
    }
    let how = if rep.seeds > 1 {
        format!("mean of {} seeds; band: 95% t-interval over seeds", rep.seeds)
    } else {
        "one seed; band: 95% bootstrap interval over the test items".into()
    };
    let note = format!(
        "{how} · {} items to mine from, {} held out as the test set",
        rep.pool_size, rep.test_size
    );
    let _ =
        writeln!(s, r##"<text x="{ML}" y="40" fill="#666" font-size="11">{}</text>"##, esc(&note));
    s.push_str("</svg>\n");
    s
}
