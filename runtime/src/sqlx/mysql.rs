//! MySQL and MariaDB: a transaction the server ends by itself must not let the body's later
//! statements autocommit.
//!
//! A deadlock victim (error 1213) is rolled back as a whole by the server, and with the
//! session's default `autocommit=1` every statement the body runs after it (having ignored
//! the error) would commit on its own: part of the body committed, the rest not. So the
//! outermost BEGIN turns `autocommit` off for the session and marks the transaction with a
//! savepoint: `SET autocommit=0; START TRANSACTION; SAVEPOINT oncommit_guard`. After a
//! server rollback, later statements run in a new transaction that commits only when told
//! to, and the savepoint is gone: the COMMIT, sent as `RELEASE SAVEPOINT oncommit_guard;
//! COMMIT; SET autocommit=1`, stops at the RELEASE (error 1305), and that new transaction
//! is rolled back ([`CommitFailure::RolledBack`]).
//!
//! Each of these is one round trip (sqlx's MySQL driver sends multi-statement text queries).
//! sqlx does not know the custom COMMIT ended its level: a queued no-op `ROLLBACK`
//! (`start_rollback`) brings its depth down without waiting.
//!
//! A statement that commits implicitly (DDL, `LOCK TABLES`) also ends the transaction and
//! drops the savepoint: the server cannot tell that from a rollback, and part of the body
//! is then committed. DDL does not belong inside a transaction block on MySQL/MariaDB.
//!
//! An outermost transaction abandoned without waiting (a dropped future) leaves
//! `autocommit` off: [`Backend::RESET_AFTER_ABANDON`] makes `Conn` restore it
//! ([`end_unknown`]) before the next use, or close a pooled connection instead of returning
//! it.
//!
//! [`Backend::RESET_AFTER_ABANDON`]: crate::Backend::RESET_AFTER_ABANDON

use sqlx::mysql::{MySqlConnection, MySqlDatabaseError, MySqlTransactionManager};
use sqlx_core::sql_str::{AssertSqlSafe, SqlSafeStr, SqlStr};
use sqlx_core::transaction::TransactionManager;

use crate::BoxError;
use crate::backend::CommitFailure;
use crate::options::TxOptions;

const BEGIN: &str = "SET autocommit=0; START TRANSACTION; SAVEPOINT oncommit_guard";
const COMMIT: &str = "RELEASE SAVEPOINT oncommit_guard; COMMIT; SET autocommit=1";
const ROLLBACK: &str = "ROLLBACK; SET autocommit=1";

/// `ER_SP_DOES_NOT_EXIST`: the savepoint named is not in the transaction.
const SAVEPOINT_DOES_NOT_EXIST: u16 = 1305;

fn depth(conn: &MySqlConnection) -> usize {
    MySqlTransactionManager::get_transaction_depth(conn)
}

/// The outermost level with `autocommit` off and the guard savepoint; savepoints as sqlx
/// sets them.
pub(super) async fn begin(conn: &mut MySqlConnection) -> Result<(), sqlx::Error> {
    if depth(conn) > 0 {
        return MySqlTransactionManager::begin(conn, None).await;
    }
    begin_outermost(conn, SqlStr::from_static(BEGIN)).await
}

/// Sends `statement` (which turns autocommit off first) as the outermost BEGIN; turns
/// autocommit back on if it fails.
async fn begin_outermost(conn: &mut MySqlConnection, statement: SqlStr) -> Result<(), sqlx::Error> {
    let begun = MySqlTransactionManager::begin(conn, Some(statement)).await;
    if let Err(sqlx::Error::Database(_)) = &begun {
        // A statement after `SET autocommit=0` failed: turn it back on.
        if let Err(error) = sqlx::raw_sql(ROLLBACK).execute(&mut *conn).await {
            tracing::warn!(%error, "restoring autocommit after a failed BEGIN failed");
        }
    }
    begun
}

/// The outermost level with an isolation level (`SET TRANSACTION ISOLATION LEVEL …`, for the
/// next transaction only) or `READ ONLY`.
pub(super) async fn begin_with(
    conn: &mut MySqlConnection,
    options: TxOptions,
) -> Result<(), BoxError> {
    let mut statement = String::from("SET autocommit=0; ");
    if let Some(level) = options.isolation_level() {
        statement.push_str(&format!("SET TRANSACTION ISOLATION LEVEL {level}; "));
    }
    statement.push_str("START TRANSACTION");
    if options.is_read_only() {
        statement.push_str(" READ ONLY");
    }
    statement.push_str("; SAVEPOINT oncommit_guard");
    begin_outermost(conn, AssertSqlSafe(statement).into_sql_str()).await?;
    Ok(())
}

/// The outermost COMMIT checks the guard savepoint first; a RELEASE is sqlx's.
pub(super) async fn commit(conn: &mut MySqlConnection) -> Result<(), CommitFailure> {
    if depth(conn) != 1 {
        return super::commit(conn, None).await;
    }
    match sqlx::raw_sql(COMMIT).execute(&mut *conn).await {
        Ok(_) => {
            MySqlTransactionManager::start_rollback(conn);
            Ok(())
        }
        Err(error) => {
            let guard_gone = error
                .as_database_error()
                .and_then(|error| error.try_downcast_ref::<MySqlDatabaseError>())
                .is_some_and(|error| error.number() == SAVEPOINT_DOES_NOT_EXIST);
            let failure = if guard_gone {
                CommitFailure::RolledBack(
                    "the server ended the transaction before COMMIT (it rolled it back, as it \
                     does to a deadlock victim, or a statement such as DDL committed it \
                     implicitly); what the body ran since was rolled back"
                        .into(),
                )
            } else {
                super::commit_failure(error, None)
            };
            if !matches!(failure, CommitFailure::Unknown { .. })
                && let Err(error) = sqlx::raw_sql(ROLLBACK).execute(&mut *conn).await
            {
                tracing::warn!(%error, "rolling back after a failed COMMIT failed");
            }
            Err(failure)
        }
    }
}

/// The outermost ROLLBACK turns `autocommit` back on; a savepoint's is sqlx's.
pub(super) async fn rollback(conn: &mut MySqlConnection) -> Result<(), sqlx::Error> {
    if depth(conn) != 1 {
        return MySqlTransactionManager::rollback(conn).await;
    }
    sqlx::raw_sql(ROLLBACK).execute(&mut *conn).await?;
    MySqlTransactionManager::start_rollback(conn);
    Ok(())
}

/// After a cancelled BEGIN or an abandoned transaction: end whatever transaction the server
/// is in and turn `autocommit` back on.
pub(super) async fn end_unknown(conn: &mut MySqlConnection) -> Result<(), BoxError> {
    super::end_unknown_with(conn, ROLLBACK).await
}
