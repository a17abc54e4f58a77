//! The outbox relay's throughput, Postgres to NATS JetStream (`DATABASE_URL`, `NATS_URL`;
//! skipped, with the reason printed, when either is unset):
//!
//! 1. a backlog of committed jobs (`ONCOMMIT_RELAY_JOBS`, default 20,000, written 1,000 to a
//!    transaction) drained by one relay (`Relay::drain`, default options unless
//!    `ONCOMMIT_RELAY_BATCH` is set) to `NatsJetStream` over one connection, into a file
//!    stream (each publish acknowledged by the server once stored; a duplicate ack counts as
//!    delivered); jobs per second, the median of `ONCOMMIT_RELAY_ROUNDS` rounds (default 5).
//!    Target: at least 20,000 jobs/s. Each round checks that the stream holds every job, then
//!    purges it.
//! 2. where a drain's time goes: the same backlog claimed, published and deleted batch by
//!    batch through the relay's own `Store` and `Sink`, each step timed.
//!
//! The tables live in a schema of their own (`oncommit_bench_relay_nats`, created afresh and
//! dropped at the end); the stream is `ONCOMMIT_BENCH_RELAY` (subjects
//! `oncommit_bench_relay.>`, deleted at the end).
//!
//! Run: `DATABASE_URL=postgres://root@127.0.0.1:5432/test NATS_URL=nats://127.0.0.1:4222
//! cargo bench -p oncommit --bench relay_nats --all-features`

#[cfg(all(
    feature = "sqlx-postgres",
    feature = "sink-redis",
    feature = "sink-nats"
))]
#[allow(dead_code)]
mod support;

#[cfg(all(
    feature = "sqlx-postgres",
    feature = "sink-redis",
    feature = "sink-nats"
))]
mod bench {
    use std::time::{Duration, Instant};

    use async_nats::jetstream::{self, Context, stream};
    use oncommit::Conn;
    use oncommit::outbox::relay::{Relay, RelayOptions};
    use oncommit::outbox::sink::NatsJetStream;
    use oncommit::outbox::store::Claim;
    use sqlx::{PgConnection, PgPool};
    use tokio::runtime::Runtime;

    use crate::support::{Db, Steps, backlog, drain_in_steps, env_or, median};

    const SCHEMA: &str = "oncommit_bench_relay_nats";
    const STREAM: &str = "ONCOMMIT_BENCH_RELAY";
    const PREFIX: &str = "oncommit_bench_relay.";
    const PER_TXN: usize = 1000;

    struct Setup {
        writer: Conn<PgConnection>,
        pool: PgPool,
        sink: NatsJetStream,
        reader: Context,
        options: RelayOptions,
        jobs: usize,
        next: i64,
    }

    impl Setup {
        /// Vacuums the table, so that each round starts from the same table, empties the
        /// stream, then commits the backlog.
        async fn fill(&mut self) {
            sqlx::raw_sql("VACUUM oncommit_outbox")
                .execute(&mut *self.writer)
                .await
                .expect("VACUUM");
            self.reader
                .get_stream(STREAM)
                .await
                .expect("the stream")
                .purge()
                .await
                .expect("purge the stream");
            backlog(&mut self.writer, self.jobs, PER_TXN, self.next).await;
            self.next += self.jobs as i64;
        }

        /// Messages in the stream.
        async fn held(&self) -> u64 {
            let mut stream = self.reader.get_stream(STREAM).await.expect("the stream");
            stream
                .info()
                .await
                .expect("the stream's state")
                .state
                .messages
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
                "every job in the stream"
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

    pub fn run() {
        let Ok(database) = std::env::var("DATABASE_URL") else {
            println!("relay_nats bench skipped: DATABASE_URL is not set");
            return;
        };
        let Ok(nats) = std::env::var("NATS_URL") else {
            println!("relay_nats bench skipped: NATS_URL is not set");
            return;
        };
        let jobs: usize = env_or("ONCOMMIT_RELAY_JOBS", 20_000);
        let rounds: usize = env_or("ONCOMMIT_RELAY_ROUNDS", 5);
        let mut options = RelayOptions::default();
        options.batch = env_or("ONCOMMIT_RELAY_BATCH", options.batch);
        let rt = Runtime::new().expect("runtime");
        let db = rt.block_on(Db::fresh(&database, SCHEMA));
        let mut setup = rt.block_on(async {
            let connect = || async {
                jetstream::new(async_nats::connect(&nats).await.expect("connect to NATS"))
            };
            let reader = connect().await;
            let _ = reader.delete_stream(STREAM).await;
            reader
                .create_stream(stream::Config {
                    name: STREAM.to_owned(),
                    subjects: vec![format!("{PREFIX}>")],
                    ..Default::default()
                })
                .await
                .expect("create the stream");
            let sink = NatsJetStream::new(connect().await).subject_prefix(PREFIX);
            Setup {
                writer: Conn::new(db.connect().await),
                pool: db.pool(4).await,
                sink,
                reader,
                options,
                jobs,
                next: 0,
            }
        });

        // A first round warms up the connections and the statement caches.
        rt.block_on(setup.drain());
        let mut rates: Vec<f64> = (0..rounds.max(1))
            .map(|_| jobs as f64 / rt.block_on(setup.drain()).as_secs_f64())
            .collect();
        let listed: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
        let rate = median(&mut rates);
        println!(
            "relay: Postgres -> NATS JetStream (file stream, each publish acknowledged), {jobs} committed jobs drained by one relay (batch {}), {} rounds: {rate:.0} jobs/s median ({}) [target >= 20000: {}]",
            setup.options.batch,
            listed.len(),
            listed.join(", "),
            if rate >= 20_000.0 { "ok" } else { "UNDER" }
        );

        let (steps, total) = rt.block_on(steps(&mut setup));
        println!("{}", steps.summary(total, setup.options.batch, jobs));

        rt.block_on(async {
            println!(
                "relay: {} messages in the stream; cleaning up",
                setup.held().await
            );
            setup
                .reader
                .delete_stream(STREAM)
                .await
                .expect("delete the stream");
            setup.pool.close().await;
            db.drop().await;
        });
    }
}

#[cfg(all(
    feature = "sqlx-postgres",
    feature = "sink-redis",
    feature = "sink-nats"
))]
fn main() {
    bench::run();
}

#[cfg(not(all(
    feature = "sqlx-postgres",
    feature = "sink-redis",
    feature = "sink-nats"
)))]
fn main() {
    println!(
        "relay_nats bench skipped: build with `--features sqlx-postgres,sink-redis,sink-nats`"
    );
}
