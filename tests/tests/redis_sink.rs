//! The Redis Streams sink against the local Redis (`REDIS_URL`): what the streams hold is
//! read back with `XRANGE`. A batch published twice (a relay that died before its DELETE) is
//! appended once; end to end, a relay delivers exactly the committed jobs of SQLite,
//! Postgres and MariaDB to the stream of their topic.

use oncommit::outbox::Job;
use oncommit::outbox::relay::{Relay, RelayOptions};
use oncommit::outbox::sink::{Delivery, RedisStreams, Sink};
use oncommit_tests::outbox::OutboxDb;
use oncommit_tests::race::AppError;
use oncommit_tests::service_url;
use oncommit_tests::streams::{self, Entry};
use uuid::Uuid;

/// Both connections to Redis, and a stream prefix of this process.
async fn redis() -> Option<(RedisStreams, redis::aio::MultiplexedConnection, String)> {
    let url = service_url("REDIS_URL")?;
    let client = redis::Client::open(url).expect("REDIS_URL");
    let manager = client
        .get_connection_manager()
        .await
        .expect("connect to Redis");
    let reader = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis");
    let prefix = format!("oncommit:test:{}:", std::process::id());
    let sink = RedisStreams::new(manager)
        .stream_prefix(&prefix)
        .dedup_prefix(format!("{prefix}seen:"));
    Some((sink, reader, prefix))
}

fn delivery(topic: &str, n: i64) -> Delivery {
    Delivery {
        id: Uuid::now_v7(),
        topic: topic.to_owned(),
        payload: format!(r#"{{"n":{n}}}"#),
        attempts: 1,
        key: None,
    }
}

fn entry(d: &Delivery) -> Entry {
    Entry {
        id: d.id.to_string(),
        payload: d.payload.clone(),
    }
}

#[tokio::test]
async fn a_batch_published_twice_is_appended_once() {
    let Some((sink, mut reader, _)) = redis().await else {
        return;
    };
    let (welcome, invoice) = (sink.stream("twice_welcome"), sink.stream("twice_invoice"));
    streams::delete(&mut reader, &[welcome.clone(), invoice.clone()]).await;
    let batch = [
        delivery("twice_welcome", 1),
        delivery("twice_invoice", 2),
        delivery("twice_welcome", 3),
    ];
    sink.publish(&batch).await.unwrap();
    sink.publish(&batch).await.unwrap();
    sink.publish(&batch[1..]).await.unwrap();
    assert_eq!(
        streams::entries(&mut reader, &welcome).await,
        [entry(&batch[0]), entry(&batch[2])]
    );
    assert_eq!(
        streams::entries(&mut reader, &invoice).await,
        [entry(&batch[1])]
    );
}

oncommit_tests::on_each_db!(oncommit_tests::outbox; committed_jobs_reach_their_stream);

async fn committed_jobs_reach_their_stream<D: OutboxDb>(db: D) {
    let _turn = oncommit_tests::outbox::ONE_CASE_AT_A_TIME.lock().await;
    #[derive(serde::Serialize)]
    struct Welcome {
        user_id: i64,
    }
    impl Job for Welcome {
        const TOPIC: &'static str = "redis_end_to_end";
    }
    let Some((sink, mut reader, _)) = redis().await else {
        return;
    };
    // One stream per database: the three cases run at once.
    let sink = sink.stream_prefix(format!("oncommit:test:{}:{}:", std::process::id(), D::NAME));
    let stream = sink.stream(Welcome::TOPIC);
    streams::delete(&mut reader, std::slice::from_ref(&stream)).await;
    db.forget(Welcome::TOPIC).await;

    let mut conn = db.writer().await;
    let mut expected = Vec::new();
    for user_id in 0..20 {
        let result = conn
            .atomic_async(async |conn| {
                let id = conn.enqueue_job(&Welcome { user_id })?;
                if user_id % 10 == 9 {
                    return Err(AppError::Rejected);
                }
                Ok(id)
            })
            .await;
        if let Ok(id) = result {
            expected.push(Entry {
                id: id.to_string(),
                payload: format!(r#"{{"user_id":{user_id}}}"#),
            });
        }
    }
    let mut options = RelayOptions::default();
    options.topics = vec![Welcome::TOPIC.to_owned()];
    options.batch = 7;
    let drained = Relay::new(db.pool().clone(), sink, options)
        .drain()
        .await
        .unwrap();
    assert_eq!(drained.published, 18, "{}", D::NAME);
    assert_eq!(
        streams::entries(&mut reader, &stream).await,
        expected,
        "{}",
        D::NAME
    );
    assert_eq!(db.rows(Welcome::TOPIC).await, [], "{}", D::NAME);
}
