//! The guard of one open transaction level, and how an abandoned level is noticed.
//!
//! A level is abandoned when its guard is dropped without being finished: the body panicked,
//! or the future running it was dropped (cancellation). The guard holds no borrow of the
//! connection (so the body can use the connection, or `self`, freely); it only records the
//! shallowest abandoned depth in a flag shared with its [`Conn`](crate::Conn). The `Conn`
//! rolls those levels back (with the backend's non-blocking `start_rollback`, as sqlx does
//! for a dropped `Transaction`) at its next use, at the latest when it is dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

const NONE: usize = usize::MAX;

/// Shared between a `Conn` and the guards of its open levels.
#[derive(Debug, Clone, Default)]
pub(crate) struct AbandonFlag(Arc<Abandoned>);

#[derive(Debug)]
struct Abandoned {
    /// The shallowest abandoned depth, or `NONE`.
    depth: AtomicUsize,
    /// A level was abandoned while its COMMIT or RELEASE was in flight.
    mid_finish: AtomicBool,
}

impl Default for Abandoned {
    fn default() -> Self {
        Abandoned {
            depth: AtomicUsize::new(NONE),
            mid_finish: AtomicBool::new(false),
        }
    }
}

/// What [`AbandonFlag::take`] found.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Abandonment {
    /// The shallowest abandoned depth.
    pub(crate) depth: usize,
    /// Some level was abandoned while its COMMIT or RELEASE was in flight: the server may
    /// have applied it.
    pub(crate) mid_finish: bool,
}

impl AbandonFlag {
    /// Takes what was abandoned since the last call, if anything.
    pub(crate) fn take(&self) -> Option<Abandonment> {
        if self.0.depth.load(Ordering::Acquire) == NONE {
            return None;
        }
        match self.0.depth.swap(NONE, Ordering::AcqRel) {
            NONE => None,
            depth => Some(Abandonment {
                depth,
                mid_finish: self.0.mid_finish.swap(false, Ordering::AcqRel),
            }),
        }
    }

    /// The shallowest abandoned depth, without clearing it.
    pub(crate) fn peek(&self) -> Option<usize> {
        match self.0.depth.load(Ordering::Acquire) {
            NONE => None,
            depth => Some(depth),
        }
    }

    fn abandon(&self, depth: usize, mid_finish: bool) {
        if mid_finish {
            self.0.mid_finish.store(true, Ordering::Release);
        }
        self.0.depth.fetch_min(depth, Ordering::AcqRel);
    }
}

/// An open transaction level. Finish it with the `finish` function that matches the `begin`
/// that made it; dropping it unfinished rolls the level back at the connection's next use.
#[must_use = "a transaction level must be finished, or it is rolled back"]
#[derive(Debug)]
pub struct Level {
    flag: AbandonFlag,
    depth: usize,
    armed: bool,
    /// Its COMMIT or RELEASE is in flight.
    finishing: bool,
}

impl Level {
    pub(crate) fn new(flag: AbandonFlag, depth: usize) -> Self {
        Level {
            flag,
            depth,
            armed: true,
            finishing: false,
        }
    }

    /// Its COMMIT or RELEASE is about to be sent: if the guard is dropped from now on, the
    /// server may have applied it.
    pub(crate) fn finishing(&mut self) {
        self.finishing = true;
    }

    /// The depth of this level: 1 for the outermost transaction.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// The level was committed or rolled back: dropping the guard no longer abandons it.
    pub(crate) fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for Level {
    fn drop(&mut self) {
        if self.armed {
            tracing::debug!(
                depth = self.depth,
                "transaction block abandoned (panic or cancellation); it will be rolled back"
            );
            self.flag.abandon(self.depth, self.finishing);
        }
    }
}
