//! Hardening, measured: kill -9 while labeling and while importing (100 times each), several
//! annotators at once, and seeded fuzzing of every parser of user files. Each test prints
//! what it tried and what was lost (docs/hardening.md's table comes from these lines).
//!
//! `HIFI_FUZZ_CASES` sets the fuzz cases per parser (default 10,000); `HIFI_CRASH_RUNS` the
//! kills per crash loop (default 100).

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use hifi::config::Config;
use hifi::progress::{CancelToken, Silent};
use hifi::store::{Annotation, AnnotationKind, NewQueueEntry, Store};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A scratch folder on tmpfs when there is one (fsync there is cheap; the fuzzers import
/// thousands of files), else the default temp dir.
fn scratch() -> tempfile::TempDir {
    match Path::new("/dev/shm").is_dir() {
        true => tempfile::tempdir_in("/dev/shm").unwrap_or_else(|_| tempfile::tempdir().unwrap()),
        false => tempfile::tempdir().unwrap(),
    }
}

/// A project with `n` items `it0..` (no model needed).
fn items_project(n: usize) -> (tempfile::TempDir, Config) {
    let (dir, cfg, mut st) = project();
    let mut body = String::from("id,text\n");
    for i in 0..n {
        body.push_str(&format!("it{i},ad number {i}\n"));
    }
    let p = file(dir.path(), "items.csv", body.as_bytes());
    hifi::io::import::import_items(
        &mut st,
        &p,
        &Default::default(),
        &mut Silent,
        &CancelToken::new(),
    )
    .unwrap();
    (dir, cfg)
}

fn integrity_ok(project: &Path) -> Store {
    let st = Store::open(project).expect("the store opens after a crash");
    let check: String = st.integrity_check().unwrap();
    assert_eq!(check, "ok");
    st
}

/// A `hifi label --stdin` process and a thread collecting its acknowledgements.
struct Labeler {
    child: Child,
    acks: Arc<Mutex<Vec<String>>>,
    reader: std::thread::JoinHandle<()>,
}

fn spawn_labeler(project: &Path, annotator: &str) -> Labeler {
    let mut child = bin()
        .arg("--project")
        .arg(project)
        .args(["label", "--stdin", "--annotator", annotator])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn hifi label --stdin");
    let out = child.stdout.take().unwrap();
    let acks = Arc::new(Mutex::new(Vec::new()));
    let a = acks.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            a.lock().unwrap().push(line);
        }
    });
    Labeler { child, acks, reader }
}

#[test]
fn kill_9_while_labeling_loses_no_acknowledged_label() {
    let runs = env_usize("HIFI_CRASH_RUNS", 100);
    let (dir, cfg) = items_project(300);
    let labels = cfg.label_names();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (mut acked_total, mut mid_write_kills) = (0usize, 0usize);
    // Acknowledged events per annotator: (item id, label) for labels; undos counted apart.
    let mut acked: HashMap<String, Vec<(String, String)>> = HashMap::new();
    let mut acked_undos: HashMap<String, usize> = HashMap::new();
    for run in 0..runs {
        let who = format!("expert{}", run % 3);
        let mut l = spawn_labeler(dir.path(), &who);
        let mut stdin = l.child.stdin.take().unwrap();
        // Feed decisions as fast as it takes them; kill at a random moment.
        let lines: Vec<String> = (0..400)
            .map(|_| match rng.gen_range(0..10) {
                0 => "undo".to_string(),
                _ => format!(
                    "it{} {}",
                    rng.gen_range(0..300),
                    labels[rng.gen_range(0..labels.len())]
                ),
            })
            .collect();
        let writer = std::thread::spawn(move || {
            for line in lines {
                if writeln!(stdin, "{line}").is_err() {
                    break;
                }
            }
            // Keep stdin open so the process is still running when the kill comes.
            std::thread::sleep(Duration::from_secs(5));
        });
        std::thread::sleep(Duration::from_millis(rng.gen_range(5..120)));
        l.child.kill().expect("kill -9");
        l.child.wait().unwrap();
        l.reader.join().unwrap();
        drop(writer); // detached: it exits on the broken pipe or after its sleep
        let acks = l.acks.lock().unwrap().clone();
        if acks.len() < 400 {
            mid_write_kills += 1;
        }
        for a in &acks {
            let parts: Vec<&str> = a.split_whitespace().collect();
            match parts.as_slice() {
                ["ok", _, "undo", "nothing"] => {}
                ["ok", _, "undo", ..] => *acked_undos.entry(who.clone()).or_default() += 1,
                ["ok", _, id, label] => {
                    acked.entry(who.clone()).or_default().push((id.to_string(), label.to_string()))
                }
                _ => panic!("unexpected acknowledgement {a:?}"),
            }
        }
        acked_total += acks.len();
        // After every kill: the store opens, is intact, and holds every acknowledged event.
        if run % 10 == 9 || run + 1 == runs {
            let st = integrity_ok(dir.path());
            let events = st.events().unwrap();
            for (who, list) in &acked {
                let mut have: HashMap<(String, String), usize> = HashMap::new();
                for e in
                    events.iter().filter(|e| &e.annotator == who && e.kind == AnnotationKind::Label)
                {
                    let id = st.item(e.item).unwrap().unwrap().id;
                    *have.entry((id, e.label.clone().unwrap_or_default())).or_default() += 1;
                }
                let mut want: HashMap<(String, String), usize> = HashMap::new();
                for k in list {
                    *want.entry(k.clone()).or_default() += 1;
                }
                for (k, n) in want {
                    assert!(
                        have.get(&k).copied().unwrap_or(0) >= n,
                        "{who}: acknowledged {k:?} ×{n} is missing after a kill"
                    );
                }
                let undos = events
                    .iter()
                    .filter(|e| &e.annotator == who && e.kind == AnnotationKind::Undo)
                    .count();
                assert!(undos >= acked_undos.get(who).copied().unwrap_or(0));
            }
        }
    }
    assert!(acked_total > 0, "the labelers acknowledged nothing: the loop tested nothing");
    println!("crash loop (labeling): {runs} kill -9, {acked_total} acknowledged decisions, {mid_write_kills} kills mid-stream, 0 lost, integrity ok");
}

