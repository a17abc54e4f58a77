//! The runtime's semantics on diesel's sync connections, against real databases: SQLite on a
//! temporary file (always runs) and Postgres (`DATABASE_URL`; skipped with a printed reason
//! when unset, a failure under `CI=true`).
//!
//! Every check reads the table from a *second* connection, so "committed" means what another
//! client of the database sees, not what the writing connection believes.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use diesel::connection::{AnsiTransactionManager, Connection, SimpleConnection};
use diesel::{PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use oncommit::{BoxError, Conn, Error, ErrorKind, Step, SyncBackend, atomic, enqueue};
use oncommit_tests::service_url;

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

/// A diesel connection the suite can run on.
trait TestConn:
    Connection<TransactionManager = AnsiTransactionManager> + SyncBackend + Send + 'static
{
    /// The ids in `table`, ascending.
    fn ids(&mut self, table: &str) -> Vec<i64>;
    /// A child table whose foreign key is checked at COMMIT.
    fn deferred_fk_sql(table: &str) -> String;
}

impl TestConn for SqliteConnection {
    fn ids(&mut self, table: &str) -> Vec<i64> {
        let rows: Vec<Id> = diesel::sql_query(format!("SELECT id FROM {table} ORDER BY id"))
            .load(self)
            .expect("read ids");
        rows.into_iter().map(|r| r.id).collect()
    }

    fn deferred_fk_sql(table: &str) -> String {
        format!(
            "CREATE TABLE {table}_child (id INTEGER PRIMARY KEY, \
             parent BIGINT REFERENCES {table}(id) DEFERRABLE INITIALLY DEFERRED)"
        )
    }
}

impl TestConn for PgConnection {
    fn ids(&mut self, table: &str) -> Vec<i64> {
        let rows: Vec<Id> = diesel::sql_query(format!("SELECT id FROM {table} ORDER BY id"))
            .load(self)
            .expect("read ids");
        rows.into_iter().map(|r| r.id).collect()
    }

    fn deferred_fk_sql(table: &str) -> String {
        format!(
            "CREATE TABLE {table}_child (id BIGINT PRIMARY KEY, \
             parent BIGINT REFERENCES {table}(id) DEFERRABLE INITIALLY DEFERRED)"
        )
    }
}

/// What the hooks saw: their label, and the ids a second connection read when they ran.
type Log = Arc<Mutex<Vec<(&'static str, Vec<i64>)>>>;

/// One database with a fresh table, plus an observer connection.
struct Db<C: TestConn> {
    url: String,
    table: String,
    observer: Arc<Mutex<C>>,
    log: Log,
    _dir: Option<tempfile::TempDir>,
}

fn sqlite(test: &str) -> Db<SqliteConnection> {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = dir.path().join("db.sqlite").display().to_string();
    let mut setup = SqliteConnection::establish(&url).expect("open sqlite");
    setup
        .batch_execute("PRAGMA journal_mode = WAL;")
        .expect("WAL");
    Db::create(url, format!("users_{test}"), Some(dir))
}

fn postgres(test: &str) -> Option<Db<PgConnection>> {
    let url = service_url("DATABASE_URL")?;
    Some(Db::create(url, format!("oncommit_diesel_{test}"), None))
}

impl<C: TestConn> Db<C> {
    fn create(url: String, table: String, dir: Option<tempfile::TempDir>) -> Self {
        let mut setup = C::establish(&url).expect("connect");
        setup
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS {table}_child; DROP TABLE IF EXISTS {table}; \
                 CREATE TABLE {table} (id BIGINT PRIMARY KEY); {};",
                C::deferred_fk_sql(&table)
            ))
            .expect("create tables");
        let observer = Arc::new(Mutex::new(C::establish(&url).expect("connect observer")));
        Db {
            url,
            table,
            observer,
            log: Log::default(),
            _dir: dir,
        }
    }

    /// A new writing connection, wrapped.
    fn conn(&self) -> Conn<C> {
        let mut conn = C::establish(&self.url).expect("connect writer");
        if self.url.ends_with(".sqlite") {
            conn.batch_execute("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;")
                .expect("pragmas");
        }
        Conn::new(conn)
    }

    fn insert(&self, conn: &mut Conn<C>, id: i64) -> Result<(), BoxError> {
        conn.batch_execute(&format!("INSERT INTO {} (id) VALUES ({id})", self.table))?;
        Ok(())
    }

    /// What a second connection sees.
    fn committed(&self) -> Vec<i64> {
        self.observer.lock().unwrap().ids(&self.table)
    }

    /// A hook that records its label and what a second connection sees when it runs.
    fn hook(&self, label: &'static str) -> impl FnOnce() + Send + 'static {
        let (log, observer, table) = (self.log.clone(), self.observer.clone(), self.table.clone());
        move || {
            let seen = observer.lock().unwrap().ids(&table);
            log.lock().unwrap().push((label, seen));
        }
    }

    fn ran(&self) -> Vec<(&'static str, Vec<i64>)> {
        self.log.lock().unwrap().clone()
    }

    fn labels(&self) -> Vec<&'static str> {
        self.ran().into_iter().map(|(label, _)| label).collect()
    }
}

