//! The relay's view of the outbox table ([`Store`]) on sqlx's pools. Postgres binds arrays
//! (one statement per step, whatever the batch); MySQL claims with `SELECT … FOR UPDATE SKIP
//! LOCKED` in a transaction (it has no `UPDATE … RETURNING`); SQLite, with one writer, claims
//! with `UPDATE … RETURNING`.

use std::time::Duration;

use uuid::Uuid;

use crate::BoxError;
use crate::outbox::sink::Delivery;
use crate::outbox::store::{Backlog, Claim, Failure, Store};

#[cfg(feature = "sqlx-postgres")]
fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

/// The age of the oldest row from a number of seconds the database computed.
fn age(seconds: Option<f64>) -> Option<Duration> {
    seconds.map(|s| Duration::from_secs_f64(s.max(0.0)))
}

/// Sorted by message id (UUIDv7: the order they were enqueued).
fn in_order(mut batch: Vec<Delivery>) -> Vec<Delivery> {
    batch.sort_unstable_by_key(|d| d.id);
    batch
}

/// A claimed row of MySQL or SQLite: id (text), topic, payload, attempts, ordering key.
#[cfg(any(feature = "sqlx-mysql", feature = "sqlx-sqlite"))]
type TextRow = (String, String, String, i32, Option<String>);

/// Claimed rows of MySQL or SQLite as a batch, in enqueue order.
#[cfg(any(feature = "sqlx-mysql", feature = "sqlx-sqlite"))]
fn batch_of(rows: Vec<TextRow>) -> Result<Vec<Delivery>, BoxError> {
    let batch = rows
        .into_iter()
        .map(|(id, topic, payload, attempts, key)| {
            Ok(Delivery {
                id: Uuid::parse_str(&id)?,
                topic,
                payload,
                attempts,
                key,
            })
        })
        .collect::<Result<_, BoxError>>()?;
    Ok(in_order(batch))
}

/// Pushes `(v1, v2, …)`, each value bound: the list of an `IN`.
#[cfg(any(feature = "sqlx-mysql", feature = "sqlx-sqlite"))]
fn push_list<DB: sqlx::Database>(
    query: &mut sqlx::QueryBuilder<DB>,
    values: impl IntoIterator<Item = String>,
) where
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    query.push("(");
    let mut list = query.separated(", ");
    for value in values {
        list.push_bind(value);
    }
    query.push(")");
}

#[cfg(feature = "sqlx-postgres")]
mod postgres {
    use super::*;
    use sqlx::PgPool;

    type Row = (Uuid, String, String, i32, Option<String>);

    fn deliveries(rows: Vec<Row>) -> Vec<Delivery> {
        in_order(
            rows.into_iter()
                .map(|(id, topic, payload, attempts, key)| Delivery {
                    id,
                    topic,
                    payload,
                    attempts,
                    key,
                })
                .collect(),
        )
    }

    /// The start of a claim or a delete: its transaction commits without waiting for the WAL
    /// flush (`synchronous_commit = off`, for this statement's transaction only). A claim or a
    /// delete that a crash of the server loses only means jobs delivered again (at least
    /// once, under the same message ids), never a job lost: the jobs were committed by the
    /// application's own transaction, whose COMMIT waits as configured. The flush is the
    /// larger part of a small claim's time, and the fast path waits for the claim.
    macro_rules! no_flush {
        () => {
            "WITH no_flush AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true)) "
        };
    }

