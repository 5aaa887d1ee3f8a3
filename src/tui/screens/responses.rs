//! The Responses screen's state: the items with candidate responses in the annotator's order
//! ([`crate::responses::queue`]), the item on screen, the candidate (single mode) or the pair
//! (A/B mode) shown; accept, reject, score, edit, prefer and undo, each sent to the store
//! worker and shown once committed.

use serde_json::json;
use sha2::{Digest, Sha256};

use super::Shared;
use crate::responses::editor::EditOutcome;
use crate::responses::{Outcome, Status};
use crate::store::{Judgement, ResponseJudgement, ResponseKind, Verdict};
use crate::tui::action::{Action, Effect, RespKey};
use crate::tui::view::{Input as TextInput, InputPurpose, Level, RespItem};
use crate::tui::wrap::Memo;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// One candidate at a time: accept, reject, score, edit.
    #[default]
    Single,
    /// Two candidates side by side, sources hidden, sides shuffled: which is better.
    Ab,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponsesState {
    /// The items to work through, in order (read when the screen opens and on reload).
    pub queue: Vec<i64>,
    /// The position in `queue` of the item on screen (or being loaded).
    pub pos: usize,
    pub item: Option<RespItem>,
    /// The order has been read at least once.
    pub opened: bool,
    /// Waiting for the order or an item.
    pub loading: bool,
    /// Loading failed (the message says why; `r` tries again).
    pub load_failed: bool,
    /// Index of the candidate on screen in `item.candidates` (single mode).
    pub cand: usize,
    pub mode: Mode,
    /// A/B mode: the pair on screen as (left, right) candidate numbers.
    pub pair: Option<(i64, i64)>,
    /// First line of the text in view.
    pub scroll: usize,
    /// The whole prompt fills the screen (the scroll keys scroll it).
    pub prompt_full: bool,
    pub prompt_scroll: usize,
    /// Judgements sent to the store and not committed yet.
    pub sending: usize,
    /// Judgement keys refused since the item showed (said on the message line).
    pub refused: u32,
    /// Layout cache and what the last frame saw (see [`Memo`]).
    pub memo: Memo,
}

impl ResponsesState {
    /// Entering the screen: read the order (again), keeping the item on screen if it is still in it.
    pub fn open(&mut self) -> Effect {
        self.loading = true;
        self.load_failed = false;
        Effect::LoadResponses { keep: self.current_key() }
    }

    fn current_key(&self) -> Option<i64> {
        self.item.as_ref().map(|i| i.key).or_else(|| self.queue.get(self.pos).copied())
    }

    /// The candidate on screen in single mode.
    pub fn candidate(&self) -> Option<&crate::tui::view::CandidateView> {
        self.item.as_ref()?.candidates.get(self.cand)
    }

