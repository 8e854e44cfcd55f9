//! The behaviour catalogue (shared/spec/scenarios.md), one test per
//! scenario, named after it: a project in a temp dir, built by the real
//! `tupfs` with real gcc/sh/python3 through a real FUSE mount, asserting on
//! files, exit status, messages and (from the run log) which commands ran.
//!
//! A scenario whose feature is not built yet is `#[ignore]`d with the issue
//! that builds it: 2 Tupfile language, 3 tracing filesystem, 4 build engine.
//! `cargo test --test scenarios -- --include-ignored` runs them all.
//! Scenario 43 (the oracle) lives in tests/oracle.rs.

mod harness;

use std::time::{Duration, SystemTime};

use harness::{c_file, mounts_under, wait_until, Mode, Project, CC_AND_LINK};

/// Compile every .c to a .o.
const CC_ONLY: &str = ": foreach *.c |> gcc -c %f -o %o |> %B.o\n";

// ---------------------------------------------------------------------------
// Implicit dependencies (the tracer)
// ---------------------------------------------------------------------------

#[test]
fn s01_header_edit_rebuilds_exact_users() {
    require_fuse!();
    let p = Project::new()
        .file("Tupfile", CC_AND_LINK)
        .file("a.h", "#define A 1\n")
        .file("b.h", "#define B 2\n")
        .file("a.c", &c_file("fa", &["a.h"], "A"))
        .file("b.c", &c_file("fb", &["b.h"], "B"))
        .file("c.c", &c_file("fc", &["a.h", "b.h"], "A + B"))
        .file("main.c", "int main(void) { return 0; }\n");
    let link = "gcc a.o b.o c.o main.o -o app";
    p.build(&[]).success().ran_exactly(&[
        "gcc -c a.c -o a.o",
        "gcc -c b.c -o b.o",
        "gcc -c c.c -o c.o",
        "gcc -c main.c -o main.o",
        link,
    ]);
    p.build(&[]).success().ran_nothing();
    p.write("a.h", "#define A 3\n");
    p.build(&[])
        .success()
        .ran_exactly(&["gcc -c a.c -o a.o", "gcc -c c.c -o c.o", link])
        .ran_because("gcc -c a.c -o a.o", "input-changed");
    p.build(&[]).success().ran_nothing();
}

#[test]
fn s02_header_through_header_counts() {
    require_fuse!();
    let p = Project::new()
        .file("Tupfile", CC_AND_LINK)
        .file("a.h", "#define A 1\n")
        .file("b.h", "#include \"a.h\"\n#define B (A + 1)\n")
        .file("x.c", &c_file("fx", &["b.h"], "B"))
        .file("y.c", "int main(void) { return 0; }\n");
    p.build(&[]).success();
    p.write("a.h", "#define A 5\n");
    p.build(&[])
        .success()
        .ran_exactly(&["gcc -c x.c -o x.o", "gcc x.o y.o -o app"]);
}

#[test]
fn s03_ghost_header_earlier_on_include_path() {
    require_fuse!();
    let p = Project::new()
        .file(
            "Tupfile",
            ": foreach *.c |> gcc -Iinc1 -Iinc2 -c %f -o %o |> %B.o\n\
             : *.o |> gcc %f -o %o |> app\n",
        )
        // inc1/ exists from the start: gcc stats every -I directory, so
        // creating the directory itself would (rightly) re-run every compile.
        .file("inc1/README", "shadows go here\n")
        .file("inc2/v.h", "#define V 2\n")
        .file("main.c", "#include <v.h>\nint main(void) { return V; }\n")
        .file("other.c", "int other(void) { return 0; }\n");
    p.build(&[]).success();
    assert_eq!(p.exec("app"), 2);
    p.write("inc1/v.h", "#define V 1\n");
    let compile = "gcc -Iinc1 -Iinc2 -c main.c -o main.o";
    p.build(&[])
        .success()
        .ran_exactly(&[compile, "gcc main.o other.o -o app"])
        .ran_because(compile, "ghost-appeared");
    assert_eq!(p.exec("app"), 1, "the build must have used the new header");
}

#[test]
fn s04_non_compiler_tool_gets_data_dependency() {
    require_fuse!();
    let p = Project::new()
        .file("Tupfile", ": |> sh show.sh > %o |> out.txt\n")
        .file("show.sh", "cat data.txt\n")
        .file("data.txt", "one\n")
        .file("unrelated.txt", "x\n");
    p.build(&[]).success();
    assert_eq!(p.read("out.txt"), "one\n");
    p.write("data.txt", "two\n");
    p.build(&[])
        .success()
        .ran_exactly(&["sh show.sh > out.txt"])
        .ran_because("sh show.sh > out.txt", "input-changed");
    assert_eq!(p.read("out.txt"), "two\n");
    p.write("unrelated.txt", "y\n");
    p.build(&[]).success().ran_nothing();
}

#[test]
fn s05_temp_files_and_mkstemp_leave_nothing() {
    require_fuse!();
    let gen = r#"import os, sys, tempfile
fd, tmp = tempfile.mkstemp(dir=".", prefix="scratch-")
os.write(fd, b"scratch")
os.close(fd)
with open(tmp) as f:
    data = f.read()
os.unlink(tmp)
with open("plain.tmp", "w") as f:
    f.write("x")
os.remove("plain.tmp")
d = tempfile.mkdtemp(dir=".")
open(os.path.join(d, "f"), "w").close()
os.remove(os.path.join(d, "f"))
os.rmdir(d)
with open(sys.argv[1], "w") as f:
    f.write(data + "\n")
"#;
    let p = Project::new()
        .file("Tupfile", ": gen.py |> python3 gen.py %o |> out.txt\n")
        .file("gen.py", gen);
    let b = p.build(&[]);
    b.success();
    assert_eq!(b.command("python3 gen.py out.txt").outputs, vec!["out.txt"]);
    assert_eq!(p.read("out.txt"), "scratch\n");
    assert_eq!(
        p.files(),
        vec!["Tupfile", "Tupfile.ini", "gen.py", "out.txt"]
    );
    p.build(&[]).success().ran_nothing();
}

