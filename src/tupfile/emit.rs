//! Turning one `:` rule into commands: resolving inputs (paths, globs,
//! bins, groups, `^regex` exclusions), applying `!macros`, `foreach`,
//! %-flags then variables, and declaring outputs.

use std::collections::BTreeSet;

use regex::Regex;

use super::directives::{FileCtx, TupfileParse};
use super::driver::{Driver, OutputInfo};
use super::flags::{self, FlagCtx, Part};
use super::glob;
use super::rule::{split_display, split_rule};
use super::vars::{eval, ConfigUse, Nodes};
use super::{GroupRef, Location, ParseError, Rule};
use crate::paths::ProjPath;

/// One file in an input list or a bin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The path as written, relative to the Tupfile's directory (`%f`).
    pub text: String,
    /// Where the file really is (a variant output lives under the variant).
    pub actual: ProjPath,
    /// What the first glob wildcard matched, if a glob found it (`%g`).
    pub glob: Option<String>,
    /// Set for a `dir/<group>` entry (tup lists groups in `%f`/`%i` as
    /// written); `actual` is then meaningless.
    pub group: Option<GroupRef>,
}

impl Entry {
    /// The real file, unless the entry is a group.
    fn file(&self) -> Option<&ProjPath> {
        self.group.is_none().then_some(&self.actual)
    }
}

/// Resolved inputs of a rule (groups are entries too, as in tup).
#[derive(Clone, Debug, Default)]
struct Inputs {
    normal: Vec<Entry>,
    order_only: Vec<Entry>,
}

/// The rule's text parts after the macro (if any) was applied.
#[derive(Clone, Debug)]
struct Parts {
    command: String,
    extra_command: Option<String>,
    outputs: String,
    extra_outputs: Option<String>,
    macro_extra_outputs: Option<String>,
    macro_order_only: Option<String>,
    /// Where the command starts in the line (None: it came from a macro).
    command_at: Option<usize>,
    /// Where the outputs start in the line (None: from a macro).
    outputs_at: Option<usize>,
    /// The macro applied, if any (named in errors about its text).
    macro_name: Option<String>,
}

impl Parts {
    /// Place an error about the command (or outputs, with `at`) in the line.
    fn locate(&self, e: ParseError, at: Option<usize>) -> ParseError {
        match (at, &self.macro_name) {
            (Some(off), _) => e.shifted(off),
            (None, Some(m)) => ParseError {
                message: format!("in macro '{m}': {}", e.message),
                ..e
            },
            (None, None) => e,
        }
    }
}

/// Declared outputs of one command.
#[derive(Default)]
struct Outs {
    normal: Vec<(String, ProjPath)>,
    extra: Vec<(String, ProjPath)>,
    group: Option<GroupRef>,
    ignore: Vec<String>,
}

/// One command to emit: its inputs and the rule parts that apply.
struct Job<'a> {
    /// The normal inputs of this command (one for foreach).
    nl: &'a [Entry],
    /// The rule's inputs (for the order-only ones).
    inputs: &'a Inputs,
    /// The rule's parts after the macro.
    parts: &'a Parts,
    /// The extension of the foreach input.
    ext: Option<&'a str>,
    /// True for a foreach rule.
    foreach: bool,
    /// The bin the outputs go into.
    bin: Option<&'a str>,
    /// Where the rule was written.
    loc: &'a Location,
}

/// What the %-flags of one command refer to, owned.
struct Texts {
    inputs: Vec<String>,
    globs: Vec<Option<String>>,
    outputs: Vec<String>,
    order_only: Vec<String>,
    ext: Option<String>,
    dir_name: String,
}

