//! What the outbox costs inside a transaction, on Postgres (`DATABASE_URL`; skipped, with the
//! reason printed, when unset):
//!
//! 1. one INSERT + one durable job (`enqueue_job`, written by the transaction before its
//!    COMMIT) against the same transaction with one in-memory hook (`on_commit`); paired runs
//!    on one connection, the order alternating; the median of the per-pair ratios. Target:
//!    at most +10 %.
//! 2. the cost of each extra job in the same transaction: 1 job against 101 jobs (one batched
//!    insert), paired the same way; (median of the per-pair differences) / 100. Target: at
//!    most 1 µs per job.
//!
//! Then criterion times each side on its own.
//!
//! The tables live in a schema of their own (`oncommit_bench_outbox`, created afresh from the
//! migration, so the indexes are the current ones, and dropped at the end;
//! `ONCOMMIT_BENCH_SETUP_SQL` runs after the migration, to try a table setting or an index).
//!
//! Run: `DATABASE_URL=postgres://root@127.0.0.1:5432/test cargo bench -p oncommit --bench outbox`
//! (`ONCOMMIT_OUTBOX_PAIRS=N`, default 1000; `ONCOMMIT_OUTBOX_ASYNC_COMMIT=1` runs with
//! `synchronous_commit = off`: no WAL flush wait at COMMIT, whose jitter on a busy disk is
//! larger than the per-job difference being measured).

#[cfg(all(feature = "sqlx-postgres", feature = "outbox"))]
mod bench {
    use std::time::{Duration, Instant};

    use criterion::Criterion;
    use oncommit::outbox::{Dialect, Job, migrate};
    use oncommit::{BoxError, Conn};
    use sqlx::postgres::PgConnectOptions;
    use sqlx::{Connection, PgConnection};
    use tokio::runtime::Runtime;

    const SCHEMA: &str = "oncommit_bench_outbox";

    #[derive(serde::Serialize)]
    struct Welcome {
        user_id: i64,
    }

    impl Job for Welcome {
        const TOPIC: &'static str = "bench_welcome";
    }

