//! Flattening a [`BuildRecord`] into the archive's [`Tables`]: sorting the
//! tables lookups binary-search, interning strings into one text blob, and
//! turning the record's `FileRef`s into the index's file slots.

use std::collections::HashMap;

use anyhow::{bail, Result};
use xxhash_rust::xxh3::Xxh3DefaultBuilder;

use super::record::{BuildRecord, CommandRecord, FileRecord, OutsideRecord, Seen, SeenOutside};
use super::schema::*;
use crate::change::{FileKind, FileState};
use crate::identity::{Digest, StickyVar};
use crate::paths::ProjPath;
use crate::tupfile::{GroupRef, RuleFlags};

/// Flatten `record` into tables, checking what its docs promise (unique
/// file paths, every `FileRef` in range).
pub(crate) fn flatten(record: &BuildRecord) -> Result<Tables> {
    let (order, slot_of) = sorted_slots(&record.files, |f| &f.path)?;
    let (outside_order, outside_of) = sorted_slots(&record.outside, |f| &f.path)?;
    let layout = Layout {
        files: &order,
        slot_of: &slot_of,
        outside: &outside_order,
        outside_of: &outside_of,
        sort_commands: true,
    };
    flatten_in(record, &layout)
}

/// Where [`flatten_in`] puts rows: the base sorts them (files by path,
/// commands by key); a journal batch keeps the record's order and names
/// files by their slots in the merged index.
pub(crate) struct Layout<'a> {
    /// The record's files in row order.
    pub files: &'a [u32],
    /// Each record file's slot (what reads name).
    pub slot_of: &'a [u32],
    /// The record's outside files in row order.
    pub outside: &'a [u32],
    /// Each record outside file's slot.
    pub outside_of: &'a [u32],
    /// Sort the commands by key (else keep the record's order).
    pub sort_commands: bool,
}

/// Flatten `record` into tables laid out as `layout` says.
pub(crate) fn flatten_in(record: &BuildRecord, layout: &Layout<'_>) -> Result<Tables> {
    let mut f = Flattener {
        t: Tables::default(),
        text: String::new(),
        // Every file's path and most commands' strings are distinct.
        interned: HashMap::with_capacity_and_hasher(
            record.files.len() + 4 * record.commands.len(),
            Xxh3DefaultBuilder::new(),
        ),
        sticky_lists: HashMap::default(),
    };
    f.t.generation = record.generation.0;
    f.reserve(record);
    f.files(&record.files, layout.files);
    f.outside(&record.outside, layout.outside);
    f.commands(record, layout)?;
    f.variables(record);
    f.tupfiles(record, layout.slot_of)?;
    f.tree(record);
    f.t.flags = super::delta::flags_of(record);
    // A whole record holds every command: its own `^t` rules count even
    // when the record's maker did not set the flag.
    if record.commands.iter().any(|c| c.rule.flags.transient) {
        f.t.flags |= TABLES_HAS_TRANSIENT;
    }
    f.t.text = f.text.into_bytes();
    Ok(f.t)
}

/// Bytes of text a command adds beside the file paths (its command line,
/// mostly), for [`Flattener::reserve`]: a guess, not a bound.
const TEXT_PER_COMMAND: usize = 64;

/// About how many bytes `tables` take archived (rows are plain, so close
/// to their size in memory): the serialiser's buffer starts this big.
pub(crate) fn archived_size(t: &Tables) -> usize {
    use std::mem::size_of;
    t.text.len()
        + t.files.len() * size_of::<FileRow>()
        + t.commands.len() * size_of::<CmdRow>()
        + t.outputs.len() * size_of::<OutputRow>()
        + t.strs.len() * size_of::<Span>()
        + (t.reads.len() + t.outside_reads.len()) * size_of::<SeenRow>()
        + t.outside.len() * size_of::<FileRow>()
        + (t.sticky.len() + t.variables.len()) * size_of::<StickyRow>()
        + t.tupfiles.len() * size_of::<TupfileRow>()
        + t.tree.len() * size_of::<TreeRow>()
        + (t.groups.len() + t.pairs.len()) * size_of::<PairRow>()
        + 4096
}

