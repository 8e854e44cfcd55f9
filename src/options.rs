//! The options files (`key = value`, `#` or `;` comments, and tup's INI
//! form: `[updater]` then `num_jobs = 2`): `/etc/tup/options`,
//! `~/.tupoptions` and the project's `.tupfs/options`, later ones winning,
//! and the [`ChangeMode`] they choose.

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

/// The project options, as the options files set them ([`OPTION_KEYS`]
/// lists every key; [`Options::load_all`] reads the files in precedence).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// `change = MODE`.
    pub change: ChangeMode,
    /// `[updater] num_jobs`: parallel jobs (None: one per CPU).
    pub num_jobs: Option<usize>,
    /// `[updater] keep_going`: go on after a failed command.
    pub keep_going: bool,
    /// `[updater] full_deps` (or tupfs's own top-level `full_deps`): trace
    /// what commands read outside the project too ([`crate::outside`]).
    pub full_deps: bool,
    /// `[display] color`: auto, always or never.
    pub color: Color,
    /// `[display] progress`: the progress bar (None: when stdout is a tty).
    pub progress: Option<bool>,
    /// `[display] quiet`: print little besides errors.
    pub quiet: bool,
    /// `[display] job_numbers`: number each job's report.
    pub job_numbers: bool,
    /// `[monitor] autoupdate`: the monitor builds on each change.
    pub autoupdate: bool,
    /// `[graph] dirs`, `ghosts`, `environment`, `combine`: `graph`'s
    /// defaults.
    pub graph: GraphDefaults,
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

/// `tupfs graph`'s defaults (`[graph]` in the options files).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GraphDefaults {
    /// Show directories and Tupfiles.
    pub dirs: bool,
    /// Show paths commands looked up in vain.
    pub ghosts: bool,
    /// Show exported environment variables.
    pub env: bool,
    /// Combine similar commands.
    pub combine: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            change: ChangeMode::default(),
            num_jobs: None,
            keep_going: false,
            full_deps: false,
            color: Color::Auto,
            progress: None,
            quiet: false,
            job_numbers: true,
            autoupdate: false,
            graph: GraphDefaults::default(),
            cache: None,
            cache_dir: None,
            cache_max_size: None,
            remote_cache: None,
            remote_cache_read_only: None,
            job_root: None,
        }
    }
}

/// `[display] color`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Color {
    /// Colour when stdout is a terminal.
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl Color {
    /// The name in the options files.
    pub fn as_str(self) -> &'static str {
        match self {
            Color::Auto => "auto",
            Color::Always => "always",
            Color::Never => "never",
        }
    }
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

/// One option: its name in the files, what it accepts, and how it is set
/// and shown. Adding an option is one entry in [`OPTION_KEYS`] (and a
/// field of [`Options`]).
pub struct OptionKey {
    /// `section.name` (tup's INI form), or a bare name for tupfs's own
    /// top-level keys.
    pub name: &'static str,
    /// The allowed values, for errors and `tupfs options`.
    pub allowed: &'static str,
    /// Set the option from a value (an error says what was wrong).
    pub set: fn(&mut Options, &str) -> Result<(), String>,
    /// The option's value as the files would write it.
    pub show: fn(&Options) -> String,
}

/// A boolean as tup reads one: 1/0, true/false, yes/no.
fn boolean(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err(format!("'{value}' is not a boolean")),
    }
}

/// The allowed values of a boolean option.
const BOOLEAN: &str = "1, 0, true, false, yes, no";

/// The allowed values of an on/off option.
const ON_OFF: &str = "on, off (or 1, 0, true, false, yes, no)";

/// An on/off value (also tup's booleans).
fn switch(value: &str) -> Result<bool, String> {
    crate::cache::settings::parse_switch(value).ok_or_else(|| format!("'{value}' is not on or off"))
}

/// An on/off option as the files would write it (`default` when unset).
fn show_switch(value: Option<bool>, default: &str) -> String {
    value.map_or_else(|| default.into(), |b| if b { "on" } else { "off" }.into())
}

/// A path option as the files would write it (`default` when unset).
fn show_path(value: &Option<PathBuf>, default: &str) -> String {
    value
        .as_ref()
        .map_or_else(|| default.into(), |p| p.display().to_string())
}

