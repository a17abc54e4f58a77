//! [`TxOptions`]: how the outermost transaction is opened (isolation level, read-only).

use std::fmt;

use crate::BoxError;

/// The isolation level of a transaction, as SQL names it.
///
/// ```
/// use oncommit::Isolation;
/// assert_eq!(Isolation::Serializable.to_string(), "SERIALIZABLE");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Isolation {
    /// `READ UNCOMMITTED` (Postgres runs it as `READ COMMITTED`).
    ReadUncommitted,
    /// `READ COMMITTED`: Postgres's default.
    ReadCommitted,
    /// `REPEATABLE READ`: MySQL's and MariaDB's default.
    RepeatableRead,
    /// `SERIALIZABLE`: what SQLite always runs. Expect serialization failures under
    /// contention, and retry them (`#[atomic(retry = N)]`).
    Serializable,
}

impl fmt::Display for Isolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Isolation::ReadUncommitted => "READ UNCOMMITTED",
            Isolation::ReadCommitted => "READ COMMITTED",
            Isolation::RepeatableRead => "REPEATABLE READ",
            Isolation::Serializable => "SERIALIZABLE",
        })
    }
}

/// How the outermost transaction is opened: its isolation level and whether it is read-only.
/// The default is the server's default for both. Options apply to the outermost transaction
/// only: a block with options nested inside another fails with [`ErrorKind::OptionsNested`](crate::ErrorKind::OptionsNested).
///
/// ```
/// use oncommit::{Conn, Error, Isolation, TxOptions, memory::Memory};
///
/// let db = Memory::new();
/// let mut conn = Conn::new(db.clone());
/// let options = TxOptions::new().isolation(Isolation::Serializable).read_only();
/// conn.atomic_with(options, |_| Ok::<_, Error>(()))?;
/// assert_eq!(db.statements(), ["BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY", "COMMIT"]);
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TxOptions {
    isolation: Option<Isolation>,
    read_only: bool,
}

impl TxOptions {
    /// The server's defaults.
    pub const fn new() -> Self {
        TxOptions {
            isolation: None,
            read_only: false,
        }
    }

    /// Runs the transaction at `level`.
    pub const fn isolation(mut self, level: Isolation) -> Self {
        self.isolation = Some(level);
        self
    }

    /// Makes the transaction read-only: the server refuses its writes.
    pub const fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// The isolation level asked for, if any.
    pub const fn isolation_level(&self) -> Option<Isolation> {
        self.isolation
    }

    /// Whether the transaction is read-only.
    pub const fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// No option is set: the transaction opens with a plain `BEGIN`.
    pub const fn is_default(&self) -> bool {
        self.isolation.is_none() && !self.read_only
    }

    /// The options as SQL's transaction characteristics, each with a leading space:
    /// ` ISOLATION LEVEL SERIALIZABLE READ ONLY` (Postgres's `BEGIN` takes them as they are).
    pub fn characteristics(&self) -> String {
        let mut sql = String::new();
        if let Some(level) = self.isolation {
            sql.push_str(" ISOLATION LEVEL ");
            sql.push_str(&level.to_string());
        }
        if self.read_only {
            sql.push_str(" READ ONLY");
        }
        sql
    }

    /// SQLite runs every transaction serializable and has no read-only transaction: only
    /// `Serializable` is accepted.
    #[cfg_attr(
        not(any(feature = "sqlx-sqlite", feature = "diesel-sqlite")),
        allow(dead_code)
    )]
    pub(crate) fn check_sqlite(&self) -> Result<(), BoxError> {
        match (self.isolation, self.read_only) {
            (None | Some(Isolation::Serializable), false) => Ok(()),
            _ => Err(self.unsupported(
                "SQLite (every SQLite transaction is serializable; open a \
                 read-only connection for read-only work)",
            )),
        }
    }

    /// The error of a backend that cannot open a transaction with these options.
    pub(crate) fn unsupported(&self, backend: &str) -> BoxError {
        format!(
            "{backend} cannot open a transaction with{}",
            self.characteristics()
        )
        .into()
    }
}
