//! The one path type: a normalised, project-relative path (`ProjPath`).
//!
//! Every stage speaks `ProjPath`. Mapping it to disk, to the FUSE mount or to
//! a job's view happens in exactly one place each (`to_disk` here, the mount
//! and view mappings in the `tupfs-fuse` crate), so "where does this path
//! live?" has one answer.

use std::fmt;
use std::path::{Component, Path, PathBuf};

/// A path relative to the project root, normalised: no `.`, no `..`, no
/// leading or trailing `/`, no doubled separators. The root itself is `""`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ProjPath(String);

/// Why a path could not be made project-relative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// The path climbs above the project root with `..`.
    OutsideProject(String),
    /// The path is absolute and not below the project root.
    Absolute(String),
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathError::OutsideProject(p) => write!(f, "path '{p}' is outside the project"),
            PathError::Absolute(p) => write!(f, "absolute path '{p}' is outside the project"),
        }
    }
}

impl std::error::Error for PathError {}

impl ProjPath {
    /// The project root.
    pub fn root() -> ProjPath {
        ProjPath(String::new())
    }

    /// Resolve `rel` (which may contain `.` and `..`) against the directory
    /// `base`, normalising the result. Fails if it leaves the project.
    pub fn join(base: &ProjPath, rel: &str) -> Result<ProjPath, PathError> {
        if rel.starts_with('/') {
            return Err(PathError::Absolute(rel.to_string()));
        }
        let mut parts: Vec<&str> = base.components().collect();
        for part in rel.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() {
                        return Err(PathError::OutsideProject(rel.to_string()));
                    }
                }
                p => parts.push(p),
            }
        }
        Ok(ProjPath(parts.join("/")))
    }

    /// Parse an already project-relative string (normalising it).
    pub fn new(rel: &str) -> Result<ProjPath, PathError> {
        // Most strings (e.g. every path read back from the index) are
        // normal already: copy them without splitting.
        let normal = !rel.starts_with('/')
            && !rel.ends_with('/')
            && rel.split('/').all(|part| !matches!(part, "" | "." | ".."));
        if normal || rel.is_empty() {
            return Ok(ProjPath(rel.to_string()));
        }
        ProjPath::join(&ProjPath::root(), rel)
    }

    /// Make an absolute path on disk project-relative, given the root.
    pub fn from_disk(root: &Path, abs: &Path) -> Result<ProjPath, PathError> {
        let rel = abs
            .strip_prefix(root)
            .map_err(|_| PathError::Absolute(abs.display().to_string()))?;
        let mut s = String::new();
        for c in rel.components() {
            match c {
                Component::Normal(n) => {
                    if !s.is_empty() {
                        s.push('/');
                    }
                    s.push_str(&n.to_string_lossy());
                }
                _ => return ProjPath::new(&rel.to_string_lossy()),
            }
        }
        Ok(ProjPath(s))
    }

    /// The path as a string (`""` for the root).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for the project root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The path's components, root-first.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|s| !s.is_empty())
    }

    /// The containing directory (the root's parent is the root).
    pub fn parent(&self) -> ProjPath {
        match self.0.rfind('/') {
            Some(i) => ProjPath(self.0[..i].to_string()),
            None => ProjPath::root(),
        }
    }

    /// The last component (`""` for the root).
    pub fn file_name(&self) -> &str {
        match self.0.rfind('/') {
            Some(i) => &self.0[i + 1..],
            None => &self.0,
        }
    }

    /// A child of this directory.
    pub fn child(&self, name: &str) -> ProjPath {
        if self.is_root() {
            ProjPath(name.to_string())
        } else {
            ProjPath(format!("{}/{}", self.0, name))
        }
    }

    /// True if `self` is `dir` or lies below it.
    pub fn starts_with(&self, dir: &ProjPath) -> bool {
        dir.is_root()
            || self.0 == dir.0
            || (self.0.starts_with(&dir.0) && self.0.as_bytes().get(dir.0.len()) == Some(&b'/'))
    }

    /// This path written relative to the directory `from` (with `..` as needed),
    /// as tup writes `%f` and friends. The root relative to itself is `.`.
    pub fn relative_to(&self, from: &ProjPath) -> String {
        let a: Vec<&str> = self.components().collect();
        let b: Vec<&str> = from.components().collect();
        let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
        let mut out: Vec<&str> = vec![".."; b.len() - common];
        out.extend(&a[common..]);
        if out.is_empty() {
            ".".to_string()
        } else {
            out.join("/")
        }
    }

    /// Where this path lives on disk under the project `root`.
    pub fn to_disk(&self, root: &Path) -> PathBuf {
        if self.is_root() {
            root.to_path_buf()
        } else {
            root.join(&self.0)
        }
    }
}

impl fmt::Display for ProjPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str(".")
        } else {
            f.write_str(&self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_normalises() {
        let base = ProjPath::new("a/b").unwrap();
        assert_eq!(ProjPath::join(&base, "../c/./d").unwrap().as_str(), "a/c/d");
        assert_eq!(ProjPath::join(&base, "../../x").unwrap().as_str(), "x");
        assert!(ProjPath::join(&base, "../../../x").is_err());
        assert!(ProjPath::join(&base, "/etc/passwd").is_err());
    }

    #[test]
    fn relative_to_walks_up() {
        let p = ProjPath::new("lib/x.o").unwrap();
        assert_eq!(p.relative_to(&ProjPath::new("app").unwrap()), "../lib/x.o");
        assert_eq!(p.relative_to(&ProjPath::new("lib").unwrap()), "x.o");
        assert_eq!(ProjPath::root().relative_to(&ProjPath::root()), ".");
    }

    #[test]
    fn starts_with_is_component_wise() {
        let p = ProjPath::new("ab/c").unwrap();
        assert!(p.starts_with(&ProjPath::new("ab").unwrap()));
        assert!(!p.starts_with(&ProjPath::new("a").unwrap()));
        assert!(p.starts_with(&ProjPath::root()));
    }
}
