//! One function per subcommand: load the project, call the stage, print the report.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::args::*;
use super::output::emit;
use hifi::config::{Config, LabelDef, LabelsFile, ModelConfig, PromptConfig, CONFIG_FILE};
use hifi::pipeline::{self, EmbedOverrides, ImportRequest, PrelabelOverrides};
use hifi::progress::{Bar, CancelToken, Progress};
use hifi::store::{Annotation, AnnotationKind, Provenance, Store};
use hifi::text::inert;

/// Run a parsed command line. `cancel` is set by Ctrl-C.
pub fn run(cli: Cli, cancel: &CancelToken) -> Result<()> {
    let project = cli.project.clone();
    let mut bar = Bar::new(cli.quiet);
    let Some(command) = cli.command else {
        if project.join(CONFIG_FILE).exists() {
            return review(&project, &ReviewArgs::default());
        }
        use clap::CommandFactory;
        let _ = Cli::command().print_long_help();
        return Ok(());
    };
    match command {
        Command::Review(a) => review(&project, &a),
        Command::Init(a) => init(&a),
        Command::Import(a) => import(&project, &a, &mut bar, cancel),
        Command::Prelabel(a) => prelabel_cmd(&project, &a, &mut bar, cancel),
        Command::Embed(a) => embed_cmd(&project, &a, &mut bar, cancel),
        Command::Export(a) => export(&project, &a),
        Command::Label(a) => label(&project, &a),
        Command::Find(a) => super::find_cmd::find(&project, &a, &mut bar),
        Command::Show(a) => super::find_cmd::show(&project, &a),
        Command::Guidelines(c) => super::find_cmd::guidelines(&project, &c),
        Command::Status(a) => status(&project, &a),
        Command::Mine(a) => super::mine_cmd::run(&project, &a, &mut bar, cancel),
        Command::Round(a) => super::rounds_cmd::round(&project, &a, &mut bar, cancel),
        Command::Train(a) => super::train_cmd::train(&project, &a, &mut bar, cancel),
        Command::TrainWorker(a) => std::process::exit(super::train_cmd::worker(&a)),
        Command::Report(a) => super::rounds_cmd::report(&project, &a),
        Command::Simulate(a) => super::rounds_cmd::simulate(&project, &a, &mut bar, cancel),
        Command::Labels(c) => super::labels_cmd::run(&project, c),
        Command::Responses(c) => super::responses_cmd::run(&project, c),
        Command::Select(c) => super::select_cmd::run(&project, &c, &mut bar, cancel),
        Command::SelfTrain(a) => super::select_cmd::self_train(&project, &a, &mut bar, cancel),
        Command::Bench(b) => bench(&project, b),
    }
}

fn open(project: &Path) -> Result<(Config, Store)> {
    Ok(hifi::project::open(project)?)
}

fn init(a: &InitArgs) -> Result<()> {
    let from = a.from.as_deref().map(LabelsFile::load).transpose()?;
    let labels: Vec<LabelDef> = match (&from, a.labels.is_empty()) {
        (_, false) => a
            .labels
            .iter()
            .map(|n| {
                let def = from
                    .as_ref()
                    .and_then(|f| f.labels.iter().find(|l| &l.name == n))
                    .map(|l| l.definition.clone());
                LabelDef::new(n.trim().to_string(), def.unwrap_or_default())
            })
            .collect(),
        (Some(f), true) => f.labels.clone(),
        (None, true) => bail!("give --labels A,B or --from FILE"),
    };
    let task =
        a.task.clone().or_else(|| from.as_ref().and_then(|f| f.task.clone())).unwrap_or_default();
    let item_noun =
        from.as_ref().and_then(|f| f.item_noun.clone()).unwrap_or_else(|| "text".into());
    let cfg = Config {
        model: ModelConfig { path: a.model.clone(), ..ModelConfig::default() },
        prompt: PromptConfig { item_noun, ..PromptConfig::default() },
        multi_label: a.multi_label || from.as_ref().is_some_and(|f| f.multi_label),
        ..Config::new(task, labels)
    };
    cfg.validate().map_err(|m| anyhow::anyhow!("{m}"))?;
    if a.dir.join(CONFIG_FILE).exists() || a.dir.join(hifi::store::DB_FILE).exists() {
        bail!("{}: already a hifi project", a.dir.display());
    }
    std::fs::create_dir_all(&a.dir)
        .with_context(|| format!("{}: cannot create the folder", a.dir.display()))?;
    // The store first, then the config written atomically: a half-made project has no hifi.toml.
    Store::create(&a.dir)?;
    hifi::files::write_with(&a.dir.join(CONFIG_FILE), false, |f| {
        std::io::Write::write_all(f, cfg.to_toml().as_bytes())
    })
    .with_context(|| format!("{}: cannot write {CONFIG_FILE}", a.dir.display()))?;
    let undefined: Vec<&str> = cfg
        .labels
        .iter()
        .filter(|l| l.definition.trim().is_empty())
        .map(|l| l.name.as_str())
        .collect();
    let dir = inert(&a.dir.display().to_string(), false);
    let kind = if cfg.multi_label { " (multi-label: any of them may apply, or none)" } else { "" };
    println!("created {dir} with labels {}{kind}", cfg.label_names().join(", "));
    if !undefined.is_empty() {
        println!("write a one-paragraph definition for {} in {dir}/{CONFIG_FILE}: the model is prompted with them", undefined.join(", "));
    }
    println!("next: hifi --project {dir} import FILE");
    Ok(())
}

