//! The index's journal (DESIGN.md, "The index journal"): a build appends
//! what it changed to `.tupfs/index.journal`, replayed over the base on
//! open. A torn or damaged tail is dropped, a journal of another base is
//! ignored, a compaction killed at any step leaves a consistent index, and
//! a long series of incremental builds leaves an index equal by content to
//! the one a full build from clean writes.

mod harness;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use harness::{Mode, Project};
use tupfs::index::{Index, IndexOptions, Open};

const JOURNAL: &str = ".tupfs/index.journal";

/// Three sources in `src/`, each copied with a header that is read but
/// not declared, and the copies concatenated.
fn project() -> Project {
    Project::new()
        .file("inc/common.h", "common 1\n")
        .file("src/a.txt", "a 1\n")
        .file("src/b.txt", "b 1\n")
        .file("src/c.txt", "c 1\n")
        .file(
            "src/Tupfile",
            ": foreach *.txt |> cat %f ../inc/common.h > %o |> %B.out\n\
             : *.out |> cat %f > %o |> all.bin\n",
        )
}

fn journal_len(p: &Project) -> u64 {
    fs::metadata(p.path(JOURNAL)).map_or(0, |m| m.len())
}

/// Every output is what its inputs say now (the build left nothing stale).
#[track_caller]
fn assert_outputs_current(p: &Project) {
    let common = p.read("inc/common.h");
    let mut all = String::new();
    for name in ["a", "b", "c"] {
        if !p.exists(&format!("src/{name}.txt")) {
            continue;
        }
        let want = format!("{}{common}", p.read(&format!("src/{name}.txt")));
        assert_eq!(p.read(&format!("src/{name}.out")), want, "src/{name}.out");
        all.push_str(&want);
    }
    assert_eq!(p.read("src/all.bin"), all, "src/all.bin");
}

/// Build, edit `a`, build (batch 1), edit `b`, build (batch 2); returns
/// the journal's length after batch 1 and after batch 2.
fn two_batches(p: &Project) -> (u64, u64) {
    p.build(&[]).success();
    p.write("src/a.txt", "a 2\n");
    p.build(&[]).success();
    let one = journal_len(p);
    p.write("src/b.txt", "b 2\n");
    p.build(&[]).success();
    let two = journal_len(p);
    assert!(one > 64 && two > one, "batches appended: {one}, {two}");
    (one, two)
}

#[test]
fn a_torn_journal_tail_is_dropped_and_what_it_recorded_runs_again() {
    require_fuse!();
    for damage in ["truncate", "flip"] {
        let p = project();
        let (one, two) = two_batches(&p);
        let middle = one + (two - one) / 2;
        match damage {
            "truncate" => {
                let f = fs::OpenOptions::new().write(true).open(p.path(JOURNAL));
                f.unwrap().set_len(middle).unwrap();
            }
            _ => {
                let mut bytes = fs::read(p.path(JOURNAL)).unwrap();
                bytes[middle as usize] ^= 0x5a;
                fs::write(p.path(JOURNAL), bytes).unwrap();
            }
        }
        // The lost batch recorded b's new copy: the base and batch 1 say
        // b.txt is as before, so b's commands run again; a's stay done.
        let b = p.build(&["-vv"]);
        b.success().says(&["journal", "dropped"]).ran_exactly(&[
            "cat b.txt ../inc/common.h > b.out",
            "cat a.out b.out c.out > all.bin",
        ]);
        assert_outputs_current(&p);
        p.build(&[]).success().ran_nothing();
        p.write("inc/common.h", "common 2\n");
        p.build(&[]).success();
        assert_outputs_current(&p);
    }
}

#[test]
fn a_journal_of_another_base_is_ignored() {
    require_fuse!();
    // Another project's journal.
    let p = project();
    let other = project();
    two_batches(&other);
    p.build(&[]).success();
    fs::copy(other.path(JOURNAL), p.path(JOURNAL)).unwrap();
    let b = p.build(&["-vv"]);
    b.success().says(&["names another base"]).ran_nothing();
    assert_outputs_current(&p);
    // An older journal of this project, from before a compaction.
    let (_, _) = two_batches(&p);
    let old = fs::read(p.path(JOURNAL)).unwrap();
    p.set_env("TUPFS_COMPACT", "always");
    p.write("src/c.txt", "c 3\n");
    p.build(&[]).success();
    assert_eq!(journal_len(&p), 64, "compacted: an empty journal");
    fs::write(p.path(JOURNAL), old).unwrap();
    let b = p.build(&["-vv"]);
    b.success().says(&["names another base"]).ran_nothing();
    assert_outputs_current(&p);
    p.write("src/a.txt", "a 4\n");
    p.build(&[]).success();
    assert_outputs_current(&p);
}

