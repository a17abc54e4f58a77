//! A [`Sink`] for RabbitMQ (AMQP 0-9-1, through `lapin`) with publisher confirms: a batch is
//! published whole, then every confirm is awaited, so `Ok` means the broker took every
//! message, and a message the broker refused (a nack) or returned (no queue bound to its
//! routing key) makes the publish an `Err` that names it.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::task::Poll;

use lapin::message::BasicReturnMessage;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use uuid::Uuid;

use super::{Delivery, Sink};
use crate::BoxError;

/// AMQP's persistent delivery mode: a durable queue writes the message to disk before the
/// broker confirms it.
const PERSISTENT: u8 = 2;

/// Publishes jobs to RabbitMQ with publisher confirms.
///
/// Each job is published to the exchange (by default the default exchange `""`, which routes
/// a message to the queue named by its routing key; or a named exchange, see
/// [`RabbitMq::exchange`]) with its topic as the routing key, `mandatory` set, and these
/// properties: `message_id` (the message id), `delivery_mode` 2 (persistent), `content_type`
/// `application/json`, and, for a job with an ordering key, the header `oncommit-key`
/// ([`RabbitMq::KEY_HEADER`]). The payload is the job's JSON, byte for byte.
///
/// A batch is published whole, then every confirm is awaited (pipelined: one round trip of
/// confirms per batch, not per message). `Ok` means RabbitMQ confirmed every message; an `Err`
/// ([`RabbitMqError`]) names each message that was nacked, returned because no queue is bound
/// to its routing key (a `mandatory` publish: never a silent loss), or left unconfirmed by a
/// closed channel, and the relay publishes the batch again.
///
/// What the confirm means depends on the queue:
///
/// - **durable queues**: a confirm means durable only for a persistent message in a durable
///   queue (written to disk before the confirm). A transient queue loses its messages when
///   the broker restarts, confirmed or not.
/// - **replication**: a classic queue lives on one node; declare quorum queues
///   (`x-queue-type: quorum`) for a confirm that means a majority of the nodes hold it.
/// - **no dedup in the broker**: RabbitMQ keeps no message ids, so a batch published again
///   (a relay that died after the confirm but before its DELETE, or a batch that failed in
///   part) is enqueued again, with the same `message_id`. Consumers dedup by `message_id`:
///   [`outbox::inbox`](crate::outbox::inbox) records it in the consumer's own transaction.
/// - **order**: RabbitMQ has no partition key on a classic queue; a queue keeps the order of
///   its publishes, and the relay publishes a key's jobs one at a time, in order. One
///   consumer at a time per queue (`x-single-active-consumer: true`) keeps that order on the
///   consumer's side; the key travels in the `oncommit-key` header for consumers that shard
///   by it.
///
/// One publish at a time goes through a sink and its clones (a lock), so that the confirms
/// and returned messages of two batches do not mix on one channel; for more throughput, run
/// several relays with a sink each, on channels of their own.
///
/// **Closed channels**: a sink made with [`RabbitMq::connect`] owns its connection and
/// reopens what is closed under it. A publish that finds its channel closed for good (the
/// broker closed it, as it does after a publish to a named exchange that does not exist, or
/// its connection is gone) first opens a new channel in confirm mode, on a new connection if
/// its own is closed too (the broker closed it, or the network lost it); when that fails, the
/// publish is an `Err` ([`RabbitMqError::Reopen`], or [`RabbitMqError::ReconnectTimedOut`]
/// after 10 s without a new connection) and the relay retries after its backoff. A
/// batch cut off by a closed channel is an `Err` too, and is published again on the new
/// channel. A sink made with [`RabbitMq::new`] publishes on the channel it was given and
/// never opens another: once that channel is closed, every publish fails. lapin's
/// `ConnectionProperties::enable_auto_recover` reconnects a lost connection and reopens its
/// channels (a publish meanwhile waits for that, up to lapin's backoff, then fails), but
/// never reopens a channel the broker closed; on either kind of sink, a channel lapin is
/// recovering is left to lapin.
///
/// The crate builds lapin for tokio without TLS; for `amqps://` URLs, enable one of lapin's
/// TLS features (`rustls`, `native-tls`, `openssl`) in your own `Cargo.toml`.
///
/// ```no_run
/// # async fn f() -> Result<(), lapin::Error> {
/// use lapin::{Connection, ConnectionProperties};
/// use oncommit::outbox::sink::RabbitMq;
///
/// let url = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// // To the default exchange: each job goes to the queue named after its topic. The sink
/// // owns its connection, and reopens it when it is closed.
/// let sink = RabbitMq::connect(url, ConnectionProperties::default()).await?;
/// // Or through a named exchange, its topic as the routing key.
/// let sink = RabbitMq::connect(url, ConnectionProperties::default())
///     .await?
///     .exchange("jobs");
/// // Or on a channel of your own connection (never reopened).
/// let connection = Connection::connect(url, ConnectionProperties::default()).await?;
/// let sink = RabbitMq::new(connection.create_channel().await?).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RabbitMq {
    /// The channel, locked by each publish: one batch at a time on it.
    link: Arc<tokio::sync::Mutex<Link>>,
    exchange: String,
}

