//! Re-parsing only when a parse input changed (DESIGN.md, "Re-use of the
//! last parse"): a no-op build parses no Tupfile and leaves the index
//! alone; each kind of parse input (the Tupfile, a directory's listing,
//! `tup.config`, an imported variable, a `run` script and what it read or
//! looked for, a `Tuprules.tup` that appears, a new Tupfile) makes the
//! next build parse again. The run log's `parsed` says how many Tupfiles a
//! build parsed.

mod harness;

use std::os::unix::process::ExitStatusExt;

use harness::{Outcome, Project};

/// Compile every .c to a .o.
const CC_ONLY: &str = ": foreach *.c |> gcc -c %f -o %o |> %B.o\n";

fn parsed(b: &Outcome) -> usize {
    b.log()
        .parsed
        .unwrap_or_else(|| b.fail("the run log has no \"parsed\""))
}

#[track_caller]
fn assert_parsed_none(b: &Outcome) {
    assert_eq!(parsed(b), 0, "expected no Tupfile parsed\n{}", b.dump());
}

#[track_caller]
fn assert_parsed_some(b: &Outcome) {
    assert!(parsed(b) >= 1, "expected a re-parse\n{}", b.dump());
}

/// A built C project, then one more build that settles what the first one
/// wrote, so the next build is a pure no-op.
fn built(p: Project) -> Project {
    let first = p.build(&[]);
    first.success();
    assert_parsed_some(&first);
    p.build(&[]).success().ran_nothing();
    p
}

#[test]
fn noop_parses_nothing_and_leaves_the_index_alone() {
    require_fuse!();
    let p = built(
        Project::new()
            .file("a.c", "int a(void) { return 1; }\n")
            .file("Tupfile", CC_ONLY),
    );
    let before = p.index_identity();
    let b = p.build(&[]);
    b.success().ran_nothing();
    assert_parsed_none(&b);
    assert_eq!(b.log().status, "nothing-to-do");
    assert_eq!(p.index_identity(), before, "a no-op rewrote the index");
}

#[test]
fn source_edit_rebuilds_without_parsing() {
    require_fuse!();
    let p = built(
        Project::new()
            .file("a.c", "int a(void) { return 1; }\n")
            .file("Tupfile", CC_ONLY),
    );
    p.write("a.c", "int a(void) { return 2; }\n");
    let b = p.build(&[]);
    b.success().ran_exactly(&["gcc -c a.c -o a.o"]);
    assert_parsed_none(&b);
    // The index written by that build still lets the next one skip parsing.
    let again = p.build(&[]);
    again.success().ran_nothing();
    assert_parsed_none(&again);
}

#[test]
fn touching_the_tupfile_reparses() {
    require_fuse!();
    let p = built(
        Project::new()
            .file("a.c", "int a(void) { return 1; }\n")
            .file("Tupfile", CC_ONLY),
    );
    p.touch("Tupfile");
    let b = p.build(&[]);
    b.success().ran_nothing();
    assert_parsed_some(&b);
    assert_parsed_none(&p.build(&[]));
}

#[test]
fn new_file_in_a_globbed_directory_is_parsed_and_built() {
    require_fuse!();
    let p = built(
        Project::new()
            .file("src/a.c", "int a(void) { return 1; }\n")
            .file("src/Tupfile", CC_ONLY),
    );
    p.write("src/b.c", "int b(void) { return 2; }\n");
    let b = p.build(&[]);
    b.success().ran_exactly(&["gcc -c b.c -o b.o"]);
    assert_parsed_some(&b);
    assert!(p.exists("src/b.o"));
    p.remove("src/b.c");
    let gone = p.build(&[]);
    gone.success().ran_nothing();
    assert_parsed_some(&gone);
    assert!(!p.exists("src/b.o"), "the stale output stays");
}

#[test]
fn tup_config_value_change_reparses() {
    require_fuse!();
    let p = built(
        Project::new()
            .file(
                "Tupfile",
                "ifeq (@(EXTRA),y)\n: |> echo extra > %o |> extra.txt\nendif\n: |> echo base > %o |> base.txt\n",
            )
            .file("tup.config", "CONFIG_EXTRA=n\n"),
    );
    assert!(!p.exists("extra.txt"));
    p.write("tup.config", "CONFIG_EXTRA=y\n");
    let b = p.build(&[]);
    b.success().ran_exactly(&["echo extra > extra.txt"]);
    assert_parsed_some(&b);
}

#[test]
fn new_tupfile_in_a_new_directory_is_found() {
    require_fuse!();
    let p = built(Project::new().file("Tupfile", ": |> echo top > %o |> top.txt\n"));
    p.write("sub/deeper/Tupfile", ": |> echo deep > %o |> deep.txt\n");
    let b = p.build(&[]);
    b.success().ran_exactly(&["echo deep > deep.txt"]);
    assert_parsed_some(&b);
    assert_eq!(p.read("sub/deeper/deep.txt"), "deep\n");
}

