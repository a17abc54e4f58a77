//! What the relay benches share: Postgres in a schema of their own (so that a bench never
//! touches the rows of the test suites, and its tables and indexes are the current
//! migration's), Redis keys under a prefix of their own, and a backlog written fast.

use std::time::Duration;

use oncommit::outbox::sink::RedisStreams;
use oncommit::outbox::{Dialect, Job, migrate};
use oncommit::{BoxError, Conn};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool};

/// The job the benches enqueue: a payload of about 60 bytes.
#[derive(serde::Serialize)]
pub struct Welcome {
    pub user_id: i64,
    pub email: String,
}

impl Job for Welcome {
    const TOPIC: &'static str = "welcome";
}

impl Welcome {
    pub fn new(user_id: i64) -> Welcome {
        Welcome {
            user_id,
            email: format!("user{user_id}@example.com"),
        }
    }
}

/// `DATABASE_URL` and `REDIS_URL`, or `None` after printing why `bench` is skipped.
pub fn services(bench: &str) -> Option<(String, String)> {
    let Ok(database) = std::env::var("DATABASE_URL") else {
        println!("{bench} bench skipped: DATABASE_URL is not set");
        return None;
    };
    let Ok(redis) = std::env::var("REDIS_URL") else {
        println!("{bench} bench skipped: REDIS_URL is not set");
        return None;
    };
    Some((database, redis))
}

/// A number from the environment variable `name`, or `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Postgres in `schema`: each connection's `search_path`.
#[derive(Clone)]
pub struct Db {
    pub options: PgConnectOptions,
    pub schema: &'static str,
}

impl Db {
    /// Creates `schema` afresh, with the outbox tables of the current migration in it, then
    /// runs `ONCOMMIT_BENCH_SETUP_SQL` if set (to try a table setting or an index).
    pub async fn fresh(url: &str, schema: &'static str) -> Db {
        let options = url
            .parse::<PgConnectOptions>()
            .expect("DATABASE_URL")
            .options([("search_path", schema)]);
        let db = Db { options, schema };
        let mut conn = db.connect().await;
        sqlx::raw_sql(AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        )))
        .execute(&mut conn)
        .await
        .expect("bench schema");
        migrate(&mut conn, Dialect::Postgres)
            .await
            .expect("outbox tables");
        if let Ok(sql) = std::env::var("ONCOMMIT_BENCH_SETUP_SQL") {
            println!("bench schema {schema}: {sql}");
            sqlx::raw_sql(AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .expect("ONCOMMIT_BENCH_SETUP_SQL");
        }
        db
    }

    pub async fn connect(&self) -> PgConnection {
        PgConnection::connect_with(&self.options)
            .await
            .expect("connect to Postgres")
    }

    pub async fn pool(&self, connections: u32) -> PgPool {
        PgPoolOptions::new()
            .max_connections(connections)
            .connect_with(self.options.clone())
            .await
            .expect("Postgres pool")
    }

    /// Drops the schema.
    pub async fn drop(&self) {
        let mut conn = self.connect().await;
        sqlx::raw_sql(AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            self.schema
        )))
        .execute(&mut conn)
        .await
        .expect("drop the bench schema");
    }
}

/// Commits `jobs` jobs, `per_txn` to a transaction (one batched insert each).
pub async fn backlog(conn: &mut Conn<PgConnection>, jobs: usize, per_txn: usize, first: i64) {
    let mut next = first;
    let mut left = jobs;
    while left > 0 {
        let n = left.min(per_txn);
        conn.atomic_async(async |conn| {
            for _ in 0..n {
                conn.enqueue_job(&Welcome::new(next))?;
                next += 1;
            }
            Ok::<_, BoxError>(())
        })
        .await
        .expect("backlog transaction");
        left -= n;
    }
}

/// Redis under `prefix`: a sink whose streams and dedup keys are named `<prefix>…`, and a
/// connection of its own to read and clean up.
#[derive(Clone)]
pub struct Redis {
    pub client: redis::Client,
    pub prefix: &'static str,
}

impl Redis {
    pub fn new(url: &str, prefix: &'static str) -> Redis {
        Redis {
            client: redis::Client::open(url).expect("REDIS_URL"),
            prefix,
        }
    }

