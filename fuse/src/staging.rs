//! Write staging: a job's writes live in a private scratch directory (one
//! flat file per staged path) and are layered over the real tree in the
//! job's view; [`PendingWrites`] moves them into place or drops them.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, DirBuilderExt, FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::nspool::PoolHandle;
use crate::paths;

/// What a job put at one path of its view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Staged {
    /// A file or symlink, stored as scratch entry `f<id>`.
    File(u64),
    /// A directory the job made, with scratch twin `d<id>` for its attributes.
    Dir(u64),
    /// Hidden: the job removed its own version of a path that also exists
    /// in the real tree (which is left alone).
    Whiteout,
}

/// A job's staged writes, layered over the real tree.
#[derive(Debug)]
pub(crate) struct Overlay {
    dir: PathBuf,
    entries: BTreeMap<String, Staged>,
    created: HashSet<String>,
    next: u64,
}

impl Overlay {
    /// An empty overlay backed by the scratch directory `dir`, made when
    /// the job first writes (most jobs' mkdir and rmdir cost more than
    /// all their other bookkeeping).
    pub(crate) fn new(dir: PathBuf) -> Overlay {
        Overlay {
            dir,
            entries: BTreeMap::new(),
            created: HashSet::new(),
            next: 0,
        }
    }

    /// An empty overlay with no scratch directory, left in place of a
    /// finished job's overlay for requests still in flight.
    pub(crate) fn closed() -> Overlay {
        Overlay {
            dir: PathBuf::new(),
            entries: BTreeMap::new(),
            created: HashSet::new(),
            next: 0,
        }
    }

    /// What the job staged at `path`, if anything.
    pub(crate) fn get(&self, path: &str) -> Option<Staged> {
        self.entries.get(path).copied()
    }

    /// Whether the job has staged nothing at all (the common read-only case).
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The scratch file or directory behind a staged entry.
    pub(crate) fn scratch(&self, staged: Staged) -> Option<PathBuf> {
        match staged {
            Staged::File(id) => Some(self.dir.join(format!("f{id}"))),
            Staged::Dir(id) => Some(self.dir.join(format!("d{id}"))),
            Staged::Whiteout => None,
        }
    }

    fn claim(&mut self, path: &str, staged: Staged) {
        self.entries.insert(path.to_owned(), staged);
        self.created.insert(path.to_owned());
    }

    /// The id and scratch path of a new staged entry (`dir` says which
    /// kind), making the scratch directory for the first one.
    fn next_scratch(&mut self, dir: bool) -> io::Result<(Staged, PathBuf)> {
        if self.next == 0 {
            fs::create_dir_all(&self.dir).map_err(|e| with_path(e, &self.dir))?;
        }
        self.next += 1;
        let staged = if dir {
            Staged::Dir(self.next)
        } else {
            Staged::File(self.next)
        };
        Ok((staged, self.scratch(staged).unwrap_or_default()))
    }

    /// Stage a new empty file at `path` (mode already masked) and open it.
    pub(crate) fn create_file(
        &mut self,
        path: &str,
        mode: u32,
        write: bool,
    ) -> io::Result<(File, PathBuf)> {
        let (staged, scratch) = self.next_scratch(false)?;
        let file = OpenOptions::new()
            .read(true)
            .write(write)
            .create_new(true)
            .mode(mode)
            .open(&scratch)?;
        self.claim(path, staged);
        Ok((file, scratch))
    }

