//! sqlx connections as backends, through sqlx's own `TransactionManager`: sqlx keeps the
//! depth, issues `BEGIN`/`SAVEPOINT`, and queues the ROLLBACK of an abandoned level exactly as
//! it does for a dropped `sqlx::Transaction`.

use std::future::Future;

use sqlx::Database;
use sqlx::pool::PoolConnection;
use sqlx_core::transaction::TransactionManager;

use crate::backend::{AsyncBackend, Backend};
use crate::error::BoxError;

async fn boxed(result: impl Future<Output = Result<(), sqlx::Error>>) -> Result<(), BoxError> {
    result.await.map_err(Into::into)
}

/// Before a BEGIN: read the replies of statements queued earlier, i.e. the ROLLBACKs that
/// `start_rollback` queued for an abandoned (cancelled) block, so that their failure is not
/// reported as this BEGIN's. One can fail legitimately: a block cancelled while its `RELEASE
/// SAVEPOINT` was in flight leaves sqlx one level deeper than the server, and the queued
/// `ROLLBACK TO SAVEPOINT` names a savepoint that is gone (the `ROLLBACK` queued after it
/// still ends the transaction). Each failure stops one drain, so retry, logging. sqlx's
/// `flush` costs nothing when nothing is queued and is cancel-safe (SQLite: a no-op; its
/// worker runs queued statements before any later command).
async fn drain_queued<C: sqlx::Connection>(conn: &mut C) {
    for _ in 0..16 {
        match conn.flush().await {
            Ok(()) => return,
            Err(error) => tracing::warn!(
                %error,
                "a statement queued for an abandoned transaction block failed"
            ),
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

macro_rules! sqlx_backend {
    ($(#[$cfg:meta])* $db:ty, $conn:ty $(, $settle:ident)?) => {
        $(#[$cfg])*
        impl Backend for $conn {
            fn transaction_depth(&mut self) -> usize {
                <<$db as Database>::TransactionManager>::get_transaction_depth(self)
            }

            fn start_rollback(&mut self) {
                <<$db as Database>::TransactionManager>::start_rollback(self)
            }
        }

        $(#[$cfg])*
        impl AsyncBackend for $conn {
            fn begin_async(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send {
                async move {
                    drain_queued(self).await;
                    boxed(<<$db as Database>::TransactionManager>::begin(self, None)).await
                }
            }

            fn commit_async(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send {
                boxed(<<$db as Database>::TransactionManager>::commit(self))
            }

            fn rollback_async(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send {
                boxed(<<$db as Database>::TransactionManager>::rollback(self))
            }

            $(
            fn settle_async(&mut self) -> impl Future<Output = ()> + Send {
                $settle(self)
            }
            )?
        }
    };
}

sqlx_backend!(
    #[cfg(feature = "sqlx-postgres")]
    sqlx::Postgres,
    sqlx::PgConnection
);
sqlx_backend!(
    #[cfg(feature = "sqlx-sqlite")]
    sqlx::Sqlite,
    sqlx::SqliteConnection,
    settle_ping
);
sqlx_backend!(
    #[cfg(feature = "sqlx-mysql")]
    sqlx::MySql,
    sqlx::MySqlConnection
);

impl<DB: Database> Backend for PoolConnection<DB>
where
    DB::Connection: Backend,
{
    fn transaction_depth(&mut self) -> usize {
        (**self).transaction_depth()
    }

    fn start_rollback(&mut self) {
        (**self).start_rollback()
    }
}

impl<DB: Database> AsyncBackend for PoolConnection<DB>
where
    DB::Connection: AsyncBackend,
{
    fn begin_async(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send {
        (**self).begin_async()
    }

    fn commit_async(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send {
        (**self).commit_async()
    }

    fn rollback_async(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send {
        (**self).rollback_async()
    }

    fn settle_async(&mut self) -> impl Future<Output = ()> + Send {
        (**self).settle_async()
    }
}
