//! Long texts laid out for the screen once per (text, width), and kept: a 20,000-character
//! response is wrapped when it first shows at a width, and every later frame draws only the
//! lines in view from the cache. Untrusted text is made inert ([`crate::text::inert`]) before it
//! is laid out.
//!
//! Prose is wrapped at word boundaries. Fenced code blocks (```` ``` ```` or `~~~`) and lines
//! indented by four spaces or more are never reflowed: their indentation is kept, and a line
//! wider than the pane continues on the next screen line after a `↪` marker.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// What a laid-out line is (for its style).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Prose,
    /// Inside a fenced block, or indented code: shown as it is.
    Code,
    /// A fence line (```` ```rust ````).
    Fence,
    /// An earlier chat turn (shown dimmed).
    Turn,
}

/// One screen line.
#[derive(Debug, Clone, PartialEq)]
pub struct WLine {
    pub text: String,
    pub kind: Kind,
}

/// The continuation marker of a code line wider than the pane.
pub const CONTINUED: &str = "↪ ";

/// Lay out `raw` (untrusted) for a pane `width` columns wide.
pub fn wrap(raw: &str, width: usize) -> Vec<WLine> {
    let text = crate::text::inert(raw, true);
    let width = width.max(4);
    let mut out = Vec::new();
    let mut code = false;
    for line in text.trim_end_matches('\n').split('\n') {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            code = !code;
            hard(line, width, Kind::Fence, &mut out);
        } else if code || line.starts_with("    ") {
            hard(line, width, Kind::Code, &mut out);
        } else {
            prose(line, width, &mut out);
        }
    }
    out
}

/// A line kept as it is; wider than `width`, it continues after [`CONTINUED`].
fn hard(line: &str, width: usize, kind: Kind, out: &mut Vec<WLine>) {
    if line.width() <= width {
        out.push(WLine { text: line.to_string(), kind });
        return;
    }
    let mut cur = String::new();
    let mut w = 0;
    let mut room = width;
    for c in line.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw > room {
            out.push(WLine { text: std::mem::take(&mut cur), kind });
            cur.push_str(CONTINUED);
            w = CONTINUED.width();
            room = width;
        }
        cur.push(c);
        w += cw;
    }
    out.push(WLine { text: cur, kind });
}

/// A line wrapped at spaces (a word wider than the pane is broken).
fn prose(line: &str, width: usize, out: &mut Vec<WLine>) {
    let push = |out: &mut Vec<WLine>, text: String| out.push(WLine { text, kind: Kind::Prose });
    let mut cur = String::new();
    let mut w = 0;
    // The last space in `cur`: (byte index, width before it).
    let mut space: Option<(usize, usize)> = None;
    for c in line.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw > width {
            if c == ' ' {
                push(out, std::mem::take(&mut cur));
                w = 0;
                space = None;
                continue;
            }
            match space {
                Some((i, before)) if i > 0 => {
                    let rest = cur[i + 1..].to_string();
                    cur.truncate(i);
                    push(out, std::mem::replace(&mut cur, rest));
                    w -= before + 1;
                }
                _ => {
                    push(out, std::mem::take(&mut cur));
                    w = 0;
                }
            }
            space = None;
        }
        if c == ' ' {
            space = Some((cur.len(), w));
        }
        cur.push(c);
        w += cw;
    }
    push(out, cur);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    tag: u8,
    a: i64,
    b: i64,
    len: usize,
    width: usize,
}

/// What the screen keeps between frames: laid-out texts, and what the last frame learned of
/// the scrolled pane (lines in view, the furthest scroll that still shows text) so that the
/// page keys move by what is on screen. Not part of the state's identity: clones start with an
/// empty cache, and any two compare equal.
#[derive(Default)]
pub struct Memo {
    cache: RefCell<Vec<(Key, Arc<Vec<WLine>>)>>,
    pub page: Cell<Option<usize>>,
    pub max_scroll: Cell<Option<usize>>,
}

/// Laid-out texts kept at once (two candidates and the prompt, at a few widths).
const KEPT: usize = 8;

