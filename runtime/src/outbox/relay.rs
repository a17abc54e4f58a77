//! Delivering committed outbox rows: a [`Relay`] claims rows under a lease, publishes them to
//! a [`Sink`], and deletes what the broker holds.
//!
//! - **Fast path**: [`Relay::run`] takes this process's committed jobs right after their
//!   COMMIT and publishes them at once. The transaction wrote the jobs this relay takes
//!   already leased to it (through sqlx, or diesel on Postgres; see
//!   [`Backend::WRITES_OUTBOX_LEASES`](crate::Backend::WRITES_OUTBOX_LEASES)), so it
//!   publishes them from memory with no claim; keyed jobs, and jobs of backends that write
//!   no lease, are claimed by id. On Postgres, the DELETEs of what it published run behind
//!   it on another connection of the pool, never holding up the next publish; elsewhere,
//!   beside its next claim or as soon as nothing else is waiting. If the process dies
//!   first, the rows are the sweep's once their lease expires.
//! - **Sweep**: every poll interval it claims rows nobody holds: jobs committed while no relay
//!   listened, jobs of a process that crashed (once their lease expires), retries whose delay
//!   is over. Several relays on several machines share one table safely: a claim skips rows
//!   another relay holds (`FOR UPDATE SKIP LOCKED` on Postgres and MySQL; SQLite has one
//!   writer). On Postgres, while a full batch is published and deleted, the next one is
//!   claimed on another connection of the pool (here and in [`Relay::drain`]).
//! - **Failures**: a failed batch is published again message by message, so that one
//!   message the broker refuses does not hold back the others; each failure is recorded on
//!   its row, which is retried after an exponential backoff, and moved to the dead-letter
//!   table (`oncommit_outbox_dead`) after [`RelayOptions::max_attempts`].
//! - **Shutdown**: the batch in flight gets [`RelayOptions::shutdown_grace`] to finish; after
//!   that its rows are handed back, claimable at once, and so is a batch claimed ahead.
//!
//! Delivery is at least once: a relay that dies after the broker took a batch but before
//! the DELETE leaves it to be published again, with the same message ids (the broker's and
//! the consumer's dedup key).
//!
//! Metrics (through the `metrics` facade, if the application installs a recorder):
//! `oncommit_outbox_published_total`, `oncommit_outbox_retried_total`,
//! `oncommit_outbox_dead_lettered_total` (counters), `oncommit_outbox_backlog`,
//! `oncommit_outbox_oldest_age_seconds`, `oncommit_outbox_dead` (gauges, updated at each idle
//! sweep). Each batch runs in a `tracing` span `oncommit.relay.batch`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use super::fast_path::{Handoff, Subscription};
use super::sink::{Delivery, Sink};
use super::store::{Claim, Failure, Store};
use crate::BoxError;

pub use super::store::Backlog;

/// How a relay claims, retries and stops.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RelayOptions {
    /// Rows claimed and published at once.
    pub batch: usize,
    /// How long a claim holds its rows before another relay may take them: longer than a
    /// publish can take. The fast path's jobs are leased from their INSERT on: one that
    /// waits in this relay's queue past half the lease is handed back to the sweep rather
    /// than published from memory.
    pub lease: Duration,
    /// Only these topics (all when empty).
    pub topics: Vec<String>,
    /// How often [`Relay::run`] sweeps for rows nobody holds.
    pub poll: Duration,
    /// A failed job is moved to the dead-letter table at this attempt.
    pub max_attempts: i32,
    /// The delay before the first retry; each later one doubles it.
    pub backoff: Duration,
    /// The longest delay between retries.
    pub max_backoff: Duration,
    /// Whether [`Relay::run`] takes this process's committed jobs right after COMMIT.
    pub fast_path: bool,
    /// At shutdown, how long the batch in flight may take before its rows are handed back.
    pub shutdown_grace: Duration,
}

