//! Glob patterns of one path component (`*`, `?`, `[...]`), as tup matches
//! them, and the text the first wildcard matched (`%g`).

use std::collections::HashSet;

/// True if `s` contains a glob character.
pub fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Longest pattern accepted (keeps matching time and recursion bounded).
pub const MAX_PATTERN: usize = 4096;

/// Match `name` against `pattern`. On a match, returns what the first
/// wildcard matched (empty if the pattern has none).
pub fn matches(pattern: &str, name: &str) -> Option<String> {
    if pattern.len() > MAX_PATTERN {
        return None;
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let mut m = Matcher {
        p: &p,
        n: &n,
        first: None,
        failed: HashSet::new(),
    };
    if m.at(0, 0) {
        let (a, b) = m.first.unwrap_or((0, 0));
        Some(n[a..b].iter().collect())
    } else {
        None
    }
}

/// A backtracking matcher; `*` tries the longest span first (tup picks the
/// longest match for `%g`: `*.txt` on `a.txt.txt` gives `a.txt`). Failed
/// states are remembered, so matching stays polynomial.
struct Matcher<'a> {
    /// The pattern.
    p: &'a [char],
    /// The name being matched.
    n: &'a [char],
    /// The span the first wildcard matched.
    first: Option<(usize, usize)>,
    /// (pattern, name) positions known not to match.
    failed: HashSet<(usize, usize)>,
}

impl Matcher<'_> {
    /// True if the pattern from `pi` matches the name from `ni`.
    fn at(&mut self, mut pi: usize, mut ni: usize) -> bool {
        let start = (pi, ni);
        if self.failed.contains(&start) {
            return false;
        }
        // Single-character items match iteratively; only `*` recurses.
        while let Some(&c) = self.p.get(pi) {
            if c == '*' {
                let next = pi + self.p[pi..].iter().take_while(|&&c| c == '*').count();
                let record = self.first.is_none();
                for end in (ni..=self.n.len()).rev() {
                    if record {
                        self.first = Some((ni, end));
                    }
                    if self.at(next, end) {
                        return true;
                    }
                }
                if record {
                    self.first = None;
                }
                self.failed.insert(start);
                return false;
            }
            let Some(&ch) = self.n.get(ni) else { break };
            let (step, wildcard) = match c {
                '?' => (Some(pi + 1), true),
                '[' => match class(self.p, pi) {
                    Some(cl) => {
                        let hit = cl.ranges.iter().any(|&(lo, hi)| lo <= ch && ch <= hi);
                        ((hit != cl.negated).then_some(cl.end + 1), true)
                    }
                    None => ((ch == '[').then_some(pi + 1), false),
                },
                lit => ((ch == lit).then_some(pi + 1), false),
            };
            let Some(next) = step else { break };
            if wildcard && self.first.is_none() {
                self.first = Some((ni, ni + 1));
            }
            pi = next;
            ni += 1;
        }
        let ok = pi == self.p.len() && ni == self.n.len();
        if !ok {
            self.failed.insert(start);
        }
        ok
    }
}

/// A `[...]` character class.
struct Class {
    /// Index of the closing `]`.
    end: usize,
    /// `[!...]` or `[^...]`.
    negated: bool,
    /// Inclusive character ranges.
    ranges: Vec<(char, char)>,
}

/// Parse the class starting at `p[start] == '['` (`None` if unclosed).
fn class(p: &[char], start: usize) -> Option<Class> {
    let mut i = start + 1;
    let negated = matches!(p.get(i), Some('!') | Some('^'));
    if negated {
        i += 1;
    }
    let mut items = Vec::new();
    let mut first = true;
    while let Some(&c) = p.get(i) {
        if c == ']' && !first {
            return Some(Class {
                end: i,
                negated,
                ranges: items,
            });
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&e| e != ']') {
            items.push((c, p[i + 2]));
            i += 3;
        } else {
            items.push((c, c));
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_questions_and_classes() {
        assert_eq!(matches("*.c", "foo.c").as_deref(), Some("foo"));
        assert_eq!(matches("*.c", "foo.h"), None);
        assert_eq!(matches("*.txt", "a.txt.txt").as_deref(), Some("a.txt"));
        assert_eq!(matches("?_x.c", "a_x.c").as_deref(), Some("a"));
        assert_eq!(matches("[ab]*.c", "b1.c").as_deref(), Some("b"));
        assert_eq!(matches("[!ab]*.c", "b1.c"), None);
        assert_eq!(matches("[a-c]x", "cx").as_deref(), Some("c"));
        assert_eq!(matches("x*", "x").as_deref(), Some(""));
        assert_eq!(matches("plain", "plain").as_deref(), Some(""));
        assert_eq!(matches("a[b", "a[b").as_deref(), Some(""));
        assert!(is_glob("a*") && !is_glob("a.c"));
        assert_eq!(matches("a**b", "axxb").as_deref(), Some("xx"));
    }

    #[test]
    fn pathological_patterns_stay_fast() {
        let name = "a".repeat(60);
        assert!(matches(&"*a".repeat(30), &name).is_some());
        assert_eq!(matches(&format!("{}b", "*a".repeat(30)), &name), None);
        assert_eq!(matches(&"x".repeat(MAX_PATTERN + 1), "x"), None);
    }
}