#[test]
fn kill_9_while_importing_leaves_all_rows_or_none() {
    let runs = env_usize("HIFI_CRASH_RUNS", 100);
    let (dir, _cfg) = items_project(10);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let (mut complete, mut none) = (0, 0);
    let rows = 20_000;
    for run in 0..runs {
        let mut body = String::from("id,text\n");
        for i in 0..rows {
            body.push_str(&format!("b{run}-{i},imported text {i} of batch {run}\n"));
        }
        let p = file(dir.path(), &format!("batch{run}.csv"), body.as_bytes());
        let mut child = bin()
            .arg("--project")
            .arg(dir.path())
            .arg("--quiet")
            .arg("import")
            .arg(&p)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..250)));
        let _ = child.kill();
        child.wait().unwrap();
        let st = integrity_ok(dir.path());
        let n: i64 = st.item_count_with_id_prefix(&format!("b{run}-")).unwrap();
        let imports = st
            .imports()
            .unwrap()
            .iter()
            .filter(|i| i.path.ends_with(&format!("batch{run}.csv")))
            .count() as i64;
        match n {
            0 => {
                assert_eq!(imports, 0, "an import row without its items");
                none += 1
            }
            x if x == rows as i64 => {
                assert_eq!(imports, 1);
                complete += 1
            }
            x => panic!("run {run}: a half import of {x} rows"),
        }
        std::fs::remove_file(&p).unwrap();
    }
    assert!(none > 0, "no kill landed inside an import: the loop tested nothing");
    println!("crash loop (import): {runs} kill -9 of a {rows}-row import, {none} rolled back, {complete} completed, 0 partial, integrity ok");
}

