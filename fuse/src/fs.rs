//! The `fuser::Filesystem` implementation: decodes each request into
//! (job, path), asks the job's view, records the access and replies.
//! Requests of different jobs share no lock: the job table is read from a
//! snapshot.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use fuser::{
    AccessFlags, BackingId, BsdFileFlags, CopyFileRangeFlags, Errno, FileHandle, FopenFlags,
    Generation, INodeNo, InitFlags, KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr,
    ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyLseek, ReplyOpen,
    ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use rustc_hash::FxHashMap;

use crate::handles::{lock, DirEntry, Handle, Io, OpenFile, ReaderBudget};
use crate::paths::{self, Ino};
use crate::view::{self, JobView, Location};
use crate::wake_latency::WakeLatency;
use crate::writes::{open_disk_sized, AttrChange};
use crate::JobId;

/// State shared between the daemon threads and the [`crate::Tracer`].
#[derive(Debug)]
pub(crate) struct Shared {
    /// The project root (canonical).
    pub(crate) root: Arc<Path>,
    /// The running jobs.
    pub(crate) jobs: JobTable,
    /// Job numbers whose namespace is prepared but that have not started:
    /// their `@job-N` directory resolves (for the bind mount) and is empty.
    pub(crate) reserved: Mutex<HashSet<JobId>>,
    /// Whether to ask the kernel for passthrough.
    pub(crate) want_passthrough: bool,
    /// Whether the kernel agreed to passthrough (set at FUSE init).
    pub(crate) passthrough: AtomicBool,
    /// How long the kernel may cache entries and attributes (per job).
    pub(crate) ttl: Duration,
    /// Set once mounted: drops a finished job's cached entries.
    pub(crate) notifier: OnceLock<fuser::Notifier>,
    /// The same for the read-only mount serving the outside (full deps).
    pub(crate) outside_notifier: OnceLock<fuser::Notifier>,
    /// Finished jobs whose entries on the outside mount are still cached
    /// (see [`crate::outside::OUTSIDE_JOBS_CACHED`]), oldest first.
    pub(crate) outside_cached: Mutex<std::collections::VecDeque<JobId>>,
    /// Keeps wake-ups fast while requests flow.
    pub(crate) wake_latency: Arc<WakeLatency>,
    /// How many read-only opens the jobs may keep cached together.
    pub(crate) readers: Arc<ReaderBudget>,
    /// Full dependencies: views serve `/` under `@outside` (set once at
    /// mount, before any job).
    pub(crate) outside: AtomicBool,
}

impl Shared {
    /// Forget a finished job: its prefix stops resolving.
    pub(crate) fn end_job(&self, id: JobId) {
        self.jobs.remove(id);
    }

    /// Let the kernel drop the entries it cached below a finished job's
    /// prefix (memory only; errors ignored).
    pub(crate) fn forget_job(&self, id: JobId) {
        if let Some(notifier) = self.notifier.get() {
            let name = paths::job_dir_name(id);
            let _ = notifier.inval_entry(INodeNo::ROOT, OsStr::new(&name));
        }
        self.forget_outside_job(id);
    }

    /// Let `@job-N` resolve before the job starts (see [`crate::nspool`]).
    pub(crate) fn reserve(&self, id: JobId) {
        lock(&self.reserved).insert(id);
    }

    /// Forget a reservation (the job started, or will never run).
    pub(crate) fn unreserve(&self, id: JobId) {
        lock(&self.reserved).remove(&id);
    }

    fn is_reserved(&self, id: JobId) -> bool {
        lock(&self.reserved).contains(&id)
    }

    pub(crate) fn job(&self, id: JobId) -> Option<Arc<JobView>> {
        self.jobs.get(id)
    }

    /// The job and the path of `name` in the directory `parent`.
    fn child(&self, parent: INodeNo, name: &OsStr) -> Result<(Arc<JobView>, String), Errno> {
        let (job, dir) = self.node(parent)?;
        let path = paths::join(&dir, utf8(name)?);
        Ok((job, path))
    }

