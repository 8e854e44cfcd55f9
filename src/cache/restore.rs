//! Putting a cached result's outputs in place: every output or none. Each
//! blob is cloned (FICLONE) or copied into a temp file beside the project's
//! state and its digest checked there (a corrupt blob is a miss and is
//! removed from the store); only when all are good are they renamed over
//! the declared outputs. Never a hard link into the store: a tool that
//! later writes an output in place would corrupt the store.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::key::Digest;
use super::local::{copy_hashing, LocalStore};
use super::result::OutputFile;

/// Blobs already in memory (fetched from a remote, or inlined in its
/// entry), checked against their digests before use.
pub type InMemory = std::collections::HashMap<Digest, Vec<u8>>;

/// Restore `outputs` under `root` from `mem` or else `store`, staging in
/// `tmp`. Ok(false): a blob is missing or corrupt (nothing was changed in
/// the tree).
pub fn restore(
    (store, mem): (&LocalStore, &InMemory),
    outputs: &[OutputFile],
    root: &Path,
    tmp: &Path,
) -> io::Result<bool> {
    fs::create_dir_all(tmp)?;
    let mut staged: Vec<(PathBuf, &OutputFile)> = Vec::new();
    let mut ok = true;
    for out in outputs {
        let staging = match mem.get(&out.digest) {
            Some(bytes) => stage_bytes(bytes, out, tmp),
            None => stage(store, out, tmp),
        };
        match staging {
            Ok(Some(path)) => staged.push((path, out)),
            Ok(None) => {
                ok = false;
                break;
            }
            Err(e) => {
                remove_all(staged.iter().map(|(p, _)| p.as_path()));
                return Err(e);
            }
        }
    }
    if !ok {
        remove_all(staged.iter().map(|(p, _)| p.as_path()));
        return Ok(false);
    }
    place_all(&staged, root)?;
    Ok(true)
}

/// Rename every staged file over its output; on a failure, take back the
/// ones already placed (all or none) and drop the rest.
fn place_all(staged: &[(PathBuf, &OutputFile)], root: &Path) -> io::Result<()> {
    let mut placed: Vec<PathBuf> = Vec::new();
    for (i, (tmp, out)) in staged.iter().enumerate() {
        let dest = root.join(&out.path);
        let moved = dest
            .parent()
            .map_or(Ok(()), fs::create_dir_all)
            .and_then(|_| fs::rename(tmp, &dest));
        if let Err(e) = moved {
            remove_all(placed.iter().map(PathBuf::as_path));
            remove_all(staged[i..].iter().map(|(p, _)| p.as_path()));
            return Err(io::Error::new(
                e.kind(),
                format!("cannot restore {}: {e}", dest.display()),
            ));
        }
        placed.push(dest);
    }
    Ok(())
}

/// Blob `out.digest` as a verified temp file with `out`'s mode (None:
/// missing or corrupt; a corrupt blob is removed from the store).
fn stage(store: &LocalStore, out: &OutputFile, tmp: &Path) -> io::Result<Option<PathBuf>> {
    let Ok(mut blob) = File::open(store.blob_path(&out.digest)) else {
        return Ok(None);
    };
    let path = temp_name(tmp);
    let mut dest = File::create(&path)?;
    let got = match clone(&blob, &dest) {
        true => copy_hashing(&mut File::open(&path)?, &mut io::sink()),
        false => copy_hashing(&mut blob, &mut dest),
    };
    let good = got.as_ref().is_ok_and(|d| *d == out.digest);
    if !good {
        drop(dest);
        let _ = fs::remove_file(&path);
        if got.is_ok() {
            store.remove_blob(&out.digest);
        }
        return Ok(None);
    }
    let mode = if out.executable { 0o755 } else { 0o644 };
    dest.set_permissions(fs::Permissions::from_mode(mode))?;
    super::local::touch(&store.blob_path(&out.digest));
    Ok(Some(path))
}

/// Verified bytes `bytes` as a temp file with `out`'s mode (None: they are
/// not what `out` names).
fn stage_bytes(bytes: &[u8], out: &OutputFile, tmp: &Path) -> io::Result<Option<PathBuf>> {
    if Digest::of(bytes) != out.digest {
        return Ok(None);
    }
    let path = temp_name(tmp);
    let mut dest = File::create(&path)?;
    std::io::Write::write_all(&mut dest, bytes)?;
    let mode = if out.executable { 0o755 } else { 0o644 };
    dest.set_permissions(fs::Permissions::from_mode(mode))?;
    Ok(Some(path))
}

/// Share `from`'s extents with `to` (FICLONE); false where the file system
/// cannot (then the caller copies).
fn clone(from: &File, to: &File) -> bool {
    // SAFETY: both descriptors are open and owned by the caller.
    unsafe { libc::ioctl(to.as_raw_fd(), libc::FICLONE, from.as_raw_fd()) == 0 }
}

fn temp_name(tmp: &Path) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    tmp.join(format!("restore-{}-{n}", std::process::id()))
}

fn remove_all<'a>(paths: impl Iterator<Item = &'a Path>) {
    for p in paths {
        let _ = fs::remove_file(p);
    }
}

/// The captured output blob's bytes, verified (None: missing or corrupt).
pub fn output_bytes(store: &LocalStore, d: &Digest) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(store.blob_path(d))
        .ok()?
        .read_to_end(&mut bytes)
        .ok()?;
    match Digest::of(&bytes) == *d {
        true => Some(bytes),
        false => {
            store.remove_blob(d);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_or_none() {
        let t = tempfile::tempdir().unwrap();
        let store = LocalStore::open(&t.path().join("store")).unwrap();
        let root = t.path().join("proj");
        let tmp = t.path().join("tmp");
        let a = store.put_blob(b"aaa").unwrap();
        let out = |p: &str, d| OutputFile {
            path: p.into(),
            digest: d,
            executable: false,
            contents: None,
        };
        let mut mem = InMemory::new();
        let missing = Digest::of(b"never stored");
        let r = restore(
            (&store, &mem),
            &[out("x/a", a), out("b", missing)],
            &root,
            &tmp,
        );
        assert!(!r.unwrap());
        assert!(!root.join("x/a").exists(), "none restored");
        assert!(restore((&store, &mem), &[out("x/a", a)], &root, &tmp).unwrap());
        assert_eq!(fs::read(root.join("x/a")).unwrap(), b"aaa");
        mem.insert(missing, b"never stored".to_vec());
        assert!(restore((&store, &mem), &[out("b", missing)], &root, &tmp).unwrap());
        assert_eq!(fs::read(root.join("b")).unwrap(), b"never stored");
        assert_eq!(fs::read_dir(&tmp).unwrap().count(), 0);
    }
}
