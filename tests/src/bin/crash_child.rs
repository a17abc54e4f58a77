//! The process the crash tests kill: it commits transactions of one INSERT and one durable
//! job (every tenth rolls back), with or without a relay to the broker (Redis Streams, NATS
//! JetStream or RabbitMQ), or runs a relay only. Its configuration comes from the environment (see
//! `oncommit_tests::crash::Child`); it prints a line at each point the parent may kill it at.

use std::borrow::Cow;
use std::io::Write;
use std::time::Duration;

use oncommit::outbox::Job;
use oncommit::outbox::relay::{Relay, RelayOptions};
use oncommit::outbox::sink::{Delivery, FaultySink, Sink};
use oncommit::{BoxError, TxOptions};
use oncommit_tests::crash::{BrokerSink, Child, Dialect, RelayMode, Stall, is_rolled_back};
use oncommit_tests::outbox::{MariaDbOutbox, OutboxDb, PostgresOutbox, SqliteOutbox};

#[derive(serde::Serialize)]
struct CrashJob {
    n: i64,
    #[serde(skip)]
    topic: String,
}

impl Job for CrashJob {
    const TOPIC: &'static str = "crash";

    fn topic(&self) -> Cow<'static, str> {
        Cow::Owned(self.topic.clone())
    }
}

#[derive(Debug)]
struct RolledBack;

impl std::fmt::Display for RolledBack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("rolled back on purpose")
    }
}

impl std::error::Error for RolledBack {}

/// Tells the parent where this process is.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The broker's sink, stalling for good at the point the parent kills this process at.
struct Stalling {
    inner: BrokerSink,
    stall: Stall,
}

impl Sink for Stalling {
    async fn publish<'a>(&'a self, batch: &'a [Delivery]) -> Result<(), BoxError> {
        match self.stall {
            // Batches of one pass: the stall waits for a batch with a middle.
            Stall::Never => self.inner.publish(batch).await,
            _ if batch.len() < 2 => self.inner.publish(batch).await,
            Stall::AfterAck => {
                self.inner.publish(batch).await?;
                say("acked");
                std::future::pending().await
            }
            Stall::MidBatch => {
                self.inner.publish(&batch[..batch.len() / 2]).await?;
                say("mid-batch");
                std::future::pending().await
            }
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let child = Child::from_env();
    match child.dialect {
        Dialect::Postgres => run(&child, PostgresOutbox::connect(&child.db_url).await).await,
        Dialect::MariaDb => run(&child, MariaDbOutbox::connect(&child.db_url).await).await,
        Dialect::Sqlite => {
            let path = std::path::Path::new(&child.db_url);
            run(&child, SqliteOutbox::open(path).await).await
        }
    }
}

async fn run<D: OutboxDb>(child: &Child, db: Result<D, sqlx::Error>) {
    let db = db.expect("the database");
    let inner = child.broker.sink(&child.stream_prefix).await;
    let poison = child.poison;
    let sink = FaultySink::new(Stalling {
        inner,
        stall: child.stall,
    })
    .poison(move |d: &Delivery| {
        poison.is_some_and(|p| {
            serde_json::from_str::<serde_json::Value>(&d.payload)
                .ok()
                .map(|v| v["n"].clone())
                == Some(p.into())
        })
    });
    let mut options = RelayOptions::default();
    options.topics = vec![child.topic.clone()];
    options.batch = child.batch;
    options.lease = Duration::from_millis(child.lease_ms);
    options.backoff = Duration::from_millis(50);
    options.max_backoff = Duration::from_millis(200);
    options.max_attempts = child.max_attempts;
    match child.relay {
        RelayMode::None => {}
        RelayMode::FastPath => {
            options.poll = Duration::from_millis(child.poll_ms);
            tokio::spawn(Relay::new(db.pool().clone(), sink, options).run(std::future::pending()));
        }
        RelayMode::Sweep => {
            options.fast_path = false;
            options.poll = Duration::from_millis(child.poll_ms);
            tokio::spawn(Relay::new(db.pool().clone(), sink, options).run(std::future::pending()));
        }
    }
    say("ready");
    if child.count == 0 {
        // A relay only: runs until killed.
        std::future::pending::<()>().await;
    }
    let mut conn = db.writer().await;
    for n in child.start..child.start + child.count {
        let topic = child.topic.clone();
        let table = child.table.clone();
        // Retried as an application would (`#[atomic(retry = 3)]`): on MariaDB a writer's
        // outbox insert can be chosen as a deadlock victim against the relays.
        let result = conn
            .retry_atomic_async(3, TxOptions::new(), async |conn| {
                D::insert(conn, &table, n).await?;
                conn.enqueue_job(&CrashJob {
                    n,
                    topic: topic.clone(),
                })?;
                if is_rolled_back(n) {
                    return Err(BoxError::from(RolledBack));
                }
                Ok::<_, BoxError>(())
            })
            .await;
        match result {
            Ok(()) => say(&format!("committed {n}")),
            Err(error) if error.is::<RolledBack>() => {}
            Err(error) => panic!("transaction {n}: {error}"),
        }
        if child.pause_ms > 0 {
            tokio::time::sleep(Duration::from_millis(child.pause_ms)).await;
        }
    }
    say("written");
    if child.wait_drained {
        while !db.rows(&child.topic).await.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        say("drained");
    }
}
