//! The run log `.tupfs/log/last.json` (format version 1, DESIGN.md): the
//! only source the harness trusts for WHICH commands ran and why.

use serde::Deserialize;

/// One build's run log.
#[derive(Debug, Clone, Deserialize)]
pub struct RunLog {
    /// Format version; the harness understands 1.
    pub version: u32,
    /// "ok", "failed", "interrupted" or "nothing-to-do".
    pub status: String,
    /// Every command that ran, in the order they finished.
    #[serde(default)]
    pub commands: Vec<LogCommand>,
    /// Stale outputs the build removed.
    #[serde(default)]
    pub removed: Vec<String>,
    /// Tupfiles parsed (0: the rules came from the index).
    #[serde(default)]
    pub parsed: Option<usize>,
    /// The counts at the end of the log.
    pub summary: Summary,
}

/// The run log's `summary`.
#[derive(Debug, Clone, Deserialize)]
pub struct Summary {
    /// How many commands ran (executed; not those served from the cache).
    pub ran: usize,
    /// How many were served from the output cache.
    #[serde(default)]
    pub cached: usize,
    /// How many of them did not end `ok`.
    pub failed: usize,
}

/// One command that ran.
#[derive(Debug, Clone, Deserialize)]
pub struct LogCommand {
    /// The rule's place, `dir/Tupfile:3`.
    #[serde(default)]
    pub rule: String,
    /// The directory it ran in ("" for the root).
    #[serde(default)]
    pub dir: String,
    /// Its display text (`^ TEXT^`), if any.
    #[serde(default)]
    pub display: Option<String>,
    /// The exact shell command.
    pub command: String,
    /// Its declared outputs.
    #[serde(default)]
    pub outputs: Vec<String>,
    /// Why it ran ("new", "input-changed", "variable-changed", "must-rerun",
    /// "output-missing", "identity-changed", "ghost-appeared").
    pub reason: String,
    /// What changed, where the reason has a detail (a path, a variable).
    #[serde(default)]
    pub reason_detail: Option<String>,
    /// "ok", "failed", "interrupted" or "cached".
    pub status: String,
}

impl LogCommand {
    /// True when `text` is this command's exact command text or display.
    pub fn is(&self, text: &str) -> bool {
        self.command == text || self.display.as_deref() == Some(text)
    }
}

impl RunLog {
    /// Parse a run log, saying what was wrong with it.
    pub fn parse(text: &str) -> Result<RunLog, String> {
        let log: RunLog =
            serde_json::from_str(text).map_err(|e| format!("run log is not valid: {e}"))?;
        if log.version != 1 {
            return Err(format!("run log version {} (harness knows 1)", log.version));
        }
        Ok(log)
    }
}

/// The `cone` of the last build's run log in `project`: (materialised,
/// total), None when every command was materialised (or no log).
pub fn last_cone(project: &super::Project) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(project.path(".tupfs/log/last.json")).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let c = v.get("cone")?;
    Some((c["materialised"].as_u64()?, c["total"].as_u64()?))
}
