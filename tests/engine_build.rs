//! `tupfs build` end to end: the real binary on projects in temporary
//! directories (through `tests/harness`), asserting on files, exit codes,
//! messages and the run log (`.tupfs/log/last.json`).

mod harness;

use std::time::Duration;

use harness::{wait_until, Outcome, Project};

/// The display texts of the commands that ran, sorted.
fn shown(out: &Outcome) -> Vec<String> {
    let mut v: Vec<String> = out
        .commands()
        .iter()
        .map(|c| c.display.clone().unwrap_or_else(|| c.command.clone()))
        .collect();
    v.sort();
    v
}

/// What the example's `app/hello` prints.
fn hello_output(p: &Project) -> String {
    let out = std::process::Command::new(p.path("app/hello"))
        .output()
        .expect("cannot run app/hello");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn hello_builds_and_prints_its_greeting() {
    require_fuse!();
    let p = Project::example("hello");
    let out = p.build(&[]);
    out.success().log_status("ok");
    assert_eq!(hello_output(&p), "hello, world (greet 1.0)\n");
    assert_eq!(
        shown(&out),
        ["CC greet.c", "CC main.c", "GEN version.h", "LINK hello"]
    );
    assert!(out
        .commands()
        .iter()
        .all(|c| c.reason == "new" && c.status == "ok"));
    assert_eq!(out.log().summary.ran, 4);
    // The index records every command and what each Tupfile's parse read.
    let opened = tupfs::index::Index::open(&p.path(".tupfs/index"), &Default::default());
    let tupfs::index::Open::Ready(index) = opened else {
        panic!("no usable index after a build: {opened:?}");
    };
    assert_eq!(index.command_count(), 4);
    assert_eq!(index.tupfiles().count(), 2);
}

#[test]
fn second_build_has_nothing_to_do() {
    require_fuse!();
    let p = Project::example("hello");
    p.build(&[]).success();
    p.build(&[])
        .success()
        .says(&["Nothing to do"])
        .log_status("nothing-to-do")
        .ran_nothing();
}

#[test]
fn editing_a_source_reruns_its_compile_only_and_explains_why() {
    require_fuse!();
    let p = Project::example("hello");
    p.build(&[]).success();
    let src = p.read("lib/greet.c").replace("hello,", "hi,");
    p.write("lib/greet.c", &src);
    let out = p.build(&["--explain"]);
    out.success()
        .ran_exactly(&["CC greet.c", "LINK hello"])
        .ran_because("CC greet.c", "input-changed")
        .says(&["input lib/greet.c changed"]);
    let cc = out.command("CC greet.c");
    assert_eq!(cc.reason_detail.as_deref(), Some("lib/greet.c"));
}

#[test]
fn editing_a_header_reruns_exactly_its_users() {
    require_fuse!();
    let p = Project::example("hello");
    p.build(&[]).success();
    p.append("lib/greet.h", "/* edited */\n");
    let out = p.build(&[]);
    out.success();
    assert_eq!(shown(&out), ["CC greet.c", "CC main.c", "LINK hello"]);
    assert_eq!(hello_output(&p), "hello, world (greet 1.0)\n");
}

#[test]
fn failing_command_leaves_no_output_and_reruns_next_time() {
    require_fuse!();
    let p = Project::new().file(
        "Tupfile",
        ": |> echo partial > %o; exit 1 |> out.txt\n: |> echo fine > %o |> ok.txt\n",
    );
    p.build(&["-k"])
        .exit_code(1)
        .says(&["Tupfile:1"])
        .log_status("failed");
    assert!(!p.exists("out.txt"));
    assert!(p.exists("ok.txt"));
    p.build(&[])
        .exit_code(1)
        .ran_exactly(&["echo partial > out.txt; exit 1"])
        .ran_because("echo partial > out.txt; exit 1", "must-rerun");
    p.write(
        "Tupfile",
        ": |> echo whole > %o |> out.txt\n: |> echo fine > %o |> ok.txt\n",
    );
    p.build(&[])
        .success()
        .ran_exactly(&["echo whole > out.txt"]);
    assert_eq!(p.read("out.txt"), "whole\n");
}

#[test]
fn removing_a_rule_removes_its_output_and_emptied_dirs() {
    require_fuse!();
    let p = Project::new()
        .file("Tupfile", ": |> echo a > %o |> a.txt\n")
        .file("sub/Tupfile", ": |> echo b > %o |> b.txt\n");
    p.build(&[]).success();
    assert!(p.exists("sub/b.txt"));
    p.write("sub/Tupfile", "\n");
    let out = p.build(&[]);
    out.success().ran_nothing();
    assert!(!p.exists("sub/b.txt"));
    assert!(p.exists("sub/Tupfile"));
    assert!(p.exists("a.txt"));
    assert_eq!(out.log().removed, ["sub/b.txt"]);
}

#[test]
fn editing_a_recipe_reruns_it_in_place() {
    require_fuse!();
    let p = Project::new().file("Tupfile", ": |> echo one > %o |> x.txt\n");
    p.build(&[]).success();
    p.write("Tupfile", ": |> echo two > %o |> x.txt\n");
    let out = p.build(&[]);
    out.success()
        .ran_because("echo two > x.txt", "identity-changed");
    assert!(out.log().removed.is_empty());
    assert_eq!(p.read("x.txt"), "two\n");
}

#[test]
fn parse_error_exits_2_and_runs_nothing() {
    require_fuse!();
    let p = Project::new().file("Tupfile", ": |> echo a > %o |> a.txt\n");
    p.build(&[]).success();
    p.write(
        "Tupfile",
        ": |> echo a > %o |> a.txt\n: this is not a rule\n",
    );
    let out = p.build(&[]);
    out.exit_code(2);
    if !out.stderr.contains("Tupfile:2") {
        out.fail("expected the error on stderr to name Tupfile:2");
    }
    assert!(p.exists("a.txt"));
}

#[test]
fn duplicate_output_and_cycle_are_errors_naming_the_rules() {
    require_fuse!();
    let p = Project::new().file(
        "Tupfile",
        ": |> echo a > %o |> x.txt\n: |> echo b > %o |> x.txt\n",
    );
    p.build(&[]).exit_code(2).says(&["Tupfile:1", "Tupfile:2"]);
    p.write(
        "Tupfile",
        ": | <two> |> echo a > %o |> a.txt <one>\n: | <one> |> echo b > %o |> b.txt <two>\n",
    );
    p.build(&[]).exit_code(2).says(&["cycle"]);
}

#[test]
fn a_target_builds_only_what_it_needs() {
    require_fuse!();
    let p = Project::example("hello");
    let out = p.build(&["lib"]);
    out.success();
    assert_eq!(shown(&out), ["CC greet.c", "GEN version.h"]);
    assert!(!p.exists("app/hello"));
    let out = p.build(&[]);
    out.success();
    assert_eq!(shown(&out), ["CC main.c", "LINK hello"]);
}

#[test]
fn a_second_build_waits_for_the_lock() {
    require_fuse!();
    let p = Project::new().file("Tupfile", ": |> echo a > %o |> a.txt\n");
    std::fs::create_dir_all(p.path(".tupfs")).expect("mkdir .tupfs");
    let lock = tupfs::lock::BuildLock::acquire(&p.path(".tupfs")).expect("take the lock");
    let run = p.spawn(&["build"]);
    let waiting = wait_until(Duration::from_secs(60), || {
        run.stderr_so_far()
            .contains("waiting for another tupfs build")
    });
    assert!(waiting, "no waiting message: {}", run.stderr_so_far());
    assert!(!p.exists("a.txt"));
    drop(lock);
    run.wait().success();
    assert!(p.exists("a.txt"));
}

#[test]
fn sigint_stops_the_build_and_the_next_one_finishes() {
    require_fuse!();
    let p = Project::new();
    let marker = p.outside("started");
    p.write(
        "Tupfile",
        &format!(
            ": |> touch {m}; test -f go || sleep 60; echo done > %o |> slow.txt\n",
            m = marker.display()
        ),
    );
    let run = p.spawn(&["build"]);
    assert!(
        wait_until(Duration::from_secs(30), || marker.exists()),
        "the command never started"
    );
    run.signal(libc::SIGINT);
    run.wait().exit_code(130).log_status("interrupted");
    assert!(!p.exists("slow.txt"));
    p.write("go", "");
    let out = p.build(&[]);
    out.success();
    assert_eq!(out.commands()[0].reason, "must-rerun");
    assert!(p.exists("slow.txt"));
}

#[test]
fn identical_output_cuts_off_in_digest_mode_and_with_caret_o() {
    require_fuse!();
    for (mode, flag, consumer_reruns) in [
        ("digest", "", false),
        ("mtime", "^o^ ", false),
        ("mtime", "", true),
    ] {
        let p = Project::new().file("gen.sh", "echo same\n").file(
            "Tupfile",
            &format!(": gen.sh |> {flag}sh gen.sh > %o |> gen.txt\n: gen.txt |> cat %f > %o |> out.txt\n"),
        );
        p.build(&["--change", mode]).success();
        p.write("gen.sh", "# a comment\necho same\n");
        let out = p.build(&["--change", mode]);
        out.success();
        assert!(
            out.ran().contains(&"sh gen.sh > gen.txt".to_string()),
            "{mode} {flag}: {:?}",
            out.ran()
        );
        assert_eq!(
            out.ran().contains(&"cat gen.txt > out.txt".to_string()),
            consumer_reruns,
            "{mode} {flag}: {:?}",
            out.ran()
        );
        p.build(&["--change", mode]).success().ran_nothing();
    }
}

#[test]
fn exported_variable_change_reruns_with_its_name() {
    require_fuse!();
    let p = Project::new().file(
        "Tupfile",
        "export TUPFS_T_FOO\n: |> echo \"$TUPFS_T_FOO\" > %o |> foo.txt\n",
    );
    p.set_env("TUPFS_T_FOO", "one");
    p.build(&[]).success();
    assert_eq!(p.read("foo.txt"), "one\n");
    p.build(&[]).success().ran_nothing();
    p.set_env("TUPFS_T_FOO", "two");
    let out = p.build(&[]);
    let cmd = "echo \"$TUPFS_T_FOO\" > foo.txt";
    out.success().ran_because(cmd, "variable-changed");
    assert_eq!(
        out.command(cmd).reason_detail.as_deref(),
        Some("$TUPFS_T_FOO")
    );
    assert_eq!(p.read("foo.txt"), "two\n");
}

#[test]
fn damaged_index_is_one_line_and_a_full_rebuild() {
    require_fuse!();
    let p = Project::example("hello");
    p.build(&[]).success();
    std::fs::write(
        p.path(".tupfs/index"),
        b"TUPFSIDX garbage that is not an index",
    )
    .expect("damage the index");
    let out = p.build(&[]);
    out.success();
    let index_lines = out.stderr.lines().filter(|l| l.contains("index")).count();
    if index_lines != 1 {
        out.fail("expected exactly one stderr line about the index");
    }
    assert_eq!(out.commands().len(), 4);
    assert_eq!(hello_output(&p), "hello, world (greet 1.0)\n");
    p.build(&[]).success().ran_nothing();
}

/// The index with one byte flipped that rkyv's validation cannot see: the
/// build opens it, scans by it, and only the checksum's verdict (which
/// arrives beside the scan) can tell.
fn damage_only_the_checksum_sees(p: &Project) {
    use tupfs::index::{Index, IndexOptions, Open};
    let path = p.path(".tupfs/index");
    let bytes = std::fs::read(&path).expect("read the index");
    let probe = p.path(".tupfs/probe");
    for at in (tupfs::index::HEADER_LEN..bytes.len()).rev() {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x01;
        std::fs::write(&probe, &damaged).expect("write the probe");
        let opts = IndexOptions::default();
        if let Open::Ready(_) = Index::open_unconfirmed(&probe, &opts) {
            std::fs::rename(&probe, &path).expect("replace the index");
            return;
        }
    }
    panic!("no byte of the index is beyond rkyv's validation");
}

#[test]
fn damage_found_after_the_scan_started_is_one_line_and_a_full_rebuild() {
    require_fuse!();
    let p = Project::example("hello");
    p.build(&[]).success();
    damage_only_the_checksum_sees(&p);
    let out = p.build(&[]);
    out.success();
    let index_lines = out.stderr.lines().filter(|l| l.contains("index")).count();
    if index_lines != 1 || !out.stderr.contains("checksum mismatch") {
        out.fail("expected exactly one stderr line about the damaged index");
    }
    assert_eq!(out.commands().len(), 4);
    assert_eq!(hello_output(&p), "hello, world (greet 1.0)\n");
    p.build(&[]).success().ran_nothing();
}

#[test]
fn stale_output_that_cannot_be_removed_fails_and_is_retried() {
    require_fuse!();
    let p = Project::new().file(
        "Tupfile",
        ": |> echo a > %o |> a.txt\n: |> echo b > %o |> b.txt\n",
    );
    p.build(&[]).success();
    // b.txt becomes a non-empty directory: it cannot be removed as a file.
    p.remove("b.txt");
    p.write("b.txt/keep", "x");
    p.write("Tupfile", ": |> echo a > %o |> a.txt\n");
    p.build(&[]).exit_code(1).says(&["b.txt"]);
    p.remove("b.txt");
    let out = p.build(&[]);
    out.success();
    assert_eq!(out.log().removed, ["b.txt"]);
}

#[test]
fn unknown_change_mode_is_a_usage_error() {
    let p = Project::new().file("Tupfile", ": |> echo a > %o |> a.txt\n");
    p.build(&["--change", "sometimes"])
        .exit_code(2)
        .says(&["sometimes"]);
}

#[test]
fn undeclared_write_fails_and_is_not_kept() {
    require_fuse!();
    let p = Project::new().file(
        "Tupfile",
        ": |> echo x > %o; echo junk > junk.txt |> out.txt\n",
    );
    p.build(&[])
        .exit_code(1)
        .says(&["Unspecified output", "junk.txt"]);
    assert!(!p.exists("junk.txt"));
    assert!(!p.exists("out.txt"));
}

#[test]
fn reading_a_generated_file_needs_a_declared_path() {
    require_fuse!();
    let p = Project::new().file(
        "Tupfile",
        ": |> echo gen > %o |> gen.txt\n: |> cat gen.txt > %o |> use.txt\n",
    );
    p.build(&["-j1"])
        .exit_code(1)
        .says(&["Missing input dependency", "gen.txt", "Tupfile:1"]);
    assert!(!p.exists("use.txt"));
    p.write(
        "Tupfile",
        ": |> echo gen > %o |> gen.txt\n: | gen.txt |> cat gen.txt > %o |> use.txt\n",
    );
    p.build(&[]).success();
    assert_eq!(p.read("use.txt"), "gen\n");
}

#[test]
fn temp_files_and_renames_are_fine_but_a_left_dir_is_not() {
    require_fuse!();
    let p = Project::new().file(
        "Tupfile",
        ": |> echo t > tmp.txt; rm tmp.txt; mkdir d; rmdir d; echo z > part; mv part %o |> ok.txt\n",
    );
    let out = p.build(&[]);
    out.success();
    assert_eq!(out.commands()[0].status, "ok");
    assert!(!p.exists("tmp.txt") && !p.exists("part"));
    assert_eq!(p.read("ok.txt"), "z\n");
    p.write("Tupfile", ": |> mkdir leftdir; echo y > %o |> out.txt\n");
    p.build(&[]).exit_code(1).says(&["leftdir"]);
}

#[test]
fn removing_a_group_member_reruns_the_groups_consumer() {
    require_fuse!();
    let p = Project::new()
        .file("a.txt", "a\n")
        .file("b.txt", "b\n")
        .file(
            "Tupfile",
            ": foreach *.txt |> cp %f %o |> %B.part <parts>\n: | <parts> |> cat *.part > %o |> all.out\n",
        );
    p.build(&[]).success();
    assert_eq!(p.read("all.out"), "a\nb\n");
    p.remove("b.txt");
    let out = p.build(&[]);
    out.success().ran_exactly(&["cat *.part > all.out"]);
    assert_eq!(out.log().removed, ["b.part"]);
    assert_eq!(p.read("all.out"), "a\n");
}

#[test]
fn gitignore_directive_lists_outputs() {
    require_fuse!();
    let p = Project::new()
        .file(".gitignore", "my-own-line\n")
        .file("Tupfile", ".gitignore\n: |> echo a > %o |> a.txt\n");
    p.build(&[]).success();
    let ignore = p.read(".gitignore");
    assert!(
        ignore.contains("my-own-line") && ignore.contains("a.txt"),
        "{ignore}"
    );
}

#[test]
fn a_refused_change_to_the_project_root_names_it() {
    require_fuse!();
    let p = Project::new().file("Tupfile", ": |> chmod 700 . |>\n");
    p.build(&[])
        .failure()
        .says(&["refused: chmod of the project root"])
        .never_says(&["chmod of  ("]);
}
