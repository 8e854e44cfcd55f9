//! What changed since the index: a file's [`FileState`], the
//! [`ChangeDetector`] that judges one file under a [`ChangeMode`] (with the
//! racy-clean rule), and the [`ChangeSource`] trait with its full-scan
//! implementation ([`FullScan`]; `tupfs monitor` implements it later).

use std::cell::Cell;
use std::ffi::CString;
use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest as _, Sha256};

use crate::identity::Digest;
use crate::index::{FileRecord, FileSlot, FileView, Generation, Index, OutsideSlot};
use crate::options::ChangeMode;
use crate::paths::ProjPath;

/// A wall-clock moment in nanoseconds since the Unix epoch, comparable with
/// file mtimes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Moment(pub i64);

impl Moment {
    /// Now, read from the coarse real-time clock the kernel stamps files
    /// with. Read it BEFORE an `lstat`: any write after the `lstat` then gets
    /// an mtime no older than this moment.
    pub fn now() -> Moment {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime only writes the timespec we pass.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) };
        if rc != 0 {
            return Moment(0); // every file then counts as racy: safe
        }
        Moment(ts.tv_sec * 1_000_000_000 + ts.tv_nsec)
    }
}

/// What kind of thing a path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory (its "contents" are its sorted entry names).
    Dir,
    /// A symbolic link (its "contents" are its target).
    Symlink,
    /// A fifo, socket or device.
    Other,
}

/// What `lstat` says about a path: enough to tell, in `mtime` mode, that it
/// has not changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileState {
    /// The kind of file.
    pub kind: FileKind,
    /// Modification time, ns since the epoch.
    pub mtime_ns: i64,
    /// Status-change time, ns since the epoch (recorded, not compared).
    pub ctime_ns: i64,
    /// Size in bytes.
    pub size: u64,
    /// Inode number.
    pub ino: u64,
}

impl FileState {
    /// `lstat` the path; `Ok(None)` when nothing is there (also when a
    /// parent is not a directory).
    pub fn lstat(path: &Path) -> io::Result<Option<FileState>> {
        match fs::symlink_metadata(path) {
            Ok(m) => Ok(Some(FileState::from_metadata(&m))),
            Err(e) if is_absent(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The state described by a raw `struct stat` (from `fstatat`), exactly
    /// as [`FileState::from_metadata`] reads the same fields.
    pub fn from_stat(st: &libc::stat) -> FileState {
        let kind = match st.st_mode & libc::S_IFMT {
            libc::S_IFREG => FileKind::File,
            libc::S_IFDIR => FileKind::Dir,
            libc::S_IFLNK => FileKind::Symlink,
            _ => FileKind::Other,
        };
        FileState {
            kind,
            mtime_ns: st.st_mtime * 1_000_000_000 + st.st_mtime_nsec,
            ctime_ns: st.st_ctime * 1_000_000_000 + st.st_ctime_nsec,
            size: st.st_size as u64,
            ino: st.st_ino,
        }
    }

    /// The state described by already-read metadata (from `lstat`).
    pub fn from_metadata(m: &fs::Metadata) -> FileState {
        let t = m.file_type();
        let kind = if t.is_file() {
            FileKind::File
        } else if t.is_dir() {
            FileKind::Dir
        } else if t.is_symlink() {
            FileKind::Symlink
        } else {
            FileKind::Other
        };
        FileState {
            kind,
            mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
            ctime_ns: m.ctime() * 1_000_000_000 + m.ctime_nsec(),
            size: m.size(),
            ino: m.ino(),
        }
    }

    /// True when mtime, size, inode and kind all match (what `mtime` mode
    /// compares; ctime is not compared: chmod or a new hard link does not
    /// change contents).
    pub fn same_metadata(&self, other: &FileState) -> bool {
        self.kind == other.kind
            && self.mtime_ns == other.mtime_ns
            && self.size == other.size
            && self.ino == other.ino
    }

    /// True when this state, taken at `recorded_at`, cannot prove the file
    /// unchanged later: its mtime is not older than the moment (a write in
    /// the same clock tick would keep the mtime). A whole-second mtime is
    /// taken to come from a 1-second-granularity file system.
    pub fn is_racy(&self, recorded_at: Moment) -> bool {
        self.settles_at() > recorded_at
    }

    /// The first moment at which this state, taken then, is not racy: a
    /// write after it can no longer keep the mtime.
    pub fn settles_at(&self) -> Moment {
        let granularity = if self.mtime_ns % 1_000_000_000 == 0 {
            1_000_000_000
        } else {
            1
        };
        Moment(self.mtime_ns.saturating_add(granularity))
    }
}

fn is_absent(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR)
}

/// The SHA-256 of a path's contents, streamed: a regular file's bytes, a
/// symlink's target, a directory's sorted entry names (each length-prefixed).
pub fn digest_path(path: &Path, kind: FileKind) -> io::Result<Digest> {
    match kind {
        FileKind::File => {
            let mut file = fs::File::open(path)?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                hasher.update(&buf[..n]);
            }
            Ok(Digest(hasher.finalize().into()))
        }
        FileKind::Symlink => Ok(Digest::of(fs::read_link(path)?.as_os_str().as_bytes())),
        FileKind::Dir => {
            let mut names = Vec::new();
            for entry in fs::read_dir(path)? {
                names.push(entry?.file_name());
            }
            names.sort();
            Ok(digest_names(names.iter().map(|n| n.as_bytes())))
        }
        FileKind::Other => Ok(Digest::of(b"")),
    }
}

/// A directory's "contents" digest ([`digest_path`]) from its entry
/// names, given sorted.
pub fn digest_names<'a>(sorted: impl Iterator<Item = &'a [u8]>) -> Digest {
    let mut hasher = Sha256::new();
    for name in sorted {
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name);
    }
    Digest(hasher.finalize().into())
}

