//! Full dependencies (tup's `updater.full_deps`): a second, read-only FUSE
//! mount (same daemon, same job table) serves each job's view of `/` (the
//! view's `@outside`) as `<mnt>-outside/@job-N`, and the job's namespace
//! binds its directories over the real top-level ones (`/usr`, `/etc`,
//! `/opt`, ...), so reads outside the project are traced.
//!
//! Why a mount of its own: its superblock is read-only, so the kernel
//! keeps the cached atime of a file it reads or maps (on a writable one
//! every read or mapping drops it and the next `fstat` is a GETATTR), and
//! a bind of it is read-only and `nosuid` without a remount per directory
//! per namespace.

use std::ffi::{CString, OsStr};
use std::fs::Metadata;
use std::io;
use std::path::{Path, PathBuf};

use fuser::{Errno, FileAttr, INodeNo};

use crate::fs::Shared;
use crate::handles::Handles;
use crate::spawn::cstring;
use crate::view::{self, JobView, ViewTemplate};
use crate::{paths, JobId};

/// The name, at the top of a job's view, under which `/` is served.
pub(crate) const OUTSIDE_DIR: &str = "@outside";

/// The job number of the view that serves the files (not the
/// directories) under [`OUTSIDE_DIR`] to every job: one inode number per
/// file for the whole build, so the kernel's attribute, symlink and page
/// caches of `/usr/bin/gcc` or `libc.so.6` serve all jobs, and their opens
/// share one descriptor and one passthrough backing file in the daemon.
/// Directories stay each job's own: every job's lookups reach the daemon
/// under its own prefix, which is how a file is recorded as the job's
/// (requests on a shared inode name no job). Never a real job's number
/// (those count up from 1, one per command).
pub(crate) const FILES_JOB: JobId = JobId(u32::MAX as u64);

/// How many shared outside files stay open in the daemon (within the
/// mount's reader budget): more than a compiler, its libraries and the
/// usual system headers.
const FILES_KEPT_OPEN: usize = 1024;

/// The view of [`FILES_JOB`], made from the jobs' `template`.
pub(crate) fn files_view(template: &ViewTemplate) -> JobView {
    let mut view = template.make(FILES_JOB);
    view.handles = Handles::keeping(template.readers.clone(), FILES_KEPT_OPEN);
    view.outside_files = None;
    view
}

impl JobView {
    /// After this job's lookup found `meta` at `path`: for a file (not a
    /// directory) outside the project, record it as read (a lookup that
    /// finds a file counts, whether the job then opens, executes, reads
    /// the link or only stats it: later requests go to the shared inode,
    /// which names no job) and return the shared inode number.
    pub(crate) fn outside_file(&self, path: &str, meta: &Metadata) -> Option<INodeNo> {
        if meta.is_dir() {
            return None;
        }
        let ino = self.outside_file_ino(path)?;
        self.recorder.read(path);
        Some(ino)
    }

    /// The shared inode number of `path` if it lies outside the project
    /// (the caller checked that it is not a directory).
    pub(crate) fn outside_file_ino(&self, path: &str) -> Option<INodeNo> {
        let files = self.outside_files.as_ref()?;
        self.outside_path(path)?;
        Some(files.ino(path))
    }
}

/// Where the read-only mount of the outside goes, next to the project
/// mount at `mountpoint`: `<mountpoint>-outside`.
pub(crate) fn mountpoint(mountpoint: &Path) -> PathBuf {
    let mut name = mountpoint.as_os_str().to_owned();
    name.push("-outside");
    PathBuf::from(name)
}

/// How many finished jobs' entries the outside mount keeps cached. A
/// shared file's inode (and with it its cached attributes, symlink target
/// and, for a file under 64 KiB, its page cache) lives while some dentry
/// names it, and those are per job: dropping a job's entries at its end
/// could drop the last one, and the next job would ask the daemon again
/// (a READLINK of `/usr/bin/cc` and a READ of every small file per job).
/// Kept a few jobs longer, they bridge the gaps between jobs using the
/// same tools.
pub(crate) const OUTSIDE_JOBS_CACHED: usize = 16;

