//! Issue 17, cases 2 and 3 and the hifi.toml command confirmation, run through the real
//! binary on a real project with the real model: external commands never get paths spliced
//! into their text, a trainer's whole process group ends with a cancel, a second Ctrl-C,
//! SIGTERM, SIGHUP and hifi's exit, and a command from hifi.toml runs in the workstation
//! only after a yes.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{bin, repo, require_model as model};

fn hifi_in(
    cwd: &Path,
    project: &Path,
    args: &[&str],
    env: &[(&str, &Path)],
) -> (bool, String, String) {
    let mut c = bin();
    c.current_dir(cwd).arg("--project").arg(project).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("run hifi");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A project at `proj` with the sample ads' first 12 rows, each labeled by an expert.
fn labeled_project(cwd: &Path, proj: &Path) {
    let (ok, _, err) = hifi_in(
        cwd,
        cwd,
        &[
            "init",
            proj.to_str().unwrap(),
            "--labels",
            "clickbait,benign",
            "--task",
            "Decide whether an online ad is clickbait.",
        ],
        &[],
    );
    assert!(ok, "{err}");
    let csv = std::fs::read_to_string(repo().join("sample-data/ads.csv")).unwrap();
    let mut rdr = csv::Reader::from_reader(csv.as_bytes());
    let headers = rdr.headers().unwrap().clone();
    let small = cwd.join("small.csv");
    let mut w = csv::Writer::from_path(&small).unwrap();
    w.write_record(&headers).unwrap();
    let id_col = headers.iter().position(|h| h == "id").unwrap();
    let gold_col = headers.iter().position(|h| h == "gold").unwrap();
    let mut lines = String::new();
    for r in rdr.records().take(12) {
        let r = r.unwrap();
        w.write_record(&r).unwrap();
        lines.push_str(&format!("{} {}\n", &r[id_col], &r[gold_col]));
    }
    w.flush().unwrap();
    let (ok, _, err) = hifi_in(cwd, proj, &["import", small.to_str().unwrap()], &[]);
    assert!(ok, "{err}");
    let mut child = bin()
        .current_dir(cwd)
        .arg("--project")
        .arg(proj)
        .args(["label", "--stdin", "--annotator", "ana"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(lines.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
}

/// Every file under `dir` named `name`.
fn find(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.file_name().is_some_and(|n| n == name) {
            out.push(p.clone());
        }
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(find(&p, name));
        }
    }
    out
}

/// Adapters written under the project.
fn adapters(proj: &Path) -> Vec<PathBuf> {
    find(&proj.join("adapters"), "adapter.gguf")
}

/// A valid (untrained) LoRA adapter for the model, as an external trainer would write.
fn made_adapter(dir: &Path) -> PathBuf {
    let base = hifi::train::BaseModel::load(&model()).unwrap();
    let lora = hifi::train::Lora::init(
        &base.cfg,
        2,
        4.0,
        &[hifi::train::Target::Q, hifi::train::Target::V],
        0,
        base.device(),
    )
    .unwrap();
    let p = dir.join("made.gguf");
    lora.write(&p).unwrap();
    p
}

#[test]
fn case_2_project_folders_that_look_like_shell_are_only_values() {
    model();
    let dir = tempfile::tempdir().unwrap();
    let made = made_adapter(dir.path());
    for name in ["a{out}$(touch PWNED)", "it's a {job}"] {
        let proj = dir.path().join(name);
        labeled_project(dir.path(), &proj);
        // The issue's command: it writes no adapter, so it fails — and runs nothing else.
        let (ok, _, err) =
            hifi_in(dir.path(), &proj, &["train", "--external", "true {job} {out}"], &[]);
        assert!(!ok && err.contains("without writing"), "{name}: {err}");
        assert!(find(dir.path(), "PWNED").is_empty(), "{name}: the folder name ran as code");
        // A trainer gets the real paths: as {job}/{out}, $1/$2 and $HIFI_JOB/$HIFI_OUT.
        let cmd = r#"test "$1" = "$HIFI_JOB" && test "$2" = "$HIFI_OUT" && grep -q '"version":1' {job} && cp "$MADE" {out}"#;
        let (ok, out, err) =
            hifi_in(dir.path(), &proj, &["train", "--external", cmd, "--json"], &[("MADE", &made)]);
        assert!(ok, "{name}: {err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let adapter = PathBuf::from(v["adapter"].as_str().unwrap());
        assert!(adapter.starts_with(&proj) && adapter.is_file(), "{name}: {adapter:?}");
        assert_eq!(std::fs::read(&adapter).unwrap(), std::fs::read(&made).unwrap());
        assert!(find(dir.path(), "PWNED").is_empty(), "{name}: the folder name ran as code");
        // A placeholder the user quoted would end the quotes: refused before anything runs.
        let before = adapters(&proj).len();
        let marker = dir.path().join("ran");
        for bad in [
            format!("touch {} && cp x '{{out}}'", marker.display()),
            format!("touch {} && python t.py \"{{job}}\" {{out}}", marker.display()),
        ] {
            let (ok, _, err) = hifi_in(dir.path(), &proj, &["train", "--external", &bad], &[]);
            assert!(
                !ok && err.contains("--external") && err.contains("inside quotes"),
                "{bad}: {err}"
            );
            assert!(!marker.exists(), "{bad}: the command ran");
        }
        // The same from hifi.toml: the config is refused with where and why.
        let toml_path = proj.join("hifi.toml");
        let toml = std::fs::read_to_string(&toml_path).unwrap();
        std::fs::write(
            &toml_path,
            toml.replace("[train]\n", "[train]\nexternal = \"cp x '{out}'\"\n"),
        )
        .unwrap();
        let (ok, _, err) = hifi_in(dir.path(), &proj, &["train"], &[]);
        assert!(
            !ok && err.contains("hifi.toml")
                && err.contains("train.external")
                && err.contains("inside quotes"),
            "{err}"
        );
        std::fs::write(&toml_path, toml).unwrap();
        assert_eq!(adapters(&proj).len(), before, "a refused command left an adapter");
    }
}

fn pid_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < limit, "timed out after {limit:?} waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn read_pid(p: &Path) -> Option<i32> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: a plain kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

/// Start `hifi train` with an external trainer that leaves a grandchild (`sleep 300`) and
/// writes its pid to `pidfile`; returns hifi and the grandchild's pid once it runs.
fn start_trainer(dir: &Path, proj: &Path, trainer: &str, pidfile: &Path) -> (Child, i32) {
    // hifi keeps a hangup ignored when it was started ignoring it (`nohup`, the case below),
    // and a test runner started under nohup passes that on: hifi starts here with the
    // default disposition, as from a terminal, whatever launched the tests.
    start_trainer_with(bin_with_sighup(libc::SIG_DFL), dir, proj, trainer, pidfile)
}

/// hifi's command, started with SIGHUP at `disposition` (SIG_DFL or SIG_IGN).
fn bin_with_sighup(disposition: libc::sighandler_t) -> Command {
    let mut hifi = bin();
    // SAFETY: signal(2) between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut hifi, move || {
            libc::signal(libc::SIGHUP, disposition);
            Ok(())
        });
    }
    hifi
}

