//! A [`Sink`] for NATS JetStream: each job is published to the subject of its topic, with its
//! message id as the `Nats-Msg-Id` header, so that the stream stores a message published again
//! (after a relay crash, or a batch retried message by message) only once while the id is in
//! the stream's duplicate window. A batch is sent whole before its acks are awaited.

use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;

use async_nats::jetstream::Context;
use async_nats::jetstream::context::{PublishError, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::publish::PublishAck;
use uuid::Uuid;

use super::{Delivery, Sink};
use crate::BoxError;

/// Publishes jobs to NATS JetStream, each to the subject of its topic (the topic itself by
/// default, [`subject_prefix`](NatsJetStream::subject_prefix) or
/// [`map_subjects`](NatsJetStream::map_subjects) to change it), with the message id as the
/// `Nats-Msg-Id` header and the job's JSON as the payload, byte for byte.
///
/// `Ok` means JetStream acknowledged every message of the batch: a stream covering its
/// subject stored it, or recognised its message id as a duplicate (the stream holds it
/// already). A publish that fails or is not acknowledged makes the batch a
/// [`NatsPublishError`] naming the ids that failed; the relay then publishes the batch again
/// message by message, and the ones already stored are acknowledged as duplicates.
///
/// What it takes from the server:
///
/// - **A stream must cover the subjects**, created beforehand (below): a subject no stream
///   covers has no responder, and its publish fails (nothing is dropped silently). The
///   relay retries it with backoff until a stream exists or the job is dead-lettered.
/// - **Dedup lasts the stream's `duplicate_window`** (2 minutes by default). A message
///   published again later than that, say by a relay that republishes a batch after a longer
///   outage, is stored twice. Consumers must be idempotent anyway (at least once): the
///   `Nats-Msg-Id` header is the message id to record. A longer window costs server memory
///   for the ids it remembers.
/// - **Durability is the server's**: JetStream acknowledges a message once it is written to
///   the stream's files, that is to the OS's page cache (on a replicated stream, of a quorum
///   of replicas), not once it is on disk. A single server fsyncs its files every
///   `sync_interval` (2 minutes by default; `sync_interval: always` in the server's
///   `jetstream` block fsyncs every write, at a cost in throughput; servers before 2.10 have
///   no such setting), so with the default a message the relay was told is stored, and
///   deleted from the outbox, can be lost if the server's host crashes. Use replicas
///   (`num_replicas: 3`) or `sync_interval: always` where that matters. A stream on
///   `StorageType::Memory` loses everything on a server restart.
///
/// The [`Context`] bounds the acks in flight (`max_ack_inflight`, 5,000 by default): when it
/// is full, the sink awaits the oldest acks of its batch before sending more. Its `timeout`
/// (5 s by default) bounds each send and each ack.
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// use async_nats::jetstream::{self, stream};
/// use oncommit::outbox::sink::NatsJetStream;
///
/// let client = async_nats::connect("nats://127.0.0.1:4222").await?;
/// let context = jetstream::new(client);
/// // A stream for every subject the sink publishes to: here `jobs.<topic>`.
/// context
///     .get_or_create_stream(stream::Config {
///         name: "JOBS".to_owned(),
///         subjects: vec!["jobs.>".to_owned()],
///         // How long a message id is remembered (2 minutes if left at zero).
///         duplicate_window: std::time::Duration::from_secs(10 * 60),
///         ..Default::default()
///     })
///     .await?;
/// let sink = NatsJetStream::new(context).subject_prefix("jobs.");
/// assert_eq!(sink.subject("welcome"), "jobs.welcome");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct NatsJetStream {
    context: Context,
    subjects: Subjects,
}

/// How a topic becomes a subject.
#[derive(Clone)]
enum Subjects {
    Prefix(String),
    Map(Arc<dyn Fn(&str) -> String + Send + Sync>),
}

