//! The journal replayed over the base: which rows of which batch replace
//! or extend the base's, kept in hash maps so that lookups stay cheap and
//! readers of [`Index`] never see that a journal exists (see `view.rs`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use super::journal::{Facts, RawBatch};
use super::schema::{ArchivedBatch, ArchivedTables};
use super::view::text;
use super::{CmdSlot, FileSlot, Index};

/// A hash map keyed by a slot: every file's lookup during the scan and
/// the cone's pass consults one, so it hashes a `u32` with one multiply
/// (std's SipHash was a few per cent of an incremental build at N=10,000).
pub(crate) type SlotMap<V> = HashMap<u32, V, BuildHasherDefault<SlotHasher>>;

/// Fibonacci hashing of a slot: one multiply spreads the bits into the
/// high ones, which the table's control bytes use.
#[derive(Default)]
pub(crate) struct SlotHasher(u64);

impl Hasher for SlotHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A row of a journal batch.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RowRef {
    pub batch: u32,
    pub row: u32,
}

/// The merged state of the journal's batches (empty without a journal).
#[derive(Default)]
pub(crate) struct Overlay {
    batches: Vec<rkyv::util::AlignedVec<16>>,
    /// File slot → the batch row that replaces or adds it.
    pub files: SlotMap<RowRef>,
    pub file_count: u32,
    /// Path → slot of the files the base does not have.
    pub new_files: HashMap<String, u32>,
    pub outside: SlotMap<RowRef>,
    pub outside_count: u32,
    pub new_outside: HashMap<String, u32>,
    /// Command slot → its row (None: removed).
    pub cmds: SlotMap<Option<RowRef>>,
    pub cmd_count: u32,
    /// Key → slots of the commands the base does not have.
    pub new_by_key: HashMap<[u8; 32], Vec<u32>>,
    /// Output path → the command that makes it now (None: none does).
    pub outputs: HashMap<String, Option<u32>>,
    /// (variant, dir) → its read-set (None: removed).
    pub tupfiles: BTreeMap<(String, String), Option<RowRef>>,
    /// The batch whose tree replaces the base's.
    pub tree: Option<u32>,
    pub variables: BTreeMap<String, [u8; 32]>,
    /// The last batch's facts (None: no batch).
    pub last: Option<Facts>,
    /// The payload checksum of each batch replayed.
    pub checksums: Vec<u64>,
}

impl Overlay {
    /// An empty overlay over `base`.
    pub(crate) fn over(base: &ArchivedTables) -> Overlay {
        Overlay {
            file_count: base.files.len() as u32,
            outside_count: base.outside.len() as u32,
            cmd_count: base.commands.len() as u32,
            ..Overlay::default()
        }
    }

    /// Batch `b`, validated when replayed.
    pub(crate) fn batch(&self, b: u32) -> &ArchivedBatch {
        // SAFETY: `Index::replay` validated exactly these bytes with
        // `rkyv::access` before keeping them, and never changes them.
        unsafe { rkyv::access_unchecked::<ArchivedBatch>(&self.batches[b as usize]) }
    }

    /// How many batches were replayed.
    pub(crate) fn len(&self) -> usize {
        self.batches.len()
    }
}

/// What one batch changes, gathered (and checked) before anything is.
struct Changes {
    new_files: Vec<(String, u32)>,
    new_outside: Vec<(String, u32)>,
    gone_outputs: Vec<String>,
    new_outputs: Vec<(String, u32)>,
    new_cmds: Vec<([u8; 32], u32)>,
    tupfiles: Vec<((String, String), Option<RowRef>)>,
    variables: Vec<(String, [u8; 32])>,
}

impl Index {
    /// Replay `batches` over the base, in order; the first batch that is
    /// not consistent with what comes before it stops the replay (it and
    /// the rest are dropped: the reason is returned).
    pub(crate) fn replay(&mut self, batches: Vec<RawBatch>) -> Option<String> {
        let total = batches.len();
        for (i, raw) in batches.into_iter().enumerate() {
            if let Err(why) = self.apply(raw) {
                return Some(format!("journal batch {} of {total} dropped: {why}", i + 1));
            }
        }
        None
    }

