//! Candidate responses out of the store, measured: judged through `hifi responses`, exported as
//! chat JSONL and as preference pairs (loaded by Hugging Face `datasets`, as TRL's trainers
//! read them), audited through `hifi labels export`, and summed up by `hifi report`.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use hifi::store::{
    Annotation, AnnotationKind, NewItem, NewResponse, NewSelectionEntry, SelectionKind, Store,
    StoreError,
};
use serde_json::{json, Value};

/// (id, prompt, context, [(response, source, origin)])
type Item =
    (&'static str, &'static str, Option<Value>, Vec<(&'static str, &'static str, Option<Value>)>);

fn items() -> Vec<Item> {
    let sys = || Some(json!([{"role": "system", "content": "Answer briefly."}]));
    let imp = |t: &'static str| (t, "import", Some(json!({"file": "chat.jsonl"})));
    let limo = |t: &'static str| (t, "limo", Some(json!({"selection": 3, "model": "m"})));
    vec![
        ("q1", "What is 2+2?", sys(), vec![imp("4"), imp("5")]),
        (
            "q2",
            "Capital of France?",
            Some(json!([
                {"role": "system", "content": "You are a geography tutor."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello! Ask away."}
            ])),
            vec![imp("Paris."), imp("Lyon.")],
        ),
        ("q3", "Name a prime.", None, vec![imp("9"), imp("15")]),
        ("q4", "Colour of a clear sky?", sys(), vec![imp("Blue."), imp("Azure.")]),
        ("q5", "What is 3+3?", sys(), vec![imp("6"), imp("7")]),
        ("q6", "Is water wet?", None, vec![imp("Yes."), imp("It depends.")]),
        ("q7", "Say hello.", None, vec![imp("Hello.")]),
        (
            "q8",
            "Explain rain.",
            None,
            vec![limo("Water vapour condenses and falls."), limo("Clouds.")],
        ),
        ("q9", "Pick a fruit.", None, vec![imp("Apple."), imp("Pear.")]),
    ]
}

/// A project (made by `hifi init`) holding `items()`; q5 is labeled and in the eval split.
fn project_with_responses() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("sft");
    let (ok, out, err) = hifi(
        tmp.path(),
        &["init", p.to_str().unwrap(), "--labels", "good,bad", "--task", "Answer questions."],
    );
    assert!(ok, "{out}{err}");
    let mut store = Store::open(&p).unwrap();
    store
        .import("chat.jsonl", "jsonl", |imp| -> Result<u64, StoreError> {
            for (line, (id, text, context, responses)) in items().into_iter().enumerate() {
                imp.add(&NewItem {
                    id: id.into(),
                    text: text.into(),
                    meta: None,
                    gold: None,
                    line: line as u64 + 1,
                    context: context.map(|c| c.to_string()),
                    responses: responses
                        .into_iter()
                        .map(|(t, s, o)| NewResponse {
                            text: t.into(),
                            source: s.into(),
                            origin: o,
                        })
                        .collect(),
                })
                .map_err(|e| StoreError::Invalid(format!("{e:?}")))?;
            }
            Ok(9)
        })
        .unwrap();
    let q5 = store.item_by_id("q5").unwrap().unwrap().key;
    store
        .annotate(&Annotation {
            item: q5,
            annotator: "ana".into(),
            kind: AnnotationKind::Label,
            label: Some("good".into()),
            note: None,
            suggestion: None,
        })
        .unwrap();
    store.assign_splits(1.0, &Default::default()).unwrap();
    assert_eq!(store.split_of(q5).unwrap(), Some(hifi::store::Split::Eval));
    (tmp, p)
}

fn run(p: &Path, args: &[&str]) -> String {
    let (ok, out, err) = hifi(p, args);
    assert!(ok, "hifi {args:?}: {out}{err}");
    out
}

