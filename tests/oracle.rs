//! Scenario 43, the oracle: random edits to a generated C project; after
//! every step the incremental build must (a) run exactly the commands the
//! edit required — none missing, none extra — and (b) leave outputs
//! byte-identical to a clean build of the same tree. Once per change mode.
//!
//! The project: `Tuprules.tup` sets `CFLAGS = -g0 -O0 -DFLAGV=n
//! -I../include -I../sys`; headers `hN.h` live in `sys/` and `include/`
//! (`include/` comes first on the path, so `include/hN.h` shadows
//! `sys/hN.h`; every lookup of a shadow that does not exist is a ghost);
//! headers include lower-numbered headers with `<...>`; dirs `d0..` each
//! compile `*.c` (with `CFLAGS += -DDIRV=n`) and `ld -r` their objects into
//! `part.ro`; the root links the parts into `prog`. Every header defines
//! `SUM_hN` (its value plus its includes' sums) and every function returns
//! FLAGV + DIRV + its own number + the SUMs it includes, so an object's
//! bytes are a function of that total alone (no debug info): the model
//! knows when an object changes and therefore what a digest mode must cut
//! off downstream.
//!
//! Required commands are computed from the generator's own model of which
//! files each compile reads (the source, the headers reached through the
//! include path) and which it looked for in vain (ghosts), and of each
//! file's content and mtime, per mode's definition of "changed".
//!
//! Byte-identical comparison: the clean build happens at the SAME absolute
//! path (`Project::clean_build_in_place` moves the incremental tree aside,
//! builds the sources in a fresh root, moves it back), so even a tool that
//! recorded absolute paths would compare equal; `-g0` is belt and braces.
//!
//! Steps per mode: `TUPFS_ORACLE_STEPS` (default 200); seed:
//! `TUPFS_ORACLE_SEED` (default: fixed per mode, so CI is reproducible).
//! A failure prints the seed, the step and the whole edit history.
//! Measured, 200 steps x 4 modes, 2 test threads, 2 cores: 3.4 min (debug
//! build, machine otherwise quiet); 12 min (release) while five peers were
//! compiling on the same 2 cores (load 10).
//! The long run (one command):
//!   TUPFS_ORACLE_STEPS=3000 TUPFS_ORACLE_SEED=$RANDOM cargo test --release --test oracle -- --include-ignored --nocapture

mod harness;

use std::collections::{BTreeMap, BTreeSet};

use harness::{Mode, Monitor, Project, Rng};

// ---------------------------------------------------------------------------
// The model of the project
// ---------------------------------------------------------------------------

/// Which include directory a header lives in (searched in this order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Loc {
    Include,
    Sys,
}

impl Loc {
    fn dir(self) -> &'static str {
        match self {
            Loc::Include => "include",
            Loc::Sys => "sys",
        }
    }
}

/// A header `Loc/hN.h`: its value and the lower-numbered headers it includes.
#[derive(Clone, Debug)]
struct Header {
    value: u32,
    deps: BTreeSet<u32>,
}

/// A source `dK/NAME.c`: its own number and the headers it includes.
#[derive(Clone, Debug)]
struct Source {
    value: u32,
    includes: BTreeSet<u32>,
}

const DIRS: usize = 3;

#[derive(Clone, Debug)]
struct Model {
    headers: BTreeMap<(Loc, u32), Header>,
    /// (dir index, file stem) → source; `main` in d0 is never deleted.
    sources: BTreeMap<(usize, String), Source>,
    flagv: u32,
    dirv: [u32; DIRS],
    /// Bumped by no-op Tupfile edits (a comment line).
    notes: [u32; DIRS],
    next_name: u32,
}

/// What one compile command is, for deciding whether it must re-run.
#[derive(Clone, Debug, PartialEq)]
struct Compile {
    text: String,
    reads: BTreeSet<String>,
    ghosts: BTreeSet<String>,
    /// The constant its function returns: the object's bytes follow it.
    total: u64,
}

impl Model {
    fn initial(rng: &mut Rng) -> Model {
        let mut m = Model {
            headers: BTreeMap::new(),
            sources: BTreeMap::new(),
            flagv: 1,
            dirv: [1; DIRS],
            notes: [0; DIRS],
            next_name: 0,
        };
        for n in 0..5 {
            let deps = (0..n).filter(|_| rng.index(3) == 0).collect();
            m.headers.insert(
                (Loc::Sys, n),
                Header {
                    value: 10 + n,
                    deps,
                },
            );
        }
        m.headers.insert(
            (Loc::Include, 1),
            Header {
                value: 100,
                deps: BTreeSet::new(),
            },
        );
        let main_inc = [0, 1].into_iter().collect();
        m.sources.insert(
            (0, "main".into()),
            Source {
                value: 1,
                includes: main_inc,
            },
        );
        for d in 0..DIRS {
            for _ in 0..2 {
                m.add_source(d, rng);
            }
        }
        m
    }

