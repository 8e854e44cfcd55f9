//! The on-disk layout of the index archive: a few flat tables of plain rows
//! (no pointers inside a row), so validating the archive costs a handful of
//! bounds checks instead of one per record, and every row is read in place.
//!
//! Strings live in one text blob and are referenced by [`Span`]s; lists
//! (a command's outputs, reads, ...) are spans into shared tables. The
//! owned, nested form is [`super::record::BuildRecord`]; `write.rs`
//! flattens it into [`Tables`], `view.rs` reads the archived form.

use rkyv::{Archive, Serialize};

/// A range `start..start+len` of some table (or of the text blob).
#[derive(Archive, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: u32,
    pub len: u32,
}

/// `FileRow::kind` for a path where nothing was found.
pub(crate) const KIND_ABSENT: u8 = 0;
/// `FileRow::flags`: some command produces this file.
pub(crate) const FILE_GENERATED: u8 = 1;
/// `FileRow::flags`: `digest` is meaningful.
pub(crate) const FILE_HAS_DIGEST: u8 = 2;

/// One examined path (sorted by path).
#[derive(Archive, Serialize, Clone, Debug, Default)]
pub(crate) struct FileRow {
    pub path: Span,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub size: u64,
    pub ino: u64,
    pub recorded_at: i64,
    pub since: u32,
    /// `KIND_ABSENT`, or 1 + the `FileKind` (file, dir, symlink, other).
    pub kind: u8,
    pub flags: u8,
    pub digest: [u8; 32],
}

/// `CmdRow::flags` bits beyond the rule's `^` flags (bits 0..6).
pub(crate) const CMD_MUST_RERUN: u16 = 1 << 8;
pub(crate) const CMD_HAS_DISPLAY: u16 = 1 << 9;
pub(crate) const CMD_HAS_OUTPUT_GROUP: u16 = 1 << 10;

/// One command (sorted by key).
#[derive(Archive, Serialize, Clone, Debug, Default)]
pub(crate) struct CmdRow {
    pub key: [u8; 32],
    pub signature: [u8; 32],
    pub location_file: Span,
    pub location_line: u32,
    pub flags: u16,
    pub dir: Span,
    pub source_dir: Span,
    pub variant: Span,
    pub command: Span,
    pub display: Span,
    pub output_group: GroupRow,
    /// Spans into `Tables::strs` (each a text span).
    pub inputs: Span,
    pub order_only: Span,
    pub outputs: Span,
    pub extra_outputs: Span,
    pub ignore: Span,
    pub exports: Span,
    /// Span into `Tables::groups`.
    pub input_groups: Span,
    /// Span into `Tables::pairs`.
    pub config_used: Span,
    /// Span into `Tables::sticky`.
    pub sticky: Span,
    /// Span into `Tables::reads`.
    pub reads: Span,
    /// Full dependencies: span into `Tables::outside_reads`.
    pub outside: Span,
    /// The command's place in the parse's rule order (rules taken back
    /// from the index are put in this order, as a parse would give them).
    pub position: u32,
}

/// A group: directory and name, both text spans.
#[derive(Archive, Serialize, Clone, Copy, Debug, Default)]
pub(crate) struct GroupRow {
    pub dir: Span,
    pub name: Span,
}

/// A name and a value, both text spans.
#[derive(Archive, Serialize, Clone, Copy, Debug, Default)]
pub(crate) struct PairRow {
    pub name: Span,
    pub value: Span,
}

/// A variable name (text span) and the digest of its value.
#[derive(Archive, Serialize, Clone, Copy, Debug, Default)]
pub(crate) struct StickyRow {
    pub name: Span,
    pub digest: [u8; 32],
}

/// An observed input: a file row and the generation seen.
#[derive(Archive, Serialize, Clone, Copy, Debug, Default)]
pub(crate) struct SeenRow {
    pub file: u32,
    pub since: u32,
}

/// A tree entry: its path (text span) and [`super::Listing`].
#[derive(Archive, Serialize, Clone, Copy, Debug, Default)]
pub(crate) struct TreeRow {
    pub path: Span,
    pub files: [u8; 32],
    pub dirs: [u8; 32],
}

/// Output path (text span) → command row; sorted by path.
#[derive(Archive, Serialize, Clone, Copy, Debug, Default)]
pub(crate) struct OutputRow {
    pub path: Span,
    pub cmd: u32,
}

