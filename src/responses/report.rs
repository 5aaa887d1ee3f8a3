//! What the experts made of the candidate responses, as numbers (`hifi report`) and as the
//! verdicts the exports write from (`hifi export --format chat-jsonl | dpo-jsonl`, a set's
//! export). Pure functions over what the store holds.
//!
//! The rules, on top of [`InForce`]'s:
//! - a judgement given on a revision whose edit was later undone does not count: the text it
//!   judged is no longer in force ([`counted`]);
//! - a candidate is accepted when at least one annotator's decision in force on it is Accepted
//!   and no annotator's is Rejected; rejected when every decision is Rejected; disputed when
//!   both occur ([`verdicts`]);
//! - an accepted candidate's text is the revision of its newest accepting decision (by the
//!   decision's time): the expert's edit where the newest acceptance was an edit;
//! - a pair of candidates is preferred one way when every annotator's preference in force on
//!   it reads the same; a tie or both-bad when they all say so; disputed otherwise
//!   ([`pair_verdicts`]);
//! - expert-vs-expert agreement is Light's κ (the mean of Cohen's κ over pairs of annotators,
//!   each pair on what both judged), as the label κ is, over the candidates (or pairs) two or
//!   more annotators judged, with a 95% percentile bootstrap interval over them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::Serialize;
use serde_json::Value;

use super::{InForce, Outcome, Status};
use crate::metrics::{bootstrap_ci, light_kappa, Kappa};
use crate::store::{ResponseEvent, Revision};

/// Bootstrap replicates for the intervals (as the rounds' report uses).
pub const REPS: usize = 1000;

/// The judgements of `force` that count: those not given on a revision whose edit was undone.
pub fn counted(force: &InForce, revisions: &[Revision]) -> InForce {
    let dead: HashSet<i64> = revisions.iter().filter(|r| !r.live).map(|r| r.id).collect();
    InForce {
        decisions: force
            .decisions
            .iter()
            .filter(|(_, d)| !dead.contains(&d.revision))
            .map(|(k, d)| (k.clone(), d.clone()))
            .collect(),
        scores: force.scores.clone(),
        preferences: force
            .preferences
            .iter()
            .filter(|(_, p)| !dead.contains(&p.revisions.0) && !dead.contains(&p.revisions.1))
            .map(|(k, p)| (k.clone(), p.clone()))
            .collect(),
    }
}

/// What the experts' decisions say of one candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CandidateStatus {
    Accepted,
    Rejected,
    /// One annotator accepts it, another rejects it.
    Disputed,
}

/// A candidate's verdict over every annotator's decision in force on it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CandidateVerdict {
    pub item: i64,
    pub number: i64,
    pub status: CandidateStatus,
    /// Accepted: the revision of the newest accepting decision (the text to train on);
    /// rejected: of the newest rejecting one; disputed: of the newest decision.
    pub revision: i64,
    /// The event and time of that decision.
    pub event: i64,
    pub at: String,
    /// The annotators with a decision in force on it, by name.
    pub annotators: Vec<String>,
}

/// Every decided candidate's verdict, by (item, number).
pub fn verdicts(force: &InForce) -> BTreeMap<(i64, i64), CandidateVerdict> {
    let mut out: BTreeMap<(i64, i64), CandidateVerdict> = BTreeMap::new();
    let mut statuses: HashMap<(i64, i64), (bool, bool)> = HashMap::new();
    for ((item, who, number), d) in &force.decisions {
        let s = statuses.entry((*item, *number)).or_default();
        match d.status {
            Status::Accepted => s.0 = true,
            Status::Rejected => s.1 = true,
        }
        let v = out.entry((*item, *number)).or_insert_with(|| CandidateVerdict {
            item: *item,
            number: *number,
            status: CandidateStatus::Disputed,
            revision: d.revision,
            event: d.event,
            at: d.at.clone(),
            annotators: Vec::new(),
        });
        v.annotators.push(who.clone());
    }
    for (key, v) in &mut out {
        let (acc, rej) = statuses[key];
        v.status = match (acc, rej) {
            (true, false) => CandidateStatus::Accepted,
            (false, true) => CandidateStatus::Rejected,
            _ => CandidateStatus::Disputed,
        };
        let want = match v.status {
            CandidateStatus::Accepted => Some(Status::Accepted),
            CandidateStatus::Rejected => Some(Status::Rejected),
            CandidateStatus::Disputed => None,
        };
        let newest = force
            .decisions
            .iter()
            .filter(|(k, d)| (k.0, k.2) == *key && want.is_none_or(|s| d.status == s))
            .map(|(_, d)| d)
            .max_by(|a, b| (&a.at, a.event).cmp(&(&b.at, b.event)));
        if let Some(d) = newest {
            v.revision = d.revision;
            v.event = d.event;
            v.at = d.at.clone();
        }
        v.annotators.sort();
    }
    out
}

