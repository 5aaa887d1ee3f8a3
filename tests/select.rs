//! Set builders on the real SmolLM2-135M: BETR keeps documents measurably closer to the
//! targets than random (and enriched in the targets' topic), with equal quotas, vetoes and
//! provenance on export; LIMO returns exactly N hard-but-solvable prompts, hardest first,
//! across every cluster, with correct responses and no near-duplicates; self-training keeps
//! only replies that pass the reward, never from held-out prompts, and its adapter loads.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::*;
use hifi::select::hashed::Hasher;
use hifi::select::reward::matches;
use serde_json::Value;

fn json_of(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn run_ok(project: &Path, args: &[&str]) -> String {
    let (ok, out, err) = hifi(project, args);
    assert!(ok, "hifi {args:?} failed:\n{err}\n{out}");
    out
}

/// The first `n` lines of a sample-data file, written into the project.
fn head(project: &Path, name: &str, n: usize) -> String {
    let body: String = std::fs::read_to_string(repo().join("sample-data").join(name))
        .unwrap()
        .lines()
        .take(n)
        .map(|l| format!("{l}\n"))
        .collect();
    file(project, name, body.as_bytes()).display().to_string()
}

fn entries(project: &Path) -> Vec<Value> {
    json_of(&run_ok(project, &["select", "show", "latest", "--json"]))["entries"]
        .as_array()
        .unwrap()
        .clone()
}

fn cosine(a: &[(u32, f32)], b: &[(u32, f32)]) -> f32 {
    let m: HashMap<u32, f32> = a.iter().copied().collect();
    b.iter().map(|(k, v)| m.get(k).map_or(0.0, |x| x * v)).sum()
}

#[test]
fn betr_keeps_documents_closer_to_the_targets_with_equal_quotas_and_exports_with_provenance() {
    require_model();
    let (dir, _cfg, store) = project();
    let p = dir.path();
    let ads = head(p, "ads.jsonl", 200);
    run_ok(p, &["import", &ads]);
    run_ok(p, &["embed"]);
    let targets = repo().join("sample-data/betr-targets.jsonl").display().to_string();
    let rep = json_of(&run_ok(
        p,
        &["select", "betr", "--targets", &targets, "--keep", "10%", "--sample", "100", "--json"],
    ));
    assert_eq!(rep["kept"], 20);
    let sets = rep["sets"].as_array().unwrap();
    assert_eq!(sets.len(), 2);
    assert_eq!(
        (sets[0]["kept"].as_u64(), sets[1]["kept"].as_u64()),
        (Some(10), Some(10)),
        "equal quotas: {rep}"
    );
    for s in sets {
        assert_eq!(s["positives"], 10, "top 10% of the 100-document sample");
        assert_eq!(s["held_out"]["n"], 20);
        assert!(s["held_out"]["accuracy"].as_f64().is_some());
    }
    let sim = &rep["similarity"];
    assert_eq!(sim["measured_on"], 120, "100 embedded outside the sample + 20 held out");
    assert!(sim["kept_n"].as_u64().unwrap() >= 5, "{sim}");
    let (kept, random) = (sim["kept_mean"].as_f64().unwrap(), sim["random_mean"].as_f64().unwrap());
    assert!(kept > random, "kept {kept} vs random {random}");

    // The travel set's picks are mostly travel ads; 200 ads hold few of them.
    let es = entries(p);
    assert_eq!(es.len(), 20);
    let keys: std::collections::HashSet<i64> =
        es.iter().map(|e| e["item"].as_i64().unwrap()).collect();
    assert_eq!(keys.len(), 20, "nothing kept twice");
    let travel = es.iter().filter(|e| e["reasons"]["target_set"] == "travel").collect::<Vec<_>>();
    let hits = travel.iter().filter(|e| e["meta"]["category"] == "travel").count();
    let pool_share = std::fs::read_to_string(&ads)
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"category\": \"travel\""))
        .count() as f64
        / 200.0;
    assert!(
        hits as f64 / travel.len() as f64 >= 3.0 * pool_share,
        "{hits} of {} travel picks vs pool share {pool_share}",
        travel.len()
    );

    // Veto, export with provenance, restore.
    run_ok(p, &["select", "veto", "latest", "0", "--reason", "off topic", "--annotator", "ana"]);
    let out = p.join("betr.jsonl");
    let o = out.display().to_string();
    run_ok(p, &["export", "--selection", "latest", "-o", &o]);
    let rows: Vec<Value> = std::fs::read_to_string(&out).unwrap().lines().map(json_of).collect();
    assert_eq!(rows.len(), 19, "the vetoed entry is left out");
    assert!(rows.iter().all(
        |r| r["provenance"]["kind"] == "betr" && r["provenance"]["rank"].as_u64().unwrap() > 0
    ));
    let prov = json_of(&std::fs::read_to_string(p.join("betr.jsonl.provenance.json")).unwrap());
    assert_eq!(prov["left_out"]["vetoed"], 1);
    assert!(prov["selection"]["params"]["targets"]
        .as_str()
        .unwrap()
        .ends_with("betr-targets.jsonl"));
    assert_eq!(prov["selection"]["report"]["kept"], 20);
    let (ok, _, err) = hifi(
        p,
        &["export", "--selection", "latest", "--format", "chat-jsonl", "-o", &o, "--force"],
    );
    assert!(!ok && err.contains("without responses"), "{err}");
    run_ok(p, &["select", "veto", "latest", "0", "--restore"]);
    // The set and its provenance exist: replaced only with --force.
    let (ok, _, err) = hifi(p, &["export", "--selection", "latest", "-o", &o]);
    assert!(!ok && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 19, "left as it was");
    run_ok(p, &["export", "--selection", "latest", "-o", &o, "--force"]);
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 20);

    // A built set never changes; vetoes are append-only.
    assert!(store.tamper_zero_selection_scores().is_err());
    assert!(store.tamper_delete_vetoes().is_err());
    // Bad targets are named with file and line, and save nothing.
    let bad = file(p, "bad.jsonl", b"{\"text\": \"fine\"}\n{\"txt\": \"oops\"}\n");
    let (ok, _, err) = hifi(p, &["select", "betr", "--targets", &bad.display().to_string()]);
    assert!(!ok && err.contains("bad.jsonl:2") && err.contains("text"), "{err}");
    assert_eq!(json_of(&run_ok(p, &["select", "list", "--json"])).as_array().unwrap().len(), 1);
}

