//! Import and export: round trips and every kind of bad input, through the library and the CLI.

mod common;

use common::*;
use hifi::io::export::{export, ExportFormat, SplitChoice};
use hifi::io::import::{import_items, ImportError, ImportOptions};
use hifi::progress::{CancelToken, Silent};
use hifi::store::{Annotation, AnnotationKind, Store};

fn opts(labels: &[&str]) -> ImportOptions {
    ImportOptions {
        labels: labels.iter().map(|s| s.to_string()).collect(),
        ..ImportOptions::default()
    }
}

fn import(
    store: &mut Store,
    path: &std::path::Path,
) -> Result<hifi::io::import::ImportReport, ImportError> {
    import_items(store, path, &opts(&["clickbait", "benign"]), &mut Silent, &CancelToken::new())
}

const TRICKY: &[(&str, &str)] = &[
    ("a1", "Plain headline\nSecond line, with a comma"),
    ("a2", "She said \"you won't believe it\" — then left"),
    ("a3", "Ünïcödé café 新しい製品 €5"),
    ("a4", "tab\there and a trailing space "),
];

#[test]
fn csv_round_trip_keeps_text_exactly() {
    let (dir, cfg, mut store) = project();
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["id", "text", "gold", "source"]).unwrap();
    for (id, t) in TRICKY {
        w.write_record([id, t, "benign", "unit"]).unwrap();
    }
    let path = file(dir.path(), "in.csv", &w.into_inner().unwrap());
    let rep = import(&mut store, &path).unwrap();
    assert_eq!(rep.rows, TRICKY.len() as u64);
    assert_eq!(rep.with_gold, TRICKY.len() as u64);
    for (id, t) in TRICKY {
        let item = store.item_by_id(id).unwrap().unwrap();
        assert_eq!(&item.text, t);
        assert_eq!(item.gold.as_deref(), Some("benign"));
        assert_eq!(item.meta.as_deref(), Some(r#"{"source":"unit"}"#));
    }
    // Label everything, export all as CSV and as JSONL; texts come back byte for byte.
    for (id, _) in TRICKY {
        let key = store.item_by_id(id).unwrap().unwrap().key;
        store
            .annotate(&Annotation {
                item: key,
                annotator: "ana".into(),
                kind: AnnotationKind::Label,
                label: Some("benign".into()),
                note: None,
                suggestion: None,
            })
            .unwrap();
    }
    let out = dir.path().join("out.csv");
    let rep =
        export(&mut store, &cfg, ExportFormat::Csv, SplitChoice::All, &out, Default::default())
            .unwrap();
    assert_eq!(rep.rows, TRICKY.len());
    let mut r = csv::Reader::from_path(&out).unwrap();
    let mut got: Vec<(String, String)> =
        r.records().map(|r| r.unwrap()).map(|r| (r[0].to_string(), r[1].to_string())).collect();
    got.sort();
    let want: Vec<(String, String)> =
        TRICKY.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    assert_eq!(got, want);

    // The CSV export imports again into a fresh project, identically.
    let (_d2, _c2, mut s2) = project();
    let back = import_items(
        &mut s2,
        &out,
        &ImportOptions { gold_field: Some("label".into()), ..opts(&["clickbait", "benign"]) },
        &mut Silent,
        &CancelToken::new(),
    )
    .unwrap();
    assert_eq!(back.rows, TRICKY.len() as u64);
    for (id, t) in TRICKY {
        assert_eq!(&s2.item_by_id(id).unwrap().unwrap().text, t);
    }
}

#[test]
fn jsonl_round_trip_with_metadata_and_generated_ids() {
    let (dir, cfg, mut store) = project();
    let mut body = String::new();
    for (_, t) in TRICKY {
        body.push_str(&serde_json::json!({"text": t, "score": 3, "tags": ["x"]}).to_string());
        body.push('\n');
    }
    body.push('\n'); // blank lines are fine
    let path = file(dir.path(), "pool.jsonl", body.as_bytes());
    let rep = import(&mut store, &path).unwrap();
    assert!(rep.generated_ids);
    let first = store.item_by_id("pool-1").unwrap().unwrap();
    assert_eq!(first.text, TRICKY[0].1);
    assert_eq!(first.meta.as_deref(), Some(r#"{"score":3,"tags":["x"]}"#));
    store
        .annotate(&Annotation {
            item: first.key,
            annotator: "ana".into(),
            kind: AnnotationKind::Label,
            label: Some("clickbait".into()),
            note: None,
            suggestion: None,
        })
        .unwrap();
    let out = dir.path().join("out.jsonl");
    export(&mut store, &cfg, ExportFormat::Jsonl, SplitChoice::All, &out, Default::default())
        .unwrap();
    let line = std::fs::read_to_string(&out).unwrap();
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(v["id"], "pool-1");
    assert_eq!(v["text"], TRICKY[0].1);
    assert_eq!(v["label"], "clickbait");
    assert_eq!(v["meta"]["score"], 3);
}

/// Each bad file is refused whole, names file, line and field, and leaves the store as it was.
#[test]
fn bad_input_is_reported_and_nothing_is_imported() {
    let (dir, _cfg, mut store) = project();
    let good = file(dir.path(), "good.csv", b"id,text\nx1,fine\n");
    import(&mut store, &good).unwrap();
    let before = snapshot(&store);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "ragged.csv",
            b"id,text\nb1,ok\nb2,too,many\n".to_vec(),
            ":3: malformed row: 3 fields where the header has 2",
        ),
        ("missing.csv", b"id,body\nb1,hello\n".to_vec(), ":2: field `text`: missing"),
        (
            "empty_text.csv",
            b"id,text\nb1,ok\nb2,  \n".to_vec(),
            ":3: field `text`: the text is empty",
        ),
        (
            "utf8.csv",
            b"id,text\nb1,ok\nb2,bad \xff byte\n".to_vec(),
            ":3: field `text`: invalid UTF-8",
        ),
        (
            "dup.csv",
            b"id,text\nb1,one\nb1,two\n".to_vec(),
            ":3: field `id`: duplicate id \"b1\": line 2 of this file has it too",
        ),
        (
            "dup_store.csv",
            b"id,text\nx1,again\n".to_vec(),
            ":2: field `id`: duplicate id \"x1\": already in the project",
        ),
        (
            "gold.csv",
            b"id,text,gold\nb1,ok,spam\n".to_vec(),
            ":2: field `gold`: unknown label \"spam\"",
        ),
        (
            "broken.jsonl",
            b"{\"id\":\"j1\",\"text\":\"ok\"}\n{\"id\":\"j2\",\"text\":\n".to_vec(),
            ":2: malformed JSON",
        ),
        ("array.jsonl", b"[1,2]\n".to_vec(), ":1: expected a JSON object, found an array"),
        (
            "num.jsonl",
            b"{\"id\":\"j1\",\"text\":5}\n".to_vec(),
            ":1: field `text`: expected a string, found a number",
        ),
        (
            "utf8.jsonl",
            b"{\"id\":\"j1\",\"text\":\"ok\"}\n{\"id\":\"j2\",\"text\":\"\xc3\x28\"}\n".to_vec(),
            ":2: invalid UTF-8",
        ),
        ("empty.csv", b"".to_vec(), "empty or has no header"),
        ("header_only.csv", b"id,text\n".to_vec(), "no rows to import"),
    ];
    for (name, body, want) in cases {
        let path = file(dir.path(), name, &body);
        let err = import(&mut store, &path).expect_err(name).to_string();
        assert!(err.contains(&format!("{name}{want}")) || err.contains(want), "{name}: {err}");
        assert!(err.contains("nothing was imported"), "{name}: {err}");
        assert_eq!(snapshot(&store), before, "{name} changed the store");
    }
    let err = import(&mut store, &dir.path().join("absent.csv")).unwrap_err().to_string();
    assert!(err.contains("absent.csv") && err.contains("cannot read"), "{err}");
    let err = import(&mut store, &file(dir.path(), "x.txt", b"a")).unwrap_err().to_string();
    assert!(err.contains("--format"), "{err}");
}

#[test]
fn many_problems_are_all_reported_with_lines() {
    let (dir, _cfg, mut store) = project();
    let mut body = String::from("id,text\n");
    for i in 0..5 {
        body.push_str(&format!("r{i},\n"));
    }
    let err =
        import(&mut store, &file(dir.path(), "e.csv", body.as_bytes())).unwrap_err().to_string();
    for line in 2..=6 {
        assert!(err.contains(&format!("e.csv:{line}: field `text`")), "{err}");
    }
}

#[test]
fn eval_items_never_exported_as_train_and_chat_export_uses_the_prompt() {
    let (dir, cfg, mut store) = project();
    let mut body = String::from("id,text\n");
    for i in 0..40 {
        body.push_str(&format!("i{i},ad number {i}\n"));
    }
    import(&mut store, &file(dir.path(), "p.csv", body.as_bytes())).unwrap();
    for i in 0..40 {
        let key = store.item_by_id(&format!("i{i}")).unwrap().unwrap().key;
        let label = if i % 3 == 0 { "clickbait" } else { "benign" };
        store
            .annotate(&Annotation {
                item: key,
                annotator: "ana".into(),
                kind: AnnotationKind::Label,
                label: Some(label.into()),
                note: None,
                suggestion: None,
            })
            .unwrap();
    }
    let train = dir.path().join("train.jsonl");
    let eval = dir.path().join("eval.jsonl");
    let r1 = export(
        &mut store,
        &cfg,
        ExportFormat::ChatJsonl,
        SplitChoice::Train,
        &train,
        Default::default(),
    )
    .unwrap();
    let r2 =
        export(&mut store, &cfg, ExportFormat::Jsonl, SplitChoice::Eval, &eval, Default::default())
            .unwrap();
    assert_eq!(r1.rows + r2.rows, 40);
    assert!(r2.rows >= 10 && r2.rows <= 14, "eval share ~30%: {}", r2.rows);
    let eval_texts: Vec<String> = std::fs::read_to_string(&eval)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let train_text = std::fs::read_to_string(&train).unwrap();
    for l in train_text.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let m = v["messages"].as_array().unwrap();
        assert_eq!(m[0]["role"], "system");
        assert_eq!(m[0]["content"], hifi::llm::prompt::system_message(&cfg, &[]));
        let user = m[1]["content"].as_str().unwrap();
        assert!(
            !eval_texts.iter().any(|t| user.contains(&format!("{t}\n"))),
            "an eval item was exported as train"
        );
        assert!(["clickbait", "benign"].contains(&m[2]["content"].as_str().unwrap()));
    }
    // Stratified: both labels appear in eval.
    let ev = std::fs::read_to_string(&eval).unwrap();
    assert!(ev.contains("\"clickbait\"") && ev.contains("\"benign\""));
    // Sticky: a second export gives the same eval set.
    let eval2 = dir.path().join("eval2.jsonl");
    export(&mut store, &cfg, ExportFormat::Jsonl, SplitChoice::Eval, &eval2, Default::default())
        .unwrap();
    assert_eq!(std::fs::read_to_string(&eval2).unwrap(), ev);
}

