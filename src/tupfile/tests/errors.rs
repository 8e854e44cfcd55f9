//! Every mistake gives a located error saying what was expected.

use super::err;

#[test]
fn unknown_percent_flag() {
    assert_eq!(
        err(&[("Tupfile", "\n: |> cc %q |> x\n")]),
        "Tupfile:2: column 9: unknown %-flag '%q'; expected one of %f %b %B %e %o %O %i %d %g %<group> %%"
    );
}

#[test]
fn conditional_mistakes() {
    assert_eq!(
        err(&[("Tupfile", "ifeq (a,b)\nX = 1\n")]),
        "Tupfile:2: missing 'endif' before the end of the file for the block opened on line 1"
    );
    assert_eq!(
        err(&[("Tupfile", "X = 1\nelse\n")]),
        "Tupfile:2: 'else' without a matching ifeq/ifneq/ifdef/ifndef"
    );
    assert_eq!(
        err(&[("Tupfile", "endif\n")]),
        "Tupfile:1: 'endif' without a matching ifeq/ifneq/ifdef/ifndef"
    );
    assert_eq!(
        err(&[("Tupfile", "ifeq a b\nendif\n")]),
        "Tupfile:1: expected '(a,b)' after ifeq/ifneq, found 'a b'"
    );
    assert_eq!(
        err(&[("Tupfile", "ifdef\nendif\n")]),
        "Tupfile:1: expected a rule (':'), a macro ('!name = ...'), a directive or an assignment ('NAME = value'), found 'ifdef'"
    );
    assert_eq!(
        err(&[("Tupfile", "ifdef A B\nendif\n")]),
        "Tupfile:1: expected one config name after ifdef/ifndef, found 'A B'"
    );
    assert_eq!(
        err(&[("Tupfile", "ifdef A\nelse\nelse\nendif\n")]),
        "Tupfile:3: second 'else' in the block opened on line 1; expected 'endif'"
    );
}

#[test]
fn bin_not_last_and_unknown_bin() {
    assert_eq!(
        err(&[("Tupfile", ": |> x |> a {b} c\n")]),
        "Tupfile:1: the bin '{b}' must be the last thing in the output list"
    );
    assert_eq!(
        err(&[("Tupfile", ": {nope} |> x |> a\n")]),
        "Tupfile:1: unknown bin '{nope}'; bins are filled by earlier rules of the same file"
    );
}

#[test]
fn two_rules_one_output_names_both() {
    assert_eq!(
        err(&[("Tupfile", ": |> a |> x\n"), ("sub/Tupfile", ": |> b |> ../x\n")]),
        "sub/Tupfile:1: output 'x' is produced by two rules: Tupfile:1 and sub/Tupfile:1; each file may have one rule"
    );
}

#[test]
fn output_outside_project_and_reserved_and_hidden() {
    assert_eq!(
        err(&[("Tupfile", ": |> a |> ../x\n")]),
        "Tupfile:1: output '../x' is outside the project; outputs must stay inside the project root"
    );
    assert_eq!(
        err(&[("Tupfile", ": |> a |> Tupfile\n")]),
        "Tupfile:1: output 'Tupfile' is a name reserved for build descriptions; outputs cannot be Tupfiles or tup.config"
    );
    assert_eq!(
        err(&[("Tupfile", ": |> a |> .x\n")]),
        "Tupfile:1: output '.x' has a path component starting with '.'; hidden files cannot be outputs"
    );
    assert_eq!(
        err(&[("Tupfile", ": |> a |> x x\n")]),
        "Tupfile:1: output 'x' is listed twice in one command"
    );
    assert_eq!(
        err(&[("Tupfile", ": |> a |> x <g> <h>\n")]),
        "Tupfile:1: a rule can put its outputs in one group only, found <g> and <h>"
    );
}

#[test]
fn include_mistakes() {
    assert_eq!(
        err(&[("Tupfile", "include nope.tup\n")]),
        "Tupfile:1: cannot include 'nope.tup': no such file (nope.tup)"
    );
    assert_eq!(
        err(&[("Tupfile", ": |> gen |> gen.tup\ninclude gen.tup\n")]),
        "Tupfile:2: cannot include 'gen.tup': it is a generated file (output of the rule at Tupfile:1); include only files you write"
    );
    assert_eq!(
        err(&[("Tupfile", "include Tupfile\n")]),
        "Tupfile:1: includes nest deeper than 64 levels at 'Tupfile'; does a file include itself?"
    );
    assert_eq!(
        err(&[("inc.tup", "X = $(\n"), ("Tupfile", "include inc.tup\n")]),
        "inc.tup:1: column 5: expected ')' to close '$('"
    );
}

#[test]
fn macro_mistakes() {
    assert_eq!(
        err(&[("Tupfile", "!m = a.c |> cc |>\n")]),
        "Tupfile:1: macro '!m' has normal inputs 'a.c'; a macro may only have order-only inputs (after '|')"
    );
    assert_eq!(
        err(&[("Tupfile", ": |> !nope |> x\n")]),
        "Tupfile:1: unknown macro '!nope'; define it with '!nope = |> command |> outputs' before use"
    );
}

