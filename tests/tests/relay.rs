//! The outbox relay on Postgres: committed jobs are delivered to the sink and deleted, jobs of
//! rolled-back transactions never exist to be delivered, two relays draining at once deliver
//! each job once, and a failed publish leaves the job to be delivered again (with its error
//! recorded). What the sink received is compared with the ids the transactions returned;
//! what is left is read from the table.
//!
//! Needs `DATABASE_URL`.

use std::collections::HashSet;

use oncommit::outbox::relay::{ChannelSink, Delivery, RelayOptions, Sink, drain_once_postgres};
use oncommit::outbox::{Dialect, Job, migrate};
use oncommit::{BoxError, Conn};
use oncommit_tests::race::AppError;
use oncommit_tests::service_url;
use sqlx::{Connection, PgConnection};

#[derive(serde::Serialize)]
struct Ping {
    n: i64,
}

const TOPIC: &str = "oncommit_relay_test";

impl Job for Ping {
    const TOPIC: &'static str = TOPIC;
}

/// A broker that is down.
struct Down;

impl Sink for Down {
    async fn publish<'a>(&'a self, _batch: &'a [Delivery]) -> Result<(), BoxError> {
        Err(BoxError::from("broker down"))
    }
}

async fn left(reader: &mut PgConnection) -> Vec<(i32, Option<String>)> {
    sqlx::query_as("SELECT attempts, last_error FROM oncommit_outbox WHERE topic = $1")
        .bind(TOPIC)
        .fetch_all(reader)
        .await
        .unwrap()
}

#[tokio::test]
async fn committed_jobs_are_delivered_once_and_deleted() {
    let Some(url) = service_url("DATABASE_URL") else {
        return;
    };
    let mut reader = PgConnection::connect(&url).await.unwrap();
    migrate(&mut reader, Dialect::Postgres).await.unwrap();
    sqlx::query("DELETE FROM oncommit_outbox WHERE topic = $1")
        .bind(TOPIC)
        .execute(&mut reader)
        .await
        .unwrap();
    let mut conn = Conn::new(PgConnection::connect(&url).await.unwrap());
    let mut committed = HashSet::new();
    for n in 0..3 {
        let ids = conn
            .atomic_async(async |conn| {
                let a = conn.enqueue_job(&Ping { n: n * 10 })?;
                let b = conn.enqueue_job(&Ping { n: n * 10 + 1 })?;
                Ok::<_, AppError>([a, b])
            })
            .await
            .unwrap();
        committed.extend(ids);
    }
    let rolled_back = conn
        .atomic_async(async |conn| {
            conn.enqueue_job(&Ping { n: 99 })?;
            Err::<(), _>(AppError::Rejected)
        })
        .await;
    assert!(rolled_back.is_err());

    // Two relays at once, small batches: each job is delivered once.
    let (sink, received) = ChannelSink::new();
    let options = RelayOptions {
        batch: 2,
        topics: vec![TOPIC.to_owned()],
        ..RelayOptions::default()
    };
    let mut one = PgConnection::connect(&url).await.unwrap();
    let mut two = PgConnection::connect(&url).await.unwrap();
    let drain = async |conn: &mut PgConnection| {
        let mut total = 0;
        loop {
            match drain_once_postgres(conn, &sink, &options).await.unwrap() {
                0 => return total,
                n => total += n,
            }
        }
    };
    let (a, b) = tokio::join!(drain(&mut one), drain(&mut two));
    assert_eq!(a + b, 6);
    let delivered: Vec<Delivery> = received.try_iter().collect();
    let ids: Vec<_> = delivered.iter().map(|d| d.id).collect();
    let unique: HashSet<_> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "no job delivered twice");
    assert_eq!(unique, committed, "exactly the committed jobs");
    assert!(
        delivered
            .iter()
            .all(|d| d.topic == TOPIC && d.attempts == 1)
    );
    assert_eq!(left(&mut reader).await, []);

    // The broker is down: the job stays, its error recorded, and is delivered next time.
    let id = conn
        .atomic_async(async |conn| Ok::<_, AppError>(conn.enqueue_job(&Ping { n: 7 })?))
        .await
        .unwrap();
    let expired = RelayOptions {
        lease: std::time::Duration::ZERO,
        ..options.clone()
    };
    assert!(
        drain_once_postgres(&mut one, &Down, &expired)
            .await
            .is_err()
    );
    assert_eq!(
        left(&mut reader).await,
        [(1, Some("broker down".to_owned()))]
    );
    assert_eq!(
        drain_once_postgres(&mut one, &sink, &options)
            .await
            .unwrap(),
        1
    );
    let again: Vec<Delivery> = received.try_iter().collect();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempts), (id, 2));
    assert_eq!(left(&mut reader).await, []);
}
