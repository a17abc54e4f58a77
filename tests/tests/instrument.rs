//! `#[tracing::instrument]` stacked with `#[atomic]` on a real database: when `#[atomic]` is
//! below the instrument attribute, the span covers the transaction's BEGIN and COMMIT (the
//! statements sqlx logs) and the hooks that run after COMMIT; written above it, too.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

use oncommit::{Conn, atomic, enqueue};
use oncommit_tests::db::TestDb;
use oncommit_tests::race::AppError;
use oncommit_tests::unique_name;

/// Everything the subscriber of this test binary wrote (one global subscriber: a subscriber
/// per test would race on tracing's callsite caches).
fn log() -> &'static Mutex<Vec<u8>> {
    static LOG: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .without_time()
            .with_writer(|| Writer)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        Mutex::new(Vec::new())
    })
}

struct Writer;

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        log()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The lines logged so far that contain `needle`.
fn lines_with(needle: &str) -> Vec<String> {
    let log = log()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    String::from_utf8_lossy(&log)
        .lines()
        .filter(|line| line.contains(needle))
        .map(str::to_owned)
        .collect()
}

/// The hook: its own event, logged wherever it runs.
fn notify(order: i64) {
    tracing::info!(order, "hook: order placed");
}

#[tracing::instrument(skip(conn, table), err)]
#[atomic]
async fn place_below<D: TestDb>(
    conn: &mut Conn<D::Conn>,
    table: &str,
    order: i64,
) -> Result<(), AppError> {
    D::exec(
        &mut **conn,
        format!("INSERT INTO {table} (id) VALUES ({order})"),
    )
    .await?;
    enqueue!(notify(order));
    Ok(())
}

#[atomic]
#[tracing::instrument(skip(conn, table), err)]
async fn place_above<D: TestDb>(
    conn: &mut Conn<D::Conn>,
    table: &str,
    order: i64,
) -> Result<(), AppError> {
    D::exec(
        &mut **conn,
        format!("INSERT INTO {table} (id) VALUES ({order})"),
    )
    .await?;
    enqueue!(notify(order));
    Ok(())
}

/// Which attribute is written first.
#[derive(Clone, Copy, Debug)]
enum Order {
    InstrumentAbove,
    AtomicAbove,
}

/// The statements of a transaction that sqlx logs on one database, as they appear in the
/// log: SQLite's driver logs neither BEGIN nor COMMIT, Postgres's does not log BEGIN.
struct Logged {
    begin: Option<&'static str>,
    commit: Option<&'static str>,
}

/// Runs one transaction through the fn of `order`, and checks what was logged inside its
/// span, in order: the BEGIN sqlx logs, the body's INSERT, the COMMIT sqlx logs, and the
/// hook's own event.
async fn case<D: TestDb>(db: &D, order: Order, id: i64, logged: Logged) {
    log();
    let mut plain = db.connect().await;
    let table = unique_name("instrument");
    D::exec(
        &mut plain,
        format!("CREATE TABLE {table} (id BIGINT PRIMARY KEY)"),
    )
    .await
    .expect("CREATE TABLE");
    let mut conn = Conn::new(plain);
    let span = match order {
        Order::InstrumentAbove => {
            place_below::<D>(&mut conn, &table, id).await.unwrap();
            format!("place_below{{order={id}}}")
        }
        Order::AtomicAbove => {
            place_above::<D>(&mut conn, &table, id).await.unwrap();
            format!("place_above{{order={id}}}")
        }
    };
    let inside = lines_with(&span);
    let at = |what: &str| {
        inside
            .iter()
            .position(|line| line.contains(what))
            .unwrap_or_else(|| {
                panic!("no `{what}` inside the span {span} ({order:?}): {inside:#?}")
            })
    };
    let mut sequence = Vec::new();
    sequence.extend(logged.begin.map(&at));
    sequence.push(at("INSERT INTO"));
    sequence.extend(logged.commit.map(&at));
    sequence.push(at("hook: order placed"));
    assert!(sequence.is_sorted(), "out of order: {inside:#?}");
    D::exec(&mut conn, format!("DROP TABLE {table}"))
        .await
        .expect("DROP TABLE");
}

const SQLITE: Logged = Logged {
    begin: None,
    commit: None,
};

const POSTGRES: Logged = Logged {
    begin: None,
    commit: Some("summary=\"COMMIT\""),
};

const MARIADB: Logged = Logged {
    begin: Some("START TRANSACTION"),
    commit: Some("COMMIT"),
};

#[tokio::test]
async fn sqlite_instrument_above() {
    let db = oncommit_tests::db::sqlite()
        .await
        .expect("always available");
    case(&db, Order::InstrumentAbove, 101, SQLITE).await;
}

#[tokio::test]
async fn sqlite_atomic_above() {
    let db = oncommit_tests::db::sqlite()
        .await
        .expect("always available");
    case(&db, Order::AtomicAbove, 102, SQLITE).await;
}

#[tokio::test]
async fn postgres_instrument_above() {
    if let Some(db) = oncommit_tests::db::postgres().await {
        case(&db, Order::InstrumentAbove, 201, POSTGRES).await;
    }
}

#[tokio::test]
async fn postgres_atomic_above() {
    if let Some(db) = oncommit_tests::db::postgres().await {
        case(&db, Order::AtomicAbove, 202, POSTGRES).await;
    }
}

#[tokio::test]
async fn mariadb_instrument_above() {
    if let Some(db) = oncommit_tests::db::mariadb().await {
        case(&db, Order::InstrumentAbove, 301, MARIADB).await;
    }
}

#[tokio::test]
async fn mariadb_atomic_above() {
    if let Some(db) = oncommit_tests::db::mariadb().await {
        case(&db, Order::AtomicAbove, 302, MARIADB).await;
    }
}
