//! The first build after one that ran commands is the no-op shortcut
//! (DESIGN.md, "The no-op shortcut" and "Re-taken records"): the records
//! the build's own writes left untrustworthy (racy outputs, directories
//! that received outputs) are taken again before the index is written,
//! but only when the disk provably says what they said. So what anyone
//! else does while the build runs, or right after it, is still seen.

mod harness;

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use harness::{wait_until, Mode, Project};

/// Assert that the next build (in `mode`) is the shortcut: nothing parsed
/// or run, the index left as it was.
#[track_caller]
fn assert_shortcut(p: &Project, mode: Mode) {
    let before = p.index_identity();
    let b = p.build_in(mode, &[]);
    b.success().ran_nothing();
    assert_eq!(b.log().parsed, Some(0), "{mode:?}: parsed\n{}", b.dump());
    let after = p.index_identity();
    assert_eq!(after, before, "{mode:?}: not the shortcut\n{}", b.dump());
}

#[test]
fn the_first_build_after_one_that_ran_is_the_no_op_shortcut() {
    require_fuse!();
    for mode in Mode::ALL {
        let p = Project::new()
            .file("src/a.c", "int a(void) { return 1; }\n")
            .file("src/b.c", "int b(void) { return 2; }\n")
            .file(
                "src/Tupfile",
                ": foreach *.c |> gcc -c %f -o %o |> %B.o\n: *.o |> cat %f > %o |> all.bin\n",
            );
        p.build_in(mode, &[]).success();
        assert_shortcut(&p, mode);
        p.write("src/a.c", "int a(void) { return 3; }\n");
        p.build_in(mode, &[])
            .success()
            .ran_exactly(&["gcc -c a.c -o a.o", "cat a.o b.o > all.bin"]);
        assert_shortcut(&p, mode);
    }
}

/// A job held until the test says go: it makes `ready` (outside the
/// project) when it starts, then waits for `go`.
struct Held {
    ready: PathBuf,
    go: PathBuf,
    /// The shell text to put before the job's command.
    wait: String,
}

impl Held {
    fn new(p: &Project) -> Held {
        let (go, wait) = p.go_signal();
        let ready = p.outside("ready");
        let wait = format!("touch {} && {wait} && ", ready.display());
        fs::write(&go, "").expect("go");
        Held { ready, go, wait }
    }

    /// Hold the next build's job: no `ready` yet, no `go`.
    fn arm(&self) {
        let _ = fs::remove_file(&self.ready);
        fs::remove_file(&self.go).expect("remove go");
    }

    /// Wait until the job is running, do `meanwhile`, then let it go.
    fn meanwhile(&self, what: impl FnOnce()) {
        let started = wait_until(Duration::from_secs(60), || self.ready.exists());
        assert!(started, "the held job never started");
        what();
        fs::write(&self.go, "").expect("go");
    }
}

/// `src` with a globbed rule held by `held`, and a rule that looks for
/// the hidden file `.config` (a ghost while it is absent).
fn with_a_held_glob_and_a_ghost(held: impl FnOnce(&Project) -> Held) -> (Project, Held) {
    let p = Project::new().file("src/s.txt", "one\n");
    let held = held(&p);
    let tupfile = format!(
        ": foreach *.txt |> ^ held %f^ {}cp %f %o |> %B.out\n\
         : |> if [ -e .config ]; then cat .config; else echo none; fi > %o |> c.out\n",
        held.wait
    );
    p.write("src/Tupfile", &tupfile);
    p.build(&[]).success();
    assert_eq!(p.read("src/c.out"), "none\n");
    (p, held)
}

const LOOKS_FOR_CONFIG: &str = "if [ -e .config ]; then cat .config; else echo none; fi > c.out";

