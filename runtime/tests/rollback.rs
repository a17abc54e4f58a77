//! Rollbacks on the `Memory` backend: a rolled-back level drops exactly its hooks (4); a panic
//! or a dropped future rolls back exactly its level, at every await point, and the `Conn`
//! stays usable (7); nothing leaks into the next transaction (9).
//!
//! Hooks record themselves in the Memory log (`hook NAME`), so one sequence shows both the
//! statements and when each hook ran.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use common::{TestError, conn, hooks_ran, note, note_async};
use futures_util::FutureExt;
use oncommit::Error;

// ---------------------------------------------------------------------------------------------
// 4. Rolling back a savepoint discards exactly its hooks (incl. released inner ones); rolling
//    back the outermost discards all.

#[test]
fn s4_savepoint_rollback_discards_exactly_its_hooks() {
    let (db, mut conn) = conn();
    conn.atomic(|conn| {
        conn.on_commit(note(&db, "before"))?;
        let inner = conn.atomic(|conn| {
            conn.on_commit(note(&db, "inner"))?;
            conn.atomic(|conn| conn.on_commit(note(&db, "released")))?;
            conn.on_commit(note(&db, "inner after release"))?;
            assert_eq!(conn.pending_hooks(), 4);
            Err::<(), _>(TestError::Body("inner fails"))
        });
        assert!(matches!(inner, Err(TestError::Body("inner fails"))));
        assert_eq!(conn.pending_hooks(), 1);
        conn.on_commit(note(&db, "after"))?;
        Ok::<_, TestError>(())
    })
    .unwrap();
    assert_eq!(
        db.statements(),
        [
            "BEGIN",
            "SAVEPOINT oncommit_1",
            "SAVEPOINT oncommit_2",
            "RELEASE SAVEPOINT oncommit_2",
            "ROLLBACK TO SAVEPOINT oncommit_1",
            "COMMIT",
            "hook before",
            "hook after",
        ]
    );
}

#[test]
fn s4_outermost_rollback_discards_every_hook() {
    let (db, mut conn) = conn();
    let result = conn.atomic(|conn| {
        conn.on_commit(note(&db, "a"))?;
        conn.atomic(|conn| conn.on_commit(note(&db, "b")))?;
        conn.on_commit_robust(note(&db, "c"))?;
        Err::<(), _>(TestError::Body("outer fails"))
    });
    assert!(matches!(result, Err(TestError::Body("outer fails"))));
    assert_eq!(
        db.statements(),
        [
            "BEGIN",
            "SAVEPOINT oncommit_1",
            "RELEASE SAVEPOINT oncommit_1",
            "ROLLBACK",
        ]
    );
    assert_eq!((conn.depth(), conn.pending_hooks()), (0, 0));
}

#[tokio::test]
async fn s4_async_savepoint_rollback_discards_exactly_its_hooks() {
    let (db, mut conn) = conn();
    let log = db.clone();
    conn.atomic_async(async |conn| {
        conn.on_commit_async(note_async(&log, "before")).await?;
        let inner = conn
            .atomic_async(async |conn| {
                conn.on_commit_async(note_async(&log, "inner")).await?;
                conn.atomic_async(async |conn| conn.on_commit(note(&log, "released")))
                    .await?;
                Err::<(), _>(TestError::Body("inner fails"))
            })
            .await;
        assert!(inner.is_err());
        conn.on_commit_async(note_async(&log, "after")).await?;
        Ok::<_, TestError>(())
    })
    .await
    .unwrap();
    assert_eq!(hooks_ran(&db), ["hook before", "hook after"]);

    db.clear();
    let result = conn
        .atomic_async(async |conn| {
            conn.on_commit_async(note_async(&log, "a")).await?;
            Err::<(), _>(TestError::Body("outer fails"))
        })
        .await;
    assert!(result.is_err());
    assert_eq!(db.statements(), ["BEGIN", "ROLLBACK"]);
}