/// A Tupfile's parse read-set; sorted by (variant, directory).
#[derive(Archive, Serialize, Clone, Copy, Debug, Default)]
pub(crate) struct TupfileRow {
    pub variant: Span,
    pub dir: Span,
    /// The file read for the directory (its Tupfile or a Tupdefault).
    pub tupfile: Span,
    /// Span into `Tables::strs`.
    pub depends_on: Span,
    /// Span into `Tables::reads`.
    pub reads: Span,
    /// Span into `Tables::sticky`.
    pub vars: Span,
}

/// The archive's root.
#[derive(Archive, Serialize, Debug, Default)]
pub(crate) struct Tables {
    pub generation: u32,
    /// Every string, concatenated. Bytes, not a `String`: rkyv would
    /// check the whole blob as UTF-8 on every open, which touches every
    /// page of it (the monitor's no-op reads a handful of strings); each
    /// string is checked when it is read instead ([`super::view`]).
    pub text: Vec<u8>,
    pub files: Vec<FileRow>,
    pub commands: Vec<CmdRow>,
    pub outputs: Vec<OutputRow>,
    pub strs: Vec<Span>,
    pub groups: Vec<GroupRow>,
    pub pairs: Vec<PairRow>,
    pub sticky: Vec<StickyRow>,
    pub reads: Vec<SeenRow>,
    /// Sorted by name.
    pub variables: Vec<StickyRow>,
    pub tupfiles: Vec<TupfileRow>,
    /// The parse's view of the source tree: each directory's listing
    /// digests and each `tup.config`'s content digest, sorted by path.
    pub tree: Vec<TreeRow>,
    /// `TABLES_*` bits.
    pub flags: u32,
    /// Full dependencies: files outside the project (absolute paths; never
    /// `FILE_GENERATED`), sorted by path.
    pub outside: Vec<FileRow>,
    /// Full dependencies: observed outside inputs (`SeenRow::file` is a
    /// row of `outside`).
    pub outside_reads: Vec<SeenRow>,
}

/// The commands are exactly the rules of the last parse (no command kept
/// only because its stale output could not be removed), so a build whose
/// Tupfiles are clean may take its rules from the index.
pub(crate) const TABLES_COMMANDS_ARE_RULES: u32 = 1;
/// Every command was up to date when the index was written (see
/// [`super::BuildRecord::all_up_to_date`]).
pub(crate) const TABLES_ALL_UP_TO_DATE: u32 = 2;
/// The build ran with full dependencies: the commands it ran recorded what
/// they read outside the project.
pub(crate) const TABLES_FULL_DEPS: u32 = 4;
/// Some command is a `^t` rule (kept as a flag so that the monitor's no-op
/// need not pass over every command to know there is none).
pub(crate) const TABLES_HAS_TRANSIENT: u32 = 8;

/// One journal batch ([`super::journal`]): what one build changed, as
/// tables of the same rows as the base. Every file and outside slot in it
/// (`SeenRow::file`, [`Batch::file_slots`]) is a slot of the merged index
/// (base, then the batches before this one, then this one's new rows), so
/// replaying batches in order gives each row one slot for good.
#[derive(Archive, Serialize, Debug, Default)]
pub(crate) struct Batch {
    /// The rows: files, outside files, commands, Tupfiles and variables
    /// upserted; the tree when [`Batch::has_tree`]; generation and flags.
    /// `outputs` is empty (rebuilt from the commands on replay).
    pub tables: Tables,
    /// The merged slot of each `tables.files` row: an existing slot (the
    /// row replaces it) or the next new one.
    pub file_slots: Vec<u32>,
    /// The merged slot of each `tables.outside` row (as `file_slots`).
    pub outside_slots: Vec<u32>,
    /// The merged slot of each `tables.commands` row: an existing slot
    /// whose command has the same key (replaced) or the next new one.
    pub cmd_slots: Vec<u32>,
    /// Commands removed (merged slots).
    pub deleted_cmds: Vec<u32>,
    /// Tupfile read-sets removed: (variant, dir) as text spans.
    pub deleted_tupfiles: Vec<PairRow>,
    /// `tables.tree` replaces the tree (else the tree stays).
    pub has_tree: bool,
    /// The change mode of the build that wrote it.
    pub change_mode: u8,
}