/// Two annotators judge every item (see `items()`), through the CLI.
fn judge(p: &Path) {
    let fixed = p.join("fixed.txt");
    std::fs::write(&fixed, "Paris is the capital of France.").unwrap();
    let fixed = fixed.to_str().unwrap();
    let steps: &[&[&str]] = &[
        // q1: both accept 1, reject 2, and prefer 1.
        &["accept", "q1", "1", "--annotator", "ana"],
        &["reject", "q1", "2", "--reason", "wrong sum", "--annotator", "ana"],
        &["accept", "q1", "1", "--annotator", "ben"],
        &["reject", "q1", "2", "--annotator", "ben"],
        &["prefer", "q1", "1", "2", "--annotator", "ana"],
        &["prefer", "q1", "1", "2", "--annotator", "ben"],
        // q2: ana fixes 1 (accepting her text), ben accepts it; both reject 2.
        &["edit", "q2", "1", "--from-file", fixed, "--annotator", "ana"],
        &["accept", "q2", "1", "--annotator", "ben"],
        &["reject", "q2", "2", "--annotator", "ana"],
        &["reject", "q2", "2", "--annotator", "ben"],
        // q3: everything rejected; ana finds both bad.
        &["reject", "q3", "1", "--annotator", "ana"],
        &["reject", "q3", "2", "--annotator", "ana"],
        &["reject", "q3", "1", "--annotator", "ben"],
        &["prefer", "q3", "1", "2", "--both-bad", "--annotator", "ana"],
        // q4: ana accepts 1; both call 1 and 2 a tie.
        &["accept", "q4", "1", "--annotator", "ana"],
        &["prefer", "q4", "1", "2", "--tie", "--annotator", "ana"],
        &["prefer", "q4", "2", "1", "--tie", "--annotator", "ben"],
        // q5 (eval split): judged, never exported as train.
        &["accept", "q5", "1", "--annotator", "ana"],
        &["reject", "q5", "2", "--annotator", "ana"],
        // q6: ana accepts 1, ben rejects it.
        &["accept", "q6", "1", "--annotator", "ana"],
        &["reject", "q6", "1", "--annotator", "ben"],
        // q7: nobody judges it.
        // q8 (added by set 3): ana accepts 1; ben accepts 1, takes it back, rejects 2.
        &["accept", "q8", "1", "--annotator", "ana"],
        &["accept", "q8", "1", "--annotator", "ben"],
        &["undo", "--annotator", "ben"],
        &["reject", "q8", "2", "--annotator", "ben"],
        // q9: ana prefers 1, ben prefers 2.
        &["prefer", "q9", "1", "2", "--annotator", "ana"],
        &["prefer", "q9", "2", "1", "--annotator", "ben"],
    ];
    for s in steps {
        let mut args = vec!["responses"];
        args.extend_from_slice(s);
        run(p, &args);
    }
}

fn rows(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn by_id<'a>(rows: &'a [Value], id: &str) -> Vec<&'a Value> {
    rows.iter().filter(|r| r["id"] == id).collect()
}

