mod cli;

use clap::Parser;
use tracing_subscriber::layer::{Context, Filter};
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

/// llama.cpp's CUDA backend logs an error when it cannot start (no GPU, no driver, a driver
/// too old): hifi says that in its own one line ("no GPU found (CUDA: …): the model runs on
/// the CPU", or the error an explicit `gpu_layers` gets), so the log line is kept for it
/// instead of printed.
struct CudaInitToNote;

impl<S> Filter<S> for CudaInitToNote {
    fn enabled(&self, _: &tracing::Metadata<'_>, _: &Context<'_, S>) -> bool {
        true
    }

    fn event_enabled(&self, event: &tracing::Event<'_>, _: &Context<'_, S>) -> bool {
        #[derive(Default)]
        struct Fields {
            cuda_init: bool,
            message: String,
        }
        impl tracing::field::Visit for Fields {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                match field.name() {
                    "module" => self.cuda_init = value == "ggml::ggml_cuda_init",
                    "message" => self.message = value.to_string(),
                    _ => {}
                }
            }
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.message = format!("{value:?}");
                }
            }
        }
        let mut f = Fields::default();
        event.record(&mut f);
        match f.message.trim().strip_prefix("failed to initialize CUDA: ") {
            Some(why) if f.cuda_init => {
                hifi::llm::device::cuda_init_failed(why);
                false
            }
            _ => true,
        }
    }
}

fn main() {
    // Quiet by default: hifi's own notes, and llama.cpp only when it reports an error.
    // HIFI_LOG (or RUST_LOG) takes a tracing filter, e.g. HIFI_LOG=debug.
    let filter = std::env::var("HIFI_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "warn,hifi=info,llama-cpp-2=error,llama_cpp_2=error".into());
    let cli = cli::Cli::parse();
    // While the workstation is up, logs go to <project>/hifi.log, never to the terminal.
    let tui = matches!(cli.command, None | Some(cli::Command::Review(_)));
    let log_file = match tui && cli.project.join(hifi::config::CONFIG_FILE).exists() {
        true => hifi::files::open_append(&cli.project.join("hifi.log"))
            .inspect_err(|e| {
                eprintln!("not logging to hifi.log: {}", hifi::text::inert(&e.to_string(), false))
            })
            .ok(),
        false => None,
    };
    let layer = tracing_subscriber::fmt::layer().with_target(false);
    let env = EnvFilter::new(filter);
    let registry = tracing_subscriber::registry();
    match log_file {
        Some(f) => registry
            .with(
                layer
                    .with_ansi(false)
                    .with_writer(std::sync::Mutex::new(f))
                    .with_filter(env)
                    .with_filter(CudaInitToNote),
            )
            .init(),
        None if tui => registry.with(layer.with_writer(std::io::sink).with_filter(env)).init(),
        None => registry
            .with(layer.with_writer(std::io::stderr).with_filter(env).with_filter(CudaInitToNote))
            .init(),
    }
    let cancel = hifi::progress::CancelToken::new();
    let c = cancel.clone();
    // Trainers and reward commands hifi started end with it, however it ends: here on a
    // return or a panic unwinding main, below on a signal and before `exit`.
    let _groups = hifi::procs::EndAllOnDrop;
    // First Ctrl-C (or SIGTERM / SIGHUP): finish the batch in flight and stop cleanly; a
    // running trainer is ended at once. Second: end every child process group and exit now.
    // The built-in trainer's child process keeps the default: SIGTERM ends it at once.
    let worker = matches!(cli.command, Some(cli::Command::TrainWorker(_)));
    if !worker {
        let installed = hifi::procs::on_signals(move || {
            if c.is_cancelled() {
                hifi::procs::end_all();
                std::process::exit(130);
            }
            if !tui {
                eprintln!("\ninterrupted: finishing the current batch (Ctrl-C again to quit now)");
            }
            hifi::procs::request_stop();
            c.cancel();
        });
        // Without it Ctrl-C would kill hifi mid-batch and leave trainers running: refuse to start.
        if let Err(e) = installed {
            eprintln!("error: cannot install hifi's Ctrl-C / SIGTERM / SIGHUP handler ({e}); nothing was started");
            std::process::exit(1);
        }
    }
    let result = cli::run(cli, &cancel);
    hifi::procs::end_all();
    if let Err(e) = result {
        // A cancelled stage has said what it kept; 130 is the shell's "ended by Ctrl-C".
        if e.downcast_ref::<cli::Cancelled>().is_some() {
            std::process::exit(130);
        }
        eprintln!("error: {}", hifi::text::inert(&format!("{e:#}"), true));
        std::process::exit(1);
    }
}
