//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod workstation;

use std::path::{Path, PathBuf};
use std::process::Command;

use hifi::config::{Config, LabelDef, ModelConfig, PromptConfig, SplitConfig};
use hifi::curate::synth::Synthetic;
use hifi::store::{ModelRecord, Prediction, Store};

/// The real default model for a test that needs it: its absence fails the test, wherever it
/// runs (run scripts/setup.sh to fetch it).
pub fn require_model() -> PathBuf {
    let p = hifi::config::default_model_path();
    assert!(p.exists(), "the test model is missing at {} (run scripts/setup.sh)", p.display());
    p
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hifi"))
}

/// Run hifi with `args` in `project`; returns (success, stdout, stderr).
pub fn hifi(project: &Path, args: &[&str]) -> (bool, String, String) {
    let out =
        bin().arg("--project").arg(project).arg("--quiet").args(args).output().expect("run hifi");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn config() -> Config {
    Config {
        task: "Decide whether an online ad is clickbait.".into(),
        multi_label: false,
        labels: vec![
            LabelDef::new("clickbait", "Teases or withholds what is offered, or exaggerates."),
            LabelDef::new("benign", "Says plainly what is offered."),
        ],
        model: ModelConfig { threads: Some(2), ..ModelConfig::default() },
        split: SplitConfig::default(),
        review: Default::default(),
        mine: Default::default(),
        stop: Default::default(),
        prompt: PromptConfig { few_shot: 0, item_noun: "ad".into(), calibrate: true },
        train: Default::default(),
        backend: Default::default(),
    }
}

/// A fresh project (config + store) in a temp dir.
pub fn project() -> (tempfile::TempDir, Config, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config();
    std::fs::write(dir.path().join("hifi.toml"), cfg.to_toml()).expect("write config");
    let store = Store::create(dir.path()).expect("create store");
    (dir, cfg, store)
}

/// Write `content` to `name` inside `dir`.
pub fn file(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).expect("write file");
    p
}

/// A cheap fingerprint of everything in the store, to prove an operation changed nothing.
pub fn snapshot(store: &Store) -> String {
    let mut s = String::new();
    for t in ["items", "imports", "annotations", "predictions", "splits", "embedding_rows"] {
        let n: i64 = store.row_count(t).unwrap();
        s.push_str(&format!("{t}={n};"));
    }
    s
}

/// A project whose items, predictions (as an 'llm' model) and embeddings are `synth`'s
/// (label0 → clickbait); each item's gold is its generated label.
pub fn project_from_synth(synth: &Synthetic) -> (tempfile::TempDir, Config, Store) {
    let (dir, cfg, mut st) = project();
    let n = synth.pool.keys.len();
    let names = ["clickbait", "benign"];
    let mut body = String::from("id,text,gold\n");
    for i in 0..n {
        body.push_str(&format!("it{i},text {i},{}\n", names[synth.pool.labels[i] as usize]));
    }
    let p = file(dir.path(), "items.csv", body.as_bytes());
    hifi::io::import::import_items(
        &mut st,
        &p,
        &Default::default(),
        &mut hifi::progress::Silent,
        &hifi::progress::CancelToken::new(),
    )
    .unwrap();
    let keys: Vec<i64> =
        (0..n).map(|i| st.item_by_id(&format!("it{i}")).unwrap().unwrap().key).collect();
    let labels = cfg.label_names();
    let model = st.register_model(&llm_record("synthetic", None, &labels)).unwrap();
    let l = labels.len();
    let preds: Vec<Prediction> = (0..n)
        .map(|i| Prediction {
            item: keys[i],
            probs: synth.pool.probs[i * l..(i + 1) * l].iter().map(|x| f64::from(*x)).collect(),
            truncated: false,
        })
        .collect();
    st.put_predictions(model, &labels, &preds).unwrap();
    let dim = synth.pool.dim;
    hifi::llm::embed::put_vectors(
        &mut st,
        "synthetic.gguf",
        "sha-synthetic",
        dim,
        &keys[..n],
        &synth.pool.vectors,
    )
    .unwrap();
    (dir, cfg, st)
}

/// An LLM's model record (zero-shot, no adapter) as prelabeling registers one.
pub fn llm_record(fingerprint: &str, model_path: Option<&str>, labels: &[String]) -> ModelRecord {
    ModelRecord {
        id: 0,
        fingerprint: fingerprint.into(),
        kind: "llm".into(),
        model_path: model_path.map(Into::into),
        model_sha256: None,
        adapter_path: None,
        adapter_sha256: None,
        prompt_sha256: None,
        labels: labels.to_vec(),
        few_shot: Some(0),
    }
}

