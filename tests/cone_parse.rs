//! The cone after a partial parse (DESIGN.md, "The cone"): a Tupfile edit
//! re-parses only its Tupfiles, and the rules it added, removed or changed
//! join the cone with what reads or declares their outputs; the other
//! Tupfiles' commands are not materialised. The run log's `cone` says how
//! many of how many; each test ends with the no-op shortcut and a clean
//! build of the same tree that agrees byte for byte.

mod harness;

use harness::{last_cone as cone, Project};

/// a: two copies and their concatenation; b: a copy of a's concatenation
/// (a named input in another directory); c: a glob of a's outputs; d: three
/// copies of its own. c and d do not include `Tuprules.tup`. 8 commands.
fn project() -> Project {
    Project::new()
        .file("Tuprules.tup", "SUFFIX = end\n")
        .file(
            "a/Tupfile",
            "include_rules\n\
             : foreach *.in |> cp %f %o |> %B.out\n\
             : *.out |> cat %f > %o && echo $(SUFFIX) >> %o |> all.cat\n",
        )
        .file("a/1.in", "one\n")
        .file("a/2.in", "two\n")
        .file("a/x.txt", "ex\n")
        .file(
            "b/Tupfile",
            "include_rules\n: ../a/all.cat |> cp %f %o |> got.cat\n",
        )
        .file("c/Tupfile", ": ../a/*.out |> cat %f > %o |> globbed.cat\n")
        .file("d/Tupfile", ": foreach *.in |> cp %f %o |> %B.copy\n")
        .file("d/1.in", "d1\n")
        .file("d/2.in", "d2\n")
        .file("d/3.in", "d3\n")
}

const B_CP: &str = "cp ../a/all.cat got.cat";

/// a's Tupfile with `extra` after its two rules.
fn a_tupfile(extra: &str) -> String {
    format!(
        "include_rules\n\
         : foreach *.in |> cp %f %o |> %B.out\n\
         : *.out |> cat %f > %o && echo $(SUFFIX) >> %o |> all.cat\n{extra}"
    )
}

/// The build after does nothing, and a clean build of the same tree (at
/// the same path) leaves the same outputs, byte for byte.
#[track_caller]
fn settled_and_agrees(p: &Project) {
    p.build(&[]).success().ran_nothing();
    let mine = p.outputs();
    let (clean, outputs) = p.clean_build_in_place(&[]);
    clean.success();
    assert_eq!(
        mine, outputs,
        "the incremental outputs differ from a clean build's"
    );
}

#[test]
fn an_edited_command_runs_with_exactly_its_dependents() {
    require_fuse!();
    let p = project();
    p.build(&[]).success();
    p.write(
        "a/Tupfile",
        "include_rules\n\
         : foreach *.in |> cp %f %o |> %B.out\n\
         : *.out |> cat %f > %o && echo $(SUFFIX) again >> %o |> all.cat\n",
    );
    p.build(&[]).success().ran_exactly(&[
        "cat 1.out 2.out > all.cat && echo end again >> all.cat",
        B_CP,
    ]);
    // a's three rules (its Tupfile was parsed) and b's copy; not c nor d.
    assert_eq!(cone(&p), Some((4, 8)));
    assert_eq!(p.read("b/got.cat"), "one\ntwo\nend again\n");
    settled_and_agrees(&p);
}

#[test]
fn a_rule_added_then_removed() {
    require_fuse!();
    let p = project();
    p.build(&[]).success();
    // Nobody else looks at d: only d's Tupfile is parsed.
    let d = ": foreach *.in |> cp %f %o |> %B.copy\n";
    p.write(
        "d/Tupfile",
        &format!("{d}: 1.in 2.in |> cat %f > %o |> both.cat\n"),
    );
    p.build(&[])
        .success()
        .ran_exactly(&["cat 1.in 2.in > both.cat"]);
    assert_eq!(cone(&p), Some((4, 8)));
    assert_eq!(p.read("d/both.cat"), "d1\nd2\n");
    p.build(&[]).success().ran_nothing();
    p.write("d/Tupfile", d);
    let b = p.build(&[]);
    b.success().ran_nothing();
    assert!(!p.exists("d/both.cat"), "stale output kept\n{}", b.dump());
    assert_eq!(cone(&p), Some((3, 9)));
    settled_and_agrees(&p);
}

