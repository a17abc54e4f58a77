//! [`Conn`]: a connection plus the hooks waiting for its outermost COMMIT.

use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::sync::Arc;

use crate::BoxError;
use crate::backend::{AsConnection, AsyncBackend, Backend, CommitFailure, SyncBackend};
use crate::capture::{CaptureBuf, CaptureMark, Captures};
use crate::error::{Error, Step};
use crate::hook::{AsyncHook, Entry, Hook, HookSite, IntoHookResult, SyncHook};
use crate::level::{AbandonFlag, Level};
use crate::options::TxOptions;
use crate::per_level::PerLevel;
use crate::retry::{Retryable, again};
use crate::rollback::RollbackHooks;
use crate::run::{Hooks, run_async, run_sync};
use crate::stack::{Batch, HookStack};
use crate::watch::ServerWatch;
use futures_util::future::BoxFuture;
use tracing::Instrument;

/// A database connection that knows its transaction depth and holds the hooks waiting for
/// the outermost COMMIT.
///
/// `Conn` derefs to the connection it wraps, so sqlx code writes `&mut **conn` as it does with
/// `sqlx::Transaction`. Transactions are opened with `#[atomic]`, or without macros with
/// [`atomic`](Conn::atomic) / [`atomic_async`](Conn::atomic_async); hooks are registered with
/// `enqueue!` or [`on_commit`](Conn::on_commit).
///
/// ```
/// use oncommit::{Conn, Error, memory::Memory};
/// use std::sync::{Arc, Mutex};
///
/// let sent = Arc::new(Mutex::new(Vec::new()));
/// let mut conn = Conn::new(Memory::new());
/// conn.atomic(|conn| {
///     for id in [1, 2, 3] {
///         let sent = sent.clone();
///         conn.on_commit(move || sent.lock().unwrap().push(id))?;
///     }
///     assert!(sent.lock().unwrap().is_empty()); // nothing runs before COMMIT
///     Ok::<_, Error>(())
/// })?;
/// assert_eq!(*sent.lock().unwrap(), [1, 2, 3]);
/// # Ok::<(), Error>(())
/// ```
pub struct Conn<C> {
    /// Always `Some` until `into_inner` takes it.
    inner: Option<C>,
    stack: HookStack,
    abandoned: AbandonFlag,
    start_rollback: fn(&mut C),
    discard: fn(&mut C),
    is_lost: fn(&BoxError) -> bool,
    /// Why the connection is known to be gone, once a transaction statement failed that way:
    /// every later BEGIN fails at once with it.
    broken: Option<String>,
    /// ROLLBACKs started without waiting since the backend's depth last matched ours: the
    /// backend may apply them later than `start_rollback` returns (sqlx's SQLite worker).
    unconfirmed_rollbacks: usize,
    /// A BEGIN/SAVEPOINT was sent at this depth and its future dropped before it returned:
    /// the backend may still apply it (and undo it) after we look at its depth (sqlx's SQLite
    /// worker); at depth 0 the server may be inside a transaction nobody counts.
    begin_in_flight: Option<usize>,
    /// The backend keeps session state of an abandoned outermost transaction
    /// ([`Backend::RESET_AFTER_ABANDON`]): copied from it by `new`.
    reset_after_abandon: bool,
    /// An outermost transaction was abandoned on such a backend: its session state must be
    /// restored (`recover`) before the connection is used or handed on.
    reset_pending: bool,
    /// Why the open transaction can no longer be committed as a whole, if it cannot: it is
    /// rolled back at its outermost level instead. Cleared when the next one opens.
    torn: Option<&'static str>,
    /// The server rolled the open transaction back by itself (reported through `watch`): it
    /// is rolled back at its outermost level, never committed. Cleared when the next one
    /// opens.
    server_rolled_back: bool,
    /// Shared with the backend's server callbacks, once installed
    /// ([`AsyncBackend::WATCHES_SERVER`]).
    watch: Option<Arc<ServerWatch>>,
    /// Open `testing::capture` buffers.
    captures: Captures,
    /// Durable jobs of the open transaction, written to the outbox before its COMMIT.
    #[cfg(feature = "outbox")]
    jobs: crate::outbox::PendingJobs,
    /// `on_rollback` hooks of the open levels.
    rollback_hooks: RollbackHooks,
    /// `before_commit` hooks of the open levels.
    before_commit: PerLevel<(HookSite, BeforeCommitHook<C>)>,
    /// The open transaction's `oncommit.transaction` span: its COMMIT and hooks run in it.
    span: tracing::Span,
}

/// A hook run inside the transaction just before its outermost COMMIT.
type BeforeCommitHook<C> =
    Box<dyn for<'a> FnOnce(&'a mut C) -> BoxFuture<'a, Result<(), BoxError>> + Send>;

impl<C> Conn<C> {
    /// Wraps a connection. It should not be inside a transaction: oncommit cannot tell when a
    /// transaction it did not open commits, so it refuses to defer hooks into one
    /// ([`ErrorKind::ForeignTransaction`](crate::ErrorKind::ForeignTransaction)).
    pub fn new(conn: C) -> Self
    where
        C: Backend,
    {
        Conn {
            inner: Some(conn),
            stack: HookStack::default(),
            abandoned: AbandonFlag::default(),
            start_rollback: C::start_rollback,
            discard: C::discard,
            is_lost: C::is_lost,
            broken: None,
            unconfirmed_rollbacks: 0,
            begin_in_flight: None,
            reset_after_abandon: C::RESET_AFTER_ABANDON,
            reset_pending: false,
            torn: None,
            server_rolled_back: false,
            watch: None,
            captures: Captures::default(),
            #[cfg(feature = "outbox")]
            jobs: crate::outbox::PendingJobs::default(),
            rollback_hooks: RollbackHooks::default(),
            before_commit: PerLevel::default(),
            span: tracing::Span::none(),
        }
    }

    /// Gives the connection back, first rolling back any abandoned transaction level.
    ///
    /// ```
    /// use oncommit::{Conn, memory::Memory};
    /// let conn = Conn::new(Memory::new());
    /// let memory: Memory = conn.into_inner();
    /// assert!(memory.statements().is_empty());
    /// ```
    pub fn into_inner(mut self) -> C {
        self.settle();
        self.discard_if_uncertain();
        self.inner
            .take()
            .expect("Conn holds its connection until into_inner")
    }

    /// Open transaction levels as oncommit tracks them: 0 outside a transaction, 1 in the
    /// outermost, 2 or more in savepoints. Abandoned levels are not counted.
    pub fn depth(&self) -> usize {
        let depth = self.stack.depth();
        match self.abandoned.peek() {
            Some(abandoned) => depth.min(abandoned.saturating_sub(1)),
            None => depth,
        }
    }

