//! The race scenarios, generic over the database: each `race_*` suite calls them with its
//! connection type, its URL and a queue.

use std::collections::HashSet;

use oncommit::Conn;
use tokio::sync::{mpsc, oneshot};

use super::app::{insert_and_peek, sign_up, write_plan};
use super::{
    Inbox, Job, Looked, Queue, RaceDb, Report, Table, expected_jobs, naive_transaction, plans,
    run_worker,
};

/// Opens a connection, or fails the test with the database's name.
pub async fn open<C: RaceDb>(url: &str) -> C {
    match C::open(url).await {
        Ok(conn) => conn,
        Err(error) => panic!("cannot connect to {} at {url}: {error}", C::NAME),
    }
}

/// What a started worker reports while it runs.
struct Started {
    table: Table,
    /// Each read, right after it.
    looked: mpsc::UnboundedReceiver<Looked>,
    /// Each job, once handled.
    handled: mpsc::UnboundedReceiver<Job>,
    worker: tokio::task::JoinHandle<Report>,
}

/// A fresh table and a worker on its own connection.
async fn start<C: RaceDb>(url: &str, table: &str, inbox: Inbox) -> Started {
    let mut setup: C = open(url).await;
    let table = Table::create(&mut setup, table)
        .await
        .expect("create table");
    let (looked_tx, looked) = mpsc::unbounded_channel();
    let (handled_tx, handled) = mpsc::unbounded_channel();
    let worker_conn: C = open(url).await;
    let worker = tokio::spawn(run_worker(
        worker_conn,
        inbox,
        table.clone(),
        Some(looked_tx),
        Some(handled_tx),
    ));
    Started {
        table,
        looked,
        handled,
        worker,
    }
}

async fn finish(queue: &Queue, worker: tokio::task::JoinHandle<Report>) -> Report {
    queue.stop().await.expect("push stop");
    worker.await.expect("worker panicked")
}

/// (a) The bug, made deterministic: the writer enqueues inside its transaction and holds the
/// transaction open until the worker has read the row. The worker finds it missing; its
/// `get_or_create` then collides with the writer's row once it commits (duplicate key). A
/// transaction that rolls back still delivers its job, and the worker creates the row.
pub async fn naive_enqueue_is_seen_to_fail<C: RaceDb>(
    url: &str,
    table: &str,
    queue: (Queue, Inbox),
) {
    let (queue, inbox) = queue;
    let Started {
        table,
        mut looked,
        mut handled,
        worker,
    } = start::<C>(url, table, inbox).await;
    let mut writer: C = open(url).await;

    let committed = Job::new(1, 1);
    let (seen_tx, seen_rx) = oneshot::channel();
    let hold = async {
        let look = looked.recv().await.expect("the worker reports its read");
        let _ = seen_tx.send(look);
    };
    naive_transaction(&mut writer, &queue, &table, committed, hold, true)
        .await
        .expect("naive transaction");
    let look = seen_rx.await.expect("looked");
    assert_eq!(look.job, committed);
    assert_eq!(
        look.seen, None,
        "the worker read the row while the transaction was open: it must be missing"
    );
    // Let the worker finish with the job (its get_or_create) before the next transaction:
    // on SQLite the next BEGIN would otherwise take the database lock the worker waits for.
    assert_eq!(handled.recv().await, Some(committed));

    let rolled_back = Job::new(2, 1);
    let (seen_tx, seen_rx) = oneshot::channel();
    let hold = async {
        let look = looked.recv().await.expect("the worker reports its read");
        let _ = seen_tx.send(look);
    };
    naive_transaction(&mut writer, &queue, &table, rolled_back, hold, false)
        .await
        .expect("naive transaction");
    assert_eq!(seen_rx.await.expect("looked").seen, None);

    let report = finish(&queue, worker).await;
    assert_eq!(report.delivered, [committed, rolled_back]);
    assert_eq!(
        report.missing,
        [committed, rolled_back],
        "both rows missing"
    );
    assert_eq!(
        report.duplicate_key,
        [committed],
        "get_or_create collided with the writer's row"
    );
    assert_eq!(
        report.created,
        [rolled_back],
        "the job of a rolled-back transaction ran anyway"
    );
    let mut observer: C = open(url).await;
    let rows = table.rows(&mut observer).await.expect("rows");
    assert_eq!(rows.get(&1), Some(&1));
    assert_eq!(
        rows.get(&2),
        Some(&1),
        "row 2 exists only because the worker made it"
    );
    eprintln!(
        "{}: naive enqueue inside the transaction: {} of {} jobs saw a missing row, {} duplicate-key error(s)",
        C::NAME,
        report.missing.len(),
        report.delivered.len(),
        report.duplicate_key.len()
    );
}

/// The same flow with `#[atomic]` + `enqueue!`: while the transaction is open the job is not
/// in the queue (it waits on the connection); after COMMIT the worker reads the row.
pub async fn oncommit_holds_the_job_until_commit<C: RaceDb>(
    url: &str,
    table: &str,
    queue: (Queue, Inbox),
) {
    let (queue, inbox) = queue;
    let Started {
        table,
        mut looked,
        worker,
        ..
    } = start::<C>(url, table, inbox).await;
    let mut conn = Conn::new(open::<C>(url).await);
    let job = Job::new(1, 1);
    let (waiting, pending) = insert_and_peek(&mut conn, &queue, &table, job)
        .await
        .expect("transaction");
    assert_eq!(waiting, 0, "nothing in the queue before COMMIT");
    assert_eq!(pending, 1, "the job waits on the connection");
    let look = looked.recv().await.expect("the worker reports its read");
    assert_eq!(look, Looked { job, seen: Some(1) });
    let report = finish(&queue, worker).await;
    assert!(report.clean(), "{report:?}");
}

