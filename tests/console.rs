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

#[test]
fn python_opening_files_leaves_no_library_warnings() {
    require_fuse!();
    // Python asks every file it opens whether it is a terminal (an ioctl),
    // both in a command and in a `run` script during the parse.
    let p = Project::new()
        .file(
            "Tupfile",
            "run python3 gen.py\n: a.txt |> python3 -c \"open('a.txt').read(); open('%o', 'w').write('x')\" |> b.txt\n",
        )
        .file("gen.py", "open('a.txt').read()\n")
        .file("a.txt", "hello\n");
    let out = p.build(&[]);
    out.success().never_says(&["WARN", "Not Implemented"]);
    assert_eq!(p.read("b.txt"), "x");
}