impl fmt::Debug for NatsJetStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("NatsJetStream");
        match &self.subjects {
            Subjects::Prefix(prefix) => debug.field("subject_prefix", prefix),
            Subjects::Map(_) => debug.field("subjects", &"mapped"),
        };
        debug.finish_non_exhaustive()
    }
}

impl NatsJetStream {
    /// Publishes through `context` (`async_nats::jetstream::new(client)`), to subjects named
    /// after the topics.
    pub fn new(context: Context) -> NatsJetStream {
        NatsJetStream {
            context,
            subjects: Subjects::Prefix(String::new()),
        }
    }

    /// Subjects are named `<prefix><topic>` (with a dot in the prefix for a subject hierarchy:
    /// `jobs.` gives `jobs.welcome`).
    pub fn subject_prefix(mut self, prefix: impl Into<String>) -> NatsJetStream {
        self.subjects = Subjects::Prefix(prefix.into());
        self
    }

    /// Subjects are whatever `subject` makes of the topic (replaces a prefix).
    ///
    /// ```
    /// # fn f(context: async_nats::jetstream::Context) {
    /// use oncommit::outbox::sink::NatsJetStream;
    /// let sink = NatsJetStream::new(context).map_subjects(|topic| format!("jobs.{topic}.v1"));
    /// assert_eq!(sink.subject("welcome"), "jobs.welcome.v1");
    /// # }
    /// ```
    pub fn map_subjects(
        mut self,
        subject: impl Fn(&str) -> String + Send + Sync + 'static,
    ) -> NatsJetStream {
        self.subjects = Subjects::Map(Arc::new(subject));
        self
    }

    /// The subject a topic's jobs are published to.
    pub fn subject(&self, topic: &str) -> String {
        match &self.subjects {
            Subjects::Prefix(prefix) => format!("{prefix}{topic}"),
            Subjects::Map(map) => map(topic),
        }
    }

    /// The JetStream context it publishes through.
    pub fn context(&self) -> &Context {
        &self.context
    }
}

/// A batch that JetStream did not take whole: the messages that failed (others of the
/// batch may be stored).
///
/// ```
/// use oncommit::outbox::sink::NatsPublishError;
///
/// fn failed_ids(error: &oncommit::BoxError) -> Vec<uuid::Uuid> {
///     error
///         .downcast_ref::<NatsPublishError>()
///         .map(|e| e.failed.iter().map(|f| f.id).collect())
///         .unwrap_or_default()
/// }
/// # assert!(failed_ids(&"other".into()).is_empty());
/// ```
#[derive(Debug, thiserror::Error)]
#[error("JetStream did not store {} of {batch} messages: {}", failed.len(), Summary(failed))]
pub struct NatsPublishError {
    /// How many messages the batch held.
    pub batch: usize,
    /// Each message that failed, in batch order.
    pub failed: Vec<NatsFailure>,
}

/// One message JetStream did not take.
#[derive(Debug)]
pub struct NatsFailure {
    /// Its message id.
    pub id: Uuid,
    /// The subject it was published to.
    pub subject: String,
    /// Why: the send failed, the ack timed out, no stream covers the subject
    /// (`StreamNotFound`), or the stream refused it.
    pub error: PublishError,
}

/// The first few failures, for the error's message (the rows' `last_error`).
struct Summary<'a>(&'a [NatsFailure]);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 3;
        for (i, failure) in self.0.iter().take(SHOWN).enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(
                f,
                "{} to {}: {}",
                failure.id, failure.subject, failure.error
            )?;
        }
        if self.0.len() > SHOWN {
            write!(f, "; and {} more", self.0.len() - SHOWN)?;
        }
        Ok(())
    }
}

type AckFuture = Pin<Box<dyn Future<Output = Result<PublishAck, PublishError>> + Send>>;

/// The acks a batch awaits, oldest first, and what came of those awaited so far.
struct Acks {
    waiting: VecDeque<(usize, String, AckFuture)>,
    failed: Vec<(usize, String, PublishError)>,
    duplicates: usize,
}

