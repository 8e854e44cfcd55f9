//! Killing the build with SIGKILL at random moments, then building again,
//! always yields outputs byte-identical to a clean build (made at the same
//! absolute path), leaves no mount and no staged writes behind, and the
//! build after that has nothing to do.
//!
//! The project (generated from the seed): a generated header (`gen/`), three
//! library directories compiled with `gcc` and archived with `ar D`
//! (deterministic), one of them with `^t` transient objects, the others'
//! compiles in `compile_commands.json` (`^j`), and a link of
//! everything into `prog`. Between kills a source, a header or the
//! generator's input is edited, a source touched or an output removed; each
//! iteration builds in a change mode picked at random.
//!
//! Iterations: `TUPFS_KILL_ITERATIONS` (default 12); the kill lands in a
//! window about as long as a build, or `TUPFS_KILL_WINDOW_MS`. Seed:
//! `TUPFS_KILL_SEED` (default: from the clock; always printed, but where
//! the kill lands depends on timing, so a seed narrows a failure down
//! rather than replaying it exactly).

mod harness;

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use harness::{mounts_under, wait_until, Mode, Project, Rng};

/// Source path → text.
type Files = BTreeMap<String, String>;
/// Output path → bytes.
type Outputs = BTreeMap<String, Vec<u8>>;

const LIBS: usize = 3;
const SOURCES_PER_LIB: usize = 7;

/// The project's sources: path → text.
fn sources(values: &BTreeMap<String, u64>) -> BTreeMap<String, String> {
    let v = |k: &str| values.get(k).copied().unwrap_or(0);
    let mut f = BTreeMap::new();
    f.insert("Tupfile.ini".into(), String::new());
    f.insert(
        "Tuprules.tup".into(),
        "CFLAGS = -g0 -O0 -I$(TUP_CWD)/include -I$(TUP_CWD)/gen\n".into(),
    );
    f.insert(
        "include/common.h".into(),
        format!("#define COMMON {}\n", v("common")),
    );
    f.insert("gen/gen.in".into(), format!("GENERATED {}\n", v("gen")));
    f.insert(
        "gen/Tupfile".into(),
        ": gen.in |> ^ GEN %o^ sed 's/GENERATED/#define GEN/' %f > %o |> gen.h\n".into(),
    );
    let mut link_inputs = String::new();
    for lib in 0..LIBS {
        // Library 1 keeps no objects: they are transient.
        let flags = if lib == 1 { "^t " } else { "^j " };
        f.insert(
            format!("lib{lib}/Tupfile"),
            format!(
                "include_rules\n\
                 : foreach *.c | ../gen/gen.h |> {flags}CC %f^ gcc $(CFLAGS) -c %f -o %o |> %B.o\n\
                 : *.o |> ^ AR %o^ ar crD %o %f |> lib{lib}.a\n"
            ),
        );
        let mut calls = String::new();
        for n in 0..SOURCES_PER_LIB {
            let name = format!("l{lib}f{n}");
            let uses_gen = n % 3 == 0;
            let text = format!(
                "#include \"common.h\"\n{}int {name}(void) {{ return COMMON + {}{}; }}\n",
                if uses_gen { "#include \"gen.h\"\n" } else { "" },
                v(&name),
                if uses_gen { " + GEN" } else { "" },
            );
            f.insert(format!("lib{lib}/{name}.c"), text);
            calls.push_str(&format!("int {name}(void);\n"));
        }
        f.insert(format!("lib{lib}/api.h"), calls);
        link_inputs.push_str(&format!(" lib{lib}/lib{lib}.a"));
    }
    let mut main = String::from("#include <stdio.h>\n");
    for lib in 0..LIBS {
        main.push_str(&format!("#include \"lib{lib}/api.h\"\n"));
    }
    main.push_str("int main(void) {\n    long s = 0;\n");
    for lib in 0..LIBS {
        for n in 0..SOURCES_PER_LIB {
            main.push_str(&format!("    s += l{lib}f{n}();\n"));
        }
    }
    main.push_str("    printf(\"%ld\\n\", s);\n    return 0;\n}\n");
    f.insert("main.c".into(), main);
    f.insert(
        "Tupfile".into(),
        format!(": main.c{link_inputs} |> ^ LINK %o^ gcc -g0 -O0 %f -o %o |> prog\n"),
    );
    f
}

