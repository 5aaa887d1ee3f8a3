//! An external trainer's command template (`--external`, `[train] external`): the
//! placeholders `{job}` and `{out}` are written bare and become quoted parameter expansions,
//! so the shell reads each path as one value whatever it contains.

/// The placeholders of an external command and what replaces them: quoted parameter
/// expansions, so the shell reads each path as one value whatever it contains.
const PLACEHOLDERS: [(&str, &str); 2] = [("{job}", "\"$HIFI_JOB\""), ("{out}", "\"$HIFI_OUT\"")];

/// Check an external trainer command (from `--external` or `[train] external`): it must say
/// where the adapter goes (`{out}` or `$HIFI_OUT`), and a placeholder may not sit inside
/// quotes or after a backslash (the replacement would end the user's quotes).
pub fn check_external(template: &str) -> Result<(), String> {
    external_line(template).map(|_| ())
}

/// The command line `sh -c` runs for `template`.
pub fn external_line(template: &str) -> Result<String, String> {
    if template.trim().is_empty() {
        return Err("the external trainer command is empty".into());
    }
    if !template.contains("{out}") && !template.contains("HIFI_OUT") {
        return Err("the external trainer command must say where to write the adapter: {out} (or $HIFI_OUT), and usually {job} (or $HIFI_JOB)".into());
    }
    let mut out = String::with_capacity(template.len() + 16);
    let (mut single, mut double, mut escaped) = (false, false, false);
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        if let Some((ph, with)) = PLACEHOLDERS.iter().find(|(ph, _)| rest.starts_with(ph)) {
            if single || double || escaped {
                let how = if escaped { "after a backslash" } else { "inside quotes" };
                return Err(format!(
                    "the external trainer command has {ph} {how}: write it bare (hifi quotes it), e.g. `python train.py {{job}} {{out}}`, or use \"$HIFI_JOB\" / \"$HIFI_OUT\""
                ));
            }
            out.push_str(with);
            rest = &rest[ph.len()..];
            continue;
        }
        match c {
            _ if escaped => escaped = false,
            '\\' if !single => escaped = true,
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            _ => {}
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_quoted_expansions_and_quoted_ones_are_refused() {
        assert_eq!(
            external_line("python t.py {job} {out}").unwrap(),
            r#"python t.py "$HIFI_JOB" "$HIFI_OUT""#
        );
        assert_eq!(
            external_line(r#"cp x "$HIFI_OUT" # 'it''s' {out}"#)
                .unwrap()
                .matches("HIFI_OUT")
                .count(),
            2
        );
        assert_eq!(external_line(r#"echo "a\"" {out}"#).unwrap(), r#"echo "a\"" "$HIFI_OUT""#);
        for bad in [
            "cp x '{out}'",
            r#"cp "{job}" {out}"#,
            r#"cp x "dir/{out}""#,
            r"cp x \{out}",
            "cp '{job}' \"$HIFI_OUT\"",
        ] {
            let e = external_line(bad).unwrap_err();
            assert!(e.contains("{job}") || e.contains("{out}"), "{bad}: {e}");
        }
        assert!(external_line("python t.py {job}").unwrap_err().contains("{out}"));
        assert!(external_line("  ").is_err());
    }
}
