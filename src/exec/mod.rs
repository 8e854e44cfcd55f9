//! Running a build: from the graph and the last build's record to commands
//! run through the tracer, outputs committed, stale outputs removed, the new
//! index and the run log written.
//!
//! `run_build` is the whole pipeline after parsing: history → identity →
//! plan → stale removal → schedule (jobs through the tracer) → record.

pub mod enforce;
pub mod job;
pub mod schedule;
pub mod settle;
pub mod signals;
pub mod stale;
pub mod targets;

mod history;
mod record;
mod report;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, Result};
use tupfs_fuse::{MountConfig, Tracer};

use crate::graph::{CmdId, Graph};
use crate::options::ChangeMode;
use crate::paths::ProjPath;
use crate::plan::Plan;
use crate::project::Project;
use crate::reuse::Prior;
use crate::ui::{Ui, UiOptions};
use job::JobRequest;

/// How a build ended (the exit code follows from it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildStatus {
    /// Everything selected is up to date now.
    Ok,
    /// Nothing needed to run.
    NothingToDo,
    /// A command failed (or a stale output could not be removed).
    Failed,
    /// SIGINT/SIGTERM.
    Interrupted,
}

/// What the user asked of this build (after parsing).
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The commands to build, by `CmdId::index` ([`targets::select`]);
    /// empty: all of them.
    pub selected: Vec<bool>,
    /// What each Tupfile's parse read (recorded in the index).
    pub tupfiles: Vec<crate::tupfile::TupfileRecord>,
    /// The source tree as the parse saw it ([`crate::reuse::tree_entries`]).
    pub tree: Vec<crate::index::TreeEntry>,
    /// The rules came from the index, nothing was parsed: the last parse's
    /// read-sets and tree are carried over.
    pub reused: bool,
    /// Parallel jobs (None: one per CPU).
    pub jobs: Option<usize>,
    /// Go on after failures.
    pub keep_going: bool,
    /// How files count as changed (`--change`, else `.tupfs/options`).
    pub change: ChangeMode,
    /// The console's options.
    pub ui: UiOptions,
}

/// Build `graph` in `project`: plan, run, record. The caller holds the lock.
pub fn run_build(project: &Project, graph: &Graph, req: &Request) -> Result<BuildStatus> {
    let prior = Prior::open_scanned(project, req.change);
    run_build_with(project, graph, req, prior, Instant::now())
}

/// [`run_build`] with the last build already opened and scanned (the
/// caller needed it to decide whether to parse); `started` is when the
/// build began, for the run log.
pub fn run_build_with(
    project: &Project,
    graph: &Graph,
    req: &Request,
    prior: Prior,
    started: Instant,
) -> Result<BuildStatus> {
    signals::install();
    let ui = Ui::new(req.ui);
    let mut history = history::History::load(project, graph, req.change, prior, req.reused, &ui);
    let stale = stale::remove(&project.root, &history.stale_outputs(graph));
    if !stale.removed.is_empty() {
        history.scan();
    }
    log::debug!("timing: identities at {:?}", started.elapsed());
    let plan = Plan::make(graph, &history.ids, &history, &history);
    log::debug!("timing: planned at {:?}", started.elapsed());
    let selected = match req.selected.is_empty() {
        true => vec![true; graph.len()],
        false => req.selected.clone(),
    };
    let to_run = plan.may_run(graph, &selected).len();
    ui.set_total(to_run);
    let outcomes = if to_run == 0 {
        schedule::Outcomes::nothing_ran(&selected)
    } else {
        let tracer = mount(project)?;
        let ctx = schedule::Context {
            graph,
            plan: &plan,
            changes: &history,
            selected: &selected,
            root: &project.root,
            scratch: &project.state_dir().join("tmp"),
            jobs: req.jobs.unwrap_or_else(cpus),
            keep_going: req.keep_going,
            ui: &ui,
        };
        let outcomes = schedule::run(&ctx, &tracer);
        tracer
            .unmount()
            .context("cannot unmount the tracing filesystem")?;
        outcomes
    };
    let unchanged = req.reused && to_run == 0 && stale.kept.is_empty() && stale.removed.is_empty();
    if !(unchanged && history.index_is_current()) {
        history.record(project, graph, &outcomes, &stale, req)?;
    }
    log::debug!("timing: recorded at {:?}", started.elapsed());
    let report = report::Report {
        graph,
        ids: &history.ids,
        outcomes: &outcomes,
        stale: &stale,
        elapsed: started.elapsed(),
        parsed: if req.reused { 0 } else { req.tupfiles.len() },
    };
    report.finish(project, &ui)
}

/// The outputs the last build recorded (for the parser: globs must not
/// match them unless a rule still produces them). Empty without an index.
pub fn previous_outputs(project: &Project) -> BTreeSet<ProjPath> {
    history::History::previous_outputs(project)
}

fn mount(project: &Project) -> Result<Tracer> {
    let state = project.state_dir();
    let mountpoint = state.join("mnt");
    let scratch = state.join("tmp");
    // The tracer makes the mountpoint (and clears a dead mount there).
    std::fs::create_dir_all(&scratch)
        .with_context(|| format!("cannot create {}", scratch.display()))?;
    remove_old_captures(&scratch);
    Tracer::mount(MountConfig {
        root: project.root.clone(),
        mountpoint,
        scratch,
        threads: 0,
    })
    .context("cannot mount the tracing filesystem")
}

/// Output captures left by a build that was killed.
fn remove_old_captures(scratch: &Path) {
    let Ok(entries) = std::fs::read_dir(scratch) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(job::CAPTURE_PREFIX)
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The job for command `id`: its shell text, directory, flags and the
/// exported variables' values from tupfs's own environment.
pub fn request(graph: &Graph, id: CmdId) -> JobRequest {
    let rule = &graph.cmd(id).rule;
    let env = rule
        .exports
        .iter()
        .filter_map(|name| std::env::var_os(name).map(|v| (name.clone(), v)))
        .collect();
    JobRequest {
        cmd: id,
        command: rule.command.clone(),
        dir: rule.dir.clone(),
        bash: rule.flags.bash,
        stream: rule.flags.stream,
        env,
        ignore: rule.ignore.clone(),
    }
}

/// Before a command runs: remove its previous outputs (as tup does: a
/// command never sees or appends to its old output, and one that fails
/// leaves nothing behind) and make the directories they go in (tupfs makes
/// them, so a command never has to and never leaves one behind).
pub fn prepare_outputs(graph: &Graph, id: CmdId, root: &Path) {
    for out in graph.outputs(id) {
        let disk = out.to_disk(root);
        let _ = std::fs::remove_file(&disk);
        if let Some(parent) = disk.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
    }
}
