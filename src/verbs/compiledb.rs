//! `compiledb`: `compile_commands.json` for the `^j` rules, at the
//! project root or, with variants, at each variant's root (parsing the
//! Tupfiles that changed first); `commandline FILE...`: the same entries
//! for the given source files, from the index alone (no parse).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};

use super::prepare::prepare;
use super::Global;
use crate::exec::compiledb::{entries_where, write_entries, FILE_NAME};
use crate::options::Options;
use crate::paths::ProjPath;
use crate::project::Project;
use crate::reuse::Prior;

/// `commandline`'s arguments.
#[derive(clap::Args, Debug)]
pub struct CommandlineArgs {
    /// Source files whose commands to print.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Write one `compile_commands.json` per variant that has `^j` rules.
pub fn run(dir: &Path, global: &Global) -> Result<ExitCode> {
    let p = prepare(dir)?;
    let root = &p.project.root;
    let variants: BTreeSet<&ProjPath> = p
        .graph
        .commands()
        .filter(|(_, c)| c.rule.flags.compile_db)
        .map(|(_, c)| &c.rule.variant)
        .collect();
    if variants.is_empty() && !global.quiet {
        println!("tupfs: no ^j rules: no {FILE_NAME} written");
    }
    let scratch = p.project.state_dir().join("tmp");
    for variant in variants {
        let entries = entries_where(&p.graph, root, |r| &r.variant == variant);
        let dest = variant.child(FILE_NAME);
        let written = write_entries(&entries, &dest, root, &scratch)?;
        if !global.quiet {
            let what = if written { "wrote" } else { "up to date:" };
            println!("tupfs: {what} {dest} ({} commands)", entries.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Print the entries of the `^j` commands whose first input is one of the
/// files, from the last build's index.
pub fn commandline(dir: &Path, args: &CommandlineArgs) -> Result<ExitCode> {
    let project = Project::find(dir)?;
    let change = Options::load_all(&project.state_dir())?.options.change;
    let prior = Prior::open(&project, change);
    if prior.index.is_none() {
        bail!("no build recorded yet: run a build (or `compiledb`) first");
    }
    let rules = prior.rules().map_err(|e| anyhow::anyhow!(e))?;
    let graph = crate::graph::Graph::build(rules)?;
    let mut wanted = BTreeSet::new();
    for f in &args.files {
        let abs = std::path::absolute(dir.join(f))?;
        let abs = abs.canonicalize().unwrap_or(abs);
        let path = ProjPath::from_disk(&project.root, &abs)
            .with_context(|| format!("{} is not in the project", f.display()))?;
        wanted.insert(path);
    }
    let root = &project.root;
    let entries = entries_where(&graph, root, |r| {
        r.inputs.first().is_some_and(|i| wanted.contains(i))
    });
    println!("{}", serde_json::to_string_pretty(&entries)?);
    Ok(ExitCode::SUCCESS)
}