impl Default for RelayOptions {
    fn default() -> Self {
        RelayOptions {
            batch: 500,
            lease: Duration::from_secs(30),
            topics: Vec::new(),
            poll: Duration::from_secs(1),
            max_attempts: 10,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            fast_path: true,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

impl RelayOptions {
    /// The delay before retrying a job that failed at `attempt` (1 for its first claim).
    ///
    /// ```
    /// use oncommit::outbox::relay::RelayOptions;
    /// use std::time::Duration;
    /// let options = RelayOptions::default();
    /// assert_eq!(options.retry_delay(1), Duration::from_secs(1));
    /// assert_eq!(options.retry_delay(4), Duration::from_secs(8));
    /// assert_eq!(options.retry_delay(40), Duration::from_secs(300));
    /// ```
    pub fn retry_delay(&self, attempt: i32) -> Duration {
        let doublings = attempt.saturating_sub(1).clamp(0, 30) as u32;
        self.backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff)
    }

    fn claim(&self) -> Claim<'_> {
        Claim {
            limit: self.batch.max(1),
            lease: self.lease,
            topics: &self.topics,
        }
    }
}

/// What one batch came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Drained {
    /// Jobs the sink accepted (and whose rows were deleted).
    pub published: usize,
    /// Jobs that failed and will be retried.
    pub retried: usize,
    /// Jobs that failed for the last time and went to the dead-letter table.
    pub dead_lettered: usize,
}

impl Drained {
    /// Rows the batch claimed.
    pub fn claimed(&self) -> usize {
        self.published + self.retried + self.dead_lettered
    }

    fn add(&mut self, other: Drained) {
        self.published += other.published;
        self.retried += other.retried;
        self.dead_lettered += other.dead_lettered;
    }
}

/// Batches of published rows queued for the fast path's DELETEs (on Postgres, where they run
/// beside it) before it waits for them: with the one being deleted and the one being
/// published, at most three batches are published and not yet deleted (what a crash may
/// publish again).
const DELETES_BEHIND: usize = 1;

/// Publish failures in a row after which the broker is taken to be down and the rest of a
/// failed batch is not tried message by message.
const FAILURES_BEFORE_DOWN: usize = 3;

/// Delivers the outbox table of `store` to `sink`.
///
/// ```no_run
/// # async fn f(pool: sqlx::PgPool) {
/// use oncommit::outbox::relay::{Relay, RelayOptions};
/// use oncommit::outbox::sink::ChannelSink;
///
/// let (sink, jobs) = ChannelSink::new();
/// let relay = Relay::new(pool, sink, RelayOptions::default());
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// let running = tokio::spawn(relay.run(async { stopped.await.ok(); }));
/// // … at shutdown:
/// stop.send(()).ok();
/// running.await.ok();
/// # }
/// ```
#[derive(Debug)]
pub struct Relay<St, S> {
    store: St,
    sink: S,
    options: RelayOptions,
    wake: Arc<tokio::sync::Notify>,
}

/// Wakes a running [`Relay`] for a sweep now, instead of at its next poll: what a relay in
/// another process than the writers does on a Postgres `NOTIFY` (see
/// [`notify_relays`](crate::outbox::notify_relays)). A wake while the relay is busy is kept
/// for when it is done.
///
/// ```
/// # async fn f(pool: sqlx::PgPool) {
/// use oncommit::outbox::relay::{Relay, RelayOptions};
/// use oncommit::outbox::sink::ChannelSink;
///
/// let (sink, _jobs) = ChannelSink::new();
/// let relay = Relay::new(pool, sink, RelayOptions::default());
/// let waker = relay.waker();
/// tokio::spawn(relay.run(std::future::pending()));
/// waker.wake(); // e.g. on each notification of a `PgListener`
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RelayWaker(Arc<tokio::sync::Notify>);

