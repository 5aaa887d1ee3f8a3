//! The OpenAI-compatible backend against a real server: the llama-cpp-python server (built by
//! scripts/setup.sh) on the default SmolLM2 GGUF, on a loopback port. Its absence fails these
//! tests, as the model's does.
//!
//! That server computes prompt log-probabilities in Python (a sort of the whole vocabulary per
//! prompt token), about 30 ms a token here: the prompts are kept short and the items few.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{file, hifi, require_model, server_python};
use hifi::config::{BackendConfig, BackendKind, Config};
use hifi::llm::embed::Embedder;
use hifi::llm::http::{Client, HttpEmbedder, HttpScorer, PromptText};
use hifi::llm::score::{KvCache, LabelScorer, ScorerSpec};
use hifi::llm::{prompt, Embed, Engine, EngineOptions, Scorer};
use hifi::progress::{CancelToken, Progress, Silent};
use hifi::store::Store;

/// The label log-prob bound docs/scale-out.md documents. The server runs its own llama.cpp build
/// (llama-cpp-python 0.3.36, GGML_NATIVE off), whose kernels round differently from hifi's:
/// up to 0.83 nats measured on SmolLM2-135M (0.34 mean), the same kind of noise as the local
/// engine's own layouts (up to 0.49 nats, tests/llm.rs), largest on unlikely tokens.
const NATS: f64 = 1.0;

/// A llama-cpp-python server on the default model, stopped when dropped.
struct Server {
    child: Option<Child>,
    port: u16,
    logits_all: bool,
}

