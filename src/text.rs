//! Untrusted text made inert for display: item texts, notes and file names may carry terminal
//! escape sequences, C0/C1 controls, bidi overrides or zero-width characters. Everything that
//! could move the cursor, change colours, set the clipboard (OSC 52) or reorder text is shown
//! as a visible placeholder instead, so what reaches the terminal is plain printable text.

/// Replace every control / format character with a visible stand-in. Newlines and tabs are
/// kept when `keep_newlines` (the caller lays out lines itself); everything else becomes
/// `␛`, `^X`, or `<U+XXXX>`.
pub fn inert(s: &str, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' if keep_newlines => out.push('\n'),
            '\t' if keep_newlines => out.push_str("    "),
            '\r' if keep_newlines => {}
            '\u{1b}' => out.push('␛'),
            c if (c as u32) < 0x20 => {
                out.push('^');
                out.push(char::from_u32(c as u32 + 0x40).unwrap_or('?'));
            }
            '\u{7f}' => out.push_str("^?"),
            c if is_hidden(c) => out.push_str(&format!("<U+{:04X}>", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// C1 controls, bidi embeddings/overrides/isolates, zero-width and other invisible format
/// characters, and the BOM: the one definition of what hifi never shows raw.
pub fn is_hidden(c: char) -> bool {
    matches!(c as u32,
        0x80..=0x9f
        | 0x061c
        | 0x200b..=0x200f
        | 0x2028..=0x202e
        | 0x2060..=0x206f
        | 0xfeff
        | 0xfff9..=0xfffb
        | 0xe0000..=0xe007f)
}

/// One line, shortened to `max` characters with an ellipsis.
pub fn one_line(s: &str, max: usize) -> String {
    let flat = inert(s, false).replace("^J", " ⏎ ");
    if flat.chars().count() <= max {
        flat
    } else {
        let mut t: String = flat.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// `s` cut to at most `max` bytes on a character boundary, and whether it was cut: data
/// text is bounded before it is tokenized, so one huge item cannot ask for a huge buffer.
pub fn cut_bytes(s: &str, max: usize) -> (&str, bool) {
    if s.len() <= max {
        return (s, false);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (&s[..end], true)
}

/// JSON for a terminal or a pipe: like `serde_json`, but C1 controls, bidi and zero-width
/// characters ([`is_hidden`]) are written as `\uXXXX` escapes too (serde_json escapes only
/// C0), so the output is still exactly the data once parsed and nothing in it acts on a
/// terminal.
/// 1204 → "1,204".
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn json_to_string<T: serde::Serialize + ?Sized>(v: &T, pretty: bool) -> String {
    let mut out = Vec::new();
    let written = if pretty {
        v.serialize(&mut serde_json::Serializer::with_formatter(
            &mut out,
            Inert(serde_json::ser::PrettyFormatter::new()),
        ))
    } else {
        v.serialize(&mut serde_json::Serializer::with_formatter(
            &mut out,
            Inert(serde_json::ser::CompactFormatter),
        ))
    };
    match written {
        // The formatter writes only valid UTF-8 (whole fragments and ASCII escapes).
        Ok(()) => String::from_utf8(out).unwrap_or_default(),
        Err(e) => serde_json::json!({ "error": format!("cannot write JSON: {e}") }).to_string(),
    }
}

/// A formatter that escapes hidden characters and otherwise defers to the one it wraps.
struct Inert<F>(F);

impl<F: serde_json::ser::Formatter> serde_json::ser::Formatter for Inert<F> {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if is_hidden(c) {
                w.write_all(&fragment.as_bytes()[start..i])?;
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(w, "\\u{:04x}", u)?;
                }
                start = i + c.len_utf8();
            }
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_controls_become_visible() {
        let s = "a\x1b[2J\x1b]52;c;SGVsbG8=\x07b\u{202e}c\u{200b}d\u{9b}e";
        let out = inert(s, true);
        assert!(!out.chars().any(|c| c.is_control()), "{out:?}");
        assert_eq!(out, "a␛[2J␛]52;c;SGVsbG8=^Gb<U+202E>c<U+200B>d<U+009B>e");
    }

    #[test]
    fn newlines_kept_or_flattened() {
        assert_eq!(inert("a\nb\tc\r\n", true), "a\nb    c\n");
        assert_eq!(inert("a\nb", false), "a^Jb");
        assert_eq!(one_line("ab\ncd", 20), "ab ⏎ cd");
        assert_eq!(one_line("abcdef", 4), "abc…");
    }

    #[test]
    fn wide_text_passes_through() {
        assert_eq!(inert("新しい製品 – café", true), "新しい製品 – café");
    }

    #[test]
    fn json_escapes_hidden_characters_and_round_trips() {
        let text = "a\u{9b}31mb\u{202e}c\u{200b}d\u{feff}e\u{e0041}f\x1b[0m\u{85}g 新";
        let v = serde_json::json!({ "text": text, "list": [text] });
        for pretty in [false, true] {
            let out = json_to_string(&v, pretty);
            assert!(
                out.chars().all(|c| !c.is_control() || c == '\n') && !out.chars().any(is_hidden),
                "{out:?}"
            );
            assert!(
                out.contains("\\u009b")
                    && out.contains("\\u202e")
                    && out.contains("\\udb40\\udc41"),
                "{out}"
            );
            let back: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(back, v);
        }
        assert_eq!(
            json_to_string(&v, true).lines().count(),
            serde_json::to_string_pretty(&v).unwrap().lines().count()
        );
    }

    #[test]
    fn cut_bytes_keeps_whole_characters() {
        assert_eq!(cut_bytes("abc", 5), ("abc", false));
        assert_eq!(cut_bytes("ab新", 4), ("ab", true));
        assert_eq!(cut_bytes("ab新", 5), ("ab新", false));
    }
}
