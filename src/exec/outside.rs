//! Recording the outside files (full dependencies) of this build: each
//! distinct path once, with the state the scan found at the start of the
//! build (or, for a path the last index did not have, judged now).

use std::collections::HashMap;

use super::history::History;
use crate::change::{ChangeDetector, Moment};
use crate::index::{Generation, OutsideRecord, OutsideRef, OutsideSlot, SeenOutside};
use crate::outside::OutsidePath;

/// The outside files of the record being made.
pub(super) struct OutsideRecorder<'a> {
    history: &'a History,
    /// The records, in [`OutsideRef`] order.
    pub(super) files: Vec<OutsideRecord>,
    by_path: HashMap<OutsidePath, OutsideRef>,
}

impl<'a> OutsideRecorder<'a> {
    pub(super) fn new(history: &'a History) -> OutsideRecorder<'a> {
        OutsideRecorder {
            history,
            files: Vec::new(),
            by_path: HashMap::new(),
        }
    }

    /// `path` as a command of this build saw it.
    pub(super) fn seen(&mut self, path: &OutsidePath) -> SeenOutside {
        let file = self.file(path);
        SeenOutside {
            file,
            since: self.files[file.0 as usize].since,
        }
    }

    /// The record of the last index's outside file in `slot`.
    pub(super) fn at(&mut self, slot: OutsideSlot) -> Option<OutsideRef> {
        let view = self.history.index.as_ref()?.outside_at(slot)?;
        let path = OutsidePath::new(view.path()).ok()?;
        Some(self.file(&path))
    }

    /// The record of `path` (added on first use).
    fn file(&mut self, path: &OutsidePath) -> OutsideRef {
        if let Some(&r) = self.by_path.get(path) {
            return r;
        }
        let h = self.history;
        let slot = h.index.as_ref().and_then(|i| i.outside_slot(path.as_str()));
        let judged = slot.and_then(|s| Some((h.scan.outside(s)?.clone(), h.outside_since(s)?)));
        let (judgement, since) = judged.unwrap_or_else(|| {
            let detector = ChangeDetector::new(h.mode);
            let j = detector.judge(path.as_path(), None, false, Moment::now());
            (j, h.generation)
        });
        let record = OutsideRecord {
            path: path.clone(),
            state: judgement.state,
            digest: judgement.digest,
            recorded_at: judgement.recorded_at,
            since: Generation(since.0),
        };
        self.files.push(record);
        let r = OutsideRef(self.files.len() as u32 - 1);
        self.by_path.insert(path.clone(), r);
        r
    }
}
