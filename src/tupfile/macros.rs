//! `!macro` definitions (`!cc = |> gcc -c %f -o %o |> %B.o`), aliases and
//! lookup by extension (`!cc.c` before `!cc`).

use std::collections::BTreeMap;

use super::rule::split_rule;

/// One macro: the parts of a rule, kept unexpanded until use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Macro {
    /// `foreach` in the definition.
    pub foreach: bool,
    /// Order-only inputs (after `|`).
    pub order_only: Option<String>,
    /// The command.
    pub command: String,
    /// The outputs (used when the rule names none).
    pub outputs: String,
    /// Extra outputs, appended to the rule's.
    pub extra_outputs: Option<String>,
}

/// The macros of one Tupfile parse, by name (with the `!`).
#[derive(Clone, Debug, Default)]
pub struct MacroDb {
    macros: BTreeMap<String, Macro>,
}

impl MacroDb {
    /// Define a macro from a whole `!name = value` line.
    pub fn define(&mut self, line: &str) -> Result<(), String> {
        let Some((name, value)) = line.split_once('=') else {
            return Err(format!("expected '=' after the macro name in '{line}'"));
        };
        let name = name.trim();
        if name.len() < 2 || name.contains([' ', '\t']) {
            return Err(format!(
                "expected a macro name like '!cc' before '=', found '{name}'"
            ));
        }
        let value = value.trim();
        if value.starts_with('!') {
            let Some(m) = self.macros.get(value).cloned() else {
                return Err(format!(
                    "unknown macro '{value}' in the alias '{name}'; define it first"
                ));
            };
            self.macros.insert(name.to_string(), m);
            return Ok(());
        }
        let r = split_rule(value)?;
        if r.bin.is_some() {
            return Err(format!("bins are not allowed in a macro ('{name}')"));
        }
        let (normal, order_only) = match r.inputs.as_deref().map(|i| i.split_once('|')) {
            Some(Some((n, o))) => (n.trim().to_string(), Some(o.trim().to_string())),
            Some(None) => (r.inputs.clone().unwrap_or_default(), None),
            None => (String::new(), None),
        };
        if !normal.is_empty() {
            return Err(format!(
                "macro '{name}' has normal inputs '{normal}'; a macro may only have order-only inputs (after '|')"
            ));
        }
        self.macros.insert(
            name.to_string(),
            Macro {
                foreach: r.foreach,
                order_only,
                command: r.command,
                outputs: r.outputs,
                extra_outputs: r.extra_outputs,
            },
        );
        Ok(())
    }

    /// The macro exactly named `name`.
    pub fn get(&self, name: &str) -> Option<&Macro> {
        self.macros.get(name)
    }

    /// `name.ext` if defined, else `name`.
    pub fn lookup(&self, name: &str, ext: Option<&str>) -> Option<&Macro> {
        ext.and_then(|e| self.macros.get(&format!("{name}.{e}")))
            .or_else(|| self.macros.get(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn define_alias_and_lookup() {
        let mut db = MacroDb::default();
        db.define("!cc = foreach | gen.h |> gcc -c %f -o %o |> %B.o | %B.d")
            .unwrap();
        db.define("!cc.S = |> as %f -o %o |> %B.o").unwrap();
        db.define("!c2 = !cc").unwrap();
        let m = db.get("!c2").unwrap();
        assert!(m.foreach);
        assert_eq!(m.order_only.as_deref(), Some("gen.h"));
        assert_eq!(m.extra_outputs.as_deref(), Some("%B.d"));
        assert_eq!(db.lookup("!cc", Some("S")).unwrap().command, "as %f -o %o");
        assert_eq!(
            db.lookup("!cc", Some("c")).unwrap().command,
            "gcc -c %f -o %o"
        );
        assert!(db.lookup("!nope", None).is_none());
    }

    #[test]
    fn errors() {
        let mut db = MacroDb::default();
        assert!(db
            .define("!m = x.c |> cc |>")
            .unwrap_err()
            .contains("normal inputs 'x.c'"));
        assert!(db
            .define("!m = !missing")
            .unwrap_err()
            .contains("unknown macro '!missing'"));
        assert!(db
            .define("!m = |> cc |> x {b}")
            .unwrap_err()
            .contains("bins are not allowed"));
        assert!(db.define("!m |> x").unwrap_err().contains("expected '='"));
    }
}
