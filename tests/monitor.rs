//! `tupfs monitor` with real inotify and real builds: every build after
//! the first takes its changes from the monitor (the run log's `changes`
//! says so) and runs exactly what the edit requires; a monitor that cannot
//! be trusted (overflowed, killed) means a full scan, never a wrong build.
//! Each test's monitor is stopped by a drop guard ([`Monitor`]), also when
//! the test fails.

mod harness;

use std::fs;
use std::process::Command;
use std::time::Duration;

use harness::{c_file, wait_until, Monitor, Project, CC_AND_LINK};

const LINK_ABC: &str = "gcc a.o b.o c.o -o app";

/// a.c and c.c include a.h; b.c includes b.h; c.c has main.
fn small_project() -> Project {
    Project::new()
        .file("Tupfile", CC_AND_LINK)
        .file("a.h", "#define A 1\n")
        .file("b.h", "#define B 2\n")
        .file("a.c", &c_file("fa", &["a.h"], "A"))
        .file("b.c", &c_file("fb", &["b.h"], "B"))
        .file(
            "c.c",
            "#include \"a.h\"\nint main(void) { return A - 1; }\n",
        )
}

/// The run log's `changes` line of the last build.
fn changes(p: &Project) -> String {
    let text = fs::read_to_string(p.path(".tupfs/log/last.json")).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    v["changes"].as_str().unwrap_or("").to_string()
}

/// Assert the last build took its changes from the monitor.
fn from_monitor(p: &Project) {
    let note = changes(p);
    assert!(
        note.starts_with("changes from the monitor"),
        "the build did not use the monitor: {note:?}"
    );
}

/// Assert the last build scanned, saying why (containing `why`).
fn scanned(p: &Project, why: &str) {
    let note = changes(p);
    assert!(
        note.starts_with("full scan") && note.contains(why),
        "expected a full scan because {why:?}, the run log says {note:?}"
    );
}

/// A started monitor and a first build (a full scan: no clock yet), then a
/// no-op through the monitor.
fn monitored(p: &Project) -> Monitor {
    let m = Monitor::start(p, &[]);
    p.build(&[]).success();
    p.build(&[]).success().ran_nothing();
    from_monitor(p);
    m
}

#[test]
fn edits_creates_deletes_and_renames_of_sources_and_headers() {
    require_fuse!();
    let p = small_project();
    let _m = monitored(&p);
    p.write("a.h", "#define A 3\n");
    p.build(&[])
        .success()
        .ran_exactly(&["gcc -c a.c -o a.o", "gcc -c c.c -o c.o", LINK_ABC]);
    from_monitor(&p);
    p.write("b.c", &c_file("fb", &["b.h"], "B + 1"));
    p.build(&[])
        .success()
        .ran_exactly(&["gcc -c b.c -o b.o", LINK_ABC]);
    from_monitor(&p);
    p.write("d.c", &c_file("fd", &[], "4"));
    p.build(&[])
        .success()
        .ran_exactly(&["gcc -c d.c -o d.o", "gcc a.o b.o c.o d.o -o app"]);
    from_monitor(&p);
    p.remove("d.c");
    p.build(&[]).success().ran_exactly(&[LINK_ABC]);
    from_monitor(&p);
    assert!(!p.exists("d.o"), "the stale object is removed");
    fs::rename(p.path("b.c"), p.path("e.c")).unwrap();
    p.build(&[])
        .success()
        .ran_exactly(&["gcc -c e.c -o e.o", "gcc a.o c.o e.o -o app"]);
    from_monitor(&p);
    // A header shadowing: b.h renamed away makes e.c fail; back, it builds.
    fs::rename(p.path("b.h"), p.path("b.h.away")).unwrap();
    p.build(&[]).failure();
    fs::rename(p.path("b.h.away"), p.path("b.h")).unwrap();
    p.build(&[]).success().ran_including(&["gcc -c e.c -o e.o"]);
    from_monitor(&p);
    p.build(&[]).success().ran_nothing();
    from_monitor(&p);
}

