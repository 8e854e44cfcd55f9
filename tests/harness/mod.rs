//! The integration-test harness: throwaway projects in temp dirs, built by
//! the real `tupfs` binary, with assertions on exit status, output, files and
//! (from the run log `.tupfs/log/last.json`) exactly which commands ran.
//!
//! Used from test crates with `mod harness;`. Each test crate uses a subset,
//! hence the `dead_code` and `unused_imports` allowances.
#![allow(dead_code, unused_imports)]

mod examples;
mod monitor;
mod mounts;
mod outcome;
mod project;
mod rng;
mod runlog;
mod servers;

pub use examples::copy_example;
pub use monitor::Monitor;
pub use mounts::mounts_under;
pub use outcome::{Outcome, Running};
pub use project::{Mode, Project};
pub use rng::Rng;
pub use runlog::{last_cone, LogCommand, RunLog};
pub use servers::Server;

use std::path::Path;
use std::time::{Duration, Instant};

/// A Tupfile that compiles every .c to a .o and links them all into `app`.
pub const CC_AND_LINK: &str = "\
: foreach *.c |> gcc -c %f -o %o |> %B.o
: *.o |> gcc %f -o %o |> app
";

/// A C source defining `int FUNC(void)` returning `value`, after
/// `#include "H"` for each of `includes`.
pub fn c_file(func: &str, includes: &[&str], value: &str) -> String {
    let mut s: String = includes
        .iter()
        .map(|h| format!("#include \"{h}\"\n"))
        .collect();
    s.push_str(&format!("int {func}(void) {{ return {value}; }}\n"));
    s
}

/// True when FUSE can be used here. Tests call [`require_fuse!`], which
/// prints a visible SKIP line instead of passing silently.
pub fn fuse_available() -> bool {
    Path::new("/dev/fuse").exists()
}

/// Return from the calling test with "SKIP: <test>: no /dev/fuse" when FUSE
/// is missing, so a machine without FUSE never reports a silent pass.
#[macro_export]
macro_rules! require_fuse {
    () => {
        if !$crate::harness::fuse_available() {
            fn here() {}
            let name = ::std::any::type_name_of_val(&here);
            let name = name.strip_suffix("::here").unwrap_or(name);
            eprintln!("SKIP: {name}: no /dev/fuse");
            return;
        }
    };
}

/// Poll `cond` every 20 ms until it holds or `limit` passes; returns whether
/// it held. For waiting on another process (a mount appearing, a job
/// starting), never for asserting how long something took.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How long one `tupfs` run may take before the harness kills it and fails
/// the test (`TUPFS_TEST_TIMEOUT` seconds, default 180: generous because CI
/// runs many tests at once on two cores).
pub fn run_timeout() -> Duration {
    let secs = std::env::var("TUPFS_TEST_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(180);
    Duration::from_secs(secs)
}
