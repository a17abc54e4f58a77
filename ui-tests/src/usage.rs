//! Representative uses of `#[atomic]` and `enqueue!`, compiled with the library so that
//! `cargo clippy -p oncommit-ui-tests -- -D warnings` lints the expanded code the way it lints
//! a user's crate. The pass cases in `ui/pass/` run the same shapes.

use oncommit::memory::Memory;
use oncommit::outbox::Job;
use oncommit::{Conn, Error, SyncBackend, atomic, enqueue};

use crate::{AppError, Log};

/// A sync fn: a sync hook with a cloned receiver and a moved argument.
///
/// ```
/// use oncommit::{Conn, memory::Memory};
/// let log = oncommit_ui_tests::Log::new();
/// let mut conn = Conn::new(Memory::new());
/// oncommit_ui_tests::usage::sign_up(&mut conn, &log, "a@example.com").unwrap();
/// assert_eq!(log.entries(), ["welcome a@example.com"]);
/// ```
#[atomic]
pub fn sign_up(conn: &mut Conn<Memory>, log: &Log, email: &str) -> Result<(), Error> {
    conn.execute(format!("INSERT INTO users (email) VALUES ('{email}')"));
    enqueue!(log.send(format!("welcome {email}")));
    Ok(())
}

/// An async fn with an async hook, `?` on the hook, a robust hook, a loop and a match arm.
///
/// ```
/// use oncommit::{Conn, memory::Memory};
/// let log = oncommit_ui_tests::Log::new();
/// let mut conn = Conn::new(Memory::new());
/// oncommit_ui_tests::block_on(oncommit_ui_tests::usage::import(&mut conn, &log, vec![1, 2])).unwrap();
/// assert_eq!(log.entries(), ["job 1", "odd 1", "job 2", "even 2"]);
/// ```
#[atomic]
pub async fn import(conn: &mut Conn<Memory>, log: &Log, ids: Vec<u64>) -> Result<usize, AppError> {
    let mut count = 0;
    for id in ids {
        if id == 0 {
            return Err(AppError::Invalid("id 0".to_owned()));
        }
        enqueue!(log.push(format!("job {id}")).await?);
        match id % 2 {
            0 => enqueue!(log.send(format!("even {id}")), robust),
            _ => enqueue!(log.try_send(format!("odd {id}"))),
        }
        count += 1;
    }
    Ok(count)
}

/// A method with `conn = self.db`, generic over the backend.
#[derive(Debug)]
pub struct Repo<C> {
    /// The connection.
    pub db: Conn<C>,
    /// Where hooks write.
    pub log: Log,
}

impl<C: SyncBackend> Repo<C> {
    /// Saves `name`; the hook runs after COMMIT.
    ///
    /// ```
    /// use oncommit::{Conn, memory::Memory};
    /// let log = oncommit_ui_tests::Log::new();
    /// let mut repo = oncommit_ui_tests::usage::Repo { db: Conn::new(Memory::new()), log: log.clone() };
    /// repo.save("x").unwrap();
    /// assert_eq!(log.entries(), ["saved x"]);
    /// ```
    #[atomic(conn = self.db)]
    pub fn save(&mut self, name: &str) -> Result<(), Error> {
        enqueue!(self.log.send(format!("saved {name}")));
        Ok(())
    }
}

/// The explicit form outside `#[atomic]`.
///
/// ```
/// use oncommit::{Conn, memory::Memory};
/// let log = oncommit_ui_tests::Log::new();
/// let mut conn = Conn::new(Memory::new());
/// oncommit_ui_tests::usage::notify(&mut conn, &log).unwrap();
/// assert_eq!(log.entries(), ["now"]); // no transaction: ran at once
/// ```
pub fn notify(conn: &mut Conn<Memory>, log: &Log) -> Result<(), Error> {
    enqueue!(conn => log.send("now".to_owned()))
}

/// A durable job: its JSON is the outbox row's payload.
#[derive(Debug, serde::Serialize)]
pub struct Welcome<'a> {
    /// Who to welcome.
    pub name: &'a str,
}

impl Job for Welcome<'_> {
    const TOPIC: &'static str = "welcome";
}

