//! The socket (`.tupfs/monitor.sock`) builds, `tupfs stop` and status talk
//! to, one request line per connection:
//!
//! - `changes INSTANCE SEQ` → after the cookie sync, `clock I S` and the
//!   paths that may have changed since `SEQ` (the [`Since`] wire form)
//!   then `end`; `fresh I S WHY` when `INSTANCE` is not the current one
//!   (judge everything; the clock is where the next build starts);
//!   `untrusted WHY` when the monitor cannot answer (scan, no clock).
//! - `status` → `status PID INSTANCE SEQ` and `ok` or `untrusted WHY`.
//! - `stop` → `ok`, then the monitor exits.
//!
//! The cookie: for each `changes`, the server creates a uniquely named file
//! in the watched `.tupfs/cookies/` and waits until the watch thread has
//! read its creation. inotify delivers one instance's events in order, so
//! every change made before the request has then been read too.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

use super::since::Since;
use super::state::{Shared, State};

/// How long the server waits for its cookie (less than a build waits for
/// the answer, so a late cookie is a clear `untrusted`, not a timeout).
const COOKIE_BOUND: Duration = Duration::from_millis(800);

/// Answers requests on the monitor's socket.
pub struct Server {
    /// The watched cookie directory.
    pub cookies: PathBuf,
    /// The monitor's state.
    pub shared: Arc<Shared>,
    /// Called for `stop` after the answer is sent (it exits the process).
    pub on_stop: fn() -> (),
}

/// Cookie names made so far by this process.
static COOKIE_COUNT: AtomicU64 = AtomicU64::new(0);

impl Server {
    /// Accept connections until the process ends, one thread each.
    pub fn serve(self: Arc<Self>, listener: UnixListener) {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let me = self.clone();
            std::thread::spawn(move || me.answer(conn));
        }
    }

    /// Read one request and answer it.
    fn answer(&self, mut conn: UnixStream) {
        let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
        let mut line = String::new();
        let Ok(reader) = conn.try_clone() else { return };
        if BufReader::new(reader).read_line(&mut line).is_err() {
            return;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let reply = match words.as_slice() {
            ["changes", instance, seq] => self.changes(instance.parse(), seq.parse()),
            ["status"] => self.status(),
            ["stop"] => "ok\n".to_string(),
            _ => format!("error unknown request {:?}\n", line.trim_end()),
        };
        let _ = conn.write_all(reply.as_bytes());
        let _ = conn.flush();
        if words.first() == Some(&"stop") {
            println!("tupfs monitor: stopping (tupfs stop)");
            (self.on_stop)();
        }
    }

    /// `status PID INSTANCE SEQ ok|untrusted WHY`.
    fn status(&self) -> String {
        let st = self.shared.lock();
        let trust = st
            .untrusted
            .as_ref()
            .map_or("ok".to_string(), |w| format!("untrusted {w}"));
        format!(
            "status {} {} {} {trust}\n",
            std::process::id(),
            st.instance,
            st.seq
        )
    }

    /// The answer to `changes INSTANCE SEQ`.
    fn changes<E>(&self, instance: Result<u64, E>, seq: Result<u64, E>) -> String {
        let (Ok(instance), Ok(seq)) = (instance, seq) else {
            return "error bad clock\n".to_string();
        };
        let st = match self.sync() {
            Ok(st) => st,
            Err(why) => return format!("untrusted {why}\n"),
        };
        if let Some(why) = &st.untrusted {
            return format!("untrusted {why}\n");
        }
        if instance != st.instance || seq > st.seq {
            let why = match instance {
                0 => "no clock",
                _ => "another monitor instance (restarted or re-listed)",
            };
            return format!("fresh {} {} {why}\n", st.instance, st.seq);
        }
        let since: Since = st.since(seq);
        let mut out = format!("clock {} {}\n", st.instance, st.seq);
        since.encode(&mut out);
        out.push_str("end\n");
        out
    }

    /// Make a cookie and wait until the watch thread has read its event;
    /// the state, locked, right after. A re-listing meanwhile (a new
    /// inotify instance, which never sees the old cookie) makes another.
    fn sync(&self) -> Result<MutexGuard<'_, State>, String> {
        let deadline = Instant::now() + COOKIE_BOUND;
        loop {
            let instance = self.shared.lock().instance;
            let n = COOKIE_COUNT.fetch_add(1, Ordering::Relaxed);
            let name = format!("{}-{n}", std::process::id());
            let path = self.cookies.join(&name);
            fs::write(&path, b"").map_err(|e| format!("cannot make a cookie: {e}"))?;
            let guard = self.shared.lock();
            let mut st = self.shared.wait_until(guard, deadline, |s| {
                s.cookies.contains(&name) || s.instance != instance
            });
            let _ = fs::remove_file(&path);
            if st.cookies.remove(&name) {
                return Ok(st);
            }
            if st.instance == instance || Instant::now() >= deadline {
                return Err("the monitor did not read its cookie in time".into());
            }
        }
    }
}
