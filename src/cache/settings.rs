//! Where the cache is and what it may do, from `.tupfs/options` and the
//! build's flags (a flag wins): `cache = off` / `--no-cache`, `cache_dir` /
//! `--cache-dir`, `cache_max_size`, `remote_cache` / `--remote-cache`,
//! `remote_cache_read_only` / `--remote-cache-read-only`, `job_root` /
//! `--job-root`.

use std::path::{Path, PathBuf};

use super::local::DEFAULT_MAX_SIZE;
use crate::options::Options;

/// The cache flags of `tupfs build`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--cache-dir DIR`.
    pub cache_dir: Option<PathBuf>,
    /// `--remote-cache URL`.
    pub remote_cache: Option<String>,
    /// `--remote-cache-read-only`.
    pub remote_cache_read_only: bool,
    /// `--job-root /PATH`.
    pub job_root: Option<PathBuf>,
}

/// The cache settings of one build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// On (the default) or off.
    pub enabled: bool,
    /// The local store (None: `$XDG_CACHE_HOME/tupfs`, else
    /// `~/.cache/tupfs`).
    pub dir: Option<PathBuf>,
    /// The local store's size cap in bytes.
    pub max_size: u64,
    /// A shared remote cache (`grpc://HOST:PORT`, `http://HOST:PORT/PREFIX`).
    pub remote: Option<String>,
    /// Read from the remote, never store there.
    pub remote_read_only: bool,
    /// The fixed path every job sees the project at (None: its real path,
    /// which the key then covers).
    pub job_root: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            enabled: true,
            dir: None,
            max_size: DEFAULT_MAX_SIZE,
            remote: None,
            remote_read_only: false,
            job_root: None,
        }
    }
}

impl Settings {
    /// The settings `options` (of the project at `root`) and `flags` make;
    /// a flag wins, a relative `cache_dir` option is taken from `root`.
    pub fn resolve(options: &Options, flags: &Flags, root: &Path) -> Settings {
        let defaults = Settings::default();
        Settings {
            enabled: !flags.no_cache && options.cache.unwrap_or(true),
            dir: flags
                .cache_dir
                .clone()
                .or_else(|| options.cache_dir.as_ref().map(|d| root.join(d))),
            max_size: options.cache_max_size.unwrap_or(defaults.max_size),
            remote: flags.remote_cache.clone().or(options.remote_cache.clone()),
            remote_read_only: flags.remote_cache_read_only
                || options.remote_cache_read_only.unwrap_or(false),
            job_root: flags.job_root.clone().or(options.job_root.clone()),
        }
    }

    /// The local store's directory (None: the cache is off, or there is no
    /// home to put it in).
    pub fn store_dir(&self) -> Option<PathBuf> {
        if !self.enabled {
            return None;
        }
        self.dir.clone().or_else(default_dir)
    }
}

/// `$XDG_CACHE_HOME/tupfs`, else `$HOME/.cache/tupfs`.
pub fn default_dir() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty());
    if let Some(x) = xdg {
        return Some(PathBuf::from(x).join("tupfs"));
    }
    let home = std::env::var_os("HOME").filter(|v| !v.is_empty())?;
    Some(PathBuf::from(home).join(".cache").join("tupfs"))
}

/// A size such as `5G`, `500M`, `64K` or a number of bytes.
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let (num, mult) = match t.char_indices().last()? {
        (i, 'K' | 'k') => (&t[..i], 1u64 << 10),
        (i, 'M' | 'm') => (&t[..i], 1 << 20),
        (i, 'G' | 'g') => (&t[..i], 1 << 30),
        (i, 'T' | 't') => (&t[..i], 1 << 40),
        _ => (t, 1),
    };
    num.trim().parse::<u64>().ok()?.checked_mul(mult)
}

/// `on`/`off` (also true/false, yes/no, 1/0).
pub fn parse_switch(text: &str) -> Option<bool> {
    match text.trim() {
        "on" | "true" | "yes" | "1" => Some(true),
        "off" | "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_switches() {
        assert_eq!(parse_size("5G"), Some(5 << 30));
        assert_eq!(parse_size("64k"), Some(64 << 10));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_switch("off"), Some(false));
        assert_eq!(parse_switch("maybe"), None);
        let off = Settings {
            enabled: false,
            ..Settings::default()
        };
        assert_eq!(off.store_dir(), None);
    }
}
