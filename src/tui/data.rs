//! Reads the store into the views the screens show. Runs on the worker thread, never on the
//! UI thread.

use std::collections::{BTreeMap, HashMap};

use super::app::{
    CandidateView, Conflict, DashboardData, EntryView, ItemDetail, ItemView, Job, RespItem,
    SetView, SinceRound,
};
use crate::config::Config;
use crate::error::Result;
use crate::responses::queue::{self, Facts};
use crate::responses::{candidates, InForce};
use crate::rounds::Trainer;
use crate::store::{QueueEntry, ResponseEvent, Split, Store};

fn item_view(
    store: &Store,
    key: i64,
    annotator: &str,
    show_fields: Option<&[String]>,
) -> Result<ItemView> {
    let item = store.item(key)?;
    let (id, text, fields) = item
        .map(|i| {
            let fields = pick_fields(i.fields(), show_fields);
            (i.id, i.text, fields)
        })
        .unwrap_or_else(|| (format!("#{key}"), "(item missing)".into(), Vec::new()));
    let (probs, model_labels) = match store.latest_prediction(key)? {
        Some((m, p)) => (Some(p.probs), m.labels),
        None => (None, Vec::new()),
    };
    let mine = store.current_label(key, annotator)?;
    Ok(ItemView { key, id, text, probs, model_labels, mine, fields })
}

/// The fields `[review] show_fields` asks for: all of them in stored order when unset, else
/// those named that the item has, in the order named (each once).
pub fn pick_fields(
    mut all: Vec<(String, String)>,
    show: Option<&[String]>,
) -> Vec<(String, String)> {
    let Some(names) = show else { return all };
    let mut out = Vec::with_capacity(names.len().min(all.len()));
    for name in names {
        if let Some(i) = all.iter().position(|(k, _)| k == name) {
            out.push(all.swap_remove(i));
        }
    }
    out
}

/// An item with its whole history for Browse, its fields as `show_fields` picks them;
/// `labels` is the current label set (what labels are called now, whether the model's
/// prediction is stale). `None` when there is no such item.
pub fn item_detail(
    store: &Store,
    key: i64,
    labels: &[String],
    show_fields: Option<&[String]>,
) -> crate::store::Result<Option<ItemDetail>> {
    let Some(history) = store.item_history(key, labels)? else { return Ok(None) };
    let fields = pick_fields(history.item.fields(), show_fields);
    Ok(Some(ItemDetail { history, fields }))
}

/// Labels in force per label of `cfg` (current names), in hifi.toml's order. A label set
/// (multi-label projects) counts once for each label in it.
pub fn label_counts(store: &Store, cfg: &Config) -> crate::store::Result<Vec<(String, i64)>> {
    let mut n: HashMap<String, i64> = HashMap::new();
    for (_, _, label) in store.current_labels()? {
        match crate::multilabel::decode(&label) {
            Some(set) => set.into_iter().for_each(|l| *n.entry(l).or_default() += 1),
            None => *n.entry(label).or_default() += 1,
        }
    }
    Ok(cfg.labels.iter().map(|l| (l.name.clone(), n.get(&l.name).copied().unwrap_or(0))).collect())
}

/// What a label-set change did, in one line: "merged a, b into c: label set v3; 12 labels
/// now read c".
pub fn label_change_said(o: &crate::store::LabelChangeOutcome) -> String {
    let v = &o.version;
    let mut out = format!("{}: label set v{}", v.describe(), v.version);
    let n = o.labels_affected;
    let labels = if n == 1 { "1 label".to_string() } else { format!("{n} labels") };
    match (v.kind.as_str(), &v.to) {
        ("rename" | "merge", Some(to)) => out.push_str(&format!("; {labels} now read {to}")),
        ("retire", _) => {
            out.push_str(&format!(
                "; {labels} no longer in force, {} item{} queued for review again",
                o.requeued,
                if o.requeued == 1 { "" } else { "s" }
            ));
        }
        _ => {}
    }
    out
}

/// Claim the annotator's next entry and load it, with the item fields `show_fields` asks for
/// (`[review] show_fields`); also the progress counts and the labels the queue's model has not
/// seen.
pub fn next_entry(
    store: &mut Store,
    annotator: &str,
    show_fields: Option<&[String]>,
) -> Result<(Option<EntryView>, i64, i64, SinceRound)> {
    let entry: Option<QueueEntry> = store.claim_next(annotator)?;
    let view = match entry {
        Some(e) => {
            let a = item_view(store, e.item_a, annotator, show_fields)?;
            let b = e.item_b.map(|k| item_view(store, k, annotator, show_fields)).transpose()?;
            Some(EntryView { entry: e, a, b })
        }
        None => None,
    };
    let (done, total) = store.queue_progress(annotator)?;
    Ok((view, done, total, SinceRound::of(store)?))
}

