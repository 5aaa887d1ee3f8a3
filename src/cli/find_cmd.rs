//! `hifi find`, `hifi show` and `hifi guidelines`: search the pool and the decisions on it,
//! one item with its whole history, and the project's versioned guidelines.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use hifi::config::Config;
use hifi::progress::Progress;
use hifi::responses::editor::{self, EditOutcome};
use hifi::store::{
    AnnotationKind, FindQuery, FoundItem, GuidelinesVersion, HistoryEvent, ItemState, Store,
    GUIDELINES_FILE,
};
use hifi::text::{inert, json_to_string, one_line};

/// Results `hifi find` lists unless told otherwise.
pub const DEFAULT_LIMIT: usize = 50;

/// Items not yet in the search index from which indexing draws a progress bar.
const INDEX_BAR_FROM: i64 = 20_000;

/// The width `hifi find` lays its lines out for.
const LINE_WIDTH: usize = 80;

pub const FIND_EXAMPLES: &str = "\
Examples:
  hifi find refund                      items whose text or a note has the word `refund`
  hifi find 'ref*'                      words starting with ref
  hifi find '\"free shipping\"'           a phrase
  hifi find 'refund OR return NOT gift' FTS5 operators, upper case
  hifi find ad-0042                     an item by its id
  hifi find --flagged --annotator ana   what ana flagged and has not withdrawn
  hifi find --skipped --json | jq -r '.[].id'
  hifi find --disagree --split eval     experts' labels differ and nobody adjudicated yet
  hifi find --model-disagrees --round-model 2   round 2's model against the experts
  hifi find --label clickbait --noted   labeled clickbait (in force) with a note
  hifi find --unlabeled --limit 20 --offset 40

Every filter given must hold. `hifi show ID` shows an item in full, with its history.";

pub const SHOW_EXAMPLES: &str = "\
Examples:
  hifi show ad-0042
  hifi show ad-0042 --json | jq '.history[] | select(.kind == \"label\")'

Labels are shown as they were given; when the label set changed since (`hifi labels
history`), the name in force now follows the arrow, or the label is marked retired.";

