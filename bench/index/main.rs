//! Index and scan benchmark: builds a 100,000-command record with realistic
//! paths, writes it, measures the open the build waits on
//! (`Index::open_unconfirmed`), the checksum verified beside it
//! (`Index::confirm`) and lookups (medians of many),
//! then a full stat scan and a digest scan of a generated tree on disk.
//!
//! Run with `bench/index/run.sh` (a release build). Environment:
//! `BENCH_COMMANDS` (default 100000), `BENCH_TREE_FILES` (default 50000),
//! `BENCH_DIR` (where to write; default a temporary directory).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tupfs::change::{ChangeDetector, ChangeSource, FileKind, FileState, FullScan, Moment};
use tupfs::identity;
use tupfs::index::{
    BuildRecord, CommandRecord, FileRecord, FileRef, Generation, Index, IndexOptions, Open, Seen,
    TupfileRecord, VariableRecord,
};
use tupfs::options::ChangeMode;
use tupfs::paths::ProjPath;
use tupfs::tupfile::{Location, Rule};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn p(s: &str) -> ProjPath {
    ProjPath::new(s).expect("bench paths are project-relative")
}

fn state(n: u64) -> FileState {
    FileState {
        kind: FileKind::File,
        mtime_ns: 1_700_000_000_000_000_000 + n as i64 * 7_919,
        ctime_ns: 1_700_000_000_000_000_000 + n as i64 * 7_919,
        size: 1000 + n % 50_000,
        ino: 100_000 + n,
    }
}

fn file(path: &str, n: u64, generated: bool) -> FileRecord {
    FileRecord {
        path: p(path),
        state: Some(state(n)),
        digest: Some(identity::Digest::of(path.as_bytes())),
        generated,
        recorded_at: Moment(1_800_000_000_000_000_000),
        since: Generation(1),
    }
}

/// 100 files per directory in a three-level tree, ~20 header reads each
/// from a shared pool, one object output and one dependency file.
fn build_record(commands: usize) -> BuildRecord {
    let mut r = BuildRecord {
        generation: Generation(2),
        ..Default::default()
    };
    let headers: Vec<FileRef> = (0..5000)
        .map(|h| {
            let path = format!("include/lib{}/detail/header_{h:05}.h", h % 40);
            r.add_file(file(&path, h as u64, false))
        })
        .collect();
    let dirs = commands.div_ceil(100);
    for d in 0..dirs {
        let dir = format!("src/component_{:03}/module_{:02}/impl", d / 10, d % 10);
        let tupfile = r.add_file(file(&format!("{dir}/Tupfile"), d as u64, false));
        r.tupfiles.push(TupfileRecord {
            variant: p(""),
            dir: p(&dir),
            tupfile: p(&format!("{dir}/Tupfile")),
            depends_on: vec![],
            reads: vec![Seen {
                file: tupfile,
                since: Generation(1),
            }],
            vars: vec![],
        });
        for i in 0..100.min(commands - d * 100) {
            let n = (d * 100 + i) as u64;
            r.commands.push(command(&mut r.files, &dir, n, &headers));
        }
    }
    r.variables.push(VariableRecord {
        name: "@CC".into(),
        value: identity::value_digest(Some("gcc")),
    });
    r
}

