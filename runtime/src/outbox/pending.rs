//! The outbox messages of the open transaction, per level: a rolled-back level drops exactly
//! its messages, a released one hands them to its parent (the savepoint rules of hooks).

use super::Message;
use super::fast_path::{self, Reservation};
use crate::per_level::PerLevel;

/// The pending messages of the open levels, and the fast path's place for them once the
/// outermost COMMIT is under way.
#[derive(Debug, Default)]
pub(crate) struct PendingJobs {
    messages: PerLevel<Message>,
    handoff: Option<Reservation>,
}

impl PendingJobs {
    pub(crate) fn begin(&mut self) {
        self.messages.begin();
    }

    pub(crate) fn push(&mut self, message: Message) {
        self.messages.push(message);
    }

    /// A savepoint was released: its messages now belong to the parent.
    pub(crate) fn release(&mut self) {
        self.messages.release();
    }

    /// The innermost level rolled back: drop the messages enqueued since it began (and the
    /// fast path's place, taken only for a COMMIT that did not happen).
    pub(crate) fn rollback(&mut self) {
        self.messages.rollback();
        self.handoff = None;
    }

    /// Just before the outermost COMMIT: a place in this process's relay queue, and with
    /// `leases` (the backend writes them) the lease of each job it takes (see
    /// [`fast_path`](super::fast_path)).
    pub(crate) fn prepare_commit(&mut self, leases: bool) {
        self.handoff = if self.messages.all().is_empty() {
            None
        } else {
            fast_path::reserve(self.messages.all_mut(), leases)
        };
    }

    /// The messages to write before the outermost COMMIT (left in place: a failed write
    /// rolls the transaction back, which drops them).
    pub(crate) fn to_write(&self) -> &[Message] {
        self.messages.all()
    }

    /// The outermost transaction committed: its messages go to this process's relay (the
    /// fast path), and nothing is pending.
    pub(crate) fn committed(&mut self) {
        if let Some(handoff) = self.handoff.take() {
            fast_path::committed(handoff, self.messages.all());
        }
        self.messages.clear();
    }
}
