//! `#[atomic(retry = N)]` and transaction options on real servers: a serialization failure
//! (Postgres) and a deadlock (MariaDB) make the whole transaction run again, only the hooks of
//! the attempt that commits run, and the database holds that attempt's writes, read from a
//! separate connection; `isolation` and `read_only` reach the server.
//!
//! Postgres needs `DATABASE_URL`, MariaDB `MYSQL_URL` (each test skips with a printed reason
//! when its variable is unset, and fails under `CI=true`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use oncommit::{Conn, ErrorKind, Isolation, TxOptions, atomic, enqueue};
use oncommit_tests::race::AppError;
use oncommit_tests::{service_url, unique_name};
use sqlx::{AssertSqlSafe, Connection, MySqlConnection, PgConnection};

fn table_name() -> String {
    unique_name("oncommit_retry")
}

/// The attempts a body made and the hooks that ran, in order.
#[derive(Clone, Default)]
struct Log {
    attempts: Arc<AtomicUsize>,
    hooks: Arc<Mutex<Vec<usize>>>,
}

impl Log {
    fn attempt(&self) -> usize {
        self.attempts.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn record(&self, attempt: usize) {
        self.hooks.lock().unwrap().push(attempt);
    }
}

async fn exec<'c, E: sqlx::Executor<'c>>(conn: E, sql: String) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(AssertSqlSafe(sql)).execute(conn).await?;
    Ok(())
}

/// Adds 10 to the counter under SERIALIZABLE. On the first attempt another connection adds 1
/// after this transaction took its snapshot, so the UPDATE fails with a serialization
/// failure (40001).
#[atomic(retry = 2, isolation = serializable)]
async fn add_ten(
    conn: &mut Conn<PgConnection>,
    other: &mut PgConnection,
    table: &str,
    log: &Log,
) -> Result<usize, AppError> {
    let attempt = log.attempt();
    let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT n FROM {table} WHERE id = 1")))
        .fetch_one(&mut **conn)
        .await?;
    if attempt == 1 {
        exec(other, format!("UPDATE {table} SET n = n + 1 WHERE id = 1")).await?;
    }
    exec(
        &mut **conn,
        format!("UPDATE {table} SET n = {} WHERE id = 1", n + 10),
    )
    .await?;
    enqueue!(log.record(attempt));
    Ok(attempt)
}

#[tokio::test]
async fn postgres_a_serialization_failure_runs_the_transaction_again() {
    let Some(url) = service_url("DATABASE_URL") else {
        return;
    };
    let mut reader = PgConnection::connect(&url).await.unwrap();
    let mut other = PgConnection::connect(&url).await.unwrap();
    let table = table_name();
    exec(
        &mut reader,
        format!("CREATE TABLE {table} (id INT PRIMARY KEY, n BIGINT)"),
    )
    .await
    .unwrap();
    exec(&mut reader, format!("INSERT INTO {table} VALUES (1, 0)"))
        .await
        .unwrap();
    let mut conn = Conn::new(PgConnection::connect(&url).await.unwrap());
    let log = Log::default();

    let attempt = add_ten(&mut conn, &mut other, &table, &log).await.unwrap();

    assert_eq!(
        attempt, 2,
        "the first attempt failed and the second committed"
    );
    assert_eq!(
        *log.hooks.lock().unwrap(),
        [2],
        "only the committed attempt's hook ran"
    );
    let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT n FROM {table}")))
        .fetch_one(&mut reader)
        .await
        .unwrap();
    assert_eq!(n, 11, "the other connection's +1 and one +10");
    exec(&mut reader, format!("DROP TABLE {table}"))
        .await
        .unwrap();
}