impl fmt::Debug for RabbitMq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("RabbitMq");
        if let Ok(link) = self.link.try_lock() {
            debug
                .field("channel", &link.channel.id())
                .field("reopens", &link.own.is_some());
        }
        debug
            .field("exchange", &self.exchange)
            .finish_non_exhaustive()
    }
}

/// The channel a sink publishes on, and, for a sink made with [`RabbitMq::connect`], the
/// connection it opens channels on.
struct Link {
    channel: Channel,
    own: Option<OwnConnection>,
}

/// How long a publish waits for a new connection (a broker that drops packets would
/// otherwise hold it past the relay's lease).
const RECONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A connection the sink opened, and how to open it again.
struct OwnConnection {
    uri: String,
    properties: ConnectionProperties,
    connection: Connection,
}

impl Link {
    /// The channel to publish on: the one it has, unless that one is closed for good (neither
    /// open nor being recovered by lapin) and the sink owns its connection; then a new
    /// channel in confirm mode, on a new connection if the old one is closed for good too.
    async fn ready(&mut self) -> Result<&Channel, RabbitMqError> {
        let status = self.channel.status();
        if status.connected() || status.reconnecting() {
            return Ok(&self.channel);
        }
        let Some(own) = &mut self.own else {
            // Not the sink's to reopen: the publish fails on the closed channel.
            return Ok(&self.channel);
        };
        let connection = own.connection.status();
        if !(connection.connected() || connection.reconnecting()) {
            let connect = Connection::connect(&own.uri, own.properties.clone());
            own.connection = tokio::time::timeout(RECONNECT_TIMEOUT, connect)
                .await
                .map_err(|_| RabbitMqError::ReconnectTimedOut(RECONNECT_TIMEOUT))?
                .map_err(RabbitMqError::Reopen)?;
            tracing::info!("reconnected to RabbitMQ");
        }
        self.channel = confirming(&own.connection)
            .await
            .map_err(RabbitMqError::Reopen)?;
        tracing::info!(channel = self.channel.id(), "reopened the RabbitMQ channel");
        Ok(&self.channel)
    }
}

/// A new channel of `connection`, in confirm mode.
async fn confirming(connection: &Connection) -> Result<Channel, lapin::Error> {
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    Ok(channel)
}

impl RabbitMq {
    /// The header that carries a job's ordering key ([`Job::key`](crate::outbox::Job::key)),
    /// as an AMQP long string.
    pub const KEY_HEADER: &'static str = "oncommit-key";

    /// Connects to `uri` with `properties` and publishes, to the default exchange, on a
    /// channel of its own in confirm mode (`confirm.select`); reopens the channel, and the
    /// connection, when they are closed (see [`RabbitMq`], closed channels).
    ///
    /// Fails when the first connection or channel cannot be opened.
    pub async fn connect(
        uri: &str,
        properties: ConnectionProperties,
    ) -> Result<RabbitMq, lapin::Error> {
        let connection = Connection::connect(uri, properties.clone()).await?;
        let channel = confirming(&connection).await?;
        Ok(RabbitMq::on(Link {
            channel,
            own: Some(OwnConnection {
                uri: uri.to_owned(),
                properties,
                connection,
            }),
        }))
    }

    /// Publishes through `channel`, which it puts in confirm mode (`confirm.select`), to the
    /// default exchange. The sink never opens another channel: once this one is closed, every
    /// publish fails ([`RabbitMq::connect`] makes a sink that reopens it).
    ///
    /// Fails when the channel is closed, or in transaction mode (`tx.select`).
    pub async fn new(channel: Channel) -> Result<RabbitMq, lapin::Error> {
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(RabbitMq::on(Link { channel, own: None }))
    }