#[test]
fn a_user_editing_or_deleting_an_output_is_seen() {
    require_fuse!();
    let p = small_project();
    let _m = monitored(&p);
    fs::remove_file(p.path("app")).unwrap();
    p.build(&[]).success().ran_exactly(&[LINK_ABC]);
    from_monitor(&p);
    fs::write(p.path("b.o"), "not an object").unwrap();
    p.build(&[])
        .success()
        .ran_exactly(&["gcc -c b.c -o b.o", LINK_ABC]);
    from_monitor(&p);
    p.build(&[]).success().ran_nothing();
    from_monitor(&p);
}

#[test]
fn an_editors_atomic_save_is_seen() {
    require_fuse!();
    let p = small_project();
    let _m = monitored(&p);
    // Write a temp file and rename it over the header, as editors do.
    let tmp = p.path(".a.h.swp");
    fs::write(&tmp, "#define A 5\n").unwrap();
    fs::rename(&tmp, p.path("a.h")).unwrap();
    p.build(&[])
        .success()
        .ran_exactly(&["gcc -c a.c -o a.o", "gcc -c c.c -o c.o", LINK_ABC]);
    from_monitor(&p);
}

#[test]
fn a_new_directory_with_a_tupfile_and_sources_in_one_burst() {
    require_fuse!();
    let p = small_project();
    let _m = monitored(&p);
    fs::create_dir_all(p.path("sub/deeper")).unwrap();
    fs::write(
        p.path("sub/Tupfile"),
        ": foreach *.c |> gcc -c %f -o %o |> %B.o\n",
    )
    .unwrap();
    fs::write(p.path("sub/x.c"), "int x(void) { return 1; }\n").unwrap();
    fs::write(
        p.path("sub/deeper/Tupfile"),
        ": |> echo hi > %o |> hi.txt\n",
    )
    .unwrap();
    p.build(&[])
        .success()
        .ran_exactly(&["gcc -c x.c -o x.o", "echo hi > hi.txt"]);
    from_monitor(&p);
    fs::write(p.path("sub/y.c"), "int y(void) { return 2; }\n").unwrap();
    p.build(&[]).success().ran_exactly(&["gcc -c y.c -o y.o"]);
    from_monitor(&p);
    // A directory renamed: its rules move with it. (The outputs that moved
    // with it are files tupfs did not make at their new paths, which a
    // build refuses to replace: removed, as its message says.)
    let moved = |dir: &str| {
        for o in ["x.o", "y.o", "deeper/hi.txt"] {
            let _ = fs::remove_file(p.path(&format!("{dir}/{o}")));
        }
    };
    fs::rename(p.path("sub"), p.path("sub2")).unwrap();
    moved("sub2");
    p.build(&[]).success().ran_exactly(&[
        "gcc -c x.c -o x.o",
        "gcc -c y.c -o y.o",
        "echo hi > hi.txt",
    ]);
    from_monitor(&p);
    assert!(p.exists("sub2/x.o") && p.exists("sub2/deeper/hi.txt"));
    fs::rename(p.path("sub2"), p.path("sub")).unwrap();
    moved("sub");
    p.build(&[]).success().ran_exactly(&[
        "gcc -c x.c -o x.o",
        "gcc -c y.c -o y.o",
        "echo hi > hi.txt",
    ]);
    from_monitor(&p);
    fs::remove_dir_all(p.path("sub")).unwrap();
    p.build(&[]).success().ran_nothing();
    from_monitor(&p);
    assert!(
        !p.exists("sub"),
        "stale outputs and their directory removed"
    );
}

#[test]
fn a_build_right_after_a_save_sees_it() {
    require_fuse!();
    let p = small_project();
    let _m = monitored(&p);
    for i in 0..10 {
        // No pause between the save and the build: the cookie orders them.
        fs::write(p.path("b.c"), c_file("fb", &["b.h"], &format!("{i} + 100"))).unwrap();
        let b = p.build(&[]);
        b.success().ran_exactly(&["gcc -c b.c -o b.o", LINK_ABC]);
        from_monitor(&p);
    }
}

#[test]
fn a_second_monitor_says_one_is_running() {
    require_fuse!();
    let p = small_project();
    let m = Monitor::start(&p, &[]);
    let second = p.run(&["monitor"]);
    second
        .failure()
        .says(&["already running", &m.pid.to_string()]);
    m.stop(&p).success().says(&["monitor stopped"]);
    assert!(!p.exists(".tupfs/monitor.sock"), "stop removes the socket");
    p.build(&[]).success();
    scanned(&p, "no monitor running");
}

