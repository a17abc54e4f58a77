//! SQLite: a transaction the server ends by itself must not let the body's later statements
//! autocommit.
//!
//! A conflict resolved with `ROLLBACK` (`INSERT OR ROLLBACK`, `ON CONFLICT ROLLBACK` in the
//! schema) or a trigger's `RAISE(ROLLBACK)` ends the whole transaction; a body that ignores
//! the error would run its later statements in autocommit, each committing on its own. oncommit
//! installs a commit and a rollback callback on the connection, once per `Conn`, reporting to
//! its [`ServerWatch`]: while oncommit's transaction is open, a commit it did not ask for is
//! turned into a rollback (the statement fails), and a rollback it did not ask for is recorded.
//! At the next transaction step the `Conn` reopens sqlx's levels ([`resync`]) and rolls the
//! transaction back instead of committing it.
//!
//! The callbacks stay installed when the `Conn` lets the connection go, and do nothing then.
//! They replace callbacks the application set itself with `LockedSqliteHandle::set_commit_hook`
//! or `set_rollback_hook`.

use std::fmt::Write;
use std::sync::Arc;

use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteTransactionManager;
use sqlx_core::sql_str::AssertSqlSafe;
use sqlx_core::transaction::TransactionManager;

use crate::BoxError;
use crate::options::TxOptions;
use crate::watch::ServerWatch;

/// SQLite's transactions are serializable: `Serializable` is a plain BEGIN, any other option
/// an error.
pub(super) async fn begin_with(
    conn: &mut SqliteConnection,
    options: TxOptions,
) -> Result<(), BoxError> {
    options.check_sqlite()?;
    SqliteTransactionManager::begin(conn, None).await?;
    Ok(())
}

/// Connects SQLite's commit and rollback callbacks to `watch`.
pub(super) async fn watch_server(
    conn: &mut SqliteConnection,
    watch: Arc<ServerWatch>,
) -> Result<(), BoxError> {
    let mut handle = conn.lock_handle().await?;
    let on_commit = watch.clone();
    handle.set_commit_hook(move || on_commit.allows_commit());
    handle.set_rollback_hook(move || watch.rollback_seen());
    Ok(())
}

/// After a rollback by SQLite itself: opens the levels sqlx still counts (`BEGIN`, then its
/// savepoints `_sqlx_savepoint_1` …), so its own ROLLBACK of them succeeds.
pub(super) async fn resync(conn: &mut SqliteConnection) -> Result<(), BoxError> {
    let depth = SqliteTransactionManager::get_transaction_depth(conn);
    if depth == 0 {
        return Ok(());
    }
    let mut statements = String::from("BEGIN");
    for level in 1..depth {
        write!(statements, "; SAVEPOINT _sqlx_savepoint_{level}")?;
    }
    sqlx::raw_sql(AssertSqlSafe(statements))
        .execute(conn)
        .await?;
    Ok(())
}
