//! Vector files that shrink: a store whose rows the file does not hold, and a file cut while a
//! reader has it memory-mapped. Readers hold a shared `flock` on the file for as long as the map
//! lives; whatever cuts the file in place (`hifi embed` cutting a torn tail, a script using
//! flock(1)) takes the exclusive lock first, so it waits for the reader instead of the reader
//! dying of SIGBUS. The reader that could die runs in a child process (this test binary run
//! again), so a SIGBUS fails the test instead of killing the harness.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;
use hifi::llm::embed::{self, EmbedParams, Vectors, HEADER_BYTES};
use hifi::llm::stand_in::StandIn;
use hifi::llm::EngineOptions;
use hifi::progress::{CancelToken, Progress, Silent};
use hifi::store::Store;

/// 200 rows of 16 floats (64 bytes each): 12.8 kB after the header, four pages, so a file cut to
/// nothing faults on every row that is read through an old map.
const ITEMS: usize = 200;
const SHA: &str = "sha-stand-in";
/// Set in the reader child: the project whose vectors it maps.
const READER_ENV: &str = "HIFI_TEST_VECTOR_READER";

/// `hifi embed`'s stage on `store` with the deterministic stand-in embedder (these tests are
/// about the vector file and its locks, not the vectors).
fn embed_all(
    store: &mut Store,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> hifi::error::Result<embed::EmbedReport> {
    embed::run_with(store, &params(), SHA, &mut StandIn::default(), progress, cancel)
}

fn params() -> EmbedParams {
    EmbedParams {
        model: PathBuf::from("stand-in.gguf"),
        limit: None,
        batch_items: 4,
        engine: EngineOptions::default(),
    }
}

/// A project with `ITEMS` items embedded by the stand-in model; returns its vector file.
fn embedded_project() -> (tempfile::TempDir, PathBuf) {
    let (dir, cfg, mut store) = project();
    let body: String = (0..ITEMS).map(|i| format!("{}\n", serde_json::json!({"id": format!("v{i}"), "text": format!("item {i} about {} things", i * 7 % 13)}))).collect();
    let pool = file(dir.path(), "pool.jsonl", body.as_bytes());
    let opts = hifi::io::import::ImportOptions { labels: cfg.label_names(), ..Default::default() };
    hifi::io::import::import_items(&mut store, &pool, &opts, &mut Silent, &CancelToken::new())
        .unwrap();
    let r = embed_all(&mut store, &mut Silent, &CancelToken::new()).unwrap();
    assert_eq!(r.embedded, ITEMS as u64);
    let vectors = dir.path().join(&r.file);
    assert_eq!(std::fs::metadata(&vectors).unwrap().len() as usize, HEADER_BYTES + ITEMS * 16 * 4);
    (dir, vectors)
}

/// Each item's vector as the stand-in model makes it, by item key.
fn expected(store: &Store) -> HashMap<i64, Vec<f32>> {
    let m = StandIn::default();
    store
        .items_page(i64::MIN, 100_000)
        .unwrap()
        .into_iter()
        .map(|i| (i.key, m.vector(&i.text)))
        .collect()
}

/// Read every row through `v` and compare it with the item's vector.
fn assert_every_row(v: &Vectors, want: &HashMap<i64, Vec<f32>>) {
    assert_eq!(v.rows.len(), ITEMS);
    for (key, row) in &v.rows {
        assert_eq!(&v.row(*row), &want[key], "item {key}, row {row}");
    }
}

fn open_error(project: &Path) -> String {
    let store = Store::open(project).unwrap();
    match Vectors::open(&store, None) {
        Ok(_) => panic!("the reader opened a vector file the store does not match"),
        Err(e) => e.to_string(),
    }
}

fn sql(project: &Path, statement: &str) {
    let db = rusqlite::Connection::open(project.join("hifi.db")).unwrap();
    db.execute_batch(statement).unwrap();
}

#[test]
fn a_store_claiming_rows_the_file_lacks_is_an_error_naming_the_file_never_a_crash() {
    let (dir, vectors) = embedded_project();
    let p = dir.path();
    let whole = std::fs::read(&vectors).unwrap();
    let shown = vectors.display().to_string();
    let cut = |len: usize| {
        std::fs::OpenOptions::new().write(true).open(&vectors).unwrap().set_len(len as u64).unwrap()
    };

    // The file holds the header and no row, though the store has 200.
    cut(HEADER_BYTES);
    let e = open_error(p);
    assert!(
        e.contains(&shown)
            && e.contains("holds 0 of the 200 vectors")
            && e.contains("run `hifi embed`"),
        "{e}"
    );
    // Cut inside the header, and to nothing.
    for len in [10, 0] {
        cut(len);
        let e = open_error(p);
        assert!(
            e.contains(&shown)
                && e.contains("no hifi vector header")
                && e.contains("run `hifi embed`"),
            "{len} bytes: {e}"
        );
    }
    std::fs::write(&vectors, &whole).unwrap();
    assert_every_row(
        &Vectors::open(&Store::open(p).unwrap(), None).unwrap(),
        &expected(&Store::open(p).unwrap()),
    );

    // The store puts an item at a row before the file, or far past its end (hifi.db changed
    // outside hifi): no overflow, no slice past the map.
    for row in [-1i64, 5000, i64::MAX] {
        sql(p, &format!("UPDATE embedding_rows SET row = {row} WHERE row = 7"));
        let e = open_error(p);
        assert!(
            e.contains(&shown)
                && e.contains(&format!("row {row}"))
                && e.contains("changed outside hifi"),
            "row {row}: {e}"
        );
        sql(p, &format!("UPDATE embedding_rows SET row = 7 WHERE row = {row}"));
    }

    // A width no file has: 0 (on a file from before headers, where rows were counted by it) and
    // one whose row length overflows.
    sql(p, "UPDATE embedding_sets SET dim = 0, file_tag = NULL");
    let e = open_error(p);
    assert!(e.contains(&shown) && e.contains("0 dims"), "{e}");
    sql(p, &format!("UPDATE embedding_sets SET dim = {}", 1u64 << 62));
    let e = open_error(p);
    assert!(e.contains(&shown) && e.contains(&format!("{} dims", 1u64 << 62)), "{e}");
}

/// Records the stages a stage function starts; cancels `cancel` when one starts with
/// `cancel_at`.
struct Stages {
    seen: std::sync::mpsc::Sender<String>,
    cancel_at: Option<(&'static str, CancelToken)>,
}

impl Progress for Stages {
    fn start(&mut self, stage: &str, _: u64) {
        let _ = self.seen.send(stage.to_string());
        if let Some((at, token)) = &self.cancel_at {
            if stage.starts_with(at) {
                token.cancel();
            }
        }
    }
    fn update(&mut self, _: u64, _: &str) {}
    fn finish(&mut self, _: &str) {}
}

/// Bytes past the last committed row, as a crash in the middle of a write leaves them.
fn torn_tail(vectors: &Path) -> u64 {
    let mut f = std::fs::OpenOptions::new().append(true).open(vectors).unwrap();
    f.write_all(&[0xAB; 3 * 4096 + 100]).unwrap();
    std::fs::metadata(vectors).unwrap().len()
}

#[test]
fn hifi_embed_waits_for_a_mapped_reader_before_cutting_a_torn_tail() {
    let (dir, vectors) = embedded_project();
    let p = dir.path().to_path_buf();
    let committed_len = std::fs::metadata(&vectors).unwrap().len();
    let torn_len = torn_tail(&vectors);
    let store = Store::open(&p).unwrap();
    let want = expected(&store);
    let reader = Vectors::open(&store, None).unwrap();

    // Ctrl-C while embed waits: nothing is cut, nothing appended.
    let (seen, stages) = std::sync::mpsc::channel();
    let cancel = CancelToken::new();
    let mut progress = Stages { seen, cancel_at: Some(("wait", cancel.clone())) };
    let mut writer_store = Store::open(&p).unwrap();
    let r = embed_all(&mut writer_store, &mut progress, &cancel);
    let started: Vec<String> = stages.try_iter().collect();
    assert!(
        started.iter().any(|s| s.starts_with("wait")),
        "embed never waited for the reader; its stages: {started:?}; result: {:?}",
        r.map(|r| r.embedded)
    );
    let e = r.map(|r| r.embedded).unwrap_err();
    assert!(e.is_cancelled() && e.to_string().contains("nothing was embedded"), "{e}");
    assert_eq!(
        std::fs::metadata(&vectors).unwrap().len(),
        torn_len,
        "the file changed although embed was cancelled"
    );

    // Not cancelled: embed waits until the reader is done, then cuts the tail.
    let (seen, stages) = std::sync::mpsc::channel();
    let writer = std::thread::spawn(move || {
        let mut store = Store::open(&p).unwrap();
        let mut progress = Stages { seen, cancel_at: None };
        embed_all(&mut store, &mut progress, &CancelToken::new()).map_err(|e| e.to_string())
    });
    // Blocks until embed reports the wait, or until it returns without having waited.
    let waited = stages.iter().any(|s| s.starts_with("wait"));
    assert!(
        waited,
        "embed did not wait for the reader: {:?}",
        writer.join().map(|r| r.map(|r| r.embedded))
    );
    assert_eq!(
        std::fs::metadata(&vectors).unwrap().len(),
        torn_len,
        "embed cut the file while it waited"
    );
    assert_every_row(&reader, &want);
    drop(reader);
    let r = writer.join().unwrap().unwrap();
    assert_eq!((r.embedded, r.already_done, r.repaired), (0, ITEMS as u64, None));
    assert_eq!(
        std::fs::metadata(&vectors).unwrap().len(),
        committed_len,
        "the torn tail was not cut"
    );
    assert_every_row(&Vectors::open(&store, None).unwrap(), &want);
}

/// `flock` (util-linux) running `truncate --size 0` on `file`, without waiting for the lock
/// (exit 75 when it is held) or waiting.
fn flock_truncate(file: &Path, wait: bool) -> Command {
    let mut c = Command::new("flock");
    c.arg("--exclusive");
    if !wait {
        c.args(["--nonblock", "--conflict-exit-code", "75"]);
    }
    c.arg(file).args(["truncate", "--size", "0"]).arg(file);
    c
}

#[test]
fn a_truncator_taking_the_lock_waits_for_a_mapped_reader_instead_of_killing_it() {
    let (dir, vectors) = embedded_project();
    let p = dir.path();
    let exe = std::env::current_exe().unwrap();
    let mut reader = Command::new(exe)
        .args(["--exact", "reader_process", "--ignored", "--nocapture", "--test-threads=1"])
        .env(READER_ENV, p)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(reader.stdout.take().unwrap());
    let mut said = String::new();
    while !said.ends_with("mapped\n") {
        if out.read_line(&mut said).unwrap() == 0 {
            panic!(
                "the reader ended before it mapped the file: {:?}\n{said}",
                reader.wait_with_output().unwrap()
            );
        }
    }

    // The reader has the file mapped. A truncator that takes the lock finds it held…
    let now = flock_truncate(&vectors, false)
        .status()
        .expect("run flock(1) from util-linux (install util-linux)");
    // …and one that waits for it gets it once the reader is done.
    let mut later = flock_truncate(&vectors, true)
        .spawn()
        .expect("run flock(1) from util-linux (install util-linux)");
    let len_while_mapped = std::fs::metadata(&vectors).unwrap().len();
    reader.stdin.take().unwrap().write_all(b"read\n").unwrap();
    let status = reader.wait().unwrap();
    std::io::Read::read_to_string(&mut out, &mut said).unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut reader.stderr.take().unwrap(), &mut err).unwrap();
    assert_ne!(
        status.signal(),
        Some(libc::SIGBUS),
        "the reader died of SIGBUS: the file was cut under its map (flock -n exited {now})"
    );
    assert!(
        status.success() && said.contains(&format!("read {ITEMS} rows")),
        "the reader failed ({status}):\n{said}\n{err}"
    );
    assert_eq!(
        now.code(),
        Some(75),
        "flock got the exclusive lock while a reader had the file mapped"
    );
    assert_eq!(
        len_while_mapped as usize,
        HEADER_BYTES + ITEMS * 64,
        "the file was cut while the reader had it mapped"
    );

    let later = later.wait().unwrap();
    assert!(later.success(), "flock truncate after the reader: {later}");
    assert_eq!(std::fs::metadata(&vectors).unwrap().len(), 0);
    // Cut now: the next reader is told so, and embed writes the file again.
    let e = open_error(p);
    assert!(e.contains(&vectors.display().to_string()) && e.contains("run `hifi embed`"), "{e}");
    let mut store = Store::open(p).unwrap();
    let r = embed_all(&mut store, &mut Silent, &CancelToken::new()).unwrap();
    assert_eq!(r.embedded, ITEMS as u64);
    assert!(
        r.repaired.as_deref().is_some_and(|w| w.contains("not this project's vector file")),
        "{:?}",
        r.repaired
    );
    assert_every_row(&Vectors::open(&store, None).unwrap(), &expected(&store));
}

/// The reader of the test above, as a process of its own: maps the vectors, says so, waits for
/// a line on stdin, then reads every row.
#[test]
#[ignore = "run only as the child process of a_truncator_taking_the_lock_waits_for_a_mapped_reader_instead_of_killing_it"]
fn reader_process() {
    let project = std::env::var_os(READER_ENV).unwrap_or_else(|| panic!("{READER_ENV} is not set: this is the reader child of another test, not a test of its own"));
    let store = Store::open(Path::new(&project)).unwrap();
    let want = expected(&store);
    let v = Vectors::open(&store, None).unwrap();
    println!("mapped");
    std::io::stdout().flush().unwrap();
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap();
    assert_every_row(&v, &want);
    println!("read {} rows", v.rows.len());
}