fn span_str(text: &str, s: Span) -> &str {
    text.get(s.start as usize..(s.start + s.len) as usize)
        .unwrap_or("")
}

/// Builds the tables from a record `'r`, interning strings and sticky
/// lists (most commands share theirs) so each is stored once.
struct Flattener<'r> {
    t: Tables,
    text: String,
    interned: HashMap<&'r str, Span, Xxh3DefaultBuilder>,
    sticky_lists: HashMap<&'r [StickyVar], Span, Xxh3DefaultBuilder>,
}

impl<'r> Flattener<'r> {
    /// The command rows, sorted by key, and the output rows, sorted by path.
    fn commands(&mut self, record: &'r BuildRecord, layout: &Layout<'_>) -> Result<()> {
        let mut order: Vec<&CommandRecord> = record.commands.iter().collect();
        if layout.sort_commands {
            order.sort_by_key(|c| c.key);
        }
        for (i, cmd) in order.iter().enumerate() {
            let mut row = self.command(cmd, layout.slot_of)?;
            row.outside = self.outside_reads(&cmd.outside, layout.outside_of)?;
            self.t.commands.push(row);
            for out in cmd.rule.outputs.iter().chain(&cmd.rule.extra_outputs) {
                let path = self.text(out.as_str());
                self.t.outputs.push(OutputRow {
                    path,
                    cmd: i as u32,
                });
            }
        }
        let text = std::mem::take(&mut self.text);
        self.t
            .outputs
            .sort_by(|a, b| span_str(&text, a.path).cmp(span_str(&text, b.path)));
        self.text = text;
        Ok(())
    }

    /// The sticky variable rows, sorted by name.
    fn variables(&mut self, record: &'r BuildRecord) {
        let mut vars: Vec<_> = record.variables.iter().collect();
        vars.sort_by(|a, b| a.name.cmp(&b.name));
        for v in vars {
            let row = StickyRow {
                name: self.text(&v.name),
                digest: v.value.0,
            };
            self.t.variables.push(row);
        }
    }

    /// The Tupfile rows (what each parse read), sorted by variant and dir.
    fn tupfiles(&mut self, record: &'r BuildRecord, slot_of: &[u32]) -> Result<()> {
        let mut tupfiles: Vec<_> = record.tupfiles.iter().collect();
        tupfiles.sort_by(|a, b| (&a.variant, &a.dir).cmp(&(&b.variant, &b.dir)));
        for tf in tupfiles {
            let row = TupfileRow {
                variant: self.text(tf.variant.as_str()),
                dir: self.text(tf.dir.as_str()),
                tupfile: self.text(tf.tupfile.as_str()),
                depends_on: self.paths(&tf.depends_on),
                reads: self.reads(&tf.reads, slot_of)?,
                vars: self.sticky(&tf.vars),
            };
            self.t.tupfiles.push(row);
        }
        Ok(())
    }

    /// The source tree's listing digests, sorted by directory.
    fn tree(&mut self, record: &'r BuildRecord) {
        let mut tree: Vec<_> = record.tree.iter().collect();
        tree.sort_by(|a, b| a.path.cmp(&b.path));
        for entry in tree {
            let row = TreeRow {
                path: self.text(entry.path.as_str()),
                files: entry.listing.files.0,
                dirs: entry.listing.dirs.0,
            };
            self.t.tree.push(row);
        }
    }

    /// Make room for what `record` will need at least, so the big tables
    /// are allocated once instead of doubled (and copied) as they grow.
    fn reserve(&mut self, record: &BuildRecord) {
        let paths: usize = record.files.iter().map(|f| f.path.as_str().len()).sum();
        let reads: usize = record.commands.iter().map(|c| c.reads.len()).sum();
        self.text
            .reserve(paths + TEXT_PER_COMMAND * record.commands.len());
        self.t.files.reserve(record.files.len());
        self.t.commands.reserve(record.commands.len());
        self.t.outputs.reserve(record.commands.len());
        self.t.reads.reserve(reads);
    }

    /// Intern a string into the text blob.
    fn text(&mut self, s: &'r str) -> Span {
        if let Some(span) = self.interned.get(s) {
            return *span;
        }
        let span = Span {
            start: self.text.len() as u32,
            len: s.len() as u32,
        };
        self.text.push_str(s);
        self.interned.insert(s, span);
        span
    }

