//! `tupfs parse` on examples/full gives exactly the commands tup 0.7.11
//! runs for it (tests/data/full-tup-commands.txt, made by the script next
//! to it), and writes nothing to the tree.

use std::fs;
use std::path::Path;
use std::process::Command;

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            fs::copy(e.path(), &dest).unwrap();
        }
    }
}

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
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/full");
    let scratch = tempfile::tempdir().unwrap();
    copy_tree(&src, scratch.path());
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
