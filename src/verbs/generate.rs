//! stub
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use anyhow::Result;
use super::Global;
/// generate args
#[derive(clap::Args, Debug)]
pub struct GenerateArgs {
    /// x
    pub script: PathBuf,
}
/// stub
pub fn run(_dir: &Path, _a: &GenerateArgs, _global: &Global) -> Result<ExitCode> { todo!() }
