//! examples/full (two variants, generated headers, a run-script, groups and
//! bins) built by `tupfs build` next to tup 0.7.11 building a copy of the
//! same tree: the same files come out, byte for byte; after an edited header
//! and after an edited variant config the same commands re-run as in tup;
//! a build after that has nothing to do. Skips (with a SKIP line) without
//! /dev/fuse or where tup cannot build (CI installs it: .ci/run).

mod harness;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use harness::{Outcome, Project};

/// tup building a copy of a harness project. The copy lives next to the
/// project and is moved into the project's place while tup builds it: the
/// absolute paths compilers write into their outputs (debug info, and the
/// order of the assembler's merged strings, which follows their hashes) then
/// come out the same as in the tupfs build.
struct Tup<'p> {
    project: &'p Project,
    /// Where the copy lives between builds.
    home: PathBuf,
    /// Where the project waits while tup builds.
    aside: PathBuf,
}

impl<'p> Tup<'p> {
    /// Why tup cannot build here (not installed, or its FUSE mount is not
    /// allowed), found by building a one-rule project; `None` if it can.
    fn unavailable() -> Option<String> {
        let dir = tempfile::tempdir().expect("temp dir");
        write_file(&dir.path().join("Tupfile.ini"), b"");
        write_file(
            &dir.path().join("Tupfile"),
            b": |> echo ok > %o |> ok.txt\n",
        );
        for args in [&["init"][..], &[]] {
            let out = Command::new("timeout")
                .arg("60")
                .arg("tup")
                .args(args)
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .output();
            match out {
                Ok(out) if out.status.success() => {}
                Ok(out) => return Some(String::from_utf8_lossy(&out.stderr).into_owned()),
                Err(e) => return Some(format!("cannot run tup: {e}")),
            }
        }
        let built = dir.path().join("ok.txt").exists();
        (!built).then(|| "tup ran but built nothing".to_string())
    }

    /// Copy `project`'s sources next to it and `tup init` there.
    fn init(project: &'p Project) -> Tup<'p> {
        let home = project.outside("tup-copy");
        for (rel, bytes) in project.sources() {
            write_file(&home.join(rel), &bytes);
        }
        run_tup(&home, &["init"]);
        Tup {
            project,
            home,
            aside: project.outside("proj-aside"),
        }
    }

    /// Build at the project's path; the commands tup ran (as "dir:
    /// command") and every file that is not a source, with its bytes.
    fn build(&self) -> (BTreeSet<String>, BTreeMap<String, Vec<u8>>) {
        let root = self.project.root();
        fs::rename(root, &self.aside).expect("move the project aside");
        fs::rename(&self.home, root).expect("move the tup copy in");
        let ran = run_tup(root, &["--verbose"])
            .lines()
            .filter_map(tup_command_line)
            .collect();
        let outputs = outputs(root, &self.project.sources().into_keys().collect());
        fs::rename(root, &self.home).expect("move the tup copy back");
        fs::rename(&self.aside, root).expect("move the project back");
        (ran, outputs)
    }

    /// Write a source file in the copy so that tup sees the edit. tup
    /// 0.7.11 tells a changed file by its ctime (not its mtime: a chmod or a
    /// rename changes only the ctime), kept in whole seconds: an edit within
    /// the second of the ctime tup last recorded goes unseen, and setting the
    /// mtime cannot help. The copy was written moments before its first
    /// build and the builds take well under a second, so the edit is
    /// rewritten until its ctime lands in a later second than the old one
    /// (a check after the write, not a sleep to a computed instant: the
    /// kernel stamps ctime from a clock that may lag the wall clock).
    fn write(&self, rel: &str, bytes: &[u8]) {
        let path = self.home.join(rel);
        let before = ctime_secs(&path);
        // 50 ms apart, 5 s at most: the second turns over well before.
        for _ in 0..100 {
            write_file(&path, bytes);
            if ctime_secs(&path) > before {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!(
            "{}: its ctime stayed in second {before} for 5 s",
            path.display()
        );
    }
}

/// The whole seconds of the file's ctime, the part tup 0.7.11 records.
fn ctime_secs(path: &Path) -> i64 {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .ctime()
}

/// `tup ARGS...` in `dir` (PATH and HOME only, like tupfs's jobs); its
/// output.
fn run_tup(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("timeout")
        .arg("300")
        .arg("tup")
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(
            ["PATH", "HOME"]
                .iter()
                .filter_map(|k| Some((k, std::env::var_os(k)?))),
        )
        .stdin(Stdio::null())
        .output()
        .expect("cannot run tup");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tup {args:?} failed:\n{text}");
    text
}

/// Every file below `root` that is not one of `sources` and not tup's or
/// tupfs's own state, with its bytes.
fn outputs(root: &Path, sources: &BTreeSet<String>) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut |rel, path| {
        if !sources.contains(rel) {
            out.insert(rel.to_string(), fs::read(path).expect("read an output"));
        }
    });
    out
}

/// The "dir: command" of one line of `tup --verbose` progress output, e.g.
/// ` 53%  8) [0.031s] build-release/app: gcc ... -c main.c -o main.o`.
fn tup_command_line(line: &str) -> Option<String> {
    let rest = line.split_once(") [")?.1;
    let rest = rest.split_once("s] ")?.1;
    let (dir, command) = rest.split_once(": ")?;
    Some(format!("{dir}: {command}"))
}

/// The commands a tupfs build ran, as "dir: command".
fn ran(outcome: &Outcome) -> BTreeSet<String> {
    outcome
        .commands()
        .iter()
        .map(|c| format!("{}: {}", c.dir, c.command))
        .collect()
}

fn write_file(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().expect("a file has a parent")).expect("mkdir");
    fs::write(path, bytes).expect("write");
}

