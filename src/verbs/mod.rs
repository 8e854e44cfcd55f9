//! tup's secondary commands as tupfs subcommands (`tupfs todo`, `tupfs
//! graph`, … and, under the name `tup`, `tup todo`, …): one file per verb,
//! each returning the exit code as `tupfs::cli` does for `build`.

pub mod compiledb;
pub mod completions;
pub mod generate;
pub mod graph;
pub mod options;
pub mod prepare;
pub mod refactor;
pub mod scan;
pub mod todo;
pub mod variant;
pub mod varsed;

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, Result};

use crate::project::Project;

/// The global flags every verb sees.
#[derive(Debug, Clone, Copy, Default)]
pub struct Global {
    /// `-v`/`--verbose`: real command lines, more detail.
    pub verbose: bool,
    /// `-q`/`--quiet`: errors only.
    pub quiet: bool,
}

/// `init [DIR]`: make `.tupfs/` in `dir` (made first if missing). A
/// `.tup/` directory there is left alone.
pub fn init(dir: &Path, global: &Global) -> Result<ExitCode> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let project = Project::init(dir)?;
    if !global.quiet {
        println!("tupfs: initialised {}", project.root.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `version`: tupfs's version, and the tup whose language it reads.
pub fn version() -> Result<ExitCode> {
    println!(
        "tupfs {} (reads the Tupfiles of tup 0.7.11)",
        env!("CARGO_PKG_VERSION")
    );
    Ok(ExitCode::SUCCESS)
}
