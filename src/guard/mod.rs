//! Checks made before anything runs (no command, no deletion): a build
//! never replaces a file tupfs did not make ([`foreign`], with the record
//! of what tupfs made in [`made`]), and never leaves to chance the order
//! between a command and a generated file it read last time ([`order`]).

pub mod foreign;
pub mod made;
pub mod order;

use std::collections::HashSet;

use crate::graph::Graph;
use crate::project::Project;
use crate::reuse::Prior;
use foreign::{Foreign, Known};

/// What the checks leave for the end of the build.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AfterRecord {
    /// `.tupfs/outputs` must be rewritten from the outputs of the index
    /// this build writes (it does not hold exactly them).
    pub rewrite_made: bool,
    /// The graph is a cone of a partial parse: `.tupfs/outputs` loses the
    /// stale outputs removed, and keeps every other line
    /// ([`settle_cone`]).
    pub cone: bool,
}

/// Check `graph` against the disk and the last build (`prior`, opened,
/// scanned and confirmed) before anything runs; `reused`: the graph's
/// rules came from the index unchanged. On success, the outputs no earlier
/// build made are recorded in `.tupfs/outputs` (durably) before returning.
/// The error is the whole message for the user.
pub fn check(
    project: &Project,
    graph: &Graph,
    prior: &Prior,
    reused: bool,
) -> Result<AfterRecord, String> {
    let state = project.state_dir();
    let root = &project.root;
    let index = prior.index.as_ref();
    if reused {
        // The same outputs as the last build: only a directory of one the
        // scan found gone can have become a user's file.
        let none = HashSet::new();
        let known = Known { index, made: &none };
        let found = index.map_or_else(Vec::new, |i| {
            foreign::missing_outputs_blocked(root, graph, i, &prior.scan, &known)
        });
        refuse(graph, &found, false)?;
        return Ok(AfterRecord {
            rewrite_made: !made::exists(&state),
            cone: false,
        });
    }
    check_parsed(project, graph, prior, None)
}

/// [`check`] of a graph of the cone of a partial parse
/// ([`crate::cone::parsed`]): a read left unordered by the graph may be
/// ordered through commands it does not hold, and `.tupfs/outputs` keeps
/// the outputs of the commands outside the cone.
pub fn check_cone(
    project: &Project,
    graph: &Graph,
    prior: &Prior,
    cone: &crate::cone::Cone,
) -> Result<AfterRecord, String> {
    check_parsed(project, graph, prior, Some(cone))
}

/// [`check`] of rules that were parsed (not all re-used from the index).
fn check_parsed(
    project: &Project,
    graph: &Graph,
    prior: &Prior,
    cone: Option<&crate::cone::Cone>,
) -> Result<AfterRecord, String> {
    let state = project.state_dir();
    let root = &project.root;
    let index = prior.index.as_ref();
    let made_set = made::load(&state)
        .map_err(|e| format!("cannot read {}: {e}", made::path(&state).display()))?
        .unwrap_or_default();
    let known = Known {
        index,
        made: &made_set,
    };
    let unknown = foreign::unknown_outputs(graph, &known);
    let mut found = foreign::in_the_way(root, &unknown, &known);
    if let Some(i) = index {
        found.extend(foreign::missing_outputs_blocked(
            root,
            graph,
            i,
            &prior.scan,
            &known,
        ));
    }
    found.extend(foreign::variant_extras(root, graph, index, &known));
    let no_record = index.is_none() && made_set.is_empty() && prior.note.is_none();
    refuse(graph, &found, no_record)?;
    if let Some(i) = index {
        let mut unordered = order::unordered(graph, i);
        if cone.is_some() {
            unordered.retain(|u| {
                !crate::cone::declared::reaches_in_graph(i, graph, u.producer, u.reader)
            });
        }
        if !unordered.is_empty() {
            return Err(order::message(graph, &unordered));
        }
    }
    made::append(&state, unknown.iter().map(|(_, p)| *p)).map_err(|e| {
        format!(
            "cannot record the outputs of this build in {}: {e}",
            made::path(&state).display()
        )
    })?;
    Ok(AfterRecord {
        rewrite_made: !unknown.is_empty() || !holds_exactly(graph, &made_set),
        cone: cone.is_some(),
    })
}

/// Fail with the message for `found`, if anything was found.
fn refuse(graph: &Graph, found: &[Foreign], no_record: bool) -> Result<(), String> {
    let mut seen = HashSet::new();
    let unique: Vec<Foreign> = found.iter().filter(|f| seen.insert(*f)).cloned().collect();
    match unique.is_empty() {
        true => Ok(()),
        false => Err(foreign::message(graph, &unique, no_record)),
    }
}

/// True when `made` is exactly the set of `graph`'s outputs.
fn holds_exactly(graph: &Graph, made: &HashSet<String>) -> bool {
    let mut count = 0;
    for (id, _) in graph.commands() {
        for out in graph.outputs(id) {
            if !made.contains(out.as_str()) {
                return false;
            }
            count += 1;
        }
    }
    count == made.len()
}

/// After the index of this build was written: make `.tupfs/outputs` hold
/// exactly its outputs (`graph`'s and the stale outputs it kept), when
/// `after` says it does not. A failure is only a warning: the record
/// then still holds a superset, as before.
pub fn settle(
    project: &Project,
    graph: &Graph,
    kept_stale: &[crate::paths::ProjPath],
    after: AfterRecord,
) -> std::io::Result<()> {
    if !after.rewrite_made {
        return Ok(());
    }
    if after.cone {
        return Ok(());
    }
    let outputs = graph
        .commands()
        .flat_map(|(id, _)| graph.outputs(id))
        .chain(kept_stale);
    made::rewrite(&project.state_dir(), outputs)
}

/// After the index of a cone's build was written ([`AfterRecord::cone`]):
/// the stale outputs it removed leave `.tupfs/outputs` (the outputs of the
/// commands outside the cone stay, and the new ones were appended before
/// anything ran).
pub fn settle_cone(
    project: &Project,
    removed: &[crate::paths::ProjPath],
    after: AfterRecord,
) -> std::io::Result<()> {
    if !after.cone || removed.is_empty() {
        return Ok(());
    }
    let state = project.state_dir();
    let Some(mut lines) = made::load(&state)? else {
        return Ok(());
    };
    for p in removed {
        lines.remove(p.as_str());
    }
    let mut paths: Vec<crate::paths::ProjPath> = lines
        .iter()
        .filter_map(|l| crate::paths::ProjPath::new(l).ok())
        .collect();
    paths.sort();
    made::rewrite(&state, &paths)
}
