//! The tracing filesystem: one FUSE mount per build that records, per job,
//! every file a command reads, looks up in vain, and writes.
//!
//! The engine drives it through [`Tracer`]: mount once, [`Tracer::start_job`]
//! for each command (it returns a [`Job`] that knows the directory to run in
//! and how to spawn there), [`Job::finish`] once the command exited (its
//! [`AccessLog`] and [`PendingWrites`]), then [`PendingWrites::commit`] or
//! [`PendingWrites::discard`], and [`Tracer::unmount`]. Jobs are attributed by
//! path prefix inside the mount, never by pid. No global state.
//!
//! All paths in this API are relative to the project root, with `/`
//! separators and no `.` or `..` (the engine's `ProjPath` strings).
//!
//! NOTE: this first version is the API only: jobs run in the real tree and
//! the access log is empty. The FUSE implementation replaces the insides.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How to mount.
#[derive(Debug, Clone)]
pub struct MountConfig {
    /// The project root (absolute): what the mount mirrors.
    pub root: PathBuf,
    /// An empty directory to mount on (absolute), e.g. `.tupfs/mnt`.
    pub mountpoint: PathBuf,
    /// Where private writes are staged (absolute, same filesystem as
    /// `root` so a commit is a rename), e.g. `.tupfs/tmp`.
    pub scratch: PathBuf,
    /// Daemon threads (0: one per CPU).
    pub threads: usize,
}

/// The mounted tracing filesystem. `Sync`: start jobs from many threads.
#[derive(Debug)]
pub struct Tracer {
    config: MountConfig,
    next_job: std::sync::atomic::AtomicU64,
}

/// A job's number inside the mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub u64);

/// What the engine says about a job before it starts.
#[derive(Debug, Clone, Default)]
pub struct JobSpec {
    /// The directory the command runs in, project-relative ("" = root).
    pub cwd: String,
    /// Regexes (tup's output `^REGEX`): matching accesses are not traced
    /// and writes to matching paths are let through unrecorded.
    pub ignore: Vec<String>,
}

/// A started job: spawn the command with [`Job::command`], wait for it,
/// then call [`Job::finish`].
#[derive(Debug)]
pub struct Job {
    id: JobId,
    cwd: PathBuf,
}

/// Everything a job did to the tree, resolved to what finally stands
/// (a file created then deleted appears nowhere).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessLog {
    /// Files opened for reading, readlink-ed or exec-ed (that existed).
    pub reads: BTreeSet<String>,
    /// Paths looked up that did not exist (ghosts).
    pub ghosts: BTreeSet<String>,
    /// Files created or written that still stand at the end of the job.
    pub writes: BTreeSet<String>,
    /// Directories the job made and left behind.
    pub dirs_made: BTreeSet<String>,
    /// Operations refused with EPERM (unlink/rename/chmod/truncate of a
    /// file the job did not create).
    pub refused: Vec<Refusal>,
}

/// An operation the tracer refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// "unlink", "rename", "chmod", "truncate", "rmdir".
    pub op: &'static str,
    /// The path it was refused on.
    pub path: String,
}

/// The job's writes, staged privately until the engine decides.
#[derive(Debug, Default)]
pub struct PendingWrites {
    files: Vec<String>,
}

/// A finished job.
#[derive(Debug)]
pub struct Finished {
    /// What it accessed.
    pub log: AccessLog,
    /// What it wrote, not yet in the tree.
    pub pending: PendingWrites,
}

impl Tracer {
    /// Mount (clearing a dead mount left by a crashed build first).
    pub fn mount(config: MountConfig) -> io::Result<Tracer> {
        Ok(Tracer {
            config,
            next_job: std::sync::atomic::AtomicU64::new(1),
        })
    }

    /// The configuration this tracer was mounted with.
    pub fn config(&self) -> &MountConfig {
        &self.config
    }

    /// Start a job: allocates its prefix and access log.
    pub fn start_job(&self, spec: &JobSpec) -> io::Result<Job> {
        let id = JobId(
            self.next_job
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        );
        Ok(Job {
            id,
            cwd: self.config.root.join(&spec.cwd),
        })
    }

    /// Unmount; waits for the daemon threads.
    pub fn unmount(self) -> io::Result<()> {
        Ok(())
    }
}

impl Job {
    /// This job's number.
    pub fn id(&self) -> JobId {
        self.id
    }

    /// The directory the command sees as its working directory.
    pub fn cwd(&self) -> &Path {
        &self.cwd
    }

    /// A `Command` for `program` set up to run inside this job's view
    /// (working directory, and the private mount namespace where available).
    /// The caller adds arguments, environment (it should `env_clear` and set
    /// only exported variables) and stdio, and spawns it.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(&self.cwd);
        cmd
    }

    /// Close the job once its process (and all children) exited.
    pub fn finish(self) -> io::Result<Finished> {
        Ok(Finished {
            log: AccessLog::default(),
            pending: PendingWrites::default(),
        })
    }
}

impl PendingWrites {
    /// The staged files (project-relative).
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// Move the staged files for which `keep` is true into the tree (by
    /// rename); drop the rest.
    pub fn commit(self, keep: &dyn Fn(&str) -> bool) -> io::Result<()> {
        let _ = keep;
        Ok(())
    }

    /// Drop every staged file.
    pub fn discard(self) -> io::Result<()> {
        Ok(())
    }
}
