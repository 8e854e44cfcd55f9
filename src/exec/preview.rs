//! The next build's plan without running it (`tupfs todo`, `tupfs graph`):
//! the same history, scan and [`Plan`] as [`super::run_build_with`], the
//! commands that would run in the order they may run, each with its
//! reason; nothing is removed, run or recorded.

use std::collections::BTreeSet;

use crate::graph::{CmdId, Graph};
use crate::options::ChangeMode;
use crate::paths::ProjPath;
use crate::plan::{Plan, SeenFile};
use crate::project::Project;
use crate::reuse::Prior;
use crate::ui::{Ui, UiOptions};

/// What the next build would do.
#[derive(Debug, Clone, Default)]
pub struct Preview {
    /// The commands that would run, in an order they may run in (upstream
    /// first), each with why: a [`crate::plan::Reason`] text, or the
    /// upstream command whose outputs it reads.
    pub runs: Vec<(CmdId, Why)>,
    /// Outputs of the last build that no rule makes now (removed first).
    pub stale: Vec<ProjPath>,
    /// What each command read (and looked up in vain) last time, by
    /// `CmdId::index` (empty for a new command).
    pub reads: Vec<Vec<SeenFile>>,
}

/// Why a command of a [`Preview`] would run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// It must run whatever happens upstream.
    Direct(crate::plan::Reason),
    /// It reads `file`, which a command that runs before it rewrites
    /// (it may yet be cut off early in a digest mode).
    Upstream(ProjPath),
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::Direct(reason) => reason.fmt(f),
            Why::Upstream(p) => write!(f, "it reads {p}, which is rebuilt first"),
        }
    }
}

/// The plan of a build of the `selected` commands of `graph` (all when
/// empty), from `prior` (opened and scanned). `reused`: the rules came
/// from the index.
pub fn preview(
    project: &Project,
    graph: &Graph,
    prior: Prior,
    change: ChangeMode,
    reused: bool,
    selected: &[bool],
) -> Preview {
    let ui = Ui::new(UiOptions::default());
    let mut history = super::history::History::load(project, graph, change, prior, reused, &ui);
    let stale = history.stale_outputs(graph);
    history.scan(graph, false);
    let selected = match selected.is_empty() {
        true => vec![true; graph.len()],
        false => selected.to_vec(),
    };
    let mut plan = Plan::make(graph, &history.ids, &history, &history);
    stale_readers(&mut plan, graph, &stale);
    super::transient::pull_producers(&mut plan, graph, &selected, &history.absent_transients);
    let may_run = plan.may_run(graph, &selected);
    let runs = graph
        .topo_order()
        .into_iter()
        .filter(|id| may_run.contains(id))
        .map(|id| (id, why(graph, &plan, &may_run, id)))
        .collect();
    let reads = plan
        .prev
        .iter()
        .map(|p| p.as_ref().map(|p| p.reads.clone()).unwrap_or_default())
        .collect();
    Preview { runs, stale, reads }
}

/// The build removes the stale outputs before it plans again, so a
/// command that read one (last time) sees it gone and runs.
fn stale_readers(plan: &mut Plan, graph: &Graph, stale: &[ProjPath]) {
    if stale.is_empty() {
        return;
    }
    let stale: BTreeSet<&ProjPath> = stale.iter().collect();
    for (id, _) in graph.commands() {
        if plan.direct.contains_key(&id) {
            continue;
        }
        let read = plan
            .read_set(graph, id)
            .into_iter()
            .find(|p| stale.contains(p));
        if let Some(path) = read {
            plan.direct
                .insert(id, crate::plan::Reason::InputChanged(path));
        }
    }
}

/// Why `id`, which may run, runs: its own reason, else the first file it
/// reads that a command that may run makes.
fn why(graph: &Graph, plan: &Plan, may_run: &BTreeSet<CmdId>, id: CmdId) -> Why {
    if let Some(reason) = plan.direct.get(&id) {
        return Why::Direct(reason.clone());
    }
    let rebuilt: BTreeSet<ProjPath> = graph
        .deps(id)
        .iter()
        .filter(|d| may_run.contains(d))
        .flat_map(|d| graph.outputs(*d).cloned())
        .collect();
    let file = plan
        .read_set(graph, id)
        .into_iter()
        .find(|p| rebuilt.contains(p))
        .or_else(|| rebuilt.into_iter().next())
        .unwrap_or_else(ProjPath::root);
    Why::Upstream(file)
}
