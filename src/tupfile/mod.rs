//! The Tupfile language: a project's Tupfiles in, fully expanded [`Rule`]s out.
//!
//! This module knows nothing of FUSE or the index. Its output is plain data:
//! every command with its directory, inputs, outputs, flags and the variables
//! it used, plus, per Tupfile, what the parse read (so the engine can decide
//! which Tupfiles to re-parse).

mod command;
mod cond;
mod config;
mod directives;
mod driver;
mod emit;
mod flags;
mod gitignore;
mod glob;
mod groups;
mod inputs;
mod lines;
mod macros;
mod outputs;
mod rule;
mod run;
mod script;
mod vars;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::paths::ProjPath;

pub use config::{calls_varsed, Config};
pub use driver::{Partial, SourceTree};
pub use gitignore::{is_generated as is_generated_gitignore, write_gitignores};
pub use script::{script_stdout, Script, ScriptRun, ScriptRunner, UntracedRunner};
pub use vars::variant_logical;

/// A place in a Tupfile (or a file it included).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Location {
    /// The file, project-relative.
    pub file: ProjPath,
    /// 1-based line number.
    pub line: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A group named by directory and name (`dir/<name>`); groups are global.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct GroupRef {
    /// The directory the group belongs to.
    pub dir: ProjPath,
    /// The name between the angle brackets.
    pub name: String,
}

impl fmt::Display for GroupRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dir.is_root() {
            write!(f, "<{}>", self.name)
        } else {
            write!(f, "{}/<{}>", self.dir, self.name)
        }
    }
}

/// The `^FLAGS` letters of a rule's display block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
pub struct RuleFlags {
    /// `b`: run with `bash -e -o pipefail` instead of `sh -e`.
    pub bash: bool,
    /// `c`: require the full sandbox (private mount namespace).
    pub full_sandbox: bool,
    /// `j`: include in compile_commands.json.
    pub compile_db: bool,
    /// `o`: identical outputs stop propagation (early cut-off).
    pub cutoff: bool,
    /// `s`: stream output live.
    pub stream: bool,
    /// `t`: transient outputs, deleted once all consumers ran.
    pub transient: bool,
}

/// One fully expanded command, ready for the graph.
///
/// All paths are project-relative; `command` is the exact text handed to the
/// shell, run with the working directory `dir`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Rule {
    /// Where the rule was written (for messages).
    pub location: Location,
    /// The directory the command runs in (for a variant: the variant's
    /// mirror of the source directory).
    pub dir: ProjPath,
    /// The exact shell command. Empty for a rule that only fills a bin.
    pub command: String,
    /// The display text from `^ TEXT^`, already %-expanded.
    pub display: Option<String>,
    /// The `^` flag letters.
    pub flags: RuleFlags,
    /// Normal inputs, in the order they were written.
    pub inputs: Vec<ProjPath>,
    /// Order-only inputs (files; groups are in `input_groups`).
    pub order_only: Vec<ProjPath>,
    /// Groups named among the inputs or order-only inputs.
    pub input_groups: Vec<GroupRef>,
    /// Outputs (those that appear in `%o`).
    pub outputs: Vec<ProjPath>,
    /// Extra outputs (left out of `%o`).
    pub extra_outputs: Vec<ProjPath>,
    /// The group this rule's outputs join, if any.
    pub output_group: Option<GroupRef>,
    /// Output `^REGEX` entries: accesses matching them are not traced.
    pub ignore: Vec<String>,
    /// Every `@(NAME)`/`$(CONFIG_NAME)` value the command used, by name
    /// (without `CONFIG_`), so it becomes a sticky dependency.
    pub config_used: BTreeMap<String, String>,
    /// Environment variables exported to the command (names, sorted; PATH
    /// and HOME included). Their values are read by the engine.
    pub exports: Vec<String>,
    /// The source directory whose Tupfile wrote the rule. Equal to `dir`
    /// in-tree; for a variant, `dir` is this directory's mirror under the
    /// variant and the command expects the source files of `source_dir`
    /// to be visible in `dir` (as tup overlays them).
    pub source_dir: ProjPath,
    /// The variant directory the rule belongs to (the root in-tree).
    pub variant: ProjPath,
}