// --- the checks, generic over the connection -------------------------------------------------

/// Outside a transaction a hook runs at once (semantics 1).
fn outside_runs_at_once<C: TestConn>(db: Db<C>) {
    let mut conn = db.conn();
    db.insert(&mut conn, 1).unwrap();
    conn.on_commit(db.hook("now")).unwrap();
    assert_eq!(db.ran(), [("now", vec![1])]);
}

/// After COMMIT the hooks run in order, and a second connection already sees the rows
/// (semantics 2, 3).
fn commit_runs_hooks_after_rows_are_visible<C: TestConn>(db: Db<C>) {
    let mut conn = db.conn();
    conn.atomic(|conn| {
        db.insert(conn, 1)?;
        conn.on_commit(db.hook("first"))?;
        db.insert(conn, 2)?;
        conn.on_commit(db.hook("second"))?;
        assert!(db.committed().is_empty(), "rows visible before COMMIT");
        assert!(db.ran().is_empty(), "hook ran before COMMIT");
        Ok::<_, BoxError>(())
    })
    .unwrap();
    assert_eq!(db.ran(), [("first", vec![1, 2]), ("second", vec![1, 2])]);
    assert_eq!(conn.depth(), 0);
    assert_eq!(conn.pending_hooks(), 0);
}

/// ROLLBACK discards the rows and the hooks (semantics 4, 9).
fn rollback_discards_hooks<C: TestConn>(db: Db<C>) {
    let mut conn = db.conn();
    let result = conn.atomic(|conn| {
        db.insert(conn, 1)?;
        conn.on_commit(db.hook("rolled back"))?;
        Err::<(), BoxError>("invalid input".into())
    });
    assert_eq!(result.unwrap_err().to_string(), "invalid input");
    assert!(db.committed().is_empty());
    assert!(db.ran().is_empty());
    // nothing leaks into the next transaction
    conn.atomic(|conn| {
        db.insert(conn, 2)?;
        conn.on_commit(db.hook("next"))?;
        Ok::<_, BoxError>(())
    })
    .unwrap();
    assert_eq!(db.ran(), [("next", vec![2])]);
}

