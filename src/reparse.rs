//! Re-parsing only the Tupfiles whose parse inputs changed: which ones
//! (from what the index recorded of each parse), and whether such a
//! partial parse stands for a full one.
//!
//! A Tupfile is parsed again when a file its parse read changed (the
//! Tupfile, includes, `Tuprules.tup` probed, `run` scripts and the files
//! they read or looked for in vain, as traced), the listing of its
//! directory or of a directory it looked in changed (globs, named inputs,
//! `preload`, `run`), an environment variable `import` read or a config
//! value it read has another value, or its describing file is not the
//! same (a new `Tupfile` over a `Tupdefault`). New Tupfiles are parsed,
//! deleted ones dropped.
//!
//! The others' rules come from the index. That is exact when what other
//! Tupfiles saw of the re-parsed ones is as before ([`stands`]): their
//! outputs (named, globbed), their group memberships (`<group>` inputs,
//! `%<group>`), no new cycle. Otherwise every Tupfile is parsed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use crate::identity;
use crate::index::{Index, TupfileView};
use crate::paths::ProjPath;
use crate::reuse::{env_digest, Prior, TreeChanges, CONFIG_FILE};
use crate::tupfile::{self, Config, GroupRef, ParseOptions, Rule, SourceTree, TupfileKey};

/// Where a build's rules come from.
pub enum Decision {
    /// Nothing a parse read changed: every rule comes from the index.
    Reuse,
    /// Parse every Tupfile, for this reason.
    Full(String),
    /// Parse some Tupfiles only.
    Partial(Dirty),
}

/// The Tupfiles to parse again, and the tree as it is now.
pub struct Dirty {
    /// The Tupfiles to parse, each with why.
    pub parse: BTreeMap<TupfileKey, String>,
    /// Recorded Tupfiles that are gone (their rules are dropped).
    pub removed: BTreeSet<TupfileKey>,
    /// The source tree as walked now.
    pub tree: SourceTree,
    /// The options the walk was made with (and the parse is).
    pub options: ParseOptions,
}

impl Dirty {
    /// The Tupfiles whose recorded rules do not stand: parsed or removed.
    pub fn touched(&self) -> BTreeSet<TupfileKey> {
        self.parse.keys().chain(&self.removed).cloned().collect()
    }
}

/// Decide, once the scan is in `prior`, which Tupfiles to parse.
/// `changed_tree`: [`Prior::changed_tree`].
pub fn decide(prior: &Prior, root: &Path, changed_tree: &TreeChanges) -> Decision {
    let Some(index) = &prior.index else {
        return Decision::Full("no index".into());
    };
    let configs = match changed_configs(root, changed_tree) {
        Ok(configs) => configs,
        Err(why) => return Decision::Full(why),
    };
    let mut parse = BTreeMap::new();
    for view in index.tupfiles() {
        let Some(key) = key_of(&view) else {
            return Decision::Full("the index holds a bad path".into());
        };
        if let Some(why) = why_dirty(prior, index, &view, changed_tree, &configs) {
            parse.insert(key, why);
        }
    }
    if parse.is_empty() && changed_tree.is_empty() {
        return Decision::Reuse;
    }
    let options = prior.parse_options();
    let tree = match tupfile::scan_tree(root, &options) {
        Ok(tree) => tree,
        Err(e) => return Decision::Full(e.to_string()),
    };
    let removed = match walk_changes(index, &tree, &mut parse) {
        Ok(removed) => removed,
        Err(why) => return Decision::Full(why),
    };
    Decision::Partial(Dirty {
        parse,
        removed,
        tree,
        options,
    })
}

/// The key of a recorded parse.
pub fn key_of(view: &TupfileView) -> Option<TupfileKey> {
    Some(TupfileKey {
        variant: ProjPath::new(view.variant()).ok()?,
        dir: ProjPath::new(view.dir()).ok()?,
    })
}

/// Why: the file names in the directory `path` changed.
fn listing(path: &str) -> String {
    match path.is_empty() {
        true => "the files of the root directory changed".into(),
        false => format!("the files in {path} changed"),
    }
}

/// Why the recorded parse `view` must be done again, if it must.
fn why_dirty(
    prior: &Prior,
    index: &Index,
    view: &TupfileView,
    changed_tree: &TreeChanges,
    configs: &BTreeMap<String, Config>,
) -> Option<String> {
    if changed_tree.files.contains(view.dir()) {
        return Some(listing(view.dir()));
    }
    for read in view.reads() {
        let Some(file) = index.file_at(read.file) else {
            return Some("the index names a file it does not hold".into());
        };
        if prior.read_changed(read.file, read.since) {
            return Some(format!("{} changed", file.path()));
        }
        if changed_tree.files.contains(file.path()) {
            return Some(listing(file.path()));
        }
    }
    let config = configs.get(view.variant());
    for (name, digest) in view.vars() {
        let now = match (name.strip_prefix('$'), name.strip_prefix('@'), config) {
            (Some(var), _, _) => env_digest(var),
            (None, Some(var), Some(config)) => identity::value_digest(config.get(var).as_deref()),
            _ => continue,
        };
        if now != digest {
            return Some(format!("{name} changed"));
        }
    }
    None
}

