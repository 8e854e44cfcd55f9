//! The tracing filesystem: one FUSE mount per build that records, per job,
//! every file a command reads, looks up in vain, and writes.
//!
//! The engine drives it through [`Tracer`]: mount once, [`Tracer::start_job`]
//! for each command (it returns a [`Job`] that knows the directory to run in
//! and how to spawn there), [`Job::finish`] once the command exited (its
//! [`AccessLog`] and [`PendingWrites`]), then [`PendingWrites::commit`] or
//! [`PendingWrites::discard`], and [`Tracer::unmount`]. Jobs are attributed by
//! path prefix inside the mount (`<mnt>/@job-N/...`), never by pid. No global
//! state.
//!
//! All paths in this API are relative to the project root, with `/`
//! separators and no `.` or `..` (the engine's `ProjPath` strings).

mod access_log;
mod death_watch;
mod fs;
mod handles;
mod inodes;
mod mount;
mod nspool;
mod outside;
mod paths;
mod spawn;
mod special;
mod staging;
mod variant;
mod view;
mod wake_latency;
mod writes;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use spawn::Isolation;
pub use staging::PendingWrites;
pub use variant::VariantMirror;

use crate::access_log::Recorder;
use crate::fs::Shared;
use crate::handles::ReaderBudget;
use crate::mount::Mounted;
use crate::nspool::{NsPool, PoolHandle, Prepared};
use crate::spawn::{cstring, Entry};
use crate::staging::{with_path, Overlay};
use crate::variant::Mirrors;
use crate::view::{JobView, ViewTemplate};
use crate::wake_latency::{Governor, WakeLatency};

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
    /// Daemon threads (0: the default, one). One is fastest: the kernel
    /// wakes idle daemon threads in turn, so with more, each request lands
    /// on the thread idle longest (cold, often on another CPU); measured
    /// open+close 5.0 µs with one thread, 5.2-5.7 µs with two. The daemon
    /// never waits on the mount itself, so one thread cannot deadlock; a
    /// slow request (a large copy-up, an fsync) only delays the others.
    /// With FUSE over io_uring ([`MountOptions::io_uring`]) each CPU's
    /// queue has a thread of its own besides, and these serve only what
    /// still comes through `/dev/fuse` (INIT, interrupts, forgets).
    pub threads: usize,
}

/// Tuning knobs beyond [`MountConfig`]; the defaults are what a build wants.
#[derive(Debug, Clone)]
pub struct MountOptions {
    /// Let the kernel read and write backing files directly (FUSE
    /// passthrough) when it offers to. Default true.
    pub passthrough: bool,
    /// How long the kernel may cache entries and attributes within a job.
    pub ttl: Duration,
    /// Force an isolation mode instead of probing (tests, benchmarks).
    pub isolation: Option<Isolation>,
    /// Variant directories (tup's variants): inside each, jobs also see
    /// the source directory it mirrors. Default none.
    pub variants: Vec<VariantMirror>,
    /// How long after a FUSE request idle CPUs are asked to wake fast
    /// (zero: never). See [`crate::wake_latency`] for why; root only.
    pub fast_wake: Duration,
    /// Serve requests through FUSE over io_uring when the kernel offers it
    /// (Linux 6.14+ with `fuse.enable_uring=1`): one queue per CPU, served
    /// on that CPU, so a request does not wake a thread on another CPU.
    /// Default true; falls back to `/dev/fuse` when not offered.
    pub io_uring: bool,
    /// A fixed path at which every job ALSO sees the project (its view is
    /// bound there too, and it runs below it), so outputs that embed paths
    /// are the same from any checkout. Made if absent; needs namespaces
    /// (without them it is ignored: see [`Tracer::job_root`]). Default none.
    pub job_root: Option<PathBuf>,
    /// Full dependencies (tup's `updater.full_deps`): also trace what
    /// jobs read or look for in vain outside the project, in the system
    /// directories (`/usr`, `/etc`, `/opt`, ...; not `/tmp`, `/var`,
    /// homes, `/proc`, `/sys`, `/dev`), which jobs then see read-only.
    /// Reported in [`AccessLog::outside_reads`] and
    /// [`AccessLog::outside_ghosts`]. Needs namespace isolation (ignored,
    /// with a warning, otherwise). Default false.
    pub full_deps: bool,
}

