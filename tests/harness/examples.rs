//! Copies of the bundled example projects (`examples/NAME`) for tests.

use std::fs;
use std::path::Path;
use std::process::Command;

/// Copy `examples/<name>` to `to`: the sources only. In a git checkout that
/// is what git tracks or would track (so the outputs and `.tupfs/` of an
/// in-place build, as the README's run command makes, stay behind);
/// elsewhere everything but `.tupfs/`.
pub fn copy_example(name: &str, to: &Path) {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rel = format!("examples/{name}");
    let listed = Command::new("git")
        .args(["ls-files", "-co", "--exclude-standard", "--", &rel])
        .current_dir(manifest)
        .output()
        .ok()
        .filter(|o| o.status.success() && !o.stdout.is_empty());
    match listed {
        Some(out) => {
            for file in String::from_utf8_lossy(&out.stdout).lines() {
                let dest = to.join(file.strip_prefix(&format!("{rel}/")).unwrap_or(file));
                fs::create_dir_all(dest.parent().unwrap()).unwrap();
                fs::copy(manifest.join(file), dest).unwrap();
            }
        }
        None => copy_tree(&manifest.join(&rel), to),
    }
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() == ".tupfs" {
            continue;
        }
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            fs::copy(entry.path(), dest).unwrap();
        }
    }
}
