//! The outbox relay's throughput, Postgres to Redis Streams (`DATABASE_URL`, `REDIS_URL`;
//! skipped, with the reason printed, when either is unset):
//!
//! 1. a backlog of committed jobs (`ONCOMMIT_RELAY_JOBS`, default 20,000, written 1,000 to a
//!    transaction) drained by one relay (`Relay::drain`, default options unless
//!    `ONCOMMIT_RELAY_BATCH` is set) to `RedisStreams` over one connection; jobs per second,
//!    the median of `ONCOMMIT_RELAY_ROUNDS` rounds (default 5). Target: at least 50,000
//!    jobs/s.
//! 2. where a drain's time goes: the same backlog claimed, published and deleted batch by
//!    batch through the relay's own `Store` and `Sink`, each step timed (one after the other,
//!    where the relay overlaps the claim of the next batch with the current one).
//!
//! Each backlog is written to a freshly vacuumed table (`ONCOMMIT_RELAY_NO_VACUUM=1` keeps
//! the dead rows of the rounds before; `ONCOMMIT_BENCH_SETUP_SQL` runs after the migration,
//! to try a table setting or an index).
//!
//! Then criterion times the drain on its own (`relay/drain_to_redis`).
//!
//! The tables live in a schema of their own (`oncommit_bench_relay`, created afresh from the
//! migration and dropped at the end), the streams and dedup keys under
//! `oncommit_bench:relay:` (removed at the end).
//!
//! Run: `DATABASE_URL=postgres://root@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379
//! cargo bench -p oncommit --bench relay --all-features`

#[cfg(all(feature = "sqlx-postgres", feature = "sink-redis"))]
#[allow(dead_code)]
mod support;

#[cfg(all(feature = "sqlx-postgres", feature = "sink-redis"))]
mod bench {
    use criterion::{Criterion, SamplingMode, Throughput};
    use oncommit::outbox::Job;
    use oncommit::outbox::relay::RelayOptions;
    use oncommit::outbox::sink::RedisStreams;
    use tokio::runtime::Runtime;

    use crate::support::{Backlogs, Db, Redis, Welcome, env_or, rate_rounds, services};

    const SCHEMA: &str = "oncommit_bench_relay";
    const PREFIX: &str = "oncommit_bench:relay:";

    pub fn run(c: &mut Criterion) {
        let Some((database, redis_url)) = services("relay") else {
            return;
        };
        let jobs: usize = env_or("ONCOMMIT_RELAY_JOBS", 20_000);
        let rounds: usize = env_or("ONCOMMIT_RELAY_ROUNDS", 5);
        let mut options = RelayOptions::default();
        options.batch = env_or("ONCOMMIT_RELAY_BATCH", options.batch);
        let rt = Runtime::new().expect("runtime");
        let db = rt.block_on(Db::fresh(&database, SCHEMA));
        let redis = Redis::new(&redis_url, PREFIX);
        let mut backlogs = rt.block_on(async {
            redis.clean().await;
            Backlogs::new(&db, redis.sink().await, options, jobs).await
        });
        let stream = backlogs.sink.stream(Welcome::TOPIC);
        let round = |backlogs: &mut Backlogs<RedisStreams>| {
            rt.block_on(async {
                backlogs.fill().await;
                backlogs.drain().await
            })
        };

        // The warm-up round warms the Lua script up too.
        let batch = backlogs.options.batch;
        rate_rounds("Redis Streams", jobs, batch, rounds, 50_000.0, || {
            round(&mut backlogs)
        });
        rt.block_on(backlogs.steps());

        let mut group = c.benchmark_group("relay");
        group
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .throughput(Throughput::Elements(jobs as u64));
        group.bench_function("drain_to_redis", |b| {
            b.iter_custom(|iters| (0..iters).map(|_| round(&mut backlogs)).sum())
        });
        group.finish();

        rt.block_on(async {
            let delivered = redis.len(&stream).await;
            println!("relay: {delivered} entries in the stream; cleaning up");
            redis.clean().await;
            backlogs.pool.close().await;
            db.drop().await;
        });
    }
}

#[cfg(all(feature = "sqlx-postgres", feature = "sink-redis"))]
fn main() {
    let mut c = criterion::Criterion::default().configure_from_args();
    bench::run(&mut c);
    c.final_summary();
}

#[cfg(not(all(feature = "sqlx-postgres", feature = "sink-redis")))]
fn main() {
    println!("relay bench skipped: build with `--features sqlx-postgres,sink-redis`");
}
