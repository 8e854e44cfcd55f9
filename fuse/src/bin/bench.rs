//! Benchmark of the tracing filesystem: the same file operations and a gcc
//! compile, natively and inside a job's view of the mount (with and without
//! kernel passthrough), in one run. Prints medians and ratios as Markdown.
//!
//! Usage: `tupfs-fuse-bench [ITERS [GCC_ITERS]]` (run by bench/fuse/run.sh).
//! Internally re-runs itself as `tupfs-fuse-bench --worker ITERS GCC_ITERS`
//! in the directory to measure, natively or as a traced job.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use tupfs_fuse::{JobSpec, MountConfig, MountOptions, Tracer};

/// Distinct files for the "first time in this job" lookups.
const DISTINCT: usize = 2000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let result = if args.get(1).map(String::as_str) == Some("--worker") {
        worker(&args[2..])
    } else {
        driver(&args[1..])
    };
    if let Err(e) = result {
        eprintln!("tupfs-fuse-bench: {e}");
        std::process::exit(1);
    }
}

fn number(args: &[String], i: usize, default: usize) -> io::Result<usize> {
    match args.get(i) {
        None => Ok(default),
        Some(s) => s
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("not a count: {s}"))),
    }
}

/// One measured operation: its name and per-iteration nanoseconds.
type Samples = Vec<(String, Vec<u64>)>;

fn time_each(iters: usize, mut op: impl FnMut(usize) -> io::Result<()>) -> io::Result<Vec<u64>> {
    let mut out = Vec::with_capacity(iters);
    for i in 0..iters {
        let t = Instant::now();
        op(i)?;
        out.push(t.elapsed().as_nanos() as u64);
    }
    Ok(out)
}

/// Runs in the directory to measure; prints `name<TAB>median_ns` lines.
fn worker(args: &[String]) -> io::Result<()> {
    let iters = number(args, 0, 20000)?;
    let mut samples: Samples = Vec::new();
    let mut buf = vec![0u8; 4096];
    let big = vec![7u8; 1 << 20];
    let missing: Vec<String> = (0..iters).map(|i| format!("missing{i}.h")).collect();
    let distinct: Vec<String> = (0..DISTINCT).map(|i| format!("many/s{i}.h")).collect();

    samples.push((
        "open+close".into(),
        time_each(iters, |_| File::open("f.txt").map(drop))?,
    ));
    samples.push((
        "stat existing (cached in job)".into(),
        time_each(iters, |_| fs::metadata("f.txt").map(drop))?,
    ));
    samples.push((
        "stat existing (first time in job)".into(),
        time_each(DISTINCT, |i| fs::metadata(&distinct[i]).map(drop))?,
    ));
    samples.push((
        "stat missing (cached in job)".into(),
        time_each(iters, |_| {
            fs::metadata("missing.h")
                .err()
                .map(drop)
                .ok_or_else(|| io::Error::other("exists"))
        })?,
    ));
    samples.push((
        "stat missing (first time in job)".into(),
        time_each(iters, |i| {
            fs::metadata(&missing[i])
                .err()
                .map(drop)
                .ok_or_else(|| io::Error::other("exists"))
        })?,
    ));
    samples.push((
        "open+read 4 KiB".into(),
        time_each(iters, |_| File::open("f.txt")?.read_exact(&mut buf))?,
    ));
    samples.push((
        "write 1 MiB".into(),
        time_each((iters / 50).max(20), |_| {
            File::create("w.bin")?.write_all(&big)
        })?,
    ));
    for (name, mut ns) in samples {
        ns.sort_unstable();
        println!("{name}\t{}", ns[ns.len() / 2]);
    }
    Ok(())
}

/// A throwaway project to measure in.
fn make_project() -> io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("tupfs-fuse-bench-{}", std::process::id()));
    fs::create_dir_all(dir.join("many"))?;
    fs::write(dir.join("f.txt"), vec![b'x'; 4096])?;
    for i in 0..DISTINCT {
        fs::write(dir.join(format!("many/s{i}.h")), "")?;
    }
    let mut c = String::from("#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n");
    for i in 0..10 {
        fs::write(
            dir.join(format!("h{i}.h")),
            format!("#pragma once\nstatic inline int h{i}(int x) {{ return x * {i} + 1; }}\n"),
        )?;
        c.push_str(&format!("#include \"h{i}.h\"\n"));
    }
    c.push_str("int main(int argc, char **argv) {\n  int s = 0;\n");
    for i in 0..10 {
        c.push_str(&format!(
            "  for (int i = 0; i < argc * 100; i++) s += h{i}(i) ^ (int)strlen(argv[0]);\n"
        ));
    }
    c.push_str("  printf(\"%d\\n\", s);\n  return s == 42 ? EXIT_FAILURE : EXIT_SUCCESS;\n}\n");
    fs::write(dir.join("bench.c"), c)?;
    Ok(dir)
}

fn parse(output: &[u8]) -> Vec<(String, u64)> {
    String::from_utf8_lossy(output)
        .lines()
        .filter_map(|l| {
            let (name, ns) = l.split_once('\t')?;
            Some((name.to_owned(), ns.parse().ok()?))
        })
        .collect()
}

