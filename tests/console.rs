//! What a build prints: tupfs's own lines only, no warnings from the
//! libraries under it (fuser logs every operation it does not implement).

mod harness;

use harness::Project;

#[test]
fn copying_tools_leave_no_library_warnings() {
    require_fuse!();
    // coreutils' cat and cp try copy_file_range first.
    let p = Project::new()
        .file(
            "Tupfile",
            ": a.txt |> cat a.txt > %o |> b.txt\n: b.txt |> cp b.txt %o |> c.txt\n",
        )
        .file("a.txt", "hello\n");
    let out = p.build(&[]);
    out.success().never_says(&["WARN", "Not Implemented"]);
    assert_eq!(p.read("c.txt"), "hello\n");
}