// ---------------------------------------------------------------------------------------------
// 7. A panic in the body or a dropped future rolls back and discards the hooks; the Conn is
//    usable again.

#[test]
fn s7_panic_in_the_closure_body_rolls_back_and_discards_hooks() {
    let (db, mut conn) = conn();
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        conn.atomic(|conn| {
            conn.on_commit(note(&db, "a"))?;
            conn.atomic(|conn| conn.on_commit(note(&db, "b")))?;
            if conn.depth() == 1 {
                panic!("body panics");
            }
            Ok::<_, Error>(())
        })
    }));
    assert!(panicked.is_err());
    assert_eq!((conn.depth(), conn.pending_hooks(), db.depth()), (0, 0, 0));
    conn.atomic(|conn| conn.on_commit(note(&db, "c"))).unwrap();
    assert_eq!(
        db.statements(),
        [
            "BEGIN",
            "SAVEPOINT oncommit_1",
            "RELEASE SAVEPOINT oncommit_1",
            "ROLLBACK",
            "BEGIN",
            "COMMIT",
            "hook c",
        ]
    );
}

#[test]
fn s7_panic_in_a_nested_body_rolls_back_only_the_savepoint_when_caught() {
    let (db, mut conn) = conn();
    conn.atomic(|conn| {
        conn.on_commit(note(&db, "before"))?;
        let caught = catch_unwind(AssertUnwindSafe(|| {
            conn.atomic(|conn| {
                conn.on_commit(note(&db, "inner"))?;
                if conn.depth() == 2 {
                    panic!("inner panics");
                }
                Ok::<_, Error>(())
            })
        }));
        assert!(caught.is_err());
        assert_eq!((conn.depth(), conn.pending_hooks()), (1, 1));
        conn.on_commit(note(&db, "after"))
    })
    .unwrap();
    assert_eq!(
        db.statements(),
        [
            "BEGIN",
            "SAVEPOINT oncommit_1",
            "ROLLBACK TO SAVEPOINT oncommit_1",
            "COMMIT",
            "hook before",
            "hook after",
        ]
    );
}

/// What `#[atomic]` expands into on a sync fn: a `Level` guard that a panicking body drops
/// without finishing.
#[test]
fn s7_a_level_dropped_mid_body_rolls_back_at_the_next_use() {
    use oncommit::__private::v1;
    let (db, mut conn) = conn();
    let panicked = catch_unwind(AssertUnwindSafe(|| -> Result<(), Error> {
        let level = v1::begin(&mut conn, false)?;
        conn.on_commit(note(&db, "a"))?;
        // the macro's `(|| BODY)()`
        let body = || -> Result<(), Error> {
            if db.depth() == 1 {
                panic!("body panics");
            }
            Ok(())
        };
        let result = body();
        v1::finish(&mut conn, level, result)
    }));
    assert!(panicked.is_err());
    // the guard only flagged the level; the Conn already reports it gone
    assert_eq!(conn.depth(), 0);
    conn.atomic(|conn| conn.on_commit(note(&db, "b"))).unwrap();
    assert_eq!(
        db.statements(),
        ["BEGIN", "ROLLBACK", "BEGIN", "COMMIT", "hook b"]
    );
}

#[tokio::test]
async fn s7_async_dropped_future_rolls_back_and_discards_hooks() {
    let (db, mut conn) = conn();
    let log = db.clone();
    let timed_out = tokio::time::timeout(
        Duration::from_millis(20),
        conn.atomic_async(async |conn| {
            conn.on_commit_async(note_async(&log, "a")).await?;
            std::future::pending::<()>().await;
            Ok::<_, Error>(())
        }),
    )
    .await;
    assert!(timed_out.is_err());
    assert_eq!((conn.depth(), conn.pending_hooks()), (0, 1));
    conn.atomic_async(async |conn| conn.on_commit_async(note_async(&log, "b")).await)
        .await
        .unwrap();
    assert_eq!(
        db.statements(),
        ["BEGIN", "ROLLBACK", "BEGIN", "COMMIT", "hook b"]
    );
    assert_eq!(conn.pending_hooks(), 0);
}