#[test]
fn annotators_at_once_lose_and_duplicate_nothing() {
    let (dir, cfg) = items_project(150);
    let labels = cfg.label_names();
    // Three processes label every item at the same time, each as another annotator.
    let mut procs = Vec::new();
    for w in 0..3 {
        let mut l = spawn_labeler(dir.path(), &format!("p{w}"));
        let mut stdin = l.child.stdin.take().unwrap();
        let labels = labels.clone();
        std::thread::spawn(move || {
            for i in 0..150 {
                let _ = writeln!(stdin, "it{i} {}", labels[(i + w) % 2]);
            }
        });
        procs.push(l);
    }
    for mut l in procs {
        let status = l.child.wait().unwrap();
        assert!(status.success());
        l.reader.join().unwrap();
        assert_eq!(l.acks.lock().unwrap().len(), 150);
    }
    let st = integrity_ok(dir.path());
    let cur = st.current_labels().unwrap();
    for w in 0..3 {
        let mine: Vec<_> = cur.iter().filter(|c| c.1 == format!("p{w}")).collect();
        assert_eq!(mine.len(), 150, "p{w}: every label is in force once");
    }
    assert_eq!(st.events().unwrap().len(), 450, "no lost or duplicated events");

    // Queue claims from four connections at once: every entry gets exactly the annotators it
    // needs, nobody gets an entry twice.
    let mut st = st;
    let keys: Vec<i64> =
        (0..150).map(|i| st.item_by_id(&format!("it{i}")).unwrap().unwrap().key).collect();
    let entries: Vec<NewQueueEntry> = keys
        .chunks(2)
        .enumerate()
        .map(|(j, c)| NewQueueEntry {
            item_a: c[0],
            item_b: c.get(1).copied(),
            reason: serde_json::json!({}),
            needed: if j % 5 == 0 { 2 } else { 1 },
            audit: false,
        })
        .collect();
    st.replace_queue("pairs", &entries).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let project: PathBuf = dir.path().to_path_buf();
            let labels = labels.clone();
            std::thread::spawn(move || {
                let mut st = Store::open(&project).unwrap();
                let who = format!("q{t}");
                let mut claimed = Vec::new();
                while let Some(e) = st.claim_next(&who).unwrap() {
                    claimed.push(e.id);
                    for item in [Some(e.item_a), e.item_b].into_iter().flatten() {
                        st.annotate(&Annotation {
                            item,
                            annotator: who.clone(),
                            kind: AnnotationKind::Label,
                            label: Some(labels[0].clone()),
                            note: None,
                            suggestion: None,
                        })
                        .unwrap();
                    }
                }
                claimed
            })
        })
        .collect();
    let mut claims: HashMap<i64, usize> = HashMap::new();
    for h in handles {
        let c = h.join().unwrap();
        let unique: HashSet<_> = c.iter().collect();
        assert_eq!(unique.len(), c.len(), "an annotator got an entry twice");
        for id in c {
            *claims.entry(id).or_default() += 1;
        }
    }
    let queue = st.queue().unwrap();
    for e in &queue {
        assert_eq!(
            claims.get(&e.id).copied().unwrap_or(0),
            e.needed as usize,
            "entry {} needs {}",
            e.id,
            e.needed
        );
    }
    println!("concurrency: 3 processes × 150 labels, 0 lost, 0 duplicated; 4 connections claimed {} queue entries, each exactly as often as needed", queue.len());
}

// ---------------------------------------------------------------------------------------
// Fuzzing: seeded mutations of valid files. No panic; every rejection names the file.

fn mutate(rng: &mut ChaCha8Rng, seed: &[u8], others: &[&[u8]]) -> Vec<u8> {
    const SPICE: &[u8] = b"\0\xff\xfe\"',\n\r\t{}[]=:#\\\x1b\x9b\xc3\xe2\x80\xae \x7f0123456789aZ";
    let mut v = seed.to_vec();
    for _ in 0..rng.gen_range(1..5) {
        let len = v.len();
        match rng.gen_range(0..7) {
            0 if len > 0 => {
                let i = rng.gen_range(0..len);
                v[i] ^= 1 << rng.gen_range(0..8);
            }
            1 => {
                let i = rng.gen_range(0..=len);
                v.insert(i, SPICE[rng.gen_range(0..SPICE.len())]);
            }
            2 if len > 0 => {
                let a = rng.gen_range(0..len);
                let b = (a + rng.gen_range(1..16)).min(len);
                v.drain(a..b);
            }
            3 if len > 0 => {
                let a = rng.gen_range(0..len);
                let b = (a + rng.gen_range(1..32)).min(len);
                let chunk = v[a..b].to_vec();
                let at = rng.gen_range(0..=v.len());
                v.splice(at..at, chunk);
            }
            4 if len > 0 => v.truncate(rng.gen_range(0..len)),
            5 if !others.is_empty() => {
                let o = others[rng.gen_range(0..others.len())];
                if !o.is_empty() {
                    let a = rng.gen_range(0..o.len());
                    let b = (a + rng.gen_range(1..64)).min(o.len());
                    let at = rng.gen_range(0..=v.len());
                    v.splice(at..at, o[a..b].iter().copied());
                }
            }
            _ => {
                let i = rng.gen_range(0..=len);
                v.insert(i, rng.gen());
            }
        }
    }
    v
}

