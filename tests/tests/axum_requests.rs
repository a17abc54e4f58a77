//! Request-scoped transactions (`oncommit::axum`) with real HTTP requests to an axum server on
//! 127.0.0.1 and the local Postgres (`DATABASE_URL`): a success response commits and runs the
//! hooks, an error response or a panic rolls back and runs none, and a client that
//! disconnects mid-request does not stop the COMMIT and the hooks. What the table holds is
//! read on a connection of its own; the hooks report on a channel.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use oncommit::axum::{Tx, atomic_requests};
use oncommit_tests::{service_url, unique_name};
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool, Postgres};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc};

#[derive(Clone)]
struct App {
    table: Arc<str>,
    hooks: mpsc::UnboundedSender<i64>,
    /// The slow handler says it started, and waits to be let go.
    started: Arc<Notify>,
    go_on: Arc<Notify>,
}

/// Inserts `id` and defers reporting it.
async fn insert(app: &App, tx: &mut Tx<Postgres>, id: i64) {
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {} (id) VALUES ($1)",
        app.table
    )))
    .bind(id)
    .execute(tx.conn().executor())
    .await
    .unwrap();
    let hooks = app.hooks.clone();
    tx.conn().on_commit(move || hooks.send(id)).unwrap();
}

async fn ok(State(app): State<App>, Path(id): Path<i64>, mut tx: Tx<Postgres>) -> &'static str {
    insert(&app, &mut tx, id).await;
    "ok"
}

async fn conflict(State(app): State<App>, Path(id): Path<i64>, mut tx: Tx<Postgres>) -> StatusCode {
    insert(&app, &mut tx, id).await;
    StatusCode::CONFLICT
}

async fn panics(State(app): State<App>, Path(id): Path<i64>, mut tx: Tx<Postgres>) -> StatusCode {
    insert(&app, &mut tx, id).await;
    panic!("the handler panics after its INSERT");
}

async fn slow(State(app): State<App>, Path(id): Path<i64>, mut tx: Tx<Postgres>) -> &'static str {
    insert(&app, &mut tx, id).await;
    app.started.notify_one();
    app.go_on.notified().await;
    "ok"
}

/// Sends `POST path` and returns the status code (`None` if the server closed the
/// connection without answering).
async fn post_to(addr: std::net::SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.ok()?;
    answer.split(' ').nth(1)?.parse().ok()
}

async fn ids(reader: &mut PgConnection, table: &str) -> Vec<i64> {
    sqlx::query_scalar(AssertSqlSafe(format!("SELECT id FROM {table} ORDER BY id")))
        .fetch_all(reader)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_scoped_transactions() {
    let Some(url) = service_url("DATABASE_URL") else {
        return;
    };
    let pool = PgPool::connect(&url).await.unwrap();
    let mut reader = PgConnection::connect(&url).await.unwrap();
    let table = unique_name("axum_requests");
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE TABLE {table} (id BIGINT PRIMARY KEY)"
    )))
    .execute(&mut reader)
    .await
    .unwrap();
    let (hooks, mut ran) = mpsc::unbounded_channel();
    let app = App {
        table: table.as_str().into(),
        hooks,
        started: Arc::new(Notify::new()),
        go_on: Arc::new(Notify::new()),
    };
    let router = Router::new()
        .route("/ok/{id}", post(ok))
        .route("/conflict/{id}", post(conflict))
        .route("/panics/{id}", post(panics))
        .route("/slow/{id}", post(slow))
        .with_state(app.clone())
        .layer(axum::middleware::from_fn_with_state(
            pool.clone(),
            atomic_requests::<Postgres>,
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let hooks_ran = Arc::new(Mutex::new(Vec::new()));
    let drain = |ran: &mut mpsc::UnboundedReceiver<i64>| {
        while let Ok(id) = ran.try_recv() {
            hooks_ran.lock().unwrap().push(id);
        }
        hooks_ran.lock().unwrap().clone()
    };

    // A success response: committed, then the hook.
    assert_eq!(post_to(addr, "/ok/1").await, Some(200));
    assert_eq!(ids(&mut reader, &table).await, [1]);
    assert_eq!(drain(&mut ran), [1]);

    // An error response: rolled back, no hook.
    assert_eq!(post_to(addr, "/conflict/2").await, Some(409));
    // A panic: rolled back, no hook, a 500.
    assert_eq!(post_to(addr, "/panics/3").await, Some(500));
    assert_eq!(ids(&mut reader, &table).await, [1]);
    assert_eq!(drain(&mut ran), [1]);

    // The client disconnects while the handler runs: hyper drops the request's future, the
    // handler goes on, and its COMMIT and its hook still happen.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"POST /slow/4 HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n")
        .await
        .unwrap();
    app.started.notified().await;
    drop(stream);
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.go_on.notify_one();
    let hook = tokio::time::timeout(Duration::from_secs(10), ran.recv())
        .await
        .expect("the hook runs although the client is gone");
    assert_eq!(hook, Some(4));
    assert_eq!(ids(&mut reader, &table).await, [1, 4]);
}
