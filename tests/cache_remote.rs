//! The output cache through real remote servers on 127.0.0.1 (issue 16):
//! Debian's nginx as a WebDAV server (Bazel's HTTP cache protocol) and
//! BuildGrid (REAPI v2). A server that is not installed or does not start
//! is a visible SKIP (`.ci/run` installs both).

mod harness;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use std::time::Duration;

use harness::{wait_until, Outcome, Project, Server};

/// Compile every .c, link them, and make one 6 MB file (above any batch
/// limit: ByteStream in REAPI).
const TUPFILE: &str = "\
: foreach *.c |> gcc -c %f -o %o |> %B.o
: *.o |> gcc %f -o %o |> app
: |> yes 0123456789abcdef | head -c 6000000 > %o |> big.bin
";

fn project() -> Project {
    let p = Project::new()
        .file("Tupfile", TUPFILE)
        .file(
            "main.c",
            "int other(void);\nint main(void) { return other() - 2; }\n",
        )
        .file("other.c", "int other(void) { return 2; }\n");
    p.enable_cache();
    p
}

/// Outputs and `.tupfs/` gone, and the local store emptied: a fresh clone
/// on another machine.
fn fresh_clone(p: &Project) {
    for out in p.outputs().keys() {
        p.remove(out);
    }
    p.remove(".tupfs");
    let _ = fs::remove_dir_all(p.cache_dir());
}

fn counts(o: &Outcome) -> (usize, usize) {
    (o.log().summary.ran, o.log().summary.cached)
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

macro_rules! server_or_skip {
    ($start:expr, $what:expr) => {
        match $start {
            Some(s) => s,
            None => {
                eprintln!("SKIP: {} is not installed or did not start", $what);
                return;
            }
        }
    };
}

/// Build, then a fresh clone builds everything from the remote alone.
fn served_with_an_empty_local_store(server: &Server) {
    let p = project();
    let remote = ["--remote-cache", server.url.as_str()];
    p.build(&remote).success();
    let first = p.outputs();
    fresh_clone(&p);
    let again = p.build(&remote);
    assert_eq!(counts(again.success()), (0, 4), "{}", again.dump());
    assert_eq!(p.outputs(), first, "byte-identical");
    assert_eq!(p.exec("app"), 0);
    // The remote's hits filled the local store: no remote needed now.
    p.remove(".tupfs");
    for out in first.keys() {
        p.remove(out);
    }
    assert_eq!(counts(p.build(&[]).success()), (0, 4));
}

/// Read-only: everything runs and is stored locally, nothing remotely.
/// `empty_remote` checks the server holds nothing after the read-only build.
fn read_only_stores_nothing_remotely(server: &Server, empty_remote: impl Fn()) {
    let p = project();
    let url = server.url.as_str();
    p.build(&["--remote-cache", url, "--remote-cache-read-only"])
        .success();
    empty_remote();
    fresh_clone(&p);
    let again = p.build(&["--remote-cache", url]);
    assert_eq!(
        counts(again.success()),
        (4, 0),
        "nothing came from the remote"
    );
}

/// The server dies while a command runs: the build succeeds, says so
/// once, and goes on with the local store.
fn killed_mid_build(mut server: Server) {
    let p = Project::new();
    let (go, wait) = p.go_signal();
    let mut tupfile = format!(": |> {wait}; echo held > %o |> held.txt\n");
    for i in 0..6 {
        tupfile.push_str(&format!(
            ": held.txt |> cat held.txt > %o; echo {i} >> %o |> after{i}.txt\n"
        ));
    }
    p.write("Tupfile", &tupfile);
    p.enable_cache();
    let run = p.spawn(&["build", "-j2", "--remote-cache", &server.url]);
    // The held command was looked up (the remote alive) and is running.
    let token = go.to_string_lossy().into_owned();
    let held = wait_until(Duration::from_secs(30), || {
        !p.processes_in(&token).is_empty()
    });
    assert!(held, "the held command never started");
    server.kill();
    fs::write(&go, "").unwrap();
    let out = run.wait();
    out.success();
    assert_eq!(p.read("after5.txt"), "held\n5\n");
    let warnings = out.stderr.matches("using the local cache only").count();
    assert_eq!(warnings, 1, "one warning:\n{}", out.stderr);
    // Local-only for the rest of the build: every result is stored locally.
    for out in p.outputs().keys() {
        p.remove(out);
    }
    p.remove(".tupfs");
    assert_eq!(counts(p.build(&[]).success()), (0, 7));
}

/// Blobs uploaded in `o`'s build, and blobs it offered (its `-vv` lines).
fn uploaded(o: &Outcome) -> (usize, usize) {
    let mut sum = (0, 0);
    for line in o.stderr.lines() {
        let Some((_, tail)) = line.split_once("remote cache: ") else {
            continue;
        };
        let words: Vec<&str> = tail.split_whitespace().collect();
        if let [sent, "of", offered, "blobs", "uploaded", ..] = words[..] {
            sum.0 += sent.parse::<usize>().unwrap();
            sum.1 += offered.parse::<usize>().unwrap();
        }
    }
    sum
}

/// The same sources built in a second checkout (another path: every
/// command misses and runs) store the same outputs: the server has every
/// blob, so none is uploaded again; the entries (keyed on the path) are.
fn a_second_store_uploads_no_blob(server: &Server) {
    let remote = ["-vv", "--remote-cache", server.url.as_str()];
    let first = project();
    let one = first.build(&remote);
    let (sent, offered) = uploaded(one.success());
    assert!(sent > 0 && sent <= offered, "{sent} of {offered}");
    let second = project();
    let two = second.build(&remote);
    assert_eq!(
        counts(two.success()),
        (4, 0),
        "another path: every command ran"
    );
    let (sent, offered) = uploaded(&two);
    assert!(offered > 0, "the second build offered its blobs");
    assert_eq!(sent, 0, "no blob uploaded again:\n{}", two.stderr);
    assert_eq!(second.outputs(), first.outputs());
}

#[test]
fn nginx_is_asked_before_a_blob_is_uploaded() {
    let server = server_or_skip!(Server::nginx(), "nginx");
    a_second_store_uploads_no_blob(&server);
    let log = server.access_log();
    let mut puts = std::collections::HashMap::<&str, usize>::new();
    for line in log.lines().filter(|l| l.contains("\"PUT /cache/cas/")) {
        let path = line.split_whitespace().nth(6).unwrap();
        *puts.entry(path).or_default() += 1;
    }
    assert!(!puts.is_empty(), "blobs were PUT:\n{log}");
    let twice: Vec<_> = puts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "no blob PUT twice: {twice:?}");
    let heads = log
        .lines()
        .filter(|l| l.contains("\"HEAD /cache/cas/"))
        .count();
    assert!(heads >= 2 * puts.len(), "every blob HEADed before: {heads}");
}