pub fn conflicts(store: &Store) -> Result<Vec<Conflict>> {
    let (_, items) = store.resolved_labels()?;
    let all = store.current_labels()?;
    let mut by_item: HashMap<i64, Vec<(String, String)>> = HashMap::new();
    for (item, who, label) in all {
        by_item.entry(item).or_default().push((who, label));
    }
    let mut out = Vec::new();
    for key in items {
        let Some(it) = store.item(key)? else { continue };
        out.push(Conflict {
            item: key,
            id: it.id,
            text: it.text,
            labels: by_item.remove(&key).unwrap_or_default(),
        });
    }
    Ok(out)
}

pub fn dashboard(store: &mut Store, cfg: &Config) -> Result<DashboardData> {
    crate::curate::split::assign_splits(store, cfg)?;
    let labels = cfg.label_names();
    let idx = |l: &str| labels.iter().position(|x| x == l);
    let mut per: BTreeMap<String, i64> = BTreeMap::new();
    for (_, who, _) in store.current_labels()? {
        *per.entry(who).or_default() += 1;
    }
    // Agreement as `hifi round` / `hifi report` compute it: Light's kappa between experts, the
    // newest model vs resolved expert labels on eval.
    let show = |a: &crate::rounds::Agreement| {
        (a.n > 0).then(|| {
            (
                a.kappa.map_or_else(
                    || format!("undefined ({})", a.undefined.as_deref().unwrap_or("?")),
                    |k| format!("{k:.3}"),
                ),
                a.n,
            )
        })
    };
    let (expert_kappa, model_kappa, audit) = match store.latest_model()? {
        Some(m) => {
            let s = crate::rounds::score_model_for(store, cfg, m.id, 0)?;
            (show(&s.expert_vs_expert), show(&s.model_vs_expert), audit_lines(&s))
        }
        None => {
            (show(&crate::rounds::project_expert_agreement(store, &labels, 0)?), None, Vec::new())
        }
    };
    // Eval split balance.
    let (resolved, _) = store.resolved_labels()?;
    let splits = store.splits()?;
    let mut balance = vec![0i64; labels.len()];
    let mut train = 0;
    // Multi-label: items whose set holds each label, and items with the empty set.
    let mut none = 0i64;
    for (item, label) in &resolved {
        let split = splits.get(item);
        if cfg.multi_label {
            match (split, crate::multilabel::decode(label)) {
                (Some(Split::Eval), Some(set)) => {
                    set.iter().filter_map(|l| idx(l)).for_each(|i| balance[i] += 1);
                    none += i64::from(set.is_empty());
                }
                (Some(Split::Train), _) => train += 1,
                _ => {}
            }
            continue;
        }
        match (split, idx(label)) {
            (Some(Split::Eval), Some(i)) => balance[i] += 1,
            (Some(Split::Train), _) => train += 1,
            _ => {}
        }
    }
    let mut eval_balance: Vec<(String, i64)> = labels.iter().cloned().zip(balance).collect();
    let mut audit = audit;
    if cfg.multi_label {
        eval_balance.push((NONE_OF_THESE.to_string(), none));
        audit.extend(over_threshold_lines(store, cfg)?);
    }
    let round_rows = store.rounds()?;
    let rounds = round_rows
        .iter()
        .filter_map(|r| Some((r.id as f64, r.scores.as_ref()?["kappa"].as_f64()?)))
        .collect();
    let verdict = if round_rows.is_empty() {
        None
    } else {
        let v = crate::rounds::verdict(store, cfg)?;
        Some(format!(
            "verdict: {}{}",
            v.decision,
            v.rule.map(|r| format!(" ({r})")).unwrap_or_default()
        ))
    };
    let mut simulation: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    let sim = store
        .setting(crate::rounds::SIMULATION_KEY)?
        .and_then(|s| serde_json::from_str::<crate::rounds::SimReport>(&s).ok());
    for r in sim.iter().flat_map(|s| &s.results) {
        let Some(k) = r.kappa else { continue };
        match simulation.iter_mut().find(|(name, _)| *name == r.strategy) {
            Some((_, pts)) => pts.push((r.budget as f64, k)),
            None => simulation.push((r.strategy.clone(), vec![(r.budget as f64, k)])),
        }
    }
    Ok(DashboardData {
        per_annotator: per.into_iter().collect(),
        eval_balance,
        train_size: train,
        expert_kappa,
        model_kappa,
        rounds,
        verdict,
        audit,
        simulation,
    })
}

