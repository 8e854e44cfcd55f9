//! `generate [--config FILE] [--builddir DIR] SCRIPT [TARGETS]`: a plain
//! `/bin/sh` script that builds the project from clean without tupfs (for
//! machines without FUSE), every command in dependency order, each run as
//! tupfs runs it: `/bin/sh -e -c` (`^b`: bash with pipefail) in its
//! directory, with only its exported environment variables.
//!
//! With `--builddir`, the script builds as a variant in DIR (which must not
//! exist): as tupfs's mount shows the source tree inside a variant
//! directory, the script links every source file into DIR first and
//! removes those links at the end, leaving only the outputs.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};

use super::Global;
use crate::exec::{self, targets};
use crate::graph::{CmdId, Graph};
use crate::paths::ProjPath;
use crate::project::Project;
use crate::tupfile::{self, Config, ParseOptions, ParsedProject};

/// `generate`'s arguments.
#[derive(clap::Args, Debug)]
pub struct GenerateArgs {
    /// Use this config file instead of the top-level tup.config.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Build as a variant in DIR (must not exist) instead of in-tree.
    #[arg(long, value_name = "DIR")]
    pub builddir: Option<PathBuf>,
    /// The script to write.
    pub script: PathBuf,
    /// Outputs or directories to build (default: all).
    pub targets: Vec<PathBuf>,
}

