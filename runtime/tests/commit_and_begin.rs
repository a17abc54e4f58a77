//! Failed transaction statements on the `Memory` backend: a failed COMMIT, BEGIN, SAVEPOINT,
//! RELEASE or ROLLBACK (5); `durable` blocks; a connection inside a transaction oncommit did
//! not open.
//!
//! Hooks record themselves in the Memory log (`hook NAME`), so one sequence shows both the
//! statements and when each hook ran.

mod common;

use common::{TestError, capture_logs, conn, hooks_ran, note, note_async};
use oncommit::memory::Memory;
use oncommit::{Conn, Error, ErrorKind, Step, SyncBackend};

// ---------------------------------------------------------------------------------------------
// 5. If COMMIT fails, no hook runs and the caller gets the error. Also BEGIN, SAVEPOINT,
//    RELEASE and ROLLBACK failures.

#[test]
fn s5_failed_commit_runs_no_hook_and_returns_the_error() {
    let (db, mut conn) = conn();
    let err = conn
        .atomic(|conn| {
            conn.on_commit(note(&db, "a"))?;
            conn.atomic(|conn| conn.on_commit(note(&db, "b")))?;
            db.fail_next_commit();
            conn.on_commit_robust(note(&db, "c"))
        })
        .unwrap_err();
    assert_eq!(err.step(), Some(Step::Commit));
    assert!(!err.committed());
    assert!(err.hook_failures().is_empty());
    assert_eq!(
        db.statements(),
        [
            "BEGIN",
            "SAVEPOINT oncommit_1",
            "RELEASE SAVEPOINT oncommit_1",
            "COMMIT",
            "ROLLBACK",
        ]
    );
    assert_eq!((conn.depth(), conn.pending_hooks(), db.depth()), (0, 0, 0));
}

#[tokio::test]
async fn s5_async_failed_commit_runs_no_hook_and_returns_the_error() {
    let (db, mut conn) = conn();
    let log = db.clone();
    db.fail_next_commit();
    let err = conn
        .atomic_async(async |conn| conn.on_commit_async(note_async(&log, "a")).await)
        .await
        .unwrap_err();
    assert_eq!(err.step(), Some(Step::Commit));
    assert_eq!(db.statements(), ["BEGIN", "COMMIT", "ROLLBACK"]);
    assert_eq!((conn.depth(), conn.pending_hooks()), (0, 0));
}

#[test]
fn s5_failed_begin_runs_neither_body_nor_hooks() {
    let (db, mut conn) = conn();
    db.fail_next_begin();
    let mut body_ran = false;
    let err = conn
        .atomic(|conn| {
            body_ran = true;
            conn.on_commit(note(&db, "a"))
        })
        .unwrap_err();
    assert!(!body_ran);
    assert_eq!(err.step(), Some(Step::Begin));
    assert_eq!(db.statements(), ["BEGIN"]);
    assert_eq!(conn.depth(), 0);
    // the connection is usable
    conn.atomic(|conn| conn.on_commit(note(&db, "b"))).unwrap();
    assert_eq!(db.statements(), ["BEGIN", "BEGIN", "COMMIT", "hook b"]);
}

#[tokio::test]
async fn s5_async_failed_begin_runs_neither_body_nor_hooks() {
    let (db, mut conn) = conn();
    db.fail_next_begin();
    let mut body_ran = false;
    let err = conn
        .atomic_async(async |_| {
            body_ran = true;
            Ok::<_, Error>(())
        })
        .await
        .unwrap_err();
    assert!(!body_ran);
    assert_eq!(err.step(), Some(Step::Begin));
    assert_eq!(db.statements(), ["BEGIN"]);
}

