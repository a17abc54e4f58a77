//! `scripts/crash-test`: the outbox's crash scenarios (see `oncommit_tests::crash`) on
//! Postgres (`DATABASE_URL`), and on MariaDB (`MYSQL_URL`) and SQLite, with Redis at
//! `REDIS_URL`, with NATS JetStream at `NATS_URL` when `ONCOMMIT_CRASH_BROKER=nats`, or with
//! RabbitMQ at `RABBITMQ_URL` when `ONCOMMIT_CRASH_BROKER=rabbitmq`; `ONCOMMIT_CRASH_K`
//! transactions per child (default 1000). Prints each scenario's figures, then, as its last
//! line,
//! `crash test: C committed, D delivered, L lost, R delivered for rolled back, X duplicates`.
//! RabbitMQ keeps no message ids, so its duplicates are checked against their bound (the
//! batches in flight at the kills), which the line before says. Exits non-zero when an
//! invariant breaks.

use std::io::Write;
use std::path::PathBuf;

use oncommit_tests::crash::{Broker, Dialect, Tally, all_scenarios};
use oncommit_tests::outbox::{MariaDbOutbox, PostgresOutbox, SqliteOutbox};

fn env(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let k: i64 = env("ONCOMMIT_CRASH_K", "1000")
        .parse()
        .expect("ONCOMMIT_CRASH_K is a number");
    let kind = env("ONCOMMIT_CRASH_BROKER", "redis");
    let url = match kind.as_str() {
        "redis" => env("REDIS_URL", "redis://127.0.0.1:6379"),
        "nats" => env("NATS_URL", "nats://127.0.0.1:4222"),
        "rabbitmq" => env("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
        other => panic!("ONCOMMIT_CRASH_BROKER is redis, nats or rabbitmq, not {other}"),
    };
    let broker = Broker::named(&kind, url).expect("a broker's name");
    let postgres = env("DATABASE_URL", "postgres://root@127.0.0.1:5432/test");
    let mariadb = std::env::var("MYSQL_URL").ok().filter(|v| !v.is_empty());
    let child = std::env::current_exe()
        .expect("this executable's path")
        .with_file_name("crash_child");
    assert!(
        child.exists(),
        "{} is missing: build it with `cargo build -p oncommit-tests --bin crash_child`",
        child.display()
    );

    let mut total = Tally::default();
    let db = PostgresOutbox::connect(&postgres)
        .await
        .expect("Postgres at DATABASE_URL");
    total.add(all_scenarios(db, Dialect::Postgres, &postgres, &broker, child.clone(), k).await);
    if let Some(url) = mariadb {
        let db = MariaDbOutbox::connect(&url)
            .await
            .expect("MariaDB at MYSQL_URL");
        total.add(all_scenarios(db, Dialect::MariaDb, &url, &broker, child.clone(), k).await);
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("crash.db");
    let db = SqliteOutbox::open(&path).await.expect("a SQLite file");
    let path: PathBuf = path;
    let path = path.to_str().expect("a UTF-8 path").to_owned();
    total.add(all_scenarios(db, Dialect::Sqlite, &path, &broker, child, k).await);
    let mut out = std::io::stdout().lock();
    if let Broker::RabbitMq(_) = broker {
        let _ = writeln!(
            out,
            "RabbitMQ keeps no message ids (no dedup in the broker): a batch published again is \
             enqueued again; {} duplicates, each with its job's message id, of at most {} \
             (the batches in flight at the kills and the cut)",
            total.duplicates, total.max_duplicates
        );
    }
    let _ = writeln!(out, "{}", total.line());
}
