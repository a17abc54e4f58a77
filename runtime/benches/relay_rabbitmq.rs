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
    use std::time::{Duration, Instant};

    use lapin::options::{
        ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
        QueueDeleteOptions, QueuePurgeOptions,
    };
    use lapin::types::FieldTable;
    use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
    use oncommit::Conn;
    use oncommit::outbox::Job;
    use oncommit::outbox::relay::{Relay, RelayOptions};
    use oncommit::outbox::sink::RabbitMq;
    use oncommit::outbox::store::Claim;
    use sqlx::{PgConnection, PgPool};
    use tokio::runtime::Runtime;

    use crate::support::{Db, Steps, Welcome, backlog, drain_in_steps, env_or, median};

    const SCHEMA: &str = "oncommit_bench_relay_rabbitmq";
    const EXCHANGE: &str = "oncommit_bench_relay";
    const QUEUE: &str = "oncommit_bench_relay_welcome";
    const PER_TXN: usize = 1000;

    struct Setup {
        writer: Conn<PgConnection>,
        pool: PgPool,
        sink: RabbitMq,
        reader: Channel,
        options: RelayOptions,
        jobs: usize,
        next: i64,
    }

    impl Setup {
        /// Vacuums the table, so that each round starts from the same table, empties the
        /// queue, then commits the backlog.
        async fn fill(&mut self) {
            sqlx::raw_sql("VACUUM oncommit_outbox")
                .execute(&mut *self.writer)
                .await
                .expect("VACUUM");
            self.reader
                .queue_purge(QUEUE.into(), QueuePurgeOptions::default())
                .await
                .expect("purge the queue");
            backlog(&mut self.writer, self.jobs, PER_TXN, self.next).await;
            self.next += self.jobs as i64;
        }

        /// Messages in the queue.
        async fn held(&self) -> u32 {
            let options = QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            };
            self.reader
                .queue_declare(QUEUE.into(), options, FieldTable::default())
                .await
                .expect("the queue")
                .message_count()
        }

        /// Fills the backlog, then drains it with one relay: the drain's time.
        async fn drain(&mut self) -> Duration {
            self.fill().await;
            let relay = Relay::new(self.pool.clone(), self.sink.clone(), self.options.clone());
            let start = Instant::now();
            let drained = relay.drain().await.expect("drain");
            let elapsed = start.elapsed();
            assert_eq!(drained.published, self.jobs, "every job published");
            assert_eq!(
                self.held().await as usize,
                self.jobs,
                "every job in the queue"
            );
            elapsed
        }
    }

    /// Fills the backlog, then drains it step by step as the relay does, timing each step.
    async fn steps(setup: &mut Setup) -> (Steps, Duration) {
        setup.fill().await;
        let claim = Claim {
            limit: setup.options.batch,
            lease: setup.options.lease,
            topics: &[],
        };
        drain_in_steps(&setup.pool, &setup.sink, claim).await
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
        let (publisher, reader_connection, mut setup) = rt.block_on(async {
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
            let setup = Setup {
                writer: Conn::new(db.connect().await),
                pool: db.pool(4).await,
                sink,
                reader,
                options,
                jobs,
                next: 0,
            };
            (publisher, reader_connection, setup)
        });

        // A first round warms up the connections and the statement caches.
        rt.block_on(setup.drain());
        let mut rates: Vec<f64> = (0..rounds.max(1))
            .map(|_| jobs as f64 / rt.block_on(setup.drain()).as_secs_f64())
            .collect();
        let listed: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
        let rate = median(&mut rates);
        println!(
            "relay: Postgres -> RabbitMQ (publisher confirms, persistent messages, durable queue), {jobs} committed jobs drained by one relay (batch {}), {} rounds: {rate:.0} jobs/s median ({}) [target >= 10000: {}]",
            setup.options.batch,
            listed.len(),
            listed.join(", "),
            if rate >= 10_000.0 { "ok" } else { "UNDER" }
        );

        let (steps, total) = rt.block_on(steps(&mut setup));
        println!("{}", steps.summary(total, setup.options.batch, jobs));

        rt.block_on(async {
            println!(
                "relay: {} messages in the queue; cleaning up",
                setup.held().await
            );
            setup
                .reader
                .queue_delete(QUEUE.into(), QueueDeleteOptions::default())
                .await
                .expect("delete the queue");
            setup
                .reader
                .exchange_delete(EXCHANGE.into(), ExchangeDeleteOptions::default())
                .await
                .expect("delete the exchange");
            let _ = publisher.close(200, "done".into()).await;
            let _ = reader_connection.close(200, "done".into()).await;
            setup.pool.close().await;
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
