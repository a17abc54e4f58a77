//! Writing outbox messages through sqlx: one statement per batch. Postgres binds five
//! arrays and `UNNEST`s them (one statement whatever the count); MySQL and SQLite get a
//! multi-row `VALUES` list, at most [`ROWS_PER_STATEMENT`] rows each. Rows the fast path
//! takes are written leased to it ([`Message::lease`]).

use std::future::Future;

use crate::BoxError;
use crate::outbox::Message;

/// Rows per multi-row INSERT (6 parameters each: under SQLite's and MySQL's limits).
#[cfg(any(feature = "sqlx-mysql", feature = "sqlx-sqlite"))]
const ROWS_PER_STATEMENT: usize = 1000;

/// The outbox rows of `messages`, written on `conn`.
pub(super) trait OutboxWrite {
    fn write_messages<'a>(
        &'a mut self,
        messages: &'a [Message],
    ) -> impl Future<Output = Result<(), BoxError>> + Send + 'a;
}

/// Postgres: the outbox rows of `$1` to `$5` (ids as a uuid array, bound in binary; topics,
/// payloads and keys as text arrays; leases in seconds, NULL for a row written unclaimed).
/// A leased row is written as a claim leaves it: `lease_until` set, at attempt 1.
#[cfg(feature = "sqlx-postgres")]
macro_rules! insert_from_arrays {
    () => {
        "INSERT INTO oncommit_outbox (id, topic, payload, ordering_key, lease_until, attempts) \
         SELECT u.id, u.topic, CAST(u.payload AS json), u.ordering_key, \
                clock_timestamp() + make_interval(secs => u.lease), \
                CASE WHEN u.lease IS NULL THEN 0 ELSE 1 END \
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::float8[]) \
         AS u(id, topic, payload, ordering_key, lease)"
    };
}

/// Postgres: the outermost COMMIT of a transaction with durable jobs. The rows are written by
/// the statement that reads the transaction id before COMMIT (see the `sqlx` module): no
/// round trip of their own. Its verdict is the plain COMMIT's, except that an error answer
/// of the server is the outbox's ([`CommitFailure::Outbox`]); COMMIT is not sent after a
/// failure.
#[cfg(feature = "sqlx-postgres")]
pub(crate) async fn postgres_commit_with_outbox(
    conn: &mut sqlx::PgConnection,
    messages: &[Message],
) -> Result<(), crate::backend::CommitFailure> {
    use crate::backend::CommitFailure;
    use sqlx::postgres::PgTransactionManager;
    use sqlx_core::transaction::TransactionManager;

    if PgTransactionManager::get_transaction_depth(conn) != 1 {
        conn.write_messages(messages)
            .await
            .map_err(CommitFailure::Outbox)?;
        return super::commit(conn, None).await;
    }
    let (ids, topics, payloads, keys, leases) = columns(messages);
    let id = sqlx::query_scalar::<_, Option<i64>>(concat!(
        "WITH written AS (",
        insert_from_arrays!(),
        ") SELECT CAST(CAST(pg_current_xact_id() AS TEXT) AS BIGINT)"
    ))
    .bind(ids)
    .bind(topics)
    .bind(payloads)
    .bind(keys)
    .bind(leases)
    .fetch_one(&mut *conn)
    .await;
    let transaction_id = super::pre_commit_verdict(id, CommitFailure::Outbox)?;
    super::commit(conn, transaction_id).await
}

/// Postgres: `NOTIFY oncommit_outbox`, on its own after the COMMIT (never inside the
/// transaction). A failure only costs the relays' wait until their next poll.
#[cfg(feature = "sqlx-postgres")]
pub(crate) async fn postgres_notify_relays(conn: &mut sqlx::PgConnection) {
    if let Err(error) = sqlx::query("SELECT pg_notify($1, '')")
        .bind(crate::outbox::NOTIFY_CHANNEL)
        .execute(&mut *conn)
        .await
    {
        tracing::warn!(%error, "NOTIFY of the outbox relays failed; they poll");
    }
}

/// The columns of `messages`, as Postgres arrays bind them.
#[cfg(feature = "sqlx-postgres")]
#[allow(clippy::type_complexity)]
fn columns(
    messages: &[Message],
) -> (
    Vec<uuid::Uuid>,
    Vec<&str>,
    Vec<&str>,
    Vec<Option<&str>>,
    Vec<Option<f64>>,
) {
    (
        messages.iter().map(|m| m.id).collect(),
        messages.iter().map(|m| &*m.topic).collect(),
        messages.iter().map(|m| m.payload.as_str()).collect(),
        messages.iter().map(|m| m.key.as_deref()).collect(),
        messages
            .iter()
            .map(|m| m.lease.map(|lease| lease.as_secs_f64()))
            .collect(),
    )
}

#[cfg(feature = "sqlx-postgres")]
impl OutboxWrite for sqlx::PgConnection {
    async fn write_messages<'a>(&'a mut self, messages: &'a [Message]) -> Result<(), BoxError> {
        let (ids, topics, payloads, keys, leases) = columns(messages);
        sqlx::query(insert_from_arrays!())
            .bind(ids)
            .bind(topics)
            .bind(payloads)
            .bind(keys)
            .bind(leases)
            .execute(&mut *self)
            .await?;
        Ok(())
    }
}

/// MySQL and SQLite: multi-row `VALUES` lists. A leased row is written as a claim leaves it,
/// at attempt 1, its `lease_until` the database's clock plus its lease (`$push_lease` binds
/// NULL for a row written unclaimed).
macro_rules! values_list {
    ($(#[$cfg:meta])* $conn:ty, $db:ty, lease: |$row:ident, $lease:ident| $push_lease:expr) => {
        $(#[$cfg])*
        impl OutboxWrite for $conn {
            fn write_messages<'a>(
                &'a mut self,
                messages: &'a [Message],
            ) -> impl Future<Output = Result<(), BoxError>> + Send + 'a {
                async move {
                    for chunk in messages.chunks(ROWS_PER_STATEMENT) {
                        let mut insert = sqlx::QueryBuilder::<$db>::new(
                            "INSERT INTO oncommit_outbox \
                             (id, topic, payload, ordering_key, attempts, lease_until) ",
                        );
                        insert.push_values(chunk, |mut $row, message| {
                            $row.push_bind(message.id.to_string())
                                .push_bind(&*message.topic)
                                .push_bind(message.payload.as_str())
                                .push_bind(message.key.as_deref())
                                .push_bind(i32::from(message.lease.is_some()));
                            let $lease = message.lease;
                            $push_lease;
                        });
                        insert.build().execute(&mut *self).await?;
                    }
                    Ok(())
                }
            }
        }
    };
}

values_list!(
    #[cfg(feature = "sqlx-mysql")]
    sqlx::MySqlConnection,
    sqlx::MySql,
    lease: |row, lease| {
        use super::relay::{MYSQL_LEASE_END, mysql_lease_value};
        row.push(MYSQL_LEASE_END.before)
            .push_bind_unseparated(lease.map(mysql_lease_value))
            .push_unseparated(MYSQL_LEASE_END.after);
    }
);
values_list!(
    #[cfg(feature = "sqlx-sqlite")]
    sqlx::SqliteConnection,
    sqlx::Sqlite,
    lease: |row, lease| {
        use super::relay::{SQLITE_LEASE_END, sqlite_lease_value};
        row.push(SQLITE_LEASE_END.before)
            .push_bind_unseparated(lease.map(sqlite_lease_value))
            .push_unseparated(SQLITE_LEASE_END.after);
    }
);