/// What the index recorded about one file, as the detector needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// The state then; `None` when nothing was there.
    pub state: Option<FileState>,
    /// The digest of the contents in that state, if computed.
    pub digest: Option<Digest>,
    /// True for a file some command produces.
    pub generated: bool,
    /// When the state was taken.
    pub recorded_at: Moment,
}

/// Why a file counts as changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeReason {
    /// Nothing was there, now something is (a ghost appeared).
    Appeared,
    /// It was there, now it is gone.
    Vanished,
    /// It is now a different kind of thing (file, directory, link).
    KindChanged,
    /// mtime, size or inode moved (mtime modes).
    Metadata,
    /// The size differs (digest modes: no need to hash).
    Size,
    /// The digest differs.
    Content,
    /// The state moved or is racy and there is no recorded digest to prove
    /// the contents equal (e.g. the first build after switching to a
    /// digest mode): counted as changed, which costs one rebuild, never a
    /// wrong one.
    Unverifiable,
    /// It could not be examined (the error): counted as changed.
    Unreadable(String),
}

impl fmt::Display for ChangeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChangeReason::Appeared => f.write_str("appeared"),
            ChangeReason::Vanished => f.write_str("vanished"),
            ChangeReason::KindChanged => f.write_str("changed kind"),
            ChangeReason::Metadata => f.write_str("modified (mtime/size/inode)"),
            ChangeReason::Size => f.write_str("size changed"),
            ChangeReason::Content => f.write_str("contents changed"),
            ChangeReason::Unverifiable => f.write_str("modified (no digest to compare)"),
            ChangeReason::Unreadable(e) => write!(f, "unreadable: {e}"),
        }
    }
}

/// The detector's answer for one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Its contents are what the index recorded.
    Unchanged,
    /// It changed, and why.
    Changed(ChangeReason),
}

impl Verdict {
    /// True for [`Verdict::Changed`].
    pub fn is_changed(&self) -> bool {
        matches!(self, Verdict::Changed(_))
    }
}

/// One judged file: the verdict and the fresh state to record next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judgement {
    /// Changed or not.
    pub verdict: Verdict,
    /// The state now (`None`: nothing there).
    pub state: Option<FileState>,
    /// The digest of the contents in `state`, when known: computed now, or
    /// carried over when the state provably did not move.
    pub digest: Option<Digest>,
    /// When `state` was taken (read before the `lstat`).
    pub recorded_at: Moment,
}

impl Judgement {
    /// True when recording this judgement would record what `old` already
    /// says: unchanged, the same state and digest, and `old` not racy (a
    /// racy record is re-taken so that it stops being racy).
    pub fn is_settled(&self, old: &Recorded) -> bool {
        !self.verdict.is_changed()
            && self.state == old.state
            && self.digest == old.digest
            && old.state.map_or(true, |s| !s.is_racy(old.recorded_at))
    }

    /// The file's record for the next index: this state and digest, and
    /// `since` moved to `now` when it changed (kept at `old_since` when not).
    pub fn to_record(
        &self,
        path: ProjPath,
        generated: bool,
        old_since: Generation,
        now: Generation,
    ) -> FileRecord {
        FileRecord {
            path,
            state: self.state,
            digest: self.digest,
            generated,
            recorded_at: self.recorded_at,
            since: if self.verdict.is_changed() {
                now
            } else {
                old_since
            },
        }
    }
}

/// Judges files under one [`ChangeMode`], exactly as the spec's table says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChangeDetector {
    /// The mode.
    pub mode: ChangeMode,
}

impl ChangeDetector {
    /// A detector for `mode`.
    pub fn new(mode: ChangeMode) -> ChangeDetector {
        ChangeDetector { mode }
    }

    /// True when this mode compares the contents of this file (all digest
    /// modes, except for generated files in `mtime+digest-inputs`).
    pub fn uses_digest(&self, generated: bool) -> bool {
        match self.mode {
            ChangeMode::Mtime => false,
            ChangeMode::Digest | ChangeMode::MtimeDigest => true,
            ChangeMode::MtimeDigestInputs => !generated,
        }
    }

    /// Examine `disk` now and judge it against `old` (`None`: never
    /// recorded). `moment` must have been read before this call. Never fails:
    /// a file that cannot be examined is [`ChangeReason::Unreadable`].
    pub fn judge(
        &self,
        disk: &Path,
        old: Option<&Recorded>,
        generated: bool,
        moment: Moment,
    ) -> Judgement {
        match FileState::lstat(disk) {
            Ok(now) => self.judge_state(disk, old, generated, now, moment),
            Err(e) => Judgement {
                verdict: Verdict::Changed(ChangeReason::Unreadable(e.to_string())),
                state: None,
                digest: None,
                recorded_at: moment,
            },
        }
    }

    /// As [`ChangeDetector::judge`], with the current state already known
    /// (e.g. from an inotify-fed cache). `disk` is read only when hashing.
    pub fn judge_state(
        &self,
        disk: &Path,
        old: Option<&Recorded>,
        generated: bool,
        now: Option<FileState>,
        moment: Moment,
    ) -> Judgement {
        // Hash at most once, and only if the decision needs it.
        let hashed: Cell<Option<Digest>> = Cell::new(None);
        let mut hash = |kind: FileKind| -> io::Result<Digest> {
            if let Some(d) = hashed.get() {
                return Ok(d);
            }
            let d = digest_path(disk, kind)?;
            hashed.set(Some(d));
            Ok(d)
        };
        let decided = self.decide(old, generated, now, &mut hash);
        let (verdict, carried) = match decided {
            Ok(v) => v,
            Err(e) => (
                Verdict::Changed(ChangeReason::Unreadable(e.to_string())),
                None,
            ),
        };
        // Record a digest next time can compare with: one computed now, one
        // carried over from an unmoved state, or a fresh one when this mode
        // compares contents or the fresh state is itself racy.
        let digest = match now {
            None => None,
            Some(s) => hashed.get().or(carried).or_else(|| {
                let wanted = self.uses_digest(generated) || s.is_racy(moment);
                wanted.then(|| hash(s.kind).ok()).flatten()
            }),
        };
        Judgement {
            verdict,
            state: now,
            digest,
            recorded_at: moment,
        }
    }

