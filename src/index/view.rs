//! Reading an opened [`Index`] in place: lookups by path, key and output
//! (binary search over the sorted tables) and borrowed views of rows.
//! Every access is bounds-checked with `get`, so even a forged file that
//! passed validation cannot make a lookup panic.

use std::ops::Range;

use super::record::{CommandRecord, FileRecord, FileRef, Generation, Listing, Seen};
use super::schema::*;
use super::{CmdSlot, FileSlot, Index, OutsideSlot};
use crate::change::{FileKind, FileState, Moment, Recorded};
use crate::identity::{CommandKey, Digest, Signature, StickyVar};
use crate::paths::{PathError, ProjPath};
use crate::tupfile::{GroupRef, Location, Rule, RuleFlags};

fn range(s: &ArchivedSpan) -> Range<usize> {
    let start = s.start.to_native() as usize;
    start..start.saturating_add(s.len.to_native() as usize)
}

fn slice<'a, T>(items: &'a [T], s: &ArchivedSpan) -> &'a [T] {
    items.get(range(s)).unwrap_or(&[])
}

/// One observed input in an opened index: the file's slot and the
/// generation of its contents the reader saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Observed {
    /// The file.
    pub file: FileSlot,
    /// Its [`FileRecord::since`] when read.
    pub since: Generation,
}

/// The text of span `s` in tables `t`.
pub(crate) fn text<'a>(t: &'a ArchivedTables, s: &ArchivedSpan) -> &'a str {
    let bytes = t.text.get(range(s)).unwrap_or_default();
    std::str::from_utf8(bytes).unwrap_or("")
}

fn strs<'a>(t: &'a ArchivedTables, s: &ArchivedSpan) -> impl Iterator<Item = &'a str> + 'a {
    slice(&t.strs, s).iter().map(move |s| text(t, s))
}

fn observed<'a>(t: &'a ArchivedTables, s: &ArchivedSpan) -> impl Iterator<Item = Observed> + 'a {
    slice(&t.reads, s).iter().map(|r| Observed {
        file: FileSlot(r.file.to_native()),
        since: Generation(r.since.to_native()),
    })
}

fn sticky_vars<'a>(
    t: &'a ArchivedTables,
    s: &ArchivedSpan,
) -> impl Iterator<Item = (&'a str, Digest)> + 'a {
    slice(&t.sticky, s)
        .iter()
        .map(move |v| (text(t, &v.name), Digest(v.digest)))
}

/// Where a row of the merged index lives: the base or a journal batch.
enum At<'a, R> {
    /// Read in the base (or in a batch), from these tables.
    Row(&'a ArchivedTables, &'a R),
    /// Not there (removed, or out of range).
    Gone,
}

impl Index {
    /// The base's tables.
    fn base(&self) -> &ArchivedTables {
        self.tables()
    }

    /// The tables of journal batch `b`.
    fn batch_tables(&self, b: u32) -> &ArchivedTables {
        &self.overlay.batch(b).tables
    }

    fn base_str(&self, s: &ArchivedSpan) -> &str {
        text(self.base(), s)
    }

    /// The generation of the build that wrote this index (the last batch
    /// of its journal, else the base).
    pub fn generation(&self) -> Generation {
        match self.overlay.last {
            Some(f) => f.generation,
            None => Generation(self.base().generation.to_native()),
        }
    }

    /// How many file slots there are (the base's, then the journal's new
    /// files).
    pub fn file_count(&self) -> usize {
        self.overlay.file_count as usize
    }

    /// Every recorded file, by slot (the base's sorted by path, then the
    /// journal's new ones).
    pub fn files(&self) -> impl Iterator<Item = FileView<'_>> + '_ {
        (0..self.file_count() as u32).filter_map(|i| self.file_at(FileSlot(i)))
    }

