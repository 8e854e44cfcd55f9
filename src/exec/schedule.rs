//! The parallel scheduler: walks the selected commands in dependency order,
//! decides at the moment each becomes ready whether it runs (its planned
//! reason, or an input that a command of this build rewrote with new
//! content: early cut-off), hands jobs to N worker threads over crossbeam
//! channels (one more queued than there are workers), and settles each
//! finished job (commit, outcome).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use std::sync::atomic::AtomicBool;

use crossbeam::channel::{unbounded, Receiver, RecvTimeoutError, Sender};
use tupfs_fuse::Tracer;

use super::job::{self, JobRequest, JobResult, Running};
use super::settle::{settle, Settled};
use super::signals;
use super::transient::Sweeper;
use super::worker::{self, Done, Shared};
use crate::graph::{CmdId, Graph};
use crate::outside::OutsidePath;
use crate::paths::ProjPath;
use crate::plan::{Changes, Plan, Reason};
use crate::ui::Ui;

/// What happened to one command in this build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Outside the targets of this build.
    NotSelected,
    /// Nothing it depends on changed.
    UpToDate,
    /// It ran.
    Ran {
        /// Why.
        reason: Reason,
        /// How it went.
        status: RunStatus,
        /// Files it read (None: keep last build's observed reads).
        reads: Option<BTreeSet<ProjPath>>,
        /// Paths it looked up in vain.
        ghosts: Option<BTreeSet<ProjPath>>,
        /// Served from the output cache instead of run.
        cached: bool,
    },
    /// Not started: a dependency failed, the build stopped or was
    /// interrupted. `dirty`: it had a reason to run.
    NotRun {
        /// It must run next time.
        dirty: bool,
    },
}

/// How a command that ran ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// Exited 0 and passed every check; outputs committed.
    Ok,
    /// Failed or broke a rule of the trace; outputs removed.
    Failed,
    /// Stopped by SIGINT/SIGTERM.
    Interrupted,
}

impl RunStatus {
    /// The run log's word.
    pub fn word(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }
}

/// Everything the scheduler needs.
pub struct Context<'a> {
    /// The graph.
    pub graph: &'a Graph,
    /// Why commands run.
    pub plan: &'a Plan,
    /// Change detection (for outputs after a re-run).
    pub changes: &'a dyn Changes,
    /// Commands this build may run (targets).
    pub selected: &'a [bool],
    /// The project root.
    pub root: &'a Path,
    /// Parallel jobs.
    pub jobs: usize,
    /// Go on after a failure.
    pub keep_going: bool,
    /// The console.
    pub ui: &'a Ui,
    /// The output cache (None: off).
    pub cache: Option<&'a crate::cache::Cache>,
}

/// The result of running the build.
#[derive(Debug, Default)]
pub struct Outcomes {
    /// Per command (by `CmdId::index`).
    pub per_cmd: Vec<Outcome>,
    /// Commands that ran, in the order they finished.
    pub finished_order: Vec<CmdId>,
    /// Outputs rewritten with new content in this build.
    pub changed_outputs: BTreeSet<ProjPath>,
    /// SIGINT/SIGTERM arrived.
    pub interrupted: bool,
    /// Full dependencies: what each command that ran successfully read or
    /// looked for outside the project (none when off).
    pub outside: std::collections::HashMap<CmdId, BTreeSet<OutsidePath>>,
}

impl Outcomes {
    /// The outcomes of a build in which nothing needed to run.
    pub fn nothing_ran(selected: &[bool]) -> Outcomes {
        let per_cmd = selected
            .iter()
            .map(|&s| match s {
                true => Outcome::UpToDate,
                false => Outcome::NotSelected,
            })
            .collect();
        Outcomes {
            per_cmd,
            ..Default::default()
        }
    }
}

/// Run the build.
pub fn run(ctx: &Context, tracer: &Tracer) -> Outcomes {
    let (job_tx, job_rx) = unbounded::<JobRequest>();
    let (done_tx, done_rx) = unbounded::<Done>();
    let running = Running::default();
    let stop = AtomicBool::new(false);
    let shared = Shared {
        tracer,
        graph: ctx.graph,
        root: ctx.root,
        running: &running,
        stop: &stop,
        keep_going: ctx.keep_going,
        cache: ctx.cache,
        changes: ctx.changes,
    };
    std::thread::scope(|s| {
        for _ in 0..ctx.jobs.max(1) {
            let (rx, tx, shared) = (job_rx.clone(), done_tx.clone(), &shared);
            s.spawn(move || worker::work(shared, rx, tx));
        }
        drop(done_tx);
        let mut sched = Scheduler::new(ctx);
        sched.drive(&job_tx, &done_rx, &shared);
        drop(job_tx);
        sched.into_outcomes()
    })
}

