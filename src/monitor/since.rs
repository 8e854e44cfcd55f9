//! [`Since`]: the paths that may have changed since a clock, as a build
//! receives them from the monitor, and the question a build asks of it.

use std::collections::HashSet;

/// The paths (project-relative, "" the root) that may have changed since a
/// clock. Anything else is as it was at that clock.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Since {
    /// Paths that may have changed themselves.
    pub paths: HashSet<String>,
    /// Paths under which anything may have changed (a directory created,
    /// deleted or moved).
    pub subtrees: HashSet<String>,
    /// Paths the monitor does not watch under (`.tupfs`, VCS directories,
    /// symbolic links): anything under them is always judged.
    pub unwatched: HashSet<String>,
}

impl Since {
    /// True when `path` may differ from what it was at the clock. Asked
    /// once per recorded file, so the usual case (few entries) costs a few
    /// string comparisons, not a hash per ancestor.
    pub fn may_have_changed(&self, path: &str) -> bool {
        if !self.paths.is_empty() && self.paths.contains(path) {
            return true;
        }
        if place_of(&self.subtrees, path).is_some() {
            return true;
        }
        match place_of(&self.unwatched, path) {
            Some(Place::Below) => true,
            // A symbolic link itself is watched through its directory; a
            // VCS directory or `.tupfs` is not watched at all.
            Some(Place::At) => is_unwatched_dir(path),
            None => false,
        }
    }
    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.paths.len() + self.subtrees.len()
    }

    /// True when nothing may have changed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The wire form: one line per entry, `p PATH`, `t PATH` or `u PATH`.
    pub fn encode(&self, out: &mut String) {
        for (tag, set) in [
            ('p', &self.paths),
            ('t', &self.subtrees),
            ('u', &self.unwatched),
        ] {
            for path in set {
                out.push(tag);
                out.push(' ');
                out.push_str(path);
                out.push('\n');
            }
        }
    }

    /// Add one wire line; false when it is not one.
    pub fn decode_line(&mut self, line: &str) -> bool {
        let Some((tag, path)) = line.split_once(' ') else {
            return false;
        };
        let set = match tag {
            "p" => &mut self.paths,
            "t" => &mut self.subtrees,
            "u" => &mut self.unwatched,
            _ => return false,
        };
        set.insert(path.to_string());
        true
    }
}

/// Where a path is relative to the nearest entry of a set above it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// The path is an entry.
    At,
    /// An entry is one of its ancestors ("" is everyone's).
    Below,
}

/// Whether `path` is an entry of `set` or below one: by comparing with
/// each entry when there are few, else by looking up each ancestor.
fn place_of(set: &HashSet<String>, path: &str) -> Option<Place> {
    const FEW: usize = 8;
    if set.is_empty() {
        return None;
    }
    if set.len() <= FEW {
        let mut found = None;
        for entry in set {
            if entry == path {
                found = Some(Place::At);
            } else if entry.is_empty() || is_below(path, entry) {
                return Some(Place::Below);
            }
        }
        return found;
    }
    if set.contains("") {
        return Some(Place::Below);
    }
    let mut end = path.len();
    while let Some(i) = path[..end].rfind('/') {
        if set.contains(&path[..i]) {
            return Some(Place::Below);
        }
        end = i;
    }
    set.contains(path).then_some(Place::At)
}

/// `path` is strictly below `dir`.
fn is_below(path: &str, dir: &str) -> bool {
    path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/'
}

/// `.tupfs` or a VCS directory: never watched, unlike a symbolic link.
/// True when `path` is a place the monitor never watches (a VCS directory,
/// `.tupfs`), rather than a symbolic link watched through its directory.
pub fn is_unwatched_dir(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    super::watch::is_excluded_name(name) || path == crate::project::STATE_DIR
}

#[cfg(test)]
mod tests {
    use super::*;

    fn since(p: &[&str], t: &[&str], u: &[&str]) -> Since {
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        Since {
            paths: set(p),
            subtrees: set(t),
            unwatched: set(u),
        }
    }

    #[test]
    fn paths_subtrees_and_unwatched_places() {
        let s = since(&["a.c", "src"], &["new"], &["link", ".git"]);
        assert!(s.may_have_changed("a.c"));
        assert!(s.may_have_changed("src"));
        assert!(!s.may_have_changed("src/b.c"), "a path is not a subtree");
        assert!(s.may_have_changed("new"));
        assert!(s.may_have_changed("new/deep/x.h"));
        assert!(!s.may_have_changed("newer"));
        assert!(s.may_have_changed("link/x.h"), "under a symbolic link");
        assert!(!s.may_have_changed("link"), "the link itself is watched");
        assert!(s.may_have_changed(".git"));
        assert!(s.may_have_changed(".git/HEAD"));
        assert!(!s.may_have_changed("b.c"));
        assert!(since(&[], &[""], &[]).may_have_changed("any/thing"));
        // Many entries: looked up by ancestor, same answers.
        let many: Vec<String> = (0..20).map(|i| format!("d{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let s = since(
            &[],
            &many,
            &[".git", "l0", "l1", "l2", "l3", "l4", "l5", "l6", "l7"],
        );
        assert!(s.may_have_changed("d3/x") && s.may_have_changed("d13"));
        assert!(!s.may_have_changed("d33/x") && !s.may_have_changed("l0"));
        assert!(s.may_have_changed("l7/x") && s.may_have_changed(".git"));
    }

    #[test]
    fn wire_form_round_trips() {
        let s = since(&["a b.c", ""], &["new"], &["link"]);
        let mut text = String::new();
        s.encode(&mut text);
        let mut back = Since::default();
        for line in text.lines() {
            assert!(back.decode_line(line), "{line}");
        }
        assert_eq!(back, s);
        assert!(!back.decode_line("x y"));
    }
}
