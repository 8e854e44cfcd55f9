//! The write rules of a job's view: everything a job creates or changes goes
//! to its overlay; changing a file it did not create is refused (EPERM) and
//! recorded; paths matching the job's ignore patterns go straight through.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use fuser::{Errno, TimeOrNow};

use crate::staging::Staged;
use crate::view::{JobView, Location};

/// The attribute changes of one `setattr`.
#[derive(Debug, Default)]
pub(crate) struct AttrChange {
    pub(crate) mode: Option<u32>,
    pub(crate) uid: Option<u32>,
    pub(crate) gid: Option<u32>,
    pub(crate) size: Option<u64>,
    pub(crate) atime: Option<TimeOrNow>,
    pub(crate) mtime: Option<TimeOrNow>,
}

impl AttrChange {
    /// The refusal name for a change to a file the job does not own.
    fn op(&self) -> Option<&'static str> {
        if self.size.is_some() {
            Some("truncate")
        } else if self.mode.is_some() {
            Some("chmod")
        } else if self.uid.is_some() || self.gid.is_some() {
            Some("chown")
        } else if self.atime.is_some() || self.mtime.is_some() {
            Some("utimes")
        } else {
            None
        }
    }
}

fn errno(e: io::Error) -> Errno {
    Errno::from(e)
}

/// Open the regular file `path` on disk with the access the kernel asked
/// for. Our descriptor never has `O_APPEND`: the kernel sends explicit
/// offsets. The kernel opens special files itself, so anything else here
/// replaced the file the kernel knows since its lookup: ESTALE (the kernel
/// then looks the name up again and opens what stands there now), found
/// without waiting: `O_NONBLOCK` (no effect on regular files) keeps a FIFO
/// from blocking the daemon, and with it every job.
pub(crate) fn open_disk(path: &Path, write: bool, truncate: bool) -> io::Result<File> {
    open_disk_sized(path, write, truncate).map(|(file, _)| file)
}

/// [`open_disk`], and the file's size once opened.
pub(crate) fn open_disk_sized(path: &Path, write: bool, truncate: bool) -> io::Result<(File, u64)> {
    let file = OpenOptions::new()
        .read(true)
        .write(write)
        .truncate(truncate && write)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if meta.is_file() {
        Ok((file, meta.len()))
    } else {
        Err(io::Error::from_raw_os_error(libc::ESTALE))
    }
}

impl JobView {
    /// Make `path` writable for this job and return the file to open: its
    /// staged copy (copied up from the real file unless truncated).
    pub(crate) fn stage_for_write(&self, path: &str, truncate: bool) -> Result<PathBuf, Errno> {
        if self.recorder.is_ignored(path) {
            return Ok(self.real(path));
        }
        let mut overlay = self.overlay_mut();
        match overlay.get(path) {
            Some(s @ Staged::File(_)) => overlay.scratch(s).ok_or(Errno::EIO),
            Some(Staged::Dir(_)) => Err(Errno::EISDIR),
            Some(Staged::Whiteout) => Err(Errno::ENOENT),
            None => {
                let real = self.lower(path);
                overlay.copy_up(path, &real, truncate).map_err(errno)?;
                if !truncate {
                    // The copy carries the real file's content: a read
                    // (moot while the path stands written; not if the job
                    // moves its copy away).
                    self.recorder.read(path);
                }
                overlay
                    .get(path)
                    .and_then(|s| overlay.scratch(s))
                    .ok_or(Errno::EIO)
            }
        }
    }

    /// Create a regular file at `path` (or open it for writing if it exists
    /// and `excl` is not set). Returns the open file and where it lives.
    pub(crate) fn create(
        &self,
        path: &str,
        mode: u32,
        excl: bool,
        truncate: bool,
    ) -> Result<(File, PathBuf), Errno> {
        if self.recorder.is_ignored(path) {
            let real = self.real(path);
            let mut opts = OpenOptions::new();
            opts.read(true).write(true).mode(mode).truncate(truncate);
            if excl {
                opts.create_new(true);
            } else {
                opts.create(true);
            }
            return opts.open(&real).map(|f| (f, real)).map_err(errno);
        }
        if self.stat(path).is_ok() {
            if excl {
                return Err(Errno::EEXIST);
            }
            let staged = self.stage_for_write(path, truncate)?;
            let file = open_disk(&staged, true, truncate).map_err(errno)?;
            return Ok((file, staged));
        }
        self.overlay_mut()
            .create_file(path, mode, true)
            .map_err(errno)
    }

