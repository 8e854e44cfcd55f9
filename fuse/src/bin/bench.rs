//! Benchmark of the tracing filesystem: the same file operations and a gcc
//! compile, natively and inside a job's view of the mount (as a build mounts
//! it, then with FUSE over io_uring off, then with kernel passthrough off),
//! in one run. Prints medians and ratios as Markdown.
//!
//! Usage: `tupfs-fuse-bench [ITERS [GCC_ITERS]]` (run by bench/fuse/run.sh).
//! Internally re-runs itself as `tupfs-fuse-bench --worker ITERS [OP]`
//! in the directory to measure, natively or as a traced job.
//!
//! For profilers: `tupfs-fuse-bench --profile OP [ITERS [passthrough|plain|devfuse]]`
//! runs only OP as traced jobs, so `perf record -a -g -- tupfs-fuse-bench
//! --profile open+close` sees only it. OP is an operation of the table
//! (`open+close`, ...), `true` or `gcc` (one job per iteration; prints the
//! median of each phase of a job to stderr), or `sh:SCRIPT` (one job
//! running SCRIPT in the test project).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use tupfs_fuse::{Job, JobSpec, MountConfig, MountOptions, Tracer};

/// Distinct files for the "first time in this job" lookups.
const DISTINCT: usize = 2000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("--worker") => worker(&args[2..]),
        Some("--profile") => profile(&args[2..]),
        _ => driver(&args[1..]),
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

/// Runs in the directory to measure; prints `name<TAB>median_ns` lines
/// (only for the operation named by the optional second argument).
fn worker(args: &[String]) -> io::Result<()> {
    let iters = number(args, 0, 20000)?;
    let only = args.get(1).map(String::as_str);
    let mut samples: Samples = Vec::new();
    let mut run = |name: &str, n: usize, op: &mut dyn FnMut(usize) -> io::Result<()>| {
        if only.map_or(true, |o| o == name) {
            samples.push((name.to_owned(), time_each(n, op)?));
        }
        io::Result::Ok(())
    };
    let mut buf = vec![0u8; 4096];
    let big = vec![7u8; 1 << 20];
    let missing: Vec<String> = (0..iters).map(|i| format!("missing{i}.h")).collect();
    let distinct: Vec<String> = (0..DISTINCT).map(|i| format!("many/s{i}.h")).collect();
    let absent = |p: &str| {
        fs::metadata(p)
            .err()
            .map(drop)
            .ok_or_else(|| io::Error::other("exists"))
    };
    run("open+close", iters, &mut |_| File::open("f.txt").map(drop))?;
    run("stat existing (cached in job)", iters, &mut |_| {
        fs::metadata("f.txt").map(drop)
    })?;
    run("stat existing (first time in job)", DISTINCT, &mut |i| {
        fs::metadata(&distinct[i]).map(drop)
    })?;
    run("stat missing (cached in job)", iters, &mut |_| {
        absent("missing.h")
    })?;
    run("stat missing (first time in job)", iters, &mut |i| {
        absent(&missing[i])
    })?;
    run("open+read 4 KiB", iters, &mut |_| {
        File::open("f.txt")?.read_exact(&mut buf)
    })?;
    run("write 1 MiB", (iters / 50).max(20), &mut |_| {
        File::create("w.bin")?.write_all(&big)
    })?;
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

fn run_worker(
    mut cmd: Command,
    iters: usize,
    only: Option<&str>,
) -> io::Result<Vec<(String, u64)>> {
    let out = cmd
        .args(["--worker", &iters.to_string()])
        .args(only)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!("worker: {}", out.status)));
    }
    Ok(parse(&out.stdout))
}

/// How a traced variant is mounted.
#[derive(Clone, Copy)]
struct Variant {
    /// Column label.
    label: &'static str,
    passthrough: bool,
    io_uring: bool,
}

/// The traced variants compared with native, in table order: the default
/// (what a build uses), then each transport or data path turned off.
const VARIANTS: [Variant; 3] = [
    Variant {
        label: "traced",
        passthrough: true,
        io_uring: true,
    },
    Variant {
        label: "traced, /dev/fuse only",
        passthrough: true,
        io_uring: false,
    },
    Variant {
        label: "traced, no passthrough",
        passthrough: false,
        io_uring: true,
    },
];