/// Flags of `hifi find`.
#[derive(Debug, Args)]
pub struct FindArgs {
    /// Words to find in item texts and notes, or an item id.
    pub query: Option<String>,
    /// Items with this label in force (anyone's, or an adjudicator's), in the current set.
    #[arg(long, value_name = "LABEL")]
    pub label: Option<String>,
    /// Items this annotator decided (labeled, skipped or flagged).
    #[arg(long, value_name = "NAME")]
    pub annotator: Option<String>,
    /// Items with a flag standing (not withdrawn, not revisited since).
    #[arg(long)]
    pub flagged: bool,
    /// Items someone skipped (their newest decision on it is a skip).
    #[arg(long)]
    pub skipped: bool,
    /// Items with a note on some decision.
    #[arg(long)]
    pub noted: bool,
    /// Items whose experts' labels in force differ, with no adjudication yet.
    #[arg(long)]
    pub disagree: bool,
    /// Items whose expert label the model's prediction differs from (the newest model
    /// scored under the current label set, or --round-model's).
    #[arg(long)]
    pub model_disagrees: bool,
    /// With --model-disagrees: the model of this round (`hifi report` lists them).
    #[arg(long, value_name = "R", requires = "model_disagrees")]
    pub round_model: Option<i64>,
    /// Items of this split.
    #[arg(long, value_parser = ["eval", "train"])]
    pub split: Option<String>,
    /// Items of this stratum: boundary (mined) or audit (a random draw, always eval).
    #[arg(long, value_parser = ["boundary", "audit"])]
    pub stratum: Option<String>,
    /// Items decided while this round was the newest.
    #[arg(long, value_name = "R")]
    pub round: Option<i64>,
    /// Only items with an expert label in force.
    #[arg(long, conflicts_with = "unlabeled")]
    pub labeled: bool,
    /// Only items with no expert label in force.
    #[arg(long)]
    pub unlabeled: bool,
    /// List at most N items (0: only the count).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_LIMIT)]
    pub limit: usize,
    /// Skip the first N matches (the next page).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub offset: usize,
    /// Print a JSON array of the items listed.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `hifi show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The item's id (as imported).
    pub item: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `hifi guidelines …`
#[derive(Debug, Subcommand)]
pub enum GuidelinesCommand {
    /// Edit guidelines.md in $VISUAL, else $EDITOR, else vi (made from a template with the
    /// label definitions when there is none). A changed text is saved and recorded as a new
    /// version; labels given from then on record that version.
    ///
    /// Editing guidelines.md by other means works too: hifi records the change the next time
    /// it opens the project (with no annotator named).
    Edit(GuidelinesEditArgs),
    /// The guidelines in force and their version.
    Show(JsonFlag),
    /// Every version of the guidelines: number, time, who, size.
    History(JsonFlag),
}

#[derive(Debug, Args)]
pub struct GuidelinesEditArgs {
    /// Who is editing (default: $HIFI_ANNOTATOR, else $USER).
    #[arg(long, env = "HIFI_ANNOTATOR")]
    pub annotator: Option<String>,
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Where an event's details start, under its line in `hifi show`.
const DETAIL_INDENT: &str = "          ";

use hifi::text::thousands as grouped;

/// A stored RFC 3339 time as `2024-05-01 10:00:00`.
fn when(t: &str) -> String {
    inert(&t.chars().take(19).collect::<String>().replacen('T', " ", 1), false)
}

/// Bring the search index up to date, with a progress bar when many items wait.
fn index(store: &mut Store, bar: &mut dyn Progress) -> Result<()> {
    let pending = store.unindexed_items()?;
    if pending < INDEX_BAR_FROM {
        store.index_for_search(|_, _| {})?;
        return Ok(());
    }
    bar.start("index", pending as u64);
    let r = store.index_for_search(|done, _| bar.update(done, "items indexed for search"));
    bar.finish("search index up to date");
    r?;
    Ok(())
}

/// Why `name` is not a label now, when the label-set history knows it.
fn former_label(store: &Store, name: &str) -> Result<Option<String>> {
    let versions = store.label_sets()?;
    Ok(versions
        .iter()
        .rev()
        .find(|v| v.from.iter().any(|f| f == name))
        .map(|v| format!(" (no longer in force since label set v{}: {})", v.version, v.describe())))
}

/// The error for a label that is not in the current set.
pub fn unknown_label(store: &Store, cfg: &Config, name: &str) -> Result<anyhow::Error> {
    let history = former_label(store, name)?.unwrap_or_default();
    Ok(anyhow!(
        "unknown label {:?}{}; the project's labels are {}",
        inert(name, false),
        inert(&history, false),
        cfg.label_names().join(", ")
    ))
}

/// The labels in force of an item as one short word: the agreed or adjudicated label, the
/// experts' labels apart by `/` when they differ, `-` when there is none.
fn labels_word(s: &ItemState) -> String {
    if let Some(l) = s.resolved() {
        return l.to_string();
    }
    let mut ls: Vec<&str> = s.labels.values().map(String::as_str).collect();
    ls.sort_unstable();
    ls.dedup();
    if ls.is_empty() {
        "-".into()
    } else {
        ls.join("/")
    }
}

/// ! flagged, s skipped, n has a note, ≠ experts disagree.
fn markers(s: &ItemState) -> String {
    let mark = |on: bool, c: char| if on { c } else { ' ' };
    [
        mark(!s.flagged_by.is_empty(), '!'),
        mark(!s.skipped_by.is_empty(), 's'),
        mark(s.noted, 'n'),
        mark(s.disagree(), '≠'),
    ]
    .iter()
    .collect()
}

fn state_json(s: &ItemState) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("labels".into(), json!(s.labels));
    m.insert("resolved".into(), json!(s.resolved()));
    m.insert("disagree".into(), json!(s.disagree()));
    m.insert("flagged_by".into(), json!(s.flagged_by));
    m.insert("skipped_by".into(), json!(s.skipped_by));
    m.insert("annotators".into(), json!(s.annotators));
    m.insert("noted".into(), json!(s.noted));
    m.insert("split".into(), json!(s.split));
    m.insert("stratum".into(), json!(s.stratum));
    m.insert("rounds".into(), json!(s.rounds));
    m
}

fn found_json(r: &FoundItem) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("id".into(), json!(r.id));
    m.insert("key".into(), json!(r.key));
    m.extend(state_json(&r.state));
    m.insert("predicted".into(), json!(r.predicted));
    m.insert("text".into(), json!(r.text));
    Value::Object(m)
}

