//! The watch: inotify on every directory of the project (the watch added
//! BEFORE the directory is listed, so nothing created in between is lost),
//! every event reduced to "this path may have changed" in the shared
//! [`State`]. An overflowed queue or a lost watch starts a new instance
//! (everything listed again); running out of watches leaves the monitor
//! untrusted, naming the sysctl to raise.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::state::{Shared, State};

/// Directory names never watched (version control's own state): what is
/// under them is always judged by a build.
pub fn is_excluded_name(name: &str) -> bool {
    matches!(name, ".git" | ".hg" | ".svn" | ".bzr" | "_darcs" | ".jj")
}

/// What a directory's watch reports.
const MASK: u32 = libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_MODIFY
    | libc::IN_ATTRIB
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF
    | libc::IN_ONLYDIR
    | libc::IN_DONT_FOLLOW
    | libc::IN_EXCL_UNLINK;

/// Events that change a directory's entries.
const ENTRY: u32 = libc::IN_CREATE | libc::IN_DELETE | libc::IN_MOVED_FROM | libc::IN_MOVED_TO;

/// One inotify event.
struct Event {
    wd: i32,
    mask: u32,
    name: String,
}

/// What an event asks of the loop.
enum Flow {
    /// Go on.
    Continue,
    /// Forget everything and list the tree again (a new instance).
    Restart(String),
}

/// The inotify instance and the directories it watches.
pub struct Watcher {
    root: PathBuf,
    fd: OwnedFd,
    dirs: HashMap<i32, String>,
    wds: HashMap<String, i32>,
    cookie_wd: i32,
    shared: Arc<Shared>,
}

impl Watcher {
    /// Watch the project at `root` (a new instance, listed before this
    /// returns). Fails only when inotify itself cannot be had.
    pub fn start(root: &Path, shared: Arc<Shared>) -> io::Result<Watcher> {
        let mut w = Watcher {
            root: root.to_path_buf(),
            fd: inotify_fd()?,
            dirs: HashMap::new(),
            wds: HashMap::new(),
            cookie_wd: -1,
            shared,
        };
        w.relist("listing the tree")?;
        Ok(w)
    }

    /// Read events until the process ends.
    pub fn run(mut self) {
        let mut buf = vec![0u64; 8192]; // 64 KiB, aligned for inotify_event
        loop {
            let n = match read_events(&self.fd, &mut buf) {
                Ok(n) => n,
                Err(e) => {
                    eprintln!("tupfs monitor: cannot read inotify events: {e}");
                    return self.untrust(&format!("cannot read inotify events: {e}"));
                }
            };
            // SAFETY: the u64 buffer viewed as the n bytes read into it.
            let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
            if let Flow::Restart(why) = self.batch(bytes) {
                eprintln!("tupfs monitor: {why}: listing the tree again");
                if let Err(e) = self.relist(&why) {
                    eprintln!("tupfs monitor: cannot watch again: {e}");
                    return self.untrust(&format!("cannot watch again: {e}"));
                }
            }
        }
    }

    /// Leave the monitor untrusted for good (builds scan).
    fn untrust(&self, why: &str) {
        self.shared.lock().untrusted = Some(why.to_string());
        self.shared.notify();
    }

    /// Handle one read's events as one batch (one sequence number).
    fn batch(&mut self, bytes: &[u8]) -> Flow {
        let shared = self.shared.clone();
        let mut st = shared.lock();
        st.seq += 1;
        let mut flow = Flow::Continue;
        for ev in parse_events(bytes) {
            if let Flow::Restart(why) = self.event(&mut st, ev) {
                flow = Flow::Restart(why);
                break;
            }
        }
        drop(st);
        shared.notify();
        flow
    }

    /// A new instance: a fresh inotify, the cookie directory and every
    /// directory of the tree watched, untrusted until done (and for good
    /// when the watches ran out).
    fn relist(&mut self, why: &str) -> io::Result<()> {
        let shared = self.shared.clone();
        let mut st = shared.lock();
        st.seq += 1;
        st.restart(random_instance(), why);
        self.fd = inotify_fd()?;
        self.dirs.clear();
        self.wds.clear();
        let cookies = super::state_path(&self.root, super::COOKIES);
        fs::create_dir_all(&cookies)?;
        self.cookie_wd = add_watch(&self.fd, &cookies, libc::IN_CREATE | libc::IN_ONLYDIR)?;
        st.unwatched.insert(crate::project::STATE_DIR.to_string());
        st.untrusted = self.watch_tree(&mut st, "").err();
        let count = self.dirs.len();
        drop(st);
        shared.notify();
        eprintln!("tupfs monitor: watching {count} directories");
        Ok(())
    }