/// Parse, order and write the script (executable).
pub fn run(dir: &Path, args: &GenerateArgs, global: &Global) -> Result<ExitCode> {
    let project = Project::find(dir)?;
    let root = &project.root;
    let cwd = dir.canonicalize()?;
    let variant = match &args.builddir {
        Some(b) => builddir(root, &cwd, b)?,
        None => ProjPath::root(),
    };
    let options = ParseOptions {
        previous_outputs: exec::previous_outputs(&project),
        only_variant: Some(Box::new((
            variant.clone(),
            config(root, &cwd, args.config.as_deref())?,
        ))),
        ..ParseOptions::default()
    };
    let parsed = tupfile::parse_project_with(root, &options)?;
    let tree = source_files(root, &parsed, &options)?;
    let graph = Graph::build(parsed.rules)?;
    let selected = targets::select(&graph, root, &cwd, &args.targets)?;
    let script_path = cwd.join(&args.script);
    let to_root = match script_path.parent().map(|p| p.canonicalize()) {
        Some(Ok(parent)) if parent.starts_with(root) => {
            let parent = ProjPath::from_disk(root, &parent)?;
            Some(ProjPath::root().relative_to(&parent))
        }
        _ => None,
    };
    let script = Script {
        graph: &graph,
        selected: &selected,
        variant: &variant,
        sources: &tree,
        to_root,
    };
    let text = script.text();
    std::fs::write(&script_path, text)
        .with_context(|| format!("cannot write {}", script_path.display()))?;
    std::fs::set_permissions(&script_path, std::fs::Permissions::from_mode(0o755))?;
    if !global.quiet {
        let n = selected.iter().filter(|s| **s).count();
        println!("tupfs: wrote {} ({n} commands)", args.script.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The variant directory for `--builddir` (which must not exist).
fn builddir(root: &Path, cwd: &Path, dir: &Path) -> Result<ProjPath> {
    let abs = std::path::absolute(cwd.join(dir))?;
    if abs.exists() {
        bail!(
            "--builddir: {} already exists (the build directory must be new)",
            dir.display()
        );
    }
    let Ok(rel) = abs.strip_prefix(root) else {
        bail!("--builddir: {} is outside the project", dir.display());
    };
    let path = ProjPath::new(&rel.to_string_lossy())?;
    if path.is_root() {
        bail!("--builddir: expected a directory below the project root");
    }
    Ok(path)
}

/// The config: `--config FILE`, else the top-level tup.config (if any).
fn config(root: &Path, cwd: &Path, file: Option<&Path>) -> Result<Config> {
    let path = match file {
        Some(f) => cwd.join(f),
        None => root.join("tup.config"),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if file.is_none() && e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Config::default())
        }
        Err(e) => bail!("cannot read config file {}: {e}", path.display()),
    };
    let name = ProjPath::from_disk(root, &path).or_else(|_| ProjPath::new("tup.config"))?;
    Ok(Config::parse(&text, &name)?)
}

/// The source files of the tree (for a variant's mirror): every file of
/// every source directory the parse walked, outputs and hidden names left
/// out.
fn source_files(
    root: &Path,
    parsed: &ParsedProject,
    options: &ParseOptions,
) -> Result<Vec<ProjPath>> {
    let outputs: BTreeSet<&ProjPath> = parsed
        .rules
        .iter()
        .flat_map(|r| r.outputs.iter().chain(&r.extra_outputs))
        .chain(&options.previous_outputs)
        .collect();
    let mut files = Vec::new();
    for dir in &parsed.tree_dirs {
        let disk = dir.to_disk(root);
        let entries =
            std::fs::read_dir(&disk).with_context(|| format!("cannot list {}", disk.display()))?;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = dir.child(&name);
            let skipped = name.starts_with('.') || name == "tup.config";
            if skipped || entry.file_type()?.is_dir() || outputs.contains(&path) {
                continue;
            }
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Shell single quotes around `s`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// What the script is made of.
struct Script<'a> {
    graph: &'a Graph,
    selected: &'a [bool],
    variant: &'a ProjPath,
    sources: &'a [ProjPath],
    /// The project root relative to the script's directory (None: the
    /// script lies outside the project; it is run from the root).
    to_root: Option<String>,
}

impl Script<'_> {
    fn text(&self) -> String {
        let mut s = String::from("#!/bin/sh -e\n");
        s.push_str("# Written by `tupfs generate`: builds the project from a clean tree without\n");
        s.push_str("# tupfs, every command in dependency order. Not incremental: run it once.\n");
        match &self.to_root {
            Some(rel) => {
                let _ = writeln!(s, "cd \"$(dirname \"$0\")\"/{}", sh_quote(rel));
            }
            None => s.push_str("# Run it from the project root.\n"),
        }
        let mut made: BTreeSet<ProjPath> = BTreeSet::new();
        if !self.variant.is_root() {
            made = self.mirror(&mut s, "ln -s");
        }
        let order: Vec<CmdId> = self.graph.topo_order();
        for &id in order.iter().filter(|id| self.selected[id.index()]) {
            self.command(&mut s, id, &mut made);
        }
        self.transients(&mut s, &order);
        if !self.variant.is_root() {
            self.mirror(&mut s, "rm -f");
        }
        s
    }

    /// Link every source file into the variant directory (`ln -s`), or
    /// remove those links (`rm -f`); returns the directories made.
    fn mirror(&self, s: &mut String, op: &str) -> BTreeSet<ProjPath> {
        let mut dirs = BTreeSet::new();
        if op == "ln -s" {
            s.push_str("# The source tree, as the variant directory shows it to the commands:\n");
        } else {
            s.push_str("# The links to the source tree:\n");
        }
        for file in self.sources {
            let link = ProjPath::join(self.variant, file.as_str()).unwrap_or_else(|_| file.clone());
            let dir = link.parent();
            if op == "ln -s" && dirs.insert(dir.clone()) {
                let _ = writeln!(s, "mkdir -p {}", sh_quote(dir.as_str()));
            }
            match op {
                "ln -s" => {
                    let target = file.relative_to(&dir);
                    let _ = writeln!(s, "ln -s {} {}", sh_quote(&target), sh_quote(link.as_str()));
                }
                _ => {
                    let _ = writeln!(s, "rm -f {}", sh_quote(link.as_str()));
                }
            }
        }
        dirs
    }

    /// One command: its output directories, then the command itself in its
    /// directory with its environment.
    fn command(&self, s: &mut String, id: CmdId, made: &mut BTreeSet<ProjPath>) {
        let rule = &self.graph.cmd(id).rule;
        for out in self.graph.outputs(id) {
            let parent = out.parent();
            if !parent.is_root() && made.insert(parent.clone()) {
                let _ = writeln!(s, "mkdir -p {}", sh_quote(parent.as_str()));
            }
        }
        if let Some(display) = &rule.display {
            let _ = writeln!(s, "# {display}");
        }
        let mut env: Vec<String> = rule
            .exports
            .iter()
            .map(|name| format!("{name}=\"${name}\""))
            .collect();
        if tupfile::calls_varsed(&rule.command) {
            let vardict = super::varsed::vardict(&rule.config_used);
            let name = super::varsed::VARDICT_ENV;
            env.push(format!("{name}={}", sh_quote(&vardict)));
        }
        let shell = match rule.flags.bash {
            true => "/bin/bash -e -o pipefail -c",
            false => "/bin/sh -e -c",
        };
        let dir = if rule.dir.is_root() {
            "."
        } else {
            rule.dir.as_str()
        };
        let _ = writeln!(
            s,
            "(cd {} && exec env -i {} {shell} {})",
            sh_quote(dir),
            env.join(" "),
            sh_quote(&rule.command)
        );
    }

    /// `^t` outputs are deleted once every command that reads them ran, as
    /// tupfs does.
    fn transients(&self, s: &mut String, order: &[CmdId]) {
        for &id in order.iter().filter(|id| self.selected[id.index()]) {
            if self.graph.cmd(id).rule.flags.transient {
                for out in self.graph.outputs(id) {
                    let _ = writeln!(s, "rm -f {}", sh_quote(out.as_str()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(sh_quote("echo 'hi' there"), r"'echo '\''hi'\'' there'");
    }
}
