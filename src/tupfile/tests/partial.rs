//! A partial parse (some Tupfiles parsed, the others' rules given) gives
//! exactly the rules of a full parse, in the same order, when the parsed
//! Tupfiles declare what they declared before.

use std::collections::BTreeSet;

use super::{opts, tree};
use crate::tupfile::{parse_partial, parse_project_with, scan_tree, Partial, TupfileKey};

/// Generated headers in a group, a library whose commands list the group
/// with `%<hdrs>` and fill a bin, an app naming the library, a Tuprules.
const PROJECT: &[(&str, &str)] = &[
    ("Tuprules.tup", "CC = cc\n"),
    (
        "gen/Tupfile",
        "include_rules\n: |> gen a > %o |> a.h ../<hdrs>\n: |> gen b > %o |> b.h ../<hdrs>\n",
    ),
    ("lib/x.c", ""),
    ("lib/y.c", ""),
    (
        "lib/Tupfile",
        "include_rules\n: foreach *.c | ../<hdrs> |> $(CC) -c %f -o %o %<hdrs> |> %B.o {objs}\n: {objs} |> ar %o %f |> lib.a\n",
    ),
    ("app/main.c", ""),
    (
        "app/Tupfile",
        ": main.c ../lib/lib.a | ../<hdrs> |> cc %f -o %o %<hdrs> |> app\n",
    ),
];

/// Parse `files` fully, then each Tupfile alone with the others' rules
/// kept: the rules must be the full parse's, the records the parsed one's.
fn each_alone_is_exact(files: &[(&str, &str)]) {
    let t = tree(files);
    let full = parse_project_with(t.path(), &opts()).expect("the project parses");
    let source = scan_tree(t.path(), &opts()).expect("the tree walks");
    assert!(full.tupfiles.len() >= 3, "{:?}", full.tupfiles);
    let expanded = "cc -c x.c -o x.o ../gen/a.h ../gen/b.h";
    assert!(
        full.rules.iter().any(|r| r.command.ends_with(expanded)),
        "%<hdrs> expands: {:#?}",
        full.rules
    );
    for record in &full.tupfiles {
        let key = TupfileKey {
            variant: record.variant.clone(),
            dir: record.dir.clone(),
        };
        let parse: BTreeSet<TupfileKey> = [key.clone()].into();
        let kept = full.rules.iter().filter(|r| TupfileKey::of_rule(r) != key);
        let partial = Partial {
            parse: &parse,
            kept: kept.cloned().collect(),
        };
        let got = parse_partial(t.path(), &opts(), &source, partial).expect("it parses");
        assert_eq!(got.rules, full.rules, "{key} parsed alone");
        assert_eq!(got.tupfiles, vec![record.clone()], "{key} parsed alone");
    }
}

#[test]
fn each_tupfile_parsed_alone_gives_the_full_parse() {
    each_alone_is_exact(PROJECT);
}

#[test]
fn each_tupfile_of_a_variant_parsed_alone_gives_the_full_parse() {
    let mut files = PROJECT.to_vec();
    files.push(("one/tup.config", "CONFIG_X=1\n"));
    files.push(("two/tup.config", "CONFIG_X=2\n"));
    each_alone_is_exact(&files);
}
