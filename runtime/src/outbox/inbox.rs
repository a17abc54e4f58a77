//! Exactly-once effects for consumers: an inbox of the message ids a consumer has handled.
//!
//! The outbox delivers at least once: after a crash or a lost acknowledgement a broker may
//! deliver a job again, with the same message id. A consumer that handles a job inside its
//! own transaction calls [`receive`] first, in that transaction: it records the id
//! (`INSERT … ON CONFLICT DO NOTHING`) and says whether this is the first time. A
//! redelivered job is then skipped, and since the id commits or rolls back with the
//! handling's effects, a handling that failed leaves no id behind and the next delivery is
//! handled. Two deliveries handled at once by two consumers are ordered by the primary key:
//! the second waits for the first's COMMIT and then sees the id.
//!
//! Ids are kept until [`expire`] deletes them: keep them longer than a job can be
//! redelivered (the relay's retries and the broker's redelivery window).
//!
//! ```no_run
//! # #[cfg(feature = "sqlx-postgres")] {
//! use oncommit::outbox::inbox;
//! use oncommit::{Conn, atomic};
//! use sqlx::PgConnection;
//!
//! /// Handles a `welcome` job once, however often it is delivered.
//! #[atomic]
//! async fn handle_welcome(
//!     conn: &mut Conn<PgConnection>,
//!     message_id: uuid::Uuid,
//!     user_id: i64,
//! ) -> Result<bool, sqlx::Error> {
//!     if !inbox::receive(conn.executor(), message_id).await? {
//!         return Ok(false); // handled before: skip
//!     }
//!     sqlx::query("UPDATE users SET welcomed = true WHERE id = $1")
//!         .bind(user_id)
//!         .execute(conn.executor())
//!         .await?;
//!     Ok(true)
//! }
//! # }
//! ```

use std::future::Future;
use std::time::Duration;

use uuid::Uuid;

use super::Dialect;

/// The migration that creates the inbox table (`oncommit_inbox`) in `dialect`: the same SQL
/// as `runtime/migrations/<dialect>/0003_oncommit_inbox.sql`, to add to your own migrations.
///
/// ```
/// # #[cfg(feature = "sqlx-postgres")] {
/// use oncommit::outbox::{Dialect, inbox};
/// assert!(inbox::schema(Dialect::Postgres).contains("CREATE TABLE IF NOT EXISTS oncommit_inbox"));
/// # }
/// ```
pub fn schema(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => include_str!("../../migrations/postgres/0003_oncommit_inbox.sql"),
        Dialect::MySql => include_str!("../../migrations/mysql/0003_oncommit_inbox.sql"),
        Dialect::Sqlite => include_str!("../../migrations/sqlite/0003_oncommit_inbox.sql"),
    }
}

/// A connection the inbox is written on (`PgConnection`, `MySqlConnection`,
/// `SqliteConnection`: what [`Conn::executor`](crate::Conn::executor) gives).
pub trait InboxConnection: Send {
    /// See [`receive`].
    fn receive_id(&mut self, id: Uuid) -> impl Future<Output = Result<bool, sqlx::Error>> + Send;
    /// See [`expire`].
    fn expire_ids(
        &mut self,
        older_than: Duration,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send;
}

#[cfg(feature = "sqlx-postgres")]
impl InboxConnection for sqlx::PgConnection {
    async fn receive_id(&mut self, id: Uuid) -> Result<bool, sqlx::Error> {
        let done =
            sqlx::query("INSERT INTO oncommit_inbox (id) VALUES ($1) ON CONFLICT DO NOTHING")
                .bind(id)
                .execute(self)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn expire_ids(&mut self, older_than: Duration) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(
            "DELETE FROM oncommit_inbox WHERE received_at < now() - make_interval(secs => $1)",
        )
        .bind(retention_seconds(older_than))
        .execute(self)
        .await?;
        Ok(done.rows_affected())
    }
}

/// The longest retention `expire` passes to the database (beyond it, Postgres's intervals
/// overflow): a century.
const CENTURY: Duration = Duration::from_secs(100 * 365 * 86_400);

/// `older_than` in seconds, at most a century.
#[cfg(any(feature = "sqlx-postgres", feature = "sqlx-sqlite"))]
fn retention_seconds(older_than: Duration) -> f64 {
    older_than.min(CENTURY).as_secs_f64()
}

/// On MySQL and MariaDB `INSERT IGNORE` also ignores other errors of the row (none are
/// possible for this table's two columns).
#[cfg(feature = "sqlx-mysql")]
impl InboxConnection for sqlx::MySqlConnection {
    async fn receive_id(&mut self, id: Uuid) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("INSERT IGNORE INTO oncommit_inbox (id) VALUES (?)")
            .bind(id.hyphenated().to_string())
            .execute(self)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn expire_ids(&mut self, older_than: Duration) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(
            "DELETE FROM oncommit_inbox \
             WHERE received_at < CURRENT_TIMESTAMP(6) - INTERVAL ? MICROSECOND",
        )
        .bind(i64::try_from(older_than.min(CENTURY).as_micros()).unwrap_or(i64::MAX))
        .execute(self)
        .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(feature = "sqlx-sqlite")]
impl InboxConnection for sqlx::SqliteConnection {
    async fn receive_id(&mut self, id: Uuid) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("INSERT INTO oncommit_inbox (id) VALUES (?) ON CONFLICT DO NOTHING")
            .bind(id.hyphenated().to_string())
            .execute(self)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn expire_ids(&mut self, older_than: Duration) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(
            "DELETE FROM oncommit_inbox \
             WHERE received_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || ? || ' seconds')",
        )
        .bind(retention_seconds(older_than))
        .execute(self)
        .await?;
        Ok(done.rows_affected())
    }
}

/// Records message `id` as received, in the transaction `conn` is in: `true` the first
/// time, `false` when it was received before (by a transaction that committed, or one that
/// commits while this one waits for its row). Call it first in the transaction that handles
/// the message, and skip the handling on `false`. Under Postgres's REPEATABLE READ or
/// SERIALIZABLE, a concurrent duplicate is a serialization failure instead (an `Err`: retry
/// the transaction, as `#[atomic(retry = ..)]` does, and it returns `false`).
pub fn receive<C: InboxConnection + ?Sized>(
    conn: &mut C,
    id: Uuid,
) -> impl Future<Output = Result<bool, sqlx::Error>> + Send + '_ {
    conn.receive_id(id)
}

/// Deletes the ids received more than `older_than` ago; returns how many. A message
/// redelivered after its id expired is handled again: keep ids longer than any redelivery.
pub fn expire<C: InboxConnection + ?Sized>(
    conn: &mut C,
    older_than: Duration,
) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + '_ {
    conn.expire_ids(older_than)
}

/// Creates the inbox table in `dialect` if it does not exist ([`schema`]), through any sqlx
/// executor.
pub async fn migrate<'c, E>(executor: E, dialect: Dialect) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'c>,
{
    sqlx::raw_sql(schema(dialect)).execute(executor).await?;
    Ok(())
}
