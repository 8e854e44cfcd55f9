//! A throwaway tupfs project in a temp dir: inline files with explicit
//! mtimes, the environment builds see, and cleanup (mounts, immutable
//! files, the directory) even when the test panics.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::examples::copy_example;
use super::mounts::unmount_all_under;
use super::outcome::{Outcome, Running};

/// A change-detection mode (`--change MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `mtime` (the default).
    Mtime,
    /// `digest`.
    Digest,
    /// `mtime+digest`.
    MtimeDigest,
    /// `mtime+digest-inputs`.
    MtimeDigestInputs,
}

impl Mode {
    /// Every mode.
    pub const ALL: [Mode; 4] = [
        Mode::Mtime,
        Mode::Digest,
        Mode::MtimeDigest,
        Mode::MtimeDigestInputs,
    ];
    /// The modes in which a touch without a content change rebuilds nothing.
    pub const DIGESTS: [Mode; 3] = [Mode::Digest, Mode::MtimeDigest, Mode::MtimeDigestInputs];

    /// The name `--change` takes.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Mtime => "mtime",
            Mode::Digest => "digest",
            Mode::MtimeDigest => "mtime+digest",
            Mode::MtimeDigestInputs => "mtime+digest-inputs",
        }
    }

    /// Whether generated files are compared by content (early cut-off is
    /// always on) in this mode.
    pub fn cuts_off_generated(self) -> bool {
        matches!(self, Mode::Digest | Mode::MtimeDigest)
    }
}

/// A project in its own temp dir. The root is `<tmp>/proj` so a test can
/// keep things outside the project (see [`Project::outside`]).
///
/// Every write through the harness sets the file's mtime from a private
/// clock that starts 30 days in the past and advances one second per write:
/// edits are always visible to mtime checks and never "racy", so which
/// commands run is deterministic. Tests about timing set mtimes themselves.
pub struct Project {
    tmp: tempfile::TempDir,
    root: PathBuf,
    clock: Cell<i64>,
    sources: RefCell<BTreeSet<String>>,
    env: RefCell<BTreeMap<String, String>>,
    immutable: RefCell<Vec<PathBuf>>,
    cache: Cell<bool>,
}

impl Project {
    /// An empty project holding only an empty `Tupfile.ini`.
    pub fn new() -> Project {
        Project::new_in(&std::env::temp_dir())
    }

    /// [`Project::new`] with its temp dir inside `parent` (e.g. a small
    /// file system of the test's own).
    pub fn new_in(parent: &Path) -> Project {
        let tmp = tempfile::Builder::new()
            .prefix("tupfs-test-")
            .tempdir_in(parent)
            .expect("cannot make a temp dir");
        let tmp_path = tmp.path().canonicalize().expect("temp dir has no path");
        let root = tmp_path.join("proj");
        fs::create_dir(&root).expect("cannot make the project dir");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock before 1970")
            .as_secs() as i64;
        let p = Project {
            tmp,
            root,
            clock: Cell::new(now - 30 * 24 * 3600),
            sources: RefCell::new(BTreeSet::new()),
            env: RefCell::new(BTreeMap::new()),
            immutable: RefCell::new(Vec::new()),
            cache: Cell::new(false),
        };
        p.write("Tupfile.ini", "");
        p
    }

    /// A project holding the sources of `examples/<name>`, counted as
    /// sources and stamped by the harness clock like written files.
    pub fn example(name: &str) -> Project {
        let p = Project::new();
        copy_example(name, &p.root);
        for rel in p.files() {
            p.sources.borrow_mut().insert(rel.clone());
            p.touch(&rel);
        }
        p
    }

    /// Builder form of [`Project::write`].
    pub fn file(self, path: &str, content: &str) -> Project {
        self.write(path, content);
        self
    }

    /// The project root (absolute, canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Absolute path of a project-relative path.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// A path in the test's temp dir but outside the project (not traced).
    pub fn outside(&self, name: &str) -> PathBuf {
        self.root.parent().expect("root has a parent").join(name)
    }

