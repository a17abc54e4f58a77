//! Durable jobs end to end: an axum service signs users up and enqueues a durable welcome
//! job in the same transaction (`enqueue!(outbox => ..)`); a relay delivers the committed jobs
//! to NATS JetStream; a consumer handles each one inside its own transaction, with the inbox,
//! so a redelivered job has no second effect.
//!
//! Needs Postgres and NATS with JetStream:
//!
//! ```text
//! DATABASE_URL=postgres://root@127.0.0.1:5432/test NATS_URL=nats://127.0.0.1:4222 \
//!     cargo run --example durable_signup --features sink-nats
//! ```
//!
//! By default it runs a demo and checks it: 20 sign-ups through the service (every fifth has
//! no `@`, so its transaction rolls back and its job never exists), and one welcome the
//! consumer handles but "crashes" before acknowledging, so JetStream delivers it again. It
//! ends when every committed user is welcomed, then reads the tables on a connection of its
//! own: each committed user welcomed exactly once, no rejected one welcomed, the outbox
//! empty. It exits non-zero otherwise.
//!
//! With `serve` as its argument it keeps running and listens on `ADDR` (default
//! `127.0.0.1:3000`): `curl -X POST http://127.0.0.1:3000/users/ada@example.com`.
//!
//! Here the relay runs inside the service (the fast path: a job is published right after its
//! COMMIT). To run it as a process of its own, start the service with `ONCOMMIT_NO_RELAY=1`
//! and run `oncommit-relay` (see the README).

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures_util::StreamExt;
use oncommit::outbox::relay::{Relay, RelayOptions};
use oncommit::outbox::sink::NatsJetStream;
use oncommit::outbox::{Dialect, Job, inbox};
use oncommit::{Conn, atomic, enqueue};
use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};
use tower::ServiceExt;
use uuid::Uuid;

/// The JetStream stream the jobs go to, and the subjects it takes.
const STREAM: &str = "ONCOMMIT_EXAMPLE";
const SUBJECTS: &str = "oncommit_example.";

/// The durable job: serialized at the `enqueue!`, published after the COMMIT.
#[derive(serde::Serialize, serde::Deserialize)]
struct Welcome {
    user_id: i64,
    email: String,
}

impl Job for Welcome {
    const TOPIC: &'static str = "signup_welcome";
}

#[derive(Debug)]
enum AppError {
    Db(sqlx::Error),
    Tx(oncommit::Error),
    Invalid(String),
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Db(e) => write!(f, "database: {e}"),
            AppError::Tx(e) => write!(f, "transaction: {e}"),
            AppError::Invalid(why) => write!(f, "invalid sign-up: {why}"),
        }
    }
}

impl std::error::Error for AppError {}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        AppError::Db(e)
    }
}

impl From<oncommit::Error> for AppError {
    fn from(e: oncommit::Error) -> Self {
        AppError::Tx(e)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = match &self {
            AppError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, format!("{self}\n")).into_response()
    }
}

/// The sign-up: the user's row and its welcome job commit together, or neither does.
#[atomic]
async fn sign_up(
    conn: &mut Conn<PoolConnection<Postgres>>,
    email: String,
) -> Result<i64, AppError> {
    let id: i64 = sqlx::query_scalar("INSERT INTO example_users (email) VALUES ($1) RETURNING id")
        .bind(&email)
        .fetch_one(&mut ***conn)
        .await?;
    enqueue!(outbox => Welcome { user_id: id, email: email.clone() });
    if !email.contains('@') {
        return Err(AppError::Invalid(format!("{email:?} has no @")));
    }
    Ok(id)
}

/// `POST /users/{email}`.
async fn create_user(
    State(pool): State<PgPool>,
    Path(email): Path<String>,
) -> Result<String, AppError> {
    let mut conn = Conn::new(pool.acquire().await?);
    let id = sign_up(&mut conn, email).await?;
    Ok(format!("signed up user {id}\n"))
}

