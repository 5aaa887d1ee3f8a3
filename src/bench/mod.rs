//! `hifi bench`: throughput measured against a baseline taken in the same run, printed as
//! ratios (these machines are shared and noisy; absolute numbers drift, ratios much less).
//! One module per thing measured: [`prelabel`] (in process and over HTTP, against raw
//! llama.cpp prefill and a generate-and-parse loop), [`embed`], [`import`], [`tui`] (frames
//! on a large project), [`find`] (search and filters on 1M items) and [`train`] (LoRA steps).

pub mod embed;
pub mod find;
pub mod import;
pub mod prelabel;
pub mod train;
pub mod tui;

pub use embed::{embed, EmbedBench};
pub use find::{find, FindBench};
pub use import::{import, ImportBench};
pub use prelabel::{
    in_flight_steps, multi_label_throughput, parse_answer, prelabel, prelabel_http, raw_prefill,
    raw_prefill_at, HttpPrelabelBench, HttpRun, MultiLabelBench, PrelabelBench,
};
pub use train::{train, TrainBench};
pub use tui::{tui, TuiBench};

pub(crate) fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    if xs.is_empty() {
        0.0
    } else {
        xs[xs.len() / 2]
    }
}
