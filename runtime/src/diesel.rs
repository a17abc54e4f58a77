//! diesel's synchronous connections as backends, through diesel's own
//! `AnsiTransactionManager`: diesel issues `BEGIN` / `SAVEPOINT diesel_savepoint_N`, keeps the
//! depth, and oncommit reads that depth back, so the two never disagree (a transaction opened
//! with diesel's own `conn.transaction(..)` is seen as foreign, not miscounted).
//!
//! Features: `diesel-postgres` (`diesel::PgConnection`), `diesel-sqlite`
//! (`diesel::SqliteConnection`), or `diesel` for both. diesel's `MysqlConnection` is not
//! supported (its backend needs the system `libmysqlclient`).
//!
//! ```
//! # #[cfg(feature = "diesel-sqlite")] {
//! use diesel::{Connection, RunQueryDsl, SqliteConnection};
//! use oncommit::{BoxError, Conn};
//! use std::sync::mpsc;
//!
//! let (queue, worker) = mpsc::channel();
//! let mut conn = Conn::new(SqliteConnection::establish(":memory:")?);
//! diesel::sql_query("CREATE TABLE users (id INTEGER PRIMARY KEY)").execute(&mut *conn)?;
//! conn.atomic(|conn| {
//!     diesel::sql_query("INSERT INTO users (id) VALUES (7)").execute(&mut **conn)?;
//!     let queue = queue.clone();
//!     conn.on_commit(move || queue.send(7))?;
//!     assert!(worker.try_recv().is_err()); // not before COMMIT
//!     Ok::<_, BoxError>(())
//! })?;
//! assert_eq!(worker.try_recv(), Ok(7));
//! # }
//! # Ok::<(), oncommit::BoxError>(())
//! ```
//!
//! A block abandoned by a panic is rolled back synchronously (diesel has no way to queue a
//! statement); a failing ROLLBACK there is logged with `tracing` and left to diesel's
//! transaction manager, which marks the connection broken when it cannot recover.

use diesel::connection::{AnsiTransactionManager, Connection, TransactionManager};

use crate::BoxError;
use crate::backend::{Backend, CommitFailure, SyncBackend};
use crate::options::TxOptions;

/// A failed COMMIT or RELEASE: the server's own error answer means nothing was committed; a
/// closed connection means the answer was lost.
fn commit_failure(error: diesel::result::Error, transaction_id: Option<u64>) -> CommitFailure {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
        | Error::BrokenTransactionManager => CommitFailure::Unknown {
            source: error.into(),
            transaction_id,
        },
        other => CommitFailure::Refused(other.into()),
    }
}

fn commit<C>(conn: &mut C, transaction_id: Option<u64>) -> Result<(), CommitFailure>
where
    C: Connection<TransactionManager = AnsiTransactionManager>,
{
    AnsiTransactionManager::commit_transaction(conn)
        .map_err(|error| commit_failure(error, transaction_id))
}

/// Postgres: before the outermost COMMIT, read the transaction id. In a transaction the
/// server aborted (a failed statement whose error the body ignored) the query fails, where
/// COMMIT would be answered with ROLLBACK and no error.
#[cfg(feature = "diesel-postgres")]
fn postgres_commit(conn: &mut diesel::PgConnection) -> Result<(), CommitFailure> {
    use diesel::RunQueryDsl;
    use diesel::result::{DatabaseErrorKind, Error};
    use diesel::sql_types::{BigInt, Nullable};

    let mut transaction_id = None;
    if depth(conn) == 1 {
        let id = diesel::select(diesel::dsl::sql::<Nullable<BigInt>>(
            "CAST(CAST(pg_current_xact_id_if_assigned() AS TEXT) AS BIGINT)",
        ))
        .get_result::<Option<i64>>(conn);
        match id {
            Ok(id) => transaction_id = id.and_then(|id| u64::try_from(id).ok()),
            // The server's answer to a plain SELECT: the transaction is aborted.
            Err(error @ Error::DatabaseError(kind, _))
                if kind != DatabaseErrorKind::ClosedConnection =>
            {
                return Err(CommitFailure::RolledBack(error.into()));
            }
            // COMMIT was never sent: nothing was committed.
            Err(error) => return Err(CommitFailure::Refused(error.into())),
        }
    }
    commit(conn, transaction_id)
}

fn depth<C>(conn: &mut C) -> usize
where
    C: Connection<TransactionManager = AnsiTransactionManager>,
{
    match AnsiTransactionManager::transaction_manager_status_mut(conn).transaction_depth() {
        Ok(depth) => depth.map_or(0, |depth| depth.get() as usize),
        Err(error) => {
            // A broken transaction manager refuses every transaction statement; reporting 0
            // lets the next BEGIN reach diesel and return its error to the caller.
            tracing::error!(%error, "diesel's transaction manager is broken");
            0
        }
    }
}

fn start_rollback<C>(conn: &mut C)
where
    C: Connection<TransactionManager = AnsiTransactionManager>,
{
    let depth = depth(conn);
    if depth == 0 {
        return;
    }
    if let Err(error) = AnsiTransactionManager::rollback_transaction(conn) {
        tracing::error!(depth, %error, "rolling back an abandoned diesel transaction failed");
    }
}

