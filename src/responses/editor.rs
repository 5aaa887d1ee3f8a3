//! Editing a response in the user's editor: `$VISUAL`, else `$EDITOR`, else `vi`, on a private
//! temporary file. The caller owns the terminal: the workstation suspends its screen around
//! [`edit`], the CLI just calls it.

use std::io::Write;
use std::path::Path;
use std::process::Command;

/// What came back from the editor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditOutcome {
    /// New text (different from the start, not empty).
    Changed(String),
    /// Saved as it was: nothing to record.
    Unchanged,
    /// Saved empty (only whitespace): nothing to record.
    Empty,
    /// The editor exited with a failure status: nothing to record.
    Failed(String),
}

impl EditOutcome {
    /// The message to show when nothing was recorded.
    pub fn nothing_saved(&self) -> Option<String> {
        match self {
            EditOutcome::Changed(_) => None,
            EditOutcome::Unchanged => Some("unchanged: nothing saved".into()),
            EditOutcome::Empty => Some("the edited response is empty: nothing saved".into()),
            EditOutcome::Failed(why) => Some(format!("{why}: nothing saved")),
        }
    }
}

/// The editor command: `$VISUAL`, else `$EDITOR`, else `vi`, split into words on whitespace.
pub fn editor_command() -> Vec<String> {
    let from_env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let line = from_env("VISUAL").or_else(|| from_env("EDITOR")).unwrap_or_else(|| "vi".into());
    line.split_whitespace().map(str::to_string).collect()
}

/// Open `text` in the editor (a 0600 file in `dir`, removed afterwards) and wait for it.
/// A file that ends with one newline more than `text` had counts as unchanged (editors add it).
pub fn edit(text: &str, dir: &Path) -> std::io::Result<EditOutcome> {
    let mut file = tempfile::Builder::new().prefix(".hifi-edit-").suffix(".md").tempfile_in(dir)?;
    file.write_all(text.as_bytes())?;
    file.flush()?;
    let cmd = editor_command();
    let Some((program, args)) = cmd.split_first() else {
        return Ok(EditOutcome::Failed("no editor set".into()));
    };
    let status = match Command::new(program).args(args).arg(file.path()).status() {
        Ok(s) => s,
        Err(e) => {
            return Ok(EditOutcome::Failed(format!("cannot start the editor {program:?}: {e}")))
        }
    };
    if !status.success() {
        return Ok(EditOutcome::Failed(format!("the editor {program:?} exited with {status}")));
    }
    let bytes = std::fs::read(file.path())?;
    let new = match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(_) => return Ok(EditOutcome::Failed("the edited file is not valid UTF-8".into())),
    };
    Ok(classify(text, new))
}

fn classify(old: &str, new: String) -> EditOutcome {
    if new.trim().is_empty() {
        return EditOutcome::Empty;
    }
    let trailing = new.strip_suffix('\n').filter(|n| !old.ends_with('\n') && *n == old);
    if new == old || trailing.is_some() {
        return EditOutcome::Unchanged;
    }
    // An editor's final newline is not part of the answer.
    if !old.ends_with('\n') {
        if let Some(n) = new.strip_suffix('\n') {
            return EditOutcome::Changed(n.to_string());
        }
    }
    EditOutcome::Changed(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_editors_final_newline_is_not_a_change() {
        assert_eq!(classify("abc", "abc\n".into()), EditOutcome::Unchanged);
        assert_eq!(classify("abc", "abc".into()), EditOutcome::Unchanged);
        assert_eq!(classify("abc", "abd\n".into()), EditOutcome::Changed("abd".into()));
        assert_eq!(classify("abc\n", "abd\n".into()), EditOutcome::Changed("abd\n".into()));
        assert_eq!(classify("abc", " \n\n".into()), EditOutcome::Empty);
    }
}