    fn header_names(&self) -> BTreeSet<u32> {
        self.headers.keys().map(|(_, n)| *n).collect()
    }

    /// Where `<hN.h>` resolves: include/ first, then sys/.
    fn resolve(&self, n: u32) -> Option<Loc> {
        [Loc::Include, Loc::Sys]
            .into_iter()
            .find(|l| self.headers.contains_key(&(*l, n)))
    }

    fn add_source(&mut self, d: usize, rng: &mut Rng) {
        let name = format!("s{}", self.next_name);
        self.next_name += 1;
        let names: Vec<u32> = self.header_names().into_iter().collect();
        let includes = names
            .iter()
            .copied()
            .filter(|_| rng.index(3) == 0)
            .collect();
        let value = 1 + rng.index(50) as u32;
        self.sources.insert((d, name), Source { value, includes });
    }

    /// Sum of a resolved header, and every path read / ghost looked up.
    fn visit(&self, n: u32, reads: &mut BTreeSet<String>, ghosts: &mut BTreeSet<String>) -> u64 {
        let loc = self
            .resolve(n)
            .expect("the generator keeps every include resolvable");
        if loc == Loc::Sys {
            ghosts.insert(format!("include/h{n}.h"));
        }
        reads.insert(format!("{}/h{n}.h", loc.dir()));
        let h = &self.headers[&(loc, n)];
        let mut sum = h.value as u64;
        for d in &h.deps {
            sum += self.visit(*d, reads, ghosts);
        }
        sum
    }

    fn compiles(&self) -> BTreeMap<(usize, String), Compile> {
        let mut out = BTreeMap::new();
        for ((d, name), s) in &self.sources {
            let mut reads = BTreeSet::from([format!("d{d}/{name}.c")]);
            let mut ghosts = BTreeSet::new();
            let mut total = (self.flagv + self.dirv[*d] + s.value) as u64;
            for n in &s.includes {
                total += self.visit(*n, &mut reads, &mut ghosts);
            }
            let text = format!(
                "gcc -g0 -O0 -DFLAGV={} -I../include -I../sys -DDIRV={} -c {name}.c -o {name}.o",
                self.flagv, self.dirv[*d]
            );
            let c = Compile {
                text,
                reads,
                ghosts,
                total,
            };
            out.insert((*d, name.clone()), c);
        }
        out
    }

    fn objects(&self, d: usize) -> Vec<String> {
        let mut v: Vec<String> = self
            .sources
            .keys()
            .filter(|(sd, _)| *sd == d)
            .map(|(_, n)| format!("{n}.o"))
            .collect();
        v.sort();
        v
    }

    fn ld_text(&self, d: usize) -> String {
        format!("ld -r {} -o part.ro", self.objects(d).join(" "))
    }

    fn link_text() -> String {
        let parts: Vec<String> = (0..DIRS).map(|d| format!("d{d}/part.ro")).collect();
        format!("gcc {} -o prog", parts.join(" "))
    }

    /// Every file of the project and its text.
    fn render(&self) -> BTreeMap<String, String> {
        let mut f = BTreeMap::new();
        f.insert("Tupfile.ini".into(), String::new());
        f.insert("include/README".into(), "shadows\n".into());
        f.insert("sys/README".into(), "headers\n".into());
        f.insert(
            "Tuprules.tup".into(),
            format!(
                "CFLAGS = -g0 -O0 -DFLAGV={} -I$(TUP_CWD)/include -I$(TUP_CWD)/sys\n",
                self.flagv
            ),
        );
        let parts: Vec<String> = (0..DIRS).map(|d| format!("d{d}/part.ro")).collect();
        f.insert(
            "Tupfile".into(),
            format!(": {} |> gcc %f -o %o |> prog\n", parts.join(" ")),
        );
        for d in 0..DIRS {
            f.insert(
                format!("d{d}/Tupfile"),
                format!(
                    "# note {}\ninclude_rules\nCFLAGS += -DDIRV={}\n\
                     : foreach *.c |> gcc $(CFLAGS) -c %f -o %o |> %B.o\n\
                     : *.o |> ld -r %f -o %o |> part.ro\n",
                    self.notes[d], self.dirv[d]
                ),
            );
        }
        for ((loc, n), h) in &self.headers {
            f.insert(format!("{}/h{n}.h", loc.dir()), render_header(*n, h));
        }
        for ((d, name), s) in &self.sources {
            f.insert(format!("d{d}/{name}.c"), render_source(*d, name, s));
        }
        f
    }
}

