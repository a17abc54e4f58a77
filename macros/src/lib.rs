//! Procedural macros of `oncommit`: `#[atomic]` and `enqueue!`. Use them through the
//! `oncommit` crate, which re-exports them (`use oncommit::{atomic, enqueue};`).
//!
//! This crate is the proc-macro entry points only; the stages (option parsing, the
//! loop-borrow check, code generation) are the library `oncommit-macros-core`.

use proc_macro::TokenStream;

/// Makes the function body one transaction on its `&mut Conn<..>` parameter.
///
/// `BEGIN` (or a `SAVEPOINT` when the connection is already inside a transaction) before the
/// body; `COMMIT`/`RELEASE` when it returns `Ok`; `ROLLBACK` (to the savepoint) when it returns
/// `Err`, panics, or its future is dropped. Each `enqueue!(CALL)` in the body evaluates the
/// call's receiver and arguments at once and runs the call after the outermost COMMIT; each
/// `enqueue!(outbox => JOB)` writes a durable job with the transaction (see [`enqueue!`]).
///
/// Works on sync and async fns, free fns and methods (`&self`, `&mut self`), with generics and
/// `impl Trait` arguments. The fn returns `Result<T, E>` with `E: From<oncommit::Error>`; `?`
/// and `return` in the body mean what they meant without the attribute.
///
/// The connection is the parameter spelled `&mut Conn<..>`. When no parameter is spelled so
/// (a type alias, `type Db = Conn<PgConnection>`, or a renamed import, `use oncommit::Conn as
/// Tx`), it is the one `&mut` parameter, or among several `&mut` parameters the one named
/// `conn`, `db` or `tx`; its type is then checked to be a `Conn`, and an error at the
/// parameter's type says so if it is not. Several candidates and none of them named so is an
/// error that lists them.
///
/// ```
/// use oncommit::{Conn as Tx, Error, atomic, enqueue, memory::Memory};
///
/// type Db = oncommit::Conn<Memory>;
///
/// fn invalidate(key: String) { /* drop a cache entry */ }
///
/// #[atomic]
/// fn rename(db: &mut Db, seen: &mut Vec<u64>, id: u64) -> Result<(), Error> {
///     db.execute(format!("UPDATE users SET name = 'x' WHERE id = {id}"));
///     seen.push(id);
///     enqueue!(invalidate(format!("user:{id}")));
///     audit(db, id) // a nested #[atomic] fn: a savepoint
/// }
///
/// #[atomic]
/// fn audit(tx: &mut Tx<Memory>, id: u64) -> Result<(), Error> {
///     tx.execute(format!("INSERT INTO audit (user_id) VALUES ({id})"));
///     Ok(())
/// }
///
/// let db = Memory::new();
/// rename(&mut Tx::new(db.clone()), &mut Vec::new(), 7)?;
/// assert_eq!(db.statements().last().map(String::as_str), Some("COMMIT"));
/// # Ok::<(), Error>(())
/// ```
///
/// With other attribute macros: `#[tracing::instrument]` goes above or below `#[atomic]`, and
/// its span covers the BEGIN, the COMMIT and the hooks either way (above, it runs first and
/// moves the body into the future it instruments; `#[atomic]` finds the body there and puts
/// the transaction in its place). `#[atomic]` works on the methods of an `#[async_trait]`
/// impl (it finds the body in the `Box::pin(async move { .. })` the impl's macro wrote, and
/// `conn = self.db` follows its renaming of `self`). axum's `#[debug_handler]` goes below
/// `#[atomic]`: it copies the body into check fns without the other attributes.
///
/// ```
/// use oncommit::{Conn, Error, atomic, enqueue, memory::Memory};
///
/// fn notify(order: u64) {
///     tracing::info!(order, "order placed"); // inside the `place` span, after COMMIT
/// }
///
/// #[tracing::instrument(skip(conn), err)]
/// #[atomic]
/// async fn place(conn: &mut Conn<Memory>, order: u64) -> Result<(), Error> {
///     conn.execute(format!("INSERT INTO orders (id) VALUES ({order})"));
///     enqueue!(notify(order));
///     Ok(())
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// place(&mut Conn::new(Memory::new()), 42).await?;
/// # Ok::<(), Error>(()) }).unwrap();
/// ```
///
/// Options: `#[atomic(conn = EXPR)]` names the place holding the `Conn` (e.g. `self.db`) instead
/// of the parameter; `#[atomic(durable)]` refuses to run nested inside another transaction.
/// For the outermost transaction: `isolation = serializable` (or `repeatable_read`,
/// `read_committed`, `read_uncommitted`) and `read_only` open it with those characteristics
/// (nested inside another transaction, the block fails with `ErrorKind::OptionsNested`);
/// `retry = N` runs the whole transaction again, up to N more times, when it fails with a serialization
/// failure or a deadlock (`E: oncommit::Retryable` tells which errors those are). The hooks of
/// a failed attempt are dropped with it. The body must be safe to run again: each attempt
/// borrows the parameters (`&mut` ones are reborrowed), so a body that moves a parameter does
/// not compile, and whatever it does outside the database happens once per attempt.
///
/// ```
/// use oncommit::{Conn, Error, atomic, enqueue, memory::Memory};
///
/// fn notify(from: u64, to: u64) { /* push a job */ }
///
/// #[atomic(retry = 3, isolation = serializable)]
/// fn transfer(conn: &mut Conn<Memory>, from: u64, to: u64) -> Result<(), Error> {
///     conn.execute(format!("UPDATE accounts SET balance = balance - 10 WHERE id = {from}"));
///     conn.execute(format!("UPDATE accounts SET balance = balance + 10 WHERE id = {to}"));
///     enqueue!(notify(from, to));
///     Ok(())
/// }
///
/// let db = Memory::new();
/// transfer(&mut Conn::new(db.clone()), 1, 2)?;
/// assert_eq!(db.statements()[0], "BEGIN ISOLATION LEVEL SERIALIZABLE");
/// # Ok::<(), Error>(())
/// ```
///
/// ```
/// use oncommit::{Conn, Error, atomic, enqueue, memory::Memory};
/// use std::sync::mpsc::{Sender, channel};
///
/// #[atomic]
/// fn sign_up(conn: &mut Conn<Memory>, queue: &Sender<u64>, id: u64) -> Result<(), Error> {
///     conn.execute(format!("INSERT INTO users (id) VALUES ({id})"));
///     enqueue!(queue.send(id)); // `queue` is cloned into the hook, `id` moved
///     Ok(())
/// }
///
/// let (queue, worker) = channel();
/// let db = Memory::new();
/// let mut conn = Conn::new(db.clone());
/// sign_up(&mut conn, &queue, 42)?;
/// assert_eq!(worker.try_recv(), Ok(42));
/// assert_eq!(db.statements(), ["BEGIN", "INSERT INTO users (id) VALUES (42)", "COMMIT"]);
/// # Ok::<(), Error>(())
/// ```
///
/// Async fns, async hooks (`.await`), and the connection in a field:
///
/// ```
/// use oncommit::{Conn, Error, atomic, enqueue, memory::Memory};
///
/// #[derive(Clone)]
/// struct Queue;
/// impl Queue {
///     async fn push(&self, job: String) -> Result<(), std::io::Error> { Ok(()) }
/// }
///
/// struct Service { db: Conn<Memory>, queue: Queue }
///
/// impl Service {
///     #[atomic(conn = self.db)]
///     async fn create(&mut self, name: &str) -> Result<(), Error> {
///         self.db.execute(format!("INSERT {name}"));
///         enqueue!(self.queue.push(format!("welcome {name}")).await?);
///         Ok(())
///     }
/// }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut service = Service { db: Conn::new(Memory::new()), queue: Queue };
/// service.create("ann").await?;
/// # Ok::<(), Error>(()) }).unwrap();
/// ```
#[proc_macro_attribute]
pub fn atomic(args: TokenStream, item: TokenStream) -> TokenStream {
    oncommit_macros_core::expand_atomic(args.into(), item.into()).into()
}