    fn on(link: Link) -> RabbitMq {
        RabbitMq {
            link: Arc::new(tokio::sync::Mutex::new(link)),
            exchange: String::new(),
        }
    }

    /// Publishes to the exchange `name` (declared by the application, with the queues bound
    /// to it), with the topic as the routing key. `""` is the default exchange.
    pub fn exchange(mut self, name: impl Into<String>) -> RabbitMq {
        self.exchange = name.into();
        self
    }

    /// The channel it publishes on now (after a publish in flight, if any). A sink made with
    /// [`RabbitMq::connect`] replaces it once it is closed.
    pub async fn channel(&self) -> Channel {
        self.link.lock().await.channel.clone()
    }
}

/// Why RabbitMQ did not take a batch, or part of it (the relay then publishes the batch again,
/// message by message).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RabbitMqError {
    /// The channel could not send the batch (closed, or its connection lost): none, or only
    /// a part, of the batch reached the broker.
    #[error("RabbitMQ: the channel could not send the batch: {0}")]
    Channel(#[source] lapin::Error),
    /// The sink's channel was closed, and opening a new one (or a new connection) failed:
    /// nothing was sent.
    #[error("RabbitMQ: could not reopen the channel: {0}")]
    Reopen(#[source] lapin::Error),
    /// The sink's connection was closed, and a new one did not open within this time:
    /// nothing was sent.
    #[error("RabbitMQ: no new connection within {0:?}")]
    ReconnectTimedOut(std::time::Duration),
    /// The broker received the batch but did not take these messages.
    #[error("RabbitMQ did not take {} of {total} messages: {}", refused.len(), Listed(refused))]
    Refused {
        /// The messages it did not take, in the batch's order.
        refused: Vec<Refused>,
        /// The messages in the batch.
        total: usize,
    },
}

impl RabbitMqError {
    /// The ids of the messages the broker did not take (empty for
    /// [`RabbitMqError::Channel`], where the whole batch is in doubt, and for
    /// [`RabbitMqError::Reopen`] and [`RabbitMqError::ReconnectTimedOut`], where none was
    /// sent).
    pub fn refused_ids(&self) -> Vec<Uuid> {
        match self {
            RabbitMqError::Channel(_)
            | RabbitMqError::Reopen(_)
            | RabbitMqError::ReconnectTimedOut(_) => Vec::new(),
            RabbitMqError::Refused { refused, .. } => refused.iter().map(|r| r.id).collect(),
        }
    }
}

/// A message RabbitMQ did not take, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Its message id.
    pub id: Uuid,
    /// Why.
    pub reason: Refusal,
}

/// Why RabbitMQ did not take a message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The broker nacked it (it could not take it: a queue at its length limit with
    /// `x-overflow: reject-publish`, an internal error).
    Nacked,
    /// The broker returned it (`basic.return`): no queue is bound to its routing key.
    Returned {
        /// The AMQP reply code (312: `NO_ROUTE`).
        reply_code: u16,
        /// The broker's text.
        reply_text: String,
    },
    /// No confirm came: the channel or its connection closed first. The broker may or may
    /// not hold it.
    Unconfirmed(String),
    /// It cannot be published: its topic (or the exchange name) is longer than AMQP's 255
    /// bytes.
    Invalid(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Nacked => f.write_str("nacked"),
            Refusal::Returned {
                reply_code,
                reply_text,
            } => write!(f, "returned ({reply_code} {reply_text})"),
            Refusal::Unconfirmed(error) => write!(f, "unconfirmed ({error})"),
            Refusal::Invalid(error) => write!(f, "invalid ({error})"),
        }
    }
}

/// The refused messages as `id: reason`, the first ten of them.
struct Listed<'a>(&'a [Refused]);

impl fmt::Display for Listed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 10;
        for (i, refused) in self.0.iter().take(SHOWN).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}: {}", refused.id, refused.reason)?;
        }
        if self.0.len() > SHOWN {
            write!(f, " and {} more", self.0.len() - SHOWN)?;
        }
        Ok(())
    }
}

