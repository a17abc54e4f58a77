//! The outbox relay on SQLite, Postgres and MariaDB: committed jobs are delivered and
//! deleted, jobs of rolled-back transactions never exist to be delivered, two relays at once
//! deliver each job once; a failed batch is retried with backoff (its error on the row), a
//! poison job ends in the dead-letter table without holding back the others; the fast path
//! delivers a job without waiting for a sweep, and publishes the jobs its transaction wrote
//! leased to it with no claim (keyed jobs are claimed); shutdown hands the batch in flight
//! back, and the committed jobs still queued for the fast path.
//! What the sink received is compared with the ids the transactions returned; what is left
//! is read from the tables on a connection of its own.
//!
//! SQLite always runs; Postgres needs `DATABASE_URL`, MariaDB `MYSQL_URL`.

use std::collections::HashSet;
use std::time::Duration;

use oncommit::BoxError;
use oncommit::outbox::Job;
use oncommit::outbox::relay::{Drained, Relay, RelayOptions};
use oncommit::outbox::sink::{ChannelSink, Delivery, FaultySink, Sink};
use oncommit::outbox::store::{Backlog, Claim, Failure, Store};
use oncommit_tests::outbox::{ONE_CASE_AT_A_TIME, OutboxDb, Row};
use oncommit_tests::race::AppError;
use sqlx::AssertSqlSafe;
use uuid::Uuid;

/// Declares a job type with its own topic (each case has its own, so cases can share a
/// database).
macro_rules! job {
    ($name:ident, $topic:literal) => {
        #[derive(serde::Serialize)]
        struct $name {
            n: i64,
        }

        impl Job for $name {
            const TOPIC: &'static str = $topic;
        }
    };
}

oncommit_tests::on_each_db!(
    oncommit_tests::outbox;
    committed_jobs_are_delivered_once_and_deleted,
    a_failed_batch_is_retried_after_its_backoff,
    a_poison_job_is_dead_lettered_and_holds_back_nothing,
    the_fast_path_delivers_without_a_sweep,
    shutdown_hands_the_batch_in_flight_back,
    a_key_s_jobs_are_delivered_one_at_a_time_in_order,
    a_waiting_key_holds_back_no_other_job,
    the_fast_path_publishes_the_jobs_written_leased_to_it,
    shutdown_hands_back_the_committed_jobs_still_queued,
    a_committed_job_that_waited_past_half_its_lease_is_handed_back,
    steady_commits_do_not_starve_the_sweep,
);

/// Options for a relay of one topic.
fn options(topic: &str) -> RelayOptions {
    let mut options = RelayOptions::default();
    options.topics = vec![topic.to_owned()];
    options
}

/// Commits `count` transactions of one job each (`n` = 0, 1, …), and rolls back one more
/// (`n` = -1); returns the committed ids.
async fn commit_jobs<D: OutboxDb, J: Job>(db: &D, count: i64, job: impl Fn(i64) -> J) -> Vec<Uuid> {
    db.forget(J::TOPIC).await;
    let mut conn = db.writer().await;
    let mut ids = Vec::new();
    for n in 0..count {
        let id = conn
            .atomic_async(async |conn| Ok::<_, AppError>(conn.enqueue_job(&job(n))?))
            .await
            .unwrap();
        ids.push(id);
    }
    let rolled_back = conn
        .atomic_async(async |conn| {
            conn.enqueue_job(&job(-1))?;
            Err::<(), _>(AppError::Rejected)
        })
        .await;
    assert!(rolled_back.is_err());
    ids
}

fn ids_of(deliveries: &[Delivery]) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = deliveries.iter().map(|d| d.id).collect();
    ids.sort();
    ids
}

