//! The entry points `#[atomic]` and `enqueue!` expand into. Not public API: the module is
//! versioned so that a macro crate and a runtime crate that do not match fail to compile
//! with a path error instead of misbehaving.

#[doc(hidden)]
pub mod v1 {
    use std::future::Future;

    pub use crate::hook::{IntoHookResult, StaticSite};
    pub use crate::level::Level;
    pub use ::core::panic::Location;

    use crate::backend::{AsyncBackend, Backend, SyncBackend};
    use crate::hook::{Hook, HookSite};
    use crate::{Conn, Error};

    /// Opens a level on a sync connection.
    pub fn begin<C: SyncBackend>(conn: &mut Conn<C>, durable: bool) -> Result<Level, Error> {
        conn.begin_sync(durable)
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
        conn.begin_async(durable).await
    }

    /// The async form of [`finish`].
    pub async fn finish_async<C: AsyncBackend, T, E: From<Error>>(
        conn: &mut Conn<C>,
        level: Level,
        result: Result<T, E>,
    ) -> Result<T, E> {
        conn.finish_async(level, result).await
    }

    /// A hook around a sync call whose values were already captured.
    pub fn sync_hook<F, R>(site: &'static StaticSite, robust: bool, call: F) -> Hook
    where
        F: FnOnce() -> R + Send + 'static,
        R: IntoHookResult,
    {
        Hook::sync(HookSite::from_static(site), robust, call)
    }

    /// A hook around an async call (`call` makes the future when the hook runs).
    pub fn async_hook<F, Fut>(site: &'static StaticSite, robust: bool, call: F) -> Hook
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoHookResult,
    {
        Hook::future(HookSite::from_static(site), robust, call)
    }

    /// `enqueue!(CALL)` inside an `#[atomic]` body: the block's level is open, so the hook
    /// always waits.
    pub fn defer<C: Backend>(conn: &mut Conn<C>, hook: Hook) {
        conn.defer(hook)
    }

    /// `enqueue!(conn => CALL)` with a sync call: defers inside a transaction, runs now
    /// outside one.
    pub fn enqueue<C: Backend>(conn: &mut Conn<C>, hook: Hook) -> Result<(), Error> {
        conn.enqueue_sync(hook)
    }

    /// `enqueue!(conn => CALL.await)`: defers inside a transaction, awaits now outside one.
    pub async fn enqueue_async<C: Backend>(conn: &mut Conn<C>, hook: Hook) -> Result<(), Error> {
        conn.enqueue_async(hook).await
    }
}
