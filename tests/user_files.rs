//! Never lose a user's file, never leave order to chance (scenarios 44-48,
//! issue 17): a build refuses, before anything runs, to replace a file
//! tupfs did not make; the refused file stays byte-identical; once the way
//! out is taken, the build passes.

mod harness;

use harness::{Outcome, Project};

/// tup's words for an output that would replace a user's file.
const TUP_INSERT: &str = "as a generated node when it already exists as a different type";

/// The refusal of a build: exit 2, nothing ran, the file named with its
/// rule's place, tup's words and both ways out.
#[track_caller]
fn refused(out: &Outcome, file: &str, rule: &str) {
    out.exit_code(2).ran_nothing().says(&[
        file,
        rule,
        "tupfs did not make",
        "delete the file",
        "change the rule",
    ]);
}

#[test]
fn s44_new_rule_naming_a_user_file_is_refused() {
    require_fuse!();
    let p = Project::new()
        .file("Tupfile", ": |> echo a > %o |> a.txt\n")
        .file("notes.txt", "my precious notes\n");
    p.build(&[]).success();
    p.write(
        "Tupfile",
        ": |> echo a > %o |> a.txt\n: |> echo generated > notes.txt |> notes.txt\n",
    );
    let out = p.build(&[]);
    refused(&out, "notes.txt", "Tupfile:2");
    out.says(&[&format!(
        "Attempting to insert 'notes.txt' {TUP_INSERT} (normal file)"
    )]);
    assert_eq!(p.read("notes.txt"), "my precious notes\n");
    // Refused again (the refusal recorded nothing that would let it pass).
    refused(&p.build(&[]), "notes.txt", "Tupfile:2");
    assert_eq!(p.read("notes.txt"), "my precious notes\n");
    // Way out 1: the rule is meant to make it.
    p.remove("notes.txt");
    p.build(&[])
        .success()
        .ran_exactly(&["echo generated > notes.txt"]);
    assert_eq!(p.read("notes.txt"), "generated\n");
    p.build(&[]).success().ran_nothing();
}

#[test]
fn s44_first_build_over_a_user_file_is_refused_and_a_typo_fixed_passes() {
    require_fuse!();
    let p = Project::new()
        .file(
            "Tupfile",
            ": |> echo generated > notes.txt && echo x > a.txt |> a.txt notes.txt\n",
        )
        .file("notes.txt", "my precious notes\n");
    refused(&p.build(&[]), "notes.txt", "Tupfile:1");
    assert_eq!(p.read("notes.txt"), "my precious notes\n");
    assert!(!p.exists("a.txt"), "nothing ran");
    // Way out 2: the rule is changed.
    p.write(
        "Tupfile",
        ": |> echo generated > gen.txt && echo x > a.txt |> a.txt gen.txt\n",
    );
    p.build(&[]).success();
    assert_eq!(p.read("notes.txt"), "my precious notes\n");
    assert_eq!(p.read("gen.txt"), "generated\n");
}

#[test]
fn s44_a_symlink_or_directory_in_the_way_is_refused() {
    require_fuse!();
    let p = Project::new()
        .file(
            "Tupfile",
            ": |> echo x > %o |> link.txt\n: |> echo y > %o |> dir.txt\n",
        )
        .file("target.txt", "the link's target\n")
        .file("dir.txt/inside", "mine\n");
    std::os::unix::fs::symlink("target.txt", p.path("link.txt")).unwrap();
    let out = p.build(&[]);
    refused(&out, "link.txt", "Tupfile:1");
    out.says(&["dir.txt", "Tupfile:2", "(symlink)", "(directory)"]);
    assert_eq!(p.read("link.txt"), "the link's target\n");
    assert_eq!(p.read("dir.txt/inside"), "mine\n");
}

#[test]
fn s45_rm_rf_tupfs_in_a_built_tree_refuses_naming_the_outputs() {
    require_fuse!();
    let p = Project::new()
        .file("Tupfile", ": foreach *.c |> gcc -c %f -o %o |> %B.o\n")
        .file("a.c", "int a(void) { return 1; }\n")
        .file("b.c", "int b(void) { return 2; }\n");
    p.build(&[]).success();
    let outputs = p.outputs();
    std::fs::remove_dir_all(p.path(".tupfs")).unwrap();
    let out = p.build(&[]);
    refused(&out, "a.o", "Tupfile:1");
    out.says(&["b.o", "no record of an earlier build"]);
    assert_eq!(p.outputs(), outputs, "every file untouched");
    // As tup asks: delete the outputs, then the build makes them again.
    p.remove("a.o");
    p.remove("b.o");
    p.build(&[])
        .success()
        .ran_exactly(&["gcc -c a.c -o a.o", "gcc -c b.c -o b.o"]);
}

