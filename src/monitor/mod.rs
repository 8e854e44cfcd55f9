//! `tupfs monitor`: an inotify watcher that tells builds which paths may
//! have changed since the clock their index was synced to, and can rebuild
//! on save (`-a`). Builds sync with it through a cookie (see [`server`]),
//! and judge only the paths it names ([`source::Narrowed`]), with the same
//! [`crate::change::ChangeDetector`] the full scan uses.

pub mod autoupdate;
pub mod client;
pub mod daemon;
pub mod noop;
pub mod server;
pub mod since;
pub mod source;
pub mod state;
pub mod watch;

use std::path::{Path, PathBuf};

/// The socket builds, `tupfs stop` and status talk to (in `.tupfs/`).
pub const SOCKET: &str = "monitor.sock";
/// The lock file a monitor holds for its whole life (its pid inside).
pub const LOCK: &str = "monitor.lock";
/// Where a detached monitor logs.
pub const LOG: &str = "monitor.log";
/// The clock the index on disk was synced to (see [`client::Recorded`]).
pub const CLOCK: &str = "monitor.clock";
/// The watched directory cookies are made in (in `.tupfs/`).
pub const COOKIES: &str = "cookies";

/// How long a build waits for the monitor's answer before scanning.
pub const ANSWER_BOUND: std::time::Duration = std::time::Duration::from_secs(1);

/// A point in one monitor's history: every change after it is reported
/// by that instance when asked "what changed since".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    /// A random number chosen when the monitor (re)started watching.
    pub instance: u64,
    /// How many event batches that instance had read.
    pub seq: u64,
}

/// What `tupfs monitor` is asked to do.
#[derive(Clone, Debug, Default)]
pub struct MonitorOptions {
    /// Stay in the foreground (else detach and log to `.tupfs/monitor.log`).
    pub foreground: bool,
    /// Build after every change, once quiet.
    pub autoupdate: bool,
    /// How long no change must arrive before an autoupdate build (ms).
    pub quiet_ms: u64,
    /// The arguments every autoupdate build gets (`-j`, `-k`, ...).
    pub build_args: Vec<String>,
}

/// A path of the project's state directory.
pub fn state_path(root: &Path, name: &str) -> PathBuf {
    root.join(crate::project::STATE_DIR).join(name)
}
