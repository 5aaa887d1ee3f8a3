//! `hifi import` of fine-tuning files (OpenAI chat, Alpaca, ShareGPT) and of prompt pools with
//! responses, through the real binary: prompts become items, the messages before them the
//! item's context, the assistant turns candidate responses; bad records are named by file,
//! line and field and nothing is kept.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use hifi::store::{Revision, Store};
use serde_json::{json, Value};

/// A fresh project made by `hifi init` (the sample's labels).
fn init() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("proj");
    let labels = repo().join("sample-data/labels.toml");
    let (ok, out, err) =
        hifi(tmp.path(), &["init", p.to_str().unwrap(), "--from", labels.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    (tmp, p)
}

/// `records` as JSON lines.
fn lines(records: &[Value]) -> String {
    records.iter().map(|r| format!("{r}\n")).collect()
}

/// Write `records` as JSON lines to `name` in `dir`.
fn jsonl(dir: &Path, name: &str, records: &[Value]) -> PathBuf {
    file(dir, name, lines(records).as_bytes())
}

fn import(project: &Path, file: &Path, extra: &[&str]) -> (bool, String, String) {
    let mut args = vec!["import", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    hifi(project, &args)
}

fn key(st: &Store, id: &str) -> i64 {
    st.item_by_id(id).unwrap().unwrap_or_else(|| panic!("no item {id}")).key
}

fn texts(revs: &[Revision]) -> Vec<&str> {
    revs.iter().map(|r| r.text.as_str()).collect()
}

fn sys(t: &str) -> Value {
    json!({"role": "system", "content": t})
}
fn user(t: &str) -> Value {
    json!({"role": "user", "content": t})
}
fn bot(t: &str) -> Value {
    json!({"role": "assistant", "content": t})
}

#[test]
fn chat_single_and_multi_turn() {
    let (tmp, p) = init();
    let f = jsonl(
        tmp.path(),
        "chat.jsonl",
        &[
            json!({"id": "c1", "source": "unit", "messages": [
                sys("Answer in one line."),
                user("What is 2 + 2?"),
                bot("4, because \u{1b}[31m2 + 2 = 4\u{1b}[0m.")
            ]}),
            json!({"id": "c2", "messages": [
                user("Name a colour."),
                bot("Blue."),
                user("Another one?"),
                bot("Green.")
            ]}),
            json!({"id": "c3", "messages": [user("A prompt with no answer yet.")]}),
        ],
    );
    let (ok, out, err) = import(&p, &f, &[]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("imported 3 items with 2 candidate responses"), "{out}");
    assert!(out.contains("(chat; "), "{out}");

    let st = Store::open(&p).unwrap();
    assert_eq!(st.item_count().unwrap(), 3);
    let imports = st.imports().unwrap();
    assert_eq!((imports[0].format.as_str(), imports[0].rows), ("chat", 3));

    let c1 = st.item_by_id("c1").unwrap().unwrap();
    assert_eq!(c1.text, "What is 2 + 2?");
    assert_eq!(c1.meta.as_deref(), Some(r#"{"source":"unit"}"#));
    assert_eq!(st.item_context(c1.key).unwrap(), Some(json!([sys("Answer in one line.")])));
    let revs = st.revisions(c1.key).unwrap();
    assert_eq!(revs.len(), 1);
    // Escape codes are stored as they came (the screens render them inert).
    assert_eq!(revs[0].text, "4, because \u{1b}[31m2 + 2 = 4\u{1b}[0m.");
    assert_eq!((revs[0].number, revs[0].parent, revs[0].source.as_str()), (1, None, "import"));
    assert_eq!(
        revs[0].origin,
        Some(json!({"file": f.to_str().unwrap(), "line": 1, "format": "chat"}))
    );

    let c2 = key(&st, "c2");
    assert_eq!(st.item(c2).unwrap().unwrap().text, "Another one?");
    assert_eq!(st.item_context(c2).unwrap(), Some(json!([user("Name a colour."), bot("Blue.")])));
    assert_eq!(texts(&st.revisions(c2).unwrap()), ["Green."]);

    let c3 = key(&st, "c3");
    assert_eq!(st.item(c3).unwrap().unwrap().text, "A prompt with no answer yet.");
    assert!(st.revisions(c3).unwrap().is_empty());
    assert_eq!(st.item_context(c3).unwrap(), None);
    assert_eq!(st.response_count().unwrap(), 2);
}

#[test]
fn records_with_the_same_prompt_are_one_item_with_numbered_candidates() {
    let (tmp, p) = init();
    // No ids: the same context and prompt make one item; another context, another item.
    let f = jsonl(
        tmp.path(),
        "pairs.jsonl",
        &[
            json!({"messages": [sys("Be brief."), user("Capital of France?"), bot("Paris.")]}),
            json!({"messages": [user("Capital of France?"), bot("It is Paris, on the Seine.")]}),
            json!({"messages": [sys("Be brief."), user("Capital of France?"), bot("Lyon.")]}),
        ],
    );
    let (ok, out, err) = import(&p, &f, &[]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("imported 2 items with 3 candidate responses"), "{out}");
    let st = Store::open(&p).unwrap();
    assert_eq!(st.item_count().unwrap(), 2);
    // The item takes the first record's line for its generated id.
    let first = key(&st, "pairs-1");
    let revs = st.revisions(first).unwrap();
    assert_eq!(texts(&revs), ["Paris.", "Lyon."]);
    assert_eq!(revs.iter().map(|r| r.number).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(revs[1].origin.as_ref().unwrap()["line"], 3);
    assert_eq!(st.item_context(first).unwrap(), Some(json!([sys("Be brief.")])));
    let second = key(&st, "pairs-2");
    assert_eq!(texts(&st.revisions(second).unwrap()), ["It is Paris, on the Seine."]);
    assert_eq!(st.item_context(second).unwrap(), None);

    // With ids: the same id is the same item (the first record's gold and meta).
    let f = jsonl(
        tmp.path(),
        "ids.jsonl",
        &[
            json!({"id": "p1", "gold": "benign", "tag": "first", "instruction": "Say hi.", "output": "Hi!"}),
            json!({"id": "p2", "instruction": "Say bye.", "output": "Bye."}),
            json!({"id": "p1", "tag": "second", "instruction": "Say hi.", "output": "Hello there."}),
        ],
    );
    let (ok, out, err) = import(&p, &f, &[]);
    assert!(ok, "{out}{err}");
    let st = Store::open(&p).unwrap();
    let p1 = st.item_by_id("p1").unwrap().unwrap();
    assert_eq!(
        (p1.gold.as_deref(), p1.meta.as_deref()),
        (Some("benign"), Some(r#"{"tag":"first"}"#))
    );
    let revs = st.revisions(p1.key).unwrap();
    assert_eq!(texts(&revs), ["Hi!", "Hello there."]);
    assert_eq!(revs.iter().map(|r| r.number).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(st.item_count().unwrap(), 4);
}

#[test]
fn alpaca_with_and_without_input() {
    let (tmp, p) = init();
    let f = jsonl(
        tmp.path(),
        "alpaca.jsonl",
        &[
            json!({"instruction": "Classify the ad.", "input": "Sale ends Sunday: 20% off shoes.", "output": "benign"}),
            json!({"instruction": "Write a haiku about rain.", "input": "", "output": "Soft rain on the roof\nthe gutter hums its one note\nwet cat at the door", "system": "You are a poet."}),
            json!({"instruction": "Name a prime.", "output": "7", "category": "math"}),
        ],
    );
    let (ok, out, err) = import(&p, &f, &[]);
    assert!(ok, "{out}{err}");
    let st = Store::open(&p).unwrap();
    assert_eq!(st.imports().unwrap()[0].format, "alpaca");
    let a1 = st.item_by_id("alpaca-1").unwrap().unwrap();
    assert_eq!(a1.text, "Classify the ad.\n\nSale ends Sunday: 20% off shoes.");
    assert_eq!(a1.meta, None);
    assert_eq!(texts(&st.revisions(a1.key).unwrap()), ["benign"]);
    assert_eq!(st.item_context(a1.key).unwrap(), None);
    let a2 = st.item_by_id("alpaca-2").unwrap().unwrap();
    assert_eq!(a2.text, "Write a haiku about rain.");
    assert_eq!(st.item_context(a2.key).unwrap(), Some(json!([sys("You are a poet.")])));
    let a3 = st.item_by_id("alpaca-3").unwrap().unwrap();
    assert_eq!(
        (a3.text.as_str(), a3.meta.as_deref()),
        ("Name a prime.", Some(r#"{"category":"math"}"#))
    );
    let revs = st.revisions(a3.key).unwrap();
    assert_eq!(
        revs[0].origin,
        Some(json!({"file": f.to_str().unwrap(), "line": 3, "format": "alpaca"}))
    );
}

#[test]
fn sharegpt_conversations_map_to_roles() {
    let (tmp, p) = init();
    let f = jsonl(
        tmp.path(),
        "share.jsonl",
        &[
            json!({"id": 17, "conversations": [
                {"from": "system", "value": "You help with ads."},
                {"from": "human", "value": "Is 'Doctors hate this' clickbait?"},
                {"from": "gpt", "value": "Yes: it is an unverifiable hook."},
                {"from": "human", "value": "And 'Open Mon-Fri 8-7'?"},
                {"from": "gpt", "value": "Benign: it states the hours."}
            ]}),
            json!({"id": 18, "conversations": [
                {"from": "user", "value": "Hello"},
                {"from": "assistant", "value": "Hi! How can I help?"}
            ]}),
        ],
    );
    let (ok, out, err) = import(&p, &f, &[]);
    assert!(ok, "{out}{err}");
    let st = Store::open(&p).unwrap();
    assert_eq!(st.imports().unwrap()[0].format, "sharegpt");
    let k = key(&st, "17");
    assert_eq!(st.item(k).unwrap().unwrap().text, "And 'Open Mon-Fri 8-7'?");
    assert_eq!(
        st.item_context(k).unwrap(),
        Some(json!([
            sys("You help with ads."),
            user("Is 'Doctors hate this' clickbait?"),
            bot("Yes: it is an unverifiable hook.")
        ]))
    );
    assert_eq!(texts(&st.revisions(k).unwrap()), ["Benign: it states the hours."]);
    assert_eq!(texts(&st.revisions(key(&st, "18")).unwrap()), ["Hi! How can I help?"]);
}

#[test]
fn a_prompt_pools_responses_become_candidates_and_stay_in_meta() {
    let (tmp, p) = init();
    let f = jsonl(
        tmp.path(),
        "pool.jsonl",
        &[
            json!({"id": "q1", "text": "2 + 2?", "reference": "4", "responses": ["4", "Four, since 2 + 2 = 4."]}),
            json!({"id": "q2", "text": "3 + 3?", "reference": "6", "responses": "6"}),
            json!({"id": "q3", "text": "4 + 4?", "reference": "8"}),
        ],
    );
    let (ok, out, err) = import(&p, &f, &[]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("imported 3 items with 3 candidate responses"), "{out}");
    let st = Store::open(&p).unwrap();
    assert_eq!(st.imports().unwrap()[0].format, "jsonl");
    let q1 = st.item_by_id("q1").unwrap().unwrap();
    let meta: Value = serde_json::from_str(q1.meta.as_deref().unwrap()).unwrap();
    assert_eq!(meta, json!({"reference": "4", "responses": ["4", "Four, since 2 + 2 = 4."]}));
    let revs = st.revisions(q1.key).unwrap();
    assert_eq!(texts(&revs), ["4", "Four, since 2 + 2 = 4."]);
    assert_eq!(
        revs[1].origin,
        Some(json!({"file": f.to_str().unwrap(), "line": 1, "format": "jsonl"}))
    );
    assert_eq!(st.item_context(q1.key).unwrap(), None);
    assert_eq!(texts(&st.revisions(key(&st, "q2")).unwrap()), ["6"]);
    assert!(st.revisions(key(&st, "q3")).unwrap().is_empty());

    // The repository's arithmetic pool: every listed response is a candidate.
    let (_tmp2, p2) = init();
    let arith = repo().join("sample-data/arith.jsonl");
    let listed: usize = std::fs::read_to_string(&arith)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["responses"].as_array().map_or(0, Vec::len)
        })
        .sum();
    let (ok, out, err) = import(&p2, &arith, &[]);
    assert!(ok, "{out}{err}");
    let st = Store::open(&p2).unwrap();
    assert!(listed > 0);
    assert_eq!(st.response_count().unwrap(), listed as i64);
}

#[test]
fn a_forced_format_reads_any_file_name_and_refuses_another_format() {
    let (tmp, p) = init();
    let f = file(
        tmp.path(),
        "chat.txt",
        format!("{}\n", json!({"messages": [user("Hi"), bot("Hello")]})).as_bytes(),
    );
    let (ok, out, err) = import(&p, &f, &[]);
    assert!(!ok && err.contains("unknown format"), "{out}{err}");
    let (ok, _, err) = import(&p, &f, &["--format", "alpaca"]);
    assert!(!ok && err.contains("chat.txt:1: field `instruction`: missing"), "{err}");
    assert_eq!(Store::open(&p).unwrap().item_count().unwrap(), 0);
    let (ok, out, err) = import(&p, &f, &["--format", "chat"]);
    assert!(ok, "{out}{err}");
    let st = Store::open(&p).unwrap();
    assert_eq!(st.imports().unwrap().last().unwrap().format, "chat");
    assert_eq!(st.response_count().unwrap(), 1);
}

#[test]
fn bad_records_are_named_by_line_and_field_and_nothing_is_kept() {
    let good = json!({"messages": [user("fine"), bot("ok")]});
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "not_array.jsonl",
            lines(&[good.clone(), json!({"messages": "hi"})]),
            ":2: field `messages`: expected an array of messages, found a string",
        ),
        (
            "no_role.jsonl",
            lines(&[good.clone(), json!({"messages": [{"content": "x"}]})]),
            ":2: field `messages[0].role`: missing",
        ),
        (
            "no_content.jsonl",
            lines(&[good.clone(), json!({"messages": [{"role": "user"}]})]),
            ":2: field `messages[0].content`: missing",
        ),
        (
            "role.jsonl",
            lines(&[
                good.clone(),
                json!({"messages": [user("q"), {"role": "tool", "content": "x"}]}),
            ]),
            ":2: field `messages[1].role`: unknown role \"tool\"",
        ),
        (
            "content.jsonl",
            lines(&[good.clone(), json!({"messages": [{"role": "user", "content": 42}]})]),
            ":2: field `messages[0].content`: expected a string, found a number",
        ),
        (
            "no_user.jsonl",
            lines(&[good.clone(), json!({"messages": [sys("s"), bot("a")]})]),
            ":2: field `messages`: no user turn",
        ),
        (
            "empty_answer.jsonl",
            lines(&[good.clone(), json!({"messages": [user("q"), bot("   ")]})]),
            ":2: field `messages[1].content`: the assistant's response is empty",
        ),
        (
            "alpaca_output.jsonl",
            lines(&[
                json!({"instruction": "i", "output": "o"}),
                json!({"instruction": "only an instruction"}),
            ]),
            ":2: field `output`: missing",
        ),
        (
            "alpaca_instruction.jsonl",
            lines(&[json!({"instruction": "i", "output": "o"}), json!({"output": "o"})]),
            ":2: field `instruction`: missing",
        ),
        (
            "share_from.jsonl",
            lines(&[json!({"conversations": [
                {"from": "human", "value": "q"},
                {"from": "bing", "value": "a"}
            ]})]),
            ":1: field `conversations[1].from`: unknown speaker \"bing\"",
        ),
        (
            "mixed.jsonl",
            lines(&[good.clone(), good.clone(), json!({"instruction": "i", "output": "o"})]),
            ":3: an alpaca record (`instruction`, `output`) in a chat file",
        ),
        (
            "mixed_pool.jsonl",
            lines(&[json!({"text": "a prompt"}), good.clone()]),
            ":2: a chat record (`messages`) in a prompt-pool file",
        ),
        (
            "same_id.jsonl",
            lines(&[
                json!({"id": "x", "messages": [user("q1"), bot("a")]}),
                json!({"id": "x", "messages": [user("q2"), bot("b")]}),
            ]),
            ":2: field `id`: id \"x\": line 1 has this id with another prompt",
        ),
        ("broken.jsonl", format!("{good}\n{{\"messages\": [\n"), ":2: malformed JSON"),
    ];
    let (tmp, p) = init();
    for (name, body, expected) in cases {
        let path = file(tmp.path(), name, body.as_bytes());
        let (ok, out, err) = import(&p, &path, &[]);
        assert!(!ok, "{name}: {out}");
        assert!(err.contains(&format!("{name}{expected}")), "{name}: {err}");
        assert!(err.contains("nothing was imported"), "{name}: {err}");
        let st = Store::open(&p).unwrap();
        assert_eq!(st.item_count().unwrap(), 0, "{name}");
        assert_eq!(st.response_count().unwrap(), 0, "{name}");
    }
}

#[test]
fn the_sample_sft_file_gives_12_items_with_24_candidates() {
    let (_tmp, p) = init();
    let sample = repo().join("sample-data/sft-chat.jsonl");
    let (ok, out, err) = import(&p, &sample, &["--json"]);
    assert!(ok, "{out}{err}");
    let rep: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((rep["rows"].as_u64(), rep["responses"].as_u64()), (Some(12), Some(24)));
    assert_eq!(rep["format"], "chat");
    let st = Store::open(&p).unwrap();
    assert_eq!(st.item_count().unwrap(), 12);
    assert_eq!(st.response_count().unwrap(), 24);
    for k in st.item_keys().unwrap() {
        let revs = st.revisions(k).unwrap();
        assert_eq!(revs.iter().map(|r| r.number).collect::<Vec<_>>(), [1, 2], "item {k}");
        assert_ne!(revs[0].text, revs[1].text);
    }
    let with_system = key(&st, "sft-01");
    assert_eq!(st.item_context(with_system).unwrap().unwrap()[0]["role"], "system");
    let multi_turn = key(&st, "sft-06");
    let ctx = st.item_context(multi_turn).unwrap().unwrap();
    assert_eq!(ctx.as_array().map(Vec::len), Some(2));
    assert!(st.revisions(key(&st, "sft-05")).unwrap()[0].text.contains("```python"));
}
