//! `graph [--dirs] [--ghosts] [--env] [--combine] [--stickies] [TARGETS]`:
//! the build graph in Graphviz dot — commands (boxes; those the next build
//! runs are filled), files (ellipses; generated ones filled), groups
//! (hexagons), declared edges (solid) and the reads the tracer observed in
//! the last build (dashed).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;

use super::prepare::prepare;
use super::Global;
use crate::exec::{preview::preview, targets};
use crate::graph::{CmdId, Graph};
use crate::options::GraphDefaults;
use crate::plan::SeenFile;

/// `graph`'s arguments (each flag turns on what `[graph]` in the options
/// files may already turn on).
#[derive(clap::Args, Debug)]
pub struct GraphArgs {
    /// Files or directories to graph, with everything they need (default:
    /// the whole build).
    pub targets: Vec<PathBuf>,
    /// Show directories and the Tupfiles that define their commands.
    #[arg(long)]
    pub dirs: bool,
    /// Show paths a command looked up in vain (ghosts).
    #[arg(long)]
    pub ghosts: bool,
    /// Show the environment variables exported to commands.
    #[arg(long)]
    pub env: bool,
    /// Combine commands of one directory that differ only in their file
    /// names (a `foreach`), and their files.
    #[arg(long)]
    pub combine: bool,
    /// Show the config variables (`@(NAME)`) commands depend on.
    #[arg(long)]
    pub stickies: bool,
}

/// Print the graph to stdout.
pub fn run(dir: &Path, args: &GraphArgs, _global: &Global) -> Result<ExitCode> {
    let p = prepare(dir)?;
    let cwd = dir.canonicalize()?;
    let selected = targets::select(&p.graph, &p.project.root, &cwd, &args.targets)?;
    let plan = preview(&p.project, &p.graph, p.prior, p.change, p.reused, &selected);
    let show = Show::from(args, p.options.graph);
    let runs: BTreeSet<CmdId> = plan.runs.iter().map(|(id, _)| *id).collect();
    let dot = Dot::new(&p.graph, &show, &plan.reads).render(&selected, &runs);
    print!("{dot}");
    Ok(ExitCode::SUCCESS)
}

/// What to show: the flags over the options files' `[graph]` defaults.
struct Show {
    dirs: bool,
    ghosts: bool,
    env: bool,
    combine: bool,
    stickies: bool,
}

impl Show {
    fn from(args: &GraphArgs, defaults: GraphDefaults) -> Show {
        Show {
            dirs: args.dirs || defaults.dirs,
            ghosts: args.ghosts || defaults.ghosts,
            env: args.env || defaults.env,
            combine: args.combine || defaults.combine,
            stickies: args.stickies,
        }
    }
}

/// A dot string literal.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The dot text being built: nodes once each, edges once each.
struct Dot<'a> {
    graph: &'a Graph,
    show: &'a Show,
    reads: &'a [Vec<SeenFile>],
    /// Each command's node name (combined commands share one).
    names: Vec<String>,
    /// With `--combine`: the node that stands for a file (a combined
    /// command's source input or output).
    aliases: BTreeMap<String, String>,
    nodes: BTreeMap<String, String>,
    edges: BTreeSet<(String, String, &'static str)>,
}

