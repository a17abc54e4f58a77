//! Crash safety of the outbox, against the real databases and brokers: child processes commit
//! transactions with durable jobs and are killed with SIGKILL at random points, after COMMIT
//! before any relay, mid-batch, and after the broker took a batch but before its DELETE; the
//! broker goes down for a while; a poison job; three relays at once. After each, a fresh
//! relay drains the table; every committed job is in the broker's stream or queue, none of a
//! rolled-back transaction is, and the table is empty. Redis and NATS hold each job once (the
//! sink, or the stream, dedups by message id); RabbitMQ keeps no message ids, so its queue
//! may hold copies of the batches in flight at the kills, at most that many, each with its
//! job's message id.
//!
//! Each database runs the scenarios with Redis Streams (`REDIS_URL`), with NATS JetStream
//! (`NATS_URL`) and with RabbitMQ (`RABBITMQ_URL`); Postgres (`DATABASE_URL`) and MariaDB
//! (`MYSQL_URL`) when set, SQLite always. `scripts/crash-test` runs the same scenarios with
//! more transactions.

use std::path::PathBuf;

use oncommit_tests::crash::{Broker, Dialect, all_scenarios};
use oncommit_tests::outbox::{MariaDbOutbox, PostgresOutbox, SqliteOutbox};
use oncommit_tests::service_url;

/// Transactions per child.
const K: i64 = 150;

fn child() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_crash_child"))
}

fn redis() -> Option<Broker> {
    service_url("REDIS_URL").map(Broker::Redis)
}

fn nats() -> Option<Broker> {
    service_url("NATS_URL").map(Broker::Nats)
}

fn rabbitmq() -> Option<Broker> {
    service_url("RABBITMQ_URL").map(Broker::RabbitMq)
}

async fn postgres(broker: Option<Broker>) {
    let (Some(url), Some(broker)) = (service_url("DATABASE_URL"), broker) else {
        return;
    };
    let db = PostgresOutbox::connect(&url).await.expect("Postgres");
    all_scenarios(db, Dialect::Postgres, &url, &broker, child(), K).await;
}

async fn mariadb(broker: Option<Broker>) {
    let (Some(url), Some(broker)) = (service_url("MYSQL_URL"), broker) else {
        return;
    };
    let db = MariaDbOutbox::connect(&url).await.expect("MariaDB");
    all_scenarios(db, Dialect::MariaDb, &url, &broker, child(), K).await;
}

async fn sqlite(broker: Option<Broker>) {
    let Some(broker) = broker else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("crash.db");
    let db = SqliteOutbox::open(&path).await.expect("SQLite");
    let path = path.to_str().expect("a UTF-8 path").to_owned();
    all_scenarios(db, Dialect::Sqlite, &path, &broker, child(), K).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_redis() {
    postgres(redis()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_redis() {
    mariadb(redis()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_redis() {
    sqlite(redis()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_nats() {
    postgres(nats()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_nats() {
    mariadb(nats()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_nats() {
    sqlite(nats()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_rabbitmq() {
    postgres(rabbitmq()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_rabbitmq() {
    mariadb(rabbitmq()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_rabbitmq() {
    sqlite(rabbitmq()).await;
}
