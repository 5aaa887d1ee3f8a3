//! Issue 36 on the command line, through the real binary: `hifi find` with every filter and
//! kind of text query, `hifi show` with an item's history (a revisit, a rename), flags and
//! unflags, label-set changes (the merge leaves every recorded event as it was and exports
//! the merged name; bad changes touch nothing; a retirement brings items back), and versioned
//! guidelines edited with a scripted $EDITOR.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use hifi::config::LabelDef;
use hifi::store::{Annotation, AnnotationKind, Prediction, Store};
use serde_json::Value;

const LABELS: [(&str, &str); 4] = [
    ("clickbait", "Exaggerates or withholds what is offered to get the click."),
    ("teaser", "Hides the product behind a question or a curiosity gap."),
    ("lure", "Promises a prize, a gift or money to get the click."),
    ("benign", "Says plainly what is offered."),
];

const ITEMS: [(&str, &str, &str); 20] = [
    ("ad-01", "Refund guaranteed if you are not happy with the blender", "web"),
    ("ad-02", "You won't believe this one weird refund trick", "web"),
    ("ad-03", "Free shipping on all orders over fifty dollars", "print"),
    ("ad-04", "Refurbished laptops at half price", "web"),
    ("ad-05", "Doctors hate her: the secret they hide", "print"),
    ("ad-06", "Plain cotton t-shirts in five colours", "web"),
    ("ad-07", "Click now to claim your prize", "web"),
    ("ad-08", "Return policy: thirty days, no questions asked", "print"),
    ("ad-09", "Hand-made soap from local goats", "web"),
    ("ad-10", "What happened next will shock you", "web"),
    ("ad-11", "Garden chairs, teak, weatherproof", "print"),
    ("ad-12", "Winter tyres fitted while you wait", "web"),
    ("ad-13", "Piano lessons for adults, first one free of charge", "web"),
    ("ad-14", "Organic coffee beans roasted weekly", "print"),
    ("ad-15", "Second-hand bicycles, serviced and guaranteed", "web"),
    ("ad-16", "Dog walking in the old town every morning", "web"),
    ("ad-17", "Bathroom tiles at cost price this month", "print"),
    ("ad-18", "Yoga mats made from natural rubber", "web"),
    ("ad-19", "Wedding photographer, two dates left in June", "web"),
    ("ad-20", "Tax returns prepared by a certified accountant", "print"),
];

/// A hostile item: an OSC 52 clipboard write, a colour change and a newline in its text, and
/// a bidi override in a field.
const HOSTILE_ID: &str = "ad-99";
const HOSTILE_TEXT: &str = "Cheap \u{1b}]52;c;cm0gLXJmIH4=\u{7}flights\nnow \u{1b}[31mred";

/// Run hifi in `p` with `args`; it must succeed. Returns stdout.
fn ok(p: &Path, args: &[&str]) -> String {
    let (good, out, err) = hifi(p, args);
    assert!(good, "hifi {args:?} failed:\n{out}{err}");
    out
}

/// Run hifi in `p` with `args`; it must fail. Returns (stdout, stderr).
fn fails(p: &Path, args: &[&str]) -> (String, String) {
    let (good, out, err) = hifi(p, args);
    assert!(!good, "hifi {args:?} should have failed:\n{out}{err}");
    (out, err)
}

fn json(p: &Path, args: &[&str]) -> Value {
    let out = ok(p, args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("hifi {args:?}: {e}:\n{out}"))
}

