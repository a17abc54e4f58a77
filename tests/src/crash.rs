//! Crash-safety scenarios for the outbox: a child process (`crash_child`) commits
//! transactions of one INSERT and one durable job (every tenth rolls back), with a relay to
//! the [`Broker`] (Redis Streams, NATS JetStream or RabbitMQ) or without, and is killed with
//! SIGKILL at random points or at a point it announces; the broker goes down for a while; a
//! poison job; three relays at once. After each, a fresh relay drains the table, and the
//! [`Tally`] compares what the database committed with what the broker holds (a stream, or a
//! queue), read back on a connection of its own.
//!
//! Redis and NATS dedup by message id, so a run holds no duplicates. RabbitMQ keeps no
//! message ids: a batch published again is enqueued again, so each kill (or cut connection)
//! may leave copies of what the relay had published but not yet deleted. A run counts that
//! bound ([`Tally::max_duplicates`]) and checks the duplicates stay within it, each a copy
//! with its job's message id.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use lapin::ConnectionProperties;
use lapin::options::{BasicGetOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable};
use oncommit::BoxError;
use oncommit::outbox::relay::{Relay, RelayOptions};
use oncommit::outbox::sink::{Delivery, NatsJetStream, RabbitMq, RedisStreams, Sink};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child as Process, Command};

use crate::outbox::OutboxDb;
use crate::proxy::Proxy;
use crate::streams;

/// Transactions whose `n` makes them roll back on purpose.
pub fn is_rolled_back(n: i64) -> bool {
    n % 10 == 9
}

/// The database a child writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `db_url` is a Postgres URL.
    Postgres,
    /// `db_url` is a MariaDB URL.
    MariaDb,
    /// `db_url` is the path of a SQLite file.
    Sqlite,
}

/// The broker the relays publish to, with its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Broker {
    /// Redis Streams ([`RedisStreams`], deduplicating by message id with its own keys): one
    /// stream per run.
    Redis(String),
    /// NATS JetStream ([`NatsJetStream`], deduplicated by the stream's `Nats-Msg-Id` window):
    /// one stream per run, created by the run and deleted once it is tallied.
    Nats(String),
    /// RabbitMQ ([`RabbitMq::connect`], publisher confirms, no dedup in the broker): one
    /// durable queue per run, named after its topic (the default exchange routes there),
    /// declared by the run and deleted once it is tallied.
    RabbitMq(String),
}

impl Broker {
    /// Its URL.
    pub fn url(&self) -> &str {
        match self {
            Broker::Redis(url) | Broker::Nats(url) | Broker::RabbitMq(url) => url,
        }
    }

    /// The same broker at another URL (through a proxy).
    fn at(&self, url: String) -> Broker {
        match self {
            Broker::Redis(_) => Broker::Redis(url),
            Broker::Nats(_) => Broker::Nats(url),
            Broker::RabbitMq(_) => Broker::RabbitMq(url),
        }
    }

