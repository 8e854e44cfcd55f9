//! Namespace spawn: run a job's command in a private mount namespace where
//! the project root is bind-mounted from the job's view, so the command sees
//! real paths (as a normal user, inside a user namespace of its own that
//! maps only the user's ids); or, where namespaces are not permitted, with
//! its working directory inside the mount.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::ptr;

use crate::outside::{bind_all, Bind};

/// How jobs are isolated, decided once per mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// A private mount namespace per job; commands see real paths.
    Namespace,
    /// Not root: a private user namespace (mapping only our own uid and
    /// gid, so commands run as the same user) and mount namespace per job,
    /// made by the job's forked child; commands see real paths.
    UserNamespace,
    /// No namespaces: commands run with their cwd inside the mount.
    MountCwd,
}

/// What a job's command needs to enter its view, prepared before the fork
/// (the child may only make async-signal-safe system calls).
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    Namespace {
        view: CString,
        root: CString,
        cwd: CString,
        /// The device number of `/dev/fuse`, to close our copies of the
        /// daemon's fds (see `close_fuse_fds`).
        fuse_rdev: libc::dev_t,
        /// Under [`Isolation::UserNamespace`]: enter a user namespace first.
        user: Option<IdMaps>,
        /// The job root: `view` is bound there too.
        job_root: Option<CString>,
        /// Full dependencies: the system directories bound to the view.
        binds: Vec<Bind>,
    },
    /// A namespace made ahead (see `nspool`): the child only joins it.
    Prepared {
        /// The namespace's fd (owned by the `Job`, open until it ends).
        ns: libc::c_int,
        cwd: CString,
        fuse_rdev: libc::dev_t,
    },
    MountCwd(PathBuf),
}

/// The contents of `/proc/self/{uid,gid}_map` for a user namespace in which
/// we keep our own uid and gid (and nobody else is mapped), written before
/// the fork so the child only makes system calls.
#[derive(Debug, Clone)]
pub(crate) struct IdMaps {
    uid: Box<[u8]>,
    gid: Box<[u8]>,
}

impl IdMaps {
    /// Maps of this process's real uid and gid onto themselves.
    pub(crate) fn current() -> IdMaps {
        // SAFETY: getuid/getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        IdMaps {
            uid: format!("{uid} {uid} 1\n").into_bytes().into(),
            gid: format!("{gid} {gid} 1\n").into_bytes().into(),
        }
    }

    /// In the child: a new user namespace together with a new mount
    /// namespace it owns, our ids mapped onto themselves (an unprivileged
    /// process may map only its own ids, and its gid only once `setgroups`
    /// is denied). FUSE mounts of ours stay usable: the kernel compares the
    /// caller's global uid with the mounter's. Only system calls.
    fn enter(&self) -> io::Result<()> {
        // SAFETY: plain system call (the child of a fork has one thread,
        // as CLONE_NEWUSER requires).
        check(unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) })?;
        write_proc(c"/proc/self/uid_map", &self.uid)?;
        write_proc(c"/proc/self/setgroups", b"deny")?;
        write_proc(c"/proc/self/gid_map", &self.gid)
    }
}

/// Write `data` to the proc file `path` in one `write`. Only system calls.
fn write_proc(path: &CStr, data: &[u8]) -> io::Result<()> {
    // SAFETY: open/write/close on a valid C string and a buffer we own.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = libc::write(fd, data.as_ptr().cast(), data.len());
        let result = if n == data.len() as isize {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        };
        libc::close(fd);
        result
    }
}

/// A C string of a path (paths from the OS cannot hold NUL; say so if one does).
pub(crate) fn cstring(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: path contains a NUL byte", path.display()),
        )
    })
}

/// `Ok` for a system call's 0, else the OS error.
pub(crate) fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The device number of `/dev/fuse` (0 if it cannot be read).
pub(crate) fn fuse_rdev() -> libc::dev_t {
    // SAFETY: stat into a zeroed, properly sized struct.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::stat(c"/dev/fuse".as_ptr(), &mut st) == 0 {
            st.st_rdev
        } else {
            0
        }
    }
}

