//! The NATS JetStream sink against the local NATS server (`NATS_URL`): what a stream holds is
//! read back message by message on a connection of its own. Each message carries its message
//! id as `Nats-Msg-Id` and its payload byte for byte; a batch published twice is stored once
//! (the duplicate acks count as delivered), also when the context's window of acks in flight
//! is smaller than the batch; a subject no stream covers is an error, and the
//! relay keeps those jobs until a stream exists; end to end, a relay delivers exactly the
//! committed jobs of SQLite, Postgres and MariaDB. Each test has a stream of its own, deleted
//! at its end.

use std::borrow::Cow;
use std::time::Duration;

use async_nats::jetstream::context::{ContextBuilder, PublishErrorKind};
use oncommit::outbox::Job;
use oncommit::outbox::relay::{Drained, Relay, RelayOptions};
use oncommit::outbox::sink::{Delivery, NatsJetStream, NatsPublishError, Sink};
use oncommit_tests::jetstream::{self, Stored, TestStream};
use oncommit_tests::outbox::OutboxDb;
use oncommit_tests::race::AppError;
use uuid::Uuid;

/// The sink's context and the reader's, each on a connection of its own.
async fn nats() -> Option<(
    async_nats::jetstream::Context,
    async_nats::jetstream::Context,
)> {
    let sink = jetstream::connect().await?;
    let reader = jetstream::connect().await?;
    Some((sink, reader))
}

fn delivery(topic: &str, payload: &str) -> Delivery {
    Delivery {
        id: Uuid::now_v7(),
        topic: topic.to_owned(),
        payload: payload.to_owned(),
        attempts: 1,
        key: None,
    }
}

/// What the stream should hold for `d`, published by `sink`.
fn stored(sink: &NatsJetStream, d: &Delivery) -> Stored {
    Stored {
        subject: sink.subject(&d.topic),
        id: Some(d.id.to_string()),
        payload: d.payload.as_bytes().to_vec(),
        key: d.key.clone(),
    }
}

