//! Mount lifecycle: clear a dead mount left by a killed build, mount the
//! filesystem with a multi-threaded daemon (and a death watch that aborts
//! the connection if tupfs is killed), and unmount without hanging even if
//! a stray process still holds the connection.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fuser::{BackgroundSession, Config, MountOption, Session};

use crate::death_watch::DeathWatch;
use crate::fs::{Serves, Shared, TraceFs};
use crate::spawn::{cstring, open_fd};
use crate::staging::with_path;

/// A live mount and its daemon threads.
#[derive(Debug)]
pub(crate) struct Mounted {
    mountpoint: PathBuf,
    session: Option<BackgroundSession>,
    /// The FUSE connection number (`/sys/fs/fuse/connections/N`).
    connection: u64,
    /// The connection's `abort` file, open (it stays bound to this
    /// connection even if the number is reused); `None` if not permitted.
    abort: Option<OwnedFd>,
    /// Aborts the connection if tupfs dies with it mounted.
    watch: Option<DeathWatch>,
}

/// If `mountpoint` is a FUSE mount whose daemon died, detach it. `statfs`
/// is the probe: unlike `stat`, the kernel never answers it from a cache,
/// so a dead connection shows as ENOTCONN (or, just after the death, as
/// ECONNABORTED or ECANCELED, see below).
pub(crate) fn clear_dead_mount(mountpoint: &Path) -> io::Result<()> {
    // With FUSE over io_uring the kernel tears the connection down from a
    // work queue after the process is gone, so a request made just after
    // the death can still be queued, and ends with ECONNABORTED (ended by
    // the abort while it waited) or ECANCELED (handed to a queue whose
    // thread is dead, `fuse_uring_send_in_task`). No live daemon of ours
    // answers `statfs` with either.
    let errno = statfs(mountpoint).raw_os_error();
    if matches!(
        errno,
        Some(libc::ENOTCONN | libc::ECONNABORTED | libc::ECANCELED)
    ) {
        log::info!("clearing dead mount at {}", mountpoint.display());
        detach(mountpoint)?;
    }
    Ok(())
}

/// The error of `statfs(path)` (errno 0 when it succeeds).
fn statfs(path: &Path) -> io::Error {
    let Ok(c) = cstring(path) else {
        return io::Error::from_raw_os_error(libc::EINVAL);
    };
    // SAFETY: statfs fills the zeroed struct; `c` is a valid C string.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0 {
        io::Error::from_raw_os_error(0)
    } else {
        io::Error::last_os_error()
    }
}

/// `umount2(MNT_DETACH)`, or `fusermount3 -uz` when not permitted.
fn detach(mountpoint: &Path) -> io::Result<()> {
    let c = cstring(mountpoint)?;
    // SAFETY: plain system call with a valid C string.
    if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() != Some(libc::EPERM) {
        return Err(with_path(err, mountpoint));
    }
    let status = std::process::Command::new("fusermount3")
        .arg("-uz")
        .arg(mountpoint)
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(with_path(
            io::Error::other(format!("fusermount3 -uz: {status}")),
            mountpoint,
        ))
    }
}

/// Refuse to mount over a live mount (another build is running).
pub(crate) fn check_not_mounted(mountpoint: &Path) -> io::Result<()> {
    let Some(parent) = mountpoint.parent() else {
        return Ok(());
    };
    let (here, above) = (fs::metadata(mountpoint)?, fs::metadata(parent)?);
    if here.dev() != above.dev() {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "{}: something is already mounted here (is another tupfs build running?)",
                mountpoint.display()
            ),
        ));
    }
    Ok(())
}

/// The soft open-file limit [`raise_fd_limit`] aims at: far more than the
/// daemon needs, and not so many that a command which closes every
/// possible descriptor at start-up (some do) crawls, as under a hard limit
/// of 2^30 in some containers.
const FD_LIMIT_GOAL: libc::rlim_t = 1 << 16;

/// Raise this process's soft open-file limit towards the hard one (at most
/// [`FD_LIMIT_GOAL`]): every file a job holds open is one the daemon holds
/// open too, so `-j N` jobs need N times what one needs (the soft limit is
/// often 1024, the hard one far more). Commands inherit it; errors leave
/// the limit as it was.
pub(crate) fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return;
        }
        let goal = limit.rlim_max.min(FD_LIMIT_GOAL);
        if limit.rlim_cur < goal {
            limit.rlim_cur = goal;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                log::debug!(
                    "cannot raise the open-file limit: {}",
                    io::Error::last_os_error()
                );
            }
        }
    }
}

