//! The one error type of the crate: which step of a transaction failed, and why.

use std::fmt;

use crate::hook::HookSite;

/// A boxed error that can cross threads: what backends and hooks report.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The step of a transaction that failed.
///
/// ```
/// use oncommit::{Conn, Error, Step, memory::Memory};
///
/// let db = Memory::new();
/// db.fail_next_commit();
/// let mut conn = Conn::new(db);
/// let err = conn.atomic(|_| Ok::<_, Error>(())).unwrap_err();
/// assert_eq!(err.step(), Step::Commit);
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
    /// A `durable` block was opened inside another transaction.
    Durable,
    /// The connection is inside a transaction that oncommit did not open, so it cannot know
    /// when that transaction commits.
    ForeignTransaction,
    /// One or more hooks failed after the data was committed.
    Hook,
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
            Step::Durable => "durable block",
            Step::ForeignTransaction => "foreign transaction",
            Step::Hook => "after-commit hook",
        })
    }
}

/// What went wrong in a transaction managed by oncommit.
///
/// Convert it into your own error type with `From<oncommit::Error>`: that is what `#[atomic]`
/// and the closure forms of [`Conn::atomic`](crate::Conn::atomic) require of `E`.
///
/// [`committed`](Error::committed) tells the one case where the data *was* committed and
/// only hooks failed afterwards: the transaction must not be retried then.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Error(Box<Repr>);

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
        "the connection is inside a transaction oncommit did not open (connection depth {backend}, \
         oncommit depth {tracked}); open transactions with `#[atomic]` or `Conn::atomic` so hooks can \
         wait for the COMMIT"
    )]
    Foreign { backend: usize, tracked: usize },
    #[error("{0}")]
    Hooks(HookFailures),
}

impl Error {
    pub(crate) fn statement(step: Step, depth: usize, source: BoxError) -> Self {
        Error(Box::new(Repr::Statement {
            step,
            depth,
            source,
        }))
    }

    pub(crate) fn not_outermost(depth: usize) -> Self {
        Error(Box::new(Repr::NotOutermost { depth }))
    }

    pub(crate) fn foreign(backend: usize, tracked: usize) -> Self {
        Error(Box::new(Repr::Foreign { backend, tracked }))
    }

    pub(crate) fn hooks(failures: Vec<HookFailure>) -> Self {
        Error(Box::new(Repr::Hooks(HookFailures(failures))))
    }

    /// The step that failed.
    pub fn step(&self) -> Step {
        match &*self.0 {
            Repr::Statement { step, .. } => *step,
            Repr::NotOutermost { .. } => Step::Durable,
            Repr::Foreign { .. } => Step::ForeignTransaction,
            Repr::Hooks(_) => Step::Hook,
        }
    }

    /// True when the data was committed and a non-robust hook failed afterwards.
    ///
    /// Every hook still ran; retrying the transaction would write the data twice.
    pub fn committed(&self) -> bool {
        matches!(&*self.0, Repr::Hooks(_))
    }

    /// The hooks that failed, in the order they ran (empty unless [`step`](Error::step) is
    /// [`Step::Hook`]).
    pub fn hook_failures(&self) -> &[HookFailure] {
        match &*self.0 {
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

    /// What the hook returned (or [`HookPanicked`] when it panicked).
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

/// The error recorded for a hook that panicked.
#[derive(Debug, thiserror::Error)]
#[error("panicked: {message}")]
pub struct HookPanicked {
    message: String,
}

impl HookPanicked {
    pub(crate) fn from_payload(payload: Box<dyn std::any::Any + Send>) -> Self {
        let message = if let Some(s) = payload.downcast_ref::<&'static str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "a non-string panic payload".to_owned()
        };
        HookPanicked { message }
    }

    /// The panic message.
    pub fn message(&self) -> &str {
        &self.message
    }
}
