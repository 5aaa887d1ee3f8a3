//! The workstation (`hifi review`) in a tmux session, for end-to-end tests: start it, type keys,
//! read the screen. tmux missing is a failure, not a skip.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use hifi::store::{NewQueueEntry, Store};

/// A tmux session running `hifi review` on a project; killed however the test ends.
pub struct Workstation {
    pub session: String,
}

impl Workstation {
    /// The single items `ids` queued, then the workstation on them.
    pub fn start(p: &Path, ids: &[&str], name: &str) -> Workstation {
        Self::queue(p, ids);
        Self::launch(p, name)
    }

    /// The single items `ids`, queued for review.
    pub fn queue(p: &Path, ids: &[&str]) {
        let mut store = Store::open(p).unwrap();
        let file = p.join("q.jsonl");
        let body: String = ids
            .iter()
            .map(|id| {
                serde_json::json!({"id": id, "text": format!("Ad called {id}")}).to_string() + "\n"
            })
            .collect();
        std::fs::write(&file, body).unwrap();
        hifi::io::import::import_items(
            &mut store,
            &file,
            &Default::default(),
            &mut hifi::progress::Silent,
            &Default::default(),
        )
        .unwrap();
        let entries: Vec<NewQueueEntry> = ids
            .iter()
            .map(|id| NewQueueEntry {
                item_a: store.item_by_id(id).unwrap().unwrap().key,
                item_b: None,
                reason: serde_json::json!({}),
                needed: 1,
                audit: false,
            })
            .collect();
        store.replace_queue("test", &entries).unwrap();
    }

    /// `hifi review --annotator ana` on `p` in a 120×30 terminal.
    pub fn launch(p: &Path, name: &str) -> Workstation {
        Self::launch_with(p, name, &[], (120, 30))
    }

    /// `hifi review --annotator ana` on `p` in a `size` terminal, with `env` set (and VISUAL
    /// unset, so that an EDITOR given here is the one that runs).
    pub fn launch_with(
        p: &Path,
        name: &str,
        env: &[(&str, &str)],
        (w, h): (u16, u16),
    ) -> Workstation {
        assert!(
            Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success()),
            "tmux is required (scripts/setup.sh installs it)"
        );
        let ws = Workstation { session: format!("hifi-{name}-{}", std::process::id()) };
        ws.tmux(&["kill-session", "-t", &ws.session]);
        let vars: String = env.iter().map(|(k, v)| format!("{k}='{v}' ")).collect();
        let cmd = format!(
            "env -u VISUAL {vars}{} --project '{}' review --annotator ana",
            env!("CARGO_BIN_EXE_hifi"),
            p.display()
        );
        let (w, h) = (w.to_string(), h.to_string());
        assert!(ws
            .tmux(&["new-session", "-d", "-s", &ws.session, "-x", &w, "-y", &h, &cmd])
            .status
            .success());
        ws
    }

    pub fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux").args(args).output().unwrap()
    }

    /// Type `k` (a tmux key name: "a", "F6", "Down", "Enter").
    pub fn keys(&self, k: &str) {
        self.tmux(&["send-keys", "-t", &self.session, k]);
    }

    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", &self.session]).stdout)
            .into_owned()
    }

    /// The screen once `ok` holds for it (60 s at most, then a failure showing the screen).
    pub fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(60) {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("timed out waiting for {what}; screen:\n{}", self.screen());
    }

    pub fn running(&self) -> bool {
        self.tmux(&["has-session", "-t", &self.session]).status.success()
    }

    /// Quit (`Q`) and wait for the session to end.
    pub fn quit(&self) {
        self.keys("Q");
        let t = Instant::now();
        while self.running() && t.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!self.running(), "the workstation did not quit; screen:\n{}", self.screen());
    }
}

impl Drop for Workstation {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["kill-session", "-t", &self.session]).output();
    }
}
