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
use crate::identity::Digest;
use crate::index::{BuildRecord, FileRecord, Listing, TreeEntry};
use crate::reuse::{dir_entries, listing_of};

/// The longest the record waits for the clock to leave the newest mtime's
/// tick (a tick is ~4 ms; an mtime further ahead stays racy).
const MAX_WAIT: Duration = Duration::from_millis(50);

/// Threads that hash racy files.
const HASH_THREADS: usize = 2;

/// What a directory's listing is compared with: the tree as the build
/// leaves it, and which paths are outputs (not part of a listing).
pub type IsOutput<'a> = &'a (dyn Fn(&str) -> bool + Sync);

/// Re-take what `record` says of racy files and of directories that moved
/// since recorded (see the module doc); `root` is the project's. `record`
/// may be a delta: it must then hold every recorded file directly in each
/// directory it holds; `tree` and `is_output` speak of the whole index.
pub fn retake(
    record: &mut BuildRecord,
    root: &Path,
    detector: ChangeDetector,
    tree: &[TreeEntry],
    is_output: IsOutput<'_>,
) {
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
        Directories::new(record, &dirs, tree, is_output).retake(record, root, detector, moment);
    }
}

/// A file (not a directory: see [`moved_dirs`]) whose state does not
/// prove it unchanged, with a digest that can.
fn is_racy(file: &FileRecord) -> bool {
    let racy = |s: FileState| s.kind != FileKind::Dir && s.is_racy(file.recorded_at);
    file.digest.is_some() && file.state.is_some_and(racy)
}

/// The recorded directories that are not as recorded now or whose record
/// is racy (by position), with their state now. Their ghosts are taken
/// again with them, or the next scan could not skip them.
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
            let racy = was.is_racy(record.files[i].recorded_at);
            (racy || !now.same_metadata(&was)).then_some((i, now))
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
            std::thread::sleep(until_tick(target));
        }
    }
    Moment::now()
}

/// How long to sleep before the coarse clock may reach `target`: the time
/// left on the fine clock (the coarse one lags it by up to a tick), at
/// least 50 µs and at most 1 ms, so the wait ends within ~50 µs of the
/// tick instead of up to a millisecond after it.
fn until_tick(target: i64) -> Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    let left = target.saturating_sub(now).clamp(50_000, 1_000_000);
    Duration::from_nanos(left as u64)
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
struct Directories<'a> {
    /// One per moved directory.
    dirs: Vec<Claims>,
    /// Whether a path is an output (not part of a tree listing).
    is_output: IsOutput<'a>,
}

/// What the record says of one directory's names.
struct Claims {
    /// The directory's position in the record's files.
    dir: usize,
    /// The positions of the recorded files directly in it (each claims
    /// its name present or, a ghost, absent).
    children: Vec<usize>,
    /// Its listing in the tree (visible names that are not outputs), if
    /// the tree has it.
    tree: Option<Listing>,
}

