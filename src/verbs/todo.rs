//! `todo [TARGETS]`: what the next build would run and why, in the order
//! it may run them — the build's own plan ([`crate::exec::preview`]),
//! without running a command or writing the index.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;

use super::prepare::prepare;
use super::Global;
use crate::exec::preview::{preview, Why};
use crate::exec::targets;

/// `todo`'s arguments.
#[derive(clap::Args, Debug)]
pub struct TodoArgs {
    /// Files or directories to build (default: all).
    pub targets: Vec<PathBuf>,
    /// Print JSON (one object per command) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// One command the next build runs, as `--json` prints it.
#[derive(Debug, Serialize)]
struct Step<'a> {
    dir: &'a str,
    command: &'a str,
    /// The run log's reason word (`upstream` when a file it reads is
    /// rebuilt first).
    reason: &'static str,
    /// The whole reason as a sentence.
    why: String,
}

/// Print the next build's commands (display text unless `--verbose`),
/// or that there is nothing to do.
pub fn run(dir: &Path, args: &TodoArgs, global: &Global) -> Result<ExitCode> {
    let p = prepare(dir)?;
    let cwd = dir.canonicalize()?;
    let selected = targets::select(&p.graph, &p.project.root, &cwd, &args.targets)?;
    let plan = preview(&p.project, &p.graph, p.prior, p.change, p.reused, &selected);
    let steps: Vec<Step> = plan
        .runs
        .iter()
        .map(|(id, why)| {
            let rule = &p.graph.cmd(*id).rule;
            let shown = match (global.verbose, &rule.display) {
                (false, Some(d)) => d.as_str(),
                _ => rule.command.as_str(),
            };
            Step {
                dir: rule.dir.as_str(),
                command: shown,
                reason: match why {
                    Why::Direct(r) => r.word(),
                    Why::Upstream(_) => "upstream",
                },
                why: why.to_string(),
            }
        })
        .collect();
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &steps)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    for path in &plan.stale {
        writeln!(out, "remove {path} (no rule makes it now)")?;
    }
    if steps.is_empty() {
        writeln!(out, "tupfs: Nothing to do")?;
        return Ok(ExitCode::SUCCESS);
    }
    let n = steps.len();
    let s = if n == 1 { "" } else { "s" };
    writeln!(out, "tupfs: the next build runs {n} command{s}:")?;
    for step in &steps {
        let dir = if step.dir.is_empty() { "." } else { step.dir };
        writeln!(out, " [{dir}] {}    ({})", step.command, step.why)?;
    }
    Ok(ExitCode::SUCCESS)
}
