//! Postgres only: learning whether a transaction whose `COMMIT` answer was lost committed.
//!
//! When the connection fails after `COMMIT` was sent, oncommit returns an [`Error`] whose
//! [`outcome`](crate::Error::outcome) is [`Outcome::Unknown`](crate::Outcome::Unknown) and, for a
//! transaction that wrote something, whose [`transaction_id`](crate::Error::transaction_id) is the
//! server's `xid8`. Ask the server on another connection:
//!
//! ```no_run
//! # async fn f(pool: sqlx::PgPool, error: oncommit::Error) -> Result<(), sqlx::Error> {
//! use oncommit::postgres::{TransactionStatus, transaction_status};
//! if let Some(id) = error.transaction_id() {
//!     match transaction_status(&pool, id).await? {
//!         TransactionStatus::Committed => { /* the data is there: run the jobs now */ }
//!         TransactionStatus::Aborted => { /* nothing was written: retry */ }
//!         TransactionStatus::InProgress | TransactionStatus::Forgotten => { /* ask again later */ }
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! A transaction that wrote nothing has no id: its outcome changes no data. MySQL, MariaDB and
//! SQLite have no equivalent; there the data itself must tell (an outbox row is the remedy).
//!
//! [`Error`]: crate::Error

/// What the server knows of a transaction, by its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionStatus {
    /// It committed.
    Committed,
    /// It was rolled back (or its connection died before COMMIT arrived).
    Aborted,
    /// It is still running (its COMMIT has not been processed yet).
    InProgress,
    /// Too old: the server no longer keeps its status (`pg_xact_status` returned NULL).
    Forgotten,
}

/// Asks the server (through any executor: a pool, a connection) what became of transaction
/// `id` (`pg_xact_status`).
pub async fn transaction_status<'e, E>(
    executor: E,
    id: u64,
) -> Result<TransactionStatus, sqlx::Error>
where
    E: sqlx::PgExecutor<'e>,
{
    let status: Option<String> =
        sqlx::query_scalar("SELECT pg_xact_status(CAST(CAST($1 AS TEXT) AS xid8))")
            .bind(id.to_string())
            .fetch_one(executor)
            .await?;
    Ok(match status.as_deref() {
        Some("committed") => TransactionStatus::Committed,
        Some("aborted") => TransactionStatus::Aborted,
        Some("in progress") => TransactionStatus::InProgress,
        _ => TransactionStatus::Forgotten,
    })
}