    /// The decision table. Returns the verdict and a digest that may be
    /// carried over (the old one, when the state provably did not move).
    fn decide(
        &self,
        old: Option<&Recorded>,
        generated: bool,
        now: Option<FileState>,
        hash: &mut dyn FnMut(FileKind) -> io::Result<Digest>,
    ) -> io::Result<(Verdict, Option<Digest>)> {
        use ChangeReason as R;
        let changed = |r: ChangeReason| Ok((Verdict::Changed(r), None));
        let old_state = old.and_then(|o| o.state);
        let (o, n) = match (old_state, now) {
            (None, None) => return Ok((Verdict::Unchanged, None)),
            (None, Some(_)) => return changed(R::Appeared),
            (Some(_), None) => return changed(R::Vanished),
            (Some(o), Some(n)) => (o, n),
        };
        let Some(old) = old else {
            return changed(R::Appeared);
        };
        if o.kind != n.kind {
            return changed(R::KindChanged);
        }
        let trusted = o.same_metadata(&n) && !o.is_racy(old.recorded_at);
        let compare = |hash: &mut dyn FnMut(FileKind) -> io::Result<Digest>| match old.digest {
            None => changed(R::Unverifiable),
            Some(d) if hash(n.kind)? == d => Ok((Verdict::Unchanged, None)),
            Some(_) => changed(R::Content),
        };
        match (self.mode, self.uses_digest(generated)) {
            // digest: contents only; mtime is not trusted at all.
            (ChangeMode::Digest, _) if o.size != n.size => changed(R::Size),
            (ChangeMode::Digest, _) => compare(hash),
            // mtime+digest(-inputs): hash only when the state moved.
            (_, true) if trusted => Ok((Verdict::Unchanged, old.digest)),
            (_, true) if o.size != n.size => changed(R::Size),
            (_, true) => compare(hash),
            // mtime: the state decides; a racy state falls back to a digest.
            (_, false) if trusted => Ok((Verdict::Unchanged, old.digest)),
            (_, false) if o.same_metadata(&n) => compare(hash),
            (_, false) => changed(R::Metadata),
        }
    }
}

/// What changed since the index: the judgement of every recorded file
/// that is not exactly as recorded ([`Judgement::is_settled`] false:
/// changed, or re-taken because the record was racy or lacked a digest),
/// sorted by slot. Every file not listed is as the index records it
/// (unchanged, its recorded state and digest), so the cost of what follows
/// a scan is that of the changes, not of the project.
#[derive(Clone, Debug, Default)]
pub struct Changes {
    /// When the scan started (read before any `lstat`).
    pub moment: Moment,
    /// The files not as recorded, by [`FileSlot`], sorted by slot.
    pub files: Vec<(FileSlot, Judgement)>,
    /// Full dependencies: one judgement per [`OutsideSlot`] of the index.
    pub outside: Vec<Judgement>,
    /// How many recorded files were examined (for `-vv`).
    pub examined: usize,
}

impl Changes {
    /// The judgement of one recorded file, when it is not as recorded
    /// (None: as the index records it).
    pub fn get(&self, slot: FileSlot) -> Option<&Judgement> {
        let i = self.files.binary_search_by_key(&slot, |(s, _)| *s).ok()?;
        Some(&self.files[i].1)
    }

    /// The judgement of one recorded file of `index`: listed, or as
    /// recorded (None: no such slot).
    pub fn judgement(&self, index: &Index, slot: FileSlot) -> Option<Judgement> {
        match self.get(slot) {
            Some(j) => Some(j.clone()),
            None => Some(as_recorded(&index.file_at(slot)?.as_recorded())),
        }
    }

    /// True when the file in `slot` changed.
    pub fn is_changed(&self, slot: FileSlot) -> bool {
        self.get(slot).is_some_and(|j| j.verdict.is_changed())
    }

    /// Replace (or add) the judgement of the file in `slot`.
    pub fn set(&mut self, slot: FileSlot, judgement: Judgement) {
        match self.files.binary_search_by_key(&slot, |(s, _)| *s) {
            Ok(i) => self.files[i].1 = judgement,
            Err(i) => self.files.insert(i, (slot, judgement)),
        }
    }

    /// The judgement of one recorded outside file.
    pub fn outside(&self, slot: OutsideSlot) -> Option<&Judgement> {
        self.outside.get(slot.0 as usize)
    }

    /// The slots of the files that changed.
    pub fn changed(&self) -> impl Iterator<Item = FileSlot> + '_ {
        self.files
            .iter()
            .filter(|(_, j)| j.verdict.is_changed())
            .map(|(s, _)| *s)
    }
}

/// The judgement of a file nothing happened to: what the index says.
pub fn as_recorded(old: &Recorded) -> Judgement {
    Judgement {
        verdict: Verdict::Unchanged,
        state: old.state,
        digest: old.digest,
        recorded_at: old.recorded_at,
    }
}

/// Where "what changed since the index" comes from: a full scan now, an
/// inotify monitor later. One trait so the engine does not care which.
pub trait ChangeSource {
    /// Judge every file `index` records, under `detector`.
    fn changes(&self, index: &Index, detector: ChangeDetector) -> Changes;
}

/// The full scan: `lstat` every recorded path (hashing as the mode needs),
/// in parallel on plain threads.
#[derive(Clone, Debug)]
pub struct FullScan {
    /// The project root the index's paths are relative to.
    pub root: PathBuf,
    /// How many threads stat in parallel (at least 1).
    pub threads: usize,
}

