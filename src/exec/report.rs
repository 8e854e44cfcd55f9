//! The end of a build: its status, the summary line and the run log.

use std::time::Duration;

use anyhow::Result;

use super::schedule::{Outcome, Outcomes};
use super::stale::StaleRemoval;
use super::BuildStatus;
use crate::graph::Graph;
use crate::identity::Identity;
use crate::project::Project;
use crate::ui::runlog::{LoggedCommand, RunLog, Summary, VERSION};
use crate::ui::Ui;

/// Everything the report is made from.
pub struct Report<'a> {
    /// The graph.
    pub graph: &'a Graph,
    /// Command identities (for keys).
    pub ids: &'a [Identity],
    /// What happened.
    pub outcomes: &'a Outcomes,
    /// Stale outputs removed or kept.
    pub stale: &'a StaleRemoval,
    /// Wall time.
    pub elapsed: Duration,
    /// Tupfiles parsed (0: the rules came from the index).
    pub parsed: usize,
}

impl Report<'_> {
    /// Print the summary, write the run log, and say how the build ended.
    pub fn finish(&self, project: &Project, ui: &Ui) -> Result<BuildStatus> {
        ui.finish();
        let commands: Vec<LoggedCommand> = self
            .outcomes
            .finished_order
            .iter()
            .filter_map(|&id| self.logged(id))
            .collect();
        let cached = commands.iter().filter(|c| c.status == "cached").count();
        let failed = commands
            .iter()
            .filter(|c| c.status != "ok" && c.status != "cached")
            .count();
        for (path, why) in &self.stale.kept {
            ui.warn(&format!("cannot remove the stale output {path}: {why}"));
        }
        let status = self.status(commands.len(), failed);
        let summary = Summary {
            ran: commands.len() - cached,
            cached,
            failed,
            duration_ms: self.elapsed.as_millis(),
        };
        self.print_summary(ui, status, &summary);
        let log = RunLog {
            version: VERSION,
            status: status_word(status),
            commands,
            removed: self.stale.removed.iter().map(|p| p.to_string()).collect(),
            parsed: self.parsed,
            summary,
        };
        log.write(&project.state_dir())?;
        Ok(status)
    }

    fn status(&self, ran: usize, failed: usize) -> BuildStatus {
        if self.outcomes.interrupted {
            BuildStatus::Interrupted
        } else if failed > 0 || !self.stale.kept.is_empty() {
            BuildStatus::Failed
        } else if ran == 0 && self.stale.removed.is_empty() {
            BuildStatus::NothingToDo
        } else {
            BuildStatus::Ok
        }
    }

    fn logged(&self, id: crate::graph::CmdId) -> Option<LoggedCommand> {
        let Outcome::Ran {
            reason,
            status,
            cached,
            ..
        } = &self.outcomes.per_cmd[id.index()]
        else {
            return None;
        };
        let rule = &self.graph.cmd(id).rule;
        Some(LoggedCommand {
            key: self.ids[id.index()].key.to_string(),
            rule: rule.location.to_string(),
            dir: rule.dir.as_str().to_string(),
            display: rule.display.clone().unwrap_or_else(|| rule.command.clone()),
            command: rule.command.clone(),
            outputs: self.graph.outputs(id).map(|p| p.to_string()).collect(),
            reason: reason.word(),
            reason_detail: reason.detail().map(str::to_string),
            status: match cached {
                true => "cached",
                false => status.word(),
            },
        })
    }

    fn print_summary(&self, ui: &Ui, status: BuildStatus, s: &Summary) {
        let secs = self.elapsed.as_secs_f64();
        match status {
            BuildStatus::NothingToDo => ui.info("tupfs: Nothing to do"),
            BuildStatus::Ok if s.cached > 0 => ui.info(&format!(
                "tupfs: {} command{} ran, {} from the cache, in {secs:.2}s",
                s.ran,
                plural(s.ran),
                s.cached
            )),
            BuildStatus::Ok => ui.info(&format!(
                "tupfs: {} command{} ran in {secs:.2}s",
                s.ran,
                plural(s.ran)
            )),
            BuildStatus::Failed => ui.warn(&format!(
                "build FAILED: {} of {} command{} failed ({secs:.2}s)",
                s.failed,
                s.ran,
                plural(s.ran)
            )),
            BuildStatus::Interrupted => ui.warn(&format!(
                "build interrupted after {} command{} ({secs:.2}s); the next build finishes the work",
                s.ran,
                plural(s.ran)
            )),
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn status_word(s: BuildStatus) -> &'static str {
    match s {
        BuildStatus::Ok => "ok",
        BuildStatus::NothingToDo => "nothing-to-do",
        BuildStatus::Failed => "failed",
        BuildStatus::Interrupted => "interrupted",
    }
}
