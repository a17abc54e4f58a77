//! A [`Sink`] for Redis Streams: each job is appended (`XADD`) to the stream named after its
//! topic, with its message id and payload as fields. Redis 7.0 has no idempotent `XADD`, so
//! one Lua script per batch records each message id (`SET … NX EX`) and appends only the
//! messages it has not seen: a batch published again after a relay crash adds nothing twice
//! while its ids are remembered ([`RedisStreams::dedup_for`], a day by default).

use std::time::Duration;

use redis::aio::ConnectionManager;

use super::{Delivery, Sink};
use crate::BoxError;

/// `KEYS`: one stream per message. `ARGV`: the dedup key prefix, the dedup TTL in seconds,
/// then the id, payload and ordering key (empty: none) of each message. Returns how many
/// messages were appended.
const PUBLISH: &str = r"
local prefix, ttl = ARGV[1], ARGV[2]
local appended = 0
for i = 1, #KEYS do
  local id, payload, key = ARGV[3 * i], ARGV[3 * i + 1], ARGV[3 * i + 2]
  if redis.call('SET', prefix .. id, '1', 'NX', 'EX', ttl) then
    if key == '' then
      redis.call('XADD', KEYS[i], '*', 'id', id, 'payload', payload)
    else
      redis.call('XADD', KEYS[i], '*', 'id', id, 'payload', payload, 'key', key)
    end
    appended = appended + 1
  end
end
return appended
";

/// Publishes jobs to Redis Streams, one stream per topic (`<prefix><topic>`), each entry
/// with the fields `id` (the message id), `payload` (the job's JSON) and, for a job with an
/// ordering key ([`Job::key`](crate::outbox::Job::key)), `key`. A stream keeps the order
/// of its appends: a key's jobs are appended in their order.
///
/// `Ok` means Redis applied the `XADD`: durable only as far as Redis's persistence is
/// (`appendonly yes` with `appendfsync always` for every write; `WAIT` for replicas).
/// The dedup keys live in the same database, so a Redis Cluster needs the streams and the
/// dedup keys on one node (hash tags in the prefixes).
///
/// ```no_run
/// # async fn f() -> redis::RedisResult<()> {
/// use oncommit::outbox::sink::RedisStreams;
/// let client = redis::Client::open("redis://127.0.0.1:6379")?;
/// let sink = RedisStreams::new(client.get_connection_manager().await?).stream_prefix("jobs:");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStreams {
    connection: ConnectionManager,
    script: redis::Script,
    stream_prefix: String,
    dedup_prefix: String,
    dedup_for: Duration,
}

impl std::fmt::Debug for RedisStreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStreams")
            .field("stream_prefix", &self.stream_prefix)
            .field("dedup_prefix", &self.dedup_prefix)
            .field("dedup_for", &self.dedup_for)
            .finish_non_exhaustive()
    }
}

impl RedisStreams {
    /// Publishes through `connection` (it reconnects by itself), to streams named after the
    /// topics, remembering message ids for a day.
    pub fn new(connection: ConnectionManager) -> RedisStreams {
        RedisStreams {
            connection,
            script: redis::Script::new(PUBLISH),
            stream_prefix: String::new(),
            dedup_prefix: "oncommit:seen:".to_owned(),
            dedup_for: Duration::from_secs(24 * 60 * 60),
        }
    }

    /// Streams are named `<prefix><topic>`.
    pub fn stream_prefix(mut self, prefix: impl Into<String>) -> RedisStreams {
        self.stream_prefix = prefix.into();
        self
    }

    /// The dedup keys are named `<prefix><message id>` (default `oncommit:seen:`).
    pub fn dedup_prefix(mut self, prefix: impl Into<String>) -> RedisStreams {
        self.dedup_prefix = prefix.into();
        self
    }

    /// How long a message id is remembered (at least a second): a message published again
    /// within this time is not appended twice.
    pub fn dedup_for(mut self, ttl: Duration) -> RedisStreams {
        self.dedup_for = ttl.max(Duration::from_secs(1));
        self
    }

    /// The stream a topic's jobs go to.
    pub fn stream(&self, topic: &str) -> String {
        format!("{}{topic}", self.stream_prefix)
    }
}

impl Sink for RedisStreams {
    async fn publish<'a>(&'a self, batch: &'a [Delivery]) -> Result<(), BoxError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut invocation = self.script.prepare_invoke();
        invocation
            .arg(&self.dedup_prefix)
            .arg(self.dedup_for.as_secs());
        for delivery in batch {
            invocation
                .key(self.stream(&delivery.topic))
                .arg(delivery.id.to_string())
                .arg(&delivery.payload)
                .arg(delivery.key.as_deref().unwrap_or(""));
        }
        let mut connection = self.connection.clone();
        let _appended: i64 = invocation.invoke_async(&mut connection).await?;
        Ok(())
    }
}