    /// Write the file rows in `order`.
    fn files(&mut self, files: &'r [FileRecord], order: &[u32]) {
        for &i in order {
            let file = &files[i as usize];
            let row = self.file_row(file);
            self.t.files.push(row);
        }
    }

    /// Write the outside file rows in `order`.
    fn outside(&mut self, files: &'r [OutsideRecord], order: &[u32]) {
        for &i in order {
            let file = &files[i as usize];
            let mut row = FileRow {
                path: self.text(file.path.as_str()),
                recorded_at: file.recorded_at.0,
                since: file.since.0,
                kind: KIND_ABSENT,
                ..FileRow::default()
            };
            set_state(&mut row, file.state.as_ref(), file.digest.as_ref());
            self.t.outside.push(row);
        }
    }

    fn outside_reads(&mut self, reads: &[SeenOutside], slot_of: &[u32]) -> Result<Span> {
        let seen = reads.iter().map(|r| (r.file.0, r.since.0));
        seen_rows(&mut self.t.outside_reads, seen, slot_of, "outside file")
    }

    fn file_row(&mut self, file: &'r FileRecord) -> FileRow {
        let mut row = FileRow {
            path: self.text(file.path.as_str()),
            recorded_at: file.recorded_at.0,
            since: file.since.0,
            kind: KIND_ABSENT,
            flags: if file.generated { FILE_GENERATED } else { 0 },
            ..FileRow::default()
        };
        set_state(&mut row, file.state.as_ref(), file.digest.as_ref());
        row
    }

    fn command(&mut self, cmd: &'r CommandRecord, slot_of: &[u32]) -> Result<CmdRow> {
        let rule = &cmd.rule;
        let mut flags = rule_flag_bits(&rule.flags);
        if cmd.must_rerun {
            flags |= CMD_MUST_RERUN;
        }
        let display = match &rule.display {
            Some(d) => {
                flags |= CMD_HAS_DISPLAY;
                self.text(d)
            }
            None => Span::default(),
        };
        let output_group = match &rule.output_group {
            Some(g) => {
                flags |= CMD_HAS_OUTPUT_GROUP;
                self.group(g)
            }
            None => GroupRow::default(),
        };
        Ok(CmdRow {
            key: cmd.key.0 .0,
            signature: cmd.signature.0 .0,
            location_file: self.text(rule.location.file.as_str()),
            location_line: rule.location.line,
            flags,
            dir: self.text(rule.dir.as_str()),
            source_dir: self.text(rule.source_dir.as_str()),
            variant: self.text(rule.variant.as_str()),
            command: self.text(&rule.command),
            display,
            output_group,
            inputs: self.paths(&rule.inputs),
            order_only: self.paths(&rule.order_only),
            outputs: self.paths(&rule.outputs),
            extra_outputs: self.paths(&rule.extra_outputs),
            ignore: self.strs(rule.ignore.iter().map(String::as_str)),
            exports: self.strs(rule.exports.iter().map(String::as_str)),
            input_groups: self.groups(&rule.input_groups),
            config_used: self.pairs(&rule.config_used),
            sticky: self.sticky(&cmd.sticky),
            reads: self.reads(&cmd.reads, slot_of)?,
            outside: Span::default(),
            position: cmd.position,
        })
    }

    fn paths(&mut self, paths: &'r [ProjPath]) -> Span {
        self.strs(paths.iter().map(ProjPath::as_str))
    }

    fn strs(&mut self, items: impl Iterator<Item = &'r str>) -> Span {
        let start = self.t.strs.len() as u32;
        for s in items {
            let span = self.text(s);
            self.t.strs.push(span);
        }
        Span {
            start,
            len: self.t.strs.len() as u32 - start,
        }
    }

    fn group(&mut self, g: &'r GroupRef) -> GroupRow {
        GroupRow {
            dir: self.text(g.dir.as_str()),
            name: self.text(&g.name),
        }
    }

    fn groups(&mut self, groups: &'r [GroupRef]) -> Span {
        let start = self.t.groups.len() as u32;
        for g in groups {
            let row = self.group(g);
            self.t.groups.push(row);
        }
        Span {
            start,
            len: self.t.groups.len() as u32 - start,
        }
    }

