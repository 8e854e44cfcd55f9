//! What each subcommand does, as library functions that return `Result`s;
//! `main.rs` only parses arguments and prints the error.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;

use crate::buildrules::{self, Rules};
use crate::exec::{self, BuildStatus};
use crate::graph::Graph;
use crate::lock::BuildLock;
use crate::monitor;
use crate::options::{ChangeMode, Options};
use crate::project::Project;
use crate::reparse::{self, Decision};
use crate::reuse::{Prior, TreeChanges};
use crate::tupfile;
use crate::ui::runlog::RunLog;
use crate::ui::UiOptions;

/// Options of `tupfs build`.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// What to build (default: everything).
    pub targets: Vec<PathBuf>,
    /// Parallel jobs (default: number of CPUs).
    pub jobs: Option<usize>,
    /// Keep going after failures.
    pub keep_going: bool,
    /// Change-detection mode override.
    pub change: Option<String>,
    /// Print why each command runs.
    pub explain: bool,
    /// `--full-deps`: trace reads outside the project (else as the
    /// options files say: `updater.full_deps`).
    pub full_deps: bool,
    /// Show real command lines.
    pub verbose: bool,
    /// Errors only.
    pub quiet: bool,
    /// `--no-keep-going`: stop at the first failure whatever the options
    /// files say.
    pub no_keep_going: bool,
    /// The progress bar (`display.progress`; None: on a terminal).
    pub progress: Option<bool>,
    /// No `[n/total]` before each command (`display.job_numbers = 0`).
    pub no_job_numbers: bool,
    /// The output cache's flags.
    pub cache: crate::cache::settings::Flags,
}

impl BuildOptions {
    /// These options with what the flags leave open taken from the
    /// options files (`updater.num_jobs`, `updater.keep_going`,
    /// `display.quiet`, `display.progress`, `display.job_numbers`).
    pub fn with_files(&self, files: &Options) -> BuildOptions {
        BuildOptions {
            jobs: self.jobs.or(files.num_jobs),
            keep_going: self.keep_going || (files.keep_going && !self.no_keep_going),
            quiet: self.quiet || (files.quiet && !self.verbose),
            progress: self.progress.or(files.progress),
            no_job_numbers: self.no_job_numbers || !files.job_numbers,
            full_deps: self.full_deps || files.full_deps,
            ..self.clone()
        }
    }

    /// The `tupfs build` arguments that give these options (for the
    /// builds `tupfs monitor -a` starts).
    pub fn to_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(j) = self.jobs {
            args.push(format!("-j{j}"));
        }
        let flags = [
            (self.keep_going, "-k"),
            (self.explain, "--explain"),
            (self.verbose, "-v"),
            (self.quiet, "-q"),
        ];
        args.extend(flags.iter().filter(|f| f.0).map(|f| f.1.to_string()));
        if let Some(mode) = &self.change {
            args.push(format!("--change={mode}"));
        }
        args.extend(self.targets.iter().map(|t| t.display().to_string()));
        args
    }

    /// What the user interface needs of these options.
    fn ui(&self) -> UiOptions {
        UiOptions {
            verbose: self.verbose,
            quiet: self.quiet,
            explain: self.explain,
            progress: self.progress,
            no_job_numbers: self.no_job_numbers,
        }
    }
}

