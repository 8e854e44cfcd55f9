//! The output cache (issue 16, DESIGN.md "The output cache"): real builds
//! with real gcc through the real mount, a local store in the test's own
//! temp dir, and (tests/cache_remote.rs) real remote servers.

mod harness;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use harness::{Outcome, Project, CC_AND_LINK};

/// A C project: main.c and util.c include util.h, other.c includes nothing.
fn c_project() -> Project {
    let p = Project::new()
        .file("Tupfile", CC_AND_LINK)
        .file("util.h", "#define UTIL 1\n")
        .file(
            "main.c",
            "#include \"util.h\"\nint other(void);\nint util(void);\nint main(void) { return util() + other() - UTIL - 2; }\n",
        )
        .file("util.c", "#include \"util.h\"\nint util(void) { return UTIL; }\n")
        .file("other.c", "int other(void) { return 2; }\n");
    p.enable_cache();
    p
}

/// Remove every output and `.tupfs/`: what a fresh clone has.
fn clean(p: &Project) {
    for out in p.outputs().keys() {
        p.remove(out);
    }
    p.remove(".tupfs");
}

/// The run log's counts: (executed, cached).
fn counts(o: &Outcome) -> (usize, usize) {
    let s = &o.log().summary;
    (s.ran, s.cached)
}

/// The statuses of the logged commands, by command text.
fn statuses(o: &Outcome) -> BTreeMap<String, String> {
    o.commands()
        .iter()
        .map(|c| (c.command.clone(), c.status.clone()))
        .collect()
}