/// Mount `shared`'s filesystem on `mountpoint` with `threads` daemon threads
/// reading `/dev/fuse`, and per-CPU io_uring queues if `io_uring` and the
/// kernel offers them. `serves`: the project mount, or the read-only one
/// of the outside (full dependencies).
pub(crate) fn mount(
    shared: Arc<Shared>,
    mountpoint: &Path,
    (threads, io_uring): (usize, bool),
    serves: Serves,
) -> io::Result<Mounted> {
    clear_dead_mount(mountpoint)?;
    fs::create_dir_all(mountpoint).map_err(|e| with_path(e, mountpoint))?;
    check_not_mounted(mountpoint)?;
    let mut config = Config::default();
    config.mount_options = vec![
        MountOption::FSName("tupfs".into()),
        MountOption::Subtype("tupfs".into()),
        MountOption::DefaultPermissions,
        MountOption::NoAtime,
    ];
    if serves == Serves::Outside {
        config.mount_options.push(MountOption::RO);
    }
    config.n_threads = Some(threads.max(1));
    config.clone_fd = true;
    config.io_uring = io_uring;
    let session = Session::new(TraceFs(shared, serves), mountpoint, &config)
        .map_err(|e| explain_mount_error(with_path(e, mountpoint)))?;
    let session = session.spawn()?;
    // Never stat our own mount: a SIGKILL that lands while a daemon thread
    // holds the request would leave this thread waiting uninterruptibly for
    // an answer nobody will give, and the process (holding the build lock)
    // could never exit. The mount table names the connection instead.
    let connection = connection_of(mountpoint).ok_or_else(|| {
        with_path(
            io::Error::other("the new mount is not in /proc/self/mountinfo"),
            mountpoint,
        )
    })?;
    let abort = open_abort(connection)
        .inspect_err(|e| log::debug!("connection {connection}: no abort file: {e}"))
        .ok();
    let watch = abort.as_ref().and_then(|fd| {
        DeathWatch::start(fd)
            .inspect_err(|e| log::debug!("no death watch on the mount: {e}"))
            .ok()
    });
    Ok(Mounted {
        mountpoint: mountpoint.to_owned(),
        session: Some(session),
        connection,
        abort,
        watch,
    })
}

/// `err` from a mount that failed, with the reason added when a normal
/// user has no mount helper: `mount(2)` is refused to them, so fuser runs
/// the setuid `fusermount3`, and spawning a program missing from PATH can
/// fail with EACCES (a PATH entry the user may not search), naming nothing.
fn explain_mount_error(err: io::Error) -> io::Error {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return err;
    }
    match missing_fusermount() {
        Some(why) => io::Error::new(err.kind(), format!("{err} ({why})")),
        None => err,
    }
}

/// Why fuser will not find its mount helper, if it will not: it runs
/// `FUSERMOUNT_PATH` when set, else the first `fusermount3`/`fusermount`
/// on PATH or in `/bin` or `/sbin`.
fn missing_fusermount() -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if let Some(helper) = std::env::var_os("FUSERMOUNT_PATH") {
        return (!executable(Path::new(&helper))).then(|| {
            format!(
                "FUSERMOUNT_PATH={} is not an executable file",
                Path::new(&helper).display()
            )
        });
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = std::env::split_paths(&path).chain(["/bin".into(), "/sbin".into()]);
    let found = dirs.any(|dir: PathBuf| {
        ["fusermount3", "fusermount"]
            .iter()
            .any(|name| executable(&dir.join(name)))
    });
    (!found).then(|| {
        "a normal user mounts through fusermount3, which was not found: \
         install the fuse3 package, or build as root"
            .to_owned()
    })
}

/// Where the kernel lists FUSE connections (the `fusectl` filesystem).
const FUSECTL: &str = "/sys/fs/fuse/connections";

