//! Writing outbox messages through sqlx: one statement per batch. Postgres binds three
//! arrays and `UNNEST`s them (one statement whatever the count); MySQL and SQLite get a
//! multi-row `VALUES` list, at most [`ROWS_PER_STATEMENT`] rows each.

use std::future::Future;

use crate::BoxError;
use crate::outbox::Message;

/// Rows per multi-row INSERT (3 parameters each: under SQLite's and MySQL's limits).
const ROWS_PER_STATEMENT: usize = 1000;

/// The outbox rows of `messages`, written on `conn`.
pub(super) trait OutboxWrite {
    fn write_messages<'a>(
        &'a mut self,
        messages: &'a [Message],
    ) -> impl Future<Output = Result<(), BoxError>> + Send + 'a;
}

pub(super) fn write<'a, C: OutboxWrite>(
    conn: &'a mut C,
    messages: &'a [Message],
) -> impl Future<Output = Result<(), BoxError>> + Send + 'a {
    conn.write_messages(messages)
}

#[cfg(feature = "sqlx-postgres")]
impl OutboxWrite for sqlx::PgConnection {
    async fn write_messages<'a>(&'a mut self, messages: &'a [Message]) -> Result<(), BoxError> {
        let ids: Vec<String> = messages.iter().map(|m| m.id.to_string()).collect();
        let topics: Vec<&str> = messages.iter().map(|m| m.topic).collect();
        let payloads: Vec<&str> = messages.iter().map(|m| m.payload.as_str()).collect();
        sqlx::query(
            "INSERT INTO oncommit_outbox (id, topic, payload) \
             SELECT CAST(u.id AS uuid), u.topic, CAST(u.payload AS jsonb) \
             FROM UNNEST($1::text[], $2::text[], $3::text[]) AS u(id, topic, payload)",
        )
        .bind(ids)
        .bind(topics)
        .bind(payloads)
        .execute(&mut *self)
        .await?;
        Ok(())
    }
}

macro_rules! values_list {
    ($(#[$cfg:meta])* $conn:ty, $db:ty) => {
        $(#[$cfg])*
        impl OutboxWrite for $conn {
            fn write_messages<'a>(
                &'a mut self,
                messages: &'a [Message],
            ) -> impl Future<Output = Result<(), BoxError>> + Send + 'a {
                async move {
                    for chunk in messages.chunks(ROWS_PER_STATEMENT) {
                        let mut insert = sqlx::QueryBuilder::<$db>::new(
                            "INSERT INTO oncommit_outbox (id, topic, payload) ",
                        );
                        insert.push_values(chunk, |mut row, message| {
                            row.push_bind(message.id.to_string())
                                .push_bind(message.topic)
                                .push_bind(message.payload.as_str());
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
    sqlx::MySql
);
values_list!(
    #[cfg(feature = "sqlx-sqlite")]
    sqlx::SqliteConnection,
    sqlx::Sqlite
);