#[test]
fn s06_undeclared_write_is_unspecified_output() {
    require_fuse!();
    let p = Project::new().file(
        "Tupfile",
        ": |> echo hi > %o; echo sneaky > extra.txt |> out.txt\n",
    );
    p.build(&[])
        .failure()
        .says(&["Unspecified output", "extra.txt"]);
    assert!(
        !p.exists("extra.txt"),
        "the undeclared file must not be kept"
    );
}

#[test]
fn s07_undeclared_read_of_generated_file() {
    require_fuse!();
    let p = Project::new().file("Tupfile", ": |> echo gen > %o |> gen.txt\n");
    p.build(&[]).success();
    p.append("Tupfile", ": |> cat gen.txt > %o |> out.txt\n");
    p.build(&[])
        .failure()
        .says(&["Missing input dependency", "gen.txt"]);
    assert!(!p.exists("out.txt"));
    p.write(
        "Tupfile",
        ": |> echo gen > %o |> gen.txt\n: | gen.txt |> cat gen.txt > %o |> out.txt\n",
    );
    p.build(&[])
        .success()
        .ran_exactly(&["cat gen.txt > out.txt"]);
    assert_eq!(p.read("out.txt"), "gen\n");
}

#[test]
fn s08_declared_output_not_written_fails() {
    require_fuse!();
    let p = Project::new().file("Tupfile", ": |> true |> out.txt\n");
    p.build(&[])
        .failure()
        .says(&["Expected to write to file", "out.txt"]);
}

#[test]
fn s09_parallel_jobs_get_only_their_own_reads() {
    require_fuse!();
    let p = Project::new();
    // A rendezvous outside the project (untraced): each job waits until both
    // started, so the two jobs really run at once.
    let rv = p.outside("rv");
    std::fs::create_dir(&rv).expect("mkdir rv");
    let script = p.outside("rv.sh");
    std::fs::write(
        &script,
        format!(
            "touch {rv}/$1; n=0\nwhile [ $(ls {rv} | wc -l) -lt 2 ] && [ $n -lt 400 ]; do sleep 0.05; n=$((n+1)); done\n",
            rv = rv.display()
        ),
    )
    .expect("write rv.sh");
    let s = script.display();
    let p = p
        .file(
            "Tupfile",
            &format!(": foreach *.c |> sh {s} %B; gcc -c %f -o %o |> %B.o\n"),
        )
        .file("a.h", "#define A 1\n")
        .file("b.h", "#define B 1\n")
        .file("a.c", &c_file("fa", &["a.h"], "A"))
        .file("b.c", &c_file("fb", &["b.h"], "B"));
    let cmd_a = format!("sh {s} a; gcc -c a.c -o a.o");
    let cmd_b = format!("sh {s} b; gcc -c b.c -o b.o");
    p.build(&["-j2"]).success().ran_exactly(&[&cmd_a, &cmd_b]);
    p.write("a.h", "#define A 2\n");
    p.build(&["-j2"]).success().ran_exactly(&[&cmd_a]);
    p.write("b.h", "#define B 2\n");
    p.build(&["-j2"]).success().ran_exactly(&[&cmd_b]);
}

#[test]
fn s10_rename_own_temp_onto_output() {
    require_fuse!();
    let p = Project::new().file(
        "Tupfile",
        ": |> echo hi > out.tmp && mv out.tmp %o |> out.txt\n",
    );
    p.build(&[]).success();
    assert_eq!(p.read("out.txt"), "hi\n");
    assert!(!p.exists("out.tmp"));
    p.build(&[]).success().ran_nothing();
}

// ---------------------------------------------------------------------------
// Identity
// ---------------------------------------------------------------------------

#[test]
fn s11_exported_env_var_change_reruns() {
    require_fuse!();
    let p = Project::new()
        .file("Tupfile", "export FOO\n: |> sh show.sh > %o |> out.txt\n")
        .file("show.sh", "echo \"value=$FOO\"\n");
    let cmd = "sh show.sh > out.txt";
    p.set_env("FOO", "1");
    let b = p.build(&[]);
    b.success();
    assert!(!b.command(cmd).command.contains("FOO"));
    assert_eq!(p.read("out.txt"), "value=1\n");
    p.build(&[]).success().ran_nothing();
    p.set_env("FOO", "2");
    p.build(&[])
        .success()
        .ran_exactly(&[cmd])
        .ran_because(cmd, "variable-changed");
    assert_eq!(p.read("out.txt"), "value=2\n");
    assert!(p.exists("out.txt"));
}

#[test]
fn s12_only_exporting_directories_rerun() {
    require_fuse!();
    let p = Project::new()
        .file("show.sh", "echo \"value=$FOO\"\n")
        .file(
            "a/Tupfile",
            "export FOO\n: |> sh ../show.sh > %o |> out.txt\n",
        )
        .file("b/Tupfile", ": |> sh ../show.sh > %o |> out.txt\n");
    p.set_env("FOO", "1");
    p.build(&[]).success();
    assert_eq!(p.read("a/out.txt"), "value=1\n");
    assert_eq!(p.read("b/out.txt"), "value=\n");
    p.set_env("FOO", "2");
    let b = p.build(&[]);
    b.success().ran_exactly(&["sh ../show.sh > out.txt"]);
    assert_eq!(b.commands()[0].dir, "a", "only a/ exports FOO");
    assert_eq!(p.read("a/out.txt"), "value=2\n");
}

