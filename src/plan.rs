//! Which commands must run and why.
//!
//! The planner joins every command of the graph to what the last build
//! recorded about it (by outputs first, then by key: never by position) and
//! gives each one that must run a [`Reason`]. Reasons that need a generated
//! file's new content (an upstream command re-ran) are decided while the
//! build runs, by [`Plan::upstream_reason`], which is where early cut-off
//! happens: an output that came out unchanged dirties nobody.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::graph::{CmdId, Graph};
use crate::identity::{CommandKey, Identity, Signature, StickyVar};
use crate::index::{FileSlot, OutsideSlot};
use crate::outside::OutsidePath;
use crate::paths::ProjPath;

/// What the last build recorded about one command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrevCommand {
    /// Its key then.
    pub key: CommandKey,
    /// Its signature then.
    pub signature: Signature,
    /// Its sticky variables then.
    pub sticky: Vec<StickyVar>,
    /// Its outputs then.
    pub outputs: Vec<ProjPath>,
    /// It failed or was interrupted: run it again.
    pub must_rerun: bool,
    /// Files it read (declared inputs and what the tracer saw) and paths
    /// it looked up in vain, with the version of each that it saw.
    pub reads: Vec<SeenFile>,
    /// Full dependencies: the outside files it read or looked for (their
    /// slots in the last index), with the generation seen.
    pub outside: Vec<(OutsideSlot, u32)>,
}

/// One file a command read (or looked for), as it was then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenFile {
    /// The file.
    pub path: ProjPath,
    /// The generation in which its contents had last changed, when read.
    pub since: u32,
    /// It did not exist (a ghost).
    pub ghost: bool,
    /// Where the last build's index holds it, when known: lets
    /// [`Changes::since_seen`] answer without looking the path up.
    pub slot: Option<FileSlot>,
}

/// The last build, as the planner needs it (implemented over the index).
pub trait LastBuild: Sync {
    /// The command that produced `path` last time.
    fn by_output(&self, path: &ProjPath) -> Option<PrevCommand>;
    /// The command with this key last time (commands without outputs).
    fn by_key(&self, key: &CommandKey) -> Option<PrevCommand>;
}

/// The state of files now against the index, per the change mode
/// (implemented over the `change` module).
pub trait Changes: Sync {
    /// The generation in which `path`'s contents last changed, as of the
    /// scan at the start of this build (None: not known).
    fn since(&self, path: &ProjPath) -> Option<u32>;
    /// [`Changes::since`] of a file a command saw (an implementation may
    /// use its `slot` to skip the lookup by path).
    fn since_seen(&self, seen: &SeenFile) -> Option<u32> {
        self.since(&seen.path)
    }
    /// True when `path` differs from its recorded state (or has none).
    fn modified(&self, path: &ProjPath) -> bool;
    /// True when `path` exists now.
    fn exists(&self, path: &ProjPath) -> bool;
    /// After its producer re-ran: did `path` change? `cutoff` asks for a
    /// content comparison even in mtime mode (the `^o` flag).
    fn output_changed(&self, path: &ProjPath, cutoff: bool) -> bool;
    /// Full dependencies: [`Reason::OutsideChanged`] for the first outside
    /// file of `prev` that is not the version it saw (changed, vanished or
    /// appeared), or [`Reason::FullDepsOn`] when it ran without them.
    fn outside_reason(&self, prev: &PrevCommand) -> Option<Reason> {
        let _ = prev;
        None
    }
    /// With a cone (a graph of part of the commands): when a command the
    /// graph does not hold makes `path` and no declared path of edges
    /// leads from it to `reader`, that command described; else None.
    fn made_elsewhere(&self, graph: &Graph, reader: CmdId, path: &ProjPath) -> Option<String> {
        let _ = (graph, reader, path);
        None
    }
}

/// Why a command runs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// The last build did not have it.
    New,
    /// It failed or was interrupted last time.
    MustRerun,
    /// Its text or directory changed (joined to last time by its outputs).
    IdentityChanged,
    /// Same key, different signature: a sticky variable changed.
    VariableChanged(String),
    /// An input (declared, or observed last time) changed.
    InputChanged(ProjPath),
    /// A path it looked up in vain now exists.
    GhostAppeared(ProjPath),
    /// One of its outputs is gone.
    OutputMissing(ProjPath),
    /// One of its outputs was changed by someone else.
    OutputModified(ProjPath),
    /// Full dependencies: a file outside the project it read changed (or
    /// one it looked for in vain appeared).
    OutsideChanged(OutsidePath),
    /// Full dependencies were turned on and it was recorded without them.
    FullDepsOn,
}