/// The dashboard's row for eval items whose label set is empty (multi-label projects).
pub const NONE_OF_THESE: &str = "(none)";

/// Multi-label projects: how many items the newest model puts over each label's threshold
/// (its probabilities are independent, one per label), as dashboard lines; none without
/// predictions.
fn over_threshold_lines(store: &Store, cfg: &Config) -> Result<Vec<String>> {
    let Some(model) = store.latest_model()? else { return Ok(Vec::new()) };
    let preds = store.predictions(model.id)?;
    let thresholds = crate::multilabel::thresholds(cfg);
    let mut over = vec![0usize; cfg.labels.len()];
    let mut none = 0usize;
    for p in &preds {
        let mut any = false;
        for (i, l) in cfg.labels.iter().enumerate() {
            let Some(j) = model.labels.iter().position(|m| *m == l.name) else { continue };
            if p.probs.get(j).is_some_and(|&x| x >= thresholds[i]) {
                over[i] += 1;
                any = true;
            }
        }
        none += usize::from(!any);
    }
    let n = preds.len();
    let mut out = vec![format!("model: items over each threshold (of {n})")];
    for ((l, c), t) in cfg.labels.iter().zip(over).zip(&thresholds) {
        out.push(format!("  {} {c} (≥ {t:.2})", l.name));
    }
    out.push(format!("  {NONE_OF_THESE} {none}"));
    Ok(out)
}

/// The audit stratum and the eval labels that were not blind, for the dashboard.
fn audit_lines(s: &crate::rounds::RoundScores) -> Vec<String> {
    let mut out = Vec::new();
    if s.blind.seen + s.blind.unknown > 0 {
        out.push(format!(
            "eval labels seen {} · unknown {} of {}",
            s.blind.seen, s.blind.unknown, s.blind.eval_labels
        ));
    }
    let Some(a) = &s.audit else { return out };
    let ci =
        |c: Option<[f64; 2]>| c.map_or(String::new(), |[lo, hi]| format!(" [{lo:.2}, {hi:.2}]"));
    out.push(format!("audit (random) n = {}", a.n));
    let kappa =
        a.model_vs_expert.kappa.map_or_else(|| "undefined".to_string(), |k| format!("{k:.2}"));
    out.push(format!("  κ {kappa}{}", ci(a.model_vs_expert.kappa_ci)));
    if let Some(x) = a.accuracy {
        out.push(format!("  accuracy {x:.2}{}", ci(a.accuracy_ci)));
    }
    for p in &a.prevalence {
        let model = p.model_share.map_or(String::new(), |m| format!(" model {:.0}%", 100.0 * m));
        out.push(format!(
            "  {} {:.0}% [{:.0}, {:.0}]{model}",
            p.label,
            100.0 * p.share,
            100.0 * p.share_ci[0],
            100.0 * p.share_ci[1]
        ));
    }
    out
}

/// Set `id` (or the newest) with its entries and veto state; `None` when no set exists.
pub fn set_view(store: &Store, id: Option<i64>) -> Result<Option<SetView>> {
    let all = store.selections()?;
    let Some(sel) = id.and_then(|id| all.iter().find(|s| s.id == id)).or(all.last()) else {
        return Ok(None);
    };
    let entries = store.selection_entries(sel.id)?;
    Ok(Some(SetView {
        id: sel.id,
        kind: sel.kind.as_str().into(),
        created_at: sel.created_at.clone(),
        entries,
        all: all.iter().map(|s| s.id).collect(),
    }))
}