/// Without `retry`, the same conflict is returned to the caller, after one attempt.
#[tokio::test]
async fn postgres_without_retry_the_serialization_failure_is_returned() {
    let Some(url) = service_url("DATABASE_URL") else {
        return;
    };
    let mut reader = PgConnection::connect(&url).await.unwrap();
    let mut other = PgConnection::connect(&url).await.unwrap();
    let table = table_name();
    exec(
        &mut reader,
        format!("CREATE TABLE {table} (id INT PRIMARY KEY, n BIGINT)"),
    )
    .await
    .unwrap();
    exec(&mut reader, format!("INSERT INTO {table} VALUES (1, 0)"))
        .await
        .unwrap();
    let mut conn = Conn::new(PgConnection::connect(&url).await.unwrap());
    let log = Log::default();
    let serializable = TxOptions::new().isolation(Isolation::Serializable);
    let result = conn
        .atomic_async_with(serializable, async |conn| {
            let n: i64 =
                sqlx::query_scalar(AssertSqlSafe(format!("SELECT n FROM {table} WHERE id = 1")))
                    .fetch_one(&mut **conn)
                    .await?;
            exec(
                &mut other,
                format!("UPDATE {table} SET n = n + 1 WHERE id = 1"),
            )
            .await?;
            exec(
                &mut **conn,
                format!("UPDATE {table} SET n = {} WHERE id = 1", n + 10),
            )
            .await?;
            conn.on_commit({
                let log = log.clone();
                move || log.record(1)
            })?;
            Ok::<_, AppError>(())
        })
        .await;
    let error = result.unwrap_err();
    assert!(oncommit::Retryable::is_transient(&error), "{error}");
    assert!(log.hooks.lock().unwrap().is_empty());
    exec(&mut reader, format!("DROP TABLE {table}"))
        .await
        .unwrap();
}

/// The options reach the server: the body sees its transaction's isolation level and
/// read-only mode, and a write in a read-only transaction fails.
#[tokio::test]
async fn postgres_isolation_and_read_only_reach_the_server() {
    let Some(url) = service_url("DATABASE_URL") else {
        return;
    };
    let mut conn = Conn::new(PgConnection::connect(&url).await.unwrap());
    let options = TxOptions::new()
        .isolation(Isolation::RepeatableRead)
        .read_only();
    let seen = conn
        .atomic_async_with(options, async |conn| {
            let isolation: String = sqlx::query_scalar("SHOW transaction_isolation")
                .fetch_one(&mut **conn)
                .await?;
            let read_only: String = sqlx::query_scalar("SHOW transaction_read_only")
                .fetch_one(&mut **conn)
                .await?;
            Ok::<_, AppError>((isolation, read_only))
        })
        .await
        .unwrap();
    assert_eq!(seen, ("repeatable read".to_owned(), "on".to_owned()));
    let write = conn
        .atomic_async_with(TxOptions::new().read_only(), async |conn| {
            exec(
                &mut **conn,
                "CREATE TEMPORARY TABLE read_only_probe (id INT)".into(),
            )
            .await?;
            Ok::<_, AppError>(())
        })
        .await;
    assert!(matches!(write, Err(AppError::Db(_))), "{write:?}");
    // Back to defaults afterwards.
    let isolation: String = sqlx::query_scalar("SHOW transaction_isolation")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(isolation, "read committed");
}

/// Options belong to the outermost transaction: a nested block with options fails before
/// its body runs, and the outer transaction goes on.
#[tokio::test]
async fn postgres_options_on_a_nested_block_are_an_error() {
    let Some(url) = service_url("DATABASE_URL") else {
        return;
    };
    let mut conn = Conn::new(PgConnection::connect(&url).await.unwrap());
    let mut ran = false;
    conn.atomic_async(async |conn| {
        let nested = conn
            .atomic_async_with(TxOptions::new().read_only(), async |_| {
                ran = true;
                Ok::<_, AppError>(())
            })
            .await;
        match nested {
            Err(AppError::Tx(error)) => {
                assert_eq!(error.kind(), ErrorKind::OptionsNested, "{error}")
            }
            other => panic!("expected ErrorKind::OptionsNested, got {other:?}"),
        }
        Ok::<_, AppError>(())
    })
    .await
    .unwrap();
    assert!(!ran);
}

/// MariaDB: the deadlock victim's statement fails with 1213 (SQLSTATE 40001), the body
/// returns it, and the transaction runs again and commits once.
#[atomic(retry = 3)]
async fn lock_both_rows(
    conn: &mut Conn<MySqlConnection>,
    other: &mut MySqlConnection,
    reader: &mut MySqlConnection,
    table: &str,
    log: &Log,
) -> Result<usize, AppError> {
    let attempt = log.attempt();
    let lock = |id: i64| format!("SELECT id FROM {table} WHERE id = {id} FOR UPDATE");
    exec(&mut **conn, lock(1)).await?;
    exec(
        &mut **conn,
        format!("INSERT INTO {table} (id) VALUES ({})", 10 + attempt),
    )
    .await?;
    enqueue!(log.record(attempt));
    if attempt == 1 {
        // The other transaction writes more rows (InnoDB rolls back the smaller one), holds
        // row 2, and asks for row 1 once this one waits for row 2.
        sqlx::raw_sql("BEGIN").execute(&mut *other).await?;
        for id in 100..120 {
            exec(
                &mut *other,
                format!("INSERT INTO {table} (id) VALUES ({id})"),
            )
            .await?;
        }
        exec(&mut *other, lock(2)).await?;
        let session: i64 = sqlx::query_scalar("SELECT CAST(CONNECTION_ID() AS SIGNED)")
            .fetch_one(&mut **conn)
            .await?;
        let closes_the_cycle = async {
            loop {
                let waiting: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
                    "SELECT count(*) FROM information_schema.processlist \
                     WHERE id = {session} AND info LIKE '%FOR UPDATE'"
                )))
                .fetch_one(&mut *reader)
                .await?;
                if waiting > 0 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            exec(&mut *other, lock(1)).await?;
            sqlx::raw_sql("COMMIT").execute(&mut *other).await?;
            Ok::<_, sqlx::Error>(())
        };
        let (ours, theirs) = tokio::join!(exec(&mut **conn, lock(2)), closes_the_cycle);
        theirs?;
        ours?; // the deadlock: returned, so the attempt fails
    } else {
        exec(&mut **conn, lock(2)).await?;
    }
    Ok(attempt)
}

