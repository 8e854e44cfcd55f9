//! The per-job access log as it is gathered (reads, ghosts, refusals), and
//! its resolution against the job's staged writes into the final
//! [`AccessLog`].

use std::collections::BTreeSet;
use std::io;
use std::sync::{Mutex, OnceLock};

use rustc_hash::FxHashSet;

use regex::RegexSet;

use crate::paths;
use crate::staging::Overlay;
use crate::{AccessLog, Refusal};

/// What one job did so far, apart from its writes (those are the overlay).
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    /// Set once, when the job starts (a view made ahead for a prepared
    /// namespace exists before its spec is known).
    ignore: OnceLock<RegexSet>,
    sets: Mutex<Sets>,
}

#[derive(Debug, Default)]
struct Sets {
    reads: FxHashSet<String>,
    ghosts: FxHashSet<String>,
    listed: FxHashSet<String>,
    refused: Vec<Refusal>,
}

impl Recorder {
    /// The set of `ignore` regexes (`None` when there are none), checked.
    pub(crate) fn compile(ignore: &[String]) -> io::Result<Option<RegexSet>> {
        if ignore.is_empty() {
            return Ok(None);
        }
        RegexSet::new(ignore).map(Some).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad ignore regex (expected a Rust regex): {e}"),
            )
        })
    }

    /// From now on, skip paths matching `ignore` (before the job starts).
    pub(crate) fn set_ignore(&self, ignore: Option<RegexSet>) {
        if let Some(set) = ignore {
            let _ = self.ignore.set(set);
        }
    }

    /// Whether accesses to `path` go untraced (and writes go straight through).
    pub(crate) fn is_ignored(&self, path: &str) -> bool {
        self.ignore.get().is_some_and(|set| set.is_match(path))
    }

    fn with<R>(&self, f: impl FnOnce(&mut Sets) -> R) -> R {
        // A panic elsewhere must not stop tracing: take the data anyway.
        let mut guard = self.sets.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    /// The job opened `path` for reading, read the link or executed it.
    pub(crate) fn read(&self, path: &str) {
        if !self.is_ignored(path) {
            self.with(|s| {
                if !s.reads.contains(path) {
                    s.reads.insert(path.to_owned());
                }
            });
        }
    }

    /// The job looked up `path` and it did not exist.
    pub(crate) fn ghost(&self, path: &str) {
        if !self.is_ignored(path) {
            self.with(|s| {
                if !s.ghosts.contains(path) {
                    s.ghosts.insert(path.to_owned());
                }
            });
        }
    }

    /// The job read the listing of directory `dir`.
    pub(crate) fn listed(&self, dir: &str) {
        if !self.is_ignored(dir) {
            self.with(|s| {
                if !s.listed.contains(dir) {
                    s.listed.insert(dir.to_owned());
                }
            });
        }
    }

    /// The job tried `op` on `path`, which it does not own; it got EPERM.
    pub(crate) fn refuse(&self, op: &'static str, path: &str) {
        let refusal = Refusal {
            op,
            path: path.to_owned(),
        };
        self.with(|s| {
            if !s.refused.contains(&refusal) {
                s.refused.push(refusal);
            }
        });
    }

    /// The final log: writes and dirs are what stands in the overlay; reads
    /// of the job's own outputs and lookups of paths the job itself created
    /// (mkstemp probes, temp dirs) are not dependencies. With `outside`
    /// (full dependencies), paths under `@outside` go to the log's outside
    /// sets as absolute paths.
    pub(crate) fn resolve(&self, overlay: &Overlay, outside: bool) -> AccessLog {
        let mut log = self.resolve_all(overlay);
        if outside {
            log.outside_reads = take_outside(&mut log.reads);
            log.outside_ghosts = take_outside(&mut log.ghosts);
            take_outside(&mut log.listed);
        }
        log
    }

    /// [`Recorder::resolve`] with every path in the project's sets.
    fn resolve_all(&self, overlay: &Overlay) -> AccessLog {
        let (writes, dirs_made) = overlay.standing();
        let created = overlay.created();
        let own = |p: &String| {
            let mut cur = p.as_str();
            loop {
                if created.contains(cur) {
                    return true;
                }
                if cur.is_empty() {
                    return false;
                }
                cur = paths::parent(cur);
            }
        };
        self.with(|s| AccessLog {
            reads: s
                .reads
                .iter()
                .filter(|p| !writes.contains(*p))
                .cloned()
                .collect(),
            ghosts: s
                .ghosts
                .iter()
                .filter(|p| !own(p))
                .cloned()
                .collect::<BTreeSet<_>>(),
            listed: s.listed.iter().filter(|p| !own(p)).cloned().collect(),
            writes: writes.clone(),
            dirs_made,
            refused: s.refused.clone(),
            ..AccessLog::default()
        })
    }
}

/// Remove the paths under `@outside` from `set`, returned as absolute paths
/// (the directory `/` itself, looked up on the way, is left out).
fn take_outside(set: &mut BTreeSet<String>) -> BTreeSet<String> {
    let all = std::mem::take(set);
    let (outside, project): (BTreeSet<String>, BTreeSet<String>) = all
        .into_iter()
        .partition(|p| crate::outside::outside_path(p).is_some());
    *set = project;
    outside
        .iter()
        .filter_map(|p| crate::outside::outside_path(p))
        .filter(|p| *p != "/")
        .map(str::to_owned)
        .collect()
}