/// What the store holds of each stage's work, for the pipeline screen: "1300/1300 ·
/// SmolLM2-135M-Instruct" for prelabel, "138 queued · adaptive" for mine, "round 3 · κ 0.71"
/// for a round. Stages that have left nothing are absent.
///
/// Prelabel and embed also say where their next run goes (`[backend]` in `cfg`): "· runs on
/// local llama.cpp (CPU)" (or the GPU it finds) or "· runs on openai:MODEL (2 servers)".
pub fn pipeline(store: &Store, cfg: &Config) -> Result<Vec<(Job, String)>> {
    let status = store.status()?;
    let items = status.items;
    // A GGUF by its file name; a server's model ("openai:Qwen/Qwen3-0.6B") whole.
    let name = |path: &str| match path.starts_with("openai:") {
        true => path.to_string(),
        false => std::path::Path::new(path)
            .file_stem()
            .map_or_else(|| path.to_string(), |s| s.to_string_lossy().into_owned()),
    };
    // Where the local engine puts the model: "CPU", or "GPU NVIDIA H100 80GB HBM3".
    let device = (cfg.backend.kind == crate::config::BackendKind::Local).then(|| {
        let p = crate::llm::device::describe_setting(
            cfg.model.gpu_layers,
            Some(&cfg.model_path(store.root())),
        );
        p.gpu.map_or_else(
            || "CPU".to_string(),
            |g| format!("GPU {}", crate::text::inert(&g.name, false)),
        )
    });
    let runs_on = |stored: Option<String>, model: Option<&str>| {
        let on = match &device {
            Some(d) => format!("{} ({d})", cfg.backend.describe(model)),
            None => cfg.backend.describe(model),
        };
        match stored {
            Some(s) => format!("{s} · runs on {on}"),
            None => format!("not run yet — runs on {on}; enter to start"),
        }
    };
    let mut out = Vec::new();
    let prelabel = store.prelabel_model()?.map(|(m, n)| {
        let shots = m.few_shot.filter(|k| *k > 0).map_or(String::new(), |k| format!(" · {k}-shot"));
        format!("{n}/{items} · {}{shots}", name(m.model_path.as_deref().unwrap_or(&m.kind)))
    });
    out.push((Job::Prelabel, runs_on(prelabel, cfg.backend.model.as_deref())));
    let embedded =
        status.embeddings.last().map(|e| format!("{}/{items} · {}", e.count, name(&e.model)));
    out.push((Job::Embed, runs_on(embedded, cfg.backend.embedding_model())));
    let queue = store.queue()?;
    if let Some(first) = queue.first() {
        out.push((Job::Mine, format!("{} queued · {}", queue.len(), first.strategy)));
    }
    let rounds = store.rounds()?;
    for (stage, trainer) in [
        (Job::ProbeRound, Trainer::Probe),
        (Job::LoraRound, Trainer::Lora),
        (Job::ZeroShotRound, Trainer::ZeroShot),
    ] {
        let of_stage: Vec<_> =
            rounds.iter().filter(|r| r.trainer.as_deref() == Some(trainer.as_str())).collect();
        let Some(last) = of_stage.last() else { continue };
        let score = match &last.scores {
            Some(s) => s["kappa"]
                .as_f64()
                .map_or_else(|| "κ undefined".to_string(), |k| format!("κ {k:.2}")),
            None => "not scored (interrupted, or still running)".to_string(),
        };
        let more = if of_stage.len() > 1 {
            format!(" · {} rounds", of_stage.len())
        } else {
            String::new()
        };
        out.push((stage, format!("round {} · {score}{more}", last.id)));
    }
    Ok(out)
}

/// The Responses screen's item order for `annotator` ([`crate::responses::queue`]): every item
/// with candidate responses, less those that have all the reviewers they need (for an
/// annotator who has not judged them), `overlap_share` of them needing two.
pub fn responses_queue(store: &Store, annotator: &str, overlap_share: f64) -> Result<Vec<i64>> {
    let items = store.items_with_responses()?;
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let mut queued: HashMap<i64, usize> = HashMap::new();
    for (i, e) in store.queue()?.iter().enumerate() {
        queued.entry(e.item_a).or_insert(i);
        if let Some(b) = e.item_b {
            queued.entry(b).or_insert(i);
        }
    }
    let reviewers = queue::reviewers(&store.response_events(None)?);
    let unqueued: Vec<i64> = items.iter().copied().filter(|k| !queued.contains_key(k)).collect();
    let margins = margins(store, &unqueued)?;
    let mut facts = Vec::with_capacity(items.len());
    for key in items {
        let who = reviewers.get(&key);
        let judged_by_me = who.is_some_and(|w| w.contains(annotator));
        let other_reviewers = who.map_or(0, |w| w.len() - usize::from(judged_by_me));
        // The item's id is read only where it decides anything.
        let needed = if other_reviewers > 0 && !judged_by_me {
            let id = store.item(key)?.map(|i| i.id).unwrap_or_default();
            queue::needed(&id, overlap_share)
        } else {
            1
        };
        let queue_position = queued.get(&key).copied();
        let margin = margins.get(&key).copied();
        facts.push(Facts { key, queue_position, margin, judged_by_me, other_reviewers, needed });
    }
    Ok(queue::order(facts))
}