#[test]
fn s45_outputs_recorded_before_commit_survive_a_lost_index() {
    require_fuse!();
    // A build killed after committing outputs but before writing its index
    // leaves outputs no index knows: `.tupfs/outputs` (written before any
    // command runs) still says tupfs made them.
    let p = Project::new()
        .file("Tupfile", ": foreach *.c |> gcc -c %f -o %o |> %B.o\n")
        .file("a.c", "int a(void) { return 1; }\n");
    p.build(&[]).success();
    p.remove(".tupfs/index");
    p.build(&[]).success().ran_exactly(&["gcc -c a.c -o a.o"]);
    // A new output joins the record before it runs.
    p.write("b.c", "int b(void) { return 2; }\n");
    p.build(&[]).success().ran_exactly(&["gcc -c b.c -o b.o"]);
    p.remove(".tupfs/index");
    p.build(&[]).success();
    assert!(p.read(".tupfs/outputs").contains("b.o"));
    // The index of the build before the new output (as if the build that
    // made c.o was killed before writing its own): c.o is still known.
    // The index is its base and its journal: both as they were.
    let saved =
        [".tupfs/index", ".tupfs/index.journal"].map(|f| (f, std::fs::read(p.path(f)).ok()));
    p.write("c.c", "int c(void) { return 3; }\n");
    p.build(&[]).success().ran_exactly(&["gcc -c c.c -o c.o"]);
    for (f, bytes) in &saved {
        match bytes {
            Some(bytes) => std::fs::write(p.path(f), bytes).unwrap(),
            None => drop(std::fs::remove_file(p.path(f))),
        }
    }
    p.build(&[]).success().ran_exactly(&["gcc -c c.c -o c.o"]);
}

#[test]
fn s45_removed_rule_forgets_its_output() {
    require_fuse!();
    let p = Project::new().file("Tupfile", ": |> echo gen > %o |> notes.txt\n");
    p.build(&[]).success();
    // The rule goes (its output is deleted as stale); the user writes a
    // file of that name; the rule comes back: the file is the user's now.
    p.write("Tupfile", "");
    p.build(&[]).success();
    assert!(!p.exists("notes.txt"));
    p.write("notes.txt", "mine now\n");
    p.write("Tupfile", ": |> echo gen > %o |> notes.txt\n");
    refused(&p.build(&[]), "notes.txt", "Tupfile:1");
    assert_eq!(p.read("notes.txt"), "mine now\n");
}

#[test]
fn s44_output_directory_now_a_user_file_is_refused() {
    require_fuse!();
    let p = Project::new().file("Tupfile", ": |> echo x > %o |> gen/x.h\n");
    p.build(&[]).success();
    std::fs::remove_dir_all(p.path("gen")).unwrap();
    p.write("gen", "my file called gen\n");
    let out = p.build(&[]);
    refused(&out, "gen/x.h", "Tupfile:1");
    out.says(&["not a directory"]);
    assert_eq!(p.read("gen"), "my file called gen\n");
    // A new rule whose output directory is a user's file: the same.
    p.write(
        "Tupfile",
        ": |> echo x > %o |> gen/x.h\n: |> echo y > %o |> gen2/y.h\n",
    );
    p.write("gen2", "another\n");
    let out = p.build(&[]);
    refused(&out, "gen2/y.h", "Tupfile:2");
    assert_eq!(p.read("gen2"), "another\n");
    p.remove("gen");
    p.remove("gen2");
    p.build(&[]).success();
    assert_eq!(p.read("gen/x.h"), "x\n");
}

#[test]
fn s44_variant_directory_with_files_of_the_user_is_refused() {
    require_fuse!();
    let p = Project::new()
        .file("Tupfile", ": |> echo @(NAME) > %o |> name.txt\n")
        .file("build-x/tup.config", "CONFIG_NAME=x\n")
        .file("build-x/stray.txt", "mine\n");
    let out = p.build(&[]);
    out.exit_code(2).ran_nothing().says(&[
        "build-x/stray.txt",
        "Variant directory must only contain a tup.config file",
    ]);
    assert_eq!(p.read("build-x/stray.txt"), "mine\n");
    p.remove("build-x/stray.txt");
    p.build(&[]).success();
    assert_eq!(p.read("build-x/name.txt"), "x\n");
    // Built once, the variant directory may hold the user's files.
    p.write("build-x/notes.txt", "mine\n");
    p.write("Tupfile", ": |> echo @(NAME) > %o |> name2.txt\n");
    p.build(&[]).success();
    assert_eq!(p.read("build-x/notes.txt"), "mine\n");
}

