//! sqlx connections as backends, through sqlx's own `TransactionManager`: sqlx keeps the
//! depth, issues `BEGIN`/`SAVEPOINT`, and queues the ROLLBACK of an abandoned level exactly as
//! it does for a dropped `sqlx::Transaction`.
//!
//! Where sqlx's own handling of a fault would break a promise of oncommit, this module works
//! around it:
//!
//! - **Postgres, a transaction the server aborted.** After a failed statement Postgres answers
//!   `COMMIT` with `ROLLBACK` and no error. Before the outermost COMMIT one query reads the
//!   transaction id (`pg_current_xact_id_if_assigned()`); in an aborted transaction it fails
//!   with `25P02`, and the commit reports [`CommitFailure::RolledBack`].
//! - **Postgres, a BEGIN or SAVEPOINT whose future is dropped.** sqlx's guard then queues the
//!   ROLLBACK of the level *below* (at depth 1: the whole transaction, after which the body
//!   would go on in autocommit). The statement is already in the connection's write buffer
//!   when the future can be dropped, so it will be applied; oncommit skips sqlx's guard
//!   ([`Unguarded`]). A SAVEPOINT applied that way opens an empty level (harmless: a later one
//!   of the same name shadows it, COMMIT or the parent's rollback ends it); a BEGIN is ended
//!   by [`AsyncBackend::end_unknown_transaction`] before the connection's next use through
//!   `Conn`.
//! - **MySQL/MariaDB, a transaction the server rolled back** (a deadlock victim): later
//!   statements would autocommit. oncommit's transactions run with `autocommit` off and a
//!   guard savepoint that the COMMIT checks (see the `mysql` module).
//! - **SQLite, a transaction the server rolled back** (`INSERT OR ROLLBACK`): later
//!   statements would autocommit. oncommit's commit callback refuses them (see the `sqlite`
//!   module).
//! - **A COMMIT without an answer.** Any error that is not the server's answer (I/O, a
//!   closed connection) is [`CommitFailure::Unknown`]: the server may have committed.

use std::future::Future;
#[cfg(feature = "sqlx-postgres")]
use std::pin::Pin;
#[cfg(feature = "sqlx-postgres")]
use std::task::{Context, Poll};

use sqlx::Database;
use sqlx::pool::PoolConnection;
#[cfg(feature = "sqlx-postgres")]
use sqlx_core::sql_str::{AssertSqlSafe, SqlSafeStr};
use sqlx_core::transaction::TransactionManager;

use crate::BoxError;
use crate::backend::{AsyncBackend, Backend, CommitFailure};
use crate::options::TxOptions;

mod error;
#[cfg(feature = "sqlx-mysql")]
mod mysql;
#[cfg(feature = "outbox")]
mod outbox;
#[cfg(feature = "outbox")]
mod relay;
#[cfg(feature = "sqlx-sqlite")]
mod sqlite;

async fn boxed(result: impl Future<Output = Result<(), sqlx::Error>>) -> Result<(), BoxError> {
    result.await.map_err(Into::into)
}

/// A failed COMMIT or RELEASE: the server's own error answer means nothing was committed;
/// anything else means the answer was lost.
fn commit_failure(error: sqlx::Error, transaction_id: Option<u64>) -> CommitFailure {
    match error {
        sqlx::Error::Database(_) => CommitFailure::Refused(error.into()),
        other => CommitFailure::Unknown {
            source: other.into(),
            transaction_id,
        },
    }
}

/// sqlx's COMMIT (or RELEASE), its failure classified; `transaction_id` is the server's id of
/// the transaction, when known.
pub(super) async fn commit<C: sqlx::Connection>(
    conn: &mut C,
    transaction_id: Option<u64>,
) -> Result<(), CommitFailure> {
    <<C::Database as Database>::TransactionManager>::commit(conn)
        .await
        .map_err(|error| commit_failure(error, transaction_id))
}

