//! The owned, plain record of a build that the engine fills and
//! [`Index::write`](super::Index::write) stores: files with their recorded
//! state, commands with their identity and observed inputs, variables and
//! per-Tupfile parse read-sets.

use crate::change::{FileState, Moment};
use crate::identity;
use crate::identity::{CommandKey, Digest, Signature, StickyVar};
use crate::outside::OutsidePath;
use crate::paths::ProjPath;
use crate::tupfile::{self, Rule};

/// A build's number. Each build records one higher than the last; a file's
/// [`FileRecord::since`] is the generation in which its content last
/// changed (as the change mode judges it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Generation(pub u32);

impl Generation {
    /// The generation after this one.
    pub fn next(self) -> Generation {
        Generation(self.0.wrapping_add(1))
    }
}

/// Which entry of [`BuildRecord::files`] (its position there).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileRef(pub u32);

/// One path the build examined and what it found there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRecord {
    /// The path.
    pub path: ProjPath,
    /// What `lstat` said; `None` when nothing was there (a ghost: a command
    /// looked for it, so its appearing must re-run that command).
    pub state: Option<FileState>,
    /// The SHA-256 of the contents when it was computed for this `state`
    /// (digest modes, racy files, early cut-off). Never a digest of older
    /// contents: drop it when the state moved without hashing.
    pub digest: Option<Digest>,
    /// True for a file some command produces.
    pub generated: bool,
    /// When `state` was taken (read before the `lstat`). A file whose mtime
    /// is not older than this is "racy": its state alone cannot prove it
    /// unchanged next time.
    pub recorded_at: Moment,
    /// The generation in which the contents last changed. A command that
    /// read this file remembers the `since` it saw ([`Seen`]); when it
    /// differs later, the command's input changed.
    pub since: Generation,
}

/// One observed input of a command: which file, and the generation of its
/// contents that the command saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seen {
    /// The file read (or looked for, if it is a ghost).
    pub file: FileRef,
    /// The file's [`FileRecord::since`] when the command read it.
    pub since: Generation,
}

/// One command as the build left it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandRecord {
    /// The expanded rule (so a clean Tupfile need not be re-parsed).
    pub rule: Rule,
    /// [`crate::identity::Identity::key`].
    pub key: CommandKey,
    /// [`crate::identity::Identity::signature`].
    pub signature: Signature,
    /// The sticky variables folded into the signature, sorted by name.
    pub sticky: Vec<StickyVar>,
    /// It failed, was interrupted or never ran: it runs next build whatever
    /// else says.
    pub must_rerun: bool,
    /// What the trace saw it read, keyed by this command (not by position).
    pub reads: Vec<Seen>,
    /// Full dependencies: what it read or looked for outside the project.
    pub outside: Vec<SeenOutside>,
    /// Its place in the parse's rule order (only the order within one
    /// Tupfile's rules matters: rules taken back from the index are put
    /// in this order, as a parse would give them).
    pub position: u32,
}

/// A variable's value by name, for sticky comparisons.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VariableRecord {
    /// `@NAME` or `$NAME`.
    pub name: String,
    /// [`crate::identity::value_digest`] of its value.
    pub value: Digest,
}

/// What parsing one directory's Tupfile read, so it is re-parsed only when
/// one of these changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TupfileRecord {
    /// The variant (the root in-tree).
    pub variant: ProjPath,
    /// The source directory whose Tupfile was parsed; its commands are
    /// those whose `rule.source_dir` and `rule.variant` are these.
    pub dir: ProjPath,
    /// The file read for it: its `Tupfile` or a `Tupdefault`.
    pub tupfile: ProjPath,
    /// Files and directories the parse read (the Tupfile, includes, absent
    /// `Tuprules.tup` probed, directories whose listing it depended on,
    /// `run` scripts and what they read or looked for in vain), each once,
    /// with the generation seen.
    pub reads: Vec<Seen>,
    /// Variables the parse read (`@NAME` config, `$NAME` environment),
    /// sorted by name.
    pub vars: Vec<StickyVar>,
    /// Directories whose Tupfiles had to be parsed first.
    pub depends_on: Vec<ProjPath>,
}