#[test]
fn a_ghost_created_while_the_build_runs_is_seen_by_the_next_build() {
    require_fuse!();
    let (p, held) = with_a_held_glob_and_a_ghost(Held::new);
    held.arm();
    p.write("src/s.txt", "two\n");
    let build = p.spawn(&["build"]);
    // Hidden: the tree's listing does not see it; the ghost's record does.
    held.meanwhile(|| p.write("src/.config", "configured\n"));
    build.wait().success().ran_exactly(&["held s.txt"]);
    let next = p.build(&[]);
    next.success().ran_exactly(&[LOOKS_FOR_CONFIG]);
    assert_eq!(p.read("src/c.out"), "configured\n");
}

#[test]
fn a_source_created_while_the_build_runs_is_seen_by_the_next_build() {
    require_fuse!();
    let (p, held) = with_a_held_glob_and_a_ghost(Held::new);
    held.arm();
    p.write("src/s.txt", "two\n");
    let build = p.spawn(&["build"]);
    held.meanwhile(|| p.write("src/t.txt", "three\n"));
    build.wait().success().ran_exactly(&["held s.txt"]);
    p.build(&[]).success().ran_exactly(&["held t.txt"]);
    assert_eq!(p.read("src/t.out"), "three\n");
}

/// Rewrite `rel` in place with other bytes of the same size and put its
/// mtime back: what a write in the same clock tick (or, on a file system
/// with 1-second timestamps, the same second) leaves.
fn edit_keeping_metadata(p: &Project, rel: &str) {
    let path = p.path(rel);
    let mtime = fs::metadata(&path)
        .and_then(|m| m.modified())
        .expect("stat");
    let old = fs::read(&path).expect("read");
    let other: Vec<u8> = old.iter().map(|b| b ^ 0x20).collect();
    let f = fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open");
    f.write_all_at(&other, 0).expect("write");
    f.set_modified(mtime).expect("set mtime");
}

/// A command that writes `a.out` and stamps it `ahead` (Python) from now:
/// its record is racy when the build commits it.
fn stamped(ahead: &str) -> String {
    format!(
        ": a.txt |> ^ stamp^ cp a.txt a.out && python3 -c \"import os, time; t = {ahead}; \
         os.utime('a.out', (t, t))\" |> a.out\n"
    )
}

#[test]
fn an_output_edited_in_the_same_second_right_after_the_build_is_rebuilt() {
    require_fuse!();
    // A whole-second mtime in the future: as a 1-second file system stamps
    // a file written in a second that has not ended when the build does.
    let p = Project::new()
        .file("a.txt", "contents\n")
        .file("Tupfile", &stamped("int(time.time()) + 2"));
    p.build(&[]).success();
    edit_keeping_metadata(&p, "a.out");
    p.build(&[]).success().ran_exactly(&["stamp"]);
    assert_eq!(p.read("a.out"), "contents\n");
}

#[test]
fn an_output_edited_in_its_clock_tick_while_the_build_runs_is_rebuilt() {
    require_fuse!();
    let p = Project::new()
        .file("a.txt", "contents\n")
        .file("s.txt", "one\n");
    let held = Held::new(&p);
    let slow = format!(": s.txt | a.out |> {}cp s.txt s.out |> s.out\n", held.wait);
    // 0.3 s ahead: racy when committed, settled by the end of the build.
    p.write("Tupfile", &(stamped("time.time() + 0.3") + &slow));
    p.build(&[]).success();
    held.arm();
    p.write("a.txt", "contents 2\n");
    p.write("s.txt", "two\n");
    let build = p.spawn(&["build"]);
    held.meanwhile(|| {
        // The slow job runs after a.out is committed (order-only input).
        edit_keeping_metadata(&p, "a.out");
        let mtime = p.mtime("a.out");
        let past = wait_until(Duration::from_secs(10), || {
            SystemTime::now() > mtime + Duration::from_millis(100)
        });
        assert!(past);
    });
    build.wait().success();
    p.build(&[]).success().ran_exactly(&["stamp"]);
    assert_eq!(p.read("a.out"), "contents 2\n");
}