async fn committed_jobs_are_delivered_once_and_deleted<D: OutboxDb>(db: D) {
    let _turn = ONE_CASE_AT_A_TIME.lock().await;
    job!(Ping, "relay_delivered_once");
    let committed = commit_jobs(&db, 7, |n| Ping { n }).await;
    let (sink, received) = ChannelSink::new();
    let mut options = options(Ping::TOPIC);
    options.batch = 2;
    let one = Relay::new(db.pool().clone(), sink.clone(), options.clone());
    let two = Relay::new(db.pool().clone(), sink, options);
    let (a, b) = tokio::join!(one.drain(), two.drain());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.published + b.published, 7, "{}", D::NAME);
    let delivered: Vec<Delivery> = received.try_iter().collect();
    let ids = ids_of(&delivered);
    let unique: HashSet<Uuid> = ids.iter().copied().collect();
    assert_eq!(
        ids.len(),
        unique.len(),
        "{}: no job delivered twice",
        D::NAME
    );
    assert_eq!(
        unique,
        committed.iter().copied().collect(),
        "{}: exactly the committed jobs",
        D::NAME
    );
    assert!(delivered.iter().all(|d| d.attempts == 1));
    assert!(delivered.iter().all(|d| !d.payload.contains("-1")));
    assert_eq!(
        db.rows(Ping::TOPIC).await,
        [],
        "{}: the rows are gone",
        D::NAME
    );
}

async fn a_failed_batch_is_retried_after_its_backoff<D: OutboxDb>(db: D) {
    let _turn = ONE_CASE_AT_A_TIME.lock().await;
    job!(Ping, "relay_retried");
    let committed = commit_jobs(&db, 5, |n| Ping { n }).await;
    let (inner, received) = ChannelSink::new();
    let sink = FaultySink::new(inner);
    sink.set_down(true);
    let mut options = options(Ping::TOPIC);
    options.backoff = Duration::from_secs(3600);
    let relay = Relay::new(db.pool().clone(), sink.clone(), options.clone());
    let drained = relay.drain_once().await.unwrap();
    assert_eq!(
        drained,
        Drained {
            retried: 5,
            ..Drained::default()
        }
    );
    // Each row has its error and is held back for its backoff: nothing to claim now.
    let rows = db.rows(Ping::TOPIC).await;
    assert_eq!(rows.len(), 5);
    for row in &rows {
        assert_eq!(row.attempts, 1);
        assert!(row.leased, "{}: held back for the backoff", D::NAME);
        assert_eq!(
            row.last_error.as_deref(),
            Some("the broker is down (injected)")
        );
    }
    sink.set_down(false);
    assert_eq!(relay.drain_once().await.unwrap(), Drained::default());
    assert_eq!(received.try_iter().count(), 0);

    // Once the backoff is over (the clock moved on), they go on their second attempt.
    db.end_leases(Ping::TOPIC).await;
    let drained = relay.drain().await.unwrap();
    assert_eq!(drained.published, 5);
    let delivered: Vec<Delivery> = received.try_iter().collect();
    assert_eq!(ids_of(&delivered), sorted(committed));
    assert!(delivered.iter().all(|d| d.attempts == 2));
    assert_eq!(db.rows(Ping::TOPIC).await, []);
}

fn sorted(mut ids: Vec<Uuid>) -> Vec<Uuid> {
    ids.sort();
    ids
}

async fn a_poison_job_is_dead_lettered_and_holds_back_nothing<D: OutboxDb>(db: D) {
    let _turn = ONE_CASE_AT_A_TIME.lock().await;
    job!(Ping, "relay_poison");
    let committed = commit_jobs(&db, 6, |n| Ping { n }).await;
    let (inner, received) = ChannelSink::new();
    let sink = FaultySink::new(inner).poison(|d: &Delivery| {
        serde_json::from_str::<serde_json::Value>(&d.payload).unwrap()["n"] == 3
    });
    let mut options = options(Ping::TOPIC);
    options.backoff = Duration::ZERO;
    options.max_backoff = Duration::ZERO;
    options.max_attempts = 2;
    let relay = Relay::new(db.pool().clone(), sink, options);

    // The batch fails, its jobs are published one by one: all but the poison one go.
    let drained = relay.drain_once().await.unwrap();
    assert_eq!((drained.published, drained.retried), (5, 1), "{}", D::NAME);
    let poison = committed[3];
    let rows = db.rows(Ping::TOPIC).await;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].id, rows[0].attempts), (poison, 1));
    assert_eq!(
        rows[0].last_error.as_deref(),
        Some("the broker refused a poison message (injected)")
    );

    // Its second attempt is its last: it moves to the dead-letter table with its error.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let drained = relay.drain_once().await.unwrap();
    assert_eq!(drained.dead_lettered, 1, "{}", D::NAME);
    assert_eq!(db.rows(Ping::TOPIC).await, []);
    assert_eq!(
        db.dead(Ping::TOPIC).await,
        [Row {
            id: poison,
            attempts: 2,
            leased: false,
            last_error: Some("the broker refused a poison message (injected)".to_owned()),
        }]
    );
    let delivered: Vec<Delivery> = received.try_iter().collect();
    let mut expected = committed.clone();
    expected.remove(3);
    assert_eq!(ids_of(&delivered), sorted(expected));
}

