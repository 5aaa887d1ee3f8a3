//! A trainer command that comes from hifi.toml (`[train] external`) runs only after the
//! user has seen it and said yes in the workstation, once per command and project.
//!
//! The confirmations live in the user's own config folder
//! (`$XDG_CONFIG_HOME/hifi/confirmed-commands`, else `~/.config/hifi/…`), one sha256 of
//! (project folder, command) per line — not in the project, so a project copied from
//! someone else cannot arrive with its command already confirmed. A changed command has a
//! new hash and is asked about again.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::config::Config;

const FILE: &str = "confirmed-commands";

/// The hifi.toml command a LoRA round would run that has not been confirmed yet.
pub fn unconfirmed(project: &Path) -> Option<String> {
    let cfg = Config::load(project).ok()?;
    cfg.train.external.filter(|c| !is_confirmed(project, c))
}

/// Was `command` confirmed for `project`?
pub fn is_confirmed(project: &Path, command: &str) -> bool {
    file().is_some_and(|f| confirmed_in(&f, project, command))
}

fn confirmed_in(file: &Path, project: &Path, command: &str) -> bool {
    let key = key(project, command);
    std::fs::read_to_string(file).is_ok_and(|s| s.lines().any(|l| l.trim() == key))
}

/// Remember that the user confirmed `command` for `project`.
pub fn remember(project: &Path, command: &str) -> Result<(), String> {
    let file = file()
        .ok_or("neither XDG_CONFIG_HOME nor HOME is set: cannot remember the confirmation")?;
    remember_in(&file, project, command)
}

fn remember_in(file: &Path, project: &Path, command: &str) -> Result<(), String> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    writeln!(f, "{}", key(project, command))
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("{}: {e}", file.display()))
}

fn key(project: &Path, command: &str) -> String {
    let project = std::fs::canonicalize(project).unwrap_or_else(|_| project.to_path_buf());
    let mut h = Sha256::new();
    h.update(project.as_os_str().as_encoded_bytes());
    h.update([0]);
    h.update(command.as_bytes());
    hex::encode(h.finalize())
}

fn file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("hifi").join(FILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_confirmation_holds_for_that_command_in_that_project_only() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cfg/hifi").join(FILE);
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        assert!(!confirmed_in(&file, &a, "train.sh {out}"));
        remember_in(&file, &a, "train.sh {out}").unwrap();
        assert!(confirmed_in(&file, &a, "train.sh {out}"));
        assert!(
            !confirmed_in(&file, &a, "train.sh {out}; rm -rf ~"),
            "a changed command is asked again"
        );
        assert!(!confirmed_in(&file, &b, "train.sh {out}"), "another project is asked again");
    }
}
