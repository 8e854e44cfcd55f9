//! Stale outputs: files the last build generated that no rule produces any
//! more. They are removed (and directories left empty by that); one that
//! cannot be removed fails the build and keeps its record.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use crate::paths::ProjPath;

/// What removing the stale outputs did.
#[derive(Debug, Default)]
pub struct StaleRemoval {
    /// Removed (or already gone).
    pub removed: Vec<ProjPath>,
    /// Could not be removed, with why: they keep their records.
    pub kept: Vec<(ProjPath, String)>,
}

/// Remove `stale` under `root`, then every directory that removing them
/// left empty (up to, not including, the root).
pub fn remove(root: &Path, stale: &[ProjPath]) -> StaleRemoval {
    let mut result = StaleRemoval::default();
    for path in stale {
        match fs::remove_file(path.to_disk(root)) {
            Ok(()) => result.removed.push(path.clone()),
            Err(e) if e.kind() == ErrorKind::NotFound => result.removed.push(path.clone()),
            Err(e) => result.kept.push((path.clone(), e.to_string())),
        }
    }
    for path in &result.removed {
        remove_empty_parents(root, path);
    }
    result
}

fn remove_empty_parents(root: &Path, path: &ProjPath) {
    let mut dir = path.parent();
    while !dir.is_root() {
        // remove_dir fails on a non-empty directory: that is the stop.
        if fs::remove_dir(dir.to_disk(root)).is_err() {
            return;
        }
        dir = dir.parent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_files_and_emptied_dirs_only() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::create_dir_all(root.join("c")).unwrap();
        fs::write(root.join("a/b/old.o"), "x").unwrap();
        fs::write(root.join("c/old.o"), "x").unwrap();
        fs::write(root.join("c/keep.c"), "x").unwrap();
        let stale = ["a/b/old.o", "c/old.o", "gone.o"].map(|s| ProjPath::new(s).unwrap());
        let r = remove(root, &stale);
        assert_eq!(r.removed.len(), 3);
        assert!(r.kept.is_empty());
        assert!(!root.join("a").exists());
        assert!(root.join("c/keep.c").exists());
        assert!(!root.join("c/old.o").exists());
    }

    #[test]
    fn undeletable_output_is_kept_with_reason() {
        let t = tempfile::tempdir().unwrap();
        // A directory where a file was: remove_file fails.
        fs::create_dir_all(t.path().join("x.o/sub")).unwrap();
        let r = remove(t.path(), &[ProjPath::new("x.o").unwrap()]);
        assert_eq!(r.kept.len(), 1);
        assert!(t.path().join("x.o").exists());
    }
}
