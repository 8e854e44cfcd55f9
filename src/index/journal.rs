//! The journal, `.tupfs/index.journal`: what each build changed, appended
//! beside the memory-mapped base as ninja appends to its logs, replayed
//! over the base on open ([`super::overlay`]).
//!
//! Layout: a 64-byte header (magic `TUPFSJNL`, version, the token of the
//! base it applies to, the base's [`Facts`], xxh3 of those bytes), then
//! batches. A batch is a 48-byte frame (magic, payload length, payload
//! xxh3, the batch's [`Facts`], xxh3 of the frame), the payload (an rkyv
//! [`super::schema::Batch`]) and a 16-byte commit marker (`TJCOMMIT` and
//! the frame's xxh3 again). A batch counts only whole: frame, payload and
//! marker all present and all checksums right. Replay takes the valid
//! prefix and drops the rest (a torn or damaged tail is never trusted);
//! the next append cuts the file back to that prefix first.
//!
//! A journal whose header names another base (another token) is ignored:
//! a new base (compaction, a full write) is renamed into place before the
//! old journal is replaced, so a kill in between leaves the new base and a
//! journal that names the old one.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use xxhash_rust::xxh3::xxh3_64;

use super::record::Generation;

/// The journal's name beside the base (`index` → `index.journal`).
pub fn journal_path(base: &Path) -> PathBuf {
    let mut name = base.file_name().unwrap_or_default().to_os_string();
    name.push(".journal");
    base.with_file_name(name)
}

const MAGIC: &[u8; 8] = b"TUPFSJNL";
/// The journal format; another version is ignored (the base alone is used).
pub const VERSION: u32 = 1;
/// Bytes of the journal's header.
pub const HEADER_LEN: usize = 64;
const FRAME_MAGIC: &[u8; 8] = b"TJBATCH\0";
const FRAME_LEN: usize = 48;
const COMMIT: &[u8; 8] = b"TJCOMMIT";
const COMMIT_LEN: usize = 16;

/// What names a base: its header's archive length and checksum (bytes
/// 16..32 of `.tupfs/index`), read without hashing the archive.
pub type BaseToken = [u8; 16];

/// The few facts a no-op decision needs, kept in the journal's header
/// (for the base) and in every batch's frame, each under its own checksum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// The generation of the build that wrote it.
    pub generation: Generation,
    /// The tables' flags (`TABLES_*`).
    pub flags: u32,
    /// The change mode's byte.
    pub change_mode: u8,
}

impl Facts {
    fn put(&self, b: &mut [u8]) {
        b[0..4].copy_from_slice(&self.generation.0.to_le_bytes());
        b[4..8].copy_from_slice(&self.flags.to_le_bytes());
        b[8] = self.change_mode;
    }

    fn get(b: &[u8]) -> Facts {
        Facts {
            generation: Generation(u32::from_le_bytes(le(&b[0..4]))),
            flags: u32::from_le_bytes(le(&b[4..8])),
            change_mode: b[8],
        }
    }
}

fn le<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&b[..N]);
    out
}

/// One valid batch: its facts and its payload, copied out aligned.
pub struct RawBatch {
    /// The facts in its frame.
    pub facts: Facts,
    /// The payload (an rkyv `Batch`), 16-byte aligned.
    pub payload: rkyv::util::AlignedVec<16>,
    /// The payload's checksum (it names the batch).
    pub checksum: u64,
}

impl RawBatch {
    /// Its bytes in the journal: frame, payload, commit marker.
    pub fn len_on_disk(&self) -> u64 {
        (FRAME_LEN + self.payload.len() + COMMIT_LEN) as u64
    }
}

/// A journal read from disk.
#[derive(Default)]
pub struct Journal {
    /// The facts of the base, as the header records them.
    pub base_facts: Facts,
    /// The valid batches, in order.
    pub batches: Vec<RawBatch>,
    /// The length of the header and the valid batches (an append cuts
    /// the file back to it).
    pub valid_len: u64,
    /// Why bytes after `valid_len` were dropped, if any were.
    pub dropped: Option<String>,
}

/// What was found at the journal's path.
pub enum Found {
    /// No journal file (or an empty one).
    Missing,
    /// A journal that is not for this base, or unreadable: ignored.
    Ignored(String),
    /// A journal for this base.
    Ready(Journal),
}

/// Read the journal at `path` for the base named `token`.
pub fn read(path: &Path, token: &BaseToken) -> Found {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Found::Missing,
        Err(e) => return Found::Ignored(format!("cannot read {}: {e}", path.display())),
    };
    if bytes.is_empty() {
        return Found::Missing;
    }
    let base_facts = match check_header(&bytes, token) {
        Ok(f) => f,
        Err(why) => return Found::Ignored(why),
    };
    let mut read = Journal {
        base_facts,
        valid_len: HEADER_LEN as u64,
        ..Journal::default()
    };
    let mut at = HEADER_LEN;
    while at < bytes.len() {
        match batch_at(&bytes, at) {
            Ok((batch, next)) => {
                read.batches.push(batch);
                at = next;
                read.valid_len = next as u64;
            }
            Err(why) => {
                read.dropped = Some(format!(
                    "{} bytes at offset {at} of {} dropped: {why}",
                    bytes.len() - at,
                    path.display()
                ));
                break;
            }
        }
    }
    Found::Ready(read)
}