async fn the_fast_path_delivers_without_a_sweep<D: OutboxDb>(db: D) {
    let _turn = ONE_CASE_AT_A_TIME.lock().await;
    job!(Ping, "relay_fast_path");
    let first = commit_jobs(&db, 1, |n| Ping { n }).await;
    let (sink, received) = ChannelSink::new();
    let (received_tx, mut received_rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for delivery in received {
            if received_tx.send(delivery).is_err() {
                break;
            }
        }
    });
    let mut options = options(Ping::TOPIC);
    options.poll = Duration::from_secs(3600);
    let relay = Relay::new(db.pool().clone(), sink, options);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(relay.run(async {
        let _ = stopped.await;
    }));
    // The sweep at start delivers the job committed before; from then on the relay listens.
    let delivery = next(&mut received_rx).await;
    assert_eq!(delivery.id, first[0]);
    // The next sweep is an hour away: this job can only come by the fast path.
    let mut conn = db.writer().await;
    let id = conn
        .atomic_async(async |conn| Ok::<_, AppError>(conn.enqueue_job(&Ping { n: 1 })?))
        .await
        .unwrap();
    let delivery = next(&mut received_rx).await;
    assert_eq!((delivery.id, delivery.attempts), (id, 1), "{}", D::NAME);
    wait_for(|| async { db.rows(Ping::TOPIC).await.is_empty() }).await;
    stop.send(()).unwrap();
    running.await.unwrap();
}

async fn next(received: &mut tokio::sync::mpsc::UnboundedReceiver<Delivery>) -> Delivery {
    tokio::time::timeout(Duration::from_secs(30), received.recv())
        .await
        .expect("a delivery within 30 s")
        .expect("the sink is alive")
}

/// Polls `done` until it holds (at most 30 s, then fails).
async fn wait_for<F: Future<Output = bool>>(done: impl Fn() -> F) {
    for _ in 0..3000 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the condition did not hold within 30 s");
}

/// A broker that never answers.
struct Stuck;

impl Sink for Stuck {
    async fn publish<'a>(&'a self, _batch: &'a [Delivery]) -> Result<(), BoxError> {
        std::future::pending().await
    }
}

async fn shutdown_hands_the_batch_in_flight_back<D: OutboxDb>(db: D) {
    let _turn = ONE_CASE_AT_A_TIME.lock().await;
    job!(Ping, "relay_shutdown");
    let committed = commit_jobs(&db, 3, |n| Ping { n }).await;
    let mut options = options(Ping::TOPIC);
    options.fast_path = false;
    options.shutdown_grace = Duration::from_millis(50);
    let relay = Relay::new(db.pool().clone(), Stuck, options.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(relay.run(async {
        let _ = stopped.await;
    }));
    // The sweep at start claims the three jobs; the broker never answers.
    wait_for(|| async {
        let rows = db.rows(Ping::TOPIC).await;
        rows.len() == 3 && rows.iter().all(|r| r.leased)
    })
    .await;
    stop.send(()).unwrap();
    running.await.unwrap();
    // Handed back: claimable at once, the attempt not counted.
    let rows = db.rows(Ping::TOPIC).await;
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter().all(|r| !r.leased && r.attempts == 0),
        "{}: {rows:?}",
        D::NAME
    );
    let (sink, received) = ChannelSink::new();
    let drained = Relay::new(db.pool().clone(), sink, options)
        .drain()
        .await
        .unwrap();
    assert_eq!(drained.published, 3);
    assert_eq!(
        ids_of(&received.try_iter().collect::<Vec<_>>()),
        sorted(committed)
    );
}

/// A job with an ordering key (`None`: unordered).
#[derive(serde::Serialize)]
struct Keyed {
    key: Option<String>,
    n: i64,
}

impl Job for Keyed {
    const TOPIC: &'static str = "relay_keyed";