/// In the child: close every inherited `/dev/fuse` fd before touching the
/// mount. Otherwise, if tupfs is killed while a child sits between fork and
/// exec, that child holds the FUSE connection open with nobody serving it,
/// and its bind mount below waits for an answer forever (an unkillable
/// process that also blocks the next build). Only the fds that are open are
/// looked at (read from `/proc/self/fd` with `getdents64` into a stack
/// buffer; probing every possible fd number cost ~1 ms per job): system
/// calls only, no allocation.
fn close_fuse_fds(fuse_rdev: libc::dev_t) {
    if fuse_rdev == 0 {
        return;
    }
    // SAFETY: open/getdents64/fstat/close on buffers we own; the dirent
    // records are parsed within the length getdents64 returned.
    unsafe {
        let dir = libc::open(
            c"/proc/self/fd".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        );
        if dir < 0 {
            return close_fuse_fds_upto(4096, fuse_rdev);
        }
        let mut buf = [0u8; 4096];
        loop {
            let n = libc::syscall(libc::SYS_getdents64, dir, buf.as_mut_ptr(), buf.len());
            if n <= 0 {
                break;
            }
            let mut at = 0usize;
            while at + 19 < n as usize {
                // struct linux_dirent64: u64 ino, i64 off, u16 reclen, u8 type, name.
                let reclen = u16::from_ne_bytes([buf[at + 16], buf[at + 17]]) as usize;
                if reclen == 0 {
                    break;
                }
                if let Some(fd) = parse_fd(&buf[at + 19..(at + reclen).min(n as usize)]) {
                    if fd > 2 && fd != dir {
                        close_if_fuse(fd, fuse_rdev);
                    }
                }
                at += reclen;
            }
        }
        libc::close(dir);
    }
}

/// The fd number in a NUL-terminated `/proc/self/fd` entry name.
fn parse_fd(name: &[u8]) -> Option<libc::c_int> {
    let mut fd: libc::c_int = 0;
    for &b in name.iter().take_while(|&&b| b != 0) {
        if !b.is_ascii_digit() {
            return None;
        }
        fd = fd
            .checked_mul(10)?
            .checked_add(libc::c_int::from(b - b'0'))?;
    }
    Some(fd)
}

/// Without `/proc`: probe every fd number below `limit`.
fn close_fuse_fds_upto(limit: libc::c_int, fuse_rdev: libc::dev_t) {
    for fd in 3..limit {
        close_if_fuse(fd, fuse_rdev);
    }
}

/// Close `fd` if it is a `/dev/fuse` descriptor. Only fstat and close.
fn close_if_fuse(fd: libc::c_int, fuse_rdev: libc::dev_t) {
    // SAFETY: fstat on any fd number is harmless (EBADF if unused).
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) == 0
            && st.st_mode & libc::S_IFMT == libc::S_IFCHR
            && st.st_rdev == fuse_rdev
        {
            libc::close(fd);
        }
    }
}

/// In the child: a private mount namespace (inside a user namespace of its
/// own when `user` is given) in which `root` shows `view`, then
/// `chdir(cwd)`. Only system calls: no allocation, locks or logging.
fn enter_namespace(
    view: &CString,
    root: &CString,
    cwd: &CString,
    fuse_rdev: libc::dev_t,
    user: Option<&IdMaps>,
    job_root: Option<&CString>,
    binds: &[Bind],
) -> io::Result<()> {
    close_fuse_fds(fuse_rdev);
    match user {
        Some(maps) => maps.enter()?,
        // SAFETY: plain system call.
        None => check(unsafe { libc::unshare(libc::CLONE_NEWNS) })?,
    }
    slave_and_bind_at(view, root, job_root, binds)?;
    // SAFETY: chdir with a valid C string.
    check(unsafe { libc::chdir(cwd.as_ptr()) })
}

/// In the child: join the prepared namespace `ns`, then `chdir(cwd)`.
/// Only system calls.
fn join_namespace(ns: libc::c_int, cwd: &CString, fuse_rdev: libc::dev_t) -> io::Result<()> {
    close_fuse_fds(fuse_rdev);
    // SAFETY: setns on an fd the parent keeps open; chdir with a C string.
    unsafe {
        check(libc::setns(ns, libc::CLONE_NEWNS))?;
        check(libc::chdir(cwd.as_ptr()))
    }
}

/// Unshare (`flags` must include CLONE_NEWNS), make every mount a slave so
/// nothing propagates back to the parent namespace, and bind `from` onto
/// `onto`. System calls only: safe between fork and exec.
pub(crate) fn private_bind(flags: libc::c_int, from: &CString, onto: &CString) -> io::Result<()> {
    // SAFETY: plain system call.
    check(unsafe { libc::unshare(flags) })?;
    slave_and_bind(from, onto, &[])
}

