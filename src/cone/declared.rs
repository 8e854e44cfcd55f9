//! Declared paths of edges that leave the cone's graph: may a command of
//! the graph read what a command it does not hold writes (or, after a
//! partial parse, what a command it holds writes through commands it does
//! not hold)? Asked only when a job read such a file, or a recorded read
//! is left unordered by the graph (rare), by walking the declared inputs,
//! order-only inputs and groups of the reader's ancestors through the
//! index and the graph.

use std::collections::HashSet;

use crate::graph::{CmdId, Graph};
use crate::index::{CmdSlot, Index};

/// True when a declared path of edges leads from the index's command in
/// `maker` (not in `graph`) to `reader` (in `graph`).
pub fn reaches(index: &Index, graph: &Graph, maker: CmdSlot, reader: CmdId) -> bool {
    walk_from(index, graph, Target::Index(maker), reader)
}

/// True when a declared path of edges leads from `maker` to `reader` (both
/// in `graph`), through commands of the graph or of the index (a graph of
/// a cone does not hold every command on the way).
pub fn reaches_in_graph(index: &Index, graph: &Graph, maker: CmdId, reader: CmdId) -> bool {
    walk_from(index, graph, Target::Graph(maker), reader)
}

/// What the walk looks for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Index(CmdSlot),
    Graph(CmdId),
}

fn walk_from(index: &Index, graph: &Graph, target: Target, reader: CmdId) -> bool {
    let mut walk = Walk {
        index,
        target,
        paths: Vec::new(),
        groups: Vec::new(),
        seen_groups: HashSet::new(),
        seen: HashSet::new(),
        in_graph: graph.ancestors(reader),
    };
    walk.in_graph.insert(reader);
    let ancestors: Vec<CmdId> = walk.in_graph.iter().copied().collect();
    if ancestors
        .iter()
        .any(|a| Target::Graph(*a) == target && *a != reader)
    {
        return true;
    }
    for id in ancestors {
        walk.push_rule(graph, id);
    }
    walk.run(graph)
}

/// The search through the index, from the graph's edge.
struct Walk<'a> {
    index: &'a Index,
    target: Target,
    /// Declared input paths still to follow.
    paths: Vec<String>,
    /// Declared input groups still to follow (directory, name).
    groups: Vec<(String, String)>,
    seen_groups: HashSet<(String, String)>,
    /// Commands of the index already followed.
    seen: HashSet<CmdSlot>,
    /// Commands of the graph already followed (the reader's ancestors
    /// first).
    in_graph: std::collections::BTreeSet<CmdId>,
}

impl Walk<'_> {
    /// Follow the declared inputs and groups of the graph's rule `id`.
    fn push_rule(&mut self, graph: &Graph, id: CmdId) {
        let rule = &graph.cmd(id).rule;
        let inputs = rule.inputs.iter().chain(&rule.order_only);
        self.paths.extend(inputs.map(|p| p.as_str().to_string()));
        let groups = rule.input_groups.iter();
        self.groups
            .extend(groups.map(|g| (g.dir.as_str().to_string(), g.name.clone())));
    }

    /// A producer the graph holds: the target, or followed once (the
    /// reader's ancestors were followed from the start).
    fn held(&mut self, graph: &Graph, id: CmdId) -> bool {
        if self.target == Target::Graph(id) {
            return true;
        }
        if self.in_graph.insert(id) {
            self.push_rule(graph, id);
        }
        false
    }

    fn run(&mut self, graph: &Graph) -> bool {
        loop {
            if let Some(path) = self.paths.pop() {
                let producer = crate::paths::ProjPath::new(&path)
                    .ok()
                    .and_then(|p| graph.producer_of(&p));
                if let Some(id) = producer {
                    if self.held(graph, id) {
                        return true;
                    }
                    continue;
                }
                if let Some(c) = self.index.command_by_output(&path) {
                    if self.follow(c.slot()) {
                        return true;
                    }
                }
            } else if let Some(group) = self.groups.pop() {
                if !self.seen_groups.insert(group.clone()) {
                    continue;
                }
                if self.group(graph, &group) {
                    return true;
                }
            } else {
                return false;
            }
        }
    }

    /// Follow the members of `group` (directory, name): the graph's and
    /// the index's.
    fn group(&mut self, graph: &Graph, group: &(String, String)) -> bool {
        let is = |g: &crate::tupfile::GroupRef| g.dir.as_str() == group.0 && g.name == group.1;
        let held: Vec<CmdId> = graph
            .commands()
            .filter(|(_, c)| c.rule.output_group.as_ref().is_some_and(is))
            .map(|(id, _)| id)
            .collect();
        if held.into_iter().any(|id| self.held(graph, id)) {
            return true;
        }
        let members: Vec<CmdSlot> = self
            .index
            .commands()
            .filter(|c| c.output_group() == Some((group.0.as_str(), group.1.as_str())))
            .map(|c| c.slot())
            .collect();
        members.into_iter().any(|m| self.follow(m))
    }

    /// Follow the index's command in `slot`: true when it is the target.
    fn follow(&mut self, slot: CmdSlot) -> bool {
        if self.target == Target::Index(slot) {
            return true;
        }
        if !self.seen.insert(slot) {
            return false;
        }
        let Some(c) = self.index.command_at(slot) else {
            return false;
        };
        let inputs = c.inputs().chain(c.order_only());
        self.paths.extend(inputs.map(String::from));
        let groups = c.input_groups();
        self.groups
            .extend(groups.map(|(d, n)| (d.to_string(), n.to_string())));
        false
    }
}
