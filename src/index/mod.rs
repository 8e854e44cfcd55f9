//! The index, `.tupfs/index`: what the last build left, memory-mapped and
//! read in place.
//!
//! Layout: a 32-byte [header](HEADER_LEN) (magic `TUPFSIDX`, format
//! version, the options that built it, the archive's length and xxh3
//! checksum), then one rkyv archive of flat tables ([`schema`]). Opening
//! checks the header and validates the archive once (rkyv's bytecheck);
//! lookups then read the mapping without copying. The checksum is either
//! waited for at open ([`Index::open`]) or verified on another thread
//! while the build scans ([`Index::open_unconfirmed`], [`Index::confirm`]):
//! see [`checksum`]. Writing
//! replaces the file whole: temporary file in the same directory, fsync,
//! rename, fsync of the directory, so a build killed at any instant leaves
//! the old index or the new one, never a mix.

mod checksum;
mod compact;
mod delta;
pub mod journal;
mod overlay;
mod quick;
mod record;
mod schema;
mod view;
mod write;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use memmap2::Mmap;

pub use compact::{compact_now, CompactPolicy, COMPACT_ENV};
pub use delta::Delta;
pub use quick::{quick_state, token, QuickState};
pub use record::{
    BuildRecord, CommandRecord, FileRecord, FileRef, Generation, Listing, OutsideRecord,
    OutsideRef, Seen, SeenOutside, TreeEntry, TupfileRecord, VariableRecord,
};
pub use view::{CommandView, FileView, Observed, OutsideView, TupfileView};

use crate::options::ChangeMode;
pub(crate) use checksum::checksum;
use checksum::Verdict;
use schema::ArchivedTables;

/// The index's file name inside `.tupfs/`.
pub const INDEX_FILE: &str = "index";
/// The first bytes of every index file.
pub const MAGIC: &[u8; 8] = b"TUPFSIDX";
/// The format this tupfs writes; any other costs one full rebuild.
pub const FORMAT_VERSION: u32 = 6;
/// Bytes before the archive (a multiple of 16, so the archive stays aligned
/// in the page-aligned mapping).
pub const HEADER_LEN: usize = 32;

/// A file's position in an opened index (files are sorted by path).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileSlot(pub u32);

/// An outside file's position in an opened index (full dependencies;
/// sorted by path).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OutsideSlot(pub u32);

/// A command's position in an opened index (commands are sorted by key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CmdSlot(pub u32);

/// The options recorded in the header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IndexOptions {
    /// The change mode of the build that wrote the index. Recorded, but a
    /// different mode now does NOT make the index stale: the detector
    /// judges each file by what was recorded (a file without a digest
    /// counts as changed once in a digest mode), so switching costs at most
    /// one rebuild of what it touches, never a wrong one.
    pub change_mode: ChangeMode,
}

/// The result of opening the index. Anything but `Ready` means: rebuild
/// everything, and say why in one line.
#[derive(Debug)]
pub enum Open {
    /// A valid index.
    Ready(Index),
    /// No index yet (first build).
    Missing,
    /// Written by another format version or with options that change its
    /// meaning (the reason says which).
    Stale(String),
    /// Unreadable, truncated or damaged (the reason says how).
    Corrupt(String),
}

/// An opened, validated index.
pub struct Index {
    map: Arc<Mmap>,
    options: IndexOptions,
    path: PathBuf,
    /// The checksum's verdict (always `Sound` after [`Index::open`]).
    verdict: Verdict,
    /// The journal replayed over the base (boxed: `Open` stays small).
    overlay: Box<overlay::Overlay>,
    /// Where the next batch goes.
    journal: JournalAt,
}

/// The journal as opened: what the next append needs.
#[derive(Clone, Debug)]
struct JournalAt {
    /// The base's token (header bytes 16..32).
    token: journal::BaseToken,
    /// The base's own facts (for a journal started anew).
    base_facts: journal::Facts,
    /// The valid prefix's length (None: no usable journal for this base).
    valid_len: Option<u64>,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("path", &self.path)
            .field("bytes", &self.map.len())
            .field("options", &self.options)
            .finish()
    }
}

impl Index {
    /// Open, check and validate the index at `path` (`.tupfs/index`),
    /// checksum included. Never panics on a bad file. `expected` is what
    /// this build runs with; see [`IndexOptions`] for which differences
    /// make it stale.
    pub fn open(path: &Path, expected: &IndexOptions) -> Open {
        match Index::open_unconfirmed(path, expected) {
            Open::Ready(mut index) => match index.confirm() {
                Ok(()) => Open::Ready(index),
                Err(why) => Open::Corrupt(why),
            },
            other => other,
        }
    }

    /// [`Index::open`] without waiting for the checksum, which is verified
    /// on another thread meanwhile. The index is safe to read (header and
    /// archive are checked) but may say what was never written: nothing
    /// decided from it may be acted on (work skipped, rules re-used, an
    /// index written, a job run) before [`Index::confirm`] says `Ok`.
    pub fn open_unconfirmed(path: &Path, expected: &IndexOptions) -> Open {
        Index::open_checked(path, expected, true)
    }

