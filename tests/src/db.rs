//! Connection factories for the semantics suites: one trait, [`TestDb`], over a real SQLite
//! file, Postgres and MariaDB, each as a plain sqlx connection and as a `PoolConnection`.
//!
//! A suite is written once as generic `async fn case<D: TestDb>(db: &D)` and run on every
//! factory. Factories of services come from [`postgres`], [`mariadb`] and friends: `None`
//! (after printing why) when the service's variable is unset or the service is unreachable,
//! and a panic instead under `CI=true`.

use std::future::Future;
use std::sync::Arc;

use oncommit::AsyncBackend;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{AssertSqlSafe, Connection, MySqlConnection, PgConnection, SqliteConnection};

use crate::{service_unreachable, service_url};

/// A database the semantics suites can run on.
pub trait TestDb: Clone + Send + Sync + 'static {
    /// What `Conn` wraps: a sqlx connection or a `PoolConnection`.
    type Conn: AsyncBackend + Send + 'static;

    /// For messages.
    const NAME: &'static str;

    /// Whether a deferred foreign key can make `COMMIT` fail (Postgres and SQLite; MariaDB
    /// checks every constraint at once).
    const DEFERRED_CONSTRAINTS: bool;

    /// For a server: the query giving a connection's session id, and the statement (with
    /// `{id}`) another connection runs to kill that session. `None` for SQLite.
    const KILL_SESSION: Option<(&'static str, &'static str)>;

    /// A fresh connection (panics when the database went away mid-test).
    fn connect(&self) -> impl Future<Output = Self::Conn> + Send;

    /// Runs one statement, returning the rows affected.
    fn exec(
        conn: &mut Self::Conn,
        sql: String,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + '_;

    /// Runs a query whose single column is a 64-bit integer.
    fn ints(
        conn: &mut Self::Conn,
        sql: String,
    ) -> impl Future<Output = Result<Vec<i64>, sqlx::Error>> + Send + '_;

    /// Begins a transaction with sqlx's own `Acquire::begin` and leaks the `Transaction`
    /// guard: the connection stays inside a transaction oncommit did not open.
    fn begin_foreign(conn: &mut Self::Conn) -> impl Future<Output = ()> + Send + '_;
}

macro_rules! exec_and_ints {
    ($conn:ident => $executor:expr) => {
        fn exec(
            $conn: &mut Self::Conn,
            sql: String,
        ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + '_ {
            async move {
                let done = sqlx::query(AssertSqlSafe(sql)).execute($executor).await?;
                Ok(done.rows_affected())
            }
        }

        fn ints(
            $conn: &mut Self::Conn,
            sql: String,
        ) -> impl Future<Output = Result<Vec<i64>, sqlx::Error>> + Send + '_ {
            sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql)).fetch_all($executor)
        }

        fn begin_foreign($conn: &mut Self::Conn) -> impl Future<Output = ()> + Send + '_ {
            async move {
                let transaction = sqlx::Acquire::begin($executor)
                    .await
                    .expect("BEGIN through sqlx");
                std::mem::forget(transaction);
            }
        }
    };
}

/// A plain `PgConnection` on `DATABASE_URL`.
#[derive(Clone, Debug)]
pub struct Postgres {
    url: String,
}

/// A `PoolConnection<Postgres>` from a pool on `DATABASE_URL`.
#[derive(Clone, Debug)]
pub struct PostgresPool {
    pool: sqlx::PgPool,
}

/// A plain `MySqlConnection` on `MYSQL_URL` (MariaDB).
#[derive(Clone, Debug)]
pub struct MariaDb {
    url: String,
}

/// A `PoolConnection<MySql>` from a pool on `MYSQL_URL`.
#[derive(Clone, Debug)]
pub struct MariaDbPool {
    pool: sqlx::MySqlPool,
}

/// A plain `SqliteConnection` on a fresh database file in a temporary directory (WAL mode,
/// foreign keys on). Always available.
#[derive(Clone, Debug)]
pub struct SqliteFile {
    options: SqliteConnectOptions,
    _dir: Arc<tempfile::TempDir>,
}

/// A `PoolConnection<Sqlite>` on a fresh database file.
#[derive(Clone, Debug)]
pub struct SqliteFilePool {
    pool: sqlx::SqlitePool,
    _dir: Arc<tempfile::TempDir>,
}

