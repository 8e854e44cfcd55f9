//! Structural command identity: a command's `key` and `signature` (SHA-256),
//! computed from what the command effectively is, never from its position.
//!
//! - [`CommandKey`] hashes the expanded command text and the rule directory
//!   only: it joins "the same command" across builds when its signature
//!   changes, so an edited recipe re-runs in place.
//! - [`Signature`] also hashes the sorted outputs, the shell, and every
//!   sticky variable (each `@(CONFIG)` the rule used, each exported
//!   environment variable): a changed signature re-runs the command.
//!
//! Every field is length-prefixed and tagged, so no two different inputs
//! hash the same by concatenation (`"ab" + "c"` vs `"a" + "bc"`).

use std::fmt;

use sha2::{Digest as _, Sha256};

use crate::tupfile::Rule;

/// A SHA-256 digest (of a file's contents, a variable's value, a command).
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(Sha256::digest(bytes).into())
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parse 64 lowercase or uppercase hex digits.
    pub fn from_hex(hex: &str) -> Option<Digest> {
        let bytes = hex.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            out[i] = (hi * 16 + lo) as u8;
        }
        Some(Digest(out))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

/// Which command this is across builds: SHA-256 of the expanded command text
/// and the rule directory. Two builds' commands with the same key are "the
/// same command", even when their signatures differ.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct CommandKey(pub Digest);

/// Everything that makes a command's result what it is: SHA-256 of the
/// command text, directory, shell, sorted outputs and sticky variables. A
/// changed signature re-runs the command.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Signature(pub Digest);

impl fmt::Display for CommandKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One variable a command depends on through a sticky edge: its name
/// (`@NAME` for a config value, `$NAME` for an exported environment
/// variable) and the digest of its value (see [`value_digest`]).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct StickyVar {
    /// `@NAME` or `$NAME`.
    pub name: String,
    /// [`value_digest`] of the value; "unset" and "empty" differ.
    pub value: Digest,
}

/// A command's identity: its key, its signature, and the sticky variables
/// that went into the signature (sorted by name), kept so a changed
/// signature can be explained ("$CFLAGS changed").
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Identity {
    /// Joins the same command across builds.
    pub key: CommandKey,
    /// Changes whenever the command must re-run.
    pub signature: Signature,
    /// The sticky variables folded into the signature, sorted by name.
    pub sticky: Vec<StickyVar>,
}

/// The digest of a variable's value. An unset variable and an empty one
/// have different digests.
pub fn value_digest(value: Option<&str>) -> Digest {
    let mut h = FieldHasher::new(b"tupfs value v1");
    match value {
        None => h.field(b"unset"),
        Some(v) => {
            h.field(b"set");
            h.field(v.as_bytes());
        }
    }
    h.finish()
}

/// The name under which a config value is recorded: `@NAME`.
pub fn config_var_name(name: &str) -> String {
    format!("@{name}")
}

/// The name under which an exported environment variable is recorded: `$NAME`.
pub fn env_var_name(name: &str) -> String {
    format!("${name}")
}

/// Compute the identity of `rule`. `env` answers the value of an exported
/// environment variable (`None` when unset); use [`process_env`] for the
/// environment tupfs itself runs in.
pub fn of(rule: &Rule, env: &dyn Fn(&str) -> Option<String>) -> Identity {
    let key = key_of(&rule.command, rule.dir.as_str());
    let sticky = sticky_vars(rule, env);

    let mut outputs: Vec<&str> = rule
        .outputs
        .iter()
        .chain(&rule.extra_outputs)
        .map(|p| p.as_str())
        .collect();
    outputs.sort_unstable();
    outputs.dedup();

    let mut h = FieldHasher::new(b"tupfs signature v1");
    h.field(rule.command.as_bytes());
    h.field(rule.dir.as_str().as_bytes());
    // The shell changes what the same text does (`^b` runs bash).
    h.field(if rule.flags.bash { b"bash" } else { b"sh" });
    h.count(outputs.len());
    for out in outputs {
        h.field(out.as_bytes());
    }
    h.count(sticky.len());
    for var in &sticky {
        h.field(var.name.as_bytes());
        h.field(&var.value.0);
    }
    Identity {
        key,
        signature: Signature(h.finish()),
        sticky,
    }
}

/// The key of a command: its expanded text and directory only.
pub fn key_of(command: &str, dir: &str) -> CommandKey {
    let mut h = FieldHasher::new(b"tupfs key v1");
    h.field(command.as_bytes());
    h.field(dir.as_bytes());
    CommandKey(h.finish())
}

/// The environment of this process, as [`of`] wants it. A value that is not
/// UTF-8 is read lossily (it still changes the digest when it changes).
pub fn process_env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