    /// Leases the rows that the subquery `$claimable` picks (and locks, skipping rows another
    /// relay is claiming) for `$1` seconds, counting an attempt. The rows are named by id
    /// through an array, so the outer UPDATE reaches them through the primary key.
    macro_rules! claim {
        ($($claimable:tt)+) => {
            concat!(
                no_flush!(),
                "UPDATE oncommit_outbox AS o
                 SET lease_until = now() + make_interval(secs => $1), attempts = o.attempts + 1
                 FROM no_flush
                 WHERE o.id = ANY(ARRAY(",
                $($claimable)+,
                " FOR UPDATE SKIP LOCKED))
                 RETURNING o.id, o.topic, CAST(o.payload AS TEXT), o.attempts, o.ordering_key"
            )
        };
    }

    /// A keyed row is claimable only while no older row of its key is in the table (pending,
    /// leased or waiting for a retry): a key's jobs go one at a time, oldest first. The
    /// subquery reads the table without locking it, so a row another relay is claiming
    /// right now still counts as older.
    macro_rules! key_is_free {
        () => {
            " AND (ordering_key IS NULL OR NOT EXISTS (
                 SELECT 1 FROM oncommit_outbox AS older
                 WHERE older.ordering_key = oncommit_outbox.ordering_key
                   AND older.id < oncommit_outbox.id))"
        };
    }

    /// Unclaimed rows (never claimed, or their lease expired) of the topics `$2` (all when
    /// empty), oldest first, at most `$3`. Oldest is by message id: a UUIDv7, in the order
    /// the jobs were enqueued, so the primary key gives the order and no index of its own is
    /// written with each job.
    const CLAIM: &str = claim!(concat!(
        "SELECT id FROM oncommit_outbox
         WHERE (lease_until IS NULL OR lease_until < now())
           AND (cardinality($2::text[]) = 0 OR topic = ANY($2))",
        key_is_free!(),
        " ORDER BY id
         LIMIT $3"
    ));

    /// The rows of the ids `$4` among those `CLAIM` could take (the fast path: rows just
    /// committed, found through the primary key).
    const CLAIM_IDS: &str = claim!(concat!(
        "SELECT id FROM oncommit_outbox
         WHERE id = ANY($4::uuid[])
           AND (lease_until IS NULL OR lease_until < now())
           AND (cardinality($2::text[]) = 0 OR topic = ANY($2))",
        key_is_free!(),
        " ORDER BY id
         LIMIT $3"
    ));

    async fn claim(
        pool: &PgPool,
        ids: Option<&[Uuid]>,
        claim: Claim<'_>,
    ) -> Result<Vec<Delivery>, BoxError> {
        let query = sqlx::query_as(if ids.is_some() { CLAIM_IDS } else { CLAIM })
            .bind(seconds(claim.lease))
            .bind(claim.topics)
            .bind(i64::try_from(claim.limit).unwrap_or(i64::MAX));
        let query = match ids {
            Some(ids) => query.bind(ids),
            None => query,
        };
        let rows: Vec<Row> = query.fetch_all(pool).await?;
        Ok(deliveries(rows))
    }