    /// Watch `top` and every directory under it, each watched before it
    /// is listed. Err: the watches ran out (the message says what to raise).
    fn watch_tree(&mut self, st: &mut State, top: &str) -> Result<(), String> {
        let mut todo = vec![top.to_string()];
        while let Some(dir) = todo.pop() {
            let disk = self.root.join(&dir);
            match add_watch(&self.fd, &disk, MASK) {
                Ok(wd) => {
                    self.dirs.insert(wd, dir.clone());
                    self.wds.insert(dir.clone(), wd);
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                    return Err(limit_message(self.dirs.len() + todo.len() + 1));
                }
                Err(e) if is_gone(&e) => continue,
                Err(_) => {
                    st.unwatched.insert(dir);
                    continue;
                }
            }
            let Ok(entries) = fs::read_dir(&disk) else {
                st.unwatched.insert(dir);
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let path = join(&dir, &name);
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                if kind.is_symlink() || self.excluded(&path, &name) {
                    st.unwatched.insert(path);
                } else if kind.is_dir() {
                    todo.push(path);
                }
            }
        }
        Ok(())
    }

    /// Not watched: `.tupfs` at the root, version control's directories.
    fn excluded(&self, path: &str, name: &str) -> bool {
        is_excluded_name(name) || path == crate::project::STATE_DIR
    }

    /// Reduce one event to the paths that may have changed.
    fn event(&mut self, st: &mut State, ev: Event) -> Flow {
        log::trace!("event wd {} mask {:#x} {:?}", ev.wd, ev.mask, ev.name);
        if ev.mask & libc::IN_Q_OVERFLOW != 0 {
            return Flow::Restart("the kernel's event queue overflowed".into());
        }
        if ev.wd == self.cookie_wd {
            if ev.mask & libc::IN_IGNORED != 0 {
                return Flow::Restart("the cookie directory's watch was lost".into());
            }
            st.cookies.insert(ev.name);
            return Flow::Continue;
        }
        let Some(dir) = self.dirs.get(&ev.wd).cloned() else {
            return Flow::Continue; // a watch already forgotten
        };
        if ev.mask & libc::IN_IGNORED != 0 {
            return self.lost(st, ev.wd, &dir);
        }
        let moved_self = ev.mask & (libc::IN_DELETE_SELF | libc::IN_MOVE_SELF) != 0;
        if ev.name.is_empty() && dir.is_empty() && moved_self {
            return Flow::Restart("the project directory moved".into());
        }
        if ev.name.is_empty() {
            match ev.mask & (libc::IN_DELETE_SELF | libc::IN_MOVE_SELF) != 0 {
                true => st.mark_subtree(&dir),
                false => st.mark(&dir),
            }
            return Flow::Continue;
        }
        let path = join(&dir, &ev.name);
        if self.excluded(&path, &ev.name) {
            st.unwatched.insert(path);
            return Flow::Continue;
        }
        st.mark(&path);
        if ev.mask & ENTRY != 0 {
            st.mark(&dir);
            self.entry_moved(st, &path, ev.mask)
        } else {
            Flow::Continue
        }
    }

    /// An entry of a watched directory appeared or went away.
    fn entry_moved(&mut self, st: &mut State, path: &str, mask: u32) -> Flow {
        let appeared = mask & (libc::IN_CREATE | libc::IN_MOVED_TO) != 0;
        if mask & libc::IN_ISDIR == 0 {
            let is_link = fs::symlink_metadata(self.root.join(path))
                .is_ok_and(|m| m.file_type().is_symlink());
            if appeared && is_link {
                st.unwatched.insert(path.to_string());
            }
            return Flow::Continue;
        }
        st.mark_subtree(path);
        self.unwatch_under(path);
        if appeared {
            if let Err(why) = self.watch_tree(st, path) {
                eprintln!("tupfs monitor: {why}");
                st.untrusted = Some(why);
            }
        }
        Flow::Continue
    }

    /// A watch the kernel dropped: fine when its directory is gone (what
    /// was under it is marked), else a change could be lost: start again.
    fn lost(&mut self, st: &mut State, wd: i32, dir: &str) -> Flow {
        self.dirs.remove(&wd);
        if self.wds.get(dir) == Some(&wd) {
            self.wds.remove(dir);
        }
        st.mark_subtree(dir);
        match self.root.join(dir).is_dir() && !self.wds.contains_key(dir) {
            true => Flow::Restart(format!("the watch on {dir:?} was lost")),
            false => Flow::Continue,
        }
    }

    /// Stop watching `path` and everything under it (it was moved or
    /// deleted: its watches would report under the wrong names).
    fn unwatch_under(&mut self, path: &str) {
        let prefix = format!("{path}/");
        let gone: Vec<(String, i32)> = self
            .wds
            .iter()
            .filter(|(p, _)| *p == path || p.starts_with(&prefix))
            .map(|(p, wd)| (p.clone(), *wd))
            .collect();
        for (p, wd) in gone {
            self.wds.remove(&p);
            self.dirs.remove(&wd);
            // SAFETY: a plain syscall on our inotify fd; EINVAL (already
            // gone) is fine.
            unsafe { libc::inotify_rm_watch(self.fd.as_raw_fd(), wd) };
        }
    }
}