#[test]
fn s13_unexported_env_var_never_reaches_commands() {
    require_fuse!();
    let p = Project::new().file("Tupfile", ": |> env > %o |> env.txt\n");
    p.set_env("BAR", "secret-value");
    p.build(&[]).success();
    let env = p.read("env.txt");
    assert!(
        !env.contains("BAR") && !env.contains("secret-value"),
        "{env}"
    );
    assert!(env.lines().any(|l| l.starts_with("PATH=")), "{env}");
    p.set_env("BAR", "other");
    p.build(&[]).success().ran_nothing();
}

#[test]
fn s14_glob_shift_keeps_each_commands_deps() {
    require_fuse!();
    let p = Project::new()
        .file("Tupfile", CC_ONLY)
        .file("b.h", "#define B 1\n")
        .file("c.h", "#define C 1\n")
        .file("a.c", &c_file("fa", &[], "0"))
        .file("b.c", &c_file("fb", &["b.h"], "B"))
        .file("c.c", &c_file("fc", &["c.h"], "C"));
    p.build(&[]).success();
    p.remove("a.c");
    let b = p.build(&[]);
    b.success().ran_nothing();
    assert!(b.log().removed.contains(&"a.o".to_string()));
    assert!(!p.exists("a.o"));
    p.write("c.h", "#define C 2\n");
    p.build(&[]).success().ran_exactly(&["gcc -c c.c -o c.o"]);
    p.write("b.h", "#define B 2\n");
    p.build(&[]).success().ran_exactly(&["gcc -c b.c -o b.o"]);
}

#[test]
fn s15_recipe_edit_reruns_in_place() {
    require_fuse!();
    let p = Project::new()
        .file("Tupfile", ": a.c |> gcc -c a.c -o a.o |> a.o\n")
        .file("a.c", &c_file("fa", &[], "1"));
    p.build(&[]).success();
    p.write("Tupfile", ": a.c |> gcc -O1 -c a.c -o a.o |> a.o\n");
    let b = p.build(&[]);
    b.success()
        .ran_exactly(&["gcc -O1 -c a.c -o a.o"])
        .ran_because("gcc -O1 -c a.c -o a.o", "identity-changed");
    assert!(
        b.log().removed.is_empty(),
        "an edited recipe re-runs in place; its output is not removed"
    );
    assert!(p.exists("a.o"));
}

#[test]
fn s16_tupfile_edit_changing_no_command_reruns_nothing() {
    require_fuse!();
    let p = Project::new()
        .file(
            "Tupfile",
            "CFLAGS = -O0\n: foreach *.c |> gcc $(CFLAGS) -c %f -o %o |> %B.o\n",
        )
        .file("a.c", &c_file("fa", &[], "1"));
    p.build(&[]).success();
    p.write(
        "Tupfile",
        "# a comment\nUNUSED = 1\nCFLAGS = -O0\n\n: foreach *.c |> gcc $(CFLAGS) -c %f -o %o |> %B.o\n",
    );
    p.build(&[]).success().ran_nothing();
}

#[test]
fn s17_config_changes_rerun_exactly_users() {
    require_fuse!();
    let p = Project::new()
        .file("tup.config", "CONFIG_USED=1\nCONFIG_UNUSED=1\n")
        .file(
            "Tupfile",
            ": |> echo @(USED) > %o |> used.txt\n: |> echo plain > %o |> plain.txt\n",
        );
    p.build(&[]).success();
    assert_eq!(p.read("used.txt"), "1\n");
    p.write("tup.config", "CONFIG_USED=1\nCONFIG_UNUSED=2\n");
    p.build(&[]).success().ran_nothing();
    p.write("tup.config", "CONFIG_USED=2\nCONFIG_UNUSED=2\n");
    p.build(&[]).success().ran_exactly(&["echo 2 > used.txt"]);
    assert_eq!(p.read("used.txt"), "2\n");
}

#[test]
fn s18_implicit_deps_survive_identical_sibling_rules() {
    require_fuse!();
    let p = Project::new()
        .file("a/Tupfile", CC_ONLY)
        .file("b/Tupfile", CC_ONLY)
        .file("a/x.h", "#define X 1\n")
        .file("b/x.h", "#define X 2\n")
        .file("a/x.c", &c_file("fx", &["x.h"], "X"))
        .file("b/x.c", &c_file("fx", &["x.h"], "X"));
    p.build(&[]).success();
    for dir in ["a", "b"] {
        p.write(&format!("{dir}/x.h"), "#define X 9\n");
        let b = p.build(&[]);
        b.success().ran_exactly(&["gcc -c x.c -o x.o"]);
        assert_eq!(b.commands()[0].dir, dir);
    }
}

// ---------------------------------------------------------------------------
// Change detection
// ---------------------------------------------------------------------------

/// a.c includes a.h, b.c includes nothing: compile only.
fn header_project() -> Project {
    Project::new()
        .file("Tupfile", CC_ONLY)
        .file("a.h", "#define A 1\n")
        .file("a.c", &c_file("fa", &["a.h"], "A"))
        .file("b.c", &c_file("fb", &[], "2"))
}

