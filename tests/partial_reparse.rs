//! Re-parsing only the Tupfiles whose parse inputs changed (DESIGN.md,
//! "Re-use of the last parse"): each test edits a multi-directory project,
//! checks how many Tupfiles the build parsed (the run log's `parsed`) and
//! which commands ran, and that the outputs are byte for byte those of a
//! clean build of the same sources. Edits that change what other
//! Tupfiles see (outputs a glob or a group picks up) fall back to a full
//! parse, counted with the partial one before it.

mod harness;

use harness::{Outcome, Project, Rng};

fn parsed(b: &Outcome) -> usize {
    b.log()
        .parsed
        .unwrap_or_else(|| b.fail("the run log has no \"parsed\""))
}

#[track_caller]
fn assert_parsed(b: &Outcome, n: usize) {
    assert_eq!(parsed(b), n, "Tupfiles parsed\n{}", b.dump());
}

/// Build, and check the outputs are those of a clean build of the same
/// sources (at the same path) and that the next build has nothing to do.
#[track_caller]
fn build_like_clean(p: &Project) -> Outcome {
    let b = p.build(&[]);
    b.success();
    let (clean, outputs) = p.clean_build_in_place(&[]);
    clean.success();
    assert_eq!(
        p.outputs(),
        outputs,
        "the outputs differ from a clean build\n{}",
        b.dump()
    );
    let again = p.build(&[]);
    again.success().ran_nothing();
    assert_parsed(&again, 0);
    b
}

/// A built project, settled so the next build is a pure no-op.
fn built(p: Project) -> Project {
    p.build(&[]).success();
    p.build(&[]).success().ran_nothing();
    p
}

/// Three independent directories, each writing one file.
fn three_dirs() -> Project {
    built(
        Project::new()
            .file("a/Tupfile", ": |> echo a > %o |> a.txt\n")
            .file("b/Tupfile", ": |> echo b > %o |> b.txt\n")
            .file("c/Tupfile", ": |> echo c > %o |> c.txt\n"),
    )
}

#[test]
fn editing_one_tupfile_parses_only_it() {
    require_fuse!();
    let p = three_dirs();
    p.write("b/Tupfile", ": |> echo B > %o |> b.txt\n");
    let b = build_like_clean(&p);
    assert_parsed(&b, 1);
    b.ran_exactly(&["echo B > b.txt"]);
    assert_eq!(p.read("b/b.txt"), "B\n");
}

#[test]
fn explain_says_why_each_tupfile_is_parsed() {
    require_fuse!();
    let p = three_dirs();
    p.write("b/Tupfile", ": |> echo B > %o |> b.txt\n");
    p.write("c/new.txt", "new\n");
    let b = p.build(&["--explain"]);
    b.success()
        .says(&[
            "explain: parsing the Tupfile of b: b/Tupfile changed",
            "explain: parsing the Tupfile of c: the files in c changed",
        ])
        .never_says(&["Tupfile of a"]);
    assert_parsed(&b, 2);
}

#[test]
fn editing_a_tuprules_parses_the_two_dirs_that_include_it() {
    require_fuse!();
    let rules = ": |> echo $(MSG) %d > %o |> msg.txt\n";
    let p = built(
        Project::new()
            .file("grp/Tuprules.tup", "MSG = one\n")
            .file("grp/x/Tupfile", &format!("include_rules\n{rules}"))
            .file("grp/y/Tupfile", &format!("include_rules\n{rules}"))
            .file("other/Tupfile", &format!("include_rules\n{rules}")),
    );
    p.write("grp/Tuprules.tup", "MSG = two\n");
    let b = build_like_clean(&p);
    assert_parsed(&b, 2);
    b.ran_exactly(&["echo two x > msg.txt", "echo two y > msg.txt"]);
    assert_eq!(p.read("other/msg.txt"), "other\n");
}

#[test]
fn a_new_output_another_dirs_glob_sees_parses_everything() {
    require_fuse!();
    let p = built(
        Project::new()
            .file("gen/Tupfile", ": |> echo a > %o |> a.txt\n")
            .file("use/Tupfile", ": ../gen/*.txt |> cat %f > %o |> all.txt\n")
            .file("zzz/Tupfile", ": |> echo z > %o |> z.txt\n"),
    );
    assert_eq!(p.read("use/all.txt"), "a\n");
    p.append("gen/Tupfile", ": |> echo b > %o |> b.txt\n");
    let b = build_like_clean(&p);
    // gen alone first; its outputs changed and use globs them: all three.
    assert_parsed(&b, 1 + 3);
    b.ran_exactly(&["echo b > b.txt", "cat ../gen/a.txt ../gen/b.txt > all.txt"]);
    assert_eq!(p.read("use/all.txt"), "a\nb\n");
}

