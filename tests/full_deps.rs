//! Full dependencies (issue 15): with `--full-deps` (or `full_deps` in
//! `.tupfs/options`), what commands read outside the project counts: an
//! outside header, a program, a shared library on LD_LIBRARY_PATH, a ghost
//! on the include path. Each changed re-runs exactly its readers, and
//! `--explain` names the file. Without the option none of them re-run.
//!
//! The outside files live in the test's target dir (`CARGO_TARGET_TMPDIR`):
//! full deps serve the system's top-level directories but not `/tmp`, where
//! the harness puts projects.

mod harness;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use harness::Project;

/// A fresh directory outside the project that full deps trace, or `None`
/// (SKIP printed) when the target dir is not in one.
fn outside_dir(p: &Project, name: &str) -> Option<PathBuf> {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let top = base.components().nth(1).map(|c| Path::new("/").join(c));
    let untraced = ["/tmp", "/var", "/home", "/root", "/run", "/mnt", "/media"];
    let bad = top.as_ref().map_or(true, |t| {
        untraced.iter().any(|u| t == Path::new(u)) || p.root().starts_with(t)
    });
    if bad {
        eprintln!(
            "SKIP: {} is not in a directory full deps trace",
            base.display()
        );
        return None;
    }
    let unique = p.root().parent().and_then(|d| d.file_name()).unwrap();
    let dir = base.join(format!("full-deps-{}-{name}", unique.to_string_lossy()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    Some(dir)
}

/// Write an outside file with an mtime from a clock of our own (one
/// second later than the last, well in the past: never racy).
fn put(path: &Path, text: &str, tick: u64) {
    fs::write(path, text).unwrap();
    set_old_mtime(path, tick);
}

fn set_old_mtime(path: &Path, tick: u64) {
    let when = SystemTime::now() - Duration::from_secs(20 * 24 * 3600) + Duration::from_secs(tick);
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(when)
        .unwrap();
}

/// `gcc ARGS` outside any build (test fixtures); panics on failure.
fn gcc(args: &[&str]) {
    let out = Command::new("gcc").args(args).output().unwrap();
    assert!(out.status.success(), "gcc {args:?}: {out:?}");
}

const CC: &str = ": foreach *.c |> gcc -I{DIR} -c %f -o %o |> %B.o\n";

fn header_project(dir: &Path) -> Project {
    put(&dir.join("one.h"), "#define ONE 1\n", 1);
    put(&dir.join("two.h"), "#define TWO 2\n", 2);
    Project::new()
        .file("Tupfile", &CC.replace("{DIR}", &dir.display().to_string()))
        .file("a.c", "#include <one.h>\nint a(void) { return ONE; }\n")
        .file("b.c", "#include <two.h>\nint b(void) { return TWO; }\n")
        .file("c.c", "int c(void) { return 3; }\n")
}

fn cc(dir: &Path, file: &str) -> String {
    format!("gcc -I{} -c {file}.c -o {file}.o", dir.display())
}

#[test]
fn an_edited_outside_header_rebuilds_exactly_its_users() {
    require_fuse!();
    let Some(dir) = outside_dir(&Project::new(), "hdr") else {
        return;
    };
    let p = header_project(&dir);
    p.build(&["--full-deps"]).success();
    p.build(&["--full-deps"]).success().ran_nothing();
    put(&dir.join("one.h"), "#define ONE 11\n", 10);
    p.build(&["--full-deps", "--explain"])
        .success()
        .ran_exactly(&[&cc(&dir, "a")])
        .ran_because(&cc(&dir, "a"), "outside-changed")
        .says(&[&format!(
            "{}/one.h (outside the project) changed",
            dir.display()
        )]);
    p.build(&["--full-deps"]).success().ran_nothing();
    // tup's spelling in the options file does the same.
    p.write(".tupfs/options", "updater.full_deps = 1\n");
    put(&dir.join("two.h"), "#define TWO 22\n", 11);
    p.build(&[]).success().ran_exactly(&[&cc(&dir, "b")]);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_ghost_header_appearing_on_the_include_path_rebuilds() {
    require_fuse!();
    let p0 = Project::new();
    let (Some(first), Some(second)) = (outside_dir(&p0, "inc1"), outside_dir(&p0, "inc2")) else {
        return;
    };
    put(&second.join("g.h"), "#define G 1\n", 1);
    let rule = format!(
        ": foreach *.c |> gcc -I{} -I{} -c %f -o %o |> %B.o\n",
        first.display(),
        second.display()
    );
    let p = Project::new()
        .file("Tupfile", &rule)
        .file("a.c", "#include <g.h>\nint a(void) { return G; }\n")
        .file("b.c", "int b(void) { return 2; }\n");
    p.build(&["--full-deps"]).success();
    p.build(&["--full-deps"]).success().ran_nothing();
    put(&first.join("g.h"), "#define G 2\n", 5);
    let a = format!(
        "gcc -I{} -I{} -c a.c -o a.o",
        first.display(),
        second.display()
    );
    p.build(&["--full-deps", "--explain"])
        .success()
        .ran_exactly(&[&a])
        .ran_because(&a, "outside-changed")
        .says(&[&format!("{}/g.h", first.display())]);
    let _ = fs::remove_dir_all(&first);
    let _ = fs::remove_dir_all(&second);
}

/// A tool outside the project that prints `text`, built by gcc.
fn build_tool(dir: &Path, text: &str, tick: u64) {
    let src = dir.join("tool.c");
    let body = format!("#include <stdio.h>\nint main(void) {{ puts(\"{text}\"); return 0; }}\n");
    fs::write(&src, body).unwrap();
    let tmp = dir.join("tool.tmp");
    gcc(&[src.to_str().unwrap(), "-o", tmp.to_str().unwrap()]);
    fs::rename(&tmp, dir.join("tool")).unwrap();
    set_old_mtime(&dir.join("tool"), tick);
}

#[test]
fn a_replaced_outside_program_reruns_its_commands() {
    require_fuse!();
    let Some(dir) = outside_dir(&Project::new(), "tool") else {
        return;
    };
    build_tool(&dir, "first", 1);
    let tool = format!("{}/tool > out.txt", dir.display());
    let p = Project::new().file(
        "Tupfile",
        &format!(": |> {tool} |> out.txt\n: |> echo other > other.txt |> other.txt\n"),
    );
    p.build(&["--full-deps"]).success();
    assert_eq!(p.read("out.txt"), "first\n");
    p.build(&["--full-deps"]).success().ran_nothing();
    build_tool(&dir, "second build", 5);
    p.build(&["--full-deps"])
        .success()
        .ran_exactly(&[&tool])
        .ran_because(&tool, "outside-changed");
    assert_eq!(p.read("out.txt"), "second build\n");
    let _ = fs::remove_dir_all(&dir);
}

/// `libfoo.so` in `dir` whose `foo()` returns `value`.
fn build_lib(dir: &Path, value: u32, tick: u64) {
    let src = dir.join("foo.c");
    fs::write(&src, format!("int foo(void) {{ return {value}; }}\n")).unwrap();
    let tmp = dir.join("libfoo.tmp");
    gcc(&[
        "-shared",
        "-fPIC",
        src.to_str().unwrap(),
        "-o",
        tmp.to_str().unwrap(),
    ]);
    fs::rename(&tmp, dir.join("libfoo.so")).unwrap();
    set_old_mtime(&dir.join("libfoo.so"), tick);
}

#[test]
fn a_changed_library_on_ld_library_path_reruns_its_users() {
    require_fuse!();
    let Some(dir) = outside_dir(&Project::new(), "lib") else {
        return;
    };
    build_lib(&dir, 1, 1);
    let main = dir.join("usefoo.c");
    fs::write(
        &main,
        "#include <stdio.h>\nint foo(void);\nint main(void) { printf(\"%d\\n\", foo()); return 0; }\n",
    )
    .unwrap();
    let d = dir.display().to_string();
    gcc(&[
        main.to_str().unwrap(),
        "-L",
        &d,
        "-lfoo",
        "-o",
        &format!("{d}/usefoo"),
    ]);
    set_old_mtime(&dir.join("usefoo"), 2);
    let run = format!("LD_LIBRARY_PATH={d} {d}/usefoo > r.txt");
    let p = Project::new().file(
        "Tupfile",
        &format!(": |> {run} |> r.txt\n: |> echo other > other.txt |> other.txt\n"),
    );
    p.build(&["--full-deps"]).success();
    assert_eq!(p.read("r.txt"), "1\n");
    p.build(&["--full-deps"]).success().ran_nothing();
    build_lib(&dir, 2, 5);
    p.build(&["--full-deps", "--explain"])
        .success()
        .ran_exactly(&[&run])
        .says(&[&format!("{d}/libfoo.so (outside the project) changed")]);
    assert_eq!(p.read("r.txt"), "2\n");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn without_full_deps_outside_changes_rerun_nothing() {
    require_fuse!();
    let p0 = Project::new();
    let (Some(hdr), Some(tooldir)) = (outside_dir(&p0, "off-hdr"), outside_dir(&p0, "off-tool"))
    else {
        return;
    };
    let p = header_project(&hdr);
    build_tool(&tooldir, "first", 1);
    p.write(
        "Tupfile",
        &format!(
            "{}: |> {}/tool > out.txt |> out.txt\n",
            CC.replace("{DIR}", &hdr.display().to_string()),
            tooldir.display()
        ),
    );
    p.build(&[]).success();
    put(&hdr.join("one.h"), "#define ONE 11\n", 10);
    put(&hdr.join("zero.h"), "#define ZERO 0\n", 11);
    build_tool(&tooldir, "second", 12);
    p.build(&[]).success().ran_nothing();
    let _ = fs::remove_dir_all(&hdr);
    let _ = fs::remove_dir_all(&tooldir);
}

#[test]
fn turning_full_deps_on_reruns_what_ran_without_them_once() {
    require_fuse!();
    let p = Project::new()
        .file("Tupfile", ": foreach *.c |> gcc -c %f -o %o |> %B.o\n")
        .file("a.c", "int a(void) { return 1; }\n")
        .file("b.c", "int b(void) { return 2; }\n");
    p.build(&[]).success();
    p.build(&[]).success().ran_nothing();
    p.build(&["--full-deps"])
        .success()
        .ran_exactly(&["gcc -c a.c -o a.o", "gcc -c b.c -o b.o"])
        .ran_because("gcc -c a.c -o a.o", "full-deps-on");
    p.build(&["--full-deps"]).success().ran_nothing();
    // Off again: nothing to do either (outside reads are kept, unused).
    p.build(&[]).success().ran_nothing();
}

#[test]
fn with_a_monitor_an_edited_outside_header_is_still_seen() {
    require_fuse!();
    let Some(dir) = outside_dir(&Project::new(), "mon") else {
        return;
    };
    let p = header_project(&dir);
    p.write(".tupfs/options", "full_deps = true\n");
    let _m = harness::Monitor::start(&p, &[]);
    p.build(&[]).success();
    p.build(&[]).success().ran_nothing();
    p.build(&[]).success().ran_nothing();
    // Outside files are not watched: even the monitor's no-op stats them.
    put(&dir.join("one.h"), "#define ONE 11\n", 10);
    p.set_env("TUPFS_LOG", "debug");
    let out = p.build(&[]);
    out.success().ran_exactly(&[&cc(&dir, "a")]);
    assert!(
        out.stderr.contains("monitor no-op: proven false"),
        "{}",
        out.stderr
    );
    let _ = fs::remove_dir_all(&dir);
}