/// The accepted candidate of `item` whose acceptance is newest (the expert's choice), if any.
pub fn chosen(
    verdicts: &BTreeMap<(i64, i64), CandidateVerdict>,
    item: i64,
) -> Option<&CandidateVerdict> {
    verdicts
        .range((item, i64::MIN)..=(item, i64::MAX))
        .map(|(_, v)| v)
        .filter(|v| v.status == CandidateStatus::Accepted)
        .max_by(|a, b| (&a.at, a.event).cmp(&(&b.at, b.event)))
}

/// What the annotators' preferences say of one pair of candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PairStatus {
    /// Every annotator's preference reads this way.
    Agreed(Outcome),
    /// Annotators' preferences differ.
    Disputed,
}

/// A pair's verdict over every annotator's preference in force on it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairVerdict {
    pub item: i64,
    /// The candidates' numbers, lower first.
    pub pair: (i64, i64),
    pub status: PairStatus,
    /// The revisions the newest preference named, in (lo, hi) order.
    pub revisions: (i64, i64),
    pub event: i64,
    pub at: String,
    pub annotators: Vec<String>,
}

/// A compared pair of one item: (item, (lo, hi)).
pub type PairId = (i64, (i64, i64));

/// Every compared pair's verdict, by (item, (lo, hi)).
pub fn pair_verdicts(force: &InForce) -> BTreeMap<PairId, PairVerdict> {
    let mut out: BTreeMap<PairId, PairVerdict> = BTreeMap::new();
    for ((item, who, pair), p) in &force.preferences {
        let v = out.entry((*item, *pair)).or_insert_with(|| PairVerdict {
            item: *item,
            pair: *pair,
            status: PairStatus::Agreed(p.outcome),
            revisions: p.revisions,
            event: p.event,
            at: p.at.clone(),
            annotators: Vec::new(),
        });
        if v.status != PairStatus::Agreed(p.outcome) {
            v.status = PairStatus::Disputed;
        }
        if (&p.at, p.event) > (&v.at, v.event) {
            v.revisions = p.revisions;
            v.event = p.event;
            v.at = p.at.clone();
        }
        v.annotators.push(who.clone());
    }
    for v in out.values_mut() {
        v.annotators.sort();
    }
    out
}

/// Expert-vs-expert agreement on one kind of judgement.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Agreement {
    /// Candidates (or pairs) two or more annotators judged.
    pub n: usize,
    /// Annotators among them.
    pub annotators: usize,
    /// Share of annotator pairs, over those candidates, that gave the same answer.
    pub agreement: Option<f64>,
    /// Light's κ (Cohen's κ with two annotators).
    pub kappa: Option<f64>,
    /// Its 95% bootstrap interval over the candidates.
    pub kappa_ci: Option<[f64; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undefined: Option<String>,
}

impl Agreement {
    /// `κ 0.600 [0.12, 1.00] (n=10), agreement 80%` or `κ undefined (why; n=3), agreement 100%`.
    pub fn show(&self) -> String {
        let k = match (self.kappa, self.kappa_ci) {
            (Some(k), Some([lo, hi])) => format!("κ {k:.3} [{lo:.2}, {hi:.2}] (n={})", self.n),
            (Some(k), None) => format!("κ {k:.3} (n={})", self.n),
            _ => format!(
                "κ undefined ({}; n={})",
                self.undefined.as_deref().unwrap_or("no items"),
                self.n
            ),
        };
        match self.agreement {
            Some(a) => format!("{k}, agreement {:.0}%", a * 100.0),
            None => k,
        }
    }
}

