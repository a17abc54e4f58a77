//! The RabbitMQ sink against the local RabbitMQ (`RABBITMQ_URL`): what a queue holds is read
//! back with `basic.get` on a connection of its own. A confirmed batch is in its queue, in
//! order, each message with its id, persistent, its payload byte for byte and its key header;
//! a message returned for want of a queue, or nacked by a full queue, is an `Err` that names
//! it; end to end, a relay delivers exactly the committed jobs of SQLite, Postgres and MariaDB,
//! and a job nobody routes stays in the outbox until a queue is bound.

use std::borrow::Cow;
use std::collections::BTreeMap;

use lapin::types::{AMQPValue, FieldTable};
use oncommit::BoxError;
use oncommit::outbox::Job;
use oncommit::outbox::relay::{Relay, RelayOptions};
use oncommit::outbox::sink::{Delivery, RabbitMq, RabbitMqError, Refusal, Refused, Sink};
use oncommit_tests::outbox::OutboxDb;
use oncommit_tests::rabbitmq::{Broker, Message};
use oncommit_tests::race::AppError;
use oncommit_tests::unique_name;
use uuid::Uuid;

fn delivery(topic: &str, payload: &str, key: Option<&str>) -> Delivery {
    Delivery {
        id: Uuid::now_v7(),
        topic: topic.to_owned(),
        payload: payload.to_owned(),
        attempts: 1,
        key: key.map(str::to_owned),
    }
}

fn expected(batch: &[Delivery]) -> Vec<Message> {
    batch.iter().map(Message::of).collect()
}

/// The sink's error, as the relay gets it.
fn refused(error: BoxError) -> Vec<Refused> {
    match error.downcast::<RabbitMqError>() {
        Ok(error) => match *error {
            RabbitMqError::Refused { refused, .. } => refused,
            other => panic!("not a refusal: {other}"),
        },
        Err(error) => panic!("not a RabbitMQ error: {error}"),
    }
}

fn returned(id: Uuid) -> Refused {
    Refused {
        id,
        reason: Refusal::Returned {
            reply_code: 312,
            reply_text: "NO_ROUTE".to_owned(),
        },
    }
}

