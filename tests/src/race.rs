//! The race oncommit exists for, as a harness the `race_*` and `cancel_*` suites share: writers
//! insert or update a row inside a transaction and hand its id to a queue; a worker on its own
//! database connection pops the ids and reads the rows.
//!
//! - [`Queue`] / [`Inbox`]: a Redis list (`RPUSH` / `BLPOP`, one key per test) or an in-process
//!   channel.
//! - [`RaceDb`]: the few statements the scenario needs, on sqlx's Postgres, MySQL/MariaDB and
//!   SQLite connections.
//! - [`run_worker`]: the worker. For each job it reads the row (reporting what it saw right
//!   after the read, when asked), then does what real workers do, `get_or_create`: inserts the
//!   row when it was missing, which fails with a duplicate key once the writer commits.
//! - [`naive_transaction`] (the bug: enqueue inside the transaction) and the oncommit versions
//!   in the suites.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use oncommit::AsyncBackend;
use redis::aio::MultiplexedConnection;
use tokio::sync::mpsc;

pub mod app;
pub mod scenarios;

/// The race [`scenarios`] as `#[tokio::test]`s on a database server whose URL is in the
/// environment variable `$db_env`, with a Redis queue at `REDIS_URL`; each test uses its own
/// table `$table_prefix<scenario>`. A test skips with a printed reason when a URL is unset
/// (a failure under `CI=true`: see [`crate::service_url`]).
///
/// `oncommit_tests::server_race_tests!("DATABASE_URL", "race_pg_", sqlx::PgConnection);`
#[macro_export]
macro_rules! server_race_tests {
    ($db_env:literal, $table_prefix:literal, $conn:ty) => {
        $crate::server_race_tests!(
            @each $db_env, $table_prefix, $conn;
            naive_enqueue_is_seen_to_fail,
            oncommit_holds_the_job_until_commit,
            oncommit_under_load,
            rolled_back_delivers_nothing,
            loop_delivers_each_its_own,
        );
    };
    (@each $db_env:literal, $table_prefix:literal, $conn:ty; $($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let Some(db) = $crate::service_url($db_env) else { return };
            let Some(redis) = $crate::service_url("REDIS_URL") else { return };
            let table = concat!($table_prefix, stringify!($name));
            let queue = $crate::race::redis_queue(&redis, table).await;
            $crate::race::scenarios::$name::<$conn>(&db, table, queue).await;
        }
    )*};
}

/// A boxed error that crosses threads.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A job: the row's id, and the version the writer wrote (the worker must see at least it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Job {
    /// The row's primary key.
    pub id: i64,
    /// The version the transaction wrote.
    pub version: i64,
}

impl Job {
    /// A job for row `id` at `version`.
    pub fn new(id: i64, version: i64) -> Self {
        Job { id, version }
    }

    fn encode(self) -> String {
        format!("{}:{}", self.id, self.version)
    }

    fn decode(text: &str) -> Option<Job> {
        let (id, version) = text.split_once(':')?;
        Some(Job::new(id.parse().ok()?, version.parse().ok()?))
    }
}

const STOP: &str = "stop";

/// The producer side of the queue. Cheap to clone (what `enqueue!` does with a `&Queue`
/// receiver).
#[derive(Clone)]
pub enum Queue {
    /// A Redis list.
    Redis {
        /// A multiplexed connection (clones share it).
        conn: MultiplexedConnection,
        /// The list's key, unique per test.
        key: Arc<str>,
    },
    /// An in-process channel, and how many messages wait in it.
    Local(mpsc::UnboundedSender<String>, Arc<AtomicUsize>),
}

impl fmt::Debug for Queue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Queue::Redis { key, .. } => write!(f, "Queue::Redis({key})"),
            Queue::Local(..) => f.write_str("Queue::Local"),
        }
    }
}

impl Queue {
    /// Hands `job` to the worker.
    pub async fn push(&self, job: Job) -> Result<(), BoxError> {
        self.send(job.encode()).await
    }

