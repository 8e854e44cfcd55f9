//! What each subcommand does, as library functions that return `Result`s;
//! `main.rs` only parses arguments and prints the error.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;

use crate::exec::{self, BuildStatus};
use crate::graph::Graph;
use crate::lock::BuildLock;
use crate::project::Project;
use crate::tupfile;
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
    /// Show real command lines.
    pub verbose: bool,
    /// Errors only.
    pub quiet: bool,
}

/// `tupfs parse`: print every expanded command.
pub fn parse(dir: &Path, json: bool) -> Result<ExitCode> {
    let project = Project::find(dir)?;
    let parsed = tupfile::parse_project(&project.root)?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &parsed)?;
        writeln!(out)?;
    } else {
        for rule in &parsed.rules {
            writeln!(out, "{}: [{}] {}", rule.location, rule.dir, rule.command)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Exit code of a usage or parse error.
const EXIT_USAGE: u8 = 2;
/// Exit code of an interrupted build.
const EXIT_INTERRUPTED: u8 = 130;

/// `tupfs build`: parse → graph → plan → execute → record. Exit 0 when up
/// to date, 1 when a command failed, 2 for a Tupfile or usage error, 130
/// when interrupted.
pub fn build(dir: &Path, opts: &BuildOptions) -> Result<ExitCode> {
    let project = Project::find(dir)?;
    project.ensure_initialised()?;
    let _lock = BuildLock::acquire(&project.state_dir())?;
    let parsed = match tupfile::parse_project(&project.root) {
        Ok(parsed) => parsed,
        Err(e) => return usage_error(&e),
    };
    let graph = match Graph::build(parsed.rules) {
        Ok(graph) => graph,
        Err(e) => return usage_error(&e),
    };
    let cwd = dir.canonicalize()?;
    let selected = match exec::targets::select(&graph, &project.root, &cwd, &opts.targets) {
        Ok(selected) => selected,
        Err(e) => return usage_error(&format!("{e:#}")),
    };
    let request = exec::Request {
        selected,
        jobs: opts.jobs,
        keep_going: opts.keep_going,
        change: opts.change.clone(),
        ui: UiOptions {
            verbose: opts.verbose,
            quiet: opts.quiet,
            explain: opts.explain,
        },
    };
    Ok(match exec::run_build(&project, &graph, &request)? {
        BuildStatus::Ok | BuildStatus::NothingToDo => ExitCode::SUCCESS,
        BuildStatus::Failed => ExitCode::FAILURE,
        BuildStatus::Interrupted => ExitCode::from(EXIT_INTERRUPTED),
    })
}

fn usage_error(e: &dyn std::fmt::Display) -> Result<ExitCode> {
    eprintln!("tupfs: error: {e}");
    Ok(ExitCode::from(EXIT_USAGE))
}
