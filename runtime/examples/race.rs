//! The race oncommit exists for, on an embedded SQLite file: no server needed.
//!
//! ```text
//! cargo run --example race
//! ```
//!
//! A sign-up handler inserts a user inside a transaction and hands the new id to a job queue
//! (an in-process tokio channel here; Redis, SQS… in production). A worker task, on its own
//! database connection, pops each id and reads the row, as a welcome-mail job would.
//!
//! The same workload runs twice:
//!
//! - **naive**: the handler pushes the job inside the transaction. The worker often looks
//!   before COMMIT and finds no row; the jobs of sign-ups that roll back run anyway.
//! - **oncommit**: the handler is `#[atomic]` and pushes with `enqueue!`; the push runs after
//!   COMMIT, and never for a rolled-back sign-up.
//!
//! It prints both side by side and exits non-zero if the oncommit run ever let the worker see
//! a missing row, or delivered a job of a rolled-back sign-up.

use std::collections::HashSet;
use std::fmt;
use std::process::ExitCode;
use std::time::Duration;

use oncommit::{Conn, atomic, enqueue};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{Connection, SqliteConnection};
use tokio::sync::mpsc;

/// Sign-ups per run.
const SIGN_UPS: i64 = 500;
/// Every this-many-th sign-up is rejected after its INSERT and rolls back.
const REJECT_EVERY: i64 = 10;

/// The producer side of the job queue.
#[derive(Clone)]
struct Queue(mpsc::UnboundedSender<i64>);

/// The worker has stopped.
#[derive(Debug)]
struct QueueClosed;

impl fmt::Display for QueueClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the job queue is closed")
    }
}

impl std::error::Error for QueueClosed {}

impl Queue {
    /// Hands a welcome-mail job for `user_id` to the worker.
    async fn push(&self, user_id: i64) -> Result<(), QueueClosed> {
        self.0.send(user_id).map_err(|_| QueueClosed)
    }
}

#[derive(Debug)]
enum AppError {
    Db(sqlx::Error),
    Tx(oncommit::Error),
    Queue(QueueClosed),
    Rejected,
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Db(e) => write!(f, "database: {e}"),
            AppError::Tx(e) => write!(f, "transaction: {e}"),
            AppError::Queue(e) => write!(f, "queue: {e}"),
            AppError::Rejected => f.write_str("sign-up rejected"),
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        AppError::Db(e)
    }
}

impl From<oncommit::Error> for AppError {
    fn from(e: oncommit::Error) -> Self {
        AppError::Tx(e)
    }
}

/// The bug: the job is pushed inside the transaction, before COMMIT.
async fn sign_up_naive(
    conn: &mut SqliteConnection,
    queue: &Queue,
    id: i64,
    reject: bool,
) -> Result<(), AppError> {
    let mut tx = conn.begin().await?;
    sqlx::query("INSERT INTO users (id, email) VALUES ($1, $2)")
        .bind(id)
        .bind(format!("user{id}@example.com"))
        .execute(&mut *tx)
        .await?;
    queue.push(id).await.map_err(AppError::Queue)?;
    // the rest of the handler, still inside the transaction
    sqlx::query("INSERT INTO audit (user_id, action) VALUES ($1, 'sign-up')")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if reject {
        tx.rollback().await?;
        return Err(AppError::Rejected);
    }
    tx.commit().await?;
    Ok(())
}

/// The fix: the same handler with `#[atomic]` and `enqueue!`.
#[atomic]
async fn sign_up(
    conn: &mut Conn<SqliteConnection>,
    queue: &Queue,
    id: i64,
    reject: bool,
) -> Result<(), AppError> {
    sqlx::query("INSERT INTO users (id, email) VALUES ($1, $2)")
        .bind(id)
        .bind(format!("user{id}@example.com"))
        .execute(&mut **conn)
        .await?;
    enqueue!(queue.push(id).await);
    sqlx::query("INSERT INTO audit (user_id, action) VALUES ($1, 'sign-up')")
        .bind(id)
        .execute(&mut **conn)
        .await?;
    if reject {
        return Err(AppError::Rejected);
    }
    Ok(())
}

/// What the worker saw.
#[derive(Default)]
struct Seen {
    delivered: Vec<i64>,
    missing: Vec<i64>,
}

