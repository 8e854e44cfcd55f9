//! A command's outputs: files (normal and extra), its output group and
//! `^regex` accesses to ignore; checked, then declared project-wide.

use super::command::Texts;
use super::directives::{FileCtx, TupfileParse};
use super::driver::{Driver, OutputInfo};
use super::emit::Parts;
use super::flags::{self, Part};
use super::inputs::compile;
use super::vars::{ConfigUse, Nodes};
use super::{GroupRef, Location, ParseError};
use crate::paths::ProjPath;

/// File names that describe the build: no rule may produce them.
const RESERVED_NAMES: [&str; 6] = [
    "Tupfile",
    "Tuprules.tup",
    "Tupfile.lua",
    "Tuprules.lua",
    "Tupdefault",
    "tup.config",
];

/// Declared outputs of one command.
#[derive(Default)]
pub struct Outs {
    /// Outputs (in `%o`): as written, and where they are.
    pub normal: Vec<(String, ProjPath)>,
    /// Extra outputs (left out of `%o`): as written, and where they are.
    pub extra: Vec<(String, ProjPath)>,
    /// The group the outputs join.
    pub group: Option<GroupRef>,
    /// `^regex` entries (without the `^`).
    pub ignore: Vec<String>,
}

impl Outs {
    /// Join `group`; a rule has one output group at most.
    fn set_group(&mut self, group: GroupRef) -> Result<(), ParseError> {
        if let Some(prev) = &self.group {
            return Err(ParseError::msg(format!(
                "a rule can put its outputs in one group only, found {prev} and {group}"
            )));
        }
        self.group = Some(group);
        Ok(())
    }

    /// Add the file `tok` (at `actual`) to the normal or `extra` outputs.
    fn add(&mut self, tok: &str, actual: ProjPath, extra: bool) -> Result<(), ParseError> {
        if self
            .normal
            .iter()
            .chain(&self.extra)
            .any(|(_, a)| *a == actual)
        {
            return Err(ParseError::msg(format!(
                "output '{tok}' is listed twice in one command"
            )));
        }
        let list = if extra {
            &mut self.extra
        } else {
            &mut self.normal
        };
        list.push((tok.to_string(), actual));
        Ok(())
    }
}

impl TupfileParse {
    /// The outputs (already %-expanded and evaluated in `out_text`) and the
    /// extra outputs (evaluated, then %-expanded with `%o`/`%O` known).
    pub(super) fn outputs(
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
            return outs.set_group(self.group(drv, tok)?);
        }
        let logical = self.output_path(drv, tok)?;
        outs.add(tok, drv.mirror(&logical), extra)
    }

    /// The source-tree (logical) path of the output file `tok`, if a rule
    /// may write it there.
    fn output_path(&self, drv: &Driver, tok: &str) -> Result<ProjPath, ParseError> {
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
        if RESERVED_NAMES.contains(&logical.file_name()) {
            return Err(ParseError::msg(format!(
                "output '{tok}' is a name reserved for build descriptions; outputs cannot be Tupfiles or tup.config"
            )));
        }
        check_variant_place(drv, tok, &logical)?;
        Ok(logical)
    }

    /// Record the command's outputs project-wide; one file, one rule.
    pub(super) fn declare_outputs(
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

/// An in-tree build writes nothing into a variant directory; a variant
/// build never overwrites the source tree.
fn check_variant_place(drv: &Driver, tok: &str, logical: &ProjPath) -> Result<(), ParseError> {
    if drv.in_variant_dir(logical) && drv.variant.is_root() {
        return Err(ParseError::msg(format!(
            "output '{tok}' is inside a variant directory"
        )));
    }
    if !drv.variant.is_root() && drv.is_source_file(logical) {
        return Err(ParseError::msg(format!(
            "output '{tok}' is a source file ({logical}); a variant build cannot overwrite the source tree"
        )));
    }
    Ok(())
}
