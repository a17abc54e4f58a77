//! Adopting oncommit one function at a time in existing sqlx code, on Postgres
//! (`DATABASE_URL`): a transaction opened with `pool.begin()` adopted so that its COMMIT runs
//! the hooks; a `Conn` over a borrowed `&mut PgConnection`; `#[atomic]` fns returning
//! `Result<T, sqlx::Error>`; one spelling of the executor for every kind of `Conn`. What the
//! database holds is read on a connection of its own.

use std::sync::{Arc, Mutex};

use oncommit::{AsConnection, AsyncBackend, Conn, ErrorKind, atomic};
use oncommit_tests::{service_url, unique_name};
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool};

/// A pool, a reader, and a fresh table `name (id BIGINT PRIMARY KEY)`.
async fn setup() -> Option<(PgPool, PgConnection, String)> {
    let url = service_url("DATABASE_URL")?;
    let pool = PgPool::connect(&url).await.expect("Postgres");
    let mut reader = PgConnection::connect(&url).await.expect("Postgres");
    let table = unique_name("adoption");
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE TABLE {table} (id BIGINT PRIMARY KEY, \
         parent BIGINT REFERENCES {table} (id) DEFERRABLE INITIALLY DEFERRED)"
    )))
    .execute(&mut reader)
    .await
    .unwrap();
    Some((pool, reader, table))
}

async fn ids(reader: &mut PgConnection, table: &str) -> Vec<i64> {
    sqlx::query_scalar(AssertSqlSafe(format!("SELECT id FROM {table} ORDER BY id")))
        .fetch_all(reader)
        .await
        .unwrap()
}

/// Inserts `id` through whatever kind of `Conn` on Postgres: one spelling for all.
async fn insert<C>(conn: &mut Conn<C>, table: &str, id: i64) -> Result<(), sqlx::Error>
where
    C: AsyncBackend + AsConnection<Connection = PgConnection>,
{
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {table} (id) VALUES ($1)"
    )))
    .bind(id)
    .execute(conn.executor())
    .await?;
    Ok(())
}

type Ran = Arc<Mutex<Vec<i64>>>;

/// An `#[atomic]` fn in sqlx style: its error type is `sqlx::Error`. It inserts `id` and
/// defers recording it.
#[atomic]
async fn add<C>(conn: &mut Conn<C>, table: &str, id: i64, ran: Ran) -> Result<(), sqlx::Error>
where
    C: AsyncBackend + AsConnection<Connection = PgConnection>,
{
    insert(conn, table, id).await?;
    conn.on_commit(move || ran.lock().unwrap().push(id))?;
    Ok(())
}

#[tokio::test]
async fn an_adopted_transaction_runs_its_hooks_after_its_commit() {
    let Some((pool, mut reader, table)) = setup().await else {
        return;
    };
    let ran = Ran::default();
    // Code that knows nothing of oncommit opens the transaction.
    let tx = pool.begin().await.unwrap();
    let mut conn = Conn::adopt(tx).await.unwrap();
    assert_eq!(conn.depth(), 1);
    insert(&mut conn, &table, 1).await.unwrap();
    add(&mut conn, &table, 2, ran.clone()).await.unwrap();
    let rolled_back = conn
        .atomic_async(async |conn| {
            add(conn, &table, 3, ran.clone()).await?;
            Err::<(), _>(sqlx::Error::RowNotFound)
        })
        .await;
    assert!(rolled_back.is_err());
    assert_eq!(ids(&mut reader, &table).await, [] as [i64; 0]);
    assert!(ran.lock().unwrap().is_empty(), "no hook before COMMIT");
    conn.commit().await.unwrap();
    assert_eq!(ids(&mut reader, &table).await, [1, 2]);
    assert_eq!(*ran.lock().unwrap(), [2]);
}

#[tokio::test]
async fn an_adopted_transaction_dropped_or_rolled_back_runs_nothing() {
    let Some((pool, mut reader, table)) = setup().await else {
        return;
    };
    let ran = Ran::default();
    let mut conn = Conn::adopt(pool.begin().await.unwrap()).await.unwrap();
    add(&mut conn, &table, 1, ran.clone()).await.unwrap();
    drop(conn);
    let mut conn = Conn::adopt(pool.begin().await.unwrap()).await.unwrap();
    add(&mut conn, &table, 2, ran.clone()).await.unwrap();
    conn.rollback().await.unwrap();
    assert_eq!(ids(&mut reader, &table).await, [] as [i64; 0]);
    assert!(ran.lock().unwrap().is_empty());
}

#[tokio::test]
async fn adopting_a_connection_outside_a_transaction_is_refused() {
    let Some((pool, _reader, _table)) = setup().await else {
        return;
    };
    let error = Conn::adopt(pool.acquire().await.unwrap())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ForeignTransaction, "{error}");
}

#[tokio::test]
async fn a_conn_over_a_borrowed_connection() {
    let Some((pool, mut reader, table)) = setup().await else {
        return;
    };
    let ran = Ran::default();
    let mut connection = pool.acquire().await.unwrap().detach();
    {
        let mut conn = Conn::new(&mut connection);
        add(&mut conn, &table, 1, ran.clone()).await.unwrap();
    }
    // The connection is the caller's again, outside any transaction.
    let n: i64 = sqlx::query_scalar("SELECT CAST(1 AS BIGINT)")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(n, 1);
    // The same fn on a pooled connection, and on a plain one.
    let mut pooled = Conn::new(pool.acquire().await.unwrap());
    add(&mut pooled, &table, 2, ran.clone()).await.unwrap();
    let mut plain = Conn::new(connection);
    add(&mut plain, &table, 3, ran.clone()).await.unwrap();
    assert_eq!(ids(&mut reader, &table).await, [1, 2, 3]);
    assert_eq!(*ran.lock().unwrap(), [1, 2, 3]);
}

/// A failed COMMIT comes back as `sqlx::Error::Database`: the database's SQLSTATE and
/// constraint, oncommit's message, and oncommit's error behind it.
#[tokio::test]
async fn a_failed_commit_is_a_sqlx_database_error() {
    let Some((pool, mut reader, table)) = setup().await else {
        return;
    };
    #[atomic]
    async fn orphan(conn: &mut Conn<PgConnection>, table: &str) -> Result<(), sqlx::Error> {
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {table} (id, parent) VALUES (1, 404)"
        )))
        .execute(&mut **conn)
        .await?;
        Ok(())
    }
    let mut conn = Conn::new(pool.acquire().await.unwrap().detach());
    let error = orphan(&mut conn, &table).await.unwrap_err();
    let sqlx::Error::Database(database) = &error else {
        panic!("expected sqlx::Error::Database, got {error:?}")
    };
    assert_eq!(database.code().as_deref(), Some("23503"), "{error}");
    assert!(database.is_foreign_key_violation());
    assert_eq!(database.message(), "COMMIT failed at transaction depth 1");
    let original = database
        .try_downcast_ref::<oncommit::Error>()
        .expect("oncommit's error");
    assert!(!original.committed());
    assert_eq!(ids(&mut reader, &table).await, [] as [i64; 0]);
}