/// The consumer's handling of one welcome: recorded in the inbox and applied in one
/// transaction. `false`: handled before, skipped.
#[atomic]
async fn welcome(
    conn: &mut Conn<PoolConnection<Postgres>>,
    message_id: Uuid,
    job: &Welcome,
) -> Result<bool, AppError> {
    if !inbox::receive(&mut ***conn, message_id).await? {
        return Ok(false);
    }
    sqlx::query("INSERT INTO example_welcomes (user_id, email, message_id) VALUES ($1, $2, $3)")
        .bind(job.user_id)
        .bind(&job.email)
        .bind(message_id)
        .execute(&mut ***conn)
        .await?;
    Ok(true)
}

/// What the consumer saw.
#[derive(Debug, Default, Clone, Copy)]
struct Consumed {
    handled: usize,
    skipped: usize,
}

/// Consumes the stream: each message handled in its own transaction, then acknowledged.
/// With `crash_once`, the first message is handled and not acknowledged, as if the consumer
/// had died before its ack: JetStream delivers it again after `ack_wait`.
async fn consume(
    pool: PgPool,
    stream: stream::Stream,
    crash_once: bool,
    seen: tokio::sync::watch::Sender<Consumed>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let consumer = stream
        .get_or_create_consumer(
            "welcomer",
            consumer::pull::Config {
                durable_name: Some("welcomer".to_owned()),
                filter_subject: format!("{SUBJECTS}{}", Welcome::TOPIC),
                ack_wait: Duration::from_secs(2),
                ..Default::default()
            },
        )
        .await?;
    let mut messages = consumer.messages().await?;
    let mut crash_once = crash_once;
    while let Some(message) = messages.next().await {
        let message = message?;
        let message_id = message
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .and_then(|id| Uuid::parse_str(id.as_str()).ok())
            .ok_or("a message without a Nats-Msg-Id header")?;
        let job: Welcome = serde_json::from_slice(&message.payload)?;
        let mut conn = Conn::new(pool.acquire().await?);
        let first = welcome(&mut conn, message_id, &job).await?;
        seen.send_modify(|seen| {
            if first {
                seen.handled += 1;
            } else {
                seen.skipped += 1;
            }
        });
        if crash_once {
            crash_once = false;
            tracing::info!(%message_id, "consumer: handled, and 'crashed' before its ack");
            continue;
        }
        message.ack().await?;
        tracing::info!(%message_id, user_id = job.user_id, first, "consumer: welcome");
    }
    Ok(())
}

fn env(var: &str) -> Result<String, String> {
    std::env::var(var).map_err(|_| format!("set {var} (see the top of examples/durable_signup.rs)"))
}

/// Creates the tables (the outbox's and the inbox's through oncommit's migrations), and the
/// stream afresh.
async fn set_up(
    pool: &PgPool,
    jetstream: &jetstream::Context,
) -> Result<stream::Stream, Box<dyn std::error::Error + Send + Sync>> {
    oncommit::outbox::migrate(pool, Dialect::Postgres).await?;
    inbox::migrate(pool, Dialect::Postgres).await?;
    sqlx::raw_sql(
        "DROP TABLE IF EXISTS example_users, example_welcomes;
         CREATE TABLE example_users (id BIGSERIAL PRIMARY KEY, email TEXT NOT NULL);
         CREATE TABLE example_welcomes (
             user_id BIGINT NOT NULL, email TEXT NOT NULL, message_id UUID NOT NULL);
         DELETE FROM oncommit_outbox WHERE topic = 'signup_welcome';",
    )
    .execute(pool)
    .await?;
    let _ = jetstream.delete_stream(STREAM).await;
    Ok(jetstream
        .create_stream(stream::Config {
            name: STREAM.to_owned(),
            subjects: vec![format!("{SUBJECTS}>")],
            duplicate_window: Duration::from_secs(10 * 60),
            ..Default::default()
        })
        .await?)
}