/// The default fast wake-up window: longer than the gaps between the
/// requests of a running build, short enough that a quiet stretch idles.
pub const DEFAULT_FAST_WAKE: Duration = Duration::from_millis(5);

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            passthrough: true,
            ttl: Duration::from_secs(3600),
            isolation: None,
            variants: Vec::new(),
            fast_wake: DEFAULT_FAST_WAKE,
            io_uring: true,
            job_root: None,
            full_deps: false,
        }
    }
}

/// The mounted tracing filesystem. `Sync`: start jobs from many threads.
#[derive(Debug)]
pub struct Tracer {
    config: MountConfig,
    shared: Arc<Shared>,
    /// Makes each job's view.
    template: Arc<ViewTemplate>,
    isolation: Isolation,
    /// Where jobs see the project besides its real root (see
    /// [`MountOptions::job_root`]).
    job_root: Option<PathBuf>,
    /// Full dependencies: the system directories bound to each job's view.
    outside: Arc<[PathBuf]>,
    next_job: Arc<AtomicU64>,
    /// Namespaces made ahead for the next jobs (namespace isolation only).
    /// Declared before `mounted`: dropped (its binds released) first.
    pool: Option<NsPool>,
    /// Full dependencies: the read-only mount of the outside (see
    /// [`outside`]); unmounted before the project mount.
    outside_mounted: Option<Mounted>,
    mounted: Mounted,
    /// Drops the fast wake-up request when the tracer goes.
    _fast_wake: Option<Governor>,
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
    /// and writes to matching paths go straight to the tree, unrecorded.
    pub ignore: Vec<String>,
}

/// A started job: spawn the command with [`Job::command`], wait for it,
/// then call [`Job::finish`].
#[derive(Debug)]
pub struct Job {
    id: JobId,
    cwd: PathBuf,
    entry: Entry,
    /// `None` once the job is closed.
    view: Option<Arc<JobView>>,
    tracer: JobHandle,
    /// The job's prepared namespace (kept alive until the job ends).
    ns: Option<OwnedFd>,
}

/// What a job needs from its tracer to close itself.
#[derive(Debug, Clone)]
struct JobHandle {
    shared: Arc<Shared>,
    /// Whether a death watch guards the mount ([`mount::Mounted::watched`]).
    watched: bool,
    /// The namespace pool: refill it, hand it the job's namespace at the end.
    pool: Option<PoolHandle>,
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
    /// Full dependencies: files outside the project read, readlink-ed or
    /// exec-ed (absolute paths, as the job named them after links).
    pub outside_reads: BTreeSet<String>,
    /// Full dependencies: absolute paths outside the project looked up in
    /// vain.
    pub outside_ghosts: BTreeSet<String>,
    /// Project directories whose listing the job read (opendir; not those
    /// it made itself). The output cache keys on them.
    pub listed: BTreeSet<String>,
}

/// An operation the tracer refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// "unlink", "rename", "chmod", "chown", "utimes", "truncate", "rmdir",
    /// "mknod" (of a device).
    pub op: &'static str,
    /// The path it was refused on.
    pub path: String,
}

/// A finished job.
#[derive(Debug)]
pub struct Finished {
    /// What it accessed.
    pub log: AccessLog,
    /// What it wrote, not yet in the tree.
    pub pending: PendingWrites,
}