/// The configs of the variants whose `tup.config` changed, by variant
/// (`""` in-tree); an unreadable one says why every Tupfile is parsed
/// (the parse then reports it).
fn changed_configs(
    root: &Path,
    changed_tree: &TreeChanges,
) -> Result<BTreeMap<String, Config>, String> {
    let mut configs = BTreeMap::new();
    for path in &changed_tree.files {
        let Ok(file) = ProjPath::new(path) else {
            continue;
        };
        if file.file_name() != CONFIG_FILE {
            continue;
        }
        let config = match fs::read_to_string(file.to_disk(root)) {
            Ok(text) => Config::parse(&text, &file).map_err(|e| e.to_string())?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config::default(),
            Err(e) => return Err(format!("cannot read {file}: {e}")),
        };
        configs.insert(file.parent().as_str().to_string(), config);
    }
    Ok(configs)
}

/// Compare the recorded Tupfiles with the tree walked now: add the new
/// ones and those now described by another file to `parse`, and return
/// the gone ones. Err: the variants changed (every Tupfile is parsed).
fn walk_changes(
    index: &Index,
    tree: &SourceTree,
    parse: &mut BTreeMap<TupfileKey, String>,
) -> Result<BTreeSet<TupfileKey>, String> {
    let variants: BTreeSet<ProjPath> = match tree.variants.is_empty() {
        true => [ProjPath::root()].into(),
        false => tree.variants.iter().cloned().collect(),
    };
    let mut recorded = BTreeMap::new();
    for view in index.tupfiles() {
        let key = key_of(&view).ok_or("the index holds a bad path")?;
        recorded.insert(key, view.tupfile());
    }
    let recorded_variants: BTreeSet<ProjPath> =
        recorded.keys().map(|k| k.variant.clone()).collect();
    if recorded_variants != variants {
        return Err("the variants changed".into());
    }
    let mut removed = BTreeSet::new();
    for (key, file) in &recorded {
        match tree.tupfiles.get(&key.dir) {
            None => {
                parse.remove(key);
                removed.insert(key.clone());
            }
            Some(now) if now.as_str() != *file => {
                parse.insert(key.clone(), format!("{now} describes it now"));
            }
            Some(_) => {}
        }
    }
    for variant in &variants {
        for (dir, file) in &tree.tupfiles {
            let key = TupfileKey {
                variant: variant.clone(),
                dir: dir.clone(),
            };
            if !recorded.contains_key(&key) {
                parse.insert(key, format!("{file} is new"));
            }
        }
    }
    Ok(removed)
}

/// What one Tupfile's rules declare that others can see: each rule's
/// output group and outputs (extra outputs included), in order.
type Declared = BTreeMap<TupfileKey, Vec<(Option<GroupRef>, Vec<ProjPath>)>>;

/// What `rules` declare, by Tupfile (rules that declare nothing left out).
fn declared<'a>(rules: impl Iterator<Item = &'a Rule>) -> Declared {
    let mut out = Declared::new();
    for rule in rules {
        if rule.outputs.is_empty() && rule.extra_outputs.is_empty() && rule.output_group.is_none() {
            continue;
        }
        let files = rule.outputs.iter().chain(&rule.extra_outputs).cloned();
        out.entry(TupfileKey::of_rule(rule))
            .or_default()
            .push((rule.output_group.clone(), files.collect()));
    }
    out
}

/// Does the partial parse stand for a full one? `old`: the recorded rules
/// of the touched Tupfiles; `parsed`: the partial parse (the kept rules
/// and the re-parsed Tupfiles' rules and records). Err says why not (then
/// every Tupfile is parsed).
pub fn stands(
    index: &Index,
    dirty: &Dirty,
    old: &[Rule],
    parsed: &tupfile::ParsedProject,
) -> Result<(), String> {
    let touched = dirty.touched();
    let is_touched = |r: &&Rule| touched.contains(&TupfileKey::of_rule(r));
    let before = declared(old.iter());
    let after = declared(parsed.rules.iter().filter(is_touched));
    let mut seen_dirs = BTreeSet::new();
    let mut groups = BTreeSet::new();
    for key in &touched {
        let (b, a) = (before.get(key), after.get(key));
        if b == a {
            continue;
        }
        let (b, a) = (b.map_or(&[][..], |v| v), a.map_or(&[][..], |v| v));
        changed_declarations(key, b, a, &mut seen_dirs, &mut groups);
    }
    if let Some(why) = sees_changed(index, &touched, &seen_dirs) {
        return Err(why);
    }
    let mut kept = parsed.rules.iter().filter(|r| !is_touched(r));
    if let Some(rule) = kept.find(|r| r.input_groups.iter().any(|g| groups.contains(g))) {
        return Err(format!(
            "a group that the rule at {} uses as input changed",
            rule.location
        ));
    }
    new_cycle(index, &touched, parsed)
}

