//! Every row of the tracing contract (shared/spec/tracing.md) with real
//! mounts and real commands: gcc, sh, cp, python3.

mod common;

use std::fs;

use common::{set, Fixture};
use tupfs_fuse::{JobSpec, MountOptions, Refusal};

fn gcc_project(fx: &Fixture) {
    fx.write("inc/b.h", "#define B 2\n");
    fx.write("a.h", "#include \"inc/b.h\"\n#define A B\n");
    fx.write(
        "main.c",
        "#include \"a.h\"\nint main(void) { return A - 2; }\n",
    );
}

#[test]
fn gcc_reads_header_through_header_and_stages_its_output() {
    let Some(fx) = Fixture::new() else { return };
    gcc_project(&fx);
    let fin = fx.run_ok("gcc -c main.c -o main.o");
    assert_eq!(fin.log.reads, set(&["a.h", "inc/b.h", "main.c"]));
    assert_eq!(fin.log.writes, set(&["main.o"]));
    assert!(fin.log.refused.is_empty(), "{:?}", fin.log.refused);
    assert!(fin.log.dirs_made.is_empty());
    assert!(
        !fx.root().join("main.o").exists(),
        "staged, not in the tree"
    );
    assert_eq!(fin.pending.files(), ["main.o"]);
    fin.pending.commit(&|_| true).unwrap();
    assert!(fs::metadata(fx.root().join("main.o")).unwrap().len() > 0);
}

#[test]
fn include_path_misses_are_ghosts() {
    let Some(fx) = Fixture::new() else { return };
    gcc_project(&fx);
    fs::create_dir(fx.root().join("first")).unwrap();
    fx.write(
        "main.c",
        "#include <a.h>\nint main(void) { return A - 2; }\n",
    );
    let fin = fx.run_ok("gcc -Ifirst -I. -c main.c -o main.o; test -e nothere || true");
    assert!(fin.log.ghosts.contains("first/a.h"), "{:?}", fin.log.ghosts);
    assert!(fin.log.ghosts.contains("nothere"), "{:?}", fin.log.ghosts);
    assert!(fin.log.reads.contains("a.h"));
    assert!(!fin.log.ghosts.contains("main.o"), "own output is no ghost");
}

#[test]
fn non_compiler_commands_are_traced() {
    let Some(fx) = Fixture::new() else { return };
    fx.write("a.txt", "a\n");
    fx.write("b.txt", "b\n");
    fx.write(
        "gen.py",
        "import sys\nopen('gen.out','w').write(open('a.txt').read())\n",
    );
    let fin = fx.run_ok("cat a.txt b.txt > cat.out; cp b.txt cp.out; python3 gen.py");
    assert_eq!(fin.log.reads, set(&["a.txt", "b.txt", "gen.py"]));
    assert_eq!(fin.log.writes, set(&["cat.out", "cp.out", "gen.out"]));
    fin.pending.commit(&|_| true).unwrap();
    assert_eq!(
        fs::read_to_string(fx.root().join("cat.out")).unwrap(),
        "a\nb\n"
    );
    assert_eq!(fs::read_to_string(fx.root().join("cp.out")).unwrap(), "b\n");
    assert_eq!(
        fs::read_to_string(fx.root().join("gen.out")).unwrap(),
        "a\n"
    );
}

#[test]
fn executing_a_project_script_is_a_read() {
    let Some(fx) = Fixture::new() else { return };
    fx.write("tool.sh", "#!/bin/sh\necho made > tool.out\n");
    let perms = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    fs::set_permissions(fx.root().join("tool.sh"), perms).unwrap();
    let fin = fx.run_ok("./tool.sh");
    assert_eq!(fin.log.reads, set(&["tool.sh"]));
    assert_eq!(fin.log.writes, set(&["tool.out"]));
}

#[test]
fn directory_listings_are_not_reads() {
    let Some(fx) = Fixture::new() else { return };
    fx.write("d/x.txt", "x");
    let (out, fin) = fx.run("ls -a . d");
    assert!(out.status.success());
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains("x.txt"));
    assert!(
        !listing.contains(".tupfs"),
        "tupfs's own state is hidden: {listing}"
    );
    assert!(fin.log.reads.is_empty(), "{:?}", fin.log.reads);
}

#[test]
fn temp_file_created_and_deleted_leaves_nothing() {
    let Some(fx) = Fixture::new() else { return };
    let fin = fx.run_ok("echo x > tmp.txt; cat tmp.txt >/dev/null; rm tmp.txt");
    assert_eq!(fin.log.writes, set(&[]));
    assert_eq!(
        fin.log.ghosts,
        set(&[]),
        "the probe before creating is no ghost"
    );
    assert_eq!(
        fin.log.reads,
        set(&[]),
        "reading its own file is no dependency"
    );
    assert!(fin.log.refused.is_empty());
}