    fn key(&self) -> Option<std::borrow::Cow<'static, str>> {
        self.key.clone().map(std::borrow::Cow::Owned)
    }
}

async fn a_key_s_jobs_are_delivered_one_at_a_time_in_order<D: OutboxDb>(db: D) {
    let _turn = ONE_CASE_AT_A_TIME.lock().await;
    // Three keys with four jobs each, enqueued interleaved, and four unordered jobs: sixteen
    // transactions.
    let jobs: Vec<Keyed> = (0..4)
        .flat_map(|n| {
            let keyed = (0..3).map(move |k| Keyed {
                key: Some(format!("account-{k}")),
                n,
            });
            keyed.chain(std::iter::once(Keyed {
                key: None,
                n: 100 + n,
            }))
        })
        .collect();
    db.forget(Keyed::TOPIC).await;
    let mut conn = db.writer().await;
    for job in &jobs {
        conn.atomic_async(async |conn| Ok::<_, AppError>(conn.enqueue_job(job)?))
            .await
            .unwrap();
    }

    // A claim takes the oldest job of each key and every unordered job, however large the
    // batch; the broker is down, so they wait for their backoff.
    let (inner, received) = ChannelSink::new();
    let sink = FaultySink::new(inner);
    sink.set_down(true);
    let mut options = options(Keyed::TOPIC);
    options.batch = 100;
    options.backoff = Duration::from_secs(3600);
    let relay = Relay::new(db.pool().clone(), sink.clone(), options.clone());
    let drained = relay.drain_once().await.unwrap();
    assert_eq!(
        drained.retried,
        3 + 4,
        "{}: the heads of the keys, and the unordered",
        D::NAME
    );
    let rows = db.rows(Keyed::TOPIC).await;
    assert_eq!(rows.len(), 16);
    assert_eq!(rows.iter().filter(|r| r.leased).count(), 7, "{}", D::NAME);
    // While a key's oldest job waits for its retry, the key's others are not claimed.
    assert_eq!(
        relay.drain_once().await.unwrap(),
        Drained::default(),
        "{}",
        D::NAME
    );

    // The broker is back and the backoff over: two relays deliver everything, each key's
    // jobs in their order.
    sink.set_down(false);
    db.end_leases(Keyed::TOPIC).await;
    options.batch = 5;
    let one = Relay::new(db.pool().clone(), sink.clone(), options.clone());
    let two = Relay::new(db.pool().clone(), sink, options);
    let (a, b) = tokio::join!(one.drain(), two.drain());
    assert_eq!(
        a.unwrap().published + b.unwrap().published,
        16,
        "{}",
        D::NAME
    );
    let delivered: Vec<Delivery> = received.try_iter().collect();
    assert_eq!(delivered.len(), 16, "{}: each job once", D::NAME);
    for k in 0..3 {
        let key = format!("account-{k}");
        let order: Vec<String> = delivered
            .iter()
            .filter(|d| d.key.as_deref() == Some(key.as_str()))
            .map(|d| d.payload.clone())
            .collect();
        let expected: Vec<String> = (0..4)
            .map(|n| format!(r#"{{"key":"{key}","n":{n}}}"#))
            .collect();
        assert_eq!(order, expected, "{}: {key} in order", D::NAME);
    }
    assert_eq!(delivered.iter().filter(|d| d.key.is_none()).count(), 4);
    assert_eq!(db.rows(Keyed::TOPIC).await, []);
}

/// A key whose oldest job is held (here: claimed by a relay that has not settled it) holds
/// back only its own jobs: a relay whose batch its younger jobs would fill still claims the
/// others.
async fn a_waiting_key_holds_back_no_other_job<D: OutboxDb>(db: D) {
    use oncommit::outbox::store::{Claim, Store};
    let _turn = ONE_CASE_AT_A_TIME.lock().await;
    db.forget(Keyed::TOPIC).await;
    let mut conn = db.writer().await;
    let mut unordered = Vec::new();
    for n in 0..8 {
        let job = Keyed {
            key: (n < 6).then(|| "busy".to_owned()),
            n,
        };
        let id = conn
            .atomic_async(async |conn| Ok::<_, AppError>(conn.enqueue_job(&job)?))
            .await
            .unwrap();
        if n >= 6 {
            unordered.push(id);
        }
    }
    let topics = [Keyed::TOPIC.to_owned()];
    let held = db
        .pool()
        .claim(Claim {
            limit: 1,
            lease: Duration::from_secs(3600),
            topics: &topics,
        })
        .await
        .unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].key.as_deref(), Some("busy"));

    let (sink, received) = ChannelSink::new();
    let mut options = options(Keyed::TOPIC);
    options.batch = 3;
    let relay = Relay::new(db.pool().clone(), sink, options);
    assert_eq!(
        relay.drain_once().await.unwrap().published,
        2,
        "{}",
        D::NAME
    );
    let delivered: Vec<Delivery> = received.try_iter().collect();
    assert_eq!(ids_of(&delivered), sorted(unordered), "{}", D::NAME);
    db.forget(Keyed::TOPIC).await;
}

