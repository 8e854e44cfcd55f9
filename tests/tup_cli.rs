//! tup's whole command line (issue 18), driven as a user would: the binary
//! run through a `tup` symlink (`tup`, `upd`, `-jN`, `-k`, targets, `init`,
//! `version`), and each verb — `todo`, `graph` (rendered by Graphviz),
//! `generate` (its script run in a clean copy), `varsed` inside a command,
//! `refactor`, `variant`, `compiledb`/`commandline`, `scan`, `options` (the
//! three files' precedence), completions and the man page.

mod harness;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use harness::{Outcome, Project};

/// A `tup` symlink to the binary in a `bin/` beside the project, which is
/// also put first on the PATH of the runs (so commands find `tup varsed`).
fn tup(p: &Project) -> PathBuf {
    let bin = p.outside("bin");
    let link = bin.join("tup");
    if !link.exists() {
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_tupfs"), &link).unwrap();
        let path = std::env::var("PATH").unwrap_or_default();
        p.set_env("PATH", &format!("{}:{path}", bin.display()));
    }
    link
}

/// The commands a build ran (from its run log).
fn ran(o: &Outcome) -> BTreeSet<String> {
    let log = o.log.as_ref().unwrap_or_else(|e| o.fail(e));
    log.commands.iter().map(|c| c.command.clone()).collect()
}

/// `todo --json`'s commands.
fn todo(p: &Project, targets: &[&str]) -> BTreeSet<String> {
    let mut args = vec!["todo", "--json", "-v"];
    args.extend_from_slice(targets);
    let o = p.run(&args);
    o.success();
    let steps: Vec<serde_json::Value> =
        serde_json::from_str(&o.stdout).unwrap_or_else(|e| o.fail(&format!("todo --json: {e}")));
    steps
        .iter()
        .map(|s| s["command"].as_str().unwrap().to_string())
        .collect()
}

const UPPER: &str = "\
: foreach *.txt |> tr a-z A-Z < %f > %o |> %B.up {up}
: {up} |> cat %f > %o |> all.cat
";

#[test]
fn tup_symlink_builds_with_upd_jobs_targets_and_quiet() {
    require_fuse!();
    let p = Project::new()
        .file("Tupfile", UPPER)
        .file("a.txt", "a\n")
        .file("b.txt", "b\n")
        .file(
            "sub/Tupfile",
            ": |> ^ MAKE %o^ echo made > %o |> made.out\n",
        );
    let tup = tup(&p);
    let o = p.run_program(&tup, &[]);
    o.success();
    assert_eq!(ran(&o).len(), 4, "{}", o.dump());
    assert_eq!(p.read("all.cat"), "A\nB\n");
    p.write("a.txt", "aa\n");
    let o = p.run_program(&tup, &["upd", "-j1"]);
    o.success();
    let expected = ["tr a-z A-Z < a.txt > a.up", "cat a.up b.up > all.cat"];
    assert_eq!(ran(&o), expected.iter().map(|s| s.to_string()).collect());
    // A target builds what it needs only.
    p.write("b.txt", "bb\n");
    p.remove("sub/made.out");
    let o = p.run_program(&tup, &["-j2", "sub/made.out"]);
    o.success();
    assert_eq!(
        ran(&o),
        BTreeSet::from(["echo made > made.out".to_string()])
    );
    // --verbose shows the real command; --quiet says nothing.
    p.remove("sub/made.out");
    let o = p.run_program(&tup, &["--verbose", "sub"]);
    o.success().says(&["echo made > made.out"]);
    let o = p.run_program(&tup, &["--quiet"]);
    o.success();
    assert!(o.stdout.trim().is_empty(), "{}", o.dump());
    assert_eq!(p.read("all.cat"), "AA\nBB\n");
    p.run_program(&tup, &[]).success().says(&["Nothing to do"]);
}