    /// Its name in `CRASH_BROKER` and `ONCOMMIT_CRASH_BROKER`.
    fn kind(&self) -> &'static str {
        match self {
            Broker::Redis(_) => "redis",
            Broker::Nats(_) => "nats",
            Broker::RabbitMq(_) => "rabbitmq",
        }
    }

    /// The broker named `kind` (as [`Broker::kind`] gives it) at `url`; `None` for another
    /// name.
    pub fn named(kind: &str, url: String) -> Option<Broker> {
        match kind {
            "redis" => Some(Broker::Redis(url)),
            "nats" => Some(Broker::Nats(url)),
            "rabbitmq" => Some(Broker::RabbitMq(url)),
            _ => None,
        }
    }

    /// The prefix of a run's stream (Redis) or subject (NATS) names; none for RabbitMQ,
    /// whose queue is named after the topic.
    fn prefix(&self) -> &'static str {
        match self {
            Broker::Redis(_) => "oncommit:crash:",
            Broker::Nats(_) => "oncommit_crash.",
            Broker::RabbitMq(_) => "",
        }
    }

    /// Whether the broker stores a message published again once (by its message id).
    fn dedups(&self) -> bool {
        !matches!(self, Broker::RabbitMq(_))
    }

    /// A sink to it, publishing to `<prefix><topic>` (RabbitMQ: to the queue `<topic>`,
    /// through the default exchange).
    pub async fn sink(&self, prefix: &str) -> BrokerSink {
        match self {
            Broker::Redis(url) => {
                let client = redis::Client::open(url.as_str()).expect("the Redis URL");
                let connection = client
                    .get_connection_manager()
                    .await
                    .expect("connect to Redis");
                BrokerSink::Redis(
                    RedisStreams::new(connection)
                        .stream_prefix(prefix)
                        .dedup_prefix(format!("{prefix}seen:")),
                )
            }
            Broker::Nats(url) => {
                let client = async_nats::connect(url.as_str())
                    .await
                    .expect("connect to NATS");
                BrokerSink::Nats(NatsJetStream::new(jetstream::new(client)).subject_prefix(prefix))
            }
            Broker::RabbitMq(url) => BrokerSink::RabbitMq(
                RabbitMq::connect(url, ConnectionProperties::default())
                    .await
                    .expect("connect to RabbitMQ"),
            ),
        }
    }
}

/// The sink of a [`Broker`].
#[derive(Debug, Clone)]
pub enum BrokerSink {
    /// Redis Streams.
    Redis(RedisStreams),
    /// NATS JetStream.
    Nats(NatsJetStream),
    /// RabbitMQ.
    RabbitMq(RabbitMq),
}

impl Sink for BrokerSink {
    async fn publish<'a>(&'a self, batch: &'a [Delivery]) -> Result<(), BoxError> {
        match self {
            BrokerSink::Redis(sink) => sink.publish(batch).await,
            BrokerSink::Nats(sink) => sink.publish(batch).await,
            BrokerSink::RabbitMq(sink) => sink.publish(batch).await,
        }
    }
}

/// Reads what a run's broker received.
enum Reader {
    Redis(redis::Client),
    Nats(jetstream::Context),
    /// A channel of the reader's own connection (open while the channel is).
    RabbitMq(lapin::Channel),
}

/// Whether the child runs a relay, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayMode {
    /// No relay: committed jobs wait in the table.
    None,
    /// `Relay::run` with the fast path (and a sweep every `poll_ms`).
    FastPath,
    /// `Relay::run` sweeping every `poll_ms`, no fast path.
    Sweep,
}

/// Where the child's sink stops for good (printing a line), for the parent to kill it there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stall {
    /// Never.
    Never,
    /// After the broker took the first batch of two or more, before the relay deletes its rows
    /// (`acked`).
    AfterAck,
    /// After the first half of the first batch of two or more (`mid-batch`).
    MidBatch,
}

