//! Path and prefix mapping: project-relative paths, job prefixes inside the
//! mount, and the inode numbers that encode which job a node belongs to.
//!
//! The one rule: a node is `(job, project-relative path)`. Its path inside the
//! mount is `<mnt>/@job-N/<path>`, on disk it is `<root>/<path>` (or the job's
//! staged copy), and its inode number is `job << 32 | local`.

use std::ffi::{OsStr, OsString};
use std::path::{Component, Path, PathBuf};

use crate::JobId;

/// The name of a job's directory at the top of the mount: `@job-N`.
pub(crate) fn job_dir_name(job: JobId) -> String {
    format!("@job-{}", job.0)
}

/// The job whose top-level directory is called `name`, if it is one.
pub(crate) fn parse_job_dir(name: &OsStr) -> Option<JobId> {
    let digits = name.to_str()?.strip_prefix("@job-")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().map(JobId)
}

/// Where a job's view of the project root lives inside the mount.
pub(crate) fn job_view(mountpoint: &Path, job: JobId) -> PathBuf {
    mountpoint.join(job_dir_name(job))
}

/// The inode number of the mount's own root (lists the active jobs).
pub(crate) const MOUNT_ROOT: u64 = 1;

/// What an inode number names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ino {
    /// The top of the mount.
    MountRoot,
    /// Node `local` of `job`'s inode table (0 is the job's view of the root).
    Node(JobId, u32),
}

impl Ino {
    /// Decode a kernel inode number.
    pub(crate) fn decode(ino: u64) -> Option<Ino> {
        if ino == MOUNT_ROOT {
            return Some(Ino::MountRoot);
        }
        let job = ino >> 32;
        (job != 0).then_some(Ino::Node(JobId(job), ino as u32))
    }

    /// Encode for the kernel. Job numbers stay below 2^32 (one per command).
    pub(crate) fn encode(self) -> u64 {
        match self {
            Ino::MountRoot => MOUNT_ROOT,
            Ino::Node(job, local) => (job.0 << 32) | u64::from(local),
        }
    }
}

/// `parent/name` as a project-relative path ("" is the root).
pub(crate) fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        let mut s = String::with_capacity(parent.len() + 1 + name.len());
        s.push_str(parent);
        s.push('/');
        s.push_str(name);
        s
    }
}

/// The parent of a project-relative path ("" for a top-level name).
pub(crate) fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(p, _)| p)
}

/// Whether `path` is `dir` itself or lies below it.
pub(crate) fn is_within(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || path == dir
        || (path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/')
}

/// `path` with its leading `from` replaced by `to` (caller checked
/// [`is_within`]).
pub(crate) fn rebase(path: &str, from: &str, to: &str) -> String {
    format!("{to}{}", &path[from.len()..])
}

/// The top-level names under `root` that hold tupfs's own state (the
/// mountpoint, the scratch directory) and must not appear in any view.
pub(crate) fn hidden_names(root: &Path, own: &[&Path]) -> Vec<OsString> {
    let mut names = Vec::new();
    for dir in own {
        if let Ok(rest) = dir.strip_prefix(root) {
            if let Some(Component::Normal(first)) = rest.components().next() {
                if !names.iter().any(|n: &OsString| n == first) {
                    names.push(first.to_owned());
                }
            }
        }
    }
    names
}

/// The project-relative path of a name the kernel handed us, or `None`
/// when it is not valid UTF-8 (such names pass through untraced).
pub(crate) fn name_str(name: &OsStr) -> Option<&str> {
    name.to_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_dir_names_round_trip() {
        let id = JobId(42);
        assert_eq!(parse_job_dir(OsStr::new(&job_dir_name(id))), Some(id));
        assert_eq!(parse_job_dir(OsStr::new("@job-")), None);
        assert_eq!(parse_job_dir(OsStr::new("@job-1x")), None);
        assert_eq!(parse_job_dir(OsStr::new("src")), None);
    }

    #[test]
    fn inode_numbers_round_trip() {
        for ino in [
            Ino::MountRoot,
            Ino::Node(JobId(1), 0),
            Ino::Node(JobId(7), 123),
        ] {
            assert_eq!(Ino::decode(ino.encode()), Some(ino));
        }
        assert_eq!(Ino::decode(2), None);
    }

    #[test]
    fn join_parent_within() {
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("a/b", "c"), "a/b/c");
        assert_eq!(parent("a/b/c"), "a/b");
        assert_eq!(parent("a"), "");
        assert!(is_within("a/b", "a"));
        assert!(is_within("a", "a"));
        assert!(!is_within("ab", "a"));
        assert!(is_within("x", ""));
        assert_eq!(rebase("a/b/c", "a/b", "z"), "z/c");
    }

    #[test]
    fn hides_own_state_dirs() {
        let root = Path::new("/p");
        let names = hidden_names(
            root,
            &[
                Path::new("/p/.tupfs/mnt"),
                Path::new("/p/.tupfs/tmp"),
                Path::new("/elsewhere"),
            ],
        );
        assert_eq!(names, vec![OsString::from(".tupfs")]);
    }
}