/// A progress sink that cancels its token at the first update: Ctrl-C during the first batch.
pub struct StopAfterFirst(pub hifi::progress::CancelToken);

impl hifi::progress::Progress for StopAfterFirst {
    fn start(&mut self, _: &str, _: u64) {}
    fn update(&mut self, _: u64, _: &str) {
        self.0.cancel();
    }
    fn finish(&mut self, _: &str) {}
}

/// The Python that loads exported files the way a training script would (Hugging Face
/// `datasets`, with pyarrow): `HIFI_TEST_CONSUMERS_PYTHON`, else the virtual environment
/// scripts/setup.sh --test-server builds in hifi's cache. Its absence fails the
/// test that needs it.
pub fn consumers_python() -> PathBuf {
    let p = match std::env::var_os("HIFI_TEST_CONSUMERS_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => hifi::config::cache_dir().join("py-consumers/bin/python"),
    };
    assert!(
        p.exists(),
        "the export consumers' Python (Hugging Face datasets) is missing at {} (run scripts/setup.sh --test-server)",
        p.display()
    );
    p
}

/// The Python of the llama-cpp-python test server (an OpenAI-compatible server that returns
/// prompt log-probabilities): `HIFI_TEST_SERVER_PYTHON`, else the virtual environment
/// scripts/setup.sh --test-server builds in hifi's cache. Its absence fails the test.
pub fn server_python() -> PathBuf {
    let p = match std::env::var_os("HIFI_TEST_SERVER_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => hifi::config::default_model_path()
            .parent()
            .and_then(Path::parent)
            .expect("the model sits in <cache>/models")
            .join("llama-cpp-server/bin/python"),
    };
    assert!(
        p.exists(),
        "the test server (llama-cpp-python) is missing at {} (run scripts/setup.sh --test-server)",
        p.display()
    );
    p
}

/// The real multi-label set the multi-label tests run on: 200 desktop applications of Debian
/// 12's AppStream metadata with their freedesktop.org main categories (`items.csv` with gold
/// joined by "|", `labels.toml` for `hifi init --from`), made by scripts/setup.sh --test-server
/// from the dep11 file `apt-get update` fetches. `HIFI_TEST_APPSTREAM`, else hifi's cache. Its
/// absence fails the test that needs it.
pub fn appstream_set() -> PathBuf {
    let p = match std::env::var_os("HIFI_TEST_APPSTREAM") {
        Some(p) => PathBuf::from(p),
        None => hifi::config::cache_dir().join("data/appstream-200"),
    };
    assert!(
        p.join("items.csv").exists() && p.join("labels.toml").exists(),
        "the multi-label test set is missing at {} (run scripts/setup.sh --test-server)",
        p.display()
    );
    p
}

/// Load `file` with `datasets.load_dataset("json", …)` in the consumers' Python; returns what
/// the script prints (JSON).
pub fn load_with_datasets(file: &Path, columns: &[&str], scratch: &Path) -> serde_json::Value {
    let script = r#"
import json, sys
import datasets
path, columns = sys.argv[1], sys.argv[2].split(",")
ds = datasets.load_dataset("json", data_files=path, split="train")
for c in columns:
    assert c in ds.column_names, (c, ds.column_names)
    for row in ds:
        turns = row[c]
        assert isinstance(turns, list) and turns, (c, turns)
        for t in turns:
            assert isinstance(t, dict) and isinstance(t["role"], str) and isinstance(t["content"], str), t
print(json.dumps({"rows": len(ds), "columns": ds.column_names, "first": ds[0]}))
"#;
    let cols = columns.join(",");
    run_consumers_python(script, &[file.to_str().unwrap(), &cols], scratch)
}

/// Run `script` in the consumers' Python (pyarrow, `datasets`) with `args`, offline, with a
/// private Hugging Face cache under `scratch`; returns the JSON its last line prints.
pub fn run_consumers_python(script: &str, args: &[&str], scratch: &Path) -> serde_json::Value {
    let out = Command::new(consumers_python())
        .arg("-c")
        .arg(script)
        .args(args)
        .env("HF_HOME", scratch.join("hf"))
        .env("HF_DATASETS_CACHE", scratch.join("hf/datasets"))
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_DATASETS_OFFLINE", "1")
        .output()
        .expect("run the consumers' python");
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the consumers' python failed: {stdout}{stderr}");
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout}{stderr}"))
}