#[test]
fn mkstemp_and_rename_of_own_temp_onto_output() {
    let Some(fx) = Fixture::new() else { return };
    fx.write("old.out", "previous build\n");
    let script = "import os, tempfile\n\
        fd, p = tempfile.mkstemp(dir='.')\n\
        os.write(fd, b'scratch'); os.close(fd); os.unlink(p)\n\
        fd, p = tempfile.mkstemp(dir='.')\n\
        os.write(fd, b'new'); os.close(fd); os.rename(p, 'old.out')\n";
    fx.write("mk.py", script);
    let fin = fx.run_ok("python3 mk.py; echo hi > out.tmp; mv out.tmp out.txt");
    assert_eq!(fin.log.writes, set(&["old.out", "out.txt"]));
    // The pyenv shim probes `.python-version`: a real ghost. The temp names
    // probed by mkstemp are not.
    assert!(
        fin.log
            .ghosts
            .iter()
            .all(|g| !g.starts_with("tmp") && !g.starts_with("out")),
        "{:?}",
        fin.log.ghosts
    );
    assert!(fin.log.refused.is_empty(), "{:?}", fin.log.refused);
    assert_eq!(
        fs::read_to_string(fx.root().join("old.out")).unwrap(),
        "previous build\n"
    );
    fin.pending.commit(&|_| true).unwrap();
    assert_eq!(
        fs::read_to_string(fx.root().join("old.out")).unwrap(),
        "new"
    );
    assert_eq!(
        fs::read_to_string(fx.root().join("out.txt")).unwrap(),
        "hi\n"
    );
    assert!(!fx.root().join("out.tmp").exists());
}

#[test]
fn undeclared_write_is_staged_visible_to_the_job_and_discardable() {
    let Some(fx) = Fixture::new() else { return };
    fx.write("src.txt", "source\n");
    let (out, fin) =
        fx.run("echo stray > stray.txt; cat stray.txt; echo more >> src.txt; cat src.txt");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "stray\nsource\nmore\n"
    );
    assert_eq!(fin.log.writes, set(&["src.txt", "stray.txt"]));
    assert!(!fx.root().join("stray.txt").exists());
    assert_eq!(
        fs::read_to_string(fx.root().join("src.txt")).unwrap(),
        "source\n"
    );
    fin.pending.discard().unwrap();
    assert!(!fx.root().join("stray.txt").exists());
    // The scratch directory goes in the background, by the unmount at the
    // latest.
    let scratch = fx.root().join(".tupfs/tmp");
    let mut fx = fx;
    fx.tracer.take().unwrap().unmount().unwrap();
    let left: Vec<_> = fs::read_dir(scratch)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "scratch emptied: {left:?}");
}

#[test]
fn changing_a_file_the_job_did_not_create_is_refused() {
    let Some(fx) = Fixture::new() else { return };
    fx.write("a.txt", "keep me\n");
    fx.write("b.txt", "keep me too\n");
    let (out, fin) = fx.run("rm a.txt");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Operation not permitted"));
    let refused = |op: &'static str, path: &str| Refusal {
        op,
        path: path.into(),
    };
    assert_eq!(fin.log.refused, vec![refused("unlink", "a.txt")]);
    let (_, fin) = fx.run(
        "chmod +x a.txt || true; mv b.txt c.txt || true; \
         python3 -c \"import os; os.truncate('a.txt', 0)\" || true",
    );
    assert_eq!(
        fin.log.refused,
        vec![
            refused("chmod", "a.txt"),
            refused("rename", "b.txt"),
            refused("truncate", "a.txt")
        ]
    );
    assert_eq!(
        fs::read_to_string(fx.root().join("a.txt")).unwrap(),
        "keep me\n"
    );
    assert!(fx.root().join("b.txt").exists());
}

#[test]
fn directories_left_behind_are_recorded_temp_dirs_are_not() {
    let Some(fx) = Fixture::new() else { return };
    let fin = fx
        .run_ok("mkdir -p gen/sub; echo x > gen/sub/f.txt; mkdir t; echo y > t/y; rm t/y; rmdir t");
    assert_eq!(fin.log.dirs_made, set(&["gen", "gen/sub"]));
    assert_eq!(fin.log.writes, set(&["gen/sub/f.txt"]));
    assert_eq!(fin.log.ghosts, set(&[]), "{:?}", fin.log.ghosts);
    assert!(!fx.root().join("gen").exists());
    fin.pending.commit(&|_| true).unwrap();
    assert_eq!(
        fs::read_to_string(fx.root().join("gen/sub/f.txt")).unwrap(),
        "x\n"
    );
}