    fn file_row(&self, slot: u32) -> At<'_, ArchivedFileRow> {
        if let Some(r) = self.overlay.files.get(&slot) {
            let t = self.batch_tables(r.batch);
            return match t.files.get(r.row as usize) {
                Some(row) => At::Row(t, row),
                None => At::Gone,
            };
        }
        match self.base().files.get(slot as usize) {
            Some(row) => At::Row(self.base(), row),
            None => At::Gone,
        }
    }

    /// The file in `slot`.
    pub fn file_at(&self, slot: FileSlot) -> Option<FileView<'_>> {
        match self.file_row(slot.0) {
            At::Row(t, row) => Some(FileView { t, slot, row }),
            At::Gone => None,
        }
    }

    /// The slot of `path` (the journal's new files by hash, the base's by
    /// binary search).
    pub fn file_slot(&self, path: &str) -> Option<FileSlot> {
        if let Some(&slot) = self.overlay.new_files.get(path) {
            return Some(FileSlot(slot));
        }
        let files = &self.base().files;
        files
            .binary_search_by(|row| self.base_str(&row.path).cmp(path))
            .ok()
            .map(|i| FileSlot(i as u32))
    }

    /// True when some recorded file lies below directory `dir` (sorted
    /// paths: one binary search; the journal's new files by a pass).
    pub fn has_file_under(&self, dir: &str) -> bool {
        let below = format!("{dir}/");
        let files = &self.base().files;
        let first = files.partition_point(|row| self.base_str(&row.path) < below.as_str());
        let in_base = files
            .get(first)
            .is_some_and(|row| self.base_str(&row.path).starts_with(&below));
        in_base || self.overlay.new_files.keys().any(|p| p.starts_with(&below))
    }

    /// The recorded file at `path`.
    pub fn file(&self, path: &str) -> Option<FileView<'_>> {
        self.file_at(self.file_slot(path)?)
    }

    /// How many outside files are recorded (full dependencies).
    pub fn outside_count(&self) -> usize {
        self.overlay.outside_count as usize
    }

    /// Every recorded outside file, by slot.
    pub fn outside_files(&self) -> impl Iterator<Item = OutsideView<'_>> + '_ {
        (0..self.outside_count() as u32).filter_map(|i| self.outside_at(OutsideSlot(i)))
    }

    /// The outside file in `slot`.
    pub fn outside_at(&self, slot: OutsideSlot) -> Option<OutsideView<'_>> {
        let (t, row) = match self.overlay.outside.get(&slot.0) {
            Some(r) => {
                let t = self.batch_tables(r.batch);
                (t, t.outside.get(r.row as usize)?)
            }
            None => (self.base(), self.base().outside.get(slot.0 as usize)?),
        };
        Some(OutsideView {
            file: FileView {
                t,
                slot: FileSlot(slot.0),
                row,
            },
            slot,
        })
    }

    /// The slot of the outside file `path` (absolute).
    pub fn outside_slot(&self, path: &str) -> Option<OutsideSlot> {
        if let Some(&slot) = self.overlay.new_outside.get(path) {
            return Some(OutsideSlot(slot));
        }
        self.base()
            .outside
            .binary_search_by(|row| self.base_str(&row.path).cmp(path))
            .ok()
            .map(|i| OutsideSlot(i as u32))
    }

    /// How many command slots there are (removed commands leave theirs
    /// empty until the next compaction).
    pub fn command_count(&self) -> usize {
        self.overlay.cmd_count as usize
    }

    /// How many commands the index holds (slots of removed ones left out).
    pub fn live_command_count(&self) -> usize {
        let removed = self.overlay.cmds.values().filter(|r| r.is_none()).count();
        self.command_count() - removed
    }

    /// Every recorded command (the base's sorted by key, then the
    /// journal's new ones).
    pub fn commands(&self) -> impl Iterator<Item = CommandView<'_>> + '_ {
        (0..self.command_count() as u32).filter_map(|i| self.command_at(CmdSlot(i)))
    }

    /// The command in `slot` (None: no such slot, or removed).
    pub fn command_at(&self, slot: CmdSlot) -> Option<CommandView<'_>> {
        let (t, row) = match self.overlay.cmds.get(&slot.0) {
            Some(Some(r)) => {
                let t = self.batch_tables(r.batch);
                (t, t.commands.get(r.row as usize)?)
            }
            Some(None) => return None,
            None => (self.base(), self.base().commands.get(slot.0 as usize)?),
        };
        Some(CommandView { t, slot, row })
    }

    /// The commands with this key (usually one; identical text in the same
    /// directory gives several, told apart by their outputs).
    pub fn commands_by_key(&self, key: &CommandKey) -> impl Iterator<Item = CommandView<'_>> + '_ {
        let cmds = &self.base().commands;
        let first = cmds.partition_point(|row| row.key < key.0 .0);
        let raw = key.0 .0;
        let base = (first..cmds.len())
            .take_while(move |&i| cmds.get(i).is_some_and(|row| row.key == raw))
            .map(|i| i as u32);
        let new = self
            .overlay
            .new_by_key
            .get(&raw)
            .into_iter()
            .flatten()
            .copied();
        base.chain(new)
            .filter_map(|i| self.command_at(CmdSlot(i)))
            .filter(move |c| c.row.key == raw)
    }

    /// The command that produces `path` (an output or extra output).
    pub fn command_by_output(&self, path: &str) -> Option<CommandView<'_>> {
        if let Some(slot) = self.overlay.outputs.get(path) {
            return self.command_at(CmdSlot((*slot)?));
        }
        let outs = &self.base().outputs;
        let i = outs
            .binary_search_by(|row| self.base_str(&row.path).cmp(path))
            .ok()?;
        self.command_at(CmdSlot(outs.get(i)?.cmd.to_native()))
    }

    /// True when `path` is among [`Index::output_paths`] (one lookup: no
    /// set of every output to build first).
    pub fn is_output(&self, path: &str) -> bool {
        if let Some(slot) = self.overlay.outputs.get(path) {
            return slot.is_some();
        }
        let outs = &self.base().outputs;
        outs.binary_search_by(|row| self.base_str(&row.path).cmp(path))
            .is_ok()
    }

    /// Every recorded output and extra output (the base's sorted by path,
    /// then the journal's, unsorted).
    pub fn output_paths(&self) -> impl Iterator<Item = &str> + '_ {
        let over = &self.overlay.outputs;
        let base = self
            .base()
            .outputs
            .iter()
            .map(|row| self.base_str(&row.path))
            .filter(move |p| !over.contains_key(*p));
        let new = over
            .iter()
            .filter(|(_, slot)| slot.is_some())
            .map(|(p, _)| p.as_str());
        base.chain(new)
    }

    /// The recorded digest of a variable's value, by name (`@X`, `$X`).
    pub fn variable(&self, name: &str) -> Option<Digest> {
        if let Some(d) = self.overlay.variables.get(name) {
            return Some(Digest(*d));
        }
        let vars = &self.base().variables;
        let i = vars
            .binary_search_by(|row| self.base_str(&row.name).cmp(name))
            .ok()?;
        Some(Digest(vars.get(i)?.digest))
    }

    /// Every recorded variable, sorted by name.
    pub fn variables(&self) -> impl Iterator<Item = (&str, Digest)> + '_ {
        let over = &self.overlay.variables;
        let base = self
            .base()
            .variables
            .iter()
            .map(|v| (self.base_str(&v.name), Digest(v.digest)))
            .filter(move |(n, _)| !over.contains_key(*n));
        let mut all: Vec<(&str, Digest)> = base
            .chain(over.iter().map(|(n, d)| (n.as_str(), Digest(*d))))
            .collect();
        all.sort_by(|a, b| a.0.cmp(b.0));
        all.into_iter()
    }

    /// The parse read-set of the Tupfile of source directory `dir` in
    /// `variant` (`""` in-tree).
    pub fn tupfile(&self, variant: &str, dir: &str) -> Option<TupfileView<'_>> {
        let key = (variant.to_string(), dir.to_string());
        if let Some(r) = self.overlay.tupfiles.get(&key) {
            let r = (*r)?;
            let t = self.batch_tables(r.batch);
            let row = t.tupfiles.get(r.row as usize)?;
            return Some(TupfileView { t, row });
        }
        let tfs = &self.base().tupfiles;
        let i = tfs
            .binary_search_by(|row| {
                (self.base_str(&row.variant), self.base_str(&row.dir)).cmp(&(variant, dir))
            })
            .ok()?;
        Some(TupfileView {
            t: self.base(),
            row: tfs.get(i)?,
        })
    }

    /// The source tree as the last parse saw it: (path, listing), sorted.
    pub fn tree(&self) -> impl Iterator<Item = (&str, Listing)> + '_ {
        let t = match self.overlay.tree {
            Some(b) => self.batch_tables(b),
            None => self.base(),
        };
        t.tree.iter().map(move |row| {
            let listing = Listing {
                files: Digest(row.files),
                dirs: Digest(row.dirs),
            };
            (text(t, &row.path), listing)
        })
    }

    fn flags(&self) -> u32 {
        match self.overlay.last {
            Some(f) => f.flags,
            None => self.base().flags.to_native(),
        }
    }

    /// True when the recorded commands are exactly the last parse's rules
    /// (see [`super::BuildRecord::commands_are_rules`]).
    pub fn commands_are_rules(&self) -> bool {
        self.flags() & TABLES_COMMANDS_ARE_RULES != 0
    }

    /// True when the build that wrote the index left every command up to
    /// date (see [`super::BuildRecord::all_up_to_date`]).
    pub fn all_up_to_date(&self) -> bool {
        self.flags() & TABLES_ALL_UP_TO_DATE != 0
    }

    /// Some recorded command is a `^t` rule
    /// ([`super::BuildRecord::has_transient`]).
    pub fn has_transient(&self) -> bool {
        self.flags() & TABLES_HAS_TRANSIENT != 0
    }

    /// The build that wrote this index traced reads outside the project
    /// ([`super::BuildRecord::full_deps`]).
    pub fn full_deps(&self) -> bool {
        self.flags() & TABLES_FULL_DEPS != 0
    }

    /// Every recorded Tupfile read-set, sorted by (variant, directory).
    pub fn tupfiles(&self) -> impl Iterator<Item = TupfileView<'_>> + '_ {
        let over = &self.overlay.tupfiles;
        let base = self.base();
        let mut all: Vec<((&str, &str), TupfileView<'_>)> = base
            .tupfiles
            .iter()
            .map(|row| {
                let key = (text(base, &row.variant), text(base, &row.dir));
                (key, TupfileView { t: base, row })
            })
            .filter(|((v, d), _)| !over.contains_key(&(v.to_string(), d.to_string())))
            .collect();
        for ((v, d), r) in over {
            let Some(r) = r else { continue };
            let t = self.batch_tables(r.batch);
            if let Some(row) = t.tupfiles.get(r.row as usize) {
                all.push(((v.as_str(), d.as_str()), TupfileView { t, row }));
            }
        }
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all.into_iter().map(|(_, v)| v)
    }
}

