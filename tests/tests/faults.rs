//! Fault injection on real servers: what a transaction leaves in the database, read from a
//! separate connection, when the body swallows a server error, when a future is dropped while
//! its BEGIN, SAVEPOINT, RELEASE or COMMIT is in flight, and when the connection dies after
//! COMMIT was sent.
//!
//! The faults do not depend on timing: the connection under test goes through a TCP proxy
//! ([`Proxy`]) that holds the server's answers, so a statement is known to be applied while
//! its future is still pending; the test then drops the future, or cuts the connection.
//!
//! Postgres needs `DATABASE_URL`, MariaDB `MYSQL_URL` (each suite skips with a printed reason
//! when its variable is unset, and fails under `CI=true`).

use std::pin::pin;
use std::sync::{Arc, Mutex};

use oncommit::{Conn, ErrorKind, Outcome};
use oncommit_tests::proxy::Proxy;
use oncommit_tests::race::AppError;
use oncommit_tests::{service_url, unique_name};
use sqlx::{AssertSqlSafe, Connection};

/// What the hooks did, in order.
#[derive(Clone, Default)]
struct Ran(Arc<Mutex<Vec<i64>>>);

impl Ran {
    fn hook(&self, id: i64) -> impl FnOnce() + Send + 'static {
        let ran = self.clone();
        move || ran.0.lock().unwrap().push(id)
    }

    fn get(&self) -> Vec<i64> {
        self.0.lock().unwrap().clone()
    }
}

/// oncommit's error out of the app's, which must be one.
fn oncommit_error(error: AppError) -> oncommit::Error {
    match error {
        AppError::Tx(e) => e,
        other => panic!("expected an oncommit::Error, got {other:?}"),
    }
}

/// A fresh table name, unique per process and test.
fn table_name() -> String {
    unique_name("oncommit_faults")
}

/// Runs `future` until the proxy holds the server's answer to what it sent, then drops it:
/// the statement was applied, and the future never learned it.
async fn drop_once_answered<F: Future>(proxy: &Proxy, future: F) {
    proxy.hold();
    drop_when_held(proxy, future).await;
}

/// Runs `future` until the proxy holds an answer (see [`Proxy::hold_when_sent`]), drops it,
/// and lets the answers through.
async fn drop_when_held<F: Future>(proxy: &Proxy, future: F) {
    {
        let mut future = pin!(future);
        tokio::select! {
            _ = future.as_mut() => panic!("the future finished although the answer was held"),
            () = proxy.wait_held() => {}
        }
    } // dropped here, its statement applied and unanswered
    proxy.release();
}