impl Texts {
    /// The flag context for expanding `part`.
    fn ctx(&self, part: Part) -> FlagCtx<'_> {
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

impl TupfileParse {
    /// Carry out the rule whose text (after `:`) is `text`.
    pub fn rule(
        &mut self,
        drv: &mut Driver,
        ctx: &mut FileCtx,
        text: &str,
        loc: &Location,
    ) -> Result<(), ParseError> {
        let syn = split_rule(text)?;
        let (inputs_at, command_at, outputs_at) = part_offsets(text, &syn);
        let mut used = ConfigUse::new();
        let inputs = match &syn.inputs {
            Some(i) => self
                .resolve_inputs(drv, ctx, i, &mut used, true)
                .map_err(|e| e.shifted(inputs_at))?,
            None => Inputs::default(),
        };
        let (macro_name, extra_command) = match syn.command.strip_prefix('!') {
            Some(_) => match syn.command.split_once(' ') {
                Some((n, rest)) => (Some(n.to_string()), Some(rest.trim().to_string())),
                None => (Some(syn.command.clone()), None),
            },
            None => (None, None),
        };
        let macro_foreach = macro_name
            .as_deref()
            .and_then(|n| self.macros.get(n))
            .is_some_and(|m| m.foreach);
        let base = Parts {
            command: syn.command.clone(),
            extra_command,
            outputs: syn.outputs.clone(),
            extra_outputs: syn.extra_outputs.clone(),
            macro_extra_outputs: None,
            macro_order_only: None,
            command_at: Some(command_at),
            outputs_at: Some(outputs_at),
            macro_name: None,
        };
        let bin = syn.bin.as_deref();
        if syn.foreach || macro_foreach {
            for entry in &inputs.normal {
                let ext = flags::extension(&entry.text);
                let parts = self.apply_macro(&base, macro_name.as_deref(), ext, true)?;
                let one = std::slice::from_ref(entry);
                self.command(
                    drv,
                    ctx,
                    Job {
                        nl: one,
                        inputs: &inputs,
                        parts: &parts,
                        ext,
                        foreach: true,
                        bin,
                        loc,
                    },
                    used.clone(),
                )?;
            }
        } else {
            // With no inputs matched, a `!m.EMPTY` macro may say what to do.
            let which = if !inputs.normal.is_empty() || syn.empty_input {
                Some((&inputs.normal[..], macro_name.clone()))
            } else {
                macro_name
                    .as_ref()
                    .map(|name| format!("{name}.EMPTY"))
                    .filter(|empty| self.macros.get(empty).is_some())
                    .map(|empty| (&[][..], Some(empty)))
            };
            if let Some((nl, mac)) = which {
                let parts = self.apply_macro(&base, mac.as_deref(), None, false)?;
                let job = Job {
                    nl,
                    inputs: &inputs,
                    parts: &parts,
                    ext: None,
                    foreach: false,
                    bin,
                    loc,
                };
                self.command(drv, ctx, job, used.clone())?;
            }
        }
        self.record.config.extend(used);
        Ok(())
    }

    /// Replace a `!macro` command by the macro's parts.
    fn apply_macro(
        &self,
        base: &Parts,
        name: Option<&str>,
        ext: Option<&str>,
        foreach: bool,
    ) -> Result<Parts, ParseError> {
        let Some(name) = name else {
            return Ok(base.clone());
        };
        let found = if foreach {
            self.macros.lookup(name, ext)
        } else {
            self.macros.get(name)
        };
        let Some(m) = found else {
            return Err(ParseError::msg(format!(
                "unknown macro '{name}'; define it with '{name} = |> command |> outputs' before use"
            )));
        };
        Ok(Parts {
            command: m.command.clone(),
            extra_command: base.extra_command.clone(),
            outputs: if base.outputs.is_empty() {
                m.outputs.clone()
            } else {
                base.outputs.clone()
            },
            extra_outputs: base.extra_outputs.clone(),
            macro_extra_outputs: m.extra_outputs.clone(),
            macro_order_only: m.order_only.clone(),
            command_at: None,
            outputs_at: base.outputs_at.filter(|_| !base.outputs.is_empty()),
            macro_name: Some(name.to_string()),
        })
    }

