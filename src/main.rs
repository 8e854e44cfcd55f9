//! The `tupfs` command line: argument parsing and dispatch, nothing else.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};
use tupfs::verbs;

/// tupfs: a tup-compatible build system that traces every command.
///
/// Reads tup-style Tupfiles and runs each command inside a FUSE mount that
/// records every file it reads and writes, so dependencies are exact for any
/// tool, and undeclared outputs or reads of generated files are errors.
#[derive(Parser, Debug)]
#[command(
    name = "tupfs",
    version,
    propagate_version = true,
    after_help = "Environment:\n  \
    TUPFS_LOG           log filter for env_logger (e.g. debug, tupfs_fuse=trace)\n  \
    TUPFS_FAST_WAKE_MS  while commands do file operations, ask idle CPUs to wake fast\n                      \
    (needs root; default 5 ms after each operation, 0 = never)\n  \
    TUPFS_FUSE_URING    1 (default): serve file operations through per-CPU io_uring\n                      \
    queues when the kernel offers them (Linux 6.14+, enabled with\n                      \
    `echo Y > /sys/module/fuse/parameters/enable_uring`); 0: /dev/fuse only\n\n\
    Run as `tup` (a symlink: `ln -s $(which tupfs) ~/.local/bin/tup`), tupfs takes tup's\n\
    command line: `tup [-jN] [-k] [TARGETS]` and `tup upd` build, `tup ref` refactors,\n\
    and tup's other verbs are the subcommands above. Options files: .tupfs/options,\n\
    ~/.tupoptions, /etc/tup/options (highest precedence first; `tupfs options`)."
)]
struct Cli {
    /// Run as if started in DIR (like `make -C`).
    #[arg(short = 'C', long = "directory", global = true, value_name = "DIR")]
    directory: Option<PathBuf>,
    /// Show the real command lines and more detail (repeat for debug logs).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Print only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Make the project's state directory `.tupfs/` here or in DIR (the
    /// project root). A `.tup/` directory there is left alone.
    Init {
        /// The project root (made if missing; default: here).
        dir: Option<PathBuf>,
    },
    /// Print every command the Tupfiles describe, fully expanded, with its
    /// inputs and outputs, in a stable order. Runs nothing, writes nothing.
    Parse(ParseArgs),
    /// Bring outputs up to date: run exactly the commands whose inputs or
    /// identity changed, each traced, in parallel.
    Build(BuildArgs),
    /// Print what the next build would run, and why. Runs nothing and
    /// writes nothing to the index.
    Todo(verbs::todo::TodoArgs),
    /// Print the build graph (commands, files, groups, declared and
    /// observed edges) in Graphviz dot, e.g. `tupfs graph | dot -Tsvg`.
    Graph(verbs::graph::GraphArgs),
    /// Write a shell script that builds the project from clean without
    /// tupfs (for machines without FUSE), in dependency order.
    Generate(verbs::generate::GenerateArgs),
    /// Write compile_commands.json for the `^j` rules (one per variant, at
    /// its root), parsing the Tupfiles that changed.
    Compiledb,
    /// Print the compile_commands.json entries of FILEs, from the index
    /// (no parse).
    Commandline(verbs::compiledb::CommandlineArgs),
    /// Copy IN to OUT with every `@NAME@` replaced by the config value of
    /// NAME (used inside a Tupfile command: `tup varsed %f %o`).
    Varsed(verbs::varsed::VarsedArgs),
    /// Make a variant directory build-NAME/ with tup.config linked to each
    /// CONFIG file (NAME: the file name without its extension).
    Variant(verbs::variant::VariantArgs),
    /// Print the options in force and which file set each.
    Options,
    /// Parse every Tupfile and report, as errors, every change to
    /// commands, outputs, generated inputs, groups and .gitignore against
    /// the last build. Runs nothing.
    #[command(alias = "ref")]
    Refactor,
    /// Examine every recorded file and say which changed since the last
    /// build.
    Scan,
    /// Print tupfs's version.
    Version,
    /// Print a shell completion script (bash, zsh or fish) to stdout.
    Completions(verbs::completions::CompletionsArgs),
    /// Print the manual page (roff) to stdout.
    Man,
    /// The local output cache: `stats` (size), `gc` (trim to the size cap,
    /// least recently used first), `clear` (remove everything).
    Cache(CacheArgs),
    /// Watch the project with inotify so that builds need no scan; with
    /// -a, build after every change. Detaches unless -f (logs to
    /// .tupfs/monitor.log).
    Monitor(MonitorArgs),
    /// Stop the project's monitor.
    Stop,
}