impl Server {
    fn start(logits_all: bool) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut s = Self { child: None, port, logits_all };
        s.restart();
        s
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// (Re)start on the same port and wait until it answers.
    fn restart(&mut self) {
        self.stop();
        let log = std::fs::File::create(
            std::env::temp_dir().join(format!("hifi-test-server-{}.log", self.port)),
        )
        .unwrap();
        let child = Command::new(server_python())
            .args(["-m", "llama_cpp.server", "--model"])
            .arg(require_model())
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &self.port.to_string(),
                "--n_threads",
                "1",
                "--n_ctx",
                "2048",
            ])
            .args([
                "--logits_all",
                if self.logits_all { "true" } else { "false" },
                "--embedding",
                "true",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start the llama-cpp-python server");
        self.child = Some(child);
        let started = Instant::now();
        while ureq::get(&format!("{}/models", self.url()))
            .timeout(Duration::from_secs(2))
            .call()
            .is_err()
        {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "the test server exited ({status}) before answering; see {}",
                    std::env::temp_dir()
                        .join(format!("hifi-test-server-{}.log", self.port))
                        .display()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "the test server did not answer within 120 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn backend(server: &Server) -> BackendConfig {
    BackendConfig {
        kind: BackendKind::Openai,
        urls: vec![server.url()],
        model: Some("smol".into()),
        in_flight: 2,
        timeout_s: 120,
        ..BackendConfig::default()
    }
}

fn texts(n: usize) -> Vec<String> {
    let mut r = csv::Reader::from_path(common::repo().join("sample-data/ads.csv")).unwrap();
    let h = r.headers().unwrap().clone();
    let at = h.iter().position(|c| c == "text").unwrap();
    r.records().take(n).map(|x| x.unwrap()[at].to_string()).collect()
}

/// A project of the first `n` sample ads, set to `backend`.
fn project_with(n: usize, backend: BackendConfig) -> (tempfile::TempDir, Config) {
    let mut cfg = common::config();
    cfg.backend = backend;
    project_of(cfg, &texts(n))
}

/// A project of `items` under `cfg`.
fn project_of(cfg: Config, items: &[String]) -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hifi.toml"), cfg.to_toml()).unwrap();
    Store::create(dir.path()).unwrap();
    let mut body = String::from("id,text\n");
    for (i, t) in items.iter().enumerate() {
        body.push_str(&format!("ad{i},\"{}\"\n", t.replace('"', "\"\"")));
    }
    let p = file(dir.path(), "items.csv", body.as_bytes());
    let (ok, _, err) = hifi(dir.path(), &["import", p.to_str().unwrap()]);
    assert!(ok, "{err}");
    (dir, cfg)
}

/// Every prediction of the newest openai model, by item id.
fn http_predictions(dir: &Path) -> Vec<(String, Vec<f64>)> {
    let store = Store::open(dir).unwrap();
    let model = store.latest_base_llm().unwrap().expect("a model with predictions");
    assert_eq!(model.model_path.as_deref(), Some("openai:smol"));
    let mut out: Vec<(String, Vec<f64>)> = store
        .predictions(model.id)
        .unwrap()
        .into_iter()
        .map(|p| (store.item(p.item).unwrap().unwrap().id, p.probs))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn http_label_scores_equal_the_local_engines_within_the_documented_rounding() {
    let server = Server::start(true);
    let model = require_model();
    let cfg = common::config();
    let system = prompt::system_message(&cfg, &[]);
    let user = prompt::user_message(&cfg, prompt::TEXT_SLOT);
    let labels = cfg.label_names();
    let texts = texts(4);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();

    let engine =
        Engine::load(&model, EngineOptions { threads: 2, gpu_layers: hifi::llm::GpuLayers::CPU })
            .unwrap();
    let (prefix, suffix) = engine.prompt_parts(&system, &user).unwrap();
    let spec = ScorerSpec {
        prefix: &prefix,
        suffix: &suffix,
        labels: &labels,
        max_item_tokens: 256,
        batch_items: 4,
        kv: KvCache::Separate,
    };
    let local = LabelScorer::new(&engine, &spec).unwrap().score_batch(&refs).unwrap();

    let vocab = Engine::load_vocab(&model).unwrap();
    let text = PromptText::from_engine(&vocab, &system, &user).unwrap();
    assert_eq!(text.end_of_turn, "<|im_end|>");
    // SmolLM2's template is chatml: the GGUF's rendering and hifi's named one agree.
    assert_eq!(text, PromptText::named("chatml", &system, &user).unwrap());
    let client = Client::new(&backend(&server), CancelToken::new()).unwrap();
    let mut http =
        HttpScorer::new(client, &backend(&server), text, labels.clone(), Some(vocab), 256);
    let remote = http.score_batch(&refs).unwrap();

    let mut worst = 0.0f64;
    for (i, (a, b)) in local.iter().zip(&remote).enumerate() {
        for ((label, x), y) in labels.iter().zip(&a.logprobs).zip(&b.logprobs) {
            let d = (x - y).abs();
            worst = worst.max(d);
            assert!(d < NATS, "item {i} label {label}: local {x} vs server {y}");
        }
        assert!((b.probs.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }
    eprintln!(
        "largest |local − server| label log-prob: {worst:.3} nats over {} items × {} labels",
        texts.len(),
        labels.len()
    );
}

#[test]
fn http_embeddings_point_where_the_local_ones_do() {
    let server = Server::start(true);
    let model = require_model();
    let texts = texts(6);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let engine =
        Engine::load(&model, EngineOptions { threads: 2, gpu_layers: hifi::llm::GpuLayers::CPU })
            .unwrap();
    let local = Embedder::new(&engine, 4).unwrap().embed(&refs).unwrap();
    let client = Client::new(&backend(&server), CancelToken::new()).unwrap();
    let mut http =
        HttpEmbedder::new(client, "smol", Some(Engine::load_vocab(&model).unwrap()), 1).unwrap();
    assert_eq!(http.dim(), local[0].vector.len());
    let remote = http.embed(&refs).unwrap();
    let mut lowest = 1.0f32;
    for (i, (a, b)) in local.iter().zip(&remote).enumerate() {
        let cos = hifi::llm::embed::cosine(&a.vector, &b.vector);
        lowest = lowest.min(cos);
        assert!(cos > 0.99, "item {i}: cosine {cos} between the local and the server's vector");
    }
    eprintln!("lowest cosine local vs server: {lowest:.5} over {} items", texts.len());
    // Vectors from the server are the project's next embedding set.
    let (dir, _) = project_with(3, BackendConfig::default());
    let (ok, out, err) =
        hifi(dir.path(), &["embed", "--url", &server.url(), "--server-model", "smol"]);
    assert!(ok, "{err}");
    assert!(out.contains("embedded 3 items on openai:smol (1 server) (576 dims)"), "{out}");
}

/// Kills the server at the first committed batch (Ctrl-C-free "dead server"), optionally
/// bringing it back after `back_after`.
struct KillAtFirst<'s> {
    server: &'s mut Server,
    back_after: Option<Duration>,
    done: bool,
}

impl Progress for KillAtFirst<'_> {
    fn start(&mut self, _: &str, _: u64) {}
    fn update(&mut self, _: u64, _: &str) {
        if !self.done {
            self.done = true;
            self.server.stop();
            if let Some(d) = self.back_after {
                std::thread::sleep(d);
                self.server.restart();
            }
        }
    }
    fn finish(&mut self, _: &str) {}
}

#[test]
fn a_dead_server_loses_only_the_batch_in_flight_and_a_rerun_stores_what_an_uninterrupted_run_does()
{
    let n = 4;
    let mut server = Server::start(true);
    // The uninterrupted run, through the command line.
    let (whole, _) = project_with(n, BackendConfig::default());
    let (ok, out, err) = hifi(
        whole.path(),
        &["prelabel", "--url", &server.url(), "--server-model", "smol", "--in-flight", "2"],
    );
    assert!(ok, "{err}");
    assert!(out.contains(&format!("prelabeled {n} items on openai:smol (1 server)")), "{out}");
    let reference = http_predictions(whole.path());
    assert_eq!(reference.len(), n);

    // Killed after the first batch, no retries: the run fails naming the server; what was
    // committed stays.
    let one_at_a_time = BackendConfig { in_flight: 1, retries: 0, ..backend(&server) };
    let (cut, cfg) = project_with(n, one_at_a_time.clone());
    let mut store = Store::open(cut.path()).unwrap();
    let params = hifi::llm::prelabel::PrelabelParams::from_config(&cfg, cut.path());
    let mut kill = KillAtFirst { server: &mut server, back_after: None, done: false };
    let err =
        hifi::llm::prelabel::run_http(&mut store, &cfg, &params, &mut kill, &CancelToken::new())
            .unwrap_err()
            .to_string();
    assert!(
        err.contains(&format!("127.0.0.1:{}", server.port)) && err.contains("run again to resume"),
        "{err}"
    );
    let kept = http_predictions(cut.path()).len();
    assert!((1..n).contains(&kept), "{kept} of {n} items kept");
    server.restart();
    let rep =
        hifi::llm::prelabel::run_http(&mut store, &cfg, &params, &mut Silent, &CancelToken::new())
            .unwrap();
    assert_eq!((rep.already_done, rep.scored, rep.remaining), (kept as u64, (n - kept) as u64, 0));
    let resumed = http_predictions(cut.path());

    // Killed and back within the retries: the run goes on by itself.
    let patient = BackendConfig { in_flight: 1, retries: 8, ..backend(&server) };
    let (back, cfg) = project_with(n, patient);
    let mut store = Store::open(back.path()).unwrap();
    let mut kill = KillAtFirst {
        server: &mut server,
        back_after: Some(Duration::from_millis(500)),
        done: false,
    };
    let rep =
        hifi::llm::prelabel::run_http(&mut store, &cfg, &params, &mut kill, &CancelToken::new())
            .unwrap();
    assert_eq!((rep.scored, rep.remaining), (n as u64, 0));
    let retried = http_predictions(back.path());

    // One of two servers dead from the start: its requests are retried on the other.
    let dead = format!(
        "http://127.0.0.1:{}/v1",
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    );
    let (two, _) = project_with(n, BackendConfig::default());
    let (ok, out, err) = hifi(
        two.path(),
        &[
            "prelabel",
            "--url",
            &dead,
            "--url",
            &server.url(),
            "--server-model",
            "smol",
            "--in-flight",
            "2",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains(&format!("prelabeled {n} items on openai:smol (2 servers)")), "{out}");
    let failed_over = http_predictions(two.path());

    for (what, got) in [("resumed", &resumed), ("retried", &retried), ("failed over", &failed_over)]
    {
        assert_eq!(got.len(), n, "{what}");
        for ((id, a), (rid, b)) in got.iter().zip(&reference) {
            assert_eq!(id, rid);
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() < 1e-4, "{what} {id}: {a:?} vs uninterrupted {b:?}");
            }
        }
    }
}

/// The user's case: `in_flight` 8 against a server that computes one request at a time, with a
/// timeout shorter than 8 requests take. Before, the queued requests timed out, were sent again
/// while the server still computed the abandoned ones, and few items got scored.
///
/// The test server is already such a server (one llama context behind a lock; `--n_threads 1`),
/// so it is not slowed further: throttling its CPU (taskset, nice, a busy loop) on a shared
/// two-core machine makes one request's time swing with whatever else runs, where what matters
/// is the queue. Instead the timeout is set from one request's measured time: about 4 requests'
/// worth, so 8 queued at once must time out and a few at a time need not, on any machine. The
/// prompt is cut short (no definitions, short ads) to keep the server's ~30 ms a token in check.
#[test]
fn a_slow_server_gets_fewer_requests_at_once_not_a_retry_storm_and_every_item_is_scored() {
    let n = 8;
    let server = Server::start(true);
    let model = require_model();
    let mut cfg = common::config();
    cfg.task = "Sort ads.".into();
    for l in &mut cfg.labels {
        l.definition.clear();
    }
    let labels = cfg.label_names();
    let ads = ["Win big now!", "Shoes, 20% off.", "You won't believe this.", "Open 9 to 5."];
    let items: Vec<String> = (0..n).map(|i| format!("{} #{i}", ads[i % ads.len()])).collect();

    // One request's time, measured after a first (a cold server is slower), on a prompt as long
    // as the run's; two labels, so two requests, one at a time.
    let vocab = Engine::load_vocab(&model).unwrap();
    let text = PromptText::from_engine(
        &vocab,
        &prompt::system_message(&cfg, &[]),
        &prompt::user_message(&cfg, prompt::TEXT_SLOT),
    )
    .unwrap();
    let one_at_a_time = BackendConfig { in_flight: 1, ..backend(&server) };
    let client = Client::new(&one_at_a_time, CancelToken::new()).unwrap();
    let mut http = HttpScorer::new(client, &one_at_a_time, text, labels.clone(), Some(vocab), 256);
    http.score_batch(&[items[0].as_str()]).unwrap();
    let started = Instant::now();
    http.score_batch(&[items[1].as_str()]).unwrap();
    let per_request = started.elapsed().as_secs_f64() / labels.len() as f64;
    let timeout_s = (4.0 * per_request).ceil().max(1.0) as u64;
    eprintln!(
        "one request alone: {per_request:.2} s; timeout_s {timeout_s}; 8 queued take about {:.1} s",
        8.0 * per_request
    );

    cfg.backend = BackendConfig { timeout_s, ..BackendConfig::default() };
    let (dir, _) = project_of(cfg, &items);
    let started = Instant::now();
    let (ok, out, err) = hifi(
        dir.path(),
        &["prelabel", "--url", &server.url(), "--server-model", "smol", "--in-flight", "8"],
    );
    let took = started.elapsed().as_secs_f64();
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("prelabeled {n} items on openai:smol (1 server)")),
        "{out}\n{err}"
    );
    assert_eq!(http_predictions(dir.path()).len(), n);
    let lowered: Vec<&str> =
        err.lines().filter(|l| l.contains("requests in flight lowered to")).collect();
    assert!(
        !lowered.is_empty(),
        "the limit never went down (did 8 queued requests take less than {timeout_s} s?):\n{err}"
    );
    assert!(
        err.contains(&format!("timed out after {timeout_s} s (raise `[backend] timeout_s`)")),
        "{err}"
    );
    let retries = err.lines().filter(|l| l.contains("retrying in")).count();
    let limits: Vec<&str> =
        lowered.iter().filter_map(|l| l.split("lowered to ").nth(1)?.split(' ').next()).collect();
    eprintln!("{n} items ({} requests) in {took:.1} s: {:.3} items/s; {retries} retries; the limit dropped to {}", n * labels.len(), n as f64 / took, limits.join(", "));
}

