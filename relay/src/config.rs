//! The relay's configuration, from the command line or the environment.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

/// Delivers committed durable jobs from a database's outbox table to a broker. Several
/// instances may share one table.
#[derive(Debug, Clone, Parser)]
#[command(name = "oncommit-relay", version)]
pub struct Config {
    /// The database with the outbox table: `postgres://…`, `mysql://…` or `sqlite:…`.
    #[arg(long, env = "ONCOMMIT_DATABASE_URL")]
    pub database_url: String,

    /// Where jobs go: `redis://…` (Redis Streams, one stream per topic), `nats://…` (NATS
    /// JetStream, one subject per topic) or `amqp://…` (RabbitMQ with publisher confirms, the
    /// topic as the routing key). TLS (`rediss://`, `tls://`, `amqps://`) is not built in.
    #[arg(long, env = "ONCOMMIT_SINK_URL")]
    pub sink_url: String,

    /// Only jobs of these topics (all when empty), comma-separated.
    #[arg(long, env = "ONCOMMIT_TOPICS", value_delimiter = ',')]
    pub topics: Vec<String>,

    /// Jobs per batch.
    #[arg(long, env = "ONCOMMIT_BATCH", default_value_t = 500)]
    pub batch: usize,

    /// How long a claimed job is this relay's before another may take it (`30s`, `2m`).
    #[arg(long, env = "ONCOMMIT_LEASE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub lease: Duration,

    /// The safety-net sweep's interval; on Postgres the relay also wakes on
    /// `NOTIFY oncommit_outbox`.
    #[arg(long, env = "ONCOMMIT_POLL", default_value = "1s", value_parser = positive_duration)]
    pub poll: Duration,

    /// Attempts before a job goes to the dead-letter table.
    #[arg(long, env = "ONCOMMIT_MAX_ATTEMPTS", default_value_t = 10)]
    pub max_attempts: i32,

    /// At shutdown (SIGTERM, SIGINT), how long the batch in flight may take before its
    /// jobs are handed back.
    #[arg(long, env = "ONCOMMIT_SHUTDOWN_GRACE", default_value = "5s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,

    /// Where the Prometheus metrics are served (`GET` on any path); `off` for none.
    #[arg(long, env = "ONCOMMIT_METRICS_ADDR", default_value = "127.0.0.1:9187", value_parser = parse_metrics_addr)]
    pub metrics_addr: MetricsAddr,

    /// Redis Streams: the prefix of the stream names (`<prefix><topic>`).
    #[arg(long, env = "ONCOMMIT_STREAM_PREFIX", default_value = "")]
    pub stream_prefix: String,

    /// NATS JetStream: the prefix of the subjects (`<prefix><topic>`; `jobs.` gives
    /// `jobs.welcome`).
    #[arg(long, env = "ONCOMMIT_SUBJECT_PREFIX", default_value = "")]
    pub subject_prefix: String,

    /// NATS JetStream: a stream covering `<subject-prefix>>`, created at start if missing
    /// (with the server's defaults: files, a 2-minute duplicate window) and used as it is if
    /// present; needs a `--subject-prefix` ending in `.`. Without it, streams made beforehand
    /// must cover the subjects.
    #[arg(long, env = "ONCOMMIT_NATS_STREAM")]
    pub nats_stream: Option<String>,

    /// RabbitMQ: the exchange, declared beforehand with its queues bound (checked at start);
    /// the topic is the routing key. Empty: the default exchange, to the queue named after
    /// the topic.
    #[arg(long, env = "ONCOMMIT_EXCHANGE", default_value = "")]
    pub exchange: String,
}

/// A duration above zero (`500ms`, `1s`, `2m`).
fn positive_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(duration) if duration.is_zero() => Err("must be above zero".to_owned()),
        Ok(duration) => Ok(duration),
        Err(error) => Err(error.to_string()),
    }
}

/// `--metrics-addr`: an address, or none (`off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsAddr(pub Option<SocketAddr>);

fn parse_metrics_addr(text: &str) -> Result<MetricsAddr, String> {
    if text == "off" {
        return Ok(MetricsAddr(None));
    }
    text.parse()
        .map(|addr| MetricsAddr(Some(addr)))
        .map_err(|error| {
            format!("`{text}` is not an address like 127.0.0.1:9187 (or `off`): {error}")
        })
}
