//! The RabbitMQ sink against the local RabbitMQ (`RABBITMQ_URL`): what a queue holds is read
//! back with `basic.get` on a connection of its own. A confirmed batch is in its queue, in
//! order, each message with its id, persistent, its payload byte for byte and its key header;
//! a message returned for want of a queue, or nacked by a full queue, is an `Err` that names
//! it; end to end, a relay delivers exactly the committed jobs of SQLite, Postgres and MariaDB,
//! and a job nobody routes stays in the outbox until a queue is bound. Faults, with a relay
//! running throughout: the broker unreachable for a while (through a proxy), the sink's
//! connection cut or closed by the broker, its channel closed by the broker; the same relay
//! then delivers every committed job, each once.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use lapin::ConnectionProperties;
use lapin::types::{AMQPValue, FieldTable};
use oncommit::BoxError;
use oncommit::outbox::Job;
use oncommit::outbox::relay::{Relay, RelayOptions};
use oncommit::outbox::sink::{Delivery, RabbitMq, RabbitMqError, Refusal, Refused, Sink};
use oncommit_tests::outbox::{OutboxDb, SqliteOutbox};
use oncommit_tests::proxy::Proxy;
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

/// A job of one test: its topic is the test's queue (the default exchange routes it there).
#[derive(serde::Serialize)]
struct Numbered {
    n: i64,
    #[serde(skip)]
    queue: String,
}

impl Job for Numbered {
    const TOPIC: &'static str = "rabbitmq_faults";

    fn topic(&self) -> Cow<'static, str> {
        Cow::Owned(self.queue.clone())
    }
}

/// A relay running in the background (sweeping every 20 ms, no fast path: the suite's tests
/// share the process), retrying soon and never dead-lettering, until stopped.
struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    fn start<D: OutboxDb>(db: &D, sink: RabbitMq, topic: &str) -> Running {
        let mut options = RelayOptions::default();
        options.topics = vec![topic.to_owned()];
        options.batch = 4;
        options.poll = Duration::from_millis(20);
        options.fast_path = false;
        options.backoff = Duration::from_millis(20);
        options.max_backoff = Duration::from_millis(100);
        options.max_attempts = i32::MAX;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let relay = Relay::new(db.pool().clone(), sink, options);
        let task = tokio::spawn(relay.run(async {
            stopped.await.ok();
        }));
        Running { stop, task }
    }

    /// Stops it, after checking it ran all along.
    async fn stop(self) {
        assert!(!self.task.is_finished(), "the relay stopped on its own");
        self.stop.send(()).expect("the relay is running");
        self.task.await.expect("the relay's task");
    }
}

