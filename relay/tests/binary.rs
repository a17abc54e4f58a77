//! The `oncommit-relay` binary against the local Postgres (`DATABASE_URL`) and Redis
//! (`REDIS_URL`): started as a process with its settings in the environment and a poll of
//! one hour, it delivers jobs committed after it started because writers `NOTIFY` it after
//! their COMMIT; a second instance shares the table and each job reaches the stream once;
//! its Prometheus endpoint counts what it published; SIGTERM stops it with a success status.
//! On NATS (`NATS_URL`) it publishes to the stream it creates, and on RabbitMQ
//! (`RABBITMQ_URL`) through an exchange to the queue bound to it: a client of its own reads
//! each committed job back with its message id, and the outbox is left empty. A sink URL it
//! cannot serve, a missing exchange or a stream without a subject prefix stop it at start
//! with a message naming the setting. SIGKILLed six times while it drains a backlog to a
//! stream that does not dedup, it leaves duplicates in the stream, and a consumer that uses
//! the inbox applies each committed job exactly once (even reading the stream twice).

use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use lapin::types::FieldTable;
use oncommit::Conn;
use oncommit::outbox::{Dialect, Job, inbox, migrate, notify_relays};
use oncommit_tests::jetstream::{self, TestStream};
use oncommit_tests::outbox::ONE_CASE_AT_A_TIME;
use oncommit_tests::rabbitmq::{Broker, Message};
use oncommit_tests::{service_url, streams, unique_name};
use sqlx::{AssertSqlSafe, Connection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

#[derive(serde::Serialize)]
struct Welcome {
    n: i64,
}

impl Job for Welcome {
    const TOPIC: &'static str = "relay_binary_welcome";
}

/// A job of the NATS case.
#[derive(serde::Serialize)]
struct ToNats {
    n: i64,
}

impl Job for ToNats {
    const TOPIC: &'static str = "relay_binary_nats";
}

/// A job of the RabbitMQ case.
#[derive(serde::Serialize)]
struct ToRabbitMq {
    n: i64,
}

impl Job for ToRabbitMq {
    const TOPIC: &'static str = "relay_binary_rabbitmq";
}

/// A free local port for a metrics endpoint.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

/// Starts the binary on `sink` for the jobs of `topic`, with a poll of one hour unless
/// `settings` (`ONCOMMIT_*` variables, which come last) say otherwise; `metrics` is its
/// endpoint's port.
fn start(
    database: &str,
    sink: &str,
    topic: &str,
    settings: &[(&str, &str)],
    metrics: u16,
) -> Child {
    Command::new(env!("CARGO_BIN_EXE_oncommit-relay"))
        .env("ONCOMMIT_DATABASE_URL", database)
        .env("ONCOMMIT_SINK_URL", sink)
        .env("ONCOMMIT_TOPICS", topic)
        .env("ONCOMMIT_POLL", "1h")
        .env("ONCOMMIT_BATCH", "20")
        .env("ONCOMMIT_METRICS_ADDR", format!("127.0.0.1:{metrics}"))
        .env("RUST_LOG", "warn")
        .envs(settings.iter().copied())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start oncommit-relay")
}

/// Runs the binary with `settings` (`ONCOMMIT_*` variables) on an in-memory SQLite outbox,
/// expecting it to refuse to start; returns what it printed.
async fn refusal(settings: &[(&str, &str)]) -> String {
    let run = Command::new(env!("CARGO_BIN_EXE_oncommit-relay"))
        .env("ONCOMMIT_DATABASE_URL", "sqlite::memory:")
        .env("ONCOMMIT_METRICS_ADDR", "off")
        .env("RUST_LOG", "warn")
        .envs(settings.iter().copied())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("oncommit-relay gives up at start")
        .expect("run oncommit-relay");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !output.status.success(),
        "oncommit-relay started with {settings:?}: {printed}"
    );
    printed
}

