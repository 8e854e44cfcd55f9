//! [`Narrowed`]: the monitor's [`ChangeSource`]. It judges only the
//! recorded files the monitor says may have changed since the index's
//! clock (and those whose record cannot stand without a look: racy, or
//! lacking a digest the mode needs), with the scan's own
//! [`ChangeDetector`]; every other file is as recorded.

use std::path::{Path, PathBuf};

use crate::change::{ChangeDetector, ChangeSource, Changes, FullScan, Moment, Recorded};
use crate::index::{FileSlot, FileView, Index};

use super::since::Since;

/// What changed since the index, told by the monitor.
#[derive(Clone, Debug)]
pub struct Narrowed<'a> {
    /// The project root the index's paths are relative to.
    pub root: PathBuf,
    /// What may have changed since the index's clock.
    pub since: &'a Since,
}

impl<'a> Narrowed<'a> {
    /// The monitor's source for the project at `root`.
    pub fn new(root: &Path, since: &'a Since) -> Narrowed<'a> {
        Narrowed {
            root: root.to_path_buf(),
            since,
        }
    }

    /// True when the file must be examined: the monitor names it, or its
    /// record alone would not let the scan call it unchanged.
    fn must_judge(&self, file: &FileView<'_>, old: &Recorded, detector: &ChangeDetector) -> bool {
        if self.since.may_have_changed(file.path()) {
            return true;
        }
        let Some(state) = old.state else {
            return false; // a ghost nothing appeared at
        };
        state.is_racy(old.recorded_at)
            || (old.digest.is_none() && detector.uses_digest(old.generated))
    }
}

impl ChangeSource for Narrowed<'_> {
    fn changes(&self, index: &Index, detector: ChangeDetector) -> Changes {
        if index.options().change_mode != detector.mode {
            return FullScan::new(&self.root).changes(index, detector);
        }
        let moment = Moment::now();
        let always = transient_outputs(index);
        let slots = self.candidates(index, &detector, &always);
        let examined = slots.len();
        let files = slots
            .into_iter()
            .filter_map(|slot| {
                let f = index.file_at(slot)?;
                let old = f.as_recorded();
                let looked_at = always.binary_search(&slot).is_ok();
                if !looked_at && !self.must_judge(&f, &old, &detector) {
                    return None;
                }
                let disk = self.root.join(f.path());
                let j = detector.judge(&disk, Some(&old), old.generated, moment);
                (!j.is_settled(&old)).then_some((slot, j))
            })
            .collect();
        // Files outside the project (full deps) are not watched: they are
        // stat'ed as the full scan does, one stat per distinct file.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let outside = crate::outside::scan(index, detector, moment, threads.max(4));
        Changes {
            moment,
            files,
            outside,
            examined,
        }
    }
}

impl Narrowed<'_> {
    /// The slots that may need a judgement, sorted: the paths the monitor
    /// names, everything under the subtrees and unwatched places it names,
    /// `always` (looked at whatever the monitor says), and the records
    /// that cannot stand without a look (a pass over the rows that reads
    /// no path). The caller asks [`Narrowed::must_judge`] of each but
    /// `always`, so the answer is exactly that of a question per file.
    fn candidates(
        &self,
        index: &Index,
        detector: &ChangeDetector,
        always: &[FileSlot],
    ) -> Vec<FileSlot> {
        let mut slots: Vec<FileSlot> = self
            .since
            .paths
            .iter()
            .filter_map(|p| index.file_slot(p))
            .chain(always.iter().copied())
            .collect();
        for dir in self.since.subtrees.iter().chain(&self.since.unwatched) {
            slots.extend(index.file_slot(dir));
            slots.extend(slots_under(index, dir).map(FileSlot));
        }
        slots.extend(index.files().filter_map(|f| {
            let old = f.as_recorded();
            let state = old.state?;
            let unsure = state.is_racy(old.recorded_at)
                || (old.digest.is_none() && detector.uses_digest(old.generated));
            unsure.then(|| f.slot())
        }));
        slots.sort_unstable();
        slots.dedup();
        slots
    }
}

/// The recorded outputs of `^t` rules, sorted. The build itself deletes
/// them once their consumers ran, after the index recorded them as
/// committed, so the monitor's silence about them proves nothing: they are
/// always looked at, as the full scan does (absent, their producers run
/// again when a consumer must).
fn transient_outputs(index: &Index) -> Vec<FileSlot> {
    if !index.has_transient() {
        return Vec::new();
    }
    let mut slots: Vec<FileSlot> = (index.commands())
        .filter(|c| c.rule_flags().transient)
        .flat_map(|c| {
            c.outputs()
                .filter_map(|o| index.file_slot(o))
                .collect::<Vec<_>>()
        })
        .collect();
    slots.sort_unstable();
    slots.dedup();
    slots
}

/// The slots of the recorded paths strictly below `dir` ("" is the root:
/// every path), by binary search: the index's paths are sorted, so they
/// lie between `dir/` and `dir0` ('0' follows '/').
fn slots_under(index: &Index, dir: &str) -> std::ops::Range<u32> {
    let count = index.file_count() as u32;
    if dir.is_empty() {
        return 0..count;
    }
    let first = |bound: &str| -> u32 {
        let (mut lo, mut hi) = (0u32, count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let path = index.file_at(FileSlot(mid)).map_or("", |f| f.path());
            if path < bound {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    };
    first(&format!("{dir}/"))..first(&format!("{dir}0"))
}