    /// `mkdir path`; returns the new directory on disk.
    pub(crate) fn mkdir(&self, path: &str, mode: u32) -> Result<PathBuf, Errno> {
        if self.stat(path).is_ok() {
            return Err(Errno::EEXIST);
        }
        if self.recorder.is_ignored(path) {
            let real = self.real(path);
            fs::DirBuilder::new()
                .mode(mode)
                .create(&real)
                .map_err(errno)?;
            return Ok(real);
        }
        self.overlay_mut().create_dir(path, mode).map_err(errno)
    }

    /// `symlink target path`; returns the new link on disk.
    pub(crate) fn symlink(&self, path: &str, target: &Path) -> Result<PathBuf, Errno> {
        if self.stat(path).is_ok() {
            return Err(Errno::EEXIST);
        }
        if self.recorder.is_ignored(path) {
            let real = self.real(path);
            std::os::unix::fs::symlink(target, &real).map_err(errno)?;
            return Ok(real);
        }
        self.overlay_mut()
            .create_symlink(path, target)
            .map_err(errno)
    }

    /// `unlink path`: only the job's own files.
    pub(crate) fn unlink(&self, path: &str) -> Result<(), Errno> {
        if self.recorder.is_ignored(path) {
            return fs::remove_file(self.real(path)).map_err(errno);
        }
        let staged = self.overlay().get(path);
        match staged {
            Some(Staged::File(_)) => {
                let real_exists = self.real_exists(path);
                self.overlay_mut().remove(path, real_exists).map_err(errno)
            }
            Some(Staged::Dir(_)) => Err(Errno::EISDIR),
            Some(Staged::Whiteout) => Err(Errno::ENOENT),
            None => self.refuse_if_real("unlink", path),
        }
    }

    /// `rmdir path`: only directories the job made.
    pub(crate) fn rmdir(&self, path: &str) -> Result<(), Errno> {
        if self.recorder.is_ignored(path) {
            return fs::remove_dir(self.real(path)).map_err(errno);
        }
        let mut overlay = self.overlay_mut();
        match overlay.get(path) {
            Some(Staged::Dir(_)) => {
                if overlay
                    .children(path)
                    .iter()
                    .any(|(_, s)| *s != Staged::Whiteout)
                {
                    return Err(Errno::ENOTEMPTY);
                }
                overlay.remove(path, false).map_err(errno)
            }
            Some(Staged::File(_)) => Err(Errno::ENOTDIR),
            Some(Staged::Whiteout) => Err(Errno::ENOENT),
            None => {
                drop(overlay);
                self.refuse_if_real("rmdir", path)
            }
        }
    }

    /// `rename from to`: only the job's own files and directories move; the
    /// destination may be anything but a real directory.
    pub(crate) fn rename(&self, from: &str, to: &str, noreplace: bool) -> Result<(), Errno> {
        match (self.recorder.is_ignored(from), self.recorder.is_ignored(to)) {
            (true, true) => return fs::rename(self.real(from), self.real(to)).map_err(errno),
            (false, false) => {}
            // One side traced, one not: make the tool copy instead.
            _ => return Err(Errno::EXDEV),
        }
        let src = match self.overlay().get(from) {
            Some(Staged::Whiteout) => return Err(Errno::ENOENT),
            Some(s) => s,
            None => return self.refuse_if_real("rename", from),
        };
        if let Ok(dst) = self.stat(to) {
            if noreplace {
                return Err(Errno::EEXIST);
            }
            let dst_staged = self.overlay().get(to);
            match (matches!(src, Staged::Dir(_)), dst.is_dir(), dst_staged) {
                (false, true, _) => return Err(Errno::EISDIR),
                (true, false, _) => return Err(Errno::ENOTDIR),
                (true, true, None) => {
                    self.recorder.refuse("rename", to);
                    return Err(Errno::EPERM);
                }
                (true, true, Some(_)) if !self.overlay().children(to).is_empty() => {
                    return Err(Errno::ENOTEMPTY)
                }
                _ => {}
            }
        }
        let real_from_exists = self.real_exists(from);
        self.overlay_mut()
            .rename(from, to, real_from_exists)
            .map_err(errno)?;
        self.inodes
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .rename(from, to);
        Ok(())
    }