#[test]
fn sigterm_stops_the_monitor_cleanly() {
    require_fuse!();
    let p = small_project();
    let m = Monitor::start(&p, &[]);
    m.signal(libc::SIGTERM);
    assert!(wait_until(Duration::from_secs(10), || !m.alive()));
    assert!(!p.exists(".tupfs/monitor.sock"));
    Monitor::start(&p, &[]);
}

#[test]
fn a_monitor_killed_between_an_edit_and_a_build() {
    require_fuse!();
    let p = small_project();
    let m = monitored(&p);
    p.write("a.h", "#define A 7\n");
    m.signal(libc::SIGKILL);
    assert!(wait_until(Duration::from_secs(10), || !m.alive()));
    p.build(&[])
        .success()
        .ran_exactly(&["gcc -c a.c -o a.o", "gcc -c c.c -o c.o", LINK_ABC]);
    scanned(&p, "did not answer");
    // The killed one leaves nothing that stops the next.
    let _again = Monitor::start(&p, &[]);
    p.write("b.h", "#define B 8\n");
    p.build(&[])
        .success()
        .ran_exactly(&["gcc -c b.c -o b.o", LINK_ABC]);
    scanned(&p, "");
    p.build(&[]).success().ran_nothing();
    from_monitor(&p);
}

#[test]
fn edits_made_while_no_monitor_ran_are_caught_by_the_next() {
    require_fuse!();
    let p = small_project();
    let m = monitored(&p);
    m.stop(&p).success();
    p.write("b.h", "#define B 9\n");
    let _m = Monitor::start(&p, &[]);
    p.build(&[])
        .success()
        .ran_exactly(&["gcc -c b.c -o b.o", LINK_ABC]);
    p.build(&[]).success().ran_nothing();
    from_monitor(&p);
}

/// `fs.inotify.max_queued_events`: the queue length past which the kernel
/// drops events and says IN_Q_OVERFLOW.
fn max_queued_events() -> usize {
    fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(16384)
}

#[test]
fn an_overflowed_queue_means_a_full_scan_then_the_monitor_again() {
    require_fuse!();
    let p = small_project();
    let m = monitored(&p);
    m.signal(libc::SIGSTOP);
    let stat = || fs::read_to_string(format!("/proc/{}/stat", m.pid)).unwrap_or_default();
    assert!(wait_until(Duration::from_secs(10), || stat().contains(") T ")));
    // Alternate two files so the kernel cannot merge consecutive events.
    let (x, y) = (p.path("x.txt"), p.path("y.txt"));
    fs::write(&x, "").unwrap();
    fs::write(&y, "").unwrap();
    let base = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000);
    for i in 0..max_queued_events() / 2 + 100 {
        for f in [&x, &y] {
            let t = base + Duration::from_secs(i as u64);
            fs::File::options()
                .write(true)
                .open(f)
                .unwrap()
                .set_modified(t)
                .unwrap();
        }
    }
    p.write("a.h", "#define A 11\n"); // lost in the overflow
    m.signal(libc::SIGCONT);
    p.build(&[])
        .success()
        .ran_exactly(&["gcc -c a.c -o a.o", "gcc -c c.c -o c.o", LINK_ABC]);
    assert!(m.log().contains("overflowed"), "log: {}", m.log());
    scanned(&p, "");
    p.write("b.h", "#define B 12\n");
    p.build(&[])
        .success()
        .ran_exactly(&["gcc -c b.c -o b.o", LINK_ABC]);
    from_monitor(&p);
}

/// `git` in the project, quiet; panics on failure.
fn git(p: &Project, args: &[&str]) {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "advice.detachedHead=false",
        ])
        .args(args)
        .current_dir(p.root())
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The outputs a build of the copy rules must leave: every `dN/*.txt` as
/// `dN/*.out`, and each directory's `all.cat`.
fn expected_outputs(p: &Project) -> Vec<(String, String)> {
    let mut want = Vec::new();
    for d in 0..10 {
        let dir = p.path(&format!("d{d}"));
        let mut names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".txt"))
            .collect();
        names.sort();
        let mut all = String::new();
        for n in &names {
            let text = fs::read_to_string(dir.join(n)).unwrap();
            all.push_str(&text);
            want.push((format!("d{d}/{}", n.replace(".txt", ".out")), text));
        }
        want.push((format!("d{d}/all.cat"), all));
    }
    want
}