    /// Emit one command for the inputs `job.nl`.
    fn command(
        &mut self,
        drv: &mut Driver,
        ctx: &mut FileCtx,
        job: Job,
        mut used: ConfigUse,
    ) -> Result<(), ParseError> {
        let Job {
            nl,
            inputs,
            parts,
            ext,
            foreach,
            bin,
            loc,
        } = job;
        let mut order_only = inputs.order_only.clone();
        let mut texts = Texts {
            inputs: nl.iter().map(|e| e.text.clone()).collect(),
            globs: nl.iter().map(|e| e.glob.clone()).collect(),
            outputs: Vec::new(),
            order_only: order_only.iter().map(|e| e.text.clone()).collect(),
            ext: ext.map(str::to_string),
            dir_name: self.dir_name(drv),
        };
        if let Some(oo) = &parts.macro_order_only {
            // A foreach rule's macro order-only inputs may use %-flags.
            let text = if foreach {
                flags::expand(oo, &texts.ctx(Part::Inputs), None)?
            } else {
                oo.clone()
            };
            let more = self.resolve_inputs(drv, ctx, &format!("| {text}"), &mut used, false)?;
            order_only.extend(more.order_only);
            dedup(&mut order_only);
            texts.order_only = order_only.iter().map(|e| e.text.clone()).collect();
        }
        let out_text = flags::expand(&parts.outputs, &texts.ctx(Part::Outputs), None)
            .map_err(|e| parts.locate(e.into(), parts.outputs_at))?;
        let out_text = self
            .eval_rule(drv, ctx, &out_text, Nodes::Forbidden, &mut used)
            .map_err(|e| parts.locate(e.without_column(), None))?;
        if parts.command.is_empty() {
            // An empty command only puts its inputs in the bin.
            if let Some(b) = bin {
                ctx.bins
                    .entry(b.to_string())
                    .or_default()
                    .extend(nl.iter().cloned());
            }
            return Ok(());
        }
        let outs = self.outputs(drv, ctx, parts, &out_text, &mut texts, &mut used)?;
        let cmd = flags::expand(
            &parts.command,
            &texts.ctx(Part::Command),
            parts.extra_command.as_deref(),
        )
        .map_err(|e| parts.locate(e.into(), parts.command_at))?;
        let dir = self.dir.clone();
        // Columns of the variable expansion count in the %-expanded text,
        // which the user never wrote: leave them out.
        let cmd = self
            .eval_rule(drv, ctx, &cmd, Nodes::RelativeTo(&dir), &mut used)
            .map_err(|e| parts.locate(e.without_column(), None))?;
        let (display, rule_flags, command) = split_display(&cmd)?;
        if let Some(prev) = self.commands.get(&command) {
            return Err(ParseError::msg(format!(
                "the command '{command}' is written twice for this directory ({prev} and {loc}); each command must differ"
            )));
        }
        self.commands.insert(command.clone(), loc.clone());
        self.declare_outputs(drv, &outs, loc)?;
        self.record.config.extend(used.clone());
        if let Some(b) = bin {
            let entries = outs.normal.iter().map(|(t, a)| Entry {
                text: t.clone(),
                actual: a.clone(),
                glob: None,
                group: None,
            });
            ctx.bins.entry(b.to_string()).or_default().extend(entries);
        }
        let files = |v: &[Entry]| v.iter().filter_map(Entry::file).cloned().collect();
        self.rules.push(Rule {
            location: loc.clone(),
            dir: drv.mirror(&self.dir),
            command,
            display,
            flags: rule_flags,
            inputs: files(nl),
            order_only: files(&order_only),
            input_groups: nl
                .iter()
                .chain(&order_only)
                .filter_map(|e| e.group.clone())
                .collect(),
            outputs: outs.normal.iter().map(|(_, a)| a.clone()).collect(),
            extra_outputs: outs.extra.iter().map(|(_, a)| a.clone()).collect(),
            output_group: outs.group,
            ignore: outs.ignore,
            config_used: used
                .into_iter()
                .map(|(k, v)| (k, v.unwrap_or_default()))
                .collect(),
            exports: self.exports.iter().cloned().collect(),
            source_dir: self.dir.clone(),
            variant: drv.variant.clone(),
        });
        Ok(())
    }

