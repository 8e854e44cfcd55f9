//! What one build changed in the index ([`Delta`]) and its flattening into
//! a journal batch ([`super::schema::Batch`]), whose rows name files and
//! commands by their slots in the merged index.

use std::collections::HashSet;

use anyhow::{bail, Result};

use super::journal::Facts;
use super::record::BuildRecord;
use super::schema::{Batch, PairRow, Span, Tables};
use super::write::{flatten_in, Layout};
use super::{CmdSlot, Index, IndexOptions};
use crate::paths::ProjPath;

/// One build's changes to an index: rows to add or replace and rows to
/// remove. Everything the index holds and the delta does not name stays
/// as it is.
#[derive(Clone, Debug, Default)]
pub struct Delta {
    /// Files and outside files added or replaced (by path: each with the
    /// whole row the build leaves), commands added or replaced, Tupfile
    /// read-sets added or replaced (by variant and directory), variables
    /// added or replaced (by name), the tree (when
    /// [`Delta::tree_changed`]), the new generation and flags.
    pub record: BuildRecord,
    /// For each of `record.commands`: the slot of the command with the
    /// same key it replaces (None: a new command).
    pub replaces: Vec<Option<CmdSlot>>,
    /// Commands removed.
    pub deleted: Vec<CmdSlot>,
    /// Tupfile read-sets removed, as (variant, directory).
    pub deleted_tupfiles: Vec<(ProjPath, ProjPath)>,
    /// `record.tree` replaces the tree.
    pub tree_changed: bool,
}

impl Delta {
    /// True when it changes nothing but the generation and flags.
    pub fn is_small(&self) -> bool {
        self.record.commands.is_empty() && self.record.files.is_empty()
    }
}

/// The flags word of `record`.
pub(crate) fn flags_of(record: &BuildRecord) -> u32 {
    use super::schema::{
        TABLES_ALL_UP_TO_DATE, TABLES_COMMANDS_ARE_RULES, TABLES_FULL_DEPS, TABLES_HAS_TRANSIENT,
    };
    let mut flags = 0;
    for (on, bit) in [
        (record.commands_are_rules, TABLES_COMMANDS_ARE_RULES),
        (record.all_up_to_date, TABLES_ALL_UP_TO_DATE),
        (record.full_deps, TABLES_FULL_DEPS),
        (record.has_transient, TABLES_HAS_TRANSIENT),
    ] {
        if on {
            flags |= bit;
        }
    }
    flags
}

/// The batch `delta` makes over `index`, serialised, and its facts.
pub(crate) fn batch_bytes(
    index: &Index,
    delta: &Delta,
    options: &IndexOptions,
) -> Result<(rkyv::util::AlignedVec<16>, Facts)> {
    let record = &delta.record;
    if delta.replaces.len() != record.commands.len() {
        bail!("the delta's replacements do not match its commands");
    }
    let file_slots = slots(
        record.files.iter().map(|f| f.path.as_str()),
        index.file_count() as u32,
        |p| index.file_slot(p).map(|s| s.0),
    )?;
    let outside_slots = slots(
        record.outside.iter().map(|f| f.path.as_str()),
        index.outside_count() as u32,
        |p| index.outside_slot(p).map(|s| s.0),
    )?;
    let mut next = index.command_count() as u32;
    let cmd_slots: Vec<u32> = delta
        .replaces
        .iter()
        .map(|r| match r {
            Some(slot) => slot.0,
            None => {
                next += 1;
                next - 1
            }
        })
        .collect();
    let files: Vec<u32> = (0..record.files.len() as u32).collect();
    let outside: Vec<u32> = (0..record.outside.len() as u32).collect();
    let layout = Layout {
        files: &files,
        slot_of: &file_slots,
        outside: &outside,
        outside_of: &outside_slots,
        sort_commands: false,
    };
    let mut tables = flatten_in(record, &layout)?;
    tables.outputs.clear();
    if !delta.tree_changed {
        tables.tree.clear();
    }
    let deleted_tupfiles = delta
        .deleted_tupfiles
        .iter()
        .map(|(v, d)| PairRow {
            name: push_text(&mut tables, v.as_str()),
            value: push_text(&mut tables, d.as_str()),
        })
        .collect();
    let facts = Facts {
        generation: record.generation,
        flags: tables.flags,
        change_mode: options.change_mode.to_byte(),
    };
    let batch = Batch {
        tables,
        file_slots,
        outside_slots,
        cmd_slots,
        deleted_cmds: delta.deleted.iter().map(|s| s.0).collect(),
        deleted_tupfiles,
        has_tree: delta.tree_changed,
        change_mode: facts.change_mode,
    };
    let bytes = rkyv::api::high::to_bytes_in::<_, rkyv::rancor::Error>(
        &batch,
        rkyv::util::AlignedVec::<16>::new(),
    )
    .map_err(|e| anyhow::anyhow!("cannot serialise the journal batch: {e}"))?;
    Ok((bytes, facts))
}

/// Each path's slot: the one `existing` gives, or the next new one from
/// `count` on; a path listed twice is an error.
fn slots<'a>(
    paths: impl Iterator<Item = &'a str>,
    count: u32,
    existing: impl Fn(&str) -> Option<u32>,
) -> Result<Vec<u32>> {
    let mut seen = HashSet::new();
    let mut next = count;
    let mut out = Vec::new();
    for p in paths {
        if !seen.insert(p) {
            bail!("the build record lists '{p}' twice");
        }
        out.push(existing(p).unwrap_or_else(|| {
            next += 1;
            next - 1
        }));
    }
    Ok(out)
}

fn push_text(t: &mut Tables, s: &str) -> Span {
    let span = Span {
        start: t.text.len() as u32,
        len: s.len() as u32,
    };
    t.text.extend_from_slice(s.as_bytes());
    span
}
