//! `hifi export`: expert-labeled items as JSONL, CSV, Parquet, or chat JSONL (`{"messages":
//! [...]}`, built from the very prompt the model is scored with). The eval split is never
//! written as train; items whose annotators disagree are left out until adjudicated.
//!
//! Where experts judged candidate responses, the export writes them instead
//! ([`export_content`], [`export_responses`]): chat JSONL with each item's accepted response
//! as the assistant turn, or preference pairs (`dpo-jsonl`, TRL's conversational preference
//! format) from the experts' preferences and from accepted-vs-rejected candidates; the same
//! rows as Parquet. What counts as accepted, and which revision, is
//! [`crate::responses::report`]'s.
//!
//! `hf-dataset` writes a folder Hugging Face `datasets` loads as it is: the train rows and the
//! eval split (as `test`) as Parquet, with a dataset card ([`super::hf_dataset`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::config::Config;
use crate::llm::prompt;
use crate::responses::report::{
    chosen, counted, pair_verdicts, verdicts, CandidateStatus, CandidateVerdict, PairId,
    PairStatus, PairVerdict,
};
use crate::responses::{edit_distance, InForce, Outcome};
use crate::store::{Revision, Selection, Split, Store, StoreError};

use super::parquet::Kind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Jsonl,
    Csv,
    /// `{"messages": [system, user, assistant]}` per line, for TRL / axolotl / Unsloth.
    ChatJsonl,
    /// `{"prompt": [...], "chosen": [...], "rejected": [...]}` per line: preference pairs of
    /// responses, TRL's conversational preference format (DPOTrainer).
    DpoJsonl,
    /// One Parquet file: the jsonl rows (labels), or with `--content responses` / `preferences`
    /// the chat-jsonl / dpo-jsonl rows (messages as list<struct<role, content>>).
    Parquet,
    /// A folder Hugging Face `datasets` loads as it is: data/train-….parquet (what the train
    /// export writes), data/test-….parquet (the eval split) and README.md, a dataset card with
    /// the provenance.
    HfDataset,
}

impl ExportFormat {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Jsonl => "jsonl",
            Self::Csv => "csv",
            Self::ChatJsonl => "chat-jsonl",
            Self::DpoJsonl => "dpo-jsonl",
            Self::Parquet => "parquet",
            Self::HfDataset => "hf-dataset",
        }
    }
}

/// Which rows `hifi export` writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExportContent {
    /// chat-jsonl and hf-dataset: the accepted responses when any response judgement is in
    /// force, else the labels; jsonl, csv and parquet: the labels; dpo-jsonl: the responses'
    /// preference pairs.
    #[default]
    Auto,
    /// The expert labels (as before responses existed).
    Labels,
    /// The experts' judgements of candidate responses: the accepted ones (chat-jsonl, parquet,
    /// hf-dataset), or preference pairs (dpo-jsonl).
    Responses,
    /// Preference pairs of responses (dpo-jsonl, parquet, hf-dataset): prompt, chosen and
    /// rejected as lists of {role, content}.
    Preferences,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SplitChoice {
    Train,
    Eval,
    All,
}

/// How an output file is written.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions {
    /// Replace an existing file (never one of a project's own files).
    pub force: bool,
    /// CSV: leave cells that start with = + - @ as they are (by default they are prefixed with
    /// `'` so a spreadsheet shows them as text instead of running them as formulas).
    pub csv_formulas: bool,
    /// Multi-label projects, CSV: the separator label sets are joined with (`None`: `,`).
    pub label_sep: Option<char>,
}

