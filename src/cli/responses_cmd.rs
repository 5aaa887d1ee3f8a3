//! `hifi responses`: what the Responses screen's keys do, for scripts and tests. Candidates are
//! numbered from 1 as `hifi responses list ITEM` prints them; accept, reject, score, edit and
//! prefer act on the candidate's newest revision.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;

use hifi::responses::editor::{self, EditOutcome};
use hifi::responses::{candidates, InForce};
use hifi::store::{Judgement, NewResponse, ResponseJudgement, Store, Verdict};
use hifi::text::inert;

#[derive(Debug, Subcommand)]
pub enum ResponsesCommand {
    /// An item's prompt and candidate responses, numbered, with the judgements in force.
    List(ListArgs),
    /// Accept candidate N (its newest revision) as a good response.
    Accept(JudgeArgs),
    /// Reject candidate N, optionally saying why.
    Reject(RejectArgs),
    /// Score candidate N from 1 (bad) to 5 (excellent).
    Score(ScoreArgs),
    /// Fix candidate N in $VISUAL / $EDITOR (vi if neither is set), or from a file: the text
    /// saved becomes a new revision (the original is kept); it counts as accepted by you.
    Edit(EditArgs),
    /// Say candidate N is better than candidate M (or --tie, or --both-bad).
    Prefer(PreferArgs),
    /// Add a candidate response written by an expert.
    Add(AddArgs),
    /// Undo your newest response judgement still in force (an undone edit takes its revision
    /// out of force; the text stays in the store).
    Undo(WhoArgs),
}

#[derive(Debug, Args)]
pub struct WhoArgs {
    /// Who judges (default: $HIFI_ANNOTATOR, else $USER).
    #[arg(long)]
    pub annotator: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// The item's id.
    pub item: String,
    /// Print JSON: the prompt, its earlier turns, and an array of candidates.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct JudgeArgs {
    pub item: String,
    /// The candidate's number (from `hifi responses list`).
    pub n: i64,
    #[command(flatten)]
    pub who: WhoArgs,
}

#[derive(Debug, Args)]
pub struct RejectArgs {
    #[command(flatten)]
    pub target: JudgeArgs,
    /// Why it is rejected.
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct ScoreArgs {
    pub item: String,
    pub n: i64,
    /// 1 (bad) to 5 (excellent).
    #[arg(value_parser = clap::value_parser!(u8).range(1..=5))]
    pub score: u8,
    #[command(flatten)]
    pub who: WhoArgs,
}

#[derive(Debug, Args)]
pub struct EditArgs {
    #[command(flatten)]
    pub target: JudgeArgs,
    /// Take the new text from this file instead of opening the editor ("-": stdin).
    #[arg(long, value_name = "FILE")]
    pub from_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PreferArgs {
    pub item: String,
    /// The better candidate (with --tie / --both-bad: the first of the two).
    pub n: i64,
    /// The other candidate.
    pub m: i64,
    /// Neither is better.
    #[arg(long, conflicts_with = "both_bad")]
    pub tie: bool,
    /// Neither is good.
    #[arg(long)]
    pub both_bad: bool,
    #[command(flatten)]
    pub who: WhoArgs,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    pub item: String,
    /// The response's text ("-": stdin).
    #[arg(long, value_name = "FILE")]
    pub from_file: PathBuf,
    #[command(flatten)]
    pub who: WhoArgs,
}

pub fn run(project: &Path, cmd: ResponsesCommand) -> Result<()> {
    let mut store = Store::open(project)?;
    let shown = Some(json!({"mode": "cli"}));
    let (item_id, annotator, judgement) = match cmd {
        ResponsesCommand::List(a) => return list(&store, &a),
        ResponsesCommand::Undo(w) => {
            let who = annotator(&w);
            match store.undo_response(&who)? {
                Some(e) => {
                    let id = store.item(e.item)?.map(|i| i.id).unwrap_or_default();
                    println!("undid {} on {}", e.kind.as_str(), inert(&id, false));
                }
                None => println!("nothing to undo for {}", inert(&who, false)),
            }
            return Ok(());
        }
        ResponsesCommand::Add(a) => {
            let key = item_key(&store, &a.item)?;
            let text = read_text(&a.from_file)?;
            let who = annotator(&a.who);
            let n = store.add_responses(
                key,
                &[NewResponse {
                    text,
                    source: "expert".into(),
                    origin: Some(json!({"annotator": who})),
                }],
            )?;
            println!("added candidate {} to {}", n[0], inert(&a.item, false));
            return Ok(());
        }
        ResponsesCommand::Accept(a) => {
            (a.item, annotator(&a.who), Judgement::Accept { number: a.n })
        }
        ResponsesCommand::Reject(a) => (
            a.target.item,
            annotator(&a.target.who),
            Judgement::Reject { number: a.target.n, reason: a.reason },
        ),
        ResponsesCommand::Score(a) => {
            (a.item, annotator(&a.who), Judgement::Score { number: a.n, score: a.score })
        }
        ResponsesCommand::Prefer(a) => {
            let verdict = if a.tie {
                Verdict::Tie
            } else if a.both_bad {
                Verdict::BothBad
            } else {
                Verdict::Better
            };
            (a.item, annotator(&a.who), Judgement::Prefer { first: a.n, second: a.m, verdict })
        }
        ResponsesCommand::Edit(a) => {
            let key = item_key(&store, &a.target.item)?;
            let revs = store.revisions(key)?;
            let cands = candidates(&revs);
            let c = cands.iter().find(|c| c.number == a.target.n).ok_or_else(|| {
                anyhow!(
                    "no candidate {} of {} (it has {})",
                    a.target.n,
                    inert(&a.target.item, false),
                    cands.len()
                )
            })?;
            let outcome = match &a.from_file {
                Some(f) => {
                    let t = read_text(f)?;
                    if t.trim().is_empty() {
                        EditOutcome::Empty
                    } else if t == c.newest.text {
                        EditOutcome::Unchanged
                    } else {
                        EditOutcome::Changed(t)
                    }
                }
                None => editor::edit(&c.newest.text, project)
                    .with_context(|| format!("editing in {}", project.display()))?,
            };
            match outcome {
                EditOutcome::Changed(text) => (
                    a.target.item,
                    annotator(&a.target.who),
                    Judgement::Edit { number: a.target.n, text },
                ),
                EditOutcome::Failed(why) => bail!("{why}: nothing saved"),
                other => {
                    println!("{}", other.nothing_saved().unwrap_or_default());
                    return Ok(());
                }
            }
        }
    };
    let key = item_key(&store, &item_id)?;
    let what = describe(&judgement);
    let event = store.judge_response(&ResponseJudgement {
        item: key,
        annotator: annotator.clone(),
        judgement,
        shown,
    })?;
    println!(
        "{what} on {} by {} (event {event})",
        inert(&item_id, false),
        inert(&annotator, false)
    );
    Ok(())
}

fn describe(j: &Judgement) -> String {
    match j {
        Judgement::Accept { number } => format!("accepted candidate {number}"),
        Judgement::Reject { number, .. } => format!("rejected candidate {number}"),
        Judgement::Score { number, score } => format!("scored candidate {number}: {score}"),
        Judgement::Edit { number, text } => {
            format!("saved a revision of candidate {number} ({} characters)", text.chars().count())
        }
        Judgement::Prefer { first, second, verdict } => match verdict {
            Verdict::Better => format!("preferred candidate {first} over {second}"),
            Verdict::Tie => format!("candidates {first} and {second} tie"),
            Verdict::BothBad => format!("candidates {first} and {second} are both bad"),
        },
    }
}

fn annotator(w: &WhoArgs) -> String {
    w.annotator.clone().unwrap_or_else(hifi::pipeline::default_annotator)
}

fn item_key(store: &Store, id: &str) -> Result<i64> {
    Ok(store.item_by_id(id)?.ok_or_else(|| anyhow!("no item with id {:?}", inert(id, false)))?.key)
}

fn read_text(path: &Path) -> Result<String> {
    if path == Path::new("-") {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).context("reading stdin")?;
        return Ok(s);
    }
    std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))
}

