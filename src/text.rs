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
/// characters, and the BOM.
fn is_hidden(c: char) -> bool {
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
}
