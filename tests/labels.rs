//! `hifi labels import` / `hifi labels export`: round trips through every source format on the
//! sample ads, every kind of bad input (the store stays unchanged), --skip-invalid, and the
//! audit export's provenance.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use hifi::config::Config;
use hifi::io::export::SplitChoice;
use hifi::io::import::{import_items, ImportOptions};
use hifi::io::labels::{
    detect_format, export_events, import_labels, EventExportOptions, EventFormat, LabelFormat,
    LabelImportOptions, LabelImportReport, LabelsError,
};
use hifi::progress::{CancelToken, Silent};
use hifi::store::{Annotation, AnnotationKind, ModelRecord, Prediction, Store};
use serde_json::{json, Value};

/// One sample ad: id, text and its gold label.
#[derive(Clone)]
struct Ad {
    id: String,
    text: String,
    gold: String,
}

/// A project holding every ad of sample-data/ads.csv; the first `n` are returned.
fn sample(n: usize) -> (tempfile::TempDir, Config, Store, Vec<Ad>) {
    let (dir, cfg, mut store) = project();
    let opts = ImportOptions { labels: cfg.label_names(), ..ImportOptions::default() };
    import_items(
        &mut store,
        &repo().join("sample-data/ads.csv"),
        &opts,
        &mut Silent,
        &CancelToken::new(),
    )
    .unwrap();
    let ads = store
        .items_page(0, n)
        .unwrap()
        .into_iter()
        .map(|i| Ad { id: i.id, text: i.text, gold: i.gold.unwrap() })
        .collect();
    (dir, cfg, store, ads)
}

fn opts(cfg: &Config, annotator: &str) -> LabelImportOptions {
    LabelImportOptions {
        annotator: annotator.into(),
        format: None,
        id_field: None,
        label_field: None,
        labels: cfg.label_names(),
        skip_invalid: false,
        suggestion: None,
    }
}

fn other(label: &str) -> &'static str {
    if label == "clickbait" {
        "benign"
    } else {
        "clickbait"
    }
}

fn jsonl(values: &[Value]) -> Vec<u8> {
    values.iter().map(|v| format!("{v}\n")).collect::<String>().into_bytes()
}

