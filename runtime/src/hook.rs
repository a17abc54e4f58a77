//! A hook: a call waiting for COMMIT, with the place it was registered.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, Location};
use std::pin::Pin;

use futures_util::FutureExt;

use crate::error::{BoxError, HookPanicked};

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

    fn location(&self) -> &'static Location<'static> {
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
pub(crate) enum Outcome {
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

/// A pending hook of one concrete type: what the hook stack stores, unboxed, in a column
/// of its type (see `stack.rs`). [`Hook`] itself is one too (a boxed entry of any type).
pub(crate) trait Entry: Send + 'static {
    /// Where the hook was registered.
    fn site(&self) -> HookSite;
    /// True for a robust hook.
    fn is_robust(&self) -> bool;
    /// True for a hook whose call ends in `.await`.
    fn is_async(&self) -> bool;
    /// Runs the hook (a sync hook to completion; an async one up to its future).
    fn run(self) -> Outcome;
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

    fn run(self: Box<Self>) -> Outcome {
        Entry::run(*self)
    }
}

/// A sync hook: the call with its captured values, its site and whether it is robust.
pub(crate) struct SyncHook<F> {
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
    fn run(self) -> Outcome {
        Outcome::Ready(
            match std::panic::catch_unwind(AssertUnwindSafe(self.call)) {
                Ok(value) => value.into_hook_result(),
                Err(payload) => Err(Box::new(HookPanicked::from_payload(payload))),
            },
        )
    }
}

/// An async hook: `call` makes the future when the hook runs.
pub(crate) struct AsyncHook<F> {
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
    fn site(&self) -> HookSite {
        self.site
    }

    fn is_robust(&self) -> bool {
        self.robust
    }

    fn is_async(&self) -> bool {
        true
    }

    fn run(self) -> Outcome {
        match std::panic::catch_unwind(AssertUnwindSafe(self.call)) {
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
    pub(crate) fn sync<F, R>(site: HookSite, robust: bool, call: F) -> Self
    where
        F: FnOnce() -> R + Send + 'static,
        R: IntoHookResult,
    {
        SyncHook::new(site, robust, call).into_hook()
    }

    /// An asynchronous hook: `call` makes the future when the hook runs.
    pub(crate) fn future<F, Fut>(site: HookSite, robust: bool, call: F) -> Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoHookResult,
    {
        AsyncHook::new(site, robust, call).into_hook()
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

    pub(crate) fn run(self) -> Outcome {
        self.body.run()
    }
}

impl Entry for Hook {
    fn site(&self) -> HookSite {
        Hook::site(self)
    }

    fn is_robust(&self) -> bool {
        Hook::is_robust(self)
    }

    fn is_async(&self) -> bool {
        Hook::is_async(self)
    }

    fn run(self) -> Outcome {
        Hook::run(self)
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
            .finish()
    }
}
