//! Where the model runs, on this build (no CUDA) with the real SmolLM2: `gpu_layers = "auto"`
//! runs on the CPU without a word, an explicit GPU layer count is a clear error that stores
//! nothing, `hifi status` says where the model runs. The CUDA build's own fallback (a driver,
//! no GPU) is checked by running that binary: scripts/gpu-check.sh --no-gpu, docs/gpu.md.

mod common;

use std::path::{Path, PathBuf};

use common::{hifi, require_model};
use hifi::llm::{Engine, EngineOptions, GpuLayers};

/// A project of the first `n` sample ads.
fn project(n: usize) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let proj = dir.path().join("p");
    let (ok, _, err) =
        hifi(&proj, &["init", proj.to_str().unwrap(), "--from", "sample-data/labels.toml"]);
    assert!(ok, "{err}");
    let csv = std::fs::read_to_string(common::repo().join("sample-data/ads.csv")).unwrap();
    let mut rdr = csv::Reader::from_reader(csv.as_bytes());
    let mut w = csv::Writer::from_path(dir.path().join("small.csv")).unwrap();
    w.write_record(rdr.headers().unwrap()).unwrap();
    for r in rdr.records().take(n) {
        w.write_record(&r.unwrap()).unwrap();
    }
    w.flush().unwrap();
    let (ok, _, err) = hifi(&proj, &["import", dir.path().join("small.csv").to_str().unwrap()]);
    assert!(ok, "{err}");
    (dir, proj)
}

fn status_json(proj: &Path) -> serde_json::Value {
    let (ok, out, err) = hifi(proj, &["status", "--json"]);
    assert!(ok, "{err}");
    serde_json::from_str(&out).unwrap()
}

fn predictions(proj: &Path) -> i64 {
    status_json(proj)["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["count"].as_i64().unwrap())
        .sum()
}

/// Replace `gpu_layers = FROM` in the project's hifi.toml with `gpu_layers = TO`.
fn set_gpu_layers(proj: &Path, from: &str, to: &str) {
    let toml = proj.join("hifi.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    let (old, new) = (format!("gpu_layers = {from}\n"), format!("gpu_layers = {to}\n"));
    assert!(text.contains(&old), "hifi.toml has {old:?}");
    std::fs::write(&toml, text.replace(&old, &new)).unwrap();
}

#[test]
fn status_says_the_model_runs_on_the_cpu_of_a_build_without_cuda() {
    require_model();
    let (_dir, proj) = project(3);
    let (ok, out, err) = hifi(&proj, &["status"]);
    assert!(ok, "{err}");
    let line = out.lines().find(|l| l.starts_with("runs on")).expect(&out);
    assert!(
        line.starts_with("runs on   CPU, ") && line.ends_with("(this hifi is built without CUDA)"),
        "{line}"
    );
    let v = &status_json(&proj)["runs_on"];
    assert_eq!(v["runs_on"], "cpu");
    assert_eq!(v["cuda_build"], false);
    assert_eq!(v["gpu"], serde_json::Value::Null);
    assert_eq!(v["gpu_layers"], 0);
    // SmolLM2-135M has 30 blocks; read from the GGUF without loading the weights.
    assert_eq!(v["model_layers"], 30);
}

#[test]
fn auto_and_zero_run_on_the_cpu_without_a_word() {
    require_model();
    let (_dir, proj) = project(4);
    let (ok, _, err) = hifi(&proj, &["prelabel"]);
    assert!(ok, "{err}");
    assert!(!err.contains("GPU"), "a build without CUDA has nothing to say about GPUs: {err}");
    assert_eq!(predictions(&proj), 4);
    // An older project's explicit 0 (what hifi init wrote before "auto") is the CPU too.
    set_gpu_layers(&proj, "\"auto\"", "0");
    let (ok, _, err) = hifi(&proj, &["prelabel", "--gpu-layers", "auto"]);
    assert!(ok, "{err}");
    let (ok, _, err) = hifi(&proj, &["status"]);
    assert!(ok, "{err}");
}

#[test]
fn an_explicit_gpu_layer_count_without_a_gpu_is_a_clear_error_that_stores_nothing() {
    require_model();
    let (_dir, proj) = project(4);
    let (ok, _, err) = hifi(&proj, &["prelabel", "--gpu-layers", "20"]);
    assert!(!ok);
    assert!(err.contains("gpu_layers is 20") && err.contains("--gpu-layers"), "{err}");
    assert!(err.contains("built without CUDA") && err.contains("scripts/build-cuda.sh"), "{err}");
    assert!(err.contains("\"auto\"") && err.contains(" or 0 to run on the CPU"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert_eq!(predictions(&proj), 0, "nothing stored");
    // The same from hifi.toml, for embed too.
    set_gpu_layers(&proj, "\"auto\"", "12");
    for cmd in ["prelabel", "embed"] {
        let (ok, _, err) = hifi(&proj, &[cmd]);
        assert!(!ok, "{cmd}");
        assert!(err.contains("gpu_layers is 12") && err.contains("[model] gpu_layers"), "{err}");
    }
    assert_eq!(predictions(&proj), 0);
    assert!(status_json(&proj)["embeddings"].as_array().unwrap().is_empty());
    // The benchmarks take the flag too (what scripts/gpu-check.sh's CPU baselines rely on).
    for bench in ["prelabel", "embed"] {
        let (ok, _, err) = hifi(&proj, &["bench", bench, "--items", "2", "--gpu-layers", "5"]);
        assert!(!ok, "bench {bench}");
        assert!(err.contains("gpu_layers is 5"), "bench {bench}: {err}");
    }
    // The flag wins over hifi.toml.
    let (ok, _, err) = hifi(&proj, &["prelabel", "--gpu-layers", "0"]);
    assert!(ok, "{err}");
    assert_eq!(predictions(&proj), 4);
    // `hifi status` says what is wrong with the setting instead of failing.
    let (ok, out, err) = hifi(&proj, &["status"]);
    assert!(ok, "{err}");
    assert!(out.contains("          gpu_layers is 12"), "{out}");
}

#[test]
fn a_bad_gpu_layers_value_is_refused_naming_the_setting() {
    let (_dir, proj) = project(2);
    set_gpu_layers(&proj, "\"auto\"", "\"most\"");
    let (ok, _, err) = hifi(&proj, &["status"]);
    assert!(!ok);
    assert!(err.contains("gpu_layers") && err.contains("\"auto\" or a number"), "{err}");
    set_gpu_layers(&proj, "\"most\"", "-2");
    let (ok, _, err) = hifi(&proj, &["status"]);
    assert!(!ok);
    assert!(err.contains("-2 is not a number of layers"), "{err}");
    let (ok, _, err) = hifi(&proj, &["prelabel", "--gpu-layers", "all"]);
    assert!(!ok);
    assert!(err.contains("--gpu-layers") && err.contains("\"auto\" or a number"), "{err}");
}

#[test]
fn the_engine_says_where_it_put_the_model() {
    let m = require_model();
    let e = Engine::load(&m, EngineOptions { threads: 2, gpu_layers: GpuLayers::Auto }).unwrap();
    assert_eq!(e.placement.gpu, None);
    assert_eq!(e.placement.describe(), "CPU");
    assert_eq!(e.placement.of, Some(30));
    assert_eq!(e.placement.note, None);
    let err = Engine::load(&m, EngineOptions { threads: 2, gpu_layers: GpuLayers::Count(1) })
        .err()
        .expect("no GPU to put a layer on")
        .to_string();
    assert!(err.contains("gpu_layers is 1"), "{err}");
}
