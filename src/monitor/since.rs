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
    /// True when `path` may differ from what it was at the clock.
    pub fn may_have_changed(&self, path: &str) -> bool {
        if self.paths.contains(path) || self.under(&self.subtrees, path) {
            return true;
        }
        self.under(&self.unwatched, path) && !self.unwatched.contains(path)
            || self.unwatched.contains(path) && self.is_link_like(path)
    }

    /// A symbolic link itself is watched through its directory; what is
    /// under it is not. A VCS directory or `.tupfs` is not watched at all.
    fn is_link_like(&self, path: &str) -> bool {
        let name = path.rsplit('/').next().unwrap_or(path);
        super::watch::is_excluded_name(name) || path == crate::project::STATE_DIR
    }

    /// True when `path` or one of its ancestors is in `set` ("" is the
    /// ancestor of everything).
    fn under(&self, set: &HashSet<String>, path: &str) -> bool {
        if set.is_empty() {
            return false;
        }
        if set.contains(path) || set.contains("") {
            return true;
        }
        let mut end = path.len();
        while let Some(i) = path[..end].rfind('/') {
            if set.contains(&path[..i]) {
                return true;
            }
            end = i;
        }
        false
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
