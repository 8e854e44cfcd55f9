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

/// `tupfs parse`: print every expanded command (text for people, `--json`
/// for tools). Runs `run` scripts but writes nothing to the tree.
pub fn parse(dir: &Path, json: bool) -> Result<ExitCode> {
    let project = Project::find(dir)?;
    let parsed = tupfile::parse_project(&project.root)?;
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

/// `tupfs build`.
pub fn build(dir: &Path, opts: &BuildOptions) -> Result<ExitCode> {
    let _ = opts;
    let project = Project::find(dir)?;
    project.ensure_initialised()?;
    bail!("build is not implemented yet (the engine issue)")
}