    fn ids_and_attempts<'a>(
        deliveries: impl Iterator<Item = &'a Delivery>,
    ) -> (Vec<Uuid>, Vec<i32>) {
        deliveries.map(|d| (d.id, d.attempts)).unzip()
    }

    impl Store for PgPool {
        async fn claim<'a>(&'a self, c: Claim<'a>) -> Result<Vec<Delivery>, BoxError> {
            claim(self, None, c).await
        }

        async fn claim_ids<'a>(
            &'a self,
            ids: &'a [Uuid],
            c: Claim<'a>,
        ) -> Result<Vec<Delivery>, BoxError> {
            claim(self, Some(ids), c).await
        }

        async fn delete<'a>(&'a self, delivered: &'a [Delivery]) -> Result<(), BoxError> {
            let ids: Vec<Uuid> = delivered.iter().map(|d| d.id).collect();
            sqlx::query(concat!(
                no_flush!(),
                "DELETE FROM oncommit_outbox USING no_flush WHERE id = ANY($1)"
            ))
            .bind(ids)
            .execute(self)
            .await?;
            Ok(())
        }

        async fn retry_later<'a>(&'a self, failures: &'a [Failure<'a>]) -> Result<(), BoxError> {
            let (ids, attempts) = ids_and_attempts(failures.iter().map(|f| f.delivery));
            let delays: Vec<f64> = failures.iter().map(|f| seconds(f.retry_in)).collect();
            let errors: Vec<&str> = failures.iter().map(|f| f.error.as_str()).collect();
            sqlx::query(
                "UPDATE oncommit_outbox AS o
                 SET lease_until = now() + make_interval(secs => f.delay), last_error = f.error
                 FROM UNNEST($1::uuid[], $2::int4[], $3::float8[], $4::text[])
                      AS f(id, attempts, delay, error)
                 WHERE o.id = f.id AND o.attempts = f.attempts",
            )
            .bind(ids)
            .bind(attempts)
            .bind(delays)
            .bind(errors)
            .execute(self)
            .await?;
            Ok(())
        }

        async fn dead_letter<'a>(&'a self, failures: &'a [Failure<'a>]) -> Result<(), BoxError> {
            let (ids, attempts) = ids_and_attempts(failures.iter().map(|f| f.delivery));
            let errors: Vec<&str> = failures.iter().map(|f| f.error.as_str()).collect();
            sqlx::query(
                "WITH moved AS (
                     DELETE FROM oncommit_outbox AS o
                     USING UNNEST($1::uuid[], $2::int4[], $3::text[]) AS f(id, attempts, error)
                     WHERE o.id = f.id AND o.attempts = f.attempts
                     RETURNING o.id, o.topic, o.payload, o.created_at, o.attempts, f.error
                 )
                 INSERT INTO oncommit_outbox_dead (id, topic, payload, created_at, attempts, last_error)
                 SELECT id, topic, payload, created_at, attempts, error FROM moved
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(ids)
            .bind(attempts)
            .bind(errors)
            .execute(self)
            .await?;
            Ok(())
        }

        async fn release<'a>(&'a self, claimed: &'a [Delivery]) -> Result<(), BoxError> {
            let (ids, attempts) = ids_and_attempts(claimed.iter());
            sqlx::query(
                "UPDATE oncommit_outbox AS o
                 SET lease_until = NULL, attempts = o.attempts - 1
                 FROM UNNEST($1::uuid[], $2::int4[]) AS f(id, attempts)
                 WHERE o.id = f.id AND o.attempts = f.attempts",
            )
            .bind(ids)
            .bind(attempts)
            .execute(self)
            .await?;
            Ok(())
        }

        fn claims_beside_others(&self) -> bool {
            true
        }

        async fn backlog(&self) -> Result<Backlog, BoxError> {
            let (jobs, oldest, dead): (i64, Option<f64>, i64) = sqlx::query_as(
                "SELECT count(*),
                        CAST(EXTRACT(EPOCH FROM now() - min(created_at)) AS float8),
                        (SELECT count(*) FROM oncommit_outbox_dead)
                 FROM oncommit_outbox",
            )
            .fetch_one(self)
            .await?;
            Ok(Backlog {
                jobs: jobs as u64,
                oldest: age(oldest),
                dead: dead as u64,
            })
        }
    }
}

