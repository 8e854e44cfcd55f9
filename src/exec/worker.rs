//! A worker thread: takes queued jobs, runs each through the tracer and
//! checks it against its rule, so the main thread only commits and records.
//! The scheduler keeps one job more in flight than there are workers, so a
//! worker that finishes starts its next job at once instead of waiting for
//! the main thread to settle the last one; the shared stop flag keeps that
//! queued job from starting after a failure or an interrupt.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam::channel::{Receiver, Sender};
use tupfs_fuse::Tracer;

use super::enforce::{self, JobFacts};
use super::job::{self, JobRequest, JobResult, Running};
use super::signals;
use crate::graph::{CmdId, Graph};

/// What a worker sends back for each job it took.
#[derive(Debug)]
pub enum Done {
    /// The job ran (or failed to start) and was checked.
    Ran(Box<JobResult>),
    /// The build stopped before the job started: it did not run, and its
    /// previous outputs were left alone.
    Skipped(CmdId),
    /// Served from the cache: its outputs are restored, it did not run.
    Cached(Box<crate::cache::Hit>),
}

/// What every worker shares.
pub struct Shared<'a> {
    /// Runs the jobs.
    pub tracer: &'a Tracer,
    /// The commands, for the checks.
    pub graph: &'a Graph,
    /// The project root.
    pub root: &'a Path,
    /// The process groups of running jobs (for interrupts).
    pub running: &'a Running,
    /// Set on a failure without -k (by a worker as soon as it sees one, by
    /// the main thread for failures found while settling) and on an
    /// interrupt: no queued job starts after it.
    pub stop: &'a AtomicBool,
    /// -k: a failure does not stop the build.
    pub keep_going: bool,
    /// The output cache (None: off).
    pub cache: Option<&'a crate::cache::Cache>,
    /// What changed since the last build (and, with a cone, who makes
    /// the files the graph does not hold).
    pub changes: &'a dyn crate::plan::Changes,
}

impl Shared<'_> {
    /// True once no further job may start.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || signals::interrupted()
    }

    /// Tell the workers not to start another job.
    pub fn set_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Take jobs until the queue closes or the main thread is gone.
pub fn work(shared: &Shared, jobs: Receiver<JobRequest>, done: Sender<Done>) {
    for req in jobs {
        let report = match shared.stopped() {
            true => Done::Skipped(req.cmd),
            false => cached_or_run(shared, &req),
        };
        if done.send(report).is_err() {
            return;
        }
    }
}

/// Serve the job from the cache, or run it (and store what it left).
fn cached_or_run(shared: &Shared, req: &JobRequest) -> Done {
    let cache = shared.cache;
    let key = cache.and_then(|c| c.key(shared.graph, req.cmd));
    if let (Some(c), Some(k)) = (cache, &key) {
        if let Some(hit) = c.lookup(k, shared.graph, req.cmd) {
            return Done::Cached(Box::new(hit));
        }
    }
    let started = crate::change::Moment::now();
    let result = run_and_check(shared, req);
    if let (Some(c), Some(k), Some(f)) = (cache, &key, &result.finished) {
        if result.exit.success() && result.violations.is_empty() {
            let stored = crate::cache::Stored {
                log: &f.log,
                staged: f
                    .pending
                    .staged()
                    .map(|(p, s)| (p.to_string(), s.to_path_buf()))
                    .collect(),
                output: &result.output,
                started,
            };
            c.store(k, shared.graph, req.cmd, &stored);
        }
    }
    Done::Ran(Box::new(result))
}

/// Run one job and check what it did; a failure stops the build here,
/// before this worker can take another job.
fn run_and_check(shared: &Shared, req: &JobRequest) -> JobResult {
    super::prepare_outputs(shared.graph, req.cmd, shared.root);
    let mut result = job::run(shared.tracer, req, shared.running);
    if let Some(finished) = &result.finished {
        let facts = JobFacts {
            cmd: req.cmd,
            log: &finished.log,
            pending: finished.pending.files(),
            success: result.exit.success(),
            changes: Some(shared.changes),
        };
        result.violations = enforce::check(shared.graph, shared.root, &facts);
        let special = finished.pending.special();
        if !special.is_empty() {
            let bad = enforce::special_outputs(shared.graph, req.cmd, &special);
            result.violations.extend(bad);
        }
    }
    let failed = !result.exit.success() || !result.violations.is_empty();
    if failed && !shared.keep_going {
        shared.set_stop();
    }
    result
}
