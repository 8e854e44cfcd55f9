//! Variables (`$(NAME)`), config values (`@(NAME)`, `$(CONFIG_NAME)`), node
//! variables (`&(name)`) and their expansion (`eval`).
//!
//! Every variable remembers which config values went into it, so a command
//! that uses `$(CFLAGS)` where `CFLAGS = @(OPT)` depends on `OPT`.

use std::collections::BTreeMap;

use super::config::Config;
use crate::paths::ProjPath;

/// Config values read, by name (without `CONFIG_`): `None` if unset.
pub type ConfigUse = BTreeMap<String, Option<String>>;

/// A `$`-variable's value and the config values it was built from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Var {
    /// The expanded value.
    pub value: String,
    /// Config values that went into the value.
    pub deps: ConfigUse,
}

/// The `$`-variables of one Tupfile parse.
#[derive(Clone, Debug, Default)]
pub struct VarDb {
    vars: BTreeMap<String, Var>,
}

impl VarDb {
    /// Look a variable up.
    pub fn get(&self, name: &str) -> Option<&Var> {
        self.vars.get(name)
    }

    /// `NAME = value` / `NAME := value`.
    pub fn set(&mut self, name: &str, value: String, deps: ConfigUse) {
        self.vars.insert(name.to_string(), Var { value, deps });
    }

    /// `NAME += value`: appends with one space (sets if unset).
    pub fn append(&mut self, name: &str, value: String, deps: ConfigUse) {
        match self.vars.get_mut(name) {
            Some(v) => {
                v.value.push(' ');
                v.value.push_str(&value);
                v.deps.extend(deps);
            }
            None => self.set(name, value, deps),
        }
    }
}

/// Node variables (`&name = path`): project paths, by name.
pub type NodeVars = BTreeMap<String, Vec<ProjPath>>;

/// What `eval` needs to know about where it is.
pub struct EvalEnv<'a> {
    /// The Tupfile's variables.
    pub vars: &'a VarDb,
    /// The variant's config.
    pub config: &'a Config,
    /// The Tupfile's node variables.
    pub nodes: &'a NodeVars,
    /// The (source) directory of the Tupfile being parsed.
    pub tupfile_dir: &'a ProjPath,
    /// The directory of the file being read (differs inside includes).
    pub cur_dir: &'a ProjPath,
    /// The variant directory (the root for an in-tree build).
    pub variant: &'a ProjPath,
}

/// Whether `&(name)` may appear, and relative to which directory.
#[derive(Clone, Copy, Debug)]
pub enum Nodes<'a> {
    /// `&()` is an error here (assignments, conditions, outputs).
    Forbidden,
    /// Expand `&()` relative to this directory.
    RelativeTo(&'a ProjPath),
}

/// Expand `$()`, `@()` and `&()` in `text`. Config values read are added to
/// `used`. Errors carry the 1-based column within `text`.
pub fn eval(
    text: &str,
    env: &EvalEnv,
    nodes: Nodes,
    used: &mut ConfigUse,
) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let c = bytes[i];
        let next = bytes.get(i + 1).copied();
        if c == b'\\' && matches!(next, Some(b'$') | Some(b'@')) && bytes.get(i + 2) == Some(&b'(')
        {
            // `\$(` and `\@(` escape the expansion.
            out.push(next.map(char::from).unwrap_or('$'));
            i += 2;
            continue;
        }
        if matches!(c, b'$' | b'@' | b'&') && next == Some(b'(') {
            let Some(close) = text[i + 2..].find(')') else {
                return Err(format!(
                    "column {}: expected ')' to close '{}('",
                    i + 1,
                    char::from(c)
                ));
            };
            let name = &text[i + 2..i + 2 + close];
            match c {
                b'$' => dollar(name, env, &mut out, used),
                b'@' => at(name, env, &mut out, used),
                _ => node(name, env, nodes, i, &mut out)?,
            }
            i += close + 3;
            continue;
        }
        let ch_len = text[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&text[i..i + ch_len]);
        i += ch_len;
    }
    Ok(out)
}

