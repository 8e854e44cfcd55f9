//! `options`: the options in force, each with the file and line that set
//! it (or `default`), after the list of files read in tup's order of
//! precedence (lowest first: `/etc/tup/options`, `~/.tupoptions`,
//! `.tupfs/options`).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use crate::options::{Options, OPTION_KEYS};
use crate::project::{Project, STATE_DIR};

/// Print the files and the options.
pub fn run(dir: &Path) -> Result<ExitCode> {
    let state = match Project::find(dir) {
        Ok(project) => project.state_dir(),
        // Outside a project: the user's and the system's files only.
        Err(_) => dir.join(STATE_DIR),
    };
    let effective = Options::load_all(&state)?;
    println!("Options files, lowest precedence first:");
    for (file, exists) in &effective.files {
        let note = if *exists { "" } else { " (absent)" };
        println!("  {}{note}", file.display());
    }
    println!("Options in force:");
    for key in OPTION_KEYS {
        let value = (key.show)(&effective.options);
        let setting = format!("{} = {value}", key.name);
        println!("  {setting:<36} {}", effective.origin(key.name));
    }
    Ok(ExitCode::SUCCESS)
}