fn run_worker(mut cmd: Command, iters: usize) -> io::Result<Vec<(String, u64)>> {
    let out = cmd
        .args(["--worker", &iters.to_string()])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!("worker: {}", out.status)));
    }
    Ok(parse(&out.stdout))
}

/// A mount of `root` on `.tupfs/<name>` with or without passthrough.
fn mount(root: &Path, name: &str, passthrough: bool) -> io::Result<Tracer> {
    let config = MountConfig {
        root: root.to_owned(),
        mountpoint: root.join(format!(".tupfs/{name}")),
        scratch: root.join(format!(".tupfs/{name}-tmp")),
        threads: 0,
    };
    let options = MountOptions {
        passthrough,
        ..MountOptions::default()
    };
    Tracer::mount_with(config, options)
}

/// The micro-benchmarks as one traced job.
fn traced_worker(tracer: &Tracer, exe: &str, iters: usize) -> io::Result<Vec<(String, u64)>> {
    let job = tracer.start_job(&JobSpec::default())?;
    let results = run_worker(job.command(exe), iters);
    let fin = job.finish()?;
    eprintln!(
        "  traced worker: {} reads, {} ghosts, {} writes",
        fin.log.reads.len(),
        fin.log.ghosts.len(),
        fin.log.writes.len()
    );
    fin.pending.discard()?;
    results
}

fn gcc(mut cmd: Command) -> io::Result<u64> {
    let t = Instant::now();
    let status = cmd
        .args(["-O2", "-c", "bench.c", "-o", "bench.o"])
        .stdin(Stdio::null())
        .status()?;
    let ns = t.elapsed().as_nanos() as u64;
    if status.success() {
        Ok(ns)
    } else {
        Err(io::Error::other(format!("gcc: {status}")))
    }
}

/// One compile per job, as a build runs it (job start, namespace, bind
/// mount, compile, finish), alternating with native compiles so machine
/// load hits all three alike.
fn compiles(root: &Path, tracers: [&Tracer; 2], iters: usize) -> io::Result<[u64; 3]> {
    let mut times: [Vec<u64>; 3] = Default::default();
    for _ in 0..iters {
        let mut native = Command::new("gcc");
        native.current_dir(root);
        times[0].push(gcc(native)?);
        for (k, tracer) in tracers.iter().enumerate() {
            let t = Instant::now();
            let job = tracer.start_job(&JobSpec::default())?;
            gcc(job.command("gcc"))?;
            let fin = job.finish()?;
            fin.pending.discard()?;
            times[k + 1].push(t.elapsed().as_nanos() as u64);
        }
    }
    Ok(times.map(|mut v| {
        v.sort_unstable();
        v[v.len() / 2]
    }))
}

fn driver(args: &[String]) -> io::Result<()> {
    let iters = number(args, 0, 20000)?;
    let gcc_iters = number(args, 1, 20)?;
    let exe_path = std::env::current_exe()?;
    let exe = exe_path
        .to_str()
        .ok_or_else(|| io::Error::other("exe path not UTF-8"))?;
    let root = make_project()?;
    eprintln!(
        "project {}; {iters} iterations, {gcc_iters} compiles",
        root.display()
    );
    let result = measure(&root, exe, iters, gcc_iters);
    let cleanup = fs::remove_dir_all(&root);
    let (mut rows, got_pass) = result?;
    cleanup?;
    println!(
        "| operation (median) | native | traced, passthrough{} | ratio | traced, no passthrough | ratio |",
        if got_pass { "" } else { " (NOT offered)" }
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, [n, p, q]) in rows.drain(..) {
        println!(
            "| {name} | {} | {} | {:.2}x | {} | {:.2}x |",
            show(n),
            show(p),
            p as f64 / n.max(1) as f64,
            show(q),
            q as f64 / n.max(1) as f64
        );
    }
    Ok(())
}

/// Rows of (operation, [native, passthrough, no passthrough]) medians.
type Rows = Vec<(String, [u64; 3])>;

fn measure(root: &Path, exe: &str, iters: usize, gcc_iters: usize) -> io::Result<(Rows, bool)> {
    let pass = mount(root, "mnt-pt", true)?;
    let nopass = mount(root, "mnt-np", false)?;
    let mut native_cmd = Command::new(exe);
    native_cmd.current_dir(root);
    let native = run_worker(native_cmd, iters)?;
    let p = traced_worker(&pass, exe, iters)?;
    let q = traced_worker(&nopass, exe, iters)?;
    let find =
        |v: &[(String, u64)], name: &str| v.iter().find(|(m, _)| m == name).map_or(0, |(_, t)| *t);
    let mut rows: Rows = native
        .iter()
        .map(|(name, n)| (name.clone(), [*n, find(&p, name), find(&q, name)]))
        .collect();
    let gcc = compiles(root, [&pass, &nopass], gcc_iters)?;
    rows.push(("gcc -O2 -c, one job per compile".into(), gcc));
    let got_pass = pass.passthrough();
    pass.unmount()?;
    nopass.unmount()?;
    Ok((rows, got_pass))
}

fn show(ns: u64) -> String {
    if ns >= 10_000_000 {
        format!("{:.1} ms", ns as f64 / 1e6)
    } else {
        format!("{:.2} µs", ns as f64 / 1e3)
    }
}