/// An [`OptionKey`] for a boolean field of [`Options`].
macro_rules! bool_option {
    ($name:expr, $($field:ident).+) => {
        OptionKey {
            name: $name,
            allowed: BOOLEAN,
            set: |o, v| {
                o.$($field).+ = boolean(v)?;
                Ok(())
            },
            show: |o| u8::from(o.$($field).+).to_string(),
        }
    };
}

/// Every option tupfs reads, tupfs's own keys first, then tup's.
pub const OPTION_KEYS: &[OptionKey] = &[
    OptionKey {
        name: "change",
        allowed: "mtime, digest, mtime+digest, mtime+digest-inputs",
        set: |o, v| {
            o.change = v
                .parse()
                .map_err(|_| format!("unknown change mode '{v}'"))?;
            Ok(())
        },
        show: |o| o.change.to_string(),
    },
    OptionKey {
        name: "updater.num_jobs",
        allowed: "a number of jobs, 1 or more",
        set: |o, v| {
            o.num_jobs = Some(
                v.parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("'{v}' is not a number of jobs"))?,
            );
            Ok(())
        },
        show: |o| {
            o.num_jobs
                .map_or_else(|| "(one per CPU)".into(), |n| n.to_string())
        },
    },
    OptionKey {
        name: "cache",
        allowed: ON_OFF,
        set: |o, v| {
            o.cache = Some(switch(v)?);
            Ok(())
        },
        show: |o| show_switch(o.cache, "on"),
    },
    OptionKey {
        name: "cache_dir",
        allowed: "a directory (relative: to the project root)",
        set: |o, v| {
            o.cache_dir = Some(PathBuf::from(v));
            Ok(())
        },
        show: |o| show_path(&o.cache_dir, "($XDG_CACHE_HOME/tupfs, else ~/.cache/tupfs)"),
    },
    OptionKey {
        name: "cache_max_size",
        allowed: "a size such as 5G, 500M or a number of bytes",
        set: |o, v| {
            let size = crate::cache::settings::parse_size(v)
                .ok_or_else(|| format!("'{v}' is not a size"))?;
            o.cache_max_size = Some(size);
            Ok(())
        },
        show: |o| {
            o.cache_max_size
                .map_or_else(|| "5G".into(), |n| n.to_string())
        },
    },
    OptionKey {
        name: "remote_cache",
        allowed: "grpc://HOST:PORT[/INSTANCE] or http://HOST:PORT/PREFIX",
        set: |o, v| {
            o.remote_cache = Some(v.to_string());
            Ok(())
        },
        show: |o| o.remote_cache.clone().unwrap_or_else(|| "(none)".into()),
    },
    OptionKey {
        name: "remote_cache_read_only",
        allowed: ON_OFF,
        set: |o, v| {
            o.remote_cache_read_only = Some(switch(v)?);
            Ok(())
        },
        show: |o| show_switch(o.remote_cache_read_only, "off"),
    },
    OptionKey {
        name: "job_root",
        allowed: "an absolute path",
        set: |o, v| {
            if !v.starts_with('/') {
                return Err(format!("'{v}' is not an absolute path"));
            }
            o.job_root = Some(PathBuf::from(v));
            Ok(())
        },
        show: |o| show_path(&o.job_root, "(the project's real path)"),
    },
    bool_option!("updater.keep_going", keep_going),
    bool_option!("updater.full_deps", full_deps),
    bool_option!("full_deps", full_deps),
    OptionKey {
        name: "display.color",
        allowed: "auto, always, never",
        set: |o, v| {
            o.color = match v {
                "auto" => Color::Auto,
                "always" => Color::Always,
                "never" => Color::Never,
                _ => return Err(format!("'{v}' is not a colour setting")),
            };
            Ok(())
        },
        show: |o| o.color.as_str().into(),
    },
    OptionKey {
        name: "display.progress",
        allowed: BOOLEAN,
        set: |o, v| {
            o.progress = Some(boolean(v)?);
            Ok(())
        },
        show: |o| {
            o.progress
                .map_or_else(|| "(when a tty)".into(), |b| u8::from(b).to_string())
        },
    },
    bool_option!("display.quiet", quiet),
    bool_option!("display.job_numbers", job_numbers),
    bool_option!("monitor.autoupdate", autoupdate),
    bool_option!("graph.dirs", graph.dirs),
    bool_option!("graph.ghosts", graph.ghosts),
    bool_option!("graph.environment", graph.env),
    bool_option!("graph.combine", graph.combine),
];

