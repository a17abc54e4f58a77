//! The outbox table: its schema per database, and a helper that creates it.

/// The SQL dialects the outbox table is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dialect {
    /// Postgres.
    Postgres,
    /// MySQL and MariaDB.
    MySql,
    /// SQLite.
    Sqlite,
}

/// The migration that creates the outbox table (`oncommit_outbox`) in `dialect`: the same
/// SQL as `runtime/migrations/<dialect>/0001_oncommit_outbox.sql`, to add to your own
/// migrations.
///
/// ```
/// use oncommit::outbox::{Dialect, schema};
/// assert!(schema(Dialect::Postgres).contains("CREATE TABLE IF NOT EXISTS oncommit_outbox"));
/// ```
pub fn schema(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => include_str!("../../migrations/postgres/0001_oncommit_outbox.sql"),
        Dialect::MySql => include_str!("../../migrations/mysql/0001_oncommit_outbox.sql"),
        Dialect::Sqlite => include_str!("../../migrations/sqlite/0001_oncommit_outbox.sql"),
    }
}

/// The migration that adds the ordering key of per-key order ([`Job::key`]) to a table made
/// by [`schema`]: `runtime/migrations/<dialect>/0002_oncommit_outbox_ordering_key.sql`, to
/// add after it to your own migrations.
///
/// [`Job::key`]: crate::outbox::Job::key
///
/// ```
/// use oncommit::outbox::{Dialect, ordering_key_migration};
/// assert!(ordering_key_migration(Dialect::Sqlite).contains("ADD COLUMN ordering_key"));
/// ```
pub fn ordering_key_migration(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => {
            include_str!("../../migrations/postgres/0002_oncommit_outbox_ordering_key.sql")
        }
        Dialect::MySql => {
            include_str!("../../migrations/mysql/0002_oncommit_outbox_ordering_key.sql")
        }
        Dialect::Sqlite => {
            include_str!("../../migrations/sqlite/0002_oncommit_outbox_ordering_key.sql")
        }
    }
}

/// A row when the outbox table has its ordering key.
#[cfg(any(
    feature = "sqlx-postgres",
    feature = "sqlx-sqlite",
    feature = "sqlx-mysql"
))]
fn ordering_key_present(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => {
            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() \
             AND table_name = 'oncommit_outbox' AND column_name = 'ordering_key'"
        }
        Dialect::MySql => {
            "SELECT 1 FROM information_schema.columns WHERE table_schema = DATABASE() \
             AND table_name = 'oncommit_outbox' AND column_name = 'ordering_key'"
        }
        Dialect::Sqlite => {
            "SELECT 1 FROM pragma_table_info('oncommit_outbox') WHERE name = 'ordering_key'"
        }
    }
}

/// Creates the outbox tables if they do not exist ([`schema`]), and adds the ordering key
/// to a table an earlier version made ([`ordering_key_migration`]; a catalog read first, so
/// a table that has it is not locked). On a pool (`&pool`) or a connection (`&mut conn`).
///
/// ```no_run
/// # async fn f(pool: sqlx::PgPool) -> Result<(), sqlx::Error> {
/// use oncommit::outbox::{Dialect, migrate};
/// migrate(&pool, Dialect::Postgres).await?;
/// # Ok(()) }
/// ```
#[cfg(any(
    feature = "sqlx-postgres",
    feature = "sqlx-sqlite",
    feature = "sqlx-mysql"
))]
pub async fn migrate<'a, A>(target: A, dialect: Dialect) -> Result<(), sqlx::Error>
where
    A: sqlx::Acquire<'a>,
    for<'c> &'c mut <A::Database as sqlx::Database>::Connection:
        sqlx::Executor<'c, Database = A::Database>,
{
    let mut conn = target.acquire().await?;
    sqlx::raw_sql(schema(dialect)).execute(&mut *conn).await?;
    let present = sqlx::raw_sql(ordering_key_present(dialect))
        .fetch_optional(&mut *conn)
        .await?
        .is_some();
    if !present {
        sqlx::raw_sql(ordering_key_migration(dialect))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