    /// [`Index::open`] without the checksum, for a caller that knows the
    /// file on disk is one a build verified or wrote (the monitor's clock
    /// pairs with the index by a token that covers the header, which holds
    /// the checksum, and the file's inode, mtime and size). Header and
    /// archive are still checked.
    pub fn open_trusted(path: &Path, expected: &IndexOptions) -> Open {
        Index::open_checked(path, expected, false)
    }

    /// Open, check the header and the archive, and start the checksum's
    /// verdict when `verify`.
    fn open_checked(path: &Path, expected: &IndexOptions, verify: bool) -> Open {
        let _ = expected; // no recorded option invalidates the index yet
        let file = match fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Open::Missing,
            Err(e) => return Open::Corrupt(format!("cannot open {}: {e}", path.display())),
        };
        let len = match file.metadata() {
            Ok(m) => m.len(),
            Err(e) => return Open::Corrupt(format!("cannot stat {}: {e}", path.display())),
        };
        if len < HEADER_LEN as u64 {
            return Open::Corrupt(format!("truncated: {len} bytes, shorter than the header"));
        }
        // SAFETY: the index is never modified in place (only replaced by
        // rename), so the mapped bytes do not change under us.
        // A full build reads most of the index, so it is mapped in at once;
        // the monitor's no-op reads a few rows of it.
        let mut map_options = memmap2::MmapOptions::new();
        if verify {
            map_options.populate();
        }
        let map = match unsafe { map_options.map(&file) } {
            Ok(m) => Arc::new(m),
            Err(e) => return Open::Corrupt(format!("cannot map {}: {e}", path.display())),
        };
        let header = match check_header(&map) {
            Ok(header) => header,
            Err(Bad::Stale(why)) => return Open::Stale(why),
            Err(Bad::Corrupt(why)) => return Open::Corrupt(why),
        };
        // The checksum runs beside the validation (and then the scan).
        let verdict = match verify {
            true => Verdict::start(&map, header.checksum),
            false => Verdict::trusted(),
        };
        let tables = match rkyv::access::<ArchivedTables, rkyv::rancor::Error>(&map[HEADER_LEN..]) {
            Ok(t) => t,
            Err(e) => return Open::Corrupt(format!("invalid archive: {e}")),
        };
        let token = journal::BaseToken::try_from(&map[16..32]).unwrap_or_default();
        let base_facts = journal::Facts {
            generation: Generation(tables.generation.to_native()),
            flags: tables.flags.to_native(),
            change_mode: header.options.change_mode.to_byte(),
        };
        let overlay = Box::new(overlay::Overlay::over(tables));
        let mut index = Index {
            map,
            options: header.options,
            path: path.to_path_buf(),
            verdict,
            overlay,
            journal: JournalAt {
                token,
                base_facts,
                valid_len: None,
            },
        };
        index.open_journal();
        Open::Ready(index)
    }

    /// Read the journal beside the base and replay its valid batches.
    fn open_journal(&mut self) {
        let path = journal::journal_path(&self.path);
        let read = match journal::read(&path, &self.journal.token) {
            journal::Found::Missing => return,
            journal::Found::Ignored(why) => {
                log::debug!("journal {} ignored: {why}", path.display());
                return;
            }
            journal::Found::Ready(read) => read,
        };
        if let Some(why) = &read.dropped {
            log::debug!("journal: {why}");
        }
        let mut valid_len = read.valid_len;
        let lens: Vec<u64> = read.batches.iter().map(|b| b.len_on_disk()).collect();
        if let Some(why) = self.replay(read.batches) {
            log::debug!("journal: {why}");
            let kept = self.overlay.len();
            valid_len = journal::HEADER_LEN as u64 + lens[..kept].iter().sum::<u64>();
        }
        if let Some(facts) = self.overlay.last {
            if let Some(mode) = ChangeMode::from_byte(facts.change_mode) {
                self.options.change_mode = mode;
            }
        }
        self.journal.valid_len = Some(valid_len);
    }

    /// Append `delta` (this build's changes to what this index says) to
    /// the journal as one batch (not fsynced: see [`journal::append`]);
    /// return the journal's length.
    pub fn append(&self, delta: &Delta, options: &IndexOptions) -> Result<u64> {
        let began = std::time::Instant::now();
        let (payload, facts) = delta::batch_bytes(self, delta, options)?;
        log::debug!(
            "timing: journal batch of {} bytes made in {:?}",
            payload.len(),
            began.elapsed()
        );
        let path = journal::journal_path(&self.path);
        let len = journal::append(
            &path,
            &self.journal.token,
            &self.journal.base_facts,
            self.journal.valid_len,
            &facts,
            &payload,
        )?;
        log::debug!("timing: journal appended in {:?}", began.elapsed());
        Ok(len)
    }

    /// How many journal batches were replayed over the base.
    pub fn journal_batches(&self) -> usize {
        self.overlay.len()
    }

    /// Wait for the checksum's verdict (at once after [`Index::open`]):
    /// `Err` says why the index is damaged and must not be used.
    pub fn confirm(&mut self) -> std::result::Result<(), String> {
        self.verdict.wait()
    }

    /// Write `record` as the index at `path`, atomically: a temporary file
    /// beside it, fsync, rename over the old one, fsync the directory. On
    /// any error the old index is left as it was.
    pub fn write(path: &Path, record: &BuildRecord, options: &IndexOptions) -> Result<()> {
        let tables = write::flatten(record)
            .with_context(|| format!("cannot write the index {}", path.display()))?;
        let buffer = rkyv::util::AlignedVec::<16>::with_capacity(write::archived_size(&tables));
        let archive = rkyv::api::high::to_bytes_in::<_, rkyv::rancor::Error>(&tables, buffer)
            .map_err(|e| anyhow::anyhow!("cannot serialise the index: {e}"))?;
        let header = header_bytes(options, &archive);
        let tmp = temp_path(path);
        let result = write_synced(&tmp, &header, &archive)
            .and_then(|()| {
                fs::rename(&tmp, path).with_context(|| {
                    format!("cannot rename {} to {}", tmp.display(), path.display())
                })
            })
            .and_then(|()| sync_dir(path));
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
            return result;
        }
        // The old journal names the old base: replaced by an empty one for
        // this base (a kill before this leaves it ignored, harmlessly).
        let token = journal::BaseToken::try_from(&header[16..32]).unwrap_or_default();
        let flags = delta::flags_of(record);
        let facts = journal::Facts {
            generation: record.generation,
            flags,
            change_mode: options.change_mode.to_byte(),
        };
        journal::start(&journal::journal_path(path), &token, &facts)
    }

    /// The options recorded when the index was written.
    pub fn options(&self) -> IndexOptions {
        self.options
    }

    /// Where the index was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The size of the base file in bytes.
    pub fn byte_len(&self) -> usize {
        self.map.len()
    }

    /// The size of the journal's valid prefix in bytes (0: none).
    pub fn journal_len(&self) -> u64 {
        self.journal.valid_len.unwrap_or(0)
    }

    fn tables(&self) -> &ArchivedTables {
        // SAFETY: `open_unconfirmed` validated exactly these bytes with
        // `rkyv::access`
        // and the mapping is immutable for our lifetime.
        unsafe { rkyv::access_unchecked::<ArchivedTables>(&self.map[HEADER_LEN..]) }
    }
}