#[tokio::test]
async fn a_confirmed_batch_is_in_its_queue_in_order_with_its_properties() {
    let Some(broker) = Broker::connect().await else {
        return;
    };
    let queue = unique_name("oncommit_rabbitmq_batch");
    broker.queue(&queue, FieldTable::default()).await;
    let sink = broker.sink().await;

    let first = [
        delivery(&queue, r#"{"n":1}"#, None),
        delivery(
            &queue,
            r#"{"n":2,  "name":"Zoë \"q\" 🐇","x":[1, 2.50]}"#,
            Some("acct-7"),
        ),
        delivery(&queue, r#"{"n":3}"#, None),
        delivery(&queue, r#"{"n":4}"#, Some("acct-7")),
    ];
    let second: Vec<Delivery> = (5..105)
        .map(|n| {
            let key = format!("acct-{}", n % 3);
            delivery(
                &queue,
                &format!(r#"{{"n":{n}}}"#),
                (n % 2 == 0).then_some(&*key),
            )
        })
        .collect();
    sink.publish(&first).await.unwrap();
    sink.publish(&second).await.unwrap();

    let held = broker.take_all(&queue).await;
    assert_eq!(held, expected(&[&first[..], &second[..]].concat()));
    assert!(held[1].key.as_deref() == Some("acct-7") && held[0].key.is_none());
    assert!(held.iter().all(|m| m.delivery_mode == Some(2)));
    broker.delete(&[&queue], &[]).await;
}

#[tokio::test]
async fn a_message_no_queue_takes_is_an_error_naming_it() {
    let Some(broker) = Broker::connect().await else {
        return;
    };
    let queue = unique_name("oncommit_rabbitmq_routed");
    let nowhere = unique_name("oncommit_rabbitmq_nowhere");
    broker.queue(&queue, FieldTable::default()).await;
    let sink = broker.sink().await;

    let batch = [
        delivery(&queue, r#"{"n":1}"#, None),
        delivery(&nowhere, r#"{"n":2}"#, None),
        delivery(&queue, r#"{"n":3}"#, None),
        delivery(&nowhere, r#"{"n":4}"#, Some("k")),
        delivery(&queue, r#"{"n":5}"#, None),
    ];
    let error = sink.publish(&batch).await.unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains(&batch[1].id.to_string()) && text.contains("312 NO_ROUTE"),
        "{text}"
    );
    assert_eq!(
        refused(error),
        [returned(batch[1].id), returned(batch[3].id)]
    );
    // The routed ones are in the queue; the returned ones nowhere.
    assert_eq!(
        broker.take_all(&queue).await,
        expected(&[batch[0].clone(), batch[2].clone(), batch[4].clone()])
    );

    // Large batches, every third message routed nowhere: each return is matched to its own
    // message, whichever confirm lapin hands it to (a confirm of several messages at once
    // takes the returns in no particular order).
    for _ in 0..5 {
        let batch: Vec<Delivery> = (0..300)
            .map(|n| {
                let topic = if n % 3 == 1 { &nowhere } else { &queue };
                delivery(topic, &format!(r#"{{"n":{n}}}"#), None)
            })
            .collect();
        let (lost, routed): (Vec<Delivery>, Vec<Delivery>) =
            batch.iter().cloned().partition(|d| d.topic == nowhere);
        assert_eq!(
            refused(sink.publish(&batch).await.unwrap_err()),
            lost.iter().map(|d| returned(d.id)).collect::<Vec<_>>()
        );
        assert_eq!(broker.take_all(&queue).await, expected(&routed));
    }

    // A batch routed nowhere at all, then one routed whole: the channel goes on.
    let lost = [delivery(&nowhere, "{}", None)];
    assert_eq!(
        refused(sink.publish(&lost).await.unwrap_err()),
        [returned(lost[0].id)]
    );
    let after = [delivery(&queue, r#"{"n":6}"#, None)];
    sink.publish(&after).await.unwrap();
    assert_eq!(broker.take_all(&queue).await, expected(&after));
    broker.delete(&[&queue], &[]).await;
}

#[tokio::test]
async fn a_nacked_message_is_an_error_naming_it() {
    let Some(broker) = Broker::connect().await else {
        return;
    };
    // A queue that takes two messages and nacks the rest.
    let queue = unique_name("oncommit_rabbitmq_full");
    let mut arguments = FieldTable::default();
    arguments.insert("x-max-length".into(), AMQPValue::LongInt(2));
    arguments.insert(
        "x-overflow".into(),
        AMQPValue::LongString("reject-publish".into()),
    );
    broker.queue(&queue, arguments).await;
    let sink = broker.sink().await;

    let batch: Vec<Delivery> = (1..=4)
        .map(|n| delivery(&queue, &format!(r#"{{"n":{n}}}"#), None))
        .collect();
    let refused = refused(sink.publish(&batch).await.unwrap_err());
    let nacked = |d: &Delivery| Refused {
        id: d.id,
        reason: Refusal::Nacked,
    };
    assert_eq!(refused, [nacked(&batch[2]), nacked(&batch[3])]);
    assert_eq!(broker.take_all(&queue).await, expected(&batch[..2]));
    broker.delete(&[&queue], &[]).await;
}

#[tokio::test]
async fn a_named_exchange_routes_by_topic() {
    let Some(broker) = Broker::connect().await else {
        return;
    };
    let exchange = unique_name("oncommit_rabbitmq_exchange");
    let (welcome, invoice) = (
        unique_name("oncommit_rabbitmq_welcome"),
        unique_name("oncommit_rabbitmq_invoice"),
    );
    broker.exchange(&exchange).await;
    for queue in [&welcome, &invoice] {
        broker.queue(queue, FieldTable::default()).await;
    }
    broker.bind(&welcome, &exchange, "welcome").await;
    broker.bind(&invoice, &exchange, "invoice").await;
    let sink = broker.sink().await.exchange(&exchange);

    let batch = [
        delivery("welcome", r#"{"n":1}"#, None),
        delivery("invoice", r#"{"n":2}"#, Some("acct-1")),
        delivery("welcome", r#"{"n":3}"#, None),
    ];
    sink.publish(&batch).await.unwrap();
    assert_eq!(
        broker.take_all(&welcome).await,
        expected(&[batch[0].clone(), batch[2].clone()])
    );
    assert_eq!(broker.take_all(&invoice).await, expected(&batch[1..2]));
    // The topic is the routing key: a topic nothing is bound to is returned.
    let unbound = [delivery(&welcome, "{}", None)];
    assert_eq!(
        refused(sink.publish(&unbound).await.unwrap_err()),
        [returned(unbound[0].id)]
    );
    broker.delete(&[&welcome, &invoice], &[&exchange]).await;
}

/// A relay's options for one topic, retrying at once.
fn options(topic: &str, batch: usize) -> RelayOptions {
    let mut options = RelayOptions::default();
    options.topics = vec![topic.to_owned()];
    options.batch = batch;
    options.backoff = std::time::Duration::from_millis(1);
    options.max_backoff = std::time::Duration::from_millis(1);
    options
}

/// One queue per database (the three cases run at once), bound to an exchange of its own with
/// the topic as the routing key.
async fn route<D: OutboxDb>(broker: &Broker, topic: &str) -> (RabbitMq, String, String) {
    let exchange = unique_name(&format!("oncommit_rabbitmq_{}_x", D::NAME.to_lowercase()));
    let queue = unique_name(&format!("oncommit_rabbitmq_{}_q", D::NAME.to_lowercase()));
    broker.exchange(&exchange).await;
    broker.queue(&queue, FieldTable::default()).await;
    broker.bind(&queue, &exchange, topic).await;
    let sink = broker.sink().await.exchange(&exchange);
    (sink, exchange, queue)
}

oncommit_tests::on_each_db!(
    oncommit_tests::outbox;
    committed_jobs_reach_their_queue,
    keyed_jobs_reach_their_queue_in_order_with_their_key,
);

async fn committed_jobs_reach_their_queue<D: OutboxDb>(db: D) {
    let _turn = oncommit_tests::outbox::ONE_CASE_AT_A_TIME.lock().await;
    #[derive(serde::Serialize)]
    struct Welcome {
        user_id: i64,
        email: String,
    }
    impl Job for Welcome {
        const TOPIC: &'static str = "rabbitmq_end_to_end";
    }
    let Some(broker) = Broker::connect().await else {
        return;
    };
    let (sink, exchange, queue) = route::<D>(&broker, Welcome::TOPIC).await;
    db.forget(Welcome::TOPIC).await;

    let mut conn = db.writer().await;
    let mut committed = Vec::new();
    for user_id in 0..40 {
        let result = conn
            .atomic_async(async |conn| {
                let email = format!("user{user_id}@example.com");
                let id = conn.enqueue_job(&Welcome { user_id, email })?;
                if user_id % 10 == 9 {
                    return Err(AppError::Rejected);
                }
                Ok(id)
            })
            .await;
        if let Ok(id) = result {
            committed.push(Message {
                id: Some(id.to_string()),
                delivery_mode: Some(2),
                content_type: Some("application/json".to_owned()),
                key: None,
                payload: format!(r#"{{"user_id":{user_id},"email":"user{user_id}@example.com"}}"#)
                    .into_bytes(),
            });
        }
    }
    let drained = Relay::new(db.pool().clone(), sink, options(Welcome::TOPIC, 7))
        .drain()
        .await
        .unwrap();
    assert_eq!(drained.published, 36, "{}", D::NAME);
    assert_eq!(broker.take_all(&queue).await, committed, "{}", D::NAME);
    assert_eq!(db.rows(Welcome::TOPIC).await, [], "{}", D::NAME);
    broker.delete(&[&queue], &[&exchange]).await;
}

async fn keyed_jobs_reach_their_queue_in_order_with_their_key<D: OutboxDb>(db: D) {
    let _turn = oncommit_tests::outbox::ONE_CASE_AT_A_TIME.lock().await;
    #[derive(serde::Serialize)]
    struct Deposit {
        account: String,
        n: i64,
    }
    impl Job for Deposit {
        const TOPIC: &'static str = "rabbitmq_end_to_end_keyed";
        fn key(&self) -> Option<Cow<'static, str>> {
            Some(Cow::Owned(self.account.clone()))
        }
    }
    let Some(broker) = Broker::connect().await else {
        return;
    };
    let (sink, exchange, queue) = route::<D>(&broker, Deposit::TOPIC).await;
    db.forget(Deposit::TOPIC).await;

    // Each key's jobs, in the order they were committed (two to a transaction).
    let mut committed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut conn = db.writer().await;
    for n in 0..12 {
        let ids = conn
            .atomic_async(async |conn| {
                let mut ids = Vec::new();
                for account in [format!("acct-{}", n % 3), format!("acct-{}", (n + 1) % 3)] {
                    let id = conn.enqueue_job(&Deposit {
                        account: account.clone(),
                        n,
                    })?;
                    ids.push((account, id));
                }
                Ok::<_, AppError>(ids)
            })
            .await
            .unwrap();
        for (account, id) in ids {
            committed.entry(account).or_default().push(id.to_string());
        }
    }
    let drained = Relay::new(db.pool().clone(), sink, options(Deposit::TOPIC, 50))
        .drain()
        .await
        .unwrap();
    assert_eq!(drained.published, 24, "{}", D::NAME);

    let mut held: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for message in broker.take_all(&queue).await {
        assert_eq!(message.delivery_mode, Some(2), "{}", D::NAME);
        let payload: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
        let key = message.key.expect("a key header");
        assert_eq!(payload["account"], key.as_str(), "{}", D::NAME);
        held.entry(key)
            .or_default()
            .push(message.id.expect("a message id"));
    }
    assert_eq!(held, committed, "{}", D::NAME);
    assert_eq!(db.rows(Deposit::TOPIC).await, [], "{}", D::NAME);
    broker.delete(&[&queue], &[&exchange]).await;
}

/// A job whose routing key no queue is bound to is not lost: the relay records the return on
/// its row and retries it, and it is delivered once a queue is bound.
#[tokio::test]
async fn a_job_nobody_routes_stays_in_the_outbox_until_a_queue_is_bound() {
    let _turn = oncommit_tests::outbox::ONE_CASE_AT_A_TIME.lock().await;
    #[derive(serde::Serialize)]
    struct Invoice {
        n: i64,
    }
    impl Job for Invoice {
        const TOPIC: &'static str = "rabbitmq_unrouted";
    }
    let Some(broker) = Broker::connect().await else {
        return;
    };
    let Some(db) = oncommit_tests::outbox::sqlite().await else {
        return;
    };
    let exchange = unique_name("oncommit_rabbitmq_unrouted_x");
    let queue = unique_name("oncommit_rabbitmq_unrouted_q");
    broker.exchange(&exchange).await;
    broker.queue(&queue, FieldTable::default()).await;
    let sink = broker.sink().await.exchange(&exchange);

    let mut conn = db.writer().await;
    let ids = conn
        .atomic_async(async |conn| {
            let mut ids = Vec::new();
            for n in 0..3 {
                ids.push(conn.enqueue_job(&Invoice { n })?);
            }
            Ok::<_, AppError>(ids)
        })
        .await
        .unwrap();

    let relay = Relay::new(db.pool().clone(), sink, options(Invoice::TOPIC, 10));
    let drained = relay.drain().await.unwrap();
    assert_eq!((drained.published, drained.retried), (0, 3));
    let rows = db.rows(Invoice::TOPIC).await;
    assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), ids);
    for row in &rows {
        let error = row.last_error.as_deref().unwrap_or_default();
        assert!(
            error.contains(&row.id.to_string()) && error.contains("returned (312 NO_ROUTE)"),
            "{error}"
        );
    }
    assert_eq!(broker.take_all(&queue).await, []);

    broker.bind(&queue, &exchange, Invoice::TOPIC).await;
    db.end_leases(Invoice::TOPIC).await;
    let drained = relay.drain().await.unwrap();
    assert_eq!(drained.published, 3);
    let held: Vec<Option<String>> = broker
        .take_all(&queue)
        .await
        .into_iter()
        .map(|m| m.id)
        .collect();
    let ids: Vec<Option<String>> = ids.iter().map(|id| Some(id.to_string())).collect();
    assert_eq!(held, ids);
    assert_eq!(db.rows(Invoice::TOPIC).await, []);
    broker.delete(&[&queue], &[&exchange]).await;
}