#[test]
fn commit_keeps_only_what_the_engine_accepts() {
    let Some(fx) = Fixture::new() else { return };
    let fin = fx.run_ok("echo a > ok.txt; echo b > bad.txt");
    fin.pending.commit(&|p| p == "ok.txt").unwrap();
    assert!(fx.root().join("ok.txt").exists());
    assert!(!fx.root().join("bad.txt").exists());
}

#[test]
fn ignored_paths_go_straight_through_unrecorded() {
    let Some(fx) = Fixture::new() else { return };
    fx.write("a.txt", "a");
    let spec = JobSpec {
        cwd: String::new(),
        ignore: vec![r"\.log$".into()],
    };
    let (out, fin) = fx.run_spec(
        &spec,
        "cat a.txt > /dev/null; echo x > build.log; cat build.log",
    );
    assert!(out.status.success());
    assert_eq!(fin.log.reads, set(&["a.txt"]));
    assert_eq!(fin.log.writes, set(&[]));
    assert!(fx.root().join("build.log").exists(), "written through");
}

#[test]
fn commands_run_in_their_directory_at_real_paths() {
    let Some(fx) = Fixture::new() else { return };
    fx.write("sub/in.txt", "in\n");
    let spec = JobSpec {
        cwd: "sub".into(),
        ignore: vec![],
    };
    let (out, fin) = fx.run_spec(&spec, "pwd; cat in.txt > out.txt");
    assert!(out.status.success());
    let pwd = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(std::path::PathBuf::from(pwd), fx.root().join("sub"));
    assert_eq!(fin.log.reads, set(&["sub/in.txt"]));
    assert_eq!(fin.log.writes, set(&["sub/out.txt"]));
}

#[test]
fn fallback_without_namespaces_runs_inside_the_mount() {
    let options = MountOptions {
        isolation: Some(tupfs_fuse::Isolation::MountCwd),
        ..MountOptions::default()
    };
    let Some(fx) = Fixture::with(options) else {
        return;
    };
    fx.write("a.txt", "a\n");
    let (out, fin) = fx.run("pwd; cat a.txt > b.txt");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("/.tupfs/mnt/@job-"));
    assert_eq!(fin.log.reads, set(&["a.txt"]));
    assert_eq!(fin.log.writes, set(&["b.txt"]));
}

#[test]
fn without_passthrough_data_goes_through_the_daemon() {
    let options = MountOptions {
        passthrough: false,
        ..MountOptions::default()
    };
    let Some(fx) = Fixture::with(options) else {
        return;
    };
    assert!(!fx.tracer().passthrough());
    gcc_project(&fx);
    let fin = fx.run_ok("gcc -c main.c -o main.o && gcc main.o -o prog && ./prog");
    assert_eq!(fin.log.reads, set(&["a.h", "inc/b.h", "main.c"]));
    assert_eq!(fin.log.writes, set(&["main.o", "prog"]));
}

#[test]
fn eight_jobs_at_once_each_see_only_their_own_accesses() {
    let Some(fx) = Fixture::new() else { return };
    for i in 0..8 {
        fx.write(
            &format!("in{i}.c"),
            &format!("int f{i}(void) {{ return {i}; }}\n"),
        );
        fx.write(&format!("in{i}.txt"), &format!("{i}\n"));
    }
    let scripts: Vec<String> = (0..8)
        .map(|i| format!("gcc -c in{i}.c -o out{i}.o; cat in{i}.txt > out{i}.txt"))
        .collect();
    let results = common::run_all_at_once(&fx, &scripts);
    for (i, fin) in results.into_iter().enumerate() {
        assert_eq!(
            fin.log.reads,
            set(&[&format!("in{i}.c"), &format!("in{i}.txt")])
        );
        assert_eq!(
            fin.log.writes,
            set(&[&format!("out{i}.o"), &format!("out{i}.txt")])
        );
        // gcc probes `in{i}.c.gch` and the like: only this job's names.
        let own = format!("in{i}");
        assert!(
            fin.log.ghosts.iter().all(|g| g.starts_with(&own)),
            "job {i}: {:?}",
            fin.log.ghosts
        );
        fin.pending.commit(&|_| true).unwrap();
        assert!(fx.root().join(format!("out{i}.o")).exists());
    }
}

