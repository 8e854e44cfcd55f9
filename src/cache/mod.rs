//! The content-addressed output cache (DESIGN.md, "The output cache"): a
//! command whose identity and TRACED reads were seen before is not run;
//! its outputs are restored from a store. Two-level key ([`key`]): level 1
//! names a manifest of read sets ([`manifest`]); a lookup digests each
//! set's files as they are now ([`observe`]) into level 2, which names a
//! result ([`result`]). Local store first ([`local`]), then a shared
//! remote ([`remote`]); restores are all or none ([`restore`]).

pub mod key;
pub mod local;
pub mod manifest;
pub mod observe;
pub mod readset;
pub mod remote;
pub mod restore;
pub mod result;
pub mod settings;
pub mod storer;
pub mod stores;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tupfs_fuse::AccessLog;

use crate::change::Moment;
use crate::graph::{CmdId, Graph};
use crate::identity::Identity;
use crate::paths::ProjPath;
use key::{Digest, Hash};
use local::LocalStore;
use manifest::ReadSet;
use observe::Observer;
use remote::Remote;
use result::CachedResult;
pub use settings::Settings;
use storer::{Keep, Storer};
use stores::Stores;

/// How often a build that stored something trims the local store.
const GC_EVERY: Duration = Duration::from_secs(3600);

/// The cache as one build uses it (shared by the workers).
pub struct Cache {
    stores: Arc<Stores>,
    storer: Storer,
    observer: Observer,
    signatures: Vec<Hash>,
    place: String,
    root: PathBuf,
    tmp: PathBuf,
    max_size: u64,
    /// Full deps: reads outside the project are in read sets.
    outside: bool,
    warnings: Mutex<Vec<String>>,
}

/// A command's level-1 key (made before it would run).
#[derive(Debug, Clone, Copy)]
pub struct Level1(Hash);

/// A command served from the cache: its outputs are in place.
#[derive(Debug)]
pub struct Hit {
    /// Which command.
    pub cmd: CmdId,
    /// The files its read set says it read (its observed inputs).
    pub reads: BTreeSet<ProjPath>,
    /// The paths it looked up in vain.
    pub ghosts: BTreeSet<ProjPath>,
    /// Its captured output, to replay.
    pub output: Vec<u8>,
}

impl Cache {
    /// The cache of a build of the project at `root`, which commands see at
    /// `seen_at` (the job root, or `root`); None: off. `ids` are the
    /// commands' identities; problems become warnings.
    pub fn open(
        settings: &Settings,
        (root, seen_at): (&Path, &Path),
        state_dir: &Path,
        ids: &[Identity],
    ) -> (Option<Cache>, Vec<String>) {
        let mut warnings = Vec::new();
        let Some(dir) = settings.store_dir() else {
            return (None, warnings);
        };
        // What a killed build's restores left (this build holds the lock).
        let tmp = state_dir.join("cache-tmp");
        let _ = std::fs::remove_dir_all(&tmp);
        let local = match LocalStore::open(&dir) {
            Ok(l) => l,
            Err(e) => {
                warnings.push(format!("the cache is off for this build: {e}"));
                return (None, warnings);
            }
        };
        let remote = settings.remote.as_deref().and_then(|url| {
            match Remote::connect(url, settings.remote_read_only) {
                Ok(r) => Some(Arc::new(r)),
                Err(e) => {
                    warnings.push(format!(
                        "remote cache {url}: {e:#}; using the local cache only for this build"
                    ));
                    None
                }
            }
        });
        let place = seen_at.to_string_lossy().into_owned();
        let stores = Arc::new(Stores {
            local,
            remote,
            stored: AtomicUsize::new(0),
        });
        // Two storing threads: one waiting on a remote's round trip does
        // not hold up the local writes of the next job.
        let storer = Storer::start(&stores, 2);
        let cache = Cache {
            stores,
            storer,
            observer: Observer::new(root),
            signatures: ids.iter().map(|i| i.signature.0 .0).collect(),
            place,
            root: root.to_path_buf(),
            tmp,
            max_size: settings.max_size,
            outside: false,
            warnings: Mutex::new(Vec::new()),
        };
        (Some(cache), warnings)
    }

    /// With full deps on, reads outside the project are part of read sets
    /// (and sets that have them are used).
    pub fn with_outside(mut self, on: bool) -> Cache {
        self.outside = on;
        self
    }

    /// Command `id`'s level-1 key (None: not cached: `^s` commands, whose
    /// output is not captured, and declared inputs that cannot be read).
    pub fn key(&self, graph: &Graph, id: CmdId) -> Option<Level1> {
        let node = graph.cmd(id);
        if node.rule.flags.stream {
            return None;
        }
        let paths: Vec<String> = node
            .inputs
            .iter()
            .map(|f| graph.path(*f).as_str().to_string())
            .collect();
        let inputs = self.observer.all(&paths)?;
        let sig = self.signatures.get(id.index())?;
        Some(Level1(key::level1(sig, &inputs, &self.place)))
    }

    /// Serve command `id` from the cache: its outputs restored (all of
    /// them) when a read set matches the files as they are now.
    pub fn lookup(&self, k1: &Level1, graph: &Graph, id: CmdId) -> Option<Hit> {
        let manifest = self.stores.manifest(&k1.0)?;
        let declared: Vec<&str> = sorted_outputs(graph, id);
        for set in &manifest.sets {
            if !readset::trusted(set, self.outside) {
                continue;
            }
            let Some(now) = readset::now(&self.observer, graph, set) else {
                continue;
            };
            if now != *set {
                continue;
            }
            let k2 = key::level2(&k1.0, &now);
            if let Some(hit) = self.try_result(&k2, &now, &declared, id) {
                return Some(hit);
            }
        }
        None
    }