impl<'a> Directories<'a> {
    /// The directories at positions `dirs` of `record`, with their claims.
    fn new(
        record: &BuildRecord,
        dirs: &[usize],
        tree: &[TreeEntry],
        is_output: IsOutput<'a>,
    ) -> Directories<'a> {
        let by_path: HashMap<&str, usize> = dirs
            .iter()
            .enumerate()
            .map(|(k, &i)| (record.files[i].path.as_str(), k))
            .collect();
        let mut claims: Vec<Claims> = dirs
            .iter()
            .map(|&dir| Claims {
                dir,
                children: Vec::new(),
                tree: None,
            })
            .collect();
        for (i, file) in record.files.iter().enumerate() {
            let path = file.path.as_str();
            let parent = path.rsplit_once('/').map_or("", |(d, _)| d);
            match by_path.get(parent) {
                Some(&k) if !path.is_empty() => claims[k].children.push(i),
                _ => {}
            }
        }
        for entry in tree {
            if let Some(&k) = by_path.get(entry.path.as_str()) {
                claims[k].tree = Some(entry.listing);
            }
        }
        Directories {
            dirs: claims,
            is_output,
        }
    }

    /// Take each directory again at `moment` where the disk holds what the
    /// records claim; its ghosts are then known absent at `moment` too.
    fn retake(&self, record: &mut BuildRecord, root: &Path, det: ChangeDetector, moment: Moment) {
        let files = &record.files;
        let found = parallel_map(self.dirs.len(), HASH_THREADS, |k| {
            self.as_claimed(files, root, &self.dirs[k], moment)
        });
        for (claims, found) in self.dirs.iter().zip(found) {
            let Some((state, names)) = found else {
                log::debug!("kept the record of {}", record.files[claims.dir].path);
                continue;
            };
            let file = &mut record.files[claims.dir];
            file.state = Some(state);
            file.recorded_at = moment;
            file.digest = det.uses_digest(false).then_some(names);
            for &child in &claims.children {
                if record.files[child].state.is_none() {
                    record.files[child].recorded_at = moment;
                }
            }
        }
    }

    /// The directory's state and names digest now, if it is not racy at
    /// `moment`, did not move while listed, and holds what `claims` say.
    fn as_claimed(
        &self,
        files: &[FileRecord],
        root: &Path,
        claims: &Claims,
        moment: Moment,
    ) -> Option<(FileState, Digest)> {
        let path = &files[claims.dir].path;
        let disk = path.to_disk(root);
        let before = FileState::lstat(&disk).ok()??;
        let entries = dir_entries(&disk)?;
        let after = FileState::lstat(&disk).ok()??;
        let stable = before.kind == FileKind::Dir && before.same_metadata(&after);
        if !stable || before.is_racy(moment) {
            return None;
        }
        let names: HashSet<&[u8]> = entries.iter().map(|(n, _)| n.as_slice()).collect();
        let as_recorded = claims.children.iter().all(|&c| {
            let name = files[c].path.file_name().as_bytes();
            names.contains(name) == files[c].state.is_some()
        });
        let listed = claims
            .tree
            .map_or(true, |t| listing_of(path, &entries, self.is_output) == t);
        let digest = || digest_names(entries.iter().map(|(n, _)| &n[..]));
        (as_recorded && listed).then(|| (before, digest()))
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::FileExt;

    use super::*;
    use crate::identity::{CommandKey, Signature};
    use crate::index::{CommandRecord, Generation, TreeEntry};
    use crate::options::ChangeMode;
    use crate::paths::ProjPath;
    use crate::tupfile::{Location, Rule};

    fn p(s: &str) -> ProjPath {
        ProjPath::new(s).unwrap()
    }

    /// `path` as it is on disk now, recorded at `at` (None: now).
    fn file(root: &Path, path: &str, at: Option<Moment>) -> FileRecord {
        let at = at.unwrap_or_else(Moment::now);
        let state = FileState::lstat(&root.join(path)).unwrap();
        FileRecord {
            path: p(path),
            state,
            digest: state.and_then(|s| digest_path(&root.join(path), s.kind).ok()),
            generated: false,
            recorded_at: at,
            since: Generation(1),
        }
    }

    /// A command that makes `outputs`.
    fn command(outputs: &[&str]) -> CommandRecord {
        let rule = Rule {
            location: Location {
                file: p("Tupfile"),
                line: 1,
            },
            dir: p(""),
            source_dir: p(""),
            variant: p(""),
            command: "make it".into(),
            display: None,
            flags: Default::default(),
            inputs: vec![],
            order_only: vec![],
            input_groups: vec![],
            outputs: outputs.iter().map(|o| p(o)).collect(),
            extra_outputs: vec![],
            output_group: None,
            ignore: vec![],
            config_used: Default::default(),
            exports: vec![],
        };
        CommandRecord {
            rule,
            key: CommandKey::default(),
            signature: Signature::default(),
            sticky: vec![],
            must_rerun: false,
            reads: vec![],
            outside: Vec::new(),
            position: 0,
        }
    }

    fn detector() -> ChangeDetector {
        ChangeDetector::new(ChangeMode::Mtime)
    }

    /// [`super::retake`] of a whole record: its own tree and outputs.
    fn retake(record: &mut BuildRecord, root: &Path, det: ChangeDetector) {
        let outputs: HashSet<String> = record
            .commands
            .iter()
            .flat_map(|c| c.rule.outputs.iter().chain(&c.rule.extra_outputs))
            .map(|p| p.as_str().to_string())
            .collect();
        let tree = record.tree.clone();
        super::retake(record, root, det, &tree, &|p: &str| outputs.contains(p));
    }

    /// The record of a file written just before `at` is racy: it is taken
    /// again unless its contents moved under the same metadata.
    #[test]
    fn racy_files_are_taken_again_unless_their_contents_moved() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        fs::write(root.join("same"), "one").unwrap();
        fs::write(root.join("edited"), "one").unwrap();
        let racy_at = |path: &str| {
            let s = FileState::lstat(&root.join(path)).unwrap().unwrap();
            Some(Moment(s.mtime_ns - 1))
        };
        let mut record = BuildRecord {
            files: vec![
                file(root, "same", racy_at("same")),
                file(root, "edited", racy_at("edited")),
            ],
            ..Default::default()
        };
        // Edited in place, same size, mtime put back: as a write in the
        // same clock tick would leave it.
        let edited = root.join("edited");
        let mtime = fs::metadata(&edited).unwrap().modified().unwrap();
        let f = fs::OpenOptions::new().write(true).open(&edited).unwrap();
        f.write_all_at(b"two", 0).unwrap();
        f.set_modified(mtime).unwrap();
        retake(&mut record, root, detector());
        let [same, edited] = &record.files[..] else {
            panic!()
        };
        assert!(!same.state.unwrap().is_racy(same.recorded_at), "{same:?}");
        assert_eq!(same.digest, Some(Digest::of(b"one")));
        assert!(
            edited.state.unwrap().is_racy(edited.recorded_at),
            "{edited:?}"
        );
    }

    /// A directory with its Tupfile, a source, a ghost, and the tree entry
    /// of a parse that saw it; then an output committed into it.
    fn directory_with_a_new_output(root: &Path) -> BuildRecord {
        fs::create_dir(root.join("d")).unwrap();
        fs::write(root.join("d/a.c"), "int a;").unwrap();
        let settled = Some(Moment(i64::MAX)); // whatever the mtime: not racy
        let entries = dir_entries(&root.join("d")).unwrap();
        let listing = listing_of(&p("d"), &entries, &|p| p == "d/a.o");
        let d = file(root, "d", settled);
        std::thread::sleep(Duration::from_millis(20));
        fs::write(root.join("d/a.o"), "object").unwrap();
        BuildRecord {
            files: vec![
                d,
                file(root, "d/a.c", settled),
                file(root, "d/a.o", settled),
                file(root, "d/.cfg", Some(Moment(1))),
            ],
            commands: vec![command(&["d/a.o"])],
            tree: vec![TreeEntry {
                path: p("d"),
                listing,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_directory_that_only_received_outputs_is_taken_again_with_its_ghosts() {
        let t = tempfile::tempdir().unwrap();
        let mut record = directory_with_a_new_output(t.path());
        retake(&mut record, t.path(), detector());
        let now = FileState::lstat(&t.path().join("d")).unwrap();
        let [d, _, _, ghost] = &record.files[..] else {
            panic!()
        };
        assert_eq!(d.state, now, "the directory as the build left it");
        assert!(!now.unwrap().is_racy(d.recorded_at));
        assert_eq!(ghost.recorded_at, d.recorded_at, "its ghost absent then");
    }

    #[test]
    fn a_directory_is_not_taken_again_when_someone_else_changed_it() {
        for (what, extra) in [
            ("a (hidden) ghost appeared", "d/.cfg"),
            ("a new source", "d/b.c"),
        ] {
            let t = tempfile::tempdir().unwrap();
            let mut record = directory_with_a_new_output(t.path());
            fs::write(t.path().join(extra), "").unwrap();
            let old = record.files.clone();
            retake(&mut record, t.path(), detector());
            assert_eq!(record.files, old, "{what}: the records stay as they were");
        }
    }
}
