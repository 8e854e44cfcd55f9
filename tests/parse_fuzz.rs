//! Fuzzing the Tupfile front end: random bytes and random mutations of real
//! Tupfiles never panic, and every error names a file and a line.

use std::fs;
use std::path::Path;

use proptest::prelude::*;
use tupfs::tupfile::{parse_project_with, ParseOptions};

/// The Tupfiles of examples/full, by path (the seeds for mutation).
fn seeds() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/full");
    [
        "Tupfile",
        "Tuprules.tup",
        "lib/Tupfile",
        "app/Tupfile",
        "docs/Tupfile",
        "Tupdefault",
    ]
    .iter()
    .map(|p| {
        (
            p.to_string(),
            fs::read_to_string(root.join(p)).unwrap_or_default(),
        )
    })
    .collect()
}

/// Write a small project: sources plus `tupfile` as the root Tupfile and
/// `rules` as Tuprules.tup.
fn check(tupfile: &[u8], rules: &[u8]) {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    for (p, text) in [
        ("Tupfile.ini", &b""[..]),
        ("a.c", b"int a;"),
        ("b.c", b"int b;"),
        ("page_x.txt", b"x"),
        ("sub/c.c", b""),
        ("include/x.h", b""),
    ] {
        let path = root.join(p);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    fs::write(root.join("Tupfile"), tupfile).unwrap();
    fs::write(root.join("Tuprules.tup"), rules).unwrap();
    fs::write(
        root.join("sub/Tupfile"),
        b"include_rules\n: foreach *.c |> cc %f |> %B.o\n",
    )
    .unwrap();
    let opts = ParseOptions {
        env: Default::default(),
        previous_outputs: Default::default(),
        allow_run: false,
        ..ParseOptions::default()
    };
    if let Err(e) = parse_project_with(root, &opts) {
        let loc = e.location.as_ref();
        assert!(
            loc.is_some_and(|l| l.line >= 1),
            "error without a location: {e}"
        );
        assert!(!e.message.is_empty());
    }
}

/// Bytes that matter to the language, to make mutations interesting.
fn token() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::sample::select(vec![
            "$(",
            "@(",
            "&(",
            ")",
            "%",
            "%f",
            "%o",
            "%2f",
            "%g",
            "%<",
            "{",
            "}",
            "<",
            ">",
            "|",
            "|>",
            "^",
            "!",
            ":",
            "=",
            "+=",
            ":=",
            "\\",
            "\n",
            "#",
            "*",
            "?",
            "[",
            "]",
            "../",
            "foreach ",
            "ifeq (",
            "ifdef ",
            "else\n",
            "endif\n",
            "include ",
            "include_rules\n",
            "export ",
            "import ",
            "error ",
            "preload ",
            ".gitignore\n",
            "!cc",
            ",",
            " ",
            "\u{e9}",
            "\0",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 0..4),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, Vec<u8>),
    DuplicateLine(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0usize..12).prop_map(|(a, n)| Mutation::Delete(a, n)),
        (any::<usize>(), token()).prop_map(|(a, t)| Mutation::Insert(a, t)),
        any::<usize>().prop_map(Mutation::DuplicateLine),
    ]
}

fn apply(text: &[u8], muts: &[Mutation]) -> Vec<u8> {
    let mut t = text.to_vec();
    for m in muts {
        let len = t.len().max(1);
        match m {
            Mutation::Delete(a, n) => {
                let start = a % len;
                let end = (start + n).min(t.len());
                if start < end {
                    t.drain(start..end);
                }
            }
            Mutation::Insert(a, bytes) => {
                let at = a % (t.len() + 1);
                t.splice(at..at, bytes.iter().copied());
            }
            Mutation::DuplicateLine(a) => {
                let lines: Vec<&[u8]> = t.split(|&b| b == b'\n').collect();
                let line = lines[a % lines.len()].to_vec();
                t.extend_from_slice(b"\n");
                t.extend_from_slice(&line);
            }
        }
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        check(&bytes, b"");
    }

    #[test]
    fn mutated_real_tupfiles_never_panic(
        seed in 0usize..6,
        rules_seed in 0usize..6,
        muts in prop::collection::vec(mutation(), 1..8),
    ) {
        let seeds = seeds();
        let text = apply(seeds[seed].1.as_bytes(), &muts);
        let rules = apply(seeds[rules_seed].1.as_bytes(), &muts[..muts.len() / 2]);
        check(&text, &rules);
    }
}