impl<'a> Dot<'a> {
    fn new(graph: &'a Graph, show: &'a Show, reads: &'a [Vec<SeenFile>]) -> Dot<'a> {
        let names = command_names(graph, show.combine);
        let aliases = aliases(graph, &names);
        Dot {
            graph,
            show,
            reads,
            names,
            aliases,
            nodes: BTreeMap::new(),
            edges: BTreeSet::new(),
        }
    }

    /// The whole graph of the `selected` commands; `runs`: what the next
    /// build runs.
    fn render(mut self, selected: &[bool], runs: &BTreeSet<CmdId>) -> String {
        let ids: Vec<CmdId> = self
            .graph
            .commands()
            .map(|(id, _)| id)
            .filter(|id| selected[id.index()])
            .collect();
        for id in ids {
            self.command(id, runs.contains(&id));
        }
        let mut out = String::from("digraph tupfs {\n  rankdir=LR;\n  node [fontsize=10];\n");
        for (name, attrs) in &self.nodes {
            let _ = writeln!(out, "  {} [{attrs}];", quote(name));
        }
        for (from, to, style) in &self.edges {
            let _ = writeln!(out, "  {} -> {} [{style}];", quote(from), quote(to));
        }
        out.push_str("}\n");
        out
    }

    fn node(&mut self, name: &str, attrs: String) {
        self.nodes.entry(name.to_string()).or_insert(attrs);
    }

    fn edge(&mut self, from: &str, to: &str, style: &'static str) {
        self.edges.insert((from.to_string(), to.to_string(), style));
    }

    /// A file node, or with `--combine` the node standing for the source
    /// inputs or the outputs of the combined commands it belongs to.
    fn file(&mut self, path: &str, generated: bool) -> String {
        if let Some(alias) = self.aliases.get(path) {
            let alias = alias.clone();
            let label = if alias.ends_with(":outputs") {
                "(outputs)"
            } else {
                "(inputs)"
            };
            self.node(&alias, format!("label={},shape=folder", quote(label)));
            return alias;
        }
        let name = format!("file:{path}");
        let fill = if generated {
            ",style=filled,fillcolor=lightgrey"
        } else {
            ""
        };
        self.node(&name, format!("label={},shape=ellipse{fill}", quote(path)));
        name
    }

    /// Command `id`, its files, groups and the extras asked for.
    fn command(&mut self, id: CmdId, runs: bool) {
        let name = self.names[id.index()].clone();
        let rule = &self.graph.cmd(id).rule;
        let text = rule.display.as_deref().unwrap_or(&rule.command);
        let label = match self.show.combine && name.starts_with("combined:") {
            true => name.trim_start_matches("combined:").to_string(),
            false => text.to_string(),
        };
        let fill = if runs {
            ",style=filled,fillcolor=gold"
        } else {
            ""
        };
        self.node(&name, format!("label={},shape=box{fill}", quote(&label)));
        self.declared(id, &name);
        self.observed(id, &name);
        self.extras(id, &name);
    }

    /// Declared edges: inputs, order-only inputs, groups, outputs.
    fn declared(&mut self, id: CmdId, name: &str) {
        let graph = self.graph;
        let node = graph.cmd(id);
        for (files, style) in [
            (&node.inputs, "style=solid"),
            (&node.order_only, "style=dotted"),
        ] {
            for f in files.iter() {
                let file = graph.file_node(*f);
                let from = self.file(file.path.as_str(), file.producer.is_some());
                self.edge(&from, name, style);
            }
        }
        for f in &node.outputs {
            let to = self.file(graph.path(*f).as_str(), true);
            self.edge(name, &to, "style=solid");
        }
        for g in &node.rule.input_groups {
            let group = self.group(&g.to_string());
            self.edge(&group, name, "style=solid");
        }
        if let Some(g) = &node.rule.output_group {
            let group = self.group(&g.to_string());
            self.edge(name, &group, "style=solid");
        }
    }

    fn group(&mut self, group: &str) -> String {
        let name = format!("group:{group}");
        self.node(&name, format!("label={},shape=hexagon", quote(group)));
        name
    }

    /// What the tracer saw it read last time beyond its declared inputs
    /// (dashed), and with `--ghosts` what it looked up in vain.
    fn observed(&mut self, id: CmdId, name: &str) {
        let graph = self.graph;
        let declared: BTreeSet<&str> = graph
            .cmd(id)
            .inputs
            .iter()
            .chain(&graph.cmd(id).order_only)
            .map(|f| graph.path(*f).as_str())
            .collect();
        let reads = self.reads.get(id.index()).map_or(&[][..], |r| &r[..]);
        for seen in reads {
            let path = seen.path.as_str();
            if declared.contains(path) || (seen.ghost && !self.show.ghosts) {
                continue;
            }
            let from = match seen.ghost {
                true => {
                    let ghost = format!("ghost:{path}");
                    let attrs = format!("label={},shape=ellipse,style=dotted", quote(path));
                    self.node(&ghost, attrs);
                    ghost
                }
                false => self.file(path, graph.producer_of(&seen.path).is_some()),
            };
            self.edge(&from, name, "style=dashed");
        }
    }

    /// `--dirs`, `--env`, `--stickies`.
    fn extras(&mut self, id: CmdId, name: &str) {
        let rule = &self.graph.cmd(id).rule;
        if self.show.dirs {
            let dir = if rule.dir.is_root() {
                "."
            } else {
                rule.dir.as_str()
            };
            let d = format!("dir:{dir}");
            self.node(&d, format!("label={},shape=tab", quote(dir)));
            let tupfile = format!("tupfile:{}", rule.location.file);
            let label = rule.location.file.to_string();
            self.node(&tupfile, format!("label={},shape=note", quote(&label)));
            self.edge(&tupfile, &d, "style=bold");
            self.edge(&d, name, "style=bold");
        }
        if self.show.env {
            for var in &rule.exports {
                let v = format!("env:{var}");
                self.node(&v, format!("label={},shape=cds", quote(&format!("${var}"))));
                self.edge(&v, name, "style=dotted");
            }
        }
        if self.show.stickies {
            for (var, value) in &rule.config_used {
                let v = format!("config:{var}");
                let label = format!("@({var}) = {value}");
                self.node(&v, format!("label={},shape=cds", quote(&label)));
                self.edge(&v, name, "style=dotted");
            }
        }
    }
}

/// Each command's node name: its own, or with `combine`, one per
/// directory and text with its file names taken out (`N× text`).
fn command_names(graph: &Graph, combine: bool) -> Vec<String> {
    let shape = |id: CmdId| {
        let node = graph.cmd(id);
        let names: Vec<&str> = node
            .inputs
            .iter()
            .chain(&node.outputs)
            .map(|f| graph.path(*f).file_name())
            .collect();
        // Each word that names one of its files (or is a file's stem, as
        // `%B` writes it) stands for "a file".
        let words: Vec<&str> = node
            .rule
            .command
            .split_whitespace()
            .map(
                |w| match names.iter().any(|n| w.contains(n) || w == stem(n)) {
                    true => "%",
                    false => w,
                },
            )
            .collect();
        format!("{}: {}", node.rule.dir, words.join(" "))
    };
    let shapes: Vec<String> = graph.commands().map(|(id, _)| shape(id)).collect();
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &shapes {
        *count.entry(s).or_default() += 1;
    }
    shapes
        .iter()
        .enumerate()
        .map(|(i, s)| match combine && count[s.as_str()] > 1 {
            true => format!("combined:{}× {s}", count[s.as_str()]),
            false => format!("cmd:{i}"),
        })
        .collect()
}

/// The files that combined commands' nodes stand for: their source
/// inputs (`NAME:inputs`) and their outputs (`NAME:outputs`).
fn aliases(graph: &Graph, names: &[String]) -> BTreeMap<String, String> {
    let mut aliases = BTreeMap::new();
    for (id, node) in graph.commands() {
        let name = &names[id.index()];
        if !name.starts_with("combined:") {
            continue;
        }
        for f in &node.inputs {
            if graph.file_node(*f).producer.is_none() {
                aliases.insert(graph.path(*f).to_string(), format!("{name}:inputs"));
            }
        }
        for f in &node.outputs {
            aliases.insert(graph.path(*f).to_string(), format!("{name}:outputs"));
        }
    }
    aliases
}

/// A file name without its extension.
fn stem(name: &str) -> &str {
    name.rsplit_once('.').map_or("", |(stem, _)| stem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_what_dot_needs() {
        assert_eq!(quote(r#"echo "a\b""#), r#""echo \"a\\b\"""#);
        assert_eq!(quote("a\nb"), r#""a\nb""#);
    }

    #[test]
    fn combine_merges_a_foreach() {
        let rule = crate::graph::tests::rule;
        let g = Graph::build(vec![
            rule("d", "cc -c a.c -o a.o -Wall", &["d/a.c"], &["d/a.o"]),
            rule("d", "cc -c b.c -o b.o -Wall", &["d/b.c"], &["d/b.o"]),
            rule("d", "ld a.o b.o", &["d/a.o", "d/b.o"], &["d/app"]),
        ])
        .unwrap();
        let names = command_names(&g, true);
        assert_eq!(names[0], names[1]);
        assert!(
            names[0].starts_with("combined:2× d: cc -c %"),
            "{}",
            names[0]
        );
        assert_eq!(names[2], "cmd:2");
        assert_eq!(command_names(&g, false)[0], "cmd:0");
    }
}