impl Reason {
    /// The run log's `reason` word.
    pub fn word(&self) -> &'static str {
        match self {
            Reason::New => "new",
            Reason::MustRerun => "must-rerun",
            Reason::IdentityChanged => "identity-changed",
            Reason::VariableChanged(_) => "variable-changed",
            Reason::InputChanged(_) => "input-changed",
            Reason::GhostAppeared(_) => "ghost-appeared",
            Reason::OutputMissing(_) => "output-missing",
            Reason::OutputModified(_) => "output-modified",
            Reason::OutsideChanged(_) => "outside-changed",
            Reason::FullDepsOn => "full-deps-on",
        }
    }

    /// The run log's `reason_detail`: the file or variable, if any.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Reason::VariableChanged(v) if !v.is_empty() => Some(v),
            Reason::InputChanged(p)
            | Reason::GhostAppeared(p)
            | Reason::OutputMissing(p)
            | Reason::OutputModified(p) => Some(p.as_str()),
            Reason::OutsideChanged(p) => Some(p.as_str()),
            _ => None,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::New => f.write_str("new command"),
            Reason::MustRerun => f.write_str("failed or was interrupted last time"),
            Reason::IdentityChanged => f.write_str("its command line changed"),
            Reason::VariableChanged(v) if v.is_empty() => f.write_str("a variable changed"),
            Reason::VariableChanged(v) => write!(f, "variable {v} changed"),
            Reason::InputChanged(p) => write!(f, "input {p} changed"),
            Reason::GhostAppeared(p) => write!(f, "{p} appeared (it was looked up before)"),
            Reason::OutputMissing(p) => write!(f, "output {p} is missing"),
            Reason::OutputModified(p) => write!(f, "output {p} was modified"),
            Reason::OutsideChanged(p) => write!(f, "{p} (outside the project) changed"),
            Reason::FullDepsOn => f.write_str("full dependencies are on and it ran without"),
        }
    }
}

/// The plan: for every command, its record from last time and, if it must
/// run whatever happens upstream, why.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Indexed by `CmdId::index`: what the last build recorded.
    pub prev: Vec<Option<PrevCommand>>,
    /// Commands that must run, and why (before upstream effects).
    pub direct: BTreeMap<CmdId, Reason>,
}

impl Plan {
    /// Decide, for every command of `graph`, whether it must run.
    pub fn make(
        graph: &Graph,
        ids: &[Identity],
        last: &dyn LastBuild,
        changes: &dyn Changes,
    ) -> Plan {
        // Each command is judged on its own: on two threads, since a big
        // incremental build spends its planning joining every command to
        // its record.
        let judged = crate::change::parallel_map(graph.len(), PLAN_THREADS, |i| {
            let id = CmdId::from_index(i);
            let ident = &ids[i];
            let outputs: Vec<&ProjPath> = graph.outputs(id).collect();
            let prev = join_previous(&outputs, ident, last);
            let reason = direct_reason(graph, id, ident, prev.as_ref(), changes);
            (prev, reason)
        });
        let mut plan = Plan::default();
        for (i, (prev, reason)) in judged.into_iter().enumerate() {
            if let Some(reason) = reason {
                plan.direct.insert(CmdId::from_index(i), reason);
            }
            plan.prev.push(prev);
        }
        plan
    }

    /// Every file whose change re-runs a command: its declared inputs plus
    /// what the tracer saw it read last time. (Order-only inputs only order
    /// the build, as in tup; reading one shows up as an observed read.)
    pub fn read_set(&self, graph: &Graph, id: CmdId) -> BTreeSet<ProjPath> {
        let node = graph.cmd(id);
        let mut set: BTreeSet<ProjPath> =
            node.inputs.iter().map(|f| graph.path(*f).clone()).collect();
        if let Some(prev) = &self.prev[id.index()] {
            set.extend(prev.reads.iter().map(|s| s.path.clone()));
        }
        set
    }

    /// The selected commands that may run: those with a reason and,
    /// unless early cut-off stops them, everything downstream of those.
    pub fn may_run(&self, graph: &Graph, selected: &[bool]) -> BTreeSet<CmdId> {
        let mut out = BTreeSet::new();
        let mut stack: Vec<CmdId> = self.direct.keys().copied().collect();
        while let Some(c) = stack.pop() {
            if selected[c.index()] && out.insert(c) {
                stack.extend(graph.dependents(c).iter().copied());
            }
        }
        out
    }

