//! Every subcommand and flag, with the help that teaches how to use it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use super::flags::{BackendArgs, EngineArgs, WriteFlags};
use hifi::io::export::{ExportContent, ExportFormat, SplitChoice};
use hifi::io::Format;

const ABOUT: &str = "Build small, high-fidelity fine-tuning sets with a local LLM in the loop.";

const LONG_ABOUT: &str = "\
Build small, high-fidelity fine-tuning sets with a local LLM in the loop.

The loop:
  1. hifi init      make a project: task, labels with definitions, the store
  2. hifi import    bring in the pool (CSV, JSONL or Parquet)
  3. hifi prelabel  a local GGUF model scores every label for every item (log-probabilities)
  4. hifi embed     one vector per item, for clustering and nearest neighbours
  5. hifi mine      explore, then the model's boundary, into the review queue; `hifi` opens
                    the review workstation
  6. hifi round     train the round model (probe or LoRA) on expert labels, re-predict,
                    score on the eval split; hifi report says whether to stop
  7. hifi export    the labeled set (eval never as train)
Sets: hifi select betr|limo and hifi self-train build LIMO, BETR and ReST-EM sets; experts
veto entries (F5 in the workstation); hifi export --selection ID writes one with provenance.
Find and reshape: hifi find and hifi show search the pool and show an item's history; hifi
labels add|rename|merge|retire change the label set; hifi guidelines edit versions the rules.

Every command works on the project in --project DIR (default: the current directory).
Quick start on the bundled sample data:
  hifi init demo --from sample-data/labels.toml
  hifi --project demo import sample-data/ads.csv
  hifi --project demo prelabel && hifi --project demo embed
  hifi --project demo status";