/// `hifi find`.
pub fn find(project: &Path, a: &FindArgs, bar: &mut dyn Progress) -> Result<()> {
    let (cfg, mut store) = hifi::project::open(project)?;
    let labels = cfg.label_names();
    if let Some(l) = &a.label {
        if !labels.contains(l) {
            return Err(unknown_label(&store, &cfg, l)?);
        }
    }
    index(&mut store, bar)?;
    // Splits follow the labels (as `hifi status` and the exports assign them).
    hifi::curate::split::assign_splits(&mut store, &cfg)?;
    let q = FindQuery {
        text: a.query.clone(),
        label: a.label.clone(),
        annotator: a.annotator.clone(),
        flagged: a.flagged,
        skipped: a.skipped,
        noted: a.noted,
        experts_disagree: a.disagree,
        model_disagrees: a.model_disagrees,
        model_round: a.round_model,
        split: a.split.clone(),
        stratum: a.stratum.clone(),
        round: a.round,
        labeled: if a.labeled {
            Some(true)
        } else if a.unlabeled {
            Some(false)
        } else {
            None
        },
        offset: a.offset,
        limit: a.limit,
    };
    let found = store.find(&q, &labels)?;
    let shown_to = a.offset + found.rows.len();
    if a.json {
        let rows: Vec<Value> = found.rows.iter().map(found_json).collect();
        println!("{}", json_to_string(&rows, true));
        if shown_to < found.total && a.limit > 0 {
            eprintln!(
                "note: {} of {} matches listed; --offset {shown_to} for the next",
                found.rows.len(),
                grouped(found.total)
            );
        }
        return Ok(());
    }
    if found.total == 0 {
        println!("no items match");
        return Ok(());
    }
    let pool = store.item_count()? as usize;
    let mut head = format!("{} of {} items match", grouped(found.total), grouped(pool));
    if found.rows.is_empty() && a.limit > 0 {
        head.push_str(&format!("; --offset {} is past the last", a.offset));
    } else if !found.rows.is_empty() && (a.offset > 0 || shown_to < found.total) {
        head.push_str(&format!("; {}–{} listed", grouped(a.offset + 1), grouped(shown_to)));
        if shown_to < found.total {
            head.push_str(&format!(" (--offset {shown_to} for the next)"));
        }
    }
    println!("{head}");
    let ids: Vec<String> = found.rows.iter().map(|r| one_line(&r.id, 18)).collect();
    let words: Vec<String> =
        found.rows.iter().map(|r| one_line(&labels_word(&r.state), 18)).collect();
    let id_w = ids.iter().map(|s| s.chars().count()).max().unwrap_or(0);
    let label_w = words.iter().map(|s| s.chars().count()).max().unwrap_or(0);
    let text_w = LINE_WIDTH.saturating_sub(id_w + label_w + 10).max(20);
    let mut any_marker = false;
    for ((r, id), word) in found.rows.iter().zip(&ids).zip(&words) {
        let m = markers(&r.state);
        any_marker |= m.trim() != "";
        println!("{id:<id_w$}  {word:<label_w$}  {m}  {}", one_line(&r.text, text_w));
    }
    if any_marker {
        println!(
            "(! flagged, s skipped, n has a note, ≠ experts disagree; `hifi show ID` for one item)"
        );
    }
    Ok(())
}

/// The model's prediction recorded with an event (JSON), as `label 0.82`.
fn prediction_then(p: &str) -> Option<(Value, String)> {
    let v: Value = serde_json::from_str(p).ok()?;
    let label = v.get("label")?.as_str()?.to_string();
    let labels: Vec<&str> = v.get("labels")?.as_array()?.iter().filter_map(Value::as_str).collect();
    let probs = v.get("probs")?.as_array()?;
    let prob =
        labels.iter().position(|l| *l == label).and_then(|i| probs.get(i)).and_then(Value::as_f64);
    let shown = match prob {
        Some(p) => format!("{} {p:.2}", inert(&label, false)),
        None => inert(&label, false),
    };
    Some((v, shown))
}