/// The sticky variables of `rule`, sorted by name, without duplicates.
fn sticky_vars(rule: &Rule, env: &dyn Fn(&str) -> Option<String>) -> Vec<StickyVar> {
    let config = rule.config_used.iter().map(|(name, value)| StickyVar {
        name: config_var_name(name),
        value: value_digest(Some(value)),
    });
    let exported = rule.exports.iter().map(|name| StickyVar {
        name: env_var_name(name),
        value: value_digest(env(name).as_deref()),
    });
    let mut vars: Vec<StickyVar> = config.chain(exported).collect();
    vars.sort();
    vars.dedup_by(|a, b| a.name == b.name);
    vars
}

/// SHA-256 over tagged, length-prefixed fields.
struct FieldHasher(Sha256);

impl FieldHasher {
    fn new(domain: &[u8]) -> FieldHasher {
        let mut h = FieldHasher(Sha256::new());
        h.field(domain);
        h
    }

    /// One field: its length (u64 LE), then its bytes.
    fn field(&mut self, bytes: &[u8]) {
        self.count(bytes.len());
        self.0.update(bytes);
    }

    /// A count of the fields that follow, so lists cannot bleed into each other.
    fn count(&mut self, n: usize) {
        self.0.update((n as u64).to_le_bytes());
    }

    fn finish(self) -> Digest {
        Digest(self.0.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::ProjPath;
    use crate::tupfile::Location;

    fn p(s: &str) -> ProjPath {
        ProjPath::new(s).unwrap()
    }

    fn rule(command: &str, dir: &str) -> Rule {
        Rule {
            location: Location {
                file: p("Tupfile"),
                line: 1,
            },
            dir: p(dir),
            source_dir: p(dir),
            variant: p(""),
            command: command.into(),
            display: None,
            flags: Default::default(),
            inputs: vec![],
            order_only: vec![],
            input_groups: vec![],
            outputs: vec![p("a.o"), p("b.o")],
            extra_outputs: vec![],
            output_group: None,
            ignore: vec![],
            config_used: Default::default(),
            exports: vec!["FOO".into()],
        }
    }

    fn env_with(value: Option<&'static str>) -> impl Fn(&str) -> Option<String> {
        move |name| (name == "FOO").then(|| value.map(String::from)).flatten()
    }

    #[test]
    fn stable_across_calls_and_hex_round_trips() {
        let r = rule("cc -c x.c", "src");
        let a = of(&r, &env_with(Some("1")));
        let b = of(&r, &env_with(Some("1")));
        assert_eq!(a, b);
        let hex = a.key.to_string();
        assert_eq!(hex.len(), 64);
        assert_eq!(Digest::from_hex(&hex), Some(a.key.0));
        assert_eq!(Digest::from_hex("zz"), None);
    }

    #[test]
    fn env_change_changes_signature_not_key() {
        let r = rule("cc -c x.c", "src");
        let one = of(&r, &env_with(Some("1")));
        let two = of(&r, &env_with(Some("2")));
        let empty = of(&r, &env_with(Some("")));
        let unset = of(&r, &env_with(None));
        assert_eq!(one.key, two.key);
        assert_ne!(one.signature, two.signature);
        assert_ne!(empty.signature, unset.signature, "unset differs from empty");
        assert_eq!(one.sticky[0].name, "$FOO");
    }

    #[test]
    fn config_change_changes_signature_not_key() {
        let mut r = rule("cc -c x.c", "src");
        r.config_used.insert("DEBUG".into(), "y".into());
        let y = of(&r, &env_with(None));
        r.config_used.insert("DEBUG".into(), "n".into());
        let n = of(&r, &env_with(None));
        assert_eq!(y.key, n.key);
        assert_ne!(y.signature, n.signature);
        assert!(n.sticky.iter().any(|v| v.name == "@DEBUG"));
    }

    #[test]
    fn output_order_is_irrelevant_but_outputs_count() {
        let r1 = rule("gen", "");
        let mut r2 = r1.clone();
        r2.outputs.reverse();
        let env = env_with(None);
        assert_eq!(of(&r1, &env).signature, of(&r2, &env).signature);
        r2.outputs.pop();
        assert_ne!(of(&r1, &env).signature, of(&r2, &env).signature);
        assert_eq!(of(&r1, &env).key, of(&r2, &env).key);
    }

    #[test]
    fn text_and_dir_do_not_bleed_into_each_other() {
        assert_ne!(key_of("ab", "c"), key_of("a", "bc"));
        assert_ne!(key_of("cc", "src"), key_of("cc", "lib"));
        let env = env_with(None);
        let mut r = rule("cc", "src");
        let sh = of(&r, &env);
        r.flags.bash = true;
        assert_ne!(sh.signature, of(&r, &env).signature, "shell counts");
    }
}
