//! The last build as the planner and scheduler see it: the adapter from the
//! `index` (what the last build recorded) and `change` (what differs on disk
//! now) modules to the planner's [`LastBuild`] and [`Changes`].

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::change::{
    digest_path, ChangeDetector, ChangeSource, FileState, FullScan, Judgement, Moment,
};
use crate::graph::{CmdId, Graph};
use crate::identity::{self, CommandKey, Identity};
use crate::index::{CommandView, FileSlot, Generation, Index, IndexOptions, Open, OutsideSlot};
use crate::options::ChangeMode;
use crate::outside::OutsidePath;
use crate::paths::ProjPath;
use crate::plan::{Changes, LastBuild, PrevCommand, Reason, SeenFile};
use crate::project::Project;
use crate::reuse::Prior;
use crate::ui::Ui;

/// An output as it came out of a command of this build.
#[derive(Debug, Clone)]
pub struct FreshOutput {
    /// Its state and digest (when compared), taken right after commit.
    pub judgement: Judgement,
    /// Its contents differ from what the index recorded.
    pub changed: bool,
}

/// The last build (if any), what changed since, and this build's identities.
pub struct History {
    /// Identity of every command of the graph, by `CmdId::index`.
    pub ids: Vec<Identity>,
    /// The change mode of this build.
    pub mode: ChangeMode,
    /// This build's generation.
    pub generation: Generation,
    /// The index of the last build (None: first build, or unusable).
    pub index: Option<Index>,
    /// The judgement of each of the index's files (by file slot).
    pub scan: crate::change::Changes,
    /// Outputs rewritten in this build, judged after commit.
    pub fresh: Mutex<HashMap<ProjPath, FreshOutput>>,
    /// Set before the first output goes into `fresh`: until then the scan
    /// alone answers [`Changes::since_seen`] (without taking the lock).
    any_fresh: AtomicBool,
    /// `^t` outputs that were deleted as designed (see [`History::scan`]).
    pub absent_transients: BTreeSet<ProjPath>,
    /// This build traces reads outside the project: a command recorded
    /// without them runs ([`Reason::FullDepsOn`]).
    pub full_deps: bool,
    /// The graph holds only the cone ([`crate::cone`]).
    pub cone: bool,
    root: PathBuf,
    /// A compaction of the index running beside the end of the build
    /// (joined when the history is dropped, after the report).
    compaction: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl History {
    /// Compact the index at `path` (base and journal into a new base) on
    /// another thread; the build waits for it when it drops its history,
    /// after its result is printed (and still holding the lock).
    pub(super) fn compact_later(&self, path: PathBuf, options: IndexOptions) {
        let job = move || {
            if let Err(e) = crate::index::compact_now(&path, &options) {
                log::warn!("the index was not compacted: {e:#}");
            }
        };
        let spawned = std::thread::Builder::new()
            .name("index-compaction".into())
            .spawn(job);
        match spawned {
            Ok(handle) => *lock(&self.compaction) = Some(handle),
            Err(e) => log::debug!("cannot start the index compaction: {e}"),
        }
    }
}

impl Drop for History {
    fn drop(&mut self) {
        if let Some(handle) = lock(&self.compaction).take() {
            let began = std::time::Instant::now();
            let _ = handle.join();
            log::debug!("timing: waited {:?} for the compaction", began.elapsed());
        }
    }
}

impl History {
    /// The last build as `prior` opened and scanned it (saying in one line
    /// why its index cannot be used, if so), with this build's identities.
    /// `reused`: the graph's rules came from this index.
    pub fn load(
        project: &Project,
        graph: &Graph,
        mode: ChangeMode,
        prior: Prior,
        reused: bool,
        ui: &Ui,
    ) -> History {
        if let Some(note) = &prior.note {
            ui.warn(note);
        }
        let generation = prior
            .index
            .as_ref()
            .map_or(Generation(1), |i| i.generation().next());
        let ids = identities(graph, prior.index.as_ref().filter(|_| reused));
        History {
            ids,
            mode,
            generation,
            index: prior.index,
            scan: prior.scan,
            fresh: Mutex::default(),
            any_fresh: AtomicBool::new(false),
            absent_transients: BTreeSet::new(),
            full_deps: false,
            cone: false,
            root: project.root.clone(),
            compaction: Mutex::default(),
        }
    }