/// The suite for one server, on its sqlx connection type.
macro_rules! fault_suite {
    (
        $suite:ident, $var:literal, $conn:ty, $db:ty, $known:ident,
        session_id: $session_id:literal,
        waits_for_lock: $waits_for_lock:literal,
        deadlock_victim: $victim_setup:literal $(,)?
    ) => {
        mod $suite {
            use super::*;

            type C = $conn;

            struct Fixture {
                proxy: Proxy,
                proxied_url: String,
                conn: Conn<C>,
                reader: C,
                table: String,
                ran: Ran,
            }

            impl Fixture {
                async fn new() -> Option<Fixture> {
                    let url = service_url($var)?;
                    let (proxy, proxied_url) = Proxy::for_url(&url).await;
                    let mut reader = C::connect(&url).await.expect("connect the reader");
                    let table = table_name();
                    exec(&mut reader, format!("CREATE TABLE {table} (id BIGINT PRIMARY KEY)"))
                        .await
                        .expect("create the table");
                    let conn = Conn::new(C::connect(&proxied_url).await.expect("connect through the proxy"));
                    Some(Fixture { proxy, proxied_url, conn, reader, table, ran: Ran::default() })
                }

                /// The committed rows, as another connection sees them.
                async fn committed(&mut self) -> Vec<i64> {
                    ids(&mut self.reader, &self.table).await
                }

                /// A pool of one connection, through the proxy.
                async fn pool_of_one(&self) -> sqlx::Pool<$db> {
                    sqlx::pool::PoolOptions::<$db>::new()
                        .max_connections(1)
                        .connect(&self.proxied_url)
                        .await
                        .expect("a pool through the proxy")
                }

                /// A plain INSERT through `pool` commits (its one connection is not inside a
                /// transaction, nor with autocommit off), and it is all the table holds.
                async fn only_a_plain_insert_through(&mut self, pool: sqlx::Pool<$db>) {
                    sqlx::query(AssertSqlSafe(format!("INSERT INTO {} (id) VALUES (2)", self.table)))
                        .execute(&pool)
                        .await
                        .unwrap();
                    assert_eq!(self.committed().await, [2]);
                    pool.close().await;
                }

                async fn finish(mut self) {
                    assert_eq!(self.conn.depth(), 0);
                    exec(&mut self.reader, format!("DROP TABLE {}", self.table))
                        .await
                        .expect("drop the table");
                }
            }

            async fn exec(conn: &mut C, sql: String) -> Result<u64, sqlx::Error> {
                Ok(sqlx::query(AssertSqlSafe(sql)).execute(conn).await?.rows_affected())
            }

            async fn insert(conn: &mut C, table: &str, id: i64) -> Result<u64, sqlx::Error> {
                exec(conn, format!("INSERT INTO {table} (id) VALUES ({id})")).await
            }

            async fn ids(conn: &mut C, table: &str) -> Vec<i64> {
                sqlx::query_scalar::<$db, i64>(AssertSqlSafe(format!("SELECT id FROM {table} ORDER BY id")))
                    .fetch_all(conn)
                    .await
                    .expect("read the table")
            }

            /// The connection is usable afterwards: a transaction commits and runs its hook.
            async fn next_transaction_commits(f: &mut Fixture, id: i64) {
                let Fixture { conn, table, ran, .. } = f;
                conn.atomic_async(async |conn| {
                    insert(conn, table, id).await?;
                    conn.on_commit(ran.hook(id))?;
                    Ok::<_, AppError>(())
                })
                .await
                .expect("the next transaction commits");
                assert_eq!(f.ran.get().last(), Some(&id));
                assert!(f.committed().await.contains(&id));
            }

            /// A nested block dropped while its SAVEPOINT is in flight rolls back that block
            /// only: the outer transaction goes on and commits with its own rows and hooks.
            #[tokio::test]
            async fn a_savepoint_cancelled_in_flight_rolls_back_only_the_inner_block() {
                let Some(mut f) = Fixture::new().await else { return };
                let Fixture { conn, table, ran, proxy, .. } = &mut f;
                conn.atomic_async(async |conn| {
                    insert(conn, table, 1).await?;
                    conn.on_commit(ran.hook(1))?;
                    drop_once_answered(
                        proxy,
                        conn.atomic_async(async |conn| {
                            insert(conn, table, 2).await?;
                            conn.on_commit(ran.hook(2))?;
                            Ok::<_, AppError>(())
                        }),
                    )
                    .await;
                    insert(conn, table, 3).await?;
                    conn.on_commit(ran.hook(3))?;
                    Ok::<_, AppError>(())
                })
                .await
                .unwrap();
                assert_eq!(f.ran.get(), [1, 3]);
                assert_eq!(f.committed().await, [1, 3]);
                next_transaction_commits(&mut f, 10).await;
                f.finish().await;
            }

            /// A nested block dropped while its RELEASE SAVEPOINT is in flight leaves the
            /// transaction uncertain (the savepoint may be gone or not): the whole transaction
            /// is rolled back, never committed in part, even when the body ignores errors.
            #[tokio::test]
            async fn a_release_cancelled_in_flight_rolls_back_the_whole_transaction() {
                let Some(mut f) = Fixture::new().await else { return };
                let Fixture { conn, table, ran, proxy, .. } = &mut f;
                let result = conn
                    .atomic_async(async |conn| {
                        insert(conn, table, 1).await?;
                        conn.on_commit(ran.hook(1))?;
                        // the RELEASE is applied, its answer held
                        proxy.hold_when_sent(b"RELEASE");
                        drop_when_held(
                            proxy,
                            conn.atomic_async(async |conn| {
                                insert(conn, table, 2).await?;
                                conn.on_commit(ran.hook(2))?;
                                Ok::<_, AppError>(())
                            }),
                        )
                        .await;
                        let _ = insert(conn, table, 3).await; // whatever happens, go on
                        conn.on_commit(ran.hook(3))?;
                        Ok::<_, AppError>(())
                    })
                    .await;
                let error = oncommit_error(result.unwrap_err());
                assert_eq!(error.kind(), ErrorKind::Uncertain, "{error}");
                assert_eq!(error.outcome(), Outcome::NotCommitted);
                assert_eq!(f.ran.get(), [] as [i64; 0]);
                assert_eq!(f.committed().await, [] as [i64; 0]);
                next_transaction_commits(&mut f, 10).await;
                f.finish().await;
            }

            /// An outermost block dropped while its BEGIN is in flight: the server is inside a
            /// transaction nobody counts. oncommit refuses to run a hook "now" until the
            /// connection is recovered, `recover` ends that transaction, and a write after it
            /// commits.
            #[tokio::test]
            async fn a_begin_cancelled_in_flight_leaves_no_transaction_behind() {
                let Some(mut f) = Fixture::new().await else { return };
                let Fixture { conn, table, ran, proxy, .. } = &mut f;
                drop_once_answered(
                    proxy,
                    conn.atomic_async(async |conn| {
                        insert(conn, table, 1).await?;
                        Ok::<_, AppError>(())
                    }),
                )
                .await;
                let refused = conn.on_commit(ran.hook(1)).unwrap_err();
                assert_eq!(refused.kind(), ErrorKind::Uncertain, "{refused}");
                conn.recover().await.unwrap();
                insert(conn, table, 2).await.unwrap(); // autocommits
                conn.on_commit(ran.hook(2)).unwrap(); // runs now
                assert_eq!(f.ran.get(), [2]);
                assert_eq!(f.committed().await, [2]);
                next_transaction_commits(&mut f, 10).await;
                f.finish().await;
            }

            /// The same through a pool of one: the `Conn` is dropped after the cancelled
            /// BEGIN, and the pool never hands that connection out again inside a transaction
            /// (a plain INSERT through the pool commits).
            #[tokio::test]
            async fn a_begin_cancelled_in_flight_never_returns_a_pooled_connection_inside_a_transaction() {
                let Some(mut f) = Fixture::new().await else { return };
                let pool = f.pool_of_one().await;
                {
                    let mut conn = Conn::new(pool.acquire().await.unwrap());
                    let table = f.table.clone();
                    drop_once_answered(
                        &f.proxy,
                        conn.atomic_async(async |conn| {
                            exec(conn, format!("INSERT INTO {table} (id) VALUES (1)")).await?;
                            Ok::<_, AppError>(())
                        }),
                    )
                    .await;
                }
                f.only_a_plain_insert_through(pool).await;
                f.finish().await;
            }

            /// A deadlock victim whose body swallows the error (and every later one) and
            /// returns `Ok`: the server rolled the transaction back, so nothing the body ran,
            /// before or after the deadlock, is committed and no hook runs; the other
            /// transaction commits; the connection is usable and back in autocommit.
            #[tokio::test]
            async fn a_deadlock_victim_that_ignores_the_error_commits_nothing_and_runs_no_hook() {
                let Some(mut f) = Fixture::new().await else { return };
                let url = service_url($var).unwrap();
                let mut other = C::connect(&url).await.expect("connect the other transaction");
                for id in [1, 2] {
                    insert(&mut f.reader, &f.table, id).await.unwrap();
                }
                exec(&mut f.conn, $victim_setup.to_owned()).await.unwrap();
                let session: i64 = sqlx::query_scalar($session_id).fetch_one(&mut *f.conn).await.unwrap();
                let Fixture { conn, table, ran, reader, .. } = &mut f;
                let lock = |id: i64| format!("SELECT id FROM {table} WHERE id = {id} FOR UPDATE");
                let result = conn
                    .atomic_async(async |conn| {
                        exec(conn, lock(1)).await?;
                        insert(conn, table, 10).await?;
                        conn.on_commit(ran.hook(10))?;
                        // The other transaction is heavier (more rows written), so the server
                        // picks ours as the victim; it holds row 2 before we ask for it.
                        sqlx::raw_sql("BEGIN").execute(&mut other).await.unwrap();
                        for id in 100..150 {
                            insert(&mut other, table, id).await.unwrap();
                        }
                        exec(&mut other, lock(2)).await.unwrap();
                        let closes_the_cycle = async {
                            wait_for_lock(reader, session).await;
                            exec(&mut other, lock(1)).await
                        };
                        let (ours, theirs) = tokio::join!(exec(conn, lock(2)), closes_the_cycle);
                        let deadlock = ours.expect_err("our transaction is the deadlock victim");
                        assert!(deadlock.as_database_error().is_some(), "{deadlock}");
                        theirs.expect("the other transaction gets row 1");
                        let _ = insert(conn, table, 11).await; // ignored, as is the deadlock
                        conn.on_commit(ran.hook(11))?;
                        Ok::<_, AppError>(())
                    })
                    .await;
                sqlx::raw_sql("COMMIT").execute(&mut other).await.unwrap();
                let error = oncommit_error(result.unwrap_err());
                assert!(error.server_rolled_back(), "{error}");
                assert_eq!(error.outcome(), Outcome::NotCommitted);
                assert_eq!(f.ran.get(), [] as [i64; 0]);
                let expected: Vec<i64> = [1, 2].into_iter().chain(100..150).collect();
                assert_eq!(f.committed().await, expected);
                insert(&mut f.conn, &f.table, 12).await.unwrap(); // outside a transaction: commits
                assert!(f.committed().await.contains(&12));
                next_transaction_commits(&mut f, 13).await;
                f.finish().await;
            }

            /// Waits until another connection sees row `id` of `table`.
            async fn wait_until_committed(reader: &mut C, table: &str, id: i64) {
                for _ in 0..1000 {
                    if ids(reader, table).await.contains(&id) {
                        return;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                panic!("row {id} was never committed");
            }

            /// Waits until the session `session` waits for a row lock.
            async fn wait_for_lock(reader: &mut C, session: i64) {
                for _ in 0..1000 {
                    let waiting: i64 = sqlx::query_scalar(AssertSqlSafe(format!($waits_for_lock, session = session)))
                        .fetch_one(&mut *reader)
                        .await
                        .unwrap();
                    if waiting > 0 {
                        return;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                panic!("session {session} never waited for the lock");
            }

            /// An outermost block dropped in the middle of its body, on a pooled connection
            /// that the `Conn` then drops: nothing of the block is committed, and the pool
            /// never hands out a connection inside a transaction or with autocommit off (a
            /// plain INSERT through the pool commits).
            #[tokio::test]
            async fn a_block_cancelled_mid_body_never_returns_a_pooled_connection_inside_a_transaction() {
                let Some(mut f) = Fixture::new().await else { return };
                let pool = f.pool_of_one().await;
                {
                    let mut conn = Conn::new(pool.acquire().await.unwrap());
                    let (table, ran) = (&f.table, &f.ran);
                    let inserted = tokio::sync::Notify::new();
                    let block = conn.atomic_async(async |conn| {
                        insert(conn, table, 1).await?;
                        conn.on_commit(ran.hook(1))?;
                        inserted.notify_one();
                        std::future::pending::<()>().await;
                        Ok::<_, AppError>(())
                    });
                    tokio::select! {
                        _ = block => unreachable!("the block never finishes"),
                        () = inserted.notified() => {} // dropped here, its row written
                    }
                }
                assert_eq!(f.ran.get(), [] as [i64; 0]);
                f.only_a_plain_insert_through(pool).await;
                f.finish().await;
            }

            /// The future is dropped while its hooks run, after COMMIT: the data stays
            /// committed, the hooks that ran ran once, the rest are dropped with the future,
            /// and the connection is usable at once (nothing of the transaction is left).
            #[tokio::test]
            async fn a_block_dropped_while_its_hooks_run_keeps_its_commit() {
                let Some(mut f) = Fixture::new().await else { return };
                let Fixture { conn, table, ran, .. } = &mut f;
                let in_second_hook = Arc::new(tokio::sync::Notify::new());
                {
                    let block = conn.atomic_async(async |conn| {
                        insert(conn, table, 1).await?;
                        conn.on_commit(ran.hook(1))?;
                        let in_second_hook = in_second_hook.clone();
                        conn.on_commit_async(move || async move {
                            in_second_hook.notify_one();
                            std::future::pending::<()>().await;
                        })
                        .await?;
                        conn.on_commit(ran.hook(3))?;
                        Ok::<_, AppError>(())
                    });
                    tokio::select! {
                        _ = block => unreachable!("the second hook never finishes"),
                        () = in_second_hook.notified() => {} // dropped here
                    }
                }
                assert_eq!(f.ran.get(), [1]);
                assert_eq!(f.committed().await, [1]);
                assert_eq!(f.conn.depth(), 0);
                assert!(!f.conn.is_broken());
                next_transaction_commits(&mut f, 10).await;
                f.finish().await;
            }

            /// The connection dies after COMMIT was applied and before its answer arrived: the
            /// caller is told the outcome is unknown (not "not committed"), no hook runs, and
            /// the data is in fact committed.
            #[tokio::test]
            async fn a_commit_without_answer_is_unknown_not_rolled_back() {
                let Some(mut f) = Fixture::new().await else { return };
                let Fixture { conn, table, ran, proxy, reader, .. } = &mut f;
                proxy.hold_when_sent(b"COMMIT");
                let error = {
                    let mut result = pin!(conn.atomic_async(async |conn| {
                        insert(conn, table, 1).await?;
                        conn.on_commit(ran.hook(1))?;
                        Ok::<_, AppError>(())
                    }));
                    tokio::select! {
                        _ = result.as_mut() => panic!("COMMIT answered although held"),
                        () = proxy.wait_held() => {}
                    }
                    // The first answer held may be the one before COMMIT (MySQL's COMMIT is the
                    // second statement of a multi-statement query): cut only once another
                    // connection sees the row, i.e. once COMMIT was applied.
                    wait_until_committed(reader, table, 1).await;
                    proxy.cut();
                    oncommit_error(result.await.unwrap_err())
                };
                assert_eq!(error.outcome(), Outcome::Unknown, "{error}");
                assert!(!error.committed());
                assert_eq!(f.ran.get(), [] as [i64; 0]);
                assert_eq!(f.committed().await, [1]);
                $known(&mut f.reader, &error).await;
                f.finish().await;
            }
        }
    };
}

/// Postgres keeps the transaction id of an unknown COMMIT, and the server tells its fate.
async fn postgres_resolves(reader: &mut sqlx::PgConnection, error: &oncommit::Error) {
    use oncommit::postgres::{TransactionStatus, transaction_status};
    let id = error
        .transaction_id()
        .expect("a transaction that wrote has an id");
    assert_eq!(
        transaction_status(reader, id).await.unwrap(),
        TransactionStatus::Committed
    );
}

/// MariaDB has no transaction id to look up: the data itself must tell.
async fn mariadb_cannot_resolve(_: &mut sqlx::MySqlConnection, error: &oncommit::Error) {
    assert_eq!(error.transaction_id(), None);
}

fault_suite!(
    postgres,
    "DATABASE_URL",
    sqlx::PgConnection,
    sqlx::Postgres,
    postgres_resolves,
    session_id: "SELECT CAST(pg_backend_pid() AS BIGINT)",
    waits_for_lock: "SELECT count(*) FROM pg_locks WHERE pid = {session} AND NOT granted",
    // The session that waits longest runs the deadlock check and aborts itself.
    deadlock_victim: "SET deadlock_timeout = '50ms'",
);
fault_suite!(
    mariadb,
    "MYSQL_URL",
    sqlx::MySqlConnection,
    sqlx::MySql,
    mariadb_cannot_resolve,
    session_id: "SELECT CAST(CONNECTION_ID() AS SIGNED)",
    // The statement is running; it can only be waiting for the row lock.
    waits_for_lock: "SELECT count(*) FROM information_schema.processlist \
                     WHERE id = {session} AND info LIKE '%FOR UPDATE'",
    // InnoDB rolls back the transaction that wrote fewer rows.
    deadlock_victim: "SET innodb_lock_wait_timeout = 50",
);

/// Postgres aborts a transaction at its first failed statement and answers its COMMIT with
/// ROLLBACK, without an error. A body that swallows the failure (get-or-create on a duplicate
/// key) and returns `Ok` must not run its hooks for rows that were rolled back.
#[tokio::test]
async fn postgres_a_swallowed_error_fails_the_commit_and_runs_no_hook() {
    let Some(url) = service_url("DATABASE_URL") else {
        return;
    };
    let mut reader = sqlx::PgConnection::connect(&url).await.unwrap();
    let table = table_name();
    let create = format!("CREATE TABLE {table} (id BIGINT PRIMARY KEY)");
    sqlx::query(AssertSqlSafe(create))
        .execute(&mut reader)
        .await
        .unwrap();
    let insert = |id: i64| AssertSqlSafe(format!("INSERT INTO {table} (id) VALUES ({id})"));
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let mut conn = Conn::new(pool.acquire().await.unwrap());
    let ran = Ran::default();

    let error = conn
        .atomic_async(async |conn| {
            sqlx::query(insert(1)).execute(&mut ***conn).await?;
            conn.on_commit(ran.hook(1))?;
            let duplicate = sqlx::query(insert(1)).execute(&mut ***conn).await;
            assert!(duplicate.is_err());
            // a body that keeps going gets the server's "transaction is aborted" error
            let next = sqlx::query(insert(2)).execute(&mut ***conn).await;
            assert!(next.is_err());
            Ok::<_, AppError>(())
        })
        .await
        .unwrap_err();
    let error = oncommit_error(error);
    assert!(error.server_rolled_back(), "{error}");
    assert_eq!(error.outcome(), Outcome::NotCommitted);
    assert_eq!(ran.get(), [] as [i64; 0]);
    let select = format!("SELECT id FROM {table} ORDER BY id");
    let rows: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(select.clone()))
        .fetch_all(&mut reader)
        .await
        .unwrap();
    assert_eq!(rows, [] as [i64; 0]);

    // the connection is usable again
    conn.atomic_async(async |conn| {
        sqlx::query(insert(3)).execute(&mut ***conn).await?;
        conn.on_commit(ran.hook(3))?;
        Ok::<_, AppError>(())
    })
    .await
    .unwrap();
    assert_eq!(ran.get(), [3]);
    drop(conn);
    let rows: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(select))
        .fetch_all(&mut reader)
        .await
        .unwrap();
    assert_eq!(rows, [3]);
    let drop_table = format!("DROP TABLE {table}");
    sqlx::query(AssertSqlSafe(drop_table))
        .execute(&mut reader)
        .await
        .unwrap();
}

/// The same on diesel's `PgConnection`.
#[test]
fn diesel_postgres_a_swallowed_error_fails_the_commit_and_runs_no_hook() {
    use diesel::{Connection as _, RunQueryDsl};
    let Some(url) = service_url("DATABASE_URL") else {
        return;
    };
    let mut reader = diesel::PgConnection::establish(&url).unwrap();
    let table = table_name();
    diesel::sql_query(format!("CREATE TABLE {table} (id BIGINT PRIMARY KEY)"))
        .execute(&mut reader)
        .unwrap();
    let insert = |id: i64| diesel::sql_query(format!("INSERT INTO {table} (id) VALUES ({id})"));
    let mut conn = Conn::new(diesel::PgConnection::establish(&url).unwrap());
    let ran = Ran::default();
    let error = conn
        .atomic(|conn| {
            insert(1)
                .execute(&mut **conn)
                .map_err(oncommit::BoxError::from)?;
            conn.on_commit(ran.hook(1))?;
            assert!(insert(1).execute(&mut **conn).is_err()); // swallowed
            Ok::<_, oncommit::BoxError>(())
        })
        .unwrap_err();
    let error = error
        .downcast::<oncommit::Error>()
        .expect("oncommit's error");
    assert!(error.server_rolled_back(), "{error}");
    assert_eq!(ran.get(), [] as [i64; 0]);
    let count: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
        "(SELECT COUNT(*) FROM {table})"
    )))
    .get_result(&mut reader)
    .unwrap();
    assert_eq!(count, 0);
    conn.atomic(|conn| {
        insert(2)
            .execute(&mut **conn)
            .map_err(oncommit::BoxError::from)?;
        conn.on_commit(ran.hook(2))?;
        Ok::<_, oncommit::BoxError>(())
    })
    .unwrap();
    assert_eq!(ran.get(), [2]);
    diesel::sql_query(format!("DROP TABLE {table}"))
        .execute(&mut reader)
        .unwrap();
}

