//! Full dependencies (tup's `updater.full_deps`): files outside the project
//! that commands read, executed or looked for in vain (compilers, system
//! headers, shared libraries, tools), recorded in their own path space
//! ([`OutsidePath`]), judged by the same [`crate::change::ChangeDetector`]
//! as sources, and scanned once per distinct file ([`scan`]).

mod scan;

pub use scan::scan;

use std::fmt;
use std::path::Path;

/// An absolute, normalised path outside the project: starts with `/`, no
/// `.` or `..`, no doubled or trailing `/`. Never a [`crate::paths::ProjPath`]:
/// the two spaces do not mix.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct OutsidePath(String);

impl OutsidePath {
    /// Parse an absolute path (normalising `.`, `..` and doubled `/`); an
    /// error says what was expected.
    pub fn new(abs: &str) -> Result<OutsidePath, String> {
        if !abs.starts_with('/') {
            return Err(format!("'{abs}' is not an absolute path"));
        }
        let mut parts: Vec<&str> = Vec::new();
        for part in abs.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                p => parts.push(p),
            }
        }
        Ok(OutsidePath(format!("/{}", parts.join("/"))))
    }

    /// The path as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path on disk.
    pub fn as_path(&self) -> &Path {
        Path::new(&self.0)
    }
}

impl fmt::Display for OutsidePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_paths_are_absolute_and_normal() {
        assert_eq!(
            OutsidePath::new("/usr//include/./x/../stdio.h")
                .unwrap()
                .as_str(),
            "/usr/include/stdio.h"
        );
        assert_eq!(OutsidePath::new("/").unwrap().as_str(), "/");
        assert!(OutsidePath::new("usr/include").is_err());
    }
}