#[tokio::test]
async fn s7_async_dropped_nested_future_rolls_back_only_the_savepoint() {
    let (db, mut conn) = conn();
    let log = db.clone();
    conn.atomic_async(async |conn| {
        conn.on_commit(note(&log, "before"))?;
        tokio::select! {
            biased;
            _ = conn.atomic_async(async |conn| {
                conn.on_commit(note(&log, "inner"))?;
                std::future::pending::<()>().await;
                Ok::<_, Error>(())
            }) => unreachable!("the inner body never finishes"),
            () = std::future::ready(()) => {}
        }
        assert_eq!(conn.depth(), 1);
        conn.on_commit(note(&log, "after"))
    })
    .await
    .unwrap();
    assert_eq!(
        db.statements(),
        [
            "BEGIN",
            "SAVEPOINT oncommit_1",
            "ROLLBACK TO SAVEPOINT oncommit_1",
            "COMMIT",
            "hook before",
            "hook after",
        ]
    );
}

#[tokio::test]
async fn s7_async_panic_in_the_body_rolls_back() {
    let (db, mut conn) = conn();
    let log = db.clone();
    let panicked = AssertUnwindSafe(conn.atomic_async(async |conn| {
        conn.on_commit(note(&log, "a"))?;
        if log.depth() == 1 {
            panic!("async body panics");
        }
        Ok::<_, Error>(())
    }))
    .catch_unwind()
    .await;
    assert!(panicked.is_err());
    conn.atomic_async(async |_| Ok::<_, Error>(()))
        .await
        .unwrap();
    assert_eq!(db.statements(), ["BEGIN", "ROLLBACK", "BEGIN", "COMMIT"]);
}

#[tokio::test]
async fn s7_async_dropped_mid_commit_rolls_back_and_discards_hooks() {
    let (db, mut conn) = conn();
    let log = db.clone();
    db.stall_next_commit();
    let dropped = conn
        .atomic_async(async |conn| conn.on_commit(note(&log, "a")))
        .now_or_never();
    assert!(dropped.is_none());
    conn.atomic_async(async |conn| conn.on_commit(note(&log, "b")))
        .await
        .unwrap();
    assert_eq!(
        db.statements(),
        ["BEGIN", "COMMIT", "ROLLBACK", "BEGIN", "COMMIT", "hook b"]
    );
}

/// Regression: the hooks of a level were dropped before its ROLLBACK was awaited, so a future
/// dropped mid-ROLLBACK left the connection one level deeper than the `Conn` (every later use
/// failed with ForeignTransaction).
#[tokio::test]
async fn s7_async_dropped_mid_rollback_leaves_the_conn_usable() {
    let (db, mut conn) = conn();
    let log = db.clone();
    db.stall_next_rollback();
    let dropped = conn
        .atomic_async(async |conn| {
            conn.on_commit(note(&log, "a"))?;
            Err::<(), _>(TestError::Body("fails"))
        })
        .now_or_never();
    assert!(dropped.is_none());
    assert_eq!(conn.depth(), 0);
    conn.atomic_async(async |conn| conn.on_commit(note(&log, "b")))
        .await
        .unwrap();
    assert_eq!(
        db.statements(),
        ["BEGIN", "ROLLBACK", "ROLLBACK", "BEGIN", "COMMIT", "hook b"]
    );
    assert_eq!(db.depth(), 0);
}