    /// True once a statement oncommit sent (BEGIN, SAVEPOINT, COMMIT, ROLLBACK) failed because
    /// the connection itself is gone (an I/O error, the server terminated the session), or a
    /// COMMIT's answer was lost. A broken `Conn` refuses to begin (each attempt is one error
    /// that says why, nothing sent, nothing logged): drop it and open a new connection (a
    /// pooled one is then closed, not returned). Failures of your own statements are not
    /// seen until oncommit's next statement.
    ///
    /// ```
    /// use oncommit::{Conn, memory::Memory};
    /// let conn = Conn::new(Memory::new());
    /// assert!(!conn.is_broken());
    /// ```
    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// Records that the connection is gone, if `source` says so.
    fn note_failure(&mut self, source: &BoxError) {
        if self.broken.is_none() && (self.is_lost)(source) {
            tracing::error!(error = %source, "the connection is lost; this Conn will not begin again");
            self.broken = Some(source.to_string());
        }
    }

    /// The error of a BEGIN on a broken connection.
    fn refuse_if_broken(&self, depth: usize) -> Result<(), Error> {
        match &self.broken {
            Some(reason) => Err(begin_error(
                depth,
                format!("the connection was lost earlier ({reason}); open a new one").into(),
            )),
            None => Ok(()),
        }
    }

    /// True inside a transaction opened through oncommit.
    pub fn in_transaction(&self) -> bool {
        self.depth() > 0
    }

    /// Hooks registered and waiting for the outermost COMMIT.
    pub fn pending_hooks(&self) -> usize {
        self.stack.pending()
    }

    fn conn(&self) -> &C {
        self.inner
            .as_ref()
            .expect("Conn holds its connection until into_inner")
    }

    fn conn_mut(&mut self) -> &mut C {
        self.inner
            .as_mut()
            .expect("Conn holds its connection until into_inner")
    }

    /// Rolls back the levels whose guards were dropped unfinished (panic, cancellation).
    fn settle(&mut self) {
        let Some(abandoned) = self.abandoned.take() else {
            return;
        };
        let from = abandoned.depth;
        if abandoned.mid_finish {
            if from <= 1 {
                tracing::error!(
                    hooks = self.stack.pending(),
                    "a transaction was abandoned while its COMMIT was in flight: it may have \
                     committed, and its hooks are dropped (a job that must survive this \
                     belongs in a table written inside the transaction)"
                );
            } else if self.stack.depth() > 1 {
                self.torn = Some(
                    "a nested block was abandoned while its RELEASE SAVEPOINT was in flight, \
                     so what the transaction holds is unknown",
                );
            }
        }
        while self.stack.depth() >= from.max(1) {
            tracing::debug!(
                depth = self.stack.depth(),
                "rolling back an abandoned block"
            );
            self.rollback_without_waiting();
            if self.stack.depth() == 1 {
                self.outermost_abandoned();
            }
            self.drop_level();
        }
    }

    /// The outermost transaction ended without oncommit waiting for it.
    fn outermost_abandoned(&mut self) {
        self.outermost_ended();
        if self.reset_after_abandon {
            self.reset_pending = true;
        }
    }

    /// The innermost level is gone (rolled back or abandoned): its hooks and jobs with it.
    fn drop_level(&mut self) {
        self.stack.rollback();
        #[cfg(feature = "outbox")]
        self.jobs.rollback();
        self.rollback_hooks.rolled_back();
        self.before_commit.rollback();
    }

    /// The outermost transaction ended: the server's callbacks stop watching it.
    fn outermost_ended(&mut self) {
        if let Some(watch) = &self.watch {
            watch.closed();
        }
        if self.span.has_field("outcome") {
            // Unless recorded already (committed): it did not commit.
            self.span.record("outcome", "not committed");
        }
        self.span = tracing::Span::none();
    }

    /// The span of the transaction finishing at `depth` (none for a savepoint), its outcome
    /// recorded as committed.
    fn committing_span(&self, depth: usize) -> tracing::Span {
        if depth == 1 {
            self.span.clone()
        } else {
            tracing::Span::none()
        }
    }

    /// The connection must be brought back to a known state before its next use: a BEGIN
    /// whose answer never came may have left the server inside a transaction that nobody
    /// counts, or an abandoned transaction left its session settings behind.
    fn needs_reset(&self) -> bool {
        self.reset_pending || (self.begin_in_flight == Some(0) && self.stack.depth() == 0)
    }

    /// Handing the connection on (drop, `into_inner`) in a state oncommit could not repair
    /// without waiting: make sure no one else gets it that way (a pooled connection is
    /// closed instead of returned).
    fn discard_if_uncertain(&mut self) {
        if self.broken.is_some()
            && let Some(inner) = self.inner.as_mut()
        {
            (self.discard)(inner);
        } else if self.needs_reset()
            && let Some(inner) = self.inner.as_mut()
        {
            tracing::warn!(
                "the connection is handed on after a cancelled transaction without \
                 `Conn::recover`; it may be inside a transaction (a pooled connection is \
                 closed instead of returned)"
            );
            (self.discard)(inner);
        }
    }

    /// Starts rolling back the connection's innermost level without waiting.
    fn rollback_without_waiting(&mut self) {
        if let Some(inner) = self.inner.as_mut() {
            (self.start_rollback)(inner);
            self.unconfirmed_rollbacks += 1;
        }
    }

    /// Rolls back levels deeper than `depth` that were left open (a leaked inner guard).
    fn unwind_to(&mut self, depth: usize) {
        while self.stack.depth() > depth {
            tracing::warn!(
                depth = self.stack.depth(),
                "an inner transaction block was never finished; rolling it back"
            );
            self.rollback_without_waiting();
            self.drop_level();
        }
    }

    /// After a failed COMMIT/ROLLBACK: forget the level's hooks and make sure the connection
    /// leaves the level too.
    fn abort_level(&mut self, depth: usize)
    where
        C: Backend,
    {
        self.drop_level();
        if self.conn_mut().transaction_depth() >= depth {
            self.rollback_without_waiting();
        }
    }

    /// Starts capturing the hooks that would run (see `testing::capture`); returns where the
    /// capture began.
    pub(crate) fn push_capture(&mut self, buffer: Arc<CaptureBuf>) -> CaptureMark {
        self.settle();
        self.captures.push(buffer);
        CaptureMark {
            depth: self.stack.depth(),
            pending: self.stack.pending(),
        }
    }