#[derive(Debug, Parser)]
#[command(name = "hifi", version, about = ABOUT, long_about = LONG_ABOUT)]
pub struct Cli {
    /// The project folder (holds hifi.toml and hifi.db).
    #[arg(
        long,
        short = 'C',
        global = true,
        default_value = ".",
        value_name = "DIR",
        env = "HIFI_PROJECT"
    )]
    pub project: PathBuf,

    /// No progress bars.
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// With no command inside a project, hifi opens the review workstation.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a project folder with hifi.toml and an empty store.
    ///
    /// Labels come from --labels (names only; write their definitions into hifi.toml) or from
    /// --from FILE, a TOML file with `task` and `[[labels]] name/definition` entries such as
    /// sample-data/labels.toml.
    Init(InitArgs),
    /// Import items from a CSV, JSONL or Parquet file, or a folder of Parquet shards (all rows
    /// or none): a pool to label, or prompts with candidate responses (chat, Alpaca, ShareGPT)
    /// to judge.
    ///
    /// Extra fields are kept as metadata (nested Parquet columns as JSON). A malformed row, a
    /// missing field, invalid UTF-8, a duplicate id or an unknown gold label is reported with
    /// file, line and field (Parquet: file, row and column), and then nothing from the file is
    /// imported.
    Import(ImportArgs),
    /// Score every label for every item with the model (zero-shot, log-probabilities).
    ///
    /// Re-running skips items already scored with the same model, adapter and prompt; Ctrl-C
    /// keeps every finished batch. `[model] batch_items` items share a llama.cpp batch;
    /// `[model] kv_cache = "shared"` (default, fastest) scores the same batch to the same
    /// numbers every time, `"separate"` makes each item's numbers independent of its batch.
    ///
    /// On servers (`--url http://gpu1:8000/v1 --server-model NAME`, or `[backend]`): vLLM,
    /// SGLang or the llama-cpp-python server score the same prompt, rendered with the chat
    /// template of the GGUF at `--model` (only its vocabulary is loaded).
    Prelabel(PrelabelArgs),
    /// Embed every item (mean-pooled, L2-normalised) for clustering and neighbour search,
    /// locally or on servers' `/v1/embeddings` (`--url`, `--server-model`).
    Embed(EmbedArgs),
    /// Export expert-labeled items (jsonl, csv, parquet, or chat-jsonl for TRL / axolotl /
    /// Unsloth), or the responses experts judged (chat-jsonl, dpo-jsonl, parquet); or a
    /// Hugging Face dataset folder with both splits and a dataset card (hf-dataset).
    ///
    /// The eval split is never written as train. Items whose annotators disagree are left out
    /// until adjudicated; so are candidate responses one expert accepts and another rejects.
    ///
    /// Examples:
    ///   hifi export -o train.jsonl
    ///   hifi export --format chat-jsonl -o sft.jsonl       (accepted responses, once judged)
    ///   hifi export --format dpo-jsonl -o prefs.jsonl      (chosen / rejected pairs for DPO)
    ///   hifi export --format chat-jsonl --content labels -o labels-chat.jsonl
    ///   hifi export --format parquet -o train.parquet
    ///   hifi export --format hf-dataset -o my-dataset      (datasets.load_dataset("my-dataset"))
    ///   hifi export --format hf-dataset --content preferences -o my-dpo
    Export(ExportArgs),
    /// Record one expert label (the same durable path the review TUI uses), flag an item as
    /// unsure or withdraw your flag, or undo / redo.
    ///
    /// Labeling an item you already decided is a revisit: the new label is recorded as
    /// replacing your earlier decision (both stay in `hifi labels export`), and it clears
    /// your flag on the item. A flag stands until you --unflag the item or revisit it;
    /// `hifi find --flagged` lists flagged items.
    ///
    /// Examples:
    ///   hifi label ad-0042 clickbait --annotator ana --note "hides the product"
    ///   hifi label ad-0042 --flag --note "is a discount a teaser?" --annotator ana
    ///   hifi label ad-0042 clickbait --flag --annotator ana   (flagged, clickbait tentatively)
    ///   hifi label ad-0042 --unflag --annotator ana
    ///   hifi label --undo --annotator ana
    ///   printf 'ad-0042 clickbait\nundo\n' | hifi label --stdin --annotator ana
    ///   hifi label app-0007 Game,Education --annotator ana   (multi-label: the labels that apply)
    ///   hifi label app-0008 --none --annotator ana           (multi-label: none of them)
    Label(LabelArgs),
    /// Search the pool and the decisions on it: words in item texts and notes, an item id,
    /// and filters that combine (label in force, annotator, flagged, skipped, noted, experts
    /// disagree, the model disagrees, split, stratum, round, labeled or not).
    ///
    /// Plain words match whole words in any order; `word*` is a prefix, "a phrase" in quotes
    /// a phrase, and AND / OR / NOT (upper case) combine (SQLite FTS5 syntax). One line per
    /// item: its id, the labels in force, markers (! flagged, s skipped, n has a note,
    /// ≠ experts disagree) and the start of its text; --json for scripts.
    #[command(after_help = super::find_cmd::FIND_EXAMPLES)]
    Find(super::find_cmd::FindArgs),
    /// One item in full: its text, imported fields, split, labels in force, flags, the
    /// model's prediction now, and its whole history (every event: who, when, what, where,
    /// what it revises, whether it was undone).
    #[command(after_help = super::find_cmd::SHOW_EXAMPLES)]
    Show(super::find_cmd::ShowArgs),
    /// The project's guidelines (guidelines.md, Markdown): edit them in $VISUAL / $EDITOR,
    /// show them, list their versions. Every label records the guidelines version in force.
    #[command(subcommand)]
    Guidelines(super::find_cmd::GuidelinesCommand),
    /// Counts of items, predictions, embeddings, queue, annotations and splits.
    Status(StatusArgs),
    /// Fill the review queue: adaptive (default: explore, then the model's boundary), boundary
    /// pairs, margin / entropy / random / cluster-margin, each entry with the reason it was chosen.
    Mine(crate::cli::mine_cmd::MineArgs),
    /// One round of the loop: split the expert labels into eval/train, train the round model
    /// on train, re-predict the pool, score it on eval, refill the queue.
    ///
    /// The first round also records the zero-shot LLM as a baseline. `hifi report` shows
    /// every round and whether to stop.
    Round(crate::cli::rounds_cmd::RoundArgs),
    /// Train a LoRA adapter for the model on the expert train split, with the same prompt
    /// prelabeling scores (loss on the label and the end of turn only), in a child process.
    ///
    /// Writes adapters/train-…/adapter.gguf (llama.cpp loads it: `hifi prelabel --adapter`)
    /// and adapter.json (base model sha256, architecture, rank, alpha, targets, train-set
    /// hash, losses). `hifi round --trainer lora` also prelabels, evaluates and mines.
    ///
    /// Examples:
    ///   hifi train --rank 16 --epochs 3
    ///   hifi train --external "python train_peft.py {job} {out}"
    ///
    /// {job} and {out} are written bare: the command sees them as "$HIFI_JOB" and "$HIFI_OUT".
    Train(crate::cli::train_cmd::TrainArgs),
    /// The child process `hifi train` starts (JSON job in, JSON lines out).
    #[command(hide = true, name = "train-worker")]
    TrainWorker(crate::cli::train_cmd::WorkerArgs),
    /// Every round: model-vs-expert kappa (per annotator and averaged, 95% CI), expert-vs-expert
    /// kappa, the eval set's size and balance, and the stopping verdict.
    Report(crate::cli::rounds_cmd::ReportArgs),
    /// Plan a label budget on data with gold labels: per strategy and budget, run the loop
    /// with an oracle and report kappa vs gold on a held-out test set.
    ///
    /// Example:
    ///   hifi simulate --oracle gold --budgets 100,200,300 --strategies pairs,random --json
    Simulate(crate::cli::rounds_cmd::SimulateArgs),
    /// Build small sets: BETR (documents matched to target examples), LIMO (a few hundred
    /// hard-but-solvable prompts with their best responses); list, show or veto what was
    /// built. `hifi export --selection ID` writes a set with its provenance.
    #[command(subcommand)]
    Select(crate::cli::select_cmd::SelectCommand),
    /// ReST-EM self-training on prompts with a checkable answer: sample K replies per prompt,
    /// keep at most M that pass the reward, train a LoRA from the base model, repeat while the
    /// held-out reward improves.
    ///
    /// The reward is exact match against each item's `reference` field (after normalising;
    /// numbers compare as numbers) or --reward-command. Each iteration's kept replies are
    /// saved as a set (`hifi select show`, `hifi export --selection`) beside its adapter.
    ///
    /// Example:
    ///   hifi self-train --samples 8 --keep-per-item 4 --iterations 3
    #[command(name = "self-train")]
    SelfTrain(crate::cli::select_cmd::SelfTrainArgs),
    /// Bring in labels made elsewhere (CSV, JSONL, Prodigy, Label Studio, Argilla), export
    /// every annotation event with provenance, or change the label set (add, rename, merge,
    /// retire; history) without losing what was given under the old names.
    #[command(subcommand)]
    Labels(crate::cli::labels_cmd::LabelsCommand),
    /// Judge, fix and compare candidate responses (SFT and preference data): what the
    /// workstation's Responses screen does, for scripts.
    ///
    /// Examples:
    ///   hifi responses list q-001
    ///   hifi responses accept q-001 1 --annotator ana
    ///   hifi responses reject q-001 2 --reason "wrong sum" --annotator ana
    ///   hifi responses edit q-001 2 --annotator ana          (opens $VISUAL / $EDITOR)
    ///   hifi responses prefer q-001 1 2 --annotator ana      (1 is better than 2)
    ///   hifi responses undo --annotator ana
    #[command(subcommand)]
    Responses(crate::cli::responses_cmd::ResponsesCommand),
    /// Open the review workstation (the default inside a project).
    ///
    /// Pairs from the queue side by side, one key per label per side, undo/redo without limit;
    /// a pipeline screen runs prelabel / embed / mine in the background; a dashboard shows
    /// agreement; an adjudication screen resolves disagreements. Keys and colours are data:
    /// see themes/keymap.toml and themes/*.toml, override them in ~/.config/hifi/.
    Review(ReviewArgs),
    /// Measure throughput against a baseline taken in the same run.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Folder to create (may exist if empty of a hifi project).
    pub dir: PathBuf,
    /// Label names, comma-separated (e.g. clickbait,benign).
    #[arg(long, value_delimiter = ',', required_unless_present = "from")]
    pub labels: Vec<String>,
    /// What the labels are for, one sentence (e.g. "Is this ad clickbait?").
    #[arg(long, required_unless_present = "from")]
    pub task: Option<String>,
    /// Task and label definitions from a TOML file (e.g. sample-data/labels.toml).
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    /// Several labels may apply to one item, or none (a multi-label task: an independent
    /// probability per label, a threshold per label; docs/multi-label.md).
    #[arg(long)]
    pub multi_label: bool,
    /// GGUF model to use (default: $HIFI_MODEL, then SmolLM2-135M-Instruct from scripts/setup.sh).
    #[arg(long, value_name = "GGUF")]
    pub model: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// CSV (with a header row), JSONL or Parquet file, or a folder of Parquet shards (every
    /// *.parquet in it, by name): a pool (`text`, optional `responses`), or SFT data (OpenAI
    /// chat `messages`, Alpaca `instruction`/`input`/`output`, ShareGPT `conversations`),
    /// detected from the first record. Records with the same prompt (or id) become one item
    /// with several candidate responses.
    pub file: PathBuf,
    /// Field with the text to label.
    #[arg(long = "text", default_value = hifi::pipeline::DEFAULT_TEXT_FIELD, value_name = "FIELD")]
    pub text_field: String,
    /// Field with the item id (default: `id` when present, else `<file stem>-<line>`).
    #[arg(long = "id", value_name = "FIELD")]
    pub id_field: Option<String>,
    /// Field with a gold label (default: `gold` when present). In a multi-label project the
    /// gold is a label set: a list (JSONL, Parquet list columns), a JSON-array string, or names
    /// joined by --label-sep; `[]` is none of them, an empty value no gold.
    #[arg(long = "gold", value_name = "FIELD")]
    pub gold_field: Option<String>,
    /// Multi-label projects: the separator of gold label sets given as strings (default ",").
    #[arg(long, value_name = "SEP")]
    pub label_sep: Option<char>,
    /// File format (default: from the extension — a folder is Parquet shards — and for JSONL
    /// and Parquet from the first record).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PrelabelArgs {
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
    /// A LoRA adapter (GGUF) applied on top of the model.
    #[arg(long, value_name = "GGUF")]
    pub adapter: Option<PathBuf>,
    /// Score at most N items this run.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EmbedArgs {
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Embed at most N items this run.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: ExportFormat,
    /// Which split to write (hf-dataset writes both: train, and eval as test).
    #[arg(long, value_enum, default_value = "train")]
    pub split: SplitChoice,
    /// What the rows hold: auto writes, as chat-jsonl or hf-dataset, the experts' accepted
    /// responses when any response judgement is in force, else the labels; jsonl, csv and
    /// parquet hold labels; dpo-jsonl holds preference pairs of responses. parquet and
    /// hf-dataset hold responses or preference pairs when asked.
    #[arg(long, value_enum, default_value_t = ExportContent::default(), conflicts_with = "selection")]
    pub content: ExportContent,
    /// Output file ("-" for stdout; not for parquet), or for hf-dataset the folder to create.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: PathBuf,
    /// Export a built set instead (an id from `hifi select list`, or "latest"): vetoed
    /// entries and eval-split items are left out; every row carries its provenance, and
    /// FILE.provenance.json the build's parameters and report.
    #[arg(long, value_name = "ID", conflicts_with = "split")]
    pub selection: Option<String>,
    /// Multi-label projects, CSV: the separator the label sets are joined with (default ",";
    /// JSONL and Parquet write them as lists).
    #[arg(long, value_name = "SEP")]
    pub label_sep: Option<char>,
    #[command(flatten)]
    pub write: WriteFlags,
}

