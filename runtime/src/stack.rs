//! The pending hooks of one connection and the savepoint marks that scope them.
//!
//! Hooks live in one flat vector in registration order; each open level remembers how many
//! hooks existed when it began. Releasing a savepoint just forgets its mark (its hooks now
//! belong to the parent), rolling it back truncates to the mark, and the outermost COMMIT
//! takes everything. Every operation is O(1) apart from dropping discarded hooks.

use crate::hook::Hook;

#[derive(Default)]
pub(crate) struct HookStack {
    hooks: Vec<Hook>,
    marks: Vec<usize>,
}

impl HookStack {
    /// Open levels: 0 outside a transaction, 1 in the outermost, 2+ in savepoints.
    pub(crate) fn depth(&self) -> usize {
        self.marks.len()
    }

    /// Hooks waiting for COMMIT.
    pub(crate) fn pending(&self) -> usize {
        self.hooks.len()
    }

    pub(crate) fn begin(&mut self) {
        self.marks.push(self.hooks.len());
    }

    pub(crate) fn push(&mut self, hook: Hook) {
        debug_assert!(self.depth() > 0, "hooks are only held inside a transaction");
        self.hooks.push(hook);
    }

    /// A savepoint was released: its hooks now wait for the parent.
    pub(crate) fn release(&mut self) {
        debug_assert!(self.depth() > 1);
        self.marks.pop();
    }

    /// The outermost transaction committed: every hook, in registration order.
    pub(crate) fn commit_outermost(&mut self) -> std::vec::Drain<'_, Hook> {
        debug_assert_eq!(self.depth(), 1);
        self.marks.clear();
        self.hooks.drain(..)
    }

    /// The innermost level rolled back: drop exactly the hooks registered since it began.
    pub(crate) fn rollback(&mut self) {
        if let Some(mark) = self.marks.pop() {
            self.hooks.truncate(mark);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hook::HookSite;
    use std::panic::Location;

    fn hook() -> Hook {
        Hook::sync(HookSite::from_location(Location::caller()), false, || ())
    }

    #[test]
    fn rollback_of_a_savepoint_keeps_the_parents_hooks() {
        let mut stack = HookStack::default();
        stack.begin();
        stack.push(hook());
        stack.begin();
        stack.push(hook());
        stack.begin();
        stack.push(hook());
        stack.release();
        assert_eq!(stack.pending(), 3);
        stack.rollback();
        assert_eq!((stack.depth(), stack.pending()), (1, 1));
        assert_eq!(stack.commit_outermost().count(), 1);
        assert_eq!((stack.depth(), stack.pending()), (0, 0));
    }
}