/// Durable jobs: `enqueue!(outbox => JOB)` in a loop, the job borrowing the loop variable (it
/// is serialized at the `enqueue!`), the message id as its value; and the explicit form.
/// `Memory` has no outbox table, so its COMMIT refuses the jobs.
///
/// ```
/// use oncommit::{Conn, ErrorKind, memory::Memory};
/// let mut conn = Conn::new(Memory::new());
/// let names = vec!["ann".to_owned(), "bob".to_owned()];
/// let result = oncommit_ui_tests::block_on(oncommit_ui_tests::usage::welcome_all(&mut conn, names));
/// assert_eq!(result.unwrap_err().kind(), ErrorKind::Outbox);
/// ```
#[atomic]
pub async fn welcome_all(
    conn: &mut Conn<Memory>,
    names: Vec<String>,
) -> Result<Vec<String>, Error> {
    let mut ids = Vec::new();
    for name in names {
        let id = enqueue!(outbox => Welcome { name: &name });
        ids.push(id.to_string());
    }
    let last = enqueue!(conn => outbox => Welcome { name: "last" })?;
    ids.push(last.to_string());
    Ok(ids)
}

/// The connection under a type alias, beside another `&mut` parameter, with a `&mut` receiver
/// whose method takes `&mut self`.
pub type Db = Conn<Memory>;

/// A counter the hooks bump on their own clones.
#[derive(Clone, Debug, Default)]
pub struct Counter {
    /// Where the hooks write.
    pub log: Log,
    /// How many times this value was bumped.
    pub bumps: u32,
}

impl Counter {
    /// Records a bump of this value.
    pub fn bump(&mut self, id: u64) {
        self.bumps += 1;
        self.log.send(format!("bump {id}: {}", self.bumps));
    }
}

/// `db: &mut Db` holds the transaction; `counters` is the other `&mut` parameter.
///
/// ```
/// use oncommit::{Conn, memory::Memory};
/// let log = oncommit_ui_tests::Log::new();
/// let mut counters = vec![oncommit_ui_tests::usage::Counter { log: log.clone(), bumps: 0 }];
/// oncommit_ui_tests::usage::bump_all(&mut Conn::new(Memory::new()), &mut counters, 3).unwrap();
/// assert_eq!(log.entries(), ["bump 3: 1"]);
/// assert_eq!(counters[0].bumps, 0);
/// ```
#[atomic]
pub fn bump_all(db: &mut Db, counters: &mut [Counter], id: u64) -> Result<(), Error> {
    db.execute(format!("UPDATE counters SET n = n + 1 WHERE id = {id}"));
    for counter in counters.iter_mut() {
        enqueue!(counter.bump(id));
    }
    Ok(())
}

/// Under `#[tracing::instrument]` (which expands first): the transaction runs inside the
/// instrumented future, so the span covers BEGIN, COMMIT and the hooks.
///
/// ```
/// use oncommit::{Conn, memory::Memory};
/// let log = oncommit_ui_tests::Log::new();
/// let mut conn = Conn::new(Memory::new());
/// oncommit_ui_tests::block_on(oncommit_ui_tests::usage::traced(&mut conn, &log, 5)).unwrap();
/// assert_eq!(log.entries(), ["traced 5"]);
/// ```
#[tracing::instrument(skip(conn, log), err)]
#[atomic]
pub async fn traced(conn: &mut Conn<Memory>, log: &Log, id: u64) -> Result<u64, AppError> {
    conn.execute(format!("INSERT INTO traced (id) VALUES ({id})"));
    enqueue!(log.push(format!("traced {id}")).await?);
    if id == 0 {
        return Err(AppError::Invalid("id 0".to_owned()));
    }
    Ok(id)
}

/// A sync fn under `#[tracing::instrument]` with `ret`, which runs the body in a `move`
/// closure.
///
/// ```
/// use oncommit::{Conn, memory::Memory};
/// let log = oncommit_ui_tests::Log::new();
/// oncommit_ui_tests::usage::traced_sync(&mut Conn::new(Memory::new()), &log).unwrap();
/// assert_eq!(log.entries(), ["traced sync"]);
/// ```
#[tracing::instrument(skip_all, ret, err)]
#[atomic]
pub fn traced_sync(conn: &mut Conn<Memory>, log: &Log) -> Result<(), Error> {
    conn.execute("INSERT INTO traced (id) VALUES (0)");
    enqueue!(log.send("traced sync".to_owned()));
    Ok(())
}
