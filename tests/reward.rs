//! Reward commands cannot stall a run: one past `--reward-timeout` is ended with its whole
//! process group and the error names the item; Ctrl-C ends a running one at once; a command
//! that writes a lot before reading its input does not deadlock; a background process that
//! keeps its output open does not hold the verdict back. Real `sh` commands, and the real
//! hifi binary (with the real model) where the flag and the signal are concerned.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use hifi::progress::CancelToken;
use hifi::select::reward::Reward;

const MIB: usize = 1 << 20;

/// `f()` on a thread of its own; the test fails if it has not returned within `secs` (a hang).
fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .unwrap_or_else(|_| panic!("did not return within {secs} s"))
}

fn command(c: &str, timeout_secs: u64) -> Reward {
    Reward::Command { command: c.into(), timeout_secs }
}

/// A process that exists and is not a zombie.
fn pid_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
}

fn pid_in(file: &Path) -> Option<i32> {
    std::fs::read_to_string(file).ok().and_then(|s| s.trim().parse().ok())
}

/// The pid written to `file`, waiting up to `secs` for it.
fn wait_for_pid(file: &Path, secs: u64) -> i32 {
    let t0 = Instant::now();
    loop {
        if let Some(p) = pid_in(file) {
            return p;
        }
        assert!(t0.elapsed() < Duration::from_secs(secs), "{} never appeared", file.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Background processes ended when the group is: give the kernel a moment to deliver.
fn assert_ended(pid: i32, what: &str) {
    let t0 = Instant::now();
    while pid_alive(pid) && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!pid_alive(pid), "{what}: the background process {pid} survived");
}

/// `sleep 300` in the background of the command, its pid written to `pidfile`.
fn sleeper(pidfile: &Path) -> String {
    format!("sleep 300 & echo $! > '{}'", pidfile.display())
}

#[test]
fn a_command_past_its_timeout_is_ended_with_its_whole_group_and_the_error_names_the_item() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("sleep.pid");
    let r = command(&format!("{}; wait", sleeper(&pidfile)), 1);
    let t0 = Instant::now();
    let e = within(30, move || r.judge("q-17", "p", "x", None, &CancelToken::new())).unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(20), "took {:?} with a 1 s timeout", t0.elapsed());
    assert!(!e.is_cancelled(), "{e}");
    let e = e.to_string();
    assert!(
        e.starts_with("reward command ")
            && e.contains("on item q-17 did not answer within 1 s (raise --reward-timeout)"),
        "{e}"
    );
    assert_ended(pid_in(&pidfile).expect("the command started its sleep"), "timeout");
}

#[test]
fn cancelling_ends_a_running_command_and_everything_it_started_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("sleep.pid");
    let r = command(&format!("{}; wait", sleeper(&pidfile)), 600);
    let cancel = CancelToken::new();
    let c = cancel.clone();
    let t0 = Instant::now();
    let judged = std::thread::spawn(move || r.judge("q-1", "p", "x", None, &c));
    let pid = wait_for_pid(&pidfile, 20);
    cancel.cancel();
    let e = within(30, move || judged.join().expect("judge panicked")).unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(20), "took {:?} after a cancel", t0.elapsed());
    assert!(e.is_cancelled() && e.to_string().contains("q-1"), "{e}");
    assert_ended(pid, "cancel");
}

#[test]
fn a_command_that_writes_a_mebibyte_before_reading_a_mebibyte_does_not_deadlock() {
    let response = "x".repeat(MIB);
    // 1 MiB to stderr first, then it reads all of its input and judges by its size.
    let r = command(
        &format!("yes | head -c {MIB} >&2; n=$(wc -c); [ \"$n\" -gt {MIB} ] && echo 1 || echo 0"),
        600,
    );
    let resp = response.clone();
    assert!(
        within(60, move || r.judge("big", "p", &resp, None, &CancelToken::new())).unwrap(),
        "the whole input arrived"
    );
    // 1 MiB to stdout first: no verdict, but an answer, and a short message.
    let r = command(&format!("yes | head -c {MIB}; cat >/dev/null; echo 1"), 600);
    let e = within(60, move || r.judge("big", "p", &response, None, &CancelToken::new()))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("on item big") && e.contains("print 1 or 0") && e.len() < 2000,
        "{} chars: {}",
        e.len(),
        &e[..e.len().min(400)]
    );
}

#[test]
fn a_background_process_holding_the_pipes_open_does_not_hold_the_verdict_back() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.pid"), dir.path().join("b.pid"));
    // The sleep inherits stdin, stdout and stderr; nobody reads the 1 MiB input.
    let r = command(&format!("{}; echo 1", sleeper(&a)), 600);
    let t0 = Instant::now();
    assert!(within(30, move || r.judge("bg", "p", &"y".repeat(MIB), None, &CancelToken::new()))
        .unwrap());
    assert!(t0.elapsed() < Duration::from_secs(20), "took {:?}", t0.elapsed());
    assert_ended(pid_in(&a).expect("the command started its sleep"), "background");
    // A subshell's background process (its parent has already gone).
    let r = command(&format!("({}); echo 0", sleeper(&b)), 600);
    let t0 = Instant::now();
    assert!(!within(30, move || r.judge("bg", "p", "x", None, &CancelToken::new())).unwrap());
    assert!(t0.elapsed() < Duration::from_secs(20), "took {:?}", t0.elapsed());
    assert_ended(pid_in(&b).expect("the command started its sleep"), "subshell");
}