/// A relay's store that counts the claims made through it.
struct Counting<St> {
    store: St,
    claims: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl<St> Counting<St> {
    fn claimed(&self) -> impl Fn() -> usize + use<St> {
        let claims = self.claims.clone();
        move || claims.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn count(&self) {
        self.claims
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl<St: Store> Store for Counting<St> {
    async fn claim<'a>(&'a self, claim: Claim<'a>) -> Result<Vec<Delivery>, BoxError> {
        let claimed = self.store.claim(claim).await?;
        if !claimed.is_empty() {
            self.count();
        }
        Ok(claimed)
    }

    async fn claim_ids<'a>(
        &'a self,
        ids: &'a [Uuid],
        claim: Claim<'a>,
    ) -> Result<Vec<Delivery>, BoxError> {
        self.count();
        self.store.claim_ids(ids, claim).await
    }

    async fn delete<'a>(&'a self, delivered: &'a [Delivery]) -> Result<(), BoxError> {
        self.store.delete(delivered).await
    }

    async fn retry_later<'a>(&'a self, failures: &'a [Failure<'a>]) -> Result<(), BoxError> {
        self.store.retry_later(failures).await
    }

    async fn dead_letter<'a>(&'a self, failures: &'a [Failure<'a>]) -> Result<(), BoxError> {
        self.store.dead_letter(failures).await
    }

    async fn release<'a>(&'a self, claimed: &'a [Delivery]) -> Result<(), BoxError> {
        self.store.release(claimed).await
    }

    async fn backlog(&self) -> Result<Backlog, BoxError> {
        self.store.backlog().await
    }

    fn claims_beside_others(&self) -> bool {
        self.store.claims_beside_others()
    }
}

/// A broker that says when a batch arrives, and takes it only once the test opens the gate
/// for it.
struct Gated {
    arrived: tokio::sync::mpsc::UnboundedSender<usize>,
    gate: std::sync::Arc<tokio::sync::Semaphore>,
    taken: tokio::sync::mpsc::UnboundedSender<Delivery>,
}

impl Sink for Gated {
    async fn publish<'a>(&'a self, batch: &'a [Delivery]) -> Result<(), BoxError> {
        let _ = self.arrived.send(batch.len());
        self.gate.acquire().await?.forget();
        for delivery in batch {
            let _ = self.taken.send(delivery.clone());
        }
        Ok(())
    }
}

/// A job of its own topic, with an ordering key or not.
#[derive(serde::Serialize)]
struct Leased {
    key: Option<String>,
    n: i64,
}

impl Job for Leased {
    const TOPIC: &'static str = "relay_leased";

    fn key(&self) -> Option<std::borrow::Cow<'static, str>> {
        self.key.clone().map(std::borrow::Cow::Owned)
    }
}

/// A relay over a counting store and a gated broker, running with the fast path.
struct GatedRelay {
    claimed: Box<dyn Fn() -> usize + Send>,
    arrived: tokio::sync::mpsc::UnboundedReceiver<usize>,
    gate: std::sync::Arc<tokio::sync::Semaphore>,
    taken: tokio::sync::mpsc::UnboundedReceiver<Delivery>,
    stop: tokio::sync::oneshot::Sender<()>,
    running: tokio::task::JoinHandle<()>,
}