#[test]
fn cli_init_import_status_export() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("demo");
    let labels = repo().join("sample-data/labels.toml");
    let (ok, out, err) =
        hifi(tmp.path(), &["init", p.to_str().unwrap(), "--from", labels.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    let (ok, out, err) =
        hifi(&p, &["import", repo().join("sample-data/ads.csv").to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("imported"), "{out}");
    let (ok, out, err) = hifi(&p, &["status", "--json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["items"].as_i64().unwrap() >= 1000);
    assert_eq!(v["items"], v["items_with_gold"]);
    // A second import of the same file is refused and changes nothing.
    let (ok, _, err) = hifi(&p, &["import", repo().join("sample-data/ads.csv").to_str().unwrap()]);
    assert!(!ok && err.contains("duplicate id") && err.contains("nothing was imported"), "{err}");
    let (_, out2, _) = hifi(&p, &["status", "--json"]);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out2).unwrap()["items"], v["items"]);
    // init refuses to overwrite; bad label names are refused.
    let (ok, _, err) =
        hifi(tmp.path(), &["init", p.to_str().unwrap(), "--labels", "a,b", "--task", "t"]);
    assert!(!ok && err.contains("already a hifi project"), "{err}");
    let (ok, _, err) = hifi(tmp.path(), &["init", "x", "--labels", "a", "--task", "t"]);
    assert!(!ok && err.contains("at least two labels"), "{err}");
    // A command outside a project says so.
    let (ok, _, err) = hifi(tmp.path(), &["status"]);
    assert!(
        !ok && err.contains("not a hifi project: no hifi.toml in")
            && err.contains("hifi init DIR")
            && err.matches("os error").count() == 0,
        "{err}"
    );
}

#[test]
fn help_teaches() {
    let out = bin().arg("--help").output().unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("Quick start") && s.contains("--project"), "{s}");
    let out = bin().args(["import", "--help"]).output().unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    let flat = s.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("nothing from the file is imported") && s.contains("--text"), "{s}");
}