#[tokio::test]
async fn a_keyed_job_carries_its_key_in_a_header() {
    let Some((context, reader)) = nats().await else {
        return;
    };
    let stream = TestStream::named("nats_keyed");
    stream.create(&reader).await;
    let sink = NatsJetStream::new(context).subject_prefix(&stream.prefix);
    let keyed = Delivery {
        key: Some("account-7".to_owned()),
        ..delivery("nats_keyed", r#"{"n":1}"#)
    };
    let plain = delivery("nats_keyed", r#"{"n":2}"#);
    sink.publish(&[keyed.clone(), plain.clone()]).await.unwrap();
    let held = stream.messages(&reader).await;
    assert_eq!(held, [stored(&sink, &keyed), stored(&sink, &plain)]);
    assert_eq!(held[0].key.as_deref(), Some("account-7"));
    stream.delete(&reader).await;
}

#[tokio::test]
async fn the_stream_holds_each_message_with_its_id_and_payload() {
    let Some((context, reader)) = nats().await else {
        return;
    };
    let stream = TestStream::named("nats_exact");
    stream.create(&reader).await;
    let sink = NatsJetStream::new(context).subject_prefix(&stream.prefix);
    // Payloads as the outbox keeps them: JSON text, whitespace and non-ASCII included.
    let batch = [
        delivery("welcome", r#"{"user_id":1}"#),
        delivery(
            "invoice",
            r#"{ "total" : 12.50, "note": "Zoë — ünïcödé ✓" }"#,
        ),
        delivery("welcome", r#"{"user_id":2,"tags":["a","b"]}"#),
        delivery("welcome.eu", "{}"),
    ];
    sink.publish(&batch).await.unwrap();

    let held = stream.messages(&reader).await;
    assert_eq!(
        held,
        batch.iter().map(|d| stored(&sink, d)).collect::<Vec<_>>()
    );
    assert_eq!(held[3].subject, format!("{}welcome.eu", stream.prefix));
    stream.delete(&reader).await;
}

#[tokio::test]
async fn a_batch_published_twice_is_stored_once() {
    let Some((context, reader)) = nats().await else {
        return;
    };
    let stream = TestStream::named("nats_twice");
    stream.create(&reader).await;
    let sink = NatsJetStream::new(context).subject_prefix(&stream.prefix);
    let batch = [
        delivery("welcome", r#"{"n":1}"#),
        delivery("invoice", r#"{"n":2}"#),
        delivery("welcome", r#"{"n":3}"#),
    ];
    sink.publish(&batch).await.unwrap();
    // A relay that died before deleting the rows publishes the batch again; a failed batch is
    // published again message by message: every ack is a duplicate, and each counts as
    // delivered.
    sink.publish(&batch).await.unwrap();
    sink.publish(&batch[1..]).await.unwrap();
    for d in &batch {
        sink.publish(std::slice::from_ref(d)).await.unwrap();
    }
    let held = stream.messages(&reader).await;
    assert_eq!(
        held.len(),
        batch.len(),
        "each message stored once: {held:?}"
    );
    assert_eq!(
        held,
        batch.iter().map(|d| stored(&sink, d)).collect::<Vec<_>>()
    );
    // The server itself answers a republished id as a duplicate.
    let ack = reader
        .send_publish(
            sink.subject(&batch[0].topic),
            async_nats::jetstream::message::PublishMessage::build()
                .message_id(batch[0].id.to_string())
                .payload(batch[0].payload.clone().into()),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(ack.duplicate, "{ack:?}");
    assert_eq!(stream.messages(&reader).await.len(), batch.len());
    stream.delete(&reader).await;
}

#[tokio::test]
async fn a_subject_no_stream_covers_is_an_error() {
    let Some((context, reader)) = nats().await else {
        return;
    };
    let stream = TestStream::named("nats_uncovered");
    stream.create(&reader).await;
    // Topics under the stream's prefix are covered; `<name>_nowhere.…` is covered by none.
    let sink = NatsJetStream::new(context).map_subjects({
        let (covered, nowhere) = (stream.prefix.clone(), format!("{}_nowhere.", stream.name));
        move |topic| match topic.strip_prefix("lost:") {
            Some(topic) => format!("{nowhere}{topic}"),
            None => format!("{covered}{topic}"),
        }
    });
    let batch = [
        delivery("welcome", r#"{"n":1}"#),
        delivery("lost:welcome", r#"{"n":2}"#),
        delivery("welcome", r#"{"n":3}"#),
    ];
    let error = sink.publish(&batch).await.unwrap_err();
    let error = error
        .downcast_ref::<NatsPublishError>()
        .unwrap_or_else(|| panic!("a NatsPublishError: {error}"));
    assert_eq!(error.batch, 3);
    assert_eq!(error.failed.len(), 1, "{error}");
    assert_eq!(error.failed[0].id, batch[1].id);
    assert_eq!(
        error.failed[0].subject,
        format!("{}_nowhere.welcome", stream.name)
    );
    assert_eq!(
        error.failed[0].error.kind(),
        PublishErrorKind::StreamNotFound,
        "{error}"
    );
    assert!(error.to_string().contains(&batch[1].id.to_string()));
    // The others of the batch are stored.
    assert_eq!(
        stream.messages(&reader).await,
        [stored(&sink, &batch[0]), stored(&sink, &batch[2])]
    );
    stream.delete(&reader).await;
}

#[tokio::test]
async fn a_batch_larger_than_the_contexts_ack_window_is_published() {
    let Some((context, reader)) = nats().await else {
        return;
    };
    let stream = TestStream::named("nats_window");
    stream.create(&reader).await;
    let mut expected = Vec::new();
    // Two acks in flight at most: waiting for room (backpressure) or refused at once.
    for backpressure in [true, false] {
        let small = ContextBuilder::new()
            .max_ack_inflight(2)
            .backpressure_on_inflight(backpressure)
            .build(context.client());
        let sink = NatsJetStream::new(small).subject_prefix(&stream.prefix);
        let batch: Vec<Delivery> = (0..25)
            .map(|n| {
                delivery(
                    "welcome",
                    &format!(r#"{{"n":{n},"backpressure":{backpressure}}}"#),
                )
            })
            .collect();
        // A sink that waited for room while its own acks held it all would wait forever.
        tokio::time::timeout(Duration::from_secs(60), sink.publish(&batch))
            .await
            .expect("the publish waits on its own acks")
            .unwrap();
        expected.extend(batch.iter().map(|d| stored(&sink, d)));
        assert_eq!(
            stream.messages(&reader).await,
            expected,
            "backpressure: {backpressure}"
        );
    }
    stream.delete(&reader).await;
}

/// A job whose topic is chosen per run.
#[derive(serde::Serialize)]
struct Welcome {
    user_id: i64,
    #[serde(skip)]
    topic: String,
}

impl Job for Welcome {
    const TOPIC: &'static str = "nats_welcome";

    fn topic(&self) -> Cow<'static, str> {
        Cow::Owned(self.topic.clone())
    }
}

/// Commits `count` transactions, each inserting `user_id` into `table` and enqueuing a
/// [`Welcome`] to `topic`; every tenth rolls back. Returns what should reach the stream.
async fn commit_welcomes<D: OutboxDb>(
    db: &D,
    table: &str,
    topic: &str,
    count: i64,
    sink: &NatsJetStream,
) -> Vec<Stored> {
    let mut conn = db.writer().await;
    let mut expected = Vec::new();
    for user_id in 0..count {
        let result = conn
            .atomic_async(async |conn| {
                D::insert(conn, table, user_id)
                    .await
                    .map_err(AppError::Db)?;
                let id = conn.enqueue_job(&Welcome {
                    user_id,
                    topic: topic.to_owned(),
                })?;
                if user_id % 10 == 9 {
                    return Err(AppError::Rejected);
                }
                Ok(id)
            })
            .await;
        if let Ok(id) = result {
            expected.push(Stored {
                subject: sink.subject(topic),
                id: Some(id.to_string()),
                payload: format!(r#"{{"user_id":{user_id}}}"#).into_bytes(),
                key: None,
            });
        }
    }
    expected
}

/// The `user_id`s of the stream's messages.
fn user_ids(held: &[Stored]) -> Vec<i64> {
    let mut ids: Vec<i64> = held
        .iter()
        .map(|m| {
            let value: serde_json::Value = serde_json::from_slice(&m.payload).expect("JSON");
            value["user_id"].as_i64().expect("a user_id")
        })
        .collect();
    ids.sort();
    ids
}

oncommit_tests::on_each_db!(
    oncommit_tests::outbox;
    committed_jobs_reach_the_stream,
    jobs_wait_for_a_stream_to_exist,
);

async fn committed_jobs_reach_the_stream<D: OutboxDb>(db: D) {
    let _turn = oncommit_tests::outbox::ONE_CASE_AT_A_TIME.lock().await;
    let Some((context, reader)) = nats().await else {
        return;
    };
    let stream = TestStream::named(&format!("nats_e2e_{}", D::NAME));
    stream.create(&reader).await;
    let topic = stream.name.clone();
    db.create_table(&topic).await;
    let sink = NatsJetStream::new(context).subject_prefix(&stream.prefix);
    let expected = commit_welcomes(&db, &topic, &topic, 30, &sink).await;

    let mut options = RelayOptions::default();
    options.topics = vec![topic.clone()];
    options.batch = 7;
    let drained = Relay::new(db.pool().clone(), sink, options)
        .drain()
        .await
        .unwrap();
    assert_eq!(drained.published, 27, "{}", D::NAME);
    let held = stream.messages(&reader).await;
    assert_eq!(held, expected, "{}", D::NAME);
    // What the database committed, read back from it.
    assert_eq!(user_ids(&held), db.committed(&topic).await, "{}", D::NAME);
    assert_eq!(db.rows(&topic).await, [], "{}", D::NAME);
    stream.delete(&reader).await;
}

async fn jobs_wait_for_a_stream_to_exist<D: OutboxDb>(db: D) {
    let _turn = oncommit_tests::outbox::ONE_CASE_AT_A_TIME.lock().await;
    let Some((context, reader)) = nats().await else {
        return;
    };
    let stream = TestStream::named(&format!("nats_late_{}", D::NAME));
    let topic = stream.name.clone();
    db.create_table(&topic).await;
    let sink = NatsJetStream::new(context).subject_prefix(&stream.prefix);
    let expected = commit_welcomes(&db, &topic, &topic, 5, &sink).await;

    // No stream covers the subject yet: the relay is told, and keeps the rows.
    let mut options = RelayOptions::default();
    options.topics = vec![topic.clone()];
    let relay = Relay::new(db.pool().clone(), sink, options);
    let drained = relay.drain().await.unwrap();
    assert_eq!(
        drained,
        Drained {
            retried: 5,
            ..Drained::default()
        },
        "{}",
        D::NAME
    );
    let rows = db.rows(&topic).await;
    assert_eq!(rows.len(), 5, "{}", D::NAME);
    for row in &rows {
        let error = row.last_error.as_deref().unwrap_or_default();
        assert!(
            error.contains("no stream found for given subject"),
            "{}: {error}",
            D::NAME
        );
    }
    // The first messages, published again one by one, failed with errors of their own.
    assert!(
        rows.iter().any(|row| {
            let error = row.last_error.as_deref().unwrap_or_default();
            error.starts_with("JetStream did not store 1 of 1 messages")
                && error.contains(&row.id.to_string())
        }),
        "{}: {rows:?}",
        D::NAME
    );

    // Once the stream exists (and the backoff is over), they are delivered.
    stream.create(&reader).await;
    db.end_leases(&topic).await;
    assert_eq!(relay.drain().await.unwrap().published, 5, "{}", D::NAME);
    assert_eq!(stream.messages(&reader).await, expected, "{}", D::NAME);
    assert_eq!(db.rows(&topic).await, [], "{}", D::NAME);
    stream.delete(&reader).await;
}
