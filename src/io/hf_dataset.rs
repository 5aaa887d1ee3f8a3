//! Hugging Face dataset folders: `data/train-00000-of-00001.parquet` (what the train export
//! writes), `data/test-00000-of-00001.parquet` (the eval split) and `README.md`, a dataset card
//! whose YAML front matter tells `datasets` the splits, their files and features, and whose body
//! says where the rows came from: the model, the rounds and their κ, the annotators, how items
//! were chosen, the labels and their definitions. `datasets.load_dataset(DIR)` loads the
//! folder as it is.
//!
//! A split without rows is left out (files, configs and splits alike): `datasets` refuses to
//! load an empty split. With no rows at all nothing is written.
//!
//! The folder is written whole or not at all ([`crate::files::write_folder`]). An existing
//! folder is replaced only with `force`, and only when it holds nothing but what hifi writes
//! here (README.md and data/*.parquet): never a project, a clone with history, or anything else.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io;
use std::path::Path;

use serde_json::Value;

use super::parquet::{self, Kind};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::store::{Split, Store};

/// The train split's file, as `datasets` names shards.
pub const TRAIN_FILE: &str = "data/train-00000-of-00001.parquet";
/// The eval split's file (`datasets` calls it test).
pub const TEST_FILE: &str = "data/test-00000-of-00001.parquet";
/// The dataset card.
pub const CARD_FILE: &str = "README.md";

/// What goes into a dataset folder.
pub struct Dataset<'a> {
    /// `labels`, `responses` (accepted responses as chat messages) or `preferences` (pairs).
    pub content: &'a str,
    pub columns: &'a [(&'a str, Kind)],
    /// The rows of the train split (what `hifi export --split train` writes) and of the eval
    /// split.
    pub train: &'a [Value],
    pub test: &'a [Value],
    /// What was left out and why, one clause each.
    pub left_out: Vec<String>,
}

/// What was written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Written {
    pub dir: String,
    pub files: Vec<String>,
    pub train: usize,
    pub test: usize,
    /// Bytes of the two Parquet files.
    pub download_size: u64,
}

fn refused(dir: &Path, why: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!(
            "hifi never writes a dataset folder over {}: {why} (choose another folder)",
            crate::text::inert(&dir.display().to_string(), false)
        ),
    )
}

/// Whether `dir` holds only what a dataset folder written here holds: README.md and a data/
/// folder of *.parquet files (no links, nothing else).
fn is_dataset_folder(dir: &Path) -> io::Result<bool> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let t = e.file_type()?;
        let name = e.file_name();
        let ok = match name.to_str() {
            Some(CARD_FILE) => t.is_file(),
            Some("data") if t.is_dir() => {
                let mut ok = true;
                for f in std::fs::read_dir(e.path())? {
                    let f = f?;
                    let n = f.file_name();
                    ok &= f.file_type()?.is_file()
                        && Path::new(&n).extension().is_some_and(|x| x == parquet::EXTENSION);
                }
                ok
            }
            _ => false,
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Check that a dataset folder may be written at `dir`: never a project's own file or folder,
/// never over a file; an existing folder only with `force`, and only a dataset folder.
pub fn check_target(dir: &Path, force: bool) -> io::Result<()> {
    if dir == Path::new("-") {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "hf-dataset writes a folder: name it with -o DIR",
        ));
    }
    if let Some(why) = crate::files::protected(dir) {
        return Err(refused(dir, why));
    }
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(m) if !m.is_dir() => Err(refused(dir, "it is not a folder")),
        Ok(_) if !force => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "already exists; pass --force to replace it",
        )),
        Ok(_) if is_dataset_folder(dir)? => Ok(()),
        Ok(_) => Err(refused(
            dir,
            "it holds files hifi did not write (only a folder of README.md and data/*.parquet is replaced)",
        )),
    }
}