/// The ids `hifi find ARGS --json` lists, in order.
fn found(p: &Path, args: &[&str]) -> Vec<String> {
    let mut a = vec!["find"];
    a.extend_from_slice(args);
    a.push("--json");
    let v = json(p, &a);
    let rows = v.as_array().unwrap_or_else(|| panic!("find {args:?}: not an array: {v}"));
    rows.iter().map(|r| r["id"].as_str().expect("every row has an id").to_string()).collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

fn as_set(v: Vec<String>) -> BTreeSet<String> {
    v.into_iter().collect()
}

/// `hifi label --stdin` for `who` with these lines; every line must be acknowledged.
fn label_lines(p: &Path, who: &str, lines: &[&str]) {
    let mut child = bin()
        .arg("--project")
        .arg(p)
        .args(["label", "--stdin", "--annotator", who])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hifi label --stdin");
    {
        let mut stdin = child.stdin.take().unwrap();
        for l in lines {
            writeln!(stdin, "{l}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.lines().filter(|l| l.starts_with("ok ")).count(), lines.len(), "{stdout}");
}

fn key(p: &Path, id: &str) -> i64 {
    Store::open(p).unwrap().item_by_id(id).unwrap().unwrap().key
}

/// A project with the four labels and the twenty items (and the hostile one) imported with
/// the real binary, decided by two experts: ana and bob agree on ad-01, ad-05, ad-07, ad-10
/// and disagree on ad-02; ana flagged ad-03 (with a note), skipped ad-06, noted ad-05; a
/// model's predictions differ from the experts on ad-01 and ad-07.
fn labeled_project() -> tempfile::TempDir {
    let (dir, mut cfg, store) = project();
    drop(store);
    let p = dir.path();
    cfg.labels = LABELS.iter().map(|(n, d)| LabelDef::new(n.to_string(), d.to_string())).collect();
    std::fs::write(p.join("hifi.toml"), cfg.to_toml()).unwrap();
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["id", "text", "source"]).unwrap();
    for (id, text, source) in ITEMS {
        w.write_record([id, text, source]).unwrap();
    }
    w.write_record([HOSTILE_ID, HOSTILE_TEXT, "web\u{202e}evil"]).unwrap();
    let csv = file(p, "items.csv", &w.into_inner().unwrap());
    ok(p, &["import", csv.to_str().unwrap()]);
    label_lines(
        p,
        "ana",
        &[
            "ad-01 benign",
            "ad-02 clickbait",
            "ad-05 teaser hides the product behind curiosity",
            "ad-07 lure",
            "ad-10 clickbait",
        ],
    );
    label_lines(
        p,
        "bob",
        &["ad-01 benign", "ad-02 teaser", "ad-05 teaser", "ad-07 lure", "ad-10 clickbait"],
    );
    ok(
        p,
        &["label", "ad-03", "--flag", "--note", "is free shipping a lure?", "--annotator", "ana"],
    );
    // A skip is made in the review screen; recorded here through the store it writes with.
    let mut store = Store::open(p).unwrap();
    let k6 = store.item_by_id("ad-06").unwrap().unwrap().key;
    store
        .annotate(&Annotation {
            item: k6,
            annotator: "ana".into(),
            kind: AnnotationKind::Skip,
            label: None,
            note: None,
            suggestion: Some(true),
        })
        .unwrap();
    // A model scored under this label set: it says clickbait for ad-01 and benign for ad-07.
    let labels: Vec<String> = LABELS.iter().map(|(n, _)| n.to_string()).collect();
    let model = store.register_model(&llm_record("model-1", None, &labels)).unwrap();
    let pick = |id: &str| match id {
        "ad-01" | "ad-02" | "ad-10" => 0,
        "ad-05" => 1,
        _ => 3,
    };
    let preds: Vec<Prediction> = ITEMS
        .iter()
        .map(|(id, _, _)| {
            let mut probs = vec![0.1; 4];
            probs[pick(id)] = 0.7;
            Prediction { item: store.item_by_id(id).unwrap().unwrap().key, probs, truncated: false }
        })
        .collect();
    store.put_predictions(model, &labels, &preds).unwrap();
    dir
}

#[test]
fn find_filters_each_and_combined() {
    let dir = labeled_project();
    let p = dir.path();
    assert_eq!(found(p, &["--flagged"]), ["ad-03"]);
    assert_eq!(found(p, &["--skipped"]), ["ad-06"]);
    assert_eq!(as_set(found(p, &["--noted"])), set(&["ad-03", "ad-05"]));
    assert_eq!(found(p, &["--disagree"]), ["ad-02"]);
    assert_eq!(found(p, &["--model-disagrees"]), ["ad-01", "ad-07"]);
    assert_eq!(found(p, &["--label", "teaser"]), ["ad-02", "ad-05"]);
    // A label anyone gave, on items ana decided.
    assert_eq!(found(p, &["--label", "teaser", "--annotator", "ana"]), ["ad-02", "ad-05"]);
    assert_eq!(found(p, &["--label", "teaser", "--annotator", "ana", "--noted"]), ["ad-05"]);
    assert_eq!(found(p, &["--label", "benign", "--model-disagrees"]), ["ad-01"]);
    let bob = found(p, &["--annotator", "bob"]);
    assert_eq!(bob, ["ad-01", "ad-02", "ad-05", "ad-07", "ad-10"]);
    assert_eq!(
        as_set(found(p, &["--annotator", "ana"])),
        set(&["ad-01", "ad-02", "ad-03", "ad-05", "ad-06", "ad-07", "ad-10"])
    );
    let labeled = found(p, &["--labeled"]);
    assert_eq!(labeled, ["ad-01", "ad-02", "ad-05", "ad-07", "ad-10"]);
    let unlabeled = found(p, &["--unlabeled", "--limit", "100"]);
    assert_eq!(unlabeled.len(), ITEMS.len() + 1 - labeled.len(), "{unlabeled:?}");
    assert!(unlabeled.iter().all(|u| !labeled.contains(u)));
    assert!(unlabeled.contains(&"ad-03".to_string()), "a flag without a label is no label");
    // Splits: eval and train part the items with a split, which are labeled ones.
    let eval = as_set(found(p, &["--split", "eval"]));
    let train = as_set(found(p, &["--split", "train"]));
    assert!(!eval.is_empty() || !train.is_empty(), "no split was assigned");
    assert!(eval.is_disjoint(&train), "{eval:?} {train:?}");
    let labeled_set = as_set(labeled.clone());
    assert!(eval.union(&train).all(|i| labeled_set.contains(i)), "{eval:?} {train:?}");
    for (split, ids) in [("eval", &eval), ("train", &train)] {
        for id in ids {
            let shown = json(p, &["show", id, "--json"]);
            assert_eq!(shown["split"], split, "{id}: {shown}");
        }
    }
    let with_stratum: BTreeSet<String> =
        ["boundary", "audit"].iter().flat_map(|s| found(p, &["--stratum", s])).collect();
    assert_eq!(with_stratum, eval.union(&train).cloned().collect());
    // Text and filters combine.
    assert_eq!(found(p, &["refund", "--labeled"]), ["ad-01", "ad-02"]);
    assert_eq!(found(p, &["refund", "--disagree"]), ["ad-02"]);
    assert!(found(p, &["refund", "--flagged"]).is_empty());
    // The JSON rows carry the decisions.
    let rows = json(p, &["find", "--disagree", "--json"]);
    let r = &rows[0];
    assert_eq!(r["labels"]["ana"], "clickbait");
    assert_eq!(r["labels"]["bob"], "teaser");
    assert_eq!(r["disagree"], true);
    assert_eq!(r["predicted"], "clickbait");
    assert_eq!(r["text"], "You won't believe this one weird refund trick");
    let rows = json(p, &["find", "--flagged", "--json"]);
    assert_eq!(rows[0]["flagged_by"], serde_json::json!(["ana"]));
    assert_eq!(rows[0]["noted"], true);
    let rows = json(p, &["find", "--skipped", "--json"]);
    assert_eq!(rows[0]["skipped_by"], serde_json::json!(["ana"]));

    // Text output: a count line, then one line per item with its labels and markers.
    let out = ok(p, &["find", "--annotator", "ana"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("7 of {} items match", ITEMS.len() + 1), "{out}");
    let line = |id: &str| {
        *lines.iter().find(|l| l.starts_with(id)).unwrap_or_else(|| panic!("{id}: {out}"))
    };
    assert!(line("ad-02").contains("clickbait/teaser") && line("ad-02").contains('≠'), "{out}");
    assert!(line("ad-03").contains('!') && line("ad-03").contains('n'), "{out}");
    assert!(line("ad-06").contains(" s "), "{out}");
    assert!(
        line("ad-05").contains("teaser") && line("ad-05").contains("Doctors hate her"),
        "{out}"
    );
    assert!(lines.iter().all(|l| l.chars().count() <= 100), "{out}");
    assert!(out.contains("! flagged"), "the markers are explained: {out}");
    assert_eq!(ok(p, &["find", "--flagged", "--skipped"]).trim(), "no items match");
    // Pages.
    let out = ok(p, &["find", "--unlabeled", "--limit", "5", "--offset", "5"]);
    let n = ITEMS.len() + 1 - labeled.len();
    assert!(
        out.starts_with(&format!("{n} of {} items match; 6–10 listed", ITEMS.len() + 1)),
        "{out}"
    );
    assert_eq!(out.lines().count(), 1 + 5, "{out}");
    assert_eq!(found(p, &["--unlabeled", "--limit", "5", "--offset", "5"]), unlabeled[5..10]);
    let out = ok(p, &["find", "--labeled", "--limit", "0"]);
    assert_eq!(out.trim(), format!("5 of {} items match", ITEMS.len() + 1));
}

#[test]
fn find_text_words_prefixes_phrases_ids_notes_and_syntax_errors() {
    let dir = labeled_project();
    let p = dir.path();
    assert_eq!(found(p, &["refund"]), ["ad-01", "ad-02"], "a whole word");
    assert_eq!(found(p, &["REFUND"]), ["ad-01", "ad-02"], "case does not matter");
    assert_eq!(found(p, &["ref*"]), ["ad-01", "ad-02", "ad-04"], "a prefix");
    assert_eq!(found(p, &["shipping free"]), ["ad-03"], "words in any order");
    assert_eq!(found(p, &["\"free shipping\""]), ["ad-03"], "a phrase");
    assert_eq!(found(p, &["\"over fifty\""]), ["ad-03"], "a phrase");
    assert!(found(p, &["\"fifty over\""]).is_empty(), "a phrase keeps its order");
    assert_eq!(found(p, &["refund OR prize"]), ["ad-01", "ad-02", "ad-07"], "OR");
    assert_eq!(found(p, &["refund NOT blender"]), ["ad-02"], "NOT");
    assert_eq!(found(p, &["ad-07"]), ["ad-07"], "an id");
    assert_eq!(found(p, &["curiosity"]), ["ad-05"], "a word of a note only");
    assert_eq!(found(p, &["won't"]), ["ad-02"], "punctuation in a plain word is no syntax");
    assert!(found(p, &["zeppelin"]).is_empty());
    let out = ok(p, &["find", "refund"]);
    assert!(out.starts_with(&format!("2 of {} items match\n", ITEMS.len() + 1)), "{out}");
    assert_eq!(ok(p, &["find", "zeppelin"]).trim(), "no items match");
    // Syntax errors: a clear message, a failure status, nothing on stdout.
    for bad in ["refund AND", "\"free shipping", "(refund", "NOT"] {
        let (out, err) = fails(p, &["find", bad]);
        assert!(out.is_empty(), "{bad}: stdout {out:?}");
        assert!(err.contains("cannot search for"), "{bad}: {err}");
        assert!(err.contains("in quotes"), "the message says how to write a query: {err}");
        let (out, _) = fails(p, &["find", bad, "--json"]);
        assert!(out.is_empty(), "{bad} --json: stdout {out:?}");
    }
    // A label that is not in the set.
    let (out, err) = fails(p, &["find", "--label", "spam"]);
    assert!(out.is_empty());
    assert!(err.contains("unknown label \"spam\""), "{err}");
    assert!(err.contains("clickbait, teaser, lure, benign"), "the labels are listed: {err}");
    let (_, err) = fails(p, &["find", "--round-model", "1"]);
    assert!(err.contains("--model-disagrees"), "{err}");
    let (_, err) = fails(p, &["find", "--model-disagrees", "--round-model", "7"]);
    assert!(err.contains("round 7"), "{err}");
    let (_, err) = fails(p, &["find", "--labeled", "--unlabeled"]);
    assert!(err.contains("cannot be used with"), "{err}");
    let (_, err) = fails(p, &["find", "--split", "test"]);
    assert!(err.contains("eval") && err.contains("train"), "{err}");
    // The hostile item is found, and nothing of its text acts on the terminal.
    let out = ok(p, &["find", "flights"]);
    assert!(out.contains(HOSTILE_ID), "{out}");
    assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
    assert_eq!(out.lines().count(), 2, "one line per item: {out:?}");
    let raw = ok(p, &["find", "flights", "--json"]);
    assert!(!raw.contains('\u{1b}'), "JSON escapes controls: {raw:?}");
    let rows: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(rows[0]["text"], HOSTILE_TEXT, "JSON keeps the exact text");
}

#[test]
fn show_has_fields_state_prediction_and_history_with_a_revisit_and_a_rename() {
    let dir = labeled_project();
    let p = dir.path();
    // ana changes her mind about ad-10: a revisit of her earlier label.
    let out = ok(p, &["label", "ad-10", "teaser", "--annotator", "ana", "--note", "no, a tease"]);
    assert!(out.contains("ana labeled ad-10 as teaser") && out.contains("revisit"), "{out}");
    let before = json(p, &["show", "ad-10", "--json"]);
    let all = before["history"].as_array().unwrap();
    assert_eq!(all.len(), 3, "ana's label, bob's, ana's revisit: {before}");
    assert_eq!(all[1]["annotator"], "bob");
    assert_eq!(all[1]["revises"], Value::Null, "bob decided it once");
    assert_eq!(all[1]["current"], true);
    let hist: Vec<&Value> = all.iter().filter(|e| e["annotator"] == "ana").collect();
    let (first, second) = (hist[0], hist[1]);
    assert_eq!(first["kind"], "label");
    assert_eq!(first["label"], "clickbait");
    assert_eq!(first["current"], false, "replaced by the revisit");
    assert_eq!(first["origin"], "cli");
    assert_eq!(first["revises"], Value::Null);
    assert_eq!(second["label"], "teaser");
    assert_eq!(second["revises"], first["event"], "the revisit names the label it replaces");
    assert_eq!(second["current"], true);
    assert_eq!(second["note"], "no, a tease");
    assert_eq!(second["suggestion"], "blind");
    assert_eq!(before["labels"]["ana"], "teaser");
    assert_eq!(before["disagree"], true, "bob still says clickbait");
    assert_eq!(before["fields"]["source"], "web");
    assert_eq!(before["prediction_now"]["label"], "clickbait");
    assert_eq!(before["prediction_now"]["stale"], false);

    ok(p, &["labels", "rename", "teaser", "tease", "--annotator", "lead"]);
    let after = json(p, &["show", "ad-10", "--json"]);
    let hist2 = after["history"].as_array().unwrap();
    assert_eq!(hist2[2]["label"], "teaser", "the event keeps the name it was given");
    assert_eq!(hist2[2]["label_now"], "tease");
    assert_eq!(hist2[2]["retired"], false);
    assert_eq!(hist2[0]["label_now"], "clickbait");
    assert_eq!(after["labels"]["ana"], "tease");
    assert_eq!(after["prediction_now"]["stale"], true, "the model scored the old set");

    let out = ok(p, &["show", "ad-10"]);
    assert!(out.starts_with("ad-10\n"), "{out}");
    assert!(out.contains("label teaser → tease"), "{out}");
    assert!(out.contains(&format!("revises #{}", first["event"])), "{out}");
    assert!(out.contains("ana tease, bob clickbait (experts disagree)"), "{out}");
    assert!(out.contains("source") && out.contains("web"), "{out}");
    assert!(out.contains("What happened next will shock you"), "{out}");
    assert!(out.contains("note: no, a tease"), "{out}");
    assert!(out.contains("stale"), "{out}");
    assert!(out.contains("history (3 events, oldest first)"), "{out}");
    assert!(out.lines().all(|l| l.chars().count() <= 80), "80 columns:\n{out}");

    // A flagged item, an item nobody decided, an unknown one.
    let out = ok(p, &["show", "ad-03"]);
    assert!(out.contains("flagged    by ana"), "{out}");
    assert!(out.contains("note: is free shipping a lure?"), "{out}");
    let out = ok(p, &["show", "ad-20"]);
    assert!(out.contains("labels     none in force") && out.contains("nothing recorded"), "{out}");
    let (out, err) = fails(p, &["show", "ad-404"]);
    assert!(out.is_empty());
    assert!(err.contains("no item with id \"ad-404\"") && err.contains("hifi find"), "{err}");
    // The hostile item: inert text, inert fields, exact JSON.
    let out = ok(p, &["show", HOSTILE_ID]);
    assert!(
        !out.contains('\u{1b}') && !out.contains('\u{7}') && !out.contains('\u{202e}'),
        "{out:?}"
    );
    assert!(out.contains("<U+202E>"), "{out}");
    let v = json(p, &["show", HOSTILE_ID, "--json"]);
    assert_eq!(v["text"], HOSTILE_TEXT);
    assert_eq!(v["fields"]["source"], "web\u{202e}evil");
}

#[test]
fn flags_stand_until_withdrawn_or_revisited() {
    let dir = labeled_project();
    let p = dir.path();
    let out =
        ok(p, &["label", "ad-08", "--flag", "--note", "return or refund?", "--annotator", "bob"]);
    assert!(out.contains("bob flagged ad-08"), "{out}");
    assert_eq!(found(p, &["--flagged"]), ["ad-03", "ad-08"]);
    assert_eq!(found(p, &["--flagged", "--annotator", "bob"]), ["ad-08"]);
    let (_, err) = fails(p, &["label", "ad-08", "--flag", "--annotator", "bob"]);
    assert!(err.contains("already stands"), "{err}");
    let (_, err) = fails(p, &["label", "ad-08", "--unflag", "--annotator", "ana"]);
    assert!(
        err.contains("ana has no flag standing on ad-08") && err.contains("flagged by bob"),
        "{err}"
    );
    let (_, err) = fails(p, &["label", "ad-404", "--flag", "--annotator", "bob"]);
    assert!(err.contains("no item with id \"ad-404\""), "{err}");
    let (_, err) = fails(p, &["label", "ad-08", "spam", "--flag", "--annotator", "bob"]);
    assert!(err.contains("unknown label \"spam\""), "{err}");
    let (_, err) = fails(p, &["label", "ad-08", "benign", "--unflag", "--annotator", "bob"]);
    assert!(err.contains("cannot be used with"), "{err}");
    let out = ok(p, &["label", "ad-08", "--unflag", "--annotator", "bob"]);
    assert!(out.contains("bob unflagged ad-08"), "{out}");
    assert_eq!(found(p, &["--flagged"]), ["ad-03"]);
    let (_, err) = fails(p, &["label", "ad-08", "--unflag", "--annotator", "bob"]);
    assert!(err.contains("no flag standing"), "{err}");
    // Undo takes the unflag back: the flag stands again.
    ok(p, &["label", "--undo", "--annotator", "bob"]);
    assert_eq!(found(p, &["--flagged"]), ["ad-03", "ad-08"]);

    // A flag with a tentative label: both recorded, the flag stands.
    let out = ok(p, &["label", "ad-09", "benign", "--flag", "--annotator", "bob"]);
    assert!(out.contains("tentatively benign"), "{out}");
    let v = json(p, &["show", "ad-09", "--json"]);
    assert_eq!(v["flagged_by"], serde_json::json!(["bob"]));
    assert_eq!(v["labels"]["bob"], "benign");
    assert_eq!(found(p, &["--flagged", "--label", "benign"]), ["ad-09"]);
    // Labeling it again is a revisit: it replaces the tentative label and clears the flag.
    let out = ok(p, &["label", "ad-09", "clickbait", "--annotator", "bob"]);
    assert!(out.contains("revisit"), "{out}");
    assert_eq!(found(p, &["--flagged"]), ["ad-03", "ad-08"]);
    let v = json(p, &["show", "ad-09", "--json"]);
    let h = v["history"].as_array().unwrap();
    let kinds: Vec<&str> = h.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["flag", "label", "label"]);
    assert_eq!(h[1]["revises"], Value::Null, "the tentative label is no revisit");
    assert_eq!(h[2]["revises"], h[1]["event"]);
    assert_eq!(v["labels"]["bob"], "clickbait");
    // ana's flag on ad-03 is cleared by her revisit through --stdin too.
    label_lines(p, "ana", &["ad-03 benign"]);
    assert_eq!(found(p, &["--flagged"]), ["ad-08"]);

    // Every event made here is recorded as made on the command line.
    let exported = labels_export(p);
    for e in
        exported.iter().filter(|e| ["ad-08", "ad-09"].contains(&e["item_id"].as_str().unwrap()))
    {
        if e["kind"] != "undo" {
            assert_eq!(e["origin"], "cli", "{e}");
        }
    }
    let unflag = exported.iter().find(|e| e["kind"] == "unflag").expect("an unflag event");
    assert_eq!(unflag["item_id"], "ad-08");
    assert_eq!(unflag["annotator"], "bob");
}

/// `hifi labels export --format jsonl`, read back.
fn labels_export(p: &Path) -> Vec<Value> {
    let out = ok(p, &["labels", "export", "--format", "jsonl", "-o", "-"]);
    out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// `hifi export --split all` (jsonl): item id → label.
fn exported_labels(p: &Path) -> std::collections::BTreeMap<String, String> {
    let out = ok(p, &["export", "--split", "all", "-o", "-"]);
    out.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["id"].as_str().unwrap().to_string(), v["label"].as_str().unwrap().to_string())
        })
        .collect()
}

/// Whether `v` holds, at any depth, a key naming the label set (`label_set…`) with `version`.
fn names_label_set(v: &Value, version: i64) -> bool {
    match v {
        Value::Object(m) => m.iter().any(|(k, x)| {
            (k.starts_with("label_set")
                && (x.as_i64() == Some(version) || x["version"].as_i64() == Some(version)))
                || names_label_set(x, version)
        }),
        Value::Array(a) => a.iter().any(|x| names_label_set(x, version)),
        _ => false,
    }
}

#[test]
fn a_merge_keeps_every_event_and_exports_the_merged_name() {
    let dir = labeled_project();
    let p = dir.path();
    let before = labels_export(p);
    let labels_before = exported_labels(p);
    assert!(labels_before.values().any(|l| l == "teaser" || l == "lure"), "{labels_before:?}");
    assert!(before.iter().all(|e| e["label_set"] == 1), "every event so far is of v1");

    let out =
        ok(p, &["labels", "merge", "teaser", "lure", "--into", "bait", "--annotator", "lead"]);
    // ana: ad-05 teaser, ad-07 lure; bob: ad-02 teaser, ad-05 teaser, ad-07 lure.
    assert!(out.contains("merged teaser, lure into bait (label set v2)"), "{out}");
    assert!(out.contains("5 labels in force now read `bait`"), "{out}");
    assert!(out.contains("labels now: clickbait, bait, benign"), "{out}");
    let toml = std::fs::read_to_string(p.join("hifi.toml")).unwrap();
    let cfg = hifi::config::Config::parse(&toml, &p.join("hifi.toml")).unwrap();
    assert_eq!(cfg.label_names(), ["clickbait", "bait", "benign"]);
    let bait = &cfg.labels[1].definition;
    assert!(
        bait.contains("curiosity gap") && bait.contains("a prize"),
        "definitions joined: {bait}"
    );
    assert!(toml.contains("# Show the model's prediction"), "hifi.toml's comments are kept");

    // Every original event is exactly as it was; none was added.
    let after = labels_export(p);
    assert_eq!(after.len(), before.len());
    for (b, a) in before.iter().zip(&after) {
        for (k, v) in b.as_object().unwrap() {
            assert_eq!(&a[k], v, "event {}: `{k}` changed", b["event"]);
        }
    }
    // The dataset uses the merged name.
    let labels_after = exported_labels(p);
    assert_eq!(labels_after.keys().collect::<Vec<_>>(), labels_before.keys().collect::<Vec<_>>());
    for (id, l) in &labels_before {
        let want = if l == "teaser" || l == "lure" { "bait" } else { l.as_str() };
        assert_eq!(labels_after[id], want, "{id}");
    }
    assert_eq!(labels_after["ad-05"], "bait");
    assert_eq!(labels_after["ad-07"], "bait");
    // Finding by the merged name reaches labels given under both old names.
    assert_eq!(found(p, &["--label", "bait"]), ["ad-02", "ad-05", "ad-07"]);
    assert!(found(p, &["--disagree"]) == ["ad-02"], "clickbait vs bait still disagree");
    let (_, err) = fails(p, &["find", "--label", "teaser"]);
    assert!(err.contains("merged teaser, lure into bait"), "says what became of it: {err}");
    // The history.
    let h = json(p, &["labels", "history", "--json"]);
    let h = h.as_array().unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h[0]["kind"], "initial");
    assert_eq!(h[1]["kind"], "merge");
    assert_eq!(h[1]["annotator"], "lead");
    assert_eq!(h[1]["from"], serde_json::json!(["teaser", "lure"]));
    assert_eq!(h[1]["to"], "bait");
    let out = ok(p, &["labels", "history"]);
    assert!(
        out.contains("v2") && out.contains("lead") && out.contains("merged teaser, lure into bait"),
        "{out}"
    );
    assert!(out.contains("labels: clickbait, bait, benign"), "{out}");
    // New labels are given under v2 and exported with it.
    ok(p, &["label", "ad-13", "bait", "--annotator", "ana"]);
    let last = labels_export(p).pop().unwrap();
    assert_eq!((last["label"].as_str(), last["label_set"].as_i64()), (Some("bait"), Some(2)));

    // The report says which label-set version its figures are for.
    let out = ok(p, &["report"]);
    assert!(
        out.contains("label set v2"),
        "`hifi report` names the label-set version (another part of issue 36):\n{out}"
    );
    let rep = json(p, &["report", "--json"]);
    assert!(names_label_set(&rep, 2), "`hifi report --json` names label set v2:\n{rep}");
}