/// The connection is gone: an I/O, TLS or protocol failure, sqlx's SQLite worker stopped, or
/// the server's own word that it closes the session (SQLSTATE class `08`, connection
/// exception; `57P01`–`57P03`, Postgres shutting the backend down or terminating it).
fn connection_lost(error: &BoxError) -> bool {
    match error.downcast_ref::<sqlx::Error>() {
        Some(
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed,
        ) => true,
        Some(sqlx::Error::Database(error)) => error.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

/// Before a BEGIN: read the replies of statements queued earlier, i.e. the ROLLBACKs that
/// `start_rollback` queued for an abandoned (cancelled) block, so that their failure is not
/// reported as this BEGIN's. One can fail legitimately: a block cancelled while its `RELEASE
/// SAVEPOINT` was in flight leaves sqlx one level deeper than the server, and the queued
/// `ROLLBACK TO SAVEPOINT` names a savepoint that is gone (the `ROLLBACK` queued after it
/// still ends the transaction). Each failure stops one drain, so retry; an error that is not
/// the server's answer (a dead connection) ends it at once, logged once. sqlx's `flush` costs
/// nothing when nothing is queued and is cancel-safe (SQLite: a no-op; its worker runs queued
/// statements before any later command).
async fn drain_queued<C: sqlx::Connection>(conn: &mut C) {
    for _ in 0..16 {
        match conn.flush().await {
            Ok(()) => return,
            Err(error @ sqlx::Error::Database(_)) => tracing::debug!(
                %error,
                "a statement queued for an abandoned transaction block failed"
            ),
            Err(error) => {
                tracing::warn!(%error, "the connection failed while rolling back an abandoned transaction block");
                return;
            }
        }
    }
}

/// SQLite runs statements on a worker thread, in order: a ping returns once the queued
/// ROLLBACKs, and any cancelled statement queued before them, have run.
#[cfg(feature = "sqlx-sqlite")]
async fn settle_ping<C: sqlx::Connection>(conn: &mut C) {
    if let Err(error) = conn.ping().await {
        tracing::warn!(%error, "waiting for an abandoned block's rollback failed");
    }
}

/// Runs sqlx's `TransactionManager::begin` without its drop guard: dropped before the answer
/// came, the future is leaked rather than dropped (a few hundred bytes), so sqlx does not queue
/// the ROLLBACK of the parent level (see the module docs). Only for drivers whose BEGIN is in
/// the write buffer by the time the future can be dropped (Postgres): sqlx's SQLite worker
/// would wait forever for the leaked receiver.
#[cfg(feature = "sqlx-postgres")]
struct Unguarded<F>(Option<Pin<Box<F>>>);

#[cfg(feature = "sqlx-postgres")]
impl<F: Future> Future for Unguarded<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let Some(inner) = this.0.as_mut() else {
            return Poll::Pending;
        };
        let output = std::task::ready!(inner.as_mut().poll(cx));
        this.0 = None;
        Poll::Ready(output)
    }
}

#[cfg(feature = "sqlx-postgres")]
impl<F> Drop for Unguarded<F> {
    fn drop(&mut self) {
        if let Some(unfinished) = self.0.take() {
            std::mem::forget(unfinished);
        }
    }
}

