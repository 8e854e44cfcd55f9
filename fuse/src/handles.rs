//! Open files and directories of one job: the handle table behind the
//! kernel's file handles, and how each open file does its io.
//!
//! The kernel holds each inode in one io mode at a time: cached (the daemon
//! serves reads and writes, the page cache in front) or passthrough on one
//! backing file. An open that asks for the other mode, or for another
//! backing file, fails with EIO. So a job that reads a file while it holds
//! it open for writing (or the other way round) must be answered in the
//! mode the inode is already in. Where that cannot be (the inode's open
//! files are on another file on disk: the real file before a copy-up, the
//! staged copy after it) a cached inode takes the open with direct io,
//! which is outside both modes; an inode in passthrough mode cannot (every
//! open must be on its backing file), so the open fails with ETXTBSY.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use fuser::{BackingId, Errno, FileHandle, FileType, INodeNo};
use rustc_hash::FxHashMap;

/// How many read-only opens one job keeps cached: enough for a compiler's
/// project headers.
const MAX_READERS: usize = 64;

/// How many descriptors the cached readers of all of a mount's jobs may
/// hold together: a quarter of the soft open-file limit (often 1024), the
/// rest left for the files jobs hold open, their pipes and namespaces.
#[derive(Debug)]
pub(crate) struct ReaderBudget(AtomicUsize);

impl ReaderBudget {
    /// The budget under this process's `RLIMIT_NOFILE`.
    pub(crate) fn from_limit() -> ReaderBudget {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit fills the struct we pass.
        let soft = match unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } {
            0 => limit.rlim_cur,
            _ => 1024,
        };
        ReaderBudget(AtomicUsize::new(
            usize::try_from(soft / 4).unwrap_or(usize::MAX),
        ))
    }

    /// Take one descriptor's worth, if any is left.
    fn take(&self) -> bool {
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Give back `n`.
    fn give(&self, n: usize) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
}

/// An open file: our descriptor on the backing file (the real one or the
/// job's staged copy) and, once registered, the kernel's backing id for it.
#[derive(Debug)]
pub(crate) struct OpenFile {
    /// Used for `read`/`write` when the kernel does not pass through, and
    /// for `getattr`/`setattr` on the handle.
    pub(crate) file: File,
    /// Where `file` was opened (what a cached reader must still match).
    pub(crate) disk: PathBuf,
    /// Whether `file` is open for writing (so its backing id can take
    /// passthrough writes).
    pub(crate) writable: bool,
    /// Its size when opened (whether reads are worth passthrough).
    pub(crate) len: u64,
    /// The backing id registered for `file`, kept while the file is.
    backing: Mutex<Option<Arc<BackingId>>>,
}

impl OpenFile {
    /// `file`, opened from `disk` for writing if `writable`, `len` bytes.
    pub(crate) fn new(file: File, disk: PathBuf, writable: bool, len: u64) -> OpenFile {
        OpenFile {
            file,
            disk,
            writable,
            len,
            backing: Mutex::new(None),
        }
    }

    /// The backing id of this file, registered on first use.
    fn backing(
        &self,
        register: impl FnOnce(&File) -> io::Result<BackingId>,
    ) -> io::Result<Arc<BackingId>> {
        let mut backing = lock(&self.backing);
        if let Some(id) = &*backing {
            return Ok(id.clone());
        }
        let id = Arc::new(register(&self.file)?);
        *backing = Some(id.clone());
        Ok(id)
    }
}

/// How the kernel does the io of one open file handle.
#[derive(Debug, Clone)]
pub(crate) enum Io {
    /// Through the daemon, the inode's page cache in front.
    Cached,
    /// Straight to a backing file (kernel passthrough).
    Passthrough(Arc<BackingId>),
    /// Through the daemon, no page cache; outside the inode's io mode.
    Direct,
}

/// The io mode the kernel holds one inode in while it has open files.
#[derive(Debug)]
struct LiveIo {
    /// The file on disk that the open files (other than direct ones) use.
    disk: PathBuf,
    /// `None`: cached; else the one backing file of passthrough mode.
    backing: Option<Arc<BackingId>>,
    /// Whether `backing` takes writes.
    writable: bool,
    /// Open handles in this mode (direct ones do not count).
    handles: usize,
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
    /// An open file of inode `ino`, doing its io as `io` says.
    File {
        open: Arc<OpenFile>,
        ino: INodeNo,
        io: Io,
    },
    /// A directory listing, taken at `opendir` so `readdir` offsets are stable.
    Dir(Vec<DirEntry>),
}

/// A job's handle table.
#[derive(Debug)]
pub(crate) struct Handles {
    next: AtomicU64,
    map: Mutex<FxHashMap<FileHandle, Arc<Handle>>>,
    /// Read-only opens are shared per inode for the job's lifetime: a
    /// repeated open costs the daemon no `open(2)` and no backing ioctls.
    readers: Mutex<FxHashMap<INodeNo, Arc<OpenFile>>>,
    /// What `readers` may hold, shared with the mount's other jobs.
    budget: Arc<ReaderBudget>,
    /// How many `readers` this table keeps at most.
    max_readers: usize,
    /// The io mode of each inode with open (non-direct) handles.
    live: Mutex<FxHashMap<INodeNo, LiveIo>>,
}

impl Drop for Handles {
    fn drop(&mut self) {
        self.budget.give(lock(&self.readers).len());
    }
}

impl Handles {
    /// An empty table whose cached readers count against `budget`.
    pub(crate) fn new(budget: Arc<ReaderBudget>) -> Handles {
        Handles::keeping(budget, MAX_READERS)
    }

