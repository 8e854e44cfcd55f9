//! `run ./script args`: running a script while parsing; the `:` rules it
//! prints are read as if they were written in the Tupfile.

use std::process::{Command, Stdio};

use super::directives::{FileCtx, TupfileParse};
use super::driver::Driver;
use super::vars::Nodes;
use super::{Location, ParseError};
use crate::paths::ProjPath;

impl TupfileParse {
    /// `run ./script args`: run it now; its stdout is more rules.
    pub(super) fn run(
        &mut self,
        drv: &mut Driver,
        ctx: &mut FileCtx,
        rest: &str,
        loc: &Location,
    ) -> Result<(), ParseError> {
        let dir = self.dir.clone();
        let (cmdline, _) = self.eval_here(drv, ctx, rest, Nodes::RelativeTo(&dir))?;
        if !drv.opts.allow_run {
            return Err(ParseError::msg(format!(
                "'run {cmdline}' is not allowed in this parse (scripts are disabled)"
            )));
        }
        // The script and any file it is given are inputs of the parse.
        for word in cmdline.split_whitespace() {
            if let Ok(p) = ProjPath::join(&dir, word) {
                if drv.is_source_file(&p) {
                    self.record.run_scripts.insert(p);
                }
            }
        }
        self.record.globbed_dirs.insert(dir);
        self.record.ran_scripts = true;
        let stdout = self.run_script(drv, &cmdline)?;
        self.run_output(drv, ctx, &stdout, &cmdline, loc)
    }

    /// Run `cmdline` with `sh` in the Tupfile's directory, with only the
    /// exported variables set; its stdout.
    fn run_script(&self, drv: &Driver, cmdline: &str) -> Result<String, ParseError> {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(cmdline)
            .current_dir(self.dir.to_disk(drv.root))
            .env_clear()
            .stdin(Stdio::null());
        for name in &self.exports {
            if let Some(v) = drv.opts.env.get(name) {
                cmd.env(name, v);
            }
        }
        let out = cmd
            .output()
            .map_err(|e| ParseError::msg(format!("cannot run '{cmdline}': {e}")))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(ParseError::msg(format!(
                "run script '{cmdline}' failed ({}): {}",
                out.status,
                stderr.trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Carry out the `:` rules a `run` script printed (blank and `#` lines
    /// are skipped); errors say which output line.
    fn run_output(
        &mut self,
        drv: &mut Driver,
        ctx: &mut FileCtx,
        stdout: &str,
        cmdline: &str,
        loc: &Location,
    ) -> Result<(), ParseError> {
        for (n, l) in stdout.lines().enumerate() {
            let l = l.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let Some(rule) = l.strip_prefix(':') else {
                return Err(ParseError::msg(format!(
                    "line {} of the output of 'run {cmdline}' is not a ':' rule: '{l}'",
                    n + 1
                )));
            };
            self.rule(drv, ctx, rule, loc).map_err(|e| {
                let e = e.located(loc);
                ParseError {
                    message: format!(
                        "{} (in line {} of the output of 'run {cmdline}')",
                        e.message,
                        n + 1
                    ),
                    ..e
                }
            })?;
        }
        Ok(())
    }
}