/// MySQL and SQLite: the same statements but for the clock, the claim, and the age.
macro_rules! row_store {
    (
        $(#[$cfg:meta])* $pool:ty, $db:ty,
        lease: |$builder:ident, $lease:ident| $push_lease:expr,
        claim: $claim:ident,
        age: $age:literal $(,)?
    ) => {
        $(#[$cfg])*
        impl Store for $pool {
            async fn claim<'a>(&'a self, c: Claim<'a>) -> Result<Vec<Delivery>, BoxError> {
                $claim(self, None, c).await
            }

            async fn claim_ids<'a>(
                &'a self,
                ids: &'a [Uuid],
                c: Claim<'a>,
            ) -> Result<Vec<Delivery>, BoxError> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                $claim(self, Some(ids), c).await
            }

            async fn delete<'a>(&'a self, delivered: &'a [Delivery]) -> Result<(), BoxError> {
                let mut delete =
                    sqlx::QueryBuilder::<$db>::new("DELETE FROM oncommit_outbox WHERE id IN ");
                push_list(&mut delete, delivered.iter().map(|d| d.id.to_string()));
                delete.build().execute(self).await?;
                Ok(())
            }

            async fn retry_later<'a>(&'a self, failures: &'a [Failure<'a>]) -> Result<(), BoxError> {
                let mut tx = self.begin().await?;
                for f in failures {
                    let mut update =
                        sqlx::QueryBuilder::<$db>::new("UPDATE oncommit_outbox SET lease_until = ");
                    {
                        let $builder = &mut update;
                        let $lease = f.retry_in;
                        $push_lease;
                    }
                    update
                        .push(", last_error = ")
                        .push_bind(f.error.as_str())
                        .push(" WHERE id = ")
                        .push_bind(f.delivery.id.to_string())
                        .push(" AND attempts = ")
                        .push_bind(f.delivery.attempts);
                    update.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn dead_letter<'a>(&'a self, failures: &'a [Failure<'a>]) -> Result<(), BoxError> {
                let mut tx = self.begin().await?;
                for f in failures {
                    let id = f.delivery.id.to_string();
                    sqlx::query(
                        "INSERT INTO oncommit_outbox_dead (id, topic, payload, created_at, attempts, last_error)
                         SELECT id, topic, payload, created_at, attempts, ? FROM oncommit_outbox
                         WHERE id = ? AND attempts = ?",
                    )
                    .bind(f.error.as_str())
                    .bind(&id)
                    .bind(f.delivery.attempts)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("DELETE FROM oncommit_outbox WHERE id = ? AND attempts = ?")
                        .bind(&id)
                        .bind(f.delivery.attempts)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn release<'a>(&'a self, claimed: &'a [Delivery]) -> Result<(), BoxError> {
                let mut tx = self.begin().await?;
                for d in claimed {
                    sqlx::query(
                        "UPDATE oncommit_outbox SET lease_until = NULL, attempts = attempts - 1
                         WHERE id = ? AND attempts = ?",
                    )
                    .bind(d.id.to_string())
                    .bind(d.attempts)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn backlog(&self) -> Result<Backlog, BoxError> {
                let (jobs, oldest, dead): (i64, Option<f64>, i64) = sqlx::query_as(concat!(
                    "SELECT COUNT(*), CAST(",
                    $age,
                    " AS DOUBLE), (SELECT COUNT(*) FROM oncommit_outbox_dead) FROM oncommit_outbox"
                ))
                .fetch_one(self)
                .await?;
                Ok(Backlog {
                    jobs: jobs as u64,
                    oldest: age(oldest),
                    dead: dead as u64,
                })
            }
        }
    };
}

/// `WHERE` for unclaimed rows (of `ids`, of the topics) at `now`.
#[cfg(any(feature = "sqlx-mysql", feature = "sqlx-sqlite"))]
fn push_claimable<DB: sqlx::Database>(
    query: &mut sqlx::QueryBuilder<DB>,
    now: &str,
    ids: Option<&[Uuid]>,
    topics: &[String],
) where
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    query
        .push(" WHERE (lease_until IS NULL OR lease_until < ")
        .push(now)
        .push(")");
    if let Some(ids) = ids {
        query.push(" AND id IN ");
        push_list(query, ids.iter().map(Uuid::to_string));
    }
    if !topics.is_empty() {
        query.push(" AND topic IN ");
        push_list(query, topics.iter().cloned());
    }
}

#[cfg(feature = "sqlx-mysql")]
const MYSQL_NOW: &str = "NOW(6)";

/// How a dialect writes a lease's end, the database's clock plus a lease: the SQL around one
/// bound value (a NULL value gives NULL: no lease). A claim and a leased INSERT use the same.
#[cfg(any(feature = "sqlx-mysql", feature = "sqlx-sqlite"))]
pub(super) struct LeaseEnd {
    pub(super) before: &'static str,
    pub(super) after: &'static str,
}

/// MySQL: `NOW(6) + INTERVAL ? MICROSECOND`, the value from [`mysql_lease_value`].
#[cfg(feature = "sqlx-mysql")]
pub(super) const MYSQL_LEASE_END: LeaseEnd = LeaseEnd {
    before: "NOW(6) + INTERVAL ",
    after: " MICROSECOND",
};

