//! Every file hifi writes goes through here, so that no output can destroy a project:
//!
//! - a new file is first written to a temporary file created *exclusively* (`O_EXCL |
//!   O_NOFOLLOW`, an unpredictable name) in the target's own folder, fsynced, renamed over the
//!   target, and the folder fsynced: a crash leaves the old file or the new one, never half;
//! - an output a user names (`export -o`, `labels export -o`, `select export`) never replaces a
//!   project's own files (hifi.db and its -wal/-shm/-journal, hifi.toml, hifi.log, vectors/,
//!   adapters/, runs/) nor any SQLite database, and replaces another existing file only with
//!   `--force` (without it the final step is a no-replace link, so a file that appears
//!   meanwhile is not replaced either);
//! - inside a project, a symbolic link where hifi writes is refused with an error that names
//!   it, and files opened for appending are opened with `O_NOFOLLOW`.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Top-level entries of a project folder that only hifi writes.
pub const PROJECT_FILES: &[&str] = &[
    "hifi.db",
    "hifi.db-wal",
    "hifi.db-shm",
    "hifi.db-journal",
    "hifi.toml",
    "hifi.log",
    "vectors",
    "adapters",
    "runs",
];

/// A temporary file beside its target; removed on drop unless committed.
pub struct TempFile {
    file: Option<File>,
    path: PathBuf,
}

impl TempFile {
    /// Create `.NAME.RANDOM.tmp` exclusively in `dir` (never following a link, never reusing a
    /// name).
    pub fn new_in(dir: &Path, name: &OsStr) -> io::Result<Self> {
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        let mut last = None;
        for _ in 0..16 {
            let path =
                dir.join(format!(".{}.{:016x}.tmp", name.to_string_lossy(), rand::random::<u64>()));
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&path)
            {
                Ok(file) => return Ok(Self { file: Some(file), path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("cannot create a temporary file")))
    }

    pub fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("a TempFile holds its file until committed")
    }

    /// fsync the data, move it to `target` (replacing an existing file only when `replace`),
    /// and fsync the folder.
    pub fn commit(mut self, target: &Path, replace: bool) -> io::Result<()> {
        let file = self.file.take().expect("a TempFile is committed once");
        file.sync_all()?;
        drop(file);
        if replace {
            std::fs::rename(&self.path, target)?;
        } else {
            // link(2) never replaces: a file that appeared since the caller looked stays. Where
            // the file system has no hard links, look once more and rename.
            match std::fs::hard_link(&self.path, target) {
                Ok(()) => {
                    let _ = std::fs::remove_file(&self.path);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(e),
                Err(_) if std::fs::symlink_metadata(target).is_ok() => {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        "already exists; pass --force to replace it",
                    ))
                }
                Err(_) => std::fs::rename(&self.path, target)?,
            }
        }
        self.path = PathBuf::new();
        sync_dir(target.parent().unwrap_or(Path::new(".")))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// fsync a folder, so a rename in it survives a power cut.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    File::open(dir)?.sync_all()
}

/// Write `bytes` to `path` atomically (see the module docs); replaces an existing file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with(path, true, |f| f.write_all(bytes))
}

/// Write `path` atomically with `fill`, replacing an existing file only when `replace`.
pub fn write_with(
    path: &Path,
    replace: bool,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new(""));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let mut tmp = TempFile::new_in(dir, name)?;
    fill(tmp.file())?;
    tmp.commit(path, replace)
}

/// Write a folder atomically: `files` (paths relative to `dir`, in subfolders as named) into a
/// temporary folder created exclusively beside `dir`, each file and folder fsynced, then the
/// folder renamed into place and its parent fsynced. An existing `dir` is replaced only when
/// `replace` (swapped in one step where the file system can, and the old folder removed);
/// without it a folder that appears meanwhile is not replaced either. On any failure the
/// temporary folder is removed and `dir` is as it was.
pub fn write_folder(dir: &Path, files: &[(&str, &[u8])], replace: bool) -> io::Result<()> {
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = dir
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a folder name"))?;
    let tmp = TempDir::new_in(parent, name)?;
    let mut folders = vec![tmp.path.clone()];
    for (rel, bytes) in files {
        let p = tmp.path.join(rel);
        if let Some(d) = p.parent() {
            if !folders.iter().any(|f| f == d) {
                std::fs::create_dir_all(d)?;
                folders.push(d.to_path_buf());
            }
        }
        write_with(&p, false, |f| f.write_all(bytes))?;
    }
    for f in folders.iter().rev() {
        sync_dir(f)?;
    }
    tmp.commit(dir, replace)?;
    sync_dir(parent)
}