// ---------------------------------------------------------------------------
// Recorded reads the rules no longer order (scenarios 46, 47)
// ---------------------------------------------------------------------------

/// A generated header and a compile that includes it.
const GEN_AND_CC: &str = "\
: |> echo '#define FOO 1' > %o |> foo.h
: foreach *.c | foo.h |> gcc -c %f -o %o |> %B.o
";

#[test]
fn s46_order_only_input_removed_fails_before_anything_runs() {
    require_fuse!();
    let p = Project::new()
        .file("Tupfile", GEN_AND_CC)
        .file("a.c", "#include \"foo.h\"\nint a(void) { return FOO; }\n");
    p.build(&[]).success();
    p.write(
        "Tupfile",
        ": |> echo '#define FOO 1' > %o |> foo.h\n: foreach *.c |> gcc -c %f -o %o |> %B.o\n",
    );
    let out = p.build(&[]);
    out.exit_code(2).ran_nothing().says(&[
        "Missing input dependency",
        "'gcc -c a.c -o a.o' (Tupfile:2) read foo.h",
        "(Tupfile:1) now generates it",
    ]);
    assert!(p.exists("a.o"), "nothing deleted");
    p.write("Tupfile", GEN_AND_CC);
    p.build(&[]).success().ran_nothing();
}

#[test]
fn s47_ghost_that_becomes_an_output_fails_until_declared() {
    require_fuse!();
    // gcc looks for cfg.h next to a.c (in vain) before it finds inc/cfg.h.
    let p = Project::new()
        .file(
            "Tupfile",
            ": foreach *.c |> gcc -Iinc -c %f -o %o |> %B.o\n",
        )
        .file("inc/cfg.h", "#define CFG 1\n")
        .file("a.c", "#include \"cfg.h\"\nint a(void) { return CFG; }\n");
    p.build(&[]).success();
    p.write(
        "Tupfile",
        ": |> echo '#define CFG 2' > %o |> cfg.h\n\
         : foreach *.c |> gcc -Iinc -c %f -o %o |> %B.o\n",
    );
    p.build(&[]).exit_code(2).ran_nothing().says(&[
        "Missing input dependency",
        "'gcc -Iinc -c a.c -o a.o' (Tupfile:2) looked for cfg.h",
        "(Tupfile:1) now generates it",
    ]);
    p.write(
        "Tupfile",
        ": |> echo '#define CFG 2' > %o |> cfg.h\n\
         : foreach *.c | cfg.h |> gcc -Iinc -c %f -o %o |> %B.o\n",
    );
    p.build(&[])
        .success()
        .ran_exactly(&["echo '#define CFG 2' > cfg.h", "gcc -Iinc -c a.c -o a.o"]);
}

#[test]
fn s46_reader_before_its_new_producer_fails_until_ordered() {
    require_fuse!();
    let p = Project::new()
        .file("Tupfile", ": |> cat data.txt > %o |> copy.txt\n")
        .file("data.txt", "source data\n");
    p.build(&[]).success();
    // data.txt becomes generated, by a rule the reader does not name.
    p.remove("data.txt");
    p.write(
        "Tupfile",
        ": |> cat data.txt > %o |> copy.txt\n: |> echo made > %o |> data.txt\n",
    );
    p.build(&[]).exit_code(2).ran_nothing().says(&[
        "Missing input dependency",
        "'cat data.txt > copy.txt' (Tupfile:1) read data.txt",
        "(Tupfile:2) now generates it",
    ]);
    p.write(
        "Tupfile",
        ": |> echo made > %o |> data.txt\n: data.txt |> cat data.txt > %o |> copy.txt\n",
    );
    p.build(&[]).success();
    assert_eq!(p.read("copy.txt"), "made\n");
}