/// A project with the first `n` arithmetic prompts (each with a reference) imported.
fn arith_project(n: usize) -> (tempfile::TempDir, PathBuf) {
    let (dir, _cfg, _store) = project();
    let body: String = std::fs::read_to_string(repo().join("sample-data/arith.jsonl"))
        .unwrap()
        .lines()
        .take(n)
        .map(|l| format!("{l}\n"))
        .collect();
    let p = file(dir.path(), "arith.jsonl", body.as_bytes());
    let (ok, out, err) = hifi(dir.path(), &["import", &p.display().to_string()]);
    assert!(ok, "import failed:\n{err}\n{out}");
    let root = dir.path().to_path_buf();
    (dir, root)
}

#[test]
fn reward_timeout_ends_a_hung_command_in_limo_and_self_train_and_zero_is_refused() {
    require_model();
    let (_dir, p) = arith_project(4);
    let runs: [(&str, &[&str]); 2] = [
        ("limo", &["select", "limo", "--size", "1", "--limit", "1"]),
        ("self-train", &["self-train", "--iterations", "1", "--limit", "2"]),
    ];
    for (name, args) in runs {
        let pidfile = p.join(format!("{name}.pid"));
        let reward = format!("{}; wait", sleeper(&pidfile));
        let mut all: Vec<&str> = args.to_vec();
        all.extend([
            "--samples",
            "1",
            "--max-tokens",
            "4",
            "--reward-command",
            &reward,
            "--reward-timeout",
            "1",
        ]);
        let t0 = Instant::now();
        let (ok, out, err) = hifi(&p, &all);
        assert!(t0.elapsed() < Duration::from_secs(120), "{name}: took {:?}", t0.elapsed());
        assert!(!ok, "{name}: a hung reward command passed:\n{out}");
        assert!(
            err.contains("did not answer within 1 s (raise --reward-timeout)")
                && err.contains("on item q-00"),
            "{name}: {err}"
        );
        if name == "limo" {
            assert!(err.contains("on item q-001 "), "{err}");
        }
        assert_ended(pid_in(&pidfile).expect("the reward command ran"), name);
    }
    let (ok, _, err) = hifi(
        &p,
        &["select", "limo", "--size", "1", "--reward-command", "echo 1", "--reward-timeout", "0"],
    );
    assert!(!ok && err.contains("--reward-timeout"), "{err}");
    // A timeout for no command is a mistake, not a no-op; the default asks for nothing.
    let (ok, _, err) = hifi(&p, &["self-train", "--reward-timeout", "5"]);
    assert!(!ok && err.contains("--reward-command"), "{err}");
    let (_, _, err) = hifi(&p, &["self-train", "--iterations", "0"]);
    assert!(err.contains("must each be at least 1"), "{err}");
}

#[test]
fn ctrl_c_ends_a_running_reward_command_and_hifi_stops_as_cancelled() {
    require_model();
    let (_dir, p) = arith_project(2);
    let pidfile = p.join("ctrl-c.pid");
    let reward = format!("{}; wait", sleeper(&pidfile));
    let mut hifi = bin()
        .arg("--project")
        .arg(&p)
        .arg("--quiet")
        .args([
            "select",
            "limo",
            "--size",
            "1",
            "--limit",
            "1",
            "--samples",
            "1",
            "--max-tokens",
            "4",
            "--reward-command",
            &reward,
            "--reward-timeout",
            "600",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hifi");
    let t0 = Instant::now();
    let sleep = loop {
        if let Some(pid) = pid_in(&pidfile) {
            break pid;
        }
        if let Some(status) = hifi.try_wait().unwrap() {
            let out = hifi.wait_with_output().unwrap();
            panic!(
                "hifi exited ({status}) before the reward command ran: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "the reward command never ran");
        std::thread::sleep(Duration::from_millis(20));
    };
    // SAFETY: a signal to the child this test started.
    assert_eq!(unsafe { libc::kill(hifi.id() as i32, libc::SIGINT) }, 0);
    let t1 = Instant::now();
    let status = loop {
        if let Some(s) = hifi.try_wait().unwrap() {
            break s;
        }
        if t1.elapsed() > Duration::from_secs(30) {
            let _ = hifi.kill();
            panic!("hifi did not stop within 30 s of Ctrl-C while its reward command ran");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let err = hifi
        .wait_with_output()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .unwrap_or_default();
    assert_eq!(status.code(), Some(130), "{err}");
    assert_ended(sleep, "Ctrl-C");
}