/// Call `each(rel, path)` for every file below `dir`, leaving out tup's
/// and tupfs's own state.
fn walk(root: &Path, dir: &Path, each: &mut dyn FnMut(&str, &Path)) {
    for entry in fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("dir entry").path();
        let rel = path
            .strip_prefix(root)
            .expect("below root")
            .to_string_lossy();
        if rel == ".tup" || rel == ".tupfs" {
            continue;
        }
        if path.is_dir() {
            walk(root, &path, each);
        } else {
            each(&rel, &path);
        }
    }
}

/// The same files with the same bytes; a `.gitignore` is compared without
/// its `#####` banner (which names the tool that wrote it).
fn assert_same_outputs(ours: &BTreeMap<String, Vec<u8>>, tups: &BTreeMap<String, Vec<u8>>) {
    let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(ours),
        names(tups),
        "tupfs's outputs (left), tup's (right)"
    );
    let unbannered = |b: &[u8]| -> String {
        String::from_utf8_lossy(b)
            .lines()
            .filter(|l| !l.starts_with("#####"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    for (name, bytes) in ours {
        let theirs = &tups[name];
        if name.ends_with(".gitignore") {
            assert_eq!(unbannered(bytes), unbannered(theirs), "{name}");
        } else {
            match (std::str::from_utf8(bytes), std::str::from_utf8(theirs)) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{name}: tupfs's (left), tup's (right)"),
                _ => assert!(bytes == theirs, "{name} differs from tup's"),
            }
        }
    }
}

#[test]
fn full_example_builds_like_tup() {
    require_fuse!();
    if let Some(why) = Tup::unavailable() {
        eprintln!("SKIP: full_example_builds_like_tup: tup cannot build here: {why}");
        return;
    }
    let p = Project::example("full");
    let tup = Tup::init(&p);

    let first = p.build(&[]);
    first.success();
    let (tup_ran, tup_outputs) = tup.build();
    assert_eq!(
        ran(&first),
        tup_ran,
        "the first build: tupfs (left), tup (right)"
    );
    assert_same_outputs(&p.outputs(), &tup_outputs);
    for (variant, greeting) in [
        ("debug", "Hello from debug"),
        ("release", "Hello from release"),
    ] {
        let out = p.read(&format!("build-{variant}/app/output.txt"));
        assert!(out.starts_with(greeting), "{variant}: {out}");
    }
    assert!(!p.exists("app/app"), "no in-tree build beside the variants");

    // A header every C file includes: its compiles in both variants and
    // what depends on them re-run, as in tup.
    p.append("include/common.h", "/* edited */\n");
    tup.write("include/common.h", p.read("include/common.h").as_bytes());
    let edited = p.build(&[]);
    edited.success();
    let compiles = ran(&edited).iter().filter(|c| c.contains(" -c ")).count();
    assert_eq!(compiles, 8, "main.c, text.c, util.c, extra.cx, twice");
    let (tup_ran, tup_outputs) = tup.build();
    assert_eq!(ran(&edited), tup_ran, "after the header edit");
    assert_same_outputs(&p.outputs(), &tup_outputs);

    // One variant's config: only that variant re-runs.
    let config = "CONFIG_OPT=2\nCONFIG_GREETING=\"Hi from release\"\nCONFIG_FAST=y\n";
    p.write("build-release/tup.config", config);
    tup.write("build-release/tup.config", config.as_bytes());
    let reconfigured = p.build(&[]);
    reconfigured.success();
    let commands = ran(&reconfigured);
    assert!(
        !commands.is_empty() && commands.iter().all(|c| c.starts_with("build-release")),
        "{commands:#?}"
    );
    let (tup_ran, tup_outputs) = tup.build();
    assert_eq!(commands, tup_ran, "after the config edit");
    assert_same_outputs(&p.outputs(), &tup_outputs);
    assert!(p
        .read("build-release/app/output.txt")
        .starts_with("Hi from release"));

    p.build(&[])
        .success()
        .ran_nothing()
        .log_status("nothing-to-do");
}
