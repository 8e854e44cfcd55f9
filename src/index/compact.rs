//! Compaction: the base and its journal written as one new base, and the
//! journal started anew.
//!
//! When: once the journal holds a quarter of the base's bytes (and at
//! least [`MIN_BYTES`]), or [`MAX_BATCHES`] batches. Each open replays the journal (its cost grows
//! with its size and its batch count), and each compaction rewrites the
//! base: at a quarter, an open costs at most ~1.25x a base-only one, and
//! the base is rewritten at most once per quarter of its size appended,
//! so a build writes at most ~4 bytes of base per byte of journal,
//! amortised (today's full write is 4,000 bytes per byte of an N=10,000
//! touch-c batch).
//!
//! Safety: the new base is written as every base is (temporary file,
//! fsync, rename, fsync of the directory) and only then is the journal
//! replaced by an empty one for it. A kill before the rename leaves the
//! old base and its journal (and perhaps a temporary file, overwritten by
//! the next write); after it, the new base and the old journal, which
//! names the old base and is ignored.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use anyhow::{Context, Result};

use super::record::{
    BuildRecord, CommandRecord, FileRecord, FileRef, OutsideRecord, OutsideRef, Seen, SeenOutside,
    TreeEntry, TupfileRecord, VariableRecord,
};
use super::{FileSlot, Index, IndexOptions, Open, OutsideSlot};
use crate::identity::StickyVar;
use crate::outside::OutsidePath;
use crate::paths::ProjPath;

/// Environment variable: `always` compacts after every build that appends,
/// `never` only when forced; unset or anything else: [`CompactPolicy`].
pub const COMPACT_ENV: &str = "TUPFS_COMPACT";

/// The most batches a journal holds before it is compacted.
pub const MAX_BATCHES: usize = 256;

/// A journal smaller than this is never compacted for its size (its
/// replay costs well under a millisecond), so a small project's base is
/// not rewritten at every build.
pub const MIN_BYTES: u64 = 64 * 1024;

/// When to compact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompactPolicy {
    /// At a quarter of the base or [`MAX_BATCHES`].
    Auto,
    /// After every append (tests).
    Always,
    /// Never on its own.
    Never,
}

impl CompactPolicy {
    /// The policy the environment asks for.
    pub fn from_env() -> CompactPolicy {
        match std::env::var(COMPACT_ENV).as_deref() {
            Ok("always") => CompactPolicy::Always,
            Ok("never") => CompactPolicy::Never,
            _ => CompactPolicy::Auto,
        }
    }

    /// Whether a journal of `journal_len` bytes and `batches` batches over
    /// a base of `base_len` bytes is due.
    pub fn due(self, base_len: u64, journal_len: u64, batches: usize) -> bool {
        match self {
            CompactPolicy::Always => batches > 0,
            CompactPolicy::Never => false,
            CompactPolicy::Auto => {
                (journal_len > MIN_BYTES && journal_len * 4 > base_len) || batches >= MAX_BATCHES
            }
        }
    }
}

/// Open the index at `path` with its journal and, if the journal holds
/// any batch, write them as one new base. Returns whether it did.
pub fn compact_now(path: &Path, options: &IndexOptions) -> Result<bool> {
    let index = match Index::open(path, options) {
        Open::Ready(index) => index,
        _ => return Ok(false),
    };
    if index.journal_batches() == 0 {
        return Ok(false);
    }
    let began = std::time::Instant::now();
    let record = index
        .to_record()
        .with_context(|| format!("cannot compact {}", path.display()))?;
    let options = index.options();
    drop(index);
    Index::write(path, &record, &options)?;
    log::debug!(
        "timing: compaction of {} commands in {:?}",
        record.commands.len(),
        began.elapsed()
    );
    Ok(true)
}

