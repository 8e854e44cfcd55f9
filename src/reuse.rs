//! Re-using the last parse: the index says what every Tupfile's parse read
//! and what the source tree looked like; when none of that changed, the
//! rules come from the index and no Tupfile is parsed.
//!
//! A parse depends on (1) the files each Tupfile's parse read (the Tupfile,
//! includes, `Tuprules.tup` probed absent, `run` scripts), judged by the
//! change detector like any input; (2) the environment variables `import`
//! read and the config values it read; (3) the tree: the listing of every
//! source directory (which names exist, minus the outputs of the build: a
//! new source file, Tupfile or directory anywhere changes it) and the
//! contents of each `tup.config`. Which Tupfiles a change re-parses is
//! [`crate::reparse`]'s business.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::change::{ChangeDetector, ChangeSource, Changes, FileKind, FileState, FullScan, Moment};
use crate::identity::{self, Digest};
use crate::index::{FileSlot, Generation, Index, IndexOptions, Listing, Open, TreeEntry};
use crate::listings::{self, Listings, Seen};
use crate::monitor::since::Since;
use crate::monitor::source::Narrowed;
use crate::options::ChangeMode;
use crate::paths::ProjPath;
use crate::project::Project;
use crate::tupfile::{ParseOptions, ParsedProject, Rule};

/// The one-line warning for a damaged index.
fn damaged(why: &str) -> String {
    format!("the index is damaged ({why}): rebuilding everything")
}

/// The file name whose contents (not listing) a tree entry records.
pub const CONFIG_FILE: &str = "tup.config";

/// Threads that turn the index's commands back into rules.
const RULE_THREADS: usize = 2;

/// Threads that list directories (listing is mostly system time).
const TREE_THREADS: usize = 2;

/// The last build's index, opened once for the whole build, and the scan of
/// every file it records.
pub struct Prior {
    /// The index (None: first build, or unusable: see `note`).
    pub index: Option<Index>,
    /// Why an existing index cannot be used, for a one-line warning.
    pub note: Option<String>,
    /// The judgement of each of the index's files (empty without one, and
    /// until the caller stores [`Prior::scan`]'s result here).
    pub scan: Changes,
    /// The change mode of this build.
    pub mode: ChangeMode,
    /// What the monitor says may have changed since the index (None: no
    /// monitor to trust; every recorded file is judged).
    pub since: Option<crate::monitor::since::Since>,
    /// This build traces reads outside the project (set by the caller
    /// after [`Prior::open`]; false by default).
    pub full_deps: bool,
}

impl Prior {
    /// Open `project`'s index for a build in `mode` (not scanned yet, and
    /// its checksum not verified yet: call [`Prior::discard_if_damaged`]
    /// before acting on anything taken from it).
    pub fn open(project: &Project, mode: ChangeMode) -> Prior {
        let path = project.state_dir().join(crate::index::INDEX_FILE);
        let opened = Index::open_unconfirmed(&path, &IndexOptions { change_mode: mode });
        Prior::from_open(opened, mode)
    }

    /// Open `project`'s index without its checksum, for the monitor's
    /// no-op (see [`crate::monitor::noop`] for why that holds).
    pub fn open_trusted(project: &Project, mode: ChangeMode) -> Prior {
        let path = project.state_dir().join(crate::index::INDEX_FILE);
        let opened = Index::open_trusted(&path, &IndexOptions { change_mode: mode });
        Prior::from_open(opened, mode)
    }

    /// The prior state for what opening the index gave.
    fn from_open(opened: Open, mode: ChangeMode) -> Prior {
        let (index, note) = match opened {
            Open::Ready(index) => (Some(index), None),
            Open::Missing => (None, None),
            Open::Stale(why) => (
                None,
                Some(format!(
                    "the index is from another tupfs ({why}): rebuilding everything"
                )),
            ),
            Open::Corrupt(why) => (None, Some(damaged(&why))),
        };
        Prior {
            index,
            note,
            scan: Changes::default(),
            mode,
            since: None,
            full_deps: false,
        }
    }

    /// Open, scan and verify (for callers that have nothing to do
    /// meanwhile).
    pub fn open_scanned(project: &Project, mode: ChangeMode) -> Prior {
        let mut prior = Prior::open(project, mode);
        prior.scan = prior.scan(&project.root);
        prior.discard_if_damaged();
        prior
    }

    /// Wait for the index's checksum. When it does not match, the index is
    /// dropped as if it had failed to open (one-line note, empty scan) and
    /// this returns true: whatever was decided from it (the scan, the tree
    /// check, a parse that excluded its outputs) must be decided again.
    pub fn discard_if_damaged(&mut self) -> bool {
        let Some(Err(why)) = self.index.as_mut().map(Index::confirm) else {
            return false;
        };
        self.index = None;
        self.note = Some(damaged(&why));
        self.scan = Changes::default();
        true
    }

