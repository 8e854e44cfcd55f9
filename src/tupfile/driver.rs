//! The project-level parse: finding Tupfiles and variants, parsing every
//! directory (and, on demand, the directories whose outputs another one
//! uses first), and holding what all Tupfiles declared so far.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use super::config::Config;
use super::directives::{self, DirOutcome};
use super::gitignore;
use super::groups::{expand_group_flags, expand_group_flags_where};
use super::vars::{variant_logical, variant_mirror};
use super::{Location, ParseError, ParseOptions, ParsedProject};
use crate::paths::ProjPath;

/// What a directory's parse state is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DirState {
    /// Its parse has started and not finished.
    Parsing,
    /// Its parse finished.
    Done,
}

/// Where an output was declared.
#[derive(Clone, Debug)]
pub struct OutputInfo {
    /// The rule that declared it.
    pub location: Location,
    /// The source directory of the Tupfile that declared it.
    pub tupfile_dir: ProjPath,
}

/// The source tree as found on disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceTree {
    /// Source directory → the file describing it (Tupfile or Tupdefault).
    pub tupfiles: BTreeMap<ProjPath, ProjPath>,
    /// Variant directories (holding a tup.config, below the root).
    pub variants: Vec<ProjPath>,
    /// Every source directory walked (variants and hidden ones excluded).
    pub dirs: Vec<ProjPath>,
}

/// A parse of some directories only: the others' rules are known (from
/// the last build) and stand as they are.
pub struct Partial<'a> {
    /// The Tupfiles to parse.
    pub parse: &'a BTreeSet<super::TupfileKey>,
    /// Every rule of the directories not parsed, in parse order.
    pub kept: Vec<super::Rule>,
}

/// The state of parsing one variant (or the in-tree build).
pub struct Driver<'a> {
    /// The project root on disk.
    pub root: &'a Path,
    /// Environment and earlier-build knowledge.
    pub opts: &'a ParseOptions,
    /// The variant directory (the root in-tree).
    pub variant: ProjPath,
    /// The variant's config.
    pub config: Config,
    /// The root directory's own name (for `%d` at the root).
    pub root_name: String,
    /// Source directory → the file describing it.
    tupfiles: &'a BTreeMap<ProjPath, ProjPath>,
    /// Variant directories: not source, never scanned for inputs.
    skip: &'a BTreeSet<ProjPath>,
    /// Directories whose parse started or finished.
    state: BTreeMap<ProjPath, DirState>,
    /// Directories being parsed, outermost first (to name a cycle).
    stack: Vec<ProjPath>,
    /// Every output declared so far, by its source-tree (logical) path.
    pub outputs: BTreeMap<ProjPath, OutputInfo>,
    /// Output file names declared so far, by logical directory.
    pub outputs_by_dir: BTreeMap<ProjPath, BTreeSet<String>>,
    /// Finished directories' results, by directory.
    done: BTreeMap<ProjPath, DirOutcome>,
}

/// Parse the whole project.
pub fn parse(root: &Path, opts: &ParseOptions) -> Result<ParsedProject, ParseError> {
    let tree = scan(root, opts)?;
    parse_tree(root, opts, &tree, None)
}

/// Parse the Tupfiles of `tree` (only those `partial` names, if given:
/// then the result's rules are the kept ones and the parsed ones in parse
/// order, and its records and `.gitignore`s are the parsed directories').
pub fn parse_tree(
    root: &Path,
    opts: &ParseOptions,
    tree: &SourceTree,
    partial: Option<Partial>,
) -> Result<ParsedProject, ParseError> {
    let mut skip: BTreeSet<ProjPath> = tree.variants.iter().cloned().collect();
    let root_name = root
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let mut variants: Vec<(ProjPath, Option<Config>)> = if tree.variants.is_empty() {
        vec![(ProjPath::root(), None)]
    } else {
        tree.variants.iter().map(|v| (v.clone(), None)).collect()
    };
    let mut project = ParsedProject {
        variants: tree.variants.clone(),
        tree_dirs: tree.dirs.clone(),
        ..ParsedProject::default()
    };
    if let Some((variant, config)) = opts.only_variant.as_deref() {
        variants = vec![(variant.clone(), Some(config.clone()))];
        project.variants = vec![variant.clone()];
        project.variants.retain(|v| !v.is_root());
        if !variant.is_root() {
            skip.insert(variant.clone());
        }
    }
    for (variant, config) in variants {
        let config = match config {
            Some(config) => config,
            None => read_config(root, &variant)?,
        };
        let mut drv = Driver {
            root,
            opts,
            variant,
            config,
            root_name: root_name.clone(),
            tupfiles: &tree.tupfiles,
            skip: &skip,
            state: BTreeMap::new(),
            stack: Vec::new(),
            outputs: BTreeMap::new(),
            outputs_by_dir: BTreeMap::new(),
            done: BTreeMap::new(),
        };
        if let Some(partial) = &partial {
            drv.keep(partial);
        }
        for dir in tree.tupfiles.keys() {
            drv.ensure_parsed(dir)?;
        }
        drv.finish(&mut project);
    }
    // Only now is every group's membership known.
    match partial {
        None => expand_group_flags(&mut project.rules)?,
        Some(partial) => merge_kept(&mut project.rules, partial)?,
    }
    Ok(project)
}

