//! The entry points `#[atomic]` and `enqueue!` expand into. Not public API: the module is
//! versioned so that a macro crate and a runtime crate that do not match fail to compile
//! with a path error instead of misbehaving.

#[doc(hidden)]
pub mod v1 {
    use std::future::Future;

    use crate::args::Described;
    pub use crate::args::{Arg, ArgDebug, ArgTypeName};
    pub use crate::hook::{IntoHookResult, StaticSite};
    pub use crate::level::Level;
    pub use crate::options::{Isolation, TxOptions};

    use crate::retry::Retryable;
    pub use ::core::panic::Location;

    use crate::backend::{AsyncBackend, Backend, SyncBackend};
    use crate::hook::{AsyncHook, Entry, HookSite, SyncHook};
    use crate::{BoxError, Conn, Error};

    /// Opens a level on a sync connection.
    pub fn begin<C: SyncBackend>(conn: &mut Conn<C>, durable: bool) -> Result<Level, Error> {
        conn.begin_sync(durable, TxOptions::new())
    }

    /// Opens a level on a sync connection, with options for the outermost transaction.
    pub fn begin_with<C: SyncBackend>(
        conn: &mut Conn<C>,
        durable: bool,
        options: TxOptions,
    ) -> Result<Level, Error> {
        conn.begin_sync(durable, options)
    }

    /// Whether the next level opened is the outermost (a retried block retries only then).
    #[inline(always)]
    pub fn outermost<C>(conn: &Conn<C>) -> bool {
        conn.depth() == 0
    }

    /// `E::is_transient` for the error type of a retried `#[atomic]` fn, at its return type:
    /// a missing `Retryable` impl is one error there.
    #[inline(always)]
    pub fn transient_check<R: AtomicReturn>() -> fn(&R::Err) -> bool
    where
        R::Err: Retryable,
    {
        <R::Err as Retryable>::is_transient
    }

    /// After a retried block finished: whether to run it again (see
    /// `Conn::retry_atomic_async`).
    #[inline]
    pub fn again<T, E>(
        result: &Result<T, E>,
        outermost: bool,
        attempt: &mut u32,
        retries: u32,
        transient: fn(&E) -> bool,
    ) -> bool {
        crate::retry::again(result, outermost, attempt, retries, transient)
    }

    /// Commits or rolls back `level` according to `result`, running hooks after the
    /// outermost COMMIT.
    pub fn finish<C: SyncBackend, T, E: From<Error>>(
        conn: &mut Conn<C>,
        level: Level,
        result: Result<T, E>,
    ) -> Result<T, E> {
        conn.finish_sync(level, result)
    }

    /// Opens a level on an async connection.
    pub async fn begin_async<C: AsyncBackend>(
        conn: &mut Conn<C>,
        durable: bool,
    ) -> Result<Level, Error> {
        conn.begin_async(durable, TxOptions::new()).await
    }

    /// Opens a level on an async connection, with options for the outermost transaction.
    pub async fn begin_async_with<C: AsyncBackend>(
        conn: &mut Conn<C>,
        durable: bool,
        options: TxOptions,
    ) -> Result<Level, Error> {
        conn.begin_async(durable, options).await
    }

    /// The async form of [`finish`].
    pub async fn finish_async<C: AsyncBackend, T, E: From<Error>>(
        conn: &mut Conn<C>,
        level: Level,
        result: Result<T, E>,
    ) -> Result<T, E> {
        conn.finish_async(level, result).await
    }

    /// What the step closure of an `enqueue!` gives: the call made (or its future), the
    /// arguments' text, or nothing (its arguments were taken already).
    pub enum Step<R, D> {
        /// The call's value.
        Run(R),
        /// The arguments' `Debug` text.
        Described(D),
        /// Called again after the call: nothing left.
        Gone,
    }

    /// Calls `call` at once (the closure gives `?` in an `enqueue!`'s call its scope).
    #[inline(always)]
    pub fn call_now<R>(call: impl FnOnce() -> R) -> R {
        call()
    }

    /// The value of an `enqueue!`'s call as a hook's result (an `Err` is a hook failure).
    #[inline(always)]
    pub fn hook_result<R: IntoHookResult>(value: R) -> Result<(), BoxError> {
        value.into_hook_result()
    }

