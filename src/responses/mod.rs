//! Responses as data (docs/responses.md): which revision of each candidate is in force, and
//! which judgements are. Pure functions over what the store holds ([`Revision`]s and
//! [`ResponseEvent`]s); the store writes, this reads.
//!
//! The rules:
//! - a candidate's text is its newest revision whose edit is not undone;
//! - an annotator's verdict on a candidate is their newest accept, reject or edit of it that
//!   no undo supersedes; an edit counts as accepting the revision it made (the expert wrote it);
//! - an annotator's preference between two candidates is their newest prefer event naming
//!   that pair, read in a fixed order (lower number first) whatever the screen's order was;
//! - an annotator's score of a candidate is their newest score event of it.

pub mod editor;
pub mod queue;
pub mod report;

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use crate::store::{ResponseEvent, ResponseKind, Revision, Verdict};

/// One candidate with its original and its newest revision in force.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub number: i64,
    pub original: Revision,
    pub newest: Revision,
    /// Revisions in force after the original.
    pub edits: usize,
}

impl Candidate {
    pub fn edited(&self) -> bool {
        self.newest.id != self.original.id
    }
}

/// The candidates of one item, by number, from its revisions (any order).
pub fn candidates(revisions: &[Revision]) -> Vec<Candidate> {
    let mut by_number: BTreeMap<i64, Vec<&Revision>> = BTreeMap::new();
    for r in revisions {
        by_number.entry(r.number).or_default().push(r);
    }
    by_number
        .into_iter()
        .filter_map(|(number, revs)| {
            let original = revs.iter().find(|r| r.parent.is_none())?;
            let live: Vec<&&Revision> = revs.iter().filter(|r| r.live).collect();
            let newest = live.iter().max_by_key(|r| r.id).copied().unwrap_or(original);
            Some(Candidate {
                number,
                original: (*original).clone(),
                newest: (*newest).clone(),
                edits: live.iter().filter(|r| r.parent.is_some()).count(),
            })
        })
        .collect()
}

/// An annotator's verdict on a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Accepted,
    Rejected,
}

/// A verdict in force, with the event and the revision it was given on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub status: Status,
    pub event: i64,
    pub revision: i64,
    /// Given by editing (the revision is the expert's text).
    pub edited: bool,
    pub reason: Option<String>,
    pub at: String,
}

/// A preference read in a fixed order: of candidates (lo, hi), lo < hi.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The lower-numbered candidate is better.
    Lo,
    /// The higher-numbered candidate is better.
    Hi,
    Tie,
    BothBad,
}

/// A preference in force.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Preference {
    pub outcome: Outcome,
    pub event: i64,
    /// The revisions compared, in the (lo, hi) order.
    pub revisions: (i64, i64),
    pub at: String,
}

/// (item, annotator, candidate number)
pub type CandidateKey = (i64, String, i64);
/// (item, annotator, (lo, hi))
pub type PairKey = (i64, String, (i64, i64));

/// Every judgement in force.
#[derive(Debug, Clone, Default)]
pub struct InForce {
    pub decisions: BTreeMap<CandidateKey, Decision>,
    pub scores: BTreeMap<CandidateKey, u8>,
    pub preferences: BTreeMap<PairKey, Preference>,
}

impl InForce {
    /// Read `events` (any order) against `revisions` (to know each revision's candidate).
    pub fn read(events: &[ResponseEvent], revisions: &[Revision]) -> Self {
        let number: HashMap<i64, i64> = revisions.iter().map(|r| (r.id, r.number)).collect();
        let undone: HashSet<i64> = events
            .iter()
            .filter(|e| e.kind == ResponseKind::Undo)
            .filter_map(|e| e.supersedes)
            .collect();
        let mut sorted: Vec<&ResponseEvent> = events
            .iter()
            .filter(|e| e.kind != ResponseKind::Undo && !undone.contains(&e.id))
            .collect();
        sorted.sort_by_key(|e| e.id);
        let mut out = InForce::default();
        for e in sorted {
            let Some(rev) = e.response else { continue };
            let Some(&n) = number.get(&rev) else { continue };
            let key = (e.item, e.annotator.clone(), n);
            match e.kind {
                ResponseKind::Accept | ResponseKind::Reject | ResponseKind::Edit => {
                    let status = if e.kind == ResponseKind::Reject {
                        Status::Rejected
                    } else {
                        Status::Accepted
                    };
                    out.decisions.insert(
                        key,
                        Decision {
                            status,
                            event: e.id,
                            revision: rev,
                            edited: e.kind == ResponseKind::Edit,
                            reason: e.reason.clone(),
                            at: e.created_at.clone(),
                        },
                    );
                }
                ResponseKind::Score => {
                    if let Some(s) = e.score {
                        out.scores.insert(key, s);
                    }
                }
                ResponseKind::Prefer => {
                    let (Some(other), Some(verdict)) = (e.other, e.verdict) else { continue };
                    let Some(&m) = number.get(&other) else { continue };
                    let (pair, revs, first_is_lo) = if n < m {
                        ((n, m), (rev, other), true)
                    } else {
                        ((m, n), (other, rev), false)
                    };
                    let outcome = match (verdict, first_is_lo) {
                        (Verdict::Better, true) => Outcome::Lo,
                        (Verdict::Better, false) => Outcome::Hi,
                        (Verdict::Tie, _) => Outcome::Tie,
                        (Verdict::BothBad, _) => Outcome::BothBad,
                    };
                    out.preferences.insert(
                        (e.item, e.annotator.clone(), pair),
                        Preference {
                            outcome,
                            event: e.id,
                            revisions: revs,
                            at: e.created_at.clone(),
                        },
                    );
                }
                ResponseKind::Undo => {}
            }
        }
        out
    }