/// A temporary folder beside its target; removed (with what is in it) on drop unless
/// committed.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Create `.NAME.RANDOM.tmp` exclusively in `dir`.
    fn new_in(dir: &Path, name: &OsStr) -> io::Result<Self> {
        let mut last = None;
        for _ in 0..16 {
            let path =
                dir.join(format!(".{}.{:016x}.tmp", name.to_string_lossy(), rand::random::<u64>()));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(Self { path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("cannot create a temporary folder")))
    }

    /// Move the folder to `target`: never over an existing one unless `replace`, then in one
    /// exchange where the file system can (the old folder removed afterwards).
    fn commit(mut self, target: &Path, replace: bool) -> io::Result<()> {
        let exists = std::fs::symlink_metadata(target).is_ok();
        if exists && !replace {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "already exists; pass --force to replace it",
            ));
        }
        if !exists {
            match rename2(&self.path, target, libc::RENAME_NOREPLACE) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        "already exists; pass --force to replace it",
                    ))
                }
                // A file system without renameat2 flags: looked at above, rename.
                Err(e) if unsupported(&e) => std::fs::rename(&self.path, target)?,
                Err(e) => return Err(e),
            }
            self.path = PathBuf::new();
            return Ok(());
        }
        match rename2(&self.path, target, libc::RENAME_EXCHANGE) {
            // The old folder is now at our temporary path: removed on drop.
            Ok(()) => Ok(()),
            Err(e) if unsupported(&e) => {
                let parent = target.parent().unwrap_or(Path::new("."));
                let name = target.file_name().unwrap_or(OsStr::new("folder"));
                let old = parent.join(format!(
                    ".{}.{:016x}.old",
                    name.to_string_lossy(),
                    rand::random::<u64>()
                ));
                std::fs::rename(target, &old)?;
                if let Err(e) = std::fs::rename(&self.path, target) {
                    let _ = std::fs::rename(&old, target);
                    return Err(e);
                }
                self.path = old;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// renameat2(2) with `flags`.
fn rename2(from: &Path, to: &Path, flags: libc::c_uint) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path with a NUL byte"))
    };
    let (a, b) = (c(from)?, c(to)?);
    // SAFETY: both paths are NUL-terminated C strings that outlive the call.
    let rc =
        unsafe { libc::renameat2(libc::AT_FDCWD, a.as_ptr(), libc::AT_FDCWD, b.as_ptr(), flags) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// renameat2's flags are not supported here (old kernel or file system).
fn unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP))
}

/// Open `path` for appending (created if missing), refusing a symbolic link.
pub fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| link_error(path, e))
}

/// Open `path` for reading, refusing a symbolic link.
pub fn open_read(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| link_error(path, e))
}

/// ELOOP from O_NOFOLLOW says little; say what it means.
fn link_error(path: &Path, e: io::Error) -> io::Error {
    if e.raw_os_error() == Some(libc::ELOOP) {
        symlink_refused(path)
    } else {
        e
    }
}

fn symlink_refused(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{} is a symbolic link; hifi writes only real files and folders inside a project (remove the link and run the command again)",
            crate::text::inert(&path.display().to_string(), false)
        ),
    )
}