/// The worker: reads each job's row on its own connection.
async fn worker(mut conn: SqliteConnection, mut jobs: mpsc::UnboundedReceiver<i64>) -> Seen {
    let mut seen = Seen::default();
    while let Some(id) = jobs.recv().await {
        let email: Option<String> = sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut conn)
            .await
            .expect("worker read");
        seen.delivered.push(id);
        if email.is_none() {
            seen.missing.push(id);
        }
    }
    seen
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Naive,
    Oncommit,
}

/// Runs the workload in one mode on a fresh database; what the worker saw, and the ids of the
/// rejected sign-ups.
async fn run(options: &SqliteConnectOptions, mode: Mode) -> Result<(Seen, HashSet<i64>), AppError> {
    let mut setup = SqliteConnection::connect_with(options).await?;
    sqlx::raw_sql(
        "DROP TABLE IF EXISTS users; DROP TABLE IF EXISTS audit;
         CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);
         CREATE TABLE audit (user_id INTEGER NOT NULL, action TEXT NOT NULL);",
    )
    .execute(&mut setup)
    .await?;
    setup.close().await?;

    let (sender, receiver) = mpsc::unbounded_channel();
    let queue = Queue(sender);
    let worker = tokio::spawn(worker(
        SqliteConnection::connect_with(options).await?,
        receiver,
    ));

    let mut rejected = HashSet::new();
    let mut naive = SqliteConnection::connect_with(options).await?;
    let mut conn = Conn::new(SqliteConnection::connect_with(options).await?);
    for id in 1..=SIGN_UPS {
        let reject = id % REJECT_EVERY == 0;
        let result = match mode {
            Mode::Naive => sign_up_naive(&mut naive, &queue, id, reject).await,
            Mode::Oncommit => sign_up(&mut conn, &queue, id, reject).await,
        };
        match result {
            Ok(()) => {}
            Err(AppError::Rejected) => {
                rejected.insert(id);
            }
            Err(e) => return Err(e),
        }
    }
    drop(queue);
    let seen = worker.await.expect("the worker panicked");
    Ok((seen, rejected))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("cannot create a temporary directory: {e}");
            return ExitCode::FAILURE;
        }
    };
    let path = dir.path().join("race.db");
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(10));

    println!(
        "{SIGN_UPS} sign-ups per run (every {REJECT_EVERY}th rolls back), SQLite file {}, \
         worker on its own connection\n",
        path.display()
    );
    let mut rows = Vec::new();
    for mode in [Mode::Naive, Mode::Oncommit] {
        match run(&options, mode).await {
            Ok((seen, rejected)) => rows.push((seen, rejected)),
            Err(e) => {
                eprintln!("the example failed: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let [(naive, naive_rejected), (fixed, fixed_rejected)] = &rows[..] else {
        unreachable!("two runs")
    };
    let of_rolled_back = |seen: &Seen, rejected: &HashSet<i64>| {
        seen.delivered
            .iter()
            .filter(|id| rejected.contains(id))
            .count()
    };
    let committed = |rejected: &HashSet<i64>| SIGN_UPS as usize - rejected.len();

    println!("{:<44}{:>10}{:>12}", "", "naive", "oncommit");
    println!(
        "{:<44}{:>10}{:>12}",
        "sign-ups committed",
        committed(naive_rejected),
        committed(fixed_rejected)
    );
    println!(
        "{:<44}{:>10}{:>12}",
        "jobs delivered",
        naive.delivered.len(),
        fixed.delivered.len()
    );
    println!(
        "{:<44}{:>10}{:>12}",
        "jobs that found the user's row missing",
        naive.missing.len(),
        fixed.missing.len()
    );
    println!(
        "{:<44}{:>10}{:>12}",
        "  of which for a rolled-back sign-up",
        of_rolled_back(naive, naive_rejected),
        of_rolled_back(fixed, fixed_rejected)
    );

    let fixed_ok = fixed.missing.is_empty()
        && of_rolled_back(fixed, fixed_rejected) == 0
        && fixed.delivered.len() == committed(fixed_rejected);
    if fixed_ok {
        println!("\noncommit: every job found its row, and no rolled-back sign-up sent one.");
        ExitCode::SUCCESS
    } else {
        println!("\nFAILED: the oncommit run let a job see a missing row or run for a rollback.");
        ExitCode::FAILURE
    }
}