    /// Judge every recorded file (empty without an index): those the
    /// monitor names when it is trusted, else all of them.
    pub fn scan(&self, root: &Path) -> Changes {
        let detector = ChangeDetector::new(self.mode);
        match (&self.index, &self.since) {
            (Some(index), Some(since)) => Narrowed::new(root, since).changes(index, detector),
            (Some(index), None) => FullScan::new(root).changes(index, detector),
            (None, _) => Changes::default(),
        }
    }

    /// Every output the last build recorded (for the parser: a glob must
    /// not match one unless a rule still produces it).
    pub fn previous_outputs(&self) -> BTreeSet<ProjPath> {
        let Some(index) = &self.index else {
            return BTreeSet::new();
        };
        index
            .output_paths()
            .filter_map(|p| ProjPath::new(p).ok())
            .collect()
    }

    /// The options of a parse for a build: the last build's outputs are
    /// not sources.
    pub fn parse_options(&self) -> ParseOptions {
        ParseOptions {
            previous_outputs: self.previous_outputs(),
            ..Default::default()
        }
    }

    /// The last build's rules, from the index, in the parser's order
    /// (variant, the Tupfile's directory, position). Only right for the
    /// Tupfiles [`crate::reparse`] found clean.
    pub fn rules(&self) -> Result<Vec<Rule>, String> {
        let index = self.index.as_ref().ok_or("no index")?;
        let count = index.command_count();
        let mut rules = crate::change::parallel_map(count, RULE_THREADS, |i| {
            let c = index.command_at(crate::index::CmdSlot(i as u32))?;
            Some(c.to_rule().map(|rule| (c.position(), rule)))
        })
        .into_iter()
        .flatten()
        .collect::<Result<Vec<(u32, Rule)>, _>>()
        .map_err(|e: crate::paths::PathError| format!("the index holds a bad path: {e}"))?;
        rules.sort_by(|(pa, a), (pb, b)| {
            (&a.variant, &a.source_dir, pa).cmp(&(&b.variant, &b.source_dir, pb))
        });
        Ok(rules.into_iter().map(|(_, rule)| rule).collect())
    }

    /// Before the scan: could this build be a no-op at all? The last build
    /// left every command up to date and every exported variable still has
    /// its recorded value. (Then [`Prior::nothing_to_do`] decides.)
    pub fn may_be_up_to_date(&self) -> bool {
        let Some(index) = &self.index else {
            return false;
        };
        index.all_up_to_date()
            && index.options().change_mode == self.mode
            && (!self.full_deps || index.full_deps())
            && index
                .variables()
                .all(|(name, digest)| match name.strip_prefix('$') {
                    Some(var) => env_digest(var) == digest,
                    None => true,
                })
    }

    /// After the scan, with rules that need no parse: no command can have a
    /// reason to run, and the index already says so (every recorded file
    /// is exactly as recorded). Decided without the graph or the plan.
    ///
    /// Never with `^t` rules: the index records a transient output as it
    /// was committed, before its deletion, so "exactly as recorded" means
    /// it is still on disk (a killed build left it) and must be deleted by
    /// the full path. (Without leftovers it is absent, not as recorded, and
    /// the full path runs anyway.)
    pub fn nothing_to_do(&self) -> bool {
        self.may_be_up_to_date()
            && self
                .index
                .as_ref()
                .is_some_and(|i| !i.has_transient() && settled(i, &self.scan))
    }

    /// Why the index cannot stand in for any Tupfile's parse (then every
    /// Tupfile is parsed), or None.
    pub fn unusable(&self) -> Option<String> {
        let Some(index) = &self.index else {
            return Some("no index".into());
        };
        if !index.commands_are_rules() {
            return Some("the last build kept a stale output's command".into());
        }
        if index.tree().next().is_none() || index.tupfiles().next().is_none() {
            return Some("the index records no parse".into());
        }
        None
    }

    /// What of the tree (source directories, `tup.config`s) differs from
    /// what the last parse saw.
    pub fn changed_tree(&self, root: &Path) -> TreeChanges {
        self.changed_tree_since(root, self.since.as_ref())
    }

    /// [`Prior::changed_tree`], listing again only the directories `since`
    /// names (all of them when None).
    pub fn changed_tree_since(&self, root: &Path, since: Option<&Since>) -> TreeChanges {
        match &self.index {
            Some(index) => changed_tree(index, root, since),
            None => TreeChanges::default(),
        }
    }

