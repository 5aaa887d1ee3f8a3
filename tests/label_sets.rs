//! Label-set versions end to end: a v6 store migrates with every event kept; renames, merges
//! and retirements map the labels in force while events keep the names they were given under;
//! predictions scored under an earlier set are stale (refused where they would be read as
//! today's labels, rescored by `hifi prelabel`); `hifi report` and `hifi status` say which
//! version the figures are for.

mod common;

use std::path::Path;

use common::{file, hifi, llm_record, project, require_model};
use hifi::config::Config;
use hifi::store::{Annotation, AnnotationKind, LabelChange, Prediction, Store};
use serde_json::Value;

/// `hifi args` must succeed; its stdout.
fn run_ok(p: &Path, args: &[&str]) -> String {
    let (ok, out, err) = hifi(p, args);
    assert!(ok, "hifi {args:?} failed:\n{out}\n{err}");
    out
}

fn json(p: &Path, args: &[&str]) -> Value {
    let out = run_ok(p, args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("hifi {args:?}: not JSON ({e}):\n{out}"))
}

/// Import `n` items it0… with gold labels (clickbait for even i, benign for odd).
fn import_items(dir: &Path, st: &mut Store, n: usize) -> Vec<i64> {
    let mut body = String::from("id,text,gold\n");
    for i in 0..n {
        let gold = if i % 2 == 0 { "clickbait" } else { "benign" };
        body.push_str(&format!("it{i},you will not believe deal number {i},{gold}\n"));
    }
    let p = file(dir, "items.csv", body.as_bytes());
    hifi::io::import::import_items(
        st,
        &p,
        &Default::default(),
        &mut hifi::progress::Silent,
        &hifi::progress::CancelToken::new(),
    )
    .unwrap();
    (0..n).map(|i| st.item_by_id(&format!("it{i}")).unwrap().unwrap().key).collect()
}

fn label(st: &mut Store, item: i64, who: &str, label: &str) -> i64 {
    st.annotate(&Annotation {
        item,
        annotator: who.into(),
        kind: AnnotationKind::Label,
        label: Some(label.into()),
        note: None,
        suggestion: Some(false),
    })
    .unwrap()
}

/// Make `change` through the project (store and hifi.toml), as `hifi labels …` does.
fn change(dir: &Path, st: &mut Store, change: LabelChange) -> Config {
    let cfg = Config::load(dir).unwrap();
    let (cfg, _) = hifi::project::change_labels(dir, st, &cfg, &change, "lead").unwrap();
    cfg
}

/// Predictions for `keys` under a new LLM model scoring `labels`: the item's gold label
/// (even: the first label) with probability 0.8.
fn predict(st: &mut Store, fingerprint: &str, labels: &[String], keys: &[i64]) -> i64 {
    let m = st.register_model(&llm_record(fingerprint, None, labels)).unwrap();
    let preds: Vec<Prediction> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let mut probs = vec![0.2 / (labels.len() - 1) as f64; labels.len()];
            probs[i % 2] = 0.8;
            Prediction { item: *k, probs, truncated: false }
        })
        .collect();
    st.put_predictions(m, labels, &preds).unwrap();
    m
}