impl TestDb for Postgres {
    type Conn = PgConnection;
    const NAME: &'static str = "Postgres";
    const DEFERRED_CONSTRAINTS: bool = true;
    const KILL_SESSION: Option<(&'static str, &'static str)> = Some((
        "SELECT CAST(pg_backend_pid() AS BIGINT)",
        "SELECT pg_terminate_backend({id}, 10000)",
    ));

    async fn connect(&self) -> Self::Conn {
        PgConnection::connect(&self.url)
            .await
            .expect("connect to DATABASE_URL")
    }

    exec_and_ints!(conn => conn);
}

impl TestDb for PostgresPool {
    type Conn = PoolConnection<sqlx::Postgres>;
    const NAME: &'static str = "Postgres pool";
    const DEFERRED_CONSTRAINTS: bool = true;
    const KILL_SESSION: Option<(&'static str, &'static str)> = Some((
        "SELECT CAST(pg_backend_pid() AS BIGINT)",
        "SELECT pg_terminate_backend({id}, 10000)",
    ));

    async fn connect(&self) -> Self::Conn {
        self.pool.acquire().await.expect("acquire from the pool")
    }

    exec_and_ints!(conn => &mut **conn);
}

impl TestDb for MariaDb {
    type Conn = MySqlConnection;
    const NAME: &'static str = "MariaDB";
    const DEFERRED_CONSTRAINTS: bool = false;
    const KILL_SESSION: Option<(&'static str, &'static str)> =
        Some(("SELECT CAST(CONNECTION_ID() AS SIGNED)", "KILL {id}"));

    async fn connect(&self) -> Self::Conn {
        MySqlConnection::connect(&self.url)
            .await
            .expect("connect to MYSQL_URL")
    }

    exec_and_ints!(conn => conn);
}

impl TestDb for MariaDbPool {
    type Conn = PoolConnection<sqlx::MySql>;
    const NAME: &'static str = "MariaDB pool";
    const DEFERRED_CONSTRAINTS: bool = false;
    const KILL_SESSION: Option<(&'static str, &'static str)> =
        Some(("SELECT CAST(CONNECTION_ID() AS SIGNED)", "KILL {id}"));

    async fn connect(&self) -> Self::Conn {
        self.pool.acquire().await.expect("acquire from the pool")
    }

    exec_and_ints!(conn => &mut **conn);
}

impl TestDb for SqliteFile {
    type Conn = SqliteConnection;
    const NAME: &'static str = "SQLite";
    const DEFERRED_CONSTRAINTS: bool = true;
    const KILL_SESSION: Option<(&'static str, &'static str)> = None;

    async fn connect(&self) -> Self::Conn {
        SqliteConnection::connect_with(&self.options)
            .await
            .expect("open the SQLite file")
    }

    exec_and_ints!(conn => conn);
}

impl TestDb for SqliteFilePool {
    type Conn = PoolConnection<sqlx::Sqlite>;
    const NAME: &'static str = "SQLite pool";
    const DEFERRED_CONSTRAINTS: bool = true;
    const KILL_SESSION: Option<(&'static str, &'static str)> = None;

    async fn connect(&self) -> Self::Conn {
        self.pool.acquire().await.expect("acquire from the pool")
    }

    exec_and_ints!(conn => &mut **conn);
}

