//! Items registered in the open transaction, per level, with the savepoint rules of hooks: a
//! rolled-back level loses exactly its items, a released one hands them to its parent, and
//! the outermost level's end takes or drops them all. Durable jobs, rollback hooks and
//! before-commit hooks are kept this way.

/// The items and, per open level, how many there were when it began.
#[derive(Debug)]
pub(crate) struct PerLevel<T> {
    items: Vec<T>,
    marks: Vec<usize>,
}

impl<T> Default for PerLevel<T> {
    fn default() -> Self {
        PerLevel {
            items: Vec::new(),
            marks: Vec::new(),
        }
    }
}

impl<T> PerLevel<T> {
    /// A level opened.
    pub(crate) fn begin(&mut self) {
        self.marks.push(self.items.len());
    }

    /// Whether a level is open.
    pub(crate) fn is_open(&self) -> bool {
        !self.marks.is_empty()
    }

    /// Adds `item` to the innermost level.
    pub(crate) fn push(&mut self, item: T) {
        self.items.push(item);
    }

    /// A savepoint was released: its items now belong to its parent.
    pub(crate) fn release(&mut self) {
        self.marks.pop();
    }

    /// The innermost level rolled back: its items, in the order they were added.
    pub(crate) fn rollback(&mut self) -> std::vec::Drain<'_, T> {
        let mark = self.marks.pop().unwrap_or(self.items.len());
        self.items.drain(mark..)
    }

    /// Every item of the open transaction, in order.
    pub(crate) fn all(&self) -> &[T] {
        &self.items
    }

    /// Every item of the open transaction, in order, to change in place.
    #[cfg(feature = "outbox")]
    pub(crate) fn all_mut(&mut self) -> &mut [T] {
        &mut self.items
    }

    /// Takes every item (the outermost level is about to commit), leaving the levels open.
    pub(crate) fn take_all(&mut self) -> Vec<T> {
        for mark in &mut self.marks {
            *mark = 0;
        }
        std::mem::take(&mut self.items)
    }

    /// The outermost transaction ended: nothing is left.
    pub(crate) fn clear(&mut self) {
        self.items.clear();
        self.marks.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn savepoint_rules() {
        let mut items = PerLevel::default();
        assert!(!items.is_open());
        items.begin();
        items.push(1);
        items.begin();
        items.push(2);
        items.release();
        items.begin();
        items.push(3);
        assert_eq!(items.rollback().collect::<Vec<_>>(), [3]);
        assert_eq!(items.all(), [1, 2]);
        items.begin();
        items.push(4);
        assert_eq!(items.take_all(), [1, 2, 4]);
        assert_eq!(items.rollback().count(), 0);
        items.clear();
        assert!(!items.is_open());
    }
}