fn command(files: &mut Vec<FileRecord>, dir: &str, n: u64, headers: &[FileRef]) -> CommandRecord {
    let src = format!("source_file_{n:06}.c");
    let obj = format!("source_file_{n:06}.o");
    let mut add = |f: FileRecord| {
        files.push(f);
        FileRef(files.len() as u32 - 1)
    };
    let src_ref = add(file(&format!("{dir}/{src}"), n, false));
    add(file(&format!("{dir}/{obj}"), n, true));
    let rule = Rule {
        location: Location {
            file: p(&format!("{dir}/Tupfile")),
            line: 4,
        },
        dir: p(dir),
        command: format!(
            "gcc -c -O2 -g -Wall -Wextra -I../../../../include -DCOMPONENT={} {src} -o {obj}",
            n / 1000
        ),
        display: Some(format!("CC {src}")),
        flags: Default::default(),
        inputs: vec![p(&format!("{dir}/{src}"))],
        order_only: vec![],
        input_groups: vec![],
        outputs: vec![p(&format!("{dir}/{obj}"))],
        extra_outputs: vec![],
        output_group: None,
        ignore: vec![],
        config_used: [("CC".to_string(), "gcc".to_string())].into(),
        exports: vec!["PATH".into()],
        source_dir: p(dir),
        variant: p(""),
    };
    let id = identity::of(&rule, &|_| Some("/usr/local/bin:/usr/bin:/bin".into()));
    let mut reads = vec![Seen {
        file: src_ref,
        since: Generation(1),
    }];
    for k in 0..20u64 {
        let h = headers[((n * 31 + k * 257) % headers.len() as u64) as usize];
        reads.push(Seen {
            file: h,
            since: Generation(1),
        });
    }
    CommandRecord {
        rule,
        key: id.key,
        signature: id.signature,
        sticky: id.sticky,
        must_rerun: false,
        reads,
        outside: Vec::new(),
        position: n as u32,
    }
}

