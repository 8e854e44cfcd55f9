//! The local store: `ac/xx/<sha256>` (action entries: manifest pointers
//! and results, each with its SHA-256 appended) and `cas/xx/<sha256>`
//! (blobs, read-only), written through `tmp/` and renamed into place,
//! every file verified on read (a corrupt one is removed: a miss),
//! least-recently-used by mtime (refreshed on a hit, an entry before its
//! blobs), trimmed to a size cap under an `flock`. Nothing is fsynced, as
//! ccache does not: a crash can only lose or tear a file, and a torn file
//! fails its check, so durability would buy nothing but cost the build
//! (DESIGN.md, "The output cache").

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use sha2::{Digest as _, Sha256};

use super::key::Digest;

/// The default size cap: 5 GiB.
pub const DEFAULT_MAX_SIZE: u64 = 5 << 30;

/// The bytes of the SHA-256 appended to an action entry.
const CHECKSUM: usize = 32;

/// How old a file in `tmp/` must be to be swept as a killed writer's.
const STALE_TMP: Duration = Duration::from_secs(3600);

/// A local store rooted at a directory.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

/// What `tupfs cache stats` prints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Action entries (manifest pointers and results).
    pub entries: u64,
    /// Blobs.
    pub blobs: u64,
    /// Bytes of both.
    pub bytes: u64,
}

impl LocalStore {
    /// The store at `root` (its directories made).
    pub fn open(root: &Path) -> io::Result<LocalStore> {
        for sub in ["ac", "cas", "tmp"] {
            let dir = root.join(sub);
            fs::create_dir_all(&dir).map_err(|e| with_path(e, &dir))?;
        }
        Ok(LocalStore {
            root: root.to_path_buf(),
        })
    }