#[test]
fn a_group_member_added_in_another_dir_changes_the_consumer() {
    require_fuse!();
    let p = built(
        Project::new()
            .file("g1/Tupfile", ": |> echo 1 > %o |> one.txt ../<objs>\n")
            .file("g2/Tupfile", ": |> echo 2 > %o |> two.txt ../<objs>\n")
            .file(
                "use/Tupfile",
                ": ../<objs> |> echo %<objs> > %o |> list.txt\n",
            ),
    );
    assert_eq!(p.read("use/list.txt"), "../g1/one.txt ../g2/two.txt\n");
    // A command edit that keeps the outputs: g2 alone.
    p.write("g2/Tupfile", ": |> echo 22 > %o |> two.txt ../<objs>\n");
    let b = build_like_clean(&p);
    assert_parsed(&b, 1);
    b.ran_exactly(&["echo 22 > two.txt"]);
    // A new member: the consumer's command changes, so everything is parsed.
    p.append("g2/Tupfile", ": |> echo 3 > %o |> three.txt ../<objs>\n");
    let b = build_like_clean(&p);
    assert_parsed(&b, 1 + 3);
    let list = "echo ../g1/one.txt ../g2/two.txt ../g2/three.txt > list.txt";
    b.ran_exactly(&["echo 3 > three.txt", list]);
}

#[test]
fn a_new_directory_with_a_tupfile_is_parsed_alone() {
    require_fuse!();
    let p = three_dirs();
    p.write("Tupfile", ": foreach *.in |> cat %f > %o |> %B.out\n");
    p.build(&[]).success();
    // A new subdirectory is not a new file for the parent's glob.
    p.write("d/deeper/Tupfile", ": |> echo deep > %o |> deep.txt\n");
    let b = build_like_clean(&p);
    assert_parsed(&b, 1);
    b.ran_exactly(&["echo deep > deep.txt"]);
    // An empty new directory parses nothing.
    std::fs::create_dir(p.path("e")).expect("mkdir");
    let b = p.build(&[]);
    b.success().ran_nothing();
    assert_parsed(&b, 0);
}

#[test]
fn a_deleted_tupfile_drops_its_rules_and_outputs_without_parsing() {
    require_fuse!();
    let p = three_dirs();
    p.remove("c/Tupfile");
    let b = build_like_clean(&p);
    assert_parsed(&b, 0);
    b.ran_nothing();
    assert!(!p.exists("c/c.txt"), "the deleted Tupfile's output stays");
    assert!(
        b.log().removed.iter().any(|r| r.ends_with("c.txt")),
        "{}",
        b.dump()
    );
}

#[test]
fn a_new_source_file_parses_only_the_dir_that_globs_it() {
    require_fuse!();
    let cat = ": foreach *.in |> cat %f > %o |> %B.out\n";
    let p = built(
        Project::new()
            .file("a/x.in", "x\n")
            .file("a/Tupfile", cat)
            .file("b/y.in", "y\n")
            .file("b/Tupfile", cat)
            .file("c/Tupfile", ": |> echo c > %o |> c.txt\n"),
    );
    p.write("b/z.in", "z\n");
    let b = build_like_clean(&p);
    assert_parsed(&b, 1);
    b.ran_exactly(&["cat z.in > z.out"]);
}

#[test]
fn an_imported_variable_parses_only_the_dir_that_imports_it() {
    require_fuse!();
    let p = built(
        Project::new()
            .file(
                "a/Tupfile",
                "import GREETING=hi\n: |> echo $(GREETING) > %o |> g.txt\n",
            )
            .file("b/Tupfile", ": |> echo b > %o |> b.txt\n")
            .file("c/Tupfile", ": |> echo c > %o |> c.txt\n"),
    );
    p.set_env("GREETING", "hello");
    let b = build_like_clean(&p);
    assert_parsed(&b, 1);
    b.ran_exactly(&["echo hello > g.txt"]);
}

#[test]
fn a_variant_config_edit_parses_only_that_variants_readers() {
    require_fuse!();
    let p = built(
        Project::new()
            .file("a/Tupfile", ": |> echo @(MSG) > %o |> msg.txt\n")
            .file("b/Tupfile", ": |> echo b > %o |> b.txt\n")
            .file("one/tup.config", "CONFIG_MSG=first\n")
            .file("two/tup.config", "CONFIG_MSG=second\n"),
    );
    assert_eq!(p.read("one/a/msg.txt"), "first\n");
    p.write("one/tup.config", "CONFIG_MSG=changed\n");
    let b = build_like_clean(&p);
    assert_parsed(&b, 1);
    b.ran_exactly(&["echo changed > msg.txt"]);
    assert_eq!(p.read("one/a/msg.txt"), "changed\n");
    assert_eq!(p.read("two/a/msg.txt"), "second\n");
}

/// A producer's Tupfile: up to three outputs, each in the group `<g>` or
/// not, whose text uses `$(WORD)` from the root `Tuprules.tup`.
fn producer(rng: &mut Rng, tag: &str) -> String {
    let mut text = String::from("include_rules\n");
    for i in 0..rng.below(4) {
        let group = if rng.below(2) == 0 { " ../<g>" } else { "" };
        let word = rng.below(3);
        text.push_str(&format!(
            ": |> echo {tag}{word} $(WORD) > %o |> f{i}.txt{group}\n"
        ));
    }
    text
}