    /// `setattr` on `path`, or on `file` when the kernel gave a handle:
    /// that comes with `ftruncate` on a descriptor open for writing, which
    /// is always on the job's own file (staged, or ignored), even one it
    /// unlinked or renamed since (a temp file used through its descriptor).
    pub(crate) fn setattr(
        &self,
        path: &str,
        file: Option<&File>,
        change: &AttrChange,
    ) -> Result<(), Errno> {
        if let Some(file) = file {
            return apply_to_file(file, change).map_err(errno);
        }
        let target = match self.locate(path) {
            _ if self.recorder.is_ignored(path) => self.real(path),
            Location::Staged(p, _) => p,
            Location::Gone => return Err(Errno::ENOENT),
            Location::Real(p) => match change.op() {
                None => p,
                Some(op) => {
                    self.recorder.refuse(op, path);
                    return Err(Errno::EPERM);
                }
            },
        };
        apply(&target, change).map_err(errno)
    }

    fn refuse_if_real(&self, op: &'static str, path: &str) -> Result<(), Errno> {
        if self.real_exists(path) {
            self.recorder.refuse(op, path);
            Err(Errno::EPERM)
        } else {
            Err(Errno::ENOENT)
        }
    }
}

/// Apply `change` to the file at `path`.
fn apply(path: &Path, change: &AttrChange) -> io::Result<()> {
    if let Some(mode) = change.mode {
        fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o7777))?;
    }
    if change.uid.is_some() || change.gid.is_some() {
        std::os::unix::fs::lchown(path, change.uid, change.gid)?;
    }
    if let Some(size) = change.size {
        // Never waiting on a FIFO that replaced the file (see open_disk).
        open_disk(path, true, false)?.set_len(size)?;
    }
    if change.atime.is_some() || change.mtime.is_some() {
        set_times(path, change.atime, change.mtime)?;
    }
    Ok(())
}

/// Apply `change` to the open `file`.
fn apply_to_file(file: &File, change: &AttrChange) -> io::Result<()> {
    if let Some(mode) = change.mode {
        file.set_permissions(fs::Permissions::from_mode(mode & 0o7777))?;
    }
    if change.uid.is_some() || change.gid.is_some() {
        std::os::unix::fs::fchown(file, change.uid, change.gid)?;
    }
    if let Some(size) = change.size {
        file.set_len(size)?;
    }
    if change.atime.is_some() || change.mtime.is_some() {
        let times = [timespec(change.atime), timespec(change.mtime)];
        // SAFETY: futimens on a descriptor we own with two timespecs.
        if unsafe { libc::futimens(file.as_raw_fd(), times.as_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

fn timespec(t: Option<TimeOrNow>) -> libc::timespec {
    let (sec, nsec) = match t {
        None => (0, libc::UTIME_OMIT),
        Some(TimeOrNow::Now) => (0, libc::UTIME_NOW),
        Some(TimeOrNow::SpecificTime(t)) => match t.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => (
                d.as_secs() as libc::time_t,
                libc::c_long::from(d.subsec_nanos()),
            ),
            Err(_) => (0, 0),
        },
    };
    libc::timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    }
}

fn set_times(path: &Path, atime: Option<TimeOrNow>, mtime: Option<TimeOrNow>) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    let times = [timespec(atime), timespec(mtime)];
    // SAFETY: `c` is a valid C string and `times` holds two timespecs.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
