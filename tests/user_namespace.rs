//! A normal (non-root) user gets the same job isolation as root: each job
//! runs in a user namespace of its own (mapping only the user's ids) with a
//! private mount namespace, so commands see the real project paths, run as
//! the same uid, and their accesses are traced.
//!
//! Run as root (as here), each test re-runs itself as the user `tupfsuser`
//! (made if missing) with `/dev/fuse` opened to everyone for the duration;
//! run as a normal user, it does the work directly. Prints SKIP where that
//! cannot be arranged.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

use tupfs_fuse::{Isolation, JobSpec, MountConfig, MountOptions, Tracer};

/// The unprivileged user the tests run as.
const USER: &str = "tupfsuser";

/// Set in the environment of the test re-run as the user.
const INNER: &str = "TUPFS_TEST_AS_USER";

/// Serialises the tests that change `/dev/fuse`'s mode.
static DEV_FUSE: Mutex<()> = Mutex::new(());

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Whether `USER` exists (making it if not); prints SKIP when it cannot.
fn user_exists() -> bool {
    let exists = || {
        Command::new("id")
            .arg(USER)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if exists() {
        return true;
    }
    let _ = Command::new("useradd").arg(USER).status();
    exists() || {
        println!("SKIP: no user {USER} and useradd failed");
        false
    }
}

/// `/dev/fuse` readable and writable by everyone until dropped (a normal
/// user's `fusermount3` needs to open it), then its mode as it was.
struct OpenDevFuse {
    mode: u32,
    _lock: std::sync::MutexGuard<'static, ()>,
}

impl OpenDevFuse {
    fn new() -> Option<OpenDevFuse> {
        let lock = DEV_FUSE.lock().unwrap_or_else(|e| e.into_inner());
        let Ok(meta) = fs::metadata("/dev/fuse") else {
            println!("SKIP: no /dev/fuse");
            return None;
        };
        let mode = meta.mode() & 0o7777;
        fs::set_permissions("/dev/fuse", fs::Permissions::from_mode(0o666)).ok()?;
        Some(OpenDevFuse { mode, _lock: lock })
    }
}

impl Drop for OpenDevFuse {
    fn drop(&mut self) {
        let _ = fs::set_permissions("/dev/fuse", fs::Permissions::from_mode(self.mode));
    }
}

/// Where the setuid helper through which a normal user mounts may be
/// (fuser looks on PATH, then in `/bin` and `/sbin`).
const HELPERS: [&str; 6] = [
    "/usr/bin/fusermount3",
    "/usr/bin/fusermount",
    "/bin/fusermount3",
    "/bin/fusermount",
    "/sbin/fusermount3",
    "/sbin/fusermount",
];

/// A script that runs its arguments with every one of [`HELPERS`] bound
/// to `/dev/null` (in the private mount namespace it is started in): a
/// machine without fuse3.
fn without_helpers_script() -> String {
    format!(
        "for f in {}; do if [ -f \"$f\" ]; then mount --bind /dev/null \"$f\" || exit 99; fi; \
         done; exec \"$@\"",
        HELPERS.join(" ")
    )
}

/// `program args` run as `USER` (with `/dev/fuse` opened; `helpers`: with
/// the mount helpers there, else hidden), or `None` after a SKIP line.
fn as_user<I, S>(program: &Path, args: I, helpers: bool) -> Option<Output>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    if !user_exists() {
        return None;
    }
    if helpers && !HELPERS.iter().any(|h| Path::new(h).exists()) {
        println!("SKIP: no fusermount3 (install fuse3)");
        return None;
    }
    let _open = OpenDevFuse::new()?;
    let mut command = if helpers {
        Command::new("timeout")
    } else {
        let mut c = Command::new("unshare");
        c.args(["-m", "--propagation", "private", "sh", "-c"])
            .arg(without_helpers_script())
            .args(["sh", "timeout"]);
        c
    };
    let output = command
        .args(["120", "runuser", "-u", USER, "--"])
        .arg(program)
        .args(args)
        .env(INNER, "1")
        .env("TMPDIR", "/tmp")
        .stdin(Stdio::null())
        .output()
        .expect("run runuser");
    Some(output)
}

