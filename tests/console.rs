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

/// `-vv` names the way file operations reached the tracer, and
/// `TUPFS_FUSE_URING=0` keeps a build on `/dev/fuse`.
#[test]
fn vv_says_which_fuse_transport_a_build_used() {
    require_fuse!();
    let p = Project::new().file("Tupfile", ": |> echo a > %o |> a.txt\n");
    p.set_env("TUPFS_FUSE_URING", "0");
    p.run(&["-vv", "build"])
        .success()
        .says(&["tracing mount: requests through /dev/fuse"]);
    let offered = std::fs::read_to_string("/sys/module/fuse/parameters/enable_uring")
        .is_ok_and(|v| v.trim() == "Y");
    if !offered {
        println!("SKIP (io_uring half): the kernel does not offer FUSE over io_uring");
        return;
    }
    p.set_env("TUPFS_FUSE_URING", "1");
    p.write("Tupfile", ": |> echo b > %o |> b.txt\n");
    p.run(&["-vv", "build"])
        .success()
        .says(&["tracing mount: requests through per-CPU io_uring queues"]);
    assert_eq!(p.read("b.txt"), "b\n");
}