/// The job root jobs will see: `asked`, made if absent, when jobs get
/// namespaces (None otherwise, and when it is the real root). A job root
/// inside the project or holding it would hide one from the other.
fn job_root(
    asked: Option<PathBuf>,
    isolation: Isolation,
    root: &Path,
) -> io::Result<Option<PathBuf>> {
    let Some(jr) = asked.filter(|jr| jr != root) else {
        return Ok(None);
    };
    if isolation == Isolation::MountCwd {
        log::warn!(
            "job root {}: jobs cannot have namespaces here; they see the real path",
            jr.display()
        );
        return Ok(None);
    }
    if jr.starts_with(root) || root.starts_with(&jr) || !jr.is_absolute() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "job root {}: expected an absolute path outside the project {} and not holding it",
                jr.display(),
                root.display()
            ),
        ));
    }
    std::fs::create_dir_all(&jr).map_err(|e| with_path(e, &jr))?;
    Ok(Some(jr))
}

impl Tracer {
    /// Mount (clearing a dead mount left by a crashed build first).
    pub fn mount(config: MountConfig) -> io::Result<Tracer> {
        Tracer::mount_with(config, MountOptions::default())
    }

    /// Clear what a killed build left at `config`'s places (a dead mount,
    /// staged writes) without mounting: for a build that runs nothing.
    /// A live mount there (a build running) is an error, and nothing is
    /// cleared.
    pub fn clear_leftovers(config: &MountConfig) -> io::Result<()> {
        mount::clear_dead_mount(&config.mountpoint)?;
        let outside_mnt = outside::mountpoint(&config.mountpoint);
        if outside_mnt.is_dir() {
            mount::clear_dead_mount(&outside_mnt)?;
        }
        if config.mountpoint.is_dir() {
            mount::check_not_mounted(&config.mountpoint)?;
        }
        if config.scratch.is_dir() {
            clear_scratch(&config.scratch)?;
        }
        Ok(())
    }

    /// Mount with explicit [`MountOptions`].
    pub fn mount_with(config: MountConfig, options: MountOptions) -> io::Result<Tracer> {
        let root = config
            .root
            .canonicalize()
            .map_err(|e| with_path(e, &config.root))?;
        mount::raise_fd_limit();
        let outside_mnt = outside::mountpoint(&config.mountpoint);
        let hidden: Arc<[OsString]> =
            paths::hidden_names(&root, &[&config.mountpoint, &config.scratch, &outside_mnt]).into();
        let shared = Arc::new(Shared {
            root: Arc::from(root.as_path()),
            jobs: fs::JobTable::default(),
            reserved: std::sync::Mutex::default(),
            want_passthrough: options.passthrough,
            passthrough: AtomicBool::new(false),
            ttl: options.ttl,
            notifier: std::sync::OnceLock::new(),
            outside_notifier: std::sync::OnceLock::new(),
            outside_cached: std::sync::Mutex::default(),
            wake_latency: Arc::new(WakeLatency::new(options.fast_wake)),
            readers: Arc::new(ReaderBudget::from_limit()),
            outside: AtomicBool::new(false),
        });
        let threads = config.threads.max(1);
        // Mounted first: the mount refuses a live one, whose build's staged
        // writes are in the scratch directory.
        let mounted = mount::mount(
            shared.clone(),
            &config.mountpoint,
            (threads, options.io_uring),
            fs::Serves::Project,
        )?;
        clear_scratch(&config.scratch)?;
        if let Some(notifier) = mounted.notifier() {
            let _ = shared.notifier.set(notifier);
        }
        let isolation = options
            .isolation
            .unwrap_or_else(|| spawn::probe(&root, &config.mountpoint));
        let job_root = job_root(options.job_root.clone(), isolation, &root)?;
        let outside = outside_dirs(&options, isolation, &root, &config, job_root.as_deref())?;
        shared.outside.store(!outside.is_empty(), Ordering::Relaxed);
        let outside_mounted = match outside.is_empty() {
            true => None,
            false => Some(mount_outside(&shared, &outside_mnt, threads, &options)?),
        };
        let next_job = Arc::new(AtomicU64::new(1));
        let mut template = ViewTemplate {
            root: shared.root.clone(),
            mirrors: Arc::new(Mirrors::new(options.variants, hidden.clone())),
            hidden,
            scratch: config.scratch.clone(),
            readers: shared.readers.clone(),
            outside: !outside.is_empty(),
            outside_files: None,
        };
        if template.outside {
            let files = Arc::new(outside::files_view(&template));
            shared.jobs.insert(outside::FILES_JOB, files.clone());
            template.outside_files = Some(files);
        }
        let template = Arc::new(template);
        let pool = match isolation {
            Isolation::Namespace => Some(NsPool::start(
                shared.clone(),
                template.clone(),
                next_job.clone(),
                config.mountpoint.clone(),
                (&root, job_root.as_deref()),
                outside.clone(),
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            )?),
            Isolation::UserNamespace | Isolation::MountCwd => None,
        };
        let mut config = config;
        config.root = root;
        let fast_wake = shared.wake_latency.start();
        Ok(Tracer {
            config,
            shared,
            template,
            isolation,
            job_root,
            outside,
            next_job,
            pool,
            outside_mounted,
            mounted,
            _fast_wake: fast_wake,
        })
    }

