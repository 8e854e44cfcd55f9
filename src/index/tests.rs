//! Index tests: round trip, lookups, damage of every kind, atomic write.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use super::*;
use crate::change::{FileKind, FileState, Moment};
use crate::identity::{self, StickyVar};
use crate::paths::ProjPath;
use crate::tupfile::{GroupRef, Location, Rule, RuleFlags};

pub(super) fn p(s: &str) -> ProjPath {
    ProjPath::new(s).unwrap()
}

pub(super) fn file(path: &str, size: u64, generated: bool) -> FileRecord {
    FileRecord {
        path: p(path),
        state: Some(FileState {
            kind: FileKind::File,
            mtime_ns: 1_700_000_000_123_456_789 + size as i64,
            ctime_ns: 1_700_000_000_000_000_001,
            size,
            ino: 1000 + size,
        }),
        digest: generated.then(|| identity::Digest::of(path.as_bytes())),
        generated,
        recorded_at: Moment(1_800_000_000_000_000_000),
        since: Generation(size as u32 % 3),
    }
}

pub(super) fn rule(dir: &str, src: &str, out: &str) -> Rule {
    Rule {
        location: Location {
            file: p(&format!("{dir}/Tupfile")),
            line: 3,
        },
        dir: p(dir),
        source_dir: p(dir),
        variant: p(""),
        command: format!("gcc -c {src} -o {out}"),
        display: Some(format!("CC {src}")),
        flags: RuleFlags {
            cutoff: true,
            ..Default::default()
        },
        inputs: vec![p(&format!("{dir}/{src}"))],
        order_only: vec![p("gen/config.h")],
        input_groups: vec![GroupRef {
            dir: p(""),
            name: "headers".into(),
        }],
        outputs: vec![p(&format!("{dir}/{out}"))],
        extra_outputs: vec![p(&format!("{dir}/{out}.d"))],
        output_group: Some(GroupRef {
            dir: p(dir),
            name: "objs".into(),
        }),
        ignore: vec!["^/tmp".into()],
        config_used: BTreeMap::from([("CC".to_string(), "gcc".to_string())]),
        exports: vec!["PATH".into()],
    }
}

/// A small record: two commands, files (one a ghost), a variable, a Tupfile.
pub(super) fn sample() -> BuildRecord {
    let mut r = BuildRecord {
        generation: Generation(7),
        ..Default::default()
    };
    let c = r.add_file(file("src/a.c", 10, false));
    let h = r.add_file(file("src/a.h", 20, false));
    let mut ghost = file("inc/a.h", 0, false);
    ghost.state = None;
    let g = r.add_file(ghost);
    r.add_file(file("src/a.o", 30, true));
    let tf = r.add_file(file("src/Tupfile", 40, false));
    for (src, out, reads) in [("a.c", "a.o", vec![c, h, g]), ("b.c", "b.o", vec![h])] {
        let rule = rule("src", src, out);
        let id = identity::of(&rule, &|_| Some("/bin".into()));
        r.commands.push(CommandRecord {
            rule,
            key: id.key,
            signature: id.signature,
            sticky: id.sticky,
            must_rerun: src == "b.c",
            outside: Vec::new(),
            position: 0,
            reads: reads
                .into_iter()
                .map(|file| Seen {
                    file,
                    since: Generation(5),
                })
                .collect(),
        });
    }
    r.variables.push(VariableRecord {
        name: "@CC".into(),
        value: identity::value_digest(Some("gcc")),
    });
    r.tupfiles.push(TupfileRecord {
        variant: p(""),
        dir: p("src"),
        tupfile: p("src/Tupfile"),
        depends_on: vec![p("gen")],
        reads: vec![Seen {
            file: tf,
            since: Generation(2),
        }],
        vars: vec![StickyVar {
            name: "@CC".into(),
            value: identity::value_digest(Some("gcc")),
        }],
    });
    r
}

pub(super) fn opts() -> IndexOptions {
    IndexOptions {
        change_mode: ChangeMode::MtimeDigest,
    }
}

pub(super) fn open_ready(path: &Path) -> Index {
    match Index::open(path, &opts()) {
        Open::Ready(i) => i,
        other => panic!("expected a ready index, got {other:?}"),
    }
}

