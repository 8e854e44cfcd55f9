//! Where a project lives: finding its root and making its `.tupfs/` state
//! directory (`tupfs init`).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The name of the per-project state directory.
pub const STATE_DIR: &str = ".tupfs";

/// tup's own state directory: it marks a project root, and tupfs never
/// writes in it.
pub const TUP_STATE_DIR: &str = ".tup";

/// A located project: its root and its state directory.
#[derive(Debug, Clone)]
pub struct Project {
    /// The project root (absolute, canonical).
    pub root: PathBuf,
}

impl Project {
    /// The `.tupfs/` directory.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join(STATE_DIR)
    }

    /// True once `tupfs init` (or a first build) made `.tupfs/`.
    pub fn is_initialised(&self) -> bool {
        self.state_dir().is_dir()
    }

    /// Find the project that contains `start`: the nearest directory holding
    /// `.tupfs/`, else the nearest holding tup's `.tup/` (a tup project: its
    /// `.tup/` is left alone), else the highest one holding a `Tupfile.ini`.
    pub fn find(start: &Path) -> Result<Project> {
        let start = start
            .canonicalize()
            .with_context(|| format!("cannot open directory {}", start.display()))?;
        let mut highest_ini = None;
        let mut nearest_tup = None;
        for dir in start.ancestors() {
            if dir.join(STATE_DIR).is_dir() {
                return Ok(Project {
                    root: dir.to_path_buf(),
                });
            }
            if nearest_tup.is_none() && dir.join(TUP_STATE_DIR).is_dir() {
                nearest_tup = Some(dir.to_path_buf());
            }
            if dir.join("Tupfile.ini").is_file() {
                highest_ini = Some(dir.to_path_buf());
            }
        }
        match nearest_tup.or(highest_ini) {
            Some(root) => Ok(Project { root }),
            None => bail!(
                "no tupfs project found in {} or any parent: run `tupfs init` at the project root \
                 (or create a Tupfile.ini there)",
                start.display()
            ),
        }
    }

    /// Make `.tupfs/` in `dir` (idempotent) and return the project.
    pub fn init(dir: &Path) -> Result<Project> {
        let root = dir
            .canonicalize()
            .with_context(|| format!("cannot open directory {}", dir.display()))?;
        let project = Project { root };
        let state = project.state_dir();
        for sub in ["", "tmp", "log"] {
            let d = state.join(sub);
            fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
        }
        let options = state.join("options");
        if !options.exists() {
            fs::write(&options, DEFAULT_OPTIONS)
                .with_context(|| format!("cannot write {}", options.display()))?;
        }
        Ok(project)
    }

    /// Initialise on first use, as a build in a tree with a Tupfile.ini does.
    pub fn ensure_initialised(&self) -> Result<()> {
        if !self.is_initialised() {
            Project::init(&self.root)?;
        }
        Ok(())
    }
}

/// The options file written by `tupfs init`.
const DEFAULT_OPTIONS: &str = "\
# tupfs options for this project. `key = value`; `#` starts a comment.
# change: how a file counts as changed: mtime | digest | mtime+digest | mtime+digest-inputs
change = mtime
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_highest_tupfile_ini_and_prefers_state_dir() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().canonicalize().unwrap();
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::write(root.join("Tupfile.ini"), "").unwrap();
        fs::write(root.join("a/Tupfile.ini"), "").unwrap();
        assert_eq!(Project::find(&root.join("a/b")).unwrap().root, root);
        Project::init(&root.join("a")).unwrap();
        assert_eq!(
            Project::find(&root.join("a/b")).unwrap().root,
            root.join("a")
        );
        assert!(root.join("a/.tupfs/options").is_file());
    }

    #[test]
    fn a_tup_project_is_found_by_its_tup_dir() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().canonicalize().unwrap();
        fs::create_dir_all(root.join("p/.tup")).unwrap();
        fs::create_dir_all(root.join("p/src")).unwrap();
        fs::write(root.join("Tupfile.ini"), "").unwrap();
        assert_eq!(
            Project::find(&root.join("p/src")).unwrap().root,
            root.join("p")
        );
    }

    #[test]
    fn no_project_is_a_clear_error() {
        let t = tempfile::tempdir().unwrap();
        let err = Project::find(t.path()).unwrap_err().to_string();
        assert!(err.contains("no tupfs project found"), "{err}");
    }
}