/// Export every event as JSONL through the library and read it back.
fn exported(
    store: &mut Store,
    cfg: &Config,
    dir: &Path,
    annotator: Option<&str>,
    split: SplitChoice,
) -> Vec<Value> {
    let out = dir.join("events.jsonl");
    let o = EventExportOptions {
        format: EventFormat::Jsonl,
        annotator: annotator.map(str::to_string),
        split,
        write: hifi::io::export::WriteOptions { force: true, ..Default::default() },
    };
    export_events(store, cfg, &o, &out).unwrap();
    std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The round trip's check: the annotator's labels in force, as exported, are the gold labels.
fn assert_round_trip(store: &mut Store, cfg: &Config, dir: &Path, who: &str, ads: &[Ad]) {
    let got: BTreeMap<String, String> = exported(store, cfg, dir, Some(who), SplitChoice::All)
        .into_iter()
        .filter(|e| e["current"] == true && e["kind"] == "label")
        .map(|e| {
            (e["item_id"].as_str().unwrap().to_string(), e["label"].as_str().unwrap().to_string())
        })
        .collect();
    let want: BTreeMap<String, String> =
        ads.iter().map(|a| (a.id.clone(), a.gold.clone())).collect();
    assert_eq!(got, want);
}

fn import(store: &mut Store, path: &Path, o: &LabelImportOptions) -> LabelImportReport {
    import_labels(store, path, o).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn csv_round_trip_with_named_columns_and_notes() {
    let (dir, cfg, mut store, ads) = sample(30);
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["ad_id", "verdict", "note"]).unwrap();
    for (i, a) in ads.iter().enumerate() {
        w.write_record([
            a.id.as_str(),
            a.gold.as_str(),
            if i == 0 { "teases, \"hides\" the offer" } else { "" },
        ])
        .unwrap();
    }
    w.write_record(["ad-0999", "", ""]).unwrap(); // not labeled yet: not an error
    let path = file(dir.path(), "reviewed.csv", &w.into_inner().unwrap());
    let o = LabelImportOptions {
        id_field: Some("ad_id".into()),
        label_field: Some("verdict".into()),
        ..opts(&cfg, "ana")
    };
    let rep = import(&mut store, &path, &o);
    assert_eq!(
        (rep.format, rep.detected, rep.imported, rep.not_labeled),
        (LabelFormat::Csv, true, 30, 1)
    );
    assert_round_trip(&mut store, &cfg, dir.path(), "ana", &ads);
    let first = &store.events().unwrap()[0];
    assert_eq!(first.note.as_deref(), Some("teases, \"hides\" the offer"));
    assert_eq!(store.events().unwrap()[1].note, None);
}

#[test]
fn jsonl_round_trip_and_reimport_is_idempotent() {
    let (dir, cfg, mut store, ads) = sample(25);
    let lines: Vec<Value> = ads.iter().map(|a| json!({"id": a.id, "label": a.gold})).collect();
    let path = file(dir.path(), "labels.jsonl", &jsonl(&lines));
    let rep = import(&mut store, &path, &opts(&cfg, "ana"));
    assert_eq!((rep.format, rep.imported), (LabelFormat::Jsonl, 25));
    assert_round_trip(&mut store, &cfg, dir.path(), "ana", &ads);
    // The same file again writes nothing; a changed label is a new event superseding the old.
    let rep = import(&mut store, &path, &opts(&cfg, "ana"));
    assert_eq!((rep.imported, rep.unchanged), (0, 25));
    let changed = jsonl(&[json!({"id": ads[0].id, "label": other(&ads[0].gold)})]);
    let rep = import(&mut store, &file(dir.path(), "fix.jsonl", &changed), &opts(&cfg, "ana"));
    assert_eq!(rep.imported, 1);
    assert_eq!(store.events().unwrap().len(), 26);
    let key = store.item_by_id(&ads[0].id).unwrap().unwrap().key;
    assert_eq!(store.current_label(key, "ana").unwrap().as_deref(), Some(other(&ads[0].gold)));
}

#[test]
fn prodigy_binary_choice_reject_and_ignore_round_trip() {
    let (dir, cfg, mut store, ads) = sample(40);
    let options =
        json!([{"id": "opt_cb", "text": "Clickbait"}, {"id": "opt_bn", "text": "Benign"}]);
    let mut lines: Vec<Value> = ads
        .iter()
        .enumerate()
        .map(|(i, a)| match i % 4 {
            // binary accept, Prodigy-style capitals, matched by meta.id
            0 => json!({"text": a.text, "meta": {"id": a.id}, "label": a.gold.to_uppercase(), "answer": "accept", "_input_hash": 1}),
            // binary reject of the other label: in a two-label project that names this one
            1 => json!({"text": a.text, "id": a.id, "label": other(&a.gold), "answer": "reject"}),
            // choice task, matched by exact text only
            2 => json!({"text": a.text, "options": [{"id": "clickbait"}, {"id": "benign"}], "accept": [a.gold], "answer": "accept"}),
            // choice task whose option ids are not labels but whose texts are
            _ => json!({"text": a.text, "meta": {"id": a.id}, "options": options, "accept": [if a.gold == "clickbait" { "opt_cb" } else { "opt_bn" }], "answer": "accept"}),
        })
        .collect();
    lines.push(json!({"text": ads[0].text, "label": "CLICKBAIT", "answer": "ignore"}));
    let path = file(dir.path(), "db-out.jsonl", &jsonl(&lines));
    let rep = import(&mut store, &path, &opts(&cfg, "prodigy-team"));
    assert_eq!(
        (rep.format, rep.detected, rep.imported, rep.not_labeled),
        (LabelFormat::Prodigy, true, 40, 1)
    );
    assert_round_trip(&mut store, &cfg, dir.path(), "prodigy-team", &ads);
}

/// A Label Studio export as the tool writes it (pretty-printed), with a cancelled and an
/// unannotated task at the end.
fn label_studio_export(ads: &[Ad]) -> Vec<u8> {
    let mut tasks: Vec<Value> = ads
        .iter()
        .enumerate()
        .map(|(i, a)| {
            json!({"id": 1000 + i, "data": {"text": a.text, "ad_id": a.id}, "annotations": [{"id": i, "completed_by": 3, "was_cancelled": false, "result": [
                {"type": "choices", "from_name": "verdict", "to_name": "text", "value": {"choices": [a.gold]}},
                {"type": "textarea", "from_name": "why", "to_name": "text", "value": {"text": [format!("note {i}")]}}
            ]}], "predictions": []})
        })
        .collect();
    tasks.push(json!({"id": 1, "data": {"text": ads[0].text, "ad_id": ads[0].id}, "annotations": [{"was_cancelled": true, "result": []}]}));
    tasks.push(json!({"id": 2, "data": {"text": ads[1].text}, "annotations": []}));
    serde_json::to_string_pretty(&tasks).unwrap().into_bytes()
}

#[test]
fn label_studio_round_trip_keeps_textarea_notes() {
    let (dir, cfg, mut store, ads) = sample(20);
    let path = file(dir.path(), "project-3.json", &label_studio_export(&ads));
    let o = LabelImportOptions { id_field: Some("ad_id".into()), ..opts(&cfg, "bob") };
    let rep = import(&mut store, &path, &o);
    assert_eq!(
        (rep.format, rep.detected, rep.imported, rep.not_labeled),
        (LabelFormat::LabelStudio, true, 20, 2)
    );
    assert_round_trip(&mut store, &cfg, dir.path(), "bob", &ads);
    assert_eq!(store.events().unwrap()[3].note.as_deref(), Some("note 3"));
}

#[test]
fn label_studio_problems_name_the_line_each_task_starts_on() {
    let (dir, cfg, mut store, ads) = sample(5);
    let mut bad = ads.clone();
    bad[2].gold = "spam".into();
    let text = String::from_utf8(label_studio_export(&bad)).unwrap();
    let third_task = text.match_indices("\n  {").nth(2).unwrap().0;
    let line = text[..third_task].matches('\n').count() + 2;
    let path = file(dir.path(), "ls.json", text.as_bytes());
    let before = snapshot(&store);
    let err = import_labels(&mut store, &path, &opts(&cfg, "bob")).unwrap_err().to_string();
    assert!(
        err.contains(&format!(
            "ls.json:{line}: field `annotations[0].result`: unknown label \"spam\""
        )),
        "{err}"
    );
    assert_eq!(snapshot(&store), before);
}

#[test]
fn argilla_v1_and_v2_records_round_trip() {
    let (dir, cfg, mut store, ads) = sample(30);
    let mut lines: Vec<Value> = ads
        .iter()
        .enumerate()
        .map(|(i, a)| match i % 4 {
            // v1: a generated record id that is no item's: found by its text
            0 => json!({"text": a.text, "inputs": {"text": a.text}, "annotation": a.gold, "annotation_agent": "ana", "id": format!("9f1c-{i}"), "status": "Validated"}),
            // v2 with the user's id and the question `verdict`
            1 => json!({"id": a.id, "fields": {"text": a.text}, "status": "completed", "responses": {"verdict": [{"value": a.gold, "user_id": "u1", "status": "submitted"}]}}),
            // v2 matched by metadata.id, two agreeing annotators
            2 => json!({"id": "x", "metadata": {"id": a.id}, "fields": {"text": "other wording"}, "responses": {"verdict": [{"value": a.gold, "user_id": "u1"}, {"value": a.gold, "user_id": "u2"}]}}),
            // Argilla 1.x feedback record: responses listed per user, a discarded one ignored
            _ => json!({"external_id": a.id, "fields": {"text": a.text}, "responses": [
                {"user_id": "u1", "status": "submitted", "values": {"verdict": {"value": a.gold}}},
                {"user_id": "u2", "status": "discarded", "values": {"verdict": {"value": other(&a.gold)}}}
            ]}),
        })
        .collect();
    lines.push(json!({"id": ads[0].id, "fields": {"text": ads[0].text}, "status": "pending", "responses": {}}));
    lines.push(json!({"text": ads[1].text, "annotation": null, "status": "Default"}));
    lines.push(json!({"id": ads[2].id, "responses": {"verdict": [{"value": "clickbait", "status": "discarded"}]}}));
    let path = file(dir.path(), "records.jsonl", &jsonl(&lines));
    let o = LabelImportOptions { label_field: Some("verdict".into()), ..opts(&cfg, "cy") };
    let rep = import(&mut store, &path, &o);
    assert_eq!((rep.format, rep.imported, rep.not_labeled), (LabelFormat::Argilla, 30, 3));
    assert_round_trip(&mut store, &cfg, dir.path(), "cy", &ads);
}

#[test]
fn formats_are_detected_from_the_content() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &[u8], LabelFormat)] = &[
        ("a.txt", b"id,label\nx,benign\n", LabelFormat::Csv),
        ("b.json", b"\n\n{\"id\": \"x\", \"label\": \"benign\"}\n", LabelFormat::Jsonl),
        (
            "c.jsonl",
            b"{\"text\": \"t\", \"answer\": \"accept\", \"label\": \"X\"}\n",
            LabelFormat::Prodigy,
        ),
        ("d.json", b"\xef\xbb\xbf  [\n  {\"data\": {}}]", LabelFormat::LabelStudio),
        ("e.jsonl", b"{\"data\": {}, \"annotations\": []}\n", LabelFormat::LabelStudio),
        ("f.jsonl", b"{\"fields\": {\"text\": \"t\"}, \"responses\": {}}\n", LabelFormat::Argilla),
        ("g.jsonl", b"{\"text\": \"t\", \"annotation\": \"benign\"}\n", LabelFormat::Argilla),
        ("h.csv", b"", LabelFormat::Csv),
    ];
    for (name, content, want) in cases {
        assert_eq!(detect_format(&file(dir.path(), name, content)).unwrap(), *want, "{name}");
    }
}

