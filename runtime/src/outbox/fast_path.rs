//! The fast path: right after an outermost COMMIT that wrote durable jobs, they go to the
//! relay running in this process ([`Relay::run`](super::relay::Relay::run)), so it publishes
//! them at once instead of at its next poll. The handoff never blocks and never fails the
//! COMMIT: when no relay listens or its queue is full, the rows wait for the sweep.
//!
//! Before the COMMIT, a place in the relay's queue is reserved ([`reserve`]). With one, and a
//! backend that writes leases ([`Backend::WRITES_OUTBOX_LEASES`]), the jobs the relay would
//! take (its topics, no ordering key) are written already leased to it, as its claim would
//! leave them ([`Message::lease`]): the relay publishes them from memory, with no claim of
//! its own, and deletes their rows. Other jobs go by id, and the relay claims them. Either
//! way, if this process dies before the relay is done, the rows are the sweep's once their
//! lease (if any) expires.
//!
//! [`Backend::WRITES_OUTBOX_LEASES`]: crate::Backend::WRITES_OUTBOX_LEASES

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use uuid::Uuid;

use super::Message;
use super::sink::Delivery;

/// Committed batches a relay may have queued before handoffs are left to the sweep.
const QUEUED_COMMITS: usize = 65_536;

/// The jobs of one committed transaction, as the relay receives them.
#[derive(Debug, Default)]
pub(crate) struct Handoff {
    /// Written leased to the relay: to publish as they are (attempt 1) if their publish can
    /// start before `publish_by`.
    pub(crate) leased: Vec<Leased>,
    /// Written unclaimed: to claim by id.
    pub(crate) ids: Vec<Uuid>,
}

/// A job written leased to the relay.
#[derive(Debug)]
pub(crate) struct Leased {
    pub(crate) delivery: Delivery,
    /// Half its lease after the place was reserved (before its row was written, so before
    /// the database's clock started the lease): a publish started by then has at least half
    /// the lease to finish before another relay may claim the row. Later, the relay hands
    /// the row back instead of publishing it from memory (a row whose lease expired may
    /// have been claimed and published by another relay already).
    pub(crate) publish_by: Instant,
}

impl Handoff {
    fn len(&self) -> usize {
        self.leased.len() + self.ids.len()
    }

    fn extend(&mut self, other: Handoff) {
        self.leased.extend(other.leased);
        self.ids.extend(other.ids);
    }
}

/// What the listening relay takes, and for how long its claims hold.
struct Listener {
    token: u64,
    sender: mpsc::Sender<Handoff>,
    lease: Duration,
    topics: Arc<[String]>,
}

impl Listener {
    /// Whether the relay would claim `message` on its own: one of its topics, no ordering
    /// key (a keyed job waits for its key's older jobs, which only a claim checks).
    fn takes(&self, message: &Message) -> bool {
        message.key.is_none()
            && (self.topics.is_empty() || self.topics.iter().any(|t| *t == *message.topic))
    }
}

static LISTENER: RwLock<Option<Listener>> = RwLock::new(None);
static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

/// A place in the listening relay's queue, taken before an outermost COMMIT; dropped with
/// the transaction when it does not commit.
#[derive(Debug)]
pub(crate) struct Reservation {
    permit: mpsc::OwnedPermit<Handoff>,
    publish_by: Instant,
}

/// Reserves a place for the jobs of `messages` in the listening relay's queue, if a relay
/// listens and its queue has room. With `leases` (the backend writes them), sets the lease of
/// each job the relay takes.
pub(crate) fn reserve(messages: &mut [Message], leases: bool) -> Option<Reservation> {
    let listener = LISTENER.read().unwrap_or_else(|e| e.into_inner());
    let listener = listener.as_ref()?;
    let Ok(permit) = listener.sender.clone().try_reserve_owned() else {
        tracing::debug!(
            jobs = messages.len(),
            "the relay's fast path is full; the sweep delivers these jobs"
        );
        return None;
    };
    if leases {
        for message in messages.iter_mut().filter(|m| listener.takes(m)) {
            message.lease = Some(listener.lease);
        }
    }
    Some(Reservation {
        permit,
        publish_by: Instant::now() + listener.lease / 2,
    })
}

/// Hands the jobs of `messages`, just committed, to the relay that `reservation` holds a
/// place with: the leased ones whole, the others by id.
pub(crate) fn committed(reservation: Reservation, messages: &[Message]) {
    let mut handoff = Handoff::default();
    for message in messages {
        if message.lease.is_some() {
            handoff.leased.push(Leased {
                delivery: Delivery {
                    id: message.id,
                    topic: message.topic.to_string(),
                    payload: message.payload.clone(),
                    attempts: 1,
                    key: None,
                },
                publish_by: reservation.publish_by,
            });
        } else {
            handoff.ids.push(message.id);
        }
    }
    // A relay that stopped meanwhile leaves the rows to the sweep (after their lease).
    let _ = reservation.permit.send(handoff);
}

/// A relay's end of the fast path; dropping it stops the handoffs (unless another relay has
/// taken the fast path since).
pub(crate) struct Subscription {
    token: u64,
    receiver: mpsc::Receiver<Handoff>,
}

impl Subscription {
    /// Takes the fast path for this process (from any relay that had it), for a relay that
    /// claims for `lease` the jobs of `topics` (all when empty).
    pub(crate) fn take(lease: Duration, topics: &[String]) -> Subscription {
        let (sender, receiver) = mpsc::channel(QUEUED_COMMITS);
        let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
        *LISTENER.write().unwrap_or_else(|e| e.into_inner()) = Some(Listener {
            token,
            sender,
            lease,
            topics: topics.into(),
        });
        Subscription { token, receiver }
    }

    /// Waits for committed jobs, then takes more of those queued while there are fewer than
    /// `limit`.
    pub(crate) async fn next(&mut self, limit: usize) -> Option<Handoff> {
        let mut handoff = self.receiver.recv().await?;
        while handoff.len() < limit {
            match self.receiver.try_recv() {
                Ok(more) => handoff.extend(more),
                Err(_) => break,
            }
        }
        Some(handoff)
    }

    /// Stops the handoffs and returns the leased jobs still queued, and those of the
    /// transactions committing meanwhile (waiting for them at most `grace`): a relay that
    /// stops hands them back instead of leaving them until their lease expires. A
    /// transaction that has not sent its jobs by then leaves them to the sweep.
    pub(crate) async fn close(mut self, grace: Duration) -> Vec<Delivery> {
        self.unlisten();
        self.receiver.close();
        let mut leased = Vec::new();
        let deadline = tokio::time::Instant::now() + grace;
        while let Ok(Some(handoff)) = tokio::time::timeout_at(deadline, self.receiver.recv()).await
        {
            leased.extend(handoff.leased.into_iter().map(|l| l.delivery));
        }
        leased
    }

    fn unlisten(&self) {
        let mut listener = LISTENER.write().unwrap_or_else(|e| e.into_inner());
        if listener.as_ref().is_some_and(|l| l.token == self.token) {
            *listener = None;
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.unlisten();
    }
}
