//! Project-level behaviour: what each parse records and writes (nothing).

use std::fs;

use super::{opts, tree};
use crate::paths::ProjPath;
use crate::tupfile::{parse_project_with, write_gitignores};

#[test]
fn parse_writes_nothing_and_gitignore_is_written_on_request() {
    let t = tree(&[
        (".gitignore", "user-line\n"),
        ("Tupfile", ".gitignore\n: |> gen > %o |> out.txt\n"),
    ]);
    let before = list(t.path());
    let p = parse_project_with(t.path(), &opts()).unwrap();
    assert_eq!(list(t.path()), before);
    write_gitignores(t.path(), &p).unwrap();
    let text = fs::read_to_string(t.path().join(".gitignore")).unwrap();
    assert!(
        text.starts_with("user-line\n##### TUP GITIGNORE #####\n"),
        "{text}"
    );
    assert!(text.ends_with(".tupfs\n/.gitignore\n/out.txt\n"), "{text}");
}

#[test]
fn previous_outputs_are_not_sources() {
    let t = tree(&[
        ("a.c", ""),
        ("stale.o", ""),
        (
            "Tupfile",
            ": foreach *.c |> cc %f |> %B.o\n: *.o |> ld %f |> prog\n",
        ),
    ]);
    fs::write(t.path().join("a.o"), "").unwrap();
    let mut o = opts();
    o.previous_outputs.insert(ProjPath::new("a.o").unwrap());
    o.previous_outputs.insert(ProjPath::new("stale.o").unwrap());
    let p = parse_project_with(t.path(), &o).unwrap();
    assert_eq!(p.rules[1].command, "ld a.o");
}

#[test]
fn records_globbed_dirs() {
    let t = tree(&[("src/a.c", ""), ("Tupfile", ": src/*.c |> cc %f |> x\n")]);
    let p = parse_project_with(t.path(), &opts()).unwrap();
    let g: Vec<String> = p.tupfiles[0]
        .globbed_dirs
        .iter()
        .map(|d| d.to_string())
        .collect();
    assert_eq!(g, vec!["src"]);
    assert_eq!(p.rules[0].command, "cc src/a.c");
}

fn list(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            out.push(p.display().to_string());
            if p.is_dir() {
                todo.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn generated_directories_do_not_get_the_tupdefault() {
    let t = tree(&[
        ("Tupdefault", ": foreach *.x |> conv %f |> %B.y\n"),
        ("Tupfile", ": |> gen |> out/a.x\n"),
    ]);
    fs::create_dir_all(t.path().join("out")).unwrap();
    fs::write(t.path().join("out/a.x"), "").unwrap();
    let mut o = opts();
    o.previous_outputs.insert(ProjPath::new("out/a.x").unwrap());
    let p = parse_project_with(t.path(), &o).unwrap();
    let c: Vec<&str> = p.rules.iter().map(|r| r.command.as_str()).collect();
    assert_eq!(c, vec!["gen"]);
}

#[test]
fn preload_parses_and_records_the_directory() {
    let t = tree(&[
        ("lib/Tupfile", ": |> gen |> x\n"),
        ("Tupfile", "preload lib\n: |> use |> y\n"),
    ]);
    let p = parse_project_with(t.path(), &opts()).unwrap();
    let root = p.tupfiles.iter().find(|r| r.dir.is_root()).unwrap();
    let g: Vec<String> = root.globbed_dirs.iter().map(|d| d.to_string()).collect();
    assert_eq!(g, vec!["lib"]);
    let d: Vec<String> = root.depends_on.iter().map(|d| d.to_string()).collect();
    assert_eq!(d, vec!["lib"]);
}
