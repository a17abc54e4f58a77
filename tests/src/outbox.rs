//! The outbox on each database, for the relay suites: a migrated pool (the relay's store),
//! writers (`Conn` on a connection of that pool) and readers of the outbox and dead-letter
//! tables, each on a connection of its own.

use std::future::Future;

use oncommit::outbox::store::Store;
use oncommit::outbox::{Dialect, inbox, migrate};
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

    /// Creates the table `name (n BIGINT PRIMARY KEY)`, for the rows the jobs are about.
    fn create_table(&self, name: &str) -> impl Future<Output = ()> + Send;

    /// Inserts `n` into the table `name` on `conn` (inside its transaction, if any).
    fn insert<'a>(
        conn: &'a mut Conn<Self::Conn>,
        name: &'a str,
        n: i64,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'a;

    /// Every `n` the table `name` holds (committed), read on a connection of its own.
    fn committed(&self, name: &str) -> impl Future<Output = Vec<i64>> + Send;

    /// [`inbox::receive`] on `conn` (inside its transaction, if any).
    fn receive(
        conn: &mut Conn<Self::Conn>,
        id: Uuid,
    ) -> impl Future<Output = Result<bool, sqlx::Error>> + Send;

    /// [`inbox::expire`] on the pool.
    fn expire_inbox(
        &self,
        older_than: std::time::Duration,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send;
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

            async fn create_table(&self, name: &str) {
                let sql = format!("CREATE TABLE IF NOT EXISTS {name} (n BIGINT PRIMARY KEY)");
                sqlx::query(AssertSqlSafe(sql))
                    .execute(&self.pool)
                    .await
                    .expect("create the table");
            }

            async fn insert<'a>(
                conn: &'a mut Conn<Self::Conn>,
                name: &'a str,
                n: i64,
            ) -> Result<(), sqlx::Error> {
                let sql = format!("INSERT INTO {name} (n) VALUES ({})", $placeholder);
                sqlx::query(AssertSqlSafe(sql))
                    .bind(n)
                    .execute(&mut ***conn)
                    .await?;
                Ok(())
            }

            async fn receive(conn: &mut Conn<Self::Conn>, id: Uuid) -> Result<bool, sqlx::Error> {
                inbox::receive(conn.executor(), id).await
            }

            async fn expire_inbox(
                &self,
                older_than: std::time::Duration,
            ) -> Result<u64, sqlx::Error> {
                let mut conn = self.pool.acquire().await?;
                inbox::expire(&mut *conn, older_than).await
            }

            async fn committed(&self, name: &str) -> Vec<i64> {
                let sql = format!("SELECT n FROM {name} ORDER BY n");
                sqlx::query_scalar(AssertSqlSafe(sql))
                    .fetch_all(&self.pool)
                    .await
                    .expect("read the table")
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

impl SqliteOutbox {
    /// The outbox in the SQLite file at `path` (created if missing, WAL mode).
    pub async fn open(path: &std::path::Path) -> Result<SqliteOutbox, sqlx::Error> {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .busy_timeout(std::time::Duration::from_secs(30));
        let pool = sqlx::pool::PoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        migrate(&pool, Dialect::Sqlite).await?;
        inbox::migrate(&pool, Dialect::Sqlite).await?;
        Ok(SqliteOutbox { pool, _dir: None })
    }
}

impl PostgresOutbox {
    /// The outbox on the Postgres at `url`.
    pub async fn connect(url: &str) -> Result<PostgresOutbox, sqlx::Error> {
        let pool = sqlx::pool::PoolOptions::new()
            .max_connections(6)
            .connect(url)
            .await?;
        migrate(&pool, Dialect::Postgres).await?;
        inbox::migrate(&pool, Dialect::Postgres).await?;
        Ok(PostgresOutbox { pool, _dir: None })
    }
}

impl MariaDbOutbox {
    /// The outbox on the MariaDB (or MySQL) at `url`.
    pub async fn connect(url: &str) -> Result<MariaDbOutbox, sqlx::Error> {
        let pool = sqlx::pool::PoolOptions::new()
            .max_connections(6)
            .connect(url)
            .await?;
        migrate(&pool, Dialect::MySql).await?;
        inbox::migrate(&pool, Dialect::MySql).await?;
        Ok(MariaDbOutbox { pool, _dir: None })
    }
}

/// The outbox on a fresh SQLite file (always available).
pub async fn sqlite() -> Option<SqliteOutbox> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut db = SqliteOutbox::open(&dir.path().join("outbox.db"))
        .await
        .expect("open the SQLite file");
    db._dir = Some(std::sync::Arc::new(dir));
    Some(db)
}

/// The outbox on `DATABASE_URL`; `None` (printed) when unset or unreachable outside CI.
pub async fn postgres() -> Option<PostgresOutbox> {
    let url = service_url("DATABASE_URL")?;
    match PostgresOutbox::connect(&url).await {
        Ok(db) => Some(db),
        Err(error) => service_unreachable("DATABASE_URL", &error),
    }
}

/// The outbox on `MYSQL_URL`.
pub async fn mariadb() -> Option<MariaDbOutbox> {
    let url = service_url("MYSQL_URL")?;
    match MariaDbOutbox::connect(&url).await {
        Ok(db) => Some(db),
        Err(error) => service_unreachable("MYSQL_URL", &error),
    }
}

/// Cases of one test binary that drive a relay over the shared outbox table take turns: on
/// MariaDB a claim skips the rows a neighbouring case's claim has locked while it scans
/// (`SKIP LOCKED`), which would make a case's exact figures depend on its neighbours.
pub static ONE_CASE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