    /// An empty table keeping at most `max_readers` read-only opens.
    pub(crate) fn keeping(budget: Arc<ReaderBudget>, max_readers: usize) -> Handles {
        Handles {
            next: AtomicU64::new(0),
            map: Mutex::default(),
            readers: Mutex::default(),
            budget,
            max_readers,
            live: Mutex::default(),
        }
    }

    /// Register a handle; returns its number for the kernel.
    pub(crate) fn insert(&self, handle: Handle) -> FileHandle {
        let fh = FileHandle(self.next.fetch_add(1, Ordering::Relaxed) + 1);
        lock(&self.map).insert(fh, Arc::new(handle));
        fh
    }

    /// The handle behind `fh`.
    pub(crate) fn get(&self, fh: FileHandle) -> Option<Arc<Handle>> {
        lock(&self.map).get(&fh).cloned()
    }

    /// The open file behind `fh`, if it is one.
    pub(crate) fn file(&self, fh: FileHandle) -> Option<Arc<Handle>> {
        self.get(fh).filter(|h| matches!(**h, Handle::File { .. }))
    }

    /// The open file behind `fh`, if it is one.
    pub(crate) fn open_file(&self, fh: FileHandle) -> Option<Arc<OpenFile>> {
        match self.get(fh).as_deref() {
            Some(Handle::File { open, .. }) => Some(open.clone()),
            _ => None,
        }
    }

    /// One of the job's own files (open for writing) that the kernel has
    /// open as inode `ino`: what a request names when the job unlinked
    /// the file and goes on using it through a descriptor.
    pub(crate) fn own_file_of(&self, ino: INodeNo) -> Option<Arc<OpenFile>> {
        lock(&self.map).values().find_map(|h| match &**h {
            Handle::File { open, ino: i, .. } if *i == ino && open.writable => Some(open.clone()),
            _ => None,
        })
    }

    /// Forget `fh` (the kernel released it, and with it its io mode).
    pub(crate) fn remove(&self, fh: FileHandle) {
        let handle = lock(&self.map).remove(&fh);
        if let Some(Handle::File { ino, io, .. }) = handle.as_deref() {
            if !matches!(io, Io::Direct) {
                let mut live = lock(&self.live);
                if let Some(l) = live.get_mut(ino) {
                    l.handles = l.handles.saturating_sub(1);
                    if l.handles == 0 {
                        live.remove(ino);
                    }
                }
            }
        }
    }

    /// How a new open of inode `ino` on `open` does its io: in the mode
    /// the inode is in while it has open files (direct io if those are on
    /// another file on disk), else passthrough if `passthrough` (registering
    /// `open`'s backing id with `register`; cached if that fails), else
    /// cached. ETXTBSY when the inode is in passthrough mode on another file
    /// (a large file held open for reading, then opened for writing: the
    /// write goes to a staged copy), or on a read-only backing file and
    /// this open writes. Counted until [`Handles::remove`] of the handle
    /// made with it.
    pub(crate) fn open_io(
        &self,
        ino: INodeNo,
        open: &OpenFile,
        passthrough: bool,
        register: impl FnOnce(&File) -> io::Result<BackingId>,
    ) -> Result<Io, Errno> {
        let mut live = lock(&self.live);
        if let Some(l) = live.get_mut(&ino) {
            // Byte equality: both paths are built the same way (`Path`'s
            // own `==` walks components, a visible cost per open).
            let same_disk = l.disk.as_os_str() == open.disk.as_os_str();
            let io = match &l.backing {
                None if same_disk => Io::Cached,
                None => Io::Direct,
                Some(id) if same_disk && (l.writable || !open.writable) => {
                    Io::Passthrough(id.clone())
                }
                // Every open of an inode in passthrough mode must be on
                // its one backing file: this one cannot be had now.
                Some(_) => return Err(Errno::ETXTBSY),
            };
            if !matches!(io, Io::Direct) {
                l.handles += 1;
            }
            return Ok(io);
        }
        let backing = if passthrough {
            open.backing(register)
                .map_err(|e| log::debug!("passthrough refused for inode {ino}: {e}"))
                .ok()
        } else {
            None
        };
        live.insert(
            ino,
            LiveIo {
                disk: open.disk.clone(),
                backing: backing.clone(),
                writable: open.writable,
                handles: 1,
            },
        );
        Ok(backing.map_or(Io::Cached, Io::Passthrough))
    }

    /// The cached read-only open of inode `ino`, if it is still of `disk`.
    pub(crate) fn reader(&self, ino: INodeNo, disk: &Path) -> Option<Arc<OpenFile>> {
        lock(&self.readers)
            .get(&ino)
            .filter(|open| open.disk.as_os_str() == disk.as_os_str())
            .cloned()
    }

    /// Cache a read-only open of inode `ino`, unless the job already holds
    /// its maximum ([`MAX_READERS`] for a job) or the mount's [`ReaderBudget`] is spent (each costs
    /// the daemon a descriptor until the job ends).
    pub(crate) fn keep_reader(&self, ino: INodeNo, open: Arc<OpenFile>) {
        let mut readers = lock(&self.readers);
        if readers.contains_key(&ino) || (readers.len() < self.max_readers && self.budget.take()) {
            readers.insert(ino, open);
        }
    }
}

impl Handle {
    /// The open file, if this is one.
    pub(crate) fn as_file(&self) -> Option<&File> {
        match self {
            Handle::File { open, .. } => Some(&open.file),
            Handle::Dir(_) => None,
        }
    }
}

/// Lock, taking the data even if another thread panicked while holding it:
/// one failed request must not stop the daemon.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
