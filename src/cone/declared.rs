//! Declared paths of edges that leave the cone's graph: may a command of
//! the graph read what a command it does not hold writes? Asked only when a
//! job read such a file (rare: a read of a file the rules already order
//! was checked when it was first made), by walking the declared inputs,
//! order-only inputs and groups of the reader's ancestors through the
//! index.

use std::collections::HashSet;

use crate::graph::{CmdId, Graph};
use crate::index::{CmdSlot, Index};

/// True when a declared path of edges leads from the index's command in
/// `maker` (not in `graph`) to `reader` (in `graph`).
pub fn reaches(index: &Index, graph: &Graph, maker: CmdSlot, reader: CmdId) -> bool {
    let mut walk = Walk {
        index,
        paths: Vec::new(),
        groups: Vec::new(),
        seen_groups: HashSet::new(),
        seen: HashSet::new(),
    };
    let mut in_graph = graph.ancestors(reader);
    in_graph.insert(reader);
    for id in in_graph {
        let rule = &graph.cmd(id).rule;
        let inputs = rule.inputs.iter().chain(&rule.order_only);
        walk.paths.extend(inputs.map(|p| p.as_str().to_string()));
        let groups = rule.input_groups.iter();
        walk.groups
            .extend(groups.map(|g| (g.dir.as_str().to_string(), g.name.clone())));
    }
    walk.run(graph, maker)
}

/// The search through the index, from the graph's edge.
struct Walk<'a> {
    index: &'a Index,
    /// Declared input paths still to follow.
    paths: Vec<String>,
    /// Declared input groups still to follow (directory, name).
    groups: Vec<(String, String)>,
    seen_groups: HashSet<(String, String)>,
    /// Commands of the index already followed.
    seen: HashSet<CmdSlot>,
}

impl Walk<'_> {
    fn run(&mut self, graph: &Graph, maker: CmdSlot) -> bool {
        loop {
            if let Some(path) = self.paths.pop() {
                // A producer the graph holds is among the reader's
                // ancestors already, its inputs with it.
                let held = crate::paths::ProjPath::new(&path)
                    .is_ok_and(|p| graph.producer_of(&p).is_some());
                if held {
                    continue;
                }
                if let Some(c) = self.index.command_by_output(&path) {
                    if self.follow(c.slot(), maker) {
                        return true;
                    }
                }
            } else if let Some(group) = self.groups.pop() {
                if !self.seen_groups.insert(group.clone()) {
                    continue;
                }
                let members: Vec<CmdSlot> = self
                    .index
                    .commands()
                    .filter(|c| c.output_group() == Some((group.0.as_str(), group.1.as_str())))
                    .map(|c| c.slot())
                    .collect();
                if members.into_iter().any(|m| self.follow(m, maker)) {
                    return true;
                }
            } else {
                return false;
            }
        }
    }

    /// Follow the index's command in `slot`: true when it is `maker`.
    fn follow(&mut self, slot: CmdSlot, maker: CmdSlot) -> bool {
        if slot == maker {
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