fn render_header(n: u32, h: &Header) -> String {
    let mut s = format!("#ifndef G_H{n}\n#define G_H{n}\n");
    for d in &h.deps {
        s.push_str(&format!("#include <h{d}.h>\n"));
    }
    s.push_str(&format!(
        "#define V_H{n} {}\n#define SUM_H{n} (V_H{n}",
        h.value
    ));
    for d in &h.deps {
        s.push_str(&format!(" + SUM_H{d}"));
    }
    s.push_str(")\n#endif\n");
    s
}

fn render_source(d: usize, name: &str, s: &Source) -> String {
    let mut t = String::new();
    for n in &s.includes {
        t.push_str(&format!("#include <h{n}.h>\n"));
    }
    let func = if name == "main" {
        "main".to_string()
    } else {
        format!("f_d{d}_{name}")
    };
    t.push_str(&format!(
        "int {func}(void) {{ return FLAGV + DIRV + {}",
        s.value
    ));
    for n in &s.includes {
        t.push_str(&format!(" + SUM_H{n}"));
    }
    t.push_str("; }\n");
    t
}

// ---------------------------------------------------------------------------
// Edits
// ---------------------------------------------------------------------------

/// One random edit: changes the model, or names a file to touch.
fn random_edit(m: &mut Model, rng: &mut Rng) -> (String, Option<String>) {
    loop {
        let roll = rng.index(100);
        let done = match roll {
            0..=14 => edit_header(m, rng),
            15..=26 => edit_source(m, rng),
            27..=36 => add_header(m, rng),
            37..=44 => delete_header(m, rng),
            45..=52 => {
                let d = rng.index(DIRS);
                m.add_source(d, rng);
                Some(format!("add a source in d{d}"))
            }
            53..=58 => delete_source(m, rng),
            59..=70 => change_includes(m, rng),
            71..=74 => {
                m.flagv += 1;
                Some(format!("Tuprules.tup: FLAGV={}", m.flagv))
            }
            75..=78 => {
                let d = rng.index(DIRS);
                m.dirv[d] += 1;
                Some(format!("d{d}/Tupfile: DIRV={}", m.dirv[d]))
            }
            79..=81 => {
                let d = rng.index(DIRS);
                m.notes[d] += 1;
                Some(format!("d{d}/Tupfile: comment only"))
            }
            _ => {
                let files: Vec<String> = m.render().into_keys().collect();
                let f = rng.pick(&files).cloned().expect("files exist");
                return (format!("touch {f}"), Some(f));
            }
        };
        if let Some(what) = done {
            return (what, None);
        }
    }
}

fn edit_header(m: &mut Model, rng: &mut Rng) -> Option<String> {
    let keys: Vec<(Loc, u32)> = m.headers.keys().copied().collect();
    let k = *rng.pick(&keys)?;
    m.headers.get_mut(&k)?.value += 1;
    Some(format!("edit {}/h{}.h", k.0.dir(), k.1))
}

fn edit_source(m: &mut Model, rng: &mut Rng) -> Option<String> {
    let keys: Vec<(usize, String)> = m.sources.keys().cloned().collect();
    let k = rng.pick(&keys)?.clone();
    m.sources.get_mut(&k)?.value += 1;
    Some(format!("edit d{}/{}.c", k.0, k.1))
}

/// A new header name, or a shadow in include/ of a sys/ header, or the
/// sys/ twin of an include/ header.
fn add_header(m: &mut Model, rng: &mut Rng) -> Option<String> {
    let names = m.header_names();
    let n = match rng.index(2) {
        0 => names.iter().max().map_or(0, |x| x + 1),
        _ => *rng.pick(&names.iter().copied().collect::<Vec<_>>())?,
    };
    let free: Vec<Loc> = [Loc::Include, Loc::Sys]
        .into_iter()
        .filter(|l| !m.headers.contains_key(&(*l, n)))
        .collect();
    let loc = *rng.pick(&free)?;
    let deps = names
        .iter()
        .copied()
        .filter(|d| *d < n && rng.index(3) == 0)
        .collect();
    let value = 200 + rng.index(100) as u32;
    m.headers.insert((loc, n), Header { value, deps });
    Some(format!("add {}/h{n}.h", loc.dir()))
}

