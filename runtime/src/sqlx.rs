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

macro_rules! sqlx_backend {
    ($(#[$cfg:meta])* $db:ty, $conn:ty) => {
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
                boxed(<<$db as Database>::TransactionManager>::begin(self, None))
            }

            fn commit_async(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send {
                boxed(<<$db as Database>::TransactionManager>::commit(self))
            }

            fn rollback_async(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send {
                boxed(<<$db as Database>::TransactionManager>::rollback(self))
            }
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
    sqlx::SqliteConnection
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
}
