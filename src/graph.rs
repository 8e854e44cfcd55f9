//! The build graph: typed ids for files, commands and groups, the declared
//! edges between them (inputs, order-only inputs, groups, outputs) and the
//! checks a graph must pass (no output claimed twice, no cycle).
//!
//! The graph knows nothing of how commands run. Observed edges (what the
//! tracer saw a command read last time) are attached by the planner, keyed
//! by command identity, never by position.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;

use crate::paths::ProjPath;
use crate::tupfile::{GroupRef, Rule};

/// A file (source or generated) in the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(u32);

/// A command in the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CmdId(u32);

/// A group (`dir/<name>`) in the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupId(u32);

impl CmdId {
    /// The position of this command in [`Graph::commands`].
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// The command at position `i` of [`Graph::commands`].
    pub fn from_index(i: usize) -> CmdId {
        CmdId(i as u32)
    }
}

/// A file node: its path and the command that generates it, if any.
#[derive(Debug, Clone)]
pub struct FileNode {
    /// Where it lives.
    pub path: ProjPath,
    /// The command that writes it (None: a source file).
    pub producer: Option<CmdId>,
}

/// A command node: its rule and its edges as ids.
#[derive(Debug, Clone)]
pub struct CmdNode {
    /// The expanded rule it came from.
    pub rule: Rule,
    /// Normal inputs.
    pub inputs: Vec<FileId>,
    /// Order-only inputs (files).
    pub order_only: Vec<FileId>,
    /// Groups it takes as inputs.
    pub input_groups: Vec<GroupId>,
    /// Everything it declares it writes (outputs and extra outputs).
    pub outputs: Vec<FileId>,
}

/// A group: the commands whose outputs join it.
#[derive(Debug, Clone)]
pub struct GroupNode {
    /// Its name.
    pub name: GroupRef,
    /// Member commands.
    pub members: Vec<CmdId>,
}

/// What makes a set of rules an invalid graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphError {
    /// Two rules claim one output.
    DuplicateOutput {
        /// The file.
        path: ProjPath,
        /// Where the first and second claim were written, with their text.
        first: String,
        /// The second claim.
        second: String,
    },
    /// A command depends on itself through the listed commands.
    Cycle(Vec<String>),
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraphError::DuplicateOutput {
                path,
                first,
                second,
            } => write!(f, "two rules claim the output {path}: {first} and {second}"),
            GraphError::Cycle(cmds) => {
                write!(f, "dependency cycle: {}", cmds.join(" -> "))
            }
        }
    }
}

impl std::error::Error for GraphError {}

/// Files, commands and groups with their declared edges.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    files: Vec<FileNode>,
    /// Hashed with xxh3: looked up for every path a build records.
    file_ids: HashMap<ProjPath, FileId, xxhash_rust::xxh3::Xxh3DefaultBuilder>,
    cmds: Vec<CmdNode>,
    groups: Vec<GroupNode>,
    group_ids: HashMap<GroupRef, GroupId>,
    /// For each command, the commands it depends on (declared edges).
    deps: Vec<Vec<CmdId>>,
    /// For each command, the commands that depend on it.
    dependents: Vec<Vec<CmdId>>,
}

/// One rule's location and text, for messages.
pub fn describe(rule: &Rule) -> String {
    let text = rule.display.as_deref().unwrap_or(&rule.command);
    format!("'{}' ({})", text, rule.location)
}

impl Graph {
    /// Build the graph of `rules` (rules with an empty command only fill
    /// bins and are left out) and check it.
    pub fn build(rules: Vec<Rule>) -> Result<Graph, GraphError> {
        let mut g = Graph::default();
        for rule in rules.into_iter().filter(|r| !r.command.is_empty()) {
            g.add_command(rule)?;
        }
        g.link();
        g.check_cycles()?;
        Ok(g)
    }

    fn add_command(&mut self, rule: Rule) -> Result<(), GraphError> {
        let id = CmdId(self.cmds.len() as u32);
        let mut outputs = Vec::new();
        for path in rule.outputs.iter().chain(&rule.extra_outputs) {
            let f = self.file(path);
            if let Some(other) = self.files[f.0 as usize].producer {
                if other == id {
                    continue;
                }
                return Err(GraphError::DuplicateOutput {
                    path: path.clone(),
                    first: describe(&self.cmds[other.index()].rule),
                    second: describe(&rule),
                });
            }
            self.files[f.0 as usize].producer = Some(id);
            outputs.push(f);
        }
        let inputs = rule.inputs.iter().map(|p| self.file(p)).collect();
        let order_only = rule.order_only.iter().map(|p| self.file(p)).collect();
        let input_groups = rule.input_groups.iter().map(|g| self.group(g)).collect();
        if let Some(out) = &rule.output_group {
            let gid = self.group(out);
            self.groups[gid.0 as usize].members.push(id);
        }
        self.cmds.push(CmdNode {
            rule,
            inputs,
            order_only,
            input_groups,
            outputs,
        });
        Ok(())
    }

