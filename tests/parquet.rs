//! Parquet and Hugging Face dataset folders, through the real binary: files written by pyarrow
//! are imported (pools with nested columns, folders of shards, chat data, and every kind of bad
//! file), exports are read back by pyarrow, and dataset folders are loaded by `datasets` offline,
//! as a training script would.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use hifi::curate::synth::{generate, SynthSpec};
use hifi::store::Store;
use serde_json::{json, Value};

/// Write Parquet files with pyarrow: `tables` is a JSON object {path: {"rows": [...],
/// "schema": optional pyarrow type text per column, "compression": optional}}.
fn write_parquet(dir: &Path, tables: Value) {
    let script = r#"
import json, sys, os
import pyarrow as pa, pyarrow.parquet as pq
dir, spec = sys.argv[1], json.loads(sys.argv[2])
types = {
    "string": pa.string(), "int64": pa.int64(), "float64": pa.float64(),
    "list<string>": pa.list_(pa.string()),
    "struct<src,n>": pa.struct([("src", pa.string()), ("n", pa.int64())]),
    "messages": pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())])),
}
for name, t in spec.items():
    rows = t["rows"]
    cols = list(rows[0].keys())
    schema = pa.schema([(c, types[t.get("schema", {}).get(c, "string")]) for c in cols])
    table = pa.Table.from_pylist(rows, schema=schema)
    path = os.path.join(dir, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pq.write_table(table, path, compression=t.get("compression", "snappy"))
print(json.dumps({"ok": True}))
"#;
    run_consumers_python(script, &[dir.to_str().unwrap(), &tables.to_string()], dir);
}

/// A project made by `hifi init` (labels clickbait, benign) in a fresh folder.
fn init(labels: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("proj");
    let (ok, out, err) = hifi(
        tmp.path(),
        &["init", p.to_str().unwrap(), "--labels", labels, "--task", "Is this ad clickbait?"],
    );
    assert!(ok, "{out}{err}");
    (tmp, p)
}

fn run(p: &Path, args: &[&str]) -> String {
    let (ok, out, err) = hifi(p, args);
    assert!(ok, "hifi {args:?}: {out}{err}");
    out
}

/// Run hifi expecting it to fail; returns stderr.
fn fails(p: &Path, args: &[&str]) -> String {
    let (ok, out, err) = hifi(p, args);
    assert!(!ok, "hifi {args:?} should fail: {out}{err}");
    err
}

fn meta(store: &Store, id: &str) -> Value {
    let item = store.item_by_id(id).unwrap().unwrap_or_else(|| panic!("no item {id}"));
    serde_json::from_str(item.meta.as_deref().unwrap_or("null")).unwrap()
}