#[test]
fn round_trip_keeps_everything() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("index");
    let record = sample();
    Index::write(&path, &record, &opts()).unwrap();
    let index = open_ready(&path);
    assert_eq!(index.options(), opts());
    assert_eq!(index.generation(), Generation(7));

    // Files come back sorted by path, with their state.
    let paths: Vec<&str> = index.files().map(|f| f.path()).collect();
    assert_eq!(
        paths,
        ["inc/a.h", "src/Tupfile", "src/a.c", "src/a.h", "src/a.o"]
    );
    for f in &record.files {
        let view = index.file(f.path.as_str()).unwrap();
        assert_eq!(&view.to_record().unwrap(), f);
    }
    assert!(index.file("src/nope.c").is_none());

    // Commands: by key, by output, and back to the very record.
    for cmd in &record.commands {
        let by_key: Vec<_> = index.commands_by_key(&cmd.key).collect();
        assert_eq!(by_key.len(), 1);
        let out = cmd.rule.outputs[0].as_str();
        let view = index.command_by_output(out).unwrap();
        assert_eq!(view.key(), cmd.key);
        let extra = cmd.rule.extra_outputs[0].as_str();
        assert_eq!(index.command_by_output(extra).unwrap().key(), cmd.key);
        // Reads come back through file slots; map them to the record's refs.
        let mut to_ref = |slot: FileSlot| {
            let path = index.file_at(slot).unwrap().path();
            let i = record.files.iter().position(|f| f.path.as_str() == path);
            FileRef(i.unwrap() as u32)
        };
        assert_eq!(&view.to_record(&mut to_ref).unwrap(), cmd);
    }
    assert!(index.command_by_output("src/c.o").is_none());
    assert_eq!(index.command_count(), 2);

    assert_eq!(
        index.variable("@CC"),
        Some(identity::value_digest(Some("gcc")))
    );
    assert_eq!(index.variable("@LD"), None);
    let tf = index.tupfile("", "src").unwrap();
    assert_eq!((tf.variant(), tf.dir()), ("", "src"));
    assert_eq!(tf.depends_on().collect::<Vec<_>>(), ["gen"]);
    let read: Vec<_> = tf.reads().collect();
    assert_eq!(index.file_at(read[0].file).unwrap().path(), "src/Tupfile");
    assert_eq!(read[0].since, Generation(2));
    assert_eq!(tf.vars().count(), 1);
    assert!(index.tupfile("", "lib").is_none());
    assert!(index.tupfile("build", "src").is_none());
}

#[test]
fn duplicate_paths_and_dangling_refs_are_errors_not_panics() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("index");
    let mut r = sample();
    r.files.push(file("src/a.c", 99, false));
    let e = Index::write(&path, &r, &opts()).unwrap_err();
    assert!(format!("{e:#}").contains("lists 'src/a.c' twice"), "{e:#}");
    let mut r = sample();
    r.commands[0].reads[0].file = FileRef(99);
    let e = Index::write(&path, &r, &opts()).unwrap_err();
    assert!(format!("{e:#}").contains("file #99"), "{e:#}");
    assert!(!path.exists(), "nothing written");
}

#[test]
fn missing_is_missing() {
    let t = tempfile::tempdir().unwrap();
    assert!(matches!(
        Index::open(&t.path().join("index"), &opts()),
        Open::Missing
    ));
}

#[test]
fn truncated_at_every_length_is_corrupt() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("index");
    Index::write(&path, &sample(), &opts()).unwrap();
    let bytes = fs::read(&path).unwrap();
    let cut = t.path().join("cut");
    for len in 0..bytes.len() {
        fs::write(&cut, &bytes[..len]).unwrap();
        match Index::open(&cut, &opts()) {
            Open::Corrupt(_) => {}
            other => panic!("length {len}: expected Corrupt, got {other:?}"),
        }
    }
    // One byte too many is damage too.
    let mut longer = bytes.clone();
    longer.push(0);
    fs::write(&cut, &longer).unwrap();
    assert!(matches!(Index::open(&cut, &opts()), Open::Corrupt(_)));
}

#[test]
fn any_flipped_byte_is_corrupt_or_stale() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("index");
    Index::write(&path, &sample(), &opts()).unwrap();
    let bytes = fs::read(&path).unwrap();
    let bad = t.path().join("bad");
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x5a;
        fs::write(&bad, &b).unwrap();
        match Index::open(&bad, &opts()) {
            Open::Corrupt(_) => {}
            // The format-version bytes: another version, not damage.
            Open::Stale(_) if (8..12).contains(&i) => {}
            other => panic!("byte {i}: expected Corrupt, got {other:?}"),
        }
    }
}

#[test]
fn another_format_version_is_stale() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("index");
    Index::write(&path, &sample(), &opts()).unwrap();
    let mut bytes = fs::read(&path).unwrap();
    bytes[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    fs::write(&path, &bytes).unwrap();
    match Index::open(&path, &opts()) {
        Open::Stale(why) => assert!(why.contains(&format!("format {FORMAT_VERSION}")), "{why}"),
        other => panic!("expected Stale, got {other:?}"),
    }
}