    pub fn update(&mut self, cx: &mut Shared, action: Action) -> Vec<Effect> {
        use Action::*;
        match action {
            Resp(k) => self.key(cx, k),
            ResponsesLoaded { queue, pos, item } => {
                self.opened = true;
                self.loading = false;
                self.load_failed = false;
                self.queue = queue;
                self.pos = pos.min(self.queue.len().saturating_sub(1));
                self.show(cx, item.map(|i| *i));
                vec![]
            }
            ResponseItemLoaded(item) => {
                self.loading = false;
                self.load_failed = false;
                self.show(cx, Some(*item));
                vec![]
            }
            ResponseLoadFailed(msg) => {
                self.loading = false;
                self.load_failed = true;
                // The item on screen may not be the one asked for: keys must not judge it.
                self.item = None;
                cx.say(format!("{msg} (r: try again)"), Level::Error);
                vec![]
            }
            ResponseSaved { key, kind, number, item, reload_error } => {
                self.sending = self.sending.saturating_sub(1);
                let here = self.item.as_ref().is_some_and(|i| i.key == key);
                if let (true, Some(it)) = (here, item) {
                    self.show(cx, Some(*it));
                }
                if let Some(e) = reload_error {
                    cx.say(
                        format!("saved, but reading the item back failed: {e} (r: read it again)"),
                        Level::Warn,
                    );
                    return vec![];
                }
                let what = match kind {
                    ResponseKind::Accept => format!("accepted candidate {number}"),
                    ResponseKind::Reject => format!("rejected candidate {number}"),
                    ResponseKind::Score => {
                        let s = self
                            .item
                            .as_ref()
                            .and_then(|i| i.candidate(number))
                            .and_then(|c| c.score)
                            .map_or(String::new(), |s| format!(": {s}/5"));
                        format!("scored candidate {number}{s}")
                    }
                    ResponseKind::Edit => {
                        format!("candidate {number} edited: saved as a new revision")
                    }
                    ResponseKind::Prefer => "preference saved".to_string(),
                    ResponseKind::Undo => String::new(),
                };
                cx.say(what, Level::Info);
                if !here {
                    return vec![];
                }
                match kind {
                    ResponseKind::Accept | ResponseKind::Reject => self.after_verdict(cx, number),
                    ResponseKind::Prefer => self.after_preference(cx),
                    _ => vec![],
                }
            }
            ResponseSaveFailed { msg, .. } => {
                self.sending = self.sending.saturating_sub(1);
                cx.say(msg, Level::Error);
                vec![]
            }
            ResponseUndone { event, number, item } => {
                let Some(ev) = event else {
                    cx.say("nothing to undo", Level::Info);
                    return vec![];
                };
                let Some(it) = item else {
                    cx.say(format!("undid {}", ev.kind.as_str()), Level::Info);
                    return vec![];
                };
                let what = number.map_or(String::new(), |n| format!(" of candidate {n}"));
                cx.say(
                    format!(
                        "undid {}{what} on {}",
                        ev.kind.as_str(),
                        crate::text::one_line(&it.id, 40)
                    ),
                    Level::Info,
                );
                // Show the item the undo touched, where it is in the order (or here).
                match self.queue.iter().position(|k| *k == it.key) {
                    Some(i) => self.pos = i,
                    None => {
                        self.pos = self.pos.min(self.queue.len());
                        self.queue.insert(self.pos, it.key);
                    }
                }
                self.loading = false;
                self.load_failed = false;
                self.show(cx, Some(*it));
                if let Some(i) = number
                    .and_then(|n| self.item.as_ref()?.candidates.iter().position(|c| c.number == n))
                {
                    if self.mode == Mode::Single {
                        self.cand = i;
                        self.top();
                    }
                }
                vec![]
            }
            Edited { key, number, outcome } => match outcome {
                EditOutcome::Changed(text) => self.send(
                    cx,
                    key,
                    Judgement::Edit { number, text },
                    json!({"mode": "single", "candidate": number}),
                ),
                // "nothing saved" first: it must show on a narrow message line.
                EditOutcome::Unchanged => {
                    cx.say("unchanged: nothing saved", Level::Warn);
                    vec![]
                }
                EditOutcome::Empty => {
                    cx.say("empty: nothing saved", Level::Warn);
                    vec![]
                }
                EditOutcome::Failed(why) => {
                    cx.say(format!("nothing saved: {why}"), Level::Error);
                    vec![]
                }
            },
            _ => vec![],
        }
    }

    /// The reason typed for rejecting candidate `number` of `item` (may be empty).
    pub fn submit_reason(
        &mut self,
        cx: &mut Shared,
        item: i64,
        number: i64,
        text: &str,
    ) -> Vec<Effect> {
        let reason = Some(text.trim().to_string()).filter(|r| !r.is_empty());
        self.send(
            cx,
            item,
            Judgement::Reject { number, reason },
            json!({"mode": "single", "candidate": number}),
        )
    }

    fn key(&mut self, cx: &mut Shared, k: RespKey) -> Vec<Effect> {
        use RespKey::*;
        match k {
            Lines(_) | Pages(_) | Top | Bottom => {
                self.scroll_by(k);
                vec![]
            }
            TogglePrompt => {
                self.prompt_full = !self.prompt_full;
                self.prompt_scroll = 0;
                self.memo.max_scroll.set(None);
                vec![]
            }
            ToggleMode => {
                self.toggle_mode(cx);
                vec![]
            }
            NextCandidate | PrevCandidate => {
                self.step_candidate(cx, k == NextCandidate);
                vec![]
            }
            NextItem | PrevItem => self.step_item(cx, k == NextItem),
            Reload => {
                let keep = self.current_key();
                self.loading = true;
                self.load_failed = false;
                vec![Effect::LoadResponses { keep }]
            }
            Undo => {
                *cx.message = None;
                vec![Effect::UndoResponse]
            }
            Accept | Reject | RejectWithReason | Score(_) | Edit => self.single(cx, k),
            LeftBetter | RightBetter | Tie | BothBad => self.prefer(cx, k),
        }
    }