fn list(store: &Store, a: &ListArgs) -> Result<()> {
    let item = store
        .item_by_id(&a.item)?
        .ok_or_else(|| anyhow!("no item with id {:?}", inert(&a.item, false)))?;
    let revs = store.revisions(item.key)?;
    let events = store.response_events(Some(item.key))?;
    let force = InForce::read(&events, &revs);
    let context = store.item_context(item.key)?;
    let cands = candidates(&revs);
    let rows: Vec<_> = cands
        .iter()
        .map(|c| {
            let decisions: Vec<_> = force
                .decisions
                .iter()
                .filter(|(k, _)| k.0 == item.key && k.2 == c.number)
                .map(|(k, d)| json!({"annotator": k.1, "status": d.status, "edited": d.edited, "reason": d.reason, "revision": d.revision}))
                .collect();
            let scores: Vec<_> = force
                .scores
                .iter()
                .filter(|(k, _)| k.0 == item.key && k.2 == c.number)
                .map(|(k, s)| json!({"annotator": k.1, "score": s}))
                .collect();
            json!({
                "number": c.number,
                "revision": c.newest.id,
                "parent": c.newest.parent,
                "text": c.newest.text,
                "edited": c.edited(),
                "edits": c.edits,
                "original": c.original.text,
                "source": c.original.source,
                "origin": c.original.origin,
                "decisions": decisions,
                "scores": scores,
            })
        })
        .collect();
    if a.json {
        let doc = json!({"id": item.id, "text": item.text, "context": context, "candidates": rows});
        println!("{}", hifi::text::json_to_string(&doc, true));
        return Ok(());
    }
    println!("{}: {}", inert(&item.id, false), inert(&item.text, true));
    if cands.is_empty() {
        println!("  (no candidate responses)");
    }
    for (c, row) in cands.iter().zip(&rows) {
        let judged: Vec<String> = row["decisions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| {
                format!(
                    "{} {}",
                    d["annotator"].as_str().unwrap_or(""),
                    d["status"].as_str().unwrap_or("")
                )
            })
            .collect();
        println!(
            "  {}. [{}{}] {}{}",
            c.number,
            inert(&c.original.source, false),
            if c.edited() { ", edited" } else { "" },
            inert(&c.newest.text, true).chars().take(200).collect::<String>(),
            if judged.is_empty() {
                String::new()
            } else {
                format!("  ({})", inert(&judged.join("; "), false))
            }
        );
    }
    Ok(())
}