/// (b) 1,000 transactions from two concurrent writers (every 10th rolls back, every 5th also
/// bumps an earlier row's version): the worker never sees a missing or stale row, never hits
/// a duplicate key, and receives exactly the jobs of the committed transactions, once each.
pub async fn oncommit_under_load<C: RaceDb>(url: &str, table: &str, queue: (Queue, Inbox)) {
    const PER_WRITER: i64 = 500;
    let (queue, inbox) = queue;
    let Started { table, worker, .. } = start::<C>(url, table, inbox).await;
    let all_plans: Vec<_> = (0..2).map(|w| plans(w * 100_000 + 1, PER_WRITER)).collect();

    let mut writers = Vec::new();
    for writer_plans in all_plans.clone() {
        let (url, queue, table) = (url.to_owned(), queue.clone(), table.clone());
        writers.push(tokio::spawn(async move {
            let mut conn = Conn::new(open::<C>(&url).await);
            for plan in &writer_plans {
                let result = write_plan(&mut conn, &queue, &table, plan).await;
                match (&result, plan.reject) {
                    (Ok(()), false) | (Err(super::AppError::Rejected), true) => {}
                    _ => panic!("plan {plan:?}: {result:?}"),
                }
            }
            assert_eq!(conn.depth(), 0);
        }));
    }
    for writer in writers {
        writer.await.expect("writer panicked");
    }
    let report = finish(&queue, worker).await;

    assert!(
        report.missing.is_empty(),
        "missing rows: {:?}",
        report.missing
    );
    assert!(report.stale.is_empty(), "stale rows: {:?}", report.stale);
    assert!(
        report.duplicate_key.is_empty(),
        "duplicate keys: {:?}",
        report.duplicate_key
    );
    assert!(report.created.is_empty());
    let every_plan: Vec<_> = all_plans.concat();
    let mut delivered = report.delivered.clone();
    delivered.sort();
    assert_eq!(
        delivered,
        expected_jobs(&every_plan),
        "exactly the committed jobs, once each"
    );

    let mut observer: C = open(url).await;
    let rows = table.rows(&mut observer).await.expect("rows");
    for plan in &every_plan {
        assert_eq!(rows.contains_key(&plan.insert), !plan.reject, "{plan:?}");
    }
    let rejected = every_plan.iter().filter(|p| p.reject).count();
    eprintln!(
        "{}: #[atomic] + enqueue!: {} transactions ({rejected} rolled back), {} jobs delivered, \
         {} missing, {} stale, {} duplicate-key",
        C::NAME,
        every_plan.len(),
        report.delivered.len(),
        report.missing.len(),
        report.stale.len(),
        report.duplicate_key.len()
    );
}

/// A rolled-back transaction delivers no job; the next committed one delivers its own.
pub async fn rolled_back_delivers_nothing<C: RaceDb>(
    url: &str,
    table: &str,
    queue: (Queue, Inbox),
) {
    let (queue, inbox) = queue;
    let Started { table, worker, .. } = start::<C>(url, table, inbox).await;
    let mut conn = Conn::new(open::<C>(url).await);
    let rejected = super::Plan {
        insert: 1,
        update: None,
        reject: true,
    };
    let result = write_plan(&mut conn, &queue, &table, &rejected).await;
    assert!(
        matches!(result, Err(super::AppError::Rejected)),
        "{result:?}"
    );
    assert_eq!(queue.waiting().await.expect("queue length"), 0);
    let committed = super::Plan {
        insert: 2,
        update: None,
        reject: false,
    };
    write_plan(&mut conn, &queue, &table, &committed)
        .await
        .expect("commit");
    let report = finish(&queue, worker).await;
    assert_eq!(report.delivered, [Job::new(2, 1)]);
    assert!(report.clean(), "{report:?}");
    let mut observer: C = open(url).await;
    let rows = table.rows(&mut observer).await.expect("rows");
    assert_eq!(rows.keys().copied().collect::<Vec<_>>(), [2]);
}

/// A loop of N inserts in one transaction delivers N distinct ids, each job with its own
/// row's values (no late binding).
pub async fn loop_delivers_each_its_own<C: RaceDb>(url: &str, table: &str, queue: (Queue, Inbox)) {
    const N: i64 = 100;
    let (queue, inbox) = queue;
    let Started { table, worker, .. } = start::<C>(url, table, inbox).await;
    let mut conn = Conn::new(open::<C>(url).await);
    let users: Vec<Job> = (1..=N).map(|id| Job::new(id, 1000 + id)).collect();
    let count = sign_up(&mut conn, &queue, &table, users.clone())
        .await
        .expect("sign up");
    assert_eq!(count, N as usize);
    let report = finish(&queue, worker).await;
    assert!(report.clean(), "{report:?}");
    assert_eq!(
        report.delivered, users,
        "one job per user, in order, each its own"
    );
    let distinct: HashSet<i64> = report.delivered.iter().map(|job| job.id).collect();
    assert_eq!(distinct.len(), N as usize);
}
