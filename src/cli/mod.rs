//! Command-line interface: flags → validated arguments → one stage function each.

mod args;
mod commands;
pub mod labels_cmd;
pub mod mine_cmd;

pub use args::{Cli, Command};
pub use commands::run;

use crate::config::Config;
use crate::progress::{CancelToken, Progress};
use crate::store::Store;

/// Mining with the project's defaults, as the TUI's pipeline screen runs it.
pub fn mine_stage(store: &mut Store, cfg: &Config, p: &mut dyn Progress, cancel: &CancelToken) -> anyhow::Result<String> {
    let params = crate::curate::MineParams::default();
    let r = crate::curate::mine(store, cfg, &params, p, cancel)?;
    Ok(format!("{} entries queued ({})", r.entries, r.strategy.as_str()))
}
