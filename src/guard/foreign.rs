//! Outputs that would replace files tupfs did not make: an output path
//! that exists on disk but that no earlier build made, an output whose
//! directory is now a file, and a new variant directory that holds more
//! than its `tup.config` (tup's rule). Found before anything runs.

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::path::Path;

use crate::change::Changes;
use crate::graph::{describe, CmdId, Graph};
use crate::index::Index;
use crate::paths::ProjPath;

/// What tupfs knows it made: the index's outputs and `.tupfs/outputs`.
pub struct Known<'a> {
    /// The last build's index, if usable.
    pub index: Option<&'a Index>,
    /// The paths of `.tupfs/outputs` (empty when absent or not loaded).
    pub made: &'a HashSet<String>,
}

impl Known<'_> {
    /// True when an earlier build made (or was about to make) `path`.
    pub fn contains(&self, path: &str) -> bool {
        self.made.contains(path)
            || self
                .index
                .is_some_and(|i| i.command_by_output(path).is_some())
    }
}

/// One output that would replace something of the user's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Foreign {
    /// The output's path holds a file (of the named type) tupfs did not make.
    Exists {
        output: ProjPath,
        cmd: CmdId,
        kind: &'static str,
    },
    /// A directory on the output's path is a file tupfs did not make.
    DirIsFile {
        output: ProjPath,
        cmd: CmdId,
        file: ProjPath,
        kind: &'static str,
    },
    /// A file in a variant directory new to this build.
    InVariant { variant: ProjPath, file: ProjPath },
}

/// The outputs of `graph` that `known` does not hold, with their commands.
pub fn unknown_outputs<'g>(graph: &'g Graph, known: &Known) -> Vec<(CmdId, &'g ProjPath)> {
    graph
        .commands()
        .flat_map(|(id, _)| graph.outputs(id).map(move |p| (id, p)))
        .filter(|(_, p)| !known.contains(p.as_str()))
        .collect()
}

/// What is in the way of each of `outputs` on disk (one `lstat` each, and
/// the directories above it when one is not a directory).
pub fn in_the_way(root: &Path, outputs: &[(CmdId, &ProjPath)], known: &Known) -> Vec<Foreign> {
    let mut found = Vec::new();
    for &(cmd, output) in outputs {
        match fs::symlink_metadata(output.to_disk(root)) {
            Ok(m) => found.push(Foreign::Exists {
                output: output.clone(),
                cmd,
                kind: kind_name(&m),
            }),
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
                found.extend(dir_is_file(root, cmd, output, known));
            }
            Err(_) => {}
        }
    }
    found
}

/// Outputs the last build recorded that the scan found gone and that a
/// rule still makes: is a directory on their path now a user's file?
/// (Costs nothing unless outputs went missing.)
pub fn missing_outputs_blocked(
    root: &Path,
    graph: &Graph,
    index: &Index,
    scan: &Changes,
    known: &Known,
) -> Vec<Foreign> {
    let mut seen_dirs = HashSet::new();
    let mut found = Vec::new();
    for (slot, judged) in &scan.files {
        if judged.state.is_some() {
            continue;
        }
        let Some(file) = index.file_at(*slot) else {
            continue;
        };
        // Ghosts (recorded absent) are most absent files: not outputs.
        if file.state().is_none() {
            continue;
        }
        let Ok(path) = ProjPath::new(file.path()) else {
            continue;
        };
        let Some(cmd) = graph.producer_of(&path) else {
            continue;
        };
        if seen_dirs.insert(path.parent()) {
            found.extend(dir_is_file(root, cmd, &path, known));
        }
    }
    found
}

/// The nearest existing directory above `output` that is not a directory
/// (following symlinks), unless tupfs made it.
fn dir_is_file(root: &Path, cmd: CmdId, output: &ProjPath, known: &Known) -> Option<Foreign> {
    let mut dir = output.parent();
    while !dir.is_root() {
        if let Ok(m) = fs::metadata(dir.to_disk(root)) {
            if m.is_dir() || known.contains(dir.as_str()) {
                return None;
            }
            let kind = kind_name(&m);
            return Some(Foreign::DirIsFile {
                output: output.clone(),
                cmd,
                file: dir,
                kind,
            });
        }
        dir = dir.parent();
    }
    None
}