/// Refuse when any existing component of `path` below `root` (the project folder) is a
/// symbolic link, and create the folders up to `path`'s parent.
pub fn prepare_in_project(root: &Path, path: &Path) -> io::Result<()> {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let mut at = root.to_path_buf();
    let comps: Vec<_> = rel.components().collect();
    for (i, c) in comps.iter().enumerate() {
        at.push(c);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => return Err(symlink_refused(&at)),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if i + 1 < comps.len() {
                    std::fs::create_dir(&at).or_else(|e| {
                        if e.kind() == io::ErrorKind::AlreadyExists {
                            Ok(())
                        } else {
                            Err(e)
                        }
                    })?;
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Why `path` must never be written by an export, if it must not: it is one of a project's
/// own files (or inside its vectors/, adapters/, runs/), or a SQLite database.
pub fn protected(path: &Path) -> Option<String> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name()?;
    // The folder as it really is: its deepest existing part resolved, the rest appended.
    let mut dir = None;
    for a in parent.ancestors() {
        let at = if a.as_os_str().is_empty() { Path::new(".") } else { a };
        if let Ok(real) = std::fs::canonicalize(at) {
            dir = Some(real.join(parent.strip_prefix(a).unwrap_or(Path::new(""))));
            break;
        }
    }
    let dir = dir?;
    let is_project = |d: &Path| {
        d.join(crate::config::CONFIG_FILE).exists() || d.join(crate::store::DB_FILE).exists()
    };
    let own = |n: &OsStr| PROJECT_FILES.iter().any(|p| OsStr::new(p) == n);
    if is_project(&dir) && own(name) {
        return Some(format!(
            "{} is a file of the hifi project {}",
            name.to_string_lossy(),
            dir.display()
        ));
    }
    for a in dir.ancestors() {
        if let (Some(n), Some(up)) = (a.file_name(), a.parent()) {
            if own(n) && is_project(up) {
                return Some(format!(
                    "it lies inside {} of the hifi project {}",
                    n.to_string_lossy(),
                    up.display()
                ));
            }
        }
    }
    let mut head = [0u8; 16];
    if let Ok(mut f) = open_read(path) {
        if std::io::Read::read_exact(&mut f, &mut head).is_ok() && &head == b"SQLite format 3\0" {
            return Some("it is a SQLite database".into());
        }
    }
    None
}

/// Check that an output a user named may be written: not a project's own file, and not an
/// existing file unless `force`.
pub fn check_output(path: &Path, force: bool) -> io::Result<()> {
    if path == Path::new("-") {
        return Ok(());
    }
    if let Some(why) = protected(path) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "hifi never writes an export over this file: {} (choose another file name)",
                crate::text::inert(&why, false)
            ),
        ));
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {
            Err(io::Error::new(io::ErrorKind::InvalidInput, "is a folder; give a file name"))
        }
        Ok(_) if !force => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "already exists; pass --force to replace it",
        )),
        _ => Ok(()),
    }
}

/// Write an output a user named (`-` is stdout): checked with [`check_output`], then written
/// atomically.
pub fn write_output(path: &Path, bytes: &[u8], force: bool) -> io::Result<()> {
    if path == Path::new("-") {
        let mut out = std::io::stdout().lock();
        out.write_all(bytes)?;
        return out.flush();
    }
    check_output(path, force)?;
    write_with(path, force, |f| f.write_all(bytes))
}