#[test]
fn a_failed_write_leaves_the_old_index_intact() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("index");
    let old = sample();
    Index::write(&path, &old, &opts()).unwrap();
    let before = fs::read(&path).unwrap();
    // The temporary file cannot be created: a directory is in its way.
    fs::create_dir(t.path().join("index.tmp")).unwrap();
    let mut new = sample();
    new.generation = Generation(8);
    assert!(Index::write(&path, &new, &opts()).is_err());
    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(open_ready(&path).generation(), Generation(7));
    // Once the way is clear the new index replaces the old one whole.
    fs::remove_dir(t.path().join("index.tmp")).unwrap();
    Index::write(&path, &new, &opts()).unwrap();
    assert_eq!(open_ready(&path).generation(), Generation(8));
    assert!(!t.path().join("index.tmp").exists());
}

#[test]
fn an_open_index_survives_being_replaced() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("index");
    Index::write(&path, &sample(), &opts()).unwrap();
    let old = open_ready(&path);
    let mut new = sample();
    new.generation = Generation(9);
    new.commands.clear();
    Index::write(&path, &new, &opts()).unwrap();
    // The old mapping still reads the old file (rename never rewrites it).
    assert_eq!(old.generation(), Generation(7));
    assert_eq!(old.command_count(), 2);
    assert_eq!(open_ready(&path).command_count(), 0);
}

#[test]
fn empty_record_round_trips() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("index");
    Index::write(&path, &BuildRecord::default(), &IndexOptions::default()).unwrap();
    let index = open_ready(&path);
    assert_eq!(index.file_count(), 0);
    assert_eq!(index.commands().count(), 0);
    assert!(index.command_by_output("x").is_none());
}

/// Exercise every accessor of an index (must not panic, whatever it holds).
fn read_everything(index: &Index) -> usize {
    let mut n = 0;
    for f in index.files() {
        n += f.path().len() + usize::from(f.state().is_some()) + usize::from(f.digest().is_some());
        let _ = f.to_record();
    }
    for c in index.commands() {
        n += c.command().len() + c.reads().count() + c.outputs().count();
        let _ = c.to_rule();
        let _ = c.to_record(&mut |s| FileRef(s.0));
        n += index.commands_by_key(&c.key()).count();
    }
    for tf in index.tupfiles() {
        n += tf.reads().count() + tf.vars().count();
    }
    n + index.variables().count() + usize::from(index.command_by_output("src/a.o").is_some())
}

#[test]
fn damage_behind_a_valid_checksum_never_panics() {
    // A forged file (checksum recomputed) must still be rejected or read
    // without panicking.
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("index");
    Index::write(&path, &sample(), &opts()).unwrap();
    let bytes = fs::read(&path).unwrap();
    let bad = t.path().join("bad");
    for i in HEADER_LEN..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0xff;
        let sum = checksum(&b[HEADER_LEN..]);
        b[24..32].copy_from_slice(&sum.to_le_bytes());
        fs::write(&bad, &b).unwrap();
        if let Open::Ready(index) = Index::open(&bad, &opts()) {
            read_everything(&index);
        }
    }
}

/// An index file whose archive says every command is up to date (b.c's
/// `must_rerun` cleared) behind the header of the one that says b.c must
/// re-run: damage rkyv's validation cannot see.
fn must_rerun_flipped(dir: &Path) -> std::path::PathBuf {
    let honest = dir.join("honest");
    Index::write(&honest, &sample(), &opts()).unwrap();
    let mut lying = sample();
    for c in &mut lying.commands {
        c.must_rerun = false;
    }
    let forged = dir.join("forged");
    Index::write(&forged, &lying, &opts()).unwrap();
    let mut bytes = fs::read(&forged).unwrap();
    let header = fs::read(&honest).unwrap();
    bytes[..HEADER_LEN].copy_from_slice(&header[..HEADER_LEN]);
    fs::write(&forged, &bytes).unwrap();
    forged
}

#[test]
fn unconfirmed_open_reads_in_place_and_confirms_a_sound_index() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("index");
    Index::write(&path, &sample(), &opts()).unwrap();
    let Open::Ready(mut index) = Index::open_unconfirmed(&path, &opts()) else {
        panic!("a sound index opens");
    };
    assert!(index.commands().any(|c| c.must_rerun()), "b.c must re-run");
    assert_eq!(index.confirm(), Ok(()));
    assert_eq!(index.confirm(), Ok(()), "the verdict is kept");
}

