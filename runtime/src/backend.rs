//! What a connection must do for [`Conn`](crate::Conn): nested transactions, and its own
//! count of how deep it is.
//!
//! The connection's own depth is the truth: oncommit never keeps a second counter that could
//! disagree with it (sqlx keeps the depth on the connection; so does diesel).

use std::future::Future;
use std::sync::Arc;

use crate::BoxError;
use crate::options::TxOptions;
use crate::watch::ServerWatch;

/// Why a backend's `COMMIT` (or `RELEASE SAVEPOINT`) did not succeed, as far as it can tell.
///
/// ```
/// use oncommit::{BoxError, CommitFailure};
/// let refused = CommitFailure::from(BoxError::from("deferred constraint violated"));
/// assert!(matches!(refused, CommitFailure::Refused(_)));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum CommitFailure {
    /// The server answered with an error: nothing of the level was committed.
    Refused(BoxError),
    /// The server had already rolled the transaction back by itself (a statement failed and
    /// the body ignored its error; the server chose it as a deadlock victim). Nothing was
    /// committed.
    RolledBack(BoxError),
    /// The outbox rows could not be written before COMMIT (which was not sent): nothing of
    /// the transaction was committed.
    Outbox(BoxError),
    /// The statement was sent but its answer never came (the connection failed): the
    /// server may have committed.
    Unknown {
        /// What the connection reported.
        source: BoxError,
        /// The server's id of the transaction, when it has one (Postgres: `xid8`).
        transaction_id: Option<u64>,
    },
}

impl From<BoxError> for CommitFailure {
    /// An error answer from the server: [`CommitFailure::Refused`].
    fn from(source: BoxError) -> Self {
        CommitFailure::Refused(source)
    }
}

/// The part of a backend that sync and async connections share.
pub trait Backend {
    /// Open transaction levels as the connection counts them: 0 outside a transaction, 1 in a
    /// transaction, 2 or more inside savepoints.
    ///
    /// Takes `&mut self` because diesel exposes its transaction status only through `&mut`
    /// access to the connection.
    fn transaction_depth(&mut self) -> usize;

    /// Starts rolling back the innermost level without waiting (sqlx queues the statement for
    /// the next use of the connection). Called when a transaction block is abandoned by a
    /// panic or a dropped future; must lower [`transaction_depth`](Backend::transaction_depth)
    /// by one when it is above zero, at once or at the latest before the connection runs its
    /// next command (sqlx's SQLite worker lowers it when it runs the queued ROLLBACK).
    fn start_rollback(&mut self);

    /// The connection's transaction state is unknown and cannot be repaired without waiting
    /// (it is being dropped, or handed back by `Conn::into_inner`): make sure nobody else
    /// gets it in that state. A pooled connection is closed instead of returned to its pool.
    /// The default does nothing (a connection that is dropped closes, and the server rolls
    /// back what it held).
    fn discard(&mut self) {}

    /// True when `error`, returned by one of this backend's transaction statements, means the
    /// connection itself is gone (an I/O error, the server closed the session) rather than
    /// the server answering with an error. `Conn` then reports itself broken and refuses to
    /// begin again ([`Conn::is_broken`](crate::Conn::is_broken)). False by default.
    fn is_lost(error: &BoxError) -> bool
    where
        Self: Sized,
    {
        let _ = error;
        false
    }

    /// True when a transaction abandoned without waiting ([`start_rollback`] of the
    /// outermost level) leaves session state behind that only
    /// [`AsyncBackend::end_unknown_transaction`] undoes. sqlx's MySQL connection: oncommit
    /// turns `autocommit` off for its transactions, and the queued `ROLLBACK` does not turn
    /// it back on. Until then the connection is not handed to anyone else
    /// ([`discard`](Backend::discard)). False by default.
    ///
    /// [`start_rollback`]: Backend::start_rollback
    const RESET_AFTER_ABANDON: bool = false;

    /// True when [`AsyncBackend::write_outbox`] (or [`SyncBackend::write_outbox`]) writes the
    /// [`lease`](crate::outbox::Message::lease) of each message: a row with one is written
    /// already claimed, for that long, at attempt 1. This process's relay then publishes
    /// those jobs from memory right after the COMMIT, with no claim of its own (the fast
    /// path). False by default: every row is written unclaimed, and the relay claims it by
    /// id.
    #[cfg(feature = "outbox")]
    const WRITES_OUTBOX_LEASES: bool = false;
}