fn suggestion_word(s: Option<bool>) -> Option<&'static str> {
    s.map(|s| if s { "shown" } else { "blind" })
}

fn event_json(h: &HistoryEvent) -> Value {
    let e = &h.event;
    let retired = e.label.is_some() && h.label_now.is_none();
    json!({
        "event": e.id,
        "time": e.created_at,
        "annotator": e.annotator,
        "kind": e.kind.as_str(),
        "label": e.label,
        "label_now": h.label_now,
        "retired": retired,
        "note": e.note,
        "round": e.round,
        "suggestion": suggestion_word(e.suggestion),
        "origin": e.provenance.origin,
        "revises": e.provenance.revises,
        "supersedes": e.supersedes,
        "undone": h.undone,
        "current": h.current,
        "label_set": e.label_set,
        "guidelines": e.guidelines,
        "prediction": e.prediction.as_deref().and_then(|p| serde_json::from_str::<Value>(p).ok()),
    })
}

/// One history event as a line (and its note under it).
fn event_lines(h: &HistoryEvent) -> Vec<String> {
    let e = &h.event;
    let mut what = e.kind.as_str().to_string();
    if let Some(l) = &e.label {
        what.push(' ');
        what.push_str(&inert(l, false));
        match &h.label_now {
            None => what.push_str(" (retired)"),
            Some(now) if now != l => {
                what.push_str(" → ");
                what.push_str(&inert(now, false));
            }
            Some(_) => {}
        }
    }
    if let Some(s) = e.supersedes {
        what.push_str(&format!(" of #{s}"));
    }
    let mut details: Vec<String> = Vec::new();
    if let Some(r) = e.provenance.revises {
        details.push(format!("revises #{r}"));
    }
    let decides = matches!(e.kind, AnnotationKind::Label | AnnotationKind::Resolve);
    if h.undone {
        details.push("undone".into());
    } else if h.current {
        details.push("in force".into());
    } else if decides && h.label_now.is_some() {
        details.push("replaced since".into());
    }
    if let Some(o) = &e.provenance.origin {
        details.push(inert(o, false));
    }
    if let Some(s) = suggestion_word(e.suggestion) {
        details.push(s.into());
    }
    if let Some(r) = e.round {
        details.push(format!("round {r}"));
    }
    if e.label.is_some() {
        details.push(format!("label set v{}", e.label_set));
    }
    if let Some(g) = e.guidelines {
        details.push(format!("guidelines v{g}"));
    }
    if let Some((_, p)) = e.prediction.as_deref().and_then(prediction_then) {
        details.push(format!("model then: {p}"));
    }
    let mut out = vec![format!(
        "  #{:<5} {}  {}  {what}",
        e.id,
        when(&e.created_at),
        one_line(&e.annotator, 16)
    )];
    // The details under it, wrapped to the line width.
    let mut line = String::new();
    for d in details {
        if !line.is_empty()
            && DETAIL_INDENT.len() + line.chars().count() + 2 + d.chars().count() > LINE_WIDTH
        {
            out.push(format!("{DETAIL_INDENT}{line}"));
            line.clear();
        }
        if !line.is_empty() {
            line.push_str(", ");
        }
        line.push_str(&d);
    }
    if !line.is_empty() {
        out.push(format!("{DETAIL_INDENT}{line}"));
    }
    if let Some(n) = e.note.as_deref().filter(|n| !n.trim().is_empty()) {
        out.push(format!("{DETAIL_INDENT}note: {}", one_line(n, LINE_WIDTH - 15)));
    }
    out
}