/// A recorded file, read in place.
#[derive(Clone, Copy)]
pub struct FileView<'a> {
    t: &'a ArchivedTables,
    slot: FileSlot,
    row: &'a ArchivedFileRow,
}

impl<'a> FileView<'a> {
    /// Its slot.
    pub fn slot(&self) -> FileSlot {
        self.slot
    }

    /// Its project-relative path.
    pub fn path(&self) -> &'a str {
        text(self.t, &self.row.path)
    }

    /// The recorded state (`None`: nothing was there).
    pub fn state(&self) -> Option<FileState> {
        let kind = match self.row.kind {
            KIND_ABSENT => return None,
            1 => FileKind::File,
            2 => FileKind::Dir,
            3 => FileKind::Symlink,
            _ => FileKind::Other,
        };
        Some(FileState {
            kind,
            mtime_ns: self.row.mtime_ns.to_native(),
            ctime_ns: self.row.ctime_ns.to_native(),
            size: self.row.size.to_native(),
            ino: self.row.ino.to_native(),
        })
    }

    /// The recorded digest, if one was computed.
    pub fn digest(&self) -> Option<Digest> {
        (self.row.flags & FILE_HAS_DIGEST != 0).then_some(Digest(self.row.digest))
    }

    /// True for a file some command produces.
    pub fn generated(&self) -> bool {
        self.row.flags & FILE_GENERATED != 0
    }

    /// When the state was taken.
    pub fn recorded_at(&self) -> Moment {
        Moment(self.row.recorded_at.to_native())
    }

    /// The generation in which its contents last changed.
    pub fn since(&self) -> Generation {
        Generation(self.row.since.to_native())
    }

    /// What the change detector needs.
    pub fn as_recorded(&self) -> Recorded {
        Recorded {
            state: self.state(),
            digest: self.digest(),
            generated: self.generated(),
            recorded_at: self.recorded_at(),
        }
    }

    /// An owned copy, to carry into the next build's record.
    pub fn to_record(&self) -> Result<FileRecord, PathError> {
        Ok(FileRecord {
            path: ProjPath::new(self.path())?,
            state: self.state(),
            digest: self.digest(),
            generated: self.generated(),
            recorded_at: self.recorded_at(),
            since: self.since(),
        })
    }
}

