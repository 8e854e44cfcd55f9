//! The per-project build lock (`.tupfs/lock`, an flock): one build at a
//! time; a second one says so and waits.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;

use anyhow::{Context, Result};

/// Held for the whole build; released when dropped (or when the process
/// dies, so a crashed build never leaves the project locked).
#[derive(Debug)]
pub struct BuildLock {
    _file: File,
}

/// The message printed when another build holds the lock.
pub const WAITING: &str = "waiting for another tupfs build in this project...";

impl BuildLock {
    /// Take the lock in `state_dir`, printing [`WAITING`] to stderr and
    /// blocking if another build holds it.
    pub fn acquire(state_dir: &Path) -> Result<BuildLock> {
        let path = state_dir.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        if !flock(&file, libc::LOCK_EX | libc::LOCK_NB)? {
            eprintln!("tupfs: {WAITING}");
            flock(&file, libc::LOCK_EX)?;
        }
        Ok(BuildLock { _file: file })
    }
}

/// flock; Ok(false) when non-blocking and held elsewhere. Retries EINTR.
fn flock(file: &File, op: libc::c_int) -> Result<bool> {
    loop {
        // SAFETY: flock on an fd we own; no memory is passed.
        if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
            return Ok(true);
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) => return Ok(false),
            _ => return Err(err).context("cannot lock .tupfs/lock"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_waits_until_first_is_dropped() {
        let t = tempfile::tempdir().unwrap();
        let first = BuildLock::acquire(t.path()).unwrap();
        let f = File::options()
            .write(true)
            .open(t.path().join("lock"))
            .unwrap();
        assert!(!flock(&f, libc::LOCK_EX | libc::LOCK_NB).unwrap());
        drop(first);
        assert!(flock(&f, libc::LOCK_EX | libc::LOCK_NB).unwrap());
    }
}
