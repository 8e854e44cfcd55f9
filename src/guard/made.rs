//! `.tupfs/outputs`: the files tupfs's builds made, kept apart from the
//! index so that tupfs can tell its own outputs from a user's files even
//! when the index is gone, damaged or of another format, and after a build
//! killed between committing outputs and writing its index.
//!
//! One project path a line. Before anything runs, a build appends (and
//! fsyncs) every output of its graph that the file and the index do not
//! know yet; after its index is written, the file is rewritten to hold
//! exactly the outputs that index records (only when that set differs).

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::path::{Path, PathBuf};

use crate::paths::ProjPath;

/// The file's name in `.tupfs/`.
pub const MADE_FILE: &str = "outputs";

/// The first line of the file (lines starting with `#` are not paths).
const HEADER: &str =
    "# outputs of tupfs builds in this project, one a line (tupfs keeps this file)";

/// Where the record of `state_dir`'s project lives.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(MADE_FILE)
}

/// The paths the record holds, or None when there is no record.
pub fn load(state_dir: &Path) -> io::Result<Option<HashSet<String>>> {
    let text = match fs::read(path(state_dir)) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let text = String::from_utf8_lossy(&text);
    Ok(Some(
        text.lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect(),
    ))
}

/// Whether the record exists (one `stat`).
pub fn exists(state_dir: &Path) -> bool {
    path(state_dir).exists()
}

/// Add `paths` to the record, durably (fsync) before returning: a build
/// calls this before any command runs, so whatever it commits is known
/// to the next build even if this one is killed before its index is
/// written.
pub fn append<'a>(
    state_dir: &Path,
    paths: impl IntoIterator<Item = &'a ProjPath>,
) -> io::Result<()> {
    let file = path(state_dir);
    let created = !file.exists();
    let mut text = String::new();
    if created {
        text.push_str(HEADER);
        text.push('\n');
    }
    let before = text.len();
    for p in paths.into_iter().filter(|p| recordable(p)) {
        text.push_str(p.as_str());
        text.push('\n');
    }
    if text.len() == before {
        return Ok(());
    }
    let mut out = OpenOptions::new().create(true).append(true).open(&file)?;
    out.write_all(text.as_bytes())?;
    out.sync_all()?;
    if created {
        File::open(state_dir)?.sync_all()?;
    }
    Ok(())
}

/// Replace the record by exactly `paths` (temp file, fsync, rename).
pub fn rewrite<'a>(
    state_dir: &Path,
    paths: impl IntoIterator<Item = &'a ProjPath>,
) -> io::Result<()> {
    let mut text = String::from(HEADER);
    text.push('\n');
    for p in paths.into_iter().filter(|p| recordable(p)) {
        text.push_str(p.as_str());
        text.push('\n');
    }
    let tmp = state_dir.join(format!("{MADE_FILE}.tmp"));
    let mut out = File::create(&tmp)?;
    out.write_all(text.as_bytes())?;
    out.sync_all()?;
    fs::rename(&tmp, path(state_dir))?;
    File::open(state_dir)?.sync_all()
}

/// A path the line format can hold (a newline in a name cannot be
/// recorded: such an output counts as not made by tupfs, the safe side).
fn recordable(p: &ProjPath) -> bool {
    !p.as_str().contains('\n') && !p.as_str().starts_with('#')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ProjPath {
        ProjPath::new(s).unwrap()
    }

    #[test]
    fn append_then_rewrite() {
        let t = tempfile::tempdir().unwrap();
        assert!(load(t.path()).unwrap().is_none());
        append(t.path(), &[p("a.o"), p("sub/b.o")]).unwrap();
        append(t.path(), &[p("c.o")]).unwrap();
        let set = load(t.path()).unwrap().unwrap();
        assert_eq!(set.len(), 3);
        assert!(set.contains("sub/b.o") && set.contains("c.o"));
        rewrite(t.path(), &[p("c.o")]).unwrap();
        let set = load(t.path()).unwrap().unwrap();
        assert_eq!(set.into_iter().collect::<Vec<_>>(), vec!["c.o".to_string()]);
    }
}