/// Rows: what each annotator said of one thing (`None`: did not judge it); categories `0..k`.
/// Only rows with two or more answers count.
pub fn agreement(rows: &[Vec<Option<usize>>], k: usize, seed: u64) -> Agreement {
    let shared: Vec<&Vec<Option<usize>>> =
        rows.iter().filter(|r| r.iter().flatten().count() >= 2).collect();
    let raters = shared.first().map_or(0, |r| r.len());
    let annotators = (0..raters).filter(|&c| shared.iter().any(|r| r[c].is_some())).count();
    let light = |ix: &[usize]| -> Kappa {
        let cols: Vec<Vec<Option<usize>>> =
            (0..raters).map(|c| ix.iter().map(|&i| shared[i][c]).collect()).collect();
        light_kappa(&cols, k)
    };
    let all: Vec<usize> = (0..shared.len()).collect();
    let kappa = light(&all);
    let ci = bootstrap_ci(shared.len(), |ix| light(ix).value(), REPS, 0.95, seed);
    let (mut same, mut pairs) = (0usize, 0usize);
    for r in &shared {
        let given: Vec<usize> = r.iter().flatten().copied().collect();
        for (i, a) in given.iter().enumerate() {
            for b in &given[i + 1..] {
                pairs += 1;
                same += usize::from(a == b);
            }
        }
    }
    Agreement {
        n: shared.len(),
        annotators,
        agreement: (pairs > 0).then(|| same as f64 / pairs as f64),
        kappa: kappa.value(),
        kappa_ci: ci.map(|(a, b)| [a, b]),
        undefined: kappa.reason().map(str::to_string),
    }
}

/// How the candidates of one source (or one set) fared.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Rates {
    /// The source (`import`, `limo`, `self-train`, `expert`, …) or the set's id.
    pub key: String,
    /// Candidates with a decision in force.
    pub n: usize,
    /// Accepted as the candidate came.
    pub accepted: usize,
    /// Accepted after an expert edited it (the text in force is an edit).
    pub edited: usize,
    pub rejected: usize,
    /// Accepted by one annotator, rejected by another.
    pub disputed: usize,
}

impl Rates {
    /// `n=6: accepted as-is 3 (50%), after an edit 1 (17%), rejected 2 (33%)`.
    pub fn show(&self) -> String {
        let pct = |x: usize| if self.n == 0 { 0.0 } else { 100.0 * x as f64 / self.n as f64 };
        let mut s = format!(
            "n={}: accepted as-is {} ({:.0}%), after an edit {} ({:.0}%), rejected {} ({:.0}%)",
            self.n,
            self.accepted,
            pct(self.accepted),
            self.edited,
            pct(self.edited),
            self.rejected,
            pct(self.rejected)
        );
        if self.disputed > 0 {
            s.push_str(&format!(", disputed {} ({:.0}%)", self.disputed, pct(self.disputed)));
        }
        s
    }
}

/// The responses section of `hifi report`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ResponsesReport {
    /// Candidates with a decision in force, and the items they belong to.
    pub candidates: usize,
    pub items: usize,
    /// Annotators with any judgement in force.
    pub annotators: Vec<String>,
    /// Accept/reject over candidates two or more annotators decided.
    pub decisions: Agreement,
    /// Preferences (lo better / hi better / tie / both bad) over pairs two or more compared.
    pub preferences: Agreement,
    /// Pairs compared (by anyone).
    pub pairs: usize,
    /// Per source of the original (import, limo, self-train, expert, …).
    pub by_source: Vec<Rates>,
    /// Per set that added the candidates (`origin.selection`), when any did.
    pub by_set: Vec<Rates>,
}

/// The set a candidate's original came from, when a set build added it.
fn set_of(origin: Option<&Value>) -> Option<String> {
    match origin?.get("selection")? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        v => Some(v.to_string()),
    }
}