#[test]
fn tuprules_that_appears_reparses() {
    require_fuse!();
    let p = built(Project::new().file("Tupfile.ini", "").file(
        "sub/Tupfile",
        "include_rules\n: |> echo $(MSG) > %o |> msg.txt\n",
    ));
    assert_eq!(p.read("sub/msg.txt"), "\n");
    p.write("Tuprules.tup", "MSG = hello\n");
    let b = p.build(&[]);
    b.success().ran_exactly(&["echo hello > msg.txt"]);
    assert_parsed_some(&b);
}

#[test]
fn imported_variable_change_reparses() {
    require_fuse!();
    let p = Project::new().file(
        "Tupfile",
        "import GREETING=hi\n: |> echo $(GREETING) > %o |> g.txt\n",
    );
    let p = built(p);
    assert_eq!(p.read("g.txt"), "hi\n");
    p.set_env("GREETING", "hello");
    let b = p.build(&[]);
    b.success().ran_exactly(&["echo hello > g.txt"]);
    assert_parsed_some(&b);
}

#[test]
fn run_script_edit_reparses() {
    require_fuse!();
    let p = Project::new().file("Tupfile", "run ./rules.sh\n").file(
        "rules.sh",
        "#!/bin/sh\necho ': |> echo one > %o |> out.txt'\n",
    );
    p.chmod("rules.sh", 0o755);
    let p = built(p);
    p.write(
        "rules.sh",
        "#!/bin/sh\necho ': |> echo two > %o |> out.txt'\n",
    );
    let b = p.build(&[]);
    b.success().ran_exactly(&["echo two > out.txt"]);
    assert_parsed_some(&b);
    assert_eq!(p.read("out.txt"), "two\n");
}

#[test]
fn a_targeted_build_does_not_make_the_next_full_build_a_noop() {
    require_fuse!();
    let p = Project::new().file(
        "Tupfile",
        ": |> echo a > %o |> a.txt\n: |> echo b > %o |> b.txt\n",
    );
    p.build(&["a.txt"])
        .success()
        .ran_exactly(&["echo a > a.txt"]);
    let full = p.build(&[]);
    full.success().ran_exactly(&["echo b > b.txt"]);
    assert_parsed_none(&full);
    p.build(&[]).success().ran_nothing();
}

#[test]
fn a_failed_command_runs_again_although_nothing_changed() {
    require_fuse!();
    let p = Project::new().file("Tupfile", ": |> echo x > %o; false |> out.txt\n");
    let cmd = "echo x > out.txt; false";
    p.build(&[]).failure().ran_exactly(&[cmd]);
    let again = p.build(&[]);
    again
        .failure()
        .ran_exactly(&[cmd])
        .ran_because(cmd, "must-rerun");
    assert_parsed_none(&again);
}

/// The reproduction from the bug report: a `run` script lists its rules
/// from a data file; adding a name there must parse again.
#[test]
fn a_file_a_run_script_reads_is_a_parse_input() {
    require_fuse!();
    let p = Project::new()
        .file("files.txt", "a.c\n")
        .file("a.c", "int a;\n")
        .file("b.c", "int b;\n")
        .file("Tupfile", "run ./gen.sh\n")
        .file(
            "gen.sh",
            "#!/bin/sh\nfor f in $(cat files.txt); do echo \": $f |> cp %f %o |> %B.copy\"; done\n",
        );
    p.chmod("gen.sh", 0o755);
    let p = built(p);
    assert!(p.exists("a.copy") && !p.exists("b.copy"));
    p.write("files.txt", "a.c\nb.c\n");
    let b = p.build(&[]);
    b.success().ran_exactly(&["cp b.c b.copy"]);
    assert_eq!(parsed(&b), 1, "{}", b.dump());
    assert_eq!(p.read("b.copy"), "int b;\n");
    let again = p.build(&[]);
    again.success().ran_nothing();
    assert_parsed_none(&again);
}

