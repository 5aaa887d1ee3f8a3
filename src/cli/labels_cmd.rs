//! `hifi labels import` and `hifi labels export`: expert labels in from other tools, every
//! annotation event out for audit; `hifi labels add|rename|merge|retire|history`: the label
//! set's versions.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Args, Subcommand};

use hifi::io::export::SplitChoice;
use hifi::io::labels::{
    export_events, import_labels, EventExportOptions, EventFormat, LabelFormat, LabelImportOptions,
    LabelsError,
};
use hifi::store::{LabelChange, LabelSetVersion};
use hifi::text::inert;

const IMPORT_EXAMPLES: &str = "\
Examples:
  # a spreadsheet with columns ad_id, verdict and (optionally) note
  hifi labels import reviewed.csv --annotator ana --id ad_id --label verdict

  # Prodigy: prodigy db-out clickbait_ads > ads.jsonl
  #   binary tasks: {\"text\", \"label\": \"CLICKBAIT\", \"answer\": \"accept\"|\"reject\"|\"ignore\"}
  #   choice tasks: {\"text\", \"options\": [...], \"accept\": [\"clickbait\"], \"answer\": \"accept\"}
  hifi labels import ads.jsonl --annotator ana --format prodigy

  # Label Studio: Export → JSON (an array of tasks; `choices` answers, `textarea` as note)
  hifi labels import project-3-at-2024-05-01.json --annotator bob --id ad_id

  # Argilla v2: one JSON line per record of dataset.records.to_list(flatten=False);
  # the answers to the question `verdict` are taken
  hifi labels import records.jsonl --annotator cy --label verdict
  # Argilla 1.x: rg.load(name).to_pandas().to_json(\"records.jsonl\", orient=\"records\", lines=True)
  hifi labels import records.jsonl --annotator cy

  # keep the good lines of a file with problems, list the rest
  hifi labels import old.csv --annotator ana --skip-invalid