/// CPU time of this process so far (all threads): on a shared machine the
/// wall clock also measures the neighbours.
fn cpu_time() -> Duration {
    clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// CPU time of the calling thread so far.
fn thread_cpu_time() -> Duration {
    clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn clock(id: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass.
    unsafe { libc::clock_gettime(id, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn bench_index(dir: &Path, commands: usize) {
    let t = Instant::now();
    let record = build_record(commands);
    println!(
        "record: {} commands, {} files, {} reads (built in {})",
        record.commands.len(),
        record.files.len(),
        record.commands.iter().map(|c| c.reads.len()).sum::<usize>(),
        ms(t.elapsed())
    );
    let path = dir.join("index");
    let opts = IndexOptions::default();
    let (t, cpu) = (Instant::now(), cpu_time());
    Index::write(&path, &record, &opts).expect("write the index");
    println!(
        "write (flatten + serialise + fsync + rename): {} (CPU {})",
        ms(t.elapsed()),
        ms(cpu_time() - cpu)
    );
    let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!("index size: {:.1} MiB", len as f64 / (1024.0 * 1024.0));

    let probe_out = record.commands[commands / 2].rule.outputs[0].to_string();
    let probe_key = record.commands[commands / 3].key;
    let probe_file = record.files[record.files.len() / 2].path.to_string();
    let mut times = OpenTimes::default();
    for _ in 0..51 {
        let (t, cpu, thread_cpu) = (Instant::now(), cpu_time(), thread_cpu_time());
        let Open::Ready(mut index) = Index::open_unconfirmed(&path, &opts) else {
            panic!("the index just written does not open");
        };
        times.open.push(t.elapsed());
        times.open_cpu.push(thread_cpu_time() - thread_cpu);
        let looked = Instant::now();
        let cmd = index.command_by_output(&probe_out).expect("output lookup");
        assert!(index.commands_by_key(&probe_key).count() == 1);
        assert!(index.file(&probe_file).is_some());
        std::hint::black_box(cmd.reads().count());
        times.lookup.push(looked.elapsed());
        let waited = Instant::now();
        index.confirm().expect("the index just written is sound");
        times.confirm_wait.push(waited.elapsed());
        let all_cpu = cpu_time() - cpu;
        times
            .checksum_cpu
            .push(all_cpu.saturating_sub(thread_cpu_time() - thread_cpu));
        times.total.push(t.elapsed());
        times.total_cpu.push(all_cpu);
    }
    times.print();
}

/// One series per measured step of an open.
#[derive(Default)]
struct OpenTimes {
    open: Vec<Duration>,
    open_cpu: Vec<Duration>,
    lookup: Vec<Duration>,
    confirm_wait: Vec<Duration>,
    checksum_cpu: Vec<Duration>,
    total: Vec<Duration>,
    total_cpu: Vec<Duration>,
}

impl OpenTimes {
    fn print(self) {
        let n = self.open.len();
        for (what, series) in [
            (
                "open_unconfirmed (header + rkyv validation; what the build waits on)",
                self.open,
            ),
            ("  CPU of the opening thread", self.open_cpu),
            ("three lookups (output, key, file)", self.lookup),
            (
                "confirm: wait for the checksum after the lookups",
                self.confirm_wait,
            ),
            ("  checksum CPU (other threads)", self.checksum_cpu),
            ("open + lookups + confirm, wall", self.total),
            ("  CPU of all threads", self.total_cpu),
        ] {
            println!("{what}, median of {n}: {}", ms(median(series)));
        }
    }
}

/// A tree of `count` files (1-8 KiB) in directories of 100.
fn make_tree(root: &Path, count: usize) -> BuildRecord {
    let mut record = BuildRecord::default();
    let detector = ChangeDetector::new(ChangeMode::Digest);
    let moment = Moment(i64::MAX);
    for i in 0..count {
        let rel = format!("d{:04}/f{i:06}.c", i / 100);
        let disk = root.join(&rel);
        if i % 100 == 0 {
            std::fs::create_dir_all(disk.parent().expect("has a parent")).expect("mkdir");
        }
        let body = format!("int f{i}(void) {{ return {i}; }}\n").repeat(1 + i % 256);
        std::fs::write(&disk, body).expect("write a tree file");
        let j = detector.judge(&disk, None, false, moment);
        record.add_file(j.to_record(p(&rel), false, Generation(1), Generation(1)));
    }
    record
}

fn bench_scans(dir: &Path, files: usize) {
    let tree = dir.join("tree");
    let t = Instant::now();
    let record = make_tree(&tree, files);
    let bytes: u64 = record
        .files
        .iter()
        .filter_map(|f| f.state.map(|s| s.size))
        .sum();
    println!(
        "tree: {files} files, {:.1} MiB, made in {}",
        bytes as f64 / (1024.0 * 1024.0),
        ms(t.elapsed())
    );
    // As in a real build, the index is written after the files settled:
    // recorded well after their mtimes, so none is racy.
    std::thread::sleep(Duration::from_millis(50));
    let settled = Moment::now();
    let mut record = record;
    for f in &mut record.files {
        f.recorded_at = settled;
    }
    let path = dir.join("tree-index");
    Index::write(&path, &record, &IndexOptions::default()).expect("write");
    let Open::Ready(index) = Index::open(&path, &IndexOptions::default()) else {
        panic!("tree index does not open");
    };
    let scan = FullScan::new(&tree);
    for mode in [ChangeMode::Mtime, ChangeMode::Digest] {
        let mut times = Vec::new();
        let mut cpu_times = Vec::new();
        for _ in 0..5 {
            let (t, cpu) = (Instant::now(), cpu_time());
            let changes = scan.changes(&index, ChangeDetector::new(mode));
            times.push(t.elapsed());
            cpu_times.push(cpu_time() - cpu);
            assert_eq!(changes.changed().count(), 0, "nothing changed");
        }
        println!(
            "full scan, {} mode, {} threads, median of 5: {} (CPU {})",
            mode,
            scan.threads,
            ms(median(times)),
            ms(median(cpu_times))
        );
    }
}

fn main() {
    let commands = env_usize("BENCH_COMMANDS", 100_000);
    let tree_files = env_usize("BENCH_TREE_FILES", 50_000);
    let tmp;
    let dir: PathBuf = match std::env::var_os("BENCH_DIR") {
        Some(d) => d.into(),
        None => {
            tmp = tempfile::tempdir().expect("temporary directory");
            tmp.path().to_path_buf()
        }
    };
    std::fs::create_dir_all(&dir).expect("bench directory");
    bench_index(&dir, commands);
    bench_scans(&dir, tree_files);
}