    /// The hooks registered since `mark` that wait for the COMMIT of the level that was
    /// innermost at `mark`, taken out of it (`testing::capture` inside an open transaction).
    /// Nothing when there was no transaction at `mark`, or the depth is not what it was.
    pub(crate) fn take_pending_since(&mut self, mark: CaptureMark) -> Vec<Hook> {
        self.settle();
        if mark.depth == 0 || self.stack.depth() != mark.depth {
            return Vec::new();
        }
        self.stack.take_since(mark.pending)
    }

    /// Forgets capture buffers that were closed (their `capture` returned, panicked or was
    /// dropped).
    pub(crate) fn pop_closed_captures(&mut self) {
        self.captures.pop_closed();
    }

    /// Hooks that may run now: to the innermost open capture buffer under
    /// `testing::capture`, or `None` when they must be run by the caller.
    fn captured<H: Hooks>(&mut self, hooks: H) -> Option<H> {
        self.captures.divert(hooks)
    }
}

/// Checks and bookkeeping shared by the sync and async paths.
impl<C: Backend> Conn<C> {
    /// Returns the depth before the new level.
    fn prepare_begin(&mut self, durable: bool, options: &TxOptions) -> Result<usize, Error> {
        self.settle();
        self.refuse_if_broken(self.stack.depth())?;
        self.check_tracked()?;
        let depth = self.stack.depth();
        if durable && depth > 0 {
            return Err(Error::not_outermost(depth));
        }
        if !options.is_default() && depth > 0 {
            return Err(Error::options_nested(options, depth));
        }
        Ok(depth)
    }

    fn opened(&mut self) -> Level {
        if self.stack.depth() == 0 {
            // A new transaction: whatever tore the last one is gone with it.
            self.torn = None;
            self.server_rolled_back = false;
            if let Some(watch) = &self.watch {
                watch.opened();
            }
            self.span = tracing::info_span!(
                "oncommit.transaction",
                outcome = tracing::field::Empty,
                hooks = tracing::field::Empty,
            );
        }
        self.stack.begin();
        #[cfg(feature = "outbox")]
        self.jobs.begin();
        self.rollback_hooks.begin();
        self.before_commit.begin();
        Level::new(self.abandoned.clone(), self.stack.depth())
    }

    fn check_tracked(&mut self) -> Result<(), Error> {
        if self.needs_reset() {
            return Err(Error::uncertain(
                "a cancelled transaction may have left the connection inside a transaction; \
                 call `Conn::recover().await` (or open a transaction) before using it",
            ));
        }
        let backend = self.conn_mut().transaction_depth();
        let tracked = self.stack.depth();
        if backend == tracked {
            self.unconfirmed_rollbacks = 0;
            Ok(())
        } else if backend > tracked && backend - tracked <= self.unconfirmed_rollbacks {
            // ROLLBACKs we started that the backend has not applied yet: sqlx's SQLite worker
            // lowers its depth only when it runs the queued statement, which it does before
            // any later command on the connection. Not a foreign transaction.
            Ok(())
        } else {
            Err(Error::foreign(backend, tracked))
        }
    }

    /// Before finishing `level`: settle abandoned inner levels.
    fn prepare_finish(&mut self, level: &Level) {
        self.settle();
        self.unwind_to(level.depth());
    }

    /// The backend committed the innermost level: release its hooks to the parent, or take
    /// them all when it was the outermost.
    fn committed(&mut self, depth: usize) -> Option<Batch> {
        if depth == 1 {
            let span = std::mem::replace(&mut self.span, tracing::Span::none());
            span.record("outcome", "committed");
            span.record("hooks", self.stack.pending());
            self.outermost_ended();
            #[cfg(feature = "outbox")]
            self.jobs.committed();
            self.rollback_hooks.committed();
            self.before_commit.clear();
            let hooks = self.stack.commit_outermost();
            self.captured(hooks)
        } else {
            self.stack.release();
            #[cfg(feature = "outbox")]
            self.jobs.release();
            self.rollback_hooks.release();
            self.before_commit.release();
            None
        }
    }

    fn commit_failed(&mut self, depth: usize, failure: CommitFailure) -> Error {
        match &failure {
            CommitFailure::Refused(source)
            | CommitFailure::RolledBack(source)
            | CommitFailure::Outbox(source) => {
                self.note_failure(source);
            }
            CommitFailure::Unknown { source, .. } => {
                if self.broken.is_none() {
                    self.broken = Some(source.to_string());
                }
            }
        }
        self.abort_level(depth);
        if depth == 1 {
            self.outermost_ended();
        }
        let step = if depth == 1 {
            Step::Commit
        } else {
            Step::Release
        };
        match failure {
            CommitFailure::Refused(source) => Error::statement(step, depth, source),
            CommitFailure::Outbox(source) => Error::outbox(
                "writing the durable jobs failed, so nothing was committed",
                source,
            ),
            CommitFailure::RolledBack(source) => Error::rolled_back_by_server(source),
            CommitFailure::Unknown {
                source,
                transaction_id,
            } if depth == 1 => {
                self.outermost_abandoned();
                Error::commit_unknown(transaction_id, source)
            }
            CommitFailure::Unknown { source, .. } => Error::statement(step, depth, source),
        }
    }

