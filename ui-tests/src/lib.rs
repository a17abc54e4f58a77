//! trybuild cases live in `ui/` (`ui/pass/*.rs` compile and run, `ui/fail/*.rs` fail with
//! their `.stderr`); the driver is `tests/ui.rs`. This library holds what the pass cases
//! share: a [`Log`] that hooks write into, an error type, and a tiny runtime entry point.
//!
//! It also uses `#[atomic]` and `enqueue!` itself (module [`usage`]), so that
//! `cargo clippy -p oncommit-ui-tests` lints the code the macros expand to.
//!
//! ```
//! use oncommit_ui_tests::Log;
//! let log = Log::new();
//! log.send("hello".to_owned());
//! assert_eq!(log.entries(), ["hello"]);
//! ```

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};

/// What the hooks saw, in the order they ran. Clones share the same entries.
///
/// ```
/// let log = oncommit_ui_tests::Log::new();
/// let clone = log.clone();
/// clone.send("a".to_owned());
/// assert_eq!(log.entries(), ["a"]);
/// ```
#[derive(Clone, Default)]
pub struct Log {
    entries: Arc<Mutex<Vec<String>>>,
}

impl fmt::Debug for Log {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.entries()).finish()
    }
}

impl Log {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every entry so far, oldest first.
    pub fn entries(&self) -> Vec<String> {
        self.lock().clone()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A sync hook body that cannot fail: records `what`.
    pub fn send(&self, what: String) {
        self.lock().push(what);
    }

    /// A sync hook body that fails (without recording) when `what` starts with `fail`.
    ///
    /// ```
    /// let log = oncommit_ui_tests::Log::new();
    /// assert!(log.try_send("fail!".to_owned()).is_err());
    /// assert_eq!(log.try_send("ok".to_owned()), Ok(7));
    /// ```
    pub fn try_send(&self, what: String) -> Result<u64, QueueError> {
        if what.starts_with("fail") {
            return Err(QueueError(what));
        }
        self.lock().push(what);
        Ok(7)
    }

    /// An async hook body: like [`try_send`](Log::try_send), after a yield.
    ///
    /// ```
    /// let log = oncommit_ui_tests::Log::new();
    /// oncommit_ui_tests::block_on(log.push("job".to_owned())).unwrap();
    /// assert_eq!(log.entries(), ["job"]);
    /// ```
    pub async fn push(&self, what: String) -> Result<u64, QueueError> {
        tokio::task::yield_now().await;
        self.try_send(what)
    }
}

/// The error of [`Log::try_send`] and [`Log::push`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueError(pub String);

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "queue rejected `{}`", self.0)
    }
}

impl std::error::Error for QueueError {}

/// An application error with the `From<oncommit::Error>` that `#[atomic]` needs.
///
/// ```
/// let e = oncommit_ui_tests::AppError::Invalid("empty email".to_owned());
/// assert_eq!(e.to_string(), "invalid: empty email");
/// ```
#[derive(Debug)]
pub enum AppError {
    /// A transaction or hook failure.
    Db(oncommit::Error),
    /// A validation failure of the body.
    Invalid(String),
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Db(e) => write!(f, "database: {e}"),
            AppError::Invalid(why) => write!(f, "invalid: {why}"),
        }
    }
}

impl std::error::Error for AppError {}

impl From<oncommit::Error> for AppError {
    fn from(e: oncommit::Error) -> Self {
        AppError::Db(e)
    }
}

/// Runs a future to completion on a current-thread tokio runtime.
///
/// ```
/// assert_eq!(oncommit_ui_tests::block_on(async { 1 + 1 }), 2);
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
        .block_on(future)
}

pub mod usage;
