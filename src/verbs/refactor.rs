//! stub
use std::path::Path;
use std::process::ExitCode;
use anyhow::Result;
use super::Global;
/// stub
pub fn run(_dir: &Path, _global: &Global) -> Result<ExitCode> { todo!() }
