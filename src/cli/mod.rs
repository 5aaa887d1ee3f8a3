//! Command-line interface: flags → validated arguments → one stage function each.

mod args;
mod commands;

pub use args::{Cli, Command};
pub use commands::run;