    /// The future of an `enqueue!`'s async call, its value turned into a hook's result.
    pub type HookFuture<Fut> =
        futures_util::future::Map<Fut, fn(<Fut as Future>::Output) -> Result<(), BoxError>>;

    /// [`hook_result`] for an async call.
    #[inline(always)]
    pub fn hook_future<Fut>(future: Fut) -> HookFuture<Fut>
    where
        Fut: Future + Send + 'static,
        Fut::Output: IntoHookResult,
    {
        use futures_util::FutureExt;
        future.map(IntoHookResult::into_hook_result as fn(Fut::Output) -> _)
    }

    /// A hook around a sync call: `step(false)` makes it; `step(true)` describes its
    /// arguments, asked once while a capture is open.
    #[allow(clippy::type_complexity)]
    pub fn sync_hook<F, const N: usize>(
        site: &'static StaticSite,
        robust: bool,
        mut step: F,
    ) -> (
        SyncHook<impl FnOnce() -> Result<(), BoxError> + Send + 'static>,
        Option<Box<[String]>>,
    )
    where
        F: FnMut(bool) -> Step<Result<(), BoxError>, [String; N]> + Send + 'static,
    {
        let text = described(&mut step);
        let call = move || match step(false) {
            Step::Run(result) => result,
            Step::Described(_) | Step::Gone => Err(CALLED_TWICE.into()),
        };
        (
            SyncHook::new(HookSite::from_static(site), robust, call),
            text,
        )
    }

    /// What a step says when asked for its call again (never: each hook runs once).
    const CALLED_TWICE: &str = "a hook's call was made twice";

    /// A hook around an async call (`step(false)` makes the future when the hook runs).
    #[allow(clippy::type_complexity)]
    pub fn async_hook<F, Fut, const N: usize>(
        site: &'static StaticSite,
        robust: bool,
        mut step: F,
    ) -> (
        AsyncHook<impl FnOnce() -> StepFuture<Fut> + Send + 'static>,
        Option<Box<[String]>>,
    )
    where
        F: FnMut(bool) -> Step<HookFuture<Fut>, [String; N]> + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoHookResult,
    {
        let text = described(&mut step);
        let call = move || match step(false) {
            Step::Run(future) => futures_util::future::Either::Left(future),
            Step::Described(_) | Step::Gone => {
                futures_util::future::Either::Right(std::future::ready(Err(CALLED_TWICE.into())))
            }
        };
        (
            AsyncHook::new(HookSite::from_static(site), robust, call),
            text,
        )
    }

    /// The future of an async hook's step: the call's (or the error of a step asked twice).
    pub type StepFuture<Fut> =
        futures_util::future::Either<HookFuture<Fut>, std::future::Ready<Result<(), BoxError>>>;

    /// The arguments' text while a capture is open ([`crate::args`]).
    #[inline]
    fn described<R, const N: usize>(
        step: &mut impl FnMut(bool) -> Step<R, [String; N]>,
    ) -> Option<Box<[String]>> {
        crate::args::describe(|| match step(true) {
            Step::Described(text) => text,
            Step::Run(_) | Step::Gone => [const { String::new() }; N],
        })
    }

