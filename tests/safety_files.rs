//! Issue 17, cases 1, 4 and 5, run the way a user would: outputs named after a project's own
//! files, symbolic links where hifi writes, and vector files that went missing, shrank or were
//! swapped. Each checks that nothing was lost and nothing outside the project was written.

mod common;

use std::path::Path;

use common::{bin, require_model};

/// `hifi` run from inside `dir` (as `cd proj && hifi …`): (success, stdout, stderr).
fn hifi_in(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = bin().current_dir(dir).arg("--quiet").args(args).output().expect("run hifi");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A project made with the binary: six items, three labeled by an expert.
fn labeled_project(texts: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let (ok, _, err) = hifi_in(
        p,
        &["init", ".", "--labels", "clickbait,benign", "--task", "Is the ad clickbait?"],
    );
    assert!(ok, "{err}");
    let mut jsonl = String::new();
    for (i, (text, _)) in texts.iter().enumerate() {
        jsonl.push_str(&serde_json::json!({"id": format!("a{i}"), "text": text}).to_string());
        jsonl.push('\n');
    }
    std::fs::write(p.join("items.jsonl"), jsonl).unwrap();
    let (ok, _, err) = hifi_in(p, &["import", "items.jsonl"]);
    assert!(ok, "{err}");
    for (i, (_, label)) in texts.iter().enumerate() {
        if !label.is_empty() {
            let (ok, _, err) =
                hifi_in(p, &["label", &format!("a{i}"), label, "--annotator", "ana"]);
            assert!(ok, "{err}");
        }
    }
    dir
}

const ADS: &[(&str, &str)] = &[
    ("You won't believe what this one trick does", "clickbait"),
    ("Brake inspection near 386 5th Ave, Denver", "benign"),
    ("=HYPERLINK(\"http://evil.example\",\"click\")", "clickbait"),
    ("Open daily 7 am to 9 pm", ""),
    ("Licensed stylists with 10 years' experience", ""),
    ("Doctors hate her: the secret is out", ""),
];

fn current_labels(p: &Path) -> String {
    let (ok, out, err) = hifi_in(p, &["labels", "export", "-o", "-"]);
    assert!(ok, "{err}");
    out
}

#[test]
fn case1_exports_never_overwrite_the_project() {
    let dir = labeled_project(ADS);
    let p = dir.path();
    let toml_before = std::fs::read(p.join("hifi.toml")).unwrap();
    let labels_before = current_labels(p);
    assert_eq!(labels_before.lines().count(), 3, "{labels_before}");
    std::fs::create_dir_all(p.join("vectors")).unwrap();
    let attempts: &[&[&str]] = &[
        &["export", "--split", "all", "-o", "hifi.db"],
        &["export", "--split", "all", "-o", "hifi.db", "--force"],
        &["export", "--split", "all", "-o", "hifi.db-wal", "--force"],
        &["export", "--split", "all", "-o", "hifi.db-shm", "--force"],
        &["export", "-o", "hifi.toml", "--force"],
        &["export", "-o", "vectors/emb-1.f32", "--force"],
        &["labels", "export", "-o", "hifi.toml"],
        &["labels", "export", "-o", "hifi.toml", "--force"],
        &["labels", "export", "-o", "hifi.db", "--force"],
    ];
    for args in attempts {
        let (ok, out, err) = hifi_in(p, args);
        assert!(!ok, "{args:?} succeeded: {out}");
        assert!(err.contains("never writes an export over this file"), "{args:?}: {err}");
    }
    // The same from outside the project, by full path.
    let db = p.join("hifi.db");
    let (ok, _, err) = hifi_in(
        std::env::temp_dir().as_path(),
        &["--project", p.to_str().unwrap(), "export", "-o", db.to_str().unwrap(), "--force"],
    );
    assert!(!ok && err.contains("never writes"), "{err}");
    // Nothing was lost: the store opens, the labels and the config are as they were, and no
    // temporary file was left behind.
    assert_eq!(current_labels(p), labels_before);
    assert_eq!(std::fs::read(p.join("hifi.toml")).unwrap(), toml_before);
    let (ok, _, err) = hifi_in(p, &["status"]);
    assert!(ok, "{err}");
    let stray: Vec<String> = std::fs::read_dir(p)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");

    // An existing file is replaced only with --force.
    std::fs::write(p.join("train.jsonl"), "keep me\n").unwrap();
    let (ok, _, err) = hifi_in(p, &["export", "--split", "all", "-o", "train.jsonl"]);
    assert!(!ok && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(p.join("train.jsonl")).unwrap(), "keep me\n");
    let (ok, out, err) = hifi_in(p, &["export", "--split", "all", "-o", "train.jsonl", "--force"]);
    assert!(ok, "{err}");
    assert!(out.contains("wrote 3 items"), "{out}");
    assert_eq!(std::fs::read_to_string(p.join("train.jsonl")).unwrap().lines().count(), 3);
}

#[test]
fn csv_exports_quote_formulas_unless_asked() {
    let dir = labeled_project(ADS);
    let p = dir.path();
    let (ok, _, err) =
        hifi_in(p, &["export", "--split", "all", "--format", "csv", "-o", "guarded.csv"]);
    assert!(ok, "{err}");
    let guarded = std::fs::read_to_string(p.join("guarded.csv")).unwrap();
    let mut rows = csv::Reader::from_reader(guarded.as_bytes());
    let texts: Vec<String> = rows.records().map(|r| r.unwrap()[1].to_string()).collect();
    assert!(texts.iter().any(|t| t.starts_with("'=HYPERLINK(")), "{texts:?}");
    assert!(texts.iter().all(|t| !t.starts_with('=')), "{texts:?}");
    let (ok, _, err) = hifi_in(
        p,
        &["export", "--split", "all", "--format", "csv", "--csv-formulas", "-o", "raw.csv"],
    );
    assert!(ok, "{err}");
    let raw = std::fs::read_to_string(p.join("raw.csv")).unwrap();
    let mut rows = csv::Reader::from_reader(raw.as_bytes());
    assert!(rows.records().any(|r| r.unwrap()[1].starts_with("=HYPERLINK(")), "{raw}");
    // The audit export guards its cells the same way.
    let (ok, _, err) = hifi_in(p, &["labels", "export", "--format", "csv", "-o", "events.csv"]);
    assert!(ok, "{err}");
    let events = std::fs::read_to_string(p.join("events.csv")).unwrap();
    assert!(!events.lines().any(|l| l.split(',').any(|c| c.starts_with('='))), "{events}");
}

/// The vectors of every embedded item, by item key, through the reader mining uses.
fn vectors(p: &Path) -> Result<Vec<(i64, Vec<f32>)>, String> {
    let store = hifi::store::Store::open(p).map_err(|e| e.to_string())?;
    let v = hifi::llm::embed::Vectors::open(&store, None).map_err(|e| e.to_string())?;
    Ok(v.rows.iter().map(|(k, r)| (*k, v.row(*r))).collect())
}

fn embed(p: &Path) -> (bool, String, String) {
    hifi_in(p, &["embed"])
}

#[test]
fn case4_and_5_vector_files_links_missing_short_and_swapped() {
    require_model();
    let dir = labeled_project(ADS);
    let p = dir.path();

    // Case 4: the vector file is a link to a file outside the project.
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim.bin");
    std::fs::write(&victim, b"precious bytes").unwrap();
    std::fs::create_dir_all(p.join("vectors")).unwrap();
    std::os::unix::fs::symlink(&victim, p.join("vectors/emb-1.f32")).unwrap();
    let (ok, _, err) = embed(p);
    assert!(!ok, "embed wrote through a link");
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious bytes");
    std::fs::remove_file(p.join("vectors/emb-1.f32")).unwrap();
    // …and the vectors folder itself a link.
    std::fs::remove_dir(p.join("vectors")).unwrap();
    std::os::unix::fs::symlink(outside.path(), p.join("vectors")).unwrap();
    let (ok, _, err) = embed(p);
    assert!(!ok && err.contains("symbolic link"), "{err}");
    assert_eq!(
        std::fs::read_dir(outside.path()).unwrap().count(),
        1,
        "something was written outside the project"
    );
    std::fs::remove_file(p.join("vectors")).unwrap();

    let (ok, out, err) = embed(p);
    assert!(ok, "{err}");
    assert!(out.contains("embedded 6 items"), "{out}");
    let good = vectors(p).unwrap();
    assert_eq!(good.len(), 6);
    let file = p.join("vectors/emb-1.f32");

    // Case 5a: the file is deleted. Readers say so; embed embeds every row again.
    std::fs::remove_file(&file).unwrap();
    let e = vectors(p).unwrap_err();
    assert!(e.contains("missing") && e.contains("hifi embed"), "{e}");
    let (ok, out, err) = embed(p);
    assert!(ok, "{err}");
    assert!(err.contains("is missing; embedding 6 items again"), "{err}");
    assert!(out.contains("embedded 6 items"), "{out}");
    assert_close(&vectors(p).unwrap(), &good);

    // Case 5b: the file is cut short (two rows and a half left).
    let len = std::fs::metadata(&file).unwrap().len();
    let row = (len - 64) / 6;
    let f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
    f.set_len(64 + 2 * row + row / 2).unwrap();
    drop(f);
    let e = vectors(p).unwrap_err();
    assert!(e.contains("holds 2 of the 6"), "{e}");
    let (ok, out, err) = embed(p);
    assert!(ok, "{err}");
    assert!(err.contains("holds 2 of the store's 6 vectors; embedding 4 items again"), "{err}");
    assert!(out.contains("embedded 4 items"), "{out}");
    assert_close(&vectors(p).unwrap(), &good);

    // Case 5c: the file is swapped for another project's (same model).
    let other = labeled_project(&ADS[..3]);
    let (ok, _, err) = embed(other.path());
    assert!(ok, "{err}");
    std::fs::copy(other.path().join("vectors/emb-1.f32"), &file).unwrap();
    let e = vectors(p).unwrap_err();
    assert!(e.contains("not this project's vector file"), "{e}");
    let (ok, out, err) = embed(p);
    assert!(ok, "{err}");
    assert!(err.contains("not this project's vector file"), "{err}");
    assert!(out.contains("embedded 6 items"), "{out}");
    assert_close(&vectors(p).unwrap(), &good);
    // Never zeros.
    assert!(vectors(p).unwrap().iter().all(|(_, v)| v.iter().any(|x| *x != 0.0)));
}

fn assert_close(a: &[(i64, Vec<f32>)], b: &[(i64, Vec<f32>)]) {
    assert_eq!(a.len(), b.len());
    for ((ka, va), (kb, vb)) in a.iter().zip(b) {
        assert_eq!(ka, kb);
        let dot: f32 = va.iter().zip(vb).map(|(x, y)| x * y).sum();
        assert!(dot > 0.999, "item {ka}: cosine {dot} with the first embedding");
    }
}

#[test]
fn links_where_hifi_writes_inside_a_project_are_refused() {
    let dir = labeled_project(ADS);
    let p = dir.path();
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim.log");
    std::fs::write(&victim, b"keep").unwrap();
    // hifi.log (written while the workstation is up) is opened without following links.
    std::os::unix::fs::symlink(&victim, p.join("hifi.log")).unwrap();
    let e = hifi::files::open_append(&p.join("hifi.log")).unwrap_err();
    assert!(e.to_string().contains("symbolic link"), "{e}");
    // An export may replace a link with --force; the link's target is never written.
    std::os::unix::fs::symlink(&victim, p.join("out.jsonl")).unwrap();
    let (ok, _, err) = hifi_in(p, &["export", "--split", "all", "-o", "out.jsonl"]);
    assert!(!ok && err.contains("--force"), "{err}");
    let (ok, _, err) = hifi_in(p, &["export", "--split", "all", "-o", "out.jsonl", "--force"]);
    assert!(ok, "{err}");
    assert!(!std::fs::symlink_metadata(p.join("out.jsonl")).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
}