/// A connection whose transactions run synchronously (diesel, [`Memory`](crate::memory::Memory)).
///
/// Each method acts on the innermost level: `BEGIN` or `SAVEPOINT`, `COMMIT` or `RELEASE`,
/// `ROLLBACK` or `ROLLBACK TO SAVEPOINT`, and moves the depth by one on success.
pub trait SyncBackend: Backend {
    /// Opens a level.
    fn begin(&mut self) -> Result<(), BoxError>;
    /// Commits (or releases) the innermost level. Before the outermost COMMIT, a backend
    /// whose server can roll a transaction back by itself checks that it did not, and
    /// reports [`CommitFailure::RolledBack`] instead of committing.
    fn commit(&mut self) -> Result<(), CommitFailure>;
    /// Rolls back the innermost level.
    fn rollback(&mut self) -> Result<(), BoxError>;

    /// Opens the outermost level with `options` (never called with default options, nor
    /// inside a transaction). The default refuses every option.
    fn begin_with(&mut self, options: TxOptions) -> Result<(), BoxError> {
        Err(options.unsupported("this connection"))
    }

    /// Writes `messages` to the outbox table inside the open transaction, just before its
    /// outermost COMMIT (see [`AsyncBackend::write_outbox`]). The default refuses: the
    /// backend has no outbox, and the transaction is rolled back.
    #[cfg(feature = "outbox")]
    fn write_outbox(&mut self, messages: &[crate::outbox::Message]) -> Result<(), BoxError> {
        Err(format!(
            "this connection cannot write the {} outbox jobs",
            messages.len()
        )
        .into())
    }
}

/// A connection whose transactions are async (sqlx, [`Memory`](crate::memory::Memory)).
///
/// Same contract as [`SyncBackend`], awaited.
pub trait AsyncBackend: Backend + Send {
    /// Opens a level.
    fn begin_async(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send;
    /// Commits (or releases) the innermost level (see [`SyncBackend::commit`]).
    fn commit_async(&mut self) -> impl Future<Output = Result<(), CommitFailure>> + Send;
    /// Rolls back the innermost level.
    fn rollback_async(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send;

    /// Opens the outermost level with `options` (see [`SyncBackend::begin_with`]). The
    /// default refuses every option.
    fn begin_with_async(
        &mut self,
        options: TxOptions,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        async move { Err(options.unsupported("this connection")) }
    }

    /// Waits until the rollbacks started with [`start_rollback`](Backend::start_rollback)
    /// have been applied, so that [`transaction_depth`](Backend::transaction_depth) is
    /// current. Errors are logged, not returned (they belong to the abandoned block). Called
    /// before a BEGIN that follows an abandoned block. The default does nothing.
    fn settle_async(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// An outermost `BEGIN` was sent and its future dropped before the answer came, or (with
    /// [`Backend::RESET_AFTER_ABANDON`]) an outermost transaction was abandoned: the server
    /// may be inside a transaction that the connection does not count, or keep session
    /// settings made for it. End it (an unconditional `ROLLBACK`) and restore them, so
    /// nothing written next is lost. The default does nothing (a backend that undoes a
    /// cancelled BEGIN itself, as sqlx's SQLite worker does).
    fn end_unknown_transaction(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send {
        async { Ok(()) }
    }

    /// Writes `messages` to the outbox table (`oncommit_outbox`) inside the open transaction,
    /// in as few statements as it can (called once, just before the outermost COMMIT). The
    /// default refuses: the backend has no outbox.
    #[cfg(feature = "outbox")]
    fn write_outbox<'a>(
        &'a mut self,
        messages: &'a [crate::outbox::Message],
    ) -> impl Future<Output = Result<(), BoxError>> + Send + 'a {
        let count = messages.len();
        async move { Err(format!("this connection cannot write the {count} outbox jobs").into()) }
    }

    /// Writes `messages` to the outbox ([`write_outbox`](AsyncBackend::write_outbox)), then
    /// commits the innermost level: the outermost COMMIT of a transaction with durable jobs.
    /// A failed write is [`CommitFailure::Outbox`]. Backends may do both in fewer round trips
    /// (Postgres writes the rows in the statement that reads the transaction id).
    #[cfg(feature = "outbox")]
    fn commit_with_outbox<'a>(
        &'a mut self,
        messages: &'a [crate::outbox::Message],
    ) -> impl Future<Output = Result<(), CommitFailure>> + Send + 'a {
        async move {
            self.write_outbox(messages)
                .await
                .map_err(CommitFailure::Outbox)?;
            self.commit_async().await
        }
    }