impl RelayWaker {
    /// Asks the relay for a sweep now.
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

impl<St: Store, S: Sink> Relay<St, S> {
    /// A relay from `store` (a sqlx pool) to `sink`.
    pub fn new(store: St, sink: S, options: RelayOptions) -> Relay<St, S> {
        Relay {
            store,
            sink,
            options,
            wake: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// A handle that wakes this relay for a sweep (once it runs).
    pub fn waker(&self) -> RelayWaker {
        RelayWaker(self.wake.clone())
    }

    /// Its options.
    pub fn options(&self) -> &RelayOptions {
        &self.options
    }

    /// Claims, publishes and settles one batch of rows nobody holds.
    pub async fn drain_once(&self) -> Result<Drained, BoxError> {
        let batch = self.store.claim(self.options.claim()).await?;
        self.deliver(batch).await
    }

    /// Drains batches until none is left to claim; returns the total. On Postgres, while a
    /// full batch is published and deleted, the next one is claimed (on another connection
    /// of the pool).
    pub async fn drain(&self) -> Result<Drained, BoxError> {
        let mut total = Drained::default();
        let mut batch = self.store.claim(self.options.claim()).await?;
        while self.more_after(&batch) {
            if has_keys(&batch) {
                // The keys' next jobs become claimable once this batch is settled.
                total.add(self.deliver_ref(&batch, None).await?);
                batch = self.store.claim(self.options.claim()).await?;
                continue;
            }
            let (drained, next) = self
                .beside(
                    self.deliver_ref(&batch, None),
                    self.store.claim(self.options.claim()),
                )
                .await;
            match (drained, next) {
                (Ok(drained), Ok(next)) => {
                    total.add(drained);
                    batch = next;
                }
                (Err(error), Ok(next)) => {
                    self.hand_back(&next).await;
                    return Err(error);
                }
                (_, Err(error)) => return Err(error),
            }
        }
        total.add(self.deliver(batch).await?);
        Ok(total)
    }

    /// Runs `first` and `then` at once where the store allows a claim beside other
    /// statements ([`Store::claims_beside_others`]), else one after the other.
    async fn beside<A, B>(
        &self,
        first: impl Future<Output = A>,
        then: impl Future<Output = B>,
    ) -> (A, B) {
        if self.store.claims_beside_others() {
            tokio::join!(first, then)
        } else {
            let a = first.await;
            (a, then.await)
        }
    }

    /// Whether more rows may be waiting after this batch: it was a whole batch, or it had
    /// keyed jobs (whose keys' next jobs are claimable once it is settled).
    fn more_after(&self, batch: &[Delivery]) -> bool {
        batch.len() >= self.options.batch.max(1) || has_keys(batch)
    }

    /// Counts what is waiting, and reports it as the backlog gauges.
    pub async fn backlog(&self) -> Result<Backlog, BoxError> {
        let backlog = self.store.backlog().await?;
        metrics::gauge!("oncommit_outbox_backlog").set(backlog.jobs as f64);
        metrics::gauge!("oncommit_outbox_oldest_age_seconds")
            .set(backlog.oldest.map_or(0.0, |age| age.as_secs_f64()));
        metrics::gauge!("oncommit_outbox_dead").set(backlog.dead as f64);
        Ok(backlog)
    }

    /// Runs until `shutdown` completes: the fast path (if enabled) and a sweep every
    /// [`poll`](RelayOptions::poll). Database and broker errors are logged and retried; they
    /// never end the loop. At shutdown the batch in flight gets
    /// [`shutdown_grace`](RelayOptions::shutdown_grace), then its rows are handed back.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        // Where the store allows statements beside a claim (Postgres), the fast path's
        // DELETEs run behind it, never holding up the next publish.
        let (behind, deleting) = if self.store.claims_beside_others() {
            let (sender, receiver) = tokio::sync::mpsc::channel(DELETES_BEHIND);
            (Some(sender), Some(receiver))
        } else {
            (None, None)
        };
        tokio::join!(self.work(shutdown, behind), self.delete_behind(deleting));
        tracing::info!("outbox relay stopped");
    }

    /// [`Relay::run`]'s loop. The rows the fast path publishes go to `behind` to be
    /// deleted, or without it are deleted beside its next claim (or at once when nothing
    /// else is waiting).
    async fn work(
        &self,
        shutdown: impl Future<Output = ()>,
        behind: Option<tokio::sync::mpsc::Sender<Vec<Delivery>>>,
    ) {
        let mut fast_path = self
            .options
            .fast_path
            .then(|| Subscription::take(self.options.lease, &self.options.topics));
        let mut poll = tokio::time::interval(self.options.poll);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut shutdown = std::pin::pin!(shutdown);
        tracing::info!(
            fast_path = fast_path.is_some(),
            poll_ms = self.options.poll.as_millis() as u64,
            "outbox relay started"
        );
        // Rows the fast path published and has not deleted yet.
        let mut published = Vec::new();
        loop {
            // A sweep that is due goes before the fast path: under steady commits the fast
            // path always has work, and the sweep's (retries, keyed jobs, other processes'
            // jobs) would wait for ever.
            let work = tokio::select! {
                biased;
                () = &mut shutdown => break,
                _ = poll.tick() => Work::Sweep,
                Some(handoff) = next_committed(&mut fast_path, self.options.batch) => Work::Committed(handoff),
                () = std::future::ready(()), if !published.is_empty() => Work::DeletePublished,
                () = self.wake.notified() => Work::Sweep,
            };
            let stop = match work {
                Work::Committed(handoff) => {
                    let stop = self.committed(handoff, &mut shutdown, &mut published).await;
                    if let Some(behind) = &behind
                        && !published.is_empty()
                    {
                        // The deleting half ends only after this loop: it is listening.
                        // When it falls behind, this waits: rows published and not deleted
                        // must not outlive their lease.
                        let _ = behind.send(std::mem::take(&mut published)).await;
                    }
                    stop
                }
                Work::DeletePublished => {
                    self.delete_published(&mut published).await;
                    false
                }
                Work::Sweep => {
                    self.delete_published(&mut published).await;
                    self.sweep(&mut shutdown).await
                }
            };
            if stop {
                break;
            }
        }
        self.delete_published(&mut published).await;
        if let Some(fast_path) = fast_path {
            let queued = fast_path.close(self.options.shutdown_grace).await;
            self.hand_back(&queued).await;
        }
    }

    /// Deletes the rows [`Relay::work`] sends, a batch at a time as they come, until it
    /// stops sending.
    async fn delete_behind(&self, rows: Option<tokio::sync::mpsc::Receiver<Vec<Delivery>>>) {
        let Some(mut rows) = rows else { return };
        while let Some(mut published) = rows.recv().await {
            self.delete_published(&mut published).await;
        }
    }

    /// Delivers the jobs of committed transactions (the fast path): those written leased to
    /// this relay as they are, the others once claimed by id; each batch beside the DELETE
    /// of the one before. A leased job that waited past half its lease is handed back to
    /// the sweep instead (by then another relay may claim it). True when shutdown came
    /// meanwhile.
    async fn committed(
        &self,
        handoff: Handoff,
        shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
        published: &mut Vec<Delivery>,
    ) -> bool {
        let size = self.options.batch.max(1);
        let mut waiting = std::collections::VecDeque::from(handoff.leased);
        while !waiting.is_empty() {
            let now = std::time::Instant::now();
            let (mut batch, mut late) = (Vec::new(), Vec::new());
            while batch.len() < size
                && let Some(leased) = waiting.pop_front()
            {
                if leased.publish_by > now {
                    batch.push(leased.delivery);
                } else {
                    late.push(leased.delivery);
                }
            }
            if !late.is_empty() {
                tracing::warn!(
                    jobs = late.len(),
                    "committed jobs waited for the relay past half their lease; handing them back to the sweep"
                );
                self.hand_back(&late).await;
            }
            if batch.is_empty() {
                continue;
            }
            let mut before = std::mem::take(published);
            let ((), stopping) = self
                .beside(
                    self.delete_published(&mut before),
                    self.finish(Ok(batch), shutdown, Some(published)),
                )
                .await;
            if stopping {
                let rest: Vec<Delivery> = waiting.into_iter().map(|l| l.delivery).collect();
                self.hand_back(&rest).await;
                return true;
            }
        }
        for chunk in handoff.ids.chunks(size) {
            let ((), claimed) = self
                .beside(
                    self.delete_published(published),
                    self.store.claim_ids(chunk, self.options.claim()),
                )
                .await;
            if self.finish(claimed, shutdown, Some(published)).await {
                return true;
            }
        }
        false
    }

    /// Sweeps until a claim comes back short, then updates the backlog gauges; while a full
    /// batch is delivered, the next one is claimed. True when shutdown came meanwhile (the
    /// batch claimed ahead is handed back).
    async fn sweep(&self, shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>) -> bool {
        let mut claimed = self.store.claim(self.options.claim()).await;
        loop {
            if !matches!(&claimed, Ok(batch) if self.more_after(batch)) {
                if self.finish(claimed, shutdown, None).await {
                    return true;
                }
                break;
            }
            if matches!(&claimed, Ok(batch) if has_keys(batch)) {
                // The keys' next jobs become claimable once this batch is settled.
                if self.finish(claimed, shutdown, None).await {
                    return true;
                }
                claimed = self.store.claim(self.options.claim()).await;
                continue;
            }
            let (stopping, next) = self
                .beside(
                    self.finish(claimed, shutdown, None),
                    self.store.claim(self.options.claim()),
                )
                .await;
            if stopping {
                if let Ok(next) = next {
                    self.hand_back(&next).await;
                }
                return true;
            }
            claimed = next;
        }
        if let Err(error) = self.backlog().await {
            tracing::warn!(%error, "counting the outbox backlog failed");
        }
        false
    }

    /// Delivers a claimed batch, racing shutdown: once shutdown comes, the batch gets the
    /// grace period, then its rows are handed back. True when shutdown came. With
    /// `published`, a batch the sink took whole is added there instead of deleted at once.
    async fn finish(
        &self,
        claimed: Result<Vec<Delivery>, BoxError>,
        shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
        published: Option<&mut Vec<Delivery>>,
    ) -> bool {
        let batch = match claimed {
            Ok(batch) => batch,
            Err(error) => {
                tracing::warn!(%error, "claiming outbox rows failed; retrying at the next poll");
                return false;
            }
        };
        if batch.is_empty() {
            return false;
        }
        let deliver = self.deliver_ref(&batch, published);
        let mut deliver = std::pin::pin!(deliver);
        let (result, stopping) = tokio::select! {
            biased;
            result = &mut deliver => (result, false),
            () = shutdown.as_mut() => {
                match tokio::time::timeout(self.options.shutdown_grace, &mut deliver).await {
                    Ok(result) => (result, true),
                    Err(_) => {
                        // The publish is abandoned (dropped on return) and its rows handed back.
                        self.hand_back(&batch).await;
                        return true;
                    }
                }
            }
        };
        if let Err(error) = result {
            tracing::warn!(%error, jobs = batch.len(), "settling an outbox batch failed; its rows come back when their lease expires");
        }
        stopping
    }

    /// Hands claimed rows back unpublished (at shutdown, or when the batch before them
    /// failed to settle): claimable at once.
    async fn hand_back(&self, batch: &[Delivery]) {
        if batch.is_empty() {
            return;
        }
        match self.store.release(batch).await {
            Ok(()) => tracing::info!(jobs = batch.len(), "handed a claimed batch back"),
            Err(error) => {
                tracing::warn!(%error, jobs = batch.len(), "handing a claimed batch back failed; it comes back when its lease expires")
            }
        }
    }

    /// Deletes the rows the fast path published (see [`Relay::run`]). A failed delete leaves
    /// them to come back when their lease expires, and to be published again.
    async fn delete_published(&self, published: &mut Vec<Delivery>) {
        if published.is_empty() {
            return;
        }
        if let Err(error) = self.store.delete(published).await {
            tracing::warn!(%error, jobs = published.len(), "deleting published outbox rows failed; they come back when their lease expires");
        }
        published.clear();
    }

    async fn deliver(&self, batch: Vec<Delivery>) -> Result<Drained, BoxError> {
        self.deliver_ref(&batch, None).await
    }

    /// Publishes `batch`, deletes what the sink took (or, if it took the whole batch and
    /// `published` is given, adds the batch there to be deleted later), and settles each
    /// failure.
    async fn deliver_ref(
        &self,
        batch: &[Delivery],
        published: Option<&mut Vec<Delivery>>,
    ) -> Result<Drained, BoxError> {
        if batch.is_empty() {
            return Ok(Drained::default());
        }
        let span = tracing::info_span!(
            "oncommit.relay.batch",
            jobs = batch.len(),
            published = tracing::field::Empty,
            retried = tracing::field::Empty,
            dead_lettered = tracing::field::Empty,
        );
        async {
            let drained = match self.sink.publish(batch).await {
                Ok(()) => {
                    match published {
                        Some(later) => later.extend_from_slice(batch),
                        None => self.store.delete(batch).await?,
                    }
                    Drained {
                        published: batch.len(),
                        ..Drained::default()
                    }
                }
                Err(error) => self.isolate(batch, error).await?,
            };
            let span = tracing::Span::current();
            span.record("published", drained.published);
            span.record("retried", drained.retried);
            span.record("dead_lettered", drained.dead_lettered);
            metrics::counter!("oncommit_outbox_published_total")
                .increment(drained.published as u64);
            metrics::counter!("oncommit_outbox_retried_total").increment(drained.retried as u64);
            metrics::counter!("oncommit_outbox_dead_lettered_total")
                .increment(drained.dead_lettered as u64);
            Ok(drained)
        }
        .instrument(span)
        .await
    }

    /// The batch failed as a whole: publish its messages one by one (unless the broker looks
    /// down), then delete the published ones and settle the others.
    async fn isolate(&self, batch: &[Delivery], error: BoxError) -> Result<Drained, BoxError> {
        tracing::warn!(%error, jobs = batch.len(), "publishing an outbox batch failed");
        let mut published = Vec::new();
        let mut failed: Vec<(&Delivery, String)> = Vec::new();
        if batch.len() == 1 {
            failed.push((&batch[0], error.to_string()));
        } else {
            let mut in_a_row = 0;
            for delivery in batch {
                if in_a_row >= FAILURES_BEFORE_DOWN {
                    failed.push((delivery, error.to_string()));
                    continue;
                }
                match self.sink.publish(std::slice::from_ref(delivery)).await {
                    Ok(()) => {
                        in_a_row = 0;
                        published.push(delivery.clone());
                    }
                    Err(error) => {
                        in_a_row += 1;
                        failed.push((delivery, error.to_string()));
                    }
                }
            }
        }
        if !published.is_empty() {
            self.store.delete(&published).await?;
        }
        let (dead, retry): (Vec<Failure>, Vec<Failure>) = failed
            .into_iter()
            .map(|(delivery, error)| Failure {
                delivery,
                error,
                retry_in: self.options.retry_delay(delivery.attempts),
            })
            .partition(|f| f.delivery.attempts >= self.options.max_attempts);
        if !retry.is_empty() {
            self.store.retry_later(&retry).await?;
        }
        if !dead.is_empty() {
            for failure in &dead {
                tracing::error!(id = %failure.delivery.id, topic = failure.delivery.topic, attempts = failure.delivery.attempts, error = failure.error, "outbox job moved to the dead-letter table");
            }
            self.store.dead_letter(&dead).await?;
        }
        Ok(Drained {
            published: published.len(),
            retried: retry.len(),
            dead_lettered: dead.len(),
        })
    }
}

enum Work {
    Committed(Handoff),
    DeletePublished,
    Sweep,
}

async fn next_committed(fast_path: &mut Option<Subscription>, limit: usize) -> Option<Handoff> {
    match fast_path {
        Some(subscription) => subscription.next(limit).await,
        None => std::future::pending().await,
    }
}

/// Whether a batch has jobs with an ordering key.
fn has_keys(batch: &[Delivery]) -> bool {
    batch.iter().any(|delivery| delivery.key.is_some())
}