    fn scroll_by(&mut self, k: RespKey) {
        let max = self.memo.max_scroll.get();
        let page = self.memo.page.get().unwrap_or(10).saturating_sub(1).max(1) as i64;
        let s = if self.prompt_full { &mut self.prompt_scroll } else { &mut self.scroll };
        let cur = max.map_or(*s, |m| (*s).min(m)) as i64;
        let next = match k {
            RespKey::Lines(d) => cur + i64::from(d),
            RespKey::Pages(d) => cur + i64::from(d) * page,
            RespKey::Top => 0,
            // Unknown before the first frame: the frame clamps it.
            _ => max.map_or(i64::from(u32::MAX), |m| m as i64),
        };
        let next = next.max(0) as usize;
        *s = max.map_or(next, |m| next.min(m));
    }

    fn toggle_mode(&mut self, cx: &mut Shared) {
        match self.mode {
            Mode::Ab => {
                self.mode = Mode::Single;
                // Single mode shows the left candidate of the pair that was on screen.
                if let Some(i) = self.pair.and_then(|(l, _)| {
                    self.item.as_ref()?.candidates.iter().position(|c| c.number == l)
                }) {
                    self.cand = i;
                }
                self.pair = None;
            }
            Mode::Single => {
                let n = self.item.as_ref().map_or(0, |i| i.candidates.len());
                if self.item.is_some() && n < 2 {
                    cx.say(format!("A/B compares two candidates; this item has {n}"), Level::Warn);
                    return;
                }
                self.mode = Mode::Ab;
                self.pair = self.first_pair(cx.annotator, true);
                if self.item.as_ref().is_some_and(|i| !i.pairs().is_empty())
                    && self.next_uncompared(cx.annotator).is_none()
                {
                    cx.say(
                        "every pair of this item is compared by you (n/p: see them; ]: next item)",
                        Level::Info,
                    );
                }
            }
        }
        self.top();
    }

    /// A/B: the first pair not compared by this annotator, or (when `any`) the first pair.
    fn first_pair(&self, annotator: &str, any: bool) -> Option<(i64, i64)> {
        let it = self.item.as_ref()?;
        let pairs = it.pairs();
        let pick = pairs.iter().find(|p| it.preference(**p).is_none()).or(if any {
            pairs.first()
        } else {
            None
        })?;
        Some(sides(it.key, annotator, *pick))
    }

    fn next_uncompared(&self, annotator: &str) -> Option<(i64, i64)> {
        self.first_pair(annotator, false)
    }

    fn step_candidate(&mut self, cx: &Shared, forward: bool) {
        let Some(it) = &self.item else { return };
        match self.mode {
            Mode::Single => {
                let n = it.candidates.len();
                if n > 0 {
                    self.cand = if forward { (self.cand + 1) % n } else { (self.cand + n - 1) % n };
                }
            }
            Mode::Ab => {
                let pairs = it.pairs();
                if pairs.is_empty() {
                    return;
                }
                let now = self.pair.map(|(l, r)| (l.min(r), l.max(r)));
                let i = now.and_then(|p| pairs.iter().position(|q| *q == p)).unwrap_or(0);
                let n = pairs.len();
                let j = if forward { (i + 1) % n } else { (i + n - 1) % n };
                self.pair = Some(sides(it.key, cx.annotator, pairs[j]));
            }
        }
        self.top();
    }

    fn step_item(&mut self, cx: &mut Shared, forward: bool) -> Vec<Effect> {
        if self.loading {
            cx.say("the item is still loading", Level::Warn);
            return vec![];
        }
        let n = self.queue.len();
        let to = if forward { self.pos + 1 } else { self.pos.wrapping_sub(1) };
        if to >= n {
            let what = if n == 0 {
                "no items with candidate responses for you (r reads the order again)".to_string()
            } else if forward {
                format!("this is the last item ({n} of {n}); r reads the order again")
            } else {
                format!("this is the first item (1 of {n})")
            };
            cx.say(what, Level::Info);
            return vec![];
        }
        self.go_to_item(to)
    }