    /// Wakes the relays of other processes after an outermost COMMIT that wrote durable
    /// jobs, when [`notify_relays`](crate::outbox::notify_relays) is on (Postgres: a `NOTIFY`
    /// after the COMMIT). Nothing by default; a failure is the backend's to log.
    #[cfg(feature = "outbox")]
    fn notify_relays(&mut self) -> impl Future<Output = ()> + Send + '_ {
        async {}
    }

    /// True when the backend reports to a [`ServerWatch`] ([`watch_server`]): its server can
    /// end a transaction by itself and then commit the body's later statements one by one.
    /// False by default.
    ///
    /// [`watch_server`]: AsyncBackend::watch_server
    const WATCHES_SERVER: bool = false;

    /// Connects the server's commit and rollback callbacks to `watch` (called once per `Conn`,
    /// before its first transaction, when [`WATCHES_SERVER`](AsyncBackend::WATCHES_SERVER)).
    /// The default does nothing.
    fn watch_server(
        &mut self,
        watch: Arc<ServerWatch>,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        drop(watch);
        async { Ok(()) }
    }

    /// The server rolled back the open transaction by itself (reported through the
    /// [`ServerWatch`]) while the connection still counts its levels: open as many again, so
    /// that the connection's own ROLLBACK of them succeeds and the body's later statements
    /// stay inside a transaction. The default does nothing.
    fn resync_after_server_rollback(
        &mut self,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        async { Ok(()) }
    }
}

/// A backend that is another one behind `**self`: a pooled connection, a sqlx
/// `Transaction`, a `&mut` borrow. `$discard` makes sure nobody else gets it in an unknown
/// state.
macro_rules! forward_backend {
    (
        impl[$($generics:tt)*] $ty:ty => $target:ty,
        where [$($bounds:tt)*], [$($async_bounds:tt)*],
        discard: |$this:ident| $discard:expr $(,)?
    ) => {
        impl<$($generics)*> Backend for $ty
        where
            $($bounds)*
        {
            const RESET_AFTER_ABANDON: bool = <$target as Backend>::RESET_AFTER_ABANDON;
            #[cfg(feature = "outbox")]
            const WRITES_OUTBOX_LEASES: bool = <$target as Backend>::WRITES_OUTBOX_LEASES;

            fn transaction_depth(&mut self) -> usize {
                (**self).transaction_depth()
            }

            fn start_rollback(&mut self) {
                (**self).start_rollback()
            }

            fn discard(&mut self) {
                let $this = self;
                $discard
            }

            fn is_lost(error: &BoxError) -> bool {
                <$target as Backend>::is_lost(error)
            }
        }

        impl<$($generics)*> AsyncBackend for $ty
        where
            $($async_bounds)*
        {
            fn begin_async(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send {
                (**self).begin_async()
            }

            fn commit_async(&mut self) -> impl Future<Output = Result<(), CommitFailure>> + Send {
                (**self).commit_async()
            }

            fn rollback_async(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send {
                (**self).rollback_async()
            }

            fn begin_with_async(
                &mut self,
                options: TxOptions,
            ) -> impl Future<Output = Result<(), BoxError>> + Send {
                (**self).begin_with_async(options)
            }

            fn settle_async(&mut self) -> impl Future<Output = ()> + Send {
                (**self).settle_async()
            }

            fn end_unknown_transaction(
                &mut self,
            ) -> impl Future<Output = Result<(), BoxError>> + Send {
                (**self).end_unknown_transaction()
            }

            #[cfg(feature = "outbox")]
            fn write_outbox<'a>(
                &'a mut self,
                messages: &'a [crate::outbox::Message],
            ) -> impl Future<Output = Result<(), BoxError>> + Send + 'a {
                (**self).write_outbox(messages)
            }

            #[cfg(feature = "outbox")]
            fn commit_with_outbox<'a>(
                &'a mut self,
                messages: &'a [crate::outbox::Message],
            ) -> impl Future<Output = Result<(), CommitFailure>> + Send + 'a {
                (**self).commit_with_outbox(messages)
            }

            #[cfg(feature = "outbox")]
            fn notify_relays(&mut self) -> impl Future<Output = ()> + Send + '_ {
                (**self).notify_relays()
            }

            const WATCHES_SERVER: bool = <$target as AsyncBackend>::WATCHES_SERVER;

            fn watch_server(
                &mut self,
                watch: std::sync::Arc<crate::watch::ServerWatch>,
            ) -> impl Future<Output = Result<(), BoxError>> + Send {
                (**self).watch_server(watch)
            }

            fn resync_after_server_rollback(
                &mut self,
            ) -> impl Future<Output = Result<(), BoxError>> + Send {
                (**self).resync_after_server_rollback()
            }
        }
    };
}

