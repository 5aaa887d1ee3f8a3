//! Changes to a project that touch both `hifi.toml` and the store: label-set changes. hifi
//! updates hifi.toml itself (atomically), so the labels in the file and the versions in the
//! store never part.

use std::path::Path;

use anyhow::{Context, Result};

use crate::config::{Config, LabelDef, CONFIG_FILE};
use crate::files::TempFile;
use crate::store::{LabelChange, LabelChangeOutcome, Store};

/// Load hifi.toml, open the store, and record in it any change to the labels or guidelines
/// made in the files (see [`Store::sync_project`]): how every command opens a project.
pub fn open(dir: &Path) -> crate::error::Result<(Config, Store)> {
    let cfg = Config::load(dir)?;
    let mut store = Store::open(dir)?;
    store.sync_project(&cfg)?;
    Ok((cfg, store))
}

/// `text` (a hifi.toml) with its `[[labels]]` replaced by `labels`, everything else as it was
/// (comments, order, other tables).
pub fn with_labels(text: &str, labels: &[LabelDef]) -> Result<String> {
    let mut doc: toml_edit::DocumentMut = text.parse().context("hifi.toml is not valid TOML")?;
    let mut tables = toml_edit::ArrayOfTables::new();
    for l in labels {
        let mut t = toml_edit::Table::new();
        t["name"] = toml_edit::value(l.name.as_str());
        t["definition"] = toml_edit::value(l.definition.as_str());
        if let Some(th) = l.threshold {
            t["threshold"] = toml_edit::value(th);
        }
        tables.push(t);
    }
    doc["labels"] = toml_edit::Item::ArrayOfTables(tables);
    Ok(doc.to_string())
}

/// Make `change` to the project's label set: recorded in the store as a new label-set
/// version and written into hifi.toml, or neither. Returns the project's new config and what
/// the change did. `cfg` must be the project's config as loaded.
pub fn change_labels(
    project: &Path,
    store: &mut Store,
    cfg: &Config,
    change: &LabelChange,
    annotator: &str,
) -> Result<(Config, LabelChangeOutcome)> {
    store.sync_label_set(&cfg.labels)?;
    let after =
        crate::store::apply_label_change(&cfg.labels, change).map_err(anyhow::Error::msg)?;
    let path = project.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let new_text = with_labels(&text, &after)?;
    let new_cfg = Config::parse(&new_text, &path)?;
    // The file is written and fsynced beside hifi.toml first, the store records the change,
    // then the file replaces hifi.toml: a failure before the rename leaves both as they were.
    let mut tmp = TempFile::new_in(project, CONFIG_FILE.as_ref())
        .with_context(|| format!("{}: cannot write beside it", path.display()))?;
    std::io::Write::write_all(tmp.file(), new_text.as_bytes())
        .with_context(|| format!("{}: cannot write", path.display()))?;
    let outcome = store.change_label_set(&cfg.labels, change, annotator)?;
    tmp.commit(&path, true).with_context(|| {
        format!(
            "{}: the store recorded label set v{} but hifi.toml could not be replaced; set its labels to {} by hand",
            path.display(),
            outcome.version.version,
            after.iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(", ")
        )
    })?;
    Ok((new_cfg, outcome))
}

/// A first guidelines file: the task and each label's definition, and places to write the
/// rules experts settle on (what `hifi guidelines edit` and the workstation start from when the
/// project has no guidelines.md yet).
pub fn guidelines_template(cfg: &Config) -> String {
    let mut s = String::from("# Guidelines\n\n");
    if !cfg.task.trim().is_empty() {
        s.push_str(&format!("Task: {}\n\n", cfg.task.trim()));
    }
    s.push_str(
        "How to decide, for the experts labeling this project: what each label covers, the hard\n\
         cases and how to settle them, with examples. Each saved change is a new version, and\n\
         every label records the version it was given under.\n\n## Labels\n\n",
    );
    for l in &cfg.labels {
        let def = l.definition.trim();
        let def = if def.is_empty() { "(no definition yet: write one in hifi.toml)" } else { def };
        s.push_str(&format!("### {}\n\n{def}\n\n", l.name));
    }
    s.push_str("## Hard cases\n\n- \n");
    s
}

/// Where edited guidelines went.
#[derive(Debug, Clone, PartialEq)]
pub enum GuidelinesSaved {
    /// Written to guidelines.md (record the version next).
    Saved,
    /// guidelines.md changed while the editor was open (saved by someone else): nothing was
    /// overwritten, the edited text is in this file.
    Conflict { mine: std::path::PathBuf },
}

/// Write edited guidelines into the project's guidelines.md atomically, unless the file is no
/// longer `base` (what the editor started from; `None`: there was no file): then overwrite
/// nothing and keep the text in guidelines.md.mine.
pub fn save_guidelines(
    project: &Path,
    base: Option<&str>,
    text: &str,
) -> std::io::Result<GuidelinesSaved> {
    let file = crate::store::GUIDELINES_FILE;
    let path = project.join(file);
    if std::fs::read_to_string(&path).ok().as_deref() != base {
        let mine = project.join(format!("{file}.mine"));
        crate::files::write_atomic(&mine, text.as_bytes())?;
        return Ok(GuidelinesSaved::Conflict { mine });
    }
    crate::files::write_atomic(&path, text.as_bytes())?;
    Ok(GuidelinesSaved::Saved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_replaced_and_the_rest_kept() {
        let text = "# my project\ntask = \"t\"\n\n[[labels]]\nname = \"a\"\ndefinition = \"A\"\n\n[[labels]]\nname = \"b\"\ndefinition = \"B\"\n\n[review]\n# keep me\nshow_predictions = true\n";
        let out = with_labels(text, &[LabelDef::new("a", "A"), LabelDef::new("c", "C \"quoted\"")])
            .unwrap();
        assert!(out.starts_with("# my project\n"), "{out}");
        assert!(out.contains("# keep me\nshow_predictions = true"), "{out}");
        let cfg = Config::parse(&out, Path::new("hifi.toml")).unwrap();
        assert_eq!(cfg.label_names(), ["a", "c"]);
        assert_eq!(cfg.labels[1].definition, "C \"quoted\"");
        assert!(cfg.review.show_predictions);
    }
}