/// Edit one value: a source's constant, the common header, the generator.
fn edit(rng: &mut Rng, values: &mut BTreeMap<String, u64>) -> String {
    let key = match rng.below(4) {
        0 => "common".to_string(),
        1 => "gen".to_string(),
        _ => format!(
            "l{}f{}",
            rng.below(LIBS as u64),
            rng.below(SOURCES_PER_LIB as u64)
        ),
    };
    *values.entry(key.clone()).or_insert(0) += 1 + rng.below(5);
    key
}

fn write_all(p: &Project, files: &BTreeMap<String, String>, before: &BTreeMap<String, String>) {
    for (path, text) in files {
        if before.get(path) != Some(text) {
            p.write(path, text);
        }
    }
}

fn iterations() -> u64 {
    std::env::var("TUPFS_KILL_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12)
}

/// `TUPFS_KILL_WINDOW_MS`: kill within this many ms of the start (e.g. a
/// small value to aim at parsing and mounting).
fn window_override() -> Option<u64> {
    std::env::var("TUPFS_KILL_WINDOW_MS").ok()?.parse().ok()
}

fn seed() -> u64 {
    std::env::var("TUPFS_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        })
}

/// Abort the FUSE connections mounted below `dir` (frees a process stuck
/// waiting on its own dead daemon).
fn abort_fuse_under(dir: &std::path::Path) {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    for line in info.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let (Some(dev), Some(point)) = (fields.get(2), fields.get(4)) else {
            continue;
        };
        if let (true, Some(minor)) = (
            point.starts_with(dir.to_str().unwrap_or("/")),
            dev.split(':').nth(1),
        ) {
            let _ = std::fs::write(format!("/sys/fs/fuse/connections/{minor}/abort"), "1");
        }
    }
}

/// The state and kernel stack of each thread of `pid` (what a process
/// that does not die is waiting for).
fn kernel_stacks(pid: u32) -> String {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return format!("(no /proc/{pid}/task)");
    };
    let mut out = String::new();
    for task in tasks.flatten() {
        let dir = task.path();
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        let state = read("status")
            .lines()
            .find(|l| l.starts_with("State:"))
            .unwrap_or_default()
            .to_string();
        let name = task.file_name().to_string_lossy().into_owned();
        out.push_str(&format!(
            "thread {name} {} {state}\n{}",
            read("comm").trim(),
            read("stack")
        ));
    }
    out
}

/// What must hold after a build that followed a killed one.
fn check_nothing_left(p: &Project, context: &str) {
    let mounts = mounts_under(p.root());
    assert!(mounts.is_empty(), "{context}: mounts left: {mounts:?}");
    let scratch = p.path(".tupfs/tmp");
    let left: Vec<String> = std::fs::read_dir(&scratch)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "{context}: left in .tupfs/tmp: {left:?}");
}

#[test]
fn sigkill_at_random_moments_then_rebuild_equals_clean() {
    require_fuse!();
    kill_test(false, iterations());
}

/// The same with full dependencies on (`.tupfs/options`): what commands
/// read outside the project is recorded too (fewer iterations by default).
#[test]
fn sigkill_with_full_deps_then_rebuild_equals_clean() {
    require_fuse!();
    kill_test(true, iterations().min(6));
}