fn start_trainer_with(
    mut hifi: Command,
    dir: &Path,
    proj: &Path,
    trainer: &str,
    pidfile: &Path,
) -> (Child, i32) {
    let _ = std::fs::remove_file(pidfile);
    let child = hifi
        .current_dir(dir)
        .arg("--project")
        .arg(proj)
        .args(["train", "--external", trainer])
        .env("PIDFILE", pidfile)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pid = None;
    wait_until("the trainer's grandchild runs", Duration::from_secs(120), || {
        pid = read_pid(pidfile);
        pid.is_some()
    });
    let pid = pid.unwrap_or_default();
    assert!(pid_alive(pid));
    (child, pid)
}

#[test]
fn case_3_the_trainers_whole_process_group_ends_with_hifi() {
    model();
    let dir = tempfile::tempdir().unwrap();
    let proj = dir.path().join("p");
    labeled_project(dir.path(), &proj);
    let pidfile = dir.path().join("grandchild.pid");
    // The issue's trainer: a long child, then an adapter. `wait` keeps sh alive too.
    let trainer = r#"sleep 300 & echo $! > "$PIDFILE"; wait; cp x {out}"#;
    // One that shrugs off SIGTERM: only the second Ctrl-C (or the grace period) ends it.
    let stubborn = r#"trap '' TERM; sleep 300 & echo $! > "$PIDFILE"; wait; cp x {out}"#;
    let cases: [(&str, &str, &[i32]); 5] = [
        ("Ctrl-C", trainer, &[libc::SIGINT]),
        ("Ctrl-C twice", stubborn, &[libc::SIGINT, libc::SIGINT]),
        ("SIGTERM", trainer, &[libc::SIGTERM]),
        ("SIGHUP", trainer, &[libc::SIGHUP]),
        ("SIGTERM to a trainer ignoring it", stubborn, &[libc::SIGTERM]),
    ];
    for (what, cmd, signals) in cases {
        let (mut child, pid) = start_trainer(dir.path(), &proj, cmd, &pidfile);
        let t0 = Instant::now();
        for &s in signals {
            signal(&child, s);
            std::thread::sleep(Duration::from_millis(200));
        }
        wait_until(
            &format!("{what}: the grandchild {pid} is gone"),
            Duration::from_secs(10),
            || !pid_alive(pid),
        );
        let mut status = None;
        wait_until(&format!("{what}: hifi exits"), Duration::from_secs(10), || {
            status = child.try_wait().unwrap();
            status.is_some()
        });
        let status = status.unwrap();
        assert!(!status.success(), "{what}: hifi reported success");
        let mut err = String::new();
        use std::io::Read;
        child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        if signals.len() == 1 {
            assert!(err.contains("cancelled"), "{what}: {err}");
        } else {
            assert_eq!(status.code(), Some(130), "{what}: {err}");
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "{what}: took {:?}", t0.elapsed());
        assert!(adapters(&proj).is_empty(), "{what}: an adapter was written");
        assert!(find(&proj.join("adapters"), "adapter.gguf.part").is_empty(), "{what}");
    }
    // Started as `nohup hifi …` would be (SIGHUP ignored): a hangup stays ignored, SIGTERM
    // still ends the trainer's group.
    let (mut child, pid) =
        start_trainer_with(bin_with_sighup(libc::SIG_IGN), dir.path(), &proj, trainer, &pidfile);
    signal(&child, libc::SIGHUP);
    std::thread::sleep(Duration::from_secs(1));
    assert!(child.try_wait().unwrap().is_none() && pid_alive(pid), "nohup: a hangup stopped hifi");
    signal(&child, libc::SIGTERM);
    wait_until("nohup: the grandchild is gone after SIGTERM", Duration::from_secs(10), || {
        !pid_alive(pid)
    });
    assert!(!child.wait().unwrap().success());
    assert!(adapters(&proj).is_empty());
    // A trainer that finishes but leaves a process behind: it ends when hifi is done.
    let made = made_adapter(dir.path());
    let _ = std::fs::remove_file(&pidfile);
    let leaves = r#"(sleep 300 & echo $! > "$PIDFILE"); cp "$MADE" {out}"#;
    let (ok, _, err) = hifi_in(
        dir.path(),
        &proj,
        &["train", "--external", leaves],
        &[("MADE", &made), ("PIDFILE", &pidfile)],
    );
    assert!(ok, "{err}");
    assert!(err.contains("sleep 300") || !err.contains("hifi.toml"), "{err}");
    let pid = read_pid(&pidfile).expect("the leftover process ran");
    wait_until("the leftover process is gone", Duration::from_secs(5), || !pid_alive(pid));
    assert_eq!(adapters(&proj).len(), 1);
}

