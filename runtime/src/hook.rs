//! A hook: a call waiting for COMMIT, with the place it was registered.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, Location};
use std::pin::Pin;

use futures_util::FutureExt;

use crate::BoxError;

/// A boxed, `Send` future: what an async hook becomes when it runs.
pub(crate) type BoxFuture = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + 'static>>;

/// Where a hook was registered: a source location, plus the call's source text when the hook
/// came from `enqueue!`.
///
/// ```
/// use oncommit::{Conn, memory::Memory};
///
/// let mut conn = Conn::new(Memory::new());
/// let (_, captured) = oncommit::testing::capture(&mut conn, |conn| {
///     conn.atomic(|conn| {
///         conn.on_commit(|| ())?;
///         Ok::<_, oncommit::Error>(())
///     })
/// });
/// let site = captured.hooks()[0].site();
/// assert_eq!(site.call(), None); // closures have no source text
/// assert_eq!(site.file(), file!());
/// ```
#[derive(Clone, Copy)]
pub struct HookSite(SiteRepr);

#[derive(Clone, Copy)]
enum SiteRepr {
    Macro(&'static StaticSite),
    Caller(&'static Location<'static>),
}

/// The site data `enqueue!` emits as a constant.
#[doc(hidden)]
#[derive(Debug)]
pub struct StaticSite {
    /// The call's source text, as written inside `enqueue!`.
    pub call: &'static str,
    /// Where the `enqueue!` is.
    pub location: &'static Location<'static>,
}

impl HookSite {
    pub(crate) fn from_static(site: &'static StaticSite) -> Self {
        HookSite(SiteRepr::Macro(site))
    }

    pub(crate) fn from_location(location: &'static Location<'static>) -> Self {
        HookSite(SiteRepr::Caller(location))
    }

    /// The same registration site (the same static site data).
    #[inline]
    pub(crate) fn same(self, other: HookSite) -> bool {
        match (self.0, other.0) {
            (SiteRepr::Macro(a), SiteRepr::Macro(b)) => std::ptr::eq(a, b),
            (SiteRepr::Caller(a), SiteRepr::Caller(b)) => std::ptr::eq(a, b),
            _ => false,
        }
    }

    pub(crate) fn location(&self) -> &'static Location<'static> {
        match self.0 {
            SiteRepr::Macro(site) => site.location,
            SiteRepr::Caller(location) => location,
        }
    }

    /// The source text of the enqueued call (`mailer.send(id)`), when `enqueue!` registered it.
    pub fn call(&self) -> Option<&'static str> {
        match self.0 {
            SiteRepr::Macro(site) => Some(site.call),
            SiteRepr::Caller(_) => None,
        }
    }

    /// The source file of the registration.
    pub fn file(&self) -> &'static str {
        self.location().file()
    }

    /// The line of the registration.
    pub fn line(&self) -> u32 {
        self.location().line()
    }

    /// The column of the registration.
    pub fn column(&self) -> u32 {
        self.location().column()
    }
}

impl fmt::Display for HookSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.call() {
            Some(call) => write!(f, "`{call}` at {}", self.location()),
            None => write!(f, "at {}", self.location()),
        }
    }
}

impl fmt::Debug for HookSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookSite")
            .field("call", &self.call())
            .field("location", self.location())
            .finish()
    }
}

/// What an enqueued call may return: `()`, or `Result<_, E>` with `E` convertible into a boxed
/// error. An `Err` is a hook failure.
#[diagnostic::on_unimplemented(
    message = "an after-commit hook must return `()` or `Result<_, E>`, not `{Self}`",
    label = "this call returns `{Self}`",
    note = "wrap the call so it returns `()` or a `Result` whose error converts into `Box<dyn Error + Send + Sync>`"
)]
pub trait IntoHookResult {
    /// `Ok(())` for success, the boxed error for failure.
    fn into_hook_result(self) -> Result<(), BoxError>;
}

impl IntoHookResult for () {
    fn into_hook_result(self) -> Result<(), BoxError> {
        Ok(())
    }
}

impl<T, E: Into<BoxError>> IntoHookResult for Result<T, E> {
    fn into_hook_result(self) -> Result<(), BoxError> {
        self.map(drop).map_err(Into::into)
    }
}

/// What running a hook gives: a result at once (sync hooks) or a future (async hooks).
#[doc(hidden)]
pub enum Outcome {
    Ready(Result<(), BoxError>),
    Pending(BoxFuture),
}

