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

impl Index {
    fn str(&self, s: &ArchivedSpan) -> &str {
        self.tables().text.as_str().get(range(s)).unwrap_or("")
    }

    fn strs(&self, s: &ArchivedSpan) -> impl Iterator<Item = &str> + '_ {
        slice(&self.tables().strs, s).iter().map(|s| self.str(s))
    }

    fn observed(&self, s: &ArchivedSpan) -> impl Iterator<Item = Observed> + '_ {
        slice(&self.tables().reads, s).iter().map(|r| Observed {
            file: FileSlot(r.file.to_native()),
            since: Generation(r.since.to_native()),
        })
    }

    fn sticky_vars(&self, s: &ArchivedSpan) -> impl Iterator<Item = (&str, Digest)> + '_ {
        slice(&self.tables().sticky, s)
            .iter()
            .map(|v| (self.str(&v.name), Digest(v.digest)))
    }

    /// The generation of the build that wrote this index.
    pub fn generation(&self) -> Generation {
        Generation(self.tables().generation.to_native())
    }

    /// How many files are recorded.
    pub fn file_count(&self) -> usize {
        self.tables().files.len()
    }

    /// Every recorded file, sorted by path.
    pub fn files(&self) -> impl Iterator<Item = FileView<'_>> + '_ {
        (0..self.file_count() as u32).filter_map(|i| self.file_at(FileSlot(i)))
    }

    /// The file in `slot`.
    pub fn file_at(&self, slot: FileSlot) -> Option<FileView<'_>> {
        let row = self.tables().files.get(slot.0 as usize)?;
        Some(FileView {
            index: self,
            slot,
            row,
        })
    }

    /// The slot of `path`, by binary search.
    pub fn file_slot(&self, path: &str) -> Option<FileSlot> {
        let files = &self.tables().files;
        files
            .binary_search_by(|row| self.str(&row.path).cmp(path))
            .ok()
            .map(|i| FileSlot(i as u32))
    }

    /// True when some recorded file lies below directory `dir` (sorted
    /// paths: one binary search).
    pub fn has_file_under(&self, dir: &str) -> bool {
        let below = format!("{dir}/");
        let files = &self.tables().files;
        let first = files.partition_point(|row| self.str(&row.path) < below.as_str());
        files
            .get(first)
            .is_some_and(|row| self.str(&row.path).starts_with(&below))
    }

    /// The recorded file at `path`.
    pub fn file(&self, path: &str) -> Option<FileView<'_>> {
        self.file_at(self.file_slot(path)?)
    }

    /// How many outside files are recorded (full dependencies).
    pub fn outside_count(&self) -> usize {
        self.tables().outside.len()
    }

    /// Every recorded outside file, sorted by path.
    pub fn outside_files(&self) -> impl Iterator<Item = OutsideView<'_>> + '_ {
        (0..self.outside_count() as u32).filter_map(|i| self.outside_at(OutsideSlot(i)))
    }

    /// The outside file in `slot`.
    pub fn outside_at(&self, slot: OutsideSlot) -> Option<OutsideView<'_>> {
        let row = self.tables().outside.get(slot.0 as usize)?;
        Some(OutsideView {
            file: FileView {
                index: self,
                slot: FileSlot(slot.0),
                row,
            },
            slot,
        })
    }

    /// The slot of the outside file `path` (absolute), by binary search.
    pub fn outside_slot(&self, path: &str) -> Option<OutsideSlot> {
        self.tables()
            .outside
            .binary_search_by(|row| self.str(&row.path).cmp(path))
            .ok()
            .map(|i| OutsideSlot(i as u32))
    }

    /// How many commands are recorded.
    pub fn command_count(&self) -> usize {
        self.tables().commands.len()
    }

    /// Every recorded command, sorted by key.
    pub fn commands(&self) -> impl Iterator<Item = CommandView<'_>> + '_ {
        (0..self.command_count() as u32).filter_map(|i| self.command_at(CmdSlot(i)))
    }

    /// The command in `slot`.
    pub fn command_at(&self, slot: CmdSlot) -> Option<CommandView<'_>> {
        let row = self.tables().commands.get(slot.0 as usize)?;
        Some(CommandView {
            index: self,
            slot,
            row,
        })
    }

    /// The commands with this key (usually one; identical text in the same
    /// directory gives several, told apart by their outputs).
    pub fn commands_by_key(&self, key: &CommandKey) -> impl Iterator<Item = CommandView<'_>> + '_ {
        let cmds = &self.tables().commands;
        let first = cmds.partition_point(|row| row.key < key.0 .0);
        let key = key.0 .0;
        (first..cmds.len())
            .take_while(move |&i| cmds.get(i).is_some_and(|row| row.key == key))
            .filter_map(|i| self.command_at(CmdSlot(i as u32)))
    }

    /// The command that produces `path` (an output or extra output).
    pub fn command_by_output(&self, path: &str) -> Option<CommandView<'_>> {
        let outs = &self.tables().outputs;
        let i = outs
            .binary_search_by(|row| self.str(&row.path).cmp(path))
            .ok()?;
        self.command_at(CmdSlot(outs.get(i)?.cmd.to_native()))
    }

    /// Every recorded output and extra output, sorted by path.
    pub fn output_paths(&self) -> impl Iterator<Item = &str> + '_ {
        self.tables().outputs.iter().map(|row| self.str(&row.path))
    }

    /// The recorded digest of a variable's value, by name (`@X`, `$X`).
    pub fn variable(&self, name: &str) -> Option<Digest> {
        let vars = &self.tables().variables;
        let i = vars
            .binary_search_by(|row| self.str(&row.name).cmp(name))
            .ok()?;
        Some(Digest(vars.get(i)?.digest))
    }

    /// Every recorded variable, sorted by name.
    pub fn variables(&self) -> impl Iterator<Item = (&str, Digest)> + '_ {
        self.tables()
            .variables
            .iter()
            .map(|v| (self.str(&v.name), Digest(v.digest)))
    }

    /// The parse read-set of the Tupfile of source directory `dir` in
    /// `variant` (`""` in-tree).
    pub fn tupfile(&self, variant: &str, dir: &str) -> Option<TupfileView<'_>> {
        let tfs = &self.tables().tupfiles;
        let i = tfs
            .binary_search_by(|row| {
                (self.str(&row.variant), self.str(&row.dir)).cmp(&(variant, dir))
            })
            .ok()?;
        Some(TupfileView {
            index: self,
            row: tfs.get(i)?,
        })
    }

    /// The source tree as the last parse saw it: (path, listing), sorted.
    pub fn tree(&self) -> impl Iterator<Item = (&str, Listing)> + '_ {
        self.tables().tree.iter().map(|row| {
            let listing = Listing {
                files: Digest(row.files),
                dirs: Digest(row.dirs),
            };
            (self.str(&row.path), listing)
        })
    }

    /// True when the recorded commands are exactly the last parse's rules
    /// (see [`super::BuildRecord::commands_are_rules`]).
    pub fn commands_are_rules(&self) -> bool {
        self.tables().flags.to_native() & TABLES_COMMANDS_ARE_RULES != 0
    }

    /// True when the build that wrote the index left every command up to
    /// date (see [`super::BuildRecord::all_up_to_date`]).
    pub fn all_up_to_date(&self) -> bool {
        self.tables().flags.to_native() & TABLES_ALL_UP_TO_DATE != 0
    }

    /// The build that wrote this index traced reads outside the project
    /// ([`super::BuildRecord::full_deps`]).
    pub fn full_deps(&self) -> bool {
        self.tables().flags.to_native() & TABLES_FULL_DEPS != 0
    }

    /// Every recorded Tupfile read-set, sorted by (variant, directory).
    pub fn tupfiles(&self) -> impl Iterator<Item = TupfileView<'_>> + '_ {
        self.tables()
            .tupfiles
            .iter()
            .map(|row| TupfileView { index: self, row })
    }
}