    /// Before committing `depth`: the reason it must be rolled back instead, if any. The
    /// transaction is torn, or the backend no longer counts a level oncommit opened (it left
    /// it on its own, and its statements since may have gone elsewhere).
    fn must_not_commit(&mut self, depth: usize) -> Option<&'static str> {
        if self.torn.is_none() && self.conn_mut().transaction_depth() < depth {
            self.torn =
                Some("the connection left a transaction level that oncommit still counts as open");
        }
        self.torn
    }

    /// The body's result, unless `depth` must not commit: then an error, so that the level
    /// is rolled back instead.
    fn veto_commit<T, E: From<Error>>(
        &mut self,
        depth: usize,
        result: Result<T, E>,
    ) -> Result<T, E> {
        if self.server_rolled_back && result.is_ok() {
            tracing::error!(depth, "the server rolled the transaction back by itself");
            return Err(Error::rolled_back_by_server(
                "the server rolled the transaction back by itself (SQLite: a conflict resolved \
                 with ROLLBACK, or RAISE(ROLLBACK)), and refused the statements run after it"
                    .into(),
            )
            .into());
        }
        match (result, self.must_not_commit(depth)) {
            (Ok(_), Some(reason)) => {
                tracing::error!(depth, reason, "rolling back instead of committing");
                Err(Error::uncertain(reason).into())
            }
            (result, _) => result,
        }
    }

    /// COMMIT (or RELEASE) of the innermost level, sync; the outermost one of a transaction
    /// with durable jobs writes them first.
    fn commit_level_sync(&mut self, depth: usize) -> Result<(), CommitFailure>
    where
        C: SyncBackend,
    {
        #[cfg(feature = "outbox")]
        if depth == 1 && !self.jobs.to_write().is_empty() {
            let Some(inner) = self.inner.as_mut() else {
                return Err(CommitFailure::Refused("the connection was taken".into()));
            };
            self.jobs.prepare_commit(C::WRITES_OUTBOX_LEASES);
            SyncBackend::write_outbox(inner, self.jobs.to_write())
                .map_err(CommitFailure::Outbox)?;
        }
        let _ = depth;
        SyncBackend::commit(self.conn_mut())
    }

    /// Enqueues a durable job: serialized now, under a new message id, and written to the
    /// outbox table by this transaction just before its COMMIT (see [`crate::outbox`]). A
    /// rolled-back block drops its jobs, as it drops its hooks. Returns the message id.
    ///
    /// Outside a transaction it fails: a durable job is written by the transaction it
    /// belongs to.
    #[cfg(feature = "outbox")]
    pub fn enqueue_job<J: crate::outbox::Job>(&mut self, job: &J) -> Result<uuid::Uuid, Error> {
        self.settle();
        self.check_tracked()?;
        if self.stack.depth() == 0 {
            return Err(Error::outbox(
                "a durable job is written by the transaction it belongs to",
                "enqueue it inside one (#[atomic] or Conn::atomic_async)".into(),
            ));
        }
        let message = crate::outbox::Message::new(job)
            .map_err(|source| Error::outbox("the job could not be serialized", source.into()))?;
        let id = message.id;
        self.jobs.push(message);
        Ok(id)
    }

    /// Durable jobs waiting for the outermost COMMIT.
    #[cfg(feature = "outbox")]
    pub fn pending_jobs(&self) -> usize {
        self.jobs.to_write().len()
    }

    fn rollback_failed(&mut self, depth: usize, source: BoxError) {
        self.note_failure(&source);
        let step = if depth == 1 {
            Step::Rollback
        } else {
            Step::RollbackToSavepoint
        };
        tracing::error!(depth, error = %source, "{step} failed; the body's error is returned");
        if self.conn_mut().transaction_depth() >= depth {
            self.rollback_without_waiting();
        }
        if depth == 1 {
            self.outermost_abandoned();
        }
    }

    /// Where a hook goes when it is registered: deferred inside a transaction, or back to
    /// the caller to run now.
    fn defer_or_return(&mut self, hook: impl Entry) -> Result<Option<Hook>, Error> {
        self.settle();
        self.check_tracked()?;
        if self.stack.depth() > 0 {
            self.stack.push(hook);
            return Ok(None);
        }
        Ok(self
            .captured(vec![hook.into_hook()])
            .and_then(|mut hooks| hooks.pop()))
    }

    /// Defers `hook` (the `enqueue!` path inside an `#[atomic]` body, where a transaction is
    /// known to be open).
    pub(crate) fn defer(&mut self, hook: impl Entry) {
        self.settle();
        if self.stack.depth() == 0 {
            // `#[atomic]` registers only while its own level is open, so this is unreachable
            // through the macros; say so loudly rather than run the hook at the wrong time.
            debug_assert!(false, "enqueue! outside its transaction block");
            tracing::error!(hook = %hook.site(), "hook registered outside its transaction block was dropped");
            return;
        }
        self.stack.push(hook);
    }

    pub(crate) fn enqueue_sync(&mut self, hook: impl Entry) -> Result<(), Error> {
        match self.defer_or_return(hook)? {
            Some(hook) => run_sync([hook]),
            None => Ok(()),
        }
    }

    pub(crate) async fn enqueue_async(&mut self, hook: impl Entry) -> Result<(), Error> {
        match self.defer_or_return(hook)? {
            Some(hook) => run_async([hook]).await,
            None => Ok(()),
        }
    }

    /// Runs `hook` after the outermost COMMIT, or now when no transaction is open.
    ///
    /// The hook's value may be `()` or a `Result`; an `Err` (or a panic) after COMMIT comes
    /// back from the commit as an [`Error`] with [`committed`](Error::committed) true, once
    /// every other hook has run. When the hook runs at once, its failure is returned here.
    ///
    /// ```
    /// use oncommit::{Conn, memory::Memory};
    /// let mut conn = Conn::new(Memory::new());
    /// // outside a transaction: runs at once
    /// let err = conn.on_commit(|| Err::<(), _>("queue down")).unwrap_err();
    /// assert!(err.committed());
    /// ```
    #[track_caller]
    pub fn on_commit<F, R>(&mut self, hook: F) -> Result<(), Error>
    where
        F: FnOnce() -> R + Send + 'static,
        R: IntoHookResult,
    {
        let site = HookSite::from_location(Location::caller());
        self.enqueue_sync(SyncHook::new(site, false, hook))
    }

    /// Runs `hook` when the level it is registered in rolls back (Rails' `after_rollback`,
    /// Spring's `AFTER_ROLLBACK`): a savepoint's rollback runs that savepoint's rollback hooks
    /// only; a released savepoint's join its parent's (its work is undone with the parent's);
    /// after the outermost COMMIT none runs. Outside a transaction there is nothing to roll
    /// back, and `hook` is dropped.
    ///
    /// They run once oncommit knows the level is rolled back (after its ROLLBACK, or when an
    /// abandoned block is settled), in the order they were registered. A failure or a panic is
    /// logged: the caller of the rolled-back block already gets that block's error.
    ///
    /// ```
    /// use oncommit::{BoxError, Conn, memory::Memory};
    /// use std::sync::mpsc;
    ///
    /// let (events, seen) = mpsc::channel();
    /// let mut conn = Conn::new(Memory::new());
    /// let result = conn.atomic(|conn| {
    ///     let events = events.clone();
    ///     conn.on_rollback(move || events.send("charge voided"))?;
    ///     Err::<(), BoxError>("card declined".into())
    /// });
    /// assert!(result.is_err());
    /// assert_eq!(seen.try_recv(), Ok("charge voided"));
    /// ```
    #[track_caller]
    pub fn on_rollback<F, R>(&mut self, hook: F) -> Result<(), Error>
    where
        F: FnOnce() -> R + Send + 'static,
        R: IntoHookResult,
    {
        let site = HookSite::from_location(Location::caller());
        self.settle();
        let registered = self
            .rollback_hooks
            .push(site, Box::new(move || hook().into_hook_result()));
        if !registered {
            tracing::debug!(site = %site, "on_rollback outside a transaction: nothing to roll back");
        }
        Ok(())
    }

    /// Like [`on_commit`](Conn::on_commit), but a failure is only logged (`tracing`), never
    /// returned.
    ///
    /// ```
    /// use oncommit::{Conn, memory::Memory};
    /// let mut conn = Conn::new(Memory::new());
    /// conn.on_commit_robust(|| Err::<(), _>("metrics down")).unwrap();
    /// ```
    #[track_caller]
    pub fn on_commit_robust<F, R>(&mut self, hook: F) -> Result<(), Error>
    where
        F: FnOnce() -> R + Send + 'static,
        R: IntoHookResult,
    {
        let site = HookSite::from_location(Location::caller());
        self.enqueue_sync(SyncHook::new(site, true, hook))
    }
}

