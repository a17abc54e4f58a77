//! `oncommit-relay`: the outbox relay of `oncommit` as a process of its own. It claims the
//! committed jobs of a database's outbox table and publishes them to a broker, as the
//! in-process [`Relay`] does, with the settings of [`config::Config`] (flags or
//! `ONCOMMIT_*` variables). On Postgres it `LISTEN`s on `oncommit_outbox` and sweeps at once
//! on each notification (writers send them with `oncommit::outbox::notify_relays(true)`);
//! on every database it also sweeps every `--poll`. SIGTERM or SIGINT stops it gracefully:
//! the batch in flight gets `--shutdown-grace`, then its jobs are handed back. Its counters
//! and backlog gauges are served in Prometheus's text format on `--metrics-addr`.

mod config;
mod sink;

use std::process::ExitCode;

use clap::Parser;
use oncommit::outbox::relay::{Relay, RelayOptions, RelayWaker};
use oncommit::outbox::sink::Sink;
use oncommit::outbox::store::Store;
use oncommit::outbox::{Dialect, NOTIFY_CHANNEL, migrate};

use crate::config::Config;

/// Why the relay could not start.
#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error("connecting to the database at --database-url: {0}")]
    Database(#[source] sqlx::Error),
    #[error("creating the outbox tables: {0}")]
    Migrate(#[source] sqlx::Error),
    #[error(
        "--database-url must start with postgres://, mysql:// or sqlite: (it starts with `{0}`)"
    )]
    DatabaseScheme(String),
    #[error("--sink-url must start with redis://, nats:// or amqp:// (it starts with `{0}`)")]
    SinkScheme(String),
    #[error("--sink-url: `{0}` needs TLS, which this relay is built without")]
    SinkTls(String),
    #[error("connecting to Redis at --sink-url: {0}")]
    Redis(#[source] redis::RedisError),
    #[error("connecting to NATS at --sink-url: {0}")]
    Nats(#[source] async_nats::ConnectError),
    #[error("--nats-stream needs a --subject-prefix ending in `.` (got `{0}`)")]
    NatsStreamPrefix(String),
    #[error("finding or creating the JetStream stream `{name}` of --nats-stream: {source}")]
    NatsStream {
        name: String,
        source: async_nats::jetstream::context::CreateStreamError,
    },
    #[error("connecting to RabbitMQ at --sink-url: {0}")]
    RabbitMq(#[source] lapin::Error),
    #[error("connecting to RabbitMQ at --sink-url: no connection within {}", humantime::format_duration(*.0))]
    RabbitMqTimeout(std::time::Duration),
    #[error("--exchange is {0} bytes long; AMQP allows 255")]
    ExchangeName(usize),
    #[error("the RabbitMQ exchange `{name}` of --exchange: {source}")]
    Exchange { name: String, source: lapin::Error },
    #[error("serving metrics on --metrics-addr: {0}")]
    Metrics(#[source] metrics_exporter_prometheus::BuildError),
    #[error("listening for notifications on Postgres: {0}")]
    Listen(#[source] sqlx::Error),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let config = Config::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "starting the async runtime failed");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "oncommit-relay could not start");
            // Exits without shutting the runtime down: lapin may still be retrying a first
            // connection on it in a thread of its own, which panics when the runtime goes.
            std::process::exit(1)
        }
    }
}

fn options(config: &Config) -> RelayOptions {
    let mut options = RelayOptions::default();
    options.batch = config.batch;
    options.lease = config.lease;
    options.poll = config.poll;
    options.topics = config.topics.clone();
    options.max_attempts = config.max_attempts;
    options.shutdown_grace = config.shutdown_grace;
    // No writers in this process: nothing takes the fast path.
    options.fast_path = false;
    options
}

/// The databases the relay serves.
enum Database {
    Postgres,
    MySql,
    Sqlite,
}

/// The database of `--database-url`, by its scheme (checked before anything connects).
fn database(url: &str) -> Result<Database, StartError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Database::Postgres)
    } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
        Ok(Database::MySql)
    } else if url.starts_with("sqlite:") {
        Ok(Database::Sqlite)
    } else {
        Err(StartError::DatabaseScheme(scheme_of(url)))
    }
}

/// What a URL starts with, for an error message: its scheme, or up to its first `:` (a
/// host), never the credentials after it.
fn scheme_of(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, _)) => format!("{scheme}://"),
        None => url.split(':').next().unwrap_or_default().to_owned(),
    }
}

async fn run(config: Config) -> Result<(), StartError> {
    let database = database(&config.database_url)?;
    if let Some(addr) = config.metrics_addr.0 {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            .install()
            .map_err(StartError::Metrics)?;
        tracing::info!(%addr, "serving Prometheus metrics");
    }
    let sink = sink::connect(&config).await?;
    let url = config.database_url.as_str();
    match database {
        Database::Postgres => {
            let pool = sqlx::PgPool::connect(url)
                .await
                .map_err(StartError::Database)?;
            migrate(&pool, Dialect::Postgres)
                .await
                .map_err(StartError::Migrate)?;
            let mut listener = sqlx::postgres::PgListener::connect_with(&pool)
                .await
                .map_err(StartError::Listen)?;
            listener
                .listen(NOTIFY_CHANNEL)
                .await
                .map_err(StartError::Listen)?;
            let relay = Relay::new(pool, sink, options(&config));
            let waker = relay.waker();
            tokio::spawn(wake_on_notifications(listener, waker));
            serve(relay).await;
        }
        Database::MySql => {
            let pool = sqlx::MySqlPool::connect(url)
                .await
                .map_err(StartError::Database)?;
            migrate(&pool, Dialect::MySql)
                .await
                .map_err(StartError::Migrate)?;
            serve(Relay::new(pool, sink, options(&config))).await;
        }
        Database::Sqlite => {
            let pool = sqlx::SqlitePool::connect(url)
                .await
                .map_err(StartError::Database)?;
            migrate(&pool, Dialect::Sqlite)
                .await
                .map_err(StartError::Migrate)?;
            serve(Relay::new(pool, sink, options(&config))).await;
        }
    }
    Ok(())
}

/// Runs `relay` until SIGTERM or SIGINT.
async fn serve<St: Store, S: Sink>(relay: Relay<St, S>) {
    tracing::info!(
        batch = relay.options().batch,
        poll_ms = relay.options().poll.as_millis() as u64,
        "oncommit-relay running"
    );
    relay.run(stop_signal()).await;
}

/// SIGTERM or SIGINT (Ctrl-C).
async fn stop_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(error) => {
            tracing::warn!(%error, "cannot watch SIGTERM; stopping on Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: stopping"),
    }
}

/// Wakes the relay on each `NOTIFY oncommit_outbox`. `PgListener` reconnects by itself after
/// a lost connection; notifications sent meanwhile are missed, which the poll makes up for.
async fn wake_on_notifications(mut listener: sqlx::postgres::PgListener, waker: RelayWaker) {
    loop {
        match listener.try_recv().await {
            Ok(Some(_notification)) => waker.wake(),
            Ok(None) => {
                tracing::warn!(
                    "the LISTEN connection was lost; reconnecting (the poll covers the gap)"
                );
                waker.wake();
            }
            Err(error) => {
                tracing::warn!(%error, "LISTEN failed; retrying (the poll covers the gap)");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}