/// `hifi show ITEM`.
pub fn show(project: &Path, a: &ShowArgs) -> Result<()> {
    let (cfg, mut store) = hifi::project::open(project)?;
    hifi::curate::split::assign_splits(&mut store, &cfg)?;
    let item = store.item_by_id(&a.item)?.ok_or_else(|| {
        anyhow!(
            "no item with id {:?}; `hifi find WORDS` searches the texts and ids",
            inert(&a.item, false)
        )
    })?;
    let h = store
        .item_history(item.key, &cfg.label_names())?
        .ok_or_else(|| anyhow!("no item with id {:?}", inert(&a.item, false)))?;
    let fields = h.item.fields();
    if a.json {
        let mut m = serde_json::Map::new();
        m.insert("id".into(), json!(h.item.id));
        m.insert("key".into(), json!(h.item.key));
        m.insert("text".into(), json!(h.item.text));
        let f: serde_json::Map<String, Value> =
            fields.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        m.insert("fields".into(), Value::Object(f));
        m.insert("gold".into(), json!(h.item.gold));
        m.extend(state_json(&h.state));
        m.insert("prediction_now".into(), json!(h.prediction_now));
        m.insert("history".into(), Value::Array(h.events.iter().map(event_json).collect()));
        println!("{}", json_to_string(&Value::Object(m), true));
        return Ok(());
    }
    let s = &h.state;
    let who_list = |v: &[String]| v.iter().map(|w| inert(w, false)).collect::<Vec<_>>().join(", ");
    println!("{}", inert(&h.item.id, false));
    match (&s.split, &s.stratum) {
        (Some(sp), Some(st)) => println!("  split      {sp} ({st})"),
        _ => println!("  split      not split (no label in force yet, or disputed)"),
    }
    if s.labels.is_empty() {
        println!("  labels     none in force");
    } else {
        let each: Vec<String> = s
            .labels
            .iter()
            .map(|(who, l)| format!("{} {}", inert(who, false), inert(l, false)))
            .collect();
        let verdict = if s.disagree() { " (experts disagree)" } else { "" };
        println!("  labels     {}{verdict}", each.join(", "));
    }
    if !s.flagged_by.is_empty() {
        println!("  flagged    by {}", who_list(&s.flagged_by));
    }
    if !s.skipped_by.is_empty() {
        println!("  skipped    by {}", who_list(&s.skipped_by));
    }
    if let Some(g) = &h.item.gold {
        println!("  gold       {}", inert(g, false));
    }
    match &h.prediction_now {
        None => println!("  model now  no prediction yet (`hifi prelabel`)"),
        Some(p) => {
            let prob = p.labels.iter().position(|l| *l == p.label).and_then(|i| p.probs.get(i));
            let prob = prob.map(|x| format!(" {x:.2}")).unwrap_or_default();
            println!(
                "  model now  {}{prob} ({}){}",
                inert(&p.label, false),
                one_line(&p.model, 24),
                if p.stale { ", stale: `hifi prelabel` rescores it" } else { "" }
            );
            if p.stale {
                let under = format!("scored under the labels {}", p.labels.join(", "));
                println!("             {}", one_line(&under, LINE_WIDTH - 13));
            }
        }
    }
    if !fields.is_empty() {
        println!("fields");
        let w = fields.iter().map(|(k, _)| one_line(k, 20).chars().count()).max().unwrap_or(0);
        for (k, v) in &fields {
            let k = one_line(k, 20);
            println!("  {k:<w$}  {}", one_line(v, LINE_WIDTH.saturating_sub(w + 4).max(20)));
        }
    }
    println!("text");
    for line in inert(&h.item.text, true).lines() {
        println!("  {line}");
    }
    let n = h.events.len();
    if n == 0 {
        println!("history    nothing recorded yet");
    } else {
        println!("history ({n} event{}, oldest first)", if n == 1 { "" } else { "s" });
        for e in &h.events {
            for line in event_lines(e) {
                println!("{line}");
            }
        }
    }
    Ok(())
}

/// `hifi guidelines …`
pub fn guidelines(project: &Path, cmd: &GuidelinesCommand) -> Result<()> {
    match cmd {
        GuidelinesCommand::Edit(a) => guidelines_edit(project, a),
        GuidelinesCommand::Show(a) => guidelines_show(project, a.json),
        GuidelinesCommand::History(a) => guidelines_history(project, a.json),
    }
}