/// Every bad file is refused whole: the message names file:line and field, the store is unchanged.
#[test]
fn each_error_leaves_the_store_unchanged() {
    let (dir, cfg, mut store, ads) = sample(3);
    let dup = "id,text\nsame-1,Exactly the same words\nsame-2,Exactly the same words\n";
    import_items(
        &mut store,
        &file(dir.path(), "dup.csv", dup.as_bytes()),
        &ImportOptions::default(),
        &mut Silent,
        &CancelToken::new(),
    )
    .unwrap();
    let (a, b) = (&ads[0].id, &ads[1].id);
    let cases: Vec<(&str, String, Option<LabelFormat>, Vec<&str>)> = vec![
        ("unknown-item.csv", format!("id,label\n{a},benign\nnope,benign\n"), None, vec!["unknown-item.csv:3: field `id`: unknown item: no item with id \"nope\""]),
        ("unknown-label.csv", format!("id,label\n{a},spam\n{b},benign\n"), None, vec!["unknown-label.csv:2: field `label`: unknown label \"spam\""]),
        ("conflict.csv", format!("id,label\n{a},benign\n{b},benign\n{a},clickbait\n"), None, vec!["conflict.csv:2: field `label`: conflicting duplicate", "conflict.csv:4: field `label`: conflicting duplicate", "\"benign\" (line 2), \"clickbait\" (line 4)"]),
        ("no-label.csv", format!("id,verdict\n{a},benign\n"), None, vec!["no-label.csv:2: field `label`: missing"]),
        ("ragged.csv", format!("id,label\n{a},benign,extra\n"), None, vec!["ragged.csv:2: malformed row"]),
        ("broken.jsonl", format!("{{\"id\": \"{a}\", \"label\": \"benign\"}}\n{{\"id\": \n"), None, vec!["broken.jsonl:2: malformed JSON"]),
        ("reject.jsonl", format!("{{\"text\": \"t\", \"id\": \"{a}\", \"accept\": [\"benign\"], \"answer\": \"reject\"}}\n"), None, vec!["reject.jsonl:1: field `answer`: a rejected choice task"]),
        ("two.jsonl", format!("{{\"text\": \"t\", \"id\": \"{a}\", \"accept\": [\"benign\", \"clickbait\"], \"answer\": \"accept\"}}\n"), None, vec!["two.jsonl:1: field `accept`: 2 options accepted"]),
        ("answer.jsonl", format!("{{\"id\": \"{a}\", \"label\": \"benign\", \"answer\": \"maybe\"}}\n"), None, vec!["answer.jsonl:1: field `answer`: \"maybe\""]),
        ("ambiguous.jsonl", "{\"text\": \"Exactly the same words\", \"label\": \"BENIGN\", \"answer\": \"accept\"}\n".into(), None, vec!["ambiguous.jsonl:1: field `text`: the text matches 2 items"]),
        ("multi.jsonl", format!("{{\"text\": \"t\", \"id\": \"{a}\", \"annotation\": [\"benign\", \"clickbait\"]}}\n"), None, vec!["multi.jsonl:1: field `annotation`: 2 labels given"]),
        ("disagree.jsonl", format!("{{\"id\": \"{a}\", \"responses\": {{\"label\": [{{\"value\": \"benign\"}}, {{\"value\": \"clickbait\"}}]}}}}\n"), None, vec!["disagree.jsonl:1: field `responses.label`: the responses disagree"]),
        ("feedback.jsonl", format!("{{\"external_id\": \"{a}\", \"responses\": [{{\"status\": \"submitted\", \"values\": {{\"topic\": {{\"value\": \"x\"}}}}}}]}}\n"), Some(LabelFormat::Argilla), vec!["feedback.jsonl:1: field `responses.label`: no answers to question \"label\" (answered here: topic)"]),
        ("question.jsonl", format!("{{\"id\": \"{a}\", \"responses\": {{\"verdict\": [{{\"value\": \"benign\"}}]}}}}\n"), None, vec!["question.jsonl:1: field `responses.label`: no answers to question \"label\" (answered here: verdict)"]),
        ("nothing.jsonl", "{\"label\": \"benign\", \"note\": \"x\"}\n".into(), Some(LabelFormat::Jsonl), vec!["nothing.jsonl:1: nothing to find the item by"]),
        ("empty.csv", String::new(), Some(LabelFormat::Csv), vec!["empty.csv:1:"]),
        ("empty.jsonl", "\n\n".into(), Some(LabelFormat::Jsonl), vec!["empty.jsonl:1: no labels in the file"]),
    ];
    let before = snapshot(&store);
    for (name, content, format, wants) in cases {
        let path = file(dir.path(), name, content.as_bytes());
        let o = LabelImportOptions { format, ..opts(&cfg, "ana") };
        let err = match import_labels(&mut store, &path, &o) {
            Err(e @ LabelsError::Problems(_)) => e.to_string(),
            other => panic!("{name}: expected problems, got {other:?}"),
        };
        for want in wants {
            assert!(err.contains(want), "{name}: {err:?} should contain {want:?}");
        }
        assert!(err.contains("nothing was imported"), "{name}: {err}");
        assert_eq!(snapshot(&store), before, "{name}");
    }
    // Options that do not fit are refused before anything is read.
    let o = LabelImportOptions {
        format: Some(LabelFormat::Prodigy),
        label_field: Some("x".into()),
        ..opts(&cfg, "ana")
    };
    assert!(matches!(
        import_labels(&mut store, &dir.path().join("dup.csv"), &o),
        Err(LabelsError::Invalid(_))
    ));
    assert!(matches!(
        import_labels(&mut store, &dir.path().join("dup.csv"), &opts(&cfg, " ")),
        Err(LabelsError::Invalid(_))
    ));
    assert!(matches!(
        import_labels(&mut store, &dir.path().join("missing.csv"), &opts(&cfg, "ana")),
        Err(LabelsError::Io { .. })
    ));
    assert_eq!(snapshot(&store), before);
}

