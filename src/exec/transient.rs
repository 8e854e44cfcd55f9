//! `^t` transient outputs: deleted once every command that consumes them
//! ran (or was up to date) in this build; their absence afterwards is by
//! design, so it re-runs neither their producer nor their consumers. When a
//! consumer may run, the producer of each absent transient file it reads is
//! made to run first (as tup does).

use std::collections::BTreeSet;
use std::path::Path;

use super::schedule::{Outcome, RunStatus};
use crate::graph::{CmdId, Graph};
use crate::paths::ProjPath;
use crate::plan::{Plan, Reason};

/// True when `path` is an output of a `^t` rule of `graph`.
pub fn is_transient(graph: &Graph, path: &ProjPath) -> bool {
    graph
        .producer_of(path)
        .is_some_and(|c| graph.cmd(c).rule.flags.transient)
}

/// Give the producer of every absent transient file that a command which
/// may run reads (what it read last time, its declared inputs, and the
/// outputs of the commands it depends on: a new consumer of a group has
/// no reads yet) a reason to run, and so on up the chain: a producer made
/// to run may itself need absent transient files. Conservative: a
/// consumer that early cut-off later spares still had its inputs remade.
pub fn pull_producers(
    plan: &mut Plan,
    graph: &Graph,
    selected: &[bool],
    absent: &BTreeSet<ProjPath>,
) {
    if absent.is_empty() {
        return;
    }
    loop {
        let mut pulled = Vec::new();
        for consumer in plan.may_run(graph, selected) {
            let mut needs = plan.read_set(graph, consumer);
            for &dep in graph.deps(consumer) {
                needs.extend(graph.outputs(dep).cloned());
            }
            for path in needs.into_iter().filter(|p| absent.contains(p)) {
                match graph.producer_of(&path) {
                    Some(producer) if !plan.direct.contains_key(&producer) => {
                        pulled.push((producer, path));
                    }
                    _ => {}
                }
            }
        }
        if pulled.is_empty() {
            return;
        }
        for (producer, path) in pulled {
            plan.direct
                .entry(producer)
                .or_insert(Reason::OutputMissing(path));
        }
    }
}

/// Counts, per transient producer, the consumers of this build still to
/// settle; deletes its outputs when the last one settled well.
#[derive(Debug)]
pub struct Sweeper {
    /// Selected dependents not yet settled, by producer's `CmdId::index`
    /// (None: not a transient producer, or nothing selected consumes it).
    waiting: Vec<Option<usize>>,
    /// A consumer failed or did not run: the outputs stay for next time.
    spoiled: Vec<bool>,
}

impl Sweeper {
    /// A sweeper for the selected commands of `graph`.
    pub fn new(graph: &Graph, selected: &[bool]) -> Sweeper {
        let waiting = graph
            .commands()
            .map(|(id, node)| {
                let consumers = graph
                    .dependents(id)
                    .iter()
                    .filter(|d| selected[d.index()])
                    .count();
                (node.rule.flags.transient && consumers > 0).then_some(consumers)
            })
            .collect();
        Sweeper {
            waiting,
            spoiled: vec![false; graph.len()],
        }
    }

    /// Command `id` settled with `outcome`: delete the outputs of each
    /// transient producer it consumed whose consumers are now all done
    /// well (and which itself is done well). Returns what was deleted.
    pub fn settled(
        &mut self,
        graph: &Graph,
        root: &Path,
        id: CmdId,
        per_cmd: &[Outcome],
    ) -> Vec<ProjPath> {
        let mut deleted = Vec::new();
        let good = settled_well(&per_cmd[id.index()]);
        for &producer in graph.deps(id) {
            let i = producer.index();
            let Some(left) = self.waiting[i].as_mut() else {
                continue;
            };
            *left = left.saturating_sub(1);
            self.spoiled[i] |= !good;
            if *left == 0 && !self.spoiled[i] && settled_well(&per_cmd[i]) {
                deleted.extend(delete_outputs(graph, root, producer));
            }
        }
        deleted
    }
}

/// A build in which every selected command settled as `per_cmd` says
/// without the scheduler (nothing had a reason to run): delete the `^t`
/// outputs still on disk whose consumers all settled well, as the
/// scheduler's [`Sweeper`] would have. Normally there are none; a build
/// killed after a consumer committed but before the sweep leaves them, and
/// in a digest mode they are as recorded, so nothing else would remove
/// them. Returns what was deleted.
pub fn sweep_settled(
    graph: &Graph,
    root: &Path,
    selected: &[bool],
    per_cmd: &[Outcome],
) -> Vec<ProjPath> {
    let mut sweeper = Sweeper::new(graph, selected);
    graph
        .commands()
        .filter(|(id, _)| selected[id.index()])
        .flat_map(|(id, _)| sweeper.settled(graph, root, id, per_cmd))
        .collect()
}

/// Ran and passed, or needed no run.
fn settled_well(outcome: &Outcome) -> bool {
    matches!(
        outcome,
        Outcome::UpToDate
            | Outcome::Ran {
                status: RunStatus::Ok,
                ..
            }
    )
}

