//! The store: reopening, migrations, version guard, append-only annotations, undo/redo, and
//! several processes writing at once.

mod common;

use common::*;
use hifi::store::{schema, Annotation, AnnotationKind, Store, StoreError};

fn add_items(store: &mut Store, dir: &std::path::Path, n: usize) {
    let mut body = String::from("id,text\n");
    for i in 0..n {
        body.push_str(&format!("it{i},text {i}\n"));
    }
    let p = file(dir, "items.csv", body.as_bytes());
    hifi::io::import::import_items(
        store,
        &p,
        &Default::default(),
        &mut hifi::progress::Silent,
        &Default::default(),
    )
    .unwrap();
}

fn label(store: &mut Store, id: &str, who: &str, l: &str) -> i64 {
    let key = store.item_by_id(id).unwrap().unwrap().key;
    store
        .annotate(&Annotation {
            item: key,
            annotator: who.into(),
            kind: AnnotationKind::Label,
            label: Some(l.into()),
            note: None,
            suggestion: None,
        })
        .unwrap()
}

#[test]
fn reopen_keeps_everything() {
    let (dir, _cfg, mut store) = project();
    add_items(&mut store, dir.path(), 3);
    label(&mut store, "it1", "ana", "benign");
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.item_count().unwrap(), 3);
    let key = store.item_by_id("it1").unwrap().unwrap().key;
    assert_eq!(store.current_label(key, "ana").unwrap().as_deref(), Some("benign"));
    let mode: String = store.journal_mode().unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn migrates_from_the_first_schema_keeping_data() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Store::open_at_version(dir.path(), 1).unwrap();
        assert_eq!(s.schema_version().unwrap(), 1);
        s.v1_insert_item("old", "from v1").unwrap();
        s.v1_insert_label(1, "ana", "benign", "then").unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.schema_version().unwrap(), schema::LATEST);
    assert_eq!(store.item_by_id("old").unwrap().unwrap().text, "from v1");
    assert_eq!(store.current_label(1, "ana").unwrap().as_deref(), Some("benign"));
}