#[test]
fn a_rule_added_where_another_directory_looks() {
    require_fuse!();
    let p = project();
    p.build(&[]).success();
    // c globs a's outputs and b names one: whatever a's parse declares
    // anew, the result is a full build's.
    p.write("a/Tupfile", &a_tupfile(": x.txt |> cp %f %o |> x.copy\n"));
    p.build(&[]).success().ran_exactly(&["cp x.txt x.copy"]);
    assert_eq!(p.read("a/x.copy"), "ex\n");
    p.write("a/Tupfile", &a_tupfile(""));
    let b = p.build(&[]);
    b.success().ran_nothing();
    assert!(!p.exists("a/x.copy"), "stale output kept\n{}", b.dump());
    settled_and_agrees(&p);
}

#[test]
fn a_whitespace_or_comment_edit_runs_nothing() {
    require_fuse!();
    let p = project();
    p.build(&[]).success();
    p.write(
        "a/Tupfile",
        &format!("# a comment\n\n{}\n\n", a_tupfile("")),
    );
    p.build(&[]).success().ran_nothing();
    assert_eq!(cone(&p), Some((3, 8)));
    settled_and_agrees(&p);
}

#[test]
fn a_new_output_named_by_another_directory() {
    require_fuse!();
    let p = project();
    p.build(&[]).success();
    // One build: a makes x.copy, b names it.
    p.write("a/Tupfile", &a_tupfile(": x.txt |> cp %f %o |> x.copy\n"));
    p.write(
        "b/Tupfile",
        "include_rules\n\
         : ../a/all.cat |> cp %f %o |> got.cat\n\
         : ../a/x.copy |> cp %f %o |> x.got\n",
    );
    p.build(&[])
        .success()
        .ran_exactly(&["cp x.txt x.copy", "cp ../a/x.copy x.got"]);
    assert_eq!(p.read("b/x.got"), "ex\n");
    settled_and_agrees(&p);
}

#[test]
fn a_new_output_matched_by_another_directorys_glob() {
    require_fuse!();
    let p = project();
    p.build(&[]).success();
    // x.out matches c's `../a/*.out`: c's rule changes with it.
    p.write("a/Tupfile", &a_tupfile(": x.txt |> cp %f %o |> x.out\n"));
    p.build(&[]).success().ran_including(&[
        "cp x.txt x.out",
        "cat ../a/1.out ../a/2.out ../a/x.out > globbed.cat",
    ]);
    assert_eq!(p.read("c/globbed.cat"), "one\ntwo\nex\n");
    settled_and_agrees(&p);
}

#[test]
fn a_tuprules_or_included_file_edit() {
    require_fuse!();
    let p = project().file("a/defs.tup", "GREETING = hi\n").file(
        "a/Tupfile",
        &a_tupfile("include defs.tup\n: |> echo $(GREETING) > %o |> greet.txt\n"),
    );
    p.build(&[]).success();
    // a and b include Tuprules.tup: both are parsed, only a's rule uses it.
    p.write("Tuprules.tup", "SUFFIX = fin\n");
    p.build(&[])
        .success()
        .ran_exactly(&["cat 1.out 2.out > all.cat && echo fin >> all.cat", B_CP]);
    // a's four rules and b's one (both parsed).
    assert_eq!(cone(&p), Some((5, 9)));
    p.write("a/defs.tup", "GREETING = hello\n");
    p.build(&[])
        .success()
        .ran_exactly(&["echo hello > greet.txt"]);
    assert_eq!(cone(&p), Some((4, 9)));
    assert_eq!(p.read("a/greet.txt"), "hello\n");
    settled_and_agrees(&p);
}

#[test]
fn a_removed_rule_leaves_the_record_of_outputs_too() {
    require_fuse!();
    let p = project();
    p.build(&[]).success();
    // d's copies go; nothing else named them.
    p.write("d/Tupfile", ": foreach 1.in 2.in |> cp %f %o |> %B.copy\n");
    let b = p.build(&[]);
    b.success().ran_nothing();
    assert!(!p.exists("d/3.copy"), "stale output kept\n{}", b.dump());
    assert!(p.exists("d/2.copy"));
    assert_eq!(cone(&p), Some((2, 8)));
    assert!(
        !p.read(".tupfs/outputs").lines().any(|l| l == "d/3.copy"),
        "the removed output is still recorded as made by tupfs"
    );
    settled_and_agrees(&p);
}
