//! Targets on the command line (a file, a directory, a variant directory):
//! which commands a build may run — those that make the targets and
//! everything they depend on.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::graph::Graph;
use crate::paths::ProjPath;

/// The commands to build, by `CmdId::index`: all of them when `targets`
/// is empty. Targets are relative to `cwd`.
pub fn select(graph: &Graph, root: &Path, cwd: &Path, targets: &[PathBuf]) -> Result<Vec<bool>> {
    if targets.is_empty() {
        return Ok(vec![true; graph.len()]);
    }
    let mut selected = vec![false; graph.len()];
    for t in targets {
        let target = to_proj(root, cwd, t)?;
        let mut any = false;
        for (id, node) in graph.commands() {
            let makes = graph.outputs(id).any(|o| o.starts_with(&target));
            if makes || node.rule.dir.starts_with(&target) {
                any = true;
                selected[id.index()] = true;
                for a in graph.ancestors(id) {
                    selected[a.index()] = true;
                }
            }
        }
        if !any {
            bail!("no command builds {target} (a target must be an output or a directory)");
        }
    }
    Ok(selected)
}

fn to_proj(root: &Path, cwd: &Path, target: &Path) -> Result<ProjPath> {
    let abs = cwd.join(target);
    let Ok(rel) = abs.strip_prefix(root) else {
        bail!(
            "target {} is outside the project {}",
            target.display(),
            root.display()
        );
    };
    Ok(ProjPath::new(&rel.to_string_lossy())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::tests::rule;

    #[test]
    fn a_target_pulls_in_what_it_needs_only() {
        let g = Graph::build(vec![
            rule("lib", "cc", &["lib/a.c"], &["lib/a.o"]),
            rule("app", "link", &["lib/a.o"], &["app/app"]),
            rule("doc", "doc", &[], &["doc/x.html"]),
        ])
        .unwrap();
        let root = Path::new("/p");
        let sel = select(&g, root, root, &["app/app".into()]).unwrap();
        assert_eq!(sel, vec![true, true, false]);
        let sel = select(&g, root, &root.join("doc"), &[".".into()]).unwrap();
        assert_eq!(sel, vec![false, false, true]);
        assert!(select(&g, root, root, &["nothing".into()]).is_err());
    }
}
