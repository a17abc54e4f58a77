//! [`Memory`]: a backend with no database that records the statements it was asked to run.

use std::fmt;
use std::future::Future;

use futures_util::future::{Either, pending, ready};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::BoxError;
use crate::backend::{AsyncBackend, Backend, CommitFailure, SyncBackend};
use crate::options::TxOptions;

/// An in-memory stand-in for a database connection, sync and async.
///
/// It keeps the transaction depth and a log of the statements it was asked to run
/// (`BEGIN`, `SAVEPOINT oncommit_N`, `RELEASE SAVEPOINT oncommit_N`,
/// `ROLLBACK TO SAVEPOINT oncommit_N`, `COMMIT`, `ROLLBACK`, and whatever you pass to
/// [`execute`](Memory::execute)), so tests can assert the exact sequence. Clones share the
/// same state: keep one to look at the log while a `Conn` owns the other.
///
/// ```
/// use oncommit::{Conn, Error, memory::Memory};
///
/// let db = Memory::new();
/// let mut conn = Conn::new(db.clone());
/// conn.atomic(|conn| {
///     conn.execute("INSERT INTO users VALUES (1)");
///     Ok::<_, Error>(())
/// })?;
/// assert_eq!(db.statements(), ["BEGIN", "INSERT INTO users VALUES (1)", "COMMIT"]);
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Default)]
pub struct Memory {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    depth: usize,
    /// Kept unformatted: a transaction statement costs no allocation until it is read.
    statements: Vec<Logged>,
    fail_next: Vec<Fail>,
    stall_next: Vec<Fail>,
}

/// One entry of the statement log.
#[derive(Clone)]
enum Logged {
    /// `BEGIN` (depth 0) or `SAVEPOINT oncommit_{depth}`.
    Begin { depth: usize },
    /// `COMMIT` (depth 1) or `RELEASE SAVEPOINT oncommit_{depth - 1}`.
    Commit { depth: usize },
    /// `ROLLBACK` (depth 1) or `ROLLBACK TO SAVEPOINT oncommit_{depth - 1}`.
    Rollback { depth: usize },
    /// A statement passed to [`Memory::execute`].
    Other(String),
}

impl Logged {
    /// The statement `kind` runs at `depth`; `None` for COMMIT/ROLLBACK outside a transaction.
    fn transaction(kind: Fail, depth: usize) -> Option<Self> {
        match (kind, depth) {
            (Fail::Begin, depth) => Some(Logged::Begin { depth }),
            (_, 0) => None,
            (Fail::Commit, depth) => Some(Logged::Commit { depth }),
            (Fail::Rollback, depth) => Some(Logged::Rollback { depth }),
        }
    }
}

impl fmt::Display for Logged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Logged::Begin { depth: 0 } => f.write_str("BEGIN"),
            Logged::Begin { depth } => write!(f, "SAVEPOINT oncommit_{depth}"),
            Logged::Commit { depth: 1 } => f.write_str("COMMIT"),
            Logged::Commit { depth } => write!(f, "RELEASE SAVEPOINT oncommit_{}", depth - 1),
            Logged::Rollback { depth: 1 } => f.write_str("ROLLBACK"),
            Logged::Rollback { depth } => {
                write!(f, "ROLLBACK TO SAVEPOINT oncommit_{}", depth - 1)
            }
            Logged::Other(statement) => f.write_str(statement),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fail {
    Begin,
    Commit,
    Rollback,
}

/// The error [`Memory`] returns for a statement it was told to fail.
#[derive(Debug, thiserror::Error)]
#[error("memory backend: `{statement}` failed as requested")]
pub struct InjectedFailure {
    statement: String,
}

impl Memory {
    /// A fresh connection outside any transaction, with an empty log.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while the lock is held cannot leave `State` half-updated: every update is
        // one push or one assignment.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records a statement of your own (an INSERT, say) in the log.
    pub fn execute(&self, statement: impl Into<String>) {
        self.state()
            .statements
            .push(Logged::Other(statement.into()));
    }

    /// Every statement so far, oldest first.
    pub fn statements(&self) -> Vec<String> {
        let state = self.state();
        state.statements.iter().map(Logged::to_string).collect()
    }

    /// Empties the log.
    pub fn clear(&self) {
        self.state().statements.clear();
    }

    /// The current transaction depth (0 outside a transaction).
    pub fn depth(&self) -> usize {
        self.state().depth
    }

    /// Makes the next `COMMIT` or `RELEASE SAVEPOINT` fail. The statement is still logged and
    /// the depth is left unchanged, as sqlx leaves it when the server rejects a COMMIT.
    ///
    /// ```
    /// use oncommit::{Conn, Error, Step, memory::Memory};
    /// let db = Memory::new();
    /// db.fail_next_commit();
    /// let mut conn = Conn::new(db.clone());
    /// let err = conn.atomic(|conn| {
    ///     conn.on_commit(|| -> Result<(), Error> { unreachable!("no hook runs after a failed COMMIT") })?;
    ///     Ok::<_, Error>(())
    /// });
    /// assert_eq!(err.unwrap_err().step(), Some(Step::Commit));
    /// assert_eq!(db.statements(), ["BEGIN", "COMMIT", "ROLLBACK"]);
    /// ```
    pub fn fail_next_commit(&self) {
        self.state().fail_next.push(Fail::Commit);
    }

