//! Conditionals (`ifeq`/`ifneq`/`ifdef`/`ifndef`/`else`/`endif`): the
//! stack of blocks open in one file, and evaluating the conditions.

use super::directives::{keyword, FileCtx, TupfileParse};
use super::driver::Driver;
use super::lines::Line;
use super::vars::Nodes;
use super::ParseError;

/// One open conditional block.
#[derive(Clone, Copy, Debug)]
struct Block {
    /// The condition's value (before `else`).
    value: bool,
    /// True once `else` was seen.
    in_else: bool,
    /// The line the block opened on (for "missing endif").
    line: u32,
}

/// The conditional blocks open at the current line of one file.
#[derive(Clone, Debug, Default)]
pub struct CondStack {
    blocks: Vec<Block>,
}

impl CondStack {
    /// True if lines at this point are live (every enclosing block true).
    pub fn active(&self) -> bool {
        self.blocks.iter().all(|b| b.value != b.in_else)
    }

    /// Open a block whose condition is `value`, opened at `line`.
    pub fn push(&mut self, value: bool, line: u32) {
        self.blocks.push(Block {
            value,
            in_else: false,
            line,
        });
    }

    /// `else`: flip the innermost block.
    pub fn flip(&mut self) -> Result<(), String> {
        match self.blocks.last_mut() {
            None => Err("'else' without a matching ifeq/ifneq/ifdef/ifndef".into()),
            Some(b) if b.in_else => Err(format!(
                "second 'else' in the block opened on line {}; expected 'endif'",
                b.line
            )),
            Some(b) => {
                b.in_else = true;
                Ok(())
            }
        }
    }

    /// `endif`: close the innermost block.
    pub fn pop(&mut self) -> Result<(), String> {
        self.blocks
            .pop()
            .map(|_| ())
            .ok_or_else(|| "'endif' without a matching ifeq/ifneq/ifdef/ifndef".into())
    }

    /// At end of file: the line of the innermost block still open, if any.
    pub fn unclosed(&self) -> Option<u32> {
        self.blocks.last().map(|b| b.line)
    }
}

impl TupfileParse {
    /// Open, flip or close a conditional block; false if `line` is not a
    /// conditional.
    pub(super) fn conditional(
        &mut self,
        drv: &Driver,
        ctx: &FileCtx,
        conds: &mut CondStack,
        line: &Line,
    ) -> Result<bool, ParseError> {
        let t = line.text.as_str();
        match t {
            "else" => conds.flip()?,
            "endif" => conds.pop()?,
            _ => {
                let found = CONDITIONALS.iter().find_map(|&(kw, test, negate)| {
                    keyword(t, kw).map(|rest| (rest, test, negate))
                });
                let Some((rest, test, negate)) = found else {
                    return Ok(false);
                };
                // Inside a skipped block the test is not even evaluated.
                let value = conds.active()
                    && match test {
                        Test::Equal => self.eval_eq(drv, ctx, rest)?,
                        Test::Defined => self.ifdef(drv, rest)?,
                    } != negate;
                conds.push(value, line.number);
            }
        }
        Ok(true)
    }

    /// `ifeq (a,b)`: compare the expanded halves (no trimming).
    fn eval_eq(&mut self, drv: &Driver, ctx: &FileCtx, rest: &str) -> Result<bool, ParseError> {
        let syntax =
            || ParseError::msg(format!("expected '(a,b)' after ifeq/ifneq, found '{rest}'"));
        let open = rest.find('(').ok_or_else(syntax)?;
        let comma = rest[open..]
            .find(',')
            .map(|c| c + open)
            .ok_or_else(syntax)?;
        let close = rest.rfind(')').filter(|&c| c > comma).ok_or_else(syntax)?;
        let (a, _) = self.eval_here(drv, ctx, &rest[open + 1..comma], Nodes::Forbidden)?;
        let (b, _) = self.eval_here(drv, ctx, &rest[comma + 1..close], Nodes::Forbidden)?;
        Ok(a == b)
    }

    /// `ifdef NAME`: true if the config sets NAME (any value).
    fn ifdef(&mut self, drv: &Driver, rest: &str) -> Result<bool, ParseError> {
        let name = rest.trim();
        let name = name.strip_prefix("CONFIG_").unwrap_or(name);
        if name.is_empty() || name.contains([' ', '\t']) {
            return Err(ParseError::msg(format!(
                "expected one config name after ifdef/ifndef, found '{rest}'"
            )));
        }
        let value = drv.config.get(name);
        let set = value.is_some();
        self.record.config.insert(name.to_string(), value);
        Ok(set)
    }
}

/// What a conditional directive tests.
#[derive(Clone, Copy)]
enum Test {
    /// `(a,b)`: the two expanded halves are equal.
    Equal,
    /// `NAME`: the config sets NAME.
    Defined,
}

/// The conditional directives: keyword, test, and whether it is negated.
const CONDITIONALS: [(&str, Test, bool); 4] = [
    ("ifeq", Test::Equal, false),
    ("ifneq", Test::Equal, true),
    ("ifdef", Test::Defined, false),
    ("ifndef", Test::Defined, true),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_and_else() {
        let mut c = CondStack::default();
        assert!(c.active());
        c.push(false, 1);
        assert!(!c.active());
        c.push(true, 2);
        assert!(!c.active());
        c.flip().unwrap();
        assert!(!c.active());
        c.pop().unwrap();
        c.flip().unwrap();
        assert!(c.active());
        assert_eq!(c.unclosed(), Some(1));
        assert!(c.flip().is_err());
        c.pop().unwrap();
        assert!(c.pop().is_err());
        assert_eq!(c.unclosed(), None);
    }
}
