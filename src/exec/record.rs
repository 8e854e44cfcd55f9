//! Recording this build: only what it changed ([`Delta`]), appended to the
//! index's journal; the whole record when there is no usable index. Also
//! after a failed or interrupted build, so the next one does only what is
//! left.
//!
//! The delta holds: every command that ran, was taken from the cache, or
//! whose record differs (must-rerun flag, identity, rule, position); every
//! file whose row changes (judged anew by the scan, an output rewritten,
//! read by a command recorded anew, a directory the build moved and what
//! it holds); the Tupfiles parsed (and those gone); the tree when it
//! moved; the variables whose value moved; the new generation and flags.
//! Removed: the recorded commands of a Tupfile parsed in this build (or
//! gone) that the graph does not hold, and those whose every output was
//! removed as stale. A recorded command that is not in the graph and whose
//! Tupfile was not parsed keeps its record untouched, so a graph of only
//! the commands a change affects records just those.

use std::collections::{BTreeSet, HashMap, HashSet};

use anyhow::Result;
use xxhash_rust::xxh3::Xxh3DefaultBuilder;

use super::history::{lock, History};
use super::schedule::{Outcome, Outcomes, RunStatus};
use super::stale::StaleRemoval;
use crate::change::{ChangeDetector, Judgement};
use crate::graph::{CmdId, Graph};
use crate::index::{
    CommandRecord, CommandView, Delta, FileRecord, FileRef, FileSlot, Index, IndexOptions, Seen,
    SeenOutside, TupfileRecord, VariableRecord,
};
use crate::paths::ProjPath;
use crate::project::Project;
use crate::tupfile::TupfileKey;

impl History {
    /// Record this build: a journal batch over the last index, or a whole
    /// new index when there is none.
    pub fn record(
        &self,
        project: &Project,
        graph: &Graph,
        outcomes: &Outcomes,
        stale: &StaleRemoval,
        req: &super::Request,
    ) -> Result<()> {
        let began = std::time::Instant::now();
        let mut rec = Recorder::new(self, graph);
        rec.tupfiles(req);
        for (id, _) in graph.commands() {
            rec.command(id, &outcomes.per_cmd[id.index()], outcomes);
        }
        rec.deletions(req, stale);
        rec.judged_anew();
        super::record_dirs::add_moved_dirs(&mut rec, &project.root);
        rec.settle_generated();
        rec.flags(outcomes, stale, req);
        rec.variables();
        let tree = rec.tree();
        let mut record = std::mem::take(&mut rec.delta.record);
        super::retake::retake(
            &mut record,
            &project.root,
            ChangeDetector::new(self.mode),
            &tree,
            &|p: &str| rec.is_output(p),
        );
        rec.delta.record = record;
        log::debug!(
            "timing: record of {} of {} commands, {} files made in {:?}",
            rec.delta.record.commands.len(),
            graph.len(),
            rec.delta.record.files.len(),
            began.elapsed()
        );
        let options = IndexOptions {
            change_mode: self.mode,
        };
        let path = project.state_dir().join(crate::index::INDEX_FILE);
        match &self.index {
            Some(index) => {
                let len = index.append(&rec.delta, &options)?;
                let policy = crate::index::CompactPolicy::from_env();
                let batches = index.journal_batches() + 1;
                if policy.due(index.byte_len() as u64, len, batches) {
                    self.compact_later(path, options);
                }
            }
            None => Index::write(&path, &rec.delta.record, &options)?,
        }
        log::debug!("timing: record written in {:?}", began.elapsed());
        Ok(())
    }
}

/// Builds the delta of this build over the last index.
pub(super) struct Recorder<'a> {
    pub(super) history: &'a History,
    graph: &'a Graph,
    pub(super) delta: Delta,
    files: HashMap<ProjPath, FileRef, Xxh3DefaultBuilder>,
    /// The delta's file for each file slot of the last index, once added.
    by_slot: HashMap<u32, FileRef>,
    /// Full dependencies: the outside files recorded so far.
    outside: super::outside::OutsideRecorder<'a>,
    /// Slots of the last index's commands the graph holds (replaced).
    matched: HashSet<u32>,
    deleted: HashSet<u32>,
    /// Tupfiles parsed in this build or gone (their commands are exactly
    /// the graph's); None: every Tupfile's rules came from the index.
    replaced_tupfiles: Option<HashSet<TupfileKey>>,
}