    /// The job and the path of a name about to be made in `parent`: a name
    /// that is not UTF-8 is EINVAL, one hidden from jobs (`.tupfs`) EACCES.
    fn new_child(&self, parent: INodeNo, name: &OsStr) -> Result<(Arc<JobView>, String), Errno> {
        let (job, dir) = self.node(parent)?;
        let name = utf8(name)?;
        if job.is_hidden(&dir, name) {
            return Err(Errno::EACCES);
        }
        let path = paths::join(&dir, name);
        Ok((job, path))
    }

    /// The job and path behind a node's inode number. Nearly every request
    /// starts here, so this is where the fast wake-up window is renewed.
    fn node(&self, ino: INodeNo) -> Result<(Arc<JobView>, Arc<str>), Errno> {
        self.wake_latency.renew();
        match Ino::decode(ino.0) {
            Some(Ino::Node(id, local)) => {
                let job = self.job(id).ok_or(Errno::ESTALE)?;
                let path = job.path_of(local).ok_or(Errno::ESTALE)?;
                Ok((job, path))
            }
            _ => Err(Errno::ENOENT),
        }
    }
}

/// The running jobs by id, read on every request from every CPU's queue
/// thread and changed only when a job starts or ends. Readers take a
/// snapshot without writing to shared memory (a lock's count would bounce
/// its cache line between the CPUs on each request); writers copy the
/// small map. Fx hashing: SipHash's resistance to chosen keys buys nothing
/// for our own ids.
#[derive(Debug, Default)]
pub(crate) struct JobTable(ArcSwap<FxHashMap<JobId, Arc<JobView>>>);

impl JobTable {
    pub(crate) fn get(&self, id: JobId) -> Option<Arc<JobView>> {
        self.0.load().get(&id).cloned()
    }

    pub(crate) fn insert(&self, id: JobId, view: Arc<JobView>) {
        self.0.rcu(|jobs| {
            let mut jobs = FxHashMap::clone(jobs);
            jobs.insert(id, view.clone());
            jobs
        });
    }

    pub(crate) fn remove(&self, id: JobId) {
        self.0.rcu(|jobs| {
            let mut jobs = FxHashMap::clone(jobs);
            jobs.remove(&id);
            jobs
        });
    }

    fn ids(&self) -> Vec<JobId> {
        self.0.load().keys().copied().collect()
    }
}

/// The filesystem the daemon threads serve: the project mount, or (with
/// `Serves::Outside`) the read-only mount of the system's directories
/// for full dependencies (see [`crate::outside`]).
#[derive(Debug)]
pub(crate) struct TraceFs(pub(crate) Arc<Shared>, pub(crate) Serves);

/// Which of the two mounts a [`TraceFs`] serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Serves {
    /// `@job-N` is the job's view of the project.
    Project,
    /// `@job-N` is the job's view of `/` (its `@outside`), read-only.
    Outside,
}

/// Names the kernel hands us that are not UTF-8 cannot be project paths.
fn utf8(name: &OsStr) -> Result<&str, Errno> {
    paths::name_str(name).ok_or(Errno::EINVAL)
}

/// A system call's non-negative result, or its errno.
fn syscall_result(rc: i64) -> Result<i64, Errno> {
    if rc >= 0 {
        Ok(rc)
    } else {
        Err(io::Error::last_os_error().into())
    }
}

/// Answer a request that returns nothing but success or an errno.
fn reply_empty(reply: ReplyEmpty, result: Result<(), Errno>) {
    match result {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e),
    }
}

/// After `error` looking at a node's path: the job's own open file of
/// inode `ino` if nothing stands at the path any more (the job unlinked it
/// and goes on through a descriptor; the kernel's `fstat` and `fchmod`
/// name no handle).
fn unlinked(job: &JobView, ino: INodeNo, error: &io::Error) -> Option<Arc<OpenFile>> {
    (error.kind() == io::ErrorKind::NotFound)
        .then(|| job.handles.own_file_of(ino))
        .flatten()
}

