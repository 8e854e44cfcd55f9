//! Where a build's rules come from: the index, a parse of the Tupfiles
//! whose inputs changed, or a parse of every Tupfile ([`crate::reparse`]
//! decides), with what the index must record of the parse. `run` scripts
//! run traced ([`TracedScripts`]).

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use crate::exec::scripts::TracedScripts;
use crate::index::TreeEntry;
use crate::project::Project;
use crate::reparse::{self, Decision, Dirty};
use crate::reuse::{self, Prior};
use crate::tupfile::{self, ParseOptions, ParsedProject, Partial, Rule, TupfileKey};

/// A build's rules and what to record of the parse that gave them.
pub struct Rules {
    /// Every rule, in parse order.
    pub rules: Vec<Rule>,
    /// What each Tupfile parsed in this build read.
    pub tupfiles: Vec<tupfile::TupfileRecord>,
    /// The tree as the parse saw it (empty when nothing was parsed).
    pub tree: Vec<TreeEntry>,
    /// Every rule came from the index.
    pub reused: bool,
    /// The Tupfiles whose rules came from the index (partial parse).
    pub kept: BTreeSet<TupfileKey>,
    /// How many Tupfiles were parsed (a partial parse that did not stand
    /// counts with the full one after it).
    pub parsed: usize,
    /// Only these commands of the index were materialised ([`crate::cone`];
    /// None: every rule is here).
    pub cone: Option<std::sync::Arc<crate::cone::Cone>>,
}

/// The error text and the number of Tupfiles parsed before it.
type Failed = (String, usize);

/// The rules `decision` says to take from the index or parse. `explain`:
/// say on stdout why Tupfiles are parsed.
pub fn rules_for_build(
    project: &Project,
    prior: &Prior,
    decision: Decision,
    explain: bool,
) -> Result<Rules, Failed> {
    rules_for(project, prior, decision, explain, Write::Gitignores)
}

/// [`rules_for_build`] for a command that only looks (`todo`, `graph`):
/// the `.gitignore`s are not written.
pub fn rules_for_preview(
    project: &Project,
    prior: &Prior,
    decision: Decision,
) -> Result<Rules, Failed> {
    rules_for(project, prior, decision, false, Write::Nothing)
}

/// Whether a parse writes the `.gitignore`s its Tupfiles ask for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Write {
    Gitignores,
    Nothing,
}

/// [`rules_for_build`], writing what `write` says.
fn rules_for(
    project: &Project,
    prior: &Prior,
    decision: Decision,
    explain: bool,
    write: Write,
) -> Result<Rules, Failed> {
    let scripts = Arc::new(TracedScripts::new(project));
    let rules = rules_with(project, prior, decision, (explain, write), &scripts);
    let unmounted = scripts.unmount();
    let rules = rules?;
    unmounted.map_err(|e| (e, rules.parsed))?;
    Ok(rules)
}

/// [`rules_for_build`], with `scripts` running the `run` scripts.
fn rules_with(
    project: &Project,
    prior: &Prior,
    decision: Decision,
    (explain, write): (bool, Write),
    scripts: &Arc<TracedScripts>,
) -> Result<Rules, Failed> {
    match decision {
        Decision::Reuse => Ok(Rules {
            rules: prior.rules().map_err(|e| (e, 0))?,
            tupfiles: Vec::new(),
            tree: Vec::new(),
            reused: true,
            kept: BTreeSet::new(),
            parsed: 0,
            cone: None,
        }),
        Decision::Full(why) => {
            say(explain, &format!("parsing every Tupfile: {why}"));
            let options = ParseOptions {
                scripts: scripts.clone(),
                ..prior.parse_options()
            };
            parse_all(project, &options, 0, write)
        }
        Decision::Partial(dirty) => {
            let dirty = Dirty {
                options: ParseOptions {
                    scripts: scripts.clone(),
                    ..dirty.options
                },
                ..dirty
            };
            parse_some(project, prior, dirty, (explain, write))
        }
    }
}