/// Why the bytes cannot be used.
enum Bad {
    Stale(String),
    Corrupt(String),
}

/// What the header says, once checked.
struct Header {
    options: IndexOptions,
    /// The archive's recorded checksum (not verified yet).
    checksum: u64,
}

/// Check the header and the archive's length.
fn check_header(bytes: &[u8]) -> std::result::Result<Header, Bad> {
    let corrupt = |s: String| Err(Bad::Corrupt(s));
    if &bytes[..8] != MAGIC {
        return corrupt("not a tupfs index (bad magic)".into());
    }
    let version = u32::from_le_bytes(le(&bytes[8..12]));
    if version != FORMAT_VERSION {
        return Err(Bad::Stale(format!(
            "the index has format {version}, this tupfs uses format {FORMAT_VERSION}"
        )));
    }
    let Some(change_mode) = ChangeMode::from_byte(bytes[12]) else {
        return corrupt(format!("unknown change mode {} in the header", bytes[12]));
    };
    if bytes[13..16] != [0, 0, 0] {
        return corrupt("reserved header bytes are not zero".into());
    }
    let archive_len = u64::from_le_bytes(le(&bytes[16..24]));
    let archive = &bytes[HEADER_LEN..];
    if archive.len() as u64 != archive_len {
        return corrupt(format!(
            "truncated or extended: the header promises {archive_len} bytes of data, found {}",
            archive.len()
        ));
    }
    Ok(Header {
        options: IndexOptions { change_mode },
        checksum: u64::from_le_bytes(le(&bytes[24..32])),
    })
}

fn le<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&b[..N]);
    out
}

fn header_bytes(options: &IndexOptions, archive: &[u8]) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12] = options.change_mode.to_byte();
    h[16..24].copy_from_slice(&(archive.len() as u64).to_le_bytes());
    h[24..32].copy_from_slice(&checksum(archive).to_le_bytes());
    h
}

/// The temporary file beside `path` (same directory, so rename is atomic).
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

pub(crate) fn write_synced(tmp: &Path, header: &[u8], archive: &[u8]) -> Result<()> {
    let mut f =
        fs::File::create(tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(header)
        .and_then(|()| f.write_all(archive))
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))
}

pub(crate) fn sync_dir(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync directory {}", dir.display()))
}

#[cfg(test)]
mod journal_tests;
#[cfg(test)]
mod tests;
