//! `refactor` (`ref`): parse every Tupfile and report, as errors, each
//! difference from the build the index records — commands added or
//! removed, a command's text, its outputs, its generated inputs, its
//! groups, and `.gitignore` directives — running nothing and writing
//! nothing. A change that only moves text into variables or macros gives
//! the same rules, so it passes.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{anyhow, bail, Result};

use super::Global;
use crate::exec::scripts::TracedScripts;
use crate::lock::BuildLock;
use crate::options::Options;
use crate::paths::ProjPath;
use crate::project::Project;
use crate::reuse::Prior;
use crate::tupfile::{self, ParseOptions, ParsedProject, Rule};

/// Compare and report; exit 1 when anything differs.
pub fn run(dir: &Path, global: &Global) -> Result<ExitCode> {
    let project = Project::find(dir)?;
    project.ensure_initialised()?;
    let _lock = BuildLock::acquire(&project.state_dir())?;
    let change = Options::load_all(&project.state_dir())?.options.change;
    let prior = Prior::open(&project, change);
    if prior.index.is_none() {
        bail!("no build recorded yet: refactor compares the Tupfiles with the last build");
    }
    let old = prior.rules().map_err(|e| anyhow!(e))?;
    let parsed = parse(&project, &prior)?;
    let mut errors = compare(&old, &parsed.rules);
    errors.extend(gitignores(&project.root, &parsed));
    for e in &errors {
        eprintln!("tupfs: refactor: {e}");
    }
    if errors.is_empty() {
        if !global.quiet {
            println!("tupfs: refactor: the Tupfiles describe the same build");
        }
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("tupfs: refactor: {} change(s) to the build", errors.len());
    Ok(ExitCode::FAILURE)
}

/// Every Tupfile parsed (`run` scripts traced, as in a build).
fn parse(project: &Project, prior: &Prior) -> Result<ParsedProject> {
    let scripts = Arc::new(TracedScripts::new(project));
    let options = ParseOptions {
        scripts: scripts.clone(),
        ..prior.parse_options()
    };
    let parsed = tupfile::parse_project_with(&project.root, &options);
    let unmounted = scripts.unmount();
    let parsed = parsed?;
    unmounted.map_err(|e| anyhow!(e))?;
    Ok(parsed)
}

/// The differences between the recorded rules and the parsed ones: rules
/// are paired by their text, else all their outputs, else their first
/// output (in one directory); the rest were added or removed.
fn compare(old: &[Rule], new: &[Rule]) -> Vec<String> {
    let mut old: Vec<&Rule> = old.iter().filter(|r| !r.command.is_empty()).collect();
    let mut new: Vec<&Rule> = new.iter().filter(|r| !r.command.is_empty()).collect();
    let old_outputs = all_outputs(&old);
    let new_outputs = all_outputs(&new);
    let mut pairs = Vec::new();
    take_pairs(&mut old, &mut new, &mut pairs, |r| {
        (r.variant.clone(), r.dir.clone(), r.command.clone())
    });
    take_pairs(&mut old, &mut new, &mut pairs, |r| {
        let outs: Vec<ProjPath> = r.outputs.iter().chain(&r.extra_outputs).cloned().collect();
        (r.variant.clone(), r.dir.clone(), format!("{outs:?}"))
    });
    take_pairs(&mut old, &mut new, &mut pairs, |r| {
        let first = r.outputs.first().or(r.extra_outputs.first()).cloned();
        (r.variant.clone(), r.dir.clone(), first)
    });
    let mut errors = Vec::new();
    for (o, n) in pairs {
        errors.extend(differences(o, n, &old_outputs, &new_outputs));
    }
    for r in new {
        errors.push(format!("{}: command added: {}", r.location, r.command));
    }
    for r in old {
        errors.push(format!("{}: command removed: {}", r.location, r.command));
    }
    errors
}

/// Move the rules of `old` and `new` with equal keys into `pairs`.
fn take_pairs<'a, K: PartialEq>(
    old: &mut Vec<&'a Rule>,
    new: &mut Vec<&'a Rule>,
    pairs: &mut Vec<(&'a Rule, &'a Rule)>,
    key: impl Fn(&Rule) -> K,
) {
    let mut i = 0;
    while i < new.len() {
        let k = key(new[i]);
        match old.iter().position(|o| key(o) == k) {
            Some(j) => pairs.push((old.remove(j), new.remove(i))),
            None => i += 1,
        }
    }
}