#[test]
fn limo_returns_exactly_n_hard_but_solvable_prompts_across_clusters() {
    require_model();
    let (dir, _cfg, _store) = project();
    let p = dir.path();
    let prompts = head(p, "arith.jsonl", 36);
    run_ok(p, &["import", &prompts]);
    let samples = 4;
    let rep = json_of(&run_ok(
        p,
        &[
            "select",
            "limo",
            "--size",
            "6",
            "--samples",
            "4",
            "--max-tokens",
            "40",
            "--keep-candidates",
            "2",
            "--json",
        ],
    ));
    assert_eq!(rep["size"], 6);
    assert_eq!(rep["difficulty"], "pass-rate");
    assert_eq!(rep["clusters_covered"], rep["clusters"], "every cluster gives a prompt: {rep}");
    assert!(rep["clusters"].as_u64().unwrap() >= 2);
    let es = entries(p);
    assert_eq!(es.len(), 6);
    let mut last = f64::INFINITY;
    let hasher = Hasher { bits: 18 };
    for (i, e) in es.iter().enumerate() {
        let r = &e["reasons"];
        let passes = r["passes"].as_u64().unwrap();
        assert!((1..samples).contains(&passes), "solved sometimes, not never or always: {r}");
        let d = r["difficulty"].as_f64().unwrap();
        assert!((d - (1.0 - passes as f64 / samples as f64)).abs() < 1e-9);
        assert!(d <= last, "hardest first");
        last = d;
        let reference = e["meta"]["reference"].as_str().unwrap();
        assert!(
            matches(e["response"].as_str().unwrap(), reference),
            "the kept response is correct: {e}"
        );
        for f in &es[..i] {
            let c = cosine(
                &hasher.features(e["text"].as_str().unwrap()),
                &hasher.features(f["text"].as_str().unwrap()),
            );
            assert!(c < 0.8, "near-duplicates in the set: {} / {}", e["text"], f["text"]);
        }
    }
    // --keep-candidates 2: each chosen prompt's best responses are candidates experts judge
    // (a text imported as a candidate already is not added twice).
    for e in &es {
        let id = e["item_id"].as_str().unwrap();
        let list = json_of(&run_ok(p, &["responses", "list", id, "--json"]));
        let cands = list["candidates"].as_array().unwrap();
        let texts: Vec<&str> = cands.iter().map(|c| c["text"].as_str().unwrap()).collect();
        assert!(
            texts.contains(&e["response"].as_str().unwrap()),
            "the set's response is a candidate: {list}"
        );
        let limo: Vec<&Value> = cands.iter().filter(|c| c["source"] == "limo").collect();
        assert!(limo.len() <= 2, "{list}");
        for c in limo {
            assert_eq!(c["origin"]["selection"], rep["selection"], "{c}");
        }
    }
    let out = p.join("limo.jsonl");
    run_ok(
        p,
        &[
            "export",
            "--selection",
            "latest",
            "--format",
            "chat-jsonl",
            "-o",
            &out.display().to_string(),
        ],
    );
    let rows: Vec<Value> = std::fs::read_to_string(&out).unwrap().lines().map(json_of).collect();
    assert_eq!(rows.len(), 6);
    assert_eq!(rows[0]["messages"][1]["role"], "assistant");
    let (ok, _, err) = hifi(
        p,
        &[
            "select",
            "limo",
            "--size",
            "500",
            "--samples",
            "2",
            "--max-tokens",
            "16",
            "--limit",
            "6",
        ],
    );
    assert!(!ok && err.contains("prompts qualify, fewer than --size 500"), "{err}");
}

