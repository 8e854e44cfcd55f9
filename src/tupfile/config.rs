//! `tup.config`: the `CONFIG_NAME=value` settings behind `@(NAME)`.

use std::collections::BTreeMap;

use std::path::Path;

use super::{Location, ParseError};
use crate::paths::ProjPath;

/// The settings of one variant (or of the in-tree build).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// Values by name, without the `CONFIG_` prefix.
    pub values: BTreeMap<String, String>,
}

impl Config {
    /// Parse the text of a `tup.config` named `file` (for messages).
    pub fn parse(text: &str, file: &ProjPath) -> Result<Config, ParseError> {
        let mut values = BTreeMap::new();
        for (idx, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix('#') {
                // `# CONFIG_FOO is not set` means FOO=n; other # lines are comments.
                let rest = rest.trim();
                if let Some(name) = rest
                    .strip_prefix("CONFIG_")
                    .and_then(|r| r.strip_suffix(" is not set"))
                {
                    values.insert(name.trim().to_string(), "n".to_string());
                }
                continue;
            }
            let parsed = line
                .strip_prefix("CONFIG_")
                .and_then(|r| r.split_once('='))
                .filter(|(name, _)| !name.trim().is_empty());
            let Some((name, value)) = parsed else {
                return Err(ParseError {
                    location: Some(Location {
                        file: file.clone(),
                        line: u32::try_from(idx + 1).unwrap_or(u32::MAX),
                    }),
                    message: format!(
                        "expected 'CONFIG_NAME=value' or a '#' comment, found '{line}'"
                    ),
                });
            };
            values.insert(name.trim().to_string(), unquote(value.trim()).to_string());
        }
        Ok(Config { values })
    }

    /// The value of `name` (without `CONFIG_`), with the built-in
    /// `TUP_PLATFORM` and `TUP_ARCH` defaults.
    pub fn get(&self, name: &str) -> Option<String> {
        if let Some(v) = self.values.get(name) {
            return Some(v.clone());
        }
        match name {
            "TUP_PLATFORM" => Some(platform().to_string()),
            "TUP_ARCH" => Some(arch().to_string()),
            _ => None,
        }
    }
}

/// True when `command` calls varsed (`tup varsed` or `tupfs varsed`).
pub fn calls_varsed(command: &str) -> bool {
    let words: Vec<&str> = command.split_whitespace().collect();
    words.windows(2).any(|w| {
        w[1] == "varsed"
            && Path::new(w[0])
                .file_name()
                .is_some_and(|n| n == "tup" || n == "tupfs")
    })
}

/// Strip one surrounding pair of double quotes.
fn unquote(v: &str) -> &str {
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        &v[1..v.len() - 1]
    } else {
        v
    }
}

/// `@(TUP_PLATFORM)` as tup names it.
fn platform() -> &'static str {
    match std::env::consts::OS {
        "macos" => "macosx",
        "windows" => "win32",
        other => other,
    }
}

/// `@(TUP_ARCH)` as tup names it.
fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86" => "i386",
        "aarch64" => "arm64",
        "powerpc64" => "powerpc64",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_values_quotes_and_not_set() {
        let f = ProjPath::new("tup.config").unwrap();
        let c = Config::parse(
            "CONFIG_A=1\nCONFIG_B=\"x y\"\n# CONFIG_C is not set\n# comment\n\n",
            &f,
        )
        .unwrap();
        assert_eq!(c.get("A").as_deref(), Some("1"));
        assert_eq!(c.get("B").as_deref(), Some("x y"));
        assert_eq!(c.get("C").as_deref(), Some("n"));
        assert_eq!(c.get("D"), None);
        assert_eq!(c.get("TUP_PLATFORM").as_deref(), Some("linux"));
    }

    #[test]
    fn bad_line_is_located() {
        let f = ProjPath::new("v/tup.config").unwrap();
        let e = Config::parse("CONFIG_A=1\nFOO=2\n", &f).unwrap_err();
        assert_eq!(
            e.to_string(),
            "v/tup.config:2: expected 'CONFIG_NAME=value' or a '#' comment, found 'FOO=2'"
        );
    }

    #[test]
    fn finds_varsed_calls() {
        assert!(calls_varsed("tup varsed %f %o"));
        assert!(calls_varsed("cat x && /usr/bin/tupfs varsed a b"));
        assert!(!calls_varsed("echo varsed"));
    }
}
