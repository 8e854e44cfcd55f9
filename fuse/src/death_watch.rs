//! The death watch: a tiny process, forked at mount time, that aborts our
//! FUSE connection when tupfs dies.
//!
//! Why: a SIGKILL that lands while one of our own threads waits for the
//! daemon's answer (the namespace pool's bind mount, a chdir into the
//! mount) kills the daemon threads but not that thread: a request the
//! daemon already read is waited for uninterruptibly. The waiting thread
//! keeps the process's fd table, and so the `/dev/fuse` fd, alive, so the
//! kernel never ends the connection and the process (holding the build
//! lock) never exits. Only someone outside can break that: writing to the
//! connection's `abort` file fails the request and lets the thread die.
//!
//! How it notices: a sentinel thread that only ever blocks (so SIGKILL ends
//! it at once, and it can never be the stuck thread) is watched through a
//! thread pidfd (`PIDFD_THREAD`, Linux 6.9), which becomes readable when
//! that thread exits. The watcher holds the `abort` file open from the
//! start: the open file belongs to this connection only, so even a late
//! write can never abort a later connection that reuses the number.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::mpsc;
use std::thread::JoinHandle;

/// `pidfd_open` flag: watch one thread, not the whole thread group
/// (`PIDFD_THREAD`, defined as `O_EXCL` by the kernel).
const PIDFD_THREAD: libc::c_uint = libc::O_EXCL as libc::c_uint;

/// A running watcher and the sentinel thread it watches. Dropping it stops
/// both without aborting anything (the clean path).
#[derive(Debug)]
pub(crate) struct DeathWatch {
    /// The watcher process (our child).
    watcher: libc::pid_t,
    /// Dropping this ends the sentinel thread.
    stop: Option<mpsc::Sender<()>>,
    sentinel: Option<JoinHandle<()>>,
}

impl DeathWatch {
    /// Start watching: when this process dies, `abort` (an open
    /// `/sys/fs/fuse/connections/N/abort`) gets written.
    pub(crate) fn start(abort: &OwnedFd) -> io::Result<DeathWatch> {
        let (stop, stopped) = mpsc::channel::<()>();
        let (tid_tx, tid_rx) = mpsc::channel();
        let sentinel = std::thread::Builder::new()
            .name("tupfs-sentinel".into())
            .spawn(move || {
                // SAFETY: plain system call.
                let _ = tid_tx.send(unsafe { libc::gettid() });
                // Blocks (killably) until the watch is dropped.
                let _ = stopped.recv();
            })?;
        let mut watch = DeathWatch {
            watcher: 0,
            stop: Some(stop),
            sentinel: Some(sentinel),
        };
        let tid = tid_rx
            .recv()
            .map_err(|_| io::Error::other("the sentinel thread did not start"))?;
        let pidfd = pidfd_open(tid, PIDFD_THREAD)?;
        watch.watcher = fork_watcher(&pidfd, abort)?;
        Ok(watch)
    }
}

/// `pidfd_open(2)`.
fn pidfd_open(pid: libc::pid_t, flags: libc::c_uint) -> io::Result<OwnedFd> {
    // SAFETY: plain system call; on success it returns a new fd we own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Fork the watcher process; returns its pid.
fn fork_watcher(pidfd: &OwnedFd, abort: &OwnedFd) -> io::Result<libc::pid_t> {
    let (pidfd, abort) = (pidfd.as_raw_fd(), abort.as_raw_fd());
    // SAFETY: the child runs only async-signal-safe system calls and never
    // returns (see `watch`); the parent just gets a pid.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => unsafe { watch(pidfd, abort) },
        pid => Ok(pid),
    }
}

/// The watcher: wait for the sentinel thread to exit, then abort the
/// connection. Runs in a child forked from a multi-threaded process, so
/// nothing here may allocate or take a lock: system calls only.
///
/// # Safety
/// Only in the child of `fork`, with `pidfd` and `abort` open.
unsafe fn watch(pidfd: RawFd, abort: RawFd) -> ! {
    // Every signal blocked: a Ctrl-C or a `timeout` sent to the process
    // group must not end the watch (the stop is SIGKILL).
    let mut all: libc::sigset_t = std::mem::zeroed();
    libc::sigfillset(&mut all);
    libc::sigprocmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
    // Hold nothing else of tupfs: above all not `/dev/fuse`, and not the
    // project as working directory (it would look like a leftover job and
    // keep its filesystem busy).
    libc::chdir(c"/".as_ptr());
    let (low, high) = (
        pidfd.min(abort) as libc::c_uint,
        pidfd.max(abort) as libc::c_uint,
    );
    close_range(0, low.checked_sub(1));
    close_range(low + 1, high.checked_sub(1));
    close_range(high + 1, Some(libc::c_uint::MAX));
    let mut p = libc::pollfd {
        fd: pidfd,
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        if libc::poll(&mut p, 1, -1) > 0 {
            break;
        }
        if *libc::__errno_location() != libc::EINTR {
            libc::_exit(1);
        }
    }
    libc::write(abort, b"1".as_ptr().cast(), 1);
    libc::_exit(0)
}

/// Close fds `first..=last` (nothing when `last` is `None` or below
/// `first`). Async-signal-safe.
unsafe fn close_range(first: libc::c_uint, last: Option<libc::c_uint>) {
    if let Some(last) = last.filter(|&l| l >= first) {
        libc::syscall(libc::SYS_close_range, first, last, 0);
    }
}

impl Drop for DeathWatch {
    fn drop(&mut self) {
        if self.watcher > 0 {
            // Stop the watcher before the sentinel: the sentinel's exit is
            // what it waits for.
            // SAFETY: our own child, not yet reaped (only we wait for it).
            unsafe {
                libc::kill(self.watcher, libc::SIGKILL);
                let mut status = 0;
                while libc::waitpid(self.watcher, &mut status, 0) < 0
                    && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
                {
                }
            }
        }
        drop(self.stop.take());
        if let Some(sentinel) = self.sentinel.take() {
            let _ = sentinel.join();
        }
    }
}