impl TupfileRecord {
    /// The index's record of one parse: every path it read goes through
    /// `seen` (which knows each file's current generation), every config
    /// and environment value it read becomes a sticky variable.
    pub fn from_parse(
        parse: &tupfile::TupfileRecord,
        seen: &mut dyn FnMut(&ProjPath) -> Seen,
    ) -> TupfileRecord {
        let paths = std::iter::once(&parse.tupfile)
            .chain(&parse.included)
            .chain(&parse.probed_absent)
            .chain(&parse.globbed_dirs)
            .chain(&parse.run_scripts)
            .chain(&parse.script_reads);
        let mut once = std::collections::BTreeSet::new();
        let config = parse.config.iter().map(|(name, value)| StickyVar {
            name: identity::config_var_name(name),
            value: identity::value_digest(value.as_deref()),
        });
        let env = parse.env.iter().map(|(name, value)| StickyVar {
            name: identity::env_var_name(name),
            value: identity::value_digest(value.as_deref()),
        });
        let mut vars: Vec<StickyVar> = config.chain(env).collect();
        vars.sort();
        TupfileRecord {
            variant: parse.variant.clone(),
            dir: parse.dir.clone(),
            tupfile: parse.tupfile.clone(),
            reads: paths.filter(|p| once.insert(*p)).map(seen).collect(),
            vars,
            depends_on: parse.depends_on.iter().cloned().collect(),
        }
    }
}

/// Everything one build leaves for the next: the plain value written to
/// `.tupfs/index`. Lists may be in any order; paths in `files` must be
/// unique and every [`FileRef`] must point into `files`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildRecord {
    /// This build's generation.
    pub generation: Generation,
    /// Every path examined.
    pub files: Vec<FileRecord>,
    /// Every command.
    pub commands: Vec<CommandRecord>,
    /// Variable values by name.
    pub variables: Vec<VariableRecord>,
    /// Per-Tupfile parse read-sets.
    pub tupfiles: Vec<TupfileRecord>,
    /// The source tree as the parse saw it (directory listings,
    /// `tup.config` contents); see [`crate::reuse`].
    pub tree: Vec<TreeEntry>,
    /// True when `commands` are exactly the rules of the parse (nothing
    /// kept only because a stale output could not be removed).
    pub commands_are_rules: bool,
    /// True when the build left every command up to date: each ran
    /// successfully or had no reason to run (none failed, none was outside
    /// the targets or left unstarted). Then, if no recorded file changed
    /// since, no command can have a reason to run.
    pub all_up_to_date: bool,
    /// The build traced reads outside the project, and every command
    /// recorded as up to date ran with them traced (when full deps were
    /// turned on, the commands recorded without are run first).
    pub full_deps: bool,
    /// Some command of the index as this record leaves it is a `^t` rule
    /// (a whole record also counts its own commands; a journal batch
    /// holds only what changed, so its maker looks at the rest).
    pub has_transient: bool,
    /// Full dependencies: every path outside the project a recorded
    /// command read or looked for; paths unique, every [`OutsideRef`]
    /// points here.
    pub outside: Vec<OutsideRecord>,
}

/// Which entry of [`BuildRecord::outside`] (its position there).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OutsideRef(pub u32);

/// A file outside the project (full dependencies) and what was found
/// there: judged as a source file is ([`FileRecord`]'s fields).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutsideRecord {
    /// The absolute path.
    pub path: OutsidePath,
    /// What `lstat` said; `None`: nothing there (a ghost).
    pub state: Option<FileState>,
    /// The SHA-256 of the contents in `state`, when computed.
    pub digest: Option<Digest>,
    /// When `state` was taken.
    pub recorded_at: Moment,
    /// The generation in which the contents last changed.
    pub since: Generation,
}

/// One observed outside input of a command and the generation it saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeenOutside {
    /// The file read (or looked for).
    pub file: OutsideRef,
    /// Its [`OutsideRecord::since`] when the command read it.
    pub since: Generation,
}

/// One path of the source tree the parse depends on, with the digests of
/// what it held ([`crate::reuse`] says which digests).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TreeEntry {
    /// A source directory or a `tup.config`.
    pub path: ProjPath,
    /// Its listing or contents.
    pub listing: Listing,
}

/// The digests of a tree entry: a directory's names of files and of
/// subdirectories apart (a new subdirectory matters to the walk for
/// Tupfiles, not to a glob), or a `tup.config`'s contents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Listing {
    /// A directory's visible names that are not directories (minus the
    /// build's outputs), or a `tup.config`'s contents.
    pub files: Digest,
    /// A directory's visible subdirectory names (zeros for a file).
    pub dirs: Digest,
}

impl BuildRecord {
    /// Append a file and return its reference.
    pub fn add_file(&mut self, file: FileRecord) -> FileRef {
        self.files.push(file);
        FileRef(self.files.len() as u32 - 1)
    }

    /// Append an outside file and return its reference.
    pub fn add_outside(&mut self, file: OutsideRecord) -> OutsideRef {
        self.outside.push(file);
        OutsideRef(self.outside.len() as u32 - 1)
    }
}