    /// Annotators with any judgement in force on `item`.
    pub fn reviewers(&self, item: i64) -> HashSet<&str> {
        let d = self.decisions.keys().filter(|k| k.0 == item).map(|k| k.1.as_str());
        let s = self.scores.keys().filter(|k| k.0 == item).map(|k| k.1.as_str());
        let p = self.preferences.keys().filter(|k| k.0 == item).map(|k| k.1.as_str());
        d.chain(s).chain(p).collect()
    }
}

/// Edit distance (Levenshtein, over characters) between two texts, in O(min(a, b)) memory.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (long, short) = if a.len() >= b.len() { (&a, &b) } else { (&b, &a) };
    let mut row: Vec<usize> = (0..=short.len()).collect();
    for (i, ca) in long.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in short.iter().enumerate() {
            let up = row[j + 1];
            row[j + 1] = if ca == cb { diag } else { 1 + diag.min(up).min(row[j]) };
            diag = up;
        }
    }
    row[short.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(id: i64, number: i64, parent: Option<i64>, live: bool) -> Revision {
        Revision {
            id,
            item: 1,
            number,
            parent,
            text: format!("r{id}"),
            source: "import".into(),
            origin: None,
            annotator: None,
            created_at: String::new(),
            live,
        }
    }

    fn ev(id: i64, who: &str, kind: ResponseKind, response: Option<i64>) -> ResponseEvent {
        ResponseEvent {
            id,
            item: 1,
            annotator: who.into(),
            kind,
            response,
            other: None,
            verdict: None,
            score: None,
            reason: None,
            shown: None,
            supersedes: None,
            created_at: String::new(),
        }
    }

    #[test]
    fn the_newest_live_revision_is_the_candidates_text() {
        let revs = [
            rev(1, 1, None, true),
            rev(2, 2, None, true),
            rev(3, 1, Some(1), true),
            rev(4, 1, Some(3), false),
        ];
        let c = candidates(&revs);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].newest.id, 3);
        assert_eq!(c[0].edits, 1);
        assert!(c[0].edited());
        assert!(!c[1].edited());
    }

    #[test]
    fn an_undone_decision_gives_way_to_the_one_before() {
        let revs = [rev(1, 1, None, true), rev(2, 2, None, true)];
        let mut undo = ev(3, "a", ResponseKind::Undo, None);
        undo.supersedes = Some(2);
        let events = [
            ev(1, "a", ResponseKind::Accept, Some(1)),
            ev(2, "a", ResponseKind::Reject, Some(1)),
            undo,
        ];
        let f = InForce::read(&events, &revs);
        assert_eq!(f.decisions[&(1, "a".to_string(), 1)].status, Status::Accepted);
    }

    #[test]
    fn a_preference_reads_the_same_whichever_side_it_was_shown_on() {
        let revs = [rev(1, 1, None, true), rev(2, 2, None, true)];
        let mut a = ev(1, "a", ResponseKind::Prefer, Some(2));
        a.other = Some(1);
        a.verdict = Some(Verdict::Better);
        let mut b = ev(2, "b", ResponseKind::Prefer, Some(1));
        b.other = Some(2);
        b.verdict = Some(Verdict::Better);
        let f = InForce::read(&[a, b], &revs);
        assert_eq!(f.preferences[&(1, "a".to_string(), (1, 2))].outcome, Outcome::Hi);
        assert_eq!(f.preferences[&(1, "b".to_string(), (1, 2))].outcome, Outcome::Lo);
    }

    #[test]
    fn edit_distance_of_known_pairs() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("flaw", "lawn"), 2);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
