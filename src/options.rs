//! The project's `.tupfs/options` file (`key = value`, `#` comments) and the
//! [`ChangeMode`] it chooses.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The options file's name inside `.tupfs/`.
pub const OPTIONS_FILE: &str = "options";

/// How a file counts as changed since the index recorded it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ChangeMode {
    /// `mtime`: mtime (ns), size, inode or type differ.
    #[default]
    Mtime,
    /// `digest`: the SHA-256 differs (a size change is a change without
    /// hashing). Every file is hashed on every build.
    Digest,
    /// `mtime+digest`: the mtime moved AND the digest differs; only files
    /// whose mtime moved are hashed, so `touch` alone rebuilds nothing.
    MtimeDigest,
    /// `mtime+digest-inputs`: as `mtime+digest` for source files; generated
    /// files by mtime only (they are large and rarely come out identical).
    MtimeDigestInputs,
}

impl ChangeMode {
    /// Every mode, in the order the documentation lists them.
    pub const ALL: [ChangeMode; 4] = [
        ChangeMode::Mtime,
        ChangeMode::Digest,
        ChangeMode::MtimeDigest,
        ChangeMode::MtimeDigestInputs,
    ];

    /// The name used in `.tupfs/options` and by `--change`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeMode::Mtime => "mtime",
            ChangeMode::Digest => "digest",
            ChangeMode::MtimeDigest => "mtime+digest",
            ChangeMode::MtimeDigestInputs => "mtime+digest-inputs",
        }
    }

    /// True when identical outputs stop propagation for every command
    /// (early cut-off is always on in the digest modes).
    pub fn cuts_off_early(self) -> bool {
        self != ChangeMode::Mtime
    }

    /// A small number for the index header.
    pub fn to_byte(self) -> u8 {
        match self {
            ChangeMode::Mtime => 0,
            ChangeMode::Digest => 1,
            ChangeMode::MtimeDigest => 2,
            ChangeMode::MtimeDigestInputs => 3,
        }
    }

    /// The inverse of [`ChangeMode::to_byte`].
    pub fn from_byte(b: u8) -> Option<ChangeMode> {
        ChangeMode::ALL.into_iter().find(|m| m.to_byte() == b)
    }
}

impl fmt::Display for ChangeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown change-mode name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadChangeMode(pub String);

impl fmt::Display for BadChangeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown change mode '{}': expected one of mtime, digest, mtime+digest, \
             mtime+digest-inputs",
            self.0
        )
    }
}

impl std::error::Error for BadChangeMode {}

impl FromStr for ChangeMode {
    type Err = BadChangeMode;

    fn from_str(s: &str) -> Result<ChangeMode, BadChangeMode> {
        ChangeMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| BadChangeMode(s.to_string()))
    }
}

/// The project options, as `.tupfs/options` sets them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// `change = MODE`.
    pub change: ChangeMode,
    /// `cache = on|off` (the output cache; on by default).
    pub cache: Option<bool>,
    /// `cache_dir = PATH` (the local store; relative to the project root).
    pub cache_dir: Option<PathBuf>,
    /// `cache_max_size = SIZE` (`5G`, `500M`, bytes).
    pub cache_max_size: Option<u64>,
    /// `remote_cache = URL` (`grpc://HOST:PORT`, `http://HOST:PORT/PREFIX`).
    pub remote_cache: Option<String>,
    /// `remote_cache_read_only = on|off`.
    pub remote_cache_read_only: Option<bool>,
    /// `job_root = /PATH` (where every job sees the project).
    pub job_root: Option<PathBuf>,
}

/// A problem in the options file: where, and what was expected.
#[derive(Debug)]
pub struct OptionsError {
    /// The options file.
    pub file: PathBuf,
    /// 1-based line, or 0 when the file could not be read at all.
    pub line: u32,
    /// What was wrong and what was expected.
    pub message: String,
}

impl fmt::Display for OptionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
        }
    }
}

impl std::error::Error for OptionsError {}