/// As root: re-run the test `name` of this binary as `USER` (`helpers`: see
/// [`as_user`]) and check it passed having done the work (it prints `marker`).
fn rerun_as_user(name: &str, marker: &str, helpers: bool) {
    let exe = std::env::current_exe().expect("test binary");
    let args = ["--exact", name, "--nocapture", "--test-threads=1"];
    let Some(out) = as_user(&exe, args, helpers) else {
        return;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "as {USER}: {}\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains(marker),
        "as {USER}, the test did not run:\n{stdout}\n{stderr}"
    );
}

/// Whether to do the work here (a normal user), else it was delegated.
fn run_here(name: &str, marker: &str, helpers: bool) -> bool {
    if is_root() {
        if std::env::var_os(INNER).is_some() {
            panic!("{INNER} is set but we are still root");
        }
        rerun_as_user(name, marker, helpers);
        return false;
    }
    true
}

/// A new project (its directory, and its canonical root) whose Tupfile
/// is `tupfile`.
fn project(tupfile: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().canonicalize().expect("canonical root");
    fs::write(root.join("Tupfile.ini"), "").unwrap();
    fs::write(root.join("Tupfile"), tupfile).unwrap();
    (dir, root)
}

/// `tupfs build` of the project at `root`.
fn tupfs_build(root: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tupfs"));
    // --no-cache: these tests are about tracing, not the user's cache.
    c.arg("build")
        .arg("--no-cache")
        .arg("-C")
        .arg(root)
        .stdin(Stdio::null());
    c
}

