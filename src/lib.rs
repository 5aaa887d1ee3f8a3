//! hifi: build small, high-fidelity fine-tuning sets with a local LLM in the loop.
//!
//! The library holds every stage (import, prelabel, embed, mine, …) as a function that
//! reports into a [`progress::Progress`] sink and never prints; the `hifi` binary and the
//! review TUI are two clients of the same functions.

pub mod bench;
pub mod config;
pub mod curate;
pub mod error;
pub mod files;
pub mod io;
pub mod llm;
pub mod metrics;
pub mod multilabel;
pub mod pipeline;
pub mod procs;
pub mod progress;
pub mod project;
pub mod responses;
pub mod rounds;
pub mod select;
pub mod shell;
pub mod store;
pub mod text;
pub mod train;
pub mod tui;
