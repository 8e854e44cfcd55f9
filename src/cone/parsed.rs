//! The cone of a build that parsed some Tupfiles again (a partial parse
//! that stands, [`crate::reparse`]): the parsed rules are compared with the
//! index's record of those Tupfiles' commands; the rules added, removed or
//! changed join the cone as seeds with everything that reads or declares
//! their outputs, and the removed rules' outputs are stale. Every rule of
//! the parsed Tupfiles is materialised (their records are replaced), the
//! other commands only when in the cone. See DESIGN.md, "The cone".

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::{in_rule_order, too_big, usable, Cone, Finder};
use crate::buildrules::Rules;
use crate::index::{CommandView, Index};
use crate::paths::ProjPath;
use crate::reuse::Prior;
use crate::tupfile::Rule;

/// The rules of `rules` (a partial parse) narrowed to the cone, or `rules`
/// as they are when the whole graph must be built (why in `-vv`).
pub fn narrow(prior: &Prior, project_state: &std::path::Path, rules: Rules) -> Rules {
    if rules.reused || rules.kept.is_empty() || rules.cone.is_some() {
        return rules;
    }
    match cone_of(prior, project_state, &rules) {
        Ok((cone, picked)) => {
            log::debug!("timing: {} after the parse", cone.describe());
            Rules {
                rules: picked,
                cone: Some(Arc::new(cone)),
                ..rules
            }
        }
        Err(why) => {
            log::debug!("no cone ({why}): every command is materialised");
            rules
        }
    }
}

/// The cone of the partial parse `rules`, and its rules in parse order.
fn cone_of(
    prior: &Prior,
    project_state: &std::path::Path,
    rules: &Rules,
) -> Result<(Cone, Vec<Rule>), String> {
    let began = std::time::Instant::now();
    let index = usable(prior, project_state)?;
    let touched = Touched::of(index, rules);
    let parsed: Vec<&Rule> = rules.rules.iter().filter(|r| touched.rule(r)).collect();
    if parsed.iter().any(|r| r.flags.compile_db) {
        // compile_commands.json is written from the whole graph.
        return Err("a rule has ^j (compile_commands.json)".into());
    }
    let total = index.live_command_count();
    too_big(parsed.len(), total)?;
    let mut finder = Finder::new(prior, index)?;
    let own = began.elapsed();
    finder.seed_by_changed_outputs();
    let stale = compare(&mut finder, index, &touched, &parsed)?;
    finder.close();
    log::debug!(
        "timing: cone after the parse: own reasons in {own:?}, compared and closed in {:?}",
        began.elapsed()
    );
    let member = std::mem::take(&mut finder.member);
    let slots = in_rule_order(index, &member, |c| !touched.command(c));
    too_big(slots.len() + parsed.len(), total)?;
    let mut picked = slots
        .iter()
        .filter_map(|s| index.command_at(*s))
        .map(|c| c.to_rule())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the index holds a bad path: {e}"))?;
    picked.extend(parsed.iter().map(|r| (*r).clone()));
    // Each directory's rules come from one side, each side in order.
    picked.sort_by(|a, b| (&a.variant, &a.source_dir).cmp(&(&b.variant, &b.source_dir)));
    let cone = Cone {
        slots,
        member,
        total,
        from_parse: parsed.len(),
        stale,
    };
    Ok((cone, picked))
}

/// The Tupfiles whose recorded rules the parse replaced (parsed or gone):
/// their directories by variant.
struct Touched(HashMap<String, HashSet<String>>);

impl Touched {
    fn of(index: &Index, rules: &Rules) -> Touched {
        let mut set: HashMap<String, HashSet<String>> = HashMap::new();
        let mut add = |variant: &str, dir: &str| {
            let dirs = set.entry(variant.to_string()).or_default();
            dirs.insert(dir.to_string());
        };
        for view in index.tupfiles() {
            let key = crate::reparse::key_of(&view);
            if !key.is_some_and(|k| rules.kept.contains(&k)) {
                add(view.variant(), view.dir());
            }
        }
        for t in &rules.tupfiles {
            add(t.variant.as_str(), t.dir.as_str());
        }
        Touched(set)
    }

