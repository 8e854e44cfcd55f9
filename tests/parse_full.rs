//! `tupfs parse` on examples/full gives exactly the commands tup 0.7.11
//! runs for it (tests/data/full-tup-commands.txt, made by the script next
//! to it), and writes nothing to the tree.

mod harness;

use std::fs;
use std::path::Path;
use std::process::Command;

fn listing(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(root).unwrap().display().to_string());
            if p.is_dir() {
                todo.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn full_example_matches_tup() {
    let scratch = tempfile::tempdir().unwrap();
    harness::copy_example("full", scratch.path());
    let before = listing(scratch.path());
    let out = Command::new(env!("CARGO_BIN_EXE_tupfs"))
        .args(["parse", "--json", "-C"])
        .arg(scratch.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(listing(scratch.path()), before, "parse must write nothing");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut ours: Vec<String> = json["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}: {}",
                r["dir"].as_str().unwrap(),
                r["command"].as_str().unwrap()
            )
        })
        .collect();
    ours.sort();
    let tup_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/full-tup-commands.txt");
    let tup: Vec<String> = fs::read_to_string(tup_file)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(ours, tup);
}

#[test]
fn full_example_details() {
    use tupfs::tupfile::{parse_project_with, ParseOptions};
    let scratch = tempfile::tempdir().unwrap();
    harness::copy_example("full", scratch.path());
    let p = parse_project_with(scratch.path(), &ParseOptions::default()).unwrap();
    let names = |v: &[tupfs::paths::ProjPath]| v.iter().map(|p| p.to_string()).collect::<Vec<_>>();
    assert_eq!(names(&p.variants), vec!["build-debug", "build-release"]);

    let main = p
        .rules
        .iter()
        .find(|r| r.dir.as_str() == "build-debug/app" && r.command.contains("main.c"))
        .unwrap();
    assert_eq!(main.display.as_deref(), Some("CC main.c"));
    assert_eq!(names(&main.inputs), vec!["app/main.c"]);
    assert_eq!(names(&main.outputs), vec!["build-debug/app/main.o"]);
    assert_eq!(names(&main.extra_outputs), vec!["build-debug/app/main.d"]);
    assert_eq!(main.input_groups[0].to_string(), "build-debug/gen/<hdrs>");
    let used: Vec<(&str, &str)> = main
        .config_used
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(used, vec![("OPT", "0")]);
    assert_eq!(main.source_dir.as_str(), "app");

    let gen = p
        .rules
        .iter()
        .find(|r| r.dir.as_str() == "build-release/gen")
        .unwrap();
    assert!(gen.flags.cutoff);
    assert_eq!(
        gen.output_group.as_ref().unwrap().to_string(),
        "build-release/gen/<hdrs>"
    );

    let ignores: Vec<(String, Vec<String>)> = p
        .gitignores
        .iter()
        .map(|g| (g.dir.to_string(), g.entries.clone()))
        .collect();
    let app = vec!["/.gitignore", "/app", "/main.d", "/main.o", "/output.txt"];
    let app: Vec<String> = app.into_iter().map(String::from).collect();
    assert_eq!(
        ignores,
        vec![
            ("build-debug/app".to_string(), app.clone()),
            ("build-release/app".to_string(), app)
        ]
    );

    let gen_rec = p.tupfiles.iter().find(|t| t.dir.as_str() == "gen").unwrap();
    assert_eq!(
        names(&gen_rec.run_scripts.iter().cloned().collect::<Vec<_>>()),
        vec!["gen/gen-rules.sh"]
    );
    assert!(gen_rec
        .included
        .iter()
        .any(|f| f.as_str() == "Tuprules.tup"));
}
