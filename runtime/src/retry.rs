//! [`Retryable`]: which errors a new attempt of the whole transaction can get past, for
//! `#[atomic(retry = N)]` and [`Conn::retry_atomic`](crate::Conn::retry_atomic).

use std::error::Error as StdError;

/// An error that tells whether running the whole transaction again can succeed: a
/// serialization failure or a deadlock, reported by the server before anything committed.
///
/// Implemented for [`oncommit::Error`](crate::Error), sqlx's and diesel's errors,
/// `Box<dyn Error + Send + Sync>` and, with the `anyhow` feature, `anyhow::Error`. For an
/// error type of your own, walk its `source()` chain with [`is_transient`]:
///
/// ```
/// #[derive(Debug, thiserror::Error)]
/// enum AppError {
///     #[error(transparent)]
///     Tx(#[from] oncommit::Error),
///     #[error("no such user")]
///     NotFound,
/// }
///
/// impl oncommit::Retryable for AppError {
///     fn is_transient(&self) -> bool {
///         oncommit::is_transient(self)
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "retrying a transaction needs to know which errors are worth a new attempt, and `{Self}` does not implement `oncommit::Retryable`",
    label = "the error type of a retried transaction",
    note = "add `impl oncommit::Retryable for {Self} {{ fn is_transient(&self) -> bool {{ oncommit::is_transient(self) }} }}`"
)]
pub trait Retryable {
    /// True for a serialization failure or a deadlock that rolled the transaction back:
    /// a new attempt may succeed. False for everything else, and always false when the
    /// transaction may have committed.
    fn is_transient(&self) -> bool;
}

/// Walks `error` and its `source()` chain for a serialization failure (SQLSTATE `40001`;
/// MySQL's and MariaDB's deadlock 1213 reports it too), a deadlock (`40P01`), or SQLite's
/// `SQLITE_BUSY`. An [`oncommit::Error`](crate::Error) on the way decides for itself: never
/// transient once the transaction committed or may have.
///
/// ```
/// let error: Box<dyn std::error::Error + Send + Sync> = "not a database error".into();
/// assert!(!oncommit::is_transient(&*error));
/// ```
pub fn is_transient(error: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(error) = error.downcast_ref::<crate::Error>() {
            return error.uncommitted_cause().is_some_and(is_transient);
        }
        if let Some(verdict) = database_verdict(error) {
            return verdict;
        }
        next = error.source();
    }
    false
}

/// The verdict on a database driver's error, if `error` is one.
fn database_verdict(error: &(dyn StdError + 'static)) -> Option<bool> {
    #[cfg(any(
        feature = "sqlx-postgres",
        feature = "sqlx-sqlite",
        feature = "sqlx-mysql"
    ))]
    if let Some(error) = error.downcast_ref::<sqlx::Error>() {
        return Some(match error {
            sqlx::Error::Database(error) => transient_code(error.code().as_deref()),
            _ => false,
        });
    }
    #[cfg(any(feature = "diesel-postgres", feature = "diesel-sqlite"))]
    if let Some(error) = error.downcast_ref::<diesel::result::Error>() {
        return Some(matches!(
            error,
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::SerializationFailure,
                _
            )
        ));
    }
    let _ = error;
    None
}

/// SQLSTATE `40001` (serialization failure; MySQL's deadlock), `40P01` (Postgres's deadlock),
/// SQLite's `SQLITE_BUSY` and `SQLITE_BUSY_SNAPSHOT`.
#[cfg_attr(
    not(any(
        feature = "sqlx-postgres",
        feature = "sqlx-sqlite",
        feature = "sqlx-mysql"
    )),
    allow(dead_code)
)]
fn transient_code(code: Option<&str>) -> bool {
    matches!(code, Some("40001" | "40P01" | "5" | "517"))
}

/// After a transaction finished with `result`: whether to run it again. Only an outermost
/// transaction, only for a transient error, at most `retries` times (`attempt` counts them).
pub(crate) fn again<T, E>(
    result: &Result<T, E>,
    outermost: bool,
    attempt: &mut u32,
    retries: u32,
    transient: fn(&E) -> bool,
) -> bool {
    match result {
        Err(error) if outermost && *attempt < retries && transient(error) => {
            *attempt += 1;
            tracing::warn!(
                attempt = *attempt,
                retries,
                "the transaction failed with a serialization failure or a deadlock; running it again"
            );
            true
        }
        _ => false,
    }
}

impl Retryable for crate::Error {
    fn is_transient(&self) -> bool {
        self.uncommitted_cause().is_some_and(is_transient)
    }
}

impl Retryable for Box<dyn StdError + Send + Sync + 'static> {
    fn is_transient(&self) -> bool {
        is_transient(&**self)
    }
}

impl Retryable for Box<dyn StdError + 'static> {
    fn is_transient(&self) -> bool {
        is_transient(&**self)
    }
}

#[cfg(any(
    feature = "sqlx-postgres",
    feature = "sqlx-sqlite",
    feature = "sqlx-mysql"
))]
impl Retryable for sqlx::Error {
    fn is_transient(&self) -> bool {
        is_transient(self)
    }
}

#[cfg(any(feature = "diesel-postgres", feature = "diesel-sqlite"))]
impl Retryable for diesel::result::Error {
    fn is_transient(&self) -> bool {
        is_transient(self)
    }
}

#[cfg(feature = "anyhow")]
impl Retryable for anyhow::Error {
    fn is_transient(&self) -> bool {
        is_transient(self.as_ref())
    }
}
