//! `tupfs monitor -a`: build after changes, once no change has arrived for
//! the quiet period. A change counts only if a build would see it: some
//! recorded file (not a directory) judged changed against the index, or a
//! listing the last parse saw. So the build's own outputs (recorded as
//! committed) never start a build, changes during a build start exactly
//! one more, and a failed build waits for the next real change. Generated
//! files that changed DURING a build are the build's doing (a failed
//! command's old outputs are removed before it runs), so they are not
//! counted then; a user who edits or deletes one later starts a build.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::since::Since;
use super::source::Narrowed;
use super::state::Shared;
use super::{Clock, MonitorOptions};
use crate::change::{ChangeDetector, ChangeSource, FileKind};
use crate::options::Options;
use crate::project::Project;
use crate::reuse::Prior;

/// Build at start, then after every change a build would see.
pub fn run(root: &Path, shared: &Shared, opts: &MonitorOptions) {
    let mut why = "the monitor started".to_string();
    loop {
        let (mut done, during) = build(root, shared, opts, &why);
        if let Some(w) = relevant(root, &during, false) {
            why = w;
            continue; // changes made during the build: one follow-up
        }
        loop {
            let (now, changed) = wait_for_quiet(shared, done, opts.quiet_ms);
            if let Some(w) = relevant(root, &changed, true) {
                why = w;
                break;
            }
            done = now;
        }
    }
}

/// Wait for a change after `done`, then for the quiet period; the clock
/// then and what changed since `done` (everything after a re-listing).
fn wait_for_quiet(shared: &Shared, done: Clock, quiet_ms: u64) -> (Clock, Since) {
    let mut st = shared.lock();
    loop {
        let deadline = Instant::now() + Duration::from_secs(3600);
        st = shared.wait_until(st, deadline, |s| {
            s.last_change > done.seq || s.instance != done.instance
        });
        if st.last_change > done.seq || st.instance != done.instance {
            break;
        }
    }
    loop {
        let last = st.last_change;
        drop(st);
        std::thread::sleep(Duration::from_millis(quiet_ms));
        st = shared.lock();
        if st.last_change == last {
            break;
        }
    }
    let since = match st.instance == done.instance && st.untrusted.is_none() {
        true => st.since(done.seq),
        false => everything(),
    };
    (st.clock(), since)
}

/// Anything may have changed.
fn everything() -> Since {
    let mut since = Since::default();
    since.subtrees.insert(String::new());
    since
}

/// Why a build would see `since`, or None: judged against the index as a
/// build judges it (generated files only when `outputs`).
fn relevant(root: &Path, since: &Since, outputs: bool) -> Option<String> {
    let project = Project::find(root).ok()?;
    let mode = Options::load_all(&project.state_dir())
        .map(|o| o.options.change)
        .unwrap_or_default();
    let prior = Prior::open(&project, mode);
    let Some(index) = &prior.index else {
        return Some("no index yet".into());
    };
    let scan = Narrowed::new(root, since).changes(index, ChangeDetector::new(mode));
    let mut changed: Vec<String> = scan
        .files
        .iter()
        .filter_map(|(slot, j)| Some((index.file_at(*slot)?, j)))
        .filter(|(f, j)| {
            let is_dir = |k: Option<FileKind>| k == Some(FileKind::Dir);
            j.verdict.is_changed()
                && (outputs || !f.generated())
                && !is_dir(j.state.map(|s| s.kind))
                && !is_dir(f.state().map(|s| s.kind))
        })
        .map(|(f, _)| f.path().to_string())
        .collect();
    let tree = prior.changed_tree_since(root, Some(since));
    changed.extend(tree.files.iter().chain(&tree.dirs).map(|d| format!("{d}/")));
    (!changed.is_empty()).then(|| describe(&changed))
}

/// "a.c, b.h and 3 more".
fn describe(paths: &[String]) -> String {
    let shown: Vec<&str> = paths.iter().take(3).map(String::as_str).collect();
    match paths.len() > 3 {
        true => format!("{} and {} more", shown.join(", "), paths.len() - 3),
        false => shown.join(", "),
    }
}

/// Run `tupfs build` (output as it prints it); when it ended, the clock
/// and what changed since it started.
fn build(root: &Path, shared: &Shared, opts: &MonitorOptions, why: &str) -> (Clock, Since) {
    let clock = shared.lock().clock();
    println!("tupfs monitor: building ({why})");
    let exe = std::env::current_exe().unwrap_or_else(|_| "tupfs".into());
    let mut cmd = Command::new(exe);
    cmd.arg("-C").arg(root).arg("build").args(&opts.build_args);
    match cmd.spawn() {
        Ok(mut child) => {
            super::daemon::BUILD_PID.store(child.id() as i32, Ordering::SeqCst);
            let status = child.wait();
            super::daemon::BUILD_PID.store(0, Ordering::SeqCst);
            match status {
                Ok(s) if s.success() => println!("tupfs monitor: build done; watching"),
                Ok(s) => println!("tupfs monitor: build failed ({s}); waiting for the next change"),
                Err(e) => println!("tupfs monitor: cannot wait for the build: {e}"),
            }
        }
        Err(e) => println!("tupfs monitor: cannot start a build: {e}"),
    }
    let st = shared.lock();
    let during = match st.instance == clock.instance && st.untrusted.is_none() {
        true => st.since(clock.seq),
        false => everything(),
    };
    (st.clock(), during)
}
