//! Running one command through the tracer: `sh -e -c CMD` (bash with
//! pipefail for `^b`) in the rule's directory, stdin from /dev/null, only the
//! exported environment, its own process group, and stdout+stderr captured
//! to one in-memory file (memfd) that is read back whole when the job ends:
//! in memory so that a full disk cannot swallow the message that says so,
//! and a killed build leaves no capture behind.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek};
use std::os::fd::FromRawFd;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use std::os::unix::process::{CommandExt, ExitStatusExt};

use tupfs_fuse::{Finished, JobSpec, Tracer};

use super::enforce::Violation;
use crate::graph::CmdId;
use crate::paths::ProjPath;

/// Everything a worker needs to run one command.
#[derive(Debug, Clone)]
pub struct JobRequest {
    /// Which command.
    pub cmd: CmdId,
    /// The shell text.
    pub command: String,
    /// Where it runs.
    pub dir: ProjPath,
    /// `^b`: bash with pipefail.
    pub bash: bool,
    /// `^s`: let output through live instead of capturing it.
    pub stream: bool,
    /// The environment: exported variables only.
    pub env: Vec<(String, std::ffi::OsString)>,
    /// Output `^REGEX`es the tracer ignores.
    pub ignore: Vec<String>,
}

/// How a job's process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// Exited with this code.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
    /// Could not be started (the reason).
    NotStarted(String),
}

impl Exit {
    /// True for exit code 0.
    pub fn success(&self) -> bool {
        *self == Exit::Code(0)
    }
}

/// A job that ended.
#[derive(Debug)]
pub struct JobResult {
    /// Which command.
    pub cmd: CmdId,
    /// How it ended.
    pub exit: Exit,
    /// Its stdout and stderr, in the order written.
    pub output: Vec<u8>,
    /// The tracer's record (None if the job could not even start).
    pub finished: Option<Finished>,
    /// What it did against its rule (`enforce::check`, run by the worker
    /// so the main thread does not wait for it).
    pub violations: Vec<Violation>,
}

/// The process groups of running jobs, so an interrupt can stop them.
pub type Running = Mutex<HashMap<CmdId, u32>>;

/// Run `req` to completion under `tracer`.
pub fn run(tracer: &Tracer, req: &JobRequest, running: &Running) -> JobResult {
    let mut result = JobResult {
        cmd: req.cmd,
        exit: Exit::NotStarted(String::new()),
        output: Vec::new(),
        finished: None,
        violations: Vec::new(),
    };
    let spec = JobSpec {
        cwd: req.dir.as_str().to_string(),
        ignore: req.ignore.clone(),
    };
    let job = match tracer.start_job(&spec) {
        Ok(job) => job,
        Err(e) => {
            result.exit = Exit::NotStarted(format!("the tracer could not start the job: {e}"));
            return result;
        }
    };
    result.exit = match spawn_and_wait(&job, req, running) {
        Ok((exit, output)) => {
            result.output = output;
            exit
        }
        Err(e) => Exit::NotStarted(e.to_string()),
    };
    match job.finish() {
        Ok(f) => result.finished = Some(f),
        Err(e) => {
            let msg = format!("\ntupfs: the tracer lost this job's record: {e}\n");
            result.output.extend_from_slice(msg.as_bytes());
            if result.exit.success() {
                result.exit = Exit::NotStarted("no trace".into());
            }
        }
    }
    result
}

/// The shell's arguments and environment for `req` (`Job::spawn` adds them
/// to the command it makes).
fn shell_command(cmd: &mut Command, req: &JobRequest) {
    if req.bash {
        cmd.args(["-e", "-o", "pipefail", "-c", &req.command]);
    } else {
        cmd.args(["-e", "-c", &req.command]);
    }
    cmd.env_clear()
        .envs(req.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .process_group(0);
}

/// Spawn in the job's view, register the process group, wait, and read the
/// captured output.
fn spawn_and_wait(
    job: &tupfs_fuse::Job,
    req: &JobRequest,
    running: &Running,
) -> std::io::Result<(Exit, Vec<u8>)> {
    let mut out_file = None;
    let mut stdio = None;
    if !req.stream {
        let f = capture_file().map_err(|e| io_context(e, "cannot capture its output"))?;
        stdio = Some((f.try_clone()?, f.try_clone()?));
        out_file = Some(f);
    }
    let shell = if req.bash { "/bin/bash" } else { "/bin/sh" };
    // An error names the shell and the directory.
    let mut child = job.spawn(shell, |cmd| {
        shell_command(cmd, req);
        if let Some((out, err)) = stdio {
            cmd.stdout(out).stderr(err);
        }
    })?;
    lock(running).insert(req.cmd, child.id());
    if super::signals::interrupted() {
        super::signals::kill_group(child.id(), libc::SIGKILL);
    }
    let status = child.wait();
    lock(running).remove(&req.cmd);
    let status = status?;
    // The command's own handles were dropped with the `Command` inside
    // `Job::spawn`, so reading our handle from the start gets everything.
    let output = match out_file {
        Some(mut f) => read_back(&mut f)?,
        None => Vec::new(),
    };
    let exit = match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(sig)) => Exit::Signal(sig),
        (None, None) => Exit::Code(-1),
    };
    Ok((exit, output))
}

/// An anonymous in-memory file (closed on exec: the child gets dups).
pub(crate) fn capture_file() -> std::io::Result<File> {
    // SAFETY: a valid NUL-terminated name; the flags are plain bits.
    let fd = unsafe { libc::memfd_create(c"tupfs-capture".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor that nothing else owns.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// A capture file's whole contents (once the child's handles are closed).
pub(crate) fn read_back(f: &mut File) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    f.rewind()?;
    f.read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn io_context(e: std::io::Error, what: &str) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Lock the registry, surviving a panicked holder (the map stays valid).
pub fn lock(running: &Running) -> std::sync::MutexGuard<'_, HashMap<CmdId, u32>> {
    running.lock().unwrap_or_else(|e| e.into_inner())
}