#[test]
fn s19_mtime_mode_touch_reruns_users() {
    require_fuse!();
    let p = header_project();
    p.build_in(Mode::Mtime, &[]).success();
    p.touch("a.h");
    p.build_in(Mode::Mtime, &[])
        .success()
        .ran_exactly(&["gcc -c a.c -o a.o"]);
}

#[test]
fn s20_digest_modes_touch_reruns_nothing_edit_reruns_users() {
    require_fuse!();
    for mode in Mode::DIGESTS {
        let p = header_project();
        p.build_in(mode, &[]).success();
        p.touch("a.h");
        p.touch("b.c");
        p.build_in(mode, &[]).success().ran_nothing();
        p.write("a.h", "#define A 7\n");
        p.build_in(mode, &[])
            .success()
            .ran_exactly(&["gcc -c a.c -o a.o"]);
    }
}

#[test]
fn s21_digest_git_workflow_rebuilds_nothing() {
    require_fuse!();
    for mode in Mode::DIGESTS {
        let p = header_project();
        p.build_in(mode, &[]).success();
        let new_h = p.read("a.h");
        let new_c = p.read("a.c");
        // `git switch old-branch`: older contents, fresh mtimes.
        p.write("a.h", "#define A 100 /* old branch */\n");
        p.write("a.c", &c_file("fa_old", &["a.h"], "A + 1"));
        // `git switch main && git pull`: back to the built contents, newer mtimes.
        p.write("a.h", &new_h);
        p.write("a.c", &new_c);
        p.build_in(mode, &[]).success().ran_nothing();
    }
}

/// A generator that re-runs with identical output (it keeps only the first
/// line of data.txt) and a consumer of what it generates.
fn generator_project(gen_flags: &str) -> Project {
    Project::new()
        .file(
            "Tupfile",
            &format!(
                ": |> {gen_flags}sh gen.sh > %o |> gen.txt\n: gen.txt |> cat gen.txt > %o |> copy.txt\n"
            ),
        )
        .file("gen.sh", "head -n1 data.txt\n")
        .file("data.txt", "v1\nfirst\n")
}

#[test]
fn s22_digest_inputs_mode_compares_generated_by_mtime() {
    require_fuse!();
    let gen = "sh gen.sh > gen.txt";
    let copy = "cat gen.txt > copy.txt";
    let p = generator_project("");
    p.build_in(Mode::MtimeDigestInputs, &[]).success();
    p.write("data.txt", "v1\nsecond\n");
    p.build_in(Mode::MtimeDigestInputs, &[])
        .success()
        .ran_exactly(&[gen, copy]);
    // The contrast: with generated files compared by content, it stops.
    let p = generator_project("");
    p.build_in(Mode::MtimeDigest, &[]).success();
    p.write("data.txt", "v1\nsecond\n");
    p.build_in(Mode::MtimeDigest, &[])
        .success()
        .ran_exactly(&[gen]);
}

#[test]
fn s23_early_cutoff_on_identical_generator_output() {
    require_fuse!();
    for mode in [Mode::Digest, Mode::MtimeDigest] {
        let p = generator_project("");
        p.build_in(mode, &[]).success();
        p.write("data.txt", "v1\nsecond\n");
        p.build_in(mode, &[])
            .success()
            .ran_exactly(&["sh gen.sh > gen.txt"]);
        assert_eq!(p.read("copy.txt"), "v1\n");
    }
    let p = generator_project("^o GEN^ ");
    p.build_in(Mode::Mtime, &[]).success();
    p.write("data.txt", "v1\nsecond\n");
    p.build_in(Mode::Mtime, &[]).success().ran_exactly(&["GEN"]);
    // A real change still propagates.
    p.write("data.txt", "v2\nsecond\n");
    p.build_in(Mode::Mtime, &[])
        .success()
        .ran_exactly(&["GEN", "cat gen.txt > copy.txt"]);
    assert_eq!(p.read("copy.txt"), "v2\n");
}

#[test]
fn s24_racy_edit_within_the_same_tick_is_seen() {
    require_fuse!();
    let p = Project::new()
        .file("Tupfile", ": |> cat a.txt > %o |> out.txt\n")
        .file("a.txt", "one\n");
    // An mtime not older than the moment the build records the file's
    // state: a second edit can keep the very same mtime (and size).
    let tick = SystemTime::now() + Duration::from_secs(120);
    p.set_mtime("a.txt", tick);
    p.build(&[]).success();
    assert_eq!(p.read("out.txt"), "one\n");
    p.write("a.txt", "two\n");
    p.set_mtime("a.txt", tick);
    p.build(&[])
        .success()
        .ran_including(&["cat a.txt > out.txt"]);
    assert_eq!(p.read("out.txt"), "two\n");
}

#[test]
fn s25_switching_change_mode_costs_at_most_one_rebuild() {
    require_fuse!();
    let p = header_project();
    let a = "gcc -c a.c -o a.o";
    let b = "gcc -c b.c -o b.o";
    p.build_in(Mode::Mtime, &[]).success();
    let mut value = 1;
    for mode in [
        Mode::Digest,
        Mode::MtimeDigest,
        Mode::MtimeDigestInputs,
        Mode::Mtime,
        Mode::Digest,
    ] {
        // An edit made right at the switch must never be missed...
        value += 1;
        p.write("a.h", &format!("#define A {value}\n"));
        p.build_in(mode, &[]).success().ran_including(&[a]);
        // ...and the switch costs at most that one build.
        p.build_in(mode, &[]).success().ran_nothing();
        p.write("b.c", &c_file("fb", &[], &(100 + value).to_string()));
        p.build_in(mode, &[]).success().ran_exactly(&[b]);
    }
    let clean = p.clean_copy();
    clean.build_in(Mode::Digest, &[]).success();
    assert_eq!(
        p.outputs(),
        clean.outputs(),
        "incremental differs from clean"
    );
}

