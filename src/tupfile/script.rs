//! How `run` scripts are executed: the [`ScriptRunner`] a parse is given
//! (a build gives one that traces what the script reads; the parser knows
//! nothing of FUSE) and the plain [`UntracedRunner`].

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::paths::ProjPath;

/// One `run` script to execute: `sh -c COMMAND` in `dir`, stdin from
/// /dev/null, with only `env` set.
#[derive(Clone, Debug)]
pub struct Script<'a> {
    /// The project root on disk.
    pub root: &'a Path,
    /// The Tupfile's directory: the script's working directory.
    pub dir: &'a ProjPath,
    /// The shell text after `run`, variables expanded.
    pub command: &'a str,
    /// The exported variables with their values.
    pub env: Vec<(String, String)>,
}

/// What a script did. The sets are empty when the runner does not trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScriptRun {
    /// Its standard output: more rules.
    pub stdout: String,
    /// Project files it read (the script itself included).
    pub reads: BTreeSet<ProjPath>,
    /// Project paths it looked for that did not exist.
    pub ghosts: BTreeSet<ProjPath>,
    /// Project files it wrote (never kept in the tree).
    pub writes: BTreeSet<ProjPath>,
}

/// Runs `run` scripts for the parser.
pub trait ScriptRunner: fmt::Debug + Send + Sync {
    /// Run `script` to completion. Err: it could not run or exited
    /// non-zero; the message says how (with its stderr).
    fn run(&self, script: &Script) -> Result<ScriptRun, String>;
}

/// Runs scripts directly on the tree, tracing nothing (`tupfs parse`,
/// the parser's tests).
#[derive(Clone, Copy, Debug, Default)]
pub struct UntracedRunner;

impl ScriptRunner for UntracedRunner {
    fn run(&self, script: &Script) -> Result<ScriptRun, String> {
        let out = Command::new("sh")
            .arg("-c")
            .arg(script.command)
            .current_dir(script.dir.to_disk(script.root))
            .env_clear()
            .envs(script.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run '{}': {e}", script.command))?;
        Ok(ScriptRun {
            stdout: script_stdout(script, &out)?,
            ..ScriptRun::default()
        })
    }
}

/// The stdout of a finished script, or why it failed (its exit status and
/// stderr). For every runner.
pub fn script_stdout(script: &Script, out: &Output) -> Result<String, String> {
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "run script '{}' failed ({}): {}",
            script.command,
            out.status,
            stderr.trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
