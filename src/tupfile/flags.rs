//! %-flags (`%f %b %B %e %o %O %i %d %g %Nf %<group> %%`): substituted into
//! commands and output names before variables are expanded.

use std::iter::Peekable;
use std::str::CharIndices;

/// Which part of a rule is being expanded (some flags only fit some parts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The command (and display text).
    Command,
    /// The outputs (before `|`).
    Outputs,
    /// The extra outputs (after `|`).
    ExtraOutputs,
    /// A macro's order-only inputs.
    Inputs,
}

/// What the flags refer to.
#[derive(Clone, Copy, Debug)]
pub struct FlagCtx<'a> {
    /// Normal inputs as written relative to the rule's directory.
    pub inputs: &'a [String],
    /// What the first glob of each input matched (for `%g`).
    pub globs: &'a [Option<String>],
    /// Outputs (for `%o`/`%O`), when known.
    pub outputs: &'a [String],
    /// Order-only inputs (for `%i`).
    pub order_only: &'a [String],
    /// The extension of the single input of a foreach rule (for `%e`).
    pub ext: Option<&'a str>,
    /// The rule directory's name (for `%d`).
    pub dir_name: &'a str,
    /// Which part is being expanded.
    pub part: Part,
}

/// The basename of a path as written.
pub fn base(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The basename without its extension (a leading dot is not an extension).
pub fn base_no_ext(path: &str) -> &str {
    let b = base(path);
    match b.rfind('.') {
        Some(i) if i > 0 => &b[..i],
        _ => b,
    }
}

/// The extension (without the dot) of a path's basename, if any.
pub fn extension(path: &str) -> Option<&str> {
    let b = base(path);
    match b.rfind('.') {
        Some(i) if i > 0 => Some(&b[i + 1..]),
        _ => None,
    }
}

/// The path without the extension of its basename.
fn path_no_ext(path: &str) -> &str {
    let b = base(path);
    match b.rfind('.') {
        Some(i) if i > 0 => &path[..path.len() - b.len() + i],
        _ => path,
    }
}

/// Expand the %-flags of `text`; `extra` (the arguments after a `!macro`)
/// is appended after a space and expanded too (as tup 0.7.11 does).
/// Errors carry a 1-based column.
pub fn expand(text: &str, ctx: &FlagCtx, extra: Option<&str>) -> Result<String, String> {
    match extra {
        Some(extra) => expand_one(&format!("{text} {extra}"), ctx),
        None => expand_one(text, ctx),
    }
}

/// Expand the %-flags of `text` (see [`expand`]).
fn expand_one(text: &str, ctx: &FlagCtx) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let flag = Flag::read(&mut chars, i + 1, text)?;
        out.push_str(&flag.expand(ctx)?);
    }
    Ok(out)
}

/// One `%`-flag met in a text: its letter, its `N` if any, and the
/// 1-based column of its `%` (for messages).
#[derive(Clone, Copy)]
struct Flag {
    /// The letter after `%` (and the number).
    flag: char,
    /// `N` of `%Nf`: one entry (1-based) instead of all.
    index: Option<usize>,
    /// The 1-based column of the `%`.
    col: usize,
}

