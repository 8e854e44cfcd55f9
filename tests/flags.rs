//! The `^t` (transient outputs) and `^j` (compile_commands.json) rule
//! flags, end to end: real gcc builds through the real tracer, asserting on
//! files and (from the run log) which commands ran and why.

mod harness;

use harness::{Mode, Project};

/// Objects are transient: only `app` stays.
const TRANSIENT_OBJECTS: &str = "\
: foreach *.c |> ^t CC %f^ gcc -c %f -o %o |> %B.o
: *.o |> ^ LINK %o^ gcc %f -o %o |> app
";

fn transient_project() -> Project {
    Project::new()
        .file("Tupfile", TRANSIENT_OBJECTS)
        .file("h.h", "#define A 1\n")
        .file("a.c", "#include \"h.h\"\nint a(void) { return A; }\n")
        .file(
            "main.c",
            "int a(void);\nint main(void) { return a() - 1; }\n",
        )
}

#[test]
fn transient_outputs_go_after_their_consumers_and_stay_gone() {
    require_fuse!();
    for mode in Mode::ALL {
        let p = transient_project();
        p.build_in(mode, &[])
            .success()
            .ran_exactly(&["CC a.c", "CC main.c", "LINK app"]);
        assert!(!p.exists("a.o") && !p.exists("main.o"), "{mode:?}");
        assert_eq!(p.exec("app"), 0);
        // Their absence re-runs neither the producers nor the consumer.
        p.build_in(mode, &[]).success().ran_nothing();
        p.build_in(mode, &[]).success().ran_nothing();

        // The consumer must run (a.o changes): every transient input is
        // remade first, though main.c did not change.
        p.write("h.h", "#define A 2\n");
        p.build_in(mode, &[])
            .success()
            .ran_exactly(&["CC a.c", "CC main.c", "LINK app"])
            .ran_because("CC a.c", "input-changed")
            .ran_because("CC main.c", "output-missing");
        assert!(!p.exists("a.o") && !p.exists("main.o"), "{mode:?}");
        assert_eq!(p.exec("app"), 1);
        p.build_in(mode, &[]).success().ran_nothing();

        // Only the consumer's own output is gone: the chain is remade.
        p.remove("app");
        p.build_in(mode, &[])
            .success()
            .ran_exactly(&["CC a.c", "CC main.c", "LINK app"])
            .ran_because("LINK app", "output-missing");
        p.build_in(mode, &[]).success().ran_nothing();
    }
}

#[test]
fn a_failed_consumer_keeps_the_transient_outputs() {
    require_fuse!();
    let p = transient_project();
    p.build(&[]).success();
    p.write(
        "main.c",
        "int nowhere(void);\nint main(void) { return nowhere(); }\n",
    );
    p.build(&[])
        .failure()
        .ran_exactly(&["CC a.c", "CC main.c", "LINK app"]);
    assert!(p.exists("a.o") && p.exists("main.o"), "kept for the retry");
    p.write(
        "main.c",
        "int a(void);\nint main(void) { return a() - 1; }\n",
    );
    // a.o is still there and current: only main.c and the link re-run.
    p.build(&[])
        .success()
        .ran_exactly(&["CC main.c", "LINK app"]);
    assert!(!p.exists("a.o") && !p.exists("main.o"));
    assert_eq!(p.exec("app"), 0);
    p.build(&[]).success().ran_nothing();
}

#[test]
fn a_transient_generated_source_chain() {
    require_fuse!();
    let p = Project::new()
        .file(
            "Tupfile",
            "\
: gen.in |> ^t GEN^ sed 's/VALUE/42/' gen.in > %o |> gen.c
: gen.c |> ^t CC gen.c^ gcc -c %f -o %o |> gen.o
: gen.o main.c |> ^ LINK^ gcc %f -o %o |> app
",
        )
        .file("gen.in", "int value(void) { return VALUE; }\n")
        .file(
            "main.c",
            "int value(void);\nint main(void) { return value() - 42; }\n",
        );
    p.build(&[])
        .success()
        .ran_exactly(&["GEN", "CC gen.c", "LINK"]);
    assert!(!p.exists("gen.c") && !p.exists("gen.o"));
    assert_eq!(p.exec("app"), 0);
    p.build(&[]).success().ran_nothing();
    // The link must run: the whole transient chain is remade first.
    p.write(
        "main.c",
        "int value(void);\nint main(void) { return value() - 41; }\n",
    );
    p.build(&[])
        .success()
        .ran_exactly(&["GEN", "CC gen.c", "LINK"]);
    assert_eq!(p.exec("app"), 1);
    assert!(!p.exists("gen.c") && !p.exists("gen.o"));
    p.build(&[]).success().ran_nothing();
}

