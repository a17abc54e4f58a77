//! oncommit's outbox side by side with other ways of writing jobs in the transaction, on
//! Postgres (`DATABASE_URL`; skipped, with the reason printed, when unset). Each transaction
//! has one INSERT and N jobs (N = 1, 10, 100):
//!
//! - **oncommit outbox**: `Conn::atomic_async` + `enqueue_job` N times (the jobs go to
//!   `oncommit_outbox` in one batched insert, inside the statement that runs before COMMIT).
//! - **naive outbox**: plain sqlx (BEGIN, INSERT, COMMIT) with one `INSERT INTO oncommit_outbox
//!   … VALUES ($1, $2, $3)` per job: the same table, the same ids and payloads.
//! - **pgmq `send`**: the `pgmq` crate (0.34 alpha, on sqlx 0.9), one `send_with_cxn` per
//!   job in the transaction: a statement each (`SELECT * FROM pgmq.send(…)`, a plpgsql
//!   function that inserts the message as jsonb into the queue's table). The pgmq Postgres
//!   extension is not needed: the crate installs its SQL (`install_sql_from_embedded`, schema
//!   `pgmq`, dropped at the end when the bench installed it).
//! - **pgmq `send_batch`**: one `send_batch_with_cxn` for the N jobs.
//! - **no job**: the plain sqlx transaction alone, for scale.
//!
//! Each round runs every side once on one connection, the order rotating from round to
//! round; a side's figure is its median time per transaction and the median of its per-round
//! ratios to oncommit's outbox, over `ONCOMMIT_SIDE_ROUNDS` rounds (default 200).
//! `ONCOMMIT_SIDE_ASYNC_COMMIT=1` runs with `synchronous_commit = off` (no WAL flush wait at
//! COMMIT, whose jitter on a busy disk can hide the differences).
//!
//! The tables live in a schema of their own (`oncommit_bench_side`, created afresh and
//! dropped at the end).
//!
//! Run: `DATABASE_URL=postgres://root@127.0.0.1:5432/test cargo bench -p oncommit --bench
//! outbox_side_by_side --all-features`

#[cfg(all(feature = "sqlx-postgres", feature = "outbox"))]
mod bench {
    use std::time::{Duration, Instant};

    use oncommit::outbox::{Dialect, Job, Message, migrate};
    use oncommit::{BoxError, Conn};
    use pgmq::PGMQueueExt;
    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
    use sqlx::{Connection, PgConnection};
    use tokio::runtime::Runtime;

    const QUEUE: &str = "oncommit_bench_side";

    #[derive(serde::Serialize)]
    struct Welcome {
        user_id: i64,
        email: String,
    }

    impl Job for Welcome {
        const TOPIC: &'static str = "welcome";
    }

    fn welcome(user_id: i64) -> Welcome {
        Welcome {
            user_id,
            email: format!("user{user_id}@example.com"),
        }
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Side {
        Oncommit,
        Naive,
        PgmqSend,
        PgmqBatch,
        NoJob,
    }

    const SIDES: [Side; 5] = [
        Side::Oncommit,
        Side::Naive,
        Side::PgmqSend,
        Side::PgmqBatch,
        Side::NoJob,
    ];

    impl Side {
        fn name(self) -> &'static str {
            match self {
                Side::Oncommit => "oncommit outbox",
                Side::Naive => "naive outbox (INSERT per job)",
                Side::PgmqSend => "pgmq send per job",
                Side::PgmqBatch => "pgmq send_batch",
                Side::NoJob => "no job (plain txn)",
            }
        }
    }

    async fn insert(conn: &mut PgConnection, id: i64) -> Result<(), BoxError> {
        sqlx::query("INSERT INTO users (id) VALUES ($1)")
            .bind(id)
            .execute(conn)
            .await?;
        Ok(())
    }

    struct Bench {
        conn: Conn<PgConnection>,
        pgmq: PGMQueueExt,
        next: i64,
    }