#[test]
fn s46_cycle_closed_only_by_a_recorded_read_is_an_error() {
    require_fuse!();
    let p = Project::new()
        .file("Tupfile", ": |> cat b.txt > %o |> copy.txt\n")
        .file("b.txt", "source\n");
    p.build(&[]).success();
    p.remove("b.txt");
    p.write(
        "Tupfile",
        ": |> cat b.txt > %o |> copy.txt\n: copy.txt |> cat copy.txt > %o |> b.txt\n",
    );
    p.build(&[])
        .exit_code(2)
        .ran_nothing()
        .says(&["Missing input dependency", "b.txt", "a cycle"]);
}

// ---------------------------------------------------------------------------
// Special files a command makes for itself (scenario 48)
// ---------------------------------------------------------------------------

#[test]
fn s48_fifo_made_and_removed_in_a_command_works() {
    require_fuse!();
    let p = Project::new().file(
        "Tupfile",
        ": |> mkfifo pipe && (echo through the pipe > pipe &) && cat pipe > %o && rm pipe |> out.txt\n",
    );
    p.build(&[]).success();
    assert_eq!(p.read("out.txt"), "through the pipe\n");
    assert!(!p.exists("pipe"));
    p.build(&[]).success().ran_nothing();
}

#[test]
fn s48_unix_socket_made_in_a_command_works() {
    require_fuse!();
    let script = "import os, socket\n\
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n\
        s.bind('sock')\n\
        s.listen(1)\n\
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n\
        c.connect('sock')\n\
        a, _ = s.accept()\n\
        c.sendall(b'over the socket')\n\
        data = a.recv(100)\n\
        os.unlink('sock')\n\
        open('out.txt', 'wb').write(data + b'\\n')\n";
    let p = Project::new()
        .file("sock.py", script)
        .file("Tupfile", ": sock.py |> python3 sock.py |> out.txt\n");
    p.build(&[]).success();
    assert_eq!(p.read("out.txt"), "over the socket\n");
    assert!(!p.exists("sock"));
}

#[test]
fn s48_hard_links_and_symlinks_in_a_command_work() {
    require_fuse!();
    let p = Project::new()
        .file("src.txt", "source\n")
        .file(
            "Tupfile",
            ": src.txt |> echo own > tmp && ln tmp tmp2 && ln src.txt copy && ln -s tmp2 sym \
             && cat tmp2 sym copy > %o && echo more >> copy && rm tmp tmp2 copy sym |> out.txt\n\
             : |> echo linked > made.txt && ln made.txt hard.txt && ln -s made.txt soft.txt |> made.txt hard.txt soft.txt\n",
        );
    p.build(&[]).success();
    assert_eq!(p.read("out.txt"), "own\nown\nsource\n");
    assert_eq!(
        p.read("src.txt"),
        "source\n",
        "a write through a link never reaches a source"
    );
    assert_eq!(p.read("hard.txt"), "linked\n");
    assert_eq!(p.read("soft.txt"), "linked\n");
    assert!(std::fs::symlink_metadata(p.path("soft.txt"))
        .unwrap()
        .file_type()
        .is_symlink());
    p.build(&[]).success().ran_nothing();
}

#[test]
fn s48_fifo_declared_as_an_output_is_refused() {
    require_fuse!();
    let p = Project::new().file("Tupfile", ": |> mkfifo %o |> pipe\n");
    p.build(&[])
        .failure()
        .says(&["pipe", "FIFO", "must be a regular file"]);
    assert!(!p.exists("pipe"), "not kept");
    // Made and left behind without a declaration: an unspecified output.
    p.write("Tupfile", ": |> mkfifo pipe2 && echo x > %o |> x.txt\n");
    p.build(&[]).failure().says(&["pipe2"]);
    assert!(!p.exists("pipe2"));
}

#[test]
fn a_compile_commands_json_of_the_user_is_never_replaced() {
    require_fuse!();
    let p = Project::new()
        .file("a.c", "int a(void) { return 1; }\n")
        .file("compile_commands.json", "[ \"mine\" ]\n")
        .file(
            "Tupfile",
            ": foreach *.c |> ^j CC^ gcc -c %f -o %o |> %B.o\n",
        );
    p.build(&[])
        .success()
        .says(&["compile_commands.json", "tupfs did not write it"]);
    assert_eq!(p.read("compile_commands.json"), "[ \"mine\" ]\n");
    p.remove("compile_commands.json");
    p.write(
        "Tupfile",
        ": foreach *.c |> ^j CC^ gcc -O0 -c %f -o %o |> %B.o\n",
    );
    p.build(&[]).success();
    assert!(p.read("compile_commands.json").contains("gcc -O0 -c a.c"));
}