#[test]
fn following_a_symlink_reads_the_link_and_its_target() {
    let Some(fx) = Fixture::new() else { return };
    fx.write("real.txt", "r\n");
    std::os::unix::fs::symlink("real.txt", fx.root().join("link.txt")).unwrap();
    let fin = fx.run_ok("cat link.txt > copy.txt");
    assert_eq!(fin.log.reads, set(&["link.txt", "real.txt"]));
    assert_eq!(fin.log.writes, set(&["copy.txt"]));
}

#[test]
fn rereading_after_rewriting_sees_the_new_content() {
    let Some(fx) = Fixture::new() else { return };
    fx.write("gen.txt", "old\n");
    let (out, fin) = fx.run("cat gen.txt; echo new > gen.txt; cat gen.txt");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "old\nnew\n");
    assert_eq!(fin.log.writes, set(&["gen.txt"]));
    assert_eq!(fin.log.reads, set(&[]), "its own output is no input");
}

#[test]
fn changing_a_file_in_place_then_moving_it_away_reads_it() {
    let Some(fx) = Fixture::new() else { return };
    fx.write("a.txt", "a\n");
    // The job's copy of a.txt carries a.txt's content into b.txt.
    let fin = fx.run_ok("echo more >> a.txt; mv a.txt b.txt; cat b.txt >/dev/null");
    assert_eq!(fin.log.writes, set(&["b.txt"]));
    assert_eq!(fin.log.reads, set(&["a.txt"]));
    assert!(fin.log.refused.is_empty(), "{:?}", fin.log.refused);
    fin.pending.commit(&|_| true).unwrap();
    assert_eq!(fs::read_to_string(fx.root().join("a.txt")).unwrap(), "a\n");
    assert_eq!(
        fs::read_to_string(fx.root().join("b.txt")).unwrap(),
        "a\nmore\n"
    );
}

#[test]
fn mounting_over_a_live_build_leaves_its_staged_writes_alone() {
    let Some(fx) = Fixture::new() else { return };
    let job = fx.job("");
    let out = common::spawn_sh(&job, "echo staged > out.txt");
    assert!(out.status.success(), "{out:?}");
    let second = tupfs_fuse::Tracer::mount(common::config(&fx.root()));
    let err = second.expect_err("a second mount over a live one is refused");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{err}");
    let err = tupfs_fuse::Tracer::clear_leftovers(&common::config(&fx.root()))
        .expect_err("nothing is cleared under a live mount");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{err}");
    let fin = job.finish().unwrap();
    assert_eq!(fin.pending.files(), ["out.txt"]);
    fin.pending.commit(&|_| true).unwrap();
    assert_eq!(
        fs::read_to_string(fx.root().join("out.txt")).unwrap(),
        "staged\n"
    );
}

#[test]
fn an_unlinked_temp_file_stays_usable_through_its_descriptor() {
    let Some(fx) = Fixture::new() else { return };
    fx.write("keep.txt", "k\n");
    // Python's TemporaryFile: mkstemp, unlink, then use (and truncate) it.
    let fin = fx.run_ok(
        "python3 -c \"import tempfile\n\
         f = tempfile.TemporaryFile(dir='.')\n\
         f.write(b'abcdef'); f.truncate(3); f.seek(0); assert f.read() == b'abc'\n\
         f.seek(0); f.truncate(); f.write(b'x'); f.flush()\"",
    );
    assert!(fin.log.refused.is_empty(), "{:?}", fin.log.refused);
    assert!(fin.log.writes.is_empty(), "{:?}", fin.log.writes);
}

#[test]
fn an_unlinked_file_can_still_be_fstat_ed() {
    let Some(fx) = Fixture::new() else { return };
    let fin = fx.run_ok(
        "python3 -c \"import os\n\
         f = open('t.tmp', 'w+b'); os.unlink('t.tmp')\n\
         for i in range(3):\n    f.write(b'abc'); f.flush(); assert os.fstat(f.fileno()).st_size == 3 * (i + 1)\n\
         g = open('u.tmp', 'w+b'); os.rename('u.tmp', 'v.tmp'); g.write(b'x'); g.flush()\n\
         assert os.fstat(g.fileno()).st_size == 1; os.unlink('v.tmp')\n\
         os.fchmod(f.fileno(), 0o600); assert os.fstat(f.fileno()).st_mode & 0o777 == 0o600\"",
    );
    assert!(fin.log.refused.is_empty(), "{:?}", fin.log.refused);
    assert!(fin.log.writes.is_empty(), "{:?}", fin.log.writes);
}
