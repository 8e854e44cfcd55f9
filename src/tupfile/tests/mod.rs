//! Tests of the whole Tupfile front end on real files in temporary projects.

mod constructs;
mod errors;
mod groups;
mod partial;
mod project;

use std::collections::BTreeMap;
use std::fs;

use super::{parse_project_with, ParseOptions, ParsedProject};

/// A temporary project made of `(path, text)` files plus a `Tupfile.ini`.
pub(super) fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let t = tempfile::tempdir().expect("tempdir");
    fs::write(t.path().join("Tupfile.ini"), "").expect("ini");
    for (path, text) in files {
        let p = t.path().join(path);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::write(&p, text).expect("write");
    }
    t
}

/// Options with a fixed environment.
pub(super) fn opts() -> ParseOptions {
    let env: BTreeMap<String, String> = [
        ("PATH", "/usr/bin:/bin"),
        ("HOME", "/root"),
        ("FOO_ENV", "fromenv"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    ParseOptions {
        env,
        previous_outputs: Default::default(),
        allow_run: true,
        ..ParseOptions::default()
    }
}

/// Parse a project made of `files`.
pub(super) fn parse(files: &[(&str, &str)]) -> ParsedProject {
    let t = tree(files);
    match parse_project_with(t.path(), &opts()) {
        Ok(p) => p,
        Err(e) => panic!("unexpected parse error: {e}"),
    }
}

/// The commands of a project, as `dir: command`.
pub(super) fn cmds(files: &[(&str, &str)]) -> Vec<String> {
    parse(files)
        .rules
        .iter()
        .map(|r| format!("{}: {}", r.dir, r.command))
        .collect()
}

/// The error a project's parse gives, as printed.
pub(super) fn err(files: &[(&str, &str)]) -> String {
    let t = tree(files);
    match parse_project_with(t.path(), &opts()) {
        Ok(p) => panic!("expected an error, got {} rules", p.rules.len()),
        Err(e) => e.to_string(),
    }
}
