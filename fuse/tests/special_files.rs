//! FIFOs, sockets and device nodes in the project tree: a job that opens
//! one must not block the daemon (and with it every other job). The kernel
//! opens special files of a FUSE mount itself; the daemon only sees one
//! when the kernel's idea of the name is out of date: it believes the name
//! absent (a cached negative entry) and sends a CREATE, or a regular file
//! and sends an OPEN.

mod common;

use std::process::{Command, Output};

use common::Fixture;
use tupfs_fuse::{Finished, JobSpec};

fn mkfifo(path: &std::path::Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success());
}

#[test]
fn a_job_opening_a_fifo_with_no_writer_does_not_block_other_jobs() {
    let Some(fx) = Fixture::new() else { return };
    fx.write("a.txt", "a\n");
    mkfifo(&fx.root().join("pipe"));
    std::thread::scope(|s| {
        // Blocks on the FIFO (nobody writes) until `timeout` kills it.
        let stuck = s.spawn(|| fx.run("timeout -s KILL 3 cat pipe || echo killed"));
        std::thread::sleep(std::time::Duration::from_millis(300));
        let fin = fx.run_ok("timeout -s KILL 10 cat a.txt > b.txt");
        assert!(fin.log.reads.contains("a.txt"), "{:?}", fin.log.reads);
        let (out, fin) = stuck.join().unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "killed\n");
        assert!(fin.log.writes.is_empty());
    });
}

#[test]
fn fifos_sockets_and_device_nodes_in_the_tree_do_not_block_the_daemon() {
    let Some(fx) = Fixture::new() else { return };
    let root = fx.root();
    mkfifo(&root.join("pipe"));
    let _sock = std::os::unix::net::UnixListener::bind(root.join("sock")).expect("bind");
    let null = Command::new("mknod")
        .arg(root.join("null"))
        .args(["c", "1", "3"])
        .status()
        .expect("mknod");
    assert!(null.success());
    // Every kind of open, with nobody on the other end of the FIFO.
    let script = "t='timeout -s KILL 5'; \
        $t sh -c 'exec 3<>pipe' && echo rw; \
        $t python3 -c 'import os; os.open(\"pipe\", os.O_RDONLY | os.O_NONBLOCK)' && echo ro; \
        $t python3 -c 'import os; os.open(\"pipe\", os.O_WRONLY | os.O_NONBLOCK)' || echo nxio; \
        $t cat sock 2>/dev/null || echo sock; \
        $t cat null && echo null || echo nodev; \
        ls -l >/dev/null && echo listed";
    let (out, _) = fx.run(script);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "rw\nro\nnxio\nsock\nnodev\nlisted\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // And the daemon still answers.
    let fin = fx.run_ok("echo x > after.txt");
    assert!(fin.log.writes.contains("after.txt"));
}

/// Run `before`, then wait for a signal, then `after`, as a job started
/// with `spec`; while it waits, make `name` a FIFO (replacing the file
/// there, if any). Checks that the daemon still answers afterwards. The
/// job's output and record.
fn fifo_appears_while_held(
    fx: &Fixture,
    spec: &JobSpec,
    name: &str,
    before: &str,
    after: &str,
) -> (Output, Finished) {
    let marker = tempfile::tempdir().expect("tempdir");
    let go = marker.path().join("go");
    let script = format!(
        "{before}; while [ ! -e {go} ]; do sleep 0.05; done; {after}",
        go = go.display()
    );
    let result = std::thread::scope(|s| {
        let job = s.spawn(|| fx.run_spec(spec, &script));
        std::thread::sleep(std::time::Duration::from_millis(300));
        let path = fx.root().join(name);
        let _ = std::fs::remove_file(&path);
        mkfifo(&path);
        std::fs::write(&go, "").expect("marker");
        job.join().unwrap()
    });
    let (out, _) = fx.run("timeout -s KILL 5 sh -c 'echo x > after.txt' && echo ok");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ok\n",
        "the daemon stopped answering"
    );
    result
}

#[test]
fn appending_to_a_fifo_that_appeared_after_a_lookup_does_not_block_the_daemon() {
    let Some(fx) = Fixture::new() else { return };
    // The job looks `p` up (absent: the kernel caches a negative entry),
    // waits until the FIFO stands there, then opens it for appending: the
    // kernel sends CREATE for a name the daemon finds is a FIFO.
    let (out, fin) = fifo_appears_while_held(
        &fx,
        &JobSpec::default(),
        "p",
        "test -e p || true",
        "timeout -s KILL 5 sh -c 'echo x >> p' || echo refused",
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "refused\n");
    assert!(fin.log.writes.is_empty(), "{:?}", fin.log.writes);
}

#[test]
fn a_file_replaced_by_a_fifo_after_its_lookup_does_not_block_the_daemon() {
    let Some(fx) = Fixture::new() else { return };
    fx.write("f.txt", "f\n");
    // The kernel keeps f.txt as a regular file for this job, so the open
    // after it became a FIFO reaches the daemon.
    let (out, _) = fifo_appears_while_held(
        &fx,
        &JobSpec::default(),
        "f.txt",
        "test -f f.txt && echo f",
        "timeout -s KILL 5 cat f.txt || echo refused",
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "f\nrefused\n");
}

#[test]
fn truncating_an_ignored_file_that_became_a_fifo_does_not_block_the_daemon() {
    let Some(fx) = Fixture::new() else { return };
    fx.write("f.txt", "f\n");
    let spec = JobSpec {
        ignore: vec![r"^f\.txt$".into()],
        ..JobSpec::default()
    };
    let (out, _) = fifo_appears_while_held(
        &fx,
        &spec,
        "f.txt",
        "test -f f.txt && echo f",
        "timeout -s KILL 5 python3 -c \"import os; os.truncate('f.txt', 0)\" || echo refused",
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "f\nrefused\n");
}

#[test]
fn fifos_sockets_and_links_a_job_makes_for_itself_are_staged() {
    let Some(fx) = Fixture::new() else { return };
    fx.write("src.txt", "source\n");
    let fin = fx.run_ok(
        "mkfifo p && (echo piped > p &) && cat p > out.txt && rm p && \
         python3 -c \"import socket; s = socket.socket(socket.AF_UNIX); s.bind('s'); s.close()\" && \
         test -S s && rm s && \
         echo own > a && ln a b && echo more >> b && cat a >> out.txt && rm a && \
         ln src.txt copy && echo changed >> copy",
    );
    assert!(fin.log.refused.is_empty(), "{:?}", fin.log.refused);
    assert_eq!(fin.log.writes, common::set(&["b", "copy", "out.txt"]));
    assert!(fin.log.reads.contains("src.txt"), "{:?}", fin.log.reads);
    let src = std::fs::read_to_string(fx.root().join("src.txt")).unwrap();
    assert_eq!(
        src, "source\n",
        "a write through a link never reaches the tree"
    );
    assert!(fin.pending.special().is_empty());
    let fin = fx.run_ok("mkfifo left");
    assert_eq!(
        fin.pending.special(),
        vec![("left".to_string(), "FIFO (named pipe)")]
    );
}
