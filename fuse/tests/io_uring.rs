//! FUSE over io_uring: requests served through the per-CPU queues are traced
//! exactly as through `/dev/fuse`, large payloads included, and turning it
//! off (or a kernel that does not offer it) falls back to `/dev/fuse`.

mod common;

use std::fs;
use std::path::Path;

use common::{set, Fixture};
use tupfs_fuse::MountOptions;

const PARAM: &str = "/sys/module/fuse/parameters/enable_uring";

/// Whether the kernel can offer FUSE over io_uring; switches the module
/// parameter on (root) if it is off. Prints why not when it cannot.
fn uring_offered() -> bool {
    match fs::read_to_string(PARAM) {
        Ok(v) if v.trim() == "Y" => true,
        Ok(_) => match fs::write(PARAM, "Y") {
            Ok(()) => true,
            Err(e) => {
                println!("SKIP: cannot enable {PARAM}: {e}");
                false
            }
        },
        Err(e) => {
            println!("SKIP: this kernel has no FUSE over io_uring ({PARAM}: {e})");
            false
        }
    }
}

/// A fixture over io_uring, or `None` when not available here.
fn uring_fixture(options: MountOptions) -> Option<Fixture> {
    if !uring_offered() {
        return None;
    }
    let fx = Fixture::with(options)?;
    assert!(
        fx.tracer().io_uring_requests().is_some(),
        "{PARAM} is Y but the mount does not serve through io_uring (not negotiated, or given up)"
    );
    Some(fx)
}

fn served(fx: &Fixture) -> u64 {
    fx.tracer().io_uring_requests().expect("io_uring in use")
}

#[test]
fn a_gcc_and_python_job_is_traced_through_io_uring() {
    let Some(fx) = uring_fixture(MountOptions::default()) else {
        return;
    };
    fx.write("inc/a.h", "#define A 41\n");
    fx.write(
        "main.c",
        "#include \"inc/a.h\"\nint main(void) { return A + 1; }\n",
    );
    fx.write("data.json", "{\"n\": 3}\n");
    let before = served(&fx);
    let fin = fx.run_ok(
        "gcc -c main.c -o main.o && \
         python3 -c 'import json; n = json.load(open(\"data.json\"))[\"n\"]; \
         open(\"out.txt\", \"w\").write(str(n * 2))'",
    );
    assert!(
        served(&fx) > before,
        "no request came through io_uring ({before} before and after)"
    );
    assert!(fin.log.reads.contains("main.c"), "{:?}", fin.log.reads);
    assert!(fin.log.reads.contains("inc/a.h"), "{:?}", fin.log.reads);
    assert!(fin.log.reads.contains("data.json"), "{:?}", fin.log.reads);
    assert_eq!(fin.log.writes, set(&["main.o", "out.txt"]));
    fin.pending.commit(&|_| true).unwrap();
    assert_eq!(fs::read_to_string(fx.root().join("out.txt")).unwrap(), "6");
}

/// Without passthrough, file data itself travels through the queues: up
/// to 1 MiB per request, in both directions.
#[test]
fn large_reads_and_writes_through_io_uring_keep_every_byte() {
    let options = MountOptions {
        passthrough: false,
        ..MountOptions::default()
    };
    let Some(fx) = uring_fixture(options) else {
        return;
    };
    let data: Vec<u8> = (0..3_000_007u32).map(|i| (i * 7 + i / 251) as u8).collect();
    fs::write(fx.root().join("big.bin"), &data).unwrap();
    let fin = fx.run_ok("cp big.bin copy.bin && cat copy.bin copy.bin > twice.bin");
    assert_eq!(fin.log.reads, set(&["big.bin"]));
    assert_eq!(fin.log.writes, set(&["copy.bin", "twice.bin"]));
    fin.pending.commit(&|_| true).unwrap();
    assert!(fs::read(fx.root().join("copy.bin")).unwrap() == data);
    let twice = fs::read(fx.root().join("twice.bin")).unwrap();
    assert!(twice.len() == 2 * data.len() && twice[data.len()..] == data[..]);
}

/// Eight jobs on both CPUs' queues at once, each many small requests.
#[test]
fn eight_busy_jobs_at_once_get_exactly_their_own_accesses() {
    let Some(fx) = uring_fixture(MountOptions::default()) else {
        return;
    };
    for i in 0..8 {
        for k in 0..50 {
            fx.write(&format!("j{i}/in{k}.txt"), &format!("{i}.{k}\n"));
        }
    }
    let scripts: Vec<String> = (0..8)
        .map(|i| {
            format!(
                "for k in $(seq 0 49); do cat j{i}/in$k.txt; \
                 test -e j{i}/none$k || :; done > j{i}/out.txt"
            )
        })
        .collect();
    let results = common::run_all_at_once(&fx, &scripts);
    for (i, fin) in results.into_iter().enumerate() {
        let reads: Vec<String> = (0..50).map(|k| format!("j{i}/in{k}.txt")).collect();
        let ghosts: Vec<String> = (0..50).map(|k| format!("j{i}/none{k}")).collect();
        assert_eq!(fin.log.reads, reads.iter().cloned().collect());
        assert_eq!(fin.log.ghosts, ghosts.iter().cloned().collect());
        assert_eq!(fin.log.writes, set(&[&format!("j{i}/out.txt")]));
        fin.pending.commit(&|_| true).unwrap();
        let out = fs::read_to_string(fx.root().join(format!("j{i}/out.txt"))).unwrap();
        let want: String = (0..50).map(|k| format!("{i}.{k}\n")).collect();
        assert_eq!(out, want, "job {i}");
    }
}

#[test]
fn turned_off_it_serves_through_dev_fuse_only() {
    if !Path::new(PARAM).exists() {
        println!("SKIP: no {PARAM}");
    }
    let options = MountOptions {
        io_uring: false,
        ..MountOptions::default()
    };
    let Some(fx) = Fixture::with(options) else {
        return;
    };
    assert_eq!(fx.tracer().io_uring_requests(), None);
    fx.write("a.txt", "a\n");
    let fin = fx.run_ok("cat a.txt > b.txt; test -e nothing || :");
    assert_eq!(fin.log.reads, set(&["a.txt"]));
    assert_eq!(fin.log.ghosts, set(&["nothing"]));
    assert_eq!(fin.log.writes, set(&["b.txt"]));
}