#[test]
fn a_git_checkout_between_two_branches_of_500_files() {
    require_fuse!();
    if Command::new("git").arg("--version").output().is_err() {
        eprintln!("SKIP: a_git_checkout_between_two_branches_of_500_files: no git");
        return;
    }
    let p = Project::new().file(".gitignore", "*.out\n*.cat\n.tupfs/\n");
    for d in 0..10 {
        p.write(
            &format!("d{d}/Tupfile"),
            ": foreach *.txt |> cp %f %o |> %B.out\n: *.txt |> cat %f > %o |> all.cat\n",
        );
        for f in 0..50 {
            p.write(&format!("d{d}/f{f}.txt"), &format!("{d} {f} main\n"));
        }
    }
    git(&p, &["init", "-q", "-b", "main"]);
    git(&p, &["add", "-A"]);
    git(&p, &["commit", "-q", "-m", "main"]);
    git(&p, &["checkout", "-q", "-b", "other"]);
    for d in 0..10 {
        for f in 0..10 {
            p.write(&format!("d{d}/f{f}.txt"), &format!("{d} {f} other\n"));
        }
        p.remove(&format!("d{d}/f49.txt"));
        p.write(&format!("d{d}/new.txt"), "new\n");
    }
    git(&p, &["add", "-A"]);
    git(&p, &["commit", "-q", "-m", "other"]);
    let m = Monitor::start(&p, &[]);
    p.build(&[]).success();
    for branch in ["main", "other", "main"] {
        git(&p, &["checkout", "-q", branch]);
        let b = p.build(&[]);
        b.success();
        from_monitor(&p);
        // 10 copies changed, one added or deleted, and the cat, per dir.
        assert!(b.ran().len() >= 100 && b.ran().len() <= 130, "{}", b.dump());
        for (path, text) in expected_outputs(&p) {
            assert_eq!(p.read(&path), text, "{path} after checkout of {branch}");
        }
        p.build(&[]).success().ran_nothing();
    }
    // The index is what the disk says: a full scan finds nothing to do.
    m.stop(&p).success();
    p.build(&[]).success().ran_nothing();
}

/// Wait until the monitor's log holds `count` lines containing `text`.
fn log_lines(m: &Monitor, text: &str, count: usize) -> bool {
    wait_until(Duration::from_secs(60), || {
        m.log().lines().filter(|l| l.contains(text)).count() >= count
    })
}

#[test]
fn autoupdate_rebuilds_on_save_and_does_not_loop_on_failure() {
    require_fuse!();
    let p = small_project();
    let m = Monitor::start(&p, &["-a", "-j2"]);
    assert!(log_lines(&m, "build done", 1), "first build: {}", m.log());
    assert!(p.exists("app"));
    p.write("b.c", &c_file("fb", &["b.h"], "B + 2"));
    assert!(log_lines(&m, "build done", 2), "on save: {}", m.log());
    assert!(m.log().contains("building (b.c)"), "{}", m.log());
    p.write("b.c", "this is not C\n");
    assert!(log_lines(&m, "build failed", 1), "{}", m.log());
    // Neither the failed build nor its outputs start another one.
    std::thread::sleep(Duration::from_millis(1500));
    let builds = m.log().matches("tupfs monitor: building").count();
    assert_eq!(builds, 3, "no loop after a failure: {}", m.log());
    p.write("b.c", &c_file("fb", &["b.h"], "B + 3"));
    assert!(log_lines(&m, "build done", 3), "fixed: {}", m.log());
    std::thread::sleep(Duration::from_millis(1500));
    let builds = m.log().matches("tupfs monitor: building").count();
    assert_eq!(
        builds,
        4,
        "the build's own outputs start nothing: {}",
        m.log()
    );
}

#[test]
fn tups_spelling_monitor_f_a_j2_in_the_foreground() {
    require_fuse!();
    let p = small_project();
    let run = p.spawn(&["monitor", "-f", "-a", "-j2"]);
    let m = Monitor::attach(&p);
    // The build's run log is written when it ends.
    assert!(wait_until(Duration::from_secs(60), || p.exists(".tupfs/log/last.json")));
    assert!(p.exists("app"));
    m.stop(&p).success();
    run.wait()
        .success()
        .says(&["building (the monitor started)", "stopping"]);
}