#[derive(Debug, Args)]
pub struct LabelArgs {
    /// The item's id (as imported).
    #[arg(required_unless_present_any = ["undo", "redo", "stdin"])]
    pub item: Option<String>,
    /// One of the project's labels (with --flag: the flag's tentative label). In a multi-label
    /// project, the labels that apply: names joined by commas (`a,c`) or a JSON list
    /// (`'["a","c"]'`); --none for none of them.
    #[arg(required_unless_present_any = ["undo", "redo", "stdin", "flag", "unflag", "none"])]
    pub label: Option<String>,
    /// Multi-label projects: none of the labels applies (an explicit empty set).
    #[arg(long, conflicts_with_all = ["label", "undo", "redo", "stdin", "unflag"])]
    pub none: bool,
    /// Who is labeling (default: $USER).
    #[arg(long, env = "HIFI_ANNOTATOR")]
    pub annotator: Option<String>,
    /// A note kept with the label (or the flag).
    #[arg(long)]
    pub note: Option<String>,
    /// Flag the item as unsure: it needs a second look. It stands until you --unflag it or
    /// label the item again.
    #[arg(long, conflicts_with_all = ["undo", "redo", "stdin", "unflag"])]
    pub flag: bool,
    /// Withdraw your flag on the item.
    #[arg(long, conflicts_with_all = ["label", "undo", "redo", "stdin"])]
    pub unflag: bool,
    /// Undo this annotator's newest decision.
    #[arg(long, conflicts_with_all = ["item", "label", "redo"])]
    pub undo: bool,
    /// Redo this annotator's newest undo.
    #[arg(long, conflicts_with_all = ["item", "label"])]
    pub redo: bool,
    /// Read decisions from standard input, one per line: `ITEM_ID LABEL [NOTE…]`, `undo` or
    /// `redo` (multi-label: LABEL is `a,c`, a JSON list, or `[]` for none of them). Each is
    /// committed before `ok LINE …` is printed for it (a script may treat that line as the
    /// acknowledgement); a bad line is reported on stderr and skipped.
    #[arg(long, conflicts_with_all = ["item", "label", "undo", "redo", "note", "none"])]
    pub stdin: bool,
}