impl WriteOptions {
    /// A CSV cell as these options write it.
    pub fn cell<'a>(&self, s: &'a str) -> std::borrow::Cow<'a, str> {
        if self.csv_formulas {
            s.into()
        } else {
            crate::files::csv_cell(s)
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportReport {
    pub file: String,
    pub rows: usize,
    pub train: usize,
    pub eval: usize,
    /// Labeled items left out because their annotators disagree (adjudicate them).
    pub conflicts: usize,
    /// Ids of train items left out because they near-duplicate an eval item (see `hifi report`).
    pub leaked: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Hifi(#[from] crate::error::Error),
}

/// One expert-labeled item an export writes.
pub(crate) struct LabelRow {
    pub item: crate::store::Item,
    pub label: String,
    /// In a multi-label project: the label set `label` stores (names in label-set order).
    pub set: Option<Vec<String>>,
    pub split: Split,
}

/// The labeled items of a split, and what was left out.
pub(crate) struct LabelRows {
    pub rows: Vec<LabelRow>,
    pub conflicts: usize,
    pub leaked: Vec<String>,
}

/// The expert-labeled items of `split` in the order the exports write them (splits assigned
/// first): items whose annotators disagree and train items that near-duplicate an eval item
/// are left out and counted.
pub(crate) fn label_rows(
    store: &mut Store,
    cfg: &Config,
    split: SplitChoice,
) -> Result<LabelRows, ExportError> {
    crate::curate::split::assign_splits(store, cfg)?;
    let (resolved, conflicts) = store.resolved_labels()?;
    let splits = store.splits()?;
    let leak = crate::curate::split::leakage(store, cfg)?;
    let mut out = LabelRows { rows: Vec::new(), conflicts: conflicts.len(), leaked: Vec::new() };
    for (key, label) in resolved {
        let Some(s) = splits.get(&key).copied() else { continue };
        let wanted = match split {
            SplitChoice::Train => s == Split::Train,
            SplitChoice::Eval => s == Split::Eval,
            SplitChoice::All => true,
        };
        if !wanted {
            continue;
        }
        let Some(item) = store.item(key)? else { continue };
        if leak.train_keys.contains(&key) {
            out.leaked.push(item.id);
            continue;
        }
        let set = if cfg.multi_label { crate::multilabel::decode(&label) } else { None };
        out.rows.push(LabelRow { item, label, set, split: s });
    }
    Ok(out)
}

/// The jsonl row of a labeled item: id, text, label, split, and its other imported fields as
/// `meta` (an object; `meta_as_text`: its JSON text, as Parquet holds it). A multi-label
/// project's label is the list of labels that apply (`[]`: none of them).
pub(crate) fn label_json(r: &LabelRow, meta_as_text: bool) -> Value {
    let mut rec =
        json!({"id": r.item.id, "text": r.item.text, "label": r.label, "split": r.split.as_str()});
    if let Some(set) = &r.set {
        rec["label"] = json!(set);
    }
    if let Some(meta) = r.item.meta.as_deref().and_then(|m| serde_json::from_str::<Value>(m).ok()) {
        rec["meta"] = if meta_as_text { meta.to_string().into() } else { meta };
    }
    rec
}

/// The columns of a labels export in Parquet (the jsonl fields; `meta` as JSON text).
pub(crate) const LABEL_COLUMNS: &[(&str, Kind)] = &[
    ("id", Kind::Text),
    ("text", Kind::Text),
    ("label", Kind::Text),
    ("split", Kind::Text),
    ("meta", Kind::Text),
];

/// [`LABEL_COLUMNS`] of a multi-label project: `label` is a `list<string>`.
pub(crate) const LABEL_SET_COLUMNS: &[(&str, Kind)] = &[
    ("id", Kind::Text),
    ("text", Kind::Text),
    ("label", Kind::TextList),
    ("split", Kind::Text),
    ("meta", Kind::Text),
];

/// The columns of `cfg`'s labels export in Parquet.
pub(crate) fn label_columns(cfg: &Config) -> &'static [(&'static str, Kind)] {
    if cfg.multi_label {
        LABEL_SET_COLUMNS
    } else {
        LABEL_COLUMNS
    }
}

/// The columns of a responses export in Parquet: chat rows, or preference pairs (`pairs`);
/// `provenance` as JSON text.
pub(crate) fn response_columns(pairs: bool) -> &'static [(&'static str, Kind)] {
    if pairs {
        &[
            ("prompt", Kind::Messages),
            ("chosen", Kind::Messages),
            ("rejected", Kind::Messages),
            ("id", Kind::Text),
            ("provenance", Kind::Text),
        ]
    } else {
        &[("messages", Kind::Messages), ("id", Kind::Text), ("provenance", Kind::Text)]
    }
}

const BINARY_STDOUT: &str =
    "Parquet is binary: name a file with -o FILE instead of writing it to standard output";