impl Shared {
    /// Job `id` ended: let the kernel drop the entries the outside mount
    /// cached for the job that ended [`OUTSIDE_JOBS_CACHED`] jobs ago.
    pub(crate) fn forget_outside_job(&self, id: JobId) {
        let Some(notifier) = self.outside_notifier.get() else {
            return;
        };
        let mut cached = crate::handles::lock(&self.outside_cached);
        cached.push_back(id);
        let old = (cached.len() > OUTSIDE_JOBS_CACHED).then(|| cached.pop_front());
        drop(cached);
        if let Some(Some(old)) = old {
            let name = paths::job_dir_name(old);
            let _ = notifier.inval_entry(INodeNo::ROOT, OsStr::new(&name));
        }
    }

    /// The outside mount's `@job-N` (`name`): the job's `@outside`, `/`.
    /// The job's view exists before anything looks it up (the namespace
    /// pool and `start_job` put it in the table before binding).
    pub(crate) fn outside_top(&self, name: &OsStr) -> Result<FileAttr, Errno> {
        let job = paths::parse_job_dir(name)
            .filter(|id| *id != FILES_JOB)
            .and_then(|id| self.job(id))
            .ok_or(Errno::ENOENT)?;
        let meta = job.stat(OUTSIDE_DIR)?;
        Ok(view::attr(job.ino(OUTSIDE_DIR), &meta))
    }
}

/// Top-level directories never served: kernel file systems (never
/// recorded), and the places commands write to (`/tmp`, `/var`, homes),
/// which stay the real, writable ones.
const NEVER: &[&str] = &[
    "proc",
    "sys",
    "dev",
    "run",
    "tmp",
    "var",
    "home",
    "root",
    "lost+found",
    "mnt",
    "media",
    "boot",
    "snap",
];

/// The absolute path (`/usr/include/stdio.h`) that a view path under
/// [`OUTSIDE_DIR`] names, or `None` for a project path.
pub(crate) fn outside_path(path: &str) -> Option<&str> {
    let rest = path.strip_prefix(OUTSIDE_DIR)?;
    match rest {
        "" => Some("/"),
        _ => rest.starts_with('/').then_some(rest),
    }
}

/// The top-level directories of `/` a job's namespace binds to the view:
/// real directories (not links such as `/bin -> usr/bin`, whose targets
/// are bound anyway), minus [`NEVER`] and minus any that holds one of
/// `own` (the project root, the mountpoint: they must stay reachable).
pub(crate) fn top_dirs(own: &[&Path]) -> io::Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir("/")? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let dir = Path::new("/").join(name);
        if NEVER.contains(&name)
            || !entry.file_type()?.is_dir()
            || own.iter().any(|o| o.starts_with(&dir))
        {
            continue;
        }
        dirs.push(dir);
    }
    dirs.sort();
    Ok(dirs)
}

/// One bind of a job's namespace: the view's copy of a directory, and the
/// real directory it goes over.
#[derive(Debug, Clone)]
pub(crate) struct Bind {
    pub(crate) from: CString,
    pub(crate) onto: CString,
}

/// The binds of the job whose view of `/` is `view` (`<mnt>-outside/@job-N`)
/// for `dirs`.
pub(crate) fn binds(view: &Path, dirs: &[PathBuf]) -> io::Result<Vec<Bind>> {
    dirs.iter()
        .map(|d| {
            let rel = d.strip_prefix("/").unwrap_or(d);
            Ok(Bind {
                from: cstring(&view.join(rel))?,
                onto: cstring(d)?,
            })
        })
        .collect()
}

/// In a fresh mount namespace (system calls only: safe after fork): bind
/// each of `binds`. They come from the read-only, `nosuid` outside mount,
/// and a bind keeps its source's flags: the job can change no system file
/// (the daemon never writes there either) without a remount.
pub(crate) fn bind_all(binds: &[Bind]) -> io::Result<()> {
    for b in binds {
        // SAFETY: a raw system call with valid C strings and null optional args.
        crate::spawn::check(unsafe {
            libc::mount(
                b.from.as_ptr(),
                b.onto.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_paths_are_recognised() {
        assert_eq!(outside_path("@outside"), Some("/"));
        assert_eq!(outside_path("@outside/usr/lib"), Some("/usr/lib"));
        assert_eq!(outside_path("@outsider"), None);
        assert_eq!(outside_path("src/a.c"), None);
    }

    #[test]
    fn top_dirs_leave_out_kernel_and_own_dirs() {
        let dirs = top_dirs(&[Path::new("/usr/local/proj")]).unwrap();
        assert!(!dirs.iter().any(|d| d == Path::new("/proc")));
        assert!(!dirs.iter().any(|d| d == Path::new("/tmp")));
        assert!(!dirs.iter().any(|d| d == Path::new("/usr")));
    }
}
