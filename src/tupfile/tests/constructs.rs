//! Every construct of the language, asserting the exact expanded commands.

use super::{cmds, parse};

#[test]
fn variables_set_append_and_escape() {
    let c = cmds(&[(
        "Tupfile",
        "A = one\nA += two\nB := $(A) three\nC = \\$(A) $(UNSET)x\nD =\nD += y\n: |> echo $(B) $(C) [$(D)] |> out",
    )]);
    assert_eq!(
        c,
        vec![".: echo one two three $(A) x [ y] |> out".replace(" |> out", "")]
    );
}

#[test]
fn continuation_comments_and_whitespace() {
    let c = cmds(&[(
        "Tupfile",
        "# comment\n  X = a   \n: |> echo \\\n  $(X) |> out\n   # indented comment\n",
    )]);
    assert_eq!(c, vec![".: echo     a"]);
}

#[test]
fn name_expansion_with_config() {
    let p = parse(&[
        ("tup.config", "CONFIG_FOO=y\n"),
        ("a.c", ""),
        ("b.c", ""),
        (
            "Tupfile",
            "srcs-@(FOO) += a.c\nsrcs-n += b.c\n: $(srcs-y) |> cc %f |> a.o",
        ),
    ]);
    assert_eq!(p.rules[0].command, "cc a.c");
    assert_eq!(
        p.rules[0].config_used.get("FOO").map(String::as_str),
        Some("y")
    );
}

#[test]
fn percent_flags_before_variables() {
    let c = cmds(&[
        ("a.c", ""),
        ("b.c", ""),
        (
            "Tupfile",
            "CFLAGS_a = -DA\nCMD = cc %f\n: foreach *.c |> gcc $(CFLAGS_%B) -c %f -o %o $(CMD) |> %B.o",
        ),
    ]);
    assert_eq!(
        c,
        vec![
            ".: gcc -DA -c a.c -o a.o cc %f",
            ".: gcc  -c b.c -o b.o cc %f"
        ]
    );
}

#[test]
fn every_percent_flag() {
    let p = parse(&[
        ("sub/x_one.tar.gz", ""),
        ("sub/h.h", ""),
        ("sub/g.h", ""),
        (
            "sub/Tupfile",
            ": foreach x_*.gz | h.h g.h |> f=%f b=%b B=%B e=%e g=%g o=%o i=%i d=%d 1i=%2i pct=%% |> %B.out | %O.map %o.log\n\
             : h.h g.h |> %1f %2b %1B %2o %1o |> a.x b.y\n",
        ),
    ]);
    assert_eq!(
        p.rules[0].command,
        "f=x_one.tar.gz b=x_one.tar.gz B=x_one.tar e=gz g=one.tar o=x_one.tar.out i=h.h g.h d=sub 1i=g.h pct=%"
    );
    let extra: Vec<String> = p.rules[0]
        .extra_outputs
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(extra, vec!["sub/x_one.tar.map", "sub/x_one.tar.out.log"]);
    assert_eq!(p.rules[1].command, "h.h g.h h b.y a.x");
}

#[test]
fn percent_d_at_the_root_is_the_root_name() {
    let t = super::tree(&[("Tupfile", ": |> echo %d |> out")]);
    let p = super::super::parse_project_with(t.path(), &super::opts()).unwrap();
    let name = t.path().canonicalize().unwrap();
    let name = name.file_name().unwrap().to_string_lossy();
    assert_eq!(p.rules[0].command, format!("echo {name}"));
}

