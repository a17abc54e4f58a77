//! The scenarios of `scripts/django_on_commit_bench.py`, with oncommit on the same
//! databases, printed as `RESULT name value` lines for `scripts/bench-table` (which runs the
//! Django script too and prints both in one table).
//!
//! For SQLite (a file in the temp dir) through sqlx and through diesel (sync, in process, as
//! Django calls it), and Postgres (`DATABASE_URL`; skipped with the reason printed when unset
//! or unreachable):
//!
//! 1. `hooks`: one transaction, N hooks registered with `enqueue!` in an `#[atomic]` fn, then
//!    COMMIT runs them (ns per hook).
//! 2. `savepoint`: one outer transaction, N/10 hooks each registered inside its own nested
//!    `#[atomic]` fn (a real SAVEPOINT and RELEASE per hook), outer COMMIT (ns per hook);
//!    and the same savepoints in plain sqlx without oncommit, the driver's own cost.
//! 3. `txn`: transactions with one INSERT, with oncommit + 1 hook and with plain sqlx and no
//!    hook, paired one by one (us per transaction, median; ratio: median of pair ratios).
//!
//! Scenarios 1 and 2 are repeated (`--repeat`, default 5) and the median is reported.
//!
//! Run: `DATABASE_URL=postgres://root@127.0.0.1:5432/test cargo bench -p oncommit --bench side_by_side -- --n 100000 --txns 2000`

#[cfg(all(feature = "sqlx-postgres", feature = "sqlx-sqlite"))]
mod bench {
    use std::hint::black_box;
    use std::time::{Duration, Instant};

    use oncommit::{BoxError, Conn, atomic, enqueue};
    use sqlx::{Connection, PgConnection, SqliteConnection};

    pub struct Options {
        pub n: u64,
        pub txns: u32,
        pub repeat: u32,
    }

    impl Options {
        pub fn from_args() -> Options {
            let mut options = Options {
                n: 100_000,
                txns: 2000,
                repeat: 5,
            };
            let mut args = std::env::args().skip(1);
            while let Some(arg) = args.next() {
                let value = |args: &mut dyn Iterator<Item = String>| {
                    args.next().and_then(|v| v.parse::<u64>().ok())
                };
                match arg.as_str() {
                    "--n" => options.n = value(&mut args).unwrap_or(options.n),
                    "--txns" => {
                        options.txns = value(&mut args)
                            .and_then(|v| u32::try_from(v).ok())
                            .unwrap_or(options.txns)
                    }
                    "--repeat" => {
                        options.repeat = value(&mut args)
                            .and_then(|v| u32::try_from(v).ok())
                            .unwrap_or(options.repeat)
                    }
                    _ => {} // `--bench` and filters from cargo
                }
            }
            options
        }
    }

