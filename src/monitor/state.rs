//! The monitor's memory: for one instance (a run of watches that lost
//! nothing), the event-batch sequence at which each path last may have
//! changed, so "what changed since clock C" is every path with a later
//! sequence. Shared by the watch thread (writer), the socket server and
//! the autoupdater (readers), behind a mutex with a condition variable.

use std::collections::{HashMap, HashSet};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::since::Since;
use super::Clock;

/// What the monitor knows, for the instance it is in.
#[derive(Debug, Default)]
pub struct State {
    /// The current instance (changes on every full re-listing).
    pub instance: u64,
    /// Event batches read so far (never goes back, across instances).
    pub seq: u64,
    /// None: every change since the instance began is recorded. Some: why
    /// it is not (still listing, overflowed, out of watches).
    pub untrusted: Option<String>,
    /// Path → the sequence at which it last may have changed.
    pub paths: HashMap<String, u64>,
    /// Subtree → the sequence at which anything under it last may have
    /// changed.
    pub subtrees: HashMap<String, u64>,
    /// Places not watched under (see [`Since::unwatched`]).
    pub unwatched: HashSet<String>,
    /// Cookies whose creation event was read.
    pub cookies: HashSet<String>,
    /// The sequence of the last batch that held a change (not a cookie).
    pub last_change: u64,
    /// When that batch was read.
    pub last_change_at: Option<Instant>,
    /// Set when the monitor is to stop.
    pub stopping: bool,
}

impl State {
    /// The clock now.
    pub fn clock(&self) -> Clock {
        Clock {
            instance: self.instance,
            seq: self.seq,
        }
    }

    /// Start a new instance: forget every change (a client with an older
    /// clock must judge everything), untrusted until the listing is done.
    pub fn restart(&mut self, instance: u64, why: &str) {
        self.instance = instance;
        self.untrusted = Some(why.to_string());
        self.paths.clear();
        self.subtrees.clear();
        self.unwatched.clear();
    }

    /// `path` may have changed in the current batch. A name the wire form
    /// cannot carry (a newline in it) marks the whole tree.
    pub fn mark(&mut self, path: &str) {
        if path.contains('\n') {
            return self.mark_subtree("");
        }
        self.paths.insert(path.to_string(), self.seq);
        self.changed();
    }

    /// Anything under `path` may have changed in the current batch.
    pub fn mark_subtree(&mut self, path: &str) {
        if path.contains('\n') {
            return self.mark_subtree("");
        }
        self.subtrees.insert(path.to_string(), self.seq);
        self.changed();
    }

    fn changed(&mut self) {
        self.last_change = self.seq;
        self.last_change_at = Some(Instant::now());
    }

    /// Every path that may have changed after `seq` (of this instance).
    pub fn since(&self, seq: u64) -> Since {
        let after = |m: &HashMap<String, u64>| {
            m.iter()
                .filter(|(_, s)| **s > seq)
                .map(|(p, _)| p.clone())
                .collect()
        };
        Since {
            paths: after(&self.paths),
            subtrees: after(&self.subtrees),
            unwatched: self.unwatched.clone(),
        }
    }
}

/// The state and the condition variable that says it moved.
#[derive(Debug, Default)]
pub struct Shared {
    state: Mutex<State>,
    moved: Condvar,
}

impl Shared {
    /// Lock the state (a poisoned lock is taken as it is: the state is
    /// only ever a superset of what changed).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wake everyone waiting for the state to move.
    pub fn notify(&self) {
        self.moved.notify_all();
    }

    /// Wait until `done` holds or `deadline` passes; the guard either way.
    pub fn wait_until<'a>(
        &'a self,
        mut guard: MutexGuard<'a, State>,
        deadline: Instant,
        mut done: impl FnMut(&State) -> bool,
    ) -> MutexGuard<'a, State> {
        while !done(&guard) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let step = left.min(Duration::from_millis(100));
            guard = match self.moved.wait_timeout(guard, step) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        guard
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_a_sequence_and_a_restart() {
        let mut s = State::default();
        s.restart(7, "listing");
        s.untrusted = None;
        s.seq = 1;
        s.mark("a.c");
        s.seq = 2;
        s.mark_subtree("new");
        s.mark("we\nird/x");
        assert_eq!(s.since(0).paths.len(), 1);
        assert!(s.since(1).subtrees.contains("new"));
        assert!(s.since(1).subtrees.contains(""), "a newline: everything");
        assert!(s.since(2).is_empty());
        s.restart(8, "overflow");
        assert!(s.since(0).is_empty());
        assert_eq!(s.clock().instance, 8);
    }
}