#[test]
fn a_users_gcc_job_sees_real_paths_and_is_traced() {
    let marker = "user job traced";
    if !run_here(
        "a_users_gcc_job_sees_real_paths_and_is_traced",
        marker,
        true,
    ) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().canonicalize().expect("canonical root");
    fs::create_dir_all(root.join("src/inc")).unwrap();
    fs::write(root.join("src/inc/a.h"), "#define A 3\n").unwrap();
    fs::write(
        root.join("src/a.c"),
        "#include \"inc/a.h\"\nint f(void) { return A; }\n",
    )
    .unwrap();
    let config = MountConfig {
        root: root.clone(),
        mountpoint: root.join(".tupfs/mnt"),
        scratch: root.join(".tupfs/tmp"),
        threads: 0,
    };
    let tracer = Tracer::mount_with(config, MountOptions::default()).expect("mount as a user");
    assert_eq!(tracer.isolation(), Isolation::UserNamespace);
    let job = tracer
        .start_job(&JobSpec {
            cwd: "src".into(),
            ignore: vec![],
        })
        .expect("start job");
    let out = job
        .spawn("/bin/sh", |c| {
            c.args(["-e", "-c", "gcc -g -c a.c -o a.o; pwd; id -u"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
        })
        .expect("spawn")
        .wait_with_output()
        .expect("wait");
    let fin = job.finish().expect("finish");
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() }.to_string();
    assert_eq!(lines, [root.join("src").to_str().unwrap(), &uid]);
    for read in ["src/a.c", "src/inc/a.h"] {
        assert!(
            fin.log.reads.contains(read),
            "{read} in {:?}",
            fin.log.reads
        );
    }
    assert!(fin.log.writes.contains("src/a.o"), "{:?}", fin.log.writes);
    fin.pending.commit(&|_| true).expect("commit");
    let object = fs::read(root.join("src/a.o")).expect("a.o placed");
    let real_src = root.join("src");
    assert!(
        object
            .windows(real_src.as_os_str().len())
            .any(|w| w == real_src.as_os_str().as_encoded_bytes()),
        "the debug info names the real directory"
    );
    tracer.unmount().expect("unmount");
    println!("{marker}");
}

/// Full dependencies as a normal user: the system directories are bound
/// read-only inside the job's user namespace, gcc runs, and what it read
/// there (itself, its headers) is recorded.
#[test]
fn a_users_job_with_full_deps_records_system_reads() {
    let marker = "user full deps traced";
    if !run_here(
        "a_users_job_with_full_deps_records_system_reads",
        marker,
        true,
    ) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().canonicalize().expect("canonical root");
    fs::write(
        root.join("a.c"),
        "#include <stdio.h>\nint f(void) { return 1; }\n",
    )
    .unwrap();
    let config = MountConfig {
        root: root.clone(),
        mountpoint: root.join(".tupfs/mnt"),
        scratch: root.join(".tupfs/tmp"),
        threads: 0,
    };
    let options = MountOptions {
        full_deps: true,
        ..MountOptions::default()
    };
    let tracer = Tracer::mount_with(config, options).expect("mount as a user");
    assert_eq!(tracer.isolation(), Isolation::UserNamespace);
    let job = tracer.start_job(&JobSpec::default()).expect("start job");
    let out = job
        .spawn("/bin/sh", |c| {
            c.args(["-e", "-c", "gcc -c a.c -o a.o"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
        })
        .expect("spawn")
        .wait_with_output()
        .expect("wait");
    let fin = job.finish().expect("finish");
    assert!(out.status.success(), "{out:?}");
    let outside = &fin.log.outside_reads;
    assert!(outside.contains("/usr/include/stdio.h"), "{outside:?}");
    assert!(outside.iter().any(|p| p.ends_with("/cc1")), "{outside:?}");
    assert!(fin.log.reads.contains("a.c"), "{:?}", fin.log.reads);
    tracer.unmount().expect("unmount");
    println!("{marker}");
}

#[test]
fn a_users_build_runs_in_namespaces_without_the_fallback() {
    let marker = "user build ok";
    if !run_here(
        "a_users_build_runs_in_namespaces_without_the_fallback",
        marker,
        true,
    ) {
        return;
    }
    let (_dir, root) = project(
        ": foreach *.c |> gcc -c %f -o %o && pwd > %B.pwd |> %B.o | %B.pwd\n\
         : *.o |> gcc %f -o %o |> app\n",
    );
    fs::write(root.join("a.h"), "#define A 3\n").unwrap();
    fs::write(
        root.join("a.c"),
        "#include \"a.h\"\nint f(void) { return A; }\n",
    )
    .unwrap();
    fs::write(
        root.join("main.c"),
        "int f(void);\nint main(void) { return f() - 3; }\n",
    )
    .unwrap();
    let build = || tupfs_build(&root).output().expect("run tupfs");
    let first = build();
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{first:?}");
    assert!(!stderr.contains("not available"), "fallback used: {stderr}");
    let pwd = fs::read_to_string(root.join("a.pwd")).expect("a.pwd");
    assert_eq!(pwd.trim_end(), root.to_str().unwrap(), "real paths");
    let status = Command::new(root.join("app")).status().expect("run app");
    assert!(status.success(), "app built from f() == 3");
    // The header's read was recorded: changing it rebuilds a.o.
    fs::write(root.join("a.h"), "#define A 3 /* edited */\n").unwrap();
    let second = build();
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(second.status.success(), "{second:?}");
    assert!(stdout.contains("a.c"), "a.c recompiled: {stdout}");
    assert!(!stdout.contains("main.c"), "main.c untouched: {stdout}");
    println!("{marker}");
}

#[test]
fn a_user_without_fusermount3_is_told_to_install_fuse3() {
    let marker = "told about fuse3";
    if !run_here(
        "a_user_without_fusermount3_is_told_to_install_fuse3",
        marker,
        false,
    ) {
        return;
    }
    let (_dir, root) = project(": |> echo hi > %o |> out.txt\n");
    let out = tupfs_build(&root)
        .env_remove("FUSERMOUNT_PATH")
        .output()
        .expect("run tupfs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "a build error: {stderr}");
    assert!(
        stderr.contains("cannot mount the tracing filesystem")
            && stderr.contains("fusermount3, which was not found")
            && stderr.contains("install the fuse3 package"),
        "{stderr}"
    );
    assert!(!root.join("out.txt").exists(), "nothing ran");
    println!("{marker}");
}
