//! The one error type of the crate: which step of a transaction failed, and why.

use std::fmt;

use crate::BoxError;
use crate::hook::HookSite;
use crate::options::TxOptions;

/// The transaction statement that failed ([`Error::step`]).
///
/// ```
/// use oncommit::{Conn, Error, Step, memory::Memory};
///
/// let db = Memory::new();
/// db.fail_next_commit();
/// let mut conn = Conn::new(db);
/// let err = conn.atomic(|_| Ok::<_, Error>(())).unwrap_err();
/// assert_eq!(err.step(), Some(Step::Commit));
/// assert!(!err.committed());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Step {
    /// `BEGIN` of an outermost transaction.
    Begin,
    /// `SAVEPOINT` of a nested block.
    Savepoint,
    /// `COMMIT` of the outermost transaction.
    Commit,
    /// `RELEASE SAVEPOINT` of a nested block.
    Release,
    /// `ROLLBACK` of the outermost transaction.
    Rollback,
    /// `ROLLBACK TO SAVEPOINT` of a nested block.
    RollbackToSavepoint,
}

/// What kind of failure an [`Error`] is ([`Error::kind`]).
///
/// ```
/// use oncommit::{Conn, Error, ErrorKind, memory::Memory};
///
/// let mut conn = Conn::new(Memory::new());
/// let nested = conn.atomic(|conn| conn.durable(|_| Ok::<_, Error>(())));
/// assert_eq!(nested.unwrap_err().kind(), ErrorKind::NotOutermost);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A transaction statement failed: the server refused it, or the connection failed.
    Statement(Step),
    /// A `durable` block was opened inside another transaction.
    NotOutermost,
    /// A block with transaction options (isolation level, read-only) was opened inside
    /// another transaction: options apply to the outermost transaction only.
    OptionsNested,
    /// The connection is inside a transaction that oncommit did not open, so it cannot know
    /// when that transaction commits.
    ForeignTransaction,
    /// The data was committed and one or more hooks failed afterwards.
    HooksFailed,
    /// The server had rolled the transaction back by itself before COMMIT.
    ServerRolledBack,
    /// COMMIT was sent and its answer never came: the outcome is unknown.
    CommitUnknown,
    /// The transaction's state became uncertain (a nested block was abandoned while its
    /// `RELEASE SAVEPOINT` was in flight, a cancelled BEGIN was not recovered, or the
    /// backend left a level oncommit still counts as open): it was rolled back rather than
    /// committed in part.
    Uncertain,
    /// A durable job could not be enqueued or written to the outbox table; when writing
    /// failed, the transaction was rolled back.
    Outbox,
    /// A before-commit hook ([`Conn::before_commit`](crate::Conn::before_commit)) failed, or
    /// could not run: the transaction was rolled back.
    BeforeCommit,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Begin => "BEGIN",
            Step::Savepoint => "SAVEPOINT",
            Step::Commit => "COMMIT",
            Step::Release => "RELEASE SAVEPOINT",
            Step::Rollback => "ROLLBACK",
            Step::RollbackToSavepoint => "ROLLBACK TO SAVEPOINT",
        })
    }
}

/// Whether a transaction's data was committed, as far as oncommit can know.
///
/// ```
/// use oncommit::{Conn, Error, Outcome, memory::Memory};
/// let db = Memory::new();
/// db.fail_next_commit();
/// let err = Conn::new(db).atomic(|_| Ok::<_, Error>(())).unwrap_err();
/// assert_eq!(err.outcome(), Outcome::NotCommitted);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// The data was committed; only after-commit hooks failed. Do not retry the transaction.
    Committed,
    /// Nothing was committed: the transaction was rolled back, never opened, or refused by
    /// the server. Retrying it is safe.
    NotCommitted,
    /// `COMMIT` was sent but its answer never came (the connection failed): the server may or
    /// may not have committed. The hooks did not run. On Postgres,
    /// [`Error::transaction_id`] and `oncommit::postgres::transaction_status` tell which.
    Unknown,
}

/// What went wrong in a transaction managed by oncommit.
///
/// Convert it into your own error type with `From<oncommit::Error>`: that is what `#[atomic]`
/// and the closure forms of [`Conn::atomic`](crate::Conn::atomic) require of `E`.
///
/// [`committed`](Error::committed) tells the one case where the data *was* committed and
/// only hooks failed afterwards: the transaction must not be retried then.
/// [`outcome`](Error::outcome) also tells the third case, a `COMMIT` whose answer never came
/// ([`Outcome::Unknown`]): the data may be committed, and the hooks did not run.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Error(Box<Inner>);

