//! A real web handler: axum + sqlx (Postgres) + a Redis job queue, with `#[atomic]` and
//! `enqueue!`. The welcome job is pushed to Redis only after the sign-up's COMMIT, so the
//! worker (a task in this same process, on its own database connection) always finds the row.
//!
//! Needs a Postgres and a Redis server:
//!
//! ```text
//! DATABASE_URL=postgres://root@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379 \
//!     cargo run --example axum_handler
//! curl -X POST http://127.0.0.1:3000/users/ada@example.com     # -> signed up user 1
//! curl -X POST http://127.0.0.1:3000/users/not-an-email         # -> 422, rolled back, no job
//! ```
//!
//! The server logs what the worker read for each job. `ADDR` changes the listening address
//! (default `127.0.0.1:3000`).

use std::fmt;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use oncommit::{Conn, atomic, enqueue};
use redis::aio::MultiplexedConnection;
use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgConnection, PgPool, Postgres};

/// The Redis list the jobs go to.
const QUEUE: &str = "oncommit:example:welcome";

/// The producer side of the job queue: one multiplexed Redis connection, cloned per push.
#[derive(Clone)]
struct Queue {
    redis: MultiplexedConnection,
}

impl Queue {
    /// Pushes a welcome-mail job for `user_id`.
    async fn push_welcome(&self, user_id: i64) -> redis::RedisResult<()> {
        let mut redis = self.redis.clone();
        redis::cmd("RPUSH")
            .arg(QUEUE)
            .arg(user_id)
            .query_async(&mut redis)
            .await
    }
}

#[derive(Clone)]
struct App {
    pool: PgPool,
    queue: Queue,
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
            // The user was committed, only the job failed: do not ask the client to retry.
            AppError::Tx(e) if e.committed() => StatusCode::ACCEPTED,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, format!("{self}\n")).into_response()
    }
}

/// The transaction: insert the user, enqueue the welcome job (runs after COMMIT), then
/// validate; an invalid e-mail rolls everything back and no job is ever pushed.
#[atomic]
async fn sign_up(
    conn: &mut Conn<PoolConnection<Postgres>>,
    queue: &Queue,
    email: String,
) -> Result<i64, AppError> {
    let id: i64 = sqlx::query_scalar("INSERT INTO example_users (email) VALUES ($1) RETURNING id")
        .bind(&email)
        .fetch_one(&mut ***conn)
        .await?;
    enqueue!(queue.push_welcome(id).await);
    if !email.contains('@') {
        return Err(AppError::Invalid(format!("{email:?} has no @")));
    }
    Ok(id)
}

/// `POST /users/{email}`.
async fn create_user(
    State(app): State<App>,
    Path(email): Path<String>,
) -> Result<String, AppError> {
    let mut conn = Conn::new(app.pool.acquire().await?);
    let id = sign_up(&mut conn, &app.queue, email).await?;
    Ok(format!("signed up user {id}\n"))
}

/// The worker: pops job ids from Redis and reads the row on its own connection.
async fn worker(redis_url: String, database_url: String) -> Result<(), Box<dyn std::error::Error>> {
    let client = redis::Client::open(redis_url)?;
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    let mut redis = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    let mut db = PgConnection::connect(&database_url).await?;
    loop {
        let (_, id): (String, i64) = redis::cmd("BLPOP")
            .arg(QUEUE)
            .arg(0)
            .query_async(&mut redis)
            .await?;
        let email: Option<String> =
            sqlx::query_scalar("SELECT email FROM example_users WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut db)
                .await?;
        match email {
            Some(email) => println!("worker: job {id}: sending the welcome mail to {email}"),
            None => println!("worker: job {id}: the row is MISSING (this must never happen)"),
        }
    }
}

fn env(var: &str) -> Result<String, String> {
    std::env::var(var).map_err(|_| format!("set {var} (see the top of examples/axum_handler.rs)"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let database_url = env("DATABASE_URL")?;
    let redis_url = env("REDIS_URL")?;
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());

    let pool = PgPool::connect(&database_url).await?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS example_users (id BIGSERIAL PRIMARY KEY, email TEXT NOT NULL)",
    )
    .execute(&pool)
    .await?;
    let redis = redis::Client::open(redis_url.as_str())?
        .get_multiplexed_async_connection()
        .await?;
    let app = App {
        pool,
        queue: Queue { redis },
    };

    tokio::spawn(async move {
        if let Err(e) = worker(redis_url, database_url).await {
            eprintln!("worker stopped: {e}");
        }
    });

    let router = Router::new()
        .route("/users/{email}", post(create_user))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{addr}  (try: curl -X POST http://{addr}/users/ada@example.com)");
    axum::serve(listener, router).await?;
    Ok(())
}
