//! The checks after each job (spec: tracing.md, "What is enforced"): what
//! a command did against what its rule declared.

use std::collections::BTreeSet;
use std::path::Path;

use tupfs_fuse::AccessLog;

use crate::graph::{describe, CmdId, Graph};
use crate::paths::ProjPath;

/// One broken rule of the trace, as a message for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation(pub String);

/// What a job is checked against.
pub struct JobFacts<'a> {
    /// The command.
    pub cmd: CmdId,
    /// What the tracer saw.
    pub log: &'a AccessLog,
    /// The files it wrote that are staged for commit.
    pub pending: &'a [String],
    /// It exited 0.
    pub success: bool,
    /// The build's view of the last one: with a cone, who makes a file the
    /// graph does not hold ([`crate::plan::Changes::made_elsewhere`]).
    pub changes: Option<&'a dyn crate::plan::Changes>,
}

/// Every violation of `job`, in a stable order.
pub fn check(graph: &Graph, root: &Path, job: &JobFacts) -> Vec<Violation> {
    let declared: BTreeSet<&ProjPath> = graph.outputs(job.cmd).collect();
    let mut out = Vec::new();
    for w in &job.log.writes {
        if !ProjPath::new(w).is_ok_and(|p| declared.contains(&p)) {
            out.push(Violation(format!(
                "Unspecified output: it wrote {w}, which its rule does not declare (the file \
                 is not kept; declare it as an output if the command should make it)"
            )));
        }
    }
    out.extend(missing_inputs(graph, job));
    if job.success {
        for o in &declared {
            if !written(root, o, job) {
                out.push(Violation(format!(
                    "Expected to write to file {o}, a declared output, but it did not"
                )));
            }
        }
    }
    for d in &job.log.dirs_made {
        out.push(Violation(format!(
            "left behind the directory {d} it created"
        )));
    }
    for r in &job.log.refused {
        out.push(Violation(format!(
            "refused: {} of {} (a command may only change files it wrote itself)",
            r.op,
            // The project root's path is empty.
            if r.path.is_empty() {
                "the project root"
            } else {
                &r.path
            }
        )));
    }
    out
}

/// Declared outputs the job made as a FIFO or a socket (`special`: the
/// staged special files, with what they are): an output must be a regular
/// file or a symlink, one the tree can hold and a reader can read.
pub fn special_outputs(graph: &Graph, cmd: CmdId, special: &[(String, &str)]) -> Vec<Violation> {
    let declared: BTreeSet<&ProjPath> = graph.outputs(cmd).collect();
    special
        .iter()
        .filter(|(p, _)| ProjPath::new(p).is_ok_and(|p| declared.contains(&p)))
        .map(|(p, kind)| {
            Violation(format!(
                "its declared output {p} is a {kind}: an output must be a regular file or a \
                 symlink (it is not kept)"
            ))
        })
        .collect()
}

/// Reads (or vain lookups: it ran too early) of files another command
/// generates, with no declared path of edges from that command to this one.
fn missing_inputs(graph: &Graph, job: &JobFacts) -> Vec<Violation> {
    let ancestors = graph.ancestors(job.cmd);
    let mut out = Vec::new();
    for r in job.log.reads.iter().chain(&job.log.ghosts) {
        let Ok(path) = ProjPath::new(r) else { continue };
        let Some(maker) = graph.producer_of(&path) else {
            // A cone: the producer may be a command not materialised.
            let elsewhere = job
                .changes
                .and_then(|c| c.made_elsewhere(graph, job.cmd, &path));
            if let Some(maker) = elsewhere {
                out.push(Violation(format!(
                    "Missing input dependency: it read {path}, which {maker} generates; \
                     declare {path} (or a group holding it) as an input or order-only input"
                )));
            }
            continue;
        };
        if maker != job.cmd && !ancestors.contains(&maker) {
            out.push(Violation(format!(
                "Missing input dependency: it read {path}, which {} generates; declare {path} \
                 (or a group holding it) as an input or order-only input",
                describe(&graph.cmd(maker).rule)
            )));
        }
    }
    out
}

/// Did the job write declared output `o`? Its old version was removed
/// before the job started, so a file on disk is one it wrote past the
/// tracer (an `^REGEX`-ignored path, or no tracer).
fn written(root: &Path, o: &ProjPath, job: &JobFacts) -> bool {
    job.log.writes.contains(o.as_str())
        || job.pending.iter().any(|p| p == o.as_str())
        || std::fs::symlink_metadata(o.to_disk(root)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::tests::rule;

    fn log(reads: &[&str], writes: &[&str]) -> AccessLog {
        AccessLog {
            reads: reads.iter().map(|s| s.to_string()).collect(),
            writes: writes.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn graph() -> Graph {
        Graph::build(vec![
            rule("", "gen", &[], &["gen.h"]),
            rule("", "cc", &["a.c"], &["a.o"]),
            rule("", "cc2", &["gen.h"], &["b.o"]),
        ])
        .unwrap()
    }

    fn run(cmd: usize, l: &AccessLog, success: bool) -> Vec<String> {
        let t = tempfile::tempdir().unwrap();
        let facts = JobFacts {
            cmd: CmdId::from_index(cmd),
            log: l,
            pending: &[],
            success,
            changes: None,
        };
        check(&graph(), t.path(), &facts)
            .into_iter()
            .map(|v| v.0)
            .collect()
    }

    #[test]
    fn clean_job_passes() {
        assert!(run(1, &log(&["a.c"], &["a.o"]), true).is_empty());
        assert!(run(2, &log(&["gen.h"], &["b.o"]), true).is_empty());
    }

    #[test]
    fn undeclared_write_and_read_are_named() {
        let v = run(1, &log(&["a.c", "gen.h"], &["a.o", "junk"]), true);
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(v[0].contains("Unspecified output") && v[0].contains("junk"));
        assert!(v[1].contains("Missing input dependency") && v[1].contains("gen.h"));
        assert!(v[1].contains("'gen'"), "{v:?}");
    }

    #[test]
    fn missing_declared_write_fails_only_on_success() {
        let v = run(1, &log(&["a.c"], &[]), true);
        assert!(v[0].contains("Expected to write to file a.o"), "{v:?}");
        assert!(run(1, &log(&["a.c"], &[]), false).is_empty());
    }
}
