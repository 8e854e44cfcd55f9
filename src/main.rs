//! The `tupfs` command line: argument parsing and dispatch, nothing else.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

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
    `echo Y > /sys/module/fuse/parameters/enable_uring`); 0: /dev/fuse only"
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
    /// Make the project's state directory `.tupfs/` here (the project root).
    Init,
    /// Print every command the Tupfiles describe, fully expanded, with its
    /// inputs and outputs, in a stable order. Runs nothing, writes nothing.
    Parse(ParseArgs),
    /// Bring outputs up to date: run exactly the commands whose inputs or
    /// identity changed, each traced, in parallel.
    Build(BuildArgs),
    /// The local output cache: `stats` (size), `gc` (trim to the size cap,
    /// least recently used first), `clear` (remove everything).
    Cache(CacheArgs),
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
    let result = match cli.command {
        Command::Init => tupfs::project::Project::init(&dir).map(|p| {
            if !cli.quiet {
                println!("tupfs: initialised {}", p.root.display());
            }
            ExitCode::SUCCESS
        }),
        Command::Parse(args) => tupfs::cli::parse(&dir, args.json),
        Command::Build(args) => tupfs::cli::build(
            &dir,
            &tupfs::cli::BuildOptions {
                targets: args.targets,
                jobs: args.jobs,
                keep_going: args.keep_going,
                change: args.change,
                explain: args.explain,
                verbose: cli.verbose > 0,
                quiet: cli.quiet,
                cache: tupfs::cache::settings::Flags {
                    no_cache: args.no_cache,
                    cache_dir: args.cache_dir,
                    remote_cache: args.remote_cache,
                    remote_cache_read_only: args.remote_cache_read_only,
                    job_root: args.job_root,
                },
            },
        ),
        Command::Cache(args) => {
            tupfs::cli::cache(&dir, &args.action, args.cache_dir, args.max_size.as_deref())
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tupfs: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