/// A child's configuration, passed in the environment.
#[derive(Debug, Clone)]
pub struct Child {
    /// The database.
    pub dialect: Dialect,
    /// Its URL (or file path for SQLite).
    pub db_url: String,
    /// The broker (possibly through a proxy).
    pub broker: Broker,
    /// The topic of this run's jobs.
    pub topic: String,
    /// The table of this run's rows.
    pub table: String,
    /// Streams (Redis) or subjects (NATS) are named `<prefix><topic>` (empty for RabbitMQ,
    /// whose queue is `<topic>`).
    pub stream_prefix: String,
    /// The first `n`.
    pub start: i64,
    /// Transactions to run (0: a relay only, until killed).
    pub count: i64,
    /// The relay.
    pub relay: RelayMode,
    /// Where the sink stalls.
    pub stall: Stall,
    /// The `n` of a job the sink always refuses.
    pub poison: Option<i64>,
    /// The relay's batch.
    pub batch: usize,
    /// The relay's lease.
    pub lease_ms: u64,
    /// The relay's poll interval.
    pub poll_ms: u64,
    /// The attempt at which the relay dead-letters a job.
    pub max_attempts: i32,
    /// A pause after each transaction.
    pub pause_ms: u64,
    /// After writing, wait until the outbox of the topic is empty.
    pub wait_drained: bool,
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

impl Child {
    /// The configuration the parent put in the environment.
    pub fn from_env() -> Child {
        Child {
            dialect: match var("CRASH_DIALECT").as_str() {
                "postgres" => Dialect::Postgres,
                "mariadb" => Dialect::MariaDb,
                _ => Dialect::Sqlite,
            },
            db_url: var("CRASH_DB_URL"),
            broker: Broker::named(&var("CRASH_BROKER"), var("CRASH_BROKER_URL"))
                .expect("CRASH_BROKER is redis, nats or rabbitmq"),
            topic: var("CRASH_TOPIC"),
            table: var("CRASH_TABLE"),
            stream_prefix: var("CRASH_STREAM_PREFIX"),
            start: var("CRASH_START").parse().expect("CRASH_START"),
            count: var("CRASH_COUNT").parse().expect("CRASH_COUNT"),
            relay: match var("CRASH_RELAY").as_str() {
                "fast" => RelayMode::FastPath,
                "sweep" => RelayMode::Sweep,
                _ => RelayMode::None,
            },
            stall: match var("CRASH_STALL").as_str() {
                "after-ack" => Stall::AfterAck,
                "mid-batch" => Stall::MidBatch,
                _ => Stall::Never,
            },
            poison: std::env::var("CRASH_POISON")
                .ok()
                .and_then(|p| p.parse().ok()),
            batch: var("CRASH_BATCH").parse().expect("CRASH_BATCH"),
            lease_ms: var("CRASH_LEASE_MS").parse().expect("CRASH_LEASE_MS"),
            poll_ms: var("CRASH_POLL_MS").parse().expect("CRASH_POLL_MS"),
            max_attempts: var("CRASH_MAX_ATTEMPTS")
                .parse()
                .expect("CRASH_MAX_ATTEMPTS"),
            pause_ms: var("CRASH_PAUSE_MS").parse().expect("CRASH_PAUSE_MS"),
            wait_drained: var("CRASH_WAIT_DRAINED") == "1",
        }
    }

