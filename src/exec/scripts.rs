//! Running `run` scripts through the tracing filesystem while a build
//! parses, so what a script reads (and looks for in vain) becomes an
//! input of its Tupfile's parse. The mount is made on the first script
//! only, at its own mountpoint (`.tupfs/mnt-parse`), and gone once the
//! parse is.

use std::process::{Output, Stdio};
use std::sync::{Mutex, MutexGuard};

use tupfs_fuse::{AccessLog, Job, JobSpec, MountConfig, Tracer};

use super::job::{capture_file, read_back};
use crate::paths::ProjPath;
use crate::project::Project;
use crate::tupfile::{script_stdout, Script, ScriptRun, ScriptRunner};

/// The parse's tracer, mounted on first use.
#[derive(Debug)]
pub struct TracedScripts {
    config: MountConfig,
    tracer: Mutex<Option<Tracer>>,
}

impl TracedScripts {
    /// A runner for `project`'s scripts; mounts nothing yet.
    pub fn new(project: &Project) -> TracedScripts {
        TracedScripts {
            config: super::parse_mount_config(project),
            tracer: Mutex::new(None),
        }
    }

    /// Unmount, if a script mounted the tracer.
    pub fn unmount(&self) -> Result<(), String> {
        let tracer = self.lock().take();
        match tracer {
            Some(t) => t
                .unmount()
                .map_err(|e| format!("cannot unmount the run scripts' tracing filesystem: {e}")),
            None => Ok(()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Tracer>> {
        self.tracer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The tracer, mounted now if no script mounted it yet.
    fn mounted(&self) -> Result<MutexGuard<'_, Option<Tracer>>, String> {
        let mut guard = self.lock();
        if guard.is_none() {
            let options = super::mount_options(Vec::new());
            let tracer = Tracer::mount_with(self.config.clone(), options).map_err(|e| {
                format!("cannot mount the tracing filesystem to run scripts in: {e}")
            })?;
            *guard = Some(tracer);
        }
        Ok(guard)
    }
}

impl Drop for TracedScripts {
    fn drop(&mut self) {
        if let Err(e) = self.unmount() {
            log::warn!("{e}");
        }
    }
}

impl ScriptRunner for TracedScripts {
    fn run(&self, script: &Script) -> Result<ScriptRun, String> {
        let guard = self.mounted()?;
        let tracer = guard.as_ref().ok_or("the tracer is not mounted")?;
        let what = |e: std::io::Error| format!("cannot run '{}': {e}", script.command);
        let spec = JobSpec {
            cwd: script.dir.as_str().to_string(),
            ignore: Vec::new(),
        };
        let job = tracer.start_job(&spec).map_err(what)?;
        let output = spawn_and_wait(&job, script);
        let finished = job.finish().map_err(what)?;
        // Nothing a script writes is kept (as in tup).
        if let Err(e) = finished.pending.discard() {
            log::warn!("cannot drop what '{}' wrote: {e}", script.command);
        }
        let mut ran = traced(&finished.log);
        ran.stdout = script_stdout(script, &output.map_err(what)?)?;
        Ok(ran)
    }
}

/// Run `sh -c COMMAND` in `job`'s view with only the script's variables,
/// stdin from /dev/null, stdout and stderr captured apart.
fn spawn_and_wait(job: &Job, script: &Script) -> std::io::Result<Output> {
    let (mut stdout, mut stderr) = (capture_file()?, capture_file()?);
    let (out, err) = (stdout.try_clone()?, stderr.try_clone()?);
    let mut child = job.spawn("/bin/sh", |cmd| {
        cmd.arg("-c")
            .arg(script.command)
            .env_clear()
            .envs(script.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
    })?;
    Ok(Output {
        status: child.wait()?,
        stdout: read_back(&mut stdout)?,
        stderr: read_back(&mut stderr)?,
    })
}

/// The project paths of a script's access log.
fn traced(log: &AccessLog) -> ScriptRun {
    let paths = |set: &std::collections::BTreeSet<String>| {
        set.iter().filter_map(|p| ProjPath::new(p).ok()).collect()
    };
    ScriptRun {
        stdout: String::new(),
        reads: paths(&log.reads),
        ghosts: paths(&log.ghosts),
        writes: paths(&log.writes),
    }
}
