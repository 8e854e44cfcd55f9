//! Uploads to a remote, batched across jobs: the storing threads hand each
//! stored job's blobs and entries over and go on; one thread sends what has
//! gathered meanwhile together (REAPI: one FindMissingBlobs, then
//! BatchUpdateBlobs within the server's limit; HTTP: HEAD before PUT), the
//! blobs before the entries that name them. The queue is bounded by bytes
//! (memory), not by jobs: a slow remote holds up the storing threads only
//! when that much waits, and the first failure turns the remote off.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use super::Remote;
use crate::cache::key::Digest;

/// At most this many bytes of blobs wait for an upload.
const MAX_WAITING: u64 = 256 << 20;
/// At most this many bytes of blobs go in one round (one FindMissingBlobs).
const MAX_ROUND: u64 = 16 << 20;

/// One stored job's uploads.
pub struct Upload {
    /// Its blobs.
    pub blobs: Vec<(Digest, Vec<u8>)>,
    /// Its entries (action key, encoded `ActionResult`), after the blobs.
    pub actions: Vec<(Digest, Vec<u8>)>,
}

impl Upload {
    fn bytes(&self) -> u64 {
        self.blobs.iter().map(|(d, _)| d.size).sum()
    }
}

#[derive(Default)]
struct Waiting {
    jobs: VecDeque<Upload>,
    bytes: u64,
    closed: bool,
}

type Shared = Arc<(Mutex<Waiting>, Condvar)>;

/// The uploading thread of one build.
pub struct Uploader {
    shared: Shared,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Uploader {
    /// Start uploading to `remote`.
    pub fn start(remote: Arc<Remote>) -> std::io::Result<Uploader> {
        let shared: Shared = Arc::default();
        let mine = shared.clone();
        let thread = std::thread::Builder::new()
            .name("tupfs-cache-upload".into())
            .spawn(move || upload_loop(&mine, &remote))?;
        Ok(Uploader {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queue `job` (waits while [`MAX_WAITING`] bytes wait already).
    pub fn push(&self, job: Upload) {
        let (lock, wake) = &*self.shared;
        let mut w = lock_waiting(lock);
        while w.bytes > MAX_WAITING && !w.closed {
            w = wake.wait(w).unwrap_or_else(|e| e.into_inner());
        }
        w.bytes += job.bytes();
        w.jobs.push_back(job);
        wake.notify_all();
    }

    /// Send everything queued and stop.
    pub fn finish(&self) {
        let (lock, wake) = &*self.shared;
        lock_waiting(lock).closed = true;
        wake.notify_all();
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

impl Drop for Uploader {
    fn drop(&mut self) {
        self.finish();
    }
}

fn lock_waiting(m: &Mutex<Waiting>) -> MutexGuard<'_, Waiting> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Take up to [`MAX_ROUND`] bytes of queued jobs at a time (at least one)
/// and send them as one upload; until closed and empty.
fn upload_loop(shared: &(Mutex<Waiting>, Condvar), remote: &Remote) {
    let (lock, wake) = shared;
    loop {
        let round = {
            let mut w = lock_waiting(lock);
            while w.jobs.is_empty() && !w.closed {
                w = wake.wait(w).unwrap_or_else(|e| e.into_inner());
            }
            if w.jobs.is_empty() {
                return;
            }
            let mut round = Vec::new();
            let mut bytes = 0;
            while let Some(job) = w.jobs.front() {
                if !round.is_empty() && bytes + job.bytes() > MAX_ROUND {
                    break;
                }
                bytes += job.bytes();
                round.extend(w.jobs.pop_front());
            }
            w.bytes -= bytes;
            wake.notify_all();
            round
        };
        send(remote, round);
    }
}

/// One round: every distinct blob, then every entry.
fn send(remote: &Remote, round: Vec<Upload>) {
    let mut seen = HashSet::new();
    let mut blobs = Vec::new();
    let mut actions = Vec::new();
    for job in round {
        for (d, bytes) in job.blobs {
            if seen.insert(d) {
                blobs.push((d, bytes));
            }
        }
        actions.extend(job.actions);
    }
    log::debug!(
        "cache: uploading {} blobs and {} entries in one round",
        blobs.len(),
        actions.len()
    );
    remote.put(&blobs, &actions);
}