/// Open connection `n`'s `abort` file for writing, mounting `fusectl` first
/// if nobody has. As a normal user the file is writable (it belongs to the
/// mount's owner) but `fusectl` may not be mounted, and then there is none.
fn open_abort(n: u64) -> io::Result<OwnedFd> {
    let path = cstring(Path::new(&format!("{FUSECTL}/{n}/abort")))?;
    match open_fd(&path, libc::O_WRONLY) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            let dir = cstring(Path::new(FUSECTL))?;
            // SAFETY: plain system call with valid C strings.
            let mounted = unsafe {
                libc::mount(
                    c"fusectl".as_ptr(),
                    dir.as_ptr(),
                    c"fusectl".as_ptr(),
                    0,
                    std::ptr::null(),
                )
            };
            if mounted != 0 {
                return Err(e);
            }
            open_fd(&path, libc::O_WRONLY)
        }
        other => other,
    }
}

/// The FUSE connection number (the device minor) of the newest mount at
/// `mountpoint`, from /proc/self/mountinfo.
fn connection_of(mountpoint: &Path) -> Option<u64> {
    // The table has the resolved path; resolve the parent only (resolving
    // the mountpoint itself would ask the daemon).
    let resolved = match (mountpoint.parent(), mountpoint.file_name()) {
        (Some(parent), Some(name)) => parent.canonicalize().ok()?.join(name),
        _ => mountpoint.to_path_buf(),
    };
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let want = resolved.as_os_str().as_bytes();
    info.lines().rev().find_map(|line| {
        let mut fields = line.split(' ');
        let dev = fields.nth(2)?;
        let point = fields.nth(1)?;
        if unescape_mountinfo(point) != want {
            return None;
        }
        dev.split(':').nth(1)?.parse().ok()
    })
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

impl Mounted {
    /// Whether a death watch guards the connection (a process blocked on
    /// the mount then fails instead of waiting for ever if tupfs dies).
    pub(crate) fn watched(&self) -> bool {
        self.watch.is_some()
    }

    /// Unmount and wait for the daemon threads. The connection is aborted
    /// right after the detach instead of waiting for the kernel to end it:
    /// job namespaces still being torn down keep the mount referenced, so
    /// under load the session would linger for tens to hundreds of
    /// milliseconds. Nothing is lost: the caller unmounts only
    /// after every job has ended and its writes were committed (renamed on
    /// the real filesystem, past FUSE), and the daemon keeps no state that
    /// outlives the session; a request still in flight can only come from a
    /// process a job left behind, which gets ENOTCONN as it would after the
    /// build anyway.
    pub(crate) fn unmount(&mut self) -> io::Result<()> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        // First, so it can never abort the connection on our way out.
        drop(self.watch.take());
        let detached = detach(&self.mountpoint);
        self.abort();
        // The daemon threads see the abort within microseconds: nap briefly
        // at first. The deadline guards against a thread stuck in a handler.
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut nap = Duration::from_micros(50);
        while !session.guard.is_finished() && Instant::now() < deadline {
            std::thread::sleep(nap);
            nap = (nap * 2).min(Duration::from_millis(5));
        }
        if session.guard.is_finished() {
            session.join()?;
        } else {
            log::warn!(
                "{}: FUSE daemon still busy after unmount; leaving it",
                self.mountpoint.display()
            );
        }
        detached
    }

    /// Requests served through io_uring so far; `None` when the mount
    /// does not use it.
    pub(crate) fn io_uring_requests(&self) -> Option<u64> {
        self.session.as_ref()?.io_uring_requests()
    }

    /// A handle for telling the kernel to drop cached entries.
    pub(crate) fn notifier(&self) -> Option<fuser::Notifier> {
        self.session.as_ref().map(BackgroundSession::notifier)
    }

    fn abort(&self) {
        let Some(fd) = &self.abort else {
            return log::debug!("connection {}: cannot abort", self.connection);
        };
        // SAFETY: writes one byte from a static buffer to an fd we own.
        if unsafe { libc::write(fd.as_raw_fd(), b"1".as_ptr().cast(), 1) } < 0 {
            let e = io::Error::last_os_error();
            log::debug!("aborting connection {}: {e}", self.connection);
        }
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Err(e) = self.unmount() {
            log::warn!("unmounting {}: {e}", self.mountpoint.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::unescape_mountinfo;

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape_mountinfo(r"/a\040b\134c"), b"/a b\\c");
        assert_eq!(unescape_mountinfo(r"/plain\09"), b"/plain\\09");
    }
}
