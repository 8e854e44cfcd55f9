//! The tracer's unmount on a thread of its own, beside the record: once
//! the commands are done nothing goes through the mount, and the record
//! reads the real tree, so the build need not wait for the unmount before
//! it records itself; it joins it before it reports.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use anyhow::{Context as _, Result};
use tupfs_fuse::Tracer;

/// An unmount under way (joined by [`Unmounting::finish`], or when
/// dropped: the mount never outlives the build).
pub(crate) struct Unmounting {
    thread: Option<JoinHandle<std::io::Result<()>>>,
    /// The result of an unmount done inline (no thread could be started).
    inline: Option<std::io::Result<()>>,
    began: Instant,
}

impl Unmounting {
    /// Start unmounting `tracer` on its own thread (on this one when no
    /// thread can be started).
    pub(crate) fn start(tracer: Tracer) -> Unmounting {
        let began = Instant::now();
        let slot = Arc::new(Mutex::new(Some(tracer)));
        let theirs = Arc::clone(&slot);
        let spawned = std::thread::Builder::new()
            .name("unmount".into())
            .spawn(move || match take(&theirs) {
                Some(tracer) => tracer.unmount(),
                None => Ok(()),
            });
        let (thread, inline) = match spawned {
            Ok(thread) => (Some(thread), None),
            Err(_) => (None, Some(take(&slot).map_or(Ok(()), Tracer::unmount))),
        };
        Unmounting {
            thread,
            inline,
            began,
        }
    }

    /// Wait for the unmount; its error says the mount could not go.
    pub(crate) fn finish(mut self) -> Result<()> {
        let result = self.join();
        log::debug!(
            "timing: unmounted in {:?} (beside the record)",
            self.began.elapsed()
        );
        result.context("cannot unmount the tracing filesystem")
    }

    fn join(&mut self) -> std::io::Result<()> {
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p)),
            None => self.inline.take().unwrap_or(Ok(())),
        }
    }
}

impl Drop for Unmounting {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The tracer in `slot`, taken out (a poisoned lock still gives it).
fn take(slot: &Mutex<Option<Tracer>>) -> Option<Tracer> {
    slot.lock().unwrap_or_else(|p| p.into_inner()).take()
}
