//! Job start-up: namespaces prepared ahead, `Job::spawn` from the caller's
//! thread (which must come back home), and the fork fallback, all giving
//! each job exactly its own accesses.

mod common;

use std::fs;
use std::process::{Output, Stdio};

use common::{set, spawn_sh, Fixture};
use tupfs_fuse::{Isolation, Job, JobSpec};

fn in_dir(cwd: &str) -> JobSpec {
    JobSpec {
        cwd: cwd.into(),
        ignore: vec![],
    }
}

/// `sh -c script` in `job` through `Job::command` (always forks).
fn command_sh(job: &Job, script: &str) -> Output {
    job.command("/bin/sh")
        .args(["-e", "-c", script])
        .stdin(Stdio::null())
        .output()
        .expect("spawn")
}

/// A job started in a namespace the pool prepared (waiting for the pool's
/// thread if needed), when this machine has namespaces.
fn prepared_job(fx: &Fixture, cwd: &str) -> Job {
    for _ in 0..400 {
        let job = fx.tracer().start_job(&in_dir(cwd)).unwrap();
        if job.prepared() || fx.tracer().isolation() != Isolation::Namespace {
            return job;
        }
        drop(job);
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    panic!("the namespace pool never prepared a namespace");
}

fn this_thread_ns() -> std::path::PathBuf {
    fs::read_link("/proc/thread-self/ns/mnt").expect("own namespace")
}

#[test]
fn spawn_runs_in_the_view_and_the_calling_thread_comes_back() {
    let Some(fx) = Fixture::new() else { return };
    fx.write("sub/x.txt", "x\n");
    let (ns, cwd) = (this_thread_ns(), std::env::current_dir().unwrap());
    let job = prepared_job(&fx, "sub");
    let out = spawn_sh(&job, "cat x.txt > y.txt; pwd; ls -a ..");
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let pwd = stdout.lines().next().unwrap_or_default();
    assert_eq!(pwd, fx.root().join("sub").to_str().unwrap(), "real paths");
    assert!(
        !stdout.contains(".tupfs"),
        "state hidden in the view: {stdout}"
    );
    // This thread is back in its own namespace and directory, where the
    // mount (hidden inside the view) is visible again.
    assert_eq!(this_thread_ns(), ns);
    assert_eq!(std::env::current_dir().unwrap(), cwd);
    assert!(fx.root().join(".tupfs/mnt").is_dir());
    let fin = job.finish().unwrap();
    assert_eq!(fin.log.reads, set(&["sub/x.txt"]));
    assert_eq!(fin.log.writes, set(&["sub/y.txt"]));
}

#[test]
fn jobs_beyond_the_prepared_ones_trace_alike_by_spawn_and_command() {
    let Some(fx) = Fixture::new() else { return };
    for i in 0..6 {
        fx.write(&format!("in{i}.txt"), &format!("{i}\n"));
    }
    // Six jobs alive at once: more than the pool keeps ready, so some run
    // in prepared namespaces and some fall back to their own.
    let jobs: Vec<Job> = (0..6)
        .map(|_| fx.tracer().start_job(&in_dir("")).unwrap())
        .collect();
    for (i, job) in jobs.iter().enumerate() {
        let script = format!("cat in{i}.txt > out{i}.txt; test -e nothere{i} || true");
        let out = if i % 2 == 0 {
            spawn_sh(job, &script)
        } else {
            command_sh(job, &script)
        };
        assert!(out.status.success(), "job {i}: {out:?}");
    }
    for (i, job) in jobs.into_iter().enumerate() {
        let fin = job.finish().unwrap();
        assert_eq!(fin.log.reads, set(&[&format!("in{i}.txt")]), "job {i}");
        assert_eq!(fin.log.writes, set(&[&format!("out{i}.txt")]), "job {i}");
        assert_eq!(fin.log.ghosts, set(&[&format!("nothere{i}")]), "job {i}");
    }
}

#[test]
fn a_program_inside_the_project_is_spawned_and_its_exec_traced() {
    let Some(fx) = Fixture::new() else { return };
    fx.write("tool.sh", "#!/bin/sh\necho made > made.txt\n");
    let tool = fx.root().join("tool.sh");
    let mut perms = fs::metadata(&tool).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    fs::set_permissions(&tool, perms).unwrap();
    let job = fx.tracer().start_job(&in_dir("")).unwrap();
    let status = job
        .spawn(tool.to_str().unwrap(), |c| {
            c.stdin(Stdio::null());
        })
        .unwrap()
        .wait()
        .unwrap();
    assert!(status.success());
    let fin = job.finish().unwrap();
    assert_eq!(fin.log.reads, set(&["tool.sh"]));
    assert_eq!(fin.log.writes, set(&["made.txt"]));
}

#[test]
fn a_missing_working_directory_is_named_in_the_error() {
    let Some(fx) = Fixture::new() else { return };
    for job in [prepared_job(&fx, "no/such/dir"), fx.job("no/such/dir")] {
        let err = job
            .spawn("/bin/sh", |c| {
                c.args(["-c", "true"]);
            })
            .expect_err("no such directory");
        assert!(err.to_string().contains("no/such/dir"), "{err}");
    }
}