    /// True when the scan judged the file a parse read (at `slot`, seen in
    /// generation `since`) changed. Directories are judged by their
    /// listing, in the tree, not by their mtime (every build that writes
    /// an output moves its directory's mtime): never by this.
    pub fn read_changed(&self, slot: FileSlot, since: Generation) -> bool {
        let Some(file) = self.index.as_ref().and_then(|i| i.file_at(slot)) else {
            return true;
        };
        if file.state().is_some_and(|s| s.kind == FileKind::Dir) {
            return false;
        }
        self.scan.is_changed(slot) || file.since() != since
    }
}

/// The digest of an environment variable's value now (as commands and
/// `import` see it).
pub fn env_digest(name: &str) -> Digest {
    identity::value_digest(identity::process_env(name).as_deref())
}

/// True when every file `index` records was judged exactly as recorded
/// ([`crate::change::Judgement::is_settled`]): writing the index again
/// would record the same.
pub fn settled(index: &Index, scan: &Changes) -> bool {
    // Only what is not as recorded is listed (a monitor's answer may
    // list a judged file that came out as recorded).
    let unsettled = scan.files.iter().find(|(slot, j)| {
        !index
            .file_at(*slot)
            .is_some_and(|f| j.is_settled(&f.as_recorded()))
    });
    if let Some((slot, j)) = &unsettled {
        let path = index.file_at(*slot).map_or("?", |f| f.path());
        log::debug!("not as recorded: {path} ({j:?})");
    }
    let outside = index.outside_files().find(|f| {
        !scan
            .outside(f.slot())
            .is_some_and(|j| j.is_settled(&f.as_recorded()))
    });
    if let Some(f) = &outside {
        log::debug!("not as recorded: {} (outside)", f.path());
    }
    unsettled.is_none() && outside.is_none()
}

/// What of the tree differs from what the last parse saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TreeChanges {
    /// The source directories whose names of files, and the `tup.config`s
    /// whose contents, changed.
    pub files: BTreeSet<String>,
    /// The source directories whose subdirectory names changed (only the
    /// walk for Tupfiles cares).
    pub dirs: BTreeSet<String>,
}

impl TreeChanges {
    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.dirs.is_empty()
    }
}

/// What of the tree differs from what the last parse saw.
fn changed_tree(index: &Index, root: &Path, since: Option<&Since>) -> TreeChanges {
    let is_output = |p: &str| index.is_output(p);
    let entries: Vec<(&str, Listing)> = index
        .tree()
        .filter(|(path, _)| since.map_or(true, |s| s.may_have_changed(path)))
        .collect();
    let seen = Listings::load(&root.join(crate::project::STATE_DIR));
    let token = listings::outputs_token(index);
    let now = crate::change::parallel_map(entries.len(), TREE_THREADS, |i| {
        ProjPath::new(entries[i].0)
            .ok()
            .map(|p| listing_now(root, &p, &is_output, &seen, token))
    });
    let fresh = now
        .iter()
        .zip(&entries)
        .filter_map(|(now, (path, _))| Some((path.to_string(), now.as_ref()?.1?)))
        .collect();
    seen.update(fresh);
    let mut changes = TreeChanges::default();
    for ((path, recorded), now) in entries.iter().zip(now) {
        let now = now.map(|(listing, _)| listing).unwrap_or_default();
        if now.files != recorded.files {
            changes.files.insert(path.to_string());
        }
        if now.dirs != recorded.dirs {
            changes.dirs.insert(path.to_string());
        }
    }
    changes
}

/// A tree entry's listing now: a directory whose state proves it
/// unchanged since [`Listings`] saw it is not listed again ([`crate::listings`]);
/// one listed anew comes with what to remember of it.
fn listing_now(
    root: &Path,
    path: &ProjPath,
    is_output: &dyn Fn(&str) -> bool,
    seen: &Listings,
    outputs: u64,
) -> (Listing, Option<Seen>) {
    if path.file_name() == CONFIG_FILE {
        return (tree_listing(root, path, is_output), None);
    }
    let taken = Moment::now();
    let state = FileState::lstat(&path.to_disk(root)).ok().flatten();
    if let Some(listing) = seen
        .get(path.as_str())
        .and_then(|s| s.still(state, outputs))
    {
        return (listing, None);
    }
    let listing = listing(root, path, is_output);
    let fresh = state.filter(|s| s.kind == FileKind::Dir).map(|state| Seen {
        state,
        taken,
        outputs,
        listing,
    });
    (listing, fresh)
}

/// The tree a parse saw: each walked directory's listing digest and each
/// `tup.config`'s content digest. `is_output` tells the build's outputs,
/// which are not part of a listing (commands create and delete them).
pub fn tree_entries(
    root: &Path,
    parsed: &ParsedProject,
    is_output: &(dyn Fn(&str) -> bool + Sync),
) -> Vec<TreeEntry> {
    let configs: Vec<ProjPath> = match parsed.variants.is_empty() {
        true => vec![ProjPath::root().child(CONFIG_FILE)],
        false => parsed
            .variants
            .iter()
            .map(|v| v.child(CONFIG_FILE))
            .collect(),
    };
    parsed
        .tree_dirs
        .iter()
        .chain(&configs)
        .map(|path| TreeEntry {
            path: path.clone(),
            listing: tree_listing(root, path, is_output),
        })
        .collect()
}