fn index_path(p: &Project) -> std::path::PathBuf {
    p.path(".tupfs/index")
}

#[test]
fn a_compaction_killed_at_any_step_leaves_a_consistent_index() {
    require_fuse!();
    // Killed before the rename: the old base, its journal and a temporary
    // file (half written).
    let p = project();
    two_batches(&p);
    fs::write(p.path(".tupfs/index.tmp"), b"TUPFSIDX half a base").unwrap();
    fs::write(p.path(".tupfs/index.journal.tmp"), b"TUPFSJNL half").unwrap();
    p.build(&[]).success().ran_nothing();
    assert_outputs_current(&p);
    // Killed after the new base is renamed into place, before the journal
    // is replaced: the new base and the old journal, which names the old
    // base.
    let old_journal = fs::read(p.path(JOURNAL)).unwrap();
    let compacted = tupfs::index::compact_now(&index_path(&p), &IndexOptions::default());
    assert!(compacted.unwrap(), "there was a journal to compact");
    fs::write(p.path(JOURNAL), &old_journal).unwrap();
    p.build(&["-vv"])
        .success()
        .says(&["names another base"])
        .ran_nothing();
    assert_outputs_current(&p);
    p.write("src/c.txt", "c 5\n");
    p.build(&[]).success().ran_exactly(&[
        "cat c.txt ../inc/common.h > c.out",
        "cat a.out b.out c.out > all.bin",
    ]);
    assert_outputs_current(&p);
    // The base gone altogether (the journal alone means nothing).
    fs::remove_file(index_path(&p)).unwrap();
    p.build(&[]).success();
    assert_outputs_current(&p);
    p.build(&[]).success().ran_nothing();
}

/// The index of the project in `root`, as one record (base and journal).
fn content(root: &Path) -> String {
    let path = root.join(".tupfs/index");
    let Open::Ready(index) = Index::open(&path, &IndexOptions::default()) else {
        panic!("no index in {}", root.display());
    };
    dump(&index.to_record().expect("a record"))
}

/// A text of `record` that holds what the next build decides by, and
/// leaves out what legitimately differs between an index grown by many
/// builds and one a build from clean wrote:
/// - `recorded_at`, mtime, ctime, inode, and the size of directories: when
///   and where the state was taken (the clean build rewrites every
///   output; directory sizes on ext4 never shrink);
/// - digests: recorded only where a mode or a racy state needed one;
/// - generation numbers (the generation and each `since`): they count
///   builds; what matters is whether a command's or Tupfile's read saw the
///   file's current contents (`since` seen == the file's `since`), kept;
/// - command positions: only their order within one Tupfile matters
///   (kept as a rank);
/// - the order of rows and slots (each list is sorted here).
///
/// Files no command or Tupfile names are not in `record` (`to_record`
/// drops them, as a compaction does).
fn dump(r: &tupfs::index::BuildRecord) -> String {
    let mut out = Vec::new();
    let file = |f: &tupfs::index::FileRef| &r.files[f.0 as usize];
    // A read set as sorted "path current=BOOL" lines (generation numbers
    // differ between the two histories; whether a read is current does not).
    let reads_of = |seen: &[tupfs::index::Seen]| {
        let mut reads: Vec<String> = seen
            .iter()
            .map(|s| {
                format!(
                    "{} current={}",
                    file(&s.file).path,
                    file(&s.file).since == s.since
                )
            })
            .collect();
        reads.sort();
        reads
    };
    for f in &r.files {
        let state = f.state.map(|s| {
            let size = (s.kind == tupfs::change::FileKind::File).then_some(s.size);
            format!("{:?} {size:?}", s.kind)
        });
        out.push(format!("file {} {state:?} gen={}", f.path, f.generated));
    }
    let mut ranks: BTreeMap<(String, String), Vec<(u32, String)>> = BTreeMap::new();
    for c in &r.commands {
        let tupfile = (c.rule.variant.to_string(), c.rule.source_dir.to_string());
        ranks
            .entry(tupfile)
            .or_default()
            .push((c.position, c.rule.command.clone()));
    }
    for list in ranks.values_mut() {
        list.sort();
    }
    for c in &r.commands {
        let tupfile = (c.rule.variant.to_string(), c.rule.source_dir.to_string());
        let rank = ranks[&tupfile]
            .iter()
            .position(|(_, t)| *t == c.rule.command);
        let reads = reads_of(&c.reads);
        out.push(format!(
            "command {:?} {:?} sig={:?} sticky={:?} rerun={} rank={rank:?} reads={reads:?} outside={}",
            c.key, c.rule, c.signature, c.sticky, c.must_rerun, c.outside.len()
        ));
    }
    for t in &r.tupfiles {
        let reads = reads_of(&t.reads);
        out.push(format!(
            "tupfile {} {} {} reads={reads:?} vars={:?} deps={:?}",
            t.variant, t.dir, t.tupfile, t.vars, t.depends_on
        ));
    }
    let mut tree = r.tree.clone();
    tree.sort();
    out.push(format!("tree {tree:?}"));
    let mut vars: Vec<String> = r.variables.iter().map(|v| format!("{v:?}")).collect();
    vars.sort();
    out.push(format!("variables {vars:?}"));
    out.push(format!(
        "flags rules={} up_to_date={} full_deps={}",
        r.commands_are_rules, r.all_up_to_date, r.full_deps
    ));
    out.sort();
    out.join("\n")
}

