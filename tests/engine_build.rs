//! `tupfs build` end to end: the real binary on projects in temporary
//! directories, asserting on files, exit codes, messages and the run log
//! (`.tupfs/log/last.json`).

mod harness;

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const TUPFS: &str = env!("CARGO_BIN_EXE_tupfs");

/// A project in a temporary directory.
struct Proj {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Proj {
    fn empty() -> Proj {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        fs::write(root.join("Tupfile.ini"), "").unwrap();
        Proj { _dir: dir, root }
    }

    fn example(name: &str) -> Proj {
        let p = Proj::empty();
        harness::copy_example(name, &p.root);
        p
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn build(&self, args: &[&str]) -> Output {
        Command::new("timeout")
            .arg("120")
            .arg(TUPFS)
            .arg("build")
            .args(args)
            .current_dir(&self.root)
            .output()
            .unwrap()
    }

    fn build_ok(&self) -> Value {
        let out = self.build(&[]);
        assert!(out.status.success(), "build failed:\n{}", text(&out));
        self.log()
    }

    fn log(&self) -> Value {
        let log = fs::read_to_string(self.root.join(".tupfs/log/last.json")).unwrap();
        serde_json::from_str(&log).unwrap()
    }
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The display texts of the commands that ran, sorted.
fn ran(log: &Value) -> Vec<String> {
    let mut v: Vec<String> = log["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["display"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

fn hello_output(p: &Proj) -> String {
    let out = Command::new(p.root.join("app/hello")).output().unwrap();
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn hello_builds_and_prints_its_greeting() {
    let p = Proj::example("hello");
    let log = p.build_ok();
    assert_eq!(hello_output(&p), "hello, world (greet 1.0)\n");
    assert_eq!(log["status"], "ok");
    assert_eq!(
        ran(&log),
        vec!["CC greet.c", "CC main.c", "GEN version.h", "LINK hello"]
    );
    assert!(log["commands"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["reason"] == "new" && c["status"] == "ok"));
    assert_eq!(log["summary"]["ran"], 4);
    // The index records every command and what each Tupfile's parse read.
    let opened = tupfs::index::Index::open(&p.root.join(".tupfs/index"), &Default::default());
    let tupfs::index::Open::Ready(index) = opened else {
        panic!("no usable index after a build: {opened:?}");
    };
    assert_eq!(index.command_count(), 4);
    assert_eq!(index.tupfiles().count(), 2);
}

#[test]
fn second_build_has_nothing_to_do() {
    let p = Proj::example("hello");
    p.build_ok();
    let out = p.build(&[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Nothing to do"),
        "{}",
        text(&out)
    );
    let log = p.log();
    assert_eq!(log["status"], "nothing-to-do");
    assert!(ran(&log).is_empty());
}

#[test]
fn editing_a_source_reruns_its_compile_only_and_explains_why() {
    let p = Proj::example("hello");
    p.build_ok();
    let greet = p.root.join("lib/greet.c");
    let src = fs::read_to_string(&greet).unwrap().replace("hello,", "hi,");
    fs::write(&greet, src).unwrap();
    let out = p.build(&["--explain"]);
    assert!(out.status.success(), "{}", text(&out));
    let log = p.log();
    let cc: Vec<&Value> = log["commands"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["display"] == "CC greet.c")
        .collect();
    assert_eq!(cc.len(), 1, "{log:#}");
    assert_eq!(cc[0]["reason"], "input-changed");
    assert_eq!(cc[0]["reason_detail"], "lib/greet.c");
    assert!(!ran(&log).contains(&"CC main.c".to_string()));
    assert!(!ran(&log).contains(&"GEN version.h".to_string()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("input lib/greet.c changed"),
        "{}",
        text(&out)
    );
}

#[test]
fn editing_a_header_reruns_exactly_its_users() {
    let p = Proj::example("hello");
    p.build_ok();
    let h = p.root.join("lib/greet.h");
    let text_h = fs::read_to_string(&h).unwrap() + "/* edited */\n";
    fs::write(&h, text_h).unwrap();
    let log = p.build_ok();
    assert_eq!(ran(&log), vec!["CC greet.c", "CC main.c", "LINK hello"]);
    assert_eq!(hello_output(&p), "hello, world (greet 1.0)\n");
}

#[test]
fn failing_command_leaves_no_output_and_reruns_next_time() {
    let p = Proj::empty();
    p.write(
        "Tupfile",
        ": |> echo partial > %o; exit 1 |> out.txt\n: |> echo fine > %o |> ok.txt\n",
    );
    let out = p.build(&["-k"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!p.root.join("out.txt").exists());
    assert!(p.root.join("ok.txt").exists());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Tupfile:1"), "{}", text(&out));
    assert_eq!(p.log()["status"], "failed");
    let out = p.build(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let log = p.log();
    assert_eq!(ran(&log), vec!["echo partial > out.txt; exit 1"]);
    assert_eq!(log["commands"][0]["reason"], "must-rerun");
    p.write(
        "Tupfile",
        ": |> echo whole > %o |> out.txt\n: |> echo fine > %o |> ok.txt\n",
    );
    let log = p.build_ok();
    assert_eq!(ran(&log), vec!["echo whole > out.txt"]);
    assert_eq!(
        fs::read_to_string(p.root.join("out.txt")).unwrap(),
        "whole\n"
    );
}

#[test]
fn removing_a_rule_removes_its_output_and_emptied_dirs() {
    let p = Proj::empty();
    p.write("Tupfile", ": |> echo a > %o |> a.txt\n");
    p.write("sub/Tupfile", ": |> echo b > %o |> b.txt\n");
    p.build_ok();
    assert!(p.root.join("sub/b.txt").exists());
    p.write("sub/Tupfile", "\n");
    let log = p.build_ok();
    assert!(!p.root.join("sub/b.txt").exists());
    assert!(p.root.join("sub/Tupfile").exists());
    assert!(p.root.join("a.txt").exists());
    assert_eq!(log["removed"], serde_json::json!(["sub/b.txt"]));
    assert!(ran(&log).is_empty());
}

#[test]
fn editing_a_recipe_reruns_it_in_place() {
    let p = Proj::empty();
    p.write("Tupfile", ": |> echo one > %o |> x.txt\n");
    p.build_ok();
    p.write("Tupfile", ": |> echo two > %o |> x.txt\n");
    let log = p.build_ok();
    assert_eq!(log["commands"][0]["reason"], "identity-changed");
    assert_eq!(log["removed"], serde_json::json!([]));
    assert_eq!(fs::read_to_string(p.root.join("x.txt")).unwrap(), "two\n");
}

#[test]
fn parse_error_exits_2_and_runs_nothing() {
    let p = Proj::empty();
    p.write("Tupfile", ": |> echo a > %o |> a.txt\n");
    p.build_ok();
    p.write(
        "Tupfile",
        ": |> echo a > %o |> a.txt\n: this is not a rule\n",
    );
    let out = p.build(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Tupfile:2"),
        "{}",
        text(&out)
    );
    assert!(p.root.join("a.txt").exists());
}

#[test]
fn duplicate_output_and_cycle_are_errors_naming_the_rules() {
    let p = Proj::empty();
    p.write(
        "Tupfile",
        ": |> echo a > %o |> x.txt\n: |> echo b > %o |> x.txt\n",
    );
    let out = p.build(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Tupfile:1") && err.contains("Tupfile:2"),
        "{err}"
    );
    p.write(
        "Tupfile",
        ": | <two> |> echo a > %o |> a.txt <one>\n: | <one> |> echo b > %o |> b.txt <two>\n",
    );
    let out = p.build(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cycle"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_target_builds_only_what_it_needs() {
    let p = Proj::example("hello");
    let out = p.build(&["lib"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(ran(&p.log()), vec!["CC greet.c", "GEN version.h"]);
    assert!(!p.root.join("app/hello").exists());
    let log = p.build_ok();
    assert_eq!(ran(&log), vec!["CC main.c", "LINK hello"]);
}

#[test]
fn a_second_build_waits_for_the_lock() {
    let p = Proj::empty();
    p.write("Tupfile", ": |> echo a > %o |> a.txt\n");
    fs::create_dir_all(p.root.join(".tupfs")).unwrap();
    let lock = tupfs::lock::BuildLock::acquire(&p.root.join(".tupfs")).unwrap();
    let mut child = Command::new("timeout")
        .args(["60", TUPFS, "build"])
        .current_dir(&p.root)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    stderr.read_line(&mut first).unwrap();
    assert!(first.contains("waiting for another tupfs build"), "{first}");
    assert!(!p.root.join("a.txt").exists());
    drop(lock);
    assert!(child.wait().unwrap().success());
    assert!(p.root.join("a.txt").exists());
}

#[test]
fn sigint_stops_the_build_and_the_next_one_finishes() {
    let p = Proj::empty();
    let outside = tempfile::tempdir().unwrap();
    let marker = outside.path().join("started");
    p.write(
        "Tupfile",
        &format!(
            ": |> touch {m}; test -f go || sleep 60; echo done > %o |> slow.txt\n",
            m = marker.display()
        ),
    );
    let child = Command::new(TUPFS)
        .arg("build")
        .current_dir(&p.root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..600 {
        if marker.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(marker.exists(), "the command never started");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert_eq!(p.log()["status"], "interrupted");
    assert!(!p.root.join("slow.txt").exists());
    p.write("go", "");
    let log = p.build_ok();
    assert_eq!(log["commands"][0]["reason"], "must-rerun");
    assert!(p.root.join("slow.txt").exists());
}

#[test]
fn identical_output_cuts_off_in_digest_mode_and_with_caret_o() {
    for (mode, flag, consumer_reruns) in [
        ("digest", "", false),
        ("mtime", "^o^ ", false),
        ("mtime", "", true),
    ] {
        let p = Proj::empty();
        p.write("gen.sh", "echo same\n");
        p.write(
            "Tupfile",
            &format!(": gen.sh |> {flag}sh gen.sh > %o |> gen.txt\n: gen.txt |> cat %f > %o |> out.txt\n"),
        );
        assert!(p.build(&["--change", mode]).status.success());
        p.write("gen.sh", "# a comment\necho same\n");
        let out = p.build(&["--change", mode]);
        assert!(out.status.success(), "{}", text(&out));
        let cmds: Vec<String> = p.log()["commands"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["command"].as_str().unwrap().to_string())
            .collect();
        assert!(
            cmds.contains(&"sh gen.sh > gen.txt".to_string()),
            "{mode}{flag}: {cmds:?}"
        );
        assert_eq!(
            cmds.contains(&"cat gen.txt > out.txt".to_string()),
            consumer_reruns,
            "{mode} {flag}: {cmds:?}"
        );
        let log = p.build_ok();
        assert!(
            ran(&log).is_empty(),
            "{mode} {flag}: second build ran {log:#}"
        );
    }
}

#[test]
fn exported_variable_change_reruns_with_its_name() {
    let p = Proj::empty();
    p.write(
        "Tupfile",
        "export TUPFS_T_FOO\n: |> echo \"$TUPFS_T_FOO\" > %o |> foo.txt\n",
    );
    let run = |value: &str| {
        Command::new(TUPFS)
            .arg("build")
            .env("TUPFS_T_FOO", value)
            .current_dir(&p.root)
            .output()
            .unwrap()
    };
    assert!(run("one").status.success());
    assert_eq!(fs::read_to_string(p.root.join("foo.txt")).unwrap(), "one\n");
    assert!(run("one").status.success());
    assert!(ran(&p.log()).is_empty());
    assert!(run("two").status.success());
    let log = p.log();
    assert_eq!(log["commands"][0]["reason"], "variable-changed");
    assert_eq!(log["commands"][0]["reason_detail"], "$TUPFS_T_FOO");
    assert_eq!(fs::read_to_string(p.root.join("foo.txt")).unwrap(), "two\n");
}

#[test]
fn damaged_index_is_one_line_and_a_full_rebuild() {
    let p = Proj::example("hello");
    p.build_ok();
    fs::write(
        p.root.join(".tupfs/index"),
        b"TUPFSIDX garbage that is not an index",
    )
    .unwrap();
    let out = p.build(&[]);
    assert!(out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.lines().filter(|l| l.contains("index")).count(),
        1,
        "{err}"
    );
    assert_eq!(ran(&p.log()).len(), 4);
    assert_eq!(hello_output(&p), "hello, world (greet 1.0)\n");
    assert!(ran(&p.build_ok()).is_empty());
}

#[test]
fn stale_output_that_cannot_be_removed_fails_and_is_retried() {
    let p = Proj::empty();
    p.write(
        "Tupfile",
        ": |> echo a > %o |> a.txt\n: |> echo b > %o |> b.txt\n",
    );
    p.build_ok();
    // b.txt becomes a non-empty directory: it cannot be removed as a file.
    fs::remove_file(p.root.join("b.txt")).unwrap();
    p.write("b.txt/keep", "x");
    p.write("Tupfile", ": |> echo a > %o |> a.txt\n");
    let out = p.build(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("b.txt"),
        "{}",
        text(&out)
    );
    fs::remove_dir_all(p.root.join("b.txt")).unwrap();
    let log = p.build_ok();
    assert_eq!(log["removed"], serde_json::json!(["b.txt"]));
}

#[test]
fn unknown_change_mode_is_a_usage_error() {
    let p = Proj::empty();
    p.write("Tupfile", ": |> echo a > %o |> a.txt\n");
    let out = p.build(&["--change", "sometimes"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sometimes"));
}

#[test]
fn undeclared_write_fails_and_is_not_kept() {
    let p = Proj::empty();
    p.write(
        "Tupfile",
        ": |> echo x > %o; echo junk > junk.txt |> out.txt\n",
    );
    let out = p.build(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unspecified output") && err.contains("junk.txt"),
        "{err}"
    );
    assert!(!p.root.join("junk.txt").exists());
    assert!(!p.root.join("out.txt").exists());
}

#[test]
fn reading_a_generated_file_needs_a_declared_path() {
    let p = Proj::empty();
    p.write(
        "Tupfile",
        ": |> echo gen > %o |> gen.txt\n: |> cat gen.txt > %o |> use.txt\n",
    );
    let out = p.build(&["-j1"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing input dependency"), "{err}");
    assert!(
        err.contains("gen.txt") && err.contains("Tupfile:1"),
        "{err}"
    );
    assert!(!p.root.join("use.txt").exists());
    p.write(
        "Tupfile",
        ": |> echo gen > %o |> gen.txt\n: | gen.txt |> cat gen.txt > %o |> use.txt\n",
    );
    p.build_ok();
    assert_eq!(fs::read_to_string(p.root.join("use.txt")).unwrap(), "gen\n");
}

#[test]
fn temp_files_and_renames_are_fine_but_a_left_dir_is_not() {
    let p = Proj::empty();
    p.write(
        "Tupfile",
        ": |> echo t > tmp.txt; rm tmp.txt; mkdir d; rmdir d; echo z > part; mv part %o |> ok.txt\n",
    );
    let log = p.build_ok();
    assert_eq!(log["commands"][0]["status"], "ok");
    assert!(!p.root.join("tmp.txt").exists() && !p.root.join("part").exists());
    assert_eq!(fs::read_to_string(p.root.join("ok.txt")).unwrap(), "z\n");
    p.write("Tupfile", ": |> mkdir leftdir; echo y > %o |> out.txt\n");
    let out = p.build(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("leftdir"),
        "{}",
        text(&out)
    );
}

#[test]
fn removing_a_group_member_reruns_the_groups_consumer() {
    let p = Proj::empty();
    p.write("a.txt", "a\n");
    p.write("b.txt", "b\n");
    p.write(
        "Tupfile",
        ": foreach *.txt |> cp %f %o |> %B.part <parts>\n: | <parts> |> cat *.part > %o |> all.out\n",
    );
    p.build_ok();
    assert_eq!(
        fs::read_to_string(p.root.join("all.out")).unwrap(),
        "a\nb\n"
    );
    fs::remove_file(p.root.join("b.txt")).unwrap();
    let log = p.build_ok();
    assert_eq!(log["removed"], serde_json::json!(["b.part"]));
    assert_eq!(ran(&log), vec!["cat *.part > all.out"]);
    assert_eq!(fs::read_to_string(p.root.join("all.out")).unwrap(), "a\n");
}

#[test]
fn gitignore_directive_lists_outputs() {
    let p = Proj::empty();
    p.write(".gitignore", "my-own-line\n");
    p.write("Tupfile", ".gitignore\n: |> echo a > %o |> a.txt\n");
    p.build_ok();
    let ignore = fs::read_to_string(p.root.join(".gitignore")).unwrap();
    assert!(
        ignore.contains("my-own-line") && ignore.contains("a.txt"),
        "{ignore}"
    );
}