#[test]
fn a_v6_store_migrates_with_every_event_kept() {
    let (dir, cfg, st) = project();
    drop(st);
    std::fs::remove_file(dir.path().join("hifi.db")).unwrap();
    let mut st = Store::open_at_version(dir.path(), 6).unwrap();
    assert_eq!(st.schema_version().unwrap(), 6);
    let keys = import_items(dir.path(), &mut st, 6);
    drop(st);
    // Events as hifi v6 wrote them: labels (blind, seen, unknown), a note, a prediction, a
    // round, a skip, a flag, an undo and a redo, an adjudication.
    let db = rusqlite::Connection::open(dir.path().join("hifi.db")).unwrap();
    let ins = |item: i64,
               who: &str,
               kind: &str,
               label: Option<&str>,
               extra: (Option<&str>, Option<i64>, Option<&str>, Option<bool>)| {
        db.execute(
            "INSERT INTO annotations (item, annotator, kind, label, note, supersedes, prediction, round, created_at, suggestion)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, '2026-01-02T03:04:05Z', ?8)",
            rusqlite::params![item, who, kind, label, extra.0, extra.1, extra.2, extra.3],
        )
        .unwrap();
        db.last_insert_rowid()
    };
    let pred =
        r#"{"model":"abc","labels":["clickbait","benign"],"probs":[0.7,0.3],"label":"clickbait"}"#;
    ins(keys[0], "ana", "label", Some("clickbait"), (None, None, Some(pred), Some(false)));
    ins(keys[0], "ben", "label", Some("benign"), (Some("hard one"), None, None, Some(true)));
    ins(keys[1], "ana", "label", Some("benign"), (None, None, None, None));
    db.execute(
        "INSERT INTO annotations (item, annotator, kind, label, round, created_at) VALUES (?1, 'ben', 'label', 'benign', 2, '2026-01-03T00:00:00Z')",
        [keys[1]],
    )
    .unwrap();
    ins(keys[2], "ana", "skip", None, (None, None, None, Some(false)));
    ins(keys[3], "ben", "flag", Some("clickbait"), (Some("unsure"), None, None, Some(false)));
    let undone = ins(keys[4], "ana", "label", Some("clickbait"), (None, None, None, Some(false)));
    let undo = ins(keys[4], "ana", "undo", None, (None, Some(undone), None, None));
    ins(keys[4], "ana", "label", Some("clickbait"), (None, Some(undo), None, Some(false)));
    ins(keys[0], "adj", "resolve", Some("clickbait"), (Some("per guideline 2"), None, None, None));
    db.execute("UPDATE annotations SET round = 3 WHERE id = 2", []).unwrap_err(); // append-only at v6 too
    type Row = (
        i64,
        i64,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<String>,
        Option<i64>,
        String,
        Option<bool>,
    );
    let read = |db: &rusqlite::Connection| -> Vec<Row> {
        let mut s = db
            .prepare("SELECT id, item, annotator, kind, label, note, supersedes, prediction, round, created_at, suggestion FROM annotations ORDER BY id")
            .unwrap();
        s.query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
                r.get(10)?,
            ))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
    };
    let before = read(&db);
    assert_eq!(before.len(), 10);
    assert_eq!(before.iter().filter(|r| r.8 == Some(2)).count(), 1);
    let in_force = |db: &rusqlite::Connection| -> Vec<(i64, String, String, String)> {
        let mut s = db
            .prepare("SELECT item, annotator, label, kind FROM current_labels ORDER BY item, annotator, kind")
            .unwrap();
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    };
    let force_before = in_force(&db);
    drop(db);

    // Opened as every command opens a project: migrated to v7, hifi.toml's labels recorded.
    let (_, st) = hifi::project::open(dir.path()).unwrap();
    assert_eq!(st.schema_version().unwrap(), hifi::store::schema::LATEST);
    let db = rusqlite::Connection::open(dir.path().join("hifi.db")).unwrap();
    assert_eq!(read(&db), before, "every event kept with its id and fields");
    assert_eq!(in_force(&db), force_before, "the labels in force are the same");
    drop(db);
    let events = st.events().unwrap();
    assert_eq!(events.len(), 10);
    for (e, b) in events.iter().zip(&before) {
        assert_eq!(
            (e.id, e.item, &e.annotator, e.kind.as_str(), &e.label),
            (b.0, b.1, &b.2, b.3.as_str(), &b.4)
        );
        assert_eq!((&e.note, e.supersedes, &e.prediction, e.suggestion), (&b.5, b.6, &b.7, b.10));
        assert_eq!((&e.created_at, e.round), (&b.9, b.8));
        // Given before versions were kept: read as label set 1, no guidelines, no origin.
        assert_eq!((e.label_set, e.guidelines), (1, None));
        assert_eq!(e.provenance, Default::default());
    }
    let sets = st.label_sets().unwrap();
    assert_eq!(sets.len(), 1);
    assert_eq!((sets[0].version, sets[0].kind.as_str()), (1, "initial"));
    assert_eq!(sets[0].names(), cfg.label_names());
    // The export of events is the same too, with the version each was given under.
    let audit = st.audit_events(None).unwrap();
    assert_eq!(audit.len(), 10);
    assert!(audit.iter().all(|a| a.label_set == 1 && a.origin.is_none()));
    assert!(audit.iter().find(|a| a.event == undone).is_some_and(|a| !a.current));
    // The append-only triggers are back on the rebuilt table.
    let db = rusqlite::Connection::open(dir.path().join("hifi.db")).unwrap();
    assert!(db.execute("UPDATE annotations SET label = 'benign'", []).is_err());
    assert!(db.execute("DELETE FROM annotations", []).is_err());
}

