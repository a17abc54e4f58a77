//! The `oncommit-relay` binary against the local Postgres (`DATABASE_URL`) and Redis
//! (`REDIS_URL`): started as a process with its settings in the environment and a poll of
//! one hour, it delivers jobs committed after it started because writers `NOTIFY` it after
//! their COMMIT; a second instance shares the table and each job reaches the stream once;
//! its Prometheus endpoint counts what it published; SIGTERM stops it with a success status.

use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use oncommit::Conn;
use oncommit::outbox::{Dialect, Job, migrate, notify_relays};
use oncommit_tests::service_url;
use oncommit_tests::streams;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

#[derive(serde::Serialize)]
struct Welcome {
    n: i64,
}

impl Job for Welcome {
    const TOPIC: &'static str = "relay_binary_welcome";
}

/// A free local port for a metrics endpoint.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

/// Starts the binary; `metrics` is its endpoint's port.
fn start(database: &str, redis: &str, prefix: &str, metrics: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_oncommit-relay"))
        .env("ONCOMMIT_DATABASE_URL", database)
        .env("ONCOMMIT_SINK_URL", redis)
        .env("ONCOMMIT_TOPICS", Welcome::TOPIC)
        .env("ONCOMMIT_STREAM_PREFIX", prefix)
        .env("ONCOMMIT_POLL", "1h")
        .env("ONCOMMIT_BATCH", "20")
        .env("ONCOMMIT_METRICS_ADDR", format!("127.0.0.1:{metrics}"))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start oncommit-relay")
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
    let mut first = start(&database, &redis_url, &prefix, first_port);
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
    let mut second = start(&database, &redis_url, &prefix, second_port);
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