#[test]
fn pools_import_from_parquet_files_and_folders_of_shards() {
    let (tmp, p) = init("clickbait,benign");
    let d = tmp.path();
    let nested = json!({"tags": "list<string>", "info": "struct<src,n>", "score": "float64"});
    write_parquet(
        d,
        json!({
            "pool.parquet": {"schema": nested, "rows": [
                {"id": "a1", "text": "Free shipping today", "gold": "benign", "tags": ["x", "y"], "info": {"src": "web", "n": 1}, "score": 0.5},
                {"id": "a2", "text": "You won't believe this", "gold": null, "tags": [], "info": null, "score": 2.0},
                {"id": "a3", "text": "Ünïcödé café €5\nsecond line", "gold": "clickbait", "tags": null, "info": {"src": "tv", "n": 2}, "score": null}
            ]},
            // Shards sorted by name: 00000 first, whatever order they were written in.
            "data/train-00001-of-00002.parquet": {"rows": [{"body": "third", "key": "k3"}]},
            "data/train-00000-of-00002.parquet": {"rows": [{"body": "first", "key": "k1"}, {"body": "second", "key": "k2"}]},
            "gen/part-1.parquet": {"rows": [{"text": "g one"}, {"text": "g two"}]},
            "gen/part-2.parquet": {"rows": [{"text": "g three"}]}
        }),
    );
    std::fs::write(d.join("data/README.md"), "not a shard").unwrap();
    let out = run(&p, &["import", d.join("pool.parquet").to_str().unwrap()]);
    assert!(out.contains("imported 3 items") && out.contains("(parquet; 2 with gold"), "{out}");
    {
        let store = Store::open(&p).unwrap();
        let a1 = store.item_by_id("a1").unwrap().unwrap();
        assert_eq!((a1.text.as_str(), a1.gold.as_deref()), ("Free shipping today", Some("benign")));
        assert_eq!(
            meta(&store, "a1"),
            json!({"tags": ["x", "y"], "info": {"src": "web", "n": 1}, "score": 0.5})
        );
        assert_eq!(store.item_by_id("a2").unwrap().unwrap().gold, None);
        assert_eq!(meta(&store, "a2"), json!({"tags": [], "info": null, "score": 2.0}));
        let a3 = store.item_by_id("a3").unwrap().unwrap();
        assert_eq!(a3.text, "Ünïcödé café €5\nsecond line");
        assert_eq!(meta(&store, "a3")["tags"], Value::Null);
    }
    // A folder: one import of every shard, columns chosen as for CSV.
    let out =
        run(&p, &["import", d.join("data").to_str().unwrap(), "--text", "body", "--id", "key"]);
    assert!(out.contains("imported 3 items from"), "{out}");
    // Generated ids number the rows across the shards, in name order.
    let out = run(&p, &["import", d.join("gen").to_str().unwrap()]);
    assert!(out.contains("ids generated from file name and row"), "{out}");
    let store = Store::open(&p).unwrap();
    for (id, text) in [("k1", "first"), ("k2", "second"), ("k3", "third")] {
        assert_eq!(store.item_by_id(id).unwrap().unwrap().text, text);
    }
    for (id, text) in [("gen-1", "g one"), ("gen-2", "g two"), ("gen-3", "g three")] {
        assert_eq!(store.item_by_id(id).unwrap().unwrap().text, text, "{id}");
    }
    assert_eq!(store.item_count().unwrap(), 9);
}

