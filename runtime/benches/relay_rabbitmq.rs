//! The outbox relay's throughput, Postgres to RabbitMQ with publisher confirms
//! (`DATABASE_URL`, `RABBITMQ_URL`; skipped, with the reason printed, when either is unset):
//!
//! 1. a backlog of committed jobs (`ONCOMMIT_RELAY_JOBS`, default 20,000, written 1,000 to a
//!    transaction) drained by one relay (`Relay::drain`, default options unless
//!    `ONCOMMIT_RELAY_BATCH` is set) to `RabbitMq` over one channel, into a durable classic
//!    queue (persistent messages: each confirm waits for the broker's disk write); jobs per
//!    second, the median of `ONCOMMIT_RELAY_ROUNDS` rounds (default 5). Target: at least
//!    10,000 jobs/s. Each round checks that the queue holds every job, then purges it.
//! 2. where a drain's time goes: the same backlog claimed, published and deleted batch by
//!    batch through the relay's own `Store` and `Sink`, each step timed.
//!
//! The tables live in a schema of their own (`oncommit_bench_relay_rabbitmq`, created afresh
//! and dropped at the end); the exchange and queue are `oncommit_bench_relay` and
//! `oncommit_bench_relay_welcome` (deleted at the end).
//!
//! Run: `DATABASE_URL=postgres://root@127.0.0.1:5432/test
//! RABBITMQ_URL=amqp://guest:guest@127.0.0.1:5672/%2f cargo bench -p oncommit --bench
//! relay_rabbitmq --all-features`

#[cfg(all(
    feature = "sqlx-postgres",
    feature = "sink-redis",
    feature = "sink-rabbitmq"
))]
#[allow(dead_code)]
mod support;

#[cfg(all(
    feature = "sqlx-postgres",
    feature = "sink-redis",
    feature = "sink-rabbitmq"
))]
mod bench {
    use lapin::options::{
        ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
        QueueDeleteOptions, QueuePurgeOptions,
    };
    use lapin::types::FieldTable;
    use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
    use oncommit::outbox::Job;
    use oncommit::outbox::relay::RelayOptions;
    use oncommit::outbox::sink::RabbitMq;
    use tokio::runtime::Runtime;

    use crate::support::{Backlogs, Db, Welcome, env_or, rate_rounds};

    const SCHEMA: &str = "oncommit_bench_relay_rabbitmq";
    const EXCHANGE: &str = "oncommit_bench_relay";
    const QUEUE: &str = "oncommit_bench_relay_welcome";

    /// Empties the queue.
    async fn purge(reader: &Channel) {
        reader
            .queue_purge(QUEUE.into(), QueuePurgeOptions::default())
            .await
            .expect("purge the queue");
    }

    /// Messages in the queue.
    async fn held(reader: &Channel) -> u32 {
        let options = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        reader
            .queue_declare(QUEUE.into(), options, FieldTable::default())
            .await
            .expect("the queue")
            .message_count()
    }

    /// Declares the exchange and the durable queue bound to it by the jobs' topic.
    async fn route(reader: &Channel) {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        reader
            .exchange_declare(
                EXCHANGE.into(),
                ExchangeKind::Direct,
                durable,
                FieldTable::default(),
            )
            .await
            .expect("declare the exchange");
        let durable = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        reader
            .queue_declare(QUEUE.into(), durable, FieldTable::default())
            .await
            .expect("declare the queue");
        reader
            .queue_bind(
                QUEUE.into(),
                EXCHANGE.into(),
                Welcome::TOPIC.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind the queue");
    }

    pub fn run() {
        let Ok(database) = std::env::var("DATABASE_URL") else {
            println!("relay_rabbitmq bench skipped: DATABASE_URL is not set");
            return;
        };
        let Ok(rabbitmq) = std::env::var("RABBITMQ_URL") else {
            println!("relay_rabbitmq bench skipped: RABBITMQ_URL is not set");
            return;
        };
        let jobs: usize = env_or("ONCOMMIT_RELAY_JOBS", 20_000);
        let rounds: usize = env_or("ONCOMMIT_RELAY_ROUNDS", 5);
        let mut options = RelayOptions::default();
        options.batch = env_or("ONCOMMIT_RELAY_BATCH", options.batch);
        let rt = Runtime::new().expect("runtime");
        let db = rt.block_on(Db::fresh(&database, SCHEMA));
        let (publisher, reader_connection, reader, mut backlogs) = rt.block_on(async {
            let connect = || Connection::connect(&rabbitmq, ConnectionProperties::default());
            let publisher = connect().await.expect("connect to RabbitMQ");
            let reader_connection = connect().await.expect("connect to RabbitMQ");
            let reader = reader_connection.create_channel().await.expect("channel");
            route(&reader).await;
            let channel = publisher.create_channel().await.expect("channel");
            let sink = RabbitMq::new(channel)
                .await
                .expect("confirm mode")
                .exchange(EXCHANGE);
            let backlogs = Backlogs::new(&db, sink, options, jobs).await;
            (publisher, reader_connection, reader, backlogs)
        });

        // Each round checks that the queue holds every job.
        let batch = backlogs.options.batch;
        rate_rounds(
            "RabbitMQ (publisher confirms, persistent messages, durable queue)",
            jobs,
            batch,
            rounds,
            10_000.0,
            || {
                rt.block_on(async {
                    purge(&reader).await;
                    backlogs.fill().await;
                    let elapsed = backlogs.drain().await;
                    assert_eq!(held(&reader).await as usize, jobs, "every job in the queue");
                    elapsed
                })
            },
        );

        rt.block_on(async {
            purge(&reader).await;
            backlogs.steps().await;
            println!(
                "relay: {} messages in the queue; cleaning up",
                held(&reader).await
            );
            reader
                .queue_delete(QUEUE.into(), QueueDeleteOptions::default())
                .await
                .expect("delete the queue");
            reader
                .exchange_delete(EXCHANGE.into(), ExchangeDeleteOptions::default())
                .await
                .expect("delete the exchange");
            let _ = publisher.close(200, "done".into()).await;
            let _ = reader_connection.close(200, "done".into()).await;
            backlogs.pool.close().await;
            db.drop().await;
        });
    }
}

#[cfg(all(
    feature = "sqlx-postgres",
    feature = "sink-redis",
    feature = "sink-rabbitmq"
))]
fn main() {
    bench::run();
}

#[cfg(not(all(
    feature = "sqlx-postgres",
    feature = "sink-redis",
    feature = "sink-rabbitmq"
)))]
fn main() {
    println!(
        "relay_rabbitmq bench skipped: build with `--features sqlx-postgres,sink-redis,sink-rabbitmq`"
    );
}