#[test]
fn tup_keep_going_and_its_override() {
    require_fuse!();
    let p = Project::new().file(
        "Tupfile",
        ": |> false |> bad.out\n: |> echo good > %o |> good.out\n",
    );
    let tup = tup(&p);
    p.run_program(&tup, &["-j1"]).exit_code(1);
    if p.exists("good.out") {
        p.remove("good.out");
    }
    let o = p.run_program(&tup, &["-j1", "-k"]);
    o.exit_code(1);
    assert!(p.exists("good.out"), "-k went on: {}", o.dump());
    // keep_going from the options file, and --no-keep-going over it.
    p.write(".tupfs/options", "[updater]\nkeep_going = 1\n");
    p.remove("good.out");
    p.run_program(&tup, &["-j1"]).exit_code(1);
    assert!(p.exists("good.out"), "updater.keep_going = 1 goes on");
    p.remove("good.out");
    let o = p.run_program(&tup, &["-j1", "--no-keep-going"]);
    o.exit_code(1);
    let good_ran = ran(&o).contains("echo good > good.out");
    let bad_ran = ran(&o).contains("false");
    assert!(bad_ran && !good_ran, "stopped at the failure: {}", o.dump());
}

#[test]
fn tup_init_version_and_tup_only_verbs() {
    let p = Project::new();
    let tup = tup(&p);
    p.write(".tup/db", "tup's own state");
    p.run_program(&tup, &["init", "newdir"]).success();
    assert!(p.path("newdir/.tupfs").is_dir());
    assert_eq!(p.read(".tup/db"), "tup's own state");
    p.run_program(&tup, &["version"])
        .success()
        .says(&["tupfs ", "tup 0.7.11"]);
    p.run_program(&tup, &["dbconfig"])
        .exit_code(2)
        .says(&["tup dbconfig", "does not have"]);
}

#[test]
fn a_tup_checkout_builds_from_a_subdirectory_leaving_dot_tup_alone() {
    require_fuse!();
    let p = Project::new()
        .file(".tup/db", "tup's database")
        .file("sub/Tupfile", ": |> echo hi > %o |> hi.txt\n");
    p.remove("Tupfile.ini");
    let tup = tup(&p);
    let o = Command::new(&tup)
        .current_dir(p.path("sub"))
        .env(
            "PATH",
            format!(
                "{}:{}",
                p.outside("bin").display(),
                std::env::var("PATH").unwrap()
            ),
        )
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{said}");
    assert_eq!(p.read("sub/hi.txt"), "hi\n");
    assert!(p.path(".tupfs").is_dir());
    assert_eq!(p.read(".tup/db"), "tup's database");
}

#[test]
fn todo_lists_exactly_what_the_next_build_runs() {
    require_fuse!();
    let p = Project::new()
        .file("Tupfile", UPPER)
        .file("a.txt", "a\n")
        .file("b.txt", "b\n")
        .file("c.txt", "c\n");
    let first = todo(&p, &[]);
    assert_eq!(first, ran(p.build(&[]).success()));
    p.run(&["todo"]).success().says(&["Nothing to do"]);
    let index = p.index_identity();
    p.write("b.txt", "bb\n");
    // A target: what building it runs, and nothing else.
    let some = todo(&p, &["b.up"]);
    assert_eq!(
        some,
        BTreeSet::from(["tr a-z A-Z < b.txt > b.up".to_string()])
    );
    assert_eq!(p.index_identity(), index, "todo wrote the index");
    assert_eq!(some, ran(p.build(&["b.up"]).success()));
    p.write("c.txt", "cc\n");
    let rest = todo(&p, &[]);
    assert_eq!(rest.len(), 2, "{rest:?}");
    assert_eq!(rest, ran(p.build(&[]).success()));
    let o = p.run(&["todo"]);
    o.success().says(&["Nothing to do"]);
}

#[test]
fn graph_renders_with_graphviz() {
    require_fuse!();
    let p = Project::new()
        .file("tup.config", "CONFIG_GREETING=hi\n")
        .file("hdr.h", "header\n")
        .file(
            "Tupfile",
            ": foreach *.txt |> cat hdr.h %f > %o; echo @(GREETING) >> %o |> %B.out <outs>\n\
             : <outs> |> cat %<outs> > %o |> all.txt\n",
        )
        .file("a.txt", "a \"quoted\" \\ text\n")
        .file("b.txt", "b\n");
    p.build(&[]).success();
    let all = [
        "graph",
        "--dirs",
        "--ghosts",
        "--env",
        "--combine",
        "--stickies",
    ];
    let plain = p.run(&["graph"]);
    plain
        .success()
        .says(&["digraph", "hdr.h", "style=dashed", "<outs>"]);
    let full = p.run(&all);
    full.success()
        .says(&["@(GREETING) = hi", "$PATH", "Tupfile"]);
    let Ok(dot) = Command::new("dot").arg("-V").output() else {
        eprintln!("SKIP: graph_renders_with_graphviz: no `dot` (apt-get install graphviz)");
        return;
    };
    assert!(dot.status.success());
    for o in [plain, full] {
        let svg = render(&p, &o.stdout);
        assert!(svg.contains("<svg"), "{svg}");
    }
}

