//! Full dependencies: with `MountOptions::full_deps`, reads and failed
//! lookups outside the project (system directories) are traced as absolute
//! paths, the system files are read-only to jobs, `/tmp` stays writable,
//! and without the option nothing outside is recorded.

mod common;

use std::fs;
use std::path::PathBuf;

use common::Fixture;
use tupfs_fuse::{Isolation, MountOptions};

/// A directory outside the project in a top-level directory that full deps
/// serve (the test's target dir, not `/tmp`), or `None` (SKIP printed).
fn outside_dir(fx: &Fixture, name: &str) -> Option<PathBuf> {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let top = base.components().nth(1).map(|c| PathBuf::from("/").join(c));
    let served = ["/tmp", "/var", "/home", "/root", "/run", "/mnt"];
    if top.as_ref().map_or(true, |t| {
        served.iter().any(|s| t == std::path::Path::new(s)) || fx.root().starts_with(t)
    }) {
        eprintln!(
            "SKIP: {} is not in a directory full deps serve",
            base.display()
        );
        return None;
    }
    let dir = base.join(format!("full-deps-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("outside dir");
    Some(dir)
}

fn full_deps_fixture() -> Option<Fixture> {
    let fx = Fixture::with(MountOptions {
        full_deps: true,
        ..MountOptions::default()
    })?;
    if fx.tracer().isolation() == Isolation::MountCwd {
        eprintln!("SKIP: full deps need mount namespaces");
        return None;
    }
    Some(fx)
}

#[test]
fn reads_and_ghosts_outside_the_project_are_recorded() {
    let Some(fx) = full_deps_fixture() else {
        return;
    };
    let Some(dir) = outside_dir(&fx, "reads") else {
        return;
    };
    fs::write(dir.join("h.h"), "int x;\n").unwrap();
    fx.write("a.c", "#include \"h.h\"\n");
    let d = dir.display();
    let fin = fx.run_ok(&format!(
        "cat {d}/h.h a.c > /dev/null; test ! -e {d}/missing.h; \
         echo tmp > /tmp/tupfs-full-deps-$$ && rm /tmp/tupfs-full-deps-$$; \
         cat /proc/self/status > /dev/null; \
         if echo x > {d}/new.h 2>/dev/null; then exit 7; fi"
    ));
    let log = &fin.log;
    assert!(log.reads.contains("a.c"), "{log:?}");
    assert!(log.outside_reads.contains(&format!("{d}/h.h")), "{log:?}");
    assert!(
        log.outside_ghosts.contains(&format!("{d}/missing.h")),
        "{log:?}"
    );
    // The shell itself and its loader were read from the system.
    assert!(
        log.outside_reads
            .iter()
            .any(|p| p.ends_with("/sh") || p.contains("/dash")),
        "{:?}",
        log.outside_reads
    );
    assert!(!log
        .outside_reads
        .iter()
        .any(|p| p.starts_with("/proc") || p.starts_with("/tmp") || p.starts_with("/dev")));
    assert!(!dir.join("new.h").exists(), "a job wrote into a system dir");
    assert!(log.writes.is_empty(), "{log:?}");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn without_the_option_nothing_outside_is_recorded() {
    let Some(fx) = Fixture::new() else {
        return;
    };
    let fin = fx.run_ok("cat /etc/hostname /etc/passwd > /dev/null; test ! -e /usr/nonexistent.h");
    assert!(fin.log.outside_reads.is_empty(), "{:?}", fin.log);
    assert!(fin.log.outside_ghosts.is_empty(), "{:?}", fin.log);
    assert!(
        !fin.log.reads.iter().any(|p| p.starts_with('@')),
        "{:?}",
        fin.log
    );
}

/// Outside files are one inode for all jobs (the kernel's caches serve
/// them all), yet each job records the ones it used: at its own lookups.
#[test]
fn every_job_records_the_shared_outside_files_it_uses() {
    let Some(fx) = full_deps_fixture() else {
        return;
    };
    let Some(dir) = outside_dir(&fx, "shared") else {
        return;
    };
    fs::write(dir.join("h.h"), "int shared;\n").unwrap();
    std::os::unix::fs::symlink("h.h", dir.join("link.h")).unwrap();
    fs::write(dir.join("stat-only"), "x").unwrap();
    let d = dir.display();
    let script =
        format!("test \"$(cat {d}/link.h)\" = 'int shared;' && test -e {d}/stat-only && sleep 0.2");
    let expect = [
        format!("{d}/h.h"),
        format!("{d}/link.h"),
        format!("{d}/stat-only"),
    ];
    // One after the other, then two at once: every log has all three.
    let mut logs = vec![fx.run_ok(&script).log, fx.run_ok(&script).log];
    let together = common::run_all_at_once(&fx, &[script.clone(), script.clone()]);
    logs.extend(together.into_iter().map(|f| f.log));
    for log in &logs {
        for path in &expect {
            assert!(log.outside_reads.contains(path), "{path}: {log:?}");
        }
    }
    let _ = fs::remove_dir_all(&dir);
}
