//! Many jobs at once, each reading many files, under a low open-file
//! limit (the usual soft limit is 1024): the files the daemon keeps open
//! for its jobs must not run it out of descriptors. Its own test binary:
//! the limit is the whole process's.

mod common;

use common::Fixture;

#[test]
fn many_jobs_reading_many_files_stay_within_the_open_file_limit() {
    let limit = libc::rlimit {
        rlim_cur: 256,
        rlim_max: 256,
    };
    // SAFETY: setrlimit with a valid struct.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    let Some(fx) = Fixture::new() else { return };
    for i in 0..80 {
        fx.write(&format!("inc/h{i}.txt"), "h\n");
    }
    std::thread::scope(|s| {
        let jobs: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| fx.run("for f in inc/*.txt; do cat $f >/dev/null; done; sleep 0.5"))
            })
            .collect();
        for job in jobs {
            let (out, fin) = job.join().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(fin.log.reads.len(), 80);
        }
    });
}