    fn apply(&mut self, raw: RawBatch) -> Result<(), String> {
        let b = self.overlay.batches.len() as u32;
        let batch = rkyv::access::<ArchivedBatch, rkyv::rancor::Error>(&raw.payload)
            .map_err(|e| format!("invalid batch: {e}"))?;
        let t = &batch.tables;
        let facts = Facts {
            generation: super::Generation(t.generation.to_native()),
            flags: t.flags.to_native(),
            change_mode: batch.change_mode,
        };
        if facts != raw.facts {
            return Err("the frame's facts are not the batch's".into());
        }
        let changes = self.check(batch, b)?;
        let ov = &mut self.overlay;
        for (i, slot) in batch.file_slots.iter().enumerate() {
            ov.files.insert(
                slot.to_native(),
                RowRef {
                    batch: b,
                    row: i as u32,
                },
            );
        }
        for (i, slot) in batch.outside_slots.iter().enumerate() {
            ov.outside.insert(
                slot.to_native(),
                RowRef {
                    batch: b,
                    row: i as u32,
                },
            );
        }
        ov.file_count += changes.new_files.len() as u32;
        ov.new_files.extend(changes.new_files);
        ov.outside_count += changes.new_outside.len() as u32;
        ov.new_outside.extend(changes.new_outside);
        for slot in batch.deleted_cmds.iter() {
            ov.cmds.insert(slot.to_native(), None);
        }
        for (i, slot) in batch.cmd_slots.iter().enumerate() {
            ov.cmds.insert(
                slot.to_native(),
                Some(RowRef {
                    batch: b,
                    row: i as u32,
                }),
            );
        }
        ov.cmd_count += changes.new_cmds.len() as u32;
        for (key, slot) in changes.new_cmds {
            ov.new_by_key.entry(key).or_default().push(slot);
        }
        for p in changes.gone_outputs {
            ov.outputs.insert(p, None);
        }
        for (p, slot) in changes.new_outputs {
            ov.outputs.insert(p, Some(slot));
        }
        ov.tupfiles.extend(changes.tupfiles);
        ov.variables.extend(changes.variables);
        if batch.has_tree {
            ov.tree = Some(b);
        }
        ov.last = Some(facts);
        ov.checksums.push(raw.checksum);
        ov.batches.push(raw.payload);
        Ok(())
    }

    /// Check that `batch` (to be batch `b`) fits the index as it stands
    /// and gather what it changes.
    fn check(&self, batch: &ArchivedBatch, b: u32) -> Result<Changes, String> {
        let t = &batch.tables;
        if batch.file_slots.len() != t.files.len()
            || batch.outside_slots.len() != t.outside.len()
            || batch.cmd_slots.len() != t.commands.len()
        {
            return Err("slot lists do not match the rows".into());
        }
        if crate::options::ChangeMode::from_byte(batch.change_mode).is_none() {
            return Err(format!("unknown change mode {}", batch.change_mode));
        }
        let new_files = self.check_files(t, batch.file_slots.iter().map(|s| s.to_native()))?;
        let new_outside =
            self.check_outside(t, batch.outside_slots.iter().map(|s| s.to_native()))?;
        let file_count = self.overlay.file_count as usize + new_files.len();
        let outside_count = self.overlay.outside_count as usize + new_outside.len();
        if t.reads
            .iter()
            .any(|r| r.file.to_native() as usize >= file_count)
            || t.outside_reads
                .iter()
                .any(|r| r.file.to_native() as usize >= outside_count)
        {
            return Err("a read names a file slot that does not exist".into());
        }
        let mut gone_outputs = Vec::new();
        let count = self.overlay.cmd_count;
        for slot in batch.deleted_cmds.iter() {
            let cmd = self.command_at(CmdSlot(slot.to_native()));
            let cmd = cmd.ok_or("removes a command that is not there")?;
            gone_outputs.extend(cmd.outputs().chain(cmd.extra_outputs()).map(String::from));
        }
        let (mut new_outputs, mut new_cmds) = (Vec::new(), Vec::new());
        for (i, slot) in batch.cmd_slots.iter().enumerate() {
            let (slot, row) = (slot.to_native(), &t.commands[i]);
            if slot >= count {
                if slot != count + new_cmds.len() as u32 {
                    return Err("a new command's slot is out of order".into());
                }
                new_cmds.push((row.key, slot));
            } else {
                let old = self.command_at(CmdSlot(slot));
                let old = old.filter(|c| c.key().0 .0 == row.key);
                let old = old.ok_or("replaces a command that is not there")?;
                gone_outputs.extend(old.outputs().chain(old.extra_outputs()).map(String::from));
            }
            let view = super::CommandView::of(t, CmdSlot(slot), row);
            new_outputs.extend(
                view.outputs()
                    .chain(view.extra_outputs())
                    .map(|p| (p.to_string(), slot)),
            );
        }
        let mut tupfiles: Vec<_> = batch
            .deleted_tupfiles
            .iter()
            .map(|p| {
                (
                    (text(t, &p.name).to_string(), text(t, &p.value).to_string()),
                    None,
                )
            })
            .collect();
        for (i, row) in t.tupfiles.iter().enumerate() {
            let key = (
                text(t, &row.variant).to_string(),
                text(t, &row.dir).to_string(),
            );
            tupfiles.push((
                key,
                Some(RowRef {
                    batch: b,
                    row: i as u32,
                }),
            ));
        }
        let variables = t
            .variables
            .iter()
            .map(|v| (text(t, &v.name).to_string(), v.digest))
            .collect();
        Ok(Changes {
            new_files,
            new_outside,
            gone_outputs,
            new_outputs,
            new_cmds,
            tupfiles,
            variables,
        })
    }

