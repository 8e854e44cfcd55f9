//! Splitting a Tupfile's text into logical lines, as tup reads them.
//!
//! A trailing `\` joins the next physical line (both become spaces), leading
//! and trailing white space is dropped, blank lines vanish and a line whose
//! first non-blank character is `#` is a comment.

/// One logical line: its text and the 1-based number of its first line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// The 1-based physical line the logical line starts on.
    pub number: u32,
    /// The text, with continuations joined and outer white space trimmed.
    pub text: String,
}

/// Split `text` into logical lines, dropping blanks and comments.
pub fn logical_lines(text: &str) -> Vec<Line> {
    let mut out = Vec::new();
    let mut pending: Option<(u32, String)> = None;
    for (idx, raw) in text.split('\n').enumerate() {
        let number = u32::try_from(idx + 1).unwrap_or(u32::MAX);
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let (body, continues) = match raw.strip_suffix('\\') {
            Some(b) => (b, true),
            None => (raw, false),
        };
        let (start, mut acc) = pending.take().unwrap_or((number, String::new()));
        acc.push_str(body);
        if continues {
            // tup turns the backslash and the newline into two spaces.
            acc.push_str("  ");
            pending = Some((start, acc));
            continue;
        }
        push_line(&mut out, start, &acc);
    }
    if let Some((start, acc)) = pending {
        push_line(&mut out, start, &acc);
    }
    out
}

/// Keep the logical line `text` unless it is blank or a comment.
fn push_line(out: &mut Vec<Line>, number: u32, text: &str) {
    let trimmed = text.trim_matches(|c: char| c.is_ascii_whitespace());
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return;
    }
    out.push(Line {
        number,
        text: trimmed.to_string(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_continuations_and_skips_comments() {
        let lines = logical_lines("# c\n  a = 1 \\\n  b\n\n# x \\\nstill comment\n: x |> y |>\r\n");
        assert_eq!(
            lines,
            vec![
                Line {
                    number: 2,
                    text: "a = 1     b".into()
                },
                Line {
                    number: 7,
                    text: ": x |> y |>".into()
                },
            ]
        );
    }

    #[test]
    fn last_line_without_newline_and_trailing_backslash() {
        let lines = logical_lines("a = b\\");
        assert_eq!(lines[0].text, "a = b");
        assert_eq!(logical_lines("x=1").len(), 1);
    }
}