/// Put the kept rules among the parsed ones, in the order a full parse
/// gives (variant, directory, position: each directory's rules come all
/// from one side, in their order), and expand `%<group>` in the parsed
/// ones (the kept ones were expanded when they were parsed).
fn merge_kept(rules: &mut Vec<super::Rule>, partial: Partial) -> Result<(), ParseError> {
    rules.extend(partial.kept);
    rules.sort_by(|a, b| (&a.variant, &a.source_dir).cmp(&(&b.variant, &b.source_dir)));
    let parsed = |r: &super::Rule| partial.parse.contains(&super::TupfileKey::of_rule(r));
    expand_group_flags_where(rules, &parsed)
}

/// The `tup.config` of `variant` (empty if there is none).
fn read_config(root: &Path, variant: &ProjPath) -> Result<Config, ParseError> {
    let file = variant.child("tup.config");
    match fs::read_to_string(file.to_disk(root)) {
        Ok(text) => Config::parse(&text, &file),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
        Err(e) => Err(ParseError::msg(format!("cannot read {file}: {e}"))),
    }
}

/// Walk the tree: which directories have a Tupfile (or a Tupdefault above
/// them), and which are variants.
pub fn scan(root: &Path, opts: &ParseOptions) -> Result<SourceTree, ParseError> {
    let mut tree = SourceTree::default();
    let mut todo = vec![(ProjPath::root(), None::<ProjPath>)];
    while let Some((dir, inherited_default)) = todo.pop() {
        let disk = dir.to_disk(root);
        let has = |name: &str| disk.join(name).is_file();
        if !dir.is_root() && has("tup.config") {
            tree.variants.push(dir);
            continue;
        }
        tree.dirs.push(dir.clone());
        let default = if has("Tupdefault") {
            Some(dir.child("Tupdefault"))
        } else {
            inherited_default
        };
        if has("Tupfile") {
            tree.tupfiles.insert(dir.clone(), dir.child("Tupfile"));
        } else if let Some(lua) = ["Tupfile.lua", "Tupdefault.lua"]
            .into_iter()
            .find(|n| has(n))
        {
            return Err(ParseError::at(
                &Location {
                    file: dir.child(lua),
                    line: 1,
                },
                "Lua Tupfiles are not supported by tupfs; write the rules in a plain 'Tupfile'",
            ));
        } else if let Some(d) = &default {
            // A directory the last build made for its outputs is not source.
            if !only_previous_outputs(root, &dir, opts) {
                tree.tupfiles.insert(dir.clone(), d.clone());
            }
        }
        let subdirs = subdirs(root, &dir)?;
        todo.extend(subdirs.into_iter().map(|d| (d, default.clone())));
    }
    tree.variants.sort();
    tree.dirs.sort();
    Ok(tree)
}

/// The visible subdirectories of `dir`, in listing order.
fn subdirs(root: &Path, dir: &ProjPath) -> Result<Vec<ProjPath>, ParseError> {
    let entries = fs::read_dir(dir.to_disk(root))
        .map_err(|e| ParseError::msg(format!("cannot list directory {dir}: {e}")))?;
    let mut subdirs = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if is_dir && !name.starts_with('.') {
            subdirs.push(dir.child(&name));
        }
    }
    Ok(subdirs)
}

/// True if every entry of `dir` is an output of the last build.
fn only_previous_outputs(root: &Path, dir: &ProjPath, opts: &ParseOptions) -> bool {
    let Ok(entries) = fs::read_dir(dir.to_disk(root)) else {
        return false;
    };
    let mut any = false;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !opts.previous_outputs.contains(&dir.child(&name)) {
            return false;
        }
        any = true;
    }
    any
}