/// Everything `hifi report` says of the responses, from every revision and event.
pub fn report(revisions: &[Revision], events: &[ResponseEvent], seed: u64) -> ResponsesReport {
    let force = counted(&InForce::read(events, revisions), revisions);
    let originals: HashMap<(i64, i64), &Revision> =
        revisions.iter().filter(|r| r.parent.is_none()).map(|r| ((r.item, r.number), r)).collect();
    let mut annotators: BTreeSet<String> = BTreeSet::new();
    annotators.extend(force.decisions.keys().map(|k| k.1.clone()));
    annotators.extend(force.scores.keys().map(|k| k.1.clone()));
    annotators.extend(force.preferences.keys().map(|k| k.1.clone()));
    let names: Vec<String> = annotators.into_iter().collect();
    let col: HashMap<&str, usize> =
        names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();

    // Accept (0) / reject (1), one row per candidate.
    let mut rows: BTreeMap<(i64, i64), Vec<Option<usize>>> = BTreeMap::new();
    for ((item, who, number), d) in &force.decisions {
        let row = rows.entry((*item, *number)).or_insert_with(|| vec![None; names.len()]);
        row[col[who.as_str()]] = Some(usize::from(d.status == Status::Rejected));
    }
    let decisions = agreement(&rows.values().cloned().collect::<Vec<_>>(), 2, seed);
    let mut pair_rows: BTreeMap<PairId, Vec<Option<usize>>> = BTreeMap::new();
    for ((item, who, pair), p) in &force.preferences {
        let row = pair_rows.entry((*item, *pair)).or_insert_with(|| vec![None; names.len()]);
        row[col[who.as_str()]] = Some(match p.outcome {
            Outcome::Lo => 0,
            Outcome::Hi => 1,
            Outcome::Tie => 2,
            Outcome::BothBad => 3,
        });
    }
    let preferences = agreement(&pair_rows.values().cloned().collect::<Vec<_>>(), 4, seed);

    let mut by_source: BTreeMap<String, Rates> = BTreeMap::new();
    let mut by_set: BTreeMap<String, Rates> = BTreeMap::new();
    let all = verdicts(&force);
    for (key, v) in &all {
        let Some(original) = originals.get(key) else { continue };
        let mut keys = vec![(&mut by_source, original.source.clone())];
        if let Some(set) = set_of(original.origin.as_ref()) {
            keys.push((&mut by_set, set));
        }
        for (map, k) in keys {
            let r = map.entry(k.clone()).or_insert_with(|| Rates { key: k, ..Rates::default() });
            r.n += 1;
            match v.status {
                CandidateStatus::Accepted if v.revision != original.id => r.edited += 1,
                CandidateStatus::Accepted => r.accepted += 1,
                CandidateStatus::Rejected => r.rejected += 1,
                CandidateStatus::Disputed => r.disputed += 1,
            }
        }
    }
    ResponsesReport {
        candidates: all.len(),
        items: all.keys().map(|k| k.0).collect::<BTreeSet<_>>().len(),
        annotators: names,
        decisions,
        preferences,
        pairs: pair_rows.len(),
        by_source: by_source.into_values().collect(),
        by_set: by_set.into_values().collect(),
    }
}