struct Scheduler<'a> {
    ctx: &'a Context<'a>,
    remaining: Vec<usize>,
    blocked: Vec<bool>,
    ready: Vec<CmdId>,
    out: Outcomes,
    in_flight: usize,
    stop: bool,
    kill_at: Option<Instant>,
    /// Counted in the UI's total.
    may_run: BTreeSet<CmdId>,
    /// Deletes `^t` outputs once their consumers are done.
    sweeper: Sweeper,
}

impl<'a> Scheduler<'a> {
    fn new(ctx: &'a Context<'a>) -> Scheduler<'a> {
        let n = ctx.graph.len();
        let mut remaining = vec![0; n];
        let mut ready = Vec::new();
        for (id, _) in ctx.graph.commands() {
            let deps = ctx.graph.deps(id).iter();
            remaining[id.index()] = deps.filter(|d| ctx.selected[d.index()]).count();
            if ctx.selected[id.index()] && remaining[id.index()] == 0 {
                ready.push(id);
            }
        }
        ready.reverse(); // pop() takes them in graph order
        let per_cmd = (0..n)
            .map(|i| match ctx.selected[i] {
                true => Outcome::NotRun { dirty: false },
                false => Outcome::NotSelected,
            })
            .collect();
        Scheduler {
            ctx,
            remaining,
            blocked: vec![false; n],
            ready,
            out: Outcomes {
                per_cmd,
                ..Default::default()
            },
            in_flight: 0,
            stop: false,
            kill_at: None,
            may_run: ctx.plan.may_run(ctx.graph, ctx.selected),
            sweeper: Sweeper::new(ctx.graph, ctx.selected),
        }
    }

    /// Keep one job more in flight than there are workers (queued in the
    /// channel), so a worker never waits for this thread to settle the job
    /// it just finished before it can start the next.
    fn drive(&mut self, jobs: &Sender<JobRequest>, done: &Receiver<Done>, shared: &Shared) {
        let max_in_flight = self.ctx.jobs.max(1) + 1;
        loop {
            self.check_interrupt(shared);
            if shared.stopped() {
                self.stop = true;
            }
            while self.in_flight < max_in_flight && !self.stop {
                let Some(id) = self.ready.pop() else { break };
                self.dispatch(id, jobs);
            }
            if self.in_flight == 0 {
                return;
            }
            match done.recv_timeout(Duration::from_millis(100)) {
                Ok(Done::Ran(result)) => self.finish(*result, shared),
                Ok(Done::Skipped(id)) => self.skipped(id),
                Ok(Done::Cached(hit)) => self.finish_cached(*hit),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn check_interrupt(&mut self, shared: &Shared) {
        if !signals::interrupted() {
            return;
        }
        self.stop = true;
        shared.set_stop();
        self.out.interrupted = true;
        let sig = match self.kill_at {
            None => {
                self.kill_at = Some(Instant::now() + Duration::from_secs(2));
                libc::SIGTERM
            }
            Some(t) if Instant::now() >= t => libc::SIGKILL,
            Some(_) => return,
        };
        for &pid in job::lock(shared.running).values() {
            signals::kill_group(pid, sig);
        }
    }

    /// Decide whether a ready command runs; start it or settle it now.
    fn dispatch(&mut self, id: CmdId, jobs: &Sender<JobRequest>) {
        if self.blocked[id.index()] {
            self.out.per_cmd[id.index()] = Outcome::NotRun { dirty: false };
            self.release(id, true);
            return;
        }
        let (graph, plan) = (self.ctx.graph, self.ctx.plan);
        let reason = plan
            .direct
            .get(&id)
            .cloned()
            .or_else(|| plan.upstream_reason(graph, id, &self.out.changed_outputs));
        let Some(reason) = reason else {
            if self.may_run.contains(&id) {
                self.ctx.ui.skipped();
            }
            self.out.per_cmd[id.index()] = Outcome::UpToDate;
            self.release(id, false);
            return;
        };
        let rule = &graph.cmd(id).rule;
        let label = self.ctx.ui.label(rule.display.as_deref(), &rule.command);
        self.ctx.ui.explain(&label, &reason.to_string());
        self.ctx.ui.started(&label);
        self.out.per_cmd[id.index()] = Outcome::Ran {
            reason,
            status: RunStatus::Interrupted,
            reads: None,
            ghosts: None,
            cached: false,
        };
        self.in_flight += 1;
        if jobs.send(super::request(graph, id)).is_err() {
            self.in_flight -= 1;
        }
    }

    /// A queued job the workers did not start because the build stopped:
    /// it stays not run (and, having had a reason, dirty).
    fn skipped(&mut self, id: CmdId) {
        self.in_flight -= 1;
        self.out.per_cmd[id.index()] = Outcome::NotRun { dirty: true };
    }

    fn finish(&mut self, result: JobResult, shared: &Shared) {
        self.in_flight -= 1;
        let id = result.cmd;
        let n = self.out.finished_order.len() + 1;
        let settled = settle(self.ctx, result, n);
        self.settled(id, settled, false, shared);
    }

    /// A job served from the cache: settled as one that ran well.
    fn finish_cached(&mut self, hit: crate::cache::Hit) {
        self.in_flight -= 1;
        let id = hit.cmd;
        let n = self.out.finished_order.len() + 1;
        let settled = super::settle::settle_cached(self.ctx, hit, n);
        self.record_settled(id, settled, true);
        self.release(id, false);
    }

    fn settled(&mut self, id: CmdId, settled: Settled, cached: bool, shared: &Shared) {
        let status = self.record_settled(id, settled, cached);
        let failed = status != RunStatus::Ok;
        if failed && !self.ctx.keep_going {
            self.stop = true;
            shared.set_stop();
        }
        self.release(id, failed);
    }

    /// Keep what settling found; the command's status.
    fn record_settled(&mut self, id: CmdId, settled: Settled, cached: bool) -> RunStatus {
        let Settled {
            status,
            reads,
            ghosts,
            changed,
            outside,
        } = settled;
        if status == RunStatus::Ok && !outside.is_empty() {
            self.out.outside.insert(id, outside);
        }
        if let Outcome::Ran { reason, .. } = &self.out.per_cmd[id.index()] {
            self.out.per_cmd[id.index()] = Outcome::Ran {
                reason: reason.clone(),
                status,
                reads,
                ghosts,
                cached,
            };
        }
        self.out.changed_outputs.extend(changed);
        self.out.finished_order.push(id);
        status
    }

    /// `id` is settled: its dependents have one dependency fewer to wait
    /// for, and transient files it consumed may go.
    fn release(&mut self, id: CmdId, failed: bool) {
        let (graph, root) = (self.ctx.graph, self.ctx.root);
        self.sweeper.settled(graph, root, id, &self.out.per_cmd);
        for &d in self.ctx.graph.dependents(id) {
            if !self.ctx.selected[d.index()] {
                continue;
            }
            self.blocked[d.index()] |= failed;
            self.remaining[d.index()] -= 1;
            if self.remaining[d.index()] == 0 {
                self.ready.push(d);
            }
        }
    }

    /// Commands that never started: mark those that had a reason to run.
    /// (Commands outside the targets keep last build's record as it was,
    /// so the versions they saw still tell what changed.)
    fn into_outcomes(mut self) -> Outcomes {
        let (graph, plan) = (self.ctx.graph, self.ctx.plan);
        for id in graph.topo_order() {
            let i = id.index();
            if matches!(self.out.per_cmd[i], Outcome::NotRun { .. }) {
                let dirty = plan.direct.contains_key(&id)
                    || plan
                        .upstream_reason(graph, id, &self.out.changed_outputs)
                        .is_some()
                    || self.blocked_by_rerun(id);
                self.out.per_cmd[i] = Outcome::NotRun { dirty };
            }
        }
        self.out
    }

    /// A dependency that ran but did not succeed will run again, and may
    /// then rewrite what `id` reads: `id` cannot be trusted either.
    fn blocked_by_rerun(&self, id: CmdId) -> bool {
        self.ctx.graph.deps(id).iter().any(|d| {
            matches!(
                self.out.per_cmd[d.index()],
                Outcome::Ran {
                    status: RunStatus::Failed | RunStatus::Interrupted,
                    ..
                } | Outcome::NotRun { dirty: true }
            )
        })
    }
}
