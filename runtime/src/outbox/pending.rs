//! The outbox messages of the open transaction, per level: a rolled-back level drops exactly
//! its messages, a released one hands them to its parent (the savepoint rules of hooks).

use super::Message;

/// The pending messages and, per open level, how many there were when it began.
#[derive(Debug, Default)]
pub(crate) struct PendingJobs {
    messages: Vec<Message>,
    marks: Vec<usize>,
}

impl PendingJobs {
    pub(crate) fn begin(&mut self) {
        self.marks.push(self.messages.len());
    }

    pub(crate) fn push(&mut self, message: Message) {
        self.messages.push(message);
    }

    /// A savepoint was released: its messages now belong to the parent.
    pub(crate) fn release(&mut self) {
        self.marks.pop();
    }

    /// The innermost level rolled back: drop the messages enqueued since it began.
    pub(crate) fn rollback(&mut self) {
        if let Some(mark) = self.marks.pop() {
            self.messages.truncate(mark);
        }
    }

    /// The messages to write before the outermost COMMIT (left in place: a failed write
    /// rolls the transaction back, which drops them).
    pub(crate) fn to_write(&self) -> &[Message] {
        &self.messages
    }

    /// The outermost transaction committed: its messages go to this process's relay (the
    /// fast path), and nothing is pending.
    pub(crate) fn committed(&mut self) {
        super::fast_path::committed(&self.messages);
        self.clear();
    }

    /// The outermost transaction ended (committed or not): nothing is pending.
    pub(crate) fn clear(&mut self) {
        self.messages.clear();
        self.marks.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(n: u8) -> Message {
        Message {
            id: uuid::Uuid::from_bytes([n; 16]),
            topic: "t".into(),
            payload: n.to_string(),
        }
    }

    #[test]
    fn savepoint_rules() {
        let mut jobs = PendingJobs::default();
        jobs.begin();
        jobs.push(message(1));
        jobs.begin();
        jobs.push(message(2));
        jobs.release();
        jobs.begin();
        jobs.push(message(3));
        jobs.rollback();
        let payloads: Vec<&str> = jobs.to_write().iter().map(|m| &*m.payload).collect();
        assert_eq!(payloads, ["1", "2"]);
        jobs.clear();
        assert!(jobs.to_write().is_empty());
    }
}