#[test]
fn skip_invalid_imports_the_rest_and_lists_the_lines_left_out() {
    let (dir, cfg, mut store, ads) = sample(5);
    let [a, b, c, d, e] = [&ads[0], &ads[1], &ads[2], &ads[3], &ads[4]].map(|x| x.id.as_str());
    let content = format!("id,label\n{a},benign\nnope,benign\n{b},clickbait\n{c},spam\n{d},benign\n{d},clickbait\n{e},benign,extra\n{e},benign\n");
    let path = file(dir.path(), "mixed.csv", content.as_bytes());
    let o = LabelImportOptions { skip_invalid: true, ..opts(&cfg, "ana") };
    let rep = import(&mut store, &path, &o);
    assert_eq!(rep.imported, 3);
    assert_eq!(rep.skipped_lines, vec![3, 5, 6, 7, 8]);
    let listed = rep.problems.to_string();
    for l in ["mixed.csv:3:", "mixed.csv:5:", "mixed.csv:6:", "mixed.csv:7:", "mixed.csv:8:"] {
        assert!(listed.contains(l), "{listed}");
    }
    let labeled: Vec<String> = store
        .current_labels()
        .unwrap()
        .into_iter()
        .map(|(k, _, _)| store.item(k).unwrap().unwrap().id)
        .collect();
    assert_eq!(labeled, vec![a, b, e]);
}

