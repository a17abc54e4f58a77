//! The outbox messages of the open transaction, per level: a rolled-back level drops exactly
//! its messages, a released one hands them to its parent (the savepoint rules of hooks).

use super::Message;
use crate::per_level::PerLevel;

/// The pending messages of the open levels.
#[derive(Debug, Default)]
pub(crate) struct PendingJobs(PerLevel<Message>);

impl PendingJobs {
    pub(crate) fn begin(&mut self) {
        self.0.begin();
    }

    pub(crate) fn push(&mut self, message: Message) {
        self.0.push(message);
    }

    /// A savepoint was released: its messages now belong to the parent.
    pub(crate) fn release(&mut self) {
        self.0.release();
    }

    /// The innermost level rolled back: drop the messages enqueued since it began.
    pub(crate) fn rollback(&mut self) {
        self.0.rollback();
    }

    /// The messages to write before the outermost COMMIT (left in place: a failed write
    /// rolls the transaction back, which drops them).
    pub(crate) fn to_write(&self) -> &[Message] {
        self.0.all()
    }

    /// The outermost transaction committed: its messages go to this process's relay (the
    /// fast path), and nothing is pending.
    pub(crate) fn committed(&mut self) {
        super::fast_path::committed(self.0.all());
        self.0.clear();
    }
}
