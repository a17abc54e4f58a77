//! Adopting a transaction a caller already opened (sqlx's `pool.begin()`): its COMMIT, sent
//! through [`Adopted::commit`], runs the hooks registered inside it, so a code base can start
//! using oncommit in one function without rewriting the call chain above it.

use std::ops::{Deref, DerefMut};

use crate::Conn;
use crate::backend::AsyncBackend;
use crate::error::Error;
use crate::level::Level;

/// A [`Conn`] over a transaction that was open before it: the transaction is its outermost
/// level. `#[atomic]` functions called with it (`&mut adopted`, which derefs to the `Conn`)
/// open savepoints inside it; their hooks wait for [`commit`](Adopted::commit). Dropped
/// without `commit`, the transaction is rolled back and its hooks are dropped.
///
/// ```no_run
/// # async fn f(pool: sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
/// use oncommit::Conn;
/// use std::sync::mpsc;
///
/// let (queue, worker) = mpsc::channel();
/// let tx = pool.begin().await?; // opened by code that knows nothing of oncommit
/// let mut conn = Conn::adopt(tx).await?;
/// sqlx::query("INSERT INTO users (id) VALUES (1)").execute(conn.executor()).await?;
/// conn.on_commit(move || queue.send(1))?;
/// conn.commit().await?; // COMMIT, then the hooks
/// assert_eq!(worker.try_recv(), Ok(1));
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "an adopted transaction is rolled back unless it is committed"]
pub struct Adopted<C> {
    conn: Conn<C>,
    level: Option<Level>,
}

impl<C: AsyncBackend> Conn<C> {
    /// Adopts `conn`, which must be inside exactly one transaction that oncommit did not open
    /// (a sqlx `Transaction` from `pool.begin()` or `conn.begin()`, or a connection after a
    /// `BEGIN` of its own). Fails with
    /// [`ErrorKind::ForeignTransaction`](crate::ErrorKind::ForeignTransaction) when it is not
    /// in a transaction, or inside a savepoint.
    pub async fn adopt(conn: C) -> Result<Adopted<C>, Error> {
        let mut conn = Conn::new(conn);
        let level = conn.adopt_open_transaction().await?;
        Ok(Adopted {
            conn,
            level: Some(level),
        })
    }
}

impl<C: AsyncBackend> Adopted<C> {
    /// Commits the adopted transaction (with the checks and the outbox write of any
    /// outermost COMMIT), then runs its hooks. Errors as [`Conn::atomic_async`]'s.
    pub async fn commit(mut self) -> Result<(), Error> {
        let level = self
            .level
            .take()
            .expect("an adopted level until commit or rollback");
        self.conn.finish_async(level, Ok::<(), Error>(())).await
    }

    /// Rolls the adopted transaction back and drops its hooks.
    pub async fn rollback(mut self) -> Result<(), Error> {
        let level = self
            .level
            .take()
            .expect("an adopted level until commit or rollback");
        match self
            .conn
            .finish_async(level, Err::<(), Rollback>(Rollback::Requested))
            .await
        {
            Ok(()) | Err(Rollback::Requested) => Ok(()),
            Err(Rollback::Failed(error)) => Err(error),
        }
    }
}

/// The "error" that makes `finish_async` roll back.
enum Rollback {
    Requested,
    Failed(Error),
}

impl From<Error> for Rollback {
    fn from(error: Error) -> Self {
        Rollback::Failed(error)
    }
}

impl<C> Deref for Adopted<C> {
    type Target = Conn<C>;

    fn deref(&self) -> &Conn<C> {
        &self.conn
    }
}

impl<C> DerefMut for Adopted<C> {
    fn deref_mut(&mut self) -> &mut Conn<C> {
        &mut self.conn
    }
}
