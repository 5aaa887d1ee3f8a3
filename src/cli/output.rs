//! Printing a stage's [`Summary`]: notes on stderr, the lines (or the report as JSON) on
//! stdout; a cancelled stage ends the command with [`Cancelled`] (exit status 130).

use serde::Serialize;

use hifi::pipeline::Summary;
use hifi::text::inert;

/// The command's stage was cancelled; what it kept has been printed. `main` exits with 130.
#[derive(Debug)]
pub struct Cancelled;

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cancelled")
    }
}

impl std::error::Error for Cancelled {}

/// Print `s`; `json` prints the stage's report instead of the lines.
pub fn emit<R: Serialize>(s: &Summary<R>, json: bool) -> anyhow::Result<()> {
    for n in &s.notes {
        eprintln!("note: {}", inert(n, false));
    }
    match (&s.report, json) {
        (Some(r), true) => println!("{}", hifi::text::json_to_string(r, true)),
        _ if s.cancelled() => {
            for l in &s.lines {
                eprintln!("{l}");
            }
        }
        _ => {
            for l in &s.lines {
                println!("{l}");
            }
        }
    }
    if s.cancelled() {
        return Err(Cancelled.into());
    }
    Ok(())
}

/// hifi.toml's external trainer command, shown before it runs (a command typed on this
/// command line is not repeated).
pub fn announce_trainer(project: &std::path::Path, lora: &hifi::pipeline::LoraOverrides) {
    if let Ok(cfg) = hifi::config::Config::load(project) {
        if let Some(cmd) = lora.configured_command(&cfg) {
            eprintln!("training with hifi.toml's [train] external command: {}", inert(cmd, false));
        }
    }
}
