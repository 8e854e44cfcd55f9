//! The tracing file system dies under a running build (its FUSE connection
//! is aborted through /sys/fs/fuse/connections, as a crashed daemon or an
//! admin's `fusermount -u -z` would leave it): the build must end with an
//! error instead of hanging or panicking, and the next build must recover
//! to outputs identical to a clean build's, with no mount left behind.

mod harness;

use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::{mounts_under, wait_until, Project};

/// The FUSE connection number of the mount at `mountpoint` (the minor of
/// its device, from /proc/self/mountinfo: no call into the mount itself).
fn fuse_connection(mountpoint: &Path) -> Option<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        let (dev, point) = (fields.get(2)?, fields.get(4)?);
        (Path::new(point) == mountpoint).then(|| dev.split(':').nth(1).map(str::to_string))?
    })
}

/// Whether a process (a job) has `token` in its command line.
fn running_with(token: &str) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|e| {
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        String::from_utf8_lossy(&cmdline).contains(token)
    })
}

/// A project with a job that waits for `go` (outside the project) and
/// others around it.
fn blocking_project() -> (Project, PathBuf) {
    let p = Project::new();
    let (go, wait) = p.go_signal();
    let slow = format!("{wait}; echo slow > slow.txt");
    let p = p
        .file(
            "Tupfile",
            &format!(
                ": foreach *.c |> gcc -c %f -o %o |> %B.o\n\
                 : |> {slow} |> slow.txt\n\
                 : slow.txt *.o |> gcc *.o -o %o |> app\n"
            ),
        )
        .file("a.c", "int a(void) { return 1; }\n")
        .file("main.c", "int main(void) { return 0; }\n");
    (p, go)
}

#[test]
fn the_fuse_connection_dies_mid_build_and_the_next_build_recovers() {
    require_fuse!();
    let (p, go) = blocking_project();
    let run = p.spawn(&["build", "-j2"]);
    let token = go.display().to_string();
    let blocked = wait_until(Duration::from_secs(60), || running_with(&token));
    let mount = mounts_under(p.root()).into_iter().next();
    let conn = mount.as_deref().and_then(fuse_connection);
    let aborted = conn.as_ref().is_some_and(|c| {
        std::fs::write(format!("/sys/fs/fuse/connections/{c}/abort"), "1").is_ok()
    });
    std::fs::write(&go, "").expect("write go");
    let out = run.wait();
    if !blocked || !aborted {
        out.fail(&format!(
            "could not abort the build's mount (blocked: {blocked}, mount {mount:?}, connection {conn:?})"
        ));
    }
    if out.status.success() || out.output().contains("panicked") {
        out.fail("a build whose file system died must fail cleanly");
    }
    wait_until(Duration::from_secs(10), || !running_with(&token));

    let again = p.build(&[]);
    again.success();
    assert!(mounts_under(p.root()).is_empty(), "no mount left behind");
    p.build(&[]).success().ran_nothing();
    let clean = p.clean_copy();
    clean.build(&[]).success();
    assert_eq!(p.outputs(), clean.outputs(), "recovered build differs");
}

/// Names left in `.tupfs/tmp` (staged writes of jobs, captures).
fn scratch_entries(p: &Project) -> Vec<String> {
    std::fs::read_dir(p.path(".tupfs/tmp"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_build_with_nothing_to_do_still_clears_what_a_killed_build_left() {
    require_fuse!();
    let p = Project::new();
    let go = p.outside("go");
    let slow = format!(
        "echo half > %o; while [ ! -e {} ]; do sleep 0.05; done; cat slow.in > %o",
        go.display()
    );
    let p = p
        .file(
            "Tupfile",
            &format!(": |> echo fast > %o |> fast.txt\n: slow.in |> {slow} |> slow.txt\n"),
        )
        .file("slow.in", "1\n");
    std::fs::write(&go, "").expect("write go");
    p.build(&[]).success();
    std::fs::remove_file(&go).expect("remove go");

    // Killed while its job is blocked: a dead mount and staged writes.
    p.write("slow.in", "2\n");
    let run = p.spawn(&["build"]);
    let token = go.display().to_string();
    let blocked = wait_until(Duration::from_secs(60), || running_with(&token));
    run.signal(libc::SIGKILL);
    let killed = run.wait();
    if !blocked {
        killed.fail("the slow job never started");
    }
    std::fs::write(&go, "").expect("write go");
    wait_until(Duration::from_secs(10), || !running_with(&token));

    // Only the up-to-date target: nothing runs, and nothing is left.
    p.build(&["fast.txt"]).success().ran_nothing();
    assert!(mounts_under(p.root()).is_empty(), "dead mount left");
    assert!(scratch_entries(&p).is_empty(), "{:?}", scratch_entries(&p));
    p.build(&[])
        .success()
        .ran_exactly(&[&slow.replace("%o", "slow.txt")]);
    assert_eq!(p.read("slow.txt"), "2\n");
    p.build(&[]).success().ran_nothing();
}