#[test]
fn damage_validation_cannot_see_is_caught_by_the_late_verdict() {
    let t = tempfile::tempdir().unwrap();
    let forged = must_rerun_flipped(t.path());
    // The fast open accepts it and reads the lie: a scan started on it
    // would judge files by it...
    let Open::Ready(mut index) = Index::open_unconfirmed(&forged, &opts()) else {
        panic!("rkyv cannot tell a cleared must_rerun bit");
    };
    assert!(
        !index.commands().any(|c| c.must_rerun()),
        "the forged archive says no command must re-run"
    );
    read_everything(&index);
    // ...and the verdict, asked for before anything is acted on, says no.
    let why = index.confirm().expect_err("the checksum must catch it");
    assert!(why.contains("checksum mismatch"), "{why}");
    assert!(index.confirm().is_err(), "the verdict is kept");
    match Index::open(&forged, &opts()) {
        Open::Corrupt(why) => assert!(why.contains("checksum mismatch"), "{why}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn checksum_covers_every_chunk() {
    let big = vec![3u8; (1 << 20) * 9 + 17];
    let sum = checksum(&big);
    assert_eq!(sum, checksum(&big.clone()), "deterministic");
    for at in [0, (1 << 20) * 4 + 5, big.len() - 1] {
        let mut b = big.clone();
        b[at] ^= 1;
        assert_ne!(checksum(&b), sum, "flip at {at}");
    }
    assert_ne!(checksum(&big[..big.len() - 1]), sum);
}

#[test]
fn tupfile_record_from_a_parse_keeps_every_read_and_value() {
    let parse = crate::tupfile::TupfileRecord {
        variant: p("build"),
        dir: p("src"),
        tupfile: p("src/Tupfile"),
        included: [p("Tuprules.tup")].into(),
        probed_absent: [p("src/Tuprules.tup")].into(),
        globbed_dirs: [p("src")].into(),
        depends_on: [p("gen")].into(),
        config: [("DEBUG".to_string(), Some("y".to_string()))].into(),
        env: [("HOME".to_string(), None)].into(),
        run_scripts: [p("gen.sh")].into(),
        script_reads: [p("files.txt"), p("gen.sh")].into(),
    };
    let mut asked = Vec::new();
    let rec = TupfileRecord::from_parse(&parse, &mut |path| {
        asked.push(path.to_string());
        Seen {
            file: FileRef(asked.len() as u32 - 1),
            since: Generation(4),
        }
    });
    assert_eq!(
        asked,
        [
            "src/Tupfile",
            "Tuprules.tup",
            "src/Tuprules.tup",
            "src",
            "gen.sh",
            "files.txt"
        ]
    );
    assert_eq!(rec.reads.len(), 6, "each path once");
    let names: Vec<&str> = rec.vars.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["$HOME", "@DEBUG"]);
    assert_eq!(rec.vars[0].value, identity::value_digest(None));
    assert_eq!((rec.variant.as_str(), rec.dir.as_str()), ("build", "src"));
    assert_eq!(rec.depends_on, [p("gen")]);
}

#[test]
fn tree_and_build_flags_round_trip() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("index");
    let mut r = sample();
    Index::write(&path, &r, &opts()).unwrap();
    let plain = open_ready(&path);
    assert_eq!(plain.tree().count(), 0);
    assert!(!plain.commands_are_rules() && !plain.all_up_to_date());
    drop(plain);

    r.tree = vec![
        TreeEntry {
            path: p("src"),
            listing: Listing {
                files: identity::Digest::of(b"listing"),
                dirs: identity::Digest::of(b"subdirs"),
            },
        },
        TreeEntry {
            path: p(""),
            listing: Listing {
                files: identity::Digest::of(b"root"),
                dirs: identity::Digest([0; 32]),
            },
        },
    ];
    r.commands_are_rules = true;
    r.all_up_to_date = true;
    Index::write(&path, &r, &opts()).unwrap();
    let index = open_ready(&path);
    let tree: Vec<(&str, identity::Digest, identity::Digest)> = index
        .tree()
        .map(|(path, l)| (path, l.files, l.dirs))
        .collect();
    assert_eq!(
        tree,
        [
            ("", identity::Digest::of(b"root"), identity::Digest([0; 32])),
            (
                "src",
                identity::Digest::of(b"listing"),
                identity::Digest::of(b"subdirs")
            )
        ],
        "sorted by path"
    );
    assert!(index.commands_are_rules() && index.all_up_to_date());
    let outputs: Vec<&str> = index.output_paths().collect();
    assert_eq!(
        outputs,
        ["src/a.o", "src/a.o.d", "src/b.o", "src/b.o.d"],
        "extra outputs too"
    );
}
