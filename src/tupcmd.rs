//! tup's command line: when the binary runs under the name `tup` (a
//! symlink or hard link), its arguments are rewritten into tupfs's own
//! (`tup -j2 foo.o` → `tupfs build -j2 foo.o`, `tup upd` → `tupfs build`,
//! `tup ref` → `tupfs refactor`), so both names reach the same library
//! calls. Under any other name the arguments pass through unchanged.

use std::ffi::{OsStr, OsString};
use std::path::Path;

/// tup's secondary commands that tupfs has under the same name.
const SAME_VERBS: &[&str] = &[
    "init",
    "parse",
    "graph",
    "todo",
    "generate",
    "compiledb",
    "commandline",
    "varsed",
    "variant",
    "options",
    "refactor",
    "scan",
    "version",
];

/// tup's verbs that belong to the file monitor: present only in builds
/// that have it.
const MONITOR_VERBS: &[&str] = &["monitor", "stop"];

/// tup's debugging flags, accepted and dropped (tupfs has no database
/// and no separate scan to skip).
const DROPPED_FLAGS: &[&str] = &[
    "--debug-sql",
    "--debug-fuse",
    "--no-scan",
    "--no-environ-check",
    "--debug-run",
    "--debug-logging",
    "--no-sync",
];

/// True when `argv0` names the binary `tup`.
pub fn is_tup(argv0: &OsStr) -> bool {
    Path::new(argv0).file_name() == Some(OsStr::new("tup"))
}

/// tupfs's arguments for `args` (the whole argv). Under the name `tup`,
/// tup's command line is rewritten; `has_verb` says whether this build of
/// tupfs has a subcommand of that name (for the monitor's verbs). An error
/// says which tup verb is not available and why.
pub fn translate(
    args: Vec<OsString>,
    has_verb: &dyn Fn(&str) -> bool,
) -> Result<Vec<OsString>, String> {
    match args.first() {
        Some(argv0) if is_tup(argv0) => {}
        _ => return Ok(args),
    }
    let rest: Vec<OsString> = args
        .into_iter()
        .skip(1)
        .filter(|a| !DROPPED_FLAGS.iter().any(|d| a == d))
        .map(|a| match a.to_str() {
            // tup's -d: debug output.
            Some("-d") => OsString::from("-vv"),
            _ => a,
        })
        .collect();
    let mut out = vec![OsString::from("tupfs")];
    let verb = rest.first().and_then(|a| a.to_str()).unwrap_or("");
    let skip_verb = match verb {
        "upd" => {
            out.push("build".into());
            true
        }
        "ref" => {
            out.push("refactor".into());
            true
        }
        v if SAME_VERBS.contains(&v) => {
            out.push(v.into());
            true
        }
        v if MONITOR_VERBS.contains(&v) => {
            if !has_verb(v) {
                return Err(format!(
                    "`tup {v}`: the file monitor is not available in this build of tupfs"
                ));
            }
            out.push(v.into());
            true
        }
        v if TUP_ONLY_VERBS.contains(&v) => {
            return Err(format!(
                "`tup {v}` is a tup command that tupfs does not have (it keeps no database); \
                 `tup --help` lists what it has"
            ))
        }
        "--help" | "-h" | "help" => {
            out.push("--help".into());
            true
        }
        "--version" | "-v" => {
            out.push("version".into());
            true
        }
        _ => {
            out.push("build".into());
            false
        }
    };
    out.extend(rest.into_iter().skip(usize::from(skip_verb)));
    Ok(out)
}

/// tup verbs about its SQLite database or internals, which tupfs lacks.
const TUP_ONLY_VERBS: &[&str] = &[
    "dbconfig",
    "flags_exists",
    "fake_mtime",
    "fake_parser_version",
    "node_exists",
    "normal_exists",
    "link_exists",
    "touch",
    "entry",
    "type",
    "ghost_check",
    "waitmon",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn tr(args: &[&str]) -> Result<Vec<String>, String> {
        let args = args.iter().map(OsString::from).collect();
        translate(args, &|v| v == "monitor").map(|v| {
            v.into_iter()
                .map(|a| a.into_string().unwrap())
                .collect::<Vec<_>>()
        })
    }

    #[test]
    fn tup_command_lines_become_tupfs_ones() {
        assert_eq!(tr(&["/usr/bin/tup"]).unwrap(), ["tupfs", "build"]);
        assert_eq!(
            tr(&["tup", "upd", "-j2"]).unwrap(),
            ["tupfs", "build", "-j2"]
        );
        assert_eq!(
            tr(&["tup", "-k", "--verbose", "a/b.o"]).unwrap(),
            ["tupfs", "build", "-k", "--verbose", "a/b.o"]
        );
        assert_eq!(tr(&["tup", "ref"]).unwrap(), ["tupfs", "refactor"]);
        assert_eq!(
            tr(&["tup", "--debug-sql", "init", "d", "--no-sync"]).unwrap(),
            ["tupfs", "init", "d"]
        );
        assert_eq!(tr(&["tup", "-d"]).unwrap(), ["tupfs", "build", "-vv"]);
        assert_eq!(
            tr(&["tup", "monitor", "-f"]).unwrap(),
            ["tupfs", "monitor", "-f"]
        );
        assert!(tr(&["tup", "stop"]).unwrap_err().contains("not available"));
        assert!(tr(&["tup", "dbconfig"])
            .unwrap_err()
            .contains("does not have"));
    }

    #[test]
    fn other_names_pass_through() {
        assert_eq!(tr(&["tupfs", "upd"]).unwrap(), ["tupfs", "upd"]);
        assert_eq!(tr(&["./tupfs"]).unwrap(), ["./tupfs"]);
    }
}