#[test]
fn a_store_from_a_newer_hifi_is_refused_clearly() {
    let (dir, _cfg, store) = project();
    store.set_schema_version(schema::LATEST + 5).unwrap();
    drop(store);
    let err = Store::open(dir.path()).err().expect("must refuse");
    assert!(matches!(err, StoreError::NewerSchema { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("newer hifi") && msg.contains(&format!("v{}", schema::LATEST + 5)),
        "{msg}"
    );
    let err = Store::open(&dir.path().join("nope")).err().unwrap().to_string();
    assert!(err.contains("not a hifi project"), "{err}");
}

#[test]
fn annotations_are_append_only() {
    let (dir, _cfg, mut store) = project();
    add_items(&mut store, dir.path(), 1);
    label(&mut store, "it0", "ana", "benign");
    let e = store.tamper_relabel_annotations("clickbait").unwrap_err().to_string();
    assert!(e.contains("append-only"), "{e}");
    let e = store.tamper_delete_annotations().unwrap_err().to_string();
    assert!(e.contains("append-only"), "{e}");
    let bad = Annotation {
        item: 999,
        annotator: "ana".into(),
        kind: AnnotationKind::Label,
        label: Some("benign".into()),
        note: None,
        suggestion: None,
    };
    assert!(store.annotate(&bad).unwrap_err().to_string().contains("no item"));
}

#[test]
fn undo_and_redo_are_events_without_limit() {
    let (dir, _cfg, mut store) = project();
    add_items(&mut store, dir.path(), 3);
    let k = |s: &Store, id: &str| s.item_by_id(id).unwrap().unwrap().key;
    label(&mut store, "it0", "ana", "benign");
    label(&mut store, "it1", "ana", "clickbait");
    label(&mut store, "it1", "ana", "benign"); // a change of mind
    label(&mut store, "it2", "bob", "benign"); // another annotator is unaffected
    let (k0, k1) = (k(&store, "it0"), k(&store, "it1"));
    // Undo the change of mind: the earlier label is back.
    assert_eq!(store.undo("ana").unwrap().unwrap().label.as_deref(), Some("benign"));
    assert_eq!(store.current_label(k1, "ana").unwrap().as_deref(), Some("clickbait"));
    store.undo("ana").unwrap();
    store.undo("ana").unwrap();
    assert_eq!(store.current_label(k0, "ana").unwrap(), None);
    assert_eq!(store.current_label(k1, "ana").unwrap(), None);
    assert!(store.undo("ana").unwrap().is_none(), "nothing left to undo");
    // Redo in reverse order of the undos.
    assert_eq!(store.redo("ana").unwrap().unwrap().item, k0);
    assert_eq!(store.redo("ana").unwrap().unwrap().label.as_deref(), Some("clickbait"));
    assert_eq!(store.redo("ana").unwrap().unwrap().label.as_deref(), Some("benign"));
    assert!(store.redo("ana").unwrap().is_none());
    assert_eq!(store.current_label(k1, "ana").unwrap().as_deref(), Some("benign"));
    // A fresh decision clears the redo stack.
    store.undo("ana").unwrap();
    label(&mut store, "it2", "ana", "clickbait");
    assert!(store.redo("ana").unwrap().is_none());
    // Nothing was ever rewritten: 5 labels, 4 undos and 3 redos are 12 events.
    assert_eq!(store.events().unwrap().len(), 12);
    assert_eq!(store.current_label(k(&store, "it2"), "bob").unwrap().as_deref(), Some("benign"));
}

#[test]
fn disagreements_need_adjudication() {
    let (dir, _cfg, mut store) = project();
    add_items(&mut store, dir.path(), 2);
    label(&mut store, "it0", "ana", "benign");
    label(&mut store, "it0", "bob", "clickbait");
    label(&mut store, "it1", "ana", "benign");
    label(&mut store, "it1", "bob", "benign");
    let (resolved, conflicts) = store.resolved_labels().unwrap();
    let k0 = store.item_by_id("it0").unwrap().unwrap().key;
    assert_eq!(conflicts, vec![k0]);
    assert_eq!(resolved.len(), 1);
    store
        .annotate(&Annotation {
            item: k0,
            annotator: "lead".into(),
            kind: AnnotationKind::Resolve,
            label: Some("clickbait".into()),
            note: Some("hides the offer".into()),
            suggestion: None,
        })
        .unwrap();
    let (resolved, conflicts) = store.resolved_labels().unwrap();
    assert!(conflicts.is_empty());
    assert!(resolved.contains(&(k0, "clickbait".to_string())));
}

/// Several `hifi label` processes on one project at once: every label lands exactly once.
#[test]
fn concurrent_processes_lose_nothing() {
    let (dir, _cfg, mut store) = project();
    add_items(&mut store, dir.path(), 40);
    drop(store);
    let mut children = Vec::new();
    for who in ["ana", "bob", "cy", "dee"] {
        let project = dir.path().to_path_buf();
        children.push(std::thread::spawn(move || {
            for i in 0..10 {
                let (ok, _, err) = hifi(
                    &project,
                    &[
                        "label",
                        &format!("it{}", i * 4 + (who.len() % 4)),
                        "benign",
                        "--annotator",
                        who,
                    ],
                );
                assert!(ok, "{who}: {err}");
            }
        }));
    }
    for c in children {
        c.join().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let events = store.events().unwrap();
    assert_eq!(events.len(), 40);
    for who in ["ana", "bob", "cy", "dee"] {
        assert_eq!(events.iter().filter(|e| e.annotator == who).count(), 10, "{who}");
    }
}

#[test]
fn cli_label_then_undo_leaves_item_unlabeled_with_history() {
    let (dir, _cfg, mut store) = project();
    add_items(&mut store, dir.path(), 2);
    drop(store);
    let (ok, out, err) =
        hifi(dir.path(), &["label", "it1", "clickbait", "--annotator", "ana", "--note", "teaser"]);
    assert!(ok, "{out}{err}");
    let (ok, out, _) = hifi(dir.path(), &["label", "--undo", "--annotator", "ana"]);
    assert!(ok && out.contains("undid label clickbait of it1"), "{out}");
    let store = Store::open(dir.path()).unwrap();
    let key = store.item_by_id("it1").unwrap().unwrap().key;
    assert_eq!(store.current_label(key, "ana").unwrap(), None);
    let ev = store.events().unwrap();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0].note.as_deref(), Some("teaser"));
    assert_eq!(ev[1].supersedes, Some(ev[0].id));
    let (ok, _, err) = hifi(dir.path(), &["label", "it1", "spam", "--annotator", "ana"]);
    assert!(!ok && err.contains("unknown label"), "{err}");
    let (ok, _, err) = hifi(dir.path(), &["label", "nope", "benign", "--annotator", "ana"]);
    assert!(!ok && err.contains("no item"), "{err}");
}

#[test]
fn labels_since_the_newest_round_are_the_ones_its_model_has_not_seen() {
    let (dir, _cfg, mut store) = project();
    add_items(&mut store, dir.path(), 5);
    label(&mut store, "it0", "ana", "benign");
    label(&mut store, "it1", "ana", "benign");
    label(&mut store, "it1", "bob", "clickbait"); // one item, two experts: counted once
    assert_eq!(store.labels_since_round().unwrap(), (2, None));
    store.start_round("zero-shot", None).unwrap();
    assert_eq!(
        store.labels_since_round().unwrap(),
        (2, None),
        "a zero-shot round trains on nothing"
    );
    let r = store.start_round("probe", None).unwrap();
    assert_eq!(store.labels_since_round().unwrap(), (0, Some(r)));
    label(&mut store, "it2", "ana", "benign");
    label(&mut store, "it3", "bob", "clickbait");
    assert_eq!(store.labels_since_round().unwrap(), (2, Some(r)));
    store.undo("bob").unwrap();
    assert_eq!(store.labels_since_round().unwrap(), (1, Some(r)), "an undone label is not new");
    label(&mut store, "it0", "ana", "clickbait"); // a change of mind the model has not seen
    let key = store.item_by_id("it4").unwrap().unwrap().key;
    store
        .annotate(&Annotation {
            item: key,
            annotator: "ana".into(),
            kind: AnnotationKind::Skip,
            label: None,
            note: None,
            suggestion: None,
        })
        .unwrap();
    assert_eq!(store.labels_since_round().unwrap(), (2, Some(r)), "a skip is not a label");
    let r2 = store.start_round("probe", None).unwrap();
    assert_eq!(store.labels_since_round().unwrap(), (0, Some(r2)));
    store.start_round("zero-shot", None).unwrap();
    label(&mut store, "it4", "ana", "benign");
    assert_eq!(
        store.labels_since_round().unwrap(),
        (1, Some(r2)),
        "still since the last trained round"
    );
}

/// Corrupt rows are errors that name the row — never a panic, never a round or a prediction
/// left out (or made up) in silence — and nothing writes an empty one.
#[test]
fn corrupt_prediction_and_round_rows_are_named_never_a_panic_or_a_silent_skip() {
    use hifi::store::Prediction;
    let (dir, cfg, mut store) = project();
    add_items(&mut store, dir.path(), 3);
    let labels = cfg.label_names();
    let model = store.register_model(&llm_record("m", None, &labels)).unwrap();
    let keys: Vec<i64> =
        (0..3).map(|i| store.item_by_id(&format!("it{i}")).unwrap().unwrap().key).collect();
    // An empty prediction is not written, and its top is defined, not a panic.
    let empty = Prediction { item: keys[0], probs: vec![], truncated: false };
    assert_eq!(empty.top(), (0, 0.0));
    let e = store.put_predictions(model, &labels, &[empty]).unwrap_err().to_string();
    assert!(e.contains("no probabilities"), "{e}");
    let nan = Prediction { item: keys[0], probs: vec![f64::NAN, 0.5], truncated: false };
    assert!(
        store.put_predictions(model, &labels, &[nan]).is_err(),
        "a NaN would be stored as null"
    );
    let preds: Vec<Prediction> = keys
        .iter()
        .map(|&k| Prediction { item: k, probs: vec![0.7, 0.3], truncated: false })
        .collect();
    store.put_predictions(model, &labels, &preds).unwrap();
    for (text, why) in [
        ("{oops", "not a list of numbers"),
        ("[]", "an empty list"),
        ("null", "not a list of numbers"),
    ] {
        store.overwrite_prediction_probs(keys[1], model, text).unwrap();
        let e = store.predictions(model).unwrap_err().to_string();
        assert!(
            e.contains(&format!(
                "the prediction of item {} under model {model} is corrupt",
                keys[1]
            )) && e.contains(why),
            "{text}: {e}"
        );
        assert!(store.latest_prediction(keys[1]).is_err(), "{text}");
    }
    store.put_predictions(model, &labels, &preds).unwrap();

    // Rounds: scores that do not parse, are null, or are not a round's scores.
    let r = store.start_round("probe", None).unwrap();
    assert!(
        store.finish_round(r, model, &serde_json::Value::Null).is_err(),
        "a round is never closed with null scores"
    );
    for (text, why) in
        [("{not json", "not JSON"), ("null", "not a JSON object"), ("[1,2]", "not a JSON object")]
    {
        store.overwrite_round_scores(r, Some(text)).unwrap();
        let e = store.rounds().unwrap_err().to_string();
        assert!(
            e.contains(&format!("round {r}'s scores are corrupt")) && e.contains(why),
            "{text}: {e}"
        );
    }
    store.overwrite_round_scores(r, Some(r#"{"kappa": "high"}"#)).unwrap();
    let e = hifi::rounds::report(&store, &cfg).unwrap_err().to_string();
    assert!(
        e.contains(&format!("round {r}'s scores are corrupt"))
            && e.contains("not a round's scores"),
        "{e}"
    );
    let (ok, _, err) = hifi(dir.path(), &["report"]);
    assert!(
        !ok && err.contains(&format!("round {r}'s scores are corrupt"))
            && !err.contains("panicked"),
        "{err}"
    );
}