#[test]
fn flag_combination_and_syntax() {
    assert_eq!(
        err(&[("Tupfile", ": |> ^ot^ x |> y\n")]),
        "Tupfile:1: the ^o and ^t flags cannot be combined: a transient output cannot be compared with its last version"
    );
    assert_eq!(
        err(&[("Tupfile", ": a |> x\n")]),
        "Tupfile:1: expected a second '|>' after the command"
    );
    assert_eq!(
        err(&[("Tupfile", "just words\n")]),
        "Tupfile:1: expected a rule (':'), a macro ('!name = ...'), a directive or an assignment ('NAME = value'), found 'just words'"
    );
}

#[test]
fn config_assignment_is_an_error() {
    assert_eq!(
        err(&[("Tupfile", "CONFIG_X = 1\n")]),
        "Tupfile:1: cannot set 'CONFIG_X': CONFIG_ variables can only be set in tup.config"
    );
}

#[test]
fn missing_inputs_and_external_outputs() {
    assert_eq!(
        err(&[("Tupfile", ": nope.c |> cc %f |> x\n")]),
        "Tupfile:1: input 'nope.c' does not exist: there is no source file nope.c and no earlier rule produces it"
    );
    assert_eq!(
        err(&[("a/Tupfile", ": |> gen |> ../c/x\n"), ("b/Tupfile", ": ../c/x |> use |> y\n"), ("c/keep", "")]),
        "b/Tupfile:1: input '../c/x' is generated into another directory by the Tupfile of 'a' (a/Tupfile:1); put it in a group and use the group as an input"
    );
    assert_eq!(
        err(&[("Tupfile", ": .hidden |> x |> y\n")]),
        "Tupfile:1: the path '.hidden' has a component starting with '.'; hidden files are ignored, so it cannot be an input"
    );
}

#[test]
fn circular_directory_dependency() {
    assert_eq!(
        err(&[("a/Tupfile", ": ../b/*.x |> x |> y.x\n"), ("b/Tupfile", ": ../a/*.x |> x |> z.x\n")]),
        "b/Tupfile:1: circular dependency among Tupfiles: a -> b -> a (each uses outputs of the next)"
    );
}

#[test]
fn error_directive_and_lua() {
    assert_eq!(
        err(&[("Tupfile", "X = 1\nerror bad config $(X)\n")]),
        "Tupfile:2: bad config $(X)"
    );
    assert_eq!(
        err(&[("sub/Tupfile.lua", "tup.rule()")]),
        "sub/Tupfile.lua:1: Lua Tupfiles are not supported by tupfs; write the rules in a plain 'Tupfile'"
    );
}

#[test]
fn run_script_mistakes() {
    assert_eq!(
        err(&[("Tupfile", "run echo hello\n")]),
        "Tupfile:1: line 1 of the output of 'run echo hello' is not a ':' rule: 'hello'"
    );
    assert!(err(&[("Tupfile", "run false\n")]).starts_with("Tupfile:1: run script 'false' failed"));
}

#[test]
fn percent_flag_misuse() {
    assert_eq!(
        err(&[("Tupfile", ": |> cc %f |> x\n")]),
        "Tupfile:1: column 9: %f used but the rule has no input files"
    );
    assert_eq!(
        err(&[("Tupfile", ": |> cc |> %o\n")]),
        "Tupfile:1: column 12: %o can only be used in the command or the extra outputs"
    );
    assert_eq!(
        err(&[("a.c", ""), ("Tupfile", ": a.c |> cc %e |> x\n")]),
        "Tupfile:1: column 13: %e is only valid in a foreach rule whose input has an extension"
    );
}

#[test]
fn bad_tup_config_and_node_variable() {
    assert_eq!(
        err(&[("tup.config", "NOPE\n"), ("Tupfile", "")]),
        "tup.config:1: expected 'CONFIG_NAME=value' or a '#' comment, found 'NOPE'"
    );
    assert_eq!(
        err(&[("Tupfile", "&x = missing\n")]),
        "Tupfile:1: node variable '&x' must name an existing source file or directory; 'missing' is not one"
    );
    assert_eq!(
        err(&[("Tupfile", "X = &(y)\n")]),
        "Tupfile:1: column 5: &-variables are not allowed here (only in rule inputs, commands, include and run lines)"
    );
}

#[test]
fn same_command_twice_in_a_directory() {
    assert_eq!(
        err(&[("a.c", ""), ("Tupfile", ": a.c |> echo %f |> x\n: foreach *.c |> echo %f |> %B.y\n")]),
        "Tupfile:2: the command 'echo a.c' is written twice for this directory (Tupfile:1 and Tupfile:2); each command must differ"
    );
}

#[test]
fn errors_inside_a_macro_name_it() {
    assert_eq!(
        err(&[("Tupfile", "!m = |> cc %q |> x\n: |> !m |>\n")]),
        "Tupfile:2: in macro '!m': column 4: unknown %-flag '%q'; expected one of %f %b %B %e %o %O %i %d %g %<group> %%"
    );
    assert_eq!(
        err(&[("Tupfile", ": |> cc |> %B.o\n")]),
        "Tupfile:1: column 12: %B used but the rule has no input files"
    );
    assert_eq!(
        err(&[("Tupfile", ": a.c $(X |> cc |> x\n")]),
        "Tupfile:1: column 7: expected ')' to close '$('"
    );
}