/// Delete a header; if no file of that name is left, drop its includes.
fn delete_header(m: &mut Model, rng: &mut Rng) -> Option<String> {
    let keys: Vec<(Loc, u32)> = m.headers.keys().copied().collect();
    let (loc, n) = *rng.pick(&keys)?;
    m.headers.remove(&(loc, n));
    if m.resolve(n).is_none() {
        for h in m.headers.values_mut() {
            h.deps.remove(&n);
        }
        for s in m.sources.values_mut() {
            s.includes.remove(&n);
        }
    }
    Some(format!("delete {}/h{n}.h", loc.dir()))
}

fn delete_source(m: &mut Model, rng: &mut Rng) -> Option<String> {
    let keys: Vec<(usize, String)> = m
        .sources
        .keys()
        .filter(|(d, name)| name != "main" && m.objects(*d).len() > 1)
        .cloned()
        .collect();
    let k = rng.pick(&keys)?.clone();
    m.sources.remove(&k);
    Some(format!("delete d{}/{}.c", k.0, k.1))
}

/// Toggle one include in a source or a header.
fn change_includes(m: &mut Model, rng: &mut Rng) -> Option<String> {
    let names: Vec<u32> = m.header_names().into_iter().collect();
    let n = *rng.pick(&names)?;
    if rng.index(2) == 0 {
        let keys: Vec<(usize, String)> = m.sources.keys().cloned().collect();
        let k = rng.pick(&keys)?.clone();
        let s = m.sources.get_mut(&k)?;
        if !s.includes.remove(&n) {
            s.includes.insert(n);
        }
        Some(format!("toggle <h{n}.h> in d{}/{}.c", k.0, k.1))
    } else {
        let keys: Vec<(Loc, u32)> = m.headers.keys().copied().filter(|k| k.1 > n).collect();
        let k = *rng.pick(&keys)?;
        let h = m.headers.get_mut(&k)?;
        if !h.deps.remove(&n) {
            h.deps.insert(n);
        }
        Some(format!("toggle <h{n}.h> in {}/h{}.h", k.0.dir(), k.1))
    }
}

// ---------------------------------------------------------------------------
// What must run
// ---------------------------------------------------------------------------

/// A file as the build sees it: its text and a stamp that moves whenever
/// its mtime does.
#[derive(Clone, Debug, PartialEq)]
struct FileState {
    text: String,
    stamp: u64,
}

type Disk = BTreeMap<String, FileState>;

/// Every source file of the project and its text (what `Model::render` gives).
type Tree = BTreeMap<String, String>;

/// Every output file of a build and its bytes.
type Outputs = BTreeMap<String, Vec<u8>>;

/// The commands that must run going from (`old`, `before`) to (`new`,
/// `after`) in `mode`; `old` is None for the first build.
fn required(mode: Mode, old: Option<(&Model, &Disk)>, new: &Model, after: &Disk) -> Vec<String> {
    let changed = |p: &str, before: &Disk| match (before.get(p), after.get(p)) {
        (Some(a), Some(b)) => match mode {
            Mode::Mtime => a.stamp != b.stamp,
            _ => a.text != b.text,
        },
        (None, None) => false,
        _ => true,
    };
    let new_compiles = new.compiles();
    let old_compiles = old.map(|(m, _)| m.compiles()).unwrap_or_default();
    let mut run = Vec::new();
    // Per dir: did a compile run, did an object's bytes change.
    let mut ran_in = [false; DIRS];
    let mut bytes_in = [false; DIRS];
    for (key, c) in &new_compiles {
        let must = match (old_compiles.get(key), old) {
            (Some(o), Some((_, before))) => {
                o.text != c.text
                    || o.reads.iter().any(|p| changed(p, before))
                    || o.ghosts.iter().any(|g| after.contains_key(g))
            }
            _ => true,
        };
        if must {
            run.push(c.text.clone());
            ran_in[key.0] = true;
            bytes_in[key.0] |= old_compiles.get(key).map_or(true, |o| o.total != c.total);
        }
    }
    let mut any_ld = false;
    for d in 0..DIRS {
        let list_changed = old.map_or(true, |(m, _)| m.objects(d) != new.objects(d));
        let obj_changed = if mode.cuts_off_generated() {
            bytes_in[d]
        } else {
            ran_in[d]
        };
        if list_changed || obj_changed {
            run.push(new.ld_text(d));
            any_ld = true;
        }
    }
    if any_ld {
        run.push(Model::link_text());
    }
    run.sort();
    run
}

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

