//! The outbox relay's latency, Postgres to Redis Streams (`DATABASE_URL`, `REDIS_URL`;
//! skipped, with the reason printed, when either is unset):
//!
//! 1. **Fast path**: jobs committed at a steady rate (`ONCOMMIT_LATENCY_RATE`, default 1,000
//!    jobs/s; one job per transaction, from `ONCOMMIT_LATENCY_WRITERS` paced writer tasks,
//!    default 8, each on its own connection) for `ONCOMMIT_LATENCY_SECS` (default 10, after
//!    one second of warm-up that is not counted), with `Relay::run` (fast path on, a sweep only
//!    every 10 s) publishing to `RedisStreams`. A reader blocks on `XREAD` and timestamps each
//!    entry as it arrives; a job's latency is its arrival minus the instant its transaction
//!    returned from COMMIT (`atomic_async` returned). p50, p99, max. Target: p50 ≤ 1 ms,
//!    p99 ≤ 5 ms.
//! 2. **Recovery after a crash**: `ONCOMMIT_RECOVERY_JOBS` committed rows (default 1,000)
//!    claimed with a short lease (`ONCOMMIT_RECOVERY_LEASE_MS`, default 2,000) by a relay
//!    that never finishes; a fresh relay (`Relay::run`, fast path off, poll
//!    `ONCOMMIT_RECOVERY_POLL_MS`, default 1,000) started right after. The time from the
//!    crashed claim to the first and the last job in the stream, against lease + poll (the
//!    bound: the lease must expire, then the next sweep takes the rows).
//!
//! Criterion has nothing to time here: latencies are distributions, printed as quantiles.
//!
//! The tables live in a schema of their own (`oncommit_bench_latency`, created afresh from
//! the migration and dropped at the end), the streams and dedup keys under
//! `oncommit_bench:latency:` (removed at the end).
//!
//! Run: `DATABASE_URL=postgres://root@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379
//! cargo bench -p oncommit --bench relay_latency --all-features`

#[cfg(all(feature = "sqlx-postgres", feature = "sink-redis"))]
#[allow(dead_code)]
mod support;

#[cfg(all(feature = "sqlx-postgres", feature = "sink-redis"))]
mod bench {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use oncommit::outbox::Job;
    use oncommit::outbox::relay::{Relay, RelayOptions};
    use oncommit::outbox::sink::{Delivery, RedisStreams, Sink};
    use oncommit::outbox::store::{Backlog, Claim, Failure, Store};
    use oncommit::{BoxError, Conn};
    use sqlx::PgPool;
    use tokio::runtime::Runtime;
    use uuid::Uuid;

    use crate::support::{Db, Redis, Welcome, backlog, env_or, quantile, services};

    const SCHEMA: &str = "oncommit_bench_latency";
    const PREFIX: &str = "oncommit_bench:latency:";

    /// The Redis sink, noting when each message's publish started and ended.
    #[derive(Clone)]
    struct Timed {
        inner: RedisStreams,
        publishes: Arc<Mutex<HashMap<Uuid, (Instant, Instant)>>>,
    }