/// Commits `count` transactions of two jobs each, numbered from `first`; every fourth rolls
/// back. Returns what the queue must hold for the committed ones, in commit order.
async fn commit<D: OutboxDb>(db: &D, queue: &str, first: i64, count: i64) -> Vec<Message> {
    let mut conn = db.writer().await;
    let mut committed = Vec::new();
    for t in first..first + count {
        let result = conn
            .atomic_async(async |conn| {
                let mut jobs = Vec::new();
                for n in [2 * t, 2 * t + 1] {
                    let queue = queue.to_owned();
                    jobs.push((n, conn.enqueue_job(&Numbered { n, queue })?));
                }
                if t % 4 == 3 {
                    return Err(AppError::Rejected);
                }
                Ok(jobs)
            })
            .await;
        if let Ok(jobs) = result {
            committed.extend(jobs.into_iter().map(|(n, id)| Message {
                id: Some(id.to_string()),
                delivery_mode: Some(2),
                content_type: Some("application/json".to_owned()),
                key: None,
                payload: format!(r#"{{"n":{n}}}"#).into_bytes(),
            }));
        }
    }
    committed
}

/// Waits (a minute at most) until `done` holds.
async fn wait_until<F: Future<Output = bool>>(what: &str, mut done: impl FnMut() -> F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within a minute: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (a minute at most) until the relay has settled every row of `queue` (each row is
/// deleted once the broker confirmed its message), then checks the queue holds `expected`,
/// each once. Retries publish in no set order, so both are sorted by message id.
async fn assert_delivered(db: &SqliteOutbox, broker: &Broker, queue: &str, expected: &[Message]) {
    wait_until("the outbox is empty", || async {
        db.rows(queue).await.is_empty()
    })
    .await;
    let mut held = broker.take_all(queue).await;
    let mut expected = expected.to_vec();
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    held.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(held, expected);
}

/// The broker is unreachable for a while (every connection cut, new ones refused, through a
/// proxy): the relay's publishes fail, each row gets its error and is retried after its
/// backoff, and once the broker is back the same relay delivers every committed job, each
/// once, as the database committed it.
#[tokio::test]
async fn a_relay_delivers_every_committed_job_once_the_broker_is_back() {
    let Some(broker) = Broker::connect().await else {
        return;
    };
    let Some(db) = oncommit_tests::outbox::sqlite().await else {
        return;
    };
    let queue = unique_name("oncommit_rabbitmq_outage");
    broker.queue(&queue, FieldTable::default()).await;
    let (proxy, proxied) = Proxy::for_url(&rabbitmq_url()).await;
    let sink = RabbitMq::connect(&proxied, ConnectionProperties::default())
        .await
        .expect("connect through the proxy");
    let relay = Running::start(&db, sink, &queue);

    let before = commit(&db, &queue, 0, 8).await;
    assert_delivered(&db, &broker, &queue, &before).await;

    proxy.set_down(true);
    let during = commit(&db, &queue, 8, 12).await;
    wait_until("every row failed twice, its error recorded", || async {
        let rows = db.rows(&queue).await;
        rows.len() == during.len()
            && rows.iter().all(|row| {
                row.attempts >= 2
                    && row
                        .last_error
                        .as_deref()
                        .is_some_and(|error| error.contains("RabbitMQ"))
            })
    })
    .await;
    assert_eq!(broker.take_all(&queue).await, []);

    proxy.set_down(false);
    assert_delivered(&db, &broker, &queue, &during).await;
    relay.stop().await;
    broker.delete(&[&queue], &[]).await;
}

/// Commits jobs for a running relay whose sink is connected through a proxy (publishing
/// through `exchange`, or the default exchange), has them delivered, then breaks the sink's
/// channel or connection with `fault` while no publish is in flight, and commits more: the
/// same relay delivers them, each once. `fault` gets the proxy, the database and the queue,
/// and returns what it committed itself, to be delivered too.
async fn recovers_from(
    name: &str,
    exchange: Option<&str>,
    fault: impl AsyncFnOnce(&Proxy, &SqliteOutbox, &str) -> Vec<Message>,
) {
    let Some(broker) = Broker::connect().await else {
        return;
    };
    let Some(db) = oncommit_tests::outbox::sqlite().await else {
        return;
    };
    let queue = unique_name("oncommit_rabbitmq_reopen");
    broker.queue(&queue, FieldTable::default()).await;
    if let Some(exchange) = exchange {
        broker.exchange(exchange).await;
        broker.bind(&queue, exchange, &queue).await;
    }
    let (proxy, proxied) = Proxy::for_url(&rabbitmq_url()).await;
    let properties = ConnectionProperties::default().with_connection_name(name.into());
    let mut sink = RabbitMq::connect(&proxied, properties)
        .await
        .expect("connect through the proxy");
    if let Some(exchange) = exchange {
        sink = sink.exchange(exchange);
    }
    let relay = Running::start(&db, sink, &queue);

    let before = commit(&db, &queue, 0, 8).await;
    assert_delivered(&db, &broker, &queue, &before).await;

    let mut after = fault(&proxy, &db, &queue).await;
    after.extend(commit(&db, &queue, 8, 8).await);
    assert_delivered(&db, &broker, &queue, &after).await;
    relay.stop().await;
    broker.delete(&[&queue], exchange.as_slice()).await;
}

/// The sink's connection dies (the proxy cuts it): the next publishes reconnect.
#[tokio::test]
async fn a_connection_lost_under_the_sink_is_reopened() {
    let name = unique_name("oncommit_rabbitmq_cut");
    recovers_from(&name, None, async |proxy, _, _| {
        proxy.cut();
        Vec::new()
    })
    .await;
}

/// RabbitMQ closes the sink's connection (`rabbitmqctl close_connection`, found by its
/// name): the next publishes reconnect.
#[tokio::test]
async fn a_connection_the_broker_closes_is_reopened() {
    let Some(rabbitmqctl) = rabbitmqctl() else {
        return;
    };
    let name = unique_name("oncommit_rabbitmq_closed");
    recovers_from(&name, None, async |_, _, _| {
        close_connection(&rabbitmqctl, &name).await;
        Vec::new()
    })
    .await;
}

/// RabbitMQ closes the sink's channel: a publish to an exchange that does not exist fails
/// with `404 NOT_FOUND`, which closes the channel. Once the exchange is back, the next
/// publishes go through a new channel, and the job that failed is delivered too.
#[tokio::test]
async fn a_channel_the_broker_closes_is_reopened() {
    let Some(broker) = Broker::connect().await else {
        return;
    };
    let name = unique_name("oncommit_rabbitmq_channel");
    let exchange = unique_name("oncommit_rabbitmq_reopen_x");
    recovers_from(&name, Some(&exchange), async |_, db, queue| {
        broker.delete(&[], &[&exchange]).await;
        let failed = commit(db, queue, 100, 1).await;
        wait_until("the publish to the missing exchange failed", || async {
            let rows = db.rows(queue).await;
            rows.len() == failed.len() && rows.iter().all(|row| row.last_error.is_some())
        })
        .await;
        broker.exchange(&exchange).await;
        broker.bind(queue, &exchange, queue).await;
        failed
    })
    .await;
}

/// `RABBITMQ_URL` (set: the broker connected already).
fn rabbitmq_url() -> String {
    oncommit_tests::service_url("RABBITMQ_URL").expect("RABBITMQ_URL")
}

/// `rabbitmqctl`, if it runs here; `None` (printed) when it does not, outside CI.
fn rabbitmqctl() -> Option<String> {
    let works = std::process::Command::new("rabbitmqctl")
        .args(["-q", "status"])
        .output()
        .is_ok_and(|output| output.status.success());
    if works {
        return Some("rabbitmqctl".to_owned());
    }
    oncommit_tests::service_unreachable("RABBITMQ_URL", &"`rabbitmqctl status` does not run here")
}

/// Closes the connection named `name` from the broker's side (`connection.close`, 320
/// `CONNECTION_FORCED`).
async fn close_connection(rabbitmqctl: &str, name: &str) {
    let listed = tokio::process::Command::new(rabbitmqctl)
        .args([
            "-q",
            "list_connections",
            "--no-table-headers",
            "pid",
            "client_properties",
        ])
        .output()
        .await
        .expect("rabbitmqctl list_connections");
    let listed = String::from_utf8(listed.stdout).expect("UTF-8");
    let pids: Vec<&str> = listed
        .lines()
        .filter(|line| line.contains(name))
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert_eq!(pids.len(), 1, "one connection named {name}: {listed}");
    let closed = tokio::process::Command::new(rabbitmqctl)
        .args(["-q", "close_connection", pids[0], "closed by the test"])
        .status()
        .await
        .expect("rabbitmqctl close_connection");
    assert!(closed.success(), "rabbitmqctl close_connection failed");
}