/// Starts a [`GatedRelay`] and waits until it listens: its first sweep has delivered a job
/// committed before it started.
async fn gated_relay<D: OutboxDb>(db: &D, options: RelayOptions) -> GatedRelay {
    db.forget(Leased::TOPIC).await;
    let before = enqueue(db, Leased { key: None, n: 0 }).await;
    let (arrived_tx, arrived) = tokio::sync::mpsc::unbounded_channel();
    let (taken_tx, taken) = tokio::sync::mpsc::unbounded_channel();
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let store = Counting {
        store: db.pool().clone(),
        claims: Default::default(),
    };
    let claimed = Box::new(store.claimed());
    let sink = Gated {
        arrived: arrived_tx,
        gate: gate.clone(),
        taken: taken_tx,
    };
    let relay = Relay::new(store, sink, options);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(relay.run(async {
        let _ = stopped.await;
    }));
    let mut relay = GatedRelay {
        claimed,
        arrived,
        gate,
        taken,
        stop,
        running,
    };
    assert_eq!(relay.arrived.recv().await, Some(1));
    relay.gate.add_permits(1);
    assert_eq!(relay.taken.recv().await.map(|d| d.id), Some(before));
    wait_for(|| async { db.rows(Leased::TOPIC).await.is_empty() }).await;
    relay
}

async fn enqueue<D: OutboxDb>(db: &D, job: Leased) -> Uuid {
    db.writer()
        .await
        .atomic_async(async |conn| Ok::<_, AppError>(conn.enqueue_job(&job)?))
        .await
        .unwrap()
}

async fn the_fast_path_publishes_the_jobs_written_leased_to_it<D: OutboxDb>(db: D) {
    let _turn = ONE_CASE_AT_A_TIME.lock().await;
    let mut options = options(Leased::TOPIC);
    options.poll = Duration::from_secs(3600);
    let mut relay = gated_relay(&db, options.clone()).await;
    let swept = (relay.claimed)();

    let id = enqueue(&db, Leased { key: None, n: 1 }).await;
    // Right after the COMMIT, the row is already leased, at attempt 1: another relay sweeping
    // the table takes nothing.
    let rows = db.rows(Leased::TOPIC).await;
    assert_eq!(
        rows,
        [Row {
            id,
            attempts: 1,
            leased: true,
            last_error: None,
        }],
        "{}",
        D::NAME
    );
    let (sink, _received) = ChannelSink::new();
    let mut no_fast_path = options.clone();
    no_fast_path.fast_path = false;
    let other = Relay::new(db.pool().clone(), sink, no_fast_path);
    assert_eq!(other.drain_once().await.unwrap(), Drained::default());
    // The relay publishes it from memory: no claim.
    assert_eq!(relay.arrived.recv().await, Some(1));
    relay.gate.add_permits(1);
    let delivery = relay.taken.recv().await.unwrap();
    assert_eq!((delivery.id, delivery.attempts), (id, 1), "{}", D::NAME);
    assert_eq!(
        delivery.payload,
        r#"{"key":null,"n":1}"#,
        "{}: the payload as it was enqueued",
        D::NAME
    );
    wait_for(|| async { db.rows(Leased::TOPIC).await.is_empty() }).await;
    assert_eq!(
        (relay.claimed)(),
        swept,
        "{}: published without a claim",
        D::NAME
    );

    // A keyed job waits for its key's older jobs, which only a claim checks: it is written
    // unclaimed, and the relay claims it by id.
    let keyed = enqueue(
        &db,
        Leased {
            key: Some("k".to_owned()),
            n: 2,
        },
    )
    .await;
    assert_eq!(relay.arrived.recv().await, Some(1));
    relay.gate.add_permits(1);
    let delivery = relay.taken.recv().await.unwrap();
    assert_eq!((delivery.id, delivery.attempts), (keyed, 1), "{}", D::NAME);
    assert_eq!(
        (relay.claimed)(),
        swept + 1,
        "{}: the keyed job was claimed",
        D::NAME
    );
    wait_for(|| async { db.rows(Leased::TOPIC).await.is_empty() }).await;
    relay.stop.send(()).unwrap();
    relay.running.await.unwrap();
}

