//! Jobs that hold many files open at once, under a low soft open-file
//! limit with room above it: every open file of a job is one of the
//! daemon's, so the tracer raises its soft limit to the hard one. Its own
//! test binary: the limit is the whole process's.

mod common;

use common::Fixture;

#[test]
fn jobs_holding_many_files_open_at_once_get_them() {
    let limit = libc::rlimit {
        rlim_cur: 256,
        rlim_max: 8192,
    };
    // SAFETY: setrlimit with a valid struct.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    let Some(fx) = Fixture::new() else { return };
    for i in 0..150 {
        fx.write(&format!("inc/h{i}.txt"), "h\n");
    }
    let hold = "python3 -c \"import glob, time\nfs = [open(p) for p in glob.glob('inc/*.txt')]\n\
                time.sleep(0.5)\nprint(len(fs))\"";
    std::thread::scope(|s| {
        let jobs: Vec<_> = (0..4).map(|_| s.spawn(|| fx.run(hold))).collect();
        for job in jobs {
            let (out, _) = job.join().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(String::from_utf8_lossy(&out.stdout), "150\n");
        }
    });
}