fn check_header(b: &[u8], token: &BaseToken) -> Result<Facts, String> {
    if b.len() < HEADER_LEN || &b[..8] != MAGIC {
        return Err("not a tupfs journal (bad magic or truncated header)".into());
    }
    if xxh3_64(&b[..56]) != u64::from_le_bytes(le(&b[56..64])) {
        return Err("the journal's header is damaged".into());
    }
    let version = u32::from_le_bytes(le(&b[8..12]));
    if version != VERSION {
        return Err(format!(
            "journal format {version}, this tupfs uses {VERSION}"
        ));
    }
    if &b[16..32] != token {
        return Err("the journal names another base".into());
    }
    Ok(Facts::get(&b[32..44]))
}

/// The batch whose frame starts at `at`, and where the next one starts.
fn batch_at(b: &[u8], at: usize) -> Result<(RawBatch, usize), String> {
    let frame = b.get(at..at + FRAME_LEN).ok_or("a torn frame")?;
    if &frame[..8] != FRAME_MAGIC {
        return Err("no frame magic".into());
    }
    let sum = xxh3_64(&frame[..40]);
    if sum != u64::from_le_bytes(le(&frame[40..48])) {
        return Err("the frame's checksum does not match".into());
    }
    let len = u64::from_le_bytes(le(&frame[8..16]));
    let start = at + FRAME_LEN;
    let end = usize::try_from(len)
        .ok()
        .and_then(|l| start.checked_add(l))
        .filter(|&e| e <= b.len())
        .ok_or("a torn payload")?;
    let commit = b.get(end..end + COMMIT_LEN).ok_or("no commit marker")?;
    if &commit[..8] != COMMIT || u64::from_le_bytes(le(&commit[8..16])) != sum {
        return Err("a bad commit marker".into());
    }
    let payload = &b[start..end];
    let checksum = xxh3_64(payload);
    if checksum != u64::from_le_bytes(le(&frame[16..24])) {
        return Err("the payload's checksum does not match".into());
    }
    let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(payload.len());
    aligned.extend_from_slice(payload);
    let facts = Facts::get(&frame[24..36]);
    Ok((
        RawBatch {
            facts,
            payload: aligned,
            checksum,
        },
        end + COMMIT_LEN,
    ))
}

fn header_bytes(token: &BaseToken, facts: &Facts) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[16..32].copy_from_slice(token);
    facts.put(&mut h[32..44]);
    let sum = xxh3_64(&h[..56]);
    h[56..64].copy_from_slice(&sum.to_le_bytes());
    h
}

/// A batch's bytes on disk: frame, payload, commit marker.
fn batch_bytes(facts: &Facts, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME_LEN + payload.len() + COMMIT_LEN);
    let mut frame = [0u8; FRAME_LEN];
    frame[..8].copy_from_slice(FRAME_MAGIC);
    frame[8..16].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    frame[16..24].copy_from_slice(&xxh3_64(payload).to_le_bytes());
    facts.put(&mut frame[24..36]);
    let sum = xxh3_64(&frame[..40]);
    frame[40..48].copy_from_slice(&sum.to_le_bytes());
    out.extend_from_slice(&frame);
    out.extend_from_slice(payload);
    out.extend_from_slice(COMMIT);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

/// Replace the journal at `path` by an empty one for the base `token`
/// whose facts are `facts`: a temporary file, fsync, rename, fsync of the
/// directory (so the header is never half there).
pub fn start(path: &Path, token: &BaseToken, facts: &Facts) -> Result<()> {
    let tmp = super::temp_path(path);
    let result = super::write_synced(&tmp, &header_bytes(token, facts), &[])
        .and_then(|()| {
            fs::rename(&tmp, path)
                .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
        })
        .and_then(|()| super::sync_dir(path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Append one batch to the journal at `path`, whose valid prefix is
/// `valid_len` bytes long (None: there is no usable journal for this
/// base: one is started, for `token` with `base_facts`). Not fsynced (as
/// ninja's logs are not): a lost or torn tail is a build killed before
/// its record (DESIGN.md, "The journal is not fsynced"). Returns the
/// journal's new length.
pub fn append(
    path: &Path,
    token: &BaseToken,
    base_facts: &Facts,
    valid_len: Option<u64>,
    facts: &Facts,
    payload: &[u8],
) -> Result<u64> {
    let valid_len = match valid_len {
        Some(len) => len,
        None => {
            start(path, token, base_facts)?;
            HEADER_LEN as u64
        }
    };
    let bytes = batch_bytes(facts, payload);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let written = f
        .set_len(valid_len)
        .and_then(|()| f.seek(SeekFrom::Start(valid_len)))
        .and_then(|_| f.write_all(&bytes));
    written.with_context(|| format!("cannot append to {}", path.display()))?;
    Ok(valid_len + bytes.len() as u64)
}

/// The base token in the header of the base file at `base` (its bytes
/// 16..32), and the header's change mode byte.
pub fn base_token(base: &Path) -> Option<BaseToken> {
    let mut f = fs::File::open(base).ok()?;
    let mut h = [0u8; super::HEADER_LEN];
    f.read_exact(&mut h).ok()?;
    (&h[..8] == super::MAGIC).then(|| le(&h[16..32]))
}
