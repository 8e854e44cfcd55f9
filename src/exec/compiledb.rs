//! `^j` rules: `compile_commands.json` at the project root, in the clang
//! JSON compilation database format (one entry per `^j` command, in rule
//! order), for editors and tools. Rewritten atomically, and only when its
//! contents change, so its mtime says when the commands last changed. A
//! `compile_commands.json` tupfs did not write (its digest is not among
//! those recorded in `.tupfs/compile_commands.sha256`) is never replaced.

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
    entries_where(graph, root, |_| true)
}

/// [`entries`] of the commands whose rule `keep` accepts.
pub fn entries_where(
    graph: &Graph,
    root: &Path,
    keep: impl Fn(&crate::tupfile::Rule) -> bool,
) -> Vec<Entry> {
    let abs = |p: &ProjPath| p.to_disk(root).to_string_lossy().into_owned();
    graph
        .commands()
        .filter(|(_, node)| node.rule.flags.compile_db && keep(&node.rule))
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
    let entries = entries(graph, root);
    let name = ProjPath::new(FILE_NAME)?;
    if entries.is_empty() || graph.producer_of(&name).is_some() {
        let _ = fs::remove_file(scratch.join(FILE_NAME));
        return Ok(false);
    }
    write_entries(&entries, &name, root, scratch)
}

/// Write `entries` to the file `name` (a `compile_commands.json` at the
/// root or at a variant's root) when its contents would change, never
/// replacing one tupfs did not write (see [`update`]). Returns whether it
/// was written.
pub fn write_entries(
    entries: &[Entry],
    name: &ProjPath,
    root: &Path,
    scratch: &Path,
) -> Result<bool> {
    // A temporary file left by a build killed while writing it.
    let tmp = scratch.join(FILE_NAME);
    let _ = fs::remove_file(&tmp);
    let mut text = serde_json::to_vec_pretty(entries)?;
    text.push(b'\n');
    let dest = name.to_disk(root);
    let old = fs::read(&dest).ok();
    if old.as_ref().is_some_and(|old| *old == text) {
        return Ok(false);
    }
    let marker = marker_path(scratch, name);
    let ours = fs::read_to_string(&marker).unwrap_or_default();
    if let Some(old) = &old {
        if !ours.lines().any(|l| l == digest_hex(old)) {
            anyhow::bail!(
                "{} exists and tupfs did not write it: it is left as it is (delete it to have \
                 tupfs write it for the ^j rules)",
                dest.display()
            );
        }
    }
    fs::create_dir_all(scratch).with_context(|| format!("cannot create {}", scratch.display()))?;
    // Before the rename: the digests of what tupfs wrote, the old and the
    // new, so that neither ever passes for the user's.
    let digests = old.map_or(String::new(), |o| digest_hex(&o) + "\n") + &digest_hex(&text);
    let written = write_synced(&marker, digests.as_bytes())
        .and_then(|()| write_synced(&tmp, &text))
        .and_then(|()| fs::rename(&tmp, &dest))
        .with_context(|| format!("cannot write {}", dest.display()));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written.map(|()| true)
}

/// Where the digests of the last files tupfs wrote are kept: beside the
/// scratch directory, in `.tupfs/` (the scratch directory is cleared).
/// One per file: `compile_commands.sha256` for the root's, with the
/// variant's path (`/` as `%`) in the name for a variant's.
fn marker_path(scratch: &Path, name: &ProjPath) -> std::path::PathBuf {
    let state = scratch.parent().unwrap_or(scratch);
    match name.parent() {
        dir if dir.is_root() => state.join("compile_commands.sha256"),
        dir => state.join(format!(
            "compile_commands.{}.sha256",
            dir.as_str().replace('/', "%")
        )),
    }
}

fn digest_hex(bytes: &[u8]) -> String {
    crate::identity::Digest::of(bytes).to_string()
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

    #[test]
    fn a_file_of_the_user_is_never_replaced() {
        let t = tempfile::tempdir().unwrap();
        let (root, scratch) = (t.path().join("p"), t.path().join("state/tmp"));
        fs::create_dir(&root).unwrap();
        let mut cc = rule("", "gcc -c a.c -o a.o", &["a.c"], &["a.o"]);
        cc.flags.compile_db = true;
        let g = Graph::build(vec![cc.clone()]).unwrap();
        fs::write(root.join(FILE_NAME), "[] \n").unwrap();
        let err = update(&g, &root, &scratch).unwrap_err().to_string();
        assert!(err.contains("tupfs did not write it"), "{err}");
        assert_eq!(fs::read_to_string(root.join(FILE_NAME)).unwrap(), "[] \n");
        fs::remove_file(root.join(FILE_NAME)).unwrap();
        assert!(update(&g, &root, &scratch).unwrap());
        // Its own file, tupfs replaces when the commands change.
        cc.command = "gcc -O2 -c a.c -o a.o".into();
        assert!(update(&Graph::build(vec![cc]).unwrap(), &root, &scratch).unwrap());
        let text = fs::read_to_string(root.join(FILE_NAME)).unwrap();
        assert!(text.contains("-O2"), "{text}");
    }
}
