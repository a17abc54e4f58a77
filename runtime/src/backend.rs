//! What a connection must do for [`Conn`](crate::Conn): nested transactions, and its own
//! count of how deep it is.
//!
//! The connection's own depth is the truth: oncommit never keeps a second counter that could
//! disagree with it (sqlx keeps the depth on the connection; so does diesel).

use std::future::Future;

use crate::error::BoxError;

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
}

/// A connection whose transactions run synchronously (diesel, [`Memory`](crate::memory::Memory)).
///
/// Each method acts on the innermost level: `BEGIN` or `SAVEPOINT`, `COMMIT` or `RELEASE`,
/// `ROLLBACK` or `ROLLBACK TO SAVEPOINT`, and moves the depth by one on success.
pub trait SyncBackend: Backend {
    /// Opens a level.
    fn begin(&mut self) -> Result<(), BoxError>;
    /// Commits (or releases) the innermost level.
    fn commit(&mut self) -> Result<(), BoxError>;
    /// Rolls back the innermost level.
    fn rollback(&mut self) -> Result<(), BoxError>;
}

/// A connection whose transactions are async (sqlx, [`Memory`](crate::memory::Memory)).
///
/// Same contract as [`SyncBackend`], awaited.
pub trait AsyncBackend: Backend + Send {
    /// Opens a level.
    fn begin_async(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send;
    /// Commits (or releases) the innermost level.
    fn commit_async(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send;
    /// Rolls back the innermost level.
    fn rollback_async(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send;

    /// Waits until the rollbacks started with [`start_rollback`](Backend::start_rollback)
    /// have been applied, so that [`transaction_depth`](Backend::transaction_depth) is
    /// current. Errors are logged, not returned (they belong to the abandoned block). Called
    /// before a BEGIN that follows an abandoned block. The default does nothing.
    fn settle_async(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
}