/// Defers a call until the outermost COMMIT, or writes a durable job with the transaction.
///
/// Forms: `enqueue!(CALL)` and `enqueue!(CALL, robust)` inside an [`#[atomic]`](macro@atomic)
/// fn; `enqueue!(conn => CALL)` and `enqueue!(conn => CALL, robust)` anywhere, with an explicit
/// `&mut Conn<_>`; and for a durable job, `enqueue!(outbox => JOB)` and
/// `enqueue!(conn => outbox => JOB)` (see [Durable jobs](#durable-jobs)). `CALL` is a function call `path(args)` or a method call
/// `receiver.method(args)`, optionally followed by `.await` (an async hook) and/or `?` (an
/// error fails the hook). The receiver and the arguments are evaluated at the `enqueue!`, left
/// to right, and moved into the hook; a receiver that is a place (`mailer`, `self.mailer`) is
/// cloned. A robust hook's failure is only logged.
///
/// A receiver that is a place is cloned as the value behind it: `queue: &Queue`,
/// `queue: &mut Queue` and `m` from `iter_mut()` give the hook its own `Queue` (a `&mut T`
/// is not `Clone`, its `T` is), and an `Arc<T>` gives it a clone of the `Arc`. The hook owns
/// that value, so the call may take `&mut self`, as a queue client's `push` often does
/// (apalis's `TaskSink::push`, redis's `AsyncCommands::rpush`); the caller's value is not
/// touched.
///
/// ```
/// use oncommit::{Conn, Error, atomic, enqueue, memory::Memory};
/// use std::sync::{Arc, Mutex};
///
/// /// A queue client whose `push` takes `&mut self`.
/// #[derive(Clone, Default)]
/// struct Queue {
///     jobs: Arc<Mutex<Vec<String>>>,
///     pushed: u32,
/// }
///
/// impl Queue {
///     async fn push(&mut self, job: String) -> Result<(), std::io::Error> {
///         self.pushed += 1;
///         self.jobs.lock().unwrap().push(job);
///         Ok(())
///     }
/// }
///
/// #[atomic]
/// async fn sign_up(conn: &mut Conn<Memory>, queues: &mut [Queue], id: u64) -> Result<(), Error> {
///     conn.execute(format!("INSERT INTO users (id) VALUES ({id})"));
///     for queue in queues.iter_mut() {
///         // `queue` is a `&mut Queue`: the hook pushes through its own clone
///         enqueue!(queue.push(format!("welcome {id}")).await?);
///     }
///     Ok(())
/// }
///
/// let mut queues = vec![Queue::default(), Queue::default()];
/// let mut conn = Conn::new(Memory::new());
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// sign_up(&mut conn, &mut queues, 42).await?;
/// # Ok::<(), Error>(()) }).unwrap();
/// assert_eq!(*queues[1].jobs.lock().unwrap(), ["welcome 42"]);
/// assert_eq!(queues[1].pushed, 0); // the clone counted, not the caller's value
/// ```
///
/// Inside `#[atomic]` it evaluates to `()`. The explicit form evaluates to
/// `Result<(), oncommit::Error>`: inside a transaction the hook waits for the outermost COMMIT,
/// outside one it runs at once and its failure is returned.
///
/// ```
/// use oncommit::{Conn, Error, enqueue, memory::Memory};
/// use std::sync::mpsc::channel;
///
/// let (queue, worker) = channel();
/// let mut conn = Conn::new(Memory::new());
/// enqueue!(&mut conn => queue.send("no transaction: runs now"))?;
/// assert_eq!(worker.try_recv(), Ok("no transaction: runs now"));
/// # Ok::<(), Error>(())
/// ```
///
/// # Durable jobs
///
/// With the `outbox` feature, `enqueue!(outbox => JOB)` inside an `#[atomic]` fn and
/// `enqueue!(conn => outbox => JOB)` anywhere write a durable job instead of deferring a call:
/// `JOB` is a value whose type implements `oncommit::outbox::Job`, borrowed (not moved). It
/// is evaluated once and serialized at the `enqueue!`, with its values as they are then, under
/// a new message id; only that JSON waits, to be written to the outbox table by the
/// transaction just before its outermost COMMIT (a rolled-back block drops its jobs). So a
/// job may borrow anything, loop variables included. This is `Conn::enqueue_job`
/// (`oncommit::outbox` has the details).
///
/// Inside `#[atomic]` it evaluates to the message id (`uuid::Uuid`, a UUIDv7), and a failure
/// (the job cannot be serialized) returns from the fn through `?`, converted by the fn's
/// `From<oncommit::Error>`; in a closure of the body, that closure must return a `Result`.
/// The explicit form evaluates to `Result<uuid::Uuid, oncommit::Error>` (outside a
/// transaction it is an error: a durable job is written by its transaction). `outbox =>` first
/// always means a durable job: with a connection named `outbox`, write
/// `enqueue!(outbox => outbox => JOB)`. `robust` does not apply (nothing runs after COMMIT).
///
/// ```
/// use oncommit::outbox::Job;
/// use oncommit::{AsyncBackend, Conn, Error, atomic, enqueue};
///
/// #[derive(serde::Serialize)]
/// struct Welcome<'a> {
///     user_id: i64,
///     email: &'a str,
/// }
///
/// impl Job for Welcome<'_> {
///     const TOPIC: &'static str = "welcome";
/// }
///
/// struct User {
///     id: i64,
///     email: String,
/// }
///
/// #[atomic]
/// async fn sign_up<C: AsyncBackend>(conn: &mut Conn<C>, users: Vec<User>) -> Result<(), Error> {
///     for user in users {
///         // ... INSERT the user ...
///         let message_id = enqueue!(outbox => Welcome { user_id: user.id, email: &user.email });
///         assert_eq!(message_id.get_version_num(), 7);
///     }
///     assert!(conn.pending_jobs() > 0); // written just before COMMIT
///     Ok(())
/// }
/// # // `Memory` has no outbox table: its COMMIT refuses the jobs (sqlx connections write them).
/// # let mut conn = Conn::new(oncommit::memory::Memory::new());
/// # let users = vec![User { id: 1, email: "ann@example.com".to_owned() }];
/// # let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # let error = runtime.block_on(sign_up(&mut conn, users)).unwrap_err();
/// # assert_eq!(error.kind(), oncommit::ErrorKind::Outbox);
/// ```
#[proc_macro]
pub fn enqueue(input: TokenStream) -> TokenStream {
    oncommit_macros_core::expand_enqueue(input.into()).into()
}