    /// A hook of a closure, for the runtime's own tests.
    #[doc(hidden)]
    pub fn plain_sync_hook<F, R>(site: &'static StaticSite, robust: bool, call: F) -> SyncHook<F>
    where
        F: FnOnce() -> R + Send + 'static,
        R: IntoHookResult,
    {
        SyncHook::new(HookSite::from_static(site), robust, call)
    }

    /// `enqueue!(CALL)` inside an `#[atomic]` body: the block's level is open, so the hook
    /// always waits.
    /// `args`: the arguments' text, from the hook's step (while a capture is open).
    #[inline]
    pub fn defer<C: Backend>(conn: &mut Conn<C>, hook: impl Entry, args: Option<Box<[String]>>) {
        match args {
            None => conn.defer(hook),
            Some(args) => conn.defer(Described::new(hook, args)),
        }
    }

    /// `enqueue!(conn => CALL)` with a sync call: defers inside a transaction, runs now
    /// outside one.
    #[inline]
    pub fn enqueue<C: Backend>(
        conn: &mut Conn<C>,
        hook: impl Entry,
        args: Option<Box<[String]>>,
    ) -> Result<(), Error> {
        match args {
            None => conn.enqueue_sync(hook),
            Some(args) => conn.enqueue_sync(Described::new(hook, args)),
        }
    }

    /// `enqueue!(conn => CALL.await)`: defers inside a transaction, awaits now outside one.
    pub async fn enqueue_async<C: Backend>(
        conn: &mut Conn<C>,
        hook: impl Entry,
        args: Option<Box<[String]>>,
    ) -> Result<(), Error> {
        match args {
            None => conn.enqueue_async(hook).await,
            Some(args) => conn.enqueue_async(Described::new(hook, args)).await,
        }
    }

    /// `enqueue!(outbox => JOB)` and `enqueue!(conn => outbox => JOB)`: [`Conn::enqueue_job`].
    #[cfg(feature = "outbox")]
    #[inline(always)]
    pub fn enqueue_job<C: Backend, J: crate::outbox::Job>(
        conn: &mut Conn<C>,
        job: &J,
    ) -> Result<uuid::Uuid, Error> {
        conn.enqueue_job(job)
    }

    /// Without the `outbox` feature, `enqueue!(outbox => JOB)` fails here, on
    /// [`OutboxFeature`]'s message (no type implements it).
    #[cfg(not(feature = "outbox"))]
    pub fn enqueue_job<C: Backend, J: OutboxFeature + ?Sized>(
        _conn: &mut Conn<C>,
        _job: &J,
    ) -> Result<(), Error> {
        Ok(())
    }

    /// Implemented by no type: the bound that makes `enqueue!(outbox => JOB)` without the
    /// `outbox` feature an error that names the feature.
    #[cfg(not(feature = "outbox"))]
    #[diagnostic::on_unimplemented(
        message = "`enqueue!(outbox => ..)` writes a durable job, which needs the `outbox` feature of `oncommit`",
        label = "a durable job needs the `outbox` feature",
        note = "enable it in Cargo.toml: `oncommit = {{ version = \"..\", features = [\"outbox\"] }}`"
    )]
    pub trait OutboxFeature {}

    /// What `enqueue!(outbox => JOB)` stands for in an item that has errors (which never
    /// runs): a message id.
    #[cfg(feature = "outbox")]
    #[inline(always)]
    pub fn inert_message_id() -> uuid::Uuid {
        uuid::Uuid::nil()
    }

    /// What `enqueue!(outbox => JOB)` stands for in an item that has errors, without the
    /// `outbox` feature.
    #[cfg(not(feature = "outbox"))]
    #[inline(always)]
    pub fn inert_message_id() {}

    /// Runs the body of a sync `#[atomic]` fn. The body is a closure so that `?` and `return`
    /// keep their meaning; the explicit `R` gives the closure the fn's return type up front.
    #[inline(always)]
    pub fn body<R, F: FnOnce() -> R>(body: F) -> R {
        body()
    }

    /// Gives the async block of an async `#[atomic]` fn the fn's return type up front, so
    /// `?` inside it infers its error type.
    #[inline(always)]
    pub fn body_async<R, F: Future<Output = R>>(body: F) -> F {
        body
    }

    /// `enqueue!` clones a receiver that is a place (`mailer`, `self.mailer`, `users[0]`) into
    /// the hook. Called as a method so that autoderef turns `&T` into `T`; the where-clause
    /// (not checked while the method is looked up) makes a missing `Clone` an error that
    /// says so, instead of silently capturing the reference.
    pub trait CaptureReceiver {
        /// A clone of the receiver, for the hook.
        fn __oncommit_capture(&self) -> Self
        where
            Self: Sized + CloneReceiver;
    }

    impl<T: ?Sized> CaptureReceiver for T {
        #[inline(always)]
        fn __oncommit_capture(&self) -> Self
        where
            Self: Sized + CloneReceiver,
        {
            CloneReceiver::__oncommit_clone(self)
        }
    }

    /// [`CaptureReceiver`] for a receiver that is a `&mut T` place (`m` in `for m in
    /// mailers.iter_mut()`, or `self` in a `&mut self` method): method lookup takes the
    /// `&mut T` as it is (a `&mut self` method of `T`) before it would autoref it into
    /// `&&mut T`, so the hook gets a clone of the `T`, not of the reference (which is not
    /// `Clone`). A `&T` or an owned place never reaches this trait: [`CaptureReceiver`]'s
    /// `&self` matches them first.
    pub trait CaptureMutReceiver {
        /// A clone of the receiver, for the hook.
        fn __oncommit_capture(&mut self) -> Self
        where
            Self: Sized + CloneReceiver;
    }

    impl<T: ?Sized> CaptureMutReceiver for T {
        #[inline(always)]
        fn __oncommit_capture(&mut self) -> Self
        where
            Self: Sized + CloneReceiver,
        {
            CloneReceiver::__oncommit_clone(self)
        }
    }

    /// `Clone`, with an error message that explains why `enqueue!` needs it.
    #[diagnostic::on_unimplemented(
        message = "`enqueue!` captures the receiver of the call by cloning it, but `{Self}` does not implement `Clone`",
        label = "this receiver is cloned into the after-commit hook",
        note = "derive or implement `Clone` for `{Self}`, share it as `Arc<{Self}>`, or move an owned value in with a path call: `enqueue!(Type::method(value, ..))`"
    )]
    pub trait CloneReceiver {
        /// `Clone::clone`.
        fn __oncommit_clone(&self) -> Self;
    }

    impl<T: Clone> CloneReceiver for T {
        #[inline(always)]
        fn __oncommit_clone(&self) -> Self {
            self.clone()
        }
    }

    /// Converts a BEGIN failure into the error type of the `#[atomic]` fn.
    #[inline(always)]
    pub fn begin_failed<E: AtomicError>(error: Error) -> E {
        E::__oncommit_from(error)
    }

    /// `From<oncommit::Error>`, with an error message that says why `#[atomic]` needs it.
    #[diagnostic::on_unimplemented(
        message = "the error type of an #[atomic] fn must implement `From<oncommit::Error>`, and `{Self}` does not",
        label = "BEGIN, COMMIT and after-commit hooks can fail with `oncommit::Error`",
        note = "add `impl From<oncommit::Error> for {Self}` (or a `#[from] oncommit::Error` variant), or return `Result<_, oncommit::Error>`"
    )]
    pub trait AtomicError: Sized {
        /// `From::from`.
        fn __oncommit_from(error: Error) -> Self;
    }

    impl<E: From<Error>> AtomicError for E {
        #[inline(always)]
        fn __oncommit_from(error: Error) -> Self {
            E::from(error)
        }
    }

    /// [`finish`] for `#[atomic]`: `convert` is the fn's [`begin_failed`], so the error type
    /// is checked once (one error message at the return type when `From<oncommit::Error>`
    /// is missing).
    #[inline]
    pub fn finish_atomic<C: SyncBackend, T, E>(
        conn: &mut Conn<C>,
        level: Level,
        result: Result<T, E>,
        convert: fn(Error) -> E,
    ) -> Result<T, E> {
        conn.finish_sync(level, result.map_err(Failure::Body))
            .map_err(|failure| failure.into_error(convert))
    }

    /// [`finish_async`] for `#[atomic]`, like [`finish_atomic`].
    #[inline]
    pub async fn finish_atomic_async<C: AsyncBackend, T, E>(
        conn: &mut Conn<C>,
        level: Level,
        result: Result<T, E>,
        convert: fn(Error) -> E,
    ) -> Result<T, E> {
        conn.finish_async(level, result.map_err(Failure::Body))
            .await
            .map_err(|failure| failure.into_error(convert))
    }

    /// The body's own error, or oncommit's (converted after the fact).
    enum Failure<E> {
        Body(E),
        Oncommit(Error),
    }

    impl<E> From<Error> for Failure<E> {
        fn from(error: Error) -> Self {
            Failure::Oncommit(error)
        }
    }

    impl<E> Failure<E> {
        fn into_error(self, convert: fn(Error) -> E) -> E {
            match self {
                Failure::Body(e) => e,
                Failure::Oncommit(error) => convert(error),
            }
        }
    }

    /// Each value `enqueue!` captures passes through here, at its own span: a value that
    /// cannot go into a hook is reported on the argument, not on the generated closure.
    #[inline(always)]
    pub fn captured<T: HookValue>(value: T) -> T {
        value
    }

    /// `Send + 'static`: what a value moved into an after-commit hook must be.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be moved into an after-commit hook: captured values must be `Send` (hooks may run on another thread)",
        label = "this value is moved into the hook",
        note = "capture a `Send` value instead (e.g. `Arc` instead of `Rc`, an owned `String` instead of a guard or a cell)"
    )]
    pub trait HookValue: Send + 'static {}

    impl<T: Send + 'static> HookValue for T {}

    /// What an `#[atomic]` fn may return: `Result<T, E>` (spelled any way, through aliases).
    /// The generated code goes through this trait, so a return type that is not a `Result`
    /// is one error at the return type.
    #[diagnostic::on_unimplemented(
        message = "an #[atomic] fn must return `Result<T, E>`, and `{Self}` is not a `Result`",
        label = "COMMIT, ROLLBACK and after-commit hooks can fail: return `Result<_, E>` with `E: From<oncommit::Error>`"
    )]
    pub trait AtomicReturn: Sized {
        /// `T`.
        type Ok;
        /// `E`.
        type Err;
        /// The value as a `Result`.
        fn __oncommit_into(self) -> Result<Self::Ok, Self::Err>;
        /// The `Result` as the value.
        fn __oncommit_from(result: Result<Self::Ok, Self::Err>) -> Self;
    }

    impl<T, E> AtomicReturn for Result<T, E> {
        type Ok = T;
        type Err = E;

        #[inline(always)]
        fn __oncommit_into(self) -> Result<T, E> {
            self
        }

        #[inline(always)]
        fn __oncommit_from(result: Result<T, E>) -> Self {
            result
        }
    }

    /// The connection of an `#[atomic]` fn whose parameter is not spelled `&mut Conn<..>`
    /// (a type alias, `use oncommit::Conn as Tx`): the macro took its one `&mut` parameter
    /// (or the one named `conn`, `db` or `tx`), and every use of it goes through here, so a
    /// type that is not a `Conn` is one error, on [`AtomicConn`]'s message, at the
    /// parameter's type.
    #[inline(always)]
    pub fn atomic_conn<T: AtomicConn + ?Sized>(conn: &mut T) -> &mut Conn<T::Backend> {
        conn.__oncommit_as_conn()
    }

    /// Implemented by `Conn<C>` only: what the `&mut` parameter [`atomic_conn`] takes must
    /// be.
    #[diagnostic::on_unimplemented(
        message = "#[atomic] runs its transaction on the parameter of type `&mut {Self}`, and `{Self}` is not an `oncommit::Conn`",
        label = "#[atomic] took this parameter for the connection, and needs a `&mut Conn<C>` here",
        note = "no parameter is spelled `&mut Conn<..>`, so #[atomic] took the only `&mut` one (or the one named `conn`, `db` or `tx`); a type alias of `Conn<C>` is fine here",
        note = "if the connection is somewhere else, name it with `#[atomic(conn = EXPR)]`, e.g. `#[atomic(conn = self.db)]`"
    )]
    pub trait AtomicConn {
        /// The `C` of `Conn<C>`.
        type Backend;
        /// The `Conn` itself.
        fn __oncommit_as_conn(&mut self) -> &mut Conn<Self::Backend>;
    }

    impl<C> AtomicConn for Conn<C> {
        type Backend = C;

        #[inline(always)]
        fn __oncommit_as_conn(&mut self) -> &mut Conn<C> {
            self
        }
    }

    /// `#[atomic(conn = EXPR)]`: `EXPR.__oncommit_conn()` reaches the `Conn` through
    /// autoderef, whether `EXPR` is a `Conn` (`self.db`) or a `&mut Conn` (`db`). Implemented
    /// for every type, so that a place that is not a `Conn` fails on [`IsConn`]'s message.
    pub trait ConnPlace {
        /// The `Conn` itself.
        fn __oncommit_conn<C>(&mut self) -> &mut Conn<C>
        where
            Self: IsConn<C>;
    }

    impl<T: ?Sized> ConnPlace for T {
        #[inline(always)]
        fn __oncommit_conn<C>(&mut self) -> &mut Conn<C>
        where
            Self: IsConn<C>,
        {
            IsConn::__oncommit_as_conn(self)
        }
    }

    /// Implemented by `Conn<C>` only.
    #[diagnostic::on_unimplemented(
        message = "`#[atomic(conn = ...)]` must name a `Conn<_>` or a `&mut Conn<_>`, not `{Self}`",
        label = "this is not an `oncommit::Conn`"
    )]
    pub trait IsConn<C> {
        /// The `Conn` itself.
        fn __oncommit_as_conn(&mut self) -> &mut Conn<C>;
    }

    impl<C> IsConn<C> for Conn<C> {
        #[inline(always)]
        fn __oncommit_as_conn(&mut self) -> &mut Conn<C> {
            self
        }
    }
}
