//! The last build as the planner and scheduler see it, and recording this
//! build for the next: the adapter between the engine and the `index` and
//! `change` modules.
//!
//! PLACEHOLDER until the index lands: there is no history (every command
//! is new, nothing is recorded).

use anyhow::Result;

use super::schedule::Outcomes;
use super::stale::StaleRemoval;
use crate::graph::Graph;
use crate::paths::ProjPath;
use crate::plan::{Changes, Identity, LastBuild, PrevCommand};
use crate::project::Project;
use crate::ui::Ui;

/// The last build and this build's identities.
pub struct History {
    /// Identity of every command of the graph, by `CmdId::index`.
    pub ids: Vec<Identity>,
    root: std::path::PathBuf,
}

impl History {
    /// Open the index of `project` and judge what changed.
    pub fn load(
        project: &Project,
        graph: &Graph,
        change: Option<&str>,
        ui: &Ui,
    ) -> Result<History> {
        let _ = (change, ui);
        let ids = graph
            .commands()
            .map(|(_, c)| Identity {
                key: format!("{}\u{0}{}", c.rule.dir, c.rule.command),
                signature: String::new(),
                vars: Default::default(),
            })
            .collect();
        Ok(History {
            ids,
            root: project.root.clone(),
        })
    }

    /// Outputs of the last build that no command of `graph` produces.
    pub fn stale_outputs(&self, graph: &Graph) -> Vec<ProjPath> {
        let _ = graph;
        Vec::new()
    }

    /// Record this build as the index.
    pub fn record(
        &self,
        project: &Project,
        graph: &Graph,
        outcomes: &Outcomes,
        stale: &StaleRemoval,
    ) -> Result<()> {
        let _ = (project, graph, outcomes, stale);
        Ok(())
    }
}

impl LastBuild for History {
    fn by_output(&self, _: &ProjPath) -> Option<PrevCommand> {
        None
    }
    fn by_key(&self, _: &str) -> Option<PrevCommand> {
        None
    }
}

impl Changes for History {
    fn since(&self, _: &ProjPath) -> Option<u32> {
        None
    }
    fn modified(&self, _: &ProjPath) -> bool {
        true
    }
    fn exists(&self, path: &ProjPath) -> bool {
        path.to_disk(&self.root).exists()
    }
    fn output_changed(&self, _: &ProjPath, _: bool) -> bool {
        true
    }
}
