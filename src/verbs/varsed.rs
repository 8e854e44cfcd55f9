//! `varsed [--binary] IN OUT`: copy IN to OUT (`-`: stdin, stdout) with
//! every `@NAME@` replaced by the config value of NAME (an unset one by
//! nothing), as tup's `tup varsed`. Inside a build, the values come from
//! the command's environment ([`VARDICT_ENV`], set by the engine for a
//! command that calls varsed, whose identity then holds the whole config,
//! so a config change re-runs it); run by hand, from the `tup.config` of
//! the variant the current directory is in.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};

use crate::paths::ProjPath;
use crate::project::Project;
pub use crate::tupfile::calls_varsed;
use crate::tupfile::Config;

/// The environment variable that hands a command's config values to
/// `varsed` (`NAME=value` lines, names without `CONFIG_`).
pub const VARDICT_ENV: &str = "TUPFS_VARDICT";

/// `varsed`'s arguments.
#[derive(clap::Args, Debug)]
pub struct VarsedArgs {
    /// Write `y` as 1 and `n` as 0 (for C preprocessor conditionals).
    #[arg(long)]
    pub binary: bool,
    /// The file to read (`-`: stdin).
    pub input: PathBuf,
    /// The file to write (`-`: stdout).
    pub output: PathBuf,
}

/// The [`VARDICT_ENV`] text for `values`.
pub fn vardict(values: &BTreeMap<String, String>) -> String {
    values.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
}

/// Replace and write.
pub fn run(dir: &Path, args: &VarsedArgs) -> Result<ExitCode> {
    let values = match std::env::var(VARDICT_ENV) {
        Ok(text) => text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        Err(_) => config_here(dir)?,
    };
    let mut text = Vec::new();
    match args.input.as_os_str() == "-" {
        true => std::io::stdin().read_to_end(&mut text).map(|_| ())?,
        false => {
            let path = dir.join(&args.input);
            text =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?
        }
    }
    let out = replace(&text, &values, args.binary);
    match args.output.as_os_str() == "-" {
        true => std::io::stdout().write_all(&out)?,
        false => {
            let path = dir.join(&args.output);
            std::fs::write(&path, out)
                .with_context(|| format!("cannot write {}", path.display()))?
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The config values of the variant `dir` is in (the nearest `tup.config`
/// up to the project root; none: no values).
fn config_here(dir: &Path) -> Result<BTreeMap<String, String>> {
    let project = Project::find(dir)?;
    let start = dir.canonicalize()?;
    for d in start
        .ancestors()
        .take_while(|d| d.starts_with(&project.root))
    {
        let file = d.join("tup.config");
        if let Ok(text) = std::fs::read_to_string(&file) {
            let name = ProjPath::from_disk(&project.root, &file)?;
            return Ok(Config::parse(&text, &name)?.values);
        }
    }
    Ok(BTreeMap::new())
}

/// `text` with `@NAME@` replaced (NAME: letters, digits, `_`).
fn replace(text: &[u8], values: &BTreeMap<String, String>, binary: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] != b'@' {
            out.push(text[i]);
            i += 1;
            continue;
        }
        let start = i + 1;
        let mut end = start;
        while end < text.len() && (text[end].is_ascii_alphanumeric() || text[end] == b'_') {
            end += 1;
        }
        if end < text.len() && text[end] == b'@' {
            let name = String::from_utf8_lossy(&text[start..end]);
            let value = values.get(name.as_ref()).map_or("", |v| v.as_str());
            let value = match (binary, value) {
                (true, "y") => "1",
                (true, "n") => "0",
                (_, v) => v,
            };
            out.extend_from_slice(value.as_bytes());
            i = end + 1;
        } else {
            out.extend_from_slice(&text[i..end]);
            i = end;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_as_tup_does() {
        let values: BTreeMap<String, String> = [("ARCH", "x86"), ("DEBUG", "y"), ("OFF", "n")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let r = |s: &str, b| String::from_utf8(replace(s.as_bytes(), &values, b)).unwrap();
        assert_eq!(r("arch @ARCH@, @UNSET@.", false), "arch x86, .");
        assert_eq!(r("a@b.c @ @DEBUG@ @OFF@", true), "a@b.c @ 1 0");
        assert_eq!(r("mail@example@ARCH@@", false), "mailARCH");
    }
}
