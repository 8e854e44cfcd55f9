//! SIGKILL while one of tupfs's own threads waits for the daemon's answer
//! must still end the process. Without the death watch this deadlocks for
//! good: the daemon thread dies, the waiting thread waits uninterruptibly
//! for an answer already read, and keeps the `/dev/fuse` fd alive.
//!
//! The daemon is held deterministically: the project holds a directory on
//! which a second FUSE connection is mounted whose `/dev/fuse` nobody reads
//! (so it never even answers INIT). The daemon's `lstat` under it waits,
//! killably, for ever; the thread that asked the daemon waits for it.

mod common;

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use common::{config, fuse_available};
use tupfs_fuse::{JobSpec, Tracer};

const HOLD_VAR: &str = "TUPFS_FUSE_TEST_SELF_DEADLOCK";

/// A FUSE mount nobody serves: every access under it waits. Dropping it
/// closes the device (the kernel aborts the connection) and unmounts.
struct Unserved {
    dev: Option<OwnedFd>,
    dir: PathBuf,
}

impl Unserved {
    /// Mount it on `dir`, or `None` if not permitted here.
    fn mount(dir: &Path) -> Option<Unserved> {
        std::fs::create_dir_all(dir).unwrap();
        // SAFETY: open with a static C string.
        let fd = unsafe { libc::open(c"/dev/fuse".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        assert!(fd >= 0, "/dev/fuse: {}", std::io::Error::last_os_error());
        // SAFETY: a fresh fd that is ours.
        let dev = unsafe { OwnedFd::from_raw_fd(fd) };
        let st = std::fs::metadata(dir).unwrap();
        let data = CString::new(format!(
            "fd={},rootmode=40000,user_id={},group_id={}",
            dev.as_raw_fd(),
            st.uid(),
            st.gid()
        ))
        .unwrap();
        let target = CString::new(dir.as_os_str().as_bytes()).unwrap();
        // SAFETY: plain system call with valid C strings.
        let rc = unsafe {
            libc::mount(
                c"unserved".as_ptr(),
                target.as_ptr(),
                c"fuse".as_ptr(),
                0,
                data.as_ptr().cast(),
            )
        };
        if rc != 0 {
            println!(
                "SKIP: cannot mount FUSE: {}",
                std::io::Error::last_os_error()
            );
            return None;
        }
        Some(Unserved {
            dev: Some(dev),
            dir: dir.to_owned(),
        })
    }
}

impl Drop for Unserved {
    fn drop(&mut self) {
        drop(self.dev.take());
        let target = CString::new(self.dir.as_os_str().as_bytes()).unwrap();
        // SAFETY: plain system call with a valid C string.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    }
}

/// Not a test on its own: when re-executed with `HOLD_VAR` set, mounts the
/// project, has a thread look up a file under the unserved mount through
/// the tracing mount (the daemon then waits for ever), and sleeps.
#[test]
fn helper_wait_on_own_mount() {
    let Ok(root) = std::env::var(HOLD_VAR) else {
        return;
    };
    let tracer = Tracer::mount(config(root.as_ref())).expect("helper mount");
    let job = tracer.start_job(&JobSpec::default()).expect("job");
    let stuck = tracer
        .config()
        .mountpoint
        .join(format!("@job-{}", job.id().0))
        .join("held/file");
    std::thread::spawn(move || std::fs::metadata(stuck));
    println!("WAITING");
    std::thread::sleep(Duration::from_secs(120));
    drop((job, tracer));
}

/// How many requests of FUSE connection `n` are waiting.
fn waiting(n: u64) -> u64 {
    std::fs::read_to_string(format!("/sys/fs/fuse/connections/{n}/waiting"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// The FUSE connection numbers (device minors) of the mounts on `dir`,
/// from our mount table (a `stat` of an unserved mount would wait).
fn connections(dir: &Path) -> Vec<u64> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let want = dir.to_str().unwrap();
    info.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            (f.get(4) == Some(&want)).then(|| f[2].split(':').nth(1)?.parse().ok())?
        })
        .collect()
}

/// Wait up to `limit` for `child` to be reaped; whether it was.
fn reaped_within(child: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Abort every FUSE connection mounted at `mnt`.
fn abort_mount_at(mnt: &Path) {
    for n in connections(mnt) {
        let _ = std::fs::write(format!("/sys/fs/fuse/connections/{n}/abort"), "1");
    }
}

#[test]
fn sigkill_ends_a_process_waiting_on_its_own_mount() {
    if !fuse_available() {
        return;
    }
    let (_dir, root, _guard) = common::kill_test_root();
    let mnt = root.join(".tupfs/mnt");
    let Some(held) = Unserved::mount(&root.join("held")) else {
        return;
    };
    let held_conn = *connections(&root.join("held"))
        .last()
        .expect("held is mounted");
    // (INIT, never read, already counts.)
    let idle = waiting(held_conn);

    let (mut helper, rx) =
        common::spawn_helper("helper_wait_on_own_mount", HOLD_VAR, &root, "WAITING");
    let ready = rx.recv_timeout(Duration::from_secs(60));
    // The daemon read the request and now waits on the unserved mount.
    let deadline = Instant::now() + Duration::from_secs(60);
    while ready.is_ok() && waiting(held_conn) == idle && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let held_up = waiting(held_conn) > idle;
    helper.kill().unwrap(); // SIGKILL: no destructor runs
    let died = reaped_within(&mut helper, Duration::from_secs(30));
    if !died {
        // Free the stuck process before failing.
        abort_mount_at(&mnt);
        helper.wait().unwrap();
    }
    drop(held);
    ready.expect("helper mounted");
    assert!(held_up, "the daemon never waited on the unserved mount");
    assert!(
        died,
        "tupfs did not die of SIGKILL: self-deadlock on its own mount"
    );
}
