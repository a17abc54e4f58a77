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
    use std::time::{Duration, Instant};

    use criterion::{Criterion, SamplingMode, Throughput};
    use oncommit::Conn;
    use oncommit::outbox::Job;
    use oncommit::outbox::relay::{Relay, RelayOptions};
    use oncommit::outbox::sink::RedisStreams;
    use oncommit::outbox::store::Claim;
    use sqlx::{PgConnection, PgPool};
    use tokio::runtime::Runtime;

    use crate::support::{
        Db, Redis, Steps, Welcome, backlog, drain_in_steps, env_or, median, services,
    };

    const SCHEMA: &str = "oncommit_bench_relay";
    const PREFIX: &str = "oncommit_bench:relay:";
    const PER_TXN: usize = 1000;

    struct Setup {
        writer: Conn<PgConnection>,
        pool: PgPool,
        sink: RedisStreams,
        redis: Redis,
        options: RelayOptions,
        jobs: usize,
        next: i64,
    }

    impl Setup {
        /// Vacuums the table (unless `ONCOMMIT_RELAY_NO_VACUUM` is set), so that each round
        /// starts from the same table, then commits the backlog.
        async fn fill(&mut self) {
            if std::env::var_os("ONCOMMIT_RELAY_NO_VACUUM").is_none() {
                sqlx::raw_sql("VACUUM oncommit_outbox")
                    .execute(&mut *self.writer)
                    .await
                    .expect("VACUUM");
            }
            backlog(&mut self.writer, self.jobs, PER_TXN, self.next).await;
            self.next += self.jobs as i64;
        }

        /// Fills the backlog, then drains it with one relay: the drain's time.
        async fn drain(&mut self) -> Duration {
            self.fill().await;
            let relay = Relay::new(self.pool.clone(), self.sink.clone(), self.options.clone());
            let start = Instant::now();
            let drained = relay.drain().await.expect("drain");
            let elapsed = start.elapsed();
            assert_eq!(drained.published, self.jobs, "every job published");
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
        let mut setup = rt.block_on(async {
            redis.clean().await;
            Setup {
                writer: Conn::new(db.connect().await),
                pool: db.pool(4).await,
                sink: redis.sink().await,
                redis: Redis::new(&redis_url, PREFIX),
                options,
                jobs,
                next: 0,
            }
        });
        let stream = setup.sink.stream(Welcome::TOPIC);

        // A first round warms up the connections, the statement caches and the Lua script.
        rt.block_on(setup.drain());
        let mut rates: Vec<f64> = (0..rounds.max(1))
            .map(|_| jobs as f64 / rt.block_on(setup.drain()).as_secs_f64())
            .collect();
        let listed: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
        let rate = median(&mut rates);
        println!(
            "relay: Postgres -> Redis Streams, {jobs} committed jobs drained by one relay (batch {}), {} rounds: {rate:.0} jobs/s median ({}) [target >= 50000: {}]",
            setup.options.batch,
            listed.len(),
            listed.join(", "),
            if rate >= 50_000.0 { "ok" } else { "UNDER" }
        );

        let (steps, total) = rt.block_on(steps(&mut setup));
        println!("{}", steps.summary(total, setup.options.batch, jobs));

        let mut group = c.benchmark_group("relay");
        group
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .throughput(Throughput::Elements(jobs as u64));
        group.bench_function("drain_to_redis", |b| {
            b.iter_custom(|iters| (0..iters).map(|_| rt.block_on(setup.drain())).sum())
        });
        group.finish();

        rt.block_on(async {
            let delivered = setup.redis.len(&stream).await;
            println!("relay: {delivered} entries in the stream; cleaning up");
            setup.redis.clean().await;
            setup.pool.close().await;
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