    /// The result under `k2`, restored (None: absent, unusable, a blob
    /// missing or corrupt; a local entry whose inline output is corrupt is
    /// removed).
    fn try_result(&self, k2: &Hash, set: &ReadSet, declared: &[&str], id: CmdId) -> Option<Hit> {
        let action = key::result_action(k2);
        let bytes = self.stores.action(&action)?;
        let result = CachedResult::decode(&bytes)?;
        let paths: Vec<&str> = result.outputs.iter().map(|o| o.path.as_str()).collect();
        if paths != declared {
            return None;
        }
        let mut mem = restore::InMemory::new();
        for o in &result.outputs {
            if let Some(b) = &o.contents {
                if Digest::of(b) != o.digest {
                    self.stores.local.remove_action(&action);
                    return None;
                }
                mem.insert(o.digest, b.clone());
            }
        }
        for d in result.blobs() {
            if let std::collections::hash_map::Entry::Vacant(slot) = mem.entry(d) {
                if let Some(fetched) = self.stores.ensure_blob(&d)? {
                    slot.insert(fetched);
                }
            }
        }
        let local = &self.stores.local;
        let output = match &result.output {
            Some(d) => match mem.get(d) {
                Some(b) => b.clone(),
                None => restore::output_bytes(local, d)?,
            },
            None => Vec::new(),
        };
        match restore::restore((local, &mem), &result.outputs, &self.root, &self.tmp) {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => {
                log::warn!("cache: {e}");
                return None;
            }
        }
        Some(hit_of(id, set, output))
    }

    /// After command `id` ran (exit 0, every check passed) from `started`:
    /// hand its result to the background storer, unless a file it read
    /// changed while it ran (racy) or an output is not a regular file.
    /// `job.staged`: its outputs waiting for commit (others are read from
    /// the tree); they are opened here, so a commit that renames them
    /// meanwhile does not matter.
    pub fn store(&self, k1: &Level1, graph: &Graph, id: CmdId, job: &Stored) -> bool {
        use std::os::unix::fs::PermissionsExt;
        let ran = (id, job.log, job.started, self.outside);
        let Some(set) = readset::of_job(&self.observer, graph, ran) else {
            return false;
        };
        let mut outputs = Vec::new();
        for path in sorted_outputs(graph, id) {
            let src = job
                .staged
                .iter()
                .find(|(p, _)| p == path)
                .map_or_else(|| self.root.join(path), |(_, s)| s.clone());
            let Ok(file) = std::fs::File::open(&src) else {
                return false;
            };
            match file.metadata() {
                Ok(m) if m.is_file() => {
                    let executable = m.permissions().mode() & 0o111 != 0;
                    outputs.push((path.to_string(), file, executable));
                }
                _ => return false,
            }
        }
        self.storer.push(Keep {
            k1: k1.0,
            set,
            outputs,
            output: job.output.to_vec(),
        })
    }

    /// The end of the build: the warnings to print (a remote that failed),
    /// and a trim of the local store when due.
    pub fn finish(&self) -> Vec<String> {
        self.storer.drain();
        let mut out = std::mem::take(&mut *self.warnings.lock().unwrap_or_else(|e| e.into_inner()));
        let (local, remote) = (&self.stores.local, &self.stores.remote);
        if let Some(w) = remote.as_deref().and_then(Remote::take_warning) {
            out.push(w);
        }
        let stored = self.stores.stored.load(Ordering::Relaxed);
        if stored > 0 && local.gc_due(GC_EVERY) {
            if let Err(e) = local.gc(self.max_size) {
                out.push(format!(
                    "cannot trim the cache at {}: {e}",
                    local.root().display()
                ));
            }
        }
        out
    }
}

/// What a job that ran leaves for the store.
pub struct Stored<'a> {
    /// Its trace.
    pub log: &'a AccessLog,
    /// Its outputs waiting for commit: (project path, staged file).
    pub staged: Vec<(String, PathBuf)>,
    /// Its captured stdout and stderr.
    pub output: &'a [u8],
    /// The moment (coarse clock) before it was spawned.
    pub started: Moment,
}

/// The hit of command `id` served under read set `set`: its reads and
/// ghosts are the set's project paths.
fn hit_of(id: CmdId, set: &ReadSet, output: Vec<u8>) -> Hit {
    let mut hit = Hit {
        cmd: id,
        reads: BTreeSet::new(),
        ghosts: BTreeSet::new(),
        output,
    };
    for (path, seen) in set {
        if readset::listed_dir(path).is_some() {
            continue; // listings are keyed on, not recorded in the index
        }
        let Ok(p) = ProjPath::new(path) else { continue };
        match seen {
            Some(_) => hit.reads.insert(p),
            None => hit.ghosts.insert(p),
        };
    }
    hit
}

fn sorted_outputs(graph: &Graph, id: CmdId) -> Vec<&str> {
    let mut v: Vec<&str> = graph.outputs(id).map(|p| p.as_str()).collect();
    v.sort_unstable();
    v.dedup();
    v
}