impl std::fmt::Debug for FileView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileView")
            .field("path", &self.path())
            .field("state", &self.state())
            .field("since", &self.since())
            .finish()
    }
}

/// A recorded file outside the project (full dependencies), read in place.
#[derive(Clone, Copy)]
pub struct OutsideView<'a> {
    /// The row, read as a file's (its `slot` is meaningless).
    file: FileView<'a>,
    slot: OutsideSlot,
}

impl<'a> OutsideView<'a> {
    /// Its slot.
    pub fn slot(&self) -> OutsideSlot {
        self.slot
    }

    /// The absolute path.
    pub fn path(&self) -> &'a str {
        self.file.path()
    }

    /// The recorded state (`None`: a ghost).
    pub fn state(&self) -> Option<FileState> {
        self.file.state()
    }

    /// The generation in which its contents last changed.
    pub fn since(&self) -> Generation {
        self.file.since()
    }

    /// What the change detector needs (judged as a source file).
    pub fn as_recorded(&self) -> Recorded {
        self.file.as_recorded()
    }
}

/// A recorded command, read in place.
#[derive(Clone, Copy)]
pub struct CommandView<'a> {
    t: &'a ArchivedTables,
    slot: CmdSlot,
    row: &'a ArchivedCmdRow,
}

impl<'a> CommandView<'a> {
    /// The command in `row` of tables `t`, as slot `slot`.
    pub(crate) fn of(t: &'a ArchivedTables, slot: CmdSlot, row: &'a ArchivedCmdRow) -> Self {
        CommandView { t, slot, row }
    }

