//! Delivering committed outbox rows: claim a batch under a lease, publish it to a [`Sink`],
//! delete what the broker holds. A relay that dies mid-batch leaves its rows leased; when the
//! lease expires, any relay claims them again (at least once: the message id is the
//! consumer's dedup key). Several relays share one table safely: a claim skips rows another
//! relay holds (`FOR UPDATE SKIP LOCKED`).
//!
//! This is the sweeping side (Postgres, through sqlx); the in-process fast path, retries
//! with backoff, dead letters and other databases build on it.

use std::future::Future;
use std::time::Duration;

use uuid::Uuid;

use crate::BoxError;

/// A committed job, as a relay hands it to a [`Sink`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The message id: the dedup key for the broker and the consumer.
    pub id: Uuid,
    /// Where to publish it.
    pub topic: String,
    /// The job's JSON.
    pub payload: String,
    /// How many times it was claimed, this time included.
    pub attempts: i32,
}

/// Where a relay publishes jobs: a broker, or an in-process channel.
pub trait Sink: Send + Sync {
    /// Publishes `batch`. `Ok` means the broker holds every message durably; after an `Err`
    /// the whole batch is delivered again later (some messages may then arrive twice, with
    /// the same message id).
    fn publish<'a>(
        &'a self,
        batch: &'a [Delivery],
    ) -> impl Future<Output = Result<(), BoxError>> + Send + 'a;
}

/// A [`Sink`] that sends each delivery to a channel, in the process (tests, an in-process
/// worker).
///
/// ```
/// use oncommit::outbox::relay::{ChannelSink, Delivery, Sink};
/// # futures_util::FutureExt::now_or_never(async {
/// let (sink, received) = ChannelSink::new();
/// let delivery = Delivery { id: uuid::Uuid::now_v7(), topic: "welcome".into(), payload: "{}".into(), attempts: 1 };
/// sink.publish(std::slice::from_ref(&delivery)).await.unwrap();
/// assert_eq!(received.try_recv().unwrap(), delivery);
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct ChannelSink(std::sync::mpsc::Sender<Delivery>);

impl ChannelSink {
    /// A sink and the receiving end of its channel.
    pub fn new() -> (ChannelSink, std::sync::mpsc::Receiver<Delivery>) {
        let (sender, receiver) = std::sync::mpsc::channel();
        (ChannelSink(sender), receiver)
    }
}

impl Sink for ChannelSink {
    fn publish<'a>(
        &'a self,
        batch: &'a [Delivery],
    ) -> impl Future<Output = Result<(), BoxError>> + Send + 'a {
        let sent = batch
            .iter()
            .try_for_each(|delivery| self.0.send(delivery.clone()))
            .map_err(|_| BoxError::from("the channel's receiver is gone"));
        async move { sent }
    }
}

/// How a relay claims rows.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// Rows claimed at once.
    pub batch: i64,
    /// How long a claim holds its rows before another relay may take them.
    pub lease: Duration,
    /// Only these topics (all when empty).
    pub topics: Vec<String>,
}

impl Default for RelayOptions {
    fn default() -> Self {
        RelayOptions {
            batch: 100,
            lease: Duration::from_secs(30),
            topics: Vec::new(),
        }
    }
}

/// Claims, publishes and deletes one batch on Postgres; returns how many rows were
/// delivered (0: nothing to do). A failed publish records its error on the rows and leaves
/// them leased: they are claimed again when the lease expires.
#[cfg(feature = "sqlx-postgres")]
pub async fn drain_once_postgres<S: Sink>(
    conn: &mut sqlx::PgConnection,
    sink: &S,
    options: &RelayOptions,
) -> Result<usize, BoxError> {
    let claimed: Vec<(String, String, String, i32)> = sqlx::query_as(
        "UPDATE oncommit_outbox AS o
         SET lease_until = now() + make_interval(secs => $2), attempts = o.attempts + 1
         WHERE o.id IN (
             SELECT id FROM oncommit_outbox
             WHERE (lease_until IS NULL OR lease_until < now())
               AND (cardinality($3::text[]) = 0 OR topic = ANY($3::text[]))
             ORDER BY created_at
             LIMIT $1
             FOR UPDATE SKIP LOCKED
         )
         RETURNING CAST(o.id AS TEXT), o.topic, CAST(o.payload AS TEXT), o.attempts",
    )
    .bind(options.batch)
    .bind(options.lease.as_secs_f64())
    .bind(&options.topics)
    .fetch_all(&mut *conn)
    .await?;
    if claimed.is_empty() {
        return Ok(0);
    }
    let mut batch = Vec::with_capacity(claimed.len());
    for (id, topic, payload, attempts) in claimed {
        batch.push(Delivery {
            id: Uuid::parse_str(&id)?,
            topic,
            payload,
            attempts,
        });
    }
    let ids: Vec<String> = batch.iter().map(|d| d.id.to_string()).collect();
    let span = tracing::info_span!("oncommit.relay.batch", jobs = batch.len());
    let published = {
        let _entered = span.enter();
        sink.publish(&batch).await
    };
    match published {
        Ok(()) => {
            sqlx::query("DELETE FROM oncommit_outbox WHERE id = ANY(CAST($1 AS uuid[]))")
                .bind(&ids)
                .execute(&mut *conn)
                .await?;
            Ok(batch.len())
        }
        Err(error) => {
            tracing::warn!(%error, jobs = batch.len(), "publishing a relay batch failed; it is retried when its lease expires");
            sqlx::query(
                "UPDATE oncommit_outbox SET last_error = $2 WHERE id = ANY(CAST($1 AS uuid[]))",
            )
            .bind(&ids)
            .bind(error.to_string())
            .execute(&mut *conn)
            .await?;
            Err(error)
        }
    }
}
