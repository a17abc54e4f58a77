//! One transaction with one INSERT and one after-commit call, on a real database:
//! `#[atomic]` + `enqueue!` against the same written by hand with plain sqlx (BEGIN, INSERT,
//! COMMIT, then the call). Target on Postgres: at most 3% overhead.
//!
//! Paired runs: each pair is one transaction with oncommit and one with plain sqlx on the same
//! connection, back to back (which one goes first alternates); the result is the median of
//! the per-pair time ratios, with the median time per transaction of each side.
//! `ONCOMMIT_TXN_AA=1` runs plain sqlx on both sides, to see how much of a ratio is noise.
//!
//! - Postgres: `DATABASE_URL` (e.g. `postgres://root@127.0.0.1:5432/test`); skipped, with the
//!   reason printed, when it is unset.
//! - SQLite: a file in the temp dir (always runs; `--no-sqlite` to skip).
//!
//! Then criterion times each side on its own (`txn_postgres/plain_sqlx`,
//! `txn_postgres/oncommit`, and the same for SQLite), with its usual statistics.
//!
//! Run: `DATABASE_URL=postgres://root@127.0.0.1:5432/test cargo bench -p oncommit --bench txn`
//! (criterion's options and filters after `--`). Options, in the environment:
//! `ONCOMMIT_TXN_PAIRS=N` (default 2000), `ONCOMMIT_TXN_NO_SQLITE=1`, `ONCOMMIT_TXN_AA=1`
//! (calibration), `ONCOMMIT_TXN_ASYNC_COMMIT=1` (Postgres with `synchronous_commit = off`: no
//! WAL flush wait, so the client side weighs more).

#[cfg(all(feature = "sqlx-postgres", feature = "sqlx-sqlite"))]
mod bench {
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use criterion::Criterion;
    use tokio::runtime::Runtime;

    use oncommit::{BoxError, Conn, atomic, enqueue};
    use sqlx::{Connection, PgConnection, SqliteConnection};

    /// The "job queue" the hook pushes to.
    #[derive(Clone, Default)]
    pub struct Queue(Arc<Mutex<Vec<i64>>>);

    impl Queue {
        pub fn push(&self, id: i64) {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).push(id);
        }