    fn pairs(&mut self, pairs: &'r std::collections::BTreeMap<String, String>) -> Span {
        let start = self.t.pairs.len() as u32;
        for (name, value) in pairs {
            let row = PairRow {
                name: self.text(name),
                value: self.text(value),
            };
            self.t.pairs.push(row);
        }
        Span {
            start,
            len: self.t.pairs.len() as u32 - start,
        }
    }

    fn sticky(&mut self, vars: &'r [StickyVar]) -> Span {
        if let Some(span) = self.sticky_lists.get(vars) {
            return *span;
        }
        let start = self.t.sticky.len() as u32;
        for v in vars {
            let row = StickyRow {
                name: self.text(&v.name),
                digest: v.value.0,
            };
            self.t.sticky.push(row);
        }
        let span = Span {
            start,
            len: self.t.sticky.len() as u32 - start,
        };
        self.sticky_lists.insert(vars, span);
        span
    }

    fn reads(&mut self, reads: &[Seen], slot_of: &[u32]) -> Result<Span> {
        let seen = reads.iter().map(|r| (r.file.0, r.since.0));
        seen_rows(&mut self.t.reads, seen, slot_of, "file")
    }
}

/// Fill `row`'s state and digest fields.
fn set_state(row: &mut FileRow, state: Option<&FileState>, digest: Option<&Digest>) {
    if let Some(s) = state {
        row.kind = kind_byte(s.kind);
        row.mtime_ns = s.mtime_ns;
        row.ctime_ns = s.ctime_ns;
        row.size = s.size;
        row.ino = s.ino;
    }
    if let Some(d) = digest {
        row.flags |= FILE_HAS_DIGEST;
        row.digest = d.0;
    }
}

/// `FileRow::kind` for a kind of file.
pub(crate) fn kind_byte(kind: FileKind) -> u8 {
    match kind {
        FileKind::File => 1,
        FileKind::Dir => 2,
        FileKind::Symlink => 3,
        FileKind::Other => 4,
    }
}

/// The rule's `^` flags as bits 0..6 of `CmdRow::flags`.
pub(crate) fn rule_flag_bits(f: &RuleFlags) -> u16 {
    [
        f.bash,
        f.full_sandbox,
        f.compile_db,
        f.cutoff,
        f.stream,
        f.transient,
    ]
    .iter()
    .enumerate()
    .fold(0, |acc, (i, &on)| acc | (u16::from(on) << i))
}

/// Append `seen` (record slot, generation seen) to `table` as rows naming
/// the index slots `slot_of` gives; `what` names the slot kind in errors.
fn seen_rows(
    table: &mut Vec<SeenRow>,
    seen: impl Iterator<Item = (u32, u32)>,
    slot_of: &[u32],
    what: &str,
) -> Result<Span> {
    let start = table.len() as u32;
    for (slot, since) in seen {
        let Some(&file) = slot_of.get(slot as usize) else {
            bail!(
                "the build record refers to {what} #{slot} of {}",
                slot_of.len()
            );
        };
        table.push(SeenRow { file, since });
    }
    Ok(Span {
        start,
        len: table.len() as u32 - start,
    })
}

/// The order of `records` by path (the index's row order) and, per record,
/// its slot in that order; a path listed twice is an error.
pub(crate) fn sorted_slots<T, P: Ord + std::fmt::Display>(
    records: &[T],
    path: impl Fn(&T) -> &P,
) -> Result<(Vec<u32>, Vec<u32>)> {
    let mut order: Vec<u32> = (0..records.len() as u32).collect();
    order.sort_by(|&a, &b| path(&records[a as usize]).cmp(path(&records[b as usize])));
    if let Some(pair) = order
        .windows(2)
        .find(|w| path(&records[w[0] as usize]) == path(&records[w[1] as usize]))
    {
        bail!(
            "the build record lists '{}' twice",
            path(&records[pair[0] as usize])
        );
    }
    let mut slot_of = vec![0u32; records.len()];
    for (slot, &i) in order.iter().enumerate() {
        slot_of[i as usize] = slot as u32;
    }
    Ok((order, slot_of))
}