    /// Makes the next `BEGIN` or `SAVEPOINT` fail.
    pub fn fail_next_begin(&self) {
        self.state().fail_next.push(Fail::Begin);
    }

    /// Makes the next `ROLLBACK` or `ROLLBACK TO SAVEPOINT` fail.
    pub fn fail_next_rollback(&self) {
        self.state().fail_next.push(Fail::Rollback);
    }

    /// Makes the next async `COMMIT` or `RELEASE SAVEPOINT` never complete, like a server
    /// that does not answer: the statement is logged, the depth is left unchanged, and the
    /// future stays pending until it is dropped. For testing cancellation mid-COMMIT.
    ///
    /// ```
    /// use oncommit::{Conn, Error, memory::Memory};
    /// use futures_util::FutureExt;
    /// let db = Memory::new();
    /// db.stall_next_commit();
    /// let mut conn = Conn::new(db.clone());
    /// let stalled = conn.atomic_async(async |_| Ok::<_, Error>(())).now_or_never();
    /// assert!(stalled.is_none()); // dropped while waiting for COMMIT
    /// assert_eq!(conn.depth(), 0);
    /// drop(conn);
    /// assert_eq!(db.statements(), ["BEGIN", "COMMIT", "ROLLBACK"]);
    /// ```
    pub fn stall_next_commit(&self) {
        self.state().stall_next.push(Fail::Commit);
    }

    /// Makes the next async `ROLLBACK` or `ROLLBACK TO SAVEPOINT` never complete (see
    /// [`stall_next_commit`](Memory::stall_next_commit)).
    pub fn stall_next_rollback(&self) {
        self.state().stall_next.push(Fail::Rollback);
    }

    /// The async form of `run`: a stalled statement is logged and never completes.
    fn run_async(&self, kind: Fail) -> impl Future<Output = Result<(), BoxError>> + Send + use<> {
        let stalled = {
            let mut state = self.state();
            match state.stall_next.iter().position(|f| *f == kind) {
                Some(at) if state.depth > 0 => {
                    state.stall_next.remove(at);
                    let statement = Logged::transaction(kind, state.depth);
                    state.statements.extend(statement);
                    true
                }
                _ => false,
            }
        };
        if stalled {
            Either::Left(pending())
        } else {
            Either::Right(ready(self.run(kind)))
        }
    }

    /// BEGIN with `options`, logged as `BEGIN ISOLATION LEVEL … READ ONLY`.
    fn begin_logged_with(&self, options: TxOptions) -> Result<(), BoxError> {
        let begun = self.run(Fail::Begin);
        let mut state = self.state();
        if let Some(last @ Logged::Begin { depth: 0 }) = state.statements.last_mut() {
            *last = Logged::Other(format!("BEGIN{}", options.characteristics()));
        }
        begun
    }

    fn run(&self, kind: Fail) -> Result<(), BoxError> {
        let mut state = self.state();
        let depth = state.depth;
        let Some(statement) = Logged::transaction(kind, depth) else {
            return Ok(());
        };
        if let Some(at) = state.fail_next.iter().position(|f| *f == kind) {
            state.fail_next.remove(at);
            let failure = InjectedFailure {
                statement: statement.to_string(),
            };
            state.statements.push(statement);
            return Err(Box::new(failure));
        }
        state.statements.push(statement);
        state.depth = match kind {
            Fail::Begin => depth + 1,
            Fail::Commit | Fail::Rollback => depth - 1,
        };
        Ok(())
    }
}

impl fmt::Debug for Memory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("Memory")
            .field("depth", &state.depth)
            .field("statements", &state.statements.len())
            .finish()
    }
}

impl Backend for Memory {
    fn transaction_depth(&mut self) -> usize {
        self.depth()
    }

    fn start_rollback(&mut self) {
        let mut state = self.state();
        if let Some(statement) = Logged::transaction(Fail::Rollback, state.depth) {
            state.statements.push(statement);
        }
        state.depth = state.depth.saturating_sub(1);
    }
}

impl SyncBackend for Memory {
    fn begin(&mut self) -> Result<(), BoxError> {
        self.run(Fail::Begin)
    }

    fn commit(&mut self) -> Result<(), CommitFailure> {
        self.run(Fail::Commit).map_err(CommitFailure::Refused)
    }

    fn rollback(&mut self) -> Result<(), BoxError> {
        self.run(Fail::Rollback)
    }

    fn begin_with(&mut self, options: TxOptions) -> Result<(), BoxError> {
        self.begin_logged_with(options)
    }
}

impl AsyncBackend for Memory {
    fn begin_async(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send {
        self.run_async(Fail::Begin)
    }

    fn commit_async(&mut self) -> impl Future<Output = Result<(), CommitFailure>> + Send {
        let commit = self.run_async(Fail::Commit);
        async move { commit.await.map_err(CommitFailure::Refused) }
    }

    fn rollback_async(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send {
        self.run_async(Fail::Rollback)
    }

    fn begin_with_async(
        &mut self,
        options: TxOptions,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        ready(self.begin_logged_with(options))
    }
}