/// Every file in a store area (`ac` or `cas`).
fn stored(store: &Path, area: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for fan in fs::read_dir(store.join(area))
        .into_iter()
        .flatten()
        .flatten()
    {
        for e in fs::read_dir(fan.path()).into_iter().flatten().flatten() {
            out.push(e.path());
        }
    }
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn a_clean_rebuild_is_served_from_the_cache_byte_for_byte() {
    let p = c_project();
    p.build(&[]).success();
    let first = p.outputs();
    assert_eq!(first.len(), 4, "{:?}", first.keys());
    clean(&p);
    let again = p.build(&["--explain"]);
    again.success().says(&["served from the cache", "(cached)"]);
    assert_eq!(counts(&again), (0, 4), "nothing executed");
    assert!(statuses(&again).values().all(|s| s == "cached"));
    assert_eq!(p.outputs(), first, "every output byte-identical");
    assert_eq!(p.exec("app"), 0, "the restored program keeps its mode");
    for out in first.keys() {
        use std::os::unix::fs::MetadataExt;
        let nlink = fs::metadata(p.path(out)).unwrap().nlink();
        assert_eq!(nlink, 1, "{out} is a copy, never a hard link");
    }
    // The record is as if the commands ran: nothing to do next time.
    p.build(&[]).success().ran_nothing();
}

#[test]
fn a_header_edit_after_a_hit_runs_exactly_its_users_and_stores_them() {
    let p = c_project();
    p.build(&[]).success();
    clean(&p);
    assert_eq!(counts(p.build(&[]).success()), (0, 4));
    // The hit recorded util.h as read by main.c's and util.c's commands.
    p.write("util.h", "#define UTIL 2\n");
    let edit = p.build(&[]);
    edit.success().ran_exactly(&[
        "gcc -c main.c -o main.o",
        "gcc -c util.c -o util.o",
        "gcc main.o other.o util.o -o app",
    ]);
    assert_eq!(counts(&edit), (3, 0));
    assert_eq!(p.exec("app"), 0);
    let built = p.outputs();
    clean(&p);
    assert_eq!(
        counts(p.build(&[]).success()),
        (0, 4),
        "the edit's results were stored"
    );
    assert_eq!(p.outputs(), built);
}

/// Flip one byte in the middle of the copy of `good` that `file` holds.
fn corrupt_copy_in(file: &Path, good: &[u8]) {
    let mut bytes = fs::read(file).unwrap();
    let at = bytes
        .windows(good.len())
        .position(|w| w == good)
        .unwrap_or_else(|| panic!("{} holds no copy", file.display()));
    bytes[at + good.len() / 2] ^= 0xff;
    fs::set_permissions(file, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(file, &bytes).unwrap();
}

#[test]
fn a_corrupt_local_blob_is_a_miss_and_is_dropped() {
    let p = c_project();
    // big.txt is above the size kept inline in a result: a blob of its own.
    let big_rule = ": |> head -c 200000 /dev/zero | tr '\\0' x > %o |> big.txt\n";
    p.write("Tupfile", &format!("{CC_AND_LINK}{big_rule}"));
    p.build(&[]).success();
    let big = fs::read(p.path("big.txt")).unwrap();
    let hex = sha256_hex(&big);
    let blob = p.cache_dir().join("cas").join(&hex[..2]).join(&hex);
    assert!(blob.exists(), "big.txt is stored at {}", blob.display());
    corrupt_copy_in(&blob, &big);
    // other.o is small: inline in its result entry, which is corrupted.
    let obj = fs::read(p.path("other.o")).unwrap();
    let entry = stored(&p.cache_dir(), "ac")
        .into_iter()
        .find(|e| fs::read(e).unwrap().windows(obj.len()).any(|w| w == obj))
        .expect("other.o inline in an entry");
    corrupt_copy_in(&entry, &obj);
    clean(&p);
    let again = p.build(&[]);
    again.success();
    let st = statuses(&again);
    assert_eq!(st["gcc -c other.c -o other.o"], "ok", "it ran");
    assert_eq!(st["head -c 200000 /dev/zero | tr '\\0' x > big.txt"], "ok");
    assert_eq!(counts(&again), (2, 3));
    assert_eq!(
        fs::read(p.path("other.o")).unwrap(),
        obj,
        "a correct output"
    );
    assert_eq!(fs::read(p.path("big.txt")).unwrap(), big);
    // The bad blob was removed (else the run's copy, of the same size,
    // would not have replaced it), and the bad entry with it.
    p.build(&[]).success().ran_nothing();
    assert_eq!(fs::read(&blob).unwrap(), big, "the good blob is back");
    clean(&p);
    assert_eq!(counts(p.build(&[]).success()), (0, 5));
    assert_eq!(fs::read(p.path("other.o")).unwrap(), obj);
}

#[test]
fn two_builds_share_one_store_at_once() {
    let mut tupfile = String::new();
    for i in 0..12 {
        tupfile.push_str(&format!(": |> echo {i} > %o |> out{i}.txt\n"));
    }
    let a = Project::new().file("Tupfile", &tupfile);
    let b = Project::new().file("Tupfile", &tupfile);
    let store = a.outside("shared-store");
    let store = store.to_str().unwrap();
    for p in [&a, &b] {
        p.enable_cache();
    }
    let runs = [
        a.spawn(&["build", "-j2", "--cache-dir", store]),
        b.spawn(&["build", "-j2", "--cache-dir", store]),
    ];
    for run in runs {
        run.wait().success();
    }
    for p in [&a, &b] {
        assert_eq!(p.read("out7.txt"), "7\n");
        clean(p);
        let again = p.build(&["--cache-dir", store]);
        assert_eq!(counts(again.success()), (0, 12));
        assert_eq!(p.read("out11.txt"), "11\n");
    }
}

#[test]
fn a_read_file_newer_than_the_command_start_is_not_stored() {
    let p = Project::new()
        .file("Tupfile", ": in.txt |> cat in.txt > %o |> out.txt\n")
        .file("in.txt", "hello\n");
    p.enable_cache();
    // Modified "after" the command starts (racy): its result is not kept.
    p.set_mtime("in.txt", SystemTime::now() + Duration::from_secs(3600));
    p.build(&[]).success();
    assert!(stored(&p.cache_dir(), "ac").is_empty(), "nothing stored");
    clean(&p);
    assert_eq!(counts(p.build(&[]).success()), (1, 0));
}

#[test]
fn no_cache_and_cache_off_neither_store_nor_look_up() {
    let p = c_project();
    p.build(&["--no-cache"]).success();
    assert!(stored(&p.cache_dir(), "ac").is_empty());
    clean(&p);
    p.build(&[]).success();
    assert!(!stored(&p.cache_dir(), "ac").is_empty());
    clean(&p);
    p.write(".tupfs/options", "cache = off\n");
    assert_eq!(counts(p.build(&[]).success()), (4, 0), "cache = off");
}

#[test]
fn cache_stats_gc_and_clear() {
    let p = c_project();
    p.build(&[]).success();
    let dir = p.cache_dir();
    let dir = dir.to_str().unwrap();
    let stats = p.run(&["cache", "stats", "--cache-dir", dir]);
    stats.success().says(&["8 entries", "blobs"]);
    p.run(&["cache", "gc", "--cache-dir", dir, "--max-size", "1"])
        .success()
        .says(&["removed"]);
    assert!(
        stored(&p.cache_dir(), "ac").is_empty(),
        "trimmed to nothing"
    );
    p.build(&[]).success();
    clean(&p);
    p.build(&[]).success();
    p.run(&["cache", "clear", "--cache-dir", dir]).success();
    p.run(&["cache", "stats", "--cache-dir", dir])
        .success()
        .says(&["0 entries, 0 blobs"]);
}

#[test]
fn a_second_checkout_elsewhere_shares_hits_with_a_job_root() {
    let a = c_project();
    // -g: every object embeds the directory it was compiled in.
    a.write(
        "Tupfile",
        ": foreach *.c |> gcc -g -c %f -o %o |> %B.o\n: *.o |> gcc %f -o %o |> app\n: |> pwd > %o |> where.txt\n",
    );
    let b = a.clean_copy();
    b.enable_cache();
    let job_root = tempfile::tempdir().unwrap();
    let jr = job_root.path().to_str().unwrap().to_string();
    let store = a.outside("store");
    let store = store.to_str().unwrap();
    let args = ["--job-root", jr.as_str(), "--cache-dir", store];
    assert_eq!(counts(a.build(&args).success()), (5, 0));
    assert_eq!(
        a.read("where.txt"),
        format!("{jr}\n"),
        "jobs run below the job root"
    );
    let embedded = fs::read(a.path("main.o")).unwrap();
    let needle = jr.as_bytes();
    assert!(
        embedded.windows(needle.len()).any(|w| w == needle),
        "-g embeds the job root"
    );
    let at_b = b.build(&args);
    assert_eq!(
        counts(at_b.success()),
        (0, 5),
        "the other checkout is served whole"
    );
    assert_eq!(b.outputs(), a.outputs(), "byte-identical");
    // Without a job root each checkout's own path is in the key.
    let c = a.clean_copy();
    c.enable_cache();
    assert_eq!(counts(c.build(&["--cache-dir", store]).success()), (5, 0));
    assert_eq!(c.read("where.txt"), format!("{}\n", c.root().display()));
}

#[test]
fn a_listed_directory_is_in_the_key() {
    let p = Project::new()
        .file(
            "Tupfile",
            ": |> ls dir > %o |> list.txt\n: |> cat parts/*.txt > %o |> all.txt\n",
        )
        .file("dir/a", "")
        .file("parts/1.txt", "one\n");
    p.enable_cache();
    // Directories changed just before a command started are racy (not
    // stored), as files are: these changed "a while ago".
    let settle = || {
        for d in ["dir", "parts"] {
            p.set_mtime(d, SystemTime::now() - Duration::from_secs(10));
        }
    };
    settle();
    p.build(&[]).success();
    clean(&p);
    assert_eq!(counts(p.build(&[]).success()), (0, 2), "nothing changed");
    // A name added to each listed directory: both miss.
    clean(&p);
    p.write("dir/b", "");
    p.write("parts/2.txt", "two\n");
    settle();
    assert_eq!(
        counts(p.build(&[]).success()),
        (2, 0),
        "both listings changed"
    );
    assert_eq!(p.read("list.txt"), "a\nb\n");
    assert_eq!(p.read("all.txt"), "one\ntwo\n");
    // And a name removed: a hit on the first result again.
    clean(&p);
    p.remove("dir/b");
    p.remove("parts/2.txt");
    settle();
    assert_eq!(counts(p.build(&[]).success()), (0, 2));
    assert_eq!(p.read("list.txt"), "a\n");
    assert_eq!(p.read("all.txt"), "one\n");
}

#[test]
fn with_full_deps_an_outside_read_is_in_the_key() {
    let p = Project::new();
    // Full deps trace the system's top-level directories but not /tmp,
    // where the harness puts projects: the outside file is in the target
    // dir.
    let base = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    if base.starts_with("/tmp") || base.starts_with("/home") || base.starts_with("/root") {
        eprintln!(
            "SKIP: {} is not in a directory full deps trace",
            base.display()
        );
        return;
    }
    let unique = p.root().parent().and_then(|d| d.file_name()).unwrap();
    let dir = base.join(format!("cache-outside-{}", unique.to_string_lossy()));
    fs::create_dir_all(&dir).unwrap();
    let ext = dir.join("ext.txt");
    let old = SystemTime::now() - Duration::from_secs(3600);
    let put = |text: &str, age: u64| {
        fs::write(&ext, text).unwrap();
        let f = fs::File::options().write(true).open(&ext).unwrap();
        f.set_modified(old + Duration::from_secs(age)).unwrap();
    };
    put("one\n", 0);
    p.write(
        "Tupfile",
        &format!(": |> cat {} > %o |> copy.txt\n", ext.display()),
    );
    p.enable_cache();
    let full = ["--full-deps"];
    p.build(&full).success();
    clean(&p);
    assert_eq!(counts(p.build(&full).success()), (0, 1), "unchanged: a hit");
    clean(&p);
    put("two\n", 1);
    assert_eq!(counts(p.build(&full).success()), (1, 0), "changed: a miss");
    assert_eq!(p.read("copy.txt"), "two\n");
    let _ = fs::remove_dir_all(&dir);
}