// ---------------------------------------------------------------------------
// Graph and rules
// ---------------------------------------------------------------------------

#[test]
fn s26_deleted_rule_removes_outputs_and_emptied_dirs() {
    require_fuse!();
    let keep = ": |> echo keep > %o |> keep.txt\n";
    let p = Project::new()
        .file(
            "Tupfile",
            &format!(
                "{keep}: |> echo x > %o |> gen/sub/out.txt\n: |> echo d > %o |> docs/out.txt\n"
            ),
        )
        .file("docs/README", "user file\n");
    p.build(&[]).success();
    assert_eq!(p.read("gen/sub/out.txt"), "x\n");
    p.write("Tupfile", keep);
    let b = p.build(&[]);
    b.success().ran_nothing();
    let mut removed = b.log().removed.clone();
    removed.sort();
    assert_eq!(removed, vec!["docs/out.txt", "gen/sub/out.txt"]);
    assert!(!p.exists("gen/sub/out.txt") && !p.exists("gen/sub") && !p.exists("gen"));
    assert!(p.exists("docs/README"), "a directory with user files stays");
    assert_eq!(p.read("keep.txt"), "keep\n");
}

#[test]
fn s27_undeletable_stale_output_fails_and_keeps_record() {
    require_fuse!();
    let p = Project::new().file(
        "Tupfile",
        ": |> echo x > %o |> out.txt\n: |> echo y > %o |> other.txt\n",
    );
    p.build(&[]).success();
    p.make_immutable("out.txt");
    p.write("Tupfile", ": |> echo y > %o |> other.txt\n");
    p.build(&[]).failure().says(&["out.txt"]);
    assert!(p.exists("out.txt"));
    p.make_mutable("out.txt");
    let b = p.build(&[]);
    b.success().ran_nothing();
    assert!(
        b.log().removed.contains(&"out.txt".to_string()),
        "the failed removal must be remembered and retried"
    );
    assert!(!p.exists("out.txt"));
}

#[test]
fn s28_two_rules_one_output_names_both_lines() {
    require_fuse!();
    let p = Project::new().file(
        "Tupfile",
        ": |> echo a > %o |> out.txt\n: |> echo b > %o |> out.txt\n",
    );
    p.build(&[])
        .failure()
        .says(&["out.txt", "Tupfile:1", "Tupfile:2"])
        .ran_nothing();
    assert!(!p.exists("out.txt"));
}

#[test]
fn s29_dependency_cycle_is_named() {
    require_fuse!();
    let p = Project::new().file(
        "Tupfile",
        ": | <g2> |> echo a > %o |> a.txt <g1>\n: | <g1> |> echo b > %o |> b.txt <g2>\n",
    );
    p.build(&[])
        .failure()
        .says(&["cycle", "a.txt", "b.txt"])
        .ran_nothing();
}

#[test]
fn s30_groups_order_across_dirs_and_track_members() {
    require_fuse!();
    let p = Project::new()
        .file(
            "gen/Tupfile",
            ": foreach *.txt |> tr a-z A-Z < %f > %o |> %B.up <ups>\n",
        )
        .file("gen/a.txt", "a\n")
        .file("gen/b.txt", "b\n")
        .file("gen/c.txt", "c\n")
        // Parsed before gen/ (alphabetical), runs after it.
        .file(
            "a_use/Tupfile",
            ": | ../gen/<ups> |> ^ CAT^ cat %<ups> > %o |> all.txt\n",
        );
    p.build(&[]).success();
    assert_eq!(p.read("a_use/all.txt"), "A\nB\nC\n");
    p.remove("gen/b.txt");
    p.build(&[]).success().ran_exactly(&["CAT"]);
    assert_eq!(p.read("a_use/all.txt"), "A\nC\n");
    assert!(!p.exists("gen/b.up"));
    p.write("gen/c.txt", "see\n");
    p.build(&[])
        .success()
        .ran_exactly(&["tr a-z A-Z < c.txt > c.up", "CAT"]);
    assert_eq!(p.read("a_use/all.txt"), "A\nSEE\n");
}

/// Scenario 31 is one test per language feature, each asserting the exact
/// command lines that ran.
fn two_c_files() -> Project {
    Project::new()
        .file("a.c", "int main(void) { return 0; }\n")
        .file("b.c", &c_file("fb", &[], "2"))
}

#[test]
fn s31a_bins() {
    require_fuse!();
    let p = two_c_files().file(
        "Tupfile",
        ": foreach a.c b.c |> gcc -c %f -o %o |> %B.o {objs}\n: {objs} |> gcc %f -o %o |> app\n",
    );
    p.build(&[]).success().ran_exactly(&[
        "gcc -c a.c -o a.o",
        "gcc -c b.c -o b.o",
        "gcc a.o b.o -o app",
    ]);
}

#[test]
fn s31b_macros() {
    require_fuse!();
    let p = two_c_files().file("c.txt", "c\n").file(
        "Tupfile",
        "!cc = |> gcc -c %f -o %o |> %B.o\n\
         !ld = |> gcc %f -o %o |>\n\
         !tr = |> tr a-z A-Z < %f > %o |> %B.up\n\
         : foreach *.c |> !cc |>\n\
         : *.o |> !ld |> app\n\
         : c.txt |> !tr |> shout.txt\n",
    );
    p.build(&[]).success().ran_exactly(&[
        "gcc -c a.c -o a.o",
        "gcc -c b.c -o b.o",
        "gcc a.o b.o -o app",
        "tr a-z A-Z < c.txt > shout.txt",
    ]);
    assert_eq!(p.read("shout.txt"), "C\n");
}