    fn command(&self, exe: &std::path::Path) -> Command {
        let mut command = Command::new(exe);
        command
            .env(
                "CRASH_DIALECT",
                match self.dialect {
                    Dialect::Postgres => "postgres",
                    Dialect::MariaDb => "mariadb",
                    Dialect::Sqlite => "sqlite",
                },
            )
            .env("CRASH_DB_URL", &self.db_url)
            .env("CRASH_BROKER", self.broker.kind())
            .env("CRASH_BROKER_URL", self.broker.url())
            .env("CRASH_TOPIC", &self.topic)
            .env("CRASH_TABLE", &self.table)
            .env("CRASH_STREAM_PREFIX", &self.stream_prefix)
            .env("CRASH_START", self.start.to_string())
            .env("CRASH_COUNT", self.count.to_string())
            .env(
                "CRASH_RELAY",
                match self.relay {
                    RelayMode::None => "none",
                    RelayMode::FastPath => "fast",
                    RelayMode::Sweep => "sweep",
                },
            )
            .env(
                "CRASH_STALL",
                match self.stall {
                    Stall::Never => "never",
                    Stall::AfterAck => "after-ack",
                    Stall::MidBatch => "mid-batch",
                },
            )
            .env("CRASH_BATCH", self.batch.to_string())
            .env("CRASH_LEASE_MS", self.lease_ms.to_string())
            .env("CRASH_POLL_MS", self.poll_ms.to_string())
            .env("CRASH_MAX_ATTEMPTS", self.max_attempts.to_string())
            .env("CRASH_PAUSE_MS", self.pause_ms.to_string())
            .env(
                "CRASH_WAIT_DRAINED",
                if self.wait_drained { "1" } else { "0" },
            )
            .env_remove("CRASH_POISON")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if let Some(poison) = self.poison {
            command.env("CRASH_POISON", poison.to_string());
        }
        command
    }
}

/// A running child and the lines it prints.
struct Running {
    process: Process,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Running {
    /// Waits for a line starting with `prefix` (at most a minute; `false` if the child ended
    /// first).
    async fn wait_for(&mut self, prefix: &str) -> bool {
        let wait = async {
            while let Some(line) = self.lines.next_line().await.expect("the child's output") {
                if line.starts_with(prefix) {
                    return true;
                }
            }
            false
        };
        tokio::time::timeout(Duration::from_secs(60), wait)
            .await
            .unwrap_or_else(|_| panic!("the child did not print `{prefix}` within a minute"))
    }

    /// SIGKILL, and wait for it to be gone.
    async fn kill(mut self) {
        self.process.kill().await.expect("SIGKILL the child");
    }

    /// Waits for a normal exit (at most two minutes).
    async fn finish(mut self) {
        let wait = async {
            while self
                .lines
                .next_line()
                .await
                .expect("the child's output")
                .is_some()
            {}
            self.process.wait().await.expect("the child's exit")
        };
        let status = tokio::time::timeout(Duration::from_secs(120), wait)
            .await
            .expect("the child finishes within two minutes");
        assert!(status.success(), "the child failed: {status}");
    }
}

/// What the database committed against what the broker received, for one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Transactions that committed (rows in the table).
    pub committed: usize,
    /// Committed jobs the broker's stream holds (each counted once).
    pub delivered: usize,
    /// Committed jobs neither in the stream nor in the dead-letter table.
    pub lost: usize,
    /// Jobs in the stream whose transaction did not commit.
    pub rolled_back_delivered: usize,
    /// Stream entries (messages) beyond the first of each job.
    pub duplicates: usize,
    /// The most duplicates the run may hold: none where the broker dedups by message id;
    /// with RabbitMQ, what the killed (or cut off) relays had published but not yet deleted.
    pub max_duplicates: usize,
    /// Jobs whose messages do not all carry the same message id, or carry one another job's
    /// messages carry too (a duplicate must be the same message, which a consumer can drop).
    pub mismatched_ids: usize,
    /// Jobs in the dead-letter table.
    pub dead_lettered: usize,
    /// Outbox rows left after the final drain.
    pub left: usize,
}

impl Tally {
    /// Adds another run's figures.
    pub fn add(&mut self, other: Tally) {
        self.committed += other.committed;
        self.delivered += other.delivered;
        self.lost += other.lost;
        self.rolled_back_delivered += other.rolled_back_delivered;
        self.duplicates += other.duplicates;
        self.max_duplicates += other.max_duplicates;
        self.mismatched_ids += other.mismatched_ids;
        self.dead_lettered += other.dead_lettered;
        self.left += other.left;
    }

    /// Panics unless every committed job was delivered (or dead-lettered when a poison job
    /// was planted), none of a rolled-back transaction was, nothing is left, each job's
    /// messages carry its one message id, and the duplicates are within their bound (none
    /// where the broker dedups by message id).
    pub fn check(&self, what: &str) {
        assert_eq!(self.lost, 0, "{what}: committed jobs lost: {self:?}");
        assert_eq!(
            self.rolled_back_delivered, 0,
            "{what}: jobs of rolled-back transactions delivered: {self:?}"
        );
        assert!(
            self.duplicates <= self.max_duplicates,
            "{what}: more duplicates than the batches in flight at the kills: {self:?}"
        );
        assert_eq!(
            self.mismatched_ids, 0,
            "{what}: messages of a job with different message ids: {self:?}"
        );
        assert_eq!(self.left, 0, "{what}: rows left in the outbox: {self:?}");
        assert_eq!(
            self.delivered + self.dead_lettered,
            self.committed,
            "{what}: {self:?}"
        );
    }