    fn go_to_item(&mut self, pos: usize) -> Vec<Effect> {
        self.pos = pos;
        self.loading = true;
        vec![Effect::LoadResponseItem(self.queue[pos])]
    }

    /// Accept, reject, score or edit the candidate on screen (single mode).
    fn single(&mut self, cx: &mut Shared, k: RespKey) -> Vec<Effect> {
        let what = match k {
            RespKey::Accept => "accept".to_string(),
            RespKey::Reject | RespKey::RejectWithReason => "reject".to_string(),
            RespKey::Score(s) => format!("score {s}"),
            _ => "edit".to_string(),
        };
        if let Some(why) = self.not_now() {
            return self.refuse(cx, &what, why);
        }
        if self.mode == Mode::Ab {
            return self.refuse(
                cx,
                &what,
                "A/B mode compares (h, l, =, b); m switches to single mode",
            );
        }
        let (Some(it), Some(c)) = (&self.item, self.candidate()) else { return vec![] };
        let (key, number) = (it.key, c.number);
        let shown = json!({"mode": "single", "candidate": number});
        match k {
            RespKey::Accept => self.send(cx, key, Judgement::Accept { number }, shown),
            RespKey::Reject => {
                self.send(cx, key, Judgement::Reject { number, reason: None }, shown)
            }
            RespKey::RejectWithReason => {
                *cx.input = Some(TextInput {
                    purpose: InputPurpose::RejectReason { item: key, number },
                    text: String::new(),
                });
                vec![]
            }
            RespKey::Score(score) => self.send(cx, key, Judgement::Score { number, score }, shown),
            _ => {
                *cx.message = None;
                vec![Effect::EditResponse { key, number, text: c.text.clone() }]
            }
        }
    }

    /// A/B: the left or right candidate is better, a tie, or both bad.
    fn prefer(&mut self, cx: &mut Shared, k: RespKey) -> Vec<Effect> {
        let what = match k {
            RespKey::LeftBetter => "left better",
            RespKey::RightBetter => "right better",
            RespKey::Tie => "tie",
            _ => "both bad",
        };
        if let Some(why) = self.not_now() {
            return self.refuse(cx, what, why);
        }
        if self.mode == Mode::Single {
            return self.refuse(cx, what, "single mode judges one candidate; m switches to A/B");
        }
        let (Some(it), Some((left, right))) = (&self.item, self.pair) else {
            return self.refuse(cx, what, "no pair is on screen");
        };
        let key = it.key;
        let (first, second, verdict) = match k {
            RespKey::LeftBetter => (left, right, Verdict::Better),
            RespKey::RightBetter => (right, left, Verdict::Better),
            RespKey::Tie => (left, right, Verdict::Tie),
            _ => (left, right, Verdict::BothBad),
        };
        self.send(
            cx,
            key,
            Judgement::Prefer { first, second, verdict },
            json!({"mode": "ab", "left": left, "right": right}),
        )
    }

    fn send(
        &mut self,
        cx: &mut Shared,
        item: i64,
        judgement: Judgement,
        shown: serde_json::Value,
    ) -> Vec<Effect> {
        *cx.message = None;
        *cx.pending += 1;
        self.sending += 1;
        vec![Effect::JudgeResponse(ResponseJudgement {
            item,
            annotator: cx.annotator.to_string(),
            judgement,
            shown: Some(shown),
        })]
    }

    /// After an accept or reject of candidate `number`: the next candidate this annotator has
    /// not judged, else the next item.
    fn after_verdict(&mut self, cx: &mut Shared, number: i64) -> Vec<Effect> {
        let Some(it) = &self.item else { return vec![] };
        let n = it.candidates.len();
        let at = it.candidates.iter().position(|c| c.number == number).unwrap_or(self.cand);
        if let Some(j) = (1..=n).map(|s| (at + s) % n).find(|&j| it.candidates[j].status.is_none())
        {
            self.cand = j;
            self.top();
            return vec![];
        }
        self.next_item_when_done(cx)
    }

