//! The cone (DESIGN.md, "The cone"): a build whose rules come from the
//! index materialises only the commands an edit can reach (its readers and
//! their dependents, and what must run for reasons of its own); the run
//! log's `cone` says how many of how many. Every other command keeps its
//! record, so the build after is the no-op shortcut and a clean build
//! agrees with it.

mod harness;

use harness::{c_file, last_cone as cone, Monitor, Project, CC_AND_LINK};

const LINK: &str = "gcc a.o b.o c.o d.o -o app";

/// a.c and b.c include common.h; c.c and d.c include nothing; d.c has main.
fn project() -> Project {
    Project::new()
        .file("Tupfile", CC_AND_LINK)
        .file("common.h", "#define V 1\n")
        .file("a.c", &c_file("fa", &["common.h"], "V"))
        .file("b.c", &c_file("fb", &["common.h"], "V + 1"))
        .file("c.c", &c_file("fc", &[], "3"))
        .file("d.c", "int main(void) { return 0; }\n")
}

/// The build after is the no-op shortcut: every record was kept.
#[track_caller]
fn then_nothing_to_do(p: &Project) {
    p.build(&[])
        .success()
        .ran_nothing()
        .says(&["Nothing to do"]);
}

/// A clean build of a copy gives the same outputs.
#[track_caller]
fn agrees_with_a_clean_build(p: &Project) {
    let (clean, outputs) = p.clean_copy().clean_build_in_place(&[]);
    clean.success();
    let mine = p.outputs();
    assert_eq!(
        mine.keys().collect::<Vec<_>>(),
        outputs.keys().collect::<Vec<_>>()
    );
}

#[test]
fn an_edit_materialises_exactly_its_readers_and_their_dependents() {
    require_fuse!();
    let p = project();
    p.build(&[]).success();
    p.write("c.c", &c_file("fc", &[], "4"));
    p.build(&[])
        .success()
        .ran_exactly(&["gcc -c c.c -o c.o", LINK]);
    assert_eq!(cone(&p), Some((2, 5)));
    then_nothing_to_do(&p);
    p.write("common.h", "#define V 2\n");
    p.build(&[])
        .success()
        .ran_exactly(&["gcc -c a.c -o a.o", "gcc -c b.c -o b.o", LINK]);
    assert_eq!(cone(&p), Some((3, 5)));
    then_nothing_to_do(&p);
    agrees_with_a_clean_build(&p);
}

#[test]
fn a_deleted_output_and_a_changed_variable_are_in_the_cone() {
    require_fuse!();
    let p = project().file(
        "Tupfile",
        &format!("{CC_AND_LINK}export TAG\n: |> echo $TAG > %o |> tag.txt\n"),
    );
    p.set_env("TAG", "one");
    p.build(&[]).success();
    p.remove("b.o");
    p.build(&[])
        .success()
        .ran_exactly(&["gcc -c b.c -o b.o", LINK]);
    assert_eq!(cone(&p), Some((2, 6)));
    p.set_env("TAG", "two");
    p.build(&[]).success().ran_exactly(&["echo $TAG > tag.txt"]);
    assert_eq!(cone(&p), Some((1, 6)));
    assert_eq!(p.read("tag.txt"), "two\n");
    then_nothing_to_do(&p);
}

#[test]
fn a_deleted_rule_still_removes_its_outputs_and_the_cone_follows() {
    require_fuse!();
    let p = project().file(
        "Tupfile",
        &format!("{CC_AND_LINK}: c.c |> cp %f %o |> c.copy\n"),
    );
    p.build(&[]).success();
    assert!(p.exists("c.copy"));
    // A Tupfile edit parses: every rule is materialised (no cone).
    p.write("Tupfile", CC_AND_LINK);
    let b = p.build(&[]);
    b.success().ran_nothing();
    assert!(!p.exists("c.copy"), "stale output kept\n{}", b.dump());
    assert_eq!(cone(&p), None);
    p.write("a.c", &c_file("fa", &["common.h"], "V + 7"));
    a_and_the_link_run_in_a_cone(&p);
}

/// The next build runs exactly a.c's compile and the link, as a cone of 2
/// of the 5 commands, and leaves everything up to date.
fn a_and_the_link_run_in_a_cone(p: &Project) {
    p.build(&[])
        .success()
        .ran_exactly(&["gcc -c a.c -o a.o", LINK]);
    assert_eq!(cone(p), Some((2, 5)));
    then_nothing_to_do(p);
}

#[test]
fn a_target_outside_the_cone_builds_and_the_rest_follows() {
    require_fuse!();
    let p = project();
    p.build(&[]).success();
    p.write("a.c", &c_file("fa", &["common.h"], "V + 2"));
    p.write("c.c", &c_file("fc", &[], "5"));
    // A named target: the whole graph.
    p.build(&["c.o"])
        .success()
        .ran_exactly(&["gcc -c c.c -o c.o"]);
    assert_eq!(cone(&p), None);
    // What the target left behind is still seen.
    a_and_the_link_run_in_a_cone(&p);
}

