//! What a path in the project is NOW, as the cache keys see it: absent, or
//! a hash of its kind and contents (a file's bytes, a symlink's target, a
//! directory's sorted names). Hashes are remembered for the build by path
//! and stat, so a header read by a thousand commands is hashed once.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use dashmap::DashMap;
use sha2::{Digest as _, Sha256};

use super::key::{Fields, Hash};

/// The stat fields that, unchanged, let a remembered hash stand.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    ino: u64,
    size: u64,
    mtime: i64,
    ctime: i64,
}

impl Stamp {
    fn of(m: &fs::Metadata) -> Stamp {
        Stamp {
            ino: m.ino(),
            size: m.size(),
            mtime: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
            ctime: m.ctime() * 1_000_000_000 + m.ctime_nsec(),
        }
    }
}

/// Entries changed this recently (ns) are hashed again on every look.
const RACY_NS: i64 = 50_000_000;

/// Hashes paths under one root, remembering them for the build.
pub struct Observer {
    root: PathBuf,
    memo: DashMap<String, (Stamp, Hash)>,
}

impl Observer {
    /// An observer of the project at `root`.
    pub fn new(root: &Path) -> Observer {
        Observer {
            root: root.to_path_buf(),
            memo: DashMap::new(),
        }
    }

    /// What project path `rel` is now (None: absent). An error (e.g. no
    /// permission) means the path cannot be keyed: the caller misses.
    pub fn seen(&self, rel: &str) -> io::Result<Option<Hash>> {
        Ok(self.seen_when(rel)?.map(|(hash, _)| hash))
    }

    /// [`Observer::seen`] with the entry's mtime (ns) when it exists.
    pub fn seen_when(&self, rel: &str) -> io::Result<Option<(Hash, i64)>> {
        let disk = self.root.join(rel);
        let meta = match fs::symlink_metadata(&disk) {
            Ok(m) => m,
            Err(e) if is_absent(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        let stamp = Stamp::of(&meta);
        if let Some(m) = self.memo.get(rel) {
            if m.0 == stamp {
                return Ok(Some((m.1, stamp.mtime)));
            }
        }
        let hash = hash_entry(&disk, &meta)?;
        // A change in the clock tick of the stat could keep every field
        // the stamp has: remember only entries older than that.
        if stamp.ctime < crate::change::Moment::now().0 - RACY_NS {
            self.memo.insert(rel.to_string(), (stamp, hash));
        }
        Ok(Some((hash, stamp.mtime)))
    }

    /// The listing of directory `rel` now: the hash of its sorted names
    /// but those `skip` says, with the directory's mtime (ns); None: not a
    /// directory. Remembered as paths are, under `rel/`.
    pub fn listing(
        &self,
        rel: &str,
        skip: &dyn Fn(&str) -> bool,
    ) -> io::Result<Option<(Hash, i64)>> {
        let disk = self.root.join(rel);
        let meta = match fs::metadata(&disk) {
            Ok(m) if m.is_dir() => m,
            Ok(_) => return Ok(None),
            Err(e) if is_absent(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        let stamp = Stamp::of(&meta);
        let memo_key = format!("{rel}/");
        if let Some(m) = self.memo.get(&memo_key) {
            if m.0 == stamp {
                return Ok(Some((m.1, stamp.mtime)));
            }
        }
        let mut names: Vec<_> = Vec::new();
        for entry in fs::read_dir(&disk)? {
            let name = entry?.file_name();
            if !name.to_str().is_some_and(skip) {
                names.push(name);
            }
        }
        names.sort();
        let mut h = Fields::new("listing");
        h.count(names.len());
        for n in &names {
            h.field(n.as_encoded_bytes());
        }
        let hash = h.finish();
        if stamp.ctime < crate::change::Moment::now().0 - RACY_NS {
            self.memo.insert(memo_key, (stamp, hash));
        }
        Ok(Some((hash, stamp.mtime)))
    }

    /// Every path of `paths` with what it is now (None: one of them cannot
    /// be read).
    pub fn all(&self, paths: &[String]) -> Option<Vec<(String, Option<Hash>)>> {
        paths
            .iter()
            .map(|p| Some((p.clone(), self.seen(p).ok()?)))
            .collect()
    }
}

fn is_absent(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::NotFound) || e.raw_os_error() == Some(libc::ENOTDIR)
}

/// The hash of an existing entry: its kind and contents.
fn hash_entry(disk: &Path, meta: &fs::Metadata) -> io::Result<Hash> {
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target = fs::read_link(disk)?;
        let mut h = Fields::new("symlink");
        h.field(target.as_os_str().as_encoded_bytes());
        return Ok(h.finish());
    }
    if ft.is_dir() {
        let mut names: Vec<_> = fs::read_dir(disk)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()?;
        names.sort();
        let mut h = Fields::new("directory");
        h.count(names.len());
        for n in &names {
            h.field(n.as_encoded_bytes());
        }
        return Ok(h.finish());
    }
    if !ft.is_file() {
        // A FIFO, socket or device: never opened (that could block).
        return Ok(Fields::new("special").finish());
    }
    let mut h = Fields::new("file");
    h.field(&file_hash(disk)?);
    h.count((meta.mode() & 0o111 != 0) as usize);
    Ok(h.finish())
}

/// SHA-256 of a file's bytes.
pub fn file_hash(path: &Path) -> io::Result<Hash> {
    let mut f = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    io::copy(&mut f, &mut hasher)?;
    Ok(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_contents_and_absence_differ() {
        let t = tempfile::tempdir().unwrap();
        let o = Observer::new(t.path());
        assert_eq!(o.seen("nope").unwrap(), None);
        assert_eq!(o.seen("nope/deeper").unwrap(), None);
        fs::write(t.path().join("f"), "one").unwrap();
        let one = o.seen("f").unwrap().unwrap();
        fs::write(t.path().join("f"), "two").unwrap();
        assert_ne!(o.seen("f").unwrap().unwrap(), one, "a rewrite is seen");
        fs::create_dir(t.path().join("d")).unwrap();
        let empty = o.seen("d").unwrap().unwrap();
        fs::write(t.path().join("d/x"), "").unwrap();
        assert_ne!(o.seen("d").unwrap().unwrap(), empty);
    }
}