    /// Where the store is.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, area: &str, d: &Digest) -> PathBuf {
        let hex = d.hex();
        self.root.join(area).join(&hex[..2]).join(hex)
    }

    /// The file holding blob `d` (which may be absent or corrupt).
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.path("cas", d)
    }

    /// The entry under action `key`, verified by its checksum, its mtime
    /// refreshed (None: absent; a corrupt entry is removed).
    pub fn get_action(&self, key: &Digest) -> Option<Vec<u8>> {
        let path = self.path("ac", key);
        let mut bytes = fs::read(&path).ok()?;
        let body = bytes.len().saturating_sub(CHECKSUM);
        if bytes.len() < CHECKSUM || Sha256::digest(&bytes[..body])[..] != bytes[body..] {
            self.remove_action(key);
            return None;
        }
        bytes.truncate(body);
        touch(&path);
        Some(bytes)
    }

    /// Keep `bytes` under action `key` (replacing an older entry), its
    /// SHA-256 appended.
    pub fn put_action(&self, key: &Digest, bytes: &[u8]) -> io::Result<()> {
        let (tmp, mut f) = self.temp()?;
        let mut all = Vec::with_capacity(bytes.len() + CHECKSUM);
        all.extend_from_slice(bytes);
        all.extend_from_slice(&Sha256::digest(bytes));
        f.write_all(&all).map_err(|e| with_path(e, &tmp))?;
        place(tmp, f, &self.path("ac", key), true)
    }

    /// Whether blob `d` is there (not verified); refreshes its mtime.
    pub fn has_blob(&self, d: &Digest) -> bool {
        let path = self.blob_path(d);
        let there = fs::symlink_metadata(&path).is_ok_and(|m| m.len() == d.size);
        if there {
            touch(&path);
        }
        there
    }

    /// Blob `d`'s bytes, verified; a corrupt blob is removed (None).
    pub fn read_blob(&self, d: &Digest) -> Option<Vec<u8>> {
        let path = self.blob_path(d);
        let bytes = fs::read(&path).ok()?;
        if Digest::of(&bytes) != *d {
            self.remove_blob(d);
            return None;
        }
        touch(&path);
        Some(bytes)
    }

    /// Drop the entry under action `key` (found corrupt).
    pub fn remove_action(&self, key: &Digest) {
        let path = self.path("ac", key);
        log::warn!("cache: {} is corrupt; removed", path.display());
        let _ = fs::remove_file(path);
    }

    /// Drop blob `d` (found corrupt).
    pub fn remove_blob(&self, d: &Digest) {
        let path = self.blob_path(d);
        log::warn!("cache: {} is corrupt; removed", path.display());
        let _ = fs::remove_file(path);
    }

    /// Keep `bytes` as a blob.
    pub fn put_blob(&self, bytes: &[u8]) -> io::Result<Digest> {
        let d = Digest::of(bytes);
        if self.has_blob(&d) {
            return Ok(d);
        }
        let (tmp, mut f) = self.temp()?;
        f.write_all(bytes).map_err(|e| with_path(e, &tmp))?;
        place(tmp, f, &self.blob_path(&d), false)?;
        Ok(d)
    }

    /// Keep the file at `src` as a blob (hashed while copied).
    pub fn put_blob_file(&self, src: &Path) -> io::Result<Digest> {
        let mut from = File::open(src).map_err(|e| with_path(e, src))?;
        self.put_blob_from(&mut from).map_err(|e| with_path(e, src))
    }

    /// Keep what `from` reads as a blob (hashed while copied).
    pub fn put_blob_from(&self, from: &mut impl Read) -> io::Result<Digest> {
        let (tmp, mut f) = self.temp()?;
        let d = copy_hashing(from, &mut f)?;
        if self.has_blob(&d) {
            drop(f);
            let _ = fs::remove_file(&tmp);
            return Ok(d);
        }
        place(tmp, f, &self.blob_path(&d), false)?;
        Ok(d)
    }

    /// A new temp file in `tmp/`.
    fn temp(&self) -> io::Result<(PathBuf, File)> {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = self
            .root
            .join("tmp")
            .join(format!("{}-{n}-{nanos}", std::process::id()));
        let f = File::create(&path).map_err(|e| with_path(e, &path))?;
        Ok((path, f))
    }

    /// Entries, blobs and bytes.
    pub fn stats(&self) -> io::Result<Stats> {
        let mut s = Stats::default();
        for (area, count) in [("ac", &mut s.entries), ("cas", &mut s.blobs)] {
            for f in files(&self.root.join(area))? {
                *count += 1;
                s.bytes += f.size;
            }
        }
        Ok(s)
    }

    /// Trim to `max` bytes, least recently used first, and sweep stale
    /// temp files. Skipped (None) while another process collects.
    pub fn gc(&self, max: u64) -> io::Result<Option<Stats>> {
        let Some(_lock) = self.lock(false)? else {
            return Ok(None);
        };
        self.sweep_tmp();
        let mut all = files(&self.root.join("ac"))?;
        all.extend(files(&self.root.join("cas"))?);
        let mut total: u64 = all.iter().map(|f| f.size).sum();
        // Oldest first; on a tie an entry (ac) goes before a blob.
        all.sort_by_key(|f| (f.mtime, !f.path.to_string_lossy().contains("/ac/")));
        let mut removed = Stats::default();
        for f in all {
            if total <= max {
                break;
            }
            if fs::remove_file(&f.path).is_ok() {
                total -= f.size;
                removed.bytes += f.size;
                match f.path.to_string_lossy().contains("/ac/") {
                    true => removed.entries += 1,
                    false => removed.blobs += 1,
                }
            }
        }
        let _ = touch_file(&self.root.join("last-gc"));
        Ok(Some(removed))
    }

    /// Remove every entry and blob (waits for a collection under way).
    pub fn clear(&self) -> io::Result<Stats> {
        let _lock = self.lock(true)?;
        let before = self.stats()?;
        for area in ["ac", "cas", "tmp"] {
            let dir = self.root.join(area);
            fs::remove_dir_all(&dir).map_err(|e| with_path(e, &dir))?;
            fs::create_dir_all(&dir).map_err(|e| with_path(e, &dir))?;
        }
        Ok(before)
    }

    /// True when the last collection is older than `every` (or never ran).
    pub fn gc_due(&self, every: Duration) -> bool {
        fs::metadata(self.root.join("last-gc"))
            .and_then(|m| m.modified())
            .map_or(true, |t| t.elapsed().map_or(true, |age| age >= every))
    }

    /// The store's flock (`wait`: block for it; else None when held).
    fn lock(&self, wait: bool) -> io::Result<Option<File>> {
        let path = self.root.join("lock");
        let f = File::create(&path).map_err(|e| with_path(e, &path))?;
        let op = libc::LOCK_EX | if wait { 0 } else { libc::LOCK_NB };
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(f.as_raw_fd(), op) } != 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                true => Ok(None),
                false => Err(with_path(e, &path)),
            };
        }
        Ok(Some(f))
    }

    fn sweep_tmp(&self) {
        let Ok(entries) = fs::read_dir(self.root.join("tmp")) else {
            return;
        };
        for e in entries.flatten() {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > STALE_TMP));
            if old {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

/// Close `f` (written at `tmp`) and rename it to `dest`, its fan-out
/// directory made when missing; blobs are made read-only first. No fsync:
/// what a crash tears is found on read (see the module's doc).
fn place(tmp: PathBuf, f: File, dest: &Path, writable: bool) -> io::Result<()> {
    let result = (|| {
        if !writable {
            f.set_permissions(fs::Permissions::from_mode(0o444))?;
        }
        drop(f);
        match fs::rename(&tmp, dest) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Some(dir) = dest.parent() {
                    fs::create_dir_all(dir)?;
                }
                fs::rename(&tmp, dest)
            }
            other => other,
        }
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| with_path(e, dest))
}

