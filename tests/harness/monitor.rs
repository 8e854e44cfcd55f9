//! A `tupfs monitor` for a test project, stopped when dropped (also when
//! the test panics), killed if it does not stop.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use super::outcome::Outcome;
use super::project::Project;
use super::wait_until;

/// A running monitor; `tupfs stop` (or SIGKILL) when dropped.
pub struct Monitor {
    root: PathBuf,
    /// Its pid (from `.tupfs/monitor.lock`).
    pub pid: u32,
}

impl Monitor {
    /// `tupfs monitor ARGS...` (detached); panics when it does not start.
    pub fn start(p: &Project, args: &[&str]) -> Monitor {
        let mut all = vec!["monitor"];
        all.extend_from_slice(args);
        let out = p.run(&all);
        out.success();
        let lock = p.path(".tupfs/monitor.lock");
        let pid = fs::read_to_string(&lock)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| out.fail("no pid in .tupfs/monitor.lock"));
        Monitor {
            root: p.root().to_path_buf(),
            pid,
        }
    }

    /// A monitor started in the foreground (e.g. by [`Project::spawn`]),
    /// once its socket is there; stopped when dropped.
    pub fn attach(p: &Project) -> Monitor {
        let up = wait_until(Duration::from_secs(60), || p.exists(".tupfs/monitor.sock"));
        assert!(up, "the monitor did not start");
        let pid = fs::read_to_string(p.path(".tupfs/monitor.lock"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .expect("a pid in .tupfs/monitor.lock");
        Monitor {
            root: p.root().to_path_buf(),
            pid,
        }
    }

    /// Send a signal to the monitor.
    pub fn signal(&self, sig: i32) {
        // SAFETY: a plain kill of the monitor this test started.
        unsafe { libc::kill(self.pid as i32, sig) };
    }

    /// True while the process exists (and is not a zombie).
    pub fn alive(&self) -> bool {
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap_or_default();
        !stat.is_empty() && !stat.contains(") Z ")
    }

    /// What it logged so far (`.tupfs/monitor.log`).
    pub fn log(&self) -> String {
        fs::read_to_string(self.root.join(".tupfs/monitor.log")).unwrap_or_default()
    }

    /// `tupfs stop`, waited for.
    pub fn stop(&self, p: &Project) -> Outcome {
        p.run(&["stop"])
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let stopped = std::process::Command::new(env!("CARGO_BIN_EXE_tupfs"))
            .arg("-C")
            .arg(&self.root)
            .arg("stop")
            .output()
            .is_ok_and(|o| o.status.success());
        if !stopped || !wait_until(Duration::from_secs(5), || !self.alive()) {
            self.signal(libc::SIGCONT);
            self.signal(libc::SIGKILL);
        }
    }
}