/// Write the chosen split of the expert-labeled items to `out` ("-" for stdout). The file is
/// written to a temporary name and renamed, so a crash never leaves half a file; it never
/// replaces a project's own files, nor an existing file without `opts.force`.
pub fn export(
    store: &mut Store,
    cfg: &Config,
    format: ExportFormat,
    split: SplitChoice,
    out: &Path,
    opts: WriteOptions,
) -> Result<ExportReport, ExportError> {
    match format {
        ExportFormat::DpoJsonl => return Err(ExportError::Invalid(NO_LABEL_PAIRS.into())),
        ExportFormat::HfDataset => {
            return Err(ExportError::Invalid(
                "hf-dataset writes a folder with both splits: export it with export_content".into(),
            ))
        }
        ExportFormat::Parquet if out == Path::new("-") => {
            return Err(ExportError::Invalid(BINARY_STDOUT.into()))
        }
        _ => {}
    }
    crate::files::check_output(out, opts.force)
        .map_err(|source| ExportError::Io { path: out.to_path_buf(), source })?;
    let got = label_rows(store, cfg, split)?;
    let examples = prompt::few_shot_examples(store, cfg)?;
    let io = |source| ExportError::Io { path: out.to_path_buf(), source };

    let mut buf: Vec<u8> = Vec::new();
    match format {
        ExportFormat::Jsonl | ExportFormat::ChatJsonl => {
            for r in &got.rows {
                let recs = match (&r.set, format) {
                    (_, ExportFormat::Jsonl) => vec![label_json(r, false)],
                    // One record per label: the answer the scorer and the LoRA trainer use.
                    (Some(set), _) => prompt::chat_records_multi(cfg, &examples, &r.item.text, set),
                    (None, _) => vec![prompt::chat_record(cfg, &examples, &r.item.text, &r.label)],
                };
                for rec in recs {
                    serde_json::to_writer(&mut buf, &rec).map_err(|e| io(e.into()))?;
                    buf.push(b'\n');
                }
            }
        }
        ExportFormat::Parquet => {
            let rows: Vec<Value> = got.rows.iter().map(|r| label_json(r, true)).collect();
            buf = super::parquet::write(&rows, label_columns(cfg)).map_err(io)?.bytes;
        }
        ExportFormat::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(["id", "text", "label", "split"]).map_err(|e| io(e.into()))?;
            for r in &got.rows {
                w.write_record(
                    [
                        opts.cell(&r.item.id),
                        opts.cell(&r.item.text),
                        opts.cell(&csv_label(r, opts.label_sep)),
                        r.split.as_str().into(),
                    ]
                    .iter()
                    .map(|c| c.as_bytes()),
                )
                .map_err(|e| io(e.into()))?;
            }
            buf = w.into_inner().map_err(|e| io(std::io::Error::other(e.to_string())))?;
        }
        ExportFormat::DpoJsonl | ExportFormat::HfDataset => {
            return Err(ExportError::Invalid(NO_LABEL_PAIRS.into()))
        }
    }
    crate::files::write_output(out, &buf, opts.force).map_err(io)?;
    let train = got.rows.iter().filter(|r| r.split == Split::Train).count();
    Ok(ExportReport {
        file: out.display().to_string(),
        rows: got.rows.len(),
        train,
        eval: got.rows.len() - train,
        conflicts: got.conflicts,
        leaked: got.leaked,
    })
}

/// A labeled row's CSV cell: the label, or a multi-label project's set joined by `sep`
/// (default `,`; empty for none of them).
fn csv_label(r: &LabelRow, sep: Option<char>) -> String {
    match &r.set {
        Some(set) => set.join(sep.unwrap_or(',').to_string().as_str()),
        None => r.label.clone(),
    }
}

const NO_LABEL_PAIRS: &str = "dpo-jsonl holds preference pairs of responses, not labels; export labels as jsonl, csv or chat-jsonl";

/// What [`export_content`] wrote: labels, responses, or a dataset folder.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "content", rename_all = "kebab-case")]
pub enum Exported {
    Labels(ExportReport),
    Responses(ResponsesExportReport),
    Dataset(DatasetExportReport),
}

/// What a file of responses holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rows {
    Labels,
    /// Each item's accepted response, as chat messages.
    Chat,
    /// Preference pairs.
    Pairs,
}

/// Write `content` (see [`ExportContent`]) in `format`: the labels through [`export`], the
/// responses through [`export_responses`], a dataset folder through [`export_dataset`].
pub fn export_content(
    store: &mut Store,
    cfg: &Config,
    format: ExportFormat,
    content: ExportContent,
    split: SplitChoice,
    out: &Path,
    opts: WriteOptions,
) -> Result<Exported, ExportError> {
    use ExportContent as C;
    use ExportFormat as F;
    let rows = match (format, content) {
        (F::DpoJsonl, C::Labels) => return Err(ExportError::Invalid(NO_LABEL_PAIRS.into())),
        (F::Jsonl | F::Csv, C::Responses | C::Preferences) => {
            return Err(ExportError::Invalid(format!(
                "--content {}: responses export as chat-jsonl (the accepted ones), dpo-jsonl (preference pairs), parquet or hf-dataset, not {}",
                if content == C::Responses { "responses" } else { "preferences" },
                format.name()
            )))
        }
        (F::ChatJsonl, C::Preferences) => {
            return Err(ExportError::Invalid(
                "--content preferences: preference pairs export as dpo-jsonl, parquet or hf-dataset, not chat-jsonl".into(),
            ))
        }
        (F::DpoJsonl, _) | (F::Parquet | F::HfDataset, C::Preferences) => Rows::Pairs,
        (F::ChatJsonl | F::Parquet | F::HfDataset, C::Responses) => Rows::Chat,
        (F::Jsonl | F::Csv | F::Parquet, C::Auto | C::Labels)
        | (F::ChatJsonl | F::HfDataset, C::Labels) => Rows::Labels,
        (F::ChatJsonl | F::HfDataset, C::Auto) => {
            if Judged::read(store)?.any_in_force {
                Rows::Chat
            } else {
                Rows::Labels
            }
        }
    };
    if format == F::HfDataset {
        return Ok(Exported::Dataset(export_dataset(store, cfg, rows, out, opts)?));
    }
    Ok(match rows {
        Rows::Labels => Exported::Labels(export(store, cfg, format, split, out, opts)?),
        Rows::Chat | Rows::Pairs => Exported::Responses(write_responses(
            store,
            cfg,
            rows == Rows::Pairs,
            format,
            split,
            out,
            opts,
        )?),
    })
}