/// One step of the series: a change and whether the build fails.
fn step(p: &Project, i: usize) -> bool {
    match i {
        0 => p.write("src/a.txt", "a 2\n"),
        1 => p.write("src/d.txt", "d 1\n"),
        2 => p.write("inc/common.h", "common 2\n"),
        3 => p.remove("src/b.txt"),
        4 => p.write(
            "lib/Tupfile",
            ": foreach *.txt |> cat %f ../inc/common.h > %o |> %B.out\n",
        ),
        5 => p.write("lib/x.txt", "x 1\n"),
        6 => p.write("src/a.txt", "FAIL\n"),
        7 => p.write("src/c.txt", "c 2\n"),
        8 => p.write("src/a.txt", "a 3\n"),
        9 => p.write(
            "src/Tupfile",
            ": foreach *.txt |> grep -qv FAIL %f && cat %f ../inc/common.h > %o |> %B.out\n\
             : *.out |> cat %f > %o |> all.bin\n",
        ),
        10 => p.write("lib/y.txt", "y 1\n"),
        11 => p.remove("lib/x.txt"),
        12 => p.write("inc/common.h", "common 3\n"),
        13 => {
            p.remove("lib/Tupfile");
            p.remove("lib/y.txt");
        }
        14 => p.write("src/e.txt", "FAIL\n"),
        15 => p.write("src/e.txt", "e 1\n"),
        _ => {}
    }
    matches!(i, 6 | 7 | 14)
}

#[test]
fn a_long_series_of_builds_leaves_the_index_a_build_from_clean_writes() {
    require_fuse!();
    for mode in [Mode::Mtime, Mode::Digest] {
        let p = project().file(
            "src/Tupfile",
            ": foreach *.txt |> grep -qv FAIL %f && cat %f ../inc/common.h > %o |> %B.out\n\
             : *.out |> cat %f > %o |> all.bin\n",
        );
        p.set_env("TUPFS_COMPACT", "never");
        p.build_in(mode, &[]).success();
        for i in 0..16 {
            let fails = step(&p, i);
            let b = p.build_in(mode, &[]);
            match fails {
                true => b.failure(),
                false => b.success(),
            };
        }
        p.build_in(mode, &[]).success().ran_nothing();
        let Open::Ready(index) = Index::open(&index_path(&p), &IndexOptions::default()) else {
            panic!("no index");
        };
        assert!(
            index.journal_batches() >= 16,
            "{mode:?}: the builds appended"
        );
        drop(index);
        let grown = content(p.root());
        assert!(grown.matches("command ").count() >= 5, "{grown}");
        if mode == Mode::Mtime {
            eprintln!("the index compared:\n{grown}");
        }
        let clean = Project::new();
        for (path, bytes) in p.sources() {
            clean.write_bytes(&path, &bytes);
        }
        clean.build_in(mode, &[]).success();
        let fresh = content(clean.root());
        assert_eq!(
            grown, fresh,
            "{mode:?}: the grown index differs from a clean one"
        );
        // Compacted, it says the same.
        let compacted = tupfs::index::compact_now(&index_path(&p), &IndexOptions::default());
        assert!(compacted.unwrap());
        assert_eq!(content(p.root()), fresh, "{mode:?}: compacted");
        p.build_in(mode, &[]).success().ran_nothing();
    }
}
