//! A full disk: the project lives on a small tmpfs of the test's own. A
//! command that fills it fails the build with a readable error (no panic),
//! leaves the index usable and the user's files alone, and once space is
//! free the next build succeeds. An index write that fails for lack of space
//! keeps the previous index valid.

mod harness;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

use harness::Project;

/// A tmpfs mounted on a temp dir, unmounted (with everything below it)
/// when dropped, also when the test fails.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// A tmpfs of `size` (as `mount -o size=` takes it), or None when this
    /// process may not mount one (not root): the caller skips visibly.
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::Builder::new()
            .prefix("tupfs-disk-")
            .tempdir()
            .ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        harness::mounts_under(self.path())
            .iter()
            .chain([&self.path().to_path_buf()])
            .filter_map(|m| CString::new(m.as_os_str().as_bytes()).ok())
            .for_each(|c| {
                // SAFETY: a valid NUL-terminated path; no memory effects.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            });
    }
}

macro_rules! small_disk_or_skip {
    ($size:expr) => {
        match SmallDisk::mount($size) {
            Some(disk) => disk,
            None => {
                eprintln!("SKIP: cannot mount a tmpfs here (not root?)");
                return;
            }
        }
    };
}

/// Every source the test wrote is still there with its contents.
fn sources_intact(p: &Project, before: &std::collections::BTreeMap<String, Vec<u8>>) {
    assert_eq!(&p.sources(), before, "a user's file was changed or deleted");
}

fn no_panic(out: &harness::Outcome) {
    if out.output().contains("panicked") {
        out.fail("tupfs panicked");
    }
}

#[test]
fn a_command_that_fills_the_disk_fails_cleanly_and_the_next_build_recovers() {
    require_fuse!();
    let disk = small_disk_or_skip!("6m");
    // FILL waits for a.o (order-only): run side by side, it could fill the
    // disk before gcc wrote a.o, and then gcc would fail too.
    let p = Project::new_in(disk.path())
        .file(
            "Tupfile",
            "\
: a.c |> gcc -c a.c -o a.o |> a.o
: | a.o |> ^ FILL^ head -c 50000000 /dev/zero > %o |> big.bin
",
        )
        .file("a.c", "int a(void) { return 1; }\n")
        .file("notes.txt", "the user's own file\n");
    let sources = p.sources();
    let out = p.build(&["-k"]);
    out.failure();
    no_panic(&out);
    out.says(&["FILL", "No space left on device"]);
    assert!(!p.exists("big.bin"), "a failed command leaves no output");
    sources_intact(&p, &sources);

    // The index is whole: the next build knows a.o is done and retries
    // only the command that failed.
    let out = p.build(&["-k"]);
    out.failure().ran_exactly(&["FILL"]);
    no_panic(&out);
    out.never_says(&["damaged"]);
    sources_intact(&p, &sources);

    // Space again: the build succeeds and is then up to date.
    p.write(
        "Tupfile",
        "\
: a.c |> gcc -c a.c -o a.o |> a.o
: | a.o |> ^ FILL^ head -c 1000 /dev/zero > %o |> big.bin
",
    );
    p.build(&[]).success().ran_exactly(&["FILL"]);
    assert_eq!(std::fs::metadata(p.path("big.bin")).unwrap().len(), 1000);
    p.build(&[]).success().ran_nothing();
}

#[test]
fn an_index_write_without_space_keeps_the_previous_index() {
    require_fuse!();
    let disk = small_disk_or_skip!("8m");
    // The command fills the disk outside the project (untraced) after
    // making its output, so the build's commands succeed (an output is
    // committed by a rename, which needs no space) and then the index
    // write finds no space.
    let filler = disk.path().join("filler");
    let fill = format!(
        "{{ cat /dev/zero > {} 2>/dev/null || true; }}",
        filler.display()
    );
    let p = Project::new_in(disk.path())
        .file("Tupfile", ": foreach *.c |> gcc -c %f -o %o |> %B.o\n")
        .file("a.c", "int a(void) { return 1; }\n")
        .file("b.c", "int b(void) { return 2; }\n");
    p.build(&[]).success();
    let index_before = std::fs::read(p.path(".tupfs/index")).expect("an index");
    p.write(
        "Tupfile",
        &format!(": foreach *.c |> gcc -c %f -o %o && {fill} |> %B.o\n"),
    );
    let sources = p.sources();
    let out = p.build(&["-j1"]);
    no_panic(&out);
    assert!(
        filler.exists(),
        "the command did not fill the disk\n{}",
        out.dump()
    );
    assert!(
        matches!(out.status.code(), Some(c) if c != 0),
        "expected a failure exit code\n{}",
        out.dump()
    );
    // The record is a journal append (DESIGN.md, "The index journal"): it
    // may fit in the journal's last block and succeed (then the run log's
    // write is what fails) or fail (a torn batch, dropped next time); the
    // base is not rewritten either way.
    out.says(&["No space left on device"]);
    sources_intact(&p, &sources);
    let index_now = std::fs::read(p.path(".tupfs/index")).expect("the index is still there");
    assert!(
        index_now == index_before,
        "the previous index must stay as it was"
    );
    let leftovers: Vec<_> = std::fs::read_dir(p.path(".tupfs"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("index") && n != "index" && n != "index.journal")
        .collect();
    assert!(
        leftovers.is_empty(),
        "half-written index left: {leftovers:?}"
    );

    // Space again: the previous index is used (no "damaged" warning) and
    // the commands whose record was lost run again.
    std::fs::remove_file(&filler).expect("free the space");
    p.write("Tupfile", ": foreach *.c |> gcc -c %f -o %o |> %B.o\n");
    p.build(&[])
        .success()
        .never_says(&["damaged"])
        .ran_exactly(&["gcc -c a.c -o a.o", "gcc -c b.c -o b.o"]);
    p.build(&[]).success().ran_nothing();
}