/// A `tup.config`'s content digest, or a directory's listing digests.
fn tree_listing(root: &Path, path: &ProjPath, is_output: &dyn Fn(&str) -> bool) -> Listing {
    match path.file_name() == CONFIG_FILE {
        true => Listing {
            files: match fs::read(path.to_disk(root)) {
                Ok(bytes) => Digest::of(&bytes),
                Err(_) => Digest([0; 32]),
            },
            dirs: Digest([0; 32]),
        },
        false => listing(root, path, is_output),
    }
}

/// SHA-256s over the sorted visible names of `dir` that are not outputs:
/// those of non-directories and those of directories (a missing
/// directory: all zeros).
fn listing(root: &Path, dir: &ProjPath, is_output: &dyn Fn(&str) -> bool) -> Listing {
    match dir_entries(&dir.to_disk(root)) {
        Some(entries) => listing_of(dir, &entries, is_output),
        None => Listing::default(),
    }
}

/// Every entry of the directory at `path` (hidden ones too): its name and
/// whether it is a directory, sorted by name. None: it cannot be listed.
pub(crate) fn dir_entries(path: &Path) -> Option<Vec<(Vec<u8>, bool)>> {
    let mut names: Vec<(Vec<u8>, bool)> = fs::read_dir(path)
        .ok()?
        .flatten()
        .map(|e| {
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            (e.file_name().as_bytes().to_vec(), is_dir)
        })
        .collect();
    names.sort();
    Some(names)
}

/// [`listing`] of the directory `dir` whose [`dir_entries`] are `entries`.
pub(crate) fn listing_of(
    dir: &ProjPath,
    entries: &[(Vec<u8>, bool)],
    is_output: &dyn Fn(&str) -> bool,
) -> Listing {
    let (mut files, mut dirs) = (Sha256::new(), Sha256::new());
    let visible = entries.iter().filter(|(name, _)| !name.starts_with(b"."));
    // One buffer for every entry's path (what `dir.child(name)` spells).
    let mut path = String::with_capacity(dir.as_str().len() + 64);
    for (name, is_dir) in visible {
        path.clear();
        if !dir.is_root() {
            path.push_str(dir.as_str());
            path.push('/');
        }
        path.push_str(&String::from_utf8_lossy(name));
        if is_output(&path) {
            continue;
        }
        let hasher = if *is_dir { &mut dirs } else { &mut files };
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name);
    }
    Listing {
        files: Digest(files.finalize().into()),
        dirs: Digest(dirs.finalize().into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(root: &Path, dir: &str, outputs: &[&str]) -> Listing {
        let dir = ProjPath::new(dir).unwrap();
        tree_listing(root, &dir, &|p| outputs.contains(&p))
    }

    #[test]
    fn listing_sees_files_and_directories_apart_not_outputs_or_hidden_names() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        fs::create_dir_all(root.join("src")).unwrap();
        fs::write(root.join("src/a.c"), "").unwrap();
        let first = digest(root, "src", &["src/a.o"]);

        fs::write(root.join("src/a.o"), "object").unwrap();
        fs::write(root.join("src/.swp"), "").unwrap();
        fs::write(root.join("src/a.c"), "edited contents").unwrap();
        assert_eq!(
            digest(root, "src", &["src/a.o"]),
            first,
            "outputs, hidden names and contents do not count"
        );

        fs::write(root.join("src/b.c"), "").unwrap();
        let with_b = digest(root, "src", &["src/a.o"]);
        assert_ne!(with_b.files, first.files, "a new source file counts");
        assert_eq!(with_b.dirs, first.dirs, "among the files");

        fs::remove_file(root.join("src/b.c")).unwrap();
        fs::create_dir(root.join("src/b.c")).unwrap();
        let b_dir = digest(root, "src", &["src/a.o"]);
        assert_eq!(b_dir.files, first.files, "a file that became a directory");
        assert_ne!(b_dir.dirs, first.dirs, "is a new directory");

        assert_eq!(digest(root, "missing", &[]), Listing::default());
    }

    #[test]
    fn tup_config_is_judged_by_contents() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        let absent = digest(root, "tup.config", &[]).files;
        fs::write(root.join("tup.config"), "").unwrap();
        let empty = digest(root, "tup.config", &[]).files;
        assert_ne!(absent, empty, "an empty tup.config is not a missing one");
        fs::write(root.join("tup.config"), "CONFIG_X=y\n").unwrap();
        assert_ne!(digest(root, "tup.config", &[]).files, empty);
    }
}