/// The value [`MYSQL_LEASE_END`] binds: the lease in microseconds.
#[cfg(feature = "sqlx-mysql")]
pub(super) fn mysql_lease_value(lease: Duration) -> i64 {
    i64::try_from(lease.as_micros()).unwrap_or(i64::MAX)
}

#[cfg(feature = "sqlx-mysql")]
fn mysql_lease(query: &mut sqlx::QueryBuilder<sqlx::MySql>, lease: Duration) {
    query
        .push(MYSQL_LEASE_END.before)
        .push_bind(mysql_lease_value(lease))
        .push(MYSQL_LEASE_END.after);
}

/// MySQL: of the locked candidates, the unkeyed ones and those that are the oldest row of
/// their key in the table (a key's jobs go one at a time, oldest first). The oldest are read
/// without locking (a consistent read, under READ COMMITTED the latest committed rows), so a
/// row another relay holds locked still counts as older: a locking read with `SKIP LOCKED`
/// would skip it and let its younger row through.
#[cfg(feature = "sqlx-mysql")]
async fn mysql_oldest_of_their_keys(
    tx: &mut sqlx::Transaction<'_, sqlx::MySql>,
    candidates: Vec<(String, Option<String>)>,
) -> Result<Vec<(String,)>, BoxError> {
    let keys: Vec<String> = candidates
        .iter()
        .filter_map(|(_, key)| key.clone())
        .collect();
    if keys.is_empty() {
        return Ok(candidates.into_iter().map(|(id, _)| (id,)).collect());
    }
    let mut oldest = sqlx::QueryBuilder::<sqlx::MySql>::new(
        "SELECT MIN(id) FROM oncommit_outbox WHERE ordering_key IN ",
    );
    push_list(&mut oldest, keys);
    oldest.push(" GROUP BY ordering_key");
    let oldest: Vec<(String,)> = oldest.build_query_as().fetch_all(&mut **tx).await?;
    let oldest: std::collections::HashSet<String> = oldest.into_iter().map(|(id,)| id).collect();
    Ok(candidates
        .into_iter()
        .filter(|(id, key)| key.is_none() || oldest.contains(id))
        .map(|(id, _)| (id,))
        .collect())
}

