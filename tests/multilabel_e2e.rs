//! Issue 37's done-when, end to end on a real multi-label set: 60 desktop applications of
//! Debian 12's AppStream metadata with their freedesktop.org main categories (several per
//! application; ten labels), through the binary and the real SmolLM2: `init --multi-label` →
//! import (gold lists) → prelabel → embed → mine → label in the workstation over tmux (toggle
//! two labels, confirm) and on the command line → round → report (per-label κ) → simulate
//! (`--json`: mean and per-label κ) → export (JSONL lists, CSV joined, chat JSONL per label,
//! read back by Hugging Face `datasets`).

mod common;

use common::workstation::Workstation;
use common::*;
use hifi::store::{AnnotationKind, Store};
use serde_json::Value;

const ITEMS: usize = 60;

fn ok(p: &std::path::Path, args: &[&str]) -> String {
    let (success, out, err) = hifi(p, args);
    assert!(success, "hifi {args:?} failed:\n{err}\n{out}");
    out
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

#[test]
fn a_real_multi_label_set_goes_from_init_to_export() {
    require_model();
    let set = appstream_set();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("apps");

    // init: the labels file says multi_label; --multi-label says it too.
    let (success, out, err) = {
        let o = bin()
            .args(["init"])
            .arg(&p)
            .arg("--from")
            .arg(set.join("labels.toml"))
            .arg("--multi-label")
            .output()
            .unwrap();
        (o.status.success(), String::from_utf8_lossy(&o.stdout).into_owned(), o.stderr)
    };
    assert!(success, "init failed: {}", String::from_utf8_lossy(&err));
    assert!(out.contains("multi-label"), "{out}");
    let cfg = hifi::config::Config::load(&p).unwrap();
    assert!(cfg.multi_label);
    let names = cfg.label_names();
    assert_eq!(names.len(), 10);

    // import: the first 60 applications, gold categories joined by "|".
    let mut rdr = csv::Reader::from_path(set.join("items.csv")).unwrap();
    let rows: Vec<csv::StringRecord> = rdr.records().take(ITEMS).map(Result::unwrap).collect();
    let mut w = csv::Writer::from_path(p.join("items.csv")).unwrap();
    w.write_record(["id", "text", "gold"]).unwrap();
    for r in &rows {
        w.write_record(r).unwrap();
    }
    w.flush().unwrap();
    ok(&p, &["import", p.join("items.csv").to_str().unwrap(), "--label-sep", "|"]);
    let gold: Vec<(String, Vec<String>)> = {
        let store = Store::open(&p).unwrap();
        rows.iter()
            .map(|r| {
                let item = store.item_by_id(&r[0]).unwrap().unwrap();
                let g = hifi::multilabel::decode(item.gold.as_deref().unwrap()).unwrap();
                (r[0].to_string(), g)
            })
            .collect()
    };
    assert!(gold.iter().any(|(_, g)| g.len() >= 2), "the set has items with several labels");
    for (id, g) in &gold {
        let want: Vec<&str> = rows.iter().find(|r| &r[0] == id).unwrap()[2].split('|').collect();
        assert_eq!(g, &want, "{id}: gold stored as the list, in label-set order");
    }

    // prelabel and embed with the real model: one independent probability per label.
    ok(&p, &["prelabel"]);
    ok(&p, &["embed"]);
    {
        let store = Store::open(&p).unwrap();
        let m = store.latest_model().unwrap().unwrap();
        let preds = store.predictions(m.id).unwrap();
        assert_eq!(preds.len(), ITEMS);
        assert!(preds
            .iter()
            .all(|x| x.probs.len() == 10 && x.probs.iter().all(|q| (0.0..=1.0).contains(q))));
        assert!(
            preds.iter().any(|x| (x.probs.iter().sum::<f64>() - 1.0).abs() > 0.05),
            "per-label probabilities are not normalised over the labels"
        );
    }

    // mine: single items on the least certain labels (adaptive, the default).
    ok(&p, &["mine", "--budget", "12", "--seed", "3"]);
    let first = {
        let store = Store::open(&p).unwrap();
        let q = store.queue().unwrap();
        assert!(q.len() >= 12, "the queue holds the budget: {}", q.len());
        q[0].item_a
    };

    // The workstation over tmux: toggle two labels (keys 1 and 4: AudioVideo, Game), confirm.
    let w = Workstation::launch_with(&p, "ml-e2e", &[], (80, 24));
    w.wait_for("the first item", |s| s.contains("[ ] AudioVideo"));
    w.keys("1");
    w.keys("4");
    w.wait_for("two labels on", |s| s.contains("enter records: AudioVideo, Game"));
    w.keys("Enter");
    w.wait_for("the next item", |s| s.contains("enter records: none"));
    w.quit();
    {
        let store = Store::open(&p).unwrap();
        let ana: Vec<_> = store
            .events()
            .unwrap()
            .into_iter()
            .filter(|e| e.annotator == "ana" && e.kind == AnnotationKind::Label)
            .collect();
        assert_eq!(ana.len(), 1, "one event for the confirmed set");
        assert_eq!(ana[0].item, first);
        assert_eq!(ana[0].label.as_deref(), Some(r#"["AudioVideo","Game"]"#));
    }

    // The command line: an expert labels 40 applications (their categories), one with --none.
    let mut lines = String::new();
    for (id, g) in gold.iter().skip(1).take(39) {
        lines.push_str(&format!("{id}\t{}\n", g.join(",")));
    }
    let mut child = bin()
        .args(["--project"])
        .arg(&p)
        .args(["--quiet", "label", "--stdin", "--annotator", "cy"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), lines.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "label --stdin: {}", String::from_utf8_lossy(&o.stderr));
    let last = &gold[40].0;
    ok(&p, &["label", last, "--none", "--annotator", "cy"]);
    // A list naming an unknown label is refused, naming the item; nothing is stored.
    let before = Store::open(&p).unwrap().events().unwrap().len();
    let (success, _, err) = hifi(&p, &["label", &gold[41].0, "Game,Gmae", "--annotator", "cy"]);
    assert!(!success && err.contains(&gold[41].0) && err.contains("Gmae"), "{err}");
    assert_eq!(Store::open(&p).unwrap().events().unwrap().len(), before);
    {
        let store = Store::open(&p).unwrap();
        let cy: Vec<(i64, String)> = store
            .current_labels()
            .unwrap()
            .into_iter()
            .filter(|(_, who, _)| who == "cy")
            .map(|(i, _, l)| (i, l))
            .collect();
        assert_eq!(cy.len(), 40);
        let none = store.item_by_id(last).unwrap().unwrap().key;
        assert!(cy.contains(&(none, "[]".to_string())), "--none stores the empty set");
    }

    // round: the one-vs-rest probe; report: κ per label and their mean.
    ok(&p, &["round"]);
    let report = json(&ok(&p, &["report", "--json"]));
    let text = ok(&p, &["report"]);
    let rounds = report["rounds"].as_array().expect("rounds in the report");
    let newest = rounds.last().unwrap();
    let per_label = newest["scores"]["per_label"]
        .as_object()
        .unwrap_or_else(|| panic!("per_label in the newest round: {newest}"));
    for n in &names {
        assert!(per_label.contains_key(n), "{n} in per_label: {per_label:?}");
        assert!(text.contains(n.as_str()), "{n} in the report's text:\n{text}");
    }

    // simulate: every result row's kappa is the mean of its per-label values.
    let sim = json(&ok(
        &p,
        &[
            "simulate",
            "--budgets",
            "10,20",
            "--seeds",
            "2",
            "--strategies",
            "adaptive,random",
            "--force",
            "--json",
        ],
    ));
    let results = sim["results"].as_array().expect("results");
    assert_eq!(results.len(), 4, "2 strategies × 2 budgets");
    for r in results {
        let per = r["per_label"].as_object().unwrap_or_else(|| panic!("per_label: {r}"));
        assert_eq!(per.len(), 10, "{r}");
        let vals: Vec<f64> =
            per.values().filter_map(|v| v.as_f64().or_else(|| v["mean"].as_f64())).collect();
        assert!(!vals.is_empty(), "{r}");
        let mean = vals.iter().sum::<f64>() / vals.len() as f64;
        let k = r["kappa"].as_f64().or_else(|| r["kappa"]["mean"].as_f64()).unwrap();
        assert!((k - mean).abs() < 1e-6, "kappa {k} is the mean {mean} of {per:?}");
    }

    // export: JSONL lists, CSV joined, chat JSONL one record per item and label.
    let out = dir.path();
    for (format, file) in [("jsonl", "l.jsonl"), ("csv", "l.csv"), ("chat-jsonl", "chat.jsonl")] {
        let f = out.join(file);
        ok(&p, &["export", "--format", format, "--split", "all", "-o", f.to_str().unwrap()]);
    }
    let jsonl: Vec<Value> =
        std::fs::read_to_string(out.join("l.jsonl")).unwrap().lines().map(json).collect();
    assert!(!jsonl.is_empty());
    assert!(jsonl.iter().all(|r| r["label"].is_array()), "labels are lists: {:?}", jsonl[0]);
    assert!(jsonl.iter().any(|r| r["label"].as_array().unwrap().len() >= 2));
    let csv_text = std::fs::read_to_string(out.join("l.csv")).unwrap();
    assert!(csv_text.contains("AudioVideo,Game") || csv_text.lines().any(|l| l.contains(',')));
    let chat = std::fs::read_to_string(out.join("chat.jsonl")).unwrap();
    assert_eq!(chat.lines().count(), jsonl.len() * 10, "one chat record per item and label");
    let answers: Vec<String> = chat
        .lines()
        .map(|l| json(l)["messages"][2]["content"].as_str().unwrap().to_string())
        .collect();
    assert!(answers.iter().all(|a| a.ends_with(": yes") || a.ends_with(": no")), "{answers:?}");
    let loaded = load_with_datasets(&out.join("chat.jsonl"), &["messages"], out);
    assert_eq!(loaded["rows"].as_u64(), Some(chat.lines().count() as u64), "{loaded}");
}