fn kill_test(full_deps: bool, n: u64) {
    let seed = seed();
    eprintln!("kill test: seed {seed} (TUPFS_KILL_SEED), {n} iterations, full deps {full_deps}");
    let mut rng = Rng(seed);
    let mut values = BTreeMap::new();
    let p = Project::new();
    if full_deps {
        p.write(".tupfs/options", "full_deps = true\n");
    }
    let mut files = sources(&values);
    write_all(&p, &files, &BTreeMap::new());
    let started = Instant::now();
    p.build(&[]).success();
    // Kill anywhere in a window a bit longer than a build takes (then as
    // long as the last recovering build took, which had about as much to do).
    let mut window = started.elapsed().as_millis() as u64 * 5 / 4 + 1;
    let mut clean: Option<(Files, Outputs)> = None;
    let mut history = Vec::new();
    let mut killed = 0;
    for i in 0..n {
        // Always give the build something to do.
        match rng.below(5) {
            0..=2 => {
                history.push(format!("{i}: edit {}", edit(&mut rng, &mut values)));
                let next = sources(&values);
                write_all(&p, &next, &files);
                files = next;
            }
            3 => {
                let keys: Vec<&String> = files.keys().filter(|k| k.ends_with(".c")).collect();
                let key = keys[rng.below(keys.len() as u64) as usize].clone();
                history.push(format!("{i}: touch {key}"));
                p.touch(&key);
            }
            _ => {
                let outputs: Vec<String> = p.outputs().into_keys().collect();
                let out = &outputs[rng.below(outputs.len() as u64) as usize];
                history.push(format!("{i}: remove {out}"));
                p.remove(out);
            }
        }
        let delay = rng.below(window_override().unwrap_or(window));
        let mode = Mode::ALL[rng.below(Mode::ALL.len() as u64) as usize];
        history.push(format!(
            "{i}: --change {}, kill after {delay} ms",
            mode.name()
        ));
        let context = format!("seed {seed}, iteration {i}\n  {}", history.join("\n  "));
        let mut run = p.spawn(&["build", "--change", mode.name()]);
        std::thread::sleep(Duration::from_millis(delay));
        run.signal(libc::SIGKILL);
        if !wait_until(Duration::from_secs(30), || run.has_exited()) {
            let stacks = kernel_stacks(run.pid());
            abort_fuse_under(p.root());
            panic!(
                "{context}\ntupfs did not die of SIGKILL; its threads' kernel stacks:\n{stacks}"
            );
        }
        if run.wait().status.signal() == Some(libc::SIGKILL) {
            killed += 1;
        }

        let again_started = Instant::now();
        let again = p.build_in(mode, &[]);
        window = again_started.elapsed().as_millis() as u64 * 3 / 2 + 1;
        if !again.status.success() {
            again.fail(&format!("{context}\nthe build after the kill failed"));
        }
        check_nothing_left(&p, &context);
        let third = p.build_in(mode, &[]);
        if third.log().commands.is_empty() && third.log().status == "nothing-to-do" {
            third.success();
        } else {
            third.fail(&format!("{context}\nthe third build was not a no-op"));
        }
        if clean.as_ref().map_or(true, |(f, _)| *f != files) {
            let (out, outputs) = p.clean_build_in_place(&[]);
            if !out.status.success() {
                out.fail(&format!("{context}\nthe clean build failed"));
            }
            clean = Some((files.clone(), outputs));
        }
        let expected = &clean.as_ref().expect("made above").1;
        let got = p.outputs();
        let differ: Vec<&String> = expected
            .keys()
            .chain(got.keys())
            .filter(|k| expected.get(*k) != got.get(*k))
            .collect();
        assert!(
            differ.is_empty(),
            "{context}\noutputs differ from a clean build: {differ:?}"
        );
    }
    eprintln!("kill test: seed {seed}: {n} iterations ok ({killed} killed mid-build)");
}

/// Two transient copies and their consumer.
const TRANSIENT_PAIR: &str = "\
: foreach a.in b.in |> ^t^ cp %f %o |> %B.mid
: *.mid |> ^ CAT %o^ cat %f > %o |> all
";

/// The state a kill between a consumer's commit and the deletion of the
/// transient files it read leaves: every output as the index recorded it,
/// and a transient file still there with the contents recorded for it (in
/// a digest mode: unchanged). The next build deletes it, whatever else it
/// has to do (here nothing): the outputs are a clean build's, and the
/// build after that is a no-op.
#[test]
fn transient_files_a_killed_build_left_are_deleted_by_the_next_build() {
    require_fuse!();
    for mode in Mode::ALL {
        let p = Project::new();
        p.write("Tupfile.ini", "");
        p.write("Tupfile", TRANSIENT_PAIR);
        p.write("a.in", "a\n");
        p.write("b.in", "b\n");
        p.build_in(mode, &[]).success();
        let clean = p.outputs();
        assert!(!clean.contains_key("a.mid"), "{mode:?}: {clean:?}");
        std::fs::write(p.path("a.mid"), "a\n").expect("leave a.mid behind");

        p.build_in(mode, &[]).success();
        assert_eq!(p.outputs(), clean, "{mode:?}: a.mid was left");
        p.build_in(mode, &[]).success().ran_nothing();
        assert_eq!(p.outputs(), clean, "{mode:?}");
    }
}