/// A parse error: where it happened and what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Where (file and line); `None` for project-level problems.
    pub location: Option<Location>,
    /// What went wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(loc) => write!(f, "{loc}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ParseError {}

impl ParseError {
    /// An error whose location the caller fills in (the current line).
    pub(crate) fn msg(message: impl Into<String>) -> ParseError {
        ParseError {
            location: None,
            message: message.into(),
        }
    }

    /// An error at `location`.
    pub(crate) fn at(location: &Location, message: impl Into<String>) -> ParseError {
        ParseError {
            location: Some(location.clone()),
            message: message.into(),
        }
    }

    /// Make a "column N:" message, counted within a part of the line that
    /// starts `offset` bytes in, count from the start of the line.
    pub(crate) fn shifted(mut self, offset: usize) -> ParseError {
        if let Some(rest) = self.message.strip_prefix("column ") {
            if let Some((n, tail)) = rest.split_once(':') {
                if let Ok(n) = n.parse::<usize>() {
                    self.message = format!("column {}:{tail}", n + offset);
                }
            }
        }
        self
    }

    /// Drop a leading "column N:" (when it counts in text the user did
    /// not write).
    pub(crate) fn without_column(mut self) -> ParseError {
        if let Some(rest) = self.message.strip_prefix("column ") {
            if let Some((n, tail)) = rest.split_once(": ") {
                if n.parse::<usize>().is_ok() {
                    self.message = tail.to_string();
                }
            }
        }
        self
    }

    /// Fill in `location` if the error has none yet.
    pub(crate) fn located(mut self, location: &Location) -> ParseError {
        if self.location.is_none() {
            self.location = Some(location.clone());
        }
        self
    }
}

impl From<String> for ParseError {
    fn from(message: String) -> ParseError {
        ParseError::msg(message)
    }
}

/// One Tupfile's parse: a source directory in a variant.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TupfileKey {
    /// The variant directory (the root in-tree).
    pub variant: ProjPath,
    /// The source directory the Tupfile describes.
    pub dir: ProjPath,
}

impl TupfileKey {
    /// The Tupfile whose parse wrote `rule`.
    pub fn of_rule(rule: &Rule) -> TupfileKey {
        TupfileKey {
            variant: rule.variant.clone(),
            dir: rule.source_dir.clone(),
        }
    }
}

impl fmt::Display for TupfileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = if self.dir.is_root() {
            "."
        } else {
            self.dir.as_str()
        };
        match self.variant.is_root() {
            true => write!(f, "{dir}"),
            false => write!(f, "{dir} (variant {})", self.variant),
        }
    }
}

/// What the parse of one directory's Tupfile read, so the engine can tell
/// when it must parse it again.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TupfileRecord {
    /// The variant (the root in-tree).
    pub variant: ProjPath,
    /// The source directory the Tupfile describes.
    pub dir: ProjPath,
    /// The file that was read for it: its `Tupfile` or a `Tupdefault`.
    pub tupfile: ProjPath,
    /// Files read by `include` and `include_rules`.
    pub included: BTreeSet<ProjPath>,
    /// `Tuprules.tup` files `include_rules` looked for and did not find
    /// (creating one must re-parse the directory).
    pub probed_absent: BTreeSet<ProjPath>,
    /// Directories whose listing the parse depended on: globbed,
    /// preloaded, holding a `run` script, holding a file named as an
    /// input or `&`-variable (whether it exists, and whether it is a
    /// source file or an output, decides what the rule says), or named
    /// as a directory by an `&`-variable.
    pub globbed_dirs: BTreeSet<ProjPath>,
    /// Other directories whose Tupfiles had to be parsed first (their
    /// outputs were named or globbed).
    pub depends_on: BTreeSet<ProjPath>,
    /// Config values read anywhere in the parse (`None`: unset).
    pub config: BTreeMap<String, Option<String>>,
    /// Environment values read by `import` (`None`: unset).
    pub env: BTreeMap<String, Option<String>>,
    /// Scripts executed by `run` (their text is an input of the parse).
    pub run_scripts: BTreeSet<ProjPath>,
    /// Other files the `run` scripts read, and paths they looked for that
    /// did not exist (inputs of the parse too; empty when the
    /// [`ScriptRunner`] does not trace).
    pub script_reads: BTreeSet<ProjPath>,
}

