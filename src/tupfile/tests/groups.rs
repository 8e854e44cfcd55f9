//! `%<group>` in commands: the exact text it expands to and its errors.
//! Every expected string here was first checked against `tup generate`
//! of tup 0.7.11 on the same Tupfiles (except where tupfs reports at parse
//! time what tup reports when the command runs).

use super::{err, parse};

/// Groups of one name in two directories, members declared by a directory
/// parsed after the consumer, `$(TUP_CWD)/<objs>` from Tuprules.tup, extra
/// outputs and an empty group.
#[test]
fn expands_to_every_member_relative_to_the_command() {
    let p = parse(&[
        ("Tuprules.tup", "OBJS = $(TUP_CWD)/<objs>\n"),
        ("lib/a.c", ""),
        ("lib/b.c", ""),
        (
            "lib/Tupfile",
            "include_rules\n\
             : |> echo l > %o |> sub/l.o | l.map $(OBJS)\n\
             : foreach b.c a.c |> cc -c %f -o %o |> %B.o $(OBJS)\n",
        ),
        ("zlib/Tupfile", ": |> echo z > %o |> z.o <objs>\n"),
        ("a_use/x.c", ""),
        (
            "a_use/Tupfile",
            "include_rules\n\
             : x.c | ../zlib/<objs> $(OBJS) <empty> |> ^ LD %<objs> %f^ ld %f %<objs> -o %o [%i] [%<empty>] |> prog\n",
        ),
    ]);
    let ld = &p.rules[0];
    assert_eq!(
        ld.command,
        "ld x.c ../zlib/z.o ../lib/sub/l.o ../lib/l.map ../lib/b.o ../lib/a.o -o prog [../zlib/<objs> ../<objs> <empty>] []"
    );
    // tup shows the display text with %<objs> unexpanded.
    assert_eq!(ld.display.as_deref(), Some("LD %<objs> x.c"));
}

#[test]
fn members_follow_the_rules_in_foreach_and_macros() {
    let p = parse(&[
        ("gen/a.txt", ""),
        ("gen/b.txt", ""),
        (
            "gen/Tupfile",
            ": foreach *.txt |> up %f > %o |> %B.up <ups>\n",
        ),
        ("use/x.c", ""),
        ("use/y.c", ""),
        (
            "use/Tupfile",
            "!cat = | ../gen/<ups> |> cat %<ups> %f > %o |>\n\
             : foreach x.c y.c |> !cat |> %B.all\n",
        ),
    ]);
    let cmds: Vec<&str> = p.rules.iter().map(|r| r.command.as_str()).collect();
    assert_eq!(
        cmds,
        [
            "up a.txt > a.up",
            "up b.txt > b.up",
            "cat ../gen/a.up ../gen/b.up x.c > x.all",
            "cat ../gen/a.up ../gen/b.up y.c > y.all",
        ]
    );
}

#[test]
fn a_group_in_the_same_directory_and_in_a_variant() {
    let files = [
        ("a.txt", ""),
        (
            "Tupfile",
            ": a.txt |> cp %f %o |> sub/a.out <g>\n: <g> |> cat %<g> > %o |> all\n",
        ),
    ];
    assert_eq!(parse(&files).rules[1].command, "cat sub/a.out > all");
    let mut variant = files.to_vec();
    variant.push(("build/tup.config", ""));
    let p = parse(&variant);
    // Relative to where the command runs: build/, the variant's mirror.
    assert_eq!(p.rules[1].dir.as_str(), "build");
    assert_eq!(p.rules[1].command, "cat sub/a.out > all");
}

#[test]
fn group_flag_errors() {
    assert_eq!(
        err(&[
            ("gen/Tupfile", ": |> echo a > %o |> a.up <ups>\n"),
            ("use/Tupfile", "\n: | ../gen/<other> |> cat %<ups> > %o |> all.txt\n"),
        ]),
        "use/Tupfile:2: %<ups> is used but no group '<ups>' is an input of this command; expected it among the inputs, e.g. ': | dir/<ups> |> ...'"
    );
    assert_eq!(
        err(&[("Tupfile", ": | <g> |> cat %<g > %o |> all\n")]),
        "Tupfile:1: expected '%<name>' naming an input group, found '%<g >' in the command 'cat %<g > all'"
    );
    assert_eq!(
        err(&[("Tupfile", ": | <g> |> cat %<g |> all\n")]),
        "Tupfile:1: expected '>' to close the group name after '%<' in the command 'cat %<g'"
    );
    assert_eq!(
        err(&[("Tupfile", ": | <g> |> ld @%<g>.res |> all\n")]),
        "Tupfile:1: '%<g>.res' (a response file) is not supported by tupfs; use '%<g>' to list the group's files in the command"
    );
    assert_eq!(
        err(&[("Tupfile", ": | <g> |> cat > %o |> all %<g>\n")]),
        "Tupfile:1: column 28: %<group> can only be used in the command"
    );
}