    /// Tells the worker to stop once it has handled every job pushed before.
    pub async fn stop(&self) -> Result<(), BoxError> {
        self.send(STOP.to_owned()).await
    }

    /// Jobs waiting in the queue (not yet popped by the worker).
    pub async fn waiting(&self) -> Result<usize, BoxError> {
        match self {
            Queue::Redis { conn, key } => {
                let mut conn = conn.clone();
                Ok(redis::cmd("LLEN")
                    .arg(&**key)
                    .query_async::<usize>(&mut conn)
                    .await?)
            }
            Queue::Local(_, waiting) => Ok(waiting.load(Ordering::SeqCst)),
        }
    }

    async fn send(&self, message: String) -> Result<(), BoxError> {
        match self {
            Queue::Redis { conn, key } => {
                let mut conn = conn.clone();
                redis::cmd("RPUSH")
                    .arg(&**key)
                    .arg(message)
                    .query_async::<()>(&mut conn)
                    .await?;
                Ok(())
            }
            Queue::Local(sender, waiting) => {
                waiting.fetch_add(1, Ordering::SeqCst);
                sender
                    .send(message)
                    .map_err(|_| "the worker is gone".into())
            }
        }
    }
}

/// The worker's side of the queue.
pub enum Inbox {
    /// A Redis list, popped with `BLPOP` on the worker's own connection.
    Redis {
        /// The worker's connection (no response timeout: `BLPOP` waits).
        conn: MultiplexedConnection,
        /// The list's key.
        key: Arc<str>,
    },
    /// An in-process channel, and how many messages wait in it.
    Local(mpsc::UnboundedReceiver<String>, Arc<AtomicUsize>),
}

/// How long the worker waits for one message before failing the test (a hang guard, not a
/// timing assertion).
const POP_GUARD: Duration = Duration::from_secs(60);

impl Inbox {
    async fn pop(&mut self) -> Option<Job> {
        let message = match self {
            Inbox::Redis { conn, key } => {
                let popped: Option<(String, String)> = redis::cmd("BLPOP")
                    .arg(&**key)
                    .arg(POP_GUARD.as_secs())
                    .query_async(conn)
                    .await
                    .expect("BLPOP");
                popped.expect("no message within the hang guard").1
            }
            Inbox::Local(receiver, waiting) => {
                let message = tokio::time::timeout(POP_GUARD, receiver.recv())
                    .await
                    .expect("no message within the hang guard")
                    .expect("every queue handle dropped without `stop`");
                waiting.fetch_sub(1, Ordering::SeqCst);
                message
            }
        };
        if message == STOP {
            return None;
        }
        Some(Job::decode(&message).expect("a job"))
    }
}

/// A Redis queue on a fresh list `key` (deleted first): the producer and the worker each get
/// their own connection.
pub async fn redis_queue(url: &str, key: &str) -> (Queue, Inbox) {
    let client = redis::Client::open(url).expect("REDIS_URL");
    let producer = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis");
    let worker = client
        .get_multiplexed_async_connection_with_config(
            &redis::AsyncConnectionConfig::new().set_response_timeout(None),
        )
        .await
        .expect("connect to Redis");
    let key: Arc<str> = format!("oncommit:test:{key}:{}", std::process::id()).into();
    let mut cleanup = producer.clone();
    redis::cmd("DEL")
        .arg(&*key)
        .query_async::<()>(&mut cleanup)
        .await
        .expect("DEL");
    (
        Queue::Redis {
            conn: producer,
            key: key.clone(),
        },
        Inbox::Redis { conn: worker, key },
    )
}

/// An in-process queue.
pub fn local_queue() -> (Queue, Inbox) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let waiting = Arc::new(AtomicUsize::new(0));
    (
        Queue::Local(sender, waiting.clone()),
        Inbox::Local(receiver, waiting),
    )
}

