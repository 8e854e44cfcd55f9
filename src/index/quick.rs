//! The cheap look at the index a no-op decision needs ([`quick_state`])
//! and the token that tells one index on disk from another ([`token`]).
//!
//! The quick state reads the base's 32-byte header (not its archive, whose
//! checksum is the dear part of an open) and the journal, whose header
//! carries the base's facts and whose every batch frame carries the facts
//! after that batch, each under its own xxh3. The journal is small (a
//! quarter of the base at most, see `compact.rs`): its batches' payload
//! checksums are verified too, so the facts are exactly those of the
//! merged index an open would replay (the valid prefix).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::journal::{self, Found};
use super::record::Generation;
use super::schema::{TABLES_ALL_UP_TO_DATE, TABLES_COMMANDS_ARE_RULES, TABLES_FULL_DEPS};
use crate::options::ChangeMode;

/// What a no-op decision needs to know of the index, without opening it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuickState {
    /// The generation of the last build recorded.
    pub generation: Generation,
    /// Names this exact index: the base's token (its header's length and
    /// checksum) and the payload checksums of the journal batches over it.
    pub identity: u64,
    /// Every command was left up to date.
    pub all_up_to_date: bool,
    /// The commands are exactly the last parse's rules.
    pub commands_are_rules: bool,
    /// The last build traced reads outside the project.
    pub full_deps: bool,
    /// The change mode of the last build.
    pub change_mode: ChangeMode,
}

/// The quick state of the index in `state_dir` (`.tupfs`), or None when
/// it cannot be had cheaply (no index, no journal for this base: a base
/// written by an older tupfs, or a kill between a base and its journal),
/// in which case the caller opens the index as usual. Never verifies the
/// base's archive: a damaged archive is found by the open, not here.
pub fn quick_state(state_dir: &Path) -> Option<QuickState> {
    let base = state_dir.join(super::INDEX_FILE);
    let token = journal::base_token(&base)?;
    let Found::Ready(read) = journal::read(&journal::journal_path(&base), &token) else {
        return None;
    };
    let facts = read.batches.last().map_or(read.base_facts, |b| b.facts);
    let mut ident = Vec::with_capacity(16 + 8 * read.batches.len());
    ident.extend_from_slice(&token);
    for b in &read.batches {
        ident.extend_from_slice(&b.checksum.to_le_bytes());
    }
    Some(QuickState {
        generation: facts.generation,
        identity: xxhash_rust::xxh3::xxh3_64(&ident),
        all_up_to_date: facts.flags & TABLES_ALL_UP_TO_DATE != 0,
        commands_are_rules: facts.flags & TABLES_COMMANDS_ARE_RULES != 0,
        full_deps: facts.flags & TABLES_FULL_DEPS != 0,
        change_mode: ChangeMode::from_byte(facts.change_mode)?,
    })
}

/// What identifies the index on disk (base and journal): the base's
/// header, inode, mtime and size, and the journal's inode, mtime and
/// size. Any build that records (a new base or one more batch) changes
/// it. None without a base.
pub fn token(state_dir: &Path) -> Option<String> {
    use std::io::Read;
    let base = state_dir.join(super::INDEX_FILE);
    let mut file = fs::File::open(&base).ok()?;
    let meta = file.metadata().ok()?;
    let mut header = [0u8; super::HEADER_LEN];
    file.read_exact(&mut header).ok()?;
    let hex: String = header.iter().map(|b| format!("{b:02x}")).collect();
    let stamp = |m: &fs::Metadata| {
        let mtime = m.mtime() * 1_000_000_000 + m.mtime_nsec();
        format!("{mtime}-{}-{}", m.ino(), m.size())
    };
    let journal = fs::metadata(journal::journal_path(&base)).map_or("none".into(), |m| stamp(&m));
    Some(format!("{hex}-{}-{journal}", stamp(&meta)))
}
