//! Running a build: from the graph and the last build's record to commands
//! run through the tracer, outputs committed, stale outputs removed, the new
//! index and the run log written.
//!
//! `run_build` is the whole pipeline after parsing: history → identity →
//! plan → stale removal → schedule (jobs through the tracer) → record.

pub mod compiledb;
pub mod enforce;
pub mod job;
pub mod preview;
pub mod schedule;
pub mod scripts;
pub mod settle;
pub mod signals;
pub mod stale;
pub mod targets;
pub mod transient;
pub mod worker;

mod history;
mod outside;
mod record;
mod record_dirs;
mod report;
mod retake;
mod unmount;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use tupfs_fuse::{MountConfig, MountOptions, Tracer, VariantMirror, DEFAULT_FAST_WAKE};

use crate::cache::Cache;
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
    /// What each Tupfile parsed in this build read (recorded in the
    /// index).
    pub tupfiles: Vec<crate::tupfile::TupfileRecord>,
    /// The Tupfiles whose rules came from the index and whose read-sets
    /// are carried over (all of them when `reused`).
    pub kept: std::collections::BTreeSet<crate::tupfile::TupfileKey>,
    /// How many Tupfiles were parsed (for the report and the run log).
    pub parsed: usize,
    /// The graph holds only these commands of the index ([`crate::cone`]);
    /// None: every command.
    pub cone: Option<std::sync::Arc<crate::cone::Cone>>,
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
    /// Trace reads outside the project too (`--full-deps`, else
    /// `.tupfs/options`).
    pub full_deps: bool,
    /// The console's options.
    pub ui: UiOptions,
    /// What the checks before the build leave for after its record
    /// ([`crate::guard::check`]).
    pub guard: crate::guard::AfterRecord,
    /// The output cache (None: off).
    pub cache: Option<crate::cache::Settings>,
    /// Where every job sees the project (`job_root`; None: its real path).
    pub job_root: Option<std::path::PathBuf>,
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
    history.full_deps = req.full_deps;
    history.cone = req.cone.is_some();
    log::debug!("timing: identities at {:?}", started.elapsed());
    // A cone knows its stale outputs: none when it re-uses the rules, the
    // removed rules' after a partial parse.
    let stale_outputs = match &req.cone {
        Some(cone) => {
            crate::ui::runlog::set_cone(cone.materialised(), cone.total);
            cone.stale.clone()
        }
        None => history.stale_outputs(graph),
    };
    let stale = stale::remove(&project.root, &stale_outputs);
    let scratch = project.state_dir().join("tmp");
    if let Err(e) = compiledb::update(graph, &project.root, &scratch) {
        ui.warn(&format!("{e:#}"));
    }
    history.scan(graph, !stale.removed.is_empty());
    let selected = match req.selected.is_empty() {
        true => vec![true; graph.len()],
        false => req.selected.clone(),
    };
    log::debug!("timing: stale outputs, scan at {:?}", started.elapsed());
    let mut plan = Plan::make(graph, &history.ids, &history, &history);
    transient::pull_producers(&mut plan, graph, &selected, &history.absent_transients);
    log::debug!("timing: planned at {:?}", started.elapsed());
    let to_run = plan.may_run(graph, &selected).len();
    ui.set_total(to_run);
    let (outcomes, unmounting) = match to_run {
        0 => (nothing_to_run(project, graph, &selected, &ui), None),
        _ => {
            let (outcomes, unmounting) =
                run_commands(project, graph, &plan, &history, &selected, req, &ui)?;
            (outcomes, Some(unmounting))
        }
    };
    log::debug!("timing: commands done at {:?}", started.elapsed());
    let unmounting = unmount_first_if_failed(unmounting, &outcomes)?;
    let unchanged = req.reused && to_run == 0 && stale.kept.is_empty() && stale.removed.is_empty();
    if !(unchanged && history.index_is_current()) {
        history
            .record(project, graph, &outcomes, &stale, req)
            .context(
            "cannot record this build (the last recorded one stays; what ran since will run again)",
        )?;
        let kept: Vec<ProjPath> = stale.kept.iter().map(|(p, _)| p.clone()).collect();
        let settled = match req.guard.cone {
            true => crate::guard::settle_cone(project, &stale.removed, req.guard),
            false => crate::guard::settle(project, graph, &kept, req.guard),
        };
        if let Err(e) = settled {
            ui.warn(&format!(
                "cannot update the record of this build's outputs: {e}"
            ));
        }
    }
    log::debug!("timing: recorded at {:?}", started.elapsed());
    if let Some(unmounting) = unmounting {
        unmounting.finish()?;
    }
    let report = report::Report {
        graph,
        ids: &history.ids,
        outcomes: &outcomes,
        stale: &stale,
        elapsed: started.elapsed(),
        parsed: req.parsed,
    };
    report.finish(project, &ui)
}