/// What [`export_dataset`] wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DatasetExportReport {
    /// The folder, its files, and the rows of each split.
    #[serde(flatten)]
    pub written: super::hf_dataset::Written,
    /// What the rows hold: labels, responses or preferences.
    pub rows: String,
    /// Labeled items left out because their annotators disagree.
    pub conflicts: usize,
    /// Ids of train items left out because they near-duplicate an eval item.
    pub leaked: Vec<String>,
    /// What else was left out and why, one clause each.
    pub left_out: Vec<String>,
    /// Items with candidate responses that nobody has judged yet.
    pub unreviewed: usize,
}

/// Write a folder Hugging Face `datasets` loads as it is (see [`super::hf_dataset`]): the
/// train rows of `rows` (labels, accepted responses or preference pairs) and those of the eval
/// split, as Parquet, with the dataset card.
fn export_dataset(
    store: &mut Store,
    cfg: &Config,
    rows: Rows,
    out: &Path,
    opts: WriteOptions,
) -> Result<DatasetExportReport, ExportError> {
    let io = |source| ExportError::Io { path: out.to_path_buf(), source };
    super::hf_dataset::check_target(out, opts.force).map_err(io)?;
    let (train, test, columns, content) = match rows {
        Rows::Labels => {
            let t = label_rows(store, cfg, SplitChoice::Train)?;
            let e = label_rows(store, cfg, SplitChoice::Eval)?;
            let json =
                |r: &LabelRows| r.rows.iter().map(|r| label_json(r, true)).collect::<Vec<_>>();
            let mut left_out = Vec::new();
            if t.conflicts > 0 {
                left_out.push(plural(
                    t.conflicts,
                    "labeled item whose annotators disagree (not adjudicated)",
                    "labeled items whose annotators disagree (not adjudicated)",
                ));
            }
            if !t.leaked.is_empty() {
                left_out.push(plural(
                    t.leaked.len(),
                    "train item that near-duplicates an eval item",
                    "train items that near-duplicate an eval item",
                ));
            }
            let report = (t.conflicts, t.leaked.clone(), left_out, 0);
            (json(&t), json(&e), label_columns(cfg), ("labels", report))
        }
        Rows::Chat | Rows::Pairs => {
            let pairs = rows == Rows::Pairs;
            let (t, mut rt) = response_rows(store, cfg, pairs, SplitChoice::Train)?;
            let (e, _) = response_rows(store, cfg, pairs, SplitChoice::Eval)?;
            rt.eval = 0; // written as test
            let report = (0, rt.leaked.clone(), rt.left_out(), rt.unreviewed);
            let name = if pairs { "preferences" } else { "responses" };
            (t, e, response_columns(pairs), (name, report))
        }
    };
    let (name, (conflicts, leaked, left_out, unreviewed)) = content;
    let ds = super::hf_dataset::Dataset {
        content: name,
        columns,
        train: &train,
        test: &test,
        left_out: left_out.clone(),
    };
    let written = super::hf_dataset::write(store, cfg, &ds, out, opts.force)?;
    Ok(DatasetExportReport { written, rows: name.into(), conflicts, leaked, left_out, unreviewed })
}

/// What [`export_responses`] wrote and what it left out.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ResponsesExportReport {
    pub file: String,
    pub format: String,
    /// The rows are preference pairs (else accepted responses as chat messages).
    pub pairs: bool,
    pub rows: usize,
    /// Distinct items the rows are about.
    pub items: usize,
    /// chat-jsonl: rows whose response is an expert's edit.
    pub edited: usize,
    /// dpo-jsonl: rows from the experts' preferences, and from accepted-vs-rejected candidates.
    pub from_preferences: usize,
    pub from_decisions: usize,
    /// chat-jsonl: items left out because every decided candidate was rejected.
    pub rejected_only: usize,
    /// Candidates left out because one annotator accepts and another rejects them.
    pub disputed_candidates: usize,
    /// chat-jsonl: items left out because no candidate is accepted and one is disputed.
    pub disputed_items: usize,
    /// dpo-jsonl: pairs left out because the annotators' preferences differ.
    pub disputed_pairs: usize,
    /// dpo-jsonl: pairs left out as ties, and as both bad.
    pub ties: usize,
    pub both_bad: usize,
    /// Items with judged responses left out because they are in the eval split.
    pub eval: usize,
    /// Ids of train items left out because they near-duplicate an eval item.
    pub leaked: Vec<String>,
    /// Items with candidate responses that nobody has judged yet (nothing to write).
    pub unreviewed: usize,
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl ResponsesExportReport {
    /// `wrote 3 accepted responses (3 items, 1 edited by an expert) to FILE`.
    pub fn written(&self) -> String {
        let what = if self.pairs {
            format!(
                "{} ({} from preferences, {} accepted vs rejected; {})",
                plural(self.rows, "preference pair", "preference pairs"),
                self.from_preferences,
                self.from_decisions,
                plural(self.items, "item", "items")
            )
        } else {
            format!(
                "{} ({}, {} edited by an expert)",
                plural(self.rows, "accepted response", "accepted responses"),
                plural(self.items, "item", "items"),
                self.edited
            )
        };
        format!("wrote {what} to {}", self.file)
    }

    /// What was left out and why, one clause each (empty when nothing was).
    pub fn left_out(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut add = |n: usize, one: &str, many: &str| {
            if n > 0 {
                out.push(plural(n, one, many));
            }
        };
        add(
            self.rejected_only,
            "item whose responses were all rejected",
            "items whose responses were all rejected",
        );
        add(
            self.disputed_candidates,
            "candidate whose annotators disagree (one accepts, one rejects; it counts once they agree)",
            "candidates whose annotators disagree (one accepts, one rejects; each counts once they agree)",
        );
        add(
            self.disputed_items,
            "item with no accepted response but a disputed one",
            "items with no accepted response but a disputed one",
        );
        add(
            self.disputed_pairs,
            "pair whose annotators' preferences differ",
            "pairs whose annotators' preferences differ",
        );
        add(self.ties, "tie", "ties");
        add(self.both_bad, "pair judged both bad", "pairs judged both bad");
        add(self.eval, "item in the eval split", "items in the eval split");
        add(
            self.leaked.len(),
            "train item that near-duplicates an eval item",
            "train items that near-duplicate an eval item",
        );
        out
    }
}

