//! Re-taking, just before the index is written, the records this build
//! itself left untrustworthy, so that the next build can take the no-op
//! shortcut: states that are racy (taken in the clock tick of their
//! mtime, as the outputs committed last are) and the directories the
//! build committed outputs into (recorded as the scan found them, before
//! the build).
//!
//! A record is replaced only when the disk now provably says what it
//! said, so whatever anyone else did while the build ran is still seen by
//! the next build: a racy file must have the same metadata and digest; a
//! directory must hold exactly the names the records claim (each
//! recorded file or output present, each ghost absent) and the listing the
//! tree records, i.e. what the build left there by its own outputs.
//! Anything else keeps its record and counts as changed next time.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::change::{digest_names, digest_path, parallel_map, ChangeDetector, FileKind};
use crate::change::{FileState, Moment};
use crate::index::{BuildRecord, FileRecord};
use crate::reuse::{dir_entries, listing_of};

/// The longest the record waits for the clock to leave the newest mtime's
/// tick (a tick is ~4 ms; an mtime further ahead stays racy).
const MAX_WAIT: Duration = Duration::from_millis(50);

/// Threads that hash racy files.
const HASH_THREADS: usize = 2;

/// Re-take what `record` says of racy files and of directories that moved
/// since recorded (see the module doc); `root` is the project's.
pub fn retake(record: &mut BuildRecord, root: &Path, detector: ChangeDetector) {
    let racy: Vec<usize> = (0..record.files.len())
        .filter(|&i| is_racy(&record.files[i]))
        .collect();
    let moved = moved_dirs(record, root);
    if racy.is_empty() && moved.is_empty() {
        return;
    }
    let states = racy.iter().filter_map(|&i| record.files[i].state);
    let began = Instant::now();
    let moment = wait_until_settled(states.chain(moved.iter().map(|&(_, s)| s)));
    log::debug!(
        "retake: {} racy files, {} moved directories; waited {:?} for the clock",
        racy.len(),
        moved.len(),
        began.elapsed()
    );
    retake_racy(record, root, &racy, moment);
    if !moved.is_empty() {
        let dirs: Vec<usize> = moved.iter().map(|&(i, _)| i).collect();
        Directories::new(record, &dirs).retake(record, root, detector, moment);
    }
}

/// A state that does not prove the file unchanged, with a digest that can.
fn is_racy(file: &FileRecord) -> bool {
    file.digest.is_some() && file.state.is_some_and(|s| s.is_racy(file.recorded_at))
}

/// The recorded directories that are not as recorded now (by position),
/// with their state now.
fn moved_dirs(record: &BuildRecord, root: &Path) -> Vec<(usize, FileState)> {
    let dirs: Vec<usize> = (0..record.files.len())
        .filter(|&i| {
            record.files[i]
                .state
                .is_some_and(|s| s.kind == FileKind::Dir)
        })
        .collect();
    let now = parallel_map(dirs.len(), HASH_THREADS, |k| {
        FileState::lstat(&record.files[dirs[k]].path.to_disk(root))
            .ok()
            .flatten()
    });
    dirs.into_iter()
        .zip(now)
        .filter_map(|(i, now)| {
            let was = record.files[i].state?;
            let now = now.filter(|n| n.kind == FileKind::Dir)?;
            (!now.same_metadata(&was)).then_some((i, now))
        })
        .collect()
}

