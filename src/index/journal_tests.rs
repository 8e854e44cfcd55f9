//! Journal tests: batches replayed over the base, a torn or damaged tail,
//! a journal of another base, the quick state, compaction.

use std::fs;
use std::path::Path;

use super::tests::{file, open_ready, opts, p, rule, sample};
use super::*;
use crate::identity;

/// A delta over `index`: b.o's command settled (replaced), a.o's removed,
/// a new file and a new command reading it, the Tupfile removed, a new
/// variable, generation `gen`.
fn delta(index: &Index, gen: u32) -> Delta {
    let mut d = Delta::default();
    d.record.generation = Generation(gen);
    d.record.all_up_to_date = true;
    let new = d.record.add_file(file("src/n.c", 50 + gen as u64, false));
    let b = index.command_by_output("src/b.o").unwrap();
    let mut settled = b.to_record(&mut |_| new).unwrap();
    settled.must_rerun = false;
    d.record.commands.push(settled);
    d.replaces.push(Some(b.slot()));
    let rule = rule("src", &format!("n{gen}.c"), &format!("n{gen}.o"));
    let id = identity::of(&rule, &|_| None);
    d.record.commands.push(CommandRecord {
        rule,
        key: id.key,
        signature: id.signature,
        sticky: id.sticky,
        must_rerun: false,
        reads: vec![Seen {
            file: new,
            since: Generation(gen),
        }],
        outside: Vec::new(),
        position: 1,
    });
    d.replaces.push(None);
    if let Some(a) = index.command_by_output("src/a.o") {
        d.deleted.push(a.slot());
    }
    d.deleted_tupfiles.push((p(""), p("src")));
    d.record.variables.push(VariableRecord {
        name: "$HOME".into(),
        value: identity::value_digest(Some("/root")),
    });
    d
}

fn base(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("index");
    Index::write(&path, &sample(), &opts()).unwrap();
    path
}

#[test]
fn a_batch_replaces_adds_and_removes_rows() {
    let t = tempfile::tempdir().unwrap();
    let path = base(t.path());
    let index = open_ready(&path);
    let files = index.file_count();
    index.append(&delta(&index, 8), &opts()).unwrap();
    drop(index);
    let index = open_ready(&path);
    assert_eq!(index.journal_batches(), 1);
    assert_eq!(index.generation(), Generation(8));
    assert!(index.all_up_to_date() && !index.commands_are_rules());
    assert_eq!(index.file_slot("src/n.c"), Some(FileSlot(files as u32)));
    assert_eq!(index.file("src/n.c").unwrap().state().unwrap().size, 58);
    assert!(index.command_by_output("src/a.o").is_none(), "removed");
    let b = index.command_by_output("src/b.o").unwrap();
    assert!(!b.must_rerun(), "replaced");
    let n = index.command_by_output("src/n8.o").unwrap();
    assert_eq!(index.commands_by_key(&n.key()).count(), 1);
    assert_eq!(n.reads().next().unwrap().file, FileSlot(files as u32));
    assert_eq!(index.commands().count(), 2);
    assert!(index.tupfile("", "src").is_none() && index.tupfiles().next().is_none());
    assert!(index.variable("$HOME").is_some() && index.variable("@CC").is_some());
    let mut outputs: Vec<&str> = index.output_paths().collect();
    outputs.sort();
    assert_eq!(outputs, ["src/b.o", "src/b.o.d", "src/n8.o", "src/n8.o.d"]);
    // A second batch over the first: slots keep counting.
    index.append(&delta(&index, 9), &opts()).unwrap();
    drop(index);
    let index = open_ready(&path);
    assert_eq!(index.journal_batches(), 2);
    assert_eq!(index.generation(), Generation(9));
    assert_eq!(index.commands().count(), 3);
    assert_eq!(index.file("src/n.c").unwrap().state().unwrap().size, 59);
}

/// Base, one batch (generation 8), a second (9): the journal's length
/// after each.
fn two_batches(path: &Path) -> (u64, u64) {
    let index = open_ready(path);
    let one = index.append(&delta(&index, 8), &opts()).unwrap();
    drop(index);
    let index = open_ready(path);
    let two = index.append(&delta(&index, 9), &opts()).unwrap();
    (one, two)
}