fn guidelines_edit(project: &Path, a: &GuidelinesEditArgs) -> Result<()> {
    // Opening records a change made to guidelines.md by hand since the last version.
    let (cfg, mut store) = hifi::project::open(project)?;
    let who = a.annotator.clone().unwrap_or_else(hifi::pipeline::default_annotator);
    if who.trim().is_empty() {
        bail!("the annotator name is empty");
    }
    let path = project.join(GUIDELINES_FILE);
    let existing = match std::fs::read_to_string(&path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("{}: cannot read", path.display())),
    };
    let start = existing.clone().unwrap_or_else(|| hifi::project::guidelines_template(&cfg));
    let outcome = editor::edit(&start, project)
        .with_context(|| format!("editing the guidelines in {}", project.display()))?;
    let text = match outcome {
        EditOutcome::Changed(t) => t,
        EditOutcome::Unchanged if existing.is_none() => {
            println!("unchanged: nothing saved ({GUIDELINES_FILE} was not created)");
            return Ok(());
        }
        EditOutcome::Unchanged => {
            println!("unchanged: nothing saved");
            return Ok(());
        }
        EditOutcome::Empty => {
            println!("the edited guidelines are empty: nothing saved");
            return Ok(());
        }
        EditOutcome::Failed(why) => bail!("{why}: nothing saved"),
    };
    // Someone else saved the file while the editor was open: keep both, overwrite neither.
    match hifi::project::save_guidelines(project, existing.as_deref(), &text)
        .with_context(|| format!("{}: cannot write", path.display()))?
    {
        hifi::project::GuidelinesSaved::Saved => {}
        hifi::project::GuidelinesSaved::Conflict { mine } => bail!(
            "{} changed while you were editing it: nothing saved; your text is in {} (merge it into {GUIDELINES_FILE} and run `hifi guidelines edit` again)",
            path.display(),
            mine.display()
        ),
    }
    match store.record_guidelines(&text, Some(&who))? {
        Some(v) => println!(
            "saved {GUIDELINES_FILE}: guidelines v{v} by {} ({} lines); labels given from now on record v{v}",
            inert(&who, false),
            text.lines().count()
        ),
        None => println!("unchanged: the text is that of the newest version"),
    }
    Ok(())
}

fn version_json(g: &GuidelinesVersion) -> Value {
    json!({
        "version": g.version,
        "time": g.created_at,
        "annotator": g.annotator,
        "sha256": g.sha256,
        "lines": g.text.lines().count(),
        "text": g.text,
    })
}

fn by(annotator: &Option<String>) -> String {
    match annotator {
        Some(a) => inert(a, false),
        None => format!("({GUIDELINES_FILE} edited outside hifi)"),
    }
}

fn guidelines_show(project: &Path, json: bool) -> Result<()> {
    let (_, store) = hifi::project::open(project)?;
    let g = store.guidelines()?;
    if json {
        println!("{}", json_to_string(&g.as_ref().map(version_json), true));
        return Ok(());
    }
    let Some(g) = g else {
        println!(
            "no guidelines yet: `hifi guidelines edit` writes {GUIDELINES_FILE} (from a template with the label definitions)"
        );
        return Ok(());
    };
    println!("guidelines v{}, {} by {}", g.version, when(&g.created_at), by(&g.annotator));
    println!();
    print!("{}", inert(&g.text, true));
    if !g.text.ends_with('\n') {
        println!();
    }
    Ok(())
}

fn guidelines_history(project: &Path, json: bool) -> Result<()> {
    let (_, store) = hifi::project::open(project)?;
    let all = store.guidelines_versions()?;
    if json {
        let v: Vec<Value> = all.iter().map(version_json).collect();
        println!("{}", json_to_string(&v, true));
        return Ok(());
    }
    if all.is_empty() {
        println!("no guidelines yet: `hifi guidelines edit` writes {GUIDELINES_FILE}");
        return Ok(());
    }
    for g in &all {
        println!(
            "v{:<3} {}  {}  {} lines  sha256 {}",
            g.version,
            when(&g.created_at),
            by(&g.annotator),
            g.text.lines().count(),
            &g.sha256.chars().take(12).collect::<String>()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_204), "1,204");
        assert_eq!(grouped(1_000_000), "1,000,000");
    }

    #[test]
    fn markers_and_label_words() {
        let mut s = ItemState::default();
        assert_eq!(labels_word(&s), "-");
        assert_eq!(markers(&s), "    ");
        s.labels.insert("ana".into(), "a".into());
        s.labels.insert("bob".into(), "b".into());
        s.flagged_by.push("ana".into());
        assert_eq!(labels_word(&s), "a/b");
        assert_eq!(markers(&s), "!  ≠");
        s.labels.insert(hifi::store::RESOLVED.into(), "b".into());
        assert_eq!(labels_word(&s), "b");
    }
}