/// The properties a delivery is published with.
fn properties(delivery: &Delivery) -> BasicProperties {
    let properties = BasicProperties::default()
        .with_message_id(ShortString::from(delivery.id.to_string()))
        .with_delivery_mode(PERSISTENT)
        .with_content_type(ShortString::from("application/json"));
    match &delivery.key {
        Some(key) => {
            let mut headers = FieldTable::default();
            headers.insert(
                ShortString::from(RabbitMq::KEY_HEADER),
                AMQPValue::LongString(key.as_str().into()),
            );
            properties.with_headers(headers)
        }
        None => properties,
    }
}

/// The message id a returned message was published with.
fn returned_id(message: &BasicReturnMessage) -> Option<Uuid> {
    let id = message.delivery.properties.message_id().as_ref()?;
    Uuid::parse_str(id.as_str()).ok()
}

impl Sink for RabbitMq {
    async fn publish<'a>(&'a self, batch: &'a [Delivery]) -> Result<(), BoxError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut link = self.link.lock().await;
        let channel = link.ready().await?;
        let mut refused: HashMap<Uuid, Refusal> = HashMap::new();
        let invalid = |name: &str, what: &str| {
            Refusal::Invalid(format!("the {what} is {} bytes long", name.len()))
        };

        // The whole batch first, in order; the confirms after. Each `basic.publish` queues its
        // frames for lapin's I/O thread at its first poll, and takes its confirm's delivery
        // tag then: polling each once, in order, before waiting for any of the writes sends
        // the batch in order without a round trip to that thread per message.
        let mut sends = Vec::with_capacity(batch.len());
        for delivery in batch {
            let Ok(exchange) = ShortString::try_new(self.exchange.as_str()) else {
                refused.insert(delivery.id, invalid(&self.exchange, "exchange name"));
                continue;
            };
            let Ok(routing_key) = ShortString::try_new(delivery.topic.as_str()) else {
                refused.insert(delivery.id, invalid(&delivery.topic, "topic"));
                continue;
            };
            let options = BasicPublishOptions {
                mandatory: true,
                immediate: false,
            };
            let send = channel.basic_publish(
                exchange,
                routing_key,
                options,
                delivery.payload.as_bytes(),
                properties(delivery),
            );
            sends.push((delivery.id, Box::pin(send)));
        }
        let mut first_polls = Vec::with_capacity(sends.len());
        for (_, send) in &mut sends {
            first_polls.push(std::future::poll_fn(|cx| Poll::Ready(send.as_mut().poll(cx))).await);
        }
        let mut confirms = Vec::with_capacity(sends.len());
        for ((id, send), first_poll) in sends.into_iter().zip(first_polls) {
            let sent = match first_poll {
                Poll::Ready(sent) => sent,
                Poll::Pending => send.await,
            };
            confirms.push((id, sent.map_err(RabbitMqError::Channel)?));
        }

        // A returned message comes before its own ack, but lapin hands it to whichever
        // confirm completes next, so returned messages are matched by their message id.
        let mut returned = Vec::new();
        for (id, confirm) in confirms {
            match confirm.await {
                Ok(Confirmation::Ack(message)) => returned.extend(message),
                Ok(Confirmation::Nack(message)) => {
                    refused.insert(id, Refusal::Nacked);
                    returned.extend(message);
                }
                Ok(Confirmation::NotRequested) => {
                    refused.insert(
                        id,
                        Refusal::Unconfirmed("the channel is not in confirm mode".to_owned()),
                    );
                }
                Err(error) => {
                    refused.insert(id, Refusal::Unconfirmed(error.to_string()));
                }
            }
        }
        for message in returned {
            match returned_id(&message) {
                Some(id) if batch.iter().any(|d| d.id == id) => {
                    refused.insert(
                        id,
                        Refusal::Returned {
                            reply_code: message.reply_code,
                            reply_text: message.reply_text.to_string(),
                        },
                    );
                }
                other => tracing::warn!(
                    message_id = ?other,
                    routing_key = %message.delivery.routing_key,
                    "RabbitMQ returned a message of an earlier publish"
                ),
            }
        }

        if refused.is_empty() {
            return Ok(());
        }
        let refused: Vec<Refused> = batch
            .iter()
            .filter_map(|d| {
                refused
                    .remove(&d.id)
                    .map(|reason| Refused { id: d.id, reason })
            })
            .collect();
        Err(RabbitMqError::Refused {
            refused,
            total: batch.len(),
        }
        .into())
    }
}