#[test]
fn s31c_percent_flags() {
    require_fuse!();
    let p = Project::new()
        .file("sub/x.txt", "x\n")
        .file("sub/y.dat", "y\n")
        .file(
            "sub/Tupfile",
            ": foreach x.txt y.dat |> echo %f %b %B %e %d > %o |> %B.out\n\
             : x.txt y.dat |> echo %2f %1f %% > %o |> both.out\n\
             : foreach *.txt |> echo %g > %o |> %g.g\n\
             : x.txt | y.dat |> echo %f %i > %o |> i.out\n\
             : x.txt |> cp %f %1o && cp %f %2o |> one.cp two.cp\n",
        );
    p.build(&[]).success().ran_exactly(&[
        "echo x.txt x.txt x txt sub > x.out",
        "echo y.dat y.dat y dat sub > y.out",
        "echo y.dat x.txt % > both.out",
        "echo x > x.g",
        "echo x.txt y.dat > i.out",
        "cp x.txt one.cp && cp x.txt two.cp",
    ]);
    assert_eq!(p.read("sub/both.out"), "y.dat x.txt %\n");
}

#[test]
fn s31d_include_rules() {
    require_fuse!();
    let p = Project::new()
        .file("Tuprules.tup", "CFLAGS = -O2\nINC = -I$(TUP_CWD)/include\n")
        .file("sub/Tuprules.tup", "CFLAGS += -Wall\n")
        .file(
            "sub/Tupfile",
            "include_rules\n: foreach *.c |> gcc $(CFLAGS) $(INC) -c %f -o %o |> %B.o\n",
        )
        .file("include/h.h", "#define H 1\n")
        .file("sub/a.c", "#include <h.h>\nint fa(void) { return H; }\n");
    p.build(&[])
        .success()
        .ran_exactly(&["gcc -O2 -Wall -I../include -c a.c -o a.o"]);
}

#[test]
fn s31e_conditionals() {
    require_fuse!();
    let p = Project::new()
        .file("tup.config", "CONFIG_MODE=fast\n")
        .file("a.c", &c_file("fa", &[], "1"))
        .file(
            "Tupfile",
            "ifeq (@(MODE),fast)\n\
             OPT = -O2\n\
             ifdef MODE\n\
             OPT += -DNESTED\n\
             endif\n\
             else\n\
             OPT = -O0\n\
             endif\n\
             ifneq (@(MODE),slow)\n\
             OPT += -DNOTSLOW\n\
             endif\n\
             ifdef MODE\n\
             OPT += -DHAS_MODE\n\
             endif\n\
             ifndef MISSING\n\
             OPT += -DNO_MISSING\n\
             endif\n\
             : foreach a.c |> gcc $(OPT) -c %f -o %o |> %B.o\n",
        );
    p.build(&[])
        .success()
        .ran_exactly(&["gcc -O2 -DNESTED -DNOTSLOW -DHAS_MODE -DNO_MISSING -c a.c -o a.o"]);
    p.write("tup.config", "CONFIG_MODE=slow\n");
    p.build(&[])
        .success()
        .ran_exactly(&["gcc -O0 -DHAS_MODE -DNO_MISSING -c a.c -o a.o"]);
}

#[test]
fn s31f_variables_and_include() {
    require_fuse!();
    let p = Project::new()
        .file("a.c", &c_file("fa", &[], "1"))
        .file("common.tup", "CC = gcc\n")
        .file(
            "Tupfile",
            "include common.tup\nFLAGS := -O1\nFLAGS += -g0\n: a.c |> $(CC) $(FLAGS) -c %f -o %o |> a.o\n",
        );
    p.build(&[])
        .success()
        .ran_exactly(&["gcc -O1 -g0 -c a.c -o a.o"]);
}

#[test]
fn s31g_display_text() {
    require_fuse!();
    let p = Project::new().file("a.c", &c_file("fa", &[], "1")).file(
        "Tupfile",
        ": foreach a.c |> ^ CC %f^ gcc -c %f -o %o |> %B.o\n",
    );
    let b = p.build(&[]);
    b.success().says(&["CC a.c"]);
    assert_eq!(b.command("CC a.c").command, "gcc -c a.c -o a.o");
}

#[test]
fn s32_glob_sees_outputs_of_later_parsed_dir() {
    require_fuse!();
    let p = Project::new()
        .file("a/Tupfile", ": ../z/*.gen |> cat %f > %o |> all.txt\n")
        .file("z/Tupfile", ": foreach *.src |> cp %f %o |> %B.gen\n")
        .file("z/one.src", "1\n")
        .file("z/two.src", "2\n");
    p.build(&[])
        .success()
        .ran_including(&["cat ../z/one.gen ../z/two.gen > all.txt"]);
    assert_eq!(p.read("a/all.txt"), "1\n2\n");
}

#[test]
fn s33_run_script_rules_and_reparse() {
    require_fuse!();
    let p = Project::new().file("Tupfile", "run ./gen-rules.sh\n").file(
        "gen-rules.sh",
        "#!/bin/sh\necho ': |> echo hello > %o |> out.txt'\n",
    );
    p.chmod("gen-rules.sh", 0o755);
    p.build(&[])
        .success()
        .ran_exactly(&["echo hello > out.txt"]);
    assert_eq!(p.read("out.txt"), "hello\n");
    p.write(
        "gen-rules.sh",
        "#!/bin/sh\necho ': |> echo bye > %o |> out.txt'\n",
    );
    p.build(&[]).success().ran_exactly(&["echo bye > out.txt"]);
    assert_eq!(p.read("out.txt"), "bye\n");
}