    /// Its slot.
    pub fn slot(&self) -> CmdSlot {
        self.slot
    }

    /// Its key.
    pub fn key(&self) -> CommandKey {
        CommandKey(Digest(self.row.key))
    }

    /// Its signature.
    pub fn signature(&self) -> Signature {
        Signature(Digest(self.row.signature))
    }

    /// It failed, was interrupted or never ran: it must run again.
    pub fn must_rerun(&self) -> bool {
        self.flags() & CMD_MUST_RERUN != 0
    }

    /// Its place in the parse's rule order ([`CommandRecord::position`]).
    pub fn position(&self) -> u32 {
        self.row.position.to_native()
    }

    /// The directory it runs in.
    pub fn dir(&self) -> &'a str {
        text(self.t, &self.row.dir)
    }

    /// The source directory the rule was written for.
    pub fn source_dir(&self) -> &'a str {
        text(self.t, &self.row.source_dir)
    }

    /// The variant directory the rule belongs to (the root in-tree).
    pub fn variant(&self) -> &'a str {
        text(self.t, &self.row.variant)
    }

    /// The exact shell command.
    pub fn command(&self) -> &'a str {
        text(self.t, &self.row.command)
    }

    /// The display text, if the rule had one.
    pub fn display(&self) -> Option<&'a str> {
        (self.flags() & CMD_HAS_DISPLAY != 0).then(|| text(self.t, &self.row.display))
    }

    /// Where the rule was written: file and line.
    pub fn location(&self) -> (&'a str, u32) {
        (
            text(self.t, &self.row.location_file),
            self.row.location_line.to_native(),
        )
    }

    /// The rule's `^` flags.
    pub fn rule_flags(&self) -> RuleFlags {
        let bit = |i: u16| self.flags() & (1 << i) != 0;
        RuleFlags {
            bash: bit(0),
            full_sandbox: bit(1),
            compile_db: bit(2),
            cutoff: bit(3),
            stream: bit(4),
            transient: bit(5),
        }
    }

    fn flags(&self) -> u16 {
        self.row.flags.to_native()
    }

    /// Declared inputs.
    pub fn inputs(&self) -> impl Iterator<Item = &'a str> + 'a {
        strs(self.t, &self.row.inputs)
    }

    /// Declared order-only inputs.
    pub fn order_only(&self) -> impl Iterator<Item = &'a str> + 'a {
        strs(self.t, &self.row.order_only)
    }

    /// Outputs (in `%o`).
    pub fn outputs(&self) -> impl Iterator<Item = &'a str> + 'a {
        strs(self.t, &self.row.outputs)
    }

    /// Extra outputs (not in `%o`).
    pub fn extra_outputs(&self) -> impl Iterator<Item = &'a str> + 'a {
        strs(self.t, &self.row.extra_outputs)
    }

    /// Output `^REGEX` ignore patterns.
    pub fn ignore(&self) -> impl Iterator<Item = &'a str> + 'a {
        strs(self.t, &self.row.ignore)
    }

    /// Exported environment variable names.
    pub fn exports(&self) -> impl Iterator<Item = &'a str> + 'a {
        strs(self.t, &self.row.exports)
    }

    /// Input groups as (directory, name).
    pub fn input_groups(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let t = self.t;
        slice(&t.groups, &self.row.input_groups)
            .iter()
            .map(move |g| (text(t, &g.dir), text(t, &g.name)))
    }

    /// The group its outputs join, as (directory, name).
    pub fn output_group(&self) -> Option<(&'a str, &'a str)> {
        let g = &self.row.output_group;
        (self.flags() & CMD_HAS_OUTPUT_GROUP != 0)
            .then(|| (text(self.t, &g.dir), text(self.t, &g.name)))
    }

    /// The config values it used, as (name, value).
    pub fn config_used(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let t = self.t;
        slice(&t.pairs, &self.row.config_used)
            .iter()
            .map(move |p| (text(t, &p.name), text(t, &p.value)))
    }

    /// The sticky variables in its signature, as (name, value digest).
    pub fn sticky(&self) -> impl Iterator<Item = (&'a str, Digest)> + 'a {
        sticky_vars(self.t, &self.row.sticky)
    }

    /// What it was seen to read.
    pub fn reads(&self) -> impl Iterator<Item = Observed> + 'a {
        observed(self.t, &self.row.reads)
    }

    /// The rule back, as the parser produced it.
    pub fn to_rule(&self) -> Result<Rule, PathError> {
        let paths = |it: &mut dyn Iterator<Item = &str>| -> Result<Vec<ProjPath>, PathError> {
            it.map(ProjPath::new).collect()
        };
        let group = |(dir, name): (&str, &str)| -> Result<GroupRef, PathError> {
            Ok(GroupRef {
                dir: ProjPath::new(dir)?,
                name: name.to_string(),
            })
        };
        let (file, line) = self.location();
        Ok(Rule {
            location: Location {
                file: ProjPath::new(file)?,
                line,
            },
            dir: ProjPath::new(self.dir())?,
            source_dir: ProjPath::new(self.source_dir())?,
            variant: ProjPath::new(self.variant())?,
            command: self.command().to_string(),
            display: self.display().map(String::from),
            flags: self.rule_flags(),
            inputs: paths(&mut self.inputs())?,
            order_only: paths(&mut self.order_only())?,
            input_groups: self.input_groups().map(group).collect::<Result<_, _>>()?,
            outputs: paths(&mut self.outputs())?,
            extra_outputs: paths(&mut self.extra_outputs())?,
            output_group: self.output_group().map(group).transpose()?,
            ignore: self.ignore().map(String::from).collect(),
            config_used: self
                .config_used()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            exports: self.exports().map(String::from).collect(),
        })
    }

    /// Full dependencies: the outside files it read or looked for, with
    /// the generation seen.
    pub fn outside_reads(&self) -> impl Iterator<Item = (OutsideSlot, Generation)> + 'a {
        slice(&self.t.outside_reads, &self.row.outside)
            .iter()
            .map(|r| {
                (
                    OutsideSlot(r.file.to_native()),
                    Generation(r.since.to_native()),
                )
            })
    }

    /// An owned copy for the next build's record (a command that did not
    /// run keeps its identity and observed inputs). `file_ref` maps this
    /// index's file slots to the new record's files.
    pub fn to_record(
        &self,
        file_ref: &mut dyn FnMut(FileSlot) -> FileRef,
    ) -> Result<CommandRecord, PathError> {
        Ok(CommandRecord {
            rule: self.to_rule()?,
            key: self.key(),
            signature: self.signature(),
            sticky: self
                .sticky()
                .map(|(name, value)| StickyVar {
                    name: name.to_string(),
                    value,
                })
                .collect(),
            must_rerun: self.must_rerun(),
            reads: self
                .reads()
                .map(|o| Seen {
                    file: file_ref(o.file),
                    since: o.since,
                })
                .collect(),
            // Carried by the caller, which maps outside slots (see
            // `exec::record`); a copy made here has none.
            outside: Vec::new(),
            position: self.position(),
        })
    }
}

