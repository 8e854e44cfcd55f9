//! A `tupfs` run: starting it, waiting for it with a timeout, and asserting
//! on what it did. Every failed assertion prints the whole run (command,
//! exit status, stdout, stderr, run log, the project's files).

use std::fmt::Write as _;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::project::list_files;
use super::runlog::{LogCommand, RunLog};

/// A captured output stream, filled by a reader thread.
#[derive(Clone, Default)]
struct Capture {
    bytes: Arc<Mutex<Vec<u8>>>,
    done: Arc<AtomicBool>,
}

impl Capture {
    fn start(mut from: impl Read + Send + 'static) -> Capture {
        let cap = Capture::default();
        let c = cap.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 {
                    break;
                }
                c.bytes
                    .lock()
                    .expect("capture lock")
                    .extend_from_slice(&buf[..n]);
            }
            c.done.store(true, Ordering::SeqCst);
        });
        cap
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes.lock().expect("capture lock")).into_owned()
    }
}

/// A `tupfs` process the test started and has not waited for yet.
pub struct Running {
    child: Child,
    what: String,
    root: PathBuf,
    stdout: Capture,
    stderr: Capture,
}

impl Running {
    pub(super) fn start(mut cmd: Command, what: String, root: PathBuf) -> Running {
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let stdout = Capture::start(child.stdout.take().expect("piped stdout"));
        let stderr = Capture::start(child.stderr.take().expect("piped stderr"));
        Running {
            child,
            what,
            root,
            stdout,
            stderr,
        }
    }

    /// The tupfs process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send `sig` to tupfs alone.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on a pid we spawned and have not reaped.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// Send `sig` to tupfs's whole process group, as a terminal's Ctrl-C does.
    pub fn signal_group(&self, sig: i32) {
        // SAFETY: kill(2) on the process group we created for this child.
        unsafe { libc::kill(-(self.child.id() as i32), sig) };
    }

    /// What it has printed on stderr so far.
    pub fn stderr_so_far(&self) -> String {
        self.stderr.text()
    }

    /// True once the process has exited (it is reaped by [`Running::wait`]).
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Wait for the run to end (killing it and failing the test after
    /// [`super::run_timeout`]) and collect what it did.
    pub fn wait(mut self) -> Outcome {
        let limit = super::run_timeout();
        let start = Instant::now();
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if start.elapsed() > limit => {
                    self.signal_group(libc::SIGKILL);
                    // A process stuck in the kernel (e.g. on a FUSE request)
                    // ignores SIGKILL: do not wait for it forever.
                    let child = &mut self.child;
                    super::wait_until(Duration::from_secs(10), || {
                        matches!(child.try_wait(), Ok(Some(_)))
                    });
                    panic!(
                        "{} did not finish within {limit:?}; killed.\n--- stdout\n{}\n--- stderr\n{}",
                        self.what,
                        self.stdout.text(),
                        self.stderr.text()
                    );
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => panic!("waiting for {}: {e}", self.what),
            }
        };
        // A job orphaned by a killed tupfs may still hold the pipes: read
        // what is there rather than waiting for it forever.
        super::wait_until(Duration::from_secs(5), || {
            self.stdout.done.load(Ordering::SeqCst) && self.stderr.done.load(Ordering::SeqCst)
        });
        let log_path = self.root.join(".tupfs/log/last.json");
        let log = match std::fs::read_to_string(&log_path) {
            Ok(text) => RunLog::parse(&text),
            Err(e) => Err(format!("no run log at {}: {e}", log_path.display())),
        };
        Outcome {
            what: self.what,
            status,
            stdout: self.stdout.text(),
            stderr: self.stderr.text(),
            log,
            files: list_files(&self.root),
        }
    }
}

/// A finished `tupfs` run.
pub struct Outcome {
    /// The command line, for messages.
    pub what: String,
    /// Its exit status.
    pub status: ExitStatus,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it printed on stderr.
    pub stderr: String,
    /// The run log it left, or why there is none.
    pub log: Result<RunLog, String>,
    /// The project's files right after the run (for failure messages).
    pub files: Vec<String>,
}