#[test]
fn renames_merges_and_retirements_map_the_labels_in_force() {
    let (dir, cfg, st) = project();
    drop(st);
    let (_, mut st) = hifi::project::open(dir.path()).unwrap();
    let keys = import_items(dir.path(), &mut st, 24);
    // Two experts on every item; ben disagrees on every fourth.
    for (i, k) in keys.iter().enumerate() {
        let gold = if i % 2 == 0 { "clickbait" } else { "benign" };
        let other = if i % 2 == 0 { "benign" } else { "clickbait" };
        label(&mut st, *k, "ana", gold);
        label(&mut st, *k, "ben", if i % 4 == 3 { other } else { gold });
    }
    hifi::curate::split::assign_splits(&mut st, &cfg).unwrap();
    let splits = st.splits().unwrap();
    let events = st.audit_events(None).unwrap();
    let kappa = |st: &Store, cfg: &Config| {
        hifi::rounds::project_expert_agreement(st, &cfg.label_names(), 0).unwrap()
    };
    let k_before = kappa(&st, &cfg);
    assert!(k_before.kappa.is_some_and(|k| k < 1.0), "{k_before:?}");
    let (resolved_before, conflicts_before) = st.resolved_labels().unwrap();

    // Rename: every label in force is called by the new name; nothing else moves.
    let cfg = change(
        dir.path(),
        &mut st,
        LabelChange::Rename { from: "clickbait".into(), to: "bait".into(), definition: None },
    );
    assert_eq!(cfg.label_names(), ["bait", "benign"]);
    assert_eq!(
        Config::load(dir.path()).unwrap().label_names(),
        ["bait", "benign"],
        "hifi.toml rewritten"
    );
    let named = |v: Vec<(i64, String, String)>| {
        v.into_iter().map(|(_, _, l)| l).collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(named(st.current_labels().unwrap()), ["bait", "benign"].map(String::from).into());
    assert_eq!(st.current_label(keys[0], "ana").unwrap().as_deref(), Some("bait"));
    let (resolved, conflicts) = st.resolved_labels().unwrap();
    assert_eq!(conflicts, conflicts_before);
    let renamed: Vec<(i64, String)> = resolved_before
        .iter()
        .map(|(k, l)| (*k, if l == "clickbait" { "bait".to_string() } else { l.clone() }))
        .collect();
    assert_eq!(resolved, renamed);
    assert_eq!(st.splits().unwrap(), splits, "splits unaffected");
    assert_eq!(
        st.audit_events(None)
            .unwrap()
            .iter()
            .map(|e| (e.event, e.label.clone(), e.label_set))
            .collect::<Vec<_>>(),
        events.iter().map(|e| (e.event, e.label.clone(), 1)).collect::<Vec<_>>(),
        "events keep the names they were given under"
    );
    let k_renamed = kappa(&st, &cfg);
    assert_eq!(
        (k_renamed.kappa, k_renamed.n),
        (k_before.kappa, k_before.n),
        "a rename changes no κ"
    );
    // The export writes today's names.
    let out = dir.path().join("train.jsonl");
    run_ok(dir.path(), &["export", "--split", "all", "-o", out.to_str().unwrap()]);
    let rows: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!rows.is_empty());
    assert!(
        rows.iter().all(|r| ["bait", "benign"].contains(&r["label"].as_str().unwrap())),
        "{rows:?}"
    );
    assert!(rows.iter().any(|r| r["label"] == "bait"));

    // A third label, used by ben where he disagreed; then merged into benign.
    let cfg = change(
        dir.path(),
        &mut st,
        LabelChange::Add { name: "unsure".into(), definition: "Cannot tell.".into() },
    );
    assert_eq!(cfg.label_names(), ["bait", "benign", "unsure"]);
    let given_unsure: Vec<i64> =
        keys.iter().enumerate().filter(|(i, _)| i % 4 == 1).map(|(_, k)| *k).collect();
    for k in &given_unsure {
        label(&mut st, *k, "ben", "unsure");
    }
    assert_eq!(st.current_label(given_unsure[0], "ben").unwrap().as_deref(), Some("unsure"));
    let cfg = change(
        dir.path(),
        &mut st,
        LabelChange::Merge {
            from: vec!["unsure".into(), "benign".into()],
            into: "benign".into(),
            definition: None,
        },
    );
    assert_eq!(cfg.label_names(), ["bait", "benign"]);
    for k in &given_unsure {
        assert_eq!(st.current_label(*k, "ben").unwrap().as_deref(), Some("benign"));
    }
    assert_eq!(st.splits().unwrap(), splits, "a merge moves no split");
    // ben's `unsure` on items ana called benign now agrees with her.
    let k_merged = kappa(&st, &cfg);
    assert_eq!(
        k_merged.kappa, k_renamed.kappa,
        "merged into the label ana gave: the same as before unsure"
    );

    // Retire: the label is no longer in force and its items are queued for review again.
    let cfg = change(
        dir.path(),
        &mut st,
        LabelChange::Add { name: "spam".into(), definition: "Not an ad.".into() },
    );
    label(&mut st, keys[5], "cy", "spam");
    assert_eq!(st.current_label(keys[5], "cy").unwrap().as_deref(), Some("spam"));
    let before_retire = cfg;
    let (cfg, outcome) = hifi::project::change_labels(
        dir.path(),
        &mut st,
        &before_retire,
        &LabelChange::Retire { name: "spam".into() },
        "lead",
    )
    .unwrap();
    assert_eq!((outcome.labels_affected, outcome.requeued), (1, 1));
    assert_eq!(cfg.label_names(), ["bait", "benign"]);
    assert_eq!(st.current_label(keys[5], "cy").unwrap(), None);
    assert_eq!(
        st.current_label(keys[5], "ana").unwrap().as_deref(),
        Some("benign"),
        "others' labels stay"
    );
    // Bad changes are refused and change nothing.
    let versions = st.label_sets().unwrap().len();
    let cfg_now = Config::load(dir.path()).unwrap();
    for (bad, why) in [
        (
            LabelChange::Rename { from: "bait".into(), to: "benign".into(), definition: None },
            "already exists",
        ),
        (
            LabelChange::Merge { from: vec!["bait".into()], into: "bait".into(), definition: None },
            "into itself",
        ),
        (LabelChange::Retire { name: "bait".into() }, "at least two"),
    ] {
        let e = hifi::project::change_labels(dir.path(), &mut st, &cfg_now, &bad, "lead")
            .unwrap_err()
            .to_string();
        assert!(e.contains(why), "{bad:?}: {e}");
    }
    assert_eq!(st.label_sets().unwrap().len(), versions);
    assert_eq!(Config::load(dir.path()).unwrap(), cfg_now);
    // Every original event is still there as it was given.
    let now = st.audit_events(None).unwrap();
    for e in &events {
        let n = now.iter().find(|n| n.event == e.event).unwrap();
        assert_eq!(
            (&n.label, &n.annotator, n.item_id.as_str(), n.label_set),
            (&e.label, &e.annotator, e.item_id.as_str(), 1)
        );
    }
    assert_eq!(cfg.label_names(), ["bait", "benign"]);
}

