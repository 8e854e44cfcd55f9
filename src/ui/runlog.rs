//! The JSON run log `.tupfs/log/last.json` (format version 1, described in
//! DESIGN.md): which commands ran in the last build and why. Written at the
//! end of every build, also a failed or interrupted one.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

/// The whole log.
#[derive(Debug, Clone, Serialize)]
pub struct RunLog {
    /// Format version: 1.
    pub version: u32,
    /// "ok", "failed", "interrupted" or "nothing-to-do".
    pub status: &'static str,
    /// Every command that started, in the order they finished.
    pub commands: Vec<LoggedCommand>,
    /// Stale outputs removed (their rules disappeared).
    pub removed: Vec<String>,
    /// How many Tupfiles were parsed (0: the rules came from the index).
    pub parsed: usize,
    /// Counts and time.
    pub summary: Summary,
}

/// One command that ran.
#[derive(Debug, Clone, Serialize)]
pub struct LoggedCommand {
    /// Its identity key (hex).
    pub key: String,
    /// Where its rule is written (`dir/Tupfile:3`).
    pub rule: String,
    /// Where it ran (project-relative, "" for the root).
    pub dir: String,
    /// Its `^ TEXT^`, or the command line when it has none.
    pub display: String,
    /// The exact shell command.
    pub command: String,
    /// Its declared outputs.
    pub outputs: Vec<String>,
    /// Why it ran (a `plan::Reason` word).
    pub reason: &'static str,
    /// The file or variable behind the reason, if any.
    pub reason_detail: Option<String>,
    /// "ok", "failed", "interrupted", or "cached" (served from the output
    /// cache, not run).
    pub status: &'static str,
}

/// The summary line's numbers.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Summary {
    /// Commands that ran (ok or failed; not those served from the cache).
    pub ran: usize,
    /// Commands served from the output cache.
    pub cached: usize,
    /// Commands that failed.
    pub failed: usize,
    /// Wall time of the build.
    pub duration_ms: u128,
}

/// Where this process's build took its changes from (the monitor, or a
/// full scan and why): the run log's `changes`.
static CHANGES_NOTE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Set the run log's `changes` line for this process's build.
pub fn set_changes_note(note: &str) {
    let _ = CHANGES_NOTE.set(note.to_string());
}

/// The commands this process's build materialised and the index's count,
/// when it built only a cone ([`crate::cone`]): the run log's `cone`.
static CONE: std::sync::OnceLock<(usize, usize)> = std::sync::OnceLock::new();

/// Set the run log's `cone` (`{"materialised": n, "total": m}`).
pub fn set_cone(materialised: usize, total: usize) {
    let _ = CONE.set((materialised, total));
}

/// The current format version.
pub const VERSION: u32 = 1;

impl RunLog {
    /// The log of a build that failed before running anything (a Tupfile
    /// or usage error): status "failed", nothing ran; `parsed` Tupfiles
    /// were read.
    pub fn failed_early(parsed: usize) -> RunLog {
        RunLog {
            version: VERSION,
            status: "failed",
            commands: Vec::new(),
            removed: Vec::new(),
            parsed,
            summary: Summary {
                ran: 0,
                cached: 0,
                failed: 0,
                duration_ms: 0,
            },
        }
    }

    /// The log of a build that found nothing to do without parsing or
    /// planning (the index proved every command up to date).
    pub fn nothing_to_do(elapsed: std::time::Duration) -> RunLog {
        RunLog {
            status: "nothing-to-do",
            summary: Summary {
                duration_ms: elapsed.as_millis(),
                ..RunLog::failed_early(0).summary
            },
            ..RunLog::failed_early(0)
        }
    }

    /// Write to `state_dir/log/last.json` (whole, via a rename), with the
    /// line saying where the build's changes came from, if set
    /// ([`set_changes_note`]).
    pub fn write(&self, state_dir: &Path) -> Result<()> {
        let dir = state_dir.join("log");
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let tmp = dir.join("last.json.tmp");
        let mut value = serde_json::to_value(self)?;
        if let (Some(note), Some(map)) = (CHANGES_NOTE.get(), value.as_object_mut()) {
            map.insert("changes".into(), note.clone().into());
        }
        if let (Some((n, total)), Some(map)) = (CONE.get(), value.as_object_mut()) {
            let cone = serde_json::json!({ "materialised": n, "total": total });
            map.insert("cone".into(), cone);
        }
        let text = serde_json::to_vec_pretty(&value)?;
        let dest = dir.join("last.json");
        if write_small_in_place(&dest, &text).unwrap_or(false) {
            return Ok(());
        }
        fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
        fs::rename(&tmp, &dest).with_context(|| format!("cannot write {}", dest.display()))
    }
}

/// A log that fits in one page over an old one that does too: rewritten
/// in place by one write, padded with spaces (JSON allows them) to the old
/// length, so there is no moment at which the file is empty or torn. This
/// is the no-op's log: replacing the file by a rename costs more than the
/// rest of a no-op (the old file's blocks are freed, and with ext4 its
/// data is flushed first). False when the file is bigger or absent.
fn write_small_in_place(dest: &Path, text: &[u8]) -> std::io::Result<bool> {
    use std::os::unix::fs::FileExt;
    const PAGE: u64 = 4096;
    let file = match fs::OpenOptions::new().write(true).open(dest) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let old = file.metadata()?.len();
    if old > PAGE || text.len() as u64 > PAGE {
        return Ok(false);
    }
    let mut page = text.to_vec();
    page.resize(old.max(text.len() as u64) as usize, b' ');
    file.write_all_at(&page, 0)?;
    Ok(true)
}

#[cfg(test)]
mod in_place_tests {
    use super::*;

    #[test]
    fn a_small_log_over_a_longer_one_reads_back_as_itself() {
        let t = tempfile::tempdir().unwrap();
        let dest = t.path().join("last.json");
        assert!(!write_small_in_place(&dest, b"{}").unwrap(), "absent");
        fs::write(&dest, b"{\"a\": \"a long old log\"}").unwrap();
        assert!(write_small_in_place(&dest, b"{\"b\": 1}").unwrap());
        let back: serde_json::Value = serde_json::from_slice(&fs::read(&dest).unwrap()).unwrap();
        assert_eq!(back, serde_json::json!({"b": 1}));
        fs::write(&dest, vec![b' '; 5000]).unwrap();
        assert!(!write_small_in_place(&dest, b"{}").unwrap(), "too big");
    }
}