Items are found by id (--id, else the format's usual id fields) or else by exact text.
Labels must be the project's (hifi.toml); case is ignored when that is unambiguous.";

const EXPORT_EXAMPLES: &str = "\
Examples:
  hifi labels export -o audit.jsonl
  hifi labels export --format csv --annotator ana --split eval -o ana-eval.csv
  hifi labels export -o - | jq 'select(.kind == \"undo\")'
  hifi labels export -o - | jq 'select(.target == \"response\" and .current)'";

const CHANGE_EXAMPLES: &str = "\
Examples:
  hifi labels add refund-bait --definition \"Promises money back to lure a click.\"
  hifi labels rename benign plain
  hifi labels merge teaser lure --into clickbait      (clickbait may be new or one of them)
  hifi labels retire other                            (its items are queued for review again)
  hifi labels history

Each change is a new label-set version, recorded in the store and written into hifi.toml
(atomically; comments kept). Annotations keep the name they were given; the label in force
reads through the changes, so exports and `hifi find` use the new names. Predictions made
under an earlier set are stale until `hifi prelabel` rescores them.";

/// `hifi labels …`
#[derive(Debug, Subcommand)]
pub enum LabelsCommand {
    /// Import expert labels made elsewhere: CSV/JSONL, Prodigy, Label Studio, Argilla.
    ///
    /// Each label becomes an ordinary label event of --annotator, written in one transaction.
    /// Unknown items, unknown labels and items labeled twice with different labels are
    /// reported with file, line and field, and then nothing is imported, unless
    /// --skip-invalid is given: then the lines with problems are left out and listed.
    /// Prodigy `ignore` answers, cancelled Label Studio annotations, unanswered Argilla
    /// records and empty labels are counted as not labeled, not as errors.
    #[command(after_help = IMPORT_EXAMPLES)]
    Import(LabelsImportArgs),
    /// Export every annotation event (label, undo, skip, flag, resolve) for audit, and every
    /// judgement of a candidate response.
    ///
    /// One record per event: event id, item id, annotator, kind, label, note, time, the
    /// item's split, the round, the event an undo supersedes, whether it is still in force,
    /// and the model's prediction for the item when the event was recorded.
    ///
    /// Judgements of responses (kind accept, reject, edit, prefer, score, undo) are merged in
    /// by time with "target": "response" (label events have no target; response events are
    /// numbered apart): the candidate and revision judged, the revision it edits (parent), a
    /// preference's other candidate and revision and its verdict, the score, the reason, what
    /// was on screen (shown), supersedes and current. In CSV these columns follow the label
    /// columns when any response event is written.
    #[command(after_help = EXPORT_EXAMPLES)]
    Export(LabelsExportArgs),
    /// Add a label to the set (a new label-set version; hifi.toml is updated).
    #[command(after_help = CHANGE_EXAMPLES)]
    Add(LabelsAddArgs),
    /// Rename a label: labels given under the old name read the new one from now on.
    #[command(after_help = CHANGE_EXAMPLES)]
    Rename(LabelsRenameArgs),
    /// Merge labels into one (one of them, or a new name): labels given as any of them read
    /// the merged name from now on.
    #[command(after_help = CHANGE_EXAMPLES)]
    Merge(LabelsMergeArgs),
    /// Retire a label: labels given with it are no longer in force, and its items are queued
    /// at the front of the review queue to be labeled again.
    #[command(after_help = CHANGE_EXAMPLES)]
    Retire(LabelsRetireArgs),
    /// Every label-set version: number, time, who, what changed, and the set after it.
    #[command(after_help = CHANGE_EXAMPLES)]
    History(LabelsHistoryArgs),
}

/// Who makes a label-set change.
#[derive(Debug, Args)]
pub struct ChangedBy {
    /// Who makes the change (default: $HIFI_ANNOTATOR, else $USER).
    #[arg(long, env = "HIFI_ANNOTATOR", value_name = "NAME")]
    pub annotator: Option<String>,
}

/// Flags of `hifi labels add`.
#[derive(Debug, Args)]
pub struct LabelsAddArgs {
    /// The new label's name.
    pub name: String,
    /// What the label means, one paragraph: the model is prompted with it.
    #[arg(long, value_name = "TEXT")]
    pub definition: String,
    #[command(flatten)]
    pub by: ChangedBy,
}

/// Flags of `hifi labels rename`.
#[derive(Debug, Args)]
pub struct LabelsRenameArgs {
    /// The label's name now.
    pub old: String,
    /// Its new name (not one of the labels).
    pub new: String,
    /// A new definition (default: the label keeps its own).
    #[arg(long, value_name = "TEXT")]
    pub definition: Option<String>,
    #[command(flatten)]
    pub by: ChangedBy,
}

/// Flags of `hifi labels merge`.
#[derive(Debug, Args)]
pub struct LabelsMergeArgs {
    /// The labels to merge.
    #[arg(required = true, value_name = "LABEL")]
    pub labels: Vec<String>,
    /// The label they become: one of them, another label, or a new name.
    #[arg(long, value_name = "LABEL")]
    pub into: String,
    /// The merged label's definition (default: its own, or for a new name the merged
    /// labels' definitions joined).
    #[arg(long, value_name = "TEXT")]
    pub definition: Option<String>,
    #[command(flatten)]
    pub by: ChangedBy,
}

/// Flags of `hifi labels retire`.
#[derive(Debug, Args)]
pub struct LabelsRetireArgs {
    /// The label to retire.
    pub name: String,
    #[command(flatten)]
    pub by: ChangedBy,
}

/// Flags of `hifi labels history`.
#[derive(Debug, Args)]
pub struct LabelsHistoryArgs {
    /// Print JSON: an array of versions, oldest first.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `hifi labels import`.
#[derive(Debug, Args)]
pub struct LabelsImportArgs {
    /// The labels file.
    pub file: PathBuf,
    /// Who made these labels (recorded on every imported event).
    #[arg(long, value_name = "NAME")]
    pub annotator: String,
    /// Field with the item id; dotted paths reach into objects (meta.ad_id). Label Studio
    /// looks in each task's `data` first. Default: id (csv, jsonl), meta.id or id (Prodigy),
    /// data.id (Label Studio), id, external_id or metadata.id (Argilla), then the exact text.
    #[arg(long = "id", value_name = "FIELD")]
    pub id_field: Option<String>,
    /// csv/jsonl: the label column (default: label). Label Studio: the choices control
    /// (from_name) when there are several. Argilla v2: the question (default: label).
    #[arg(long = "label", value_name = "FIELD")]
    pub label_field: Option<String>,
    /// The file's format (default: detected from the content, and said which).
    #[arg(long, value_enum)]
    pub format: Option<LabelFormat>,
    /// Import the valid lines of a file with problems; list the lines left out.
    #[arg(long)]
    pub skip_invalid: bool,
    /// The labels were made without seeing the model's prediction (recorded on each event;
    /// only blind labels count as blind in eval agreement and the stop rule).
    #[arg(long)]
    pub blind: bool,
    /// Multi-label projects, csv/jsonl: the separator of label sets given as strings (default
    /// ","; a list or a JSON-array string is read as it is).
    #[arg(long, value_name = "SEP")]
    pub label_sep: Option<char>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `hifi labels export`.
#[derive(Debug, Args)]
pub struct LabelsExportArgs {
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: EventFormat,
    /// Only this annotator's events.
    #[arg(long, value_name = "NAME")]
    pub annotator: Option<String>,
    /// Only events on items of this split (all: also items not split yet).
    #[arg(long, value_enum, default_value = "all")]
    pub split: SplitChoice,
    /// Output file ("-" for stdout).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: PathBuf,
    #[command(flatten)]
    pub write: super::flags::WriteFlags,
}

/// Run `hifi labels …` on the project in `project`.
pub fn run(project: &Path, cmd: LabelsCommand) -> Result<()> {
    match cmd {
        LabelsCommand::Import(a) => import(project, &a),
        LabelsCommand::Export(a) => export(project, &a),
        LabelsCommand::Add(a) => {
            change(project, &a.by, LabelChange::Add { name: a.name, definition: a.definition })
        }
        LabelsCommand::Rename(a) => change(
            project,
            &a.by,
            LabelChange::Rename { from: a.old, to: a.new, definition: a.definition },
        ),
        LabelsCommand::Merge(a) => change(
            project,
            &a.by,
            LabelChange::Merge { from: a.labels, into: a.into, definition: a.definition },
        ),
        LabelsCommand::Retire(a) => change(project, &a.by, LabelChange::Retire { name: a.name }),
        LabelsCommand::History(a) => history(project, a.json),
    }
}

/// The names a change gives, each checked for being empty before anything is touched.
fn names_in(change: &LabelChange) -> Vec<&str> {
    match change {
        LabelChange::Add { name, .. } => vec![name],
        LabelChange::Rename { from, to, .. } => vec![from, to],
        LabelChange::Merge { from, into, .. } => {
            from.iter().map(String::as_str).chain([into.as_str()]).collect()
        }
        LabelChange::Retire { name } => vec![name],
    }
}

/// `hifi labels add|rename|merge|retire`: one label-set change, in the store and hifi.toml
/// together, or in neither.
fn change(project: &Path, by: &ChangedBy, change: LabelChange) -> Result<()> {
    if names_in(&change).iter().any(|n| n.trim().is_empty()) {
        anyhow::bail!("a label name cannot be empty: nothing changed");
    }
    if let LabelChange::Add { definition, .. } = &change {
        if definition.trim().is_empty() {
            anyhow::bail!(
                "give the new label a definition (--definition TEXT): the model is prompted with it; nothing changed"
            );
        }
    }
    let who = by.annotator.clone().unwrap_or_else(hifi::pipeline::default_annotator);
    if who.trim().is_empty() {
        anyhow::bail!("the annotator name is empty: nothing changed");
    }
    let (cfg, mut store) = hifi::project::open(project)?;
    if let Err(why) = hifi::store::apply_label_change(&cfg.labels, &change) {
        anyhow::bail!("{why}: nothing changed");
    }
    let (new_cfg, out) = hifi::project::change_labels(project, &mut store, &cfg, &change, &who)?;
    let v = &out.version;
    let to = v.to.as_deref().unwrap_or_default();
    let effect = match &change {
        LabelChange::Add { .. } => String::new(),
        LabelChange::Rename { .. } | LabelChange::Merge { .. } => format!(
            "; {} label{} in force now read `{to}`",
            out.labels_affected,
            if out.labels_affected == 1 { "" } else { "s" }
        ),
        LabelChange::Retire { .. } => format!(
            "; {} label{} given with it no longer in force, {} item{} queued for review again",
            out.labels_affected,
            if out.labels_affected == 1 { "" } else { "s" },
            out.requeued,
            if out.requeued == 1 { "" } else { "s" }
        ),
    };
    println!("{} (label set v{}){effect}", inert(&v.describe(), false), v.version);
    println!("labels now: {}", inert(&new_cfg.label_names().join(", "), false));
    println!(
        "predictions made under an earlier label set are stale until `hifi prelabel` rescores them"
    );
    Ok(())
}

fn version_json(v: &LabelSetVersion) -> serde_json::Value {
    serde_json::json!({
        "version": v.version,
        "time": v.created_at,
        "annotator": v.annotator,
        "kind": v.kind,
        "change": v.describe(),
        "from": v.from,
        "to": v.to,
        "labels": v.labels,
    })
}

/// `hifi labels history`.
fn history(project: &Path, json: bool) -> Result<()> {
    let (_, store) = hifi::project::open(project)?;
    let all = store.label_sets()?;
    if json {
        let v: Vec<serde_json::Value> = all.iter().map(version_json).collect();
        println!("{}", hifi::text::json_to_string(&v, true));
        return Ok(());
    }
    for v in &all {
        let who = match &v.annotator {
            Some(a) => inert(a, false),
            None => "(hifi.toml)".to_string(),
        };
        let time: String = v.created_at.chars().take(19).collect::<String>().replacen('T', " ", 1);
        println!(
            "v{:<3} {}  {}  {}",
            v.version,
            inert(&time, false),
            who,
            inert(&v.describe(), false)
        );
        println!("      labels: {}", inert(&v.names().join(", "), false));
    }
    Ok(())
}

fn import(project: &Path, a: &LabelsImportArgs) -> Result<()> {
    let (cfg, mut store) = hifi::project::open(project)?;
    let opts = LabelImportOptions {
        annotator: a.annotator.clone(),
        format: a.format,
        id_field: a.id_field.clone(),
        label_field: a.label_field.clone(),
        labels: cfg.label_names(),
        skip_invalid: a.skip_invalid,
        suggestion: a.blind.then_some(false),
    };
    let file = inert(&a.file.display().to_string(), false);
    if a.label_sep.is_some() && !cfg.multi_label {
        anyhow::bail!("--label-sep joins label sets: it applies only to multi-label projects (multi_label = true in hifi.toml)");
    }
    let imported = if cfg.multi_label {
        hifi::io::labels::import_label_sets(&mut store, &a.file, &opts, a.label_sep.unwrap_or(','))
    } else {
        import_labels(&mut store, &a.file, &opts)
    };
    let rep = match imported {
        Ok(rep) => rep,
        Err(LabelsError::Problems(p)) => {
            anyhow::bail!("{p}\nfix these lines, or give --skip-invalid to import the others and list the ones left out")
        }
        Err(e) => return Err(e.into()),
    };
    if a.json {
        println!("{}", hifi::text::json_to_string(&rep, true));
        return Ok(());
    }
    if rep.detected {
        println!(
            "format: {} (detected from the content; name another with --format)",
            rep.format.name()
        );
    }
    println!(
        "imported {} labels by {} from {file} ({} unchanged, {} repeated in the file, {} not labeled in the source)",
        rep.imported,
        inert(&a.annotator, false),
        rep.unchanged,
        rep.duplicates,
        rep.not_labeled
    );
    if !rep.skipped_lines.is_empty() {
        let lines: Vec<String> = rep.skipped_lines.iter().map(u64::to_string).collect();
        println!("skipped {} lines with problems: {}", lines.len(), lines.join(", "));
        print!("{}", rep.problems);
    }
    Ok(())
}

fn export(project: &Path, a: &LabelsExportArgs) -> Result<()> {
    let (cfg, mut store) = hifi::project::open(project)?;
    let opts = EventExportOptions {
        format: a.format,
        annotator: a.annotator.clone(),
        split: a.split,
        write: a.write.into(),
    };
    let rep = export_events(&mut store, &cfg, &opts, &a.output)?;
    if a.output != Path::new("-") {
        let of_responses = if rep.response_events > 0 {
            format!(" ({} of them judgements of responses)", rep.response_events)
        } else {
            String::new()
        };
        println!(
            "wrote {} events on {} items{of_responses} to {}",
            rep.events,
            rep.items,
            inert(&rep.file, false)
        );
    }
    Ok(())
}
