//! What each subcommand does, as library functions that return `Result`s;
//! `main.rs` only parses arguments and prints the error.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Result};

use crate::project::Project;
use crate::tupfile;

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

/// `tupfs build`.
pub fn build(dir: &Path, opts: &BuildOptions) -> Result<ExitCode> {
    let _ = opts;
    let project = Project::find(dir)?;
    project.ensure_initialised()?;
    bail!("build is not implemented yet (the engine issue)")
}