/// The metrics endpoint's page, once it answers (the binary serves it before it listens
/// and sweeps: its first sweep, after its LISTEN, finds anything committed before).
async fn scrape(port: u16, relay: &mut Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = relay.try_wait() {
            panic!("oncommit-relay exited: {status}");
        }
        if let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            stream
                .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
                .await
                .expect("send the request");
            let mut page = String::new();
            if stream.read_to_string(&mut page).await.is_ok() && page.contains("200 OK") {
                return page;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the metrics endpoint never answered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The value of the counter `name` on a metrics page (0 when absent).
fn counter(page: &str, name: &str) -> f64 {
    page.lines()
        .filter(|line| line.starts_with(name))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until the stream holds `count` entries (the deadline only bounds a failure).
async fn wait_for_entries(
    reader: &mut redis::aio::MultiplexedConnection,
    stream: &str,
    count: usize,
) -> Vec<streams::Entry> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let entries = streams::entries(reader, stream).await;
        if entries.len() >= count {
            return entries;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {count} jobs reached the stream",
            entries.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `done` while the relay runs (the deadline only bounds a failure).
async fn wait_until(relay: &mut Child, what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done().await {
        if let Ok(Some(status)) = relay.try_wait() {
            panic!("oncommit-relay exited before {what}: {status}");
        }
        assert!(Instant::now() < deadline, "no {what} after a minute");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A pool on Postgres with the outbox tables, and none of `topic`'s rows left by an
/// earlier run.
async fn outbox_pool(database: &str, topic: &str) -> sqlx::PgPool {
    let pool = sqlx::PgPool::connect(database)
        .await
        .expect("connect to Postgres");
    migrate(&pool, Dialect::Postgres).await.unwrap();
    for table in ["oncommit_outbox", "oncommit_outbox_dead"] {
        sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE topic = $1"
        )))
        .bind(topic)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool
}

/// Commits one transaction per job; returns each job's message id and JSON.
async fn commit<J: Job>(pool: &sqlx::PgPool, jobs: Vec<J>) -> Vec<(String, Vec<u8>)> {
    let mut conn = Conn::new(pool.acquire().await.unwrap());
    let mut committed = Vec::new();
    for job in jobs {
        let id = conn
            .atomic_async(async |conn| conn.enqueue_job(&job))
            .await
            .unwrap();
        let json = serde_json::to_vec(&job).unwrap();
        committed.push((id.to_string(), json));
    }
    committed.sort();
    committed
}

/// The rows of `topic` in `table` (one of this file's table names: the only text spliced
/// into the SQL).
async fn rows(conn: &mut sqlx::PgConnection, table: &str, topic: &str) -> i64 {
    sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT count(*) FROM {table} WHERE topic = $1"
    )))
    .bind(topic)
    .fetch_one(conn)
    .await
    .unwrap()
}

/// Waits until the outbox, read on a connection of its own, holds no row of `topic`, and
/// checks that none went to the dead-letter table.
async fn wait_for_empty_outbox(relay: &mut Child, database: &str, topic: &str) {
    let mut conn = sqlx::PgConnection::connect(database)
        .await
        .expect("connect to Postgres");
    wait_until(relay, "empty outbox", async || {
        rows(&mut conn, "oncommit_outbox", topic).await == 0
    })
    .await;
    assert_eq!(rows(&mut conn, "oncommit_outbox_dead", topic).await, 0);
}

/// SIGTERM, then the exit status.
async fn terminate(mut child: Child) -> ExitStatus {
    let pid = child.id().expect("the relay is running").to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    assert!(sent.success());
    tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("the relay stops after SIGTERM")
        .expect("its status")
}

#[tokio::test]
async fn the_binary_wakes_on_notify_shares_the_table_and_stops_on_sigterm() {
    let (Some(database), Some(redis_url)) = (service_url("DATABASE_URL"), service_url("REDIS_URL"))
    else {
        return;
    };
    let _turn = ONE_CASE_AT_A_TIME.lock().await;
    let pool = sqlx::PgPool::connect(&database)
        .await
        .expect("connect to Postgres");
    migrate(&pool, Dialect::Postgres).await.unwrap();
    sqlx::query("DELETE FROM oncommit_outbox WHERE topic = $1")
        .bind(Welcome::TOPIC)
        .execute(&pool)
        .await
        .unwrap();
    let client = redis::Client::open(redis_url.as_str()).unwrap();
    let mut reader = client.get_multiplexed_async_connection().await.unwrap();
    let prefix = format!("oncommit:relay-binary:{}:", std::process::id());
    let stream = format!("{prefix}{}", Welcome::TOPIC);
    streams::delete(&mut reader, std::slice::from_ref(&stream)).await;

    let first_port = free_port();
    let settings = [("ONCOMMIT_STREAM_PREFIX", prefix.as_str())];
    let mut first = start(&database, &redis_url, Welcome::TOPIC, &settings, first_port);
    scrape(first_port, &mut first).await;

    // Committed after the relay started, whose next poll is an hour away: only the NOTIFY
    // after each COMMIT wakes it.
    notify_relays(true);
    let mut conn = Conn::new(pool.acquire().await.unwrap());
    let mut committed = Vec::new();
    for n in 0..50 {
        let id = conn
            .atomic_async(async |conn| conn.enqueue_job(&Welcome { n }))
            .await
            .unwrap();
        committed.push(id.to_string());
    }
    wait_for_entries(&mut reader, &stream, 50).await;
    let published = counter(
        &scrape(first_port, &mut first).await,
        "oncommit_outbox_published_total",
    );
    assert!(
        published >= 50.0,
        "the endpoint counts {published} published"
    );

    // A second instance shares the table: each job is delivered once.
    let second_port = free_port();
    let mut second = start(
        &database,
        &redis_url,
        Welcome::TOPIC,
        &settings,
        second_port,
    );
    scrape(second_port, &mut second).await;
    for n in 50..250 {
        let id = conn
            .atomic_async(async |conn| conn.enqueue_job(&Welcome { n }))
            .await
            .unwrap();
        committed.push(id.to_string());
    }
    let entries = wait_for_entries(&mut reader, &stream, 250).await;
    let mut delivered: Vec<String> = entries.into_iter().map(|e| e.id).collect();
    delivered.sort();
    committed.sort();
    assert_eq!(delivered, committed, "each committed job once");

    assert!(terminate(first).await.success());
    assert!(terminate(second).await.success());
    notify_relays(false);
    streams::delete(&mut reader, &[stream]).await;
}

#[tokio::test]
async fn the_binary_publishes_to_a_jetstream_stream_it_creates() {
    let (Some(database), Some(nats_url)) = (service_url("DATABASE_URL"), service_url("NATS_URL"))
    else {
        return;
    };
    let Some(context) = jetstream::connect_to(&nats_url).await else {
        return;
    };
    let _turn = ONE_CASE_AT_A_TIME.lock().await;
    let pool = outbox_pool(&database, ToNats::TOPIC).await;
    let committed = commit(&pool, (0..100).map(|n| ToNats { n }).collect()).await;

    // The stream is the relay's to create, over every subject under the prefix.
    let stream = TestStream::named("relay_binary");
    let settings = [
        ("ONCOMMIT_SUBJECT_PREFIX", stream.prefix.as_str()),
        ("ONCOMMIT_NATS_STREAM", stream.name.as_str()),
        ("ONCOMMIT_POLL", "100ms"),
    ];
    let port = free_port();
    let mut relay = start(&database, &nats_url, ToNats::TOPIC, &settings, port);
    wait_until(
        &mut relay,
        "100 messages in the stream",
        async || match context.get_stream(&stream.name).await {
            Ok(mut created) => created
                .info()
                .await
                .is_ok_and(|info| info.state.messages >= 100),
            Err(_) => false,
        },
    )
    .await;
    wait_for_empty_outbox(&mut relay, &database, ToNats::TOPIC).await;
    assert!(terminate(relay).await.success());

    let held = stream.messages(&context).await;
    stream.delete(&context).await;
    assert!(
        held.iter()
            .all(|m| m.subject == stream.subject(ToNats::TOPIC)),
        "every message on the topic's subject"
    );
    let mut delivered: Vec<(String, Vec<u8>)> = held
        .into_iter()
        .map(|m| (m.id.expect("a Nats-Msg-Id"), m.payload))
        .collect();
    delivered.sort();
    assert_eq!(delivered, committed, "each committed job once, with its id");
}

#[tokio::test]
async fn the_binary_publishes_through_a_rabbitmq_exchange() {
    let (Some(database), Some(rabbitmq_url)) =
        (service_url("DATABASE_URL"), service_url("RABBITMQ_URL"))
    else {
        return;
    };
    let Some(broker) = Broker::connect().await else {
        return;
    };
    let _turn = ONE_CASE_AT_A_TIME.lock().await;
    let pool = outbox_pool(&database, ToRabbitMq::TOPIC).await;
    let committed = commit(&pool, (0..100).map(|n| ToRabbitMq { n }).collect()).await;

    // A queue bound to the exchange by the topic: the routing key the sink publishes with.
    let exchange = unique_name("relay_binary");
    let queue = unique_name("relay_binary");
    broker.queue(&queue, FieldTable::default()).await;
    broker.exchange(&exchange).await;
    broker.bind(&queue, &exchange, ToRabbitMq::TOPIC).await;
    let settings = [
        ("ONCOMMIT_EXCHANGE", exchange.as_str()),
        ("ONCOMMIT_POLL", "100ms"),
    ];
    let port = free_port();
    let mut relay = start(&database, &rabbitmq_url, ToRabbitMq::TOPIC, &settings, port);
    let mut taken = Vec::new();
    wait_until(&mut relay, "100 messages in the queue", async || {
        taken.extend(broker.take_all(&queue).await);
        taken.len() >= 100
    })
    .await;
    wait_for_empty_outbox(&mut relay, &database, ToRabbitMq::TOPIC).await;
    assert!(terminate(relay).await.success());
    taken.extend(broker.take_all(&queue).await);
    broker.delete(&[&queue], &[&exchange]).await;

    let mut expected: Vec<Message> = committed
        .into_iter()
        .map(|(id, payload)| Message {
            id: Some(id),
            delivery_mode: Some(2),
            content_type: Some("application/json".to_owned()),
            key: None,
            payload,
        })
        .collect();
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    taken.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(taken, expected, "each committed job once, with its id");
}

#[tokio::test]
async fn a_missing_exchange_stops_the_binary_at_start() {
    let Some(rabbitmq_url) = service_url("RABBITMQ_URL") else {
        return;
    };
    let exchange = unique_name("relay_binary_missing");
    let printed = refusal(&[
        ("ONCOMMIT_SINK_URL", rabbitmq_url.as_str()),
        ("ONCOMMIT_EXCHANGE", exchange.as_str()),
    ])
    .await;
    assert!(
        printed.contains("--exchange") && printed.contains(&exchange),
        "{printed}"
    );
}

#[tokio::test]
async fn a_sink_url_it_cannot_serve_stops_the_binary_at_start() {
    for (url, says) in [
        ("kafka://127.0.0.1:9092", "redis://, nats:// or amqp://"),
        ("127.0.0.1:6379", "redis://, nats:// or amqp://"),
        ("amqps://guest:guest@127.0.0.1:5671/%2f", "TLS"),
        ("rediss://127.0.0.1:6380", "TLS"),
    ] {
        let printed = refusal(&[("ONCOMMIT_SINK_URL", url)]).await;
        assert!(
            printed.contains("--sink-url") && printed.contains(says),
            "{url}: {printed}"
        );
        assert!(!printed.contains("guest:guest"), "{url}: {printed}");
    }
    // A database it cannot serve, checked before the broker is reached: the message names
    // the flag and the scheme, never the credentials.
    let printed = refusal(&[
        (
            "ONCOMMIT_DATABASE_URL",
            "oracle://scott:tiger@127.0.0.1:1521/orcl",
        ),
        ("ONCOMMIT_SINK_URL", "redis://127.0.0.1:1"),
    ])
    .await;
    assert!(
        printed.contains("--database-url") && printed.contains("oracle://"),
        "{printed}"
    );
    assert!(!printed.contains("tiger"), "{printed}");
    // Checked before connecting: no NATS needed.
    let printed = refusal(&[
        ("ONCOMMIT_SINK_URL", "nats://127.0.0.1:1"),
        ("ONCOMMIT_NATS_STREAM", "JOBS"),
        ("ONCOMMIT_SUBJECT_PREFIX", "jobs"),
    ])
    .await;
    assert!(
        printed.contains("--nats-stream") && printed.contains("--subject-prefix"),
        "{printed}"
    );
}

/// A job of the SIGKILL case.
#[derive(serde::Serialize)]
struct Welcomed {
    n: i64,
}

impl Job for Welcomed {
    const TOPIC: &'static str = "relay_binary_sigkill";
}

/// The consumer's handling of one message: its id recorded in the inbox and its effect (a row
/// of `relay_binary_effects`) written in one transaction; `false` when the inbox had the id.
async fn handle(pool: &sqlx::PgPool, id: uuid::Uuid, payload: &[u8]) -> bool {
    let n = serde_json::from_slice::<serde_json::Value>(payload).unwrap()["n"]
        .as_i64()
        .expect("the job's n");
    let mut conn = Conn::new(pool.acquire().await.unwrap());
    conn.atomic_async(async |conn| {
        if !inbox::receive(conn.executor(), id).await? {
            return Ok::<_, oncommit::BoxError>(false);
        }
        sqlx::query("INSERT INTO relay_binary_effects (message_id, n) VALUES ($1, $2)")
            .bind(id)
            .bind(n)
            .execute(conn.executor())
            .await?;
        Ok(true)
    })
    .await
    .expect("the handling commits")
}

#[tokio::test]
async fn a_consumer_with_the_inbox_applies_each_job_once_across_sigkills_of_the_relay() {
    let (Some(database), Some(nats_url)) = (service_url("DATABASE_URL"), service_url("NATS_URL"))
    else {
        return;
    };
    let Some(context) = jetstream::connect_to(&nats_url).await else {
        return;
    };
    let _turn = ONE_CASE_AT_A_TIME.lock().await;
    let pool = outbox_pool(&database, Welcomed::TOPIC).await;
    inbox::migrate(&pool, Dialect::Postgres).await.unwrap();
    sqlx::raw_sql(
        "DROP TABLE IF EXISTS relay_binary_effects;
         CREATE TABLE relay_binary_effects (message_id uuid NOT NULL, n bigint NOT NULL)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let committed = commit(&pool, (0..3000).map(|n| Welcomed { n }).collect()).await;

    // A stream that forgets message ids after half a second: a batch the relay published and
    // did not delete before its SIGKILL is published again once its lease (1 s) expires, and
    // stored again, as a broker without dedup would.
    let stream = TestStream::named("relay_binary_sigkill");
    context
        .create_stream(async_nats::jetstream::stream::Config {
            name: stream.name.clone(),
            subjects: vec![format!("{}>", stream.prefix)],
            duplicate_window: Duration::from_millis(500),
            max_age: Duration::from_secs(60 * 60),
            ..Default::default()
        })
        .await
        .expect("create the stream");
    let settings = [
        ("ONCOMMIT_SUBJECT_PREFIX", stream.prefix.as_str()),
        ("ONCOMMIT_LEASE", "1s"),
        ("ONCOMMIT_POLL", "100ms"),
        ("ONCOMMIT_BATCH", "10"),
    ];
    let mut reader = sqlx::PgConnection::connect(&database).await.unwrap();
    // SIGKILLed at six points of its drain (once it serves its metrics, it sweeps), then left
    // to finish.
    let mut left = Vec::new();
    for (round, after_ms) in [20, 60, 100, 40, 80, 120].into_iter().enumerate() {
        let port = free_port();
        let mut relay = start(&database, &nats_url, Welcomed::TOPIC, &settings, port);
        scrape(port, &mut relay).await;
        tokio::time::sleep(Duration::from_millis(after_ms)).await;
        if let Ok(Some(status)) = relay.try_wait() {
            panic!("oncommit-relay exited by itself in round {round}: {status}");
        }
        relay.start_kill().expect("SIGKILL the relay");
        relay.wait().await.expect("the killed relay's status");
        left.push(rows(&mut reader, "oncommit_outbox", Welcomed::TOPIC).await);
    }
    let port = free_port();
    let mut relay = start(&database, &nats_url, Welcomed::TOPIC, &settings, port);
    scrape(port, &mut relay).await;
    wait_for_empty_outbox(&mut relay, &database, Welcomed::TOPIC).await;
    assert!(terminate(relay).await.success());

    // The consumer reads the stream, then reads it all again (restarted without its acks).
    let held = stream.messages(&context).await;
    stream.delete(&context).await;
    let mut handled = 0;
    for _ in 0..2 {
        for message in &held {
            let id = uuid::Uuid::parse_str(message.id.as_deref().expect("a Nats-Msg-Id")).unwrap();
            handled += usize::from(handle(&pool, id, &message.payload).await);
        }
    }
    let effects: Vec<(uuid::Uuid, i64)> = sqlx::query_as(
        "SELECT message_id, count(*) FROM relay_binary_effects GROUP BY message_id ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let distinct: std::collections::HashSet<&str> =
        held.iter().filter_map(|m| m.id.as_deref()).collect();
    println!(
        "after 6 SIGKILLs of the relay (rows left after each: {left:?}): {} committed, {} \
         messages in the stream ({} duplicates), each delivered twice to the consumer; \
         {handled} effects applied, {} duplicate effects",
        committed.len(),
        held.len(),
        held.len() - distinct.len(),
        effects.iter().filter(|(_, count)| *count > 1).count(),
    );
    let mut applied: Vec<String> = effects.iter().map(|(id, _)| id.to_string()).collect();
    applied.sort();
    let committed_ids: Vec<String> = committed.into_iter().map(|(id, _)| id).collect();
    assert_eq!(applied, committed_ids, "every committed job applied");
    assert!(
        effects.iter().all(|(_, count)| *count == 1),
        "no job applied twice"
    );
    assert_eq!(handled, committed_ids.len());
    sqlx::raw_sql("DROP TABLE relay_binary_effects")
        .execute(&pool)
        .await
        .unwrap();
}