        fn clear(&self) -> usize {
            let mut jobs = self.0.lock().unwrap_or_else(|e| e.into_inner());
            let n = jobs.len();
            jobs.clear();
            n
        }
    }

    const TABLE: &str = "oncommit_bench_users";

    #[atomic]
    async fn pg_oncommit(
        conn: &mut Conn<PgConnection>,
        id: i64,
        queue: &Queue,
    ) -> Result<(), BoxError> {
        sqlx::query("INSERT INTO oncommit_bench_users (id, email) VALUES ($1, $2)")
            .bind(id)
            .bind(format!("u{id}@example.com"))
            .execute(&mut **conn)
            .await?;
        enqueue!(queue.push(id));
        Ok(())
    }

    async fn pg_plain(conn: &mut PgConnection, id: i64, queue: &Queue) -> Result<(), BoxError> {
        let mut tx = conn.begin().await?;
        sqlx::query("INSERT INTO oncommit_bench_users (id, email) VALUES ($1, $2)")
            .bind(id)
            .bind(format!("u{id}@example.com"))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        queue.push(id);
        Ok(())
    }

    #[atomic]
    async fn sqlite_oncommit(
        conn: &mut Conn<SqliteConnection>,
        id: i64,
        queue: &Queue,
    ) -> Result<(), BoxError> {
        sqlx::query("INSERT INTO oncommit_bench_users (id, email) VALUES (?, ?)")
            .bind(id)
            .bind(format!("u{id}@example.com"))
            .execute(&mut **conn)
            .await?;
        enqueue!(queue.push(id));
        Ok(())
    }

    async fn sqlite_plain(
        conn: &mut SqliteConnection,
        id: i64,
        queue: &Queue,
    ) -> Result<(), BoxError> {
        let mut tx = conn.begin().await?;
        sqlx::query("INSERT INTO oncommit_bench_users (id, email) VALUES (?, ?)")
            .bind(id)
            .bind(format!("u{id}@example.com"))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        queue.push(id);
        Ok(())
    }

    pub struct Options {
        pub pairs: u32,
        pub sqlite: bool,
        /// Calibration: both sides of each pair run plain sqlx (the ratio shows the noise).
        pub aa: bool,
        /// `SET synchronous_commit = off` on Postgres: COMMIT does not wait for the WAL flush,
        /// so the client side weighs more.
        pub async_commit: bool,
    }

    impl Options {
        /// From the environment (the command line belongs to criterion).
        pub fn from_env() -> Options {
            let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0");
            Options {
                pairs: std::env::var("ONCOMMIT_TXN_PAIRS")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(2000),
                sqlite: !set("ONCOMMIT_TXN_NO_SQLITE"),
                aa: set("ONCOMMIT_TXN_AA"),
                async_commit: set("ONCOMMIT_TXN_ASYNC_COMMIT"),
            }
        }
    }

    fn median(values: &mut [f64]) -> f64 {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        if n == 0 {
            return f64::NAN;
        }
        if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        }
    }

    /// One transaction of one side, timed (switching the connection between `Conn` and the
    /// raw connection is not timed).
    trait Side {
        async fn one(&mut self, oncommit: bool, id: i64, queue: &Queue) -> Duration;
    }

    macro_rules! side {
        ($name:ident, $conn:ty, $oncommit:ident, $plain:ident) => {
            struct $name(Option<Conn<$conn>>, Option<$conn>);

            impl Side for $name {
                async fn one(&mut self, oncommit: bool, id: i64, queue: &Queue) -> Duration {
                    if oncommit {
                        let mut conn = match (self.0.take(), self.1.take()) {
                            (Some(conn), _) => conn,
                            (None, Some(raw)) => Conn::new(raw),
                            (None, None) => return Duration::ZERO,
                        };
                        let start = Instant::now();
                        $oncommit(&mut conn, id, queue).await.expect("txn");
                        let elapsed = start.elapsed();
                        self.0 = Some(conn);
                        elapsed
                    } else {
                        let mut raw = match (self.0.take(), self.1.take()) {
                            (_, Some(raw)) => raw,
                            (Some(conn), None) => conn.into_inner(),
                            (None, None) => return Duration::ZERO,
                        };
                        let start = Instant::now();
                        $plain(&mut raw, id, queue).await.expect("txn");
                        let elapsed = start.elapsed();
                        self.1 = Some(raw);
                        elapsed
                    }
                }
            }
        };
    }

    side!(Pg, PgConnection, pg_oncommit, pg_plain);
    side!(Lite, SqliteConnection, sqlite_oncommit, sqlite_plain);

    /// Paired transactions; prints the medians and `RESULT` lines under `name`.
    /// Returns the last id used.
    async fn paired(name: &str, side: &mut impl Side, options: &Options) -> i64 {
        let queue = Queue::default();
        let mut id = 0i64;
        // warm-up: prepared statements, the table's first pages
        for i in 0..50 {
            id += 1;
            side.one(i % 2 == 0, id, &queue).await;
        }
        queue.clear();
        let (mut ratios, mut with, mut without) = (Vec::new(), Vec::new(), Vec::new());
        for pair in 0..options.pairs {
            let order = if pair % 2 == 0 {
                [true, false]
            } else {
                [false, true]
            };
            let mut elapsed = [Duration::ZERO; 2];
            for oncommit in order {
                id += 1;
                elapsed[usize::from(oncommit)] =
                    side.one(oncommit && !options.aa, id, &queue).await;
            }
            let us = |d: Duration| d.as_secs_f64() * 1e6;
            with.push(us(elapsed[1]));
            without.push(us(elapsed[0]));
            ratios.push(elapsed[1].as_secs_f64() / elapsed[0].as_secs_f64());
        }
        let ran = queue.clear();
        assert_eq!(ran, 2 * options.pairs as usize, "every hook ran once");
        let (with, without) = (median(&mut with), median(&mut without));
        let ratio = median(&mut ratios);
        let of_medians = with / without;
        let verdict = if ratio <= 1.03 { "ok" } else { "OVER" };
        let calibration = if options.aa {
            " (A/A calibration: both sides plain sqlx)"
        } else {
            ""
        };
        println!(
            "{name}: INSERT + 1 hook per txn, {} paired txns{calibration}",
            options.pairs
        );
        println!("  plain sqlx (begin/insert/commit, then the call)  median {without:9.1} us/txn");
        println!("  oncommit (#[atomic] + enqueue!)                   median {with:9.1} us/txn");
        println!(
            "  overhead: median of pair ratios {ratio:.4} ({:+.2}%), ratio of medians {of_medians:.4}  [target <= 3%: {verdict}]",
            (ratio - 1.0) * 100.0
        );
        println!("RESULT {name}_txn_oncommit_us {with:.2}");
        println!("RESULT {name}_txn_plain_us {without:.2}");
        println!("RESULT {name}_txn_ratio {ratio:.4}");
        id
    }

    /// Criterion: each side alone, one transaction per iteration, on the connection the paired
    /// runs used (ids continue from `id`).
    fn criterion_sides(
        c: &mut Criterion,
        rt: &Runtime,
        name: &str,
        side: &mut impl Side,
        id: &mut i64,
    ) {
        let queue = Queue::default();
        let mut group = c.benchmark_group(format!("txn_{name}"));
        group.sample_size(50);
        for (label, oncommit) in [("plain_sqlx", false), ("oncommit", true)] {
            group.bench_function(label, |b| {
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            *id += 1;
                            total += side.one(oncommit, *id, &queue).await;
                        }
                        total
                    })
                })
            });
            queue.clear();
        }
        group.finish();
    }

    async fn create_table<C: Connection>(conn: &mut C)
    where
        for<'c> &'c mut C: sqlx::Executor<'c>,
    {
        for statement in [
            format!("DROP TABLE IF EXISTS {TABLE}"),
            format!("CREATE TABLE {TABLE} (id bigint PRIMARY KEY, email text NOT NULL)"),
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                .execute(&mut *conn)
                .await
                .expect("create the bench table");
        }
    }

    /// The paired runs (the target's figure), then criterion on each side.
    pub fn run(options: Options, c: &mut Criterion) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        match std::env::var("DATABASE_URL") {
            Err(_) => println!(
                "postgres: skipped: DATABASE_URL is not set (e.g. DATABASE_URL=postgres://root@127.0.0.1:5432/test)"
            ),
            Ok(url) => match rt.block_on(PgConnection::connect(&url)) {
                Err(e) => println!("postgres: skipped: cannot connect to DATABASE_URL ({e})"),
                Ok(mut conn) => {
                    rt.block_on(create_table(&mut conn));
                    if options.async_commit {
                        rt.block_on(
                            sqlx::raw_sql("SET synchronous_commit = off").execute(&mut conn),
                        )
                        .expect("SET synchronous_commit");
                    }
                    let name = if options.async_commit {
                        "postgres_async_commit"
                    } else {
                        "postgres"
                    };
                    let mut side = Pg(None, Some(conn));
                    let mut id = rt.block_on(paired(name, &mut side, &options));
                    criterion_sides(c, &rt, name, &mut side, &mut id);
                }
            },
        }
        if options.sqlite {
            let path = std::env::temp_dir().join("oncommit_bench.sqlite3");
            let url = format!("sqlite://{}?mode=rwc", path.display());
            let mut conn = rt
                .block_on(SqliteConnection::connect(&url))
                .expect("sqlite file");
            rt.block_on(create_table(&mut conn));
            let mut side = Lite(None, Some(conn));
            let mut id = rt.block_on(paired("sqlite", &mut side, &options));
            criterion_sides(c, &rt, "sqlite", &mut side, &mut id);
        }
    }
}

#[cfg(all(feature = "sqlx-postgres", feature = "sqlx-sqlite"))]
fn main() {
    let mut criterion = criterion::Criterion::default().configure_from_args();
    bench::run(bench::Options::from_env(), &mut criterion);
    criterion.final_summary();
}
#[cfg(not(all(feature = "sqlx-postgres", feature = "sqlx-sqlite")))]
fn main() {
    println!("txn bench skipped: build with `--features sqlx-postgres,sqlx-sqlite`");
}
