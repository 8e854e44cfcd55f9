//! The listings of the source tree's directories as last seen, each with
//! the directory's state taken just before it was listed
//! (`.tupfs/listings`): a directory whose state has not moved since then
//! holds the same names, so the check of the tree ([`crate::reuse`])
//! takes its listing from here with one `lstat` instead of listing it.
//!
//! Why that holds: the state is taken after the moment is read and before
//! the listing; any entry created, removed or renamed in the directory
//! after that moment gives the directory an mtime no older than the
//! moment, so an equal state that is not racy (mtime older than the
//! moment) means no entry moved since, and the listing now is the one
//! recorded. A listing leaves out the build's outputs, so each entry also
//! holds the outputs' token (all recorded outputs hashed): another set of
//! outputs lists again.
//!
//! A cache only: not fsynced, checksummed, and any damage, another
//! version or an unreadable file means every directory is listed (as
//! without it). Rewritten whole (temporary file, rename) when a directory
//! was listed anew.

use std::collections::HashMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::xxh3_64;

use crate::change::{FileKind, FileState, Moment};
use crate::identity::Digest;
use crate::index::{Index, Listing};

/// The file's name in `.tupfs/`.
pub const FILE: &str = "listings";

const MAGIC: &[u8; 8] = b"TUPFSLST";
const VERSION: u32 = 1;

/// One directory as last listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    /// Its state, taken before the listing.
    pub state: FileState,
    /// The moment read before the state was taken.
    pub taken: Moment,
    /// The outputs' token the listing was made under.
    pub outputs: u64,
    /// The listing.
    pub listing: Listing,
}

impl Seen {
    /// The listing, when `now` (the directory's state now) proves the
    /// directory unchanged since it was listed under `outputs`.
    pub fn still(&self, now: Option<FileState>, outputs: u64) -> Option<Listing> {
        let now = now?;
        let same = now.kind == FileKind::Dir
            && now == self.state
            && !self.state.is_racy(self.taken)
            && self.outputs == outputs;
        same.then_some(self.listing)
    }
}

/// The listings of the last check, by directory.
#[derive(Debug, Default)]
pub struct Listings {
    path: PathBuf,
    seen: HashMap<String, Seen>,
}

impl Listings {
    /// Read `.tupfs/listings` of the state directory `state_dir` (empty
    /// when missing or damaged).
    pub fn load(state_dir: &Path) -> Listings {
        let path = state_dir.join(FILE);
        let seen = fs::read(&path)
            .ok()
            .and_then(|bytes| decode(&bytes))
            .unwrap_or_default();
        Listings { path, seen }
    }

    /// What was seen of `dir` (project-relative), if anything.
    pub fn get(&self, dir: &str) -> Option<&Seen> {
        self.seen.get(dir)
    }

    /// Record `fresh` (directories listed anew) and rewrite the file when
    /// any was; errors are ignored (a cache).
    pub fn update(mut self, fresh: Vec<(String, Seen)>) {
        if fresh.is_empty() {
            return;
        }
        self.seen.extend(fresh);
        // One name: a killed build leaves at most one behind, and a torn
        // file from a race between two processes fails its checksum.
        let tmp = self.path.with_extension("tmp");
        let written = fs::File::create(&tmp)
            .and_then(|mut f| f.write_all(&encode(&self.seen)))
            .and_then(|()| fs::rename(&tmp, &self.path));
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
    }
}