fn sqlite_options() -> (SqliteConnectOptions, Arc<tempfile::TempDir>) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let options = SqliteConnectOptions::new()
        .filename(dir.path().join("oncommit.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .foreign_keys(true);
    (options, Arc::new(dir))
}

/// A fresh SQLite database file (always available).
pub async fn sqlite() -> Option<SqliteFile> {
    let (options, dir) = sqlite_options();
    Some(SqliteFile { options, _dir: dir })
}

/// A pool on a fresh SQLite database file (always available).
pub async fn sqlite_pool() -> Option<SqliteFilePool> {
    let (options, dir) = sqlite_options();
    let pool = sqlx::pool::PoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .expect("open the SQLite file");
    Some(SqliteFilePool { pool, _dir: dir })
}

/// Postgres on `DATABASE_URL`; `None` (printed) when unset or unreachable outside CI.
pub async fn postgres() -> Option<Postgres> {
    let url = service_url("DATABASE_URL")?;
    match PgConnection::connect(&url).await {
        Ok(conn) => {
            let _ = conn.close().await;
            Some(Postgres { url })
        }
        Err(error) => service_unreachable("DATABASE_URL", &error),
    }
}

/// A pool on `DATABASE_URL`.
pub async fn postgres_pool() -> Option<PostgresPool> {
    let url = service_url("DATABASE_URL")?;
    match sqlx::pool::PoolOptions::new()
        .max_connections(4)
        .connect(&url)
        .await
    {
        Ok(pool) => Some(PostgresPool { pool }),
        Err(error) => service_unreachable("DATABASE_URL", &error),
    }
}

/// MariaDB on `MYSQL_URL`.
pub async fn mariadb() -> Option<MariaDb> {
    let url = service_url("MYSQL_URL")?;
    match MySqlConnection::connect(&url).await {
        Ok(conn) => {
            let _ = conn.close().await;
            Some(MariaDb { url })
        }
        Err(error) => service_unreachable("MYSQL_URL", &error),
    }
}

/// A pool on `MYSQL_URL`.
pub async fn mariadb_pool() -> Option<MariaDbPool> {
    let url = service_url("MYSQL_URL")?;
    match sqlx::pool::PoolOptions::new()
        .max_connections(4)
        .connect(&url)
        .await
    {
        Ok(pool) => Some(MariaDbPool { pool }),
        Err(error) => service_unreachable("MYSQL_URL", &error),
    }
}

/// A table of one test: `id BIGINT PRIMARY KEY` plus a nullable self-reference `parent`
/// checked at COMMIT where the database can defer it. The name is unique per process and
/// test, so suites can run in parallel on one database.
#[derive(Debug, Clone)]
pub struct Table {
    name: String,
}

impl Table {
    /// Creates the table (before any transaction: DDL commits implicitly on MariaDB).
    pub async fn create<D: TestDb>(conn: &mut D::Conn) -> Table {
        let name = crate::unique_name("oncommit_sem");
        let deferred = if D::DEFERRED_CONSTRAINTS {
            format!(", FOREIGN KEY (parent) REFERENCES {name} (id) DEFERRABLE INITIALLY DEFERRED")
        } else {
            String::new()
        };
        D::exec(conn, format!("DROP TABLE IF EXISTS {name}"))
            .await
            .expect("drop a stale table");
        D::exec(
            conn,
            format!("CREATE TABLE {name} (id BIGINT PRIMARY KEY, parent BIGINT{deferred})"),
        )
        .await
        .expect("create the test table");
        Table { name }
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Inserts row `id`.
    pub async fn insert<D: TestDb>(&self, conn: &mut D::Conn, id: i64) -> Result<(), sqlx::Error> {
        D::exec(
            conn,
            format!("INSERT INTO {} (id) VALUES ({id})", self.name),
        )
        .await
        .map(drop)
    }

    /// Inserts row `id` whose `parent` does not exist: with a deferred constraint, the
    /// statement succeeds and the COMMIT fails.
    pub async fn insert_orphan<D: TestDb>(
        &self,
        conn: &mut D::Conn,
        id: i64,
    ) -> Result<(), sqlx::Error> {
        D::exec(
            conn,
            format!(
                "INSERT INTO {} (id, parent) VALUES ({id}, {})",
                self.name,
                id + 1_000_000
            ),
        )
        .await
        .map(drop)
    }

    /// Kills `victim`'s session from `killer` (servers only): the next statement on `victim`
    /// fails as on a dropped connection. Returns false for SQLite.
    pub async fn kill_session<D: TestDb>(victim: &mut D::Conn, killer: &mut D::Conn) -> bool {
        let Some((session_id, kill)) = D::KILL_SESSION else {
            return false;
        };
        let id = D::ints(victim, session_id.to_owned())
            .await
            .expect("read the session id")[0];
        D::exec(killer, kill.replace("{id}", &id.to_string()))
            .await
            .expect("kill the session");
        true
    }

    /// The ids in the table, ascending, as `conn` sees them.
    pub async fn ids<D: TestDb>(&self, conn: &mut D::Conn) -> Vec<i64> {
        D::ints(conn, format!("SELECT id FROM {} ORDER BY id", self.name))
            .await
            .expect("read the test table")
    }

    /// Drops the table.
    pub async fn drop<D: TestDb>(self, conn: &mut D::Conn) {
        D::exec(conn, format!("DROP TABLE {}", self.name))
            .await
            .expect("drop the test table");
    }
}