/// `dot -Tsvg` of `text`; its errors fail the test.
fn render(p: &Project, text: &str) -> String {
    let file = p.outside("graph.dot");
    std::fs::write(&file, text).unwrap();
    let out = Command::new("dot")
        .arg("-Tsvg")
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.is_empty(),
        "dot: {stderr}\n{text}"
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A project with subdirectories, a config value, a group, a `^b` command
/// and a generated file read across directories.
fn generate_project(p: &Project) {
    p.write("tup.config", "CONFIG_GREETING=hello\n");
    p.write("configs/other.config", "CONFIG_GREETING=bonjour\n");
    p.write("lib/Tupfile", UPPER);
    p.write("lib/x.txt", "x\n");
    p.write("lib/y.txt", "y\n");
    p.write("lib/tmpl.in", "say @GREETING@ (@MISSING@)\n");
    p.write(
        "app/Tupfile",
        ": ../lib/all.cat |> ^b^ (echo @(GREETING); cat %f) | tr a-z A-Z > %o |> app.txt\n\
         : ../lib/tmpl.in |> tup varsed %f %o |> greeting.txt\n",
    );
}

/// Run the script `name` in `p` (PATH with the `tup` link).
fn run_script(p: &Project, name: &str) {
    let bin = p.outside("bin");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = Command::new("/bin/sh")
        .arg(p.path(name))
        .current_dir("/")
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn generate_script_builds_the_same_outputs_in_tree() {
    require_fuse!();
    let p = Project::new();
    tup(&p);
    generate_project(&p);
    p.build(&[]).success();
    let built = p.outputs();
    assert_eq!(p.read("app/greeting.txt"), "say hello ()\n");
    let q = p.clean_copy();
    tup(&q);
    q.run(&["generate", "build.sh"]).success();
    let text = q.read("build.sh");
    assert!(!text.contains("tupfs build"), "{text}");
    run_script(&q, "build.sh");
    let mut made = q.outputs();
    made.remove("build.sh");
    assert_eq!(made, built);
    // --config alone: in-tree, with another config than tup.config.
    p.write("tup.config", "CONFIG_GREETING=bonjour\n");
    p.build(&[]).success();
    let built = p.outputs();
    let r = p.clean_copy();
    tup(&r);
    r.write("tup.config", "CONFIG_GREETING=hello\n");
    r.run(&["generate", "--config", "configs/other.config", "b.sh"])
        .success();
    run_script(&r, "b.sh");
    let mut made = r.outputs();
    made.remove("b.sh");
    assert_eq!(made, built);
    assert_eq!(r.read("app/greeting.txt"), "say bonjour ()\n");
}

#[test]
fn generate_script_builds_a_variant_with_builddir_and_config() {
    require_fuse!();
    let p = Project::new();
    tup(&p);
    generate_project(&p);
    p.run(&["variant", "configs/other.config"])
        .success()
        .says(&["build-other"]);
    p.build(&[]).success();
    let mut built = under(&p.outputs(), "build-other/");
    built.remove("tup.config"); // the link `variant` made
    assert_eq!(p.read("build-other/app/greeting.txt"), "say bonjour ()\n");
    let q = p.clean_copy();
    tup(&q);
    let o = q.run(&[
        "generate",
        "--config",
        "configs/other.config",
        "--builddir",
        "out/v",
        "gen.sh",
    ]);
    o.success();
    run_script(&q, "gen.sh");
    assert_eq!(under(&q.outputs(), "out/v/"), built);
    assert!(
        !q.exists("lib/x.up"),
        "a variant build writes nothing in-tree"
    );
    q.run(&["generate", "--builddir", "out/v", "again.sh"])
        .exit_code(1)
        .says(&["already exists"]);
}

/// The files below `prefix`, keyed without it.
fn under(
    files: &std::collections::BTreeMap<String, Vec<u8>>,
    prefix: &str,
) -> std::collections::BTreeMap<String, Vec<u8>> {
    files
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(prefix)?.to_string(), v.clone())))
        .collect()
}