#[test]
fn o_with_t_is_an_error() {
    require_fuse!();
    let p = Project::new()
        .file("Tupfile", ": a.c |> ^ot^ gcc -c %f -o %o |> a.o\n")
        .file("a.c", "int a;\n");
    let out = p.build(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", out.dump());
    out.says(&["Tupfile:1", "^o", "^t"]);
}

fn compile_db(p: &Project) -> serde_json::Value {
    serde_json::from_str(&p.read("compile_commands.json")).expect("valid JSON")
}

#[test]
fn j_rules_make_compile_commands_json() {
    require_fuse!();
    let p = Project::new()
        .file(
            "sub/Tupfile",
            "\
: foreach *.c |> ^j CC %f^ gcc -DX=1 -c %f -o %o |> %B.o
: *.o |> gcc %f -o %o |> app
",
        )
        .file("sub/a.c", "int a(void) { return X; }\n")
        .file("sub/main.c", "int main(void) { return 0; }\n");
    p.build(&[]).success();
    let sub = p.path("sub").to_string_lossy().into_owned();
    let entry = |name: &str| {
        serde_json::json!({
            "directory": sub,
            "command": format!("gcc -DX=1 -c {name}.c -o {name}.o"),
            "file": format!("{sub}/{name}.c"),
            "output": format!("{sub}/{name}.o"),
        })
    };
    assert_eq!(
        compile_db(&p),
        serde_json::json!([entry("a"), entry("main")])
    );
    // The database is what gcc needs: each entry compiles where it says.
    let out = std::process::Command::new("sh")
        .args(["-c", "gcc -DX=1 -c a.c -o /dev/null"])
        .current_dir(&sub)
        .status()
        .unwrap();
    assert!(out.success());

    // Unchanged commands: the file is not rewritten.
    let before = p.mtime("compile_commands.json");
    p.write("sub/a.c", "int a(void) { return X + 1; }\n");
    p.build(&[]).success().ran_including(&["CC a.c"]);
    assert_eq!(p.mtime("compile_commands.json"), before);

    // A new ^j command: rewritten with it.
    p.write("sub/b.c", "int b(void) { return 2; }\n");
    p.build(&[]).success();
    assert_eq!(
        compile_db(&p),
        serde_json::json!([entry("a"), entry("b"), entry("main")])
    );
    assert!(
        !p.exists(".tupfs/tmp/compile_commands.json"),
        "no temp left"
    );
}

#[test]
fn a_new_consumer_of_a_transient_group_gets_its_inputs_remade() {
    require_fuse!();
    let cc = ": foreach *.c |> ^t CC %f^ gcc -c %f -o %o |> %B.o <objs>\n";
    let link = ": <objs> |> ^ LINK^ gcc %<objs> -o %o |> app\n";
    let p = Project::new()
        .file("Tupfile", &format!("{cc}{link}"))
        .file("a.c", "int a(void) { return 0; }\n")
        .file("main.c", "int a(void);\nint main(void) { return a(); }\n");
    p.build(&[])
        .success()
        .ran_exactly(&["CC a.c", "CC main.c", "LINK"]);
    assert!(!p.exists("a.o") && !p.exists("main.o"));
    p.build(&[]).success().ran_nothing();
    // A new rule reads the group: it has no reads recorded yet.
    let archive = ": <objs> |> ^ AR^ ar crD %o %<objs> |> lib.a\n";
    p.write("Tupfile", &format!("{cc}{link}{archive}"));
    p.build(&[])
        .success()
        .ran_exactly(&["CC a.c", "CC main.c", "AR", "LINK"]);
    assert!(p.exists("lib.a") && !p.exists("a.o"));
    p.build(&[]).success().ran_nothing();
}