/// The monitor's no-op ("nothing may have changed" and the index says
/// every command is up to date) takes the short path: no scan, no
/// checksum, no graph. `TUPFS_LOG=debug` names the path taken.
fn short_path(p: &Project) -> bool {
    p.set_env("TUPFS_LOG", "debug");
    let out = p.build(&[]);
    out.success();
    p.set_env("TUPFS_LOG", "warn");
    let proven = out.stderr.contains("monitor no-op: proven true");
    if !proven {
        let lines = out
            .stderr
            .lines()
            .filter(|l| !l.contains("DEBUG tupfs::exec"));
        eprintln!(
            "the full path:\n{}",
            lines.take(12).collect::<Vec<_>>().join("\n")
        );
    }
    proven
}

#[test]
fn the_monitors_no_op_takes_the_short_path_only_when_it_proves_it() {
    require_fuse!();
    let p = small_project();
    let _m = monitored(&p);
    assert!(short_path(&p), "a plain no-op with a live monitor");
    p.build(&[]).success().ran_nothing();
    from_monitor(&p);
    p.write("b.h", "#define B 5\n");
    p.build(&[])
        .success()
        .ran_exactly(&["gcc -c b.c -o b.o", LINK_ABC]);
    assert!(
        !short_path(&p),
        "the outputs that build wrote are judged once"
    );
    assert!(short_path(&p), "then short again");
}

#[test]
fn a_recorded_file_the_monitor_does_not_watch_is_always_looked_at() {
    require_fuse!();
    let head = ": |> cat .git/HEAD > head.txt |> head.txt\n";
    let p = small_project()
        .file("Tupfile", &format!("{CC_AND_LINK}{head}"))
        .file(".git/HEAD", "ref: refs/heads/one\n");
    let _m = monitored(&p);
    assert!(!short_path(&p), "the index records a file under .git");
    // The monitor cannot say it is unchanged, so the build looks, and
    // re-runs its reader.
    p.write(".git/HEAD", "ref: refs/heads/two\n");
    p.build(&[])
        .success()
        .ran_exactly(&["cat .git/HEAD > head.txt"]);
    assert_eq!(p.read("head.txt"), "ref: refs/heads/two\n");
}

#[test]
fn the_monitors_no_op_still_sees_an_exported_variable_change() {
    require_fuse!();
    let tupfile = format!("{CC_AND_LINK}export TUPFS_T_V\n: |> echo $TUPFS_T_V > v.txt |> v.txt\n");
    let p = small_project().file("Tupfile", &tupfile);
    p.set_env("TUPFS_T_V", "one");
    let _m = monitored(&p);
    assert!(short_path(&p));
    p.set_env("TUPFS_T_V", "two");
    p.build(&[])
        .success()
        .ran_exactly(&["echo $TUPFS_T_V > v.txt"]);
    assert_eq!(p.read("v.txt"), "two\n");
    p.build(&[]).success().ran_nothing();
    assert!(
        short_path(&p),
        "after the build that re-ran it, short again"
    );
}

/// `^t` rules keep the monitor's no-op on the full path (a transient
/// output a killed build left must be deleted); the index's flag says so
/// whether the last build wrote a new base or only a journal batch, and
/// stops saying so once the rule is gone.
#[test]
fn transient_rules_keep_the_no_op_on_the_full_path() {
    require_fuse!();
    let with_t = CC_AND_LINK.replacen("|> gcc -c", "|> ^t CC %f^ gcc -c", 1);
    assert_ne!(with_t, CC_AND_LINK, "the Tupfile changed shape");
    let p = small_project().file("Tupfile", &with_t);
    let _m = monitored(&p);
    assert!(!short_path(&p), "after the first build (a new base)");
    p.write("b.h", "#define B 5\n");
    p.build(&[]).success();
    p.build(&[]).success().ran_nothing();
    assert!(
        !short_path(&p),
        "after an incremental build (a journal batch)"
    );
    p.write("Tupfile", CC_AND_LINK);
    p.build(&[]).success();
    p.build(&[]).success().ran_nothing();
    assert!(short_path(&p), "the ^t rule is gone");
}
