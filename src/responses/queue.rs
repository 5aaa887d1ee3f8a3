//! The order in which an annotator works through the items that have candidate responses (the
//! workstation's Responses screen, docs/review.md#responses). Pure: the caller reads the store
//! into [`Facts`], this sorts them.
//!
//! 1. items the annotator has not judged yet come before the ones they have (any judgement of
//!    theirs in force on the item: accept, reject, edit, score or preference);
//! 2. within each group, items in the mined label queue first, in queue order;
//! 3. then the rest by the newest prediction's margin, ascending (the most uncertain first),
//!    items without a prediction last;
//! 4. then by key.
//!
//! An item that needs no more reviewers is left out for an annotator who has not judged it:
//! it needs two distinct reviewers when it falls in the blind-overlap share ([`in_overlap`],
//! the same share `hifi mine --overlap-share` gives the label queue), else one.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap, HashSet};

use sha2::{Digest, Sha256};

use crate::store::{ResponseEvent, ResponseKind};

/// What the order needs to know of one item.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub key: i64,
    /// Its first position in the current label queue (as item a or b), if queued.
    pub queue_position: Option<usize>,
    /// The newest prediction's margin (p1 − p2), if the item was prelabeled.
    pub margin: Option<f64>,
    /// The annotator has a judgement in force on the item.
    pub judged_by_me: bool,
    /// Other annotators with a judgement in force on the item.
    pub other_reviewers: usize,
    /// Distinct reviewers the item needs (1, or 2 in the overlap share; see [`needed`]).
    pub needed: usize,
}

/// Whether an item falls in the overlap share: deterministic, from a hash of its id, so every
/// annotator's workstation agrees without asking anyone.
pub fn in_overlap(item_id: &str, share: f64) -> bool {
    let digest = Sha256::digest(item_id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    // The hash's top 53 bits as a uniform draw in [0, 1).
    let u = (u64::from_be_bytes(first) >> 11) as f64 / (1u64 << 53) as f64;
    u < share
}

/// Distinct reviewers an item needs: 2 in the overlap share, else 1.
pub fn needed(item_id: &str, share: f64) -> usize {
    if in_overlap(item_id, share) {
        2
    } else {
        1
    }
}

/// The annotators with a judgement in force on each item: every event that is not an undo and
/// that no undo supersedes.
pub fn reviewers(events: &[ResponseEvent]) -> HashMap<i64, BTreeSet<String>> {
    let undone: HashSet<i64> = events
        .iter()
        .filter(|e| e.kind == ResponseKind::Undo)
        .filter_map(|e| e.supersedes)
        .collect();
    let mut out: HashMap<i64, BTreeSet<String>> = HashMap::new();
    for e in events {
        if e.kind != ResponseKind::Undo && !undone.contains(&e.id) {
            out.entry(e.item).or_default().insert(e.annotator.clone());
        }
    }
    out
}

/// The items to show, in order (see the module's rules).
pub fn order(mut items: Vec<Facts>) -> Vec<i64> {
    items.retain(|f| f.judged_by_me || f.other_reviewers < f.needed);
    items.sort_by(|a, b| {
        a.judged_by_me
            .cmp(&b.judged_by_me)
            .then_with(|| by_queue_then_margin(a, b))
            .then(a.key.cmp(&b.key))
    });
    items.into_iter().map(|f| f.key).collect()
}

fn by_queue_then_margin(a: &Facts, b: &Facts) -> Ordering {
    match (a.queue_position, b.queue_position) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => match (a.margin, b.margin) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(key: i64, queue_position: Option<usize>, margin: Option<f64>) -> Facts {
        Facts { key, queue_position, margin, judged_by_me: false, other_reviewers: 0, needed: 1 }
    }

    #[test]
    fn queued_items_first_in_queue_order_then_by_margin_then_unprelabeled_then_key() {
        let items = vec![
            facts(1, None, None),
            facts(2, None, Some(0.9)),
            facts(3, Some(5), Some(0.01)),
            facts(4, None, Some(0.1)),
            facts(5, Some(0), None),
            facts(6, None, None),
            facts(7, None, Some(0.1)),
        ];
        assert_eq!(order(items), vec![5, 3, 4, 7, 2, 1, 6]);
    }

    #[test]
    fn judged_items_go_after_the_unjudged_in_the_same_order() {
        let mut items = vec![
            facts(1, Some(0), None),
            facts(2, Some(1), None),
            facts(3, None, Some(0.2)),
            facts(4, None, Some(0.1)),
        ];
        items[0].judged_by_me = true;
        items[3].judged_by_me = true;
        assert_eq!(order(items), vec![2, 3, 1, 4]);
    }

    #[test]
    fn an_item_with_enough_reviewers_is_left_out_for_a_new_annotator_only() {
        let mut one_needed = facts(1, None, None);
        one_needed.other_reviewers = 1;
        let mut two_needed_one_had = facts(2, None, None);
        two_needed_one_had.other_reviewers = 1;
        two_needed_one_had.needed = 2;
        let mut two_needed_two_had = facts(3, None, None);
        two_needed_two_had.other_reviewers = 2;
        two_needed_two_had.needed = 2;
        // Judged by me and by someone else: still mine to see again.
        let mut mine = facts(4, None, None);
        mine.other_reviewers = 3;
        mine.judged_by_me = true;
        let fresh = facts(5, None, None);
        assert_eq!(
            order(vec![one_needed, two_needed_one_had, two_needed_two_had, mine, fresh]),
            vec![2, 5, 4]
        );
    }

    #[test]
    fn the_overlap_share_is_a_stable_hash_of_the_id_near_the_share() {
        assert!(!in_overlap("q-1", 0.0));
        assert!(in_overlap("q-1", 1.0));
        assert_eq!(in_overlap("q-17", 0.3), in_overlap("q-17", 0.3));
        let n = 10_000;
        let hit = (0..n).filter(|i| in_overlap(&format!("item-{i}"), 0.1)).count();
        assert!((800..1200).contains(&hit), "{hit} of {n} in a 10% share");
        assert_eq!(needed("q-1", 0.0), 1);
        assert_eq!(needed("q-1", 1.0), 2);
    }

    #[test]
    fn reviewers_are_those_with_a_judgement_in_force() {
        let ev = |id: i64, item: i64, who: &str, kind: ResponseKind, supersedes: Option<i64>| {
            ResponseEvent {
                id,
                item,
                annotator: who.into(),
                kind,
                response: Some(1),
                other: None,
                verdict: None,
                score: None,
                reason: None,
                shown: None,
                supersedes,
                created_at: String::new(),
            }
        };
        let events = vec![
            ev(1, 10, "ana", ResponseKind::Accept, None),
            ev(2, 10, "bob", ResponseKind::Score, None),
            ev(3, 11, "ana", ResponseKind::Reject, None),
            ev(4, 11, "ana", ResponseKind::Undo, Some(3)),
            ev(5, 12, "cy", ResponseKind::Prefer, None),
        ];
        let r = reviewers(&events);
        assert_eq!(r[&10], BTreeSet::from(["ana".to_string(), "bob".to_string()]));
        assert!(!r.contains_key(&11), "an undone judgement is not in force");
        assert_eq!(r[&12], BTreeSet::from(["cy".to_string()]));
    }
}