    /// Judge every recorded file against the disk again when `rescan`
    /// (stale outputs were removed, so their readers see them gone;
    /// otherwise the scan the build started with stands). A `^t` output of
    /// `graph` that is gone was deleted by design: it counts as present
    /// and unchanged, as recorded, so neither its producer nor its
    /// consumers re-run for its absence ([`History::absent_transients`]).
    pub fn scan(&mut self, graph: &Graph, rescan: bool) {
        let Some(index) = &self.index else {
            return;
        };
        if rescan {
            let detector = ChangeDetector::new(self.mode);
            self.scan = FullScan::new(&self.root).changes(index, detector);
        }
        self.excuse_absent_transients(graph);
    }

    /// Judge each `^t` output that is gone but was recorded present as
    /// unchanged, with its recorded state (see [`History::scan`]).
    fn excuse_absent_transients(&mut self, graph: &Graph) {
        let Some(index) = &self.index else {
            return;
        };
        let transient = graph
            .commands()
            .filter(|(_, node)| node.rule.flags.transient)
            .flat_map(|(id, _)| graph.outputs(id));
        for path in transient {
            let Some(file) = index.file(path.as_str()) else {
                continue;
            };
            let Some(judged) = self.scan.get(file.slot()) else {
                continue; // as recorded
            };
            if judged.state.is_none() && file.state().is_some() {
                let judged = crate::change::as_recorded(&file.as_recorded());
                self.scan.set(file.slot(), judged);
                self.absent_transients.insert(path.clone());
            }
        }
    }

    /// True when this build found the index exactly as the disk is: every
    /// recorded file unchanged, in the recorded state, not racy, with the
    /// recorded digest, and the index says every command is up to date (so
    /// a build that ran nothing need not rewrite it).
    pub fn index_is_current(&self) -> bool {
        self.index.as_ref().is_some_and(|index| {
            index.options().change_mode == self.mode
                && index.all_up_to_date()
                && crate::reuse::settled(index, &self.scan)
        })
    }

    /// The judgement of a recorded path at the start of the build.
    fn judged(&self, path: &ProjPath) -> Option<(Judgement, Generation)> {
        let slot = self.index.as_ref()?.file_slot(path.as_str())?;
        self.judged_at(slot)
    }

    /// [`History::judged`] of the index's file in `slot`.
    fn judged_at(&self, slot: FileSlot) -> Option<(Judgement, Generation)> {
        let index = self.index.as_ref()?;
        let file = index.file_at(slot)?;
        Some((self.scan.judgement(index, slot)?, file.since()))
    }

    /// The generation in which `path`'s contents last changed, as this build
    /// leaves it (None: never recorded or examined).
    pub fn current_since(&self, path: &ProjPath) -> Option<Generation> {
        let slot = self.index.as_ref().and_then(|i| i.file_slot(path.as_str()));
        self.since_with(slot, lock(&self.fresh).get(path))
    }

    /// [`History::current_since`] of a file in `slot` of the index (None:
    /// not recorded there) whose entry in [`History::fresh`], if any, is
    /// `fresh`.
    pub fn since_with(
        &self,
        slot: Option<FileSlot>,
        fresh: Option<&FreshOutput>,
    ) -> Option<Generation> {
        let judged = slot.and_then(|slot| self.judged_at(slot));
        if let Some(f) = fresh {
            return Some(match f.changed {
                true => self.generation,
                false => judged.map_or(self.generation, |(_, s)| s),
            });
        }
        let (j, since) = judged?;
        Some(match j.verdict.is_changed() {
            true => self.generation,
            false => since,
        })
    }

    /// The generation in which the outside file in `slot` of the index last
    /// changed, as of the scan at the start of this build.
    pub fn outside_since(&self, slot: OutsideSlot) -> Option<Generation> {
        let file = self.index.as_ref()?.outside_at(slot)?;
        Some(match self.scan.outside(slot)?.verdict.is_changed() {
            true => self.generation,
            false => file.since(),
        })
    }