/// Copy `from` to `to`, returning the digest of what was copied.
pub fn copy_hashing(from: &mut impl Read, to: &mut impl Write) -> io::Result<Digest> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        to.write_all(&buf[..n])?;
        size += n as u64;
    }
    Ok(Digest {
        hash: hasher.finalize().into(),
        size,
    })
}

struct StoredFile {
    path: PathBuf,
    size: u64,
    mtime: SystemTime,
}

/// Every file two levels below `area` (`xx/<hex>`).
fn files(area: &Path) -> io::Result<Vec<StoredFile>> {
    let mut out = Vec::new();
    let fan = match fs::read_dir(area) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(with_path(e, area)),
    };
    for dir in fan.flatten() {
        let Ok(entries) = fs::read_dir(dir.path()) else {
            continue;
        };
        for e in entries.flatten() {
            if let Ok(m) = e.metadata() {
                out.push(StoredFile {
                    path: e.path(),
                    size: m.len(),
                    mtime: m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                });
            }
        }
    }
    Ok(out)
}

/// Refresh `path`'s mtime (it was used); errors do not matter.
pub fn touch(path: &Path) {
    let _ = touch_file(path);
}

fn touch_file(path: &Path) -> io::Result<()> {
    if !path.exists() {
        File::create(path)?;
    }
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())?;
    // SAFETY: a valid path; a null `times` means now.
    match unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), std::ptr::null(), 0) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_verify_and_corrupt_ones_go() {
        let t = tempfile::tempdir().unwrap();
        let s = LocalStore::open(t.path()).unwrap();
        let d = s.put_blob(b"hello").unwrap();
        assert_eq!(s.read_blob(&d).as_deref(), Some(&b"hello"[..]));
        let p = s.blob_path(&d);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&p, b"hellp").unwrap();
        assert_eq!(s.read_blob(&d), None);
        assert!(!p.exists(), "a corrupt blob is removed");
        let key = Digest::of(b"key");
        s.put_action(&key, b"one").unwrap();
        s.put_action(&key, b"two").unwrap();
        assert_eq!(s.get_action(&key).as_deref(), Some(&b"two"[..]));
    }

    #[test]
    fn torn_entries_are_misses_and_removed() {
        let t = tempfile::tempdir().unwrap();
        let s = LocalStore::open(t.path()).unwrap();
        let key = Digest::of(b"k");
        s.put_action(&key, b"entry").unwrap();
        assert_eq!(s.get_action(&key).as_deref(), Some(&b"entry"[..]));
        assert_eq!(fs::read_dir(t.path().join("tmp")).unwrap().count(), 0);
        let p = s.path("ac", &key);
        let whole = fs::read(&p).unwrap();
        for torn in [&whole[..0], &whole[..3], &whole[..whole.len() - 1]] {
            fs::write(&p, torn).unwrap();
            assert_eq!(s.get_action(&key), None, "{torn:?} is a miss");
            assert!(!p.exists(), "a torn entry is removed");
        }
    }

    #[test]
    fn a_used_entry_goes_before_its_blobs() {
        let t = tempfile::tempdir().unwrap();
        let s = LocalStore::open(t.path()).unwrap();
        let key = Digest::of(b"k");
        // Stored blob first, then the entry naming it (the newer).
        let d = s.put_blob(&[1u8; 1000]).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        s.put_action(&key, &[2u8; 1000]).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        // A hit reads the entry, then its blob: the entry is the older.
        assert!(s.get_action(&key).is_some());
        assert!(s.has_blob(&d));
        let removed = s.gc(1500).unwrap().unwrap();
        assert_eq!((removed.entries, removed.blobs), (1, 0));
        assert!(s.blob_path(&d).exists(), "never a blob under a live entry");
    }

    #[test]
    fn gc_trims_least_recently_used_first() {
        let t = tempfile::tempdir().unwrap();
        let s = LocalStore::open(t.path()).unwrap();
        let old = s.put_blob(&[1u8; 1000]).unwrap();
        let f = File::open(s.blob_path(&old)).unwrap();
        f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1000))
            .unwrap();
        let new = s.put_blob(&[2u8; 1000]).unwrap();
        assert_eq!(s.stats().unwrap().bytes, 2000);
        let removed = s.gc(1500).unwrap().unwrap();
        assert_eq!(removed.blobs, 1);
        assert!(!s.blob_path(&old).exists() && s.blob_path(&new).exists());
        assert_eq!(s.clear().unwrap().blobs, 1);
        assert_eq!(s.stats().unwrap(), Stats::default());
    }
}
