//! The outbox on each database, for the relay suites: a migrated pool (the relay's store),
//! writers (`Conn` on a connection of that pool) and readers of the outbox and dead-letter
//! tables, each on a connection of its own.

use std::future::Future;

use oncommit::outbox::store::Store;
use oncommit::outbox::{Dialect, migrate};
use oncommit::{AsyncBackend, Conn};
use sqlx::pool::PoolConnection;
use sqlx::{AssertSqlSafe, Database, Pool};
use uuid::Uuid;

use crate::{service_unreachable, service_url};

/// An outbox row as a reader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Its message id.
    pub id: Uuid,
    /// Claims counted so far.
    pub attempts: i32,
    /// Whether some relay holds it (or holds it back until a retry).
    pub leased: bool,
    /// The last publish error recorded.
    pub last_error: Option<String>,
}

/// A database with the outbox tables, shared by a relay and the suite's writers.
pub trait OutboxDb: Clone + Send + Sync + 'static {
    /// The sqlx database.
    type Db: Database;
    /// The pool, the relay's store.
    type Pool: Store + Clone + Send + Sync + 'static;
    /// What a writer's `Conn` wraps.
    type Conn: AsyncBackend + Send + 'static;

    /// For messages.
    const NAME: &'static str;

    /// The relay's store.
    fn pool(&self) -> &Self::Pool;

    /// A `Conn` on a connection of its own.
    fn writer(&self) -> impl Future<Output = Conn<Self::Conn>> + Send;

    /// The outbox rows of `topic`, read on a connection of its own, by id.
    fn rows(&self, topic: &str) -> impl Future<Output = Vec<Row>> + Send;

    /// The dead-letter rows of `topic`, by id.
    fn dead(&self, topic: &str) -> impl Future<Output = Vec<Row>> + Send;

    /// Deletes every row of `topic` (left by an earlier run) from both tables.
    fn forget(&self, topic: &str) -> impl Future<Output = ()> + Send;

    /// Ends every lease and backoff of `topic`'s rows, as the clock would.
    fn end_leases(&self, topic: &str) -> impl Future<Output = ()> + Send;
}

/// The SQL reading rows of a topic (`$1`/`?`) with the dialect's id text.
fn rows_sql(table: &str, id_text: &str, placeholder: &str, leased: &str) -> String {
    format!(
        "SELECT {id_text}, attempts, {leased}, last_error FROM {table} \
         WHERE topic = {placeholder} ORDER BY {id_text}"
    )
}

fn to_rows(rows: Vec<(String, i32, i64, Option<String>)>) -> Vec<Row> {
    rows.into_iter()
        .map(|(id, attempts, leased, last_error)| Row {
            id: Uuid::parse_str(&id).expect("a message id"),
            attempts,
            leased: leased != 0,
            last_error,
        })
        .collect()
}

macro_rules! outbox_db {
    (
        $name:ident, $label:literal, $db:ty,
        id: $id_text:literal, placeholder: $placeholder:literal, int: $int:literal $(,)?
    ) => {
        #[doc = concat!("The outbox on ", $label, ".")]
        #[derive(Clone, Debug)]
        pub struct $name {
            pool: Pool<$db>,
            _dir: Option<std::sync::Arc<tempfile::TempDir>>,
        }

        impl OutboxDb for $name {
            type Db = $db;
            type Pool = Pool<$db>;
            type Conn = PoolConnection<$db>;
            const NAME: &'static str = $label;

            fn pool(&self) -> &Self::Pool {
                &self.pool
            }

            async fn writer(&self) -> Conn<Self::Conn> {
                Conn::new(self.pool.acquire().await.expect("a writer connection"))
            }

            async fn rows(&self, topic: &str) -> Vec<Row> {
                self.read("oncommit_outbox", topic).await
            }

            async fn dead(&self, topic: &str) -> Vec<Row> {
                self.read("oncommit_outbox_dead", topic).await
            }

            async fn forget(&self, topic: &str) {
                self.clear(topic).await
            }

            async fn end_leases(&self, topic: &str) {
                let sql = format!(
                    "UPDATE oncommit_outbox SET lease_until = NULL WHERE topic = {}",
                    $placeholder
                );
                sqlx::query(AssertSqlSafe(sql))
                    .bind(topic)
                    .execute(&self.pool)
                    .await
                    .expect("end the leases");
            }
        }

        impl $name {
            async fn read(&self, table: &str, topic: &str) -> Vec<Row> {
                let leased = if table == "oncommit_outbox" {
                    format!(
                        "CAST(CASE WHEN lease_until IS NULL THEN 0 ELSE 1 END AS {})",
                        $int
                    )
                } else {
                    format!("CAST(0 AS {})", $int)
                };
                let sql = rows_sql(table, $id_text, $placeholder, &leased);
                let mut reader = self.pool.acquire().await.expect("a reader connection");
                let rows: Vec<(String, i32, i64, Option<String>)> =
                    sqlx::query_as(AssertSqlSafe(sql))
                        .bind(topic)
                        .fetch_all(&mut *reader)
                        .await
                        .expect("read the outbox");
                to_rows(rows)
            }
        }

        impl $name {
            /// See [`OutboxDb::forget`].
            async fn clear(&self, topic: &str) {
                for table in ["oncommit_outbox", "oncommit_outbox_dead"] {
                    let sql = format!("DELETE FROM {table} WHERE topic = {}", $placeholder);
                    sqlx::query(AssertSqlSafe(sql))
                        .bind(topic)
                        .execute(&self.pool)
                        .await
                        .expect("clear the outbox");
                }
            }
        }
    };
}

outbox_db!(SqliteOutbox, "SQLite", sqlx::Sqlite, id: "id", placeholder: "?", int: "INTEGER");
outbox_db!(
    PostgresOutbox, "Postgres", sqlx::Postgres,
    id: "CAST(id AS TEXT)", placeholder: "$1", int: "BIGINT",
);
outbox_db!(MariaDbOutbox, "MariaDB", sqlx::MySql, id: "id", placeholder: "?", int: "SIGNED");

/// The outbox on a fresh SQLite file (always available).
pub async fn sqlite() -> Option<SqliteOutbox> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join("outbox.db"))
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
    let pool = sqlx::pool::PoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .expect("open the SQLite file");
    migrate(&pool, Dialect::Sqlite)
        .await
        .expect("create the outbox");
    Some(SqliteOutbox {
        pool,
        _dir: Some(std::sync::Arc::new(dir)),
    })
}

/// The outbox on `DATABASE_URL`; `None` (printed) when unset or unreachable outside CI.
pub async fn postgres() -> Option<PostgresOutbox> {
    let url = service_url("DATABASE_URL")?;
    let pool = match sqlx::pool::PoolOptions::new()
        .max_connections(6)
        .connect(&url)
        .await
    {
        Ok(pool) => pool,
        Err(error) => return service_unreachable("DATABASE_URL", &error),
    };
    migrate(&pool, Dialect::Postgres)
        .await
        .expect("create the outbox");
    Some(PostgresOutbox { pool, _dir: None })
}

/// The outbox on `MYSQL_URL`.
pub async fn mariadb() -> Option<MariaDbOutbox> {
    let url = service_url("MYSQL_URL")?;
    let pool = match sqlx::pool::PoolOptions::new()
        .max_connections(6)
        .connect(&url)
        .await
    {
        Ok(pool) => pool,
        Err(error) => return service_unreachable("MYSQL_URL", &error),
    };
    migrate(&pool, Dialect::MySql)
        .await
        .expect("create the outbox");
    Some(MariaDbOutbox { pool, _dir: None })
}