/// The token of `index`'s set of outputs (order-free: the journal's come
/// unsorted): another set of outputs makes every listing stale.
pub fn outputs_token(index: &Index) -> u64 {
    let (mut sum, mut count) = (0u64, 0u64);
    for path in index.output_paths() {
        sum = sum.wrapping_add(xxh3_64(path.as_bytes()));
        count += 1;
    }
    sum ^ count.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Bytes of one entry after its path.
const ENTRY: usize = 1 + 8 * 5 + 8 + 64;

fn encode(seen: &HashMap<String, Seen>) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + seen.len() * (ENTRY + 24));
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(seen.len() as u32).to_le_bytes());
    for (dir, s) in seen {
        out.extend_from_slice(&(dir.len() as u32).to_le_bytes());
        out.extend_from_slice(dir.as_bytes());
        out.push(match s.state.kind {
            FileKind::File => 1,
            FileKind::Dir => 2,
            FileKind::Symlink => 3,
            FileKind::Other => 4,
        });
        for n in [s.state.mtime_ns, s.state.ctime_ns] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        for n in [s.state.size, s.state.ino] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        out.extend_from_slice(&s.taken.0.to_le_bytes());
        out.extend_from_slice(&s.outputs.to_le_bytes());
        out.extend_from_slice(&s.listing.files.0);
        out.extend_from_slice(&s.listing.dirs.0);
    }
    let sum = xxh3_64(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

fn decode(bytes: &[u8]) -> Option<HashMap<String, Seen>> {
    let (body, sum) = bytes.split_at(bytes.len().checked_sub(8)?);
    if xxh3_64(body) != u64::from_le_bytes(sum.try_into().ok()?) || !body.starts_with(MAGIC) {
        return None;
    }
    let mut r = Reader(&body[8..]);
    if r.u32()? != VERSION {
        return None;
    }
    let count = r.u32()? as usize;
    let mut seen = HashMap::with_capacity(count.min(1 << 20));
    for _ in 0..count {
        let len = r.u32()? as usize;
        let dir = std::str::from_utf8(r.take(len)?).ok()?.to_string();
        let kind = match r.take(1)?[0] {
            1 => FileKind::File,
            2 => FileKind::Dir,
            3 => FileKind::Symlink,
            _ => FileKind::Other,
        };
        let (mtime_ns, ctime_ns) = (r.i64()?, r.i64()?);
        let (size, ino) = (r.i64()? as u64, r.i64()? as u64);
        let state = FileState {
            kind,
            mtime_ns,
            ctime_ns,
            size,
            ino,
        };
        let (taken, outputs) = (Moment(r.i64()?), r.i64()? as u64);
        let files = Digest(r.take(32)?.try_into().ok()?);
        let dirs = Digest(r.take(32)?.try_into().ok()?);
        let listing = Listing { files, dirs };
        seen.insert(
            dir,
            Seen {
                state,
                taken,
                outputs,
                listing,
            },
        );
    }
    r.0.is_empty().then_some(seen)
}

/// Reads little-endian fields off the front of a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(mtime_ns: i64, taken: i64) -> Seen {
        Seen {
            state: FileState {
                kind: FileKind::Dir,
                mtime_ns,
                ctime_ns: mtime_ns,
                size: 4096,
                ino: 7,
            },
            taken: Moment(taken),
            outputs: 42,
            listing: Listing {
                files: Digest([1; 32]),
                dirs: Digest([2; 32]),
            },
        }
    }

    #[test]
    fn an_unmoved_directory_that_is_not_racy_keeps_its_listing() {
        let s = seen(1_000, 2_000);
        assert_eq!(s.still(Some(s.state), 42), Some(s.listing));
        let moved = FileState {
            mtime_ns: 1_500,
            ..s.state
        };
        assert_eq!(s.still(Some(moved), 42), None, "moved");
        assert_eq!(s.still(None, 42), None, "gone");
        assert_eq!(s.still(Some(s.state), 43), None, "other outputs");
        let racy = seen(2_000, 2_000);
        assert_eq!(racy.still(Some(racy.state), 42), None, "racy");
    }

    #[test]
    fn round_trip_and_damage_is_an_empty_cache() {
        let dir = tempfile::tempdir().unwrap();
        let listings = Listings::load(dir.path());
        assert!(listings.get("a").is_none());
        listings.update(vec![("a".into(), seen(1, 2)), ("".into(), seen(3, 4))]);
        let back = Listings::load(dir.path());
        assert_eq!(back.get("a"), Some(&seen(1, 2)));
        assert_eq!(back.get(""), Some(&seen(3, 4)));
        let path = dir.path().join(FILE);
        let mut bytes = fs::read(&path).unwrap();
        let i = bytes.len() / 2;
        bytes[i] ^= 1;
        fs::write(&path, &bytes).unwrap();
        assert!(Listings::load(dir.path()).get("a").is_none(), "damaged");
        fs::write(&path, &bytes[..5]).unwrap();
        assert!(Listings::load(dir.path()).get("a").is_none(), "short");
    }
}