#[test]
fn conditionals_nest() {
    let c = cmds(&[
        ("tup.config", "CONFIG_A=1\n# CONFIG_N is not set\n"),
        (
            "Tupfile",
            "X = a\n\
             ifeq ($(X),a)\n  ifneq (@(A),1)\n: |> wrong1 |>\n  else\n: |> right1 |>\n  endif\nelse\n: |> wrong2 |>\nendif\n\
             ifdef A\n: |> right2 |>\nendif\n\
             ifndef B\n: |> right3 |>\nendif\n\
             ifdef N\n: |> right4 |>\nendif\n\
             ifeq ( a,a)\n: |> wrong3 |>\nendif\n\
             ifdef B\nifeq (x,x)\n: |> wrong4 |>\nelse\n: |> wrong5 |>\nendif\nendif\n",
        ),
    ]);
    assert_eq!(c, vec![".: right1", ".: right2", ".: right3", ".: right4"]);
}

#[test]
fn macros_in_all_forms() {
    let p = parse(&[
        ("a.c", ""),
        ("c.c", ""),
        ("b.S", ""),
        ("gen.h", ""),
        (
            "Tupfile",
            "!cc = | gen.h |> ^ CC %f^ gcc -c %f -o %o |> %B.o | %B.d\n\
             !cc.S = |> as %f -o %o |> %B.o\n\
             !alias = !cc\n\
             !link = |> ld %f -o %o |>\n\
             : foreach a.c b.S |> !cc |>\n\
             : c.c |> !alias -O2 -DF=%B |> custom.o\n\
             : a.o b.o |> !link |> prog\n",
        ),
    ]);
    let c: Vec<&str> = p.rules.iter().map(|r| r.command.as_str()).collect();
    assert_eq!(
        c,
        vec![
            "gcc -c a.c -o a.o",
            "as b.S -o b.o",
            "gcc -c c.c -o custom.o -O2 -DF=c",
            "ld a.o b.o -o prog"
        ]
    );
    assert_eq!(p.rules[0].display.as_deref(), Some("CC a.c"));
    let s = |v: &[crate::paths::ProjPath]| v.iter().map(|p| p.to_string()).collect::<Vec<_>>();
    assert_eq!(s(&p.rules[0].order_only), vec!["gen.h"]);
    assert_eq!(s(&p.rules[0].extra_outputs), vec!["a.d"]);
    assert_eq!(s(&p.rules[2].outputs), vec!["custom.o"]);
    assert_eq!(s(&p.rules[2].extra_outputs), vec!["c.d"]);
}

#[test]
fn foreach_macro_sets_foreach() {
    let c = cmds(&[
        ("a.c", ""),
        ("b.c", ""),
        (
            "Tupfile",
            "!cc = foreach |> cc %f |> %B.o\n: *.c |> !cc |>\n",
        ),
    ]);
    assert_eq!(c, vec![".: cc a.c", ".: cc b.c"]);
}

#[test]
fn include_and_include_rules_and_tup_cwd() {
    let p = parse(&[
        ("Tuprules.tup", "ROOT = $(TUP_CWD)\nLIST = root\n"),
        ("a/Tuprules.tup", "LIST += a $(TUP_CWD)\n"),
        (
            "a/b/Tupfile",
            "include_rules\ninclude ../inc/defs.tup\n: |> echo $(ROOT) $(LIST) $(DEF) |> out\n",
        ),
        ("a/inc/defs.tup", "DEF = $(TUP_CWD)/x\n"),
    ]);
    assert_eq!(p.rules[0].command, "echo ../.. root a .. ../inc/x");
    let rec = &p.tupfiles[0];
    let inc: Vec<String> = rec.included.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        inc,
        vec!["Tuprules.tup", "a/Tuprules.tup", "a/inc/defs.tup"]
    );
    let absent: Vec<String> = rec.probed_absent.iter().map(|p| p.to_string()).collect();
    assert_eq!(absent, vec!["a/b/Tuprules.tup"]);
}

#[test]
fn tupdefault_describes_directories_without_tupfile() {
    let c = cmds(&[
        ("Tupdefault", ": foreach *.c |> cc %f |> %B.o\n"),
        ("x/a.c", ""),
        ("y/Tupfile", ": |> own |> out\n"),
        ("y/z/b.c", ""),
    ]);
    assert_eq!(c, vec!["x: cc a.c", "y: own", "y/z: cc b.c"]);
}