#[derive(Debug)]
struct Inner {
    repr: Repr,
    /// The message, rendered once for `sqlx::error::DatabaseError::message` (which lends a
    /// `&str`).
    #[cfg(any(
        feature = "sqlx-postgres",
        feature = "sqlx-sqlite",
        feature = "sqlx-mysql"
    ))]
    message: std::sync::OnceLock<String>,
}

impl std::fmt::Display for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.repr.fmt(f)
    }
}

impl std::error::Error for Inner {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.repr)
    }
}

#[derive(Debug, thiserror::Error)]
enum Repr {
    #[error("{step} failed at transaction depth {depth}")]
    Statement {
        step: Step,
        depth: usize,
        #[source]
        source: BoxError,
    },
    #[error(
        "a durable block must be the outermost transaction, but the connection is already at depth {depth}"
    )]
    NotOutermost { depth: usize },
    #[error(
        "transaction options ({options}) apply to the outermost transaction, but the connection \
         is already at depth {depth}"
    )]
    OptionsNested { options: String, depth: usize },
    #[error(
        "the connection is inside a transaction oncommit did not open (connection depth {backend}, \
         oncommit depth {tracked}); open transactions with `#[atomic]` or `Conn::atomic` so hooks can \
         wait for the COMMIT"
    )]
    Foreign { backend: usize, tracked: usize },
    #[error("{0}")]
    Hooks(HookFailures),
    #[error(
        "the server had already rolled back this transaction (a statement in it failed and its \
         error was not returned, or the server chose it as a deadlock victim); nothing was \
         committed and no hook ran"
    )]
    ServerRolledBack {
        #[source]
        source: BoxError,
    },
    #[error(
        "COMMIT was sent but its answer never came, so the transaction may or may not have \
         committed{}; its hooks did not run",
        match transaction_id { Some(id) => format!(" (server transaction id {id})"), None => String::new() }
    )]
    CommitUnknown {
        transaction_id: Option<u64>,
        #[source]
        source: BoxError,
    },
    #[error("the transaction was rolled back instead of committed: {reason}")]
    Uncertain { reason: &'static str },
    #[error("a before-commit hook ({site}) failed, so the transaction was rolled back")]
    BeforeCommit {
        site: HookSite,
        #[source]
        source: BoxError,
    },
    #[error("outbox: {what}")]
    Outbox {
        what: &'static str,
        #[source]
        source: BoxError,
    },
}