/// A python3 generator reading a data file: an unchanged data file parses
/// nothing, an edited one parses its Tupfile only (not the others), and
/// editing another Tupfile does not parse the script's.
#[test]
fn a_python_run_script_is_parsed_again_only_when_what_it_read_changed() {
    require_fuse!();
    let gen = "import json\nfor name in json.load(open('names.json')):\n    \
               print(f': |> echo {name} > %o |> {name}.txt')\n";
    let p = built(
        Project::new()
            .file("Tupfile", "run python3 gen.py\n")
            .file("gen.py", gen)
            .file("names.json", "[\"one\"]\n")
            .file("lib/Tupfile", ": |> echo lib > %o |> lib.txt\n"),
    );
    let noop = p.build(&[]);
    noop.success().ran_nothing();
    assert_parsed_none(&noop);
    p.write("lib/Tupfile", ": |> echo lib2 > %o |> lib.txt\n");
    let other = p.build(&[]);
    other.success().ran_exactly(&["echo lib2 > lib.txt"]);
    assert_eq!(parsed(&other), 1, "only lib/Tupfile\n{}", other.dump());
    p.write("names.json", "[\"one\", \"two\"]\n");
    let b = p.build(&[]);
    b.success().ran_exactly(&["echo two > two.txt"]);
    assert_eq!(parsed(&b), 1, "only the script's Tupfile\n{}", b.dump());
    assert_eq!(p.read("two.txt"), "two\n");
    let again = p.build(&[]);
    again.success().ran_nothing();
    assert_parsed_none(&again);
}

/// A path a script looked for in vain (outside any listing the Tupfile
/// depends on): creating it parses the Tupfile again.
#[test]
fn a_file_a_run_script_looked_for_in_vain_parses_again_when_it_appears() {
    require_fuse!();
    let p = Project::new()
        .file("conf/keep.txt", "kept\n")
        .file("Tupfile", "run ./gen.sh\n")
        .file(
            "gen.sh",
            "#!/bin/sh\necho ': |> echo base > %o |> base.txt'\n\
             if [ -f conf/extra.txt ]; then echo ': |> echo extra > %o |> extra.txt'; fi\n",
        );
    p.chmod("gen.sh", 0o755);
    let p = built(p);
    assert!(!p.exists("extra.txt"));
    p.write("conf/extra.txt", "on\n");
    let b = p.build(&[]);
    b.success().ran_exactly(&["echo extra > extra.txt"]);
    assert_parsed_some(&b);
    assert_eq!(p.read("extra.txt"), "extra\n");
}

/// What a script writes is dropped, as tup drops it, and said.
#[test]
fn what_a_run_script_writes_is_dropped() {
    require_fuse!();
    let p = Project::new().file("Tupfile", "run ./gen.sh\n").file(
        "gen.sh",
        "#!/bin/sh\necho scratch > note.txt\necho ': |> echo hi > %o |> hi.txt'\n",
    );
    p.chmod("gen.sh", 0o755);
    let b = p.build(&[]);
    b.success().ran_exactly(&["echo hi > hi.txt"]).says(&[
        "Tupfile:1",
        "wrote 'note.txt'",
        "dropped",
    ]);
    assert!(!p.exists("note.txt"), "a script's write reached the tree");
    let again = p.build(&[]);
    again.success().ran_nothing();
    assert_parsed_none(&again);
}

/// A script may not read an output of the build (tup refuses it too: the
/// rules would depend on the build).
#[test]
fn a_run_script_reading_a_generated_file_is_an_error() {
    require_fuse!();
    let p = Project::new()
        .file("src.txt", "x\n")
        .file(
            "Tupfile",
            ": src.txt |> cp %f %o |> gen.txt\nrun ./gen.sh\n",
        )
        .file(
            "gen.sh",
            "#!/bin/sh\ncat gen.txt 2>/dev/null\necho ': |> echo hi > %o |> hi.txt'\n",
        );
    p.chmod("gen.sh", 0o755);
    let b = p.build(&[]);
    b.exit_code(2)
        .says(&["Tupfile:2", "read the generated file 'gen.txt'"])
        .ran_nothing();
}

/// A build killed while a `run` script runs leaves a dead mount at the
/// scripts' mountpoint; the next build clears it (here one that runs no
/// script: the commands' mount clears it first).
#[test]
fn a_build_killed_in_a_run_script_leaves_no_mount_behind() {
    require_fuse!();
    let p = Project::new();
    let marker = p.outside("killed-once");
    let script = format!(
        "#!/bin/sh\nif [ ! -e {m} ]; then : > {m}; kill -9 0; sleep 10; fi\n\
         echo ': |> echo hi > %o |> hi.txt'\n",
        m = marker.display()
    );
    let p = p.file("Tupfile", "run ./gen.sh\n").file("gen.sh", &script);
    p.chmod("gen.sh", 0o755);
    let killed = p.build(&[]);
    if killed.status.signal() != Some(9) {
        killed.fail("expected the build to be killed");
    }
    let left = harness::mounts_under(p.root());
    assert!(
        left.iter().any(|m| m.ends_with(".tupfs/mnt-parse")),
        "the killed parse left its mount: {left:?}"
    );
    p.write("Tupfile", ": |> echo hi > %o |> hi.txt\n");
    p.build(&[]).success().ran_exactly(&["echo hi > hi.txt"]);
    let left = harness::mounts_under(p.root());
    assert!(left.is_empty(), "mounts left behind: {left:?}");
}