/// A `.gitignore` the engine should write (see [`write_gitignores`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct GitIgnore {
    /// The directory that gets the `.gitignore`.
    pub dir: ProjPath,
    /// The generated lines (`/name` for each output, sorted).
    pub entries: Vec<String>,
}

/// Everything the Tupfiles of a project describe.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ParsedProject {
    /// Every command, in a stable order: variant, then the directory of the
    /// Tupfile that wrote it, then position in that Tupfile.
    pub rules: Vec<Rule>,
    /// What each Tupfile's parse read, in the same order.
    pub tupfiles: Vec<TupfileRecord>,
    /// The `.gitignore` files asked for with the `.gitignore` directive.
    pub gitignores: Vec<GitIgnore>,
    /// The variant directories (empty for an in-tree build).
    pub variants: Vec<ProjPath>,
    /// Every source directory the parse walked to find Tupfiles (adding or
    /// removing an entry in one may change the rules).
    pub tree_dirs: Vec<ProjPath>,
}

/// Inputs of a parse besides the files of the tree.
#[derive(Clone, Debug)]
pub struct ParseOptions {
    /// The environment `import` reads and `run` scripts get (exported
    /// names only). `Default` takes the process environment.
    pub env: BTreeMap<String, String>,
    /// Files that were outputs of the last build. They exist on disk but are
    /// not source files: globs skip them unless a rule declares them again,
    /// and naming one that no rule produces any more is an error.
    pub previous_outputs: BTreeSet<ProjPath>,
    /// Whether `run` lines may execute their scripts (off: `run` is an
    /// error; for parsing untrusted text).
    pub allow_run: bool,
    /// What executes `run` scripts (default: [`UntracedRunner`]).
    pub scripts: Arc<dyn ScriptRunner>,
    /// Parse this one variant only, with this config, instead of the
    /// variants the tree has (`tupfs generate`): the root for an in-tree
    /// build, or a directory that need not exist yet.
    pub only_variant: Option<Box<(ProjPath, Config)>>,
}

impl Default for ParseOptions {
    fn default() -> ParseOptions {
        ParseOptions {
            env: std::env::vars().collect(),
            previous_outputs: BTreeSet::new(),
            allow_run: true,
            scripts: Arc::new(UntracedRunner),
            only_variant: None,
        }
    }
}

/// Parse every Tupfile of the project rooted at `root`, with the process
/// environment and no knowledge of earlier builds. Writes nothing.
pub fn parse_project(root: &Path) -> Result<ParsedProject, ParseError> {
    parse_project_with(root, &ParseOptions::default())
}

/// Parse every Tupfile of the project rooted at `root`. Writes nothing.
pub fn parse_project_with(
    root: &Path,
    options: &ParseOptions,
) -> Result<ParsedProject, ParseError> {
    driver::parse(root, options)
}

/// Walk the project rooted at `root`: which directories have a Tupfile
/// (or inherit a Tupdefault), which are variants, which were walked.
pub fn scan_tree(root: &Path, options: &ParseOptions) -> Result<SourceTree, ParseError> {
    driver::scan(root, options)
}

/// Parse the Tupfiles of `tree` that `partial` names and take the others'
/// rules as given: the rules come out as [`parse_project_with`] would give
/// them when the parsed directories declare what they declared before
/// (the caller checks that); the records and `.gitignore`s are the parsed
/// directories' only. Writes nothing.
pub fn parse_partial(
    root: &Path,
    options: &ParseOptions,
    tree: &SourceTree,
    partial: Partial,
) -> Result<ParsedProject, ParseError> {
    driver::parse_tree(root, options, tree, Some(partial))
}
