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

/// Creates the outbox table if it does not exist ([`schema`]), through any sqlx executor.
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
pub async fn migrate<'c, E>(executor: E, dialect: Dialect) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'c>,
{
    sqlx::raw_sql(schema(dialect)).execute(executor).await?;
    Ok(())
}
