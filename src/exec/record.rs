//! Recording this build as the new index: every command with its identity,
//! must-rerun flag and the versions of what it read; every path examined
//! with its state. Written whole (atomically) by the `index` module, also
//! after a failed or interrupted build, so the next one does only what is
//! left.

use std::collections::{BTreeSet, HashMap};

use anyhow::Result;
use xxhash_rust::xxh3::Xxh3DefaultBuilder;

use super::history::{lock, History};
use super::schedule::{Outcome, Outcomes, RunStatus};
use super::stale::StaleRemoval;
use crate::change::{ChangeDetector, Judgement};
use crate::graph::{CmdId, Graph};
use crate::identity::StickyVar;
use crate::index::{
    BuildRecord, CommandRecord, FileRecord, FileRef, FileSlot, Index, IndexOptions, Seen,
    SeenOutside, TreeEntry, TupfileRecord,
};
use crate::paths::ProjPath;
use crate::project::Project;
use crate::tupfile::TupfileKey;

impl History {
    /// Write the index for this build.
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
        rec.cone = req.cone.is_some();
        if req.reused {
            rec.carry_tupfiles(&|_| true);
            rec.carry_tree();
        } else {
            rec.carry_tupfiles(&|key| req.kept.contains(key));
            for parse in &req.tupfiles {
                let t = TupfileRecord::from_parse(parse, &mut |p| rec.seen(p));
                rec.out.tupfiles.push(t);
            }
            rec.out.tree = req.tree.clone();
        }
        rec.out.commands_are_rules = stale.kept.is_empty();
        for (id, _) in graph.commands() {
            let mut cmd = rec.command(id, &outcomes.per_cmd[id.index()]);
            // A job that ran records what it read outside (nothing with
            // full deps off); a cache hit and a command that did not run
            // keep their last record.
            let ran = matches!(
                outcomes.per_cmd[id.index()],
                Outcome::Ran {
                    status: RunStatus::Ok,
                    cached: false,
                    ..
                }
            );
            cmd.outside = match (ran, outcomes.outside.get(&id)) {
                (true, Some(paths)) => paths.iter().map(|p| rec.outside.seen(p)).collect(),
                (true, None) => Vec::new(),
                (false, _) => rec.previous_outside(id),
            };
            rec.out.commands.push(cmd);
        }
        if let Some(cone) = &req.cone {
            rec.cone_positions(cone);
            rec.carry_outside_cone(cone);
        }
        rec.out.outside = std::mem::take(&mut rec.outside.files);
        rec.keep_stale(stale);
        rec.out.all_up_to_date = stale.kept.is_empty()
            && rec.out.commands.iter().all(|c| !c.must_rerun)
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
        rec.out.full_deps = req.full_deps && rec.out.all_up_to_date;
        rec.variables();
        // What this build's own writes left racy or moved is taken again,
        // so the next build can be the no-op shortcut.
        super::retake::retake(&mut rec.out, &project.root, ChangeDetector::new(self.mode));
        log::debug!(
            "timing: record of {} commands made in {:?}",
            rec.out.commands.len(),
            began.elapsed()
        );
        let options = IndexOptions {
            change_mode: self.mode,
        };
        Index::write(&project.state_dir().join("index"), &rec.out, &options)?;
        log::debug!("timing: record written in {:?}", began.elapsed());
        Ok(())
    }
}

struct Recorder<'a> {
    history: &'a History,
    graph: &'a Graph,
    out: BuildRecord,
    files: HashMap<ProjPath, FileRef, Xxh3DefaultBuilder>,
    /// The new record's file for each file slot of the last index, once
    /// added: carrying a command's reads over by slot needs no lookup by
    /// path (most commands of an incremental build did not run).
    by_slot: Vec<Option<FileRef>>,
    /// Full dependencies: the outside files recorded so far.
    outside: super::outside::OutsideRecorder<'a>,
    /// The graph is a cone: a file's `generated` flag is also the index's
    /// (its producer may not be materialised).
    cone: bool,
}