#[test]
fn bad_parquet_files_are_named_with_file_row_and_column_and_nothing_is_imported() {
    let (tmp, p) = init("clickbait,benign");
    let d = tmp.path();
    write_parquet(
        d,
        json!({
            "good.parquet": {"rows": [{"id": "g1", "text": "fine"}]},
            "null.parquet": {"rows": [{"id": "n1", "text": "ok"}, {"id": "n2", "text": null}, {"id": "n3", "text": "ok too"}]},
            "number.parquet": {"schema": {"text": "int64"}, "rows": [{"id": "x1", "text": 5}]},
            "gzip.parquet": {"compression": "gzip", "rows": [{"id": "z1", "text": "zipped"}]},
            "zstd.parquet": {"compression": "zstd", "rows": [{"id": "z2", "text": "zstd is read"}]},
            "gold.parquet": {"rows": [{"id": "u1", "text": "t", "gold": "spam"}]},
            "dup.parquet": {"rows": [{"id": "g1", "text": "again"}]},
            "shards/a.parquet": {"rows": [{"id": "s1", "text": "one"}, {"id": "s2", "text": "two"}]},
            "shards/b.parquet": {"rows": [{"id": "s3", "text": "three"}, {"id": "s4", "text": null}]},
            "broken/a.parquet": {"rows": [{"id": "b1", "text": "one"}]},
            "broken/b.parquet": {"rows": [{"id": "b2", "text": "two"}]}
        }),
    );
    run(&p, &["import", d.join("good.parquet").to_str().unwrap()]);
    let whole = std::fs::read(d.join("good.parquet")).unwrap();
    std::fs::write(d.join("truncated.parquet"), &whole[..whole.len() / 2]).unwrap();
    std::fs::write(d.join("csv.parquet"), "id,text\nc1,hello\n").unwrap();
    std::fs::write(d.join("broken/b.parquet"), &whole[..whole.len() - 9]).unwrap();
    std::fs::create_dir_all(d.join("empty")).unwrap();
    let items = |p: &Path| Store::open(p).unwrap().item_count().unwrap();
    assert_eq!(items(&p), 1);
    let cases: &[(&str, &[&str], &str)] = &[
        ("null.parquet", &[], "null.parquet: row 2: column `text`: expected a string, found null"),
        ("number.parquet", &[], "number.parquet: row 1: column `text`: expected a string, found a number"),
        ("null.parquet", &["--text", "body"], "null.parquet: column `body`: no such column (the file has id, text; name another with --text COLUMN)"),
        ("null.parquet", &["--gold", "label"], "null.parquet: column `label`: no such column"),
        ("gzip.parquet", &[], "gzip.parquet: column `id`: compressed with gzip; hifi reads uncompressed, snappy and zstd Parquet"),
        ("gold.parquet", &[], "gold.parquet: row 1: column `gold`: unknown label \"spam\""),
        ("dup.parquet", &[], "dup.parquet: row 1: column `id`: duplicate id \"g1\": already in the project"),
        ("truncated.parquet", &[], "truncated.parquet: not a readable Parquet file"),
        ("csv.parquet", &[], "csv.parquet: not a readable Parquet file"),
        // A shard's problem names the shard and its own row.
        ("shards", &[], "b.parquet: row 2: column `text`: expected a string, found null"),
        ("broken", &[], "b.parquet: not a readable Parquet file"),
        ("empty", &[], "a folder without *.parquet files"),
    ];
    for (name, extra, want) in cases {
        let path = d.join(name);
        let mut args = vec!["import", path.to_str().unwrap()];
        args.extend_from_slice(extra);
        let err = fails(&p, &args);
        assert!(err.contains(want), "{name} {extra:?}: {err}");
        if *name != "empty" {
            assert!(err.contains("nothing was imported"), "{name}: {err}");
        }
        assert_eq!(items(&p), 1, "{name} changed the store");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
    // zstd is built in.
    run(&p, &["import", d.join("zstd.parquet").to_str().unwrap()]);
    assert_eq!(items(&p), 2);
}

#[test]
fn chat_parquet_becomes_items_with_candidates_like_chat_jsonl() {
    let records = json!([
        {"id": "q1", "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "4"}]},
        {"id": "q1", "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "Four."}]},
        {"id": "q2", "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Name a prime."},
            {"role": "assistant", "content": "7"}]},
        {"id": "q3", "messages": [{"role": "user", "content": "Only a question"}]}
    ]);
    let (tmp, p) = init("good,bad");
    let (_tmp2, p2) = init("good,bad");
    let d = tmp.path();
    write_parquet(
        d,
        json!({"chat.parquet": {"schema": {"messages": "messages"}, "rows": records}}),
    );
    let jsonl: String = records.as_array().unwrap().iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(d.join("chat.jsonl"), jsonl).unwrap();
    let out = run(&p, &["import", d.join("chat.parquet").to_str().unwrap()]);
    assert!(
        out.contains("imported 3 items with 3 candidate responses")
            && out.contains("(chat, parquet;"),
        "{out}"
    );
    run(&p2, &["import", d.join("chat.jsonl").to_str().unwrap()]);
    let (a, b) = (Store::open(&p).unwrap(), Store::open(&p2).unwrap());
    for id in ["q1", "q2", "q3"] {
        let (x, y) = (a.item_by_id(id).unwrap().unwrap(), b.item_by_id(id).unwrap().unwrap());
        assert_eq!(x.text, y.text, "{id}");
        assert_eq!(a.item_context(x.key).unwrap(), b.item_context(y.key).unwrap(), "{id}");
        let texts = |s: &Store, k: i64| -> Vec<String> {
            s.all_revisions().unwrap().into_iter().filter(|r| r.item == k).map(|r| r.text).collect()
        };
        assert_eq!(texts(&a, x.key), texts(&b, y.key), "{id}");
    }
    let q1 = a.item_by_id("q1").unwrap().unwrap();
    assert_eq!(q1.text, "What is 2+2?");
    assert_eq!(
        a.item_context(q1.key).unwrap(),
        Some(json!([{"role": "system", "content": "Be brief."}]))
    );
    let listed = run(&p, &["responses", "list", "q1", "--json"]);
    assert!(listed.contains("Four.") && listed.contains("\"4\""), "{listed}");
    // A malformed message is named by row and field.
    write_parquet(
        d,
        json!({"bad-chat.parquet": {"schema": {"messages": "messages"}, "rows": [
            {"id": "c1", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
            {"id": "c2", "messages": [{"role": "robot", "content": "q"}]}
        ]}}),
    );
    let err = fails(&p, &["import", d.join("bad-chat.parquet").to_str().unwrap()]);
    assert!(
        err.contains("bad-chat.parquet: row 2: column `messages[0].role`: unknown role \"robot\""),
        "{err}"
    );
}

/// A project with 40 labeled items with metadata; returns (tmp, project).
fn labeled_project() -> (tempfile::TempDir, PathBuf) {
    let (tmp, p) = init("clickbait,benign");
    let mut body = String::from("id,text,source\n");
    for i in 0..40 {
        body.push_str(&format!("i{i},\"ad number {i}, with a comma\",site-{}\n", i % 3));
    }
    std::fs::write(tmp.path().join("pool.csv"), body).unwrap();
    run(&p, &["import", tmp.path().join("pool.csv").to_str().unwrap()]);
    let labels: String = (0..40)
        .map(|i| format!("i{i} {}\n", if i % 3 == 0 { "clickbait" } else { "benign" }))
        .collect();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hifi"))
        .args(["--project", p.to_str().unwrap(), "label", "--stdin", "--annotator", "ana"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(labels.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success());
    (tmp, p)
}

#[test]
fn a_parquet_export_has_the_jsonl_rows_and_reads_back_in_pyarrow() {
    let (tmp, p) = labeled_project();
    let pq_out = tmp.path().join("all.parquet");
    let jl_out = tmp.path().join("all.jsonl");
    let out = run(
        &p,
        &["export", "--format", "parquet", "--split", "all", "-o", pq_out.to_str().unwrap()],
    );
    assert!(out.contains("wrote 40 items"), "{out}");
    run(&p, &["export", "--split", "all", "-o", jl_out.to_str().unwrap()]);
    let script = r#"
import json, sys
import pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
print(json.dumps({"schema": [[f.name, str(f.type)] for f in t.schema], "rows": t.to_pylist()}))
"#;
    let v = run_consumers_python(script, &[pq_out.to_str().unwrap()], tmp.path());
    assert_eq!(
        v["schema"],
        json!([
            ["id", "string"],
            ["text", "string"],
            ["label", "string"],
            ["split", "string"],
            ["meta", "string"]
        ])
    );
    let jsonl: Vec<Value> = std::fs::read_to_string(&jl_out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), jsonl.len());
    for (r, j) in rows.iter().zip(&jsonl) {
        for k in ["id", "text", "label", "split"] {
            assert_eq!(r[k], j[k], "{k}");
        }
        let m: Value = serde_json::from_str(r["meta"].as_str().unwrap()).unwrap();
        assert_eq!(m, j["meta"]);
    }
    // Parquet never goes to standard output, and an existing file needs --force.
    let err = fails(&p, &["export", "--format", "parquet", "-o", "-"]);
    assert!(err.contains("Parquet is binary"), "{err}");
    let err = fails(
        &p,
        &["export", "--format", "parquet", "--split", "all", "-o", pq_out.to_str().unwrap()],
    );
    assert!(err.contains("--force"), "{err}");
    // The export imports again, labels as gold.
    let (_t2, p2) = init("clickbait,benign");
    run(&p2, &["import", pq_out.to_str().unwrap(), "--gold", "label"]);
    let s2 = Store::open(&p2).unwrap();
    assert_eq!(s2.item_count().unwrap(), 40);
    let i3 = s2.item_by_id("i3").unwrap().unwrap();
    assert_eq!(
        (i3.text.as_str(), i3.gold.as_deref()),
        ("ad number 3, with a comma", Some("clickbait"))
    );
}

/// `datasets.load_dataset(DIR)` offline: splits with their rows and columns, and the card.
fn load_dataset(dir: &Path, scratch: &Path) -> Value {
    let script = r#"
import json, sys
import datasets
ds = datasets.load_dataset(sys.argv[1])
out = {}
for name, split in ds.items():
    out[name] = {"rows": len(split), "columns": split.column_names,
                 "features": {k: str(v) for k, v in split.features.items()},
                 "data": [split[i] for i in range(len(split))]}
print(json.dumps(out))
"#;
    run_consumers_python(script, &[dir.to_str().unwrap()], scratch)
}

#[test]
fn an_hf_dataset_folder_loads_with_datasets_and_its_card_states_the_provenance() {
    // A pool the synthetic "LLM" scored, labeled through `hifi label` by two experts; a probe
    // round through the CLI splits, scores and refills the queue.
    let spec =
        SynthSpec { n: 300, dim: 16, labels: 2, boundary_regions: 2, pure_regions: 4, seed: 7 };
    let synth = generate(&spec).unwrap();
    let (dir, cfg, store) = project_from_synth(&synth);
    drop(store);
    let p = dir.path();
    let names = cfg.label_names();
    let mut ana = String::new();
    let mut ben = String::new();
    for i in 0..150 {
        let gold = &names[synth.pool.labels[i] as usize];
        ana.push_str(&format!("it{i} {gold}\n"));
        if i % 3 == 0 {
            let other = if i % 30 == 0 { &names[1 - synth.pool.labels[i] as usize] } else { gold };
            ben.push_str(&format!("it{i} {other}\n"));
        }
    }
    for (who, lines) in [("ana", &ana), ("ben", &ben)] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hifi"))
            .args(["--project", p.to_str().unwrap(), "label", "--stdin", "--annotator", who])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(lines.as_bytes())?;
                c.wait_with_output()
            })
            .unwrap();
        assert!(out.status.success());
    }
    let out = run(p, &["round", "--budget", "10"]);
    assert!(out.contains("queue refilled"), "{out}");
    let report: Value = serde_json::from_str(&run(p, &["report", "--json"])).unwrap();
    let last = report["rounds"].as_array().unwrap().last().unwrap().clone();

    let train_jsonl = p.join("train.jsonl");
    let eval_jsonl = p.join("eval.jsonl");
    run(p, &["export", "-o", train_jsonl.to_str().unwrap()]);
    run(p, &["export", "--split", "eval", "-o", eval_jsonl.to_str().unwrap()]);
    let ids = |f: &Path| -> Vec<String> {
        std::fs::read_to_string(f)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (train_ids, eval_ids) = (ids(&train_jsonl), ids(&eval_jsonl));
    assert!(!train_ids.is_empty() && !eval_ids.is_empty());

    let ds = p.join("my-dataset");
    let out = run(p, &["export", "--format", "hf-dataset", "-o", ds.to_str().unwrap()]);
    assert!(
        out.contains(&format!("train {} rows, test {} rows", train_ids.len(), eval_ids.len())),
        "{out}"
    );
    assert!(ds.join("data/train-00000-of-00001.parquet").is_file());
    assert!(ds.join("data/test-00000-of-00001.parquet").is_file());
    let v = load_dataset(&ds, dir.path());
    let cols = json!(["id", "text", "label", "split", "meta"]);
    assert_eq!(v["train"]["columns"], cols);
    assert_eq!(v["test"]["columns"], cols);
    let got = |s: &str| -> Vec<String> {
        v[s]["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(got("train"), train_ids);
    assert_eq!(got("test"), eval_ids);
    assert!(v["test"]["data"].as_array().unwrap().iter().all(|r| r["split"] == "eval"));

    // The card: front matter for datasets, and the provenance `hifi report` computes.
    let card = std::fs::read_to_string(ds.join("README.md")).unwrap();
    assert!(card.starts_with("---\nconfigs:\n- config_name: default\n  data_files:\n"), "{card}");
    assert!(card.contains("  - name: train\n    num_bytes: "), "{card}");
    assert!(card.contains(&format!("    num_examples: {}\n", train_ids.len())), "{card}");
    assert!(card.contains("  download_size: ") && card.contains("  dataset_size: "), "{card}");
    assert!(card.contains(&format!("Written by hifi {}", env!("CARGO_PKG_VERSION"))), "{card}");
    // As `hifi report` shows a κ: `0.612 [0.48, 0.73] (n=120)`.
    let show = |a: &Value| -> String {
        let k = a["kappa"].as_f64().expect("a defined κ");
        match a["kappa_ci"].as_array() {
            Some(ci) => format!(
                "{k:.3} [{:.2}, {:.2}] (n={})",
                ci[0].as_f64().unwrap(),
                ci[1].as_f64().unwrap(),
                a["n"]
            ),
            None => format!("{k:.3} (n={})", a["n"]),
        }
    };
    let s = &last["scores"];
    assert!(card.contains(&show(&s["model_vs_expert"])), "model vs expert κ missing: {card}");
    assert!(card.contains(&show(&s["expert_vs_expert"])), "expert vs expert κ missing: {card}");
    assert!(card.contains(&format!("| {} | probe |", last["round"])), "{card}");
    assert!(
        card.contains("- ana: 150 labels in force") && card.contains("- ben: 50 labels in force"),
        "{card}"
    );
    assert!(card.contains("Teases or withholds what is offered"), "label definitions: {card}");
    assert!(card.contains("LLM that scored the pool"), "{card}");
    assert!(card.contains("The review queue over every mining run:"), "{card}");
    assert!(card.contains("## How the items were chosen"), "{card}");

    // An existing folder needs --force; only a dataset folder is replaced; never a project.
    let err = fails(p, &["export", "--format", "hf-dataset", "-o", ds.to_str().unwrap()]);
    assert!(err.contains("--force"), "{err}");
    run(p, &["export", "--format", "hf-dataset", "-o", ds.to_str().unwrap(), "--force"]);
    std::fs::write(ds.join("notes.txt"), "mine").unwrap();
    let err =
        fails(p, &["export", "--format", "hf-dataset", "-o", ds.to_str().unwrap(), "--force"]);
    assert!(err.contains("holds files hifi did not write"), "{err}");
    assert_eq!(std::fs::read_to_string(ds.join("notes.txt")).unwrap(), "mine");
    let err = fails(p, &["export", "--format", "hf-dataset", "-o", p.to_str().unwrap(), "--force"]);
    assert!(err.contains("hifi never writes a dataset folder"), "{err}");
    let err = fails(
        p,
        &["export", "--format", "hf-dataset", "-o", p.join("vectors").to_str().unwrap(), "--force"],
    );
    assert!(err.contains("hifi never writes a dataset folder"), "{err}");
    assert!(p.join("hifi.db").is_file() && p.join("hifi.toml").is_file());
    // Nothing temporary is left beside the folders written.
    let stray: Vec<String> = std::fs::read_dir(p)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") || n.ends_with(".old"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

#[test]
fn a_responses_dataset_has_messages_and_a_preferences_dataset_has_pairs() {
    let (tmp, p) = init("good,bad");
    let mut lines = String::new();
    for i in 1..=6 {
        for answer in ["right", "wrong"] {
            let r = json!({"id": format!("q{i}"), "messages": [
                {"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": format!("Question {i}?")},
                {"role": "assistant", "content": format!("A {answer} answer to {i}.")}
            ]});
            lines.push_str(&format!("{r}\n"));
        }
    }
    std::fs::write(tmp.path().join("sft.jsonl"), lines).unwrap();
    run(&p, &["import", tmp.path().join("sft.jsonl").to_str().unwrap()]);
    for i in 1..=6 {
        let q = format!("q{i}");
        run(&p, &["responses", "accept", &q, "1", "--annotator", "ana"]);
        run(&p, &["responses", "reject", &q, "2", "--annotator", "ana"]);
        run(&p, &["responses", "prefer", &q, "1", "2", "--annotator", "ana"]);
    }
    // q6 is labeled and put in the eval split: it is the test split.
    {
        let mut store = Store::open(&p).unwrap();
        run(&p, &["label", "q6", "good", "--annotator", "ana"]);
        store.assign_splits(1.0, &Default::default()).unwrap();
    }
    let chat = tmp.path().join("chat-ds");
    let out = run(&p, &["export", "--format", "hf-dataset", "-o", chat.to_str().unwrap()]);
    assert!(out.contains("(responses): train 5 rows, test 1 rows"), "{out}");
    let v = load_dataset(&chat, tmp.path());
    assert_eq!(v["train"]["columns"], json!(["messages", "id", "provenance"]));
    assert_eq!(v["test"]["rows"], 1);
    assert_eq!(v["test"]["data"][0]["id"], "q6");
    let m = &v["train"]["data"][0]["messages"];
    assert_eq!(
        m,
        &json!([
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "Question 1?"},
            {"role": "assistant", "content": "A right answer to 1."}
        ])
    );
    let prov: Value =
        serde_json::from_str(v["train"]["data"][0]["provenance"].as_str().unwrap()).unwrap();
    assert_eq!(prov["annotators"], json!(["ana"]));
    let card = std::fs::read_to_string(chat.join("README.md")).unwrap();
    assert!(card.contains("  - name: messages\n    list:\n    - name: role\n"), "{card}");
    assert!(card.contains("accept/reject") && card.contains("response judgements"), "{card}");

    let dpo = tmp.path().join("dpo-ds");
    run(
        &p,
        &[
            "export",
            "--format",
            "hf-dataset",
            "--content",
            "preferences",
            "-o",
            dpo.to_str().unwrap(),
        ],
    );
    let v = load_dataset(&dpo, tmp.path());
    assert_eq!(v["train"]["columns"], json!(["prompt", "chosen", "rejected", "id", "provenance"]));
    assert_eq!((v["train"]["rows"].as_u64(), v["test"]["rows"].as_u64()), (Some(5), Some(1)));
    let r = &v["train"]["data"][0];
    assert_eq!(r["chosen"], json!([{"role": "assistant", "content": "A right answer to 1."}]));
    assert_eq!(r["rejected"], json!([{"role": "assistant", "content": "A wrong answer to 1."}]));
    assert_eq!(r["prompt"][1], json!({"role": "user", "content": "Question 1?"}));

    // The same rows as one Parquet file, read back by pyarrow.
    let file = tmp.path().join("chat.parquet");
    run(
        &p,
        &["export", "--format", "parquet", "--content", "responses", "-o", file.to_str().unwrap()],
    );
    let script = r#"
import json, sys
import pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
print(json.dumps({"schema": {f.name: str(f.type) for f in t.schema}, "rows": t.num_rows}))
"#;
    let v = run_consumers_python(script, &[file.to_str().unwrap()], tmp.path());
    assert_eq!(v["rows"], 5);
    assert_eq!(v["schema"]["messages"], "list<element: struct<role: string, content: string>>");
    assert_eq!(v["schema"]["provenance"], "string");
    // Preference pairs are no chat rows.
    let err = fails(
        &p,
        &["export", "--format", "chat-jsonl", "--content", "preferences", "-o", "x.jsonl"],
    );
    assert!(err.contains("preference pairs export as dpo-jsonl, parquet or hf-dataset"), "{err}");
}

/// Seeded corruptions of valid Parquet files (flat and nested, several codecs): every import
/// either succeeds or is refused with the file named, and a refused import changes nothing.
/// The parquet crate panics on some (a data page that refers to a missing dictionary): those
/// are refused by name as the others, and nothing about the panic reaches stderr.
#[test]
fn corrupted_parquet_files_are_refused_by_name_and_never_panic() {
    use rand::{Rng, SeedableRng};
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let nested = json!({"tags": "list<string>", "info": "struct<src,n>", "messages": "messages"});
    let rows = json!([
        {"id": "a1", "text": "one", "tags": ["x", "y"], "info": {"src": "w", "n": 1}, "messages": [{"role": "user", "content": "q"}]},
        {"id": "a2", "text": "two", "tags": [], "info": null, "messages": null},
        {"id": "a3", "text": "three", "tags": null, "info": {"src": "t", "n": 2}, "messages": []}
    ]);
    let flat = json!([{"id": "f1", "text": "alpha", "n": 1}, {"id": "f2", "text": "beta", "n": 2}]);
    write_parquet(
        d,
        json!({
            "nested.parquet": {"schema": nested, "rows": rows},
            "flat.parquet": {"schema": {"n": "int64"}, "rows": flat},
            "flat-zstd.parquet": {"schema": {"n": "int64"}, "rows": flat, "compression": "zstd"},
            "flat-none.parquet": {"schema": {"n": "int64"}, "rows": flat, "compression": "none"}
        }),
    );
    let seeds: Vec<Vec<u8>> = ["nested", "flat", "flat-zstd", "flat-none"]
        .iter()
        .map(|n| std::fs::read(d.join(format!("{n}.parquet"))).unwrap())
        .collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x9a7);
    let (mut accepted, mut rejected, mut caught) = (0, 0, 0);
    let (mut panicking, mut refused): (Option<Vec<u8>>, Option<Vec<u8>>) = (None, None);
    for case in 0..600 {
        let mut bytes = seeds[case % seeds.len()].clone();
        for _ in 0..rng.gen_range(1..4) {
            let len = bytes.len();
            match rng.gen_range(0..3) {
                0 => {
                    let i = rng.gen_range(0..len);
                    bytes[i] ^= 1 << rng.gen_range(0..8);
                }
                1 => {
                    let i = rng.gen_range(0..len);
                    bytes[i] = rng.gen();
                }
                _ => {
                    let a = rng.gen_range(4..len.saturating_sub(8).max(5));
                    bytes.drain(a..(a + rng.gen_range(1..8)).min(len));
                }
            }
        }
        let name = format!("case{case}.parquet");
        let path = d.join(&name);
        std::fs::write(&path, &bytes).unwrap();
        // A fresh project each time: the seeds' ids would be duplicates in the second.
        let (_p, cfg, mut store) = project();
        let opts =
            hifi::io::import::ImportOptions { labels: cfg.label_names(), ..Default::default() };
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            hifi::io::import::import_items(
                &mut store,
                &path,
                &opts,
                &mut hifi::progress::Silent,
                &hifi::progress::CancelToken::new(),
            )
        }));
        match r {
            Err(_) => panic!("import panicked on {name}"),
            Ok(Ok(_)) => accepted += 1,
            Ok(Err(e)) => {
                rejected += 1;
                refused.get_or_insert_with(|| bytes.clone());
                let m = e.to_string();
                if m.contains("the Parquet reader failed") {
                    caught += 1;
                    panicking.get_or_insert_with(|| bytes.clone());
                }
                assert!(m.contains(&name), "the rejection does not name the file: {m}");
                assert!(m.contains("nothing was imported") || m.contains("cannot read"), "{m}");
                assert_eq!(store.item_count().unwrap(), 0, "{name} changed the store");
            }
        }
        std::fs::remove_file(&path).unwrap();
    }
    println!("parquet fuzz: {accepted} accepted, {rejected} rejected by name ({caught} where the parquet crate panicked)");
    assert!(accepted > 0 && rejected > 0);
    // Through the binary, a file the crate panicked on (with these seeds there is one) is
    // refused without a word about a panic.
    let (bytes, crate_panicked) = match (panicking, refused) {
        (Some(b), _) => (b, true),
        (None, Some(b)) => (b, false),
        (None, None) => unreachable!("asserted above: some were rejected"),
    };
    let (tmp2, p) = init("clickbait,benign");
    let path = tmp2.path().join("fuzzed.parquet");
    std::fs::write(&path, bytes).unwrap();
    let err = fails(&p, &["import", path.to_str().unwrap()]);
    assert!(err.contains("fuzzed.parquet") && err.contains("nothing was imported"), "{err}");
    assert!(!crate_panicked || err.contains("the Parquet reader failed"), "{err}");
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{err}");
}