/// Remove the outputs of `id` that exist (directories stay: tupfs made
/// them and the next run of the producer needs them again).
fn delete_outputs(graph: &Graph, root: &Path, id: CmdId) -> Vec<ProjPath> {
    graph
        .outputs(id)
        .filter(|p| std::fs::remove_file(p.to_disk(root)).is_ok())
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::tests::rule;

    fn p(s: &str) -> ProjPath {
        ProjPath::new(s).unwrap()
    }

    /// gen (t) → cc (t) → link; `other` is independent.
    fn chain() -> Graph {
        let mut gen = rule("", "gen", &["g.in"], &["g.c"]);
        gen.flags.transient = true;
        let mut cc = rule("", "cc", &["g.c"], &["g.o"]);
        cc.flags.transient = true;
        Graph::build(vec![
            gen,
            cc,
            rule("", "link", &["g.o"], &["app"]),
            rule("", "other", &["o.c"], &["o.o"]),
        ])
        .unwrap()
    }

    #[test]
    fn a_consumer_that_may_run_pulls_the_whole_transient_chain() {
        let g = chain();
        let mut plan = Plan {
            prev: vec![None; 4],
            ..Default::default()
        };
        plan.direct
            .insert(CmdId::from_index(2), Reason::OutputMissing(p("app")));
        let absent: BTreeSet<ProjPath> = [p("g.c"), p("g.o")].into();
        pull_producers(&mut plan, &g, &[true; 4], &absent);
        let ran: Vec<usize> = plan.direct.keys().map(|c| c.index()).collect();
        assert_eq!(ran, vec![0, 1, 2]);
    }

    #[test]
    fn nothing_is_pulled_when_no_consumer_runs() {
        let g = chain();
        let mut plan = Plan {
            prev: vec![None; 4],
            ..Default::default()
        };
        plan.direct
            .insert(CmdId::from_index(3), Reason::OutputMissing(p("o.o")));
        let absent: BTreeSet<ProjPath> = [p("g.c"), p("g.o")].into();
        pull_producers(&mut plan, &g, &[true; 4], &absent);
        assert_eq!(plan.direct.len(), 1);
    }

    #[test]
    fn outputs_go_once_every_consumer_settled_well() {
        let t = tempfile::tempdir().unwrap();
        let g = chain();
        for f in ["g.c", "g.o", "app"] {
            std::fs::write(t.path().join(f), "x").unwrap();
        }
        let mut sweeper = Sweeper::new(&g, &[true; 4]);
        let ok = Outcome::Ran {
            reason: Reason::New,
            status: RunStatus::Ok,
            reads: None,
            ghosts: None,
            cached: false,
        };
        let per_cmd = vec![ok.clone(), ok.clone(), ok.clone(), Outcome::UpToDate];
        let gone = sweeper.settled(&g, t.path(), CmdId::from_index(1), &per_cmd);
        assert_eq!(gone, vec![p("g.c")]);
        let gone = sweeper.settled(&g, t.path(), CmdId::from_index(2), &per_cmd);
        assert_eq!(gone, vec![p("g.o")]);
        assert!(t.path().join("app").exists());
    }

    #[test]
    fn a_build_that_ran_nothing_deletes_what_a_killed_one_left() {
        let t = tempfile::tempdir().unwrap();
        let g = chain();
        for f in ["g.c", "g.o", "app", "o.o"] {
            std::fs::write(t.path().join(f), "x").unwrap();
        }
        let per_cmd = vec![Outcome::UpToDate; 4];
        let gone = sweep_settled(&g, t.path(), &[true; 4], &per_cmd);
        assert_eq!(gone, vec![p("g.c"), p("g.o")]);
        assert!(t.path().join("app").exists() && t.path().join("o.o").exists());

        // Without its consumer selected, a transient output stays.
        std::fs::write(t.path().join("g.o"), "x").unwrap();
        let gone = sweep_settled(&g, t.path(), &[true, true, false, true], &per_cmd);
        assert!(gone.is_empty(), "{gone:?}");
        assert!(t.path().join("g.o").exists());
    }

    #[test]
    fn a_failed_consumer_keeps_them() {
        let t = tempfile::tempdir().unwrap();
        let g = chain();
        std::fs::write(t.path().join("g.o"), "x").unwrap();
        let mut sweeper = Sweeper::new(&g, &[true; 4]);
        let failed = Outcome::Ran {
            reason: Reason::New,
            status: RunStatus::Failed,
            reads: None,
            ghosts: None,
            cached: false,
        };
        let per_cmd = vec![
            Outcome::UpToDate,
            Outcome::UpToDate,
            failed,
            Outcome::UpToDate,
        ];
        let gone = sweeper.settled(&g, t.path(), CmdId::from_index(2), &per_cmd);
        assert!(gone.is_empty());
        assert!(t.path().join("g.o").exists());
    }
}