#[tokio::test]
async fn mariadb_a_deadlock_victim_runs_the_transaction_again() {
    let Some(url) = service_url("MYSQL_URL") else {
        return;
    };
    let mut reader = MySqlConnection::connect(&url).await.unwrap();
    let mut other = MySqlConnection::connect(&url).await.unwrap();
    let table = table_name();
    exec(
        &mut reader,
        format!("CREATE TABLE {table} (id BIGINT PRIMARY KEY)"),
    )
    .await
    .unwrap();
    exec(&mut reader, format!("INSERT INTO {table} VALUES (1), (2)"))
        .await
        .unwrap();
    let mut conn = Conn::new(MySqlConnection::connect(&url).await.unwrap());
    let log = Log::default();

    let attempt = lock_both_rows(&mut conn, &mut other, &mut reader, &table, &log)
        .await
        .unwrap();

    assert_eq!(attempt, 2);
    assert_eq!(*log.hooks.lock().unwrap(), [2]);
    let ids: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT id FROM {table} WHERE id < 100 ORDER BY id"
    )))
    .fetch_all(&mut reader)
    .await
    .unwrap();
    assert_eq!(ids, [1, 2, 12], "only the second attempt's row");
    exec(&mut reader, format!("DROP TABLE {table}"))
        .await
        .unwrap();
}

/// MariaDB: `isolation` and `read_only` reach the server (InnoDB reports the transaction's
/// level; a write in a read-only transaction fails), and autocommit is back on after.
#[tokio::test]
async fn mariadb_isolation_and_read_only_reach_the_server() {
    let Some(url) = service_url("MYSQL_URL") else {
        return;
    };
    let mut conn = Conn::new(MySqlConnection::connect(&url).await.unwrap());
    let table = table_name();
    exec(
        &mut *conn,
        format!("CREATE TABLE {table} (id BIGINT PRIMARY KEY)"),
    )
    .await
    .unwrap();
    let options = TxOptions::new().isolation(Isolation::Serializable);
    let level = conn
        .atomic_async_with(options, async |conn| {
            exec(&mut **conn, format!("INSERT INTO {table} VALUES (1)")).await?;
            let level: String = sqlx::query_scalar(
                "SELECT trx_isolation_level FROM information_schema.innodb_trx \
                 WHERE trx_mysql_thread_id = CONNECTION_ID()",
            )
            .fetch_one(&mut **conn)
            .await?;
            Ok::<_, AppError>(level)
        })
        .await
        .unwrap();
    assert_eq!(level, "SERIALIZABLE");
    let write = conn
        .atomic_async_with(TxOptions::new().read_only(), async |conn| {
            exec(&mut **conn, format!("INSERT INTO {table} VALUES (2)")).await?;
            Ok::<_, AppError>(())
        })
        .await;
    assert!(matches!(write, Err(AppError::Db(_))), "{write:?}");
    exec(&mut *conn, format!("INSERT INTO {table} VALUES (3)"))
        .await
        .unwrap(); // autocommits
    let mut reader = MySqlConnection::connect(&url).await.unwrap();
    let ids: Vec<i64> =
        sqlx::query_scalar(AssertSqlSafe(format!("SELECT id FROM {table} ORDER BY id")))
            .fetch_all(&mut reader)
            .await
            .unwrap();
    assert_eq!(ids, [1, 3]);
    exec(&mut reader, format!("DROP TABLE {table}"))
        .await
        .unwrap();
}
