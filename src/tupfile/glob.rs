//! Glob patterns of one path component (`*`, `?`, `[...]`), as tup matches
//! them, and the text the first wildcard matched (`%g`).

/// True if `s` contains a glob character.
pub fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Match `name` against `pattern`. On a match, returns what the first
/// wildcard matched (empty if the pattern has none).
pub fn matches(pattern: &str, name: &str) -> Option<String> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let mut first = None;
    if match_at(&p, 0, &n, 0, &mut first) {
        let (a, b) = first.unwrap_or((0, 0));
        Some(n[a..b].iter().collect())
    } else {
        None
    }
}

/// Backtracking matcher; `*` tries the longest span first (tup picks the
/// longest match for `%g`: `*.txt` on `a.txt.txt` gives `a.txt`).
fn match_at(
    p: &[char],
    pi: usize,
    n: &[char],
    ni: usize,
    first: &mut Option<(usize, usize)>,
) -> bool {
    let Some(&c) = p.get(pi) else {
        return ni == n.len();
    };
    let record = first.is_none();
    match c {
        '*' => {
            for end in (ni..=n.len()).rev() {
                if record {
                    *first = Some((ni, end));
                }
                if match_at(p, pi + 1, n, end, first) {
                    return true;
                }
                if record {
                    *first = None;
                }
            }
            false
        }
        '?' => {
            if ni >= n.len() {
                return false;
            }
            if record {
                *first = Some((ni, ni + 1));
            }
            let ok = match_at(p, pi + 1, n, ni + 1, first);
            if !ok && record {
                *first = None;
            }
            ok
        }
        '[' => match class(p, pi) {
            Some((set_end, negated, items)) => {
                let Some(&ch) = n.get(ni) else { return false };
                let hit = items.iter().any(|&(lo, hi)| lo <= ch && ch <= hi);
                if hit == negated {
                    return false;
                }
                if record {
                    *first = Some((ni, ni + 1));
                }
                let ok = match_at(p, set_end + 1, n, ni + 1, first);
                if !ok && record {
                    *first = None;
                }
                ok
            }
            // An unclosed `[` is a literal character.
            None => n.get(ni) == Some(&'[') && match_at(p, pi + 1, n, ni + 1, first),
        },
        lit => n.get(ni) == Some(&lit) && match_at(p, pi + 1, n, ni + 1, first),
    }
}

/// Parse the class starting at `p[start] == '['`: its closing index,
/// whether it is negated, and its ranges.
fn class(p: &[char], start: usize) -> Option<(usize, bool, Vec<(char, char)>)> {
    let mut i = start + 1;
    let negated = matches!(p.get(i), Some('!') | Some('^'));
    if negated {
        i += 1;
    }
    let mut items = Vec::new();
    let mut first = true;
    while let Some(&c) = p.get(i) {
        if c == ']' && !first {
            return Some((i, negated, items));
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
    }
}
