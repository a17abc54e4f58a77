//! Where a relay publishes committed jobs: the [`Sink`] trait, and the sinks that come with
//! the crate: [`ChannelSink`] (in the process), [`FaultySink`] (fault injection for tests)
//! and, with the `sink-redis` feature, `RedisStreams`; with the `sink-nats` feature,
//! `NatsJetStream`; with `sink-rabbitmq`, `RabbitMq`.

#[cfg(feature = "sink-nats")]
mod nats;
#[cfg(feature = "sink-rabbitmq")]
mod rabbitmq;
#[cfg(feature = "sink-redis")]
mod redis;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use uuid::Uuid;

use crate::BoxError;

#[cfg(feature = "sink-nats")]
pub use self::nats::{KEY_HEADER as NATS_KEY_HEADER, NatsFailure, NatsJetStream, NatsPublishError};
#[cfg(feature = "sink-rabbitmq")]
pub use self::rabbitmq::{RabbitMq, RabbitMqError, Refusal, Refused};
#[cfg(feature = "sink-redis")]
pub use self::redis::RedisStreams;

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
    /// Its ordering key ([`Job::key`](crate::outbox::Job::key)): a sink gives it to the
    /// broker as its ordering or partition key.
    pub key: Option<String>,
}

/// Where a relay publishes jobs: a broker, or an in-process channel.
///
/// ```
/// use oncommit::BoxError;
/// use oncommit::outbox::sink::{Delivery, Sink};
///
/// /// Logs each job instead of publishing it.
/// struct Log;
///
/// impl Sink for Log {
///     async fn publish<'a>(&'a self, batch: &'a [Delivery]) -> Result<(), BoxError> {
///         for delivery in batch {
///             tracing::info!(id = %delivery.id, topic = delivery.topic, "job");
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait Sink: Send + Sync {
    /// Publishes `batch`. `Ok` means the broker holds every message durably; after an `Err`
    /// the relay publishes the batch's messages again (one by one, so that one message the
    /// broker refuses does not hold back the others); some may then arrive twice, with the
    /// same message id.
    fn publish<'a>(
        &'a self,
        batch: &'a [Delivery],
    ) -> impl Future<Output = Result<(), BoxError>> + Send + 'a;
}

impl<S: Sink + ?Sized> Sink for Arc<S> {
    fn publish<'a>(
        &'a self,
        batch: &'a [Delivery],
    ) -> impl Future<Output = Result<(), BoxError>> + Send + 'a {
        (**self).publish(batch)
    }
}

/// A [`Sink`] that sends each delivery to a channel, in the process (tests, an in-process
/// worker).
///
/// ```
/// use oncommit::outbox::sink::{ChannelSink, Delivery, Sink};
/// # futures_util::FutureExt::now_or_never(async {
/// let (sink, received) = ChannelSink::new();
/// let delivery = Delivery { id: uuid::Uuid::now_v7(), topic: "welcome".into(), payload: "{}".into(), attempts: 1, key: None };
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

/// A test sink that wraps another and fails on demand: the broker down (every publish
/// fails), the next `n` publishes failing, or poison messages (a publish that contains one
/// fails, whatever else it holds). Clones share their switches.
///
/// ```
/// use oncommit::outbox::sink::{ChannelSink, Delivery, FaultySink, Sink};
/// # futures_util::FutureExt::now_or_never(async {
/// let (inner, received) = ChannelSink::new();
/// let sink = FaultySink::new(inner).poison(|d: &Delivery| d.topic == "poison");
/// let good = Delivery { id: uuid::Uuid::now_v7(), topic: "welcome".into(), payload: "{}".into(), attempts: 1, key: None };
/// let bad = Delivery { topic: "poison".into(), ..good.clone() };
/// assert!(sink.publish(&[good.clone(), bad]).await.is_err());
/// sink.set_down(true);
/// assert!(sink.publish(std::slice::from_ref(&good)).await.is_err());
/// sink.set_down(false);
/// sink.publish(std::slice::from_ref(&good)).await.unwrap();
/// assert_eq!(received.try_iter().count(), 1);
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct FaultySink<S> {
    inner: S,
    faults: Arc<Faults>,
}

type Poison = Box<dyn Fn(&Delivery) -> bool + Send + Sync>;

#[derive(Default)]
struct Faults {
    down: AtomicBool,
    fail_next: AtomicUsize,
    poison: Mutex<Option<Poison>>,
    published: AtomicUsize,
    failed: AtomicUsize,
}

impl<S> std::fmt::Debug for FaultySink<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultySink")
            .field("down", &self.faults.down.load(Ordering::Relaxed))
            .field("fail_next", &self.faults.fail_next.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<S: Sink> FaultySink<S> {
    /// Passes everything through to `inner` until told otherwise.
    pub fn new(inner: S) -> FaultySink<S> {
        FaultySink {
            inner,
            faults: Arc::default(),
        }
    }

    /// Every publish that holds a message `is_poison` picks fails.
    pub fn poison(self, is_poison: impl Fn(&Delivery) -> bool + Send + Sync + 'static) -> Self {
        *self.faults.poison.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(is_poison));
        self
    }

    /// The broker is down (every publish fails) or up again.
    pub fn set_down(&self, down: bool) {
        self.faults.down.store(down, Ordering::SeqCst);
    }

    /// The next `n` publishes fail.
    pub fn fail_next(&self, n: usize) {
        self.faults.fail_next.store(n, Ordering::SeqCst);
    }

    /// Messages the inner sink accepted so far.
    pub fn published(&self) -> usize {
        self.faults.published.load(Ordering::SeqCst)
    }

    /// Publishes that failed so far (injected or the inner sink's).
    pub fn failed(&self) -> usize {
        self.faults.failed.load(Ordering::SeqCst)
    }

    fn injected(&self, batch: &[Delivery]) -> Option<&'static str> {
        let faults = &self.faults;
        if faults.down.load(Ordering::SeqCst) {
            return Some("the broker is down (injected)");
        }
        if faults
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Some("the publish failed (injected)");
        }
        let poison = faults.poison.lock().unwrap_or_else(|e| e.into_inner());
        match &*poison {
            Some(is_poison) if batch.iter().any(is_poison) => {
                Some("the broker refused a poison message (injected)")
            }
            _ => None,
        }
    }
}

impl<S: Sink> Sink for FaultySink<S> {
    async fn publish<'a>(&'a self, batch: &'a [Delivery]) -> Result<(), BoxError> {
        if let Some(fault) = self.injected(batch) {
            self.faults.failed.fetch_add(1, Ordering::SeqCst);
            return Err(fault.into());
        }
        match self.inner.publish(batch).await {
            Ok(()) => {
                self.faults
                    .published
                    .fetch_add(batch.len(), Ordering::SeqCst);
                Ok(())
            }
            Err(error) => {
                self.faults.failed.fetch_add(1, Ordering::SeqCst);
                Err(error)
            }
        }
    }
}
