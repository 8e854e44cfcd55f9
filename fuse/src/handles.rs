//! Open files and directories of one job: the handle table behind the
//! kernel's file handles, and the kernel passthrough backing ids shared by
//! all open handles of one inode.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use fuser::{BackingId, FileType, INodeNo};

/// An open file: our descriptor on the backing file (the real one or the
/// job's staged copy) and, under passthrough, the kernel's backing id.
#[derive(Debug)]
pub(crate) struct OpenFile {
    /// Used for `read`/`write` when the kernel does not pass through, and
    /// for `getattr`/`setattr` on the handle.
    pub(crate) file: File,
    /// Keeps the backing id registered while the kernel uses it.
    pub(crate) _backing: Option<Arc<BackingId>>,
}

/// One entry of a directory listing.
#[derive(Debug, Clone)]
pub(crate) struct DirEntry {
    pub(crate) name: OsString,
    pub(crate) kind: FileType,
    pub(crate) ino: INodeNo,
}

/// What a kernel file handle refers to.
#[derive(Debug)]
pub(crate) enum Handle {
    File(OpenFile),
    /// A directory listing, taken at `opendir` so `readdir` offsets are stable.
    Dir(Vec<DirEntry>),
}

/// A job's handle table.
#[derive(Debug, Default)]
pub(crate) struct Handles {
    next: AtomicU64,
    map: Mutex<HashMap<u64, Arc<Handle>>>,
    backings: Mutex<HashMap<u64, Weak<BackingId>>>,
}

impl Handles {
    /// Register a handle; returns its number for the kernel.
    pub(crate) fn insert(&self, handle: Handle) -> u64 {
        let fh = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        lock(&self.map).insert(fh, Arc::new(handle));
        fh
    }

    /// The handle behind `fh`.
    pub(crate) fn get(&self, fh: u64) -> Option<Arc<Handle>> {
        lock(&self.map).get(&fh).cloned()
    }

    /// The open file behind `fh`, if it is one.
    pub(crate) fn file(&self, fh: u64) -> Option<Arc<Handle>> {
        self.get(fh).filter(|h| matches!(**h, Handle::File(_)))
    }

    /// Forget `fh` (the kernel released it).
    pub(crate) fn remove(&self, fh: u64) {
        lock(&self.map).remove(&fh);
    }

    /// The backing id for inode `ino`, registering `file` if no open handle
    /// of that inode holds one (the kernel wants one backing file per inode).
    pub(crate) fn backing(
        &self,
        ino: u64,
        register: impl FnOnce() -> io::Result<BackingId>,
    ) -> io::Result<Arc<BackingId>> {
        let mut map = lock(&self.backings);
        if let Some(id) = map.get(&ino).and_then(Weak::upgrade) {
            return Ok(id);
        }
        let id = Arc::new(register()?);
        map.insert(ino, Arc::downgrade(&id));
        Ok(id)
    }
}

impl Handle {
    /// The open file, if this is one.
    pub(crate) fn as_file(&self) -> Option<&File> {
        match self {
            Handle::File(open) => Some(&open.file),
            Handle::Dir(_) => None,
        }
    }
}

/// Lock, taking the data even if another thread panicked while holding it:
/// one failed request must not stop the daemon.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
