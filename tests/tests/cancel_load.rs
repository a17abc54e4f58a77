//! Cancellation under load: many `#[atomic]` transactions, each run under a
//! `tokio::time::timeout` of a random small duration (seeded RNG), so their futures are dropped
//! at random await points: before BEGIN, mid-body, inside a savepoint, mid-COMMIT, between
//! hooks. Afterwards, from another connection: every id a hook recorded is in the table (no
//! hook ever ran for an uncommitted transaction), and the same connection still works.
//!
//! SQLite (temporary file) always runs; Postgres needs `DATABASE_URL`. The seed is printed;
//! set `ONCOMMIT_SEED` to replay one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oncommit::{Conn, atomic, enqueue};
use oncommit_tests::race::scenarios::open;
use oncommit_tests::race::{AppError, RaceDb, Table};
use oncommit_tests::service_url;

/// The ids whose hooks ran, in order.
#[derive(Clone, Default)]
struct Ran(Arc<Mutex<Vec<i64>>>);

impl Ran {
    fn record(&self, id: i64) {
        self.0.lock().unwrap().push(id);
    }

    async fn record_later(&self, id: i64) {
        tokio::task::yield_now().await;
        self.record(-id); // async hooks record the negated id
    }

    fn ids(&self) -> Vec<i64> {
        self.0.lock().unwrap().clone()
    }
}

/// A savepoint inside the transaction: row `id + 1`, with its own hook.
#[atomic]
async fn inner<C: RaceDb>(
    conn: &mut Conn<C>,
    table: &Table,
    ran: &Ran,
    id: i64,
) -> Result<(), AppError> {
    table.insert(&mut **conn, id + 1, 1).await?;
    enqueue!(ran.record(id + 1));
    Ok(())
}

/// One transaction: insert `id` (sync hook), bump it a few times, a savepoint with `id + 1`
/// (sync hook), and an async hook for `id`.
#[atomic]
async fn transaction<C: RaceDb>(
    conn: &mut Conn<C>,
    table: &Table,
    ran: &Ran,
    id: i64,
) -> Result<(), AppError> {
    table.insert(&mut **conn, id, 1).await?;
    enqueue!(ran.record(id));
    for version in 2..4 {
        table.update(&mut **conn, id, version).await?;
    }
    inner(conn, table, ran, id).await?;
    enqueue!(ran.record_later(id).await);
    Ok(())
}

fn seed() -> u64 {
    std::env::var("ONCOMMIT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x0c0_ffee)
}

async fn cancel_under_load<C: RaceDb>(url: &str, table: &str) {
    const TRANSACTIONS: i64 = 600;
    let seed = seed();
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut setup: C = open(url).await;
    let table = Table::create(&mut setup, table)
        .await
        .expect("create table");
    let ran = Ran::default();
    let mut conn = Conn::new(open::<C>(url).await);

    // Calibrate: how long one uncancelled transaction takes here, so the random timeouts
    // land inside it (this only spreads the cancellation points; nothing asserts on time).
    let started = Instant::now();
    for n in 0..10 {
        transaction(&mut conn, &table, &ran, 1_000_000 + n * 2)
            .await
            .expect("calibration");
    }
    let typical = started.elapsed() / 10;

    let (mut committed, mut cancelled) = (0, 0);
    let mut failed: Vec<String> = Vec::new();
    for n in 0..TRANSACTIONS {
        let id = n * 2 + 1;
        let limit = Duration::from_nanos(rng.u64(0..=(typical.as_nanos() as u64 * 3 / 2)));
        match tokio::time::timeout(limit, transaction(&mut conn, &table, &ran, id)).await {
            Ok(Ok(())) => committed += 1,
            Ok(Err(error)) => {
                let detail = format!(
                    "{error}: {:?}",
                    std::error::Error::source(&error).and_then(|s| s.source())
                );
                failed.push(format!("transaction {id} (#{n}): {detail}"));
            }
            Err(_elapsed) => cancelled += 1,
        }
    }

    assert!(
        failed.is_empty(),
        "{} transactions failed after earlier ones were cancelled (seed {seed}); the \
         connection must keep working:\n{}",
        failed.len(),
        failed.join("\n")
    );

    // The connection still works: one more transaction, not cancelled, commits and runs
    // its hooks.
    let last = 3_000_000;
    transaction(&mut conn, &table, &ran, last)
        .await
        .unwrap_or_else(|e| {
            panic!("the connection is broken after cancellations (seed {seed}): {e}")
        });
    assert_eq!(conn.depth(), 0);
    assert_eq!(oncommit::Backend::transaction_depth(&mut *conn), 0);

    let mut observer: C = open(url).await;
    let rows: HashMap<i64, i64> = table.rows(&mut observer).await.expect("rows");
    let ran = ran.ids();
    for id in &ran {
        assert!(
            rows.contains_key(&id.abs()),
            "a hook ran for row {id}, which was never committed (seed {seed})"
        );
    }
    for id in [last, last + 1] {
        assert!(
            ran.contains(&id),
            "the last transaction's hook for {id} ran"
        );
    }
    assert!(
        ran.contains(&-last),
        "the last transaction's async hook ran"
    );
    // rows of the savepoint and of the transaction commit together
    for n in 0..TRANSACTIONS {
        let id = n * 2 + 1;
        assert_eq!(
            rows.contains_key(&id),
            rows.contains_key(&(id + 1)),
            "row {id} and its savepoint's row {} (seed {seed})",
            id + 1
        );
        if let Some(version) = rows.get(&id) {
            assert_eq!(
                *version, 3,
                "a committed row has all its updates (seed {seed})"
            );
        }
    }
    eprintln!(
        "{}: seed {seed}: {TRANSACTIONS} transactions under random timeouts (typical {typical:?}): \
         {committed} committed, {cancelled} cancelled, {} rows, {} hooks ran, none for an \
         uncommitted row",
        C::NAME,
        rows.len(),
        ran.len()
    );
    assert!(
        cancelled > 0,
        "the timeouts cancelled nothing (seed {seed})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_cancel_under_load() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("cancel.db").display());
    cancel_under_load::<sqlx::SqliteConnection>(&url, "cancel_load").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cancel_under_load() {
    let Some(url) = service_url("DATABASE_URL") else {
        return;
    };
    cancel_under_load::<sqlx::PgConnection>(&url, "cancel_load_pg").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_cancel_under_load() {
    let Some(url) = service_url("MYSQL_URL") else {
        return;
    };
    cancel_under_load::<sqlx::MySqlConnection>(&url, "cancel_load_maria").await;
}