#[test]
fn a_torn_or_damaged_tail_keeps_the_valid_prefix() {
    let t = tempfile::tempdir().unwrap();
    let path = base(t.path());
    let (one, two) = two_batches(&path);
    let jpath = journal::journal_path(&path);
    let whole = fs::read(&jpath).unwrap();
    let step = ((two - one) / 97).max(1) as usize;
    for len in (one as usize..two as usize).step_by(step) {
        fs::write(&jpath, &whole[..len]).unwrap();
        let index = open_ready(&path);
        assert_eq!(index.generation(), Generation(8), "cut at {len}");
        assert_eq!(index.journal_len(), one);
        let quick = quick_state(t.path()).unwrap();
        assert_eq!(quick.generation, Generation(8));
    }
    for at in (one as usize..two as usize).step_by(step) {
        let mut bytes = whole.clone();
        bytes[at] ^= 0x40;
        fs::write(&jpath, &bytes).unwrap();
        let index = open_ready(&path);
        assert_eq!(index.generation(), Generation(8), "byte {at} flipped");
    }
    // The next append cuts the damaged tail off first.
    let index = open_ready(&path);
    index.append(&delta(&index, 10), &opts()).unwrap();
    drop(index);
    let index = open_ready(&path);
    assert_eq!(index.journal_batches(), 2);
    assert_eq!(index.generation(), Generation(10));
}

#[test]
fn a_journal_of_another_base_is_ignored_and_replaced_on_append() {
    let t = tempfile::tempdir().unwrap();
    let path = base(t.path());
    two_batches(&path);
    let old = fs::read(journal::journal_path(&path)).unwrap();
    let mut other = sample();
    other.generation = Generation(20);
    Index::write(&path, &other, &opts()).unwrap();
    fs::write(journal::journal_path(&path), &old).unwrap();
    let index = open_ready(&path);
    assert_eq!(index.journal_batches(), 0);
    assert_eq!(index.generation(), Generation(20));
    assert!(quick_state(t.path()).is_none(), "no journal for this base");
    index.append(&delta(&index, 21), &opts()).unwrap();
    drop(index);
    let index = open_ready(&path);
    assert_eq!(
        (index.journal_batches(), index.generation()),
        (1, Generation(21))
    );
}

#[test]
fn the_quick_state_says_what_an_open_says() {
    let t = tempfile::tempdir().unwrap();
    let path = base(t.path());
    let first = quick_state(t.path()).unwrap();
    assert_eq!(first.generation, Generation(7));
    assert!(!first.all_up_to_date);
    assert_eq!(first.change_mode, opts().change_mode);
    two_batches(&path);
    let quick = quick_state(t.path()).unwrap();
    let index = open_ready(&path);
    assert_eq!(quick.generation, index.generation());
    assert_eq!(quick.all_up_to_date, index.all_up_to_date());
    assert_eq!(quick.commands_are_rules, index.commands_are_rules());
    assert_eq!(quick.full_deps, index.full_deps());
    assert_ne!(quick.identity, first.identity);
}

#[test]
fn compaction_writes_what_the_journal_says_and_drops_unnamed_rows() {
    let t = tempfile::tempdir().unwrap();
    let path = base(t.path());
    two_batches(&path);
    let before = open_ready(&path).to_record().unwrap();
    // The same record written as a base, for rows in the same order.
    let expected = t.path().join("expected");
    Index::write(&expected, &before, &opts()).unwrap();
    let expected = open_ready(&expected).to_record().unwrap();
    assert!(compact_now(&path, &opts()).unwrap());
    let index = open_ready(&path);
    assert_eq!(index.journal_batches(), 0);
    assert_eq!(index.to_record().unwrap(), expected);
    // The files no command or Tupfile names are gone (the ghost and the
    // Tupfile's own file were named by what was removed).
    assert!(index.file("src/Tupfile").is_none());
    assert!(index.file("src/n.c").is_some());
    assert!(!compact_now(&path, &opts()).unwrap(), "nothing to compact");
    // The policy.
    let auto = CompactPolicy::Auto;
    let mib = 1 << 20;
    assert!(!auto.due(mib, mib / 5, 3) && auto.due(mib, mib / 3, 3) && auto.due(10, 0, 256));
    assert!(!auto.due(1000, 60_000, 3), "a small journal stays");
}