/// Savepoints: RELEASE runs nothing; ROLLBACK TO discards exactly the hooks since the
/// savepoint (including released inner ones); hooks before and after still run, in order,
/// across nesting levels (semantics 2, 3, 4).
fn savepoints<C: TestConn>(db: Db<C>) {
    let mut conn = db.conn();
    conn.atomic(|conn| {
        db.insert(conn, 1)?;
        conn.on_commit(db.hook("outer before"))?;
        conn.atomic(|conn| {
            assert_eq!(conn.depth(), 2);
            db.insert(conn, 2)?;
            conn.on_commit(db.hook("released"))?;
            Ok::<_, BoxError>(())
        })?;
        assert!(db.ran().is_empty(), "RELEASE SAVEPOINT ran a hook");
        let inner = conn.atomic(|conn| {
            db.insert(conn, 3)?;
            conn.on_commit(db.hook("rolled back"))?;
            conn.atomic(|conn| {
                db.insert(conn, 4)?;
                conn.on_commit(db.hook("released inside rolled back"))?;
                Ok::<_, BoxError>(())
            })?;
            Err::<(), BoxError>("undo 3 and 4".into())
        });
        assert!(inner.is_err());
        db.insert(conn, 5)?;
        conn.on_commit(db.hook("outer after"))?;
        Ok::<_, BoxError>(())
    })
    .unwrap();
    let committed = vec![1, 2, 5];
    assert_eq!(db.committed(), committed);
    assert_eq!(
        db.ran(),
        [
            ("outer before", committed.clone()),
            ("released", committed.clone()),
            ("outer after", committed),
        ]
    );
}

/// A failed COMMIT runs no hook, returns the error, and leaves the connection usable
/// (semantics 5).
fn failed_commit<C: TestConn>(db: Db<C>) {
    let mut conn = db.conn();
    let result = conn.atomic(|conn| {
        db.insert(conn, 1)?;
        // the parent 99 does not exist: the deferred foreign key fails at COMMIT
        conn.batch_execute(&format!(
            "INSERT INTO {}_child (id, parent) VALUES (1, 99)",
            db.table
        ))?;
        conn.on_commit(db.hook("never"))?;
        Ok::<_, BoxError>(())
    });
    let error = result.unwrap_err();
    let error = error.downcast_ref::<Error>().expect("an oncommit::Error");
    assert_eq!(error.step(), Some(Step::Commit));
    assert!(!error.committed());
    assert!(db.ran().is_empty());
    assert!(db.committed().is_empty());
    assert_eq!(conn.depth(), 0);
    assert_eq!(conn.pending_hooks(), 0);
    conn.atomic(|conn| {
        db.insert(conn, 2)?;
        conn.on_commit(db.hook("after"))?;
        Ok::<_, BoxError>(())
    })
    .unwrap();
    assert_eq!(db.ran(), [("after", vec![2])]);
}

/// A panic in the body rolls back and discards the hooks; the connection works afterwards
/// (semantics 7).
fn panic_rolls_back<C: TestConn>(db: Db<C>) {
    let mut conn = db.conn();
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        conn.atomic(|conn| {
            db.insert(conn, 1)?;
            conn.on_commit(db.hook("never"))?;
            conn.atomic(|conn| {
                db.insert(conn, 2)?;
                conn.on_commit(db.hook("never inner"))?;
                if conn.depth() == 2 {
                    panic!("bug in the handler");
                }
                Ok::<_, BoxError>(())
            })
        })
    }));
    assert!(panicked.is_err());
    assert_eq!(conn.depth(), 0);
    assert_eq!(conn.transaction_depth_now(), 0);
    assert!(db.committed().is_empty());
    assert!(db.ran().is_empty());
    conn.atomic(|conn| {
        db.insert(conn, 3)?;
        conn.on_commit(db.hook("after"))?;
        Ok::<_, BoxError>(())
    })
    .unwrap();
    assert_eq!(db.ran(), [("after", vec![3])]);
}

/// A failing or panicking hook does not stop the others; the caller gets
/// `committed() == true` (semantics 6).
fn failing_hook_does_not_stop_others<C: TestConn>(db: Db<C>) {
    let mut conn = db.conn();
    let result = conn.atomic(|conn| {
        db.insert(conn, 1)?;
        conn.on_commit(|| Err::<(), _>("queue down"))?;
        conn.on_commit(hook_bug)?;
        conn.on_commit(db.hook("still runs"))?;
        Ok::<_, BoxError>(())
    });
    let error = result.unwrap_err();
    let error = error.downcast_ref::<Error>().expect("an oncommit::Error");
    assert!(error.committed());
    assert_eq!(error.hook_failures().len(), 2);
    assert_eq!(db.ran(), [("still runs", vec![1])]);
}