    impl Sink for Timed {
        async fn publish<'a>(&'a self, batch: &'a [Delivery]) -> Result<(), BoxError> {
            let start = Instant::now();
            self.inner.publish(batch).await?;
            let end = Instant::now();
            let mut publishes = self.publishes.lock().unwrap_or_else(|e| e.into_inner());
            for delivery in batch {
                publishes.insert(delivery.id, (start, end));
            }
            Ok(())
        }
    }

    /// The relay's pool, noting when the claim of each message started (fast path only).
    #[derive(Clone)]
    struct TimedStore {
        pool: PgPool,
        claims: Arc<Mutex<HashMap<Uuid, Instant>>>,
    }

    impl Store for TimedStore {
        async fn claim<'a>(&'a self, claim: Claim<'a>) -> Result<Vec<Delivery>, BoxError> {
            self.pool.claim(claim).await
        }

        async fn claim_ids<'a>(
            &'a self,
            ids: &'a [Uuid],
            claim: Claim<'a>,
        ) -> Result<Vec<Delivery>, BoxError> {
            let start = Instant::now();
            let claimed = self.pool.claim_ids(ids, claim).await?;
            let mut claims = self.claims.lock().unwrap_or_else(|e| e.into_inner());
            for delivery in &claimed {
                claims.insert(delivery.id, start);
            }
            Ok(claimed)
        }

        async fn delete<'a>(&'a self, delivered: &'a [Delivery]) -> Result<(), BoxError> {
            self.pool.delete(delivered).await
        }

        async fn retry_later<'a>(&'a self, failures: &'a [Failure<'a>]) -> Result<(), BoxError> {
            self.pool.retry_later(failures).await
        }

        async fn dead_letter<'a>(&'a self, failures: &'a [Failure<'a>]) -> Result<(), BoxError> {
            self.pool.dead_letter(failures).await
        }

        async fn release<'a>(&'a self, claimed: &'a [Delivery]) -> Result<(), BoxError> {
            self.pool.release(claimed).await
        }

        async fn backlog(&self) -> Result<Backlog, BoxError> {
            self.pool.backlog().await
        }

        fn claims_beside_others(&self) -> bool {
            self.pool.claims_beside_others()
        }
    }

    /// Entries of one `XREAD` reply: (stream, [(entry id, [field, value, …])]).
    type Read = Option<Vec<(String, Vec<(String, Vec<String>)>)>>;

    /// Reads `stream` from its start until `stop` is set and nothing more comes; the arrival
    /// instant of each message id.
    async fn read(redis: &Redis, stream: String, stop: Arc<AtomicBool>) -> HashMap<Uuid, Instant> {
        let mut conn = redis.connection().await;
        let mut last = "0-0".to_owned();
        let mut arrived = HashMap::new();
        loop {
            let reply: Read = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(10_000)
                .arg("BLOCK")
                .arg(100)
                .arg("STREAMS")
                .arg(&stream)
                .arg(&last)
                .query_async(&mut conn)
                .await
                .expect("XREAD");
            let now = Instant::now();
            let Some(streams) = reply else {
                if stop.load(Ordering::SeqCst) {
                    return arrived;
                }
                continue;
            };
            for (_, entries) in streams {
                for (entry, fields) in entries {
                    let id = fields
                        .chunks(2)
                        .find(|pair| pair[0] == "id")
                        .map(|pair| Uuid::parse_str(&pair[1]).expect("message id"))
                        .expect("an id field");
                    arrived.insert(id, now);
                    last = entry;
                }
            }
        }
    }

    /// One writer: a job per transaction, due at `start + (k + i * writers) / rate`; the id and
    /// COMMIT-return instant of each job due after the warm-up.
    async fn write(
        db: &Db,
        k: usize,
        writers: usize,
        rate: f64,
        start: tokio::time::Instant,
        warm_up: Duration,
        until: Duration,
    ) -> Vec<(Uuid, Instant)> {
        let mut conn = Conn::new(db.connect().await);
        let mut committed = Vec::new();
        for i in 0.. {
            let due = Duration::from_secs_f64((k + i * writers) as f64 / rate);
            if due >= until {
                break;
            }
            tokio::time::sleep_until(start + due).await;
            let id = conn
                .atomic_async(async |conn| {
                    Ok::<_, BoxError>(conn.enqueue_job(&Welcome::new((k + i * writers) as i64))?)
                })
                .await
                .expect("writer transaction");
            let returned = Instant::now();
            if due >= warm_up {
                committed.push((id, returned));
            }
        }
        committed
    }

    fn ms(d: f64) -> String {
        format!("{:.2} ms", d * 1e3)
    }

    async fn fast_path(db: &Db, redis: &Redis) {
        let rate: f64 = env_or("ONCOMMIT_LATENCY_RATE", 1000.0);
        let writers: usize = env_or("ONCOMMIT_LATENCY_WRITERS", 8);
        let secs: f64 = env_or("ONCOMMIT_LATENCY_SECS", 10.0);
        let warm_up = Duration::from_secs(1);
        let until = warm_up + Duration::from_secs_f64(secs);

        let sink = Timed {
            inner: redis.sink().await,
            publishes: Arc::default(),
        };
        let publishes = sink.publishes.clone();
        let stream = sink.inner.stream(Welcome::TOPIC);
        let mut options = RelayOptions::default();
        options.poll = Duration::from_secs(10);
        let store = TimedStore {
            pool: db.pool(4).await,
            claims: Arc::default(),
        };
        let claims = store.claims.clone();
        let relay = Relay::new(store, sink, options);
        let (stop_relay, stopped) = tokio::sync::oneshot::channel::<()>();
        let relay = tokio::spawn(relay.run(async {
            stopped.await.ok();
        }));
        let stop_reading = Arc::new(AtomicBool::new(false));
        let reader = {
            let redis = redis.clone();
            let stop = stop_reading.clone();
            tokio::spawn(async move { read(&redis, stream, stop).await })
        };

        let start = tokio::time::Instant::now() + Duration::from_millis(100);
        let writing: Vec<_> = (0..writers)
            .map(|k| {
                let db = db.clone();
                tokio::spawn(
                    async move { write(&db, k, writers, rate, start, warm_up, until).await },
                )
            })
            .collect();
        let mut committed = Vec::new();
        for writer in writing {
            committed.extend(writer.await.expect("writer"));
        }
        let wrote = start.elapsed();
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop_reading.store(true, Ordering::SeqCst);
        let arrived = reader.await.expect("reader");
        stop_relay.send(()).ok();
        relay.await.expect("relay");

        let mut latencies: Vec<f64> = committed
            .iter()
            .filter_map(|(id, returned)| {
                arrived
                    .get(id)
                    .map(|at| at.saturating_duration_since(*returned).as_secs_f64())
            })
            .collect();
        let missing = committed.len() - latencies.len();
        latencies.sort_by(f64::total_cmp);
        let (p50, p99) = (quantile(&latencies, 0.50), quantile(&latencies, 0.99));
        println!(
            "relay latency: fast path, Postgres COMMIT returned -> entry read from the Redis stream, {} jobs at {rate:.0} jobs/s target ({:.0} achieved, {writers} writers, one job per txn, poll 10 s): p50 {}, p90 {}, p99 {}, p99.9 {}, max {} [targets p50 <= 1 ms: {}, p99 <= 5 ms: {}]{}",
            latencies.len(),
            (committed.len() as f64) / (wrote.as_secs_f64() - warm_up.as_secs_f64()),
            ms(p50),
            ms(quantile(&latencies, 0.90)),
            ms(p99),
            ms(quantile(&latencies, 0.999)),
            ms(*latencies.last().expect("latencies")),
            if p50 <= 1e-3 { "ok" } else { "OVER" },
            if p99 <= 5e-3 { "ok" } else { "OVER" },
            if missing > 0 {
                format!(" ({missing} jobs not seen in the stream)")
            } else {
                String::new()
            },
        );
        // Where the time goes, per job: COMMIT returned -> the relay's work on it started (the
        // handoff, waiting for the batch before), the claim (none for a job written leased to
        // the relay: its publish starts at once), the publish, publish ended -> read.
        let claims = claims.lock().unwrap_or_else(|e| e.into_inner());
        let publishes = publishes.lock().unwrap_or_else(|e| e.into_inner());
        let mut parts: [Vec<f64>; 4] = Default::default();
        let mut claimed = 0;
        for (id, returned) in &committed {
            if let (Some((start, end)), Some(at)) = (publishes.get(id), arrived.get(id)) {
                let began = claims.get(id).copied().unwrap_or(*start);
                claimed += usize::from(claims.contains_key(id));
                parts[0].push(began.saturating_duration_since(*returned).as_secs_f64());
                parts[1].push(start.saturating_duration_since(began).as_secs_f64());
                parts[2].push(end.duration_since(*start).as_secs_f64());
                parts[3].push(at.saturating_duration_since(*end).as_secs_f64());
            }
        }
        let names = [
            "COMMIT returned -> the relay started on it (the handoff, the batch before)",
            "the claim",
            "the publish",
            "publish ended -> read from the stream",
        ];
        let described: Vec<String> = names
            .iter()
            .zip(&mut parts)
            .map(|(name, part)| {
                part.sort_by(f64::total_cmp);
                format!(
                    "{name} {} / {}",
                    ms(quantile(part, 0.5)),
                    ms(quantile(part, 0.99))
                )
            })
            .collect();
        println!(
            "relay latency, per job (p50 / p99): {}; {claimed} of {} jobs claimed by id, the others written leased to the relay",
            described.join("; "),
            committed.len()
        );
    }

    async fn recovery(db: &Db, redis: &Redis) {
        let jobs: usize = env_or("ONCOMMIT_RECOVERY_JOBS", 1000);
        let lease = Duration::from_millis(env_or("ONCOMMIT_RECOVERY_LEASE_MS", 2000));
        let poll = Duration::from_millis(env_or("ONCOMMIT_RECOVERY_POLL_MS", 1000));
        let topic = Welcome::TOPIC;
        redis.clean().await;
        let mut writer = Conn::new(db.connect().await);
        backlog(&mut writer, jobs, 1000, 1_000_000).await;

        // The relay that crashes: claims every row with a short lease, and never finishes.
        let pool = db.pool(4).await;
        let crashed = Instant::now();
        let claimed = pool
            .claim(Claim {
                limit: jobs,
                lease,
                topics: &[],
            })
            .await
            .expect("claim");
        assert_eq!(claimed.len(), jobs);

        let sink = redis.sink().await;
        let stream = sink.stream(topic);
        let stop_reading = Arc::new(AtomicBool::new(false));
        let reader = {
            let redis = redis.clone();
            let stop = stop_reading.clone();
            tokio::spawn(async move { read(&redis, stream, stop).await })
        };
        let mut options = RelayOptions::default();
        options.fast_path = false;
        options.poll = poll;
        let relay = Relay::new(pool.clone(), sink, options);
        let (stop_relay, stopped) = tokio::sync::oneshot::channel::<()>();
        let relay = tokio::spawn(relay.run(async {
            stopped.await.ok();
        }));
        // Wait for the rows to go, at most the bound and a few seconds more.
        let deadline = crashed + lease + poll + Duration::from_secs(5);
        loop {
            let (left,): (i64,) = sqlx::query_as("SELECT count(*) FROM oncommit_outbox")
                .fetch_one(&pool)
                .await
                .expect("count");
            if left == 0 || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop_reading.store(true, Ordering::SeqCst);
        let arrived = reader.await.expect("reader");
        stop_relay.send(()).ok();
        relay.await.expect("relay");

        let delivered: Vec<Duration> = claimed
            .iter()
            .filter_map(|d| arrived.get(&d.id).map(|at| at.duration_since(crashed)))
            .collect();
        let first = delivered.iter().min().copied().unwrap_or_default();
        let last = delivered.iter().max().copied().unwrap_or_default();
        let bound = lease + poll;
        println!(
            "relay recovery: {jobs} jobs left under a {} ms lease by a crashed relay, a fresh relay polling every {} ms: {}/{jobs} delivered, first {} and last {} after the crash, against lease + poll = {} [{}]",
            lease.as_millis(),
            poll.as_millis(),
            delivered.len(),
            ms(first.as_secs_f64()),
            ms(last.as_secs_f64()),
            ms(bound.as_secs_f64()),
            if delivered.len() == jobs && last <= bound {
                "within"
            } else {
                "OVER"
            },
        );
        pool.close().await;
    }

    pub fn run() {
        let Some((database, redis_url)) = services("relay_latency") else {
            return;
        };
        let rt = Runtime::new().expect("runtime");
        rt.block_on(async {
            let db = Db::fresh(&database, SCHEMA).await;
            let redis = Redis::new(&redis_url, PREFIX);
            redis.clean().await;
            fast_path(&db, &redis).await;
            recovery(&db, &redis).await;
            redis.clean().await;
            db.drop().await;
        });
    }
}

#[cfg(all(feature = "sqlx-postgres", feature = "sink-redis"))]
fn main() {
    bench::run();
}

#[cfg(not(all(feature = "sqlx-postgres", feature = "sink-redis")))]
fn main() {
    println!("relay_latency bench skipped: build with `--features sqlx-postgres,sink-redis`");
}