/// A CSV cell made safe to open in a spreadsheet: a cell that starts with `=`, `+`, `-`, `@`,
/// tab or carriage return (and is not a plain number) is prefixed with `'`, so it is shown as
/// text rather than run as a formula (OWASP "CSV injection").
pub fn csv_cell(s: &str) -> std::borrow::Cow<'_, str> {
    match s.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') if s.trim().parse::<f64>().is_err() => {
            format!("'{s}").into()
        }
        _ => s.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "hifi-files-{tag}-{}-{:x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// `to` relative to `from` (both absolute), with `..` as needed.
    fn pathdiff(to: &Path, from: &Path) -> PathBuf {
        let common = to.components().zip(from.components()).take_while(|(a, b)| a == b).count();
        let mut out = PathBuf::new();
        for _ in from.components().skip(common) {
            out.push("..");
        }
        to.components().skip(common).for_each(|c| out.push(c));
        out
    }

    #[test]
    fn outputs_never_replace_project_files() {
        let p = tmpdir("proj");
        std::fs::write(p.join("hifi.toml"), "x").unwrap();
        std::fs::write(p.join("hifi.db"), b"SQLite format 3\0rest").unwrap();
        std::fs::create_dir_all(p.join("vectors/sub")).unwrap();
        for name in [
            "hifi.db",
            "hifi.db-wal",
            "hifi.toml",
            "vectors/emb-1.f32",
            "vectors/sub/x",
            "adapters/a.gguf",
            "adapters/r1/x",
        ] {
            let e = write_output(&p.join(name), b"data", true).unwrap_err();
            assert!(e.to_string().contains("never writes"), "{name}: {e}");
        }
        // Relative to the current folder, as `cd proj && hifi export -o adapters/x`.
        let here = std::env::current_dir().unwrap();
        let rel = pathdiff(&p, &here);
        assert!(protected(&rel.join("adapters/new/x")).is_some(), "{}", rel.display());
        assert_eq!(std::fs::read(p.join("hifi.toml")).unwrap(), b"x");
        // A database outside any project is refused too; other files need --force.
        let other = tmpdir("other");
        std::fs::copy(p.join("hifi.db"), other.join("copy.db")).unwrap();
        assert!(write_output(&other.join("copy.db"), b"d", true).is_err());
        std::fs::write(other.join("out.jsonl"), "old").unwrap();
        let e = write_output(&other.join("out.jsonl"), b"new", false).unwrap_err();
        assert!(e.to_string().contains("--force"), "{e}");
        assert_eq!(std::fs::read(other.join("out.jsonl")).unwrap(), b"old");
        write_output(&other.join("out.jsonl"), b"new", true).unwrap();
        assert_eq!(std::fs::read(other.join("out.jsonl")).unwrap(), b"new");
        write_output(&other.join("fresh.jsonl"), b"f", false).unwrap();
        // No temporary file is left behind.
        let names: Vec<String> = std::fs::read_dir(&other)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
        let _ = std::fs::remove_dir_all(&p);
        let _ = std::fs::remove_dir_all(&other);
    }

    #[test]
    fn links_inside_a_project_are_refused() {
        let p = tmpdir("links");
        let outside = tmpdir("outside");
        std::fs::write(outside.join("victim"), "keep").unwrap();
        std::os::unix::fs::symlink(outside.join("victim"), p.join("hifi.log")).unwrap();
        let e = open_append(&p.join("hifi.log")).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        std::os::unix::fs::symlink(&outside, p.join("adapters")).unwrap();
        let e = prepare_in_project(&p, &p.join("adapters/r1.gguf")).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        prepare_in_project(&p, &p.join("vectors/deep/x.f32")).unwrap();
        assert!(p.join("vectors/deep").is_dir());
        assert_eq!(std::fs::read(outside.join("victim")).unwrap(), b"keep");
        let _ = std::fs::remove_dir_all(&p);
        let _ = std::fs::remove_dir_all(&outside);
    }

    #[test]
    fn folders_are_written_whole_and_replaced_only_when_asked() {
        let p = tmpdir("folder");
        let d = p.join("ds");
        write_folder(&d, &[("README.md", b"one"), ("data/a.parquet", b"x")], false).unwrap();
        assert_eq!(std::fs::read(d.join("data/a.parquet")).unwrap(), b"x");
        let e = write_folder(&d, &[("README.md", b"two")], false).unwrap_err();
        assert!(e.to_string().contains("--force"), "{e}");
        assert_eq!(std::fs::read(d.join("README.md")).unwrap(), b"one");
        write_folder(&d, &[("README.md", b"two")], true).unwrap();
        assert_eq!(std::fs::read(d.join("README.md")).unwrap(), b"two");
        assert!(!d.join("data").exists(), "the old folder's files are gone");
        // Nothing temporary is left beside it.
        let names: Vec<String> = std::fs::read_dir(&p)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into())
            .collect();
        assert_eq!(names, ["ds"]);
        let _ = std::fs::remove_dir_all(&p);
    }

    #[test]
    fn formula_cells_are_quoted_numbers_are_not() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("+1+cmd"), "'+1+cmd");
        assert_eq!(csv_cell("\tx"), "'\tx");
        assert_eq!(csv_cell("-0.25"), "-0.25");
        assert_eq!(csv_cell("plain = text"), "plain = text");
    }
}
