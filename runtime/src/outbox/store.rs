//! The outbox table as a relay sees it: claim rows under a lease, delete what was delivered,
//! put failures back with a delay or move them to the dead-letter table, hand leases back.
//! Implemented for sqlx's pools (`PgPool`, `MySqlPool`, `SqlitePool`).

use std::future::Future;
use std::time::Duration;

use uuid::Uuid;

use super::sink::Delivery;
use crate::BoxError;

/// Which rows a claim takes and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim<'a> {
    /// At most this many rows.
    pub limit: usize,
    /// Nobody else claims them for this long.
    pub lease: Duration,
    /// Only rows of these topics (all when empty).
    pub topics: &'a [String],
}

/// A delivery the sink did not accept, with what to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure<'a> {
    /// The delivery as it was claimed (its id and attempt).
    pub delivery: &'a Delivery,
    /// Why it failed, recorded on the row.
    pub error: String,
    /// When it may be claimed again (ignored when it goes to the dead-letter table).
    pub retry_in: Duration,
}

/// What is waiting in the outbox: the figures an operator alerts on.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Backlog {
    /// Rows in the outbox table (claimed or not).
    pub jobs: u64,
    /// How long the oldest of them has waited (`None` when there are none).
    pub oldest: Option<Duration>,
    /// Rows in the dead-letter table.
    pub dead: u64,
}

/// The outbox table of one database, as a relay uses it.
///
/// Every change after a claim names the rows by id *and* attempt, so a relay whose lease
/// expired cannot undo the claim of the relay that took the rows after it (a delete is the
/// exception: a row some relay delivered may go, whoever holds it).
pub trait Store: Send + Sync {
    /// Claims the oldest unclaimed rows (never claimed, or whose lease expired), counting an
    /// attempt for each.
    fn claim<'a>(
        &'a self,
        claim: Claim<'a>,
    ) -> impl Future<Output = Result<Vec<Delivery>, BoxError>> + Send + 'a;

    /// Claims the rows of `ids` that are unclaimed (the fast path: rows just committed).
    fn claim_ids<'a>(
        &'a self,
        ids: &'a [Uuid],
        claim: Claim<'a>,
    ) -> impl Future<Output = Result<Vec<Delivery>, BoxError>> + Send + 'a;

    /// Deletes delivered rows.
    fn delete<'a>(
        &'a self,
        delivered: &'a [Delivery],
    ) -> impl Future<Output = Result<(), BoxError>> + Send + 'a;

    /// Records each failure on its row and leases the row until its retry is due.
    fn retry_later<'a>(
        &'a self,
        failures: &'a [Failure<'a>],
    ) -> impl Future<Output = Result<(), BoxError>> + Send + 'a;

    /// Moves rows to the dead-letter table (`oncommit_outbox_dead`) with their last error.
    fn dead_letter<'a>(
        &'a self,
        failures: &'a [Failure<'a>],
    ) -> impl Future<Output = Result<(), BoxError>> + Send + 'a;

    /// Hands claimed rows back unpublished: claimable at once, the attempt not counted.
    fn release<'a>(
        &'a self,
        claimed: &'a [Delivery],
    ) -> impl Future<Output = Result<(), BoxError>> + Send + 'a;

    /// Counts what is waiting.
    fn backlog(&self) -> impl Future<Output = Result<Backlog, BoxError>> + Send + '_;

    /// Whether a relay may claim on one connection while it deletes or publishes on others
    /// (the next batch while the one before is settled). False unless a store says so:
    /// `PgPool` does; on MySQL/MariaDB a claim's locks can deadlock against the relay's own
    /// DELETE, and SQLite has one writer.
    fn claims_beside_others(&self) -> bool {
        false
    }
}