    /// The configuration this tracer was mounted with (root canonicalised).
    pub fn config(&self) -> &MountConfig {
        &self.config
    }

    /// How jobs are isolated on this machine.
    pub fn isolation(&self) -> Isolation {
        self.isolation
    }

    /// The fixed path jobs see the project at and run below (None: not
    /// asked for, or no namespaces here: jobs see the real root).
    pub fn job_root(&self) -> Option<&Path> {
        self.job_root.as_deref()
    }

    /// Whether the kernel passes file data through without the daemon.
    pub fn passthrough(&self) -> bool {
        self.shared.passthrough.load(Ordering::Relaxed)
    }

    /// Requests served through FUSE over io_uring so far, or `None` when
    /// this mount reads requests from `/dev/fuse` only (not offered, or
    /// turned off in [`MountOptions`]).
    pub fn io_uring_requests(&self) -> Option<u64> {
        self.mounted.io_uring_requests()
    }

    /// Start a job: allocates its prefix and access log.
    pub fn start_job(&self, spec: &JobSpec) -> io::Result<Job> {
        // First what can fail on the spec: a prepared namespace taken for
        // a job that cannot start would be wasted, its number reserved.
        let ignore = Recorder::compile(&spec.ignore)?;
        let prepared = self.pool.as_ref().and_then(NsPool::take);
        // A prepared namespace comes with its view (already serving the
        // binds made ahead); otherwise the view is made here.
        let view = match &prepared {
            Some(p) => p.view.clone(),
            None => {
                let id = JobId(self.next_job.fetch_add(1, Ordering::Relaxed));
                let view = Arc::new(self.template.make(id));
                self.shared.jobs.insert(id, view.clone());
                view
            }
        };
        let id = view.id;
        let (cwd, entry) = self.entry(id, spec, prepared.as_ref()).inspect_err(|_| {
            self.shared.end_job(id);
            self.shared.unreserve(id);
        })?;
        view.recorder.set_ignore(ignore);
        self.shared.unreserve(id);
        Ok(Job {
            id,
            cwd,
            entry,
            view: Some(view),
            tracer: JobHandle {
                shared: self.shared.clone(),
                watched: self.mounted.watched()
                    && self.outside_mounted.as_ref().map_or(true, Mounted::watched),
                pool: self.pool.as_ref().map(NsPool::handle),
            },
            ns: prepared.map(|p| p.ns),
        })
    }

