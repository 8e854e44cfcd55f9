//! A build killed with SIGKILL leaves a dead mount (ENOTCONN) and staged
//! files behind; the next mount must clear both and work.

mod common;

use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use common::{config, fuse_available, set, Fixture};
use tupfs_fuse::{JobSpec, Tracer};

/// The jobs' scratch directories under `root`'s `.tupfs/tmp` (job numbers
/// depend on which namespaces the pool had prepared).
fn staged_dirs(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(root.join(".tupfs/tmp"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("job-"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The error `statfs(mnt)` gives once the kernel has finished tearing the
/// killed daemon's connection down: until then (it does so from a work
/// queue with FUSE over io_uring) a request can end with ECONNABORTED or
/// ECANCELED instead (what `clear_dead_mount` also counts as dead).
fn settled_statfs_error(mnt: &std::path::Path) -> std::io::Error {
    let c = std::ffi::CString::new(mnt.as_os_str().as_encoded_bytes()).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        // SAFETY: statfs fills the zeroed struct; `c` is a valid C string.
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::statfs(c.as_ptr(), &mut st) }, -1);
        let err = std::io::Error::last_os_error();
        let tearing_down = matches!(
            err.raw_os_error(),
            Some(libc::ECONNABORTED | libc::ECANCELED)
        );
        if !tearing_down || std::time::Instant::now() > deadline {
            return err;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

const HOLD_VAR: &str = "TUPFS_FUSE_TEST_HOLD_MOUNT";

/// Not a test on its own: when re-executed with `HOLD_VAR` set, mounts the
/// given project, leaves a staged write, says MOUNTED and waits to be killed.
#[test]
fn helper_hold_mount() {
    let Ok(root) = std::env::var(HOLD_VAR) else {
        return;
    };
    let tracer = Tracer::mount(config(root.as_ref())).expect("helper mount");
    let job = tracer.start_job(&JobSpec::default()).expect("job");
    let status = job
        .command("/bin/sh")
        .args(["-c", "echo staged > left.txt"])
        .status()
        .expect("spawn");
    assert!(status.success());
    println!("MOUNTED");
    std::thread::sleep(Duration::from_secs(60));
    drop((job, tracer));
}

#[test]
fn killed_daemon_leaves_nothing_that_breaks_the_next_mount() {
    if !fuse_available() {
        return;
    }
    let (dir, root, _guard) = common::kill_test_root();
    let mnt = root.join(".tupfs/mnt");
    std::fs::write(root.join("a.txt"), "a\n").unwrap();

    let (mut helper, rx) = common::spawn_helper("helper_hold_mount", HOLD_VAR, &root, "MOUNTED");
    let ready = rx.recv_timeout(Duration::from_secs(60));
    helper.kill().unwrap(); // SIGKILL: no destructor runs
    helper.wait().unwrap();
    ready.expect("helper mounted");

    let dead = settled_statfs_error(&mnt);
    assert_eq!(dead.raw_os_error(), Some(libc::ENOTCONN), "{dead}");
    assert!(!staged_dirs(&root).is_empty(), "staged write left behind");

    let fx = Fixture {
        tracer: Some(Tracer::mount(config(&root)).expect("mount over a dead mount")),
        dir,
    };
    assert!(staged_dirs(&root).is_empty(), "stale staging cleared");
    let fin = fx.run_ok("cat a.txt > b.txt");
    assert_eq!(fin.log.reads, set(&["a.txt"]));
    assert!(!root.join("left.txt").exists());
    let mut fx = fx;
    fx.tracer.take().unwrap().unmount().unwrap();
    let (here, above) = (
        std::fs::metadata(&mnt).unwrap(),
        std::fs::metadata(mnt.parent().unwrap()).unwrap(),
    );
    assert_eq!(here.dev(), above.dev(), "unmounted cleanly");
}