/// SQLite ends the whole transaction when a conflict is resolved with ROLLBACK. A body that
/// swallows that error and goes on must not commit its later statements one by one (they are
/// refused, each with an error), must not run any hook, and gets `Err` with
/// `server_rolled_back()`; the connection then works as before, in and out of transactions.
#[tokio::test]
async fn sqlite_a_swallowed_insert_or_rollback_conflict_commits_nothing_and_runs_no_hook() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("faults.db").display()
    );
    let mut reader = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        .execute(&mut reader)
        .await
        .unwrap();
    let insert = |id: i64| sqlx::query("INSERT INTO t (id) VALUES (?)").bind(id);
    let mut conn = Conn::new(sqlx::SqliteConnection::connect(&url).await.unwrap());
    let ran = Ran::default();
    let mut refused = Vec::new();
    let result = conn
        .atomic_async(async |conn| {
            insert(1).execute(&mut **conn).await?;
            conn.on_commit(ran.hook(1))?;
            conn.atomic_async(async |conn| {
                insert(2).execute(&mut **conn).await?;
                conn.on_commit(ran.hook(2))?;
                Ok::<_, AppError>(())
            })
            .await?;
            // The conflict rolls back the whole transaction; the body ignores it.
            let conflict = sqlx::query("INSERT OR ROLLBACK INTO t (id) VALUES (1)")
                .execute(&mut **conn)
                .await;
            assert!(conflict.is_err());
            // Without a transaction, each of these would commit on its own.
            for id in [3, 4] {
                refused.push(insert(id).execute(&mut **conn).await.is_err());
                conn.on_commit(ran.hook(id))?;
            }
            let nested = conn
                .atomic_async(async |conn| {
                    insert(5).execute(&mut **conn).await?;
                    conn.on_commit(ran.hook(5))?;
                    Ok::<_, AppError>(())
                })
                .await;
            assert!(nested.is_err(), "a nested block cannot commit either");
            Ok::<_, AppError>(())
        })
        .await;
    let error = oncommit_error(result.unwrap_err());
    assert!(error.server_rolled_back(), "{error}");
    assert_eq!(error.outcome(), Outcome::NotCommitted);
    assert_eq!(
        refused,
        [true, true],
        "statements after the rollback are refused"
    );
    assert_eq!(ran.get(), [] as [i64; 0]);
    let committed = || sqlx::query_scalar::<_, i64>("SELECT id FROM t ORDER BY id");
    assert_eq!(
        committed().fetch_all(&mut reader).await.unwrap(),
        [] as [i64; 0]
    );
    // Outside a transaction a statement commits; the next transaction commits and runs its hook.
    insert(6).execute(&mut *conn).await.unwrap();
    conn.atomic_async(async |conn| {
        insert(7).execute(&mut **conn).await?;
        conn.on_commit(ran.hook(7))?;
        Ok::<_, AppError>(())
    })
    .await
    .unwrap();
    assert_eq!(ran.get(), [7]);
    assert_eq!(committed().fetch_all(&mut reader).await.unwrap(), [6, 7]);
}
