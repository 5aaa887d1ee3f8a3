//! Command-line interface: flags → validated arguments → one stage function each.

mod args;
mod commands;
pub mod find_cmd;
mod flags;
pub mod labels_cmd;
pub mod mine_cmd;
mod output;
pub mod responses_cmd;
pub mod rounds_cmd;
pub mod select_cmd;
pub mod train_cmd;

pub use args::{Cli, Command};
pub use commands::run;
pub use output::Cancelled;
