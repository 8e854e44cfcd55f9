//! Open files and directories of one job: the handle table behind the
//! kernel's file handles, and the kernel passthrough backing ids shared by
//! all open handles of one inode.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use fuser::{BackingId, FileType, INodeNo};

/// How many read-only opens one job keeps cached: enough for a compiler's
/// project headers, bounded so `-j N` jobs stay far below `RLIMIT_NOFILE`.
const MAX_READERS: usize = 64;

/// An open file: our descriptor on the backing file (the real one or the
/// job's staged copy) and, under passthrough, the kernel's backing id.
#[derive(Debug)]
pub(crate) struct OpenFile {
    /// Used for `read`/`write` when the kernel does not pass through, and
    /// for `getattr`/`setattr` on the handle.
    pub(crate) file: File,
    /// Where `file` was opened (what a cached reader must still match).
    pub(crate) disk: PathBuf,
    /// Keeps the backing id registered while the kernel may use it.
    pub(crate) backing: Option<Arc<BackingId>>,
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
    File(Arc<OpenFile>),
    /// A directory listing, taken at `opendir` so `readdir` offsets are stable.
    Dir(Vec<DirEntry>),
}

/// A job's handle table.
#[derive(Debug, Default)]
pub(crate) struct Handles {
    next: AtomicU64,
    map: Mutex<HashMap<u64, Arc<Handle>>>,
    /// Read-only opens are shared per inode for the job's lifetime: a
    /// repeated open costs the daemon no `open(2)` and no backing ioctls.
    readers: Mutex<HashMap<u64, Arc<OpenFile>>>,
    /// Backing ids of write opens, shared while any handle holds them.
    backings: Mutex<HashMap<(u64, PathBuf), Weak<BackingId>>>,
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

    /// The cached read-only open of inode `ino`, if it is still of `disk`.
    pub(crate) fn reader(&self, ino: u64, disk: &Path) -> Option<Arc<OpenFile>> {
        lock(&self.readers)
            .get(&ino)
            .filter(|open| open.disk == disk)
            .cloned()
    }

    /// Cache a read-only open of inode `ino`, unless the job already holds
    /// [`MAX_READERS`] (each costs the daemon a descriptor until the job ends).
    pub(crate) fn keep_reader(&self, ino: u64, open: Arc<OpenFile>) {
        let mut readers = lock(&self.readers);
        if readers.len() < MAX_READERS || readers.contains_key(&ino) {
            readers.insert(ino, open);
        }
    }

    /// The backing id for inode `ino` on `disk`, registering one if no open
    /// handle holds it (the kernel wants one backing file per inode).
    pub(crate) fn backing(
        &self,
        ino: u64,
        disk: &Path,
        register: impl FnOnce() -> io::Result<BackingId>,
    ) -> io::Result<Arc<BackingId>> {
        let mut map = lock(&self.backings);
        let key = (ino, disk.to_owned());
        if let Some(id) = map.get(&key).and_then(Weak::upgrade) {
            return Ok(id);
        }
        let id = Arc::new(register()?);
        map.insert(key, Arc::downgrade(&id));
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
