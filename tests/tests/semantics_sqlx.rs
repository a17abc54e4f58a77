//! The semantics of docs/design.md on real databases, written once as generic async cases over a
//! connection factory ([`oncommit_tests::db::TestDb`]) and run on:
//!
//! - a SQLite file in a temporary directory (always), as a plain connection and a pool's;
//! - Postgres on `DATABASE_URL`, plain `PgConnection` and `PoolConnection<Postgres>`;
//! - MariaDB on `MYSQL_URL`, plain `MySqlConnection` and `PoolConnection<MySql>`.
//!
//! Each case asserts what the database holds, read from a second connection, and what the
//! hooks saw. Every case has its own table, so cases run in parallel.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use oncommit::{Conn, ErrorKind, Step};
use oncommit_tests::db::{self, Table, TestDb};

#[derive(Debug)]
enum AppError {
    Sqlx(sqlx::Error),
    Oncommit(oncommit::Error),
    Body(&'static str),
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        AppError::Sqlx(e)
    }
}

impl From<oncommit::Error> for AppError {
    fn from(e: oncommit::Error) -> Self {
        AppError::Oncommit(e)
    }
}

/// Panics; typed `()` so an async block that calls it is not of type `!`.
fn explode(message: &str) {
    panic!("{message}")
}

/// What the hooks did, in order.
#[derive(Clone, Default)]
struct Ran(Arc<Mutex<Vec<String>>>);

impl Ran {
    fn push(&self, entry: impl Into<String>) {
        self.0.lock().unwrap().push(entry.into());
    }

    fn get(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// A sync hook recording `name`.
    fn hook(&self, name: impl Into<String>) -> impl FnOnce() + Send + 'static {
        let (ran, name) = (self.clone(), name.into());
        move || ran.push(name)
    }
}

/// An async hook that reads the table on its own connection and records what it saw.
fn reading_hook<D: TestDb>(
    reader: D::Conn,
    table: &Table,
    ran: &Ran,
    name: &'static str,
) -> impl FnOnce() -> futures_util::future::BoxFuture<'static, ()> + Send + 'static {
    let (table, ran) = (table.clone(), ran.clone());
    move || {
        async move {
            let mut reader = reader;
            let ids = table.ids::<D>(&mut reader).await;
            ran.push(format!("{name} saw {ids:?}"));
        }
        .boxed()
    }
}

struct Fixture<D: TestDb> {
    conn: Conn<D::Conn>,
    reader: D::Conn,
    table: Table,
    ran: Ran,
}

impl<D: TestDb> Fixture<D> {
    async fn new(db: &D) -> Self {
        let mut reader = db.connect().await;
        let table = Table::create::<D>(&mut reader).await;
        Fixture {
            conn: Conn::new(db.connect().await),
            reader,
            table,
            ran: Ran::default(),
        }
    }

    /// The rows, as a second connection sees them.
    async fn committed(&mut self) -> Vec<i64> {
        self.table.ids::<D>(&mut self.reader).await
    }

    /// The connection still works after what the case did: a transaction that inserts `id`
    /// commits, its hook is the only one that ever ran, and `id` is the only committed row.
    async fn next_transaction_commits(&mut self, id: i64) {
        let Fixture {
            conn, table, ran, ..
        } = self;
        conn.atomic_async(async |conn| {
            table.insert::<D>(conn, id).await?;
            conn.on_commit(ran.hook("next"))?;
            Ok::<_, AppError>(())
        })
        .await
        .unwrap();
        assert_eq!(self.ran.get(), ["next"]);
        assert_eq!(self.committed().await, [id]);
    }