    /// Every output the last build recorded (empty without a usable index).
    pub fn previous_outputs(project: &Project) -> BTreeSet<ProjPath> {
        let path = project.state_dir().join("index");
        let Open::Ready(index) = Index::open(&path, &IndexOptions::default()) else {
            return BTreeSet::new();
        };
        let outputs = index
            .commands()
            .flat_map(|c| c.outputs().chain(c.extra_outputs()).collect::<Vec<_>>())
            .filter_map(|p| ProjPath::new(p).ok())
            .collect();
        outputs
    }

    /// Outputs of the last build that no command of `graph` produces.
    pub fn stale_outputs(&self, graph: &Graph) -> Vec<ProjPath> {
        let Some(index) = &self.index else {
            return Vec::new();
        };
        let mut stale: Vec<ProjPath> = index
            .commands()
            .flat_map(|c| c.outputs().chain(c.extra_outputs()).collect::<Vec<_>>())
            .filter_map(|p| ProjPath::new(p).ok())
            .filter(|p| graph.producer_of(p).is_none())
            .collect();
        stale.sort();
        stale.dedup();
        stale
    }

    /// The command views of the last build that made `path`.
    pub fn view_by_output(&self, path: &ProjPath) -> Option<CommandView<'_>> {
        self.index.as_ref()?.command_by_output(path.as_str())
    }

    /// Judge `path` now, against its record (for files the scan did not see).
    pub fn judge_now(&self, path: &ProjPath, generated: bool) -> Judgement {
        let old = self
            .index
            .as_ref()
            .and_then(|i| i.file(path.as_str()))
            .map(|f| f.as_recorded());
        let detector = ChangeDetector::new(self.mode);
        detector.judge(
            &path.to_disk(&self.root),
            old.as_ref(),
            generated,
            Moment::now(),
        )
    }

    fn prev(&self, view: CommandView<'_>) -> PrevCommand {
        let index = self.index.as_ref();
        let reads = view
            .reads()
            .filter_map(|o| {
                let file = index?.file_at(o.file)?;
                Some(SeenFile {
                    slot: Some(o.file),
                    path: ProjPath::new(file.path()).ok()?,
                    since: o.since.0,
                    ghost: file.state().is_none(),
                })
            })
            .collect();
        PrevCommand {
            key: view.key(),
            signature: view.signature(),
            sticky: view
                .sticky()
                .map(|(name, value)| identity::StickyVar {
                    name: name.to_string(),
                    value,
                })
                .collect(),
            outputs: view
                .outputs()
                .chain(view.extra_outputs())
                .filter_map(|p| ProjPath::new(p).ok())
                .collect(),
            must_rerun: view.must_rerun(),
            reads,
            outside: view.outside_reads().map(|(s, g)| (s, g.0)).collect(),
        }
    }
}

/// The identity of every command of `graph`. With `recorded` (the index the
/// rules came from), a command takes its recorded key and signature when
/// its exported variables still have the recorded values: the other
/// inputs of the identity are the rule itself, read from that same record.
/// Saves two SHA-256 per command and one per exported variable.
fn identities(graph: &Graph, recorded: Option<&Index>) -> Vec<Identity> {
    let mut env: HashMap<String, identity::Digest> = HashMap::new();
    let mut env_digest = |name: &str| -> identity::Digest {
        if let Some(d) = env.get(name) {
            return *d;
        }
        let d = identity::value_digest(identity::process_env(name).as_deref());
        env.insert(name.to_string(), d);
        d
    };
    graph
        .commands()
        .map(|(id, c)| {
            let view = recorded
                .zip(graph.outputs(id).next())
                .and_then(|(index, out)| index.command_by_output(out.as_str()))
                .filter(|v| v.command() == c.rule.command && v.dir() == c.rule.dir.as_str());
            let mut same_env = |v: &CommandView<'_>| {
                v.sticky()
                    .all(|(name, digest)| match name.strip_prefix('$') {
                        Some(var) => env_digest(var) == digest,
                        None => true,
                    })
            };
            match view {
                Some(v) if same_env(&v) => Identity {
                    key: v.key(),
                    signature: v.signature(),
                    sticky: v
                        .sticky()
                        .map(|(name, value)| identity::StickyVar {
                            name: name.to_string(),
                            value,
                        })
                        .collect(),
                },
                _ => identity::of(&c.rule, &identity::process_env),
            }
        })
        .collect()
}