/// The known keys, for error messages.
const KNOWN_KEYS: &str =
    "change, cache, cache_dir, cache_max_size, remote_cache, remote_cache_read_only, job_root";

impl Options {
    /// Read the options file at `path`; a missing file means the defaults.
    pub fn load(path: &Path) -> Result<Options, OptionsError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Options::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Options::default()),
            Err(e) => Err(OptionsError {
                file: path.to_path_buf(),
                line: 0,
                message: format!("cannot read: {e}"),
            }),
        }
    }

    /// Parse the text of an options file; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Options, OptionsError> {
        let mut options = Options::default();
        for (i, raw) in text.lines().enumerate() {
            let err = |message: String| OptionsError {
                file: file.to_path_buf(),
                line: i as u32 + 1,
                message,
            };
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(err(format!("expected `key = value`, found '{line}'")));
            };
            let (key, value) = (key.trim(), value.trim());
            match key {
                "change" => options.change = value.parse().map_err(|e| err(format!("{e}")))?,
                "cache" | "remote_cache_read_only" => {
                    let on = crate::cache::settings::parse_switch(value).ok_or_else(|| {
                        err(format!("{key}: expected on or off, found '{value}'"))
                    })?;
                    match key {
                        "cache" => options.cache = Some(on),
                        _ => options.remote_cache_read_only = Some(on),
                    }
                }
                "cache_dir" => options.cache_dir = Some(PathBuf::from(value)),
                "cache_max_size" => {
                    let size = crate::cache::settings::parse_size(value).ok_or_else(|| {
                        err(format!("cache_max_size: expected a size such as 5G, 500M or a number of bytes, found '{value}'"))
                    })?;
                    options.cache_max_size = Some(size);
                }
                "remote_cache" => options.remote_cache = Some(value.to_string()),
                "job_root" if value.starts_with('/') => {
                    options.job_root = Some(PathBuf::from(value))
                }
                "job_root" => {
                    return Err(err(format!(
                        "job_root: expected an absolute path, found '{value}'"
                    )))
                }
                _ => {
                    return Err(err(format!(
                        "unknown option '{key}': expected one of: {KNOWN_KEYS}"
                    )))
                }
            }
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Options, String> {
        Options::parse(text, Path::new(".tupfs/options")).map_err(|e| e.to_string())
    }

    #[test]
    fn every_mode_parses_and_prints_back() {
        for mode in ChangeMode::ALL {
            assert_eq!(mode.as_str().parse::<ChangeMode>(), Ok(mode));
            assert_eq!(ChangeMode::from_byte(mode.to_byte()), Some(mode));
            let opts = parse(&format!("change = {mode}  # chosen\n")).unwrap();
            assert_eq!(opts.change, mode);
        }
        assert_eq!(ChangeMode::from_byte(9), None);
    }

    #[test]
    fn comments_blank_lines_and_default() {
        assert_eq!(parse("# nothing\n\n   \n").unwrap(), Options::default());
        assert_eq!(Options::default().change, ChangeMode::Mtime);
    }

    #[test]
    fn errors_name_file_line_and_expectation() {
        let e = parse("# ok\nchange = sha1\n").unwrap_err();
        assert!(
            e.starts_with(".tupfs/options:2: unknown change mode 'sha1'"),
            "{e}"
        );
        assert!(e.contains("mtime+digest-inputs"), "{e}");
        let e = parse("\n\ncolour = blue\n").unwrap_err();
        assert!(
            e.starts_with(".tupfs/options:3: unknown option 'colour'"),
            "{e}"
        );
        let e = parse("change\n").unwrap_err();
        assert!(
            e.starts_with(".tupfs/options:1: expected `key = value`"),
            "{e}"
        );
    }

    #[test]
    fn load_missing_is_default_and_reads_the_file() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("options");
        assert_eq!(Options::load(&path).unwrap(), Options::default());
        std::fs::write(&path, "change = digest\n").unwrap();
        assert_eq!(Options::load(&path).unwrap().change, ChangeMode::Digest);
    }
}
