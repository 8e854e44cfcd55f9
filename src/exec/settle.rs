//! Settling a finished job: report the checks (the worker ran them), commit the writes of a job that
//! passed (only its declared outputs), or discard them and remove its
//! previous outputs so a failed command leaves nothing that looks current.

use std::collections::BTreeSet;

use super::job::{Exit, JobResult};
use super::schedule::{Context, RunStatus};
use super::signals;
use crate::graph::{describe, CmdId, Graph};
use crate::outside::OutsidePath;
use crate::paths::ProjPath;

/// What the scheduler keeps of a finished job.
pub struct Settled {
    /// How it went.
    pub status: RunStatus,
    /// What it read (when it passed).
    pub reads: Option<BTreeSet<ProjPath>>,
    /// What it looked up in vain (when it passed).
    pub ghosts: Option<BTreeSet<ProjPath>>,
    /// Its outputs that came out with new content.
    pub changed: Vec<ProjPath>,
    /// Full dependencies: what it read or looked for outside the project
    /// (when it passed).
    pub outside: BTreeSet<OutsidePath>,
}

/// Check, commit or discard, and report job `n` of this build.
pub fn settle(ctx: &Context, result: JobResult, n: usize) -> Settled {
    let graph = ctx.graph;
    let id = result.cmd;
    let interrupted = signals::interrupted() && !result.exit.success();
    let mut why: Vec<String> = exit_problem(&result.exit).into_iter().collect();
    let Some(finished) = result.finished else {
        return fail(ctx, id, &why, &result.output, interrupted);
    };
    why.extend(result.violations.into_iter().map(|v| v.0));
    if !why.is_empty() {
        let _ = finished.pending.discard();
        return fail(ctx, id, &why, &result.output, interrupted);
    }
    let declared: BTreeSet<String> = graph.outputs(id).map(|p| p.as_str().into()).collect();
    if let Err(e) = finished.pending.commit(&|p| declared.contains(p)) {
        let why = [format!("cannot move its outputs into place: {e}")];
        return fail(ctx, id, &why, &result.output, false);
    }
    let rule = &graph.cmd(id).rule;
    let label = ctx.ui.label(rule.display.as_deref(), &rule.command);
    ctx.ui.succeeded(n, &label, &result.output);
    Settled {
        status: RunStatus::Ok,
        reads: Some(observed(graph, id, &finished.log.reads)),
        ghosts: Some(to_paths(&finished.log.ghosts)),
        changed: changed_outputs(ctx, id),
        outside: finished
            .log
            .outside_reads
            .iter()
            .chain(&finished.log.outside_ghosts)
            .filter_map(|p| OutsidePath::new(p).ok())
            .collect(),
    }
}

/// A job served from the cache: its outputs are in place; report it as
/// cached, with its replayed output.
pub fn settle_cached(ctx: &Context, hit: crate::cache::Hit, n: usize) -> Settled {
    let id = hit.cmd;
    let rule = &ctx.graph.cmd(id).rule;
    let label = ctx.ui.label(rule.display.as_deref(), &rule.command);
    ctx.ui.explain(&label, "served from the cache");
    ctx.ui
        .succeeded(n, &format!("{label} (cached)"), &hit.output);
    Settled {
        status: RunStatus::Ok,
        reads: Some(hit.reads),
        ghosts: Some(hit.ghosts),
        changed: changed_outputs(ctx, id),
        // The cache keeps no outside reads: the record carries the last
        // ones over (`exec::record`).
        outside: BTreeSet::new(),
    }
}

/// What was wrong with how the process ended, if anything.
fn exit_problem(exit: &Exit) -> Option<String> {
    match exit {
        Exit::Code(0) => None,
        Exit::Code(c) => Some(format!("exit status {c}")),
        Exit::Signal(s) => Some(format!("killed by signal {s}")),
        Exit::NotStarted(e) => Some(e.clone()),
    }
}

/// A failed (or interrupted) job: report it with its rule's place and its
/// output, and remove its outputs.
fn fail(ctx: &Context, id: CmdId, why: &[String], output: &[u8], interrupted: bool) -> Settled {
    let rule = &ctx.graph.cmd(id).rule;
    if !interrupted {
        let label = ctx.ui.label(rule.display.as_deref(), &rule.command);
        ctx.ui
            .failed(&label, &rule.location.to_string(), why, output);
    }
    remove_outputs(ctx, id);
    Settled {
        status: match interrupted {
            true => RunStatus::Interrupted,
            false => RunStatus::Failed,
        },
        reads: None,
        ghosts: None,
        changed: Vec::new(),
        outside: BTreeSet::new(),
    }
}

/// Reads worth recording: not the command's own outputs.
fn observed(graph: &Graph, id: CmdId, reads: &BTreeSet<String>) -> BTreeSet<ProjPath> {
    let own: BTreeSet<&ProjPath> = graph.outputs(id).collect();
    to_paths(reads)
        .into_iter()
        .filter(|p| !own.contains(p))
        .collect()
}

fn to_paths(paths: &BTreeSet<String>) -> BTreeSet<ProjPath> {
    paths.iter().filter_map(|p| ProjPath::new(p).ok()).collect()
}

/// The outputs whose content a consumer must see as new (early cut-off:
/// the change mode, or `^o`, may say they came out identical).
fn changed_outputs(ctx: &Context, id: CmdId) -> Vec<ProjPath> {
    let cutoff = ctx.graph.cmd(id).rule.flags.cutoff;
    ctx.graph
        .outputs(id)
        .filter(|p| ctx.changes.output_changed(p, cutoff))
        .cloned()
        .collect()
}

/// A failed command leaves no output that could pass for current.
fn remove_outputs(ctx: &Context, id: CmdId) {
    for p in ctx.graph.outputs(id) {
        let disk = p.to_disk(ctx.root);
        if let Err(e) = std::fs::remove_file(&disk) {
            if e.kind() != std::io::ErrorKind::NotFound {
                let rule = describe(&ctx.graph.cmd(id).rule);
                ctx.ui.warn(&format!(
                    "cannot remove {p}, an output of failed {rule}: {e}"
                ));
            }
        }
    }
}
