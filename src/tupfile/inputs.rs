//! A rule's inputs: paths, globs, `{bins}`, `dir/<groups>` and `^regex`
//! exclusions, resolved to [`Entry`]s (a file as written and where it is).

use std::collections::BTreeSet;

use regex::Regex;

use super::directives::{FileCtx, TupfileParse};
use super::driver::Driver;
use super::glob;
use super::vars::{ConfigUse, Nodes};
use super::{GroupRef, ParseError};
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
    /// A file named by `text`, found at `actual` (not a glob match).
    pub fn path(text: String, actual: ProjPath) -> Entry {
        Entry {
            text,
            actual,
            glob: None,
            group: None,
        }
    }

    /// The real file, unless the entry is a group.
    pub fn file(&self) -> Option<&ProjPath> {
        self.group.is_none().then_some(&self.actual)
    }
}

/// Resolved inputs of a rule (groups are entries too, as in tup).
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// Before the `|`.
    pub normal: Vec<Entry>,
    /// After the `|`.
    pub order_only: Vec<Entry>,
}

/// An input path as written, split at its last `/`.
#[derive(Clone, Copy)]
struct Written<'a> {
    /// The whole token (for messages and `%f`).
    tok: &'a str,
    /// Everything before the last `/` (empty if none).
    dir: &'a str,
    /// The last component (maybe a glob).
    name: &'a str,
}

impl TupfileParse {
    /// Resolve an input list (`normal | order-only`). With `allow_normal`
    /// false (a macro's inputs) only the order-only part may be non-empty.
    pub(super) fn resolve_inputs(
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

    /// The entries of one side of the `|`, in order, without duplicates.
    fn input_list(
        &mut self,
        drv: &mut Driver,
        ctx: &FileCtx,
        text: &str,
    ) -> Result<Vec<Entry>, ParseError> {
        let mut list: Vec<Entry> = Vec::new();
        for tok in text.split_whitespace() {
            if let Some(name) = tok.strip_prefix('{') {
                list.extend(bin_entries(ctx, tok, name)?.iter().cloned());
            } else if let Some(re) = tok.strip_prefix('^') {
                // An exclusion applies to what is listed before it.
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
        check_visible(tok)?;
        let (dir, name) = match tok.rfind('/') {
            Some(i) => (&tok[..i], &tok[i + 1..]),
            None => ("", tok),
        };
        let w = Written { tok, dir, name };
        let dir = ProjPath::join(&self.dir, w.dir)
            .map_err(|e| ParseError::msg(format!("input '{tok}': {e}")))?;
        // The directory's own outputs must be declared before we look.
        self.parse_first(drv, &dir)?;
        if !glob::is_glob(name) {
            return Ok(vec![self.named_input(drv, &dir, w)?]);
        }
        if glob::is_glob(w.dir) {
            return Err(ParseError::msg(format!(
                "input '{tok}': globs are only allowed in the last path component"
            )));
        }
        Ok(self.glob_inputs(drv, &dir, w))
    }

    /// Every source file and visible output in `dir` the glob matches.
    fn glob_inputs(&mut self, drv: &Driver, dir: &ProjPath, w: Written) -> Vec<Entry> {
        self.record.globbed_dirs.insert(dir.clone());
        let prefix = if w.dir.is_empty() {
            String::new()
        } else {
            format!("{}/", w.dir)
        };
        let mut found = Vec::new();
        for cand in drv.glob_candidates(dir, &self.dir) {
            if let Some(g) = glob::matches(w.name, &cand) {
                found.push(Entry {
                    text: format!("{prefix}{cand}"),
                    actual: actual_input(drv, &dir.child(&cand)),
                    glob: Some(g),
                    group: None,
                });
            }
        }
        found
    }

    /// A file named without wildcards: a source file, or an output this
    /// Tupfile (or the one of the file's own directory) declared.
    fn named_input(&self, drv: &Driver, dir: &ProjPath, w: Written) -> Result<Entry, ParseError> {
        let tok = w.tok;
        let logical = ProjPath::join(dir, w.name)
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
        Ok(Entry::path(tok.to_string(), actual_input(drv, &logical)))
    }

    /// `dir/<name>`, as an input or an output.
    pub(super) fn group(&self, drv: &Driver, tok: &str) -> Result<GroupRef, ParseError> {
        let bad = || {
            ParseError::msg(format!(
                "expected a group written 'dir/<name>', found '{tok}'"
            ))
        };
        let lt = tok.find('<').unwrap_or(0);
        let (dir_text, rest) = tok.split_at(lt);
        let name = rest[1..]
            .strip_suffix('>')
            .filter(|n| !n.is_empty() && !n.contains(['<', '>', '/']))
            .ok_or_else(bad)?;
        if !(dir_text.is_empty() || dir_text.ends_with('/')) {
            return Err(bad());
        }
        let dir = ProjPath::join(&self.dir, dir_text)
            .map_err(|e| ParseError::msg(format!("group '{tok}': {e}")))?;
        Ok(GroupRef {
            dir: drv.mirror(&dir),
            name: name.to_string(),
        })
    }
}

/// The entries of the bin `{name}` (`tok` as written).
fn bin_entries<'a>(ctx: &'a FileCtx, tok: &str, name: &str) -> Result<&'a [Entry], ParseError> {
    let name = name
        .strip_suffix('}')
        .ok_or_else(|| ParseError::msg(format!("expected '}}' to close the bin '{tok}'")))?;
    let entries = ctx.bins.get(name).ok_or_else(|| {
        ParseError::msg(format!(
            "unknown bin '{{{name}}}'; bins are filled by earlier rules of the same file"
        ))
    })?;
    Ok(entries)
}

/// Refuse `.` and hidden components: tup never lists hidden files.
fn check_visible(tok: &str) -> Result<(), ParseError> {
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
    Ok(())
}

/// Where an input really is: a declared output lives in the variant.
fn actual_input(drv: &Driver, logical: &ProjPath) -> ProjPath {
    if drv.outputs.contains_key(logical) {
        drv.mirror(logical)
    } else {
        logical.clone()
    }
}

/// The regex of a `^regex` token (given without the `^`).
pub(super) fn compile(re: &str) -> Result<Regex, ParseError> {
    Regex::new(re).map_err(|e| ParseError::msg(format!("bad regular expression '^{re}': {e}")))
}

/// Drop later duplicates, keeping the first occurrence's position.
pub(super) fn dedup(list: &mut Vec<Entry>) {
    let mut seen = BTreeSet::new();
    list.retain(|e| seen.insert((e.group.clone(), e.actual.clone())));
}