    /// Stage a copy of the real file `real` at `path` (empty if `truncate`),
    /// so the job can write it without touching the tree.
    /// Only a regular file is copied: anything else (a FIFO, a socket, a
    /// device node, a symlink) is EPERM, and is opened without following a
    /// link and without waiting for a FIFO's other end, so the daemon never
    /// blocks here. (The kernel opens special files of the mount itself; a
    /// CREATE reaches us for one only when the kernel cached the name as
    /// absent before it appeared.)
    pub(crate) fn copy_up(&mut self, path: &str, real: &Path, truncate: bool) -> io::Result<()> {
        let mut source = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(real)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) => io::Error::from_raw_os_error(libc::EPERM),
                _ => e,
            })?;
        let meta = source.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::from_raw_os_error(libc::EPERM));
        }
        let (staged, scratch) = self.next_scratch(false)?;
        let mut copy = File::create_new(&scratch)?;
        copy.set_permissions(meta.permissions())?;
        if !truncate {
            io::copy(&mut source, &mut copy)?;
        }
        self.claim(path, staged);
        Ok(())
    }

    /// Stage a directory at `path`.
    pub(crate) fn create_dir(&mut self, path: &str, mode: u32) -> io::Result<PathBuf> {
        let (staged, scratch) = self.next_scratch(true)?;
        fs::DirBuilder::new().mode(mode).create(&scratch)?;
        self.claim(path, staged);
        Ok(scratch)
    }

    /// Stage a symlink at `path` pointing to `target`.
    pub(crate) fn create_symlink(&mut self, path: &str, target: &Path) -> io::Result<PathBuf> {
        let (staged, scratch) = self.next_scratch(false)?;
        symlink(target, &scratch)?;
        self.claim(path, staged);
        Ok(scratch)
    }

    /// Stage a FIFO or socket node at `path` (`mode`: its type and its
    /// permission bits, already masked).
    pub(crate) fn create_node(&mut self, path: &str, mode: u32) -> io::Result<PathBuf> {
        let (staged, scratch) = self.next_scratch(false)?;
        let name = std::ffi::CString::new(scratch.as_os_str().as_bytes())
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: `name` is a valid NUL-terminated path; mknod only reads it.
        if unsafe { libc::mknod(name.as_ptr(), mode as libc::mode_t, 0) } != 0 {
            return Err(io::Error::last_os_error());
        }
        self.claim(path, staged);
        Ok(scratch)
    }

    /// Stage `path` as a hard link to `existing`, the scratch entry of one
    /// of the job's own files.
    pub(crate) fn create_link(&mut self, existing: &Path, path: &str) -> io::Result<PathBuf> {
        let (staged, scratch) = self.next_scratch(false)?;
        fs::hard_link(existing, &scratch)?;
        self.claim(path, staged);
        Ok(scratch)
    }

    /// Drop the job's own entry at `path`; `real_exists` leaves a whiteout so
    /// the real file does not show through again.
    pub(crate) fn remove(&mut self, path: &str, real_exists: bool) -> io::Result<()> {
        if let Some(staged) = self.entries.remove(path) {
            match self.scratch(staged) {
                Some(p) if matches!(staged, Staged::Dir(_)) => fs::remove_dir(p)?,
                Some(p) => fs::remove_file(p)?,
                None => {}
            }
        }
        if real_exists {
            self.entries.insert(path.to_owned(), Staged::Whiteout);
        }
        Ok(())
    }

    /// The staged entries directly inside directory `dir` (whiteouts too).
    pub(crate) fn children(&self, dir: &str) -> Vec<(String, Staged)> {
        let start = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        self.entries
            .range(start.clone()..)
            .take_while(|(p, _)| p.starts_with(&start))
            .filter(|(p, _)| !p[start.len()..].contains('/'))
            .map(|(p, s)| (p[start.len()..].to_owned(), *s))
            .collect()
    }

    /// Move the job's own entry (and, for a directory, everything below it)
    /// from `from` to `to`, replacing what the job had at `to`.
    pub(crate) fn rename(
        &mut self,
        from: &str,
        to: &str,
        real_from_exists: bool,
    ) -> io::Result<()> {
        if let Some(old) = self.entries.get(to).copied() {
            if old != Staged::Whiteout {
                self.remove(to, false)?;
            }
        }
        let moved: Vec<(String, Staged)> = self
            .entries
            .range(from.to_owned()..)
            .take_while(|(p, _)| p.starts_with(from))
            .filter(|(p, _)| paths::is_within(p, from))
            .map(|(p, s)| (p.clone(), *s))
            .collect();
        for (path, staged) in moved {
            self.entries.remove(&path);
            let new = paths::rebase(&path, from, to);
            self.created.insert(new.clone());
            self.entries.insert(new, staged);
        }
        if real_from_exists {
            self.entries.insert(from.to_owned(), Staged::Whiteout);
        }
        Ok(())
    }

    /// Files and directories that stand at the end (what the job wrote).
    pub(crate) fn standing(&self) -> (BTreeSet<String>, BTreeSet<String>) {
        let mut files = BTreeSet::new();
        let mut dirs = BTreeSet::new();
        for (path, staged) in &self.entries {
            match staged {
                Staged::File(_) => files.insert(path.clone()),
                Staged::Dir(_) => dirs.insert(path.clone()),
                Staged::Whiteout => false,
            };
        }
        (files, dirs)
    }

    /// Every path the job created at some point (even if gone again).
    pub(crate) fn created(&self) -> &HashSet<String> {
        &self.created
    }

    /// Hand the staged files to the engine.
    pub(crate) fn into_pending(self, root: PathBuf, janitor: Option<PoolHandle>) -> PendingWrites {
        let mut files = Vec::new();
        let mut scratch = Vec::new();
        let mut dirs = Vec::new();
        for (path, staged) in &self.entries {
            match staged {
                Staged::File(_) => {
                    scratch.push(self.scratch(*staged).unwrap_or_default());
                    files.push(path.clone());
                }
                Staged::Dir(_) => dirs.push(path.clone()),
                Staged::Whiteout => {}
            }
        }
        PendingWrites {
            root,
            // No scratch directory was made if nothing was ever staged.
            dir: (self.next > 0).then_some(self.dir),
            janitor,
            files,
            scratch,
            dirs,
        }
    }
}