#[test]
fn a_set_exports_with_its_system_message_and_without_eval_items() {
    let (dir, cfg, mut store) = project();
    let p = file(dir.path(), "q.jsonl", b"{\"id\": \"q1\", \"text\": \"What is 2+2?\"}\n{\"id\": \"q2\", \"text\": \"What is 3+3?\"}\n");
    import(&mut store, &p).unwrap();
    let k = |s: &Store, id: &str| s.item_by_id(id).unwrap().unwrap().key;
    let entries: Vec<hifi::store::NewSelectionEntry> = [("q1", "4"), ("q2", "6")]
        .iter()
        .map(|(id, r)| hifi::store::NewSelectionEntry {
            item: k(&store, id),
            response: Some(r.to_string()),
            score: Some(1.0),
            reasons: serde_json::json!({"iteration": 1}),
        })
        .collect();
    let params = serde_json::json!({"params": {"system": "Answer with a number."}, "iteration": 1});
    let id = store
        .save_selection(
            hifi::store::SelectionKind::SelfTrain,
            &params,
            &serde_json::json!({}),
            &entries,
        )
        .unwrap();
    // q2 lands in the eval split: it must not be exported as training data.
    let q2 = k(&store, "q2");
    store
        .annotate(&Annotation {
            item: q2,
            annotator: "ana".into(),
            kind: AnnotationKind::Label,
            label: Some("benign".into()),
            note: None,
            suggestion: None,
        })
        .unwrap();
    store.assign_splits(1.0, &Default::default()).unwrap();
    assert_eq!(store.split_of(q2).unwrap(), Some(hifi::store::Split::Eval));
    let sel = store.selection(id).unwrap().unwrap();
    let out = dir.path().join("set.jsonl");
    let rep = hifi::io::export::export_selection(
        &mut store,
        &sel,
        ExportFormat::ChatJsonl,
        &out,
        Default::default(),
    )
    .unwrap();
    assert_eq!((rep.rows, rep.eval, rep.vetoed), (1, 1, 0));
    let row: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&out).unwrap().trim()).unwrap();
    let roles: Vec<&str> =
        row["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user", "assistant"]);
    assert_eq!(row["messages"][0]["content"], "Answer with a number.");
    assert_eq!(row["messages"][2]["content"], "4");
    assert_eq!(row["provenance"]["kind"], "self-train");
    let _ = cfg;
}