impl std::fmt::Debug for CommandView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandView")
            .field("key", &self.key())
            .field("dir", &self.dir())
            .field("command", &self.command())
            .finish()
    }
}

/// A recorded Tupfile parse read-set, read in place.
#[derive(Clone, Copy)]
pub struct TupfileView<'a> {
    t: &'a ArchivedTables,
    row: &'a ArchivedTupfileRow,
}

impl<'a> TupfileView<'a> {
    /// The variant (`""` in-tree).
    pub fn variant(&self) -> &'a str {
        text(self.t, &self.row.variant)
    }

    /// The source directory whose Tupfile was parsed.
    pub fn dir(&self) -> &'a str {
        text(self.t, &self.row.dir)
    }

    /// The file read for the directory (its Tupfile or a Tupdefault).
    pub fn tupfile(&self) -> &'a str {
        text(self.t, &self.row.tupfile)
    }

    /// Directories whose Tupfiles had to be parsed first: re-parsing one of
    /// them re-parses this one.
    pub fn depends_on(&self) -> impl Iterator<Item = &'a str> + 'a {
        strs(self.t, &self.row.depends_on)
    }

    /// The files and directories the parse read.
    pub fn reads(&self) -> impl Iterator<Item = Observed> + 'a {
        observed(self.t, &self.row.reads)
    }

    /// The variables the parse read, as (name, value digest).
    pub fn vars(&self) -> impl Iterator<Item = (&'a str, Digest)> + 'a {
        sticky_vars(self.t, &self.row.vars)
    }
}