/// A build with nothing to run: clear leftovers of an interrupted build and
/// delete transient outputs whose consumers are all settled.
fn nothing_to_run(
    project: &Project,
    graph: &Graph,
    selected: &[bool],
    ui: &Ui,
) -> schedule::Outcomes {
    clear_leftovers(project, ui);
    let outcomes = schedule::Outcomes::nothing_ran(selected);
    transient::sweep_settled(graph, &project.root, selected, &outcomes.per_cmd);
    outcomes
}

/// Mount the tracer, run what the plan says may run, and start the
/// unmount (it goes on beside the record: nothing runs through the mount
/// any more, and the record reads the real tree, not the mount).
fn run_commands(
    project: &Project,
    graph: &Graph,
    plan: &Plan,
    history: &history::History,
    selected: &[bool],
    req: &Request,
    ui: &Ui,
) -> Result<(schedule::Outcomes, unmount::Unmounting)> {
    let began = Instant::now();
    let tracer = mount(project, graph, req.job_root.clone(), req.full_deps)?;
    log::debug!("timing: mounted in {:?}", began.elapsed());
    let seen_at = tracer.job_root().unwrap_or(&project.root);
    let cache = open_cache(project, seen_at, history, req, ui);
    let ctx = schedule::Context {
        graph,
        plan,
        changes: history,
        selected,
        root: &project.root,
        jobs: req.jobs.unwrap_or_else(cpus),
        keep_going: req.keep_going,
        ui,
        cache: cache.as_ref(),
    };
    let outcomes = schedule::run(&ctx, &tracer);
    for w in cache.as_ref().map(Cache::finish).unwrap_or_default() {
        ui.warn(&w);
    }
    Ok((outcomes, unmount::Unmounting::start(tracer)))
}

/// After a failure, unmount before the record: a failed command's
/// staged outputs are removed by the tracer's janitor in the background,
/// at the latest by the unmount, and on a full disk the record needs that
/// space (the unmount otherwise goes on beside it).
fn unmount_first_if_failed(
    unmounting: Option<unmount::Unmounting>,
    outcomes: &schedule::Outcomes,
) -> Result<Option<unmount::Unmounting>> {
    let failed = outcomes.interrupted
        || outcomes.per_cmd.iter().any(|o| {
            matches!(o, schedule::Outcome::Ran { status, .. } if *status != schedule::RunStatus::Ok)
        });
    match unmounting {
        Some(u) if failed => u.finish().map(|()| None),
        other => Ok(other),
    }
}

/// The output cache of this build, if on (problems are warnings: the
/// build goes on without it, or without the remote).
fn open_cache(
    project: &Project,
    seen_at: &Path,
    history: &history::History,
    req: &Request,
    ui: &Ui,
) -> Option<Cache> {
    let settings = req.cache.as_ref()?;
    let (cache, warnings) = Cache::open(
        settings,
        (&project.root, seen_at),
        &project.state_dir(),
        &history.ids,
    );
    for w in warnings {
        ui.warn(&w);
    }
    let cache = cache.map(|c| c.with_outside(req.full_deps));
    if cache.is_some() && settings.remote.is_some() && !req.full_deps {
        ui.warn(
            "remote cache: reads outside the project (compilers, system headers) are not traced \
             without full deps (--full-deps), so they are not part of the key: share it only \
             between machines with the same tools",
        );
    }
    cache
}

/// The outputs the last build recorded (for the parser: globs must not
/// match them unless a rule still produces them). Empty without an index.
pub fn previous_outputs(project: &Project) -> BTreeSet<ProjPath> {
    history::History::previous_outputs(project)
}

/// A killed build may have left dead mounts (the commands' and the run
/// scripts') and staged writes: clear them (a build that mounts does this
/// itself).
pub fn clear_leftovers(project: &Project, ui: &Ui) {
    for config in [mount_config(project), parse_mount_config(project)] {
        if let Err(e) = Tracer::clear_leftovers(&config) {
            ui.warn(&format!("cannot clear what a killed build left: {e}"));
        }
    }
}

/// Where this project's tracer mounts to run commands, and stages writes.
fn mount_config(project: &Project) -> MountConfig {
    let state = project.state_dir();
    MountConfig {
        root: project.root.clone(),
        mountpoint: state.join("mnt"),
        scratch: state.join("tmp"),
        threads: 0,
    }
}

/// Where the tracer that runs `run` scripts while parsing mounts (its own
/// place: a killed parse's dead mount never blocks the commands' mount).
fn parse_mount_config(project: &Project) -> MountConfig {
    MountConfig {
        mountpoint: project.state_dir().join("mnt-parse"),
        ..mount_config(project)
    }
}