/// Bring the project on disk (and `disk`) to `files`; touch `touch`.
fn sync(p: &Project, disk: &mut Disk, files: &BTreeMap<String, String>, touch: Option<&str>) {
    let gone: Vec<String> = disk
        .keys()
        .filter(|k| !files.contains_key(*k))
        .cloned()
        .collect();
    for path in gone {
        p.remove(&path);
        disk.remove(&path);
    }
    let mut stamp = disk.values().map(|f| f.stamp).max().unwrap_or(0);
    for (path, text) in files {
        if disk.get(path).map_or(true, |f| f.text != *text) {
            p.write(path, text);
            stamp += 1;
            disk.insert(
                path.clone(),
                FileState {
                    text: text.clone(),
                    stamp,
                },
            );
        }
    }
    if let Some(path) = touch {
        p.touch(path);
        stamp += 1;
        if let Some(f) = disk.get_mut(path) {
            f.stamp = stamp;
        }
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn run_oracle(mode: Mode, default_seed: u64) {
    run_oracle_with(mode, default_seed, false, false, false, 200);
}

/// [`run_oracle`]; `cached`: every clean build uses the output cache (the
/// incremental builds, the truth, do not), so a wrong hit shows as a clean
/// output that differs. With `monitor`, a `tupfs monitor` watches the
/// project for the whole run and every build after the first must take its
/// changes from it; the clean builds then happen in a copy (moving the
/// watched tree aside would restart the monitor at every step).
/// `full_deps`: full dependencies on (`.tupfs/options`); `default_steps`
/// unless `TUPFS_ORACLE_STEPS` says.
fn run_oracle_with(
    mode: Mode,
    default_seed: u64,
    cached: bool,
    monitor: bool,
    full_deps: bool,
    default_steps: u64,
) {
    let steps = env_number("TUPFS_ORACLE_STEPS", default_steps);
    let seed = env_number("TUPFS_ORACLE_SEED", default_seed);
    let mut rng = Rng(seed);
    let mut model = Model::initial(&mut rng);
    let p = Project::new();
    if full_deps {
        p.write(".tupfs/options", "full_deps = true\n");
    }
    let _monitor = monitor.then(|| Monitor::start(&p, &[]));
    let mut disk = Disk::new();
    let mut history = vec!["initial project".to_string()];
    let mut prev: Option<(Model, Disk)> = None;
    // A clean build's outputs depend on the source tree alone (that is the
    // premise of the comparison), so a step that left the tree as it was (a
    // touch) reuses the previous clean build instead of paying for another.
    let mut last_clean: Option<(Tree, Outputs)> = None;
    let mut served = 0;
    for step in 0..=steps {
        let touch = if step == 0 {
            None
        } else {
            let (what, touch) = random_edit(&mut model, &mut rng);
            history.push(what);
            touch
        };
        sync(&p, &mut disk, &model.render(), touch.as_deref());
        let want = required(mode, prev.as_ref().map(|(m, d)| (m, d)), &model, &disk);
        let context = || {
            format!(
                "oracle, mode {}, seed {seed}, step {step}; edits so far:\n  {}",
                mode.name(),
                history.join("\n  ")
            )
        };
        let b = p.build_in(mode, &[]);
        if !b.status.success() {
            b.fail(&format!("{}\nthe incremental build failed", context()));
        }
        let want_refs: Vec<&str> = want.iter().map(String::as_str).collect();
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            b.ran_exactly(&want_refs);
        }))
        .is_err()
        {
            panic!("{}\nwrong commands ran (see above)", context());
        }
        if monitor && step > 0 {
            let log = std::fs::read_to_string(p.path(".tupfs/log/last.json")).unwrap_or_default();
            if !log.contains("\"changes from the monitor") {
                panic!("{}\nthe build did not use the monitor:\n{log}", context());
            }
        }
        let tree = model.render();
        if cached || last_clean.as_ref().map_or(true, |(t, _)| *t != tree) {
            if cached {
                p.enable_cache();
            }
            let (clean, outputs) = match monitor {
                true => {
                    let copy = p.clean_copy();
                    (copy.build_in(mode, &[]), copy.outputs())
                }
                false => p.clean_build_in_place(&["--change", mode.name()]),
            };
            p.disable_cache();
            if !clean.status.success() {
                clean.fail(&format!("{}\nthe clean build failed", context()));
            }
            served += clean.log().summary.cached;
            last_clean = Some((tree, outputs));
        }
        if let Some((_, outputs)) = &last_clean {
            compare_outputs(&p.outputs(), outputs, &context);
        }
        prev = Some((model.clone(), disk.clone()));
    }
    if cached {
        assert!(served > 0, "no clean build was served from the cache");
        eprintln!(
            "oracle {}: {served} commands of clean builds served from the cache",
            mode.name()
        );
    }
    eprintln!("oracle {}: {steps} steps, seed {seed}: ok", mode.name());
}

