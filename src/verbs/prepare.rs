//! What the verbs that only look (`todo`, `graph`, `compiledb`) share with
//! `build`: the project, its options, and the build's graph — from the
//! index, or from a parse of the Tupfiles that changed, as a build would
//! take it — without running a command or writing the index.

use std::path::Path;

use anyhow::{anyhow, Result};

use crate::buildrules;
use crate::graph::Graph;
use crate::lock::BuildLock;
use crate::options::{ChangeMode, Options};
use crate::project::Project;
use crate::reparse::{self, Decision};
use crate::reuse::Prior;

/// A project as the next build would find it.
pub struct Prepared {
    /// The project.
    pub project: Project,
    /// The options in force.
    pub options: Options,
    /// The change mode.
    pub change: ChangeMode,
    /// The graph of the rules the next build would use.
    pub graph: Graph,
    /// The last build, opened and scanned.
    pub prior: Prior,
    /// The rules came from the index (no Tupfile parsed).
    pub reused: bool,
    /// Held while the verb looks, so no build changes the index meanwhile.
    pub lock: BuildLock,
}

/// Open the project containing `dir`, its index and options, scan, and
/// take or parse the rules as a build would (`.gitignore`s unwritten).
pub fn prepare(dir: &Path) -> Result<Prepared> {
    let project = Project::find(dir)?;
    project.ensure_initialised()?;
    let lock = BuildLock::acquire(&project.state_dir())?;
    let options = Options::load_all(&project.state_dir())?.options;
    let change = options.change;
    let mut prior = Prior::open(&project, change);
    prior.scan = prior.scan(&project.root);
    prior.discard_if_damaged();
    let decision = match prior.unusable() {
        Some(why) => Decision::Full(why),
        None => reparse::decide(&prior, &project.root, &prior.changed_tree(&project.root)),
    };
    let rules = buildrules::rules_for_preview(&project, &prior, decision)
        .map_err(|(e, _)| anyhow!("{e}"))?;
    let reused = rules.reused;
    let graph = Graph::build(rules.rules)?;
    Ok(Prepared {
        project,
        options,
        change,
        graph,
        prior,
        reused,
        lock,
    })
}
