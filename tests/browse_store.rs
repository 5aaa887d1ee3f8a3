//! Find and revisit in the store: flags that stand until withdrawn or revisited, revisit and
//! second-opinion queue entries, search with filters, the incremental index, and label-set
//! changes read through by the labels in force.

mod common;

use common::*;
use hifi::config::LabelDef;
use hifi::store::{
    Annotation, AnnotationKind, FindQuery, LabelChange, Provenance, Store, StoreError,
};

fn items(store: &mut Store, dir: &std::path::Path, texts: &[&str]) {
    let mut body = String::from("id,text\n");
    for (i, t) in texts.iter().enumerate() {
        body.push_str(&format!("it{i},\"{t}\"\n"));
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

fn key(store: &Store, id: &str) -> i64 {
    store.item_by_id(id).unwrap().unwrap().key
}

fn decide(store: &mut Store, id: &str, who: &str, kind: AnnotationKind, l: Option<&str>) -> i64 {
    let item = key(store, id);
    store
        .annotate(&Annotation {
            item,
            annotator: who.into(),
            kind,
            label: l.map(Into::into),
            note: None,
            suggestion: Some(false),
        })
        .unwrap()
}

fn found(store: &Store, q: FindQuery) -> Vec<String> {
    let labels = vec!["clickbait".to_string(), "benign".to_string()];
    let f = store.find(&FindQuery { limit: 100, ..q }, &labels).unwrap();
    assert_eq!(f.total, f.rows.len(), "one page holds them all here");
    f.rows.into_iter().map(|r| r.id).collect()
}

const TEXTS: &[&str] = &[
    "Refund within 30 days, no questions asked",
    "You won't believe this one trick",
    "Sofa sale ends Sunday: 20% off",
    "Doctors hate this refund secret",
    "Garden tools, delivered free",
];

#[test]
fn a_flag_stands_through_its_tentative_label_until_unflagged_or_revisited() {
    let (dir, cfg, mut store) = project();
    store.sync_project(&cfg).unwrap();
    items(&mut store, dir.path(), TEXTS);
    // Review: flag, then the tentative label (as the Review screen does).
    for id in ["it0", "it1", "it2"] {
        decide(&mut store, id, "ana", AnnotationKind::Flag, None);
        decide(&mut store, id, "ana", AnnotationKind::Label, Some("benign"));
    }
    decide(&mut store, "it3", "ana", AnnotationKind::Skip, None);
    assert_eq!(
        found(&store, FindQuery { flagged: true, ..Default::default() }),
        ["it0", "it1", "it2"]
    );
    assert_eq!(found(&store, FindQuery { skipped: true, ..Default::default() }), ["it3"]);

    // A revisit of it1 (a new label revising ana's newest decision) clears its flag.
    let k1 = key(&store, "it1");
    let prev = store.newest_decision(k1, "ana").unwrap().unwrap();
    let rev = store
        .annotate_from(
            &Annotation {
                item: k1,
                annotator: "ana".into(),
                kind: AnnotationKind::Label,
                label: Some("clickbait".into()),
                note: None,
                suggestion: Some(false),
            },
            &Provenance { origin: Some("browse".into()), revises: Some(prev.id) },
        )
        .unwrap();
    let h = store.item_history(k1, &cfg.label_names()).unwrap().unwrap();
    let last = &h.events.last().unwrap().event;
    assert_eq!((last.id, last.provenance.revises), (rev, Some(prev.id)));
    assert_eq!(last.provenance.origin.as_deref(), Some("browse"));
    assert_eq!(store.current_label(k1, "ana").unwrap().as_deref(), Some("clickbait"));
    // An unflag withdraws it2's flag.
    decide(&mut store, "it2", "ana", AnnotationKind::Unflag, None);
    assert_eq!(found(&store, FindQuery { flagged: true, ..Default::default() }), ["it0"]);
    // Undoing the unflag puts the flag back.
    store.undo("ana").unwrap();
    assert_eq!(found(&store, FindQuery { flagged: true, ..Default::default() }), ["it0", "it2"]);

    // A revisit must name the annotator's own decision on that item.
    let k4 = key(&store, "it4");
    let err = store
        .annotate_from(
            &Annotation {
                item: k4,
                annotator: "ana".into(),
                kind: AnnotationKind::Label,
                label: Some("benign".into()),
                note: None,
                suggestion: None,
            },
            &Provenance { origin: Some("browse".into()), revises: Some(prev.id) },
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(ref m) if m.contains("revisit")), "{err}");
}

#[test]
fn flagged_items_come_back_to_their_annotator_and_second_opinions_go_to_someone_else() {
    let (dir, cfg, mut store) = project();
    store.sync_project(&cfg).unwrap();
    items(&mut store, dir.path(), TEXTS);
    let keys: Vec<i64> = (0..5).map(|i| key(&store, &format!("it{i}"))).collect();
    let entries: Vec<_> = keys
        .iter()
        .map(|k| hifi::store::NewQueueEntry {
            item_a: *k,
            item_b: None,
            reason: serde_json::json!({}),
            needed: 1,
            audit: false,
        })
        .collect();
    store.replace_queue("margin", &entries).unwrap();
    // ana works the queue: flags it0 and it1, labels the rest.
    for (i, k) in keys.iter().enumerate() {
        let e = store.claim_next("ana").unwrap().unwrap();
        assert_eq!(e.item_a, *k);
        let id = format!("it{i}");
        if i < 2 {
            decide(&mut store, &id, "ana", AnnotationKind::Flag, None);
        } else {
            decide(&mut store, &id, "ana", AnnotationKind::Label, Some("benign"));
        }
    }
    assert!(store.claim_next("ana").unwrap().is_none());
    // Work through the flagged ones: they come back to ana first, once each.
    let flagged: Vec<i64> = store
        .find(&FindQuery { flagged: true, limit: 10, ..Default::default() }, &cfg.label_names())
        .unwrap()
        .rows
        .iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(store.queue_to_revisit(&flagged, "ana").unwrap(), 2);
    assert!(store.claim_next("bo").unwrap().is_none(), "ana's revisits are hers");
    let e = store.claim_next("ana").unwrap().unwrap();
    assert_eq!((e.item_a, e.strategy.as_str()), (keys[0], "revisit"));
    // Skipping it again also finishes the revisit (a decision after it was queued).
    decide(&mut store, "it0", "ana", AnnotationKind::Skip, None);
    let e = store.claim_next("ana").unwrap().unwrap();
    assert_eq!(e.item_a, keys[1]);
    decide(&mut store, "it1", "ana", AnnotationKind::Label, Some("clickbait"));
    assert!(store.claim_next("ana").unwrap().is_none());

    // A second opinion on it2: not ana (she asked, and decided it), bo gets it.
    store.queue_second_opinion(&[keys[2]], "ana").unwrap();
    assert!(store.claim_next("ana").unwrap().is_none());
    let e = store.claim_next("bo").unwrap().unwrap();
    assert_eq!((e.item_a, e.strategy.as_str()), (keys[2], "second-opinion"));
}

#[test]
fn search_combines_words_notes_ids_and_filters_and_refuses_bad_syntax_clearly() {
    let (dir, cfg, mut store) = project();
    store.sync_project(&cfg).unwrap();
    items(&mut store, dir.path(), TEXTS);
    assert_eq!(store.unindexed_items().unwrap(), 5);
    assert_eq!(store.index_for_search(|_, _| {}).unwrap(), 5);
    assert_eq!(store.index_for_search(|_, _| {}).unwrap(), 0, "incremental");
    let text = |q: &str| FindQuery { text: Some(q.into()), ..Default::default() };
    assert_eq!(found(&store, text("refund")), ["it0", "it3"]);
    assert_eq!(found(&store, text("REFUND days")), ["it0"]);
    assert_eq!(found(&store, text("ref*")), ["it0", "it3"]);
    assert_eq!(found(&store, text("\"one trick\"")), ["it1"]);
    assert_eq!(found(&store, text("won't")), ["it1"], "an apostrophe is not syntax");
    assert_eq!(found(&store, text("it4")), ["it4"], "an id");
    // A note is searched too.
    let k4 = key(&store, "it4");
    store
        .annotate(&Annotation {
            item: k4,
            annotator: "bo".into(),
            kind: AnnotationKind::Label,
            label: Some("benign".into()),
            note: Some("Free delivery claim: check the terms".into()),
            suggestion: None,
        })
        .unwrap();
    assert_eq!(found(&store, text("terms")), ["it4"]);
    decide(&mut store, "it0", "ana", AnnotationKind::Label, Some("clickbait"));
    decide(&mut store, "it0", "bo", AnnotationKind::Label, Some("benign"));
    decide(&mut store, "it3", "ana", AnnotationKind::Label, Some("clickbait"));
    // Filters combine with the words.
    let q = FindQuery { label: Some("clickbait".into()), ..text("refund") };
    assert_eq!(found(&store, q), ["it0", "it3"]);
    let q = FindQuery { experts_disagree: true, ..text("refund") };
    assert_eq!(found(&store, q), ["it0"]);
    let q = FindQuery { labeled: Some(false), ..Default::default() };
    assert_eq!(found(&store, q), ["it1", "it2"]);
    let q = FindQuery { annotator: Some("bo".into()), noted: true, ..Default::default() };
    assert_eq!(found(&store, q), ["it4"]);
    // Paging: the total counts every match, the page holds `limit`.
    let f = store
        .find(&FindQuery { offset: 1, limit: 2, ..Default::default() }, &cfg.label_names())
        .unwrap();
    assert_eq!(f.total, 5);
    assert_eq!(f.rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["it1", "it2"]);
    // New items become searchable after the next indexing.
    let p = file(dir.path(), "more.csv", b"id,text\nnew1,a refund for the new one\n");
    hifi::io::import::import_items(
        &mut store,
        &p,
        &Default::default(),
        &mut hifi::progress::Silent,
        &Default::default(),
    )
    .unwrap();
    assert_eq!(store.index_for_search(|_, _| {}).unwrap(), 1);
    assert_eq!(found(&store, text("refund")), ["it0", "it3", "new1"]);
    // Bad FTS syntax: a clear error, not a panic.
    let err = store.find(&text("refund AND"), &cfg.label_names()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("cannot search for `refund AND`") && msg.contains("syntax"), "{msg}");
}

#[test]
fn labels_in_force_read_through_renames_merges_and_retirements_and_events_keep_their_names() {
    let (dir, cfg, mut store) = project();
    store.sync_project(&cfg).unwrap();
    items(&mut store, dir.path(), TEXTS);
    decide(&mut store, "it0", "ana", AnnotationKind::Label, Some("clickbait"));
    decide(&mut store, "it1", "ana", AnnotationKind::Label, Some("benign"));
    let before: Vec<_> = store.audit_events(None).unwrap();
    let def = |n: &str| LabelDef::new(n, format!("about {n}"));
    let add = store
        .change_label_set(
            &cfg.labels,
            &LabelChange::Add { name: "spam".into(), definition: "junk".into() },
            "ana",
        )
        .unwrap();
    assert_eq!(add.version.version, 2);
    let mut cur = add.version.labels.clone();
    decide(&mut store, "it2", "ana", AnnotationKind::Label, Some("spam"));
    let ren = store
        .change_label_set(
            &cur,
            &LabelChange::Rename { from: "clickbait".into(), to: "bait".into(), definition: None },
            "ana",
        )
        .unwrap();
    assert_eq!(ren.labels_affected, 1);
    cur = ren.version.labels.clone();
    let k0 = key(&store, "it0");
    assert_eq!(store.current_label(k0, "ana").unwrap().as_deref(), Some("bait"));
    let merged = store
        .change_label_set(
            &cur,
            &LabelChange::Merge {
                from: vec!["bait".into(), "spam".into()],
                into: "junk".into(),
                definition: None,
            },
            "ana",
        )
        .unwrap();
    cur = merged.version.labels.clone();
    assert_eq!(cur.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["junk", "benign"]);
    let labels: Vec<String> = store.current_labels().unwrap().into_iter().map(|r| r.2).collect();
    assert_eq!(labels, ["junk", "benign", "junk"]);
    // A stale view of the set is refused: nothing changes.
    let err = store
        .change_label_set(
            &[def("x"), def("y"), def("z")],
            &LabelChange::Retire { name: "x".into() },
            "ana",
        )
        .unwrap_err();
    assert!(err.to_string().contains("changed meanwhile"), "{err}");
    // Adding back a name used before makes a new label: old events keep their own meaning.
    let back = store
        .change_label_set(
            &cur,
            &LabelChange::Add { name: "spam".into(), definition: "new spam".into() },
            "ana",
        )
        .unwrap();
    cur = back.version.labels.clone();
    assert_eq!(store.current_label(key(&store, "it2"), "ana").unwrap().as_deref(), Some("junk"));
    // Retiring junk: its items are unlabeled again and queued for review.
    let ret =
        store.change_label_set(&cur, &LabelChange::Retire { name: "junk".into() }, "bo").unwrap();
    assert_eq!((ret.labels_affected, ret.requeued), (2, 2));
    assert_eq!(store.current_label(k0, "ana").unwrap(), None);
    let e = store.claim_next("ana").unwrap().unwrap();
    assert_eq!((e.item_a, e.strategy.as_str()), (k0, "revisit"));
    // Every event recorded before the changes is exactly as it was.
    let after = store.audit_events(None).unwrap();
    for b in &before {
        let a = after.iter().find(|a| a.event == b.event).unwrap();
        assert_eq!(
            (&a.label, &a.kind, &a.annotator, a.label_set),
            (&b.label, &b.kind, &b.annotator, 1)
        );
    }
    let hist: Vec<String> = store.label_sets().unwrap().iter().map(|v| v.describe()).collect();
    assert_eq!(
        hist[1..],
        [
            "added spam",
            "renamed clickbait to bait",
            "merged bait, spam into junk",
            "added spam",
            "retired junk"
        ]
    );
    // A hand edit of hifi.toml's labels is recorded as a version of its own.
    let (v, recorded) = store.sync_label_set(&[def("benign"), def("spam"), def("other")]).unwrap();
    assert!(recorded);
    assert_eq!(store.label_sets().unwrap().last().unwrap().kind, "replace");
    assert_eq!(
        store.sync_label_set(&[def("benign"), def("spam"), def("other")]).unwrap(),
        (v, false)
    );
}

#[test]
fn guidelines_versions_are_recorded_once_per_change_and_annotations_carry_them() {
    let (dir, cfg, mut store) = project();
    store.sync_project(&cfg).unwrap();
    items(&mut store, dir.path(), TEXTS);
    assert_eq!(store.guidelines().unwrap(), None);
    let e0 = decide(&mut store, "it0", "ana", AnnotationKind::Label, Some("benign"));
    std::fs::write(dir.path().join("guidelines.md"), "# Rules\nPrices must be stated.\n").unwrap();
    assert_eq!(store.sync_guidelines_file().unwrap(), Some(1));
    assert_eq!(store.sync_guidelines_file().unwrap(), None, "unchanged");
    let e1 = decide(&mut store, "it1", "ana", AnnotationKind::Label, Some("benign"));
    assert_eq!(store.record_guidelines("# Rules v2\n", Some("ana")).unwrap(), Some(2));
    let ev = store.events().unwrap();
    let g = |id: i64| ev.iter().find(|e| e.id == id).unwrap().guidelines;
    assert_eq!((g(e0), g(e1)), (None, Some(1)));
    let v = store.guidelines_versions().unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[1].annotator.as_deref(), Some("ana"));
}