#[derive(Debug, Args, Default)]
pub struct ReviewArgs {
    /// Who is reviewing (default: $USER). Labels are kept per annotator.
    #[arg(long, env = "HIFI_ANNOTATOR")]
    pub annotator: Option<String>,
    /// Colour theme: dark, light, high-contrast (default: ~/.config/hifi/theme.toml, else dark).
    #[arg(long)]
    pub theme: Option<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Label scoring (ours) vs raw llama.cpp prefill vs a naive generate-and-parse loop; with
    /// --backend openai (or --url), the servers vs the local engine on the same GGUF, by
    /// requests in flight and by number of servers.
    Prelabel(BenchPrelabelArgs),
    /// Embedding throughput vs raw llama.cpp prefill.
    Embed(BenchLlmArgs),
    /// Import rows/s on generated short rows, vs parsing alone, and Parquet vs CSV import of
    /// the same rows.
    Import(BenchImportArgs),
    /// Mining on generated, seeded data: seconds per phase and peak memory.
    Mine(crate::cli::mine_cmd::BenchMineArgs),
    /// Review-screen frame time and cold open on a generated project.
    Tui(BenchTuiArgs),
    /// Search and filters (`hifi find`, the Browse screen) on a generated 1M-item project:
    /// indexing rate, then p50 / p99 per kind of query against the target p99 ≤ 50 ms.
    Find(BenchFindArgs),
    /// LoRA training steps (shared prompt prefix, frozen-weight matmul) vs every example
    /// carrying its whole prompt, and vs candle's stock matmul.
    Train(BenchTrainArgs),
}