#[derive(Args, Debug)]
struct CacheArgs {
    /// stats, gc or clear.
    #[arg(value_parser = ["stats", "gc", "clear"])]
    action: String,
    /// The store (default: the project's `cache_dir`, else
    /// $XDG_CACHE_HOME/tupfs, else ~/.cache/tupfs).
    #[arg(long = "cache-dir", value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// For gc: the size to trim to (e.g. 5G, 500M; default the cap).
    #[arg(long = "max-size", value_name = "SIZE")]
    max_size: Option<String>,
}

/// The options of a build that `build` and `monitor -a` share.
#[derive(Args, Debug)]
struct RunArgs {
    /// Run up to N commands at once (default: the number of CPUs).
    #[arg(short = 'j', long = "jobs", value_name = "N")]
    jobs: Option<usize>,
    /// Keep going after a command fails: run everything that does not
    /// depend on it.
    #[arg(short = 'k', long = "keep-going")]
    keep_going: bool,
    /// How a file counts as changed: mtime, digest, mtime+digest or
    /// mtime+digest-inputs (default: from .tupfs/options, else mtime).
    #[arg(long = "change", value_name = "MODE")]
    change: Option<String>,
    /// Say, for each command that runs, why it runs (and why each Tupfile
    /// is parsed).
    #[arg(long)]
    explain: bool,
}

impl RunArgs {
    /// The build options these flags and the global `-v`/`-q` make.
    fn options(self, verbose: u8, quiet: bool) -> tupfs::cli::BuildOptions {
        tupfs::cli::BuildOptions {
            jobs: self.jobs,
            keep_going: self.keep_going,
            change: self.change,
            explain: self.explain,
            verbose: verbose > 0,
            quiet,
            ..Default::default()
        }
    }
}

#[derive(Args, Debug)]
struct MonitorArgs {
    /// Stay in the foreground.
    #[arg(short = 'f', long)]
    foreground: bool,
    /// Build after every change (once no change arrived for the quiet period).
    #[arg(short = 'a', long)]
    autoupdate: bool,
    /// Milliseconds without a change before an autoupdate build.
    #[arg(long = "quiet-period", value_name = "MS", default_value_t = 50)]
    quiet_period: u64,
    /// How autoupdate builds run.
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Args, Debug)]
struct ParseArgs {
    /// Print JSON (one object with a `rules` array) instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct BuildArgs {
    /// Files, directories or variant directories to build (default: all).
    targets: Vec<PathBuf>,
    /// How the build runs.
    #[command(flatten)]
    run: RunArgs,
    /// Stop at the first failure even if the options files say keep_going.
    #[arg(long = "no-keep-going", conflicts_with = "keep_going")]
    no_keep_going: bool,
    /// Do not use the output cache (neither look up nor store).
    #[arg(long = "no-cache")]
    no_cache: bool,
    /// The local output cache's directory (default: $XDG_CACHE_HOME/tupfs,
    /// else ~/.cache/tupfs).
    #[arg(long = "cache-dir", value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// A shared remote cache: grpc://HOST:PORT[/INSTANCE] (REAPI v2) or
    /// http://HOST:PORT/PREFIX (Bazel's HTTP cache protocol).
    #[arg(long = "remote-cache", value_name = "URL")]
    remote_cache: Option<String>,
    /// Read from the remote cache, never store there.
    #[arg(long = "remote-cache-read-only")]
    remote_cache_read_only: bool,
    /// Every command sees the project at this fixed path (so checkouts at
    /// different paths share cache hits).
    #[arg(long = "job-root", value_name = "PATH")]
    job_root: Option<PathBuf>,
    /// Also trace what commands read outside the project (compilers,
    /// system headers, libraries): a change there re-runs them (default:
    /// from .tupfs/options `full_deps`, else off).
    #[arg(long = "full-deps")]
    full_deps: bool,
}

