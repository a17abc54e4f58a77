//! Enqueue background jobs only after the database transaction commits.
//!
//! A job enqueued inside a transaction can be picked up before COMMIT (the worker sees a
//! missing or stale row), or run although the transaction rolled back. `oncommit` holds every
//! such call until the outermost COMMIT of the connection, and drops it on ROLLBACK:
//!
//! - [`Conn`] wraps a connection and owns its transaction depth and the pending hooks;
//! - `#[atomic]` makes a function body one transaction on a `&mut Conn<_>`;
//! - `enqueue!(call)` inside it evaluates the call's receiver and arguments now, moves the
//!   values into a hook, and runs the call after COMMIT; a compile-time check rejects an
//!   `enqueue!` that would capture a borrow of a loop variable.
//!
//! Without macros, [`Conn::atomic`], [`Conn::atomic_async`] and [`Conn::on_commit`] do the same
//! at run time:
//!
//! ```
//! use oncommit::{Conn, Error, memory::Memory};
//! use std::sync::mpsc;
//!
//! let (queue, worker) = mpsc::channel();
//! let mut conn = Conn::new(Memory::new());
//! conn.atomic(|conn| {
//!     conn.execute("INSERT INTO users (id) VALUES (42)");
//!     let queue = queue.clone();
//!     conn.on_commit(move || queue.send(42))?;
//!     assert!(worker.try_recv().is_err()); // not before COMMIT
//!     Ok::<_, Error>(())
//! })?;
//! assert_eq!(worker.try_recv(), Ok(42));
//! # Ok::<(), Error>(())
//! ```
//!
//! # Backends
//!
//! | feature | connection types |
//! |---|---|
//! | (always) | [`memory::Memory`] |
//! | `sqlx-postgres` | `sqlx::PgConnection`, `PoolConnection<Postgres>` |
//! | `sqlx-sqlite` | `sqlx::SqliteConnection`, `PoolConnection<Sqlite>` |
//! | `sqlx-mysql` | `sqlx::MySqlConnection`, `PoolConnection<MySql>` |
//! | `diesel-postgres` | `diesel::PgConnection` (sync) |
//! | `diesel-sqlite` | `diesel::SqliteConnection` (sync) |
//!
//! Other connections implement [`Backend`] and [`SyncBackend`] or [`AsyncBackend`].

#![warn(missing_docs)]

mod adopt;
mod args;
#[cfg(all(
    feature = "axum",
    any(
        feature = "sqlx-postgres",
        feature = "sqlx-sqlite",
        feature = "sqlx-mysql"
    )
))]
pub mod axum;
mod backend;
mod capture;
mod conn;
#[cfg(any(feature = "diesel-postgres", feature = "diesel-sqlite"))]
mod diesel;
mod error;
mod hook;
mod level;
pub mod memory;
mod options;
#[cfg(feature = "outbox")]
pub mod outbox;
mod per_level;
#[cfg(feature = "sqlx-postgres")]
pub mod postgres;
mod retry;
mod rollback;
mod run;
#[cfg(any(
    feature = "sqlx-postgres",
    feature = "sqlx-sqlite",
    feature = "sqlx-mysql"
))]
mod sqlx;
mod stack;
pub mod testing;
mod watch;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use adopt::Adopted;
pub use backend::{AsConnection, AsyncBackend, Backend, CommitFailure, SyncBackend};
pub use conn::Conn;

/// A boxed error that can cross threads: what backends and hooks report.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
pub use error::{Error, ErrorKind, HookFailure, Outcome, Step};
pub use hook::{Hook, HookPanicked, HookSite, IntoHookResult};
pub use options::{Isolation, TxOptions};
pub use retry::{Retryable, is_transient};
pub use watch::ServerWatch;

#[cfg(feature = "macros")]
pub use oncommit_macros::{atomic, enqueue};

/// The README's Rust snippets, compiled and run as doctests. They use most features: with
/// fewer (`cargo test -p oncommit` alone), they are left out rather than failing.
#[cfg(all(
    doctest,
    feature = "axum",
    feature = "sink-redis",
    feature = "sqlx-postgres",
    feature = "sqlx-sqlite",
    feature = "sqlx-mysql",
    feature = "diesel-postgres",
    feature = "outbox"
))]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