    fn median(values: &mut [f64]) -> f64 {
        values.sort_by(f64::total_cmp);
        match values.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => values[n / 2],
            n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
        }
    }

    fn sink(value: u64) {
        black_box(value);
    }

    /// What the hooks of scenario 3 push to.
    #[derive(Clone, Default)]
    pub struct Queue(std::sync::Arc<std::sync::Mutex<Vec<i64>>>);

    impl Queue {
        pub fn push(&self, id: i64) {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).push(id);
        }
    }

    macro_rules! scenarios {
        ($module:ident, $conn:ty, $insert:literal) => {
            mod $module {
                use super::*;

                #[atomic]
                pub async fn hooks(conn: &mut Conn<$conn>, n: u64) -> Result<(), BoxError> {
                    for i in 0..n {
                        enqueue!(sink(i));
                    }
                    Ok(())
                }

                #[atomic]
                async fn one_in_savepoint(conn: &mut Conn<$conn>, i: u64) -> Result<(), BoxError> {
                    enqueue!(sink(i));
                    Ok(())
                }

                #[atomic]
                pub async fn savepoints(conn: &mut Conn<$conn>, n: u64) -> Result<(), BoxError> {
                    for i in 0..n {
                        one_in_savepoint(conn, i).await?;
                    }
                    Ok(())
                }

                /// Scenario 2 without oncommit: the same SAVEPOINT and RELEASE in plain sqlx, the
                /// hook's work done at once (the floor the driver sets).
                pub async fn savepoints_plain(raw: &mut $conn, n: u64) -> Result<(), BoxError> {
                    let mut tx = raw.begin().await?;
                    for i in 0..n {
                        let savepoint = tx.begin().await?;
                        sink(i);
                        savepoint.commit().await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                #[atomic]
                pub async fn insert_with_hook(
                    conn: &mut Conn<$conn>,
                    id: i64,
                    queue: &Queue,
                ) -> Result<(), BoxError> {
                    sqlx::query($insert)
                        .bind(id)
                        .bind(format!("u{id}@example.com"))
                        .execute(&mut **conn)
                        .await?;
                    enqueue!(queue.push(id));
                    Ok(())
                }

                pub async fn insert_plain(raw: &mut $conn, id: i64) -> Result<(), BoxError> {
                    let mut tx = raw.begin().await?;
                    sqlx::query($insert)
                        .bind(id)
                        .bind(format!("u{id}@example.com"))
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(())
                }

                pub async fn run(name: &str, raw: $conn, options: &Options) {
                    let mut conn = Conn::new(raw);
                    let (n, n2) = (options.n, (options.n / 10).max(1));
                    let (mut per_hook, mut per_savepoint, mut per_plain_savepoint) =
                        (Vec::new(), Vec::new(), Vec::new());
                    for _ in 0..options.repeat {
                        let start = Instant::now();
                        hooks(&mut conn, n).await.expect("hooks");
                        per_hook.push(start.elapsed().as_secs_f64() * 1e9 / n as f64);
                        let start = Instant::now();
                        savepoints(&mut conn, n2).await.expect("savepoints");
                        per_savepoint.push(start.elapsed().as_secs_f64() * 1e9 / n2 as f64);
                        let start = Instant::now();
                        savepoints_plain(&mut conn, n2)
                            .await
                            .expect("plain savepoints");
                        per_plain_savepoint.push(start.elapsed().as_secs_f64() * 1e9 / n2 as f64);
                    }
                    println!("RESULT {name}_hooks_ns {:.1}", median(&mut per_hook));
                    println!(
                        "RESULT {name}_savepoint_ns {:.1}",
                        median(&mut per_savepoint)
                    );
                    println!(
                        "RESULT {name}_savepoint_plain_ns {:.1}",
                        median(&mut per_plain_savepoint)
                    );

                    let queue = Queue::default();
                    let mut raw = Some(conn.into_inner());
                    let mut conn: Option<Conn<$conn>> = None;
                    let (mut with, mut without, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
                    let mut id = 0i64;
                    for pair in 0..options.txns {
                        let mut elapsed = [Duration::ZERO; 2];
                        let order = if pair % 2 == 0 {
                            [true, false]
                        } else {
                            [false, true]
                        };
                        for hooked in order {
                            id += 1;
                            if hooked {
                                let mut c = conn.take().unwrap_or_else(|| {
                                    Conn::new(raw.take().expect("a connection"))
                                });
                                let start = Instant::now();
                                insert_with_hook(&mut c, id, &queue).await.expect("txn");
                                elapsed[1] = start.elapsed();
                                conn = Some(c);
                            } else {
                                let mut r = raw.take().unwrap_or_else(|| {
                                    conn.take().expect("a connection").into_inner()
                                });
                                let start = Instant::now();
                                insert_plain(&mut r, id).await.expect("txn");
                                elapsed[0] = start.elapsed();
                                raw = Some(r);
                            }
                        }
                        with.push(elapsed[1].as_secs_f64() * 1e6);
                        without.push(elapsed[0].as_secs_f64() * 1e6);
                        ratios.push(elapsed[1].as_secs_f64() / elapsed[0].as_secs_f64());
                    }
                    println!("RESULT {name}_txn_hook_us {:.1}", median(&mut with));
                    println!("RESULT {name}_txn_plain_us {:.1}", median(&mut without));
                    println!("RESULT {name}_txn_ratio {:.4}", median(&mut ratios));
                }
            }
        };
    }

    scenarios!(
        pg,
        PgConnection,
        "INSERT INTO oncommit_bench_users (id, email) VALUES ($1, $2)"
    );
    scenarios!(
        lite,
        SqliteConnection,
        "INSERT INTO oncommit_bench_users (id, email) VALUES (?, ?)"
    );

    /// The same scenarios on diesel's SQLite connection: sync and in process, as Django
    /// calls SQLite, so the rows show oncommit's own cost where the driver does not add a
    /// worker-thread round trip per statement.
    #[cfg(feature = "diesel-sqlite")]
    mod diesel_lite {
        use super::*;
        use diesel::connection::SimpleConnection;
        use diesel::sql_types::{BigInt, Text};
        use diesel::{Connection as _, RunQueryDsl, SqliteConnection};

        #[atomic]
        fn hooks(conn: &mut Conn<SqliteConnection>, n: u64) -> Result<(), BoxError> {
            for i in 0..n {
                enqueue!(sink(i));
            }
            Ok(())
        }

        #[atomic]
        fn one_in_savepoint(conn: &mut Conn<SqliteConnection>, i: u64) -> Result<(), BoxError> {
            enqueue!(sink(i));
            Ok(())
        }

        #[atomic]
        fn savepoints(conn: &mut Conn<SqliteConnection>, n: u64) -> Result<(), BoxError> {
            for i in 0..n {
                one_in_savepoint(conn, i)?;
            }
            Ok(())
        }

        /// The same SAVEPOINT and RELEASE through diesel's own transactions, no oncommit.
        fn savepoints_plain(raw: &mut SqliteConnection, n: u64) -> Result<(), BoxError> {
            raw.transaction(|raw| {
                for i in 0..n {
                    raw.transaction(|_| {
                        sink(i);
                        Ok::<_, diesel::result::Error>(())
                    })?;
                }
                Ok::<_, diesel::result::Error>(())
            })?;
            Ok(())
        }

        fn insert(conn: &mut SqliteConnection, id: i64) -> Result<(), diesel::result::Error> {
            diesel::sql_query("INSERT INTO oncommit_bench_users (id, email) VALUES (?, ?)")
                .bind::<BigInt, _>(id)
                .bind::<Text, _>(format!("u{id}@example.com"))
                .execute(conn)?;
            Ok(())
        }

        #[atomic]
        fn insert_with_hook(
            conn: &mut Conn<SqliteConnection>,
            id: i64,
            queue: &Queue,
        ) -> Result<(), BoxError> {
            insert(conn, id)?;
            enqueue!(queue.push(id));
            Ok(())
        }

        fn insert_plain(raw: &mut SqliteConnection, id: i64) -> Result<(), BoxError> {
            raw.transaction(|raw| insert(raw, id))?;
            Ok(())
        }

        pub fn run(name: &str, path: &std::path::Path, options: &Options) {
            let _ = std::fs::remove_file(path);
            let mut raw = SqliteConnection::establish(&path.display().to_string())
                .expect("diesel sqlite file");
            raw.batch_execute(
                "CREATE TABLE oncommit_bench_users (id bigint PRIMARY KEY, email text NOT NULL)",
            )
            .expect("create the bench table");
            let mut conn = Conn::new(raw);
            let (n, n2) = (options.n, (options.n / 10).max(1));
            let (mut per_hook, mut per_savepoint, mut per_plain_savepoint) =
                (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..options.repeat {
                let start = Instant::now();
                hooks(&mut conn, n).expect("hooks");
                per_hook.push(start.elapsed().as_secs_f64() * 1e9 / n as f64);
                let start = Instant::now();
                savepoints(&mut conn, n2).expect("savepoints");
                per_savepoint.push(start.elapsed().as_secs_f64() * 1e9 / n2 as f64);
                let start = Instant::now();
                savepoints_plain(&mut conn, n2).expect("plain savepoints");
                per_plain_savepoint.push(start.elapsed().as_secs_f64() * 1e9 / n2 as f64);
            }
            println!("RESULT {name}_hooks_ns {:.1}", median(&mut per_hook));
            println!(
                "RESULT {name}_savepoint_ns {:.1}",
                median(&mut per_savepoint)
            );
            println!(
                "RESULT {name}_savepoint_plain_ns {:.1}",
                median(&mut per_plain_savepoint)
            );
            let queue = Queue::default();
            let (mut with, mut without, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
            let mut id = 0i64;
            for pair in 0..options.txns {
                let mut elapsed = [Duration::ZERO; 2];
                let order = if pair % 2 == 0 {
                    [true, false]
                } else {
                    [false, true]
                };
                for hooked in order {
                    id += 1;
                    let start = Instant::now();
                    if hooked {
                        insert_with_hook(&mut conn, id, &queue).expect("txn");
                        elapsed[1] = start.elapsed();
                    } else {
                        insert_plain(&mut conn, id).expect("txn");
                        elapsed[0] = start.elapsed();
                    }
                }
                with.push(elapsed[1].as_secs_f64() * 1e6);
                without.push(elapsed[0].as_secs_f64() * 1e6);
                ratios.push(elapsed[1].as_secs_f64() / elapsed[0].as_secs_f64());
            }
            println!("RESULT {name}_txn_hook_us {:.1}", median(&mut with));
            println!("RESULT {name}_txn_plain_us {:.1}", median(&mut without));
            println!("RESULT {name}_txn_ratio {:.4}", median(&mut ratios));
        }
    }

    async fn create_table<C: Connection>(conn: &mut C)
    where
        for<'c> &'c mut C: sqlx::Executor<'c>,
    {
        for statement in [
            "DROP TABLE IF EXISTS oncommit_bench_users",
            "CREATE TABLE oncommit_bench_users (id bigint PRIMARY KEY, email text NOT NULL)",
        ] {
            sqlx::raw_sql(statement)
                .execute(&mut *conn)
                .await
                .expect("create the bench table");
        }
    }

    pub async fn run(options: Options) {
        println!(
            "side by side: N = {} hooks, N/10 = {} savepoints, {} paired txns, median of {} runs",
            options.n,
            (options.n / 10).max(1),
            options.txns,
            options.repeat
        );
        let path = std::env::temp_dir().join("oncommit_side_by_side.sqlite3");
        let _ = std::fs::remove_file(&path);
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let mut conn = SqliteConnection::connect(&url).await.expect("sqlite file");
        create_table(&mut conn).await;
        lite::run("sqlite", conn, &options).await;

        #[cfg(feature = "diesel-sqlite")]
        diesel_lite::run(
            "diesel_sqlite",
            &std::env::temp_dir().join("oncommit_side_by_side_diesel.sqlite3"),
            &options,
        );

        match std::env::var("DATABASE_URL") {
            Err(_) => println!(
                "postgres: skipped: DATABASE_URL is not set (e.g. DATABASE_URL=postgres://root@127.0.0.1:5432/test)"
            ),
            Ok(url) => match PgConnection::connect(&url).await {
                Err(e) => println!("postgres: skipped: cannot connect to DATABASE_URL ({e})"),
                Ok(mut conn) => {
                    create_table(&mut conn).await;
                    pg::run("postgres", conn, &options).await;
                }
            },
        }
    }
}

#[cfg(all(feature = "sqlx-postgres", feature = "sqlx-sqlite"))]
fn main() {
    let options = bench::Options::from_args();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(bench::run(options));
}

#[cfg(not(all(feature = "sqlx-postgres", feature = "sqlx-sqlite")))]
fn main() {
    println!("side_by_side bench skipped: build with `--features sqlx-postgres,sqlx-sqlite`");
}
