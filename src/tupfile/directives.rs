//! The parse of one directory's Tupfile: reading files line by line and
//! carrying out each directive (include, include_rules, preload, export,
//! import, .gitignore, error, macros, assignments). Conditionals are in
//! `cond`, `run` in `run`, and rules are handed to `emit`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use super::cond::CondStack;
use super::driver::Driver;
use super::inputs::Entry;
use super::lines::{logical_lines, Line};
use super::macros::MacroDb;
use super::vars::{eval, ConfigUse, EvalEnv, NodeVars, Nodes, VarDb};
use super::{Location, ParseError, Rule, TupfileRecord};
use crate::paths::ProjPath;

/// How deep `include` may nest (a file including itself hits this).
const MAX_INCLUDE_DEPTH: usize = 64;

/// The result of parsing one directory.
#[derive(Debug)]
pub struct DirOutcome {
    /// Its rules, in order.
    pub rules: Vec<Rule>,
    /// What its parse read.
    pub record: TupfileRecord,
    /// True if it asked for a `.gitignore`.
    pub gitignore: bool,
}

/// Bins (`{name}`) of the file being read: entries by bin name.
pub type Bins = BTreeMap<String, Vec<Entry>>;

/// The state of one Tupfile's parse (shared by the files it includes).
pub struct TupfileParse {
    /// The source directory the Tupfile describes.
    pub dir: ProjPath,
    /// `$`-variables.
    pub vars: VarDb,
    /// `&`-variables.
    pub nodes: NodeVars,
    /// `!`-macros.
    pub macros: MacroDb,
    /// Exported environment variable names.
    pub exports: BTreeSet<String>,
    /// What the parse read.
    pub record: TupfileRecord,
    /// Rules so far.
    pub rules: Vec<Rule>,
    /// Where each command text was written (one text, one command per
    /// directory, as tup requires).
    pub commands: BTreeMap<String, Location>,
    /// The Tupfile said `.gitignore`.
    gitignore: bool,
    /// How deep in `include`s the line being read is.
    depth: usize,
}

/// The file being read: its directory and its bins.
pub struct FileCtx {
    /// Its directory (for `$(TUP_CWD)` and `include`).
    pub dir: ProjPath,
    /// Its bins (tup keeps bins per file).
    pub bins: Bins,
}

/// Parse the Tupfile `file` describing the source directory `dir`.
pub fn parse_tupfile(
    drv: &mut Driver,
    dir: &ProjPath,
    file: &ProjPath,
) -> Result<DirOutcome, ParseError> {
    let mut p = TupfileParse {
        dir: dir.clone(),
        vars: VarDb::default(),
        nodes: NodeVars::new(),
        macros: MacroDb::default(),
        exports: ["PATH", "HOME"].iter().map(|s| s.to_string()).collect(),
        record: TupfileRecord {
            variant: drv.variant.clone(),
            dir: dir.clone(),
            tupfile: file.clone(),
            ..TupfileRecord::default()
        },
        rules: Vec::new(),
        commands: BTreeMap::new(),
        gitignore: false,
        depth: 0,
    };
    // A Tupdefault is read as if it were the directory's own Tupfile.
    p.read_file(drv, file, dir)?;
    Ok(DirOutcome {
        rules: p.rules,
        record: p.record,
        gitignore: p.gitignore,
    })
}

impl TupfileParse {
    /// Read and carry out every line of `file`, as if it were in `dir`.
    fn read_file(
        &mut self,
        drv: &mut Driver,
        file: &ProjPath,
        dir: &ProjPath,
    ) -> Result<(), ParseError> {
        let text = fs::read(file.to_disk(drv.root))
            .map_err(|e| ParseError::msg(format!("cannot read {file}: {e}")))?;
        let text = String::from_utf8_lossy(&text);
        let mut ctx = FileCtx {
            dir: dir.clone(),
            bins: Bins::new(),
        };
        let mut conds = CondStack::default();
        for line in logical_lines(&text) {
            let loc = Location {
                file: file.clone(),
                line: line.number,
            };
            self.line(drv, &mut ctx, &mut conds, &line, &loc)
                .map_err(|e| e.located(&loc))?;
        }
        if let Some(open) = conds.unclosed() {
            let end = u32::try_from(text.lines().count())
                .unwrap_or(u32::MAX)
                .max(1);
            return Err(ParseError::at(
                &Location {
                    file: file.clone(),
                    line: end,
                },
                format!("missing 'endif' before the end of the file for the block opened on line {open}"),
            ));
        }
        Ok(())
    }

