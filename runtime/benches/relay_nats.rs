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
    use async_nats::jetstream::{self, Context, stream};
    use oncommit::outbox::relay::RelayOptions;
    use oncommit::outbox::sink::NatsJetStream;
    use tokio::runtime::Runtime;

    use crate::support::{Backlogs, Db, env_or, rate_rounds};

    const SCHEMA: &str = "oncommit_bench_relay_nats";
    const STREAM: &str = "ONCOMMIT_BENCH_RELAY";
    const PREFIX: &str = "oncommit_bench_relay.";

    /// Empties the stream.
    async fn purge(reader: &Context) {
        reader
            .get_stream(STREAM)
            .await
            .expect("the stream")
            .purge()
            .await
            .expect("purge the stream");
    }

    /// Messages in the stream.
    async fn held(reader: &Context) -> u64 {
        let mut stream = reader.get_stream(STREAM).await.expect("the stream");
        stream
            .info()
            .await
            .expect("the stream's state")
            .state
            .messages
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
        let (reader, mut backlogs) = rt.block_on(async {
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
            (reader, Backlogs::new(&db, sink, options, jobs).await)
        });

        // Each round checks that the stream holds every job.
        let batch = backlogs.options.batch;
        rate_rounds(
            "NATS JetStream (file stream, each publish acknowledged)",
            jobs,
            batch,
            rounds,
            20_000.0,
            || {
                rt.block_on(async {
                    purge(&reader).await;
                    backlogs.fill().await;
                    let elapsed = backlogs.drain().await;
                    assert_eq!(
                        held(&reader).await as usize,
                        jobs,
                        "every job in the stream"
                    );
                    elapsed
                })
            },
        );
        rt.block_on(async {
            purge(&reader).await;
            backlogs.steps().await;
            println!(
                "relay: {} messages in the stream; cleaning up",
                held(&reader).await
            );
            reader
                .delete_stream(STREAM)
                .await
                .expect("delete the stream");
            backlogs.pool.close().await;
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