    /// The summary line of `scripts/crash-test`.
    pub fn line(&self) -> String {
        format!(
            "crash test: {} committed, {} delivered, {} lost, {} delivered for rolled back, {} duplicates",
            self.committed, self.delivered, self.lost, self.rolled_back_delivered, self.duplicates
        )
    }
}

/// One run: a topic, a table and a stream of its own on one database.
pub struct Run<D> {
    db: D,
    exe: PathBuf,
    child: Child,
    reader: Reader,
    next: i64,
    /// Duplicates the kills so far may have left (see [`Tally::max_duplicates`]).
    max_duplicates: usize,
}

impl<D: OutboxDb> Run<D> {
    /// A run on `db` (reachable by children at `db_url` in `dialect`), with `exe` the
    /// `crash_child` binary, named after `scenario`.
    pub async fn new(
        db: D,
        dialect: Dialect,
        db_url: &str,
        broker: &Broker,
        exe: PathBuf,
        scenario: &str,
    ) -> Run<D> {
        let name = crate::unique_name(&format!("crash_{scenario}"));
        db.create_table(&name).await;
        let child = Child {
            dialect,
            db_url: db_url.to_owned(),
            broker: broker.clone(),
            topic: name.clone(),
            table: name.clone(),
            stream_prefix: broker.prefix().to_owned(),
            start: 0,
            count: 0,
            relay: RelayMode::None,
            stall: Stall::Never,
            poison: None,
            batch: 50,
            lease_ms: 1_000,
            poll_ms: 200,
            max_attempts: 3,
            pause_ms: 0,
            wait_drained: false,
        };
        let reader = match broker {
            Broker::Redis(url) => {
                Reader::Redis(redis::Client::open(url.as_str()).expect("the Redis URL"))
            }
            Broker::Nats(url) => {
                let client = async_nats::connect(url.as_str())
                    .await
                    .expect("connect to NATS");
                let context = jetstream::new(client);
                // The run's stream, named after it, covering its one subject; it remembers
                // message ids for longer than a run lasts.
                context
                    .get_or_create_stream(stream::Config {
                        name: name.clone(),
                        subjects: vec![format!("{}{name}", broker.prefix())],
                        duplicate_window: Duration::from_secs(30 * 60),
                        ..Default::default()
                    })
                    .await
                    .expect("create the run's stream");
                Reader::Nats(context)
            }
            Broker::RabbitMq(url) => {
                let connection = lapin::Connection::connect(url, ConnectionProperties::default())
                    .await
                    .expect("connect to RabbitMQ");
                let channel = connection.create_channel().await.expect("a reader channel");
                // The run's queue, named after its topic; unused for an hour (a failed run's),
                // the broker deletes it.
                let mut arguments = FieldTable::default();
                arguments.insert("x-expires".into(), AMQPValue::LongInt(3_600_000));
                channel
                    .queue_declare(
                        name.as_str().into(),
                        QueueDeclareOptions {
                            durable: true,
                            ..QueueDeclareOptions::default()
                        },
                        arguments,
                    )
                    .await
                    .expect("declare the run's queue");
                Reader::RabbitMq(channel)
            }
        };
        Run {
            db,
            exe,
            child,
            reader,
            next: 0,
            max_duplicates: 0,
        }
    }

    /// Counts `batches` batches of `size` jobs that a relay killed, or cut off from the
    /// broker mid-publish, may have published without deleting their rows: unless the broker
    /// dedups by message id, they are published again.
    fn may_publish_again(&mut self, batches: usize, size: usize) {
        if !self.child.broker.dedups() {
            self.max_duplicates += batches * size;
        }
    }

