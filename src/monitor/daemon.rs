//! Running a monitor: one per project (`.tupfs/monitor.lock`, a record
//! lock held for life with the pid inside), detached unless `-f` (logging
//! to `.tupfs/monitor.log`), stopped by `tupfs stop`, SIGTERM, SIGINT or
//! SIGHUP. A killed monitor leaves a socket nobody answers (builds scan;
//! the next monitor replaces it) and an unlocked lock file.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::server::Server;
use super::state::Shared;
use super::watch::Watcher;
use super::{client, MonitorOptions, COOKIES, LOCK, LOG, SOCKET};
use crate::project::Project;

/// The state directory of the monitor this process runs (for shutdown).
static STATE_DIR: OnceLock<PathBuf> = OnceLock::new();
/// The autoupdate build running now (0: none), stopped with the monitor.
pub(crate) static BUILD_PID: AtomicI32 = AtomicI32::new(0);

/// `tupfs monitor`: run in the foreground, or detach and say where it logs.
pub fn monitor(project: &Project, opts: &MonitorOptions) -> Result<ExitCode> {
    match opts.foreground {
        true => run(project, opts),
        false => detach(project),
    }
}

/// Watch and serve until stopped.
fn run(project: &Project, opts: &MonitorOptions) -> Result<ExitCode> {
    let state_dir = project.state_dir();
    let _lock = take_lock(&state_dir)?;
    let _ = STATE_DIR.set(state_dir.clone());
    block_stop_signals();
    let socket = state_dir.join(SOCKET);
    let _ = fs::remove_file(&socket); // a dead monitor's: we hold the lock
    let cookies = state_dir.join(COOKIES);
    let _ = fs::remove_dir_all(&cookies);
    let shared = Arc::new(Shared::default());
    let watcher = Watcher::start(&project.root, shared.clone())
        .context("cannot watch the project with inotify")?;
    let listener = UnixListener::bind(&socket)
        .with_context(|| format!("cannot listen on {}", socket.display()))?;
    std::thread::spawn(move || watcher.run());
    let server = Arc::new(Server {
        cookies,
        shared: shared.clone(),
        on_stop: shutdown,
    });
    std::thread::spawn(move || server.serve(listener));
    println!(
        "tupfs monitor: running (pid {}) in {}",
        std::process::id(),
        project.root.display()
    );
    if opts.autoupdate {
        let (root, opts) = (project.root.clone(), opts.clone());
        std::thread::spawn(move || super::autoupdate::run(&root, &shared, &opts));
    }
    let sig = wait_stop_signal();
    println!("tupfs monitor: stopping (signal {sig})");
    shutdown();
    Ok(ExitCode::SUCCESS)
}

/// Remove the socket and cookies, stop an autoupdate build, and exit.
fn shutdown() {
    if let Some(dir) = STATE_DIR.get() {
        let _ = fs::remove_file(dir.join(SOCKET));
    }
    let pid = BUILD_PID.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: a plain kill of our own child.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    let _ = std::io::stdout().flush();
    std::process::exit(0);
}

/// Take `.tupfs/monitor.lock` and write our pid in it; an error naming
/// the pid of the monitor that holds it.
fn take_lock(state_dir: &Path) -> Result<File> {
    let path = state_dir.join(LOCK);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    if !crate::lock::lock(&file, false)? {
        let mut pid = String::new();
        let _ = file.read_to_string(&mut pid);
        bail!(
            "a monitor is already running in this project (pid {})",
            pid.trim()
        );
    }
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())?;
    Ok(file)
}

/// The pid in the lock file, if a monitor holds the lock now.
pub fn running_pid(state_dir: &Path) -> Option<u32> {
    let mut file = File::options()
        .read(true)
        .write(true)
        .open(state_dir.join(LOCK))
        .ok()?;
    if crate::lock::lock(&file, false).ok()? {
        return None; // we got it: nobody holds it (ours is dropped now)
    }
    let mut pid = String::new();
    file.read_to_string(&mut pid).ok()?;
    pid.trim().parse().ok()
}

/// The stop signals, blocked in every thread (the main one waits for them).
fn stop_signals() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data, filled by sigemptyset/sigaddset.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, sig);
        }
        set
    }
}

fn block_stop_signals() {
    let set = stop_signals();
    // SAFETY: blocking signals for this thread (and threads it spawns).
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
}

/// Wait for a stop signal; its number.
fn wait_stop_signal() -> i32 {
    let set = stop_signals();
    let mut sig = 0;
    // SAFETY: sigwait on a set blocked in every thread.
    while unsafe { libc::sigwait(&set, &mut sig) } != 0 {}
    sig
}

/// Start this same command again with `-f`, in its own session, logging
/// to `.tupfs/monitor.log`; return once it answers (or say why not).
fn detach(project: &Project) -> Result<ExitCode> {
    let state_dir = project.state_dir();
    if let Some(pid) = running_pid(&state_dir) {
        bail!("a monitor is already running in this project (pid {pid})");
    }
    let log_path = state_dir.join(LOG);
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let at = args.iter().position(|a| a == "monitor").unwrap_or(0);
    args.insert(at + 1, "--foreground".into());
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(&args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: setsid is async-signal-safe; nothing else runs in the child.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        })
    };
    let mut child = cmd.spawn().context("cannot start the monitor")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            let text = fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!("the monitor exited ({status}):\n{}", tail.join("\n"));
        }
        if client::request(&state_dir, "status\n").is_ok_and(|r| r.starts_with("status")) {
            println!(
                "tupfs: monitor running (pid {}), logging to {}",
                child.id(),
                log_path.display()
            );
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!(
        "the monitor did not answer within 30 s (see {})",
        log_path.display()
    )
}

/// `tupfs stop`: ask the project's monitor to stop and wait until it has.
pub fn stop(project: &Project) -> Result<ExitCode> {
    let state_dir = project.state_dir();
    let Some(pid) = running_pid(&state_dir) else {
        println!("tupfs: no monitor is running in this project");
        return Ok(ExitCode::SUCCESS);
    };
    if client::request(&state_dir, "stop\n").is_err() {
        // SAFETY: a plain kill of the pid the lock's holder wrote.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while running_pid(&state_dir).is_some() {
        if Instant::now() > deadline {
            bail!("the monitor (pid {pid}) did not stop within 10 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("tupfs: monitor stopped (pid {pid})");
    Ok(ExitCode::SUCCESS)
}