/// tup options that tupfs accepts in tup's files but has no use for.
const IGNORED_TUP_KEYS: &[&str] = &[
    "db.sync",
    "updater.warnings",
    "display.width",
    "display.job_time",
    "monitor.autoparse",
    "monitor.foreground",
];

/// Where an effective option's value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// tupfs's compiled-in default.
    Default,
    /// An options file and line.
    File(PathBuf, u32),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(path, line) => write!(f, "{}:{line}", path.display()),
        }
    }
}

/// The options in force and where each came from.
#[derive(Clone, Debug, Default)]
pub struct Effective {
    /// The options.
    pub options: Options,
    /// The origin of each [`OPTION_KEYS`] entry's value, by name (absent:
    /// the default).
    pub origins: std::collections::BTreeMap<&'static str, Origin>,
    /// The files read, lowest precedence first, and whether each exists.
    pub files: Vec<(PathBuf, bool)>,
}

impl Effective {
    /// Where option `name` came from.
    pub fn origin(&self, name: &str) -> Origin {
        self.origins.get(name).cloned().unwrap_or(Origin::Default)
    }
}

/// The options files, lowest precedence first, as tup reads them:
/// `/etc/tup/options`, `~/.tupoptions`, then the project's
/// `.tupfs/options` (in `state_dir`).
pub fn option_files(state_dir: &Path) -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from("/etc/tup/options")];
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        files.push(PathBuf::from(home).join(".tupoptions"));
    }
    files.push(state_dir.join(OPTIONS_FILE));
    files
}

impl Options {
    /// Read the options file at `path`; a missing file means the defaults.
    pub fn load(path: &Path) -> Result<Options, OptionsError> {
        let mut effective = Effective::default();
        read_layer(&mut effective, path)?;
        Ok(effective.options)
    }

    /// The options in force in the project whose state directory is
    /// `state_dir`: every file of [`option_files`], later ones winning.
    pub fn load_all(state_dir: &Path) -> Result<Effective, OptionsError> {
        let mut effective = Effective::default();
        for file in option_files(state_dir) {
            read_layer(&mut effective, &file)?;
        }
        Ok(effective)
    }

    /// Parse the text of an options file; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Options, OptionsError> {
        let mut effective = Effective::default();
        apply(&mut effective, text, file)?;
        Ok(effective.options)
    }
}

/// Read one options file over `effective` (a missing file changes nothing).
fn read_layer(effective: &mut Effective, path: &Path) -> Result<(), OptionsError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            effective.files.push((path.to_path_buf(), true));
            apply(effective, &text, path)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            effective.files.push((path.to_path_buf(), false));
            Ok(())
        }
        Err(e) => Err(OptionsError {
            file: path.to_path_buf(),
            line: 0,
            message: format!("cannot read: {e}"),
        }),
    }
}

/// Apply the settings of one file's `text`: `key = value` lines, `[section]`
/// headers (tup's INI form: `num_jobs` under `[updater]` is
/// `updater.num_jobs`), `#` and `;` comments.
fn apply(effective: &mut Effective, text: &str, file: &Path) -> Result<(), OptionsError> {
    let mut section = String::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i as u32 + 1;
        let err = |message: String| OptionsError {
            file: file.to_path_buf(),
            line: line_no,
            message,
        };
        let line = raw.split(['#', ';']).next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[') {
            let Some(name) = name.strip_suffix(']') else {
                return Err(err(format!("expected `[section]`, found '{line}'")));
            };
            section = name.trim().to_string();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(err(format!("expected `key = value`, found '{line}'")));
        };
        let (key, value) = (key.trim(), value.trim());
        let name = match section.is_empty() {
            true => key.to_string(),
            false => format!("{section}.{key}"),
        };
        if IGNORED_TUP_KEYS.contains(&name.as_str()) {
            log::debug!(
                "{}:{line_no}: tup option {name} has no effect in tupfs",
                file.display()
            );
            continue;
        }
        let Some(option) = OPTION_KEYS.iter().find(|k| k.name == name) else {
            return Err(err(unknown_key(&name)));
        };
        (option.set)(&mut effective.options, value).map_err(|e| {
            err(format!(
                "{e} for {name}: expected one of: {}",
                option.allowed
            ))
        })?;
        let origin = Origin::File(file.to_path_buf(), line_no);
        effective.origins.insert(option.name, origin);
    }
    Ok(())
}