    /// Where job `id` runs and how its command gets there.
    fn entry(
        &self,
        id: JobId,
        spec: &JobSpec,
        prepared: Option<&Prepared>,
    ) -> io::Result<(PathBuf, Entry)> {
        let root = &self.config.root;
        let view_dir = paths::job_view(&self.config.mountpoint, id);
        let seen_root = self.job_root.as_deref().unwrap_or(root);
        Ok(match (self.isolation, prepared) {
            (Isolation::Namespace, Some(p)) => {
                let cwd = seen_root.join(&spec.cwd);
                let entry = Entry::Prepared {
                    ns: p.ns.as_raw_fd(),
                    cwd: cstring(&cwd)?,
                    fuse_rdev: spawn::fuse_rdev(),
                };
                (cwd, entry)
            }
            (Isolation::Namespace | Isolation::UserNamespace, _) => {
                let cwd = seen_root.join(&spec.cwd);
                let entry = Entry::Namespace {
                    view: cstring(&view_dir)?,
                    root: cstring(root)?,
                    cwd: cstring(&cwd)?,
                    fuse_rdev: spawn::fuse_rdev(),
                    user: (self.isolation == Isolation::UserNamespace).then(spawn::IdMaps::current),
                    job_root: self.job_root.as_deref().map(cstring).transpose()?,
                    binds: outside::binds(
                        &paths::job_view(&outside::mountpoint(&self.config.mountpoint), id),
                        &self.outside,
                    )?,
                };
                (cwd, entry)
            }
            (Isolation::MountCwd, _) => {
                let cwd = view_dir.join(&spec.cwd);
                (cwd.clone(), Entry::MountCwd(cwd))
            }
        })
    }

    /// Unmount; waits for the daemon threads.
    pub fn unmount(mut self) -> io::Result<()> {
        drop(self.pool.take());
        let outside = self.outside_mounted.as_mut().map(Mounted::unmount);
        let project = self.mounted.unmount();
        outside.transpose().and(project)
    }
}

/// The system directories to bind to each job's view ([`MountOptions::full_deps`]):
/// none when off, or when jobs do not run in namespaces (warned).
fn outside_dirs(
    options: &MountOptions,
    isolation: Isolation,
    root: &Path,
    config: &MountConfig,
    job_root: Option<&Path>,
) -> io::Result<Arc<[PathBuf]>> {
    if !options.full_deps {
        return Ok(Arc::from([]));
    }
    if isolation == Isolation::MountCwd {
        log::warn!(
            "full dependencies need mount namespaces: reads outside the project are not traced"
        );
        return Ok(Arc::from([]));
    }
    let outside_mnt = outside::mountpoint(&config.mountpoint);
    let mut own = vec![
        root,
        config.mountpoint.as_path(),
        config.scratch.as_path(),
        &outside_mnt,
    ];
    own.extend(job_root);
    Ok(outside::top_dirs(&own)?.into())
}

/// Mount the read-only view of the outside at `mountpoint` (full deps).
fn mount_outside(
    shared: &Arc<Shared>,
    mountpoint: &Path,
    threads: usize,
    options: &MountOptions,
) -> io::Result<Mounted> {
    let mounted = mount::mount(
        shared.clone(),
        mountpoint,
        (threads, options.io_uring),
        fs::Serves::Outside,
    )?;
    if let Some(notifier) = mounted.notifier() {
        let _ = shared.outside_notifier.set(notifier);
    }
    Ok(mounted)
}

/// Remove staged writes left by a build that was killed.
fn clear_scratch(scratch: &Path) -> io::Result<()> {
    std::fs::create_dir_all(scratch).map_err(|e| with_path(e, scratch))?;
    for entry in std::fs::read_dir(scratch).map_err(|e| with_path(e, scratch))? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with("job-") {
            std::fs::remove_dir_all(entry.path()).map_err(|e| with_path(e, &entry.path()))?;
        }
    }
    Ok(())
}

impl Job {
    /// This job's number.
    pub fn id(&self) -> JobId {
        self.id
    }

    /// Whether this job runs in a namespace prepared ahead (else, under
    /// namespace isolation, its child makes its own when spawned).
    pub fn prepared(&self) -> bool {
        self.ns.is_some()
    }

    /// The directory the command sees as its working directory.
    pub fn cwd(&self) -> &Path {
        &self.cwd
    }

