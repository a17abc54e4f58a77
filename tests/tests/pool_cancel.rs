//! Cancellation under load through a pool: tasks share a `Pool` of 4 connections; each checks
//! out a connection, wraps it in a `Conn`, runs a transaction (a row, three updates, a
//! savepoint with a second row, a sync and an async hook) under a `tokio::time::timeout` of a
//! random small duration, and drops the `Conn` — so futures are dropped at every await point
//! and connections go back to the pool right after. Between transactions the tasks run plain
//! INSERTs through the pool, which commit only if the connection they get is not left inside
//! a transaction (nor, on MariaDB, with autocommit off).
//!
//! Afterwards, from a separate connection: no hook ran for a row that is not committed, no
//! transaction committed in part (its savepoint row without it, or fewer than all updates),
//! and no plain INSERT that returned `Ok` is missing. The figures are printed; the seed too
//! (`ONCOMMIT_SEED` replays one).
//!
//! Postgres needs `DATABASE_URL`, MariaDB `MYSQL_URL`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oncommit::Conn;
use oncommit_tests::race::AppError;
use oncommit_tests::service_url;
use sqlx::AssertSqlSafe;

const TASKS: u64 = 8;
const POOL: u32 = 4;

fn seed() -> u64 {
    std::env::var("ONCOMMIT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed)
}

/// Ids recorded by hooks (async ones negated) and by plain INSERTs that returned `Ok`.
#[derive(Clone, Default)]
struct Seen {
    hooks: Arc<Mutex<Vec<i64>>>,
    plain: Arc<Mutex<Vec<i64>>>,
}

macro_rules! pool_suite {
    ($name:ident, $db:ty, $var:literal, $transactions:literal) => {
        mod $name {
            use super::*;

            type Db = $db;
            type Pooled = sqlx::pool::PoolConnection<Db>;

            async fn exec(
                conn: &mut <Db as sqlx::Database>::Connection,
                sql: String,
            ) -> Result<(), sqlx::Error> {
                sqlx::query(AssertSqlSafe(sql)).execute(conn).await?;
                Ok(())
            }

            /// The transaction: row `id` (updated to version 3) and, in a savepoint, row
            /// `id + 1`; a sync hook for each, an async hook for `id`.
            async fn transaction(
                conn: &mut Conn<Pooled>,
                table: &str,
                seen: &Seen,
                id: i64,
            ) -> Result<(), AppError> {
                conn.atomic_async(async |conn| {
                    exec(conn, format!("INSERT INTO {table} (id, version) VALUES ({id}, 1)")).await?;
                    let hooks = seen.hooks.clone();
                    conn.on_commit(move || hooks.lock().unwrap().push(id))?;
                    for version in 2..=3 {
                        exec(conn, format!("UPDATE {table} SET version = {version} WHERE id = {id}")).await?;
                    }
                    conn.atomic_async(async |conn| {
                        exec(conn, format!("INSERT INTO {table} (id, version) VALUES ({}, 1)", id + 1)).await?;
                        let hooks = seen.hooks.clone();
                        conn.on_commit(move || hooks.lock().unwrap().push(id + 1))?;
                        Ok::<_, AppError>(())
                    })
                    .await?;
                    let hooks = seen.hooks.clone();
                    conn.on_commit_async(move || async move {
                        tokio::task::yield_now().await;
                        hooks.lock().unwrap().push(-id);
                    })
                    .await?;
                    Ok::<_, AppError>(())
                })
                .await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cancelled_transactions_on_a_pool_of_four() {
                let Some(url) = service_url($var) else {
                    return;
                };
                let seed = seed();
                let pool = sqlx::pool::PoolOptions::<Db>::new()
                    .max_connections(POOL)
                    .connect(&url)
                    .await
                    .expect("a pool");
                let table = format!("oncommit_pool_cancel_{}_{}", stringify!($name), std::process::id());
                let plain_table = format!("{table}_plain");
                for (name, columns) in [(&table, "id BIGINT PRIMARY KEY, version BIGINT"), (&plain_table, "id BIGINT PRIMARY KEY")] {
                    sqlx::query(AssertSqlSafe(format!("CREATE TABLE {name} ({columns})")))
                        .execute(&pool)
                        .await
                        .expect("create a table");
                }
                let seen = Seen::default();

                // How long one transaction takes here, so the timeouts land inside it (this
                // only spreads the cancellation points; nothing asserts on time).
                let started = Instant::now();
                for n in 0..10 {
                    let mut conn = Conn::new(pool.acquire().await.unwrap());
                    transaction(&mut conn, &table, &seen, 10_000_000 + n * 2).await.expect("calibration");
                }
                let typical = started.elapsed() / 10;

                let per_task = $transactions / TASKS as i64;
                let mut tasks = Vec::new();
                for task in 0..TASKS {
                    let (pool, table, plain_table, seen) = (pool.clone(), table.clone(), plain_table.clone(), seen.clone());
                    tasks.push(tokio::spawn(async move {
                        let mut rng = fastrand::Rng::with_seed(seed ^ task);
                        let (mut committed, mut cancelled, mut failed) = (0u64, 0u64, Vec::new());
                        for n in 0..per_task {
                            let id = (task as i64 * per_task + n) * 2 + 1;
                            // Tasks wait for one of the pool's connections: scale by how many share each.
                            let most = typical.as_nanos() as u64 * 3 * TASKS / POOL as u64;
                            let limit = Duration::from_nanos(rng.u64(0..=most));
                            let outcome = tokio::time::timeout(limit, async {
                                let mut conn = Conn::new(pool.acquire().await?);
                                transaction(&mut conn, &table, &seen, id).await
                            })
                            .await;
                            match outcome {
                                Ok(Ok(())) => committed += 1,
                                Ok(Err(error)) => failed.push(format!("{id}: {error}")),
                                Err(_elapsed) => cancelled += 1,
                            }
                            if n % 4 == 0 {
                                let plain = sqlx::query(AssertSqlSafe(format!("INSERT INTO {plain_table} (id) VALUES ({id})")))
                                    .execute(&pool)
                                    .await;
                                if plain.is_ok() {
                                    seen.plain.lock().unwrap().push(id);
                                }
                            }
                        }
                        (committed, cancelled, failed)
                    }));
                }
                let (mut committed, mut cancelled, mut failed) = (0, 0, Vec::new());
                for task in tasks {
                    let (c, x, f) = task.await.expect("a task panicked");
                    committed += c;
                    cancelled += x;
                    failed.extend(f);
                }

                let mut observer = <<Db as sqlx::Database>::Connection as sqlx::Connection>::connect(&url).await.unwrap();
                let rows: HashMap<i64, i64> = sqlx::query_as::<_, (i64, i64)>(AssertSqlSafe(format!("SELECT id, version FROM {table}")))
                    .fetch_all(&mut observer)
                    .await
                    .unwrap()
                    .into_iter()
                    .collect();
                let plain_rows: HashSet<i64> = sqlx::query_scalar::<_, i64>(AssertSqlSafe(format!("SELECT id FROM {plain_table}")))
                    .fetch_all(&mut observer)
                    .await
                    .unwrap()
                    .into_iter()
                    .collect();
                let hooks = seen.hooks.lock().unwrap().clone();
                let uncommitted_hooks = hooks.iter().filter(|id| !rows.contains_key(&id.abs())).count();
                let torn = (0..TASKS as i64 * per_task)
                    .map(|n| n * 2 + 1)
                    .filter(|id| rows.contains_key(id) != rows.contains_key(&(id + 1)) || rows.get(id).is_some_and(|v| *v != 3))
                    .count();
                let plain = seen.plain.lock().unwrap().clone();
                let lost_plain = plain.iter().filter(|id| !plain_rows.contains(id)).count();
                eprintln!(
                    "{}: seed {seed}: {} transactions by {TASKS} tasks on a pool of {POOL} under random timeouts \
                     (typical {typical:?}): {committed} committed, {cancelled} cancelled, {} failed; \
                     {uncommitted_hooks} hooks for uncommitted rows, {torn} torn transactions, \
                     {lost_plain} of {} plain INSERTs lost (a connection returned inside a transaction)",
                    stringify!($name),
                    TASKS as i64 * per_task,
                    failed.len(),
                    plain.len(),
                );
                assert_eq!(uncommitted_hooks, 0, "hooks ran for uncommitted rows (seed {seed})");
                assert_eq!(torn, 0, "transactions committed in part (seed {seed})");
                assert_eq!(lost_plain, 0, "plain INSERTs through the pool were lost (seed {seed})");
                assert!(failed.is_empty(), "transactions failed (seed {seed}): {failed:?}");
                assert!(cancelled > 0 && committed > 0, "the timeouts must cancel some and not all (seed {seed})");
                for name in [&table, &plain_table] {
                    sqlx::query(AssertSqlSafe(format!("DROP TABLE {name}"))).execute(&mut observer).await.unwrap();
                }
                pool.close().await;
            }
        }
    };
}

pool_suite!(postgres, sqlx::Postgres, "DATABASE_URL", 4000);
pool_suite!(mariadb, sqlx::MySql, "MYSQL_URL", 2000);