#[test]
fn label_studio_scanner_survives_hostile_files() {
    let (dir, cfg, mut store, ads) = sample(1);
    let id = &ads[0].id;
    let task = |label: &str| {
        format!(
            r#"{{"data": {{"id": "{id}", "text": "a ] }} \" [ {{ \\"}}, "annotations": [{{"result": [{{"type": "choices", "value": {{"choices": ["{label}"]}}}}]}}]}}"#
        )
    };
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        ("empty.json", b"".to_vec(), vec!["empty.json:1: the file is empty"]),
        ("scalar.json", format!("[\n{},\n42,\n\"x\"]", task("benign")).into_bytes(), vec!["scalar.json:3: expected a task (a JSON object), found a number", "scalar.json:4: expected a task (a JSON object), found a string"]),
        ("cut.json", format!("[\n{},\n{{\"data\":\n {{\"text\": \"unterminated", task("benign")).into_bytes(), vec!["cut.json:4: malformed JSON"]),
        ("trailing.json", format!("[{}]\n\ngarbage", task("benign")).into_bytes(), vec!["trailing.json:3: content after the closing `]`"]),
        ("nocomma.json", format!("[{}\n{}]", task("benign"), task("spam")).into_bytes(), vec!["nocomma.json:2: expected `,` or `]`", "nocomma.json:2: field `annotations[0].result`: unknown label"]),
        ("utf8.json", [b"[\n".as_slice(), b"{\"data\": {\"text\": \"\xff\xfe\"}}]"].concat(), vec!["utf8.json:2: malformed JSON"]),
        ("deep.json", format!("[\n{}]", "[".repeat(100_000)).into_bytes(), vec!["deep.json:2: malformed JSON"]),
        ("open.json", format!("[\n{},\n", task("benign")).into_bytes(), vec!["open.json:2: the file ends before the closing `]`"]),
        ("commas.json", format!("[{},,{},]", task("benign"), task("benign")).into_bytes(), vec!["commas.json:1: an empty entry", "commas.json:1: a `,` with no task after it"]),
        ("noresult.json", format!("[{{\"data\": {{\"id\": \"{id}\"}}, \"annotations\": [{{\"result\": [{{\"type\": \"labels\"}}]}}]}}]").into_bytes(), vec!["noresult.json:1: field `annotations[0].result`: no `choices` answer"]),
    ];
    let before = snapshot(&store);
    for (name, content, wants) in cases {
        let path = file(dir.path(), name, &content);
        let o = LabelImportOptions { format: Some(LabelFormat::LabelStudio), ..opts(&cfg, "bob") };
        let err = import_labels(&mut store, &path, &o).unwrap_err().to_string();
        for want in wants {
            assert!(err.contains(want), "{name}: {err:?} should contain {want:?}");
        }
        assert_eq!(snapshot(&store), before, "{name}");
    }
    // The tricky-but-valid task (brackets and escaped quotes in a string) imports, also as a
    // bare stream of tasks without the array.
    let path = file(
        dir.path(),
        "stream.json",
        format!("{}\n{}\n", task("benign"), task("benign")).as_bytes(),
    );
    let rep = import(
        &mut store,
        &path,
        &LabelImportOptions { format: Some(LabelFormat::LabelStudio), ..opts(&cfg, "bob") },
    );
    assert_eq!((rep.imported, rep.duplicates), (1, 1));
}