#[test]
fn a_server_without_prompt_logprobs_gets_an_error_naming_what_to_use() {
    let server = Server::start(false);
    let (dir, _) = project_with(2, BackendConfig::default());
    let started = Instant::now();
    let (ok, _, err) =
        hifi(dir.path(), &["prelabel", "--url", &server.url(), "--server-model", "smol"]);
    assert!(!ok);
    assert!(
        err.contains("logits_all") && err.contains("vLLM") && err.contains(&server.url()),
        "{err}"
    );
    // Refused at once, not retried as if the server were down.
    assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.row_count("predictions").unwrap(), 0);
}

#[test]
fn backend_settings_are_checked_before_any_work() {
    let (dir, _) = project_with(2, BackendConfig::default());
    let (ok, _, err) =
        hifi(dir.path(), &["prelabel", "--url", "ftp://x/v1", "--server-model", "m"]);
    assert!(!ok && err.contains("not an http:// or https:// URL"), "{err}");
    let (ok, _, err) = hifi(dir.path(), &["prelabel", "--url", "http://127.0.0.1:9/v1"]);
    assert!(!ok && err.contains("backend.model"), "{err}");
    // A URL that cannot be requested at all fails at once, not after the retries.
    let started = Instant::now();
    let (ok, _, err) =
        hifi(dir.path(), &["prelabel", "--url", "http://exa mple/v1", "--server-model", "m"]);
    assert!(!ok && err.contains("exa mple"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    let (ok, _, err) = hifi(dir.path(), &["embed", "--backend", "openai"]);
    assert!(!ok && err.contains("backend.urls"), "{err}");
}