impl Outcome {
    /// Everything about the run, for a failure message.
    pub fn dump(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "=== {} -> {}", self.what, self.status);
        let _ = writeln!(s, "--- stdout\n{}", self.stdout);
        let _ = writeln!(s, "--- stderr\n{}", self.stderr);
        match &self.log {
            Ok(log) => {
                let _ = writeln!(s, "--- run log: status {}", log.status);
                for c in &log.commands {
                    let _ = writeln!(
                        s,
                        "  [{}] {} ({}{}) in '{}': {}",
                        c.status,
                        c.reason,
                        c.rule,
                        c.reason_detail
                            .as_deref()
                            .map(|d| format!(", {d}"))
                            .unwrap_or_default(),
                        c.dir,
                        c.command
                    );
                }
                let _ = writeln!(s, "  removed: {:?}", log.removed);
            }
            Err(e) => {
                let _ = writeln!(s, "--- run log: {e}");
            }
        }
        let _ = writeln!(s, "--- files\n  {}", self.files.join("\n  "));
        s
    }

    /// Fail the test with `msg` and the whole run.
    #[track_caller]
    pub fn fail(&self, msg: &str) -> ! {
        panic!("{msg}\n{}", self.dump())
    }

    /// Assert the build exited 0.
    #[track_caller]
    pub fn success(&self) -> &Self {
        if !self.status.success() {
            self.fail("expected the build to succeed");
        }
        self
    }

    /// Assert the build exited with a non-zero code (not killed by a signal).
    #[track_caller]
    pub fn failure(&self) -> &Self {
        if self.status.success() || self.status.code().is_none() {
            self.fail("expected the build to fail with a non-zero exit code");
        }
        self
    }

    /// Assert the build exited with exactly `code`.
    #[track_caller]
    pub fn exit_code(&self, code: i32) -> &Self {
        if self.status.code() != Some(code) {
            self.fail(&format!("expected exit code {code}"));
        }
        self
    }

    /// stdout and stderr together.
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Assert the output (stdout or stderr) contains every one of `parts`.
    #[track_caller]
    pub fn says(&self, parts: &[&str]) -> &Self {
        let out = self.output();
        for p in parts {
            if !out.contains(p) {
                self.fail(&format!("expected the output to contain {p:?}"));
            }
        }
        self
    }

    /// Assert the output contains none of `parts`.
    #[track_caller]
    pub fn never_says(&self, parts: &[&str]) -> &Self {
        let out = self.output();
        for p in parts {
            if out.contains(p) {
                self.fail(&format!("expected the output NOT to contain {p:?}"));
            }
        }
        self
    }

    /// The run log (the test fails if there is none).
    #[track_caller]
    pub fn log(&self) -> &RunLog {
        match &self.log {
            Ok(log) => log,
            Err(e) => self.fail(&format!("expected a run log: {e}")),
        }
    }

    /// Every command that ran, from the run log.
    #[track_caller]
    pub fn commands(&self) -> &[LogCommand] {
        &self.log().commands
    }

    /// The command text of every command that ran, sorted.
    #[track_caller]
    pub fn ran(&self) -> Vec<String> {
        let mut v: Vec<String> = self.commands().iter().map(|c| c.command.clone()).collect();
        v.sort();
        v
    }

    /// (command text, reason) of every command that ran, sorted.
    #[track_caller]
    pub fn ran_with_reason(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .commands()
            .iter()
            .map(|c| (c.command.clone(), c.reason.clone()))
            .collect();
        v.sort();
        v
    }

    /// The logged command whose text or display is `text` (exactly one).
    #[track_caller]
    pub fn command(&self, text: &str) -> &LogCommand {
        let found: Vec<&LogCommand> = self.commands().iter().filter(|c| c.is(text)).collect();
        match found.as_slice() {
            [one] => one,
            [] => self.fail(&format!("expected {text:?} to have run")),
            _ => self.fail(&format!(
                "expected {text:?} to have run once, not {}",
                found.len()
            )),
        }
    }

    /// Assert exactly these commands ran (each matched by command text or
    /// display, as a multiset: order is free, none missing, none extra).
    #[track_caller]
    pub fn ran_exactly(&self, expected: &[&str]) -> &Self {
        let mut unused: Vec<&LogCommand> = self.commands().iter().collect();
        let mut missing = Vec::new();
        for want in expected {
            match unused.iter().position(|c| c.is(want)) {
                Some(i) => {
                    unused.remove(i);
                }
                None => missing.push(*want),
            }
        }
        if !missing.is_empty() || !unused.is_empty() {
            let extra: Vec<&str> = unused.iter().map(|c| c.command.as_str()).collect();
            self.fail(&format!(
                "wrong set of commands ran\n  missing: {missing:?}\n  extra:   {extra:?}"
            ));
        }
        self
    }

    /// Assert no command ran.
    #[track_caller]
    pub fn ran_nothing(&self) -> &Self {
        self.ran_exactly(&[])
    }

    /// Assert each of these ran (others may have too).
    #[track_caller]
    pub fn ran_including(&self, expected: &[&str]) -> &Self {
        for want in expected {
            if !self.commands().iter().any(|c| c.is(want)) {
                self.fail(&format!("expected {want:?} to have run"));
            }
        }
        self
    }

    /// Assert none of these ran.
    #[track_caller]
    pub fn did_not_run(&self, unwanted: &[&str]) -> &Self {
        for u in unwanted {
            if self.commands().iter().any(|c| c.is(u)) {
                self.fail(&format!("expected {u:?} NOT to have run"));
            }
        }
        self
    }

    /// Assert `text` ran for `reason`.
    #[track_caller]
    pub fn ran_because(&self, text: &str, reason: &str) -> &Self {
        let c = self.command(text);
        if c.reason != reason {
            self.fail(&format!(
                "expected {text:?} to run because {reason:?}, not {:?}",
                c.reason
            ));
        }
        self
    }

    /// Assert the run log's status (e.g. "interrupted").
    #[track_caller]
    pub fn log_status(&self, status: &str) -> &Self {
        if self.log().status != status {
            self.fail(&format!("expected run log status {status:?}"));
        }
        self
    }
}
