//! Full dependencies (tup's `updater.full_deps`): the view also serves the
//! system's directories read-only under `@job-N/@outside/<abs path>`, and
//! the job's namespace binds them over the real top-level directories
//! (`/usr`, `/etc`, `/opt`, ...), so reads outside the project are traced.

use std::ffi::CString;
use std::fs::Metadata;
use std::io;
use std::path::{Path, PathBuf};

use fuser::INodeNo;

use crate::handles::Handles;
use crate::spawn::cstring;
use crate::view::{JobView, ViewTemplate};
use crate::JobId;

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

/// The binds of the job whose view is `view` (`<mnt>/@job-N`) for `dirs`.
pub(crate) fn binds(view: &Path, dirs: &[PathBuf]) -> io::Result<Vec<Bind>> {
    dirs.iter()
        .map(|d| {
            let rel = d.strip_prefix("/").unwrap_or(d);
            Ok(Bind {
                from: cstring(&view.join(OUTSIDE_DIR).join(rel))?,
                onto: cstring(d)?,
            })
        })
        .collect()
}

/// In a fresh mount namespace (system calls only: safe after fork): bind
/// each of `binds` and make it read-only (the job may not change system
/// files; the daemon never writes there either).
pub(crate) fn bind_all(binds: &[Bind]) -> io::Result<()> {
    // Every bind comes from the one FUSE mount: one statvfs (a FUSE
    // round trip) tells the flags of all.
    let mut flags = None;
    for b in binds {
        // SAFETY: raw system calls with valid C strings and null optional args.
        unsafe {
            crate::spawn::check(libc::mount(
                b.from.as_ptr(),
                b.onto.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            ))?;
            let flags = match flags {
                Some(f) => f,
                None => *flags.insert(kept_flags(&b.onto)?),
            };
            crate::spawn::check(libc::mount(
                std::ptr::null(),
                b.onto.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NOSUID | flags,
                std::ptr::null(),
            ))?;
        }
    }
    Ok(())
}

/// The flags of the mount at `path` a read-only remount must keep: in a
/// user namespace, the ones the FUSE mount got from its owner (`nodev`,
/// the atime mode) are locked, and dropping one is EPERM. (`statvfs`'s
/// `ST_*` bits are the `MS_*` ones.) A system call only.
fn kept_flags(path: &CString) -> io::Result<libc::c_ulong> {
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: a NUL-terminated path and a buffer of the right type.
    crate::spawn::check(unsafe { libc::statvfs(path.as_ptr(), st.as_mut_ptr()) })?;
    // SAFETY: statvfs succeeded, so it filled the buffer.
    let f = unsafe { st.assume_init() }.f_flag;
    let keep = libc::MS_NOSUID
        | libc::MS_NODEV
        | libc::MS_NOEXEC
        | libc::MS_NOATIME
        | libc::MS_NODIRATIME
        | libc::MS_RELATIME;
    Ok(f & keep)
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
