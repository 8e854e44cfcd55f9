//! `run ./script args`: running a script while parsing; the `:` rules it
//! prints are read as if they were written in the Tupfile.

use super::directives::{FileCtx, TupfileParse};
use super::driver::Driver;
use super::vars::Nodes;
use super::{Location, ParseError, Script, ScriptRun};
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
        self.record.globbed_dirs.insert(dir.clone());
        let script = Script {
            root: drv.root,
            dir: &dir,
            command: &cmdline,
            env: self.script_env(drv),
        };
        let ran = drv.opts.scripts.run(&script).map_err(ParseError::msg)?;
        self.record_script_reads(drv, &cmdline, &ran, loc)?;
        self.run_output(drv, ctx, &ran.stdout, &cmdline, loc)
    }

    /// The exported variables that are set, for a script.
    fn script_env(&self, drv: &Driver) -> Vec<(String, String)> {
        let set = |name: &String| Some((name.clone(), drv.opts.env.get(name)?.clone()));
        self.exports.iter().filter_map(set).collect()
    }

    /// What the script read (or looked for in vain) is an input of the
    /// parse; it may not be an output of the build (tup refuses that too:
    /// the rules would depend on the build). What it wrote is dropped, as
    /// tup drops it.
    fn record_script_reads(
        &mut self,
        drv: &Driver,
        cmdline: &str,
        ran: &ScriptRun,
        loc: &Location,
    ) -> Result<(), ParseError> {
        for path in ran.reads.iter().chain(&ran.ghosts) {
            if drv.outputs.contains_key(path) || drv.opts.previous_outputs.contains(path) {
                return Err(ParseError::msg(format!(
                    "run script '{cmdline}' read the generated file '{path}': the rules \
                     must come from files you wrote, not from the build's outputs"
                )));
            }
            if !self.record.run_scripts.contains(path) {
                self.record.script_reads.insert(path.clone());
            }
        }
        for path in &ran.writes {
            log::warn!("{loc}: run script '{cmdline}' wrote '{path}'; dropped (as tup does)");
        }
        Ok(())
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
