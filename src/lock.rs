//! The per-project build lock (`.tupfs/lock`): one build at a time; a
//! second one says so and waits.
//!
//! A POSIX record lock (`fcntl(F_SETLKW)`), not `flock`: a record lock
//! belongs to the process, so a job's child that is still between fork and
//! exec when tupfs is killed (e.g. blocked setting up its mount namespace
//! on a mount whose daemon died) does not keep the project locked.

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
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        if !lock(&file, false)? {
            eprintln!("tupfs: {WAITING}");
            lock(&file, true)?;
        }
        Ok(BuildLock { _file: file })
    }
}

/// Write-lock the whole file; Ok(false) when `wait` is false and another
/// process holds it. Retries EINTR.
pub fn lock(file: &File, wait: bool) -> Result<bool> {
    // SAFETY: a zeroed flock struct is valid; we set the fields we need.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    let cmd = if wait { libc::F_SETLKW } else { libc::F_SETLK };
    loop {
        // SAFETY: fcntl on an fd we own with a valid flock struct.
        if unsafe { libc::fcntl(file.as_raw_fd(), cmd, &fl) } == 0 {
            return Ok(true);
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) | Some(libc::EACCES) if !wait => return Ok(false),
            _ => return Err(err).context("cannot lock .tupfs/lock"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_process_sees_the_lock_held() {
        let t = tempfile::tempdir().unwrap();
        let first = BuildLock::acquire(t.path()).unwrap();
        // Record locks are per process: test from another one.
        let probe = |path: &Path| {
            std::process::Command::new("python3")
                .arg("-c")
                .arg(
                    "import fcntl,sys\nf=open(sys.argv[1],'r+')\n\
                     try:\n  fcntl.lockf(f, fcntl.LOCK_EX|fcntl.LOCK_NB); print('free')\n\
                     except OSError: print('held')",
                )
                .arg(path)
                .output()
                .unwrap()
                .stdout
        };
        let path = t.path().join("lock");
        assert_eq!(probe(&path), b"held\n");
        drop(first);
        assert_eq!(probe(&path), b"free\n");
    }
}