impl Outcome {
    /// Awaits the outcome, turning a panic inside an async hook into a failure.
    pub(crate) async fn resolve(self) -> Result<(), BoxError> {
        match self {
            Outcome::Ready(result) => result,
            Outcome::Pending(future) => match AssertUnwindSafe(future).catch_unwind().await {
                Ok(result) => result,
                Err(payload) => Err(Box::new(HookPanicked::from_payload(payload))),
            },
        }
    }
}

/// A pending hook of one concrete type. The hook stack stores only its [`Call`](Entry::Call)
/// (the closure with its captured values), unboxed, in a column of its type; the site and the
/// robust flag are kept once per run of consecutive hooks that share them (see `stack.rs`).
/// [`Hook`] itself is one too (a boxed entry of any type, unboxed when it is stored).
#[doc(hidden)]
pub trait Entry: Send + 'static {
    /// What a column stores for one hook.
    type Call: Send + 'static;

    /// Where the hook was registered.
    fn site(&self) -> HookSite;
    /// True for a robust hook.
    fn is_robust(&self) -> bool;
    /// True for a hook whose call ends in `.await`.
    fn is_async(&self) -> bool;
    /// The `Debug` text of the call's arguments, when it was recorded.
    #[inline]
    fn args(&self) -> Option<&[String]> {
        None
    }
    /// The hook's site, robust flag and call.
    fn split(self) -> (HookSite, bool, Self::Call);
    /// The hook back from its parts.
    fn join(site: HookSite, robust: bool, call: Self::Call) -> Self;
    /// Runs a call (a sync hook to completion; an async one up to its future).
    fn run_call(call: Self::Call) -> Outcome;

    /// True when every hook of this type is sync (its run is never `Outcome::Pending`).
    #[inline]
    fn always_sync() -> bool
    where
        Self: Sized,
    {
        false
    }

    /// Runs the hook.
    #[inline]
    fn run(self) -> Outcome
    where
        Self: Sized,
    {
        Self::run_call(self.split().2)
    }

    /// The hook as a standalone, type-erased [`Hook`].
    fn into_hook(self) -> Hook
    where
        Self: Sized,
    {
        Hook {
            body: Box::new(self),
        }
    }
}

/// The object-safe face of an [`Entry`], for [`Hook`]'s box.
trait Pending: Send {
    fn site(&self) -> HookSite;
    fn is_robust(&self) -> bool;
    fn is_async(&self) -> bool;
    fn args(&self) -> Option<&[String]>;
    fn run(self: Box<Self>) -> Outcome;
}

impl<E: Entry> Pending for E {
    fn site(&self) -> HookSite {
        Entry::site(self)
    }

    fn is_robust(&self) -> bool {
        Entry::is_robust(self)
    }

    fn is_async(&self) -> bool {
        Entry::is_async(self)
    }

    fn args(&self) -> Option<&[String]> {
        Entry::args(self)
    }

    fn run(self: Box<Self>) -> Outcome {
        Entry::run(*self)
    }
}

/// A sync hook: the call with its captured values, its site and whether it is robust.
#[doc(hidden)]
pub struct SyncHook<F> {
    site: HookSite,
    robust: bool,
    call: F,
}

impl<F, R> SyncHook<F>
where
    F: FnOnce() -> R + Send + 'static,
    R: IntoHookResult,
{
    pub(crate) fn new(site: HookSite, robust: bool, call: F) -> Self {
        SyncHook { site, robust, call }
    }
}

impl<F, R> Entry for SyncHook<F>
where
    F: FnOnce() -> R + Send + 'static,
    R: IntoHookResult,
{
    type Call = F;

    #[inline]
    fn site(&self) -> HookSite {
        self.site
    }

    #[inline]
    fn is_robust(&self) -> bool {
        self.robust
    }

    #[inline]
    fn is_async(&self) -> bool {
        false
    }

    #[inline]
    fn split(self) -> (HookSite, bool, F) {
        (self.site, self.robust, self.call)
    }

    #[inline]
    fn join(site: HookSite, robust: bool, call: F) -> Self {
        SyncHook { site, robust, call }
    }

    #[inline]
    fn always_sync() -> bool {
        true
    }

    #[inline]
    fn run_call(call: F) -> Outcome {
        Outcome::Ready(match std::panic::catch_unwind(AssertUnwindSafe(call)) {
            Ok(value) => value.into_hook_result(),
            Err(payload) => Err(Box::new(HookPanicked::from_payload(payload))),
        })
    }
}