/// The lines `hifi report` prints for `r`.
pub fn lines(r: &ResponsesReport) -> Vec<String> {
    let n = |x: usize, one: &str, many: &str| format!("{x} {}", if x == 1 { one } else { many });
    let mut out = vec![format!(
        "responses: {} of {} decided, by {}",
        n(r.candidates, "candidate", "candidates"),
        n(r.items, "item", "items"),
        n(r.annotators.len(), "annotator", "annotators")
    )];
    out.push(if r.decisions.n == 0 {
        "  accept/reject   expert vs expert: no candidate decided by two annotators yet".into()
    } else {
        format!("  accept/reject   expert vs expert {}", r.decisions.show())
    });
    out.push(if r.preferences.n == 0 {
        format!(
            "  preferences     expert vs expert: no pair compared by two annotators yet ({} pairs compared)",
            r.pairs
        )
    } else {
        format!("  preferences     expert vs expert {}", r.preferences.show())
    });
    for (title, rates) in [("by source", &r.by_source), ("by set", &r.by_set)] {
        if rates.is_empty() {
            continue;
        }
        out.push(format!("  {title}:"));
        for x in rates {
            out.push(format!("    {:<14} {}", crate::text::inert(&x.key, false), x.show()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ResponseKind, Verdict};

    fn rev(id: i64, item: i64, number: i64, parent: Option<i64>, source: &str) -> Revision {
        Revision {
            id,
            item,
            number,
            parent,
            text: format!("text {id}"),
            source: source.into(),
            origin: None,
            annotator: None,
            created_at: String::new(),
            live: true,
        }
    }

    struct Log(Vec<ResponseEvent>);

    impl Log {
        fn push(&mut self, item: i64, who: &str, kind: ResponseKind, response: i64) -> i64 {
            let id = self.0.len() as i64 + 1;
            self.0.push(ResponseEvent {
                id,
                item,
                annotator: who.into(),
                kind,
                response: Some(response),
                other: None,
                verdict: None,
                score: None,
                reason: None,
                shown: None,
                supersedes: None,
                created_at: format!("2025-01-01T00:00:{id:02}Z"),
            });
            id
        }
        fn prefer(&mut self, item: i64, who: &str, a: i64, b: i64, v: Verdict) {
            let id = self.push(item, who, ResponseKind::Prefer, a);
            let e = &mut self.0[id as usize - 1];
            e.other = Some(b);
            e.verdict = Some(v);
        }
    }

    /// Ten items with one candidate each (revision id = item); `a` and `b` decide every one.
    /// Worked by hand: the table (rows a, columns b) is accept/accept 4, accept/reject 1,
    /// reject/accept 1, reject/reject 4; Po = 8/10 = 0.8; a and b each accept 5 of 10, so
    /// Pe = 0.5·0.5 + 0.5·0.5 = 0.5; κ = (0.8 − 0.5)/(1 − 0.5) = 0.6.
    #[test]
    fn accept_reject_kappa_checked_by_hand() {
        let revs: Vec<Revision> = (1..=10).map(|i| rev(i, i, 1, None, "import")).collect();
        let mut log = Log(Vec::new());
        let a = "AAAAARRRRR";
        let b = "AAAARARRRR";
        for (i, (x, y)) in a.chars().zip(b.chars()).enumerate() {
            let item = i as i64 + 1;
            for (who, c) in [("a", x), ("b", y)] {
                let kind = if c == 'A' { ResponseKind::Accept } else { ResponseKind::Reject };
                log.push(item, who, kind, item);
            }
        }
        let r = report(&revs, &log.0, 7);
        assert_eq!((r.decisions.n, r.decisions.annotators), (10, 2));
        assert!((r.decisions.kappa.unwrap() - 0.6).abs() < 1e-12, "{:?}", r.decisions);
        assert!((r.decisions.agreement.unwrap() - 0.8).abs() < 1e-12);
        let [lo, hi] = r.decisions.kappa_ci.unwrap();
        assert!(lo < 0.6 && 0.6 < hi && hi <= 1.0, "{lo} {hi}");
        // Same seed, same interval.
        assert_eq!(report(&revs, &log.0, 7).decisions, r.decisions);
        // Every candidate is decided; 4 accepted by both, 4 rejected by both, 2 disputed.
        assert_eq!(
            r.by_source,
            vec![Rates {
                key: "import".into(),
                n: 10,
                accepted: 4,
                edited: 0,
                rejected: 4,
                disputed: 2
            }]
        );
        assert!(lines(&r)[1].contains("κ 0.600 ["), "{:?}", lines(&r));
    }

    #[test]
    fn an_edit_accepts_the_expert_text_and_counts_as_after_an_edit() {
        let mut revs = vec![rev(1, 1, 1, None, "limo"), rev(2, 1, 2, None, "limo")];
        revs[0].origin = Some(serde_json::json!({"selection": 4}));
        revs.push(rev(3, 1, 1, Some(1), "expert"));
        let mut log = Log(Vec::new());
        log.push(1, "a", ResponseKind::Accept, 1);
        log.push(1, "b", ResponseKind::Edit, 3);
        log.push(1, "a", ResponseKind::Reject, 2);
        let force = InForce::read(&log.0, &revs);
        let v = verdicts(&force);
        let one = &v[&(1, 1)];
        assert_eq!((one.status, one.revision), (CandidateStatus::Accepted, 3));
        assert_eq!(one.annotators, ["a", "b"]);
        assert_eq!(v[&(1, 2)].status, CandidateStatus::Rejected);
        assert_eq!(chosen(&v, 1).map(|c| c.number), Some(1));
        let r = report(&revs, &log.0, 0);
        assert_eq!(
            r.by_source[0],
            Rates { key: "limo".into(), n: 2, edited: 1, rejected: 1, ..Rates::default() }
        );
        assert_eq!(r.by_set, vec![Rates { key: "4".into(), n: 1, edited: 1, ..Rates::default() }]);
        // Candidate 1: a and b both accept it (one by editing): they agree.
        assert_eq!((r.decisions.n, r.decisions.agreement), (1, Some(1.0)));
    }

    #[test]
    fn a_judgement_of_an_undone_edit_does_not_count() {
        let mut revs = vec![rev(1, 1, 1, None, "import"), rev(2, 1, 1, Some(1), "expert")];
        revs[1].live = false;
        let mut log = Log(Vec::new());
        log.push(1, "b", ResponseKind::Accept, 2);
        let force = counted(&InForce::read(&log.0, &revs), &revs);
        assert!(verdicts(&force).is_empty());
    }

    #[test]
    fn preferences_agree_disagree_and_tie() {
        let revs: Vec<Revision> = vec![
            rev(1, 1, 1, None, "import"),
            rev(2, 1, 2, None, "import"),
            rev(3, 2, 1, None, "import"),
            rev(4, 2, 2, None, "import"),
            rev(5, 3, 1, None, "import"),
            rev(6, 3, 2, None, "import"),
        ];
        let mut log = Log(Vec::new());
        // Item 1: both prefer candidate 2, shown in either order.
        log.prefer(1, "a", 2, 1, Verdict::Better);
        log.prefer(1, "b", 1, 2, Verdict::Better);
        log.prefer(1, "b", 2, 1, Verdict::Better);
        // Item 2: a says 1 is better, b says they tie.
        log.prefer(2, "a", 3, 4, Verdict::Better);
        log.prefer(2, "b", 3, 4, Verdict::Tie);
        // Item 3: only a, both bad.
        log.prefer(3, "a", 5, 6, Verdict::BothBad);
        let force = InForce::read(&log.0, &revs);
        let p = pair_verdicts(&force);
        assert_eq!(p[&(1, (1, 2))].status, PairStatus::Agreed(Outcome::Hi));
        assert_eq!(p[&(2, (1, 2))].status, PairStatus::Disputed);
        assert_eq!(p[&(3, (1, 2))].status, PairStatus::Agreed(Outcome::BothBad));
        let r = report(&revs, &log.0, 0);
        assert_eq!((r.preferences.n, r.pairs), (2, 3));
        assert_eq!(r.preferences.agreement, Some(0.5));
        // Po 0.5; a: Hi, Lo; b: Hi, Tie → Pe = ½·½ (Hi) = 0.25; κ = (0.5 − 0.25)/0.75 = 1/3.
        assert!((r.preferences.kappa.unwrap() - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn one_annotator_gives_no_agreement_but_rates() {
        let revs = vec![rev(1, 1, 1, None, "self-train")];
        let mut log = Log(Vec::new());
        log.push(1, "a", ResponseKind::Reject, 1);
        let r = report(&revs, &log.0, 0);
        assert_eq!((r.decisions.n, r.decisions.kappa, r.candidates), (0, None, 1));
        assert_eq!(r.by_source[0].rejected, 1);
        assert!(lines(&r)[1].contains("no candidate decided by two annotators"), "{:?}", lines(&r));
        assert_eq!(Agreement::default().show(), "κ undefined (no items; n=0)");
    }
}