#[test]
fn a_hifi_toml_trainer_command_is_printed_before_it_runs() {
    model();
    let dir = tempfile::tempdir().unwrap();
    let proj = dir.path().join("p");
    labeled_project(dir.path(), &proj);
    let toml_path = proj.join("hifi.toml");
    let toml = std::fs::read_to_string(&toml_path).unwrap();
    // An escape in the command reaches the terminal only as a visible ␛.
    std::fs::write(
        &toml_path,
        toml.replace(
            "[train]\n",
            "[train]\nexternal = \"echo \\u001b]0;PWN\\u0007 >&2; exit 7 # {out}\"\n",
        ),
    )
    .unwrap();
    let (ok, _, err) = hifi_in(dir.path(), &proj, &["train"], &[]);
    assert!(!ok && err.contains("status 7"), "{err}");
    let note = err
        .lines()
        .find(|l| l.contains("[train] external command"))
        .unwrap_or_else(|| panic!("not shown: {err}"));
    assert!(note.contains("echo ␛]0;PWN^G >&2; exit 7 # {out}"), "{note}");
    let first_output = err.find("[train] external command").unwrap();
    assert!(!err[..first_output].contains("PWN"), "the command ran before it was shown: {err}");
}

/// The real workstation in tmux: a LoRA round with a hifi.toml command asks first; `n` runs
/// nothing, `y` runs it and is remembered; a changed command is asked about again.
#[test]
fn the_workstation_asks_before_running_a_hifi_toml_command() {
    model();
    assert!(
        Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success()),
        "tmux is required (scripts/setup.sh installs it)"
    );
    let dir = tempfile::tempdir().unwrap();
    let proj = dir.path().join("p");
    labeled_project(dir.path(), &proj);
    let (ok, _, err) = hifi_in(dir.path(), &proj, &["prelabel"], &[]);
    assert!(ok, "{err}");
    let marker = dir.path().join("ran");
    let xdg = dir.path().join("xdg");
    let toml_path = proj.join("hifi.toml");
    let toml = std::fs::read_to_string(&toml_path).unwrap();
    let set_command = |cmd: &str| {
        std::fs::write(
            &toml_path,
            toml.replace("[train]\n", &format!("[train]\nexternal = {cmd:?}\n")),
        )
        .unwrap()
    };
    set_command(&format!("touch {} # {{out}}", marker.display()));
    let session = format!("hifi-confirm-{}", std::process::id());
    struct Session(String);
    impl Drop for Session {
        fn drop(&mut self) {
            let _ = Command::new("tmux").args(["kill-session", "-t", &self.0]).output();
        }
    }
    let tmux = |args: &[&str]| Command::new("tmux").args(args).output().unwrap();
    let _guard = Session(session.clone());
    let cmd = format!(
        "env XDG_CONFIG_HOME={} {} --project {} review --annotator ana",
        xdg.display(),
        env!("CARGO_BIN_EXE_hifi"),
        proj.display()
    );
    let out = tmux(&["new-session", "-d", "-s", &session, "-x", "120", "-y", "30", &cmd]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let capture = || {
        String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", &session]).stdout).into_owned()
    };
    let wait_for = |needle: &str, secs: u64| {
        let t0 = Instant::now();
        loop {
            let s = capture();
            if s.contains(needle) {
                return s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(secs),
                "timed out waiting for {needle:?}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let keys = |k: &[&str]| {
        for key in k {
            tmux(&["send-keys", "-t", &session, key]);
        }
    };
    wait_for("done", 30);
    keys(&["F2"]);
    wait_for("LoRA round", 10);
    // The fifth stage is the LoRA round.
    keys(&["Down", "Down", "Down", "Down", "Enter"]);
    let s = wait_for("Run a command from hifi.toml?", 10);
    assert!(s.contains(&format!("touch {}", marker.display())), "the command is shown whole:\n{s}");
    keys(&["n"]);
    wait_for("not run:", 10);
    std::thread::sleep(Duration::from_millis(500));
    assert!(!marker.exists(), "n ran the command");
    // Not remembered: asked again; y runs it.
    keys(&["Enter"]);
    wait_for("Run a command from hifi.toml?", 10);
    keys(&["y"]);
    wait_until("y runs the command", Duration::from_secs(120), || marker.exists());
    wait_for("exited without writing", 60);
    // The same command again: no question, it runs.
    std::fs::remove_file(&marker).unwrap();
    keys(&["Enter"]);
    wait_until("the confirmed command runs again", Duration::from_secs(120), || marker.exists());
    assert!(!capture().contains("Run a command from hifi.toml?"));
    wait_for("exited without writing", 60);
    // A changed command is asked about again.
    let marker2 = dir.path().join("ran2");
    set_command(&format!("touch {} # {{out}}", marker2.display()));
    keys(&["Enter"]);
    let s = wait_for("Run a command from hifi.toml?", 10);
    assert!(s.contains(&format!("touch {}", marker2.display())), "{s}");
    keys(&["Escape"]);
    wait_for("not run:", 10);
    assert!(!marker2.exists());
    // SIGTERM to the workstation while a confirmed trainer's grandchild runs: it leaves, and
    // the trainer's whole group goes with it.
    let pidfile = dir.path().join("grandchild.pid");
    set_command(&format!("sleep 300 & echo $! > {}; wait # {{out}}", pidfile.display()));
    keys(&["Enter"]);
    wait_for("Run a command from hifi.toml?", 10);
    keys(&["y"]);
    wait_until("the trainer's grandchild runs", Duration::from_secs(120), || {
        read_pid(&pidfile).is_some()
    });
    let grandchild = read_pid(&pidfile).unwrap_or_default();
    assert!(pid_alive(grandchild));
    let pane =
        String::from_utf8_lossy(&tmux(&["list-panes", "-t", &session, "-F", "#{pane_pid}"]).stdout)
            .trim()
            .parse::<i32>()
            .unwrap();
    // SAFETY: kill(2) on the pane's process (env exec'd hifi: the same pid).
    assert_eq!(unsafe { libc::kill(pane, libc::SIGTERM) }, 0);
    wait_until("the grandchild is gone", Duration::from_secs(10), || !pid_alive(grandchild));
    wait_until("hifi quits", Duration::from_secs(10), || !pid_alive(pane));
    assert!(adapters(&proj).is_empty());
    // The confirmations live in the user's config folder, not in the project.
    let confirmed = std::fs::read_to_string(xdg.join("hifi/confirmed-commands")).unwrap();
    assert_eq!(confirmed.lines().count(), 2, "{confirmed}");
}

/// The workstation whose terminal closes (ssh dropped, tmux killed) leaves: it never stays
/// behind spinning on a hung-up terminal (crossterm's reader loops on the failing read).
#[test]
fn the_workstation_leaves_when_its_terminal_closes() {
    assert!(
        Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success()),
        "tmux is required (scripts/setup.sh installs it)"
    );
    let dir = tempfile::tempdir().unwrap();
    let proj = dir.path().join("p");
    let (ok, _, err) = hifi_in(
        dir.path(),
        &proj,
        &["init", proj.to_str().unwrap(), "--labels", "a,b", "--task", "t"],
        &[],
    );
    assert!(ok, "{err}");
    std::fs::write(dir.path().join("i.csv"), "id,text\nx1,hello\nx2,world\n").unwrap();
    let (ok, _, err) = hifi_in(dir.path(), &proj, &["import", "i.csv"], &[]);
    assert!(ok, "{err}");
    // A server of its own, killed whole: the pane's terminal goes away as when ssh drops.
    let socket = format!("hifi-hup-{}", std::process::id());
    let tmux =
        |args: &[&str]| Command::new("tmux").arg("-L").arg(&socket).args(args).output().unwrap();
    let cmd = format!(
        "{} --project {} review --annotator ana",
        env!("CARGO_BIN_EXE_hifi"),
        proj.display()
    );
    let out = tmux(&["new-session", "-d", "-x", "100", "-y", "30", &cmd]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pane = || {
        String::from_utf8_lossy(&tmux(&["list-panes", "-F", "#{pane_pid}"]).stdout)
            .trim()
            .parse::<i32>()
            .ok()
    };
    wait_until("the workstation starts", Duration::from_secs(10), || pane().is_some_and(pid_alive));
    let pid = pane().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    assert_eq!(comm.trim(), "hifi", "the pane runs hifi itself (not a shell around it)");
    tmux(&["kill-server"]);
    let t0 = Instant::now();
    while pid_alive(pid) && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let alive = pid_alive(pid);
    if alive {
        // SAFETY: kill(2) on the workstation this test started, so it does not outlive the test.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    assert!(!alive, "the workstation is still running 10 s after its terminal closed");
}

/// hifi's handler for Ctrl-C, SIGTERM and SIGHUP is what lets it finish a batch and end the
/// trainers it started; when it cannot be installed, hifi says so and starts nothing (before:
/// it ran on without it). Here the handler's thread cannot start: every new thread asks for
/// an impossible stack (RUST_MIN_STACK), and the handler's thread is the first hifi starts.
#[test]
fn a_signal_handler_that_cannot_be_installed_is_an_error_not_silence() {
    let dir = tempfile::tempdir().unwrap();
    let proj = dir.path().join("p");
    let (ok, _, err) = hifi_in(
        dir.path(),
        dir.path(),
        &["init", proj.to_str().unwrap(), "--labels", "a,b", "--task", "Sort the notes."],
        &[],
    );
    assert!(ok, "{err}");
    let out = bin()
        .arg("--project")
        .arg(&proj)
        .arg("status")
        .env("RUST_MIN_STACK", "1000000000000000")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "hifi ran without its signal handler: {err}");
    assert!(
        err.contains("cannot install hifi's Ctrl-C / SIGTERM / SIGHUP handler")
            && err.contains("nothing was started"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