/// A recorded file, read in place.
#[derive(Clone, Copy)]
pub struct FileView<'a> {
    index: &'a Index,
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
        self.index.str(&self.row.path)
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
    index: &'a Index,
    slot: CmdSlot,
    row: &'a ArchivedCmdRow,
}

impl<'a> CommandView<'a> {
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
        self.index.str(&self.row.dir)
    }

    /// The source directory the rule was written for.
    pub fn source_dir(&self) -> &'a str {
        self.index.str(&self.row.source_dir)
    }

    /// The variant directory the rule belongs to (the root in-tree).
    pub fn variant(&self) -> &'a str {
        self.index.str(&self.row.variant)
    }

    /// The exact shell command.
    pub fn command(&self) -> &'a str {
        self.index.str(&self.row.command)
    }

    /// The display text, if the rule had one.
    pub fn display(&self) -> Option<&'a str> {
        (self.flags() & CMD_HAS_DISPLAY != 0).then(|| self.index.str(&self.row.display))
    }

    /// Where the rule was written: file and line.
    pub fn location(&self) -> (&'a str, u32) {
        (
            self.index.str(&self.row.location_file),
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
        self.index.strs(&self.row.inputs)
    }

    /// Declared order-only inputs.
    pub fn order_only(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.index.strs(&self.row.order_only)
    }

    /// Outputs (in `%o`).
    pub fn outputs(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.index.strs(&self.row.outputs)
    }

    /// Extra outputs (not in `%o`).
    pub fn extra_outputs(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.index.strs(&self.row.extra_outputs)
    }

    /// Output `^REGEX` ignore patterns.
    pub fn ignore(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.index.strs(&self.row.ignore)
    }

    /// Exported environment variable names.
    pub fn exports(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.index.strs(&self.row.exports)
    }

    /// Input groups as (directory, name).
    pub fn input_groups(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let index = self.index;
        slice(&index.tables().groups, &self.row.input_groups)
            .iter()
            .map(move |g| (index.str(&g.dir), index.str(&g.name)))
    }

    /// The group its outputs join, as (directory, name).
    pub fn output_group(&self) -> Option<(&'a str, &'a str)> {
        let g = &self.row.output_group;
        (self.flags() & CMD_HAS_OUTPUT_GROUP != 0)
            .then(|| (self.index.str(&g.dir), self.index.str(&g.name)))
    }

    /// The config values it used, as (name, value).
    pub fn config_used(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let index = self.index;
        slice(&index.tables().pairs, &self.row.config_used)
            .iter()
            .map(move |p| (index.str(&p.name), index.str(&p.value)))
    }

    /// The sticky variables in its signature, as (name, value digest).
    pub fn sticky(&self) -> impl Iterator<Item = (&'a str, Digest)> + 'a {
        self.index.sticky_vars(&self.row.sticky)
    }

    /// What it was seen to read.
    pub fn reads(&self) -> impl Iterator<Item = Observed> + 'a {
        self.index.observed(&self.row.reads)
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
        slice(&self.index.tables().outside_reads, &self.row.outside)
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
    index: &'a Index,
    row: &'a ArchivedTupfileRow,
}

impl<'a> TupfileView<'a> {
    /// The variant (`""` in-tree).
    pub fn variant(&self) -> &'a str {
        self.index.str(&self.row.variant)
    }

    /// The source directory whose Tupfile was parsed.
    pub fn dir(&self) -> &'a str {
        self.index.str(&self.row.dir)
    }

    /// The file read for the directory (its Tupfile or a Tupdefault).
    pub fn tupfile(&self) -> &'a str {
        self.index.str(&self.row.tupfile)
    }

    /// Directories whose Tupfiles had to be parsed first: re-parsing one of
    /// them re-parses this one.
    pub fn depends_on(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.index.strs(&self.row.depends_on)
    }

    /// The files and directories the parse read.
    pub fn reads(&self) -> impl Iterator<Item = Observed> + 'a {
        self.index.observed(&self.row.reads)
    }

    /// The variables the parse read, as (name, value digest).
    pub fn vars(&self) -> impl Iterator<Item = (&'a str, Digest)> + 'a {
        self.index.sticky_vars(&self.row.vars)
    }
}
