//! Turning one `:` rule into commands: its inputs once, then one command
//! per input for `foreach` (or one for all), each with the `!macro` that
//! applies (`!m.ext`, `!m.EMPTY`). Inputs, the command text and outputs
//! have their own files (`inputs`, `command`, `outputs`).

use super::command::Job;
use super::directives::{FileCtx, TupfileParse};
use super::driver::Driver;
use super::flags;
use super::inputs::Inputs;
use super::rule::{split_rule, RuleSyntax};
use super::vars::{eval, ConfigUse, Nodes};
use super::{Location, ParseError};

/// The rule's text parts after the macro (if any) was applied.
#[derive(Clone, Debug)]
pub struct Parts {
    /// The command (a macro's, once applied).
    pub command: String,
    /// The arguments after a `!macro` name, appended to its command.
    pub extra_command: Option<String>,
    /// The outputs (the rule's, else the macro's).
    pub outputs: String,
    /// The rule's extra outputs.
    pub extra_outputs: Option<String>,
    /// The macro's extra outputs.
    pub macro_extra_outputs: Option<String>,
    /// The macro's order-only inputs.
    pub macro_order_only: Option<String>,
    /// Where the command starts in the line (None: it came from a macro).
    pub command_at: Option<usize>,
    /// Where the outputs start in the line (None: from a macro).
    pub outputs_at: Option<usize>,
    /// The macro applied, if any (named in errors about its text).
    pub macro_name: Option<String>,
}

impl Parts {
    /// The parts as written in the rule (no macro applied yet).
    fn written(syn: &RuleSyntax, extra_command: Option<String>, at: &Offsets) -> Parts {
        Parts {
            command: syn.command.clone(),
            extra_command,
            outputs: syn.outputs.clone(),
            extra_outputs: syn.extra_outputs.clone(),
            macro_extra_outputs: None,
            macro_order_only: None,
            command_at: Some(at.command),
            outputs_at: Some(at.outputs),
            macro_name: None,
        }
    }

    /// Place an error about the command (or outputs, with `at`) in the line.
    pub fn locate(&self, e: ParseError, at: Option<usize>) -> ParseError {
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

/// What every command of one rule shares.
pub struct RuleCtx<'a> {
    /// The rule's resolved inputs.
    pub inputs: &'a Inputs,
    /// The parts as written.
    base: &'a Parts,
    /// The `!macro` the command names, if any.
    macro_name: Option<&'a str>,
    /// The bin the outputs go into.
    pub bin: Option<&'a str>,
    /// Where the rule was written.
    pub loc: &'a Location,
}

/// Byte offsets (counted from the `:`) of a rule line's parts.
struct Offsets {
    /// Of the inputs.
    inputs: usize,
    /// Of the command.
    command: usize,
    /// Of the outputs.
    outputs: usize,
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
        let at = part_offsets(text, &syn);
        let mut used = ConfigUse::new();
        let inputs = match &syn.inputs {
            Some(i) => self
                .resolve_inputs(drv, ctx, i, &mut used, true)
                .map_err(|e| e.shifted(at.inputs))?,
            None => Inputs::default(),
        };
        let (macro_name, args) = macro_call(&syn.command);
        let base = Parts::written(&syn, args, &at);
        let rule = RuleCtx {
            inputs: &inputs,
            base: &base,
            macro_name: macro_name.as_deref(),
            bin: syn.bin.as_deref(),
            loc,
        };
        let macro_foreach = rule
            .macro_name
            .and_then(|n| self.macros.get(n))
            .is_some_and(|m| m.foreach);
        if syn.foreach || macro_foreach {
            self.foreach_commands(drv, ctx, &rule, &used)?;
        } else {
            self.single_command(drv, ctx, &rule, syn.empty_input, &used)?;
        }
        self.record.config.extend(used);
        Ok(())
    }

    /// `foreach`: one command per normal input.
    fn foreach_commands(
        &mut self,
        drv: &mut Driver,
        ctx: &mut FileCtx,
        rule: &RuleCtx,
        used: &ConfigUse,
    ) -> Result<(), ParseError> {
        for entry in &rule.inputs.normal {
            let ext = flags::extension(&entry.text);
            let parts = self.apply_macro(rule.base, rule.macro_name, ext, true)?;
            let job = Job {
                rule,
                normal: std::slice::from_ref(entry),
                parts: &parts,
                ext,
                foreach: true,
            };
            self.command(drv, ctx, job, used.clone())?;
        }
        Ok(())
    }

    /// One command for all normal inputs.
    fn single_command(
        &mut self,
        drv: &mut Driver,
        ctx: &mut FileCtx,
        rule: &RuleCtx,
        empty_input: bool,
        used: &ConfigUse,
    ) -> Result<(), ParseError> {
        let (normal, name) = if !rule.inputs.normal.is_empty() || empty_input {
            (&rule.inputs.normal[..], rule.macro_name.map(str::to_string))
        } else {
            // With no inputs matched, a `!m.EMPTY` macro may say what to do.
            match self.empty_macro(rule.macro_name) {
                Some(empty) => (&[][..], Some(empty)),
                None => return Ok(()),
            }
        };
        let parts = self.apply_macro(rule.base, name.as_deref(), None, false)?;
        let job = Job {
            rule,
            normal,
            parts: &parts,
            ext: None,
            foreach: false,
        };
        self.command(drv, ctx, job, used.clone())
    }

    /// `!m.EMPTY` for the macro `!m`, if it is defined.
    fn empty_macro(&self, name: Option<&str>) -> Option<String> {
        name.map(|name| format!("{name}.EMPTY"))
            .filter(|empty| self.macros.get(empty).is_some())
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

    /// Expand variables in a part of the rule.
    pub(super) fn eval_rule(
        &self,
        drv: &Driver,
        ctx: &FileCtx,
        text: &str,
        nodes: Nodes,
        used: &mut ConfigUse,
    ) -> Result<String, ParseError> {
        Ok(eval(text, &self.env(drv, ctx), nodes, used)?)
    }
}

/// A `!name args` command split into the macro name and its arguments
/// (both `None` for a plain command).
fn macro_call(command: &str) -> (Option<String>, Option<String>) {
    if !command.starts_with('!') {
        return (None, None);
    }
    match command.split_once(' ') {
        Some((name, args)) => (Some(name.to_string()), Some(args.trim().to_string())),
        None => (Some(command.to_string()), None),
    }
}

/// Where the inputs, command and outputs start in a rule line whose text
/// after `:` is `text` (1-based, counted from the `:`).
fn part_offsets(text: &str, syn: &RuleSyntax) -> Offsets {
    let inputs = syn
        .inputs
        .as_deref()
        .and_then(|i| text.find(i))
        .unwrap_or(0);
    let first = text.find("|>").map_or(0, |i| i + 2);
    let command = first + text[first..].find(syn.command.as_str()).unwrap_or(0);
    let second = text[first..].find("|>").map_or(first, |i| first + i + 2);
    let outputs = second + text[second..].find(syn.outputs.as_str()).unwrap_or(0);
    Offsets {
        inputs: inputs + 1,
        command: command + 1,
        outputs: outputs + 1,
    }
}