impl Index {
    /// The whole index (base and journal) as one record, as a full build
    /// would write it: only the files, outside files and variables that
    /// some command or Tupfile still names.
    pub fn to_record(&self) -> Result<BuildRecord> {
        let mut g = Gather {
            index: self,
            out: BuildRecord {
                generation: self.generation(),
                commands_are_rules: self.commands_are_rules(),
                all_up_to_date: self.all_up_to_date(),
                full_deps: self.full_deps(),
                has_transient: self.has_transient(),
                ..BuildRecord::default()
            },
            files: HashMap::new(),
            outside: HashMap::new(),
        };
        for cmd in self.commands() {
            let record = g.command(cmd)?;
            g.out.commands.push(record);
        }
        for tf in self.tupfiles() {
            let record = g.tupfile(tf)?;
            g.out.tupfiles.push(record);
        }
        g.out.tree = self
            .tree()
            .map(|(path, listing)| {
                Ok(TreeEntry {
                    path: ProjPath::new(path)?,
                    listing,
                })
            })
            .collect::<Result<_, crate::paths::PathError>>()?;
        let used: BTreeSet<&str> = g
            .out
            .commands
            .iter()
            .flat_map(|c| c.sticky.iter().map(|v| v.name.as_str()))
            .collect();
        let variables = self
            .variables()
            .filter(|(name, _)| used.contains(name))
            .map(|(name, value)| VariableRecord {
                name: name.to_string(),
                value,
            })
            .collect();
        g.out.variables = variables;
        Ok(g.out)
    }
}

/// Gathers the rows a record names, each once.
struct Gather<'a> {
    index: &'a Index,
    out: BuildRecord,
    files: HashMap<u32, FileRef>,
    outside: HashMap<u32, OutsideRef>,
}

impl Gather<'_> {
    fn file(&mut self, slot: FileSlot) -> Result<FileRef> {
        if let Some(&r) = self.files.get(&slot.0) {
            return Ok(r);
        }
        let view = self.index.file_at(slot).context("a read names no file")?;
        let record: FileRecord = view.to_record()?;
        let r = self.out.add_file(record);
        self.files.insert(slot.0, r);
        Ok(r)
    }

    fn outside(&mut self, slot: OutsideSlot) -> Result<OutsideRef> {
        if let Some(&r) = self.outside.get(&slot.0) {
            return Ok(r);
        }
        let view = self
            .index
            .outside_at(slot)
            .context("a read names no file")?;
        let record = OutsideRecord {
            path: OutsidePath::new(view.path()).map_err(anyhow::Error::msg)?,
            state: view.state(),
            digest: view.as_recorded().digest,
            recorded_at: view.as_recorded().recorded_at,
            since: view.since(),
        };
        let r = self.out.add_outside(record);
        self.outside.insert(slot.0, r);
        Ok(r)
    }

    fn command(&mut self, cmd: super::CommandView<'_>) -> Result<CommandRecord> {
        let mut refs = Vec::new();
        for o in cmd.reads() {
            refs.push(Seen {
                file: self.file(o.file)?,
                since: o.since,
            });
        }
        let mut outside = Vec::new();
        for (slot, since) in cmd.outside_reads() {
            outside.push(SeenOutside {
                file: self.outside(slot)?,
                since,
            });
        }
        for out in cmd.outputs().chain(cmd.extra_outputs()) {
            if let Some(slot) = self.index.file_slot(out) {
                self.file(slot)?;
            }
        }
        let mut record = cmd.to_record(&mut |_| FileRef(0))?;
        record.reads = refs;
        record.outside = outside;
        Ok(record)
    }

    fn tupfile(&mut self, tf: super::TupfileView<'_>) -> Result<TupfileRecord> {
        let mut reads = Vec::new();
        for o in tf.reads() {
            reads.push(Seen {
                file: self.file(o.file)?,
                since: o.since,
            });
        }
        Ok(TupfileRecord {
            variant: ProjPath::new(tf.variant())?,
            dir: ProjPath::new(tf.dir())?,
            tupfile: ProjPath::new(tf.tupfile())?,
            reads,
            vars: tf
                .vars()
                .map(|(name, value)| StickyVar {
                    name: name.to_string(),
                    value,
                })
                .collect(),
            depends_on: tf
                .depends_on()
                .map(ProjPath::new)
                .collect::<Result<_, _>>()?,
        })
    }
}
