//! Multi-label projects, in and out, through the real binary and store: `hifi label` with a set
//! or `--none` (and `--stdin`), `hifi import --gold` with lists (JSONL, CSV with a separator,
//! Parquet list columns written by pyarrow), `hifi labels import` from Prodigy
//! `textcat_multilabel`, Label Studio multiple choices, Argilla multi-label questions and CSV,
//! and every export (JSONL lists, CSV joined strings, Parquet `list<string>`, chat JSONL with
//! one record per label, a Hugging Face dataset folder) read back by pyarrow and `datasets`.
//! Bad input (an unknown label, a duplicate, a single-label project given several labels) is
//! refused with the item and the line named, and nothing is stored.

mod common;

use std::path::Path;

use common::*;
use hifi::store::Store;
use serde_json::{json, Value};

const LABELS: &str = "Game,Education,Utility";

/// A multi-label project made by `hifi init --multi-label`, holding the apps app-1 … app-6
/// (no gold).
fn multi_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p");
    let out = bin()
        .args(["init", p.to_str().unwrap(), "--labels", LABELS, "--multi-label"])
        .args(["--task", "Which categories describe this desktop application?"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut body = String::new();
    for (i, t) in APPS.iter().enumerate() {
        body.push_str(&format!("{}\n", json!({"id": format!("app-{}", i + 1), "text": t})));
    }
    let f = file(dir.path(), "apps.jsonl", body.as_bytes());
    let (ok, _, err) = hifi(&p, &["import", f.to_str().unwrap()]);
    assert!(ok, "{err}");
    dir
}

const APPS: &[&str] = &[
    "Chess trainer: play against the computer and learn openings.",
    "Periodic table explorer with quizzes for students.",
    "Disk usage analyzer that shows which folders fill your drive.",
    "Typing tutor game with levels and high scores.",
    "Calculator with unit conversion.",
    "Flashcards for learning languages.",
];

fn project_dir(d: &tempfile::TempDir) -> std::path::PathBuf {
    d.path().join("p")
}

/// The label `who` has in force on item `id`, as stored.
fn current(project: &Path, id: &str, who: &str) -> Option<String> {
    let store = Store::open(project).unwrap();
    let key = store.item_by_id(id).unwrap().unwrap().key;
    store.current_label(key, who).unwrap()
}

fn events(project: &Path) -> i64 {
    Store::open(project).unwrap().row_count("annotations").unwrap()
}

#[test]
fn cli_label_records_one_set_event_and_refuses_bad_lists_naming_the_item() {
    let d = multi_project();
    let p = project_dir(&d);
    // Names in any order come back in label-set order; a JSON list works too.
    let (ok, out, err) = hifi(&p, &["label", "app-1", "Education, Game", "--annotator", "ana"]);
    assert!(ok, "{err}");
    assert!(out.contains("labeled app-1 as Game, Education"), "{out}");
    assert_eq!(current(&p, "app-1", "ana").as_deref(), Some(r#"["Game","Education"]"#));
    let (ok, _, err) = hifi(&p, &["label", "app-3", r#"["Utility"]"#, "--annotator", "ana"]);
    assert!(ok, "{err}");
    assert_eq!(current(&p, "app-3", "ana").as_deref(), Some(r#"["Utility"]"#));
    // None of them: an explicit empty set.
    let (ok, out, err) = hifi(&p, &["label", "app-5", "--none", "--annotator", "ana"]);
    assert!(ok, "{err}");
    assert!(out.contains("labeled app-5 as (none)"), "{out}");
    assert_eq!(current(&p, "app-5", "ana").as_deref(), Some("[]"));
    assert_eq!(events(&p), 3);

    // Bad lists: the item is named, nothing is stored.
    for (list, want) in [
        ("Game,Puzzle", "item app-2: unknown label \"Puzzle\" (labels: Game, Education, Utility)"),
        ("Game,Game", "item app-2: label \"Game\" is listed twice"),
        ("Game,,Utility", "item app-2: an empty label name in the list"),
        (r#"["Game", 3]"#, "item app-2: not a JSON list of label names"),
    ] {
        let (ok, _, err) = hifi(&p, &["label", "app-2", list, "--annotator", "ana"]);
        assert!(!ok && err.contains(want), "{list}: {err}");
    }
    let (ok, _, err) = hifi(&p, &["label", "app-99", "Game", "--annotator", "ana"]);
    assert!(!ok && err.contains("no item with id \"app-99\""), "{err}");
    assert_eq!(events(&p), 3);
    assert_eq!(current(&p, "app-2", "ana"), None);

    // A flag with a tentative set.
    let (ok, out, err) =
        hifi(&p, &["label", "app-2", "Game,Utility", "--flag", "--annotator", "bob"]);
    assert!(ok, "{err}");
    assert!(out.contains("(tentatively Game, Utility)"), "{out}");
    assert_eq!(current(&p, "app-2", "bob").as_deref(), Some(r#"["Game","Utility"]"#));

    // A revisit replaces the set; undo brings the old one back.
    let (ok, out, _) = hifi(&p, &["label", "app-1", "Education", "--annotator", "ana"]);
    assert!(ok && out.contains("a revisit"), "{out}");
    assert_eq!(current(&p, "app-1", "ana").as_deref(), Some(r#"["Education"]"#));
    let (ok, out, _) = hifi(&p, &["label", "--undo", "--annotator", "ana"]);
    assert!(ok && out.contains("undid label Education of app-1"), "{out}");
    assert_eq!(current(&p, "app-1", "ana").as_deref(), Some(r#"["Game","Education"]"#));
}

#[test]
fn stdin_lines_take_sets_and_bad_lines_name_item_and_line() {
    let d = multi_project();
    let p = project_dir(&d);
    let before = events(&p);
    let input = "app-1 [\"Game\", \"Utility\"] plays and tools\n\
                 app-2 Education\n\
                 app-3 []\n\
                 app-4 Game,Puzzle\n\
                 app-5 Utility,Utility\n\
                 app-6 Game,Education a note\n";
    let mut child = bin()
        .args(["--project", p.to_str().unwrap(), "label", "--stdin", "--annotator", "cy"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "two lines are bad: {stdout}");
    assert!(stdout.contains("ok 1 app-1 [\"Game\",\"Utility\"]"), "{stdout}");
    assert!(stdout.contains("ok 3 app-3 []"), "{stdout}");
    assert!(!stdout.contains("ok 4") && !stdout.contains("ok 5"), "{stdout}");
    assert!(
        stderr.contains("standard input, line 4: item app-4: unknown label \"Puzzle\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("standard input, line 5: item app-5: label \"Utility\" is listed twice"),
        "{stderr}"
    );
    assert_eq!(events(&p), before + 4);
    assert_eq!(current(&p, "app-4", "cy"), None);
    assert_eq!(current(&p, "app-5", "cy"), None);
    assert_eq!(current(&p, "app-6", "cy").as_deref(), Some(r#"["Game","Education"]"#));
    // The note after a JSON list with spaces is kept.
    let store = Store::open(&p).unwrap();
    let key = store.item_by_id("app-1").unwrap().unwrap().key;
    let ev = store.newest_decision(key, "cy").unwrap().unwrap();
    assert_eq!(ev.note.as_deref(), Some("plays and tools"));
}

#[test]
fn a_single_label_project_refuses_several_labels_everywhere_and_stores_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("p");
    let out = bin()
        .args(["init", p.to_str().unwrap(), "--labels", "clickbait,benign", "--task", "Ads."])
        .output()
        .unwrap();
    assert!(out.status.success());
    let f = file(tmp.path(), "ads.csv", b"id,text\na1,Win big now\na2,Shoes on sale\n");
    assert!(hifi(&p, &["import", f.to_str().unwrap()]).0);
    let before = events(&p);

    let (ok, _, err) = hifi(&p, &["label", "a1", "clickbait,benign", "--annotator", "ana"]);
    assert!(
        !ok && err.contains("item a1: several labels given (clickbait,benign)")
            && err.contains("exactly one label per item"),
        "{err}"
    );
    let (ok, _, err) = hifi(&p, &["label", "a1", "--none", "--annotator", "ana"]);
    assert!(!ok && err.contains("item a1: --none") && err.contains("exactly one label"), "{err}");
    let mut child = bin()
        .args(["--project", p.to_str().unwrap(), "label", "--stdin", "--annotator", "ana"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"a2 [\"benign\",\"clickbait\"]\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("standard input, line 1: item a2: several labels"),
        "{stderr}"
    );
    assert_eq!(events(&p), before);

    // Gold lists and label lists in files: refused with file, line and field.
    let g = file(
        tmp.path(),
        "gold.jsonl",
        b"{\"id\":\"b1\",\"text\":\"x\",\"gold\":\"benign\"}\n{\"id\":\"b2\",\"text\":\"y\",\"gold\":[\"benign\",\"clickbait\"]}\n",
    );
    let (ok, _, err) = hifi(&p, &["import", g.to_str().unwrap()]);
    assert!(
        !ok && err.contains("gold.jsonl:2: field `gold`: a list of labels, but this project takes one label per item"),
        "{err}"
    );
    let l = file(tmp.path(), "labels.csv", b"id,label\na1,benign\na2,\"clickbait,benign\"\n");
    let (ok, _, err) = hifi(&p, &["labels", "import", l.to_str().unwrap(), "--annotator", "ana"]);
    assert!(
        !ok && err.contains("labels.csv:3: field `label`: unknown label \"clickbait,benign\"")
            && err.contains("several labels"),
        "{err}"
    );
    let (ok, _, err) = hifi(&p, &["import", g.to_str().unwrap(), "--label-sep", ";"]);
    assert!(!ok && err.contains("only to multi-label projects"), "{err}");
    let store = Store::open(&p).unwrap();
    assert_eq!(store.row_count("items").unwrap(), 2);
    assert_eq!(events(&p), before);
}

/// The gold column of every item, by id.
fn golds(project: &Path) -> std::collections::BTreeMap<String, Option<String>> {
    let store = Store::open(project).unwrap();
    store.items_page(0, 1000).unwrap().into_iter().map(|i| (i.id, i.gold)).collect()
}

fn fresh_multi() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("p");
    let out = bin()
        .args(["init", p.to_str().unwrap(), "--labels", LABELS, "--multi-label", "--task", "Apps."])
        .output()
        .unwrap();
    assert!(out.status.success());
    (tmp, p)
}

#[test]
fn gold_lists_import_from_jsonl_csv_and_parquet_and_bad_lists_import_nothing() {
    let (tmp, p) = fresh_multi();
    let jsonl = file(
        tmp.path(),
        "apps.jsonl",
        concat!(
            "{\"id\":\"j1\",\"text\":\"Chess\",\"cats\":[\"Game\",\"Education\"]}\n",
            "{\"id\":\"j2\",\"text\":\"Disk\",\"cats\":[\"utility\"]}\n",
            "{\"id\":\"j3\",\"text\":\"Notes\",\"cats\":[]}\n",
            "{\"id\":\"j4\",\"text\":\"Quiz\",\"cats\":\"Education,Game\"}\n",
            "{\"id\":\"j5\",\"text\":\"Unknown\",\"cats\":null}\n",
        )
        .as_bytes(),
    );
    // "utility" is not a label (case matters for gold): the whole file is refused.
    let (ok, _, err) = hifi(&p, &["import", jsonl.to_str().unwrap(), "--gold", "cats"]);
    assert!(!ok && err.contains("apps.jsonl:2: field `cats`: unknown label \"utility\""), "{err}");
    assert!(golds(&p).is_empty());
    let fixed = std::fs::read_to_string(&jsonl).unwrap().replace("\"utility\"", "\"Utility\"");
    std::fs::write(&jsonl, fixed).unwrap();
    let (ok, out, err) = hifi(&p, &["import", jsonl.to_str().unwrap(), "--gold", "cats"]);
    assert!(ok, "{err}");
    assert!(out.contains("4 with gold labels"), "{out}");
    let g = golds(&p);
    assert_eq!(g["j1"].as_deref(), Some(r#"["Game","Education"]"#));
    assert_eq!(g["j2"].as_deref(), Some(r#"["Utility"]"#));
    assert_eq!(g["j3"].as_deref(), Some("[]"));
    assert_eq!(g["j4"].as_deref(), Some(r#"["Game","Education"]"#));
    assert_eq!(g["j5"], None);

    // CSV: names joined by a separator, or a JSON-array string; duplicates refused.
    let csv = file(
        tmp.path(),
        "apps.csv",
        b"id,text,gold\nc1,Chess,Game;Education\nc2,Disk,\"[\"\"Utility\"\"]\"\nc3,Quiz,Education;Education\n",
    );
    let (ok, _, err) = hifi(&p, &["import", csv.to_str().unwrap(), "--label-sep", ";"]);
    assert!(
        !ok && err.contains("apps.csv:4: field `gold`: label \"Education\" is listed twice"),
        "{err}"
    );
    assert!(!golds(&p).contains_key("c1"), "nothing from a refused file");
    let fixed = std::fs::read_to_string(&csv).unwrap().replace("Education;Education", "Education");
    std::fs::write(&csv, fixed).unwrap();
    let (ok, _, err) = hifi(&p, &["import", csv.to_str().unwrap(), "--label-sep", ";"]);
    assert!(ok, "{err}");
    let g = golds(&p);
    assert_eq!(g["c1"].as_deref(), Some(r#"["Game","Education"]"#));
    assert_eq!(g["c2"].as_deref(), Some(r#"["Utility"]"#));
    assert_eq!(g["c3"].as_deref(), Some(r#"["Education"]"#));

    // Parquet written by pyarrow with a list<string> gold column.
    let pq = tmp.path().join("apps.parquet");
    let script = r#"
import json, sys
import pyarrow as pa, pyarrow.parquet as pq
t = pa.table({
    "id": ["p1", "p2", "p3"],
    "text": ["Chess", "Disk", "Notes"],
    "gold": pa.array([["Education", "Game"], ["Utility"], []], type=pa.list_(pa.string())),
})
pq.write_table(t, sys.argv[1])
print(json.dumps({"rows": t.num_rows}))
"#;
    run_consumers_python(script, &[pq.to_str().unwrap()], tmp.path());
    let (ok, _, err) = hifi(&p, &["import", pq.to_str().unwrap()]);
    assert!(ok, "{err}");
    let g = golds(&p);
    assert_eq!(g["p1"].as_deref(), Some(r#"["Game","Education"]"#));
    assert_eq!(g["p2"].as_deref(), Some(r#"["Utility"]"#));
    assert_eq!(g["p3"].as_deref(), Some("[]"));
}

/// Write `name` in `dir` and import it as `who`'s labels through the CLI.
fn labels_import(
    p: &Path,
    dir: &Path,
    name: &str,
    body: &[u8],
    who: &str,
    extra: &[&str],
) -> String {
    let f = file(dir, name, body);
    let mut args = vec!["labels", "import", f.to_str().unwrap(), "--annotator", who];
    args.extend_from_slice(extra);
    let (ok, out, err) = hifi(p, &args);
    assert!(ok, "{name}: {out}{err}");
    out
}

#[test]
fn label_imports_from_prodigy_label_studio_argilla_and_csv_store_one_set_event_each() {
    let d = multi_project();
    let p = project_dir(&d);
    let dir = d.path();
    let options = json!([
        {"id": "GAME", "text": "Game"},
        {"id": "EDU", "text": "Education"},
        {"id": "UTIL", "text": "Utility"}
    ]);
    // Prodigy textcat_multilabel (choice_style multiple): the accepted options apply; an
    // accepted answer with nothing ticked is none of them; ignore is not labeled.
    let prodigy = [
        json!({"text": APPS[0], "options": options, "accept": ["GAME", "EDU"], "answer": "accept", "_view_id": "choice", "config": {"choice_style": "multiple"}, "meta": {"id": "app-1"}}),
        json!({"text": APPS[2], "options": options, "accept": ["UTIL"], "answer": "accept", "_view_id": "choice", "config": {"choice_style": "multiple"}}),
        json!({"text": APPS[4], "options": options, "accept": [], "answer": "accept", "_view_id": "choice", "config": {"choice_style": "multiple"}}),
        json!({"text": APPS[5], "options": options, "accept": ["EDU"], "answer": "ignore", "_view_id": "choice"}),
    ];
    let body: String = prodigy.iter().map(|v| format!("{v}\n")).collect();
    let out = labels_import(&p, dir, "prodigy.jsonl", body.as_bytes(), "pro", &[]);
    assert!(out.contains("format: prodigy"), "{out}");
    assert_eq!(current(&p, "app-1", "pro").as_deref(), Some(r#"["Game","Education"]"#));
    assert_eq!(current(&p, "app-3", "pro").as_deref(), Some(r#"["Utility"]"#));
    assert_eq!(current(&p, "app-5", "pro").as_deref(), Some("[]"));
    assert_eq!(current(&p, "app-6", "pro"), None);

    // Label Studio: a Choices control with choice="multiple"; an annotation with nothing
    // chosen is none of them; a textarea is the note.
    let task = |id: &str, choices: Value, note: Option<&str>| {
        let mut result = Vec::new();
        if choices != Value::Null {
            result.push(json!({"value": {"choices": choices}, "id": "r1", "from_name": "category", "to_name": "text", "type": "choices", "origin": "manual"}));
        }
        if let Some(n) = note {
            result.push(json!({"value": {"text": [n]}, "id": "r2", "from_name": "note", "to_name": "text", "type": "textarea"}));
        }
        json!({"id": 7, "data": {"id": id, "text": "…"}, "annotations": [{"id": 1, "completed_by": 1, "result": result, "was_cancelled": false}]})
    };
    let ls = json!([
        task("app-2", json!(["Education", "Game"]), Some("a quiz")),
        task("app-4", json!(["Game"]), None),
        task("app-6", Value::Null, None),
    ]);
    labels_import(
        &p,
        dir,
        "ls.json",
        serde_json::to_string_pretty(&ls).unwrap().as_bytes(),
        "lsa",
        &[],
    );
    assert_eq!(current(&p, "app-2", "lsa").as_deref(), Some(r#"["Game","Education"]"#));
    assert_eq!(current(&p, "app-4", "lsa").as_deref(), Some(r#"["Game"]"#));
    assert_eq!(current(&p, "app-6", "lsa").as_deref(), Some("[]"));

    // Argilla v2: a multi-label question's value is a list (two annotators who agree).
    let argilla = [
        json!({"id": "app-1", "fields": {"text": APPS[0]}, "responses": {"category": [{"value": ["Game", "Education"], "user_id": "u1", "status": "submitted"}, {"value": ["Education", "Game"], "user_id": "u2", "status": "submitted"}]}, "status": "completed"}),
        json!({"id": "app-3", "fields": {"text": APPS[2]}, "responses": {"category": [{"value": [], "user_id": "u1", "status": "submitted"}]}, "status": "completed"}),
        json!({"id": "app-5", "fields": {"text": APPS[4]}, "responses": {}, "status": "pending"}),
    ];
    let body: String = argilla.iter().map(|v| format!("{v}\n")).collect();
    let out =
        labels_import(&p, dir, "argilla.jsonl", body.as_bytes(), "arg", &["--label", "category"]);
    assert!(out.contains("format: argilla"), "{out}");
    assert_eq!(current(&p, "app-1", "arg").as_deref(), Some(r#"["Game","Education"]"#));
    assert_eq!(current(&p, "app-3", "arg").as_deref(), Some("[]"));
    // Argilla 1.x text classification with multi_label: `annotation` is a list.
    let v1 = json!({"text": APPS[3], "id": "app-4", "annotation": ["Game", "Education"], "multi_label": true, "status": "Validated"});
    labels_import(&p, dir, "argilla1.jsonl", format!("{v1}\n").as_bytes(), "arg1", &[]);
    assert_eq!(current(&p, "app-4", "arg1").as_deref(), Some(r#"["Game","Education"]"#));

    // CSV with a separator column; `[]` is none of them, an empty cell not labeled.
    let csv = b"id,categories,note\napp-1,Game|Utility,\napp-2,[],nothing fits\napp-3,,\n";
    labels_import(
        &p,
        dir,
        "sheet.csv",
        csv,
        "sheet",
        &["--label", "categories", "--label-sep", "|"],
    );
    assert_eq!(current(&p, "app-1", "sheet").as_deref(), Some(r#"["Game","Utility"]"#));
    assert_eq!(current(&p, "app-2", "sheet").as_deref(), Some("[]"));
    assert_eq!(current(&p, "app-3", "sheet"), None);
    // Importing the same sets again (in another order) changes nothing.
    let again = b"id,categories\napp-1,Utility|Game\n";
    let out = labels_import(
        &p,
        dir,
        "again.csv",
        again,
        "sheet",
        &["--label", "categories", "--label-sep", "|", "--json"],
    );
    let rep: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((rep["imported"].as_u64(), rep["unchanged"].as_u64()), (Some(0), Some(1)), "{rep}");
}

#[test]
fn bad_label_lists_in_label_files_refuse_the_file_naming_line_and_item() {
    let d = multi_project();
    let p = project_dir(&d);
    let dir = d.path();
    let before = events(&p);
    let options = json!([{"id": "GAME", "text": "Game"}, {"id": "EDU", "text": "Education"}]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "unknown.jsonl",
            format!(
                "{}\n{}\n",
                json!({"text": APPS[0], "options": options, "accept": ["GAME"], "answer": "accept"}),
                json!({"text": APPS[1], "options": options, "accept": ["EDU", "PUZZLE"], "answer": "accept", "meta": {"id": "app-2"}})
            )
            .into_bytes(),
            "unknown.jsonl:2: field `accept`: unknown label \"PUZZLE\" in the list (item \"app-2\")",
        ),
        (
            "dup.csv",
            b"id,label\napp-1,Game\napp-2,\"Game,game\"\n".to_vec(),
            "dup.csv:3: field `label`: label \"Game\" is listed twice (item \"app-2\")",
        ),
        (
            "binary.jsonl",
            format!("{}\n", json!({"text": APPS[0], "label": "Game", "answer": "accept"})).into_bytes(),
            "binary.jsonl:1: field `label`: a binary answer says whether one label applies",
        ),
        (
            "ls.json",
            serde_json::to_vec(&json!([{"data": {"id": "app-3", "text": "x"}, "annotations": [{"result": [{"type": "choices", "from_name": "c", "value": {"choices": ["Utility", "Toys"]}}]}]}])).unwrap(),
            "ls.json:1: field `annotations[0].result`: unknown label \"Toys\" in the list (item \"app-3\")",
        ),
    ];
    for (name, body, want) in cases {
        let f = file(dir, name, &body);
        let (ok, _, err) =
            hifi(&p, &["labels", "import", f.to_str().unwrap(), "--annotator", "ana"]);
        assert!(!ok && err.contains(want), "{name}: {err}");
        assert!(err.contains("fix these lines"), "{name}: {err}");
        assert_eq!(events(&p), before, "{name}: nothing stored");
    }
}

/// Label app-1 … app-5 through the CLI (two annotators agree on app-1).
fn labeled_project() -> tempfile::TempDir {
    let d = multi_project();
    let p = project_dir(&d);
    for (id, set) in [
        ("app-1", "Game,Education"),
        ("app-2", "Education"),
        ("app-3", "Utility"),
        ("app-4", "Game,Education"),
        ("app-6", "Education"),
    ] {
        let (ok, _, err) = hifi(&p, &["label", id, set, "--annotator", "ana"]);
        assert!(ok, "{err}");
    }
    let (ok, _, err) = hifi(&p, &["label", "app-5", "--none", "--annotator", "ana"]);
    assert!(ok, "{err}");
    let (ok, _, err) = hifi(&p, &["label", "app-1", "Education,Game", "--annotator", "bob"]);
    assert!(ok, "{err}");
    d
}

#[test]
fn exports_write_lists_joined_strings_list_columns_and_one_chat_record_per_label() {
    let d = labeled_project();
    let p = project_dir(&d);
    let dir = d.path();
    let want: std::collections::BTreeMap<&str, Vec<&str>> = [
        ("app-1", vec!["Game", "Education"]),
        ("app-2", vec!["Education"]),
        ("app-3", vec!["Utility"]),
        ("app-4", vec!["Game", "Education"]),
        ("app-5", vec![]),
        ("app-6", vec!["Education"]),
    ]
    .into_iter()
    .collect();

    // JSONL: the label is a list.
    let out = dir.join("all.jsonl");
    let (ok, _, err) = hifi(&p, &["export", "--split", "all", "-o", out.to_str().unwrap()]);
    assert!(ok, "{err}");
    let rows: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 6);
    for r in &rows {
        let got: Vec<&str> =
            r["label"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(got, want[r["id"].as_str().unwrap()], "{r}");
    }

    // CSV: a joined string, with the separator asked for.
    let out = dir.join("all.csv");
    let (ok, _, err) = hifi(
        &p,
        &[
            "export",
            "--format",
            "csv",
            "--split",
            "all",
            "--label-sep",
            "|",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    let mut r = csv::Reader::from_path(&out).unwrap();
    for rec in r.records().map(Result::unwrap) {
        assert_eq!(&rec[2], want[&rec[0]].join("|").as_str(), "{rec:?}");
    }

    // Parquet: a list<string> column, as pyarrow and pandas read it.
    let out = dir.join("all.parquet");
    let (ok, _, err) =
        hifi(&p, &["export", "--format", "parquet", "--split", "all", "-o", out.to_str().unwrap()]);
    assert!(ok, "{err}");
    let script = r#"
import json, sys
import pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
print(json.dumps({"type": str(t.schema.field("label").type), "rows": {r["id"]: r["label"] for r in t.to_pylist()}}))
"#;
    let v = run_consumers_python(script, &[out.to_str().unwrap()], dir);
    assert_eq!(v["type"], "list<element: string>", "{v}");
    for (id, set) in &want {
        assert_eq!(v["rows"][id], json!(set), "{id}: {v}");
    }

    // Chat JSONL: one record per item and label, each answering about one label in the
    // format the prompt states; `datasets` loads it as conversations.
    let out = dir.join("chat.jsonl");
    let (ok, _, err) = hifi(
        &p,
        &["export", "--format", "chat-jsonl", "--split", "all", "-o", out.to_str().unwrap()],
    );
    assert!(ok, "{err}");
    let recs: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 6 * 3);
    let answers: Vec<&str> =
        recs.iter().map(|r| r["messages"][2]["content"].as_str().unwrap()).collect();
    assert_eq!(answers.iter().filter(|a| a.ends_with(": yes")).count(), 7);
    assert_eq!(answers.iter().filter(|a| a.ends_with(": no")).count(), 11);
    // In label-set order for each item: app-5 (none of them) answers no three times.
    let app1: Vec<&str> = answers[..3].to_vec();
    assert!(
        app1.iter().all(|a| a.starts_with("Game:")
            || a.starts_with("Education:")
            || a.starts_with("Utility:")),
        "{app1:?}"
    );
    let system = recs[0]["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("Any number of these labels may apply"), "{system}");
    let v = load_with_datasets(&out, &["messages"], dir);
    assert_eq!(v["rows"], 18, "{v}");

    // A Hugging Face dataset folder: `datasets` loads the label as a list of strings.
    let ds = dir.join("ds");
    let (ok, _, err) = hifi(&p, &["export", "--format", "hf-dataset", "-o", ds.to_str().unwrap()]);
    assert!(ok, "{err}");
    let script = r#"
import json, sys
import datasets
d = datasets.load_dataset(sys.argv[1])
rows = {}
for split in d:
    for r in d[split]:
        rows[r["id"]] = r["label"]
print(json.dumps({"feature": str(d[list(d)[0]].features["label"]), "rows": rows}))
"#;
    let v = run_consumers_python(script, &[ds.to_str().unwrap()], dir);
    assert!(v["feature"].as_str().unwrap().contains("string"), "{v}");
    for (id, set) in &want {
        assert_eq!(v["rows"][id], json!(set), "{id}: {v}");
    }
    let card = std::fs::read_to_string(ds.join("README.md")).unwrap();
    assert!(card.contains("the list of labels that apply"), "{card}");

    // `hifi labels export` keeps the events as given: the set's stored JSON text.
    let out = dir.join("events.jsonl");
    let (ok, _, err) = hifi(&p, &["labels", "export", "-o", out.to_str().unwrap()]);
    assert!(ok, "{err}");
    let ev: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ev.len(), 7);
    let bob: Vec<&Value> = ev.iter().filter(|e| e["annotator"] == "bob").collect();
    assert_eq!(bob.len(), 1);
    assert_eq!(bob[0]["label"], r#"["Game","Education"]"#);
    let none: Vec<&Value> = ev.iter().filter(|e| e["item_id"] == "app-5").collect();
    assert_eq!(none[0]["label"], "[]");
    // Bob's events import again as the same set: nothing new.
    let out = dir.join("bob.jsonl");
    let (ok, _, err) =
        hifi(&p, &["labels", "export", "--annotator", "bob", "-o", out.to_str().unwrap()]);
    assert!(ok, "{err}");
    let (ok, got, err) = hifi(
        &p,
        &[
            "labels",
            "import",
            out.to_str().unwrap(),
            "--format",
            "jsonl",
            "--id",
            "item_id",
            "--annotator",
            "bob",
            "--json",
        ],
    );
    assert!(ok, "{got}{err}");
    let rep: Value = serde_json::from_str(&got).unwrap();
    assert_eq!((rep["imported"].as_u64(), rep["unchanged"].as_u64()), (Some(0), Some(1)), "{rep}");
}
