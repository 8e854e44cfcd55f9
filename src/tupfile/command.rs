//! One command of a rule: %-flags then variables in its outputs and command
//! text, the checks that one command is one text per directory, and the
//! finished [`Rule`].

use super::directives::{FileCtx, TupfileParse};
use super::driver::Driver;
use super::emit::{Parts, RuleCtx};
use super::flags::{self, FlagCtx, Part};
use super::inputs::{dedup, Entry};
use super::outputs::Outs;
use super::rule::split_display;
use super::vars::{ConfigUse, Nodes};
use super::{Location, ParseError, Rule, RuleFlags};
use crate::paths::ProjPath;

/// One command to emit: its inputs and the rule parts that apply.
pub struct Job<'a> {
    /// What all commands of the rule share.
    pub rule: &'a RuleCtx<'a>,
    /// The normal inputs of this command (one for foreach).
    pub normal: &'a [Entry],
    /// The rule's parts after the macro.
    pub parts: &'a Parts,
    /// The extension of the foreach input.
    pub ext: Option<&'a str>,
    /// True for a foreach rule.
    pub foreach: bool,
}

/// What the %-flags of one command refer to, owned.
pub struct Texts {
    /// Normal inputs as written (`%f`).
    inputs: Vec<String>,
    /// What each input's glob matched (`%g`).
    globs: Vec<Option<String>>,
    /// The outputs as written (known once the outputs are read).
    pub outputs: Vec<String>,
    /// Order-only inputs as written (`%i`).
    order_only: Vec<String>,
    /// The foreach input's extension (`%e`).
    ext: Option<String>,
    /// The command directory's name (`%d`).
    dir_name: String,
}

impl Texts {
    /// The texts of the inputs `normal` and `order_only`; no outputs yet.
    fn new(normal: &[Entry], order_only: &[Entry], ext: Option<&str>, dir_name: String) -> Texts {
        Texts {
            inputs: texts_of(normal),
            globs: normal.iter().map(|e| e.glob.clone()).collect(),
            outputs: Vec::new(),
            order_only: texts_of(order_only),
            ext: ext.map(str::to_string),
            dir_name,
        }
    }

    /// The flag context for expanding `part`.
    pub fn ctx(&self, part: Part) -> FlagCtx<'_> {
        FlagCtx {
            inputs: &self.inputs,
            globs: &self.globs,
            outputs: &self.outputs,
            order_only: &self.order_only,
            ext: self.ext.as_deref(),
            dir_name: &self.dir_name,
            part,
        }
    }
}

/// One part of a command to expand: %-flags first, then variables.
struct Expansion<'a> {
    /// The text as written (in the rule or the macro).
    text: &'a str,
    /// Which part it is (some flags fit only some parts).
    part: Part,
    /// A macro's arguments, appended to its command.
    extra: Option<&'a str>,
    /// Where the text starts in the line (None: it came from a macro).
    at: Option<usize>,
    /// Whether `&(name)` may appear, and relative to what.
    nodes: Nodes<'a>,
}

impl<'a> Expansion<'a> {
    /// The output list (no `&()`: outputs are not nodes).
    fn outputs(parts: &'a Parts) -> Expansion<'a> {
        Expansion {
            text: &parts.outputs,
            part: Part::Outputs,
            extra: None,
            at: parts.outputs_at,
            nodes: Nodes::Forbidden,
        }
    }

    /// The command (display block still in front), run in `dir`.
    fn command(parts: &'a Parts, dir: &'a ProjPath) -> Expansion<'a> {
        Expansion {
            text: &parts.command,
            part: Part::Command,
            extra: parts.extra_command.as_deref(),
            at: parts.command_at,
            nodes: Nodes::RelativeTo(dir),
        }
    }
}

/// A command once its text is final, before it becomes a [`Rule`].
struct Finished {
    /// The shell command, display block removed.
    command: String,
    /// The `^ TEXT^` display text.
    display: Option<String>,
    /// The `^` flag letters.
    flags: RuleFlags,
    /// Order-only inputs, the macro's included.
    order_only: Vec<Entry>,
    /// The declared outputs.
    outs: Outs,
    /// Config values the rule read.
    used: ConfigUse,
}