/// A project of 120 items, each labeled blind by ana and half of them by ben too, with an LLM's
/// predictions under the first label set; splits assigned.
fn labeled_project() -> (tempfile::TempDir, Store, Vec<i64>) {
    let (dir, cfg, st) = project();
    drop(st);
    let (_, mut st) = hifi::project::open(dir.path()).unwrap();
    let keys = import_items(dir.path(), &mut st, 120);
    for (i, k) in keys.iter().enumerate() {
        let gold = if i % 2 == 0 { "clickbait" } else { "benign" };
        label(&mut st, *k, "ana", gold);
        if i % 2 == 0 || i % 5 == 0 {
            let l = if i % 7 == 0 {
                if gold == "benign" {
                    "clickbait"
                } else {
                    "benign"
                }
            } else {
                gold
            };
            label(&mut st, *k, "ben", l);
        }
    }
    predict(&mut st, "llm-v1", &cfg.label_names(), &keys);
    (dir, st, keys)
}

#[test]
fn report_says_which_label_set_each_kappa_is_for_and_stale_predictions_are_refused() {
    let (dir, mut st, keys) = labeled_project();
    let p = dir.path();
    let r = json(p, &["round", "--trainer", "zero-shot", "--no-mine", "--json"]);
    assert!(r["scores"]["kappa"].as_f64().is_some(), "{r}");
    assert_eq!(r["scores"]["label_set"], 1, "the round records its label set");
    let rep = json(p, &["report", "--json"]);
    assert_eq!(
        rep["label_set"],
        serde_json::json!({"version": 1, "labels": ["clickbait", "benign"]})
    );
    assert_eq!(rep["rounds"][0]["label_set"], 1);
    assert_eq!(rep["rounds"][0]["current_label_set"], true);
    assert!(rep.get("stale_predictions").is_none(), "{rep}");
    let round1_kappa = rep["rounds"][0]["scores"]["kappa"].as_f64().unwrap();

    // A rename: the LLM's predictions are for labels that are not today's.
    change(
        p,
        &mut st,
        LabelChange::Rename { from: "clickbait".into(), to: "bait".into(), definition: None },
    );
    let rep = json(p, &["report", "--json"]);
    assert_eq!(rep["label_set"], serde_json::json!({"version": 2, "labels": ["bait", "benign"]}));
    assert_eq!(rep["rounds"][0]["label_set"], 1, "{rep}");
    assert_eq!(rep["rounds"][0]["current_label_set"], false);
    assert_eq!(
        rep["rounds"][0]["scores"]["kappa"].as_f64(),
        Some(round1_kappa),
        "kept as it was recorded"
    );
    let stale = rep["stale_predictions"].as_str().unwrap();
    let why = "model 1's predictions were scored under label set v1 (clickbait, benign); the labels are now v2 (bait, benign)";
    assert!(stale.contains(why) && stale.contains("run `hifi prelabel`"), "{stale}");
    let notes: Vec<&str> =
        rep["verdict"]["notes"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert!(
        notes.iter().any(
            |n| n.contains("round 1 (label set v1)") && n.contains("left out of the stop rule")
        ),
        "{notes:?}"
    );
    let text = run_ok(p, &["report"]);
    assert!(text.contains(why), "the text report says it too:\n{text}");
    // Nothing reads them as today's labels: a round and mining refuse, and change nothing.
    let queue_before = st.queue().unwrap().len();
    for args in [
        &["round", "--trainer", "zero-shot", "--no-mine"][..],
        &["round", "--no-mine"],
        &["mine", "--strategy", "margin"],
    ] {
        let (ok, out, err) = hifi(p, args);
        assert!(!ok, "{args:?} went ahead:\n{out}");
        assert!(err.contains(&format!("{why}: run `hifi prelabel` first")), "{args:?}: {err}");
    }
    assert_eq!(st.rounds().unwrap().len(), 1, "no round recorded");
    assert_eq!(st.queue().unwrap().len(), queue_before, "the queue is unchanged");
    // The dashboard still opens, with no model κ under today's labels.
    let cfg = Config::load(p).unwrap();
    let d = hifi::tui::data::dashboard(&mut st, &cfg).unwrap();
    assert_eq!(d.model_kappa, None);
    assert!(d.expert_kappa.is_some());

    // Prelabeled under the new set (as `hifi prelabel` registers a new model): rounds again.
    predict(&mut st, "llm-v2", &cfg.label_names(), &keys);
    let r = json(p, &["round", "--trainer", "zero-shot", "--no-mine", "--json"]);
    assert_eq!(r["scores"]["label_set"], 2);
    // The same predictions renamed: the same κ, now under v2.
    assert_eq!(r["scores"]["kappa"].as_f64(), Some(round1_kappa));
    let rep = json(p, &["report", "--json"]);
    assert!(rep.get("stale_predictions").is_none(), "{rep}");
    assert_eq!(rep["rounds"][1]["label_set"], 2);
    assert_eq!(rep["rounds"][1]["current_label_set"], true);
    assert_eq!(rep["rounds"][0]["current_label_set"], false);
    let notes: Vec<&str> =
        rep["verdict"]["notes"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert!(notes.iter().any(|n| n.contains("round 1 (label set v1)")), "{notes:?}");
    assert!(!notes.iter().any(|n| n.contains("round 2")), "{notes:?}");
    // The dataset card lists today's labels and marks round 1's κ with its label set.
    let ds = p.join("dataset");
    run_ok(p, &["export", "--format", "hf-dataset", "-o", ds.to_str().unwrap()]);
    let card = std::fs::read_to_string(ds.join("README.md")).unwrap();
    assert!(card.contains("- **bait** (") && !card.contains("**clickbait**"), "{card}");
    assert!(card.contains("These are label set v2 (1 change since v1)"), "{card}");
    let row =
        |r: &str| card.lines().find(|l| l.starts_with(&format!("| {r} |"))).unwrap().to_string();
    assert!(row("1").contains("(label set v1)"), "{}", row("1"));
    assert!(!row("2").contains("label set"), "{}", row("2"));
}

#[test]
fn status_counts_versions_stale_predictions_and_unindexed_items() {
    let (dir, mut st, keys) = labeled_project();
    let p = dir.path();
    let v = st.status_versions().unwrap();
    assert_eq!(v.label_set.as_ref().map(|l| (l.version, l.changes)), Some((1, 0)));
    assert_eq!((v.guidelines, v.stale_predictions, v.unindexed_items), (None, 0, 120));
    assert_eq!(
        v.lines(),
        [
            "label set v1 (no changes)",
            "search    120 items not yet indexed (`hifi find` indexes them)"
        ]
    );
    st.index_for_search(|_, _| {}).unwrap();
    std::fs::write(p.join(hifi::store::GUIDELINES_FILE), "# Clickbait\nTeasing counts.\n").unwrap();
    change(
        p,
        &mut st,
        LabelChange::Rename { from: "clickbait".into(), to: "bait".into(), definition: None },
    );
    change(p, &mut st, LabelChange::Add { name: "spam".into(), definition: "Not an ad.".into() });
    let (_, st) = hifi::project::open(p).unwrap();
    let v = st.status_versions().unwrap();
    assert_eq!(
        v.label_set.as_ref().map(|l| (l.version, l.changes, l.labels.clone())),
        Some((3, 2, vec!["bait".into(), "benign".into(), "spam".into()]))
    );
    assert_eq!((v.guidelines, v.stale_predictions, v.unindexed_items), (Some(1), 120, 0));
    assert_eq!(
        v.lines(),
        [
            "label set v3 (2 changes since v1)",
            "guidelines v1 (guidelines.md)",
            "stale     120 items have predictions only under an earlier label set: run `hifi prelabel`",
        ]
    );
    // Half the items rescored under the current set: the other half is still stale.
    let mut st = st;
    predict(&mut st, "llm-v3", &["bait".into(), "benign".into(), "spam".into()], &keys[..60]);
    assert_eq!(st.status_versions().unwrap().stale_predictions, 60);
}

/// `hifi status` and `hifi report` print the versions (text and JSON).
#[test]
fn status_and_report_print_the_label_set() {
    let (dir, mut st, _) = labeled_project();
    let p = dir.path();
    change(
        p,
        &mut st,
        LabelChange::Rename { from: "clickbait".into(), to: "bait".into(), definition: None },
    );
    std::fs::write(p.join(hifi::store::GUIDELINES_FILE), "Teasing counts.\n").unwrap();
    let out = run_ok(p, &["status"]);
    assert!(out.contains("\nlabel set v2 (1 change since v1)\n"), "{out}");
    assert!(out.contains("\nguidelines v1 (guidelines.md)\n"), "{out}");
    assert!(out.contains("\nstale     120 items have predictions only under an earlier label set: run `hifi prelabel`\n"), "{out}");
    assert!(out.contains("\nsearch    120 items not yet indexed"), "{out}");
    let v = json(p, &["status", "--json"]);
    assert_eq!(
        v["label_set"],
        serde_json::json!({"version": 2, "labels": ["bait", "benign"], "changes": 1})
    );
    assert_eq!(
        (v["guidelines"].as_i64(), v["stale_predictions"].as_i64(), v["unindexed_items"].as_i64()),
        (Some(1), Some(120), Some(120))
    );
    let out = run_ok(p, &["report"]);
    assert!(out.starts_with("label set v2 (bait, benign) · guidelines v1"), "{out}");
    let rep = json(p, &["report", "--json"]);
    assert_eq!(rep["guidelines"], 1);
}

#[test]
fn prelabel_rescores_every_item_under_the_new_label_set() {
    require_model();
    let (dir, _, st) = project();
    drop(st);
    let p = dir.path();
    let (_, mut st) = hifi::project::open(p).unwrap();
    import_items(p, &mut st, 4);
    let r = json(p, &["prelabel", "--json"]);
    assert_eq!(r["scored"], 4, "{r}");
    let first = r["model_id"].as_i64().unwrap();
    // Nothing changed: nothing to do.
    let r = json(p, &["prelabel", "--json"]);
    assert_eq!((r["scored"].as_u64(), r["model_id"].as_i64()), (Some(0), Some(first)));
    change(
        p,
        &mut st,
        LabelChange::Rename { from: "clickbait".into(), to: "bait".into(), definition: None },
    );
    assert_eq!(st.status_versions().unwrap().stale_predictions, 4);
    let r = json(p, &["prelabel", "--json"]);
    assert_eq!(r["scored"], 4, "every item rescored under the new set: {r}");
    let second = r["model_id"].as_i64().unwrap();
    assert_ne!(second, first);
    let m = st.model(second).unwrap().unwrap();
    assert_eq!(m.labels, ["bait", "benign"]);
    assert_eq!(st.latest_model().unwrap().unwrap().id, second);
    assert_eq!(st.status_versions().unwrap().stale_predictions, 0);
    assert_eq!(st.stale_reason(&m, &["bait".into(), "benign".into()]).unwrap(), None);
    let old = st.model(first).unwrap().unwrap();
    assert!(st
        .stale_reason(&old, &m.labels)
        .unwrap()
        .is_some_and(|w| w.contains("label set v1 (clickbait, benign)")));
}

/// `Store::item_states` (what Browse filters read, computed in one pass for speed) gives the
/// labels in force exactly as the `current_labels` view does, through undo, redo, relabels,
/// adjudications, renames, merges and retirements; one item's state is the same read alone.
#[test]
fn item_states_agree_with_the_labels_in_force() {
    let (dir, _, st) = project();
    drop(st);
    let p = dir.path();
    let (_, mut st) = hifi::project::open(p).unwrap();
    let keys = import_items(p, &mut st, 12);
    let kind_label = |st: &mut Store, k: i64, who: &str, kind: AnnotationKind, l: Option<&str>| {
        st.annotate(&Annotation {
            item: k,
            annotator: who.into(),
            kind,
            label: l.map(Into::into),
            note: None,
            suggestion: None,
        })
        .unwrap()
    };
    label(&mut st, keys[0], "ana", "clickbait");
    label(&mut st, keys[0], "ben", "benign");
    kind_label(&mut st, keys[0], "adj", AnnotationKind::Resolve, Some("clickbait"));
    label(&mut st, keys[1], "ana", "benign");
    label(&mut st, keys[1], "ana", "clickbait"); // relabeled
    label(&mut st, keys[2], "ana", "benign");
    st.undo("ana").unwrap(); // keys[2] unlabeled again
    label(&mut st, keys[3], "ben", "clickbait");
    st.undo("ben").unwrap();
    st.redo("ben").unwrap(); // back in force
    kind_label(&mut st, keys[4], "ana", AnnotationKind::Flag, Some("benign"));
    label(&mut st, keys[4], "ana", "benign");
    kind_label(&mut st, keys[5], "ben", AnnotationKind::Skip, None);
    label(&mut st, keys[6], "ana", "clickbait");
    label(&mut st, keys[6], "ana", "benign");
    st.undo("ana").unwrap(); // the earlier label is in force again
    let cfg = change(
        p,
        &mut st,
        LabelChange::Add { name: "spam".into(), definition: "Not an ad.".into() },
    );
    assert_eq!(cfg.label_names(), ["clickbait", "benign", "spam"]);
    label(&mut st, keys[7], "ana", "spam");
    label(&mut st, keys[8], "ben", "spam");
    label(&mut st, keys[8], "ana", "benign");
    kind_label(&mut st, keys[9], "adj", AnnotationKind::Resolve, Some("spam"));
    change(
        p,
        &mut st,
        LabelChange::Rename { from: "clickbait".into(), to: "bait".into(), definition: None },
    );
    change(p, &mut st, LabelChange::Add { name: "other".into(), definition: "Else.".into() });
    label(&mut st, keys[10], "cy", "other");
    change(
        p,
        &mut st,
        LabelChange::Merge {
            from: vec!["other".into(), "benign".into()],
            into: "benign".into(),
            definition: None,
        },
    );
    change(p, &mut st, LabelChange::Retire { name: "spam".into() });

    let states = st.item_states().unwrap();
    let mut from_view: std::collections::BTreeMap<i64, std::collections::BTreeMap<String, String>> =
        Default::default();
    for (item, who, l) in st.current_labels().unwrap() {
        from_view.entry(item).or_default().insert(who, l);
    }
    let (resolved, _) = st.resolved_labels().unwrap();
    for k in &keys {
        let s = states.get(k).cloned().unwrap_or_default();
        let mut mine = s.labels.clone();
        let adjudicated = mine.remove(hifi::store::RESOLVED);
        assert_eq!(mine, from_view.get(k).cloned().unwrap_or_default(), "item {k}");
        if let Some(r) = adjudicated {
            assert_eq!(resolved.iter().find(|(i, _)| i == k).map(|(_, l)| l), Some(&r), "item {k}");
        }
        assert_eq!(st.item_state(*k).unwrap(), s, "item {k} read alone");
    }
    // Spot checks of the history above.
    let of = |k: usize| states.get(&keys[k]).cloned().unwrap_or_default();
    assert_eq!(of(0).labels.get(hifi::store::RESOLVED).map(String::as_str), Some("bait"));
    assert_eq!(of(1).labels["ana"], "bait");
    assert!(of(2).labels.is_empty());
    assert_eq!(of(3).labels["ben"], "bait");
    assert_eq!(
        (of(4).labels["ana"].as_str(), of(4).flagged_by.clone()),
        ("benign", vec!["ana".to_string()])
    );
    assert_eq!(of(5).skipped_by, ["ben"]);
    assert_eq!(of(6).labels["ana"], "bait");
    assert!(of(7).labels.is_empty(), "retired");
    assert_eq!(of(8).labels.len(), 1, "ben's retired label is not in force, ana's is");
    assert!(of(9).labels.is_empty(), "a retired resolution is none");
    assert_eq!(of(10).labels["cy"], "benign", "merged");
    let none: Vec<i64> = keys.iter().copied().filter(|k| !states.contains_key(k)).collect();
    assert_eq!(none, [keys[2], keys[11]], "no decision in force: every event undone, or none");
}

/// Multi-label projects: a label set maps name by name (a rename renames it inside the set, a
/// merge makes two names one, a retirement takes the name out) and retiring a label queues the
/// items whose set held it for review again.
#[test]
fn label_sets_map_name_by_name_and_a_retirement_requeues_the_sets_that_held_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let mut cfg = Config::new(
        "Which topics?",
        ["sport", "money", "food"].iter().map(|n| hifi::config::LabelDef::new(*n, "")).collect(),
    );
    cfg.multi_label = true;
    std::fs::write(p.join("hifi.toml"), cfg.to_toml()).unwrap();
    drop(Store::create(p).unwrap());
    let (_, mut st) = hifi::project::open(p).unwrap();
    let keys = import_items(p, &mut st, 3);
    label(&mut st, keys[0], "ana", r#"["sport","money"]"#);
    label(&mut st, keys[1], "ana", r#"["food"]"#);
    label(&mut st, keys[2], "ana", "[]");
    let in_force = |st: &Store| {
        let mut v: Vec<(i64, String)> =
            st.current_labels().unwrap().into_iter().map(|(i, _, l)| (i, l)).collect();
        v.sort();
        v
    };
    change(
        p,
        &mut st,
        LabelChange::Rename { from: "money".into(), to: "cash".into(), definition: None },
    );
    assert_eq!(in_force(&st)[0], (keys[0], r#"["sport","cash"]"#.to_string()));
    let cfg = Config::load(p).unwrap();
    let (_, out) = hifi::project::change_labels(
        p,
        &mut st,
        &cfg,
        &LabelChange::Retire { name: "sport".into() },
        "lead",
    )
    .unwrap();
    assert_eq!(out.labels_affected, 1, "one decision held the retired label");
    assert_eq!(out.requeued, 1, "its item is queued for review again");
    assert_eq!(
        in_force(&st),
        vec![
            (keys[0], r#"["cash"]"#.to_string()),
            (keys[1], r#"["food"]"#.to_string()),
            (keys[2], "[]".to_string())
        ]
    );
    // Every event keeps the set it was given.
    let given: Vec<String> = st.events().unwrap().into_iter().filter_map(|e| e.label).collect();
    assert!(given.contains(&r#"["sport","money"]"#.to_string()), "{given:?}");
}