/// A mount of `root` on `.tupfs/<name>` as `variant` says.
fn mount(root: &Path, name: &str, variant: Variant) -> io::Result<Tracer> {
    let config = MountConfig {
        root: root.to_owned(),
        mountpoint: root.join(format!(".tupfs/{name}")),
        scratch: root.join(format!(".tupfs/{name}-tmp")),
        threads: 0,
    };
    let mut options = MountOptions {
        passthrough: variant.passthrough,
        io_uring: variant.io_uring,
        ..MountOptions::default()
    };
    if let Some(us) = std::env::var("TUPFS_FAST_WAKE_US")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        options.fast_wake = std::time::Duration::from_micros(us);
    }
    Tracer::mount_with(config, options)
}

/// The micro-benchmarks as one traced job.
fn traced_worker(
    tracer: &Tracer,
    exe: &str,
    iters: usize,
    only: Option<&str>,
) -> io::Result<Vec<(String, u64)>> {
    let job = tracer.start_job(&JobSpec::default())?;
    let results = run_worker(job.command(exe), iters, only);
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

/// A command run once per job: the program and its arguments.
type Cmd = (&'static str, &'static [&'static str]);

/// A compile of the test project.
const GCC: Cmd = ("/usr/bin/gcc", &["-O2", "-c", "bench.c", "-o", OUTPUT]);

/// What [`GCC`] writes.
const OUTPUT: &str = "bench.o";

/// The cheapest command: what a job costs besides its command.
const TRUE: Cmd = ("/bin/true", &[]);

/// Run `cmd` natively in `dir` to success and return how long it took.
fn timed(dir: &Path, cmd: Cmd) -> io::Result<u64> {
    // Compile to a new file, as a traced job does (into its scratch
    // directory): rewriting the old output in place makes ext4 start its
    // writeback at close (auto_da_alloc), which cost the native runs ~10%.
    match fs::remove_file(dir.join(OUTPUT)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let t = Instant::now();
    let child = Command::new(cmd.0)
        .args(cmd.1)
        .stdin(Stdio::null())
        .current_dir(dir)
        .spawn()?;
    succeed(child, cmd)?;
    Ok(t.elapsed().as_nanos() as u64)
}

/// Wait for `child` of `cmd`; an error unless it succeeded.
fn succeed(mut child: std::process::Child, cmd: Cmd) -> io::Result<()> {
    let status = child.wait()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("{}: {status}", cmd.0)))
    }
}

/// Spawn `cmd` in `job` as the engine does.
fn spawn_in(job: &Job, cmd: Cmd) -> io::Result<std::process::Child> {
    job.spawn(cmd.0, |c| {
        c.args(cmd.1).stdin(Stdio::null());
    })
}

/// `cmd` as its own traced job (start, spawn, finish, discard), timed.
fn traced(tracer: &Tracer, cmd: Cmd) -> io::Result<u64> {
    let t = Instant::now();
    let job = tracer.start_job(&JobSpec::default())?;
    succeed(spawn_in(&job, cmd)?, cmd)?;
    let fin = job.finish()?;
    fin.pending.discard()?;
    Ok(t.elapsed().as_nanos() as u64)
}

/// `cmd` once per job, as a build runs it (job start, namespace, bind
/// mount, command, finish), alternating with native runs (in rotating
/// order) so machine load hits all alike. Medians of [native, then each
/// tracer]: wall time, and CPU time (the command's and this process's:
/// spawn, daemon and pool threads).
fn per_job(root: &Path, tracers: &[Tracer], iters: usize, cmd: Cmd) -> io::Result<[Vec<u64>; 2]> {
    let n = tracers.len() + 1;
    let mut wall: Vec<Vec<u64>> = vec![Vec::new(); n];
    let mut cpu: Vec<Vec<u64>> = vec![Vec::new(); n];
    for i in 0..iters {
        // Each variant goes first equally often: what runs after another
        // competes with the background clean-up the previous one left.
        for k in (0..n).map(|k| (k + i) % n) {
            let before = cpu_ns();
            wall[k].push(match k {
                0 => timed(root, cmd)?,
                _ => traced(&tracers[k - 1], cmd)?,
            });
            cpu[k].push(cpu_ns().saturating_sub(before));
        }
    }
    // No iterations (GCC_ITERS 0) shows as 0.
    let median = |mut v: Vec<u64>| {
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or(0)
    };
    let medians = |v: Vec<Vec<u64>>| v.into_iter().map(median).collect();
    Ok([medians(wall), medians(cpu)])
}

/// CPU time (user + system) used so far by this process and its waited-for
/// children, in nanoseconds.
fn cpu_ns() -> u64 {
    let used = |who| {
        // SAFETY: getrusage fills the zeroed struct.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(who, &mut ru) };
        let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
        (us(ru.ru_utime) + us(ru.ru_stime)) * 1000
    };
    used(libc::RUSAGE_SELF) + used(libc::RUSAGE_CHILDREN)
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
    let (rows, labels) = result?;
    cleanup?;
    let mut header = String::from("| operation (median) | native |");
    for l in &labels {
        header.push_str(&format!(" {l} | ratio |"));
    }
    println!("{header}");
    println!("|---|---:|{}", "---:|---:|".repeat(labels.len()));
    for (name, times) in rows {
        let native = times[0].max(1) as f64;
        let mut line = format!("| {name} | {} |", show(times[0]));
        for t in &times[1..] {
            line.push_str(&format!(" {} | {:.2}x |", show(*t), *t as f64 / native));
        }
        println!("{line}");
    }
    Ok(())
}

/// `--profile OP [ITERS [passthrough|plain|devfuse]]`: only OP, traced, no
/// output (plain: no passthrough; devfuse: no io_uring).
fn profile(args: &[String]) -> io::Result<()> {
    let op = args
        .first()
        .ok_or_else(|| io::Error::other("--profile needs an operation name"))?;
    let iters = number(args, 1, 20000)?;
    let mode = args.get(2).map_or("passthrough", String::as_str);
    let exe_path = std::env::current_exe()?;
    let exe = exe_path
        .to_str()
        .ok_or_else(|| io::Error::other("exe path not UTF-8"))?;
    let root = make_project()?;
    let result = (|| {
        let variant = Variant {
            passthrough: mode != "plain",
            io_uring: mode != "devfuse",
            ..VARIANTS[0]
        };
        let tracer = mount(&root, "mnt", variant)?;
        if let Some(script) = op.strip_prefix("sh:") {
            let job = tracer.start_job(&JobSpec::default())?;
            let status = job.command("/bin/sh").args(["-c", script]).status()?;
            job.finish()?.pending.discard()?;
            if !status.success() {
                return Err(io::Error::other(format!("{script}: {status}")));
            }
        } else if op == "gcc" || op == "true" {
            let cmd = if op == "gcc" { GCC } else { TRUE };
            phases(&tracer, cmd, iters)?;
        } else {
            traced_worker(&tracer, exe, iters, Some(op))?;
        }
        tracer.unmount()
    })();
    fs::remove_dir_all(&root)?;
    result
}

/// `cmd` as `iters` traced jobs; prints the median of each phase of a job,
/// and for comparison, in the same loop, spawn and wait natively (by
/// `posix_spawn`, and by `fork` with an empty pre-exec hook as a job's
/// command is spawned).
fn phases(tracer: &Tracer, cmd: Cmd, iters: usize) -> io::Result<()> {
    const NAMES: [&str; 9] = [
        "job: start_job",
        "job: spawn (fork to exec)",
        "job: wait",
        "job: finish",
        "job: discard",
        "native posix_spawn: spawn",
        "native posix_spawn: wait",
        "native fork: spawn",
        "native fork: wait",
    ];
    let mut times: [Vec<u64>; 9] = Default::default();
    for _ in 0..iters {
        let mut at = [Instant::now(); 6];
        let job = tracer.start_job(&JobSpec::default())?;
        at[1] = Instant::now();
        let child = spawn_in(&job, cmd)?;
        let status = wait_timed(child, &mut at[2..4])?;
        let fin = job.finish()?;
        at[4] = Instant::now();
        fin.pending.discard()?;
        at[5] = Instant::now();
        for (k, t) in times.iter_mut().take(5).enumerate() {
            t.push((at[k + 1] - at[k]).as_nanos() as u64);
        }
        for fork in [false, true] {
            let mut native = Command::new(cmd.0);
            native.current_dir(&tracer.config().root);
            if fork {
                // SAFETY: an empty hook; it only makes std fork.
                unsafe { native.pre_exec(|| Ok(())) };
            }
            let mut at = [Instant::now(); 3];
            let child = native.args(cmd.1).stdin(Stdio::null()).spawn()?;
            wait_timed(child, &mut at[1..])?;
            let k = if fork { 7 } else { 5 };
            times[k].push((at[1] - at[0]).as_nanos() as u64);
            times[k + 1].push((at[2] - at[1]).as_nanos() as u64);
        }
        if !status.success() {
            return Err(io::Error::other(format!("{}: {status}", cmd.0)));
        }
    }
    for (name, mut t) in NAMES.iter().zip(times) {
        t.sort_unstable();
        eprintln!("{name}: median {}", show(t[t.len() / 2]));
    }
    Ok(())
}

/// `at[0]`: now (just spawned); wait for `child`; `at[1]`: now.
fn wait_timed(
    mut child: std::process::Child,
    at: &mut [Instant],
) -> io::Result<std::process::ExitStatus> {
    at[0] = Instant::now();
    let status = child.wait()?;
    at[1] = Instant::now();
    Ok(status)
}

/// Rows of (operation, [native, then each of `VARIANTS`]) medians.
type Rows = Vec<(String, Vec<u64>)>;

fn measure(
    root: &Path,
    exe: &str,
    iters: usize,
    gcc_iters: usize,
) -> io::Result<(Rows, Vec<String>)> {
    let tracers = VARIANTS
        .iter()
        .enumerate()
        .map(|(k, v)| mount(root, &format!("mnt-{k}"), *v))
        .collect::<io::Result<Vec<Tracer>>>()?;
    let mut native_cmd = Command::new(exe);
    native_cmd.current_dir(root);
    let mut runs = vec![run_worker(native_cmd, iters, None)?];
    for tracer in &tracers {
        runs.push(traced_worker(tracer, exe, iters, None)?);
    }
    let find =
        |v: &[(String, u64)], name: &str| v.iter().find(|(m, _)| m == name).map_or(0, |(_, t)| *t);
    let mut rows: Rows = runs[0]
        .iter()
        .map(|(name, _)| (name.clone(), runs.iter().map(|r| find(r, name)).collect()))
        .collect();
    let [start, _] = per_job(root, &tracers, gcc_iters * 5, TRUE)?;
    rows.push(("job of /bin/true (start to finish)".into(), start));
    let [gcc, gcc_cpu] = per_job(root, &tracers, gcc_iters, GCC)?;
    rows.push(("gcc -O2 -c, one job per compile".into(), gcc));
    rows.push(("gcc per job, CPU time (gcc + tupfs)".into(), gcc_cpu));
    let labels = VARIANTS
        .iter()
        .zip(&tracers)
        .map(|(v, t)| label(*v, t))
        .collect();
    for tracer in tracers {
        tracer.unmount()?;
    }
    Ok((rows, labels))
}

/// A column label that says what the kernel actually gave.
fn label(variant: Variant, tracer: &Tracer) -> String {
    let mut label = variant.label.to_owned();
    if variant.passthrough && !tracer.passthrough() {
        label.push_str(" (passthrough NOT offered)");
    }
    match (variant.io_uring, tracer.io_uring_requests()) {
        (true, None) => label.push_str(" (io_uring NOT offered)"),
        (true, Some(n)) => label.push_str(&format!(" [{n} io_uring requests]")),
        _ => {}
    }
    label
}

fn show(ns: u64) -> String {
    if ns >= 10_000_000 {
        format!("{:.1} ms", ns as f64 / 1e6)
    } else {
        format!("{:.2} µs", ns as f64 / 1e3)
    }
}
