//! Fast wake-ups while requests flow: a CPU wake-up latency request
//! (`/dev/cpu_dma_latency`, the kernel's PM QoS interface) held from a
//! request until a quiet window has passed.
//!
//! Why: every traced file operation is a synchronous round trip — the
//! command's thread sleeps until the daemon answers, the daemon sleeps
//! until the next request — so each one wakes a sleeping thread twice. On
//! a virtual machine an idle vCPU halts, and waking it goes through the
//! hypervisor: 30-40 µs each way, 50-100 times the work of a lookup.
//! Measured with `bench/fuse/run.sh` on this 2-vCPU VM: a first stat in a
//! job 70 µs with idle CPUs halting, 7 µs with the request held.
//!
//! With the request held, an idle CPU waits by polling instead of halting
//! (the `POLL` idle state), so a wake-up is a memory write. That costs no
//! time of any runnable thread (a polling CPU runs the next task at once),
//! only power or host time while the CPU would otherwise idle; it is why
//! the request is dropped after `window` without a request, so a quiet
//! stretch (a long link, a test run) and the time after the build idle
//! normally. A killed tupfs drops it too: the kernel ends the request when
//! the file closes.
//!
//! Tried first and dropped: busy-polling `/dev/fuse` in the daemon. It
//! wakes only the daemon side (the command's CPU still halts: 35 µs) and
//! its spinning competes with the build's own threads (a gcc job took
//! 1.25x the CPU).
//!
//! Needs root (the device is mode 600); otherwise nothing is held.

use std::fs::File;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::handles::lock;

/// The kernel's CPU wake-up latency request device.
const DEVICE: &str = "/dev/cpu_dma_latency";

/// The latency asked for while requests flow: none beyond polling.
const FAST: i32 = 0;

/// A value that constrains nothing (the kernel's default, 2000 s).
const RELAXED: i32 = 2_000_000_000;

/// The state shared by the daemon threads (which renew the window) and the
/// governor (which drops the request when the window passes).
#[derive(Debug)]
pub(crate) struct WakeLatency {
    /// How long the request is held after a FUSE request (zero: never).
    window: Duration,
    /// The origin of `last`.
    epoch: Instant,
    /// When the last FUSE request arrived, in nanoseconds since `epoch`.
    last: AtomicU64,
    /// Whether the fast wake-up is requested now (written under `state`).
    held: AtomicBool,
    /// The open request device (None until started, or not permitted) and
    /// whether the governor must stop.
    state: Mutex<State>,
    /// Wakes the governor when the request is taken or when stopping.
    wake: Condvar,
}

#[derive(Debug, Default)]
struct State {
    device: Option<File>,
    stop: bool,
}

/// The running governor; dropping it stops it and ends the request.
#[derive(Debug)]
pub(crate) struct Governor {
    shared: Arc<WakeLatency>,
    thread: Option<JoinHandle<()>>,
}

impl WakeLatency {
    /// Hold fast wake-ups for `window` after each FUSE request (zero: off).
    pub(crate) fn new(window: Duration) -> WakeLatency {
        WakeLatency {
            window,
            epoch: Instant::now(),
            last: AtomicU64::new(0),
            held: AtomicBool::new(false),
            state: Mutex::default(),
            wake: Condvar::new(),
        }
    }

    /// Open the request device and start the governor. `None` when off or
    /// not permitted (logged at debug level: the build works the same).
    pub(crate) fn start(self: &Arc<Self>) -> Option<Governor> {
        if self.window.is_zero() {
            return None;
        }
        let device = File::options()
            .write(true)
            .open(DEVICE)
            .inspect_err(|e| log::debug!("{DEVICE}: {e}: wake-ups stay slow"))
            .ok()?;
        lock(&self.state).device = Some(device);
        let shared = self.clone();
        let thread = std::thread::Builder::new()
            .name("tupfs-wake-latency".into())
            .spawn(move || shared.govern())
            .inspect_err(|e| log::debug!("wake-latency governor: {e}"))
            .ok()?;
        Some(Governor {
            shared: self.clone(),
            thread: Some(thread),
        })
    }

    /// A FUSE request arrived: hold fast wake-ups for another window.
    /// Called for every request; one clock read and one store unless the
    /// request is not held yet.
    pub(crate) fn renew(&self) {
        if self.window.is_zero() {
            return;
        }
        self.last.store(self.now(), Ordering::Relaxed);
        if self.held.load(Ordering::Relaxed) {
            return;
        }
        let mut state = lock(&self.state);
        if !state.stop && !self.held.load(Ordering::Relaxed) && set(&mut state, FAST) {
            self.held.store(true, Ordering::Relaxed);
            self.wake.notify_one();
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The governor: wait until the request is held, then drop it once a
    /// whole window has passed with no FUSE request.
    fn govern(&self) {
        let window = u64::try_from(self.window.as_nanos()).unwrap_or(u64::MAX);
        let mut state = lock(&self.state);
        loop {
            if state.stop {
                set(&mut state, RELAXED);
                return;
            }
            if !self.held.load(Ordering::Relaxed) {
                state = self.wake.wait(state).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            let idle = self.now().saturating_sub(self.last.load(Ordering::Relaxed));
            if idle >= window {
                set(&mut state, RELAXED);
                self.held.store(false, Ordering::Relaxed);
                continue;
            }
            let nap = Duration::from_nanos(window - idle);
            state = self
                .wake
                .wait_timeout(state, nap)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// Write a latency value (µs, a native-endian i32) to the request.
fn set(state: &mut State, value: i32) -> bool {
    let Some(device) = state.device.as_mut() else {
        return false;
    };
    device
        .write_all(&value.to_ne_bytes())
        .inspect_err(|e| log::debug!("{DEVICE}: {e}"))
        .is_ok()
}

impl Drop for Governor {
    fn drop(&mut self) {
        lock(&self.shared.state).stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    /// The request is taken on a FUSE request and dropped after a quiet
    /// window (needs root for the device; skipped otherwise).
    #[test]
    fn held_while_requests_flow_then_dropped() {
        let wake = Arc::new(WakeLatency::new(Duration::from_millis(20)));
        let Some(governor) = wake.start() else {
            return eprintln!("SKIP: {DEVICE} not writable here");
        };
        assert!(!wake.held.load(Ordering::Relaxed));
        wake.renew();
        assert!(wake.held.load(Ordering::Relaxed));
        let deadline = Instant::now() + Duration::from_secs(10);
        while wake.held.load(Ordering::Relaxed) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(!wake.held.load(Ordering::Relaxed), "never dropped");
        wake.renew();
        assert!(wake.held.load(Ordering::Relaxed), "not taken again");
        drop(governor);
        assert!(lock(&wake.state).stop);
    }
}