#[test]
fn bad_label_changes_are_refused_and_change_nothing() {
    let dir = labeled_project();
    let p = dir.path();
    let toml = std::fs::read(p.join("hifi.toml")).unwrap();
    let history = ok(p, &["labels", "history", "--json"]);
    let events = labels_export(p);
    let cases: &[(&[&str], &str)] = &[
        (&["rename", "clickbait", "benign"], "a label `benign` already exists"),
        (&["rename", "clickbait", "clickbait"], "already has that name"),
        (&["rename", "spam", "ham"], "there is no label `spam`"),
        (&["rename", "clickbait", ""], "cannot be empty"),
        (&["rename", "clickbait", "click,bait"], "commas"),
        (&["merge", "teaser", "--into", "teaser"], "into itself"),
        (&["merge", "teaser", "teaser", "--into", "lure"], "named twice"),
        (&["merge", "teaser", "spam", "--into", "lure"], "no label `spam`"),
        (&["retire", "spam"], "there is no label `spam`"),
        (&["retire", ""], "cannot be empty"),
        (&["add", "", "--definition", "x"], "cannot be empty"),
        (&["add", "benign", "--definition", "x"], "a label `benign` already exists"),
        (&["add", "spam", "--definition", "  "], "definition"),
    ];
    for (args, want) in cases {
        let mut a = vec!["labels"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["--annotator", "lead"]);
        let (out, err) = fails(p, &a);
        assert!(out.is_empty(), "{args:?}: {out}");
        assert!(err.contains(want), "{args:?}: expected {want:?} in: {err}");
        assert!(err.contains("nothing changed"), "{args:?}: {err}");
        assert_eq!(std::fs::read(p.join("hifi.toml")).unwrap(), toml, "{args:?} touched hifi.toml");
        assert_eq!(ok(p, &["labels", "history", "--json"]), history, "{args:?}");
        assert_eq!(labels_export(p), events, "{args:?}");
    }
    let (_, err) = fails(p, &["labels", "add", "spam"]);
    assert!(err.contains("--definition"), "{err}");
    let (_, err) = fails(p, &["labels", "merge", "--into", "x"]);
    assert!(err.contains("LABEL"), "{err}");

    // Retiring one of the last two labels.
    let (dir2, _, store) = project();
    drop(store);
    let p2 = dir2.path();
    let toml2 = std::fs::read(p2.join("hifi.toml")).unwrap();
    let (_, err) = fails(p2, &["labels", "retire", "benign", "--annotator", "lead"]);
    assert!(err.contains("a task needs at least two"), "{err}");
    let (_, err) = fails(p2, &["labels", "merge", "benign", "--into", "clickbait"]);
    assert!(err.contains("at least two"), "{err}");
    assert_eq!(std::fs::read(p2.join("hifi.toml")).unwrap(), toml2);
    let h = json(p2, &["labels", "history", "--json"]);
    assert_eq!(h.as_array().unwrap().len(), 1, "only the initial set: {h}");
}