fn cases() -> usize {
    env_usize("HIFI_FUZZ_CASES", 10_000)
}

#[test]
fn fuzz_importers() {
    let dir = scratch();
    let cfg = config();
    std::fs::write(dir.path().join("hifi.toml"), cfg.to_toml()).unwrap();
    let mut st = Store::create(dir.path()).unwrap();
    let seeds: Vec<(&str, &[u8])> = vec![
        ("csv", b"id,text,gold,extra\na1,\"Only 3 left, hurry\",clickbait,x\na2,Plain offer,benign,\n"),
        ("csv", b"text\nfirst\n\"multi\nline\"\n"),
        ("jsonl", b"{\"id\": \"j1\", \"text\": \"You won't believe\", \"gold\": \"clickbait\", \"n\": 3}\n{\"id\": \"j2\", \"text\": \"Shoes 20% off\"}\n"),
        ("jsonl", b"{\"text\": \"\\u001b[31mred\\u001b[0m\", \"meta\": {\"a\": [1, 2]}}\n\n"),
        // SFT files: chat (two candidates of one prompt, a multi-turn one), Alpaca, ShareGPT.
        ("jsonl", br#"{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}
{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "Four."}]}
{"id": "c3", "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": [{"type": "text", "text": "Why?"}]}, {"role": "assistant", "content": "Because."}]}
"#),
        ("jsonl", br#"{"instruction": "Add", "input": "2 and 3", "output": "5", "system": null}
{"instruction": "Name a colour", "output": "Blue", "history": [["Hi", "Hello"]]}
"#),
        ("jsonl", br#"{"conversations": [{"from": "system", "value": "Be kind."}, {"from": "human", "value": "Hello?"}, {"from": "gpt", "value": "Hi."}]}
"#),
    ];
    let all: Vec<&[u8]> = seeds.iter().map(|s| s.1).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(0xf022);
    let (mut accepted, mut rejected) = (0usize, 0usize);
    let before = snapshot(&st);
    let n = cases();
    for case in 0..n {
        let (ext, seed) = seeds[case % seeds.len()];
        let bytes = mutate(&mut rng, seed, &all);
        let name = format!("case{case}.{ext}");
        let p = dir.path().join(&name);
        std::fs::write(&p, &bytes).unwrap();
        let opts =
            hifi::io::import::ImportOptions { labels: cfg.label_names(), ..Default::default() };
        let items_before: i64 = st.item_count().unwrap();
        let responses_before: i64 = st.response_count().unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            hifi::io::import::import_items(&mut st, &p, &opts, &mut Silent, &CancelToken::new())
        }));
        match r {
            Err(_) => panic!("import panicked on {name}: {:?}", String::from_utf8_lossy(&bytes)),
            Ok(Ok(_)) => accepted += 1,
            Ok(Err(e)) => {
                rejected += 1;
                let m = e.to_string();
                assert!(m.contains(&name), "the rejection does not name the file: {m}");
                assert!(
                    m.contains(&format!("{name}:")) || m.contains("empty") || m.contains("no rows"),
                    "no line/field in: {m}"
                );
                assert_eq!(
                    st.item_count().unwrap(),
                    items_before,
                    "a rejected import changed the store"
                );
                assert_eq!(
                    st.response_count().unwrap(),
                    responses_before,
                    "a rejected import left candidate responses"
                );
            }
        }
        std::fs::remove_file(&p).unwrap();
    }
    assert!(accepted > 0 && rejected > 0);
    assert_ne!(before, snapshot(&st));
    println!("fuzz (import csv/jsonl/chat/alpaca/sharegpt): {n} cases, {accepted} accepted, {rejected} rejected with file:line:field, 0 panics");
}