    async fn finish(mut self) {
        assert_eq!(self.conn.depth(), 0);
        assert_eq!(self.conn.pending_hooks(), 0);
        self.table.drop::<D>(&mut self.reader).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The cases

/// Semantics 1: Outside a transaction a hook runs at once.
async fn s1_outside_a_transaction_a_hook_runs_immediately<D: TestDb>(db: &D) {
    let mut f = Fixture::new(db).await;
    f.table.insert::<D>(&mut f.conn, 1).await.unwrap();
    let hook = reading_hook::<D>(db.connect().await, &f.table, &f.ran, "now");
    f.conn.on_commit_async(hook).await.unwrap();
    assert_eq!(f.ran.get(), ["now saw [1]"]);
    f.finish().await;
}

/// Semantics 2, and the point of the crate: hooks wait for the outermost COMMIT (a released savepoint
/// runs nothing), and a hook sees the committed rows from another connection.
async fn s2_hooks_wait_for_the_outermost_commit_and_see_its_rows<D: TestDb>(db: &D) {
    let mut f = Fixture::new(db).await;
    let hook = reading_hook::<D>(db.connect().await, &f.table, &f.ran, "hook");
    let Fixture {
        conn,
        reader,
        table,
        ran,
    } = &mut f;
    conn.atomic_async(async |conn| {
        table.insert::<D>(conn, 1).await?;
        conn.atomic_async(async |conn| {
            table.insert::<D>(conn, 2).await?;
            conn.on_commit_async(hook).await?;
            Ok::<_, AppError>(())
        })
        .await?;
        // the savepoint was released: nothing ran, nothing is visible outside
        assert!(ran.get().is_empty());
        assert_eq!(table.ids::<D>(reader).await, [] as [i64; 0]);
        // but this connection sees its own rows
        assert_eq!(table.ids::<D>(conn).await, [1, 2]);
        Ok::<_, AppError>(())
    })
    .await
    .unwrap();
    assert_eq!(f.ran.get(), ["hook saw [1, 2]"]);
    assert_eq!(f.committed().await, [1, 2]);
    f.finish().await;
}

/// Semantics 3: Hooks run once each in registration order across levels.
async fn s3_hooks_run_in_registration_order_across_levels<D: TestDb>(db: &D) {
    let mut f = Fixture::new(db).await;
    let Fixture {
        conn, table, ran, ..
    } = &mut f;
    conn.atomic_async(async |conn| {
        table.insert::<D>(conn, 1).await?;
        conn.on_commit(ran.hook("1"))?;
        conn.atomic_async(async |conn| {
            conn.on_commit(ran.hook("2"))?;
            conn.atomic_async(async |conn| {
                table.insert::<D>(conn, 3).await?;
                conn.on_commit(ran.hook("3"))?;
                Ok::<_, AppError>(())
            })
            .await?;
            conn.on_commit(ran.hook("4"))?;
            Ok::<_, AppError>(())
        })
        .await?;
        conn.on_commit(ran.hook("5"))?;
        Ok::<_, AppError>(())
    })
    .await
    .unwrap();
    assert_eq!(f.ran.get(), ["1", "2", "3", "4", "5"]);
    assert_eq!(f.committed().await, [1, 3]);
    // once each
    f.conn
        .atomic_async(async |_| Ok::<_, AppError>(()))
        .await
        .unwrap();
    assert_eq!(f.ran.get().len(), 5);
    f.finish().await;
}

/// Semantics 4: A savepoint rollback discards exactly its rows and hooks (incl. a released inner
/// savepoint's); the outermost rollback discards all.
async fn s4_savepoint_rollback_discards_exactly_its_rows_and_hooks<D: TestDb>(db: &D) {
    let mut f = Fixture::new(db).await;
    let Fixture {
        conn, table, ran, ..
    } = &mut f;
    conn.atomic_async(async |conn| {
        table.insert::<D>(conn, 1).await?;
        conn.on_commit(ran.hook("before"))?;
        let inner = conn
            .atomic_async(async |conn| {
                table.insert::<D>(conn, 2).await?;
                conn.on_commit(ran.hook("inner"))?;
                conn.atomic_async(async |conn| {
                    table.insert::<D>(conn, 3).await?;
                    conn.on_commit(ran.hook("released"))?;
                    Ok::<_, AppError>(())
                })
                .await?;
                Err::<(), _>(AppError::Body("inner fails"))
            })
            .await;
        assert!(matches!(inner, Err(AppError::Body("inner fails"))));
        assert_eq!(table.ids::<D>(conn).await, [1]);
        table.insert::<D>(conn, 4).await?;
        conn.on_commit(ran.hook("after"))?;
        Ok::<_, AppError>(())
    })
    .await
    .unwrap();
    assert_eq!(f.ran.get(), ["before", "after"]);
    assert_eq!(f.committed().await, [1, 4]);

    let Fixture {
        conn, table, ran, ..
    } = &mut f;
    let outer = conn
        .atomic_async(async |conn| {
            table.insert::<D>(conn, 5).await?;
            conn.on_commit(ran.hook("rolled back"))?;
            conn.atomic_async(async |conn| Ok::<_, AppError>(table.insert::<D>(conn, 6).await?))
                .await?;
            Err::<(), _>(AppError::Body("outer fails"))
        })
        .await;
    assert!(matches!(outer, Err(AppError::Body("outer fails"))));
    assert_eq!(f.ran.get(), ["before", "after"]);
    assert_eq!(f.committed().await, [1, 4]);
    f.finish().await;
}

/// Semantics 5: A failed COMMIT (a deferred foreign key) runs no hook and returns the error; the
/// connection is usable afterwards. MariaDB cannot defer a constraint to COMMIT.
async fn s5_failed_commit_runs_no_hook<D: TestDb>(db: &D) {
    if !D::DEFERRED_CONSTRAINTS {
        eprintln!(
            "{}: no deferred constraints, cannot make COMMIT fail",
            D::NAME
        );
        return;
    }
    let mut f = Fixture::new(db).await;
    let Fixture {
        conn, table, ran, ..
    } = &mut f;
    let result = conn
        .atomic_async(async |conn| {
            table.insert::<D>(conn, 1).await?;
            table.insert_orphan::<D>(conn, 2).await?;
            conn.on_commit(ran.hook("must not run"))?;
            Ok::<_, AppError>(())
        })
        .await;
    match result {
        Err(AppError::Oncommit(e)) => {
            assert_eq!(e.step(), Some(Step::Commit), "{e}");
            assert!(!e.committed());
            assert!(std::error::Error::source(&e).is_some());
        }
        other => panic!("expected a COMMIT failure, got {other:?}"),
    }
    assert_eq!((f.conn.depth(), f.conn.pending_hooks()), (0, 0));
    assert!(f.ran.get().is_empty());
    assert_eq!(f.committed().await, [] as [i64; 0]);
    // usable, and nothing leaks into the next transaction
    f.next_transaction_commits(3).await;
    f.finish().await;
}

/// Semantics 5, on every server: the connection is lost before COMMIT (its session is
/// killed from another connection), so COMMIT fails: no hook runs, nothing is committed.
async fn s5_connection_lost_at_commit_runs_no_hook<D: TestDb>(db: &D) {
    if D::KILL_SESSION.is_none() {
        eprintln!("{}: no server session to kill", D::NAME);
        return;
    }
    let mut f = Fixture::new(db).await;
    let mut killer = db.connect().await;
    let Fixture {
        conn, table, ran, ..
    } = &mut f;
    let result = conn
        .atomic_async(async |conn| {
            table.insert::<D>(conn, 1).await?;
            conn.on_commit(ran.hook("must not run"))?;
            assert!(Table::kill_session::<D>(conn, &mut killer).await);
            Ok::<_, AppError>(())
        })
        .await;
    match result {
        Err(AppError::Oncommit(e)) => {
            assert_eq!(e.step(), Some(Step::Commit), "{e}");
            assert!(!e.committed());
        }
        other => panic!("expected a COMMIT failure, got {other:?}"),
    }
    assert_eq!((f.conn.depth(), f.conn.pending_hooks()), (0, 0));
    assert!(f.ran.get().is_empty());
    assert_eq!(f.committed().await, [] as [i64; 0]);
    // the Conn is dead; the fixture's checks and cleanup use the reader
    f.finish().await;
}

/// Semantics 6: Failing and panicking hooks never stop later ones; the data is committed and the error
/// says so.
async fn s6_failing_hooks_never_stop_later_hooks<D: TestDb>(db: &D) {
    let mut f = Fixture::new(db).await;
    let last = reading_hook::<D>(db.connect().await, &f.table, &f.ran, "last");
    let Fixture {
        conn, table, ran, ..
    } = &mut f;
    let result = conn
        .atomic_async(async |conn| {
            table.insert::<D>(conn, 1).await?;
            let failing = ran.clone();
            conn.on_commit(move || {
                failing.push("fails");
                Err::<(), _>("queue down")
            })?;
            let panicking = ran.clone();
            conn.on_commit_async(move || async move {
                panicking.push("panics");
                explode("hook panics");
            })
            .await?;
            conn.on_commit_async_robust(|| async { Err::<(), _>("metrics down") })
                .await?;
            conn.on_commit_async(last).await?;
            Ok::<_, AppError>(())
        })
        .await;
    let Err(AppError::Oncommit(e)) = result else {
        panic!("expected hook failures, got {result:?}")
    };
    assert!(e.committed());
    assert_eq!(e.hook_failures().len(), 2);
    assert_eq!(f.ran.get(), ["fails", "panics", "last saw [1]"]);
    assert_eq!(f.committed().await, [1]);
    f.finish().await;
}

/// Semantics 7a: A panic in the body rolls back on the database; the connection is usable.
async fn s7_panic_in_the_body_rolls_back<D: TestDb>(db: &D) {
    let mut f = Fixture::new(db).await;
    let Fixture {
        conn, table, ran, ..
    } = &mut f;
    let panicked = AssertUnwindSafe(conn.atomic_async(async |conn| {
        table.insert::<D>(conn, 1).await?;
        conn.on_commit(ran.hook("must not run"))?;
        if conn.depth() == 1 {
            panic!("body panics");
        }
        Ok::<_, AppError>(())
    }))
    .catch_unwind()
    .await;
    assert!(panicked.is_err());
    assert_eq!(f.conn.depth(), 0);
    // this connection no longer sees the row: the ROLLBACK ran before this statement
    assert_eq!(f.table.ids::<D>(&mut f.conn).await, [] as [i64; 0]);
    assert_eq!(f.committed().await, [] as [i64; 0]);
    f.next_transaction_commits(2).await;
    f.finish().await;
}

/// Semantics 7b: Cancellation: dropping an `atomic_async` future mid-body rolls back on the database;
/// the connection works and the row is not there.
async fn s7_dropped_future_rolls_back<D: TestDb>(db: &D) {
    let mut f = Fixture::new(db).await;
    let Fixture {
        conn, table, ran, ..
    } = &mut f;
    let (inserted, wait) = tokio::sync::oneshot::channel();
    let body = conn.atomic_async(async |conn| {
        table.insert::<D>(conn, 1).await?;
        conn.on_commit(ran.hook("must not run"))?;
        inserted.send(()).unwrap();
        std::future::pending::<()>().await;
        Ok::<_, AppError>(())
    });
    tokio::select! {
        _ = body => unreachable!("the body never finishes"),
        _ = wait => {}
    }
    assert_eq!(f.conn.depth(), 0);
    assert_eq!(f.table.ids::<D>(&mut f.conn).await, [] as [i64; 0]);
    assert_eq!(f.committed().await, [] as [i64; 0]);

    // with a timeout this time, then a transaction on the same connection commits
    let Fixture {
        conn, table, ran, ..
    } = &mut f;
    let timed_out = tokio::time::timeout(
        Duration::from_millis(300),
        conn.atomic_async(async |conn| {
            table.insert::<D>(conn, 2).await?;
            conn.on_commit(ran.hook("must not run"))?;
            std::future::pending::<()>().await;
            Ok::<_, AppError>(())
        }),
    )
    .await;
    assert!(timed_out.is_err());
    f.next_transaction_commits(3).await;
    f.finish().await;
}

/// Semantics 7c: A dropped nested future rolls back only its savepoint.
async fn s7_dropped_nested_future_rolls_back_its_savepoint<D: TestDb>(db: &D) {
    let mut f = Fixture::new(db).await;
    let Fixture {
        conn, table, ran, ..
    } = &mut f;
    conn.atomic_async(async |conn| {
        table.insert::<D>(conn, 1).await?;
        conn.on_commit(ran.hook("outer"))?;
        let (inserted, wait) = tokio::sync::oneshot::channel();
        let inner = conn.atomic_async(async |conn| {
            table.insert::<D>(conn, 2).await?;
            conn.on_commit(ran.hook("inner"))?;
            inserted.send(()).unwrap();
            std::future::pending::<()>().await;
            Ok::<_, AppError>(())
        });
        tokio::select! {
            _ = inner => unreachable!("the inner body never finishes"),
            _ = wait => {}
        }
        assert_eq!(conn.depth(), 1);
        // registering right away, before any statement: the savepoint's ROLLBACK may still
        // be queued in the driver (sqlx's SQLite worker), which is no foreign transaction
        conn.on_commit(ran.hook("after"))?;
        assert_eq!(table.ids::<D>(conn).await, [1]);
        table.insert::<D>(conn, 3).await?;
        Ok::<_, AppError>(())
    })
    .await
    .unwrap();
    assert_eq!(f.ran.get(), ["outer", "after"]);
    assert_eq!(f.committed().await, [1, 3]);
    f.finish().await;
}

/// Semantics 8: A hook opens its own connection and transaction; hooks it registers there run when
/// that one commits: depth-first (Django's test_hook_in_hook: 1, 11, 2, 12).
async fn s8_a_hook_with_its_own_transaction_runs_depth_first<D: TestDb>(db: &D) {
    let mut f = Fixture::new(db).await;
    let (table, ran) = (f.table.clone(), f.ran.clone());
    let hook = |i: i64| {
        let (db, table, ran) = (db.clone(), table.clone(), ran.clone());
        move || async move {
            let mut own = Conn::new(db.connect().await);
            own.atomic_async(async |own| {
                table.insert::<D>(own, i + 10).await?;
                let inner = ran.clone();
                own.on_commit(move || inner.push((i + 10).to_string()))?;
                ran.push(i.to_string());
                Ok::<_, AppError>(())
            })
            .await
            .map_err(|e| format!("{e:?}"))
        }
    };
    let Fixture { conn, table, .. } = &mut f;
    conn.atomic_async(async |conn| {
        table.insert::<D>(conn, 1).await?;
        conn.on_commit_async(hook(1)).await?;
        conn.on_commit_async(hook(2)).await?;
        Ok::<_, AppError>(())
    })
    .await
    .unwrap();
    assert_eq!(f.ran.get(), ["1", "11", "2", "12"]);
    assert_eq!(f.committed().await, [1, 11, 12]);
    f.finish().await;
}

/// Semantics 9: Nothing leaks into the next transaction, after rollback or commit.
async fn s9_nothing_leaks_into_the_next_transaction<D: TestDb>(db: &D) {
    let mut f = Fixture::new(db).await;
    let Fixture {
        conn, table, ran, ..
    } = &mut f;
    conn.atomic_async(async |conn| {
        table.insert::<D>(conn, 1).await?;
        conn.on_commit(ran.hook("first"))?;
        Ok::<_, AppError>(())
    })
    .await
    .unwrap();
    let err = conn
        .atomic_async(async |conn| {
            conn.on_commit(ran.hook("rolled back"))?;
            table.insert::<D>(conn, 1).await?; // duplicate key: the body fails
            Ok::<_, AppError>(())
        })
        .await
        .unwrap_err();
    let AppError::Sqlx(err) = err else {
        panic!("expected the duplicate key error, got {err:?}")
    };
    assert!(err.as_database_error().is_some(), "{err}");
    conn.atomic_async(async |conn| {
        table.insert::<D>(conn, 2).await?;
        conn.on_commit(ran.hook("third"))?;
        Ok::<_, AppError>(())
    })
    .await
    .unwrap();
    assert_eq!(f.ran.get(), ["first", "third"]);
    assert_eq!(f.committed().await, [1, 2]);
    f.finish().await;
}

/// Semantics 10: Value capture at the closure level: each hook sees the id moved into it.
async fn s10_each_hook_sees_the_value_moved_into_it<D: TestDb>(db: &D) {
    let mut f = Fixture::new(db).await;
    let Fixture {
        conn, table, ran, ..
    } = &mut f;
    conn.atomic_async(async |conn| {
        for id in 1..=3 {
            table.insert::<D>(conn, id).await?;
            let ran = ran.clone();
            conn.on_commit(move || ran.push(format!("job for {id}")))?;
        }
        Ok::<_, AppError>(())
    })
    .await
    .unwrap();
    assert_eq!(f.ran.get(), ["job for 1", "job for 2", "job for 3"]);
    assert_eq!(f.committed().await, [1, 2, 3]);
    f.finish().await;
}

/// A nested durable block fails without running; the outer transaction still commits.
async fn durable_nested_fails_without_running<D: TestDb>(db: &D) {
    let mut f = Fixture::new(db).await;
    let Fixture { conn, table, .. } = &mut f;
    conn.durable_async(async |conn| {
        table.insert::<D>(conn, 1).await?;
        let nested = conn
            .durable_async(async |conn| Ok::<_, AppError>(table.insert::<D>(conn, 2).await?))
            .await;
        match nested {
            Err(AppError::Oncommit(e)) => assert_eq!(e.kind(), ErrorKind::NotOutermost),
            other => panic!("expected ErrorKind::NotOutermost, got {other:?}"),
        }
        Ok::<_, AppError>(())
    })
    .await
    .unwrap();
    assert_eq!(f.committed().await, [1]);
    f.finish().await;
}

/// A connection already inside a transaction sqlx opened (a leaked `sqlx::Transaction`):
/// oncommit cannot see that transaction's COMMIT, so it refuses to begin or to defer.
async fn foreign_transaction_is_refused<D: TestDb>(db: &D) {
    let mut raw = db.connect().await;
    D::begin_foreign(&mut raw).await;
    let mut conn = Conn::new(raw);
    let mut body_ran = false;
    let err = conn
        .atomic_async(async |_| {
            body_ran = true;
            Ok::<_, AppError>(())
        })
        .await
        .unwrap_err();
    assert!(!body_ran);
    let AppError::Oncommit(err) = err else {
        panic!("expected ForeignTransaction, got {err:?}")
    };
    assert_eq!(err.kind(), ErrorKind::ForeignTransaction);
    let ran = Ran::default();
    let err = conn.on_commit(ran.hook("must not run")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ForeignTransaction);
    assert!(ran.get().is_empty());
}

/// A transaction future on a `Conn` of this database can be spawned (it is `Send`).
async fn spawned_transaction<D: TestDb>(db: &D) {
    let mut f = Fixture::new(db).await;
    let mut conn = Conn::new(db.connect().await);
    let (table, ran) = (f.table.clone(), f.ran.clone());
    let handle = tokio::spawn(async move {
        conn.atomic_async(async |conn| {
            table.insert::<D>(conn, 1).await?;
            conn.on_commit(ran.hook("spawned"))?;
            Ok::<_, AppError>(())
        })
        .await
        .map(|()| conn.depth())
    });
    assert_eq!(handle.await.unwrap().unwrap(), 0);
    assert_eq!(f.ran.get(), ["spawned"]);
    assert_eq!(f.committed().await, [1]);
    f.finish().await;
}

// ---------------------------------------------------------------------------------------------
// The suite, once per database

macro_rules! suite {
    ($name:ident, $factory:path) => {
        mod $name {
            use super::*;

            macro_rules! case {
                ($case:ident) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $case() {
                        if let Some(db) = $factory().await {
                            super::$case(&db).await;
                        }
                    }
                };
            }

            case!(s1_outside_a_transaction_a_hook_runs_immediately);
            case!(s2_hooks_wait_for_the_outermost_commit_and_see_its_rows);
            case!(s3_hooks_run_in_registration_order_across_levels);
            case!(s4_savepoint_rollback_discards_exactly_its_rows_and_hooks);
            case!(s5_failed_commit_runs_no_hook);
            case!(s5_connection_lost_at_commit_runs_no_hook);
            case!(s6_failing_hooks_never_stop_later_hooks);
            case!(s7_panic_in_the_body_rolls_back);
            case!(s7_dropped_future_rolls_back);
            case!(s7_dropped_nested_future_rolls_back_its_savepoint);
            case!(s8_a_hook_with_its_own_transaction_runs_depth_first);
            case!(s9_nothing_leaks_into_the_next_transaction);
            case!(s10_each_hook_sees_the_value_moved_into_it);
            case!(durable_nested_fails_without_running);
            case!(foreign_transaction_is_refused);
            case!(spawned_transaction);
        }
    };
}

suite!(sqlite, db::sqlite);
suite!(sqlite_pool, db::sqlite_pool);
suite!(postgres, db::postgres);
suite!(postgres_pool, db::postgres_pool);
suite!(mariadb, db::mariadb);
suite!(mariadb_pool, db::mariadb_pool);