/// Ends a transaction the server may be in after a dropped BEGIN: sqlx counts depth 0, so an
/// unconditional `rollback` statement (`ROLLBACK`: a no-op, with at most a warning, when there
/// is none; MySQL's also turns autocommit back on).
#[cfg(any(feature = "sqlx-postgres", feature = "sqlx-mysql"))]
async fn end_unknown_with<C>(conn: &mut C, rollback: &'static str) -> Result<(), BoxError>
where
    C: sqlx::Connection,
    for<'c> &'c mut C: sqlx::Executor<'c, Database = C::Database>,
{
    drain_queued(conn).await;
    if <<C::Database as Database>::TransactionManager>::get_transaction_depth(conn) == 0 {
        sqlx::raw_sql(rollback).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Postgres: [`end_unknown_with`] a plain `ROLLBACK`.
#[cfg(feature = "sqlx-postgres")]
async fn end_unknown(conn: &mut sqlx::PgConnection) -> Result<(), BoxError> {
    end_unknown_with(conn, "ROLLBACK").await
}

/// The verdict of the query Postgres runs before the outermost COMMIT (it reads the
/// transaction id): the id, or why COMMIT must not be sent. In an aborted transaction it
/// fails with `25P02` ([`CommitFailure::RolledBack`]); any other error answer of the server
/// goes through `server_error`; anything else means the query never got an answer (COMMIT was
/// never sent: nothing was committed).
#[cfg(feature = "sqlx-postgres")]
fn pre_commit_verdict(
    read: Result<Option<i64>, sqlx::Error>,
    server_error: fn(BoxError) -> CommitFailure,
) -> Result<Option<u64>, CommitFailure> {
    match read {
        Ok(id) => Ok(id.and_then(|id| u64::try_from(id).ok())),
        Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some("25P02") => {
            Err(CommitFailure::RolledBack(error.into()))
        }
        Err(error @ sqlx::Error::Database(_)) => Err(server_error(error.into())),
        Err(error) => Err(CommitFailure::Refused(error.into())),
    }
}

macro_rules! sqlx_backend {
    ($(#[$cfg:meta])* $db:ty, $conn:ty, begin: $begin:expr, begin_with: $begin_with:expr, commit: $commit:expr
     $(, rollback: $rollback:path)? $(, settle: $settle:ident)? $(, end_unknown: $end:path)?
     $(, reset_after_abandon: $reset:literal)?
     $(, commit_with_outbox: $commit_outbox:path, notify_relays: $notify:path)?
     $(, watch_server: $watch:path, resync: $resync:path)?) => {
        $(#[$cfg])*
        impl Backend for $conn {
            fn transaction_depth(&mut self) -> usize {
                <<$db as Database>::TransactionManager>::get_transaction_depth(self)
            }

            fn start_rollback(&mut self) {
                <<$db as Database>::TransactionManager>::start_rollback(self)
            }

            $(const RESET_AFTER_ABANDON: bool = $reset;)?

            #[cfg(feature = "outbox")]
            const WRITES_OUTBOX_LEASES: bool = true;

            fn is_lost(error: &BoxError) -> bool {
                connection_lost(error)
            }
        }

        $(#[$cfg])*
        impl AsyncBackend for $conn {
            fn begin_async(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send {
                async move {
                    drain_queued(self).await;
                    boxed($begin(self)).await
                }
            }

            fn commit_async(&mut self) -> impl Future<Output = Result<(), CommitFailure>> + Send {
                $commit(self)
            }

            fn begin_with_async(
                &mut self,
                options: TxOptions,
            ) -> impl Future<Output = Result<(), BoxError>> + Send {
                async move {
                    drain_queued(self).await;
                    $begin_with(self, options).await
                }
            }

            fn rollback_async(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send {
                sqlx_backend!(@rollback self, $db $(, $rollback)?)
            }

            $(
            fn settle_async(&mut self) -> impl Future<Output = ()> + Send {
                $settle(self)
            }
            )?

            $(
            fn end_unknown_transaction(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send {
                $end(self)
            }
            )?

            #[cfg(feature = "outbox")]
            fn write_outbox<'a>(
                &'a mut self,
                messages: &'a [crate::outbox::Message],
            ) -> impl Future<Output = Result<(), BoxError>> + Send + 'a {
                outbox::OutboxWrite::write_messages(self, messages)
            }

            $(
            #[cfg(feature = "outbox")]
            fn commit_with_outbox<'a>(
                &'a mut self,
                messages: &'a [crate::outbox::Message],
            ) -> impl Future<Output = Result<(), CommitFailure>> + Send + 'a {
                $commit_outbox(self, messages)
            }

            #[cfg(feature = "outbox")]
            fn notify_relays(&mut self) -> impl Future<Output = ()> + Send + '_ {
                $notify(self)
            }
            )?

            $(
            const WATCHES_SERVER: bool = true;

            fn watch_server(
                &mut self,
                watch: std::sync::Arc<crate::watch::ServerWatch>,
            ) -> impl Future<Output = Result<(), BoxError>> + Send {
                $watch(self, watch)
            }

            fn resync_after_server_rollback(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send {
                $resync(self)
            }
            )?
        }
    };
    (@rollback $self:ident, $db:ty) => {
        boxed(<<$db as Database>::TransactionManager>::rollback($self))
    };
    (@rollback $self:ident, $db:ty, $rollback:path) => {
        boxed($rollback($self))
    };
}

/// Postgres: sqlx's BEGIN without its drop guard.
#[cfg(feature = "sqlx-postgres")]
fn postgres_begin(
    conn: &mut sqlx::PgConnection,
) -> impl Future<Output = Result<(), sqlx::Error>> + Send + '_ {
    Unguarded(Some(Box::pin(
        <sqlx::postgres::PgTransactionManager as TransactionManager>::begin(conn, None),
    )))
}

/// Postgres: `BEGIN ISOLATION LEVEL … READ ONLY`, without sqlx's drop guard.
#[cfg(feature = "sqlx-postgres")]
async fn postgres_begin_with(
    conn: &mut sqlx::PgConnection,
    options: TxOptions,
) -> Result<(), BoxError> {
    let statement = AssertSqlSafe(format!("BEGIN{}", options.characteristics())).into_sql_str();
    Unguarded(Some(Box::pin(
        <sqlx::postgres::PgTransactionManager as TransactionManager>::begin(conn, Some(statement)),
    )))
    .await
    .map_err(Into::into)
}

/// Postgres: the outermost COMMIT first reads the transaction id, which fails in a
/// transaction the server aborted (`25P02`) and identifies the transaction when COMMIT's
/// answer is lost.
#[cfg(feature = "sqlx-postgres")]
async fn postgres_commit(conn: &mut sqlx::PgConnection) -> Result<(), CommitFailure> {
    use sqlx::postgres::PgTransactionManager;
    let mut transaction_id = None;
    if PgTransactionManager::get_transaction_depth(conn) == 1 {
        let id = sqlx::query_scalar::<_, Option<i64>>(
            "SELECT CAST(CAST(pg_current_xact_id_if_assigned() AS TEXT) AS BIGINT)",
        )
        .fetch_one(&mut *conn)
        .await;
        transaction_id = pre_commit_verdict(id, CommitFailure::Refused)?;
    }
    commit(conn, transaction_id).await
}

sqlx_backend!(
    #[cfg(feature = "sqlx-postgres")]
    sqlx::Postgres,
    sqlx::PgConnection,
    begin: postgres_begin,
    begin_with: postgres_begin_with,
    commit: postgres_commit,
    end_unknown: end_unknown,
    commit_with_outbox: outbox::postgres_commit_with_outbox,
    notify_relays: outbox::postgres_notify_relays
);
sqlx_backend!(
    #[cfg(feature = "sqlx-sqlite")]
    sqlx::Sqlite,
    sqlx::SqliteConnection,
    begin: |conn| <sqlx::sqlite::SqliteTransactionManager as TransactionManager>::begin(conn, None),
    begin_with: sqlite::begin_with,
    commit: |conn| commit(conn, None),
    settle: settle_ping,
    watch_server: sqlite::watch_server,
    resync: sqlite::resync
);
sqlx_backend!(
    #[cfg(feature = "sqlx-mysql")]
    sqlx::MySql,
    sqlx::MySqlConnection,
    begin: mysql::begin,
    begin_with: mysql::begin_with,
    commit: mysql::commit,
    rollback: mysql::rollback,
    end_unknown: mysql::end_unknown,
    reset_after_abandon: true
);

// Closed instead of returned to the pool.
crate::backend::forward_backend!(
    impl[DB: Database] PoolConnection<DB> => DB::Connection,
    where [DB::Connection: Backend], [DB::Connection: AsyncBackend],
    discard: |this| this.close_on_drop(),
);

// A transaction a caller opened with sqlx (`pool.begin()`), for `Conn::adopt`. Its guard
// rolls back on drop what is still open.
crate::backend::forward_backend!(
    impl['c, DB: Database] sqlx::Transaction<'c, DB> => DB::Connection,
    where [DB::Connection: Backend], [DB::Connection: AsyncBackend],
    discard: |this| (**this).discard(),
);