impl TupfileParse {
    /// Emit one command for the inputs `job.normal`.
    pub(super) fn command(
        &mut self,
        drv: &mut Driver,
        ctx: &mut FileCtx,
        job: Job,
        mut used: ConfigUse,
    ) -> Result<(), ParseError> {
        let (parts, loc) = (job.parts, job.rule.loc);
        let mut order_only = job.rule.inputs.order_only.clone();
        let mut texts = Texts::new(job.normal, &order_only, job.ext, self.dir_name(drv));
        if let Some(more) = self.macro_order_only(drv, ctx, &job, &texts, &mut used)? {
            order_only.extend(more);
            dedup(&mut order_only);
            texts.order_only = texts_of(&order_only);
        }
        let x = Expansion::outputs(parts);
        let out_text = self.expand_part(drv, ctx, parts, &texts, x, &mut used)?;
        if parts.command.is_empty() {
            // An empty command only puts its inputs in the bin.
            fill_bin(ctx, job.rule.bin, job.normal.iter().cloned());
            return Ok(());
        }
        let outs = self.outputs(drv, ctx, parts, &out_text, &mut texts, &mut used)?;
        let x = Expansion::command(parts, &self.dir);
        let cmd = self.expand_part(drv, ctx, parts, &texts, x, &mut used)?;
        let (display, flags, command) = split_display(&cmd)?;
        self.claim_command(&command, loc)?;
        self.declare_outputs(drv, &outs, loc)?;
        self.record.config.extend(used.clone());
        let made = outs
            .normal
            .iter()
            .map(|(t, a)| Entry::path(t.clone(), a.clone()));
        fill_bin(ctx, job.rule.bin, made);
        let finished = Finished {
            command,
            display,
            flags,
            order_only,
            outs,
            used,
        };
        let rule = self.finished_rule(drv, &job, finished);
        self.rules.push(rule);
        Ok(())
    }

    /// The macro's order-only inputs, resolved (`None` if it has none).
    fn macro_order_only(
        &mut self,
        drv: &mut Driver,
        ctx: &FileCtx,
        job: &Job,
        texts: &Texts,
        used: &mut ConfigUse,
    ) -> Result<Option<Vec<Entry>>, ParseError> {
        let Some(oo) = &job.parts.macro_order_only else {
            return Ok(None);
        };
        // A foreach rule's macro order-only inputs may use %-flags.
        let text = if job.foreach {
            flags::expand(oo, &texts.ctx(Part::Inputs), None)?
        } else {
            oo.clone()
        };
        let more = self.resolve_inputs(drv, ctx, &format!("| {text}"), used, false)?;
        Ok(Some(more.order_only))
    }

    /// One part of the command with %-flags, then variables, expanded.
    fn expand_part(
        &self,
        drv: &Driver,
        ctx: &FileCtx,
        parts: &Parts,
        texts: &Texts,
        x: Expansion,
        used: &mut ConfigUse,
    ) -> Result<String, ParseError> {
        let text = flags::expand(x.text, &texts.ctx(x.part), x.extra)
            .map_err(|e| parts.locate(e.into(), x.at))?;
        // Columns of the variable expansion count in the %-expanded text,
        // which the user never wrote: leave them out.
        self.eval_rule(drv, ctx, &text, x.nodes, used)
            .map_err(|e| parts.locate(e.without_column(), None))
    }

    /// Take `command` for this directory: tup allows each text once.
    fn claim_command(&mut self, command: &str, loc: &Location) -> Result<(), ParseError> {
        if let Some(prev) = self.commands.get(command) {
            return Err(ParseError::msg(format!(
                "the command '{command}' is written twice for this directory ({prev} and {loc}); each command must differ"
            )));
        }
        self.commands.insert(command.to_string(), loc.clone());
        Ok(())
    }

    /// The [`Rule`] for a finished command.
    fn finished_rule(&self, drv: &Driver, job: &Job, f: Finished) -> Rule {
        let files = |v: &[Entry]| v.iter().filter_map(Entry::file).cloned().collect();
        let paths = |v: &[(String, ProjPath)]| v.iter().map(|(_, a)| a.clone()).collect();
        Rule {
            location: job.rule.loc.clone(),
            dir: drv.mirror(&self.dir),
            command: f.command,
            display: f.display,
            flags: f.flags,
            inputs: files(job.normal),
            order_only: files(&f.order_only),
            input_groups: job
                .normal
                .iter()
                .chain(&f.order_only)
                .filter_map(|e| e.group.clone())
                .collect(),
            outputs: paths(&f.outs.normal),
            extra_outputs: paths(&f.outs.extra),
            output_group: f.outs.group,
            ignore: f.outs.ignore,
            config_used: f
                .used
                .into_iter()
                .map(|(k, v)| (k, v.unwrap_or_default()))
                .collect(),
            exports: self.exports.iter().cloned().collect(),
            source_dir: self.dir.clone(),
            variant: drv.variant.clone(),
        }
    }

    /// `%d`: the name of the directory the command runs in.
    fn dir_name(&self, drv: &Driver) -> String {
        let d = drv.mirror(&self.dir);
        if d.is_root() {
            drv.root_name.clone()
        } else {
            d.file_name().to_string()
        }
    }
}

/// The entries as written (for `%f`, `%i`).
fn texts_of(entries: &[Entry]) -> Vec<String> {
    entries.iter().map(|e| e.text.clone()).collect()
}

/// Put `entries` into the bin `bin`, if the rule names one.
fn fill_bin(ctx: &mut FileCtx, bin: Option<&str>, entries: impl Iterator<Item = Entry>) {
    if let Some(b) = bin {
        ctx.bins.entry(b.to_string()).or_default().extend(entries);
    }
}
