//! A job's inode table: the project-relative path behind each inode number
//! the kernel knows for this job, stable for the job's lifetime.
//!
//! Entries are never reused within a job (the table dies with the job), so a
//! stale inode from the kernel at worst resolves to its last path.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::paths;

/// Paths by local inode index, and the reverse map.
#[derive(Debug)]
pub(crate) struct InodeTable {
    paths: Vec<Arc<str>>,
    by_path: FxHashMap<Arc<str>, u32>,
}

impl InodeTable {
    /// A table holding only the job's root (index 0, path "").
    pub(crate) fn new() -> InodeTable {
        let root: Arc<str> = Arc::from("");
        InodeTable {
            paths: vec![root.clone()],
            by_path: FxHashMap::from_iter([(root, 0)]),
        }
    }

    /// The path behind local index `local`.
    pub(crate) fn path(&self, local: u32) -> Option<Arc<str>> {
        self.paths.get(local as usize).cloned()
    }

    /// The index of `path`, if the kernel was already told about it.
    pub(crate) fn get(&self, path: &str) -> Option<u32> {
        self.by_path.get(path).copied()
    }

    /// The index of `path`, allocating one if needed.
    pub(crate) fn intern(&mut self, path: &str) -> u32 {
        if let Some(local) = self.get(path) {
            return local;
        }
        let local = self.paths.len() as u32;
        let path: Arc<str> = Arc::from(path);
        self.paths.push(path.clone());
        self.by_path.insert(path, local);
        local
    }

    /// A new index for `path`, which the job just made: the kernel must not
    /// take it for the inode of an older file at that path that is still
    /// open (unlinked or renamed away). The older index keeps resolving
    /// to `path` for the requests on its open files.
    pub(crate) fn fresh(&mut self, path: &str) -> u32 {
        let local = self.paths.len() as u32;
        let path: Arc<str> = Arc::from(path);
        self.paths.push(path.clone());
        self.by_path.insert(path, local);
        local
    }

    /// After a rename: the nodes at `from` and below now live at `to`
    /// (the kernel keeps their inode numbers).
    pub(crate) fn rename(&mut self, from: &str, to: &str) {
        for (local, path) in self.paths.iter_mut().enumerate() {
            if paths::is_within(path, from) {
                let moved: Arc<str> = Arc::from(paths::rebase(path, from, to));
                if self.by_path.get(&**path) == Some(&(local as u32)) {
                    self.by_path.remove(&**path);
                }
                self.by_path.insert(moved.clone(), local as u32);
                *path = moved;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intern_is_stable_and_rename_moves_subtrees() {
        let mut t = InodeTable::new();
        assert_eq!(t.get(""), Some(0));
        let d = t.intern("d");
        let f = t.intern("d/f");
        assert_eq!(t.intern("d"), d);
        t.rename("d", "e");
        assert_eq!(t.path(f).as_deref(), Some("e/f"));
        assert_eq!(t.get("e"), Some(d));
        assert_eq!(t.get("d/f"), None);
        let again = t.fresh("e");
        assert_ne!(again, d);
        assert_eq!(t.get("e"), Some(again));
        assert_eq!(t.path(d).as_deref(), Some("e"));
    }
}