/// Wait (at most [`MAX_WAIT`]) until the coarse clock has left the tick
/// of every mtime in `states`, so they can be taken again without being
/// racy; return the moment to take them at (read after the wait, before
/// any `lstat`).
fn wait_until_settled(states: impl Iterator<Item = FileState>) -> Moment {
    let started = Instant::now();
    let limit = Moment::now().0.saturating_add(MAX_WAIT.as_nanos() as i64);
    let target = states
        .map(|s| s.settles_at().0)
        .filter(|&t| t <= limit)
        .max();
    if let Some(target) = target {
        while Moment::now().0 < target && started.elapsed() < MAX_WAIT {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    Moment::now()
}

/// Take each racy file in `racy` again at `moment`: when its metadata and
/// digest are still the recorded ones and the new state is not racy, its
/// record becomes that state at `moment` (contents as recorded, mtime now
/// older than the record). Otherwise it stays racy and is hashed next time.
fn retake_racy(record: &mut BuildRecord, root: &Path, racy: &[usize], moment: Moment) {
    let files = &record.files;
    let settled = parallel_map(racy.len(), HASH_THREADS, |k| {
        let file = &files[racy[k]];
        let (old, digest) = (file.state?, file.digest?);
        let disk = file.path.to_disk(root);
        let now = FileState::lstat(&disk).ok()??;
        let same = now.same_metadata(&old) && !now.is_racy(moment);
        (same && digest_path(&disk, now.kind).ok()? == digest).then_some(now)
    });
    for (&i, now) in racy.iter().zip(settled) {
        if let Some(now) = now {
            record.files[i].state = Some(now);
            record.files[i].recorded_at = moment;
        }
    }
}

/// The moved directories and what the record claims of the names in them.
struct Directories {
    /// Each moved directory's position in the record's files, with the
    /// positions of the recorded files directly in it.
    dirs: Vec<(usize, Vec<usize>)>,
    /// Every output of the record's commands (not part of a tree listing).
    outputs: HashSet<String>,
}

impl Directories {
    /// The directories at positions `dirs` of `record`, with their children.
    fn new(record: &BuildRecord, dirs: &[usize]) -> Directories {
        let by_path: HashMap<&str, usize> = dirs
            .iter()
            .enumerate()
            .map(|(k, &i)| (record.files[i].path.as_str(), k))
            .collect();
        let mut children = vec![Vec::new(); dirs.len()];
        for (i, file) in record.files.iter().enumerate() {
            let path = file.path.as_str();
            let parent = path.rsplit_once('/').map_or("", |(d, _)| d);
            match by_path.get(parent) {
                Some(&k) if !path.is_empty() => children[k].push(i),
                _ => {}
            }
        }
        let outputs = record
            .commands
            .iter()
            .flat_map(|c| c.rule.outputs.iter().chain(&c.rule.extra_outputs))
            .map(|p| p.as_str().to_string())
            .collect();
        Directories {
            dirs: dirs.iter().copied().zip(children).collect(),
            outputs,
        }
    }

    /// Take each directory again at `moment` where the disk holds what the
    /// records claim; its ghosts are then known absent at `moment` too.
    fn retake(&self, record: &mut BuildRecord, root: &Path, det: ChangeDetector, moment: Moment) {
        for (dir, children) in &self.dirs {
            let Some((state, names)) = self.as_claimed(record, root, *dir, children, moment) else {
                log::debug!("kept the record of {}", record.files[*dir].path);
                continue;
            };
            let file = &mut record.files[*dir];
            file.state = Some(state);
            file.recorded_at = moment;
            file.digest = det.uses_digest(false).then_some(names);
            for &child in children {
                if record.files[child].state.is_none() {
                    record.files[child].recorded_at = moment;
                }
            }
        }
    }

    /// The directory's state and names digest now, if it is not racy at
    /// `moment`, did not move while listed, and holds what the records say.
    fn as_claimed(
        &self,
        record: &BuildRecord,
        root: &Path,
        dir: usize,
        children: &[usize],
        moment: Moment,
    ) -> Option<(FileState, crate::identity::Digest)> {
        let path = &record.files[dir].path;
        let disk = path.to_disk(root);
        let before = FileState::lstat(&disk).ok()??;
        let entries = dir_entries(&disk)?;
        let after = FileState::lstat(&disk).ok()??;
        let stable = before.kind == FileKind::Dir && before.same_metadata(&after);
        if !stable || before.is_racy(moment) {
            return None;
        }
        let names: HashSet<&[u8]> = entries.iter().map(|(n, _)| n.as_slice()).collect();
        let as_recorded = children.iter().all(|&c| {
            let child = &record.files[c];
            let name = child.path.file_name().as_bytes();
            names.contains(name) == child.state.is_some()
        });
        let is_output = |p: &str| self.outputs.contains(p);
        let tree = record.tree.iter().find(|t| &t.path == path);
        let listed = tree.is_none_or(|t| listing_of(path, &entries, &is_output) == t.listing);
        (as_recorded && listed).then(|| (before, digest_names(entries.iter().map(|(n, _)| &n[..]))))
    }
}