/// Lock a mutex, surviving a panicked holder (the data stays valid).
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl LastBuild for History {
    fn by_output(&self, path: &ProjPath) -> Option<PrevCommand> {
        self.view_by_output(path).map(|v| self.prev(v))
    }

    fn by_key(&self, key: &CommandKey) -> Option<PrevCommand> {
        let view = self.index.as_ref()?.commands_by_key(key).next()?;
        Some(self.prev(view))
    }
}

impl Changes for History {
    fn since(&self, path: &ProjPath) -> Option<u32> {
        self.current_since(path).map(|g| g.0)
    }

    fn since_seen(&self, seen: &SeenFile) -> Option<u32> {
        // Before any output of this build is judged, the scan by slot is
        // the whole answer (no lookup by path).
        match (seen.slot, &self.index) {
            (Some(slot), Some(index)) if !self.any_fresh.load(Ordering::SeqCst) => {
                let file = index.file_at(slot)?;
                let changed = self.scan.is_changed(slot);
                Some(if changed {
                    self.generation.0
                } else {
                    file.since().0
                })
            }
            _ => self.since(&seen.path),
        }
    }

    fn modified(&self, path: &ProjPath) -> bool {
        self.judged(path)
            .is_some_and(|(j, _)| j.verdict.is_changed())
    }

    fn exists(&self, path: &ProjPath) -> bool {
        match self.judged(path) {
            Some((j, _)) => j.state.is_some(),
            None => FileState::lstat(&path.to_disk(&self.root)).is_ok_and(|s| s.is_some()),
        }
    }

    fn outside_reason(&self, prev: &PrevCommand) -> Option<Reason> {
        // Every job that ran with full deps read its shell outside.
        if self.full_deps && prev.outside.is_empty() {
            return Some(Reason::FullDepsOn);
        }
        let index = self.index.as_ref()?;
        prev.outside.iter().find_map(|&(slot, since)| {
            let file = index.outside_at(slot)?;
            let moved = self.outside_since(slot) != Some(Generation(since));
            let path = moved
                .then(|| OutsidePath::new(file.path()).ok())
                .flatten()?;
            Some(Reason::OutsideChanged(path))
        })
    }

    fn made_elsewhere(&self, graph: &Graph, reader: CmdId, path: &ProjPath) -> Option<String> {
        let index = self.index.as_ref().filter(|_| self.cone)?;
        let maker = index.command_by_output(path.as_str())?;
        match crate::cone::declared::reaches(index, graph, maker.slot(), reader) {
            true => None,
            false => {
                let (file, line) = maker.location();
                let text = maker.display().unwrap_or(maker.command());
                Some(format!("'{text}' ({file}:{line})"))
            }
        }
    }

    fn output_changed(&self, path: &ProjPath, cutoff: bool) -> bool {
        let detector = ChangeDetector::new(self.mode);
        let compare = cutoff || detector.uses_digest(true);
        let mut judgement = self.judge_now(path, true);
        let recorded = self
            .judged(path)
            .and_then(|_| self.index.as_ref()?.file(path.as_str())?.digest());
        if compare && judgement.digest.is_none() {
            if let Some(state) = judgement.state {
                judgement.digest = digest_path(&path.to_disk(&self.root), state.kind).ok();
            }
        }
        let changed = match (compare, recorded, judgement.digest) {
            (true, Some(old), Some(new)) => old != new,
            _ => true,
        };
        self.any_fresh.store(true, Ordering::SeqCst);
        lock(&self.fresh).insert(path.clone(), FreshOutput { judgement, changed });
        changed
    }
}