impl<'a> Recorder<'a> {
    fn new(history: &'a History, graph: &'a Graph) -> Recorder<'a> {
        let recorded = history.index.as_ref().map_or(0, Index::file_count);
        let mut out = BuildRecord {
            generation: history.generation,
            ..Default::default()
        };
        out.files.reserve(recorded);
        out.commands.reserve(graph.len());
        Recorder {
            history,
            graph,
            out,
            // Most of the last build's files are recorded again.
            files: HashMap::with_capacity_and_hasher(recorded, Xxh3DefaultBuilder::new()),
            by_slot: vec![None; recorded],
            outside: super::outside::OutsideRecorder::new(history),
            cone: false,
        }
    }

    /// The record of `path` in the new index (added on first use), with
    /// the state this build leaves it in.
    fn file(&mut self, path: &ProjPath) -> FileRef {
        if let Some(&r) = self.files.get(path) {
            return r;
        }
        let slot = self
            .history
            .index
            .as_ref()
            .and_then(|i| i.file_slot(path.as_str()));
        self.add_file(path.clone(), slot)
    }

    /// The record of the last index's file in `slot` in the new index
    /// (added on first use; None: no such slot, or a bad path in it).
    fn file_at(&mut self, slot: FileSlot) -> Option<FileRef> {
        if let Some(r) = self.by_slot.get(slot.0 as usize).copied().flatten() {
            return Some(r);
        }
        let view = self.history.index.as_ref()?.file_at(slot)?;
        let path = ProjPath::new(view.path()).ok()?;
        let r = match self.files.get(&path) {
            Some(&r) => r,
            None => self.add_file(path, Some(slot)),
        };
        if let Some(cell) = self.by_slot.get_mut(slot.0 as usize) {
            *cell = Some(r);
        }
        Some(r)
    }

    /// Add `path` (in `slot` of the last index, if there) with the state
    /// this build leaves it in.
    fn add_file(&mut self, path: ProjPath, slot: Option<FileSlot>) -> FileRef {
        let h = self.history;
        let generated = self.graph.producer_of(&path).is_some()
            || (self.cone
                && slot
                    .and_then(|s| h.index.as_ref()?.file_at(s))
                    .is_some_and(|f| f.generated()));
        let fresh = lock(&h.fresh).get(&path).cloned();
        let since = h.since_with(slot, fresh.as_ref()).unwrap_or(h.generation);
        let judgement: Judgement = match fresh {
            Some(f) => f.judgement,
            None => slot
                .and_then(|slot| h.scan.judgement(h.index.as_ref()?, slot))
                .unwrap_or_else(|| h.judge_now(&path, generated)),
        };
        let r = self.out.add_file(FileRecord {
            path: path.clone(),
            state: judgement.state,
            digest: judgement.digest,
            generated,
            recorded_at: judgement.recorded_at,
            since,
        });
        self.files.insert(path, r);
        r
    }

    fn seen(&mut self, path: &ProjPath) -> Seen {
        let file = self.file(path);
        let since = self.out.files[file.0 as usize].since;
        Seen { file, since }
    }

    fn command(&mut self, id: CmdId, outcome: &Outcome) -> CommandRecord {
        let node = self.graph.cmd(id);
        let ident = &self.history.ids[id.index()];
        for out in self.graph.outputs(id) {
            self.file(out);
        }
        let prev = self.previous_reads(id);
        let (must_rerun, reads) = match outcome {
            Outcome::Ran {
                status: RunStatus::Ok,
                reads,
                ghosts,
                ..
            } => {
                let mut all: BTreeSet<ProjPath> = node
                    .inputs
                    .iter()
                    .map(|f| self.graph.path(*f).clone())
                    .collect();
                all.extend(reads.iter().flatten().cloned());
                all.extend(ghosts.iter().flatten().cloned());
                let seen = all.iter().map(|p| self.seen(p)).collect();
                (false, seen)
            }
            Outcome::Ran { .. } => (true, prev.unwrap_or_default()),
            Outcome::NotRun { dirty } => {
                let was = self.must_rerun_before(id);
                (*dirty || was || prev.is_none(), prev.unwrap_or_default())
            }
            Outcome::UpToDate | Outcome::NotSelected => {
                let was = self.must_rerun_before(id);
                (was || prev.is_none(), prev.unwrap_or_default())
            }
        };
        CommandRecord {
            rule: node.rule.clone(),
            key: ident.key,
            signature: ident.signature,
            sticky: ident.sticky.clone(),
            must_rerun,
            reads,
            // Set by the caller (`History::record`).
            outside: Vec::new(),
            position: id.index() as u32,
        }
    }

    fn must_rerun_before(&self, id: CmdId) -> bool {
        self.graph
            .outputs(id)
            .next()
            .and_then(|o| self.history.view_by_output(o))
            .is_some_and(|v| v.must_rerun())
    }

    /// What the command saw last time, carried over unchanged (the versions
    /// it saw then, so a change it has not run for still shows next time),
    /// taken from the last index by file slot.
    fn previous_reads(&mut self, id: CmdId) -> Option<Vec<Seen>> {
        let h = self.history;
        let index = h.index.as_ref()?;
        let view = match self.graph.outputs(id).next() {
            Some(o) => index.command_by_output(o.as_str()),
            None => index.commands_by_key(&h.ids[id.index()].key).next(),
        }?;
        Some(
            view.reads()
                .filter_map(|o| {
                    Some(Seen {
                        file: self.file_at(o.file)?,
                        since: o.since,
                    })
                })
                .collect(),
        )
    }

    /// Full dependencies: what the command saw outside the project last
    /// time, carried over unchanged (as [`Recorder::previous_reads`]). A
    /// command that ran successfully with full deps off records none.
    fn previous_outside(&mut self, id: CmdId) -> Vec<SeenOutside> {
        let h = self.history;
        let Some(index) = h.index.as_ref() else {
            return Vec::new();
        };
        let view = match self.graph.outputs(id).next() {
            Some(o) => index.command_by_output(o.as_str()),
            None => index.commands_by_key(&h.ids[id.index()].key).next(),
        };
        let Some(view) = view else {
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

    /// A stale output that could not be removed keeps its command's record,
    /// so the next build tries again.
    fn keep_stale(&mut self, stale: &StaleRemoval) {
        let h = self.history;
        let mut done = BTreeSet::new();
        for (path, _) in &stale.kept {
            let Some(view) = h.view_by_output(path) else {
                continue;
            };
            if !done.insert(view.slot()) {
                continue;
            }
            let mut file_ref = |slot| {
                let p = h
                    .index
                    .as_ref()
                    .and_then(|i| i.file_at(slot))
                    .and_then(|f| ProjPath::new(f.path()).ok());
                self.file(&p.unwrap_or_default())
            };
            if let Ok(cmd) = view.to_record(&mut file_ref) {
                for o in cmd.rule.outputs.iter().chain(&cmd.rule.extra_outputs) {
                    self.file(o);
                }
                self.out.commands.push(cmd);
            }
        }
    }

    /// The rules of the Tupfiles `keep` picks (by variant and directory)
    /// came from the index: their parse read-sets stay true (nothing they
    /// name changed), so carry them over.
    fn carry_tupfiles(&mut self, keep: &dyn Fn(&TupfileKey) -> bool) {
        let Some(index) = self.history.index.as_ref() else {
            return;
        };
        for view in index.tupfiles() {
            let paths: Vec<ProjPath> = view
                .reads()
                .filter_map(|o| ProjPath::new(index.file_at(o.file)?.path()).ok())
                .collect();
            let (Ok(variant), Ok(dir), Ok(tupfile)) = (
                ProjPath::new(view.variant()),
                ProjPath::new(view.dir()),
                ProjPath::new(view.tupfile()),
            ) else {
                continue;
            };
            let key = TupfileKey { variant, dir };
            if !keep(&key) {
                continue;
            }
            let record = TupfileRecord {
                variant: key.variant,
                dir: key.dir,
                tupfile,
                reads: paths.iter().map(|p| self.seen(p)).collect(),
                vars: view
                    .vars()
                    .map(|(name, value)| StickyVar {
                        name: name.to_string(),
                        value,
                    })
                    .collect(),
                depends_on: view
                    .depends_on()
                    .filter_map(|d| ProjPath::new(d).ok())
                    .collect(),
            };
            self.out.tupfiles.push(record);
        }
    }

    /// Nothing was parsed: the index's tree stays true.
    fn carry_tree(&mut self) {
        let Some(index) = self.history.index.as_ref() else {
            return;
        };
        self.out.tree = index
            .tree()
            .filter_map(|(path, listing)| {
                Some(TreeEntry {
                    path: ProjPath::new(path).ok()?,
                    listing,
                })
            })
            .collect();
    }

    /// Variable values by name, for sticky comparisons.
    fn variables(&mut self) {
        let mut seen = BTreeSet::new();
        for id in &self.history.ids {
            for v in &id.sticky {
                if seen.insert(v.name.clone()) {
                    self.out.variables.push(crate::index::VariableRecord {
                        name: v.name.clone(),
                        value: v.value,
                    });
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The cone's carry-over (`crate::cone`), until the index takes a journal of
// what changed: the commands the build did not materialise keep their
// records as the last index has them. Separate so that it can go when the
// record writes only the delta.
impl Recorder<'_> {
    /// Each materialised command keeps its recorded position (the graph
    /// holds a part of the rules, so its order is not theirs).
    fn cone_positions(&mut self, cone: &crate::cone::Cone) {
        for (cmd, slot) in self.out.commands.iter_mut().zip(&cone.slots) {
            if let Some(view) = self
                .history
                .index
                .as_ref()
                .and_then(|i| i.command_at(*slot))
            {
                cmd.position = view.position();
            }
        }
    }

    /// Every command of the last index outside the cone, as recorded.
    fn carry_outside_cone(&mut self, cone: &crate::cone::Cone) {
        let h = self.history;
        let Some(index) = h.index.as_ref() else {
            return;
        };
        let mut names: BTreeSet<String> = self
            .out
            .commands
            .iter()
            .flat_map(|c| c.sticky.iter().map(|v| v.name.clone()))
            .collect();
        for view in index.commands().filter(|c| !cone.contains(c.slot())) {
            let mut file_ref = |slot| match self.file_at(slot) {
                Some(r) => r,
                None => self.file(&ProjPath::default()),
            };
            let Ok(mut cmd) = view.to_record(&mut file_ref) else {
                continue;
            };
            for o in cmd.rule.outputs.iter().chain(&cmd.rule.extra_outputs) {
                self.file(o);
            }
            cmd.outside = view
                .outside_reads()
                .filter_map(|(slot, since)| {
                    Some(SeenOutside {
                        file: self.outside.at(slot)?,
                        since,
                    })
                })
                .collect();
            for v in &cmd.sticky {
                if names.insert(v.name.clone()) {
                    self.out.variables.push(crate::index::VariableRecord {
                        name: v.name.clone(),
                        value: v.value,
                    });
                }
            }
            self.out.commands.push(cmd);
        }
    }
}
