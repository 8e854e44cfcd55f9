//! Special files a job makes for itself: FIFOs and Unix sockets (`mknod`,
//! as `mkfifo` and `bind` ask for them) and hard links, staged in the job's
//! overlay like any write, so a command that makes and removes them works
//! as it does outside tupfs. Devices stay refused (EPERM).

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use fuser::Errno;

use crate::staging::Staged;
use crate::view::{JobView, Location};

impl JobView {
    /// `mknod path` of a FIFO or a socket (`mode`: type and masked
    /// permission bits); returns the new node on disk.
    pub(crate) fn mknod(&self, path: &str, mode: u32) -> Result<PathBuf, Errno> {
        let kind = mode & libc::S_IFMT;
        if kind != libc::S_IFIFO && kind != libc::S_IFSOCK {
            self.recorder.refuse("mknod", path);
            return Err(Errno::EPERM);
        }
        if self.stat(path).is_ok() {
            return Err(Errno::EEXIST);
        }
        if self.recorder.is_ignored(path) {
            let real = self.real(path);
            let name =
                std::ffi::CString::new(real.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
            // SAFETY: `name` is a valid NUL-terminated path; mknod only reads it.
            if unsafe { libc::mknod(name.as_ptr(), mode as libc::mode_t, 0) } != 0 {
                return Err(Errno::from(std::io::Error::last_os_error()));
            }
            return Ok(real);
        }
        self.overlay_mut()
            .create_node(path, mode)
            .map_err(Errno::from)
    }

    /// `link from to`: a hard link to one of the job's own files; to a file
    /// it did not make, a copy (a read of it), so that no write through the
    /// new name can reach a file of the tree. Returns the new entry on disk.
    pub(crate) fn link(&self, from: &str, to: &str) -> Result<PathBuf, Errno> {
        if self.stat(to).is_ok() {
            return Err(Errno::EEXIST);
        }
        match (self.recorder.is_ignored(from), self.recorder.is_ignored(to)) {
            (true, true) => {
                let real = self.real(to);
                fs::hard_link(self.real(from), &real).map_err(Errno::from)?;
                return Ok(real);
            }
            (false, false) => {}
            _ => return Err(Errno::EXDEV),
        }
        match self.locate(from) {
            Location::Staged(scratch, Staged::File(_)) => self
                .overlay_mut()
                .create_link(&scratch, to)
                .map_err(Errno::from),
            Location::Staged(..) => Err(Errno::EPERM),
            Location::Gone => Err(Errno::ENOENT),
            Location::Real(real) => self.link_copy(from, to, real),
        }
    }

    /// [`JobView::link`] of a real file: stage a copy of it (of a symlink,
    /// the same link) at `to`.
    fn link_copy(&self, from: &str, to: &str, real: PathBuf) -> Result<PathBuf, Errno> {
        let meta = fs::symlink_metadata(&real).map_err(Errno::from)?;
        self.recorder.read(from);
        let mut overlay = self.overlay_mut();
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&real).map_err(Errno::from)?;
            return overlay.create_symlink(to, &target).map_err(Errno::from);
        }
        overlay.copy_up(to, &real, false).map_err(Errno::from)?;
        overlay
            .get(to)
            .and_then(|s| overlay.scratch(s))
            .ok_or(Errno::EIO)
    }
}