fn mount(
    project: &Project,
    graph: &Graph,
    job_root: Option<PathBuf>,
    full_deps: bool,
) -> Result<Tracer> {
    let config = mount_config(project);
    // The tracer makes the mountpoint (and clears a dead mount there); a
    // killed parse may have left one at the run scripts' place.
    Tracer::clear_leftovers(&parse_mount_config(project))
        .context("cannot clear what a killed build left")?;
    std::fs::create_dir_all(&config.scratch)
        .with_context(|| format!("cannot create {}", config.scratch.display()))?;
    let options = MountOptions {
        job_root,
        full_deps,
        ..mount_options(variant_mirrors(graph))
    };
    let tracer =
        Tracer::mount_with(config, options).context("cannot mount the tracing filesystem")?;
    log::debug!(
        "tracing mount: requests through {}; file data {}",
        match tracer.io_uring_requests() {
            Some(_) => "per-CPU io_uring queues",
            None => "/dev/fuse (FUSE over io_uring off or not offered)",
        },
        match tracer.passthrough() {
            true => "passed through by the kernel",
            false => "copied by the daemon",
        }
    );
    Ok(tracer)
}

/// The options of every tracer a build mounts (the commands' and the run
/// scripts'): `variants`, the fast wake-up window and the transport.
fn mount_options(variants: Vec<VariantMirror>) -> MountOptions {
    MountOptions {
        variants,
        fast_wake: fast_wake_window(),
        io_uring: io_uring_wanted(),
        ..MountOptions::default()
    }
}

/// Whether to ask for FUSE over io_uring (`TUPFS_FUSE_URING`, 0 = no;
/// default yes, used when the kernel offers it).
fn io_uring_wanted() -> bool {
    env_setting::<u8>("TUPFS_FUSE_URING", "0 or 1", 1) != 0
}

/// How long after a traced file operation idle CPUs are kept fast to wake
/// (`TUPFS_FAST_WAKE_MS`, 0 = never; default [`DEFAULT_FAST_WAKE`]).
fn fast_wake_window() -> Duration {
    let default = DEFAULT_FAST_WAKE.as_millis() as u64;
    Duration::from_millis(env_setting(
        "TUPFS_FAST_WAKE_MS",
        "a number of milliseconds",
        default,
    ))
}

/// Environment variable `name` read as a `T`: `default` when unset, and
/// when not `expected` (said in a warning, not an error: these are tuning
/// knobs, and a build should not fail over one).
fn env_setting<T: std::str::FromStr + std::fmt::Display>(
    name: &str,
    expected: &str,
    default: T,
) -> T {
    let Ok(value) = std::env::var(name) else {
        return default;
    };
    value.trim().parse().unwrap_or_else(|_| {
        log::warn!("{name}: expected {expected}; using {default}");
        default
    })
}

/// The variant directories of the build: as in tup, each mirrors the whole
/// source tree, so a command in `build-x/sub` sees `sub`'s files.
fn variant_mirrors(graph: &Graph) -> Vec<VariantMirror> {
    let dirs: BTreeSet<&ProjPath> = graph
        .commands()
        .map(|(_, c)| &c.rule.variant)
        .filter(|v| !v.is_root())
        .collect();
    dirs.into_iter()
        .map(|dir| VariantMirror {
            dir: dir.as_str().to_string(),
            source: String::new(),
        })
        .collect()
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The job for command `id`: its shell text, directory, flags and the
/// exported variables' values from tupfs's own environment.
pub fn request(graph: &Graph, id: CmdId) -> JobRequest {
    let rule = &graph.cmd(id).rule;
    let mut env: Vec<_> = rule
        .exports
        .iter()
        .filter_map(|name| std::env::var_os(name).map(|v| (name.clone(), v)))
        .collect();
    // `tup varsed` in the command reads its config values from here.
    if crate::tupfile::calls_varsed(&rule.command) {
        let vardict = crate::verbs::varsed::vardict(&rule.config_used);
        env.push((
            crate::verbs::varsed::VARDICT_ENV.to_string(),
            vardict.into(),
        ));
    }
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

#[cfg(test)]
mod tests {
    use super::env_setting;

    #[test]
    fn env_settings_fall_back_to_the_default_when_unset_or_malformed() {
        // Names of this test's own: the environment is shared by all tests.
        std::env::remove_var("TUPFS_TEST_SETTING_UNSET");
        assert_eq!(env_setting("TUPFS_TEST_SETTING_UNSET", "n", 7u64), 7);
        std::env::set_var("TUPFS_TEST_SETTING_SET", " 0 ");
        assert_eq!(env_setting("TUPFS_TEST_SETTING_SET", "n", 7u64), 0);
        std::env::set_var("TUPFS_TEST_SETTING_BAD", "5ms");
        assert_eq!(env_setting("TUPFS_TEST_SETTING_BAD", "n", 7u64), 7);
    }
}