/// Files in the variant directories of `graph` that the last build did not
/// build in (all of them without an index), other than `tup.config`,
/// top-level dot files and `.gitignore` files (tup: a variant directory
/// must hold only its `tup.config` before the first build there), unless
/// tupfs made them.
pub fn variant_extras(
    root: &Path,
    graph: &Graph,
    index: Option<&Index>,
    known: &Known,
) -> Vec<Foreign> {
    let built: BTreeSet<&str> = index.map_or_else(BTreeSet::new, |i| {
        i.commands().map(|c| c.variant()).collect()
    });
    let variants: BTreeSet<&ProjPath> = graph
        .commands()
        .map(|(_, c)| &c.rule.variant)
        .filter(|v| !v.is_root() && !built.contains(v.as_str()))
        .collect();
    let mut found = Vec::new();
    for variant in variants {
        let mut files = Vec::new();
        list_files(root, variant, true, &mut files);
        // A file a rule outputs is reported as that rule's output.
        let extra = files
            .into_iter()
            .filter(|f| !known.contains(f.as_str()) && graph.producer_of(f).is_none());
        found.extend(extra.map(|file| Foreign::InVariant {
            variant: variant.clone(),
            file,
        }));
    }
    found
}

/// Every non-directory below `dir` but `.gitignore` files (at the top of
/// a variant: not `tup.config` nor dot files), sorted.
fn list_files(root: &Path, dir: &ProjPath, top: bool, out: &mut Vec<ProjPath>) {
    let Ok(entries) = fs::read_dir(dir.to_disk(root)) else {
        return;
    };
    let mut names: Vec<(String, bool)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let is_dir = e.file_type().ok()?.is_dir();
            Some((name, is_dir))
        })
        // The parse writes `.gitignore` files (the directive) before this.
        .filter(|(name, _)| name != ".gitignore")
        .filter(|(name, _)| !top || (!name.starts_with('.') && name != crate::reuse::CONFIG_FILE))
        .collect();
    names.sort();
    for (name, is_dir) in names {
        let path = dir.child(&name);
        match is_dir {
            true => list_files(root, &path, false, out),
            false => out.push(path),
        }
    }
}

/// tup's name for the type of what is on disk.
fn kind_name(m: &fs::Metadata) -> &'static str {
    let t = m.file_type();
    if t.is_file() {
        "normal file"
    } else if t.is_dir() {
        "directory"
    } else if t.is_symlink() {
        "symlink"
    } else {
        "special file"
    }
}

/// How many files a message names before "and N more".
const LISTED: usize = 10;

/// The error for `found` (not empty): each file with its rule, tup's
/// words, and the two ways out. `no_record`: there was no index at all.
pub fn message(graph: &Graph, found: &[Foreign], no_record: bool) -> String {
    let mut text = String::from(
        "files that tupfs did not make are in the way of this build; nothing ran and the files \
         are untouched:\n",
    );
    for f in found.iter().take(LISTED) {
        text.push_str(&describe_one(graph, f));
    }
    if found.len() > LISTED {
        text.push_str(&format!("  ... and {} more\n", found.len() - LISTED));
    }
    if no_record {
        text.push_str(
            "(tupfs has no record of an earlier build here: .tupfs/ is new or was deleted, so every \
             existing file counts as yours)\n",
        );
    }
    let in_variant = |f: &Foreign| matches!(f, Foreign::InVariant { .. });
    if found.iter().any(|f| !in_variant(f)) {
        text.push_str(
            "For an output, either:\n  1) if the rule is meant to make the file (say, it was left \
             by a build whose .tupfs/ was deleted), delete the file from the filesystem and build \
             again; or\n  2) if the file is yours, change the rule in the Tupfile so it does not \
             write it.\n",
        );
    }
    if found.iter().any(in_variant) {
        text.push_str(
            "For a variant directory: move the files out of it (or delete them, if a build made \
             them) and build again.\n",
        );
    }
    text.push_str("(tupfs never replaces or deletes a file it did not make.)");
    text
}

/// One file's lines of [`message`].
fn describe_one(graph: &Graph, f: &Foreign) -> String {
    match f {
        Foreign::Exists { output, cmd, kind } => format!(
            "  {output}: an output of {}, exists as a {kind} tupfs did not make\n    \
             (tup error: Attempting to insert '{output}' as a generated node when it already \
             exists as a different type ({kind}))\n",
            describe(&graph.cmd(*cmd).rule)
        ),
        Foreign::DirIsFile {
            output,
            cmd,
            file,
            kind,
        } => format!(
            "  {output}: an output of {}, cannot go in {file}, a {kind} tupfs did not make \
             (not a directory)\n",
            describe(&graph.cmd(*cmd).rule)
        ),
        Foreign::InVariant { variant, file } => format!(
            "  {file}: in the variant directory {variant}, which must hold only its tup.config \
             before its first build\n    (tup error: Variant directory must only contain a \
             tup.config file. Found extra files: {file})\n"
        ),
    }
}
