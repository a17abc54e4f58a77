//! [`ServerWatch`]: what a backend sees of its server between statements (SQLite's commit and
//! rollback hooks), shared with the [`Conn`](crate::Conn) that opened the transaction.

use std::sync::atomic::{AtomicBool, Ordering};

/// Whether a transaction oncommit opened is open, and whether the server ended it on its own.
///
/// A backend whose server can end a transaction by itself and then run the body's later
/// statements in autocommit (SQLite after `INSERT OR ROLLBACK` or `RAISE(ROLLBACK)`) reports
/// to it from callbacks the server makes (see
/// [`AsyncBackend::watch_server`](crate::AsyncBackend::watch_server)). The `Conn` marks the
/// transaction open and finishing; the callbacks refuse commits it did not ask for and record
/// rollbacks it did not ask for.
///
/// ```
/// use oncommit::ServerWatch;
/// let watch = ServerWatch::default();
/// assert!(watch.allows_commit()); // no transaction of oncommit's is open
/// watch.rollback_seen(); // ignored outside one
/// ```
#[derive(Debug, Default)]
pub struct ServerWatch {
    open: AtomicBool,
    finishing: AtomicBool,
    rolled_back: AtomicBool,
}

impl ServerWatch {
    /// For a commit callback: `false` (turn the commit into a rollback) while a transaction
    /// oncommit opened is open and oncommit is not the one finishing it. Such a commit is a
    /// statement committing on its own after the server ended that transaction.
    pub fn allows_commit(&self) -> bool {
        !self.open.load(Ordering::SeqCst) || self.finishing.load(Ordering::SeqCst)
    }

    /// For a rollback callback: records a rollback of the open transaction that oncommit did
    /// not ask for.
    pub fn rollback_seen(&self) {
        if self.open.load(Ordering::SeqCst) && !self.finishing.load(Ordering::SeqCst) {
            self.rolled_back.store(true, Ordering::SeqCst);
        }
    }

    /// The outermost transaction was opened.
    pub(crate) fn opened(&self) {
        self.rolled_back.store(false, Ordering::SeqCst);
        self.finishing.store(false, Ordering::SeqCst);
        self.open.store(true, Ordering::SeqCst);
    }

    /// oncommit is about to COMMIT or ROLLBACK the outermost transaction.
    pub(crate) fn finishing(&self) {
        self.finishing.store(true, Ordering::SeqCst);
    }

    /// The outermost transaction ended (or was abandoned).
    pub(crate) fn closed(&self) {
        self.open.store(false, Ordering::SeqCst);
        self.finishing.store(false, Ordering::SeqCst);
    }

    /// Whether the server rolled the open transaction back on its own since the last call.
    pub(crate) fn take_rolled_back(&self) -> bool {
        self.rolled_back.swap(false, Ordering::SeqCst)
    }
}