    /// After a preference: the next pair this annotator has not compared, else the next item.
    fn after_preference(&mut self, cx: &mut Shared) -> Vec<Effect> {
        match self.next_uncompared(cx.annotator) {
            Some(p) => {
                self.pair = Some(p);
                self.top();
                vec![]
            }
            None => self.next_item_when_done(cx),
        }
    }

    fn next_item_when_done(&mut self, cx: &mut Shared) -> Vec<Effect> {
        if self.pos + 1 < self.queue.len() {
            return self.go_to_item(self.pos + 1);
        }
        let n = self.queue.len();
        let said = cx.message.as_ref().map(|m| m.0.clone()).unwrap_or_default();
        cx.say(
            format!("{said}; that was the last item ({n} of {n}): r reads the order again"),
            Level::Info,
        );
        vec![]
    }

    /// Put `item` on screen. Another item starts at its first candidate this annotator has not
    /// judged (A/B: the first pair not compared), at the top; the same item read back keeps
    /// the candidate and the scroll.
    fn show(&mut self, cx: &Shared, item: Option<RespItem>) {
        let same = matches!((&self.item, &item), (Some(a), Some(b)) if a.key == b.key);
        let number = self.candidate().map(|c| c.number);
        self.item = item;
        let Some(it) = &self.item else {
            self.pair = None;
            return;
        };
        if same {
            self.cand =
                number.and_then(|n| it.candidates.iter().position(|c| c.number == n)).unwrap_or(0);
            let pair_ok = self
                .pair
                .is_some_and(|(l, r)| it.candidate(l).is_some() && it.candidate(r).is_some());
            if self.mode == Mode::Ab && !pair_ok {
                self.pair = self.first_pair(cx.annotator, true);
            }
            return;
        }
        self.refused = 0;
        self.cand = it.candidates.iter().position(|c| c.status.is_none()).unwrap_or(0);
        self.top();
        self.prompt_scroll = 0;
        self.prompt_full = false;
        self.pair = None;
        if self.mode == Mode::Ab {
            self.pair = self.first_pair(cx.annotator, true);
        }
    }

    /// Other text on screen: start at its top, and forget how far the last frame's text went.
    fn top(&mut self) {
        self.scroll = 0;
        self.memo.max_scroll.set(None);
    }

    /// Why a judgement key cannot act now, if it cannot.
    fn not_now(&self) -> Option<&'static str> {
        if self.loading {
            Some("the item is still loading")
        } else if self.item.is_none() {
            Some("no item is on screen")
        } else if self.sending > 0 {
            Some("the previous judgement is still being saved")
        } else {
            None
        }
    }

    /// Say that a judgement key was not applied, and how many so far: never a silent drop.
    fn refuse(&mut self, cx: &mut Shared, what: &str, why: &str) -> Vec<Effect> {
        self.refused += 1;
        let n = self.refused;
        let count = if n > 1 { format!(" ({n} keys so far)") } else { String::new() };
        cx.say(format!("not applied: {what}{count} — {why}; nothing was recorded"), Level::Warn);
        vec![]
    }
}

/// The pair (lo, hi) as (left, right): which side each goes is drawn from a hash of the item,
/// the annotator and the pair, so the sides are random across items and annotators but the
/// same each time one annotator sees one pair (the sides are recorded with the preference).
pub fn sides(item: i64, annotator: &str, (lo, hi): (i64, i64)) -> (i64, i64) {
    let h = Sha256::digest(format!("ab\0{item}\0{annotator}\0{lo}\0{hi}").as_bytes());
    if h[0] & 1 == 1 {
        (hi, lo)
    } else {
        (lo, hi)
    }
}

/// How an annotator's preference on a pair reads with the pair's sides.
pub fn preference_said(outcome: Outcome, (left, right): (i64, i64)) -> &'static str {
    let better = match outcome {
        Outcome::Lo => left.min(right),
        Outcome::Hi => left.max(right),
        Outcome::Tie => return "tie",
        Outcome::BothBad => return "both bad",
    };
    if better == left {
        "left better"
    } else {
        "right better"
    }
}

/// How a verdict reads.
pub fn status_said(s: Status) -> &'static str {
    match s {
        Status::Accepted => "accepted",
        Status::Rejected => "rejected",
    }
}