/// Note what differs between the declarations `b` (before) and `a` (now)
/// of `key`: the directories (variant, logical directory) in which the
/// set of outputs changed, and the groups whose members changed.
fn changed_declarations(
    key: &TupfileKey,
    b: &[(Option<GroupRef>, Vec<ProjPath>)],
    a: &[(Option<GroupRef>, Vec<ProjPath>)],
    dirs: &mut BTreeSet<(ProjPath, ProjPath)>,
    groups: &mut BTreeSet<GroupRef>,
) {
    dirs.insert((key.variant.clone(), key.dir.clone()));
    let files = |d: &[(Option<GroupRef>, Vec<ProjPath>)]| -> BTreeSet<ProjPath> {
        d.iter().flat_map(|(_, f)| f.iter().cloned()).collect()
    };
    let (fb, fa) = (files(b), files(a));
    for path in fb.symmetric_difference(&fa) {
        let logical = tupfile::variant_logical(&key.variant, path);
        dirs.insert((key.variant.clone(), logical.parent()));
    }
    let members = |d: &[(Option<GroupRef>, Vec<ProjPath>)], g: &GroupRef| -> Vec<ProjPath> {
        d.iter()
            .filter(|(group, _)| group.as_ref() == Some(g))
            .flat_map(|(_, f)| f.iter().cloned())
            .collect()
    };
    for g in b.iter().chain(a).filter_map(|(g, _)| g.as_ref()) {
        if members(b, g) != members(a, g) {
            groups.insert(g.clone());
        }
    }
}

/// A kept Tupfile that looked at a directory whose outputs changed (its
/// own, one it depends on, one it read the listing of or a file in).
fn sees_changed(
    index: &Index,
    touched: &BTreeSet<TupfileKey>,
    dirs: &BTreeSet<(ProjPath, ProjPath)>,
) -> Option<String> {
    if dirs.is_empty() {
        return None;
    }
    for view in index.tupfiles() {
        let key = key_of(&view)?;
        if touched.contains(&key) {
            continue;
        }
        let looks = |path: &str| {
            ProjPath::new(path).is_ok_and(|p| dirs.contains(&(key.variant.clone(), p)))
        };
        let read = view
            .reads()
            .filter_map(|r| index.file_at(r.file))
            .any(|f| looks(f.path()));
        if looks(view.dir()) || view.depends_on().any(looks) || read {
            return Some(format!("{key} uses outputs whose declaration changed"));
        }
    }
    None
}

/// A re-parsed Tupfile that now depends on a kept one which (through kept
/// ones) depends on a re-parsed one: a cycle only a full parse reports.
fn new_cycle(
    index: &Index,
    touched: &BTreeSet<TupfileKey>,
    parsed: &tupfile::ParsedProject,
) -> Result<(), String> {
    let mut deps: BTreeMap<TupfileKey, Vec<TupfileKey>> = BTreeMap::new();
    for view in index.tupfiles() {
        let Some(key) = key_of(&view) else { continue };
        let on: Vec<TupfileKey> = view
            .depends_on()
            .filter_map(|d| ProjPath::new(d).ok())
            .map(|dir| TupfileKey {
                variant: key.variant.clone(),
                dir,
            })
            .collect();
        deps.insert(key, on);
    }
    for record in &parsed.tupfiles {
        let mut todo: Vec<TupfileKey> = record
            .depends_on
            .iter()
            .map(|dir| TupfileKey {
                variant: record.variant.clone(),
                dir: dir.clone(),
            })
            .filter(|k| !touched.contains(k))
            .collect();
        let mut visited = BTreeSet::new();
        while let Some(key) = todo.pop() {
            if !visited.insert(key.clone()) {
                continue;
            }
            for dep in deps.get(&key).into_iter().flatten() {
                if touched.contains(dep) {
                    return Err(format!("{key} depends on {dep}, re-parsed"));
                }
                todo.push(dep.clone());
            }
        }
    }
    Ok(())
}
