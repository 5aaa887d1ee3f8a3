//! The pipeline layer: every stage the CLI and the workstation run gives one Summary, and a
//! cancelled stage is an outcome that says what was kept, never an error.

mod common;

use common::*;
use hifi::curate::synth::{generate, SynthSpec};
use hifi::curate::{MineParams, Strategy};
use hifi::pipeline::{self, ImportRequest, Outcome, RoundOverrides, SimulateRequest};
use hifi::progress::{CancelToken, Silent};
use hifi::rounds::{SimParams, Trainer};
use hifi::store::{Annotation, AnnotationKind, Store};

fn synth_project() -> (tempfile::TempDir, Store) {
    let synth = generate(&SynthSpec {
        n: 600,
        dim: 16,
        labels: 2,
        boundary_regions: 2,
        pure_regions: 2,
        seed: 3,
    })
    .unwrap();
    let (dir, _cfg, st) = project_from_synth(&synth);
    (dir, st)
}

fn cancelled() -> CancelToken {
    let c = CancelToken::new();
    c.cancel();
    c
}

#[test]
fn a_finished_stage_says_what_it_did_and_carries_its_report() {
    let (dir, st) = synth_project();
    let s = pipeline::mine(
        dir.path(),
        &MineParams { budget: 12, strategy: Strategy::Margin, ..MineParams::default() },
        &mut Silent,
        &CancelToken::new(),
    )
    .unwrap();
    assert_eq!(s.outcome, Outcome::Finished);
    let rep = s.report.as_ref().unwrap();
    assert_eq!(rep.entries, st.queue().unwrap().len(), "{rep:?}");
    assert!(
        s.headline().starts_with(&format!("queued {} items", rep.items))
            && s.headline().contains("(margin strategy"),
        "{}",
        s.headline()
    );
    assert_eq!(s.lines.last().map(String::as_str), Some("next: hifi review"));
}

#[test]
fn cancelled_stages_are_outcomes_that_say_what_was_kept() {
    let (dir, mut st) = synth_project();
    let before = st.queue().unwrap();
    // A stage whose report says it was cancelled.
    let s = pipeline::mine(dir.path(), &MineParams::default(), &mut Silent, &cancelled()).unwrap();
    assert_eq!(
        (s.outcome, s.headline()),
        (Outcome::Cancelled, "cancelled: the queue is unchanged")
    );
    assert!(s.report.as_ref().is_some_and(|r| r.cancelled));
    assert_eq!(st.queue().unwrap(), before);

    // Stages that stopped with a cancellation error inside: import, simulate, a probe round.
    // Import looks at the token every 4,096 rows.
    let rows: String = (1..=5000).map(|i| format!("new-{i},row {i}\n")).collect();
    let csv = file(dir.path(), "more.csv", format!("id,text\n{rows}").as_bytes());
    let r = ImportRequest { file: csv, ..ImportRequest::default() };
    let s = pipeline::import(dir.path(), &r, &mut Silent, &cancelled()).unwrap();
    assert_eq!(s.outcome, Outcome::Cancelled);
    assert!(
        s.report.is_none() && s.headline().starts_with("cancelled: nothing was imported from"),
        "{}",
        s.headline()
    );
    assert!(st.item_by_id("new-1").unwrap().is_none());

    let sim = SimulateRequest {
        oracle: "gold".into(),
        oracle2: None,
        params: SimParams {
            budgets: vec![20],
            strategies: vec![Strategy::Random],
            seeds: 1,
            ..SimParams::default()
        },
        plot: None,
    };
    let s = pipeline::simulate(dir.path(), &sim, &mut Silent, &cancelled()).unwrap();
    assert_eq!(
        (s.outcome, s.headline()),
        (Outcome::Cancelled, "cancelled: simulation stopped: nothing was stored")
    );

    let keys: Vec<i64> =
        (0..60).map(|i| st.item_by_id(&format!("it{i}")).unwrap().unwrap().key).collect();
    for (i, k) in keys.iter().enumerate() {
        let label = if i % 2 == 0 { "clickbait" } else { "benign" };
        st.annotate(&Annotation {
            item: *k,
            annotator: "ana".into(),
            kind: AnnotationKind::Label,
            label: Some(label.into()),
            note: None,
            suggestion: Some(false),
        })
        .unwrap();
    }
    let s =
        pipeline::round(dir.path(), &RoundOverrides::of(Trainer::Probe), &mut Silent, &cancelled())
            .unwrap();
    assert_eq!(s.outcome, Outcome::Cancelled, "{:?}", s.lines);
    assert!(s.headline().starts_with("cancelled: "), "{}", s.headline());
    // The same round, not cancelled, finishes and is scored.
    let s = pipeline::round(
        dir.path(),
        &RoundOverrides::of(Trainer::Probe),
        &mut Silent,
        &CancelToken::new(),
    )
    .unwrap();
    assert_eq!(s.outcome, Outcome::Finished);
    assert!(
        s.report.as_ref().is_some_and(|r| r.trainer == Trainer::Probe && r.scores.eval_size > 0),
        "{:?}",
        s.lines
    );
}

#[test]
fn errors_stay_errors_and_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let e = pipeline::mine(dir.path(), &MineParams::default(), &mut Silent, &CancelToken::new())
        .expect_err("not a project");
    assert!(
        e.to_string().contains("not a hifi project") && e.to_string().contains("hifi init"),
        "{e}"
    );
    let (dir, _st) = synth_project();
    let o = RoundOverrides { adapter: Some("x.gguf".into()), ..RoundOverrides::of(Trainer::Probe) };
    let e = pipeline::round(dir.path(), &o, &mut Silent, &CancelToken::new())
        .expect_err("--adapter without lora");
    assert!(e.to_string().contains("--adapter needs --trainer lora"), "{e}");
}