/// Write `ds` as a dataset folder at `dir` (see the module docs).
pub fn write(
    store: &Store,
    cfg: &Config,
    ds: &Dataset,
    dir: &Path,
    force: bool,
) -> Result<Written> {
    let io = |e| Error::io(dir, e);
    check_target(dir, force).map_err(io)?;
    if ds.train.is_empty() && ds.test.is_empty() {
        return Err(Error::Input(format!(
            "no rows to write into {}: {} first",
            crate::text::inert(&dir.display().to_string(), false),
            if ds.content == "labels" { "label items" } else { "judge candidate responses" }
        )));
    }
    let mut splits = Vec::new();
    for (name, file, rows) in [("train", TRAIN_FILE, ds.train), ("test", TEST_FILE, ds.test)] {
        if !rows.is_empty() {
            splits.push(Part {
                name,
                file,
                written: parquet::write(rows, ds.columns).map_err(io)?,
            });
        }
    }
    let card = card(store, cfg, ds, &splits)?;
    let mut files: Vec<(&str, &[u8])> =
        splits.iter().map(|p| (p.file, p.written.bytes.as_slice())).collect();
    files.push((CARD_FILE, card.as_bytes()));
    crate::files::write_folder(dir, &files, force).map_err(io)?;
    Ok(Written {
        dir: dir.display().to_string(),
        files: files.iter().map(|(f, _)| f.to_string()).collect(),
        train: ds.train.len(),
        test: ds.test.len(),
        download_size: splits.iter().map(|p| p.written.bytes.len() as u64).sum(),
    })
}

/// One split's file.
struct Part {
    name: &'static str,
    file: &'static str,
    written: parquet::Written,
}

/// User text as one line of Markdown: control characters and line breaks become spaces, and
/// what Markdown or HTML would read as markup is escaped.
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The `dataset_info.features` YAML of `columns`.
fn features(columns: &[(&str, Kind)]) -> String {
    let mut y = String::new();
    for (name, kind) in columns {
        match kind {
            Kind::Text => {
                let _ = write!(y, "  - name: {name}\n    dtype: string\n");
            }
            Kind::TextList => {
                let _ = write!(y, "  - name: {name}\n    list: string\n");
            }
            Kind::Messages => {
                let _ = write!(
                    y,
                    "  - name: {name}\n    list:\n    - name: role\n      dtype: string\n    - name: content\n      dtype: string\n"
                );
            }
        }
    }
    y
}

/// `n` with the noun in the singular or plural.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The item keys of rows (by their `id`), skipping ids the store does not hold.
fn keys(store: &Store, rows: &[Value]) -> Result<Vec<i64>> {
    let mut out = Vec::with_capacity(rows.len());
    let mut seen = BTreeSet::new();
    for r in rows {
        if let Some(id) = r.get("id").and_then(Value::as_str) {
            if seen.insert(id.to_string()) {
                if let Some(item) = store.item_by_id(id)? {
                    out.push(item.key);
                }
            }
        }
    }
    Ok(out)
}

