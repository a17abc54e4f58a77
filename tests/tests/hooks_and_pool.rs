//! A hook that needs a connection from the pool the `Conn` came from: the `Conn` still holds
//! its connection while the hooks run (they run inside the `#[atomic]` call, right after
//! COMMIT), so with a pool of one such a hook would wait for itself. The pattern the README
//! gives: the hook spawns the work, which checks a connection out once the `Conn` let its own
//! go. Proven on a pool of one: the work's row is committed, read from a separate connection.
//!
//! Needs `DATABASE_URL`.

use oncommit::{Conn, atomic, enqueue};
use oncommit_tests::race::AppError;
use oncommit_tests::service_url;
use sqlx::pool::PoolConnection;
use sqlx::{AssertSqlSafe, Connection, PgPool, Postgres};
use tokio::sync::mpsc;

/// The after-commit work: runs on its own task, with its own connection from the pool.
fn spawn_audit(pool: PgPool, table: String, id: i64, done: mpsc::UnboundedSender<i64>) {
    tokio::spawn(async move {
        let written = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {table} (id, audited) VALUES ({id}, TRUE) \
             ON CONFLICT (id) DO UPDATE SET audited = TRUE"
        )))
        .execute(&pool)
        .await;
        let _ = done.send(if written.is_ok() { id } else { -id });
    });
}

#[atomic]
async fn sign_up(
    conn: &mut Conn<PoolConnection<Postgres>>,
    pool: &PgPool,
    table: &str,
    id: i64,
    done: &mpsc::UnboundedSender<i64>,
) -> Result<(), AppError> {
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {table} (id, audited) VALUES ({id}, FALSE)"
    )))
    .execute(&mut ***conn)
    .await?;
    enqueue!(spawn_audit(
        pool.clone(),
        table.to_owned(),
        id,
        done.clone()
    ));
    Ok(())
}

#[tokio::test]
async fn a_hook_that_needs_the_pool_spawns_its_work() {
    let Some(url) = service_url("DATABASE_URL") else {
        return;
    };
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    let table = format!("oncommit_hooks_pool_{}", std::process::id());
    sqlx::query(AssertSqlSafe(format!(
        "CREATE TABLE {table} (id BIGINT PRIMARY KEY, audited BOOLEAN)"
    )))
    .execute(&pool)
    .await
    .unwrap();
    let (done, mut finished) = mpsc::unbounded_channel();
    {
        let mut conn = Conn::new(pool.acquire().await.unwrap());
        sign_up(&mut conn, &pool, &table, 7, &done).await.unwrap();
    } // the Conn gives its connection back; the spawned work gets it
    assert_eq!(finished.recv().await, Some(7));
    let mut reader = sqlx::PgConnection::connect(&url).await.unwrap();
    let audited: bool = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT audited FROM {table} WHERE id = 7"
    )))
    .fetch_one(&mut reader)
    .await
    .unwrap();
    assert!(audited);
    sqlx::query(AssertSqlSafe(format!("DROP TABLE {table}")))
        .execute(&mut reader)
        .await
        .unwrap();
}