impl<C: Backend + Send> Conn<C> {
    /// Runs the future `hook()` makes after the outermost COMMIT (awaited in order with the
    /// other hooks), or now when no transaction is open.
    ///
    /// ```
    /// use oncommit::{Conn, Error, memory::Memory};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Error> {
    /// let mut conn = Conn::new(Memory::new());
    /// conn.atomic_async(async |conn| {
    ///     conn.on_commit_async(|| async { Ok::<_, std::io::Error>(()) }).await?;
    ///     Ok::<_, Error>(())
    /// })
    /// .await?;
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn on_commit_async<F, Fut>(
        &mut self,
        hook: F,
    ) -> impl Future<Output = Result<(), Error>> + Send + '_
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoHookResult,
    {
        let site = HookSite::from_location(Location::caller());
        self.enqueue_async(AsyncHook::new(site, false, hook))
    }

    /// Like [`on_commit_async`](Conn::on_commit_async), but a failure is only logged.
    #[track_caller]
    pub fn on_commit_async_robust<F, Fut>(
        &mut self,
        hook: F,
    ) -> impl Future<Output = Result<(), Error>> + Send + '_
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoHookResult,
    {
        let site = HookSite::from_location(Location::caller());
        self.enqueue_async(AsyncHook::new(site, true, hook))
    }
}

impl<C: SyncBackend> Conn<C> {
    pub(crate) fn begin_sync(&mut self, durable: bool, options: TxOptions) -> Result<Level, Error> {
        let depth = self.prepare_begin(durable, &options)?;
        let begun = if options.is_default() {
            SyncBackend::begin(self.conn_mut())
        } else {
            SyncBackend::begin_with(self.conn_mut(), options)
        };
        if let Err(source) = begun {
            self.note_failure(&source);
            return Err(begin_error(depth, source));
        }
        Ok(self.opened())
    }

    pub(crate) fn finish_sync<T, E: From<Error>>(
        &mut self,
        level: Level,
        result: Result<T, E>,
    ) -> Result<T, E> {
        self.prepare_finish(&level);
        let depth = self.stack.depth();
        let result = match result {
            Ok(_) if depth == 1 && !self.before_commit.all().is_empty() => {
                let (site, _) = &self.before_commit.all()[0];
                Err(Error::before_commit(
                    *site,
                    "before-commit hooks run at an async COMMIT; this one is sync".into(),
                )
                .into())
            }
            other => other,
        };
        let result = self.veto_commit(depth, result);
        match result {
            Ok(value) => {
                let span = self.committing_span(depth);
                let committed = span.in_scope(|| self.commit_level_sync(depth));
                level.disarm();
                match committed {
                    Ok(()) => match self.committed(depth) {
                        Some(hooks) => span
                            .in_scope(|| run_sync(hooks))
                            .map(|()| value)
                            .map_err(E::from),
                        None => Ok(value),
                    },
                    Err(source) => Err(self.commit_failed(depth, source).into()),
                }
            }
            Err(error) => {
                // The level's hooks are dropped only once ROLLBACK returns: if this is
                // abandoned mid-ROLLBACK (a dropped future), the level is still on the stack
                // and `settle` rolls the connection back with it, so the two depths agree.
                let rolled_back = SyncBackend::rollback(self.conn_mut());
                self.drop_level();
                if depth == 1 {
                    self.outermost_ended();
                }
                level.disarm();
                if let Err(source) = rolled_back {
                    self.rollback_failed(depth, source);
                }
                Err(error)
            }
        }
    }