    fn has(&self, variant: &str, dir: &str) -> bool {
        self.0.get(variant).is_some_and(|dirs| dirs.contains(dir))
    }

    fn rule(&self, r: &Rule) -> bool {
        self.has(r.variant.as_str(), r.source_dir.as_str())
    }

    fn command(&self, c: &CommandView<'_>) -> bool {
        self.has(c.variant(), c.source_dir())
    }
}

/// Match the parsed rules with the recorded commands of their Tupfiles:
/// the changed and new ones and the removed ones seed `finder`. Returns
/// the removed ones' outputs (stale).
fn compare<'a>(
    finder: &mut Finder<'a>,
    index: &'a Index,
    touched: &Touched,
    parsed: &[&'a Rule],
) -> Result<Vec<ProjPath>, String> {
    let old: Vec<CommandView<'a>> = index.commands().filter(|c| touched.command(c)).collect();
    let mut matched = HashSet::new();
    for rule in parsed {
        let prior = recorded(index, touched, rule, &matched);
        if let Some(p) = &prior {
            matched.insert(p.slot());
        }
        if prior.as_ref().is_some_and(|p| same_rule(p, rule)) {
            continue;
        }
        if let Some(p) = prior {
            finder.add(p);
        }
        finder.seed_rule(rule);
    }
    let made: HashSet<&str> = parsed
        .iter()
        .flat_map(|r| r.outputs.iter().chain(&r.extra_outputs))
        .map(|p| p.as_str())
        .collect();
    let mut stale = Vec::new();
    for c in old.into_iter().filter(|c| !matched.contains(&c.slot())) {
        for out in c.outputs().chain(c.extra_outputs()) {
            if !made.contains(out) {
                stale.push(ProjPath::new(out).map_err(|e| format!("the index holds {e}"))?);
            }
        }
        finder.add(c);
    }
    stale.sort();
    stale.dedup();
    Ok(stale)
}

/// The recorded command of a touched Tupfile that `rule` stands for: the
/// maker of its first output, else an unmatched one with its text in its
/// directory.
fn recorded<'a>(
    index: &'a Index,
    touched: &Touched,
    rule: &Rule,
    matched: &HashSet<crate::index::CmdSlot>,
) -> Option<CommandView<'a>> {
    let free = |c: &CommandView<'_>| touched.command(c) && !matched.contains(&c.slot());
    match rule.outputs.iter().chain(&rule.extra_outputs).next() {
        Some(out) => index.command_by_output(out.as_str()).filter(free),
        None => {
            let key = crate::identity::key_of(&rule.command, rule.dir.as_str());
            let mut same = index.commands_by_key(&key).filter(free);
            same.find(|c| c.dir() == rule.dir.as_str())
        }
    }
}

/// The recorded command is `rule` but for where it is written.
fn same_rule(recorded: &CommandView<'_>, rule: &Rule) -> bool {
    recorded.to_rule().is_ok_and(|mut r| {
        r.location = rule.location.clone();
        r == *rule
    })
}

impl<'a> Finder<'a> {
    /// A parsed rule that is new or changed: in (it runs), and so is every
    /// command that reads, or declares, one of its outputs or its group.
    fn seed_rule(&mut self, rule: &'a Rule) {
        for out in rule.outputs.iter().chain(&rule.extra_outputs) {
            if let Some(s) = self.index.file_slot(out.as_str()) {
                self.hot.set(s.0 as usize);
            }
            self.outputs.insert(out.as_str());
        }
        if let Some(g) = &rule.output_group {
            self.groups.insert((g.dir.as_str(), g.name.as_str()));
        }
        self.seeded = true;
    }
}
