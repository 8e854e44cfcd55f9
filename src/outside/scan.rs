//! The scan of outside files: each recorded one is `lstat`-ed once (sorted
//! paths share directory handles, as the project scan's do) and judged as
//! a source file. System directories are not watched, so every build does
//! this when the index records outside files.

use std::path::Path;

use crate::change::{parallel_chunks, ChangeDetector, Judgement, Moment, StatAt};
use crate::index::Index;

/// The judgement of every outside file `index` records, in slot order.
pub fn scan(
    index: &Index,
    detector: ChangeDetector,
    moment: Moment,
    threads: usize,
) -> Vec<Judgement> {
    let began = std::time::Instant::now();
    let files: Vec<_> = index.outside_files().collect();
    let root = Path::new("/");
    let judged = parallel_chunks(files.len(), threads, |range| {
        let mut stat = StatAt::new(root);
        files[range]
            .iter()
            .map(|f| {
                let old = f.as_recorded();
                let disk = Path::new(f.path());
                let rel = f.path().trim_start_matches('/');
                match stat.lstat(rel) {
                    Ok(now) => detector.judge_state(disk, Some(&old), false, now, moment),
                    Err(_) => detector.judge(disk, Some(&old), false, moment),
                }
            })
            .collect()
    });
    if !files.is_empty() {
        log::debug!(
            "timing: {} outside files scanned in {:?}",
            files.len(),
            began.elapsed()
        );
    }
    judged
}
