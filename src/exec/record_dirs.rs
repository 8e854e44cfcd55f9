//! The directories a build moved (it committed outputs into them), brought
//! into the delta with every file recorded directly in them, so that
//! [`super::retake`] can take them again as the build left them: a
//! directory is taken again only when the disk holds what ALL the records
//! of its names claim, so the delta needs them all, not just those the
//! build touched.

use std::collections::HashSet;
use std::path::Path;

use super::record::Recorder;
use crate::change::{parallel_map, FileKind, FileState};
use crate::index::FileSlot;
use crate::paths::ProjPath;

/// Threads that stat the recorded directories.
const STAT_THREADS: usize = 2;

/// Add to `rec`'s delta each recorded directory that moved since recorded
/// (or whose record is racy, or that is in the delta already), with the
/// files recorded directly in it.
pub(super) fn add_moved_dirs(rec: &mut Recorder<'_>, root: &Path) {
    let Some(index) = rec.history.index.as_ref() else {
        return;
    };
    let dirs: Vec<(FileSlot, &str, FileState, bool)> = index
        .files()
        .filter_map(|f| {
            let s = f.state().filter(|s| s.kind == FileKind::Dir)?;
            Some((f.slot(), f.path(), s, s.is_racy(f.recorded_at())))
        })
        .collect();
    let now = parallel_map(dirs.len(), STAT_THREADS, |k| {
        let path = ProjPath::new(dirs[k].1).ok()?;
        FileState::lstat(&path.to_disk(root)).ok().flatten()
    });
    let moved: HashSet<&str> = dirs
        .iter()
        .zip(now)
        .filter(|((slot, _, was, racy), now)| {
            let moved = now.is_some_and(|n| n.kind == FileKind::Dir && !n.same_metadata(was));
            moved || *racy || rec.has_slot(*slot)
        })
        .map(|((_, path, _, _), _)| *path)
        .collect();
    if moved.is_empty() {
        return;
    }
    let mut add: Vec<FileSlot> = Vec::new();
    for f in index.files() {
        let path = f.path();
        let parent = path.rsplit_once('/').map_or("", |(d, _)| d);
        if moved.contains(path) || (!path.is_empty() && moved.contains(parent)) {
            add.push(f.slot());
        }
    }
    for slot in add {
        rec.file_at(slot);
    }
}
