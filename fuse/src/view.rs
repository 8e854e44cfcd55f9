//! A job's view of the project: the real tree with the job's staged writes
//! layered over it, its inode table, log and open handles. Answers "what
//! stands at this path for this job, and where is it on disk".

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{FileAttr, FileType, INodeNo};

use crate::access_log::Recorder;
use crate::handles::{DirEntry, Handles, ReaderBudget};
use crate::inodes::InodeTable;
use crate::paths::{self, Ino};
use crate::staging::{Overlay, Staged};
use crate::variant::Mirrors;
use crate::JobId;

/// Everything the daemon keeps for one running job.
#[derive(Debug)]
pub(crate) struct JobView {
    pub(crate) id: JobId,
    /// The project root (canonical).
    pub(crate) root: Arc<Path>,
    /// Top-level names hidden from the view (tupfs's own state).
    pub(crate) hidden: Arc<[OsString]>,
    /// The mount's variant directories and the sources they mirror.
    pub(crate) mirrors: Arc<Mirrors>,
    pub(crate) inodes: RwLock<InodeTable>,
    pub(crate) overlay: RwLock<Overlay>,
    pub(crate) recorder: Recorder,
    pub(crate) handles: Handles,
    /// Full dependencies: `@outside/<abs>` shows `/<abs>` read-only.
    pub(crate) outside: bool,
    /// Full dependencies: the view that serves every job's files (not
    /// directories) under `@outside` (see [`crate::outside::FILES_JOB`]).
    pub(crate) outside_files: Option<Arc<JobView>>,
}

/// What every job's view of a mount shares: makes a job's view.
#[derive(Debug)]
pub(crate) struct ViewTemplate {
    pub(crate) root: Arc<Path>,
    pub(crate) hidden: Arc<[OsString]>,
    pub(crate) mirrors: Arc<Mirrors>,
    /// Where jobs' private writes are staged (`<scratch>/job-N`).
    pub(crate) scratch: PathBuf,
    pub(crate) readers: Arc<ReaderBudget>,
    pub(crate) outside: bool,
    /// See [`JobView::outside_files`].
    pub(crate) outside_files: Option<Arc<JobView>>,
}

impl ViewTemplate {
    /// A fresh view for job `id` (nothing recorded, no ignore set yet).
    pub(crate) fn make(&self, id: JobId) -> JobView {
        JobView {
            id,
            root: self.root.clone(),
            hidden: self.hidden.clone(),
            mirrors: self.mirrors.clone(),
            inodes: RwLock::new(InodeTable::new()),
            overlay: RwLock::new(Overlay::new(self.scratch.join(format!("job-{}", id.0)))),
            recorder: Recorder::default(),
            handles: Handles::new(self.readers.clone()),
            outside: self.outside,
            outside_files: self.outside_files.clone(),
        }
    }
}

/// Where a path of the view lives on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    /// The real tree, `<root>/<path>` (it may not exist).
    Real(PathBuf),
    /// The job's staged file, symlink or directory.
    Staged(PathBuf, Staged),
    /// The job removed its own version: nothing stands here.
    Gone,
}

impl JobView {
    /// Read access to the overlay (a poisoned lock still holds valid data).
    pub(crate) fn overlay(&self) -> RwLockReadGuard<'_, Overlay> {
        self.overlay.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Write access to the overlay.
    pub(crate) fn overlay_mut(&self) -> RwLockWriteGuard<'_, Overlay> {
        self.overlay.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The real location of `path` (where a write to it goes).
    pub(crate) fn real(&self, path: &str) -> PathBuf {
        if path.is_empty() {
            self.root.to_path_buf()
        } else if let Some(abs) = self.outside_path(path) {
            PathBuf::from(abs)
        } else {
            self.root.join(path)
        }
    }