/// Up to `size` bytes of `file` from `offset` (fewer only at its end),
/// read into memory that is not zeroed first: zeroing up to 1 MiB per
/// READ was a visible share of the daemon's time.
fn read_at_most(file: &File, size: usize, offset: u64) -> io::Result<Vec<u8>> {
    let mut buf = Vec::<u8>::with_capacity(size);
    while buf.len() < size {
        let filled = buf.len();
        let at = libc::off_t::try_from(offset + filled as u64)
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: pread writes at most `size - filled` bytes into the
        // vector's spare capacity, and `set_len` covers only what it wrote.
        let n = unsafe {
            libc::pread(
                file.as_raw_fd(),
                buf.as_mut_ptr().add(filled).cast(),
                size - filled,
                at,
            )
        };
        match usize::try_from(n) {
            Ok(0) => break,
            // SAFETY: see above; `n` bytes after `filled` are now written.
            Ok(n) => unsafe { buf.set_len(filled + n) },
            Err(_) => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
    Ok(buf)
}

/// Reads of files smaller than this go through the daemon, not kernel
/// passthrough: one READ round trip (then the page cache, kept across
/// opens) costs less than registering a backing file, and every later
/// open of a passthrough file costs the kernel a backing-file open and
/// close (measured: ~0.3 µs more per open+close).
const PASSTHROUGH_MIN_READ: u64 = 64 * 1024;

/// Open `disk` for a kernel open that `write`s (and may `truncate`): for
/// writing too if it is the job's `own` file, unless its mode forbids it
/// and the open only reads.
fn open_own(disk: &Path, own: bool, write: bool, truncate: bool) -> io::Result<OpenFile> {
    let (file, len) = match open_disk_sized(disk, own, write && truncate) {
        Err(e) if own && !write && e.kind() == io::ErrorKind::PermissionDenied => {
            let (file, len) = open_disk_sized(disk, false, false)?;
            return Ok(OpenFile::new(file, disk.into(), false, len));
        }
        other => other?,
    };
    Ok(OpenFile::new(file, disk.into(), own, len))
}

/// Whether open `flags` ask for writing, and for truncation.
fn open_flags(flags: i32) -> (bool, bool) {
    let write = flags & libc::O_ACCMODE != libc::O_RDONLY;
    (write, flags & libc::O_TRUNC != 0)
}

impl TraceFs {
    /// How long the kernel may cache what we answer.
    fn ttl(&self) -> &Duration {
        &self.0.ttl
    }

    /// The entry of `path`, which the job just made: under a fresh inode
    /// number (the kernel only asks to make a name it believes absent).
    fn new_entry_reply(&self, job: &JobView, path: &str, reply: ReplyEntry) {
        match job.stat(path) {
            Ok(meta) => {
                let attr = view::attr(job.fresh_ino(path), &meta);
                reply.entry(self.ttl(), &attr, Generation(0))
            }
            Err(e) => reply.error(e.into()),
        }
    }

    /// Make a kernel handle on `open` (a file of inode `ino`): its io
    /// mode (see [`crate::handles`]) and the flags to open it with.
    /// Passthrough is asked for writes and for reads of large files.
    fn handle(
        &self,
        job: &JobView,
        ino: INodeNo,
        open: Arc<OpenFile>,
        write: bool,
        open_backing: impl FnOnce(&File) -> io::Result<BackingId>,
    ) -> Result<(FileHandle, FopenFlags, Io), Errno> {
        let passthrough = self.0.passthrough.load(Ordering::Relaxed)
            && (write || open.len >= PASSTHROUGH_MIN_READ);
        let io = job.handles.open_io(ino, &open, passthrough, open_backing)?;
        let flags = match io {
            Io::Cached if !write => FopenFlags::FOPEN_KEEP_CACHE,
            Io::Cached | Io::Passthrough(_) => FopenFlags::empty(),
            Io::Direct => FopenFlags::FOPEN_DIRECT_IO,
        };
        let fh = job.handles.insert(Handle::File {
            open,
            ino,
            io: io.clone(),
        });
        Ok((fh, flags, io))
    }

    /// The attributes of a job's view of the project root, as `ino`.
    fn job_root_attr(&self, ino: INodeNo) -> io::Result<fuser::FileAttr> {
        Ok(view::attr(ino, &std::fs::metadata(&*self.0.root)?))
    }

    /// The mount root's listing: one `@job-N` directory per running job.
    fn list_jobs(&self) -> Vec<DirEntry> {
        self.0
            .jobs
            .ids()
            .into_iter()
            .filter(|id| *id != crate::outside::FILES_JOB)
            .map(|id| DirEntry {
                name: OsString::from(paths::job_dir_name(id)),
                kind: fuser::FileType::Directory,
                ino: INodeNo(Ino::Node(id, 0).encode()),
            })
            .collect()
    }

    /// The open file behind handle `fh` of node `ino` (EBADF if none).
    fn file_handle(&self, ino: INodeNo, fh: FileHandle) -> Result<Arc<Handle>, Errno> {
        let (job, _) = self.0.node(ino)?;
        job.handles.file(fh).ok_or(Errno::EBADF)
    }

    /// Run `op` on the open file behind a handle (EBADF for a directory).
    fn with_file<R>(
        &self,
        ino: INodeNo,
        fh: FileHandle,
        op: impl FnOnce(&File) -> Result<R, Errno>,
    ) -> Result<R, Errno> {
        let handle = self.file_handle(ino, fh)?;
        op(handle.as_file().ok_or(Errno::EBADF)?)
    }
}

impl fuser::Filesystem for TraceFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> io::Result<()> {
        let offered = config.capabilities();
        let mut want = InitFlags::FUSE_ATOMIC_O_TRUNC
            | InitFlags::FUSE_PARALLEL_DIROPS
            | InitFlags::FUSE_CACHE_SYMLINKS;
        if self.0.want_passthrough && offered.contains(InitFlags::FUSE_PASSTHROUGH) {
            // Depth 2: the project itself may live on overlayfs (containers).
            if config.set_max_stack_depth(2).is_ok() {
                want |= InitFlags::FUSE_PASSTHROUGH;
            }
        }
        let want = want & offered;
        // Requests are at most `max_pages` (256 by default: 1 MiB) anyway;
        // a smaller max_write keeps io_uring payload buffers at 1 MiB.
        let _ = config.set_max_write(1 << 20);
        if config.add_capabilities(want).is_ok() && want.contains(InitFlags::FUSE_PASSTHROUGH) {
            self.0.passthrough.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        if parent == INodeNo::ROOT && self.1 == Serves::Outside {
            return match self.0.outside_top(name) {
                Ok(attr) => reply.entry(self.ttl(), &attr, Generation(0)),
                Err(e) => reply.error(e),
            };
        }
        if parent == INodeNo::ROOT {
            let job = paths::parse_job_dir(name)
                .filter(|id| *id != crate::outside::FILES_JOB)
                .filter(|id| self.0.job(*id).is_some() || self.0.is_reserved(*id));
            return match job {
                Some(id) => match self.job_root_attr(INodeNo(Ino::Node(id, 0).encode())) {
                    Ok(attr) => reply.entry(self.ttl(), &attr, Generation(0)),
                    Err(e) => reply.error(e.into()),
                },
                None => reply.error(Errno::ENOENT),
            };
        }
        let (job, dir) = match self.0.node(parent) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        let Ok(name) = utf8(name) else {
            return reply.error(Errno::ENOENT);
        };
        if job.is_hidden(&dir, name) {
            return reply.error(Errno::ENOENT);
        }
        let path = paths::join(&dir, name);
        match job.stat(&path) {
            Ok(meta) => {
                let ino = job.outside_file(&path, &meta);
                let ino = ino.unwrap_or_else(|| job.ino(&path));
                reply.entry(self.ttl(), &view::attr(ino, &meta), Generation(0))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                job.recorder.ghost(&path);
                // A negative entry: this job's prefix makes the name unique
                // to it, so caching cannot hide the ghost from another job.
                reply.entry(self.ttl(), &view::negative_attr(), Generation(0));
            }
            Err(e) => reply.error(e.into()),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        if ino == INodeNo::ROOT {
            return match self.job_root_attr(ino) {
                Ok(attr) => reply.attr(self.ttl(), &attr),
                Err(e) => reply.error(e.into()),
            };
        }
        let (job, path) = match self.0.node(ino) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        let meta = match fh.and_then(|fh| job.handles.open_file(fh)) {
            Some(open) => open.file.metadata(),
            None => job.stat(&path).or_else(|e| match unlinked(&job, ino, &e) {
                Some(open) => open.file.metadata(),
                None => Err(e),
            }),
        };
        match meta {
            Ok(meta) => reply.attr(self.ttl(), &view::attr(ino, &meta)),
            Err(e) => reply.error(e.into()),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let (job, path) = match self.0.node(ino) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        let change = AttrChange {
            mode,
            uid,
            gid,
            size,
            atime,
            mtime,
        };
        let open = fh.and_then(|fh| job.handles.open_file(fh)).or_else(|| {
            let gone = job.stat(&path).err()?;
            unlinked(&job, ino, &gone)
        });
        let file = open.as_ref().map(|o| &o.file);
        if let Err(e) = job.setattr(&path, file, &change) {
            return reply.error(e);
        }
        let meta = match file {
            Some(f) => f.metadata(),
            None => job.stat(&path),
        };
        match meta {
            Ok(meta) => reply.attr(self.ttl(), &view::attr(ino, &meta)),
            Err(e) => reply.error(e.into()),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        let (job, path) = match self.0.node(ino) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        let target = match job.locate(&path) {
            Location::Staged(p, _) => std::fs::read_link(p),
            Location::Real(p) => {
                job.recorder.read(&path);
                std::fs::read_link(p)
            }
            Location::Gone => Err(io::ErrorKind::NotFound.into()),
        };
        match target {
            Ok(t) => reply.data(std::os::unix::ffi::OsStrExt::as_bytes(t.as_os_str())),
            Err(e) => reply.error(e.into()),
        }
    }

    fn mknod(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        let (job, path) = match self.0.new_child(parent, name) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        let perm = mode & !umask & 0o7777;
        let made = match mode & libc::S_IFMT {
            libc::S_IFREG => job.create(&path, perm, true, false).map(|_| ()),
            kind => job.mknod(&path, kind | perm).map(|_| ()),
        };
        match made {
            Ok(()) => self.new_entry_reply(&job, &path, reply),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let (job, path) = match self.0.new_child(parent, name) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        match job.mkdir(&path, mode & !umask & 0o7777) {
            Ok(_) => self.new_entry_reply(&job, &path, reply),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(
            reply,
            self.0
                .child(parent, name)
                .and_then(|(job, path)| job.unlink(&path)),
        );
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(
            reply,
            self.0
                .child(parent, name)
                .and_then(|(job, path)| job.rmdir(&path)),
        );
    }

    fn symlink(
        &self,
        _req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let (job, path) = match self.0.new_child(parent, link_name) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        match job.symlink(&path, target) {
            Ok(_) => self.new_entry_reply(&job, &path, reply),
            Err(e) => reply.error(e),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let result = (|| {
            let (job, dir) = self.0.node(parent)?;
            let (job2, newdir) = self.0.node(newparent)?;
            if job.id != job2.id {
                return Err(Errno::EXDEV);
            }
            if flags.contains(RenameFlags::RENAME_EXCHANGE)
                || flags.contains(RenameFlags::RENAME_WHITEOUT)
            {
                return Err(Errno::EINVAL);
            }
            let newname = utf8(newname)?;
            if job.is_hidden(&newdir, newname) {
                return Err(Errno::EACCES);
            }
            let from = paths::join(&dir, utf8(name)?);
            let to = paths::join(&newdir, newname);
            job.rename(&from, &to, flags.contains(RenameFlags::RENAME_NOREPLACE))
        })();
        reply_empty(reply, result);
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let linked = (|| {
            let (job, from) = self.0.node(ino)?;
            let (job2, to) = self.0.new_child(newparent, newname)?;
            if job.id != job2.id {
                return Err(Errno::EXDEV);
            }
            job.link(&from, &to)?;
            Ok((job, to))
        })();
        match linked {
            Ok((job, to)) => self.new_entry_reply(&job, &to, reply),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let (job, path) = match self.0.node(ino) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        let (write, truncate) = open_flags(flags.0);
        // `own`: the job's own file (staged, or written straight through),
        // which the daemon opens for writing even to read it, so that its
        // passthrough backing file can take the job's later writes too.
        let disk: Result<(PathBuf, bool), Errno> = if write {
            job.stage_for_write(&path, truncate).map(|p| (p, true))
        } else {
            match job.locate(&path) {
                Location::Staged(p, _) => Ok((p, true)),
                Location::Real(p) => {
                    job.recorder.read(&path);
                    Ok((p, false))
                }
                Location::Gone => Err(Errno::ENOENT),
            }
        };
        let (disk, own) = match disk {
            Ok(d) => d,
            Err(e) => return reply.error(e),
        };
        let cached = (!write).then(|| job.handles.reader(ino, &disk)).flatten();
        let open = match cached {
            Some(open) => open,
            None => match open_own(&disk, own, write, truncate) {
                Ok(open) => {
                    let open = Arc::new(open);
                    if !write {
                        job.handles.keep_reader(ino, open.clone());
                    }
                    open
                }
                Err(e) => return reply.error(e.into()),
            },
        };
        match self.handle(&job, ino, open, write, |f| reply.open_backing(f)) {
            Ok((fh, fopen, Io::Passthrough(id))) => reply.opened_passthrough(fh, fopen, &id),
            Ok((fh, fopen, _)) => reply.opened(fh, fopen),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let read = self.with_file(ino, fh, |file| {
            read_at_most(file, size as usize, offset).map_err(Errno::from)
        });
        match read {
            Ok(buf) => reply.data(&buf),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let written = self.with_file(ino, fh, |file| {
            file.write_all_at(data, offset).map_err(Errno::from)
        });
        match written {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lo: LockOwner,
        reply: ReplyEmpty,
    ) {
        // Nothing to flush: data is written through. ENOSYS makes the kernel
        // stop sending flushes (one round trip less per close).
        reply.error(Errno::ENOSYS);
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        if let Ok((job, _)) = self.0.node(ino) {
            job.handles.remove(fh);
        }
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        let result = self.with_file(ino, fh, |file| {
            let r = if datasync {
                file.sync_data()
            } else {
                file.sync_all()
            };
            r.map_err(Errno::from)
        });
        reply_empty(reply, result);
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let listing = if ino == INodeNo::ROOT {
            return reply.opened(FileHandle(0), FopenFlags::empty());
        } else {
            match self.0.node(ino) {
                Ok((job, path)) => job.list(&path).map(|l| (job, l)).map_err(Errno::from),
                Err(e) => Err(e),
            }
        };
        match listing {
            Ok((job, entries)) => {
                let fh = job.handles.insert(Handle::Dir(entries));
                reply.opened(fh, FopenFlags::empty());
            }
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let (entries, handle);
        let list: &[DirEntry] = if ino == INodeNo::ROOT {
            entries = self.list_jobs();
            &entries
        } else {
            handle = match self
                .0
                .node(ino)
                .and_then(|(job, _)| job.handles.get(fh).ok_or(Errno::EBADF))
            {
                Ok(h) => h,
                Err(e) => return reply.error(e),
            };
            match &*handle {
                Handle::Dir(list) => list,
                Handle::File { .. } => return reply.error(Errno::ENOTDIR),
            }
        };
        let dots = [
            DirEntry {
                name: ".".into(),
                kind: fuser::FileType::Directory,
                ino,
            },
            DirEntry {
                name: "..".into(),
                kind: fuser::FileType::Directory,
                ino,
            },
        ];
        for (i, entry) in dots.iter().chain(list).enumerate().skip(offset as usize) {
            if reply.add(entry.ino, i as u64 + 1, entry.kind, &entry.name) {
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        if let Ok((job, _)) = self.0.node(ino) {
            job.handles.remove(fh);
        }
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let root = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(
            self.0.root.as_os_str(),
        ));
        let Ok(root) = root else {
            return reply.error(Errno::EINVAL);
        };
        // SAFETY: statvfs fills the zeroed struct; `root` is a C string.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(root.as_ptr(), &mut st) } != 0 {
            return reply.error(io::Error::last_os_error().into());
        }
        reply.statfs(
            st.f_blocks,
            st.f_bfree,
            st.f_bavail,
            st.f_files,
            st.f_ffree,
            st.f_bsize as u32,
            st.f_namemax as u32,
            st.f_frsize as u32,
        );
    }

    fn setxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _value: &[u8],
        _flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::ENOSYS);
    }

    fn getxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _size: u32,
        reply: ReplyXattr,
    ) {
        reply.error(Errno::ENOSYS);
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, _size: u32, reply: ReplyXattr) {
        reply.error(Errno::ENOSYS);
    }

    fn removexattr(&self, _req: &Request, _ino: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::ENOSYS);
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let (job, path) = match self.0.new_child(parent, name) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        let (_, truncate) = open_flags(flags);
        let excl = flags & libc::O_EXCL != 0;
        let (file, disk) = match job.create(&path, mode & !umask & 0o7777, excl, truncate) {
            Ok(f) => f,
            Err(e) => return reply.error(e),
        };
        let ino = job.fresh_ino(&path);
        let meta = match file.metadata() {
            Ok(meta) => meta,
            Err(e) => return reply.error(e.into()),
        };
        let attr = view::attr(ino, &meta);
        let open = Arc::new(OpenFile::new(file, disk, true, meta.len()));
        match self.handle(&job, ino, open, true, |f| reply.open_backing(f)) {
            Ok((fh, fopen, Io::Passthrough(id))) => {
                reply.created_passthrough(self.ttl(), &attr, Generation(0), fh, fopen, &id)
            }
            Ok((fh, fopen, _)) => reply.created(self.ttl(), &attr, Generation(0), fh, fopen),
            Err(e) => reply.error(e),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let result = self.with_file(ino, fh, |file| {
            // SAFETY: plain syscall on a descriptor we own.
            let rc =
                unsafe { libc::fallocate(file.as_raw_fd(), mode, offset as i64, length as i64) };
            syscall_result(rc.into()).map(drop)
        });
        reply_empty(reply, result);
    }

    fn lseek(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: i64,
        whence: i32,
        reply: ReplyLseek,
    ) {
        let result = self.with_file(ino, fh, |file| {
            // SAFETY: plain syscall on a descriptor we own.
            syscall_result(unsafe { libc::lseek(file.as_raw_fd(), offset, whence) })
        });
        match result {
            Ok(pos) => reply.offset(pos),
            Err(e) => reply.error(e),
        }
    }

    /// Not offered: ENOSYS makes the kernel fall back to reads and writes
    /// (which are traced) for the rest of the mount. Answered here only so
    /// fuser's default does not print a warning for every `cat`.
    fn copy_file_range(
        &self,
        _req: &Request,
        _ino_in: INodeNo,
        _fh_in: FileHandle,
        _offset_in: u64,
        _ino_out: INodeNo,
        _fh_out: FileHandle,
        _offset_out: u64,
        _len: u64,
        _flags: CopyFileRangeFlags,
        reply: ReplyWrite,
    ) {
        reply.error(Errno::ENOSYS);
    }

    /// No file here is a terminal or takes device commands: ENOTTY, what a
    /// regular file answers natively (Python asks every file it opens with
    /// `TCGETS`). Answered here so fuser's default does not warn each time.
    fn ioctl(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: fuser::IoctlFlags,
        _cmd: u32,
        _in_data: &[u8],
        _out_size: u32,
        reply: fuser::ReplyIoctl,
    ) {
        reply.error(Errno::ENOTTY);
    }
}
