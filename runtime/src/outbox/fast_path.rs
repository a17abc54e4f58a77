//! The fast path: right after an outermost COMMIT that wrote durable jobs, their ids go to the
//! relay running in this process ([`Relay::run`](super::relay::Relay::run)), so it publishes
//! them at once instead of at its next poll. The handoff never blocks and never fails the
//! COMMIT: when no relay listens or its queue is full, the rows wait for the sweep.

use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;
use uuid::Uuid;

use super::Message;

/// Committed batches a relay may have queued before handoffs are left to the sweep.
const QUEUED_COMMITS: usize = 65_536;

struct Listener {
    token: u64,
    sender: mpsc::Sender<Vec<Uuid>>,
}

static LISTENER: RwLock<Option<Listener>> = RwLock::new(None);
static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

/// Hands the ids of `messages`, just committed, to the listening relay, if any.
pub(crate) fn committed(messages: &[Message]) {
    if messages.is_empty() {
        return;
    }
    let listener = LISTENER.read().unwrap_or_else(|e| e.into_inner());
    let Some(listener) = listener.as_ref() else {
        return;
    };
    let ids = messages.iter().map(|m| m.id).collect();
    if listener.sender.try_send(ids).is_err() {
        tracing::debug!(
            jobs = messages.len(),
            "the relay's fast path is full; the sweep delivers these jobs"
        );
    }
}

/// A relay's end of the fast path; dropping it stops the handoffs (unless another relay has
/// taken the fast path since).
pub(crate) struct Subscription {
    token: u64,
    receiver: mpsc::Receiver<Vec<Uuid>>,
}

impl Subscription {
    /// Takes the fast path for this process (from any relay that had it).
    pub(crate) fn take() -> Subscription {
        let (sender, receiver) = mpsc::channel(QUEUED_COMMITS);
        let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
        *LISTENER.write().unwrap_or_else(|e| e.into_inner()) = Some(Listener { token, sender });
        Subscription { token, receiver }
    }

    /// Waits for committed ids, then takes up to `limit` of those queued.
    pub(crate) async fn next(&mut self, limit: usize) -> Option<Vec<Uuid>> {
        let mut ids = self.receiver.recv().await?;
        while ids.len() < limit {
            match self.receiver.try_recv() {
                Ok(more) => ids.extend(more),
                Err(_) => break,
            }
        }
        Some(ids)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut listener = LISTENER.write().unwrap_or_else(|e| e.into_inner());
        if listener.as_ref().is_some_and(|l| l.token == self.token) {
            *listener = None;
        }
    }
}