/// The response judgements that count (see [`crate::responses::report`]), read once.
struct Judged {
    revisions: HashMap<i64, Revision>,
    /// (item, number) → the original revision's id.
    originals: HashMap<(i64, i64), i64>,
    verdicts: BTreeMap<(i64, i64), CandidateVerdict>,
    pairs: BTreeMap<PairId, PairVerdict>,
    /// Any response judgement is in force (before leaving out those on undone edits).
    any_in_force: bool,
}

impl Judged {
    fn read(store: &Store) -> Result<Self, ExportError> {
        let all = store.all_revisions()?;
        let events = store.response_events(None)?;
        let force = InForce::read(&events, &all);
        let any_in_force = !force.decisions.is_empty()
            || !force.scores.is_empty()
            || !force.preferences.is_empty();
        let force = counted(&force, &all);
        Ok(Self {
            originals: all
                .iter()
                .filter(|r| r.parent.is_none())
                .map(|r| ((r.item, r.number), r.id))
                .collect(),
            verdicts: verdicts(&force),
            pairs: pair_verdicts(&force),
            revisions: all.into_iter().map(|r| (r.id, r)).collect(),
            any_in_force,
        })
    }

    /// The item's accepted response whose acceptance is newest, with its revision.
    fn accepted(&self, item: i64) -> Option<(&CandidateVerdict, &Revision)> {
        let v = chosen(&self.verdicts, item)?;
        Some((v, self.revisions.get(&v.revision)?))
    }

    fn item_verdicts(&self, item: i64) -> impl Iterator<Item = &CandidateVerdict> {
        self.verdicts.range((item, i64::MIN)..=(item, i64::MAX)).map(|(_, v)| v)
    }

    /// Where a revision came from: its candidate, whether and how far an expert edited it,
    /// and the original's source and origin.
    fn side(&self, rev: &Revision) -> Value {
        let original = self
            .originals
            .get(&(rev.item, rev.number))
            .and_then(|id| self.revisions.get(id))
            .unwrap_or(rev);
        let edited = original.id != rev.id;
        json!({
            "candidate": rev.number,
            "revision": rev.id,
            "parent": rev.parent,
            "edited": edited,
            "edit_distance": if edited { edit_distance(&original.text, &rev.text) } else { 0 },
            "source": original.source,
            "origin": original.origin,
        })
    }
}

/// The prompt of `item` as chat messages: its context (system message, earlier turns), then
/// the item's text as the user turn.
fn prompt_messages(store: &Store, item: i64, text: &str) -> Result<Vec<Value>, ExportError> {
    let mut messages = match store.item_context(item)? {
        Some(Value::Array(m)) => m,
        _ => Vec::new(),
    };
    messages.push(json!({"role": "user", "content": text}));
    Ok(messages)
}

/// Write the experts' judgements of candidate responses as `format` (chat-jsonl: one row per
/// item with its accepted response; dpo-jsonl: preference pairs) to `out` ("-" for stdout),
/// atomically, as [`export`] writes. Items of the split not chosen are left out (by default
/// the eval split: it is never trained on); items not split yet count as train.
pub fn export_responses(
    store: &mut Store,
    cfg: &Config,
    format: ExportFormat,
    split: SplitChoice,
    out: &Path,
    opts: WriteOptions,
) -> Result<ResponsesExportReport, ExportError> {
    let pairs = match format {
        ExportFormat::ChatJsonl => false,
        ExportFormat::DpoJsonl => true,
        _ => {
            return Err(ExportError::Invalid(format!(
                "responses export as chat-jsonl or dpo-jsonl, not {}",
                format.name()
            )))
        }
    };
    write_responses(store, cfg, pairs, format, split, out, opts)
}