#[test]
fn varsed_in_a_command_reruns_on_a_config_change() {
    require_fuse!();
    let p = Project::new()
        .file("tup.config", "CONFIG_NAME=one\n")
        .file("in.txt", "name @NAME@\n")
        .file("Tupfile", ": in.txt |> tup varsed %f %o |> out.txt\n");
    let tup = tup(&p);
    p.run_program(&tup, &[]).success();
    assert_eq!(p.read("out.txt"), "name one\n");
    p.run_program(&tup, &[]).success().says(&["Nothing to do"]);
    p.write("tup.config", "CONFIG_NAME=two\n");
    let o = p.run_program(&tup, &[]);
    o.success();
    let log = o.log.as_ref().unwrap();
    assert_eq!(log.commands.len(), 1, "{}", o.dump());
    assert_eq!(log.commands[0].reason, "variable-changed");
    assert_eq!(p.read("out.txt"), "name two\n");
    // By hand, it reads the tup.config of where it runs.
    p.write("in2.txt", "@NAME@!");
    p.run_program(&tup, &["varsed", "in2.txt", "out2.txt"])
        .success();
    assert_eq!(p.read("out2.txt"), "two!");
}

#[test]
fn refactor_reports_changes_and_passes_moves_into_variables() {
    require_fuse!();
    let p = Project::new()
        .file("a.txt", "a\n")
        .file("b.txt", "b\n")
        .file(
            "Tupfile",
            ": foreach *.txt |> tr a-z A-Z < %f > %o |> %B.up <ups>\n\
             : <ups> |> cat %<ups> > %o; echo x > both.x |> all.cat | both.x\n",
        );
    let tup = tup(&p);
    p.run_program(&tup, &[]).success();
    let index = p.index_identity();
    p.write(
        "Tupfile",
        "TR = tr a-z A-Z\nUPS = <ups>\n!up = |> $(TR) < %f > %o |>\n\
         : foreach *.txt |> !up |> %B.up $(UPS)\n\
         : $(UPS) |> cat %<ups> > %o; echo x > both.x |> all.cat | both.x\n",
    );
    p.run_program(&tup, &["refactor"])
        .success()
        .says(&["the same build"]);
    p.write(
        "Tupfile",
        ": foreach *.txt |> tr a-z A-Z < %f > %o |> %B.up <other>\n\
         : <ups> |> cat %<ups> > %o; echo x > both.x |> all.cat\n\
         : |> echo new > %o |> new.out\n",
    );
    let o = p.run_program(&tup, &["ref"]);
    o.exit_code(1).says(&[
        "Tupfile:3: command added: echo new > new.out",
        "output removed: both.x",
        "output group added: <other>",
        "output group removed: <ups>",
    ]);
    assert_eq!(p.index_identity(), index, "refactor wrote the index");
    assert!(!p.exists("new.out"), "refactor ran a command");
}

#[test]
fn variant_compiledb_commandline_and_scan() {
    require_fuse!();
    let p = Project::new()
        .file("configs/dbg.config", "CONFIG_OPT=-O0\n")
        .file("a.c", "int a(void) { return 1; }\n")
        .file(
            "Tupfile",
            ": foreach *.c |> ^j^ gcc @(OPT) -c %f -o %o |> %B.o\n",
        );
    p.run(&["variant", "configs/dbg.config"]).success();
    let link = std::fs::read_link(p.path("build-dbg/tup.config")).unwrap();
    assert_eq!(link, Path::new("../configs/dbg.config"));
    p.build(&[]).success();
    assert!(p.exists("build-dbg/a.o"));
    p.run(&["compiledb"]).success();
    let db = p.read("build-dbg/compile_commands.json");
    assert!(db.contains("gcc -O0 -c a.c -o a.o"), "{db}");
    let o = p.run(&["commandline", "a.c"]);
    o.success();
    let entries: Vec<serde_json::Value> = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(entries.len(), 1, "{}", o.stdout);
    assert!(entries[0]["file"].as_str().unwrap().ends_with("/a.c"));
    p.write("a.c", "int a(void) { return 2; }\n");
    p.run(&["scan", "-v"])
        .success()
        .says(&["a.c: ", "1 changed since the last build"]);
}