/// The words a `run` script reads: up to three, each an output of the
/// script's rules, some in `<g>`.
fn words(rng: &mut Rng) -> String {
    let words = ["w0", "w1", "g2"];
    let picked: Vec<&str> = words.into_iter().filter(|_| rng.below(2) == 0).collect();
    picked.join("\n") + "\n"
}

/// A `run` script printing one rule per word of `words.txt` (the words
/// starting with `g` join `<g>`).
const WORDS_SCRIPT: &str = "for w in $(cat words.txt); do\n  \
    case $w in g*) g=' ../<g>';; *) g='';; esac\n  \
    echo \": |> echo $w > %o |> $w.out$g\"\ndone\n";

/// One random edit of the project of [`random_edits_build_as_a_full_parse_would`].
fn random_edit(p: &Project, rng: &mut Rng, step: usize, sources: &mut Vec<String>) {
    let gen = ["gen0", "gen1", "gen2"][rng.index(3)];
    match rng.below(7) {
        6 => p.write("script/words.txt", &words(rng)),
        0 => p.write(&format!("{gen}/Tupfile"), &producer(rng, gen)),
        1 => {
            let path = format!("{gen}/src{step}.txt");
            p.write(&path, "source\n");
            sources.push(path);
        }
        2 if !sources.is_empty() => {
            let path = sources.remove(rng.index(sources.len()));
            p.remove(&path);
        }
        3 => p.append("use2/Tupfile", &format!("# step {step}\n")),
        4 if p.exists("gen3/Tupfile") => p.remove("gen3/Tupfile"),
        4 => p.write("gen3/Tupfile", &producer(rng, "gen3")),
        _ => p.write("Tuprules.tup", &format!("WORD = w{}\n", rng.below(3))),
    }
}

#[test]
fn random_edits_build_as_a_full_parse_would() {
    require_fuse!();
    let mut counts = Vec::new();
    for seed in [0x007e_9a55, 0x51ed_2701] {
        let mut rng = Rng(seed);
        let p = Project::new()
            .file("Tuprules.tup", "WORD = w0\n")
            .file(
                "use1/Tupfile",
                ": ../gen1/*.txt |> cat %f /dev/null > %o |> all.txt\n",
            )
            .file(
                "use2/Tupfile",
                ": ../<g> |> echo %<g> > %o |> members.txt\n",
            )
            // `sh rules.sh`: the clean copy keeps no mode bits.
            .file("script/Tupfile", "run sh rules.sh\n")
            .file("script/rules.sh", WORDS_SCRIPT)
            .file("script/words.txt", "w0\n");
        for gen in ["gen0", "gen1", "gen2"] {
            p.write(&format!("{gen}/Tupfile"), &producer(&mut rng, gen));
        }
        let p = built(p);
        let mut sources = Vec::new();
        for step in 0..12 {
            random_edit(&p, &mut rng, step, &mut sources);
            counts.push(parsed(&build_like_clean(&p)));
            // Every Tupfile parsed again must give the very same rules: no
            // command may find its identity changed.
            let dirs = ["gen0", "gen1", "gen2", "gen3", "use1", "use2", "script"];
            let tupfiles: Vec<String> = dirs
                .iter()
                .map(|d| format!("{d}/Tupfile"))
                .filter(|t| p.exists(t))
                .collect();
            tupfiles.iter().for_each(|t| p.touch(t));
            let all = p.build(&[]);
            all.success().ran_nothing();
            assert_parsed(&all, tupfiles.len());
        }
    }
    eprintln!("Tupfiles parsed in each step: {counts:?}");
    assert!(
        counts.iter().any(|&n| (1..5).contains(&n)) && counts.iter().any(|&n| n > 5),
        "the seeds exercise both a partial parse and a fall-back: {counts:?}"
    );
}

#[test]
fn an_index_of_the_old_format_says_so_in_one_line_and_rebuilds_everything() {
    require_fuse!();
    let p = three_dirs();
    let path = p.path(".tupfs/index");
    let mut bytes = std::fs::read(&path).expect("an index");
    // The header's format version (bytes 8..12): format 3 recorded no
    // files read by `run` scripts.
    bytes[8..12].copy_from_slice(&3u32.to_le_bytes());
    std::fs::write(&path, &bytes).expect("rewrite the index");
    let b = p.build(&[]);
    b.success()
        .ran_exactly(&["echo a > a.txt", "echo b > b.txt", "echo c > c.txt"])
        .says(&["the index has format 3", "rebuilding everything"]);
    let lines = b.stderr.lines().filter(|l| l.contains("format 3")).count();
    assert_eq!(lines, 1, "one line about the old index\n{}", b.dump());
    assert_parsed(&b, 3);
    let again = p.build(&[]);
    again.success().ran_nothing();
    assert_parsed(&again, 0);
}