    /// The id of `path`, adding it as a source file if new.
    pub fn file(&mut self, path: &ProjPath) -> FileId {
        if let Some(&id) = self.file_ids.get(path) {
            return id;
        }
        let id = FileId(self.files.len() as u32);
        self.files.push(FileNode {
            path: path.clone(),
            producer: None,
        });
        self.file_ids.insert(path.clone(), id);
        id
    }

    fn group(&mut self, name: &GroupRef) -> GroupId {
        if let Some(&id) = self.group_ids.get(name) {
            return id;
        }
        let id = GroupId(self.groups.len() as u32);
        self.groups.push(GroupNode {
            name: name.clone(),
            members: Vec::new(),
        });
        self.group_ids.insert(name.clone(), id);
        id
    }

    /// Compute the command-to-command edges from the file and group edges.
    fn link(&mut self) {
        self.deps = (0..self.cmds.len())
            .map(|i| {
                let c = &self.cmds[i];
                let mut d = BTreeSet::new();
                for f in c.inputs.iter().chain(&c.order_only) {
                    d.extend(self.files[f.0 as usize].producer);
                }
                for g in &c.input_groups {
                    d.extend(self.groups[g.0 as usize].members.iter().copied());
                }
                d.remove(&CmdId(i as u32));
                d.into_iter().collect()
            })
            .collect();
        self.dependents = vec![Vec::new(); self.cmds.len()];
        for (i, deps) in self.deps.iter().enumerate() {
            for d in deps {
                self.dependents[d.index()].push(CmdId(i as u32));
            }
        }
    }

    /// Fail with the commands of a cycle, if there is one.
    fn check_cycles(&self) -> Result<(), GraphError> {
        // Iterative three-colour DFS; on a back edge, the stack holds the cycle.
        let n = self.cmds.len();
        let mut state = vec![0u8; n]; // 0 new, 1 on stack, 2 done
        for start in 0..n {
            if state[start] != 0 {
                continue;
            }
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            state[start] = 1;
            while let Some(&mut (node, ref mut next)) = stack.last_mut() {
                if let Some(&dep) = self.deps[node].get(*next) {
                    *next += 1;
                    match state[dep.index()] {
                        0 => {
                            state[dep.index()] = 1;
                            stack.push((dep.index(), 0));
                        }
                        1 => return Err(self.cycle_error(&stack, dep.index())),
                        _ => {}
                    }
                } else {
                    state[node] = 2;
                    stack.pop();
                }
            }
        }
        Ok(())
    }

    fn cycle_error(&self, stack: &[(usize, usize)], back_to: usize) -> GraphError {
        let from = stack.iter().position(|&(n, _)| n == back_to).unwrap_or(0);
        let mut names: Vec<String> = stack[from..]
            .iter()
            .map(|&(n, _)| describe(&self.cmds[n].rule))
            .collect();
        names.push(describe(&self.cmds[back_to].rule));
        GraphError::Cycle(names)
    }

    /// All commands, indexed by [`CmdId::index`].
    pub fn commands(&self) -> impl Iterator<Item = (CmdId, &CmdNode)> {
        self.cmds
            .iter()
            .enumerate()
            .map(|(i, c)| (CmdId(i as u32), c))
    }

    /// The number of commands.
    pub fn len(&self) -> usize {
        self.cmds.len()
    }

    /// True when there are no commands.
    pub fn is_empty(&self) -> bool {
        self.cmds.is_empty()
    }

    /// A command.
    pub fn cmd(&self, id: CmdId) -> &CmdNode {
        &self.cmds[id.index()]
    }

    /// A file.
    pub fn file_node(&self, id: FileId) -> &FileNode {
        &self.files[id.0 as usize]
    }

    /// The path of a file.
    pub fn path(&self, id: FileId) -> &ProjPath {
        &self.files[id.0 as usize].path
    }

    /// The file at `path`, if the graph knows it.
    pub fn lookup(&self, path: &ProjPath) -> Option<FileId> {
        self.file_ids.get(path).copied()
    }

    /// The command that generates `path`, if any.
    pub fn producer_of(&self, path: &ProjPath) -> Option<CmdId> {
        self.lookup(path).and_then(|f| self.file_node(f).producer)
    }

    /// The commands `id` directly depends on through declared edges.
    pub fn deps(&self, id: CmdId) -> &[CmdId] {
        &self.deps[id.index()]
    }

    /// The commands that directly depend on `id`.
    pub fn dependents(&self, id: CmdId) -> &[CmdId] {
        &self.dependents[id.index()]
    }