    /// The outputs (already %-expanded and evaluated in `out_text`) and the
    /// extra outputs (evaluated, then %-expanded with `%o`/`%O` known).
    fn outputs(
        &self,
        drv: &Driver,
        ctx: &FileCtx,
        parts: &Parts,
        out_text: &str,
        texts: &mut Texts,
        used: &mut ConfigUse,
    ) -> Result<Outs, ParseError> {
        let mut outs = Outs::default();
        for tok in out_text.split_whitespace() {
            self.output_token(drv, tok, false, &mut outs)?;
        }
        texts.outputs = outs.normal.iter().map(|(t, _)| t.clone()).collect();
        for extra in [&parts.extra_outputs, &parts.macro_extra_outputs]
            .into_iter()
            .flatten()
        {
            let expanded = self.eval_rule(drv, ctx, extra, Nodes::Forbidden, used)?;
            for tok in expanded.split_whitespace() {
                let tok = flags::expand(tok, &texts.ctx(Part::ExtraOutputs), None)?;
                self.output_token(drv, &tok, true, &mut outs)?;
            }
        }
        Ok(outs)
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

    fn eval_rule(
        &self,
        drv: &Driver,
        ctx: &FileCtx,
        text: &str,
        nodes: Nodes,
        used: &mut ConfigUse,
    ) -> Result<String, ParseError> {
        Ok(eval(text, &self.env(drv, ctx), nodes, used)?)
    }

    /// Resolve an input list (`normal | order-only`). With `allow_normal`
    /// false (a macro's inputs) only the order-only part may be non-empty.
    fn resolve_inputs(
        &mut self,
        drv: &mut Driver,
        ctx: &FileCtx,
        text: &str,
        used: &mut ConfigUse,
        allow_normal: bool,
    ) -> Result<Inputs, ParseError> {
        let dir = self.dir.clone();
        let text = self.eval_rule(drv, ctx, text, Nodes::RelativeTo(&dir), used)?;
        let (normal, oo) = match text.split_once('|') {
            Some((n, o)) => (n, o),
            None => (text.as_str(), ""),
        };
        if !allow_normal && !normal.trim().is_empty() {
            return Err(ParseError::msg(format!(
                "a macro may only have order-only inputs, found '{}'",
                normal.trim()
            )));
        }
        Ok(Inputs {
            normal: self.input_list(drv, ctx, normal)?,
            order_only: self.input_list(drv, ctx, oo)?,
        })
    }

    fn input_list(
        &mut self,
        drv: &mut Driver,
        ctx: &FileCtx,
        text: &str,
    ) -> Result<Vec<Entry>, ParseError> {
        let mut list: Vec<Entry> = Vec::new();
        for tok in text.split_whitespace() {
            if let Some(name) = tok.strip_prefix('{') {
                let name = name.strip_suffix('}').ok_or_else(|| {
                    ParseError::msg(format!("expected '}}' to close the bin '{tok}'"))
                })?;
                let entries = ctx.bins.get(name).ok_or_else(|| {
                    ParseError::msg(format!(
                        "unknown bin '{{{name}}}'; bins are filled by earlier rules of the same file"
                    ))
                })?;
                list.extend(entries.iter().cloned());
            } else if let Some(re) = tok.strip_prefix('^') {
                let re = compile(re)?;
                list.retain(|e| !re.is_match(&e.text));
            } else if tok.contains('<') {
                list.push(Entry {
                    text: tok.to_string(),
                    actual: ProjPath::root(),
                    glob: None,
                    group: Some(self.group(drv, tok)?),
                });
            } else {
                let found = self.input_path(drv, tok)?;
                list.extend(found);
            }
        }
        dedup(&mut list);
        Ok(list)
    }

    /// A path or glob among the inputs.
    fn input_path(&mut self, drv: &mut Driver, tok: &str) -> Result<Vec<Entry>, ParseError> {
        if tok == "." {
            return Err(ParseError::msg(
                "'.' is not a file; expected a file name or a glob",
            ));
        }
        if tok
            .split('/')
            .any(|c| c.starts_with('.') && c != "." && c != "..")
        {
            return Err(ParseError::msg(format!(
                "the path '{tok}' has a component starting with '.'; hidden files are ignored, so it cannot be an input"
            )));
        }
        let (dir_text, name) = match tok.rfind('/') {
            Some(i) => (&tok[..i], &tok[i + 1..]),
            None => ("", tok),
        };
        let dir = ProjPath::join(&self.dir, dir_text)
            .map_err(|e| ParseError::msg(format!("input '{tok}': {e}")))?;
        if dir != self.dir {
            drv.ensure_parsed(&dir)?;
            if drv.has_tupfile(&dir) {
                self.record.depends_on.insert(dir.clone());
            }
        }
        let prefix = if dir_text.is_empty() {
            String::new()
        } else {
            format!("{dir_text}/")
        };
        if glob::is_glob(name) {
            if glob::is_glob(dir_text) {
                return Err(ParseError::msg(format!(
                    "input '{tok}': globs are only allowed in the last path component"
                )));
            }
            self.record.globbed_dirs.insert(dir.clone());
            let mut found = Vec::new();
            for cand in drv.glob_candidates(&dir, &self.dir) {
                if let Some(g) = glob::matches(name, &cand) {
                    let logical = dir.child(&cand);
                    found.push(Entry {
                        text: format!("{prefix}{cand}"),
                        actual: actual_input(drv, &logical),
                        glob: Some(g),
                        group: None,
                    });
                }
            }
            return Ok(found);
        }
        let logical = ProjPath::join(&dir, name)
            .map_err(|e| ParseError::msg(format!("input '{tok}': {e}")))?;
        if let Some(o) = drv.outputs.get(&logical) {
            if o.tupfile_dir != self.dir && o.tupfile_dir != logical.parent() {
                return Err(ParseError::msg(format!(
                    "input '{tok}' is generated into another directory by the Tupfile of '{}' ({}); put it in a group and use the group as an input",
                    o.tupfile_dir, o.location
                )));
            }
        } else if !drv.is_source_file(&logical) {
            return Err(ParseError::msg(format!(
                "input '{tok}' does not exist: there is no source file {logical} and no earlier rule produces it"
            )));
        }
        Ok(vec![Entry {
            text: tok.to_string(),
            actual: actual_input(drv, &logical),
            glob: None,
            group: None,
        }])
    }

    /// `dir/<name>`.
    fn group(&self, drv: &Driver, tok: &str) -> Result<GroupRef, ParseError> {
        let lt = tok.find('<').unwrap_or(0);
        let (dir_text, rest) = tok.split_at(lt);
        let name = rest[1..]
            .strip_suffix('>')
            .filter(|n| !n.is_empty() && !n.contains(['<', '>', '/']))
            .ok_or_else(|| {
                ParseError::msg(format!(
                    "expected a group written 'dir/<name>', found '{tok}'"
                ))
            })?;
        if !(dir_text.is_empty() || dir_text.ends_with('/')) {
            return Err(ParseError::msg(format!(
                "expected a group written 'dir/<name>', found '{tok}'"
            )));
        }
        let dir = ProjPath::join(&self.dir, dir_text)
            .map_err(|e| ParseError::msg(format!("group '{tok}': {e}")))?;
        Ok(GroupRef {
            dir: drv.mirror(&dir),
            name: name.to_string(),
        })
    }

    /// One output token: a file, a group or a `^regex` to ignore.
    fn output_token(
        &self,
        drv: &Driver,
        tok: &str,
        extra: bool,
        outs: &mut Outs,
    ) -> Result<(), ParseError> {
        if let Some(re) = tok.strip_prefix('^') {
            compile(re)?;
            outs.ignore.push(re.to_string());
            return Ok(());
        }
        if tok.contains('<') {
            let g = self.group(drv, tok)?;
            if let Some(prev) = &outs.group {
                return Err(ParseError::msg(format!(
                    "a rule can put its outputs in one group only, found {prev} and {g}"
                )));
            }
            outs.group = Some(g);
            return Ok(());
        }
        let logical = ProjPath::join(&self.dir, tok).map_err(|_| {
            ParseError::msg(format!(
                "output '{tok}' is outside the project; outputs must stay inside the project root"
            ))
        })?;
        if logical.is_root() || tok.ends_with('/') {
            return Err(ParseError::msg(format!(
                "output '{tok}' is not a file name"
            )));
        }
        if logical.components().any(|c| c.starts_with('.')) {
            return Err(ParseError::msg(format!(
                "output '{tok}' has a path component starting with '.'; hidden files cannot be outputs"
            )));
        }
        let base = logical.file_name();
        if [
            "Tupfile",
            "Tuprules.tup",
            "Tupfile.lua",
            "Tuprules.lua",
            "Tupdefault",
            "tup.config",
        ]
        .contains(&base)
        {
            return Err(ParseError::msg(format!(
                "output '{tok}' is a name reserved for build descriptions; outputs cannot be Tupfiles or tup.config"
            )));
        }
        if drv.in_variant_dir(&logical) && drv.variant.is_root() {
            return Err(ParseError::msg(format!(
                "output '{tok}' is inside a variant directory"
            )));
        }
        if !drv.variant.is_root() && drv.is_source_file(&logical) {
            return Err(ParseError::msg(format!(
                "output '{tok}' is a source file ({logical}); a variant build cannot overwrite the source tree"
            )));
        }
        let all = outs.normal.iter().chain(outs.extra.iter());
        if all.clone().any(|(_, a)| *a == drv.mirror(&logical)) {
            return Err(ParseError::msg(format!(
                "output '{tok}' is listed twice in one command"
            )));
        }
        let entry = (tok.to_string(), drv.mirror(&logical));
        if extra {
            outs.extra.push(entry);
        } else {
            outs.normal.push(entry);
        }
        Ok(())
    }

    /// Record the command's outputs project-wide; one file, one rule.
    fn declare_outputs(
        &self,
        drv: &mut Driver,
        outs: &Outs,
        loc: &Location,
    ) -> Result<(), ParseError> {
        for (tok, _) in outs.normal.iter().chain(outs.extra.iter()) {
            let logical = ProjPath::join(&self.dir, tok)
                .map_err(|e| ParseError::msg(format!("output '{tok}': {e}")))?;
            if let Some(prev) = drv.outputs.get(&logical) {
                return Err(ParseError::msg(format!(
                    "output '{}' is produced by two rules: {} and {}; each file may have one rule",
                    drv.mirror(&logical),
                    prev.location,
                    loc
                )));
            }
            drv.outputs.insert(
                logical.clone(),
                OutputInfo {
                    location: loc.clone(),
                    tupfile_dir: self.dir.clone(),
                },
            );
            drv.outputs_by_dir
                .entry(logical.parent())
                .or_default()
                .insert(logical.file_name().to_string());
        }
        Ok(())
    }
}

/// Byte offsets (counted from the `:`) of the inputs, command and outputs
/// of a rule line whose text after `:` is `text`.
fn part_offsets(text: &str, syn: &super::rule::RuleSyntax) -> (usize, usize, usize) {
    let inputs = syn
        .inputs
        .as_deref()
        .and_then(|i| text.find(i))
        .unwrap_or(0);
    let first = text.find("|>").map_or(0, |i| i + 2);
    let command = first + text[first..].find(syn.command.as_str()).unwrap_or(0);
    let second = text[first..].find("|>").map_or(first, |i| first + i + 2);
    let outputs = second + text[second..].find(syn.outputs.as_str()).unwrap_or(0);
    (inputs + 1, command + 1, outputs + 1)
}

/// Where an input really is: a declared output lives in the variant.
fn actual_input(drv: &Driver, logical: &ProjPath) -> ProjPath {
    if drv.outputs.contains_key(logical) {
        drv.mirror(logical)
    } else {
        logical.clone()
    }
}

fn compile(re: &str) -> Result<Regex, ParseError> {
    Regex::new(re).map_err(|e| ParseError::msg(format!("bad regular expression '^{re}': {e}")))
}

/// Drop later duplicates, keeping the first occurrence's position.
fn dedup(list: &mut Vec<Entry>) {
    let mut seen = BTreeSet::new();
    list.retain(|e| seen.insert((e.group.clone(), e.actual.clone())));
}