/// The statements the scenario runs, on one sqlx connection type.
pub trait RaceDb: AsyncBackend + Send + Sized + 'static {
    /// "postgres", "mariadb", "sqlite".
    const NAME: &'static str;

    /// Opens a connection (SQLite: WAL, create the file, wait on locks).
    fn open(url: &str) -> impl Future<Output = Result<Self, sqlx::Error>> + Send;

    /// Runs `sql` (with `$1`, `$2`… placeholders) binding `args` in order; rows affected.
    fn exec<'a>(
        &'a mut self,
        sql: &'a str,
        args: &'a [i64],
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'a;

    /// The first column of the first row, if any.
    fn fetch_i64<'a>(
        &'a mut self,
        sql: &'a str,
        args: &'a [i64],
    ) -> impl Future<Output = Result<Option<i64>, sqlx::Error>> + Send + 'a;

    /// Every row of a two-column `BIGINT` query.
    fn fetch_pairs<'a>(
        &'a mut self,
        sql: &'a str,
    ) -> impl Future<Output = Result<Vec<(i64, i64)>, sqlx::Error>> + Send + 'a;

    /// Runs a fixed statement outside the prepared-statement protocol (`BEGIN`, `COMMIT`…).
    fn raw(
        &mut self,
        sql: &'static str,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + '_;
}

/// MySQL wants `?` where Postgres and SQLite take `$N` (arguments are bound in order).
fn mysql_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

macro_rules! race_db {
    ($conn:ty, $name:literal, $open:expr, $sql:expr) => {
        impl RaceDb for $conn {
            const NAME: &'static str = $name;

            fn open(url: &str) -> impl Future<Output = Result<Self, sqlx::Error>> + Send {
                let open: fn(&str) -> _ = $open;
                open(url)
            }

            fn exec<'a>(
                &'a mut self,
                sql: &'a str,
                args: &'a [i64],
            ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'a {
                async move {
                    let fix: fn(&str) -> String = $sql;
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(fix(sql)));
                    for arg in args {
                        query = query.bind(*arg);
                    }
                    Ok(query.execute(&mut *self).await?.rows_affected())
                }
            }

            fn fetch_i64<'a>(
                &'a mut self,
                sql: &'a str,
                args: &'a [i64],
            ) -> impl Future<Output = Result<Option<i64>, sqlx::Error>> + Send + 'a {
                async move {
                    let fix: fn(&str) -> String = $sql;
                    let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(fix(sql)));
                    for arg in args {
                        query = query.bind(*arg);
                    }
                    query.fetch_optional(&mut *self).await
                }
            }

            fn fetch_pairs<'a>(
                &'a mut self,
                sql: &'a str,
            ) -> impl Future<Output = Result<Vec<(i64, i64)>, sqlx::Error>> + Send + 'a {
                async move {
                    let fix: fn(&str) -> String = $sql;
                    sqlx::query_as::<_, (i64, i64)>(sqlx::AssertSqlSafe(fix(sql)))
                        .fetch_all(&mut *self)
                        .await
                }
            }

            fn raw(
                &mut self,
                sql: &'static str,
            ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + '_ {
                async move {
                    sqlx::raw_sql(sql).execute(&mut *self).await?;
                    Ok(())
                }
            }
        }
    };
}

race_db!(
    sqlx::PgConnection,
    "postgres",
    |url| {
        let url = url.to_owned();
        async move { <sqlx::PgConnection as sqlx::Connection>::connect(&url).await }
    },
    |sql| sql.to_owned()
);
race_db!(
    sqlx::MySqlConnection,
    "mariadb",
    |url| {
        let url = url.to_owned();
        async move { <sqlx::MySqlConnection as sqlx::Connection>::connect(&url).await }
    },
    mysql_placeholders
);
race_db!(
    sqlx::SqliteConnection,
    "sqlite",
    |url| {
        let url = url.to_owned();
        async move {
            use std::str::FromStr;
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)?
                .create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(30));
            <sqlx::SqliteConnection as sqlx::Connection>::connect_with(&options).await
        }
    },
    |sql| sql.to_owned()
);

/// The users table of one test: `id BIGINT PRIMARY KEY, version BIGINT`.
#[derive(Debug, Clone)]
pub struct Table(pub Arc<str>);

