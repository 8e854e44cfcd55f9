//! The index's checksum and its verdict, which may still be on its way: the
//! build opens the index without waiting for it and asks for it before it
//! acts on anything it read there.
//!
//! rkyv's validation proves the archive is safe to read, not that it says
//! what was written: a flipped `must_rerun` bit, `since` or mtime passes
//! it and would make a silently wrong build. The checksum (xxh3 of the
//! whole archive) catches those; it is the dearest part of an open (82 MiB
//! for 100,000 commands), so it runs on its own thread beside the scan.

use std::sync::Arc;
use std::thread::JoinHandle;

use memmap2::Mmap;

use super::HEADER_LEN;

/// The archive's checksum: xxh3 of each 1 MiB chunk (hashed on several
/// threads: the whole index is read at every open), then xxh3 of those.
pub(crate) fn checksum(bytes: &[u8]) -> u64 {
    const CHUNK: usize = 1 << 20;
    let chunks: Vec<&[u8]> = bytes.chunks(CHUNK).collect();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cpus.min(8).min(chunks.len() / 4).max(1);
    let mut sums = vec![0u64; chunks.len()];
    if threads == 1 {
        for (sum, chunk) in sums.iter_mut().zip(&chunks) {
            *sum = xxhash_rust::xxh3::xxh3_64(chunk);
        }
    } else {
        let per = chunks.len().div_ceil(threads);
        std::thread::scope(|s| {
            for (sums, chunks) in sums.chunks_mut(per).zip(chunks.chunks(per)) {
                s.spawn(move || {
                    for (sum, chunk) in sums.iter_mut().zip(chunks) {
                        *sum = xxhash_rust::xxh3::xxh3_64(chunk);
                    }
                });
            }
        });
    }
    let joined: Vec<u8> = sums.iter().flat_map(|s| s.to_le_bytes()).collect();
    xxhash_rust::xxh3::xxh3_64(&joined)
}

/// Whether the archive matches the checksum its header records.
pub(crate) struct Verdict {
    /// The thread computing it, until joined.
    pending: Option<JoinHandle<bool>>,
    /// The answer once known (`Err`: why the archive is damaged).
    known: Result<(), String>,
}

impl Verdict {
    /// Start checking `map`'s archive against `expected` on a new thread
    /// (on this one if no thread can be started).
    pub(crate) fn start(map: &Arc<Mmap>, expected: u64) -> Verdict {
        let mine = Arc::clone(map);
        let spawned = std::thread::Builder::new()
            .name("index-checksum".into())
            .spawn(move || checksum(&mine[HEADER_LEN..]) == expected);
        match spawned {
            Ok(handle) => Verdict {
                pending: Some(handle),
                known: Ok(()),
            },
            Err(_) => Verdict {
                pending: None,
                known: answer(checksum(&map[HEADER_LEN..]) == expected),
            },
        }
    }

    /// No check: the caller knows the file is one a build verified or
    /// wrote (see [`super::Index::open_trusted`]).
    pub(crate) fn trusted() -> Verdict {
        Verdict {
            pending: None,
            known: Ok(()),
        }
    }

    /// Wait for the verdict (once; later calls return the kept answer).
    pub(crate) fn wait(&mut self) -> Result<(), String> {
        if let Some(handle) = self.pending.take() {
            self.known = match handle.join() {
                Ok(matches) => answer(matches),
                Err(_) => Err("the checksum could not be computed".into()),
            };
        }
        self.known.clone()
    }
}

impl Drop for Verdict {
    /// A verdict never outlives its index: the thread reads the mapping,
    /// and a test (or a user) may rewrite the file in place once the index
    /// is gone, which would fault a reader still on it.
    fn drop(&mut self) {
        if let Some(handle) = self.pending.take() {
            let _ = handle.join();
        }
    }
}

fn answer(matches: bool) -> Result<(), String> {
    match matches {
        true => Ok(()),
        false => Err("checksum mismatch (the file was damaged)".into()),
    }
}