/// In a fresh mount namespace: make every mount a slave, bind `view` onto
/// `job_root` (if any) and onto `root`, in that order: `view` lies below
/// `root`, where the second bind hides it. System calls only.
pub(crate) fn slave_and_bind_at(
    view: &CString,
    root: &CString,
    job_root: Option<&CString>,
    binds: &[Bind],
) -> io::Result<()> {
    match job_root {
        Some(jr) => {
            slave_and_bind(view, jr, binds)?;
            bind(view, root)
        }
        None => slave_and_bind(view, root, binds),
    }
}

/// In a fresh mount namespace: make every mount a slave, bind `binds`
/// (full dependencies, read-only), then `from` onto `onto`. System calls
/// only.
fn slave_and_bind(from: &CString, onto: &CString, binds: &[Bind]) -> io::Result<()> {
    // SAFETY: raw system calls with valid C strings and null optional args.
    unsafe {
        check(libc::mount(
            c"none".as_ptr(),
            c"/".as_ptr(),
            ptr::null(),
            libc::MS_REC | libc::MS_SLAVE,
            ptr::null(),
        ))?;
        bind_all(binds)?;
        check(libc::mount(
            from.as_ptr(),
            onto.as_ptr(),
            ptr::null(),
            libc::MS_BIND,
            ptr::null(),
        ))
    }
}

/// Bind `from` onto `onto` too (the job root). A system call only.
pub(crate) fn bind(from: &CString, onto: &CString) -> io::Result<()> {
    // SAFETY: a raw system call with valid C strings and null optional args.
    check(unsafe {
        libc::mount(
            from.as_ptr(),
            onto.as_ptr(),
            ptr::null(),
            libc::MS_BIND,
            ptr::null(),
        )
    })
}

/// A `Command` for `program` that enters the job's view when spawned.
pub(crate) fn command(program: &str, entry: &Entry) -> Command {
    let mut cmd = Command::new(program);
    match entry.clone() {
        Entry::Namespace {
            view,
            root,
            cwd,
            fuse_rdev,
            user,
            job_root,
            binds,
        } => {
            // SAFETY: the closure only makes async-signal-safe system calls
            // on C strings prepared before the fork.
            unsafe {
                cmd.pre_exec(move || {
                    enter_namespace(
                        &view,
                        &root,
                        &cwd,
                        fuse_rdev,
                        user.as_ref(),
                        job_root.as_ref(),
                        &binds,
                    )
                });
            }
        }
        Entry::Prepared { ns, cwd, fuse_rdev } => {
            // SAFETY: as above: system calls on data prepared before the fork.
            unsafe {
                cmd.pre_exec(move || join_namespace(ns, &cwd, fuse_rdev));
            }
        }
        Entry::MountCwd(dir) => {
            cmd.current_dir(dir);
        }
    }
    cmd
}

/// Spawn `cmd` (which has no pre-exec hook) inside the prepared namespace
/// `ns` with working directory `cwd`, without forking this process: the
/// calling thread joins the namespace for the moment of the spawn, so std
/// uses `posix_spawn` (a vfork: the child inherits the thread's namespace
/// and cwd), then returns home. A fork copies the page tables of the whole
/// multi-threaded process and costs it copy-on-write faults until the child
/// execs; a helper thread costs a hand-off (a scheduler wait under load).
///
/// Only this thread moves: it gets its own filesystem context first
/// (`unshare(CLONE_FS)`, kept afterwards; nothing in tupfs changes the
/// process's working directory). The caller makes sure `cmd`'s program is
/// an absolute path outside the project: the child execs it while it
/// still holds the `/dev/fuse` fds (closed on exec), so it must not need
/// the mount to get there, unless a death watch fails that wait when tupfs
/// dies (full dependencies: the system directories are in the mount).
pub(crate) fn spawn_in(ns: libc::c_int, cwd: &CString, cmd: &mut Command) -> io::Result<Child> {
    // SAFETY: plain system call; a no-op once the thread has its own.
    check(unsafe { libc::unshare(libc::CLONE_FS) })?;
    let home = Home::save()?;
    // SAFETY: setns/chdir on an fd the job keeps open and a C string.
    let entered = check(unsafe { libc::setns(ns, libc::CLONE_NEWNS) })
        .and_then(|()| check(unsafe { libc::chdir(cwd.as_ptr()) }));
    let spawned = entered.and_then(|()| cmd.spawn());
    home.restore();
    spawned
}

/// Where the calling thread was: its mount namespace and working directory.
struct Home {
    ns: OwnedFd,
    cwd: OwnedFd,
}

impl Home {
    fn save() -> io::Result<Home> {
        Ok(Home {
            ns: open_fd(c"/proc/thread-self/ns/mnt", libc::O_RDONLY)?,
            cwd: open_fd(c".", libc::O_PATH | libc::O_DIRECTORY)?,
        })
    }