#[test]
fn s34_variants_build_side_by_side() {
    require_fuse!();
    let p = Project::new()
        .file("a.c", &c_file("fa", &[], "1"))
        .file(
            "Tupfile",
            ": foreach *.c |> gcc @(OPT) -c %f -o %o |> %B.o\n: |> ^ NAME^ echo @(NAME) > %o |> name.txt\n",
        )
        .file("build-debug/tup.config", "CONFIG_OPT=-O0\nCONFIG_NAME=debug\n")
        .file("build-release/tup.config", "CONFIG_OPT=-O2\nCONFIG_NAME=release\n");
    p.build(&[]).success();
    for v in ["build-debug", "build-release"] {
        assert!(p.exists(&format!("{v}/a.o")), "{v}/a.o missing");
    }
    assert_eq!(p.read("build-debug/name.txt"), "debug\n");
    assert_eq!(p.read("build-release/name.txt"), "release\n");
    assert!(
        !p.exists("a.o") && !p.exists("name.txt"),
        "no in-tree build"
    );
    p.write(
        "build-release/tup.config",
        "CONFIG_OPT=-O2\nCONFIG_NAME=rel2\n",
    );
    let b = p.build(&[]);
    b.success().ran_exactly(&["NAME"]);
    assert!(b.commands()[0].dir.starts_with("build-release"));
    assert_eq!(p.read("build-release/name.txt"), "rel2\n");
    assert_eq!(p.read("build-debug/name.txt"), "debug\n");
    // The source file is an input of both variants' compiles, only them.
    p.write("a.c", &c_file("fa", &[], "2"));
    p.build(&[])
        .success()
        .ran_exactly(&["gcc -O0 -c a.c -o a.o", "gcc -O2 -c a.c -o a.o"]);
    p.build(&[]).success().ran_nothing();
}

#[test]
fn s35_gitignore_lists_outputs_keeps_user_lines() {
    require_fuse!();
    let p = Project::new()
        .file(".gitignore", "my-own-line\n")
        .file("Tupfile", ".gitignore\n: |> echo x > %o |> out.txt\n");
    p.build(&[]).success();
    let gi = p.read(".gitignore");
    assert_eq!(gi.lines().next(), Some("my-own-line"), "{gi}");
    assert!(
        gi.lines().any(|l| l == "out.txt" || l == "/out.txt"),
        "{gi}"
    );
    p.build(&[]).success().ran_nothing();
    assert_eq!(p.read(".gitignore"), gi);
}

// ---------------------------------------------------------------------------
// Failure and recovery
// ---------------------------------------------------------------------------

#[test]
fn s36_failing_command_reruns_next_time() {
    require_fuse!();
    let check = "sh check.sh > out.txt";
    let final_cmd = "cat out.txt > final.txt";
    let p = Project::new()
        .file("flag.txt", "ok\n")
        .file("check.sh", "read f < flag.txt; echo \"$f\"; [ \"$f\" = ok ]\n")
        .file(
            "Tupfile",
            ": |> sh check.sh > %o |> out.txt\n: out.txt |> cat out.txt > %o |> final.txt\n: |> echo other > %o |> other.txt\n",
        );
    p.build(&[]).success();
    p.write("flag.txt", "bad\n");
    let b = p.build(&[]);
    b.failure().ran_exactly(&[check]);
    assert_eq!(b.command(check).status, "failed");
    assert!(
        !p.exists("out.txt"),
        "a failed command's outputs are removed"
    );
    p.build(&[]).failure().ran_exactly(&[check]);
    p.write("flag.txt", "ok\n");
    p.build(&[]).success().ran_exactly(&[check, final_cmd]);
    assert_eq!(p.read("final.txt"), "ok\n");
    p.build(&[]).success().ran_nothing();
}

#[test]
fn s37_keep_going_runs_independent_work() {
    require_fuse!();
    let p = Project::new().file(
        "Tupfile",
        ": |> false |> bad.txt\n\
         : bad.txt |> cat bad.txt > %o |> after.txt\n\
         : |> echo a > %o |> a.txt\n\
         : |> echo b > %o |> b.txt\n",
    );
    p.build(&["-k", "-j1"])
        .failure()
        .ran_exactly(&["false", "echo a > a.txt", "echo b > b.txt"]);
    assert_eq!(p.read("a.txt"), "a\n");
    assert_eq!(p.read("b.txt"), "b\n");
    assert!(!p.exists("after.txt"));
    p.build(&["-k"]).failure().ran_exactly(&["false"]);
}

/// A rule that blocks until a file outside the project (untraced) exists,
/// plus a quick independent one. Returns the project and the go file.
fn blocking_project() -> (Project, std::path::PathBuf, String) {
    let p = Project::new();
    let (go, wait) = p.go_signal();
    let slow = format!("{wait}; echo slow > slow.txt");
    let p = p
        .file(
            "Tupfile",
            &format!(": |> echo fast > %o |> fast.txt\n: |> {slow} |> slow.txt\n"),
        )
        .file("a.c", &c_file("fa", &[], "1"))
        .file("b/Tupfile", CC_ONLY)
        .file("b/b.c", &c_file("fb", &[], "2"));
    (p, go, slow)
}