    /// The run's Redis stream, or NATS subject.
    fn stream(&self) -> String {
        format!("{}{}", self.child.stream_prefix, self.child.topic)
    }

    /// The message id and payload of every entry (Redis) or message (NATS, RabbitMQ) the
    /// broker holds, oldest first (RabbitMQ's are taken off the queue).
    async fn messages(&self) -> Vec<(Option<String>, String)> {
        match &self.reader {
            Reader::Redis(client) => {
                let mut reader = client
                    .get_multiplexed_async_connection()
                    .await
                    .expect("connect to Redis");
                streams::entries(&mut reader, &self.stream())
                    .await
                    .into_iter()
                    .map(|entry| (Some(entry.id), entry.payload))
                    .collect()
            }
            Reader::Nats(context) => crate::jetstream::messages(context, &self.child.topic)
                .await
                .into_iter()
                .map(|message| {
                    let payload = String::from_utf8(message.payload).expect("a UTF-8 payload");
                    (message.id, payload)
                })
                .collect(),
            Reader::RabbitMq(channel) => {
                let mut messages = Vec::new();
                while let Some(got) = channel
                    .basic_get(self.stream().into(), BasicGetOptions { no_ack: true })
                    .await
                    .expect("basic.get")
                {
                    let message = crate::rabbitmq::Message::from(&got.delivery);
                    let payload = String::from_utf8(message.payload).expect("a UTF-8 payload");
                    messages.push((message.id, payload));
                }
                messages
            }
        }
    }

    /// Starts a child writing `count` transactions (numbered on from the last child's) with
    /// `configure` applied; waits until it is ready.
    async fn spawn(&mut self, count: i64, configure: impl FnOnce(&mut Child)) -> Running {
        let mut child = self.child.clone();
        child.start = self.next;
        child.count = count;
        self.next += count;
        configure(&mut child);
        let mut process = child.command(&self.exe).spawn().expect("start crash_child");
        let stdout = process.stdout.take().expect("the child's stdout");
        let mut running = Running {
            process,
            lines: BufReader::new(stdout).lines(),
        };
        assert!(running.wait_for("ready").await, "the child did not start");
        running
    }

    /// A writer with the fast-path relay, killed after a random delay while it writes.
    pub async fn kill_at_random(&mut self, count: i64, max_delay_ms: u64) {
        let running = self.spawn(count, |c| c.relay = RelayMode::FastPath).await;
        tokio::time::sleep(Duration::from_millis(fastrand::u64(1..max_delay_ms))).await;
        running.kill().await;
        // The batch in flight, and (on Postgres, whose DELETEs run behind the fast path) the
        // one being deleted and the one queued for its DELETE.
        self.may_publish_again(3, self.child.batch);
    }

    /// A writer without a relay, killed after its `after`-th COMMIT: its committed jobs
    /// reached no relay.
    pub async fn kill_before_any_relay(&mut self, count: i64, after: i64) {
        let mut running = self.spawn(count, |c| c.relay = RelayMode::None).await;
        for _ in 0..after {
            if !running.wait_for("committed").await {
                break;
            }
        }
        running.kill().await;
    }

    /// A writer whose relay (sweeping every 100 ms, so that batches hold several jobs) stops
    /// for good at `stall`; killed there.
    pub async fn kill_at(&mut self, count: i64, stall: Stall) {
        let line = match stall {
            Stall::AfterAck => "acked",
            Stall::MidBatch => "mid-batch",
            Stall::Never => "written",
        };
        let mut running = self
            .spawn(count, |c| {
                c.relay = RelayMode::Sweep;
                c.poll_ms = 100;
                c.stall = stall;
                c.pause_ms = 1;
            })
            .await;
        assert!(
            running.wait_for(line).await,
            "the child ended before `{line}`"
        );
        running.kill().await;
        // The stalled batch: a sweeping relay deletes a batch before it publishes the next.
        self.may_publish_again(1, self.child.batch);
    }

