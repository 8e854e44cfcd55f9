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
pub mod remote;
pub mod restore;
pub mod result;
pub mod settings;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tupfs_fuse::AccessLog;

use crate::change::Moment;
use crate::graph::{CmdId, Graph};
use crate::identity::Identity;
use crate::paths::ProjPath;
use key::{Digest, Hash};
use local::LocalStore;
use manifest::{Manifest, ReadSet};
use observe::Observer;
use remote::Remote;
use result::{CachedResult, OutputFile};
pub use settings::Settings;

/// A file read within this long before a command started may have changed
/// in the same clock tick as what the command saw: not stored (ns).
const RACY_NS: i64 = 20_000_000;

/// How often a build that stored something trims the local store.
const GC_EVERY: Duration = Duration::from_secs(3600);

/// The cache as one build uses it (shared by the workers).
pub struct Cache {
    local: LocalStore,
    remote: Option<Remote>,
    observer: Observer,
    signatures: Vec<Hash>,
    place: String,
    root: PathBuf,
    tmp: PathBuf,
    max_size: u64,
    stored: AtomicUsize,
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
        let local = match LocalStore::open_deferred(&dir) {
            Ok(l) => l,
            Err(e) => {
                warnings.push(format!("the cache is off for this build: {e}"));
                return (None, warnings);
            }
        };
        let remote = settings.remote.as_deref().and_then(|url| {
            match Remote::connect(url, settings.remote_read_only) {
                Ok(r) => Some(r),
                Err(e) => {
                    warnings.push(format!(
                        "remote cache {url}: {e:#}; using the local cache only for this build"
                    ));
                    None
                }
            }
        });
        let place = seen_at.to_string_lossy().into_owned();
        let cache = Cache {
            local,
            remote,
            observer: Observer::new(root),
            signatures: ids.iter().map(|i| i.signature.0 .0).collect(),
            place,
            root: root.to_path_buf(),
            tmp,
            max_size: settings.max_size,
            stored: AtomicUsize::new(0),
            warnings: Mutex::new(Vec::new()),
        };
        (Some(cache), warnings)
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
        let manifest = self.manifest(&k1.0)?;
        let declared: Vec<&str> = sorted_outputs(graph, id);
        for set in &manifest.sets {
            // Only project paths (a manifest from a store is not trusted).
            if set
                .iter()
                .any(|(p, _)| ProjPath::new(p).map_or(true, |pp| pp.as_str() != p))
            {
                continue;
            }
            let paths: Vec<String> = set.iter().map(|(p, _)| p.clone()).collect();
            let Some(now) = self.observer.all(&paths) else {
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
    /// missing or corrupt).
    fn try_result(&self, k2: &Hash, set: &ReadSet, declared: &[&str], id: CmdId) -> Option<Hit> {
        let bytes = self.action(&key::result_action(k2))?;
        let result = CachedResult::decode(&bytes)?;
        let paths: Vec<&str> = result.outputs.iter().map(|o| o.path.as_str()).collect();
        if paths != declared {
            return None;
        }
        let mut mem = restore::InMemory::new();
        for o in &result.outputs {
            if let Some(b) = o.contents.as_ref().filter(|b| Digest::of(b) == o.digest) {
                self.fill_local(&o.digest, b);
                mem.insert(o.digest, b.clone());
            }
        }
        for d in result.blobs() {
            if let std::collections::hash_map::Entry::Vacant(slot) = mem.entry(d) {
                if let Some(fetched) = self.ensure_blob(&d)? {
                    slot.insert(fetched);
                }
            }
        }
        let output = match &result.output {
            Some(d) => match mem.get(d) {
                Some(b) => b.clone(),
                None => restore::output_bytes(&self.local, d)?,
            },
            None => Vec::new(),
        };
        let store = (&self.local, &mem);
        match restore::restore(store, &result.outputs, &self.root, &self.tmp) {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => {
                log::warn!("cache: {e}");
                return None;
            }
        }
        let mut hit = Hit {
            cmd: id,
            reads: BTreeSet::new(),
            ghosts: BTreeSet::new(),
            output,
        };
        for (path, seen) in set {
            let Ok(p) = ProjPath::new(path) else { continue };
            match seen {
                Some(_) => hit.reads.insert(p),
                None => hit.ghosts.insert(p),
            };
        }
        Some(hit)
    }

    /// The manifest of `k1`: local, else remote (then kept locally).
    fn manifest(&self, k1: &Hash) -> Option<Manifest> {
        let pointer = self.action(&key::manifest_action(k1))?;
        let (d, inline) = result::decode_pointer(&pointer)?;
        if let Some(bytes) = inline {
            return Manifest::decode(&bytes);
        }
        match self.ensure_blob(&d)? {
            Some(bytes) => Manifest::decode(&bytes),
            None => Manifest::decode(&self.local.read_blob(&d)?),
        }
    }

    /// Keep a blob a remote gave (verified) in the local store, unless
    /// there.
    fn fill_local(&self, d: &Digest, bytes: &[u8]) {
        if !self.local.has_blob(d) {
            let _ = self.local.put_blob(bytes);
        }
    }

    /// An action entry: local, else remote (then kept locally).
    fn action(&self, k: &Digest) -> Option<Vec<u8>> {
        if let Some(bytes) = self.local.get_action(k) {
            return Some(bytes);
        }
        let bytes = self.remote.as_ref()?.get_action(k)?;
        let _ = self.local.put_action(k, &bytes);
        Some(bytes)
    }

    /// Blob `d` in the local store: Some(None); or fetched from the remote
    /// (verified; kept locally, published later): Some(bytes); None:
    /// nowhere.
    fn ensure_blob(&self, d: &Digest) -> Option<Option<Vec<u8>>> {
        if self.local.has_blob(d) {
            return Some(None);
        }
        let bytes = self.remote.as_ref()?.get_blob(d)?;
        self.fill_local(d, &bytes);
        Some(Some(bytes))
    }

    /// After command `id` ran (exit 0, every check passed) from `started`:
    /// keep its result under its read set, unless a file it read changed
    /// while it ran (racy) or an output is not a regular file. `staged`:
    /// its outputs waiting for commit (others are read from the tree).
    pub fn store(&self, k1: &Level1, graph: &Graph, id: CmdId, job: &Stored) -> bool {
        let Some(set) = self.read_set(graph, id, job.log, job.started) else {
            return false;
        };
        let Some((result, blobs)) = self.keep_outputs(graph, id, job) else {
            return false;
        };
        let k2 = key::level2(&k1.0, &set);
        let result_bytes = result.encode();
        if self
            .local
            .put_action(&key::result_action(&k2), &result_bytes)
            .is_err()
        {
            return false;
        }
        let mut manifest = self.manifest(&k1.0).unwrap_or_default();
        manifest.add(set);
        let m_bytes = manifest.encode();
        let Ok(m) = self.local.put_blob(&m_bytes) else {
            return false;
        };
        let pointer = result::encode_pointer(&m, None);
        if self
            .local
            .put_action(&key::manifest_action(&k1.0), &pointer)
            .is_err()
        {
            return false;
        }
        self.stored.fetch_add(1, Ordering::Relaxed);
        if let Some(remote) = &self.remote {
            // Small outputs and the manifest go inline too: a hit then
            // costs two round trips (pointer, result).
            let actions = [
                (key::result_action(&k2), result.inlined(&blobs).encode()),
                (
                    key::manifest_action(&k1.0),
                    result::encode_pointer(&m, Some(&m_bytes)),
                ),
            ];
            let mut all = blobs;
            all.push((m, m_bytes));
            remote.put(&all, &actions);
        }
        true
    }

    /// The read set of a job that ran: what it read and looked up in vain
    /// (not its own outputs), as it is now; None when racy.
    fn read_set(
        &self,
        graph: &Graph,
        id: CmdId,
        log: &AccessLog,
        started: Moment,
    ) -> Option<ReadSet> {
        let own: BTreeSet<&str> = graph.outputs(id).map(|p| p.as_str()).collect();
        let mut set = Vec::new();
        let all: BTreeSet<&String> = log.reads.iter().chain(&log.ghosts).collect();
        for path in all {
            if own.contains(path.as_str()) || ProjPath::new(path).is_err() {
                continue;
            }
            let now = self.observer.seen_when(path).ok()?;
            // A ghost that exists now, or a read that is gone, changed
            // while the command ran.
            if now.is_some() != log.reads.contains(path) {
                return None;
            }
            let generated = ProjPath::new(path).is_ok_and(|p| graph.producer_of(&p).is_some());
            if let Some((_, mtime)) = now.filter(|_| !generated) {
                if mtime >= started.0 - RACY_NS {
                    return None;
                }
            }
            let seen = now.map(|(hash, _)| hash);
            set.push((path.clone(), seen));
        }
        Some(set)
    }

    /// Copy every declared output into the store; the result and the
    /// blobs (for a remote). None: an output is not a regular file.
    fn keep_outputs(
        &self,
        graph: &Graph,
        id: CmdId,
        job: &Stored,
    ) -> Option<(CachedResult, Vec<Blob>)> {
        use std::os::unix::fs::PermissionsExt;
        let mut outputs = Vec::new();
        let mut blobs = Vec::new();
        for path in sorted_outputs(graph, id) {
            let src = job
                .staged
                .iter()
                .find(|(p, _)| p == path)
                .map_or_else(|| self.root.join(path), |(_, s)| s.clone());
            let meta = std::fs::symlink_metadata(&src).ok()?;
            if !meta.is_file() {
                return None;
            }
            let digest = self.local.put_blob_file(&src).ok()?;
            if self.remote.as_ref().is_some_and(|r| !r.read_only) {
                blobs.push((digest, std::fs::read(&src).ok()?));
            }
            outputs.push(OutputFile {
                path: path.to_string(),
                digest,
                executable: meta.permissions().mode() & 0o111 != 0,
                contents: None,
            });
        }
        let output = match job.output.is_empty() {
            true => None,
            false => {
                let d = self.local.put_blob(job.output).ok()?;
                blobs.push((d, job.output.to_vec()));
                Some(d)
            }
        };
        Some((CachedResult { outputs, output }, blobs))
    }

    /// The end of the build: the warnings to print (a remote that failed),
    /// and a trim of the local store when due.
    pub fn finish(&self) -> Vec<String> {
        let mut out = std::mem::take(&mut *self.warnings.lock().unwrap_or_else(|e| e.into_inner()));
        if let Some(w) = self.remote.as_ref().and_then(Remote::take_warning) {
            out.push(w);
        }
        self.local.publish();
        if self.stored.load(Ordering::Relaxed) > 0 && self.local.gc_due(GC_EVERY) {
            if let Err(e) = self.local.gc(self.max_size) {
                out.push(format!(
                    "cannot trim the cache at {}: {e}",
                    self.local.root().display()
                ));
            }
        }
        out
    }
}

/// A blob's digest and bytes (for a remote).
type Blob = (Digest, Vec<u8>);

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

fn sorted_outputs(graph: &Graph, id: CmdId) -> Vec<&str> {
    let mut v: Vec<&str> = graph.outputs(id).map(|p| p.as_str()).collect();
    v.sort_unstable();
    v.dedup();
    v
}