async fn shutdown_hands_back_the_committed_jobs_still_queued<D: OutboxDb>(db: D) {
    let _turn = ONE_CASE_AT_A_TIME.lock().await;
    let mut options = options(Leased::TOPIC);
    options.poll = Duration::from_secs(3600);
    options.shutdown_grace = Duration::from_millis(50);
    let mut relay = gated_relay(&db, options).await;
    let first = enqueue(&db, Leased { key: None, n: 1 }).await;
    // The relay is publishing the first job, and the broker does not answer: the second
    // waits in the relay's queue, its row leased to the relay.
    assert_eq!(relay.arrived.recv().await, Some(1));
    let second = enqueue(&db, Leased { key: None, n: 2 }).await;
    relay.stop.send(()).unwrap();
    relay.running.await.unwrap();
    // Both handed back: claimable at once, the attempt not counted.
    let mut rows = db.rows(Leased::TOPIC).await;
    rows.sort_by_key(|row| row.id);
    let handed_back = |id| Row {
        id,
        attempts: 0,
        leased: false,
        last_error: None,
    };
    assert_eq!(
        rows,
        [handed_back(first), handed_back(second)],
        "{}",
        D::NAME
    );
    db.forget(Leased::TOPIC).await;
}

async fn a_committed_job_that_waited_past_half_its_lease_is_handed_back<D: OutboxDb>(db: D) {
    let _turn = ONE_CASE_AT_A_TIME.lock().await;
    let mut options = options(Leased::TOPIC);
    options.poll = Duration::from_secs(3600);
    options.lease = Duration::from_millis(400);
    let mut relay = gated_relay(&db, options).await;
    let first = enqueue(&db, Leased { key: None, n: 1 }).await;
    // The relay is publishing the first job, and the broker does not answer: the second
    // waits in the relay's queue, leased from its INSERT on.
    assert_eq!(relay.arrived.recv().await, Some(1));
    let second = enqueue(&db, Leased { key: None, n: 2 }).await;
    // Past half its lease (200 ms) another relay may soon claim it: once the broker takes the
    // first job, the relay hands the second back instead of publishing it from memory.
    tokio::time::sleep(Duration::from_millis(300)).await;
    relay.gate.add_permits(1);
    assert_eq!(relay.taken.recv().await.map(|d| d.id), Some(first));
    let handed_back = Row {
        id: second,
        attempts: 0,
        leased: false,
        last_error: None,
    };
    wait_for(|| async { db.rows(Leased::TOPIC).await == [handed_back.clone()] }).await;
    relay.stop.send(()).unwrap();
    relay.running.await.unwrap();
    assert!(
        relay.taken.try_recv().is_err(),
        "{}: only the first job was published",
        D::NAME
    );
    db.forget(Leased::TOPIC).await;
}

/// Postgres: a COMMIT the server refuses after the jobs were written (a deferred unique
/// constraint checked at COMMIT) hands nothing to the fast path: the relay's next job is the
/// next committed one.
#[tokio::test]
async fn a_refused_commit_hands_nothing_to_the_fast_path() {
    let Some(db) = oncommit_tests::outbox::postgres().await else {
        return;
    };
    let _turn = ONE_CASE_AT_A_TIME.lock().await;
    let mut options = options(Leased::TOPIC);
    options.poll = Duration::from_secs(3600);
    let mut relay = gated_relay(&db, options).await;
    let table = oncommit_tests::unique_name("relay_refused_commit");
    let mut conn = db.writer().await;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE TABLE {table} (k int UNIQUE DEFERRABLE INITIALLY DEFERRED)"
    )))
    .execute(&mut **conn)
    .await
    .unwrap();
    let refused = conn
        .atomic_async(async |conn| {
            sqlx::raw_sql(AssertSqlSafe(format!(
                "INSERT INTO {table} VALUES (1), (1)"
            )))
            .execute(conn.executor())
            .await?;
            Ok::<_, oncommit::BoxError>(conn.enqueue_job(&Leased { key: None, n: -1 })?)
        })
        .await;
    assert!(refused.is_err(), "the COMMIT is refused");
    let committed = enqueue(&db, Leased { key: None, n: 1 }).await;
    assert_eq!(relay.arrived.recv().await, Some(1));
    relay.gate.add_permits(1);
    assert_eq!(relay.taken.recv().await.map(|d| d.id), Some(committed));
    wait_for(|| async { db.rows(Leased::TOPIC).await.is_empty() }).await;
    relay.stop.send(()).unwrap();
    relay.running.await.unwrap();
    assert!(
        relay.taken.try_recv().is_err(),
        "nothing else was published"
    );
    sqlx::raw_sql(AssertSqlSafe(format!("DROP TABLE {table}")))
        .execute(&mut **conn)
        .await
        .unwrap();
}