#[test]
fn globs_match_sources_and_outputs_of_other_dirs_parsed_on_demand() {
    let p = parse(&[
        (
            "app/Tupfile",
            ": ../lib/*.o ../lib/gen.txt |> ld %f -o %o |> app\n",
        ),
        ("lib/x.c", ""),
        ("lib/w.o.txt", ""),
        (
            "lib/Tupfile",
            ": foreach *.c |> cc %f |> %B.o\n: |> gen > %o |> gen.txt\n",
        ),
    ]);
    // Rules are ordered by directory; app's parse needed lib's first.
    assert_eq!(p.rules[0].command, "ld ../lib/x.o ../lib/gen.txt -o app");
    assert_eq!(p.rules[1].command, "cc x.c");
    let deps: Vec<String> = p.tupfiles[0]
        .depends_on
        .iter()
        .map(|d| d.to_string())
        .collect();
    assert_eq!(deps, vec!["lib"]);
}

#[test]
fn glob_character_classes_and_question_marks() {
    let c = cmds(&[
        ("a1.c", ""),
        ("b2.c", ""),
        ("c3.c", ""),
        (".hidden.c", ""),
        ("Tupfile", ": [ab]?.c |> x %f |> o1\n: *.c |> y %f |> o2\n"),
    ]);
    assert_eq!(c, vec![".: x a1.c b2.c", ".: y a1.c b2.c c3.c"]);
}

#[test]
fn regex_exclusions_and_output_ignores() {
    let p = parse(&[
        ("a.c", ""),
        ("b_test.c", ""),
        ("c.c", ""),
        (
            "Tupfile",
            ": *.c ^_test ^c\\.c |> cc %f |> out ^\\.lock$ ^tmp/\n",
        ),
    ]);
    assert_eq!(p.rules[0].command, "cc a.c");
    assert_eq!(p.rules[0].ignore, vec!["\\.lock$", "tmp/"]);
}

#[test]
fn bins_collect_outputs_and_empty_commands() {
    let c = cmds(&[
        ("a.c", ""),
        ("b.c", ""),
        ("x.txt", ""),
        (
            "Tupfile",
            ": foreach *.c |> cc %f |> %B.o {objs}\n: x.txt |> |> {objs}\n: {objs} |> ld %f |> prog\n",
        ),
    ]);
    assert_eq!(c, vec![".: cc a.c", ".: cc b.c", ".: ld a.o b.o x.txt"]);
}

#[test]
fn groups_are_global() {
    let p = parse(&[
        ("a/Tupfile", ": |> gen > %o |> x.h ../<hdrs>\n"),
        ("b/Tupfile", ": | ../<hdrs> |> cc %<hdrs> |> y.o\n"),
    ]);
    assert_eq!(
        p.rules[0]
            .output_group
            .as_ref()
            .map(|g| g.to_string())
            .as_deref(),
        Some("<hdrs>")
    );
    assert_eq!(p.rules[1].input_groups[0].to_string(), "<hdrs>");
    assert_eq!(p.rules[1].command, "cc ../a/x.h");
}

#[test]
fn empty_input_match_emits_nothing() {
    let c = cmds(&[(
        "Tupfile",
        ": *.o |> ld %f |> prog\n: foreach *.c |> cc %f |> %B.o\n: |> echo hi |> hi\n",
    )]);
    assert_eq!(c, vec![".: echo hi"]);
}

#[test]
fn display_and_flags() {
    let p = parse(&[(
        "Tupfile",
        ": |> ^bj GEN %o^ gen > %o |> x\n: |> ^t^ tmp > %o |> y\n",
    )]);
    assert_eq!(p.rules[0].display.as_deref(), Some("GEN x"));
    assert!(p.rules[0].flags.bash && p.rules[0].flags.compile_db);
    assert_eq!(p.rules[0].command, "gen > x");
    assert!(p.rules[1].flags.transient && p.rules[1].display.is_none());
}

