//! `^j` rules: `compile_commands.json` at the project root, in the clang
//! JSON compilation database format (one entry per `^j` command, in rule
//! order), for editors and tools. Rewritten atomically, and only when its
//! contents change, so its mtime says when the commands last changed.

use std::fs;
use std::io::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result};
use serde::Serialize;

use crate::graph::Graph;
use crate::paths::ProjPath;

/// The file's name at the project root.
pub const FILE_NAME: &str = "compile_commands.json";

/// One entry of the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Where the command runs (absolute).
    pub directory: String,
    /// The exact shell text.
    pub command: String,
    /// Its first input (absolute): the translation unit.
    pub file: String,
    /// Its first output (absolute), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// The entries for the `^j` commands of `graph` (those with an input).
pub fn entries(graph: &Graph, root: &Path) -> Vec<Entry> {
    let abs = |p: &ProjPath| p.to_disk(root).to_string_lossy().into_owned();
    graph
        .commands()
        .filter(|(_, node)| node.rule.flags.compile_db)
        .filter_map(|(id, node)| {
            let rule = &node.rule;
            Some(Entry {
                directory: abs(&rule.dir),
                command: rule.command.clone(),
                file: abs(rule.inputs.first()?),
                output: graph.outputs(id).next().map(abs),
            })
        })
        .collect()
}

/// Write `compile_commands.json` for `graph` when it has `^j` commands and
/// the file's contents would change (through a temporary file in
/// `scratch`, on the same file system, then a rename). Returns whether it
/// was written. A rule that makes the file itself wins: it is left alone.
pub fn update(graph: &Graph, root: &Path, scratch: &Path) -> Result<bool> {
    // A temporary file left by a build killed while writing it.
    let tmp = scratch.join(FILE_NAME);
    let _ = fs::remove_file(&tmp);
    let entries = entries(graph, root);
    let name = ProjPath::new(FILE_NAME)?;
    if entries.is_empty() || graph.producer_of(&name).is_some() {
        return Ok(false);
    }
    let mut text = serde_json::to_vec_pretty(&entries)?;
    text.push(b'\n');
    let dest = name.to_disk(root);
    if fs::read(&dest).is_ok_and(|old| old == text) {
        return Ok(false);
    }
    fs::create_dir_all(scratch).with_context(|| format!("cannot create {}", scratch.display()))?;
    let written = write_synced(&tmp, &text)
        .and_then(|()| fs::rename(&tmp, &dest))
        .with_context(|| format!("cannot write {}", dest.display()));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written.map(|()| true)
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::tests::rule;

    #[test]
    fn only_j_rules_are_written_and_only_on_change() {
        let t = tempfile::tempdir().unwrap();
        let (root, scratch) = (t.path().join("p"), t.path().join("s"));
        fs::create_dir(&root).unwrap();
        let mut cc = rule("sub", "gcc -c a.c -o a.o", &["sub/a.c"], &["sub/a.o"]);
        cc.flags.compile_db = true;
        let link = rule("sub", "gcc a.o -o app", &["sub/a.o"], &["sub/app"]);
        let g = Graph::build(vec![cc, link]).unwrap();
        assert!(update(&g, &root, &scratch).unwrap());
        let json: serde_json::Value =
            serde_json::from_slice(&fs::read(root.join(FILE_NAME)).unwrap()).unwrap();
        let sub = root.join("sub").to_string_lossy().into_owned();
        assert_eq!(
            json,
            serde_json::json!([{
                "directory": sub,
                "command": "gcc -c a.c -o a.o",
                "file": format!("{sub}/a.c"),
                "output": format!("{sub}/a.o"),
            }])
        );
        assert!(!update(&g, &root, &scratch).unwrap(), "same text: no write");
        assert!(!scratch.join(FILE_NAME).exists());
    }

    #[test]
    fn a_project_without_j_rules_gets_no_file() {
        let t = tempfile::tempdir().unwrap();
        let g = Graph::build(vec![rule("", "cc", &["a.c"], &["a.o"])]).unwrap();
        assert!(!update(&g, t.path(), &t.path().join("s")).unwrap());
        assert!(!t.path().join(FILE_NAME).exists());
    }
}