impl Memo {
    /// `text` laid out at `width`, from the cache when (tag, a, b, its length, width) was laid
    /// out before. Callers name a text by what it is (a revision id, an item and a turn).
    pub fn lines(&self, tag: u8, a: i64, b: i64, text: &str, width: usize) -> Arc<Vec<WLine>> {
        self.laid_out(tag, a, b, text.len(), width, || wrap(text, width))
    }

    /// What `lay_out` returns, from the cache when (tag, a, b, len, width) was laid out before;
    /// `len` is the length of the text(s) it lays out.
    pub fn laid_out(
        &self,
        tag: u8,
        a: i64,
        b: i64,
        len: usize,
        width: usize,
        lay_out: impl FnOnce() -> Vec<WLine>,
    ) -> Arc<Vec<WLine>> {
        let key = Key { tag, a, b, len, width };
        let found = self.cache.borrow().iter().position(|(k, _)| *k == key);
        if let Some(i) = found {
            let mut cache = self.cache.borrow_mut();
            let hit = cache.remove(i);
            let lines = hit.1.clone();
            cache.insert(0, hit);
            return lines;
        }
        let lines = Arc::new(lay_out());
        let mut cache = self.cache.borrow_mut();
        cache.insert(0, (key, lines.clone()));
        cache.truncate(KEPT);
        lines
    }

    /// Record what the scrolled pane holds: `page` lines in view of `total`.
    pub fn viewport(&self, page: usize, total: usize) {
        self.page.set(Some(page));
        self.max_scroll.set(Some(total.saturating_sub(page)));
    }
}

impl Clone for Memo {
    fn clone(&self) -> Self {
        Memo {
            cache: RefCell::default(),
            page: self.page.clone(),
            max_scroll: self.max_scroll.clone(),
        }
    }
}

impl PartialEq for Memo {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memo")
            .field("page", &self.page)
            .field("max_scroll", &self.max_scroll)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(v: &[WLine]) -> Vec<&str> {
        v.iter().map(|l| l.text.as_str()).collect()
    }

    #[test]
    fn prose_wraps_at_spaces_and_breaks_long_words() {
        let out = wrap("the quick brown fox jumps", 10);
        assert_eq!(texts(&out), vec!["the quick", "brown fox", "jumps"]);
        let out = wrap("abcdefghijklmnop qr", 6);
        assert_eq!(texts(&out), vec!["abcdef", "ghijkl", "mnop", "qr"]);
        assert_eq!(texts(&wrap("a\n\nb\n", 10)), vec!["a", "", "b"]);
        for l in wrap(&"word ".repeat(500), 37) {
            assert!(l.text.width() <= 37, "{:?}", l.text);
        }
    }

    #[test]
    fn code_keeps_its_indentation_and_marks_continued_lines() {
        let src = "Run this:\n```rust\nfn main() {\n        let x = 1; // a comment that is long\n}\n```\nDone.";
        let out = wrap(src, 24);
        assert_eq!(
            texts(&out),
            vec![
                "Run this:",
                "```rust",
                "fn main() {",
                "        let x = 1; // a ",
                "↪ comment that is long",
                "}",
                "```",
                "Done."
            ]
        );
        assert_eq!(out[1].kind, Kind::Fence);
        assert_eq!(out[3].kind, Kind::Code);
        assert_eq!(out[4].kind, Kind::Code);
        assert_eq!(out[7].kind, Kind::Prose);
    }

    #[test]
    fn text_is_inert_before_it_is_laid_out() {
        let out = wrap("a\u{1b}[2Jb\tc\u{202e}d", 80);
        assert_eq!(texts(&out), vec!["a␛[2Jb    c<U+202E>d"]);
    }

    #[test]
    fn the_cache_lays_out_once_per_text_and_width() {
        let m = Memo::default();
        let a = m.lines(0, 7, 0, "one two three", 5);
        let b = m.lines(0, 7, 0, "one two three", 5);
        assert!(Arc::ptr_eq(&a, &b));
        let c = m.lines(0, 7, 0, "one two three", 9);
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(m.clone(), m);
    }
}