/// A mail sender for `#[atomic]` + `enqueue!`: records each id it is asked to welcome, with
/// the ids a second connection sees at that moment.
struct Mailer<C: TestConn> {
    observer: Arc<Mutex<C>>,
    table: String,
    sent: Sent,
}

/// Each id welcomed, with the ids a second connection saw then.
type Sent = Arc<Mutex<Vec<(i64, Vec<i64>)>>>;

impl<C: TestConn> Clone for Mailer<C> {
    fn clone(&self) -> Self {
        Mailer {
            observer: self.observer.clone(),
            table: self.table.clone(),
            sent: self.sent.clone(),
        }
    }
}

impl<C: TestConn> Mailer<C> {
    fn new(db: &Db<C>) -> Self {
        Mailer {
            observer: db.observer.clone(),
            table: db.table.clone(),
            sent: Arc::default(),
        }
    }

    fn welcome(&self, id: i64) {
        let seen = self.observer.lock().unwrap().ids(&self.table);
        self.sent.lock().unwrap().push((id, seen));
    }

    fn sent(&self) -> Vec<(i64, Vec<i64>)> {
        self.sent.lock().unwrap().clone()
    }
}

/// What users write on diesel: a sync `#[atomic]` fn, `enqueue!` in a loop.
#[atomic]
fn sign_up<C: TestConn>(
    conn: &mut Conn<C>,
    table: &str,
    mailer: &Mailer<C>,
    ids: Vec<i64>,
    reject: bool,
) -> Result<usize, BoxError> {
    let mut count = 0;
    for id in ids {
        conn.batch_execute(&format!("INSERT INTO {table} (id) VALUES ({id})"))?;
        enqueue!(mailer.welcome(id));
        count += 1;
    }
    if reject {
        return Err("rejected".into());
    }
    Ok(count)
}

/// `#[atomic]` + `enqueue!` on diesel: each job runs after COMMIT with its own id, and sees
/// every row; a rejected sign-up (ROLLBACK) sends nothing; nested, the inner block's jobs
/// wait for the outer COMMIT.
fn atomic_macro_on_diesel<C: TestConn>(db: Db<C>) {
    let mut conn = db.conn();
    let mailer = Mailer::new(&db);
    assert_eq!(
        sign_up(&mut conn, &db.table, &mailer, vec![1, 2, 3], false).unwrap(),
        3
    );
    let all = vec![1, 2, 3];
    assert_eq!(
        mailer.sent(),
        [(1, all.clone()), (2, all.clone()), (3, all.clone())]
    );

    let rejected = sign_up(&mut conn, &db.table, &mailer, vec![4, 5], true);
    assert_eq!(rejected.unwrap_err().to_string(), "rejected");
    assert_eq!(
        mailer.sent().len(),
        3,
        "a rolled-back sign-up sends nothing"
    );
    assert_eq!(db.committed(), all);

    conn.atomic(|conn| {
        sign_up(conn, &db.table, &mailer, vec![6], false)?;
        assert_eq!(mailer.sent().len(), 3, "waits for the outermost COMMIT");
        Ok::<_, BoxError>(())
    })
    .unwrap();
    assert_eq!(mailer.sent().last(), Some(&(6, vec![1, 2, 3, 6])));
}

fn hook_bug() {
    panic!("hook bug")
}