#[test]
fn buildgrid_is_asked_before_a_blob_is_uploaded() {
    let server = server_or_skip!(Server::buildgrid(), "BuildGrid (bgd)");
    a_second_store_uploads_no_blob(&server);
}

#[test]
fn nginx_serves_a_fresh_clone_with_an_empty_local_store() {
    let server = server_or_skip!(Server::nginx(), "nginx");
    served_with_an_empty_local_store(&server);
}

#[test]
fn nginx_corrupt_blob_is_a_miss_and_never_enters_the_local_store() {
    let server = server_or_skip!(Server::nginx(), "nginx");
    let p = project();
    let remote = ["--remote-cache", server.url.as_str()];
    p.build(&remote).success();
    // big.bin: above the size inlined in entries, so served from /cas.
    let good = fs::read(p.path("big.bin")).unwrap();
    let hex = sha256_hex(&good);
    let blob = server.data().join("cache/cas").join(&hex);
    assert!(
        blob.exists(),
        "big.bin is on the server at {}",
        blob.display()
    );
    let mut bad = good.clone();
    bad[good.len() / 2] ^= 0xff;
    fs::write(&blob, &bad).unwrap(); // nginx serves whatever is there
    fresh_clone(&p);
    let again = p.build(&remote);
    again.success();
    let maker = again.command("yes 0123456789abcdef | head -c 6000000 > big.bin");
    assert_eq!(maker.status, "ok", "it ran: the bad blob was a miss");
    assert_eq!(counts(&again), (1, 3));
    assert_eq!(fs::read(p.path("big.bin")).unwrap(), good);
    let local = p.cache_dir().join("cas").join(&hex[..2]).join(&hex);
    assert_eq!(
        fs::read(&local).unwrap(),
        good,
        "only the good blob is local"
    );
    let mode = fs::metadata(&local).unwrap().permissions().mode();
    assert_eq!(mode & 0o222, 0, "blobs are read-only");
}

