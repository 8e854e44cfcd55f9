//! Read sets: what a command that ran read, looked up in vain and listed
//! (its traced reads, ghosts and directory listings, not its own outputs;
//! with full deps also its reads and ghosts outside the project, as
//! absolute paths), each with what it is now; and the same paths observed
//! again for a lookup. A listing is its directory's path with a `/` after it (the
//! root's is `/`), seen as the hash of the directory's names leaving out
//! generated files (whether a rule's output exists yet depends on the
//! schedule, not on the sources) and tupfs's own `.tupfs`.

use std::collections::BTreeSet;

use tupfs_fuse::AccessLog;

use super::key::Hash;
use super::manifest::ReadSet;
use super::observe::Observer;
use crate::change::Moment;
use crate::graph::{CmdId, Graph};
use crate::paths::ProjPath;

/// A file read within this long before a command started may have changed
/// in the same clock tick as what the command saw: not stored (ns).
const RACY_NS: i64 = 20_000_000;

/// The read-set key of the listing of project directory `dir`.
pub fn listing_key(dir: &str) -> String {
    format!("{dir}/")
}

/// The directory a read-set key lists (None: the key is a path).
pub fn listed_dir(key: &str) -> Option<&str> {
    key.strip_suffix('/')
}

/// True when every key of `set` is a normal project path or listing, or
/// with `outside` (full deps) a normal absolute path (a manifest from a
/// store is not trusted).
pub fn trusted(set: &ReadSet, outside: bool) -> bool {
    set.iter().all(|(k, _)| match k.strip_prefix('/') {
        Some(abs) if outside && !k.ends_with('/') => {
            abs.split('/').all(|part| !matches!(part, "" | "." | ".."))
        }
        _ => {
            let path = listed_dir(k).unwrap_or(k);
            ProjPath::new(path).is_ok_and(|p| p.as_str() == path)
        }
    })
}

/// What `key` (a path or a listing) is now, with its mtime (ns) when it
/// exists. Err: it cannot be observed.
fn observe(obs: &Observer, graph: &Graph, key: &str) -> std::io::Result<Option<(Hash, i64)>> {
    match listed_dir(key) {
        Some(dir) => obs.listing(dir, &|name| skipped(graph, dir, name)),
        None => obs.seen_when(key),
    }
}

/// Whether name `name` of directory `dir` is left out of its listing.
fn skipped(graph: &Graph, dir: &str, name: &str) -> bool {
    if dir.is_empty() && name == ".tupfs" {
        return true;
    }
    let path = match dir.is_empty() {
        true => name.to_string(),
        false => format!("{dir}/{name}"),
    };
    ProjPath::new(&path).is_ok_and(|p| graph.producer_of(&p).is_some())
}

/// The read set of command `id` that ran from `started` and left `log`:
/// what it read, looked up in vain and listed, as it is now; None when
/// racy (a ghost that exists now, a read that is gone, a source or listed
/// directory changed since just before it started) or unobservable.
pub fn of_job(
    obs: &Observer,
    graph: &Graph,
    (id, log, started, outside): (CmdId, &AccessLog, Moment, bool),
) -> Option<ReadSet> {
    let own: BTreeSet<&str> = graph.outputs(id).map(|p| p.as_str()).collect();
    let mut keys: Vec<(String, bool)> = Vec::new();
    for path in log.reads.iter().chain(&log.ghosts) {
        if !own.contains(path.as_str()) && ProjPath::new(path).is_ok() {
            keys.push((path.clone(), log.reads.contains(path)));
        }
    }
    if outside {
        for path in log.outside_reads.iter().chain(&log.outside_ghosts) {
            keys.push((path.clone(), log.outside_reads.contains(path)));
        }
    }
    for dir in &log.listed {
        if ProjPath::new(dir).is_ok() {
            keys.push((listing_key(dir), true));
        }
    }
    keys.sort_unstable();
    keys.dedup();
    let mut set = Vec::with_capacity(keys.len());
    for (key, read) in keys {
        let now = observe(obs, graph, &key).ok()?;
        if now.is_some() != read {
            return None;
        }
        let generated = ProjPath::new(&key).is_ok_and(|p| graph.producer_of(&p).is_some());
        if let Some((_, mtime)) = now.filter(|_| !generated) {
            if mtime >= started.0 - RACY_NS {
                return None;
            }
        }
        set.push((key, now.map(|(hash, _)| hash)));
    }
    Some(set)
}

/// `set`'s keys as they are now (None: one cannot be observed).
pub fn now(obs: &Observer, graph: &Graph, set: &ReadSet) -> Option<ReadSet> {
    set.iter()
        .map(|(k, _)| Some((k.clone(), observe(obs, graph, k).ok()?.map(|(h, _)| h))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_keys_and_trust() {
        assert_eq!(listing_key(""), "/");
        assert_eq!(listing_key("src"), "src/");
        assert_eq!(listed_dir("src/"), Some("src"));
        assert_eq!(listed_dir("src"), None);
        let set = |k: &str| vec![(k.to_string(), None)];
        for good in ["a.c", "src/", "/", "src/x.h", ""] {
            assert!(trusted(&set(good), false), "{good}");
        }
        for bad in ["/etc/passwd", "/etc/", "../x", "a//b", "src//", "//", "./a"] {
            assert!(!trusted(&set(bad), false), "{bad}");
        }
        assert!(trusted(&set("/usr/include/stdio.h"), true), "full deps");
        for bad in ["/usr/../etc", "/usr//x", "/usr/"] {
            assert!(!trusted(&set(bad), true), "{bad}");
        }
    }
}