#[derive(Debug, Args)]
pub struct BenchTrainArgs {
    #[command(flatten)]
    pub input: BenchInput,
    /// Examples per step.
    #[arg(long, default_value_t = 4)]
    pub batch: usize,
    /// Timed steps per variant.
    #[arg(long, default_value_t = 2)]
    pub steps: usize,
    /// Measure ours only (the unshared baseline is slow: every example carries the prompt).
    #[arg(long)]
    pub no_baselines: bool,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchFindArgs {
    /// Items in the generated project.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// Items decided by the three generated annotators (labels, flags, skips, notes).
    #[arg(long, default_value_t = 3000)]
    pub decided: usize,
    /// Rounds of the query mix (42 queries each: 7 kinds of text × 6 filters; and 6 with a
    /// stopword, timed apart).
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchTuiArgs {
    /// Items in the generated project.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// Frames to draw.
    #[arg(long, default_value_t = 2000)]
    pub frames: usize,
    /// Items of the Responses screen's project (each with two long candidate responses).
    #[arg(long, default_value_t = 10_000)]
    pub response_items: u64,
    /// Characters of each of those responses.
    #[arg(long, default_value_t = 20_000)]
    pub response_chars: usize,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The model, texts and labels an LLM benchmark runs on.
#[derive(Debug, Args)]
pub struct BenchInput {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Texts to use: a CSV/JSONL file with a `text` field.
    #[arg(long, default_value = "sample-data/ads.csv", value_name = "FILE")]
    pub data: PathBuf,
    /// Label definitions when not inside a project.
    #[arg(long, default_value = "sample-data/labels.toml", value_name = "FILE")]
    pub labels: PathBuf,
}

#[derive(Debug, Args)]
pub struct BenchLlmArgs {
    #[command(flatten)]
    pub input: BenchInput,
    /// How many texts.
    #[arg(long, default_value_t = 48)]
    pub items: usize,
    /// Items per llama.cpp batch (default: the project's model.batch_items).
    #[arg(long)]
    pub batch_items: Option<usize>,
    /// Prelabel only: the KV-cache layout to measure as "ours" (default: the project's
    /// model.kv_cache); with `shared`, the separate layout is measured too, in the same run.
    #[arg(long, value_enum)]
    pub kv_cache: Option<hifi::config::KvCache>,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchPrelabelArgs {
    #[command(flatten)]
    pub llm: BenchLlmArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
}

#[derive(Debug, Args)]
pub struct BenchImportArgs {
    /// Rows to generate.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}