    async fn insert(conn: &mut PgConnection, id: i64) -> Result<(), BoxError> {
        sqlx::query("INSERT INTO oncommit_bench_outbox_users (id) VALUES ($1)")
            .bind(id)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// One INSERT and `jobs` durable jobs, or one in-memory hook when `jobs` is 0.
    async fn transaction(
        conn: &mut Conn<PgConnection>,
        id: i64,
        jobs: usize,
    ) -> Result<(), BoxError> {
        conn.atomic_async(async |conn| {
            insert(conn, id).await?;
            if jobs == 0 {
                conn.on_commit(move || {
                    std::hint::black_box(id);
                })?;
            }
            for n in 0..jobs {
                conn.enqueue_job(&Welcome {
                    user_id: id * 1000 + n as i64,
                })?;
            }
            Ok::<_, BoxError>(())
        })
        .await
    }

    fn median(values: &mut [f64]) -> f64 {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    }

    /// Paired runs of `a` and `b` jobs per transaction: (median a, median b, median b/a,
    /// median b - a), in µs.
    async fn paired(
        conn: &mut Conn<PgConnection>,
        next: &mut i64,
        pairs: usize,
        a: usize,
        b: usize,
    ) -> (f64, f64, f64, f64) {
        let (mut ta, mut tb, mut ratios, mut differences) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for pair in 0..pairs {
            let mut elapsed = [Duration::ZERO; 2];
            let order = if pair % 2 == 0 { [0, 1] } else { [1, 0] };
            for side in order {
                *next += 1;
                let start = Instant::now();
                transaction(conn, *next, [a, b][side])
                    .await
                    .expect("transaction");
                elapsed[side] = start.elapsed();
            }
            ta.push(elapsed[0].as_secs_f64() * 1e6);
            tb.push(elapsed[1].as_secs_f64() * 1e6);
            ratios.push(elapsed[1].as_secs_f64() / elapsed[0].as_secs_f64());
            differences.push((elapsed[1].as_secs_f64() - elapsed[0].as_secs_f64()) * 1e6);
        }
        (
            median(&mut ta),
            median(&mut tb),
            median(&mut ratios),
            median(&mut differences),
        )
    }

    pub fn run(c: &mut Criterion) {
        let Ok(url) = std::env::var("DATABASE_URL") else {
            println!("outbox bench skipped: DATABASE_URL is not set");
            return;
        };
        let pairs: usize = std::env::var("ONCOMMIT_OUTBOX_PAIRS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000);
        let async_commit = std::env::var_os("ONCOMMIT_OUTBOX_ASYNC_COMMIT").is_some();
        let rt = Runtime::new().expect("runtime");
        let mut conn = rt.block_on(async {
            let options = url
                .parse::<PgConnectOptions>()
                .expect("DATABASE_URL")
                .options([("search_path", SCHEMA)]);
            let mut raw = PgConnection::connect_with(&options).await.expect("connect");
            sqlx::raw_sql(concat!(
                "DROP SCHEMA IF EXISTS oncommit_bench_outbox CASCADE; ",
                "CREATE SCHEMA oncommit_bench_outbox; ",
                "CREATE TABLE oncommit_bench_outbox_users (id bigint PRIMARY KEY)"
            ))
            .execute(&mut raw)
            .await
            .expect("bench schema");
            migrate(&mut raw, Dialect::Postgres)
                .await
                .expect("outbox table");
            if let Ok(sql) = std::env::var("ONCOMMIT_BENCH_SETUP_SQL") {
                println!("bench schema {SCHEMA}: {sql}");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut raw)
                    .await
                    .expect("ONCOMMIT_BENCH_SETUP_SQL");
            }
            if async_commit {
                sqlx::raw_sql("SET synchronous_commit = off")
                    .execute(&mut raw)
                    .await
                    .expect("synchronous_commit");
            }
            Conn::new(raw)
        });
        let commit = if async_commit {
            "synchronous_commit = off"
        } else {
            "synchronous_commit = on"
        };
        let mut next = 0i64;
        let (hook, job, ratio, _) = rt.block_on(paired(&mut conn, &mut next, pairs, 0, 1));
        println!(
            "postgres ({commit}): 1 INSERT + 1 durable job vs + 1 in-memory hook, {pairs} pairs: {job:.1} us vs {hook:.1} us per txn, median of pair ratios {ratio:.4} ({:+.2}%) [target <= +10%: {}]",
            (ratio - 1.0) * 100.0,
            if ratio <= 1.10 { "ok" } else { "OVER" }
        );
        let (one, many, _, difference) =
            rt.block_on(paired(&mut conn, &mut next, pairs / 4, 1, 101));
        let per_job = difference / 100.0;
        println!(
            "postgres ({commit}): 101 jobs vs 1 job in one txn, {} pairs: {many:.1} us vs {one:.1} us, {:.0} ns per extra job [target <= 1 us: {}]",
            pairs / 4,
            per_job * 1000.0,
            if per_job <= 1.0 { "ok" } else { "OVER" }
        );
        let mut group = c.benchmark_group("outbox_postgres");
        for (name, jobs) in [
            ("one_hook", 0),
            ("one_job", 1),
            ("hundred_and_one_jobs", 101),
        ] {
            group.bench_function(name, |b| {
                b.iter(|| {
                    next += 1;
                    rt.block_on(transaction(&mut conn, next, jobs))
                        .expect("transaction")
                })
            });
        }
        group.finish();
        rt.block_on(async {
            sqlx::raw_sql("DROP SCHEMA oncommit_bench_outbox CASCADE")
                .execute(&mut *conn)
                .await
                .expect("clean up");
        });
    }
}

#[cfg(all(feature = "sqlx-postgres", feature = "outbox"))]
fn main() {
    let mut c = criterion::Criterion::default().configure_from_args();
    bench::run(&mut c);
    c.final_summary();
}

#[cfg(not(all(feature = "sqlx-postgres", feature = "outbox")))]
fn main() {
    println!("outbox bench skipped: build with `--features sqlx-postgres,outbox`");
}