/// Put back what `/etc/tup/options` was (or remove what the test made).
struct RestoreEtc {
    old: Option<Vec<u8>>,
    made_dir: bool,
}

impl Drop for RestoreEtc {
    fn drop(&mut self) {
        let file = Path::new("/etc/tup/options");
        match &self.old {
            Some(bytes) => std::fs::write(file, bytes).unwrap(),
            None => {
                let _ = std::fs::remove_file(file);
                if self.made_dir {
                    let _ = std::fs::remove_dir("/etc/tup");
                }
            }
        }
    }
}

/// Write `/etc/tup/options` when running as root (restored on drop).
fn system_options(text: &str) -> Option<RestoreEtc> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let made_dir = !Path::new("/etc/tup").exists();
    std::fs::create_dir_all("/etc/tup").ok()?;
    let old = std::fs::read("/etc/tup/options").ok();
    let restore = RestoreEtc { old, made_dir };
    std::fs::write("/etc/tup/options", text).ok()?;
    Some(restore)
}

#[test]
fn options_precedence_across_the_three_files() {
    let p = Project::new();
    let home = p.outside("home");
    std::fs::create_dir_all(&home).unwrap();
    p.set_env("HOME", home.to_str().unwrap());
    p.run(&["init"]).success();
    std::fs::write(
        home.join(".tupoptions"),
        "; the user's\n[updater]\nnum_jobs = 2\nkeep_going = yes\n[display]\njob_numbers = 0\n",
    )
    .unwrap();
    p.write(
        ".tupfs/options",
        "change = digest\n[updater]\nnum_jobs = 3\n",
    );
    // Harmless values for the other tests that run meanwhile.
    let etc = system_options("[updater]\nnum_jobs = 7\n[display]\njob_numbers = 1\nprogress = 0\n");
    let o = p.run(&["options"]);
    o.success();
    let line = |key: &str| -> String {
        let found = o.stdout.lines().find(|l| l.trim_start().starts_with(key));
        found.unwrap_or_else(|| o.fail(key)).to_string()
    };
    let project_options = p.path(".tupfs/options");
    let user = home.join(".tupoptions");
    assert!(line("change = digest").contains(&format!("{}:1", project_options.display())));
    assert!(line("updater.num_jobs = 3").contains(&format!("{}:3", project_options.display())));
    assert!(line("updater.keep_going = 1").contains(&format!("{}:4", user.display())));
    assert!(line("display.job_numbers = 0").contains(&format!("{}:6", user.display())));
    match etc {
        Some(_) => assert!(line("display.progress = 0").contains("/etc/tup/options:5")),
        None => eprintln!(
            "SKIP: options_precedence_across_the_three_files: /etc/tup/options part (not root)"
        ),
    }
    assert!(line("display.color = auto").contains("default"));
    drop(etc);
    // display.job_numbers = 0 from ~/.tupoptions takes effect.
    if harness::fuse_available() {
        p.write("Tupfile", ": |> echo hi > %o |> hi.out\n");
        let o = p.build(&[]);
        o.success()
            .says(&["echo hi > hi.out"])
            .never_says(&["[1/1]"]);
    }
    // A bad value: file, line, key and the allowed values.
    std::fs::write(home.join(".tupoptions"), "[display]\n\ncolor = purple\n").unwrap();
    p.build(&[]).exit_code(2).says(&[
        &format!("{}:3: 'purple'", user.display()),
        "display.color",
        "auto, always, never",
    ]);
}

#[test]
fn completions_and_man_page_are_generated() {
    let p = Project::new();
    for shell in ["bash", "zsh", "fish"] {
        let o = p.run(&["completions", shell]);
        o.success().says(&["tupfs", "todo", "generate"]);
    }
    let bash = p.run(&["completions", "bash", "--name", "tup"]);
    bash.success();
    let script = p.outside("tup.bash");
    std::fs::write(&script, &bash.stdout).unwrap();
    let checked = Command::new("bash").arg("-n").arg(&script).status();
    match checked {
        Ok(status) => assert!(status.success(), "bash -n of the completions failed"),
        Err(_) => eprintln!("SKIP: completions_and_man_page_are_generated: no bash to check"),
    }
    p.run(&["man"]).success().says(&[".TH tupfs", "todo"]);
}
