//! `scan`: examine every file the index records and say which changed
//! since the last build (as the next build will find them). A build scans
//! by itself, so this is only a look: it writes nothing.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use super::Global;
use crate::change::Verdict;
use crate::options::Options;
use crate::project::Project;
use crate::reuse::Prior;

/// Scan and report (each changed file with `--verbose`, else a count).
pub fn run(dir: &Path, global: &Global) -> Result<ExitCode> {
    let project = Project::find(dir)?;
    let change = Options::load_all(&project.state_dir())?.options.change;
    let prior = Prior::open_scanned(&project, change);
    let Some(index) = &prior.index else {
        if !global.quiet {
            println!("tupfs: no build recorded yet: nothing to scan");
        }
        return Ok(ExitCode::SUCCESS);
    };
    let mut changed = 0usize;
    for (slot, judged) in &prior.scan.files {
        let Some(file) = index.file_at(*slot) else {
            continue;
        };
        if let Verdict::Changed(why) = &judged.verdict {
            changed += 1;
            if global.verbose {
                let path = if file.path().is_empty() {
                    "."
                } else {
                    file.path()
                };
                println!("{path}: {why}");
            }
        }
    }
    if !global.quiet {
        let total = index.file_count();
        println!("tupfs: scanned {total} recorded files: {changed} changed since the last build");
    }
    Ok(ExitCode::SUCCESS)
}