    /// A `Command` for `program` set up to run inside this job's view
    /// (private mount namespace and working directory, or a working
    /// directory inside the mount). The caller adds arguments, environment
    /// (it should `env_clear` and set only exported variables) and stdio,
    /// and spawns it; it must not call `current_dir`. Spawning it always
    /// forks (the namespace is entered in a pre-exec hook): prefer
    /// [`Job::spawn`].
    pub fn command(&self, program: &str) -> Command {
        spawn::command(program, &self.entry)
    }

    /// Make a `Command` for `program` (`setup` adds arguments, environment
    /// and stdio, as for [`Job::command`]) and spawn it in this job's view.
    /// Prefer this to [`Job::command`] + `spawn`: when the job's namespace
    /// was prepared ahead and `program` is an absolute path outside the
    /// project, it spawns without forking tupfs (`posix_spawn` from a
    /// thread inside the namespace), which is several times cheaper.
    /// An error names `program` and the working directory.
    pub fn spawn(&self, program: &str, setup: impl FnOnce(&mut Command)) -> io::Result<Child> {
        self.spawn_here(program, setup).map_err(|e| {
            let what = format!("cannot start {program} in {}: {e}", self.cwd.display());
            io::Error::new(e.kind(), what)
        })
    }

    /// [`Job::spawn`] without the error's context.
    fn spawn_here(&self, program: &str, setup: impl FnOnce(&mut Command)) -> io::Result<Child> {
        match &self.entry {
            Entry::Prepared { ns, cwd, .. } if self.outside_project(program) => {
                let mut cmd = Command::new(program);
                setup(&mut cmd);
                let child = spawn::spawn_in(*ns, cwd, &mut cmd);
                if let Some(pool) = &self.tracer.pool {
                    pool.refill();
                }
                child
            }
            _ => {
                let mut cmd = self.command(program);
                setup(&mut cmd);
                cmd.spawn()
            }
        }
    }

    /// Whether `program` is an absolute path that does not lead into the
    /// project (so exec-ing it never waits for the tracing mount: with
    /// full dependencies it does, which is safe only when a death watch
    /// fails that wait if tupfs dies; see `crate::outside`).
    fn outside_project(&self, program: &str) -> bool {
        let path = Path::new(program);
        (!self.tracer.shared.outside.load(Ordering::Relaxed) || self.tracer.watched)
            && path.is_absolute()
            && !path.starts_with(&*self.tracer.shared.root)
            && std::fs::canonicalize(path)
                .is_ok_and(|real| !real.starts_with(&*self.tracer.shared.root))
    }

    /// Close the job once its process (and all children) exited.
    pub fn finish(mut self) -> io::Result<Finished> {
        Ok(self.close())
    }

    /// Stop resolving the job's prefix and take its record. The rest (the
    /// kernel's cached entries, the files the view kept open, the
    /// namespace) is cleaned up by the pool's thread when there is one.
    fn close(&mut self) -> Finished {
        let Some(view) = self.view.take() else {
            return Finished {
                log: AccessLog::default(),
                pending: PendingWrites::default(),
            };
        };
        let shared = &self.tracer.shared;
        shared.end_job(self.id);
        let overlay = std::mem::replace(&mut *view.overlay_mut(), Overlay::closed());
        let mut log = view.recorder.resolve(&overlay, view.outside);
        view.mirrors.attribute(&view.root, &mut log);
        let pending = overlay.into_pending(shared.root.to_path_buf(), self.tracer.pool.clone());
        match &self.tracer.pool {
            Some(pool) => {
                pool.forget(self.id, view);
                if let Some(ns) = self.ns.take() {
                    pool.retire(ns);
                }
            }
            None => shared.forget_job(self.id),
        }
        Finished { log, pending }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if self.view.is_some() {
            // Never finished (the engine bailed out): drop its writes.
            drop(self.close());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn tracer_and_job_are_send_sync() {
        assert_send_sync::<Tracer>();
        assert_send_sync::<Job>();
        assert_send_sync::<PendingWrites>();
    }
}