#[test]
fn export_carries_annotator_time_split_prediction_and_round() {
    let (dir, cfg, mut store, ads) = sample(3);
    let keys: Vec<i64> =
        ads.iter().map(|a| store.item_by_id(&a.id).unwrap().unwrap().key).collect();
    let labels = cfg.label_names();
    let rec = ModelRecord {
        id: 0,
        fingerprint: "fp-1".into(),
        kind: "llm".into(),
        model_path: Some("m.gguf".into()),
        model_sha256: None,
        adapter_path: None,
        adapter_sha256: None,
        prompt_sha256: None,
        labels: labels.clone(),
        few_shot: None,
    };
    let model = store.register_model(&rec).unwrap();
    let preds: Vec<Prediction> = keys
        .iter()
        .map(|&k| Prediction { item: k, probs: vec![0.8, 0.2], truncated: false })
        .collect();
    store.put_predictions(model, &labels, &preds).unwrap();
    store.start_round("zero-shot", None).unwrap();
    let ann = |item, who: &str, kind, label: Option<&str>, note: Option<&str>| Annotation {
        item,
        annotator: who.into(),
        kind,
        label: label.map(str::to_string),
        note: note.map(str::to_string),
        suggestion: None,
    };
    store
        .annotate(&ann(keys[0], "ana", AnnotationKind::Label, Some("clickbait"), Some("hides it")))
        .unwrap();
    store.annotate(&ann(keys[1], "ana", AnnotationKind::Label, Some("benign"), None)).unwrap();
    store.undo("ana").unwrap();
    store.annotate(&ann(keys[0], "bob", AnnotationKind::Label, Some("benign"), None)).unwrap();
    store.annotate(&ann(keys[2], "bob", AnnotationKind::Skip, None, None)).unwrap();
    store
        .annotate(&ann(keys[2], "bob", AnnotationKind::Flag, Some("clickbait"), Some("unsure")))
        .unwrap();
    store
        .annotate(&ann(keys[0], "lead", AnnotationKind::Resolve, Some("clickbait"), None))
        .unwrap();

    let all = exported(&mut store, &cfg, dir.path(), None, SplitChoice::All);
    let kinds: Vec<&str> = all.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["label", "label", "undo", "label", "skip", "flag", "resolve"]);
    let split0 = store.split_of(keys[0]).unwrap().expect("the resolved item has a split").as_str();
    let e = &all[0];
    assert_eq!(
        (e["item_id"].as_str(), e["annotator"].as_str(), e["note"].as_str()),
        (Some(ads[0].id.as_str()), Some("ana"), Some("hides it"))
    );
    assert_eq!(
        (e["split"].as_str(), e["round"].as_i64(), e["current"].as_bool()),
        (Some(split0), Some(1), Some(true))
    );
    assert_eq!(e["prediction"]["label"], "clickbait");
    assert_eq!(e["prediction"]["model"], "fp-1");
    assert_eq!(e["prediction"]["probs"], json!([0.8, 0.2]));
    assert!(e["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!((all[1]["current"].as_bool(), all[1]["split"].as_str()), (Some(false), None)); // undone, never split
    assert_eq!(all[2]["supersedes"], all[1]["event"]);
    // Decisions carry round and prediction; an undo only points at what it undoes.
    assert!(all
        .iter()
        .filter(|e| e["kind"] != "undo")
        .all(|e| e["round"] == 1 && e["prediction"]["label"] == "clickbait"));

    let ana = exported(&mut store, &cfg, dir.path(), Some("ana"), SplitChoice::All);
    assert!(ana.len() == 3 && ana.iter().all(|e| e["annotator"] == "ana"));
    let (want, not) = if split0 == "eval" {
        (SplitChoice::Eval, SplitChoice::Train)
    } else {
        (SplitChoice::Train, SplitChoice::Eval)
    };
    assert_eq!(exported(&mut store, &cfg, dir.path(), None, want).len(), 3); // ana, bob and lead on item 0
    assert!(exported(&mut store, &cfg, dir.path(), None, not).is_empty());

    let out = dir.path().join("events.csv");
    let o = EventExportOptions {
        format: EventFormat::Csv,
        annotator: None,
        split: SplitChoice::All,
        write: Default::default(),
    };
    let rep = export_events(&mut store, &cfg, &o, &out).unwrap();
    assert_eq!((rep.events, rep.items), (7, 3));
    let mut r = csv::Reader::from_path(&out).unwrap();
    assert_eq!(r.headers().unwrap().iter().collect::<Vec<_>>(), hifi::io::labels::CSV_COLUMNS);
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 7);
    assert_eq!(
        (&rows[0][2], &rows[0][3], &rows[0][7], &rows[0][8], &rows[0][11]),
        ("ana", "label", split0, "1", "clickbait")
    );
    assert!(rows[0][12].contains("\"probs\":[0.8,0.2]"));
}

