//! `%<group>` in a command: replaced, once every Tupfile is parsed, by the
//! files of the named input group, relative to the command's directory.
//!
//! What tup 0.7.11 does (checked with `tup` and `tup generate` side by side):
//! - `%<name>` stands for every group called `<name>` among the command's
//!   inputs (normal or order-only), whatever directory the group is in; the
//!   files of all of them are listed, space separated.
//! - A group's files are every output and extra output a rule put in it,
//!   written relative to the directory the command runs in
//!   (`../gen/a.up`; in a variant, relative to the variant's mirror).
//! - tup lists them in node-id order, i.e. the order they were first
//!   created, which depends on the build's history. tupfs uses the order a
//!   fresh parse declares them (variant, directory of the declaring
//!   Tupfile, rule position, outputs before extra outputs), which is tup's
//!   order for a fresh build parsed in directory order; several groups of
//!   the same name follow in the order the rule lists them.
//! - A group that is an input but has no files expands to nothing.
//! - A `%<name>` whose group is not an input fails: tup says at run time
//!   "Unable to find group '<ups>' as an input ...". tupfs says so while
//!   parsing, at the rule's file and line.
//! - The display text of `^ TEXT^` keeps `%<name>` as written (tup shows
//!   it unexpanded); only the command is expanded.
//! - The expansion runs on the final command text (after %-flags and
//!   variables), as tup expands the stored command: `%%<x>` also becomes a
//!   group reference.
//! - `%<name>.res` (tup's response file) is not supported: an error.
//!
//! The members become part of the command's text, so adding or removing a
//! member changes the command's identity and re-runs it.

use std::collections::BTreeMap;

use super::{GroupRef, ParseError, Rule};
use crate::paths::ProjPath;

/// Expand the `%<group>` references in the commands of `rules`, which must
/// be every rule of the project (the members of a group come from all of
/// them).
pub fn expand_group_flags(rules: &mut [Rule]) -> Result<(), ParseError> {
    expand_group_flags_where(rules, &|_| true)
}

/// [`expand_group_flags`] in the rules `pick` chooses only (the others
/// were expanded before: rules taken back from the index), with the
/// members of every group from all of `rules`.
pub fn expand_group_flags_where(
    rules: &mut [Rule],
    pick: &dyn Fn(&Rule) -> bool,
) -> Result<(), ParseError> {
    let members = members(rules);
    for rule in rules.iter_mut().filter(|r| pick(r)) {
        if rule.command.contains("%<") {
            rule.command = expand(&rule.command, rule, &members)
                .map_err(|m| ParseError::at(&rule.location, m))?;
        }
    }
    Ok(())
}

/// Every group's files, in declaration order.
fn members(rules: &[Rule]) -> BTreeMap<GroupRef, Vec<ProjPath>> {
    let mut members: BTreeMap<GroupRef, Vec<ProjPath>> = BTreeMap::new();
    for rule in rules {
        if let Some(group) = &rule.output_group {
            let files = rule.outputs.iter().chain(&rule.extra_outputs).cloned();
            members.entry(group.clone()).or_default().extend(files);
        }
    }
    members
}

/// `command` (the command of `rule`) with each `%<name>` replaced.
fn expand(
    command: &str,
    rule: &Rule,
    members: &BTreeMap<GroupRef, Vec<ProjPath>>,
) -> Result<String, String> {
    let mut out = String::with_capacity(command.len());
    let mut rest = command;
    while let Some(at) = rest.find("%<") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let Some(end) = after.find('>') else {
            return Err(format!(
                "expected '>' to close the group name after '%<' in the command '{command}'"
            ));
        };
        let name = &after[..end];
        if name.is_empty() || name.contains(|c: char| c.is_whitespace() || "</".contains(c)) {
            return Err(format!(
                "expected '%<name>' naming an input group, found '%<{name}>' in the command '{command}'"
            ));
        }
        rest = &after[end + 1..];
        if rest.starts_with(".res") {
            return Err(format!(
                "'%<{name}>.res' (a response file) is not supported by tupfs; use '%<{name}>' to list the group's files in the command"
            ));
        }
        out.push_str(&files_of(name, rule, members)?.join(" "));
    }
    out.push_str(rest);
    Ok(out)
}

/// The files of the input groups of `rule` called `<name>`, relative to the
/// directory the command runs in.
fn files_of(
    name: &str,
    rule: &Rule,
    members: &BTreeMap<GroupRef, Vec<ProjPath>>,
) -> Result<Vec<String>, String> {
    let mut groups: Vec<&GroupRef> = Vec::new();
    for g in rule.input_groups.iter().filter(|g| g.name == name) {
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    if groups.is_empty() {
        return Err(format!(
            "%<{name}> is used but no group '<{name}>' is an input of this command; expected it among the inputs, e.g. ': | dir/<{name}> |> ...'"
        ));
    }
    Ok(groups
        .into_iter()
        .filter_map(|g| members.get(g))
        .flatten()
        .map(|file| file.relative_to(&rule.dir))
        .collect())
}
