//! Helpers for your own tests: see which hooks a piece of code registers, without running
//! them (Django's `captureOnCommitCallbacks`).

use std::sync::Arc;

use crate::Conn;
use crate::backend::Backend;
use crate::capture::{CaptureBuf, CaptureMark};
use crate::error::Error;
use crate::hook::Hook;
use crate::run::{run_async, run_sync};

/// The hooks captured by [`capture`] or [`capture_async`], in the order they would have run.
#[derive(Debug, Default)]
#[must_use = "captured hooks do nothing unless you inspect or run them"]
pub struct Captured {
    hooks: Vec<Hook>,
}

impl Captured {
    /// The captured hooks.
    pub fn hooks(&self) -> &[Hook] {
        &self.hooks
    }

    /// How many hooks were captured.
    pub fn len(&self) -> usize {
        self.hooks.len()
    }

    /// True when no hook was captured.
    pub fn is_empty(&self) -> bool {
        self.hooks.is_empty()
    }

    /// The source text of each hook's call (`None` for hooks registered with a closure).
    pub fn calls(&self) -> Vec<Option<&'static str>> {
        self.hooks.iter().map(|h| h.site().call()).collect()
    }

    /// Runs the hooks now, in order, as a COMMIT would (sync hooks only; an async hook
    /// fails). Failures come back as one [`Error`] after all ran.
    pub fn run(self) -> Result<(), Error> {
        run_sync(self.hooks)
    }

    /// Runs the hooks now, in order, awaiting async ones.
    pub async fn run_async(self) -> Result<(), Error> {
        run_async(self.hooks).await
    }
}

/// A capture started on a `Conn` without borrowing it, for code that owns its `Conn` (a
/// repository with a `conn` field, where `capture(&mut repo.conn, |_| repo.sign_up(..))`
/// would borrow `repo` twice): [`start`](Capture::start), call the code, then
/// [`finish`](Capture::finish) on the same `Conn`. Same rules as [`capture`]. Dropped without
/// `finish` (a panic), the `Conn` stops capturing and runs hooks again.
///
/// ```
/// use oncommit::{Conn, Error, memory::Memory, testing::Capture};
///
/// struct Users {
///     conn: Conn<Memory>,
/// }
///
/// impl Users {
///     fn sign_up(&mut self, email: &str) -> Result<(), Error> {
///         let email = email.to_owned();
///         self.conn.atomic(|conn| conn.on_commit(move || println!("welcome {email}")))
///     }
/// }
///
/// let mut users = Users { conn: Conn::new(Memory::new()) };
/// let capture = Capture::start(&mut users.conn);
/// users.sign_up("a@example.com")?;
/// let captured = capture.finish(&mut users.conn);
/// assert_eq!(captured.len(), 1);
/// # Ok::<(), Error>(())
/// ```
#[must_use = "finish the capture to get the hooks, or they stay captured"]
pub struct Capture {
    buffer: Arc<CaptureBuf>,
    mark: CaptureMark,
}

impl Capture {
    /// Starts capturing the hooks that would run on `conn`.
    pub fn start<C>(conn: &mut Conn<C>) -> Capture {
        let buffer = Arc::new(CaptureBuf::open());
        let mark = conn.push_capture(buffer.clone());
        Capture { buffer, mark }
    }

    /// Stops capturing: the hooks that would have run since [`start`](Capture::start), then
    /// the ones registered since that wait for the COMMIT of a transaction open before it
    /// (taken out of it). `conn` must be the `Conn` the capture started on.
    pub fn finish<C>(self, conn: &mut Conn<C>) -> Captured {
        self.buffer.close();
        conn.pop_closed_captures();
        let mut hooks = self.buffer.take();
        hooks.extend(conn.take_pending_since(self.mark));
        Captured { hooks }
    }
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture").finish_non_exhaustive()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.buffer.close();
    }
}

/// Runs `body` on `conn`, and returns what it returned together with the hooks that would
/// have run during it (after a COMMIT inside `body`, or at once outside a transaction),
/// instead of running them.
///
/// Inside a transaction that was already open (a test that wraps everything in one
/// transaction it never commits, as Django's `TestCase` does), the hooks `body` registers
/// wait for that transaction's COMMIT: they are taken out of it and returned too, after the
/// others, so they will not run at that COMMIT. Hooks of savepoints `body` rolled back are
/// gone, as they would be. If `body` panics, or returns with a level it opened still open,
/// its pending hooks stay where they are.
///
/// ```
/// use oncommit::{Conn, Error, memory::Memory, testing};
///
/// fn sign_up(conn: &mut Conn<Memory>, email: &str) -> Result<(), Error> {
///     conn.atomic(|conn| {
///         let email = email.to_owned();
///         conn.on_commit(move || println!("welcome {email}"))
///     })
/// }
///
/// let mut conn = Conn::new(Memory::new());
/// let (result, captured) = testing::capture(&mut conn, |conn| sign_up(conn, "a@example.com"));
/// result?;
/// assert_eq!(captured.len(), 1);
/// captured.run()?; // prints "welcome a@example.com"
///
/// // Inside a test's own transaction: the hooks come out of it.
/// conn.atomic(|conn| {
///     let (result, captured) = testing::capture(conn, |conn| sign_up(conn, "b@example.com"));
///     result?;
///     assert_eq!(captured.len(), 1);
///     assert_eq!(conn.pending_hooks(), 0);
///     Ok::<_, Error>(())
/// })?;
/// # Ok::<(), Error>(())
/// ```
pub fn capture<C: Backend, T>(
    conn: &mut Conn<C>,
    body: impl FnOnce(&mut Conn<C>) -> T,
) -> (T, Captured) {
    let capture = Capture::start(conn);
    let value = body(conn);
    (value, capture.finish(conn))
}

/// The async form of [`capture`].
pub async fn capture_async<C: Backend, T>(
    conn: &mut Conn<C>,
    body: impl AsyncFnOnce(&mut Conn<C>) -> T,
) -> (T, Captured) {
    let capture = Capture::start(conn);
    let value = body(conn).await;
    (value, capture.finish(conn))
}