impl Table {
    /// Drops and creates `name` through `conn`.
    pub async fn create<C: RaceDb>(conn: &mut C, name: &str) -> Result<Table, sqlx::Error> {
        conn.exec(&format!("DROP TABLE IF EXISTS {name}"), &[])
            .await?;
        conn.exec(
            &format!("CREATE TABLE {name} (id BIGINT PRIMARY KEY, version BIGINT NOT NULL)"),
            &[],
        )
        .await?;
        Ok(Table(name.into()))
    }

    /// `INSERT` row `id` at `version`.
    pub async fn insert<C: RaceDb>(
        &self,
        conn: &mut C,
        id: i64,
        version: i64,
    ) -> Result<(), sqlx::Error> {
        conn.exec(
            &format!("INSERT INTO {} (id, version) VALUES ($1, $2)", self.0),
            &[id, version],
        )
        .await
        .map(drop)
    }

    /// `UPDATE` row `id` to `version`.
    pub async fn update<C: RaceDb>(
        &self,
        conn: &mut C,
        id: i64,
        version: i64,
    ) -> Result<(), sqlx::Error> {
        conn.exec(
            &format!("UPDATE {} SET version = $1 WHERE id = $2", self.0),
            &[version, id],
        )
        .await
        .map(drop)
    }

    /// The version of row `id`, if the row exists (as this connection sees it).
    pub async fn version<C: RaceDb>(
        &self,
        conn: &mut C,
        id: i64,
    ) -> Result<Option<i64>, sqlx::Error> {
        conn.fetch_i64(
            &format!("SELECT version FROM {} WHERE id = $1", self.0),
            &[id],
        )
        .await
    }

    /// Every row, as `id -> version`.
    pub async fn rows<C: RaceDb>(&self, conn: &mut C) -> Result<HashMap<i64, i64>, sqlx::Error> {
        let pairs = conn
            .fetch_pairs(&format!("SELECT id, version FROM {}", self.0))
            .await?;
        Ok(pairs.into_iter().collect())
    }
}

/// What the worker saw for one job, reported right after its read and before its
/// `get_or_create` insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Looked {
    /// The job.
    pub job: Job,
    /// The row's version as the worker read it, `None` when the row was missing.
    pub seen: Option<i64>,
}

/// Everything the worker did.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Every job popped, in order.
    pub delivered: Vec<Job>,
    /// Jobs whose row was missing when the worker read it.
    pub missing: Vec<Job>,
    /// Jobs whose row had an older version than the job's, with the version read.
    pub stale: Vec<(Job, i64)>,
    /// Missing rows the worker's `get_or_create` inserted itself.
    pub created: Vec<Job>,
    /// Missing rows whose `get_or_create` insert failed with a duplicate key.
    pub duplicate_key: Vec<Job>,
}

impl Report {
    /// True when every job found its row at (at least) its version.
    pub fn clean(&self) -> bool {
        self.missing.is_empty()
            && self.stale.is_empty()
            && self.created.is_empty()
            && self.duplicate_key.is_empty()
    }
}

/// The worker: pops jobs until `stop`, reads each row on its own connection `conn`, reports
/// what it saw on `looked` (when given) right after the read, then `get_or_create`s the row
/// and reports the job on `handled` (when given).
pub async fn run_worker<C: RaceDb>(
    mut conn: C,
    mut inbox: Inbox,
    table: Table,
    looked: Option<mpsc::UnboundedSender<Looked>>,
    handled: Option<mpsc::UnboundedSender<Job>>,
) -> Report {
    let mut report = Report::default();
    while let Some(job) = inbox.pop().await {
        report.delivered.push(job);
        let seen = table.version(&mut conn, job.id).await.expect("worker read");
        if let Some(looked) = &looked {
            let _ = looked.send(Looked { job, seen });
        }
        match seen {
            Some(version) if version >= job.version => {}
            Some(version) => report.stale.push((job, version)),
            None => {
                report.missing.push(job);
                // get_or_create: the row is not there, so create it
                match table.insert(&mut conn, job.id, job.version).await {
                    Ok(()) => report.created.push(job),
                    Err(error) if is_duplicate_key(&error) => report.duplicate_key.push(job),
                    Err(error) => panic!("worker insert failed: {error}"),
                }
            }
        }
        if let Some(handled) = &handled {
            let _ = handled.send(job);
        }
    }
    report
}