#[test]
fn add_and_retire_bring_items_back_for_review() {
    let dir = labeled_project();
    let p = dir.path();
    let out = ok(
        p,
        &[
            "labels",
            "add",
            "bargain",
            "--definition",
            "A plain price offer.",
            "--annotator",
            "lead",
        ],
    );
    assert!(out.contains("added bargain (label set v2)"), "{out}");
    assert!(out.contains("labels now: clickbait, teaser, lure, benign, bargain"), "{out}");
    ok(p, &["label", "ad-17", "bargain", "--annotator", "ana"]);
    assert_eq!(found(p, &["--label", "bargain"]), ["ad-17"]);

    // lure: ana and bob both gave it to ad-07.
    let out = ok(p, &["labels", "retire", "lure", "--annotator", "lead"]);
    assert!(out.contains("retired lure (label set v3)"), "{out}");
    assert!(
        out.contains("2 labels given with it no longer in force, 1 item queued for review again"),
        "{out}"
    );
    let v = json(p, &["show", "ad-07", "--json"]);
    assert_eq!(v["labels"], serde_json::json!({}), "no label in force: {v}");
    let h = v["history"].as_array().unwrap();
    assert!(h.iter().all(|e| e["label"] == "lure" && e["retired"] == true), "{v}");
    assert!(ok(p, &["show", "ad-07"]).contains("label lure (retired)"));
    assert!(!found(p, &["--labeled"]).contains(&"ad-07".to_string()));
    assert!(found(p, &["--unlabeled", "--limit", "100"]).contains(&"ad-07".to_string()));
    let (_, err) = fails(p, &["find", "--label", "lure"]);
    assert!(err.contains("retired lure"), "{err}");
    let (_, err) = fails(p, &["label", "ad-07", "lure", "--annotator", "ana"]);
    assert!(err.contains("unknown label \"lure\"") && err.contains("retired lure"), "{err}");
    // Its item is first in the review queue, and done once labeled again.
    let k7 = key(p, "ad-07");
    let mut store = Store::open(p).unwrap();
    assert_eq!(store.claim_next("ana").unwrap().map(|e| e.item_a), Some(k7));
    drop(store);
    let out = ok(p, &["label", "ad-07", "clickbait", "--annotator", "ana"]);
    assert!(out.contains("revisit"), "{out}");
    let mut store = Store::open(p).unwrap();
    assert_eq!(store.claim_next("ana").unwrap().map(|e| e.item_a), None);
    drop(store);
    assert_eq!(
        found(p, &["--label", "clickbait", "--annotator", "ana"]),
        ["ad-02", "ad-07", "ad-10"]
    );
    let h = json(p, &["labels", "history", "--json"]);
    let kinds: Vec<&str> =
        h.as_array().unwrap().iter().map(|v| v["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["initial", "add", "retire"]);
}

/// Run hifi with `$EDITOR` set to `editor` (and `$VISUAL` unset).
fn with_editor(p: &Path, editor: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hifi"))
        .arg("--project")
        .arg(p)
        .args(args)
        .env("EDITOR", editor)
        .env_remove("VISUAL")
        .output()
        .expect("run hifi");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn guidelines_are_versioned_and_labels_record_the_version() {
    let dir = labeled_project();
    let p = dir.path();
    let tools = tempfile::tempdir().unwrap();
    let script = tools.path().join("editor.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nsed -i 's/^- $/- A discount alone is not a teaser./' \"$1\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let editor = script.to_str().unwrap();

    assert!(ok(p, &["guidelines", "show"]).contains("no guidelines yet"));
    assert_eq!(json(p, &["guidelines", "history", "--json"]), serde_json::json!([]));
    // An editor that saves nothing new: no file, no version.
    let (good, out, err) = with_editor(p, "true", &["guidelines", "edit", "--annotator", "ana"]);
    assert!(good && out.contains("unchanged"), "{out}{err}");
    assert!(!p.join("guidelines.md").exists());
    // An editor that fails: an error, nothing saved.
    let (good, out, err) = with_editor(p, "false", &["guidelines", "edit", "--annotator", "ana"]);
    assert!(!good && err.contains("nothing saved"), "{out}{err}");
    assert!(!p.join("guidelines.md").exists());

    let (good, out, err) = with_editor(p, editor, &["guidelines", "edit", "--annotator", "ana"]);
    assert!(good, "{out}{err}");
    assert!(out.contains("guidelines v1 by ana"), "{out}");
    let text = std::fs::read_to_string(p.join("guidelines.md")).unwrap();
    assert!(text.contains("- A discount alone is not a teaser."), "{text}");
    assert!(
        text.contains("### teaser") && text.contains(LABELS[1].1),
        "the template has the definitions: {text}"
    );
    let out = ok(p, &["guidelines", "show"]);
    assert!(out.starts_with("guidelines v1,") && out.contains("by ana"), "{out}");
    assert!(out.contains("A discount alone is not a teaser."), "{out}");
    let shown = json(p, &["guidelines", "show", "--json"]);
    assert_eq!(shown["version"], 1);
    assert_eq!(shown["text"], text);
    // Saved again unchanged: no new version.
    let (good, out, _) = with_editor(p, "true", &["guidelines", "edit", "--annotator", "ana"]);
    assert!(good && out.contains("unchanged"), "{out}");

    // Labels given now record v1; the ones before recorded none.
    ok(p, &["label", "ad-12", "benign", "--annotator", "ana"]);
    let events = labels_export(p);
    let last = events.last().unwrap();
    assert_eq!((last["item_id"].as_str(), last["guidelines"].as_i64()), (Some("ad-12"), Some(1)));
    assert!(events[..events.len() - 1].iter().all(|e| e["guidelines"].is_null()));
    let v = json(p, &["show", "ad-12", "--json"]);
    assert_eq!(v["history"][0]["guidelines"], 1);

    // An edit made outside hifi is recorded the next time hifi opens the project.
    let mut f = std::fs::OpenOptions::new().append(true).open(p.join("guidelines.md")).unwrap();
    f.write_all(b"- A countdown timer is clickbait.\n").unwrap();
    drop(f);
    label_lines(p, "bob", &["ad-12 benign"]);
    let last = labels_export(p).pop().unwrap();
    assert_eq!(last["guidelines"], 2, "{last}");
    let h = json(p, &["guidelines", "history", "--json"]);
    let h = h.as_array().unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h[0]["annotator"], "ana");
    assert_eq!(h[1]["annotator"], Value::Null);
    assert!(h[1]["text"].as_str().unwrap().ends_with("- A countdown timer is clickbait.\n"));
    let out = ok(p, &["guidelines", "history"]);
    assert!(out.contains("v1") && out.contains("ana"), "{out}");
    assert!(out.contains("v2") && out.contains("edited outside hifi"), "{out}");
}

#[test]
fn help_teaches_with_examples() {
    let tmp = tempfile::tempdir().unwrap();
    for (args, want) in [
        (&["find", "--help"][..], "hifi find 'ref*'"),
        (&["show", "--help"][..], "hifi show ad-0042"),
        (&["label", "--help"][..], "--unflag"),
        (&["labels", "merge", "--help"][..], "--into clickbait"),
        (&["labels", "retire", "--help"][..], "queued for review again"),
        (&["labels", "history", "--help"][..], "hifi labels history"),
        (&["guidelines", "edit", "--help"][..], "$EDITOR"),
    ] {
        let (good, out, err) = hifi(tmp.path(), args);
        assert!(good, "{args:?}: {err}");
        assert!(out.contains(want), "{args:?}: expected {want:?} in:\n{out}");
    }
}
