//! The state of `testing::capture` that a [`Conn`](crate::Conn) holds: the open capture
//! buffers, where hooks go instead of running while a capture is open.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::hook::Hook;
use crate::run::Hooks;

/// The capture buffers open on one `Conn`, innermost last: while one is open, hooks that
/// would run go to it instead.
#[derive(Default)]
pub(crate) struct Captures(Vec<Arc<CaptureBuf>>);

impl Captures {
    /// A capture begins.
    pub(crate) fn push(&mut self, buffer: Arc<CaptureBuf>) {
        self.0.push(buffer);
    }

    /// Forgets the buffers that were closed (their `capture` returned, panicked or was
    /// dropped).
    pub(crate) fn pop_closed(&mut self) {
        while self.0.last().is_some_and(|buffer| !buffer.is_open()) {
            self.0.pop();
        }
    }

    /// Hooks that may run now: into the innermost open buffer, or back (`Some`) when no
    /// capture is open and the caller must run them.
    pub(crate) fn divert<H: Hooks>(&mut self, hooks: H) -> Option<H> {
        self.pop_closed();
        match self.0.last() {
            Some(buffer) => {
                buffer.extend(hooks.into_hooks());
                None
            }
            None => Some(hooks),
        }
    }
}

/// The buffer of one `capture` call, shared by the `Conn` and the call's guard.
pub(crate) struct CaptureBuf {
    hooks: Mutex<Vec<Hook>>,
    open: AtomicBool,
}

impl CaptureBuf {
    /// An open, empty buffer.
    pub(crate) fn open() -> Self {
        crate::args::capture_opened();
        CaptureBuf {
            hooks: Mutex::new(Vec::new()),
            open: AtomicBool::new(true),
        }
    }

    /// The capture ended: the `Conn` stops sending hooks here.
    pub(crate) fn close(&self) {
        if self.open.swap(false, Ordering::AcqRel) {
            crate::args::capture_closed();
        }
    }

    /// The hooks captured so far, taken out.
    pub(crate) fn take(&self) -> Vec<Hook> {
        std::mem::take(&mut *self.lock())
    }

    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    pub(crate) fn extend(&self, hooks: Vec<Hook>) {
        self.lock().extend(hooks);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Hook>> {
        // A panic cannot leave the vector half-updated.
        self.hooks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Where a capture began: the transaction depth and the number of pending hooks then.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CaptureMark {
    pub(crate) depth: usize,
    pub(crate) pending: usize,
}