/// Wait until the blocking job is running under a live mount.
fn wait_for_blocked_job(p: &Project, go: &std::path::Path) -> bool {
    let token = go.display().to_string();
    wait_until(Duration::from_secs(60), || {
        !mounts_under(p.root()).is_empty() && !p.processes_in(&token).is_empty()
    })
}

#[test]
fn s38_sigint_stops_cleanly_and_next_build_finishes() {
    require_fuse!();
    let (p, go, slow) = blocking_project();
    let run = p.spawn(&["build", "-j2"]);
    let started = wait_for_blocked_job(&p, &go);
    run.signal_group(libc::SIGINT);
    let b = run.wait();
    if !started {
        b.fail("the blocking job never started under a mount");
    }
    b.failure().log_status("interrupted");
    assert!(mounts_under(p.root()).is_empty(), "the mount must be gone");
    let token = go.display().to_string();
    assert!(
        wait_until(Duration::from_secs(10), || p
            .processes_in(&token)
            .is_empty()),
        "running jobs must be stopped"
    );
    assert!(!p.exists("slow.txt"));
    let done_before: Vec<String> = b
        .commands()
        .iter()
        .filter(|c| c.status == "ok")
        .map(|c| c.command.clone())
        .collect();
    std::fs::write(&go, "").expect("write go");
    let b2 = p.build(&[]);
    b2.success().ran_including(&[&slow]);
    for c in &done_before {
        b2.did_not_run(&[c]);
    }
    assert_eq!(p.read("slow.txt"), "slow\n");
    p.build(&[]).success().ran_nothing();
}

#[test]
fn s39_kill9_then_next_build_recovers() {
    require_fuse!();
    let (p, go, _slow) = blocking_project();
    let run = p.spawn(&["build", "-j2"]);
    let started = wait_for_blocked_job(&p, &go);
    run.signal(libc::SIGKILL);
    let b = run.wait();
    if !started {
        b.fail("the blocking job never started under a mount");
    }
    // Let orphaned jobs finish (they fail on the dead mount).
    std::fs::write(&go, "").expect("write go");
    let token = go.display().to_string();
    wait_until(Duration::from_secs(10), || {
        p.processes_in(&token).is_empty()
    });
    p.build(&[]).success();
    assert!(mounts_under(p.root()).is_empty(), "no mount left behind");
    let clean = p.clean_copy();
    clean.build(&[]).success();
    assert_eq!(
        p.outputs(),
        clean.outputs(),
        "recovered build differs from clean"
    );
    p.build(&[]).success().ran_nothing();
}

#[test]
fn s40_corrupt_index_full_rebuild() {
    require_fuse!();
    let p = header_project();
    let all = ["gcc -c a.c -o a.o", "gcc -c b.c -o b.o"];
    p.build(&[]).success().ran_exactly(&all);
    let index = p.path(".tupfs/index");
    let good = std::fs::read(&index).expect("the build must write .tupfs/index");
    let garbage: Vec<u8> = (0..good.len()).map(|i| (i * 7 + 13) as u8).collect();
    for broken in [good[..good.len() / 2].to_vec(), garbage, Vec::new()] {
        std::fs::write(&index, &broken).expect("write index");
        p.build(&[]).success().says(&["index"]).ran_exactly(&all);
        p.build(&[]).success().ran_nothing();
    }
    let clean = p.clean_copy();
    clean.build(&[]).success();
    assert_eq!(p.outputs(), clean.outputs());
}

#[test]
fn s41_syntax_error_names_line_and_changes_nothing() {
    require_fuse!();
    let bad_rule = ": |> echo b > %o |> b.txt\n";
    let p = Project::new()
        .file("ok/Tupfile", ": |> echo ok > %o |> ok.txt\n")
        .file("bad/Tupfile", bad_rule);
    p.build(&[]).success();
    p.write("ok/Tupfile", ": |> echo ok2 > %o |> ok.txt\n");
    p.write(
        "bad/Tupfile",
        &format!("{bad_rule}: foo.c |> gcc -c foo.c\n"),
    );
    p.build(&[])
        .failure()
        .says(&["bad/Tupfile:2"])
        .ran_nothing();
    assert_eq!(p.read("ok/ok.txt"), "ok\n", "nothing ran");
    assert_eq!(p.read("bad/b.txt"), "b\n", "nothing deleted");
    p.write("bad/Tupfile", bad_rule);
    p.build(&[]).success().ran_exactly(&["echo ok2 > ok.txt"]);
}

#[test]
fn s42_concurrent_builds_wait_or_refuse() {
    require_fuse!();
    let (p, go, _slow) = blocking_project();
    let first = p.spawn(&["build", "-j2"]);
    let started = wait_for_blocked_job(&p, &go);
    let mut second = p.spawn(&["build", "-j2"]);
    // Give the second build time to refuse (or to settle into waiting).
    wait_until(Duration::from_secs(5), || second.has_exited());
    std::fs::write(&go, "").expect("write go");
    let first = first.wait();
    if !started {
        first.fail("the blocking job never started under a mount");
    }
    first.success();
    let second = second.wait();
    if !second.status.success() {
        let out = second.output().to_lowercase();
        if !["another", "lock", "running", "busy", "in progress"]
            .iter()
            .any(|w| out.contains(w))
        {
            second.fail("a refused second build must say another build is running");
        }
    }
    assert_eq!(p.read("slow.txt"), "slow\n");
    assert_eq!(p.read("fast.txt"), "fast\n");
    p.build(&[]).success().ran_nothing();
    let clean = p.clean_copy();
    clean.build(&[]).success();
    assert_eq!(p.outputs(), clean.outputs());
}