/// The responses rows of `split` (chat rows, or preference pairs when `pairs`) to `out` as
/// JSON lines or Parquet (`format`).
fn write_responses(
    store: &mut Store,
    cfg: &Config,
    pairs: bool,
    format: ExportFormat,
    split: SplitChoice,
    out: &Path,
    opts: WriteOptions,
) -> Result<ResponsesExportReport, ExportError> {
    let io = |source| ExportError::Io { path: out.to_path_buf(), source };
    if format == ExportFormat::Parquet && out == Path::new("-") {
        return Err(ExportError::Invalid(BINARY_STDOUT.into()));
    }
    crate::files::check_output(out, opts.force).map_err(io)?;
    let (rows, mut rep) = response_rows(store, cfg, pairs, split)?;
    rep.file = out.display().to_string();
    rep.format = format.name().into();
    let buf = if format == ExportFormat::Parquet {
        super::parquet::write(&rows, response_columns(pairs)).map_err(io)?.bytes
    } else {
        let mut buf: Vec<u8> = Vec::new();
        for r in &rows {
            serde_json::to_writer(&mut buf, r).map_err(|e| io(e.into()))?;
            buf.push(b'\n');
        }
        buf
    };
    crate::files::write_output(out, &buf, opts.force).map_err(io)?;
    Ok(rep)
}

/// The responses rows of `split`: each judged item's accepted response as chat messages, or
/// (`pairs`) its preference pairs; with the report of what was left out (`file` and `format`
/// left for the caller).
pub(crate) fn response_rows(
    store: &mut Store,
    cfg: &Config,
    preference_pairs: bool,
    split: SplitChoice,
) -> Result<(Vec<Value>, ResponsesExportReport), ExportError> {
    crate::curate::split::assign_splits(store, cfg)?;
    let splits = store.splits()?;
    let leak = crate::curate::split::leakage(store, cfg)?;
    let judged = Judged::read(store)?;
    let mut rep =
        ResponsesExportReport { pairs: preference_pairs, ..ResponsesExportReport::default() };
    let mut written: BTreeSet<i64> = BTreeSet::new();
    let mut all: Vec<Value> = Vec::new();
    for key in store.items_with_responses()? {
        let decided = judged.item_verdicts(key).next().is_some();
        let compared = judged
            .pairs
            .range((key, (i64::MIN, i64::MIN))..=(key, (i64::MAX, i64::MAX)))
            .next()
            .is_some();
        let judged_here = if preference_pairs { decided || compared } else { decided };
        if !judged_here {
            rep.unreviewed += 1;
            continue;
        }
        let s = splits.get(&key).copied().unwrap_or(Split::Train);
        let wanted = match split {
            SplitChoice::Train => s == Split::Train,
            SplitChoice::Eval => s == Split::Eval,
            SplitChoice::All => true,
        };
        if !wanted {
            if s == Split::Eval {
                rep.eval += 1;
            }
            continue;
        }
        let Some(item) = store.item(key)? else { continue };
        if leak.train_keys.contains(&key) {
            rep.leaked.push(item.id);
            continue;
        }
        let split_name = splits.get(&key).map(|s| s.as_str());
        let mut rows: Vec<Value> = Vec::new();
        let prompt = prompt_messages(store, key, &item.text)?;
        rep.disputed_candidates +=
            judged.item_verdicts(key).filter(|v| v.status == CandidateStatus::Disputed).count();
        match preference_pairs {
            true => {
                let pairs =
                    judged.pairs.range((key, (i64::MIN, i64::MIN))..=(key, (i64::MAX, i64::MAX)));
                let mut covered: BTreeSet<(i64, i64)> = BTreeSet::new();
                for (_, p) in pairs {
                    covered.insert(p.pair);
                    let (better, worse) = match p.status {
                        PairStatus::Disputed => {
                            rep.disputed_pairs += 1;
                            continue;
                        }
                        PairStatus::Agreed(Outcome::Tie) => {
                            rep.ties += 1;
                            continue;
                        }
                        PairStatus::Agreed(Outcome::BothBad) => {
                            rep.both_bad += 1;
                            continue;
                        }
                        PairStatus::Agreed(Outcome::Lo) => (p.revisions.0, p.revisions.1),
                        PairStatus::Agreed(Outcome::Hi) => (p.revisions.1, p.revisions.0),
                    };
                    let (Some(c), Some(r)) =
                        (judged.revisions.get(&better), judged.revisions.get(&worse))
                    else {
                        continue;
                    };
                    rep.from_preferences += 1;
                    rows.push(dpo_row(
                        &judged,
                        &item.id,
                        prompt.clone(),
                        c,
                        r,
                        json!({
                            "from": "preference",
                            "annotators": p.annotators,
                            "at": p.at,
                            "split": split_name,
                        }),
                    ));
                }
                let accepted: Vec<&CandidateVerdict> = judged
                    .item_verdicts(key)
                    .filter(|v| v.status == CandidateStatus::Accepted)
                    .collect();
                let rejected: Vec<&CandidateVerdict> = judged
                    .item_verdicts(key)
                    .filter(|v| v.status == CandidateStatus::Rejected)
                    .collect();
                for a in &accepted {
                    for r in &rejected {
                        let pair = (a.number.min(r.number), a.number.max(r.number));
                        if covered.contains(&pair) {
                            continue;
                        }
                        let (Some(c), Some(w)) =
                            (judged.revisions.get(&a.revision), judged.revisions.get(&r.revision))
                        else {
                            continue;
                        };
                        let mut who: Vec<String> =
                            a.annotators.iter().chain(&r.annotators).cloned().collect();
                        who.sort();
                        who.dedup();
                        rep.from_decisions += 1;
                        rows.push(dpo_row(
                            &judged,
                            &item.id,
                            prompt.clone(),
                            c,
                            w,
                            json!({
                                "from": "accept-reject",
                                "annotators": who,
                                "at": a.at.clone().max(r.at.clone()),
                                "split": split_name,
                            }),
                        ));
                    }
                }
            }
            false => match judged.accepted(key) {
                Some((v, rev)) => {
                    let mut provenance = judged.side(rev);
                    provenance["content"] = "responses".into();
                    provenance["annotators"] = json!(v.annotators);
                    provenance["accepted_at"] = v.at.clone().into();
                    provenance["split"] = json!(split_name);
                    if provenance["edited"] == true {
                        rep.edited += 1;
                    }
                    let mut messages = prompt;
                    messages.push(json!({"role": "assistant", "content": rev.text}));
                    rows.push(
                        json!({"messages": messages, "id": item.id, "provenance": provenance}),
                    );
                }
                None => {
                    if judged.item_verdicts(key).any(|v| v.status == CandidateStatus::Disputed) {
                        rep.disputed_items += 1;
                    } else {
                        rep.rejected_only += 1;
                    }
                }
            },
        }
        if !rows.is_empty() {
            written.insert(key);
        }
        rep.rows += rows.len();
        all.append(&mut rows);
    }
    rep.items = written.len();
    Ok((all, rep))
}

