//! Variant mirrors (tup's variants): inside a variant directory a job also
//! sees the files of the source directory it mirrors, read-only, with the
//! variant's own files on top; reads of those files are recorded at their
//! source path, so dependencies name the real inputs.

use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;

use crate::paths;
use crate::AccessLog;

/// A variant directory that mirrors a source directory: where `dir` has
/// nothing at `dir/p`, a job sees `source/p` (tup: `build-debug/sub/a.c`
/// shows `sub/a.c`). Paths are project-relative ("" is the root).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VariantMirror {
    /// The variant directory, e.g. `build-debug`.
    pub dir: String,
    /// The source directory it mirrors; for tup, always the root ("").
    pub source: String,
}

/// Every variant of a mount, and what never shows through a mirror.
#[derive(Debug, Clone, Default)]
pub(crate) struct Mirrors {
    variants: Vec<VariantMirror>,
    /// Top-level names hidden from jobs (tupfs's own state).
    hidden: Arc<[OsString]>,
}

impl Mirrors {
    /// The mirrors of `variants`; `hidden` names never show through.
    /// A variant at the root itself would mirror everything onto itself;
    /// it is ignored.
    pub(crate) fn new(mut variants: Vec<VariantMirror>, hidden: Arc<[OsString]>) -> Mirrors {
        variants.retain(|v| !v.dir.is_empty());
        Mirrors { variants, hidden }
    }

    /// True when the mount has no variants (the common case: no lookups).
    pub(crate) fn is_empty(&self) -> bool {
        self.variants.is_empty()
    }

    /// The source path that `path` mirrors, if `path` lies in a variant
    /// directory and that source path may show through. A variant
    /// directory (this one or another) and tupfs's state never do: the
    /// root of `build-debug` must not show `build-debug` again.
    pub(crate) fn source_of(&self, path: &str) -> Option<String> {
        let variant = self
            .variants
            .iter()
            .find(|v| paths::is_within(path, &v.dir))?;
        let rest = path[variant.dir.len()..].trim_start_matches('/');
        let source = match rest {
            "" => variant.source.clone(),
            rest => paths::join(&variant.source, rest),
        };
        let top = source.split('/').next().unwrap_or_default();
        let hidden = self.hidden.iter().any(|h| h == top)
            || self
                .variants
                .iter()
                .any(|v| paths::is_within(&source, &v.dir));
        (!hidden).then_some(source)
    }

    /// Attribute a finished job's log to the source tree: a read of
    /// `dir/p` that nothing in the variant backs (now that the job's own
    /// writes are set apart) came from the source file, and `dir/p` was a
    /// path looked up in vain (a file put there later hides the source);
    /// a path looked up in vain in a variant was also missing from the
    /// source, so a file appearing at either place is a change the command
    /// must see. tup records the same.
    pub(crate) fn attribute(&self, root: &Path, log: &mut AccessLog) {
        if self.is_empty() {
            return;
        }
        let mut ghosts: Vec<String> = log
            .ghosts
            .iter()
            .filter_map(|g| self.source_of(g))
            .collect();
        for read in std::mem::take(&mut log.reads) {
            match self.source_of(&read) {
                Some(source) if std::fs::symlink_metadata(root.join(&read)).is_err() => {
                    log.reads.insert(source);
                    ghosts.push(read);
                }
                _ => {
                    log.reads.insert(read);
                }
            }
        }
        log.ghosts.extend(ghosts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mirrors() -> Mirrors {
        let v = |dir: &str| VariantMirror {
            dir: dir.into(),
            source: String::new(),
        };
        Mirrors::new(
            vec![v("build-debug"), v("out/rel")],
            vec![OsString::from(".tupfs")].into(),
        )
    }

    #[test]
    fn paths_in_a_variant_mirror_the_source_tree() {
        let m = mirrors();
        assert_eq!(
            m.source_of("build-debug/sub/a.c").as_deref(),
            Some("sub/a.c")
        );
        assert_eq!(m.source_of("build-debug").as_deref(), Some(""));
        assert_eq!(m.source_of("out/rel/x").as_deref(), Some("x"));
        assert_eq!(m.source_of("sub/a.c"), None, "not in a variant");
        assert_eq!(m.source_of("build-debugx/a.c"), None, "a sibling name");
    }

    #[test]
    fn variants_and_tupfs_state_never_show_through() {
        let m = mirrors();
        assert_eq!(m.source_of("build-debug/build-debug"), None);
        assert_eq!(m.source_of("build-debug/out/rel/a"), None);
        assert_eq!(m.source_of("build-debug/.tupfs/index"), None);
        assert_eq!(m.source_of("build-debug/out").as_deref(), Some("out"));
    }
}