impl FullScan {
    /// A scan of the project at `root` using every available CPU (at least 4
    /// threads: stat waits on I/O more than on the CPU).
    pub fn new(root: &Path) -> FullScan {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        FullScan {
            root: root.to_path_buf(),
            threads: cpus.max(4),
        }
    }
}

impl ChangeSource for FullScan {
    fn changes(&self, index: &Index, detector: ChangeDetector) -> Changes {
        let scan = ScanRun {
            root: &self.root,
            index,
            files: index.files().collect(),
            detector,
            moment: Moment::now(),
            threads: self.threads,
        };
        let began = std::time::Instant::now();
        let present = scan.present();
        let stat_present = began.elapsed();
        let mut files = scan.ghosts(&present);
        log::debug!(
            "timing: scan of {} files: present ones in {stat_present:?}, all in {:?}",
            scan.files.len(),
            began.elapsed()
        );
        files.extend(present);
        files.sort_unstable_by_key(|(slot, _)| *slot);
        log::debug!(
            "scan: {} of {} files not as recorded",
            files.len(),
            scan.files.len()
        );
        let outside = crate::outside::scan(index, detector, scan.moment, self.threads);
        Changes {
            moment: scan.moment,
            files,
            outside,
            examined: scan.files.len(),
        }
    }
}

/// One full scan: every recorded file, judged in two passes (first those
/// that were there, then the ghosts, which may need no stat). Each pass
/// keeps only what is not as recorded ([`Judgement::is_settled`]).
struct ScanRun<'a> {
    root: &'a Path,
    index: &'a Index,
    files: Vec<FileView<'a>>,
    detector: ChangeDetector,
    /// Read before any stat.
    moment: Moment,
    threads: usize,
}

impl ScanRun<'_> {
    /// Examine and judge one file: None when it is exactly as recorded.
    fn judge(&self, file: &FileView<'_>, stat: &mut StatAt<'_>) -> Option<Judgement> {
        let old = file.as_recorded();
        let (generated, moment) = (file.generated(), self.moment);
        let j = match stat.lstat(file.path()) {
            Ok(now) if self.unmoved(&old, now) => return None,
            Ok(now) => {
                let disk = self.root.join(file.path());
                self.detector
                    .judge_state(&disk, Some(&old), generated, now, moment)
            }
            Err(_) => {
                let disk = self.root.join(file.path());
                self.detector.judge(&disk, Some(&old), generated, moment)
            }
        };
        (!j.is_settled(&old)).then_some(j)
    }

    /// The common case, decided without the detector (no path built, no
    /// judgement made): the state is exactly the recorded one, the record
    /// is not racy, and it holds the digest the detector would keep (one
    /// is there, or neither the mode nor a racy state now wants one). The
    /// detector's answer would be "unchanged, settled".
    fn unmoved(&self, old: &Recorded, now: Option<FileState>) -> bool {
        let (Some(o), Some(n)) = (old.state, now) else {
            return old.state.is_none() && now.is_none();
        };
        o == n
            && self.detector.mode != ChangeMode::Digest
            && !o.is_racy(old.recorded_at)
            && (old.digest.is_some()
                || !(self.detector.uses_digest(old.generated) || n.is_racy(self.moment)))
    }

    /// Every file that was there and is not as recorded. Index paths are
    /// sorted, so a chunk's files share directories and their handles.
    fn present(&self) -> Vec<(FileSlot, Judgement)> {
        parallel_chunks(self.files.len(), self.threads, |range| {
            let mut stat = StatAt::new(self.root);
            self.files[range]
                .iter()
                .filter(|f| f.state().is_some())
                .filter_map(|f| Some((f.slot(), self.judge(f, &mut stat)?)))
                .collect()
        })
    }

    /// Every ghost that is not as recorded. A ghost whose directory is
    /// judged unchanged (no entry added since the directory's state was
    /// taken, and that was not after the ghost was seen absent) is still
    /// absent without a stat. Most recorded paths of a C project are
    /// ghosts (headers looked for on the include path).
    fn ghosts(&self, present: &[(FileSlot, Judgement)]) -> Vec<(FileSlot, Judgement)> {
        parallel_chunks(self.files.len(), self.threads, |range| {
            let mut stat = StatAt::new(self.root);
            let mut last_dir: Option<(&str, Option<Moment>)> = None;
            self.files[range]
                .iter()
                .filter(|f| f.state().is_none())
                .filter_map(|f| {
                    let dir = f.path().rsplit_once('/').map_or("", |(d, _)| d);
                    let taken = match last_dir {
                        Some((d, taken)) if d == dir => taken,
                        _ => last_dir.insert((dir, self.unchanged_dir(present, dir))).1,
                    };
                    if taken.is_some_and(|t| t <= f.recorded_at()) {
                        return None; // still absent: as recorded
                    }
                    Some((f.slot(), self.judge(f, &mut stat)?))
                })
                .collect()
        })
    }

    /// When `dir` is a recorded directory judged unchanged: the moment its
    /// recorded state was taken (`present` lists the present files not as
    /// recorded; any other is unchanged, in its recorded state).
    fn unchanged_dir(&self, present: &[(FileSlot, Judgement)], dir: &str) -> Option<Moment> {
        let slot = self.index.file_slot(dir)?;
        let file = self.files.get(slot.0 as usize)?;
        let state = match present.binary_search_by_key(&slot, |(s, _)| *s) {
            Ok(i) => {
                let j = &present[i].1;
                if j.verdict.is_changed() {
                    return None;
                }
                j.state
            }
            Err(_) => file.state(),
        };
        state
            .is_some_and(|s| s.kind == FileKind::Dir)
            .then(|| file.recorded_at())
    }
}