/// An `--explain` line (and a debug log line).
fn say(explain: bool, line: &str) {
    log::debug!("{line}");
    if explain {
        println!("explain: {line}");
    }
}

/// Parse every Tupfile with `options`. `before`: Tupfiles already parsed
/// in vain.
fn parse_all(
    project: &Project,
    options: &ParseOptions,
    before: usize,
    write: Write,
) -> Result<Rules, Failed> {
    let parsed = tupfile::parse_project_with(&project.root, options)
        .map_err(|e| (e.to_string(), before + 1))?;
    let count = before + parsed.tupfiles.len();
    finish(project, options, parsed, (BTreeSet::new(), count), write)
}

/// Parse the Tupfiles `dirty` names and take the others' rules from the
/// index, or parse every Tupfile when that would not be exact.
fn parse_some(
    project: &Project,
    prior: &Prior,
    dirty: Dirty,
    (explain, write): (bool, Write),
) -> Result<Rules, Failed> {
    for (key, why) in &dirty.parse {
        say(explain, &format!("parsing the Tupfile of {key}: {why}"));
    }
    let index = prior.index.as_ref().ok_or(("no index".to_string(), 0))?;
    let began = std::time::Instant::now();
    let touched = dirty.touched();
    let (old, kept): (Vec<Rule>, Vec<Rule>) = prior
        .rules()
        .map_err(|e| (e, 0))?
        .into_iter()
        .partition(|r| touched.contains(&TupfileKey::of_rule(r)));
    log::debug!(
        "timing: partial parse: rules from the index in {:?}",
        began.elapsed()
    );
    let options = &dirty.options;
    let parse: BTreeSet<TupfileKey> = dirty.parse.keys().cloned().collect();
    let partial = Partial {
        parse: &parse,
        kept,
    };
    let parsed = tupfile::parse_partial(&project.root, options, &dirty.tree, partial)
        .map_err(|e| e.to_string())
        .and_then(|p| {
            log::debug!("timing: partial parse: parsed in {:?}", began.elapsed());
            reparse::stands(index, &dirty, &old, &p).map(|()| p)
        });
    log::debug!("timing: partial parse: checked in {:?}", began.elapsed());
    match parsed {
        Ok(parsed) => {
            let kept: BTreeSet<TupfileKey> = index
                .tupfiles()
                .filter_map(|v| reparse::key_of(&v))
                .filter(|k| !touched.contains(k))
                .collect();
            let count = parsed.tupfiles.len();
            finish(project, options, parsed, (kept, count), write)
        }
        Err(why) => {
            say(explain, &format!("parsing every Tupfile: {why}"));
            parse_all(project, options, parse.len(), write)
        }
    }
}

/// Write the `.gitignore`s the parsed Tupfiles ask for and take the tree
/// as the parse saw it (the last build's outputs and this one's are not
/// part of a listing).
fn finish(
    project: &Project,
    options: &ParseOptions,
    parsed: ParsedProject,
    (kept, count): (BTreeSet<TupfileKey>, usize),
    write: Write,
) -> Result<Rules, Failed> {
    if write == Write::Gitignores {
        tupfile::write_gitignores(&project.root, &parsed)
            .map_err(|e| (format!("cannot write a .gitignore: {e:#}"), count))?;
    }
    let outputs: HashSet<&str> = parsed
        .rules
        .iter()
        .flat_map(|r| r.outputs.iter().chain(&r.extra_outputs))
        .chain(&options.previous_outputs)
        .map(|p| p.as_str())
        .collect();
    let began = std::time::Instant::now();
    let tree = reuse::tree_entries(&project.root, &parsed, &|p| outputs.contains(p));
    log::debug!("timing: parse: the tree listed in {:?}", began.elapsed());
    Ok(Rules {
        tupfiles: parsed.tupfiles,
        rules: parsed.rules,
        tree,
        reused: false,
        kept,
        parsed: count,
        cone: None,
    })
}