/// A unique or primary key violation.
pub fn is_duplicate_key(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

/// The bug: `BEGIN; INSERT; queue.push(job); … COMMIT`. Between the push and the COMMIT it
/// awaits `hold` (the test makes it wait until the worker has looked), then commits, or rolls
/// back when `commit` is false.
pub async fn naive_transaction<C: RaceDb>(
    conn: &mut C,
    queue: &Queue,
    table: &Table,
    job: Job,
    hold: impl Future<Output = ()>,
    commit: bool,
) -> Result<(), BoxError> {
    conn.raw("BEGIN").await?;
    table.insert(conn, job.id, job.version).await?;
    queue.push(job).await?; // enqueue inside the transaction
    hold.await;
    conn.raw(if commit { "COMMIT" } else { "ROLLBACK" }).await?;
    Ok(())
}

/// The application error of the oncommit writers.
#[derive(Debug)]
pub enum AppError {
    /// A statement failed.
    Db(sqlx::Error),
    /// The transaction (or a hook after COMMIT) failed.
    Tx(oncommit::Error),
    /// The handler decided to roll back.
    Rejected,
    /// The queue failed.
    Queue(BoxError),
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Db(e) => write!(f, "database: {e}"),
            AppError::Tx(e) => write!(f, "transaction: {e}"),
            AppError::Rejected => f.write_str("rejected"),
            AppError::Queue(e) => write!(f, "queue: {e}"),
        }
    }
}

impl std::error::Error for AppError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AppError::Db(e) => Some(e),
            AppError::Tx(e) => Some(e),
            AppError::Rejected => None,
            AppError::Queue(e) => Some(&**e),
        }
    }
}

/// Transient when a serialization failure or a deadlock is in its chain.
impl oncommit::Retryable for AppError {
    fn is_transient(&self) -> bool {
        oncommit::is_transient(self)
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        AppError::Db(e)
    }
}

impl From<oncommit::Error> for AppError {
    fn from(e: oncommit::Error) -> Self {
        AppError::Tx(e)
    }
}

/// One transaction of the load: insert `insert` at version 1, optionally bump `update` to a
/// new version, enqueue a job for each, and roll back instead of committing when `reject`.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// A new row.
    pub insert: i64,
    /// An existing row and its new version.
    pub update: Option<(i64, i64)>,
    /// Roll back (the handler returns `Err`) after writing and enqueueing.
    pub reject: bool,
}

impl Plan {
    /// The jobs this plan enqueues, in order.
    pub fn jobs(&self) -> Vec<Job> {
        let mut jobs = vec![Job::new(self.insert, 1)];
        if let Some((id, version)) = self.update {
            jobs.push(Job::new(id, version));
        }
        jobs
    }
}

/// The plans of one writer: `count` transactions on ids `first..first + count`; every 5th
/// also bumps the version of the row inserted 3 transactions earlier, every 10th rolls back.
pub fn plans(first: i64, count: i64) -> Vec<Plan> {
    let mut versions: HashMap<i64, i64> = HashMap::new();
    let mut plans = Vec::new();
    for n in 0..count {
        let id = first + n;
        let reject = n % 10 == 9;
        let update = if n % 5 == 4 && n >= 3 {
            let target = id - 3;
            versions.get(&target).map(|v| (target, v + 1))
        } else {
            None
        };
        if !reject {
            versions.insert(id, 1);
            if let Some((target, version)) = update {
                versions.insert(target, version);
            }
        }
        plans.push(Plan {
            insert: id,
            update,
            reject,
        });
    }
    plans
}

/// The jobs the committed plans deliver, sorted.
pub fn expected_jobs(plans: &[Plan]) -> Vec<Job> {
    let mut jobs: Vec<Job> = plans
        .iter()
        .filter(|p| !p.reject)
        .flat_map(Plan::jobs)
        .collect();
    jobs.sort();
    jobs
}