    /// Runs `body` as one transaction: BEGIN (or SAVEPOINT when already inside one), COMMIT
    /// (or RELEASE) when it returns `Ok`, ROLLBACK (to the savepoint) when it returns `Err` or
    /// panics. Hooks run after the outermost COMMIT.
    ///
    /// ```
    /// use oncommit::{BoxError, Conn, memory::Memory};
    ///
    /// let db = Memory::new();
    /// let mut conn = Conn::new(db.clone());
    /// conn.atomic(|conn| {
    ///     let inner = conn.atomic(|_| Err::<(), BoxError>("invalid input".into()));
    ///     assert!(inner.is_err()); // only the savepoint is rolled back
    ///     Ok::<_, BoxError>(())
    /// })?;
    /// assert_eq!(
    ///     db.statements(),
    ///     ["BEGIN", "SAVEPOINT oncommit_1", "ROLLBACK TO SAVEPOINT oncommit_1", "COMMIT"]
    /// );
    /// # Ok::<(), BoxError>(())
    /// ```
    pub fn atomic<T, E, F>(&mut self, body: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<Error>,
    {
        self.atomic_sync(false, TxOptions::new(), body)
    }

    /// Like [`atomic`](Conn::atomic), with `options` (isolation level, read-only) for the
    /// outermost transaction (see [`TxOptions`]); nested inside another, it returns `Err`
    /// ([`ErrorKind::OptionsNested`](crate::ErrorKind::OptionsNested)) without running `body`.
    pub fn atomic_with<T, E, F>(&mut self, options: TxOptions, body: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<Error>,
    {
        self.atomic_sync(false, options, body)
    }

    /// The sync form of [`retry_atomic_async`](Conn::retry_atomic_async): runs `body` again,
    /// up to `retries` more times, while the transaction fails with a serialization failure
    /// or a deadlock.
    ///
    /// ```
    /// use oncommit::{BoxError, Conn, TxOptions, memory::Memory};
    ///
    /// let db = Memory::new();
    /// let mut conn = Conn::new(db.clone());
    /// let mut attempts = 0;
    /// let result: Result<(), BoxError> = conn.retry_atomic(2, TxOptions::new(), |_| {
    ///     attempts += 1;
    ///     Err("no such user".into()) // not transient: no new attempt
    /// });
    /// assert!(result.is_err());
    /// assert_eq!(attempts, 1);
    /// assert_eq!(db.statements(), ["BEGIN", "ROLLBACK"]);
    /// ```
    pub fn retry_atomic<T, E, F>(
        &mut self,
        retries: u32,
        options: TxOptions,
        mut body: F,
    ) -> Result<T, E>
    where
        F: FnMut(&mut Self) -> Result<T, E>,
        E: From<Error> + Retryable,
    {
        let mut attempt = 0;
        loop {
            let outermost = self.depth() == 0;
            let result = self.atomic_sync(false, options, &mut body);
            if !again(&result, outermost, &mut attempt, retries, E::is_transient) {
                return result;
            }
        }
    }

    /// Like [`atomic`](Conn::atomic), but the block must be the outermost transaction:
    /// nested inside another, it returns `Err` ([`ErrorKind::NotOutermost`](crate::ErrorKind::NotOutermost)) without running `body`.
    ///
    /// ```
    /// use oncommit::{Conn, Error, ErrorKind, memory::Memory};
    /// let mut conn = Conn::new(Memory::new());
    /// let nested = conn.atomic(|conn| conn.durable(|_| Ok::<_, Error>(())));
    /// assert_eq!(nested.unwrap_err().kind(), ErrorKind::NotOutermost);
    /// ```
    pub fn durable<T, E, F>(&mut self, body: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<Error>,
    {
        self.atomic_sync(true, TxOptions::new(), body)
    }

    fn atomic_sync<T, E, F>(&mut self, durable: bool, options: TxOptions, body: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<Error>,
    {
        let level = self.begin_sync(durable, options)?;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(self))) {
            Ok(result) => self.finish_sync(level, result),
            Err(panic) => {
                drop(level);
                self.settle();
                std::panic::resume_unwind(panic)
            }
        }
    }
}

impl<C: AsyncBackend> Conn<C> {
    /// Brings the connection back to a state oncommit knows after a block was cancelled or
    /// panicked: rolls back abandoned levels and waits until the backend applied those
    /// rollbacks; after a cancelled outermost `BEGIN`, ends whatever transaction the server
    /// may be in; after a cancelled transaction on MySQL/MariaDB, turns `autocommit` back on. Every transaction oncommit opens does this first; call it yourself before
    /// running statements through `&mut **conn` after catching a cancellation outside any
    /// transaction.
    ///
    /// ```
    /// use oncommit::{Conn, Error, memory::Memory};
    /// use futures_util::FutureExt;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Error> {
    /// let db = Memory::new();
    /// db.stall_next_commit();
    /// let mut conn = Conn::new(db.clone());
    /// assert!(conn.atomic_async(async |_| Ok::<_, Error>(())).now_or_never().is_none());
    /// conn.recover().await?;
    /// assert_eq!(db.depth(), 0);
    /// # Ok(()) }
    /// ```
    pub async fn recover(&mut self) -> Result<(), Error> {
        self.settle();
        self.refuse_if_broken(self.stack.depth())?;
        if self.unconfirmed_rollbacks > 0 || self.begin_in_flight.is_some() {
            // Rollbacks were only started, or a cancelled BEGIN may still be applied: wait
            // until the backend is done with them, so that depth checks compare real depths.
            // sqlx's SQLite worker can sit transiently *above* the started rollbacks (a
            // cancelled BEGIN or SAVEPOINT it has run but not yet undone).
            AsyncBackend::settle_async(self.conn_mut()).await;
        }
        if self.needs_reset()
            && let Err(source) = AsyncBackend::end_unknown_transaction(self.conn_mut()).await
        {
            self.note_failure(&source);
            return Err(Error::statement(Step::Rollback, 1, source));
        }
        self.begin_in_flight = None;
        self.reset_pending = false;
        Ok(())
    }

    pub(crate) async fn begin_async(
        &mut self,
        durable: bool,
        options: TxOptions,
    ) -> Result<Level, Error> {
        self.recover().await?;
        let depth = self.prepare_begin(durable, &options)?;
        if depth == 0 {
            self.watch_server()
                .await
                .map_err(|source| begin_error(0, source))?;
        } else {
            self.check_server().await;
        }
        // If this future is dropped mid-BEGIN, `begin_in_flight` stays set: the next use
        // waits for the backend, and after a cancelled outermost BEGIN ends the transaction
        // the server may be in. Our stack is only pushed once BEGIN succeeded.
        self.begin_in_flight = Some(depth);
        let begun = if options.is_default() {
            AsyncBackend::begin_async(self.conn_mut()).await
        } else {
            AsyncBackend::begin_with_async(self.conn_mut(), options).await
        };
        self.begin_in_flight = None;
        if let Err(source) = begun {
            self.note_failure(&source);
            if depth > 0 && self.broken.is_none() {
                self.reopen_after_failed_savepoint().await;
            }
            return Err(begin_error(depth, source));
        }
        Ok(self.opened())
    }

    /// [`Conn::adopt`]: the connection is inside exactly one transaction oncommit did not
    /// open; it becomes this `Conn`'s outermost level.
    pub(crate) async fn adopt_open_transaction(&mut self) -> Result<Level, Error> {
        let backend = self.conn_mut().transaction_depth();
        if backend != 1 || self.stack.depth() != 0 {
            return Err(Error::foreign(backend, self.stack.depth()));
        }
        self.watch_server()
            .await
            .map_err(|source| begin_error(0, source))?;
        Ok(self.opened())
    }

    /// The before-commit hooks of the transaction, in order, on the connection; the first
    /// failure stops them and becomes the transaction's error (it is then rolled back).
    async fn run_before_commit(&mut self) -> Result<(), Error> {
        for (site, hook) in self.before_commit.take_all() {
            hook(self.conn_mut())
                .await
                .map_err(|source| Error::before_commit(site, source))?;
        }
        Ok(())
    }

    /// Runs `hook` on the connection inside the transaction, just before its outermost
    /// COMMIT (Spring's `BEFORE_COMMIT`): it may read and write, and what it writes commits
    /// with the transaction. Hooks run in the order they were registered, before the durable
    /// jobs are written; a failure rolls the transaction back and is returned as
    /// [`ErrorKind::BeforeCommit`](crate::ErrorKind::BeforeCommit). A rolled-back savepoint
    /// drops its own. Outside a transaction it fails (there is no COMMIT to run before).
    ///
    /// ```
    /// use oncommit::{Conn, Error, memory::Memory};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Error> {
    /// let db = Memory::new();
    /// let mut conn = Conn::new(db.clone());
    /// conn.atomic_async(async |conn| {
    ///     conn.before_commit(|db: &mut Memory| Box::pin(async move {
    ///         db.execute("UPDATE counters SET n = n + 1");
    ///         Ok(())
    ///     }))?;
    ///     conn.execute("INSERT INTO users VALUES (7)");
    ///     Ok::<_, Error>(())
    /// })
    /// .await?;
    /// assert_eq!(
    ///     db.statements(),
    ///     ["BEGIN", "INSERT INTO users VALUES (7)", "UPDATE counters SET n = n + 1", "COMMIT"]
    /// );
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn before_commit<F>(&mut self, hook: F) -> Result<(), Error>
    where
        F: for<'a> FnOnce(&'a mut C) -> BoxFuture<'a, Result<(), BoxError>> + Send + 'static,
    {
        let site = HookSite::from_location(Location::caller());
        self.settle();
        if !self.before_commit.is_open() {
            return Err(Error::before_commit(
                site,
                "no transaction is open: there is no COMMIT to run before".into(),
            ));
        }
        self.before_commit.push((site, Box::new(hook)));
        Ok(())
    }

    /// Before the first transaction: connects the server's callbacks to a [`ServerWatch`],
    /// when the backend has them.
    async fn watch_server(&mut self) -> Result<(), BoxError> {
        if !C::WATCHES_SERVER || self.watch.is_some() {
            return Ok(());
        }
        let watch = Arc::new(ServerWatch::default());
        AsyncBackend::watch_server(self.conn_mut(), watch.clone()).await?;
        self.watch = Some(watch);
        Ok(())
    }

    /// Whether the server rolled the open transaction back by itself: if it did, the
    /// transaction can only be rolled back, and the backend reopens its levels so that the
    /// body's later statements stay inside a transaction and the final ROLLBACK succeeds.
    async fn check_server(&mut self) {
        let rolled_back = self
            .watch
            .as_ref()
            .is_some_and(|watch| watch.take_rolled_back());
        if !rolled_back || self.stack.depth() == 0 {
            return;
        }
        tracing::warn!("the server rolled the transaction back by itself; it will not commit");
        self.server_rolled_back = true;
        if let Err(error) = AsyncBackend::resync_after_server_rollback(self.conn_mut()).await {
            tracing::error!(%error, "reopening a transaction the server rolled back failed");
        }
    }

    /// COMMIT (or RELEASE) of the innermost level; the outermost one of a transaction with
    /// durable jobs writes them first (the backend may do both in one round trip).
    async fn commit_level(&mut self, depth: usize) -> Result<(), CommitFailure> {
        #[cfg(feature = "outbox")]
        if depth == 1 && !self.jobs.to_write().is_empty() {
            let Some(inner) = self.inner.as_mut() else {
                return Err(CommitFailure::Refused("the connection was taken".into()));
            };
            self.jobs.prepare_commit(C::WRITES_OUTBOX_LEASES);
            return AsyncBackend::commit_with_outbox(inner, self.jobs.to_write()).await;
        }
        let _ = depth;
        AsyncBackend::commit_async(self.conn_mut()).await
    }

    /// Before the outermost COMMIT or ROLLBACK: the server's callbacks let it through.
    fn finishing_outermost(&self, depth: usize) {
        if depth == 1
            && let Some(watch) = &self.watch
        {
            watch.finishing();
        }
    }

    /// A SAVEPOINT failed and the backend left levels oncommit counts as open (sqlx's
    /// Postgres driver rolls back the *parent* level when a SAVEPOINT fails; at depth 1 that
    /// ends the transaction, and the body's next statements would autocommit). The
    /// transaction is torn: reopen the missing levels, so that whatever the body still runs
    /// stays inside a transaction that is rolled back at its outermost level.
    async fn reopen_after_failed_savepoint(&mut self) {
        let tracked = self.stack.depth();
        if self.conn_mut().transaction_depth() >= tracked {
            return;
        }
        self.torn = Some("a SAVEPOINT failed and the connection rolled back its parent level");
        while self.conn_mut().transaction_depth() < tracked {
            if let Err(error) = AsyncBackend::begin_async(self.conn_mut()).await {
                tracing::error!(%error, "reopening a torn transaction failed");
                return;
            }
        }
    }

    pub(crate) async fn finish_async<T, E: From<Error>>(
        &mut self,
        mut level: Level,
        result: Result<T, E>,
    ) -> Result<T, E> {
        self.prepare_finish(&level);
        self.check_server().await;
        let depth = self.stack.depth();
        let result = match result {
            Ok(value) if depth == 1 => self
                .run_before_commit()
                .await
                .map(|()| value)
                .map_err(E::from),
            other => other,
        };
        let result = self.veto_commit(depth, result);
        match result {
            Ok(value) => {
                // The level stays armed until COMMIT returns: dropping this future mid-COMMIT
                // rolls the level back and discards its hooks; mid-RELEASE, the transaction
                // is torn (the savepoint may be gone or not).
                level.finishing();
                self.finishing_outermost(depth);
                #[cfg(feature = "outbox")]
                let notify = depth == 1
                    && crate::outbox::notify::enabled()
                    && !self.jobs.to_write().is_empty();
                let span = self.committing_span(depth);
                let committed = self.commit_level(depth).instrument(span.clone()).await;
                level.disarm();
                match committed {
                    Ok(()) => {
                        let result = match self.committed(depth) {
                            Some(hooks) => run_async(hooks)
                                .instrument(span)
                                .await
                                .map(|()| value)
                                .map_err(E::from),
                            None => Ok(value),
                        };
                        // Last: the transaction and its hooks are done, so a future dropped
                        // here loses nothing but this wake-up (the relays' poll makes up).
                        #[cfg(feature = "outbox")]
                        if notify {
                            AsyncBackend::notify_relays(self.conn_mut()).await;
                        }
                        result
                    }
                    Err(source) => Err(self.commit_failed(depth, source).into()),
                }
            }
            Err(error) => {
                // The level's hooks are dropped only once ROLLBACK returns: if this is
                // abandoned mid-ROLLBACK (a dropped future), the level is still on the stack
                // and `settle` rolls the connection back with it, so the two depths agree.
                self.finishing_outermost(depth);
                let rolled_back = AsyncBackend::rollback_async(self.conn_mut()).await;
                self.drop_level();
                if depth == 1 {
                    self.outermost_ended();
                }
                level.disarm();
                if let Err(source) = rolled_back {
                    self.rollback_failed(depth, source);
                }
                Err(error)
            }
        }
    }

    /// The async form of [`atomic`](Conn::atomic): `body` is an async closure given the
    /// connection. Dropping the returned future (cancellation) rolls the block back at the
    /// connection's next use and discards its hooks.
    ///
    /// ```
    /// use oncommit::{Conn, Error, memory::Memory};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Error> {
    /// let db = Memory::new();
    /// let mut conn = Conn::new(db.clone());
    /// let id = conn
    ///     .atomic_async(async |conn| {
    ///         conn.execute("INSERT INTO users VALUES (7)");
    ///         conn.on_commit(|| println!("welcome 7"))?;
    ///         Ok::<_, Error>(7)
    ///     })
    ///     .await?;
    /// assert_eq!(id, 7);
    /// assert_eq!(db.statements(), ["BEGIN", "INSERT INTO users VALUES (7)", "COMMIT"]);
    /// # Ok(()) }
    /// ```
    pub async fn atomic_async<T, E, F>(&mut self, body: F) -> Result<T, E>
    where
        F: AsyncFnOnce(&mut Self) -> Result<T, E>,
        E: From<Error>,
    {
        self.atomic_async_with(TxOptions::new(), body).await
    }

    /// Like [`atomic_async`](Conn::atomic_async), with `options` (isolation level, read-only)
    /// for the outermost transaction; nested inside another, it returns `Err`
    /// ([`ErrorKind::OptionsNested`](crate::ErrorKind::OptionsNested)) without running `body`.
    ///
    /// ```
    /// use oncommit::{Conn, Error, Isolation, TxOptions, memory::Memory};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Error> {
    /// let db = Memory::new();
    /// let mut conn = Conn::new(db.clone());
    /// let options = TxOptions::new().isolation(Isolation::RepeatableRead);
    /// conn.atomic_async_with(options, async |_| Ok::<_, Error>(())).await?;
    /// assert_eq!(db.statements(), ["BEGIN ISOLATION LEVEL REPEATABLE READ", "COMMIT"]);
    /// # Ok(()) }
    /// ```
    pub async fn atomic_async_with<T, E, F>(&mut self, options: TxOptions, body: F) -> Result<T, E>
    where
        F: AsyncFnOnce(&mut Self) -> Result<T, E>,
        E: From<Error>,
    {
        let level = self.begin_async(false, options).await?;
        let result = body(self).await;
        self.finish_async(level, result).await
    }

    /// Runs `body` as one transaction (with `options`), and runs it again, up to `retries`
    /// more times, while it fails with a serialization failure or a deadlock
    /// ([`Retryable::is_transient`]). Each failed attempt is rolled back with its hooks; only
    /// the hooks of the attempt that commits run. Nested inside another transaction it runs
    /// once, as a savepoint: a new attempt must start from the outermost BEGIN.
    ///
    /// `body` must be safe to run more than once: everything it does outside the database
    /// (other than through `enqueue!`/`on_commit`, which wait for the COMMIT) happens once
    /// per attempt.
    ///
    /// ```
    /// use oncommit::{Conn, Error, TxOptions, memory::Memory};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Error> {
    /// let mut conn = Conn::new(Memory::new());
    /// let mut attempts = 0;
    /// conn.retry_atomic_async(3, TxOptions::new(), async |_| {
    ///     attempts += 1;
    ///     Ok::<_, Error>(())
    /// })
    /// .await?;
    /// assert_eq!(attempts, 1);
    /// # Ok(()) }
    /// ```
    pub async fn retry_atomic_async<T, E, F>(
        &mut self,
        retries: u32,
        options: TxOptions,
        mut body: F,
    ) -> Result<T, E>
    where
        F: AsyncFnMut(&mut Self) -> Result<T, E>,
        E: From<Error> + Retryable,
    {
        let mut attempt = 0;
        loop {
            let outermost = self.depth() == 0;
            let level = self.begin_async(false, options).await?;
            let result = body(self).await;
            let result = self.finish_async(level, result).await;
            if !again(&result, outermost, &mut attempt, retries, E::is_transient) {
                return result;
            }
        }
    }

    /// The async form of [`durable`](Conn::durable).
    pub async fn durable_async<T, E, F>(&mut self, body: F) -> Result<T, E>
    where
        F: AsyncFnOnce(&mut Self) -> Result<T, E>,
        E: From<Error>,
    {
        let level = self.begin_async(true, TxOptions::new()).await?;
        let result = body(self).await;
        self.finish_async(level, result).await
    }
}

fn begin_error(depth: usize, source: BoxError) -> Error {
    let step = if depth == 0 {
        Step::Begin
    } else {
        Step::Savepoint
    };
    Error::statement(step, depth + 1, source)
}

impl<C> Conn<C> {
    /// The database connection to run statements on, whatever `C` is: `&mut PgConnection`
    /// for a `Conn<PgConnection>`, a `Conn<PoolConnection<Postgres>>`, a
    /// `Conn<&mut PgConnection>` or an adopted `Conn<Transaction<'_, Postgres>>` alike (where
    /// `&mut **conn` and `&mut ***conn` differ). A function generic over them bounds `C` with
    /// [`AsConnection`]:
    ///
    /// ```
    /// # #[cfg(feature = "sqlx-postgres")] {
    /// use oncommit::{AsConnection, AsyncBackend, Conn};
    /// use sqlx::PgConnection;
    ///
    /// async fn insert_user<C>(conn: &mut Conn<C>, id: i64) -> Result<(), sqlx::Error>
    /// where
    ///     C: AsyncBackend + AsConnection<Connection = PgConnection>,
    /// {
    ///     sqlx::query("INSERT INTO users (id) VALUES ($1)")
    ///         .bind(id)
    ///         .execute(conn.executor())
    ///         .await?;
    ///     Ok(())
    /// }
    /// # }
    /// ```
    ///
    /// Like `DerefMut`, it rolls back abandoned levels first.
    pub fn executor(&mut self) -> &mut C::Connection
    where
        C: AsConnection,
    {
        self.settle();
        self.conn_mut().as_connection()
    }
}

impl<C> Deref for Conn<C> {
    type Target = C;

    fn deref(&self) -> &C {
        self.conn()
    }
}

impl<C> DerefMut for Conn<C> {
    /// Rolls back abandoned levels first, so a statement never runs inside a block that a
    /// panic or a cancellation already left. That rollback is the backend's `start_rollback`:
    /// sqlx only queues the statement (it is sent with the next one), diesel runs it here,
    /// synchronously — so on diesel, `&mut **conn` after an abandoned block does I/O.
    fn deref_mut(&mut self) -> &mut C {
        self.settle();
        self.conn_mut()
    }
}

impl<C> Drop for Conn<C> {
    fn drop(&mut self) {
        self.settle();
        self.discard_if_uncertain();
    }
}

impl<C: fmt::Debug> fmt::Debug for Conn<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("conn", &self.inner)
            .field("depth", &self.depth())
            .field("pending_hooks", &self.pending_hooks())
            .finish()
    }
}
