//! Durable jobs: a transactional outbox. A job enqueued with [`Conn::enqueue_job`] is
//! serialized at once, given a message id (UUIDv7, the broker's dedup key), and written to
//! the outbox table by the same transaction, just before its COMMIT: the job commits or rolls
//! back with the data. A relay then delivers committed rows to a broker (at least once) and
//! deletes them.
//!
//! Enable the `outbox` feature. Create the table with the migration for your database
//! ([`schema`]; the same SQL is in `runtime/migrations/`), or with [`migrate`].
//!
//! Inside an `#[atomic]` fn, `enqueue!(outbox => JOB)` is `enqueue_job` on the fn's connection:
//! its value is the message id, and a failure is the fn's error (through `?`).
//!
//! ```
//! use oncommit::outbox::Job;
//! use oncommit::{AsyncBackend, Conn, Error, atomic, enqueue};
//!
//! #[derive(serde::Serialize)]
//! struct Welcome {
//!     user_id: i64,
//! }
//!
//! impl Job for Welcome {
//!     const TOPIC: &'static str = "welcome";
//! }
//!
//! #[atomic]
//! async fn sign_up<C: AsyncBackend>(conn: &mut Conn<C>, user_id: i64) -> Result<String, Error> {
//!     // ... INSERT the user ...
//!     let message_id = enqueue!(outbox => Welcome { user_id }); // serialized now
//!     Ok(message_id.to_string())
//! }
//! ```
//!
//! [`Conn::enqueue_job`]: crate::Conn::enqueue_job

mod fast_path;
#[cfg(any(
    feature = "sqlx-postgres",
    feature = "sqlx-sqlite",
    feature = "sqlx-mysql"
))]
pub mod inbox;
pub(crate) mod notify;
mod pending;
pub mod relay;
mod schema;
pub mod sink;
pub mod store;

pub use notify::{NOTIFY_CHANNEL, notify_relays};
pub(crate) use pending::PendingJobs;
#[cfg(any(
    feature = "sqlx-postgres",
    feature = "sqlx-sqlite",
    feature = "sqlx-mysql"
))]
pub use schema::migrate;
pub use schema::{Dialect, ordering_key_migration, schema};

use std::borrow::Cow;

use uuid::Uuid;

/// Postgres through diesel: the outbox rows of `$1` to `$5` (ids, topics, payloads, keys as
/// text arrays; leases in seconds, NULL for a row written unclaimed), one statement whatever
/// the count. A leased row is written as a claim leaves it: `lease_until` set, at attempt 1.
/// (sqlx binds the ids as a uuid array.)
#[cfg(feature = "diesel-postgres")]
macro_rules! postgres_insert_from_arrays {
    () => {
        "INSERT INTO oncommit_outbox (id, topic, payload, ordering_key, lease_until, attempts) \
         SELECT CAST(u.id AS uuid), u.topic, CAST(u.payload AS json), u.ordering_key, \
                clock_timestamp() + make_interval(secs => u.lease), \
                CASE WHEN u.lease IS NULL THEN 0 ELSE 1 END \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[]) \
         AS u(id, topic, payload, ordering_key, lease)"
    };
}
#[cfg(feature = "diesel-postgres")]
pub(crate) use postgres_insert_from_arrays;

/// A job type that can go through the outbox: serializable (its JSON is the payload), with
/// the topic the relay publishes it to.
///
/// A type whose values go to different topics (per tenant, per shard) overrides
/// [`topic`](Job::topic):
///
/// ```
/// use std::borrow::Cow;
///
/// #[derive(serde::Serialize)]
/// struct Invoice {
///     id: i64,
///     #[serde(skip)]
///     tenant: String,
/// }
///
/// impl oncommit::outbox::Job for Invoice {
///     const TOPIC: &'static str = "invoices";
///
///     fn topic(&self) -> Cow<'static, str> {
///         Cow::Owned(format!("invoices.{}", self.tenant))
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a durable job: `enqueue!(outbox => ..)` and `Conn::enqueue_job` take a value whose type implements `oncommit::outbox::Job`",
    label = "this value would be serialized into the outbox",
    note = "derive `serde::Serialize` and implement `oncommit::outbox::Job` for the job's type, with its topic: `const TOPIC: &'static str = \"..\";` (`enqueue!(outbox => job)` borrows `job` itself: no `&` is needed)"
)]
pub trait Job: serde::Serialize {
    /// Where the relay publishes jobs of this type (a stream, a subject, a queue).
    const TOPIC: &'static str;

    /// This job's topic: [`TOPIC`](Job::TOPIC) unless overridden.
    fn topic(&self) -> Cow<'static, str> {
        Cow::Borrowed(Self::TOPIC)
    }

    /// This job's ordering key (`None`, unordered, unless overridden): jobs with the same key
    /// are delivered one at a time, in the order they were enqueued (their message ids): a
    /// key's next job is not claimed while an older one is in the outbox (pending, leased,
    /// or waiting for a retry). The key travels to the broker with the job (the sink's
    /// ordering or partition key). Jobs without a key are delivered as fast as the relay
    /// goes, in no particular order.
    ///
    /// ```
    /// use std::borrow::Cow;
    ///
    /// #[derive(serde::Serialize)]
    /// struct BalanceChanged {
    ///     account_id: i64,
    ///     balance: i64,
    /// }
    ///
    /// impl oncommit::outbox::Job for BalanceChanged {
    ///     const TOPIC: &'static str = "balances";
    ///
    ///     fn key(&self) -> Option<Cow<'static, str>> {
    ///         Some(Cow::Owned(self.account_id.to_string()))
    ///     }
    /// }
    /// ```
    fn key(&self) -> Option<Cow<'static, str>> {
        None
    }
}

/// A job as the outbox stores it: its message id, its topic and its payload (JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Message {
    /// The message id: a UUIDv7 (time-ordered), unique per `enqueue`, the broker's dedup key.
    pub id: Uuid,
    /// The job's [`Job::topic`].
    pub topic: Cow<'static, str>,
    /// The job, serialized to JSON at the `enqueue` (its values as they were then).
    pub payload: String,
    /// The job's [`Job::key`].
    pub key: Option<Cow<'static, str>>,
    /// Set by the fast path just before the COMMIT (`None` from [`Message::new`]): write the
    /// row already claimed by this process's relay for this long, at attempt 1 (see
    /// [`Backend::WRITES_OUTBOX_LEASES`](crate::Backend::WRITES_OUTBOX_LEASES)).
    pub lease: Option<std::time::Duration>,
}

impl Message {
    /// Serializes `job` now, under a new message id.
    ///
    /// ```
    /// # #[derive(serde::Serialize)] struct Welcome { user_id: i64 }
    /// # impl oncommit::outbox::Job for Welcome { const TOPIC: &'static str = "welcome"; }
    /// let message = oncommit::outbox::Message::new(&Welcome { user_id: 7 })?;
    /// assert_eq!(message.topic, "welcome");
    /// assert_eq!(message.payload, r#"{"user_id":7}"#);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn new<J: Job>(job: &J) -> Result<Message, serde_json::Error> {
        Ok(Message {
            id: Uuid::now_v7(),
            topic: job.topic(),
            payload: serde_json::to_string(job)?,
            key: job.key(),
            lease: None,
        })
    }
}