#[test]
fn fuzz_config_theme_and_keymap_parsers() {
    let cfg_text = config().to_toml();
    let theme_text = std::fs::read_to_string(repo().join("themes/dark.toml")).unwrap();
    let keymap_text = std::fs::read_to_string(repo().join("themes/keymap.toml")).unwrap();
    let all: Vec<&[u8]> = vec![cfg_text.as_bytes(), theme_text.as_bytes(), keymap_text.as_bytes()];
    let mut rng = ChaCha8Rng::seed_from_u64(0xc0f1);
    let n = cases();
    let mut rejected = [0usize; 3];
    for case in 0..n {
        for (which, seed) in all.iter().enumerate() {
            let bytes = mutate(&mut rng, seed, &all);
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let path = ["hifi.toml", "theme.toml", "keymap.toml"][which];
            let r = std::panic::catch_unwind(|| match which {
                0 => Config::parse(&text, Path::new(path)).err().map(|e| e.to_string()),
                1 => hifi::tui::theme::Theme::load(None, Some((path, &text))).1,
                _ => hifi::tui::keymap::Keymap::load(Some((path, &text))).1,
            });
            match r {
                Err(_) => panic!("{path} parser panicked on case {case}: {text:?}"),
                Ok(None) => {}
                Ok(Some(m)) => {
                    rejected[which] += 1;
                    assert!(m.contains(path), "the rejection does not name {path}: {m}");
                }
            }
        }
    }
    println!(
        "fuzz (hifi.toml / theme / keymap): {n} cases each, {} / {} / {} rejected naming the file, 0 panics",
        rejected[0], rejected[1], rejected[2]
    );
}

// ---------------------------------------------------------------------------------------
// A full disk and a read-only project, on a small tmpfs (needs mount rights: root in CI).

/// A tmpfs of `size` mounted on a fresh folder, unmounted on drop.
struct SmallDisk(PathBuf);

impl SmallDisk {
    /// Fails the test when the tmpfs cannot be mounted: a test that cannot run never passes.
    fn mount(size: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("hifi-disk-{}-{size}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch folder for the tmpfs");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status();
        assert!(
            status.as_ref().is_ok_and(|s| s.success()),
            "cannot mount a {size} tmpfs on {} ({status:?}): this test needs root (mount rights), as in CI",
            dir.display()
        );
        Self(dir)
    }
    fn remount_read_only(&self) -> bool {
        std::process::Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn a_full_disk_gives_a_clear_error_and_corrupts_nothing() {
    let disk = SmallDisk::mount("3m");
    let p = disk.0.join("proj");
    let (ok, _, err) =
        hifi(&p, &["init", p.to_str().unwrap(), "--labels", "clickbait,benign", "--task", "t"]);
    assert!(ok, "{err}");
    // A file that fits, then one that cannot (the pool file lives elsewhere; the store grows).
    let src = tempfile::tempdir().unwrap();
    let small = file(src.path(), "small.csv", b"id,text\ns1,first\ns2,second\n");
    let (ok, _, err) = hifi(&p, &["import", small.to_str().unwrap()]);
    assert!(ok, "{err}");
    let mut big = String::from("id,text\n");
    for i in 0..60_000 {
        big.push_str(&format!(
            "x{i},a long enough line of text to fill a small disk quickly number {i}\n"
        ));
    }
    let big = file(src.path(), "big.csv", big.as_bytes());
    let (ok, _, full) = hifi(&p, &["import", big.to_str().unwrap()]);
    assert!(!ok, "a 60,000-row import cannot fit in 3 MB");
    assert!(
        full.to_lowercase().contains("full") || full.contains("disk") || full.contains("space"),
        "{full}"
    );
    assert!(!full.contains("panicked"), "{full}");
    let st = integrity_ok(&p);
    assert_eq!(st.item_count().unwrap(), 2, "the failed import left nothing behind");
    // Labels still go in once space is back (the failed transaction's journal is gone).
    drop(st);
    let (ok, out, err) = hifi(&p, &["label", "s1", "benign", "--annotator", "ana"]);
    assert!(ok, "{out}{err}");
    println!("full disk: a 60,000-row import into a 3 MB tmpfs failed with {:?}; store intact, 0 partial rows", full.trim());
}

#[test]
fn a_read_only_project_gives_a_clear_error() {
    let disk = SmallDisk::mount("8m");
    let p = disk.0.join("proj");
    let (ok, _, err) =
        hifi(&p, &["init", p.to_str().unwrap(), "--labels", "clickbait,benign", "--task", "t"]);
    assert!(ok, "{err}");
    let src = tempfile::tempdir().unwrap();
    let f = file(src.path(), "a.csv", b"id,text\ns1,first\n");
    assert!(hifi(&p, &["import", f.to_str().unwrap()]).0);
    assert!(disk.remount_read_only(), "remount read-only");
    let (ok, out, err) = hifi(&p, &["label", "s1", "benign", "--annotator", "ana"]);
    assert!(!ok, "labeling a read-only project must fail: {out}");
    assert!(
        err.contains("hifi.db") || err.contains("read-only") || err.contains("readonly"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("not writable"), "{err}");
    println!("read-only project: label → {:?}", err.trim());
}