#[test]
fn s5_failed_savepoint_skips_the_inner_body_and_the_outer_goes_on() {
    let (db, mut conn) = conn();
    conn.atomic(|conn| {
        conn.on_commit(note(&db, "outer"))?;
        db.fail_next_begin();
        let mut inner_ran = false;
        let err = conn
            .atomic(|conn| {
                inner_ran = true;
                conn.on_commit(note(&db, "inner"))
            })
            .unwrap_err();
        assert!(!inner_ran);
        assert_eq!(err.step(), Some(Step::Savepoint));
        assert_eq!(conn.depth(), 1);
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(
        db.statements(),
        ["BEGIN", "SAVEPOINT oncommit_1", "COMMIT", "hook outer"]
    );
}

#[test]
fn s5_failed_release_discards_the_savepoints_hooks() {
    let (db, mut conn) = conn();
    conn.atomic(|conn| {
        conn.on_commit(note(&db, "outer"))?;
        let err = conn
            .atomic(|conn| {
                conn.on_commit(note(&db, "inner"))?;
                db.fail_next_commit();
                Ok::<_, Error>(())
            })
            .unwrap_err();
        assert_eq!(err.step(), Some(Step::Release));
        assert_eq!((conn.depth(), conn.pending_hooks()), (1, 1));
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(
        db.statements(),
        [
            "BEGIN",
            "SAVEPOINT oncommit_1",
            "RELEASE SAVEPOINT oncommit_1",
            "ROLLBACK TO SAVEPOINT oncommit_1",
            "COMMIT",
            "hook outer",
        ]
    );
}

#[test]
fn s5_failed_rollback_returns_the_body_error_and_logs() {
    let (logs, _guard) = capture_logs();
    let (db, mut conn) = conn();
    db.fail_next_rollback();
    let result = conn.atomic(|conn| {
        conn.on_commit(note(&db, "a"))?;
        Err::<(), _>(TestError::Body("body error"))
    });
    assert!(matches!(result, Err(TestError::Body("body error"))));
    // the failed ROLLBACK is retried without waiting, so the connection leaves the level
    assert_eq!(db.statements(), ["BEGIN", "ROLLBACK", "ROLLBACK"]);
    assert_eq!((conn.depth(), conn.pending_hooks(), db.depth()), (0, 0, 0));
    let logged = logs.lines_with(&["ERROR", "ROLLBACK failed"]);
    assert_eq!(logged.len(), 1, "{}", logs.contents());
    assert!(logged[0].contains("failed as requested"), "{}", logged[0]);
    // usable afterwards, and "a" never runs
    conn.atomic(|conn| conn.on_commit(note(&db, "b"))).unwrap();
    assert_eq!(hooks_ran(&db), ["hook b"]);
}

#[tokio::test]
async fn s5_async_failed_rollback_of_a_savepoint_returns_the_body_error() {
    let (logs, _guard) = capture_logs();
    let (db, mut conn) = conn();
    let log = db.clone();
    conn.atomic_async(async |conn| {
        log.fail_next_rollback();
        let inner = conn
            .atomic_async(async |conn| {
                conn.on_commit(note(&log, "inner"))?;
                Err::<(), _>(TestError::Body("inner"))
            })
            .await;
        assert!(matches!(inner, Err(TestError::Body("inner"))));
        assert_eq!(conn.depth(), 1);
        conn.on_commit(note(&log, "outer"))?;
        Ok::<_, TestError>(())
    })
    .await
    .unwrap();
    assert_eq!(
        db.statements(),
        [
            "BEGIN",
            "SAVEPOINT oncommit_1",
            "ROLLBACK TO SAVEPOINT oncommit_1",
            "ROLLBACK TO SAVEPOINT oncommit_1",
            "COMMIT",
            "hook outer",
        ]
    );
    assert_eq!(
        logs.lines_with(&["ROLLBACK TO SAVEPOINT failed"]).len(),
        1,
        "{}",
        logs.contents()
    );
}

// ---------------------------------------------------------------------------------------------
// Durable blocks.

#[test]
fn durable_outermost_commits() {
    let (db, mut conn) = conn();
    conn.durable(|conn| conn.on_commit(note(&db, "a"))).unwrap();
    assert_eq!(db.statements(), ["BEGIN", "COMMIT", "hook a"]);
}

#[test]
fn durable_nested_returns_err_without_running_the_body() {
    let (db, mut conn) = conn();
    conn.atomic(|conn| {
        let mut body_ran = false;
        let err = conn
            .durable(|conn| {
                body_ran = true;
                conn.on_commit(note(&db, "durable"))
            })
            .unwrap_err();
        assert!(!body_ran);
        assert_eq!(err.kind(), ErrorKind::NotOutermost);
        assert!(!err.committed());
        assert!(err.to_string().contains("outermost"), "{err}");
        conn.on_commit(note(&db, "outer"))
    })
    .unwrap();
    assert_eq!(db.statements(), ["BEGIN", "COMMIT", "hook outer"]);
}

#[tokio::test]
async fn durable_async_nested_returns_err_without_running_the_body() {
    let (db, mut conn) = conn();
    conn.atomic_async(async |conn| {
        let mut body_ran = false;
        let err = conn
            .durable_async(async |_| {
                body_ran = true;
                Ok::<_, Error>(())
            })
            .await
            .unwrap_err();
        assert!(!body_ran);
        assert_eq!(err.kind(), ErrorKind::NotOutermost);
        Ok::<_, Error>(())
    })
    .await
    .unwrap();
    conn.durable_async(async |_| Ok::<_, Error>(()))
        .await
        .unwrap();
    assert_eq!(db.statements(), ["BEGIN", "COMMIT", "BEGIN", "COMMIT"]);
}

// ---------------------------------------------------------------------------------------------
// Foreign transactions.

fn foreign() -> (Memory, Conn<Memory>) {
    let mut db = Memory::new();
    SyncBackend::begin(&mut db).unwrap();
    (db.clone(), Conn::new(db))
}

#[test]
fn foreign_transaction_refuses_begin_and_on_commit() {
    let (db, mut conn) = foreign();
    let mut body_ran = false;
    let err = conn
        .atomic(|_| {
            body_ran = true;
            Ok::<_, Error>(())
        })
        .unwrap_err();
    assert!(!body_ran);
    assert_eq!(err.kind(), ErrorKind::ForeignTransaction);
    let err = conn.on_commit(note(&db, "a")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ForeignTransaction);
    let err = conn.on_commit_robust(note(&db, "b")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ForeignTransaction);
    assert!(!err.committed());
    let text = err.to_string();
    assert!(text.contains("did not open"), "{text}");
    assert!(text.contains("connection depth 1"), "{text}");
    assert_eq!(db.statements(), ["BEGIN"]);
    assert_eq!(conn.pending_hooks(), 0);
}

#[tokio::test]
async fn foreign_transaction_refuses_async_begin_and_on_commit() {
    let (db, mut conn) = foreign();
    let err = conn
        .atomic_async(async |_| Ok::<_, Error>(()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ForeignTransaction);
    let err = conn
        .on_commit_async(note_async(&db, "a"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ForeignTransaction);
    assert_eq!(db.statements(), ["BEGIN"]);
}