/// `lstat` of project paths through a handle on the directory of the last
/// one (`fstatat`): the kernel walks one path component instead of the
/// whole absolute path, and sorted paths reuse the handle.
pub(crate) struct StatAt<'a> {
    root: &'a Path,
    /// The directory (project-relative) and its handle (None: it is not
    /// there, so nothing in it is).
    dir: Option<(String, Option<OwnedFd>)>,
    /// The last name asked for, NUL-terminated.
    name: Vec<u8>,
}

impl<'a> StatAt<'a> {
    pub(crate) fn new(root: &'a Path) -> StatAt<'a> {
        StatAt {
            root,
            dir: None,
            name: Vec::with_capacity(64),
        }
    }

    /// As [`FileState::lstat`] of `root/rel`.
    pub(crate) fn lstat(&mut self, rel: &str) -> io::Result<Option<FileState>> {
        let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        if name.is_empty() {
            return FileState::lstat(&self.root.join(rel));
        }
        if self.dir.as_ref().map(|(d, _)| d.as_str()) != Some(dir) {
            let handle = open_dir(&self.root.join(dir))?;
            self.dir = Some((dir.to_string(), handle));
        }
        let Some((_, Some(fd))) = &self.dir else {
            return Ok(None);
        };
        // The name, NUL-terminated, in a buffer kept across calls (no
        // allocation per file).
        if name.as_bytes().contains(&0) {
            let e = io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in a path");
            return Err(e);
        }
        self.name.clear();
        self.name.extend_from_slice(name.as_bytes());
        self.name.push(0);
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: a valid directory fd, a NUL-terminated name and a buffer
        // of the right type; the kernel fills it on success.
        let rc = unsafe {
            libc::fstatat(
                fd.as_raw_fd(),
                self.name.as_ptr().cast(),
                st.as_mut_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        if rc != 0 {
            let e = io::Error::last_os_error();
            return if is_absent(&e) { Ok(None) } else { Err(e) };
        }
        // SAFETY: fstatat succeeded, so it initialised the buffer.
        Ok(Some(FileState::from_stat(unsafe { &st.assume_init() })))
    }
}

/// An `O_PATH` handle on a directory; `Ok(None)` when it is not there.
fn open_dir(path: &Path) -> io::Result<Option<OwnedFd>> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: a NUL-terminated path; the fd is owned right after.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return if is_absent(&e) { Ok(None) } else { Err(e) };
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// `f(0..count)` on up to `threads` threads, results in order.
pub(crate) fn parallel_map<T: Send>(
    count: usize,
    threads: usize,
    f: impl Fn(usize) -> T + Sync,
) -> Vec<T> {
    parallel_chunks(count, threads, |range| range.map(&f).collect())
}

/// `f` over consecutive chunks of `0..count` on up to `threads` threads;
/// the chunks' results concatenated in order.
pub(crate) fn parallel_chunks<T: Send>(
    count: usize,
    threads: usize,
    f: impl Fn(std::ops::Range<usize>) -> Vec<T> + Sync,
) -> Vec<T> {
    const CHUNK: usize = 256;
    let threads = threads.clamp(1, count.div_ceil(CHUNK).max(1));
    if threads == 1 {
        return f(0..count);
    }
    let next = AtomicUsize::new(0);
    let mut parts: Vec<(usize, Vec<T>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let start = next.fetch_add(CHUNK, Ordering::Relaxed);
                        if start >= count {
                            break done;
                        }
                        let end = (start + CHUNK).min(count);
                        done.push((start, f(start..end)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    parts.sort_by_key(|(start, _)| *start);
    parts.into_iter().flat_map(|(_, v)| v).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{BuildRecord, IndexOptions, Open};
    use std::time::{Duration, SystemTime};

    use ChangeMode::{Mtime, MtimeDigest, MtimeDigestInputs};
    const DIGEST: ChangeMode = ChangeMode::Digest;
    use ChangeReason as R;

    const NO_FILE: &str = "/nonexistent/tupfs-test";

    /// Write `text` to `path` and set its mtime to `secs` + `nanos`.
    fn put(path: &Path, text: &str, secs: u64, nanos: u32) -> FileState {
        fs::write(path, text).unwrap();
        set_mtime(path, secs, nanos)
    }

    fn set_mtime(path: &Path, secs: u64, nanos: u32) -> FileState {
        let t = SystemTime::UNIX_EPOCH + Duration::new(secs, nanos);
        fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(t)
            .unwrap();
        FileState::lstat(path).unwrap().unwrap()
    }

    /// What a build recorded for `path`: its state, digest, and a moment well
    /// after its mtime (so not racy) unless `racy`.
    fn recorded(path: &Path, generated: bool, with_digest: bool, racy: bool) -> Recorded {
        let state = FileState::lstat(path).unwrap().unwrap();
        let recorded_at = if racy {
            Moment(state.mtime_ns)
        } else {
            Moment(state.mtime_ns + 10_000_000_000)
        };
        Recorded {
            state: Some(state),
            digest: with_digest.then(|| digest_path(path, state.kind).unwrap()),
            generated,
            recorded_at,
        }
    }

    fn verdict(mode: ChangeMode, path: &Path, old: &Recorded) -> Verdict {
        ChangeDetector::new(mode)
            .judge(path, Some(old), old.generated, Moment::now())
            .verdict
    }

    /// Judge with a given current state, and a disk path that cannot be
    /// read: an `Unreadable` verdict would mean the detector tried to hash.
    fn verdict_without_reading(mode: ChangeMode, old: &Recorded, now: FileState) -> Verdict {
        let j = ChangeDetector::new(mode).judge_state(
            Path::new(NO_FILE),
            Some(old),
            old.generated,
            Some(now),
            Moment(i64::MAX),
        );
        j.verdict
    }

    #[test]
    fn settled_means_recording_again_would_change_nothing() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("f");
        put(&f, "one", 1_000, 5);
        let judge = |old: &Recorded, mode| {
            ChangeDetector::new(mode).judge(&f, Some(old), false, Moment::now())
        };
        let old = recorded(&f, false, false, false);
        assert!(judge(&old, Mtime).is_settled(&old));
        // A digest mode wants a digest the record lacks: record again.
        assert!(!judge(&old, DIGEST).is_settled(&old));
        // A racy record is re-taken so it stops being racy.
        let racy = recorded(&f, false, true, true);
        assert!(!judge(&racy, Mtime).is_settled(&racy));
        put(&f, "two", 1_001, 5);
        assert!(!judge(&old, Mtime).is_settled(&old));
    }

    #[test]
    fn full_scan_sees_a_ghost_appear_in_a_directory_it_did_not_stat_into() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        fs::create_dir(root.join("inc")).unwrap();
        fs::write(root.join("inc/a.h"), "").unwrap();
        settle();
        let names = ["inc", "inc/a.h", "inc/ghost.h", "none/ghost.h"];
        let rec = record_scan(root, &names, Mtime, None, Generation(1));
        let index = write_and_open(&root.join("index"), &rec, Mtime);
        let scan = FullScan::new(root).changes(&index, ChangeDetector::new(Mtime));
        assert_eq!(scan.changed().count(), 0, "{scan:?}");
        fs::write(root.join("inc/ghost.h"), "").unwrap();
        fs::create_dir(root.join("none")).unwrap();
        fs::write(root.join("none/ghost.h"), "").unwrap();
        let scan = FullScan::new(root).changes(&index, ChangeDetector::new(Mtime));
        let changed: Vec<&str> = scan
            .changed()
            .filter_map(|s| Some(index.file_at(s)?.path()))
            .collect();
        assert_eq!(changed, ["inc", "inc/ghost.h", "none/ghost.h"]);
    }

    #[test]
    fn stat_through_directory_handles_matches_lstat() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        fs::create_dir_all(root.join("d/e")).unwrap();
        fs::write(root.join("d/f"), "x").unwrap();
        fs::write(root.join("top"), "y").unwrap();
        std::os::unix::fs::symlink("f", root.join("d/link")).unwrap();
        let mut at = StatAt::new(root);
        for rel in [
            "d/e", "d/f", "d/link", "d/none", "top", "gone/x", "top/x", "d/e/none", "d/f",
        ] {
            let direct = FileState::lstat(&root.join(rel)).unwrap();
            assert_eq!(at.lstat(rel).unwrap(), direct, "{rel}");
        }
        assert!(at.lstat("d/f").unwrap().is_some());
    }

    #[test]
    fn lstat_kinds_and_absence() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("f");
        put(&f, "x", 1_600_000_000, 5);
        std::os::unix::fs::symlink("f", t.path().join("l")).unwrap();
        assert_eq!(FileState::lstat(&f).unwrap().unwrap().kind, FileKind::File);
        let l = FileState::lstat(&t.path().join("l")).unwrap().unwrap();
        assert_eq!(l.kind, FileKind::Symlink);
        assert_eq!(
            FileState::lstat(t.path()).unwrap().unwrap().kind,
            FileKind::Dir
        );
        assert_eq!(FileState::lstat(&t.path().join("none")).unwrap(), None);
        assert_eq!(FileState::lstat(&f.join("under-a-file")).unwrap(), None);
        assert_eq!(
            FileState::lstat(&f).unwrap().unwrap().mtime_ns,
            1_600_000_000_000_000_005
        );
    }

    #[test]
    fn digests_of_files_links_and_directories() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("f");
        fs::write(&f, "hello").unwrap();
        assert_eq!(
            digest_path(&f, FileKind::File).unwrap(),
            Digest::of(b"hello")
        );
        let big = t.path().join("big");
        let data = vec![7u8; 200_000]; // more than one read buffer
        fs::write(&big, &data).unwrap();
        assert_eq!(
            digest_path(&big, FileKind::File).unwrap(),
            Digest::of(&data)
        );
        std::os::unix::fs::symlink("f", t.path().join("l")).unwrap();
        let link = digest_path(&t.path().join("l"), FileKind::Symlink).unwrap();
        assert_eq!(link, Digest::of(b"f"));
        let d = t.path().join("d");
        fs::create_dir(&d).unwrap();
        let empty = digest_path(&d, FileKind::Dir).unwrap();
        fs::write(d.join("a"), "").unwrap();
        let one = digest_path(&d, FileKind::Dir).unwrap();
        fs::write(d.join("a"), "new contents, same name").unwrap();
        assert_ne!(empty, one);
        assert_eq!(one, digest_path(&d, FileKind::Dir).unwrap(), "names only");
    }

    #[test]
    fn racy_means_mtime_not_older_than_the_recording() {
        let s = |mtime_ns| FileState {
            kind: FileKind::File,
            mtime_ns,
            ctime_ns: 0,
            size: 0,
            ino: 0,
        };
        assert!(s(1_000_000_007).is_racy(Moment(1_000_000_007)));
        assert!(s(1_000_000_008).is_racy(Moment(1_000_000_007)));
        assert!(!s(1_000_000_006).is_racy(Moment(1_000_000_007)));
        // A whole-second mtime may come from a 1 s-granularity file system.
        assert!(s(2_000_000_000).is_racy(Moment(2_500_000_000)));
        assert!(!s(2_000_000_000).is_racy(Moment(3_000_000_000)));
    }

    #[test]
    fn mtime_mode_table() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("f");
        put(&f, "one", 1_600_000_000, 1);
        let old = recorded(&f, false, false, false);
        assert_eq!(verdict(Mtime, &f, &old), Verdict::Unchanged);
        // touch: same contents, new mtime.
        set_mtime(&f, 1_600_000_001, 1);
        assert_eq!(verdict(Mtime, &f, &old), Verdict::Changed(R::Metadata));
        // Same mtime, size and inode: mtime mode cannot see the edit.
        put(&f, "two", 1_600_000_000, 1);
        assert_eq!(verdict(Mtime, &f, &old), Verdict::Unchanged);
        // A replaced file (new inode) counts, whatever its mtime. The new
        // file is made while the old one still exists, so it cannot be given
        // the old inode number (a parallel test could free and reuse one).
        let g = t.path().join("g");
        put(&g, "one", 1_600_000_000, 1);
        fs::rename(&g, &f).unwrap();
        assert_eq!(verdict(Mtime, &f, &old), Verdict::Changed(R::Metadata));
    }

