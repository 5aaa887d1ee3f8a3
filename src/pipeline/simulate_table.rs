//! `hifi simulate`'s table: one block of rows per budget, one column per strategy.

use crate::rounds::{self, SimReport};
use crate::text::inert;

/// The simulation as a readable table: one block of rows per budget, one column per strategy.
pub fn sim_table(rep: &SimReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let cell = |k: Option<f64>, ci: Option<[f64; 2]>| match (k, ci) {
        (Some(k), Some([lo, hi])) => format!("{k:.3} [{lo:.2},{hi:.2}]"),
        (Some(k), None) => format!("{k:.3}"),
        _ => "undefined".into(),
    };
    let num = |x: f64| if x.fract() == 0.0 { format!("{x:.0}") } else { format!("{x:.1}") };
    let seeds = rep.seeds.max(1);
    let multi = rep.results.iter().any(|r| r.per_label.is_some());
    let _ = writeln!(
        out,
        "simulation: {} items with gold ({} to mine from, {} held out), {}, {} round(s) per budget, trainer {}{}",
        rep.pool_size + rep.test_size,
        rep.pool_size,
        rep.test_size,
        if seeds > 1 { format!("seeds {}..{} ({seeds})", rep.seed, rep.seed.wrapping_add(seeds as u64 - 1)) } else { format!("seed {}", rep.seed) },
        rep.rounds,
        rep.trainer,
        rep.zero_shot_model.map(|m| format!(", LLM features and zero-shot from base model {m}")).unwrap_or_default()
    );
    let interval = if seeds > 1 {
        "mean over seeds, 95% t-interval over seeds"
    } else {
        "one seed: 95% bootstrap interval over the test items"
    };
    if multi {
        let _ = writeln!(
            out,
            "multi-label: κ is the mean over labels of each label's binary κ (does it apply); κ LABEL rows give each label's"
        );
    }
    let _ = writeln!(out, "κ vs gold on the held-out set ({interval}); per budget also:");
    let _ = writeln!(
        out,
        "  F1 macro-F1 · fill: labels per seed that margin filled in when the strategy ran short"
    );
    if rep.results.iter().any(|r| r.vs_random.is_some()) {
        let _ = writeln!(out, "  vs random: κ − random's κ on the same seeds (95% t-interval) and the verdict: better / worse when the interval excludes 0");
    }
    match &rep.eval {
        Some(e) => {
            let experts = match &e.second_expert {
                Some(f) => format!("gold and `{}` as two experts", inert(f, false)),
                None => "two experts drawn from gold".into(),
            };
            let _ = writeln!(
                out,
                "  eval: simulated with {experts}, noise {}: eval fraction {}, audit share {} of the budget; eval n mean eval items (audit);",
                e.oracle_noise, e.eval_fraction, e.audit_share
            );
            let _ = writeln!(
                out,
                "  stop rule: seeds whose equivalence test (δ {}) said stop / continue / few (not enough data: < {} eval or < {} double-labeled)",
                e.margin,
                rounds::MIN_EVAL,
                rounds::MIN_SHARED
            );
        }
        None => {
            let _ = writeln!(out, "  eval split and stop rule not simulated (a noise-free oracle): add --oracle-noise P or --oracle2 FIELD");
        }
    }
    let strategies: Vec<&str> = {
        let mut v: Vec<&str> = Vec::new();
        for r in &rep.results {
            if !v.contains(&r.strategy.as_str()) {
                v.push(&r.strategy);
            }
        }
        v
    };
    let _ = write!(out, "{:>10}", "budget");
    for s in &strategies {
        let _ = write!(out, "  {s:>24}");
    }
    let _ = writeln!(out);
    let mut budgets: Vec<usize> = rep.results.iter().map(|r| r.budget).collect();
    budgets.sort_unstable();
    budgets.dedup();
    type Show<'a> = Box<dyn Fn(&rounds::SimResult) -> Option<String> + 'a>;
    let mut lines: Vec<(String, Show)> = Vec::new();
    if multi {
        // A multi-label simulation: the budget's row is the mean over labels; each label's κ
        // follows.
        for label in &rep.labels {
            let l = label.clone();
            lines.push((
                format!("κ {}", inert(label, false)),
                Box::new(move |r| {
                    r.per_label.as_ref().map(|m| {
                        m.get(&l)
                            .copied()
                            .flatten()
                            .map_or("undefined".into(), |k| format!("{k:.3}"))
                    })
                }),
            ));
        }
    }
    lines.push(("F1".into(), Box::new(|r| r.macro_f1.map(|f| format!("{f:.3}")))));
    lines.push((
        "fill".into(),
        Box::new(|r| Some(format!("{} of {}", num(r.filled_by_margin), r.labeled))),
    ));
    if rep.results.iter().any(|r| r.vs_random.is_some()) {
        lines.push((
            "vs random".into(),
            Box::new(|r| {
                r.vs_random.as_ref().map(|d| match d.ci {
                    Some([lo, hi]) => format!("{:+.3} [{lo:+.2},{hi:+.2}]", d.mean),
                    None => format!("{:+.3}", d.mean),
                })
            }),
        ));
        lines.push((
            "verdict".into(),
            Box::new(|r| {
                r.vs_random
                    .as_ref()
                    .map(|d| d.verdict.clone().unwrap_or_else(|| "(one seed)".into()))
            }),
        ));
    }
    if rep.eval.is_some() {
        lines.push((
            "eval n".into(),
            Box::new(|r| {
                r.stop.as_ref().map(|t| format!("{} ({})", num(t.eval_size), num(t.audit)))
            }),
        ));
        lines
            .push(("stop rule".into(), Box::new(|r| r.stop.as_ref().map(rounds::StopTally::show))));
    }
    for b in &budgets {
        let find = |s: &str| rep.results.iter().find(|r| r.budget == *b && r.strategy == s);
        let _ = write!(out, "{b:>10}");
        for s in &strategies {
            let _ =
                write!(out, "  {:>24}", find(s).map_or("-".into(), |r| cell(r.kappa, r.kappa_ci)));
        }
        let _ = writeln!(out);
        for (name, show) in &lines {
            let _ = write!(out, "{name:>10}");
            for s in &strategies {
                let _ =
                    write!(out, "  {:>24}", find(s).and_then(show).unwrap_or_else(|| "-".into()));
            }
            let _ = writeln!(out);
        }
    }
    let _ = writeln!(
        out,
        "zero-shot LLM: κ {}  macro-F1 {}",
        cell(rep.zero_shot.kappa, rep.zero_shot.kappa_ci),
        rep.zero_shot.macro_f1.map_or("-".into(), |f| format!("{f:.3}"))
    );
    let _ = writeln!(
        out,
        "ceiling (all {} labels): κ {}  macro-F1 {}",
        rep.pool_size,
        cell(rep.ceiling.kappa, rep.ceiling.kappa_ci),
        rep.ceiling.macro_f1.map_or("-".into(), |f| format!("{f:.3}"))
    );
    for (name, s) in [("zero-shot LLM", &rep.zero_shot), ("ceiling", &rep.ceiling)] {
        if let Some(m) = &s.per_label {
            let per: Vec<String> = rep
                .labels
                .iter()
                .map(|l| {
                    let k = m.get(l).copied().flatten();
                    format!(
                        "{} {}",
                        inert(l, false),
                        k.map_or("undefined".into(), |k| format!("{k:.3}"))
                    )
                })
                .collect();
            let _ = writeln!(out, "  {name} per label: {}", per.join(", "));
        }
    }
    for w in &rep.warnings {
        let _ = writeln!(out, "warning: {}", inert(w, false));
    }
    let _ = writeln!(out, "({:.1}s)", rep.seconds);
    out
}
