//! Waking relays in other processes: after a COMMIT that wrote durable jobs, a Postgres
//! `NOTIFY` on [`NOTIFY_CHANNEL`], sent as a statement of its own after the COMMIT (a `NOTIFY`
//! inside the transaction would take a global lock at its COMMIT and throttle every writer).
//! Off by default: a relay in the writers' own process takes the fast path instead.

use std::sync::atomic::{AtomicBool, Ordering};

/// The channel relays `LISTEN` on (the `oncommit-relay` binary does).
pub const NOTIFY_CHANNEL: &str = "oncommit_outbox";

static NOTIFY: AtomicBool = AtomicBool::new(false);

/// Whether, in this process, each COMMIT on Postgres through sqlx that wrote durable jobs is
/// followed, once its hooks ran, by `NOTIFY oncommit_outbox` (one more round trip for such
/// a transaction; diesel's connections send none). Turn it on in
/// writers whose relay runs elsewhere (the `oncommit-relay` binary), so it delivers at once
/// instead of at its next poll. A failed `NOTIFY` is logged, never an error of the COMMIT:
/// the relay's poll still finds the jobs.
///
/// ```
/// oncommit::outbox::notify_relays(true);
/// # oncommit::outbox::notify_relays(false);
/// ```
pub fn notify_relays(on: bool) {
    NOTIFY.store(on, Ordering::Relaxed);
}

/// See [`notify_relays`].
pub(crate) fn enabled() -> bool {
    NOTIFY.load(Ordering::Relaxed)
}