#[test]
fn a_failure_then_a_fix() {
    require_fuse!();
    let p = project();
    p.build(&[]).success();
    p.write("b.c", "this is not C\n");
    p.write("c.c", &c_file("fc", &[], "6"));
    p.build(&["-k"]).failure();
    assert!(cone(&p).is_some(), "the failing build was a cone");
    p.write("b.c", &c_file("fb", &["common.h"], "V + 9"));
    p.build(&[])
        .success()
        .ran_exactly(&["gcc -c b.c -o b.o", LINK]);
    assert_eq!(cone(&p), Some((2, 5)));
    then_nothing_to_do(&p);
    agrees_with_a_clean_build(&p);
}

#[test]
fn transient_outputs_in_and_out_of_the_cone() {
    require_fuse!();
    let p = project()
        .file("gen.in", "int fg(void) { return VALUE; }\n")
        .file(
            "Tupfile",
            ": gen.in |> ^t GEN^ sed 's/VALUE/42/' gen.in > %o |> gen.c\n\
             : foreach *.c |> gcc -c %f -o %o |> %B.o\n\
             : *.o |> gcc %f -o %o |> app\n",
        );
    p.build(&[]).success();
    assert!(!p.exists("gen.c"), "the transient output was kept");
    let link = "gcc a.o b.o c.o d.o gen.o -o app";
    p.write("c.c", &c_file("fc", &[], "8"));
    p.build(&[])
        .success()
        .ran_exactly(&["gcc -c c.c -o c.o", link]);
    assert!(!p.exists("gen.c"));
    p.write("gen.in", "int fg(void) { return VALUE + 1; }\n");
    p.build(&[])
        .success()
        .ran_exactly(&["GEN", "gcc -c gen.c -o gen.o", link]);
    assert!(!p.exists("gen.c"));
    p.build(&[]).success().ran_nothing();
}

#[test]
fn a_tupfile_edit_widens_what_runs() {
    require_fuse!();
    let p = project();
    p.build(&[]).success();
    p.write(
        "Tupfile",
        ": foreach *.c |> gcc -O1 -c %f -o %o |> %B.o\n: *.o |> gcc %f -o %o |> app\n",
    );
    p.build(&[]).success().ran_exactly(&[
        "gcc -O1 -c a.c -o a.o",
        "gcc -O1 -c b.c -o b.o",
        "gcc -O1 -c c.c -o c.o",
        "gcc -O1 -c d.c -o d.o",
        LINK,
    ]);
    p.write("d.c", "int main(void) { return 1 - 1; }\n");
    p.build(&[])
        .success()
        .ran_exactly(&["gcc -O1 -c d.c -o d.o", LINK]);
    assert_eq!(cone(&p), Some((2, 5)));
    then_nothing_to_do(&p);
}

#[test]
fn with_the_monitor_live() {
    require_fuse!();
    let p = project();
    let _m = Monitor::start(&p, &[]);
    p.build(&[]).success();
    p.build(&[]).success().ran_nothing();
    p.write("common.h", "#define V 5\n");
    p.build(&[])
        .success()
        .ran_exactly(&["gcc -c a.c -o a.o", "gcc -c b.c -o b.o", LINK]);
    assert_eq!(cone(&p), Some((3, 5)));
    p.write("c.c", &c_file("fc", &[], "9"));
    p.build(&[])
        .success()
        .ran_exactly(&["gcc -c c.c -o c.o", LINK]);
    assert_eq!(cone(&p), Some((2, 5)));
    p.build(&[]).success().ran_nothing();
}

#[test]
fn a_new_read_of_a_file_made_outside_the_cone_is_still_checked() {
    require_fuse!();
    let p = Project::new()
        .file("gen.in", "#define G 1\n")
        .file(
            "Tupfile",
            ": gen.in |> cp gen.in %o |> gen.h\n\
             : x.c | gen.h |> gcc -c %f -o %o |> x.o\n\
             : z.c | x.o |> gcc -c %f -o %o |> z.o\n\
             : y.c |> gcc -c %f -o %o |> y.o\n",
        )
        .file("x.c", "#include \"gen.h\"\nint x(void) { return G; }\n")
        .file("y.c", "int y(void) { return 1; }\n")
        .file("z.c", "int z(void) { return 1; }\n");
    p.build(&[]).success();
    // z.c reaches gen.h through x.o's rule (declared, transitively).
    p.write("z.c", "#include \"gen.h\"\nint z(void) { return G; }\n");
    p.build(&[]).success().ran_exactly(&["gcc -c z.c -o z.o"]);
    assert_eq!(cone(&p), Some((1, 4)));
    // y.c does not: its producer is outside the cone, and still named.
    p.write("y.c", "#include \"gen.h\"\nint y(void) { return G; }\n");
    let b = p.build(&[]);
    b.failure()
        .says(&["Missing input dependency", "gen.h", "cp gen.in"]);
    assert_eq!(cone(&p), Some((1, 4)));
}