    impl Bench {
        /// One transaction of `side` with one INSERT and `jobs` jobs: its time.
        async fn run(&mut self, side: Side, jobs: usize) -> Result<Duration, BoxError> {
            self.next += 1;
            let id = self.next;
            let start = Instant::now();
            if side == Side::Oncommit {
                self.conn
                    .atomic_async(async |conn| {
                        insert(conn, id).await?;
                        for n in 0..jobs {
                            conn.enqueue_job(&welcome(id * 1000 + n as i64))?;
                        }
                        Ok::<_, BoxError>(())
                    })
                    .await?;
                return Ok(start.elapsed());
            }
            let raw: &mut PgConnection = &mut self.conn;
            let mut tx = raw.begin().await?;
            insert(&mut tx, id).await?;
            match side {
                Side::Naive => {
                    for n in 0..jobs {
                        let message = Message::new(&welcome(id * 1000 + n as i64))?;
                        sqlx::query(
                            "INSERT INTO oncommit_outbox (id, topic, payload) \
                             VALUES ($1, $2, CAST($3 AS json))",
                        )
                        .bind(message.id)
                        .bind(message.topic)
                        .bind(&message.payload)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                Side::PgmqSend => {
                    for n in 0..jobs {
                        self.pgmq
                            .send_with_cxn(QUEUE, &welcome(id * 1000 + n as i64), &mut *tx)
                            .await?;
                    }
                }
                Side::PgmqBatch => {
                    let batch: Vec<Welcome> =
                        (0..jobs).map(|n| welcome(id * 1000 + n as i64)).collect();
                    self.pgmq
                        .send_batch_with_cxn(QUEUE, &batch, &mut *tx)
                        .await?;
                }
                Side::Oncommit | Side::NoJob => {}
            }
            tx.commit().await?;
            Ok(start.elapsed())
        }
    }

    fn median(values: &mut [f64]) -> f64 {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    }

    fn time(us: f64) -> String {
        if us >= 1000.0 {
            format!("{:.2} ms", us / 1000.0)
        } else {
            format!("{us:.0} µs")
        }
    }

    async fn setup(url: &str, async_commit: bool) -> (Bench, bool) {
        let options = url
            .parse::<PgConnectOptions>()
            .expect("DATABASE_URL")
            .options([("search_path", "oncommit_bench_side")]);
        let mut raw = PgConnection::connect_with(&options).await.expect("connect");
        sqlx::raw_sql(concat!(
            "DROP SCHEMA IF EXISTS oncommit_bench_side CASCADE; ",
            "CREATE SCHEMA oncommit_bench_side; ",
            "CREATE TABLE users (id bigint PRIMARY KEY)"
        ))
        .execute(&mut raw)
        .await
        .expect("bench schema");
        migrate(&mut raw, Dialect::Postgres)
            .await
            .expect("outbox table");
        if async_commit {
            sqlx::raw_sql("SET synchronous_commit = off")
                .execute(&mut raw)
                .await
                .expect("synchronous_commit");
        }
        let (installed_before,): (bool,) =
            sqlx::query_as("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'pgmq')")
                .fetch_one(&mut raw)
                .await
                .expect("pgmq schema");
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .expect("pool");
        let pgmq = PGMQueueExt::new_with_pool(pool).await;
        pgmq.install_sql_from_embedded()
            .await
            .expect("install pgmq's SQL");
        pgmq.create(QUEUE).await.expect("pgmq queue");
        let bench = Bench {
            conn: Conn::new(raw),
            pgmq,
            next: 0,
        };
        (bench, !installed_before)
    }

    pub fn run() {
        let Ok(url) = std::env::var("DATABASE_URL") else {
            println!("outbox_side_by_side bench skipped: DATABASE_URL is not set");
            return;
        };
        let rounds: usize = std::env::var("ONCOMMIT_SIDE_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(200);
        let async_commit = std::env::var_os("ONCOMMIT_SIDE_ASYNC_COMMIT").is_some();
        let rt = Runtime::new().expect("runtime");
        let (mut bench, installed) = rt.block_on(setup(&url, async_commit));

        println!(
            "\nPostgres, one INSERT + N jobs per transaction, synchronous_commit = {}, median of {rounds} rounds (ratio: the median of the per-round ratios to oncommit's outbox)\n",
            if async_commit { "off" } else { "on" }
        );
        print!("| jobs per txn |");
        for side in SIDES {
            print!(" {} |", side.name());
        }
        println!("\n|---:|{}", "---:|".repeat(SIDES.len()));
        for jobs in [1usize, 10, 100] {
            let mut times: Vec<Vec<f64>> = vec![Vec::new(); SIDES.len()];
            let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); SIDES.len()];
            // One round to warm up the statement caches, not counted.
            for side in SIDES {
                rt.block_on(bench.run(side, jobs)).expect("transaction");
            }
            for round in 0..rounds {
                let mut round_times = [0.0; SIDES.len()];
                for k in 0..SIDES.len() {
                    let i = (round + k) % SIDES.len();
                    let elapsed = rt.block_on(bench.run(SIDES[i], jobs)).expect("transaction");
                    round_times[i] = elapsed.as_secs_f64() * 1e6;
                }
                for i in 0..SIDES.len() {
                    times[i].push(round_times[i]);
                    ratios[i].push(round_times[i] / round_times[0]);
                }
            }
            print!("| {jobs} |");
            for i in 0..SIDES.len() {
                let t = median(&mut times[i]);
                if i == 0 {
                    print!(" {} |", time(t));
                } else {
                    print!(" {} ({:.2}x) |", time(t), median(&mut ratios[i]));
                }
            }
            println!();
        }
        println!();

        rt.block_on(async {
            bench.pgmq.drop_queue(QUEUE).await.expect("drop the queue");
            let mut cleanup = String::from("DROP SCHEMA oncommit_bench_side CASCADE");
            if installed {
                cleanup.push_str("; DROP SCHEMA pgmq CASCADE");
            }
            sqlx::raw_sql(sqlx::AssertSqlSafe(cleanup))
                .execute(&mut *bench.conn)
                .await
                .expect("clean up");
            bench.pgmq.connection.close().await;
        });
    }
}

#[cfg(all(feature = "sqlx-postgres", feature = "outbox"))]
fn main() {
    bench::run();
}

#[cfg(not(all(feature = "sqlx-postgres", feature = "outbox")))]
fn main() {
    println!("outbox_side_by_side bench skipped: build with `--features sqlx-postgres,outbox`");
}