    /// A writer whose relay reaches the broker through a proxy that goes down for a while,
    /// then comes back; the writer waits until its jobs are delivered, then exits. Its relay
    /// never dead-letters: a sink that fails fast while the broker is down (RabbitMQ's) would
    /// otherwise use up a job's few attempts during the outage.
    pub async fn broker_down(&mut self, count: i64) {
        let (proxy, proxied) = Proxy::for_url(self.child.broker.url()).await;
        let mut running = self
            .spawn(count, |c| {
                c.relay = RelayMode::FastPath;
                c.broker = c.broker.at(proxied);
                c.max_attempts = i32::MAX;
                c.pause_ms = 2;
                c.wait_drained = true;
            })
            .await;
        assert!(running.wait_for("committed").await);
        proxy.set_down(true);
        // The batch in flight when the connection is cut (the batches before it were
        // confirmed, and are deleted as usual).
        self.may_publish_again(1, self.child.batch);
        tokio::time::sleep(Duration::from_millis(500)).await;
        proxy.set_down(false);
        running.finish().await;
    }

    /// A writer whose relay's broker refuses one job for good: it ends in the dead-letter
    /// table, the others are delivered.
    pub async fn poison(&mut self, count: i64) {
        let poison = self.next + count / 2;
        let poison = if is_rolled_back(poison) {
            poison + 1
        } else {
            poison
        };
        let running = self
            .spawn(count, |c| {
                c.relay = RelayMode::FastPath;
                c.poison = Some(poison);
                c.wait_drained = true;
            })
            .await;
        running.finish().await;
    }

    /// Three relay processes share the table while a writer without a relay writes; one
    /// relay is killed halfway.
    pub async fn three_relays(&mut self, count: i64) {
        const BATCH: usize = 10;
        let mut relays = Vec::new();
        for _ in 0..3 {
            relays.push(
                self.spawn(0, |c| {
                    c.relay = RelayMode::Sweep;
                    c.poll_ms = 20;
                    c.batch = BATCH;
                })
                .await,
            );
        }
        let mut writer = self
            .spawn(count, |c| {
                c.relay = RelayMode::None;
                c.pause_ms = 1;
            })
            .await;
        for _ in 0..count / 2 {
            if !writer.wait_for("committed").await {
                break;
            }
        }
        relays.remove(fastrand::usize(0..3)).kill().await;
        writer.finish().await;
        for relay in relays {
            relay.kill().await;
        }
        // Each killed relay's batch in flight.
        self.may_publish_again(3, BATCH);
    }

    /// A fresh relay drains what is left (waiting out the leases of killed relays), then
    /// the tally of the whole run (a NATS stream, or a RabbitMQ queue, is deleted once read).
    pub async fn settle(&self) -> Tally {
        let sink = self.child.broker.sink(&self.child.stream_prefix).await;
        let mut options = RelayOptions::default();
        options.topics = vec![self.child.topic.clone()];
        options.max_attempts = i32::MAX;
        let relay = Relay::new(self.db.pool().clone(), sink, options);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            relay.drain().await.expect("the fresh relay drains");
            if self.db.rows(&self.child.topic).await.is_empty() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "rows still leased after a minute"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let tally = self.tally().await;
        match &self.reader {
            Reader::Redis(_) => {}
            Reader::Nats(context) => {
                context
                    .delete_stream(&self.child.topic)
                    .await
                    .expect("delete the run's stream");
            }
            Reader::RabbitMq(channel) => {
                channel
                    .queue_delete(self.stream().into(), QueueDeleteOptions::default())
                    .await
                    .expect("delete the run's queue");
            }
        }
        tally
    }