/// `dir/name` as a project path ("" is the root).
fn join(dir: &str, name: &str) -> String {
    match dir.is_empty() {
        true => name.to_string(),
        false => format!("{dir}/{name}"),
    }
}

fn is_gone(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR))
}

/// What to say when `inotify_add_watch` fails with ENOSPC.
fn limit_message(needed: usize) -> String {
    let path = "/proc/sys/fs/inotify/max_user_watches";
    let now: usize = fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let want = (now + needed).max(needed * 2).next_power_of_two();
    format!(
        "out of inotify watches (fs.inotify.max_user_watches is {now}, this project needs \
         {needed} more than are free): raise it, e.g. `sysctl fs.inotify.max_user_watches={want}`"
    )
}

/// A fresh inotify instance.
fn inotify_fd() -> io::Result<OwnedFd> {
    // SAFETY: a plain syscall; the fd is owned right after.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Watch one directory.
fn add_watch(fd: &OwnedFd, path: &Path, mask: u32) -> io::Result<i32> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: a NUL-terminated path and our inotify fd.
    let wd = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), mask) };
    match wd < 0 {
        true => Err(io::Error::last_os_error()),
        false => Ok(wd),
    }
}

/// Block until events arrive; how many bytes were read.
fn read_events(fd: &OwnedFd, buf: &mut [u64]) -> io::Result<usize> {
    loop {
        let len = std::mem::size_of_val(buf);
        // SAFETY: reading into a buffer we own, of its byte length.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), len) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// The events in one read's bytes (`struct inotify_event`, then the name
/// padded with NULs).
fn parse_events(bytes: &[u8]) -> Vec<Event> {
    let mut events = Vec::new();
    let mut at = 0;
    let word = |i: usize| u32::from_ne_bytes(bytes[i..i + 4].try_into().unwrap_or([0; 4]));
    while at + 16 <= bytes.len() {
        let len = word(at + 12) as usize;
        let end = (at + 16 + len).min(bytes.len());
        let name = &bytes[at + 16..end];
        let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
        events.push(Event {
            wd: word(at) as i32,
            mask: word(at + 4),
            name: String::from_utf8_lossy(name).into_owned(),
        });
        at = end;
    }
    events
}

/// A random instance id (never 0: 0 means "no clock").
fn random_instance() -> u64 {
    let mut v = 0u64;
    // SAFETY: getrandom writes at most 8 bytes into `v`.
    unsafe { libc::getrandom((&mut v as *mut u64).cast(), 8, 0) };
    let fallback = std::process::id() as u64 ^ crate::change::Moment::now().0 as u64;
    match v {
        0 => fallback.max(1),
        v => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn wait_for(shared: &Shared, mut cond: impl FnMut(&State) -> bool) -> bool {
        let guard = shared.lock();
        let deadline = Instant::now() + Duration::from_secs(5);
        let st = shared.wait_until(guard, deadline, &mut cond);
        cond(&st)
    }

    #[test]
    fn running_out_of_watches_names_the_sysctl_and_a_value() {
        let text = limit_message(5000);
        assert!(text.contains("fs.inotify.max_user_watches"), "{text}");
        let want: usize = text
            .rsplit('=')
            .next()
            .unwrap()
            .trim_end_matches('`')
            .parse()
            .unwrap();
        assert!(
            want >= 10_000,
            "at least twice what the project needs: {text}"
        );
    }

    #[test]
    fn sees_edits_new_directories_and_moves() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        fs::create_dir_all(root.join(".tupfs")).unwrap();
        fs::create_dir_all(root.join("src/deep")).unwrap();
        fs::create_dir_all(root.join(".git")).unwrap();
        fs::write(root.join("src/a.c"), "").unwrap();
        std::os::unix::fs::symlink("src", root.join("link")).unwrap();
        let shared = Arc::new(Shared::default());
        let w = Watcher::start(root, shared.clone()).unwrap();
        let start = shared.lock().seq;
        assert!(shared.lock().untrusted.is_none());
        std::thread::spawn(move || w.run());
        fs::write(root.join("src/a.c"), "x").unwrap();
        fs::create_dir_all(root.join("new/inner")).unwrap();
        fs::write(root.join("new/inner/b.c"), "").unwrap();
        fs::rename(root.join("src/deep"), root.join("moved")).unwrap();
        fs::write(root.join("moved/c.c"), "").unwrap();
        fs::write(root.join("last"), "").unwrap();
        assert!(wait_for(&shared, |s| s.since(start).paths.contains("last")));
        let since = shared.lock().since(start);
        assert!(since.may_have_changed("src/a.c"));
        assert!(since.may_have_changed("src"), "its entries changed");
        assert!(since.may_have_changed("new/inner/b.c"));
        assert!(since.may_have_changed("src/deep/x"));
        assert!(since.may_have_changed("link/a.c"), "under a link");
        assert!(since.may_have_changed(".git/HEAD"));
        assert!(!since.may_have_changed("other.c"));
    }
}