/// MySQL: lock unclaimed rows (skipping rows another relay holds), lease them, read them.
/// READ COMMITTED: under InnoDB's default REPEATABLE READ a claim keeps a lock on every row
/// it scanned until it commits, matching or not, so concurrent relays of other topics would
/// make each other's rows look held (`SKIP LOCKED`) and claim nothing.
#[cfg(feature = "sqlx-mysql")]
async fn mysql_claim(
    pool: &sqlx::MySqlPool,
    ids: Option<&[Uuid]>,
    c: Claim<'_>,
) -> Result<Vec<Delivery>, BoxError> {
    use sqlx::{Acquire, MySql};
    let mut conn = pool.acquire().await?;
    sqlx::raw_sql("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
        .execute(&mut *conn)
        .await?;
    let mut tx = conn.begin().await?;
    let mut select =
        sqlx::QueryBuilder::<MySql>::new("SELECT id, ordering_key FROM oncommit_outbox");
    push_claimable(&mut select, MYSQL_NOW, ids, c.topics);
    // A key's younger jobs are left out before the LIMIT, so that a key whose oldest job
    // waits cannot fill the batch with rows nobody may take. The subquery is a plain read
    // (a locking clause applies to the outer query only); the read after it checks again.
    select
        .push(
            " AND (ordering_key IS NULL OR NOT EXISTS (SELECT 1 FROM oncommit_outbox AS older \
             WHERE older.ordering_key = oncommit_outbox.ordering_key \
             AND older.id < oncommit_outbox.id))",
        )
        .push(" ORDER BY created_at LIMIT ")
        .push_bind(i64::try_from(c.limit).unwrap_or(i64::MAX))
        .push(" FOR UPDATE SKIP LOCKED");
    let candidates: Vec<(String, Option<String>)> =
        select.build_query_as().fetch_all(&mut *tx).await?;
    let locked = mysql_oldest_of_their_keys(&mut tx, candidates).await?;
    if locked.is_empty() {
        tx.commit().await?;
        return Ok(Vec::new());
    }
    let mut update = sqlx::QueryBuilder::<MySql>::new(
        "UPDATE oncommit_outbox SET attempts = attempts + 1, lease_until = ",
    );
    mysql_lease(&mut update, c.lease);
    update.push(" WHERE id IN ");
    push_list(&mut update, locked.iter().map(|(id,)| id.clone()));
    update.build().execute(&mut *tx).await?;
    let mut read = sqlx::QueryBuilder::<MySql>::new(
        "SELECT id, topic, payload, attempts, ordering_key FROM oncommit_outbox WHERE id IN ",
    );
    push_list(&mut read, locked.into_iter().map(|(id,)| id));
    let rows: Vec<TextRow> = read.build_query_as().fetch_all(&mut *tx).await?;
    tx.commit().await?;
    batch_of(rows)
}

row_store!(
    #[cfg(feature = "sqlx-mysql")]
    sqlx::MySqlPool, sqlx::MySql,
    lease: |query, lease| mysql_lease(query, lease),
    claim: mysql_claim,
    age: "TIMESTAMPDIFF(MICROSECOND, MIN(created_at), NOW(6)) / 1000000.0",
);

#[cfg(feature = "sqlx-sqlite")]
const SQLITE_NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/// SQLite: `strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)`, the value from [`sqlite_lease_value`].
#[cfg(feature = "sqlx-sqlite")]
pub(super) const SQLITE_LEASE_END: LeaseEnd = LeaseEnd {
    before: "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ",
    after: ")",
};

/// The value [`SQLITE_LEASE_END`] binds: a `strftime` modifier, `+30.000 seconds`.
#[cfg(feature = "sqlx-sqlite")]
pub(super) fn sqlite_lease_value(lease: Duration) -> String {
    format!("+{:.3} seconds", lease.as_secs_f64())
}

#[cfg(feature = "sqlx-sqlite")]
fn sqlite_lease(query: &mut sqlx::QueryBuilder<sqlx::Sqlite>, lease: Duration) {
    query
        .push(SQLITE_LEASE_END.before)
        .push_bind(sqlite_lease_value(lease))
        .push(SQLITE_LEASE_END.after);
}

/// SQLite: one writer, so one `UPDATE … RETURNING` claims.
#[cfg(feature = "sqlx-sqlite")]
async fn sqlite_claim(
    pool: &sqlx::SqlitePool,
    ids: Option<&[Uuid]>,
    c: Claim<'_>,
) -> Result<Vec<Delivery>, BoxError> {
    let mut claim = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
        "UPDATE oncommit_outbox SET attempts = attempts + 1, lease_until = ",
    );
    sqlite_lease(&mut claim, c.lease);
    claim.push(" WHERE id IN (SELECT id FROM oncommit_outbox");
    push_claimable(&mut claim, SQLITE_NOW, ids, c.topics);
    // A key's jobs go one at a time, oldest first (one writer: no claim races this one).
    claim
        .push(
            " AND (ordering_key IS NULL OR NOT EXISTS (SELECT 1 FROM oncommit_outbox AS older \
             WHERE older.ordering_key = oncommit_outbox.ordering_key \
             AND older.id < oncommit_outbox.id))",
        )
        .push(" ORDER BY created_at LIMIT ")
        .push_bind(i64::try_from(c.limit).unwrap_or(i64::MAX))
        .push(") RETURNING id, topic, payload, attempts, ordering_key");
    let rows: Vec<TextRow> = claim.build_query_as().fetch_all(pool).await?;
    batch_of(rows)
}

row_store!(
    #[cfg(feature = "sqlx-sqlite")]
    sqlx::SqlitePool, sqlx::Sqlite,
    lease: |query, lease| sqlite_lease(query, lease),
    claim: sqlite_claim,
    age: "(julianday('now') - julianday(MIN(created_at))) * 86400.0",
);