    /// The output paths of a command.
    pub fn outputs(&self, id: CmdId) -> impl Iterator<Item = &ProjPath> {
        self.cmd(id).outputs.iter().map(|f| self.path(*f))
    }

    /// Every command that `id` depends on, transitively (not `id` itself).
    pub fn ancestors(&self, id: CmdId) -> BTreeSet<CmdId> {
        let mut seen = BTreeSet::new();
        let mut queue: VecDeque<CmdId> = self.deps(id).iter().copied().collect();
        while let Some(c) = queue.pop_front() {
            if seen.insert(c) {
                queue.extend(self.deps(c).iter().copied());
            }
        }
        seen
    }

    /// True when a declared path of edges (inputs, order-only inputs,
    /// groups) leads from `producer` to `consumer`, so `consumer` may read
    /// what `producer` writes.
    pub fn has_declared_path(&self, producer: CmdId, consumer: CmdId) -> bool {
        producer == consumer || self.ancestors(consumer).contains(&producer)
    }

    /// Command ids in an order where every command comes after its deps.
    pub fn topo_order(&self) -> Vec<CmdId> {
        let mut indegree: Vec<usize> = self.deps.iter().map(Vec::len).collect();
        let mut ready: VecDeque<CmdId> = (0..self.cmds.len())
            .filter(|&i| indegree[i] == 0)
            .map(|i| CmdId(i as u32))
            .collect();
        let mut order = Vec::with_capacity(self.cmds.len());
        while let Some(c) = ready.pop_front() {
            order.push(c);
            for &d in self.dependents(c) {
                indegree[d.index()] -= 1;
                if indegree[d.index()] == 0 {
                    ready.push_back(d);
                }
            }
        }
        order
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tupfile::Location;

    /// A rule in `dir` running `cmd`, reading `ins` and writing `outs`.
    pub(crate) fn rule(dir: &str, cmd: &str, ins: &[&str], outs: &[&str]) -> Rule {
        let p = |s: &&str| ProjPath::new(s).unwrap();
        Rule {
            location: Location {
                file: ProjPath::new(dir).unwrap().child("Tupfile"),
                line: 1,
            },
            dir: ProjPath::new(dir).unwrap(),
            source_dir: ProjPath::new(dir).unwrap(),
            variant: ProjPath::root(),
            command: cmd.into(),
            display: None,
            flags: Default::default(),
            inputs: ins.iter().map(p).collect(),
            order_only: vec![],
            input_groups: vec![],
            outputs: outs.iter().map(p).collect(),
            extra_outputs: vec![],
            output_group: None,
            ignore: vec![],
            config_used: Default::default(),
            exports: vec![],
        }
    }

    #[test]
    fn links_producers_to_consumers() {
        let g = Graph::build(vec![
            rule("", "cc a", &["a.c"], &["a.o"]),
            rule("", "link", &["a.o"], &["app"]),
        ])
        .unwrap();
        let link = CmdId(1);
        assert_eq!(g.deps(link), &[CmdId(0)]);
        assert_eq!(g.dependents(CmdId(0)), &[link]);
        assert_eq!(g.topo_order(), vec![CmdId(0), link]);
        assert!(g.has_declared_path(CmdId(0), link));
        assert!(!g.has_declared_path(link, CmdId(0)));
    }

    #[test]
    fn duplicate_output_names_both_rules() {
        let err = Graph::build(vec![
            rule("", "one", &[], &["x"]),
            rule("", "two", &[], &["x"]),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("'one'") && err.contains("'two'"), "{err}");
    }

    #[test]
    fn cycle_names_its_commands() {
        let err = Graph::build(vec![
            rule("", "first", &["b"], &["a"]),
            rule("", "second", &["a"], &["b"]),
            rule("", "other", &[], &["c"]),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("cycle"), "{err}");
        assert!(err.contains("'first'") && err.contains("'second'"), "{err}");
        assert!(!err.contains("other"), "{err}");
    }

    #[test]
    fn groups_give_transitive_paths() {
        let mut gen = rule("lib", "gen", &[], &["lib/v.h"]);
        gen.output_group = Some(GroupRef {
            dir: ProjPath::new("lib").unwrap(),
            name: "hdrs".into(),
        });
        let cc = rule("lib", "cc", &["lib/a.c"], &["lib/a.o"]);
        let mut link = rule("app", "link", &["lib/a.o"], &["app/app"]);
        link.input_groups = gen.output_group.clone().into_iter().collect();
        let g = Graph::build(vec![gen, cc, link]).unwrap();
        assert!(g.has_declared_path(CmdId(0), CmdId(2)));
        assert!(!g.has_declared_path(CmdId(0), CmdId(1)));
    }
}