    /// Check the batch's file slots (see [`check_slots`]).
    fn check_files(
        &self,
        t: &ArchivedTables,
        slots: impl Iterator<Item = u32>,
    ) -> Result<Vec<(String, u32)>, String> {
        let rows = t.files.iter().map(|row| text(t, &row.path)).zip(slots);
        check_slots(
            rows,
            self.overlay.file_count,
            "file",
            |slot, path| {
                self.file_at(FileSlot(slot))
                    .is_some_and(|f| f.path() == path)
            },
            |path| self.file_slot(path).is_some(),
        )
    }

    /// Check the batch's outside file slots (see [`check_slots`]).
    fn check_outside(
        &self,
        t: &ArchivedTables,
        slots: impl Iterator<Item = u32>,
    ) -> Result<Vec<(String, u32)>, String> {
        let rows = t.outside.iter().map(|row| text(t, &row.path)).zip(slots);
        check_slots(
            rows,
            self.overlay.outside_count,
            "outside file",
            |slot, path| {
                self.outside_at(super::OutsideSlot(slot))
                    .is_some_and(|f| f.path() == path)
            },
            |path| self.outside_slot(path).is_some(),
        )
    }
}

/// Check a batch's slots of one path space (`count` slots recorded so
/// far): no slot is listed twice, an existing slot holds the same path
/// (`holds`), and a new one comes next and names a path not recorded yet
/// (`known`). Returns the new (path, slot) pairs in order.
fn check_slots<'t>(
    rows: impl Iterator<Item = (&'t str, u32)>,
    count: u32,
    what: &str,
    holds: impl Fn(u32, &str) -> bool,
    known: impl Fn(&str) -> bool,
) -> Result<Vec<(String, u32)>, String> {
    let mut new: Vec<(String, u32)> = Vec::new();
    let mut seen = HashSet::new();
    let mut new_paths = HashSet::new();
    for (path, slot) in rows {
        if !seen.insert(slot) {
            return Err(format!("{what} slot {slot} listed twice"));
        }
        if slot < count {
            if !holds(slot, path) {
                return Err(format!("{what} slot {slot} is not '{path}'"));
            }
        } else if !new_paths.insert(path) || slot != count + new.len() as u32 || known(path) {
            return Err(format!("new {what} '{path}' in slot {slot} out of order"));
        } else {
            new.push((path.to_string(), slot));
        }
    }
    Ok(new)
}
