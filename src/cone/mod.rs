//! The cone of an incremental build: from the files that changed (the
//! scan's or the monitor's sparse [`crate::change::Changes`]), the
//! commands of the index that may have to run, found by linear passes over
//! the index's rows in place (no allocation per command), so that only
//! they are materialised (rule, identity, graph, plan). See DESIGN.md,
//! "The cone".
//!
//! A command is in the cone when it has a reason of its own (must-rerun, a
//! read or looked-up file not at the version it saw, an outside file that
//! moved, a changed exported variable, one of its outputs changed or gone),
//! or when it reads, or declares as an input, order-only input or group, an
//! output of a command in the cone (to a fixed point). Everything else is
//! up to date whatever runs, and keeps its record.

mod bits;
pub mod declared;
pub mod parsed;

use std::collections::{HashMap, HashSet};

use bits::Bits;

use crate::index::{CmdSlot, CommandView, FileSlot, Index};
use crate::reuse::Prior;

/// The commands of the last index this build materialises.
#[derive(Debug, Clone, Default)]
pub struct Cone {
    /// Their slots in the index, in the parse's rule order (variant, the
    /// Tupfile's directory, position), as [`Prior::rules`] gives them.
    pub slots: Vec<CmdSlot>,
    /// Membership by command slot.
    pub member: Vec<bool>,
    /// How many commands the index holds.
    pub total: usize,
    /// How many rules of the Tupfiles parsed in this build are materialised
    /// beside `slots` (all of those Tupfiles' rules; [`parsed`]).
    pub from_parse: usize,
    /// Outputs of the index's commands that the parse removed: stale.
    pub stale: Vec<crate::paths::ProjPath>,
}

impl Cone {
    /// True when the command in `slot` of the index is materialised.
    pub fn contains(&self, slot: CmdSlot) -> bool {
        self.member.get(slot.0 as usize).copied().unwrap_or(false)
    }

    /// How many commands the build materialises.
    pub fn materialised(&self) -> usize {
        self.slots.len() + self.from_parse
    }

    /// The `-vv` line and run log summary: "cone: 2 of 11,000 commands".
    pub fn describe(&self) -> String {
        format!("cone: {} of {} commands", self.materialised(), self.total)
    }
}

/// The rules of the cone (in the parse's order) as a build's rules, taken
/// from the index; each command keeps its recorded position.
pub fn rules(prior: &Prior, cone: Cone) -> Result<crate::buildrules::Rules, String> {
    let index = prior.index.as_ref().ok_or("no index")?;
    let rules = cone
        .slots
        .iter()
        .filter_map(|s| index.command_at(*s))
        .map(|c| c.to_rule())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the index holds a bad path: {e}"))?;
    Ok(crate::buildrules::Rules {
        rules,
        tupfiles: Vec::new(),
        tree: Vec::new(),
        reused: true,
        kept: Default::default(),
        parsed: 0,
        cone: Some(std::sync::Arc::new(cone)),
    })
}

/// A cone bigger than this fraction of the commands is not worth it: the
/// full graph costs the same and is the simpler path (from
/// [`MIN_COMMANDS`] commands on; below, every cost is small).
const MAX_SHARE: f64 = 0.5;

/// See [`MAX_SHARE`].
const MIN_COMMANDS: usize = 64;

/// The cone of the build `prior` describes (opened, scanned, confirmed;
/// rules re-used from it), or why the full graph is built instead.
pub fn find(prior: &Prior, project_state: &std::path::Path) -> Result<Cone, String> {
    let index = usable(prior, project_state)?;
    let mut finder = Finder::new(prior, index)?;
    finder.seed_by_changed_outputs();
    finder.close();
    let member = finder.member;
    let total = index.live_command_count();
    let slots = in_rule_order(index, &member, |_| true);
    too_big(slots.len(), total)?;
    Ok(Cone {
        slots,
        member,
        total,
        from_parse: 0,
        stale: Vec::new(),
    })
}

/// The index, if a cone may be taken of it at all.
fn usable<'a>(prior: &'a Prior, project_state: &std::path::Path) -> Result<&'a Index, String> {
    let index = prior.index.as_ref().ok_or("no index")?;
    if prior.full_deps && !index.full_deps() {
        return Err("full dependencies were turned on".into());
    }
    if !crate::guard::made::exists(project_state) {
        return Err("no record of the outputs tupfs made".into());
    }
    Ok(index)
}

/// Err when a cone of `count` of `total` commands is not worth it.
fn too_big(count: usize, total: usize) -> Result<(), String> {
    if total >= MIN_COMMANDS && count as f64 > total as f64 * MAX_SHARE {
        return Err(format!("{count} of {total} commands may run"));
    }
    Ok(())
}

/// The member slots that `keep` accepts, in the parse's rule order
/// (variant, directory, recorded position).
fn in_rule_order(
    index: &Index,
    member: &[bool],
    keep: impl Fn(&CommandView<'_>) -> bool,
) -> Vec<CmdSlot> {
    let mut slots: Vec<CmdSlot> = (0..index.command_count() as u32)
        .map(CmdSlot)
        .filter(|s| member[s.0 as usize])
        .filter(|s| index.command_at(*s).is_some_and(|c| keep(&c)))
        .collect();
    let key = |s: &CmdSlot| {
        let c = index.command_at(*s);
        c.map(|c| (c.variant(), c.source_dir(), c.position()))
    };
    slots.sort_by(|a, b| key(a).cmp(&key(b)));
    slots
}

/// The search: which commands are in, which files are "hot" (changed, or
/// an output of a command in), and the outputs and groups of the commands
/// in (for declared dependents).
struct Finder<'a> {
    prior: &'a Prior,
    index: &'a Index,
    member: Vec<bool>,
    /// Commands added since the last pass.
    fresh: Vec<CmdSlot>,
    hot: Bits,
    outputs: HashSet<&'a str>,
    groups: HashSet<(&'a str, &'a str)>,
    /// Outputs or groups were made hot without a command joining
    /// ([`parsed`]): one pass of [`Finder::close`] is due.
    seeded: bool,
}