fn import(
    project: &Path,
    a: &ImportArgs,
    bar: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<()> {
    let r = ImportRequest {
        file: a.file.clone(),
        format: a.format,
        text_field: Some(a.text_field.clone()),
        id_field: a.id_field.clone(),
        gold_field: a.gold_field.clone(),
        label_sep: a.label_sep,
    };
    if a.label_sep.is_some() && !Config::load(project)?.multi_label {
        bail!("--label-sep joins label sets: it applies only to multi-label projects (multi_label = true in {CONFIG_FILE})");
    }
    emit(&pipeline::import(project, &r, bar, cancel)?, a.json)
}

fn prelabel_cmd(
    project: &Path,
    a: &PrelabelArgs,
    bar: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<()> {
    let o = PrelabelOverrides {
        engine: a.engine.overrides(),
        backend: a.backend.overrides(),
        adapter: a.adapter.clone(),
        limit: a.limit,
    };
    emit(&pipeline::prelabel(project, &o, bar, cancel)?, a.json)
}

fn embed_cmd(
    project: &Path,
    a: &EmbedArgs,
    bar: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<()> {
    let o = EmbedOverrides {
        engine: a.engine.overrides(),
        backend: a.backend.overrides(),
        limit: a.limit,
    };
    emit(&pipeline::embed(project, &o, bar, cancel)?, a.json)
}

fn export(project: &Path, a: &ExportArgs) -> Result<()> {
    let (cfg, mut store) = open(project)?;
    if a.label_sep.is_some() && !cfg.multi_label {
        bail!("--label-sep joins label sets: it applies only to multi-label projects (multi_label = true in {CONFIG_FILE})");
    }
    let mut write: hifi::io::export::WriteOptions = a.write.into();
    write.label_sep = a.label_sep;
    if let Some(which) = &a.selection {
        let sel = super::select_cmd::resolve(&store, which)?;
        let rep = hifi::io::export::export_selection(&mut store, &sel, a.format, &a.output, write)?;
        if a.output != Path::new("-") {
            println!(
                "wrote {} entries of set {} ({}) to {}",
                rep.rows,
                rep.selection,
                rep.kind,
                inert(&rep.file, false)
            );
            if let Some(p) = &rep.provenance {
                println!("provenance: {}", inert(p, false));
            }
        }
        if rep.expert_choice > 0 {
            eprintln!(
                "note: {} entries use the response an expert accepted instead of the built one (provenance: expert_choice)",
                rep.expert_choice
            );
        }
        if rep.vetoed + rep.eval > 0 {
            eprintln!("left out: {} vetoed, {} in the eval split", rep.vetoed, rep.eval);
        }
        return Ok(());
    }
    let exported = hifi::io::export::export_content(
        &mut store, &cfg, a.format, a.content, a.split, &a.output, write,
    )?;
    let rep = match exported {
        hifi::io::export::Exported::Labels(rep) => rep,
        hifi::io::export::Exported::Dataset(rep) => {
            let w = &rep.written;
            println!(
                "wrote the dataset folder {} ({}): train {} rows, test {} rows (the eval split); card {}",
                inert(&w.dir, false),
                rep.rows,
                w.train,
                w.test,
                hifi::io::hf_dataset::CARD_FILE
            );
            response_notes(&rep.left_out, &rep.leaked, rep.unreviewed);
            return Ok(());
        }
        hifi::io::export::Exported::Responses(rep) => {
            if a.output != Path::new("-") {
                println!("{}", inert(&rep.written(), false));
            }
            response_notes(&rep.left_out(), &rep.leaked, rep.unreviewed);
            return Ok(());
        }
    };
    if a.output != Path::new("-") {
        println!(
            "wrote {} items ({} train, {} eval) to {}",
            rep.rows,
            rep.train,
            rep.eval,
            inert(&rep.file, false)
        );
    }
    if rep.conflicts > 0 {
        eprintln!("note: {} labeled items left out: their annotators disagree and no adjudication exists yet", rep.conflicts);
    }
    if !rep.leaked.is_empty() {
        let ids: Vec<String> = rep.leaked.iter().map(|i| inert(i, false)).collect();
        eprintln!("note: {} train items left out: each near-duplicates an eval item (`hifi report` lists the pairs): {}", ids.len(), ids.join(", "));
    }
    Ok(())
}

fn label(project: &Path, a: &LabelArgs) -> Result<()> {
    let (cfg, mut store) = open(project)?;
    let annotator = a.annotator.clone().unwrap_or_else(pipeline::default_annotator);
    if a.stdin {
        return label_stdin(&cfg, &mut store, &annotator);
    }
    if a.undo || a.redo {
        let ev = if a.undo { store.undo(&annotator)? } else { store.redo(&annotator)? };
        let verb = if a.undo { "undid" } else { "redid" };
        match ev {
            Some(e) => {
                let id = store.item(e.item)?.map(|i| i.id).unwrap_or_default();
                println!(
                    "{verb} {} {} of {}",
                    e.kind.as_str(),
                    shown_label(&cfg, e.label.as_deref().unwrap_or("")),
                    inert(&id, false)
                );
            }
            None => println!(
                "nothing to {} for {}",
                if a.undo { "undo" } else { "redo" },
                inert(&annotator, false)
            ),
        }
        return Ok(());
    }
    if a.flag || a.unflag {
        return flag(&cfg, &mut store, a, &annotator);
    }
    let Some(id) = &a.item else { bail!("give ITEM_ID and LABEL, or --undo / --redo") };
    if a.label.is_none() && !a.none {
        bail!("give ITEM_ID and LABEL, or --undo / --redo");
    }
    let label = decision_label(&cfg, &store, id, a.label.as_deref(), a.none)?;
    let item = store
        .item_by_id(id)?
        .ok_or_else(|| anyhow::anyhow!("no item with id {:?}", inert(id, false)))?;
    let revises = cli_label(&mut store, item.key, &annotator, &label, a.note.clone())?;
    let revisit = match revises {
        Some(r) => format!(" (a revisit: replaces your event #{r})"),
        None => String::new(),
    };
    println!(
        "{} labeled {} as {}{revisit}",
        inert(&annotator, false),
        inert(id, false),
        shown_label(&cfg, &label)
    );
    Ok(())
}

/// The label a decision on item `id` stores. A single-label project takes exactly one of its
/// labels: several (`a,c`, a JSON list) or `none` are refused, naming the item. A multi-label
/// project takes the set that applies (names joined by commas, or a JSON list; `none`: the
/// empty set), stored as `multilabel::encode` in label order; an unknown or repeated name is
/// refused, naming the item.
fn decision_label(
    cfg: &Config,
    store: &Store,
    id: &str,
    given: Option<&str>,
    none: bool,
) -> Result<String> {
    let shown_id = inert(id, false);
    if cfg.multi_label {
        let given = if none { "" } else { given.unwrap_or_default() };
        if !none && given.trim().is_empty() {
            bail!("item {shown_id}: no labels given; --none records that none of them applies");
        }
        let set = hifi::multilabel::parse_list(given, ',', &cfg.label_names())
            .map_err(|m| anyhow::anyhow!("item {shown_id}: {m}"))?;
        return Ok(hifi::multilabel::encode(&set));
    }
    let single = "this project takes exactly one label per item (a multi-label project, multi_label = true in hifi.toml, takes several or none)";
    let Some(label) = given.filter(|_| !none) else {
        bail!("item {shown_id}: --none records an empty label set, but {single}");
    };
    if cfg.label_index(label).is_none() {
        if label.contains(',') || label.trim_start().starts_with('[') {
            bail!("item {shown_id}: several labels given ({}), but {single}", inert(label, false));
        }
        return Err(super::find_cmd::unknown_label(store, cfg, label)?);
    }
    Ok(label.to_string())
}

/// A stored label for people: in a multi-label project the set as `a, c` or `(none)`.
fn shown_label(cfg: &Config, label: &str) -> String {
    if cfg.multi_label {
        inert(&hifi::multilabel::display(label), false)
    } else {
        inert(label, false)
    }
}

/// Record `label` from the command line: a revisit when `annotator` already decided the item
/// (it replaces their newest decision, and clears their flag). Returns the event it revises.
fn cli_label(
    store: &mut Store,
    item: i64,
    annotator: &str,
    label: &str,
    note: Option<String>,
) -> Result<Option<i64>> {
    let revises = store.newest_decision(item, annotator)?.map(|e| e.id);
    store.annotate_from(
        &Annotation {
            item,
            annotator: annotator.to_string(),
            kind: AnnotationKind::Label,
            label: Some(label.to_string()),
            note,
            suggestion: Some(false),
        },
        &Provenance { origin: Some("cli".into()), revises },
    )?;
    Ok(revises)
}

/// `hifi label ITEM --flag [LABEL]` and `hifi label ITEM --unflag`.
fn flag(cfg: &Config, store: &mut Store, a: &LabelArgs, annotator: &str) -> Result<()> {
    let Some(id) = &a.item else { bail!("give the ITEM_ID to flag or unflag") };
    let item = store.item_by_id(id)?.ok_or_else(|| {
        anyhow::anyhow!(
            "no item with id {:?}; `hifi find WORDS` searches the texts and ids",
            inert(id, false)
        )
    })?;
    let who = inert(annotator, false);
    let shown_id = inert(id, false);
    let state = store.item_state(item.key)?;
    let mine = state.flagged_by.iter().any(|w| w == annotator);
    let event = |kind, label: Option<String>, note: Option<String>| Annotation {
        item: item.key,
        annotator: annotator.to_string(),
        kind,
        label,
        note,
        suggestion: Some(false),
    };
    if a.unflag {
        if !mine {
            let others = if state.flagged_by.is_empty() {
                String::new()
            } else {
                let names: Vec<String> = state.flagged_by.iter().map(|w| inert(w, false)).collect();
                format!(" (flagged by {}: each withdraws their own flag)", names.join(", "))
            };
            bail!("{who} has no flag standing on {shown_id}: nothing to unflag{others}");
        }
        store.annotate_from(
            &event(AnnotationKind::Unflag, None, a.note.clone()),
            &Provenance::from("cli"),
        )?;
        println!("{who} unflagged {shown_id}");
        return Ok(());
    }
    let tentative_label = if a.label.is_some() || a.none {
        Some(decision_label(cfg, store, id, a.label.as_deref(), a.none)?)
    } else {
        None
    };
    if mine {
        bail!(
            "{who}'s flag already stands on {shown_id}; `hifi label {shown_id} --unflag` withdraws it"
        );
    }
    store.annotate_from(
        &event(AnnotationKind::Flag, None, a.note.clone()),
        &Provenance::from("cli"),
    )?;
    // A label given with the flag is its tentative label: recorded after it, not a revisit,
    // so the flag stands.
    let tentative = match &tentative_label {
        Some(l) => {
            store.annotate_from(
                &event(AnnotationKind::Label, Some(l.clone()), None),
                &Provenance::from("cli"),
            )?;
            format!(" (tentatively {})", shown_label(cfg, l))
        }
        None => String::new(),
    };
    println!(
        "{who} flagged {shown_id}{tentative}; `hifi find --flagged` lists flagged items, `hifi label {shown_id} --unflag` withdraws it"
    );
    Ok(())
}

/// `hifi label --stdin`: one decision per line, each committed before it is acknowledged.
fn label_stdin(cfg: &Config, store: &mut Store, annotator: &str) -> Result<()> {
    use std::io::{BufRead, Write};
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    let mut bad = 0usize;
    for (n, line) in stdin.lock().lines().enumerate() {
        let n = n + 1;
        let line = line.with_context(|| format!("standard input, line {n}"))?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let result: Result<String> = (|| {
            if line == "undo" || line == "redo" {
                let ev =
                    if line == "undo" { store.undo(annotator)? } else { store.redo(annotator)? };
                return Ok(match ev {
                    Some(e) => format!("{line} {}", e.label.as_deref().unwrap_or("")),
                    None => format!("{line} nothing"),
                });
            }
            let (id, label, note) = if cfg.multi_label {
                stdin_set_line(line)
            } else {
                let mut parts = line.splitn(3, char::is_whitespace);
                (parts.next(), parts.next(), parts.next())
            };
            let (Some(id), Some(label)) = (id, label) else {
                bail!("expected `ITEM_ID LABEL [NOTE]`, `undo` or `redo`")
            };
            let label = if cfg.multi_label {
                decision_label(cfg, store, id, Some(label), false)?
            } else {
                if cfg.label_index(label).is_none() {
                    if label.contains(',') || label.starts_with('[') {
                        bail!(
                            "item {}: several labels given ({}), but this project takes exactly one label per item (a multi-label project, multi_label = true in hifi.toml, takes several or none)",
                            inert(id, false),
                            inert(label, false)
                        );
                    }
                    bail!(
                        "unknown label {:?}; the project's labels are {}",
                        inert(label, false),
                        cfg.label_names().join(", ")
                    );
                }
                label.to_string()
            };
            let item = store
                .item_by_id(id)?
                .ok_or_else(|| anyhow::anyhow!("no item with id {:?}", inert(id, false)))?;
            let note = note.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
            cli_label(store, item.key, annotator, &label, note)?;
            Ok(format!("{} {label}", inert(id, false)))
        })();
        match result {
            Ok(what) => {
                writeln!(out, "ok {n} {what}")?;
                out.flush()?;
            }
            Err(e) => {
                bad += 1;
                eprintln!("standard input, line {n}: {e:#}");
            }
        }
    }
    if bad > 0 {
        bail!("{bad} line(s) were not recorded (see above)");
    }
    Ok(())
}

/// A `--stdin` line of a multi-label project split into id, label set and note: the set is a
/// JSON list (which may hold spaces) or one word (`a,c`).
fn stdin_set_line(line: &str) -> (Option<&str>, Option<&str>, Option<&str>) {
    let mut parts = line.splitn(2, char::is_whitespace);
    let id = parts.next();
    let rest = parts.next().unwrap_or_default().trim_start();
    if rest.is_empty() {
        return (id, None, None);
    }
    if rest.starts_with('[') {
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<serde_json::Value>();
        if let Some(Ok(_)) = values.next() {
            let end = values.byte_offset();
            return (id, Some(&rest[..end]), Some(&rest[end..]));
        }
    }
    let mut words = rest.splitn(2, char::is_whitespace);
    (id, words.next(), words.next())
}

fn review(project: &Path, a: &ReviewArgs) -> Result<()> {
    hifi::tui::run(hifi::tui::ReviewOptions {
        project: project.to_path_buf(),
        annotator: a.annotator.clone().unwrap_or_else(pipeline::default_annotator),
        theme: a.theme.clone(),
    })
}

/// What a responses export left out and what to look at, on stderr.
fn response_notes(left_out: &[String], leaked: &[String], unreviewed: usize) {
    if !left_out.is_empty() {
        eprintln!("left out: {}", left_out.join(", "));
    }
    if !leaked.is_empty() {
        let ids: Vec<String> = leaked.iter().map(|i| inert(i, false)).collect();
        eprintln!(
            "note: the near-duplicates of eval items (`hifi report` lists the pairs): {}",
            ids.join(", ")
        );
    }
    if unreviewed > 0 {
        eprintln!(
            "note: {unreviewed} items with candidate responses are not judged yet (`hifi responses list ITEM`)"
        );
    }
}

fn status(project: &Path, a: &StatusArgs) -> Result<()> {
    let (cfg, mut store) = open(project)?;
    hifi::curate::split::assign_splits(&mut store, &cfg)?;
    let mut s = status_json(&store)?;
    let runs_on = runs_on(&cfg, project);
    s["runs_on"] = runs_on.0;
    if a.json {
        println!("{}", hifi::text::json_to_string(&s, true));
        return Ok(());
    }
    println!("project   {}", inert(&project.display().to_string(), false));
    println!("task      {}", inert(&cfg.task, false));
    println!("labels    {}", cfg.label_names().join(", "));
    for l in runs_on.1 {
        println!("{}", inert(&l, false));
    }
    for l in hifi::store::StatusVersions::from_status_json(&s).lines() {
        println!("{}", inert(&l, false));
    }
    println!("items     {} ({} with gold labels)", s["items"], s["items_with_gold"]);
    for m in s["predictions"].as_array().into_iter().flatten() {
        println!(
            "predicted {} by model {} ({})",
            m["count"],
            inert(m["fingerprint"].as_str().unwrap_or(""), false),
            inert(m["model"].as_str().unwrap_or(""), false)
        );
    }
    for e in s["embeddings"].as_array().into_iter().flatten() {
        println!(
            "embedded  {} × {} dims ({})",
            e["count"],
            e["dim"],
            inert(e["model"].as_str().unwrap_or(""), false)
        );
    }
    println!("queue     {} entries", s["queue"]);
    if s["responses"]["candidates"].as_i64().unwrap_or(0) > 0 {
        println!(
            "responses {} candidates of {} items; expert edits: {}, judgement events: {}",
            s["responses"]["candidates"],
            s["responses"]["items"],
            s["responses"]["revisions"],
            s["responses"]["events"]
        );
    }
    println!("labels by annotator:");
    for (name, n) in s["annotations_by_annotator"].as_object().into_iter().flatten() {
        println!("  {:<16} {n}", inert(name, false));
    }
    println!(
        "split     {} train, {} eval ({} audit), {} need adjudication",
        s["split"]["train"], s["split"]["eval"], s["split"]["audit"], s["conflicts"]
    );
    let since = hifi::rounds::SinceRound::of(&store)?;
    let due = if since.due() { "; a round is due: `hifi round`" } else { "" };
    match since.round {
        Some(r) => println!(
            "rounds    {}, {} labeled items new since round {r}{due}",
            s["rounds"], since.labels
        ),
        None if since.due() => println!("rounds    0, {} labeled items{due}", since.labels),
        None => println!(
            "rounds    0, {} labeled items; the first round is due at {}",
            since.labels,
            hifi::rounds::FIRST_ROUND_DUE
        ),
    }
    Ok(())
}

/// Where the model runs (`hifi status`): the JSON and the lines to print.
fn runs_on(cfg: &Config, project: &Path) -> (serde_json::Value, Vec<String>) {
    if cfg.backend.kind == hifi::config::BackendKind::Openai {
        let on = cfg.backend.describe(cfg.backend.model.as_deref());
        return (
            serde_json::json!({"runs_on": "server", "backend": on}),
            vec![format!("runs on   {on}")],
        );
    }
    let p =
        hifi::llm::device::describe_setting(cfg.model.gpu_layers, Some(&cfg.model_path(project)));
    let mut lines = vec![match p.gpu {
        Some(_) => format!("runs on   {}", p.describe()),
        None if !hifi::llm::device::CUDA_BUILD => {
            format!("runs on   CPU, {} threads (this hifi is built without CUDA)", cfg.threads())
        }
        None => format!(
            "runs on   CPU, {} threads (gpu_layers = {})",
            cfg.threads(),
            cfg.model.gpu_layers
        ),
    }];
    lines.extend(p.note.iter().map(|n| format!("          {n}")));
    (p.to_json(), lines)
}

/// The numbers `hifi status --json` prints.
pub fn status_json(store: &Store) -> Result<serde_json::Value> {
    let s = store.status()?;
    let v = store.status_versions()?;
    let (_, conflicts) = store.resolved_labels()?;
    let by_annotator: serde_json::Map<String, serde_json::Value> =
        s.annotations_by_annotator.iter().map(|(a, n)| (a.clone(), serde_json::json!(n))).collect();
    Ok(serde_json::json!({
        "items": s.items,
        "items_with_gold": s.items_with_gold,
        "predictions": s.predictions,
        "embeddings": s.embeddings,
        "queue": s.queue,
        "responses": {"candidates": s.responses.candidates, "items": s.responses.items, "revisions": s.responses.revisions, "events": s.responses.events},
        "annotation_events": s.annotation_events,
        "annotations_by_annotator": by_annotator,
        "labeled_items": s.labeled_items,
        "split": {"train": s.train, "eval": s.eval, "audit": s.audit},
        "conflicts": conflicts.len(),
        "rounds": s.rounds,
        "labels_since_round": hifi::rounds::SinceRound::of(store)?,
        "schema_version": store.schema_version()?,
        "label_set": v.label_set,
        "guidelines": v.guidelines,
        "stale_predictions": v.stale_predictions,
        "unindexed_items": v.unindexed_items,
    }))
}

/// Texts for a benchmark: the `text` field of the first `n` rows of `file`.
fn bench_texts(file: &Path, n: usize) -> Result<Vec<String>> {
    let fmt = hifi::io::Format::from_path(file)
        .with_context(|| format!("{}: unknown format", file.display()))?;
    let mut out = Vec::new();
    let mut problems = hifi::io::Problems::default();
    hifi::io::records::read_records(file, fmt, &mut problems, |r, _| {
        if out.len() < n {
            if let Some(serde_json::Value::String(t)) = r.fields.get("text") {
                out.push(t.clone());
            }
        }
    })
    .with_context(|| format!("{}: cannot read", file.display()))?;
    if out.is_empty() {
        bail!("{}: no texts to benchmark with", file.display());
    }
    Ok(out)
}

/// The project's config, or one made from a labels file when not inside a project.
fn bench_config(project: &Path, labels: &Path) -> Result<Config> {
    if project.join(CONFIG_FILE).exists() {
        return Ok(Config::load(project)?);
    }
    let f = LabelsFile::load(labels)?;
    Ok(Config {
        prompt: PromptConfig {
            item_noun: f.item_noun.unwrap_or_else(|| "text".into()),
            ..PromptConfig::default()
        },
        ..Config::new(f.task.unwrap_or_else(|| "Choose the label that fits.".into()), f.labels)
    })
}

/// `hifi bench …`: each measures against a baseline taken in the same run.
fn bench(project: &Path, b: BenchCommand) -> Result<()> {
    match b {
        BenchCommand::Prelabel(a) => bench_prelabel(project, a),
        BenchCommand::Embed(a) => bench_embed(project, a),
        BenchCommand::Train(a) => bench_train(project, a),
        BenchCommand::Mine(a) => super::mine_cmd::run_bench(&a),
        BenchCommand::Tui(a) => bench_tui(a),
        BenchCommand::Find(a) => bench_find(a),
        BenchCommand::Import(a) => bench_import(a),
    }
}

/// `hifi bench prelabel`: in process against raw prefill and a generate-and-parse loop, or
/// against an OpenAI-compatible server at several requests in flight.
fn bench_prelabel(
    project: &Path,
    BenchPrelabelArgs { llm: a, backend }: BenchPrelabelArgs,
) -> Result<()> {
    let mut cfg = bench_config(project, &a.input.labels)?;
    cfg.model.batch_items = a.batch_items.unwrap_or(cfg.model.batch_items);
    cfg.model.kv_cache = a.kv_cache.unwrap_or(cfg.model.kv_cache);
    cfg.model.gpu_layers = a.input.engine.gpu_layers.unwrap_or(cfg.model.gpu_layers);
    let texts = bench_texts(&a.input.data, a.items)?;
    let model = a.input.engine.model.clone().unwrap_or_else(|| cfg.model_path(project));
    let threads = a.input.engine.threads.unwrap_or_else(|| cfg.threads());
    let server = backend.overrides().resolve(&cfg.backend)?;
    if server.kind == hifi::config::BackendKind::Openai {
        eprintln!(
            "bench prelabel: {} texts, local {threads} threads vs openai:{} on {} server(s), {}",
            texts.len(),
            inert(server.model.as_deref().unwrap_or_default(), false),
            server.urls.len(),
            inert(&model.display().to_string(), false)
        );
        let r = hifi::bench::prelabel_http(&cfg, &model, &server, threads, &texts)?;
        if a.json {
            println!("{}", hifi::text::json_to_string(&r, true));
        } else {
            println!(
                "local             {:>7.2} items/s  ({} threads, {} KV cache)",
                r.local_items_per_s, r.threads, r.local_kv_cache
            );
            for run in &r.runs {
                println!(
                    "openai {} server{} {:>3} in flight {:>7.2} items/s  {:>6.2}× local",
                    run.servers,
                    if run.servers == 1 { " " } else { "s" },
                    run.in_flight,
                    run.items_per_s,
                    run.ratio_vs_local
                );
            }
            println!(
                    "server vs local: label log-probs differ by {:.3} nats at most ({:.3} mean); top label the same for {:.0}% of items",
                    r.max_abs_logprob_diff,
                    r.mean_abs_logprob_diff,
                    100.0 * r.top_label_agreement
                );
        }
        return Ok(());
    }
    eprintln!(
        "bench prelabel: {} texts, {threads} threads, {}",
        texts.len(),
        inert(&model.display().to_string(), false)
    );
    let r = hifi::bench::prelabel(&cfg, &model, threads, &texts)?;
    if a.json {
        println!("{}", hifi::text::json_to_string(&r, true));
    } else {
        println!(
            "ours   {:>7.2} items/s  {:>7.1} prompt tok/s  ({} KV cache, {} items per batch)",
            r.items_per_s, r.prompt_tok_per_s, r.kv_cache, r.batch_items
        );
        println!(
            "raw    {:>7} items/s  {:>7.1} prefill tok/s (engine limit, pp512)",
            "-", r.raw_prefill_tok_per_s
        );
        println!(
            "raw@{:<3} {:>6} items/s  {:>7.1} prefill tok/s (512 tokens after a {}-token prefix)",
            r.prefix_tokens, "-", r.raw_prefill_at_prefix_tok_per_s, r.prefix_tokens
        );
        println!(
            "naive  {:>7.2} items/s  {:>7.1} prompt tok/s  ({:.0}% unparsable)",
            r.naive_items_per_s,
            r.naive_prompt_tok_per_s,
            100.0 * r.naive_unparsable_share
        );
        if let (Some(b1), Some(ratio)) = (r.batch1_items_per_s, r.ratio_vs_batch1) {
            println!("batch 1 {:>5.2} items/s  (one item per batch; ours at {} per batch is {ratio:.2}× it)", b1, r.batch_items);
        }
        if let (Some(sep), Some(ratio)) = (r.separate_items_per_s, r.ratio_vs_separate) {
            println!(
                "separate {:>4.2} items/s  (a KV cache per item; ours is {ratio:.2}× it)",
                sep
            );
        }
        println!(
            "ours/raw {:.2}×   ours/raw@prefix {:.2}×   ours/naive {:.2}× (items/s)",
            r.ratio_vs_raw, r.ratio_vs_raw_at_prefix, r.ratio_vs_naive
        );
        println!("{}", r.multi_label.line());
    }
    Ok(())
}

/// `hifi bench embed`: items/s and tokens/s against raw prefill.
fn bench_embed(project: &Path, a: BenchLlmArgs) -> Result<()> {
    let mut cfg = bench_config(project, &a.input.labels)?;
    cfg.model.batch_items = a.batch_items.unwrap_or(cfg.model.batch_items);
    let texts = bench_texts(&a.input.data, a.items)?;
    let model = a.input.engine.model.clone().unwrap_or_else(|| cfg.embed_model_path(project));
    let threads = a.input.engine.threads.unwrap_or_else(|| cfg.threads());
    let gpu = a.input.engine.gpu_layers.unwrap_or(cfg.model.gpu_layers);
    let r = hifi::bench::embed(&model, threads, gpu, cfg.model.batch_items, &texts)?;
    if a.json {
        println!("{}", hifi::text::json_to_string(&r, true));
    } else {
        println!(
            "ours {:.2} items/s, {:.1} tok/s; raw prefill {:.1} tok/s; ours/raw {:.2}×",
            r.items_per_s, r.tok_per_s, r.raw_prefill_tok_per_s, r.ratio_vs_raw
        );
    }
    Ok(())
}

/// `hifi bench train`: LoRA steps as built against the unshared and stock-matmul baselines.
fn bench_train(project: &Path, a: BenchTrainArgs) -> Result<()> {
    let cfg = bench_config(project, &a.input.labels)?;
    let texts = bench_texts(&a.input.data, a.batch * a.steps)?;
    let model = a.input.engine.model.clone().unwrap_or_else(|| cfg.model_path(project));
    let threads = a.input.engine.threads.unwrap_or_else(|| cfg.threads());
    eprintln!(
        "bench train: {} steps × {} examples per variant, {threads} threads, {}",
        a.steps,
        a.batch,
        inert(&model.display().to_string(), false)
    );
    let r = hifi::bench::train(&cfg, &model, threads, &texts, a.batch, a.steps, !a.no_baselines)?;
    if a.json {
        println!("{}", hifi::text::json_to_string(&r, true));
    } else {
        println!(
                "ours          {:>6.2} s/step  {:>6.2} examples/s  {:>7.1} example tok/s  (prefix {} + ~{:.0} item tokens, {} trainable)",
                r.s_per_step, r.examples_per_s, r.example_tok_per_s, r.prefix_tokens, r.mean_item_tokens, r.trainable_params
            );
        let opt = |v: Option<f64>, unit: &str| v.map_or("-".into(), |v| format!("{v:.2}{unit}"));
        println!(
                "checkpointed  {:>6.2} s/step  peak RSS {} (each block recomputed in the backward pass)",
                r.checkpoint_s_per_step,
                r.checkpoint_peak_rss_mb.map_or("-".into(), |m| format!("{m:.0} MiB"))
            );
        println!(
            "unshared      {:>6} s/step  (every example evaluates the whole prompt)",
            opt(r.unshared_s_per_step, "")
        );
        println!(
            "stock matmul  {:>6} s/step  (frozen weights' gradients computed too)",
            opt(r.stock_matmul_s_per_step, "")
        );
        println!(
            "ours vs unshared {}, vs stock matmul {}; peak RSS (ours) {}",
            opt(r.ratio_vs_unshared, "×"),
            opt(r.ratio_vs_stock_matmul, "×"),
            r.peak_rss_mb.map_or("-".into(), |m| format!("{m:.0} MiB"))
        );
    }
    Ok(())
}

/// `hifi bench tui`: open and render frames on a large generated project.
fn bench_tui(a: BenchTuiArgs) -> Result<()> {
    let r = in_tempdir(|dir| hifi::bench::tui(dir, a.rows, a.frames))?;
    let resp = in_tempdir(|dir| {
        hifi::bench::tui::tui_responses(dir, a.response_items, a.response_chars, a.frames)
    })?;
    let browse = in_tempdir(|dir| hifi::bench::tui::tui_browse(dir, 100_000, 2_000, a.frames))?;
    if a.json {
        let doc = serde_json::json!({"review": r, "responses": resp, "browse": browse});
        println!("{}", hifi::text::json_to_string(&doc, true));
    } else {
        println!(
                "{} items: cold open {:.1} ms; frame p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} frames (empty frame p50 {:.2} ms)",
                r.items, r.cold_open_ms, r.frame_p50_ms, r.frame_p99_ms, r.frame_max_ms, r.frames, r.empty_frame_p50_ms
            );
        for line in resp.lines().into_iter().chain(browse.lines()) {
            println!("{line}");
        }
    }
    Ok(())
}

/// `hifi bench find`: search and filters on a generated project, against the p99 target.
fn bench_find(a: BenchFindArgs) -> Result<()> {
    let r = in_tempdir(|dir| hifi::bench::find(dir, a.rows, a.decided, a.rounds))?;
    if a.json {
        println!("{}", hifi::text::json_to_string(&r, true));
    } else {
        r.lines().iter().for_each(|l| println!("{l}"));
    }
    Ok(())
}

/// `hifi bench import`: rows/s of a generated file, against parsing alone; Parquet against
/// CSV.
fn bench_import(a: BenchImportArgs) -> Result<()> {
    let r = in_tempdir(|dir| hifi::bench::import(dir, a.rows))?;
    if a.json {
        println!("{}", hifi::text::json_to_string(&r, true));
    } else {
        println!(
                "imported {} rows ({:.1} MB) in {:.1}s: {:.0} rows/s, {:.1} MB/s; parse only {:.0} rows/s; import/parse {:.2}×",
                r.rows,
                r.bytes as f64 / 1e6,
                r.seconds,
                r.rows_per_s,
                r.mb_per_s,
                r.parse_only_rows_per_s,
                r.ratio_vs_parse_only
            );
        println!(
            "parquet: the same rows ({:.1} MB, snappy; read only {:.0} rows/s) import at {:.0} rows/s vs CSV {:.0} rows/s (best of three each): parquet/csv {:.2}×",
            r.parquet_bytes as f64 / 1e6,
            r.parquet_parse_only_rows_per_s,
            r.parquet_rows_per_s,
            r.csv_rows_per_s,
            r.parquet_vs_csv
        );
    }
    Ok(())
}

/// Run `f` in a fresh temporary folder that is removed afterwards, whatever `f` returns.
fn in_tempdir<T>(f: impl FnOnce(&Path) -> hifi::error::Result<T>) -> Result<T> {
    let d: PathBuf = std::env::temp_dir().join(format!("hifi-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d).with_context(|| format!("{}: cannot create", d.display()))?;
    let r = f(&d);
    let _ = std::fs::remove_dir_all(&d);
    Ok(r?)
}