#[cfg(any(
    feature = "sqlx-postgres",
    feature = "sqlx-sqlite",
    feature = "sqlx-mysql"
))]
pub(crate) use forward_backend;

// A borrowed connection: `Conn::new(&mut connection)`.
forward_backend!(
    impl['c, C: Backend] &'c mut C => C,
    where [], [C: AsyncBackend],
    discard: |this| (**this).discard(),
);

impl<C: SyncBackend> SyncBackend for &mut C {
    fn begin(&mut self) -> Result<(), BoxError> {
        (**self).begin()
    }

    fn commit(&mut self) -> Result<(), CommitFailure> {
        (**self).commit()
    }

    fn rollback(&mut self) -> Result<(), BoxError> {
        (**self).rollback()
    }

    fn begin_with(&mut self, options: TxOptions) -> Result<(), BoxError> {
        (**self).begin_with(options)
    }

    #[cfg(feature = "outbox")]
    fn write_outbox(&mut self, messages: &[crate::outbox::Message]) -> Result<(), BoxError> {
        (**self).write_outbox(messages)
    }
}

/// The database connection a backend runs statements on: a connection is its own; a
/// `PoolConnection`, a sqlx `Transaction` or a `&mut` borrow leads to the one it holds. What
/// [`Conn::executor`](crate::Conn::executor) returns; the bound for functions generic over
/// them (`C: AsConnection<Connection = sqlx::PgConnection>`).
pub trait AsConnection {
    /// The connection statements run on.
    type Connection: ?Sized;

    /// That connection.
    fn as_connection(&mut self) -> &mut Self::Connection;
}

impl<C: AsConnection + ?Sized> AsConnection for &mut C {
    type Connection = C::Connection;

    fn as_connection(&mut self) -> &mut C::Connection {
        (**self).as_connection()
    }
}

/// `AsConnection` for connections that are their own.
macro_rules! own_connection {
    ($($(#[$cfg:meta])* $conn:ty),* $(,)?) => {
        $(
            $(#[$cfg])*
            impl AsConnection for $conn {
                type Connection = Self;

                fn as_connection(&mut self) -> &mut Self {
                    self
                }
            }
        )*
    };
}

own_connection!(
    crate::memory::Memory,
    #[cfg(feature = "diesel-postgres")]
    diesel::PgConnection,
    #[cfg(feature = "diesel-sqlite")]
    diesel::SqliteConnection,
    #[cfg(feature = "sqlx-postgres")]
    sqlx::PgConnection,
    #[cfg(feature = "sqlx-sqlite")]
    sqlx::SqliteConnection,
    #[cfg(feature = "sqlx-mysql")]
    sqlx::MySqlConnection,
);

#[cfg(any(
    feature = "sqlx-postgres",
    feature = "sqlx-sqlite",
    feature = "sqlx-mysql"
))]
impl<DB: sqlx::Database> AsConnection for sqlx::pool::PoolConnection<DB> {
    type Connection = DB::Connection;

    fn as_connection(&mut self) -> &mut DB::Connection {
        self
    }
}

#[cfg(any(
    feature = "sqlx-postgres",
    feature = "sqlx-sqlite",
    feature = "sqlx-mysql"
))]
impl<DB: sqlx::Database> AsConnection for sqlx::Transaction<'_, DB> {
    type Connection = DB::Connection;

    fn as_connection(&mut self) -> &mut DB::Connection {
        self
    }
}