impl Driver<'_> {
    /// Take the directories `partial` does not parse as parsed already,
    /// their outputs declared as their kept rules say.
    fn keep(&mut self, partial: &Partial) {
        for dir in self.tupfiles.keys() {
            let key = super::TupfileKey {
                variant: self.variant.clone(),
                dir: dir.clone(),
            };
            if !partial.parse.contains(&key) {
                self.state.insert(dir.clone(), DirState::Done);
            }
        }
        let rules = partial.kept.iter().filter(|r| r.variant == self.variant);
        for rule in rules {
            for out in rule.outputs.iter().chain(&rule.extra_outputs) {
                let logical = variant_logical(&self.variant, out);
                self.outputs_by_dir
                    .entry(logical.parent())
                    .or_default()
                    .insert(logical.file_name().to_string());
                let info = OutputInfo {
                    location: rule.location.clone(),
                    tupfile_dir: rule.source_dir.clone(),
                };
                self.outputs.insert(logical, info);
            }
        }
    }

    /// Parse the Tupfile of `dir` now unless it is parsed (a directory with
    /// no Tupfile needs nothing). A directory met again while it is being
    /// parsed is a cycle.
    pub fn ensure_parsed(&mut self, dir: &ProjPath) -> Result<(), ParseError> {
        let Some(file) = self.tupfiles.get(dir).cloned() else {
            return Ok(());
        };
        match self.state.get(dir) {
            Some(DirState::Done) => return Ok(()),
            Some(DirState::Parsing) => {
                let mut chain: Vec<String> = self
                    .stack
                    .iter()
                    .skip_while(|d| *d != dir)
                    .map(|d| d.to_string())
                    .collect();
                chain.push(dir.to_string());
                return Err(ParseError::msg(format!(
                    "circular dependency among Tupfiles: {} (each uses outputs of the next)",
                    chain.join(" -> ")
                )));
            }
            None => {}
        }
        self.state.insert(dir.clone(), DirState::Parsing);
        self.stack.push(dir.clone());
        let outcome = directives::parse_tupfile(self, dir, &file);
        self.stack.pop();
        let outcome = outcome?;
        self.state.insert(dir.clone(), DirState::Done);
        self.done.insert(dir.clone(), outcome);
        Ok(())
    }

    /// True if `dir` is a source directory with a Tupfile (or Tupdefault).
    pub fn has_tupfile(&self, dir: &ProjPath) -> bool {
        self.tupfiles.contains_key(dir)
    }

    /// Where a logical (source-tree) path lives for this variant.
    pub fn mirror(&self, logical: &ProjPath) -> ProjPath {
        variant_mirror(&self.variant, logical)
    }

    /// True if `logical` is a variant directory or lies in one (not source).
    pub fn in_variant_dir(&self, logical: &ProjPath) -> bool {
        self.skip.iter().any(|v| logical.starts_with(v))
    }

    /// True if `logical` is a source file on disk (not an output of the
    /// last build, not inside a variant directory).
    pub fn is_source_file(&self, logical: &ProjPath) -> bool {
        !self.in_variant_dir(logical)
            && !self.opts.previous_outputs.contains(logical)
            && logical.to_disk(self.root).is_file()
    }

    /// True if `logical` is a directory of the source tree.
    pub fn is_source_dir(&self, logical: &ProjPath) -> bool {
        !self.in_variant_dir(logical) && logical.to_disk(self.root).is_dir()
    }

    /// Names a glob in `dir` can match for a Tupfile in `tupfile_dir`: the
    /// outputs declared there by the directory's own Tupfile or by
    /// `tupfile_dir`, and the source files. In-tree they are merged in name
    /// order; in a variant the outputs come first (as tup lists them).
    pub fn glob_candidates(&self, dir: &ProjPath, tupfile_dir: &ProjPath) -> Vec<String> {
        let outputs: Vec<String> = self
            .outputs_by_dir
            .get(dir)
            .into_iter()
            .flatten()
            .filter(|name| {
                self.outputs
                    .get(&dir.child(name))
                    .is_some_and(|o| o.tupfile_dir == *dir || o.tupfile_dir == *tupfile_dir)
            })
            .cloned()
            .collect();
        let mut sources = self.source_files(dir);
        if self.variant.is_root() {
            sources.extend(outputs);
            sources.sort();
            sources.dedup();
            sources
        } else {
            let mut all = outputs;
            all.extend(sources);
            all
        }
    }

    /// The source files (not hidden, not earlier outputs) of `dir`, sorted.
    fn source_files(&self, dir: &ProjPath) -> Vec<String> {
        if self.in_variant_dir(dir) {
            return Vec::new();
        }
        let Ok(entries) = fs::read_dir(dir.to_disk(self.root)) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter(|e| e.path().is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .filter(|n| !self.opts.previous_outputs.contains(&dir.child(n)))
            .collect();
        names.sort();
        names
    }

    /// Move this variant's results into `project`.
    fn finish(self, project: &mut ParsedProject) {
        let gitignore_dirs: Vec<ProjPath> = self
            .done
            .iter()
            .filter(|(_, o)| o.gitignore)
            .map(|(d, _)| d.clone())
            .collect();
        for dir in gitignore_dirs {
            project.gitignores.push(gitignore::entries_for(
                &dir,
                &self.mirror(&dir),
                &self.outputs,
                self.tupfiles,
            ));
        }
        for (_, mut outcome) in self.done {
            // `tup varsed` reads the config when it runs: the command
            // depends on all of it (its identity holds every value).
            for rule in &mut outcome.rules {
                if super::calls_varsed(&rule.command) {
                    for (k, v) in &self.config.values {
                        rule.config_used.insert(k.clone(), v.clone());
                        outcome.record.config.insert(k.clone(), Some(v.clone()));
                    }
                }
            }
            project.rules.extend(outcome.rules);
            project.tupfiles.push(outcome.record);
        }
    }
}