impl Acks {
    fn settle(&mut self, index: usize, subject: String, ack: Result<PublishAck, PublishError>) {
        match ack {
            Ok(ack) if ack.duplicate => self.duplicates += 1,
            Ok(_) => {}
            Err(error) => self.failed.push((index, subject, error)),
        }
    }

    /// Awaits the oldest ack (there is one).
    async fn settle_oldest(&mut self) {
        if let Some((index, subject, ack)) = self.waiting.pop_front() {
            let ack = ack.await;
            self.settle(index, subject, ack);
        }
    }
}

/// What came first while a send waited for room among the context's acks in flight.
enum Next<S> {
    Sent(S),
    Acked(Result<PublishAck, PublishError>),
}

impl NatsJetStream {
    /// Sends one message; while the context has no room for its ack (backpressure), awaits
    /// the oldest acks of this batch.
    async fn send(
        &self,
        subject: &str,
        message: PublishMessage,
        acks: &mut Acks,
    ) -> Result<AckFuture, PublishError> {
        loop {
            let send = self
                .context
                .send_publish(subject.to_owned(), message.clone());
            let mut send = std::pin::pin!(send);
            let sent = loop {
                let Some((_, _, oldest)) = acks.waiting.front_mut() else {
                    break send.await;
                };
                let next = tokio::select! {
                    biased;
                    sent = &mut send => Next::Sent(sent),
                    acked = oldest => Next::Acked(acked),
                };
                match next {
                    Next::Sent(sent) => break sent,
                    Next::Acked(ack) => {
                        if let Some((index, subject, _)) = acks.waiting.pop_front() {
                            acks.settle(index, subject, ack);
                        }
                    }
                }
            };
            match sent {
                // A context without backpressure refuses at once when it is full.
                Err(error)
                    if error.kind() == PublishErrorKind::MaxAckPending
                        && !acks.waiting.is_empty() =>
                {
                    acks.settle_oldest().await;
                }
                sent => return sent.map(IntoFuture::into_future),
            }
        }
    }
}

/// The header that carries a job's ordering key ([`Job::key`](crate::outbox::Job::key)): a
/// stream keeps the order of its messages, and a key's jobs are published in their order;
/// a consumer that fans out by key reads it here.
pub const KEY_HEADER: &str = "Oncommit-Key";

impl Sink for NatsJetStream {
    async fn publish<'a>(&'a self, batch: &'a [Delivery]) -> Result<(), BoxError> {
        let mut acks = Acks {
            waiting: VecDeque::with_capacity(batch.len()),
            failed: Vec::new(),
            duplicates: 0,
        };
        // Every message is sent before any ack is awaited (unless the context is full).
        for (index, delivery) in batch.iter().enumerate() {
            let subject = self.subject(&delivery.topic);
            let mut message = PublishMessage::build()
                .message_id(delivery.id.to_string())
                .payload(delivery.payload.clone().into());
            if let Some(key) = &delivery.key {
                message = message.header(KEY_HEADER, key.as_str());
            }
            match self.send(&subject, message, &mut acks).await {
                Ok(ack) => acks.waiting.push_back((index, subject, ack)),
                Err(error) => acks.failed.push((index, subject, error)),
            }
        }
        while !acks.waiting.is_empty() {
            acks.settle_oldest().await;
        }
        if acks.duplicates > 0 {
            tracing::debug!(
                duplicates = acks.duplicates,
                batch = batch.len(),
                "JetStream held some messages already (same message id)"
            );
        }
        if acks.failed.is_empty() {
            return Ok(());
        }
        acks.failed.sort_by_key(|(index, _, _)| *index);
        Err(Box::new(NatsPublishError {
            batch: batch.len(),
            failed: acks
                .failed
                .into_iter()
                .map(|(index, subject, error)| NatsFailure {
                    id: batch[index].id,
                    subject,
                    error,
                })
                .collect(),
        }))
    }
}
