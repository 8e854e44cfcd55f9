//! Prepared job namespaces and clean-up: a background thread makes, before
//! they are needed, the mount namespaces the next jobs will run in (a copy
//! of ours with the job's view bound over the project root), and cleans up
//! after finished jobs (namespace teardown, the kernel's cached entries,
//! the view's open files, the scratch directory). Spawning a job then only
//! joins its namespace (`setns`) instead of `unshare` + bind mount (whose
//! FUSE lookup of `@job-N` waits for a daemon thread), and nothing of this
//! lies between a command's exit and the engine seeing it.
//!
//! The job number is fixed when its namespace is made (the bind mount names
//! `@job-N`), so the pool takes numbers from the tracer's counter and the
//! daemon answers lookups of those reserved, not yet started jobs.

use std::collections::VecDeque;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::fs::Shared;
use crate::spawn::{check, cstring, open_fd, slave_and_bind_at};
use crate::view::{JobView, ViewTemplate};
use crate::{paths, JobId};

/// A namespace made for one job.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The job number it was made for (its view is bound over the root).
    pub(crate) id: JobId,
    /// `/proc/thread-self/ns/mnt` of the namespace: keeps it alive.
    pub(crate) ns: OwnedFd,
    /// The job's view, made with the namespace: it serves the binds'
    /// lookups (`@job-N/@outside/usr` with full dependencies) before the
    /// job starts, and the job keeps its inode numbers.
    pub(crate) view: Arc<JobView>,
}

/// The pool: prepared namespaces waiting for jobs, and a thread that keeps
/// it filled. Dropping it stops the thread and drops unused namespaces.
#[derive(Debug)]
pub(crate) struct NsPool {
    inner: Arc<Inner>,
    worker: Option<JoinHandle<()>>,
}

/// What the tracer and the worker share.
#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    wake: Condvar,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct State {
    ready: VecDeque<Prepared>,
    /// What finished jobs left, to clean up on the worker.
    retired: Vec<Chore>,
    stop: bool,
}

/// Cleaning up after a finished job, off the engine's path.
#[derive(Debug)]
enum Chore {
    /// Let the kernel drop the job's cached entries, and drop its view
    /// (closing the files it kept open, with their passthrough ids).
    Forget(JobId, Arc<JobView>),
    /// Drop the namespace (its mounts go with it; the last reference).
    Namespace(OwnedFd),
    /// Remove the job's scratch directory (its staged writes were placed
    /// or are discarded).
    Scratch(PathBuf),
}

impl Chore {
    fn run(self, shared: &Shared) {
        match self {
            Chore::Forget(id, view) => {
                shared.forget_job(id);
                drop(view);
            }
            Chore::Namespace(ns) => drop(ns),
            Chore::Scratch(dir) => match std::fs::remove_dir_all(&dir) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    log::warn!("{}: {e}", dir.display());
                }
                _ => {}
            },
        }
    }
}

/// What the worker needs to make a job's namespace.
struct Maker {
    shared: Arc<Shared>,
    template: Arc<ViewTemplate>,
    next_job: Arc<AtomicU64>,
    mountpoint: PathBuf,
    root: CString,
    job_root: Option<CString>,
    /// Full dependencies: the system directories bound to each view.
    outside: Arc<[PathBuf]>,
}

/// What a job holds of the pool: to ask for a refill once its command
/// started, and to give its namespace back for teardown.
#[derive(Debug, Clone)]
pub(crate) struct PoolHandle(Arc<Inner>);

impl NsPool {
    /// Start a pool that keeps `depth` namespaces ready for jobs whose views
    /// live in `mountpoint` and are bound over `root` (and `job_root`).
    pub(crate) fn start(
        shared: Arc<Shared>,
        template: Arc<ViewTemplate>,
        next_job: Arc<AtomicU64>,
        mountpoint: PathBuf,
        (root, job_root): (&std::path::Path, Option<&std::path::Path>),
        outside: Arc<[PathBuf]>,
        depth: usize,
    ) -> io::Result<NsPool> {
        let inner = Arc::new(Inner {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            shared: shared.clone(),
        });
        let maker = Maker {
            shared,
            template,
            next_job,
            mountpoint,
            root: cstring(root)?,
            job_root: job_root.map(cstring).transpose()?,
            outside,
        };
        let for_worker = inner.clone();
        let worker = std::thread::Builder::new()
            .name("tupfs-nspool".into())
            .spawn(move || maker.run(&for_worker, depth.max(1)))?;
        Ok(NsPool {
            inner,
            worker: Some(worker),
        })
    }

    /// A prepared namespace, if one is ready (never waits). The pool is
    /// refilled once the job's command started ([`PoolHandle::refill`]):
    /// making a namespace now would compete with the spawn (a mount and a
    /// FUSE lookup); only an empty pool is refilled at once.
    pub(crate) fn take(&self) -> Option<Prepared> {
        let mut state = self.inner.lock();
        let taken = state.ready.pop_front();
        let empty = state.ready.is_empty();
        drop(state);
        if empty {
            self.inner.wake.notify_one();
        }
        taken
    }

