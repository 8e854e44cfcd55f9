//! The syntax of a `:` rule: its parts, its bin, and the `^FLAGS TEXT^`
//! display block of its command.

use super::RuleFlags;

/// A rule line split into its parts (nothing expanded yet).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleSyntax {
    /// `foreach` was given.
    pub foreach: bool,
    /// The input part (normal and order-only), if any.
    pub inputs: Option<String>,
    /// True if no normal inputs were written (a rule that needs none).
    pub empty_input: bool,
    /// The command (maybe `!macro args`).
    pub command: String,
    /// The outputs before `|`.
    pub outputs: String,
    /// The extra outputs after `|`.
    pub extra_outputs: Option<String>,
    /// The `{bin}` the outputs go into.
    pub bin: Option<String>,
}

/// Split the text after `:` (or a macro's value) into its parts.
pub fn split_rule(text: &str) -> Result<RuleSyntax, String> {
    let Some(first) = text.find("|>") else {
        if text.contains("<|") {
            return Err("reverse rules ('<|') are not supported; expected '|>'".into());
        }
        return Err("expected '|>' after the inputs".into());
    };
    let input = text[..first].trim();
    let rest = &text[first + 2..];
    let Some(second) = rest.find("|>") else {
        return Err("expected a second '|>' after the command".into());
    };
    let command = rest[..second].trim().to_string();
    let mut outputs = rest[second + 2..].trim_start().to_string();
    let bin = take_bin(&mut outputs)?;
    let (mut foreach, mut input) = (false, input);
    if let Some(r) = input.strip_prefix("foreach") {
        if r.is_empty() || r.starts_with([' ', '\t', '|']) {
            foreach = true;
            input = r.trim_start();
        }
    }
    let (outputs, extra_outputs) = match outputs.split_once('|') {
        Some((o, e)) => (o.trim().to_string(), Some(e.trim().to_string())),
        None => (outputs.trim().to_string(), None),
    };
    Ok(RuleSyntax {
        foreach,
        empty_input: input.is_empty() || input.starts_with('|'),
        inputs: (!input.is_empty()).then(|| input.to_string()),
        command,
        outputs,
        extra_outputs,
        bin,
    })
}

/// Remove a trailing `{bin}` from the outputs; it must be last.
fn take_bin(outputs: &mut String) -> Result<Option<String>, String> {
    let mut search = 0;
    while let Some(off) = outputs[search..].find('{') {
        let at = search + off;
        // A `{` inside a file name (not after white space) is part of it.
        if at > 0 && !outputs[..at].ends_with([' ', '\t']) {
            search = at + 1;
            continue;
        }
        let Some(close) = outputs[at..].find('}') else {
            return Err("expected '}' to close the bin name".into());
        };
        let name = outputs[at + 1..at + close].to_string();
        if !outputs[at + close + 1..].trim().is_empty() {
            return Err(format!(
                "the bin '{{{name}}}' must be the last thing in the output list"
            ));
        }
        if name.trim().is_empty() {
            return Err("expected a bin name between '{' and '}'".into());
        }
        outputs.truncate(at);
        let trimmed = outputs.trim_end().len();
        outputs.truncate(trimmed);
        return Ok(Some(name));
    }
    Ok(None)
}

/// Split `^FLAGS TEXT^ command` into (display, flags, command).
pub fn split_display(cmd: &str) -> Result<(Option<String>, RuleFlags, String), String> {
    let Some(rest) = cmd.strip_prefix('^') else {
        return Ok((None, RuleFlags::default(), cmd.to_string()));
    };
    let Some(end) = rest.find('^') else {
        return Err("expected a closing '^' after the display text".into());
    };
    let inner = &rest[..end];
    let (letters, text) = match inner.split_once(' ') {
        Some((l, t)) => (l, Some(t.trim())),
        None => (inner, None),
    };
    let mut flags = RuleFlags::default();
    for c in letters.chars() {
        match c {
            'b' => flags.bash = true,
            'c' => flags.full_sandbox = true,
            'j' => flags.compile_db = true,
            'o' => flags.cutoff = true,
            's' => flags.stream = true,
            't' => flags.transient = true,
            other => {
                return Err(format!(
                    "unknown ^-flag '{other}'; expected b, c, j, o, s or t (a display text needs a space after '^')"
                ))
            }
        }
    }
    if flags.cutoff && flags.transient {
        return Err("the ^o and ^t flags cannot be combined: a transient output cannot be compared with its last version".into());
    }
    let display = text.filter(|t| !t.is_empty()).map(str::to_string);
    Ok((display, flags, rest[end + 1..].trim_start().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_every_part() {
        let r = split_rule(" foreach *.c | gen.h |> cc %f |> %B.o | %B.d <objs> {bin}").unwrap();
        assert!(r.foreach);
        assert_eq!(r.inputs.as_deref(), Some("*.c | gen.h"));
        assert!(!r.empty_input);
        assert_eq!(r.command, "cc %f");
        assert_eq!(r.outputs, "%B.o");
        assert_eq!(r.extra_outputs.as_deref(), Some("%B.d <objs>"));
        assert_eq!(r.bin.as_deref(), Some("bin"));
        let r = split_rule(" | x |> echo |>").unwrap();
        assert!(r.empty_input && !r.foreach);
        let r = split_rule("|> |> a{b}").unwrap();
        assert_eq!((r.outputs.as_str(), r.bin), ("a{b}", None));
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(
            split_rule("a.c cc").unwrap_err(),
            "expected '|>' after the inputs"
        );
        assert_eq!(
            split_rule("a |> cc").unwrap_err(),
            "expected a second '|>' after the command"
        );
        assert_eq!(
            split_rule("a |> cc |> {b} x").unwrap_err(),
            "the bin '{b}' must be the last thing in the output list"
        );
        assert!(split_rule("a |> cc |> {b").unwrap_err().contains("'}'"));
        assert!(split_rule("a <| cc <| x").unwrap_err().contains("reverse"));
    }

    #[test]
    fn display_and_flags() {
        let (d, f, c) = split_display("^ CC x.c^ gcc -c x.c").unwrap();
        assert_eq!((d.as_deref(), c.as_str()), (Some("CC x.c"), "gcc -c x.c"));
        assert_eq!(f, RuleFlags::default());
        let (d, f, c) = split_display("^bcjs LINK^ ld").unwrap();
        assert!(f.bash && f.full_sandbox && f.compile_db && f.stream && !f.cutoff);
        assert_eq!((d.as_deref(), c.as_str()), (Some("LINK"), "ld"));
        let (d, f, _) = split_display("^o^ x").unwrap();
        assert!(f.cutoff && d.is_none());
        assert!(split_display("^ot^ x").unwrap_err().contains("^o and ^t"));
        assert!(split_display("^q x^ y")
            .unwrap_err()
            .contains("unknown ^-flag 'q'"));
        assert!(split_display("^ x").unwrap_err().contains("closing '^'"));
    }
}