/// Through the binary: detection is announced, a refusal names file:line and the way out,
/// --skip-invalid lists the lines, export writes the file.
#[test]
fn cli_import_export_and_refusal() {
    let (dir, _cfg, store, ads) = sample(3);
    drop(store);
    let good = format!("id,label\n{},{}\n{},{}\n", ads[0].id, ads[0].gold, ads[1].id, ads[1].gold);
    let path = file(dir.path(), "good.csv", good.as_bytes());
    let (ok, out, err) =
        hifi(dir.path(), &["labels", "import", path.to_str().unwrap(), "--annotator", "ana"]);
    assert!(
        ok && out.contains("format: csv (detected") && out.contains("imported 2 labels by ana"),
        "{out}{err}"
    );
    let bad = file(
        dir.path(),
        "bad.csv",
        format!("id,label\n{},spam\n{},benign\n", ads[2].id, ads[2].id).as_bytes(),
    );
    let (ok, _, err) =
        hifi(dir.path(), &["labels", "import", bad.to_str().unwrap(), "--annotator", "ana"]);
    assert!(
        !ok && err.contains("bad.csv:2: field `label`: unknown label")
            && err.contains("--skip-invalid"),
        "{err}"
    );
    let (ok, out, err) = hifi(
        dir.path(),
        &["labels", "import", bad.to_str().unwrap(), "--annotator", "ana", "--skip-invalid"],
    );
    assert!(
        ok && out.contains("imported 1 labels") && out.contains("skipped 1 lines with problems: 2"),
        "{out}{err}"
    );
    let audit = dir.path().join("audit.csv");
    let (ok, out, err) = hifi(
        dir.path(),
        &[
            "labels",
            "export",
            "--format",
            "csv",
            "--annotator",
            "ana",
            "-o",
            audit.to_str().unwrap(),
        ],
    );
    assert!(ok && out.contains("wrote 3 events on 3 items"), "{out}{err}");
    assert_eq!(csv::Reader::from_path(&audit).unwrap().records().count(), 3);
    let (ok, out, _) = hifi(dir.path(), &["labels", "import", "--help"]);
    assert!(ok && out.contains("prodigy db-out") && out.contains("label-studio"), "{out}");
}