/// Cancelled after COMMIT, while an async hook runs: the data is committed (no ROLLBACK is
/// sent), the hooks still waiting are dropped, and the Conn is usable.
#[tokio::test]
async fn s7_async_dropped_while_hooks_run_after_commit() {
    let (db, mut conn) = conn();
    let log = db.clone();
    let dropped = conn
        .atomic_async(async |conn| {
            conn.on_commit(note(&log, "1"))?;
            conn.on_commit_async(std::future::pending::<()>).await?;
            conn.on_commit(note(&log, "3"))
        })
        .now_or_never();
    assert!(dropped.is_none());
    assert_eq!((conn.depth(), conn.pending_hooks()), (0, 0));
    conn.atomic_async(async |conn| conn.on_commit(note(&log, "next")))
        .await
        .unwrap();
    assert_eq!(
        db.statements(),
        ["BEGIN", "COMMIT", "hook 1", "BEGIN", "COMMIT", "hook next"]
    );
}

// ---------------------------------------------------------------------------------------------
// 9. The pending hooks of one transaction never leak into the next.

#[test]
fn s9_nothing_leaks_into_the_next_transaction() {
    let (db, mut conn) = conn();
    // after commit
    conn.atomic(|conn| conn.on_commit(note(&db, "committed")))
        .unwrap();
    // after rollback
    let _ = conn.atomic(|conn| {
        conn.on_commit(note(&db, "rolled back"))?;
        Err::<(), _>(TestError::Body("no"))
    });
    // after a failed commit
    db.fail_next_commit();
    let _ = conn.atomic(|conn| conn.on_commit(note(&db, "commit failed")));
    // after a panic
    let _ = catch_unwind(AssertUnwindSafe(|| {
        conn.atomic(|conn| -> Result<(), Error> {
            conn.on_commit(note(&db, "panicked"))?;
            panic!("body panics")
        })
    }));
    assert_eq!(conn.pending_hooks(), 0);
    db.clear();
    conn.atomic(|conn| conn.on_commit(note(&db, "next")))
        .unwrap();
    assert_eq!(db.statements(), ["BEGIN", "COMMIT", "hook next"]);
}

#[tokio::test]
async fn s9_async_nothing_leaks_into_the_next_transaction() {
    let (db, mut conn) = conn();
    let log = db.clone();
    conn.atomic_async(async |conn| conn.on_commit_async(note_async(&log, "committed")).await)
        .await
        .unwrap();
    let _ = conn
        .atomic_async(async |conn| {
            conn.on_commit_async(note_async(&log, "rolled back"))
                .await?;
            Err::<(), _>(TestError::Body("no"))
        })
        .await;
    let _ = conn
        .atomic_async(async |conn| {
            conn.on_commit_async(note_async(&log, "cancelled")).await?;
            std::future::pending::<()>().await;
            Ok::<_, Error>(())
        })
        .now_or_never();
    db.clear();
    conn.atomic_async(async |conn| conn.on_commit_async(note_async(&log, "next")).await)
        .await
        .unwrap();
    assert_eq!(
        db.statements(),
        ["ROLLBACK", "BEGIN", "COMMIT", "hook next"]
    );
}

// ---------------------------------------------------------------------------------------------
// 10. Value capture at the closure level: a hook sees the value moved into it, not what the
//     variable holds later.

/// A guard that is leaked (never finished, never dropped) inside an outer level: the outer
/// finish rolls the inner level back first and discards its hooks.
#[test]
fn a_leaked_inner_level_is_rolled_back_when_the_outer_finishes() {
    use oncommit::__private::v1;
    let (db, mut conn) = conn();
    let outer = v1::begin(&mut conn, false).unwrap();
    conn.on_commit(note(&db, "outer")).unwrap();
    let inner = v1::begin(&mut conn, false).unwrap();
    conn.on_commit(note(&db, "inner")).unwrap();
    std::mem::forget(inner);
    v1::finish(&mut conn, outer, Ok::<_, Error>(())).unwrap();
    assert_eq!(
        db.statements(),
        [
            "BEGIN",
            "SAVEPOINT oncommit_1",
            "ROLLBACK TO SAVEPOINT oncommit_1",
            "COMMIT",
            "hook outer",
        ]
    );
    assert_eq!((conn.depth(), conn.pending_hooks(), db.depth()), (0, 0, 0));
}