fn compare_outputs(
    inc: &BTreeMap<String, Vec<u8>>,
    clean: &BTreeMap<String, Vec<u8>>,
    context: &dyn Fn() -> String,
) {
    let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<BTreeSet<_>>();
    let (a, b) = (names(inc), names(clean));
    let only_inc: Vec<&String> = a.difference(&b).collect();
    let only_clean: Vec<&String> = b.difference(&a).collect();
    let differ: Vec<&String> = a
        .intersection(&b)
        .filter(|k| inc[*k] != clean[*k])
        .collect();
    if !only_inc.is_empty() || !only_clean.is_empty() || !differ.is_empty() {
        panic!(
            "{}\nincremental outputs differ from a clean build:\n  only incremental: {only_inc:?}\n  only clean: {only_clean:?}\n  different bytes: {differ:?}",
            context()
        );
    }
}

#[test]
fn s43_oracle_mtime() {
    require_fuse!();
    run_oracle(Mode::Mtime, 0x7f5a_0001);
}

/// The oracle with full dependencies on (what commands read outside the
/// project is recorded too): the same commands run, the same outputs.
#[test]
fn s43_oracle_mtime_full_deps() {
    require_fuse!();
    run_oracle_with(Mode::Mtime, 0x7f5a_0006, false, false, true, 60);
}

#[test]
fn s43_oracle_digest() {
    require_fuse!();
    run_oracle(Mode::Digest, 0x7f5a_0002);
}

#[test]
fn s43_oracle_mtime_digest() {
    require_fuse!();
    run_oracle(Mode::MtimeDigest, 0x7f5a_0003);
}

/// The oracle with every clean build served from the output cache as far
/// as it can be (issue 16): 0 wrong.
#[test]
fn s43_oracle_clean_builds_from_the_cache() {
    require_fuse!();
    run_oracle_with(Mode::MtimeDigest, 0x7f5a_0005, true, false, false, 200);
}

#[test]
fn s43_oracle_mtime_digest_inputs() {
    require_fuse!();
    run_oracle(Mode::MtimeDigestInputs, 0x7f5a_0004);
}

#[test]
fn s43_oracle_mtime_with_a_monitor() {
    require_fuse!();
    run_oracle_with(Mode::Mtime, 0x7f5a_0011, false, true, false, 200);
}

#[test]
fn s43_oracle_mtime_digest_inputs_with_a_monitor() {
    require_fuse!();
    run_oracle_with(
        Mode::MtimeDigestInputs,
        0x7f5a_0014,
        false,
        true,
        false,
        200,
    );
}

/// The oracle's own model, checked without tupfs: rendering is
/// deterministic, includes always resolve, and real gcc compiles every
/// rendered source with the rendered flags (so a generator bug is not
/// blamed on the engine).
#[test]
fn oracle_model_generates_valid_projects() {
    let mut rng = Rng(42);
    let mut m = Model::initial(&mut rng);
    let dir = tempfile::tempdir().expect("tempdir");
    for step in 0..40 {
        random_edit(&mut m, &mut rng);
        let files = m.render();
        assert_eq!(files, m.render(), "render is deterministic");
        if step % 10 != 9 {
            continue;
        }
        let root = dir.path().join(format!("step{step}"));
        for (path, text) in &files {
            let p = root.join(path);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, text).expect("write");
        }
        for (d, name) in m.sources.keys() {
            let out = std::process::Command::new("gcc")
                .args(["-g0", "-O0", "-DFLAGV=1", "-DDIRV=1"])
                .args(["-I../include", "-I../sys", "-c"])
                .arg(format!("{name}.c"))
                .args(["-o", "/dev/null"])
                .current_dir(root.join(format!("d{d}")))
                .output()
                .expect("run gcc");
            assert!(
                out.status.success(),
                "d{d}/{name}.c: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
