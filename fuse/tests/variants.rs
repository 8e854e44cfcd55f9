//! Variant mirrors with real mounts and real commands: a job in
//! `build-x/sub` sees `sub`'s files as tup shows them, its reads are
//! recorded at the source paths, and its writes land in the variant only.

mod common;

use std::fs;

use common::{set, Fixture};
use tupfs_fuse::{JobSpec, MountOptions, Refusal, VariantMirror};

/// A mount where `build-x` and `build-y` mirror the project root.
fn variant_fixture() -> Option<Fixture> {
    variant_fixture_with(MountOptions::default())
}

/// Like [`variant_fixture`], on top of `options`.
fn variant_fixture_with(options: MountOptions) -> Option<Fixture> {
    let mirror = |dir: &str| VariantMirror {
        dir: dir.into(),
        source: String::new(),
    };
    let fx = Fixture::with(MountOptions {
        variants: vec![mirror("build-x"), mirror("build-y")],
        ..options
    })?;
    fx.write("sub/a.c", "#include \"a.h\"\nint f(void) { return A; }\n");
    fx.write("sub/a.h", "#define A 1\n");
    fx.write("sub/Tupfile", ": a.c |> gcc -c a.c -o a.o |> a.o\n");
    fx.write("include/deep/d.txt", "deep\n");
    fx.write("build-x/tup.config", "CONFIG_X=1\n");
    fx.write("build-y/tup.config", "CONFIG_Y=1\n");
    Some(fx)
}

fn in_dir(cwd: &str) -> JobSpec {
    JobSpec {
        cwd: cwd.into(),
        ..JobSpec::default()
    }
}

fn run_ok(fx: &Fixture, cwd: &str, script: &str) -> (String, tupfs_fuse::Finished) {
    fx.run_spec_ok(&in_dir(cwd), script)
}

#[test]
fn gcc_in_a_variant_reads_the_sources_and_writes_the_variant() {
    let Some(fx) = variant_fixture() else { return };
    let (_, fin) = run_ok(&fx, "build-x/sub", "gcc -c a.c -o a.o");
    assert_eq!(fin.log.reads, set(&["sub/a.c", "sub/a.h"]));
    for shadow in ["build-x/sub/a.c", "build-x/sub/a.h"] {
        assert!(
            fin.log.ghosts.contains(shadow),
            "{shadow}: {:?}",
            fin.log.ghosts
        );
    }
    assert_eq!(fin.log.writes, set(&["build-x/sub/a.o"]));
    assert!(fin.log.refused.is_empty(), "{:?}", fin.log.refused);
    fin.pending.commit(&|_| true).unwrap();
    assert!(fx.root().join("build-x/sub/a.o").exists());
    assert!(!fx.root().join("sub/a.o").exists(), "nothing in the source");
    assert!(
        !fx.root().join("build-x/sub/a.c").exists(),
        "nothing copied"
    );
}

#[test]
fn without_namespaces_jobs_see_the_mirror_too() {
    let Some(fx) = variant_fixture_with(MountOptions {
        isolation: Some(tupfs_fuse::Isolation::MountCwd),
        ..MountOptions::default()
    }) else {
        return;
    };
    let (_, fin) = run_ok(&fx, "build-x/sub", "gcc -c a.c -o a.o");
    assert_eq!(fin.log.reads, set(&["sub/a.c", "sub/a.h"]));
    assert_eq!(fin.log.writes, set(&["build-x/sub/a.o"]));
}

#[test]
fn the_variant_shows_its_own_files_on_top_of_the_sources() {
    let Some(fx) = variant_fixture() else { return };
    fx.write("build-x/sub/a.h", "#define A 2\n");
    let (out, fin) = run_ok(&fx, "build-x/sub", "cat a.h a.c");
    assert!(out.starts_with("#define A 2\n"), "{out}");
    assert_eq!(fin.log.reads, set(&["build-x/sub/a.h", "sub/a.c"]));
}

#[test]
fn listings_merge_the_variant_and_the_source_once() {
    let Some(fx) = variant_fixture() else { return };
    fx.write("build-x/sub/a.h", "#define A 2\n");
    fx.write("build-x/sub/gen.txt", "generated\n");
    let (out, _) = run_ok(
        &fx,
        "build-x/sub",
        "ls -a; echo --; ls ..; echo --; ls ../include",
    );
    let parts: Vec<Vec<&str>> = out.split("--\n").map(|p| p.lines().collect()).collect();
    assert_eq!(parts[0], [".", "..", "Tupfile", "a.c", "a.h", "gen.txt"]);
    // The variant's root: no variant directory and no .tupfs shows through.
    assert_eq!(parts[1], ["include", "sub", "tup.config"]);
    assert_eq!(parts[2], ["deep"]);
}

#[test]
fn directories_only_in_the_source_are_there_in_the_variant() {
    let Some(fx) = variant_fixture() else { return };
    let (out, fin) = run_ok(
        &fx,
        "build-x/sub",
        "cat ../include/deep/d.txt; mkdir -p ../include/deep; echo x > ../include/deep/out.txt",
    );
    assert_eq!(out, "deep\n");
    assert_eq!(fin.log.reads, set(&["include/deep/d.txt"]));
    assert_eq!(fin.log.writes, set(&["build-x/include/deep/out.txt"]));
    fin.pending.commit(&|_| true).unwrap();
    assert_eq!(
        fs::read_to_string(fx.root().join("build-x/include/deep/out.txt")).unwrap(),
        "x\n"
    );
    assert!(!fx.root().join("include/deep/out.txt").exists());
}

#[test]
fn a_missing_file_is_a_ghost_in_the_variant_and_the_source() {
    let Some(fx) = variant_fixture() else { return };
    let (out, fin) = fx.run_spec(&in_dir("build-x/sub"), "cat nothere.h");
    assert!(!out.status.success());
    assert!(fin.log.ghosts.contains("build-x/sub/nothere.h"));
    assert!(
        fin.log.ghosts.contains("sub/nothere.h"),
        "{:?}",
        fin.log.ghosts
    );
}

#[test]
fn source_files_are_read_only_in_the_variant() {
    let Some(fx) = variant_fixture() else { return };
    let (out, fin) = fx.run_spec(&in_dir("build-x/sub"), "rm a.c");
    assert!(!out.status.success(), "rm of a source file must fail");
    assert_eq!(
        fin.log.refused,
        [Refusal {
            op: "unlink",
            path: "build-x/sub/a.c".into()
        }]
    );
    assert!(fx.root().join("sub/a.c").exists());
}

#[test]
fn other_variants_and_the_source_tree_are_not_mirrored() {
    let Some(fx) = variant_fixture() else { return };
    let (out, _) = fx.run_spec(&in_dir("build-x"), "ls build-y build-x");
    assert!(!out.status.success(), "no variant inside a variant");
    let (out, _) = run_ok(&fx, "sub", "ls");
    assert_eq!(out, "Tupfile\na.c\na.h\n", "the source tree is as it is");
}