    /// The absolute path a view path under `@outside` names (full
    /// dependencies only; `None` for project paths).
    pub(crate) fn outside_path<'p>(&self, path: &'p str) -> Option<&'p str> {
        self.outside
            .then(|| crate::outside::outside_path(path))
            .flatten()
    }

    /// Where `path` lives for this job.
    pub(crate) fn locate(&self, path: &str) -> Location {
        let overlay = self.overlay();
        if !overlay.is_empty() {
            if let Some(staged) = overlay.get(path) {
                return match overlay.scratch(staged) {
                    Some(p) => Location::Staged(p, staged),
                    None => Location::Gone,
                };
            }
        }
        Location::Real(self.lower(path))
    }

    /// What the real tree shows at `path`: `<root>/<path>`, or in a
    /// variant directory that has nothing there, the source it mirrors.
    pub(crate) fn lower(&self, path: &str) -> PathBuf {
        let real = self.real(path);
        if self.mirrors.is_empty() || fs::symlink_metadata(&real).is_ok() {
            return real;
        }
        match self.mirrors.source_of(path) {
            Some(source) => self.real(&source),
            None => real,
        }
    }

    /// `lstat` of what stands at `path` for this job.
    pub(crate) fn stat(&self, path: &str) -> io::Result<Metadata> {
        match self.locate(path) {
            Location::Real(p) | Location::Staged(p, _) => fs::symlink_metadata(p),
            Location::Gone => Err(io::ErrorKind::NotFound.into()),
        }
    }

    /// Whether the real tree has something at `path` (staged or not).
    pub(crate) fn real_exists(&self, path: &str) -> bool {
        fs::symlink_metadata(self.lower(path)).is_ok()
    }

    /// Whether `name` at the top of the view is tupfs's own and hidden.
    pub(crate) fn is_hidden(&self, dir: &str, name: &str) -> bool {
        dir.is_empty() && self.hidden.iter().any(|h| h == name)
    }

    /// The inode number of `path` for the kernel (allocated on first use).
    pub(crate) fn ino(&self, path: &str) -> INodeNo {
        let known = self
            .inodes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(path);
        let local = known.unwrap_or_else(|| {
            self.inodes
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .intern(path)
        });
        INodeNo(Ino::Node(self.id, local).encode())
    }

    /// A new inode number for `path`, which the job just made (see
    /// [`InodeTable::fresh`]).
    pub(crate) fn fresh_ino(&self, path: &str) -> INodeNo {
        let local = self
            .inodes
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .fresh(path);
        INodeNo(Ino::Node(self.id, local).encode())
    }

    /// The path behind local inode `local`.
    pub(crate) fn path_of(&self, local: u32) -> Option<Arc<str>> {
        self.inodes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .path(local)
    }

    /// The listing of directory `dir` as the job sees it (no `.`/`..`).
    pub(crate) fn list(&self, dir: &str) -> io::Result<Vec<DirEntry>> {
        let staged = self.overlay().children(dir);
        let mut out = Vec::new();
        self.recorder.listed(dir);
        if let Location::Real(real) = self.locate(dir) {
            match self.mirrors.source_of(dir) {
                None => self.list_real(dir, &real, &staged, &mut out)?,
                Some(source) => {
                    self.recorder.listed(&source);
                    self.list_mirrored(dir, &source, &staged, &mut out)?
                }
            }
        }
        for (name, what) in staged {
            if what == Staged::Whiteout {
                continue;
            }
            let path = paths::join(dir, &name);
            let Ok(meta) = self.stat(&path) else {
                continue;
            };
            out.push(DirEntry {
                kind: file_type(meta.file_type()),
                ino: self.ino(&path),
                name: name.into(),
            });
        }
        Ok(out)
    }

    /// List the variant directory `dir`: its own entries, then those of
    /// the `source` directory it mirrors that it does not have itself
    /// (leaving out what never shows through: variant directories).
    fn list_mirrored(
        &self,
        dir: &str,
        source: &str,
        staged: &[(String, Staged)],
        out: &mut Vec<DirEntry>,
    ) -> io::Result<()> {
        let own = self.list_real(dir, &self.real(dir), staged, out);
        let seen: HashSet<OsString> = out.iter().map(|e| e.name.clone()).collect();
        let mut under = Vec::new();
        let mirrored = self.list_real(dir, &self.real(source), staged, &mut under);
        if let (Err(e), Err(_)) = (own, &mirrored) {
            return Err(e);
        }
        out.extend(under.into_iter().filter(|e| {
            !seen.contains(&e.name)
                && e.name
                    .to_str()
                    .is_some_and(|n| self.mirrors.source_of(&paths::join(dir, n)).is_some())
        }));
        Ok(())
    }

    /// Append the entries of the real directory `real` (shown at `dir`) to
    /// `out`, leaving out hidden names and those the job staged.
    fn list_real(
        &self,
        dir: &str,
        real: &Path,
        staged: &[(String, Staged)],
        out: &mut Vec<DirEntry>,
    ) -> io::Result<()> {
        for entry in fs::read_dir(real)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name_str) = name.to_str() else {
                continue;
            };
            if self.is_hidden(dir, name_str) || staged.iter().any(|(n, _)| n == name_str) {
                continue;
            }
            let kind = file_type(entry.file_type()?);
            let path = paths::join(dir, name_str);
            let ino = match kind {
                FileType::Directory => None,
                _ => self.outside_file_ino(&path),
            };
            let ino = ino.unwrap_or_else(|| self.ino(&path));
            out.push(DirEntry { name, kind, ino });
        }
        Ok(())
    }
}

/// The FUSE file type of a std file type.
pub(crate) fn file_type(t: fs::FileType) -> FileType {
    if t.is_dir() {
        FileType::Directory
    } else if t.is_symlink() {
        FileType::Symlink
    } else if t.is_block_device() {
        FileType::BlockDevice
    } else if t.is_char_device() {
        FileType::CharDevice
    } else if t.is_fifo() {
        FileType::NamedPipe
    } else if t.is_socket() {
        FileType::Socket
    } else {
        FileType::RegularFile
    }
}

fn time(secs: i64, nsecs: i64) -> SystemTime {
    let nsecs = nsecs.clamp(0, 999_999_999) as u32;
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nsecs)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + Duration::from_nanos(nsecs.into())
    }
}

/// FUSE attributes of `meta`, under our inode number `ino`.
pub(crate) fn attr(ino: INodeNo, meta: &Metadata) -> FileAttr {
    FileAttr {
        ino,
        size: meta.size(),
        blocks: meta.blocks(),
        atime: time(meta.atime(), meta.atime_nsec()),
        mtime: time(meta.mtime(), meta.mtime_nsec()),
        ctime: time(meta.ctime(), meta.ctime_nsec()),
        crtime: time(meta.ctime(), meta.ctime_nsec()),
        kind: file_type(meta.file_type()),
        perm: (meta.mode() & 0o7777) as u16,
        nlink: meta.nlink() as u32,
        uid: meta.uid(),
        gid: meta.gid(),
        rdev: meta.rdev() as u32,
        blksize: meta.blksize() as u32,
        flags: 0,
    }
}

/// The attributes of a negative entry (inode 0: "does not exist").
pub(crate) fn negative_attr() -> FileAttr {
    FileAttr {
        ino: INodeNo(0),
        size: 0,
        blocks: 0,
        atime: UNIX_EPOCH,
        mtime: UNIX_EPOCH,
        ctime: UNIX_EPOCH,
        crtime: UNIX_EPOCH,
        kind: FileType::RegularFile,
        perm: 0,
        nlink: 0,
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: 0,
        flags: 0,
    }
}