    /// A "go" file outside the project (so untraced) and a shell command
    /// that waits until it exists: a job the test holds until it says go.
    pub fn go_signal(&self) -> (PathBuf, String) {
        let go = self.outside("go");
        let wait = format!("while [ ! -e {} ]; do sleep 0.05; done", go.display());
        (go, wait)
    }

    /// Write a source file (parents made), mtime from the harness clock.
    pub fn write(&self, rel: &str, content: &str) {
        self.write_bytes(rel, content.as_bytes());
    }

    /// Write a source file's bytes, mtime from the harness clock.
    pub fn write_bytes(&self, rel: &str, content: &[u8]) {
        let path = self.path(rel);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        }
        fs::write(&path, content).unwrap_or_else(|e| panic!("write {rel}: {e}"));
        self.sources.borrow_mut().insert(rel.to_string());
        self.touch(rel);
    }

    /// Append to a source file, mtime from the harness clock.
    pub fn append(&self, rel: &str, content: &str) {
        let mut old = fs::read(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"));
        old.extend_from_slice(content.as_bytes());
        self.write_bytes(rel, &old);
    }

    /// Remove a file, or a directory with everything in it.
    pub fn remove(&self, rel: &str) {
        let path = self.path(rel);
        let r = if path.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        r.unwrap_or_else(|e| panic!("remove {rel}: {e}"));
        let prefix = format!("{rel}/");
        self.sources
            .borrow_mut()
            .retain(|s| s != rel && !s.starts_with(&prefix));
    }

    /// Advance the file's mtime to the next clock tick, content unchanged.
    pub fn touch(&self, rel: &str) {
        let t = self.clock.get() + 1;
        self.clock.set(t);
        self.set_mtime(rel, UNIX_EPOCH + Duration::from_secs(t as u64));
    }

    /// Set the file's mtime exactly.
    pub fn set_mtime(&self, rel: &str, when: SystemTime) {
        let f = fs::File::open(self.path(rel)).unwrap_or_else(|e| panic!("open {rel}: {e}"));
        f.set_modified(when)
            .unwrap_or_else(|e| panic!("set mtime of {rel}: {e}"));
    }

    /// Set the file's permission bits (e.g. 0o755 for a script `run` runs).
    pub fn chmod(&self, rel: &str, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(self.path(rel), fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("chmod {rel}: {e}"));
    }

    /// Run a program the build made (e.g. `app`) and return its exit code.
    pub fn exec(&self, rel: &str) -> i32 {
        let status = Command::new(self.path(rel))
            .current_dir(&self.root)
            .status()
            .unwrap_or_else(|e| panic!("cannot run {rel}: {e}"));
        status.code().unwrap_or(-1)
    }

    /// The file's mtime.
    pub fn mtime(&self, rel: &str) -> SystemTime {
        fs::metadata(self.path(rel))
            .and_then(|m| m.modified())
            .unwrap_or_else(|e| panic!("stat {rel}: {e}"))
    }

    /// The index's (inode, mtime in ns) and its journal's (inode, mtime,
    /// size): a rewrite replaces the base, a build that records appends to
    /// the journal, so a build that left both alone (the no-op shortcut)
    /// keeps all.
    pub fn index_identity(&self) -> (u64, i64, Option<(u64, i64, u64)>) {
        use std::os::unix::fs::MetadataExt;
        let stamp = |m: &fs::Metadata| (m.ino(), m.mtime() * 1_000_000_000 + m.mtime_nsec());
        let m = fs::metadata(self.path(".tupfs/index")).expect("an index");
        let journal = fs::metadata(self.path(".tupfs/index.journal"))
            .ok()
            .map(|j| (stamp(&j).0, stamp(&j).1, j.len()));
        (stamp(&m).0, stamp(&m).1, journal)
    }

    /// The file's text.
    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// Whether the path exists (any type; a dangling symlink counts).
    pub fn exists(&self, rel: &str) -> bool {
        fs::symlink_metadata(self.path(rel)).is_ok()
    }

    /// Set an environment variable for the following runs.
    pub fn set_env(&self, key: &str, value: &str) {
        self.env
            .borrow_mut()
            .insert(key.to_string(), value.to_string());
    }

    /// `chattr +i`: not even root can delete it. Undone on drop.
    pub fn make_immutable(&self, rel: &str) {
        let path = self.path(rel);
        let ok = Command::new("chattr")
            .arg("+i")
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "chattr +i {} failed (needs root and ext4)",
            path.display()
        );
        self.immutable.borrow_mut().push(path);
    }

    /// Undo [`Project::make_immutable`].
    pub fn make_mutable(&self, rel: &str) {
        let path = self.path(rel);
        let _ = Command::new("chattr").arg("-i").arg(&path).status();
        self.immutable.borrow_mut().retain(|p| *p != path);
    }

    /// Every file below the root, sorted, without `.tupfs/`.
    pub fn files(&self) -> Vec<String> {
        list_files(&self.root)
    }

    /// Every directory below the root (not the root), without `.tupfs/`.
    pub fn dirs(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk_dirs(&self.root, &self.root, &mut out);
        out.sort();
        out
    }

    /// The files written through the harness (the sources), with contents.
    pub fn sources(&self) -> BTreeMap<String, Vec<u8>> {
        let sources = self.sources.borrow();
        sources
            .iter()
            .filter_map(|s| fs::read(self.path(s)).ok().map(|b| (s.clone(), b)))
            .collect()
    }

    /// Every file that is not a source (the build's outputs), with contents.
    pub fn outputs(&self) -> BTreeMap<String, Vec<u8>> {
        let sources = self.sources.borrow();
        self.files()
            .into_iter()
            .filter(|f| !sources.contains(f))
            .map(|f| {
                let bytes = fs::read(self.path(&f)).unwrap_or_else(|e| panic!("read {f}: {e}"));
                (f, bytes)
            })
            .collect()
    }

    /// A new project (its own temp dir) with the same sources and env.
    pub fn clean_copy(&self) -> Project {
        let copy = Project::new();
        for (path, bytes) in self.sources() {
            copy.write_bytes(&path, &bytes);
        }
        *copy.env.borrow_mut() = self.env.borrow().clone();
        copy
    }

    /// A clean build of the current sources AT THE SAME ABSOLUTE PATH, so
    /// anything a tool writes about paths comes out the same: the project is
    /// moved aside, its sources written to a fresh root and built with `tupfs
    /// build ARGS...`, the outputs collected, the fresh root deleted and the
    /// project moved back (renames keep every inode and mtime, so the
    /// incremental state is untouched). Returns the clean build's run and its
    /// outputs.
    pub fn clean_build_in_place(&self, args: &[&str]) -> (Outcome, BTreeMap<String, Vec<u8>>) {
        let sources = self.sources();
        let aside = self.outside("proj.incremental");
        fs::rename(&self.root, &aside).expect("move the project aside");
        fs::create_dir(&self.root).expect("make the clean root");
        for (rel, bytes) in &sources {
            let path = self.path(rel);
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir).expect("mkdir in clean root");
            }
            fs::write(&path, bytes).expect("write a clean source");
        }
        let outcome = self.build(args);
        let outputs = self.outputs();
        unmount_all_under(&self.root);
        fs::remove_dir_all(&self.root).expect("remove the clean root");
        fs::rename(&aside, &self.root).expect("move the project back");
        (outcome, outputs)
    }

    /// Let builds use the output cache (off by default in tests: `tupfs
    /// build` gets `--no-cache`, so which commands run does not depend on
    /// earlier builds). The store is [`Project::cache_dir`] either way.
    pub fn enable_cache(&self) {
        self.cache.set(true);
    }

    /// Undo [`Project::enable_cache`].
    pub fn disable_cache(&self) {
        self.cache.set(false);
    }

    /// The test's own XDG cache home (never the user's): builds see it as
    /// `XDG_CACHE_HOME`, so their default store is `<it>/tupfs`.
    pub fn xdg_cache_home(&self) -> PathBuf {
        self.tmp.path().join("xdg-cache")
    }

    /// The default local store of this test's builds.
    pub fn cache_dir(&self) -> PathBuf {
        self.xdg_cache_home().join("tupfs")
    }

    /// `tupfs build ARGS...`, waited for.
    pub fn build(&self, args: &[&str]) -> Outcome {
        let mut all = vec!["build"];
        all.extend_from_slice(args);
        self.run(&all)
    }

    /// `tupfs build --change MODE ARGS...`, waited for.
    pub fn build_in(&self, mode: Mode, args: &[&str]) -> Outcome {
        let mut all = vec!["--change", mode.name()];
        all.extend_from_slice(args);
        self.build(&all)
    }

    /// `tupfs ARGS...` in the project root, waited for.
    pub fn run(&self, args: &[&str]) -> Outcome {
        self.spawn(args).wait()
    }

    /// Start `tupfs ARGS...` in the project root, in its own process group,
    /// with a cleared environment (PATH, HOME and [`Project::set_env`] only).
    /// The previous run log is removed first, so a stale one is never read.
    pub fn spawn(&self, args: &[&str]) -> Running {
        self.spawn_program(Path::new(env!("CARGO_BIN_EXE_tupfs")), args)
    }

    /// [`Project::run`] of another name for the binary (e.g. a `tup`
    /// symlink to it), waited for.
    pub fn run_program(&self, program: &Path, args: &[&str]) -> Outcome {
        self.spawn_program(program, args).wait()
    }

    /// [`Project::spawn`] of `program`.
    pub fn spawn_program(&self, program: &Path, args: &[&str]) -> Running {
        let _ = fs::remove_file(self.path(".tupfs/log/last.json"));
        let mut args: Vec<&str> = args.to_vec();
        if !self.cache.get() {
            if let Some(i) = args.iter().position(|a| *a == "build") {
                args.insert(i + 1, "--no-cache");
            }
        }
        let mut cmd = Command::new(program);
        cmd.args(&args)
            .current_dir(&self.root)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for key in ["PATH", "HOME"] {
            if let Some(v) = std::env::var_os(key) {
                cmd.env(key, v);
            }
        }
        cmd.env("XDG_CACHE_HOME", self.xdg_cache_home());
        cmd.envs(self.env.borrow().iter());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let name = program.file_name().unwrap_or_default().to_string_lossy();
        let what = format!("{name} {}", args.join(" "));
        Running::start(cmd, what, self.root.clone())
    }

    /// Pids of processes (not this test process) whose
    /// working directory is inside the project or whose command line
    /// mentions `token`: what a stopped build must not leave running.
    pub fn processes_in(&self, token: &str) -> Vec<u32> {
        let mine = std::process::id();
        let Ok(entries) = fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&pid| pid != mine)
            .filter(|&pid| {
                let cwd = fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
                let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                cwd.starts_with(&self.root) || String::from_utf8_lossy(&cmdline).contains(token)
            })
            .collect()
    }
}

impl Default for Project {
    fn default() -> Self {
        Project::new()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        // Mounts first: removing a directory under a live (or dead) FUSE
        // mount would fail or hang.
        unmount_all_under(self.tmp.path());
        for p in self.immutable.borrow().iter() {
            let _ = Command::new("chattr").arg("-i").arg(p).status();
        }
        // TempDir's own drop removes the directory.
    }
}

/// Every file below `root`, sorted, without `.tupfs/`.
pub(super) fn list_files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let rel = rel_of(root, &path);
        if rel == ".tupfs" {
            continue;
        }
        match e.file_type() {
            Ok(t) if t.is_dir() => walk(root, &path, out),
            _ => out.push(rel),
        }
    }
}

fn walk_dirs(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let rel = rel_of(root, &path);
        if rel != ".tupfs" && e.file_type().is_ok_and(|t| t.is_dir()) {
            out.push(rel);
            walk_dirs(root, &path, out);
        }
    }
}

fn rel_of(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}