/// The dataset card: YAML front matter for `datasets`, then the provenance.
fn card(store: &Store, cfg: &Config, ds: &Dataset, splits: &[Part]) -> Result<String> {
    let mut c = String::new();
    // Front matter: only names and numbers hifi makes (no user text).
    c.push_str("---\nconfigs:\n- config_name: default\n  data_files:\n");
    for p in splits {
        let _ = write!(c, "  - split: {}\n    path: {}\n", p.name, p.file);
    }
    c.push_str("dataset_info:\n  features:\n");
    c.push_str(&features(ds.columns));
    c.push_str("  splits:\n");
    for p in splits {
        let w = &p.written;
        let _ = write!(
            c,
            "  - name: {}\n    num_bytes: {}\n    num_examples: {}\n",
            p.name, w.data_bytes, w.rows
        );
    }
    let _ = write!(
        c,
        "  download_size: {}\n  dataset_size: {}\n---\n\n",
        splits.iter().map(|p| p.written.bytes.len()).sum::<usize>(),
        splits.iter().map(|p| p.written.data_bytes).sum::<u64>()
    );

    let title = if cfg.task.trim().is_empty() { "hifi dataset".into() } else { md(&cfg.task) };
    let _ = writeln!(c, "# {title}\n");
    let what = match ds.content {
        "labels" if cfg.multi_label => "expert labels of a multi-label task: `id`, `text`, `label` (the list of labels that apply; empty when none does), `split`, and `meta` (the item's other imported fields as JSON text)",
        "labels" => "expert labels: `id`, `text`, `label`, `split`, and `meta` (the item's other imported fields as JSON text)",
        "preferences" => "preference pairs of responses (TRL's conversational preference format): `prompt`, `chosen` and `rejected` as lists of {role, content}, `id`, and `provenance` (JSON text)",
        _ => "each item's accepted response as chat messages (TRL's conversational format): `messages` as a list of {role, content}, `id`, and `provenance` (JSON text)",
    };
    let _ = writeln!(
        c,
        "Written by hifi {} on {}. Rows: {what}.\n",
        env!("CARGO_PKG_VERSION"),
        crate::store::now()
    );
    let _ = writeln!(c, "## Splits\n");
    let _ = writeln!(
        c,
        "- `train`: {} — what `hifi export --split train` writes.",
        count(ds.train.len(), "row", "rows")
    );
    let _ = writeln!(
        c,
        "- `test`: {} — the eval split: items held out from every round's training and never exported as train.",
        count(ds.test.len(), "row", "rows")
    );
    if splits.len() < 2 {
        let _ = writeln!(
            c,
            "- A split without rows has no file here: `datasets` cannot load an empty split."
        );
    }
    if !ds.left_out.is_empty() {
        let _ = writeln!(c, "- Left out: {}.", ds.left_out.join("; "));
    }
    c.push('\n');

    // Labels with their definitions, and how many rows of each split carry each.
    let _ = writeln!(c, "## Labels\n");
    let per = |rows: &[Value], l: &str| {
        rows.iter()
            .filter(|r| match r.get("label") {
                Some(Value::Array(set)) => set.iter().any(|x| x.as_str() == Some(l)),
                Some(v) => v.as_str() == Some(l),
                None => false,
            })
            .count()
    };
    for l in &cfg.labels {
        let counts = if ds.content == "labels" {
            format!(" ({} train, {} test)", per(ds.train, &l.name), per(ds.test, &l.name))
        } else {
            String::new()
        };
        let def = if l.definition.trim().is_empty() {
            "(no definition)".into()
        } else {
            md(&l.definition)
        };
        let _ = writeln!(c, "- **{}**{counts}: {def}", md(&l.name));
    }
    // Only once the label set changed: which version these are, and what became of labels
    // given under earlier ones.
    let sets = store.label_sets()?;
    if let Some(v) = sets.last().filter(|_| sets.len() > 1) {
        let _ = writeln!(
            c,
            "\nThese are label set v{} ({} since v1). Labels given under earlier versions are exported under today's names (renamed and merged labels mapped); labels given under a retired name are left out.",
            v.version,
            count(sets.len() - 1, "change", "changes")
        );
    }
    c.push('\n');

    // The model.
    let _ = writeln!(c, "## Model\n");
    match store.latest_model_of_kind("llm")? {
        Some(m) => {
            let path = m.model_path.as_deref().map_or("(not recorded)".into(), md);
            let sha = m.model_sha256.as_deref().map_or("(not recorded)".into(), md);
            let _ = writeln!(
                c,
                "- LLM that scored the pool (newest predictions): {path}, sha256 {sha}"
            );
            if let Some(a) = &m.adapter_path {
                let sha = m.adapter_sha256.as_deref().map_or("(not recorded)".into(), md);
                let _ = writeln!(c, "- LoRA adapter: {}, sha256 {sha}", md(a));
            }
            if let Some(n) = m.few_shot {
                let _ = writeln!(c, "- Expert examples in the prompt: {n}");
            }
        }
        None => {
            let _ = writeln!(c, "- No model has scored this project's items.");
        }
    }
    c.push('\n');

    // Rounds and agreement, as `hifi report` computes them.
    let labels = cfg.label_names();
    let rep = crate::rounds::report(store, cfg)?;
    let _ = writeln!(c, "## Rounds and agreement\n");
    if rep.rounds.is_empty() {
        let _ = writeln!(
            c,
            "No rounds yet (`hifi round` trains a round model and scores it on the eval split).\n"
        );
    } else {
        let _ = writeln!(c, "Each κ is given with its 95% bootstrap interval and n, the items it was computed on. Model vs expert: Cohen's κ of the round model against the resolved expert labels on the boundary eval items; expert vs expert: Light's κ over items two or more experts labeled.\n");
        let _ = writeln!(
            c,
            "| round | trainer | finished | eval items | model vs expert κ | expert vs expert κ |"
        );
        let _ = writeln!(c, "|---|---|---|---|---|---|");
        for r in &rep.rounds {
            let trainer = md(r.trainer.as_deref().unwrap_or("?"));
            let finished = r.finished_at.as_deref().unwrap_or("interrupted");
            match &r.scores {
                Some(s) => {
                    // A κ from another label set is labeled as such (never compared as same-set).
                    let other = match (r.current_label_set, r.label_set) {
                        (true, _) => String::new(),
                        (false, Some(v)) => format!(" (label set v{v})"),
                        (false, None) => " (an earlier label set)".into(),
                    };
                    let _ = writeln!(
                        c,
                        "| {} | {trainer} | {finished} | {} | {}{other} | {}{other} |",
                        r.round,
                        s.eval_size,
                        s.model_vs_expert.show(),
                        s.expert_vs_expert.show()
                    );
                }
                None => {
                    let _ = writeln!(c, "| {} | {trainer} | {finished} | – | – | – |", r.round);
                }
            }
        }
        c.push('\n');
        let _ = writeln!(c, "Stop rule: {}\n", md(&rep.verdict.message));
    }
    let experts = crate::rounds::project_expert_agreement(store, &labels, 0)?;
    let _ = writeln!(
        c,
        "Expert vs expert over the whole project now (Light's κ, 95% interval): {}\n",
        experts.show()
    );
    let events = store.response_events(None)?;
    if !events.is_empty() {
        let r = crate::responses::report::report(&store.all_revisions()?, &events, 0);
        let _ = writeln!(c, "Responses, as `hifi report` gives them:\n\n```");
        for l in crate::responses::report::lines(&r) {
            let _ = writeln!(c, "{}", l.replace('`', "'"));
        }
        let _ = writeln!(c, "```\n");
    }

    // Annotators.
    let _ = writeln!(c, "## Annotators\n");
    let mut by: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    for (_, who, _, seen) in store.current_labels_seen()? {
        let e = by.entry(who).or_default();
        e.0 += 1;
        e.1 += usize::from(seen == Some(false));
    }
    for e in &events {
        by.entry(e.annotator.clone()).or_default().2 += 1;
    }
    if by.is_empty() {
        let _ = writeln!(c, "- None yet.");
    }
    for (who, (n, blind, judged)) in &by {
        let mut parts =
            vec![format!("{} in force ({blind} given blind)", count(*n, "label", "labels"))];
        if *judged > 0 {
            parts.push(count(*judged, "response judgement", "response judgements"));
        }
        let _ = writeln!(c, "- {}: {}", md(who), parts.join(", "));
    }
    c.push('\n');

    // How the items were chosen.
    let _ = writeln!(c, "## How the items were chosen\n");
    let strategies = store.item_strategies()?;
    let strata = store.split_strata()?;
    for (name, rows) in [("train", ds.train), ("test", ds.test)] {
        let mut tally: BTreeMap<String, usize> = BTreeMap::new();
        for k in keys(store, rows)? {
            let how = match (strategies.get(&k), strata.get(&k)) {
                (_, Some((Split::Eval, true))) | (Some((_, true)), _) => {
                    "audit stratum (uniform random draw)".to_string()
                }
                (Some((s, false)), _) => format!("mined: {}", md(s)),
                (None, _) => "not from the review queue".to_string(),
            };
            *tally.entry(how).or_default() += 1;
        }
        let list: Vec<String> = tally.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(
            c,
            "- `{name}` items: {}",
            if list.is_empty() { "none".into() } else { list.join(", ") }
        );
    }
    let history = store.queue_history()?;
    if !history.is_empty() {
        let list: Vec<String> = history
            .iter()
            .map(|(s, audit, n, _)| {
                format!(
                    "{} ({} stratum) {}",
                    md(s),
                    if *audit { "audit" } else { "boundary" },
                    count(*n as usize, "entry", "entries")
                )
            })
            .collect();
        let _ = writeln!(c, "- The review queue over every mining run: {}", list.join(", "));
    }
    let _ = writeln!(
        c,
        "\nThe strategy of an item is the one of the newest queue entry that named it; the audit stratum is labeled blind and always eval."
    );
    Ok(c)
}