    /// While building: does `id` run because a file it reads was rewritten
    /// with new content by a command that ran in this build?
    /// `changed_outputs` holds exactly those files.
    pub fn upstream_reason(
        &self,
        graph: &Graph,
        id: CmdId,
        changed_outputs: &BTreeSet<ProjPath>,
    ) -> Option<Reason> {
        // Most commands become ready while nothing upstream has changed.
        if changed_outputs.is_empty() {
            return None;
        }
        self.read_set(graph, id)
            .into_iter()
            .find(|p| changed_outputs.contains(p))
            .map(Reason::InputChanged)
    }
}

/// Find last build's record of this command: by its outputs first (so an
/// edited recipe re-runs in place), else by key.
fn join_previous(
    outputs: &[&ProjPath],
    ident: &Identity,
    last: &dyn LastBuild,
) -> Option<PrevCommand> {
    match outputs.first() {
        Some(first) => last.by_output(first),
        None => last.by_key(&ident.key),
    }
}

/// Why `id` must run regardless of upstream commands, if it must.
fn direct_reason(
    graph: &Graph,
    id: CmdId,
    ident: &Identity,
    prev: Option<&PrevCommand>,
    changes: &dyn Changes,
) -> Option<Reason> {
    let Some(prev) = prev else {
        return Some(Reason::New);
    };
    if prev.must_rerun {
        return Some(Reason::MustRerun);
    }
    if prev.key != ident.key {
        return Some(Reason::IdentityChanged);
    }
    let outputs: Vec<&ProjPath> = graph.outputs(id).collect();
    if prev.signature != ident.signature || !same_paths(&prev.outputs, &outputs) {
        let vars = changed_var(&prev.sticky, &ident.sticky);
        return Some(match vars.is_empty() {
            true => Reason::IdentityChanged,
            false => Reason::VariableChanged(vars),
        });
    }
    if let Some(reason) = input_reason(graph, id, prev, changes) {
        return Some(reason);
    }
    if let Some(reason) = changes.outside_reason(prev) {
        return Some(reason);
    }
    if let Some(p) = outputs.iter().find(|p| !changes.exists(p)) {
        return Some(Reason::OutputMissing((*p).clone()));
    }
    if let Some(p) = outputs.iter().find(|p| changes.modified(p)) {
        return Some(Reason::OutputModified((*p).clone()));
    }
    None
}

/// Threads that join commands to their records in [`Plan::make`].
const PLAN_THREADS: usize = 2;

/// Up to this many declared inputs are looked up among a command's reads
/// one by one (see [`input_reason`]).
const FEW_INPUTS: usize = 4;

/// A file it read (or looked for) is not the version it saw, or a declared
/// input is one it never saw.
fn input_reason(
    graph: &Graph,
    id: CmdId,
    prev: &PrevCommand,
    changes: &dyn Changes,
) -> Option<Reason> {
    let node = graph.cmd(id);
    // Most commands declare an input or two: searching the reads for each
    // costs less than building a set of them (kept for long input lists).
    let set: Option<BTreeSet<&ProjPath>> =
        (node.inputs.len() > FEW_INPUTS).then(|| prev.reads.iter().map(|s| &s.path).collect());
    let seen = |p: &ProjPath| match &set {
        Some(set) => set.contains(p),
        None => prev.reads.iter().any(|s| &s.path == p),
    };
    let mut declared = node.inputs.iter().map(|f| graph.path(*f));
    if let Some(p) = declared.find(|p| !seen(p)) {
        return Some(Reason::InputChanged(p.clone()));
    }
    let moved = prev
        .reads
        .iter()
        .find(|s| changes.since_seen(s) != Some(s.since))?;
    Some(match moved.ghost && changes.exists(&moved.path) {
        true => Reason::GhostAppeared(moved.path.clone()),
        false => Reason::InputChanged(moved.path.clone()),
    })
}

fn same_paths(a: &[ProjPath], b: &[&ProjPath]) -> bool {
    let a: BTreeSet<&ProjPath> = a.iter().collect();
    let b: BTreeSet<&ProjPath> = b.iter().copied().collect();
    a == b
}