    /// An evaluation environment for the file being read.
    pub fn env<'a>(&'a self, drv: &'a Driver, ctx: &'a FileCtx) -> EvalEnv<'a> {
        EvalEnv {
            vars: &self.vars,
            config: &drv.config,
            nodes: &self.nodes,
            tupfile_dir: &self.dir,
            cur_dir: &ctx.dir,
            variant: &drv.variant,
        }
    }

    /// Expand `text`, recording config reads in the Tupfile's record.
    pub(super) fn eval_here(
        &mut self,
        drv: &Driver,
        ctx: &FileCtx,
        text: &str,
        nodes: Nodes,
    ) -> Result<(String, ConfigUse), ParseError> {
        let mut used = ConfigUse::new();
        let out = eval(text, &self.env(drv, ctx), nodes, &mut used)?;
        self.record.config.extend(used.clone());
        Ok((out, used))
    }

    /// Carry out one logical line.
    fn line(
        &mut self,
        drv: &mut Driver,
        ctx: &mut FileCtx,
        conds: &mut CondStack,
        line: &Line,
        loc: &Location,
    ) -> Result<(), ParseError> {
        if self.conditional(drv, ctx, conds, line)? || !conds.active() {
            return Ok(());
        }
        self.directive(drv, ctx, &line.text, loc)
    }

    /// Carry out a line of an active block (not a conditional).
    fn directive(
        &mut self,
        drv: &mut Driver,
        ctx: &mut FileCtx,
        t: &str,
        loc: &Location,
    ) -> Result<(), ParseError> {
        if t == "error" || t.starts_with("error ") {
            return Err(error_directive(t));
        }
        if let Some(rest) = keyword(t, "include") {
            return self.include(drv, ctx, rest);
        }
        if t == "include_rules" {
            return self.include_rules(drv);
        }
        if let Some(rest) = keyword(t, "preload") {
            return self.preload(drv, ctx, rest);
        }
        if let Some(rest) = keyword(t, "run") {
            return self.run(drv, ctx, rest, loc);
        }
        if let Some(rest) = keyword(t, "export") {
            return self.export(rest);
        }
        if let Some(rest) = keyword(t, "import") {
            return self.import(drv, rest);
        }
        if t == ".gitignore" {
            self.gitignore = true;
            return Ok(());
        }
        if let Some(rest) = t.strip_prefix(':') {
            return self.rule(drv, ctx, rest, loc);
        }
        if t.starts_with('!') {
            return Ok(self.macros.define(t)?);
        }
        self.assign(drv, ctx, t)
    }

    /// `include FILE`, relative to the file being read.
    fn include(&mut self, drv: &mut Driver, ctx: &FileCtx, rest: &str) -> Result<(), ParseError> {
        let (name, _) = self.eval_here(drv, ctx, rest.trim(), Nodes::RelativeTo(&ctx.dir))?;
        let name = name.trim();
        if name.is_empty() {
            return Err(ParseError::msg("expected a file name after 'include'"));
        }
        let path = ProjPath::join(&ctx.dir, name)
            .map_err(|e| ParseError::msg(format!("cannot include '{name}': {e}")))?;
        if path.components().any(|c| c.starts_with('.')) {
            return Err(ParseError::msg(format!(
                "cannot include '{name}': a path component starts with '.' (hidden files are ignored)"
            )));
        }
        if name.ends_with(".lua") {
            return Err(ParseError::msg(format!(
                "cannot include '{name}': Lua files are not supported by tupfs"
            )));
        }
        if let Some(o) = drv.outputs.get(&path) {
            return Err(ParseError::msg(format!(
                "cannot include '{name}': it is a generated file (output of the rule at {}); include only files you write",
                o.location
            )));
        }
        if drv.opts.previous_outputs.contains(&drv.mirror(&path)) || !drv.is_source_file(&path) {
            return Err(ParseError::msg(format!(
                "cannot include '{name}': no such file ({path})"
            )));
        }
        self.include_path(drv, &path)
    }

    /// Read the file `path` (already checked) as part of this Tupfile.
    fn include_path(&mut self, drv: &mut Driver, path: &ProjPath) -> Result<(), ParseError> {
        if self.depth >= MAX_INCLUDE_DEPTH {
            return Err(ParseError::msg(format!(
                "includes nest deeper than {MAX_INCLUDE_DEPTH} levels at '{path}'; does a file include itself?"
            )));
        }
        self.record.included.insert(path.clone());
        self.depth += 1;
        let r = self.read_file(drv, path, &path.parent());
        self.depth -= 1;
        r
    }

    /// `include_rules`: every Tuprules.tup from the root down to here.
    fn include_rules(&mut self, drv: &mut Driver) -> Result<(), ParseError> {
        let mut dirs = vec![self.dir.clone()];
        let mut d = self.dir.clone();
        while !d.is_root() {
            d = d.parent();
            dirs.push(d.clone());
        }
        for dir in dirs.iter().rev() {
            let candidate = dir.child("Tuprules.tup");
            if drv.is_source_file(&candidate) {
                self.include_path(drv, &candidate)?;
            } else {
                self.record.probed_absent.insert(candidate);
            }
        }
        Ok(())
    }

    /// `preload DIR...`: parse those directories first and record their listing.
    fn preload(&mut self, drv: &mut Driver, ctx: &FileCtx, rest: &str) -> Result<(), ParseError> {
        let (dirs, _) = self.eval_here(drv, ctx, rest, Nodes::RelativeTo(&self.dir.clone()))?;
        for d in dirs.split_whitespace() {
            let dir = ProjPath::join(&self.dir, d)
                .map_err(|e| ParseError::msg(format!("cannot preload '{d}': {e}")))?;
            if !drv.is_source_dir(&dir) {
                return Err(ParseError::msg(format!(
                    "cannot preload '{d}': not a directory"
                )));
            }
            self.parse_first(drv, &dir)?;
            self.record.globbed_dirs.insert(dir);
        }
        Ok(())
    }

    /// Parse the Tupfile of `dir` (another directory) first, since this one
    /// reads its outputs, and remember that this one depends on it.
    pub(super) fn parse_first(
        &mut self,
        drv: &mut Driver,
        dir: &ProjPath,
    ) -> Result<(), ParseError> {
        self.record.globbed_dirs.insert(dir.clone());
        if *dir != self.dir {
            drv.ensure_parsed(dir)?;
            if drv.has_tupfile(dir) {
                self.record.depends_on.insert(dir.clone());
            }
        }
        Ok(())
    }

    /// `export NAME`: pass NAME from the environment to every command.
    fn export(&mut self, rest: &str) -> Result<(), ParseError> {
        let name = rest.trim();
        if name.is_empty() || name.contains([' ', '\t', '=']) {
            return Err(ParseError::msg(format!(
                "expected one environment variable name after 'export', found '{rest}'"
            )));
        }
        self.exports.insert(name.to_string());
        Ok(())
    }

    /// `import NAME[=default]`.
    fn import(&mut self, drv: &Driver, rest: &str) -> Result<(), ParseError> {
        let (name, default) = match rest.split_once('=') {
            Some((n, d)) => (n.trim(), Some(d.trim())),
            None => (rest.trim(), None),
        };
        if name.is_empty() || name.contains([' ', '\t']) {
            return Err(ParseError::msg(format!(
                "expected 'import NAME' or 'import NAME=default', found 'import {rest}'"
            )));
        }
        if name.starts_with("CONFIG_") {
            return Err(ParseError::msg(format!(
                "cannot import '{name}': CONFIG_ variables come only from tup.config"
            )));
        }
        let value = drv.opts.env.get(name).cloned();
        self.record.env.insert(name.to_string(), value.clone());
        if let Some(v) = value.or(default.map(str::to_string)) {
            self.vars.set(name, v, ConfigUse::new());
        }
        Ok(())
    }

    /// `NAME = v`, `NAME := v`, `NAME += v`, `&name = path`.
    fn assign(&mut self, drv: &Driver, ctx: &FileCtx, t: &str) -> Result<(), ParseError> {
        // As tup: the first "+=", else the first ":=", else the first "=".
        let (name_end, eq, append) = if let Some(i) = t.find("+=") {
            (i, i + 1, true)
        } else if let Some(i) = t.find(":=") {
            (i, i + 1, false)
        } else if let Some(i) = t.find('=') {
            (i, i, false)
        } else {
            return Err(ParseError::msg(format!(
                "expected a rule (':'), a macro ('!name = ...'), a directive or an assignment ('NAME = value'), found '{t}'"
            )));
        };
        let raw_name = t[..name_end].trim();
        if raw_name.is_empty() {
            return Err(ParseError::msg(format!(
                "expected a variable name before '=' in '{t}'"
            )));
        }
        let name_col = t.len() - t.trim_start().len();
        let (name, mut deps) = self
            .eval_here(drv, ctx, raw_name, Nodes::Forbidden)
            .map_err(|e| e.shifted(name_col))?;
        let raw_value = t[eq + 1..].trim_start();
        let (value, vdeps) = self
            .eval_here(drv, ctx, raw_value, Nodes::Forbidden)
            .map_err(|e| e.shifted(t.len() - raw_value.len()))?;
        deps.extend(vdeps);
        if name.starts_with("CONFIG_") {
            return Err(ParseError::msg(format!(
                "cannot set '{name}': CONFIG_ variables can only be set in tup.config"
            )));
        }
        if let Some(node) = name.strip_prefix('&') {
            return self.assign_node(drv, ctx, node, &value, append);
        }
        if append {
            self.vars.append(&name, value, deps);
        } else {
            self.vars.set(&name, value, deps);
        }
        Ok(())
    }

    /// `&name = path`: a source file or directory, relative to the file
    /// being read.
    fn assign_node(
        &mut self,
        drv: &Driver,
        ctx: &FileCtx,
        name: &str,
        value: &str,
        append: bool,
    ) -> Result<(), ParseError> {
        let mut paths = Vec::new();
        for v in value.split_whitespace() {
            let p = ProjPath::join(&ctx.dir, v)
                .map_err(|e| ParseError::msg(format!("node variable '&{name}': {e}")))?;
            if drv.outputs.contains_key(&p) || !(drv.is_source_file(&p) || drv.is_source_dir(&p)) {
                return Err(ParseError::msg(format!(
                    "node variable '&{name}' must name an existing source file or directory; '{v}' is not one"
                )));
            }
            // A file's existence is in its directory's listing; a
            // directory's in its own (gone: no listing at all).
            let listed = if drv.is_source_dir(&p) {
                p.clone()
            } else {
                p.parent()
            };
            self.record.globbed_dirs.insert(listed);
            paths.push(p);
        }
        let entry = self.nodes.entry(name.to_string()).or_default();
        if !append {
            entry.clear();
        }
        entry.extend(paths);
        Ok(())
    }
}

/// `error [message]`: stop the parse with the message.
fn error_directive(t: &str) -> ParseError {
    let msg = t[5..].trim();
    ParseError::msg(if msg.is_empty() {
        "error directive (no message given)".to_string()
    } else {
        msg.to_string()
    })
}

/// `kw` followed by white space: the rest of the line.
pub(super) fn keyword<'a>(line: &'a str, kw: &str) -> Option<&'a str> {
    line.strip_prefix(kw)
        .filter(|r| r.starts_with([' ', '\t']))
        .map(|r| r.trim_start())
}
