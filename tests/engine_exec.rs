//! The engine below the parser: rules built in code, run through
//! `exec::run_build` in a temporary project, real `sh` commands.

use std::fs;
use std::path::Path;

use tupfs::exec::{self, BuildStatus, Request};
use tupfs::graph::Graph;
use tupfs::paths::ProjPath;
use tupfs::project::Project;
use tupfs::tupfile::{Location, Rule};

fn p(s: &str) -> ProjPath {
    ProjPath::new(s).unwrap()
}

fn rule(dir: &str, cmd: &str, ins: &[&str], outs: &[&str]) -> Rule {
    Rule {
        location: Location {
            file: p(dir).child("Tupfile"),
            line: 1,
        },
        dir: p(dir),
        source_dir: p(dir),
        variant: ProjPath::root(),
        command: cmd.into(),
        display: None,
        flags: Default::default(),
        inputs: ins.iter().map(|s| p(s)).collect(),
        order_only: vec![],
        input_groups: vec![],
        outputs: outs.iter().map(|s| p(s)).collect(),
        extra_outputs: vec![],
        output_group: None,
        ignore: vec![],
        config_used: Default::default(),
        exports: vec![],
    }
}

fn project() -> (tempfile::TempDir, Project) {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("Tupfile.ini"), "").unwrap();
    let project = Project::init(t.path()).unwrap();
    (t, project)
}

fn build(project: &Project, rules: Vec<Rule>, keep_going: bool) -> BuildStatus {
    let graph = Graph::build(rules).unwrap();
    let req = Request {
        jobs: Some(2),
        keep_going,
        ..Default::default()
    };
    exec::run_build(project, &graph, &req).unwrap()
}

fn run_log(root: &Path) -> serde_json::Value {
    let text = fs::read_to_string(root.join(".tupfs/log/last.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn ran(log: &serde_json::Value) -> Vec<String> {
    let mut v: Vec<String> = log["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["command"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn builds_in_dependency_order_and_logs_each_command() {
    let (_t, project) = project();
    let root = &project.root;
    fs::create_dir(root.join("sub")).unwrap();
    fs::write(root.join("in.txt"), "data\n").unwrap();
    let rules = vec![
        rule(
            "sub",
            "cat gen.txt ../in.txt > both.txt",
            &["sub/gen.txt", "in.txt"],
            &["sub/both.txt"],
        ),
        rule("sub", "echo generated > gen.txt", &[], &["sub/gen.txt"]),
    ];
    assert_eq!(build(&project, rules, false), BuildStatus::Ok);
    assert_eq!(
        fs::read_to_string(root.join("sub/both.txt")).unwrap(),
        "generated\ndata\n"
    );
    let log = run_log(root);
    assert_eq!(log["version"], 1);
    assert_eq!(log["status"], "ok");
    assert_eq!(log["summary"]["ran"], 2);
    assert_eq!(log["summary"]["failed"], 0);
    let first = &log["commands"][0];
    assert_eq!(first["command"], "echo generated > gen.txt");
    assert_eq!(first["reason"], "new");
    assert_eq!(first["status"], "ok");
    assert_eq!(first["rule"], "sub/Tupfile:1");
    assert_eq!(first["dir"], "sub");
    assert_eq!(first["outputs"][0], "sub/gen.txt");
    assert_eq!(first["key"].as_str().unwrap().len(), 64);
}

#[test]
fn failing_command_leaves_no_output_and_stops_dependents() {
    let (_t, project) = project();
    let root = &project.root;
    let rules = vec![
        rule("", "echo half > a.txt; exit 3", &[], &["a.txt"]),
        rule("", "cp a.txt b.txt", &["a.txt"], &["b.txt"]),
    ];
    assert_eq!(build(&project, rules, false), BuildStatus::Failed);
    assert!(
        !root.join("a.txt").exists(),
        "a failed command's output is removed"
    );
    assert!(!root.join("b.txt").exists());
    let log = run_log(root);
    assert_eq!(log["status"], "failed");
    assert_eq!(ran(&log), vec!["echo half > a.txt; exit 3"]);
    assert_eq!(log["commands"][0]["status"], "failed");
}

#[test]
fn keep_going_runs_independent_commands() {
    let (_t, project) = project();
    let root = &project.root;
    let rules = vec![
        rule("", "false", &[], &["bad.txt"]),
        rule("", "echo ok > good.txt", &[], &["good.txt"]),
        rule("", "cp bad.txt after.txt", &["bad.txt"], &["after.txt"]),
    ];
    assert_eq!(build(&project, rules, true), BuildStatus::Failed);
    assert!(root.join("good.txt").exists());
    assert!(!root.join("after.txt").exists());
    assert_eq!(ran(&run_log(root)), vec!["echo ok > good.txt", "false"]);
}

/// With one worker the scheduler still queues the next job while the first
/// runs: a failure (of the exit status, or of a check) must keep that queued
/// job from starting, and the next build must run it.
#[test]
fn queued_job_does_not_start_after_a_failure() {
    for failing in ["false", "true"] {
        let (_t, project) = project();
        let root = &project.root;
        let rules = |first: &str| {
            vec![
                rule("", first, &[], &["first.txt"]),
                rule("", "echo a > a.txt", &[], &["a.txt"]),
                rule("", "echo b > b.txt", &[], &["b.txt"]),
            ]
        };
        let graph = Graph::build(rules(failing)).unwrap();
        let req = Request {
            jobs: Some(1),
            ..Default::default()
        };
        let status = exec::run_build(&project, &graph, &req).unwrap();
        assert_eq!(status, BuildStatus::Failed, "{failing}");
        assert_eq!(ran(&run_log(root)), vec![failing], "{failing}");
        assert!(!root.join("a.txt").exists() && !root.join("b.txt").exists());
        let graph = Graph::build(rules("echo ok > first.txt")).unwrap();
        assert_eq!(
            exec::run_build(&project, &graph, &req).unwrap(),
            BuildStatus::Ok
        );
        assert!(root.join("a.txt").exists() && root.join("b.txt").exists());
    }
}

#[test]
fn environment_is_only_the_exported_variables() {
    let (_t, project) = project();
    let root = &project.root;
    // SAFETY (test): set before any thread of this test reads the env.
    std::env::set_var("TUPFS_TEST_EXPORTED", "yes");
    std::env::set_var("TUPFS_TEST_PRIVATE", "secret");
    let mut r = rule(
        "",
        "echo \"$TUPFS_TEST_EXPORTED-$TUPFS_TEST_PRIVATE\" > env.txt",
        &[],
        &["env.txt"],
    );
    r.exports = vec!["TUPFS_TEST_EXPORTED".into()];
    assert_eq!(build(&project, vec![r], false), BuildStatus::Ok);
    assert_eq!(fs::read_to_string(root.join("env.txt")).unwrap(), "yes-\n");
}

#[test]
fn command_that_does_not_write_its_output_fails() {
    let (_t, project) = project();
    let rules = vec![rule("", "true", &[], &["never.txt"])];
    assert_eq!(build(&project, rules, false), BuildStatus::Failed);
    assert_eq!(run_log(&project.root)["commands"][0]["status"], "failed");
}

#[test]
fn bash_flag_uses_pipefail() {
    let (_t, project) = project();
    let mut r = rule("", "false | cat > out.txt", &[], &["out.txt"]);
    r.flags.bash = true;
    assert_eq!(build(&project, vec![r.clone()], false), BuildStatus::Failed);
    r.flags.bash = false;
    assert_eq!(build(&project, vec![r], false), BuildStatus::Ok);
}