/// An async hook: `call` makes the future when the hook runs.
#[doc(hidden)]
pub struct AsyncHook<F> {
    site: HookSite,
    robust: bool,
    call: F,
}

impl<F, Fut> AsyncHook<F>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoHookResult,
{
    pub(crate) fn new(site: HookSite, robust: bool, call: F) -> Self {
        AsyncHook { site, robust, call }
    }
}

impl<F, Fut> Entry for AsyncHook<F>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoHookResult,
{
    type Call = F;

    fn site(&self) -> HookSite {
        self.site
    }

    fn is_robust(&self) -> bool {
        self.robust
    }

    fn is_async(&self) -> bool {
        true
    }

    fn split(self) -> (HookSite, bool, F) {
        (self.site, self.robust, self.call)
    }

    fn join(site: HookSite, robust: bool, call: F) -> Self {
        AsyncHook { site, robust, call }
    }

    fn run_call(call: F) -> Outcome {
        match std::panic::catch_unwind(AssertUnwindSafe(call)) {
            Ok(future) => Outcome::Pending(Box::pin(future.map(IntoHookResult::into_hook_result))),
            Err(payload) => Outcome::Ready(Err(Box::new(HookPanicked::from_payload(payload)))),
        }
    }
}

/// A call deferred until COMMIT: its captured values, its site and whether it is robust.
///
/// Hooks are made by `enqueue!` and by [`Conn::on_commit`](crate::Conn::on_commit) and its
/// siblings; [`testing::capture`](crate::testing::capture) hands them back for inspection.
pub struct Hook {
    body: Box<dyn Pending>,
}

impl Hook {
    /// A synchronous hook.
    #[cfg(test)]
    pub(crate) fn sync<F, R>(site: HookSite, robust: bool, call: F) -> Self
    where
        F: FnOnce() -> R + Send + 'static,
        R: IntoHookResult,
    {
        SyncHook::new(site, robust, call).into_hook()
    }

    /// Where the hook was registered.
    pub fn site(&self) -> HookSite {
        self.body.site()
    }

    /// True for a robust hook: its failure is logged, never returned.
    pub fn is_robust(&self) -> bool {
        self.body.is_robust()
    }

    /// True for a hook that must be awaited (its call ended in `.await`).
    pub fn is_async(&self) -> bool {
        self.body.is_async()
    }

    /// The `Debug` text of each argument of the enqueued call (`["42", "\"a@example.com\""]`
    /// for `mailer.send(42, email)`; `<TYPE>` for an argument without `Debug`), recorded
    /// when `enqueue!` ran while a [`testing::Capture`](crate::testing::Capture) was open;
    /// `None` otherwise and for closures. The receiver is not an argument.
    ///
    /// ```
    /// use oncommit::{Conn, Error, atomic, enqueue, memory::Memory, testing};
    ///
    /// fn send_welcome(user_id: u64, email: String) {}
    ///
    /// #[atomic]
    /// fn sign_up(conn: &mut Conn<Memory>, user_id: u64, email: &str) -> Result<(), Error> {
    ///     enqueue!(send_welcome(user_id, email.to_owned()));
    ///     Ok(())
    /// }
    ///
    /// let mut conn = Conn::new(Memory::new());
    /// let (result, captured) = testing::capture(&mut conn, |conn| sign_up(conn, 7, "a@example.com"));
    /// result?;
    /// let args = captured.hooks()[0].args().unwrap();
    /// assert_eq!(args, ["7", "\"a@example.com\""]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn args(&self) -> Option<&[String]> {
        self.body.args()
    }

    pub(crate) fn run(self) -> Outcome {
        self.body.run()
    }
}

impl Entry for Hook {
    type Call = Hook;

    fn site(&self) -> HookSite {
        Hook::site(self)
    }

    fn is_robust(&self) -> bool {
        Hook::is_robust(self)
    }

    fn is_async(&self) -> bool {
        Hook::is_async(self)
    }

    fn args(&self) -> Option<&[String]> {
        Hook::args(self)
    }

    fn split(self) -> (HookSite, bool, Hook) {
        (self.site(), self.is_robust(), self)
    }

    fn join(_site: HookSite, _robust: bool, hook: Hook) -> Self {
        hook
    }

    fn run_call(hook: Hook) -> Outcome {
        hook.body.run()
    }

    fn into_hook(self) -> Hook {
        self
    }
}

impl fmt::Debug for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hook")
            .field("site", &self.site())
            .field("robust", &self.is_robust())
            .field("async", &self.is_async())
            .field("args", &self.args())
            .finish()
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