#[test]
fn config_used_is_exact_per_command() {
    let p = parse(&[
        ("tup.config", "CONFIG_OPT=2\nCONFIG_DBG=y\nCONFIG_OTHER=z\n"),
        (
            "Tupfile",
            "CFLAGS = -O@(OPT)\nifeq (@(OTHER),z)\nX = 1\nendif\n: |> cc $(CFLAGS) |> a\n: |> cc $(CONFIG_DBG) @(MISSING) @(TUP_PLATFORM) |> b\n: |> plain |> c\n",
        ),
    ]);
    let used = |i: usize| -> Vec<(String, String)> {
        p.rules[i].config_used.clone().into_iter().collect()
    };
    assert_eq!(p.rules[0].command, "cc -O2");
    assert_eq!(used(0), vec![("OPT".into(), "2".into())]);
    assert_eq!(p.rules[1].command, "cc y  linux");
    assert_eq!(
        used(1),
        vec![
            ("DBG".into(), "y".into()),
            ("MISSING".into(), String::new()),
            ("TUP_PLATFORM".into(), "linux".into())
        ]
    );
    assert!(used(2).is_empty());
    let rec: Vec<&str> = p.tupfiles[0].config.keys().map(String::as_str).collect();
    assert_eq!(rec, vec!["DBG", "MISSING", "OPT", "OTHER", "TUP_PLATFORM"]);
}

#[test]
fn node_variables_are_relative_to_the_place_of_use() {
    let c = cmds(&[
        ("Tuprules.tup", "&inc = include\n"),
        ("include/x.h", ""),
        ("src/Tupfile", "include_rules\n: |> cc -I&(inc) |> o\n"),
    ]);
    assert_eq!(c, vec!["src: cc -I../include"]);
}

#[test]
fn export_and_import() {
    let p = parse(&[(
        "Tupfile",
        "export CC\nimport FOO_ENV\nimport MISSING=dflt\nimport GONE\n: |> echo $(FOO_ENV) $(MISSING) [$(GONE)] |> o\n",
    )]);
    assert_eq!(p.rules[0].command, "echo fromenv dflt []");
    assert_eq!(p.rules[0].exports, vec!["CC", "HOME", "PATH"]);
    let env: Vec<(String, Option<String>)> = p.tupfiles[0].env.clone().into_iter().collect();
    assert_eq!(
        env,
        vec![
            ("FOO_ENV".into(), Some("fromenv".into())),
            ("GONE".into(), None),
            ("MISSING".into(), None)
        ]
    );
}

#[test]
fn run_scripts_add_rules() {
    let p = parse(&[
        (
            "gen.sh",
            "echo ': |> echo from-script |> s1'\necho\necho '# c'\necho \": |> echo $1 |> s2\"\n",
        ),
        (
            "Tupfile",
            "ARG = two\nrun sh ./gen.sh $(ARG)\n: s1 |> cat %f |> s3\n",
        ),
    ]);
    let c: Vec<&str> = p.rules.iter().map(|r| r.command.as_str()).collect();
    assert_eq!(c, vec!["echo from-script", "echo two", "cat s1"]);
    assert_eq!(p.rules[0].location.to_string(), "Tupfile:2");
}

#[test]
fn run_script_path_is_recorded() {
    let p = parse(&[
        ("gen.sh", "echo ': |> x |> y'\n"),
        ("Tupfile", "run sh gen.sh\n"),
    ]);
    let scripts: Vec<String> = p.tupfiles[0]
        .run_scripts
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(scripts, vec!["gen.sh"]);
}

