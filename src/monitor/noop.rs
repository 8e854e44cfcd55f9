//! The monitor's no-op: a build that the monitor's answer ("nothing may
//! have changed since the index's clock") and the index's own flags prove
//! has nothing to do, decided without the scan, the checksum of the index
//! or the graph, so its cost does not grow with the project.
//!
//! Why each shortcut holds:
//! - No scan: the monitor's clock is paired with the index (see
//!   [`super::client`]); every record in the index was taken after that
//!   clock, and inotify reported every change since (the cookie sync), so
//!   an empty answer means every watched recorded file is as recorded —
//!   racy records included, since a change after the clock is reported
//!   whatever its mtime. Recorded files the monitor does not watch
//!   (under `.tupfs`, VCS directories, through symbolic links) and files
//!   outside the project (full deps) are still looked at.
//! - No checksum: the clock's token is the index's header (which holds
//!   the checksum of its contents), inode, mtime and size, recorded only
//!   by a build that had just verified that index or written it. A token
//!   that still matches is that very file, already checked.
//! - No graph: the index says the last build left every command up to
//!   date and its commands are exactly the parse's rules; exported
//!   variables are compared as the full path compares them.
//!
//! Anything else (targets, `^t` rules, a mode or full-deps switch) takes
//! the full path, which decides the same way with more work.

use crate::change::{ChangeDetector, Changes, Moment};
use crate::index::Index;
use crate::reuse::Prior;

use super::client::Synced;
use super::since::Since;

/// True when this build has nothing to do, proven from the monitor's
/// answer and `prior` (opened with [`Prior::open_trusted`]).
pub fn proven(prior: &Prior, synced: &Synced) -> bool {
    let (Some(since), Some(index)) = (&synced.since, &prior.index) else {
        return false;
    };
    since.is_empty()
        && prior.unusable().is_none()
        && prior.may_be_up_to_date()
        && !index.has_transient()
        && !records_unwatched(index, since)
        && outside_as_recorded(index, prior)
}

/// True when the index records a file the monitor does not watch (then
/// only a look at it can tell).
fn records_unwatched(index: &Index, since: &Since) -> bool {
    since.unwatched.iter().any(|place| {
        place.is_empty()
            || index.has_file_under(place)
            || (index.file_slot(place).is_some() && super::since::is_unwatched_dir(place))
    })
}

/// Files outside the project are not watched: stat them as the scan does
/// (one stat per distinct file; none without full deps) and ask the same
/// question the full path asks ([`crate::reuse::settled`]).
fn outside_as_recorded(index: &Index, prior: &Prior) -> bool {
    if index.outside_count() == 0 {
        return true;
    }
    let moment = Moment::now();
    let detector = ChangeDetector::new(prior.mode);
    let changes = Changes {
        moment,
        outside: crate::outside::scan(index, detector, moment, 2),
        ..Changes::default()
    };
    crate::reuse::settled(index, &changes)
}
