//! A file held open for reading while the same job opens it for writing,
//! and the other way round: plain Linux allows both, so must the mount
//! (the kernel refuses to mix cached and passthrough opens of one inode,
//! and two passthrough opens of one inode with different backing files).

mod common;

use common::{set, Fixture};
use tupfs_fuse::{Finished, JobSpec};

/// Run `script` as a job that must succeed: its stdout and record.
fn run_ok(fx: &Fixture, script: &str) -> (String, Finished) {
    fx.run_spec_ok(&JobSpec::default(), script)
}

#[test]
fn writing_a_file_while_holding_it_open_for_reading() {
    let Some(fx) = Fixture::new() else { return };
    fx.write("small.txt", "old\n");
    let (out, fin) = run_ok(
        &fx,
        "exec 3< small.txt; echo new >> small.txt; cat <&3; cat small.txt",
    );
    // The descriptor opened before the write stays on the file it opened
    // (the write went to the job's staged copy), as on overlayfs.
    assert_eq!(out, "old\nold\nnew\n");
    assert_eq!(fin.log.writes, set(&["small.txt"]));
}

#[test]
fn reading_a_file_while_holding_it_open_for_writing() {
    let Some(fx) = Fixture::new() else { return };
    let (out, fin) = run_ok(
        &fx,
        "exec 3> out.txt; echo hi >&3; cat out.txt; echo more >&3; cat out.txt",
    );
    assert_eq!(out, "hi\nhi\nmore\n");
    assert_eq!(fin.log.writes, set(&["out.txt"]));
}

#[test]
fn a_large_file_read_twice_at_once_then_written_once_closed() {
    let Some(fx) = Fixture::new() else { return };
    fx.write("big.txt", &"x".repeat(200 * 1024));
    // Past the daemon's cache of read-only opens, so the two opens below
    // are two files of the daemon on one inode.
    for i in 0..70 {
        fx.write(&format!("f{i}"), "f\n");
    }
    let append = "python3 -c \"import errno\ntry: open('big.txt', 'a')\n\
                  except OSError as e: print(errno.errorcode[e.errno])\"";
    let (out, fin) = run_ok(
        &fx,
        &format!(
            "cat f* >/dev/null; exec 3< big.txt; exec 4< big.txt; wc -c <&3; wc -c <&4; \
             {append}; exec 3<&- 4<&-; echo y >> big.txt; wc -c < big.txt"
        ),
    );
    // Held open for reading with passthrough, the large file cannot be
    // opened for writing (its data would go to another file): ETXTBSY.
    assert_eq!(out, "204800\n204800\nETXTBSY\n204802\n");
    assert_eq!(fin.log.writes, set(&["big.txt"]));
}

#[test]
fn a_file_made_again_while_its_old_self_is_held_open() {
    let Some(fx) = Fixture::new() else { return };
    let (out, fin) = run_ok(
        &fx,
        "exec 3> out.txt; echo old >&3; rm out.txt; echo new > out.txt; cat out.txt; \
         exec 5< out.txt; mv out.txt moved.txt; echo again > out.txt; cat out.txt; cat <&5",
    );
    assert_eq!(out, "new\nagain\nnew\n");
    assert_eq!(fin.log.writes, set(&["moved.txt", "out.txt"]));
}

#[test]
fn rereading_after_an_in_place_rewrite_of_the_same_size() {
    let Some(fx) = Fixture::new() else { return };
    fx.write("f.txt", "old\n");
    let (out, fin) = run_ok(
        &fx,
        "cat f.txt; python3 -c \"open('f.txt', 'r+').write('NEW')\"; cat f.txt",
    );
    assert_eq!(out, "old\nNEW\n");
    assert_eq!(fin.log.writes, set(&["f.txt"]));
}

#[test]
fn without_passthrough_too() {
    let options = tupfs_fuse::MountOptions {
        passthrough: false,
        ..tupfs_fuse::MountOptions::default()
    };
    let Some(fx) = Fixture::with(options) else {
        return;
    };
    fx.write("small.txt", "old\n");
    fx.write("big.txt", &"x".repeat(200 * 1024));
    let (out, fin) = run_ok(
        &fx,
        "exec 3< small.txt; echo new >> small.txt; cat <&3; cat small.txt; \
         exec 4> out.txt; echo hi >&4; cat out.txt; \
         exec 5< big.txt; echo y >> big.txt; wc -c < big.txt; \
         cat out.txt; python3 -c \"open('out.txt', 'r+').write('HI')\"; cat out.txt",
    );
    assert_eq!(out, "old\nold\nnew\nhi\n204802\nhi\nHI\n");
    assert_eq!(fin.log.writes, set(&["big.txt", "out.txt", "small.txt"]));
}

#[test]
fn appending_to_its_own_large_output_while_reading_it() {
    let Some(fx) = Fixture::new() else { return };
    let (out, fin) = run_ok(
        &fx,
        "head -c 100000 /dev/zero > big.out; exec 3< big.out; echo y >> big.out; \
         wc -c <&3; chmod a-w big.out; wc -c < big.out",
    );
    assert_eq!(out, "100002\n100002\n");
    assert_eq!(fin.log.writes, set(&["big.out"]));
}

#[test]
fn many_processes_of_one_job_read_and_append_the_same_files_at_once() {
    let Some(fx) = Fixture::new() else { return };
    fx.write("big.txt", &"x".repeat(100 * 1024));
    fx.write("small.txt", "s\n");
    let (_, fin) = run_ok(
        &fx,
        "echo start > own.txt; \
         for i in 1 2 3 4 5 6 7 8; do \
           (for j in 1 2 3 4 5; do cat big.txt small.txt own.txt > /dev/null; \
              echo $i >> own.txt; done) & \
         done; wait; wc -l < own.txt",
    );
    assert_eq!(fin.log.reads, set(&["big.txt", "small.txt"]));
    assert_eq!(fin.log.writes, set(&["own.txt"]));
    fin.pending.commit(&|_| true).unwrap();
    let own = std::fs::read_to_string(fx.root().join("own.txt")).unwrap();
    assert_eq!(own.lines().count(), 41);
}
