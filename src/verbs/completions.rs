//! `completions bash|zsh|fish` and `man`: the shell completion scripts and
//! the manual page, generated from the clap definitions of the command
//! line (so they never drift from it), printed to stdout.

use std::process::ExitCode;

use anyhow::Result;

/// `completions`' arguments.
#[derive(clap::Args, Debug)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
    /// Complete this command name instead (e.g. `tup`, for the symlink).
    #[arg(long, default_value = "tupfs")]
    pub name: String,
}

/// Print the completion script of `cmd` for the shell.
pub fn run(mut cmd: clap::Command, args: &CompletionsArgs) -> Result<ExitCode> {
    clap_complete::generate(args.shell, &mut cmd, &args.name, &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

/// Print the man page of `cmd` (roff, for `man -l -`).
pub fn man(cmd: clap::Command) -> Result<ExitCode> {
    clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
    Ok(ExitCode::SUCCESS)
}