/// The names of the variables whose values differ (comma-separated).
fn changed_var(before: &[StickyVar], now: &[StickyVar]) -> String {
    let map = |vars: &[StickyVar]| -> BTreeMap<String, crate::identity::Digest> {
        vars.iter().map(|v| (v.name.clone(), v.value)).collect()
    };
    let (before, now) = (map(before), map(now));
    let names: BTreeSet<&String> = before.keys().chain(now.keys()).collect();
    names
        .into_iter()
        .filter(|n| before.get(*n) != now.get(*n))
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::tests::rule;
    use std::collections::{HashMap, HashSet};

    #[derive(Default)]
    struct Fake {
        by_out: HashMap<ProjPath, PrevCommand>,
        changed: HashSet<ProjPath>,
        missing: HashSet<ProjPath>,
    }

    fn seen(path: &str, ghost: bool) -> SeenFile {
        SeenFile {
            slot: None,
            path: p(path),
            since: 1,
            ghost,
        }
    }

    impl LastBuild for Fake {
        fn by_output(&self, path: &ProjPath) -> Option<PrevCommand> {
            self.by_out.get(path).cloned()
        }
        fn by_key(&self, _: &CommandKey) -> Option<PrevCommand> {
            None
        }
    }

    impl Changes for Fake {
        fn since(&self, path: &ProjPath) -> Option<u32> {
            Some(if self.changed.contains(path) { 2 } else { 1 })
        }
        fn modified(&self, path: &ProjPath) -> bool {
            self.changed.contains(path)
        }
        fn exists(&self, path: &ProjPath) -> bool {
            !self.missing.contains(path)
        }
        fn output_changed(&self, path: &ProjPath, _: bool) -> bool {
            self.changed.contains(path)
        }
    }

    fn p(s: &str) -> ProjPath {
        ProjPath::new(s).unwrap()
    }

    fn ident(key: &str) -> Identity {
        Identity {
            key: crate::identity::key_of(key, ""),
            signature: Signature(crate::identity::Digest::of(key.as_bytes())),
            sticky: vec![],
        }
    }

    fn setup() -> (Graph, Vec<Identity>, Fake) {
        let g = Graph::build(vec![
            rule("", "cc", &["a.c"], &["a.o"]),
            rule("", "link", &["a.o"], &["app"]),
        ])
        .unwrap();
        let ids = vec![ident("cc"), ident("link")];
        let mut fake = Fake::default();
        for (out, key, ins) in [("a.o", "cc", "a.c"), ("app", "link", "a.o")] {
            let prev = PrevCommand {
                key: ident(key).key,
                signature: ident(key).signature,
                outputs: vec![p(out)],
                reads: vec![seen(ins, false), seen("x.h", false), seen("ghost.h", true)],
                ..Default::default()
            };
            fake.by_out.insert(p(out), prev);
        }
        fake.missing.insert(p("ghost.h"));
        (g, ids, fake)
    }

    #[test]
    fn nothing_changed_runs_nothing() {
        let (g, ids, fake) = setup();
        assert!(Plan::make(&g, &ids, &fake, &fake).direct.is_empty());
    }

    #[test]
    fn each_reason_is_found() {
        let (g, mut ids, mut fake) = setup();
        fake.changed.insert(p("x.h"));
        let plan = Plan::make(&g, &ids, &fake, &fake);
        assert_eq!(
            plan.direct[&CmdId::from_index(0)],
            Reason::InputChanged(p("x.h"))
        );
        fake.changed.clear();
        fake.missing.remove(&p("ghost.h"));
        fake.changed.insert(p("ghost.h"));
        let plan = Plan::make(&g, &ids, &fake, &fake);
        assert_eq!(
            plan.direct[&CmdId::from_index(0)],
            Reason::GhostAppeared(p("ghost.h"))
        );
        fake.missing.insert(p("ghost.h"));
        fake.changed.clear();
        fake.missing.insert(p("app"));
        ids[0].signature = Signature(crate::identity::Digest::of(b"other"));
        ids[0].sticky = vec![StickyVar {
            name: "$FOO".into(),
            value: crate::identity::Digest::of(b"1"),
        }];
        let plan = Plan::make(&g, &ids, &fake, &fake);
        assert_eq!(
            plan.direct[&CmdId::from_index(0)].word(),
            "variable-changed"
        );
        assert_eq!(
            plan.direct[&CmdId::from_index(1)],
            Reason::OutputMissing(p("app"))
        );
        ids[0].key = crate::identity::key_of("edited", "");
        let plan = Plan::make(&g, &ids, &fake, &fake);
        assert_eq!(plan.direct[&CmdId::from_index(0)], Reason::IdentityChanged);
    }

    #[test]
    fn upstream_change_propagates_only_when_output_changed() {
        let (g, ids, fake) = setup();
        let plan = Plan::make(&g, &ids, &fake, &fake);
        let link = CmdId::from_index(1);
        assert_eq!(plan.upstream_reason(&g, link, &BTreeSet::new()), None);
        let changed: BTreeSet<ProjPath> = [p("a.o")].into();
        assert_eq!(
            plan.upstream_reason(&g, link, &changed),
            Some(Reason::InputChanged(p("a.o")))
        );
    }
}