/// The message for an unknown option: every known one.
fn unknown_key(name: &str) -> String {
    let known: Vec<&str> = OPTION_KEYS.iter().map(|k| k.name).collect();
    format!(
        "unknown option '{name}': expected one of: {} (tup's INI form: `[updater]` then \
         `num_jobs = 2`)",
        known.join(", ")
    )
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
    fn full_deps_in_both_spellings() {
        assert!(parse("full_deps = true\n").unwrap().full_deps);
        assert!(parse("updater.full_deps = 1\n").unwrap().full_deps);
        assert!(!parse("full_deps = 0\n").unwrap().full_deps);
        assert!(!Options::default().full_deps);
        let e = parse("full_deps = maybe\n").unwrap_err();
        assert!(
            e.starts_with(".tupfs/options:1: 'maybe' is not a boolean for full_deps"),
            "{e}"
        );
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

    #[test]
    fn tup_ini_form_sections_booleans_and_semicolon_comments() {
        let text = "; tup's form\n[updater]\n  num_jobs = 3\n  keep_going = yes ; on\n\
                    [display]\ncolor = never\nprogress = false\nquiet = 1\njob_numbers = no\n\
                    [monitor]\nautoupdate = true\n[db]\nsync = 0\n";
        let o = parse(text).unwrap();
        assert_eq!(o.num_jobs, Some(3));
        assert!(o.keep_going && o.quiet && o.autoupdate && !o.job_numbers);
        assert_eq!((o.color, o.progress), (Color::Never, Some(false)));
        let o = parse("change = digest\nupdater.num_jobs = 2\n").unwrap();
        assert_eq!((o.change, o.num_jobs), (ChangeMode::Digest, Some(2)));
    }

    #[test]
    fn bad_values_name_file_line_key_and_allowed_values() {
        let e = parse("[updater]\nkeep_going = maybe\n").unwrap_err();
        assert!(e.starts_with(".tupfs/options:2: 'maybe' is not a boolean for updater.keep_going: expected one of: 1, 0, true"), "{e}");
        let e = parse("[updater]\nnum_jobs = 0\n").unwrap_err();
        assert!(
            e.contains(":2: '0' is not a number of jobs for updater.num_jobs"),
            "{e}"
        );
        let e = parse("[display]\ncolor = blue\n").unwrap_err();
        assert!(e.contains("expected one of: auto, always, never"), "{e}");
        let e = parse("[updater\n").unwrap_err();
        assert!(e.contains(":1: expected `[section]`"), "{e}");
        let e = parse("[display]\ncolour = 1\n").unwrap_err();
        assert!(e.contains(":2: unknown option 'display.colour'"), "{e}");
    }

    #[test]
    fn later_files_win_and_origins_are_kept() {
        let t = tempfile::tempdir().unwrap();
        let (low, high) = (t.path().join("low"), t.path().join("high"));
        std::fs::write(&low, "[updater]\nnum_jobs = 2\nkeep_going = 1\n").unwrap();
        std::fs::write(&high, "\n[updater]\nnum_jobs = 5\n").unwrap();
        let mut e = Effective::default();
        read_layer(&mut e, &low).unwrap();
        read_layer(&mut e, &high).unwrap();
        read_layer(&mut e, &t.path().join("missing")).unwrap();
        assert_eq!((e.options.num_jobs, e.options.keep_going), (Some(5), true));
        assert_eq!(e.origin("updater.num_jobs"), Origin::File(high, 3));
        assert_eq!(e.origin("updater.keep_going"), Origin::File(low, 3));
        assert_eq!(e.origin("change"), Origin::Default);
    }
}