/// `tupfs parse`: print every expanded command (text for people, `--json`
/// for tools). Runs `run` scripts but writes nothing to the tree.
pub fn parse(dir: &Path, json: bool) -> Result<ExitCode> {
    let project = Project::find(dir)?;
    // Files the last build wrote are outputs, not sources (for globs).
    let options = tupfile::ParseOptions {
        previous_outputs: exec::previous_outputs(&project),
        ..Default::default()
    };
    let parsed = tupfile::parse_project_with(&project.root, &options)?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &parsed)?;
        writeln!(out)?;
    } else {
        for rule in &parsed.rules {
            write_rule_text(&mut out, rule)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One rule as readable text: `[dir] command`, then its files.
fn write_rule_text(out: &mut impl Write, rule: &tupfile::Rule) -> std::io::Result<()> {
    let join = |v: &[crate::paths::ProjPath]| {
        v.iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    writeln!(out, "[{}] {}", rule.dir, rule.command)?;
    writeln!(out, "    rule: {}", rule.location)?;
    if let Some(d) = &rule.display {
        writeln!(out, "    display: {d}")?;
    }
    let groups = |g: &[tupfile::GroupRef]| {
        g.iter()
            .map(|g| g.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    for (label, value) in [
        ("inputs", join(&rule.inputs)),
        ("order-only", join(&rule.order_only)),
        ("groups-in", groups(&rule.input_groups)),
        ("outputs", join(&rule.outputs)),
        ("extra-outputs", join(&rule.extra_outputs)),
        (
            "group-out",
            rule.output_group
                .as_ref()
                .map(|g| g.to_string())
                .unwrap_or_default(),
        ),
    ] {
        if !value.is_empty() {
            writeln!(out, "    {label}: {value}")?;
        }
    }
    Ok(())
}

/// Exit code of a usage or parse error.
const EXIT_USAGE: u8 = 2;
/// Exit code of an interrupted build.
const EXIT_INTERRUPTED: u8 = 130;

/// `tupfs build`: parse → graph → plan → execute → record. Exit 0 when up
/// to date, 1 when a command failed, 2 for a Tupfile or usage error, 130
/// when interrupted. Only the Tupfiles whose parse inputs changed are
/// parsed ([`crate::reparse`]); when none did, the rules come from the
/// index and no Tupfile is parsed ([`crate::reuse`]).
pub fn build(dir: &Path, opts: &BuildOptions) -> Result<ExitCode> {
    let started = Instant::now();
    let project = Project::find(dir)?;
    project.ensure_initialised()?;
    let _lock = BuildLock::acquire(&project.state_dir())?;
    let files = match Options::load_all(&project.state_dir()) {
        Ok(effective) => effective.options,
        Err(e) => return failed_early(&project, &e, 0),
    };
    let opts = &opts.with_files(&files);
    let change = match change_mode(&files, opts.change.as_deref()) {
        Ok(mode) => mode,
        Err(e) => return failed_early(&project, &format!("{e:#}"), 0),
    };
    let synced = monitor_sync(&project, opts);
    if proven_by_monitor(&project, opts, change, &synced) {
        // The index stays, and so does its clock (nothing changed since).
        return nothing_to_do(&project, opts, started);
    }
    let mut prior = Prior::open(&project, change);
    prior.full_deps = opts.full_deps;
    log::debug!("timing: index opened at {:?}", started.elapsed());
    prior.since = synced.since.clone();
    let Some(built) = scan_and_decide(&project, &mut prior, opts, started) else {
        let code = nothing_to_do(&project, opts, started)?;
        monitor::client::record(&project.state_dir(), &synced, true);
        return Ok(code);
    };
    let (graph, rules) = match built {
        Ok(built) => built,
        Err((e, parsed)) => return failed_early(&project, &e, parsed),
    };
    let parsed = rules.parsed;
    let (cache, job_root) = match cache_settings(&project, &files, &opts.cache) {
        Ok(settings) => settings,
        Err(e) => return failed_early(&project, &format!("{e:#}"), parsed),
    };
    let cwd = dir.canonicalize()?;
    let selected = match exec::targets::select(&graph, &project.root, &cwd, &opts.targets) {
        Ok(selected) => selected,
        Err(e) => return failed_early(&project, &format!("{e:#}"), parsed),
    };
    let checked = match (&rules.cone, rules.reused) {
        (Some(cone), false) => crate::guard::check_cone(&project, &graph, &prior, cone),
        _ => crate::guard::check(&project, &graph, &prior, rules.reused),
    };
    let guard = match checked {
        Ok(after) => after,
        Err(e) => return failed_early(&project, &e, parsed),
    };
    log::debug!("timing: guard checked at {:?}", started.elapsed());
    let request = exec::Request {
        selected,
        tupfiles: rules.tupfiles,
        tree: rules.tree,
        reused: rules.reused,
        kept: rules.kept,
        cone: rules.cone,
        parsed,
        jobs: opts.jobs,
        keep_going: opts.keep_going,
        change,
        full_deps: opts.full_deps,
        ui: opts.ui(),
        guard,
        cache,
        job_root,
    };
    let status = exec::run_build_with(&project, &graph, &request, prior, started)?;
    // Nothing to do: the index was rewritten, or proven current as it is.
    let current = matches!(status, BuildStatus::NothingToDo);
    monitor::client::record(&project.state_dir(), &synced, current);
    Ok(match status {
        BuildStatus::Ok | BuildStatus::NothingToDo => ExitCode::SUCCESS,
        BuildStatus::Failed => ExitCode::FAILURE,
        BuildStatus::Interrupted => ExitCode::from(EXIT_INTERRUPTED),
    })
}

/// Ask the project's monitor what changed (a full scan without one), and
/// say where the changes come from: in `-v` when a monitor was asked, and
/// in the run log.
fn monitor_sync(project: &Project, opts: &BuildOptions) -> monitor::client::Synced {
    let synced = monitor::client::sync(&project.state_dir());
    if synced.asked && opts.verbose && !opts.quiet {
        eprintln!("tupfs: {}", synced.note);
    }
    crate::ui::runlog::set_changes_note(&synced.note);
    synced
}

/// The monitor's no-op ([`monitor::noop`]): nothing may have changed since
/// the index's clock and the index proves every command up to date.
fn proven_by_monitor(
    project: &Project,
    opts: &BuildOptions,
    change: ChangeMode,
    synced: &monitor::client::Synced,
) -> bool {
    if !opts.targets.is_empty() || !synced.since.as_ref().is_some_and(|s| s.is_empty()) {
        return false;
    }
    let mut prior = Prior::open_trusted(project, change);
    prior.full_deps = opts.full_deps;
    let proven = monitor::noop::proven(&prior, synced);
    log::debug!("monitor no-op: proven {proven}");
    proven
}

/// `tupfs monitor`: watch the project (see [`crate::monitor`]); with
/// `autoupdate`, build with `build` after changes quiet for `quiet_ms`.
pub fn monitor(
    dir: &Path,
    foreground: bool,
    autoupdate: bool,
    quiet_ms: u64,
    build: &BuildOptions,
) -> Result<ExitCode> {
    let project = Project::find(dir)?;
    project.ensure_initialised()?;
    // `[monitor] autoupdate` in the options files turns `-a` on too.
    let files = Options::load_all(&project.state_dir())?.options;
    let opts = monitor::MonitorOptions {
        foreground,
        autoupdate: autoupdate || files.autoupdate,
        quiet_ms,
        build_args: build.to_args(),
    };
    monitor::daemon::monitor(&project, &opts)
}

/// `tupfs stop`: stop the project's monitor.
pub fn stop(dir: &Path) -> Result<ExitCode> {
    monitor::daemon::stop(&Project::find(dir)?)
}

/// Rules and graph, or the error text and the number of Tupfiles parsed.
type Built = std::result::Result<(Graph, Rules), (String, usize)>;

/// Scan the recorded files beside the check of the tree, wait for the
/// index's checksum verdict, and decide where the rules come from: `None`
/// when there is nothing to do at all.
fn scan_and_decide(
    project: &Project,
    prior: &mut Prior,
    opts: &BuildOptions,
    started: Instant,
) -> Option<Built> {
    // The full scan (a stat of every recorded file) runs beside the check
    // of the tree and, when the index cannot stand in for any parse, the
    // parse and the graph. Otherwise the scan decides: parse some or all
    // Tupfiles, re-use the index, or nothing to do.
    let (built, changed_tree, scan) = std::thread::scope(|s| {
        let scanner = s.spawn(|| prior.scan(&project.root));
        let (built, changed_tree) = match prior.unusable() {
            Some(why) => {
                let full = Decision::Full(why);
                (
                    Some(rules_and_graph(project, prior, full, opts, started)),
                    TreeChanges::default(),
                )
            }
            None => {
                let began = Instant::now();
                let tree = prior.changed_tree(&project.root);
                log::debug!("timing: tree listed in {:?}", began.elapsed());
                (None, tree)
            }
        };
        let scan = scanner
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        log::debug!("timing: scan joined at {:?}", started.elapsed());
        (built, changed_tree, scan)
    });
    prior.scan = scan;
    log::debug!("timing: scanned at {:?}", started.elapsed());
    // The index's checksum was verified meanwhile; nothing taken from it
    // counts before its verdict. Damaged: decide again without it.
    if prior.discard_if_damaged() {
        let full = Decision::Full("the index is damaged".into());
        return Some(rules_and_graph(project, prior, full, opts, started));
    }
    if built.is_some() {
        return built;
    }
    let decision = reparse::decide(prior, &project.root, &changed_tree);
    log::debug!("timing: decided what to parse at {:?}", started.elapsed());
    match decision {
        Decision::Reuse if opts.targets.is_empty() && prior.nothing_to_do() => None,
        decision => Some(rules_and_graph(project, prior, decision, opts, started)),
    }
}

/// The rules `decision` says to take or parse, and their graph; an error
/// says what and how many Tupfiles were parsed.
fn rules_and_graph(
    project: &Project,
    prior: &Prior,
    decision: Decision,
    opts: &BuildOptions,
    started: Instant,
) -> Built {
    let explain = opts.explain && !opts.quiet;
    let mut rules = match cone_rules(project, prior, &decision, opts, started) {
        Some(rules) => rules,
        None => buildrules::rules_for_build(project, prior, decision, explain)?,
    };
    if opts.targets.is_empty() {
        // A partial parse: the cone of what its rules changed, if small.
        rules = crate::cone::parsed::narrow(prior, &project.state_dir(), rules);
    }
    let parsed = rules.parsed;
    log::debug!(
        "timing: {parsed} Tupfiles parsed at {:?}",
        started.elapsed()
    );
    let graph =
        Graph::build(std::mem::take(&mut rules.rules)).map_err(|e| (e.to_string(), parsed))?;
    log::debug!("timing: graph built at {:?}", started.elapsed());
    Ok((graph, rules))
}

/// Rules re-used from the index and no target named: the rules of the
/// cone only ([`crate::cone`]), or None for the full graph (why in `-vv`).
fn cone_rules(
    project: &Project,
    prior: &Prior,
    decision: &Decision,
    opts: &BuildOptions,
    started: Instant,
) -> Option<Rules> {
    if !matches!(decision, Decision::Reuse) || !opts.targets.is_empty() {
        return None;
    }
    let found = crate::cone::find(prior, &project.state_dir())
        .and_then(|cone| crate::cone::rules(prior, cone));
    match found {
        Ok(rules) => {
            let cone = rules.cone.as_deref().map(|c| c.describe());
            let cone = cone.unwrap_or_default();
            log::debug!("timing: {cone} at {:?}", started.elapsed());
            Some(rules)
        }
        Err(why) => {
            log::debug!("no cone ({why}): every command is materialised");
            None
        }
    }
}

/// `--change MODE` if given, else what the options files say.
pub fn change_mode(files: &Options, flag: Option<&str>) -> Result<ChangeMode> {
    match flag {
        Some(mode) => Ok(mode.parse().map_err(|e| anyhow::anyhow!("--change: {e}"))?),
        None => Ok(files.change),
    }
}

/// The output cache's settings (None: off) and the job root, from the
/// options files (`files`, already read by the build) and the flags.
fn cache_settings(
    project: &Project,
    files: &Options,
    flags: &crate::cache::settings::Flags,
) -> Result<(Option<crate::cache::Settings>, Option<PathBuf>)> {
    let settings = crate::cache::Settings::resolve(files, flags, &project.root);
    if let Some(jr) = settings.job_root.as_ref().filter(|p| !p.is_absolute()) {
        anyhow::bail!("--job-root {}: expected an absolute path", jr.display());
    }
    let job_root = settings.job_root.clone();
    Ok((settings.enabled.then_some(settings), job_root))
}

/// `tupfs cache stats|gc|clear`: the local store of the project found from
/// `dir` (its `cache_dir` option), else the default one; `store` overrides.
pub fn cache(
    dir: &Path,
    action: &str,
    store: Option<PathBuf>,
    max: Option<&str>,
) -> Result<ExitCode> {
    let root = match store {
        Some(s) => s,
        None => {
            let settings = match Project::find(dir) {
                Ok(p) => {
                    let options = Options::load_all(&p.state_dir())?.options;
                    crate::cache::Settings::resolve(&options, &Default::default(), &p.root)
                }
                Err(_) => crate::cache::Settings::default(),
            };
            let max_size = settings.max_size;
            let dir = settings
                .dir
                .or_else(crate::cache::settings::default_dir)
                .ok_or_else(|| {
                    anyhow::anyhow!("no cache directory: set --cache-dir, XDG_CACHE_HOME or HOME")
                })?;
            return cache_action(&dir, action, max, max_size);
        }
    };
    cache_action(&root, action, max, crate::cache::local::DEFAULT_MAX_SIZE)
}

fn cache_action(
    root: &Path,
    action: &str,
    max: Option<&str>,
    default_max: u64,
) -> Result<ExitCode> {
    use crate::cache::local::LocalStore;
    let store = LocalStore::open(root)?;
    let show = |what: &str, s: crate::cache::local::Stats| {
        println!(
            "{what}: {} entries, {} blobs, {} bytes ({})",
            s.entries,
            s.blobs,
            s.bytes,
            root.display()
        )
    };
    match action {
        "stats" => show("cache", store.stats()?),
        "clear" => show("removed", store.clear()?),
        "gc" => {
            let max = match max {
                Some(m) => crate::cache::settings::parse_size(m).ok_or_else(|| {
                    anyhow::anyhow!("--max-size: expected a size such as 5G or 500M, found '{m}'")
                })?,
                None => default_max,
            };
            match store.gc(max)? {
                Some(removed) => show("removed", removed),
                None => println!("another process is collecting {}", root.display()),
            }
        }
        other => anyhow::bail!("cache: unknown action '{other}': expected stats, gc or clear"),
    }
    Ok(ExitCode::SUCCESS)
}

/// A build the index proves up to date ([`Prior::nothing_to_do`]): say so
/// and leave the run log of a no-op; the index stays as it is.
fn nothing_to_do(project: &Project, opts: &BuildOptions, started: Instant) -> Result<ExitCode> {
    let ui = crate::ui::Ui::new(opts.ui());
    exec::clear_leftovers(project, &ui);
    ui.finish();
    ui.info("tupfs: Nothing to do");
    RunLog::nothing_to_do(started.elapsed()).write(&project.state_dir())?;
    log::debug!("timing: done (nothing to do) at {:?}", started.elapsed());
    Ok(ExitCode::SUCCESS)
}

/// A Tupfile or usage error: say it, leave a run log in which nothing ran
/// (`parsed`: Tupfiles read before it), exit 2.
fn failed_early(project: &Project, e: &dyn std::fmt::Display, parsed: usize) -> Result<ExitCode> {
    eprintln!("tupfs: error: {e}");
    RunLog::failed_early(parsed).write(&project.state_dir())?;
    Ok(ExitCode::from(EXIT_USAGE))
}