/// Signs 20 users up through the service, then waits until the consumer has handled every
/// committed one and skipped the redelivered one, and checks the tables.
async fn demo(
    pool: &PgPool,
    router: Router,
    mut seen: tokio::sync::watch::Receiver<Consumed>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut committed = Vec::new();
    for n in 1..=20 {
        let email = if n % 5 == 0 {
            format!("user{n}.example.com")
        } else {
            format!("user{n}@example.com")
        };
        let request = Request::post(format!("/users/{email}")).body(Body::empty())?;
        let response = router.clone().oneshot(request).await?;
        if response.status() == StatusCode::OK {
            committed.push(email);
        }
    }
    let expected = committed.len();
    tokio::time::timeout(
        Duration::from_secs(60),
        seen.wait_for(|seen| seen.handled >= expected && seen.skipped >= 1),
    )
    .await
    .map_err(|_| "the consumer did not handle every job within 60 s")?
    .map_err(|_| "the consumer stopped (see its error above)")?;
    let consumed = *seen.borrow();

    // What the database holds, read on a connection of its own.
    let mut reader = pool.acquire().await?;
    let welcomed: Vec<(String, i64)> = sqlx::query_as(
        "SELECT email, COUNT(*) FROM example_welcomes GROUP BY email ORDER BY email",
    )
    .fetch_all(&mut *reader)
    .await?;
    let welcomed: HashMap<String, i64> = welcomed.into_iter().collect();
    // The relay deletes a job's row right after the broker took it: wait for the last ones.
    let mut outbox = i64::MAX;
    for _ in 0..100 {
        outbox = sqlx::query_scalar("SELECT COUNT(*) FROM oncommit_outbox WHERE topic = $1")
            .bind(Welcome::TOPIC)
            .fetch_one(&mut *reader)
            .await?;
        if outbox == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let once = committed
        .iter()
        .all(|email| welcomed.get(email) == Some(&1));
    let only_committed = welcomed.len() == committed.len();
    println!(
        "signed up {} of 20 (the other {} rolled back); the consumer handled {} welcomes and \
         skipped {} redelivered; every committed user welcomed exactly once: {once}; a \
         rolled-back one welcomed: {}; outbox rows left: {outbox}",
        committed.len(),
        20 - committed.len(),
        consumed.handled,
        consumed.skipped,
        !only_committed,
    );
    if once && only_committed && outbox == 0 {
        Ok(())
    } else {
        Err("the demo's check failed".into())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt().with_target(false).init();
    let serve = std::env::args().nth(1).as_deref() == Some("serve");
    let pool = PgPool::connect(&env("DATABASE_URL")?).await?;
    let jetstream = jetstream::new(async_nats::connect(env("NATS_URL")?).await?);
    let stream = set_up(&pool, &jetstream).await?;

    // The relay: jobs committed by this process are published right after their COMMIT.
    let (stop_relay, relay_stopped) = tokio::sync::oneshot::channel::<()>();
    let relay = if std::env::var_os("ONCOMMIT_NO_RELAY").is_none() {
        let sink = NatsJetStream::new(jetstream.clone()).subject_prefix(SUBJECTS);
        // This example's jobs only: the outbox table may hold other applications' jobs.
        let mut options = RelayOptions::default();
        options.topics = vec![Welcome::TOPIC.to_owned()];
        let relay = Relay::new(pool.clone(), sink, options);
        Some(tokio::spawn(relay.run(async {
            let _ = relay_stopped.await;
        })))
    } else {
        oncommit::outbox::notify_relays(true);
        None
    };

    let (seen_tx, seen) = tokio::sync::watch::channel(Consumed::default());
    let consumer = {
        let pool = pool.clone();
        tokio::spawn(async move {
            if let Err(error) = consume(pool, stream, !serve, seen_tx).await {
                tracing::error!(%error, "the consumer stopped");
            }
        })
    };
    let router = Router::new()
        .route("/users/{email}", post(create_user))
        .with_state(pool.clone());

    let result = if serve {
        let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        println!(
            "listening on http://{addr}  (try: curl -X POST http://{addr}/users/ada@example.com)"
        );
        axum::serve(listener, router).await.map_err(Into::into)
    } else {
        demo(&pool, router, seen).await
    };
    consumer.abort();
    let _ = stop_relay.send(());
    if let Some(relay) = relay {
        relay.await?;
    }
    result
}