impl<'a> Finder<'a> {
    /// The finder with every command that has a reason of its own in.
    fn new(prior: &'a Prior, index: &'a Index) -> Result<Finder<'a>, String> {
        let mut hot = Bits::new(index.file_count());
        for slot in prior.scan.changed() {
            hot.set(slot.0 as usize);
        }
        let mut f = Finder {
            prior,
            index,
            member: vec![false; index.command_count()],
            fresh: Vec::new(),
            hot,
            outputs: HashSet::new(),
            groups: HashSet::new(),
            seeded: false,
        };
        let vars = changed_variables(index);
        for c in index.commands() {
            if c.rule_flags().compile_db {
                // compile_commands.json is written from the whole graph.
                return Err("a rule has ^j (compile_commands.json)".into());
            }
            // `^t` producers always (their outputs' deletion waits on all
            // their consumers, which join with them).
            if c.rule_flags().transient || f.has_own_reason(&c, &vars) {
                f.add(c);
            }
        }
        Ok(f)
    }

    /// A reason to run that needs no other command of this build.
    fn has_own_reason(
        &self,
        c: &CommandView<'_>,
        vars: &HashMap<&str, crate::identity::Digest>,
    ) -> bool {
        let index = self.index;
        c.must_rerun()
            || c.reads().any(|o| {
                self.hot.get(o.file.0 as usize)
                    || index.file_at(o.file).map_or(true, |f| f.since() != o.since)
            })
            || self.outside_moved(c)
            || (!vars.is_empty()
                && c.sticky()
                    .any(|(n, d)| vars.get(n).is_some_and(|v| *v != d)))
            || (!index.all_up_to_date() && self.declared_unseen(c))
    }

    /// Full dependencies: an outside file it saw is not at that version,
    /// or it ran without them and this build has them on.
    fn outside_moved(&self, c: &CommandView<'_>) -> bool {
        let mut reads = c.outside_reads().peekable();
        if self.prior.full_deps && reads.peek().is_none() {
            return true;
        }
        reads.any(|(slot, seen)| {
            let changed = self
                .prior
                .scan
                .outside(slot)
                .map_or(true, |j| j.verdict.is_changed());
            let since = self.index.outside_at(slot).map(|f| f.since());
            changed || since != Some(seen)
        })
    }

    /// A declared input it never saw (a rule re-parsed while it was not
    /// selected): the plan says input-changed.
    fn declared_unseen(&self, c: &CommandView<'_>) -> bool {
        let seen: HashSet<FileSlot> = c.reads().map(|o| o.file).collect();
        c.inputs()
            .any(|p| self.index.file_slot(p).map_or(true, |s| !seen.contains(&s)))
    }

    /// Commands whose outputs changed or went missing (outputs are
    /// recorded files, so they are among the changes).
    fn seed_by_changed_outputs(&mut self) {
        let index = self.index;
        let changed: Vec<FileSlot> = self.prior.scan.changed().collect();
        for slot in changed {
            let Some(file) = index.file_at(slot) else {
                continue;
            };
            if let Some(c) = index.command_by_output(file.path()) {
                self.add(c);
            }
        }
    }

    fn add(&mut self, c: CommandView<'a>) {
        let i = c.slot().0 as usize;
        if self.member[i] {
            return;
        }
        self.member[i] = true;
        self.fresh.push(c.slot());
    }

    /// Add the dependents of what was added, pass after pass, until none.
    fn close(&mut self) {
        while !self.fresh.is_empty() || std::mem::take(&mut self.seeded) {
            for slot in std::mem::take(&mut self.fresh) {
                let Some(c) = self.index.command_at(slot) else {
                    continue;
                };
                for out in c.outputs().chain(c.extra_outputs()) {
                    if let Some(s) = self.index.file_slot(out) {
                        self.hot.set(s.0 as usize);
                    }
                    self.outputs.insert(out);
                }
                if let Some(g) = c.output_group() {
                    self.groups.insert(g);
                }
            }
            let joining: Vec<CommandView<'a>> = self
                .index
                .commands()
                .filter(|c| !self.member[c.slot().0 as usize] && self.depends_on_cone(c))
                .collect();
            for c in joining {
                self.add(c);
            }
        }
    }

    /// It reads a hot file, or declares an output or group of the cone.
    fn depends_on_cone(&self, c: &CommandView<'_>) -> bool {
        c.reads().any(|o| self.hot.get(o.file.0 as usize))
            || c.inputs()
                .chain(c.order_only())
                .any(|p| self.outputs.contains(p))
            || (!self.groups.is_empty() && c.input_groups().any(|g| self.groups.contains(&g)))
    }
}

/// The exported variables (`$NAME`) whose value now differs from the one
/// the index records, with the digest of the value now.
fn changed_variables(index: &Index) -> HashMap<&str, crate::identity::Digest> {
    index
        .variables()
        .filter_map(|(name, digest)| {
            let var = name.strip_prefix('$')?;
            let now = crate::reuse::env_digest(var);
            (now != digest).then_some((name, now))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::bits::Bits;

    #[test]
    fn bits_set_and_get() {
        let mut b = Bits::new(130);
        assert!(!b.get(129));
        b.set(129);
        b.set(0);
        assert!(b.get(129) && b.get(0) && !b.get(64));
        assert!(!b.get(1000), "out of range reads as clear");
    }
}