/// One preference row in TRL's conversational format, with where each side came from.
fn dpo_row(
    judged: &Judged,
    id: &str,
    prompt: Vec<Value>,
    chosen: &Revision,
    rejected: &Revision,
    mut provenance: Value,
) -> Value {
    provenance["content"] = "responses".into();
    provenance["chosen"] = judged.side(chosen);
    provenance["rejected"] = judged.side(rejected);
    json!({
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": chosen.text}],
        "rejected": [{"role": "assistant", "content": rejected.text}],
        "id": id,
        "provenance": provenance,
    })
}

/// What `hifi export --selection` wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SelectionExportReport {
    pub file: String,
    pub selection: i64,
    pub kind: String,
    pub rows: usize,
    /// Entries experts vetoed, left out.
    pub vetoed: usize,
    /// Entries whose item is in the eval split, left out (eval is never trained on).
    pub eval: usize,
    /// Rows written with the response an expert accepted for the item instead of the built one.
    pub expert_choice: usize,
    /// The provenance file written beside the set (none for stdout).
    pub provenance: Option<String>,
}

/// Write set `sel` (less vetoed entries and eval items) to `out`, every row carrying where it
/// came from (set, kind, rank, score, reasons), and `OUT.provenance.json` beside it with the
/// parameters and report of the build. Both files are written atomically.
pub fn export_selection(
    store: &mut Store,
    sel: &Selection,
    format: ExportFormat,
    out: &Path,
    opts: WriteOptions,
) -> Result<SelectionExportReport, ExportError> {
    let io = |source| ExportError::Io { path: out.to_path_buf(), source };
    // Both files are checked before either is written.
    let side = (out != Path::new("-")).then(|| {
        let mut name = out.as_os_str().to_owned();
        name.push(".provenance.json");
        PathBuf::from(name)
    });
    crate::files::check_output(out, opts.force).map_err(io)?;
    if let Some(side) = &side {
        crate::files::check_output(side, opts.force)
            .map_err(|source| ExportError::Io { path: side.clone(), source })?;
    }
    match format {
        ExportFormat::DpoJsonl => return Err(ExportError::Invalid(
            "a set exports as jsonl, csv or chat-jsonl; preference pairs come from `hifi export --format dpo-jsonl` (without --selection)".into(),
        )),
        ExportFormat::Parquet | ExportFormat::HfDataset => return Err(ExportError::Invalid(format!(
            "a set exports as jsonl, csv or chat-jsonl, not {}", format.name()
        ))),
        _ => {}
    }
    let entries = store.selection_entries(sel.id)?;
    let splits = store.splits()?;
    let judged = Judged::read(store)?;
    let expert = |item: i64| judged.accepted(item);
    if format == ExportFormat::ChatJsonl
        && entries.iter().any(|e| e.response.is_none() && expert(e.item).is_none())
    {
        return Err(ExportError::Invalid(format!(
            "set {} ({}) holds documents without responses; export it as jsonl or csv",
            sel.id,
            sel.kind.as_str()
        )));
    }
    let mut buf: Vec<u8> = Vec::new();
    let mut csv_w = (format == ExportFormat::Csv).then(|| csv::Writer::from_writer(Vec::new()));
    if let Some(w) = csv_w.as_mut() {
        w.write_record([
            "id",
            "text",
            "response",
            "score",
            "rank",
            "selection",
            "kind",
            "reasons",
            "expert_revision",
        ])
        .map_err(|e| io(e.into()))?;
    }
    // The system message replies were sampled with (LIMO and self-training record it), so a
    // chat export trains on the conversation the replies answered.
    let system = sel
        .params
        .get("system")
        .or_else(|| sel.params.get("params").and_then(|p| p.get("system")))
        .and_then(|v| v.as_str());
    let (mut rows, mut vetoed, mut eval, mut expert_choice) = (0, 0, 0, 0);
    for e in &entries {
        if e.vetoed {
            vetoed += 1;
            continue;
        }
        if splits.get(&e.item) == Some(&Split::Eval) {
            eval += 1;
            continue;
        }
        let mut provenance = serde_json::json!({"selection": sel.id, "kind": sel.kind.as_str(), "rank": e.rank, "built_at": sel.created_at});
        // Where an expert accepted a response for the item, the row trains on that one.
        let choice = expert(e.item);
        let response: Option<&str> = match choice {
            Some((v, rev)) => {
                expert_choice += 1;
                let p = judged.side(rev);
                provenance["expert_choice"] = true.into();
                for k in ["candidate", "revision", "edited", "edit_distance", "source"] {
                    provenance[k] = p[k].clone();
                }
                provenance["annotators"] = json!(v.annotators);
                Some(rev.text.as_str())
            }
            None => e.response.as_deref(),
        };
        match format {
            ExportFormat::Jsonl => {
                let mut rec = serde_json::json!({"id": e.item_id, "text": e.text, "score": e.score, "reasons": e.reasons, "provenance": provenance});
                if let Some(r) = response {
                    rec["response"] = r.into();
                }
                if let Some(m) = &e.meta {
                    rec["meta"] = m.clone();
                }
                serde_json::to_writer(&mut buf, &rec).map_err(|e| io(e.into()))?;
                buf.push(b'\n');
            }
            ExportFormat::ChatJsonl => {
                let mut messages = Vec::with_capacity(3);
                if let Some(sys) = system {
                    messages.push(serde_json::json!({"role": "system", "content": sys}));
                }
                messages.push(serde_json::json!({"role": "user", "content": e.text}));
                messages.push(serde_json::json!({"role": "assistant", "content": response.unwrap_or_default()}));
                let rec = serde_json::json!({"messages": messages, "id": e.item_id, "provenance": provenance});
                serde_json::to_writer(&mut buf, &rec).map_err(|e| io(e.into()))?;
                buf.push(b'\n');
            }
            ExportFormat::DpoJsonl | ExportFormat::Parquet | ExportFormat::HfDataset => {}
            ExportFormat::Csv => {
                if let Some(w) = csv_w.as_mut() {
                    let score = e.score.map(|s| format!("{s:.6}")).unwrap_or_default();
                    let (rank, id, reasons) =
                        (e.rank.to_string(), sel.id.to_string(), e.reasons.to_string());
                    let revision = choice.map(|(_, r)| r.id.to_string()).unwrap_or_default();
                    w.write_record(
                        [
                            opts.cell(&e.item_id),
                            opts.cell(&e.text),
                            opts.cell(response.unwrap_or("")),
                            score.as_str().into(),
                            rank.as_str().into(),
                            id.as_str().into(),
                            sel.kind.as_str().into(),
                            opts.cell(&reasons),
                            revision.as_str().into(),
                        ]
                        .iter()
                        .map(|c| c.as_bytes()),
                    )
                    .map_err(|e| io(e.into()))?;
                }
            }
        }
        rows += 1;
    }
    if let Some(w) = csv_w {
        buf = w.into_inner().map_err(|e| io(std::io::Error::other(e.to_string())))?;
    }
    crate::files::write_output(out, &buf, opts.force).map_err(io)?;
    let provenance = if let Some(side) = side {
        let doc = serde_json::json!({
            "selection": sel,
            "exported_at": crate::store::now(),
            "file": out.display().to_string(),
            "rows": rows,
            "left_out": {"vetoed": vetoed, "eval_split": eval},
            "expert_choice": expert_choice,
            "hifi": env!("CARGO_PKG_VERSION"),
        });
        let bytes = serde_json::to_vec_pretty(&doc).map_err(|e| io(e.into()))?;
        crate::files::write_output(&side, &bytes, opts.force)
            .map_err(|source| ExportError::Io { path: side.clone(), source })?;
        Some(side.display().to_string())
    } else {
        None
    };
    Ok(SelectionExportReport {
        file: out.display().to_string(),
        selection: sel.id,
        kind: sel.kind.as_str().into(),
        rows,
        vetoed,
        eval,
        expert_choice,
        provenance,
    })
}