    async fn tally(&self) -> Tally {
        let committed: BTreeSet<i64> = self
            .db
            .committed(&self.child.table)
            .await
            .into_iter()
            .collect();
        let mut seen: BTreeMap<i64, usize> = BTreeMap::new();
        // The message ids each job's messages carry, and the jobs each id was seen on.
        let mut ids_of_job: BTreeMap<i64, BTreeSet<Option<String>>> = BTreeMap::new();
        let mut jobs_of_id: BTreeMap<Option<String>, BTreeSet<i64>> = BTreeMap::new();
        for (id, payload) in self.messages().await {
            let value: serde_json::Value = serde_json::from_str(&payload).expect("a JSON payload");
            let n = value["n"].as_i64().expect("a job number");
            *seen.entry(n).or_default() += 1;
            ids_of_job.entry(n).or_default().insert(id.clone());
            jobs_of_id.entry(id).or_default().insert(n);
        }
        let mismatched_ids = ids_of_job
            .iter()
            .filter(|(_, ids)| {
                ids.len() != 1
                    || ids
                        .iter()
                        .any(|id| id.is_none() || jobs_of_id[id].len() != 1)
            })
            .count();
        let dead = self.db.dead(&self.child.topic).await.len();
        let delivered = seen.keys().filter(|n| committed.contains(n)).count();
        Tally {
            committed: committed.len(),
            delivered,
            lost: (committed.len() - delivered).saturating_sub(dead),
            rolled_back_delivered: seen.keys().filter(|n| !committed.contains(n)).count(),
            duplicates: seen.values().map(|count| count - 1).sum(),
            max_duplicates: self.max_duplicates,
            mismatched_ids,
            dead_lettered: dead,
            left: self.db.rows(&self.child.topic).await.len(),
        }
    }
}

/// Every scenario on `db` with `broker`, each on a run of its own with `k` transactions per
/// child (every tenth rolled back); checks each run's invariants and returns the sum.
pub async fn all_scenarios<D: OutboxDb>(
    db: D,
    dialect: Dialect,
    db_url: &str,
    broker: &Broker,
    exe: PathBuf,
    k: i64,
) -> Tally {
    let mut total = Tally::default();
    let name = match broker {
        Broker::Redis(_) => D::NAME.to_owned(),
        Broker::Nats(_) => format!("{} (NATS)", D::NAME),
        Broker::RabbitMq(_) => format!("{} (RabbitMQ)", D::NAME),
    };
    let name = name.as_str();
    macro_rules! scenario {
        ($label:literal, |$run:ident| $body:expr) => {{
            let mut $run = Run::new(db.clone(), dialect, db_url, broker, exe.clone(), $label).await;
            $body;
            let tally = $run.settle().await;
            tally.check(&format!("{name}, {}", $label));
            report(name, $label, &tally);
            total.add(tally);
        }};
    }
    scenario!("random", |run| for _ in 0..3 {
        run.kill_at_random(k, 400.max(k as u64)).await;
    });
    scenario!("before_relay", |run| run
        .kill_before_any_relay(k, k / 3)
        .await);
    scenario!("after_ack", |run| run.kill_at(k, Stall::AfterAck).await);
    scenario!("mid_batch", |run| run.kill_at(k, Stall::MidBatch).await);
    scenario!("broker_down", |run| run.broker_down(k).await);
    scenario!("poison", |run| run.poison(k.min(100)).await);
    scenario!("three_relays", |run| run.three_relays(k).await);
    total
}

/// One scenario's figures, on stderr (shown by the test harness on failure, and by the
/// script).
fn report(db: &str, scenario: &str, tally: &Tally) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "{db:>19} {scenario:<13} {} committed, {} delivered, {} lost, {} delivered for rolled back, {} duplicates (at most {}), {} dead-lettered",
        tally.committed,
        tally.delivered,
        tally.lost,
        tally.rolled_back_delivered,
        tally.duplicates,
        tally.max_duplicates,
        tally.dead_lettered
    );
}