#[test]
fn nginx_read_only_stores_nothing_remotely() {
    let server = server_or_skip!(Server::nginx(), "nginx");
    read_only_stores_nothing_remotely(&server, || {
        let stored = fs::read_dir(server.data()).unwrap().count();
        assert_eq!(stored, 0, "nothing was PUT");
    });
}

#[test]
fn nginx_killed_mid_build_leaves_a_successful_build_and_one_warning() {
    let server = server_or_skip!(Server::nginx(), "nginx");
    killed_mid_build(server);
}

#[test]
fn buildgrid_serves_a_fresh_clone_with_an_empty_local_store() {
    let server = server_or_skip!(Server::buildgrid(), "BuildGrid (bgd)");
    served_with_an_empty_local_store(&server);
}

#[test]
fn buildgrid_read_only_stores_nothing_remotely() {
    let server = server_or_skip!(Server::buildgrid(), "BuildGrid (bgd)");
    read_only_stores_nothing_remotely(&server, || {});
}

#[test]
fn buildgrid_killed_mid_build_leaves_a_successful_build_and_one_warning() {
    let server = server_or_skip!(Server::buildgrid(), "BuildGrid (bgd)");
    killed_mid_build(server);
}

#[test]
fn a_dead_remote_is_one_warning_and_a_local_build() {
    let p = project();
    // Nothing listens on port 9 of 127.0.0.1 (discard; not run here).
    let out = p.build(&["--remote-cache", "http://127.0.0.1:9/cache"]);
    out.success();
    assert_eq!(
        out.stderr.matches("using the local cache only").count(),
        1,
        "{}",
        out.stderr
    );
    fresh_clone(&p);
    let out = p.build(&["--remote-cache", "grpc://127.0.0.1:9"]);
    out.success();
    assert_eq!(
        out.stderr.matches("using the local cache only").count(),
        1,
        "{}",
        out.stderr
    );
}

/// A server that accepts connections and never answers; counts them.
fn silent_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            seen.fetch_add(1, Ordering::SeqCst);
            held.push(conn); // open, silent
        }
    });
    (addr, count)
}

#[test]
fn a_slow_remote_is_given_up_once_not_per_command() {
    use std::sync::atomic::Ordering;
    let mut tupfile = String::new();
    for i in 0..8 {
        tupfile.push_str(&format!(": |> echo {i} > %o |> out{i}.txt\n"));
    }
    for scheme in ["http", "grpc"] {
        let p = Project::new().file("Tupfile", &tupfile);
        p.enable_cache();
        let (addr, connections) = silent_server();
        let url = match scheme {
            "http" => format!("http://{addr}/cache"),
            _ => format!("grpc://{addr}"),
        };
        let out = p.build(&["-j2", "--remote-cache", &url]);
        out.success();
        assert_eq!(p.read("out7.txt"), "7\n");
        assert_eq!(
            out.stderr.matches("using the local cache only").count(),
            1,
            "{}",
            out.stderr
        );
        // At most one request per worker reached it before the first
        // timeout turned it off; 8 commands, each retrying, would be more.
        let n = connections.load(Ordering::SeqCst);
        assert!((1..=2).contains(&n), "{scheme}: {n} connections");
        // Everything was stored locally meanwhile.
        fresh_clone_keeping_store(&p);
        assert_eq!(counts(p.build(&[]).success()), (0, 8));
    }
}

/// Outputs and `.tupfs/` gone, the local store kept.
fn fresh_clone_keeping_store(p: &Project) {
    for out in p.outputs().keys() {
        p.remove(out);
    }
    p.remove(".tupfs");
}

#[test]
fn buildgrid_without_updates_is_read_only_by_its_capabilities() {
    let server = server_or_skip!(Server::buildgrid_with(false), "BuildGrid (bgd)");
    let p = project();
    let out = p.build(&["--remote-cache", server.url.as_str()]);
    // No upload tried (it would fail and turn the remote off, warning).
    assert!(
        !out.success().stderr.contains("remote cache grpc"),
        "{}",
        out.stderr
    );
    fresh_clone_keeping_store(&p);
    assert_eq!(counts(p.build(&[]).success()), (0, 4), "stored locally");
}