/// `$(name)`: a `TUP_` built-in, a config value or a variable (unset: empty).
fn dollar(name: &str, env: &EvalEnv, out: &mut String, used: &mut ConfigUse) {
    match name {
        "TUP_CWD" => out.push_str(&env.cur_dir.relative_to(env.tupfile_dir)),
        "TUP_VARIANTDIR" => out.push_str(&env.variant.relative_to(env.tupfile_dir)),
        "TUP_VARIANT_OUTPUTDIR" => {
            let mirror = variant_mirror(env.variant, env.tupfile_dir);
            out.push_str(&mirror.relative_to(env.tupfile_dir));
        }
        _ => match name.strip_prefix("CONFIG_").filter(|n| !n.is_empty()) {
            Some(cfg) => at(cfg, env, out, used),
            None => {
                if let Some(v) = env.vars.get(name) {
                    out.push_str(&v.value);
                    used.extend(v.deps.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
        },
    }
}

/// `@(name)`: a config value (unset: empty), recorded as used either way.
fn at(name: &str, env: &EvalEnv, out: &mut String, used: &mut ConfigUse) {
    let value = env.config.get(name);
    if let Some(v) = &value {
        out.push_str(v);
    }
    used.insert(name.to_string(), value);
}

/// `&(name)`: a node variable's paths, relative to the directory `nodes` gives.
fn node(
    name: &str,
    env: &EvalEnv,
    nodes: Nodes,
    col: usize,
    out: &mut String,
) -> Result<(), String> {
    let Nodes::RelativeTo(dir) = nodes else {
        return Err(format!(
            "column {}: &-variables are not allowed here (only in rule inputs, commands, include and run lines)",
            col + 1
        ));
    };
    let Some(paths) = env.nodes.get(name) else {
        return Err(format!(
            "column {}: unknown node variable '&({name})'; expected one set with '&{name} = path'",
            col + 1
        ));
    };
    let rel: Vec<String> = paths.iter().map(|p| p.relative_to(dir)).collect();
    out.push_str(&rel.join(" "));
    Ok(())
}

/// Where the variant mirrors the source directory `dir`.
pub fn variant_mirror(variant: &ProjPath, dir: &ProjPath) -> ProjPath {
    if variant.is_root() {
        dir.clone()
    } else {
        ProjPath::join(variant, dir.as_str()).unwrap_or_else(|_| variant.clone())
    }
}

/// The source-tree (logical) path that `path`, under `variant`, mirrors
/// (the inverse of [`variant_mirror`]; a path outside the variant is its
/// own logical path).
pub fn variant_logical(variant: &ProjPath, path: &ProjPath) -> ProjPath {
    if path == variant {
        return ProjPath::root();
    }
    path.as_str()
        .strip_prefix(variant.as_str())
        .and_then(|rest| rest.strip_prefix('/'))
        .and_then(|rest| ProjPath::new(rest).ok())
        .unwrap_or_else(|| path.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_with<'a>(
        vars: &'a VarDb,
        config: &'a Config,
        nodes: &'a NodeVars,
        dirs: &'a (ProjPath, ProjPath, ProjPath),
    ) -> EvalEnv<'a> {
        EvalEnv {
            vars,
            config,
            nodes,
            tupfile_dir: &dirs.0,
            cur_dir: &dirs.1,
            variant: &dirs.2,
        }
    }

    #[test]
    fn expands_vars_config_nodes_and_escapes() {
        let mut vars = VarDb::default();
        let mut deps = ConfigUse::new();
        deps.insert("OPT".into(), Some("2".into()));
        vars.set("CFLAGS", "-O2".into(), deps);
        let mut config = Config::default();
        config.values.insert("FOO".into(), "y".into());
        let mut nodes = NodeVars::new();
        nodes.insert("lib".into(), vec![ProjPath::new("src/lib").unwrap()]);
        let dirs = (
            ProjPath::new("app").unwrap(),
            ProjPath::root(),
            ProjPath::new("build").unwrap(),
        );
        let env = env_with(&vars, &config, &nodes, &dirs);
        let mut used = ConfigUse::new();
        let app = ProjPath::new("app").unwrap();
        let s = eval(
            "$(CFLAGS) @(FOO) $(CONFIG_BAR) \\$(X) $(NONE)&(lib) $(TUP_CWD) $ @ & $(TUP_VARIANT_OUTPUTDIR) $(TUP_VARIANTDIR)",
            &env,
            Nodes::RelativeTo(&app),
            &mut used,
        )
        .unwrap();
        assert_eq!(s, "-O2 y  $(X) ../src/lib .. $ @ & ../build/app ../build");
        assert_eq!(used.get("OPT"), Some(&Some("2".into())));
        assert_eq!(used.get("FOO"), Some(&Some("y".into())));
        assert_eq!(used.get("BAR"), Some(&None));
    }

    #[test]
    fn errors_have_columns() {
        let vars = VarDb::default();
        let config = Config::default();
        let nodes = NodeVars::new();
        let dirs = (ProjPath::root(), ProjPath::root(), ProjPath::root());
        let env = env_with(&vars, &config, &nodes, &dirs);
        let mut used = ConfigUse::new();
        assert_eq!(
            eval("ab $(X", &env, Nodes::Forbidden, &mut used).unwrap_err(),
            "column 4: expected ')' to close '$('"
        );
        assert!(eval("&(x)", &env, Nodes::Forbidden, &mut used)
            .unwrap_err()
            .contains("not allowed here"));
        assert!(eval("&(x)", &env, Nodes::RelativeTo(&dirs.0), &mut used)
            .unwrap_err()
            .contains("unknown node variable '&(x)'"));
    }

    #[test]
    fn append_adds_one_space() {
        let mut v = VarDb::default();
        v.append("A", "x".into(), ConfigUse::new());
        v.append("A", "y".into(), ConfigUse::new());
        assert_eq!(v.get("A").unwrap().value, "x y");
    }
}
