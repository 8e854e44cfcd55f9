//! Test fixture: a temporary project with a real tracing mount on
//! `.tupfs/mnt`, unmounted on drop even when the test fails.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use tupfs_fuse::{Finished, Job, JobSpec, MountConfig, MountOptions, Tracer};

/// A project directory with a mounted tracer.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub tracer: Option<Tracer>,
}

/// Whether FUSE can be used here; prints why not.
pub fn fuse_available() -> bool {
    if Path::new("/dev/fuse").exists() {
        true
    } else {
        println!("SKIP: no /dev/fuse");
        false
    }
}

/// The mount layout the engine uses, under `root`.
pub fn config(root: &Path) -> MountConfig {
    MountConfig {
        root: root.to_owned(),
        mountpoint: root.join(".tupfs/mnt"),
        scratch: root.join(".tupfs/tmp"),
        threads: 0,
    }
}

impl Fixture {
    /// A fresh project mounted with default options, or `None` (after
    /// printing "SKIP: ...") when FUSE is unavailable.
    pub fn new() -> Option<Fixture> {
        Fixture::with(MountOptions::default())
    }

    /// Like [`Fixture::new`] with explicit options.
    pub fn with(options: MountOptions) -> Option<Fixture> {
        if !fuse_available() {
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let tracer = Tracer::mount_with(config(dir.path()), options).expect("mount");
        Some(Fixture {
            dir,
            tracer: Some(tracer),
        })
    }

    pub fn tracer(&self) -> &Tracer {
        self.tracer.as_ref().expect("mounted")
    }

    /// The project root (canonical).
    pub fn root(&self) -> PathBuf {
        self.tracer().config().root.clone()
    }

    /// Write a project file (creating parent dirs).
    pub fn write(&self, rel: &str, content: &str) {
        let path = self.root().join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }

    /// Start a job in `cwd`.
    pub fn job(&self, cwd: &str) -> Job {
        self.tracer()
            .start_job(&JobSpec {
                cwd: cwd.into(),
                ignore: vec![],
            })
            .expect("start job")
    }

    /// Run `sh -e -c script` as a job started with `spec`, spawned as the
    /// engine does ([`Job::spawn`]).
    pub fn run_spec(&self, spec: &JobSpec, script: &str) -> (Output, Finished) {
        let job = self.tracer().start_job(spec).expect("start job");
        let output = spawn_sh(&job, script);
        (output, job.finish().expect("finish"))
    }

    /// Run `sh -e -c script` in the project root.
    pub fn run(&self, script: &str) -> (Output, Finished) {
        self.run_spec(&JobSpec::default(), script)
    }

    /// Like [`Fixture::run_spec`], asserting the command succeeded: its
    /// stdout and record.
    pub fn run_spec_ok(&self, spec: &JobSpec, script: &str) -> (String, Finished) {
        let (out, fin) = self.run_spec(spec, script);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{script}: {}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        (stdout, fin)
    }

    /// Like [`Fixture::run`], asserting the command succeeded.
    pub fn run_ok(&self, script: &str) -> Finished {
        self.run_spec_ok(&JobSpec::default(), script).1
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(tracer) = self.tracer.take() {
            let mnt = tracer.config().mountpoint.clone();
            if let Err(e) = tracer.unmount() {
                eprintln!("unmount failed: {e}; detaching");
                let _ = std::process::Command::new("umount")
                    .arg("-l")
                    .arg(mnt)
                    .status();
            }
        }
    }
}

/// Run each script as its own job, all at once (one thread each), each
/// asserted to succeed; their records in the scripts' order.
pub fn run_all_at_once(fx: &Fixture, scripts: &[String]) -> Vec<Finished> {
    std::thread::scope(|s| {
        let handles: Vec<_> = scripts
            .iter()
            .map(|script| s.spawn(move || fx.run_ok(script)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// A set of strings, for comparing with an access log field.
pub fn set(items: &[&str]) -> std::collections::BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Detaches whatever is mounted at a path on drop (for tests that leave a
/// mount behind on purpose, or might on failure).
pub struct MountGuard(pub PathBuf);

impl Drop for MountGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .stderr(Stdio::null())
            .status();
    }
}

/// Re-run this test binary as a helper process that runs only the test
/// `test` (with the env var `var` set to `root`), and a receiver that fires
/// once the helper prints a line containing `marker`.
pub fn spawn_helper(
    test: &str,
    var: &str,
    root: &Path,
    marker: &'static str,
) -> (std::process::Child, std::sync::mpsc::Receiver<()>) {
    use std::io::{BufRead, BufReader};
    let mut helper = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(var, root)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = helper.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains(marker) {
                let _ = tx.send(());
            }
        }
    });
    (helper, rx)
}

/// `sh -e -c script` in `job` through `Job::spawn`, output captured.
pub fn spawn_sh(job: &tupfs_fuse::Job, script: &str) -> Output {
    job.spawn("/bin/sh", |c| {
        c.args(["-e", "-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
    })
    .expect("spawn")
    .wait_with_output()
    .expect("wait")
}

/// A temp project root for the kill tests: the dir (kept alive by the
/// caller), its canonical path, and a guard that unmounts `.tupfs/mnt`.
pub fn kill_test_root() -> (tempfile::TempDir, PathBuf, MountGuard) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let guard = MountGuard(root.join(".tupfs/mnt"));
    (dir, root, guard)
}