    /// A handle for jobs: refill the pool, retire their namespace.
    pub(crate) fn handle(&self) -> PoolHandle {
        PoolHandle(self.inner.clone())
    }
}

impl PoolHandle {
    /// A job's command started: time to make the next namespace.
    pub(crate) fn refill(&self) {
        self.0.wake.notify_one();
    }

    /// Tear down `ns` on the pool's thread (after the job's processes exited
    /// it is the last reference, and dropping it unmounts its copies).
    pub(crate) fn retire(&self, ns: OwnedFd) {
        self.chore(Chore::Namespace(ns));
    }

    /// Remove a job's scratch directory on the pool's thread.
    pub(crate) fn remove_scratch(&self, dir: PathBuf) {
        self.chore(Chore::Scratch(dir));
    }

    /// Forget a finished job's cached entries and drop its view on the
    /// pool's thread.
    pub(crate) fn forget(&self, id: JobId, view: Arc<JobView>) {
        self.chore(Chore::Forget(id, view));
    }

    /// Queue `chore`, or run it here if the pool stopped.
    fn chore(&self, chore: Chore) {
        let mut state = self.0.lock();
        if state.stop {
            drop(state);
            return chore.run(&self.0.shared);
        }
        state.retired.push(chore);
        drop(state);
        self.0.wake.notify_one();
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for NsPool {
    fn drop(&mut self) {
        self.inner.lock().stop = true;
        self.inner.wake.notify_all();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
        let mut state = self.inner.lock();
        let unused: Vec<Prepared> = state.ready.drain(..).collect();
        let retired = std::mem::take(&mut state.retired);
        drop(state);
        retired.into_iter().for_each(|c| c.run(&self.inner.shared));
        for p in unused {
            // Never started: the daemon may forget the reservation.
            self.inner.shared.end_job(p.id);
            self.inner.shared.unreserve(p.id);
        }
    }
}

impl Maker {
    /// The worker: keep `depth` namespaces ready, drop retired ones.
    fn run(self, inner: &Inner, depth: usize) {
        let home = match self.detach() {
            Ok(home) => home,
            Err(e) => {
                log::debug!("namespace pool disabled: {e}");
                inner.lock().stop = true;
                return;
            }
        };
        loop {
            let mut state = inner.lock();
            while !state.stop && state.ready.len() >= depth && state.retired.is_empty() {
                state = inner.wake.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            if state.stop {
                return;
            }
            let retired = std::mem::take(&mut state.retired);
            let want = state.ready.len() < depth;
            drop(state);
            retired.into_iter().for_each(|c| c.run(&self.shared));
            if !want {
                continue;
            }
            match self.prepare(&home) {
                Ok(p) => inner.lock().ready.push_back(p),
                Err(e) => {
                    log::debug!("namespace pool disabled: {e}");
                    // From now on chores are done by whoever hands them in
                    // (queued ones when the pool is dropped): this thread
                    // may no longer be in our namespace.
                    inner.lock().stop = true;
                    return;
                }
            }
        }
    }

    /// Give this thread its own filesystem context (so it may switch mount
    /// namespaces) and return its current, original namespace.
    fn detach(&self) -> io::Result<OwnedFd> {
        // SAFETY: plain system call.
        check(unsafe { libc::unshare(libc::CLONE_FS) })?;
        own_ns()
    }

    /// A new namespace for the next job number, made from `home`.
    fn prepare(&self, home: &OwnedFd) -> io::Result<Prepared> {
        let id = JobId(self.next_job.fetch_add(1, Ordering::Relaxed));
        let view_dir = paths::job_view(&self.mountpoint, id);
        let view = cstring(&view_dir)?;
        let outside_view = paths::job_view(&crate::outside::mountpoint(&self.mountpoint), id);
        let binds = crate::outside::binds(&outside_view, &self.outside)?;
        self.shared.reserve(id);
        let job_view = Arc::new(self.template.make(id));
        self.shared.jobs.insert(id, job_view.clone());
        // SAFETY: plain system call.
        let made = check(unsafe { libc::unshare(libc::CLONE_NEWNS) })
            .and_then(|()| slave_and_bind_at(&view, &self.root, self.job_root.as_ref(), &binds))
            .and_then(|()| own_ns());
        // Back home at once: the chores name paths of our own namespace
        // (in the new one the project root shows the job's view).
        // SAFETY: setns with an fd we own.
        let home = check(unsafe { libc::setns(home.as_raw_fd(), libc::CLONE_NEWNS) });
        match made.and_then(|ns| home.map(|()| ns)) {
            Ok(ns) => Ok(Prepared {
                id,
                ns,
                view: job_view,
            }),
            Err(e) => {
                self.shared.end_job(id);
                self.shared.unreserve(id);
                Err(e)
            }
        }
    }
}

/// An fd on this thread's mount namespace.
fn own_ns() -> io::Result<OwnedFd> {
    open_fd(c"/proc/thread-self/ns/mnt", libc::O_RDONLY)
}