/// The job's writes, staged privately until the engine decides.
#[derive(Debug, Default)]
pub struct PendingWrites {
    root: PathBuf,
    /// The job's scratch directory; `None` once committed or discarded.
    dir: Option<PathBuf>,
    /// Removes the scratch directory in the background (`None`: here).
    janitor: Option<PoolHandle>,
    files: Vec<String>,
    scratch: Vec<PathBuf>,
    dirs: Vec<String>,
}

impl PendingWrites {
    /// The staged files (project-relative, sorted).
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// The staged files that are not regular files or symlinks, with what
    /// they are ("FIFO (named pipe)", "Unix socket"): they cannot be outputs.
    pub fn special(&self) -> Vec<(String, &'static str)> {
        let kind = |scratch: &PathBuf| {
            let t = fs::symlink_metadata(scratch).ok()?.file_type();
            match (t.is_fifo(), t.is_socket()) {
                (true, _) => Some("FIFO (named pipe)"),
                (_, true) => Some("Unix socket"),
                _ => None,
            }
        };
        self.files
            .iter()
            .zip(&self.scratch)
            .filter_map(|(path, scratch)| Some((path.clone(), kind(scratch)?)))
            .collect()
    }

    /// Each staged file (project-relative) with where it waits for commit
    /// (to be read, e.g. by a cache, never changed).
    pub fn staged(&self) -> impl Iterator<Item = (&str, &Path)> {
        self.files
            .iter()
            .map(String::as_str)
            .zip(self.scratch.iter().map(PathBuf::as_path))
    }

    /// The directories the job made and left (project-relative, sorted).
    pub fn dirs(&self) -> &[String] {
        &self.dirs
    }

    /// Move the staged files and directories for which `keep` is true into
    /// the tree (files by rename, creating parent directories as needed);
    /// drop the rest.
    pub fn commit(mut self, keep: &dyn Fn(&str) -> bool) -> io::Result<()> {
        for dir in self.dirs.iter().filter(|d| keep(d)) {
            let real = self.root.join(dir);
            fs::create_dir_all(&real).map_err(|e| with_path(e, &real))?;
        }
        for (path, scratch) in self.files.iter().zip(&self.scratch) {
            if keep(path) {
                place(scratch, &self.root.join(path))?;
            }
        }
        self.drop_scratch()
    }

    /// Drop every staged file. (Here and in [`PendingWrites::commit`] the
    /// job's scratch directory may be removed in the background, by
    /// [`crate::Tracer::unmount`] at the latest.)
    pub fn discard(mut self) -> io::Result<()> {
        self.drop_scratch()
    }

    fn drop_scratch(&mut self) -> io::Result<()> {
        if let (Some(janitor), Some(dir)) = (&self.janitor, self.dir.take()) {
            janitor.remove_scratch(dir);
            return Ok(());
        }
        match self.dir.take() {
            Some(dir) => match fs::remove_dir_all(&dir) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(with_path(e, &dir)),
                _ => Ok(()),
            },
            None => Ok(()),
        }
    }
}

impl Drop for PendingWrites {
    fn drop(&mut self) {
        if let Err(e) = self.drop_scratch() {
            log::warn!("dropping staged writes: {e}");
        }
    }
}

/// Move a staged file into the tree, replacing what stands there.
fn place(scratch: &Path, real: &Path) -> io::Result<()> {
    if let Some(parent) = real.parent() {
        fs::create_dir_all(parent).map_err(|e| with_path(e, parent))?;
    }
    match fs::rename(scratch, real) {
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            // Scratch on another filesystem: copy next to the target, then
            // rename, so readers never see a half-written file.
            let tmp = real.with_extension("tupfs-tmp");
            fs::copy(scratch, &tmp).map_err(|e| with_path(e, &tmp))?;
            fs::rename(&tmp, real).map_err(|e| with_path(e, real))
        }
        other => other.map_err(|e| {
            let what = format!("moving {} to {}: {e}", scratch.display(), real.display());
            io::Error::new(e.kind(), what)
        }),
    }
}

/// An error that names the path it happened on.
pub(crate) fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}
