//! What the user sees during a build: a progress bar (on a terminal only),
//! one line per finished command, a failing command's output whole with its
//! rule's place, `--explain` reasons, and the summary line. Decides nothing.

pub mod runlog;

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How chatty to be.
#[derive(Debug, Clone, Copy, Default)]
pub struct UiOptions {
    /// Show real command lines instead of `^ TEXT^`.
    pub verbose: bool,
    /// Errors only.
    pub quiet: bool,
    /// Print why each command runs.
    pub explain: bool,
    /// The progress bar: on, off, or (None) when stderr is a terminal
    /// (`display.progress`).
    pub progress: Option<bool>,
    /// Leave out the `[n/total]` before each command (`display.job_numbers
    /// = 0`).
    pub no_job_numbers: bool,
}

/// The build's console. Safe to share between threads.
pub struct Ui {
    opts: UiOptions,
    bar: Option<ProgressBar>,
    total: AtomicUsize,
}

impl Ui {
    /// A console for a build that will consider `total` commands.
    pub fn new(opts: UiOptions) -> Ui {
        let wanted = opts
            .progress
            .unwrap_or_else(|| std::io::stderr().is_terminal());
        let bar = (!opts.quiet && wanted).then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("[{bar:30}] {pos}/{len} {wide_msg}") {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Ui {
            opts,
            bar,
            total: AtomicUsize::new(0),
        }
    }

    /// The number of commands that may run (it shrinks: early cut-off).
    pub fn set_total(&self, total: usize) {
        self.total.store(total, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
        }
    }

    /// A command counted in the total turned out not to need running.
    pub fn skipped(&self) {
        let total = self.total.fetch_sub(1, Ordering::Relaxed).saturating_sub(1);
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
        }
    }

    /// A command started.
    pub fn started(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(text.to_string());
        }
    }

    /// The line that names a command: its display text, or with -v its
    /// command line.
    pub fn label(&self, display: Option<&str>, command: &str) -> String {
        match display {
            Some(d) if !self.opts.verbose => d.to_string(),
            _ => command.to_string(),
        }
    }

    /// `--explain`: why a command runs.
    pub fn explain(&self, label: &str, why: &str) {
        if self.opts.explain && !self.opts.quiet {
            self.out(&format!("explain: {label}: {why}"));
        }
    }

    /// A command finished successfully: its line and its output, whole.
    pub fn succeeded(&self, n: usize, label: &str, output: &[u8]) {
        if self.opts.quiet {
            return;
        }
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        let total = self.total.load(Ordering::Relaxed).max(n);
        let mut text = match self.opts.no_job_numbers {
            true => label.to_string(),
            false => format!("[{n}/{total}] {label}"),
        };
        append_output(&mut text, output);
        self.out(&text);
    }

    /// A command failed: where its rule is, why, and its output whole.
    pub fn failed(&self, label: &str, rule: &str, why: &[String], output: &[u8]) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        let mut text = format!("tupfs: FAILED {label}\n  rule: {rule}");
        for w in why {
            text.push_str(&format!("\n  {w}"));
        }
        append_output(&mut text, output);
        self.err(&text);
    }

    /// A line of information (stdout), e.g. "Nothing to do".
    pub fn info(&self, line: &str) {
        if !self.opts.quiet {
            self.out(line);
        }
    }

    /// A warning or error line (stderr).
    pub fn warn(&self, line: &str) {
        self.err(&format!("tupfs: {line}"));
    }

    /// Remove the bar before the summary.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    fn out(&self, text: &str) {
        self.print(text, false);
    }

    fn err(&self, text: &str) {
        self.print(text, true);
    }

    fn print(&self, text: &str, to_stderr: bool) {
        let write = || {
            if to_stderr {
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            } else {
                let _ = writeln!(std::io::stdout().lock(), "{text}");
            }
        };
        match &self.bar {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }
}

fn append_output(text: &mut String, output: &[u8]) {
    if output.is_empty() {
        return;
    }
    text.push('\n');
    text.push_str(String::from_utf8_lossy(output).trim_end_matches('\n'));
}