fn main() -> ExitCode {
    // Under the name `tup`, tup's command line (see `tupfs::tupcmd`).
    let args = match tupfs::tupcmd::translate(std::env::args_os().collect(), &|name| {
        Cli::command().find_subcommand(name).is_some()
    }) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("tup: error: {e}");
            return ExitCode::from(2);
        }
    };
    let cli = Cli::parse_from(args);
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => log::LevelFilter::Error,
        (_, 0) | (_, 1) => log::LevelFilter::Warn,
        (_, 2) => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    };
    env_logger::Builder::new()
        .filter_level(level)
        .format_timestamp(None)
        // tupfs-fuse detaches the mount itself; fuser's own second unmount
        // attempt then fails harmlessly with EINVAL and would warn on every build.
        .filter_module("fuser::mnt", log::LevelFilter::Error)
        .parse_env("TUPFS_LOG")
        .init();
    let dir = cli.directory.clone().unwrap_or_else(|| PathBuf::from("."));
    let global = verbs::Global {
        verbose: cli.verbose > 0,
        quiet: cli.quiet,
    };
    let result = match cli.command {
        Command::Init { dir: sub } => verbs::init(&dir.join(sub.unwrap_or_default()), &global),
        Command::Parse(args) => tupfs::cli::parse(&dir, args.json),
        Command::Build(args) => tupfs::cli::build(
            &dir,
            &tupfs::cli::BuildOptions {
                targets: args.targets,
                no_keep_going: args.no_keep_going,
                full_deps: args.full_deps,
                cache: tupfs::cache::settings::Flags {
                    no_cache: args.no_cache,
                    cache_dir: args.cache_dir,
                    remote_cache: args.remote_cache,
                    remote_cache_read_only: args.remote_cache_read_only,
                    job_root: args.job_root,
                },
                ..args.run.options(cli.verbose, cli.quiet)
            },
        ),
        Command::Todo(args) => verbs::todo::run(&dir, &args, &global),
        Command::Graph(args) => verbs::graph::run(&dir, &args, &global),
        Command::Generate(args) => verbs::generate::run(&dir, &args, &global),
        Command::Compiledb => verbs::compiledb::run(&dir, &global),
        Command::Commandline(args) => verbs::compiledb::commandline(&dir, &args),
        Command::Varsed(args) => verbs::varsed::run(&dir, &args),
        Command::Variant(args) => verbs::variant::run(&dir, &args, &global),
        Command::Options => verbs::options::run(&dir),
        Command::Refactor => verbs::refactor::run(&dir, &global),
        Command::Scan => verbs::scan::run(&dir, &global),
        Command::Version => verbs::version(),
        Command::Completions(args) => verbs::completions::run(Cli::command(), &args),
        Command::Man => verbs::completions::man(Cli::command()),
        Command::Cache(args) => {
            tupfs::cli::cache(&dir, &args.action, args.cache_dir, args.max_size.as_deref())
        }
        Command::Monitor(args) => tupfs::cli::monitor(
            &dir,
            args.foreground,
            args.autoupdate,
            args.quiet_period,
            &args.run.options(cli.verbose, cli.quiet),
        ),
        Command::Stop => tupfs::cli::stop(&dir),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tupfs: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