    /// The sink, over one connection; message ids are remembered for ten minutes.
    pub async fn sink(&self) -> RedisStreams {
        let connection = self
            .client
            .get_connection_manager()
            .await
            .expect("connect to Redis");
        RedisStreams::new(connection)
            .stream_prefix(format!("{}stream:", self.prefix))
            .dedup_prefix(format!("{}seen:", self.prefix))
            .dedup_for(Duration::from_secs(600))
    }

    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        self.client
            .get_multiplexed_async_connection()
            .await
            .expect("connect to Redis")
    }

    /// Entries in the stream `stream`.
    pub async fn len(&self, stream: &str) -> u64 {
        let mut conn = self.connection().await;
        redis::cmd("XLEN")
            .arg(stream)
            .query_async(&mut conn)
            .await
            .expect("XLEN")
    }

    /// Removes every key under the prefix.
    pub async fn clean(&self) {
        let mut conn = self.connection().await;
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{}*", self.prefix))
                .arg("COUNT")
                .arg(10_000)
                .query_async(&mut conn)
                .await
                .expect("SCAN");
            if !keys.is_empty() {
                let _: i64 = redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async(&mut conn)
                    .await
                    .expect("UNLINK");
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
}

/// The median of `values` (sorted in place).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The `q` quantile of sorted `values` (nearest rank).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((sorted.len() as f64) * q).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Time spent in each step of a drain, as a relay does it.
#[derive(Default)]
pub struct Steps {
    pub batches: usize,
    pub claim: Duration,
    pub publish: Duration,
    pub delete: Duration,
}

impl Steps {
    /// One line on where a drain of `jobs` jobs in batches of `batch` spent its `total`.
    pub fn summary(&self, total: Duration, batch: usize, jobs: usize) -> String {
        let per_batch = |d: Duration| d.as_secs_f64() * 1e6 / self.batches.max(1) as f64;
        let share = |d: Duration| d.as_secs_f64() / total.as_secs_f64() * 100.0;
        format!(
            "relay: one drain step by step, {} batches of {batch}: claim {:.0} us/batch ({:.0}%), publish {:.0} us/batch ({:.0}%), delete {:.0} us/batch ({:.0}%); {:.0} jobs/s",
            self.batches,
            per_batch(self.claim),
            share(self.claim),
            per_batch(self.publish),
            share(self.publish),
            per_batch(self.delete),
            share(self.delete),
            jobs as f64 / total.as_secs_f64(),
        )
    }
}

/// Drains `store` into `sink` step by step as the relay does (claim, publish, delete),
/// timing each step; returns the steps and the whole time.
pub async fn drain_in_steps<St, S>(
    store: &St,
    sink: &S,
    claim: oncommit::outbox::store::Claim<'_>,
) -> (Steps, Duration)
where
    St: oncommit::outbox::store::Store,
    S: oncommit::outbox::sink::Sink,
{
    let mut steps = Steps::default();
    let start = std::time::Instant::now();
    loop {
        let t = std::time::Instant::now();
        let batch = store.claim(claim.clone()).await.expect("claim");
        steps.claim += t.elapsed();
        if batch.is_empty() {
            break;
        }
        steps.batches += 1;
        let t = std::time::Instant::now();
        sink.publish(&batch).await.expect("publish");
        steps.publish += t.elapsed();
        let t = std::time::Instant::now();
        store.delete(&batch).await.expect("delete");
        steps.delete += t.elapsed();
        if batch.len() < claim.limit {
            break;
        }
    }
    (steps, start.elapsed())
}

/// A relay throughput bench's backlogs: committed by `writer`, 1,000 jobs to a transaction,
/// and drained by one relay on `pool` to `sink`.
pub struct Backlogs<S> {
    pub writer: Conn<PgConnection>,
    pub pool: PgPool,
    pub sink: S,
    pub options: oncommit::outbox::relay::RelayOptions,
    pub jobs: usize,
    next: i64,
}

impl<S: oncommit::outbox::sink::Sink + Clone> Backlogs<S> {
    /// Backlogs of `jobs` jobs in `db`, for a relay with `options` publishing to `sink`.
    pub async fn new(
        db: &Db,
        sink: S,
        options: oncommit::outbox::relay::RelayOptions,
        jobs: usize,
    ) -> Backlogs<S> {
        Backlogs {
            writer: Conn::new(db.connect().await),
            pool: db.pool(4).await,
            sink,
            options,
            jobs,
            next: 0,
        }
    }

    /// Vacuums the table (unless `ONCOMMIT_RELAY_NO_VACUUM` is set), so that each round
    /// starts from the same table, then commits the backlog.
    pub async fn fill(&mut self) {
        if std::env::var_os("ONCOMMIT_RELAY_NO_VACUUM").is_none() {
            sqlx::raw_sql("VACUUM oncommit_outbox")
                .execute(&mut *self.writer)
                .await
                .expect("VACUUM");
        }
        backlog(&mut self.writer, self.jobs, 1000, self.next).await;
        self.next += self.jobs as i64;
    }

    /// Drains the backlog with one relay: the drain's time.
    pub async fn drain(&self) -> Duration {
        let relay = oncommit::outbox::relay::Relay::new(
            self.pool.clone(),
            self.sink.clone(),
            self.options.clone(),
        );
        let start = std::time::Instant::now();
        let drained = relay.drain().await.expect("drain");
        let elapsed = start.elapsed();
        assert_eq!(drained.published, self.jobs, "every job published");
        elapsed
    }

    /// Fills the backlog, then drains it step by step as the relay does, timing each step;
    /// prints where the time went.
    pub async fn steps(&mut self) {
        self.fill().await;
        let claim = oncommit::outbox::store::Claim {
            limit: self.options.batch,
            lease: self.options.lease,
            topics: &[],
        };
        let (steps, total) = drain_in_steps(&self.pool, &self.sink, claim).await;
        println!("{}", steps.summary(total, self.options.batch, self.jobs));
    }
}

/// A warm-up round (connections, statement caches), then `rounds` rounds of `round` (each a
/// drain of `jobs` jobs, returning its time); prints the median rate of `what` against
/// `target` jobs/s.
pub fn rate_rounds(
    what: &str,
    jobs: usize,
    batch: usize,
    rounds: usize,
    target: f64,
    mut round: impl FnMut() -> Duration,
) {
    round();
    let mut rates: Vec<f64> = (0..rounds.max(1))
        .map(|_| jobs as f64 / round().as_secs_f64())
        .collect();
    let listed: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
    let rate = median(&mut rates);
    println!(
        "relay: Postgres -> {what}, {jobs} committed jobs drained by one relay (batch {batch}), {} rounds: {rate:.0} jobs/s median ({}) [target >= {target:.0}: {}]",
        listed.len(),
        listed.join(", "),
        if rate >= target { "ok" } else { "UNDER" }
    );
}