#[test]
fn limo_from_margins_refuses_near_duplicates_of_what_it_chose() {
    require_model();
    let (dir, _cfg, _store) = project();
    let p = dir.path();
    // Twelve ads, each with its gold label as the reference, and a near-copy of the first.
    let mut body = String::new();
    let lines: Vec<Value> = std::fs::read_to_string(repo().join("sample-data/ads.jsonl"))
        .unwrap()
        .lines()
        .take(12)
        .map(json_of)
        .collect();
    for l in &lines {
        body.push_str(
            &serde_json::json!({"id": l["id"], "text": l["text"], "reference": l["gold"]})
                .to_string(),
        );
        body.push('\n');
    }
    let first = lines[0]["text"].as_str().unwrap();
    body.push_str(&serde_json::json!({"id": "copy", "text": format!("{first} Today."), "reference": lines[0]["gold"]}).to_string());
    body.push('\n');
    let f = file(p, "ads13.jsonl", body.as_bytes());
    run_ok(p, &["import", &f.display().to_string()]);
    run_ok(p, &["prelabel"]);
    let rep = json_of(&run_ok(p, &["select", "limo", "--size", "12", "--samples", "0", "--json"]));
    assert_eq!(rep["difficulty"], "margin");
    assert_eq!(rep["dropped"]["near_duplicate"], 1, "{rep}");
    let ids: Vec<String> =
        entries(p).iter().map(|e| e["item_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 12);
    assert!(
        !(ids.contains(&"copy".to_string())
            && ids.contains(&lines[0]["id"].as_str().unwrap().to_string())),
        "{ids:?}"
    );
    let (ok, _, err) = hifi(p, &["select", "limo", "--size", "13", "--samples", "0"]);
    assert!(!ok && err.contains("only 12 prompts qualify"), "{err}");
}

#[test]
fn self_train_keeps_only_passing_replies_and_its_adapter_loads() {
    let model = require_model();
    let (dir, _cfg, _store) = project();
    let p = dir.path();
    let prompts = head(p, "arith.jsonl", 15);
    run_ok(p, &["import", &prompts]);
    let rep = json_of(&run_ok(
        p,
        &[
            "self-train",
            "--samples",
            "4",
            "--keep-per-item",
            "2",
            "--iterations",
            "1",
            "--max-tokens",
            "40",
            "--epochs",
            "1",
            "--batch",
            "4",
            "--json",
        ],
    ));
    assert_eq!(rep["heldout_prompts"], 3);
    let it = &rep["iterations"][0];
    assert_eq!(it["iteration"], 1);
    let kept = it["kept"].as_u64().unwrap();
    assert!(kept > 0);
    let heldout: Vec<&str> =
        rep["heldout"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let es = entries(p);
    assert_eq!(es.len() as u64, kept);
    let mut per_item: HashMap<String, usize> = HashMap::new();
    for e in &es {
        let id = e["item_id"].as_str().unwrap().to_string();
        assert!(!heldout.contains(&id.as_str()), "a held-out prompt was trained on: {id}");
        assert!(
            matches(e["response"].as_str().unwrap(), e["meta"]["reference"].as_str().unwrap()),
            "{e}"
        );
        *per_item.entry(id).or_default() += 1;
    }
    assert!(per_item.values().all(|n| *n <= 2), "{per_item:?}");
    let reward = it["heldout_reward"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&reward));

    let adapter = Path::new(it["adapter"].as_str().unwrap());
    let mut engine = hifi::llm::Engine::load(
        &model,
        hifi::llm::EngineOptions { threads: 2, gpu_layers: hifi::llm::GpuLayers::CPU },
    )
    .unwrap();
    engine.set_adapter(adapter).expect("iteration 1's adapter loads into llama.cpp");
    let manifest = json_of(&std::fs::read_to_string(adapter.with_extension("json")).unwrap());
    assert_eq!(manifest["train_size"].as_u64(), Some(kept));
    assert!(manifest["continued_from"].is_null(), "trained from the base model");

    // A reward that accepts nothing leaves nothing to train on: a clear error, no set saved.
    let (ok, _, err) = hifi(
        p,
        &[
            "self-train",
            "--samples",
            "2",
            "--iterations",
            "1",
            "--limit",
            "4",
            "--max-tokens",
            "16",
            "--reward-command",
            "cat >/dev/null; echo 0",
        ],
    );
    assert!(!ok && err.contains("no sampled reply passed the reward"), "{err}");
    assert_eq!(json_of(&run_ok(p, &["select", "list", "--json"])).as_array().unwrap().len(), 1);
}
