//! The `ifeq`/`ifneq`/`ifdef`/`ifndef`/`else`/`endif` stack of one file.

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