    #[test]
    fn racy_clean_is_not_trusted() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("f");
        put(&f, "one", 1_600_000_000, 1);
        for mode in ChangeMode::ALL {
            // Racy and no digest: cannot prove it unchanged.
            let old = recorded(&f, false, false, true);
            assert_eq!(
                verdict(mode, &f, &old),
                Verdict::Changed(R::Unverifiable),
                "{mode}"
            );
            // Racy with a digest: hashed, and equal contents are unchanged...
            let old = recorded(&f, false, true, true);
            assert_eq!(verdict(mode, &f, &old), Verdict::Unchanged, "{mode}");
            // ...and an edit within the same tick (same mtime/size/inode) is caught.
            put(&f, "two", 1_600_000_000, 1);
            assert_eq!(
                verdict(mode, &f, &old),
                Verdict::Changed(R::Content),
                "{mode}"
            );
            put(&f, "one", 1_600_000_000, 1);
        }
    }

    #[test]
    fn digest_mode_table() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("f");
        put(&f, "one", 1_600_000_000, 1);
        let old = recorded(&f, false, true, false);
        assert_eq!(verdict(DIGEST, &f, &old), Verdict::Unchanged);
        set_mtime(&f, 1_600_000_099, 0);
        assert_eq!(verdict(DIGEST, &f, &old), Verdict::Unchanged, "touch");
        // Same size, same mtime, other contents: digest mode sees it.
        put(&f, "two", 1_600_000_000, 1);
        assert_eq!(verdict(DIGEST, &f, &old), Verdict::Changed(R::Content));
        // A size change is a change without hashing.
        let mut now = old.state.unwrap();
        now.size += 1;
        assert_eq!(
            verdict_without_reading(DIGEST, &old, now),
            Verdict::Changed(R::Size)
        );
        // Equal size: digest mode always hashes (here: cannot read => changed).
        let v = verdict_without_reading(DIGEST, &old, old.state.unwrap());
        assert!(matches!(v, Verdict::Changed(R::Unreadable(_))), "{v:?}");
        // No recorded digest (e.g. just switched from mtime): changed once.
        put(&f, "one", 1_600_000_000, 1);
        let no_digest = recorded(&f, false, false, false);
        assert_eq!(
            verdict(DIGEST, &f, &no_digest),
            Verdict::Changed(R::Unverifiable)
        );
    }

    #[test]
    fn mtime_digest_mode_table() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("f");
        put(&f, "one", 1_600_000_000, 1);
        let old = recorded(&f, false, true, false);
        // Unmoved: no hashing at all.
        let same = old.state.unwrap();
        assert_eq!(
            verdict_without_reading(MtimeDigest, &old, same),
            Verdict::Unchanged
        );
        // touch: hashed, equal: unchanged.
        set_mtime(&f, 1_600_000_099, 0);
        assert_eq!(verdict(MtimeDigest, &f, &old), Verdict::Unchanged);
        // Moved and different.
        put(&f, "two", 1_600_000_099, 0);
        assert_eq!(verdict(MtimeDigest, &f, &old), Verdict::Changed(R::Content));
        // Size moved: no need to hash.
        let mut now = same;
        now.size = 1;
        now.mtime_ns += 1;
        assert_eq!(
            verdict_without_reading(MtimeDigest, &old, now),
            Verdict::Changed(R::Size)
        );
    }

    #[test]
    fn mtime_digest_inputs_judges_generated_files_by_mtime() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("a.c");
        let gen = t.path().join("a.o");
        put(&src, "int a;", 1_600_000_000, 1);
        put(&gen, "ELF", 1_600_000_000, 1);
        let old_src = recorded(&src, false, true, false);
        let old_gen = recorded(&gen, true, true, false);
        set_mtime(&src, 1_600_000_050, 0);
        set_mtime(&gen, 1_600_000_050, 0);
        assert_eq!(
            verdict(MtimeDigestInputs, &src, &old_src),
            Verdict::Unchanged
        );
        assert_eq!(
            verdict(MtimeDigestInputs, &gen, &old_gen),
            Verdict::Changed(R::Metadata)
        );
        // In plain mtime+digest the generated file is hashed too.
        assert_eq!(verdict(MtimeDigest, &gen, &old_gen), Verdict::Unchanged);
        assert!(!ChangeDetector::new(MtimeDigestInputs).uses_digest(true));
        assert!(ChangeDetector::new(MtimeDigestInputs).uses_digest(false));
    }

    #[test]
    fn appearing_vanishing_and_changing_kind() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("f");
        let ghost = Recorded {
            state: None,
            digest: None,
            generated: false,
            recorded_at: Moment(0),
        };
        for mode in ChangeMode::ALL {
            assert_eq!(verdict(mode, &f, &ghost), Verdict::Unchanged, "{mode}");
            put(&f, "x", 1_600_000_000, 1);
            assert_eq!(verdict(mode, &f, &ghost), Verdict::Changed(R::Appeared));
            let old = recorded(&f, false, true, false);
            fs::remove_file(&f).unwrap();
            assert_eq!(verdict(mode, &f, &old), Verdict::Changed(R::Vanished));
            fs::create_dir(&f).unwrap();
            assert_eq!(verdict(mode, &f, &old), Verdict::Changed(R::KindChanged));
            fs::remove_dir(&f).unwrap();
        }
        // Never recorded, present: it appeared.
        put(&f, "x", 1_600_000_000, 1);
        let j = ChangeDetector::new(Mtime).judge(&f, None, false, Moment::now());
        assert_eq!(j.verdict, Verdict::Changed(R::Appeared));
    }

    #[test]
    fn fresh_digests_are_recorded_when_next_time_needs_them() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("f");
        put(&f, "one", 1_600_000_000, 1);
        let later = Moment(1_700_000_000_000_000_000);
        let mtime = ChangeDetector::new(Mtime);
        // mtime mode, settled file: no hashing, no digest.
        assert_eq!(mtime.judge(&f, None, false, later).digest, None);
        // mtime mode, racy file: hashed so next build can verify it.
        let racy = Moment(1_600_000_000_000_000_001);
        let j = mtime.judge(&f, None, false, racy);
        assert_eq!(j.digest, Some(Digest::of(b"one")));
        // digest modes record a digest for what they compare.
        let j = ChangeDetector::new(MtimeDigest).judge(&f, None, false, later);
        assert_eq!(j.digest, Some(Digest::of(b"one")));
        let j = ChangeDetector::new(MtimeDigestInputs).judge(&f, None, true, later);
        assert_eq!(j.digest, None, "generated: mtime only");
        // A moved state never keeps an old digest.
        let old = recorded(&f, false, true, false);
        put(&f, "two", 1_600_000_005, 1);
        assert_eq!(mtime.judge(&f, Some(&old), false, later).digest, None);
    }

    /// Build a one-directory index from a scan of `names` under `root`.
    fn record_scan(
        root: &Path,
        names: &[&str],
        mode: ChangeMode,
        old: Option<&Index>,
        gen: Generation,
    ) -> BuildRecord {
        let detector = ChangeDetector::new(mode);
        let moment = Moment::now();
        let mut record = BuildRecord {
            generation: gen,
            ..Default::default()
        };
        for name in names {
            let prior = old.and_then(|i| i.file(name));
            let recorded = prior.map(|f| f.as_recorded());
            let j = detector.judge(&root.join(name), recorded.as_ref(), false, moment);
            let since = prior.map_or(gen, |f| f.since());
            record.add_file(j.to_record(ProjPath::new(name).unwrap(), false, since, gen));
        }
        record
    }

    fn write_and_open(path: &Path, record: &BuildRecord, mode: ChangeMode) -> Index {
        let opts = IndexOptions { change_mode: mode };
        Index::write(path, record, &opts).unwrap();
        match Index::open(path, &opts) {
            Open::Ready(i) => i,
            other => panic!("{other:?}"),
        }
    }

    /// Wait until files written now are no longer racy.
    fn settle() {
        std::thread::sleep(Duration::from_millis(30));
    }

    #[test]
    fn git_branch_switch_rebuilds_nothing_in_digest_modes() {
        for mode in ChangeMode::ALL {
            let t = tempfile::tempdir().unwrap();
            let root = t.path();
            let names = ["a.c", "b.c"];
            fs::write(root.join("a.c"), "int a = 1; /* foo, up to date */").unwrap();
            fs::write(root.join("b.c"), "int b;").unwrap();
            settle();
            let idx_path = root.join("index");
            let rec = record_scan(root, &names, mode, None, Generation(1));
            let index = write_and_open(&idx_path, &rec, mode);
            settle();
            // `git checkout foo`: a.c goes back to an old version (a new file,
            // as git writes it)...
            fs::remove_file(root.join("a.c")).unwrap();
            fs::write(root.join("a.c"), "int a = 0; /* foo, stale */").unwrap();
            settle();
            // ...`git pull`: and forward to the same contents as before.
            fs::remove_file(root.join("a.c")).unwrap();
            fs::write(root.join("a.c"), "int a = 1; /* foo, up to date */").unwrap();
            settle();
            let scan = FullScan::new(root);
            let changes = scan.changes(&index, ChangeDetector::new(mode));
            let changed: Vec<&str> = changes
                .changed()
                .map(|s| index.file_at(s).unwrap().path())
                .collect();
            if mode == Mtime {
                assert_eq!(changed, ["a.c"], "mtime mode sees the new mtime");
            } else {
                assert!(changed.is_empty(), "{mode}: {changed:?}");
            }
        }
    }

    #[test]
    fn switching_modes_costs_at_most_one_rebuild() {
        for from in ChangeMode::ALL {
            for to in ChangeMode::ALL {
                let t = tempfile::tempdir().unwrap();
                let root = t.path();
                let names = ["a.c"];
                fs::write(root.join("a.c"), "int a;").unwrap();
                settle();
                let idx = root.join("index");
                let index = write_and_open(
                    &idx,
                    &record_scan(root, &names, from, None, Generation(1)),
                    from,
                );
                // Nothing touched: the first build in the new mode may count the
                // file changed (no digest to compare) but the second never does.
                let rec = record_scan(root, &names, to, Some(&index), Generation(2));
                let index = write_and_open(&idx, &rec, to);
                let again = record_scan(root, &names, to, Some(&index), Generation(3));
                assert_eq!(
                    again.files[0].since, rec.files[0].since,
                    "{from} -> {to}: changed twice"
                );
                // And an edit after the switch is always seen.
                fs::write(root.join("a.c"), "int a = 2;").unwrap();
                let edited = record_scan(root, &names, to, Some(&index), Generation(3));
                assert_eq!(edited.files[0].since, Generation(3), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn parallel_map_keeps_order() {
        let v = parallel_map(10_000, 4, |i| i * 2);
        assert_eq!(v.len(), 10_000);
        assert!(v.iter().enumerate().all(|(i, &x)| x == i * 2));
        assert!(parallel_map(0, 4, |i| i).is_empty());
    }
}
