//! [`Narrowed`]: the monitor's [`ChangeSource`]. It judges only the
//! recorded files the monitor says may have changed since the index's
//! clock (and those whose record cannot stand without a look: racy, or
//! lacking a digest the mode needs), with the scan's own
//! [`ChangeDetector`]; every other file is as recorded.

use std::path::{Path, PathBuf};

use crate::change::{
    ChangeDetector, ChangeSource, Changes, FullScan, Judgement, Moment, Recorded, Verdict,
};
use crate::index::{FileView, Index};

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
        let files = index
            .files()
            .map(|f| {
                let old = f.as_recorded();
                match self.must_judge(&f, &old, &detector) {
                    true => {
                        let disk = self.root.join(f.path());
                        detector.judge(&disk, Some(&old), old.generated, moment)
                    }
                    false => as_recorded(&old),
                }
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
        }
    }
}

/// The judgement of a file nothing happened to: what the index says.
fn as_recorded(old: &Recorded) -> Judgement {
    Judgement {
        verdict: Verdict::Unchanged,
        state: old.state,
        digest: old.digest,
        recorded_at: old.recorded_at,
    }
}