    /// Go back. Failing here would leave an engine thread seeing a job's
    /// view of the project, so it is fatal (it needs the kernel to refuse
    /// our own namespace fd).
    fn restore(self) {
        // SAFETY: setns/fchdir on fds we own.
        let back = check(unsafe { libc::setns(self.ns.as_raw_fd(), libc::CLONE_NEWNS) })
            .and_then(|()| check(unsafe { libc::fchdir(self.cwd.as_raw_fd()) }));
        if let Err(e) = back {
            log::error!("cannot return a thread from a job's namespace: {e}");
            std::process::abort();
        }
    }
}

/// `open(path, flags | O_CLOEXEC)` as an owned fd.
pub(crate) fn open_fd(path: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: open with a valid C string; the new fd is ours alone.
    let fd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        Err(io::Error::last_os_error())
    } else {
        // SAFETY: a fresh descriptor nobody else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

/// How this process may give children private mount namespaces: as root
/// directly (tried with a bind of `root` in a throwaway thread, whose
/// namespace dies with it); else inside a user namespace (tried in a forked
/// child that binds the `mountpoint`, as jobs will bind their views); else
/// not at all (warned once).
pub(crate) fn probe(root: &Path, mountpoint: &Path) -> Isolation {
    let (Ok(root), Ok(mountpoint)) = (cstring(root), cstring(mountpoint)) else {
        return Isolation::MountCwd;
    };
    let direct = {
        let root = root.clone();
        std::thread::spawn(move || {
            // The namespace is this short-lived thread's own (CLONE_FS).
            private_bind(libc::CLONE_NEWNS | libc::CLONE_FS, &root, &root)
        })
        .join()
    };
    let why = match direct {
        Ok(Ok(())) => return Isolation::Namespace,
        Ok(Err(e)) if e.raw_os_error() == Some(libc::EPERM) => {
            match user_namespaces_allowed().and_then(|()| probe_user(&mountpoint, &root)) {
                Ok(()) => return Isolation::UserNamespace,
                Err(user) => format!("{e}; user namespaces: {user}"),
            }
        }
        Ok(Err(e)) => e.to_string(),
        Err(_) => "the probe thread panicked".to_owned(),
    };
    log::warn!(
        "mount namespaces not available ({why}): commands run with their \
         working directory inside the tracing mount and see its paths"
    );
    Isolation::MountCwd
}

/// `Ok` unless `/proc/sys/user/max_user_namespaces` says 0 (a missing file
/// means the kernel does not limit them this way; the probe then decides).
fn user_namespaces_allowed() -> io::Result<()> {
    let max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces").ok();
    limit_allows(max.as_deref())
}

/// Whether the contents of `max_user_namespaces` (if readable) allow any.
fn limit_allows(max: Option<&str>) -> io::Result<()> {
    match max.map(str::trim) {
        Some("0") => Err(io::Error::other(
            "disabled (/proc/sys/user/max_user_namespaces is 0)",
        )),
        _ => Ok(()),
    }
}

/// In a forked child: enter a user and mount namespace as jobs do and bind
/// `from` onto `onto`; the child's exit status carries the errno.
fn probe_user(from: &CString, onto: &CString) -> io::Result<()> {
    let maps = IdMaps::current();
    let fuse_rdev = fuse_rdev();
    // SAFETY: the child only makes system calls on data prepared before
    // the fork, then `_exit`s; the parent waits for it.
    unsafe {
        let pid = libc::fork();
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            close_fuse_fds(fuse_rdev);
            let done = maps.enter().and_then(|()| slave_and_bind(from, onto, &[]));
            libc::_exit(match done {
                Ok(()) => 0,
                Err(e) => e.raw_os_error().unwrap_or(libc::EIO).clamp(1, 255),
            });
        }
        let mut status = 0;
        while libc::waitpid(pid, &mut status, 0) < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        match (libc::WIFEXITED(status), libc::WEXITSTATUS(status)) {
            (true, 0) => Ok(()),
            (true, errno) => Err(io::Error::from_raw_os_error(errno)),
            _ => Err(io::Error::other("the probe child was killed")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::limit_allows;

    #[test]
    fn a_zero_user_namespace_limit_means_the_fallback() {
        assert!(limit_allows(Some("0\n")).is_err());
        assert!(limit_allows(Some("96365\n")).is_ok());
        assert!(limit_allows(None).is_ok(), "no file: the probe decides");
    }
}