/// Postgres: `BEGIN ISOLATION LEVEL … READ ONLY` through diesel's transaction manager.
#[cfg(feature = "diesel-postgres")]
fn postgres_begin_with(
    conn: &mut diesel::PgConnection,
    options: TxOptions,
) -> Result<(), BoxError> {
    let statement = format!("BEGIN{}", options.characteristics());
    AnsiTransactionManager::begin_transaction_sql(conn, &statement).map_err(Into::into)
}

/// SQLite: `Serializable` is a plain BEGIN, any other option an error.
#[cfg(feature = "diesel-sqlite")]
fn sqlite_begin_with(
    conn: &mut diesel::SqliteConnection,
    options: TxOptions,
) -> Result<(), BoxError> {
    options.check_sqlite()?;
    AnsiTransactionManager::begin_transaction(conn).map_err(Into::into)
}

macro_rules! diesel_backend {
    ($(#[$cfg:meta])* $conn:ty, $commit:expr, $begin_with:expr, $write_outbox:path, leases: $leases:literal) => {
        $(#[$cfg])*
        impl Backend for $conn {
            fn transaction_depth(&mut self) -> usize {
                depth(self)
            }

            #[cfg(feature = "outbox")]
            const WRITES_OUTBOX_LEASES: bool = $leases;

            fn start_rollback(&mut self) {
                start_rollback(self)
            }

            fn is_lost(error: &BoxError) -> bool {
                use diesel::result::{DatabaseErrorKind, Error};
                matches!(
                    error.downcast_ref::<Error>(),
                    Some(
                        Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
                            | Error::BrokenTransactionManager
                    )
                )
            }
        }

        $(#[$cfg])*
        impl SyncBackend for $conn {
            fn begin(&mut self) -> Result<(), BoxError> {
                AnsiTransactionManager::begin_transaction(self).map_err(Into::into)
            }

            fn commit(&mut self) -> Result<(), CommitFailure> {
                $commit(self)
            }

            fn rollback(&mut self) -> Result<(), BoxError> {
                AnsiTransactionManager::rollback_transaction(self).map_err(Into::into)
            }

            fn begin_with(&mut self, options: TxOptions) -> Result<(), BoxError> {
                $begin_with(self, options)
            }

            #[cfg(feature = "outbox")]
            fn write_outbox(
                &mut self,
                messages: &[crate::outbox::Message],
            ) -> Result<(), BoxError> {
                $write_outbox(self, messages)
            }
        }
    };
}

/// Writing the outbox rows through diesel: Postgres binds five arrays and `UNNEST`s them (one
/// statement; rows the fast path takes are written leased to it); SQLite inserts 1,000 rows
/// per statement, unclaimed (the relay claims them by id).
#[cfg(feature = "outbox")]
mod outbox {
    use diesel::RunQueryDsl;

    use crate::BoxError;
    use crate::outbox::Message;

    #[cfg(feature = "diesel-postgres")]
    pub(super) fn write_postgres(
        conn: &mut diesel::PgConnection,
        messages: &[Message],
    ) -> Result<(), BoxError> {
        use diesel::sql_types::{Array, Double, Nullable, Text};
        let ids: Vec<String> = messages.iter().map(|m| m.id.to_string()).collect();
        let topics: Vec<&str> = messages.iter().map(|m| &*m.topic).collect();
        let payloads: Vec<&str> = messages.iter().map(|m| m.payload.as_str()).collect();
        let keys: Vec<Option<&str>> = messages.iter().map(|m| m.key.as_deref()).collect();
        let leases: Vec<Option<f64>> = messages
            .iter()
            .map(|m| m.lease.map(|lease| lease.as_secs_f64()))
            .collect();
        diesel::sql_query(crate::outbox::postgres_insert_from_arrays!())
            .bind::<Array<Text>, _>(ids)
            .bind::<Array<Text>, _>(topics)
            .bind::<Array<Text>, _>(payloads)
            .bind::<Array<Nullable<Text>>, _>(keys)
            .bind::<Array<Nullable<Double>>, _>(leases)
            .execute(conn)?;
        Ok(())
    }

    #[cfg(feature = "diesel-sqlite")]
    diesel::table! {
        oncommit_outbox (id) {
            id -> Text,
            topic -> Text,
            payload -> Text,
            ordering_key -> Nullable<Text>,
        }
    }

    #[cfg(feature = "diesel-sqlite")]
    pub(super) fn write_sqlite(
        conn: &mut diesel::SqliteConnection,
        messages: &[Message],
    ) -> Result<(), BoxError> {
        use diesel::ExpressionMethods;
        use oncommit_outbox::dsl;
        for chunk in messages.chunks(1000) {
            let rows: Vec<_> = chunk
                .iter()
                .map(|m| {
                    (
                        dsl::id.eq(m.id.to_string()),
                        dsl::topic.eq(&*m.topic),
                        dsl::payload.eq(m.payload.as_str()),
                        dsl::ordering_key.eq(m.key.as_deref()),
                    )
                })
                .collect();
            diesel::insert_into(dsl::oncommit_outbox)
                .values(&rows)
                .execute(conn)?;
        }
        Ok(())
    }
}

diesel_backend!(
    #[cfg(feature = "diesel-postgres")]
    diesel::PgConnection,
    postgres_commit,
    postgres_begin_with,
    outbox::write_postgres,
    leases: true
);
diesel_backend!(
    #[cfg(feature = "diesel-sqlite")]
    diesel::SqliteConnection,
    |conn| commit(conn, None),
    sqlite_begin_with,
    outbox::write_sqlite,
    leases: false
);