/// The newest prediction's margin of each of `items` that has one. Read item by item (two
/// statements each, ~40 µs) or, when the pool is small next to `items`, every prediction of each
/// model, newest model first (a few µs a row) — whichever reads less.
fn margins(store: &Store, items: &[i64]) -> Result<HashMap<i64, f64>> {
    let Some(newest) = store.newest_model_id()? else { return Ok(HashMap::new()) };
    let pool = store.item_count()?.max(0) as usize;
    let mut out = HashMap::with_capacity(items.len());
    if pool.saturating_mul(newest.max(1) as usize) < 12 * items.len() {
        let want: std::collections::HashSet<i64> = items.iter().copied().collect();
        for model in (1..=newest).rev() {
            for p in store.predictions(model)? {
                if want.contains(&p.item) {
                    out.entry(p.item).or_insert_with(|| p.top().1);
                }
            }
            if out.len() == want.len() {
                break;
            }
        }
    } else {
        for &key in items {
            if let Some((_, p)) = store.latest_prediction(key)? {
                out.insert(key, p.top().1);
            }
        }
    }
    Ok(out)
}

/// The order, the position of `keep` in it (else 0) and the item there, loaded.
pub fn responses_open(
    store: &Store,
    annotator: &str,
    overlap_share: f64,
    keep: Option<i64>,
) -> Result<(Vec<i64>, usize, Option<RespItem>)> {
    let order = responses_queue(store, annotator, overlap_share)?;
    let pos = keep.and_then(|k| order.iter().position(|x| *x == k)).unwrap_or(0);
    let item = order.get(pos).map(|k| response_item(store, *k, annotator)).transpose()?;
    Ok((order, pos, item))
}

/// One item's prompt, earlier turns and candidates, with `annotator`'s judgements in force.
pub fn response_item(store: &Store, key: i64, annotator: &str) -> Result<RespItem> {
    let (id, prompt) = store
        .item(key)?
        .map(|i| (i.id, i.text))
        .unwrap_or_else(|| (format!("#{key}"), "(item missing)".into()));
    let context = store.item_context(key)?.map(|c| turns(&c)).unwrap_or_default();
    let revisions = store.revisions(key)?;
    let events = store.response_events(Some(key))?;
    let force = InForce::read(&events, &revisions);
    let me = |n: i64| (key, annotator.to_string(), n);
    let candidates = candidates(&revisions)
        .into_iter()
        .map(|c| {
            let d = force.decisions.get(&me(c.number));
            CandidateView {
                number: c.number,
                revision: c.newest.id,
                edited: c.edited(),
                text: c.newest.text,
                status: d.map(|d| d.status),
                by_edit: d.is_some_and(|d| d.edited),
                reason: d.and_then(|d| d.reason.clone()),
                score: force.scores.get(&me(c.number)).copied(),
            }
        })
        .collect();
    let compared = force
        .preferences
        .iter()
        .filter(|((item, who, _), _)| *item == key && who == annotator)
        .map(|((_, _, pair), p)| (*pair, p.outcome))
        .collect();
    Ok(RespItem { key, id, prompt, context, candidates, compared })
}

/// The candidate number of the revision an event judged (the first named, for a preference).
pub fn event_candidate(store: &Store, ev: &ResponseEvent) -> Result<Option<i64>> {
    let Some(rev) = ev.response else { return Ok(None) };
    Ok(store.revision(rev)?.map(|r| r.number))
}

/// Chat turns as (role, text): `{"role": …, "content": …}` objects, content a string or a list
/// of parts with `text`; anything else shown as JSON.
fn turns(context: &serde_json::Value) -> Vec<(String, String)> {
    let Some(list) = context.as_array() else {
        return if context.is_null() {
            Vec::new()
        } else {
            vec![(String::new(), context.to_string())]
        };
    };
    list.iter()
        .map(|m| {
            let role = m.get("role").and_then(|r| r.as_str()).unwrap_or("").to_string();
            let text = match m.get("content") {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Array(parts)) => parts
                    .iter()
                    .map(|p| match p.get("text").and_then(|t| t.as_str()) {
                        Some(t) => t.to_string(),
                        None => p.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
                Some(other) => other.to_string(),
                None => m.to_string(),
            };
            (role, text)
        })
        .collect()
}