impl Flag {
    /// Read the flag whose `%` (at column `col` of `text`) was just taken
    /// from `chars`: an optional number, then the letter.
    fn read(chars: &mut Peekable<CharIndices>, col: usize, text: &str) -> Result<Flag, String> {
        let mut digits = String::new();
        while let Some(&(_, d)) = chars.peek() {
            if !d.is_ascii_digit() {
                break;
            }
            digits.push(d);
            chars.next();
        }
        let Some((_, flag)) = chars.next() else {
            return Err(format!(
                "column {col}: unfinished %-flag at the end of '{text}'"
            ));
        };
        if digits.is_empty() {
            return Ok(Flag {
                flag,
                index: None,
                col,
            });
        }
        // `%Nx` picks entry N of a list flag.
        let n = digits
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=99).contains(n) && matches!(flag, 'f' | 'b' | 'B' | 'o' | 'i'))
            .ok_or_else(|| {
                format!(
                    "column {col}: expected a number from 1 to 99 followed by f, b, B, o or i in '%{digits}{flag}'"
                )
            })?;
        Ok(Flag {
            flag,
            index: Some(n),
            col,
        })
    }

    /// What the flag stands for in `ctx`.
    fn expand(self, ctx: &FlagCtx) -> Result<String, String> {
        let col = self.col;
        match self.flag {
            'f' => self.pick(ctx.inputs, "input files", |s| s),
            'b' => self.pick(ctx.inputs, "input files", base),
            'B' => self.pick(ctx.inputs, "input files", base_no_ext),
            'i' => self.pick(ctx.order_only, "order-only input files", |s| s),
            'e' => ctx.ext.map(str::to_string).ok_or_else(|| {
                format!("column {col}: %e is only valid in a foreach rule whose input has an extension")
            }),
            'o' => {
                if !matches!(ctx.part, Part::Command | Part::ExtraOutputs) {
                    return Err(format!(
                        "column {col}: %o can only be used in the command or the extra outputs"
                    ));
                }
                self.pick(ctx.outputs, "outputs", |s| s)
            }
            'O' => self.output_stem(ctx),
            'd' => Ok(ctx.dir_name.to_string()),
            'g' => self.glob_match(ctx),
            // `%<group>` is expanded once the whole project is parsed (see
            // `groups`); only a command can use it.
            '<' => {
                if ctx.part != Part::Command {
                    return Err(format!("column {col}: %<group> can only be used in the command"));
                }
                Ok("%<".to_string())
            }
            '%' => Ok("%".to_string()),
            other => Err(format!(
                "column {col}: unknown %-flag '%{other}'; expected one of %f %b %B %e %o %O %i %d %g %<group> %%"
            )),
        }
    }

    /// Every entry of `list` through `f`, space separated, or only entry
    /// `N` for `%Nx`; `what` names the list in messages.
    fn pick(self, list: &[String], what: &str, f: fn(&str) -> &str) -> Result<String, String> {
        let Flag { flag, index, col } = self;
        if list.is_empty() {
            return Err(format!(
                "column {col}: %{flag} used but the rule has no {what}"
            ));
        }
        match index {
            None => Ok(list.iter().map(|s| f(s)).collect::<Vec<_>>().join(" ")),
            Some(n) => list.get(n - 1).map(|s| f(s).to_string()).ok_or_else(|| {
                format!(
                    "column {col}: %{n}{flag} asks for entry {n} but there are only {} {what}",
                    list.len()
                )
            }),
        }
    }

    /// `%O`: the single output without its extension (extra outputs only).
    fn output_stem(self, ctx: &FlagCtx) -> Result<String, String> {
        let col = self.col;
        if ctx.part != Part::ExtraOutputs {
            return Err(format!(
                "column {col}: %O can only be used in the extra outputs"
            ));
        }
        match ctx.outputs {
            [one] => Ok(path_no_ext(one).to_string()),
            _ => Err(format!(
                "column {col}: %O needs exactly one output, the rule has {}",
                ctx.outputs.len()
            )),
        }
    }

    /// `%g`: what the glob of the single input matched.
    fn glob_match(self, ctx: &FlagCtx) -> Result<String, String> {
        let col = self.col;
        match (ctx.inputs.len(), ctx.globs.first()) {
            (1, Some(Some(g))) => Ok(g.clone()),
            (1, _) => Err(format!("column {col}: %g used but the input was not matched by a glob")),
            (n, _) => Err(format!(
                "column {col}: %g is only valid with exactly one input (use foreach); the rule has {n}"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(
        inputs: &'a [String],
        outputs: &'a [String],
        oo: &'a [String],
        part: Part,
    ) -> FlagCtx<'a> {
        FlagCtx {
            inputs,
            globs: &[],
            outputs,
            order_only: oo,
            ext: Some("c"),
            dir_name: "src",
            part,
        }
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn all_flags() {
        let i = s(&["a/x.c", "y.tar.gz"]);
        let o = s(&["out/z.o"]);
        let oo = s(&["gen.h"]);
        let c = ctx(&i, &o, &oo, Part::Command);
        assert_eq!(
            expand("%f|%b|%B|%e|%o|%i|%d|%%|%2f|%1B|%1o|%<grp>", &c, Some("-x %1b")).unwrap(),
            "a/x.c y.tar.gz|x.c y.tar.gz|x y.tar|c|out/z.o|gen.h|src|%|y.tar.gz|x|out/z.o|%<grp> -x x.c"
        );
        let c = ctx(&i, &o, &oo, Part::ExtraOutputs);
        assert_eq!(expand("%O.map", &c, None).unwrap(), "out/z.map");
    }

    #[test]
    fn errors() {
        let i = s(&["x.c"]);
        let c = ctx(&i, &[], &[], Part::Command);
        assert_eq!(
            expand("cc %q", &c, None).unwrap_err(),
            "column 4: unknown %-flag '%q'; expected one of %f %b %B %e %o %O %i %d %g %<group> %%"
        );
        assert!(expand("cc %", &c, None).unwrap_err().contains("unfinished"));
        assert!(expand("%i", &c, None)
            .unwrap_err()
            .contains("no order-only"));
        assert!(expand("%3f", &c, None)
            .unwrap_err()
            .contains("only 1 input"));
        assert!(expand("%0f", &c, None).unwrap_err().contains("1 to 99"));
        assert!(expand("%O", &c, None)
            .unwrap_err()
            .contains("extra outputs"));
        let o = ctx(&i, &[], &[], Part::Outputs);
        assert!(expand("%o", &o, None).unwrap_err().contains("%o can only"));
        assert!(expand("%g", &o, None).unwrap_err().contains("glob"));
    }
}