fn all_outputs(rules: &[&Rule]) -> BTreeSet<ProjPath> {
    rules
        .iter()
        .flat_map(|r| r.outputs.iter().chain(&r.extra_outputs).cloned())
        .collect()
}

/// How the paired rules `o` (recorded) and `n` (parsed) differ.
fn differences(
    o: &Rule,
    n: &Rule,
    old_outputs: &BTreeSet<ProjPath>,
    new_outputs: &BTreeSet<ProjPath>,
) -> Vec<String> {
    let at = &n.location;
    let mut out = Vec::new();
    if o.command != n.command {
        out.push(format!(
            "{at}: command changed: '{}' became '{}'",
            o.command, n.command
        ));
    }
    let outputs = |r: &Rule| -> BTreeSet<String> {
        r.outputs
            .iter()
            .chain(&r.extra_outputs)
            .map(|p| p.to_string())
            .collect()
    };
    diff_sets(&mut out, at, "output", &outputs(o), &outputs(n));
    let generated = |r: &Rule, all: &BTreeSet<ProjPath>| -> BTreeSet<String> {
        r.inputs
            .iter()
            .chain(&r.order_only)
            .filter(|p| all.contains(*p))
            .map(|p| p.to_string())
            .collect()
    };
    let (go, gn) = (generated(o, old_outputs), generated(n, new_outputs));
    diff_sets(&mut out, at, "generated input", &go, &gn);
    let groups =
        |r: &Rule| -> BTreeSet<String> { r.input_groups.iter().map(|g| g.to_string()).collect() };
    diff_sets(&mut out, at, "input group", &groups(o), &groups(n));
    let group =
        |r: &Rule| -> BTreeSet<String> { r.output_group.iter().map(|g| g.to_string()).collect() };
    diff_sets(&mut out, at, "output group", &group(o), &group(n));
    out
}

/// One error per member added to or removed from a set.
fn diff_sets(
    out: &mut Vec<String>,
    at: &tupfile::Location,
    what: &str,
    old: &BTreeSet<String>,
    new: &BTreeSet<String>,
) {
    for added in new.difference(old) {
        out.push(format!("{at}: {what} added: {added}"));
    }
    for removed in old.difference(new) {
        out.push(format!("{at}: {what} removed: {removed}"));
    }
}

/// `.gitignore` directives added (no generated `.gitignore` there yet) or
/// removed (one is there, and no Tupfile asks for it now).
fn gitignores(root: &Path, parsed: &ParsedProject) -> Vec<String> {
    let wanted: BTreeSet<&ProjPath> = parsed.gitignores.iter().map(|g| &g.dir).collect();
    let generated = |dir: &ProjPath| {
        std::fs::read_to_string(dir.to_disk(root).join(".gitignore"))
            .is_ok_and(|t| tupfile::is_generated_gitignore(&t))
    };
    let mut out = Vec::new();
    for dir in &wanted {
        if !generated(dir) {
            out.push(format!(
                "{}: .gitignore directive added",
                dir.child("Tupfile")
            ));
        }
    }
    let dirs = parsed.tree_dirs.iter().chain(&parsed.variants);
    for dir in dirs.filter(|d| !wanted.contains(d)) {
        if generated(dir) {
            out.push(format!(
                "{}: .gitignore directive removed",
                dir.child("Tupfile")
            ));
        }
    }
    out
}