impl Error {
    fn new(repr: Repr) -> Self {
        Error(Box::new(Inner {
            repr,
            #[cfg(any(
                feature = "sqlx-postgres",
                feature = "sqlx-sqlite",
                feature = "sqlx-mysql"
            ))]
            message: std::sync::OnceLock::new(),
        }))
    }

    /// This error's message, rendered once (what `sqlx::error::DatabaseError::message` lends).
    #[cfg(any(
        feature = "sqlx-postgres",
        feature = "sqlx-sqlite",
        feature = "sqlx-mysql"
    ))]
    pub(crate) fn message(&self) -> &str {
        self.0.message.get_or_init(|| self.0.repr.to_string())
    }

    pub(crate) fn statement(step: Step, depth: usize, source: BoxError) -> Self {
        Error::new(Repr::Statement {
            step,
            depth,
            source,
        })
    }

    pub(crate) fn not_outermost(depth: usize) -> Self {
        Error::new(Repr::NotOutermost { depth })
    }

    pub(crate) fn options_nested(options: &TxOptions, depth: usize) -> Self {
        Error::new(Repr::OptionsNested {
            options: options.characteristics().trim_start().to_owned(),
            depth,
        })
    }

    pub(crate) fn foreign(backend: usize, tracked: usize) -> Self {
        Error::new(Repr::Foreign { backend, tracked })
    }

    pub(crate) fn rolled_back_by_server(source: BoxError) -> Self {
        Error::new(Repr::ServerRolledBack { source })
    }

    pub(crate) fn commit_unknown(transaction_id: Option<u64>, source: BoxError) -> Self {
        Error::new(Repr::CommitUnknown {
            transaction_id,
            source,
        })
    }

    #[cfg_attr(not(feature = "outbox"), allow(dead_code))]
    pub(crate) fn outbox(what: &'static str, source: BoxError) -> Self {
        Error::new(Repr::Outbox { what, source })
    }

    pub(crate) fn before_commit(site: HookSite, source: BoxError) -> Self {
        Error::new(Repr::BeforeCommit { site, source })
    }

    pub(crate) fn uncertain(reason: &'static str) -> Self {
        Error::new(Repr::Uncertain { reason })
    }

    pub(crate) fn hooks(failures: Vec<HookFailure>) -> Self {
        Error::new(Repr::Hooks(HookFailures(failures)))
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match &self.0.repr {
            Repr::Statement { step, .. } => ErrorKind::Statement(*step),
            Repr::NotOutermost { .. } => ErrorKind::NotOutermost,
            Repr::OptionsNested { .. } => ErrorKind::OptionsNested,
            Repr::Foreign { .. } => ErrorKind::ForeignTransaction,
            Repr::Hooks(_) => ErrorKind::HooksFailed,
            Repr::ServerRolledBack { .. } => ErrorKind::ServerRolledBack,
            Repr::CommitUnknown { .. } => ErrorKind::CommitUnknown,
            Repr::Uncertain { .. } => ErrorKind::Uncertain,
            Repr::Outbox { .. } => ErrorKind::Outbox,
            Repr::BeforeCommit { .. } => ErrorKind::BeforeCommit,
        }
    }

    /// The transaction statement the failure is about, if it is about one: the statement
    /// that failed, or `COMMIT` for a server rollback found at COMMIT and for a COMMIT whose
    /// answer was lost.
    pub fn step(&self) -> Option<Step> {
        match &self.0.repr {
            Repr::Statement { step, .. } => Some(*step),
            Repr::ServerRolledBack { .. } | Repr::CommitUnknown { .. } => Some(Step::Commit),
            _ => None,
        }
    }

    /// Whether the data was committed: [`Outcome::Committed`] only when COMMIT succeeded and
    /// hooks failed afterwards, [`Outcome::Unknown`] when COMMIT's answer was lost.
    pub fn outcome(&self) -> Outcome {
        match &self.0.repr {
            Repr::Hooks(_) => Outcome::Committed,
            Repr::CommitUnknown { .. } => Outcome::Unknown,
            _ => Outcome::NotCommitted,
        }
    }

    /// True when the server had rolled the transaction back by itself before COMMIT (a
    /// failed statement whose error the body ignored, a deadlock victim). Nothing was
    /// committed; the transaction may be retried.
    pub fn server_rolled_back(&self) -> bool {
        matches!(&self.0.repr, Repr::ServerRolledBack { .. })
    }

    /// The server's id of the transaction whose COMMIT outcome is unknown, when the backend
    /// has one (Postgres: the `xid8` of a transaction that wrote something). Pass it to
    /// `oncommit::postgres::transaction_status` to learn whether it committed.
    pub fn transaction_id(&self) -> Option<u64> {
        match &self.0.repr {
            Repr::CommitUnknown { transaction_id, .. } => *transaction_id,
            _ => None,
        }
    }

    /// True when the data is known to be committed and a non-robust hook failed afterwards.
    ///
    /// Every hook still ran; retrying the transaction would write the data twice. False for
    /// a COMMIT whose outcome is unknown: see [`outcome`](Error::outcome).
    pub fn committed(&self) -> bool {
        matches!(&self.0.repr, Repr::Hooks(_))
    }

    /// The server's error behind a failed statement or a server rollback: nothing was
    /// committed then (what [`Retryable`](crate::Retryable) looks at).
    pub(crate) fn uncommitted_cause(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0.repr {
            Repr::Statement { source, .. } | Repr::ServerRolledBack { source } => Some(&**source),
            _ => None,
        }
    }

    /// The hooks that failed, in the order they ran (empty unless [`kind`](Error::kind) is
    /// [`ErrorKind::HooksFailed`]).
    pub fn hook_failures(&self) -> &[HookFailure] {
        match &self.0.repr {
            Repr::Hooks(failures) => &failures.0,
            _ => &[],
        }
    }
}

/// One hook that failed or panicked after COMMIT.
#[derive(Debug)]
pub struct HookFailure {
    site: HookSite,
    error: BoxError,
}

impl HookFailure {
    pub(crate) fn new(site: HookSite, error: BoxError) -> Self {
        HookFailure { site, error }
    }

    /// Where the hook was registered, and its source text when `enqueue!` registered it.
    pub fn site(&self) -> HookSite {
        self.site
    }

    /// What the hook returned (or [`HookPanicked`](crate::HookPanicked) when it panicked).
    pub fn error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.error
    }
}

impl fmt::Display for HookFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "hook {} failed: {}", self.site, self.error)
    }
}

#[derive(Debug)]
struct HookFailures(Vec<HookFailure>);

impl fmt::Display for HookFailures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "committed, but {one}"),
            many => {
                write!(f, "committed, but {} hooks failed", many.len())?;
                for failure in many {
                    write!(f, "; {failure}")?;
                }
                Ok(())
            }
        }
    }
}