#[test]
fn judged_responses_export_as_chat_and_preference_pairs_that_datasets_loads() {
    let (tmp, p) = project_with_responses();
    judge(&p);

    // Chat JSONL: auto picks the responses once any judgement is in force.
    let sft = p.join("sft.jsonl");
    let (ok, out, err) =
        hifi(&p, &["export", "--format", "chat-jsonl", "-o", sft.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("wrote 4 accepted responses (4 items, 1 edited by an expert)"), "{out}");
    for part in [
        "1 item whose responses were all rejected",
        "1 candidate whose annotators disagree",
        "1 item with no accepted response but a disputed one",
        "1 item in the eval split",
        "2 items with candidate responses are not judged yet",
    ] {
        assert!(err.contains(part), "{part:?} in {err}");
    }
    let chat = rows(&sft);
    let ids: Vec<&str> = chat.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["q1", "q2", "q4", "q8"]);
    let q1 = by_id(&chat, "q1")[0];
    assert_eq!(
        q1["messages"],
        json!([
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "4"}
        ])
    );
    assert_eq!(q1["provenance"]["annotators"], json!(["ana", "ben"]));
    assert_eq!(
        (q1["provenance"]["edited"].as_bool(), q1["provenance"]["edit_distance"].as_u64()),
        (Some(false), Some(0))
    );
    assert_eq!(q1["provenance"]["source"], "import");
    assert_eq!(q1["provenance"]["candidate"], 1);
    // q2: the expert's edit, after the earlier turns, with its distance to the original.
    let q2 = by_id(&chat, "q2")[0];
    let m = q2["messages"].as_array().unwrap();
    let roles: Vec<&str> = m.iter().map(|x| x["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "user", "assistant"]);
    assert_eq!(m[3]["content"], "Capital of France?");
    assert_eq!(m[4]["content"], "Paris is the capital of France.");
    let prov = &q2["provenance"];
    assert_eq!(prov["edited"], true);
    let d = hifi::responses::edit_distance("Paris.", "Paris is the capital of France.");
    assert_eq!(prov["edit_distance"], d);
    assert!(prov["parent"].is_i64() && prov["revision"] != prov["parent"], "{prov}");
    assert_eq!(prov["annotators"], json!(["ana", "ben"]));
    // q8: ben's accept was undone, ana's stands; the source and origin of the set build.
    let q8 = by_id(&chat, "q8")[0];
    assert_eq!(q8["provenance"]["annotators"], json!(["ana"]));
    assert_eq!(q8["provenance"]["source"], "limo");
    assert_eq!(q8["provenance"]["origin"]["selection"], 3);

    // The label export is still there for the asking, and the same as before.
    let labels_chat = p.join("labels-chat.jsonl");
    let out = run(
        &p,
        &[
            "export",
            "--format",
            "chat-jsonl",
            "--content",
            "labels",
            "--split",
            "all",
            "-o",
            labels_chat.to_str().unwrap(),
        ],
    );
    assert!(out.contains("wrote 1 items (0 train, 1 eval)"), "{out}");
    // Content and format that do not fit are refused.
    let (ok, _, err) =
        hifi(&p, &["export", "--format", "dpo-jsonl", "--content", "labels", "-o", "-"]);
    assert!(!ok && err.contains("preference pairs"), "{err}");
    let (ok, _, err) =
        hifi(&p, &["export", "--format", "jsonl", "--content", "responses", "-o", "-"]);
    assert!(!ok && err.contains("chat-jsonl"), "{err}");

    // Preference pairs.
    let dpo = p.join("dpo.jsonl");
    let (ok, out, err) =
        hifi(&p, &["export", "--format", "dpo-jsonl", "-o", dpo.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains(
            "wrote 3 preference pairs (1 from preferences, 2 accepted vs rejected; 3 items)"
        ),
        "{out}"
    );
    for part in [
        "1 candidate whose annotators disagree",
        "1 pair whose annotators' preferences differ",
        "1 tie",
        "1 pair judged both bad",
        "1 item in the eval split",
    ] {
        assert!(err.contains(part), "{part:?} in {err}");
    }
    let pairs = rows(&dpo);
    let ids: Vec<&str> = pairs.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["q1", "q2", "q8"]);
    let q1 = by_id(&pairs, "q1")[0];
    assert_eq!(
        q1["prompt"],
        json!([{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "What is 2+2?"}])
    );
    assert_eq!(q1["chosen"], json!([{"role": "assistant", "content": "4"}]));
    assert_eq!(q1["rejected"], json!([{"role": "assistant", "content": "5"}]));
    assert_eq!(q1["provenance"]["from"], "preference");
    assert_eq!(q1["provenance"]["annotators"], json!(["ana", "ben"]));
    let q2 = by_id(&pairs, "q2")[0];
    assert_eq!(q2["provenance"]["from"], "accept-reject");
    assert_eq!(q2["chosen"][0]["content"], "Paris is the capital of France.");
    assert_eq!(q2["rejected"][0]["content"], "Lyon.");
    assert_eq!(q2["provenance"]["chosen"]["edited"], true);
    assert_eq!(q2["provenance"]["rejected"]["candidate"], 2);
    assert_eq!(q2["prompt"].as_array().unwrap().len(), 4);
    let q8 = by_id(&pairs, "q8")[0];
    assert_eq!(q8["chosen"][0]["content"], "Water vapour condenses and falls.");
    assert_eq!(q8["rejected"][0]["content"], "Clouds.");
    assert!(pairs.iter().chain(&chat).all(|r| r["id"] != "q5"), "an eval item was exported");

    // What a training script does with them.
    let scratch = tmp.path().join("py");
    let loaded = load_with_datasets(&dpo, &["prompt", "chosen", "rejected"], &scratch);
    assert_eq!(loaded["rows"], 3, "{loaded}");
    assert_eq!(
        loaded["first"]["chosen"],
        json!([{"role": "assistant", "content": "4"}]),
        "{loaded}"
    );
    let loaded = load_with_datasets(&sft, &["messages"], &scratch);
    assert_eq!(loaded["rows"], 4, "{loaded}");
    assert_eq!(loaded["first"]["messages"][2]["content"], "4", "{loaded}");
}

#[test]
fn response_judgements_are_in_the_labels_export() {
    let (_tmp, p) = project_with_responses();
    judge(&p);
    let events = p.join("events.jsonl");
    let out = run(&p, &["labels", "export", "-o", events.to_str().unwrap()]);
    assert!(out.contains("(27 of them judgements of responses)"), "{out}");
    let all = rows(&events);
    assert_eq!(all.len(), 28, "26 judgements, 1 undo, 1 label");
    let label: Vec<&Value> = all.iter().filter(|e| e.get("target").is_none()).collect();
    assert_eq!(label.len(), 1);
    assert_eq!(
        (label[0]["kind"].as_str(), label[0]["label"].as_str()),
        (Some("label"), Some("good"))
    );
    let resp: Vec<&Value> = all.iter().filter(|e| e["target"] == "response").collect();
    assert_eq!(resp.len(), 27);
    // The edit: the revision it made, the revision it edits, who, and it is in force.
    let edit: Vec<&&Value> = resp.iter().filter(|e| e["kind"] == "edit").collect();
    assert_eq!(edit.len(), 1);
    let e = edit[0];
    assert_eq!((e["item_id"].as_str(), e["annotator"].as_str()), (Some("q2"), Some("ana")));
    assert_eq!((e["candidate"].as_i64(), e["current"].as_bool()), (Some(1), Some(true)));
    let store = Store::open(&p).unwrap();
    let q2 = store.item_by_id("q2").unwrap().unwrap().key;
    let revs = store.revisions(q2).unwrap();
    let original = revs.iter().find(|r| r.number == 1 && r.parent.is_none()).unwrap();
    let edited = revs.iter().find(|r| r.parent == Some(original.id)).unwrap();
    assert_eq!(
        (e["revision"].as_i64(), e["parent"].as_i64()),
        (Some(edited.id), Some(original.id))
    );
    // ben's accept of q2 came after the edit: it judged ana's revision.
    let ben = resp
        .iter()
        .find(|e| e["item_id"] == "q2" && e["annotator"] == "ben" && e["kind"] == "accept")
        .unwrap();
    assert_eq!(ben["revision"].as_i64(), Some(edited.id));
    // A rejection keeps its reason; a preference names both sides and its verdict.
    let rej = resp
        .iter()
        .find(|e| e["item_id"] == "q1" && e["kind"] == "reject" && e["annotator"] == "ana")
        .unwrap();
    assert_eq!((rej["reason"].as_str(), rej["candidate"].as_i64()), (Some("wrong sum"), Some(2)));
    let tie = resp.iter().find(|e| e["item_id"] == "q4" && e["annotator"] == "ben").unwrap();
    assert_eq!((tie["kind"].as_str(), tie["verdict"].as_str()), (Some("prefer"), Some("tie")));
    assert_eq!((tie["candidate"].as_i64(), tie["other_candidate"].as_i64()), (Some(2), Some(1)));
    assert!(tie["other_revision"].is_i64() && tie["shown"]["mode"] == "cli", "{tie}");
    // The undo, and the accept it took back (no longer in force).
    let undo = resp.iter().find(|e| e["kind"] == "undo").unwrap();
    let undone = resp.iter().find(|e| e["event"] == undo["supersedes"]).unwrap();
    assert_eq!((undone["kind"].as_str(), undone["item_id"].as_str()), (Some("accept"), Some("q8")));
    assert_eq!(
        (undone["current"].as_bool(), undo["current"].as_bool()),
        (Some(false), Some(false))
    );
    // q5's events carry its split.
    assert!(resp.iter().filter(|e| e["item_id"] == "q5").all(|e| e["split"] == "eval"));
    // CSV: the response columns follow the label columns.
    let csv_path = p.join("events.csv");
    run(&p, &["labels", "export", "--format", "csv", "-o", csv_path.to_str().unwrap()]);
    let mut r = csv::Reader::from_path(&csv_path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    let want: Vec<&str> = hifi::io::labels::CSV_COLUMNS
        .iter()
        .chain(&hifi::io::labels::RESPONSE_CSV_COLUMNS)
        .copied()
        .collect();
    assert_eq!(header, want);
    let recs: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(recs.len(), 28);
    assert_eq!(recs.iter().filter(|r| &r[15] == "response").count(), 27);
    // Only ben's, only eval: the filters apply to response events too.
    let (ok, out, _) =
        hifi(&p, &["labels", "export", "--annotator", "ben", "--split", "eval", "-o", "-"]);
    assert!(ok && out.trim().is_empty(), "{out}");
}

#[test]
fn report_measures_expert_agreement_and_acceptance() {
    let (_tmp, p) = project_with_responses();
    judge(&p);
    let out = run(&p, &["report"]);
    // Decided by both: q1 1 (A A), q1 2 (R R), q2 1 (A A), q2 2 (R R), q3 1 (R R), q6 1 (A R):
    // Po 5/6; ana accepts 3/6, ben 2/6 → Pe 0.5·2/6 + 0.5·4/6 = 0.5; κ = (5/6 − 0.5)/0.5 = 2/3.
    let line = out.lines().find(|l| l.contains("accept/reject")).unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.contains("κ 0.667") && line.contains("(n=6)") && line.contains("agreement 83%"),
        "{line}"
    );
    // Compared by both: q1 (lo, lo), q4 (tie, tie), q9 (lo, hi): Po 2/3; ana lo 2/3, tie 1/3;
    // ben lo, tie, hi 1/3 each → Pe 2/9 + 1/9 = 1/3; κ = (2/3 − 1/3)/(2/3) = 0.5.
    let line = out.lines().find(|l| l.contains("preferences")).unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.contains("κ 0.500") && line.contains("(n=3)") && line.contains("agreement 67%"),
        "{line}"
    );
    assert!(out.contains("responses: 12 candidates of 7 items decided, by 2 annotators"), "{out}");
    let import = out.lines().find(|l| l.trim_start().starts_with("import")).unwrap();
    assert!(
        import.contains("n=10: accepted as-is 3 (30%), after an edit 1 (10%), rejected 5 (50%), disputed 1 (10%)"),
        "{import}"
    );
    let limo = out.lines().find(|l| l.trim_start().starts_with("limo")).unwrap();
    assert!(
        limo.contains("n=2: accepted as-is 1 (50%), after an edit 0 (0%), rejected 1 (50%)"),
        "{limo}"
    );
    assert!(out.contains("by set:"), "{out}");
    let set = out.lines().skip_while(|l| !l.contains("by set:")).nth(1).unwrap();
    assert!(set.trim_start().starts_with('3') && set.contains("n=2"), "{set}");
    // The same in JSON.
    let v: Value = serde_json::from_str(&run(&p, &["report", "--json"])).unwrap();
    let r = &v["responses"];
    assert!((r["decisions"]["kappa"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9, "{r}");
    assert_eq!(r["decisions"]["n"], 6);
    assert!((r["preferences"]["kappa"].as_f64().unwrap() - 0.5).abs() < 1e-9, "{r}");
    assert_eq!(
        r["by_source"][0],
        json!({"key": "import", "n": 10, "accepted": 3, "edited": 1, "rejected": 5, "disputed": 1})
    );
    assert_eq!(r["by_set"][0]["key"], "3");
    assert!(v.get("verdict").is_some(), "the rounds' report is still there: {v}");
}

#[test]
fn a_set_export_uses_the_experts_choice() {
    let (_tmp, p) = project_with_responses();
    judge(&p);
    let mut store = Store::open(&p).unwrap();
    let key = |s: &Store, id: &str| s.item_by_id(id).unwrap().unwrap().key;
    let entries: Vec<NewSelectionEntry> = [("q8", "Rain is wet."), ("q7", "Hello there.")]
        .iter()
        .map(|(id, r)| NewSelectionEntry {
            item: key(&store, id),
            response: Some(r.to_string()),
            score: Some(1.0),
            reasons: json!({}),
        })
        .collect();
    let sel = store
        .save_selection(SelectionKind::Limo, &json!({"system": "Be clear."}), &json!({}), &entries)
        .unwrap();
    drop(store);
    let out_path = p.join("set.jsonl");
    let (ok, _, err) = hifi(
        &p,
        &[
            "export",
            "--selection",
            &sel.to_string(),
            "--format",
            "chat-jsonl",
            "-o",
            out_path.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    assert!(err.contains("1 entries use the response an expert accepted"), "{err}");
    let set = rows(&out_path);
    let q8 = by_id(&set, "q8")[0];
    assert_eq!(q8["messages"][2]["content"], "Water vapour condenses and falls.");
    assert_eq!(q8["provenance"]["expert_choice"], true);
    assert!(q8["provenance"]["revision"].is_i64(), "{q8}");
    assert_eq!(q8["provenance"]["selection"], sel);
    let q7 = by_id(&set, "q7")[0];
    assert_eq!(q7["messages"][2]["content"], "Hello there.");
    assert!(q7["provenance"].get("expert_choice").is_none(), "{q7}");
}
