//! The broker of `--sink-url`: Redis Streams, NATS JetStream or RabbitMQ.

use std::time::Duration;

use lapin::options::ExchangeDeclareOptions;
use lapin::types::{FieldTable, ShortString};
use lapin::{Channel, ConnectionProperties, ExchangeKind};
use oncommit::BoxError;
use oncommit::outbox::sink::{Delivery, NatsJetStream, RabbitMq, RedisStreams, Sink};

use crate::StartError;
use crate::config::Config;

/// The name the relay gives its broker connections (shown in the brokers' tools).
const CONNECTION_NAME: &str = "oncommit-relay";

/// How long the relay waits for its first connection to RabbitMQ.
const RABBITMQ_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// One of the sinks `--sink-url` selects.
pub enum Broker {
    Redis(RedisStreams),
    Nats(NatsJetStream),
    RabbitMq(RabbitMq),
}

impl Sink for Broker {
    async fn publish<'a>(&'a self, batch: &'a [Delivery]) -> Result<(), BoxError> {
        match self {
            Broker::Redis(sink) => sink.publish(batch).await,
            Broker::Nats(sink) => sink.publish(batch).await,
            Broker::RabbitMq(sink) => sink.publish(batch).await,
        }
    }
}

/// Connects to the broker of `--sink-url`, chosen by its scheme.
pub async fn connect(config: &Config) -> Result<Broker, StartError> {
    let scheme = crate::scheme_of(&config.sink_url);
    match scheme.as_str() {
        "redis://" => redis(config).await.map(Broker::Redis),
        "nats://" => nats(config).await.map(Broker::Nats),
        "amqp://" => rabbitmq(config).await.map(Broker::RabbitMq),
        "rediss://" | "tls://" | "amqps://" => Err(StartError::SinkTls(scheme)),
        _ => Err(StartError::SinkScheme(scheme)),
    }
}

/// Redis Streams, one stream per topic under `--stream-prefix`.
async fn redis(config: &Config) -> Result<RedisStreams, StartError> {
    let client = redis::Client::open(config.sink_url.as_str()).map_err(StartError::Redis)?;
    let manager = client
        .get_connection_manager()
        .await
        .map_err(StartError::Redis)?;
    Ok(RedisStreams::new(manager).stream_prefix(&config.stream_prefix))
}

/// NATS JetStream, one subject per topic under `--subject-prefix`, and the stream of
/// `--nats-stream` if given.
async fn nats(config: &Config) -> Result<NatsJetStream, StartError> {
    let stream = match &config.nats_stream {
        Some(name) => Some((name, stream_subjects(&config.subject_prefix)?)),
        None => None,
    };
    let client = async_nats::ConnectOptions::new()
        .name(CONNECTION_NAME)
        .connect(config.sink_url.as_str())
        .await
        .map_err(StartError::Nats)?;
    let context = async_nats::jetstream::new(client);
    if let Some((name, subjects)) = stream {
        ensure_stream(&context, name, subjects).await?;
    }
    Ok(NatsJetStream::new(context).subject_prefix(&config.subject_prefix))
}

/// The subjects of the stream `--nats-stream` names: every subject under the prefix.
fn stream_subjects(prefix: &str) -> Result<String, StartError> {
    match prefix.strip_suffix('.') {
        Some(head) if !head.is_empty() => Ok(format!("{prefix}>")),
        _ => Err(StartError::NatsStreamPrefix(prefix.to_owned())),
    }
}

/// Finds the stream `name`, or creates it over `subjects`.
async fn ensure_stream(
    context: &async_nats::jetstream::Context,
    name: &str,
    subjects: String,
) -> Result<(), StartError> {
    let config = async_nats::jetstream::stream::Config {
        name: name.to_owned(),
        subjects: vec![subjects],
        ..Default::default()
    };
    let stream = context
        .get_or_create_stream(config)
        .await
        .map_err(|source| StartError::NatsStream {
            name: name.to_owned(),
            source,
        })?;
    tracing::info!(
        stream = name,
        subjects = ?stream.cached_info().config.subjects,
        "publishing to a JetStream stream"
    );
    Ok(())
}

/// RabbitMQ with publisher confirms, through `--exchange`.
async fn rabbitmq(config: &Config) -> Result<RabbitMq, StartError> {
    let exchange = ShortString::try_new(config.exchange.as_str())
        .map_err(|_| StartError::ExchangeName(config.exchange.len()))?;
    // The sink owns its connection: it reopens a channel the broker closed, or the
    // connection once lost, before its next publish.
    let properties = ConnectionProperties::default().with_connection_name(CONNECTION_NAME.into());
    let connect = RabbitMq::connect(&config.sink_url, properties);
    let sink = tokio::time::timeout(RABBITMQ_CONNECT_TIMEOUT, connect)
        .await
        .map_err(|_| StartError::RabbitMqTimeout(RABBITMQ_CONNECT_TIMEOUT))?
        .map_err(StartError::RabbitMq)?;
    if !exchange.as_str().is_empty() {
        check_exchange(&sink.channel().await, exchange).await?;
    }
    Ok(sink.exchange(config.exchange.as_str()))
}

/// Fails unless the exchange exists (a passive declare on the sink's channel, which the broker
/// closes if it is missing: the relay then stops before publishing anything).
async fn check_exchange(channel: &Channel, exchange: ShortString) -> Result<(), StartError> {
    let options = ExchangeDeclareOptions {
        passive: true,
        ..ExchangeDeclareOptions::default()
    };
    channel
        .exchange_declare(
            exchange.clone(),
            ExchangeKind::Direct,
            options,
            FieldTable::default(),
        )
        .await
        .map_err(|source| StartError::Exchange {
            name: exchange.to_string(),
            source,
        })
}