impl<'a> Recorder<'a> {
    fn new(history: &'a History, graph: &'a Graph) -> Recorder<'a> {
        let mut delta = Delta::default();
        delta.record.generation = history.generation;
        Recorder {
            history,
            graph,
            delta,
            files: HashMap::with_hasher(Xxh3DefaultBuilder::new()),
            by_slot: HashMap::new(),
            outside: super::outside::OutsideRecorder::new(history),
            matched: HashSet::new(),
            deleted: HashSet::new(),
            replaced_tupfiles: None,
        }
    }

    /// True when the last index's file in `slot` is in the delta.
    pub(super) fn has_slot(&self, slot: FileSlot) -> bool {
        self.by_slot.contains_key(&slot.0)
    }

    fn index(&self) -> Option<&'a Index> {
        self.history.index.as_ref()
    }

    /// The record of `path` in the delta (added on first use), with the
    /// state this build leaves it in.
    fn file(&mut self, path: &ProjPath) -> FileRef {
        if let Some(&r) = self.files.get(path) {
            return r;
        }
        let slot = self.index().and_then(|i| i.file_slot(path.as_str()));
        self.add_file(path.clone(), slot)
    }

    /// The record of the last index's file in `slot` in the delta (added
    /// on first use; None: no such slot, or a bad path in it).
    pub(super) fn file_at(&mut self, slot: FileSlot) -> Option<FileRef> {
        if let Some(&r) = self.by_slot.get(&slot.0) {
            return Some(r);
        }
        let view = self.index()?.file_at(slot)?;
        let path = ProjPath::new(view.path()).ok()?;
        let r = match self.files.get(&path) {
            Some(&r) => r,
            None => self.add_file(path, Some(slot)),
        };
        self.by_slot.insert(slot.0, r);
        Some(r)
    }

    /// Add `path` (in `slot` of the last index, if there) with the state
    /// this build leaves it in (`generated` is settled at the end).
    fn add_file(&mut self, path: ProjPath, slot: Option<FileSlot>) -> FileRef {
        let h = self.history;
        let fresh = lock(&h.fresh).get(&path).cloned();
        let since = h.since_with(slot, fresh.as_ref()).unwrap_or(h.generation);
        let generated = self.graph.producer_of(&path).is_some();
        let judgement: Judgement = match fresh {
            Some(f) => f.judgement,
            None => slot
                .and_then(|slot| h.scan.judgement(h.index.as_ref()?, slot))
                .unwrap_or_else(|| h.judge_now(&path, generated)),
        };
        let r = self.delta.record.add_file(FileRecord {
            path: path.clone(),
            state: judgement.state,
            digest: judgement.digest,
            generated,
            recorded_at: judgement.recorded_at,
            since,
        });
        self.files.insert(path, r);
        if let Some(slot) = slot {
            self.by_slot.insert(slot.0, r);
        }
        r
    }

    fn seen(&mut self, path: &ProjPath) -> Seen {
        let file = self.file(path);
        let since = self.delta.record.files[file.0 as usize].since;
        Seen { file, since }
    }

    /// The Tupfiles parsed in this build replace their records; those
    /// neither parsed nor kept are gone; the tree is the parse's.
    fn tupfiles(&mut self, req: &super::Request) {
        if req.reused {
            return;
        }
        let mut replaced = HashSet::new();
        for parse in &req.tupfiles {
            let t = TupfileRecord::from_parse(parse, &mut |p| self.seen(p));
            replaced.insert(TupfileKey {
                variant: t.variant.clone(),
                dir: t.dir.clone(),
            });
            self.delta.record.tupfiles.push(t);
        }
        if let Some(index) = self.index() {
            for view in index.tupfiles() {
                let (Ok(variant), Ok(dir)) =
                    (ProjPath::new(view.variant()), ProjPath::new(view.dir()))
                else {
                    continue;
                };
                let key = TupfileKey { variant, dir };
                if !req.kept.contains(&key) && !replaced.contains(&key) {
                    self.delta
                        .deleted_tupfiles
                        .push((key.variant.clone(), key.dir.clone()));
                    replaced.insert(key);
                }
            }
        }
        self.replaced_tupfiles = Some(replaced);
        let mut tree = req.tree.clone();
        tree.sort();
        let same = self.index().is_some_and(|i| {
            i.tree().map(|(p, l)| (p.to_string(), l)).eq(tree
                .iter()
                .map(|e| (e.path.as_str().to_string(), e.listing)))
        });
        if !same {
            self.delta.record.tree = tree;
            self.delta.tree_changed = true;
        }
    }

    /// True when the rules of `key`'s Tupfile were parsed in this build.
    fn parsed(&self, key: &TupfileKey) -> bool {
        self.replaced_tupfiles
            .as_ref()
            .is_some_and(|r| r.contains(key))
    }

    /// The last index's record of the graph's command `id`: the one that
    /// made its first output, else one with its key not matched yet.
    fn prior(&self, id: CmdId) -> Option<CommandView<'a>> {
        let index = self.index()?;
        let key = self.history.ids[id.index()].key;
        match self.graph.outputs(id).next() {
            Some(o) => index.command_by_output(o.as_str()),
            None => index
                .commands_by_key(&key)
                .find(|c| !self.matched.contains(&c.slot().0)),
        }
    }

    /// Record command `id` if its record changes.
    fn command(&mut self, id: CmdId, outcome: &Outcome, all: &Outcomes) {
        let node = self.graph.cmd(id);
        let ident = &self.history.ids[id.index()];
        let prior = self.prior(id);
        let same_key =
            prior.filter(|p| p.key() == ident.key && !self.matched.contains(&p.slot().0));
        if let Some(p) = same_key {
            self.matched.insert(p.slot().0);
        }
        let parsed = self.parsed(&TupfileKey::of_rule(&node.rule));
        let position = match (parsed, same_key) {
            (false, Some(p)) => p.position(),
            _ => id.index() as u32,
        };
        let was = |p: &Option<CommandView<'_>>| p.is_some_and(|v| v.must_rerun());
        let (must_rerun, trace) = match outcome {
            Outcome::Ran {
                status: RunStatus::Ok,
                reads,
                ghosts,
                ..
            } => (false, Some((reads, ghosts))),
            Outcome::Ran { .. } => (true, None),
            Outcome::NotRun { dirty } => (*dirty || was(&prior) || prior.is_none(), None),
            Outcome::UpToDate | Outcome::NotSelected => (was(&prior) || prior.is_none(), None),
        };
        let unchanged = trace.is_none()
            && !matches!(outcome, Outcome::Ran { .. })
            && same_key.is_some_and(|p| {
                p.must_rerun() == must_rerun
                    && p.signature() == ident.signature
                    && p.position() == position
                    && (!parsed || p.to_rule().is_ok_and(|r| r == node.rule))
            });
        if unchanged {
            return;
        }
        for out in self.graph.outputs(id) {
            self.file(out);
        }
        let reads = match trace {
            Some((reads, ghosts)) => {
                let mut all: BTreeSet<ProjPath> = node
                    .inputs
                    .iter()
                    .map(|f| self.graph.path(*f).clone())
                    .collect();
                all.extend(reads.iter().flatten().cloned());
                all.extend(ghosts.iter().flatten().cloned());
                all.iter().map(|p| self.seen(p)).collect()
            }
            None => self.previous_reads(prior),
        };
        let ran = matches!(
            outcome,
            Outcome::Ran {
                status: RunStatus::Ok,
                cached: false,
                ..
            }
        );
        let outside = match (ran, all.outside.get(&id)) {
            (true, Some(paths)) => paths.iter().map(|p| self.outside.seen(p)).collect(),
            (true, None) => Vec::new(),
            (false, _) => self.previous_outside(prior),
        };
        self.delta.record.commands.push(CommandRecord {
            rule: node.rule.clone(),
            key: ident.key,
            signature: ident.signature,
            sticky: ident.sticky.clone(),
            must_rerun,
            reads,
            outside,
            position,
        });
        self.delta.replaces.push(same_key.map(|p| p.slot()));
    }

    /// What the command saw last time, carried over unchanged (the versions
    /// it saw then, so a change it has not run for still shows next time).
    fn previous_reads(&mut self, prior: Option<CommandView<'a>>) -> Vec<Seen> {
        let Some(view) = prior else {
            return Vec::new();
        };
        view.reads()
            .filter_map(|o| {
                Some(Seen {
                    file: self.file_at(o.file)?,
                    since: o.since,
                })
            })
            .collect()
    }

    /// Full dependencies: what the command saw outside the project last
    /// time, carried over unchanged (as [`Recorder::previous_reads`]).
    fn previous_outside(&mut self, prior: Option<CommandView<'a>>) -> Vec<SeenOutside> {
        let Some(view) = prior else {
            return Vec::new();
        };
        view.outside_reads()
            .filter_map(|(slot, since)| {
                Some(SeenOutside {
                    file: self.outside.at(slot)?,
                    since,
                })
            })
            .collect()
    }

    /// The last index's commands the graph does not hold that go: those
    /// of a Tupfile parsed in this build (or gone), and those whose every
    /// output was removed as stale; never one whose stale output could not
    /// be removed (it stays, so the next build tries again).
    fn deletions(&mut self, req: &super::Request, stale: &StaleRemoval) {
        let Some(index) = self.index() else {
            return;
        };
        let removed: HashSet<&str> = stale.removed.iter().map(|p| p.as_str()).collect();
        let kept: HashSet<&str> = stale.kept.iter().map(|(p, _)| p.as_str()).collect();
        let replaced: HashSet<(&str, &str)> = match (&self.replaced_tupfiles, req.reused) {
            (Some(r), false) => r
                .iter()
                .map(|k| (k.variant.as_str(), k.dir.as_str()))
                .collect(),
            _ => HashSet::new(),
        };
        if replaced.is_empty() && removed.is_empty() {
            return;
        }
        let mut deleted = Vec::new();
        for cmd in index.commands() {
            if self.matched.contains(&cmd.slot().0) {
                continue;
            }
            let mut outputs = cmd.outputs().chain(cmd.extra_outputs()).peekable();
            let has_outputs = outputs.peek().is_some();
            let (mut all_removed, mut any_kept) = (has_outputs, false);
            for o in outputs {
                all_removed &= removed.contains(o);
                any_kept |= kept.contains(o);
            }
            let parsed = replaced.contains(&(cmd.variant(), cmd.source_dir()));
            if (parsed || all_removed) && !any_kept {
                deleted.push(cmd.slot());
            }
        }
        for slot in deleted {
            self.deleted.insert(slot.0);
            self.delta.deleted.push(slot);
        }
    }

    /// Every recorded file (and outside file) whose judgement would record
    /// something new: its row is replaced.
    fn judged_anew(&mut self) {
        let h = self.history;
        let Some(index) = self.index() else {
            return;
        };
        // The scan lists only the files not as recorded (sparse).
        for (slot, judged) in &h.scan.files {
            let slot = *slot;
            let Some(view) = index.file_at(slot) else {
                continue;
            };
            if !judged.is_settled(&view.as_recorded()) {
                self.file_at(slot);
            }
        }
        for (i, judged) in h.scan.outside.iter().enumerate() {
            let slot = crate::index::OutsideSlot(i as u32);
            let Some(view) = index.outside_at(slot) else {
                continue;
            };
            if !judged.is_settled(&view.as_recorded()) {
                self.outside.at(slot);
            }
        }
    }

    /// True when some command of this build or of the index as this delta
    /// leaves it produces `path`.
    fn is_output(&self, path: &str) -> bool {
        let Ok(p) = ProjPath::new(path) else {
            return false;
        };
        self.graph.producer_of(&p).is_some()
            || self
                .index()
                .and_then(|i| i.command_by_output(path))
                .is_some_and(|c| {
                    !self.deleted.contains(&c.slot().0) && !self.matched.contains(&c.slot().0)
                })
    }

    /// Each file of the delta is generated when a command produces it.
    fn settle_generated(&mut self) {
        let generated: Vec<bool> = (self.delta.record.files.iter())
            .map(|f| self.is_output(f.path.as_str()))
            .collect();
        for (f, g) in self.delta.record.files.iter_mut().zip(generated) {
            f.generated = g;
        }
        self.delta.record.outside = std::mem::take(&mut self.outside.files);
    }

    /// The build's flags: are the commands the parse's rules, is every
    /// command up to date, were reads outside traced.
    fn flags(&mut self, outcomes: &Outcomes, stale: &StaleRemoval, req: &super::Request) {
        let replaced: HashSet<u32> = self.delta.replaces.iter().flatten().map(|s| s.0).collect();
        let (mut rest_settled, mut rest_transient) = (true, false);
        for c in self.index().into_iter().flat_map(|index| index.commands()) {
            let slot = c.slot().0;
            if !replaced.contains(&slot) && !self.deleted.contains(&slot) {
                rest_settled &= !c.must_rerun();
                rest_transient |= c.rule_flags().transient;
            }
        }
        let out = &mut self.delta.record;
        out.has_transient = rest_transient || out.commands.iter().any(|c| c.rule.flags.transient);
        out.commands_are_rules = stale.kept.is_empty();
        out.all_up_to_date = stale.kept.is_empty()
            && rest_settled
            && out.commands.iter().all(|c| !c.must_rerun)
            && outcomes.per_cmd.iter().all(|o| {
                matches!(
                    o,
                    Outcome::UpToDate
                        | Outcome::Ran {
                            status: RunStatus::Ok,
                            ..
                        }
                )
            });
        out.full_deps = req.full_deps && out.all_up_to_date;
    }

    /// Variable values by name whose value is not the recorded one.
    fn variables(&mut self) {
        let mut seen = BTreeSet::new();
        for id in &self.history.ids {
            for v in &id.sticky {
                if !seen.insert(v.name.clone()) {
                    continue;
                }
                if self.index().and_then(|i| i.variable(&v.name)) == Some(v.value) {
                    continue;
                }
                self.delta.record.variables.push(VariableRecord {
                    name: v.name.clone(),
                    value: v.value,
                });
            }
        }
    }

    /// The tree as this build leaves it.
    fn tree(&self) -> Vec<crate::index::TreeEntry> {
        if self.delta.tree_changed || self.index().is_none() {
            return self.delta.record.tree.clone();
        }
        self.index()
            .map(|i| {
                i.tree()
                    .filter_map(|(path, listing)| {
                        Some(crate::index::TreeEntry {
                            path: ProjPath::new(path).ok()?,
                            listing,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}