/// diesel's own depth is the truth: inside a transaction opened with diesel's
/// `Connection::transaction`, oncommit refuses to defer (it cannot see that COMMIT).
fn foreign_transaction_is_refused<C: TestConn>(db: Db<C>) {
    use diesel::connection::TransactionManager;
    let mut conn = db.conn();
    AnsiTransactionManager::begin_transaction(&mut *conn).unwrap();
    let refused = conn.on_commit(db.hook("never")).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ForeignTransaction);
    let refused = conn.atomic(|_| Ok::<_, Error>(())).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ForeignTransaction);
    AnsiTransactionManager::rollback_transaction(&mut *conn).unwrap();
    assert!(db.ran().is_empty());
    conn.on_commit(db.hook("outside")).unwrap();
    assert_eq!(db.labels(), ["outside"]);
}

/// What diesel's transaction manager says, read through the `Conn`.
trait DepthNow {
    fn transaction_depth_now(&mut self) -> usize;
}

impl<C: TestConn> DepthNow for Conn<C> {
    fn transaction_depth_now(&mut self) -> usize {
        oncommit::Backend::transaction_depth(&mut **self)
    }
}

// --- one #[test] per check and database ------------------------------------------------------

macro_rules! suite {
    ($($check:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[test]
                fn $check() {
                    super::$check(super::sqlite(stringify!($check)));
                }
            )*
        }
        mod on_postgres {
            $(
                #[test]
                fn $check() {
                    if let Some(db) = super::postgres(stringify!($check)) {
                        super::$check(db);
                    }
                }
            )*
        }
    };
}

suite!(
    outside_runs_at_once,
    commit_runs_hooks_after_rows_are_visible,
    rollback_discards_hooks,
    savepoints,
    failed_commit,
    panic_rolls_back,
    failing_hook_does_not_stop_others,
    foreign_transaction_is_refused,
    atomic_macro_on_diesel,
);

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}

/// diesel-postgres: `TxOptions` reach the server (the body sees its transaction's isolation
/// level and read-only mode); nested, a block with options is `ErrorKind::OptionsNested`.
#[test]
fn diesel_postgres_transaction_options_reach_the_server() {
    let Some(url) = service_url("DATABASE_URL") else {
        return;
    };
    let mut conn = Conn::new(PgConnection::establish(&url).expect("connect"));
    let show = |conn: &mut PgConnection, name: &str| -> Result<String, BoxError> {
        let rows: Vec<Setting> =
            diesel::sql_query(format!("SELECT current_setting('{name}') AS value")).load(conn)?;
        Ok(rows
            .into_iter()
            .next()
            .map(|row| row.value)
            .unwrap_or_default())
    };
    let options = oncommit::TxOptions::new()
        .isolation(oncommit::Isolation::Serializable)
        .read_only();
    let seen = conn
        .atomic_with(options, |conn| {
            let isolation = show(conn, "transaction_isolation")?;
            let read_only = show(conn, "transaction_read_only")?;
            let nested = conn.atomic_with(options, |_| Ok::<_, Error>(()));
            assert_eq!(nested.unwrap_err().kind(), ErrorKind::OptionsNested);
            Ok::<_, BoxError>((isolation, read_only))
        })
        .unwrap();
    assert_eq!(seen, ("serializable".to_owned(), "on".to_owned()));
}

/// diesel-sqlite: SQLite is always serializable; any other option is refused before BEGIN.
#[test]
fn diesel_sqlite_refuses_options_it_cannot_honour() {
    let mut conn = Conn::new(SqliteConnection::establish(":memory:").expect("connect"));
    let serializable = oncommit::TxOptions::new().isolation(oncommit::Isolation::Serializable);
    conn.atomic_with(serializable, |_| Ok::<_, Error>(()))
        .unwrap();
    let read_only = conn.atomic_with(oncommit::TxOptions::new().read_only(), |_| {
        Ok::<_, Error>(())
    });
    let error = read_only.unwrap_err();
    assert_eq!(error.step(), Some(Step::Begin));
    assert_eq!(oncommit::Backend::transaction_depth(&mut *conn), 0);
}