/// A broker that takes a few milliseconds per batch (under steady commits, the fast path's
/// queue is never empty when the relay looks at it), and refuses the job `n = -7` at its
/// first attempt.
struct Slow(ChannelSink);

impl Sink for Slow {
    async fn publish<'a>(&'a self, batch: &'a [Delivery]) -> Result<(), BoxError> {
        tokio::time::sleep(Duration::from_millis(5)).await;
        if batch
            .iter()
            .any(|d| d.payload.contains("-7") && d.attempts == 1)
        {
            return Err("refused at the first attempt (injected)".into());
        }
        self.0.publish(batch).await
    }
}

async fn steady_commits_do_not_starve_the_sweep<D: OutboxDb>(db: D) {
    let _turn = ONE_CASE_AT_A_TIME.lock().await;
    job!(Ping, "relay_steady");
    db.forget(Ping::TOPIC).await;
    let (sink, received) = ChannelSink::new();
    let mut options = options(Ping::TOPIC);
    options.poll = Duration::from_millis(100);
    options.backoff = Duration::from_millis(10);
    let relay = Relay::new(db.pool().clone(), Slow(sink), options);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(relay.run(async {
        let _ = stopped.await;
    }));
    // Writers keep the fast path busy; a job its first publish fails waits for its retry,
    // which only a sweep takes.
    let writing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let (db, writing) = (db.clone(), writing.clone());
            tokio::spawn(async move {
                let mut conn = db.writer().await;
                while writing.load(std::sync::atomic::Ordering::Relaxed) {
                    conn.atomic_async(async |conn| conn.enqueue_job(&Ping { n: 0 }).map(drop))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    let mut conn = db.writer().await;
    let retried = conn
        .atomic_async(async |conn| Ok::<_, AppError>(conn.enqueue_job(&Ping { n: -7 })?))
        .await
        .unwrap();
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !seen.iter().any(|(id, _)| *id == retried) {
        assert!(
            std::time::Instant::now() < deadline,
            "{}: the retried job was not delivered within 30 s",
            D::NAME
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
        seen.extend(received.try_iter().map(|d| (d.id, d.attempts)));
    }
    writing.store(false, std::sync::atomic::Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    stop.send(()).unwrap();
    running.await.unwrap();
    assert!(
        seen.contains(&(retried, 2)),
        "{}: delivered at its second attempt",
        D::NAME
    );
    db.forget(Ping::TOPIC).await;
}

/// diesel's Postgres connection writes the jobs the fast path takes leased to it, as sqlx's
/// do: the relay publishes them with no claim.
#[tokio::test]
async fn diesel_postgres_writes_the_fast_path_s_jobs_leased() {
    use diesel::Connection as _;
    let (Some(db), Some(url)) = (
        oncommit_tests::outbox::postgres().await,
        oncommit_tests::service_url("DATABASE_URL"),
    ) else {
        return;
    };
    let _turn = ONE_CASE_AT_A_TIME.lock().await;
    let mut options = options(Leased::TOPIC);
    options.poll = Duration::from_secs(3600);
    let mut relay = gated_relay(&db, options).await;
    let swept = (relay.claimed)();
    let id = tokio::task::spawn_blocking(move || {
        let mut conn = oncommit::Conn::new(diesel::PgConnection::establish(&url).unwrap());
        conn.atomic(|conn| Ok::<_, AppError>(conn.enqueue_job(&Leased { key: None, n: 1 })?))
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(
        db.rows(Leased::TOPIC).await,
        [Row {
            id,
            attempts: 1,
            leased: true,
            last_error: None,
        }]
    );
    assert_eq!(relay.arrived.recv().await, Some(1));
    relay.gate.add_permits(1);
    let delivery = relay.taken.recv().await.unwrap();
    assert_eq!((delivery.id, delivery.attempts), (id, 1));
    wait_for(|| async { db.rows(Leased::TOPIC).await.is_empty() }).await;
    assert_eq!((relay.claimed)(), swept, "published without a claim");
    relay.stop.send(()).unwrap();
    relay.running.await.unwrap();
}