#[test]
fn gitignore_lists_outputs() {
    let p = parse(&[
        ("Tupfile", ".gitignore\n: |> a |> x.o sub/y.o | z.log\n"),
        ("d/Tupfile", ": |> b |> w\n"),
    ]);
    assert_eq!(p.gitignores.len(), 1);
    assert_eq!(
        p.gitignores[0].entries,
        vec![".tupfs", "/.gitignore", "/sub/y.o", "/x.o", "/z.log"]
    );
}

#[test]
fn variants_place_outputs_under_the_variant() {
    let p = parse(&[
        ("build-a/tup.config", "CONFIG_X=a\n"),
        ("build-b/tup.config", "CONFIG_X=b\n"),
        ("src/m.c", ""),
        ("src/Tupfile", ": foreach *.c |> cc -DX=@(X) %f -o %o $(TUP_VARIANT_OUTPUTDIR) %d |> %B.o\n: m.o |> ld %f |> prog\n"),
    ]);
    let c: Vec<String> = p
        .rules
        .iter()
        .map(|r| format!("{}: {}", r.dir, r.command))
        .collect();
    assert_eq!(
        c,
        vec![
            "build-a/src: cc -Da m.c -o m.o ../build-a/src src".replace("-Da", "-DX=a"),
            "build-a/src: ld m.o".into(),
            "build-b/src: cc -DX=b m.c -o m.o ../build-b/src src".into(),
            "build-b/src: ld m.o".into(),
        ]
    );
    assert_eq!(p.rules[0].inputs[0].to_string(), "src/m.c");
    assert_eq!(p.rules[0].outputs[0].to_string(), "build-a/src/m.o");
    assert_eq!(p.rules[1].inputs[0].to_string(), "build-a/src/m.o");
    assert_eq!(p.rules[0].source_dir.to_string(), "src");
    assert_eq!(p.variants.len(), 2);
}

#[test]
fn explicit_output_of_another_dir_parses_it_first() {
    let c = cmds(&[
        ("z/Tupfile", ": |> gen > %o |> made.txt\n"),
        ("a/Tupfile", ": ../z/made.txt |> cat %f |> copy\n"),
    ]);
    assert_eq!(c, vec!["a: cat ../z/made.txt", "z: gen > made.txt"]);
}

#[test]
fn outputs_may_go_to_subdirectories_and_parents() {
    let p = parse(&[("d/Tupfile", ": |> gen |> sub/x ../y\n")]);
    let o: Vec<String> = p.rules[0].outputs.iter().map(|p| p.to_string()).collect();
    assert_eq!(o, vec!["d/sub/x", "y"]);
}

#[test]
fn assignment_operators_are_found_as_tup_finds_them() {
    // tup looks for "+=" first: `B = x+=y` appends "y" to a variable named "B = x".
    let c = cmds(&[(
        "Tupfile",
        "B = x+=y\nC := a=b\n: |> echo [$(B)] [$(C)] |> o\n",
    )]);
    assert_eq!(c, vec![".: echo [] [a=b]"]);
}

#[test]
fn a_tupdefault_reads_as_the_directory_own_tupfile() {
    let c = cmds(&[
        ("Tupdefault", ": |> echo $(TUP_CWD) %d |> o\n"),
        ("x/keep", ""),
    ]);
    assert_eq!(c.len(), 2);
    assert_eq!(c[1], "x: echo . x");
}

#[test]
fn empty_macro_runs_only_when_no_input_matched() {
    let macros = "!ar = |> ar rcs %o %f |> lib.a\n!ar.EMPTY = |> touch %o |> lib.a\n";
    let none = cmds(&[("Tupfile", &format!("{macros}: *.o |> !ar |>\n"))]);
    assert_eq!(none, vec![".: touch lib.a"]);
    let some = cmds(&[
        ("x.o", ""),
        ("Tupfile", &format!("{macros}: *.o |> !ar |>\n")),
    ]);
    assert_eq!(some, vec![".: ar rcs lib.a x.o"]);
}
