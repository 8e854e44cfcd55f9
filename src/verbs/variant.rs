//! `variant CONFIG...`: for each config file, a variant directory
//! `build-NAME/` at the project root (NAME: the file name up to its first
//! dot) whose `tup.config` is a relative symlink to that file, as tup makes
//! them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};

use super::Global;
use crate::project::Project;

/// `variant`'s arguments.
#[derive(clap::Args, Debug)]
pub struct VariantArgs {
    /// Config files (tup.config format), e.g. `configs/*.config`.
    #[arg(required = true, value_name = "CONFIG")]
    pub configs: Vec<PathBuf>,
}

/// Make every variant directory; an existing non-empty one is an error.
pub fn run(dir: &Path, args: &VariantArgs, global: &Global) -> Result<ExitCode> {
    let project = Project::find(dir)?;
    for config in &args.configs {
        let made = add(&project.root, &dir.join(config))?;
        if !global.quiet {
            println!(
                "tupfs: Added variant '{}' using config file '{}'",
                made,
                config.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Make the variant of `config` in `root`; returns its directory's name.
fn add(root: &Path, config: &Path) -> Result<String> {
    let abs = config
        .canonicalize()
        .with_context(|| format!("cannot open config file {}", config.display()))?;
    let Ok(rel) = abs.strip_prefix(root) else {
        bail!(
            "config file {} is outside the project {}",
            config.display(),
            root.display()
        );
    };
    let file_name = rel.file_name().unwrap_or_default().to_string_lossy();
    let name = format!("build-{}", file_name.split('.').next().unwrap_or(""));
    let variant = root.join(&name);
    match std::fs::create_dir(&variant) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let empty = std::fs::read_dir(&variant)
                .with_context(|| format!("cannot list {}", variant.display()))?
                .next()
                .is_none();
            if !empty {
                bail!("variant directory '{name}' already exists and is not empty");
            }
        }
        Err(e) => bail!("cannot create variant directory {}: {e}", variant.display()),
    }
    let target = Path::new("..").join(rel);
    let link = variant.join("tup.config");
    std::os::unix::fs::symlink(&target, &link)
        .with_context(|| format!("cannot make the symlink {}", link.display()))?;
    Ok(name)
}
