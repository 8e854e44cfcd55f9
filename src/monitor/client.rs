//! What a build asks of the monitor ([`sync`]) and what it leaves for the
//! next build ([`record`]): the clock its index stands at.
//!
//! The clock is kept in `.tupfs/monitor.clock` beside the index, with a
//! token of the index it pairs with (the base's header, which holds the
//! checksum of its contents, its inode, mtime and size, and the journal's
//! inode, mtime and size). It is written only
//! after a build that wrote a new index (every record in it taken after
//! the clock) or found nothing to do (the index then describes the disk at
//! the clock). A clock whose token is not the index on disk is not used: a
//! build killed between the two writes scans, never builds wrong.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use super::since::Since;
use super::{Clock, ANSWER_BOUND, CLOCK, SOCKET};

/// The monitor's answer to a build.
#[derive(Clone, Debug, Default)]
pub struct Synced {
    /// Some: only these paths may have changed since the index's clock.
    /// None: judge everything (the full scan).
    pub since: Option<Since>,
    /// The clock this build's index will stand at (None: no monitor).
    pub clock: Option<Clock>,
    /// One line saying where this build's changes come from, and why.
    pub note: String,
    /// A monitor's socket was there (so the note is worth a line in `-v`).
    pub asked: bool,
    /// The token of the index when the build started.
    token: Option<String>,
}

/// Ask the monitor (if one runs) what changed since the clock the index on
/// disk was recorded with. Never fails: anything wrong means a full scan,
/// and the note says why.
pub fn sync(state_dir: &Path) -> Synced {
    let token = index_token(state_dir);
    let mut synced = Synced {
        token: token.clone(),
        ..Synced::default()
    };
    let socket = state_dir.join(SOCKET);
    if !socket.exists() {
        synced.note = "full scan: no monitor running".into();
        return synced;
    }
    synced.asked = true;
    let (ask, why_fresh) = match (read_clock(state_dir), &token) {
        (_, None) => (None, "no index"),
        (None, _) => (None, "no monitor clock recorded with the index"),
        (Some((c, t)), Some(now)) if &t == now => (Some(c), ""),
        (Some(_), _) => (
            None,
            "the index is not the one the monitor clock was recorded with",
        ),
    };
    let clock = ask.unwrap_or(Clock {
        instance: 0,
        seq: 0,
    });
    let line = format!("changes {} {}\n", clock.instance, clock.seq);
    match request(state_dir, &line) {
        Ok(reply) => read_answer(&mut synced, &reply, ask, why_fresh),
        Err(e) => synced.note = format!("full scan: the monitor did not answer ({e})"),
    }
    synced
}

/// Fill `synced` from the monitor's reply to `changes`.
fn read_answer(synced: &mut Synced, reply: &str, asked: Option<Clock>, why_fresh: &str) {
    let mut lines = reply.lines();
    let head: Vec<&str> = lines.next().unwrap_or("").splitn(4, ' ').collect();
    let clock = |i: &str, s: &str| {
        Some(Clock {
            instance: i.parse().ok()?,
            seq: s.parse().ok()?,
        })
    };
    match head.as_slice() {
        ["clock", i, s] if asked.is_some() && reply.ends_with("end\n") => {
            let mut since = Since::default();
            let all_read = lines
                .take_while(|l| *l != "end")
                .all(|l| since.decode_line(l));
            synced.clock = clock(i, s);
            if !all_read || synced.clock.map(|c| c.instance) != asked.map(|c| c.instance) {
                synced.note = "full scan: the monitor's answer could not be read".into();
                return;
            }
            synced.note = format!(
                "changes from the monitor: {} paths may have changed",
                since.len()
            );
            synced.since = Some(since);
        }
        ["fresh", i, s, why] => {
            synced.clock = clock(i, s);
            let why = if why_fresh.is_empty() { why } else { why_fresh };
            synced.note = format!("full scan: {why}");
        }
        ["untrusted", rest @ ..] => {
            synced.note = format!(
                "full scan: the monitor is not up to date ({})",
                rest.join(" ")
            );
        }
        _ => synced.note = format!("full scan: the monitor said {:?}", reply.lines().next()),
    }
}

/// After the build: record the clock with the index on disk when this
/// build wrote that index, or found `nothing_to_do` (every recorded file
/// judged as recorded: the index stands at the clock). Errors are ignored
/// (the next build then scans).
pub fn record(state_dir: &Path, synced: &Synced, nothing_to_do: bool) {
    let Some(clock) = synced.clock else { return };
    let Some(now) = index_token(state_dir) else {
        return;
    };
    if !nothing_to_do && Some(&now) == synced.token.as_ref() {
        return; // the index this build found, not proven current: keep its clock
    }
    let text = format!(
        "tupfs-monitor-clock 1\n{} {}\n{now}\n",
        clock.instance, clock.seq
    );
    let path = state_dir.join(CLOCK);
    let tmp = state_dir.join(format!("{CLOCK}.tmp"));
    if fs::write(&tmp, text)
        .and_then(|_| fs::rename(&tmp, &path))
        .is_err()
    {
        let _ = fs::remove_file(&path);
    }
}

/// The recorded clock and the token of the index it pairs with.
fn read_clock(state_dir: &Path) -> Option<(Clock, String)> {
    let text = fs::read_to_string(state_dir.join(CLOCK)).ok()?;
    let mut lines = text.lines();
    (lines.next()? == "tupfs-monitor-clock 1").then_some(())?;
    let (i, s) = lines.next()?.split_once(' ')?;
    let clock = Clock {
        instance: i.parse().ok()?,
        seq: s.parse().ok()?,
    };
    Some((clock, lines.next()?.to_string()))
}

/// What identifies the index on disk: its base and its journal
/// ([`crate::index::token`]).
fn index_token(state_dir: &Path) -> Option<String> {
    crate::index::token(state_dir)
}

/// Send one request line to the monitor of `state_dir` and read its whole
/// reply (bounded by [`ANSWER_BOUND`] each way).
pub fn request(state_dir: &Path, line: &str) -> io::Result<String> {
    let mut conn = UnixStream::connect(state_dir.join(SOCKET))?;
    conn.set_read_timeout(Some(ANSWER_BOUND))?;
    conn.set_write_timeout(Some(ANSWER_BOUND))?;
    conn.write_all(line.as_bytes())?;
    let mut reply = String::new();
    conn.read_to_string(&mut reply)?;
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_pairs_only_with_its_index() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path();
        let index = dir.join(crate::index::INDEX_FILE);
        fs::write(&index, [1u8; 40]).unwrap();
        let synced = sync(dir);
        assert!(synced.since.is_none());
        assert!(synced.note.contains("no monitor"), "{}", synced.note);
        let with_clock = Synced {
            clock: Some(Clock {
                instance: 5,
                seq: 9,
            }),
            ..synced
        };
        record(dir, &with_clock, false);
        assert!(read_clock(dir).is_none(), "same index, not proven: kept");
        record(dir, &with_clock, true);
        let (clock, token) = read_clock(dir).unwrap();
        assert_eq!(clock.seq, 9);
        assert_eq!(Some(token), index_token(dir));
        fs::write(dir.join("index.tmp"), [2u8; 40]).unwrap();
        fs::rename(dir.join("index.tmp"), &index).unwrap();
        assert_ne!(read_clock(dir).map(|c| c.1), index_token(dir));
    }
}
